/* SPDX-License-Identifier: MIT */
/**
 * @file batch.h
 * @brief Batched page-table updates on the guest side (docs/batch.md):
 * one per-CPU queue of updates in lazy-MMU mode, flushed to whichever
 * backend is underneath (native stores, vmmu's direct-paging validator
 * through a hypercall hook, the shadow engine, a recording backend for
 * tests) in as few requests as possible.
 *
 * Every function takes the calling CPU's queue, struct vmmu_batch_cpu:
 * the embedder passes its own CPU's (preemption off, or pinned thread),
 * and may call again from an interrupt or NMI handler on that CPU at any
 * instruction of a call in progress. The queue's owner path has no
 * atomic read-modify-write: the outermost call on a CPU owns the main
 * ring and uses plain loads and stores; a handler that interrupts a batch
 * call queues into a small nested ring, reserving a slot with one
 * unlocked compare-exchange that an interrupt cannot split (Linux's
 * this_cpu operations). docs/batch.md gives the argument.
 *
 * What a caller can rely on:
 *  - Every update is applied exactly once, in the order the updates were
 *    queued on the CPU (a handler's updates come after those queued
 *    before it ran), with the TLB flushes queued behind the entries they
 *    follow.
 *  - Outside lazy mode an update is applied before its call returns.
 *    In lazy mode it is applied at the latest when the outermost
 *    vmmu_batch_lazy_leave or a vmmu_batch_flush returns.
 *  - An update queued in interrupt context (between vmmu_batch_irq_enter
 *    and _exit) is applied before its call returns, unless the handler
 *    interrupted a flush on this CPU (or another handler's enqueue): then
 *    the call returns VMMU_BATCH_DEFERRED and the interrupted flush (or
 *    enqueue) applies it before it returns.
 *  - A refused update stops the flush: the updates before it are applied,
 *    it and the ones behind it in that flush are dropped, and
 *    vmmu_batch_last_error says which (its sequence number) and why.
 */
#ifndef VMMU_BATCH_H
#define VMMU_BATCH_H

#include <stdbool.h>
#include <stdint.h>

#include <vmmu/platform.h>
#include <vmmu/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/** What one queued update does. */
enum vmmu_batch_kind {
	VMMU_BATCH_PTE_WRITE = 1,  /**< *ptr = val (ptr: machine address of an entry) */
	VMMU_BATCH_PTE_UPDATE_AD,  /**< as PTE_WRITE, keeping A/D the CPU set (Xen PRESERVE_AD) */
	VMMU_BATCH_PIN,            /**< pin frame ptr >> 12 as a table of `level` */
	VMMU_BATCH_UNPIN,          /**< unpin frame ptr >> 12 */
	VMMU_BATCH_NEW_BASE,       /**< kernel root table: frame ptr >> 12 */
	VMMU_BATCH_NEW_USER_BASE,  /**< user root table: frame ptr >> 12 (0: none) */
	VMMU_BATCH_TLB_FLUSH,      /**< flush non-global entries on `target` CPUs */
	VMMU_BATCH_INVLPG,         /**< invalidate va ptr on `target` CPUs */
};

/** Which CPUs a TLB_FLUSH or INVLPG is for (vmmu_batch_entry::target). */
enum vmmu_batch_target {
	VMMU_BATCH_LOCAL = 0, /**< this CPU */
	VMMU_BATCH_ALL,       /**< every CPU the address space is live on */
	VMMU_BATCH_MASK,      /**< CPUs 64 * mask_word + bit n for bits of val */
};

/** One queued update (32 bytes). */
struct vmmu_batch_entry {
	uint8_t kind;      /**< enum vmmu_batch_kind */
	uint8_t level;     /**< table level (1..5) of a PTE write or pin */
	uint8_t target;    /**< enum vmmu_batch_target (flushes) */
	uint8_t reserved_;
	uint32_t mask_word; /**< VMMU_BATCH_MASK: which 64 CPUs val covers */
	uint64_t ptr;      /**< entry / frame machine address, or va */
	uint64_t val;      /**< new entry, or CPU mask bits */
	uint64_t seq;      /**< position in the CPU's update sequence (set by the queue) */
};

/**
 * A backend: applies a run of one CPU's updates in order. The queue calls
 * it with one run at a time, never twice at once for one CPU.
 */
struct vmmu_batch_backend {
	/**
	 * Apply e[0..n) in order. Return 0 with *done = n, or a negative
	 * -VMMU_E* with *done = the index of the entry refused: the entries
	 * before it were applied, it and the ones after it were not.
	 * Context: the CPU's own, possibly an interrupt handler.
	 */
	int (*submit)(void *ctx, uint32_t cpu, const struct vmmu_batch_entry *e,
		      uint32_t n, uint32_t *done);
	void *ctx;
};

