/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the frame table (frame.h): record size and table sizing,
 * init argument checks, a 16 GiB table, mfn range checks on every call
 * (XSA-167 class), ownership and general references, nothing of a frame's
 * previous life surviving re-assignment (XSA-214 class), type references
 * with their validate/devalidate/leave_writable hooks (the XSA-401
 * ordering included), pinning, panics on references nobody holds, and
 * get_type giving up with -VMMU_EAGAIN while another validation runs, and
 * preemptible (de)validation: partial references, continue, abandon and
 * the validator's scratch word.
 *
 * The test platform aborts on panic; these tests swap in a panic hook that
 * longjmps back to the test when a panic is expected (EXPECT_PANIC). The
 * frame's state after a panic is undefined, so each such test stops
 * looking at that frame afterwards.
 */
#include <stdlib.h>
#include <string.h>

#include <vmmu/frame.h>

#include "test_platform.h"
#include "unit_check.h"

#define NFRAMES 64u
#define M 5u /* the frame most tests use */
#define DOM 1u
#define DOM2 2u

/* --- panics --------------------------------------------------------------- */

static jmp_buf g_panic_jmp;
static bool g_panic_armed;
static unsigned g_panics;

static void catch_panic(void *ctx, const char *file, int line, const char *msg)
{
	(void)ctx;
	if (!g_panic_armed) {
		print_error("unexpected vmmu panic at %s:%d: %s\n", file, line, msg);
		abort();
	}
	g_panics++;
	g_panic_armed = false;
	longjmp(g_panic_jmp, 1);
}

/*
 * Run stmt and require that it panics. setjmp sits directly in the if
 * condition, one of the contexts C allows; only globals change between
 * setjmp and longjmp, so nothing needs to be volatile.
 */
#define EXPECT_PANIC(stmt)                                                   \
	do {                                                                 \
		g_panics = 0;                                                \
		g_panic_armed = true;                                        \
		if (setjmp(g_panic_jmp) == 0) {                              \
			stmt;                                                \
		}                                                            \
		g_panic_armed = false;                                       \
		CHECK_EQ(g_panics, 1);                                       \
	} while (0)

/* --- environment ---------------------------------------------------------- */

struct env;
/* Run from inside a hook: what another user of the frame would do then. */
typedef void (*inside_fn)(struct env *e, uint64_t mfn, char hook);

struct env {
	struct test_platform tp;
	struct vmmu_platform_ops pops; /* the test platform's, catch_panic */
	struct vmmu_ft ft;
	struct vmmu_frame *mem; /* exactly vmmu_ft_bytes(NFRAMES): ASan bounds */
	struct vmmu_ft_ops ops;
	/* hook behaviour */
	int validate_rc, devalidate_rc;   /* returned when not restarting */
	unsigned validate_stops, devalidate_stops; /* -VMMU_ERESTART this often first */
	/* hook log */
	uint64_t scratch_seen[32];        /* *scratch on entry, per hook call */
	unsigned nscratch;
	unsigned validates, devalidates, leaves;
	uint64_t hook_mfn;
	unsigned hook_type;
	char order[32]; /* 'V', 'D', 'L' in call order */
	unsigned norder;
	struct vmmu_frame_info in_validate, in_devalidate, in_leave;
	inside_fn inside;
	/* what inside() saw */
	int inner_rc, inner_rc2;
	struct vmmu_frame_info inner_before, inner_after;
};

static struct vmmu_frame_info info_of(const struct env *e, uint64_t mfn)
{
	struct vmmu_frame_info i;

	memset(&i, 0xee, sizeof(i));
	assert_int_equal(vmmu_ft_info(&e->ft, mfn, &i), 0);
	return i;
}

static void log_hook(struct env *e, uint64_t mfn, unsigned type, char hook,
		     struct vmmu_frame_info *seen)
{
	e->hook_mfn = mfn;
	e->hook_type = type;
	if (e->norder < sizeof(e->order) - 1) {
		e->order[e->norder++] = hook;
	}
	*seen = info_of(e, mfn);
	if (e->inside != NULL) {
		e->inside(e, mfn, hook);
	}
}

/*
 * Log the scratch word on entry and advance it: stands in for a validator
 * that keeps "entries done" there across -VMMU_ERESTART.
 */
static int scratch_step(struct env *e, uint64_t mfn, unsigned *stops, int rc)
{
	uint64_t *scratch = vmmu_ft_scratch(&e->ft, mfn);

	assert_non_null(scratch);
	if (e->nscratch < 32) {
		e->scratch_seen[e->nscratch++] = *scratch;
	}
	*scratch += 1;
	if (*stops > 0) {
		--*stops;
		return -VMMU_ERESTART;
	}
	return rc;
}

static int hook_validate(void *ctx, uint64_t mfn, unsigned type)
{
	struct env *e = ctx;

	e->validates++;
	log_hook(e, mfn, type, 'V', &e->in_validate);
	return scratch_step(e, mfn, &e->validate_stops, e->validate_rc);
}

static int hook_devalidate(void *ctx, uint64_t mfn, unsigned type)
{
	struct env *e = ctx;

	e->devalidates++;
	log_hook(e, mfn, type, 'D', &e->in_devalidate);
	return scratch_step(e, mfn, &e->devalidate_stops, e->devalidate_rc);
}

static void hook_leave_writable(void *ctx, uint64_t mfn, unsigned type)
{
	struct env *e = ctx;

	e->leaves++;
	log_hook(e, mfn, type, 'L', &e->in_leave);
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	test_platform_init(&e->tp, 16);
	e->pops = *e->tp.plat.ops;
	e->pops.panic = catch_panic;
	e->tp.plat.ops = &e->pops;
	e->mem = malloc(vmmu_ft_bytes(NFRAMES));
	assert_non_null(e->mem);
	/* Poison: init must set every record up itself. */
	memset(e->mem, 0xa5, vmmu_ft_bytes(NFRAMES));
	assert_int_equal(vmmu_ft_init(&e->ft, e->mem, vmmu_ft_bytes(NFRAMES),
				      NFRAMES, &e->tp.plat), 0);
	e->ops = (struct vmmu_ft_ops){
		.validate = hook_validate,
		.devalidate = hook_devalidate,
		.leave_writable = hook_leave_writable,
		.ctx = e,
	};
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	g_panic_armed = false;
	free(e->mem);
	test_platform_fini(&e->tp);
	free(e);
	return 0;
}

#define EXPECT_FRAME(e, mfn, cnt, typ, tcnt, val, pin)                       \
	do {                                                                 \
		struct vmmu_frame_info i_ = info_of((e), (mfn));             \
		CHECK_EQ(i_.count, (cnt));                                   \
		CHECK_EQ(i_.type, (typ));                                    \
		CHECK_EQ(i_.type_count, (tcnt));                             \
		CHECK_EQ(i_.validated, (val));                               \
		CHECK_EQ(i_.pinned, (pin));                                  \
		CHECK_EQ(i_.partial, false);                                 \
		CHECK_EQ(i_.devalidating, false);                            \
	} while (0)

