/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the cross-CPU inbox and shootdowns (mpsc.h), single
 * threaded (tests/stress/mpsc_race.c races them): layout (one inbox per
 * cache line, no false sharing in an array), empty takes, push's "was
 * empty" answer, FIFO order over interleaved producers, every node taken
 * exactly once, nodes reused after a take; shootdown argument checks,
 * completion only after every target's acknowledgement, apply seeing the
 * request's fields with the draining CPU's context, post by mask (targets,
 * kicks only into empty inboxes, nothing posted on a bad mask), drains in
 * post order, posting to oneself, and the wait helper draining its own
 * inbox: two CPUs that shoot each other down, played in one thread, both
 * finish (a wait that did not drain would spin forever; the relax hook
 * stops it and fails the test).
 */
#include <string.h>

#include <vmmu/mpsc.h>

#include "unit_check.h"

/* A test request: an inbox node plus what it carries. */
struct item {
	struct vmmu_inbox_node link;
	unsigned producer, seq;
};

#define NITEMS 64u

/* --- inbox ----------------------------------------------------------------- */

static void test_layout(void **state)
{
	static struct vmmu_inbox ib[4];
	static struct vmmu_shootdown_node nodes[3];
	struct vmmu_shootdown req;

	(void)state;
	CHECK_EQ(sizeof(struct vmmu_inbox), 64);
	CHECK_EQ(_Alignof(struct vmmu_inbox), 64);
	CHECK_EQ(sizeof(ib), 4 * 64);
	for (unsigned i = 0; i < 4; i++) {
		/* Each inbox starts its own line: neighbours share none. */
		CHECK_EQ((uintptr_t)&ib[i] % 64, 0);
		CHECK_EQ((uintptr_t)&ib[i] / 64, (uintptr_t)&ib[0] / 64 + i);
	}
	CHECK_EQ(sizeof(nodes), 3 * 64);
	CHECK_EQ((uintptr_t)&nodes[1] % 64, 0);
	CHECK_EQ((uintptr_t)&req % 64, 0);
}

static void test_empty_take(void **state)
{
	struct vmmu_inbox ib;

	(void)state;
	memset(&ib, 0xa5, sizeof(ib));
	vmmu_inbox_init(&ib);
	assert_true(vmmu_inbox_empty_mpsc(&ib));
	assert_null(vmmu_inbox_take_mpsc(&ib));
	assert_null(vmmu_inbox_take_mpsc(&ib));
	assert_true(vmmu_inbox_empty_mpsc(&ib));
}

static void test_push_reports_empty(void **state)
{
	struct vmmu_inbox ib;
	struct item it[3];

	(void)state;
	vmmu_inbox_init(&ib);
	assert_true(vmmu_inbox_push_mpsc(&ib, &it[0].link));
	assert_false(vmmu_inbox_empty_mpsc(&ib));
	assert_false(vmmu_inbox_push_mpsc(&ib, &it[1].link));
	assert_false(vmmu_inbox_push_mpsc(&ib, &it[2].link));
	assert_ptr_equal(vmmu_inbox_take_mpsc(&ib), &it[0].link);
	assert_true(vmmu_inbox_empty_mpsc(&ib));
	/* Taken: the next push starts a new batch. */
	assert_true(vmmu_inbox_push_mpsc(&ib, &it[1].link));
	assert_ptr_equal(vmmu_inbox_take_mpsc(&ib), &it[1].link);
	assert_null(it[1].link.next);
}

/* Take everything and check it is exactly want[0..n), in that order. */
static void expect_chain(struct vmmu_inbox *ib, struct item *const *want,
			 unsigned n)
{
	struct vmmu_inbox_node *node = vmmu_inbox_take_mpsc(ib);
	unsigned i = 0;

	for (; node != NULL; node = node->next, i++) {
		WHERE("position %u", i);
		assert_true(i < n);
		assert_ptr_equal(node, &want[i]->link);
	}
	CHECK_EQ(i, n);
	assert_true(vmmu_inbox_empty_mpsc(ib));
}

