# Host stress test of the per-CPU update queue (tests/stress/batch_race.c):
# threads as CPUs, two real-time signals as interrupts and NMIs that queue and
# flush at any instruction, exactly-once and order checked as every entry
# is applied. check-stress-batch runs an ASan+UBSan build and a TSan build,
# each with at least 10^7 updates.
# Included by the top-level Makefile.

BATCH_RACE := $(BUILD)/tests/stress/batch_race
BATCH_RACE_TSAN_CFLAGS := $(STD) $(WARN) $(INC) -O1 -g -fsanitize=thread

.PHONY: check-stress-batch

$(BATCH_RACE): tests/stress/batch_race.c tests/support/splitmix.h $(LIBVMMU_HOSTED)
	@mkdir -p $(dir $@)
	$(CC) $(HOSTED_CFLAGS) -Itests/support tests/stress/batch_race.c \
		$(LIBVMMU_HOSTED) -o $@ -lpthread

$(BATCH_RACE)-tsan: tests/stress/batch_race.c tests/support/splitmix.h $(LIB_SRCS)
	@mkdir -p $(dir $@)
	$(CC) $(BATCH_RACE_TSAN_CFLAGS) -Itests/support tests/stress/batch_race.c \
		$(LIB_SRCS) -o $@ -lpthread

# Arguments: threads, task updates per thread, seed, pace (busy loop per
# update so that signals land in the uninstrumented build). Handlers add
# a few per cent to the update count.
check-stress-batch: $(BATCH_RACE) $(BATCH_RACE)-tsan
	$(BATCH_RACE) 2 5000000 1 100
	$(BATCH_RACE)-tsan 4 2500000 2

check: check-stress-batch
