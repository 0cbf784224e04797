/* SPDX-License-Identifier: MIT */
/*
 * The per-CPU update queue (include/vmmu/batch.h, docs/batch.md).
 *
 * Everything here runs on one CPU, interrupted at any instruction by
 * handlers that call in again; a handler always finishes before the code
 * it interrupted resumes (interrupts nest strictly). Three rules make
 * that safe without a locked instruction:
 *
 *  1. The outermost batch call (depth 0 when it starts) owns the main
 *     ring. It raises depth before its first access to the ring, so a
 *     handler that sees depth 0 ran before that access and finished,
 *     leaving the ring consistent; a handler that sees depth > 0 never
 *     writes the main ring's published index or slots.
 *  2. A main entry is written in full, then published with one store of
 *     `published`: there is no half-written published entry.
 *  3. A handler inside a batch call queues into the nested ring. Its
 *     slot is reserved with an unlocked compare-exchange (one
 *     instruction, so an interrupt falls before or after it) and marked
 *     ready by storing its index into the entry's seq last. The entry
 *     records how many main entries were published when it was written:
 *     it is applied after those and before any later ones.
 *
 * One flush runs at a time on a CPU (`flushing`); a handler that finds a
 * flush running, or a nested entry reserved but not yet ready ahead of
 * its own, leaves its entries and sets `wanted`: the interrupted flush
 * (or enqueue) looks again before it returns.
 */
#include <vmmu/batch.h>

#include "../mmu/internal.h"

#define NMASK (VMMU_BATCH_NESTED_SLOTS - 1u)
/* Sequence numbers of nested entries (vmmu_batch_error::seq). */
#define NESTED_SEQ (1ull << 63)

/* Order plain accesses against a handler on this CPU: a compiler barrier. */
static inline void cpu_fence(void)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

