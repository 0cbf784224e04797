/* SPDX-License-Identifier: MIT */
/*
 * Direct paging: the PV MMU hypercalls (mmu/pv_ops.c): mmu_update,
 * mmuext_op, update_va_mapping and the vCPU state behind them. Every test
 * builds small tables in the test platform's arena (machine frame n is
 * arena page n), drives them through the hypercalls as a guest would, and
 * checks the frame table's counts, the table memory and the TLB-flush
 * requests the platform saw, against the Xen PV MMU semantics pv.h
 * promises (docs/frame.md; Xen bug classes named by their XSA).
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

#define NFRAMES 128u
#define DOM 1u
#define OTHER_DOM 2u
#define MAXPHYADDR 40u
#define FOREIGN (NFRAMES - 1) /* an OTHER_DOM frame */

#define P (1ull << 0)
#define RW (1ull << 1)
#define US (1ull << 2)
#define PWT (1ull << 3)
#define A (1ull << 5)
#define D (1ull << 6)
#define PS (1ull << 7)
#define G (1ull << 8)
#define AVL9 (1ull << 9)
#define AVL52 (1ull << 52)
#define NX (1ull << 63)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* The last flush request, with its CPU mask copied (it lives on the callee's stack). */
struct flush_rec {
	uint64_t n;
	struct vmmu_tlb_req req;
	bool null_mask;
	uint64_t mask[64];
};

struct fixture {
	struct test_platform tp; /* first: the platform's ctx is the fixture */
	struct vmmu_platform_ops ops;
	void (*tp_flush)(void *ctx, const struct vmmu_tlb_req *req);
	struct flush_rec fl;
	struct vmmu_ft ft;
	void *mem;
	struct vmmu_pv_domain d, d2;
	struct vmmu_pv_vcpu v, v2; /* v: DOM's vCPU 1; v2: OTHER_DOM's vCPU 0 */
	uint64_t next_free;
	struct vmmu_frame_info baseline[NFRAMES];
};

static void record_flush(void *ctx, const struct vmmu_tlb_req *req)
{
	struct fixture *fx = ctx;

	fx->fl.n++;
	fx->fl.req = *req;
	fx->fl.null_mask = req->cpu_mask == NULL;
	memset(fx->fl.mask, 0, sizeof(fx->fl.mask));
	for (uint32_t i = 0; req->cpu_mask != NULL && i < req->cpu_mask_words &&
			     i < ARRAY_SIZE(fx->fl.mask);
	     i++) {
		fx->fl.mask[i] = req->cpu_mask[i];
	}
	fx->tp_flush(ctx, req); /* keeps tp.flushes and tp.last_flush */
}

static void assign_frames(struct fixture *fx)
{
	/* Frames 1..NFRAMES-9 are DOM's, the last 8 OTHER_DOM's; 0 nobody's. */
	for (uint64_t mfn = 1; mfn < NFRAMES; mfn++) {
		vmmu_domid_t owner = mfn < NFRAMES - 8 ? DOM : OTHER_DOM;
		assert_int_equal(vmmu_ft_assign(&fx->ft, mfn, owner), 0);
	}
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	test_platform_init(&fx->tp, NFRAMES);
	fx->ops = *fx->tp.plat.ops;
	fx->tp_flush = fx->ops.tlb_flush;
	fx->ops.tlb_flush = record_flush;
	fx->tp.plat.ops = &fx->ops;
	fx->mem = calloc(NFRAMES, sizeof(struct vmmu_frame));
	assert_non_null(fx->mem);
	assert_int_equal(vmmu_ft_init(&fx->ft, fx->mem, vmmu_ft_bytes(NFRAMES),
				      NFRAMES, &fx->tp.plat),
			 0);
	assign_frames(fx);
	assert_int_equal(vmmu_pv_domain_init(&fx->d, &fx->ft, &fx->tp.plat, DOM,
					     MAXPHYADDR, NULL, 0),
			 0);
	assert_int_equal(vmmu_pv_domain_init(&fx->d2, &fx->ft, &fx->tp.plat,
					     OTHER_DOM, MAXPHYADDR, NULL, 0),
			 0);
	assert_int_equal(vmmu_pv_vcpu_init(&fx->v, &fx->d, 1), 0);
	assert_int_equal(vmmu_pv_vcpu_init(&fx->v2, &fx->d2, 0), 0);
	fx->next_free = 1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	free(fx->mem);
	test_platform_fini(&fx->tp);
	free(fx);
	return 0;
}

/* --- tables and counts --------------------------------------------------------------- */

static uint64_t *table(struct fixture *fx, uint64_t mfn)
{
	return (uint64_t *)test_platform_ptr(&fx->tp, mfn << 12);
}

/* A fresh zeroed frame of DOM's. */
static uint64_t new_frame(struct fixture *fx)
{
	uint64_t mfn = fx->next_free++;

	assert_true(mfn < NFRAMES - 8);
	memset(table(fx, mfn), 0, 4096);
	return mfn;
}

static struct vmmu_frame_info info(struct fixture *fx, uint64_t mfn)
{
	struct vmmu_frame_info i;

	assert_int_equal(vmmu_ft_info(&fx->ft, mfn, &i), 0);
	return i;
}

static void snapshot(struct fixture *fx)
{
	pv_snapshot(&fx->ft, fx->baseline);
}

/* Every frame's counts as at the snapshot (types may stay, unvalidated). */
static void assert_counts_restored(struct fixture *fx)
{
	char buf[200];
	const char *diff = pv_counts_changed(&fx->ft, fx->baseline, buf, sizeof(buf));

	if (diff != NULL) {
		fail_msg("%s", diff);
	}
}

static void assert_refs(struct fixture *fx, uint64_t mfn, uint64_t count,
			uint64_t type_count)
{
	struct vmmu_frame_info i = info(fx, mfn);

	if (i.count != count || i.type_count != type_count) {
		fail_msg("frame %llu: count %llu type count %llu, want %llu/%llu",
			 (unsigned long long)mfn, (unsigned long long)i.count,
			 (unsigned long long)i.type_count,
			 (unsigned long long)count,
			 (unsigned long long)type_count);
	}
}

static uint64_t entry(uint64_t mfn, uint64_t flags)
{
	return (mfn << 12) | flags;
}

/* The mmu_update ptr of entry i of table mfn (command 0). */
static uint64_t slot(uint64_t mfn, unsigned i)
{
	return (mfn << 12) | ((uint64_t)i * 8u);
}

/* L4 -> L3 -> L2 -> l1, one entry each at index idx; returns the L4. */
static uint64_t make_tree(struct fixture *fx, uint64_t l1, unsigned idx)
{
	uint64_t t = l1;

	for (unsigned level = 2; level <= 4; level++) {
		uint64_t up = new_frame(fx);
		table(fx, up)[idx] = entry(t, P | RW | US);
		t = up;
	}
	return t;
}

/* A table of `level` with n entries 0..n-1, each a fresh subtree. */
static uint64_t make_wide(struct fixture *fx, unsigned level, unsigned n,
			  uint64_t data)
{
	uint64_t t = new_frame(fx);

	for (unsigned i = 0; i < n; i++) {
		uint64_t below = level == 1 ? data
					    : make_wide(fx, level - 1, n, data);
		table(fx, t)[i] = entry(below, P | US | (level == 1 ? 0 : RW));
	}
	return t;
}

/* The virtual address make_tree(.., idx) maps with entry i1 of its L1. */
static uint64_t tree_va(unsigned idx, unsigned i1)
{
	return ((uint64_t)idx << 39) | ((uint64_t)idx << 30) |
	       ((uint64_t)idx << 21) | ((uint64_t)i1 << 12);
}

/* --- hypercall helpers ------------------------------------------------------------------ */

static int update1(struct vmmu_pv_vcpu *v, uint64_t ptr, uint64_t val)
{
	struct vmmu_pv_mmu_update r = {.ptr = ptr, .val = val};
	uint32_t done = 0;

	return vmmu_pv_mmu_update(v, &r, 1, &done, VMMU_PV_DOMID_SELF);
}

