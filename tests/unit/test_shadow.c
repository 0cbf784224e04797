/* SPDX-License-Identifier: MIT */
/*
 * Shadow paging unit tests: the six hand-written regression cases of
 * kvm-unit-tests x86/access.c (shared/reference/shadow-paging.md §3),
 * then the API: fills, A/D emulation, write zaps, tracking, MMIO, absent
 * frames, the pool limit, INVLPG, bad arguments, two instances.
 *
 * Guest tables are written by hand with SDM bit positions. "Hardware" is
 * vmmu_walk over the shadow tables in the host mode the shadow assumes
 * (CR0.WP=1, EFER.NXE=1, guest SMEP/SMAP); hw_access() resolves an access
 * the way an embedder's #PF handler would.
 */
#include <stdlib.h>
#include <string.h>

#include <vmmu/shadow.h>

#include "test_platform.h"
#include "unit_check.h"

#define X_P BIT(0)
#define X_W BIT(1)
#define X_U BIT(2)
#define X_A BIT(5)
#define X_D BIT(6)
#define X_PS BIT(7)
#define X_XD BIT(63)
#define X_TABLE (X_P | X_W | X_U)

#define HOST_OFF 0x100000ull
#define MMIO_GFN 0x5000ull
#define ABSENT_GFN 0x6000ull
#define SWAP_GFN 0x7000ull

static int p2m(void *ctx, uint64_t gfn, uint64_t *hfn)
{
	(void)ctx;
	if (gfn == MMIO_GFN) {
		return VMMU_P2M_MMIO;
	}
	if (gfn >= ABSENT_GFN && gfn < ABSENT_GFN + 0x200) {
		return VMMU_P2M_ABSENT;
	}
	/* A 2M region the host backs with its frames paired out of order. */
	bool swap = gfn >= SWAP_GFN + 2 && gfn < SWAP_GFN + 0x200;
	*hfn = (swap ? gfn ^ 1 : gfn) + HOST_OFF;
	return VMMU_P2M_RAM;
}

static const struct vmmu_shadow_ops ops = {.p2m = p2m};

struct env {
	struct test_platform host, guest;
	struct vmmu_fmt fmt;
	struct vmmu_shadow sh;
	struct vmmu_shadow_page pages[64];
	struct vmmu_shadow_vcpu v;
	struct vmmu_walker hw; /* hardware on the shadow tables */
	struct vmmu_cpu_state cpu;
	uint64_t pml4;
};

static uint64_t gtab(struct env *e)
{
	uint64_t pa = test_platform_zeroed_frame(&e->guest);

	assert_true(pa != 0);
	return pa;
}

#define gslot(e, table, idx) test_platform_slot(&(e)->guest, (table), (idx))

static void set_cpu(struct env *e, bool wp, bool smep, bool smap)
{
	e->cpu = long_mode_cpu(4);
	e->cpu.cr0 = wp ? e->cpu.cr0 : (e->cpu.cr0 & ~VMMU_CR0_WP);
	e->cpu.cr4 |= (smep ? VMMU_CR4_SMEP : 0) | (smap ? VMMU_CR4_SMAP : 0);
	struct vmmu_cpu_state h = e->cpu;
	h.cr0 |= VMMU_CR0_WP;
	assert_int_equal(vmmu_shadow_set_cpu(&e->v, &e->cpu), 0);
	assert_int_equal(vmmu_walker_set_cpu(&e->hw, &h), 0);
}

static struct env *env_new(uint32_t max_pages)
{
	struct env *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	test_platform_init(&e->host, 256);
	test_platform_init(&e->guest, 1024); /* 4 MiB: gfn 0x200.. is a 2M region */
	assert_int_equal(vmmu_fmt_init_x86(&e->fmt, 4, 46, VMMU_FMT_F_1G), 0);
	assert_int_equal(vmmu_shadow_init(&e->sh, &e->fmt, &e->host.plat, &ops,
					  NULL, e->pages, max_pages), 0);
	e->pml4 = gtab(e);
	e->cpu = long_mode_cpu(4);
	assert_int_equal(vmmu_shadow_vcpu_init(&e->v, &e->sh, &e->fmt,
					       &e->guest.plat, &e->cpu, e->pml4), 0);
	assert_int_equal(vmmu_walker_init(&e->hw, &e->fmt, &e->host.plat, &e->cpu), 0);
	return e;
}

/* The engine's own bookkeeping is consistent (vmmu_shadow_audit). */
static void audit_clean(struct vmmu_shadow *sh)
{
	uint32_t *scratch = calloc(sh->max_pages, sizeof(*scratch));

	assert_non_null(scratch);
	assert_int_equal(vmmu_shadow_audit(sh, scratch), 0);
	free(scratch);
}

static void env_free(struct env *e)
{
	audit_clean(&e->sh);
	vmmu_shadow_vcpu_destroy(&e->v);
	vmmu_shadow_destroy(&e->sh);
	CHECK_EQ(e->host.live, 0);
	test_platform_fini(&e->host);
	test_platform_fini(&e->guest);
	free(e);
}

/* What an access came to. */
struct hw_result {
	int how;       /* 0 granted, else 1 + enum vmmu_shadow_outcome, or rc < 0 */
	uint32_t pfec; /* injected error code */
	uint64_t addr; /* granted: host-physical address; MMIO: gpa */
	unsigned fills;
};

#define GRANTED 0
#define INJECT (1 + VMMU_SHADOW_INJECT)
#define MMIO (1 + VMMU_SHADOW_MMIO)
#define EMULATE (1 + VMMU_SHADOW_EMULATE)

static struct hw_result hw_access(struct env *e, uint64_t va, uint32_t acc)
{
	struct hw_result r = {0};

	for (unsigned i = 0; i < 4; i++) {
		uint64_t root;
		struct vmmu_walk sw;
		struct vmmu_shadow_result res;
		assert_int_equal(vmmu_shadow_root(&e->v, &root), 0);
		if (vmmu_walk(&e->hw, root, va, acc | VMMU_ACC_PEEK, &sw) == VMMU_WALK_OK) {
			r.how = GRANTED;
			r.addr = sw.addr;
			return r;
		}
		int rc = vmmu_shadow_fault(&e->v, va, acc, &res);
		if (rc < 0) {
			r.how = rc;
			return r;
		}
		if (res.outcome != VMMU_SHADOW_FIXED) {
			r.how = 1 + (int)res.outcome;
			r.pfec = res.pfec;
			r.addr = res.outcome == VMMU_SHADOW_MMIO ? res.gpa : res.hpa;
			return r;
		}
		r.fills++;
	}
	fail_msg("va %#llx: fault said FIXED but the shadow still faults",
		 (unsigned long long)va);
	return r;
}

