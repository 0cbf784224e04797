/* SPDX-License-Identifier: MIT */
/*
 * Private declarations of the shadow/ sources: the page cache (cache.c),
 * the fault path (fault.c) and write tracking (track.c) share these.
 * Context for everything here: the instance lock is held by the caller.
 */
#ifndef VMMU_SHADOW_INTERNAL_H
#define VMMU_SHADOW_INTERNAL_H

#include <vmmu/shadow.h>

#include "../mmu/internal.h"

#define SH_ACC_ALL (VMMU_SHADOW_ROLE_ACC_W | VMMU_SHADOW_ROLE_ACC_U | \
		    VMMU_SHADOW_ROLE_ACC_X)

/* Role bits that come from the CPU mode (same for a whole shadow tree). */
#define SH_MODE_MASK (VMMU_SHADOW_ROLE_WP | VMMU_SHADOW_ROLE_SMEP_NOWP | \
		      VMMU_SHADOW_ROLE_SMAP_NOWP | VMMU_SHADOW_ROLE_NXE |   \
		      VMMU_SHADOW_ROLE_LA57)

static inline unsigned sh_role_level(uint32_t role)
{
	return role & VMMU_SHADOW_ROLE_LEVEL_MASK;
}

/* Hash bucket of a guest frame: every role of one gfn shares a chain, so
 * vmmu_shadow_tracked and write zaps scan one chain. */
static inline uint32_t sh_bucket(uint64_t gfn)
{
	uint64_t h = gfn * 0x9e3779b97f4a7c15ull;

	return (uint32_t)(h >> 56) & (VMMU_SHADOW_HASH - 1);
}

/* Descriptor index (0-based) of the page for (gfn, role), or -1. */
__attribute__((visibility("hidden"))) int32_t
sh_find(const struct vmmu_shadow *sh, uint64_t gfn, uint32_t role);

/*
 * Create the page for (gfn, role) on the frame `frame` (already taken from
 * the platform; it is zeroed here). A free descriptor must exist.
 * Returns the table's host-physical address.
 */
__attribute__((visibility("hidden"))) uint64_t
sh_create(struct vmmu_shadow *sh, uint64_t gfn, uint32_t role, uint64_t frame);

/* Guest frame gfn became tracked: write-protect its shadow leaves (track.c). */
__attribute__((visibility("hidden"))) void sh_write_protect(struct vmmu_shadow *sh,
							     uint64_t gfn);

/* Request one TLB flush of the given scope (whole address space). */
__attribute__((visibility("hidden"))) void sh_flush_all(struct vmmu_shadow *sh,
							 uint32_t scope);

#endif /* VMMU_SHADOW_INTERNAL_H */
