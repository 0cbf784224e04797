// SPDX-License-Identifier: MIT
//
// vmmu-bench: registers the C benchmark cases (bench/cases, C ABI in
// bench_c.h) with Google Benchmark and runs them. The only C++ in the
// benchmark suite.
//
// Defaults added unless given on the command line:
//   --benchmark_repetitions=5
//   --benchmark_display_aggregates_only=true  (console: mean/median/stddev/cv)
//   --benchmark_out=<directory of this binary>/bench.json
//   --benchmark_out_format=json               (every repetition + aggregates)
//
// Own modes, handled before benchmark::Initialize (whose unknown-flag check
// is fatal in 1.7.1):
//   --list-cases                   name, items per iteration, reset (0/1), item
//   --count-case=NAME --iterations=N
//        set the case up, run N iterations through vmmu_bench_timed() and
//        exit; for scripts/callgrind-count.sh, which counts instructions
//        inside vmmu_bench_timed only (--toggle-collect).

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench_c.h"

// Every timed call goes through here. Not inlined and with C linkage, so
// callgrind can be told to count instructions inside it and nowhere else.
extern "C" __attribute__((noinline)) uint64_t
vmmu_bench_timed(const struct bench_case *c, void *st, uint64_t iterations)
{
	return c->run(st, iterations);
}

