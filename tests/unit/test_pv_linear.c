/* SPDX-License-Identifier: MIT */
/*
 * Linear (same-level, recursive) page tables under Xen's rules
 * (VMMU_PV_LINEAR_PT): read-only only (XSA-182), only to a validated table
 * of the same domain and level or to the table itself, and a table holds
 * such links or is linked to, never both (XSA-240). The audit runs after
 * every step; at the end every count and link count is back to zero.
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
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	pv_fixture_init(&fx->pv, NFRAMES, NFRAMES - 9, DOM, OTHER,
			VMMU_PV_LINEAR_PT);
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

static void assert_audit_clean(struct fixture *fx)
{
	PV_ASSERT_AUDIT_CLEAN(&fx->pv);
}

/* Nothing held anywhere: every frame back to its allocation reference. */
static void assert_all_released(struct fixture *fx)
{
	for (uint64_t mfn = 1; mfn < NFRAMES; mfn++) {
		struct vmmu_frame_info i;
		assert_int_equal(vmmu_ft_info(&fx->pv.ft, mfn, &i), 0);
		assert_int_equal(i.count, 1);
		assert_int_equal(i.type_count, 0);
		assert_int_equal(vmmu_ft_linear(&fx->pv.ft, mfn), 0);
	}
}

static int pin(struct fixture *fx, uint32_t cmd, uint64_t mfn)
{
	return pv_ext(&fx->pv, cmd, mfn, 0);
}

static int update(struct fixture *fx, uint64_t tab, unsigned index,
		  uint64_t val)
{
	struct vmmu_pv_mmu_update r = {.ptr = (tab << 12) + index * 8u,
				       .val = val};
	uint32_t done = 0;

	return vmmu_pv_mmu_update(&fx->pv.v, &r, 1, &done, VMMU_PV_DOMID_SELF);
}

static void unpin_all(struct fixture *fx, const uint64_t *mfns, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(pin(fx, VMMU_PV_MMUEXT_UNPIN_TABLE, mfns[i]), 0);
		assert_audit_clean(fx);
	}
}

static void test_self_map_read_only_only(void **state)
{
	struct fixture *fx = *state;
	const uint64_t l4 = 1;

	table(fx, l4)[258] = (l4 << 12) | P | RW; /* writable self map */
	assert_int_equal(pin(fx, VMMU_PV_MMUEXT_PIN_L4_TABLE, l4), -VMMU_EINVAL);
	assert_audit_clean(fx);
	table(fx, l4)[258] = (l4 << 12) | P; /* read-only: the classic */
	assert_int_equal(pin(fx, VMMU_PV_MMUEXT_PIN_L4_TABLE, l4), 0);
	assert_audit_clean(fx);
	assert_int_equal(vmmu_ft_linear(&fx->pv.ft, l4), 0); /* holds nothing */
	unpin_all(fx, &l4, 1);
	assert_all_released(fx);
}

static void test_link_to_another_validated_table(void **state)
{
	struct fixture *fx = *state;
	const uint64_t a = 1, b = 2;
	const uint64_t pins[] = {a, b};

	assert_int_equal(pin(fx, VMMU_PV_MMUEXT_PIN_L4_TABLE, b), 0);
	table(fx, a)[7] = (b << 12) | P;
	assert_int_equal(pin(fx, VMMU_PV_MMUEXT_PIN_L4_TABLE, a), 0);
	assert_audit_clean(fx);
	assert_int_equal(vmmu_ft_linear(&fx->pv.ft, a), 1);
	assert_int_equal(vmmu_ft_linear(&fx->pv.ft, b), -1);
	unpin_all(fx, pins, 2);
	assert_all_released(fx);
}

static void test_down_link_is_tried_first(void **state)
{
	struct fixture *fx = *state;
	const uint64_t a = 1, b = 2;
	struct vmmu_frame_info i;

	/* b is no table yet: it becomes a's L3, not a same-level link. */
	table(fx, a)[7] = (b << 12) | P;
	assert_int_equal(pin(fx, VMMU_PV_MMUEXT_PIN_L4_TABLE, a), 0);
	assert_int_equal(vmmu_ft_info(&fx->pv.ft, b, &i), 0);
	assert_int_equal(i.type, VMMU_FTYPE_L3);
	assert_int_equal(vmmu_ft_linear(&fx->pv.ft, a), 0);
	assert_audit_clean(fx);
	unpin_all(fx, &a, 1);
	assert_all_released(fx);
}

