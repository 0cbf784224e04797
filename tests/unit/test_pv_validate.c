/* SPDX-License-Identifier: MIT */
/*
 * Direct paging: validating guest page tables (mmu/pv_validate.c). Every
 * test builds small trees in the test platform's arena (machine frame n is
 * arena page n), takes references through vmmu_pv_table_get and checks the
 * frame table's counts, then drops them and checks that every count is
 * back where it started: a refused or abandoned validation leaves nothing
 * behind.
 */
/* cmocka.h needs these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pv_fixture.h"

#define NFRAMES 64u
#define DOM 1u
#define OTHER_DOM 2u
#define MAXPHYADDR 40u

#define P (1ull << 0)
#define RW (1ull << 1)
#define US (1ull << 2)
#define PWT (1ull << 3)
#define PS (1ull << 7)

struct fixture {
	struct pv_fixture pv;
	struct vmmu_frame_info baseline[NFRAMES];
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	/* Frames 1..NFRAMES-9 are DOM's, the last 8 OTHER_DOM's; 0 nobody's. */
	pv_fixture_init(&fx->pv, NFRAMES, NFRAMES - 9, DOM, OTHER_DOM, 0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	pv_fixture_fini(&fx->pv);
	free(fx);
	return 0;
}

static uint64_t *table(struct fixture *fx, uint64_t mfn)
{
	return pv_table(&fx->pv, mfn);
}

/* A fresh zeroed frame of DOM's. */
static struct vmmu_frame_info info(struct fixture *fx, uint64_t mfn)
{
	struct vmmu_frame_info i;

	assert_int_equal(vmmu_ft_info(&fx->pv.ft, mfn, &i), 0);
	return i;
}

static void snapshot(struct fixture *fx)
{
	pv_snapshot(&fx->pv.ft, fx->baseline);
}

/* Every frame's counts as at the snapshot (types may stay, unvalidated). */
static void assert_counts_restored(struct fixture *fx)
{
	char buf[200];
	const char *diff =
		pv_counts_changed(&fx->pv.ft, fx->baseline, buf, sizeof(buf));

	if (diff != NULL) {
		fail_msg("%s", diff);
	}
}

static uint64_t entry(uint64_t mfn, uint64_t flags)
{
	return (mfn << 12) | flags;
}

/* An L1 mapping data frames ro (read-only) and rw (writable). */
static uint64_t make_l1(struct fixture *fx, uint64_t ro, uint64_t rw)
{
	uint64_t l1 = pv_new_frame(&fx->pv);

	table(fx, l1)[0] = entry(ro, P | US);
	table(fx, l1)[7] = entry(rw, P | RW | US);
	return l1;
}

/* L4 -> L3 -> L2 -> L1, one entry each at index idx; returns the L4. */
static uint64_t make_tree(struct fixture *fx, uint64_t l1, unsigned idx)
{
	uint64_t t = l1;

	for (unsigned level = 2; level <= 4; level++) {
		uint64_t up = pv_new_frame(&fx->pv);
		table(fx, up)[idx] = entry(t, P | RW | US);
		t = up;
	}
	return t;
}

static void put_all(struct fixture *fx, uint64_t mfn)
{
	int rc;

	while ((rc = vmmu_pv_table_put(&fx->pv.d, mfn)) == -VMMU_ERESTART) {
	}
	assert_int_equal(rc, 0);
}

/* --- L1 rules ------------------------------------------------------------------------ */

static void test_l1_takes_a_ref_per_mapping_and_writable_type(void **state)
{
	struct fixture *fx = *state;
	uint64_t ro = pv_new_frame(&fx->pv), rw = pv_new_frame(&fx->pv);
	uint64_t l1 = make_l1(fx, ro, rw);

	snapshot(fx);
	assert_int_equal(vmmu_pv_table_get(&fx->pv.d, l1, 1), 0);
	assert_true(info(fx, l1).validated);
	assert_int_equal(info(fx, l1).type, VMMU_FTYPE_L1);
	assert_int_equal(info(fx, ro).count, 2);
	assert_int_equal(info(fx, ro).type_count, 0);
	assert_int_equal(info(fx, rw).count, 2);
	assert_int_equal(info(fx, rw).type, VMMU_FTYPE_WRITABLE);
	assert_int_equal(info(fx, rw).type_count, 1);
	put_all(fx, l1);
	assert_counts_restored(fx);
}