static void test_fifo_single_producer(void **state)
{
	static struct item it[NITEMS];
	struct item *want[NITEMS];
	struct vmmu_inbox ib;

	(void)state;
	vmmu_inbox_init(&ib);
	for (unsigned i = 0; i < NITEMS; i++) {
		it[i].seq = i;
		want[i] = &it[i];
		vmmu_inbox_push_mpsc(&ib, &it[i].link);
	}
	expect_chain(&ib, want, NITEMS);
}

/*
 * Three producers interleaved in a fixed pseudo-random order: the take
 * gives the global push order, hence each producer's own order.
 */
static void test_fifo_interleaved(void **state)
{
	static struct item it[3][NITEMS];
	struct item *want[3 * NITEMS];
	unsigned next[3] = {0, 0, 0}, n = 0;
	uint32_t x = 12345;
	struct vmmu_inbox ib;

	(void)state;
	vmmu_inbox_init(&ib);
	while (n < 3 * NITEMS) {
		unsigned p;

		x = x * 1103515245u + 12345u;
		p = (x >> 16) % 3;
		if (next[p] == NITEMS) {
			continue;
		}
		it[p][next[p]].producer = p;
		it[p][next[p]].seq = next[p];
		want[n++] = &it[p][next[p]];
		vmmu_inbox_push_mpsc(&ib, &it[p][next[p]].link);
		next[p]++;
	}
	expect_chain(&ib, want, n);
}

/* Several takes: each node exactly once, nodes reused after their take. */
static void test_takes_and_reuse(void **state)
{
	static struct item it[NITEMS];
	unsigned seen[NITEMS];
	struct vmmu_inbox ib;

	(void)state;
	memset(seen, 0, sizeof(seen));
	vmmu_inbox_init(&ib);
	for (unsigned round = 0; round < 3; round++) {
		unsigned pushed = 0;

		while (pushed < NITEMS) {
			unsigned batch = 1 + (pushed * 7 + round) % 11;

			for (unsigned k = 0; k < batch && pushed < NITEMS; k++) {
				it[pushed].seq = pushed;
				vmmu_inbox_push_mpsc(&ib, &it[pushed++].link);
			}
			for (struct vmmu_inbox_node *n = vmmu_inbox_take_mpsc(&ib);
			     n != NULL;) {
				/* Read next first: the node may be reused. */
				struct vmmu_inbox_node *next = n->next;

				seen[((struct item *)n)->seq]++;
				n = next;
			}
		}
		assert_null(vmmu_inbox_take_mpsc(&ib));
	}
	for (unsigned i = 0; i < NITEMS; i++) {
		WHERE("item %u", i);
		CHECK_EQ(seen[i], 3);
	}
}

/* --- shootdowns ------------------------------------------------------------ */

#define NCPU 8u

/* One simulated CPU; the ctx of the ops. */
struct cpu {
	unsigned id;
	unsigned applied;
	unsigned early; /* requests already done when applied */
	const struct vmmu_shootdown *last[16];
};

struct world {
	struct vmmu_inbox inbox[NCPU];
	struct vmmu_shootdown_node nodes[NCPU][NCPU]; /* [initiator][target] */
	struct cpu cpu[NCPU];
	unsigned kicks[NCPU];
	unsigned relaxes;
	unsigned relax_limit;
	/* test_mutual: what "the other CPU" does in relax */
	struct vmmu_shootdown *other_req;
	unsigned other;
};

static struct world g_w;

static void rec_apply(void *ctx, const struct vmmu_shootdown *req)
{
	struct cpu *c = ctx;

	/* The acknowledgement comes after the flush, never before. */
	if (vmmu_shootdown_done(req)) {
		c->early++;
	}
	if (c->applied < 16) {
		c->last[c->applied] = req;
	}
	c->applied++;
}

static void rec_kick(void *ctx, uint32_t cpu)
{
	(void)ctx;
	assert_true(cpu < NCPU);
	g_w.kicks[cpu]++;
}

static void rec_relax(void *ctx)
{
	(void)ctx;
	if (++g_w.relaxes > g_w.relax_limit) {
		fail_msg("wait spun %u times without completing", g_w.relaxes);
	}
}