static int ext1(struct vmmu_pv_vcpu *v, uint32_t cmd, uint64_t arg1)
{
	struct vmmu_pv_mmuext_op op = {.cmd = cmd, .arg1.mfn = arg1};
	uint32_t done = 0;

	return vmmu_pv_mmuext_op(v, &op, 1, &done, VMMU_PV_DOMID_SELF);
}

/* One mmuext_op run to completion across restarts; returns the restarts. */
static unsigned ext_finish(struct vmmu_pv_vcpu *v, uint32_t cmd,
			   uint64_t arg1)
{
	struct vmmu_pv_mmuext_op op = {.cmd = cmd, .arg1.mfn = arg1};
	uint32_t done = 0;
	unsigned restarts = 0;
	int rc;

	while ((rc = vmmu_pv_mmuext_op(v, &op, 1, &done,
				       VMMU_PV_DOMID_SELF)) == -VMMU_ERESTART) {
		restarts++;
		assert_true(restarts < 100000);
	}
	assert_int_equal(rc, 0);
	assert_int_equal(done, 1);
	return restarts;
}

static void pin(struct fixture *fx, unsigned level, uint64_t mfn)
{
	ext_finish(&fx->v, VMMU_PV_MMUEXT_PIN_L1_TABLE + level - 1, mfn);
}

static void unpin(struct fixture *fx, uint64_t mfn)
{
	ext_finish(&fx->v, VMMU_PV_MMUEXT_UNPIN_TABLE, mfn);
}

static void release_vcpu(struct vmmu_pv_vcpu *v)
{
	int rc;

	while ((rc = vmmu_pv_vcpu_release(v)) == -VMMU_ERESTART) {
	}
	assert_int_equal(rc, 0);
}

static void assert_no_pending(const struct vmmu_pv_vcpu *v)
{
	assert_int_equal(v->pending_partial, 0);
	assert_int_equal(v->pending_put[0], 0);
	assert_int_equal(v->pending_put[1], 0);
}

static void assert_flush_all_domain(struct fixture *fx)
{
	assert_int_equal(fx->fl.req.scope, VMMU_TLB_ALL_NONGLOBAL);
	assert_true(fx->fl.null_mask);
	assert_int_equal(fx->fl.req.cpu_mask_words, 0);
}

/* The last flush went to fx->v (id 1) only. */
static void assert_flush_local(struct fixture *fx)
{
	assert_false(fx->fl.null_mask);
	assert_int_equal(fx->fl.req.cpu_mask_words, 1);
	assert_int_equal(fx->fl.mask[0], 1ull << fx->v.id);
}

/* --- mmu_update: references and flushes -------------------------------------------- */

static void test_l1_update_moves_refs_and_requests_no_flush(void **state)
{
	struct fixture *fx = *state;
	uint64_t a = new_frame(fx), b = new_frame(fx), c = new_frame(fx);
	uint64_t l1 = new_frame(fx);
	struct vmmu_pv_mmu_update reqs[2];
	uint32_t done = 0;

	table(fx, l1)[7] = entry(a, P | RW | US);
	table(fx, l1)[0] = entry(c, P | US);
	pin(fx, 1, l1);
	assert_refs(fx, a, 2, 1);
	uint64_t flushes = fx->tp.flushes;
	reqs[0] = (struct vmmu_pv_mmu_update){slot(l1, 7), entry(b, P | RW | US)};
	reqs[1] = (struct vmmu_pv_mmu_update){slot(l1, 0), 0};
	assert_int_equal(vmmu_pv_mmu_update(&fx->v, reqs, 2, &done,
					    VMMU_PV_DOMID_SELF),
			 0);
	assert_int_equal(done, 2);
	assert_refs(fx, a, 1, 0);
	assert_refs(fx, b, 2, 1);
	assert_int_equal(info(fx, b).type, VMMU_FTYPE_WRITABLE);
	assert_refs(fx, c, 1, 0);
	assert_int_equal(table(fx, l1)[7], entry(b, P | RW | US));
	assert_int_equal(table(fx, l1)[0], 0);
	assert_int_equal(fx->tp.flushes, flushes);
	assert_refs(fx, l1, 2, 1); /* the held table was released */
}

static void test_l2_updates_flush_once_per_call(void **state)
{
	struct fixture *fx = *state;
	uint64_t l2 = new_frame(fx), l1a = new_frame(fx), l1b = new_frame(fx);
	uint64_t l1c = new_frame(fx);
	struct vmmu_pv_mmu_update reqs[3] = {
		{slot(l2, 1), entry(l1b, P | RW | US)},
		{slot(l2, 2), entry(l1c, P | RW | US)},
		{slot(l2, 0), 0},
	};
	uint32_t done = 0;

	table(fx, l2)[0] = entry(l1a, P | RW | US);
	pin(fx, 2, l2);
	uint64_t flushes = fx->tp.flushes;
	assert_int_equal(vmmu_pv_mmu_update(&fx->v, reqs, 3, &done,
					    VMMU_PV_DOMID_SELF),
			 0);
	assert_int_equal(done, 3);
	assert_int_equal(fx->tp.flushes, flushes + 1);
	assert_flush_all_domain(fx);
	assert_false(info(fx, l1a).validated);
	assert_refs(fx, l1a, 1, 0);
	assert_true(info(fx, l1b).validated);
	assert_refs(fx, l1b, 2, 1);
}

/* A call that changed an L2 entry and then stopped still flushes, once. */
static void test_l2_update_flushes_even_when_the_call_stops_early(void **state)
{
	struct fixture *fx = *state;
	uint64_t l2 = new_frame(fx), l1 = new_frame(fx);
	struct vmmu_pv_mmu_update reqs[3] = {
		{slot(l2, 3), entry(l1, P | RW | US)},
		{slot(l2, 4), entry(FOREIGN, P | RW | US)},
		{slot(l2, 5), entry(l1, P | RW | US)},
	};
	uint32_t done = 0;

	pin(fx, 2, l2);
	uint64_t flushes = fx->tp.flushes;
	assert_int_equal(vmmu_pv_mmu_update(&fx->v, reqs, 3, &done,
					    VMMU_PV_DOMID_SELF),
			 -VMMU_EPERM);
	assert_int_equal(done, 1);
	assert_int_equal(fx->tp.flushes, flushes + 1);
	assert_flush_all_domain(fx);
	/* Nothing changed at all: no flush. */
	done = 1;
	assert_int_equal(vmmu_pv_mmu_update(&fx->v, reqs, 3, &done,
					    VMMU_PV_DOMID_SELF),
			 -VMMU_EPERM);
	assert_int_equal(fx->tp.flushes, flushes + 1);
}

static void test_preserve_ad_keeps_hardware_accessed_dirty(void **state)
{
	struct fixture *fx = *state;
	uint64_t a = new_frame(fx), b = new_frame(fx), l1 = new_frame(fx);
	struct vmmu_pv_mmu_update reqs[3] = {
		{slot(l1, 0) | VMMU_PV_MMU_PT_UPDATE_PRESERVE_AD, entry(b, P | US)},
		{slot(l1, 1) | VMMU_PV_MMU_NORMAL_PT_UPDATE, entry(b, P | US)},
		{slot(l1, 2) | VMMU_PV_MMU_PT_UPDATE_PRESERVE_AD,
		 entry(a, P | US | NX)},
	};
	uint32_t done = 0;

	for (unsigned i = 0; i < 3; i++) {
		table(fx, l1)[i] = entry(a, P | US);
	}
	pin(fx, 1, l1);
	/* The hardware walks: A and D set behind the hypervisor's back. */
	table(fx, l1)[0] |= A | D;
	table(fx, l1)[1] |= A | D;
	table(fx, l1)[2] |= A;
	assert_int_equal(vmmu_pv_mmu_update(&fx->v, reqs, 3, &done,
					    VMMU_PV_DOMID_SELF),
			 0);
	assert_int_equal(table(fx, l1)[0], entry(b, P | US | A | D));
	assert_int_equal(table(fx, l1)[1], entry(b, P | US)); /* plain: as given */
	assert_int_equal(table(fx, l1)[2], entry(a, P | US | NX | A));
	assert_refs(fx, a, 2, 0);
	assert_refs(fx, b, 3, 0);
}

