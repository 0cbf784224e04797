/* SPDX-License-Identifier: MIT */
/*
 * The shadow backend of the batch queue (include/vmmu/batch_shadow.h):
 * guest page-table updates queued in lazy mode on per-vCPU queues and
 * flushed into a shadow instance. Checked: after a flush the shadow
 * translates exactly as the guest tables now say (the old translations
 * are gone); a run of writes is one engine call and at most one TLB-flush
 * request; refusals stop at the exact entry with the ones before applied
 * and none after; flushes, INVLPG and new bases reach the vCPUs they
 * target; PTE_UPDATE_AD keeps the A/D bits the shadow walker set.
 *
 * "Hardware" is vmmu_walk over the shadow tables in the host mode the
 * shadow assumes; hw_access() resolves an access the way an embedder's
 * #PF handler would, and expect_like_guest() compares the result with a
 * walk of the guest tables composed with the p2m.
 */
#include <stdlib.h>
#include <string.h>

#include <vmmu/batch_shadow.h>

#include "test_platform.h"
#include "unit_check.h"

#define X_P BIT(0)
#define X_W BIT(1)
#define X_U BIT(2)
#define X_A BIT(5)
#define X_D BIT(6)
#define X_TABLE (X_P | X_W | X_U)
#define X_RW_LEAF (X_P | X_W | X_U | X_A | X_D)

#define NCPU 4u
#define NPAGES 64u   /* 4K pages mapped at va 0.. in every address space */
#define SLOTS 256u   /* per queue: a run of NPAGES fits */
#define HOST_OFF 0x100000ull
#define DATA_GFN 0x1000ull /* data frames: p2m'd, never read */

static int p2m(void *ctx, uint64_t gfn, uint64_t *hfn)
{
	(void)ctx;
	*hfn = gfn + HOST_OFF;
	return VMMU_P2M_RAM;
}

static const struct vmmu_shadow_ops ops = {.p2m = p2m};

/* One guest address space: va i * 4K -> gfn base + i, i < NPAGES. */
struct space {
	uint64_t pml4, pdpt, pd, pt;
	uint64_t base;
};

struct env {
	struct test_platform host, guest;
	struct vmmu_fmt fmt;
	struct vmmu_cpu_state cpu;
	struct vmmu_shadow sh;
	struct vmmu_shadow_page pages[128];
	struct vmmu_shadow_vcpu v[NCPU];
	struct vmmu_shadow_vcpu *vp[NCPU];
	uint64_t cr3[NCPU];    /* what each vCPU should have loaded */
	struct space as[NCPU]; /* vCPU k starts on as[k] */
	struct vmmu_walker hw; /* hardware on the shadow tables */
	struct vmmu_walker gw; /* reference walk of the guest tables */
	struct vmmu_batch_shadow bs;
	struct vmmu_shadow_store scratch[NPAGES];
	struct vmmu_batch_cpu q[NCPU + 1]; /* q[NCPU]: a CPU with no vCPU */
	struct vmmu_batch_entry slots[NCPU + 1][SLOTS];
};

static uint64_t gtab(struct env *e)
{
	uint64_t pa = test_platform_zeroed_frame(&e->guest);

	assert_true(pa != 0);
	return pa;
}

#define gslot(e, table, idx) test_platform_slot(&(e)->guest, (table), (idx))

static void make_space(struct env *e, struct space *s, uint64_t base,
		       uint64_t leaf_flags)
{
	s->pml4 = gtab(e);
	s->pdpt = gtab(e);
	s->pd = gtab(e);
	s->pt = gtab(e);
	s->base = base;
	*gslot(e, s->pml4, 0) = s->pdpt | X_TABLE;
	*gslot(e, s->pdpt, 0) = s->pd | X_TABLE;
	*gslot(e, s->pd, 0) = s->pt | X_TABLE;
	for (unsigned i = 0; i < NPAGES; i++) {
		*gslot(e, s->pt, i) = ((base + i) << 12) | leaf_flags;
	}
}

