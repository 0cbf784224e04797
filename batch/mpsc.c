/* SPDX-License-Identifier: MIT */
/*
 * Cross-CPU requests: the shootdown protocol over the per-CPU inbox
 * (include/vmmu/mpsc.h, docs/mpsc.md). The inbox itself (push, take) is
 * static inline in the header: it is the fast path.
 *
 * Memory ordering, end to end:
 *   initiator                          target
 *   req fields, pending += 1 (relaxed)
 *   node->req = req
 *   push: CAS head (release)  ------>  take: exchange head (acquire)
 *                                      read node->req, req's fields
 *                                      apply (the flush)
 *   done: load pending (acquire) <---  pending -= 1 (release)
 * The decrements are read-modify-writes, so the initiator's acquire load
 * that reads 0 synchronises with every target's release decrement.
 */
#include <vmmu/mpsc.h>

_Static_assert(sizeof(struct vmmu_inbox) == VMMU_CACHE_LINE,
	       "an inbox fills exactly one cache line");
_Static_assert(_Alignof(struct vmmu_inbox) == VMMU_CACHE_LINE,
	       "an inbox starts a cache line");
_Static_assert(sizeof(struct vmmu_shootdown_node) == VMMU_CACHE_LINE,
	       "a shootdown node fills exactly one cache line");
_Static_assert(offsetof(struct vmmu_shootdown_node, link) == 0,
	       "an inbox node is a shootdown node");

void vmmu_inbox_init(struct vmmu_inbox *ib)
{
	__atomic_store_n(&ib->head, (struct vmmu_inbox_node *)NULL, __ATOMIC_RELAXED);
}

int vmmu_shootdown_init(struct vmmu_shootdown *req, uint32_t scope,
			uint64_t addr, uint64_t size, const void *arg)
{
	if (scope < VMMU_TLB_RANGE || scope > VMMU_TLB_ALL) {
		return -VMMU_EINVAL;
	}
	if (scope == VMMU_TLB_RANGE && size != 0 && addr + (size - 1) < addr) {
		return -VMMU_EINVAL;
	}
	req->scope = scope;
	req->addr = scope == VMMU_TLB_RANGE ? addr : 0;
	req->size = scope == VMMU_TLB_RANGE ? size : 0;
	req->arg = arg;
	__atomic_store_n(&req->pending, 0u, __ATOMIC_RELAXED);
	return 0;
}

/* Push node for req onto target; req->pending already counts it. */
static bool push_node(struct vmmu_shootdown *req, struct vmmu_inbox *target,
		      struct vmmu_shootdown_node *node)
{
	node->req = req;
	return vmmu_inbox_push_mpsc(target, &node->link);
}

/*
 * Counting the targets in pending is relaxed: the increment is sequenced
 * before the push's release, so a target's decrement (after its acquire
 * take) comes after it in pending's modification order; pending never
 * drops to 0 before the last target has acknowledged.
 */
bool vmmu_shootdown_post_mpsc(struct vmmu_shootdown *req,
			      struct vmmu_inbox *target,
			      struct vmmu_shootdown_node *node)
{
	__atomic_fetch_add(&req->pending, 1u, __ATOMIC_RELAXED);
	return push_node(req, target, node);
}

/* Whether the mask has no bit at or above cpu_count in its last word. */
static bool mask_fits(const uint64_t *mask, uint32_t cpu_count)
{
	uint32_t tail = cpu_count % 64u;

	if (mask == NULL || tail == 0) {
		return true;
	}
	return (mask[cpu_count / 64u] >> tail) == 0;
}

static bool is_target(const uint64_t *mask, uint32_t cpu)
{
	return mask == NULL || ((mask[cpu / 64u] >> (cpu % 64u)) & 1u) != 0;
}

int vmmu_shootdown_post_mask_mpsc(struct vmmu_shootdown *req,
				  struct vmmu_inbox *inboxes,
				  struct vmmu_shootdown_node *nodes,
				  uint32_t cpu_count, const uint64_t *mask,
				  const struct vmmu_shootdown_ops *ops, void *ctx)
{
	uint32_t count = 0;

	if (req == NULL || inboxes == NULL || nodes == NULL || ops == NULL ||
	    cpu_count == 0 || cpu_count > (uint32_t)INT32_MAX ||
	    !mask_fits(mask, cpu_count)) {
		return -VMMU_EINVAL;
	}
	for (uint32_t c = 0; c < cpu_count; c++) {
		count += is_target(mask, c);
	}
	/* All targets at once: one locked operation, not one per target. */
	__atomic_fetch_add(&req->pending, count, __ATOMIC_RELAXED);
	for (uint32_t c = 0; c < cpu_count; c++) {
		if (is_target(mask, c) && push_node(req, &inboxes[c], &nodes[c]) &&
		    ops->kick != NULL) {
			ops->kick(ctx, c);
		}
	}
	return (int)count;
}

unsigned vmmu_shootdown_drain_mpsc(struct vmmu_inbox *self,
				   const struct vmmu_shootdown_ops *ops,
				   void *ctx)
{
	struct vmmu_inbox_node *n = vmmu_inbox_take_mpsc(self);
	unsigned count = 0;

	while (n != NULL) {
		/* link is the node's first member (checked above). */
		struct vmmu_shootdown *req = ((struct vmmu_shootdown_node *)n)->req;
		/* Read before the acknowledgement gives the node back. */
		struct vmmu_inbox_node *next = n->next;

		ops->apply(ctx, req);
		/* Release: the flush and our reads of req and the node first. */
		__atomic_fetch_sub(&req->pending, 1u, __ATOMIC_RELEASE);
		n = next;
		count++;
	}
	return count;
}

void vmmu_shootdown_wait_mpsc(struct vmmu_inbox *self,
			      const struct vmmu_shootdown *req,
			      const struct vmmu_shootdown_ops *ops, void *ctx)
{
	while (!vmmu_shootdown_done(req)) {
		if (vmmu_shootdown_drain_mpsc(self, ops, ctx) == 0 &&
		    ops->relax != NULL) {
			ops->relax(ctx);
		}
	}
}
