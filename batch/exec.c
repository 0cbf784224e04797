/* SPDX-License-Identifier: MIT */
/*
 * The hypervisor-side batch executor (include/vmmu/batch_exec.h): a
 * guest's multicall applied to vmmu's direct-paging hypercalls.
 *
 * Each entry is copied out of the guest's list once, run, and only its
 * result is written back; a preempted entry also gets its rewritten
 * arguments back, so that the next call continues it. The loop between
 * entries does three things: the platform's preemption check (not before
 * the first entry of a call, so every call makes progress), the optional
 * stop at the first refused entry, and the guest-privilege check of
 * XSA-213.
 */
#include <vmmu/batch_exec.h>

#include "../mmu/internal.h"

/* The two array hypercalls have one shape. */
typedef int (*array_call)(struct vmmu_pv_vcpu *v, const void *reqs,
			  uint32_t count, uint32_t *done, uint32_t foreigndom);

static int call_mmu_update(struct vmmu_pv_vcpu *v, const void *reqs,
			   uint32_t count, uint32_t *done, uint32_t foreigndom)
{
	return vmmu_pv_mmu_update(v, reqs, count, done, foreigndom);
}

static int call_mmuext_op(struct vmmu_pv_vcpu *v, const void *reqs,
			  uint32_t count, uint32_t *done, uint32_t foreigndom)
{
	return vmmu_pv_mmuext_op(v, reqs, count, done, foreigndom);
}

static bool in_kernel(const struct vmmu_batch_exec_ops *ops,
		      const struct vmmu_pv_vcpu *v)
{
	return ops->kernel_mode == NULL || ops->kernel_mode(ops->ctx, v);
}

/* The guest's uint32_t done word, at any alignment. */
static uint32_t load_word(const void *p)
{
	uint32_t w;

	__builtin_memcpy(&w, p, sizeof(w));
	return w;
}

static void store_word(void *p, uint32_t w)
{
	__builtin_memcpy(p, &w, sizeof(w));
}

/*
 * The request array of an entry: NULL for an empty one, else the
 * hypervisor's pointer, or NULL in *ok = false when it is not accessible.
 */
static const void *request_array(struct vmmu_pv_vcpu *v, uint64_t gva,
				 uint32_t count, size_t size,
				 const struct vmmu_batch_exec_ops *ops, bool *ok)
{
	const void *p;

	*ok = true;
	if (count == 0) {
		return NULL; /* a continuation that only finishes parked work */
	}
	p = (gva & 7u) != 0 ? NULL
			    : ops->guest_ptr(ops->ctx, v, gva, (size_t)count * size);
	*ok = p != NULL && ((uintptr_t)p & 7u) == 0;
	return p;
}

/*
 * mmu_update or mmuext_op from an entry: (array, count, done word or 0,
 * foreigndom). Progress is kept in the entry itself, as Xen rewrites a
 * preempted subcall: the array address moves past the requests done and
 * the count becomes the rest, flagged VMMU_PV_MMU_UPDATE_PREEMPTED. The
 * done word is a sum across continuations (read back only when that flag
 * says this is one), never an index: nothing the guest writes between two
 * calls reaches beyond the range guest_ptr allowed (XSA-212).
 */
static int64_t run_array(struct vmmu_pv_vcpu *v,
			 struct vmmu_pv_multicall_entry *e, size_t size,
			 array_call fn, const struct vmmu_batch_exec_ops *ops)
{
	uint64_t count = e->args[1];
	uint32_t left = (uint32_t)count & ~VMMU_PV_MMU_UPDATE_PREEMPTED;
	uint32_t k = 0, sum = 0;
	void *word = NULL;
	const void *reqs;
	bool ok;
	int rc;

	if (count > UINT32_MAX || e->args[3] > UINT32_MAX) {
		return -VMMU_EINVAL;
	}
	if (e->args[2] != 0) {
		word = ops->guest_ptr(ops->ctx, v, e->args[2], sizeof(uint32_t));
		if (word == NULL) {
			return -VMMU_EFAULT;
		}
		if ((count & VMMU_PV_MMU_UPDATE_PREEMPTED) != 0) {
			sum = load_word(word);
		}
	}
	reqs = request_array(v, e->args[0], left, size, ops, &ok);
	if (!ok) {
		return -VMMU_EFAULT;
	}
	rc = fn(v, reqs, left, &k, (uint32_t)e->args[3]);
	if (rc == -VMMU_ERESTART) {
		e->args[0] += (uint64_t)k * size;
		e->args[1] = (uint64_t)(left - k) | VMMU_PV_MMU_UPDATE_PREEMPTED;
	}
	if (word != NULL) {
		store_word(word, sum + k); /* wraps only if the guest tampered */
	}
	return rc;
}