/* PML4[0] -> PDPT; returns the PDPT. */
static uint64_t pdpt0(struct env *e)
{
	uint64_t pdpt = gtab(e);

	*gslot(e, e->pml4, 0) = pdpt | X_TABLE;
	return pdpt;
}

/* A 4K page at va 0 with leaf flags; returns the PT. */
static uint64_t map_4k(struct env *e, uint64_t gfn, uint64_t flags)
{
	uint64_t pd = gtab(e), pt = gtab(e);

	*gslot(e, pdpt0(e), 0) = pd | X_TABLE;
	*gslot(e, pd, 0) = pt | X_TABLE;
	*gslot(e, pt, 0) = (gfn << 12) | flags;
	return pt;
}

/* --- access.c regression cases --------------------------------------------- */

/* corrupt_hugepage_trigger: two VAs share a PD whose 2M PDE is made
 * writable and read-only again; both VAs must follow every change. */
static void test_corrupt_hugepage_trigger(void **state)
{
	struct env *e = env_new(64);
	uint64_t pdpt = pdpt0(e), pd = gtab(e);
	const uint64_t va1 = 0, va2 = GIB; /* PDPT[0] and PDPT[1] -> same PD */
	(void)state;

	*gslot(e, pdpt, 0) = pd | X_TABLE;
	*gslot(e, pdpt, 1) = pd | X_TABLE;
	*gslot(e, pd, 0) = (0x200ull << 12) | X_P | X_PS | X_U;
	CHECK_EQ(hw_access(e, va1 + 0x1234, 0).how, GRANTED);
	CHECK_EQ(hw_access(e, va2 + 0x1234, 0).how, GRANTED);
	/* The guest makes the PDE writable (and dirty): both VAs may write. */
	uint64_t rw = (0x200ull << 12) | X_P | X_PS | X_U | X_W | X_A | X_D;
	assert_int_equal(vmmu_shadow_write(&e->v, pd, rw, 8), 0);
	struct hw_result r = hw_access(e, va2 + 0x5008, VMMU_ACC_WRITE);
	CHECK_EQ(r.how, GRANTED);
	CHECK_EQ(r.addr, ((0x200ull + 5 + HOST_OFF) << 12) | 8);
	CHECK_EQ(hw_access(e, va1 + 0x5008, VMMU_ACC_WRITE).how, GRANTED);
	/* Read-only again: neither may write any more. */
	assert_int_equal(vmmu_shadow_write(&e->v, pd, rw & ~X_W, 8), 0);
	r = hw_access(e, va1 + 0x5008, VMMU_ACC_WRITE);
	CHECK_EQ(r.how, INJECT);
	CHECK_EQ(r.pfec, VMMU_PFEC_P | VMMU_PFEC_W);
	CHECK_EQ(hw_access(e, va2 + 0x5008, VMMU_ACC_WRITE).pfec,
		 VMMU_PFEC_P | VMMU_PFEC_W);
	env_free(e);
}

/* check_pfec_on_prefetch_pte: an NX neighbour of a page already in the
 * shadow behaves exactly like a demand-faulted one. */
static void test_pfec_on_prefetch_pte(void **state)
{
	struct env *e = env_new(64);
	uint64_t pt = map_4k(e, 0x300, X_P | X_A);
	(void)state;

	*gslot(e, pt, 1) = (0x301ull << 12) | X_P | X_A | X_XD;
	CHECK_EQ(hw_access(e, 0x0, VMMU_ACC_FETCH).how, GRANTED);
	struct hw_result r = hw_access(e, 0x1000, VMMU_ACC_FETCH);
	CHECK_EQ(r.how, INJECT);
	CHECK_EQ(r.pfec, VMMU_PFEC_P | VMMU_PFEC_I);
	CHECK_EQ(hw_access(e, 0x1000, 0).how, GRANTED);
	r = hw_access(e, 0x1000, VMMU_ACC_FETCH); /* now that it is shadowed */
	CHECK_EQ(r.how, INJECT);
	CHECK_EQ(r.pfec, VMMU_PFEC_P | VMMU_PFEC_I);
	env_free(e);
}

/* check_large_pte_dirty_for_nowp: CR0.WP=0, one read-only 2M page mapped
 * by two PDEs; a supervisor write through each must set that PDE's D. */
static void test_large_pte_dirty_for_nowp(void **state)
{
	struct env *e = env_new(64);
	uint64_t pd = gtab(e);
	(void)state;

	*gslot(e, pdpt0(e), 0) = pd | X_TABLE;
	*gslot(e, pd, 0) = (0x400ull << 12) | X_P | X_PS;
	*gslot(e, pd, 1) = (0x400ull << 12) | X_P | X_PS;
	set_cpu(e, false, false, false);
	CHECK_EQ(hw_access(e, 0x10, VMMU_ACC_WRITE).how, GRANTED);
	CHECK_EQ(*gslot(e, pd, 0), (0x400ull << 12) | X_P | X_PS | X_A | X_D);
	CHECK_EQ(*gslot(e, pd, 1), (0x400ull << 12) | X_P | X_PS);
	/* A read of another 4K page links the clean alias first: it must not
	 * reuse the dirty alias's shadow, whose entry for page 0 is writable
	 * (KVM's bug), so the write below still faults and sets D. */
	CHECK_EQ(hw_access(e, 2 * MIB + 0x1010, 0).how, GRANTED);
	CHECK_EQ(*gslot(e, pd, 1), (0x400ull << 12) | X_P | X_PS | X_A);
	struct hw_result r = hw_access(e, 2 * MIB + 0x10, VMMU_ACC_WRITE);
	CHECK_EQ(r.how, GRANTED);
	CHECK_EQ(r.fills, 1); /* the clean alias did fault */
	CHECK_EQ(*gslot(e, pd, 1), (0x400ull << 12) | X_P | X_PS | X_A | X_D);
	env_free(e);
}