/* scratch_cap 0: the backend gathers writes on its stack. */
static struct env *env_new(uint32_t scratch_cap, uint64_t leaf_flags)
{
	struct env *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	test_platform_init(&e->host, 256);
	test_platform_init(&e->guest, 64);
	assert_int_equal(vmmu_fmt_init_x86(&e->fmt, 4, 46, VMMU_FMT_F_1G), 0);
	assert_int_equal(vmmu_shadow_init(&e->sh, &e->fmt, &e->host.plat, &ops,
					  NULL, e->pages, 128), 0);
	e->cpu = long_mode_cpu(4);
	for (unsigned k = 0; k < NCPU; k++) {
		make_space(e, &e->as[k], DATA_GFN + 0x100 * k, leaf_flags);
		e->cr3[k] = e->as[k].pml4;
		assert_int_equal(vmmu_shadow_vcpu_init(&e->v[k], &e->sh, &e->fmt,
						       &e->guest.plat, &e->cpu,
						       e->cr3[k]), 0);
		e->vp[k] = &e->v[k];
	}
	assert_int_equal(vmmu_walker_init(&e->hw, &e->fmt, &e->host.plat, &e->cpu), 0);
	assert_int_equal(vmmu_walker_init(&e->gw, &e->fmt, &e->guest.plat, &e->cpu), 0);
	assert_int_equal(vmmu_batch_shadow_init(&e->bs, &e->sh, e->vp, NCPU,
						scratch_cap ? e->scratch : NULL,
						scratch_cap), 0);
	for (unsigned k = 0; k <= NCPU; k++) {
		assert_int_equal(vmmu_batch_cpu_init(&e->q[k], k, e->slots[k], SLOTS,
						     &e->bs.backend), 0);
		vmmu_batch_lazy_enter(&e->q[k]);
	}
	return e;
}

static void env_free(struct env *e)
{
	for (unsigned k = 0; k <= NCPU; k++) {
		CHECK_EQ(vmmu_batch_pending(&e->q[k]), 0);
	}
	for (unsigned k = 0; k < NCPU; k++) {
		vmmu_shadow_vcpu_destroy(&e->v[k]);
	}
	vmmu_shadow_destroy(&e->sh);
	CHECK_EQ(e->host.live, 0);
	test_platform_fini(&e->host);
	test_platform_fini(&e->guest);
	free(e);
}

/* --- hardware and the reference ---------------------------------------------- */

#define GRANTED 0
#define INJECT (1 + VMMU_SHADOW_INJECT)

struct hw_result {
	int how;       /* GRANTED, 1 + enum vmmu_shadow_outcome, or rc < 0 */
	uint32_t pfec;
	uint64_t addr; /* GRANTED: host-physical address */
};

/* The shadow leaf for va is there now: hardware would not fault. */
static bool shadow_maps(struct env *e, unsigned cpu, uint64_t va)
{
	uint64_t root;
	struct vmmu_walk sw;

	assert_int_equal(vmmu_shadow_root(&e->v[cpu], &root), 0);
	return vmmu_walk(&e->hw, root, va, VMMU_ACC_PEEK, &sw) == VMMU_WALK_OK;
}

static struct hw_result hw_access(struct env *e, unsigned cpu, uint64_t va,
				  uint32_t acc)
{
	struct hw_result r = {0};

	for (unsigned i = 0; i < 4; i++) {
		uint64_t root;
		struct vmmu_walk sw;
		struct vmmu_shadow_result res;
		assert_int_equal(vmmu_shadow_root(&e->v[cpu], &root), 0);
		if (vmmu_walk(&e->hw, root, va, acc | VMMU_ACC_PEEK, &sw) == VMMU_WALK_OK) {
			r.addr = sw.addr;
			return r;
		}
		int rc = vmmu_shadow_fault(&e->v[cpu], va, acc, &res);
		if (rc < 0 || res.outcome != VMMU_SHADOW_FIXED) {
			r.how = rc < 0 ? rc : 1 + (int)res.outcome;
			r.pfec = res.pfec;
			return r;
		}
	}
	fail_msg("va %#llx: fault said FIXED but the shadow still faults",
		 (unsigned long long)va);
	return r;
}

