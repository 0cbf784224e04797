/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the porting seam (platform.h): vmmu_platform_check, a
 * platform with only the required hooks, and "no global state": several
 * trees, formats and platforms used interleaved in one process, each
 * platform seeing only its own calls.
 */
#include <stdlib.h>
#include <string.h>

#include "test_platform.h"
#include "unit_check.h"

/* --- a platform with only the required hooks --------------------------- */

struct mini {
	struct mini *self; /* every hook checks its ctx is a live mini */
	struct vmmu_platform plat;
	uint8_t *arena;
	uint64_t frames, next;
	uint8_t *in_use;
	uint64_t allocs, frees;
};

static struct mini *mini_of(void *ctx)
{
	struct mini *m = ctx;
	if (m == NULL || m->self != m) {
		fprintf(stderr, "mini platform: hook called with a foreign ctx\n");
		abort();
	}
	return m;
}

static int mini_alloc(void *ctx, vmmu_hpa_t *frame)
{
	struct mini *m = mini_of(ctx);
	for (uint64_t i = 0; i < m->frames; i++) {
		uint64_t fn = 1 + (m->next + i) % (m->frames - 1);
		if (!m->in_use[fn]) {
			m->in_use[fn] = 1;
			m->next = fn;
			m->allocs++;
			memset(m->arena + fn * PAGE, 0xc3, PAGE);
			*frame = vmmu_hpa(fn * PAGE);
			return 0;
		}
	}
	return -VMMU_ENOMEM;
}

static void mini_free(void *ctx, vmmu_hpa_t frame)
{
	struct mini *m = mini_of(ctx);
	uint64_t fn = frame.v / PAGE;
	if (frame.v % PAGE || fn == 0 || fn >= m->frames || !m->in_use[fn]) {
		fprintf(stderr, "mini platform: bad free %#llx\n",
			(unsigned long long)frame.v);
		abort();
	}
	m->in_use[fn] = 0;
	m->frees++;
}

static void mini_panic(void *ctx, const char *file, int line, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "vmmu panic at %s:%d: %s\n", file, line, msg);
	abort();
}

static const struct vmmu_platform_ops k_mini_ops = {
	.frame_alloc = mini_alloc,
	.frame_free = mini_free,
	.panic = mini_panic,
};

static void mini_init(struct mini *m, uint64_t frames)
{
	memset(m, 0, sizeof(*m));
	m->self = m;
	m->frames = frames;
	m->arena = aligned_alloc(PAGE, frames * PAGE);
	m->in_use = calloc(frames, 1);
	assert_non_null(m->arena);
	assert_non_null(m->in_use);
	m->plat.ops = &k_mini_ops;
	m->plat.ctx = m;
	m->plat.direct_map_base = (uintptr_t)m->arena;
	m->plat.direct_map_size = frames * PAGE;
}

static void mini_fini(struct mini *m)
{
	free(m->arena);
	free(m->in_use);
	memset(m, 0, sizeof(*m));
}

/* --- vmmu_platform_check -------------------------------------------------- */

static void *dummy_map(void *ctx, uint64_t pa)
{
	(void)ctx;
	(void)pa;
	return NULL;
}

static void dummy_unmap(void *ctx, void *p)
{
	(void)ctx;
	(void)p;
}

