/* SPDX-License-Identifier: MIT */
/*
 * The hypervisor-side batch executor (batch/exec.c): a guest's multicall
 * applied to the direct-paging hypercalls of a small domain
 * (tests/support/pv_fixture.h). Guest memory is the test's own (guest
 * address = host pointer), except one page that guest_ptr refuses. The
 * platform's should_yield is driven from here: at one chosen query, or at
 * every query. Every test checks exact results, done counts, table
 * contents and the audit.
 */
#include <stdlib.h>
#include <string.h>

#include "unit_check.h" /* cmocka, WHERE, CHECK_EQ */

#include <vmmu/batch_exec.h>

#include "pv_fixture.h"

#define NFRAMES 64u
#define OWN_LAST 55u
#define DOM 1u
#define OTHER_DOM 2u
#define FOREIGN 60u /* an OTHER_DOM frame */

#define P (1ull << 0)
#define RW (1ull << 1)
#define US (1ull << 2)

#define UNSET 0x5e5e5e5e5e5e5e5eull /* a result the executor never wrote */
#define PREEMPTED ((uint64_t)VMMU_PV_MMU_UPDATE_PREEMPTED)

/* Hypercalls of the embedder's own (the `other` hook). */
#define HC_VERSION 17u /* returns VERSION */
#define HC_IRET 23u    /* leaves guest kernel mode */
#define HC_SLOW 40u    /* preempted args[0] times, then returns 7 */
#define VERSION 0x40011

#define NCALLS 10u

/* The guest's memory for one batch. */
struct guest {
	struct vmmu_pv_multicall_entry calls[NCALLS];
	struct vmmu_pv_mmu_update u0[3], u4[1], u6[1], u9[2];
	struct vmmu_pv_mmuext_op x1[3], x5[1], x7[2];
	uint32_t w0, w5, w6, w7, w9; /* done words */
};

/* The frames of the scene (build_scene). */
struct scene {
	uint64_t a, b, c, d; /* data */
	uint64_t l1, l2, l3, l4, spare, big;
};

struct fixture {
	struct pv_fixture pv; /* first: the platform's ctx is the fixture */
	struct vmmu_platform_ops plat_ops;
	struct vmmu_batch_exec_ops ops;
	/* should_yield */
	uint64_t queries, yield_at;
	bool yield_all;
	/* kernel_mode */
	bool user;
	uint64_t mode_queries, user_after; /* user_after: leave at that query */
	uint64_t guest_ptr_calls, other_calls;
	struct scene s;
	struct guest g;
};

static uint8_t bad_page[4096]; /* guest memory guest_ptr refuses */

/* --- the embedder's hooks ------------------------------------------------------ */

static bool yield_hook(void *ctx)
{
	struct fixture *fx = ctx;

	fx->queries++;
	return fx->yield_all || (fx->yield_at != 0 && fx->queries == fx->yield_at);
}

static void *guest_ptr(void *ctx, const struct vmmu_pv_vcpu *v, uint64_t gva,
		       size_t len)
{
	struct fixture *fx = ctx;
	uint64_t bad = (uint64_t)(uintptr_t)bad_page;

	(void)v;
	fx->guest_ptr_calls++;
	if (gva == 0 || gva + len < gva ||
	    (gva < bad + sizeof(bad_page) && gva + len > bad)) {
		return NULL;
	}
	return (void *)(uintptr_t)gva;
}

static bool kernel_mode(void *ctx, const struct vmmu_pv_vcpu *v)
{
	struct fixture *fx = ctx;

	(void)v;
	fx->mode_queries++;
	if (fx->user_after != 0 && fx->mode_queries == fx->user_after) {
		fx->user = true;
	}
	return !fx->user;
}

static int64_t other(void *ctx, struct vmmu_pv_vcpu *v,
		     struct vmmu_pv_multicall_entry *e)
{
	struct fixture *fx = ctx;

	(void)v;
	fx->other_calls++;
	switch (e->op) {
	case HC_VERSION:
		return VERSION;
	case HC_IRET:
		fx->user = true;
		return 0;
	case HC_SLOW:
		if (e->args[0] > 0) {
			e->args[0]--;
			return -VMMU_ERESTART;
		}
		return 7;
	default:
		return -VMMU_ENOTSUP;
	}
}

/* --- fixture -------------------------------------------------------------------- */

static struct fixture *fixture_new(void)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	pv_fixture_init(&fx->pv, NFRAMES, OWN_LAST, DOM, OTHER_DOM, 0);
	fx->plat_ops = *fx->pv.tp.plat.ops;
	fx->plat_ops.should_yield = yield_hook;
	fx->pv.tp.plat.ops = &fx->plat_ops;
	fx->ops = (struct vmmu_batch_exec_ops){
		.guest_ptr = guest_ptr,
		.kernel_mode = kernel_mode,
		.other = other,
		.ctx = fx,
	};
	return fx;
}

static void fixture_free(struct fixture *fx)
{
	pv_fixture_fini(&fx->pv);
	free(fx);
}

static int setup(void **state)
{
	*state = fixture_new();
	return 0;
}

static int teardown(void **state)
{
	fixture_free(*state);
	return 0;
}

static uint64_t *table(struct fixture *fx, uint64_t mfn)
{
	return pv_table(&fx->pv, mfn);
}

static uint64_t entry(uint64_t mfn, uint64_t flags)
{
	return (mfn << 12) | flags;
}

static uint64_t slot(uint64_t mfn, unsigned i)
{
	return (mfn << 12) | ((uint64_t)i * 8u);
}

