/* SPDX-License-Identifier: MIT */
/*
 * Stress: threads as CPUs taking and dropping general and type references,
 * pins and preemptible (de)validations on a few shared frames of one
 * domain.
 *
 * Each thread keeps to the contract (a general reference under every type
 * reference, only its own references dropped) and checks what the frame
 * table answers against what it holds: a type it holds can be taken again,
 * another type is refused, a reference it holds is in force. Every
 * successful type reference is also counted per frame and type
 * (`holders`), so a thread that gets type X while anybody holds type Y is
 * caught. The hooks check that no two (de)validations of one frame ever
 * overlap, stop early (-VMMU_ERESTART) or fail now and then, and count
 * validation "sessions": one starts when validate sees a zero scratch
 * word and ends with the validator's error or a finished devalidate. At
 * the end every session has ended and every frame is back to the
 * allocation reference alone.
 *
 * Usage: frame_race [threads (4)] [operations per thread (250000)]
 */
#include "test_platform.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include <vmmu/frame.h>

#define NF 8u
#define DOM 7u
#define MAX_THREADS 64u

struct shared {
	struct test_platform tp;
	struct vmmu_platform_ops pops;
	struct vmmu_ft ft;
	struct vmmu_frame mem[NF];
	struct vmmu_ft_ops ops;
	atomic_uint validating[NF], devalidating[NF];
	atomic_long holders[NF][8];
	atomic_ulong started, ended;            /* validation sessions */
	atomic_ulong validated, devalidated;     /* hooks that returned 0 */
	atomic_ulong failed, stops, abandoned, restarts_seen, eagain, ebusy;
	atomic_ulong errors;
	unsigned long ops_per_thread;
	unsigned nthreads;
	atomic_uint ready;
};

static _Thread_local uint64_t t_rng;

static uint64_t rnd(void)
{
	/* xorshift64: per thread, no shared state */
	t_rng ^= t_rng << 13;
	t_rng ^= t_rng >> 7;
	t_rng ^= t_rng << 17;
	return t_rng;
}

static void error(struct shared *s, const char *what, uint64_t mfn, long v)
{
	if (atomic_fetch_add(&s->errors, 1) < 20) {
		fprintf(stderr, "frame_race: %s (mfn %llu, value %ld)\n", what,
			(unsigned long long)mfn, v);
	}
}

/* Waiting for another CPU's validation gives up now and then. */
static bool race_should_yield(void *ctx)
{
	(void)ctx;
	return rnd() % 8 == 0;
}

static void busy_a_little(void)
{
	for (volatile unsigned i = 0; i < 16; i++) {
	}
}

/* Enter/leave a hook: no other (de)validation of mfn may run meanwhile. */
static void hook_enter(struct shared *s, uint64_t mfn, atomic_uint *mine,
		       atomic_uint *other, const char *what)
{
	if (atomic_fetch_add(&mine[mfn], 1) != 0) {
		error(s, what, mfn, 0);
	}
	if (atomic_load(&other[mfn]) != 0) {
		error(s, "validate and devalidate overlap", mfn, 0);
	}
}

static int race_validate(void *ctx, uint64_t mfn, unsigned type)
{
	struct shared *s = ctx;
	uint64_t *scratch = vmmu_ft_scratch(&s->ft, mfn);
	struct vmmu_frame_info i;
	uint64_t r = rnd();
	int rc = 0;

	hook_enter(s, mfn, s->validating, s->devalidating,
		   "two validations of one frame at once");
	if (vmmu_ft_info(&s->ft, mfn, &i) != 0 || i.type != type || i.validated ||
	    i.type_count != 1) {
		error(s, "frame not held unvalidated during validate", mfn, type);
	}
	if (*scratch == 0) {
		atomic_fetch_add(&s->started, 1);
	}
	busy_a_little();
	if (r % 16 == 0) {
		*scratch += 1;
		atomic_fetch_add(&s->stops, 1);
		rc = -VMMU_ERESTART;
	} else if (r % 61 == 1) {
		/* Failing releases everything taken: the session ends. */
		atomic_fetch_add(&s->failed, 1);
		atomic_fetch_add(&s->ended, 1);
		rc = -VMMU_EFAULT;
	} else {
		atomic_fetch_add(&s->validated, 1);
	}
	atomic_fetch_sub(&s->validating[mfn], 1);
	return rc;
}