static void test_platform_check(void **state)
{
	(void)state;
	struct test_platform tp, tpm;
	struct mini m;
	struct vmmu_platform_ops ops;
	struct vmmu_platform plat;

	test_platform_init(&tp, 16);
	test_platform_init_mapped(&tpm, 16);
	mini_init(&m, 16);
	WHERE("valid platforms");
	CHECK_EQ(vmmu_platform_check(&tp.plat), 0);
	CHECK_EQ(vmmu_platform_check(&tpm.plat), 0);
	CHECK_EQ(vmmu_platform_check(&m.plat), 0);

	WHERE("NULL");
	CHECK_EQ(vmmu_platform_check(NULL), -VMMU_EINVAL);
	plat = m.plat;
	plat.ops = NULL;
	CHECK_EQ(vmmu_platform_check(&plat), -VMMU_EINVAL);

	WHERE("each required hook missing");
	plat = m.plat;
	plat.ops = &ops;
	ops = k_mini_ops;
	ops.frame_alloc = NULL;
	CHECK_EQ(vmmu_platform_check(&plat), -VMMU_EINVAL);
	ops = k_mini_ops;
	ops.frame_free = NULL;
	CHECK_EQ(vmmu_platform_check(&plat), -VMMU_EINVAL);
	ops = k_mini_ops;
	ops.panic = NULL;
	CHECK_EQ(vmmu_platform_check(&plat), -VMMU_EINVAL);
	ops = k_mini_ops;
	CHECK_EQ(vmmu_platform_check(&plat), 0);

	WHERE("no direct map and no frame_map");
	plat.direct_map_size = 0;
	CHECK_EQ(vmmu_platform_check(&plat), -VMMU_EINVAL);
	WHERE("no direct map, frame_map given");
	ops.frame_map = dummy_map;
	CHECK_EQ(vmmu_platform_check(&plat), 0);
	ops.frame_unmap = dummy_unmap;
	CHECK_EQ(vmmu_platform_check(&plat), 0);
	WHERE("frame_unmap without frame_map");
	ops.frame_map = NULL;
	plat.direct_map_size = m.plat.direct_map_size;
	CHECK_EQ(vmmu_platform_check(&plat), -VMMU_EINVAL);

	test_platform_fini(&tp);
	test_platform_fini(&tpm);
	mini_fini(&m);
}

/* Every entry point that takes a platform refuses a bad one. */
static void test_bad_platform_refused(void **state)
{
	(void)state;
	struct mini m;
	struct vmmu_platform_ops ops = k_mini_ops;
	struct vmmu_platform plat;
	struct vmmu_fmt x86, ept;
	struct vmmu_pt pt;
	struct vmmu_walker w;
	struct vmmu_ept_walk ew;
	struct vmmu_cpu_state cpu = {
		.cr0 = VMMU_CR0_PE | VMMU_CR0_PG,
		.cr4 = VMMU_CR4_PAE,
		.efer = VMMU_EFER_LME | VMMU_EFER_LMA,
	};

	mini_init(&m, 16);
	assert_int_equal(vmmu_fmt_init_x86(&x86, 4, 46, 0), 0);
	assert_int_equal(vmmu_fmt_init_ept(&ept, 4, 46, 0), 0);
	plat = m.plat;
	plat.ops = &ops;
	ops.frame_free = NULL;
	WHERE("bad platform");
	CHECK_EQ(vmmu_pt_init(&pt, &x86, &plat), -VMMU_EINVAL);
	CHECK_EQ(vmmu_walker_init(&w, &x86, &plat, &cpu), -VMMU_EINVAL);
	CHECK_EQ(vmmu_ept_walk(&ept, &plat, 0x1000, 0, VMMU_EPT_ACC_READ, &ew),
		 -VMMU_EINVAL);
	CHECK_EQ(m.allocs, 0);
	mini_fini(&m);
}

/* Only the required hooks: the whole API works, nothing is leaked. */
static void test_minimal_platform(void **state)
{
	(void)state;
	struct mini m;
	struct vmmu_fmt fmt;
	struct vmmu_pt pt;
	struct vmmu_prot rw = {.perm = VMMU_PERM_R | VMMU_PERM_W | VMMU_PERM_X};
	struct vmmu_prot ro = {.perm = VMMU_PERM_R};
	uint64_t out = 0;

	mini_init(&m, 64);
	assert_int_equal(vmmu_fmt_init_x86(&fmt, 4, 46, VMMU_FMT_F_1G), 0);
	WHERE("minimal platform");
	CHECK_EQ(vmmu_pt_init(&pt, &fmt, &m.plat), 0);
	CHECK_EQ(vmmu_pt_map(&pt, GIB, 0x200000, 4 * MIB, &rw, 0), 0);
	CHECK_EQ(vmmu_pt_map(&pt, GIB, 0x1000, PAGE, &ro, VMMU_PT_REPLACE), 0);
	CHECK_EQ(vmmu_pt_protect(&pt, GIB + 2 * MIB, PAGE, &ro), 0);
	CHECK_EQ(vmmu_pt_lookup(&pt, GIB + PAGE, &out, NULL, NULL), 0);
	CHECK_EQ(out, 0x201000);

	struct vmmu_walker w;
	struct vmmu_walk wk;
	struct vmmu_cpu_state cpu = long_mode_cpu(4);
	CHECK_EQ(vmmu_walker_init(&w, &fmt, &m.plat, &cpu), 0);
	CHECK_EQ(vmmu_walk(&w, pt.root.v, GIB + 2 * PAGE + 5, VMMU_ACC_WRITE, &wk),
		 VMMU_WALK_OK);
	CHECK_EQ(wk.addr, 0x202005);
	CHECK_EQ(vmmu_walk(&w, pt.root.v, GIB, VMMU_ACC_WRITE, &wk), VMMU_WALK_PF);
	CHECK_EQ(wk.pfec, VMMU_PFEC_P | VMMU_PFEC_W);

	CHECK_EQ(vmmu_pt_unmap(&pt, 0, 4 * GIB), 0);
	CHECK_EQ(pt.table_count, 1);
	vmmu_pt_destroy(&pt);
	CHECK_EQ(m.allocs, m.frees);
	mini_fini(&m);
}

