/* SPDX-License-Identifier: MIT */
/*
 * Stress: the cross-CPU inbox and shootdowns (mpsc.h, docs/mpsc.md) with
 * threads as CPUs and POSIX signals as IPIs.
 *
 * Phase 1. P producer threads push numbered items (each producer's
 * sequence 0, 1, 2 ...) into the work inboxes of C "CPU" threads, picking
 * an inbox at random per item, from a small pool of nodes per producer
 * that they reuse as soon as a consumer has released them. Each CPU
 * thread drains its work inbox with vmmu_inbox_take_mpsc and checks:
 *  - per producer, the sequence numbers it takes strictly increase (FIFO
 *    per producer per inbox);
 *  - no item is seen twice (a byte per item, set with an exchange), and
 *    at the end every item was seen (exactly once);
 *  - the pushes that found an inbox empty are as many as the takes that
 *    found it non-empty.
 * Meanwhile the CPU threads shoot each other down: each posts shootdowns
 * to random sets of CPUs (itself included now and then) with
 * vmmu_shootdown_post_mask_mpsc, whose kick sends SIGUSR1 to a target
 * whose shootdown inbox was empty; the handler drains that inbox (so it
 * may interrupt the thread's own drain or wait), and every thread also
 * drains in its loop and while waiting. apply checks that the request it
 * is given is the initiator's current one (fields as the initiator wrote
 * them) and counts it per (target, initiator); after each wait the
 * initiator checks that exactly its targets applied it, once each. At
 * the end, kicks equal the non-empty drains of every shootdown inbox.
 *
 * Phase 2. Two CPU threads shoot each other down at the same moment,
 * over and over (a barrier per round, no signals, nothing but the wait
 * helper to serve their inboxes): they finish only because
 * vmmu_shootdown_wait_mpsc drains its own inbox. An alarm fails the run
 * if anything hangs.
 *
 * Usage: mpsc_race [producers (4)] [pushes per producer (250000)]
 *                  [cpus (3)] [shootdowns per cpu (3000)]
 *                  [mutual rounds (20000)] [seed (1)]
 */
#define _POSIX_C_SOURCE 200809L /* barriers, pthread_kill, clock_gettime */

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <vmmu/mpsc.h>

#define MAX_PRODUCERS 16u
#define MAX_CPUS 16u
#define POOL 128u          /* nodes per producer */
#define WATCHDOG_S 60u

/* --- shared state -------------------------------------------------------- */

struct item {
	struct vmmu_inbox_node link;
	uint32_t producer;
	uint32_t seq;
	uint32_t free;     /* 1: the consumer is done with it (__atomic) */
};

struct producer {
	pthread_t thread;
	unsigned id;
	uint64_t rng;
	struct item pool[POOL];
	atomic_ulong pushes, empties[MAX_CPUS];
} __attribute__((aligned(64)));

struct cpu {
	pthread_t thread;
	pthread_t self;                   /* set by the thread before ready */
	unsigned id;
	uint64_t rng;
	struct vmmu_shootdown_node nodes[MAX_CPUS]; /* as initiator, by target */
	/* Work inbox consumer: private to this thread. */
	int64_t last_seq[MAX_PRODUCERS];
	uint64_t taken, takes_nonempty;
	/* Shootdowns this CPU initiated. */
	uint64_t shootdowns, self_posts;
	uint64_t expect[MAX_CPUS];  /* times each target should have applied ours */
	_Atomic(const struct vmmu_shootdown *) current; /* in flight, or NULL */
	/* As a target: written by this thread and its signal handler. */
	atomic_ulong applied[MAX_CPUS];    /* by initiator */
	atomic_ulong drains_nonempty;
	atomic_ulong kicked;               /* kicks received */
	atomic_ulong in_handler;
	atomic_int ready;                  /* signals may be sent */
} __attribute__((aligned(64)));

static struct {
	unsigned nproducers, ncpus;
	unsigned long per_producer, shootdowns_per_cpu, mutual_rounds;
	struct producer *prod;
	struct cpu *cpu;
	struct vmmu_inbox work[MAX_CPUS];
	struct vmmu_inbox sd[MAX_CPUS];
	atomic_uchar *seen[MAX_PRODUCERS];
	atomic_uint producers_done;
	atomic_uint cpus_done;
	atomic_ulong errors;
	atomic_ulong signals;
	bool use_signals;
	atomic_ulong arrived;             /* phase 2 barrier */
} g;