/* va on cpu behaves as the guest tables under cr3[cpu] say (read, write). */
static void expect_like_guest(struct env *e, unsigned cpu, uint64_t va)
{
	static const uint32_t accs[] = {VMMU_ACC_READ, VMMU_ACC_WRITE};

	for (unsigned a = 0; a < 2; a++) {
		struct vmmu_walk gw;
		int g = vmmu_walk(&e->gw, e->cr3[cpu], va, accs[a] | VMMU_ACC_PEEK, &gw);
		struct hw_result r = hw_access(e, cpu, va, accs[a]);
		WHERE("cpu %u va %#llx access %u", cpu, (unsigned long long)va, accs[a]);
		if (g == VMMU_WALK_OK) {
			CHECK_EQ(r.how, GRANTED);
			CHECK_EQ(r.addr, gw.addr + (HOST_OFF << 12));
		} else {
			CHECK_EQ(g, VMMU_WALK_PF);
			CHECK_EQ(r.how, INJECT);
			CHECK_EQ(r.pfec, gw.pfec);
		}
	}
	WHERE("-");
}

static void fault_all(struct env *e, unsigned cpu)
{
	for (unsigned i = 0; i < NPAGES; i++) {
		CHECK_EQ(hw_access(e, cpu, i * PAGE, VMMU_ACC_WRITE).how, GRANTED);
	}
}

static struct vmmu_batch_entry pte(uint64_t ptr, unsigned level, uint64_t val)
{
	return (struct vmmu_batch_entry){.kind = VMMU_BATCH_PTE_WRITE,
					 .level = (uint8_t)level, .ptr = ptr,
					 .val = val};
}

/* What a guest does after changing entries: flush its own TLB. */
static void guest_tlb_flush(struct env *e, unsigned cpu)
{
	assert_int_equal(vmmu_batch_tlb_flush(&e->q[cpu], VMMU_BATCH_LOCAL, NULL, 0), 0);
	assert_int_equal(vmmu_batch_flush(&e->q[cpu]), 0);
}

/* --- writes -------------------------------------------------------------------- */

/*
 * A run of writes over a live shadow: one engine call and at most one
 * TLB-flush request (none is allowed when the engine defers to the
 * guest's own flush), and after the guest's TLB flush every page
 * translates as the new guest entries say.
 */
static void test_run_reaches_shadow(void **state)
{
	struct env *e = env_new(NPAGES, X_RW_LEAF);
	struct space *s = &e->as[0];
	(void)state;

	fault_all(e, 0);
	uint64_t flushes = e->host.flushes;
	for (unsigned i = 0; i < NPAGES; i++) {
		/* Odd pages move to another frame read-only, even ones go away. */
		uint64_t val = (i & 1) ? ((0x3000ull + i) << 12) | X_P | X_U | X_A : 0;
		assert_int_equal(vmmu_batch_pte_write(&e->q[0], s->pt + 8 * i, 1, val), 0);
	}
	/* Lazy: nothing reached the guest or the shadow yet. */
	CHECK_EQ(*gslot(e, s->pt, 1), ((s->base + 1) << 12) | X_RW_LEAF);
	assert_true(shadow_maps(e, 0, PAGE));
	CHECK_EQ(e->bs.submits, 0);
	assert_int_equal(vmmu_batch_flush(&e->q[0]), 0);
	CHECK_EQ(e->bs.submits, 1);
	CHECK_EQ(e->bs.write_calls, 1);
	CHECK_EQ(e->bs.stores, NPAGES);
	assert_true(e->host.flushes - flushes <= 1);
	CHECK_EQ(*gslot(e, s->pt, 1), ((0x3000ull + 1) << 12) | X_P | X_U | X_A);
	CHECK_EQ(*gslot(e, s->pt, 2), 0);
	guest_tlb_flush(e, 0);
	for (unsigned i = 0; i < NPAGES; i++) {
		expect_like_guest(e, 0, i * PAGE);
	}
	env_free(e);
}