/* A same-level table still being validated cannot be linked to. */
static void test_link_to_table_mid_validation_refused(void **state)
{
	struct fixture *fx = *state;
	struct vmmu_pv_vcpu other;
	const uint64_t a = 1, b = 2, l3 = 3;

	assert_int_equal(vmmu_pv_vcpu_init(&other, &fx->pv.d, 1), 0);
	table(fx, b)[0] = (l3 << 12) | P; /* something to validate */
	fx->pv.tp.yield = true;
	struct vmmu_pv_mmuext_op op = {.cmd = VMMU_PV_MMUEXT_PIN_L4_TABLE,
				       .arg1.mfn = b};
	uint32_t done = 0;
	assert_int_equal(vmmu_pv_mmuext_op(&other, &op, 1, &done,
					   VMMU_PV_DOMID_SELF),
			 -VMMU_ERESTART);
	fx->pv.tp.yield = false;
	/* b is an L4 in use, not validated: no link, and no waiting. */
	table(fx, a)[7] = (b << 12) | P;
	assert_int_equal(pin(fx, VMMU_PV_MMUEXT_PIN_L4_TABLE, a), -VMMU_EBUSY);
	/* The other vCPU gives its partial pin up. */
	assert_int_equal(vmmu_pv_vcpu_release(&other), 0);
	assert_audit_clean(fx);
	assert_all_released(fx);
}

static void test_hold_or_be_held_never_both(void **state)
{
	struct fixture *fx = *state;
	const uint64_t a = 1, b = 2, c = 3;
	const uint64_t pins[] = {b, c};

	assert_int_equal(pin(fx, VMMU_PV_MMUEXT_PIN_L3_TABLE, c), 0);
	table(fx, b)[1] = (c << 12) | P; /* b holds a link to c */
	assert_int_equal(pin(fx, VMMU_PV_MMUEXT_PIN_L3_TABLE, b), 0);
	table(fx, a)[2] = (b << 12) | P; /* a would link to b: b both sides */
	assert_int_equal(pin(fx, VMMU_PV_MMUEXT_PIN_L3_TABLE, a), -VMMU_EBUSY);
	assert_audit_clean(fx);
	/* c is linked to: it may not hold a link itself either. */
	assert_int_equal(update(fx, c, 9, (b << 12) | P), -VMMU_EBUSY);
	assert_audit_clean(fx);
	unpin_all(fx, pins, 2);
	assert_all_released(fx);
}

static void test_rw_upgrade_of_a_link_refused(void **state)
{
	struct fixture *fx = *state;
	const uint64_t l2a = 5, l2b = 6, l1 = 7;
	const uint64_t pins[] = {l2a, l2b};

	table(fx, l2b)[0] = (l1 << 12) | P | RW;
	assert_int_equal(pin(fx, VMMU_PV_MMUEXT_PIN_L2_TABLE, l2b), 0);
	assert_int_equal(pin(fx, VMMU_PV_MMUEXT_PIN_L2_TABLE, l2a), 0);
	/* Link l2a[3] to l2b read-only through mmu_update... */
	assert_int_equal(update(fx, l2a, 3, (l2b << 12) | P), 0);
	assert_audit_clean(fx);
	/* ...then ask for RW on it: never the fast path (Xen XSA-182). */
	assert_int_equal(update(fx, l2a, 3, (l2b << 12) | P | RW), -VMMU_EINVAL);
	assert_int_equal(table(fx, l2a)[3], (l2b << 12) | P);
	assert_audit_clean(fx);
	/* Dropping the link gives back its counts. */
	assert_int_equal(update(fx, l2a, 3, 0), 0);
	assert_int_equal(vmmu_ft_linear(&fx->pv.ft, l2a), 0);
	assert_int_equal(vmmu_ft_linear(&fx->pv.ft, l2b), 0);
	unpin_all(fx, pins, 2);
	assert_all_released(fx);
}

static void test_no_links_across_domains(void **state)
{
	struct fixture *fx = *state;
	const uint64_t a = 1, foreign = NFRAMES - 1;

	table(fx, a)[7] = (foreign << 12) | P;
	assert_int_equal(pin(fx, VMMU_PV_MMUEXT_PIN_L4_TABLE, a), -VMMU_EPERM);
	assert_audit_clean(fx);
	assert_int_equal(vmmu_ft_linear(&fx->pv.ft, foreign), 0);
	assert_all_released(fx);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_self_map_read_only_only),
		T(test_link_to_another_validated_table),
		T(test_down_link_is_tried_first),
		T(test_link_to_table_mid_validation_refused),
		T(test_hold_or_be_held_never_both),
		T(test_rw_upgrade_of_a_link_refused),
		T(test_no_links_across_domains),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
