# Host stress test of direct paging (tests/stress/pv_race.c): threads as
# the vCPUs of one PV domain issuing mmu_update, mmuext_op (pin, unpin,
# base pointers, flushes) and update_va_mapping on shared page tables,
# with random preemption, audited at quiescent points and at the end.
# check-stress-pv runs an ASan+UBSan build and a TSan build.
# Included by the top-level Makefile.

PV_RACE := $(BUILD)/tests/stress/pv_race
PV_RACE_TSAN_CFLAGS := $(STD) $(WARN) $(INC) -O1 -g -fsanitize=thread

.PHONY: check-stress-pv

$(PV_RACE): tests/stress/pv_race.c tests/support/test_platform.c $(LIBVMMU_HOSTED)
	@mkdir -p $(dir $@)
	$(CC) $(HOSTED_CFLAGS) -Itests/support $^ -o $@ -lpthread

$(PV_RACE)-tsan: tests/stress/pv_race.c tests/support/test_platform.c $(LIB_SRCS)
	@mkdir -p $(dir $@)
	$(CC) $(PV_RACE_TSAN_CFLAGS) -Itests/support $^ -o $@ -lpthread

# Arguments: threads, operations per thread, audit every N operations per
# thread, seed.
check-stress-pv: $(PV_RACE) $(PV_RACE)-tsan
	$(PV_RACE) 4 1000000 5000
	$(PV_RACE)-tsan 4 250000 5000

check: check-stress-pv
