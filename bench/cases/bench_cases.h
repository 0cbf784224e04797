/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the benchmark cases: a minimal direct-map platform and
 * the small page-table trees the walk and floor cases run over.
 */
#ifndef VMMU_BENCH_CASES_H
#define VMMU_BENCH_CASES_H

#include <vmmu/vmmu.h>

#include "bench_c.h"

/* --- platform (platform.c) ------------------------------------------------ */

/*
 * Frames come from one host arena that is also the direct map: physical
 * address p is at arena + p. Frame 0 is never handed out. No poisoning, no
 * accounting beyond a free stack: allocation is a pop, free a push, so the
 * builder benchmarks measure the library, not the platform.
 */
struct bench_plat {
	struct vmmu_platform plat;
	uint8_t *arena;
	uint64_t frames;
	uint64_t *free_stack;
	uint64_t free_top;
	uint64_t flushes;
};

/* Zeroed host memory on its own cache lines (64-byte aligned, the size
 * rounded up), or NULL after saying so on stderr. Free with free(). */
void *bench_line_alloc(size_t bytes);

/* 0 or -1 (host out of memory). map_hook: reach tables through frame_map. */
int bench_plat_init(struct bench_plat *bp, uint64_t frames, bool map_hook);
void bench_plat_fini(struct bench_plat *bp);
static inline void *bench_plat_ptr(const struct bench_plat *bp, uint64_t pa)
{
	return bp->arena + pa;
}

/* --- trees for the walk and floor cases (tree.c) ---------------------------- */

/* Pages in the ring each walk case cycles through. */
#define BENCH_RING 64u
/* Output frames live here: far above the arena, never dereferenced. */
#define BENCH_OUT_BASE (1ull << 40)
/* MAXPHYADDR of the bench formats (the machine this was written on). */
#define BENCH_MAXPHYADDR 46u
/* Byte offset inside the page that every walked address carries. */
#define BENCH_PAGE_OFFSET 0x568u

/*
 * A tree holding BENCH_RING leaves of one size at consecutive input
 * addresses under a single table of the leaf level. Leaf k maps to output
 * frame BENCH_OUT_BASE + ring_next(k) * leaf size, so the output address
 * of one walk, masked with ring_mask and ORed into va_base, is the input
 * address of the next one: the ring order is stored in the tables and
 * each walk depends on the one before (see docs/benchmarks.md).
 */
struct bench_tree {
	struct bench_plat bp;
	struct vmmu_fmt fmt;
	struct vmmu_pt pt;
	struct vmmu_walker w;
	uint64_t cr3;       /* root table's physical address */
	uint64_t va_base;   /* first leaf's input address | BENCH_PAGE_OFFSET */
	uint64_t ring_mask; /* (BENCH_RING - 1) << leaf shift */
	uint64_t va;        /* next address to walk (carried between runs) */
	unsigned levels;    /* 4 or 5 */
	unsigned leaf_level; /* 1 (4K), 2 (2M), 3 (1G) */
	bool pt_live;       /* pt initialised (destroy on free) */
	uint64_t bad;       /* walks that failed or translated wrongly */
	const char *err;    /* first failure, for bench_case::error */
	/* Entries of ring leaf k, levels 1..levels (for the A/D case). */
	vmmu_pte_t *slot[BENCH_RING][VMMU_LEVEL_MAX + 1];
};

/* Where ring element k goes next: one cycle through all BENCH_RING. */
static inline unsigned bench_ring_next(unsigned k)
{
	return (k * 5u + 1u) & (BENCH_RING - 1u);
}

/*
 * Build a tree (levels 4 or 5; leaf_level 1..3), optionally with tables
 * reached through the frame_map hook, warm it (one read walk of every ring
 * address sets the accessed bits) and check that a second round writes
 * nothing. NULL on failure, with the reason on stderr.
 */
struct bench_tree *bench_tree_new(unsigned levels, unsigned leaf_level,
				  bool map_hook);
void bench_tree_free(void *tree);
const char *bench_tree_error(void *tree);

/*
 * End of a timed loop over the ring: keep va for the next run, record the
 * `bad` failed steps (if any) under `err`, return the run's checksum.
 */
static inline uint64_t bench_tree_loop_end(struct bench_tree *t, uint64_t va,
					   uint64_t bad, const char *err)
{
	t->va = va;
	if (bad != 0) {
		t->bad += bad;
		t->err = err;
	}
	return va ^ bad;
}

/* --- the cases -------------------------------------------------------------- */

extern const struct bench_case bench_walk_4level_4k;
extern const struct bench_case bench_walk_4level_2m;
extern const struct bench_case bench_walk_4level_1g;
extern const struct bench_case bench_walk_5level_4k;
extern const struct bench_case bench_walk_4level_4k_peek;
extern const struct bench_case bench_walk_4level_4k_set_ad;
extern const struct bench_case bench_walk_4level_4k_maphook;
extern const struct bench_case bench_floor_loads_2;
extern const struct bench_case bench_floor_loads_3;
extern const struct bench_case bench_floor_loads_4;
extern const struct bench_case bench_floor_loads_5;
extern const struct bench_case bench_pt_map_4k;
extern const struct bench_case bench_pt_unmap_4k;
extern const struct bench_case bench_pt_protect_4k;
extern const struct bench_case bench_pt_map_2m;
extern const struct bench_case bench_pt_lookup_4k;
extern const struct bench_case bench_floor_xen_l1_atomics;
extern const struct bench_case bench_pv_l1_update_batch512;
extern const struct bench_case bench_pv_l1_update_fastpath;
extern const struct bench_case bench_pv_pin_l4_tree_1gib;
extern const struct bench_case bench_peer_ck_ring_spsc;
extern const struct bench_case bench_peer_urcu_wfcq;
extern const struct bench_case bench_batch_enqueue;
extern const struct bench_case bench_unbatched_update_syscall;
extern const struct bench_case bench_batch_flush512_syscall;
extern const struct bench_case bench_shim_reset_overhead;
extern const struct bench_case bench_shadow_fault_fill_4k;
extern const struct bench_case bench_shadow_fault_fill_4k_prefetch;
extern const struct bench_case bench_shadow_cr3_switch_cached;
extern const struct bench_case bench_native_fork_64mib;
extern const struct bench_case bench_shadow_fork_64mib_batched;
extern const struct bench_case bench_shadow_fork_64mib_trapped;

#endif /* VMMU_BENCH_CASES_H */