/** vmmu_batch_* results besides 0 and -VMMU_E*. */
#define VMMU_BATCH_DEFERRED 1 /**< applied by the interrupted enqueue/flush */

/** Limits. */
#define VMMU_BATCH_MIN_SLOTS 16u
#define VMMU_BATCH_MAX_SLOTS (1u << 20)

/** The last refused update of a CPU (vmmu_batch_last_error). */
struct vmmu_batch_error {
	uint64_t seq;     /**< its sequence number */
	uint64_t dropped; /**< updates dropped with it (it included) */
	int rc;           /**< the backend's -VMMU_E* (0: none yet) */
	uint32_t kind;    /**< its enum vmmu_batch_kind */
};

/** Slots of the small queue of updates made inside another batch call. */
#define VMMU_BATCH_NESTED_SLOTS 32u

/**
 * One CPU's queue. Initialise with vmmu_batch_cpu_init; fields are
 * private. Two rings: the main one, written only by the outermost batch
 * call on the CPU (plain loads and stores: see docs/batch.md), and a
 * small one for updates made by interrupt handlers that interrupted a
 * batch call (a slot reserved with one unlocked compare-exchange), each
 * entry remembering where in the main ring it belongs. No other CPU
 * touches either: keep each CPU's queue in its own cache lines (the
 * struct is 64-byte aligned).
 */
struct vmmu_batch_cpu {
	/* The main ring: the outermost call's fast path. */
	uint64_t published; /**< main entries written (free-running) */
	uint64_t submitted; /**< main entries handed to the backend */
	struct vmmu_batch_entry *slots;
	uint32_t mask;      /**< main slots - 1 */
	uint32_t depth;     /**< batch calls in progress on this CPU */
	uint32_t lazy;      /**< lazy-mode nesting depth */
	uint32_t irq;       /**< interrupt nesting depth (lazy mode off while > 0) */
	uint32_t flushing;  /**< a flush is running */
	uint32_t wanted;    /**< a nested call left updates for the outer one */
	uint32_t cpu;
	uint32_t reserved_;
	const struct vmmu_batch_backend *backend;
	/* The nested ring (interrupt handlers inside a batch call). */
	uint64_t n_reserved;  /**< nested slots handed out (free-running) */
	uint64_t n_submitted; /**< nested entries handed to the backend */
	struct vmmu_batch_entry nested[VMMU_BATCH_NESTED_SLOTS];
	uint64_t nested_pos[VMMU_BATCH_NESTED_SLOTS]; /**< main ring position of each */
	/* Statistics and the last refusal: written by the flusher only. */
	uint64_t flushes;   /**< backend calls made */
	uint64_t applied;   /**< updates applied */
	struct vmmu_batch_error error;
} __attribute__((aligned(64)));

/**
 * Set up CPU cpu's queue over slots[nslots] (a power of two between
 * VMMU_BATCH_MIN_SLOTS and VMMU_BATCH_MAX_SLOTS), flushing to backend.
 * Interrupt handlers that interrupt a batch call queue into the CPU's
 * VMMU_BATCH_NESTED_SLOTS nested slots instead. Returns 0 or -VMMU_EINVAL.
 * Context: before the CPU uses it.
 */
int vmmu_batch_cpu_init(struct vmmu_batch_cpu *c, uint32_t cpu,
			struct vmmu_batch_entry *slots, uint32_t nslots,
			const struct vmmu_batch_backend *backend);

/**
 * Lazy-MMU mode: updates queue until the outermost leave (which flushes),
 * a flush, a full queue, or a context switch. Enter/leave nest; leave
 * without enter is -VMMU_EINVAL. Returns leave's flush result.
 * Context: the CPU's task context (in an interrupt handler lazy mode is
 * off whatever the depth: see vmmu_batch_irq_enter).
 */
void vmmu_batch_lazy_enter(struct vmmu_batch_cpu *c);
int vmmu_batch_lazy_leave(struct vmmu_batch_cpu *c);
/** Whether updates queue (lazy mode on and not in an interrupt handler). */
bool vmmu_batch_is_lazy(const struct vmmu_batch_cpu *c);

/**
 * Apply everything queued on this CPU now. Returns 0, VMMU_BATCH_DEFERRED
 * (called inside this CPU's own enqueue or flush, which applies it), or
 * the first refusal (-VMMU_E*; see vmmu_batch_last_error).
 */
