/* SPDX-License-Identifier: MIT */
/**
 * @file mpsc.h
 * @brief Cross-CPU requests (docs/mpsc.md): a per-CPU inbox that any CPU
 * pushes into and only its owner drains, and the remote TLB-flush
 * (shootdown) protocol built on it.
 *
 * The inbox is an intrusive lock-free list. A push is a compare-exchange
 * loop on the head: any CPU, interrupt or NMI handler may push at any
 * time. The owner takes everything with one atomic exchange and gets the
 * requests in push order. The consumer never removes a single node from
 * the shared head, so a node that comes back to the head cannot confuse
 * anybody (no ABA). Each inbox fills one 64-byte cache line on its own,
 * so an array of them (one per CPU) shares no line between CPUs.
 *
 * A shootdown: the initiator describes the flush once (struct
 * vmmu_shootdown), posts one node per target CPU into the targets'
 * inboxes and waits until every target has flushed and acknowledged. A
 * target drains its inbox, flushes through the embedder's apply hook
 * and acknowledges each request. The waiting initiator keeps draining
 * its own inbox, so two CPUs that shoot each other down both finish.
 *
 * Functions suffixed _mpsc touch an inbox; their comments say which side
 * (any CPU: producer; the inbox's owner: consumer) may call them.
 * Nothing here allocates, locks or calls the platform hooks.
 */
#ifndef VMMU_MPSC_H
#define VMMU_MPSC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "platform.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Size of a cache line as far as false sharing goes. */
#define VMMU_CACHE_LINE 64u

/** A link in an inbox. Embed it in your request; one inbox at a time. */
struct vmmu_inbox_node {
	struct vmmu_inbox_node *next; /**< private to the inbox while queued */
};

/**
 * One CPU's inbox (64 bytes, 64-byte aligned: nothing else shares its
 * line). Initialise with vmmu_inbox_init; fields are private. The head is
 * a plain pointer that vmmu only touches with __atomic operations.
 */
struct vmmu_inbox {
	struct vmmu_inbox_node *head; /**< newest node first; NULL = empty */
	unsigned char pad_[VMMU_CACHE_LINE - sizeof(struct vmmu_inbox_node *)];
} __attribute__((aligned(64)));

/**
 * Make ib empty. Context: before any other CPU can reach ib.
 */
void vmmu_inbox_init(struct vmmu_inbox *ib);

/**
 * Push n onto ib. Returns true when ib was empty just before, i.e. this
 * push started a new batch and the owner should be woken (an IPI); false
 * when a wake-up for earlier nodes is already due.
 *
 * Context: any CPU, task, interrupt or NMI context (lock-free: a retry
 * only happens because another push or a take succeeded meanwhile). n
 * must not be on any inbox. Everything the caller wrote to the request
 * before the push is visible to the consumer that takes n (release).
 */
static inline bool vmmu_inbox_push_mpsc(struct vmmu_inbox *ib,
					struct vmmu_inbox_node *n)
{
	struct vmmu_inbox_node *old = __atomic_load_n(&ib->head, __ATOMIC_RELAXED);

	do {
		/* n is still private: a plain store, published by the CAS. */
		n->next = old;
		/*
		 * Release on success: n->next and the request's fields are
		 * visible before n is. Our CAS also continues the release
		 * sequence of the pushes below n, so a consumer whose
		 * acquire exchange reads n sees their requests too.
		 */
	} while (!__atomic_compare_exchange_n(&ib->head, &old, n, true,
					      __ATOMIC_RELEASE, __ATOMIC_RELAXED));
	return old == NULL;
}

/**
 * Take everything queued on ib with one exchange. Returns the oldest
 * node, linked through next in push order (oldest first, NULL-terminated),
 * or NULL when ib was empty. The returned nodes belong to the caller.
 *
 * Context: ib's owner (the single consumer). Wait-free (one exchange plus
 * a walk of the taken nodes). Safe against pushes at any instruction, and
 * against a handler on the owner's CPU that takes while an interrupted
 * take or walk is in progress: each exchange gets its own nodes, but
 * then the handler's (newer) nodes are handled before the interrupted
 * walk's remaining (older) ones.
 */
static inline struct vmmu_inbox_node *vmmu_inbox_take_mpsc(struct vmmu_inbox *ib)
{
	/* Acquire: pairs with the release of every push in the chain. */
	struct vmmu_inbox_node *n = __atomic_exchange_n(&ib->head, NULL,
							__ATOMIC_ACQUIRE);
	struct vmmu_inbox_node *fifo = NULL;

	/* The chain is newest first and private now: reverse it. */
	while (n != NULL) {
		struct vmmu_inbox_node *next = n->next;

		n->next = fifo;
		fifo = n;
		n = next;
	}
	return fifo;
}

/**
 * Whether ib looked empty (a snapshot: a push may land right after).
 * Context: any CPU; no ordering (relaxed), so do not read a request
 * because of it: take it.
 */
static inline bool vmmu_inbox_empty_mpsc(const struct vmmu_inbox *ib)
{
	return __atomic_load_n(&ib->head, __ATOMIC_RELAXED) == NULL;
}

/* --- shootdowns ------------------------------------------------------------ */

/**
 * A remote TLB flush: what to flush (the fields of struct vmmu_tlb_req
 * that describe the flush) and how many targets have not yet
 * acknowledged. Lives with the initiator (its stack, typically) from
 * vmmu_shootdown_init until vmmu_shootdown_done is true; targets only
 * read it, and decrement pending. 64-byte aligned, so the initiator's
 * other data does not share the line targets write.
 */
