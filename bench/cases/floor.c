/* SPDX-License-Identifier: MIT */
/*
 * The floor: what a walk costs with nothing but its dependent loads. Over
 * the very tables the walk cases use (built by the library, reached
 * through the same direct map), each step loads the entry indexed by the
 * address, masks the table address out of it, adds the direct-map base and
 * loads from the next table, down to the leaf. No present, reserved-bit or
 * permission check, no A/D, no function call, no result struct.
 *
 * The next address is computed from the leaf entry exactly as walk.c
 * computes it from vmmu_walk's output address (va_base | (x & ring_mask)),
 * so both sides carry the same dependency from one iteration to the next.
 * One case per depth: /2 over the 1G tree, /3 over the 2M tree, /4 over
 * the 4-level 4K tree, /5 over the 5-level 4K tree.
 */
#include "bench_cases.h"

#include <stdio.h>

static inline uint64_t floor_load(uintptr_t dm, uint64_t table_pa, uint64_t va,
				  unsigned shift)
{
	const uint64_t *table = (const uint64_t *)(dm + (uintptr_t)table_pa);

	return table[(va >> shift) & (VMMU_PT_ENTRIES - 1u)];
}

/*
 * One walk of `loads` dependent loads (2..5); returns the leaf entry.
 * Written out level by level (and only ever called with a constant
 * `loads`) so that no loop control sits between the loads.
 */
static inline uint64_t floor_chain(uintptr_t dm, uint64_t root, uint64_t am,
				   uint64_t va, unsigned loads)
{
	uint64_t e;

	if (loads == 5) {
		e = floor_load(dm, root, va, 48);          /* PML5E */
		e = floor_load(dm, e & am, va, 39);        /* PML4E */
	} else {
		e = floor_load(dm, root, va, 39);          /* PML4E */
	}
	e = floor_load(dm, e & am, va, 30);                /* PDPTE */
	if (loads >= 3) {
		e = floor_load(dm, e & am, va, 21);        /* PDE */
	}
	if (loads >= 4) {
		e = floor_load(dm, e & am, va, 12);        /* PTE */
	}
	return e;
}

static inline uint64_t floor_loop(struct bench_tree *t, uint64_t n,
				  unsigned loads)
{
	const uintptr_t dm = t->bp.plat.direct_map_base;
	const uint64_t root = t->cr3;
	const uint64_t am = t->fmt.level[2].addr_table;
	const uint64_t base = t->va_base;
	const uint64_t mask = t->ring_mask;
	uint64_t va = t->va;

	for (uint64_t i = 0; i < n; i++) {
		uint64_t e = floor_chain(dm, root, am, va, loads);

		va = base | (e & mask);
	}
	t->va = va;
	return va;
}

/*
 * Build the tree and check that the chase follows the ring the library
 * built: step k must land on ring element bench_ring_next(k).
 */
static void *floor_setup(unsigned levels, unsigned leaf_level, unsigned loads)
{
	struct bench_tree *t = bench_tree_new(levels, leaf_level, false);

	if (t == NULL) {
		return NULL;
	}
	const unsigned shift = t->fmt.level[leaf_level].shift;
	for (unsigned k = 0; k < BENCH_RING; k++) {
		uint64_t from = t->va_base | ((uint64_t)k << shift);
		uint64_t want = t->va_base | ((uint64_t)bench_ring_next(k) << shift);

		t->va = from;
		floor_loop(t, 1, loads);
		if (t->va != want) {
			fprintf(stderr,
				"bench: floor/%u: chase from %#llx gave %#llx, "
				"expected %#llx\n",
				loads, (unsigned long long)from,
				(unsigned long long)t->va,
				(unsigned long long)want);
			bench_tree_free(t);
			return NULL;
		}
	}
	t->va = t->va_base;
	return t;
}

/*
 * FLOOR_CASE(loads, levels, leaf_level, what) defines the case
 * bench_floor_loads_<loads>, "floor/dependent_loads/<loads>": the chase of
 * `loads` dependent loads over the tree of the walk case with `levels`
 * and `leaf_level`, with the case's own run and setup functions (the
 * shim passes them no case parameters).
 */
#define FLOOR_CASE(loads, levels, leaf_level, what_)                         \
	static uint64_t floor_run_##loads(void *st, uint64_t n)              \
	{                                                                    \
		return floor_loop(st, n, loads);                             \
	}                                                                    \
	static void *floor_setup_##loads(void)                               \
	{                                                                    \
		return floor_setup(levels, leaf_level, loads);               \
	}                                                                    \
	const struct bench_case bench_floor_loads_##loads = {                \
		.name = "floor/dependent_loads/" #loads,                     \
		.what = (what_),                                             \
		.setup = floor_setup_##loads,                                \
		.teardown = bench_tree_free,                                 \
		.run = floor_run_##loads,                                    \
		.items_per_iter = 1,                                         \
		.item = "chase",                                             \
	}

FLOOR_CASE(2, 4, 3,
	   "2 dependent loads (PML4E, PDPTE) over the walk/4level/1g tables");
FLOOR_CASE(3, 4, 2,
	   "3 dependent loads (PML4E..PDE) over the walk/4level/2m tables");
FLOOR_CASE(4, 4, 1,
	   "4 dependent loads (PML4E..PTE) over the walk/4level/4k tables");
FLOOR_CASE(5, 5, 1,
	   "5 dependent loads (PML5E..PTE) over the walk/5level/4k tables");