/* --- the fast path (XSA-148/XSA-182 class) ------------------------------------------ */

/*
 * After the domain gave frame a up, no new reference to it can be taken:
 * an update that needs one is refused, so one that succeeds took none.
 */
static void test_fast_path_changes_no_references(void **state)
{
	struct fixture *fx = *state;
	uint64_t a = new_frame(fx), l1 = new_frame(fx);
	struct vmmu_pv_mmu_update reqs[2] = {
		{slot(l1, 0), entry(a, P | US | A | D | G | AVL9 | AVL52 | NX)},
		{slot(l1, 1), entry(a, P | RW | A | D)}, /* U/S dropped */
	};
	uint32_t done = 0;

	table(fx, l1)[0] = entry(a, P | US);
	table(fx, l1)[1] = entry(a, P | RW | US);
	pin(fx, 1, l1);
	assert_int_equal(vmmu_ft_release(&fx->ft, a, DOM), 0);
	snapshot(fx);
	assert_int_equal(vmmu_pv_mmu_update(&fx->v, reqs, 2, &done,
					    VMMU_PV_DOMID_SELF),
			 0);
	assert_int_equal(table(fx, l1)[0], reqs[0].val);
	assert_int_equal(table(fx, l1)[1], reqs[1].val);
	assert_counts_restored(fx);
	/* R/W is not a fast-path bit: the full path needs a new reference. */
	assert_int_equal(update1(&fx->v, slot(l1, 0), entry(a, P | US | RW)),
			 -VMMU_EPERM);
	assert_int_equal(table(fx, l1)[0], reqs[0].val);
	assert_counts_restored(fx);
}

/* XSA-182: a read-only mapping of a page table cannot be made writable. */
static void test_rw_flip_of_a_table_mapping_is_refused(void **state)
{
	struct fixture *fx = *state;
	uint64_t pt = new_frame(fx), l1 = new_frame(fx);
	const uint64_t flips[] = {
		entry(pt, P | US | RW),
		entry(pt, P | US | RW | A | D), /* with fast-path bits too */
	};

	pin(fx, 1, pt);
	table(fx, l1)[0] = entry(pt, P | US);
	pin(fx, 1, l1);
	snapshot(fx);
	for (size_t i = 0; i < ARRAY_SIZE(flips); i++) {
		assert_int_equal(update1(&fx->v, slot(l1, 0), flips[i]),
				 -VMMU_EBUSY);
		assert_int_equal(table(fx, l1)[0], entry(pt, P | US));
		assert_counts_restored(fx);
	}
}

/* XSA-182 itself: a read-only recursive L4 entry re-issued with R/W set. */
static void test_rw_flip_of_a_linear_l4_entry_is_refused(void **state)
{
	struct fixture *fx = *state;
	uint64_t l4 = new_frame(fx);

	assert_int_equal(vmmu_pv_domain_init(&fx->d, &fx->ft, &fx->tp.plat, DOM,
					     MAXPHYADDR, NULL, VMMU_PV_LINEAR_PT),
			 0);
	pin(fx, 4, l4);
	assert_int_equal(update1(&fx->v, slot(l4, 100), entry(l4, P | US)), 0);
	snapshot(fx);
	assert_int_equal(update1(&fx->v, slot(l4, 100), entry(l4, P | US | RW)),
			 -VMMU_EINVAL);
	assert_int_equal(update1(&fx->v, slot(l4, 100),
				 entry(l4, P | US | RW | A | D)),
			 -VMMU_EINVAL);
	assert_int_equal(table(fx, l4)[100], entry(l4, P | US));
	assert_counts_restored(fx);
}

/* Fast-path changes are still checked against the level's flag rules. */
static void test_fast_path_still_checks_flags(void **state)
{
	struct fixture *fx = *state;
	uint64_t l2 = new_frame(fx), l1 = new_frame(fx);

	table(fx, l2)[0] = entry(l1, P | RW | US);
	pin(fx, 2, l2);
	snapshot(fx);
	/* G is an L1 bit only: not in an L2 entry, fast path or not. */
	assert_int_equal(update1(&fx->v, slot(l2, 0), entry(l1, P | RW | US | G)),
			 -VMMU_EINVAL);
	assert_int_equal(table(fx, l2)[0], entry(l1, P | RW | US));
	/* An R/W change at L2 takes the full path and keeps the counts. */
	assert_int_equal(update1(&fx->v, slot(l2, 0), entry(l1, P | US | A)), 0);
	assert_int_equal(table(fx, l2)[0], entry(l1, P | US | A));
	assert_counts_restored(fx);
}

/* --- mmu_update: batches --------------------------------------------------------------- */

static void test_first_failure_stops_the_batch(void **state)
{
	struct fixture *fx = *state;
	uint64_t a = new_frame(fx), b = new_frame(fx), l1 = new_frame(fx);
	struct vmmu_pv_mmu_update reqs[4] = {
		{slot(l1, 0), entry(b, P | US)},
		{slot(l1, 1), entry(b, P | US)},
		{slot(l1, 2), entry(FOREIGN, P | US)}, /* not DOM's */
		{slot(l1, 3), entry(b, P | US)},
	};
	uint32_t done = 0;

	for (unsigned i = 0; i < 4; i++) {
		table(fx, l1)[i] = entry(a, P | US);
	}
	pin(fx, 1, l1);
	assert_int_equal(vmmu_pv_mmu_update(&fx->v, reqs, 4, &done,
					    VMMU_PV_DOMID_SELF),
			 -VMMU_EPERM);
	assert_int_equal(done, 2);
	assert_int_equal(table(fx, l1)[0], entry(b, P | US));
	assert_int_equal(table(fx, l1)[1], entry(b, P | US));
	assert_int_equal(table(fx, l1)[2], entry(a, P | US));
	assert_int_equal(table(fx, l1)[3], entry(a, P | US));
	assert_refs(fx, a, 3, 0);
	assert_refs(fx, b, 3, 0);
	assert_refs(fx, FOREIGN, 1, 0);
}

/* XSA-212: a resumed index is checked like a fresh one. */
static void test_resumed_index_beyond_count_is_refused(void **state)
{
	struct fixture *fx = *state;
	uint64_t a = new_frame(fx), l1 = new_frame(fx), l1b = new_frame(fx);
	struct vmmu_pv_mmu_update reqs[4] = {
		{slot(l1, 0), entry(a, P)}, {slot(l1, 1), entry(a, P)},
		{slot(l1, 2), entry(a, P)}, {slot(l1, 3), entry(a, P)},
	};
	struct vmmu_pv_mmuext_op op = {.cmd = VMMU_PV_MMUEXT_PIN_L1_TABLE,
				       .arg1.mfn = l1b};
	uint32_t done = 5;

	pin(fx, 1, l1);
	snapshot(fx);
	assert_int_equal(vmmu_pv_mmu_update(&fx->v, reqs, 4, &done,
					    VMMU_PV_DOMID_SELF),
			 -VMMU_EINVAL);
	done = UINT32_MAX;
	assert_int_equal(vmmu_pv_mmu_update(&fx->v, reqs, 4, &done,
					    VMMU_PV_DOMID_SELF),
			 -VMMU_EINVAL);
	done = 2;
	assert_int_equal(vmmu_pv_mmuext_op(&fx->v, &op, 1, &done,
					   VMMU_PV_DOMID_SELF),
			 -VMMU_EINVAL);
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(table(fx, l1)[i], 0);
	}
	assert_counts_restored(fx);
	/* done == count: a finished call, nothing more to apply. */
	done = 4;
	assert_int_equal(vmmu_pv_mmu_update(&fx->v, reqs, 4, &done,
					    VMMU_PV_DOMID_SELF),
			 0);
	assert_int_equal(done, 4);
	assert_int_equal(table(fx, l1)[0], 0);
	assert_counts_restored(fx);
}

