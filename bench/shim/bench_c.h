/* SPDX-License-Identifier: MIT */
/*
 * The C ABI between the benchmark cases (C11, bench/cases/) and the one
 * C++ file that drives them through Google Benchmark (bench/shim/main.cc).
 *
 * A case is a const table of plain function pointers. The shim never looks
 * inside a case's state; the cases never see a C++ type.
 *
 * Timing contract:
 *  - setup() and teardown() run outside the timed region.
 *  - run(st, n) performs the measured operation n times back to back and
 *    returns a checksum (the shim feeds it to benchmark::DoNotOptimize).
 *    Cases without reset() are called with large n (the whole
 *    measurement in one call), so per-call overhead is amortised away;
 *    a case may carry a value from one call to the next in its state.
 *  - reset(), when not NULL, undoes what one run(st, 1) did (an unmap after
 *    a map). The shim then calls run(st, 1) per iteration and calls
 *    reset() with the timer paused. Only for operations that take far
 *    longer than pausing the timer (about a microsecond): milliseconds.
 *  - error(), when not NULL, is called after the timed loop; a non-NULL
 *    string marks the benchmark as failed with that message (a library
 *    call that returned an error or a wrong translation).
 *  - items_per_iter is how many operations one iteration performs (one
 *    walk; 262144 mappings for a 1 GiB map in 4 KiB pages). The shim
 *    reports time per item as the "per_op" counter.
 *  - iterations, when not 0, fixes the iteration count of every
 *    repetition (Google Benchmark's Iterations()). For reset cases whose
 *    untimed reset is far slower than the timed part: the framework sizes
 *    the run by timed time only and would spend minutes resetting.
 */
#ifndef VMMU_BENCH_C_H
#define VMMU_BENCH_C_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct bench_case {
	const char *name;  /* "walk/4level/4k": the benchmark's name */
	const char *what;  /* one line: what one iteration does */
	void *(*setup)(void); /* NULL on failure (the reason went to stderr) */
	void (*teardown)(void *st);
	uint64_t (*run)(void *st, uint64_t iterations);
	void (*reset)(void *st);       /* optional, see above */
	const char *(*error)(void *st); /* optional, see above */
	uint64_t items_per_iter;       /* >= 1 */
	const char *item;              /* what an item is: "walk", "mapping" */
	uint64_t iterations;           /* 0: let the framework choose */
};

/* Every case, in registration order (bench/cases/registry.c). */
extern const struct bench_case *const bench_cases[];
extern const size_t bench_case_count;

#ifdef __cplusplus
}
#endif

#endif /* VMMU_BENCH_C_H */