/* Upper levels: a PD entry switched to another PT retargets every page. */
static void test_upper_level_write(void **state)
{
	struct env *e = env_new(NPAGES, X_RW_LEAF);
	(void)state;

	fault_all(e, 0);
	assert_int_equal(vmmu_batch_pte_write(&e->q[0], e->as[0].pd, 2,
					      e->as[1].pt | X_TABLE), 0);
	guest_tlb_flush(e, 0);
	for (unsigned i = 0; i < NPAGES; i += 7) {
		struct hw_result r = hw_access(e, 0, i * PAGE + 0x18, 0);
		CHECK_EQ(r.how, GRANTED);
		CHECK_EQ(r.addr, ((e->as[1].base + i + HOST_OFF) << 12) | 0x18);
		expect_like_guest(e, 0, i * PAGE);
	}
	env_free(e);
}

/* Without scratch: 32 writes per engine call, in order across the seams. */
static void test_stack_chunks(void **state)
{
	struct env *e = env_new(0, X_RW_LEAF);
	struct space *s = &e->as[0];
	const unsigned n = 100;
	(void)state;

	fault_all(e, 0);
	uint64_t flushes = e->host.flushes;
	for (unsigned i = 0; i < n; i++) {
		/* Entry i % NPAGES; entry 31 is written at i = 31 and i = 95,
		 * entry 32 at i = 32 and i = 96 (both sides of a seam). */
		uint64_t val = ((0x4000ull + i) << 12) | X_P | X_U | X_A;
		assert_int_equal(vmmu_batch_pte_write(&e->q[0], s->pt + 8 * (i % NPAGES),
						      1, val), 0);
	}
	assert_int_equal(vmmu_batch_flush(&e->q[0]), 0);
	CHECK_EQ(e->bs.write_calls, (n + VMMU_BATCH_SHADOW_STACK_STORES - 1) /
					    VMMU_BATCH_SHADOW_STACK_STORES);
	CHECK_EQ(e->bs.stores, n);
	assert_true(e->host.flushes - flushes <= e->bs.write_calls);
	CHECK_EQ(*gslot(e, s->pt, 31), ((0x4000ull + 95) << 12) | X_P | X_U | X_A);
	CHECK_EQ(*gslot(e, s->pt, 32), ((0x4000ull + 96) << 12) | X_P | X_U | X_A);
	CHECK_EQ(*gslot(e, s->pt, 40), ((0x4000ull + 40) << 12) | X_P | X_U | X_A);
	guest_tlb_flush(e, 0);
	for (unsigned i = 0; i < NPAGES; i++) {
		expect_like_guest(e, 0, i * PAGE);
	}
	env_free(e);
}

/* PTE_UPDATE_AD keeps the A/D bits the shadow's guest walk set; a plain
 * PTE_WRITE does not. */
static void test_preserve_ad(void **state)
{
	struct env *e = env_new(NPAGES, X_P | X_W | X_U);
	struct space *s = &e->as[0];
	(void)state;

	CHECK_EQ(hw_access(e, 0, 0, VMMU_ACC_WRITE).how, GRANTED);
	CHECK_EQ(hw_access(e, 0, PAGE, VMMU_ACC_WRITE).how, GRANTED);
	CHECK_EQ(hw_access(e, 0, 2 * PAGE, VMMU_ACC_READ).how, GRANTED);
	CHECK_EQ(*gslot(e, s->pt, 0), (s->base << 12) | X_P | X_W | X_U | X_A | X_D);
	CHECK_EQ(*gslot(e, s->pt, 2), ((s->base + 2) << 12) | X_P | X_W | X_U | X_A);
	/* Write-protect all three (a fork's parent side). */
	for (unsigned i = 0; i < 2; i++) {
		assert_int_equal(vmmu_batch_pte_update_ad(&e->q[0], s->pt + 8 * i, 1,
							  ((s->base + i) << 12) | X_P | X_U), 0);
	}
	assert_int_equal(vmmu_batch_pte_write(&e->q[0], s->pt + 16, 1,
					      ((s->base + 2) << 12) | X_P | X_U), 0);
	assert_int_equal(vmmu_batch_flush(&e->q[0]), 0);
	CHECK_EQ(*gslot(e, s->pt, 0), (s->base << 12) | X_P | X_U | X_A | X_D);
	CHECK_EQ(*gslot(e, s->pt, 1), ((s->base + 1) << 12) | X_P | X_U | X_A | X_D);
	CHECK_EQ(*gslot(e, s->pt, 2), ((s->base + 2) << 12) | X_P | X_U);
	guest_tlb_flush(e, 0);
	for (unsigned i = 0; i < 3; i++) {
		expect_like_guest(e, 0, i * PAGE);
	}
	env_free(e);
}

