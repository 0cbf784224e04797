/* SPDX-License-Identifier: MIT */
/*
 * Stress: threads as the vCPUs of one PV domain, all issuing MMU
 * hypercalls at once on shared page tables (docs/direct-paging.md).
 *
 * Four L4 trees share their L3s, L2s and L1s: L4 i links L3 i and i+1,
 * L3 j links L2 j and j+1, and every L2 entry is rewritten at random to
 * one of 16 shared L1s. The vCPUs update L1 entries (new frames,
 * writable/read-only flips, A/D-only changes, clearing, now and then a
 * writable mapping of a page table, which must be refused while the table
 * is in use) and L2 entries, pin and unpin tables (sometimes at the wrong
 * level), switch base pointers between the trees and update_va_mapping
 * under their own base. should_yield answers per thread at random, so
 * validations and releases stop early; a call told -VMMU_ERESTART is
 * made again with the same done, as a guest does.
 *
 * Every answer must be 0 or a refusal that operation can get; done must
 * move forward only and be exact; flush requests must name the domain or
 * the calling vCPU alone. Every `audit` operations per thread all threads
 * stop at a barrier, each leaves one preempted call half-way (so paused
 * validations and parked releases are audited too), thread 0 runs
 * vmmu_pv_audit over all vCPUs and checks the pins the threads counted
 * against the frame table, then all finish their call and go on.
 *
 * A call that completes never leaves its vCPU owning a paused validation
 * (the library gives one up at the end of any call that does not stop
 * for a retry, so other vCPUs never wait on it for long): checked after
 * every call.
 * At the end every vCPU is released, every pin dropped, the audit must be
 * clean and every frame back to its allocation reference alone.
 *
 * Usage: pv_race [threads (4)] [operations per thread (250000)]
 *                [audit every N operations per thread (5000)] [seed (1)]
 */
#define _POSIX_C_SOURCE 200809L /* barriers, clock_gettime */

#include "test_platform.h"
#include "splitmix.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vmmu/pv.h>

#define NF 128u
#define DOM 3u
#define MAX_THREADS 16u
#define MAX_TRIES 1000000u /* calls of one hypercall before giving up */

/* Frame layout: the domain owns 1..NF-1. */
#define L4_FIRST 1u
#define L3_FIRST 5u
#define L2_FIRST 9u
#define L1_FIRST 13u
#define N_L1 16u
#define DATA_FIRST 29u
#define N_TABLES (DATA_FIRST - L4_FIRST)
#define N_DATA (NF - DATA_FIRST)
#define L1_USED 16u /* entries 0..15 of an L1 are used */
#define L2_USED 4u  /* entries 0..3 of an L2 */

#define P 1ull
#define RW 2ull
#define US 4ull
#define AD 0x60ull

enum op {
	OP_L1,     /* mmu_update on L1 entries */
	OP_L2,     /* mmu_update on L2 entries */
	OP_L3,     /* mmu_update on L3 entries */
	OP_PIN,
	OP_UNPIN,
	OP_BASE,   /* NEW_BASEPTR */
	OP_UBASE,  /* NEW_USER_BASEPTR */
	OP_VA,     /* update_va_mapping */
	OP_FLUSH,  /* TLB_FLUSH / INVLPG, local and all */
	N_OPS
};

static const char *const op_name[N_OPS] = {
	"mmu_update L1", "mmu_update L2", "mmu_update L3", "pin", "unpin",
	"new_baseptr", "new_user_baseptr", "update_va_mapping", "flush/invlpg",
};

#define BIT(e) (1u << (e))
/* The refusals each operation may get (0 is always fine). */
static const unsigned allowed[N_OPS] = {
	[OP_L1] = BIT(VMMU_EBUSY),
	[OP_L2] = BIT(VMMU_EBUSY),
	[OP_L3] = BIT(VMMU_EBUSY),
	[OP_PIN] = BIT(VMMU_EBUSY) | BIT(VMMU_EINVAL), /* not nested */
	[OP_UNPIN] = BIT(VMMU_EINVAL),                 /* not pinned */
	[OP_BASE] = BIT(VMMU_EBUSY),
	[OP_UBASE] = BIT(VMMU_EBUSY),
	[OP_VA] = BIT(VMMU_EBUSY) | BIT(VMMU_ENOENT),
	[OP_FLUSH] = 0,
};