/* The address entry i of the scene's L1 maps. */
static uint64_t va(unsigned i)
{
	return (1ull << 39) | (1ull << 30) | (1ull << 21) | ((uint64_t)i << 12);
}

static uint64_t gaddr(const void *p)
{
	return (uint64_t)(uintptr_t)p;
}

static void assert_audit_clean(struct fixture *fx)
{
	PV_ASSERT_AUDIT_CLEAN(&fx->pv);
}

/*
 * L4 -> L3 -> L2 -> L1 at index 1 each, the L1 mapping a at 0, pinned and
 * loaded as the vCPU's base; a spare L1 (maps b) and a bigger L2 (two L1s)
 * left as plain memory for the batch to pin.
 */
static void build_scene(struct fixture *fx)
{
	struct scene *s = &fx->s;

	s->a = pv_new_frame(&fx->pv);
	s->b = pv_new_frame(&fx->pv);
	s->c = pv_new_frame(&fx->pv);
	s->d = pv_new_frame(&fx->pv);
	s->l1 = pv_new_frame(&fx->pv);
	s->l2 = pv_new_frame(&fx->pv);
	s->l3 = pv_new_frame(&fx->pv);
	s->l4 = pv_new_frame(&fx->pv);
	table(fx, s->l1)[0] = entry(s->a, P | RW | US);
	table(fx, s->l2)[1] = entry(s->l1, P | RW | US);
	table(fx, s->l3)[1] = entry(s->l2, P | RW | US);
	table(fx, s->l4)[1] = entry(s->l3, P | RW | US);
	assert_int_equal(pv_ext(&fx->pv, VMMU_PV_MMUEXT_PIN_L4_TABLE, s->l4, 0), 0);
	assert_int_equal(pv_ext(&fx->pv, VMMU_PV_MMUEXT_NEW_BASEPTR, s->l4, 0), 0);
	s->spare = pv_new_frame(&fx->pv);
	table(fx, s->spare)[0] = entry(s->b, P | US);
	s->big = pv_new_frame(&fx->pv);
	for (unsigned i = 0; i < 2; i++) {
		uint64_t l1 = pv_new_frame(&fx->pv);

		table(fx, l1)[i] = entry(s->c, P | US);
		table(fx, s->big)[10 + i] = entry(l1, P | RW | US);
	}
	fx->queries = 0; /* the pin above asked too */
}

static void set_call(struct vmmu_pv_multicall_entry *c, uint64_t op, uint64_t a0,
		     uint64_t a1, uint64_t a2, uint64_t a3)
{
	*c = (struct vmmu_pv_multicall_entry){
		.op = op,
		.result = UNSET,
		.args = {a0, a1, a2, a3, 0, 0},
	};
}

static struct vmmu_pv_mmuext_op ext(uint32_t cmd, uint64_t arg1)
{
	struct vmmu_pv_mmuext_op op = {.cmd = cmd};

	op.arg1.mfn = arg1;
	return op;
}

/*
 * The mixed batch every preemption test runs (expected results in
 * want_results): writes with a done word (the second write to l1[1]
 * wins), pins and flushes without one, update_va_mapping, an embedder's
 * own hypercall, an L2 link, an unpin, refused requests in three kinds of
 * entry, a preemptible L2 validation followed by a refused second pin,
 * and writes after all that.
 */
static void build_batch(struct fixture *fx)
{
	struct scene *s = &fx->s;
	struct guest *g = &fx->g;
	const uint64_t self = VMMU_PV_DOMID_SELF;

	g->u0[0] = (struct vmmu_pv_mmu_update){slot(s->l1, 1), entry(s->b, P | RW | US)};
	g->u0[1] = (struct vmmu_pv_mmu_update){slot(s->l1, 2), entry(s->c, P | US)};
	g->u0[2] = (struct vmmu_pv_mmu_update){slot(s->l1, 1), entry(s->d, P | RW | US)};
	g->x1[0] = ext(VMMU_PV_MMUEXT_PIN_L1_TABLE, s->spare);
	g->x1[1] = ext(VMMU_PV_MMUEXT_TLB_FLUSH_LOCAL, 0);
	g->x1[2] = ext(VMMU_PV_MMUEXT_INVLPG_ALL, va(1));
	g->u4[0] = (struct vmmu_pv_mmu_update){slot(s->l2, 5), entry(s->spare, P | RW | US)};
	g->x5[0] = ext(VMMU_PV_MMUEXT_UNPIN_TABLE, s->spare);
	g->u6[0] = (struct vmmu_pv_mmu_update){slot(s->l1, 4), entry(FOREIGN, P | US)};
	g->x7[0] = ext(VMMU_PV_MMUEXT_PIN_L2_TABLE, s->big);
	g->x7[1] = ext(VMMU_PV_MMUEXT_PIN_L2_TABLE, s->big);
	g->u9[0] = (struct vmmu_pv_mmu_update){slot(s->l1, 5), entry(s->b, P | US)};
	g->u9[1] = (struct vmmu_pv_mmu_update){slot(s->l1, 6), entry(s->c, P | US)};
	g->w0 = g->w5 = g->w6 = g->w7 = g->w9 = 0xdead; /* need not be zeroed */

	set_call(&g->calls[0], VMMU_PV_HC_MMU_UPDATE, gaddr(g->u0), 3, gaddr(&g->w0), self);
	set_call(&g->calls[1], VMMU_PV_HC_MMUEXT_OP, gaddr(g->x1), 3, 0, self);
	set_call(&g->calls[2], VMMU_PV_HC_UPDATE_VA_MAPPING, va(3),
		 entry(s->a, P | US), VMMU_PV_UVMF_INVLPG, 0);
	set_call(&g->calls[3], HC_VERSION, 0, 0, 0, 0);
	set_call(&g->calls[4], VMMU_PV_HC_MMU_UPDATE, gaddr(g->u4), 1, 0, self);
	set_call(&g->calls[5], VMMU_PV_HC_MMUEXT_OP, gaddr(g->x5), 1, gaddr(&g->w5), self);
	set_call(&g->calls[6], VMMU_PV_HC_MMU_UPDATE, gaddr(g->u6), 1, gaddr(&g->w6), self);
	set_call(&g->calls[7], VMMU_PV_HC_MMUEXT_OP, gaddr(g->x7), 2, gaddr(&g->w7), self);
	set_call(&g->calls[8], VMMU_PV_HC_UPDATE_VA_MAPPING_OTHERDOMAIN, va(6),
		 entry(s->a, P | US), 0, OTHER_DOM);
	set_call(&g->calls[9], VMMU_PV_HC_MMU_UPDATE, gaddr(g->u9), 2, gaddr(&g->w9), self);
}

