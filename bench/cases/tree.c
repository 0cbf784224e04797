/* SPDX-License-Identifier: MIT */
/* The page-table trees the walk and floor cases run over. */
#include "bench_cases.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Table index used at each level above the leaf table, chosen away from 0
 * so that no index is accidentally free: PML5 7, PML4 123, PDPT 45, PD 300.
 * In the leaf's table the ring occupies entries 320..383 (a multiple of
 * BENCH_RING, so ORing a ring offset into va_base is exact).
 */
static const unsigned tree_index[VMMU_LEVEL_MAX + 1] = {0, 0, 300, 45, 123, 7};
#define RING_FIRST 320u

/* Frames the trees need: one table per level, plus slack. */
#define TREE_FRAMES 64u

static int tree_fail(struct bench_tree *t, const char *what, int rc)
{
	fprintf(stderr, "bench: tree (levels %u, leaf level %u): %s: %d (%s)\n",
		t->levels, t->leaf_level, what, rc, vmmu_strerror(rc));
	return -1;
}

static uint64_t ring_va(const struct bench_tree *t, unsigned k)
{
	return t->va_base | ((uint64_t)k << t->fmt.level[t->leaf_level].shift);
}

static uint64_t ring_out(const struct bench_tree *t, unsigned k)
{
	return BENCH_OUT_BASE +
	       ((uint64_t)bench_ring_next(k) << t->fmt.level[t->leaf_level].shift);
}

/* One read walk of every ring address; checks each translation. */
static int tree_walk_ring(struct bench_tree *t)
{
	for (unsigned k = 0; k < BENCH_RING; k++) {
		struct vmmu_walk out;
		uint64_t va = ring_va(t, k);
		int rc = vmmu_walk(&t->w, t->cr3, va, VMMU_ACC_READ, &out);

		if (rc != VMMU_WALK_OK) {
			fprintf(stderr, "bench: walk of %#llx: outcome %d pfec %#x\n",
				(unsigned long long)va, rc, out.pfec);
			return -1;
		}
		if (out.addr != (ring_out(t, k) | BENCH_PAGE_OFFSET) ||
		    out.level != t->leaf_level) {
			fprintf(stderr,
				"bench: walk of %#llx gave %#llx at level %u, "
				"expected %#llx at level %u\n",
				(unsigned long long)va,
				(unsigned long long)out.addr, out.level,
				(unsigned long long)(ring_out(t, k) |
						     BENCH_PAGE_OFFSET),
				t->leaf_level);
			return -1;
		}
	}
	return 0;
}