#define EXPECT_FREE(e, mfn)                                                  \
	do {                                                                 \
		EXPECT_FRAME((e), (mfn), 0, VMMU_FTYPE_NONE, 0, false, false); \
		CHECK_EQ(info_of((e), (mfn)).allocated, false);              \
	} while (0)

#define EXPECT_HOOKS(e, v, d, l)                                             \
	do {                                                                 \
		CHECK_EQ((e)->validates, (v));                               \
		CHECK_EQ((e)->devalidates, (d));                             \
		CHECK_EQ((e)->leaves, (l));                                  \
	} while (0)

/* Assign M to DOM and take one more general reference: count 2. */
static void assign_and_get(struct env *e, uint64_t mfn)
{
	assert_int_equal(vmmu_ft_assign(&e->ft, mfn, DOM), 0);
	assert_int_equal(vmmu_ft_get(&e->ft, mfn, DOM), 0);
}

/* --- sizes and init --------------------------------------------------------- */

static void test_record_is_32_bytes(void **state)
{
	(void)state;
	CHECK_EQ(sizeof(struct vmmu_frame), 32);
}

static void test_bytes_is_32_per_frame_and_0_on_overflow(void **state)
{
	(void)state;
	CHECK_EQ(vmmu_ft_bytes(1), 32);
	CHECK_EQ(vmmu_ft_bytes(NFRAMES), 32 * NFRAMES);
	CHECK_EQ(vmmu_ft_bytes(4194304), 128 * MIB);
	CHECK_EQ(vmmu_ft_bytes(SIZE_MAX / 32), (SIZE_MAX / 32) * 32);
	CHECK_EQ(vmmu_ft_bytes(SIZE_MAX / 32 + 1), 0);
	CHECK_EQ(vmmu_ft_bytes(BIT(59)), 0);
	CHECK_EQ(vmmu_ft_bytes(UINT64_MAX), 0);
}

static void test_init_refuses_bad_memory(void **state)
{
	struct env *e = *state;
	struct vmmu_ft ft;
	size_t need = vmmu_ft_bytes(8);
	uint64_t *buf = malloc(need + 8); /* 8-byte aligned, room to misalign */

	assert_non_null(buf);
	WHERE("NULL table");
	CHECK_EQ(vmmu_ft_init(NULL, buf, need, 8, &e->tp.plat), -VMMU_EINVAL);
	WHERE("NULL memory");
	CHECK_EQ(vmmu_ft_init(&ft, NULL, need, 8, &e->tp.plat), -VMMU_EINVAL);
	WHERE("one byte short");
	CHECK_EQ(vmmu_ft_init(&ft, buf, need - 1, 8, &e->tp.plat), -VMMU_EINVAL);
	WHERE("misaligned by 4 and by 1");
	CHECK_EQ(vmmu_ft_init(&ft, (char *)buf + 4, need, 8, &e->tp.plat),
		 -VMMU_EINVAL);
	CHECK_EQ(vmmu_ft_init(&ft, (char *)buf + 1, need, 8, &e->tp.plat),
		 -VMMU_EINVAL);
	WHERE("frame count whose size overflows");
	CHECK_EQ(vmmu_ft_init(&ft, buf, need, UINT64_MAX, &e->tp.plat),
		 -VMMU_EINVAL);
	WHERE("exactly vmmu_ft_bytes is enough");
	CHECK_EQ(vmmu_ft_init(&ft, buf, need, 8, &e->tp.plat), 0);
	free(buf);
}

static void test_init_makes_every_frame_free(void **state)
{
	struct env *e = *state; /* setup() poisoned the memory before init */

	for (uint64_t mfn = 0; mfn < NFRAMES; mfn++) {
		WHERE("mfn %llu", (unsigned long long)mfn);
		EXPECT_FREE(e, mfn);
	}
}

/* 16 GiB of 4 KiB frames: 4,194,304 records, 128 MiB. */
static void test_16gib_table_last_frame_works(void **state)
{
	struct env *e = *state;
	const uint64_t n = 16 * GIB / PAGE;
	size_t bytes = vmmu_ft_bytes(n);
	void *mem = malloc(bytes);
	struct vmmu_ft ft;
	struct vmmu_frame_info i;

	CHECK_EQ(bytes, 128 * MIB);
	assert_non_null(mem);
	memset(mem, 0xff, bytes);
	assert_int_equal(vmmu_ft_init(&ft, mem, bytes, n, &e->tp.plat), 0);
	CHECK_EQ(vmmu_ft_assign(&ft, n - 1, DOM), 0);
	CHECK_EQ(vmmu_ft_get(&ft, n - 1, DOM), 0);
	CHECK_EQ(vmmu_ft_info(&ft, n - 1, &i), 0);
	CHECK_EQ(i.count, 2);
	CHECK_EQ(i.owner, DOM);
	CHECK_EQ(vmmu_ft_put(&ft, n - 1), false);
	CHECK_EQ(vmmu_ft_release(&ft, n - 1, DOM), 1);
	CHECK_EQ(vmmu_ft_info(&ft, n - 1, &i), 0);
	CHECK_EQ(i.allocated, false);
	CHECK_EQ(vmmu_ft_assign(&ft, n, DOM), -VMMU_EINVAL);
	free(mem);
}

/* --- mfn beyond the table ------------------------------------------------- */