static _Thread_local struct cpu *t_cpu;

static uint64_t rnd(uint64_t *s)
{
	/* splitmix64 */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void error(const char *what, unsigned long a, unsigned long b)
{
	if (atomic_fetch_add(&g.errors, 1) < 20) {
		fprintf(stderr, "mpsc_race: %s (%lu, %lu)\n", what, a, b);
	}
}

static void watchdog(int sig)
{
	static const char msg[] = "mpsc_race: timed out (deadlock?)\n";

	(void)sig;
	if (write(2, msg, sizeof(msg) - 1) < 0) {
		_exit(2);
	}
	_exit(2);
}

/* --- shootdown hooks ------------------------------------------------------- */

/*
 * The request's fields encode its initiator and that CPU's shootdown
 * number; it must be the initiator's current request (not a finished
 * one whose node came back, not one whose fields are not visible yet).
 */
static void sd_apply(void *ctx, const struct vmmu_shootdown *req)
{
	struct cpu *me = ctx;
	const struct cpu *from = req->arg;

	if (from == NULL || from < g.cpu || from >= g.cpu + g.ncpus) {
		error("apply: request without a valid initiator", me->id, 0);
		return;
	}
	if (atomic_load_explicit(&from->current, memory_order_relaxed) != req) {
		error("apply: request not in flight", me->id, from->id);
	}
	if (vmmu_shootdown_done(req)) {
		error("apply: request acknowledged before its flush", me->id, from->id);
	}
	if (req->scope == VMMU_TLB_RANGE &&
	    (req->addr >> 12 != from->shootdowns || req->size != 4096u * (from->id + 1))) {
		error("apply: range fields torn", me->id, from->id);
	}
	atomic_fetch_add_explicit(&me->applied[from->id], 1, memory_order_relaxed);
}

static void sd_kick(void *ctx, uint32_t cpu)
{
	struct cpu *t = &g.cpu[cpu];

	(void)ctx;
	atomic_fetch_add(&t->kicked, 1);
	if (g.use_signals && atomic_load(&t->ready)) {
		atomic_fetch_add(&g.signals, 1);
		pthread_kill(t->self, SIGUSR1);
	}
}

static void sd_relax(void *ctx)
{
	(void)ctx;
	sched_yield();
}

static const struct vmmu_shootdown_ops k_ops = {
	.apply = sd_apply,
	.kick = sd_kick,
	.relax = sd_relax,
};

static unsigned sd_drain(struct cpu *c)
{
	unsigned n = vmmu_shootdown_drain_mpsc(&g.sd[c->id], &k_ops, c);

	if (n != 0) {
		atomic_fetch_add_explicit(&c->drains_nonempty, 1, memory_order_relaxed);
	}
	return n;
}

/* The IPI: drain this CPU's shootdown inbox, wherever the thread is. */
static void ipi_handler(int sig)
{
	(void)sig;
	if (t_cpu != NULL) {
		atomic_fetch_add_explicit(&t_cpu->in_handler, 1, memory_order_relaxed);
		sd_drain(t_cpu);
	}
}

/* After a wait: exactly the targets in mask applied our request, once. */
static void check_applied(struct cpu *c, uint64_t mask)
{
	for (unsigned t = 0; t < g.ncpus; t++) {
		unsigned long got;

		if ((mask >> t) & 1) {
			c->expect[t]++;
		}
		got = atomic_load_explicit(&g.cpu[t].applied[c->id], memory_order_relaxed);
		if (got != c->expect[t]) {
			error("target applied a request a wrong number of times",
			      t, got);
			c->expect[t] = got;
		}
	}
}

static void shootdown(struct cpu *c)
{
	struct vmmu_shootdown req;
	uint64_t r = rnd(&c->rng);
	uint64_t mask = r & ((1ull << g.ncpus) - 1);
	uint32_t scope = VMMU_TLB_RANGE + (uint32_t)((r >> 32) % 3);
	int posted;

	if (mask == 0) {
		mask = 1ull << ((c->id + 1) % g.ncpus);
	}
	if (((r >> 40) & 7) != 0) {
		mask &= ~(1ull << c->id); /* mostly others; now and then itself */
	}
	if (mask == 0) {
		mask = 1ull << ((c->id + 1) % g.ncpus);
	}
	c->self_posts += (mask >> c->id) & 1;
	c->shootdowns++;
	if (vmmu_shootdown_init(&req, scope, c->shootdowns << 12, 4096u * (c->id + 1),
				c) != 0) {
		error("shootdown_init", c->id, scope);
		return;
	}
	atomic_store_explicit(&c->current, &req, memory_order_relaxed);
	posted = vmmu_shootdown_post_mask_mpsc(&req, g.sd, c->nodes, g.ncpus, &mask,
					       &k_ops, NULL);
	if (posted != __builtin_popcountll(mask)) {
		error("post_mask posted", c->id, (unsigned long)posted);
	}
	vmmu_shootdown_wait_mpsc(&g.sd[c->id], &req, &k_ops, c);
	atomic_store_explicit(&c->current, NULL, memory_order_relaxed);
	check_applied(c, mask);
}

/* --- phase 1 ------------------------------------------------------------------ */

static void *producer_main(void *arg)
{
	struct producer *p = arg;
	for (unsigned long i = 0; i < g.per_producer; i++) {
		struct item *it = &p->pool[i % POOL];
		uint64_t r = rnd(&p->rng);
		unsigned q = (unsigned)(r % g.ncpus);

		/* Spread the pushes out, so that takes land between them. */
		for (unsigned k = (unsigned)(r >> 40) % 32; k != 0; k--) {
			__builtin_ia32_pause();
		}

		/* Reuse a node only once its consumer has let go of it. */
		while (!__atomic_load_n(&it->free, __ATOMIC_ACQUIRE)) {
			sched_yield();
		}
		__atomic_store_n(&it->free, 0, __ATOMIC_RELAXED);
		it->producer = p->id;
		it->seq = (uint32_t)i;
		if (vmmu_inbox_push_mpsc(&g.work[q], &it->link)) {
			atomic_fetch_add_explicit(&p->empties[q], 1, memory_order_relaxed);
		}
	}
	atomic_store(&p->pushes, g.per_producer);
	atomic_fetch_add(&g.producers_done, 1);
	return NULL;
}

static void consume(struct cpu *c, struct vmmu_inbox_node *n)
{
	c->takes_nonempty++;
	while (n != NULL) {
		struct item *it = (struct item *)n;
		struct vmmu_inbox_node *next = n->next;
		uint32_t p = it->producer, seq = it->seq;

		/* Read everything first: after this store the node is reused. */
		__atomic_store_n(&it->free, 1, __ATOMIC_RELEASE);
		if (p >= g.nproducers || seq >= g.per_producer) {
			error("item out of range", p, seq);
		} else {
			if ((int64_t)seq <= c->last_seq[p]) {
				error("FIFO: producer's items out of order", p, seq);
			}
			c->last_seq[p] = seq;
			if (atomic_exchange_explicit(&g.seen[p][seq], 1,
						     memory_order_relaxed) != 0) {
				error("item taken twice", p, seq);
			}
		}
		c->taken++;
		n = next;
	}
}

/* Nothing to do: spin a little on the work inbox, then yield. */
static void idle(struct cpu *c)
{
	for (unsigned k = 0; k < 256; k++) {
		if (!vmmu_inbox_empty_mpsc(&g.work[c->id])) {
			return;
		}
		__builtin_ia32_pause();
	}
	sched_yield();
}

static void *cpu_main(void *arg)
{
	struct cpu *c = arg;

	t_cpu = c;
	c->self = pthread_self();
	atomic_store(&c->ready, 1);
	for (unsigned i = 0; i < MAX_PRODUCERS; i++) {
		c->last_seq[i] = -1;
	}
	for (;;) {
		bool all = atomic_load(&g.producers_done) == g.nproducers;
		struct vmmu_inbox_node *n = vmmu_inbox_take_mpsc(&g.work[c->id]);
		bool busy = n != NULL;

		if (n != NULL) {
			consume(c, n);
		} else if (all) {
			break;
		}
		if (c->shootdowns < g.shootdowns_per_cpu && rnd(&c->rng) % 4 == 0) {
			shootdown(c);
			busy = true;
		}
		busy |= sd_drain(c) != 0;
		if (!busy) {
			idle(c);
		}
	}
	while (c->shootdowns < g.shootdowns_per_cpu) {
		shootdown(c);
	}
	/* Serve the others until every CPU has finished its shootdowns. */
	atomic_fetch_add(&g.cpus_done, 1);
	while (atomic_load(&g.cpus_done) < g.ncpus) {
		if (sd_drain(c) == 0) {
			sched_yield();
		}
	}
	return NULL;
}

static void check_phase1(void)
{
	uint64_t taken = 0, takes = 0, kicks = 0, handled = 0;

	for (unsigned p = 0; p < g.nproducers; p++) {
		for (unsigned long s = 0; s < g.per_producer; s++) {
			if (atomic_load(&g.seen[p][s]) != 1) {
				error("item never taken", p, s);
			}
		}
	}
	for (unsigned q = 0; q < g.ncpus; q++) {
		struct cpu *c = &g.cpu[q];
		uint64_t empties = 0;

		for (unsigned p = 0; p < g.nproducers; p++) {
			empties += atomic_load(&g.prod[p].empties[q]);
		}
		if (empties != c->takes_nonempty) {
			error("pushes into an empty inbox != non-empty takes",
			      (unsigned long)empties, (unsigned long)c->takes_nonempty);
		}
		/* Drains inside the wait helper are not counted here. */
		if (atomic_load(&c->kicked) < atomic_load(&c->drains_nonempty)) {
			error("more non-empty shootdown drains than kicks",
			      atomic_load(&c->kicked), atomic_load(&c->drains_nonempty));
		}
		if (!vmmu_inbox_empty_mpsc(&g.work[q]) || !vmmu_inbox_empty_mpsc(&g.sd[q])) {
			error("inbox not empty at the end", q, 0);
		}
		taken += c->taken;
		takes += c->takes_nonempty;
		kicks += atomic_load(&c->kicked);
		handled += atomic_load(&c->in_handler);
	}
	if (taken != (uint64_t)g.nproducers * g.per_producer) {
		error("items taken", (unsigned long)taken, 0);
	}
	printf("mpsc_race: phase 1: %u producers x %lu pushes into %u inboxes: "
	       "%llu taken in %llu takes (%.1f per take); %u cpus x %lu shootdowns, "
	       "%llu kicks, %lu signals, %llu handler drains\n",
	       g.nproducers, g.per_producer, g.ncpus, (unsigned long long)taken,
	       (unsigned long long)takes, takes ? (double)taken / (double)takes : 0.0,
	       g.ncpus, g.shootdowns_per_cpu, (unsigned long long)kicks,
	       atomic_load(&g.signals), (unsigned long long)handled);
}

/* --- phase 2: two CPUs shooting each other down ---------------------------- */

/*
 * Between rounds a CPU waits for the other the way an idle CPU does:
 * serving its inbox (the other's request can arrive after this CPU's
 * own wait has finished). Round r's barrier opens at 2 (r + 1) arrivals.
 */
static void mutual_barrier(struct cpu *c, unsigned long round)
{
	atomic_fetch_add(&g.arrived, 1);
	while (atomic_load(&g.arrived) < 2 * (round + 1)) {
		if (sd_drain(c) == 0) {
			sched_yield();
		}
	}
}

static void *mutual_main(void *arg)
{
	struct cpu *c = arg;
	unsigned other = 1 - c->id;
	unsigned long r;

	for (r = 0; r < g.mutual_rounds; r++) {
		struct vmmu_shootdown req;

		mutual_barrier(c, r);
		c->shootdowns++;
		if (vmmu_shootdown_init(&req, VMMU_TLB_RANGE, c->shootdowns << 12,
					4096u * (c->id + 1), c) != 0) {
			error("shootdown_init", c->id, 0);
			break;
		}
		atomic_store_explicit(&c->current, &req, memory_order_relaxed);
		vmmu_shootdown_post_mpsc(&req, &g.sd[other], &c->nodes[other]);
		/*
		 * Both post, then both wait: each can only be served by the
		 * other's wait helper draining its own inbox.
		 */
		vmmu_shootdown_wait_mpsc(&g.sd[c->id], &req, &k_ops, c);
		atomic_store_explicit(&c->current, NULL, memory_order_relaxed);
		check_applied(c, 1ull << other);
	}
	mutual_barrier(c, r);
	return NULL;
}

static void run_mutual(void)
{
	g.use_signals = false;
	g.ncpus = 2;
	memset(g.cpu, 0, 2 * sizeof(*g.cpu));
	for (unsigned i = 0; i < 2; i++) {
		g.cpu[i].id = i;
		vmmu_inbox_init(&g.sd[i]);
	}
	for (unsigned i = 0; i < 2; i++) {
		pthread_create(&g.cpu[i].thread, NULL, mutual_main, &g.cpu[i]);
	}
	for (unsigned i = 0; i < 2; i++) {
		pthread_join(g.cpu[i].thread, NULL);
	}
	for (unsigned i = 0; i < 2; i++) {
		if (atomic_load(&g.cpu[i].applied[1 - i]) != g.mutual_rounds) {
			error("mutual: applied", i, atomic_load(&g.cpu[i].applied[1 - i]));
		}
	}
	printf("mpsc_race: phase 2: 2 cpus shot each other down %lu times each\n",
	       g.mutual_rounds);
}

/* --- main ------------------------------------------------------------------------ */

static unsigned long arg(int argc, char **argv, int i, unsigned long def)
{
	return argc > i ? strtoul(argv[i], NULL, 0) : def;
}

static void run_phase1(uint64_t seed)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = ipi_handler;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	g.use_signals = true;

	for (unsigned q = 0; q < g.ncpus; q++) {
		vmmu_inbox_init(&g.work[q]);
		vmmu_inbox_init(&g.sd[q]);
		g.cpu[q].id = q;
		g.cpu[q].rng = seed * 1000 + q;
	}
	for (unsigned p = 0; p < g.nproducers; p++) {
		g.prod[p].id = p;
		g.prod[p].rng = seed * 2000 + p;
		for (unsigned i = 0; i < POOL; i++) {
			g.prod[p].pool[i].free = 1;
		}
		g.seen[p] = calloc(g.per_producer, 1);
		if (g.seen[p] == NULL) {
			abort();
		}
	}
	for (unsigned q = 0; q < g.ncpus; q++) {
		pthread_create(&g.cpu[q].thread, NULL, cpu_main, &g.cpu[q]);
	}
	for (unsigned p = 0; p < g.nproducers; p++) {
		pthread_create(&g.prod[p].thread, NULL, producer_main, &g.prod[p]);
	}
	for (unsigned p = 0; p < g.nproducers; p++) {
		pthread_join(g.prod[p].thread, NULL);
	}
	for (unsigned q = 0; q < g.ncpus; q++) {
		pthread_join(g.cpu[q].thread, NULL);
	}
	check_phase1();
	for (unsigned p = 0; p < g.nproducers; p++) {
		free((void *)(uintptr_t)g.seen[p]);
	}
}

