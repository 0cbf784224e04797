/* SPDX-License-Identifier: MIT */
/**
 * @file platform.h
 * The one porting seam: a const table of hooks plus a context pointer,
 * given to every vmmu object at init. vmmu has no global state and no
 * weak symbols; everything it needs from its host comes through here.
 *
 * Hooks are called per table page, per batch or per fault, never per PTE.
 */
#ifndef VMMU_PLATFORM_H
#define VMMU_PLATFORM_H

#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

/** What a TLB-flush request covers. */
enum vmmu_tlb_scope {
	/**
	 * [addr, addr + size), global entries included: the range may hold
	 * global (G=1) leaves, so an embedder that widens a long range to a
	 * full flush must drop global entries too (CR4.PGE toggle or INVPCID,
	 * not a plain MOV CR3).
	 */
	VMMU_TLB_RANGE = 1,
	VMMU_TLB_ALL_NONGLOBAL, /**< everything but global entries (MOV CR3) */
	VMMU_TLB_ALL,           /**< everything, global entries included */
};

/** A TLB-flush request handed to vmmu_platform_ops::tlb_flush. */
struct vmmu_tlb_req {
	uint32_t scope;        /**< enum vmmu_tlb_scope */
	uint32_t cpu_mask_words; /**< 0: every CPU the embedder considers */
	uint64_t addr;         /**< first address (VMMU_TLB_RANGE) */
	uint64_t size;         /**< bytes (VMMU_TLB_RANGE) */
	const uint64_t *cpu_mask; /**< bit n = CPU n; NULL with 0 words */
};

/** Trace events; a and b are event-specific (documented per event). */
enum vmmu_trace_event {
	VMMU_TRACE_TABLE_ALLOC = 1, /**< a = table address, b = level */
	VMMU_TRACE_TABLE_FREE,      /**< a = table address, b = level */
	VMMU_TRACE_SPLIT,           /**< a = new table's address, b = level of the split leaf */
	VMMU_TRACE_WALK_RETRY,      /**< a = address, b = level that changed */
};

/**
 * The hooks. Required: frame_alloc, frame_free, panic. Optional (NULL):
 * frame_map/frame_unmap (NULL = direct map, see vmmu_platform), tlb_flush,
 * cpu_id (NULL = CPU 0), should_yield (NULL = never), trace.
 */
struct vmmu_platform_ops {
	/**
	 * Give one 4 KiB frame. Return 0 and set *frame, or -VMMU_ENOMEM.
	 * The content need not be zeroed: vmmu initialises every frame it
	 * takes. Context: may be called with the caller's locks held; must
	 * not call back into vmmu.
	 */
	int (*frame_alloc)(void *ctx, vmmu_hpa_t *frame);
	/** Take back a frame given by frame_alloc. */
	void (*frame_free)(void *ctx, vmmu_hpa_t frame);
	/**
	 * Map the 4 KiB frame at physical address pa (page aligned) and
	 * return a pointer to it, or NULL when pa is not memory (vmmu then
	 * fails the operation with -VMMU_EFAULT). Called once per table page
	 * visited. Leave NULL to use the direct map.
	 */
	void *(*frame_map)(void *ctx, uint64_t pa);
	/** Undo frame_map (may be NULL when frame_map needs no undo). */
	void (*frame_unmap)(void *ctx, void *ptr);
	/** Request a TLB flush. Called at most once per vmmu call. */
	void (*tlb_flush)(void *ctx, const struct vmmu_tlb_req *req);
	/** Number of the calling CPU. */
	uint32_t (*cpu_id)(void *ctx);
	/** True when a long operation should stop and be continued later. */
	bool (*should_yield)(void *ctx);
	/** Trace point (enum vmmu_trace_event). */
	void (*trace)(void *ctx, uint32_t event, uint64_t a, uint64_t b);
	/** An internal invariant broke (never a guest error). Must not return. */
	void (*panic)(void *ctx, const char *file, int line, const char *msg);
};

/**
 * A platform instance: hooks, their context, and the direct map used when
 * ops->frame_map is NULL: a frame at physical address pa is at
 * (void *)(direct_map_base + pa) for pa < direct_map_size; addresses at or
 * above direct_map_size are "not memory".
 */
struct vmmu_platform {
	const struct vmmu_platform_ops *ops;
	void *ctx;
	uintptr_t direct_map_base;
	uint64_t direct_map_size;
};

/**
 * Check that a platform has its required hooks and a usable map.
 * Returns 0 or -VMMU_EINVAL. Context: any.
 */
int vmmu_platform_check(const struct vmmu_platform *plat);

#ifdef __cplusplus
}
#endif

#endif /* VMMU_PLATFORM_H */
