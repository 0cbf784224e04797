/* SPDX-License-Identifier: MIT */
/*
 * Hostile sequences named after the Xen security advisories whose bug
 * classes apply to a 64-bit PV guest (reference: the "security bug
 * classes" list of the direct-paging fact sheet). Each test replays the
 * guest's side of the advisory against vmmu's hypercalls, checks that the
 * sequence is refused with the exact -VMMU_E* code (or handled safely),
 * and runs vmmu_pv_audit afterwards (after every call where preemption is
 * forced). Where a class concerns something vmmu does not have (32-bit PV,
 * grant tables, a multicall executor), the test says what vmmu does
 * instead, or is skipped with the reason.
 *
 * FINDINGS: these tests assert what Xen does and vmmu does not (yet), and
 * skip() themselves while the library still behaves the old way,
 * printing "FINDING" (they fail if anything else goes wrong, and run in
 * full once the library changes):
 *   - test_xsa241_401_writable_frame_becoming_table_flushes
 *   - test_xsa402_upper_level_cache_attributes_refused
 *   - test_xsa248_hypervisor_frames_never_guest_mappable (only on a
 *     library that leaves guest-written reserved L4 slots in place)
 * test_xsa213_privilege_change_in_multicall runs vmmu's multicall
 * executor (batch_exec.h).
 *
 * Machine frame n is page n of the test platform's arena. Frames 1..55
 * are DOM's, 56..63 OTHER's, frame 0 nobody's (the hypervisor's).
 */
#include <stdlib.h>
#include <string.h>

#include <vmmu/batch_exec.h>

#include "test_platform.h"
#include "unit_check.h"

#define NFRAMES 64u
#define DOM 1u
#define OTHER 2u
#define FIRST_OTHER (NFRAMES - 8)
#define MAXPHYADDR 40u

#define P (1ull << 0)
#define RW (1ull << 1)
#define US (1ull << 2)
#define PWT (1ull << 3)
#define PCD (1ull << 4)
#define ACC (1ull << 5)
#define DIRTY (1ull << 6)
#define PS (1ull << 7)  /* PAT in an L1 entry */
#define GLB (1ull << 8)
#define NX (1ull << 63)

#define SELF VMMU_PV_DOMID_SELF
#define BITMAP_GVA 0x7000ull /* where the fake guest keeps a vCPU bitmap */

/* An entry mapping frame mfn, and the mmu_update address of entry i. */
#define E(mfn, flags) (((uint64_t)(mfn) << 12) | (flags))
#define PTR(mfn, i) (((uint64_t)(mfn) << 12) | ((uint64_t)(i) << 3))

struct fixture;
typedef int (*yield_hook)(struct fixture *fx);

struct fixture {
	struct test_platform tp; /* first: the platform's ctx is the fixture */
	const struct vmmu_platform_ops *base;
	struct vmmu_platform_ops ops; /* tp's, with yield and flush wrapped */
	struct vmmu_platform plat;
	struct vmmu_ft ft;
	struct vmmu_frame frames[NFRAMES];
	struct vmmu_pv_domain d, d2; /* DOM and OTHER */
	struct vmmu_pv_vcpu v[2], v2;
	uint64_t work[2 * NFRAMES];
	struct vmmu_pv_audit report;
	struct vmmu_frame_info baseline[NFRAMES];
	uint64_t m2p[NFRAMES];
	struct vmmu_pv_guest_ops guest;
	uint64_t guest_bitmap;
	/* should_yield: the hook (-1: fall through to tp.yield) */
	yield_hook on_yield;
	unsigned hook_state;
	int nested_rc;
	uint64_t yields;
	/* tlb_flush: the first mask word, and a watched frame at flush time */
	uint64_t flush_mask0;
	uint64_t watch;
	struct vmmu_frame_info at_flush;
	/* leave_writable (installed by hand in one test) */
	unsigned leaves;
	uint64_t leave_mfn;
	unsigned leave_type;
	struct vmmu_frame_info in_leave, data_in_leave;
	int writable_in_leave;
};

static uint64_t *tab(struct fixture *fx, uint64_t mfn)
{
	return (uint64_t *)test_platform_ptr(&fx->tp, mfn << 12);
}

/* --- platform hooks ----------------------------------------------------- */

static bool fx_should_yield(void *ctx)
{
	struct fixture *fx = ctx;

	fx->yields++;
	if (fx->on_yield != NULL) {
		int r = fx->on_yield(fx);
		if (r >= 0) {
			return r != 0;
		}
	}
	return fx->tp.yield;
}

static void fx_tlb_flush(void *ctx, const struct vmmu_tlb_req *req)
{
	struct fixture *fx = ctx;

	fx->base->tlb_flush(ctx, req); /* tp.flushes, tp.last_flush */
	fx->flush_mask0 = req->cpu_mask_words != 0 ? req->cpu_mask[0] : 0;
	if (fx->watch != 0) {
		vmmu_ft_info(&fx->ft, fx->watch, &fx->at_flush);
	}
}

static int copy_from_guest(void *ctx, const struct vmmu_pv_vcpu *v, void *dst,
			   uint64_t gva, size_t len)
{
	struct fixture *fx = ctx;

	(void)v;
	if (gva != BITMAP_GVA || len > sizeof(fx->guest_bitmap)) {
		return -VMMU_EFAULT;
	}
	memcpy(dst, &fx->guest_bitmap, len);
	return 0;
}

/* --- fixture ------------------------------------------------------------- */

static const uint64_t k_l4_reserved[8] = {0, 0, 0, 0, 0xffffull}; /* 256-271 */

static void domain_init(struct fixture *fx, uint32_t flags)
{
	assert_int_equal(vmmu_pv_domain_init(&fx->d, &fx->ft, &fx->plat, DOM,
					     MAXPHYADDR, k_l4_reserved, flags),
			 0);
	assert_int_equal(vmmu_pv_vcpu_init(&fx->v[0], &fx->d, 0), 0);
	assert_int_equal(vmmu_pv_vcpu_init(&fx->v[1], &fx->d, 1), 0);
}

static void domain2_init(struct fixture *fx, uint32_t flags)
{
	assert_int_equal(vmmu_pv_domain_init(&fx->d2, &fx->ft, &fx->plat, OTHER,
					     MAXPHYADDR, k_l4_reserved, flags),
			 0);
	assert_int_equal(vmmu_pv_vcpu_init(&fx->v2, &fx->d2, 0), 0);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	test_platform_init(&fx->tp, NFRAMES);
	memset(fx->tp.arena, 0, (size_t)NFRAMES * 4096);
	fx->base = fx->tp.plat.ops;
	fx->ops = *fx->base;
	fx->ops.should_yield = fx_should_yield;
	fx->ops.tlb_flush = fx_tlb_flush;
	fx->plat = fx->tp.plat;
	fx->plat.ops = &fx->ops;
	assert_ptr_equal(fx->plat.ctx, fx);
	assert_int_equal(vmmu_ft_init(&fx->ft, fx->frames, sizeof(fx->frames),
				      NFRAMES, &fx->plat),
			 0);
	for (uint64_t mfn = 1; mfn < NFRAMES; mfn++) {
		assert_int_equal(vmmu_ft_assign(&fx->ft, mfn,
						mfn < FIRST_OTHER ? DOM : OTHER),
				 0);
	}
	domain_init(fx, 0);
	domain2_init(fx, 0);
	fx->guest.copy_from_guest = copy_from_guest;
	fx->guest.ctx = fx;
	for (uint64_t mfn = 0; mfn < NFRAMES; mfn++) {
		assert_int_equal(vmmu_ft_info(&fx->ft, mfn, &fx->baseline[mfn]), 0);
	}
	WHERE("-");
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	test_platform_fini(&fx->tp);
	free(fx);
	return 0;
}

/* --- helpers -------------------------------------------------------------- */

static void audit_all(struct fixture *fx)
{
	if (vmmu_pv_audit(&fx->d, fx->v, 2, fx->work, &fx->report) != 0) {
		fail_msg("[%s] audit of DOM: %llu errors, first at frame %llu: %s",
			 g_where, (unsigned long long)fx->report.errors,
			 (unsigned long long)fx->report.first_mfn, fx->report.first);
	}
	struct vmmu_pv_audit r2;
	if (vmmu_pv_audit(&fx->d2, &fx->v2, 1, fx->work, &r2) != 0) {
		fail_msg("[%s] audit of OTHER: %llu errors, first at frame %llu: %s",
			 g_where, (unsigned long long)r2.errors,
			 (unsigned long long)r2.first_mfn, r2.first);
	}
}

static void snapshot(struct fixture *fx, struct vmmu_frame_info *s)
{
	for (uint64_t mfn = 0; mfn < NFRAMES; mfn++) {
		assert_int_equal(vmmu_ft_info(&fx->ft, mfn, &s[mfn]), 0);
	}
}

/* Every count as in s (the type itself only where it is in use). */
static void expect_snapshot(struct fixture *fx, const struct vmmu_frame_info *s)
{
	for (uint64_t mfn = 0; mfn < NFRAMES; mfn++) {
		struct vmmu_frame_info i;
		assert_int_equal(vmmu_ft_info(&fx->ft, mfn, &i), 0);
		if (i.count != s[mfn].count || i.type_count != s[mfn].type_count ||
		    i.pinned != s[mfn].pinned || i.partial != s[mfn].partial ||
		    i.allocated != s[mfn].allocated ||
		    (i.type_count != 0 && i.type != s[mfn].type)) {
			fail_msg("[%s] frame %llu: count %llu type %u/%llu pinned %d, "
				 "expected count %llu type %u/%llu pinned %d",
				 g_where, (unsigned long long)mfn,
				 (unsigned long long)i.count, i.type,
				 (unsigned long long)i.type_count, i.pinned,
				 (unsigned long long)s[mfn].count, s[mfn].type,
				 (unsigned long long)s[mfn].type_count,
				 s[mfn].pinned);
		}
	}
}

static void expect_baseline(struct fixture *fx)
{
	expect_snapshot(fx, fx->baseline);
	for (uint64_t mfn = 0; mfn < NFRAMES; mfn++) {
		CHECK_EQ(vmmu_ft_linear(&fx->ft, mfn), 0);
	}
}

static void expect_frame(struct fixture *fx, uint64_t mfn, uint64_t count,
			 uint64_t type_count)
{
	struct vmmu_frame_info i;

	assert_int_equal(vmmu_ft_info(&fx->ft, mfn, &i), 0);
	CHECK_EQ(i.count, count);
	CHECK_EQ(i.type_count, type_count);
}

static int mmu_fd(struct vmmu_pv_vcpu *v, uint64_t ptr, uint64_t val,
		  uint32_t fd)
{
	struct vmmu_pv_mmu_update r = {.ptr = ptr, .val = val};
	uint32_t done = 0;
	int rc = vmmu_pv_mmu_update(v, &r, 1, &done, fd);

	/* A refused request is not done; a finished one is. */
	if (rc == 0) {
		CHECK_EQ(done, 1);
	} else if (rc != -VMMU_ERESTART) {
		CHECK_EQ(done, 0);
	}
	return rc;
}

static int mmu(struct vmmu_pv_vcpu *v, uint64_t ptr, uint64_t val)
{
	return mmu_fd(v, ptr, val, SELF);
}

static int ext2(struct vmmu_pv_vcpu *v, uint32_t cmd, uint64_t arg1,
		uint64_t arg2)
{
	struct vmmu_pv_mmuext_op op = {.cmd = cmd};
	uint32_t done = 0;
	int rc;

	op.arg1.mfn = arg1;
	op.arg2.vcpumask = arg2;
	rc = vmmu_pv_mmuext_op(v, &op, 1, &done, SELF);
	if (rc == 0) {
		CHECK_EQ(done, 1);
	} else if (rc != -VMMU_ERESTART) {
		CHECK_EQ(done, 0);
	}
	return rc;
}

static int ext(struct vmmu_pv_vcpu *v, uint32_t cmd, uint64_t arg1)
{
	return ext2(v, cmd, arg1, 0);
}

/* Repeat one mmuext_op until it is no longer preempted, auditing each call. */
static int ext_to_end(struct fixture *fx, struct vmmu_pv_vcpu *v, uint32_t cmd,
		      uint64_t mfn, unsigned *calls)
{
	struct vmmu_pv_mmuext_op op = {.cmd = cmd, .arg1.mfn = mfn};
	uint32_t done = 0;
	unsigned n = 0;
	int rc;

	do {
		rc = vmmu_pv_mmuext_op(v, &op, 1, &done, SELF);
		audit_all(fx);
		assert_true(++n < 100000);
	} while (rc == -VMMU_ERESTART);
	if (calls != NULL) {
		*calls = n;
	}
	return rc;
}

static int release_to_end(struct fixture *fx, struct vmmu_pv_vcpu *v)
{
	unsigned n = 0;
	int rc;

	do {
		rc = vmmu_pv_vcpu_release(v);
		audit_all(fx);
		assert_true(++n < 100000);
	} while (rc == -VMMU_ERESTART);
	return rc;
}

/*
 * Tree A: L4 1 -> L3 2 -> L2 3 -> L1 4 (va 0..2M) and L1 5 (2M..4M);
 * L1 4 entry k maps frame 10+k (writable for odd k), L1 5 entry k maps
 * 10+k read-only (k < 8).
 */
