/* SPDX-License-Identifier: MIT */
/*
 * Page-table builder benchmarks. One iteration maps (or unmaps, or
 * re-protects) a whole range in one vmmu_pt_* call; items_per_iter is the
 * number of leaves that call writes, so the shim's per_op counter is the
 * time per mapping. Map and unmap undo each other through bench_case::reset,
 * which the shim runs with the timer paused (a 1 GiB call takes
 * milliseconds; pausing the timer costs about a microsecond).
 */
#include "bench_cases.h"

#include <stdio.h>
#include <stdlib.h>

#define GIB (1ull << 30)

/* Input ranges: PML4 index 123, away from index 0. */
#define PT_IN_4K ((123ull << 39) | (7ull * GIB))
#define PT_IN_2M ((123ull << 39) | (64ull * GIB))
#define PT_SIZE_4K GIB          /* 262144 leaves, 512 page tables */
#define PT_SIZE_2M (32ull * GIB) /* 16384 leaves, 32 page directories */
#define PT_FRAMES 1024u

struct pt_bench {
	struct bench_plat bp;
	struct vmmu_fmt fmt;
	struct vmmu_pt pt;
	bool pt_live;
	uint64_t in, size;
	unsigned map_flags;
	struct vmmu_prot prot[2];
	unsigned flip;   /* protect: which prot comes next */
	uint64_t bad;
	int last_rc;
	const char *err;
};

static void pt_bench_free(void *st)
{
	struct pt_bench *b = st;

	if (b == NULL) {
		return;
	}
	if (b->pt_live) {
		vmmu_pt_destroy(&b->pt);
	}
	if (b->bp.arena != NULL) {
		bench_plat_fini(&b->bp);
	}
	free(b);
}

static const char *pt_bench_error(void *st)
{
	const struct pt_bench *b = st;

	return b->bad != 0 ? b->err : NULL;
}

static void pt_note(struct pt_bench *b, int rc, const char *err)
{
	if (rc != 0) {
		b->bad++;
		b->last_rc = rc;
		b->err = err;
	}
}

static int do_map(struct pt_bench *b)
{
	return vmmu_pt_map(&b->pt, b->in, BENCH_OUT_BASE, b->size, &b->prot[0],
			   b->map_flags);
}

static int do_unmap(struct pt_bench *b)
{
	return vmmu_pt_unmap(&b->pt, b->in, b->size);
}

static int pt_check(struct pt_bench *b, const char *what, int rc)
{
	if (rc != 0) {
		fprintf(stderr, "bench: pt (%s): %s: %d (%s)\n",
			b->map_flags & VMMU_PT_4K_ONLY ? "4K" : "2M", what, rc,
			vmmu_strerror(rc));
		return -1;
	}
	return 0;
}

/* Spot-check a mapped range: first, last and a middle leaf. */
static int pt_verify(struct pt_bench *b, unsigned want_level)
{
	const uint64_t probe[3] = {0, b->size / 2 + 0x5000, b->size - 0x1000};

	for (unsigned i = 0; i < 3; i++) {
		uint64_t out = 0;
		unsigned level = 0;
		int rc = vmmu_pt_lookup(&b->pt, b->in + probe[i], &out, NULL, &level);

		if (pt_check(b, "vmmu_pt_lookup", rc) != 0) {
			return -1;
		}
		if (out != BENCH_OUT_BASE + probe[i] || level != want_level) {
			fprintf(stderr,
				"bench: pt: lookup of %#llx gave %#llx level %u, "
				"expected %#llx level %u\n",
				(unsigned long long)(b->in + probe[i]),
				(unsigned long long)out, level,
				(unsigned long long)(BENCH_OUT_BASE + probe[i]),
				want_level);
			return -1;
		}
	}
	return 0;
}

/*
 * A tree with one warm-up map/unmap round done (so the platform's frames
 * and the host caches are warm); mapped on return when `mapped`.
 */
static struct pt_bench *pt_bench_new(bool four_k, bool mapped)
{
	struct pt_bench *b = calloc(1, sizeof(*b));

	if (b == NULL) {
		fprintf(stderr, "bench: out of host memory\n");
		return NULL;
	}
	b->in = four_k ? PT_IN_4K : PT_IN_2M;
	b->size = four_k ? PT_SIZE_4K : PT_SIZE_2M;
	b->map_flags = four_k ? VMMU_PT_4K_ONLY : VMMU_PT_NO_1G;
	b->prot[0] = (struct vmmu_prot){
		.perm = VMMU_PERM_R | VMMU_PERM_W,
		.flags = VMMU_PROT_ACCESSED | VMMU_PROT_DIRTY,
	};
	b->prot[1] = (struct vmmu_prot){
		.perm = VMMU_PERM_R,
		.flags = VMMU_PROT_ACCESSED,
	};
	if (bench_plat_init(&b->bp, PT_FRAMES, false) != 0) {
		goto fail;
	}
	int rc = vmmu_fmt_init_x86(&b->fmt, 4, BENCH_MAXPHYADDR, VMMU_FMT_F_1G);
	if (pt_check(b, "vmmu_fmt_init_x86", rc) != 0) {
		goto fail;
	}
	rc = vmmu_pt_init(&b->pt, &b->fmt, &b->bp.plat);
	if (pt_check(b, "vmmu_pt_init", rc) != 0) {
		goto fail;
	}
	b->pt_live = true;
	if (pt_check(b, "vmmu_pt_map", do_map(b)) != 0 ||
	    pt_verify(b, four_k ? 1 : 2) != 0 ||
	    pt_check(b, "vmmu_pt_unmap", do_unmap(b)) != 0) {
		goto fail;
	}
	if (b->pt.table_count != 1) {
		fprintf(stderr,
			"bench: pt: %llu tables left after unmapping everything "
			"(expected the root alone)\n",
			(unsigned long long)b->pt.table_count);
		goto fail;
	}
	if (mapped && pt_check(b, "vmmu_pt_map", do_map(b)) != 0) {
		goto fail;
	}
	return b;
fail:
	pt_bench_free(b);
	return NULL;
}