/* check_smep_andnot_wp: SMEP=1, WP=0: a supervisor write to a read-only
 * user page is allowed, and must not let the supervisor fetch from it. */
static void test_smep_andnot_wp(void **state)
{
	struct env *e = env_new(64);
	(void)state;

	map_4k(e, 0x500, X_P | X_U | X_A | X_D);
	set_cpu(e, false, true, false);
	CHECK_EQ(hw_access(e, 0x8, VMMU_ACC_WRITE).how, GRANTED);
	struct hw_result r = hw_access(e, 0x8, VMMU_ACC_FETCH);
	CHECK_EQ(r.how, INJECT);
	CHECK_EQ(r.pfec, VMMU_PFEC_P | VMMU_PFEC_I);
	CHECK_EQ(hw_access(e, 0x8, VMMU_ACC_USER).how, GRANTED);
	r = hw_access(e, 0x8, VMMU_ACC_USER | VMMU_ACC_WRITE);
	CHECK_EQ(r.pfec, VMMU_PFEC_P | VMMU_PFEC_W | VMMU_PFEC_U);
	CHECK_EQ(hw_access(e, 0x8, VMMU_ACC_WRITE).how, GRANTED);
	CHECK_EQ(hw_access(e, 0x8, VMMU_ACC_USER | VMMU_ACC_FETCH).how, GRANTED);
	env_free(e);
}

/* check_toggle_cr0_wp: a WP change takes effect at once, both ways. */
static void test_toggle_cr0_wp(void **state)
{
	struct env *e = env_new(64);
	(void)state;

	map_4k(e, 0x600, X_P | X_A | X_D);
	struct hw_result r = hw_access(e, 0x8, VMMU_ACC_WRITE);
	CHECK_EQ(r.how, INJECT);
	CHECK_EQ(r.pfec, VMMU_PFEC_P | VMMU_PFEC_W);
	set_cpu(e, false, false, false);
	CHECK_EQ(hw_access(e, 0x8, VMMU_ACC_WRITE).how, GRANTED);
	set_cpu(e, true, false, false);
	r = hw_access(e, 0x8, VMMU_ACC_WRITE);
	CHECK_EQ(r.how, INJECT);
	CHECK_EQ(r.pfec, VMMU_PFEC_P | VMMU_PFEC_W);
	set_cpu(e, false, false, false);
	CHECK_EQ(hw_access(e, 0x8, VMMU_ACC_WRITE).how, GRANTED);
	env_free(e);
}

/* check_effective_sp_permissions (CVE-2021-38198 class): one PD reached
 * through a writable and a read-only PDPTE gets two shadows. */
static void test_effective_sp_permissions(void **state)
{
	struct env *e = env_new(64);
	uint64_t pdpt = pdpt0(e), pd = gtab(e), pt = gtab(e);
	(void)state;

	*gslot(e, pdpt, 0) = pd | X_TABLE;
	*gslot(e, pdpt, 1) = pd | X_P | X_U; /* read-only path */
	*gslot(e, pd, 0) = pt | X_TABLE;
	*gslot(e, pt, 0) = (0x700ull << 12) | X_P | X_W | X_U | X_A | X_D;
	CHECK_EQ(hw_access(e, 0x8, VMMU_ACC_WRITE).how, GRANTED);
	struct hw_result r = hw_access(e, GIB + 0x8, VMMU_ACC_WRITE);
	CHECK_EQ(r.how, INJECT);
	CHECK_EQ(r.pfec, VMMU_PFEC_P | VMMU_PFEC_W);
	CHECK_EQ(hw_access(e, GIB + 0x8, 0).how, GRANTED);
	r = hw_access(e, GIB + 0x8, VMMU_ACC_WRITE); /* both shadows now exist */
	CHECK_EQ(r.pfec, VMMU_PFEC_P | VMMU_PFEC_W);
	CHECK_EQ(hw_access(e, 0x8, VMMU_ACC_WRITE).how, GRANTED);
	/* Two shadows of the PD and of the PT, told apart by role only. */
	uint32_t mode = VMMU_SHADOW_ROLE_WP | VMMU_SHADOW_ROLE_NXE;
	uint32_t rw = VMMU_SHADOW_ROLE_ACC_W | VMMU_SHADOW_ROLE_ACC_U |
		      VMMU_SHADOW_ROLE_ACC_X;
	uint32_t ro = rw & ~VMMU_SHADOW_ROLE_ACC_W;
	CHECK_EQ(vmmu_shadow_tracked(&e->sh, pd >> 12), 2);
	CHECK_EQ(vmmu_shadow_tracked(&e->sh, pt >> 12), 2);
	assert_true(vmmu_shadow_lookup(&e->sh, pd >> 12, mode | rw | 2) != 0);
	assert_true(vmmu_shadow_lookup(&e->sh, pd >> 12, mode | ro | 2) != 0);
	assert_true(vmmu_shadow_lookup(&e->sh, pt >> 12, mode | ro | 1) != 0);
	env_free(e);
}

/* --- API -------------------------------------------------------------------- */

static void test_fill_and_dirty(void **state)
{
	struct env *e = env_new(64);
	uint64_t pt = map_4k(e, 0x800, X_P | X_W);
	(void)state;

	struct hw_result r = hw_access(e, 0x123, 0);
	CHECK_EQ(r.how, GRANTED);
	CHECK_EQ(r.fills, 1);
	CHECK_EQ(r.addr, ((0x800ull + HOST_OFF) << 12) | 0x123);
	CHECK_EQ(*gslot(e, pt, 0), (0x800ull << 12) | X_P | X_W | X_A);
	/* Clean page: the shadow leaf is read-only, the write faults once. */
	r = hw_access(e, 0x123, VMMU_ACC_WRITE);
	CHECK_EQ(r.how, GRANTED);
	CHECK_EQ(r.fills, 1);
	CHECK_EQ(*gslot(e, pt, 0), (0x800ull << 12) | X_P | X_W | X_A | X_D);
	CHECK_EQ(hw_access(e, 0x123, VMMU_ACC_WRITE).fills, 0);
	/* Not present: exact error code, guest untouched. */
	r = hw_access(e, 0x1000, VMMU_ACC_USER | VMMU_ACC_WRITE);
	CHECK_EQ(r.how, INJECT);
	CHECK_EQ(r.pfec, VMMU_PFEC_W | VMMU_PFEC_U);
	CHECK_EQ(e->sh.stat_fixed, 2);
	env_free(e);
}