static void build_tree_a(struct fixture *fx)
{
	tab(fx, 1)[0] = E(2, P | RW | US);
	tab(fx, 2)[0] = E(3, P | RW | US);
	tab(fx, 3)[0] = E(4, P | RW | US);
	tab(fx, 3)[1] = E(5, P | RW | US);
	for (unsigned k = 0; k < 8; k++) {
		tab(fx, 4)[k] = E(10 + k, P | US | (k & 1 ? RW : 0));
		tab(fx, 5)[k] = E(10 + k, P | US);
	}
}

/*
 * Tree B: L4 20 -> L3 21 -> L2 22 -> L1 23, L1 24; L1 23 entry k maps
 * 40+k writable, L1 24 entry k maps 44+k read-only (k < 4).
 */
static void build_tree_b(struct fixture *fx)
{
	tab(fx, 20)[0] = E(21, P | RW | US);
	tab(fx, 21)[0] = E(22, P | RW | US);
	tab(fx, 22)[0] = E(23, P | RW | US);
	tab(fx, 22)[1] = E(24, P | RW | US);
	for (unsigned k = 0; k < 4; k++) {
		tab(fx, 23)[k] = E(40 + k, P | RW);
		tab(fx, 24)[k] = E(44 + k, P);
	}
}

/* Tree A pinned and loaded as vCPU 0's base. */
static void pin_tree_a(struct fixture *fx)
{
	build_tree_a(fx);
	assert_int_equal(ext(&fx->v[0], VMMU_PV_MMUEXT_PIN_L4_TABLE, 1), 0);
	assert_int_equal(ext(&fx->v[0], VMMU_PV_MMUEXT_NEW_BASEPTR, 1), 0);
	audit_all(fx);
}

/* Tear everything down: unpin what is pinned, release the vCPUs. */
static void release_all(struct fixture *fx)
{
	for (uint64_t mfn = 1; mfn < NFRAMES; mfn++) {
		struct vmmu_frame_info i;
		assert_int_equal(vmmu_ft_info(&fx->ft, mfn, &i), 0);
		if (i.pinned && i.owner == DOM) {
			assert_int_equal(ext_to_end(fx, &fx->v[0],
						    VMMU_PV_MMUEXT_UNPIN_TABLE,
						    mfn, NULL),
					 0);
		} else if (i.pinned) {
			assert_int_equal(ext_to_end(fx, &fx->v2,
						    VMMU_PV_MMUEXT_UNPIN_TABLE,
						    mfn, NULL),
					 0);
		}
	}
	assert_int_equal(release_to_end(fx, &fx->v[0]), 0);
	assert_int_equal(release_to_end(fx, &fx->v[1]), 0);
	assert_int_equal(release_to_end(fx, &fx->v2), 0);
	audit_all(fx);
}

/* ==== 1. XSA-148: L2 rewritten with PSE and/or RW flipped ================= */

/*
 * Xen let an existing present L2 entry be rewritten with PSE set (and RW
 * flipped) through the fast path: a writable 2M mapping over page
 * tables. vmmu refuses PS above L1 outright, whether the entry is new,
 * rewritten, not present, or met by validation, and an RW flip at L2 is
 * never the fast path: observable because the full path takes a fresh
 * reference on the target, which fails once the guest has given that
 * frame up, while an A-bit change (the real fast path) still succeeds.
 */
static void test_xsa148_l2_pse_rw_flip_takes_full_path(void **state)
{
	struct fixture *fx = *state;
	struct vmmu_frame_info snap[NFRAMES];
	const uint64_t old = E(4, P | RW | US);

	pin_tree_a(fx);
	snapshot(fx, snap);
	WHERE("PS set on a present L2 entry");
	CHECK_EQ(mmu(&fx->v[0], PTR(3, 0), old | PS), -VMMU_EINVAL);
	CHECK_EQ(mmu(&fx->v[0], PTR(3, 0), (old & ~RW) | PS), -VMMU_EINVAL);
	CHECK_EQ(mmu(&fx->v[0], PTR(3, 0), (old | PS) & ~P), -VMMU_EINVAL);
	WHERE("a new writable 2M mapping over the data frames");
	CHECK_EQ(mmu(&fx->v[0], PTR(3, 2), E(10, P | RW | US | PS)), -VMMU_EINVAL);
	WHERE("a 2M mapping over the page tables themselves (frame 0..511)");
	CHECK_EQ(mmu(&fx->v[0], PTR(3, 2), E(0, P | RW | US | PS)), -VMMU_EINVAL);
	CHECK_EQ(tab(fx, 3)[0], old);
	CHECK_EQ(tab(fx, 3)[2], 0);
	expect_snapshot(fx, snap);
	audit_all(fx);

	WHERE("PS met by validation");
	tab(fx, 30)[0] = E(10, P | RW | PS);
	CHECK_EQ(ext(&fx->v[0], VMMU_PV_MMUEXT_PIN_L2_TABLE, 30), -VMMU_EINVAL);
	expect_snapshot(fx, snap);
	audit_all(fx);

	WHERE("RW flips without PS: full path, counts unchanged");
	CHECK_EQ(mmu(&fx->v[0], PTR(3, 0), old & ~RW), 0);
	expect_snapshot(fx, snap);
	CHECK_EQ(mmu(&fx->v[0], PTR(3, 0), old), 0);
	expect_snapshot(fx, snap);
	audit_all(fx);

	WHERE("fast path vs full path on a frame the guest gave up");
	/* L1 4 stays referenced by L2 3[0], but takes no new reference. */
	CHECK_EQ(vmmu_ft_release(&fx->ft, 4, DOM), 0);
	CHECK_EQ(mmu(&fx->v[0], PTR(3, 0), old | ACC), 0); /* fast path */
	CHECK_EQ(mmu(&fx->v[0], PTR(3, 0), (old | ACC) & ~RW), -VMMU_EPERM);
	CHECK_EQ(mmu(&fx->v[0], PTR(3, 0), old | ACC | PS), -VMMU_EINVAL);
	CHECK_EQ(tab(fx, 3)[0], old | ACC);
	audit_all(fx);
	release_all(fx);
}

/* ==== 2. XSA-182: RO linear L4 self-map re-issued with RW ================== */

/*
 * The XSA-182 guest creates a read-only recursive L4 self-map, then issues
 * the same entry with RW: Xen's fast path accepted it and the guest could
 * write its own L4. vmmu: without VMMU_PV_LINEAR_PT the link is refused
 * (-VMMU_EBUSY); with it the read-only link is accepted and the RW
 * upgrade is refused (-VMMU_EINVAL) through mmu_update and
 * PRESERVE_AD alike, at L4, L3 and L2. The same move at L1 (RO mapping of
 * a table, then RW) is refused by the read-only rule (-VMMU_EBUSY).
 */
static void test_xsa182_linear_l4_rw_upgrade_refused(void **state)
{
	struct fixture *fx = *state;
	struct vmmu_frame_info snap[NFRAMES];

	pin_tree_a(fx);
	snapshot(fx, snap);
	WHERE("no linear tables on this domain");
	CHECK_EQ(mmu(&fx->v[0], PTR(1, 300), E(1, P)), -VMMU_EBUSY);
	CHECK_EQ(mmu(&fx->v[0], PTR(1, 300), E(1, P | RW)), -VMMU_EBUSY);
	CHECK_EQ(mmu(&fx->v[0], PTR(2, 5), E(2, P)), -VMMU_EBUSY);
	CHECK_EQ(mmu(&fx->v[0], PTR(3, 5), E(3, P)), -VMMU_EBUSY);
	CHECK_EQ(tab(fx, 1)[300], 0);
	expect_snapshot(fx, snap);
	audit_all(fx);

	WHERE("L1: RO mapping of the L4, then RW");
	CHECK_EQ(mmu(&fx->v[0], PTR(4, 100), E(1, P)), 0);
	CHECK_EQ(mmu(&fx->v[0], PTR(4, 100), E(1, P | RW)), -VMMU_EBUSY);
	CHECK_EQ(mmu(&fx->v[0], PTR(4, 100) | VMMU_PV_MMU_PT_UPDATE_PRESERVE_AD,
		     E(1, P | RW)),
		 -VMMU_EBUSY);
	CHECK_EQ(vmmu_pv_update_va_mapping(&fx->v[0], 100 * PAGE, E(1, P | RW),
					   VMMU_PV_UVMF_INVLPG),
		 -VMMU_EBUSY);
	/* What the fast path may change leaves it read-only. */
	CHECK_EQ(mmu(&fx->v[0], PTR(4, 100), E(1, P | ACC | DIRTY | GLB | NX)), 0);
	CHECK_EQ(tab(fx, 4)[100], E(1, P | ACC | DIRTY | GLB | NX));
	audit_all(fx);
	CHECK_EQ(mmu(&fx->v[0], PTR(4, 100), 0), 0);
	expect_snapshot(fx, snap);
	release_all(fx);

	WHERE("with VMMU_PV_LINEAR_PT");
	domain_init(fx, VMMU_PV_LINEAR_PT);
	pin_tree_a(fx);
	snapshot(fx, snap);
	CHECK_EQ(mmu(&fx->v[0], PTR(1, 300), E(1, P | RW)), -VMMU_EINVAL);
	CHECK_EQ(mmu(&fx->v[0], PTR(1, 300), E(1, P)), 0);
	audit_all(fx);
	CHECK_EQ(mmu(&fx->v[0], PTR(1, 300), E(1, P | RW)), -VMMU_EINVAL);
	CHECK_EQ(mmu(&fx->v[0], PTR(1, 300) | VMMU_PV_MMU_PT_UPDATE_PRESERVE_AD,
		     E(1, P | RW)),
		 -VMMU_EINVAL);
	CHECK_EQ(tab(fx, 1)[300], E(1, P));
	/* A/D/avail/NX on the link: fast path, still read-only. */
	CHECK_EQ(mmu(&fx->v[0], PTR(1, 300), E(1, P | ACC | NX | (1ull << 9))), 0);
	CHECK_EQ(mmu(&fx->v[0], PTR(1, 300), E(1, P | ACC | NX | RW)),
		 -VMMU_EINVAL);
	audit_all(fx);
	/* L3 and L2 self-links, and their RW upgrades. */
	CHECK_EQ(mmu(&fx->v[0], PTR(2, 5), E(2, P)), 0);
	CHECK_EQ(mmu(&fx->v[0], PTR(2, 5), E(2, P | RW)), -VMMU_EINVAL);
	CHECK_EQ(mmu(&fx->v[0], PTR(3, 5), E(3, P)), 0);
	CHECK_EQ(mmu(&fx->v[0], PTR(3, 5), E(3, P | RW)), -VMMU_EINVAL);
	audit_all(fx);
	CHECK_EQ(mmu(&fx->v[0], PTR(1, 300), 0), 0);
	CHECK_EQ(mmu(&fx->v[0], PTR(2, 5), 0), 0);
	CHECK_EQ(mmu(&fx->v[0], PTR(3, 5), 0), 0);
	expect_snapshot(fx, snap);
	release_all(fx);
	expect_baseline(fx);
}

/* ==== 3. XSA-185: 32-bit PV L3 pointing at itself ========================== */

/*
 * Not applicable: vmmu has no 32-bit (compat) PV guests, and it never
 * forces RW/US into an entry (Xen did on compat L3s, making a linear L3
 * writable). What remains of the class for a 64-bit guest: an L3 linking
 * to itself with RW/US is refused, with or without linear tables, via
 * mmu_update and via validation.
 */
static void test_xsa185_l3_self_reference_refused(void **state)
{
	struct fixture *fx = *state;
	struct vmmu_frame_info snap[NFRAMES];

	for (int linear = 0; linear < 2; linear++) {
		domain_init(fx, linear ? VMMU_PV_LINEAR_PT : 0);
		WHERE("linear %d", linear);
		pin_tree_a(fx);
		snapshot(fx, snap);
		CHECK_EQ(mmu(&fx->v[0], PTR(2, 3), E(2, P | RW | US)),
			 linear ? -VMMU_EINVAL : -VMMU_EBUSY);
		tab(fx, 30)[0] = E(30, P | RW | US);
		CHECK_EQ(ext(&fx->v[0], VMMU_PV_MMUEXT_PIN_L3_TABLE, 30),
			 linear ? -VMMU_EINVAL : -VMMU_EBUSY);
		CHECK_EQ(tab(fx, 2)[3], 0);
		expect_snapshot(fx, snap);
		audit_all(fx);
		release_all(fx);
		memset(tab(fx, 30), 0, PAGE);
	}
	expect_baseline(fx);
}

/* ==== 4. XSA-240: chains and loops of linear tables =========================== */

/*
 * Chains or loops of same-level links made Xen's teardown recurse without
 * bound. vmmu: without linear tables every such link is refused; with
 * them a table holds links or is linked to, never both, links only go to
 * validated tables (no recursion into validation), and never to another
 * domain's table.
 */
