/* SPDX-License-Identifier: MIT */
/*
 * Test-kernel runtime ("kx"): what a test kernel under tests/qemu/ gets.
 *
 * Boot (boot.S) enters long mode on a boot identity map, enables SSE, and
 * calls kx_start(), which sets up COM1, the GDT/TSS/IDT, CPU feature
 * detection and then paging built by vmmu itself (kx_paging_init): the
 * identity map of [4 KiB, KX_IDMAP_SIZE) as supervisor RWX 2M/4K leaves,
 * page 0 unmapped, plus the user stub page and the user stack. Then it
 * calls the kernel's kx_main(). When kx_main returns, kx_tap_finish()
 * decides the exit status.
 *
 * Memory layout (linked at 1 MiB, identity mapped):
 *   0x00100000  multiboot header, .text, .user_text (page aligned),
 *               .rodata, .data, .bss (stacks, frame pool)
 * Extra virtual mappings made by kx_paging_init (layout.h):
 *   KX_USER_TEXT_VA   .user_text, user-accessible, read+execute
 *   KX_USER_STACK_VA  one user-accessible read/write page
 *   KX_USER_EXIT_VA   never mapped: where ring-3 stubs end
 */
#ifndef KX_KX_H
#define KX_KX_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vmmu/vmmu.h>

#include "cpu.h"

/* Selectors and the virtual layout (shared with the assembly). */
#include "layout.h"

#define KX_PAGE 4096ull

extern char __user_text_start[], __user_text_end[];
extern char __kernel_start[], __kernel_end[];

/* --- libc subset (libc.c) ------------------------------------------------ */
void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);

/*
 * printf subset: flags - 0 + space #, width and precision (also *),
 * length hh h l ll z j t, conversions d i u x X o c s p %.
 */