struct shared {
	struct test_platform tp; /* its arena is the direct map */
	struct vmmu_platform plat;
	struct vmmu_ft ft;
	struct vmmu_frame frames[NF];
	struct vmmu_pv_domain d;
	struct vmmu_pv_vcpu vcpu[MAX_THREADS];
	uint64_t work[2 * NF];
	atomic_long pins[NF]; /* pins the threads took minus the ones they dropped */
	atomic_ulong flushes, errors;
	pthread_barrier_t bar;
	unsigned nthreads;
	unsigned long ops_per_thread, audit_every, audits;
	/* What the audits saw, summed: tables counted, pinned frames, frames
	 * typed writable, paused (de)validations, vCPU pending work. */
	unsigned long seen_tables, seen_pinned, seen_writable, seen_paused,
		seen_pending;
	uint64_t seed;
};

struct thread {
	struct shared *s;
	struct vmmu_pv_vcpu *v;
	unsigned id;
	unsigned long out[N_OPS][VMMU_ERR_COUNT]; /* [op][-rc]; ERESTART: gave up */
	unsigned long calls, restarts;
	pthread_t th;
};

static _Thread_local uint64_t t_rng;
static _Thread_local unsigned t_yield_shift; /* 0: never; n: 1 in 2^n */
static _Thread_local uint32_t t_cpu;

static uint64_t rnd(void)
{
	return splitmix64_next(&t_rng);
}

static void error(struct shared *s, const char *what, uint64_t a, long b)
{
	if (atomic_fetch_add(&s->errors, 1) < 20) {
		fprintf(stderr, "pv_race: %s (%llu, %ld)\n", what,
			(unsigned long long)a, b);
	}
}

/* --- the domain's platform ------------------------------------------------- */

static int no_alloc(void *ctx, vmmu_hpa_t *frame)
{
	(void)ctx;
	(void)frame;
	return -VMMU_ENOMEM; /* direct paging allocates nothing */
}

static void no_free(void *ctx, vmmu_hpa_t frame)
{
	(void)frame;
	error(ctx, "frame_free called", 0, 0);
}

static bool race_should_yield(void *ctx)
{
	(void)ctx;
	return t_yield_shift != 0 &&
	       (rnd() & ((1ull << t_yield_shift) - 1)) == 0;
}

static uint32_t race_cpu(void *ctx)
{
	(void)ctx;
	return t_cpu;
}

/*
 * A local request names this vCPU alone; a NULL mask means the domain
 * (VMMU_TLB_ALL: a writable frame became a table, XSA-401).
 */
static void race_flush(void *ctx, const struct vmmu_tlb_req *req)
{
	struct shared *s = ctx;
	bool ok = req->scope >= VMMU_TLB_RANGE && req->scope <= VMMU_TLB_ALL;

	if (req->cpu_mask == NULL) {
		ok = ok && req->cpu_mask_words == 0;
	} else {
		ok = ok && req->cpu_mask_words == t_cpu / 64 + 1 &&
		     req->cpu_mask[t_cpu / 64] == 1ull << (t_cpu % 64);
	}
	if (!ok) {
		error(s, "bad flush request from cpu", t_cpu, (long)req->scope);
	}
	atomic_fetch_add_explicit(&s->flushes, 1, memory_order_relaxed);
}

static void race_panic(void *ctx, const char *file, int line, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "pv_race: vmmu panic at %s:%d: %s\n", file, line, msg);
	abort();
}

static const struct vmmu_platform_ops race_ops = {
	.frame_alloc = no_alloc,
	.frame_free = no_free,
	.tlb_flush = race_flush,
	.cpu_id = race_cpu,
	.should_yield = race_should_yield,
	.panic = race_panic,
};

/* --- the guest's tables ------------------------------------------------------ */

static uint64_t *frame(struct shared *s, uint64_t mfn)
{
	return (uint64_t *)test_platform_ptr(&s->tp, mfn << 12);
}

static uint64_t pte(uint64_t mfn, uint64_t flags)
{
	return (mfn << 12) | flags;
}

static unsigned level_of(uint64_t mfn)
{
	return mfn < L3_FIRST ? 4 : mfn < L2_FIRST ? 3 : mfn < L1_FIRST ? 2 : 1;
}

