/* SPDX-License-Identifier: MIT */
/*
 * Interrupt entry stubs, guarded execution (kx_try, kx_user) and the
 * ring-0 access helpers.
 *
 * Stub n sits at kx_isr_stubs + 16 * n. Each pushes a dummy error code
 * where the CPU pushes none, then the vector, and joins isr_common, which
 * saves the general registers into a struct kx_regs and calls
 * kx_trap_entry(). The C side may rewrite RIP/CS/RFLAGS/RSP/SS in the
 * frame: that is how a fault resumes at the recovery point.
 */
#include "layout.h"
#include "asm.h"

	.text
	.balign 16
	.globl kx_isr_stubs
kx_isr_stubs:
	.set vec, 0
	.rept 256
	.balign 16
	.if (vec == 8) || (vec == 10) || (vec == 11) || (vec == 12) || (vec == 13) || (vec == 14) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
	.else
	pushq $0
	.endif
	pushq $vec
	jmp isr_common
	.set vec, vec + 1
	.endr

isr_common:
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %rbp
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	cld
	/*
	 * A kernel that runs ring-3 code on page tables of its own making
	 * (shadow_vivo) sets kx_trap_host_cr3: every trap then moves to those
	 * tables before any C runs, so on the interrupted CR3 only the IDT,
	 * GDT, TSS, the stack, this code and kx_trap_host_cr3 are touched,
	 * and the way out loads kx_trap_resume_cr3 (the C side picks it).
	 */
	movq kx_trap_host_cr3(%rip), %rax
	testq %rax, %rax
	jz 1f
	movq %cr3, %rbx
	movq %rax, %cr3
	movq %rbx, kx_trap_from_cr3(%rip)
1:	movq %rsp, %rdi
	call kx_trap_entry
	movq kx_trap_host_cr3(%rip), %rax
	testq %rax, %rax
	jz 2f
	movq kx_trap_resume_cr3(%rip), %rax
	movq %rax, %cr3
2:	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rbp
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rbx
	popq %rax
	addq $16, %rsp
	iretq
	.globl kx_isr_end
kx_isr_end:

/*
 * Recovery state read by kx_trap_entry(): while armed, any exception
 * resumes at kx_recover_rip with RSP = kx_recover_rsp in ring 0, after
 * storing the vector in kx_recover_result (-1 for the #PF at
 * KX_USER_EXIT_VA that ends a ring-3 stub).
 */
	.data
	.balign 8
	.globl kx_recover_rip, kx_recover_rsp, kx_recover_armed, kx_recover_result
kx_recover_rip:
	.quad 0
kx_recover_rsp:
	.quad 0
kx_recover_armed:
	.long 0
kx_recover_result:
	.long 0

/* CR3 switch on trap entry and exit (isr_common); 0 = off. */
	.balign 32
	.globl kx_trap_host_cr3, kx_trap_resume_cr3, kx_trap_from_cr3
kx_trap_host_cr3:
	.quad 0
kx_trap_resume_cr3:
	.quad 0
kx_trap_from_cr3:
	.quad 0

	.text
/* int kx_try_raw(void (*fn)(uint64_t), uint64_t arg, uint64_t rflags_or) */
	.globl kx_try_raw
	.type kx_try_raw, @function
kx_try_raw:
	ENTER_SAVED
	subq $8, %rsp			/* keep the call below 16-byte aligned */
	movq %rsp, kx_recover_rsp(%rip)
	leaq recovered(%rip), %rax
	movq %rax, kx_recover_rip(%rip)
	movl $-1, kx_recover_result(%rip)
	movl $1, kx_recover_armed(%rip)
	movq %rdi, %rax
	movq %rsi, %rdi
	pushfq
	orq %rdx, (%rsp)
	popfq
	call *%rax
	pushfq
	andq $~(1 << 18), (%rsp)
	popfq
	movl $0, kx_recover_armed(%rip)
	movl $-1, %eax
	jmp try_out
recovered:
	/* From kx_trap_entry: ring 0, RSP = kx_recover_rsp, disarmed, AC=0. */
	movl kx_recover_result(%rip), %eax
try_out:
	addq $8, %rsp
	LEAVE_SAVED
	ret
	.size kx_try_raw, . - kx_try_raw

/* int kx_user_raw(uint64_t rip, uint64_t rsp, uint64_t arg, uint64_t rflags) */
	.globl kx_user_raw
	.type kx_user_raw, @function
kx_user_raw:
	ENTER_SAVED
	subq $8, %rsp
	movq %rsp, kx_recover_rsp(%rip)
	leaq recovered(%rip), %rax
	movq %rax, kx_recover_rip(%rip)
	movl $-1, kx_recover_result(%rip)
	movl $1, kx_recover_armed(%rip)
	/* iretq frame: SS, RSP, RFLAGS, CS, RIP */
	pushq $(KX_UDS | 3)
	pushq %rsi
	pushq %rcx
	pushq $(KX_UCS | 3)
	pushq %rdi
	movq %rdx, %rsi
	xorl %eax, %eax
	xorl %ebx, %ebx
	xorl %ecx, %ecx
	xorl %edx, %edx
	xorl %edi, %edi
	xorl %ebp, %ebp
	xorl %r8d, %r8d
	xorl %r9d, %r9d
	xorl %r10d, %r10d
	xorl %r11d, %r11d
	xorl %r12d, %r12d
	xorl %r13d, %r13d
	xorl %r14d, %r14d
	xorl %r15d, %r15d
	iretq
	.size kx_user_raw, . - kx_user_raw

/* Ring-0 one-byte accesses; the address is in RDI. */
	.globl kx_sup_read, kx_sup_write, kx_sup_fetch
	.type kx_sup_read, @function
kx_sup_read:
	movb (%rdi), %al
	ret
	.size kx_sup_read, . - kx_sup_read
	.type kx_sup_write, @function
kx_sup_write:
	movb $0xc3, (%rdi)
	ret
	.size kx_sup_write, . - kx_sup_write
	.type kx_sup_fetch, @function
kx_sup_fetch:
	call *%rdi
	ret
	.size kx_sup_fetch, . - kx_sup_fetch
	.globl kx_sup_load_es
	.type kx_sup_load_es, @function
kx_sup_load_es:
	movw %di, %es
	xorl %eax, %eax
	movw %ax, %es
	ret
	.size kx_sup_load_es, . - kx_sup_load_es

	.section .note.GNU-stack, "", @progbits