static int race_devalidate(void *ctx, uint64_t mfn, unsigned type)
{
	struct shared *s = ctx;
	struct vmmu_frame_info i;
	int rc = 0;

	hook_enter(s, mfn, s->devalidating, s->validating,
		   "two devalidations of one frame at once");
	if (vmmu_ft_info(&s->ft, mfn, &i) != 0 || i.type != type || i.validated ||
	    i.type_count != 1) {
		error(s, "frame not held unvalidated during devalidate", mfn, type);
	}
	busy_a_little();
	if (rnd() % 16 == 0) {
		atomic_fetch_add(&s->stops, 1);
		rc = -VMMU_ERESTART;
	} else {
		atomic_fetch_add(&s->devalidated, 1);
		atomic_fetch_add(&s->ended, 1);
	}
	atomic_fetch_sub(&s->devalidating[mfn], 1);
	return rc;
}

static void race_leave_writable(void *ctx, uint64_t mfn, unsigned type)
{
	struct shared *s = ctx;
	struct vmmu_frame_info i;

	/* XSA-401: the new type is visible before the flush. */
	if (vmmu_ft_info(&s->ft, mfn, &i) != 0 || i.type != type) {
		error(s, "leave_writable before the new type is published", mfn,
		      type);
	}
}

/* What one thread holds on each frame. */
struct mine {
	unsigned long g[NF], t[NF];
	unsigned ty[NF];
};

static const unsigned k_types[] = {VMMU_FTYPE_L1, VMMU_FTYPE_L2,
				   VMMU_FTYPE_WRITABLE};

/* Drop one type reference, finishing a stopped devalidation. */
static void drop_type(struct shared *s, uint64_t f)
{
	int rc;

	while ((rc = vmmu_ft_put_type(&s->ft, f, &s->ops)) == -VMMU_ERESTART) {
		atomic_fetch_add(&s->restarts_seen, 1);
	}
	if (rc != 0) {
		error(s, "put_type", f, rc);
	}
}

/* A type reference of ty on f is now ours: nobody may hold another type. */
static void got_type(struct shared *s, struct mine *m, uint64_t f, unsigned ty)
{
	struct vmmu_frame_info i;

	atomic_fetch_add(&s->holders[f][ty], 1);
	for (unsigned k = 0; k < 8; k++) {
		if (k != ty && atomic_load(&s->holders[f][k]) != 0) {
			error(s, "two types held at once", f, ty);
		}
	}
	if (vmmu_ft_info(&s->ft, f, &i) != 0 || i.type != ty || !i.validated) {
		error(s, "type reference held but not in force", f, ty);
	}
	m->t[f]++;
	m->ty[f] = ty;
}

/* Finish or give up the partial reference a stopped validation left us. */
static void settle_partial(struct shared *s, struct mine *m, uint64_t f,
			   unsigned ty)
{
	for (;;) {
		int rc;
		if (rnd() % 4 == 0) {
			rc = vmmu_ft_abandon_type(&s->ft, f, &s->ops);
			if (rc == -VMMU_ERESTART) {
				drop_type(s, f);
			} else if (rc != 0) {
				error(s, "abandon_type", f, rc);
			}
			atomic_fetch_add(&s->abandoned, 1);
			return;
		}
		rc = vmmu_ft_continue_type(&s->ft, f, ty, &s->ops);
		if (rc == 0) {
			got_type(s, m, f, ty);
			return;
		}
		if (rc != -VMMU_ERESTART) {
			if (rc != -VMMU_EFAULT) {
				error(s, "continue_type", f, rc);
			}
			return;
		}
	}
}

