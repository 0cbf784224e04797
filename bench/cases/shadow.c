/* SPDX-License-Identifier: MIT */
/*
 * Shadow-paging benchmarks (include/vmmu/shadow.h, docs/shadow.md) and the
 * batch queue over the shadow backend (include/vmmu/batch_shadow.h).
 *
 *   shadow/fault_fill/4k      vmmu_shadow_fault on each of 16384 distinct
 *                             4K pages of a 64 MiB guest region whose guest
 *                             A/D bits are set and whose level 4..2 shadow
 *                             tables exist, prefetch off: each fault fills
 *                             one leaf (guest walk, p2m, cache lookups,
 *                             leaf store). Re-armed between rounds by
 *                             vmmu_shadow_invlpg of every page in the
 *                             untimed reset. Per fault.
 *   shadow/fault_fill/4k_prefetch  the same with prefetch on, faulting only
 *                             where hardware would (the first page of each
 *                             aligned group of 8): each fault maps 8 pages.
 *                             Per fault.
 *   shadow/cr3_switch/cached  vmmu_shadow_new_cr3 + vmmu_shadow_root,
 *                             alternating between two guest address spaces
 *                             whose shadow roots are cached. Per switch.
 *   native/fork/64mib         the page-table half of fork() for a 64 MiB
 *                             address space: each of the parent's 16384 4K
 *                             PTEs (32 level-1 tables) loses W in place and
 *                             is copied into the child's level-1 tables, as
 *                             plain 8-byte stores into guest memory.
 *   shadow/fork/64mib_batched the same 32768 entry writes (same values, same
 *                             order) queued with vmmu_batch_pte_write in
 *                             lazy mode, then the guest's TLB flush of the
 *                             parent (LOCAL), then lazy leave: one submit to
 *                             the shadow backend. The parent's shadow is
 *                             live (every page faulted in), so each
 *                             write-protect must update a present shadow
 *                             leaf (the engine clears its W in place).
 *   shadow/fork/64mib_trapped the same writes, each one vmmu_shadow_write
 *                             (what a trapping guest costs minus the trap
 *                             itself), then vmmu_shadow_flush_tlb.
 *
 * The fork cases count per entry write (32768 per fork; per iteration is
 * per fork). State is restored outside the timing, in the reset after
 * every fork: the result is checked, the parent's W bits are given back
 * (through vmmu_shadow_write_batch for the shadow cases, so the engine
 * sees every guest table store), every parent page is faulted in again,
 * the child's tables are cleared (never shadowed: plain stores) and the
 * batch queue is re-initialised so the run starts at slot 0 (one
 * contiguous run, one submit).
 *
 * Guest memory is a bench_plat arena (guest-physical = arena offset); the
 * shadow tables come from a second one (the host). Data frames lie beyond
 * the guest arena: the guest walk never reads them and the p2m maps every
 * guest frame to host frame gfn + SB_HOST_OFF.
 */
#include "bench_cases.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SB_PAGES 16384u /* 64 MiB of 4K pages */
#define SB_L1S (SB_PAGES / 512u)
#define SB_WRITES (2u * SB_PAGES) /* per fork: parent + child entry */

/* Guest frames (guest-physical frame numbers in the guest arena). */
#define G_PML4 1u
#define G_PDPT 2u
#define G_PD 3u
#define G_L1 4u        /* parent level-1 tables: G_L1 .. G_L1 + 31 */
#define G_CHILD_L1 40u /* child level-1 tables */
#define G_B_PML4 80u   /* the second address space (cr3 case) */
#define G_B_PDPT 81u
#define G_B_PD 82u
#define G_B_L1 83u
#define G_FRAMES 96u

#define SB_DATA_GFN 0x10000ull /* data page i of the region */
#define SB_HOST_OFF 0x100000ull
#define SB_HOST_FRAMES 512u
#define SB_MAX_PAGES 256u
#define SB_SLOTS 65536u /* > SB_WRITES + 1: a fork is one run */

#define E_P (1ull << 0)
#define E_W (1ull << 1)
#define E_U (1ull << 2)
#define E_A (1ull << 5)
#define E_D (1ull << 6)
#define E_TABLE (E_P | E_W | E_U | E_A)
#define E_LEAF (E_P | E_W | E_U | E_A | E_D)

/* How the fork cases write (the other cases use SB_NATIVE: no fork). */
enum sb_mode { SB_NATIVE, SB_BATCHED, SB_TRAPPED };