int kx_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int kx_snprintf(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Formatted output to COM1. */
int kx_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int kx_vprintf(const char *fmt, va_list ap);

/* --- console and exit (io.c) ------------------------------------------- */
void kx_serial_init(void);
void kx_putc(char c);
void kx_puts(const char *s); /* no newline added */
/*
 * Leave QEMU through isa-debug-exit (port 0xf4): pass gives exit status 33,
 * fail 35. Never returns (halts if the device is missing).
 */
__attribute__((noreturn)) void kx_exit(bool pass);

/* --- TAP on COM1 (tap.c) ------------------------------------------------ */
void kx_tap_plan(unsigned n);
/* "ok N - desc" or "not ok N - desc"; returns ok. */
bool kx_tap_ok(bool ok, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void kx_tap_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "# ..." diagnostic line (newline added). */
void kx_tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "Bail out! ..." and exit with failure. */
__attribute__((noreturn)) void kx_tap_bail(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
/* Check the plan was met with no failure and exit accordingly. */
__attribute__((noreturn)) void kx_tap_finish(void);

/* --- traps and guarded execution (trap.c, trap.S) ----------------------- */

/* Register frame built by the interrupt stubs (trap.S). */
struct kx_regs {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss; /* pushed by the CPU */
};

/* What ended a guarded run: the exception taken, or none. */
struct kx_trap {
	int vector;     /* -1: none (returned, or ring 3 reached KX_USER_EXIT_VA) */
	uint32_t error; /* error code (0 where the vector has none) */
	uint64_t cr2;   /* CR2 for #PF, else 0 */
	uint64_t rip;   /* faulting RIP */
	uint64_t cs;    /* CS at the fault (RPL = CPL) */
};

/*
 * Run fn(arg) in ring 0 with EFLAGS.AC = ac. Any exception taken before fn
 * returns abandons it and resumes here (callee-saved registers and RSP
 * restored, AC cleared). Returns the vector, or -1 when fn returned; *t
 * (optional) gets the details.
 */
int kx_try(void (*fn)(uint64_t), uint64_t arg, bool ac, struct kx_trap *t);
/*
 * Enter ring 3 at rip with rsp, RSI = arg and RFLAGS = rflags (bit 1 is
 * forced, IF cleared). The ring-3 code ends by jumping to KX_USER_EXIT_VA;
 * any other exception ends it too. Returns the vector, or -1 for a clean
 * return.
 */
int kx_user(uint64_t rip, uint64_t rsp, uint64_t arg, uint64_t rflags,
	    struct kx_trap *t);

/* One-byte accesses, ring 0 (kx_try) or ring 3 (kx_user). */
enum kx_acc { KX_READ, KX_WRITE, KX_FETCH };
/*
 * Do one access to va: read a byte, write the byte 0xc3, or fetch (call
 * va, which must hold 0xc3 = ret). user: from ring 3 through the user stub
 * page; else ring 0 with EFLAGS.AC = ac. Returns the vector or -1.
 */
int kx_access(enum kx_acc acc, bool user, uint64_t va, bool ac,
	      struct kx_trap *t);

/* Ring-0 access helpers (trap.S); arg is the address. */
void kx_sup_read(uint64_t va);
void kx_sup_write(uint64_t va);
void kx_sup_fetch(uint64_t va);
/*
 * Load ES with selector sel, then with the null selector (trap.S). With an
 * LDT selector this reads the descriptor (implicit supervisor read) and,
 * when its accessed bit is clear, sets it (implicit supervisor write).
 */
void kx_sup_load_es(uint64_t sel);
/* Ring-3 stubs (user.S, in .user_text; run at their KX_USER_TEXT_VA alias). */
extern char kx_user_read[], kx_user_write[], kx_user_fetch[];
/* Address of a .user_text symbol in the user mapping. */
static inline uint64_t kx_user_va(const void *sym)
{
	return KX_USER_TEXT_VA + (uint64_t)((const char *)sym - __user_text_start);
}

/* Name of an exception vector ("#PF"), "int" beyond 31. */
const char *kx_vector_name(int vector);
/* The vector a vmmu_walk result means: -1 (none), 14 (#PF) or 13 (#GP). */
int kx_walk_vector(int walk_rc);
/* "no fault", or "#PF err 0x7" (vector name and error code) in buf. */
const char *kx_outcome_str(int vector, uint32_t err, char *buf, size_t n);
/* Called by trap.S for every interrupt/exception. */
void kx_trap_entry(struct kx_regs *r);
/*
 * Hypervisor-style kernels (shadow_vivo): when set, kx_trap_entry calls
 * the hook first; true means handled, and the trap returns to the frame
 * as the hook left it (a ring-3 guest resumes); false goes on as usual
 * (recovery of kx_user/kx_try, or the report of an unexpected trap).
 */
extern bool (*kx_trap_hook)(struct kx_regs *r);
/*
 * While kx_trap_host_cr3 is non-zero, every trap loads it into CR3 before
 * any C code runs (the CR3 it interrupted goes to kx_trap_from_cr3) and
 * loads kx_trap_resume_cr3 just before IRETQ: a "VM exit" to the kernel's
 * own tables and a "VM entry" to the guest's. On the interrupted tables
 * the CPU and trap.S touch only the IDT, GDT, TSS, the ring-0 (or IST)
 * stack, [kx_isr_stubs, kx_isr_end) and kx_trap_host_cr3.
 */
extern uint64_t kx_trap_host_cr3, kx_trap_resume_cr3, kx_trap_from_cr3;
extern char kx_isr_stubs[], kx_isr_end[];

/* --- known TCG deviations (quirk.c) --------------------------------------- */

/*
 * Where QEMU's TCG (7.2) departs from the SDM and vmmu follows the SDM.
 * Comparing kernels accept the TCG outcome only through kx_quirk(), which
 * counts it, and only under TCG without "strict" on the command line.
 */
enum kx_quirk {
	/* #PF for a reserved bit: RSVD without P (SDM Vol. 3A 4.7: P=1). */
	KX_Q_RSVD_NO_P,
	/* A set in a 1G leaf (a PDPTE) before its rights are checked, so a
	 * faulting access leaves A set; vmmu writes nothing on a fault. */
	KX_Q_1G_LEAF_A_ON_FAULT,
	/* User access to a supervisor page whose key PKRS denies: the U/S
	 * fault without PK. SDM 4.7 sets PK whenever the PKRS condition holds
	 * and words it to include user-mode accesses ("CR0.WP = 1 or the
	 * access ... was a user-mode access"). */
	KX_Q_PKS_USER_NO_PK,
	/* Implicit supervisor access (a descriptor load) at CPL 0 with
	 * EFLAGS.AC = 1: AC overrides SMAP as for an explicit access. SDM 4.6.1:
	 * SMAP always blocks implicit accesses to user-mode pages. */
	KX_Q_IMPLICIT_SMAP_AC,
	KX_NQUIRK
};
/* Under TCG and without "strict". */
bool kx_quirks_tolerated(void);
/* Accept one occurrence of q: true (and counted) when tolerated. */
bool kx_quirk(enum kx_quirk q);
/* The CPU's error code is vmmu's pfec minus P for a reserved-bit fault. */
bool kx_quirk_rsvd_no_p(uint32_t cpu_error, uint32_t pfec);
/* "known TCG quirks tolerated and counted" or "strict SDM comparison". */
const char *kx_quirks_mode(void);
/* One "# TCG quirk tolerated N times: ..." line per quirk used. */
void kx_quirks_report(void);

/* --- descriptors (desc.c) ----------------------------------------------- */
void kx_desc_init(void);
/*
 * Point LDTR at an LDT at linear address base (limit in bytes - 1). A
 * segment load with a TI=1 selector then reads base + (selector & ~7):
 * an implicit supervisor-mode access (SDM Vol. 3A 4.6), whatever the CPL.
 */
void kx_set_ldt(uint64_t base, uint32_t limit);

/* --- CPU features and vmmu platform (cpu.c, vmmu_plat.c) ---------------- */
void kx_cpu_detect(void);

/* The vmmu platform: frames from a static pool, identity (direct) map. */
extern const struct vmmu_platform kx_plat;
/* The format and tree behind the live CR3 (set by kx_paging_init). */
extern struct vmmu_fmt kx_fmt;
extern struct vmmu_pt kx_pt;
/* Frames the pool has left. */
unsigned kx_frames_free(void);
/*
 * Build the kernel's paging with vmmu and load it into CR3: 4-level, or
 * 5-level (kx_fmt.levels == 5, CR4.LA57 set) when kx_la57 is set.
 */
void kx_paging_init(void);
/*
 * Paging mode, from the command line: "la57" asks for 5-level paging. The
 * runtime then checks CPUID.(EAX=7,ECX=0):ECX[16] and, when LA57 is
 * missing, prints "1..0 # SKIP no LA57" and exits with success before
 * kx_main runs; otherwise kx_paging_init builds a 5-level tree and
 * switches to it (kx_la57_switch). Virtual addresses are then canonical
 * over 57 bits (bits 63..56 equal), not 48.
 */
extern bool kx_la57;
/*
 * Leave long mode for a moment through a 32-bit segment, set CR4.LA57,
 * load root (below 4 GiB, identity mapping the running code and stack)
 * and come back in 5-level paging (la57.S).
 */
void kx_la57_switch(uint64_t root);
/* TLB flush requests vmmu made (all scopes). */
extern uint64_t kx_tlb_flushes;

/* --- kernel command line (QEMU -append, multiboot) ---------------------- */
/* The command line, or "" when there is none. */
const char *kx_cmdline(void);
/*
 * Words are separated by spaces or commas ("la57,strict" is two words:
 * the test runner splits extra_params on spaces, so several words for one
 * -append are written with commas).
 */
/* True when the word appears in the command line. */
bool kx_cmdline_has(const char *word);
/* The text after "key=" in the command line (up to the next separator
 * is the value), or NULL. */
const char *kx_cmdline_value(const char *key);
/* The number after "key=" (decimal, or hex with 0x), or def. */
uint64_t kx_cmdline_uint(const char *key, uint64_t def);
/* Parse a decimal or 0x-hex number at *s, advancing *s past it. */
uint64_t kx_parse_uint(const char **s);
/* True under KVM (CPUID hypervisor signature "KVMKVMKVM"). */
static inline bool kx_under_kvm(void)
{
	return strcmp(kx_cpu.hv_vendor, "KVMKVMKVM") == 0;
}
/* True under QEMU's TCG (CPUID hypervisor signature "TCGTCGTCGTCG"). */
static inline bool kx_under_tcg(void)
{
	return strcmp(kx_cpu.hv_vendor, "TCGTCGTCGTCG") == 0;
}

/* --- the test kernel ---------------------------------------------------- */
/* Defined by each test kernel; runs after the runtime is up. */
void kx_main(void);

#endif
