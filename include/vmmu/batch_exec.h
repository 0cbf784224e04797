/* SPDX-License-Identifier: MIT */
/**
 * @file batch_exec.h
 * @brief The hypervisor side of batching (docs/batch-exec.md): apply a
 * guest's multicall (struct vmmu_pv_multicall_entry, Xen's layout) to
 * vmmu's direct-paging hypercalls, with one result per entry, preemption
 * between entries and exact continuations.
 *
 * The executor knows mmu_update, mmuext_op, update_va_mapping and
 * update_va_mapping_otherdomain (VMMU_PV_HC_*); anything else goes to the
 * embedder's `other` hook. Guest memory (request arrays, done words) is
 * reached through the embedder's `guest_ptr` hook. Results are vmmu codes
 * (0 or -VMMU_E*, sign-extended into the 64-bit result field): a
 * hypervisor that speaks Xen's errno values to its guests translates them.
 */
#ifndef VMMU_BATCH_EXEC_H
#define VMMU_BATCH_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vmmu/pv.h>
#include <vmmu/pv_abi.h>

#ifdef __cplusplus
extern "C" {
#endif

/** vmmu_batch_exec_ops::flags. */
enum vmmu_batch_exec_flags {
	/**
	 * Stop at the first entry whose result is an error (not counting
	 * -VMMU_ERESTART, which is a continuation): the multicall returns
	 * that error with *done = the entry's index, and no entry after it
	 * runs (vmmu's own guest backend: "nothing after a failure
	 * applied"). Without the flag every entry runs and gets its own
	 * result, as in Xen.
	 */
	VMMU_BATCH_EXEC_STOP_ON_ERROR = 1u << 0,
};

/**
 * vmmu_batch_exec's result when an entry took the vCPU out of guest kernel
 * mode (XSA-213) and entries remain: they were not run.
 */
#define VMMU_BATCH_EXEC_LEFT_KERNEL 2

/** What the executor needs from the embedder. */
struct vmmu_batch_exec_ops {
	/**
	 * A hypervisor pointer to len bytes of guest memory at guest virtual
	 * address gva, as vCPU v sees it, readable and writable for the
	 * duration of the call, with gva's alignment (modulo 8); NULL when
	 * any byte of [gva, gva + len) is not accessible (the entry's result
	 * is then -VMMU_EFAULT, with nothing done). Required. len may be up
	 * to 48 GiB (2^31 requests of 24 bytes): check the whole range.
	 */
	void *(*guest_ptr)(void *ctx, const struct vmmu_pv_vcpu *v,
			   uint64_t gva, size_t len);
	/**
	 * Whether v is still in guest kernel mode. Asked before the first
	 * entry and after every entry; once it says false no further entry
	 * runs (XSA-213). NULL: always true (the embedder has no entry that
	 * can change the guest's privilege).
	 */
	bool (*kernel_mode)(void *ctx, const struct vmmu_pv_vcpu *v);
	/**
	 * A hypercall the executor does not know (e is the executor's copy
	 * of the entry). Return its result; -VMMU_ERESTART means it was
	 * preempted and rewrote e->args so that running it again continues
	 * it (the executor copies them back into the guest's entry). NULL:
	 * such entries get -VMMU_ENOTSUP.
	 */
	int64_t (*other)(void *ctx, struct vmmu_pv_vcpu *v,
			 struct vmmu_pv_multicall_entry *e);
	void *ctx;
	uint32_t flags; /**< enum vmmu_batch_exec_flags */
	uint32_t reserved_;
};

/**
 * The hypercall multicall: run calls[*done .. n) in order, each entry's
 * result in its result field (the rest of an entry is left as it was,
 * unless the entry was preempted; a guest may rely only on result).
 *
 * Returns:
 *  - 0: every entry ran (*done = n); each has its own result, and a
 *    refused entry did not stop the ones after it (Xen's semantics).
 *  - -VMMU_ERESTART: call again with the same calls, n and done.
 *    Either the platform's should_yield (asked before every entry but
 *    the first of this call) stopped the batch before entry *done, or
 *    entry *done was preempted inside: its progress is kept (an
 *    mmu_update/mmuext_op entry's array address and count are advanced
 *    past the requests done, and the count carries
 *    VMMU_PV_MMU_UPDATE_PREEMPTED, as Xen rewrites a preempted
 *    subcall), so the next call continues exactly where this one
 *    stopped.
 *  - VMMU_BATCH_EXEC_LEFT_KERNEL: entry *done - 1 took the vCPU out of
 *    guest kernel mode; entries from *done on were not run and keep
 *    their results. Xen ends the multicall there when the entry was an
 *    iret and otherwise leaves the rest as a continuation: the embedder
 *    drops them, or calls again once the vCPU is back in kernel mode.
 *  - With VMMU_BATCH_EXEC_STOP_ON_ERROR: entry *done's (negative)
 *    result, INT32_MIN if `other` gave a smaller one; entries after it
 *    were not run.
 *  - -VMMU_EINVAL with nothing done: a NULL v, done or ops, no guest_ptr,
 *    calls NULL with n != 0, or *done > n (a resumed index is checked
 *    before use: XSA-212).
 *  - -VMMU_EPERM with nothing done: v is not in guest kernel mode.
 *
 * An entry's own arguments: mmu_update and mmuext_op take (guest address
 * of the request array, count, guest address of a uint32_t done word or
 * 0, foreigndom); the done word gets the requests completed, added up
 * across continuations as in Xen (it is read only when the count carries
 * VMMU_PV_MMU_UPDATE_PREEMPTED, so a new call needs no zeroed word).
 * update_va_mapping takes (va, val, flags), _otherdomain (va, val, flags,
 * domid). A count or foreigndom above 32 bits or a domid above 16 bits is
 * -VMMU_EINVAL; an array address not 8-byte aligned -VMMU_EFAULT; a
 * nested multicall -VMMU_EINVAL.
 *
 * Context: any CPU running vCPU v (other vCPUs of the domain may run
 * hypercalls at once); calls is the hypervisor's mapping of the guest's
 * list, which the guest may change meanwhile (each entry is copied once
 * before it runs).
 */
int vmmu_batch_exec(struct vmmu_pv_vcpu *v,
		    struct vmmu_pv_multicall_entry *calls, uint32_t n,
		    uint32_t *done, const struct vmmu_batch_exec_ops *ops);

/**
 * One hypercall outside a multicall (the embedder's direct-hypercall
 * path for the same four numbers): run e (op and args as a multicall
 * entry would carry them), store the result in e->result and return it.
 * -VMMU_ERESTART: preempted; e->args were rewritten as in vmmu_batch_exec
 * (the embedder copies them back into the guest's registers and runs e
 * again). A multicall number is -VMMU_EINVAL (use vmmu_batch_exec);
 * ops->flags and ops->kernel_mode are not used. Context: as
 * vmmu_batch_exec.
 */
int64_t vmmu_batch_exec_call(struct vmmu_pv_vcpu *v,
			     struct vmmu_pv_multicall_entry *e,
			     const struct vmmu_batch_exec_ops *ops);

#ifdef __cplusplus
}
#endif

#endif /* VMMU_BATCH_EXEC_H */
