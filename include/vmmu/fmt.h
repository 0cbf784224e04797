/* SPDX-License-Identifier: MIT */
/**
 * @file fmt.h
 * Page-table formats as data.
 *
 * A struct vmmu_fmt describes one family: how many levels, where every
 * attribute bit lives at every level, which bits are reserved in table and
 * leaf entries (computed from MAXPHYADDR and the CPU features given at
 * init), and where leaves are allowed. Generic code (the builder, tests)
 * never spells a PTE bit; it asks the descriptor.
 *
 * Levels are numbered 1..5; level 1 is the 4 KiB table:
 *
 * | level | SDM name (x86-64) | SDM name (EPT)  | leaf size | entry maps |
 * |-------|-------------------|-----------------|-----------|------------|
 * | 1     | PT   (PTE)        | EPT PT          | 4 KiB     | 4 KiB      |
 * | 2     | PD   (PDE)        | EPT PD          | 2 MiB     | 2 MiB      |
 * | 3     | PDPT (PDPTE)      | EPT PDPT        | 1 GiB     | 1 GiB      |
 * | 4     | PML4 (PML4E)      | EPT PML4        | none      | 512 GiB    |
 * | 5     | PML5 (PML5E)      | EPT PML5        | none      | 256 TiB    |
 */
#ifndef VMMU_FMT_H
#define VMMU_FMT_H

#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VMMU_LEVEL_MAX 5u

/** Semantics family. The scrambled test format has x86 semantics. */
enum vmmu_fmt_kind {
	VMMU_FMT_X86 = 1, /**< x86-64 4/5-level paging (SDM Vol. 3A §4.5) */
	VMMU_FMT_EPT = 2, /**< Intel EPT (SDM Vol. 3C §29.3) */
};

/** Feature flags given to the init functions. */
enum vmmu_fmt_flags {
	VMMU_FMT_F_1G = 1u << 0,       /**< 1 GiB leaves (CPUID Page1GB) */
	VMMU_FMT_F_EPT_AD = 1u << 1,   /**< EPT accessed/dirty flags enabled */
	VMMU_FMT_F_EPT_MBEC = 1u << 2, /**< EPT mode-based execute control */
	VMMU_FMT_F_EPT_XONLY = 1u << 3, /**< EPT execute-only entries */
	VMMU_FMT_F_SCRAMBLED = 1u << 8, /**< set by vmmu_fmt_init_scrambled */
};

/** Everything the library needs to know about one level of a format. */
struct vmmu_fmt_level {
	uint8_t shift;     /**< lowest linear-address bit this level indexes */
	uint8_t leaf_ok;   /**< a leaf may sit here (4K always; 2M/1G by PS) */
	uint8_t memtype_shift; /**< EPT memory-type field position */
	uint8_t pkey_shift;    /**< protection-key field position */
	uint64_t ps;       /**< page-size bit (0 where the level has none) */
	uint64_t addr_table; /**< address bits of a table pointer */
	uint64_t addr_leaf;  /**< address bits of a leaf frame here */
	uint64_t rsvd_table; /**< must-be-zero bits of a present table entry */
	uint64_t rsvd_leaf;  /**< must-be-zero bits of a present leaf entry */
	uint64_t present;  /**< any of these set = present */
	uint64_t read;     /**< EPT read (x86: 0, reads implied by present) */
	uint64_t write;
	uint64_t user;     /**< x86 U/S */
	uint64_t nx;       /**< x86 execute-disable (deny polarity) */
	uint64_t exec;     /**< EPT execute (allow polarity; supervisor with MBEC) */
	uint64_t uexec;    /**< EPT user-mode execute (MBEC) */
	uint64_t accessed;
	uint64_t dirty;    /**< leaf only */
	uint64_t global;   /**< x86 leaf only */
	uint64_t pwt, pcd, pat; /**< x86 PAT index bits 0,1,2 (leaf) */
	uint64_t memtype;  /**< EPT memory-type field (leaf) */
	uint64_t ipat;     /**< EPT ignore-PAT (leaf) */
	uint64_t pkey;     /**< x86 protection-key field (leaf) */
};

/** A page-table format. Fill with one of the init functions below. */
struct vmmu_fmt {
	const char *name;
	uint32_t kind;       /**< enum vmmu_fmt_kind */
	uint32_t flags;      /**< enum vmmu_fmt_flags */
	uint32_t levels;     /**< 4 or 5 */
	uint32_t maxphyaddr; /**< 36..52 */
	uint32_t va_bits;    /**< input-address width: 48 or 57 */
	uint32_t reserved_;
	struct vmmu_fmt_level level[VMMU_LEVEL_MAX + 1]; /**< [1..levels] */
};

/**
 * x86-64 paging, 4 levels (CR4.LA57=0) or 5 (LA57=1). Reserved bits are
 * those the CPU checks regardless of EFER.NXE (the walker adds bit 63 when
 * NXE=0). flags: VMMU_FMT_F_1G. Returns 0 or -VMMU_EINVAL.
 */
int vmmu_fmt_init_x86(struct vmmu_fmt *fmt, unsigned levels,
		      unsigned maxphyaddr, unsigned flags);
/**
 * Intel EPT with a 4- or 5-level EPTP. flags: VMMU_FMT_F_1G,
 * VMMU_FMT_F_EPT_AD, _MBEC, _XONLY. Returns 0 or -VMMU_EINVAL.
 */
int vmmu_fmt_init_ept(struct vmmu_fmt *fmt, unsigned levels,
		      unsigned maxphyaddr, unsigned flags);
/**
 * Test-only format with x86 semantics whose attribute bits move from level
 * to level (seeded permutation), so generic code that hard-codes a bit or
 * mixes up levels fails its tests. Returns 0 or -VMMU_EINVAL.
 */
int vmmu_fmt_init_scrambled(struct vmmu_fmt *fmt, unsigned levels,
			    unsigned maxphyaddr, unsigned flags,
			    uint32_t seed);

/** "PT", "PD", "PDPT", "PML4", "PML5" (x86 and scrambled) or "EPT PT"...; "?" when out of range. */
const char *vmmu_fmt_level_name(const struct vmmu_fmt *fmt, unsigned level);

/** Bytes mapped by one entry at a level (4 KiB << 9*(level-1)). */
static inline uint64_t vmmu_fmt_entry_size(const struct vmmu_fmt *fmt,
					   unsigned level)
{
	return 1ull << fmt->level[level].shift;
}

/** Index of addr in the table at a level. */
static inline unsigned vmmu_fmt_index(const struct vmmu_fmt *fmt,
				      unsigned level, uint64_t addr)
{
	return (unsigned)(addr >> fmt->level[level].shift) &
	       (VMMU_PT_ENTRIES - 1);
}

/**
 * True when addr is a valid input address: canonical for x86 (bits 63..va_bits-1
 * all equal), below 2^va_bits for EPT.
 */
static inline bool vmmu_fmt_addr_ok(const struct vmmu_fmt *fmt, uint64_t addr)
{
	if (fmt->kind == VMMU_FMT_EPT) {
		return (addr >> fmt->va_bits) == 0;
	}
	int64_t top = (int64_t)addr >> (fmt->va_bits - 1);
	return top == 0 || top == -1;
}

#ifdef __cplusplus
}
#endif

#endif /* VMMU_FMT_H */
