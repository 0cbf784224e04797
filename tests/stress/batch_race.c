/* SPDX-License-Identifier: MIT */
/*
 * Stress test of the per-CPU update queue (include/vmmu/batch.h): threads
 * are CPUs, each with its own queue; POSIX signals are its interrupts.
 * One real-time signal plays an interrupt and another an NMI (which may arrive inside
 * the interrupt handler, never the other way round); both handlers queue
 * updates and flush, at whatever instruction of an enqueue or flush the
 * thread was at. An interrupter thread sends them at random.
 *
 * Every update names its context (task, irq, nmi) and its number within
 * that context, and carries how many updates of the shallower contexts
 * had returned when its call started. The backend checks each entry as it
 * is applied:
 *  - exactly once and in order per context: number == applied so far;
 *  - real-time order across contexts: everything that returned before
 *    this update's call started is applied already.
 * At the end (everything flushed) each context's applied count equals the
 * count of updates its calls accepted: nothing lost.
 *
 * Usage: batch_race THREADS UPDATES_PER_THREAD [SEED [PACE]]
 * PACE: busy-loop iterations between a task's updates, so that an
 * uninstrumented build gives the signals time to land (the TSan build is
 * slow enough by itself).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <vmmu/batch.h>

#include "splitmix.h"

#define MAX_THREADS 16
/* Real-time signals queue instead of merging: every one sent runs. */
#define SIG_IRQ (SIGRTMIN + 1)
#define SIG_NMI (SIGRTMIN + 2)
#define SLOTS 64u
enum ctx { TASK, IRQ, NMI, NCTX };

/* val: context << 56 | number; ptr: (task returned << 27 | irq returned << 3). */
#define VAL(ctx, n) ((uint64_t)(ctx) << 56 | (n))
#define REQ(task, irq) ((uint64_t)(task) << 27 | (uint64_t)(irq) << 3)

struct cpu {
	struct vmmu_batch_cpu q;
	struct vmmu_batch_entry slots[SLOTS];
	struct vmmu_batch_backend backend;
	pthread_t thread;
	unsigned id;
	uint64_t seed;
	/* Per context: accepted by the queue, returned to the caller, applied. */
	uint64_t issued[NCTX], returned[NCTX], applied[NCTX];
	uint64_t busy[NCTX], deferred[NCTX], submits, entries;
	uint64_t handler_runs[NCTX];
	uint64_t signals; /* sent to this CPU */
	uint64_t errors, final_errors;
	bool started; /* its handlers know their CPU: signals may come */
	bool done; /* set by the CPU's own thread: its handlers stop queueing */
} __attribute__((aligned(64)));

static struct cpu g_cpu[MAX_THREADS];
static unsigned g_threads;
static uint64_t g_updates, g_pace;
static _Atomic bool g_stop;
static __thread struct cpu *t_cpu;

static void fail(struct cpu *c, const char *what, uint64_t a, uint64_t b)
{
	if (c->errors++ < 5) {
		/* Not async-signal-safe, but we are about to fail anyway. */
		fprintf(stderr, "batch_race: cpu %u: %s (%llu, %llu)\n", c->id, what,
			(unsigned long long)a, (unsigned long long)b);
	}
}

