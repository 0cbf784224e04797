# Shadow-paging oracle, long run (docs/shadow.md "Tests"). The default run
# (10^6 accesses, ASan+UBSan build) is a unit test and part of `make check`
# already (tests/unit/test_shadow_oracle.c). This fragment adds a longer
# run against the optimised build:
#
#   make check-shadow-long                       10^7 accesses, and the
#                                                access matrix at 5 levels
#   make check-shadow-long SHADOW_SEED=0x1234 SHADOW_LONG_ACCESSES=N
#
# Included by the top-level Makefile.

SHADOW_SEED ?= 0x5ad0
SHADOW_LONG_ACCESSES ?= 10000000

SHADOW_HARNESS := tests/support/shadow_harness.c tests/support/test_platform.c

$(BUILD)/tests/model/shadow_oracle-fast: tests/unit/test_shadow_oracle.c \
		$(SHADOW_HARNESS) tests/support/shadow_harness.h \
		tests/support/test_platform.h tests/support/splitmix.h \
		$(PUBLIC_HEADERS) $(LIBVMMU_FAST) | deps-test
	@mkdir -p $(dir $@)
	$(CC) $(FAST_CFLAGS) -Itests/support -o $@ $< \
		$(SHADOW_HARNESS) $(LIBVMMU_FAST) -lcmocka

# The access matrix through the shadow path: 4-level paging is a unit test
# (tests/unit/test_shadow_matrix.c); the long run adds 5-level paging.
$(BUILD)/tests/model/shadow_matrix-fast: tests/unit/test_shadow_matrix.c \
		$(SHADOW_HARNESS) tests/support/shadow_harness.h \
		tests/support/access_space.h tests/support/test_platform.h \
		tests/support/splitmix.h tests/unit/unit_check.h \
		$(PUBLIC_HEADERS) $(LIBVMMU_FAST) | deps-test
	@mkdir -p $(dir $@)
	$(CC) $(FAST_CFLAGS) -Itests/support -o $@ $< \
		$(SHADOW_HARNESS) $(LIBVMMU_FAST) -lcmocka

.PHONY: check-shadow-long
check-shadow-long: $(BUILD)/tests/model/shadow_oracle-fast \
		$(BUILD)/tests/model/shadow_matrix-fast
	SHADOW_SEED=$(SHADOW_SEED) SHADOW_ACCESSES=$(SHADOW_LONG_ACCESSES) $<
	SHADOW_MATRIX_LEVELS=5 $(BUILD)/tests/model/shadow_matrix-fast
