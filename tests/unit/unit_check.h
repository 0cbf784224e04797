/* SPDX-License-Identifier: MIT */
/*
 * What every cmocka unit test here shares: the failure context (WHERE sets
 * a label that CHECK_EQ prints next to a mismatch), the size constants and
 * the usual long-mode CPU state.
 *
 * Each tests/unit/test_*.c is its own binary, so g_where is static here:
 * one copy per test program.
 */
#ifndef VMMU_UNIT_CHECK_H
#define VMMU_UNIT_CHECK_H

/* cmocka.h needs these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include <vmmu/vmmu.h>

/* --- failure context --------------------------------------------------- */

static char g_where[256];

#define WHERE(...) snprintf(g_where, sizeof(g_where), __VA_ARGS__)

#define CHECK_EQ(a, b)                                                      \
	do {                                                                \
		unsigned long long a_ = (unsigned long long)(a);            \
		unsigned long long b_ = (unsigned long long)(b);            \
		if (a_ != b_) {                                             \
			print_error("%s:%d [%s] %s = %#llx, expected %#llx\n", \
				    __FILE__, __LINE__, g_where, #a, a_, b_); \
			fail();                                             \
		}                                                           \
	} while (0)

/* --- sizes -------------------------------------------------------------- */

#define BIT(n) (1ull << (n))
#define PAGE 4096ull
#define KIB 1024ull
#define MIB (1024ull * KIB)
#define GIB (1024ull * MIB)

/* --- CPU state ------------------------------------------------------------ */

/* Long mode with CR0.WP and EFER.NXE; CR4.LA57 for 5-level paging. */
static inline struct vmmu_cpu_state long_mode_cpu(unsigned levels)
{
	return (struct vmmu_cpu_state){
		.cr0 = VMMU_CR0_PE | VMMU_CR0_PG | VMMU_CR0_WP,
		.cr4 = VMMU_CR4_PAE | (levels == 5 ? VMMU_CR4_LA57 : 0),
		.efer = VMMU_EFER_LME | VMMU_EFER_LMA | VMMU_EFER_NXE,
	};
}

#endif