static void test_xsa240_linear_chains_and_loops_refused(void **state)
{
	struct fixture *fx = *state;
	struct vmmu_frame_info snap[NFRAMES];

	WHERE("no linear tables: L4 -> L4 and a loop of two L4s");
	pin_tree_a(fx);
	build_tree_b(fx);
	CHECK_EQ(ext(&fx->v[0], VMMU_PV_MMUEXT_PIN_L4_TABLE, 20), 0);
	snapshot(fx, snap);
	CHECK_EQ(mmu(&fx->v[0], PTR(1, 1), E(20, P)), -VMMU_EBUSY);
	tab(fx, 30)[0] = E(31, P);
	tab(fx, 31)[0] = E(30, P);
	CHECK_EQ(ext(&fx->v[0], VMMU_PV_MMUEXT_PIN_L4_TABLE, 30), -VMMU_EBUSY);
	/* An L3 slot pointing up at an L4. */
	CHECK_EQ(mmu(&fx->v[0], PTR(2, 1), E(1, P)), -VMMU_EBUSY);
	expect_snapshot(fx, snap);
	audit_all(fx);
	release_all(fx);
	expect_baseline(fx);

	WHERE("linear tables: a chain A -> B -> C");
	domain_init(fx, VMMU_PV_LINEAR_PT);
	pin_tree_a(fx);
	CHECK_EQ(ext(&fx->v[0], VMMU_PV_MMUEXT_PIN_L4_TABLE, 20), 0);
	memset(tab(fx, 32), 0, PAGE);
	CHECK_EQ(ext(&fx->v[0], VMMU_PV_MMUEXT_PIN_L4_TABLE, 32), 0);
	CHECK_EQ(mmu(&fx->v[0], PTR(1, 1), E(20, P)), 0); /* 1 holds, 20 held */
	audit_all(fx);
	snapshot(fx, snap);
	CHECK_EQ(mmu(&fx->v[0], PTR(20, 1), E(32, P)), -VMMU_EBUSY); /* 20 both */
	CHECK_EQ(mmu(&fx->v[0], PTR(32, 1), E(1, P)), -VMMU_EBUSY);  /* 1 both */
	WHERE("linear tables: a loop back to the holder");
	CHECK_EQ(mmu(&fx->v[0], PTR(20, 2), E(1, P)), -VMMU_EBUSY);
	WHERE("linear tables: a loop of two fresh L4s (neither validated)");
	tab(fx, 30)[0] = E(31, P);
	tab(fx, 31)[0] = E(30, P);
	CHECK_EQ(ext(&fx->v[0], VMMU_PV_MMUEXT_PIN_L4_TABLE, 30), -VMMU_EBUSY);
	WHERE("linear tables: another domain's L4");
	CHECK_EQ(ext(&fx->v2, VMMU_PV_MMUEXT_PIN_L4_TABLE, FIRST_OTHER), 0);
	CHECK_EQ(mmu(&fx->v[0], PTR(1, 2), E(FIRST_OTHER, P)), -VMMU_EPERM);
	CHECK_EQ(vmmu_ft_linear(&fx->ft, FIRST_OTHER), 0);
	CHECK_EQ(ext(&fx->v2, VMMU_PV_MMUEXT_UNPIN_TABLE, FIRST_OTHER), 0);
	expect_snapshot(fx, snap);
	CHECK_EQ(vmmu_ft_linear(&fx->ft, 1), 1);
	CHECK_EQ(vmmu_ft_linear(&fx->ft, 20), -1);
	CHECK_EQ(vmmu_ft_linear(&fx->ft, 32), 0);
	audit_all(fx);
	WHERE("linear tables: teardown of the holder is bounded");
	CHECK_EQ(ext(&fx->v[0], VMMU_PV_MMUEXT_UNPIN_TABLE, 20), 0); /* held by 1 */
	CHECK_EQ(ext(&fx->v[0], VMMU_PV_MMUEXT_UNPIN_TABLE, 1), 0);  /* base */
	audit_all(fx);
	release_all(fx);
	expect_baseline(fx);
}

/* ==== 5. XSA-309: resumed validation reset the link bookkeeping ============== */

/*
 * Xen reset linear_pt_count when it resumed a partially validated table,
 * which allowed chains again. vmmu keeps the link counts in the frame
 * record, never touched by a resume: a preempted validation of an L4 that
 * holds a link keeps "holds 1" at every step (the audit compares the
 * count with the entries validated so far), the linked-to table cannot
 * start holding links meanwhile, and the paused table can be linked to
 * by nobody. The same run without linear tables refuses the link at the
 * step that reaches it, after many restarts.
 */
static void test_xsa309_preempted_validation_keeps_link_counts(void **state)
{
	struct fixture *fx = *state;
	unsigned calls = 0;
	int rc;

	domain_init(fx, VMMU_PV_LINEAR_PT);
	build_tree_a(fx);
	build_tree_b(fx);
	CHECK_EQ(ext(&fx->v[1], VMMU_PV_MMUEXT_PIN_L4_TABLE, 20), 0);
	memset(tab(fx, 32), 0, PAGE);
	CHECK_EQ(ext(&fx->v[1], VMMU_PV_MMUEXT_PIN_L4_TABLE, 32), 0);
	tab(fx, 1)[3] = E(20, P); /* the link, early */
	tab(fx, 1)[1] = E(2, P | RW); /* an alias of L3 2 */
	fx->tp.yield = true;
	struct vmmu_pv_mmuext_op op = {.cmd = VMMU_PV_MMUEXT_PIN_L4_TABLE,
				       .arg1.mfn = 1};
	uint32_t done = 0;
	do {
		WHERE("pin step %u", calls);
		rc = vmmu_pv_mmuext_op(&fx->v[0], &op, 1, &done, SELF);
		audit_all(fx);
		if (rc == -VMMU_ERESTART && tab(fx, 1)[3] != 0 &&
		    vmmu_ft_linear(&fx->ft, 1) == 1) {
			/* Paused after the link: nothing may undo the rule. */
			CHECK_EQ(vmmu_ft_linear(&fx->ft, 20), -1);
			CHECK_EQ(mmu(&fx->v[1], PTR(20, 9), E(32, P)), -VMMU_EBUSY);
			CHECK_EQ(mmu(&fx->v[1], PTR(32, 9), E(1, P)), -VMMU_EBUSY);
			CHECK_EQ(vmmu_ft_linear(&fx->ft, 32), 0);
			audit_all(fx);
		}
		calls++;
		assert_true(calls < 100000);
	} while (rc == -VMMU_ERESTART);
	CHECK_EQ(rc, 0);
	assert_true(calls > 500);
	CHECK_EQ(vmmu_ft_linear(&fx->ft, 1), 1);
	CHECK_EQ(vmmu_ft_linear(&fx->ft, 20), -1);
	WHERE("preempted unpin");
	CHECK_EQ(ext_to_end(fx, &fx->v[0], VMMU_PV_MMUEXT_UNPIN_TABLE, 1, NULL), 0);
	fx->tp.yield = false;
	CHECK_EQ(vmmu_ft_linear(&fx->ft, 1), 0);
	CHECK_EQ(vmmu_ft_linear(&fx->ft, 20), 0);
	release_all(fx);
	expect_baseline(fx);

	WHERE("no linear tables: refused at the step that reaches it");
	domain_init(fx, 0);
	CHECK_EQ(ext(&fx->v[1], VMMU_PV_MMUEXT_PIN_L4_TABLE, 20), 0);
	tab(fx, 1)[1] = 0;
	tab(fx, 1)[300] = E(20, P);
	tab(fx, 1)[3] = 0;
	fx->tp.yield = true;
	CHECK_EQ(ext_to_end(fx, &fx->v[0], VMMU_PV_MMUEXT_PIN_L4_TABLE, 1, &calls),
		 -VMMU_EBUSY);
	fx->tp.yield = false;
	assert_true(calls > 300);
	release_all(fx);
	expect_baseline(fx);
}

/* ==== 6. XSA-299: partial (restartable) validation bookkeeping ================ */

enum { OP_EXT, OP_MMU };

struct op {
	int kind;
	uint32_t cmd;   /* OP_EXT */
	uint64_t a, b;  /* EXT: mfn; MMU: ptr, val */
};

struct script {
	const struct op *ops;
	unsigned n, i;
	uint32_t done;
	unsigned restarts;
};

static int run_once(struct vmmu_pv_vcpu *v, const struct op *o, uint32_t *done)
{
	if (o->kind == OP_EXT) {
		struct vmmu_pv_mmuext_op e = {.cmd = o->cmd, .arg1.mfn = o->a};
		return vmmu_pv_mmuext_op(v, &e, 1, done, SELF);
	}
	struct vmmu_pv_mmu_update r = {.ptr = o->a, .val = o->b};
	return vmmu_pv_mmu_update(v, &r, 1, done, SELF);
}

/*
 * Run two vCPUs' scripts one call at a time, alternating, with every
 * preemption point taken (tp.yield): each operation is retried while it
 * says -VMMU_ERESTART and must end in 0. The audit runs after every call.
 */
static void interleave(struct fixture *fx, struct script *s)
{
	unsigned calls = 0;

	while (s[0].i < s[0].n || s[1].i < s[1].n) {
		for (unsigned k = 0; k < 2; k++) {
			if (s[k].i >= s[k].n) {
				continue;
			}
			int rc = run_once(&fx->v[k], &s[k].ops[s[k].i], &s[k].done);
			WHERE("vCPU %u op %u call %u", k, s[k].i, calls);
			audit_all(fx);
			calls++;
			if (rc == -VMMU_ERESTART) {
				s[k].restarts++;
				continue;
			}
			CHECK_EQ(rc, 0);
			CHECK_EQ(s[k].done, 1);
			s[k].i++;
			s[k].done = 0;
		}
		assert_true(calls < 400000);
	}
}

/*
 * Xen's partial promotion/demotion lost track of what a half-done table
 * held (a type ref dropped that was never taken, a partial flag lost, an
 * entry skipped). Two vCPUs of one domain pin, unpin, load base pointers
 * and update L3 entries over two trees that share an L2, with forced
 * preemption at every step, so each vCPU keeps running into the other's
 * paused tables. The audit after every call checks "entries [0, next)
 * hold their references, entry `special` what its state says"; at the
 * end every count is back at its allocation reference.
 */
static void test_xsa299_partial_validation_two_vcpus_interleaved(void **state)
{
	struct fixture *fx = *state;
	const struct op ops0[] = {
		{OP_EXT, VMMU_PV_MMUEXT_PIN_L4_TABLE, 1, 0},
		{OP_EXT, VMMU_PV_MMUEXT_NEW_BASEPTR, 1, 0},
		{OP_MMU, 0, PTR(2, 1), E(22, P | RW)},
		{OP_MMU, 0, PTR(2, 1), 0},
		{OP_MMU, 0, PTR(2, 2), E(22, P | RW)},
		{OP_EXT, VMMU_PV_MMUEXT_UNPIN_TABLE, 1, 0},
		{OP_EXT, VMMU_PV_MMUEXT_PIN_L3_TABLE, 2, 0},
		{OP_EXT, VMMU_PV_MMUEXT_UNPIN_TABLE, 2, 0},
		{OP_MMU, 0, PTR(2, 2), 0},
	};
	const struct op ops1[] = {
		{OP_EXT, VMMU_PV_MMUEXT_PIN_L4_TABLE, 20, 0},
		{OP_EXT, VMMU_PV_MMUEXT_PIN_L2_TABLE, 3, 0},
		{OP_MMU, 0, PTR(21, 2), E(3, P | RW)},
		{OP_EXT, VMMU_PV_MMUEXT_UNPIN_TABLE, 20, 0},
		{OP_EXT, VMMU_PV_MMUEXT_NEW_BASEPTR, 20, 0},
		{OP_EXT, VMMU_PV_MMUEXT_UNPIN_TABLE, 3, 0},
		{OP_MMU, 0, PTR(20, 0), 0},
		{OP_MMU, 0, PTR(20, 1), E(21, P | RW)},
	};
	struct script s[2] = {
		{.ops = ops0, .n = sizeof(ops0) / sizeof(ops0[0])},
		{.ops = ops1, .n = sizeof(ops1) / sizeof(ops1[0])},
	};

	build_tree_a(fx);
	build_tree_b(fx);
	tab(fx, 21)[1] = E(3, P | RW); /* tree B shares tree A's L2 */
	fx->tp.yield = true;
	interleave(fx, s);
	assert_true(s[0].restarts > 1000 && s[1].restarts > 1000);
	CHECK_EQ(tab(fx, 2)[1], 0);
	CHECK_EQ(tab(fx, 20)[1], E(21, P | RW));
	WHERE("teardown");
	assert_int_equal(release_to_end(fx, &fx->v[0]), 0);
	assert_int_equal(release_to_end(fx, &fx->v[1]), 0);
	fx->tp.yield = false;
	audit_all(fx);
	CHECK_EQ(fx->report.tables, 0);
	expect_baseline(fx);
}

/*
 * The same class, error side ("partial flag lost on -EINVAL"): a refusal
 * deep in a tree, reached only after hundreds of restarts, gives back
 * everything every paused level had taken.
 */
static void test_xsa299_refusal_after_restarts_rolls_back(void **state)
{
	struct fixture *fx = *state;
	unsigned calls = 0;

	build_tree_b(fx);
	tab(fx, 22)[300] = E(23, P | RW | PS); /* found on step ~300 of L2 22 */
	fx->tp.yield = true;
	CHECK_EQ(ext_to_end(fx, &fx->v[0], VMMU_PV_MMUEXT_PIN_L4_TABLE, 20, &calls),
		 -VMMU_EINVAL);
	fx->tp.yield = false;
	assert_true(calls > 300);
	CHECK_EQ(fx->v[0].pending_partial, 0);
	audit_all(fx);
	expect_baseline(fx);
	/* Fixed, the same tree validates from scratch. */
	tab(fx, 22)[300] = 0;
	CHECK_EQ(ext(&fx->v[0], VMMU_PV_MMUEXT_PIN_L4_TABLE, 20), 0);
	audit_all(fx);
	release_all(fx);
	expect_baseline(fx);
}

/* ==== 7. XSA-310: partial state across restarted teardown ===================== */

