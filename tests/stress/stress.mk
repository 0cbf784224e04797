# Host stress tests: threads as CPUs racing on shared tables.
# check-stress runs the ASan+UBSan build; check-stress-tsan a TSan build.

STRESS_DIR := $(BUILD)/tests/stress
STRESS_TSAN_CFLAGS := $(STD) $(WARN) $(INC) -O1 -g -fsanitize=thread

.PHONY: check-stress check-stress-tsan

$(STRESS_DIR)/walk_race: tests/stress/walk_race.c tests/support/test_platform.c $(LIBVMMU_HOSTED)
	@mkdir -p $(dir $@)
	$(CC) $(HOSTED_CFLAGS) -Itests/support $^ -o $@ -lpthread

$(STRESS_DIR)/walk_race-tsan: tests/stress/walk_race.c tests/support/test_platform.c $(LIB_SRCS)
	@mkdir -p $(dir $@)
	$(CC) $(STRESS_TSAN_CFLAGS) -Itests/support $^ -o $@ -lpthread

check-stress: $(STRESS_DIR)/walk_race $(STRESS_DIR)/walk_race-tsan
	$(STRESS_DIR)/walk_race 2000000 2
	$(STRESS_DIR)/walk_race-tsan 300000 2

check: check-stress
