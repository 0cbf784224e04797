# Host stress test of the cross-CPU inbox and shootdowns
# (tests/stress/mpsc_race.c): producer threads pushing into CPU threads'
# inboxes (exactly once, FIFO per producer), CPU threads shooting each
# other down with signals as IPIs, and two threads shooting each other
# down in lockstep. check-stress-mpsc runs an ASan+UBSan build and a TSan
# build. Included by the top-level Makefile.

MPSC_RACE := $(BUILD)/tests/stress/mpsc_race
MPSC_RACE_TSAN_CFLAGS := $(STD) $(WARN) $(INC) -O1 -g -fsanitize=thread

.PHONY: check-stress-mpsc

$(MPSC_RACE): tests/stress/mpsc_race.c $(LIBVMMU_HOSTED) $(PUBLIC_HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(HOSTED_CFLAGS) tests/stress/mpsc_race.c $(LIBVMMU_HOSTED) -o $@ -lpthread

# The TSan build compiles the code under test itself (the hosted archive
# is ASan-instrumented).
$(MPSC_RACE)-tsan: tests/stress/mpsc_race.c batch/mpsc.c $(PUBLIC_HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(MPSC_RACE_TSAN_CFLAGS) tests/stress/mpsc_race.c batch/mpsc.c -o $@ -lpthread

# Arguments: producers, pushes per producer, CPUs, shootdowns per CPU,
# mutual-shootdown rounds, seed.
check-stress-mpsc: $(MPSC_RACE) $(MPSC_RACE)-tsan
	$(MPSC_RACE) 4 250000 3 3000 20000
	$(MPSC_RACE)-tsan 4 250000 3 3000 20000

check: check-stress-mpsc