/*
 * Xen lost partial flags on -EINTR and restarted a vCPU's page-table
 * destruction without its partial handling. Here a vCPU is torn down
 * (vmmu_pv_vcpu_release) while it owns everything at once: a base
 * pointer, a paused validation (pending_partial) and a parked paused
 * devalidation (pending_put), with preemption at every step.
 */
static void test_xsa310_vcpu_teardown_with_partial_and_parked_state(void **state)
{
	struct fixture *fx = *state;
	unsigned calls = 0;
	int rc;

	build_tree_a(fx);
	build_tree_b(fx);
	CHECK_EQ(ext(&fx->v[0], VMMU_PV_MMUEXT_NEW_BASEPTR, 1), 0);
	fx->tp.yield = true;
	for (unsigned k = 0; k < 5; k++) {
		CHECK_EQ(ext(&fx->v[0], VMMU_PV_MMUEXT_PIN_L4_TABLE, 20),
			 -VMMU_ERESTART);
		audit_all(fx);
	}
	CHECK_EQ(fx->v[0].pending_partial, 20);
	/* Dropping L3 2 from the base starts a long devalidation: parked. */
	struct vmmu_pv_mmu_update r = {.ptr = PTR(1, 0), .val = 0};
	uint32_t done = 0;
	CHECK_EQ(vmmu_pv_mmu_update(&fx->v[0], &r, 1, &done, SELF), -VMMU_ERESTART);
	CHECK_EQ(done, 1);
	CHECK_EQ(fx->v[0].pending_put[0], 2);
	audit_all(fx);
	do {
		rc = vmmu_pv_vcpu_release(&fx->v[0]);
		WHERE("release call %u", calls);
		audit_all(fx);
		calls++;
		assert_true(calls < 100000);
	} while (rc == -VMMU_ERESTART);
	CHECK_EQ(rc, 0);
	assert_true(calls > 100);
	fx->tp.yield = false;
	CHECK_EQ(fx->v[0].pending_partial, 0);
	CHECK_EQ(fx->v[0].pending_put[0], 0);
	CHECK_EQ(fx->v[0].base, 0);
	expect_baseline(fx);
}

/* ==== 8. XSA-45 / XSA-58 / XSA-290: unbounded work must be preemptible ======== */

/*
 * Every loop the guest can lengthen is a preemption point: with
 * should_yield always true, pinning a 3-level-deep tree stops after every
 * L2-L4 entry (3 x 511 restarts), and so do unpinning it and switching
 * the base pointer away from it (whose release is parked on the vCPU,
 * Xen's old_guest_table). Releasing a pinned frame (Xen's
 * decrease_reservation, XSA-252) never unpins it behind the guest's back.
 */
static void test_xsa45_pin_unpin_and_base_switch_are_preemptible(void **state)
{
	struct fixture *fx = *state;
	unsigned calls = 0;

	build_tree_a(fx);
	build_tree_b(fx);
	fx->tp.yield = true;
	WHERE("pin");
	CHECK_EQ(ext_to_end(fx, &fx->v[0], VMMU_PV_MMUEXT_PIN_L4_TABLE, 1, &calls),
		 0);
	assert_true(calls >= 3 * 510); /* ~one call per L2-L4 entry */
	WHERE("base");
	CHECK_EQ(ext_to_end(fx, &fx->v[0], VMMU_PV_MMUEXT_NEW_BASEPTR, 1, &calls), 0);
	CHECK_EQ(calls, 1); /* validated already: joined */
	WHERE("unpin (the base keeps it)");
	CHECK_EQ(ext_to_end(fx, &fx->v[0], VMMU_PV_MMUEXT_UNPIN_TABLE, 1, &calls),
		 0);
	CHECK_EQ(calls, 1);
	WHERE("base switch: validate B, release A");
	CHECK_EQ(ext_to_end(fx, &fx->v[0], VMMU_PV_MMUEXT_NEW_BASEPTR, 20, &calls),
		 0);
	assert_true(calls >= 2 * 3 * 510);
	WHERE("XSA-252: releasing a pinned frame does not unpin it");
	CHECK_EQ(ext_to_end(fx, &fx->v[0], VMMU_PV_MMUEXT_PIN_L4_TABLE, 20, &calls),
		 0);
	CHECK_EQ(vmmu_ft_release(&fx->ft, 20, DOM), 0);
	struct vmmu_frame_info i;
	assert_int_equal(vmmu_ft_info(&fx->ft, 20, &i), 0);
	CHECK_EQ(i.pinned, true);
	CHECK_EQ(i.validated, true);
	CHECK_EQ(i.allocated, false);
	audit_all(fx);
	/* Gone from the guest: only the embedder can unpin it now. */
	CHECK_EQ(ext(&fx->v[0], VMMU_PV_MMUEXT_UNPIN_TABLE, 20), -VMMU_EPERM);
	CHECK_EQ(vmmu_ft_unpin(&fx->ft, 20), 0);
	CHECK_EQ(vmmu_pv_table_put(&fx->d, 20), 0); /* the base still holds it */
	CHECK_EQ(release_to_end(fx, &fx->v[0]), 0);
	fx->tp.yield = false;
	assert_int_equal(vmmu_ft_info(&fx->ft, 20, &i), 0);
	CHECK_EQ(i.count, 0); /* free now */
	CHECK_EQ(i.type, VMMU_FTYPE_NONE);
	audit_all(fx);
}

/*
 * XSA-58: the XSA-45 fixes added error paths that leaked references. A
 * base switch to a tree refused deep inside, after many restarts, keeps
 * the old base and leaks nothing; so do a double pin and an unpin of a
 * frame that is not pinned.
 */
static void test_xsa58_error_paths_after_preemption_leak_nothing(void **state)
{
	struct fixture *fx = *state;
	struct vmmu_frame_info snap[NFRAMES];
	unsigned calls = 0;

	pin_tree_a(fx);
	build_tree_b(fx);
	tab(fx, 22)[300] = E(FIRST_OTHER, P | RW); /* another domain's frame */
	snapshot(fx, snap);
	fx->tp.yield = true;
	CHECK_EQ(ext_to_end(fx, &fx->v[0], VMMU_PV_MMUEXT_NEW_BASEPTR, 20, &calls),
		 -VMMU_EPERM);
	assert_true(calls > 300);
	fx->tp.yield = false;
	CHECK_EQ(fx->v[0].base, 1);
	expect_snapshot(fx, snap);
	CHECK_EQ(ext(&fx->v[0], VMMU_PV_MMUEXT_PIN_L4_TABLE, 1), -VMMU_EINVAL);
	CHECK_EQ(ext(&fx->v[0], VMMU_PV_MMUEXT_UNPIN_TABLE, 2), -VMMU_EINVAL);
	CHECK_EQ(ext(&fx->v[0], VMMU_PV_MMUEXT_UNPIN_TABLE, 30), -VMMU_EINVAL);
	expect_snapshot(fx, snap);
	audit_all(fx);
	release_all(fx);
	expect_baseline(fx);
}

/*
 * XSA-290: a compare-exchange retry loop that skipped the preemption
 * check under contention. vCPU 1 changes an L3 entry while vCPU 0 is
 * between reading it and swapping in its own value (vCPU 0's new L2 is
 * being validated; the platform's should_yield hook runs vCPU 1 there).
 * vCPU 0 loses the race, must give back everything its value took, and
 * must ask should_yield before trying again: the hook says "yield" once
 * the loser's L2 is released, so the call ends -VMMU_ERESTART.
 */
static int xsa290_hook(struct fixture *fx)
{
	struct vmmu_frame_info i;

	if (fx->hook_state == 0) {
		fx->hook_state = 1;
		fx->on_yield = NULL; /* no re-entry */
		fx->nested_rc = mmu(&fx->v[1], PTR(2, 1), E(3, P | RW));
		fx->on_yield = xsa290_hook;
		return 0;
	}
	if (fx->hook_state == 1) {
		assert_int_equal(vmmu_ft_info(&fx->ft, 22, &i), 0);
		if (i.type_count == 0) {
			fx->hook_state = 2; /* the loser gave its L2 back */
			return 1;
		}
		return 0;
	}
	return 0;
}

static void test_xsa290_contended_update_retry_checks_preemption(void **state)
{
	struct fixture *fx = *state;
	struct vmmu_frame_info snap[NFRAMES];
	uint32_t done = 0;

	pin_tree_a(fx);
	build_tree_b(fx);
	snapshot(fx, snap);
	fx->on_yield = xsa290_hook;
	struct vmmu_pv_mmu_update r = {.ptr = PTR(2, 1), .val = E(22, P | RW)};
	CHECK_EQ(vmmu_pv_mmu_update(&fx->v[0], &r, 1, &done, SELF), -VMMU_ERESTART);
	fx->on_yield = NULL;
	CHECK_EQ(fx->nested_rc, 0);
	CHECK_EQ(fx->hook_state, 2);
	CHECK_EQ(done, 0);
	CHECK_EQ(tab(fx, 2)[1], E(3, P | RW)); /* vCPU 1's value won */
	for (uint64_t mfn = 22; mfn <= 24; mfn++) {
		expect_frame(fx, mfn, snap[mfn].count, 0);
	}
	audit_all(fx);
	/* The retry in the next call replaces vCPU 1's entry properly. */
	CHECK_EQ(vmmu_pv_mmu_update(&fx->v[0], &r, 1, &done, SELF), 0);
	CHECK_EQ(done, 1);
	CHECK_EQ(tab(fx, 2)[1], E(22, P | RW));
	expect_frame(fx, 3, snap[3].count, snap[3].type_count);
	audit_all(fx);
	CHECK_EQ(mmu(&fx->v[0], PTR(2, 1), 0), 0);
	expect_snapshot(fx, snap);
	release_all(fx);
	expect_baseline(fx);
}

/* ==== 9. XSA-241 / XSA-401 / XSA-408: flush when a writable frame becomes a table */

/*
 * The frame table's side of XSA-401/408: when a frame that was writable
 * becomes a table, the new type is published before leave_writable
 * runs, and validation comes after it. The PV domain does not install a
 * leave_writable hook (see the finding below), so this test installs one
 * on the domain's ops by hand to check the ordering vmmu would give it:
 * inside the hook the frame reads "L1, one reference, not validated", a
 * new writable reference is refused, and the frame's entries hold no
 * references yet. A frame that was never writable does not call it.
 */
static void leave_writable_probe(void *ctx, uint64_t mfn, unsigned type)
{
	struct fixture *fx =
		(struct fixture *)((char *)ctx - offsetof(struct fixture, d));

	fx->leaves++;
	fx->leave_mfn = mfn;
	fx->leave_type = type;
	vmmu_ft_info(&fx->ft, mfn, &fx->in_leave);
	vmmu_ft_info(&fx->ft, 12, &fx->data_in_leave);
	fx->writable_in_leave =
		vmmu_ft_get_type(&fx->ft, mfn, VMMU_FTYPE_WRITABLE, &fx->d.ops);
}

static void test_xsa401_408_type_published_before_leave_writable(void **state)
{
	struct fixture *fx = *state;
	struct vmmu_frame_info before;

	pin_tree_a(fx);
	fx->d.ops.leave_writable = leave_writable_probe;
	tab(fx, 30)[0] = E(12, P);
	CHECK_EQ(mmu(&fx->v[0], PTR(4, 20), E(30, P | RW)), 0);
	CHECK_EQ(ext(&fx->v[0], VMMU_PV_MMUEXT_PIN_L1_TABLE, 30), -VMMU_EBUSY);
	CHECK_EQ(fx->leaves, 0);
	CHECK_EQ(mmu(&fx->v[0], PTR(4, 20), 0), 0);
	assert_int_equal(vmmu_ft_info(&fx->ft, 12, &before), 0);
	CHECK_EQ(ext(&fx->v[0], VMMU_PV_MMUEXT_PIN_L1_TABLE, 30), 0);
	CHECK_EQ(fx->leaves, 1);
	CHECK_EQ(fx->leave_mfn, 30);
	CHECK_EQ(fx->leave_type, VMMU_FTYPE_L1);
	CHECK_EQ(fx->in_leave.type, VMMU_FTYPE_L1);
	CHECK_EQ(fx->in_leave.type_count, 1);
	CHECK_EQ(fx->in_leave.validated, false);
	CHECK_EQ(fx->writable_in_leave, -VMMU_EBUSY);
	CHECK_EQ(fx->data_in_leave.count, before.count); /* not validated yet */
	expect_frame(fx, 12, before.count + 1, before.type_count);
	/* Never writable: no hook. */
	CHECK_EQ(ext(&fx->v[0], VMMU_PV_MMUEXT_PIN_L1_TABLE, 31), 0);
	CHECK_EQ(fx->leaves, 1);
	audit_all(fx);
	fx->d.ops.leave_writable = NULL;
	release_all(fx);
	expect_baseline(fx);
}

/*
 * FINDING (XSA-241/401 class): vmmu_pv_domain_init leaves
 * ops.leave_writable NULL, so nothing is flushed when a frame that was
 * mapped writable becomes a page table. The read-only rule holds (no
 * writable *mapping* may exist: type count 0), but L1 updates flush
 * nothing (the guest is to ask), so a hostile guest maps frame F
 * writable (G set, so a non-global flush would not even help), removes
 * the mapping with mmu_update and no flush, pins F as an L1, and still
 * holds a stale writable TLB entry for F on its CPUs: it rewrites a
 * validated L1 at will. Xen flushes the domain's dirty CPUs on the
 * writable -> table type change (after publishing the type: XSA-401).
 * Expected: one domain-wide flush including global entries
 * (VMMU_TLB_ALL, NULL CPU mask) during the pin, issued once F reads as
 * an L1. Skipped while vmmu issues none.
 */