static const int64_t want_results[NCALLS] = {
	0, 0, 0, VERSION, 0, 0, -VMMU_EPERM, -VMMU_EINVAL, -VMMU_EPERM, 0,
};

/* What the batch leaves: results, done words, tables, references. */
static void assert_batch_outcome(struct fixture *fx)
{
	struct scene *s = &fx->s;
	struct guest *g = &fx->g;
	struct vmmu_frame_info i;

	for (unsigned k = 0; k < NCALLS; k++) {
		WHERE("entry %u", k);
		CHECK_EQ(g->calls[k].result, (uint64_t)want_results[k]);
	}
	WHERE("done words");
	CHECK_EQ(g->w0, 3);
	CHECK_EQ(g->w5, 1);
	CHECK_EQ(g->w6, 0);
	CHECK_EQ(g->w7, 1);
	CHECK_EQ(g->w9, 2);
	WHERE("tables");
	CHECK_EQ(table(fx, s->l1)[1], entry(s->d, P | RW | US));
	CHECK_EQ(table(fx, s->l1)[2], entry(s->c, P | US));
	CHECK_EQ(table(fx, s->l1)[3], entry(s->a, P | US));
	CHECK_EQ(table(fx, s->l1)[4], 0);
	CHECK_EQ(table(fx, s->l1)[5], entry(s->b, P | US));
	CHECK_EQ(table(fx, s->l1)[6], entry(s->c, P | US));
	CHECK_EQ(table(fx, s->l2)[5], entry(s->spare, P | RW | US));
	assert_int_equal(vmmu_ft_info(&fx->pv.ft, s->spare, &i), 0);
	CHECK_EQ(i.pinned, 0);
	CHECK_EQ(i.validated, 1);
	CHECK_EQ(i.type_count, 1); /* l2[5] only */
	assert_int_equal(vmmu_ft_info(&fx->pv.ft, s->big, &i), 0);
	CHECK_EQ(i.pinned, 1);
	CHECK_EQ(i.validated, 1);
	CHECK_EQ(i.type_count, 1);
	assert_int_equal(vmmu_ft_info(&fx->pv.ft, s->b, &i), 0);
	CHECK_EQ(i.count, 3); /* allocation, spare[0], l1[5] (d took l1[1]) */
	assert_audit_clean(fx);
}

/*
 * After a call that returned -VMMU_ERESTART with *done = next: the entries
 * before next ran (their results are final), the ones after it did not
 * start, and entry next itself did not run or was preempted.
 */
static void assert_resume_point(struct fixture *fx, uint32_t next)
{
	for (uint32_t k = 0; k < NCALLS; k++) {
		uint64_t r = fx->g.calls[k].result;

		WHERE("resume point %u, entry %u", next, k);
		if (k < next) {
			CHECK_EQ(r, (uint64_t)want_results[k]);
		} else if (k > next) {
			CHECK_EQ(r, UNSET);
		} else if (r != UNSET) {
			CHECK_EQ(r, (uint64_t)(int64_t)-VMMU_ERESTART);
		}
	}
}

/* Run the batch to completion; returns the restarts. */
static unsigned run_to_end(struct fixture *fx)
{
	uint32_t done = 0;
	unsigned restarts = 0;
	int rc;

	while ((rc = vmmu_batch_exec(&fx->pv.v, fx->g.calls, NCALLS, &done,
				     &fx->ops)) == -VMMU_ERESTART) {
		restarts++;
		assert_true(done < NCALLS);
		assert_resume_point(fx, done);
		assert_audit_clean(fx);
		assert_true(restarts < 100000);
	}
	assert_int_equal(rc, 0);
	assert_int_equal(done, NCALLS);
	return restarts;
}

/* --- whole batches ------------------------------------------------------------------------ */

static void test_mixed_batch_gives_each_entry_its_result(void **state)
{
	struct fixture *fx = *state;
	uint64_t flushes;

	build_scene(fx);
	build_batch(fx);
	flushes = fx->pv.tp.flushes;
	fx->queries = 0;
	assert_int_equal(run_to_end(fx), 0);
	assert_batch_outcome(fx);
	/* A refused entry stopped nothing: entry 9 ran after three refusals. */
	assert_int_equal(fx->other_calls, 1);
	/* flush local, invlpg all, update_va_mapping's invlpg, l2[5]'s flush */
	assert_int_equal(fx->pv.tp.flushes, flushes + 4);
	/* should_yield before every entry but the first, and inside */
	assert_true(fx->queries >= NCALLS - 1);
	assert_int_equal(fx->mode_queries, NCALLS + 1);
	/* Nothing but the results changed in the entries that finished. */
	assert_int_equal(fx->g.calls[0].args[0], gaddr(fx->g.u0));
	assert_int_equal(fx->g.calls[0].args[1], 3);
	assert_int_equal(fx->g.calls[1].args[1], 3);
}