/* --- refusals ------------------------------------------------------------------ */

/*
 * Queue entries good..., bad, good... on cpu 0 and flush: the flush fails
 * with rc at the bad one; the ones before are applied (guest memory, and
 * the shadow after the guest's TLB flush), the ones after are not (guest
 * memory and translation unchanged).
 */
static void refuse_at(struct env *e, const struct vmmu_batch_entry *bad,
		      unsigned before, unsigned after, int rc)
{
	struct space *s = &e->as[0];
	const uint64_t moved = X_P | X_U | X_A;

	uint64_t bad_seq = 0;

	fault_all(e, 0);
	for (unsigned i = 0; i < before + after; i++) {
		if (i == before) {
			bad_seq = vmmu_batch_next_seq(&e->q[0]);
			assert_int_equal(vmmu_batch_queue(&e->q[0], bad), 0);
		}
		assert_int_equal(vmmu_batch_pte_write(&e->q[0], s->pt + 8 * i, 1,
						      ((0x5000ull + i) << 12) | moved), 0);
	}
	uint64_t stores = e->bs.stores;
	assert_int_equal(vmmu_batch_flush(&e->q[0]), rc);
	struct vmmu_batch_error err = vmmu_batch_last_error(&e->q[0]);
	CHECK_EQ(err.rc, rc);
	CHECK_EQ(err.seq, bad_seq);
	CHECK_EQ(err.kind, bad->kind);
	CHECK_EQ(err.dropped, 1 + after);
	CHECK_EQ(e->bs.stores - stores, before);
	CHECK_EQ(vmmu_batch_pending(&e->q[0]), 0);
	assert_int_equal(vmmu_shadow_flush_tlb(&e->v[0]), 0);
	for (unsigned i = 0; i < before + after; i++) {
		WHERE("entry %u (refused one after %u)", i, before);
		uint64_t gfn = i < before ? 0x5000ull + i : s->base + i;
		CHECK_EQ(*gslot(e, s->pt, i),
			 (gfn << 12) | (i < before ? moved : X_RW_LEAF));
		CHECK_EQ(hw_access(e, 0, i * PAGE, 0).addr, (gfn + HOST_OFF) << 12);
		expect_like_guest(e, 0, i * PAGE);
	}
}

/* Misaligned by 4, and by 1: the low bit must not pass for the engine's
 * PRESERVE_AD flag on an aligned entry. */
static void test_refuse_misaligned(void **state)
{
	(void)state;
	for (unsigned off = 1; off <= 4; off += 3) {
		struct env *e = env_new(NPAGES, X_RW_LEAF);
		struct vmmu_batch_entry bad = pte(e->as[0].pt + 8 * 7 + off, 1, 0);
		refuse_at(e, &bad, 5, 3, -VMMU_EALIGN);
		env_free(e);
	}
}

/* Outside guest memory, inside the second gather of a small scratch: the
 * engine's own *done places the refusal. */