/* L4 i -> L3 i, i+1 -> L2 j, j+1 -> four L1s each -> data frames. */
static void build_trees(struct shared *s)
{
	uint64_t seed = s->seed;

	memset(s->tp.arena, 0, (size_t)NF * 4096);
	for (unsigned i = 0; i < 4; i++) {
		frame(s, L4_FIRST + i)[0] = pte(L3_FIRST + i, P | RW | US);
		frame(s, L4_FIRST + i)[1] = pte(L3_FIRST + (i + 1) % 4, P | RW | US);
		frame(s, L3_FIRST + i)[0] = pte(L2_FIRST + i, P | RW | US);
		frame(s, L3_FIRST + i)[1] = pte(L2_FIRST + (i + 1) % 4, P | RW | US);
		for (unsigned k = 0; k < L2_USED; k++) {
			frame(s, L2_FIRST + i)[k] =
				pte(L1_FIRST + 4 * i + k, P | RW | US);
		}
	}
	for (unsigned l1 = 0; l1 < N_L1; l1++) {
		for (unsigned k = 0; k < L1_USED; k++) {
			uint64_t r = splitmix64_next(&seed);
			frame(s, L1_FIRST + l1)[k] =
				pte(DATA_FIRST + r % N_DATA, P | US | (r >> 32 & RW));
		}
	}
}

static int setup(struct shared *s)
{
	test_platform_init(&s->tp, NF);
	s->plat = (struct vmmu_platform){
		.ops = &race_ops,
		.ctx = s,
		.direct_map_base = (uintptr_t)s->tp.arena,
		.direct_map_size = (uint64_t)NF * 4096,
	};
	build_trees(s);
	if (vmmu_ft_init(&s->ft, s->frames, sizeof(s->frames), NF, &s->plat) != 0 ||
	    vmmu_pv_domain_init(&s->d, &s->ft, &s->plat, DOM, 40, NULL, 0) != 0) {
		return -1;
	}
	for (uint64_t mfn = 1; mfn < NF; mfn++) {
		if (vmmu_ft_assign(&s->ft, mfn, DOM) != 0) {
			return -1;
		}
	}
	for (unsigned i = 0; i < s->nthreads; i++) {
		if (vmmu_pv_vcpu_init(&s->vcpu[i], &s->d, i) != 0) {
			return -1;
		}
	}
	return 0;
}

/* --- random requests ---------------------------------------------------------- */

static uint64_t random_data(void)
{
	return DATA_FIRST + rnd() % N_DATA;
}

static uint64_t random_table(void)
{
	return L4_FIRST + rnd() % N_TABLES;
}

static uint64_t random_l1(void)
{
	return L1_FIRST + rnd() % N_L1;
}

static uint64_t maybe_ad(void)
{
	return rnd() % 2 ? AD : 0;
}

/* An L1 entry: mostly data, read-only links to tables, rarely hostile. */
static uint64_t l1_value(void)
{
	unsigned r = (unsigned)(rnd() % 100);

	if (r < 15) {
		return 0;
	}
	if (r < 55) {
		return pte(random_data(), P | RW | US | maybe_ad());
	}
	if (r < 85) {
		return pte(random_data(), P | US | maybe_ad());
	}
	if (r < 98) {
		return pte(random_table(), P | US); /* read-only: allowed */
	}
	return pte(random_table(), P | RW | US); /* refused while a table */
}

/* An L2 entry: clear, or one of the shared L1s, writable or not. */
static uint64_t l2_value(void)
{
	unsigned r = (unsigned)(rnd() % 100);

	if (r < 15) {
		return 0;
	}
	return pte(random_l1(), P | US | (r < 70 ? RW : 0) | (r % 7 == 0 ? AD : 0));
}

/* An L3 entry (slots 0-1): clear, or one of the four L2s. */
static uint64_t l3_value(void)
{
	unsigned r = (unsigned)(rnd() % 100);

	return r < 10 ? 0 : pte(L2_FIRST + rnd() % 4, P | US | (r < 60 ? RW : 0));
}

static struct vmmu_pv_mmu_update req(uint64_t table, unsigned index,
				     uint64_t val)
{
	static const uint64_t cmds[4] = {
		VMMU_PV_MMU_NORMAL_PT_UPDATE, VMMU_PV_MMU_NORMAL_PT_UPDATE,
		VMMU_PV_MMU_PT_UPDATE_PRESERVE_AD,
		VMMU_PV_MMU_PT_UPDATE_NO_TRANSLATE,
	};
	struct vmmu_pv_mmu_update r = {
		.ptr = ((table << 12) + index * 8u) | cmds[rnd() % 4],
		.val = val,
	};
	return r;
}