static void test_mfn_beyond_table_is_einval_and_touches_nothing(void **state)
{
	struct env *e = *state;
	static const uint64_t bad[] = {NFRAMES, NFRAMES + 1, BIT(40), BIT(58),
				       UINT64_MAX / 32 + 1, UINT64_MAX};
	size_t bytes = vmmu_ft_bytes(NFRAMES);
	void *before = malloc(bytes);
	struct vmmu_frame_info i;

	assert_non_null(before);
	/* A frame in every state nearby, so a wrapped index would show. */
	assign_and_get(e, 0);
	assert_int_equal(vmmu_ft_get_type(&e->ft, 0, VMMU_FTYPE_L1, &e->ops), 0);
	assign_and_get(e, NFRAMES - 1);
	memcpy(before, e->mem, bytes);
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		uint64_t mfn = bad[k];
		WHERE("mfn %#llx", (unsigned long long)mfn);
		CHECK_EQ(vmmu_ft_assign(&e->ft, mfn, DOM), -VMMU_EINVAL);
		CHECK_EQ(vmmu_ft_release(&e->ft, mfn, DOM), -VMMU_EINVAL);
		CHECK_EQ(vmmu_ft_get(&e->ft, mfn, DOM), -VMMU_EINVAL);
		CHECK_EQ(vmmu_ft_get_type(&e->ft, mfn, VMMU_FTYPE_L1, &e->ops),
			 -VMMU_EINVAL);
		CHECK_EQ(vmmu_ft_get_type(&e->ft, mfn, VMMU_FTYPE_WRITABLE,
					  &e->ops), -VMMU_EINVAL);
		CHECK_EQ(vmmu_ft_pin(&e->ft, mfn), -VMMU_EINVAL);
		CHECK_EQ(vmmu_ft_unpin(&e->ft, mfn), -VMMU_EINVAL);
		CHECK_EQ(vmmu_ft_info(&e->ft, mfn, &i), -VMMU_EINVAL);
		CHECK_EQ(vmmu_ft_continue_type(&e->ft, mfn, VMMU_FTYPE_L1,
					       &e->ops), -VMMU_EINVAL);
		CHECK_EQ(vmmu_ft_abandon_type(&e->ft, mfn, &e->ops),
			 -VMMU_EINVAL);
		CHECK_EQ(vmmu_ft_scratch(&e->ft, mfn) == NULL, true);
		/* put cannot say -VMMU_EINVAL: a panic or a no-op returning
		 * false are both fine, a memory access is not (ASan, memcmp).
		 * put_type may panic too, as nobody holds that reference. */
		g_panic_armed = true;
		if (setjmp(g_panic_jmp) == 0) {
			CHECK_EQ(vmmu_ft_put(&e->ft, mfn), false);
		}
		g_panic_armed = true;
		if (setjmp(g_panic_jmp) == 0) {
			CHECK_EQ(vmmu_ft_put_type(&e->ft, mfn, &e->ops),
				 -VMMU_EINVAL);
		}
		g_panic_armed = false;
	}
	WHERE("table unchanged");
	CHECK_EQ(memcmp(before, e->mem, bytes), 0);
	EXPECT_HOOKS(e, 1, 0, 0);
	free(before);
}

/* --- ownership and general references ------------------------------------ */

static void test_assign_gives_one_ref_owned_by_dom(void **state)
{
	struct env *e = *state;

	CHECK_EQ(vmmu_ft_assign(&e->ft, M, DOM), 0);
	EXPECT_FRAME(e, M, 1, VMMU_FTYPE_NONE, 0, false, false);
	CHECK_EQ(info_of(e, M).owner, DOM);
	CHECK_EQ(info_of(e, M).allocated, true);
	WHERE("neighbours untouched");
	EXPECT_FREE(e, M - 1);
	EXPECT_FREE(e, M + 1);
	WHERE("the largest domain id fits the owner field");
	CHECK_EQ(vmmu_ft_assign(&e->ft, M + 1, 0xffff), 0);
	CHECK_EQ(info_of(e, M + 1).owner, 0xffff);
	CHECK_EQ(vmmu_ft_get(&e->ft, M + 1, 0xffff), 0);
}

static void test_assign_of_non_free_frame_is_ebusy(void **state)
{
	struct env *e = *state;

	CHECK_EQ(vmmu_ft_assign(&e->ft, M, DOM), 0);
	WHERE("allocated");
	CHECK_EQ(vmmu_ft_assign(&e->ft, M, DOM), -VMMU_EBUSY);
	CHECK_EQ(vmmu_ft_assign(&e->ft, M, DOM2), -VMMU_EBUSY);
	WHERE("released, a reference left: not free yet");
	CHECK_EQ(vmmu_ft_get(&e->ft, M, DOM), 0);
	CHECK_EQ(vmmu_ft_release(&e->ft, M, DOM), 0);
	CHECK_EQ(vmmu_ft_assign(&e->ft, M, DOM2), -VMMU_EBUSY);
	EXPECT_FRAME(e, M, 1, VMMU_FTYPE_NONE, 0, false, false);
	CHECK_EQ(info_of(e, M).owner, DOM);
	WHERE("free after the last put");
	CHECK_EQ(vmmu_ft_put(&e->ft, M), true);
	CHECK_EQ(vmmu_ft_assign(&e->ft, M, DOM2), 0);
	CHECK_EQ(info_of(e, M).owner, DOM2);
}

static void test_get_by_other_domain_is_eperm(void **state)
{
	struct env *e = *state;

	WHERE("free frame");
	CHECK_EQ(vmmu_ft_get(&e->ft, M, DOM), -VMMU_EPERM);
	EXPECT_FREE(e, M);
	CHECK_EQ(vmmu_ft_assign(&e->ft, M, DOM), 0);
	WHERE("other domain");
	CHECK_EQ(vmmu_ft_get(&e->ft, M, DOM2), -VMMU_EPERM);
	EXPECT_FRAME(e, M, 1, VMMU_FTYPE_NONE, 0, false, false);
	WHERE("owner");
	CHECK_EQ(vmmu_ft_get(&e->ft, M, DOM), 0);
	CHECK_EQ(vmmu_ft_get(&e->ft, M, DOM), 0);
	EXPECT_FRAME(e, M, 3, VMMU_FTYPE_NONE, 0, false, false);
}

static void test_get_after_release_is_eperm(void **state)
{
	struct env *e = *state;

	assign_and_get(e, M);
	CHECK_EQ(vmmu_ft_release(&e->ft, M, DOM), 0);
	CHECK_EQ(vmmu_ft_get(&e->ft, M, DOM), -VMMU_EPERM);
	EXPECT_FRAME(e, M, 1, VMMU_FTYPE_NONE, 0, false, false);
	CHECK_EQ(info_of(e, M).allocated, false);
	WHERE("a second release is not the owner's any more");
	CHECK_EQ(vmmu_ft_release(&e->ft, M, DOM), -VMMU_EPERM);
	CHECK_EQ(vmmu_ft_put(&e->ft, M), true);
	EXPECT_FREE(e, M);
}

static void test_release_by_non_owner_is_eperm(void **state)
{
	struct env *e = *state;

	WHERE("free frame");
	CHECK_EQ(vmmu_ft_release(&e->ft, M, DOM), -VMMU_EPERM);
	EXPECT_FREE(e, M);
	CHECK_EQ(vmmu_ft_assign(&e->ft, M, DOM), 0);
	WHERE("other domain");
	CHECK_EQ(vmmu_ft_release(&e->ft, M, DOM2), -VMMU_EPERM);
	EXPECT_FRAME(e, M, 1, VMMU_FTYPE_NONE, 0, false, false);
	CHECK_EQ(info_of(e, M).allocated, true);
	CHECK_EQ(vmmu_ft_get(&e->ft, M, DOM), 0);
}

