/* SPDX-License-Identifier: MIT */
/*
 * Ring-3 stubs. .user_text is page aligned by the linker script and mapped
 * user-accessible at KX_USER_TEXT_VA; the code is position independent.
 * The target address is in RSI. Each stub ends by jumping to
 * KX_USER_EXIT_VA, which is never mapped: the #PF there (CPL 3, CR2 = RIP =
 * KX_USER_EXIT_VA) tells kx_trap_entry() that the stub completed. (An
 * "int n" through a DPL-3 gate would do too, but some hosts' KVM raise #UD
 * for it; a page fault works everywhere.)
 */
#include "layout.h"

	.section .user_text, "ax"
	.globl kx_user_read, kx_user_write, kx_user_fetch
kx_user_read:
	movb (%rsi), %al
	jmp user_exit
kx_user_write:
	movb $0xc3, (%rsi)
	jmp user_exit
kx_user_fetch:
	call *%rsi
	jmp user_exit
user_exit:
	movabsq $KX_USER_EXIT_VA, %rax
	jmpq *%rax

	.section .note.GNU-stack, "", @progbits
