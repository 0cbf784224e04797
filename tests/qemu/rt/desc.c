/* SPDX-License-Identifier: MIT */
/*
 * GDT, TSS and IDT. The GDT is static data so that boot.S can load it
 * before any C runs; kx_desc_init() fills in the TSS descriptor and the IDT.
 */
#include "kx.h"

struct __attribute__((packed)) kx_desc_ptr {
	uint16_t limit;
	uint64_t base;
};

struct __attribute__((packed)) kx_tss64 {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
};

struct kx_idt_gate {
	uint16_t off_lo;
	uint16_t sel;
	uint8_t ist;
	uint8_t type_attr;
	uint16_t off_mid;
	uint32_t off_hi;
	uint32_t reserved;
};

/*
 * Flat segments: base 0, limit 4G; L=1 for the 64-bit code segments. The
 * 32-bit code segment is only used by kx_la57_switch (la57.S) to leave
 * long mode for a moment.
 */
__attribute__((aligned(16))) uint64_t kx_gdt[10] = {
	0,
	0x00af9a000000ffffull, /* 0x08 kernel code, 64-bit, DPL 0 */
	0x00cf92000000ffffull, /* 0x10 kernel data, DPL 0 */
	0x00cff2000000ffffull, /* 0x18 user data, DPL 3 */
	0x00affa000000ffffull, /* 0x20 user code, 64-bit, DPL 3 */
	0, 0,                  /* 0x28 TSS (filled at run time) */
	0x00cf9a000000ffffull, /* 0x38 kernel code, 32-bit, DPL 0 */
	0, 0,                  /* 0x40 LDT (kx_set_ldt) */
};

/* Loaded by boot.S in 32-bit mode (it reads limit and the low 32 bits). */
struct kx_desc_ptr kx_gdt_ptr = {
	.limit = sizeof(kx_gdt) - 1,
	.base = (uint64_t)(uintptr_t)kx_gdt,
};

static struct kx_tss64 tss __attribute__((aligned(16)));
static struct kx_idt_gate idt[256] __attribute__((aligned(16)));

/* Stack for traps from ring 3 (TSS.RSP0) and for #DF/NMI/#MC (IST1). */
static uint8_t ring0_stack[16384] __attribute__((aligned(16)));
static uint8_t ist1_stack[16384] __attribute__((aligned(16)));

extern char kx_isr_stubs[];

/* A 16-byte system descriptor (TSS or LDT) at GDT slot `slot`. */
static void set_system_desc(unsigned slot, uint64_t base, uint64_t limit,
			    unsigned type)
{
	kx_gdt[slot] = (limit & 0xffff) | ((base & 0xffffff) << 16) |
		       ((0x80ull | type) << 40) | (((limit >> 16) & 0xf) << 48) |
		       (((base >> 24) & 0xff) << 56);
	kx_gdt[slot + 1] = base >> 32;
}

void kx_set_ldt(uint64_t base, uint32_t limit)
{
	/* Type 2: LDT, present, DPL 0 (SDM Vol. 3A 3.5, 7.2.3). */
	set_system_desc(KX_LDT / 8, base, limit, 0x2);
	__asm__ volatile("lldt %w0" : : "r"(KX_LDT) : "memory");
}

static void set_gate(unsigned vec, unsigned dpl, unsigned ist)
{
	uint64_t off = (uint64_t)(uintptr_t)kx_isr_stubs + 16u * vec;
	struct kx_idt_gate *g = &idt[vec];

	g->off_lo = (uint16_t)off;
	g->sel = KX_KCS;
	g->ist = (uint8_t)ist;
	g->type_attr = (uint8_t)(0x80u | (dpl << 5) | 0x0eu); /* P, interrupt gate */
	g->off_mid = (uint16_t)(off >> 16);
	g->off_hi = (uint32_t)(off >> 32);
	g->reserved = 0;
}

void kx_desc_init(void)
{
	uint64_t base = (uint64_t)(uintptr_t)&tss;
	uint64_t limit = sizeof(tss) - 1;

	tss.rsp[0] = (uint64_t)(uintptr_t)(ring0_stack + sizeof(ring0_stack));
	tss.ist[0] = (uint64_t)(uintptr_t)(ist1_stack + sizeof(ist1_stack));
	tss.iomap_base = sizeof(tss); /* no I/O bitmap */
	/* Available 64-bit TSS (type 9), present, DPL 0. */
	set_system_desc(KX_TSS / 8, base, limit, 0x9);
	__asm__ volatile("ltr %w0" : : "r"(KX_TSS) : "memory");

	for (unsigned v = 0; v < 256; v++) {
		unsigned ist = (v == 2 || v == 8 || v == 18) ? 1 : 0;
		set_gate(v, 0, ist); /* ring 3 cannot "int n" into any of them */
	}
	struct kx_desc_ptr idtr = {
		.limit = sizeof(idt) - 1,
		.base = (uint64_t)(uintptr_t)idt,
	};
	__asm__ volatile("lidt %0" : : "m"(idtr) : "memory");
}