static void test_release_returns_1_when_free_0_when_refs_remain(void **state)
{
	struct env *e = *state;

	CHECK_EQ(vmmu_ft_assign(&e->ft, M, DOM), 0);
	WHERE("only the allocation reference");
	CHECK_EQ(vmmu_ft_release(&e->ft, M, DOM), 1);
	EXPECT_FREE(e, M);

	CHECK_EQ(vmmu_ft_assign(&e->ft, M, DOM), 0);
	CHECK_EQ(vmmu_ft_get(&e->ft, M, DOM), 0);
	CHECK_EQ(vmmu_ft_get(&e->ft, M, DOM), 0);
	WHERE("two users left");
	CHECK_EQ(vmmu_ft_release(&e->ft, M, DOM), 0);
	EXPECT_FRAME(e, M, 2, VMMU_FTYPE_NONE, 0, false, false);
	CHECK_EQ(vmmu_ft_put(&e->ft, M), false);
	CHECK_EQ(vmmu_ft_put(&e->ft, M), true);
	EXPECT_FREE(e, M);
}

/*
 * XSA-214 class: a frame that was a validated, pinned L1 (and left its
 * type and validator scratch behind at count 0) arrives at its next owner
 * with nothing of that life.
 */
static void test_reassigned_frame_has_no_old_type(void **state)
{
	struct env *e = *state;

	assign_and_get(e, M);
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_L1, &e->ops), 0);
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_L1, &e->ops), 0);
	CHECK_EQ(vmmu_ft_pin(&e->ft, M), 0);
	EXPECT_FRAME(e, M, 2, VMMU_FTYPE_L1, 2, true, true);
	CHECK_EQ(vmmu_ft_unpin(&e->ft, M), 0);
	CHECK_EQ(vmmu_ft_put_type(&e->ft, M, &e->ops), 0);
	CHECK_EQ(vmmu_ft_put_type(&e->ft, M, &e->ops), 0);
	CHECK_EQ(vmmu_ft_release(&e->ft, M, DOM), 0);
	CHECK_EQ(vmmu_ft_put(&e->ft, M), true);
	EXPECT_FREE(e, M);
	CHECK_EQ(vmmu_ft_assign(&e->ft, M, DOM2), 0);
	EXPECT_FRAME(e, M, 1, VMMU_FTYPE_NONE, 0, false, false);
	CHECK_EQ(info_of(e, M).owner, DOM2);
	WHERE("new owner can take another type, and L1 validates afresh");
	CHECK_EQ(vmmu_ft_get(&e->ft, M, DOM2), 0);
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_WRITABLE, &e->ops), 0);
	CHECK_EQ(vmmu_ft_put_type(&e->ft, M, &e->ops), 0);
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_L1, &e->ops), 0);
	EXPECT_HOOKS(e, 2, 1, 1);
	CHECK_EQ(e->nscratch, 3);
	CHECK_EQ(e->scratch_seen[2], 0);
}

/* The ordinary path: types left at count 0 do not outlive the frame. */
static void test_reassigned_frame_forgets_unused_type(void **state)
{
	struct env *e = *state;

	assign_and_get(e, M);
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_WRITABLE, &e->ops), 0);
	CHECK_EQ(vmmu_ft_put_type(&e->ft, M, &e->ops), 0);
	EXPECT_FRAME(e, M, 2, VMMU_FTYPE_WRITABLE, 0, info_of(e, M).validated,
		     false);
	CHECK_EQ(vmmu_ft_put(&e->ft, M), false);
	CHECK_EQ(vmmu_ft_release(&e->ft, M, DOM), 1);
	EXPECT_FREE(e, M);
	CHECK_EQ(vmmu_ft_assign(&e->ft, M, DOM2), 0);
	EXPECT_FRAME(e, M, 1, VMMU_FTYPE_NONE, 0, false, false);
	WHERE("no leave_writable: the frame is not writable any more");
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_L2, &e->ops), 0);
	EXPECT_HOOKS(e, 1, 0, 0);
}

/* Count fields at their maximum (layout documented in frame.h). */
static void test_saturated_counts_are_ebusy(void **state)
{
	struct env *e = *state;
	const uint64_t gmax = BIT(40) - 1, tmax = BIT(48) - 1;

	assign_and_get(e, M);
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_WRITABLE, &e->ops), 0);
	e->mem[M].count = (e->mem[M].count & ~gmax) | gmax;
	e->mem[M].type = (e->mem[M].type & ~tmax) | tmax;
	EXPECT_FRAME(e, M, gmax, VMMU_FTYPE_WRITABLE, tmax,
		     info_of(e, M).validated, false);
	CHECK_EQ(vmmu_ft_get(&e->ft, M, DOM), -VMMU_EBUSY);
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_WRITABLE, &e->ops),
		 -VMMU_EBUSY);
	EXPECT_FRAME(e, M, gmax, VMMU_FTYPE_WRITABLE, tmax,
		     info_of(e, M).validated, false);
	CHECK_EQ(info_of(e, M).owner, DOM);
}

/* --- type references -------------------------------------------------------- */

static void test_first_l1_user_validates_once(void **state)
{
	struct env *e = *state;

	assign_and_get(e, M);
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_L1, &e->ops), 0);
	EXPECT_HOOKS(e, 1, 0, 0);
	CHECK_EQ(e->hook_mfn, M);
	CHECK_EQ(e->hook_type, VMMU_FTYPE_L1);
	WHERE("during validation: the type is published, not yet in force");
	CHECK_EQ(e->in_validate.type, VMMU_FTYPE_L1);
	CHECK_EQ(e->in_validate.validated, false);
	WHERE("after");
	EXPECT_FRAME(e, M, 2, VMMU_FTYPE_L1, 1, true, false);
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_L1, &e->ops), 0);
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_L1, &e->ops), 0);
	EXPECT_HOOKS(e, 1, 0, 0);
	EXPECT_FRAME(e, M, 2, VMMU_FTYPE_L1, 3, true, false);
}

static void test_each_table_type_validates_as_itself(void **state)
{
	struct env *e = *state;
	static const unsigned types[] = {VMMU_FTYPE_L1, VMMU_FTYPE_L2,
					 VMMU_FTYPE_L3, VMMU_FTYPE_L4,
					 VMMU_FTYPE_SEG_DESC};

	for (unsigned k = 0; k < 5; k++) {
		WHERE("type %u", types[k]);
		assign_and_get(e, k);
		CHECK_EQ(vmmu_ft_get_type(&e->ft, k, types[k], &e->ops), 0);
		CHECK_EQ(e->validates, k + 1);
		CHECK_EQ(e->hook_mfn, k);
		CHECK_EQ(e->hook_type, types[k]);
		EXPECT_FRAME(e, k, 2, types[k], 1, true, false);
		CHECK_EQ(vmmu_ft_put_type(&e->ft, k, &e->ops), 0);
		CHECK_EQ(e->devalidates, k + 1);
		CHECK_EQ(e->hook_type, types[k]);
	}
}

