# vmmu: top-level build. Targets (stable names, see README.md):
#   lib audit headers-check check check-qemu fuzz test bench install clean
# Sub-makefiles (one per test kind and the benchmarks) are included below;
# each adds its own targets and hangs itself on check/test/bench.

CC      ?= cc
CXX     ?= c++
CLANG   ?= clang
AR      ?= ar
NM      ?= nm
PREFIX  ?= /usr/local
BUILD   ?= build
FUZZ_SECONDS ?= 10

ifeq ($(origin CC),default)
CC := gcc
endif
ifeq ($(origin CXX),default)
CXX := g++
endif

.DEFAULT_GOAL := lib
.SUFFIXES:
.DELETE_ON_ERROR:

LIB_SRCS := $(sort $(wildcard mmu/*.c shadow/*.c batch/*.c))
PUBLIC_HEADERS := $(sort $(wildcard include/vmmu/*.h))
PRIVATE_HEADERS := $(sort $(wildcard mmu/*.h shadow/*.h batch/*.h))

WARN := -Wall -Wextra -Werror -Wshadow -Wundef -Wstrict-prototypes \
	-Wmissing-prototypes -Wpointer-arith -Wcast-qual -Wvla \
	-Wno-unused-parameter
STD  := -std=c11
INC  := -Iinclude

# Freestanding library flags (design.md section 3).
FREESTANDING := -ffreestanding -nostdinc -isystem $(shell $(CC) -print-file-name=include) \
	-fno-stack-protector -mno-red-zone -mgeneral-regs-only -fno-builtin -fno-common
LIB_CFLAGS := $(STD) $(WARN) $(INC) $(FREESTANDING) -O2 -g -fno-pic -fno-omit-frame-pointer
PIC_CFLAGS := $(STD) $(WARN) $(INC) $(FREESTANDING) -O2 -g -fPIC

# Hosted build of the same sources for tests: ASan + UBSan.
SAN := -fsanitize=address,undefined -fno-sanitize-recover=all
HOSTED_CFLAGS := $(STD) $(WARN) $(INC) -O1 -g -fno-omit-frame-pointer $(SAN)
# Hosted, optimised, no sanitizers: for the long exhaustive runs.
FAST_CFLAGS := $(STD) $(WARN) $(INC) -O2 -g

LIB_OBJS    := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
PIC_OBJS    := $(LIB_SRCS:%.c=$(BUILD)/pic/%.o)
HOSTED_OBJS := $(LIB_SRCS:%.c=$(BUILD)/hosted/%.o)
FAST_OBJS   := $(LIB_SRCS:%.c=$(BUILD)/fast/%.o)

LIBVMMU        := $(BUILD)/libvmmu.a
LIBVMMU_SO     := $(BUILD)/libvmmu.so
LIBVMMU_HOSTED := $(BUILD)/libvmmu-hosted.a
LIBVMMU_FAST   := $(BUILD)/libvmmu-fast.a

.PHONY: all lib audit headers-check check check-qemu fuzz test bench install clean deps-%

all lib: $(LIBVMMU) $(LIBVMMU_SO)

# scripts/deps.sh installs what a group of targets needs when it is missing.
deps-%:
	@sh scripts/deps.sh $*

# One set of sources, four builds; the object directory picks the flags:
# obj (freestanding archive), pic (shared library), hosted (ASan+UBSan
# tests), fast (optimised tests).
define lib_variant
$$(BUILD)/$(1)/%.o: %.c $$(PUBLIC_HEADERS) $$(PRIVATE_HEADERS) Makefile | deps-build
	@mkdir -p $$(dir $$@)
	$$(CC) $$($(2)) -c $$< -o $$@
endef
$(eval $(call lib_variant,obj,LIB_CFLAGS))
$(eval $(call lib_variant,pic,PIC_CFLAGS))
$(eval $(call lib_variant,hosted,HOSTED_CFLAGS))
$(eval $(call lib_variant,fast,FAST_CFLAGS))

$(LIBVMMU): $(LIB_OBJS)
$(LIBVMMU_HOSTED): $(HOSTED_OBJS)
$(LIBVMMU_FAST): $(FAST_OBJS)
$(LIBVMMU) $(LIBVMMU_HOSTED) $(LIBVMMU_FAST):
	@rm -f $@
	$(AR) rcs $@ $^

$(LIBVMMU_SO): $(PIC_OBJS)
	$(CC) -shared -nostdlib -Wl,-z,defs -Wl,-soname,libvmmu.so.0 -o $@ $^ -lc

# --- audit: no libc in the archive ---------------------------------------
audit: $(LIBVMMU)
	@sh scripts/audit.sh $(LIBVMMU) $(NM) $(LIB_SRCS) $(PRIVATE_HEADERS) $(PUBLIC_HEADERS)

# --- headers-check: each public header alone, C11 and C++17 --------------
HDRCHK_C   := $(PUBLIC_HEADERS:include/vmmu/%.h=$(BUILD)/hdrchk/%.c.o)
HDRCHK_CXX := $(PUBLIC_HEADERS:include/vmmu/%.h=$(BUILD)/hdrchk/%.cc.o)

headers-check: $(HDRCHK_C) $(HDRCHK_CXX)
	@echo "headers-check: $(words $(PUBLIC_HEADERS)) headers OK as C11 and C++17"

$(BUILD)/hdrchk/%.c.o: include/vmmu/%.h
	@mkdir -p $(dir $@)
	@printf '#include <vmmu/%s.h>\n#include <vmmu/%s.h>\n' $* $* > $(@:.o=)
	$(CC) -std=c11 -pedantic $(WARN) -Iinclude -x c -c $(@:.o=) -o $@

$(BUILD)/hdrchk/%.cc.o: include/vmmu/%.h | deps-cxx
	@mkdir -p $(dir $@)
	@printf '#include <vmmu/%s.h>\n#include <vmmu/%s.h>\n' $* $* > $(@:.o=)
	$(CXX) -std=c++17 -pedantic -Wall -Wextra -Werror -Iinclude -x c++ -c $(@:.o=) -o $@

# --- install ---------------------------------------------------------------
install: $(LIBVMMU) $(LIBVMMU_SO)
	install -d $(DESTDIR)$(PREFIX)/include/vmmu $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 $(PUBLIC_HEADERS) $(DESTDIR)$(PREFIX)/include/vmmu/
	install -m 644 $(LIBVMMU) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(LIBVMMU_SO) $(DESTDIR)$(PREFIX)/lib/libvmmu.so.0
	ln -sf libvmmu.so.0 $(DESTDIR)$(PREFIX)/lib/libvmmu.so
	sed -e 's#@PREFIX@#$(PREFIX)#' -e 's#@VERSION@#0.1.0#' scripts/vmmu.pc.in \
		> $(DESTDIR)$(PREFIX)/lib/pkgconfig/vmmu.pc

clean:
	rm -rf $(BUILD)

# --- tests and benchmarks (each sub-makefile adds to check/test/bench) ------
# check: host tests (unit, model, stress). Prerequisites are added by the
# included makefiles.
check:
	@echo "check: all host tests passed"

-include tests/unit/unit.mk
-include tests/model/model.mk
-include tests/model/shadow.mk
-include $(sort $(wildcard tests/stress/*.mk))
-include tests/fuzz/fuzz.mk
-include tests/qemu/qemu.mk
-include bench/bench.mk
-include examples/examples.mk

# test: everything CI runs. The order puts quick failures first; each
# stage stops the run on failure, so reaching the last line means all six
# stages (lib, audit, headers-check, check, check-qemu, fuzz) passed.
FUZZ_CI_SECONDS ?= 30
test: lib audit headers-check
	$(MAKE) --no-print-directory check
	$(MAKE) --no-print-directory check-qemu
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(FUZZ_CI_SECONDS)
	@echo "make test: 6 passed, 0 failed"
