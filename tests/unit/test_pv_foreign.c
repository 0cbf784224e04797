/* SPDX-License-Identifier: MIT */
/*
 * Foreign mappings (the foreigndom argument): a privileged domain DOM maps
 * frames of the domain OTHER it controls, as a toolstack or a backend
 * does through mmu_update and update_va_mapping_otherdomain. The
 * embedder's foreign ops decide who may; vmmu checks that every frame a
 * new L1 entry maps belongs to the domain named, keeps the read-only rule
 * across domains, and refuses everything Xen refuses (mmuext_op for
 * another domain, page tables of another domain, DOMID_IO/DOMID_XEN).
 * Both domains are audited together after every step.
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

#define NFRAMES 64u
#define OWN_LAST 40u /* DOM: frames 1..40; OTHER: 41..63 */
#define DOM 1u
#define OTHER 2u
#define STRANGER 3u /* a domain DOM does not control */
#define P 1ull
#define RW 2ull

struct fixture {
	struct pv_fixture pv;
	struct vmmu_pv_domain other;
	struct vmmu_pv_vcpu other_v;
	struct vmmu_pv_foreign_ops fops;
	unsigned gets, puts, asked_domid;
	uint64_t m2p[NFRAMES];
};

/* The embedder's policy: DOM controls OTHER, nobody else. */
static struct vmmu_pv_domain *foreign_get(void *ctx,
					  const struct vmmu_pv_domain *caller,
					  vmmu_domid_t domid)
{
	struct fixture *fx = ctx;

	fx->asked_domid = domid;
	if (caller != &fx->pv.d || domid != OTHER) {
		return NULL;
	}
	fx->gets++;
	return &fx->other;
}

static void foreign_put(void *ctx, struct vmmu_pv_domain *d)
{
	struct fixture *fx = ctx;

	assert_ptr_equal(d, &fx->other);
	fx->puts++;
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	pv_fixture_init(&fx->pv, NFRAMES, OWN_LAST, DOM, OTHER, 0);
	assert_int_equal(vmmu_pv_domain_init(&fx->other, &fx->pv.ft,
					     &fx->pv.tp.plat, OTHER, 40, NULL, 0),
			 0);
	assert_int_equal(vmmu_pv_vcpu_init(&fx->other_v, &fx->other, 0), 0);
	fx->fops = (struct vmmu_pv_foreign_ops){
		.get = foreign_get, .put = foreign_put, .ctx = fx};
	vmmu_pv_domain_set_foreign_ops(&fx->pv.d, &fx->fops);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(fx->gets, fx->puts); /* every domain given back */
	pv_fixture_fini(&fx->pv);
	free(fx);
	return 0;
}

static uint64_t *table(struct fixture *fx, uint64_t mfn)
{
	return pv_table(&fx->pv, mfn);
}

static uint64_t entry(uint64_t mfn, uint64_t flags)
{
	return mfn << 12 | flags;
}

/* Both domains together: the foreign references are counted where they are. */
static void assert_audit_clean(struct fixture *fx)
{
	const struct vmmu_pv_audit_domain doms[2] = {
		{&fx->pv.d, &fx->pv.v, 1},
		{&fx->other, &fx->other_v, 1},
	};
	struct vmmu_pv_audit r;

	if (vmmu_pv_audit_domains(doms, 2, fx->pv.work, &r) != 0) {
		fail_msg("audit: %llu errors, first at frame %llu: %s",
			 (unsigned long long)r.errors,
			 (unsigned long long)r.first_mfn, r.first);
	}
}

static void assert_refs(struct fixture *fx, uint64_t mfn, uint32_t count,
			uint32_t type_count)
{
	struct vmmu_frame_info i;

	assert_int_equal(vmmu_ft_info(&fx->pv.ft, mfn, &i), 0);
	assert_int_equal(i.count, count);
	assert_int_equal(i.type_count, type_count);
}

static int update_fd(struct fixture *fx, uint64_t tab, unsigned index,
		     uint64_t val, uint32_t foreigndom, uint32_t *done)
{
	struct vmmu_pv_mmu_update r = {.ptr = (tab << 12) + index * 8u,
				       .val = val};

	*done = 0;
	return vmmu_pv_mmu_update(&fx->pv.v, &r, 1, done, foreigndom);
}

static int update(struct fixture *fx, uint64_t tab, unsigned index,
		  uint64_t val, uint32_t foreigndom)
{
	uint32_t done;

	return update_fd(fx, tab, index, val, foreigndom, &done);
}

