# tests/qemu/qemu.mk: QEMU test kernels (included by the top Makefile).
#
# Every tests/qemu/<name>.c is one test kernel: it is linked with the
# runtime in tests/qemu/rt/ and with the same $(LIBVMMU) users get, into
# $(BUILD)/qemu/<name>.elf64 (for gdb) and $(BUILD)/qemu/<name>.elf (ELF32
# copy that QEMU's multiboot loader accepts). tests/qemu/unittests.cfg says
# how each one runs; scripts/run-qemu.sh runs them and keeps the logs in
# $(BUILD)/qemu/<name>.log.
#
#   make check-qemu                    build and run every kernel
#   make check-qemu QEMU_TESTS=walk_tcg   only these (names from the cfg)
#   make qemu-kernels                  build only
#   QEMU_ACCEL=tcg|kvm|auto            accelerators to run (default auto:
#                                      TCG, then KVM when /dev/kvm works)

OBJCOPY ?= objcopy

QEMU_BUILD := $(BUILD)/qemu
QEMU_RT_DIR := tests/qemu/rt
QEMU_RT_C := $(sort $(wildcard $(QEMU_RT_DIR)/*.c))
QEMU_RT_S := $(sort $(wildcard $(QEMU_RT_DIR)/*.S))
QEMU_RT_H := $(sort $(wildcard $(QEMU_RT_DIR)/*.h))
QEMU_RT_OBJS := $(QEMU_RT_C:$(QEMU_RT_DIR)/%.c=$(QEMU_BUILD)/rt/%.o) \
	$(QEMU_RT_S:$(QEMU_RT_DIR)/%.S=$(QEMU_BUILD)/rt/%.S.o)
QEMU_KERNEL_SRCS := $(sort $(wildcard tests/qemu/*.c))
QEMU_KERNELS := $(QEMU_KERNEL_SRCS:tests/qemu/%.c=$(QEMU_BUILD)/%.elf)
QEMU_LDS := $(QEMU_RT_DIR)/kernel.ld
QEMU_TESTS ?=
QEMU_ACCEL ?= auto

# Freestanding like the library; no SSE in the kernel's own code (the trap
# handler does not save vector state), no loops turned into memcpy calls
# (gcc does that even with -fno-builtin; clang has no such flag and does not).
QEMU_NO_LDP := $(shell $(CC) -fno-tree-loop-distribute-patterns -E -x c \
	/dev/null >/dev/null 2>&1 && echo -fno-tree-loop-distribute-patterns)
QEMU_CFLAGS := $(STD) $(WARN) $(INC) -I$(QEMU_RT_DIR) -Itests/support $(FREESTANDING) \
	-O2 -g -fno-pic -fno-pie -mcmodel=small -mgeneral-regs-only \
	-fno-omit-frame-pointer -fno-asynchronous-unwind-tables $(QEMU_NO_LDP)
QEMU_ASFLAGS := $(INC) -I$(QEMU_RT_DIR) -g -fno-pic -fno-pie
QEMU_LDFLAGS = -nostdlib -static -no-pie -Wl,-T,$(QEMU_LDS) \
	-Wl,-z,max-page-size=4096 -Wl,--build-id=none -Wl,-z,noexecstack \
	$(shell $(CC) -Wl,--no-warn-rwx-segments -nostdlib -x c /dev/null \
		-o /dev/null 2>&1 | grep -q 'unrecognized\|unknown' || \
		echo -Wl,--no-warn-rwx-segments)
QEMU_LIBGCC = $(shell $(CC) -print-libgcc-file-name)

.PHONY: qemu-kernels
qemu-kernels: $(QEMU_KERNELS)

check-qemu: deps-qemu $(LIBVMMU) $(QEMU_KERNELS)
	@sh scripts/run-qemu.sh -b $(QEMU_BUILD) -a $(QEMU_ACCEL) \
		tests/qemu/unittests.cfg $(QEMU_TESTS)

$(QEMU_BUILD)/rt/%.o: $(QEMU_RT_DIR)/%.c $(QEMU_RT_H) $(PUBLIC_HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(QEMU_CFLAGS) -c $< -o $@

$(QEMU_BUILD)/rt/%.S.o: $(QEMU_RT_DIR)/%.S $(QEMU_RT_H)
	@mkdir -p $(dir $@)
	$(CC) $(QEMU_ASFLAGS) -c $< -o $@

# Headers the kernels share with the host tests.
QEMU_TEST_H := tests/support/access_space.h tests/support/splitmix.h
$(QEMU_BUILD)/%.o: tests/qemu/%.c $(QEMU_RT_H) $(QEMU_TEST_H) $(PUBLIC_HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(QEMU_CFLAGS) -c $< -o $@

$(QEMU_BUILD)/%.elf64: $(QEMU_BUILD)/%.o $(QEMU_RT_OBJS) $(LIBVMMU) $(QEMU_LDS)
	$(CC) $(QEMU_LDFLAGS) -o $@ $< $(QEMU_RT_OBJS) $(LIBVMMU) $(QEMU_LIBGCC)

$(QEMU_BUILD)/%.elf: $(QEMU_BUILD)/%.elf64
	$(OBJCOPY) -O elf32-i386 $< $@

# Keep the objects and the ELF64 images (for gdb): they are intermediate.
.SECONDARY: $(QEMU_RT_OBJS) $(QEMU_KERNELS:.elf=.o) $(QEMU_KERNELS:.elf=.elf64)
