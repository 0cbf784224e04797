/* SPDX-License-Identifier: MIT */
/* Minimal direct-map platform for the benchmarks (see bench_cases.h). */
#include "bench_cases.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int bp_alloc(void *ctx, vmmu_hpa_t *frame)
{
	struct bench_plat *bp = ctx;

	if (bp->free_top == 0) {
		return -VMMU_ENOMEM;
	}
	*frame = vmmu_hpa(bp->free_stack[--bp->free_top] << VMMU_PAGE_SHIFT);
	return 0;
}

static void bp_free(void *ctx, vmmu_hpa_t frame)
{
	struct bench_plat *bp = ctx;

	bp->free_stack[bp->free_top++] = frame.v >> VMMU_PAGE_SHIFT;
}

static void *bp_map(void *ctx, uint64_t pa)
{
	struct bench_plat *bp = ctx;

	if ((pa >> VMMU_PAGE_SHIFT) >= bp->frames) {
		return NULL;
	}
	return bp->arena + pa;
}

static void bp_flush(void *ctx, const struct vmmu_tlb_req *req)
{
	struct bench_plat *bp = ctx;

	(void)req;
	bp->flushes++;
}

static void bp_panic(void *ctx, const char *file, int line, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "vmmu panic at %s:%d: %s\n", file, line, msg);
	abort();
}

static const struct vmmu_platform_ops bp_ops = {
	.frame_alloc = bp_alloc,
	.frame_free = bp_free,
	.tlb_flush = bp_flush,
	.panic = bp_panic,
};

/* The hook returns the direct-map pointer: this measures the hook call. */
static const struct vmmu_platform_ops bp_map_ops = {
	.frame_alloc = bp_alloc,
	.frame_free = bp_free,
	.frame_map = bp_map,
	.tlb_flush = bp_flush,
	.panic = bp_panic,
};

void *bench_line_alloc(size_t bytes)
{
	size_t size = (bytes + 63u) & ~(size_t)63u;
	void *p = aligned_alloc(64, size != 0 ? size : 64);

	if (p == NULL) {
		fprintf(stderr, "bench: out of host memory\n");
		return NULL;
	}
	memset(p, 0, size);
	return p;
}

int bench_plat_init(struct bench_plat *bp, uint64_t frames, bool map_hook)
{
	/* 2 MiB alignment lets the host back the arena with a huge page. */
	const size_t align = 2u << 20;
	size_t bytes = (size_t)frames * VMMU_PAGE_SIZE;

	memset(bp, 0, sizeof(*bp));
	bytes = (bytes + align - 1) & ~(align - 1);
	bp->arena = aligned_alloc(align, bytes);
	bp->free_stack = calloc(frames, sizeof(uint64_t));
	if (bp->arena == NULL || bp->free_stack == NULL) {
		free(bp->arena);
		free(bp->free_stack);
		fprintf(stderr, "bench: out of host memory\n");
		return -1;
	}
	/* Touch every page now so no page fault lands in a timed region. */
	memset(bp->arena, 0, bytes);
	bp->frames = frames;
	/* Low frames first (popped from the top). Frame 0 stays unused. */
	for (uint64_t fn = frames - 1; fn >= 1; fn--) {
		bp->free_stack[bp->free_top++] = fn;
	}
	bp->plat.ops = map_hook ? &bp_map_ops : &bp_ops;
	bp->plat.ctx = bp;
	bp->plat.direct_map_base = (uintptr_t)bp->arena;
	bp->plat.direct_map_size = frames * VMMU_PAGE_SIZE;
	return 0;
}

void bench_plat_fini(struct bench_plat *bp)
{
	free(bp->arena);
	free(bp->free_stack);
	memset(bp, 0, sizeof(*bp));
}