static inline uint64_t ld64(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline void st64(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

static inline uint32_t ld32(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline void st32(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

/*
 * Compare-exchange that an interrupt on this CPU cannot split but that is
 * not atomic against other CPUs (x86: cmpxchg without LOCK, as Linux's
 * this_cpu_cmpxchg). Nothing but this CPU touches the word.
 */
static inline bool cpu_cmpxchg(uint64_t *p, uint64_t *expected, uint64_t want)
{
#if defined(__x86_64__)
	uint64_t prev = *expected;

	__asm__ __volatile__("cmpxchgq %2, %1"
			     : "+a"(prev), "+m"(*p)
			     : "r"(want)
			     : "memory", "cc");
	if (prev == *expected) {
		return true;
	}
	*expected = prev;
	return false;
#else
	return __atomic_compare_exchange_n(p, expected, want, false,
					   __ATOMIC_RELAXED, __ATOMIC_RELAXED);
#endif
}

int vmmu_batch_cpu_init(struct vmmu_batch_cpu *c, uint32_t cpu,
			struct vmmu_batch_entry *slots, uint32_t nslots,
			const struct vmmu_batch_backend *backend)
{
	if (c == NULL || slots == NULL || backend == NULL ||
	    backend->submit == NULL || nslots < VMMU_BATCH_MIN_SLOTS ||
	    nslots > VMMU_BATCH_MAX_SLOTS || (nslots & (nslots - 1)) != 0) {
		return -VMMU_EINVAL;
	}
	__builtin_memset(c, 0, sizeof(*c));
	c->slots = slots;
	c->mask = nslots - 1;
	c->cpu = cpu;
	c->backend = backend;
	/* No nested slot may look ready before it is written. */
	for (unsigned i = 0; i < VMMU_BATCH_NESTED_SLOTS; i++) {
		c->nested[i].seq = ~0ull;
	}
	return 0;
}

/* --- flushing ------------------------------------------------------------------- */

/*
 * Hand e[0..n) to the backend. On a refusal, record it and return the
 * error; the caller drops what follows. *taken: entries consumed (applied
 * or dropped with the refused one).
 */
static int submit_run(struct vmmu_batch_cpu *c, const struct vmmu_batch_entry *e,
		      uint32_t n, uint32_t *taken)
{
	uint32_t done = n;
	int rc = c->backend->submit(c->backend->ctx, c->cpu, e, n, &done);

	c->flushes++;
	if (rc == 0) {
		c->applied += n;
		*taken = n;
		return 0;
	}
	if (done >= n) {
		done = n - 1; /* a backend that misreports: blame its last */
	}
	c->applied += done;
	c->error = (struct vmmu_batch_error){
		.seq = e[done].seq, .dropped = n - done, .rc = rc,
		.kind = e[done].kind};
	*taken = n;
	return rc;
}

/* Drop n entries behind a refusal of this flush. */
static void drop(struct vmmu_batch_cpu *c, uint32_t n)
{
	c->error.dropped += n;
}

/*
 * Main entries [submitted, end), in contiguous pieces of the ring. rc:
 * the flush's refusal so far (then these are dropped). Returns the first
 * refusal.
 */
static int flush_main_upto(struct vmmu_batch_cpu *c, uint64_t end, int rc)
{
	uint64_t s = ld64(&c->submitted);

	while (s < end) {
		uint32_t at = (uint32_t)(s & c->mask);
		uint64_t piece = c->mask + 1u - at;
		uint32_t n = (uint32_t)(end - s < piece ? end - s : piece), taken = n;

		if (rc == 0) {
			rc = submit_run(c, &c->slots[at], n, &taken);
		} else {
			drop(c, n);
		}
		s += taken;
		st64(&c->submitted, s);
	}
	return rc;
}

/*
 * The nested entries ready from n_submitted that share one main position
 * (*pos), up to the ring's end: their count.
 */
static uint32_t nested_run(const struct vmmu_batch_cpu *c, uint64_t *pos)
{
	uint64_t i = ld64(&c->n_submitted), end = ld64(&c->n_reserved);
	uint32_t n = 0;

	while (i + n < end) {
		uint64_t k = i + n;
		uint64_t seq = __atomic_load_n(&c->nested[k & NMASK].seq,
					       __ATOMIC_RELAXED);

		if (seq != (k | NESTED_SEQ)) {
			break; /* reserved, still being written */
		}
		if (n == 0) {
			*pos = c->nested_pos[k & NMASK];
		} else if (c->nested_pos[k & NMASK] != *pos) {
			break;
		}
		n++;
		if (((k + 1) & NMASK) == 0) {
			break; /* the next run starts at slot 0 */
		}
	}
	return n;
}

/*
 * One pass: the main entries up to the first ready nested run's position,
 * that run, and so on; then the remaining main entries. rc: the flush's
 * refusal so far. Returns the first refusal (everything after it in this
 * flush is dropped) or 0.
 */
static int flush_pass(struct vmmu_batch_cpu *c, int rc)
{
	for (;;) {
		uint64_t pos = 0, i = ld64(&c->n_submitted);
		uint32_t n = nested_run(c, &pos), taken = n;

		if (n == 0) {
			break;
		}
		rc = flush_main_upto(c, pos, rc);
		if (rc == 0) {
			rc = submit_run(c, &c->nested[i & NMASK], n, &taken);
		} else {
			drop(c, n);
		}
		st64(&c->n_submitted, i + taken);
	}
	return flush_main_upto(c, ld64(&c->published), rc);
}

/* Whether nested entries are left behind one reserved but not ready. */
static bool nested_blocked(const struct vmmu_batch_cpu *c)
{
	return ld64(&c->n_submitted) != ld64(&c->n_reserved);
}

/*
 * Flush everything queued. Returns 0, the first refusal, or
 * VMMU_BATCH_DEFERRED: a flush is running further out on this CPU, or a
 * nested entry ahead is still being written: whoever was interrupted
 * finishes the job (wanted).
 */
static int flush_now(struct vmmu_batch_cpu *c)
{
	int rc = 0;

	if (ld32(&c->flushing) != 0) {
		st32(&c->wanted, 1);
		return VMMU_BATCH_DEFERRED;
	}
	do {
		st32(&c->flushing, 1);
		cpu_fence();
		do {
			st32(&c->wanted, 0);
			cpu_fence();
			rc = flush_pass(c, rc);
			cpu_fence();
		} while (ld32(&c->wanted) != 0);
		st32(&c->flushing, 0);
		cpu_fence();
		/*
		 * A handler that came after the last look and before flushing
		 * went down left its entries to us (wanted); one that came
		 * after flushed for itself.
		 */
	} while (ld32(&c->wanted) != 0);
	/* Left only behind a nested entry still being written further out. */
	if (rc == 0 && nested_blocked(c)) {
		st32(&c->wanted, 1);
		return VMMU_BATCH_DEFERRED;
	}
	return rc;
}

/* --- enqueue ---------------------------------------------------------------------- */

bool vmmu_batch_is_lazy(const struct vmmu_batch_cpu *c)
{
	return ld32(&c->lazy) != 0 && ld32(&c->irq) == 0;
}

/* Enter a batch call: returns the depth it started at. */
static inline uint32_t call_enter(struct vmmu_batch_cpu *c)
{
	uint32_t outer = ld32(&c->depth);

	st32(&c->depth, outer + 1);
	cpu_fence();
	return outer;
}

static inline void call_exit(struct vmmu_batch_cpu *c, uint32_t outer)
{
	cpu_fence();
	st32(&c->depth, outer);
}

/* The outermost call: append to the main ring (flushing when full). */
static int put_main(struct vmmu_batch_cpu *c, const struct vmmu_batch_entry *e)
{
	uint64_t p = c->published;

	if (!vmmu_batch_room_(c, p)) {
		int rc = flush_now(c);
		if (rc < 0) {
			return rc;
		}
		if (!vmmu_batch_room_(c, p)) {
			return -VMMU_EBUSY; /* only if a flush could not run */
		}
	}
	vmmu_batch_publish_(c, p, e->kind, e->level, e->target, e->mask_word,
			    e->ptr, e->val);
	return 0;
}

/* A handler inside a batch call: one slot of the nested ring. */
static int put_nested(struct vmmu_batch_cpu *c, const struct vmmu_batch_entry *e)
{
	uint64_t k = ld64(&c->n_reserved);
	struct vmmu_batch_entry *slot;

	do {
		if (k - ld64(&c->n_submitted) >= VMMU_BATCH_NESTED_SLOTS) {
			int rc = flush_now(c);
			if (rc != 0) {
				return rc < 0 ? rc : -VMMU_EBUSY;
			}
			k = ld64(&c->n_reserved);
			continue;
		}
	} while (!cpu_cmpxchg(&c->n_reserved, &k, k + 1));
	/* Only the outermost call publishes main entries, and it is interrupted. */
	c->nested_pos[k & NMASK] = ld64(&c->published);
	slot = &c->nested[k & NMASK];
	slot->kind = e->kind;
	slot->level = e->level;
	slot->target = e->target;
	slot->reserved_ = 0;
	slot->mask_word = e->mask_word;
	slot->ptr = e->ptr;
	slot->val = e->val;
	cpu_fence();
	__atomic_store_n(&slot->seq, k | NESTED_SEQ, __ATOMIC_RELAXED);
	return 0;
}

int vmmu_batch_queue(struct vmmu_batch_cpu *c, const struct vmmu_batch_entry *e)
{
	uint32_t outer = call_enter(c);
	int rc = outer == 0 ? put_main(c, e) : put_nested(c, e);

	/* Apply now outside lazy mode, or when a handler left work for us. */
	if (rc == 0 && (!vmmu_batch_is_lazy(c) || ld32(&c->wanted) != 0)) {
		rc = flush_now(c);
	}
	call_exit(c, outer);
	return rc;
}

int vmmu_batch_flush(struct vmmu_batch_cpu *c)
{
	uint32_t outer = call_enter(c);
	int rc = flush_now(c);

	call_exit(c, outer);
	return rc;
}

/* --- modes ---------------------------------------------------------------------------- */

void vmmu_batch_lazy_enter(struct vmmu_batch_cpu *c)
{
	st32(&c->lazy, ld32(&c->lazy) + 1);
}

int vmmu_batch_lazy_leave(struct vmmu_batch_cpu *c)
{
	uint32_t lazy = ld32(&c->lazy);

	if (lazy == 0) {
		return -VMMU_EINVAL;
	}
	st32(&c->lazy, lazy - 1);
	return lazy == 1 ? vmmu_batch_flush(c) : 0;
}

void vmmu_batch_irq_enter(struct vmmu_batch_cpu *c)
{
	st32(&c->irq, ld32(&c->irq) + 1);
	cpu_fence();
}

void vmmu_batch_irq_exit(struct vmmu_batch_cpu *c)
{
	cpu_fence();
	st32(&c->irq, ld32(&c->irq) - 1);
}

int vmmu_batch_switch_out(struct vmmu_batch_cpu *c, uint32_t *saved)
{
	int rc = vmmu_batch_flush(c);

	*saved = ld32(&c->lazy);
	st32(&c->lazy, 0);
	return rc;
}

void vmmu_batch_switch_in(struct vmmu_batch_cpu *c, uint32_t saved)
{
	st32(&c->lazy, saved);
}

uint64_t vmmu_batch_pending(const struct vmmu_batch_cpu *c)
{
	return ld64(&c->published) - ld64(&c->submitted) +
	       ld64(&c->n_reserved) - ld64(&c->n_submitted);
}

struct vmmu_batch_error vmmu_batch_last_error(const struct vmmu_batch_cpu *c)
{
	return c->error;
}

uint64_t vmmu_batch_next_seq(const struct vmmu_batch_cpu *c)
{
	return ld64(&c->published);
}

uint64_t vmmu_batch_applied(const struct vmmu_batch_cpu *c)
{
	return c->applied;
}