/* --- ordering of hook calls ------------------------------------------------ */

/* A platform that logs every hook call in order. */
enum ev_kind { EV_ALLOC, EV_FREE, EV_FLUSH, EV_TRACE };

struct logged {
	struct mini m;
	struct vmmu_platform_ops ops;
	struct {
		uint8_t kind;
		uint32_t trace;
		uint64_t a, b;
	} ev[4096];
	size_t n;
};

static struct logged *logged_of(void *ctx)
{
	return (struct logged *)mini_of(ctx);
}

static void log_ev(struct logged *l, uint8_t kind, uint32_t trace, uint64_t a,
		   uint64_t b)
{
	assert_true(l->n < sizeof(l->ev) / sizeof(l->ev[0]));
	l->ev[l->n].kind = kind;
	l->ev[l->n].trace = trace;
	l->ev[l->n].a = a;
	l->ev[l->n].b = b;
	l->n++;
}

static int logged_alloc(void *ctx, vmmu_hpa_t *frame)
{
	int rc = mini_alloc(ctx, frame);
	if (rc == 0) {
		log_ev(logged_of(ctx), EV_ALLOC, 0, frame->v, 0);
	}
	return rc;
}

static void logged_free(void *ctx, vmmu_hpa_t frame)
{
	log_ev(logged_of(ctx), EV_FREE, 0, frame.v, 0);
	mini_free(ctx, frame);
}

static void logged_flush(void *ctx, const struct vmmu_tlb_req *req)
{
	log_ev(logged_of(ctx), EV_FLUSH, req->scope, req->addr, req->size);
}

static void logged_trace(void *ctx, uint32_t event, uint64_t a, uint64_t b)
{
	log_ev(logged_of(ctx), EV_TRACE, event, a, b);
}

static void logged_init(struct logged *l)
{
	memset(l, 0, sizeof(*l));
	mini_init(&l->m, 1024);
	l->ops = k_mini_ops;
	l->ops.frame_alloc = logged_alloc;
	l->ops.frame_free = logged_free;
	l->ops.tlb_flush = logged_flush;
	l->ops.trace = logged_trace;
	l->m.plat.ops = &l->ops;
}

static size_t count_kind(const struct logged *l, size_t from, uint8_t kind)
{
	size_t n = 0;
	for (size_t i = from; i < l->n; i++) {
		n += l->ev[i].kind == kind;
	}
	return n;
}

/* Every frame free of the calls since `from` comes after their one flush. */
static void expect_flush_then_frees(const struct logged *l, size_t from,
				    uint64_t addr, uint64_t size)
{
	size_t flush_at = l->n;
	CHECK_EQ(count_kind(l, from, EV_FLUSH), 1);
	for (size_t i = from; i < l->n; i++) {
		if (l->ev[i].kind == EV_FLUSH) {
			flush_at = i;
			CHECK_EQ(l->ev[i].trace, VMMU_TLB_RANGE);
			CHECK_EQ(l->ev[i].a, addr);
			CHECK_EQ(l->ev[i].b, size);
		}
		if (l->ev[i].kind == EV_FREE) {
			CHECK_EQ(flush_at < i, true);
		}
	}
}