/* Preempted at every query of should_yield in turn: one restart each, same end. */
static void test_resume_is_exact_after_preemption_at_every_point(void **state)
{
	struct fixture *fx = *state;
	uint64_t total;

	build_scene(fx);
	build_batch(fx);
	fx->queries = 0;
	assert_int_equal(run_to_end(fx), 0);
	total = fx->queries;
	assert_true(total > 500); /* the L2 validation asks after every entry */
	for (uint64_t k = 1; k <= total + 1; k++) {
		struct fixture *f = fixture_new();

		build_scene(f);
		build_batch(f);
		f->queries = 0;
		f->yield_at = k;
		WHERE("yield at query %llu of %llu", (unsigned long long)k,
		      (unsigned long long)total);
		CHECK_EQ(run_to_end(f), k <= total ? 1 : 0);
		assert_batch_outcome(f);
		fixture_free(f);
	}
}

/* should_yield says yes every time: the batch still finishes, exactly. */
static void test_resume_is_exact_when_preempted_at_every_point(void **state)
{
	struct fixture *fx = *state;
	unsigned restarts;

	build_scene(fx);
	build_batch(fx);
	fx->yield_all = true;
	restarts = run_to_end(fx);
	/* at least one restart per entry boundary and per L2 entry validated */
	assert_true(restarts > NCALLS + 500);
	assert_batch_outcome(fx);
}

/* --- continuations of one entry ---------------------------------------------------- */

/* No done word: progress goes into the entry (array moved on, count reduced). */
static void test_preempted_entry_without_done_word_keeps_progress_in_the_entry(
	void **state)
{
	struct fixture *fx = *state;
	struct vmmu_pv_mmu_update u[3];
	struct vmmu_pv_multicall_entry c[2];
	uint32_t done = 0;

	build_scene(fx);
	for (unsigned i = 0; i < 3; i++) {
		u[i] = (struct vmmu_pv_mmu_update){slot(fx->s.l1, 7 + i),
						   entry(fx->s.b, P | US)};
	}
	set_call(&c[0], VMMU_PV_HC_MMU_UPDATE, gaddr(u), 3, 0, VMMU_PV_DOMID_SELF);
	set_call(&c[1], HC_VERSION, 0, 0, 0, 0);
	fx->queries = 0;
	fx->yield_at = 2; /* inside: before the third request */
	assert_int_equal(vmmu_batch_exec(&fx->pv.v, c, 2, &done, &fx->ops),
			 -VMMU_ERESTART);
	assert_int_equal(done, 0);
	assert_int_equal(c[0].args[0], gaddr(&u[2]));
	assert_int_equal(c[0].args[1], 1 | PREEMPTED);
	assert_int_equal(c[0].result, (uint64_t)(int64_t)-VMMU_ERESTART);
	assert_int_equal(c[1].result, UNSET);
	assert_int_equal(table(fx, fx->s.l1)[8], entry(fx->s.b, P | US));
	assert_int_equal(table(fx, fx->s.l1)[9], 0);
	assert_audit_clean(fx);
	assert_int_equal(vmmu_batch_exec(&fx->pv.v, c, 2, &done, &fx->ops), 0);
	assert_int_equal(done, 2);
	assert_int_equal(c[0].result, 0);
	assert_int_equal(c[1].result, VERSION);
	assert_int_equal(table(fx, fx->s.l1)[9], entry(fx->s.b, P | US));
	assert_audit_clean(fx);
}

/* With a done word it is a sum across continuations, as in Xen. */
static void test_done_word_adds_up_across_continuations(void **state)
{
	struct fixture *fx = *state;
	struct vmmu_pv_mmu_update u[3];
	struct vmmu_pv_multicall_entry c[1];
	uint32_t done = 0, word = 77; /* a new call does not read it */

	build_scene(fx);
	for (unsigned i = 0; i < 3; i++) {
		u[i] = (struct vmmu_pv_mmu_update){slot(fx->s.l1, 7 + i),
						   entry(fx->s.c, P | US)};
	}
	set_call(&c[0], VMMU_PV_HC_MMU_UPDATE, gaddr(u), 3, gaddr(&word),
		 VMMU_PV_DOMID_SELF);
	fx->yield_all = true;
	for (unsigned step = 1; step <= 2; step++) {
		assert_int_equal(vmmu_batch_exec(&fx->pv.v, c, 1, &done, &fx->ops),
				 -VMMU_ERESTART);
		assert_int_equal(done, 0);
		assert_int_equal(word, step);
		assert_int_equal(c[0].args[0], gaddr(&u[step]));
		assert_int_equal(c[0].args[1], (3 - step) | PREEMPTED);
		assert_audit_clean(fx);
	}
	assert_int_equal(vmmu_batch_exec(&fx->pv.v, c, 1, &done, &fx->ops), 0);
	assert_int_equal(done, 1);
	assert_int_equal(word, 3);
	assert_int_equal(c[0].result, 0);
	/* A refusal in a continuation: the sum says where. */
	word = 0;
	u[1].val = entry(FOREIGN, P | US);
	set_call(&c[0], VMMU_PV_HC_MMU_UPDATE, gaddr(u), 3, gaddr(&word),
		 VMMU_PV_DOMID_SELF);
	done = 0;
	assert_int_equal(vmmu_batch_exec(&fx->pv.v, c, 1, &done, &fx->ops),
			 -VMMU_ERESTART);
	assert_int_equal(vmmu_batch_exec(&fx->pv.v, c, 1, &done, &fx->ops), 0);
	assert_int_equal(c[0].result, (uint64_t)(int64_t)-VMMU_EPERM);
	assert_int_equal(word, 1);
	assert_audit_clean(fx);
}