/* --- hypercalls, made again while they answer -VMMU_ERESTART ------------------ */

typedef int (*hypercall_fn)(struct vmmu_pv_vcpu *v, const void *args,
			    uint32_t count, uint32_t *done);

static int hc_mmu_update(struct vmmu_pv_vcpu *v, const void *args,
			 uint32_t count, uint32_t *done)
{
	return vmmu_pv_mmu_update(v, args, count, done, VMMU_PV_DOMID_SELF);
}

static int hc_mmuext(struct vmmu_pv_vcpu *v, const void *args, uint32_t count,
		     uint32_t *done)
{
	return vmmu_pv_mmuext_op(v, args, count, done, VMMU_PV_DOMID_SELF);
}

/* args: {va, val, flags}; done is 1 once the update is in. */
static int hc_update_va(struct vmmu_pv_vcpu *v, const void *args,
			uint32_t count, uint32_t *done)
{
	const uint64_t *a = args;
	int rc = vmmu_pv_update_va_mapping(v, a[0], a[1], a[2]);

	*done = rc == 0 ? count : 0;
	return rc;
}

/* done moves forward, stays within count and is exact for the answer. */
static void check_done(struct thread *t, int rc, uint32_t before,
		       uint32_t done, uint32_t count)
{
	if (done < before || done > count || (rc == 0 && done != count) ||
	    (rc != 0 && rc != -VMMU_ERESTART && done >= count)) {
		error(t->s, "done out of place after answer", done, rc);
	}
}

/*
 * Make the call again while it answers -VMMU_ERESTART, at most max_tries
 * times (MAX_TRIES is a livelock, counted as an error by outcome());
 * *done is where it starts and where it ended.
 */
static int hypercall_n(struct thread *t, hypercall_fn fn, const void *args,
		       uint32_t count, uint32_t *done, unsigned max_tries)
{
	unsigned tries = 0;
	uint32_t before;
	int rc;

	do {
		if (tries > 64) {
			sched_yield();
		}
		before = *done;
		rc = fn(t->v, args, count, done);
		check_done(t, rc, before, *done, count);
		t->calls++;
		t->restarts += rc == -VMMU_ERESTART;
	} while (rc == -VMMU_ERESTART && ++tries < max_tries);
	return rc;
}

/* The whole hypercall; *complete: every request was done. */
static int hypercall(struct thread *t, hypercall_fn fn, const void *args,
		     uint32_t count, bool *complete)
{
	uint32_t done = 0;
	int rc = hypercall_n(t, fn, args, count, &done, MAX_TRIES);

	*complete = done == count;
	if (*complete && rc != -VMMU_ERESTART && t->v->pending_partial != 0) {
		error(t->s, "a finished call left a paused validation behind",
		      t->v->pending_partial, rc);
	}
	return rc;
}

/* Count the final answer of one operation; an unexpected one is an error. */
static void outcome(struct thread *t, enum op op, int rc)
{
	if (rc == -VMMU_ERESTART) {
		error(t->s, "still -VMMU_ERESTART after MAX_TRIES calls", op, rc);
	}
	if (rc > 0 || rc <= -VMMU_ERR_COUNT ||
	    (rc != 0 && rc != -VMMU_ERESTART && !(allowed[op] & BIT(-rc)))) {
		error(t->s, op_name[op], (uint64_t)op, rc);
		return;
	}
	t->out[op][-rc]++;
}

/* --- the operations ------------------------------------------------------------- */

static void op_mmu_update(struct thread *t, enum op op)
{
	struct vmmu_pv_mmu_update r[4];
	uint32_t n = 1 + (uint32_t)(rnd() % 4);
	bool complete;

	for (uint32_t i = 0; i < n; i++) {
		if (op == OP_L1) {
			r[i] = req(random_l1(), (unsigned)(rnd() % L1_USED), l1_value());
		} else if (op == OP_L3) {
			r[i] = req(L3_FIRST + rnd() % 4, (unsigned)(rnd() % 2),
				   l3_value());
		} else {
			r[i] = req(L2_FIRST + rnd() % 4, (unsigned)(rnd() % L2_USED),
				   l2_value());
		}
	}
	outcome(t, op, hypercall(t, hc_mmu_update, r, n, &complete));
}