static void test_refuse_outside_memory(void **state)
{
	struct env *e = env_new(4, X_RW_LEAF);
	struct vmmu_batch_entry bad = pte(e->guest.frames * PAGE + 8, 1, 0);
	(void)state;

	refuse_at(e, &bad, 6, 3, -VMMU_EFAULT);
	CHECK_EQ(e->bs.write_calls, 2); /* [0..4), [4..6) + the refused one */
	env_free(e);
}

static void test_refuse_bad_level_and_kind(void **state)
{
	static const uint8_t levels[] = {0, 5};
	(void)state;

	for (unsigned k = 0; k < 2; k++) {
		struct env *e = env_new(NPAGES, X_RW_LEAF);
		struct vmmu_batch_entry bad = pte(e->as[0].pt + 8 * 50, levels[k], 0);
		refuse_at(e, &bad, 2, 2, -VMMU_EINVAL);
		env_free(e);
	}
	struct env *e = env_new(NPAGES, X_RW_LEAF);
	struct vmmu_batch_entry bad = {.kind = 42, .ptr = e->as[0].pt + 8 * 50};
	refuse_at(e, &bad, 3, 1, -VMMU_EINVAL);
	env_free(e);
}

static void test_refuse_other_kinds(void **state)
{
	(void)state;
	struct env *e = env_new(NPAGES, X_RW_LEAF);
	struct vmmu_batch_entry user = {.kind = VMMU_BATCH_NEW_USER_BASE,
					.ptr = e->as[1].pml4};
	refuse_at(e, &user, 4, 2, -VMMU_ENOTSUP);
	env_free(e);

	/* A MASK naming a vCPU the backend lacks: no vCPU is flushed. */
	e = env_new(NPAGES, X_RW_LEAF);
	struct vmmu_batch_entry mask = {.kind = VMMU_BATCH_INVLPG,
					.target = VMMU_BATCH_MASK,
					.val = BIT(0) | BIT(NCPU), .ptr = 60 * PAGE};
	refuse_at(e, &mask, 4, 2, -VMMU_EINVAL);
	CHECK_EQ(e->bs.flush_calls, 0);
	env_free(e);

	e = env_new(NPAGES, X_RW_LEAF);
	mask.mask_word = 1;
	mask.val = BIT(0);
	refuse_at(e, &mask, 1, 1, -VMMU_EINVAL);
	env_free(e);

	e = env_new(NPAGES, X_RW_LEAF);
	struct vmmu_batch_entry target = {.kind = VMMU_BATCH_TLB_FLUSH, .target = 7};
	refuse_at(e, &target, 1, 1, -VMMU_EINVAL);
	env_free(e);

	/* A CR3 with reserved bits (beyond MAXPHYADDR 46). */
	e = env_new(NPAGES, X_RW_LEAF);
	struct vmmu_batch_entry base = {.kind = VMMU_BATCH_NEW_BASE, .ptr = BIT(47)};
	refuse_at(e, &base, 2, 2, -VMMU_EINVAL);
	env_free(e);
}

/* A queue whose CPU has no vCPU in the backend: its first entry is refused. */
static void test_refuse_unknown_cpu(void **state)
{
	struct env *e = env_new(NPAGES, X_RW_LEAF);
	struct vmmu_batch_cpu *q = &e->q[NCPU];
	(void)state;

	assert_int_equal(vmmu_batch_pte_write(q, e->as[0].pt, 1, 0), 0);
	assert_int_equal(vmmu_batch_flush(q), -VMMU_EINVAL);
	CHECK_EQ(vmmu_batch_last_error(q).dropped, 1);
	CHECK_EQ(*gslot(e, e->as[0].pt, 0), (e->as[0].base << 12) | X_RW_LEAF);
	env_free(e);
}

/* --- targets ------------------------------------------------------------------- */