/* The embedder's own hypercall preempted: its rewritten args are kept. */
static void test_other_hook_continuation(void **state)
{
	struct fixture *fx = *state;
	struct vmmu_pv_multicall_entry c[2];
	uint32_t done = 0;

	set_call(&c[0], HC_VERSION, 0, 0, 0, 0);
	set_call(&c[1], HC_SLOW, 2, 0, 0, 0);
	assert_int_equal(vmmu_batch_exec(&fx->pv.v, c, 2, &done, &fx->ops),
			 -VMMU_ERESTART);
	assert_int_equal(done, 1);
	assert_int_equal(c[1].args[0], 1);
	assert_int_equal(vmmu_batch_exec(&fx->pv.v, c, 2, &done, &fx->ops),
			 -VMMU_ERESTART);
	assert_int_equal(c[1].args[0], 0);
	assert_int_equal(done, 1);
	assert_int_equal(vmmu_batch_exec(&fx->pv.v, c, 2, &done, &fx->ops), 0);
	assert_int_equal(done, 2);
	assert_int_equal(c[0].result, VERSION);
	assert_int_equal(c[1].result, 7);
	assert_int_equal(fx->other_calls, 4);
	/* Without the hook: not supported, and the rest still runs. */
	fx->ops.other = NULL;
	set_call(&c[0], HC_VERSION, 0, 0, 0, 0);
	set_call(&c[1], VMMU_PV_HC_MULTICALL, gaddr(c), 2, 0, 0);
	done = 0;
	assert_int_equal(vmmu_batch_exec(&fx->pv.v, c, 2, &done, &fx->ops), 0);
	assert_int_equal(c[0].result, (uint64_t)(int64_t)-VMMU_ENOTSUP);
	assert_int_equal(c[1].result, (uint64_t)(int64_t)-VMMU_EINVAL); /* nested */
}

/* --- stop at the first failure -------------------------------------------------- */

static void test_stop_on_error_applies_nothing_after_the_refused_entry(
	void **state)
{
	struct fixture *fx = *state;
	uint32_t done = 0;

	build_scene(fx);
	build_batch(fx);
	fx->ops.flags = VMMU_BATCH_EXEC_STOP_ON_ERROR;
	assert_int_equal(vmmu_batch_exec(&fx->pv.v, fx->g.calls, NCALLS, &done,
					 &fx->ops),
			 -VMMU_EPERM);
	assert_int_equal(done, 6);
	for (unsigned k = 0; k < NCALLS; k++) {
		WHERE("entry %u", k);
		CHECK_EQ(fx->g.calls[k].result,
			 k <= 6 ? (uint64_t)want_results[k] : UNSET);
	}
	assert_int_equal(fx->g.w6, 0);
	assert_int_equal(fx->g.w7, 0xdead);
	assert_int_equal(table(fx, fx->s.l1)[5], 0);
	assert_audit_clean(fx);
	/* The caller may go on past it: the next refusal stops it again. */
	done = 7;
	assert_int_equal(vmmu_batch_exec(&fx->pv.v, fx->g.calls, NCALLS, &done,
					 &fx->ops),
			 -VMMU_EINVAL);
	assert_int_equal(done, 7);
	assert_int_equal(fx->g.w7, 1);
	assert_int_equal(fx->g.calls[8].result, UNSET);
	done = 8;
	assert_int_equal(vmmu_batch_exec(&fx->pv.v, fx->g.calls, NCALLS, &done,
					 &fx->ops),
			 -VMMU_EPERM);
	done = 9;
	assert_int_equal(vmmu_batch_exec(&fx->pv.v, fx->g.calls, NCALLS, &done,
					 &fx->ops),
			 0);
	assert_int_equal(done, NCALLS);
	assert_batch_outcome(fx);
}

/* A preempted entry is no failure: the stop flag resumes it. */
static void test_stop_on_error_continues_preempted_entries(void **state)
{
	struct fixture *fx = *state;
	unsigned restarts;

	build_scene(fx);
	build_batch(fx);
	fx->g.u6[0].val = 0; /* no refusal before entry 7 */
	fx->g.x7[1] = ext(VMMU_PV_MMUEXT_TLB_FLUSH_LOCAL, 0);
	fx->g.u9[0].val = entry(FOREIGN, P | US);
	fx->ops.flags = VMMU_BATCH_EXEC_STOP_ON_ERROR;
	fx->yield_all = true;
	uint32_t done = 0;
	int rc;

	restarts = 0;
	while ((rc = vmmu_batch_exec(&fx->pv.v, fx->g.calls, NCALLS, &done,
				     &fx->ops)) == -VMMU_ERESTART) {
		restarts++;
		assert_audit_clean(fx);
	}
	assert_int_equal(rc, -VMMU_EPERM); /* entry 8, otherdomain */
	assert_int_equal(done, 8);
	assert_true(restarts > 500);
	assert_int_equal(fx->g.calls[7].result, 0);
	assert_int_equal(fx->g.w7, 2);
	assert_int_equal(fx->g.calls[9].result, UNSET);
	assert_audit_clean(fx);
}

