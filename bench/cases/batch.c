/* SPDX-License-Identifier: MIT */
/*
 * Guest-side batching benchmarks (include/vmmu/batch.h) and their peers.
 *
 *   batch/enqueue             512 vmmu_batch_pte_write calls in lazy mode
 *                             on a 512-slot queue, then vmmu_batch_flush,
 *                             to a null backend (submit only sets
 *                             *done = n). Per update.
 *   peer/ck_ring_spsc         one enqueue and one dequeue on Concurrency
 *                             Kit's single-producer single-consumer ring,
 *                             same thread. The slots are by value and the
 *                             size of a batch entry (CK_RING_PROTOTYPE over
 *                             struct vmmu_batch_entry: 32 bytes copied in
 *                             and 32 copied out), not ck's default void *
 *                             slots. Per pair.
 *   peer/urcu_wfcq            one enqueue and one dequeue on liburcu's
 *                             wait-free concurrent queue (static-inline
 *                             _LGPL_SOURCE variants; no dequeue lock, as a
 *                             single consumer would use it). The queue
 *                             links nodes: each node carries a 32-byte
 *                             entry, filled before the enqueue and read
 *                             after the dequeue. Per pair.
 *   batch/flush512_syscall    lazy enter, 512 vmmu_batch_pte_write, lazy
 *                             leave, to a backend whose submit makes one
 *                             system call (getppid: a stand-in for a
 *                             hypercall trap) per call: one per 512
 *                             updates. Per update.
 *   unbatched/update_syscall  the same 512 updates outside lazy mode: each
 *                             is submitted alone and pays one system call.
 *                             Per update.
 *
 * All on one thread: the queue is per CPU and its owner path has no
 * atomic read-modify-write; the peers are the single-thread cost of the
 * cheapest general-purpose queues with the same payload. The peers'
 * operations are static inline (as their users get them); vmmu's are calls
 * into libvmmu.a.
 */
#define _GNU_SOURCE /* syscall() */
#define _LGPL_SOURCE /* liburcu's static-inline wfcqueue */

#include "bench_cases.h"

#include <vmmu/batch.h>

#include <ck_ring.h>
#include <urcu/wfcqueue.h>

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define BATCH_N 512u        /* updates per flush */
#define BATCH_SLOTS 512u    /* queue slots: one flush's worth */
#define BATCH_PT_BASE 0x1000u /* machine address of the (never touched) L1 */
#define PEER_SLOTS 512u

/* The payload of update i: entry i of the L1, a present writable frame. */
static inline uint64_t upd_ptr(uint64_t i)
{
	return BATCH_PT_BASE + ((i & (BATCH_N - 1u)) << 3);
}

static inline uint64_t upd_val(uint64_t i)
{
	return ((i & 0xffffffu) << 12) | 0x63u;
}

/* --- the vmmu queue cases ----------------------------------------------------- */

/* Backend context: counts what the syscall backend was asked to do. */
struct batch_sink {
	uint64_t calls;
	uint64_t entries;
};

static int null_submit(void *ctx, uint32_t cpu, const struct vmmu_batch_entry *e,
		       uint32_t n, uint32_t *done)
{
	(void)ctx;
	(void)cpu;
	(void)e;
	*done = n;
	return 0;
}

static int syscall_submit(void *ctx, uint32_t cpu,
			  const struct vmmu_batch_entry *e, uint32_t n,
			  uint32_t *done)
{
	struct batch_sink *s = ctx;

	(void)cpu;
	(void)e;
	(void)syscall(SYS_getppid); /* the trap */
	s->calls++;
	s->entries += n;
	*done = n;
	return 0;
}

struct batch_bench {
	struct vmmu_batch_cpu c; /* 64-byte aligned: keep it first */
	struct vmmu_batch_backend be;
	struct batch_sink sink;
	struct vmmu_batch_entry *slots;
	uint64_t next;      /* update counter (payload) */
	uint64_t want_calls; /* syscall backend: submits expected so far */
	uint64_t bad;
	int last_rc;
	const char *err;
};

static void batch_free(void *st)
{
	struct batch_bench *b = st;

	if (b != NULL) {
		free(b->slots);
		free(b);
	}
}

static const char *batch_error(void *st)
{
	const struct batch_bench *b = st;

	if (b->bad != 0) {
		return b->err;
	}
	if (b->be.submit == syscall_submit && b->sink.calls != b->want_calls) {
		return "the backend was called a different number of times than "
		       "expected";
	}
	return NULL;
}

