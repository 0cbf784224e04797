/* SPDX-License-Identifier: MIT */
/*
 * The direct-paging audit (vmmu_pv_audit): it agrees with the frame table
 * after legitimate hypercalls, including at every step of a preempted pin
 * and unpin, and it catches what must never happen: a reference too many
 * or too few, a page table mapped writable behind the validator's back,
 * an entry mapping another domain's frame.
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
#define OTHER 2u
#define P 1ull
#define RW 2ull

struct fixture {
	struct pv_fixture pv;
	struct vmmu_pv_audit report;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	pv_fixture_init(&fx->pv, NFRAMES, NFRAMES - 9, DOM, OTHER, 0);
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

static int audit(struct fixture *fx)
{
	return vmmu_pv_audit(&fx->pv.d, &fx->pv.v, 1, fx->pv.work, &fx->report);
}

/* Audit into fx->report (the tests read its counts too). */
static void assert_audit_clean(struct fixture *fx)
{
	if (audit(fx) != 0) {
		fail_msg("audit: %llu errors, first at frame %llu: %s",
			 (unsigned long long)fx->report.errors,
			 (unsigned long long)fx->report.first_mfn,
			 fx->report.first);
	}
}

static int ext(struct fixture *fx, uint32_t cmd, uint64_t mfn)
{
	return pv_ext(&fx->pv, cmd, mfn, 0);
}

/* L4 (frame 1) -> L3 (2) -> L2 (3) -> two L1s (4, 5) -> data 10..17. */
static void build_tree(struct fixture *fx)
{
	for (uint64_t mfn = 1; mfn < 20; mfn++) {
		memset(table(fx, mfn), 0, 4096);
	}
	table(fx, 1)[0] = (2ull << 12) | P | RW;
	table(fx, 2)[0] = (3ull << 12) | P | RW;
	table(fx, 3)[0] = (4ull << 12) | P | RW;
	table(fx, 3)[1] = (5ull << 12) | P | RW;
	for (unsigned k = 0; k < 8; k++) {
		table(fx, 4)[k] = ((10ull + k) << 12) | P | (k & 1 ? RW : 0);
		table(fx, 5)[k] = ((10ull + k) << 12) | P;
	}
}

static void test_audit_agrees_after_pin_base_and_unpin(void **state)
{
	struct fixture *fx = *state;

	build_tree(fx);
	assert_audit_clean(fx);
	assert_int_equal(ext(fx, VMMU_PV_MMUEXT_PIN_L4_TABLE, 1), 0);
	assert_audit_clean(fx);
	assert_int_equal(fx->report.tables, 5);
	assert_int_equal(ext(fx, VMMU_PV_MMUEXT_NEW_BASEPTR, 1), 0);
	assert_audit_clean(fx);
	assert_int_equal(ext(fx, VMMU_PV_MMUEXT_UNPIN_TABLE, 1), 0);
	assert_audit_clean(fx);
	assert_int_equal(vmmu_pv_vcpu_release(&fx->pv.v), 0);
	assert_audit_clean(fx);
	assert_int_equal(fx->report.tables, 0);
}

static void test_audit_agrees_at_every_step_of_a_preempted_pin(void **state)
{
	struct fixture *fx = *state;
	struct vmmu_pv_mmuext_op op = {.cmd = VMMU_PV_MMUEXT_PIN_L4_TABLE,
				       .arg1.mfn = 1};
	uint32_t done = 0;
	unsigned steps = 0;
	int rc;

	build_tree(fx);
	fx->pv.tp.yield = true;
	do {
		rc = vmmu_pv_mmuext_op(&fx->pv.v, &op, 1, &done, VMMU_PV_DOMID_SELF);
		assert_audit_clean(fx);
		steps++;
	} while (rc == -VMMU_ERESTART);
	assert_int_equal(rc, 0);
	assert_int_equal(done, 1);
	assert_true(steps > 3);
	op.cmd = VMMU_PV_MMUEXT_UNPIN_TABLE;
	done = 0;
	do {
		rc = vmmu_pv_mmuext_op(&fx->pv.v, &op, 1, &done, VMMU_PV_DOMID_SELF);
		assert_audit_clean(fx);
	} while (rc == -VMMU_ERESTART || (rc == 0 && done == 0));
	assert_int_equal(rc, 0);
	/* The unpin finished in the call; what it parked, the next one does. */
	fx->pv.tp.yield = false;
	assert_int_equal(vmmu_pv_vcpu_release(&fx->pv.v), 0);
	assert_audit_clean(fx);
	assert_int_equal(fx->report.tables, 0);
}

static void test_audit_catches_an_extra_reference(void **state)
{
	struct fixture *fx = *state;

	build_tree(fx);
	assert_int_equal(ext(fx, VMMU_PV_MMUEXT_PIN_L4_TABLE, 1), 0);
	assert_int_equal(vmmu_ft_get(&fx->pv.ft, 12, DOM), 0); /* a leak */
	assert_int_equal(audit(fx), -VMMU_EFAULT);
	assert_int_equal(fx->report.first_mfn, 12);
	vmmu_ft_put(&fx->pv.ft, 12);
	assert_audit_clean(fx);
}

static void test_audit_catches_a_writable_table_mapping(void **state)
{
	struct fixture *fx = *state;

	build_tree(fx);
	assert_int_equal(ext(fx, VMMU_PV_MMUEXT_PIN_L4_TABLE, 1), 0);
	/* Behind the validator's back: L1 frame 4 maps L2 frame 3 writable. */
	table(fx, 4)[100] = (3ull << 12) | P | RW;
	assert_int_equal(audit(fx), -VMMU_EFAULT);
	assert_int_equal(fx->report.first_mfn, 3);
	table(fx, 4)[100] = 0;
	assert_audit_clean(fx);
}

static void test_audit_catches_a_foreign_mapping(void **state)
{
	struct fixture *fx = *state;

	build_tree(fx);
	assert_int_equal(ext(fx, VMMU_PV_MMUEXT_PIN_L4_TABLE, 1), 0);
	table(fx, 5)[200] = ((uint64_t)(NFRAMES - 1) << 12) | P;
	assert_int_equal(audit(fx), -VMMU_EFAULT);
	assert_int_equal(fx->report.first_mfn, NFRAMES - 1);
	table(fx, 5)[200] = 0;
	assert_audit_clean(fx);
}

static void test_audit_bad_arguments(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(vmmu_pv_audit(&fx->pv.d, NULL, 1, fx->pv.work, &fx->report),
			 -VMMU_EINVAL);
	assert_int_equal(vmmu_pv_audit(&fx->pv.d, &fx->pv.v, 1, NULL, &fx->report),
			 -VMMU_EINVAL);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_audit_agrees_after_pin_base_and_unpin),
		T(test_audit_agrees_at_every_step_of_a_preempted_pin),
		T(test_audit_catches_an_extra_reference),
		T(test_audit_catches_a_writable_table_mapping),
		T(test_audit_catches_a_foreign_mapping),
		T(test_audit_bad_arguments),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