/* --- guest memory and arguments ---------------------------------------------------- */

static void test_inaccessible_guest_memory_fails_only_that_entry(void **state)
{
	struct fixture *fx = *state;
	struct vmmu_pv_mmu_update u = {0, 0};
	struct vmmu_pv_multicall_entry c[7];
	uint32_t done = 0, word = 5;
	uint64_t bad = gaddr(bad_page);

	build_scene(fx);
	u = (struct vmmu_pv_mmu_update){slot(fx->s.l1, 7), entry(fx->s.b, P | US)};
	set_call(&c[0], VMMU_PV_HC_MMU_UPDATE, bad, 1, 0, VMMU_PV_DOMID_SELF);
	set_call(&c[1], VMMU_PV_HC_MMUEXT_OP, gaddr(&u), 1, bad + 8,
		 VMMU_PV_DOMID_SELF);
	/* the array runs into the bad page */
	set_call(&c[2], VMMU_PV_HC_MMU_UPDATE, bad - 16, 2, 0, VMMU_PV_DOMID_SELF);
	set_call(&c[3], VMMU_PV_HC_MMU_UPDATE, gaddr(&u) + 4, 1, 0,
		 VMMU_PV_DOMID_SELF); /* misaligned */
	/* an address range that wraps */
	set_call(&c[4], VMMU_PV_HC_MMU_UPDATE, UINT64_MAX - 15, 2, 0,
		 VMMU_PV_DOMID_SELF);
	/* a continued entry the guest rewrote: still bounded by guest_ptr */
	set_call(&c[5], VMMU_PV_HC_MMU_UPDATE, bad, 0x7fffffffu | PREEMPTED,
		 gaddr(&word), VMMU_PV_DOMID_SELF);
	set_call(&c[6], VMMU_PV_HC_MMU_UPDATE, gaddr(&u), 1, gaddr(&word),
		 VMMU_PV_DOMID_SELF);
	assert_int_equal(vmmu_batch_exec(&fx->pv.v, c, 7, &done, &fx->ops), 0);
	for (unsigned k = 0; k < 6; k++) {
		WHERE("entry %u", k);
		CHECK_EQ(c[k].result, (uint64_t)(int64_t)-VMMU_EFAULT);
	}
	assert_int_equal(c[6].result, 0);
	assert_int_equal(word, 1); /* entry 6 is a new call: 5 was not read */
	assert_int_equal(table(fx, fx->s.l1)[7], entry(fx->s.b, P | US));
	assert_audit_clean(fx);
}

static void test_out_of_range_arguments_are_einval(void **state)
{
	struct fixture *fx = *state;
	struct vmmu_pv_mmu_update u;
	struct vmmu_pv_multicall_entry c[5];
	uint32_t done = 0;

	build_scene(fx);
	u = (struct vmmu_pv_mmu_update){slot(fx->s.l1, 7), entry(fx->s.b, P | US)};
	set_call(&c[0], VMMU_PV_HC_MMU_UPDATE, gaddr(&u), 1ull << 32, 0,
		 VMMU_PV_DOMID_SELF);
	set_call(&c[1], VMMU_PV_HC_MMU_UPDATE, gaddr(&u), 1, 0,
		 (1ull << 32) | VMMU_PV_DOMID_SELF);
	set_call(&c[2], VMMU_PV_HC_UPDATE_VA_MAPPING_OTHERDOMAIN, va(7),
		 entry(fx->s.b, P | US), 0, 0x10000u | DOM);
	set_call(&c[3], VMMU_PV_HC_MMUEXT_OP, gaddr(&u), 1ull << 33, 0,
		 VMMU_PV_DOMID_SELF);
	/* the same, in range: it works */
	set_call(&c[4], VMMU_PV_HC_UPDATE_VA_MAPPING_OTHERDOMAIN, va(7),
		 entry(fx->s.b, P | US), 0, DOM);
	assert_int_equal(vmmu_batch_exec(&fx->pv.v, c, 5, &done, &fx->ops), 0);
	for (unsigned k = 0; k < 4; k++) {
		WHERE("entry %u", k);
		CHECK_EQ(c[k].result, (uint64_t)(int64_t)-VMMU_EINVAL);
	}
	assert_int_equal(c[4].result, 0);
	assert_int_equal(table(fx, fx->s.l1)[7], entry(fx->s.b, P | US));
	assert_audit_clean(fx);
}

static void test_bad_calls_are_refused_with_nothing_done(void **state)
{
	struct fixture *fx = *state;
	struct vmmu_pv_multicall_entry c[1];
	struct vmmu_batch_exec_ops no_ptr = fx->ops;
	uint32_t done = 0;

	no_ptr.guest_ptr = NULL;
	set_call(&c[0], HC_VERSION, 0, 0, 0, 0);
	assert_int_equal(vmmu_batch_exec(NULL, c, 1, &done, &fx->ops), -VMMU_EINVAL);
	assert_int_equal(vmmu_batch_exec(&fx->pv.v, c, 1, NULL, &fx->ops),
			 -VMMU_EINVAL);
	assert_int_equal(vmmu_batch_exec(&fx->pv.v, c, 1, &done, NULL), -VMMU_EINVAL);
	assert_int_equal(vmmu_batch_exec(&fx->pv.v, c, 1, &done, &no_ptr),
			 -VMMU_EINVAL);
	assert_int_equal(vmmu_batch_exec(&fx->pv.v, NULL, 1, &done, &fx->ops),
			 -VMMU_EINVAL);
	assert_int_equal(c[0].result, UNSET);
	assert_int_equal(done, 0);
	/* An empty multicall is fine, and asks nothing. */
	assert_int_equal(vmmu_batch_exec(&fx->pv.v, NULL, 0, &done, &fx->ops), 0);
	assert_int_equal(done, 0);
	assert_int_equal(fx->mode_queries + fx->queries + fx->other_calls, 0);
	/* Without the kernel_mode hook the guest counts as in kernel mode. */
	fx->ops.kernel_mode = NULL;
	fx->user = true;
	assert_int_equal(vmmu_batch_exec(&fx->pv.v, c, 1, &done, &fx->ops), 0);
	assert_int_equal(c[0].result, VERSION);
}