struct sb {
	struct bench_plat guest, host;
	struct vmmu_fmt fmt;
	struct vmmu_cpu_state cpu;
	struct vmmu_shadow sh;
	struct vmmu_shadow_page *pages;
	struct vmmu_shadow_vcpu v;
	struct vmmu_shadow_vcpu *vp[1];
	bool sh_live, v_live;
	struct vmmu_walker hw; /* hardware on the shadow tables (checks) */
	struct vmmu_batch_shadow bs;
	struct vmmu_shadow_store *scratch;
	struct vmmu_batch_cpu q;
	struct vmmu_batch_entry *slots;
	enum sb_mode mode;
	uint64_t root_a, root_b; /* cr3 case */
	uint64_t bad;
	const char *err;
};

static int sb_p2m(void *ctx, uint64_t gfn, uint64_t *hfn)
{
	(void)ctx;
	*hfn = gfn + SB_HOST_OFF;
	return VMMU_P2M_RAM;
}

static const struct vmmu_shadow_ops sb_ops = {.p2m = sb_p2m};

static uint64_t *sb_table(struct sb *b, uint64_t gfn)
{
	return (uint64_t *)bench_plat_ptr(&b->guest, gfn << VMMU_PAGE_SHIFT);
}

/* Guest-physical address of PTE i of the parent (child: of the child). */
static uint64_t sb_pte_gpa(unsigned i, bool child)
{
	return ((uint64_t)((child ? G_CHILD_L1 : G_L1) + i / 512u) << 12) +
	       (i % 512u) * 8u;
}

static uint64_t sb_leaf(unsigned i)
{
	return ((SB_DATA_GFN + i) << 12) | E_LEAF;
}

static void sb_note(struct sb *b, bool bad, const char *err)
{
	if (bad) {
		b->bad++;
		b->err = err;
	}
}

static const char *sb_error(void *st)
{
	const struct sb *b = st;

	return b->bad != 0 ? b->err : NULL;
}

static void sb_free(void *st)
{
	struct sb *b = st;

	if (b == NULL) {
		return;
	}
	if (b->v_live) {
		vmmu_shadow_vcpu_destroy(&b->v);
	}
	if (b->sh_live) {
		vmmu_shadow_destroy(&b->sh);
	}
	if (b->host.arena != NULL) {
		bench_plat_fini(&b->host);
	}
	if (b->guest.arena != NULL) {
		bench_plat_fini(&b->guest);
	}
	free(b->pages);
	free(b->scratch);
	free(b->slots);
	free(b);
}

/* The parent's region (va 0 .. 64 MiB) and a one-table second space. */
static void sb_guest_tables(struct sb *b)
{
	sb_table(b, G_PML4)[0] = ((uint64_t)G_PDPT << 12) | E_TABLE;
	sb_table(b, G_PDPT)[0] = ((uint64_t)G_PD << 12) | E_TABLE;
	for (unsigned t = 0; t < SB_L1S; t++) {
		sb_table(b, G_PD)[t] = ((uint64_t)(G_L1 + t) << 12) | E_TABLE;
	}
	for (unsigned i = 0; i < SB_PAGES; i++) {
		sb_table(b, G_L1)[i] = sb_leaf(i); /* the L1s are contiguous */
	}
	sb_table(b, G_B_PML4)[0] = ((uint64_t)G_B_PDPT << 12) | E_TABLE;
	sb_table(b, G_B_PDPT)[0] = ((uint64_t)G_B_PD << 12) | E_TABLE;
	sb_table(b, G_B_PD)[0] = ((uint64_t)G_B_L1 << 12) | E_TABLE;
	sb_table(b, G_B_L1)[0] = sb_leaf(SB_PAGES);
}

static int sb_check(const char *what, int rc)
{
	if (rc != 0) {
		fprintf(stderr, "bench: shadow: %s: %d (%s)\n", what, rc,
			vmmu_strerror(rc));
		return -1;
	}
	return 0;
}

/* Platforms, guest tables, the instance and one vCPU on the parent. */
static struct sb *sb_new(enum sb_mode mode)
{
	struct sb *b = calloc(1, sizeof(*b));