static const struct vmmu_shootdown_ops k_ops = {
	.apply = rec_apply,
	.kick = rec_kick,
	.relax = rec_relax,
};

static int world_setup(void **state)
{
	(void)state;
	memset(&g_w, 0, sizeof(g_w));
	for (unsigned i = 0; i < NCPU; i++) {
		vmmu_inbox_init(&g_w.inbox[i]);
		g_w.cpu[i].id = i;
	}
	g_w.relax_limit = 1000;
	return 0;
}

static unsigned drain(unsigned cpu)
{
	return vmmu_shootdown_drain_mpsc(&g_w.inbox[cpu], &k_ops, &g_w.cpu[cpu]);
}

static void test_init_checks(void **state)
{
	struct vmmu_shootdown req;
	int marker;

	(void)state;
	memset(&req, 0x5a, sizeof(req));
	assert_int_equal(vmmu_shootdown_init(&req, 0, 0, 4096, NULL), -VMMU_EINVAL);
	assert_int_equal(vmmu_shootdown_init(&req, VMMU_TLB_ALL + 1, 0, 4096, NULL),
			 -VMMU_EINVAL);
	assert_int_equal(vmmu_shootdown_init(&req, VMMU_TLB_RANGE, ~0ull - 4095,
					     8192, NULL),
			 -VMMU_EINVAL);
	/* Refused: unchanged. */
	CHECK_EQ(req.scope, 0x5a5a5a5a);
	/* The last page of the address space is fine. */
	assert_int_equal(vmmu_shootdown_init(&req, VMMU_TLB_RANGE, ~0ull - 4095,
					     4096, &marker),
			 0);
	CHECK_EQ(req.scope, VMMU_TLB_RANGE);
	CHECK_EQ(req.addr, ~0ull - 4095);
	CHECK_EQ(req.size, 4096);
	assert_ptr_equal(req.arg, &marker);
	assert_true(vmmu_shootdown_done(&req)); /* no targets yet */
	/* Non-range scopes carry no range. */
	assert_int_equal(vmmu_shootdown_init(&req, VMMU_TLB_ALL_NONGLOBAL, 1, 2, NULL), 0);
	CHECK_EQ(req.addr, 0);
	CHECK_EQ(req.size, 0);
	assert_int_equal(vmmu_shootdown_init(&req, VMMU_TLB_ALL, 0, 0, NULL), 0);
}

/* N targets: done only after the Nth acknowledgement. */
static void test_done_after_all_acks(void **state)
{
	struct vmmu_shootdown req;
	const unsigned n = 5;

	(void)state;
	assert_int_equal(vmmu_shootdown_init(&req, VMMU_TLB_RANGE, 0x7000, 0x3000, NULL), 0);
	for (unsigned t = 1; t <= n; t++) {
		assert_true(vmmu_shootdown_post_mpsc(&req, &g_w.inbox[t],
						     &g_w.nodes[0][t]));
	}
	for (unsigned t = 1; t <= n; t++) {
		WHERE("target %u", t);
		assert_false(vmmu_shootdown_done(&req));
		CHECK_EQ(drain(t), 1);
		CHECK_EQ(g_w.cpu[t].applied, 1);
		assert_ptr_equal(g_w.cpu[t].last[0], &req);
		/* A second drain finds nothing. */
		CHECK_EQ(drain(t), 0);
	}
	assert_true(vmmu_shootdown_done(&req));
	for (unsigned t = 0; t < NCPU; t++) {
		CHECK_EQ(g_w.cpu[t].early, 0);
	}
	/* Nobody else was asked. */
	CHECK_EQ(g_w.cpu[0].applied, 0);
	CHECK_EQ(g_w.cpu[6].applied, 0);
}

/* Fields seen by apply; drains apply in post order. */
static const struct vmmu_shootdown *g_seen_req;
static uint64_t g_seen_addr, g_seen_size;
static uint32_t g_seen_scope;
static unsigned g_seen_cpu;

static void check_apply(void *ctx, const struct vmmu_shootdown *req)
{
	g_seen_req = req;
	g_seen_scope = req->scope;
	g_seen_addr = req->addr;
	g_seen_size = req->size;
	g_seen_cpu = ((struct cpu *)ctx)->id;
	rec_apply(ctx, req);
}