/* --- the advisories -------------------------------------------------------------------- */

/*
 * XSA-212: a continuation's progress counter came from the guest and only
 * the array base was checked. Here the resumed index is checked against n
 * before anything is read, and an entry's own progress is a sum, never
 * an index (test_inaccessible_guest_memory_fails_only_that_entry).
 */
static void test_xsa212_resumed_index_is_bounds_checked(void **state)
{
	struct fixture *fx = *state;
	uint32_t bad_done[] = {NCALLS + 1, NCALLS + 1000, UINT32_MAX,
			       VMMU_PV_MMU_UPDATE_PREEMPTED};
	uint32_t done;

	build_scene(fx);
	build_batch(fx);
	for (unsigned i = 0; i < sizeof(bad_done) / sizeof(bad_done[0]); i++) {
		done = bad_done[i];
		WHERE("done %u", done);
		CHECK_EQ(vmmu_batch_exec(&fx->pv.v, fx->g.calls, NCALLS, &done,
					 &fx->ops),
			 (uint64_t)(int64_t)-VMMU_EINVAL);
		CHECK_EQ(done, bad_done[i]);
	}
	/* Nothing was read or run. */
	assert_int_equal(fx->guest_ptr_calls + fx->queries + fx->mode_queries +
				 fx->other_calls,
			 0);
	for (unsigned k = 0; k < NCALLS; k++) {
		assert_int_equal(fx->g.calls[k].result, UNSET);
	}
	/* At the end: nothing to do. */
	done = NCALLS;
	assert_int_equal(vmmu_batch_exec(&fx->pv.v, fx->g.calls, NCALLS, &done,
					 &fx->ops),
			 0);
	assert_int_equal(done, NCALLS);
	assert_int_equal(fx->g.calls[NCALLS - 1].result, UNSET);
	assert_audit_clean(fx);
}

/*
 * XSA-213: an iret inside a multicall returned the guest to user mode
 * and the entries after it ran with the guest kernel's rights. Xen's fix
 * stops the multicall after any entry that leaves kernel mode; here the
 * executor returns VMMU_BATCH_EXEC_LEFT_KERNEL with *done past that entry,
 * runs nothing while the vCPU is in user mode, and continues only once
 * it is back in kernel mode (if the embedder wants the rest at all).
 */
static void test_xsa213_privilege_change_stops_the_multicall(void **state)
{
	struct fixture *fx = *state;
	struct vmmu_pv_mmu_update u[2];
	struct vmmu_pv_multicall_entry c[4];
	uint32_t done = 0;

	build_scene(fx);
	u[0] = (struct vmmu_pv_mmu_update){slot(fx->s.l1, 7), entry(fx->s.b, P | US)};
	u[1] = (struct vmmu_pv_mmu_update){slot(fx->s.l1, 8), entry(fx->s.c, P | US)};
	set_call(&c[0], VMMU_PV_HC_MMU_UPDATE, gaddr(&u[0]), 1, 0, VMMU_PV_DOMID_SELF);
	set_call(&c[1], HC_IRET, 0, 0, 0, 0);
	set_call(&c[2], VMMU_PV_HC_MMU_UPDATE, gaddr(&u[1]), 1, 0, VMMU_PV_DOMID_SELF);
	set_call(&c[3], HC_VERSION, 0, 0, 0, 0);
	assert_int_equal(vmmu_batch_exec(&fx->pv.v, c, 4, &done, &fx->ops),
			 VMMU_BATCH_EXEC_LEFT_KERNEL);
	assert_int_equal(done, 2);
	assert_int_equal(c[0].result, 0);
	assert_int_equal(c[1].result, 0);
	assert_int_equal(c[2].result, UNSET);
	assert_int_equal(c[3].result, UNSET);
	assert_int_equal(table(fx, fx->s.l1)[7], entry(fx->s.b, P | US));
	assert_int_equal(table(fx, fx->s.l1)[8], 0);
	assert_int_equal(fx->other_calls, 1);
	assert_audit_clean(fx);
	/* Issued again from user mode: refused, nothing runs. */
	assert_int_equal(vmmu_batch_exec(&fx->pv.v, c, 4, &done, &fx->ops),
			 -VMMU_EPERM);
	assert_int_equal(done, 2);
	assert_int_equal(c[2].result, UNSET);
	assert_int_equal(table(fx, fx->s.l1)[8], 0);
	/* Back in kernel mode the rest is a continuation. */
	fx->user = false;
	assert_int_equal(vmmu_batch_exec(&fx->pv.v, c, 4, &done, &fx->ops), 0);
	assert_int_equal(done, 4);
	assert_int_equal(c[2].result, 0);
	assert_int_equal(c[3].result, VERSION);
	assert_int_equal(table(fx, fx->s.l1)[8], entry(fx->s.c, P | US));
	assert_audit_clean(fx);
}