static void test_read_only_rule_both_ways(void **state)
{
	struct fixture *fx = *state;
	uint64_t data = pv_new_frame(&fx->pv), other = pv_new_frame(&fx->pv);
	uint64_t l1a = make_l1(fx, data, other);
	uint64_t l1b = pv_new_frame(&fx->pv);

	/* l1a is a table now: a writable mapping of it is refused... */
	assert_int_equal(vmmu_pv_table_get(&fx->pv.d, l1a, 1), 0);
	snapshot(fx);
	table(fx, l1b)[3] = entry(l1a, P | RW);
	assert_int_equal(vmmu_pv_table_get(&fx->pv.d, l1b, 1), -VMMU_EBUSY);
	assert_counts_restored(fx);
	/* ...a read-only one is fine. */
	table(fx, l1b)[3] = entry(l1a, P);
	assert_int_equal(vmmu_pv_table_get(&fx->pv.d, l1b, 1), 0);
	put_all(fx, l1b);
	/* A frame mapped writable (other, through l1a) cannot become a table. */
	assert_int_equal(vmmu_pv_table_get(&fx->pv.d, other, 1), -VMMU_EBUSY);
	put_all(fx, l1a);
	assert_int_equal(vmmu_pv_table_get(&fx->pv.d, other, 1), 0);
	put_all(fx, other);
}

static void test_refused_l1_entries(void **state)
{
	struct fixture *fx = *state;
	uint64_t data = pv_new_frame(&fx->pv), l1 = pv_new_frame(&fx->pv);
	const struct {
		const char *what;
		uint64_t e;
		int rc;
	} cases[] = {
		{"another domain's frame", entry(NFRAMES - 1, P), -VMMU_EPERM},
		{"a frame beyond the table", entry(NFRAMES + 5, P), -VMMU_EPERM},
		{"nobody's frame 0", entry(0, P), -VMMU_EPERM},
		{"PWT without cache rights", entry(data, P | PWT), -VMMU_EINVAL},
		{"PAT without cache rights", entry(data, P | PS), -VMMU_EINVAL},
		{"reserved bit 51", entry(data, P) | (1ull << 51), -VMMU_EINVAL},
		{"bit above MAXPHYADDR", entry(data, P) | (1ull << MAXPHYADDR),
		 -VMMU_EINVAL},
		{"not present, cacheable address (L1TF)", entry(data, 0),
		 -VMMU_EINVAL},
	};

	snapshot(fx);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(table(fx, l1), 0, 4096);
		table(fx, l1)[0] = entry(data, P); /* a good entry before it */
		table(fx, l1)[9] = cases[i].e;
		int rc = vmmu_pv_table_get(&fx->pv.d, l1, 1);
		if (rc != cases[i].rc) {
			fail_msg("%s: rc %d, want %d", cases[i].what, rc, cases[i].rc);
		}
		assert_counts_restored(fx);
	}
	/* Not present with address 0 or beyond memory: fine. */
	memset(table(fx, l1), 0, 4096);
	table(fx, l1)[1] = 0x2;
	table(fx, l1)[2] = entry(NFRAMES + 100, 0);
	assert_int_equal(vmmu_pv_table_get(&fx->pv.d, l1, 1), 0);
	put_all(fx, l1);
	assert_counts_restored(fx);
}

/* --- trees ----------------------------------------------------------------------------- */

static void test_tree_validates_down_and_releases_up(void **state)
{
	struct fixture *fx = *state;
	uint64_t ro = pv_new_frame(&fx->pv), rw = pv_new_frame(&fx->pv);
	uint64_t l1 = make_l1(fx, ro, rw);
	uint64_t l4 = make_tree(fx, l1, 5);
	uint64_t l2 = table(fx, fx->pv.next_free - 2)[5] >> 12;

	snapshot(fx);
	assert_int_equal(vmmu_pv_table_get(&fx->pv.d, l4, 4), 0);
	assert_int_equal(info(fx, l1).type, VMMU_FTYPE_L1);
	assert_true(info(fx, l1).validated);
	assert_int_equal(info(fx, l2).type, VMMU_FTYPE_L2);
	assert_int_equal(info(fx, l2).type_count, 1);
	assert_int_equal(info(fx, rw).type_count, 1);
	/* A second user of the L4 just counts. */
	assert_int_equal(vmmu_pv_table_get(&fx->pv.d, l4, 4), 0);
	assert_int_equal(info(fx, l4).type_count, 2);
	put_all(fx, l4);
	assert_true(info(fx, l1).validated);
	put_all(fx, l4);
	assert_false(info(fx, l1).validated);
	assert_counts_restored(fx);
}

