/* SPDX-License-Identifier: MIT */
/*
 * shim/reset_overhead: a reset case whose run and reset do nothing. Its
 * time per iteration is what the shim's PauseTiming()/ResumeTiming() pair
 * around every reset leaks into the timed region; subtract it from the
 * per-iteration time of the pt/ cases when it matters (it is a few hundred
 * nanoseconds against their milliseconds).
 */
#include "bench_cases.h"

static uint64_t nothing_state;

static void *noop_setup(void)
{
	return &nothing_state;
}

static void noop_teardown(void *st)
{
	(void)st;
}

static uint64_t noop_run(void *st, uint64_t n)
{
	uint64_t *p = st;

	*p += n;
	return *p;
}

static void noop_reset(void *st)
{
	(void)st;
}

const struct bench_case bench_shim_reset_overhead = {
	.name = "shim/reset_overhead",
	.what = "an empty run + reset: the timer pause cost in each pt/ iteration",
	.setup = noop_setup,
	.teardown = noop_teardown,
	.run = noop_run,
	.reset = noop_reset,
	.items_per_iter = 1,
	.item = "iteration",
};