static void test_apply_sees_request(void **state)
{
	static const struct vmmu_shootdown_ops ops = {.apply = check_apply};
	struct vmmu_shootdown r1, r2, r3;

	(void)state;
	assert_int_equal(vmmu_shootdown_init(&r1, VMMU_TLB_RANGE, 0x1000, 0x2000, NULL), 0);
	assert_int_equal(vmmu_shootdown_init(&r2, VMMU_TLB_ALL, 0, 0, NULL), 0);
	assert_int_equal(vmmu_shootdown_init(&r3, VMMU_TLB_RANGE, 0x40000000, 0x200000, NULL), 0);
	/* Three initiators post to CPU 3. */
	assert_true(vmmu_shootdown_post_mpsc(&r1, &g_w.inbox[3], &g_w.nodes[0][3]));
	assert_false(vmmu_shootdown_post_mpsc(&r2, &g_w.inbox[3], &g_w.nodes[1][3]));
	assert_false(vmmu_shootdown_post_mpsc(&r3, &g_w.inbox[3], &g_w.nodes[2][3]));
	CHECK_EQ(vmmu_shootdown_drain_mpsc(&g_w.inbox[3], &ops, &g_w.cpu[3]), 3);
	CHECK_EQ(g_w.cpu[3].applied, 3);
	assert_ptr_equal(g_w.cpu[3].last[0], &r1);
	assert_ptr_equal(g_w.cpu[3].last[1], &r2);
	assert_ptr_equal(g_w.cpu[3].last[2], &r3);
	assert_ptr_equal(g_seen_req, &r3);
	CHECK_EQ(g_seen_scope, VMMU_TLB_RANGE);
	CHECK_EQ(g_seen_addr, 0x40000000);
	CHECK_EQ(g_seen_size, 0x200000);
	CHECK_EQ(g_seen_cpu, 3);
	assert_true(vmmu_shootdown_done(&r1));
	assert_true(vmmu_shootdown_done(&r2));
	assert_true(vmmu_shootdown_done(&r3));
}

static void test_post_mask(void **state)
{
	struct vmmu_shootdown r1, r2;
	uint64_t mask = (1u << 0) | (1u << 2) | (1u << 5);
	uint64_t mask2 = (1u << 2) | (1u << 7);

	(void)state;
	assert_int_equal(vmmu_shootdown_init(&r1, VMMU_TLB_ALL_NONGLOBAL, 0, 0, NULL), 0);
	assert_int_equal(vmmu_shootdown_init(&r2, VMMU_TLB_ALL_NONGLOBAL, 0, 0, NULL), 0);
	assert_int_equal(vmmu_shootdown_post_mask_mpsc(&r1, g_w.inbox, g_w.nodes[1],
						       NCPU, &mask, &k_ops, NULL),
			 3);
	for (unsigned c = 0; c < NCPU; c++) {
		WHERE("cpu %u", c);
		CHECK_EQ(g_w.kicks[c], (mask >> c) & 1);
		CHECK_EQ(vmmu_inbox_empty_mpsc(&g_w.inbox[c]), !((mask >> c) & 1));
	}
	/* CPU 2 already has a wake-up due: only CPU 7 is kicked. */
	assert_int_equal(vmmu_shootdown_post_mask_mpsc(&r2, g_w.inbox, g_w.nodes[4],
						       NCPU, &mask2, &k_ops, NULL),
			 2);
	CHECK_EQ(g_w.kicks[2], 1);
	CHECK_EQ(g_w.kicks[7], 1);
	for (unsigned c = 0; c < NCPU; c++) {
		drain(c);
	}
	CHECK_EQ(g_w.cpu[2].applied, 2);
	assert_ptr_equal(g_w.cpu[2].last[0], &r1);
	assert_ptr_equal(g_w.cpu[2].last[1], &r2);
	CHECK_EQ(g_w.cpu[0].applied + g_w.cpu[5].applied + g_w.cpu[7].applied, 3);
	CHECK_EQ(g_w.cpu[1].applied + g_w.cpu[3].applied + g_w.cpu[4].applied +
			 g_w.cpu[6].applied,
		 0);
	assert_true(vmmu_shootdown_done(&r1));
	assert_true(vmmu_shootdown_done(&r2));
}