static void test_wrong_level_and_superpages_refused(void **state)
{
	struct fixture *fx = *state;
	uint64_t data = pv_new_frame(&fx->pv), l1 = make_l1(fx, data, data);
	uint64_t l2 = pv_new_frame(&fx->pv), l3 = pv_new_frame(&fx->pv);

	(void)l3;
	snapshot(fx);
	table(fx, l2)[0] = entry(l1, P | RW);
	table(fx, l2)[1] = entry(data, P | RW | PS); /* a 2M page */
	assert_int_equal(vmmu_pv_table_get(&fx->pv.d, l2, 2), -VMMU_EINVAL);
	assert_counts_restored(fx);
	/* An L3 entry pointing at an L1 (validated as such): wrong level. */
	table(fx, l2)[1] = 0;
	assert_int_equal(vmmu_pv_table_get(&fx->pv.d, l1, 1), 0);
	table(fx, l3)[0] = entry(l1, P | RW);
	assert_int_equal(vmmu_pv_table_get(&fx->pv.d, l3, 3), -VMMU_EBUSY);
	put_all(fx, l1);
	assert_counts_restored(fx);
}

static void test_self_reference_refused_without_deadlock(void **state)
{
	struct fixture *fx = *state;
	uint64_t l4 = pv_new_frame(&fx->pv);

	snapshot(fx);
	table(fx, l4)[100] = entry(l4, P); /* read-only self map */
	assert_int_equal(vmmu_pv_table_get(&fx->pv.d, l4, 4), -VMMU_EBUSY);
	assert_counts_restored(fx);
}

static void test_reserved_l4_slots_are_not_the_guests(void **state)
{
	struct fixture *fx = *state;
	uint64_t reserved[8] = {0};
	uint64_t l4 = pv_new_frame(&fx->pv);

	reserved[256 / 64] = 0xffffull; /* 256..271, as Xen */
	assert_int_equal(vmmu_pv_domain_init(&fx->pv.d, &fx->pv.ft, &fx->pv.tp.plat, DOM,
					     MAXPHYADDR, reserved, 0),
			 0);
	snapshot(fx);
	table(fx, l4)[260] = entry(NFRAMES - 1, P | RW); /* hypervisor's entry */
	assert_int_equal(vmmu_pv_table_get(&fx->pv.d, l4, 4), 0);
	put_all(fx, l4);
	assert_counts_restored(fx);
	table(fx, l4)[255] = entry(NFRAMES - 1, P | RW); /* a guest slot */
	assert_int_equal(vmmu_pv_table_get(&fx->pv.d, l4, 4), -VMMU_EPERM);
	assert_counts_restored(fx);
}

/* A bad entry deep down: everything taken on the way is given back. */
static void test_refusal_deep_in_a_tree_rolls_back(void **state)
{
	struct fixture *fx = *state;
	uint64_t ro = pv_new_frame(&fx->pv), rw = pv_new_frame(&fx->pv);
	uint64_t good = make_tree(fx, make_l1(fx, ro, rw), 1);
	uint64_t bad_l1 = make_l1(fx, ro, rw);
	uint64_t bad = make_tree(fx, bad_l1, 2);
	uint64_t l4 = pv_new_frame(&fx->pv);

	table(fx, bad_l1)[300] = entry(NFRAMES - 2, P); /* foreign frame */
	table(fx, l4)[0] = table(fx, good)[1];
	table(fx, l4)[1] = table(fx, bad)[2];
	snapshot(fx);
	assert_int_equal(vmmu_pv_table_get(&fx->pv.d, l4, 4), -VMMU_EPERM);
	assert_counts_restored(fx);
}

/* --- preemption ----------------------------------------------------------------------- */