static void test_xsa241_401_writable_frame_becoming_table_flushes(void **state)
{
	struct fixture *fx = *state;
	uint64_t before;

	pin_tree_a(fx);
	WHERE("read-only rule: no table while a writable mapping exists");
	CHECK_EQ(mmu(&fx->v[0], PTR(4, 20), E(30, P | RW | GLB)), 0);
	CHECK_EQ(ext(&fx->v[0], VMMU_PV_MMUEXT_PIN_L1_TABLE, 30), -VMMU_EBUSY);
	before = fx->tp.flushes;
	CHECK_EQ(mmu(&fx->v[0], PTR(4, 20), 0), 0);
	CHECK_EQ(fx->tp.flushes, before); /* L1 changes: the guest's to flush */
	audit_all(fx);
	WHERE("writable -> L1");
	fx->watch = 30;
	before = fx->tp.flushes;
	CHECK_EQ(ext(&fx->v[0], VMMU_PV_MMUEXT_PIN_L1_TABLE, 30), 0);
	audit_all(fx);
	if (fx->tp.flushes == before) {
		print_message("FINDING (XSA-241/401): no TLB flush when frame 30, "
			      "writable until an unflushed L1 update, became an "
			      "L1 table (vmmu_pv_domain_init sets no "
			      "leave_writable hook)\n");
		release_all(fx);
		skip();
	}
	CHECK_EQ(fx->tp.flushes, before + 1);
	CHECK_EQ(fx->tp.last_flush.scope, VMMU_TLB_ALL);
	CHECK_EQ(fx->tp.last_flush.cpu_mask_words, 0);
	CHECK_EQ(fx->at_flush.type, VMMU_FTYPE_L1);
	release_all(fx);
}

/* ==== 10. XSA-242: the last reference dropped while a batch holds the table === */

/*
 * Xen's page_unlock could drop a table's last type reference with no
 * cleanup. vmmu has no page lock: a batch holds a real general + type
 * reference on the table it updates. Here vCPU 1 unpins an L2 (its only
 * other reference) between two requests of vCPU 0's batch on that L2
 * (run from the should_yield hook that precedes the second request); the
 * batch's reference is then the last, and releasing it at the end of the
 * call devalidates the L2 with everything the batch added. Variant: the
 * hook also preempts the batch there, and the rest goes in as a plain
 * store (the frame is no table any more).
 */
static int xsa242_hook(struct fixture *fx)
{
	struct vmmu_frame_info i;

	if (fx->hook_state != 0) {
		return -1;
	}
	fx->hook_state = 1;
	fx->on_yield = NULL;
	fx->nested_rc = ext(&fx->v[1], VMMU_PV_MMUEXT_UNPIN_TABLE, 30);
	fx->on_yield = xsa242_hook;
	assert_int_equal(vmmu_ft_info(&fx->ft, 30, &i), 0);
	/* Only the batch holds it now. */
	CHECK_EQ(i.type_count, 1);
	CHECK_EQ(i.validated, true);
	CHECK_EQ(i.pinned, false);
	return -1; /* tp.yield decides */
}

static void xsa242_run(struct fixture *fx, bool preempt)
{
	const struct vmmu_pv_mmu_update reqs[] = {
		{PTR(30, 0), E(31, P | RW)},
		{PTR(30, 1), E(32, P | RW)},
	};
	uint32_t done = 0;
	int rc;

	tab(fx, 31)[0] = E(40, P | RW);
	tab(fx, 32)[0] = E(41, P);
	CHECK_EQ(ext(&fx->v[0], VMMU_PV_MMUEXT_PIN_L2_TABLE, 30), 0);
	fx->on_yield = xsa242_hook;
	fx->tp.yield = preempt;
	rc = vmmu_pv_mmu_update(&fx->v[0], reqs, 2, &done, SELF);
	fx->on_yield = NULL;
	fx->tp.yield = false;
	CHECK_EQ(fx->hook_state, 1);
	CHECK_EQ(fx->nested_rc, 0);
	audit_all(fx);
	if (preempt) {
		CHECK_EQ(rc, -VMMU_ERESTART);
		CHECK_EQ(done, 1);
		/* The L2 goes with the call's reference (its release parked). */
		struct vmmu_frame_info i;
		assert_int_equal(vmmu_ft_info(&fx->ft, 30, &i), 0);
		CHECK_EQ(i.validated, false);
		CHECK_EQ(vmmu_pv_mmu_update(&fx->v[0], reqs, 2, &done, SELF), 0);
	} else {
		CHECK_EQ(rc, 0);
	}
	CHECK_EQ(done, 2);
	CHECK_EQ(tab(fx, 30)[0], E(31, P | RW));
	CHECK_EQ(tab(fx, 30)[1], E(32, P | RW));
	audit_all(fx);
	CHECK_EQ(fx->report.tables, 0);
	expect_baseline(fx);
}

static void test_xsa242_last_table_ref_dropped_mid_batch(void **state)
{
	xsa242_run(*state, false);
}

static void test_xsa242_last_table_ref_dropped_mid_batch_preempted(void **state)
{
	xsa242_run(*state, true);
}

/* ==== 11. XSA-286: an L2+ change, then a VA-based update ====================== */

/*
 * Xen's update_va_mapping used its own linear page-table mapping, which a
 * TLB entry kept pointing at the old table after an L3 -> L2 swap in the
 * same multicall. vmmu walks the guest's tables through memory on every
 * call, so the update after the swap must land in the new table, and the
 * swap itself ends with a domain-wide flush for the guest's TLBs.
 */
static void test_xsa286_l3_swap_then_update_va_mapping_hits_new_table(void **state)
{
	struct fixture *fx = *state;
	const uint64_t va = 3 * PAGE;
	uint64_t before;

	pin_tree_a(fx);
	build_tree_b(fx);
	CHECK_EQ(vmmu_pv_update_va_mapping(&fx->v[0], va, E(30, P | RW),
					   VMMU_PV_UVMF_INVLPG),
		 0);
	CHECK_EQ(tab(fx, 4)[3], E(30, P | RW));
	before = fx->tp.flushes;
	CHECK_EQ(mmu(&fx->v[0], PTR(2, 0), E(22, P | RW | US)), 0);
	CHECK_EQ(fx->tp.flushes, before + 1);
	CHECK_EQ(fx->tp.last_flush.scope, VMMU_TLB_ALL_NONGLOBAL);
	CHECK_EQ(fx->tp.last_flush.cpu_mask_words, 0);
	CHECK_EQ(vmmu_pv_update_va_mapping(&fx->v[0], va, E(31, P | RW),
					   VMMU_PV_UVMF_INVLPG),
		 0);
	CHECK_EQ(tab(fx, 23)[3], E(31, P | RW)); /* the new L1 */
	CHECK_EQ(tab(fx, 4)[3], E(30, P | RW));  /* the old one, untouched */
	/* The old subtree is no table any more; the new one maps frame 31. */
	expect_frame(fx, 4, 1, 0);
	expect_frame(fx, 30, 1, 0);
	expect_frame(fx, 31, 2, 1);
	audit_all(fx);
	release_all(fx);
	expect_baseline(fx);
}

/* ==== 12. XSA-213: privilege change inside a multicall ========================= */

/*
 * A multicall whose second entry takes the vCPU to guest user mode (an
 * iret, which the embedder runs through the executor's `other` hook):
 * the third entry, an L1 update, must not run with the new privilege.
 * The executor stops after the switching entry (vmmu_batch_exec returns
 * VMMU_BATCH_EXEC_LEFT_KERNEL with done at the next entry), and refuses
 * to start a multicall from user mode at all. The executor's own tests
 * (tests/unit/test_batch_exec.c) cover the other positions.
 */
struct xsa213 {
	bool kernel;
	unsigned others;
};

static void *xsa213_guest_ptr(void *ctx, const struct vmmu_pv_vcpu *v,
			      uint64_t gva, size_t len)
{
	(void)ctx;
	(void)v;
	(void)len;
	return (void *)(uintptr_t)gva; /* guest addresses are host pointers */
}

static bool xsa213_kernel(void *ctx, const struct vmmu_pv_vcpu *v)
{
	(void)v;
	return ((struct xsa213 *)ctx)->kernel;
}

static int64_t xsa213_iret(void *ctx, struct vmmu_pv_vcpu *v,
			   struct vmmu_pv_multicall_entry *e)
{
	struct xsa213 *x = ctx;

	(void)v;
	(void)e;
	x->others++;
	x->kernel = false;
	return 0;
}

static void test_xsa213_privilege_change_in_multicall(void **state)
{
	struct fixture *fx = *state;
	struct xsa213 x = {.kernel = true};
	const struct vmmu_batch_exec_ops ops = {
		.guest_ptr = xsa213_guest_ptr, .kernel_mode = xsa213_kernel,
		.other = xsa213_iret, .ctx = &x};
	struct vmmu_pv_mmu_update first = {PTR(4, 20), E(30, P | RW)};
	struct vmmu_pv_mmu_update after = {PTR(4, 21), E(31, P | RW)};
	struct vmmu_pv_multicall_entry calls[3] = {
		{.op = VMMU_PV_HC_MMU_UPDATE,
		 .args = {(uint64_t)(uintptr_t)&first, 1, 0, SELF}},
		{.op = 23 /* iret */},
		{.op = VMMU_PV_HC_MMU_UPDATE,
		 .args = {(uint64_t)(uintptr_t)&after, 1, 0, SELF}},
	};
	uint32_t done = 0;

	pin_tree_a(fx);
	WHERE("the iret in the middle ends the multicall");
	calls[2].result = 0x5a5a;
	CHECK_EQ(vmmu_batch_exec(&fx->v[0], calls, 3, &done, &ops),
		 VMMU_BATCH_EXEC_LEFT_KERNEL);
	CHECK_EQ(done, 2);
	CHECK_EQ(x.others, 1);
	CHECK_EQ(calls[0].result, 0);
	CHECK_EQ(tab(fx, 4)[20], E(30, P | RW));
	CHECK_EQ(tab(fx, 4)[21], 0); /* never run in user mode */
	CHECK_EQ(calls[2].result, 0x5a5a);
	audit_all(fx);
	WHERE("re-issued from user mode: refused, nothing run");
	CHECK_EQ(vmmu_batch_exec(&fx->v[0], calls, 3, &done, &ops), -VMMU_EPERM);
	CHECK_EQ(tab(fx, 4)[21], 0);
	CHECK_EQ(mmu(&fx->v[0], PTR(4, 20), 0), 0);
	audit_all(fx);
	release_all(fx);
	expect_baseline(fx);
}

/* ==== 13. XSA-212: bounds of a resumed index ==================================== */

/*
 * Xen range-checked only the base of a continuable batch, not the
 * guest-controlled progress index. vmmu checks *done against count on
 * every (re-)entry: done > count is refused with nothing read or changed,
 * done == count does nothing, and a resumed call starts exactly at done.
 */
static void test_xsa212_resumed_index_bounds(void **state)
{
	struct fixture *fx = *state;
	struct vmmu_frame_info snap[NFRAMES];
	struct vmmu_pv_mmu_update reqs[2] = {
		{PTR(4, 20), E(30, P)},
		{PTR(4, 21), E(31, P)},
	};
	struct vmmu_pv_mmuext_op ops[1] = {
		{.cmd = VMMU_PV_MMUEXT_PIN_L1_TABLE, .arg1.mfn = 30},
	};
	const uint32_t bad[] = {3, 17, 0x7fffffffu, 0x80000000u, UINT32_MAX};
	uint64_t before;
	uint32_t done;

	pin_tree_a(fx);
	snapshot(fx, snap);
	before = fx->tp.flushes;
	for (unsigned k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		WHERE("done %u", bad[k]);
		done = bad[k];
		CHECK_EQ(vmmu_pv_mmu_update(&fx->v[0], reqs, 2, &done, SELF),
			 -VMMU_EINVAL);
		CHECK_EQ(done, bad[k]);
		done = bad[k];
		CHECK_EQ(vmmu_pv_mmuext_op(&fx->v[0], ops, 1, &done, SELF),
			 -VMMU_EINVAL);
		CHECK_EQ(done, bad[k]);
	}
	WHERE("done == count");
	done = 2;
	CHECK_EQ(vmmu_pv_mmu_update(&fx->v[0], reqs, 2, &done, SELF), 0);
	CHECK_EQ(done, 2);
	done = 1;
	CHECK_EQ(vmmu_pv_mmuext_op(&fx->v[0], ops, 1, &done, SELF), 0);
	CHECK_EQ(fx->tp.flushes, before);
	expect_snapshot(fx, snap);
	CHECK_EQ(tab(fx, 4)[20], 0);
	WHERE("resumed at 1: request 0 is not looked at");
	reqs[0].ptr = PTR(4, 20) | 5; /* an undefined command */
	done = 1;
	CHECK_EQ(vmmu_pv_mmu_update(&fx->v[0], reqs, 2, &done, SELF), 0);
	CHECK_EQ(done, 2);
	CHECK_EQ(tab(fx, 4)[20], 0);
	CHECK_EQ(tab(fx, 4)[21], E(31, P));
	audit_all(fx);
	release_all(fx);
	expect_baseline(fx);
}

/* ==== 14. XSA-227: alignment of the entry address ================================ */