static int tree_build(struct bench_tree *t, unsigned levels,
		      unsigned leaf_level, bool map_hook)
{
	int rc;

	t->levels = levels;
	t->leaf_level = leaf_level;
	if (bench_plat_init(&t->bp, TREE_FRAMES, map_hook) != 0) {
		return -1;
	}
	rc = vmmu_fmt_init_x86(&t->fmt, levels, BENCH_MAXPHYADDR, VMMU_FMT_F_1G);
	if (rc != 0) {
		return tree_fail(t, "vmmu_fmt_init_x86", rc);
	}
	rc = vmmu_pt_init(&t->pt, &t->fmt, &t->bp.plat);
	if (rc != 0) {
		return tree_fail(t, "vmmu_pt_init", rc);
	}
	t->pt_live = true;
	t->cr3 = t->pt.root.v;

	uint64_t va = 0;
	for (unsigned l = levels; l > leaf_level; l--) {
		va |= (uint64_t)tree_index[l] << t->fmt.level[l].shift;
	}
	va |= (uint64_t)RING_FIRST << t->fmt.level[leaf_level].shift;
	/* Sign-extend from the top input bit: canonical. */
	unsigned sh = 64u - t->fmt.va_bits;
	va = (uint64_t)((int64_t)(va << sh) >> sh);
	t->va_base = va | BENCH_PAGE_OFFSET;
	t->ring_mask = (uint64_t)(BENCH_RING - 1u) << t->fmt.level[leaf_level].shift;

	const struct vmmu_prot prot = {
		.perm = VMMU_PERM_R | VMMU_PERM_W,
		.flags = VMMU_PROT_ACCESSED,
	};
	const unsigned map_flags = leaf_level == 1 ? VMMU_PT_4K_ONLY
				   : leaf_level == 2 ? VMMU_PT_NO_1G
						     : 0u;
	const uint64_t size = vmmu_fmt_entry_size(&t->fmt, leaf_level);
	for (unsigned k = 0; k < BENCH_RING; k++) {
		uint64_t in = ring_va(t, k) & ~(uint64_t)BENCH_PAGE_OFFSET;

		rc = vmmu_pt_map(&t->pt, in, ring_out(t, k), size, &prot, map_flags);
		if (rc != 0) {
			return tree_fail(t, "vmmu_pt_map", rc);
		}
		for (unsigned l = levels; l >= leaf_level; l--) {
			rc = vmmu_pt_entry(&t->pt, in, l, &t->slot[k][l]);
			if (rc != 0) {
				return tree_fail(t, "vmmu_pt_entry", rc);
			}
		}
	}

	const struct vmmu_cpu_state cpu = {
		.cr0 = VMMU_CR0_PE | VMMU_CR0_PG | VMMU_CR0_WP,
		.cr4 = VMMU_CR4_PAE | (levels == 5 ? VMMU_CR4_LA57 : 0),
		.efer = VMMU_EFER_LME | VMMU_EFER_LMA | VMMU_EFER_NXE,
	};
	rc = vmmu_walker_init(&t->w, &t->fmt, &t->bp.plat, &cpu);
	if (rc != 0) {
		return tree_fail(t, "vmmu_walker_init", rc);
	}

	/* Warm: the first round sets A in the table entries. */
	if (tree_walk_ring(t) != 0) {
		return -1;
	}
	for (unsigned k = 0; k < BENCH_RING; k++) {
		for (unsigned l = levels; l >= leaf_level; l--) {
			if ((*t->slot[k][l] & t->fmt.level[l].accessed) == 0) {
				fprintf(stderr,
					"bench: library bug: read walk left A "
					"clear at level %u (entry %#llx)\n",
					l, (unsigned long long)*t->slot[k][l]);
				return -1;
			}
		}
	}
	/* Steady state: a second round must not write a single entry. */
	vmmu_pte_t snap[BENCH_RING][VMMU_LEVEL_MAX + 1];
	for (unsigned k = 0; k < BENCH_RING; k++) {
		for (unsigned l = levels; l >= leaf_level; l--) {
			snap[k][l] = *t->slot[k][l];
		}
	}
	if (tree_walk_ring(t) != 0) {
		return -1;
	}
	for (unsigned k = 0; k < BENCH_RING; k++) {
		for (unsigned l = levels; l >= leaf_level; l--) {
			if (snap[k][l] != *t->slot[k][l]) {
				fprintf(stderr,
					"bench: library bug: steady-state read "
					"walk changed level %u entry %#llx -> %#llx\n",
					l, (unsigned long long)snap[k][l],
					(unsigned long long)*t->slot[k][l]);
				return -1;
			}
		}
	}
	t->va = t->va_base;
	return 0;
}

struct bench_tree *bench_tree_new(unsigned levels, unsigned leaf_level,
				  bool map_hook)
{
	struct bench_tree *t = calloc(1, sizeof(*t));

	if (t == NULL) {
		fprintf(stderr, "bench: out of host memory\n");
		return NULL;
	}
	if (tree_build(t, levels, leaf_level, map_hook) != 0) {
		bench_tree_free(t);
		return NULL;
	}
	return t;
}

void bench_tree_free(void *tree)
{
	struct bench_tree *t = tree;

	if (t == NULL) {
		return;
	}
	if (t->pt_live) {
		vmmu_pt_destroy(&t->pt);
	}
	if (t->bp.arena != NULL) {
		bench_plat_fini(&t->bp);
	}
	free(t);
}

const char *bench_tree_error(void *tree)
{
	const struct bench_tree *t = tree;

	return t->bad != 0 ? t->err : NULL;
}