static void test_preempted_validation_continues_to_the_same_result(void **state)
{
	struct fixture *fx = *state;
	uint64_t ro = pv_new_frame(&fx->pv), rw = pv_new_frame(&fx->pv);
	uint64_t l4 = make_tree(fx, make_l1(fx, ro, rw), 3);
	unsigned restarts = 0;
	int rc;

	table(fx, l4)[9] = table(fx, l4)[3]; /* the L3 twice: shared */
	snapshot(fx);
	fx->pv.tp.yield = true;
	rc = vmmu_pv_table_get(&fx->pv.d, l4, 4);
	while (rc == -VMMU_ERESTART) {
		restarts++;
		assert_true(info(fx, l4).partial);
		rc = vmmu_pv_table_continue(&fx->pv.d, l4, 4);
	}
	assert_int_equal(rc, 0);
	assert_true(restarts > 2);
	assert_int_equal(info(fx, table(fx, l4)[3] >> 12).type_count, 2);
	restarts = 0;
	while ((rc = vmmu_pv_table_put(&fx->pv.d, l4)) == -VMMU_ERESTART) {
		restarts++;
	}
	assert_int_equal(rc, 0);
	assert_true(restarts > 0);
	fx->pv.tp.yield = false;
	assert_counts_restored(fx);
}

static void test_abandoned_validation_leaves_nothing(void **state)
{
	struct fixture *fx = *state;
	uint64_t ro = pv_new_frame(&fx->pv), rw = pv_new_frame(&fx->pv);
	uint64_t l4 = make_tree(fx, make_l1(fx, ro, rw), 3);
	int rc;

	snapshot(fx);
	fx->pv.tp.yield = true;
	assert_int_equal(vmmu_pv_table_get(&fx->pv.d, l4, 4), -VMMU_ERESTART);
	assert_int_equal(vmmu_pv_table_continue(&fx->pv.d, l4, 4), -VMMU_ERESTART);
	/* Nobody else can use it meanwhile. */
	assert_int_equal(vmmu_pv_table_get(&fx->pv.d, l4, 4), -VMMU_EAGAIN);
	rc = vmmu_pv_table_abandon(&fx->pv.d, l4);
	while (rc == -VMMU_ERESTART) {
		rc = vmmu_pv_table_put(&fx->pv.d, l4);
	}
	assert_int_equal(rc, 0);
	fx->pv.tp.yield = false;
	assert_counts_restored(fx);
	/* And it validates from scratch afterwards. */
	assert_int_equal(vmmu_pv_table_get(&fx->pv.d, l4, 4), 0);
	put_all(fx, l4);
	assert_counts_restored(fx);
}

static void test_bad_arguments(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(vmmu_pv_table_get(&fx->pv.d, 3, 0), -VMMU_EINVAL);
	assert_int_equal(vmmu_pv_table_get(&fx->pv.d, 3, 5), -VMMU_EINVAL);
	assert_int_equal(vmmu_pv_table_get(&fx->pv.d, NFRAMES, 1), -VMMU_EINVAL);
	assert_int_equal(vmmu_pv_table_continue(&fx->pv.d, 3, 1), -VMMU_ENOENT);
	assert_int_equal(vmmu_pv_table_continue(&fx->pv.d, NFRAMES, 1),
			 -VMMU_EINVAL);
	assert_int_equal(vmmu_pv_table_abandon(&fx->pv.d, 3), -VMMU_ENOENT);
	assert_int_equal(vmmu_pv_domain_init(&fx->pv.d, &fx->pv.ft, &fx->pv.tp.plat, DOM,
					     20, NULL, 0),
			 -VMMU_EINVAL);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_l1_takes_a_ref_per_mapping_and_writable_type),
		T(test_read_only_rule_both_ways),
		T(test_refused_l1_entries),
		T(test_tree_validates_down_and_releases_up),
		T(test_wrong_level_and_superpages_refused),
		T(test_self_reference_refused_without_deadlock),
		T(test_reserved_l4_slots_are_not_the_guests),
		T(test_refusal_deep_in_a_tree_rolls_back),
		T(test_preempted_validation_continues_to_the_same_result),
		T(test_abandoned_validation_leaves_nothing),
		T(test_bad_arguments),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