	if (b == NULL || bench_plat_init(&b->guest, G_FRAMES, false) != 0 ||
	    bench_plat_init(&b->host, SB_HOST_FRAMES, false) != 0 ||
	    (b->pages = calloc(SB_MAX_PAGES, sizeof(*b->pages))) == NULL) {
		fprintf(stderr, "bench: out of host memory\n");
		sb_free(b);
		return NULL;
	}
	b->mode = mode;
	sb_guest_tables(b);
	b->cpu = (struct vmmu_cpu_state){
		.cr0 = VMMU_CR0_PE | VMMU_CR0_PG | VMMU_CR0_WP,
		.cr4 = VMMU_CR4_PAE,
		.efer = VMMU_EFER_LME | VMMU_EFER_LMA | VMMU_EFER_NXE,
	};
	if (sb_check("vmmu_fmt_init_x86",
		     vmmu_fmt_init_x86(&b->fmt, 4, BENCH_MAXPHYADDR, VMMU_FMT_F_1G)) ||
	    sb_check("vmmu_shadow_init",
		     vmmu_shadow_init(&b->sh, &b->fmt, &b->host.plat, &sb_ops, NULL,
				      b->pages, SB_MAX_PAGES))) {
		sb_free(b);
		return NULL;
	}
	b->sh_live = true;
	if (sb_check("vmmu_shadow_vcpu_init",
		     vmmu_shadow_vcpu_init(&b->v, &b->sh, &b->fmt, &b->guest.plat,
					   &b->cpu, (uint64_t)G_PML4 << 12)) ||
	    sb_check("vmmu_walker_init",
		     vmmu_walker_init(&b->hw, &b->fmt, &b->host.plat, &b->cpu))) {
		sb_free(b);
		return NULL;
	}
	b->v_live = true;
	b->vp[0] = &b->v;
	return b;
}

/* --- shadow/fault_fill/4k ----------------------------------------------------- */

/*
 * One fault per page of the region that the shadow does not map yet, as
 * hardware would raise them: every page with prefetch off, the first page
 * of each aligned group of 8 with prefetch on (that fault fills the group).
 */
static uint64_t fill_round(struct sb *b)
{
	uint64_t sum = 0, bad = 0;
	unsigned step = b->sh.no_prefetch ? 1 : 8;

	for (unsigned i = 0; i < SB_PAGES; i += step) {
		struct vmmu_shadow_result res;
		int rc = vmmu_shadow_fault(&b->v, (uint64_t)i << 12, VMMU_ACC_READ, &res);
		bad += rc != 0 || res.outcome != VMMU_SHADOW_FIXED ||
		       res.hpa != (SB_DATA_GFN + i + SB_HOST_OFF) << 12;
		sum += res.hpa;
	}
	sb_note(b, bad != 0, "a fault did not fill the expected leaf");
	return sum;
}

static uint64_t fill_run(void *st, uint64_t n)
{
	struct sb *b = st;
	uint64_t sum = 0;

	for (uint64_t k = 0; k < n; k++) {
		sum += fill_round(b);
	}
	return sum;
}

/* Drop every leaf again (guest INVLPG of each page): untimed. */
static void fill_reset(void *st)
{
	struct sb *b = st;
	int rc = 0;

	for (unsigned i = 0; i < SB_PAGES; i++) {
		rc |= vmmu_shadow_invlpg(&b->v, (uint64_t)i << 12);
	}
	sb_note(b, rc != 0, "vmmu_shadow_invlpg failed (reset)");
}

/* Whether the shadow maps page i (hardware walk, no A/D), writable or not. */
static bool sb_maps(struct sb *b, unsigned i, uint32_t acc)
{
	uint64_t root;
	struct vmmu_walk w;

	if (vmmu_shadow_root(&b->v, &root) != 0) {
		return false;
	}
	return vmmu_walk(&b->hw, root, (uint64_t)i << 12, acc | VMMU_ACC_PEEK, &w) ==
		       VMMU_WALK_OK &&
	       w.addr == (SB_DATA_GFN + i + SB_HOST_OFF) << 12;
}