/* --- mmu_update: commands and targets ------------------------------------------------ */

/*
 * MACHPHYS (without an M2P table: vmmu_pv_domain_set_m2p not called) and
 * 4..7 are refused; XSA-227: ptr|1 is a command, not a write at +1.
 */
static void test_commands_other_than_pt_updates_are_refused(void **state)
{
	struct fixture *fx = *state;
	uint64_t a = new_frame(fx), l1 = new_frame(fx), plain = new_frame(fx);
	uint8_t before[4096], plain_before[4096];

	table(fx, l1)[0] = entry(a, P | US);
	table(fx, plain)[0] = 0x1122334455667788ull;
	pin(fx, 1, l1);
	snapshot(fx);
	memcpy(before, table(fx, l1), sizeof(before));
	memcpy(plain_before, table(fx, plain), sizeof(plain_before));
	for (uint64_t cmd = 1; cmd <= 7; cmd++) {
		if (cmd == 2 || cmd == 3) {
			continue;
		}
		assert_int_equal(update1(&fx->v, slot(l1, 0) | cmd, entry(a, P)),
				 -VMMU_ENOTSUP);
		assert_int_equal(update1(&fx->v, slot(plain, 0) | cmd, ~0ull),
				 -VMMU_ENOTSUP);
	}
	assert_memory_equal(table(fx, l1), before, sizeof(before));
	assert_memory_equal(table(fx, plain), plain_before, sizeof(plain_before));
	assert_counts_restored(fx);
	/* NO_TRANSLATE (3) is a checked update like NORMAL. */
	assert_int_equal(update1(&fx->v, slot(l1, 1) | 3, entry(FOREIGN, P)),
			 -VMMU_EPERM);
	assert_int_equal(update1(&fx->v, slot(l1, 1) | 3, entry(a, P)), 0);
	assert_refs(fx, a, 3, 0);
}

/* XSA-167: a frame number is checked before any frame record is read. */
static void test_mfn_beyond_the_frame_table_is_refused(void **state)
{
	struct fixture *fx = *state;
	const uint64_t ptrs[] = {
		(uint64_t)NFRAMES << 12,
		((uint64_t)NFRAMES + 100) << 12,
		0xfffffffffffff000ull,
		(1ull << 52) | 8,
	};
	const uint32_t ext_cmds[] = {
		VMMU_PV_MMUEXT_PIN_L1_TABLE, VMMU_PV_MMUEXT_PIN_L4_TABLE,
		VMMU_PV_MMUEXT_UNPIN_TABLE, VMMU_PV_MMUEXT_NEW_BASEPTR,
		VMMU_PV_MMUEXT_NEW_USER_BASEPTR,
	};

	snapshot(fx);
	for (size_t i = 0; i < ARRAY_SIZE(ptrs); i++) {
		assert_int_equal(update1(&fx->v, ptrs[i], 0), -VMMU_EINVAL);
		for (size_t j = 0; j < ARRAY_SIZE(ext_cmds); j++) {
			assert_int_equal(ext1(&fx->v, ext_cmds[j], ptrs[i] >> 12),
					 -VMMU_EINVAL);
		}
	}
	assert_counts_restored(fx);
	assert_int_equal(vmmu_pv_vcpu_base(&fx->v), 0);
	assert_int_equal(vmmu_pv_vcpu_user_base(&fx->v), 0);
}

static void test_foreigndom_must_be_self(void **state)
{
	struct fixture *fx = *state;
	uint64_t a = new_frame(fx), l1 = new_frame(fx);
	struct vmmu_pv_mmu_update r = {slot(l1, 0), entry(a, P)};
	struct vmmu_pv_mmuext_op op = {.cmd = VMMU_PV_MMUEXT_TLB_FLUSH_ALL};
	const uint32_t bad[] = {
		VMMU_PV_DOMID_IO, VMMU_PV_DOMID_XEN, OTHER_DOM, 0,
		((OTHER_DOM + 1u) << 16) | VMMU_PV_DOMID_SELF,
	};
	const uint32_t good[] = {
		VMMU_PV_DOMID_SELF, DOM, ((DOM + 1u) << 16) | VMMU_PV_DOMID_SELF,
	};
	uint32_t done;

	pin(fx, 1, l1);
	uint64_t flushes = fx->tp.flushes;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		done = 0;
		assert_int_equal(vmmu_pv_mmu_update(&fx->v, &r, 1, &done, bad[i]),
				 -VMMU_EPERM);
		assert_int_equal(vmmu_pv_mmuext_op(&fx->v, &op, 1, &done, bad[i]),
				 -VMMU_EPERM);
		assert_int_equal(done, 0);
	}
	assert_int_equal(table(fx, l1)[0], 0);
	assert_int_equal(fx->tp.flushes, flushes);
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		done = 0;
		r.val = i % 2 == 0 ? entry(a, P) : 0;
		assert_int_equal(vmmu_pv_mmu_update(&fx->v, &r, 1, &done, good[i]),
				 0);
		assert_int_equal(done, 1);
		assert_int_equal(table(fx, l1)[0], r.val);
	}
}

static void test_other_domains_frames_cannot_be_written(void **state)
{
	struct fixture *fx = *state;
	uint64_t their_l1 = FOREIGN, their_plain = FOREIGN - 1;
	uint64_t a = new_frame(fx);

	memset(table(fx, their_l1), 0, 4096);
	table(fx, their_plain)[0] = 42;
	assert_int_equal(vmmu_pv_table_get(&fx->d2, their_l1, 1), 0);
	snapshot(fx);
	assert_int_equal(update1(&fx->v, slot(their_l1, 0), entry(a, P)),
			 -VMMU_EPERM);
	assert_int_equal(update1(&fx->v, slot(their_plain, 0), 7), -VMMU_EPERM);
	assert_int_equal(update1(&fx->v, slot(0, 0), 7), -VMMU_EPERM); /* nobody's */
	assert_int_equal(table(fx, their_l1)[0], 0);
	assert_int_equal(table(fx, their_plain)[0], 42);
	assert_counts_restored(fx);
}

/* A guest may not write the hypervisor's L4 slots. */
static void test_reserved_l4_slots_cannot_be_updated(void **state)
{
	struct fixture *fx = *state;
	uint64_t reserved[8] = {0};
	uint64_t l4 = new_frame(fx), l3 = new_frame(fx);

	reserved[256 / 64] = 0xffffull; /* 256..271, as Xen */
	assert_int_equal(vmmu_pv_domain_init(&fx->d, &fx->ft, &fx->tp.plat, DOM,
					     MAXPHYADDR, reserved, 0),
			 0);
	pin(fx, 4, l4);
	snapshot(fx);
	assert_int_equal(update1(&fx->v, slot(l4, 260), entry(l3, P | RW | US)),
			 -VMMU_EINVAL);
	assert_int_equal(update1(&fx->v, slot(l4, 260), 0), -VMMU_EINVAL);
	assert_int_equal(table(fx, l4)[260], 0);
	assert_counts_restored(fx);
	assert_int_equal(update1(&fx->v, slot(l4, 255), entry(l3, P | RW | US)), 0);
}

/* --- plain stores and validated tables ------------------------------------------------ */

static void test_store_to_a_non_table_is_a_plain_write(void **state)
{
	struct fixture *fx = *state;
	uint64_t plain = new_frame(fx), mapped = new_frame(fx);
	uint64_t l1 = new_frame(fx);
	const uint64_t junk = entry(FOREIGN, P | RW | PWT) | (1ull << 51);

	table(fx, l1)[0] = entry(mapped, P | RW | US); /* mapped writable */
	pin(fx, 1, l1);
	snapshot(fx);
	assert_int_equal(update1(&fx->v, slot(plain, 5), junk), 0);
	assert_int_equal(update1(&fx->v, slot(mapped, 9), junk), 0);
	assert_int_equal(table(fx, plain)[5], junk);
	assert_int_equal(table(fx, mapped)[9], junk);
	assert_counts_restored(fx); /* no reference for what was written */
	assert_int_equal(info(fx, mapped).type, VMMU_FTYPE_WRITABLE);
	assert_int_equal(fx->fl.n, 0);
}

