# Host stress test of the frame table (tests/stress/frame_race.c): threads
# racing on references, types, pins and preemptible validations of shared
# frames. check-stress-frame runs an ASan+UBSan build and a TSan build.
# Included by the top-level Makefile.

FRAME_RACE := $(BUILD)/tests/stress/frame_race
FRAME_RACE_TSAN_CFLAGS := $(STD) $(WARN) $(INC) -O1 -g -fsanitize=thread

.PHONY: check-stress-frame

$(FRAME_RACE): tests/stress/frame_race.c tests/support/test_platform.c $(LIBVMMU_HOSTED)
	@mkdir -p $(dir $@)
	$(CC) $(HOSTED_CFLAGS) -Itests/support $^ -o $@ -lpthread

$(FRAME_RACE)-tsan: tests/stress/frame_race.c tests/support/test_platform.c $(LIB_SRCS)
	@mkdir -p $(dir $@)
	$(CC) $(FRAME_RACE_TSAN_CFLAGS) -Itests/support $^ -o $@ -lpthread

# Arguments: threads, operations per thread.
check-stress-frame: $(FRAME_RACE) $(FRAME_RACE)-tsan
	$(FRAME_RACE) 4 20000000
	$(FRAME_RACE)-tsan 4 5000000

check: check-stress-frame
