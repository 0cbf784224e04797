/* SPDX-License-Identifier: MIT */
/*
 * Frame table: (de)validation that stops early and is resumed, given up or
 * finished by the caller that owns it (the paused state), and what every
 * other caller sees meanwhile. The scripted validator below validates one
 * "entry" per call when asked to stop, keeping its progress in the frame's
 * scratch word, as a real page-table validator would.
 */
/* cmocka.h needs these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "test_platform.h"

#define NFRAMES 16u
#define ENTRIES 4u /* a tiny table: four entries to validate */
#define DOM 3u

struct script {
	struct vmmu_ft *ft;
	bool stop_each_entry; /* return -VMMU_ERESTART after every entry */
	unsigned fail_at;     /* entry whose check fails (ENTRIES+1: none) */
	unsigned held;        /* entries currently holding their references */
	unsigned validate_calls, devalidate_calls;
};

static int script_validate(void *ctx, uint64_t mfn, unsigned type)
{
	struct script *s = ctx;
	uint64_t *done = vmmu_ft_scratch(s->ft, mfn);

	(void)type;
	s->validate_calls++;
	while (*done < ENTRIES) {
		if (*done == s->fail_at) {
			s->held -= (unsigned)*done; /* release what was taken */
			return -VMMU_EINVAL;
		}
		++*done;
		s->held++;
		if (s->stop_each_entry && *done < ENTRIES) {
			return -VMMU_ERESTART;
		}
	}
	return 0;
}

static int script_devalidate(void *ctx, uint64_t mfn, unsigned type)
{
	struct script *s = ctx;
	uint64_t *done = vmmu_ft_scratch(s->ft, mfn);

	(void)type;
	s->devalidate_calls++;
	while (*done > 0) {
		--*done;
		s->held--;
		if (s->stop_each_entry && *done > 0) {
			return -VMMU_ERESTART;
		}
	}
	return 0;
}

struct fixture {
	struct test_platform tp;
	struct vmmu_ft ft;
	void *mem;
	struct script script;
	struct vmmu_ft_ops ops;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	test_platform_init(&fx->tp, 8);
	fx->mem = calloc(NFRAMES, sizeof(struct vmmu_frame));
	assert_non_null(fx->mem);
	assert_int_equal(vmmu_ft_init(&fx->ft, fx->mem,
				      vmmu_ft_bytes(NFRAMES), NFRAMES,
				      &fx->tp.plat),
			 0);
	fx->script.ft = &fx->ft;
	fx->script.fail_at = ENTRIES + 1;
	fx->ops.validate = script_validate;
	fx->ops.devalidate = script_devalidate;
	fx->ops.ctx = &fx->script;
	for (uint64_t mfn = 0; mfn < NFRAMES; mfn++) {
		assert_int_equal(vmmu_ft_assign(&fx->ft, mfn, DOM), 0);
	}
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	free(fx->mem);
	test_platform_fini(&fx->tp);
	free(fx);
	return 0;
}

static struct vmmu_frame_info info(struct fixture *fx, uint64_t mfn)
{
	struct vmmu_frame_info i;

	assert_int_equal(vmmu_ft_info(&fx->ft, mfn, &i), 0);
	return i;
}