static void test_store_to_a_validated_table_is_checked(void **state)
{
	struct fixture *fx = *state;
	uint64_t data = new_frame(fx), l1 = new_frame(fx), l2 = new_frame(fx);
	uint64_t l1x = new_frame(fx);

	table(fx, l1)[0] = entry(data, P | RW | US);
	table(fx, l2)[0] = entry(l1x, P | RW | US);
	pin(fx, 1, l1);
	pin(fx, 2, l2);
	/* l1x is a table now (validated under l2, not pinned). */
	snapshot(fx);
	assert_int_equal(update1(&fx->v, slot(l1x, 5), entry(FOREIGN, P)),
			 -VMMU_EPERM);
	assert_int_equal(update1(&fx->v, slot(l1, 5), entry(data, P | PWT)),
			 -VMMU_EINVAL);
	/* In an L2 the L2 rules apply: data is mapped writable, so no L1. */
	assert_int_equal(update1(&fx->v, slot(l2, 1), entry(data, P | RW | US)),
			 -VMMU_EBUSY);
	assert_int_equal(update1(&fx->v, slot(l2, 1), entry(l1x, P | RW | PS)),
			 -VMMU_EINVAL);
	assert_int_equal(table(fx, l1x)[5], 0);
	assert_int_equal(table(fx, l1)[5], 0);
	assert_int_equal(table(fx, l2)[1], 0);
	assert_counts_restored(fx);
	/* And a good one goes in with its reference. */
	assert_int_equal(update1(&fx->v, slot(l1x, 5), entry(data, P | US)), 0);
	assert_refs(fx, data, 3, 1);
}

/* --- preemption ---------------------------------------------------------------------- */

struct frame_state {
	uint64_t entries[4];
	struct vmmu_frame_info info[NFRAMES];
};

static void capture(struct fixture *fx, uint64_t l1, struct frame_state *s)
{
	memcpy(s->entries, table(fx, l1), sizeof(s->entries));
	for (uint64_t mfn = 0; mfn < NFRAMES; mfn++) {
		s->info[mfn] = info(fx, mfn);
	}
}

static void assert_same_state(const struct frame_state *x,
			      const struct frame_state *y)
{
	assert_memory_equal(x->entries, y->entries, sizeof(x->entries));
	for (uint64_t mfn = 0; mfn < NFRAMES; mfn++) {
		const struct vmmu_frame_info *a = &x->info[mfn], *b = &y->info[mfn];
		if (a->count != b->count || a->type_count != b->type_count ||
		    a->type != b->type || a->validated != b->validated ||
		    a->pinned != b->pinned || a->partial != b->partial) {
			fail_msg("frame %llu differs", (unsigned long long)mfn);
		}
	}
}

static void run_batch_to_end(struct fixture *fx,
			     const struct vmmu_pv_mmu_update *reqs, uint32_t n,
			     unsigned *restarts)
{
	uint32_t done = 0;
	int rc;

	while ((rc = vmmu_pv_mmu_update(&fx->v, reqs, n, &done,
					VMMU_PV_DOMID_SELF)) == -VMMU_ERESTART) {
		(*restarts)++;
		assert_int_equal(done, *restarts); /* one request per call */
	}
	assert_int_equal(rc, 0);
	assert_int_equal(done, n);
}

static void test_preempted_batch_continues_to_the_same_result(void **state)
{
	struct fixture *fx = *state;
	uint64_t a = new_frame(fx), b = new_frame(fx), l1 = new_frame(fx);
	const struct vmmu_pv_mmu_update fwd[4] = {
		{slot(l1, 0), entry(b, P | RW | US)}, {slot(l1, 1), entry(a, P)},
		{slot(l1, 2), 0}, {slot(l1, 3), entry(b, P | US)},
	};
	const struct vmmu_pv_mmu_update back[4] = {
		{slot(l1, 0), entry(a, P | RW | US)}, {slot(l1, 1), 0},
		{slot(l1, 2), entry(a, P | RW | US)}, {slot(l1, 3), 0},
	};
	struct frame_state *preempted = calloc(1, sizeof(*preempted));
	struct frame_state *straight = calloc(1, sizeof(*straight));
	unsigned restarts = 0;

	assert_non_null(preempted);
	assert_non_null(straight);
	table(fx, l1)[0] = entry(a, P | RW | US);
	table(fx, l1)[2] = entry(a, P | RW | US);
	pin(fx, 1, l1);
	fx->tp.yield = true;
	run_batch_to_end(fx, fwd, 4, &restarts);
	fx->tp.yield = false;
	assert_int_equal(restarts, 3);
	capture(fx, l1, preempted);
	run_batch_to_end(fx, back, 4, &restarts);
	restarts = 0;
	run_batch_to_end(fx, fwd, 4, &restarts);
	assert_int_equal(restarts, 0);
	capture(fx, l1, straight);
	assert_same_state(preempted, straight);
	free(preempted);
	free(straight);
}

/* --- mmuext_op: pins ---------------------------------------------------------------- */

static void test_pin_validates_each_level_and_unpin_restores(void **state)
{
	struct fixture *fx = *state;
	uint64_t data = new_frame(fx), l1 = new_frame(fx);
	uint64_t l4, tables[4];

	table(fx, l1)[0] = entry(data, P | RW | US);
	l4 = make_tree(fx, l1, 0);
	tables[0] = l1;
	tables[3] = l4;
	tables[2] = table(fx, l4)[0] >> 12;
	tables[1] = table(fx, tables[2])[0] >> 12;
	snapshot(fx);
	for (unsigned level = 1; level <= 4; level++) {
		uint64_t t = tables[level - 1];
		assert_int_equal(ext1(&fx->v, VMMU_PV_MMUEXT_PIN_L1_TABLE + level - 1,
				      t),
				 0);
		assert_true(info(fx, t).pinned);
		assert_true(info(fx, t).validated);
		assert_int_equal(info(fx, t).type, level);
	}
	assert_refs(fx, l1, 3, 2); /* its pin and the L2 entry */
	assert_refs(fx, data, 2, 1);
	for (unsigned level = 4; level >= 1; level--) {
		assert_int_equal(ext1(&fx->v, VMMU_PV_MMUEXT_UNPIN_TABLE,
				      tables[level - 1]),
				 0);
		assert_false(info(fx, tables[level - 1]).pinned);
	}
	assert_false(info(fx, l1).validated);
	assert_counts_restored(fx);
}

static void test_pin_is_not_nested_and_unpin_needs_a_pin(void **state)
{
	struct fixture *fx = *state;
	uint64_t l1 = new_frame(fx), l2 = new_frame(fx), plain = new_frame(fx);

	table(fx, l2)[0] = entry(l1, P | RW | US);
	pin(fx, 2, l2);
	snapshot(fx);
	assert_int_equal(ext1(&fx->v, VMMU_PV_MMUEXT_PIN_L2_TABLE, l2),
			 -VMMU_EINVAL);
	assert_counts_restored(fx);
	/* Validated (under l2) but not pinned; and a plain frame. */
	assert_int_equal(ext1(&fx->v, VMMU_PV_MMUEXT_UNPIN_TABLE, l1),
			 -VMMU_EINVAL);
	assert_int_equal(ext1(&fx->v, VMMU_PV_MMUEXT_UNPIN_TABLE, plain),
			 -VMMU_EINVAL);
	/* A table of another level. */
	assert_int_equal(ext1(&fx->v, VMMU_PV_MMUEXT_PIN_L3_TABLE, l2),
			 -VMMU_EBUSY);
	assert_counts_restored(fx);
	assert_true(info(fx, l2).pinned);
}

