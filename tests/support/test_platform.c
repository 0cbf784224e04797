/* SPDX-License-Identifier: MIT */
#include "test_platform.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tp_alloc(void *ctx, vmmu_hpa_t *frame)
{
	struct test_platform *tp = ctx;

	tp->alloc_calls++;
	if (tp->fail_at != 0 && --tp->fail_at == 0) {
		return -VMMU_ENOMEM;
	}
	if (tp->free_top == 0) {
		return -VMMU_ENOMEM;
	}
	uint64_t fn = tp->free_stack[--tp->free_top];
	if (tp->in_use[fn]) {
		fprintf(stderr, "test_platform: frame %#llx handed out twice\n",
			(unsigned long long)fn);
		abort();
	}
	tp->in_use[fn] = 1;
	/* Poison: vmmu must initialise every frame it takes. */
	memset(tp->arena + (fn << VMMU_PAGE_SHIFT), 0xa5, VMMU_PAGE_SIZE);
	tp->allocs++;
	tp->live++;
	*frame = vmmu_hpa(fn << VMMU_PAGE_SHIFT);
	return 0;
}

static void tp_free(void *ctx, vmmu_hpa_t frame)
{
	struct test_platform *tp = ctx;
	uint64_t fn = frame.v >> VMMU_PAGE_SHIFT;

	if ((frame.v & (VMMU_PAGE_SIZE - 1)) != 0 || fn == 0 ||
	    fn >= tp->frames || !tp->in_use[fn]) {
		fprintf(stderr, "test_platform: bad free of %#llx\n",
			(unsigned long long)frame.v);
		abort();
	}
	tp->in_use[fn] = 0;
	memset(tp->arena + (fn << VMMU_PAGE_SHIFT), 0x5a, VMMU_PAGE_SIZE);
	tp->free_stack[tp->free_top++] = fn;
	tp->frees++;
	tp->live--;
}

static void *tp_map(void *ctx, uint64_t pa)
{
	struct test_platform *tp = ctx;

	if ((pa >> VMMU_PAGE_SHIFT) >= tp->frames) {
		return NULL;
	}
	__atomic_fetch_add(&tp->maps, 1, __ATOMIC_RELAXED);
	return tp->arena + pa;
}

static void tp_unmap(void *ctx, void *ptr)
{
	struct test_platform *tp = ctx;

	(void)ptr;
	__atomic_fetch_add(&tp->unmaps, 1, __ATOMIC_RELAXED);
}

static void tp_flush(void *ctx, const struct vmmu_tlb_req *req)
{
	struct test_platform *tp = ctx;

	tp->flushes++;
	tp->last_flush = *req;
}

static uint32_t tp_cpu(void *ctx)
{
	return ((struct test_platform *)ctx)->cpu;
}

static bool tp_yield(void *ctx)
{
	return ((struct test_platform *)ctx)->yield;
}

static void tp_trace(void *ctx, uint32_t ev, uint64_t a, uint64_t b)
{
	(void)ev;
	(void)a;
	(void)b;
	/* Walkers on several threads trace concurrently. */
	__atomic_fetch_add(&((struct test_platform *)ctx)->traces, 1, __ATOMIC_RELAXED);
}

static void tp_panic(void *ctx, const char *file, int line, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "vmmu panic at %s:%d: %s\n", file, line, msg);
	abort();
}

static const struct vmmu_platform_ops tp_ops = {
	.frame_alloc = tp_alloc,
	.frame_free = tp_free,
	.tlb_flush = tp_flush,
	.cpu_id = tp_cpu,
	.should_yield = tp_yield,
	.trace = tp_trace,
	.panic = tp_panic,
};

static const struct vmmu_platform_ops tp_mapped_ops = {
	.frame_alloc = tp_alloc,
	.frame_free = tp_free,
	.frame_map = tp_map,
	.frame_unmap = tp_unmap,
	.tlb_flush = tp_flush,
	.cpu_id = tp_cpu,
	.should_yield = tp_yield,
	.trace = tp_trace,
	.panic = tp_panic,
};

static void tp_setup(struct test_platform *tp, uint64_t frames,
		     const struct vmmu_platform_ops *ops)
{
	memset(tp, 0, sizeof(*tp));
	tp->frames = frames;
	tp->arena = aligned_alloc(VMMU_PAGE_SIZE, frames * VMMU_PAGE_SIZE);
	tp->free_stack = calloc(frames, sizeof(uint64_t));
	tp->in_use = calloc(frames, 1);
	if (tp->arena == NULL || tp->free_stack == NULL || tp->in_use == NULL) {
		fprintf(stderr, "test_platform: out of host memory\n");
		abort();
	}
	/* Hand out low frames first: push in reverse. Frame 0 stays unused. */
	for (uint64_t fn = frames - 1; fn >= 1; fn--) {
		tp->free_stack[tp->free_top++] = fn;
	}
	tp->plat.ops = ops;
	tp->plat.ctx = tp;
	tp->plat.direct_map_base = (uintptr_t)tp->arena;
	tp->plat.direct_map_size = frames * VMMU_PAGE_SIZE;
}

void test_platform_init(struct test_platform *tp, uint64_t frames)
{
	tp_setup(tp, frames, &tp_ops);
}

void test_platform_init_mapped(struct test_platform *tp, uint64_t frames)
{
	tp_setup(tp, frames, &tp_mapped_ops);
	tp->use_map_hook = true;
}

void test_platform_fini(struct test_platform *tp)
{
	free(tp->arena);
	free(tp->free_stack);
	free(tp->in_use);
	memset(tp, 0, sizeof(*tp));
}

void *test_platform_ptr(const struct test_platform *tp, uint64_t pa)
{
	return tp->arena + pa;
}

uint64_t test_platform_data_frame(struct test_platform *tp)
{
	vmmu_hpa_t f;

	if (tp_alloc(tp, &f) != 0) {
		return 0;
	}
	tp->allocs--; /* data frames are not tables */
	tp->live--;
	return f.v;
}

uint64_t test_platform_zeroed_frame(struct test_platform *tp)
{
	uint64_t pa = test_platform_data_frame(tp);

	if (pa != 0) {
		memset(test_platform_ptr(tp, pa), 0, 4096);
	}
	return pa;
}

uint64_t *test_platform_slot(const struct test_platform *tp, uint64_t table,
			     unsigned idx)
{
	return (uint64_t *)test_platform_ptr(tp, table) + idx;
}