static void *fill_setup_mode(bool prefetch)
{
	struct sb *b = sb_new(SB_NATIVE);

	if (b == NULL) {
		return NULL;
	}
	vmmu_shadow_set_prefetch(&b->sh, prefetch);
	/* Round one creates the shadow tables and sets nothing in the guest
	 * (A/D are set already); the reset must leave no leaf behind. */
	fill_round(b);
	bool filled = sb_maps(b, 0, VMMU_ACC_WRITE) && sb_maps(b, SB_PAGES - 1, 0);
	fill_reset(b);
	if (b->bad != 0 || !filled || sb_maps(b, 0, 0) || sb_maps(b, 777, 0) ||
	    sb_table(b, G_L1)[5] != sb_leaf(5)) {
		fprintf(stderr, "bench: shadow/fault_fill: setup check failed (%s)\n",
			b->err != NULL ? b->err : "leaves");
		sb_free(b);
		return NULL;
	}
	return b;
}

static void *fill_setup(void)
{
	return fill_setup_mode(false);
}

static void *fill_setup_prefetch(void)
{
	return fill_setup_mode(true);
}

const struct bench_case bench_shadow_fault_fill_4k = {
	.name = "shadow/fault_fill/4k",
	.what = "vmmu_shadow_fault on 16384 distinct 4K pages (guest A/D set, "
		"shadow levels 4..2 present, prefetch off: one leaf per "
		"fault); reset: vmmu_shadow_invlpg each",
	.setup = fill_setup,
	.teardown = sb_free,
	.run = fill_run,
	.reset = fill_reset,
	.error = sb_error,
	.items_per_iter = SB_PAGES,
	.item = "fault",
};

const struct bench_case bench_shadow_fault_fill_4k_prefetch = {
	.name = "shadow/fault_fill/4k_prefetch",
	.what = "vmmu_shadow_fault on the first page of each group of 8 of "
		"16384 4K pages, prefetch on: each fault maps 8 pages; "
		"reset: vmmu_shadow_invlpg each page",
	.setup = fill_setup_prefetch,
	.teardown = sb_free,
	.run = fill_run,
	.reset = fill_reset,
	.error = sb_error,
	.items_per_iter = SB_PAGES / 8,
	.item = "fault (8 pages)",
};

/* --- shadow/cr3_switch/cached ----------------------------------------------- */

static uint64_t cr3_run(void *st, uint64_t n)
{
	struct sb *b = st;
	uint64_t sum = 0, bad = 0;

	for (uint64_t k = 0; k < n; k++) {
		bool to_b = (k & 1) == 0;
		uint64_t root = 0;
		int rc = vmmu_shadow_new_cr3(&b->v, (uint64_t)(to_b ? G_B_PML4 : G_PML4) << 12);
		rc |= vmmu_shadow_root(&b->v, &root);
		bad += rc != 0 || root != (to_b ? b->root_b : b->root_a);
		sum += root;
	}
	/* Leave the vCPU on A, as the next call expects (n may be odd). */
	if ((n & 1) != 0) {
		uint64_t root;
		bad += vmmu_shadow_new_cr3(&b->v, (uint64_t)G_PML4 << 12) != 0 ||
		       vmmu_shadow_root(&b->v, &root) != 0;
	}
	sb_note(b, bad != 0, "a CR3 switch gave the wrong root");
	return sum;
}

static void *cr3_setup(void)
{
	struct sb *b = sb_new(SB_NATIVE);
	struct vmmu_shadow_result res;

	if (b == NULL) {
		return NULL;
	}
	/* Both spaces faulted in once: their roots (and trees) are cached. */
	if (sb_check("fault A", vmmu_shadow_fault(&b->v, 0, VMMU_ACC_READ, &res)) ||
	    sb_check("root A", vmmu_shadow_root(&b->v, &b->root_a)) ||
	    sb_check("new_cr3 B", vmmu_shadow_new_cr3(&b->v, (uint64_t)G_B_PML4 << 12)) ||
	    sb_check("fault B", vmmu_shadow_fault(&b->v, 0, VMMU_ACC_READ, &res)) ||
	    sb_check("root B", vmmu_shadow_root(&b->v, &b->root_b)) ||
	    sb_check("new_cr3 A", vmmu_shadow_new_cr3(&b->v, (uint64_t)G_PML4 << 12)) ||
	    b->root_a == 0 || b->root_b == 0 || b->root_a == b->root_b) {
		sb_free(b);
		return NULL;
	}
	cr3_run(b, 2);
	if (b->bad != 0) {
		fprintf(stderr, "bench: shadow/cr3_switch: roots not cached\n");
		sb_free(b);
		return NULL;
	}
	return b;
}

