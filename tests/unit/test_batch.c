/* SPDX-License-Identifier: MIT */
/*
 * The per-CPU update queue (include/vmmu/batch.h) against the recording
 * backend: immediate and lazy modes, nesting, flush triggers (full, leave,
 * explicit, context switch, interrupt context), ring wrap-around, the
 * nested ring of handlers that interrupt a batch call (driven from inside
 * the backend, which is where a flush can be interrupted), refusals, and
 * the native backend's stores and flush requests.
 */
/* cmocka.h needs these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <vmmu/batch.h>

#include "test_platform.h"

#define SLOTS 16u
#define LOG 4096u

struct fixture {
	struct vmmu_batch_cpu cpu;
	struct vmmu_batch_entry slots[SLOTS];
	struct vmmu_batch_recorder rec;
	struct vmmu_batch_entry log[LOG];
	/* A backend that wraps the recorder, to act from inside a flush. */
	struct vmmu_batch_backend hooked;
	void (*inside)(struct fixture *fx);
	unsigned inside_calls;
	int nested_rc;
};

static int hooked_submit(void *ctx, uint32_t cpu, const struct vmmu_batch_entry *e,
			 uint32_t n, uint32_t *done)
{
	struct fixture *fx = ctx;
	int rc = fx->rec.backend.submit(fx->rec.backend.ctx, cpu, e, n, done);

	if (fx->inside != NULL) {
		void (*f)(struct fixture *) = fx->inside;
		fx->inside = NULL; /* once: the nested call flushes too */
		fx->inside_calls++;
		f(fx);
	}
	return rc;
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	vmmu_batch_recorder_init(&fx->rec, fx->log, LOG);
	fx->hooked = (struct vmmu_batch_backend){.submit = hooked_submit, .ctx = fx};
	assert_int_equal(vmmu_batch_cpu_init(&fx->cpu, 3, fx->slots, SLOTS,
					     &fx->hooked),
			 0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	free(*state);
	return 0;
}

/* PTE write k: entry k of table frame 0x10 gets value 0x1000 * k | 1. */
static int write_k(struct fixture *fx, uint64_t k)
{
	return vmmu_batch_pte_write(&fx->cpu, 0x10000 + 8 * (k % 512), 1,
				    0x1000 * k | 1);
}

/* The log holds writes first..first+n-1 in order, from index at. */
static void assert_log_writes(const struct fixture *fx, uint64_t at,
			      uint64_t first, uint64_t n)
{
	assert_true(fx->rec.log_n >= at + n);
	for (uint64_t i = 0; i < n; i++) {
		const struct vmmu_batch_entry *e = &fx->log[at + i];
		assert_int_equal(e->kind, VMMU_BATCH_PTE_WRITE);
		assert_int_equal(e->val, 0x1000 * (first + i) | 1);
	}
}

static void test_init_errors(void **state)
{
	struct fixture *fx = *state;
	struct vmmu_batch_backend none = {0};

	assert_int_equal(vmmu_batch_cpu_init(NULL, 0, fx->slots, SLOTS, &fx->hooked),
			 -VMMU_EINVAL);
	assert_int_equal(vmmu_batch_cpu_init(&fx->cpu, 0, NULL, SLOTS, &fx->hooked),
			 -VMMU_EINVAL);
	assert_int_equal(vmmu_batch_cpu_init(&fx->cpu, 0, fx->slots, 12, &fx->hooked),
			 -VMMU_EINVAL); /* not a power of two */
	assert_int_equal(vmmu_batch_cpu_init(&fx->cpu, 0, fx->slots, 8, &fx->hooked),
			 -VMMU_EINVAL); /* below the minimum */
	assert_int_equal(vmmu_batch_cpu_init(&fx->cpu, 0, fx->slots, SLOTS, &none),
			 -VMMU_EINVAL);
	assert_int_equal(vmmu_batch_cpu_init(&fx->cpu, 0, fx->slots, SLOTS, NULL),
			 -VMMU_EINVAL);
}

/* Outside lazy mode every update goes out at once, alone. */
static void test_immediate_outside_lazy_mode(void **state)
{
	struct fixture *fx = *state;

	for (uint64_t k = 0; k < 5; k++) {
		assert_int_equal(write_k(fx, k), 0);
		assert_int_equal(fx->rec.log_n, k + 1);
		assert_int_equal(vmmu_batch_pending(&fx->cpu), 0);
	}
	assert_int_equal(fx->rec.submits, 5);
	assert_int_equal(fx->rec.max_run, 1);
	assert_log_writes(fx, 0, 0, 5);
	assert_int_equal(fx->log[4].seq, 4);
	assert_int_equal(vmmu_batch_applied(&fx->cpu), 5);
	assert_int_equal(vmmu_batch_next_seq(&fx->cpu), 5);
}

/* Lazy mode queues until the outermost leave, which sends one run. */
static void test_lazy_mode_nests_and_leave_flushes(void **state)
{
	struct fixture *fx = *state;

	vmmu_batch_lazy_enter(&fx->cpu);
	assert_true(vmmu_batch_is_lazy(&fx->cpu));
	assert_int_equal(write_k(fx, 0), 0);
	vmmu_batch_lazy_enter(&fx->cpu);
	assert_int_equal(write_k(fx, 1), 0);
	assert_int_equal(vmmu_batch_lazy_leave(&fx->cpu), 0); /* inner: nothing */
	assert_int_equal(fx->rec.log_n, 0);
	assert_int_equal(write_k(fx, 2), 0);
	assert_int_equal(vmmu_batch_pending(&fx->cpu), 3);
	assert_int_equal(vmmu_batch_lazy_leave(&fx->cpu), 0);
	assert_false(vmmu_batch_is_lazy(&fx->cpu));
	assert_int_equal(fx->rec.submits, 1);
	assert_int_equal(fx->rec.max_run, 3);
	assert_log_writes(fx, 0, 0, 3);
	assert_int_equal(vmmu_batch_lazy_leave(&fx->cpu), -VMMU_EINVAL);
}

/* A full ring flushes; the ring wraps; order is kept throughout. */
static void test_full_ring_flushes_and_wraps(void **state)
{
	struct fixture *fx = *state;

	vmmu_batch_lazy_enter(&fx->cpu);
	for (uint64_t k = 0; k < 10; k++) {
		assert_int_equal(write_k(fx, k), 0);
	}
	assert_int_equal(vmmu_batch_flush(&fx->cpu), 0);
	assert_int_equal(fx->rec.submits, 1);
	/* 40 more: wrap at slot 16 and flush when full. */
	for (uint64_t k = 10; k < 50; k++) {
		assert_int_equal(write_k(fx, k), 0);
		assert_true(vmmu_batch_pending(&fx->cpu) <= SLOTS);
	}
	assert_int_equal(vmmu_batch_lazy_leave(&fx->cpu), 0);
	assert_int_equal(fx->rec.log_n, 50);
	assert_log_writes(fx, 0, 0, 50);
	for (uint64_t i = 0; i < 50; i++) {
		assert_int_equal(fx->log[i].seq, i);
	}
	assert_true(fx->rec.max_run <= SLOTS); /* runs split at the ring's end */
	assert_true(fx->rec.submits >= 4); /* full twice, wrapped pieces */
}

/* Flushes stay behind the writes they follow; two writes to one PTE keep order. */
static void test_mixed_kinds_keep_order(void **state)
{
	struct fixture *fx = *state;
	const uint64_t mask[2] = {0, 1u << 5};

	vmmu_batch_lazy_enter(&fx->cpu);
	assert_int_equal(vmmu_batch_pte_write(&fx->cpu, 0x10008, 1, 0x5001), 0);
	assert_int_equal(vmmu_batch_invlpg(&fx->cpu, 0x7000123, VMMU_BATCH_LOCAL,
					   NULL, 0),
			 0);
	assert_int_equal(vmmu_batch_pte_write(&fx->cpu, 0x10008, 1, 0x6001), 0);
	assert_int_equal(vmmu_batch_pte_update_ad(&fx->cpu, 0x10008, 1, 0x6003), 0);
	assert_int_equal(vmmu_batch_pin(&fx->cpu, 0x10, 1), 0);
	assert_int_equal(vmmu_batch_new_base(&fx->cpu, 0x20, false), 0);
	assert_int_equal(vmmu_batch_new_base(&fx->cpu, 0, true), 0);
	assert_int_equal(vmmu_batch_tlb_flush(&fx->cpu, VMMU_BATCH_MASK, mask, 2), 0);
	assert_int_equal(vmmu_batch_unpin(&fx->cpu, 0x10), 0);
	assert_int_equal(vmmu_batch_tlb_flush(&fx->cpu, VMMU_BATCH_ALL, NULL, 0), 0);
	assert_int_equal(fx->rec.log_n, 0);
	assert_int_equal(vmmu_batch_lazy_leave(&fx->cpu), 0);
	assert_int_equal(fx->rec.log_n, 10);
	assert_int_equal(fx->log[0].val, 0x5001);
	assert_int_equal(fx->log[1].kind, VMMU_BATCH_INVLPG);
	assert_int_equal(fx->log[1].ptr, 0x7000000);
	assert_int_equal(fx->log[1].target, VMMU_BATCH_LOCAL);
	assert_int_equal(fx->log[2].val, 0x6001);
	assert_int_equal(fx->log[3].kind, VMMU_BATCH_PTE_UPDATE_AD);
	assert_int_equal(fx->log[4].kind, VMMU_BATCH_PIN);
	assert_int_equal(fx->log[4].ptr, 0x10000);
	assert_int_equal(fx->log[4].level, 1);
	assert_int_equal(fx->log[5].kind, VMMU_BATCH_NEW_BASE);
	assert_int_equal(fx->log[5].ptr, 0x20000);
	assert_int_equal(fx->log[6].kind, VMMU_BATCH_NEW_USER_BASE);
	assert_int_equal(fx->log[7].kind, VMMU_BATCH_TLB_FLUSH);
	assert_int_equal(fx->log[7].target, VMMU_BATCH_MASK);
	assert_int_equal(fx->log[7].mask_word, 1); /* the empty word queues nothing */
	assert_int_equal(fx->log[7].val, 1u << 5);
	assert_int_equal(fx->log[8].kind, VMMU_BATCH_UNPIN);
	assert_int_equal(fx->log[9].target, VMMU_BATCH_ALL);
}

static void test_bad_arguments_queue_nothing(void **state)
{
	struct fixture *fx = *state;
	const uint64_t mask[1] = {1};

	vmmu_batch_lazy_enter(&fx->cpu);
	assert_int_equal(vmmu_batch_pte_write(&fx->cpu, 0x10004, 1, 1), -VMMU_EINVAL);
	assert_int_equal(vmmu_batch_pte_write(&fx->cpu, 0x10000, 0, 1), -VMMU_EINVAL);
	assert_int_equal(vmmu_batch_pte_update_ad(&fx->cpu, 0x10000, 6, 1),
			 -VMMU_EINVAL);
	assert_int_equal(vmmu_batch_pin(&fx->cpu, 1ull << 40, 1), -VMMU_EINVAL);
	assert_int_equal(vmmu_batch_pin(&fx->cpu, 1, 0), -VMMU_EINVAL);
	assert_int_equal(vmmu_batch_unpin(&fx->cpu, 1ull << 41), -VMMU_EINVAL);
	assert_int_equal(vmmu_batch_new_base(&fx->cpu, 0, false), -VMMU_EINVAL);
	assert_int_equal(vmmu_batch_tlb_flush(&fx->cpu, (enum vmmu_batch_target)7,
					      NULL, 0),
			 -VMMU_EINVAL);
	assert_int_equal(vmmu_batch_tlb_flush(&fx->cpu, VMMU_BATCH_MASK, NULL, 1),
			 -VMMU_EINVAL);
	assert_int_equal(vmmu_batch_invlpg(&fx->cpu, 0, VMMU_BATCH_MASK, mask, 65),
			 -VMMU_EINVAL);
	assert_int_equal(vmmu_batch_pending(&fx->cpu), 0);
	assert_int_equal(vmmu_batch_lazy_leave(&fx->cpu), 0);
	assert_int_equal(fx->rec.submits, 0);
}

/* Switching out flushes and leaves lazy mode; switching in restores it. */
static void test_context_switch(void **state)
{
	struct fixture *fx = *state;
	uint32_t saved = 99;

	vmmu_batch_lazy_enter(&fx->cpu);
	vmmu_batch_lazy_enter(&fx->cpu);
	assert_int_equal(write_k(fx, 0), 0);
	assert_int_equal(vmmu_batch_switch_out(&fx->cpu, &saved), 0);
	assert_int_equal(saved, 2);
	assert_int_equal(fx->rec.log_n, 1);
	assert_false(vmmu_batch_is_lazy(&fx->cpu));
	assert_int_equal(write_k(fx, 1), 0); /* another task: immediate */
	assert_int_equal(fx->rec.log_n, 2);
	vmmu_batch_switch_in(&fx->cpu, saved);
	assert_true(vmmu_batch_is_lazy(&fx->cpu));
	assert_int_equal(write_k(fx, 2), 0);
	assert_int_equal(fx->rec.log_n, 2);
	assert_int_equal(vmmu_batch_lazy_leave(&fx->cpu), 0);
	assert_int_equal(vmmu_batch_lazy_leave(&fx->cpu), 0);
	assert_log_writes(fx, 0, 0, 3);
}

/*
 * An interrupt handler's update in lazy mode goes out at once, after
 * everything the interrupted task had queued (Linux: lazy mode reads as
 * off in interrupt context).
 */
static void test_interrupt_context_flushes_pending_first(void **state)
{
	struct fixture *fx = *state;

	vmmu_batch_lazy_enter(&fx->cpu);
	assert_int_equal(write_k(fx, 0), 0);
	assert_int_equal(write_k(fx, 1), 0);
	vmmu_batch_irq_enter(&fx->cpu);
	assert_false(vmmu_batch_is_lazy(&fx->cpu));
	assert_int_equal(write_k(fx, 2), 0);
	assert_int_equal(fx->rec.log_n, 3);
	vmmu_batch_irq_exit(&fx->cpu);
	assert_true(vmmu_batch_is_lazy(&fx->cpu));
	assert_int_equal(write_k(fx, 3), 0);
	assert_int_equal(fx->rec.log_n, 3);
	assert_int_equal(vmmu_batch_lazy_leave(&fx->cpu), 0);
	assert_log_writes(fx, 0, 0, 4);
}

/* A handler that runs while this CPU flushes: deferred to that flush. */
static void nested_write(struct fixture *fx)
{
	vmmu_batch_irq_enter(&fx->cpu);
	fx->nested_rc = vmmu_batch_pte_write(&fx->cpu, 0x20000, 1, 0xabc001);
	vmmu_batch_irq_exit(&fx->cpu);
}

static void test_handler_during_flush_is_deferred_to_it(void **state)
{
	struct fixture *fx = *state;

	vmmu_batch_lazy_enter(&fx->cpu);
	for (uint64_t k = 0; k < 4; k++) {
		assert_int_equal(write_k(fx, k), 0);
	}
	fx->inside = nested_write;
	assert_int_equal(vmmu_batch_lazy_leave(&fx->cpu), 0);
	assert_int_equal(fx->inside_calls, 1);
	assert_int_equal(fx->nested_rc, VMMU_BATCH_DEFERRED);
	/* Applied by the interrupted flush, after the 4 it was sending. */
	assert_int_equal(fx->rec.log_n, 5);
	assert_log_writes(fx, 0, 0, 4);
	assert_int_equal(fx->log[4].val, 0xabc001);
	assert_int_equal(fx->log[4].seq, 1ull << 63); /* the nested ring's first */
	assert_int_equal(vmmu_batch_pending(&fx->cpu), 0);
}

/*
 * A handler inside a batch call that is not flushing (depth > 0): its
 * update goes to the nested ring, placed after the main entries published
 * so far, and is applied at once with them.
 */
static void test_handler_inside_call_uses_nested_ring(void **state)
{
	struct fixture *fx = *state;

	vmmu_batch_lazy_enter(&fx->cpu);
	assert_int_equal(write_k(fx, 0), 0);
	assert_int_equal(write_k(fx, 1), 0);
	fx->cpu.depth = 1; /* as if interrupted inside an enqueue */
	nested_write(fx);
	assert_int_equal(fx->nested_rc, 0);
	assert_int_equal(fx->rec.log_n, 3);
	assert_log_writes(fx, 0, 0, 2);
	assert_int_equal(fx->log[2].val, 0xabc001);
	fx->cpu.depth = 0;
	assert_int_equal(write_k(fx, 2), 0);
	assert_int_equal(vmmu_batch_lazy_leave(&fx->cpu), 0);
	assert_int_equal(fx->log[3].val, 0x2001);
}

/*
 * Nested entries placed between main entries: they are merged by
 * position. Built by hand: main 0,1 | nested A | main 2 | nested B,C.
 */
static void test_nested_entries_merge_by_position(void **state)
{
	struct fixture *fx = *state;
	const struct vmmu_batch_entry a = {.kind = VMMU_BATCH_TLB_FLUSH};

	/* Lazy and outside interrupt context: the nested entries stay queued. */
	vmmu_batch_lazy_enter(&fx->cpu);
	assert_int_equal(write_k(fx, 0), 0);
	assert_int_equal(write_k(fx, 1), 0);
	fx->cpu.depth = 1;
	assert_int_equal(vmmu_batch_queue(&fx->cpu, &a), 0);
	fx->cpu.depth = 0;
	assert_int_equal(write_k(fx, 2), 0);
	fx->cpu.depth = 1;
	assert_int_equal(vmmu_batch_queue(&fx->cpu, &a), 0);
	assert_int_equal(vmmu_batch_invlpg(&fx->cpu, 0x5000, VMMU_BATCH_ALL, NULL, 0),
			 0);
	fx->cpu.depth = 0;
	assert_int_equal(fx->rec.log_n, 0);
	assert_int_equal(vmmu_batch_flush(&fx->cpu), 0);
	assert_int_equal(fx->rec.log_n, 6);
	assert_int_equal(fx->log[0].val, 0x0001);
	assert_int_equal(fx->log[1].val, 0x1001);
	assert_int_equal(fx->log[2].kind, VMMU_BATCH_TLB_FLUSH);
	assert_int_equal(fx->log[3].val, 0x2001);
	assert_int_equal(fx->log[4].kind, VMMU_BATCH_TLB_FLUSH);
	assert_int_equal(fx->log[5].kind, VMMU_BATCH_INVLPG);
	assert_int_equal(fx->rec.submits, 4); /* main, nested, main, nested */
}

/* The nested ring full while a flush runs: refused, nothing lost. */
static void fill_nested(struct fixture *fx)
{
	vmmu_batch_irq_enter(&fx->cpu);
	for (unsigned k = 0; k <= VMMU_BATCH_NESTED_SLOTS; k++) {
		fx->nested_rc = vmmu_batch_pte_write(&fx->cpu, 0x20000 + 8 * k, 1,
						     k << 12 | 1);
		if (fx->nested_rc < 0) {
			break;
		}
		assert_int_equal(fx->nested_rc, VMMU_BATCH_DEFERRED);
	}
	vmmu_batch_irq_exit(&fx->cpu);
}

static void test_nested_ring_full_during_flush(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(write_k(fx, 0), 0);
	fx->inside = fill_nested;
	vmmu_batch_lazy_enter(&fx->cpu);
	assert_int_equal(write_k(fx, 1), 0);
	assert_int_equal(vmmu_batch_lazy_leave(&fx->cpu), 0);
	assert_int_equal(fx->nested_rc, -VMMU_EBUSY);
	assert_int_equal(fx->rec.log_n, 2 + VMMU_BATCH_NESTED_SLOTS);
	for (unsigned k = 0; k < VMMU_BATCH_NESTED_SLOTS; k++) {
		assert_int_equal(fx->log[2 + k].val, (uint64_t)k << 12 | 1);
	}
}

/* A refusal: what came before is applied, it and the rest are dropped. */
static void test_refusal_drops_the_rest_and_reports(void **state)
{
	struct fixture *fx = *state;
	struct vmmu_batch_error err;

	fx->rec.fail_seq = 3;
	fx->rec.fail_rc = -VMMU_EPERM;
	vmmu_batch_lazy_enter(&fx->cpu);
	for (uint64_t k = 0; k < 6; k++) {
		assert_int_equal(write_k(fx, k), 0);
	}
	assert_int_equal(vmmu_batch_lazy_leave(&fx->cpu), -VMMU_EPERM);
	assert_int_equal(fx->rec.log_n, 3);
	err = vmmu_batch_last_error(&fx->cpu);
	assert_int_equal(err.rc, -VMMU_EPERM);
	assert_int_equal(err.seq, 3);
	assert_int_equal(err.dropped, 3);
	assert_int_equal(err.kind, VMMU_BATCH_PTE_WRITE);
	assert_int_equal(fx->cpu.applied, 3);
	assert_int_equal(vmmu_batch_pending(&fx->cpu), 0);
	/* The queue goes on. */
	assert_int_equal(write_k(fx, 6), 0);
	assert_int_equal(fx->rec.log_n, 4);
	assert_int_equal(fx->log[3].seq, 6);
}

/* --- the native backend -------------------------------------------------------------- */

struct native_fx {
	struct test_platform tp;
	struct vmmu_batch_native nb;
	struct vmmu_batch_cpu cpu;
	struct vmmu_batch_entry slots[SLOTS];
	uint64_t base[2];
	unsigned bases;
};

static void set_base(void *ctx, uint32_t cpu, uint64_t mfn, bool user)
{
	struct native_fx *n = ctx;

	assert_int_equal(cpu, 5);
	n->base[user] = mfn;
	n->bases++;
}

static void test_native_backend(void **state)
{
	struct native_fx *n = calloc(1, sizeof(*n));
	uint64_t *t;
	const uint64_t mask[2] = {0, 6};

	(void)state;
	assert_non_null(n);
	test_platform_init(&n->tp, 16);
	assert_int_equal(vmmu_batch_native_init(&n->nb, &n->tp.plat, set_base, n), 0);
	assert_int_equal(vmmu_batch_native_init(&n->nb, NULL, NULL, NULL), -VMMU_EINVAL);
	assert_int_equal(vmmu_batch_cpu_init(&n->cpu, 5, n->slots, SLOTS,
					     &n->nb.backend),
			 0);
	t = (uint64_t *)test_platform_ptr(&n->tp, 3 << 12);
	t[7] = 0x9060; /* A and D set by the "CPU" */
	vmmu_batch_lazy_enter(&n->cpu);
	assert_int_equal(vmmu_batch_pte_write(&n->cpu, (3 << 12) + 8, 1, 0x4003), 0);
	assert_int_equal(vmmu_batch_pte_update_ad(&n->cpu, (3 << 12) + 56, 1, 0x5003),
			 0);
	assert_int_equal(vmmu_batch_new_base(&n->cpu, 9, false), 0);
	assert_int_equal(vmmu_batch_invlpg(&n->cpu, 0x1234567, VMMU_BATCH_LOCAL,
					   NULL, 0),
			 0);
	assert_int_equal(t[1], 0); /* still queued */
	assert_int_equal(vmmu_batch_lazy_leave(&n->cpu), 0);
	assert_int_equal(t[1], 0x4003);
	assert_int_equal(t[7], 0x5063); /* A/D kept */
	assert_int_equal(n->base[0], 9);
	assert_int_equal(n->tp.flushes, 1);
	assert_int_equal(n->tp.last_flush.scope, VMMU_TLB_RANGE);
	assert_int_equal(n->tp.last_flush.addr, 0x1234000);
	assert_int_equal(n->tp.last_flush.size, 4096);
	assert_int_equal(n->tp.last_flush.cpu_mask_words, 1);
	assert_int_equal(vmmu_batch_tlb_flush(&n->cpu, VMMU_BATCH_MASK, mask, 2), 0);
	assert_int_equal(n->tp.flushes, 2);
	assert_int_equal(n->tp.last_flush.scope, VMMU_TLB_ALL_NONGLOBAL);
	assert_int_equal(n->tp.last_flush.cpu_mask_words, 2);
	assert_int_equal(vmmu_batch_tlb_flush(&n->cpu, VMMU_BATCH_ALL, NULL, 0), 0);
	assert_int_equal(n->tp.last_flush.cpu_mask_words, 0);
	assert_int_equal(vmmu_batch_pin(&n->cpu, 3, 1), 0);
	assert_int_equal(vmmu_batch_new_base(&n->cpu, 0, true), 0);
	assert_int_equal(n->bases, 2);
	/* An entry the platform cannot map: refused with its index. */
	vmmu_batch_lazy_enter(&n->cpu);
	assert_int_equal(vmmu_batch_pte_write(&n->cpu, (3 << 12) + 16, 1, 0x7003), 0);
	assert_int_equal(vmmu_batch_pte_write(&n->cpu, 1ull << 40, 1, 0x8003), 0);
	assert_int_equal(vmmu_batch_pte_write(&n->cpu, (3 << 12) + 24, 1, 0x9003), 0);
	assert_int_equal(vmmu_batch_lazy_leave(&n->cpu), -VMMU_EFAULT);
	assert_int_equal(t[2], 0x7003);
	assert_int_equal(t[3], 0);
	assert_int_equal(vmmu_batch_last_error(&n->cpu).dropped, 2);
	test_platform_fini(&n->tp);
	free(n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_init_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_immediate_outside_lazy_mode,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_lazy_mode_nests_and_leave_flushes,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_ring_flushes_and_wraps,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_mixed_kinds_keep_order, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bad_arguments_queue_nothing,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_context_switch, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_interrupt_context_flushes_pending_first, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_handler_during_flush_is_deferred_to_it, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_handler_inside_call_uses_nested_ring, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nested_entries_merge_by_position,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_nested_ring_full_during_flush,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_refusal_drops_the_rest_and_reports, setup, teardown),
		cmocka_unit_test(test_native_backend),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