static void test_other_domain_cannot_pin_or_unpin(void **state)
{
	struct fixture *fx = *state;
	uint64_t l1 = new_frame(fx), free_l1 = new_frame(fx);

	pin(fx, 1, l1);
	snapshot(fx);
	assert_int_equal(ext1(&fx->v2, VMMU_PV_MMUEXT_UNPIN_TABLE, l1),
			 -VMMU_EPERM);
	assert_int_equal(ext1(&fx->v2, VMMU_PV_MMUEXT_PIN_L1_TABLE, free_l1),
			 -VMMU_EPERM);
	assert_int_equal(ext1(&fx->v, VMMU_PV_MMUEXT_PIN_L1_TABLE, FOREIGN),
			 -VMMU_EPERM);
	assert_true(info(fx, l1).pinned);
	assert_counts_restored(fx);
}

static void test_pin_and_unpin_of_a_big_tree_under_preemption(void **state)
{
	struct fixture *fx = *state;
	uint64_t data = new_frame(fx);
	uint64_t l4 = make_wide(fx, 4, 3, data);
	unsigned restarts;

	snapshot(fx);
	fx->tp.yield = true;
	restarts = 0;
	struct vmmu_pv_mmuext_op op = {.cmd = VMMU_PV_MMUEXT_PIN_L4_TABLE,
				       .arg1.mfn = l4};
	uint32_t done = 0;
	int rc;
	while ((rc = vmmu_pv_mmuext_op(&fx->v, &op, 1, &done,
				       VMMU_PV_DOMID_SELF)) == -VMMU_ERESTART) {
		restarts++;
		assert_int_equal(done, 0);
		assert_int_equal(fx->v.pending_partial, l4);
		assert_true(info(fx, l4).partial);
		assert_true(restarts < 100000);
	}
	assert_int_equal(rc, 0);
	assert_int_equal(done, 1);
	assert_true(restarts > 3);
	assert_true(info(fx, l4).pinned);
	assert_no_pending(&fx->v);
	assert_refs(fx, data, 1 + 27 * 3, 0); /* 27 L1s, 3 entries each */
	restarts = ext_finish(&fx->v, VMMU_PV_MMUEXT_UNPIN_TABLE, l4);
	assert_true(restarts > 3);
	assert_no_pending(&fx->v);
	fx->tp.yield = false;
	assert_counts_restored(fx);
}

/* An unpin parked on the vCPU: the re-entered call (done == count) finishes it. */
static void test_parked_unpin_finishes_in_the_next_call(void **state)
{
	struct fixture *fx = *state;
	uint64_t data = new_frame(fx);
	uint64_t l4 = make_wide(fx, 4, 2, data);
	struct vmmu_pv_mmuext_op op = {.cmd = VMMU_PV_MMUEXT_UNPIN_TABLE,
				       .arg1.mfn = l4};
	uint32_t done = 0;

	snapshot(fx);
	pin(fx, 4, l4);
	fx->tp.yield = true;
	assert_int_equal(vmmu_pv_mmuext_op(&fx->v, &op, 1, &done,
					   VMMU_PV_DOMID_SELF),
			 -VMMU_ERESTART);
	assert_int_equal(done, 1);
	assert_int_equal(fx->v.pending_put[0], l4);
	assert_false(info(fx, l4).pinned);
	fx->tp.yield = false;
	/* Any next hypercall of the vCPU finishes it first. */
	assert_int_equal(ext1(&fx->v, VMMU_PV_MMUEXT_TLB_FLUSH_LOCAL, 0), 0);
	assert_no_pending(&fx->v);
	assert_counts_restored(fx);
}

/* --- mmuext_op: base pointers ----------------------------------------------------------- */

static void test_new_baseptr_holds_one_l4_reference(void **state)
{
	struct fixture *fx = *state;
	uint64_t data = new_frame(fx);
	uint64_t l1a = new_frame(fx), l1b = new_frame(fx);
	uint64_t t1, t2;

	table(fx, l1a)[0] = entry(data, P | RW | US);
	t1 = make_tree(fx, l1a, 1);
	t2 = make_tree(fx, l1b, 2);
	snapshot(fx);
	assert_int_equal(ext1(&fx->v, VMMU_PV_MMUEXT_NEW_BASEPTR, t1), 0);
	assert_int_equal(vmmu_pv_vcpu_base(&fx->v), t1);
	assert_true(info(fx, t1).validated);
	assert_true(info(fx, l1a).validated);
	assert_refs(fx, t1, 2, 1);
	/* The same base again: a reload, no second reference. */
	assert_int_equal(ext1(&fx->v, VMMU_PV_MMUEXT_NEW_BASEPTR, t1), 0);
	assert_refs(fx, t1, 2, 1);
	/* Switching releases the old tree. */
	assert_int_equal(ext1(&fx->v, VMMU_PV_MMUEXT_NEW_BASEPTR, t2), 0);
	assert_int_equal(vmmu_pv_vcpu_base(&fx->v), t2);
	assert_refs(fx, t1, 1, 0);
	assert_false(info(fx, l1a).validated);
	assert_refs(fx, data, 1, 0);
	/* No kernel base at all, a foreign one, a non-L4: refused, kept. */
	assert_int_equal(ext1(&fx->v, VMMU_PV_MMUEXT_NEW_BASEPTR, 0),
			 -VMMU_EINVAL);
	assert_int_equal(ext1(&fx->v, VMMU_PV_MMUEXT_NEW_BASEPTR, FOREIGN),
			 -VMMU_EPERM);
	pin(fx, 1, l1a);
	assert_int_equal(ext1(&fx->v, VMMU_PV_MMUEXT_NEW_BASEPTR, l1a),
			 -VMMU_EBUSY);
	unpin(fx, l1a);
	assert_int_equal(vmmu_pv_vcpu_base(&fx->v), t2);
	release_vcpu(&fx->v);
	assert_int_equal(vmmu_pv_vcpu_base(&fx->v), 0);
	assert_counts_restored(fx);
}

static void test_user_baseptr_zero_means_none(void **state)
{
	struct fixture *fx = *state;
	uint64_t kern = make_tree(fx, new_frame(fx), 0);
	uint64_t user = make_tree(fx, new_frame(fx), 0);

	snapshot(fx);
	assert_int_equal(ext1(&fx->v, VMMU_PV_MMUEXT_NEW_USER_BASEPTR, 0), 0);
	assert_int_equal(vmmu_pv_vcpu_user_base(&fx->v), 0);
	assert_int_equal(ext1(&fx->v, VMMU_PV_MMUEXT_NEW_USER_BASEPTR, user), 0);
	assert_int_equal(vmmu_pv_vcpu_user_base(&fx->v), user);
	assert_int_equal(vmmu_pv_vcpu_base(&fx->v), 0);
	assert_refs(fx, user, 2, 1);
	assert_int_equal(ext1(&fx->v, VMMU_PV_MMUEXT_NEW_USER_BASEPTR, 0), 0);
	assert_int_equal(vmmu_pv_vcpu_user_base(&fx->v), 0);
	assert_counts_restored(fx);
	/* Both, then vCPU teardown drops both. */
	assert_int_equal(ext1(&fx->v, VMMU_PV_MMUEXT_NEW_BASEPTR, kern), 0);
	assert_int_equal(ext1(&fx->v, VMMU_PV_MMUEXT_NEW_USER_BASEPTR, user), 0);
	release_vcpu(&fx->v);
	assert_int_equal(vmmu_pv_vcpu_base(&fx->v), 0);
	assert_int_equal(vmmu_pv_vcpu_user_base(&fx->v), 0);
	assert_counts_restored(fx);
}

