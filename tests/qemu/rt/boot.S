/* SPDX-License-Identifier: MIT */
/*
 * Test-kernel entry. QEMU's multiboot loader jumps to _start in 32-bit
 * protected mode, paging off, EAX = 0x2BADB002, EBX = multiboot info.
 * We clear .bss, build a boot identity map of the first 1 GiB with 2 MiB
 * pages, enable PAE, EFER.LME (and NXE when CPUID has it), paging with
 * CR0.WP, SSE, load the GDT and far-jump to 64-bit code, which calls
 * kx_start(). kx_paging_init() later replaces these boot tables with ones
 * built by vmmu.
 */
#include "layout.h"

	.set MB_MAGIC, 0x1badb002
	.set MB_FLAGS, 0

	.section .multiboot, "a"
	.balign 4
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)

	.section .text.boot, "ax"
	.code32
	.globl _start
_start:
	cli
	cld
	movl %eax, kx_mb_magic
	movl %ebx, kx_mb_info

	/* Clear .bss (boot tables and stacks live there). */
	movl $__bss_start, %edi
	movl $__bss_end, %ecx
	subl %edi, %ecx
	xorl %eax, %eax
	rep stosb

	movl $boot_stack_top, %esp

	/* Long mode is required; without it there is nothing to run. */
	movl $0x80000000, %eax
	cpuid
	cmpl $0x80000001, %eax
	jb no_long_mode
	movl $0x80000001, %eax
	cpuid
	testl $(1 << 29), %edx
	jz no_long_mode
	movl %edx, %esi			/* keep: bit 20 = NX */

	/* Boot PD: 512 x 2 MiB identity leaves, P|W|PS. */
	movl $boot_pd, %edi
	movl $0x83, %eax
	xorl %ecx, %ecx
1:	movl %eax, (%edi, %ecx, 8)
	movl $0, 4(%edi, %ecx, 8)
	addl $0x200000, %eax
	incl %ecx
	cmpl $512, %ecx
	jne 1b
	movl $boot_pdpt, %eax
	orl $3, %eax
	movl %eax, boot_pml4
	movl $boot_pd, %eax
	orl $3, %eax
	movl %eax, boot_pdpt
	movl $boot_pml4, %eax
	movl %eax, %cr3

	/* CR4: PAE, OSFXSR, OSXMMEXCPT (SSE usable by compiled code). */
	movl %cr4, %eax
	orl $((1 << 5) | (1 << 9) | (1 << 10)), %eax
	movl %eax, %cr4

	/* EFER: LME, and NXE when supported. */
	movl $0xc0000080, %ecx
	rdmsr
	orl $(1 << 8), %eax
	testl $(1 << 20), %esi
	jz 2f
	orl $(1 << 11), %eax
2:	wrmsr

	/* CR0: PG, WP, MP, PE; EM off. */
	movl %cr0, %eax
	andl $~(1 << 2), %eax
	orl $((1 << 31) | (1 << 16) | (1 << 1) | 1), %eax
	movl %eax, %cr0

	lgdt kx_gdt_ptr
	ljmp $KX_KCS, $start64

no_long_mode:
	/* COM1 is not set up yet: write one line at the default rate. */
	movl $nolm_msg, %esi
3:	lodsb
	testb %al, %al
	jz 4f
	movw $0x3f8, %dx
	outb %al, %dx
	jmp 3b
4:	movw $0xf4, %dx
	movb $0x11, %al
	outb %al, %dx
5:	hlt
	jmp 5b

	.code64
start64:
	xorl %eax, %eax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %fs
	movw %ax, %gs
	movw $KX_KDS, %ax
	movw %ax, %ss
	movq $boot_stack_top, %rsp
	xorl %ebp, %ebp
	fninit
	call kx_start
6:	cli
	hlt
	jmp 6b

	.section .rodata
nolm_msg:
	.asciz "Bail out! CPU has no long mode\n"

	.data
	.balign 4
	.globl kx_mb_magic, kx_mb_info
kx_mb_magic:
	.long 0
kx_mb_info:
	.long 0

	.bss
	.balign 4096
boot_pml4:
	.skip 4096
boot_pdpt:
	.skip 4096
boot_pd:
	.skip 4096
	.balign 16
	.globl boot_stack_top
boot_stack:
	.skip 32768
boot_stack_top:

	.section .note.GNU-stack, "", @progbits
