# tests/model: the reference walker and the differential tests of vmmu_walk
# against it (docs/testing-model.md). Included by the top-level Makefile.
#
#   make check-model                      exhaustive + random trees
#   make check-model MODEL_SEED=0x1234    another random seed
#   make check-model MODEL_QUERIES=N MODEL_FAST_QUERIES=M

MODEL_DIR := $(BUILD)/tests/model
MODEL_SEED ?= 0x766d6d75
MODEL_QUERIES ?= 20000
MODEL_FAST_QUERIES ?= 200000

MODEL_INC := -Itests/support -Itests/model
MODEL_COMMON_SRCS := tests/model/ref_walk.c tests/model/model_common.c \
	tests/support/test_platform.c
MODEL_HDRS := tests/model/ref_walk.h tests/model/model_common.h \
	tests/support/access_space.h tests/support/splitmix.h \
	tests/support/test_platform.h $(PUBLIC_HEADERS)

MODEL_BINS := $(MODEL_DIR)/exhaustive $(MODEL_DIR)/random_trees \
	$(MODEL_DIR)/random_trees-fast

.PHONY: check-model model-bins
model-bins: $(MODEL_BINS)

# Long enumeration: optimised, no sanitizers.
$(MODEL_DIR)/exhaustive: tests/model/exhaustive.c $(MODEL_COMMON_SRCS) $(MODEL_HDRS) $(LIBVMMU_FAST)
	@mkdir -p $(dir $@)
	$(CC) $(FAST_CFLAGS) $(MODEL_INC) -o $@ tests/model/exhaustive.c $(MODEL_COMMON_SRCS) $(LIBVMMU_FAST)

# Random trees against the ASan/UBSan build of the library...
$(MODEL_DIR)/random_trees: tests/model/random_trees.c $(MODEL_COMMON_SRCS) $(MODEL_HDRS) $(LIBVMMU_HOSTED)
	@mkdir -p $(dir $@)
	$(CC) $(HOSTED_CFLAGS) $(MODEL_INC) -o $@ tests/model/random_trees.c $(MODEL_COMMON_SRCS) $(LIBVMMU_HOSTED)

# ...and a longer run against the fast build.
$(MODEL_DIR)/random_trees-fast: tests/model/random_trees.c $(MODEL_COMMON_SRCS) $(MODEL_HDRS) $(LIBVMMU_FAST)
	@mkdir -p $(dir $@)
	$(CC) $(FAST_CFLAGS) $(MODEL_INC) -o $@ tests/model/random_trees.c $(MODEL_COMMON_SRCS) $(LIBVMMU_FAST)

# The three runs are independent: `make -j2 check` runs them side by side.
.PHONY: check-model-exhaustive check-model-random check-model-random-fast
check-model-exhaustive: $(MODEL_DIR)/exhaustive
	$(MODEL_DIR)/exhaustive

check-model-random: $(MODEL_DIR)/random_trees
	$(MODEL_DIR)/random_trees $(MODEL_SEED) $(MODEL_QUERIES)

check-model-random-fast: $(MODEL_DIR)/random_trees-fast
	$(MODEL_DIR)/random_trees-fast $(MODEL_SEED) $(MODEL_FAST_QUERIES)

check-model: check-model-random check-model-random-fast check-model-exhaustive
	@echo "check-model: passed"

check: check-model