static void test_post_mask_all_and_errors(void **state)
{
	static const struct vmmu_shootdown_ops no_kick = {.apply = rec_apply};
	struct vmmu_shootdown req;
	uint64_t bad = 1ull << NCPU; /* a CPU that does not exist */
	uint64_t wide[2] = {~0ull, 1}; /* 65 CPUs */

	(void)state;
	assert_int_equal(vmmu_shootdown_init(&req, VMMU_TLB_ALL, 0, 0, NULL), 0);
	assert_int_equal(vmmu_shootdown_post_mask_mpsc(&req, g_w.inbox, g_w.nodes[0],
						       NCPU, &bad, &k_ops, NULL),
			 -VMMU_EINVAL);
	assert_int_equal(vmmu_shootdown_post_mask_mpsc(&req, g_w.inbox, g_w.nodes[0],
						       0, NULL, &k_ops, NULL),
			 -VMMU_EINVAL);
	assert_int_equal(vmmu_shootdown_post_mask_mpsc(&req, NULL, g_w.nodes[0],
						       NCPU, NULL, &k_ops, NULL),
			 -VMMU_EINVAL);
	assert_int_equal(vmmu_shootdown_post_mask_mpsc(&req, g_w.inbox, NULL,
						       NCPU, NULL, &k_ops, NULL),
			 -VMMU_EINVAL);
	assert_int_equal(vmmu_shootdown_post_mask_mpsc(&req, g_w.inbox, g_w.nodes[0],
						       NCPU, NULL, NULL, NULL),
			 -VMMU_EINVAL);
	/* 65 CPUs want two mask words; the second's bit 1 is CPU 65. */
	wide[1] = 2;
	assert_int_equal(vmmu_shootdown_post_mask_mpsc(&req, g_w.inbox, g_w.nodes[0],
						       65, wide, &k_ops, NULL),
			 -VMMU_EINVAL);
	/* Refused: nothing posted, nobody kicked, nothing pending. */
	assert_true(vmmu_shootdown_done(&req));
	for (unsigned c = 0; c < NCPU; c++) {
		WHERE("cpu %u", c);
		assert_true(vmmu_inbox_empty_mpsc(&g_w.inbox[c]));
		CHECK_EQ(g_w.kicks[c], 0);
	}
	/* NULL mask: every CPU, kick optional. */
	assert_int_equal(vmmu_shootdown_post_mask_mpsc(&req, g_w.inbox, g_w.nodes[0],
						       NCPU, NULL, &no_kick, NULL),
			 NCPU);
	for (unsigned c = 0; c < NCPU; c++) {
		assert_false(vmmu_shootdown_done(&req));
		CHECK_EQ(drain(c), 1);
	}
	assert_true(vmmu_shootdown_done(&req));
}

/* wait returns at once when done, and spins through relax otherwise. */
static unsigned g_release_after;

static void relax_then_drain_2(void *ctx)
{
	(void)ctx;
	if (++g_w.relaxes == g_release_after) {
		CHECK_EQ(drain(2), 1);
	}
	assert_true(g_w.relaxes <= g_release_after);
}

static void test_wait_relaxes(void **state)
{
	static const struct vmmu_shootdown_ops ops = {
		.apply = rec_apply,
		.relax = relax_then_drain_2,
	};
	struct vmmu_shootdown req;

	(void)state;
	assert_int_equal(vmmu_shootdown_init(&req, VMMU_TLB_ALL, 0, 0, NULL), 0);
	vmmu_shootdown_wait_mpsc(&g_w.inbox[0], &req, &ops, &g_w.cpu[0]);
	CHECK_EQ(g_w.relaxes, 0);

	g_release_after = 7;
	vmmu_shootdown_post_mpsc(&req, &g_w.inbox[2], &g_w.nodes[0][2]);
	vmmu_shootdown_wait_mpsc(&g_w.inbox[0], &req, &ops, &g_w.cpu[0]);
	assert_true(vmmu_shootdown_done(&req));
	CHECK_EQ(g_w.relaxes, 7);
	CHECK_EQ(g_w.cpu[2].applied, 1);
	CHECK_EQ(g_w.cpu[0].applied, 0);
}

