/* SPDX-License-Identifier: MIT */
/*
 * Test-kernel virtual layout and selectors, shared by C and assembly.
 * Everything below KX_IDMAP_SIZE is identity mapped (supervisor, RWX,
 * page 0 left out); the rest is mapped by kx_paging_init and the tests.
 */
#ifndef KX_LAYOUT_H
#define KX_LAYOUT_H

/* GDT selectors (desc.c) */
#define KX_KCS 0x08  /* 64-bit kernel code */
#define KX_KDS 0x10  /* kernel data */
#define KX_UDS 0x18  /* user data (DPL 3); use with RPL 3 */
#define KX_UCS 0x20  /* 64-bit user code (DPL 3); use with RPL 3 */
#define KX_TSS 0x28  /* 16-byte TSS descriptor */
#define KX_KCS32 0x38 /* 32-bit kernel code (la57.S: leaving long mode) */
#define KX_LDT 0x40  /* 16-byte LDT descriptor (kx_set_ldt) */

#define KX_IDMAP_SIZE 0x40000000 /* 1 GiB identity map */
/* .user_text alias (user, read + execute), PML4 slot 32 */
#define KX_USER_TEXT_VA 0x0000100000000000
/* one user read/write page for the ring-3 stack */
#define KX_USER_STACK_VA 0x0000100000010000
/* never mapped: ring-3 stubs jump here to hand control back */
#define KX_USER_EXIT_VA 0x0000100000fff000

#endif