int vmmu_batch_flush(struct vmmu_batch_cpu *c);

/**
 * An interrupt or NMI handler that may update page tables brackets
 * itself with these: inside, lazy mode is off (each update is applied
 * at once, after everything queued before it). Nest freely.
 */
void vmmu_batch_irq_enter(struct vmmu_batch_cpu *c);
void vmmu_batch_irq_exit(struct vmmu_batch_cpu *c);

/**
 * The embedder's scheduler: switching the current task out flushes and
 * leaves lazy mode, saving its depth in *saved; switching a task in
 * restores its depth (0 for a task that was not in lazy mode). Returns
 * switch_out's flush result. Context: task context, preemption off.
 */
int vmmu_batch_switch_out(struct vmmu_batch_cpu *c, uint32_t *saved);
void vmmu_batch_switch_in(struct vmmu_batch_cpu *c, uint32_t saved);

/**
 * Queue one update (see enum vmmu_batch_kind). Each returns 0 (queued,
 * or applied when not lazy), VMMU_BATCH_DEFERRED, -VMMU_EINVAL (bad
 * argument: nothing queued), -VMMU_EBUSY (queue full inside this CPU's
 * own enqueue or flush, where it cannot be flushed: nothing queued), or
 * a refusal from the flush it caused.
 */
static inline int vmmu_batch_pte_write(struct vmmu_batch_cpu *c,
				       uint64_t pte_ma, unsigned level,
				       uint64_t val);
static inline int vmmu_batch_pte_update_ad(struct vmmu_batch_cpu *c,
					   uint64_t pte_ma, unsigned level,
					   uint64_t val);
int vmmu_batch_pin(struct vmmu_batch_cpu *c, uint64_t mfn, unsigned level);
int vmmu_batch_unpin(struct vmmu_batch_cpu *c, uint64_t mfn);
/** New root table: user false for the kernel's, true for the user's (0: none). */
int vmmu_batch_new_base(struct vmmu_batch_cpu *c, uint64_t mfn, bool user);
/**
 * TLB flush (va ignored) or INVLPG of va, for this CPU (LOCAL), every CPU
 * (ALL), or the CPUs in mask[0..words) (MASK: one queued entry per
 * non-zero word).
 */
int vmmu_batch_tlb_flush(struct vmmu_batch_cpu *c, enum vmmu_batch_target t,
			 const uint64_t *mask, uint32_t words);
int vmmu_batch_invlpg(struct vmmu_batch_cpu *c, uint64_t va,
		      enum vmmu_batch_target t, const uint64_t *mask,
		      uint32_t words);
/** Queue a prepared entry (its seq is set by the queue). */
int vmmu_batch_queue(struct vmmu_batch_cpu *c, const struct vmmu_batch_entry *e);

/* The PTE write's way through vmmu_batch_queue (batch/updates.c). */
int vmmu_batch_pte_slow_(struct vmmu_batch_cpu *c, uint8_t kind,
			 uint64_t pte_ma, unsigned level, uint64_t val);

/*
 * Main ring, for the outermost call on the CPU only (batch/queue.c says
 * why that needs no atomic instruction): whether slot p is free, and
 * writing entry e there in full before publishing it with one store.
 */
static inline bool vmmu_batch_room_(const struct vmmu_batch_cpu *c, uint64_t p)
{
	return p - __atomic_load_n(&c->submitted, __ATOMIC_RELAXED) <= c->mask;
}

static inline void vmmu_batch_publish_(struct vmmu_batch_cpu *c, uint64_t p,
				       uint8_t kind, uint8_t level, uint8_t target,
				       uint32_t mask_word, uint64_t ptr,
				       uint64_t val)
{
	struct vmmu_batch_entry *slot = &c->slots[p & c->mask];

	slot->kind = kind;
	slot->level = level;
	slot->target = target;
	slot->reserved_ = 0;
	slot->mask_word = mask_word;
	slot->ptr = ptr;
	slot->val = val;
	slot->seq = p;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	__atomic_store_n(&c->published, p + 1, __ATOMIC_RELAXED);
}

/*
 * The fast path of a PTE write, inline: the outermost call in lazy mode
 * with room in the main ring writes the slot and publishes it (plain
 * stores, see batch/queue.c for why that is safe against handlers);
 * everything else goes through vmmu_batch_queue.
 */