static int ext_fd(struct pv_fixture *pv, uint32_t cmd, uint64_t arg,
		  uint32_t foreigndom, uint32_t *done)
{
	struct vmmu_pv_mmuext_op op = {.cmd = cmd};

	op.arg1.mfn = arg;
	*done = 0;
	return vmmu_pv_mmuext_op(&pv->v, &op, 1, done, foreigndom);
}

/* One mmuext_op of OTHER, on its own behalf. */
static int other_ext(struct fixture *fx, uint32_t cmd, uint64_t mfn)
{
	struct vmmu_pv_mmuext_op op = {.cmd = cmd};
	uint32_t done = 0;

	op.arg1.mfn = mfn;
	return vmmu_pv_mmuext_op(&fx->other_v, &op, 1, &done, VMMU_PV_DOMID_SELF);
}

/* An L1 table of DOM, pinned. */
static uint64_t pinned_l1(struct fixture *fx, uint64_t mfn)
{
	assert_int_equal(pv_ext(&fx->pv, VMMU_PV_MMUEXT_PIN_L1_TABLE, mfn, 0), 0);
	return mfn;
}

static void unpin(struct fixture *fx, uint64_t mfn)
{
	assert_int_equal(pv_ext(&fx->pv, VMMU_PV_MMUEXT_UNPIN_TABLE, mfn, 0), 0);
}

/* Nothing held anywhere: every frame back to its allocation reference. */
static void assert_all_released(struct fixture *fx)
{
	for (uint64_t mfn = 1; mfn < NFRAMES; mfn++) {
		assert_refs(fx, mfn, 1, 0);
	}
}

static void test_privileged_domain_maps_foreign_frames(void **state)
{
	struct fixture *fx = *state;
	const uint64_t l1 = pinned_l1(fx, 1), x = 50, y = 51;
	struct vmmu_frame_info i;

	assert_int_equal(update(fx, l1, 0, entry(x, P), OTHER), 0);
	assert_int_equal(update(fx, l1, 1, entry(y, P | RW), OTHER), 0);
	assert_int_equal(table(fx, l1)[0], entry(x, P));
	assert_refs(fx, x, 2, 0);
	assert_refs(fx, y, 2, 1);
	assert_int_equal(vmmu_ft_info(&fx->pv.ft, y, &i), 0);
	assert_int_equal(i.type, VMMU_FTYPE_WRITABLE);
	assert_int_equal(i.owner, OTHER); /* mapping never changes the owner */
	assert_audit_clean(fx);
	assert_int_equal(fx->gets, 2);
	assert_int_equal(fx->puts, 2);

	/* Unmapping needs no foreign domain: the references go back. */
	assert_int_equal(update(fx, l1, 0, 0, VMMU_PV_DOMID_SELF), 0);
	assert_int_equal(update(fx, l1, 1, 0, VMMU_PV_DOMID_SELF), 0);
	assert_refs(fx, x, 1, 0);
	assert_refs(fx, y, 1, 0);
	unpin(fx, l1);
	assert_audit_clean(fx);
	assert_all_released(fx);
}

/* A domain audited alone sees the foreign side as an error. */
static void test_foreign_mapping_needs_the_joint_audit(void **state)
{
	struct fixture *fx = *state;
	const uint64_t l1 = pinned_l1(fx, 1), x = 50;
	struct vmmu_pv_audit r;

	assert_int_equal(update(fx, l1, 0, entry(x, P), OTHER), 0);
	assert_int_equal(vmmu_pv_audit(&fx->pv.d, &fx->pv.v, 1, fx->pv.work, &r),
			 -VMMU_EFAULT);
	assert_int_equal(r.first_mfn, x);
	assert_string_equal(r.first, "an entry maps a frame the domain does not own");
	assert_int_equal(vmmu_pv_audit(&fx->other, &fx->other_v, 1, fx->pv.work,
				       &r),
			 -VMMU_EFAULT);
	assert_int_equal(r.first_mfn, x);
	assert_string_equal(r.first,
			    "general reference count differs from its holders");
	assert_audit_clean(fx);

	/* The same entry from a domain without foreign ops is an error too. */
	vmmu_pv_domain_set_foreign_ops(&fx->pv.d, NULL);
	{
		const struct vmmu_pv_audit_domain doms[2] = {
			{&fx->pv.d, &fx->pv.v, 1},
			{&fx->other, &fx->other_v, 1},
		};
		assert_int_equal(vmmu_pv_audit_domains(doms, 2, fx->pv.work, &r),
				 -VMMU_EFAULT);
		assert_int_equal(r.first_mfn, x);
	}
	vmmu_pv_domain_set_foreign_ops(&fx->pv.d, &fx->fops);
	assert_int_equal(update(fx, l1, 0, 0, VMMU_PV_DOMID_SELF), 0);
	unpin(fx, l1);
	assert_all_released(fx);
}