static void op_get_type(struct shared *s, struct mine *m, uint64_t f)
{
	unsigned ty = k_types[rnd() % 3];
	int rc = vmmu_ft_get_type(&s->ft, f, ty, &s->ops);

	if (m->t[f] > 0) {
		/* We hold a type in force: its answer is certain. */
		if (rc != (ty == m->ty[f] ? 0 : -VMMU_EBUSY)) {
			error(s, "get_type while holding a type", f, rc);
		}
		if (rc == 0) {
			got_type(s, m, f, ty);
		}
		return;
	}
	switch (rc) {
	case 0:
		got_type(s, m, f, ty);
		break;
	case -VMMU_ERESTART:
		atomic_fetch_add(&s->restarts_seen, 1);
		settle_partial(s, m, f, ty);
		break;
	case -VMMU_EBUSY:
		atomic_fetch_add(&s->ebusy, 1);
		break;
	case -VMMU_EAGAIN:
		atomic_fetch_add(&s->eagain, 1);
		break;
	case -VMMU_EFAULT: /* injected validation failure */
		break;
	default:
		error(s, "get_type", f, rc);
	}
}

static void op_put_type(struct shared *s, struct mine *m, uint64_t f)
{
	if (m->t[f] == 0) {
		return;
	}
	/* Before the put: see got_type's check. */
	atomic_fetch_sub(&s->holders[f][m->ty[f]], 1);
	m->t[f]--;
	drop_type(s, f);
}

static void op_pin(struct shared *s, struct mine *m, uint64_t f)
{
	int rc;

	if (m->t[f] == 0 || m->ty[f] == VMMU_FTYPE_WRITABLE) {
		return;
	}
	rc = vmmu_ft_pin(&s->ft, f);
	if (rc == 0) {
		m->t[f]--; /* the pin owns it now; holders unchanged */
	} else if (rc != -VMMU_EINVAL) {
		error(s, "pin", f, rc);
	}
}

static void op_unpin(struct shared *s, struct mine *m, uint64_t f)
{
	struct vmmu_frame_info i;
	int rc = vmmu_ft_unpin(&s->ft, f);

	if (rc == -VMMU_EINVAL) {
		return;
	}
	if (rc != 0 || vmmu_ft_info(&s->ft, f, &i) != 0 ||
	    (m->t[f] > 0 && i.type != m->ty[f]) || !i.validated) {
		error(s, "unpin", f, rc);
		return;
	}
	/* The pin's reference is ours now (holders already counts it). */
	m->t[f]++;
	m->ty[f] = i.type;
}

static void one_op(struct shared *s, struct mine *m)
{
	uint64_t f = rnd() % NF;
	unsigned op = (unsigned)(rnd() % 8);

	if (op == 0 || m->g[f] == 0) {
		int rc = vmmu_ft_get(&s->ft, f, DOM);
		if (rc != 0) {
			error(s, "get", f, rc);
		} else {
			m->g[f]++;
		}
	} else if (op == 1 && m->g[f] > 1) {
		/* One general reference stays under our type references. */
		if (vmmu_ft_put(&s->ft, f)) {
			error(s, "put dropped the allocation reference", f, 0);
		}
		m->g[f]--;
	} else if (op == 2 || op == 3) {
		op_get_type(s, m, f);
	} else if (op == 4 || op == 5) {
		op_put_type(s, m, f);
	} else if (op == 6) {
		op_pin(s, m, f);
	} else if (op == 7) {
		op_unpin(s, m, f);
	}
}

static void *thread_main(void *arg)
{
	struct shared *s = arg;
	struct mine m = {0};
	static atomic_uint seq;

	t_rng = 0x9e3779b97f4a7c15ull * (atomic_fetch_add(&seq, 1) + 1);
	/* Start together, or the first threads finish before the last start. */
	atomic_fetch_add(&s->ready, 1);
	while (atomic_load(&s->ready) < s->nthreads) {
	}
	for (unsigned long n = 0; n < s->ops_per_thread; n++) {
		one_op(s, &m);
	}
	for (uint64_t f = 0; f < NF; f++) {
		while (m.t[f] > 0) {
			op_put_type(s, &m, f);
		}
		for (; m.g[f] > 0; m.g[f]--) {
			if (vmmu_ft_put(&s->ft, f)) {
				error(s, "put dropped the allocation reference",
				      f, 0);
			}
		}
	}
	return NULL;
}