static inline int vmmu_batch_put_pte_(struct vmmu_batch_cpu *c, uint8_t kind,
				      uint64_t pte_ma, unsigned level,
				      uint64_t val)
{
	uint64_t p;

	if ((pte_ma & 7u) != 0 || level - 1u > 4u) {
		return -VMMU_EINVAL;
	}
	if (__atomic_load_n(&c->depth, __ATOMIC_RELAXED) == 0 &&
	    __atomic_load_n(&c->lazy, __ATOMIC_RELAXED) != 0 &&
	    __atomic_load_n(&c->irq, __ATOMIC_RELAXED) == 0) {
		__atomic_store_n(&c->depth, 1u, __ATOMIC_RELAXED);
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		p = __atomic_load_n(&c->published, __ATOMIC_RELAXED);
		if (vmmu_batch_room_(c, p)) {
			vmmu_batch_publish_(c, p, kind, (uint8_t)level, 0, 0,
					    pte_ma, val);
			__atomic_signal_fence(__ATOMIC_SEQ_CST);
			__atomic_store_n(&c->depth, 0u, __ATOMIC_RELAXED);
			/* A handler in that window may have left work for us. */
			return __atomic_load_n(&c->wanted, __ATOMIC_RELAXED) == 0
				       ? 0
				       : vmmu_batch_flush(c);
		}
		__atomic_store_n(&c->depth, 0u, __ATOMIC_RELAXED);
	}
	return vmmu_batch_pte_slow_(c, kind, pte_ma, level, val);
}

static inline int vmmu_batch_pte_write(struct vmmu_batch_cpu *c,
				       uint64_t pte_ma, unsigned level,
				       uint64_t val)
{
	return vmmu_batch_put_pte_(c, VMMU_BATCH_PTE_WRITE, pte_ma, level, val);
}

static inline int vmmu_batch_pte_update_ad(struct vmmu_batch_cpu *c,
					   uint64_t pte_ma, unsigned level,
					   uint64_t val)
{
	return vmmu_batch_put_pte_(c, VMMU_BATCH_PTE_UPDATE_AD, pte_ma, level,
				   val);
}

/** Updates queued and not yet handed to the backend. */
uint64_t vmmu_batch_pending(const struct vmmu_batch_cpu *c);
/**
 * The sequence number the next update queued by the outermost call on
 * this CPU will get (vmmu_batch_error::seq counts in the same stream;
 * updates queued by handlers inside a call are numbered from 2^63).
 */
uint64_t vmmu_batch_next_seq(const struct vmmu_batch_cpu *c);
/** Updates applied on this CPU so far (handlers' included). */
uint64_t vmmu_batch_applied(const struct vmmu_batch_cpu *c);
/** The last refusal on this CPU (rc 0: none yet; it stays until the next). */
struct vmmu_batch_error vmmu_batch_last_error(const struct vmmu_batch_cpu *c);

/* --- backends ------------------------------------------------------------- */

/**
 * Native backend: the updates are plain stores into page tables reached
 * through plat's frame map (an atomic 64-bit store; PTE_UPDATE_AD a
 * compare-exchange loop that keeps A/D), pins are no-ops, new bases go to
 * set_base, and each TLB_FLUSH or INVLPG is one request to plat's
 * tlb_flush (a CPU mask for LOCAL and MASK, none for ALL).
 */
struct vmmu_batch_native {
	struct vmmu_batch_backend backend; /**< hand &n->backend to the queues */
	const struct vmmu_platform *plat;
	/** Load a new root (user: the user root); may be NULL. */
	void (*set_base)(void *ctx, uint32_t cpu, uint64_t mfn, bool user);
	void *ctx;
};

/** Set up a native backend. Returns 0 or -VMMU_EINVAL. */
int vmmu_batch_native_init(struct vmmu_batch_native *n,
			   const struct vmmu_platform *plat,
			   void (*set_base)(void *ctx, uint32_t cpu,
					    uint64_t mfn, bool user),
			   void *ctx);

/**
 * Recording backend (tests): appends every entry it gets to log[cap]
 * (log_n of them; further ones are counted in overflow), optionally
 * refusing the entry with sequence number fail_seq with fail_rc. Not
 * thread-safe: one per CPU, or the caller serialises.
 */
struct vmmu_batch_recorder {
	struct vmmu_batch_backend backend;
	struct vmmu_batch_entry *log;
	uint64_t cap, log_n, overflow, submits;
	uint64_t fail_seq; /**< refuse this one (UINT64_MAX: none) */
	int fail_rc;
	uint32_t max_run;  /**< longest run submitted */
};

void vmmu_batch_recorder_init(struct vmmu_batch_recorder *r,
			      struct vmmu_batch_entry *log, uint64_t cap);

#ifdef __cplusplus
}
#endif

#endif /* VMMU_BATCH_H */