/* The mode is asked after every kind of entry; the last entry leaving is no stop. */
static void test_xsa213_mode_is_checked_after_every_entry(void **state)
{
	struct fixture *fx = *state;

	build_scene(fx);
	for (uint64_t q = 2; q <= NCALLS + 1; q++) {
		struct fixture *f = fixture_new();
		uint32_t done = 0;
		int rc;

		build_scene(f);
		build_batch(f);
		f->user_after = q; /* query 1 is before entry 0 */
		rc = vmmu_batch_exec(&f->pv.v, f->g.calls, NCALLS, &done, &f->ops);
		WHERE("leaves after entry %llu", (unsigned long long)(q - 2));
		CHECK_EQ(rc, q - 1 < NCALLS ? VMMU_BATCH_EXEC_LEFT_KERNEL : 0);
		CHECK_EQ(done, q - 1);
		for (uint32_t k = 0; k < NCALLS; k++) {
			CHECK_EQ(f->g.calls[k].result,
				 k < done ? (uint64_t)want_results[k] : UNSET);
		}
		assert_audit_clean(f);
		fixture_free(f);
	}
	/* Not in kernel mode from the start: nothing at all. */
	fx->user = true;
	build_batch(fx);
	uint32_t done = 0;
	assert_int_equal(vmmu_batch_exec(&fx->pv.v, fx->g.calls, NCALLS, &done,
					 &fx->ops),
			 -VMMU_EPERM);
	assert_int_equal(done, 0);
	assert_int_equal(fx->g.calls[0].result, UNSET);
	assert_int_equal(fx->guest_ptr_calls, 0);
}

/* --- one direct hypercall ------------------------------------------------------------- */

static void test_exec_call_runs_one_hypercall(void **state)
{
	struct fixture *fx = *state;
	struct vmmu_pv_mmu_update u[2];
	struct vmmu_pv_multicall_entry e;
	uint32_t word = 0;

	build_scene(fx);
	u[0] = (struct vmmu_pv_mmu_update){slot(fx->s.l1, 7), entry(fx->s.b, P | US)};
	u[1] = (struct vmmu_pv_mmu_update){slot(fx->s.l1, 8), entry(fx->s.b, P | US)};
	set_call(&e, VMMU_PV_HC_MMU_UPDATE, gaddr(u), 2, gaddr(&word),
		 VMMU_PV_DOMID_SELF);
	fx->yield_at = 1;
	assert_int_equal(vmmu_batch_exec_call(&fx->pv.v, &e, &fx->ops),
			 -VMMU_ERESTART);
	assert_int_equal(e.args[0], gaddr(&u[1]));
	assert_int_equal(e.args[1], 1 | PREEMPTED);
	assert_int_equal(word, 1);
	assert_int_equal(vmmu_batch_exec_call(&fx->pv.v, &e, &fx->ops), 0);
	assert_int_equal(e.result, 0);
	assert_int_equal(word, 2);
	assert_int_equal(table(fx, fx->s.l1)[8], entry(fx->s.b, P | US));
	set_call(&e, VMMU_PV_HC_UPDATE_VA_MAPPING, va(8), 0, 0, 0);
	assert_int_equal(vmmu_batch_exec_call(&fx->pv.v, &e, &fx->ops), 0);
	assert_int_equal(table(fx, fx->s.l1)[8], 0);
	set_call(&e, VMMU_PV_HC_UPDATE_VA_MAPPING, va(8) | (1ull << 47), 0, 0, 0);
	assert_int_equal(vmmu_batch_exec_call(&fx->pv.v, &e, &fx->ops), -VMMU_EINVAL);
	set_call(&e, VMMU_PV_HC_MULTICALL, 0, 0, 0, 0);
	assert_int_equal(vmmu_batch_exec_call(&fx->pv.v, &e, &fx->ops), -VMMU_EINVAL);
	assert_int_equal(e.result, (uint64_t)(int64_t)-VMMU_EINVAL);
	set_call(&e, HC_VERSION, 0, 0, 0, 0);
	assert_int_equal(vmmu_batch_exec_call(&fx->pv.v, &e, &fx->ops), VERSION);
	assert_int_equal(vmmu_batch_exec_call(NULL, &e, &fx->ops), -VMMU_EINVAL);
	assert_int_equal(vmmu_batch_exec_call(&fx->pv.v, NULL, &fx->ops),
			 -VMMU_EINVAL);
	assert_int_equal(vmmu_batch_exec_call(&fx->pv.v, &e, NULL), -VMMU_EINVAL);
	assert_audit_clean(fx);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_mixed_batch_gives_each_entry_its_result),
		T(test_resume_is_exact_after_preemption_at_every_point),
		T(test_resume_is_exact_when_preempted_at_every_point),
		T(test_preempted_entry_without_done_word_keeps_progress_in_the_entry),
		T(test_done_word_adds_up_across_continuations),
		T(test_other_hook_continuation),
		T(test_stop_on_error_applies_nothing_after_the_refused_entry),
		T(test_stop_on_error_continues_preempted_entries),
		T(test_inaccessible_guest_memory_fails_only_that_entry),
		T(test_out_of_range_arguments_are_einval),
		T(test_bad_calls_are_refused_with_nothing_done),
		T(test_xsa212_resumed_index_is_bounds_checked),
		T(test_xsa213_privilege_change_stops_the_multicall),
		T(test_xsa213_mode_is_checked_after_every_entry),
		T(test_exec_call_runs_one_hypercall),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