static void test_type_none_is_refused(void **state)
{
	struct env *e = *state;

	assign_and_get(e, M);
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_NONE, &e->ops) < 0, true);
	EXPECT_FRAME(e, M, 2, VMMU_FTYPE_NONE, 0, false, false);
	EXPECT_HOOKS(e, 0, 0, 0);
}

static void test_second_type_while_in_use_is_ebusy(void **state)
{
	struct env *e = *state;

	assign_and_get(e, M);
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_L1, &e->ops), 0);
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_L2, &e->ops), -VMMU_EBUSY);
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_WRITABLE, &e->ops),
		 -VMMU_EBUSY);
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_SEG_DESC, &e->ops),
		 -VMMU_EBUSY);
	EXPECT_FRAME(e, M, 2, VMMU_FTYPE_L1, 1, true, false);
	EXPECT_HOOKS(e, 1, 0, 0);
	WHERE("writable in use blocks a table type, without a flush");
	assign_and_get(e, M + 1);
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M + 1, VMMU_FTYPE_WRITABLE, &e->ops), 0);
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M + 1, VMMU_FTYPE_L2, &e->ops),
		 -VMMU_EBUSY);
	EXPECT_FRAME(e, M + 1, 2, VMMU_FTYPE_WRITABLE, 1,
		     info_of(e, M + 1).validated, false);
	EXPECT_HOOKS(e, 1, 0, 0);
}

static void test_validate_failure_leaves_frame_typeless_and_retries(void **state)
{
	struct env *e = *state;

	assign_and_get(e, M);
	e->validate_rc = -VMMU_EFAULT;
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_L1, &e->ops), -VMMU_EFAULT);
	EXPECT_FRAME(e, M, 2, VMMU_FTYPE_NONE, 0, false, false);
	EXPECT_HOOKS(e, 1, 0, 0);
	WHERE("the next user validates again");
	e->validate_rc = -VMMU_EINVAL;
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_L1, &e->ops), -VMMU_EINVAL);
	EXPECT_HOOKS(e, 2, 0, 0);
	e->validate_rc = 0;
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_L1, &e->ops), 0);
	EXPECT_HOOKS(e, 3, 0, 0);
	EXPECT_FRAME(e, M, 2, VMMU_FTYPE_L1, 1, true, false);
	WHERE("after a failure another type may be taken");
	assign_and_get(e, M + 1);
	e->validate_rc = -VMMU_EFAULT;
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M + 1, VMMU_FTYPE_L3, &e->ops),
		 -VMMU_EFAULT);
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M + 1, VMMU_FTYPE_WRITABLE, &e->ops), 0);
	EXPECT_FRAME(e, M + 1, 2, VMMU_FTYPE_WRITABLE, 1,
		     info_of(e, M + 1).validated, false);
	EXPECT_HOOKS(e, 4, 0, 0);
}

static void test_writable_needs_no_validate(void **state)
{
	struct env *e = *state;

	assign_and_get(e, M);
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_WRITABLE, &e->ops), 0);
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_WRITABLE, &e->ops), 0);
	EXPECT_HOOKS(e, 0, 0, 0);
	CHECK_EQ(info_of(e, M).type, VMMU_FTYPE_WRITABLE);
	CHECK_EQ(info_of(e, M).type_count, 2);
}

/* A non-table type stays at count 0 and is taken again with no hook. */
static void test_writable_keeps_type_at_count_0(void **state)
{
	struct env *e = *state;

	assign_and_get(e, M);
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_WRITABLE, &e->ops), 0);
	CHECK_EQ(vmmu_ft_put_type(&e->ft, M, &e->ops), 0);
	CHECK_EQ(info_of(e, M).type, VMMU_FTYPE_WRITABLE);
	CHECK_EQ(info_of(e, M).type_count, 0);
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_WRITABLE, &e->ops), 0);
	CHECK_EQ(info_of(e, M).type_count, 1);
	EXPECT_HOOKS(e, 0, 0, 0);
}

/*
 * XSA-401 ordering: when a writable frame becomes a table, the new type is
 * published before leave_writable flushes, and validation comes after.
 */
static void test_writable_to_l2_publishes_type_before_flush(void **state)
{
	struct env *e = *state;

	assign_and_get(e, M);
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_WRITABLE, &e->ops), 0);
	CHECK_EQ(vmmu_ft_put_type(&e->ft, M, &e->ops), 0);
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_L2, &e->ops), 0);
	EXPECT_HOOKS(e, 1, 0, 1);
	CHECK_EQ(strcmp(e->order, "LV"), 0);
	WHERE("inside leave_writable");
	CHECK_EQ(e->in_leave.type, VMMU_FTYPE_L2);
	CHECK_EQ(e->in_leave.validated, false);
	CHECK_EQ(e->hook_mfn, M);
	CHECK_EQ(e->hook_type, VMMU_FTYPE_L2);
	EXPECT_FRAME(e, M, 2, VMMU_FTYPE_L2, 1, true, false);
}

static void test_null_leave_writable_is_allowed(void **state)
{
	struct env *e = *state;

	e->ops.leave_writable = NULL;
	assign_and_get(e, M);
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_WRITABLE, &e->ops), 0);
	CHECK_EQ(vmmu_ft_put_type(&e->ft, M, &e->ops), 0);
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_L1, &e->ops), 0);
	EXPECT_HOOKS(e, 1, 0, 0);
	EXPECT_FRAME(e, M, 2, VMMU_FTYPE_L1, 1, true, false);
}

static void test_table_to_writable_needs_no_hook_but_devalidate(void **state)
{
	struct env *e = *state;

	assign_and_get(e, M);
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_L1, &e->ops), 0);
	CHECK_EQ(vmmu_ft_put_type(&e->ft, M, &e->ops), 0);
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_WRITABLE, &e->ops), 0);
	EXPECT_HOOKS(e, 1, 1, 0);
	CHECK_EQ(strcmp(e->order, "VD"), 0);
	CHECK_EQ(info_of(e, M).type, VMMU_FTYPE_WRITABLE);
}

static void inside_devalidate_try_other_types(struct env *e, uint64_t mfn,
					      char hook)
{
	if (hook == 'D') {
		e->inner_rc = vmmu_ft_get_type(&e->ft, mfn, VMMU_FTYPE_L2, &e->ops);
		e->inner_rc2 = vmmu_ft_get_type(&e->ft, mfn, VMMU_FTYPE_WRITABLE,
						&e->ops);
	}
}