struct vmmu_shootdown {
	uint32_t scope;    /**< enum vmmu_tlb_scope */
	uint32_t pending;  /**< private: targets still to acknowledge (__atomic) */
	uint64_t addr;     /**< first address (VMMU_TLB_RANGE) */
	uint64_t size;     /**< bytes (VMMU_TLB_RANGE) */
	const void *arg;   /**< the embedder's (an address space, a PCID); vmmu never reads it */
} __attribute__((aligned(64)));

/**
 * One target's share of a shootdown: the initiator provides one per
 * target (an array indexed by CPU, say). It is on that target's inbox
 * from the post until the target acknowledges; reuse it only after
 * vmmu_shootdown_done. 64-byte aligned: targets rewrite their node's
 * link while taking, and must not share a line doing it.
 */
struct vmmu_shootdown_node {
	struct vmmu_inbox_node link;  /**< private */
	struct vmmu_shootdown *req;   /**< private */
} __attribute__((aligned(64)));

/** The embedder's side of a shootdown. */
struct vmmu_shootdown_ops {
	/**
	 * Required. Flush this CPU's TLB as req says (scope, addr, size,
	 * arg), then return; the acknowledgement follows. ctx is the one
	 * given to the drain or wait that calls it, so it can say which CPU
	 * runs. It must not drain or wait itself (that would recurse); an
	 * interrupt handler that drains while apply runs is fine.
	 * Context: the target CPU, wherever it drains (IPI handler, idle
	 * loop, a waiting initiator).
	 */
	void (*apply)(void *ctx, const struct vmmu_shootdown *req);
	/**
	 * Optional. Wake CPU cpu so that it drains its inbox (send an IPI).
	 * Called by vmmu_shootdown_post_mask_mpsc only when cpu's inbox was
	 * empty (a wake-up for the earlier nodes is already due otherwise).
	 * NULL: targets poll.
	 */
	void (*kick)(void *ctx, uint32_t cpu);
	/**
	 * Optional. Called by a waiting initiator each time its own inbox
	 * was empty (a pause instruction, a yield). NULL: spin.
	 */
	void (*relax)(void *ctx);
};

/**
 * Describe a flush of scope (enum vmmu_tlb_scope) over [addr, addr +
 * size) for VMMU_TLB_RANGE (addr and size are ignored otherwise), with
 * no targets yet. Returns 0, or -VMMU_EINVAL for an unknown scope or a
 * range that wraps past 2^64 (req is then unchanged).
 * Context: the initiator, before posting.
 */
int vmmu_shootdown_init(struct vmmu_shootdown *req, uint32_t scope,
			uint64_t addr, uint64_t size, const void *arg);

/**
 * Post req to one target: count it as pending and push node onto the
 * target's inbox. Returns true when that inbox was empty (wake the
 * target). The request's fields are visible to the target before the
 * node is (release). Context: the initiator, any CPU; node must not be
 * on any inbox.
 */
bool vmmu_shootdown_post_mpsc(struct vmmu_shootdown *req,
			      struct vmmu_inbox *target,
			      struct vmmu_shootdown_node *node);

/**
 * Post req to every CPU c < cpu_count whose bit is set in
 * mask[c / 64] (bit c % 64), or to every CPU when mask is NULL: node
 * nodes[c] goes to inbox inboxes[c]; ops->kick(ctx, c) (when set) wakes
 * each target whose inbox was empty. Posting to the initiator's own CPU
 * is allowed: vmmu_shootdown_wait then applies it. Returns the number of
 * targets posted, or -VMMU_EINVAL (nothing posted) when cpu_count is 0
 * or larger than INT32_MAX, inboxes/nodes/ops is NULL, or mask has a bit
 * at or above cpu_count in its last word.
 * Context: the initiator, any CPU.
 */
int vmmu_shootdown_post_mask_mpsc(struct vmmu_shootdown *req,
				  struct vmmu_inbox *inboxes,
				  struct vmmu_shootdown_node *nodes,
				  uint32_t cpu_count, const uint64_t *mask,
				  const struct vmmu_shootdown_ops *ops, void *ctx);

/**
 * Drain self (this CPU's inbox): take everything with one exchange and,
 * oldest first, apply each request through ops->apply(ctx, req) and
 * acknowledge it (a release decrement of its pending count: the flush
 * happens before the initiator sees the acknowledgement). After the
 * acknowledgement the node and request are the initiator's again and
 * are not touched. Returns the number of requests applied.
 * Context: self's owner CPU only; from its IPI handler, idle loop or
 * task context. Not NMI-safe if apply is not.
 */
unsigned vmmu_shootdown_drain_mpsc(struct vmmu_inbox *self,
				   const struct vmmu_shootdown_ops *ops,
				   void *ctx);

/**
 * Whether every target of req has acknowledged (acquire: their flushes
 * happened before). Once true, req and its nodes may be reused.
 * Context: the initiator.
 */
static inline bool vmmu_shootdown_done(const struct vmmu_shootdown *req)
{
	return __atomic_load_n(&req->pending, __ATOMIC_ACQUIRE) == 0;
}

/**
 * Wait until req is done, draining self (this CPU's inbox, see
 * vmmu_shootdown_drain_mpsc) meanwhile and calling ops->relax when there
 * was nothing to drain. Because every waiting initiator keeps serving
 * its own inbox, CPUs that shoot each other down all finish, even with
 * interrupts off. Context: the initiator, on the CPU that owns self.
 */
void vmmu_shootdown_wait_mpsc(struct vmmu_inbox *self,
			      const struct vmmu_shootdown *req,
			      const struct vmmu_shootdown_ops *ops, void *ctx);

#ifdef __cplusplus
}
#endif

#endif /* VMMU_MPSC_H */