static void batch_note(struct batch_bench *b, uint64_t bad, int rc,
		       const char *err)
{
	if (bad != 0) {
		b->bad += bad;
		b->last_rc = rc;
		b->err = err;
	}
}

static struct batch_bench *batch_new(bool syscall_backend)
{
	struct batch_bench *b = bench_line_alloc(sizeof(*b));
	int rc;

	if (b == NULL) {
		return NULL;
	}
	b->slots = bench_line_alloc(BATCH_SLOTS * sizeof(*b->slots));
	if (b->slots == NULL) {
		batch_free(b);
		return NULL;
	}
	b->be.submit = syscall_backend ? syscall_submit : null_submit;
	b->be.ctx = &b->sink;
	rc = vmmu_batch_cpu_init(&b->c, 0, b->slots, BATCH_SLOTS, &b->be);
	if (rc != 0) {
		fprintf(stderr, "bench: vmmu_batch_cpu_init: %d (%s)\n", rc,
			vmmu_strerror(rc));
		batch_free(b);
		return NULL;
	}
	return b;
}

/* After a run: nothing may be left queued and nothing refused. */
static int batch_check(struct batch_bench *b, const char *name)
{
	struct vmmu_batch_error e = vmmu_batch_last_error(&b->c);

	if (b->bad != 0 || e.rc != 0 || vmmu_batch_pending(&b->c) != 0) {
		fprintf(stderr,
			"bench: %s: rc %d, last error %d, %llu pending after a "
			"flush\n",
			name, b->last_rc, e.rc,
			(unsigned long long)vmmu_batch_pending(&b->c));
		return -1;
	}
	return 0;
}

/* batch/enqueue: lazy mode is on throughout; a flush every BATCH_N. */
static uint64_t enqueue_run(void *st, uint64_t n)
{
	struct batch_bench *b = st;
	struct vmmu_batch_cpu *c = &b->c;
	uint64_t i = b->next, bad = 0;
	int rc = 0;

	for (uint64_t it = 0; it < n; it++) {
		for (unsigned k = 0; k < BATCH_N; k++, i++) {
			int r = vmmu_batch_pte_write(c, upd_ptr(i), 1, upd_val(i));

			bad += r != 0;
			rc |= r;
		}
		int r = vmmu_batch_flush(c);

		bad += r != 0;
		rc |= r;
	}
	b->next = i;
	batch_note(b, bad, rc, "a queue call failed inside the timed loop");
	return i ^ bad;
}

static void *enqueue_setup(void)
{
	struct batch_bench *b = batch_new(false);

	if (b == NULL) {
		return NULL;
	}
	vmmu_batch_lazy_enter(&b->c);
	enqueue_run(b, 2);
	if (batch_check(b, "batch/enqueue") != 0 || !vmmu_batch_is_lazy(&b->c)) {
		batch_free(b);
		return NULL;
	}
	return b;
}

/* batch/flush512_syscall: enter, BATCH_N updates, leave (one flush). */
static uint64_t flush512_run(void *st, uint64_t n)
{
	struct batch_bench *b = st;
	struct vmmu_batch_cpu *c = &b->c;
	uint64_t i = b->next, bad = 0;
	int rc = 0;

	for (uint64_t it = 0; it < n; it++) {
		vmmu_batch_lazy_enter(c);
		for (unsigned k = 0; k < BATCH_N; k++, i++) {
			int r = vmmu_batch_pte_write(c, upd_ptr(i), 1, upd_val(i));

			bad += r != 0;
			rc |= r;
		}
		int r = vmmu_batch_lazy_leave(c);

		bad += r != 0;
		rc |= r;
	}
	b->next = i;
	b->want_calls += n;
	batch_note(b, bad, rc, "a queue call failed inside the timed loop");
	return i ^ bad;
}

/* unbatched/update_syscall: the same updates, not lazy: one submit each. */
static uint64_t unbatched_run(void *st, uint64_t n)
{
	struct batch_bench *b = st;
	struct vmmu_batch_cpu *c = &b->c;
	uint64_t i = b->next, bad = 0;
	int rc = 0;

	for (uint64_t it = 0; it < n; it++) {
		for (unsigned k = 0; k < BATCH_N; k++, i++) {
			int r = vmmu_batch_pte_write(c, upd_ptr(i), 1, upd_val(i));

			bad += r != 0;
			rc |= r;
		}
	}
	b->next = i;
	b->want_calls += n * BATCH_N;
	batch_note(b, bad, rc, "a queue call failed inside the timed loop");
	return i ^ bad;
}