static void test_last_put_type_devalidates_once(void **state)
{
	struct env *e = *state;

	assign_and_get(e, M);
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_L1, &e->ops), 0);
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_L1, &e->ops), 0);
	CHECK_EQ(vmmu_ft_put_type(&e->ft, M, &e->ops), 0);
	EXPECT_HOOKS(e, 1, 0, 0);
	EXPECT_FRAME(e, M, 2, VMMU_FTYPE_L1, 1, true, false);
	e->inside = inside_devalidate_try_other_types;
	CHECK_EQ(vmmu_ft_put_type(&e->ft, M, &e->ops), 0);
	EXPECT_HOOKS(e, 1, 1, 0);
	CHECK_EQ(e->hook_mfn, M);
	CHECK_EQ(e->hook_type, VMMU_FTYPE_L1);
	WHERE("during devalidate: held at count 1, not validated");
	CHECK_EQ(e->in_devalidate.type, VMMU_FTYPE_L1);
	CHECK_EQ(e->in_devalidate.type_count, 1);
	CHECK_EQ(e->in_devalidate.validated, false);
	CHECK_EQ(e->inner_rc, -VMMU_EBUSY);
	CHECK_EQ(e->inner_rc2, -VMMU_EBUSY);
	WHERE("after: unused");
	CHECK_EQ(info_of(e, M).type_count, 0);
	CHECK_EQ(info_of(e, M).validated, false);
	CHECK_EQ(info_of(e, M).count, 2);
	WHERE("the same type validates again");
	e->inside = NULL;
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_L1, &e->ops), 0);
	EXPECT_HOOKS(e, 2, 1, 0);
	EXPECT_FRAME(e, M, 2, VMMU_FTYPE_L1, 1, true, false);
}

/* --- pin / unpin -------------------------------------------------------------- */

static void inside_validate_pin(struct env *e, uint64_t mfn, char hook)
{
	if (hook == 'V') {
		e->inner_rc = vmmu_ft_pin(&e->ft, mfn);
	}
}

static void test_pin_needs_validated_type_ref(void **state)
{
	struct env *e = *state;

	assign_and_get(e, M);
	WHERE("typeless");
	CHECK_EQ(vmmu_ft_pin(&e->ft, M), -VMMU_EINVAL);
	WHERE("while still being validated");
	e->inside = inside_validate_pin;
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_L1, &e->ops), 0);
	CHECK_EQ(e->inner_rc, -VMMU_EINVAL);
	CHECK_EQ(info_of(e, M).pinned, false);
	e->inside = NULL;
	WHERE("L1 at count 0 after devalidate");
	CHECK_EQ(vmmu_ft_put_type(&e->ft, M, &e->ops), 0);
	CHECK_EQ(vmmu_ft_pin(&e->ft, M), -VMMU_EINVAL);
	CHECK_EQ(info_of(e, M).pinned, false);
	WHERE("free frame");
	CHECK_EQ(vmmu_ft_pin(&e->ft, M + 1), -VMMU_EINVAL);
	EXPECT_FREE(e, M + 1);
}

static void test_pin_unpin_and_double_pin(void **state)
{
	struct env *e = *state;

	assign_and_get(e, M);
	CHECK_EQ(vmmu_ft_unpin(&e->ft, M), -VMMU_EINVAL);
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_L1, &e->ops), 0);
	CHECK_EQ(vmmu_ft_pin(&e->ft, M), 0);
	EXPECT_FRAME(e, M, 2, VMMU_FTYPE_L1, 1, true, true);
	WHERE("double pin");
	CHECK_EQ(vmmu_ft_pin(&e->ft, M), -VMMU_EINVAL);
	EXPECT_FRAME(e, M, 2, VMMU_FTYPE_L1, 1, true, true);
	WHERE("unpin gives the reference back");
	CHECK_EQ(vmmu_ft_unpin(&e->ft, M), 0);
	EXPECT_FRAME(e, M, 2, VMMU_FTYPE_L1, 1, true, false);
	CHECK_EQ(vmmu_ft_unpin(&e->ft, M), -VMMU_EINVAL);
	CHECK_EQ(vmmu_ft_put_type(&e->ft, M, &e->ops), 0);
	EXPECT_HOOKS(e, 1, 1, 0);
	CHECK_EQ(info_of(e, M).type_count, 0);
}

static void test_pinned_frame_keeps_its_type_for_other_users(void **state)
{
	struct env *e = *state;

	assign_and_get(e, M);
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_L2, &e->ops), 0);
	CHECK_EQ(vmmu_ft_pin(&e->ft, M), 0);
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_L2, &e->ops), 0);
	/* Not the pin's reference: */
	CHECK_EQ(vmmu_ft_put_type(&e->ft, M, &e->ops), 0);
	EXPECT_FRAME(e, M, 2, VMMU_FTYPE_L2, 1, true, true);
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_WRITABLE, &e->ops),
		 -VMMU_EBUSY);
	EXPECT_HOOKS(e, 1, 0, 0);
}

static void test_put_type_of_pinned_last_ref_panics(void **state)
{
	struct env *e = *state;

	assign_and_get(e, M);
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_L1, &e->ops), 0);
	CHECK_EQ(vmmu_ft_pin(&e->ft, M), 0);
	EXPECT_PANIC(vmmu_ft_put_type(&e->ft, M, &e->ops));
	CHECK_EQ(e->devalidates, 0);
}

/* --- references nobody holds ------------------------------------------------ */

static void test_put_of_unheld_general_ref_panics(void **state)
{
	struct env *e = *state;

	WHERE("never assigned");
	EXPECT_PANIC(vmmu_ft_put(&e->ft, M));
	WHERE("freed by its last put");
	CHECK_EQ(vmmu_ft_assign(&e->ft, M + 1, DOM), 0);
	CHECK_EQ(vmmu_ft_release(&e->ft, M + 1, DOM), 1);
	EXPECT_PANIC(vmmu_ft_put(&e->ft, M + 1));
}

static void test_put_type_of_unheld_type_ref_panics(void **state)
{
	struct env *e = *state;

	WHERE("typeless");
	assign_and_get(e, M);
	EXPECT_PANIC(vmmu_ft_put_type(&e->ft, M, &e->ops));
	WHERE("writable at count 0");
	assign_and_get(e, M + 1);
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M + 1, VMMU_FTYPE_WRITABLE, &e->ops), 0);
	CHECK_EQ(vmmu_ft_put_type(&e->ft, M + 1, &e->ops), 0);
	EXPECT_PANIC(vmmu_ft_put_type(&e->ft, M + 1, &e->ops));
	WHERE("L1 after devalidate");
	assign_and_get(e, M + 2);
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M + 2, VMMU_FTYPE_L1, &e->ops), 0);
	CHECK_EQ(vmmu_ft_put_type(&e->ft, M + 2, &e->ops), 0);
	EXPECT_PANIC(vmmu_ft_put_type(&e->ft, M + 2, &e->ops));
	EXPECT_HOOKS(e, 1, 1, 0);
}

/* --- info --------------------------------------------------------------------- */

