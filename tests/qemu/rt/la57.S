/* SPDX-License-Identifier: MIT */
/*
 * Switch a running 64-bit kernel from 4-level to 5-level paging.
 *
 * CR4.LA57 cannot change while long mode is active, and long mode is only
 * left with paging off, which 64-bit code cannot do to itself. So
 * kx_la57_switch(root) far-returns into a 32-bit compatibility-mode
 * segment (KX_KCS32), clears CR0.PG there (EFER.LMA drops to 0: legacy
 * protected mode), sets CR4.LA57, loads CR3 with the 5-level root, sets
 * CR0.PG again (EFER.LME is still set, so IA-32e mode comes back, now with
 * 5-level paging) and far-jumps to the 64-bit code segment.
 *
 * Requirements, checked by the caller: the code, the stack and the new
 * tables are identity mapped below 4 GiB in both the old and the new
 * tables (the runtime's identity map of [4 KiB, 1 GiB) is), and the root
 * is below 4 GiB (a 32-bit MOV to CR3 loads it). The 32-bit part touches
 * no memory (DS is the null selector) and no stack; the upper halves of
 * the registers and R8-R15 are undefined after compatibility mode, so
 * everything that must survive is on the stack, and RSP is reloaded from
 * memory in 64-bit mode. Interrupts stay off throughout.
 */
#include "layout.h"
#include "asm.h"

	.set CR0_PG, 0x80000000
	.set CR4_LA57, 1 << 12

	.text
	.code64
/* void kx_la57_switch(uint64_t root) */
	.globl kx_la57_switch
	.type kx_la57_switch, @function
kx_la57_switch:
	ENTER_SAVED
	pushfq
	cli
	movq %rsp, la57_saved_rsp(%rip)
	/* Far return into compatibility mode; EDI keeps the root. */
	pushq $KX_KCS32
	leaq la57_compat(%rip), %rax
	pushq %rax
	lretq

	.code32
la57_compat:
	movl %cr0, %eax
	andl $~CR0_PG, %eax
	movl %eax, %cr0			/* paging off: long mode inactive */
	movl %cr4, %eax
	orl $CR4_LA57, %eax
	movl %eax, %cr4
	movl %edi, %cr3
	movl %cr0, %eax
	orl $CR0_PG, %eax
	movl %eax, %cr0			/* IA-32e again, 5-level paging */
	ljmp $KX_KCS, $la57_long

	.code64
la57_long:
	movq la57_saved_rsp(%rip), %rsp
	popfq
	LEAVE_SAVED
	ret
	.size kx_la57_switch, . - kx_la57_switch

	.bss
	.balign 8
la57_saved_rsp:
	.skip 8

	.section .note.GNU-stack, "", @progbits