const struct bench_case bench_shadow_cr3_switch_cached = {
	.name = "shadow/cr3_switch/cached",
	.what = "vmmu_shadow_new_cr3 + vmmu_shadow_root, alternating between "
		"two address spaces with cached shadow roots",
	.setup = cr3_setup,
	.teardown = sb_free,
	.run = cr3_run,
	.error = sb_error,
	.items_per_iter = 1,
	.item = "switch",
};

/* --- fork ------------------------------------------------------------------- */

/* Plain stores: the parent entry loses W, the child gets a copy. */
static void fork_native(struct sb *b)
{
	uint64_t *parent = sb_table(b, G_L1);
	uint64_t *child = sb_table(b, G_CHILD_L1);

	for (unsigned i = 0; i < SB_PAGES; i++) {
		uint64_t v = parent[i] & ~E_W;
		__atomic_store_n(&parent[i], v, __ATOMIC_RELAXED);
		__atomic_store_n(&child[i], v, __ATOMIC_RELAXED);
	}
}

/* The same writes queued in lazy mode, the guest's flush, one submit. */
static int fork_batched(struct sb *b)
{
	const uint64_t *parent = sb_table(b, G_L1);
	int rc = 0;

	vmmu_batch_lazy_enter(&b->q);
	for (unsigned i = 0; i < SB_PAGES; i++) {
		uint64_t v = parent[i] & ~E_W;
		rc |= vmmu_batch_pte_write(&b->q, sb_pte_gpa(i, false), 1, v);
		rc |= vmmu_batch_pte_write(&b->q, sb_pte_gpa(i, true), 1, v);
	}
	rc |= vmmu_batch_tlb_flush(&b->q, VMMU_BATCH_LOCAL, NULL, 0);
	rc |= vmmu_batch_lazy_leave(&b->q);
	return rc;
}

/* Each write one emulated store, then the guest's flush. */
static int fork_trapped(struct sb *b)
{
	const uint64_t *parent = sb_table(b, G_L1);
	int rc = 0;

	for (unsigned i = 0; i < SB_PAGES; i++) {
		uint64_t v = parent[i] & ~E_W;
		rc |= vmmu_shadow_write(&b->v, sb_pte_gpa(i, false), v, 8);
		rc |= vmmu_shadow_write(&b->v, sb_pte_gpa(i, true), v, 8);
	}
	rc |= vmmu_shadow_flush_tlb(&b->v);
	return rc;
}

static uint64_t fork_run(void *st, uint64_t n)
{
	struct sb *b = st;
	int rc = 0;

	for (uint64_t k = 0; k < n; k++) {
		if (b->mode == SB_NATIVE) {
			fork_native(b);
		} else {
			rc |= b->mode == SB_BATCHED ? fork_batched(b) : fork_trapped(b);
		}
	}
	sb_note(b, rc != 0, "a PTE write of the fork was refused");
	return sb_table(b, G_CHILD_L1)[SB_PAGES - 1];
}

/* After a fork: both sides hold the read-only copy; no shadow leaf of the
 * parent still allows a write (sampled: every 61st page and the last). */
static void fork_check(struct sb *b)
{
	const uint64_t *parent = sb_table(b, G_L1);
	const uint64_t *child = sb_table(b, G_CHILD_L1);
	uint64_t bad = 0;

	for (unsigned i = 0; i < SB_PAGES; i++) {
		bad += parent[i] != (sb_leaf(i) & ~E_W) || child[i] != parent[i];
	}
	sb_note(b, bad != 0, "the fork left a wrong guest entry");
	bad = 0;
	for (unsigned i = 0; b->mode != SB_NATIVE && i < SB_PAGES; i += 61) {
		bad += sb_maps(b, i, VMMU_ACC_WRITE);
	}
	bad += b->mode != SB_NATIVE && sb_maps(b, SB_PAGES - 1, VMMU_ACC_WRITE);
	sb_note(b, bad != 0, "the parent's shadow still allows a write after the fork");
}

/* Give the parent its W bits back: through the engine when shadowed. */
static void fork_unshare(struct sb *b)
{
	uint64_t *parent = sb_table(b, G_L1);
	uint32_t done = 0;

	if (b->mode == SB_NATIVE) {
		for (unsigned i = 0; i < SB_PAGES; i++) {
			parent[i] = sb_leaf(i);
		}
		return;
	}
	for (unsigned i = 0; i < SB_PAGES; i++) {
		b->scratch[i] = (struct vmmu_shadow_store){
			.gpa = sb_pte_gpa(i, false), .value = sb_leaf(i)};
	}
	sb_note(b, vmmu_shadow_write_batch(&b->v, b->scratch, SB_PAGES, &done) != 0 ||
			   done != SB_PAGES,
		"restoring the parent failed (reset)");
}