/* The read-only rule holds across domains, both ways. */
static void test_read_only_rule_across_domains(void **state)
{
	struct fixture *fx = *state;
	const uint64_t l1 = pinned_l1(fx, 1), x = 50, other_l1 = 52;

	/* DOM maps x writable: OTHER cannot make it a page table. */
	assert_int_equal(update(fx, l1, 0, entry(x, P | RW), OTHER), 0);
	assert_int_equal(other_ext(fx, VMMU_PV_MMUEXT_PIN_L1_TABLE, x),
			 -VMMU_EBUSY);
	assert_audit_clean(fx);
	assert_int_equal(update(fx, l1, 0, 0, VMMU_PV_DOMID_SELF), 0);

	/* OTHER's page table: DOM may map it read-only, never writable. */
	assert_int_equal(other_ext(fx, VMMU_PV_MMUEXT_PIN_L1_TABLE, other_l1), 0);
	assert_int_equal(update(fx, l1, 0, entry(other_l1, P | RW), OTHER),
			 -VMMU_EBUSY);
	assert_int_equal(table(fx, l1)[0], 0);
	assert_int_equal(update(fx, l1, 0, entry(other_l1, P), OTHER), 0);
	assert_refs(fx, other_l1, 3, 1); /* allocation, pin, DOM's mapping */
	assert_audit_clean(fx);
	assert_int_equal(update(fx, l1, 0, 0, VMMU_PV_DOMID_SELF), 0);
	assert_int_equal(other_ext(fx, VMMU_PV_MMUEXT_UNPIN_TABLE, other_l1), 0);
	unpin(fx, l1);
	assert_audit_clean(fx);
	assert_all_released(fx);
}

/*
 * The frame must belong to the domain foreigndom names (Xen's pg_owner):
 * not DOM's own under foreigndom OTHER, not OTHER's under DOMID_SELF.
 */
static void test_owner_is_the_named_domain(void **state)
{
	struct fixture *fx = *state;
	const uint64_t l1 = pinned_l1(fx, 1), own = 5, x = 50;

	assert_int_equal(update(fx, l1, 0, entry(own, P), OTHER), -VMMU_EPERM);
	assert_int_equal(update(fx, l1, 0, entry(x, P), VMMU_PV_DOMID_SELF),
			 -VMMU_EPERM);
	assert_int_equal(update(fx, l1, 0, entry(x, P), DOM), -VMMU_EPERM);
	assert_int_equal(table(fx, l1)[0], 0);
	assert_refs(fx, own, 1, 0);
	assert_refs(fx, x, 1, 0);
	assert_audit_clean(fx);
	unpin(fx, l1);
	assert_all_released(fx);
}

/* Only L1 entries map data: an L2 entry stays within DOM's own tables. */
static void test_upper_levels_never_foreign(void **state)
{
	struct fixture *fx = *state;
	const uint64_t l2 = 2, x = 50;
	uint32_t done;

	assert_int_equal(pv_ext(&fx->pv, VMMU_PV_MMUEXT_PIN_L2_TABLE, l2, 0), 0);
	assert_int_equal(update_fd(fx, l2, 0, entry(x, P), OTHER, &done),
			 -VMMU_EPERM);
	assert_int_equal(done, 0);
	assert_refs(fx, x, 1, 0);
	assert_audit_clean(fx);
	unpin(fx, l2);
	assert_all_released(fx);
}

/*
 * Refused with nothing done and the foreign domain never asked for: no
 * foreign ops, a domain the embedder says DOM does not control, the
 * reserved ids, page tables of another domain (upper half).
 */