static void test_info_reports_each_step(void **state)
{
	struct env *e = *state;
	struct vmmu_frame_info i;

	CHECK_EQ(vmmu_ft_assign(&e->ft, M, 0x1234), 0);
	i = info_of(e, M);
	CHECK_EQ(i.owner, 0x1234);
	CHECK_EQ(i.allocated, true);
	CHECK_EQ(vmmu_ft_get(&e->ft, M, 0x1234), 0);
	CHECK_EQ(vmmu_ft_get(&e->ft, M, 0x1234), 0);
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_L4, &e->ops), 0);
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_L4, &e->ops), 0);
	CHECK_EQ(vmmu_ft_pin(&e->ft, M), 0);
	i = info_of(e, M);
	CHECK_EQ(i.count, 3);
	CHECK_EQ(i.owner, 0x1234);
	CHECK_EQ(i.type, VMMU_FTYPE_L4);
	CHECK_EQ(i.type_count, 2);
	CHECK_EQ(i.allocated, true);
	CHECK_EQ(i.validated, true);
	CHECK_EQ(i.pinned, true);
	CHECK_EQ(i.partial, false);
	CHECK_EQ(vmmu_ft_release(&e->ft, M, 0x1234), 0);
	i = info_of(e, M);
	CHECK_EQ(i.count, 2);
	CHECK_EQ(i.allocated, false);
	CHECK_EQ(i.type, VMMU_FTYPE_L4);
	WHERE("other frames untouched");
	EXPECT_FREE(e, M - 1);
	EXPECT_FREE(e, M + 1);
}

/* --- get_type waiting for another validation --------------------------------- */

/*
 * Stand in for a second CPU arriving while this frame is being validated:
 * the same thread asks for the type from inside validate. It must wait,
 * and as should_yield says stop it must give up with -VMMU_EAGAIN and
 * nothing taken (with should_yield false it would wait for itself
 * forever).
 */
static void inside_validate_ask_again(struct env *e, uint64_t mfn, char hook)
{
	if (hook != 'V') {
		return;
	}
	e->tp.yield = true;
	e->inner_before = info_of(e, mfn);
	e->inner_rc = vmmu_ft_get_type(&e->ft, mfn, e->hook_type, &e->ops);
	e->inner_after = info_of(e, mfn);
	WHERE("another type meanwhile");
	e->inner_rc2 = vmmu_ft_get_type(&e->ft, mfn, VMMU_FTYPE_L2, &e->ops);
	e->tp.yield = false;
}

static void test_get_type_during_validation_restarts(void **state)
{
	struct env *e = *state;

	assign_and_get(e, M);
	e->inside = inside_validate_ask_again;
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_L1, &e->ops), 0);
	CHECK_EQ(e->inner_rc, -VMMU_EAGAIN);
	CHECK_EQ(e->inner_rc2, -VMMU_EBUSY);
	WHERE("the restarted call took nothing");
	CHECK_EQ(e->inner_after.count, e->inner_before.count);
	CHECK_EQ(e->inner_after.type, e->inner_before.type);
	CHECK_EQ(e->inner_after.type_count, e->inner_before.type_count);
	CHECK_EQ(e->inner_after.validated, e->inner_before.validated);
	CHECK_EQ(e->inner_after.pinned, e->inner_before.pinned);
	CHECK_EQ(e->inner_after.type_count, e->in_validate.type_count);
	EXPECT_HOOKS(e, 1, 0, 0);
	WHERE("after");
	EXPECT_FRAME(e, M, 2, VMMU_FTYPE_L1, 1, true, false);
	e->inside = NULL;
	CHECK_EQ(vmmu_ft_put_type(&e->ft, M, &e->ops), 0);
	EXPECT_HOOKS(e, 1, 1, 0);
	CHECK_EQ(info_of(e, M).type_count, 0);
}

/* should_yield matters only while waiting: no wait, no restart. */
static void test_should_yield_alone_does_not_restart(void **state)
{
	struct env *e = *state;

	e->tp.yield = true;
	assign_and_get(e, M);
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_L1, &e->ops), 0);
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_L1, &e->ops), 0);
	EXPECT_FRAME(e, M, 2, VMMU_FTYPE_L1, 2, true, false);
	EXPECT_HOOKS(e, 1, 0, 0);
}

/* --- preemptible (de)validation ------------------------------------------------ */

static void test_validate_restart_gives_partial_ref_and_continues(void **state)
{
	struct env *e = *state;
	struct vmmu_frame_info i;

	assign_and_get(e, M);
	e->validate_stops = 2;
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_L2, &e->ops),
		 -VMMU_ERESTART);
	i = info_of(e, M);
	CHECK_EQ(i.type, VMMU_FTYPE_L2);
	CHECK_EQ(i.type_count, 1);
	CHECK_EQ(i.validated, false);
	CHECK_EQ(i.partial, true);
	CHECK_EQ(i.devalidating, false);
	WHERE("nobody else can take the frame meanwhile");
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_L2, &e->ops),
		 -VMMU_EAGAIN);
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_WRITABLE, &e->ops) < 0,
		 true);
	CHECK_EQ(vmmu_ft_pin(&e->ft, M), -VMMU_EINVAL);
	CHECK_EQ(e->validates, 1);
	WHERE("continue with the wrong type");
	CHECK_EQ(vmmu_ft_continue_type(&e->ft, M, VMMU_FTYPE_L1, &e->ops),
		 -VMMU_ENOENT);
	CHECK_EQ(e->validates, 1);
	WHERE("continue twice");
	CHECK_EQ(vmmu_ft_continue_type(&e->ft, M, VMMU_FTYPE_L2, &e->ops),
		 -VMMU_ERESTART);
	CHECK_EQ(info_of(e, M).partial, true);
	CHECK_EQ(vmmu_ft_continue_type(&e->ft, M, VMMU_FTYPE_L2, &e->ops), 0);
	EXPECT_FRAME(e, M, 2, VMMU_FTYPE_L2, 1, true, false);
	EXPECT_HOOKS(e, 3, 0, 0);
	WHERE("progress kept in the scratch word across the stops");
	CHECK_EQ(e->nscratch, 3);
	CHECK_EQ(e->scratch_seen[0], 0);
	CHECK_EQ(e->scratch_seen[1], 1);
	CHECK_EQ(e->scratch_seen[2], 2);
	CHECK_EQ(vmmu_ft_continue_type(&e->ft, M, VMMU_FTYPE_L2, &e->ops),
		 -VMMU_ENOENT);
	WHERE("a full reference like any other");
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_L2, &e->ops), 0);
	CHECK_EQ(info_of(e, M).type_count, 2);
	EXPECT_HOOKS(e, 3, 0, 0);
}

