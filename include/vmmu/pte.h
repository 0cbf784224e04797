/* SPDX-License-Identifier: MIT */
/**
 * @file pte.h
 * Format-independent PTE encode/decode over a struct vmmu_fmt.
 *
 * Permissions and attributes are expressed abstractly (struct vmmu_prot)
 * and turned into bits by the descriptor. Everything here is static inline
 * so that, over a descriptor the compiler can see, the masks fold.
 */
#ifndef VMMU_PTE_H
#define VMMU_PTE_H

#include "fmt.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Abstract permissions (struct vmmu_prot::perm). */
enum vmmu_perm {
	VMMU_PERM_R = 1u << 0,  /**< readable (implied by present on x86) */
	VMMU_PERM_W = 1u << 1,  /**< writable */
	VMMU_PERM_X = 1u << 2,  /**< executable (supervisor-exec under EPT MBEC) */
	VMMU_PERM_U = 1u << 3,  /**< x86 user-accessible */
	VMMU_PERM_UX = 1u << 4, /**< EPT MBEC user-mode executable */
};

/** Leaf attribute flags (struct vmmu_prot::flags). */
enum vmmu_prot_flags {
	VMMU_PROT_GLOBAL = 1u << 0,   /**< x86 G */
	VMMU_PROT_ACCESSED = 1u << 1, /**< A set at creation */
	VMMU_PROT_DIRTY = 1u << 2,    /**< D set at creation (leaf) */
	VMMU_PROT_IPAT = 1u << 3,     /**< EPT ignore PAT */
};

/** What a leaf grants, format-independently. */
struct vmmu_prot {
	uint32_t perm;  /**< enum vmmu_perm */
	uint8_t cache;  /**< x86: PAT index 0..7; EPT: memory type (0,1,4,5,6) */
	uint8_t pkey;   /**< x86 protection key 0..15 */
	uint8_t flags;  /**< enum vmmu_prot_flags */
	uint8_t reserved_;
};

static inline const struct vmmu_fmt_level *
vmmu_pte_lvl(const struct vmmu_fmt *fmt, unsigned level)
{
	return &fmt->level[level];
}

/** True when the entry is present (x86: P; EPT: any of R/W/X(/UX)). */
static inline bool vmmu_pte_present(const struct vmmu_fmt *fmt, unsigned level,
				    vmmu_pte_t pte)
{
	return (pte & fmt->level[level].present) != 0;
}

/** True when a present entry is a leaf (level 1, or PS set where allowed). */
static inline bool vmmu_pte_is_leaf(const struct vmmu_fmt *fmt, unsigned level,
				    vmmu_pte_t pte)
{
	return level == 1 || (pte & fmt->level[level].ps) != 0;
}

/** Address in a present entry: next table, or the leaf's frame. */
static inline uint64_t vmmu_pte_addr(const struct vmmu_fmt *fmt, unsigned level,
				     vmmu_pte_t pte)
{
	const struct vmmu_fmt_level *l = &fmt->level[level];
	return pte & (vmmu_pte_is_leaf(fmt, level, pte) ? l->addr_leaf
							: l->addr_table);
}

/**
 * Reserved bits set in a present entry (0 = none). A PS bit at a level
 * with no leaves counts as reserved. Non-present entries have none.
 * EPT-specific misconfigurations are vmmu_ept_misconfig()'s business.
 */
static inline uint64_t vmmu_pte_rsvd(const struct vmmu_fmt *fmt, unsigned level,
				     vmmu_pte_t pte)
{
	const struct vmmu_fmt_level *l = &fmt->level[level];
	if (!vmmu_pte_present(fmt, level, pte)) {
		return 0;
	}
	return pte & (vmmu_pte_is_leaf(fmt, level, pte) ? l->rsvd_leaf
							: l->rsvd_table);
}

/** A table pointer with full rights (x86: P|W|U, EPT: R|W|X(|UX)). */
vmmu_pte_t vmmu_pte_make_table(const struct vmmu_fmt *fmt, unsigned level,
			       uint64_t table_pa);

/**
 * Encode a leaf at a level for frame pa with prot. Returns 0 and sets *out,
 * or -VMMU_EINVAL (no leaf allowed at this level, permission or attribute
 * the format cannot express), -VMMU_EALIGN (pa not aligned to the leaf
 * size) or -VMMU_ERANGE (pa beyond MAXPHYADDR).
 */
int vmmu_pte_make_leaf(const struct vmmu_fmt *fmt, unsigned level, uint64_t pa,
		       const struct vmmu_prot *prot, vmmu_pte_t *out);

/** Decode a present leaf's permissions and attributes. */
void vmmu_pte_decode_leaf(const struct vmmu_fmt *fmt, unsigned level,
			  vmmu_pte_t pte, struct vmmu_prot *prot);

/**
 * EPT misconfiguration check (SDM Vol. 3C §29.3.3.1): a present entry with
 * reserved bits set, write without read, execute-only without support, or a
 * leaf with memory type 2, 3 or 7. Returns true when misconfigured. Always
 * false for non-EPT formats and non-present entries.
 */
bool vmmu_ept_misconfig(const struct vmmu_fmt *fmt, unsigned level,
			vmmu_pte_t pte);

#ifdef __cplusplus
}
#endif

#endif /* VMMU_PTE_H */