namespace {

void run_case(benchmark::State &state, const struct bench_case *c)
{
	void *st = c->setup();
	if (st == nullptr) {
		state.SkipWithError("setup failed (reason on stderr)");
		return;
	}
	uint64_t sum = 0;
	if (c->reset != nullptr) {
		// Long operations: one per iteration, undone untimed.
		for (auto _ : state) {
			sum += vmmu_bench_timed(c, st, 1);
			state.PauseTiming();
			c->reset(st);
			state.ResumeTiming();
		}
	} else {
		// Short operations: the whole measurement in one call, so the
		// case's own loop carries its dependency chain throughout.
		while (state.KeepRunningBatch(state.max_iterations)) {
			sum += vmmu_bench_timed(c, st,
						static_cast<uint64_t>(state.max_iterations));
		}
	}
	benchmark::DoNotOptimize(sum);
	const char *err = c->error != nullptr ? c->error(st) : nullptr;
	if (err != nullptr) {
		state.SkipWithError(err);
	} else {
		const double items = static_cast<double>(state.iterations()) *
				     static_cast<double>(c->items_per_iter);
		// Time per item (CPU time / items): "per_op" in the console.
		state.counters["per_op"] = benchmark::Counter(
			items, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
		if (c->items_per_iter > 1) {
			state.SetLabel(std::to_string(c->items_per_iter) + " " +
				       c->item + "s/iter");
		}
	}
	c->teardown(st);
}

const struct bench_case *find_case(const char *name)
{
	for (size_t i = 0; i < bench_case_count; i++) {
		if (std::strcmp(bench_cases[i]->name, name) == 0) {
			return bench_cases[i];
		}
	}
	return nullptr;
}

int list_cases()
{
	for (size_t i = 0; i < bench_case_count; i++) {
		const struct bench_case *c = bench_cases[i];
		std::printf("%s %llu %d %s\n", c->name,
			    static_cast<unsigned long long>(c->items_per_iter),
			    c->reset != nullptr ? 1 : 0, c->item);
	}
	return 0;
}

int count_case(const char *name, const char *iters)
{
	const struct bench_case *c = find_case(name);
	if (c == nullptr) {
		std::fprintf(stderr, "vmmu-bench: no case named '%s' (--list-cases)\n",
			     name);
		return 2;
	}
	char *end = nullptr;
	unsigned long long n = std::strtoull(iters, &end, 10);
	if (iters[0] == '\0' || *end != '\0') {
		std::fprintf(stderr, "vmmu-bench: bad --iterations '%s'\n", iters);
		return 2;
	}
	void *st = c->setup();
	if (st == nullptr) {
		std::fprintf(stderr, "vmmu-bench: %s: setup failed\n", name);
		return 1;
	}
	uint64_t sum = 0;
	if (c->reset != nullptr) {
		for (unsigned long long i = 0; i < n; i++) {
			sum += vmmu_bench_timed(c, st, 1);
			c->reset(st);
		}
	} else {
		sum = vmmu_bench_timed(c, st, n);
	}
	const char *err = c->error != nullptr ? c->error(st) : nullptr;
	c->teardown(st);
	if (err != nullptr) {
		std::fprintf(stderr, "vmmu-bench: %s: %s\n", name, err);
		return 1;
	}
	std::printf("%s iterations=%llu items_per_iter=%llu checksum=%#llx\n", name,
		    n, static_cast<unsigned long long>(c->items_per_iter),
		    static_cast<unsigned long long>(sum));
	return 0;
}

bool has_flag(const std::vector<std::string> &args, const char *prefix)
{
	const size_t len = std::strlen(prefix);
	for (const std::string &a : args) {
		if (a.compare(0, len, prefix) == 0) {
			return true;
		}
	}
	return false;
}

// "<dir of argv0>/bench.json", or "bench.json" when argv0 has no slash.
std::string default_out(const char *argv0)
{
	std::string p(argv0);
	size_t slash = p.rfind('/');
	return slash == std::string::npos ? std::string("bench.json")
					  : p.substr(0, slash + 1) + "bench.json";
}

void usage_extra()
{
	std::printf(
		"vmmu-bench: vmmu benchmark suite (docs/benchmarks.md)\n"
		"  --list-cases                      list cases and exit\n"
		"  --count-case=NAME --iterations=N  run one case N iterations, no timing\n"
		"Defaults added unless given: --benchmark_repetitions=5\n"
		"  --benchmark_display_aggregates_only=true\n"
		"  --benchmark_out=<binary dir>/bench.json --benchmark_out_format=json\n\n");
}

} // namespace

int main(int argc, char **argv)
{
	const char *count = nullptr;
	const char *iters = nullptr;
	std::vector<std::string> args;

	for (int i = 1; i < argc; i++) {
		if (std::strcmp(argv[i], "--list-cases") == 0) {
			return list_cases();
		} else if (std::strncmp(argv[i], "--count-case=", 13) == 0) {
			count = argv[i] + 13;
		} else if (std::strncmp(argv[i], "--iterations=", 13) == 0) {
			iters = argv[i] + 13;
		} else {
			if (std::strcmp(argv[i], "--help") == 0) {
				usage_extra();
			}
			args.emplace_back(argv[i]);
		}
	}
	if (count != nullptr || iters != nullptr) {
		if (count == nullptr || iters == nullptr) {
			std::fprintf(stderr, "vmmu-bench: --count-case and "
					     "--iterations go together\n");
			return 2;
		}
		return count_case(count, iters);
	}

	if (!has_flag(args, "--benchmark_repetitions")) {
		args.emplace_back("--benchmark_repetitions=5");
	}
	if (!has_flag(args, "--benchmark_display_aggregates_only") &&
	    !has_flag(args, "--benchmark_report_aggregates_only")) {
		args.emplace_back("--benchmark_display_aggregates_only=true");
	}
	if (!has_flag(args, "--benchmark_out=")) {
		args.emplace_back("--benchmark_out=" + default_out(argv[0]));
	}
	if (!has_flag(args, "--benchmark_out_format")) {
		args.emplace_back("--benchmark_out_format=json");
	}

	std::vector<char *> av;
	av.push_back(argv[0]);
	for (std::string &a : args) {
		av.push_back(&a[0]);
	}
	av.push_back(nullptr);
	int ac = static_cast<int>(av.size()) - 1;

	for (size_t i = 0; i < bench_case_count; i++) {
		const struct bench_case *c = bench_cases[i];
		benchmark::internal::Benchmark *b = benchmark::RegisterBenchmark(
			c->name, [c](benchmark::State &s) { run_case(s, c); });
		b->Unit(c->reset != nullptr || c->items_per_iter > 1
				? benchmark::kMicrosecond
				: benchmark::kNanosecond);
		if (c->iterations != 0) {
			b->Iterations(static_cast<benchmark::IterationCount>(
				c->iterations));
		}
	}
	benchmark::AddCustomContext("vmmu_bench_compiler", __VERSION__);
	benchmark::AddCustomContext("vmmu_bench_library",
				    "libvmmu.a (freestanding, -O2)");

	benchmark::Initialize(&ac, av.data());
	if (benchmark::ReportUnrecognizedArguments(ac, av.data())) {
		return 1;
	}
	benchmark::RunSpecifiedBenchmarks();
	benchmark::Shutdown();
	return 0;
}