static void test_continue_after_restart_can_fail(void **state)
{
	struct env *e = *state;

	assign_and_get(e, M);
	e->validate_stops = 1;
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_L1, &e->ops),
		 -VMMU_ERESTART);
	e->validate_rc = -VMMU_EFAULT;
	CHECK_EQ(vmmu_ft_continue_type(&e->ft, M, VMMU_FTYPE_L1, &e->ops),
		 -VMMU_EFAULT);
	EXPECT_FRAME(e, M, 2, VMMU_FTYPE_NONE, 0, false, false);
	CHECK_EQ(vmmu_ft_continue_type(&e->ft, M, VMMU_FTYPE_L1, &e->ops),
		 -VMMU_ENOENT);
	e->validate_rc = 0;
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_L1, &e->ops), 0);
	CHECK_EQ(e->scratch_seen[e->nscratch - 1], 0);
	EXPECT_HOOKS(e, 3, 0, 0);
}

static void test_abandon_devalidates_what_was_done(void **state)
{
	struct env *e = *state;

	assign_and_get(e, M);
	WHERE("nothing partial to abandon");
	CHECK_EQ(vmmu_ft_abandon_type(&e->ft, M, &e->ops), -VMMU_ENOENT);
	e->validate_stops = 1;
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_L3, &e->ops),
		 -VMMU_ERESTART);
	CHECK_EQ(vmmu_ft_abandon_type(&e->ft, M, &e->ops), 0);
	EXPECT_HOOKS(e, 1, 1, 0);
	CHECK_EQ(e->hook_type, VMMU_FTYPE_L3);
	WHERE("devalidate saw the stopped validation's progress");
	CHECK_EQ(e->scratch_seen[1], 1);
	CHECK_EQ(info_of(e, M).type_count, 0);
	CHECK_EQ(info_of(e, M).validated, false);
	CHECK_EQ(info_of(e, M).partial, false);
	CHECK_EQ(vmmu_ft_abandon_type(&e->ft, M, &e->ops), -VMMU_ENOENT);
	WHERE("the frame is free for any type");
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_WRITABLE, &e->ops), 0);
	EXPECT_HOOKS(e, 1, 1, 0);
}

static void test_abandon_whose_devalidate_stops_finishes_by_put_type(void **state)
{
	struct env *e = *state;

	assign_and_get(e, M);
	e->validate_stops = 1;
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_L1, &e->ops),
		 -VMMU_ERESTART);
	e->devalidate_stops = 1;
	CHECK_EQ(vmmu_ft_abandon_type(&e->ft, M, &e->ops), -VMMU_ERESTART);
	CHECK_EQ(info_of(e, M).partial, true);
	CHECK_EQ(info_of(e, M).devalidating, true);
	CHECK_EQ(vmmu_ft_put_type(&e->ft, M, &e->ops), 0);
	EXPECT_HOOKS(e, 1, 2, 0);
	CHECK_EQ(info_of(e, M).type_count, 0);
	CHECK_EQ(info_of(e, M).partial, false);
	CHECK_EQ(info_of(e, M).devalidating, false);
}

static void test_put_type_restart_keeps_ref_until_done(void **state)
{
	struct env *e = *state;
	struct vmmu_frame_info i;

	assign_and_get(e, M);
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_L1, &e->ops), 0);
	e->devalidate_stops = 2;
	CHECK_EQ(vmmu_ft_put_type(&e->ft, M, &e->ops), -VMMU_ERESTART);
	i = info_of(e, M);
	CHECK_EQ(i.type, VMMU_FTYPE_L1);
	CHECK_EQ(i.type_count, 1);
	CHECK_EQ(i.validated, false);
	CHECK_EQ(i.partial, true);
	CHECK_EQ(i.devalidating, true);
	WHERE("nobody takes it meanwhile");
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_L1, &e->ops),
		 -VMMU_EAGAIN);
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_WRITABLE, &e->ops) < 0,
		 true);
	CHECK_EQ(vmmu_ft_pin(&e->ft, M), -VMMU_EINVAL);
	CHECK_EQ(vmmu_ft_continue_type(&e->ft, M, VMMU_FTYPE_L1, &e->ops),
		 -VMMU_ENOENT);
	CHECK_EQ(vmmu_ft_put_type(&e->ft, M, &e->ops), -VMMU_ERESTART);
	CHECK_EQ(vmmu_ft_put_type(&e->ft, M, &e->ops), 0);
	EXPECT_HOOKS(e, 1, 3, 0);
	CHECK_EQ(e->scratch_seen[1], 1);
	CHECK_EQ(e->scratch_seen[2], 2);
	CHECK_EQ(e->scratch_seen[3], 3);
	CHECK_EQ(info_of(e, M).type_count, 0);
	CHECK_EQ(info_of(e, M).partial, false);
	CHECK_EQ(vmmu_ft_get_type(&e->ft, M, VMMU_FTYPE_L1, &e->ops), 0);
	CHECK_EQ(e->scratch_seen[4], 0);
	EXPECT_HOOKS(e, 2, 3, 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_record_is_32_bytes),
		T(test_bytes_is_32_per_frame_and_0_on_overflow),
		T(test_init_refuses_bad_memory),
		T(test_init_makes_every_frame_free),
		T(test_16gib_table_last_frame_works),
		T(test_mfn_beyond_table_is_einval_and_touches_nothing),
		T(test_assign_gives_one_ref_owned_by_dom),
		T(test_assign_of_non_free_frame_is_ebusy),
		T(test_get_by_other_domain_is_eperm),
		T(test_get_after_release_is_eperm),
		T(test_release_by_non_owner_is_eperm),
		T(test_release_returns_1_when_free_0_when_refs_remain),
		T(test_reassigned_frame_has_no_old_type),
		T(test_reassigned_frame_forgets_unused_type),
		T(test_saturated_counts_are_ebusy),
		T(test_first_l1_user_validates_once),
		T(test_each_table_type_validates_as_itself),
		T(test_type_none_is_refused),
		T(test_second_type_while_in_use_is_ebusy),
		T(test_validate_failure_leaves_frame_typeless_and_retries),
		T(test_writable_needs_no_validate),
		T(test_writable_keeps_type_at_count_0),
		T(test_writable_to_l2_publishes_type_before_flush),
		T(test_null_leave_writable_is_allowed),
		T(test_table_to_writable_needs_no_hook_but_devalidate),
		T(test_last_put_type_devalidates_once),
		T(test_pin_needs_validated_type_ref),
		T(test_pin_unpin_and_double_pin),
		T(test_pinned_frame_keeps_its_type_for_other_users),
		T(test_put_type_of_pinned_last_ref_panics),
		T(test_put_of_unheld_general_ref_panics),
		T(test_put_type_of_unheld_type_ref_panics),
		T(test_info_reports_each_step),
		T(test_get_type_during_validation_restarts),
		T(test_should_yield_alone_does_not_restart),
		T(test_validate_restart_gives_partial_ref_and_continues),
		T(test_continue_after_restart_can_fail),
		T(test_abandon_devalidates_what_was_done),
		T(test_abandon_whose_devalidate_stops_finishes_by_put_type),
		T(test_put_type_restart_keeps_ref_until_done),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