static uint64_t rd(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static void wr(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

/* The checking backend: runs on the CPU's own thread (task or handler). */
static int check_submit(void *ctx, uint32_t cpu_id, const struct vmmu_batch_entry *e,
			uint32_t n, uint32_t *done)
{
	struct cpu *c = ctx;

	if (cpu_id != c->id) {
		fail(c, "run of another CPU", cpu_id, c->id);
	}
	wr(&c->submits, rd(&c->submits) + 1);
	for (uint32_t i = 0; i < n; i++) {
		unsigned x = (unsigned)(e[i].val >> 56);
		uint64_t num = e[i].val & ((1ull << 56) - 1);
		uint64_t need_task = e[i].ptr >> 27, need_irq = (e[i].ptr >> 3) & 0xffffff;

		if (x >= NCTX || num != rd(&c->applied[x])) {
			fail(c, "out of order, lost or twice", x, num);
		}
		if (rd(&c->applied[TASK]) < need_task ||
		    (rd(&c->applied[IRQ]) & 0xffffff) < need_irq) {
			fail(c, "applied before an update that returned earlier", x,
			     num);
		}
		if (x < NCTX) {
			wr(&c->applied[x], num + 1);
		}
	}
	wr(&c->entries, rd(&c->entries) + n);
	/* Sometimes linger, so that signals land inside flushes. */
	if ((n & 7) == 3) {
		for (volatile int spin = 0; spin < 200; spin++) {
		}
	}
	*done = n;
	return 0;
}

/* One update of context x on c; counts it when the queue took it. */
static int update(struct cpu *c, enum ctx x, bool tlb)
{
	uint64_t req = REQ(rd(&c->returned[TASK]),
			   x == NMI ? rd(&c->returned[IRQ]) & 0xffffff : 0);
	struct vmmu_batch_entry e = {
		.kind = tlb ? VMMU_BATCH_TLB_FLUSH : VMMU_BATCH_PTE_WRITE,
		.level = 1, .ptr = x == TASK ? 0 : req,
		.val = VAL(x, rd(&c->issued[x]))};
	int rc;

	/*
	 * The number is taken before the call: a handler that interrupts
	 * this call numbers its own context, never this one's.
	 */
	wr(&c->issued[x], rd(&c->issued[x]) + 1);
	rc = vmmu_batch_queue(&c->q, &e);
	if (rc == -VMMU_EBUSY) {
		wr(&c->issued[x], rd(&c->issued[x]) - 1); /* not taken: reuse */
		wr(&c->busy[x], rd(&c->busy[x]) + 1);
		return rc;
	}
	if (rc < 0) {
		fail(c, "update refused", x, (uint64_t)-rc);
	}
	if (rc == VMMU_BATCH_DEFERRED) {
		wr(&c->deferred[x], rd(&c->deferred[x]) + 1);
	}
	wr(&c->returned[x], rd(&c->issued[x]));
	return rc;
}

static void handler(enum ctx x)
{
	struct cpu *c = t_cpu;
	int saved = errno;

	if (c == NULL || __atomic_load_n(&c->done, __ATOMIC_RELAXED)) {
		return;
	}
	wr(&c->handler_runs[x], rd(&c->handler_runs[x]) + 1);
	vmmu_batch_irq_enter(&c->q);
	for (unsigned k = 0; k < 1 + (c->handler_runs[x] & 3); k++) {
		(void)update(c, x, (k & 1) != 0);
	}
	if ((c->handler_runs[x] & 7) == 5) {
		(void)vmmu_batch_flush(&c->q);
	}
	vmmu_batch_irq_exit(&c->q);
	errno = saved;
}

static void on_irq(int sig)
{
	(void)sig;
	handler(IRQ);
}

static void on_nmi(int sig)
{
	(void)sig;
	handler(NMI);
}

/* On the CPU's own thread, its handlers off: drain and compare the counts. */
static uint64_t finish(struct cpu *c)
{
	uint64_t errors = c->errors;

	if (vmmu_batch_flush(&c->q) < 0 || vmmu_batch_pending(&c->q) != 0) {
		fprintf(stderr, "batch_race: cpu %u: not drained\n", c->id);
		errors++;
	}
	for (unsigned x = 0; x < NCTX; x++) {
		if (c->applied[x] != c->issued[x]) {
			fprintf(stderr,
				"batch_race: cpu %u ctx %u: %llu accepted, %llu applied\n",
				c->id, x, (unsigned long long)c->issued[x],
				(unsigned long long)c->applied[x]);
			errors++;
		}
	}
	return errors;
}

/*
 * In task context, after a call that applies everything (a flush, the
 * outermost leave, an update outside lazy mode, a switch out), nothing is
 * left: a handler that ran meanwhile either flushed for itself or left its
 * updates to the interrupted flush, which took them before returning.
 */
static uint64_t handler_runs(const struct cpu *c)
{
	return rd(&c->handler_runs[IRQ]) + rd(&c->handler_runs[NMI]);
}

static void check_empty(struct cpu *c, int rc, const char *after)
{
	uint64_t runs = handler_runs(c), pending = vmmu_batch_pending(&c->q);

	/* A handler in the middle of the read makes it meaningless. */
	if (rc >= 0 && pending != 0 && handler_runs(c) == runs) {
		fail(c, after, pending, (uint64_t)rc);
	}
}

/* The task: lazy sections of random length, flushes, context switches. */
static void *cpu_main(void *arg)
{
	struct cpu *c = arg;
	uint64_t s = c->seed;

	t_cpu = c;
	__atomic_store_n(&c->started, true, __ATOMIC_RELEASE);
	while (rd(&c->issued[TASK]) < g_updates) {
		uint64_t r = splitmix64_next(&s), n = 1 + r % 300;
		uint32_t saved;

		vmmu_batch_lazy_enter(&c->q);
		if (r & 0x100000) {
			vmmu_batch_lazy_enter(&c->q); /* nested lazy section */
		}
		for (uint64_t k = 0; k < n && rd(&c->issued[TASK]) < g_updates; k++) {
			(void)update(c, TASK, (k % 61) == 60);
			for (volatile uint64_t spin = 0; spin < g_pace; spin++) {
			}
			if (k % 97 == 96) {
				check_empty(c, vmmu_batch_flush(&c->q),
					    "updates left after a flush");
			}
		}
		if (r & 0x100000) {
			(void)vmmu_batch_lazy_leave(&c->q);
		}
		if ((r >> 24) % 8 == 0) {
			check_empty(c, vmmu_batch_switch_out(&c->q, &saved),
				    "updates left after a switch out");
			/* Another task, not lazy. */
			check_empty(c, update(c, TASK, false),
				    "updates left after an update outside lazy mode");
			vmmu_batch_switch_in(&c->q, saved);
		}
		check_empty(c, vmmu_batch_lazy_leave(&c->q),
			    "updates left after the outermost leave");
		if ((r >> 32) % 5 == 0) {
			check_empty(c, update(c, TASK, false),
				    "updates left after an update outside lazy mode");
		}
	}
	__atomic_store_n(&c->done, true, __ATOMIC_RELAXED);
	c->final_errors = finish(c);
	/* Stay alive until the interrupter stops sending signals. */
	while (!atomic_load(&g_stop)) {
		struct timespec ms = {0, 1000000};
		nanosleep(&ms, NULL);
	}
	return NULL;
}

static void *interrupter(void *arg)
{
	uint64_t s = (uint64_t)(uintptr_t)arg, sent = 0;

	while (!atomic_load(&g_stop)) {
		uint64_t r = splitmix64_next(&s);
		struct cpu *c = &g_cpu[r % g_threads];

		/* At most two outstanding: a storm would only queue up. */
		if (__atomic_load_n(&c->started, __ATOMIC_ACQUIRE) &&
		    !__atomic_load_n(&c->done, __ATOMIC_RELAXED) &&
		    rd(&c->signals) < handler_runs(c) + 2) {
			wr(&c->signals, rd(&c->signals) + 1);
			pthread_kill(c->thread, (r >> 8) % 3 == 0 ? SIG_NMI : SIG_IRQ);
			sent++;
		}
		for (volatile unsigned spin = 0; spin < (r >> 16) % 600; spin++) {
		}
	}
	return (void *)(uintptr_t)sent;
}

static void install(int sig, void (*fn)(int), int also_block)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fn;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (also_block != 0) {
		sigaddset(&sa.sa_mask, also_block); /* an NMI masks interrupts */
	}
	if (sigaction(sig, &sa, NULL) != 0) {
		perror("sigaction");
		exit(2);
	}
}

int main(int argc, char **argv)
{
	pthread_t irq_thread;
	uint64_t seed, errors = 0, total = 0, sent;
	struct timespec t0, t1;
	void *ret;

	if (argc < 3) {
		fprintf(stderr, "usage: %s THREADS UPDATES_PER_THREAD [SEED [PACE]]\n",
			argv[0]);
		return 2;
	}
	g_threads = (unsigned)strtoul(argv[1], NULL, 0);
	g_updates = strtoull(argv[2], NULL, 0);
	seed = argc > 3 ? strtoull(argv[3], NULL, 0) : 1;
	g_pace = argc > 4 ? strtoull(argv[4], NULL, 0) : 0;
	if (g_threads == 0 || g_threads > MAX_THREADS) {
		return 2;
	}
	install(SIG_IRQ, on_irq, 0);
	install(SIG_NMI, on_nmi, SIG_IRQ);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned i = 0; i < g_threads; i++) {
		struct cpu *c = &g_cpu[i];
		c->id = i;
		c->seed = seed * 1000 + i;
		c->backend = (struct vmmu_batch_backend){.submit = check_submit, .ctx = c};
		if (vmmu_batch_cpu_init(&c->q, i, c->slots, SLOTS, &c->backend) != 0) {
			return 2;
		}
	}
	for (unsigned i = 0; i < g_threads; i++) {
		pthread_create(&g_cpu[i].thread, NULL, cpu_main, &g_cpu[i]);
	}
	pthread_create(&irq_thread, NULL, interrupter, (void *)(uintptr_t)(seed + 77));
	for (unsigned i = 0; i < g_threads; i++) {
		while (!__atomic_load_n(&g_cpu[i].done, __ATOMIC_ACQUIRE)) {
			struct timespec ms = {0, 1000000};
			nanosleep(&ms, NULL);
		}
	}
	atomic_store(&g_stop, true);
	pthread_join(irq_thread, &ret);
	for (unsigned i = 0; i < g_threads; i++) {
		pthread_join(g_cpu[i].thread, NULL);
	}
	sent = (uint64_t)(uintptr_t)ret;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	for (unsigned i = 0; i < g_threads; i++) {
		struct cpu *c = &g_cpu[i];
		errors += c->final_errors;
		for (unsigned x = 0; x < NCTX; x++) {
			total += c->applied[x];
		}
		printf("batch_race: cpu %u: task %llu irq %llu nmi %llu applied; "
		       "handlers irq %llu nmi %llu; deferred irq %llu nmi %llu; "
		       "busy irq %llu nmi %llu; %llu backend runs\n",
		       i, (unsigned long long)c->applied[TASK],
		       (unsigned long long)c->applied[IRQ],
		       (unsigned long long)c->applied[NMI],
		       (unsigned long long)c->handler_runs[IRQ],
		       (unsigned long long)c->handler_runs[NMI],
		       (unsigned long long)c->deferred[IRQ],
		       (unsigned long long)c->deferred[NMI],
		       (unsigned long long)c->busy[IRQ],
		       (unsigned long long)c->busy[NMI],
		       (unsigned long long)c->submits);
	}
	printf("batch_race: %llu updates applied exactly once and in order by %u "
	       "CPUs in %.1f s, %llu signals sent; seed %llu, %llu errors\n",
	       (unsigned long long)total, g_threads,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
	       (unsigned long long)sent, (unsigned long long)seed,
	       (unsigned long long)errors);
	return errors == 0 ? 0 : 1;
}