/*
 * Xen wrote a PTE through a guest pointer without an alignment check: a
 * write straddling two entries. In mmu_update the low three bits of ptr
 * are the command, so the entry address is always 8-byte aligned:
 * "misaligned" pointers are commands 1..7 (M2P without a table, and 4..7
 * refused with -VMMU_ENOTSUP) and the ones that are accepted hit exactly
 * one whole entry, never the next one (entry 511 here: the last of the
 * page, next to another table's entry 0).
 */
static void test_xsa227_entry_address_alignment(void **state)
{
	struct fixture *fx = *state;
	uint64_t copy4[512], copy5[512];

	pin_tree_a(fx);
	memcpy(copy4, tab(fx, 4), sizeof(copy4));
	memcpy(copy5, tab(fx, 5), sizeof(copy5));
	const uint64_t offs[] = {1, 4, 5, 6, 7, 0x804, 0x805, 0xff9, 0xffc,
				 0xffd, 0xffe, 0xfff};
	for (unsigned k = 0; k < sizeof(offs) / sizeof(offs[0]); k++) {
		WHERE("byte offset %#llx", (unsigned long long)offs[k]);
		CHECK_EQ(mmu(&fx->v[0], PTR(4, 0) + offs[k], E(30, P)),
			 -VMMU_ENOTSUP);
	}
	CHECK_EQ(memcmp(copy4, tab(fx, 4), sizeof(copy4)), 0);
	CHECK_EQ(memcmp(copy5, tab(fx, 5), sizeof(copy5)), 0);
	WHERE("0xffb: NO_TRANSLATE on entry 511");
	CHECK_EQ(mmu(&fx->v[0], PTR(4, 0) + 0xffb, E(30, P)), 0);
	CHECK_EQ(tab(fx, 4)[511], E(30, P));
	copy4[511] = E(30, P);
	CHECK_EQ(memcmp(copy4, tab(fx, 4), sizeof(copy4)), 0);
	CHECK_EQ(memcmp(copy5, tab(fx, 5), sizeof(copy5)), 0);
	WHERE("0xffa: PRESERVE_AD on entry 511");
	tab(fx, 4)[511] |= ACC | DIRTY; /* set by the page walker */
	CHECK_EQ(mmu(&fx->v[0], PTR(4, 0) + 0xffa, E(31, P)), 0);
	CHECK_EQ(tab(fx, 4)[511], E(31, P | ACC | DIRTY));
	CHECK_EQ(memcmp(copy5, tab(fx, 5), sizeof(copy5)), 0);
	WHERE("update_va_mapping with an unaligned address");
	CHECK_EQ(vmmu_pv_update_va_mapping(&fx->v[0], 511 * PAGE + 0xfff, 0,
					   VMMU_PV_UVMF_NONE),
		 0);
	CHECK_EQ(tab(fx, 4)[511], 0);
	CHECK_EQ(tab(fx, 4)[510], copy4[510]);
	CHECK_EQ(tab(fx, 5)[0], copy5[0]);
	audit_all(fx);
	release_all(fx);
	expect_baseline(fx);
}

/* ==== 15. XSA-234 / XSA-224: release exactly what the removed entry held ========= */

/*
 * Grant tables are not part of vmmu. The principle behind both
 * advisories (a grant unmap dropped a writable reference for a read-only
 * entry, or one reference too many) applies to every entry vmmu replaces:
 * mmu_update (normal and PRESERVE_AD) and update_va_mapping swapping RW
 * and RO entries, two entries mapping one frame, and a refused
 * replacement that must release nothing. Exact counts after every step.
 */
static void test_xsa234_224_release_exactly_what_the_entry_held(void **state)
{
	struct fixture *fx = *state;
	struct vmmu_frame_info snap[NFRAMES];

	pin_tree_a(fx);
	snapshot(fx, snap);
	/* 11: mapped RW by L1 4[1] and RO by L1 5[1]; 12: RO by both. */
	expect_frame(fx, 11, 3, 1);
	expect_frame(fx, 12, 3, 0);
	WHERE("RW -> RO of the same frame");
	CHECK_EQ(mmu(&fx->v[0], PTR(4, 1), E(11, P | US)), 0);
	expect_frame(fx, 11, 3, 0);
	WHERE("RO -> RW of the same frame");
	CHECK_EQ(mmu(&fx->v[0], PTR(4, 1), E(11, P | US | RW)), 0);
	expect_frame(fx, 11, 3, 1);
	WHERE("RW of 11 -> RW of 12");
	CHECK_EQ(mmu(&fx->v[0], PTR(4, 1), E(12, P | US | RW)), 0);
	expect_frame(fx, 11, 2, 0);
	expect_frame(fx, 12, 4, 1);
	WHERE("remove one RO mapping of 12 (another is RW)");
	CHECK_EQ(mmu(&fx->v[0], PTR(5, 2), 0), 0);
	expect_frame(fx, 12, 3, 1);
	WHERE("RW -> RO of 12 by PRESERVE_AD, A/D kept");
	tab(fx, 4)[1] |= ACC | DIRTY;
	CHECK_EQ(mmu(&fx->v[0], PTR(4, 1) | VMMU_PV_MMU_PT_UPDATE_PRESERVE_AD,
		     E(12, P | US)),
		 0);
	CHECK_EQ(tab(fx, 4)[1], E(12, P | US | ACC | DIRTY));
	expect_frame(fx, 12, 3, 0);
	WHERE("RO -> RW, RW -> none by update_va_mapping");
	CHECK_EQ(vmmu_pv_update_va_mapping(&fx->v[0], 1 * PAGE,
					   E(12, P | US | RW), VMMU_PV_UVMF_NONE),
		 0);
	expect_frame(fx, 12, 3, 1);
	CHECK_EQ(vmmu_pv_update_va_mapping(&fx->v[0], 1 * PAGE, 0,
					   VMMU_PV_UVMF_NONE),
		 0);
	expect_frame(fx, 12, 2, 0);
	audit_all(fx);
	WHERE("a refused replacement releases nothing");
	CHECK_EQ(mmu(&fx->v[0], PTR(4, 3), E(3, P | RW)), -VMMU_EBUSY);
	CHECK_EQ(mmu(&fx->v[0], PTR(4, 3), E(FIRST_OTHER, P)), -VMMU_EPERM);
	CHECK_EQ(tab(fx, 4)[3], E(13, P | US | RW));
	expect_frame(fx, 13, 3, 1);
	expect_frame(fx, 3, snap[3].count, snap[3].type_count);
	WHERE("put everything back");
	CHECK_EQ(mmu(&fx->v[0], PTR(4, 1), E(11, P | US | RW)), 0);
	CHECK_EQ(mmu(&fx->v[0], PTR(5, 2), E(12, P | US)), 0);
	expect_snapshot(fx, snap);
	audit_all(fx);
	release_all(fx);
	expect_baseline(fx);
}

/* ==== 16. XSA-167: frame numbers beyond the table ================================== */

/*
 * MARK_SUPER indexed a per-frame array with a guest mfn. The PV
 * superpage commands are withdrawn (-VMMU_ENOTSUP), and every other path
 * taking a guest frame number checks it against the table before
 * reading a record: pin, unpin, both base pointers, the mmu_update
 * address, entry targets (L1: no I/O frames, -VMMU_EPERM; L2+:
 * -VMMU_EINVAL) and the frame-table calls themselves. Under ASan any
 * out-of-table read would abort the test.
 */
static void test_xsa167_mfn_beyond_table_refused_everywhere(void **state)
{
	struct fixture *fx = *state;
	struct vmmu_frame_info snap[NFRAMES];
	const uint64_t big[] = {NFRAMES, NFRAMES + 1, 1ull << 27, 1ull << 40,
				UINT64_MAX >> 12, UINT64_MAX};
	uint64_t before;

	pin_tree_a(fx);
	snapshot(fx, snap);
	before = fx->tp.flushes;
	for (unsigned k = 0; k < sizeof(big) / sizeof(big[0]); k++) {
		uint64_t m = big[k];
		WHERE("mfn %#llx", (unsigned long long)m);
		CHECK_EQ(ext(&fx->v[0], VMMU_PV_MMUEXT_MARK_SUPER, m), -VMMU_ENOTSUP);
		CHECK_EQ(ext(&fx->v[0], VMMU_PV_MMUEXT_UNMARK_SUPER, m),
			 -VMMU_ENOTSUP);
		for (uint32_t c = VMMU_PV_MMUEXT_PIN_L1_TABLE;
		     c <= VMMU_PV_MMUEXT_PIN_L4_TABLE; c++) {
			CHECK_EQ(ext(&fx->v[0], c, m), -VMMU_EINVAL);
		}
		CHECK_EQ(ext(&fx->v[0], VMMU_PV_MMUEXT_UNPIN_TABLE, m), -VMMU_EINVAL);
		CHECK_EQ(ext(&fx->v[0], VMMU_PV_MMUEXT_NEW_BASEPTR, m), -VMMU_EINVAL);
		CHECK_EQ(ext(&fx->v[0], VMMU_PV_MMUEXT_NEW_USER_BASEPTR, m),
			 -VMMU_EINVAL);
		CHECK_EQ(mmu(&fx->v[0], (m << 12) & ~7ull, 0), -VMMU_EINVAL);
		CHECK_EQ(vmmu_ft_get(&fx->ft, m, DOM), -VMMU_EINVAL);
		CHECK_EQ(vmmu_ft_assign(&fx->ft, m, DOM), -VMMU_EINVAL);
		CHECK_EQ(vmmu_ft_release(&fx->ft, m, DOM), -VMMU_EINVAL);
		CHECK_EQ(vmmu_ft_pin(&fx->ft, m), -VMMU_EINVAL);
		CHECK_EQ(vmmu_ft_unpin(&fx->ft, m), -VMMU_EINVAL);
		assert_null(vmmu_ft_scratch(&fx->ft, m));
	}
	CHECK_EQ(mmu(&fx->v[0], UINT64_MAX & ~7ull, 0), -VMMU_EINVAL);
	WHERE("entry targets beyond the table");
	CHECK_EQ(mmu(&fx->v[0], PTR(4, 20), E(NFRAMES, P)), -VMMU_EPERM);
	CHECK_EQ(mmu(&fx->v[0], PTR(4, 20), E(1ull << 27, P | RW)), -VMMU_EPERM);
	CHECK_EQ(vmmu_pv_update_va_mapping(&fx->v[0], 20 * PAGE, E(NFRAMES, P),
					   VMMU_PV_UVMF_INVLPG),
		 -VMMU_EPERM);
	CHECK_EQ(mmu(&fx->v[0], PTR(3, 20), E(NFRAMES, P)), -VMMU_EINVAL);
	CHECK_EQ(mmu(&fx->v[0], PTR(2, 20), E(1ull << 27, P)), -VMMU_EINVAL);
	CHECK_EQ(mmu(&fx->v[0], PTR(1, 20), E(NFRAMES + 5, P)), -VMMU_EINVAL);
	WHERE("vmmu_ft_info");
	struct vmmu_frame_info i;
	CHECK_EQ(vmmu_ft_info(&fx->ft, NFRAMES, &i), -VMMU_EINVAL);
	CHECK_EQ(fx->tp.flushes, before);
	expect_snapshot(fx, snap);
	audit_all(fx);
	release_all(fx);
	expect_baseline(fx);
}

/* ==== 17. XSA-109 / XSA-113: foreign domains and the M2P error path ============== */

/*
 * XSA-109: a page-table update aimed (through foreigndom) at a domain
 * that was not refcounted; XSA-113: the M2P update's error path leaked a
 * reference. vmmu refuses every foreigndom but its own (-VMMU_EPERM,
 * before anything is read), and maps no other domain's frame; M2P
 * updates need an embedder table (-VMMU_ENOTSUP) and then touch only the
 * domain's own frames, with nothing left behind on refusal.
 */