/* Every vCPU has its own tables: an INVLPG drops only its targets' leaves. */
static void check_invlpg(struct env *e, unsigned from, uint8_t target,
			 uint64_t mask, unsigned expect_dropped)
{
	const uint64_t va = 9 * PAGE;

	for (unsigned k = 0; k < NCPU; k++) {
		CHECK_EQ(hw_access(e, k, va, 0).how, GRANTED);
	}
	uint64_t flushes = e->host.flushes;
	assert_int_equal(vmmu_batch_invlpg(&e->q[from], va, target, &mask, 1), 0);
	assert_int_equal(vmmu_batch_flush(&e->q[from]), 0);
	CHECK_EQ(e->host.flushes - flushes, (uint64_t)__builtin_popcount(expect_dropped));
	CHECK_EQ(e->host.last_flush.scope, VMMU_TLB_RANGE);
	CHECK_EQ(e->host.last_flush.addr, va);
	for (unsigned k = 0; k < NCPU; k++) {
		WHERE("invlpg from %u target %u: vCPU %u", from, target, k);
		CHECK_EQ(shadow_maps(e, k, va), !((expect_dropped >> k) & 1));
	}
}

static void test_invlpg_targets(void **state)
{
	struct env *e = env_new(NPAGES, X_RW_LEAF);
	(void)state;

	check_invlpg(e, 2, VMMU_BATCH_LOCAL, 0, 1u << 2);
	check_invlpg(e, 1, VMMU_BATCH_MASK, BIT(0) | BIT(3), 0x9);
	check_invlpg(e, 0, VMMU_BATCH_ALL, 0, 0xf);
	CHECK_EQ(e->bs.flush_calls, 1 + 2 + NCPU);
	env_free(e);
}

static void test_tlb_flush_targets(void **state)
{
	struct env *e = env_new(NPAGES, X_RW_LEAF);
	uint64_t mask = BIT(1) | BIT(2) | BIT(3);
	(void)state;

	uint64_t flushes = e->host.flushes;
	assert_int_equal(vmmu_batch_tlb_flush(&e->q[3], VMMU_BATCH_LOCAL, NULL, 0), 0);
	assert_int_equal(vmmu_batch_tlb_flush(&e->q[3], VMMU_BATCH_ALL, NULL, 0), 0);
	assert_int_equal(vmmu_batch_tlb_flush(&e->q[3], VMMU_BATCH_MASK, &mask, 1), 0);
	assert_int_equal(vmmu_batch_flush(&e->q[3]), 0);
	CHECK_EQ(e->bs.flush_calls, 1 + NCPU + 3);
	CHECK_EQ(e->host.flushes - flushes, 1 + NCPU + 3);
	env_free(e);
}

/* NEW_BASE switches the submitting vCPU only; PIN/UNPIN change nothing;
 * NEW_USER_BASE of 0 is accepted. */
static void test_new_base_and_pins(void **state)
{
	struct env *e = env_new(NPAGES, X_RW_LEAF);
	(void)state;

	for (unsigned k = 0; k < NCPU; k++) {
		fault_all(e, k);
	}
	assert_int_equal(vmmu_batch_pin(&e->q[1], e->as[3].pml4 >> 12, 4), 0);
	assert_int_equal(vmmu_batch_unpin(&e->q[1], e->as[0].pt >> 12), 0);
	assert_int_equal(vmmu_batch_new_base(&e->q[1], e->as[3].pml4 >> 12, false), 0);
	assert_int_equal(vmmu_batch_new_base(&e->q[1], 0, true), 0);
	assert_int_equal(vmmu_batch_flush(&e->q[1]), 0);
	e->cr3[1] = e->as[3].pml4;
	CHECK_EQ(e->bs.flush_calls, 0);
	for (unsigned k = 0; k < NCPU; k++) {
		struct hw_result r = hw_access(e, k, 5 * PAGE, 0);
		unsigned space = k == 1 ? 3 : k;
		WHERE("vCPU %u", k);
		CHECK_EQ(r.addr, (e->as[space].base + 5 + HOST_OFF) << 12);
		expect_like_guest(e, k, 5 * PAGE);
	}
	env_free(e);
}

/* --- set-up -------------------------------------------------------------------- */

