# cmocka unit tests: one binary per tests/unit/test_*.c, built against the
# hosted (ASan + UBSan) library and the hosted test platform.
# Included by the top-level Makefile.

UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)
UNIT_SUPPORT := tests/support/test_platform.c tests/support/test_platform.h \
	tests/support/pv_fixture.c tests/support/pv_fixture.h \
	tests/support/shadow_harness.c tests/support/shadow_harness.h \
	tests/support/access_space.h tests/support/splitmix.h \
	tests/unit/unit_check.h

.PHONY: check-unit

$(BUILD)/tests/unit/%: tests/unit/%.c $(UNIT_SUPPORT) $(LIBVMMU_HOSTED) \
		$(PUBLIC_HEADERS) | deps-test
	@mkdir -p $(dir $@)
	$(CC) $(HOSTED_CFLAGS) -Itests/support -o $@ $< \
		tests/support/test_platform.c tests/support/pv_fixture.c \
		tests/support/shadow_harness.c $(LIBVMMU_HOSTED) -lcmocka

# Run every binary even when one fails; fail if any failed.
check-unit: $(UNIT_BINS) | deps-test
	@failed=""; \
	for t in $(UNIT_BINS); do \
		echo "== $$t"; \
		./$$t || failed="$$failed $$t"; \
	done; \
	if [ -n "$$failed" ]; then \
		echo "check-unit: FAILED:$$failed"; exit 1; \
	fi; \
	echo "check-unit: $(words $(UNIT_BINS)) unit test binaries passed"

check: check-unit