/* Run two iterations untimed and check the submit count they caused. */
static void *syscall_setup(bool lazy)
{
	struct batch_bench *b = batch_new(true);
	const char *name = lazy ? "batch/flush512_syscall" : "unbatched/update_syscall";

	if (b == NULL) {
		return NULL;
	}
	(lazy ? flush512_run : unbatched_run)(b, 2);
	if (batch_check(b, name) != 0) {
		batch_free(b);
		return NULL;
	}
	if (b->sink.calls != b->want_calls || b->sink.entries != 2u * BATCH_N ||
	    vmmu_batch_is_lazy(&b->c)) {
		fprintf(stderr,
			"bench: %s: %llu submits of %llu entries for 2 x %u "
			"updates, expected %llu\n",
			name, (unsigned long long)b->sink.calls,
			(unsigned long long)b->sink.entries, BATCH_N,
			(unsigned long long)b->want_calls);
		batch_free(b);
		return NULL;
	}
	return b;
}

static void *flush512_setup(void)
{
	return syscall_setup(true);
}

static void *unbatched_setup(void)
{
	return syscall_setup(false);
}

const struct bench_case bench_batch_enqueue = {
	.name = "batch/enqueue",
	.what = "512 vmmu_batch_pte_write in lazy mode + vmmu_batch_flush to a "
		"null backend",
	.setup = enqueue_setup,
	.teardown = batch_free,
	.run = enqueue_run,
	.error = batch_error,
	.items_per_iter = BATCH_N,
	.item = "update",
};

const struct bench_case bench_batch_flush512_syscall = {
	.name = "batch/flush512_syscall",
	.what = "lazy enter, 512 vmmu_batch_pte_write, lazy leave: one submit "
		"making one system call",
	.setup = flush512_setup,
	.teardown = batch_free,
	.run = flush512_run,
	.error = batch_error,
	.items_per_iter = BATCH_N,
	.item = "update",
};

const struct bench_case bench_unbatched_update_syscall = {
	.name = "unbatched/update_syscall",
	.what = "512 vmmu_batch_pte_write outside lazy mode: one submit and one "
		"system call each",
	.setup = unbatched_setup,
	.teardown = batch_free,
	.run = unbatched_run,
	.error = batch_error,
	.items_per_iter = BATCH_N,
	.item = "update",
};

/* --- peer/ck_ring_spsc ----------------------------------------------------------- */

/* Typed, by-value slots: ck_ring_{en,de}queue_spsc_vmmu_batch_entry. */
CK_RING_PROTOTYPE(vmmu_batch_entry, vmmu_batch_entry)

struct ck_bench {
	struct ck_ring ring;
	struct vmmu_batch_entry *buf;
	uint64_t next;
	uint64_t bad;
};

static void ck_free(void *st)
{
	struct ck_bench *b = st;

	if (b != NULL) {
		free(b->buf);
		free(b);
	}
}

static const char *ck_error(void *st)
{
	const struct ck_bench *b = st;

	return b->bad != 0 ? "ck_ring: an enqueue failed or a dequeue returned "
			     "the wrong entry"
			   : NULL;
}

static uint64_t ck_run(void *st, uint64_t n)
{
	struct ck_bench *b = st;
	uint64_t i = b->next, bad = 0, sum = 0;

	for (uint64_t it = 0; it < n; it++, i++) {
		struct vmmu_batch_entry in = {.kind = VMMU_BATCH_PTE_WRITE,
					      .level = 1,
					      .ptr = upd_ptr(i),
					      .val = upd_val(i),
					      .seq = i};
		struct vmmu_batch_entry out;

		bad += !ck_ring_enqueue_spsc_vmmu_batch_entry(&b->ring, b->buf, &in);
		bad += !ck_ring_dequeue_spsc_vmmu_batch_entry(&b->ring, b->buf, &out);
		bad += out.seq != i;
		sum += out.val;
	}
	b->next = i;
	b->bad += bad;
	return sum ^ bad;
}

