/* SPDX-License-Identifier: MIT */
/**
 * @file batch_shadow.h
 * @brief The shadow-paging backend of the batch queue (include/vmmu/batch.h,
 * docs/batch.md "Shadow backend"): a guest's batched page-table updates
 * applied to a shadow instance (include/vmmu/shadow.h) without a trap per
 * store.
 *
 * What each kind becomes (the vCPU is vcpus[cpu], the submitting CPU's):
 *  - PTE_WRITE / PTE_UPDATE_AD (ptr: guest-physical address of the entry):
 *    consecutive ones become one vmmu_shadow_write_batch call (up to the
 *    scratch capacity per call), so a run makes at most one TLB-flush
 *    request per scratchful; PTE_UPDATE_AD keeps the guest entry's A/D
 *    bits (VMMU_SHADOW_STORE_PRESERVE_AD);
 *  - NEW_BASE: vmmu_shadow_new_cr3 with the frame ptr >> 12 as CR3;
 *  - NEW_USER_BASE: 0 is accepted and does nothing; any other frame is
 *    refused with -VMMU_ENOTSUP (a shadowed x86-64 guest has one root,
 *    CR3: there is no separate user root to load);
 *  - PIN / UNPIN: accepted, nothing to do (the shadow follows whatever
 *    table the guest loads; pinning is a direct-paging notion);
 *  - TLB_FLUSH / INVLPG: vmmu_shadow_flush_tlb / vmmu_shadow_invlpg on each
 *    target vCPU: LOCAL the submitting one, ALL every vCPU of the backend,
 *    MASK the vCPUs 64 * mask_word + n for the bits n of val.
 *
 * Refusals, with the submit contract of struct vmmu_batch_backend (the
 * entries before the refused one applied, it and the ones after not):
 * -VMMU_EINVAL for an unknown kind or target, a PTE level outside
 * 1..levels, a MASK naming a vCPU the backend does not have, or a
 * submitting CPU without a vCPU; -VMMU_EALIGN for a PTE address that is
 * not 8-byte aligned; -VMMU_ENOTSUP (above); and what the shadow engine
 * returns (-VMMU_EFAULT: the entry is not in guest memory; -VMMU_EINVAL:
 * a CR3 with reserved bits).
 */
#ifndef VMMU_BATCH_SHADOW_H
#define VMMU_BATCH_SHADOW_H

#include <stdint.h>

#include <vmmu/batch.h>
#include <vmmu/shadow.h>

#ifdef __cplusplus
extern "C" {
#endif

/** PTE writes per vmmu_shadow_write_batch call without scratch memory. */
#define VMMU_BATCH_SHADOW_STACK_STORES 32u

/**
 * A shadow backend. Initialise with vmmu_batch_shadow_init, then hand
 * &s->backend to the vCPUs' queues (queue cpu number = index in vcpus).
 *
 * Locking: every shadow call needs the instance lock. When lock is set,
 * submit takes it around the whole run (lock(lock_ctx) ... unlock); when
 * NULL, the embedder serialises the submits of all CPUs (and holds the
 * lock itself). The lock must suit every context a queue flushes from
 * (interrupt handlers included). The scratch array and the statistics
 * are shared by all CPUs under that lock.
 */
struct vmmu_batch_shadow {
	struct vmmu_batch_backend backend; /**< hand &s->backend to the queues */
	struct vmmu_shadow *sh;
	struct vmmu_shadow_vcpu *const *vcpus; /**< [nvcpus], by queue cpu */
	uint32_t nvcpus;
	uint32_t levels;                     /**< of sh's format: PTE levels 1..levels */
	struct vmmu_shadow_store *scratch;   /**< [scratch_cap] or NULL */
	uint32_t scratch_cap;
	uint32_t reserved_;
	/** Optional instance lock, taken per submit (set after init). */
	void (*lock)(void *lock_ctx);
	void (*unlock)(void *lock_ctx);
	void *lock_ctx;
	/* Statistics (under the lock). */
	uint64_t submits;      /**< submit calls */
	uint64_t write_calls;  /**< vmmu_shadow_write_batch calls */
	uint64_t stores;       /**< PTE writes applied */
	uint64_t flush_calls;  /**< vmmu_shadow_flush_tlb / _invlpg calls */
};

/**
 * Set up a backend applying to instance sh, for vCPUs vcpus[0..nvcpus)
 * (1..4096, each attached to sh; the array must outlive the backend).
 * scratch[scratch_cap] (may be NULL with 0) holds the PTE writes of one
 * vmmu_shadow_write_batch call: a run of up to scratch_cap consecutive
 * writes makes one call and at most one TLB-flush request, so give at
 * least the queue's slot count for one request per flush; without
 * scratch, calls take VMMU_BATCH_SHADOW_STACK_STORES writes from the
 * stack. Returns 0 or -VMMU_EINVAL. Context: before any queue uses it.
 */
int vmmu_batch_shadow_init(struct vmmu_batch_shadow *s, struct vmmu_shadow *sh,
			   struct vmmu_shadow_vcpu *const *vcpus,
			   uint32_t nvcpus, struct vmmu_shadow_store *scratch,
			   uint32_t scratch_cap);

#ifdef __cplusplus
}
#endif

#endif /* VMMU_BATCH_SHADOW_H */