static int ext1(struct thread *t, uint32_t cmd, uint64_t arg, bool *complete)
{
	struct vmmu_pv_mmuext_op op = {.cmd = cmd, .arg1.mfn = arg};

	return hypercall(t, hc_mmuext, &op, 1, complete);
}

/* Pin a table at its level, 1 in 16 at a random level (or a data frame). */
static void op_pin(struct thread *t)
{
	uint64_t mfn = random_table();
	unsigned level = level_of(mfn);
	bool complete;
	int rc;

	if (rnd() % 16 == 0) {
		mfn = rnd() % 2 ? mfn : random_data();
		level = 1 + (unsigned)(rnd() % 4);
	}
	rc = ext1(t, VMMU_PV_MMUEXT_PIN_L1_TABLE + level - 1, mfn, &complete);
	if (complete) {
		atomic_fetch_add(&t->s->pins[mfn], 1);
	}
	outcome(t, OP_PIN, rc);
}

static void op_unpin(struct thread *t)
{
	uint64_t mfn = rnd() % 8 ? random_table() : 1 + rnd() % (NF - 1);
	bool complete;
	int rc = ext1(t, VMMU_PV_MMUEXT_UNPIN_TABLE, mfn, &complete);

	if (complete) {
		atomic_fetch_sub(&t->s->pins[mfn], 1);
	}
	outcome(t, OP_UNPIN, rc);
}

/* One of the four L4s; 1 in 32 any table (it validates as an L4 or not). */
static uint64_t random_l4(void)
{
	return rnd() % 32 ? L4_FIRST + rnd() % 4 : random_table();
}

static void op_base(struct thread *t, enum op op)
{
	bool complete;
	uint64_t mfn = random_l4();
	int rc;

	if (op == OP_BASE) {
		rc = ext1(t, VMMU_PV_MMUEXT_NEW_BASEPTR, mfn, &complete);
	} else {
		rc = ext1(t, VMMU_PV_MMUEXT_NEW_USER_BASEPTR,
			  rnd() % 4 ? mfn : 0, &complete);
	}
	outcome(t, op, rc);
}

/* A va the trees map: L4 slot 0-1, L3 slot 0-1, L2 slot 0-3, L1 slot 0-15. */
static uint64_t random_va(void)
{
	uint64_t r = rnd();

	return (r & 1) << 39 | (r >> 1 & 1) << 30 | (r >> 2 & 3) << 21 |
	       (r >> 4 & 15) << 12 | (r >> 8 & 0xfff);
}

static void op_va(struct thread *t)
{
	static const uint64_t flush[3] = {
		VMMU_PV_UVMF_NONE, VMMU_PV_UVMF_TLB_FLUSH, VMMU_PV_UVMF_INVLPG,
	};
	uint64_t a[3] = {random_va(), l1_value(),
			 flush[rnd() % 3] | (rnd() % 2 ? VMMU_PV_UVMF_ALL : 0)};
	bool complete;

	outcome(t, OP_VA, hypercall(t, hc_update_va, a, 1, &complete));
}

static void op_flush(struct thread *t)
{
	static const uint32_t cmds[4] = {
		VMMU_PV_MMUEXT_TLB_FLUSH_LOCAL, VMMU_PV_MMUEXT_TLB_FLUSH_ALL,
		VMMU_PV_MMUEXT_INVLPG_LOCAL, VMMU_PV_MMUEXT_INVLPG_ALL,
	};
	struct vmmu_pv_mmuext_op ops[2] = {
		{.cmd = cmds[rnd() % 4], .arg1.linear_addr = random_va()},
		{.cmd = cmds[rnd() % 4], .arg1.linear_addr = rnd()},
	};
	bool complete;

	outcome(t, OP_FLUSH,
		hypercall(t, hc_mmuext, ops, 1 + (uint32_t)(rnd() % 2), &complete));
}