static void test_init_args(void **state)
{
	struct env *e = env_new(NPAGES, X_RW_LEAF);
	struct vmmu_batch_shadow bs;
	struct vmmu_shadow other;
	struct vmmu_shadow_page opages[8];
	(void)state;

	CHECK_EQ(vmmu_batch_shadow_init(NULL, &e->sh, e->vp, NCPU, NULL, 0), -VMMU_EINVAL);
	CHECK_EQ(vmmu_batch_shadow_init(&bs, NULL, e->vp, NCPU, NULL, 0), -VMMU_EINVAL);
	CHECK_EQ(vmmu_batch_shadow_init(&bs, &e->sh, NULL, NCPU, NULL, 0), -VMMU_EINVAL);
	CHECK_EQ(vmmu_batch_shadow_init(&bs, &e->sh, e->vp, 0, NULL, 0), -VMMU_EINVAL);
	CHECK_EQ(vmmu_batch_shadow_init(&bs, &e->sh, e->vp, NCPU, NULL, 4), -VMMU_EINVAL);
	CHECK_EQ(vmmu_batch_shadow_init(&bs, &e->sh, e->vp, NCPU, e->scratch, 0),
		 -VMMU_EINVAL);
	/* A vCPU of another instance. */
	assert_int_equal(vmmu_shadow_init(&other, &e->fmt, &e->host.plat, &ops, NULL,
					  opages, 8), 0);
	CHECK_EQ(vmmu_batch_shadow_init(&bs, &other, e->vp, NCPU, NULL, 0), -VMMU_EINVAL);
	e->vp[2] = NULL;
	CHECK_EQ(vmmu_batch_shadow_init(&bs, &e->sh, e->vp, NCPU, NULL, 0), -VMMU_EINVAL);
	e->vp[2] = &e->v[2];
	CHECK_EQ(vmmu_batch_shadow_init(&bs, &e->sh, e->vp, NCPU, NULL, 0), 0);
	CHECK_EQ(bs.levels, 4);
	vmmu_shadow_destroy(&other);
	env_free(e);
}

/* The lock hooks bracket every submit. */
static unsigned g_locked, g_lock_calls;

static void lock(void *ctx)
{
	CHECK_EQ(g_locked, 0);
	g_locked = 1;
	g_lock_calls += ctx == &g_locked;
}

static void unlock(void *ctx)
{
	(void)ctx;
	CHECK_EQ(g_locked, 1);
	g_locked = 0;
}

static void test_lock_hooks(void **state)
{
	struct env *e = env_new(NPAGES, X_RW_LEAF);
	(void)state;

	e->bs.lock = lock;
	e->bs.unlock = unlock;
	e->bs.lock_ctx = &g_locked;
	assert_int_equal(vmmu_batch_pte_write(&e->q[2], e->as[2].pt, 1, 0), 0);
	assert_int_equal(vmmu_batch_lazy_leave(&e->q[2]), 0);
	/* Outside lazy mode: applied at once, one submit each. */
	assert_int_equal(vmmu_batch_tlb_flush(&e->q[2], VMMU_BATCH_ALL, NULL, 0), 0);
	CHECK_EQ(g_lock_calls, 2);
	CHECK_EQ(e->bs.submits, 2);
	CHECK_EQ(g_locked, 0);
	env_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_run_reaches_shadow),
		cmocka_unit_test(test_upper_level_write),
		cmocka_unit_test(test_stack_chunks),
		cmocka_unit_test(test_preserve_ad),
		cmocka_unit_test(test_refuse_misaligned),
		cmocka_unit_test(test_refuse_outside_memory),
		cmocka_unit_test(test_refuse_bad_level_and_kind),
		cmocka_unit_test(test_refuse_other_kinds),
		cmocka_unit_test(test_refuse_unknown_cpu),
		cmocka_unit_test(test_invlpg_targets),
		cmocka_unit_test(test_tlb_flush_targets),
		cmocka_unit_test(test_new_base_and_pins),
		cmocka_unit_test(test_init_args),
		cmocka_unit_test(test_lock_hooks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
