/* SPDX-License-Identifier: MIT */
/*
 * Direct paging with the embedder's optional pieces: the M2P table that
 * MMU_MACHPHYS_UPDATE writes, and guest-memory access for the multi-vCPU
 * flush forms (a vCPU bitmap in guest memory). Without them those
 * requests are refused; with them they work, and a bitmap that cannot be
 * read refuses the request before anything changes.
 */
/* cmocka.h needs these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pv_fixture.h"

#define NFRAMES 32u
#define DOM 1u
#define P 1ull
#define RW 2ull
#define BITMAP_GVA 0x7000ull /* where the fake guest keeps its bitmap */

struct fixture {
	struct pv_fixture pv;
	uint64_t m2p[NFRAMES];
	uint64_t guest_bitmap[2];
	unsigned copies;
	struct vmmu_pv_guest_ops guest;
};

static int copy_from_guest(void *ctx, const struct vmmu_pv_vcpu *v, void *dst,
			   uint64_t gva, size_t len)
{
	struct fixture *fx = ctx;

	(void)v;
	fx->copies++;
	if (gva != BITMAP_GVA || len > sizeof(fx->guest_bitmap)) {
		return -VMMU_EFAULT;
	}
	memcpy(dst, fx->guest_bitmap, len);
	return 0;
}

static void fill_slots(void *ctx, uint64_t mfn, vmmu_pte_t *l4)
{
	(void)ctx;
	for (unsigned i = 256; i < 272; i++) {
		l4[i] = 0xabc000ull | (mfn << 40) | P; /* "the hypervisor's" */
	}
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	pv_fixture_init(&fx->pv, NFRAMES, 23, DOM, 2, 0);
	assert_int_equal(vmmu_pv_vcpu_init(&fx->pv.v, &fx->pv.d, 3), 0);
	fx->guest.copy_from_guest = copy_from_guest;
	fx->guest.ctx = fx;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	pv_fixture_fini(&fx->pv);
	free(fx);
	return 0;
}

static int machphys(struct fixture *fx, uint64_t mfn, uint64_t pfn)
{
	struct vmmu_pv_mmu_update r = {
		.ptr = (mfn << 12) | VMMU_PV_MMU_MACHPHYS_UPDATE,
		.val = pfn,
	};
	uint32_t done = 0;

	return vmmu_pv_mmu_update(&fx->pv.v, &r, 1, &done, VMMU_PV_DOMID_SELF);
}

static int ext(struct fixture *fx, uint32_t cmd, uint64_t arg1, uint64_t arg2)
{
	return pv_ext(&fx->pv, cmd, arg1, arg2);
}

static void test_machphys_needs_an_m2p_table(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(machphys(fx, 5, 0x1234), -VMMU_ENOTSUP);
	vmmu_pv_domain_set_m2p(&fx->pv.d, fx->m2p);
	assert_int_equal(machphys(fx, 5, 0x1234), 0);
	assert_int_equal(fx->m2p[5], 0x1234);
	/* Only the domain's own frames, only frames that exist. */
	assert_int_equal(machphys(fx, 28, 1), -VMMU_EPERM);
	assert_int_equal(machphys(fx, NFRAMES, 1), -VMMU_EINVAL);
	assert_int_equal(fx->m2p[28], 0);
}

static void test_multi_flush_reads_the_guest_bitmap(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(ext(fx, VMMU_PV_MMUEXT_TLB_FLUSH_MULTI, 0, BITMAP_GVA),
			 -VMMU_ENOTSUP);
	vmmu_pv_domain_set_guest_ops(&fx->pv.d, &fx->guest, 70);
	fx->guest_bitmap[0] = 0x5;
	fx->guest_bitmap[1] = 0x20; /* vCPU 69 */
	uint64_t before = fx->pv.tp.flushes;
	assert_int_equal(ext(fx, VMMU_PV_MMUEXT_TLB_FLUSH_MULTI, 0, BITMAP_GVA),
			 0);
	assert_int_equal(fx->pv.tp.flushes, before + 1);
	assert_int_equal(fx->pv.tp.last_flush.scope, VMMU_TLB_ALL_NONGLOBAL);
	assert_int_equal(fx->pv.tp.last_flush.cpu_mask_words, 2);
	assert_int_equal(fx->copies, 1);
	/* INVLPG_MULTI: a range flush for those vCPUs. */
	assert_int_equal(ext(fx, VMMU_PV_MMUEXT_INVLPG_MULTI, 0x12345678,
			     BITMAP_GVA),
			 0);
	assert_int_equal(fx->pv.tp.last_flush.scope, VMMU_TLB_RANGE);
	assert_int_equal(fx->pv.tp.last_flush.addr, 0x12345000);
	/* An unreadable bitmap: -VMMU_EFAULT, no flush. */
	before = fx->pv.tp.flushes;
	assert_int_equal(ext(fx, VMMU_PV_MMUEXT_TLB_FLUSH_MULTI, 0, 0xdead000),
			 -VMMU_EFAULT);
	assert_int_equal(fx->pv.tp.flushes, before);
}