static void *setup_map_4k(void)
{
	return pt_bench_new(true, false);
}

static void *setup_mapped_4k(void)
{
	return pt_bench_new(true, true);
}

static void *setup_map_2m(void)
{
	return pt_bench_new(false, false);
}

static uint64_t run_map(void *st, uint64_t n)
{
	struct pt_bench *b = st;

	for (uint64_t i = 0; i < n; i++) {
		pt_note(b, do_map(b), "vmmu_pt_map failed inside the timed loop");
	}
	return b->pt.table_count;
}

static uint64_t run_unmap(void *st, uint64_t n)
{
	struct pt_bench *b = st;

	for (uint64_t i = 0; i < n; i++) {
		pt_note(b, do_unmap(b), "vmmu_pt_unmap failed inside the timed loop");
	}
	return b->pt.table_count;
}

static void reset_unmap(void *st)
{
	struct pt_bench *b = st;

	pt_note(b, do_unmap(b), "vmmu_pt_unmap failed (reset)");
}

static void reset_map(void *st)
{
	struct pt_bench *b = st;

	pt_note(b, do_map(b), "vmmu_pt_map failed (reset)");
}

/* Alternate read-write and read-only over the whole mapped range. */
static uint64_t run_protect(void *st, uint64_t n)
{
	struct pt_bench *b = st;

	for (uint64_t i = 0; i < n; i++) {
		b->flip ^= 1;
		pt_note(b, vmmu_pt_protect(&b->pt, b->in, b->size, &b->prot[b->flip]),
			"vmmu_pt_protect failed inside the timed loop");
	}
	return b->bp.flushes;
}

/* vmmu_pt_lookup over the walk/4level/4k ring, chained like the walks. */
static uint64_t run_lookup(void *st, uint64_t n)
{
	struct bench_tree *t = st;
	const uint64_t base = t->va_base;
	const uint64_t mask = t->ring_mask;
	uint64_t va = t->va;
	uint64_t bad = 0;
	uint64_t out = 0;

	for (uint64_t i = 0; i < n; i++) {
		bad += vmmu_pt_lookup(&t->pt, va, &out, NULL, NULL) != 0;
		va = base | (out & mask);
	}
	return bench_tree_loop_end(t, va, bad,
				   "vmmu_pt_lookup failed inside the timed loop");
}

static void *setup_lookup(void)
{
	return bench_tree_new(4, 1, false);
}

const struct bench_case bench_pt_map_4k = {
	.name = "pt/map_4k",
	.what = "vmmu_pt_map of 1 GiB with VMMU_PT_4K_ONLY into an empty tree",
	.setup = setup_map_4k,
	.teardown = pt_bench_free,
	.run = run_map,
	.reset = reset_unmap,
	.error = pt_bench_error,
	.items_per_iter = PT_SIZE_4K >> 12,
	.item = "mapping",
};

const struct bench_case bench_pt_unmap_4k = {
	.name = "pt/unmap_4k",
	.what = "vmmu_pt_unmap of 1 GiB mapped in 4K leaves (frees 514 tables)",
	.setup = setup_mapped_4k,
	.teardown = pt_bench_free,
	.run = run_unmap,
	.reset = reset_map,
	.error = pt_bench_error,
	.items_per_iter = PT_SIZE_4K >> 12,
	.item = "mapping",
	/* The reset (a 1 GiB map) costs far more than the unmap. */
	.iterations = 100,
};

const struct bench_case bench_pt_protect_4k = {
	.name = "pt/protect_4k",
	.what = "vmmu_pt_protect of 1 GiB mapped in 4K leaves (RW <-> RO)",
	.setup = setup_mapped_4k,
	.teardown = pt_bench_free,
	.run = run_protect,
	.error = pt_bench_error,
	.items_per_iter = PT_SIZE_4K >> 12,
	.item = "mapping",
};

const struct bench_case bench_pt_map_2m = {
	.name = "pt/map_2m",
	.what = "vmmu_pt_map of 32 GiB with VMMU_PT_NO_1G into an empty tree",
	.setup = setup_map_2m,
	.teardown = pt_bench_free,
	.run = run_map,
	.reset = reset_unmap,
	.error = pt_bench_error,
	.items_per_iter = PT_SIZE_2M >> 21,
	.item = "mapping",
};

const struct bench_case bench_pt_lookup_4k = {
	.name = "pt/lookup_4k",
	.what = "vmmu_pt_lookup over the walk/4level/4k ring (chained)",
	.setup = setup_lookup,
	.teardown = bench_tree_free,
	.run = run_lookup,
	.error = bench_tree_error,
	.items_per_iter = 1,
	.item = "lookup",
};
