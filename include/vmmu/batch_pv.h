/* SPDX-License-Identifier: MIT */
/**
 * @file batch_pv.h
 * @brief A guest-side backend for the batch queue (include/vmmu/batch.h)
 * that speaks the Xen PV MMU hypercalls (docs/batch-exec.md): a run of
 * updates becomes as few hypercalls as the scratch memory allows.
 *
 *  - Consecutive PTE_WRITE / PTE_UPDATE_AD entries become one mmu_update
 *    request array (NORMAL_PT_UPDATE / PT_UPDATE_PRESERVE_AD in ptr's low
 *    bits); consecutive PIN, UNPIN, NEW_BASE, NEW_USER_BASE, TLB_FLUSH and
 *    INVLPG entries one mmuext_op array (LOCAL, ALL and MASK targets
 *    become the *_LOCAL, *_ALL and *_MULTI commands; a MASK entry's vCPU
 *    bitmap is written into scratch memory the hypervisor reads).
 *  - Each array is one multicall entry; a hypercall of one entry is made
 *    directly, not as a multicall. Every entry carries a done word, so a
 *    refusal maps back to the exact update refused.
 *  - A run larger than the scratch goes out in several hypercalls, in
 *    order, stopping at the first refusal.
 *
 * The submit contract (entries before the refused one applied, it and
 * the ones after it not) needs a hypervisor that stops a multicall at its
 * first refused entry: vmmu's executor with VMMU_BATCH_EXEC_STOP_ON_ERROR.
 * Xen runs every entry of a multicall whatever the results: under Xen the
 * arrays after a refused one in the same multicall are applied too (the
 * refusal is still reported at the right update). Set
 * VMMU_BATCH_PV_NO_MULTICALL for the exact contract under Xen, at one
 * hypercall per array.
 */
#ifndef VMMU_BATCH_PV_H
#define VMMU_BATCH_PV_H

#include <stdint.h>

#include <vmmu/batch.h>
#include <vmmu/pv_abi.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Bookkeeping of one multicall entry (the hypervisor writes `done`). */
struct vmmu_batch_pv_progress {
	uint32_t done;  /**< requests completed: the entry's done word */
	uint32_t count; /**< requests in the entry (the backend's own copy) */
};

/**
 * One CPU's scratch memory: the hypervisor reads the requests, the
 * bitmaps and the multicall entries and writes the done words and the
 * results, so it must be guest memory the hypervisor can reach at the
 * addresses the guest uses (a PV guest's own kernel addresses). Fill in
 * the pointers and capacities; the rest is the backend's.
 */
struct vmmu_batch_pv_scratch {
	struct vmmu_pv_multicall_entry *calls;  /**< calls_cap entries */
	struct vmmu_batch_pv_progress *progress; /**< calls_cap, one per entry */
	struct vmmu_pv_mmu_update *upd;          /**< upd_cap requests */
	struct vmmu_pv_mmuext_op *ext;           /**< ext_cap requests */
	/** bitmaps_cap vCPU bitmaps of vmmu_batch_pv::bitmap_words words each
	 * (NULL with 0: MASK flushes are refused with -VMMU_ENOTSUP) */
	uint64_t *bitmaps;
	uint32_t calls_cap, upd_cap, ext_cap, bitmaps_cap;
	/* Statistics, per CPU (the owner writes them). */
	uint64_t hypercalls; /**< hypercall hook calls */
	uint64_t multicalls; /**< of which multicalls (more than one entry) */
	uint64_t requests;   /**< requests sent */
};

/** vmmu_batch_pv::flags. */
enum vmmu_batch_pv_flags {
	/** One array per hypercall: never a multicall (see the file comment). */
	VMMU_BATCH_PV_NO_MULTICALL = 1u << 0,
};

/**
 * The hypercall hook: n == 1 is the direct hypercall calls[0].op with
 * calls[0].args, returning its result; n > 1 is a multicall over
 * calls[0..n), returning the multicall's result with each entry's in its
 * result field. A preempted hypercall is continued by the hook (as a real
 * hypervisor re-runs it) and returns when it is over. Context: the
 * submitting CPU's, possibly an interrupt handler.
 */
typedef int (*vmmu_batch_pv_hypercall_fn)(void *ctx, uint32_t cpu,
					  struct vmmu_pv_multicall_entry *calls,
					  uint32_t n);

/**
 * A direct-paging backend. Initialise with vmmu_batch_pv_init, then hand
 * &p->backend to the CPUs' queues. Its submit follows struct
 * vmmu_batch_backend; the error is the hypervisor's result for the
 * refused update (or, when a multicall was refused as a whole, the
 * multicall's), or, for an update that cannot be expressed at all, sent
 * after the ones before it: -VMMU_EALIGN (a PTE address with any of its
 * low 3 bits set), -VMMU_ENOTSUP (PIN of level 5, a MASK flush without
 * bitmap scratch), -VMMU_EINVAL (unknown kind or target, PIN level not
 * 1..5, mask_word beyond the bitmap, a CPU without scratch). Context:
 * submit runs on the CPU it is for, never twice at once for one CPU.
 */
struct vmmu_batch_pv {
	struct vmmu_batch_backend backend; /**< hand &p->backend to the queues */
	vmmu_batch_pv_hypercall_fn hypercall;
	void *ctx;
	struct vmmu_batch_pv_scratch *cpus; /**< indexed by CPU */
	uint32_t ncpus;
	uint32_t bitmap_words; /**< 64-bit words per vCPU bitmap */
	uint32_t flags;        /**< enum vmmu_batch_pv_flags */
	uint32_t reserved_;
};

/**
 * Set up a backend for CPUs 0..ncpus-1 with scratch cpus[cpu] each,
 * issuing hypercalls through `hypercall` (with ctx). nr_vcpus is the
 * domain's vCPU count (1..4096): a MASK flush's bitmap covers that many
 * bits, as the hypervisor reads it. Returns 0, or -VMMU_EINVAL (a NULL
 * pointer, a scratch with a NULL array or a zero capacity other than
 * bitmaps_cap, bitmaps without a capacity or the reverse, nr_vcpus out of
 * range, unknown flags). Context: before any queue uses it.
 */
int vmmu_batch_pv_init(struct vmmu_batch_pv *p,
		       struct vmmu_batch_pv_scratch *cpus, uint32_t ncpus,
		       uint32_t nr_vcpus, vmmu_batch_pv_hypercall_fn hypercall,
		       void *ctx, uint32_t flags);

#ifdef __cplusplus
}
#endif

#endif /* VMMU_BATCH_PV_H */