static void test_refusals(void **state)
{
	struct fixture *fx = *state;
	const uint64_t l1 = pinned_l1(fx, 1), x = 50;
	const uint32_t reserved[] = {VMMU_PV_DOMID_IO, VMMU_PV_DOMID_XEN,
				     0x7ff3u, 0xffffu};
	uint32_t done;

	assert_int_equal(update_fd(fx, l1, 0, entry(x, P), STRANGER, &done),
			 -VMMU_EPERM);
	assert_int_equal(fx->asked_domid, STRANGER);
	for (unsigned k = 0; k < sizeof(reserved) / sizeof(reserved[0]); k++) {
		fx->asked_domid = 0;
		assert_int_equal(update_fd(fx, l1, 0, entry(x, P), reserved[k],
					   &done),
				 -VMMU_EPERM);
		assert_int_equal(fx->asked_domid, 0);
	}
	assert_int_equal(update_fd(fx, l1, 0, entry(x, P),
				   (OTHER + 1u) << 16 | OTHER, &done),
			 -VMMU_EPERM);
	assert_int_equal(done, 0);
	/* Page tables named as DOM's own (id + 1 in the upper half) are fine. */
	assert_int_equal(update_fd(fx, l1, 0, entry(x, P),
				   (DOM + 1u) << 16 | OTHER, &done),
			 0);
	assert_int_equal(update(fx, l1, 0, 0, VMMU_PV_DOMID_SELF), 0);
	vmmu_pv_domain_set_foreign_ops(&fx->pv.d, NULL);
	assert_int_equal(update_fd(fx, l1, 0, entry(x, P), OTHER, &done),
			 -VMMU_EPERM);
	vmmu_pv_domain_set_foreign_ops(&fx->pv.d, &fx->fops);
	assert_int_equal(table(fx, l1)[0], 0);
	assert_audit_clean(fx);
	unpin(fx, l1);
	assert_all_released(fx);
}

/* As in Xen, no mmuext_op command acts for another domain. */
static void test_mmuext_op_for_another_domain_refused(void **state)
{
	struct fixture *fx = *state;
	const uint32_t cmds[] = {
		VMMU_PV_MMUEXT_PIN_L1_TABLE,    VMMU_PV_MMUEXT_PIN_L4_TABLE,
		VMMU_PV_MMUEXT_UNPIN_TABLE,     VMMU_PV_MMUEXT_NEW_BASEPTR,
		VMMU_PV_MMUEXT_TLB_FLUSH_LOCAL, VMMU_PV_MMUEXT_INVLPG_ALL,
		VMMU_PV_MMUEXT_TLB_FLUSH_ALL,
	};
	uint64_t flushes = fx->pv.tp.flushes;
	uint32_t done;

	for (unsigned k = 0; k < sizeof(cmds) / sizeof(cmds[0]); k++) {
		assert_int_equal(ext_fd(&fx->pv, cmds[k], 50, OTHER, &done),
				 -VMMU_EPERM);
		assert_int_equal(done, 0);
	}
	assert_int_equal(fx->pv.tp.flushes, flushes);
	assert_refs(fx, 50, 1, 0);
	assert_audit_clean(fx);
	assert_all_released(fx);
}

/* MACHPHYS_UPDATE names a frame of the foreign domain, in its M2P. */
static void test_machphys_update_of_foreign_frame(void **state)
{
	struct fixture *fx = *state;
	const uint64_t x = 50;
	struct vmmu_pv_mmu_update r = {
		.ptr = x << 12 | VMMU_PV_MMU_MACHPHYS_UPDATE, .val = 0x1234};
	uint32_t done = 0;

	assert_int_equal(vmmu_pv_mmu_update(&fx->pv.v, &r, 1, &done, OTHER),
			 -VMMU_ENOTSUP); /* OTHER has no M2P */
	vmmu_pv_domain_set_m2p(&fx->other, fx->m2p);
	assert_int_equal(vmmu_pv_mmu_update(&fx->pv.v, &r, 1, &done, OTHER), 0);
	assert_int_equal(fx->m2p[x], 0x1234);
	r.ptr = 5ull << 12 | VMMU_PV_MMU_MACHPHYS_UPDATE; /* DOM's frame */
	done = 0;
	assert_int_equal(vmmu_pv_mmu_update(&fx->pv.v, &r, 1, &done, OTHER),
			 -VMMU_EPERM);
	assert_int_equal(fx->m2p[5], 0);
	assert_all_released(fx);
}