static void test_write_zaps(void **state)
{
	struct env *e = env_new(64);
	uint64_t pt = map_4k(e, 0x800, X_P | X_W | X_A | X_D);
	(void)state;

	CHECK_EQ(hw_access(e, 0x10, VMMU_ACC_WRITE).how, GRANTED);
	uint64_t flushes = e->host.flushes;
	/* A store to an untracked frame drops nothing and flushes nothing. */
	assert_int_equal(vmmu_shadow_write(&e->v, 0x900ull << 12, 5, 8), -VMMU_EFAULT);
	uint64_t data = gtab(e);
	assert_int_equal(vmmu_shadow_write(&e->v, data + 8, 0xab, 1), 0);
	CHECK_EQ(*gslot(e, data, 1), 0xab);
	CHECK_EQ(e->host.flushes, flushes);
	/* Guest unmaps the page: one flush, and the next access faults. */
	assert_int_equal(vmmu_shadow_write(&e->v, pt, 0, 8), 0);
	CHECK_EQ(e->host.flushes, flushes + 1);
	CHECK_EQ(e->host.last_flush.scope, VMMU_TLB_ALL);
	struct hw_result r = hw_access(e, 0x10, 0);
	CHECK_EQ(r.how, INJECT);
	CHECK_EQ(r.pfec, 0);
	/* Re-mapped elsewhere with a 4-byte store of the low half. */
	assert_int_equal(vmmu_shadow_write(&e->v, pt, (0x801u << 12) | X_P | X_A, 4), 0);
	r = hw_access(e, 0x10, 0);
	CHECK_EQ(r.how, GRANTED);
	CHECK_EQ(r.addr, ((0x801ull + HOST_OFF) << 12) | 0x10);
	assert_int_equal(vmmu_shadow_write(&e->v, pt + 4, 0, 4), 0);
	CHECK_EQ(vmmu_shadow_tracked(&e->sh, pt >> 12), 1);
	/* A store across two entries: the frame is used as data (KVM's
	 * misaligned rule) and stops being shadowed; the next use rebuilds. */
	assert_int_equal(vmmu_shadow_write(&e->v, pt + 6, 0, 4), 0);
	CHECK_EQ(vmmu_shadow_tracked(&e->sh, pt >> 12), 0);
	CHECK_EQ(hw_access(e, 0x10, 0).how, GRANTED);
	CHECK_EQ(vmmu_shadow_tracked(&e->sh, pt >> 12), 1);
	assert_int_equal(vmmu_shadow_write(&e->v, pt + 4094, 0, 4), -VMMU_EALIGN);
	assert_int_equal(vmmu_shadow_write(&e->v, pt, 0, 3), -VMMU_EINVAL);
	env_free(e);
}

/* A guest that maps its own page tables. A store to an upper-level table
 * is emulated, never granted, also when the mapping came first. */
static void test_tracked_table_write_protected(void **state)
{
	struct env *e = env_new(64);
	uint64_t pd = gtab(e), pt = gtab(e), pd2 = gtab(e);
	(void)state;

	*gslot(e, pdpt0(e), 0) = pd | X_TABLE;
	*gslot(e, pd, 0) = pt | X_TABLE;
	*gslot(e, pt, 0) = pd2 | X_P | X_W | X_A | X_D;  /* va 0 -> pd2 */
	CHECK_EQ(hw_access(e, 0x0, VMMU_ACC_WRITE).how, GRANTED);
	/* pd2 becomes a page directory (PDPT[1] -> pd2): va 0 loses W. */
	*gslot(e, pdpt0(e), 0) = pd | X_TABLE;
	uint64_t pdpt = *gslot(e, e->pml4, 0) & ~0xfffull;
	*gslot(e, pdpt, 1) = pd2 | X_TABLE;
	*gslot(e, pd2, 0) = (0x800ull << 12) | X_P | X_A | X_PS;
	CHECK_EQ(hw_access(e, GIB, 0).how, GRANTED);
	CHECK_EQ(vmmu_shadow_tracked(&e->sh, pd2 >> 12), 1);
	struct hw_result r = hw_access(e, 0x0, VMMU_ACC_WRITE);
	CHECK_EQ(r.how, EMULATE);
	CHECK_EQ(r.addr, (pd2 + (HOST_OFF << 12)));
	/* The embedder emulates the store: the PDE changes, the shadow follows. */
	assert_int_equal(vmmu_shadow_write(&e->v, pd2, (0xa00ull << 12) | X_P | X_A |
					   X_PS, 8), 0);
	r = hw_access(e, GIB, 0);
	CHECK_EQ(r.addr, (0xa00ull + HOST_OFF) << 12);
	CHECK_EQ(hw_access(e, 0x0, 0).how, GRANTED);
	env_free(e);
}

/* A leaf table the guest writes goes out of sync instead of trapping each
 * store; the shadow may lag (as a TLB may) until INVLPG, a flush or a CR3
 * load, which resync it and write-protect it again. */
