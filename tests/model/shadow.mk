# Shadow-paging oracle, long run (docs/shadow.md "Tests"). The default run
# (10^6 accesses, ASan+UBSan build) is a unit test and part of `make check`
# already (tests/unit/test_shadow_oracle.c). This fragment adds a longer
# run against the optimised build:
#
#   make check-shadow-long                       10^7 accesses
#   make check-shadow-long SHADOW_SEED=0x1234 SHADOW_LONG_ACCESSES=N
#
# Included by the top-level Makefile.

SHADOW_SEED ?= 0x5ad0
SHADOW_LONG_ACCESSES ?= 10000000

$(BUILD)/tests/model/shadow_oracle-fast: tests/unit/test_shadow_oracle.c \
		tests/support/test_platform.c tests/support/test_platform.h \
		$(PUBLIC_HEADERS) $(LIBVMMU_FAST) | deps-test
	@mkdir -p $(dir $@)
	$(CC) $(FAST_CFLAGS) -Itests/support -o $@ $< \
		tests/support/test_platform.c $(LIBVMMU_FAST) -lcmocka

.PHONY: check-shadow-long
check-shadow-long: $(BUILD)/tests/model/shadow_oracle-fast
	SHADOW_SEED=$(SHADOW_SEED) SHADOW_ACCESSES=$(SHADOW_LONG_ACCESSES) $<