static void *ck_setup(void)
{
	struct ck_bench *b = bench_line_alloc(sizeof(*b));

	if (b == NULL) {
		return NULL;
	}
	b->buf = bench_line_alloc(PEER_SLOTS * sizeof(*b->buf));
	if (b->buf == NULL) {
		ck_free(b);
		return NULL;
	}
	ck_ring_init(&b->ring, PEER_SLOTS);
	ck_run(b, 2 * PEER_SLOTS);
	if (b->bad != 0 || ck_ring_size(&b->ring) != 0) {
		fprintf(stderr, "bench: peer/ck_ring_spsc: ring check failed\n");
		ck_free(b);
		return NULL;
	}
	return b;
}

const struct bench_case bench_peer_ck_ring_spsc = {
	.name = "peer/ck_ring_spsc",
	.what = "ck_ring_enqueue_spsc + ck_ring_dequeue_spsc of a 32-byte entry "
		"(by value), same thread",
	.setup = ck_setup,
	.teardown = ck_free,
	.run = ck_run,
	.error = ck_error,
	.items_per_iter = 1,
	.item = "pair",
};

/* --- peer/urcu_wfcq ---------------------------------------------------------------- */

struct wfcq_item {
	struct cds_wfcq_node node;
	struct vmmu_batch_entry e;
};

struct wfcq_bench {
	struct __cds_wfcq_head head __attribute__((aligned(64)));
	struct cds_wfcq_tail tail __attribute__((aligned(64)));
	struct wfcq_item *items; /* PEER_SLOTS nodes, used in turn */
	uint64_t next;
	uint64_t bad;
};

static void wfcq_free(void *st)
{
	struct wfcq_bench *b = st;

	if (b != NULL) {
		free(b->items);
		free(b);
	}
}

static const char *wfcq_error(void *st)
{
	const struct wfcq_bench *b = st;

	return b->bad != 0 ? "wfcqueue: a dequeue returned the wrong node" : NULL;
}

static uint64_t wfcq_run(void *st, uint64_t n)
{
	struct wfcq_bench *b = st;
	uint64_t i = b->next, bad = 0, sum = 0;

	for (uint64_t it = 0; it < n; it++, i++) {
		struct wfcq_item *in = &b->items[i & (PEER_SLOTS - 1u)];
		struct cds_wfcq_node *node;

		in->e = (struct vmmu_batch_entry){.kind = VMMU_BATCH_PTE_WRITE,
						  .level = 1,
						  .ptr = upd_ptr(i),
						  .val = upd_val(i),
						  .seq = i};
		cds_wfcq_node_init(&in->node);
		(void)cds_wfcq_enqueue(&b->head, &b->tail, &in->node);
		node = __cds_wfcq_dequeue_blocking(&b->head, &b->tail);
		if (node == NULL) {
			bad++;
			continue;
		}
		/* Not caa_container_of: it casts const away (clang -Wcast-qual). */
		const struct wfcq_item *out = (const struct wfcq_item *)(const void *)
			((const char *)node - offsetof(struct wfcq_item, node));
		bad += out->e.seq != i;
		sum += out->e.val;
	}
	b->next = i;
	b->bad += bad;
	return sum ^ bad;
}

static void *wfcq_setup(void)
{
	struct wfcq_bench *b = bench_line_alloc(sizeof(*b));

	if (b == NULL) {
		return NULL;
	}
	b->items = bench_line_alloc(PEER_SLOTS * sizeof(*b->items));
	if (b->items == NULL) {
		wfcq_free(b);
		return NULL;
	}
	__cds_wfcq_init(&b->head, &b->tail);
	wfcq_run(b, 2 * PEER_SLOTS);
	if (b->bad != 0 || !cds_wfcq_empty(&b->head, &b->tail)) {
		fprintf(stderr, "bench: peer/urcu_wfcq: queue check failed\n");
		wfcq_free(b);
		return NULL;
	}
	return b;
}

const struct bench_case bench_peer_urcu_wfcq = {
	.name = "peer/urcu_wfcq",
	.what = "cds_wfcq_enqueue + __cds_wfcq_dequeue_blocking of a node "
		"carrying a 32-byte entry, same thread (_LGPL_SOURCE inlines)",
	.setup = wfcq_setup,
	.teardown = wfcq_free,
	.run = wfcq_run,
	.error = wfcq_error,
	.items_per_iter = 1,
	.item = "pair",
};