static void one_op(struct thread *t)
{
	unsigned r = (unsigned)(rnd() % 100);

	/* Preemption: none for half the operations, else 1 in 32 or 1 in 4. */
	t_yield_shift = r % 2 ? 0 : r % 5 ? 5 : 2;
	if (r < 30) {
		op_mmu_update(t, OP_L1);
	} else if (r < 42) {
		op_mmu_update(t, OP_L2);
	} else if (r < 45) {
		op_mmu_update(t, OP_L3);
	} else if (r < 55) {
		op_pin(t);
	} else if (r < 65) {
		op_unpin(t);
	} else if (r < 73) {
		op_base(t, OP_BASE);
	} else if (r < 77) {
		op_base(t, OP_UBASE);
	} else if (r < 95) {
		op_va(t);
	} else {
		op_flush(t);
	}
	t_yield_shift = 0;
}

/* --- audits ------------------------------------------------------------------------ */

static void dump_frame(struct shared *s, uint64_t mfn)
{
	struct vmmu_frame_info i;

	if (vmmu_ft_info(&s->ft, mfn, &i) != 0) {
		return;
	}
	fprintf(stderr,
		"pv_race:   frame %llu: count %llu type %u type_count %llu%s%s%s%s\n",
		(unsigned long long)mfn, (unsigned long long)i.count, i.type,
		(unsigned long long)i.type_count, i.validated ? " validated" : "",
		i.pinned ? " pinned" : "", i.partial ? " paused" : "",
		i.devalidating ? " devalidating" : "");
}

/* The pins the threads counted are the frame table's. */
static void check_pins(struct shared *s)
{
	struct vmmu_frame_info i;

	for (uint64_t mfn = 1; mfn < NF; mfn++) {
		long counted = atomic_load(&s->pins[mfn]);

		vmmu_ft_info(&s->ft, mfn, &i);
		if (counted != (i.pinned ? 1 : 0)) {
			error(s, "pin count differs from the frame table at frame",
			      mfn, counted);
		}
	}
}

/* Tally what a quiescent point looks like (for the report). */
static void tally(struct shared *s, const struct vmmu_pv_audit *rep)
{
	struct vmmu_frame_info i;

	s->audits++;
	s->seen_tables += rep->tables;
	for (uint64_t mfn = 1; mfn < NF; mfn++) {
		vmmu_ft_info(&s->ft, mfn, &i);
		s->seen_pinned += i.pinned;
		s->seen_writable += i.type == VMMU_FTYPE_WRITABLE && i.type_count != 0;
		s->seen_paused += i.partial;
	}
	for (unsigned v = 0; v < s->nthreads; v++) {
		s->seen_pending += s->vcpu[v].pending_partial != 0;
		for (unsigned k = 0; k < VMMU_PV_PARKED_MAX; k++) {
			s->seen_pending += s->vcpu[v].pending_put[k] != 0;
		}
	}
}

static void audit(struct shared *s, const char *when)
{
	struct vmmu_pv_audit rep;
	int rc = vmmu_pv_audit(&s->d, s->vcpu, s->nthreads, s->work, &rep);

	tally(s, &rep);
	if (rc == 0) {
		return;
	}
	error(s, "audit failed", rep.first_mfn, (long)rep.errors);
	fprintf(stderr, "pv_race: %s audit: %llu errors, first at frame %llu: %s\n",
		when, (unsigned long long)rep.errors,
		(unsigned long long)rep.first_mfn, rep.first);
	dump_frame(s, rep.first_mfn);
	exit(1); /* the counts are off: going on proves nothing */
}

/*
 * A call left half-way over an audit: a pin, unpin, base switch or L2
 * update made with heavy preemption and only a few times, so that the
 * audit sees paused validations and parked releases; finished after it.
 */
struct deferred {
	enum op op;
	hypercall_fn fn;
	const void *args;
	struct vmmu_pv_mmuext_op ext;
	struct vmmu_pv_mmu_update upd;
	uint32_t done;
	bool tracked;
	int rc;
};

static void deferred_track(struct thread *t, struct deferred *c)
{
	if (c->done == 1 && !c->tracked && c->op != OP_L2 && c->op != OP_BASE) {
		atomic_fetch_add(&t->s->pins[c->ext.arg1.mfn],
				 c->op == OP_PIN ? 1 : -1);
		c->tracked = true;
	}
}