static void test_unsync_leaf_table(void **state)
{
	struct env *e = env_new(64);
	uint64_t pd = gtab(e), pt = gtab(e), pt2 = gtab(e);
	struct vmmu_shadow_stats st;
	(void)state;

	*gslot(e, pdpt0(e), 0) = pd | X_TABLE;
	*gslot(e, pd, 0) = pt | X_TABLE;
	*gslot(e, pd, 1) = pt2 | X_TABLE;
	*gslot(e, pt, 0) = pt2 | X_P | X_W | X_A | X_D;  /* va 0 -> pt2 */
	*gslot(e, pt2, 0) = (0x900ull << 12) | X_P | X_A;
	CHECK_EQ(hw_access(e, 2 * MIB, 0).addr, (0x900ull + HOST_OFF) << 12);
	struct hw_result r = hw_access(e, 0x0, VMMU_ACC_WRITE);
	CHECK_EQ(r.how, GRANTED); /* unsynced, not emulated */
	vmmu_shadow_stats(&e->sh, &st);
	CHECK_EQ(st.unsynced, 1);
	CHECK_EQ(st.out_of_sync, 1);
	/* The guest's own store, straight to memory: stale until INVLPG. */
	*gslot(e, pt2, 0) = (0x901ull << 12) | X_P | X_A;
	CHECK_EQ(hw_access(e, 2 * MIB, 0).addr, (0x900ull + HOST_OFF) << 12);
	assert_int_equal(vmmu_shadow_invlpg(&e->v, 2 * MIB), 0);
	CHECK_EQ(hw_access(e, 2 * MIB, 0).addr, (0x901ull + HOST_OFF) << 12);
	/* Removed without INVLPG, then a full flush: resynced, protected. */
	*gslot(e, pt2, 0) = 0;
	uint64_t flushes = e->host.flushes;
	assert_int_equal(vmmu_shadow_flush_tlb(&e->v), 0);
	assert_true(e->host.flushes >= flushes + 1);
	vmmu_shadow_stats(&e->sh, &st);
	CHECK_EQ(st.resynced, 1);
	CHECK_EQ(st.out_of_sync, 0);
	CHECK_EQ(hw_access(e, 2 * MIB, 0).how, INJECT);
	/* Written again, unsynced again; a CR3 load resyncs too. */
	CHECK_EQ(hw_access(e, 0x0, VMMU_ACC_WRITE).how, GRANTED);
	*gslot(e, pt2, 0) = (0x902ull << 12) | X_P | X_A;
	assert_int_equal(vmmu_shadow_new_cr3(&e->v, e->pml4), 0);
	CHECK_EQ(hw_access(e, 2 * MIB, 0).addr, (0x902ull + HOST_OFF) << 12);
	/* The table also used as a directory: back in sync, stores emulated. */
	CHECK_EQ(hw_access(e, 0x0, VMMU_ACC_WRITE).how, GRANTED);
	uint64_t pdpt = *gslot(e, e->pml4, 0) & ~0xfffull;
	*gslot(e, pdpt, 1) = pt2 | X_TABLE;
	*gslot(e, pt2, 0) = (0xa00ull << 12) | X_P | X_A | X_PS;
	CHECK_EQ(hw_access(e, GIB, 0).how, GRANTED);
	CHECK_EQ(hw_access(e, 0x0, VMMU_ACC_WRITE).how, EMULATE);
	vmmu_shadow_stats(&e->sh, &st);
	CHECK_EQ(st.out_of_sync, 0);
	env_free(e);
}

/* A frame mapped writable at many addresses becomes a page directory:
 * the reverse map takes W from every one of those leaves. */
static void test_rmap_write_protect(void **state)
{
	struct env *e = env_new(64);
	uint64_t pd = gtab(e), pt = gtab(e), victim = gtab(e);
	(void)state;

	*gslot(e, pdpt0(e), 0) = pd | X_TABLE;
	*gslot(e, pd, 0) = pt | X_TABLE;
	for (unsigned k = 0; k < 40; k++) {
		*gslot(e, pt, k) = victim | X_P | X_W | X_A | X_D;
		CHECK_EQ(hw_access(e, k * PAGE, VMMU_ACC_WRITE).how, GRANTED);
	}
	uint64_t pdpt = *gslot(e, e->pml4, 0) & ~0xfffull;
	*gslot(e, pdpt, 1) = victim | X_TABLE; /* now a directory */
	*gslot(e, victim, 0) = (0x800ull << 12) | X_P | X_A | X_PS;
	CHECK_EQ(hw_access(e, GIB, 0).how, GRANTED);
	for (unsigned k = 0; k < 40; k++) {
		struct hw_result r = hw_access(e, k * PAGE, VMMU_ACC_WRITE);
		CHECK_EQ(r.how, EMULATE);
		CHECK_EQ(r.fills, 0); /* the leaf stayed, without W */
	}
	env_free(e);
}

/* A fill also maps the accessed, present neighbours of its aligned group
 * of 8, read-only while their D is clear; never one with A clear. */
static void test_prefetch(void **state)
{
	struct env *e = env_new(64);
	uint64_t pt = map_4k(e, 0x800, X_P | X_A);
	(void)state;

	for (unsigned k = 1; k < 10; k++) {
		*gslot(e, pt, k) = ((0x800ull + k) << 12) | X_P | X_W | X_A |
				   (k == 2 ? X_D : 0) | (k == 3 ? X_U : 0);
	}
	*gslot(e, pt, 4) &= ~X_A;
	CHECK_EQ(hw_access(e, 0, 0).fills, 1);
	CHECK_EQ(e->sh.stat_prefetch, 6); /* 1, 2, 3, 5, 6, 7 */
	CHECK_EQ(hw_access(e, 1 * PAGE, 0).fills, 0);
	CHECK_EQ(hw_access(e, 2 * PAGE, VMMU_ACC_WRITE).fills, 0); /* D set */
	struct hw_result r = hw_access(e, 1 * PAGE, VMMU_ACC_WRITE);
	CHECK_EQ(r.how, GRANTED);
	CHECK_EQ(r.fills, 1); /* D clear: the write faulted and set it */
	assert_true(*gslot(e, pt, 1) & X_D);
	CHECK_EQ(hw_access(e, 3 * PAGE, VMMU_ACC_USER).how, GRANTED);
	CHECK_EQ(hw_access(e, 5 * PAGE, VMMU_ACC_USER).how, INJECT); /* U clear */
	CHECK_EQ(hw_access(e, 4 * PAGE, 0).fills, 1);
	assert_true(*gslot(e, pt, 4) & X_A);
	CHECK_EQ(hw_access(e, 8 * PAGE, 0).fills, 1); /* another group */
	env_free(e);
}