/* Untimed: check the fork, restore the parent (shared again, shadow
 * live), clear the child, restart the queue at slot 0. */
static void fork_reset(void *st)
{
	struct sb *b = st;

	fork_check(b);
	fork_unshare(b);
	memset(sb_table(b, G_CHILD_L1), 0, SB_L1S * VMMU_PAGE_SIZE);
	if (b->mode != SB_NATIVE) {
		fill_round(b);
	}
	if (b->mode == SB_BATCHED) {
		sb_note(b, vmmu_batch_cpu_init(&b->q, 0, b->slots, SB_SLOTS,
					       &b->bs.backend) != 0,
			"vmmu_batch_cpu_init failed (reset)");
	}
}

/* The scratch (restores; the backend's gather), the queue, the backend. */
static int fork_batch_init(struct sb *b)
{
	b->scratch = bench_line_alloc(SB_WRITES * sizeof(*b->scratch));
	b->slots = bench_line_alloc(SB_SLOTS * sizeof(*b->slots));
	if (b->scratch == NULL || b->slots == NULL) {
		return -1;
	}
	if (sb_check("vmmu_batch_shadow_init",
		     vmmu_batch_shadow_init(&b->bs, &b->sh, b->vp, 1, b->scratch,
					    SB_WRITES)) ||
	    sb_check("vmmu_batch_cpu_init",
		     vmmu_batch_cpu_init(&b->q, 0, b->slots, SB_SLOTS, &b->bs.backend))) {
		return -1;
	}
	return 0;
}

/* One fork and reset untimed: both must leave the expected state. */
static void *fork_setup(enum sb_mode mode)
{
	struct sb *b = sb_new(mode);

	if (b == NULL || (mode != SB_NATIVE && fork_batch_init(b) != 0)) {
		sb_free(b);
		return NULL;
	}
	if (mode != SB_NATIVE) {
		fill_round(b);
	}
	fork_run(b, 1);
	fork_reset(b);
	if (b->bad != 0 || (mode != SB_NATIVE && !sb_maps(b, 100, VMMU_ACC_WRITE)) ||
	    sb_table(b, G_L1)[100] != sb_leaf(100)) {
		fprintf(stderr, "bench: fork: setup check failed (%s)\n",
			b->err != NULL ? b->err : "parent not live again");
		sb_free(b);
		return NULL;
	}
	return b;
}

static void *fork_native_setup(void)
{
	return fork_setup(SB_NATIVE);
}

static void *fork_batched_setup(void)
{
	return fork_setup(SB_BATCHED);
}

static void *fork_trapped_setup(void)
{
	return fork_setup(SB_TRAPPED);
}

const struct bench_case bench_native_fork_64mib = {
	.name = "native/fork/64mib",
	.what = "16384 parent PTEs lose W in place and are copied to the child "
		"(plain stores); reset: parent W restored, child cleared",
	.setup = fork_native_setup,
	.teardown = sb_free,
	.run = fork_run,
	.reset = fork_reset,
	.error = sb_error,
	.items_per_iter = SB_WRITES,
	.item = "PTE write",
};

const struct bench_case bench_shadow_fork_64mib_batched = {
	.name = "shadow/fork/64mib_batched",
	.what = "the fork's 32768 PTE writes + a TLB flush in lazy mode, one "
		"submit to the shadow backend; reset: parent restored, re-faulted",
	.setup = fork_batched_setup,
	.teardown = sb_free,
	.run = fork_run,
	.reset = fork_reset,
	.error = sb_error,
	.items_per_iter = SB_WRITES,
	.item = "PTE write",
};

const struct bench_case bench_shadow_fork_64mib_trapped = {
	.name = "shadow/fork/64mib_trapped",
	.what = "the fork's 32768 PTE writes, one vmmu_shadow_write each, then "
		"vmmu_shadow_flush_tlb; reset: parent restored, re-faulted",
	.setup = fork_trapped_setup,
	.teardown = sb_free,
	.run = fork_run,
	.reset = fork_reset,
	.error = sb_error,
	.items_per_iter = SB_WRITES,
	.item = "PTE write",
};