static void deferred_start(struct thread *t, struct deferred *c)
{
	static const enum op ops[3] = {OP_PIN, OP_UNPIN, OP_BASE};
	static const uint32_t cmd[3] = {VMMU_PV_MMUEXT_PIN_L1_TABLE,
					VMMU_PV_MMUEXT_UNPIN_TABLE,
					VMMU_PV_MMUEXT_NEW_BASEPTR};
	unsigned r = (unsigned)(rnd() % 4);

	*c = (struct deferred){.fn = hc_mmuext, .args = &c->ext};
	if (r == 3) {
		c->op = OP_L2;
		c->upd = req(L2_FIRST + rnd() % 4, (unsigned)(rnd() % L2_USED),
			     l2_value());
		c->fn = hc_mmu_update;
		c->args = &c->upd;
	} else {
		c->op = ops[r];
		c->ext.arg1.mfn = r == 2 ? L4_FIRST + rnd() % 4 : random_table();
		c->ext.cmd = cmd[r] + (r == 0 ? level_of(c->ext.arg1.mfn) - 1 : 0);
	}
	t_yield_shift = 1;
	c->rc = hypercall_n(t, c->fn, c->args, 1, &c->done,
			    1 + (unsigned)(rnd() % 4));
	t_yield_shift = 0;
	deferred_track(t, c);
}

static void deferred_finish(struct thread *t, struct deferred *c)
{
	if (c->rc == -VMMU_ERESTART) {
		t_yield_shift = 2;
		c->rc = hypercall_n(t, c->fn, c->args, 1, &c->done, MAX_TRIES);
		t_yield_shift = 0;
		deferred_track(t, c);
	}
	outcome(t, c->op, c->rc);
}

/*
 * All threads stop, each starts one call and leaves it half-way, thread 0
 * audits, all finish their call and go on.
 */
static void quiesce(struct thread *t)
{
	struct deferred c;

	pthread_barrier_wait(&t->s->bar);
	deferred_start(t, &c);
	pthread_barrier_wait(&t->s->bar);
	if (t->id == 0) {
		audit(t->s, "periodic");
		check_pins(t->s);
	}
	pthread_barrier_wait(&t->s->bar);
	deferred_finish(t, &c);
}

static void *vcpu_main(void *arg)
{
	struct thread *t = arg;
	struct shared *s = t->s;

	t_rng = s->seed * 0x100000001b3ull + t->id + 1;
	t_cpu = t->id;
	for (unsigned long n = 1; n <= s->ops_per_thread; n++) {
		one_op(t);
		if (n % s->audit_every == 0) {
			quiesce(t);
		}
	}
	return NULL;
}

/* --- the end: release, unpin, audit, every frame back to its allocation -------- */

static void release_all(struct shared *s)
{
	for (unsigned i = 0; i < s->nthreads; i++) {
		unsigned tries = 0;
		int rc;

		while ((rc = vmmu_pv_vcpu_release(&s->vcpu[i])) == -VMMU_ERESTART &&
		       ++tries < MAX_TRIES) {
		}
		if (rc != 0) {
			error(s, "vcpu_release failed for vcpu", i, rc);
		}
	}
}

static void unpin_all(struct shared *s, struct thread *t0)
{
	struct vmmu_frame_info i;

	for (uint64_t mfn = 1; mfn < NF; mfn++) {
		bool complete;
		int rc;

		vmmu_ft_info(&s->ft, mfn, &i);
		if (!i.pinned) {
			continue;
		}
		rc = ext1(t0, VMMU_PV_MMUEXT_UNPIN_TABLE, mfn, &complete);
		if (rc != 0 || !complete) {
			error(s, "final unpin failed at frame", mfn, rc);
		} else {
			atomic_fetch_sub(&s->pins[mfn], 1);
		}
	}
}

static void check_frames_free(struct shared *s)
{
	struct vmmu_frame_info i;

	for (uint64_t mfn = 1; mfn < NF; mfn++) {
		vmmu_ft_info(&s->ft, mfn, &i);
		if (i.count != 1 || i.type_count != 0 || i.pinned || i.partial ||
		    !i.allocated || i.owner != DOM) {
			error(s, "frame not back to its allocation reference", mfn,
			      (long)i.count);
			dump_frame(s, mfn);
		}
	}
}

static void finish(struct shared *s, struct thread *t0)
{
	t_yield_shift = 0;
	t_cpu = 0;
	release_all(s);
	check_pins(s);
	unpin_all(s, t0);
	release_all(s); /* what the unpins parked */
	check_pins(s);
	audit(s, "final");
	check_frames_free(s);
}