/* Repeated emulated stores that no fault uses: the frame is data now. */
static void test_write_flooding(void **state)
{
	struct env *e = env_new(64);
	uint64_t pt = map_4k(e, 0x800, X_P | X_A);
	struct vmmu_shadow_stats st;
	(void)state;

	*gslot(e, pt, 9) = (0x809ull << 12) | X_P; /* A clear: not prefetched */
	CHECK_EQ(hw_access(e, 0, 0).how, GRANTED);
	CHECK_EQ(vmmu_shadow_tracked(&e->sh, pt >> 12), 1);
	assert_int_equal(vmmu_shadow_write(&e->v, pt + 80, 1, 8), 0);
	assert_int_equal(vmmu_shadow_write(&e->v, pt + 88, 2, 8), 0);
	CHECK_EQ(hw_access(e, 9 * PAGE, 0).fills, 1); /* used: count restarts */
	assert_int_equal(vmmu_shadow_write(&e->v, pt + 96, 3, 8), 0);
	assert_int_equal(vmmu_shadow_write(&e->v, pt + 104, 4, 8), 0);
	CHECK_EQ(vmmu_shadow_tracked(&e->sh, pt >> 12), 1);
	assert_int_equal(vmmu_shadow_write(&e->v, pt + 112, 5, 8), 0);
	CHECK_EQ(vmmu_shadow_tracked(&e->sh, pt >> 12), 0);
	vmmu_shadow_stats(&e->sh, &st);
	CHECK_EQ(st.unshadowed, 1);
	CHECK_EQ(hw_access(e, 0, 0).how, GRANTED); /* shadowed again on use */
	env_free(e);
}

/* Stores as a batch: in order, one flush for the run, A/D kept on request,
 * a W-only change keeps the leaf read-only, a refusal stops at its index. */
static void test_write_batch(void **state)
{
	struct env *e = env_new(64);
	uint64_t pt = map_4k(e, 0x800, X_P | X_W | X_A | X_D);
	uint32_t done = 99;
	(void)state;

	*gslot(e, pt, 1) = (0x801ull << 12) | X_P | X_W | X_A | X_D;
	CHECK_EQ(hw_access(e, 0, VMMU_ACC_WRITE).how, GRANTED);
	CHECK_EQ(hw_access(e, PAGE, VMMU_ACC_WRITE).how, GRANTED);
	uint64_t flushes = e->host.flushes;
	struct vmmu_shadow_store st[4] = {
		{pt, (0x800ull << 12) | X_P | X_A | X_D},             /* W off */
		{pt + 8 + VMMU_SHADOW_STORE_PRESERVE_AD, (0x802ull << 12) | X_P},
		{pt + 16, (0x803ull << 12) | X_P | X_A},
		{pt + 20, 0},                                         /* misaligned */
	};
	assert_int_equal(vmmu_shadow_write_batch(&e->v, st, 4, &done), -VMMU_EALIGN);
	CHECK_EQ(done, 3);
	CHECK_EQ(e->host.flushes, flushes + 1);
	CHECK_EQ(*gslot(e, pt, 1), (0x802ull << 12) | X_P | X_A | X_D);
	struct hw_result r = hw_access(e, 0, 0);
	CHECK_EQ(r.fills, 0); /* the leaf stayed, read-only */
	r = hw_access(e, 0, VMMU_ACC_WRITE);
	CHECK_EQ(r.how, INJECT);
	CHECK_EQ(r.pfec, VMMU_PFEC_P | VMMU_PFEC_W);
	CHECK_EQ(hw_access(e, PAGE, 0).addr, (0x802ull + HOST_OFF) << 12);
	CHECK_EQ(hw_access(e, 2 * PAGE, 0).addr, (0x803ull + HOST_OFF) << 12);
	st[0].gpa = 0x900ull << 12;
	assert_int_equal(vmmu_shadow_write_batch(&e->v, st, 1, &done), -VMMU_EFAULT);
	CHECK_EQ(done, 0);
	assert_int_equal(vmmu_shadow_write_batch(&e->v, st, 0, &done), 0);
	assert_int_equal(vmmu_shadow_write_batch(&e->v, NULL, 1, &done), -VMMU_EINVAL);
	env_free(e);
}

/* Reserved frames: a topped-up vCPU faults without calling frame_alloc;
 * destroy gives them back. Cached roots survive reclaim. */
static void test_topup_and_cached_roots(void **state)
{
	struct env *e = env_new(8);
	uint64_t roots[4], pml4s[4], again;
	(void)state;

	assert_int_equal(vmmu_shadow_vcpu_topup(&e->v), 0);
	CHECK_EQ(e->host.live, VMMU_SHADOW_VCPU_CACHE);
	uint64_t allocs = e->host.allocs;
	e->host.fail_at = 1; /* frame_alloc would fail now */
	map_4k(e, 0x800, X_P | X_A);
	CHECK_EQ(hw_access(e, 0, 0).how, GRANTED);
	e->host.fail_at = 0;
	CHECK_EQ(e->host.allocs, allocs);
	for (unsigned k = 0; k < 4; k++) {
		pml4s[k] = k == 0 ? e->pml4 : gtab(e);
		assert_int_equal(vmmu_shadow_new_cr3(&e->v, pml4s[k]), 0);
		assert_int_equal(vmmu_shadow_root(&e->v, &roots[k]), 0);
	}
	/* Address space 1 maps a page: 3 more pages in a pool of 8 with 7
	 * used; the oldest non-roots (address space 0's) are evicted. */
	uint64_t pdpt = gtab(e), pd = gtab(e), pt = gtab(e);
	*gslot(e, pml4s[1], 0) = pdpt | X_TABLE;
	*gslot(e, pdpt, 0) = pd | X_TABLE;
	*gslot(e, pd, 0) = pt | X_TABLE;
	*gslot(e, pt, 0) = (0x801ull << 12) | X_P | X_A;
	assert_int_equal(vmmu_shadow_new_cr3(&e->v, pml4s[1]), 0);
	CHECK_EQ(hw_access(e, 0, 0).fills, 1);
	assert_true(e->sh.stat_reclaimed >= 1);
	assert_int_equal(vmmu_shadow_new_cr3(&e->v, e->pml4), 0);
	assert_int_equal(vmmu_shadow_root(&e->v, &again), 0);
	CHECK_EQ(again, roots[0]);
	CHECK_EQ(hw_access(e, 0, 0).addr, (0x800ull + HOST_OFF) << 12);
	env_free(e); /* destroys the vCPU: its reserve goes back */
}

/* A guest 2M page backed by one aligned 2M host region gets a 2M shadow
 * leaf; one of its frames becoming a page table splits it; a region with
 * a device frame in it is always split. */
