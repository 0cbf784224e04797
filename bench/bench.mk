# bench/bench.mk: the benchmark suite (docs/benchmarks.md). Included by the
# top-level Makefile. Targets:
#   bench            build, run every case (5 repetitions), write
#                    $(BUILD)/bench/bench.json, print the ratio summary
#   bench-build      build $(BUILD)/bench/vmmu-bench only
#   bench-callgrind  instructions per operation under callgrind
# Variables:
#   BENCH_ARGS=...           extra flags for vmmu-bench (Google Benchmark's,
#                            e.g. --benchmark_filter=walk/ --benchmark_min_time=0.2)
#   BENCH_CALLGRIND_CASES=.. name prefixes for bench-callgrind (default: all)
#
# The cases are C11 (bench/cases/*.c); the only C++ is bench/shim/main.cc.
# scripts/deps.sh bench (deps-bench) installs what they need: g++,
# libbenchmark-dev, libck-dev, liburcu-dev, valgrind, python3.
# They link against $(LIBVMMU), the freestanding archive users get. That
# archive is built -fno-pic, hence -no-pie for the host executable.

BENCH_DIR      := $(BUILD)/bench
BENCH_BIN      := $(BENCH_DIR)/vmmu-bench
BENCH_JSON     := $(BENCH_DIR)/bench.json
BENCH_SRCS     := $(sort $(wildcard bench/cases/*.c))
BENCH_OBJS     := $(BENCH_SRCS:bench/cases/%.c=$(BENCH_DIR)/obj/%.o)
BENCH_SHIM_OBJ := $(BENCH_DIR)/obj/main.o
BENCH_HDRS     := bench/shim/bench_c.h $(wildcard bench/cases/*.h)
BENCH_CFLAGS   := $(STD) -O2 -g $(WARN) $(INC) -Ibench/shim
BENCH_CXXFLAGS := -std=c++17 -O2 -g -Wall -Wextra -Werror $(INC) -Ibench/shim
BENCH_LDFLAGS  := -no-pie
# The peers (bench/cases/batch.c): Concurrency Kit's ck_ring is static
# inline (libck-dev), and liburcu's wfcqueue is used through its
# _LGPL_SOURCE static-inline variants (liburcu-dev; headers under
# /usr/include/<multiarch>/urcu, which gcc searches by default), so neither
# needs a library today. Their libraries (pkg-config ck, liburcu-cds) are
# still named, --as-needed, so that a case calling an out-of-line variant
# links; an unused one leaves no DT_NEEDED behind.
BENCH_PEER_LIBS := -Wl,--as-needed -lurcu-cds -lurcu-common -lck -Wl,--no-as-needed
BENCH_LIBS     := -lbenchmark -lpthread $(BENCH_PEER_LIBS)
BENCH_ARGS     ?=
BENCH_CALLGRIND_CASES ?=

.PHONY: bench bench-build bench-callgrind

bench: deps-bench $(LIBVMMU) $(BENCH_BIN)
	$(BENCH_BIN) --benchmark_out=$(BENCH_JSON) --benchmark_out_format=json $(BENCH_ARGS)
	python3 scripts/bench-report.py $(BENCH_JSON)

bench-build: $(BENCH_BIN)

bench-callgrind: deps-bench $(BENCH_BIN)
	sh scripts/callgrind-count.sh -o $(BENCH_DIR)/callgrind $(BENCH_BIN) $(BENCH_CALLGRIND_CASES)

$(BENCH_DIR)/obj/%.o: bench/cases/%.c $(BENCH_HDRS) $(PUBLIC_HEADERS) | deps-bench
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -c $< -o $@

$(BENCH_SHIM_OBJ): bench/shim/main.cc bench/shim/bench_c.h | deps-bench
	@mkdir -p $(dir $@)
	$(CXX) $(BENCH_CXXFLAGS) -c $< -o $@

$(BENCH_BIN): $(BENCH_SHIM_OBJ) $(BENCH_OBJS) $(LIBVMMU)
	$(CXX) $(BENCH_LDFLAGS) -o $@ $(BENCH_SHIM_OBJ) $(BENCH_OBJS) $(LIBVMMU) $(BENCH_LIBS)