/* Trace events name the frames really allocated and freed, with a level. */
static void expect_traces_match(const struct logged *l, unsigned levels)
{
	for (size_t i = 0; i < l->n; i++) {
		if (l->ev[i].kind != EV_TRACE) {
			continue;
		}
		uint32_t t = l->ev[i].trace;
		assert_true(t >= VMMU_TRACE_TABLE_ALLOC && t <= VMMU_TRACE_WALK_RETRY);
		if (t == VMMU_TRACE_TABLE_ALLOC || t == VMMU_TRACE_TABLE_FREE) {
			uint8_t want = t == VMMU_TRACE_TABLE_ALLOC ? EV_ALLOC : EV_FREE;
			bool seen = false;
			for (size_t k = 0; k < l->n; k++) {
				seen |= l->ev[k].kind == want && l->ev[k].a == l->ev[i].a;
			}
			CHECK_EQ(seen, true);
			assert_true(l->ev[i].b >= 1 && l->ev[i].b <= levels);
		}
		if (t == VMMU_TRACE_SPLIT) {
			assert_true(l->ev[i].b >= 2 && l->ev[i].b <= 3);
		}
	}
}

static void test_flush_before_free(void **state)
{
	(void)state;
	static struct logged l;
	struct vmmu_fmt fmt;
	struct vmmu_pt pt;
	struct vmmu_prot p = {.perm = VMMU_PERM_R | VMMU_PERM_W};

	logged_init(&l);
	assert_int_equal(vmmu_fmt_init_x86(&fmt, 4, 46, VMMU_FMT_F_1G), 0);
	WHERE("flush before free");
	CHECK_EQ(vmmu_pt_init(&pt, &fmt, &l.m.plat), 0);
	CHECK_EQ(vmmu_pt_map(&pt, GIB, 0, 8 * MIB, &p, VMMU_PT_4K_ONLY), 0);
	CHECK_EQ(vmmu_pt_map(&pt, 3 * GIB, 0, GIB, &p, 0), 0);
	CHECK_EQ(count_kind(&l, 0, EV_FLUSH), 0);

	size_t from = l.n;
	uint64_t tables = pt.table_count;
	CHECK_EQ(vmmu_pt_unmap(&pt, GIB, 8 * MIB), 0); /* frees 4 PTs and a PD */
	CHECK_EQ(pt.table_count, tables - 5);
	assert_true(count_kind(&l, from, EV_FREE) >= 5);
	expect_flush_then_frees(&l, from, GIB, 8 * MIB);

	from = l.n;
	CHECK_EQ(vmmu_pt_map(&pt, 3 * GIB + 2 * MIB, 0x1000, PAGE, &p,
			     VMMU_PT_REPLACE), 0); /* splits 1G then 2M */
	CHECK_EQ(count_kind(&l, from, EV_ALLOC), 2);
	CHECK_EQ(count_kind(&l, from, EV_FLUSH), 1);
	size_t splits = 0;
	for (size_t i = from; i < l.n; i++) {
		splits += l.ev[i].kind == EV_TRACE && l.ev[i].trace == VMMU_TRACE_SPLIT;
	}
	CHECK_EQ(splits, 2);

	from = l.n;
	CHECK_EQ(vmmu_pt_unmap(&pt, 0, 512 * GIB), 0);
	expect_flush_then_frees(&l, from, 0, 512 * GIB);
	CHECK_EQ(pt.table_count, 1);
	vmmu_pt_destroy(&pt);
	CHECK_EQ(l.m.allocs, l.m.frees);
	CHECK_EQ(count_kind(&l, 0, EV_ALLOC), count_kind(&l, 0, EV_FREE));
	expect_traces_match(&l, 4);
	mini_fini(&l.m);
}

/* --- no global state ---------------------------------------------------- */

struct counters {
	uint64_t allocs, frees, live, alloc_calls, flushes, traces, maps,
		unmaps, fail_at;
};

static struct counters counters_of(const struct test_platform *tp)
{
	struct counters c = {tp->allocs, tp->frees, tp->live, tp->alloc_calls,
			     tp->flushes, tp->traces, tp->maps, tp->unmaps,
			     tp->fail_at};
	return c;
}

static void expect_untouched(const struct test_platform *tp,
			     const struct counters *before)
{
	struct counters now = counters_of(tp);
	CHECK_EQ(memcmp(&now, before, sizeof(now)), 0);
}

struct instance {
	const char *name;
	struct test_platform tp;
	struct vmmu_fmt fmt;
	struct vmmu_pt pt;
	struct vmmu_prot prot;
};

#define NINST 3