static void test_xsa109_113_foreign_domain_and_m2p_refused(void **state)
{
	struct fixture *fx = *state;
	struct vmmu_frame_info snap[NFRAMES];
	const uint32_t bad_fd[] = {
		OTHER,
		0, /* dom0 is not SELF either */
		VMMU_PV_DOMID_IO,
		VMMU_PV_DOMID_XEN,
		0x7ff3u,
		0xffffu,
		((uint32_t)(OTHER + 1) << 16) | SELF,
		((uint32_t)(DOM + 1) << 16) | OTHER,
		0xffff0000u | SELF,
	};
	uint64_t before;

	pin_tree_a(fx);
	snapshot(fx, snap);
	before = fx->tp.flushes;
	for (unsigned k = 0; k < sizeof(bad_fd) / sizeof(bad_fd[0]); k++) {
		WHERE("foreigndom %#x", bad_fd[k]);
		CHECK_EQ(mmu_fd(&fx->v[0], PTR(4, 20), E(30, P), bad_fd[k]),
			 -VMMU_EPERM);
		struct vmmu_pv_mmuext_op op = {.cmd = VMMU_PV_MMUEXT_PIN_L1_TABLE,
					       .arg1.mfn = 30};
		uint32_t done = 0;
		CHECK_EQ(vmmu_pv_mmuext_op(&fx->v[0], &op, 1, &done, bad_fd[k]),
			 -VMMU_EPERM);
		CHECK_EQ(done, 0);
	}
	CHECK_EQ(tab(fx, 4)[20], 0);
	CHECK_EQ(fx->tp.flushes, before);
	expect_snapshot(fx, snap);
	WHERE("foreigndom naming the domain itself");
	CHECK_EQ(mmu_fd(&fx->v[0], PTR(4, 20), E(30, P), DOM), 0);
	CHECK_EQ(mmu_fd(&fx->v[0], PTR(4, 20), 0, ((uint32_t)(DOM + 1) << 16) | SELF),
		 0);
	expect_snapshot(fx, snap);
	WHERE("another domain's frames in entries");
	CHECK_EQ(mmu(&fx->v[0], PTR(4, 20), E(FIRST_OTHER, P)), -VMMU_EPERM);
	CHECK_EQ(mmu(&fx->v[0], PTR(4, 20), E(FIRST_OTHER, P | RW)), -VMMU_EPERM);
	CHECK_EQ(mmu(&fx->v[0], PTR(3, 20), E(FIRST_OTHER, P)), -VMMU_EPERM);
	CHECK_EQ(mmu(&fx->v[0], PTR(FIRST_OTHER, 0), E(30, P)), -VMMU_EPERM);
	expect_snapshot(fx, snap);
	WHERE("M2P without a table: refused after request 0 is done");
	struct vmmu_pv_mmu_update reqs[2] = {
		{PTR(4, 20), E(30, P)},
		{(30ull << 12) | VMMU_PV_MMU_MACHPHYS_UPDATE, 0x1234},
	};
	uint32_t done = 0;
	CHECK_EQ(vmmu_pv_mmu_update(&fx->v[0], reqs, 2, &done, SELF), -VMMU_ENOTSUP);
	CHECK_EQ(done, 1);
	expect_frame(fx, 30, 2, 0);
	audit_all(fx);
	WHERE("M2P with a table");
	vmmu_pv_domain_set_m2p(&fx->d, fx->m2p);
	CHECK_EQ(vmmu_pv_mmu_update(&fx->v[0], reqs, 2, &done, SELF), 0);
	CHECK_EQ(done, 2);
	CHECK_EQ(fx->m2p[30], 0x1234);
	CHECK_EQ(mmu(&fx->v[0], ((uint64_t)FIRST_OTHER << 12) | 1, 7), -VMMU_EPERM);
	CHECK_EQ(mmu(&fx->v[0], (0ull << 12) | 1, 7), -VMMU_EPERM);
	CHECK_EQ(mmu(&fx->v[0], ((uint64_t)NFRAMES << 12) | 1, 7), -VMMU_EINVAL);
	CHECK_EQ(fx->m2p[FIRST_OTHER], 0);
	CHECK_EQ(fx->m2p[0], 0);
	expect_frame(fx, 30, 2, 0);
	expect_frame(fx, FIRST_OTHER, 1, 0);
	CHECK_EQ(mmu(&fx->v[0], PTR(4, 20), 0), 0);
	expect_snapshot(fx, snap);
	audit_all(fx);
	release_all(fx);
	expect_baseline(fx);
}

/* ==== 18a. XSA-214: a frame changing owner keeps its type ============================ */

/*
 * A frame transferred to another guest kept its validated type and was
 * used there unvalidated. In vmmu a frame changes owner only through
 * release (no new reference once released, pins not undone behind the
 * guest's back), free (last reference: type state cleared) and assign:
 * the new owner's first use validates it against the new owner, so an
 * L1 that mapped DOM's frames is refused for OTHER, and DOM cannot reach
 * the frame any more.
 */
static void test_xsa214_frame_changing_owner_loses_its_type(void **state)
{
	struct fixture *fx = *state;
	struct vmmu_frame_info i;

	pin_tree_a(fx);
	tab(fx, 33)[0] = E(12, P);
	CHECK_EQ(ext(&fx->v[0], VMMU_PV_MMUEXT_PIN_L1_TABLE, 33), 0);
	WHERE("released while pinned");
	CHECK_EQ(vmmu_ft_release(&fx->ft, 33, DOM), 0);
	assert_int_equal(vmmu_ft_info(&fx->ft, 33, &i), 0);
	CHECK_EQ(i.pinned, true);
	CHECK_EQ(i.validated, true);
	CHECK_EQ(vmmu_ft_assign(&fx->ft, 33, OTHER), -VMMU_EBUSY);
	CHECK_EQ(ext(&fx->v[0], VMMU_PV_MMUEXT_PIN_L1_TABLE, 33), -VMMU_EPERM);
	CHECK_EQ(mmu(&fx->v[0], PTR(4, 20), E(33, P)), -VMMU_EPERM);
	CHECK_EQ(mmu(&fx->v[0], PTR(33, 1), E(13, P)), -VMMU_EPERM);
	audit_all(fx);
	WHERE("the guest cannot unpin what it gave up; the embedder does");
	CHECK_EQ(ext(&fx->v[0], VMMU_PV_MMUEXT_UNPIN_TABLE, 33), -VMMU_EPERM);
	CHECK_EQ(vmmu_ft_unpin(&fx->ft, 33), 0);
	CHECK_EQ(vmmu_pv_table_put(&fx->d, 33), 0);
	assert_int_equal(vmmu_ft_info(&fx->ft, 33, &i), 0);
	CHECK_EQ(i.count, 0);
	CHECK_EQ(i.type, VMMU_FTYPE_NONE);
	CHECK_EQ(i.type_count, 0);
	CHECK_EQ(i.validated, false);
	expect_frame(fx, 12, 3, 0);
	WHERE("assigned to OTHER");
	CHECK_EQ(vmmu_ft_assign(&fx->ft, 33, OTHER), 0);
	assert_int_equal(vmmu_ft_info(&fx->ft, 33, &i), 0);
	CHECK_EQ(i.owner, OTHER);
	CHECK_EQ(i.type, VMMU_FTYPE_NONE);
	CHECK_EQ(i.validated, false);
	CHECK_EQ(ext(&fx->v2, VMMU_PV_MMUEXT_PIN_L1_TABLE, 33), -VMMU_EPERM);
	/* OTHER rewrites it (plain memory) and then it validates. */
	CHECK_EQ(mmu(&fx->v2, PTR(33, 0), E(FIRST_OTHER, P)), 0);
	CHECK_EQ(ext(&fx->v2, VMMU_PV_MMUEXT_PIN_L1_TABLE, 33), 0);
	CHECK_EQ(ext(&fx->v[0], VMMU_PV_MMUEXT_PIN_L1_TABLE, 33), -VMMU_EPERM);
	CHECK_EQ(mmu(&fx->v[0], PTR(4, 20), E(33, P)), -VMMU_EPERM);
	audit_all(fx);
	release_all(fx);
}

/* ==== 18b. XSA-248: hypervisor frames and slots are never the guest's ============= */

/*
 * Xen-internal pages carried the guest as owner, so the guest could map
 * them. vmmu: a frame nobody owns (frame 0 here, the hypervisor's) can
 * be neither mapped, nor used as a table, nor written through
 * mmu_update; the reserved L4 slots (256-271) cannot be written by the
 * guest, through mmu_update or update_va_mapping, and validation skips
 * them. What the guest stored there while the L4 was plain memory must
 * not survive its validation (Xen writes its own entries into a freshly
 * validated L4): with no embedder hook vmmu clears those slots. If the
 * planted entry survives, the test reports a FINDING and skips.
 */
static void test_xsa248_hypervisor_frames_never_guest_mappable(void **state)
{
	struct fixture *fx = *state;
	struct vmmu_frame_info snap[NFRAMES];
	const uint64_t hv_va = 0xffff800000000000ull + 5 * PAGE; /* slot 256 */

	pin_tree_a(fx);
	snapshot(fx, snap);
	CHECK_EQ(mmu(&fx->v[0], PTR(4, 20), E(0, P)), -VMMU_EPERM);
	CHECK_EQ(mmu(&fx->v[0], PTR(4, 20), E(0, P | RW)), -VMMU_EPERM);
	CHECK_EQ(ext(&fx->v[0], VMMU_PV_MMUEXT_PIN_L1_TABLE, 0), -VMMU_EPERM);
	CHECK_EQ(ext(&fx->v[0], VMMU_PV_MMUEXT_NEW_BASEPTR, 0), -VMMU_EINVAL);
	CHECK_EQ(mmu(&fx->v[0], PTR(0, 5), E(12, P)), -VMMU_EPERM);
	WHERE("reserved L4 slots");
	CHECK_EQ(mmu(&fx->v[0], PTR(1, 256), 0), -VMMU_EINVAL);
	CHECK_EQ(mmu(&fx->v[0], PTR(1, 271), E(2, P)), -VMMU_EINVAL);
	CHECK_EQ(mmu(&fx->v[0], PTR(1, 255), 0), 0);
	CHECK_EQ(mmu(&fx->v[0], PTR(1, 272), 0), 0);
	expect_snapshot(fx, snap);
	WHERE("guest-planted entries in reserved slots of a fresh L4");
	/* Plain memory: the guest writes what it likes (through mmu_update). */
	CHECK_EQ(mmu(&fx->v[0], PTR(34, 256), E(3, P | RW | US)), 0);
	CHECK_EQ(mmu(&fx->v[0], PTR(34, 271), E(FIRST_OTHER, P | RW)), 0);
	CHECK_EQ(mmu(&fx->v[0], PTR(34, 0), E(2, P | RW | US)), 0);
	CHECK_EQ(ext(&fx->v[0], VMMU_PV_MMUEXT_PIN_L4_TABLE, 34), 0);
	audit_all(fx);
	CHECK_EQ(mmu(&fx->v[0], PTR(34, 256), 0), -VMMU_EINVAL);
	if (tab(fx, 34)[256] != 0 || tab(fx, 34)[271] != 0) {
		print_message("FINDING (XSA-248): guest-written entries in the "
			      "hypervisor's L4 slots survived validation "
			      "(%#llx, %#llx)\n",
			      (unsigned long long)tab(fx, 34)[256],
			      (unsigned long long)tab(fx, 34)[271]);
		release_all(fx);
		skip();
	}
	WHERE("update_va_mapping into a reserved slot");
	CHECK_EQ(ext(&fx->v[0], VMMU_PV_MMUEXT_NEW_BASEPTR, 34), 0);
	CHECK_EQ(vmmu_pv_update_va_mapping(&fx->v[0], hv_va, E(12, P),
					   VMMU_PV_UVMF_INVLPG),
		 -VMMU_EINVAL);
	CHECK_EQ(tab(fx, 34)[256], 0);
	audit_all(fx);
	release_all(fx);
	expect_baseline(fx);
}

/* ==== 19. XSA-273 (L1TF): not-present entries ======================================= */

/*
 * A not-present entry is still used by speculative walks: its address
 * must be 0 or beyond every frame the table knows, and PS must be clear
 * above L1. Checked through mmu_update, update_va_mapping and
 * validation; replacing a present entry by "the same, P cleared" (a
 * common way to unmap) is refused and keeps the old entry and its
 * references.
 */
static void test_xsa273_l1tf_not_present_entries_checked(void **state)
{
	struct fixture *fx = *state;
	struct vmmu_frame_info snap[NFRAMES];
	uint64_t before;

	pin_tree_a(fx);
	snapshot(fx, snap);
	before = fx->tp.flushes;
	WHERE("L1, cacheable addresses");
	CHECK_EQ(mmu(&fx->v[0], PTR(4, 20), E(3, 0)), -VMMU_EINVAL);
	CHECK_EQ(mmu(&fx->v[0], PTR(4, 20), E(12, RW | US)), -VMMU_EINVAL);
	CHECK_EQ(mmu(&fx->v[0], PTR(4, 20), E(FIRST_OTHER, 0)), -VMMU_EINVAL);
	CHECK_EQ(mmu(&fx->v[0], PTR(4, 20), E(12, NX | (1ull << 9))), -VMMU_EINVAL);
	CHECK_EQ(vmmu_pv_update_va_mapping(&fx->v[0], 20 * PAGE, E(12, 0),
					   VMMU_PV_UVMF_INVLPG | VMMU_PV_UVMF_ALL),
		 -VMMU_EINVAL);
	CHECK_EQ(fx->tp.flushes, before);
	WHERE("present -> the same with P clear");
	CHECK_EQ(mmu(&fx->v[0], PTR(4, 1), E(11, US | RW)), -VMMU_EINVAL);
	CHECK_EQ(tab(fx, 4)[1], E(11, P | US | RW));
	WHERE("L2: address and PS");
	CHECK_EQ(mmu(&fx->v[0], PTR(3, 20), E(4, 0)), -VMMU_EINVAL);
	CHECK_EQ(mmu(&fx->v[0], PTR(3, 20), PS), -VMMU_EINVAL);
	CHECK_EQ(mmu(&fx->v[0], PTR(3, 20), E(NFRAMES, PS)), -VMMU_EINVAL);
	CHECK_EQ(mmu(&fx->v[0], PTR(3, 0), E(4, RW | US)), -VMMU_EINVAL);
	CHECK_EQ(mmu(&fx->v[0], PTR(2, 20), E(3, 0)), -VMMU_EINVAL);
	CHECK_EQ(mmu(&fx->v[0], PTR(1, 20), E(2, 0)), -VMMU_EINVAL);
	expect_snapshot(fx, snap);
	WHERE("validation");
	tab(fx, 30)[7] = E(12, 0);
	CHECK_EQ(ext(&fx->v[0], VMMU_PV_MMUEXT_PIN_L1_TABLE, 30), -VMMU_EINVAL);
	tab(fx, 30)[7] = 0;
	tab(fx, 31)[7] = PS;
	CHECK_EQ(ext(&fx->v[0], VMMU_PV_MMUEXT_PIN_L2_TABLE, 31), -VMMU_EINVAL);
	expect_snapshot(fx, snap);
	WHERE("allowed: 0, beyond the table, software bits with address 0");
	CHECK_EQ(mmu(&fx->v[0], PTR(4, 20), 0), 0);
	CHECK_EQ(mmu(&fx->v[0], PTR(4, 20), E(NFRAMES, 0)), 0);
	CHECK_EQ(mmu(&fx->v[0], PTR(4, 20), E(1ull << 27, RW)), 0);
	CHECK_EQ(mmu(&fx->v[0], PTR(4, 20), (1ull << 9) | (1ull << 62)), 0);
	CHECK_EQ(mmu(&fx->v[0], PTR(3, 20), E(NFRAMES, RW)), 0);
	CHECK_EQ(mmu(&fx->v[0], PTR(4, 20), 0), 0);
	CHECK_EQ(mmu(&fx->v[0], PTR(3, 20), 0), 0);
	expect_snapshot(fx, snap);
	audit_all(fx);
	release_all(fx);
	expect_baseline(fx);
}