/* update_va_mapping_otherdomain: the data frame is the named domain's. */
static void test_update_va_mapping_otherdomain(void **state)
{
	struct fixture *fx = *state;
	const uint64_t l4 = 1, l3 = 2, l2 = 3, l1 = 4, x = 50;
	const uint64_t va = 0x1000; /* L4/L3/L2 index 0, L1 index 1 */
	uint64_t flushes;

	table(fx, l4)[0] = entry(l3, P | RW);
	table(fx, l3)[0] = entry(l2, P | RW);
	table(fx, l2)[0] = entry(l1, P | RW);
	assert_int_equal(pv_ext(&fx->pv, VMMU_PV_MMUEXT_NEW_BASEPTR, l4, 0), 0);
	flushes = fx->pv.tp.flushes;
	assert_int_equal(vmmu_pv_update_va_mapping_otherdomain(
				 &fx->pv.v, va, entry(x, P | RW),
				 VMMU_PV_UVMF_INVLPG, OTHER),
			 0);
	assert_int_equal(table(fx, l1)[1], entry(x, P | RW));
	assert_int_equal(fx->pv.tp.flushes, flushes + 1);
	assert_refs(fx, x, 2, 1);
	assert_audit_clean(fx);
	/* Refused: DOM's own frame for OTHER, a stranger; no flush then. */
	assert_int_equal(vmmu_pv_update_va_mapping_otherdomain(
				 &fx->pv.v, va, entry(9, P), VMMU_PV_UVMF_INVLPG,
				 OTHER),
			 -VMMU_EPERM);
	assert_int_equal(vmmu_pv_update_va_mapping_otherdomain(
				 &fx->pv.v, va, entry(x, P), VMMU_PV_UVMF_INVLPG,
				 STRANGER),
			 -VMMU_EPERM);
	assert_int_equal(fx->pv.tp.flushes, flushes + 1);
	assert_int_equal(table(fx, l1)[1], entry(x, P | RW));
	/* DOMID_SELF is plain update_va_mapping. */
	assert_int_equal(vmmu_pv_update_va_mapping_otherdomain(
				 &fx->pv.v, va, entry(9, P), VMMU_PV_UVMF_NONE,
				 VMMU_PV_DOMID_SELF),
			 0);
	assert_refs(fx, x, 1, 0);
	assert_audit_clean(fx);
	assert_int_equal(vmmu_pv_vcpu_release(&fx->pv.v), 0);
	assert_all_released(fx);
}

/* OTHER cannot free a frame DOM still maps: the frame outlives the owner's release. */
static void test_foreign_mapping_keeps_frame_alive(void **state)
{
	struct fixture *fx = *state;
	const uint64_t l1 = pinned_l1(fx, 1), x = 50;

	assert_int_equal(update(fx, l1, 0, entry(x, P | RW), OTHER), 0);
	assert_int_equal(vmmu_ft_release(&fx->pv.ft, x, OTHER), 0); /* not free yet */
	assert_refs(fx, x, 1, 1);
	assert_int_equal(update(fx, l1, 0, 0, VMMU_PV_DOMID_SELF), 0);
	assert_refs(fx, x, 0, 0); /* free now */
	assert_int_equal(vmmu_ft_assign(&fx->pv.ft, x, OTHER), 0);
	unpin(fx, l1);
	assert_audit_clean(fx);
	assert_all_released(fx);
}

/* A preempted foreign batch resumes exactly, holding the domain per call. */
static void test_foreign_batch_preempted_and_resumed(void **state)
{
	struct fixture *fx = *state;
	const uint64_t l1 = pinned_l1(fx, 1);
	struct vmmu_pv_mmu_update reqs[8];
	uint32_t done = 0, calls = 0;
	int rc;

	for (unsigned k = 0; k < 8; k++) {
		reqs[k] = (struct vmmu_pv_mmu_update){
			.ptr = (l1 << 12) + k * 8u, .val = entry(50 + k, P)};
	}
	fx->pv.tp.yield = true;
	do {
		rc = vmmu_pv_mmu_update(&fx->pv.v, reqs, 8, &done, OTHER);
		calls++;
		assert_audit_clean(fx);
	} while (rc == -VMMU_ERESTART);
	fx->pv.tp.yield = false;
	assert_int_equal(rc, 0);
	assert_int_equal(done, 8);
	assert_int_equal(calls, 8); /* one request a call, each once */
	assert_int_equal(fx->gets, 8);
	for (unsigned k = 0; k < 8; k++) {
		assert_int_equal(table(fx, l1)[k], entry(50 + k, P));
		assert_refs(fx, 50 + k, 2, 0);
	}
	unpin(fx, l1);
	assert_audit_clean(fx);
	assert_all_released(fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_privileged_domain_maps_foreign_frames, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_foreign_mapping_needs_the_joint_audit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_only_rule_across_domains,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_owner_is_the_named_domain,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_upper_levels_never_foreign,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_mmuext_op_for_another_domain_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_machphys_update_of_foreign_frame, setup, teardown),
		cmocka_unit_test_setup_teardown(test_update_va_mapping_otherdomain,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_foreign_mapping_keeps_frame_alive, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_foreign_batch_preempted_and_resumed, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
