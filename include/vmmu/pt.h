/* SPDX-License-Identifier: MIT */
/**
 * @file pt.h
 * Page-table builder: map, unmap and protect ranges in any format.
 *
 * The builder is address-space agnostic: it maps input addresses (guest
 * virtual for guest/shadow tables, guest physical for EPT) to output
 * addresses in one tree of tables whose frames come from the platform.
 *
 * Every call is check-then-apply: all checks, all frame allocations and the
 * count of frames needed happen before the first entry is written, so a
 * call that fails changes nothing. It uses 2M/1G leaves where alignment
 * and the format allow, splits a large leaf when a sub-range of it changes
 * and frees tables that become empty.
 *
 * Concurrency: calls on one tree must be serialised by the caller. Hardware
 * or a vmmu walker may walk the tree concurrently: entries are written with
 * single aligned 64-bit stores, a new table is filled before it is linked,
 * and a table is freed only after the TLB-flush request that unlinks it.
 */
#ifndef VMMU_PT_H
#define VMMU_PT_H

#include "platform.h"
#include "pte.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A tree of tables. Treat the fields as read-only. */
struct vmmu_pt {
	const struct vmmu_fmt *fmt;
	const struct vmmu_platform *plat;
	vmmu_hpa_t root;      /**< physical address of the top table */
	uint64_t table_count; /**< frames this tree holds, root included */
};

/** Flags for vmmu_pt_map. */
enum vmmu_pt_flags {
	VMMU_PT_4K_ONLY = 1u << 0, /**< never use 2M/1G leaves */
	VMMU_PT_NO_1G = 1u << 1,   /**< 2M leaves only */
	VMMU_PT_REPLACE = 1u << 2, /**< overwrite existing mappings (else -VMMU_EEXIST) */
};

/**
 * Create an empty tree (allocates the root). Returns 0, -VMMU_EINVAL or
 * -VMMU_ENOMEM. fmt and plat must outlive the tree. Context: any.
 */
int vmmu_pt_init(struct vmmu_pt *pt, const struct vmmu_fmt *fmt,
		 const struct vmmu_platform *plat);

/** Free every table of the tree (mappings are not flushed). */
void vmmu_pt_destroy(struct vmmu_pt *pt);

/**
 * Map [in, in + size) to [out, out + size) with prot. in, out and size
 * must be 4 KiB aligned, size > 0, and the range valid for the format.
 * Fails with -VMMU_EEXIST if any page is mapped, unless VMMU_PT_REPLACE.
 * Returns 0, -VMMU_EINVAL, -VMMU_EALIGN, -VMMU_ERANGE, -VMMU_EEXIST or
 * -VMMU_ENOMEM; on error nothing changed. Replacing a present entry
 * requests one TLB flush of the range; a fresh map requests none.
 * Context: caller serialises calls on pt.
 */
int vmmu_pt_map(struct vmmu_pt *pt, uint64_t in, uint64_t out, uint64_t size,
		const struct vmmu_prot *prot, unsigned flags);

/**
 * Unmap [in, in + size); holes are fine. Splits large leaves that straddle
 * the range ends, frees tables left empty, and requests one TLB flush of
 * the range (when a present entry changed) before any table is freed.
 * Needs frames for splits and for the bookkeeping of tables it removes,
 * so it can fail with -VMMU_ENOMEM, changing nothing. Also -VMMU_EINVAL
 * (size 0), -VMMU_EALIGN, -VMMU_ERANGE. Context: caller serialises calls
 * on pt.
 */
int vmmu_pt_unmap(struct vmmu_pt *pt, uint64_t in, uint64_t size);

/**
 * Change the protection of every page in [in, in + size), which must be
 * fully mapped (-VMMU_ENOENT otherwise). Output addresses are kept, and so
 * are the accessed/dirty flags already set (prot's A/D flags are added,
 * never cleared); large leaves straddling the ends are split. One TLB
 * flush of the range when an entry changed. Errors as for map; on error
 * nothing changed. Context: caller serialises calls on pt.
 */
int vmmu_pt_protect(struct vmmu_pt *pt, uint64_t in, uint64_t size,
		    const struct vmmu_prot *prot);

/**
 * Translate one input address. Returns 0 and fills the optional outputs,
 * -VMMU_ENOENT (not mapped) or -VMMU_ERANGE (not a valid input address).
 * *level is the leaf's level. Context: any.
 */
int vmmu_pt_lookup(const struct vmmu_pt *pt, uint64_t in, uint64_t *out,
		   struct vmmu_prot *prot, unsigned *level);

/**
 * Pointer to the raw entry for in at level (tables down to that level must
 * exist: -VMMU_ENOENT otherwise; a leaf above it gives -VMMU_EEXIST).
 * For tests and tools that need bit-exact entries; a caller that writes
 * through it owns the consequences. The pointer stays valid while the
 * table exists, so platforms with a frame_unmap hook get -VMMU_ENOTSUP.
 */
int vmmu_pt_entry(struct vmmu_pt *pt, uint64_t in, unsigned level,
		  vmmu_pte_t **slot);

#ifdef __cplusplus
}
#endif

#endif /* VMMU_PT_H */