static void test_large_leaf(void **state)
{
	struct env *e = env_new(64);
	uint64_t pdpt = pdpt0(e), pd = gtab(e), pt = 0x205ull << 12;
	struct vmmu_shadow_stats st;
	(void)state;

	*gslot(e, pdpt, 0) = pd | X_TABLE;
	*gslot(e, pd, 0) = (0x200ull << 12) | X_P | X_W | X_A | X_D | X_PS;
	*gslot(e, pd, 1) = (MMIO_GFN << 12) | X_P | X_A | X_PS;
	struct hw_result r = hw_access(e, 0x1234, VMMU_ACC_WRITE);
	CHECK_EQ(r.how, GRANTED);
	CHECK_EQ(r.addr, ((0x201ull + HOST_OFF) << 12) | 0x234);
	CHECK_EQ(hw_access(e, 0x1ff000, VMMU_ACC_WRITE).fills, 0); /* same leaf */
	vmmu_shadow_stats(&e->sh, &st);
	CHECK_EQ(st.large, 1);
	/* Guest frame 0x205, inside the page, becomes a directory: split. */
	memset(test_platform_ptr(&e->guest, pt), 0, PAGE);
	*gslot(e, pdpt, 1) = pt | X_TABLE;
	*gslot(e, pt, 0) = (0xa00ull << 12) | X_P | X_A | X_PS;
	CHECK_EQ(hw_access(e, GIB, 0).how, GRANTED);
	CHECK_EQ(hw_access(e, 0x1234, 0).fills, 1); /* the 2M leaf went */
	CHECK_EQ(hw_access(e, 0x5000, VMMU_ACC_WRITE).how, EMULATE);
	CHECK_EQ(hw_access(e, 0x6000, VMMU_ACC_WRITE).how, GRANTED);
	vmmu_shadow_stats(&e->sh, &st);
	CHECK_EQ(st.large, 2); /* 1 GiB: the directory's own 2M page */
	/* A 2M guest page over a device frame: 4K leaves. */
	CHECK_EQ(hw_access(e, 2 * MIB + PAGE, 0).how, GRANTED);
	CHECK_EQ(hw_access(e, 2 * MIB, 0).how, MMIO);
	vmmu_shadow_stats(&e->sh, &st);
	CHECK_EQ(st.large, 2);
	/* Backed by 4K host frames out of order: split, each page right. */
	*gslot(e, pd, 4) = (SWAP_GFN << 12) | X_P | X_A | X_PS;
	CHECK_EQ(hw_access(e, 8 * MIB + 2 * PAGE, 0).addr, (SWAP_GFN + 3 + HOST_OFF) << 12);
	CHECK_EQ(hw_access(e, 8 * MIB + 3 * PAGE, 0).addr, (SWAP_GFN + 2 + HOST_OFF) << 12);
	vmmu_shadow_stats(&e->sh, &st);
	CHECK_EQ(st.large, 2);
	/* INVLPG drops a 2M leaf too. */
	assert_int_equal(vmmu_shadow_invlpg(&e->v, GIB + 0x3000), 0);
	CHECK_EQ(hw_access(e, GIB, 0).fills, 1);
	env_free(e);
}

static void test_mmio_and_absent(void **state)
{
	struct env *e = env_new(64);
	uint64_t pt = map_4k(e, MMIO_GFN, X_P | X_W | X_A | X_D);
	(void)state;

	*gslot(e, pt, 1) = (ABSENT_GFN << 12) | X_P;
	struct hw_result r = hw_access(e, 0x44, VMMU_ACC_WRITE);
	CHECK_EQ(r.how, MMIO);
	CHECK_EQ(r.addr, (MMIO_GFN << 12) | 0x44);
	CHECK_EQ(hw_access(e, 0x1000, 0).how, -VMMU_ENOENT);
	r = hw_access(e, 1ull << 62, 0);
	CHECK_EQ(r.how, 1 + VMMU_SHADOW_GP);
	env_free(e);
}

/* Pool limit: a full pool evicts its oldest pages, never the vCPU's root;
 * a platform out of frames is -VMMU_ENOMEM with nothing leaked or
 * half-linked. */
static void test_pool_limit(void **state)
{
	struct env *e = env_new(4);
	uint64_t pd = gtab(e), pt = gtab(e), pt2 = gtab(e), root, root2;
	(void)state;

	*gslot(e, pdpt0(e), 0) = pd | X_TABLE;
	*gslot(e, pd, 0) = pt | X_TABLE;
	*gslot(e, pd, 1) = pt2 | X_TABLE;
	*gslot(e, pt, 0) = (0x800ull << 12) | X_P;
	*gslot(e, pt2, 0) = (0x801ull << 12) | X_P;
	CHECK_EQ(hw_access(e, 0, 0).how, GRANTED);
	CHECK_EQ(e->sh.used_pages, 4);
	assert_int_equal(vmmu_shadow_root(&e->v, &root), 0);
	CHECK_EQ(hw_access(e, 2 * MIB, 0).how, GRANTED); /* needs a 5th */
	assert_int_equal(vmmu_shadow_root(&e->v, &root2), 0);
	CHECK_EQ(root2, root);
	assert_true(e->sh.stat_reclaimed >= 1);
	CHECK_EQ(e->sh.stat_zap_all, 0);
	CHECK_EQ(e->sh.used_pages, 4);
	CHECK_EQ(vmmu_shadow_tracked(&e->sh, pt >> 12), 0); /* the oldest went */
	CHECK_EQ(e->host.live, 6); /* 4 tables + link frames of the PD and PT */
	vmmu_shadow_zap_all(&e->sh);
	CHECK_EQ(e->host.live, 0);
	e->host.fail_at = 3;
	struct vmmu_shadow_result res;
	assert_int_equal(vmmu_shadow_fault(&e->v, 0, 0, &res), -VMMU_ENOMEM);
	CHECK_EQ(e->host.live, 0);
	CHECK_EQ(e->sh.used_pages, 0);
	e->host.fail_at = 0;
	CHECK_EQ(hw_access(e, 0, 0).how, GRANTED);
	env_free(e);
}