/* Teardown in the middle of a preempted pin gives up the partial reference too. */
static void test_vcpu_release_drops_bases_and_partial_state(void **state)
{
	struct fixture *fx = *state;
	uint64_t data = new_frame(fx);
	uint64_t base = make_wide(fx, 4, 2, data);
	uint64_t other = make_wide(fx, 4, 2, data);

	snapshot(fx);
	assert_int_equal(ext1(&fx->v, VMMU_PV_MMUEXT_NEW_BASEPTR, base), 0);
	fx->tp.yield = true;
	assert_int_equal(ext1(&fx->v, VMMU_PV_MMUEXT_PIN_L4_TABLE, other),
			 -VMMU_ERESTART);
	assert_int_equal(fx->v.pending_partial, other);
	unsigned calls = 1;
	while (vmmu_pv_vcpu_release(&fx->v) == -VMMU_ERESTART) {
		calls++;
		assert_true(calls < 100000);
	}
	fx->tp.yield = false;
	assert_no_pending(&fx->v);
	assert_int_equal(vmmu_pv_vcpu_base(&fx->v), 0);
	assert_counts_restored(fx);
}

/* --- mmuext_op: flushes and the rest -------------------------------------------------- */

static void test_local_and_all_flushes(void **state)
{
	struct fixture *fx = *state;
	struct vmmu_pv_vcpu v70;

	assert_int_equal(vmmu_pv_vcpu_init(&v70, &fx->d, 70), 0);
	assert_int_equal(ext1(&v70, VMMU_PV_MMUEXT_TLB_FLUSH_LOCAL, 0), 0);
	assert_int_equal(fx->fl.n, 1);
	assert_int_equal(fx->fl.req.scope, VMMU_TLB_ALL_NONGLOBAL);
	assert_int_equal(fx->fl.req.cpu_mask_words, 2);
	assert_int_equal(fx->fl.mask[0], 0);
	assert_int_equal(fx->fl.mask[1], 1ull << 6);
	assert_int_equal(ext1(&fx->v, VMMU_PV_MMUEXT_TLB_FLUSH_ALL, 0), 0);
	assert_int_equal(fx->fl.n, 2);
	assert_flush_all_domain(fx);
	assert_int_equal(ext1(&fx->v, VMMU_PV_MMUEXT_INVLPG_LOCAL,
			      0x7f0000001234ull),
			 0);
	assert_int_equal(fx->fl.req.scope, VMMU_TLB_RANGE);
	assert_int_equal(fx->fl.req.addr, 0x7f0000001000ull);
	assert_int_equal(fx->fl.req.size, 4096);
	assert_flush_local(fx);
	assert_int_equal(ext1(&fx->v, VMMU_PV_MMUEXT_INVLPG_ALL,
			      0xffff800000002000ull),
			 0);
	assert_int_equal(fx->fl.req.scope, VMMU_TLB_RANGE);
	assert_int_equal(fx->fl.req.addr, 0xffff800000002000ull);
	assert_true(fx->fl.null_mask);
	assert_int_equal(fx->fl.n, 4);
}

/* XSA-279: INVLPG of a non-canonical address succeeds and flushes nothing. */
static void test_invlpg_of_a_noncanonical_address_is_ignored(void **state)
{
	struct fixture *fx = *state;
	const uint64_t bad[] = {0x0000800000000000ull, 0x8000000000000000ull,
				0xffff7fffffffffffull, 0x00ff000000001000ull};
	struct vmmu_pv_mmuext_op ops[3] = {
		{.cmd = VMMU_PV_MMUEXT_TLB_FLUSH_LOCAL},
		{.cmd = VMMU_PV_MMUEXT_INVLPG_ALL, .arg1.linear_addr = bad[0]},
		{.cmd = VMMU_PV_MMUEXT_TLB_FLUSH_ALL},
	};
	uint32_t done = 0;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(ext1(&fx->v, VMMU_PV_MMUEXT_INVLPG_LOCAL, bad[i]), 0);
		assert_int_equal(ext1(&fx->v, VMMU_PV_MMUEXT_INVLPG_ALL, bad[i]), 0);
	}
	assert_int_equal(fx->fl.n, 0);
	assert_int_equal(vmmu_pv_mmuext_op(&fx->v, ops, 3, &done,
					   VMMU_PV_DOMID_SELF),
			 0);
	assert_int_equal(done, 3);
	assert_int_equal(fx->fl.n, 2);
}

/* The multi forms count as unsupported here: the domain has no guest ops. */
static void test_unsupported_mmuext_commands(void **state)
{
	struct fixture *fx = *state;
	const uint32_t cmds[] = {
		VMMU_PV_MMUEXT_TLB_FLUSH_MULTI, VMMU_PV_MMUEXT_INVLPG_MULTI,
		VMMU_PV_MMUEXT_FLUSH_CACHE, VMMU_PV_MMUEXT_SET_LDT, 14,
		VMMU_PV_MMUEXT_CLEAR_PAGE, VMMU_PV_MMUEXT_COPY_PAGE,
		VMMU_PV_MMUEXT_FLUSH_CACHE_GLOBAL, VMMU_PV_MMUEXT_MARK_SUPER,
		VMMU_PV_MMUEXT_UNMARK_SUPER, 21, UINT32_MAX,
	};
	uint64_t l1 = new_frame(fx);

	snapshot(fx);
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++) {
		struct vmmu_pv_mmuext_op ops[2] = {
			{.cmd = cmds[i], .arg1.mfn = l1},
			{.cmd = VMMU_PV_MMUEXT_PIN_L1_TABLE, .arg1.mfn = l1},
		};
		uint32_t done = 0;
		assert_int_equal(vmmu_pv_mmuext_op(&fx->v, ops, 2, &done,
						   VMMU_PV_DOMID_SELF),
				 -VMMU_ENOTSUP);
		assert_int_equal(done, 0);
	}
	assert_int_equal(fx->fl.n, 0);
	assert_counts_restored(fx);
}

/* --- update_va_mapping ------------------------------------------------------------------- */

#define UVA_IDX 1u
#define UVA_I1 4u

/* A base tree mapping tree_va(UVA_IDX, UVA_I1) to a, writable; returns the L1. */
static uint64_t uva_setup(struct fixture *fx, uint64_t a)
{
	uint64_t l1 = new_frame(fx);

	table(fx, l1)[UVA_I1] = entry(a, P | RW | US);
	assert_int_equal(ext1(&fx->v, VMMU_PV_MMUEXT_NEW_BASEPTR,
			      make_tree(fx, l1, UVA_IDX)),
			 0);
	return l1;
}

static void test_update_va_mapping_moves_refs_and_flushes(void **state)
{
	struct fixture *fx = *state;
	uint64_t a = new_frame(fx), b = new_frame(fx);
	uint64_t l1 = uva_setup(fx, a);
	uint64_t va = tree_va(UVA_IDX, UVA_I1);

	assert_refs(fx, a, 2, 1);
	assert_int_equal(vmmu_pv_update_va_mapping(&fx->v, va + 0x123,
						   entry(b, P | RW | US),
						   VMMU_PV_UVMF_INVLPG),
			 0);
	assert_int_equal(table(fx, l1)[UVA_I1], entry(b, P | RW | US));
	assert_refs(fx, a, 1, 0);
	assert_refs(fx, b, 2, 1);
	assert_int_equal(fx->fl.n, 1);
	assert_int_equal(fx->fl.req.scope, VMMU_TLB_RANGE);
	assert_int_equal(fx->fl.req.addr, va);
	assert_int_equal(fx->fl.req.size, 4096);
	assert_flush_local(fx);
	assert_int_equal(vmmu_pv_update_va_mapping(
				 &fx->v, va, entry(a, P | US),
				 VMMU_PV_UVMF_TLB_FLUSH | VMMU_PV_UVMF_ALL),
			 0);
	assert_refs(fx, a, 2, 0);
	assert_refs(fx, b, 1, 0);
	assert_int_equal(fx->fl.n, 2);
	assert_flush_all_domain(fx);
	assert_int_equal(vmmu_pv_update_va_mapping(&fx->v, va, 0,
						   VMMU_PV_UVMF_NONE),
			 0);
	assert_int_equal(fx->fl.n, 2);
	assert_refs(fx, a, 1, 0);
}