/* One hypercall, by number: its result. */
static int64_t run_one(struct vmmu_pv_vcpu *v, struct vmmu_pv_multicall_entry *e,
		       const struct vmmu_batch_exec_ops *ops)
{
	switch (e->op) {
	case VMMU_PV_HC_MMU_UPDATE:
		return run_array(v, e, sizeof(struct vmmu_pv_mmu_update),
				 call_mmu_update, ops);
	case VMMU_PV_HC_MMUEXT_OP:
		return run_array(v, e, sizeof(struct vmmu_pv_mmuext_op),
				 call_mmuext_op, ops);
	case VMMU_PV_HC_UPDATE_VA_MAPPING:
		return vmmu_pv_update_va_mapping(v, e->args[0], e->args[1],
						 e->args[2]);
	case VMMU_PV_HC_UPDATE_VA_MAPPING_OTHERDOMAIN:
		if (e->args[3] > 0xffffu) {
			return -VMMU_EINVAL;
		}
		return vmmu_pv_update_va_mapping_otherdomain(
			v, e->args[0], e->args[1], e->args[2],
			(vmmu_domid_t)e->args[3]);
	case VMMU_PV_HC_MULTICALL:
		return -VMMU_EINVAL; /* no nesting, as in Xen */
	default:
		return ops->other != NULL ? ops->other(ops->ctx, v, e)
					  : -VMMU_ENOTSUP;
	}
}

/*
 * Run the guest's entry *slot from one private copy (another vCPU may
 * rewrite the list meanwhile), then write its result back, and its
 * arguments too when it was preempted.
 */
static int64_t run_entry(struct vmmu_pv_vcpu *v,
			 struct vmmu_pv_multicall_entry *slot,
			 const struct vmmu_batch_exec_ops *ops)
{
	struct vmmu_pv_multicall_entry e;
	int64_t r;

	e.op = __atomic_load_n(&slot->op, __ATOMIC_RELAXED);
	e.result = 0;
	for (unsigned a = 0; a < 6; a++) {
		e.args[a] = __atomic_load_n(&slot->args[a], __ATOMIC_RELAXED);
	}
	r = run_one(v, &e, ops);
	if (r == -VMMU_ERESTART) {
		for (unsigned a = 0; a < 6; a++) {
			__atomic_store_n(&slot->args[a], e.args[a], __ATOMIC_RELAXED);
		}
	}
	__atomic_store_n(&slot->result, (uint64_t)r, __ATOMIC_RELAXED);
	return r;
}

/* A refused entry's result as the multicall's return value. */
static int as_error(int64_t r)
{
	return r < INT32_MIN ? INT32_MIN : (int)r;
}

/*
 * After entry i ran with result r: 1 to go on, or 0 with *rc and *next
 * set to end the call.
 */
static int carry_on(struct vmmu_pv_vcpu *v, uint32_t i, uint32_t n, int64_t r,
		    const struct vmmu_batch_exec_ops *ops, int *rc,
		    uint32_t *next)
{
	if (r == -VMMU_ERESTART) {
		*rc = -VMMU_ERESTART; /* the entry itself is continued */
		*next = i;
		return 0;
	}
	if (r < 0 && (ops->flags & VMMU_BATCH_EXEC_STOP_ON_ERROR) != 0) {
		*rc = as_error(r);
		*next = i;
		return 0;
	}
	/*
	 * XSA-213. Xen's fix asks after every subcall whether the vCPU is
	 * still in guest kernel mode: an iret ends the multicall with the
	 * iret's result, any other change of mode leaves the remaining
	 * entries unrun, as a continuation. Either way nothing after the
	 * switch runs with the guest's user privilege; here the embedder
	 * learns which entry switched and chooses between the two.
	 */
	if (!in_kernel(ops, v)) {
		*rc = i + 1 < n ? VMMU_BATCH_EXEC_LEFT_KERNEL : 0;
		*next = i + 1;
		return 0;
	}
	return 1;
}

int vmmu_batch_exec(struct vmmu_pv_vcpu *v,
		    struct vmmu_pv_multicall_entry *calls, uint32_t n,
		    uint32_t *done, const struct vmmu_batch_exec_ops *ops)
{
	uint32_t start, i;
	int rc = 0;

	if (v == NULL || done == NULL || ops == NULL || ops->guest_ptr == NULL ||
	    (calls == NULL && n != 0)) {
		return -VMMU_EINVAL;
	}
	start = *done; /* XSA-212: a resumed index is checked before use */
	if (start > n) {
		return -VMMU_EINVAL;
	}
	if (start < n && !in_kernel(ops, v)) {
		return -VMMU_EPERM;
	}
	for (i = start; i < n; i++) {
		if (i != start && vmmu_should_yield(v->d->plat)) {
			rc = -VMMU_ERESTART;
			break;
		}
		/* carry_on sets i to where the call stops when it stops */
		if (!carry_on(v, i, n, run_entry(v, &calls[i], ops), ops, &rc,
			      &i)) {
			break;
		}
	}
	*done = i;
	return rc;
}

int64_t vmmu_batch_exec_call(struct vmmu_pv_vcpu *v,
			     struct vmmu_pv_multicall_entry *e,
			     const struct vmmu_batch_exec_ops *ops)
{
	int64_t r;

	if (v == NULL || e == NULL || ops == NULL || ops->guest_ptr == NULL) {
		return -VMMU_EINVAL;
	}
	r = run_one(v, e, ops);
	e->result = (uint64_t)r;
	return r;
}