/* Run op on instance k; the others' counters must not move. */
#define ON(insts, k, op)                                                     \
	do {                                                                 \
		struct counters saved_[NINST];                               \
		for (int j_ = 0; j_ < NINST; j_++) {                         \
			saved_[j_] = counters_of(&(insts)[j_].tp);           \
		}                                                            \
		op;                                                          \
		for (int j_ = 0; j_ < NINST; j_++) {                         \
			if (j_ != (k)) {                                     \
				WHERE("%s during an op on %s", (insts)[j_].name, \
				      (insts)[k].name);                     \
				expect_untouched(&(insts)[j_].tp, &saved_[j_]); \
			}                                                    \
		}                                                            \
	} while (0)

static void instances_init(struct instance *in)
{
	in[0].name = "x86-4 direct";
	test_platform_init(&in[0].tp, 2048);
	assert_int_equal(vmmu_fmt_init_x86(&in[0].fmt, 4, 46, VMMU_FMT_F_1G), 0);
	in[0].prot = (struct vmmu_prot){.perm = VMMU_PERM_R | VMMU_PERM_W | VMMU_PERM_U};

	in[1].name = "ept-5 mapped";
	test_platform_init_mapped(&in[1].tp, 2048);
	assert_int_equal(vmmu_fmt_init_ept(&in[1].fmt, 5, 39,
					   VMMU_FMT_F_1G | VMMU_FMT_F_EPT_AD),
			 0);
	in[1].prot = (struct vmmu_prot){.perm = VMMU_PERM_R | VMMU_PERM_W, .cache = 6};

	in[2].name = "scrambled-4 direct";
	test_platform_init(&in[2].tp, 2048);
	assert_int_equal(vmmu_fmt_init_scrambled(&in[2].fmt, 4, 40, VMMU_FMT_F_1G, 5),
			 0);
	in[2].prot = (struct vmmu_prot){.perm = VMMU_PERM_R | VMMU_PERM_X};
}

static void test_no_global_state(void **state)
{
	(void)state;
	static struct instance in[NINST];
	int rc = -1;

	memset(in, 0, sizeof(in));
	instances_init(in);
	for (int k = 0; k < NINST; k++) {
		ON(in, k, rc = vmmu_pt_init(&in[k].pt, &in[k].fmt, &in[k].tp.plat));
		CHECK_EQ(rc, 0);
	}
	/* The same addresses in every tree, different outputs. */
	for (int round = 0; round < 4; round++) {
		for (int k = 0; k < NINST; k++) {
			uint64_t in_addr = (uint64_t)round * GIB + 2 * MIB;
			uint64_t out = (uint64_t)(k + 1) * 64 * MIB + (uint64_t)round * 4 * MIB;
			WHERE("%s map round %d", in[k].name, round);
			ON(in, k, rc = vmmu_pt_map(&in[k].pt, in_addr, out, 2 * MIB + PAGE,
						   &in[k].prot, 0));
			CHECK_EQ(rc, 0);
		}
		for (int k = NINST - 1; k >= 0; k--) {
			uint64_t in_addr = (uint64_t)round * GIB + 2 * MIB + 16 * PAGE;
			ON(in, k, rc = vmmu_pt_unmap(&in[k].pt, in_addr, PAGE));
			CHECK_EQ(rc, 0);
		}
	}
	/* Failure injection on one platform does not leak into another. */
	in[0].tp.fail_at = 1;
	ON(in, 1, rc = vmmu_pt_map(&in[1].pt, 100 * GIB, 0, PAGE, &in[1].prot, 0));
	CHECK_EQ(rc, 0);
	ON(in, 0, rc = vmmu_pt_map(&in[0].pt, 100 * GIB, 0, PAGE, &in[0].prot, 0));
	CHECK_EQ(rc, -VMMU_ENOMEM);
	CHECK_EQ(in[0].tp.fail_at, 0);

	/* Lookups answer per tree. */
	for (int k = 0; k < NINST; k++) {
		for (int round = 0; round < 4; round++) {
			uint64_t base = (uint64_t)round * GIB + 2 * MIB;
			uint64_t out = (uint64_t)(k + 1) * 64 * MIB + (uint64_t)round * 4 * MIB;
			uint64_t got = 0;
			WHERE("%s lookup round %d", in[k].name, round);
			ON(in, k, rc = vmmu_pt_lookup(&in[k].pt, base + 5 * PAGE, &got, NULL, NULL));
			CHECK_EQ(rc, 0);
			CHECK_EQ(got, out + 5 * PAGE);
			ON(in, k, rc = vmmu_pt_lookup(&in[k].pt, base + 16 * PAGE, &got, NULL, NULL));
			CHECK_EQ(rc, -VMMU_ENOENT);
			ON(in, k, rc = vmmu_pt_lookup(&in[k].pt, base + 2 * MIB, &got, NULL, NULL));
			CHECK_EQ(rc, 0);
			CHECK_EQ(got, out + 2 * MIB);
		}
	}

	/* Walks: x86 walker over tree 0, EPT walk over tree 1. */
	struct vmmu_walker w;
	struct vmmu_walk wk;
	struct vmmu_cpu_state cpu = long_mode_cpu(4);
	WHERE("walks");
	CHECK_EQ(vmmu_walker_init(&w, &in[0].fmt, &in[0].tp.plat, &cpu), 0);
	ON(in, 0, rc = vmmu_walk(&w, in[0].pt.root.v, GIB + 2 * MIB + 0x1234,
				 VMMU_ACC_WRITE | VMMU_ACC_USER, &wk));
	CHECK_EQ(rc, VMMU_WALK_OK);
	CHECK_EQ(wk.addr, 64 * MIB + 4 * MIB + 0x1234);
	struct vmmu_ept_walk ew;
	ON(in, 1, rc = vmmu_ept_walk(&in[1].fmt, &in[1].tp.plat, in[1].pt.root.v,
				     2 * GIB + 2 * MIB + 0x777, VMMU_EPT_ACC_WRITE, &ew));
	CHECK_EQ(rc, VMMU_EPT_OK);
	CHECK_EQ(ew.hpa, 2 * 64 * MIB + 8 * MIB + 0x777);
	CHECK_EQ(ew.memtype, 6);
	ON(in, 1, rc = vmmu_ept_walk(&in[1].fmt, &in[1].tp.plat, in[1].pt.root.v,
				     2 * GIB + 2 * MIB + 16 * PAGE, VMMU_EPT_ACC_READ, &ew));
	CHECK_EQ(rc, VMMU_EPT_VIOLATION);

	for (int k = 0; k < NINST; k++) {
		ON(in, k, vmmu_pt_destroy(&in[k].pt));
		WHERE("%s destroyed", in[k].name);
		CHECK_EQ(in[k].tp.live, 0);
		CHECK_EQ(in[k].tp.allocs, in[k].tp.frees);
		test_platform_fini(&in[k].tp);
	}
}