/* XSA-279: a refused update flushes nothing. */
static void test_refused_update_va_mapping_flushes_nothing(void **state)
{
	struct fixture *fx = *state;
	uint64_t a = new_frame(fx);
	uint64_t l1 = uva_setup(fx, a);
	uint64_t va = tree_va(UVA_IDX, UVA_I1);
	const struct {
		uint64_t va, val;
		int rc;
	} cases[] = {
		{va, entry(FOREIGN, P | US), -VMMU_EPERM},
		{va, entry(l1, P | RW | US), -VMMU_EBUSY}, /* its own L1, RW */
		{va, entry(a, P | US | PWT), -VMMU_EINVAL},
		{va | (1ull << 47), entry(a, P), -VMMU_EINVAL}, /* non-canonical */
		{0x8000000000000000ull | va, entry(a, P), -VMMU_EINVAL},
		{tree_va(UVA_IDX + 1, UVA_I1), entry(a, P), -VMMU_ENOENT},
		{va + (1ull << 21), entry(a, P), -VMMU_ENOENT}, /* no L1 there */
	};
	const uint64_t flags[] = {
		VMMU_PV_UVMF_INVLPG, VMMU_PV_UVMF_TLB_FLUSH | VMMU_PV_UVMF_ALL,
	};

	snapshot(fx);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		for (size_t f = 0; f < ARRAY_SIZE(flags); f++) {
			int rc = vmmu_pv_update_va_mapping(&fx->v, cases[i].va,
							   cases[i].val, flags[f]);
			if (rc != cases[i].rc) {
				fail_msg("case %zu: rc %d, want %d", i, rc,
					 cases[i].rc);
			}
		}
	}
	assert_int_equal(fx->fl.n, 0);
	assert_int_equal(table(fx, l1)[UVA_I1], entry(a, P | RW | US));
	assert_counts_restored(fx);
}

/* Without guest ops a vCPU bitmap cannot be read: refused, nothing done. */
static void test_update_va_mapping_refuses_a_vcpu_bitmap(void **state)
{
	struct fixture *fx = *state;
	uint64_t a = new_frame(fx);
	uint64_t l1 = uva_setup(fx, a);
	uint64_t va = tree_va(UVA_IDX, UVA_I1);

	snapshot(fx);
	assert_int_equal(vmmu_pv_update_va_mapping(&fx->v, va, 0,
						   0x7f0000010000ull |
							   VMMU_PV_UVMF_INVLPG),
			 -VMMU_ENOTSUP);
	assert_int_equal(table(fx, l1)[UVA_I1], entry(a, P | RW | US));
	assert_int_equal(fx->fl.n, 0);
	assert_counts_restored(fx);
}

/*
 * BUG (mmu/pv_ops.c find_l1, reported to the lead): update_va_mapping must
 * refuse a va in the hypervisor's L4 slots (Xen: -EINVAL, the va is not
 * the guest's) instead of walking the embedder's own tables. Here the
 * hypervisor's slot 260 leads, through its L3, to one of the guest's L1s,
 * and the walk updates it. With an embedder entry the platform cannot map,
 * the same walk panics (VMMU_CHECK t != NULL in find_l1): a guest-triggered
 * crash.
 */
static void test_update_va_mapping_refuses_hypervisor_slots(void **state)
{
	struct fixture *fx = *state;
	uint64_t reserved[8] = {0};
	uint64_t a = new_frame(fx), l1 = new_frame(fx), l2 = new_frame(fx);
	uint64_t l4 = new_frame(fx), xen_l3 = FOREIGN - 2;
	const uint64_t va = 0xffff820000000000ull; /* slot 260, entry 0 below */

	reserved[256 / 64] = 0xffffull;
	assert_int_equal(vmmu_pv_domain_init(&fx->d, &fx->ft, &fx->tp.plat, DOM,
					     MAXPHYADDR, reserved, 0),
			 0);
	table(fx, l2)[0] = entry(l1, P | RW);
	pin(fx, 2, l2);
	memset(table(fx, xen_l3), 0, 4096);
	table(fx, xen_l3)[0] = entry(l2, P | RW); /* the hypervisor's tables */
	table(fx, l4)[260] = entry(xen_l3, P | RW);
	assert_int_equal(ext1(&fx->v, VMMU_PV_MMUEXT_NEW_BASEPTR, l4), 0);
	snapshot(fx);
	assert_int_equal(vmmu_pv_update_va_mapping(&fx->v, va, entry(a, P | US),
						   VMMU_PV_UVMF_INVLPG),
			 -VMMU_EINVAL);
	assert_int_equal(table(fx, l1)[0], 0);
	assert_int_equal(fx->fl.n, 0);
	assert_counts_restored(fx);
}

/* An L3 update whose new L2 tree validates over several calls. */
static void test_preempted_l3_update_retries_the_same_request(void **state)
{
	struct fixture *fx = *state;
	uint64_t data = new_frame(fx), l3 = new_frame(fx);
	uint64_t l2 = make_wide(fx, 2, 3, data);
	struct vmmu_pv_mmu_update r = {slot(l3, 7), entry(l2, P | RW | US)};
	uint32_t done = 0;
	unsigned restarts = 0;
	int rc;

	pin(fx, 3, l3);
	fx->tp.yield = true;
	while ((rc = vmmu_pv_mmu_update(&fx->v, &r, 1, &done,
					VMMU_PV_DOMID_SELF)) == -VMMU_ERESTART) {
		restarts++;
		assert_int_equal(done, 0);
		assert_int_equal(fx->v.pending_partial, l2);
		assert_int_equal(table(fx, l3)[7], 0);
		assert_int_equal(fx->fl.n, 0); /* nothing changed yet */
		assert_true(restarts < 100000);
	}
	fx->tp.yield = false;
	assert_int_equal(rc, 0);
	assert_int_equal(done, 1);
	assert_true(restarts > 1);
	assert_no_pending(&fx->v);
	assert_int_equal(table(fx, l3)[7], r.val);
	assert_refs(fx, l2, 2, 1);
	assert_refs(fx, data, 1 + 9, 0);
	assert_int_equal(fx->fl.n, 1);
	assert_flush_all_domain(fx);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_l1_update_moves_refs_and_requests_no_flush),
		T(test_l2_updates_flush_once_per_call),
		T(test_l2_update_flushes_even_when_the_call_stops_early),
		T(test_preserve_ad_keeps_hardware_accessed_dirty),
		T(test_fast_path_changes_no_references),
		T(test_rw_flip_of_a_table_mapping_is_refused),
		T(test_rw_flip_of_a_linear_l4_entry_is_refused),
		T(test_fast_path_still_checks_flags),
		T(test_first_failure_stops_the_batch),
		T(test_resumed_index_beyond_count_is_refused),
		T(test_commands_other_than_pt_updates_are_refused),
		T(test_mfn_beyond_the_frame_table_is_refused),
		T(test_foreigndom_must_be_self),
		T(test_other_domains_frames_cannot_be_written),
		T(test_reserved_l4_slots_cannot_be_updated),
		T(test_store_to_a_non_table_is_a_plain_write),
		T(test_store_to_a_validated_table_is_checked),
		T(test_preempted_batch_continues_to_the_same_result),
		T(test_preempted_l3_update_retries_the_same_request),
		T(test_pin_validates_each_level_and_unpin_restores),
		T(test_pin_is_not_nested_and_unpin_needs_a_pin),
		T(test_other_domain_cannot_pin_or_unpin),
		T(test_pin_and_unpin_of_a_big_tree_under_preemption),
		T(test_parked_unpin_finishes_in_the_next_call),
		T(test_new_baseptr_holds_one_l4_reference),
		T(test_user_baseptr_zero_means_none),
		T(test_vcpu_release_drops_bases_and_partial_state),
		T(test_local_and_all_flushes),
		T(test_invlpg_of_a_noncanonical_address_is_ignored),
		T(test_unsupported_mmuext_commands),
		T(test_update_va_mapping_moves_refs_and_flushes),
		T(test_refused_update_va_mapping_flushes_nothing),
		T(test_update_va_mapping_refuses_a_vcpu_bitmap),
		T(test_update_va_mapping_refuses_hypervisor_slots),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
