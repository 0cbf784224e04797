/* SPDX-License-Identifier: MIT */
/*
 * Hosted test platform: frames come from one arena whose physical addresses
 * start at 0 (the arena is the direct map), so physical addresses are small
 * and fit any MAXPHYADDR. Counts allocations, can fail the Nth allocation,
 * records TLB-flush requests and trace events, and aborts on panic.
 */
#ifndef VMMU_TEST_PLATFORM_H
#define VMMU_TEST_PLATFORM_H

#include <vmmu/vmmu.h>

struct test_platform {
	struct vmmu_platform plat;
	uint8_t *arena;        /* direct map: pa p is at arena + p */
	uint64_t frames;       /* arena size in frames */
	uint64_t *free_stack;  /* free frame numbers */
	uint64_t free_top;
	uint8_t *in_use;       /* per frame: 1 while handed out */
	uint64_t allocs, frees, live;
	uint64_t fail_at;      /* fail the fail_at-th allocation from now (1 = next); 0 = never */
	uint64_t alloc_calls;
	uint64_t flushes;      /* tlb_flush calls */
	struct vmmu_tlb_req last_flush;
	uint64_t traces;
	uint32_t cpu;
	bool yield;            /* what should_yield answers */
	bool use_map_hook;     /* route table access through frame_map */
	uint64_t maps, unmaps;
};

/*
 * Create a platform of `frames` 4 KiB frames. Frame 0 is never handed out,
 * so physical address 0 stays invalid. Aborts on host allocation failure.
 */
void test_platform_init(struct test_platform *tp, uint64_t frames);
/* Same with every table access going through the frame_map/unmap hooks. */
void test_platform_init_mapped(struct test_platform *tp, uint64_t frames);
void test_platform_fini(struct test_platform *tp);
/* Host pointer for a physical address inside the arena. */
void *test_platform_ptr(const struct test_platform *tp, uint64_t pa);
/* Take a data frame for tests (not counted as a table). 0 on exhaustion. */
uint64_t test_platform_data_frame(struct test_platform *tp);
/* A zeroed data frame for a hand-written guest table; 0 on exhaustion. */
uint64_t test_platform_zeroed_frame(struct test_platform *tp);
/* Entry idx of the table at physical address table. */
uint64_t *test_platform_slot(const struct test_platform *tp, uint64_t table,
			     unsigned idx);

#endif
