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

/* The A/D bits a supervisor write walk sets in the ring's entries. */
struct ring_ad {
	unsigned shift; /* leaf shift: ring index of an address */
	uint64_t a4, a3, a2, ad1;
};

static inline struct ring_ad ring_ad_of(const struct bench_tree *t)
{
	return (struct ring_ad){
		.shift = t->fmt.level[1].shift,
		.a4 = t->fmt.level[4].accessed,
		.a3 = t->fmt.level[3].accessed,
		.a2 = t->fmt.level[2].accessed,
		.ad1 = t->fmt.level[1].accessed | t->fmt.level[1].dirty,
	};
}

/* Clear them with plain read-modify-write stores in the entries of va. */
static inline void ring_clear_ad(struct bench_tree *t, const struct ring_ad *m,
				 uint64_t va)
{
	vmmu_pte_t *const *s = t->slot[(va >> m->shift) & (BENCH_RING - 1u)];

	*s[4] &= ~m->a4;
	*s[3] &= ~m->a3;
	*s[2] &= ~m->a2;
	*s[1] &= ~m->ad1;
}

/*
 * n chained walks for `access`; with clear_ad (4-level 4K tree only), each
 * walk is preceded by ring_clear_ad on its entries. Only ever called with
 * constant access and clear_ad.
 */
static inline uint64_t walk_loop(struct bench_tree *t, uint64_t n,
				 uint32_t access, bool clear_ad)
{
	const struct vmmu_walker *w = &t->w;
	const uint64_t cr3 = t->cr3;
	const uint64_t base = t->va_base;
	const uint64_t mask = t->ring_mask;
	const struct ring_ad m = ring_ad_of(t);
	uint64_t va = t->va;
	uint64_t bad = 0;
	struct vmmu_walk out;

	memset(&out, 0, sizeof(out));
	for (uint64_t i = 0; i < n; i++) {
		if (clear_ad) {
			ring_clear_ad(t, &m, va);
		}
		int rc = vmmu_walk(w, cr3, va, access, &out);

		bad += rc != VMMU_WALK_OK;
		va = base | (out.addr & mask);
	}
	return bench_tree_loop_end(t, va, bad,
				   "vmmu_walk failed inside the timed loop");
}

static uint64_t walk_read(void *st, uint64_t n)
{
	return walk_loop(st, n, VMMU_ACC_READ, false);
}

static uint64_t walk_peek(void *st, uint64_t n)
{
	return walk_loop(st, n, VMMU_ACC_READ | VMMU_ACC_PEEK, false);
}

/*
 * Write walk that must set A in all four entries and D in the leaf: the
 * loop clears them first with plain read-modify-write stores (part of the
 * measured time), then walks for a supervisor write.
 */
static uint64_t walk_set_ad(void *st, uint64_t n)
{
	return walk_loop(st, n, VMMU_ACC_WRITE, true);
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

/* A walk case over a bench_tree: one chained walk per iteration. */
#define WALK_CASE(name_, what_, setup_, run_)                               \
	{                                                                   \
		.name = (name_), .what = (what_), .setup = (setup_),        \
		.teardown = bench_tree_free, .run = (run_),                 \
		.error = bench_tree_error, .items_per_iter = 1,             \
		.item = "walk",                                             \
	}

const struct bench_case bench_walk_4level_4k =
	WALK_CASE("walk/4level/4k",
		  "supervisor read walk, 4-level tree, 4K leaf, A already set",
		  setup_4level_4k, walk_read);

const struct bench_case bench_walk_4level_2m =
	WALK_CASE("walk/4level/2m",
		  "supervisor read walk, 4-level tree, 2M leaf, A already set",
		  setup_4level_2m, walk_read);

const struct bench_case bench_walk_4level_1g =
	WALK_CASE("walk/4level/1g",
		  "supervisor read walk, 4-level tree, 1G leaf, A already set",
		  setup_4level_1g, walk_read);

const struct bench_case bench_walk_5level_4k =
	WALK_CASE("walk/5level/4k",
		  "supervisor read walk, 5-level tree (LA57), 4K leaf, A already set",
		  setup_5level_4k, walk_read);

const struct bench_case bench_walk_4level_4k_peek =
	WALK_CASE("walk/4level/4k_peek",
		  "as walk/4level/4k with VMMU_ACC_PEEK (never writes A/D)",
		  setup_4level_4k, walk_peek);

const struct bench_case bench_walk_4level_4k_set_ad =
	WALK_CASE("walk/4level/4k_set_ad",
		  "clear 4 A bits + D, then a supervisor write walk that sets them",
		  setup_4level_4k_set_ad, walk_set_ad);

const struct bench_case bench_walk_4level_4k_maphook =
	WALK_CASE("walk/4level/4k_maphook",
		  "as walk/4level/4k with tables reached through frame_map",
		  setup_4level_4k_maphook, walk_read);