int main(int argc, char **argv)
{
	struct timespec t0, t1;
	uint64_t seed;

	g.nproducers = (unsigned)arg(argc, argv, 1, 4);
	g.per_producer = arg(argc, argv, 2, 250000);
	g.ncpus = (unsigned)arg(argc, argv, 3, 3);
	g.shootdowns_per_cpu = arg(argc, argv, 4, 3000);
	g.mutual_rounds = arg(argc, argv, 5, 20000);
	seed = arg(argc, argv, 6, 1);
	if (g.nproducers < 1 || g.nproducers > MAX_PRODUCERS || g.ncpus < 2 ||
	    g.ncpus > MAX_CPUS || g.per_producer < 1 || g.per_producer > UINT32_MAX) {
		fprintf(stderr, "usage: mpsc_race [producers 1..%u] [pushes] "
				"[cpus 2..%u] [shootdowns] [mutual rounds] [seed]\n",
			MAX_PRODUCERS, MAX_CPUS);
		return 2;
	}
	g.prod = aligned_alloc(64, g.nproducers * sizeof(*g.prod));
	g.cpu = aligned_alloc(64, MAX_CPUS * sizeof(*g.cpu));
	if (g.prod == NULL || g.cpu == NULL) {
		abort();
	}
	memset(g.prod, 0, g.nproducers * sizeof(*g.prod));
	memset(g.cpu, 0, MAX_CPUS * sizeof(*g.cpu));
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGALRM, watchdog);
	alarm(WATCHDOG_S);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	run_phase1(seed);
	run_mutual();
	clock_gettime(CLOCK_MONOTONIC, &t1);

	free(g.prod);
	free(g.cpu);
	if (atomic_load(&g.errors) != 0) {
		fprintf(stderr, "mpsc_race: FAILED, %lu errors\n", atomic_load(&g.errors));
		return 1;
	}
	printf("mpsc_race: OK in %.2f s\n",
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return 0;
}