static int setup(struct shared *s)
{
	test_platform_init(&s->tp, 16);
	s->pops = *s->tp.plat.ops;
	s->pops.should_yield = race_should_yield;
	s->tp.plat.ops = &s->pops;
	s->ops = (struct vmmu_ft_ops){
		.validate = race_validate,
		.devalidate = race_devalidate,
		.leave_writable = race_leave_writable,
		.ctx = s,
	};
	if (vmmu_ft_init(&s->ft, s->mem, sizeof(s->mem), NF, &s->tp.plat) != 0) {
		return -1;
	}
	for (uint64_t f = 0; f < NF; f++) {
		if (vmmu_ft_assign(&s->ft, f, DOM) != 0) {
			return -1;
		}
	}
	return 0;
}

/* A pin left over: take its reference back and drop it. */
static void drop_pin(struct shared *s, uint64_t f)
{
	struct vmmu_frame_info i;

	if (vmmu_ft_unpin(&s->ft, f) != 0) {
		return;
	}
	if (vmmu_ft_info(&s->ft, f, &i) != 0 || i.type_count != 1) {
		error(s, "pinned frame with other references left", f, 0);
		return;
	}
	atomic_fetch_sub(&s->holders[f][i.type], 1);
	drop_type(s, f);
}

/* Every frame back to the allocation reference alone, nothing running. */
static void final_check(struct shared *s)
{
	struct vmmu_frame_info i;

	t_rng = 0x2545f4914f6cdd1dull; /* xorshift stays 0 once 0 */
	for (uint64_t f = 0; f < NF; f++) {
		drop_pin(s, f);
		if (vmmu_ft_info(&s->ft, f, &i) != 0 || i.count != 1 ||
		    !i.allocated || i.owner != DOM || i.type_count != 0 ||
		    i.pinned || i.partial || i.validated != (i.type ==
		    VMMU_FTYPE_WRITABLE)) {
			error(s, "frame not back to its allocation reference", f,
			      (long)i.type_count);
		}
		for (unsigned k = 0; k < 8; k++) {
			if (atomic_load(&s->holders[f][k]) != 0) {
				error(s, "holders left", f, k);
			}
		}
		if (vmmu_ft_release(&s->ft, f, DOM) != 1) {
			error(s, "release did not free the frame", f, 0);
		}
	}
	if (atomic_load(&s->started) != atomic_load(&s->ended)) {
		error(s, "validation sessions not ended",
		      (uint64_t)atomic_load(&s->started),
		      (long)atomic_load(&s->ended));
	}
	/* Each finished devalidate ends a validated or an abandoned one. */
	if (atomic_load(&s->devalidated) !=
	    atomic_load(&s->validated) + atomic_load(&s->abandoned)) {
		error(s, "devalidations != validations + abandoned", 0,
		      (long)atomic_load(&s->devalidated));
	}
}

int main(int argc, char **argv)
{
	unsigned nthreads = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 0) : 4;
	static struct shared s;
	pthread_t th[MAX_THREADS];

	s.ops_per_thread = argc > 2 ? strtoul(argv[2], NULL, 0) : 250000;
	s.nthreads = nthreads;
	if (nthreads == 0 || nthreads > MAX_THREADS || setup(&s) != 0) {
		fprintf(stderr, "frame_race: setup failed\n");
		return 2;
	}
	for (unsigned i = 0; i < nthreads; i++) {
		pthread_create(&th[i], NULL, thread_main, &s);
	}
	for (unsigned i = 0; i < nthreads; i++) {
		pthread_join(th[i], NULL);
	}
	final_check(&s);
	printf("frame_race: %u threads, %lu EBUSY, %lu EAGAIN, %lu stops, %lu "
	       "restarts seen, %lu abandoned, %lu failed validations\n",
	       nthreads, atomic_load(&s.ebusy), atomic_load(&s.eagain),
	       atomic_load(&s.stops), atomic_load(&s.restarts_seen),
	       atomic_load(&s.abandoned), atomic_load(&s.failed));
	printf("frame_race: %lu operations, %lu validations, %lu devalidations, "
	       "%lu errors\n", nthreads * s.ops_per_thread,
	       atomic_load(&s.validated), atomic_load(&s.devalidated),
	       atomic_load(&s.errors));
	test_platform_fini(&s.tp);
	return atomic_load(&s.errors) == 0 ? 0 : 1;
}
