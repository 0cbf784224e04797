/* SPDX-License-Identifier: MIT */
/*
 * vmmu_walk benchmarks. Each iteration walks one address of a 64-entry
 * ring; the next address is computed from this walk's output address, so
 * consecutive walks form one dependency chain, exactly like the floor
 * cases in floor.c (same tables, same ring, same address arithmetic).
 */
#include "bench_cases.h"

#include <stdio.h>
#include <string.h>

static inline uint64_t walk_loop(struct bench_tree *t, uint64_t n,
				 uint32_t access)
{
	const struct vmmu_walker *w = &t->w;
	const uint64_t cr3 = t->cr3;
	const uint64_t base = t->va_base;
	const uint64_t mask = t->ring_mask;
	uint64_t va = t->va;
	uint64_t bad = 0;
	struct vmmu_walk out;

	memset(&out, 0, sizeof(out));
	for (uint64_t i = 0; i < n; i++) {
		int rc = vmmu_walk(w, cr3, va, access, &out);

		bad += rc != VMMU_WALK_OK;
		va = base | (out.addr & mask);
	}
	t->va = va;
	if (bad != 0) {
		t->bad += bad;
		t->err = "vmmu_walk failed inside the timed loop";
	}
	return va ^ bad;
}

static uint64_t walk_read(void *st, uint64_t n)
{
	return walk_loop(st, n, VMMU_ACC_READ);
}

static uint64_t walk_peek(void *st, uint64_t n)
{
	return walk_loop(st, n, VMMU_ACC_READ | VMMU_ACC_PEEK);
}

/*
 * Write walk that must set A in all four entries and D in the leaf: the
 * loop clears them first with plain read-modify-write stores (part of the
 * measured time), then walks for a supervisor write.
 */
static uint64_t walk_set_ad(void *st, uint64_t n)
{
	struct bench_tree *t = st;
	const struct vmmu_walker *w = &t->w;
	const uint64_t cr3 = t->cr3;
	const uint64_t base = t->va_base;
	const uint64_t mask = t->ring_mask;
	const unsigned shift = t->fmt.level[1].shift;
	const uint64_t a4 = t->fmt.level[4].accessed;
	const uint64_t a3 = t->fmt.level[3].accessed;
	const uint64_t a2 = t->fmt.level[2].accessed;
	const uint64_t ad1 = t->fmt.level[1].accessed | t->fmt.level[1].dirty;
	uint64_t va = t->va;
	uint64_t bad = 0;
	struct vmmu_walk out;

	memset(&out, 0, sizeof(out));
	for (uint64_t i = 0; i < n; i++) {
		vmmu_pte_t *const *s = t->slot[(va >> shift) & (BENCH_RING - 1u)];

		*s[4] &= ~a4;
		*s[3] &= ~a3;
		*s[2] &= ~a2;
		*s[1] &= ~ad1;
		int rc = vmmu_walk(w, cr3, va, VMMU_ACC_WRITE, &out);

		bad += rc != VMMU_WALK_OK;
		va = base | (out.addr & mask);
	}
	t->va = va;
	if (bad != 0) {
		t->bad += bad;
		t->err = "vmmu_walk failed inside the timed loop";
	}
	return va ^ bad;
}

static void *setup_4level_4k(void)
{
	return bench_tree_new(4, 1, false);
}

static void *setup_4level_2m(void)
{
	return bench_tree_new(4, 2, false);
}

static void *setup_4level_1g(void)
{
	return bench_tree_new(4, 3, false);
}

static void *setup_5level_4k(void)
{
	return bench_tree_new(5, 1, false);
}

static void *setup_4level_4k_maphook(void)
{
	return bench_tree_new(4, 1, true);
}

/* The set_ad tree must translate writes and report A/D where expected. */
static void *setup_4level_4k_set_ad(void)
{
	struct bench_tree *t = bench_tree_new(4, 1, false);

	if (t == NULL) {
		return NULL;
	}
	walk_set_ad(t, BENCH_RING);
	for (unsigned k = 0; k < BENCH_RING && t->bad == 0; k++) {
		for (unsigned l = 4; l >= 1; l--) {
			uint64_t want = t->fmt.level[l].accessed |
					(l == 1 ? t->fmt.level[1].dirty : 0);
			if ((*t->slot[k][l] & want) != want) {
				t->bad = 1;
				t->err = "write walk did not set A/D";
			}
		}
	}
	if (t->bad != 0) {
		fprintf(stderr, "bench: walk/4level/4k_set_ad: %s\n", t->err);
		bench_tree_free(t);
		return NULL;
	}
	return t;
}

const struct bench_case bench_walk_4level_4k = {
	.name = "walk/4level/4k",
	.what = "supervisor read walk, 4-level tree, 4K leaf, A already set",
	.setup = setup_4level_4k,
	.teardown = bench_tree_free,
	.run = walk_read,
	.error = bench_tree_error,
	.items_per_iter = 1,
	.item = "walk",
};

const struct bench_case bench_walk_4level_2m = {
	.name = "walk/4level/2m",
	.what = "supervisor read walk, 4-level tree, 2M leaf, A already set",
	.setup = setup_4level_2m,
	.teardown = bench_tree_free,
	.run = walk_read,
	.error = bench_tree_error,
	.items_per_iter = 1,
	.item = "walk",
};

const struct bench_case bench_walk_4level_1g = {
	.name = "walk/4level/1g",
	.what = "supervisor read walk, 4-level tree, 1G leaf, A already set",
	.setup = setup_4level_1g,
	.teardown = bench_tree_free,
	.run = walk_read,
	.error = bench_tree_error,
	.items_per_iter = 1,
	.item = "walk",
};

const struct bench_case bench_walk_5level_4k = {
	.name = "walk/5level/4k",
	.what = "supervisor read walk, 5-level tree (LA57), 4K leaf, A already set",
	.setup = setup_5level_4k,
	.teardown = bench_tree_free,
	.run = walk_read,
	.error = bench_tree_error,
	.items_per_iter = 1,
	.item = "walk",
};

const struct bench_case bench_walk_4level_4k_peek = {
	.name = "walk/4level/4k_peek",
	.what = "as walk/4level/4k with VMMU_ACC_PEEK (never writes A/D)",
	.setup = setup_4level_4k,
	.teardown = bench_tree_free,
	.run = walk_peek,
	.error = bench_tree_error,
	.items_per_iter = 1,
	.item = "walk",
};

const struct bench_case bench_walk_4level_4k_set_ad = {
	.name = "walk/4level/4k_set_ad",
	.what = "clear 4 A bits + D, then a supervisor write walk that sets them",
	.setup = setup_4level_4k_set_ad,
	.teardown = bench_tree_free,
	.run = walk_set_ad,
	.error = bench_tree_error,
	.items_per_iter = 1,
	.item = "walk",
};

const struct bench_case bench_walk_4level_4k_maphook = {
	.name = "walk/4level/4k_maphook",
	.what = "as walk/4level/4k with tables reached through frame_map",
	.setup = setup_4level_4k_maphook,
	.teardown = bench_tree_free,
	.run = walk_read,
	.error = bench_tree_error,
	.items_per_iter = 1,
	.item = "walk",
};
