# Example programs, built the way a user would: against build/libvmmu.a.
# The archive is built -fno-pic (kernel code model), so hosted programs
# link it with -no-pie (or use build/libvmmu.so).
EXAMPLES := $(patsubst examples/%.c,$(BUILD)/examples/%,$(wildcard examples/*.c))

.PHONY: examples check-examples

$(BUILD)/examples/%: examples/%.c $(LIBVMMU)
	@mkdir -p $(dir $@)
	$(CC) $(STD) $(WARN) $(INC) -O2 -no-pie $< $(LIBVMMU) -o $@

examples: $(EXAMPLES)

# The demo's output is checked line by line, so a broken example fails.
check-examples: $(BUILD)/examples/walk_demo
	$(BUILD)/examples/walk_demo > $(BUILD)/examples/walk_demo.out
	diff -u examples/walk_demo.expected $(BUILD)/examples/walk_demo.out
	@echo "check-examples: 1 passed, 0 failed"

check: check-examples