/* Stopped after every entry, continued by its owner until done. */
static void test_partial_validation_continued_to_the_end(void **state)
{
	struct fixture *fx = *state;

	fx->script.stop_each_entry = true;
	assert_int_equal(vmmu_ft_get_type(&fx->ft, 5, VMMU_FTYPE_L2, &fx->ops),
			 -VMMU_ERESTART);
	struct vmmu_frame_info i = info(fx, 5);
	assert_true(i.partial);
	assert_false(i.validated);
	assert_int_equal(i.type_count, 1);
	assert_int_equal(fx->script.held, 1);

	int rc;
	unsigned rounds = 1;
	while ((rc = vmmu_ft_continue_type(&fx->ft, 5, VMMU_FTYPE_L2,
					   &fx->ops)) == -VMMU_ERESTART) {
		rounds++;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(rounds, ENTRIES - 1);
	i = info(fx, 5);
	assert_true(i.validated);
	assert_false(i.partial);
	assert_int_equal(i.type_count, 1);
	assert_int_equal(fx->script.held, ENTRIES);
}

/* While paused, nobody else takes the frame, as any type. */
static void test_paused_frame_is_nobody_elses(void **state)
{
	struct fixture *fx = *state;

	fx->script.stop_each_entry = true;
	assert_int_equal(vmmu_ft_get_type(&fx->ft, 6, VMMU_FTYPE_L3, &fx->ops),
			 -VMMU_ERESTART);
	assert_int_equal(vmmu_ft_get_type(&fx->ft, 6, VMMU_FTYPE_L3, &fx->ops),
			 -VMMU_EAGAIN);
	assert_int_equal(vmmu_ft_get_type(&fx->ft, 6, VMMU_FTYPE_WRITABLE,
					  &fx->ops),
			 -VMMU_EBUSY);
	assert_int_equal(vmmu_ft_pin(&fx->ft, 6), -VMMU_EINVAL);
	/* Continuing as another type is refused. */
	assert_int_equal(vmmu_ft_continue_type(&fx->ft, 6, VMMU_FTYPE_L2,
					       &fx->ops),
			 -VMMU_ENOENT);
	assert_int_equal(info(fx, 6).type_count, 1);
	assert_int_equal(fx->script.validate_calls, 1);
}

/* Given up: what was validated is released, stopping early too. */
static void test_abandoned_partial_is_devalidated(void **state)
{
	struct fixture *fx = *state;

	fx->script.stop_each_entry = true;
	assert_int_equal(vmmu_ft_get_type(&fx->ft, 7, VMMU_FTYPE_L2, &fx->ops),
			 -VMMU_ERESTART);
	assert_int_equal(vmmu_ft_continue_type(&fx->ft, 7, VMMU_FTYPE_L2,
					       &fx->ops),
			 -VMMU_ERESTART);
	assert_int_equal(fx->script.held, 2);
	/* Two entries to release, one per call. */
	assert_int_equal(vmmu_ft_abandon_type(&fx->ft, 7, &fx->ops),
			 -VMMU_ERESTART);
	struct vmmu_frame_info i = info(fx, 7);
	assert_true(i.partial);
	assert_true(i.devalidating);
	/* Abandoning twice is refused: it is a devalidation now. */
	assert_int_equal(vmmu_ft_abandon_type(&fx->ft, 7, &fx->ops),
			 -VMMU_ENOENT);
	assert_int_equal(vmmu_ft_put_type(&fx->ft, 7, &fx->ops), 0);
	assert_int_equal(fx->script.held, 0);
	i = info(fx, 7);
	assert_int_equal(i.type_count, 0);
	assert_false(i.partial);
	assert_false(i.devalidating);
	/* Now anyone may use it, as any type. */
	assert_int_equal(vmmu_ft_get_type(&fx->ft, 7, VMMU_FTYPE_WRITABLE,
					  &fx->ops),
			 0);
}

/* The last reference of a big table drops in several calls. */
static void test_devalidation_stops_and_is_finished_by_put(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(vmmu_ft_get_type(&fx->ft, 8, VMMU_FTYPE_L4, &fx->ops), 0);
	assert_int_equal(fx->script.held, ENTRIES);
	fx->script.stop_each_entry = true;
	unsigned calls = 0;
	int rc;
	do {
		rc = vmmu_ft_put_type(&fx->ft, 8, &fx->ops);
		calls++;
		if (rc == -VMMU_ERESTART) {
			/* Meanwhile: nobody else can have it. */
			assert_int_equal(vmmu_ft_get_type(&fx->ft, 8,
							  VMMU_FTYPE_L4, &fx->ops),
					 -VMMU_EAGAIN);
		}
	} while (rc == -VMMU_ERESTART);
	assert_int_equal(rc, 0);
	assert_int_equal(calls, ENTRIES);
	assert_int_equal(fx->script.held, 0);
	assert_int_equal(info(fx, 8).type_count, 0);
	/* Used again as an L4, it validates again from entry 0. */
	fx->script.stop_each_entry = false;
	assert_int_equal(vmmu_ft_get_type(&fx->ft, 8, VMMU_FTYPE_L4, &fx->ops), 0);
	assert_int_equal(fx->script.held, ENTRIES);
}

/* A check failing after a restart: everything released, frame unused. */
static void test_failure_after_restart_leaves_nothing(void **state)
{
	struct fixture *fx = *state;

	fx->script.stop_each_entry = true;
	fx->script.fail_at = 2;
	assert_int_equal(vmmu_ft_get_type(&fx->ft, 9, VMMU_FTYPE_L1, &fx->ops),
			 -VMMU_ERESTART);
	assert_int_equal(vmmu_ft_continue_type(&fx->ft, 9, VMMU_FTYPE_L1,
					       &fx->ops),
			 -VMMU_ERESTART);
	assert_int_equal(vmmu_ft_continue_type(&fx->ft, 9, VMMU_FTYPE_L1,
					       &fx->ops),
			 -VMMU_EINVAL);
	assert_int_equal(fx->script.held, 0);
	struct vmmu_frame_info i = info(fx, 9);
	assert_int_equal(i.type_count, 0);
	assert_int_equal(i.type, VMMU_FTYPE_NONE);
	/* A fresh attempt starts from entry 0 again. */
	fx->script.fail_at = ENTRIES + 1;
	fx->script.stop_each_entry = false;
	assert_int_equal(vmmu_ft_get_type(&fx->ft, 9, VMMU_FTYPE_L1, &fx->ops), 0);
	assert_int_equal(fx->script.held, ENTRIES);
}

/* Frames beyond the table: refused before anything is read. */
static void test_preempt_calls_refuse_bad_mfn(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(vmmu_ft_continue_type(&fx->ft, NFRAMES, VMMU_FTYPE_L1,
					       &fx->ops),
			 -VMMU_EINVAL);
	assert_int_equal(vmmu_ft_abandon_type(&fx->ft, ~0ull, &fx->ops),
			 -VMMU_EINVAL);
	assert_null(vmmu_ft_scratch(&fx->ft, NFRAMES));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_partial_validation_continued_to_the_end, setup, teardown),
		cmocka_unit_test_setup_teardown(test_paused_frame_is_nobody_elses,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_abandoned_partial_is_devalidated, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_devalidation_stops_and_is_finished_by_put, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_failure_after_restart_leaves_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_preempt_calls_refuse_bad_mfn,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