static void test_invlpg_and_cr3(void **state)
{
	struct env *e = env_new(64);
	(void)state;

	map_4k(e, 0x800, X_P | X_A);
	CHECK_EQ(hw_access(e, 0, 0).fills, 1);
	uint64_t flushes = e->host.flushes;
	assert_int_equal(vmmu_shadow_invlpg(&e->v, 0x10), 0);
	CHECK_EQ(e->host.flushes, flushes + 1);
	CHECK_EQ(e->host.last_flush.scope, VMMU_TLB_RANGE);
	CHECK_EQ(e->host.last_flush.addr, 0);
	CHECK_EQ(hw_access(e, 0, 0).fills, 1);
	assert_int_equal(vmmu_shadow_invlpg(&e->v, 1ull << 62), 0);
	/* Another CR3, then back: the first root is still cached. */
	uint64_t root1, root2, other = gtab(e);
	assert_int_equal(vmmu_shadow_root(&e->v, &root1), 0);
	assert_int_equal(vmmu_shadow_new_cr3(&e->v, other), 0);
	assert_int_equal(vmmu_shadow_root(&e->v, &root2), 0);
	assert_true(root1 != root2);
	assert_int_equal(vmmu_shadow_new_cr3(&e->v, e->pml4 | (1ull << 63)), 0);
	assert_int_equal(vmmu_shadow_root(&e->v, &root2), 0);
	CHECK_EQ(root2, root1);
	CHECK_EQ(hw_access(e, 0, 0).fills, 0);
	assert_int_equal(vmmu_shadow_new_cr3(&e->v, 1ull << 50), -VMMU_EINVAL);
	env_free(e);
}

static void test_bad_args(void **state)
{
	struct env *e = env_new(64);
	struct vmmu_shadow sh2;
	struct vmmu_shadow_vcpu v2;
	struct vmmu_shadow_result res;
	(void)state;

	assert_int_equal(vmmu_shadow_init(&sh2, &e->fmt, &e->host.plat, &ops,
					  NULL, e->pages, 3), -VMMU_EINVAL);
	assert_int_equal(vmmu_shadow_init(&sh2, &e->fmt, &e->host.plat, NULL,
					  NULL, e->pages, 8), -VMMU_EINVAL);
	assert_int_equal(vmmu_shadow_init(NULL, &e->fmt, &e->host.plat, &ops,
					  NULL, e->pages, 8), -VMMU_EINVAL);
	struct vmmu_cpu_state c = long_mode_cpu(4);
	c.cr4 |= VMMU_CR4_PKE;
	assert_int_equal(vmmu_shadow_vcpu_init(&v2, &e->sh, &e->fmt, &e->guest.plat,
					       &c, e->pml4), -VMMU_ENOTSUP);
	assert_int_equal(vmmu_shadow_set_cpu(&e->v, &c), -VMMU_ENOTSUP);
	c = long_mode_cpu(5);
	assert_int_equal(vmmu_shadow_set_cpu(&e->v, &c), -VMMU_EINVAL);
	assert_int_equal(vmmu_shadow_fault(&e->v, 0, VMMU_ACC_PEEK, &res), -VMMU_EINVAL);
	assert_int_equal(vmmu_shadow_fault(&e->v, 0, VMMU_ACC_WRITE | VMMU_ACC_FETCH,
					   &res), -VMMU_EINVAL);
	assert_int_equal(vmmu_shadow_fault(NULL, 0, 0, &res), -VMMU_EINVAL);
	CHECK_EQ(vmmu_shadow_tracked(NULL, 0), 0);
	CHECK_EQ(vmmu_shadow_lookup(NULL, 0, 0), 0);
	env_free(e);
}

/* Two instances (4- and 5-level) side by side share nothing. */
static void test_two_instances(void **state)
{
	struct env *a = env_new(64), *b = env_new(64);
	struct vmmu_fmt f5;
	struct vmmu_shadow s5;
	struct vmmu_shadow_page p5[8];
	struct vmmu_shadow_vcpu v5;
	(void)state;

	map_4k(a, 0x800, X_P | X_A);
	map_4k(b, 0x900, X_P | X_A);
	CHECK_EQ(hw_access(a, 0, 0).addr, (0x800ull + HOST_OFF) << 12);
	CHECK_EQ(hw_access(b, 0, 0).addr, (0x900ull + HOST_OFF) << 12);
	CHECK_EQ(a->sh.used_pages, 4);
	CHECK_EQ(b->sh.used_pages, 4);
	assert_int_equal(vmmu_fmt_init_x86(&f5, 5, 46, 0), 0);
	assert_int_equal(vmmu_shadow_init(&s5, &f5, &a->host.plat, &ops, NULL, p5, 8), 0);
	struct vmmu_cpu_state c = long_mode_cpu(5);
	uint64_t pml5 = gtab(a), root;
	*gslot(a, pml5, 0) = a->pml4 | X_TABLE;
	assert_int_equal(vmmu_shadow_vcpu_init(&v5, &s5, &f5, &a->guest.plat, &c, pml5), 0);
	struct vmmu_shadow_result res;
	assert_int_equal(vmmu_shadow_fault(&v5, 0x10, 0, &res), 0);
	CHECK_EQ(res.outcome, VMMU_SHADOW_FIXED);
	CHECK_EQ(res.hpa, ((0x800ull + HOST_OFF) << 12) | 0x10);
	CHECK_EQ(s5.used_pages, 5);
	assert_int_equal(vmmu_shadow_root(&v5, &root), 0);
	vmmu_shadow_destroy(&s5);
	CHECK_EQ(a->sh.used_pages, 4);
	env_free(a);
	env_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_corrupt_hugepage_trigger),
		cmocka_unit_test(test_pfec_on_prefetch_pte),
		cmocka_unit_test(test_large_pte_dirty_for_nowp),
		cmocka_unit_test(test_smep_andnot_wp),
		cmocka_unit_test(test_toggle_cr0_wp),
		cmocka_unit_test(test_effective_sp_permissions),
		cmocka_unit_test(test_fill_and_dirty),
		cmocka_unit_test(test_write_zaps),
		cmocka_unit_test(test_tracked_table_write_protected),
		cmocka_unit_test(test_unsync_leaf_table),
		cmocka_unit_test(test_rmap_write_protect),
		cmocka_unit_test(test_prefetch),
		cmocka_unit_test(test_large_leaf),
		cmocka_unit_test(test_write_flooding),
		cmocka_unit_test(test_write_batch),
		cmocka_unit_test(test_topup_and_cached_roots),
		cmocka_unit_test(test_mmio_and_absent),
		cmocka_unit_test(test_pool_limit),
		cmocka_unit_test(test_invlpg_and_cr3),
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_two_instances),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