/* --- main ---------------------------------------------------------------------------- */

static const char *const code_name[VMMU_ERR_COUNT] = {
	"ok", "EINVAL", "ENOMEM", "EEXIST", "ENOENT", "ERANGE", "EALIGN",
	"EFAULT", "EPERM", "EBUSY", "gave-up", "ENOTSUP", "EAGAIN",
};

/* One line per operation: how often it answered what. Returns the total. */
static unsigned long report_op(struct shared *s, struct thread *t, unsigned op)
{
	unsigned long sum[VMMU_ERR_COUNT] = {0}, total = 0;

	for (unsigned i = 0; i < s->nthreads; i++) {
		for (unsigned e = 0; e < VMMU_ERR_COUNT; e++) {
			sum[e] += t[i].out[op][e];
			total += t[i].out[op][e];
		}
	}
	printf("pv_race: %-18s %9lu:", op_name[op], total);
	for (unsigned e = 0; e < VMMU_ERR_COUNT; e++) {
		if (sum[e] != 0) {
			printf(" %s %lu", code_name[e], sum[e]);
		}
	}
	printf("\n");
	return total;
}

static void report(struct shared *s, struct thread *t, double secs)
{
	unsigned long ops = 0, calls = 0, restarts = 0;

	for (unsigned op = 0; op < N_OPS; op++) {
		ops += report_op(s, t, op);
	}
	for (unsigned i = 0; i < s->nthreads; i++) {
		calls += t[i].calls;
		restarts += t[i].restarts;
	}
	printf("pv_race: %lu operations by %u vCPUs in %.1f s: %lu hypercalls, "
	       "%lu -ERESTART continued, %lu flush requests, %lu audits\n",
	       ops, s->nthreads, secs, calls, restarts,
	       atomic_load(&s->flushes), s->audits);
	printf("pv_race: at the audits, in all: %lu tables, %lu pinned, %lu "
	       "frames writable, %lu paused (de)validations, %lu vCPU pending\n",
	       s->seen_tables, s->seen_pinned, s->seen_writable, s->seen_paused,
	       s->seen_pending);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int parse(struct shared *s, int argc, char **argv)
{
	s->nthreads = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 0) : 4;
	s->ops_per_thread = argc > 2 ? strtoul(argv[2], NULL, 0) : 250000;
	s->audit_every = argc > 3 ? strtoul(argv[3], NULL, 0) : 5000;
	s->seed = argc > 4 ? strtoull(argv[4], NULL, 0) : 1;
	return s->nthreads >= 1 && s->nthreads <= MAX_THREADS &&
			       s->audit_every != 0
		       ? 0
		       : -1;
}

/* Every vCPU starts on its own tree, so update_va_mapping has a base. */
static int first_bases(struct shared *s, struct thread *t)
{
	for (unsigned i = 0; i < s->nthreads; i++) {
		bool complete;

		t[i] = (struct thread){.s = s, .v = &s->vcpu[i], .id = i};
		t_cpu = i;
		if (ext1(&t[i], VMMU_PV_MMUEXT_NEW_BASEPTR, L4_FIRST + i % 4,
			 &complete) != 0) {
			return -1;
		}
	}
	t_cpu = 0;
	return 0;
}

int main(int argc, char **argv)
{
	static struct shared s;
	static struct thread t[MAX_THREADS];
	double start;

	if (parse(&s, argc, argv) != 0 || setup(&s) != 0 ||
	    first_bases(&s, t) != 0) {
		fprintf(stderr, "usage: pv_race [threads 1-16] [ops per thread] "
				"[audit every] [seed]\n");
		return 2;
	}
	pthread_barrier_init(&s.bar, NULL, s.nthreads);
	start = now();
	for (unsigned i = 0; i < s.nthreads; i++) {
		pthread_create(&t[i].th, NULL, vcpu_main, &t[i]);
	}
	for (unsigned i = 0; i < s.nthreads; i++) {
		pthread_join(t[i].th, NULL);
	}
	finish(&s, &t[0]);
	report(&s, t, now() - start);
	printf("pv_race: seed %llu, %lu errors\n", (unsigned long long)s.seed,
	       atomic_load(&s.errors));
	pthread_barrier_destroy(&s.bar);
	test_platform_fini(&s.tp);
	return atomic_load(&s.errors) == 0 ? 0 : 1;
}