/* Two mini platforms: a frame of one is never returned to the other. */
static void test_frames_return_home(void **state)
{
	(void)state;
	struct mini a, b;
	struct vmmu_fmt fmt;
	struct vmmu_pt pa, pb;
	struct vmmu_prot p = {.perm = VMMU_PERM_R};

	mini_init(&a, 64);
	mini_init(&b, 64);
	assert_int_equal(vmmu_fmt_init_x86(&fmt, 5, 46, 0), 0);
	WHERE("frames return home");
	CHECK_EQ(vmmu_pt_init(&pa, &fmt, &a.plat), 0);
	CHECK_EQ(vmmu_pt_init(&pb, &fmt, &b.plat), 0);
	for (int i = 0; i < 8; i++) {
		uint64_t at = (uint64_t)i * 512 * GIB;
		CHECK_EQ(vmmu_pt_map(&pa, at, 0, PAGE, &p, 0), 0);
		CHECK_EQ(vmmu_pt_map(&pb, at + GIB, 0, PAGE, &p, 0), 0);
		CHECK_EQ(vmmu_pt_unmap(i % 2 ? &pa : &pb, 0, 8 * 512 * GIB), 0);
	}
	CHECK_EQ(a.allocs - a.frees, pa.table_count);
	CHECK_EQ(b.allocs - b.frees, pb.table_count);
	vmmu_pt_destroy(&pa);
	vmmu_pt_destroy(&pb);
	CHECK_EQ(a.allocs, a.frees);
	CHECK_EQ(b.allocs, b.frees);
	mini_fini(&a);
	mini_fini(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_platform_check),
		cmocka_unit_test(test_bad_platform_refused),
		cmocka_unit_test(test_minimal_platform),
		cmocka_unit_test(test_flush_before_free),
		cmocka_unit_test(test_no_global_state),
		cmocka_unit_test(test_frames_return_home),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