/* Posting to oneself: the wait applies it on this CPU. */
static void test_post_to_self(void **state)
{
	struct vmmu_shootdown req;
	uint64_t mask = 1u << 1;

	(void)state;
	assert_int_equal(vmmu_shootdown_init(&req, VMMU_TLB_RANGE, 0, 4096, NULL), 0);
	assert_int_equal(vmmu_shootdown_post_mask_mpsc(&req, g_w.inbox, g_w.nodes[1],
						       NCPU, &mask, &k_ops, NULL),
			 1);
	vmmu_shootdown_wait_mpsc(&g_w.inbox[1], &req, &k_ops, &g_w.cpu[1]);
	CHECK_EQ(g_w.cpu[1].applied, 1);
	assert_ptr_equal(g_w.cpu[1].last[0], &req);
	CHECK_EQ(g_w.relaxes, 0);
}

/*
 * CPU 0 and CPU 1 shoot each other down at the same time. CPU 0 runs
 * vmmu_shootdown_wait_mpsc; CPU 1 is "in its own wait" too, played by the
 * relax hook: it serves its inbox only after its own request is done
 * (the worst case: a CPU that serves its inbox only once it stops
 * waiting). So CPU 0's wait finishes only if it serves CPU 1's request
 * from its own inbox; otherwise relax gives up and fails the test.
 */
static void relax_as_cpu1(void *ctx)
{
	(void)ctx;
	rec_relax(ctx);
	if (vmmu_shootdown_done(g_w.other_req)) {
		drain(1);
	}
}

static void test_mutual_shootdown(void **state)
{
	static const struct vmmu_shootdown_ops ops = {
		.apply = rec_apply,
		.relax = relax_as_cpu1,
	};
	struct vmmu_shootdown r0, r1;

	(void)state;
	assert_int_equal(vmmu_shootdown_init(&r0, VMMU_TLB_ALL, 0, 0, NULL), 0);
	assert_int_equal(vmmu_shootdown_init(&r1, VMMU_TLB_ALL, 0, 0, NULL), 0);
	/* CPU 1 posts to CPU 0, CPU 0 posts to CPU 1; both wait. */
	vmmu_shootdown_post_mpsc(&r1, &g_w.inbox[0], &g_w.nodes[1][0]);
	vmmu_shootdown_post_mpsc(&r0, &g_w.inbox[1], &g_w.nodes[0][1]);
	g_w.other_req = &r1;
	vmmu_shootdown_wait_mpsc(&g_w.inbox[0], &r0, &ops, &g_w.cpu[0]);
	assert_true(vmmu_shootdown_done(&r0));
	assert_true(vmmu_shootdown_done(&r1));
	CHECK_EQ(g_w.cpu[0].applied, 1);
	assert_ptr_equal(g_w.cpu[0].last[0], &r1);
	CHECK_EQ(g_w.cpu[1].applied, 1);
	assert_ptr_equal(g_w.cpu[1].last[0], &r0);
	/* One relax after CPU 0's drain: CPU 1 then answered. */
	CHECK_EQ(g_w.relaxes, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_empty_take),
		cmocka_unit_test(test_push_reports_empty),
		cmocka_unit_test(test_fifo_single_producer),
		cmocka_unit_test(test_fifo_interleaved),
		cmocka_unit_test(test_takes_and_reuse),
		cmocka_unit_test_setup(test_init_checks, world_setup),
		cmocka_unit_test_setup(test_done_after_all_acks, world_setup),
		cmocka_unit_test_setup(test_apply_sees_request, world_setup),
		cmocka_unit_test_setup(test_post_mask, world_setup),
		cmocka_unit_test_setup(test_post_mask_all_and_errors, world_setup),
		cmocka_unit_test_setup(test_wait_relaxes, world_setup),
		cmocka_unit_test_setup(test_post_to_self, world_setup),
		cmocka_unit_test_setup(test_mutual_shootdown, world_setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