/* ==== 20. XSA-279: non-canonical INVLPG; no flush after a failed update ======= */

/*
 * Xen crashed on an INVLPG-type request for a non-canonical address and
 * flushed after a failed update_va_mapping. vmmu ignores non-canonical
 * INVLPG (no flush request reaches the platform), refuses non-canonical
 * update_va_mapping addresses, and flushes nothing for any refused
 * update, including a multi-vCPU flush whose bitmap cannot be read
 * (refused before anything changes). Successful calls flush exactly
 * what was asked.
 */
static void test_xsa279_noncanonical_invlpg_and_no_flush_on_failure(void **state)
{
	struct fixture *fx = *state;
	const uint64_t noncanon[] = {1ull << 47, 0x0000800000001000ull,
				     0x8000000000000000ull, 0xffff7fffffffffffull,
				     0x7fff800000000000ull};
	uint64_t before;

	pin_tree_a(fx);
	vmmu_pv_domain_set_guest_ops(&fx->d, &fx->guest, 2);
	before = fx->tp.flushes;
	for (unsigned k = 0; k < sizeof(noncanon) / sizeof(noncanon[0]); k++) {
		WHERE("va %#llx", (unsigned long long)noncanon[k]);
		CHECK_EQ(ext(&fx->v[0], VMMU_PV_MMUEXT_INVLPG_LOCAL, noncanon[k]), 0);
		CHECK_EQ(ext(&fx->v[0], VMMU_PV_MMUEXT_INVLPG_ALL, noncanon[k]), 0);
		CHECK_EQ(ext2(&fx->v[0], VMMU_PV_MMUEXT_INVLPG_MULTI, noncanon[k],
			      BITMAP_GVA),
			 0);
		CHECK_EQ(vmmu_pv_update_va_mapping(&fx->v[0], noncanon[k], 0,
						   VMMU_PV_UVMF_INVLPG |
							   VMMU_PV_UVMF_ALL),
			 -VMMU_EINVAL);
	}
	CHECK_EQ(fx->tp.flushes, before);
	WHERE("canonical INVLPG");
	CHECK_EQ(ext(&fx->v[0], VMMU_PV_MMUEXT_INVLPG_ALL, 0xffff800000001234ull), 0);
	CHECK_EQ(fx->tp.flushes, before + 1);
	CHECK_EQ(fx->tp.last_flush.scope, VMMU_TLB_RANGE);
	CHECK_EQ(fx->tp.last_flush.addr, 0xffff800000001000ull);
	CHECK_EQ(fx->tp.last_flush.size, PAGE);
	CHECK_EQ(fx->tp.last_flush.cpu_mask_words, 0);
	CHECK_EQ(ext(&fx->v[1], VMMU_PV_MMUEXT_INVLPG_LOCAL, 0x1234), 0);
	CHECK_EQ(fx->tp.flushes, before + 2);
	CHECK_EQ(fx->tp.last_flush.cpu_mask_words, 1);
	CHECK_EQ(fx->flush_mask0, 2); /* vCPU 1 */
	WHERE("failed update_va_mapping");
	before = fx->tp.flushes;
	CHECK_EQ(vmmu_pv_update_va_mapping(&fx->v[0], 512 * GIB, 0,
					   VMMU_PV_UVMF_INVLPG | VMMU_PV_UVMF_ALL),
		 -VMMU_ENOENT);
	CHECK_EQ(vmmu_pv_update_va_mapping(&fx->v[0], 5 * PAGE, E(3, P | RW),
					   VMMU_PV_UVMF_TLB_FLUSH | VMMU_PV_UVMF_ALL),
		 -VMMU_EBUSY);
	CHECK_EQ(vmmu_pv_update_va_mapping(&fx->v[0], 5 * PAGE, E(15, P), 3),
		 -VMMU_EINVAL);
	CHECK_EQ(vmmu_pv_update_va_mapping(&fx->v[1], 5 * PAGE, E(15, P),
					   VMMU_PV_UVMF_INVLPG),
		 -VMMU_EINVAL); /* no base */
	CHECK_EQ(vmmu_pv_update_va_mapping(&fx->v[0], 5 * PAGE, E(15, P),
					   VMMU_PV_UVMF_INVLPG | 0x9000),
		 -VMMU_EFAULT); /* unreadable bitmap: nothing done */
	CHECK_EQ(tab(fx, 4)[5], E(15, P | US | RW));
	CHECK_EQ(vmmu_pv_update_va_mapping(&fx->v[0], 5 * PAGE, E(3, P | RW),
					   VMMU_PV_UVMF_INVLPG | BITMAP_GVA),
		 -VMMU_EBUSY);
	CHECK_EQ(fx->tp.flushes, before);
	audit_all(fx);
	WHERE("successful update_va_mapping");
	CHECK_EQ(vmmu_pv_update_va_mapping(&fx->v[0], 5 * PAGE, E(15, P | US),
					   VMMU_PV_UVMF_TLB_FLUSH),
		 0);
	CHECK_EQ(fx->tp.flushes, before + 1);
	CHECK_EQ(fx->tp.last_flush.scope, VMMU_TLB_ALL_NONGLOBAL);
	CHECK_EQ(fx->flush_mask0, 1); /* vCPU 0 */
	fx->guest_bitmap = 3;
	CHECK_EQ(vmmu_pv_update_va_mapping(&fx->v[0], 5 * PAGE, E(15, P | US | RW),
					   VMMU_PV_UVMF_INVLPG | BITMAP_GVA),
		 0);
	CHECK_EQ(fx->tp.flushes, before + 2);
	CHECK_EQ(fx->tp.last_flush.scope, VMMU_TLB_RANGE);
	CHECK_EQ(fx->tp.last_flush.addr, 5 * PAGE);
	CHECK_EQ(fx->flush_mask0, 3);
	audit_all(fx);
	release_all(fx);
	expect_baseline(fx);
}

/* ==== 21. XSA-402: cache attributes ================================================== */

/*
 * Guest WC/UC mappings made cache and RAM disagree, so what Xen validated
 * was not what took effect. vmmu: PWT, PCD and PAT in an L1 entry need
 * VMMU_PV_CACHE_ATTRS (-VMMU_EINVAL otherwise), on every path: new
 * entries, a cache-bit-only change of an existing entry (never the fast
 * path), update_va_mapping and validation. A domain with the flag may
 * use them. (vmmu does not track non-coherent writers or flush caches
 * before validating, as Xen's PGT_non_coherent does; only a domain with
 * VMMU_PV_CACHE_ATTRS could create them.)
 */
static void test_xsa402_l1_cache_attributes_need_permission(void **state)
{
	struct fixture *fx = *state;
	struct vmmu_frame_info snap[NFRAMES];
	const uint64_t bits[] = {PWT, PCD, PS /* PAT */, PWT | PCD};

	pin_tree_a(fx);
	snapshot(fx, snap);
	for (unsigned k = 0; k < sizeof(bits) / sizeof(bits[0]); k++) {
		WHERE("bits %#llx", (unsigned long long)bits[k]);
		CHECK_EQ(mmu(&fx->v[0], PTR(4, 20), E(30, P | bits[k])), -VMMU_EINVAL);
		CHECK_EQ(mmu(&fx->v[0], PTR(4, 20), E(30, P | RW | bits[k])),
			 -VMMU_EINVAL);
		CHECK_EQ(mmu(&fx->v[0], PTR(4, 2), E(12, P | US | bits[k])),
			 -VMMU_EINVAL);
		CHECK_EQ(vmmu_pv_update_va_mapping(&fx->v[0], 2 * PAGE,
						   E(12, P | US | bits[k]),
						   VMMU_PV_UVMF_NONE),
			 -VMMU_EINVAL);
		tab(fx, 30)[9] = E(12, P | bits[k]);
		CHECK_EQ(ext(&fx->v[0], VMMU_PV_MMUEXT_PIN_L1_TABLE, 30), -VMMU_EINVAL);
	}
	CHECK_EQ(tab(fx, 4)[2], E(12, P | US));
	expect_snapshot(fx, snap);
	audit_all(fx);
	WHERE("a domain allowed cache attributes");
	domain2_init(fx, VMMU_PV_CACHE_ATTRS);
	tab(fx, FIRST_OTHER)[0] = E(FIRST_OTHER + 1, P | RW | PCD);
	tab(fx, FIRST_OTHER)[1] = E(FIRST_OTHER + 2, P | PS | PWT);
	CHECK_EQ(ext(&fx->v2, VMMU_PV_MMUEXT_PIN_L1_TABLE, FIRST_OTHER), 0);
	audit_all(fx);
	release_all(fx);
	expect_baseline(fx);
}

/*
 * FINDING (XSA-402 class, divergence from Xen): in L2-L4 entries vmmu
 * refuses PS and G but accepts PWT and PCD, for every domain. Xen's
 * L2-L4 rule allows only P, RW, US, A, D, the available bits and NX. In
 * an upper-level entry PWT/PCD set the memory type the page walker uses
 * to read the table below, so a guest without VMMU_PV_CACHE_ATTRS can
 * have its L1 tables walked UC/WT while the hypervisor validated them
 * through a write-back mapping (and the guest may map the same frame
 * write-back read-only: memory-type aliasing on a page table). Expected:
 * -VMMU_EINVAL. Skipped while vmmu accepts them.
 */
static void test_xsa402_upper_level_cache_attributes_refused(void **state)
{
	struct fixture *fx = *state;
	struct vmmu_frame_info snap[NFRAMES];
	int rc[4];

	pin_tree_a(fx);
	snapshot(fx, snap);
	rc[0] = mmu(&fx->v[0], PTR(3, 0), E(4, P | RW | US | PCD)); /* L2 */
	rc[1] = mmu(&fx->v[0], PTR(3, 1), E(5, P | RW | US | PWT));
	rc[2] = mmu(&fx->v[0], PTR(2, 0), E(3, P | RW | US | PCD)); /* L3 */
	rc[3] = mmu(&fx->v[0], PTR(1, 0), E(2, P | RW | US | PWT | PCD)); /* L4 */
	expect_snapshot(fx, snap);
	audit_all(fx);
	if (rc[0] == 0 || rc[1] == 0 || rc[2] == 0 || rc[3] == 0) {
		print_message("FINDING (XSA-402): PWT/PCD accepted in L2-L4 "
			      "entries of a domain without VMMU_PV_CACHE_ATTRS "
			      "(rc %d %d %d %d)\n",
			      rc[0], rc[1], rc[2], rc[3]);
		release_all(fx);
		skip();
	}
	for (unsigned k = 0; k < 4; k++) {
		WHERE("case %u", k);
		CHECK_EQ(rc[k], -VMMU_EINVAL);
	}
	release_all(fx);
	expect_baseline(fx);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_xsa148_l2_pse_rw_flip_takes_full_path),
		T(test_xsa182_linear_l4_rw_upgrade_refused),
		T(test_xsa185_l3_self_reference_refused),
		T(test_xsa240_linear_chains_and_loops_refused),
		T(test_xsa309_preempted_validation_keeps_link_counts),
		T(test_xsa299_partial_validation_two_vcpus_interleaved),
		T(test_xsa299_refusal_after_restarts_rolls_back),
		T(test_xsa310_vcpu_teardown_with_partial_and_parked_state),
		T(test_xsa45_pin_unpin_and_base_switch_are_preemptible),
		T(test_xsa58_error_paths_after_preemption_leak_nothing),
		T(test_xsa290_contended_update_retry_checks_preemption),
		T(test_xsa401_408_type_published_before_leave_writable),
		T(test_xsa241_401_writable_frame_becoming_table_flushes),
		T(test_xsa242_last_table_ref_dropped_mid_batch),
		T(test_xsa242_last_table_ref_dropped_mid_batch_preempted),
		T(test_xsa286_l3_swap_then_update_va_mapping_hits_new_table),
		T(test_xsa213_privilege_change_in_multicall),
		T(test_xsa212_resumed_index_bounds),
		T(test_xsa227_entry_address_alignment),
		T(test_xsa234_224_release_exactly_what_the_entry_held),
		T(test_xsa167_mfn_beyond_table_refused_everywhere),
		T(test_xsa109_113_foreign_domain_and_m2p_refused),
		T(test_xsa214_frame_changing_owner_loses_its_type),
		T(test_xsa248_hypervisor_frames_never_guest_mappable),
		T(test_xsa273_l1tf_not_present_entries_checked),
		T(test_xsa279_noncanonical_invlpg_and_no_flush_on_failure),
		T(test_xsa402_l1_cache_attributes_need_permission),
		T(test_xsa402_upper_level_cache_attributes_refused),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
