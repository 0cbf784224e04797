# Example programs, built the way a user would: against build/libvmmu.a.
# The archive is built -fno-pic (kernel code model), so hosted programs
# link it with -no-pie (or use build/libvmmu.so).
EXAMPLES := $(patsubst examples/%.c,$(BUILD)/examples/%,$(wildcard examples/*.c))

.PHONY: examples check-examples

$(BUILD)/examples/%: examples/%.c $(LIBVMMU)
	@mkdir -p $(dir $@)
	$(CC) $(STD) $(WARN) $(INC) -O2 -no-pie $< $(LIBVMMU) -o $@

examples: $(EXAMPLES)

# Each example's output is checked line by line against examples/NAME.expected,
# so a broken example fails.
CHECKED_EXAMPLES := walk_demo pv-hypervisor guest-backend shadow-hypervisor

check-examples: $(CHECKED_EXAMPLES:%=$(BUILD)/examples/%)
	@for e in $(CHECKED_EXAMPLES); do \
		$(BUILD)/examples/$$e > $(BUILD)/examples/$$e.out || exit 1; \
		diff -u examples/$$e.expected $(BUILD)/examples/$$e.out || exit 1; \
	done
	@echo "check-examples: $(words $(CHECKED_EXAMPLES)) passed, 0 failed"

check: check-examples
