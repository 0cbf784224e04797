/* SPDX-License-Identifier: MIT */
/*
 * Assembler macros shared by the runtime's .S files (not for C).
 *
 * ENTER_SAVED / LEAVE_SAVED: a frame that keeps the System V callee-saved
 * registers (RBP, RBX, R12-R15) for code that returns into C after running
 * something that may clobber them (a fault recovery, ring 3, a paging-mode
 * switch).
 */
#ifndef KX_ASM_H
#define KX_ASM_H

	.macro ENTER_SAVED
	pushq %rbp
	movq %rsp, %rbp
	pushq %rbx
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	.endm

	.macro LEAVE_SAVED
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbx
	popq %rbp
	.endm

#endif