static void test_uvmf_multi_bad_bitmap_changes_nothing(void **state)
{
	struct fixture *fx = *state;
	const uint64_t l4 = 1, l3 = 2, l2 = 3, l1 = 4, data = 10;
	uint64_t *t;

	vmmu_pv_domain_set_guest_ops(&fx->pv.d, &fx->guest, 8);
	t = test_platform_ptr(&fx->pv.tp, l4 << 12);
	t[0] = (l3 << 12) | P | RW;
	t = test_platform_ptr(&fx->pv.tp, l3 << 12);
	t[0] = (l2 << 12) | P | RW;
	t = test_platform_ptr(&fx->pv.tp, l2 << 12);
	t[0] = (l1 << 12) | P | RW;
	assert_int_equal(ext(fx, VMMU_PV_MMUEXT_NEW_BASEPTR, l4, 0), 0);
	/* The bitmap is unreadable: refused before the entry changes. */
	assert_int_equal(vmmu_pv_update_va_mapping(&fx->pv.v, 0x5000,
						   (data << 12) | P,
						   VMMU_PV_UVMF_INVLPG | 0xbad000),
			 -VMMU_EFAULT);
	t = test_platform_ptr(&fx->pv.tp, l1 << 12);
	assert_int_equal(t[5], 0);
	fx->guest_bitmap[0] = 0x8;
	assert_int_equal(vmmu_pv_update_va_mapping(&fx->pv.v, 0x5000,
						   (data << 12) | P,
						   VMMU_PV_UVMF_INVLPG | BITMAP_GVA),
			 0);
	assert_int_equal(t[5], (data << 12) | P);
	assert_int_equal(fx->pv.tp.last_flush.scope, VMMU_TLB_RANGE);
	/* (The mask itself lived in the call's frame: only its size here.) */
	assert_int_equal(fx->pv.tp.last_flush.cpu_mask_words, 1);
	assert_int_equal(vmmu_pv_vcpu_release(&fx->pv.v), 0);
}

/* Guest content in the hypervisor's L4 slots never survives validation. */
static void test_reserved_l4_slots_cleared_or_filled(void **state)
{
	struct fixture *fx = *state;
	uint64_t reserved[8] = {0};
	uint64_t *l4 = test_platform_ptr(&fx->pv.tp, 1ull << 12);

	reserved[4] = 0xffff; /* slots 256..271 */
	assert_int_equal(vmmu_pv_domain_init(&fx->pv.d, &fx->pv.ft, &fx->pv.tp.plat, DOM,
					     40, reserved, 0),
			 0);
	l4[260] = (2ull << 12) | P | RW; /* written while plain memory */
	assert_int_equal(ext(fx, VMMU_PV_MMUEXT_PIN_L4_TABLE, 1, 0), 0);
	assert_int_equal(l4[260], 0);
	assert_int_equal(ext(fx, VMMU_PV_MMUEXT_UNPIN_TABLE, 1, 0), 0);
	/* With the embedder's hook: its entries, in every reserved slot. */
	vmmu_pv_domain_set_guest_ops(&fx->pv.d, &fx->guest, 8);
	fx->guest.fill_reserved_l4 = fill_slots;
	l4[260] = (2ull << 12) | P | RW;
	assert_int_equal(ext(fx, VMMU_PV_MMUEXT_PIN_L4_TABLE, 1, 0), 0);
	assert_int_equal(l4[260], 0xabc000ull | (1ull << 40) | P);
	assert_int_equal(l4[271], 0xabc000ull | (1ull << 40) | P);
	assert_int_equal(l4[255], 0);
	assert_int_equal(ext(fx, VMMU_PV_MMUEXT_UNPIN_TABLE, 1, 0), 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_machphys_needs_an_m2p_table),
		T(test_multi_flush_reads_the_guest_bitmap),
		T(test_uvmf_multi_bad_bitmap_changes_nothing),
		T(test_reserved_l4_slots_cleared_or_filled),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
