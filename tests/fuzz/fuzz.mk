# libFuzzer targets: each tests/fuzz/fuzz_*.c is linked with the library
# sources built by clang with the fuzzer, ASan and UBSan instrumentation,
# then run for $(FUZZ_SECONDS) seconds from its committed seed corpus
# (tests/fuzz/corpus/<target>/) into a scratch corpus under $(BUILD).
# Any crash, leak or failed invariant makes `make fuzz` fail.
# A target may run longer than the others: FUZZ_SECONDS_<target> (e.g.
# FUZZ_SECONDS_fuzz_pv) overrides FUZZ_SECONDS for it. fuzz_pv defaults to
# twice FUZZ_SECONDS (60 s under `make test`, whose FUZZ_CI_SECONDS is 30),
# since its state space (two domains, preemption, resumes) is the largest.
# Included by the top-level Makefile.

FUZZ_DIR := $(BUILD)/fuzz
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all
# The library: coverage-guided (with comparison tracing), ASan, UBSan.
FUZZ_CFLAGS := $(STD) $(WARN) $(INC) -O2 -g -fno-omit-frame-pointer \
	-fsanitize=fuzzer-no-link $(FUZZ_SAN) \
	-fsanitize-coverage-ignorelist=tests/fuzz/coverage-ignore.txt
# The harness and test platform: sanitizers but no coverage, so that the
# model checks (loops over every page) do not drown the library's signal.
FUZZ_HARNESS_CFLAGS := $(STD) $(WARN) $(INC) -Itests/support -O2 -g \
	-fno-omit-frame-pointer $(FUZZ_SAN)
FUZZ_LDFLAGS := -fsanitize=fuzzer $(FUZZ_SAN)

# The audit is the harness's checker, not code under test: no coverage
# feedback from it (it walks every entry of every table after every
# operation, and its comparisons would drown the library's signal and
# most of the run time).
$(FUZZ_DIR)/obj/mmu/pv_audit.o: FUZZ_CFLAGS := $(STD) $(WARN) $(INC) -O2 -g \
	-fno-omit-frame-pointer $(FUZZ_SAN)

# Per-target run time (recursive: FUZZ_SECONDS may come from the command
# line, as `make test` passes it).
FUZZ_SECONDS_fuzz_pv ?= $(shell expr 2 \* $(FUZZ_SECONDS))
fuzz_seconds = $(or $(FUZZ_SECONDS_$(1)),$(FUZZ_SECONDS))

FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=$(FUZZ_DIR)/%)
FUZZ_LIB_OBJS := $(LIB_SRCS:%.c=$(FUZZ_DIR)/obj/%.o)
FUZZ_SUPPORT_OBJ := $(FUZZ_DIR)/harness/test_platform.o
FUZZ_OBJS := $(FUZZ_LIB_OBJS) $(FUZZ_SUPPORT_OBJ) \
	$(FUZZ_SRCS:tests/fuzz/%.c=$(FUZZ_DIR)/harness/%.o)

$(FUZZ_DIR)/obj/%.o: %.c $(PUBLIC_HEADERS) $(PRIVATE_HEADERS) \
		tests/fuzz/coverage-ignore.txt | deps-fuzz
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_SUPPORT_OBJ): tests/support/test_platform.c \
		tests/support/test_platform.h $(PUBLIC_HEADERS) | deps-fuzz
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_HARNESS_CFLAGS) -c $< -o $@

$(FUZZ_DIR)/harness/fuzz_%.o: tests/fuzz/fuzz_%.c \
		tests/support/test_platform.h tests/support/fuzz_reader.h \
		$(PUBLIC_HEADERS) | deps-fuzz
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_HARNESS_CFLAGS) -c $< -o $@

$(FUZZ_DIR)/fuzz_%: $(FUZZ_DIR)/harness/fuzz_%.o $(FUZZ_LIB_OBJS) \
		$(FUZZ_SUPPORT_OBJ) | deps-fuzz
	$(CLANG) $(FUZZ_LDFLAGS) -o $@ $< $(FUZZ_LIB_OBJS) $(FUZZ_SUPPORT_OBJ)

# Objects are intermediate to the pattern rules: keep them between runs.
.SECONDARY: $(FUZZ_OBJS)

fuzz: $(FUZZ_BINS) | deps-fuzz
	@for run in $(foreach b,$(FUZZ_BINS),$(b):$(call fuzz_seconds,$(notdir $(b)))); do \
		bin=$${run%:*}; secs=$${run##*:}; \
		name=$$(basename $$bin); \
		scratch=$(FUZZ_DIR)/corpus/$$name; \
		seeds=tests/fuzz/corpus/$$name; \
		mkdir -p $$scratch; \
		[ -d $$seeds ] || seeds=; \
		echo "== fuzz: $$name for $${secs}s"; \
		$$bin -max_total_time=$$secs -timeout=60 \
			-print_final_stats=1 \
			-artifact_prefix=$(FUZZ_DIR)/$$name- \
			$$scratch $$seeds || { \
			echo "fuzz: $$name FAILED (artifacts: $(FUZZ_DIR)/$$name-*)"; \
			exit 1; }; \
	done; \
	echo "fuzz: $(words $(FUZZ_BINS)) target(s) ran without a failure" \
		"($(foreach b,$(FUZZ_BINS),$(notdir $(b)) $(call fuzz_seconds,$(notdir $(b)))s))"
