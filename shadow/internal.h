/* SPDX-License-Identifier: MIT */
/*
 * Private declarations of the shadow/ sources: the page cache (cache.c),
 * the reverse map and slot setters (rmap.c), out-of-sync tables, roots and
 * frame reserves (sync.c), the fault path (fault.c) and write tracking
 * (track.c). Context for everything here: the instance lock is held.
 *
 * Descriptor indices are 0-based in function arguments and index + 1 in
 * every stored link (0 = none), so zeroed storage is an empty structure.
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

/* vmmu_shadow_page::flags */
#define SH_PF_ZAPPED 1u /* unlinked, frame freed at the next zap commit */

/* Emulated writes without a fault through the page before it is unshadowed
 * (KVM's write-flooding rule). */
#define SH_FLOOD_LIMIT 3u

/* Neighbouring guest entries looked at by a fill (an aligned group). */
#define SH_PREFETCH 8u

#define SH_HIDDEN __attribute__((visibility("hidden")))

static inline unsigned sh_role_level(uint32_t role)
{
	return role & VMMU_SHADOW_ROLE_LEVEL_MASK;
}

static inline bool sh_is_direct(uint32_t role)
{
	return (role & VMMU_SHADOW_ROLE_DIRECT) != 0;
}

static inline uint32_t sh_mix(uint64_t key, uint32_t buckets)
{
	uint64_t h = key * 0x9e3779b97f4a7c15ull;

	return (uint32_t)(h >> 40) & (buckets - 1);
}

/* Every role of one gfn shares a chain: tracking and zaps scan one chain. */
static inline uint32_t sh_bucket(uint64_t gfn)
{
	return sh_mix(gfn, VMMU_SHADOW_HASH);
}

/* Iterate i over the descriptors of guest frame g (any role). The chain
 * must not change under the loop. */
#define SH_FOR_GFN(s, g, i)                                                \
	for (uint32_t i##_l = (s)->hash[sh_bucket(g)], i = i##_l - 1;      \
	     i##_l != 0; i##_l = (s)->pages[i].next, i = i##_l - 1)        \
		if ((s)->pages[i].gfn == (g))

/* cache.c */
SH_HIDDEN int32_t sh_find(const struct vmmu_shadow *sh, uint64_t gfn, uint32_t role);
SH_HIDDEN int32_t sh_find_hpa(const struct vmmu_shadow *sh, uint64_t hpa);
SH_HIDDEN uint32_t sh_create(struct vmmu_shadow *sh, uint64_t gfn, uint32_t role,
			     uint64_t frame, uint64_t aux);
SH_HIDDEN void sh_zap_page(struct vmmu_shadow *sh, uint32_t idx);
SH_HIDDEN void sh_zap_commit(struct vmmu_shadow *sh);
SH_HIDDEN int sh_reclaim(struct vmmu_shadow *sh, uint32_t need);
SH_HIDDEN void sh_flush_all(struct vmmu_shadow *sh, uint32_t scope);
SH_HIDDEN void sh_flush_range(struct vmmu_shadow *sh, uint64_t va, uint64_t len);
SH_HIDDEN bool sh_tracked(const struct vmmu_shadow *sh, uint64_t gfn);

/* rmap.c: a leaf slot link is (descriptor << 9 | slot) + 1 */
#define SH_LINK(idx, slot) ((((uint32_t)(idx) << 9) | (uint32_t)(slot)) + 1u)
#define SH_LINK_IDX(l) (((l) - 1u) >> 9)
#define SH_LINK_SLOT(l) (((l) - 1u) & (VMMU_PT_ENTRIES - 1u))
enum { SH_RL_NEXT = 0, SH_RL_PREV = VMMU_PT_ENTRIES };
SH_HIDDEN uint32_t sh_rl_get(const struct vmmu_shadow *sh, uint32_t link,
			     unsigned field);
SH_HIDDEN vmmu_pte_t sh_leaf_set(struct vmmu_shadow *sh, uint32_t idx,
				 unsigned slot, vmmu_pte_t e);
SH_HIDDEN vmmu_pte_t sh_upper_set(struct vmmu_shadow *sh, uint32_t idx,
				  unsigned slot, vmmu_pte_t e);
SH_HIDDEN bool sh_slot_drop(struct vmmu_shadow *sh, uint32_t idx, unsigned slot);
SH_HIDDEN void sh_page_clear(struct vmmu_shadow *sh, uint32_t idx);
SH_HIDDEN void sh_unlink_parents(struct vmmu_shadow *sh, uint32_t idx);
SH_HIDDEN bool sh_write_protect_hfn(struct vmmu_shadow *sh, uint64_t hfn);
SH_HIDDEN bool sh_write_protect(struct vmmu_shadow *sh, uint64_t gfn);
SH_HIDDEN vmmu_pte_t sh_slot_read(const struct vmmu_shadow *sh, uint32_t idx,
				  unsigned slot);

/* sync.c */
SH_HIDDEN int32_t sh_oos_find(const struct vmmu_shadow *sh, uint64_t gfn);
SH_HIDDEN bool sh_drop_slot_all(struct vmmu_shadow *sh, uint64_t gfn, unsigned slot);
SH_HIDDEN bool sh_try_unsync(struct vmmu_shadow_vcpu *v, uint64_t gfn);
SH_HIDDEN bool sh_resync(struct vmmu_shadow_vcpu *v, uint32_t k);
SH_HIDDEN bool sh_resync_all(struct vmmu_shadow_vcpu *v);
SH_HIDDEN void sh_oos_forget(struct vmmu_shadow *sh, uint64_t gfn);
SH_HIDDEN void sh_oos_fill(struct vmmu_shadow *sh, uint64_t gfn, unsigned slot,
			 vmmu_pte_t e);
SH_HIDDEN int sh_take_frame(struct vmmu_shadow_vcpu *v, uint64_t *frame);
SH_HIDDEN void sh_free_frame(struct vmmu_shadow *sh, uint64_t frame);
SH_HIDDEN void sh_set_root(struct vmmu_shadow_vcpu *v, uint64_t gfn,
			   uint32_t role, uint32_t idx);
SH_HIDDEN bool sh_root_from_cache(struct vmmu_shadow_vcpu *v, uint64_t gfn,
				  uint32_t role);
SH_HIDDEN void sh_drop_roots(struct vmmu_shadow_vcpu *v);

/* vcpu.c */
SH_HIDDEN uint32_t sh_root_role(const struct vmmu_shadow_vcpu *v);
SH_HIDDEN uint64_t sh_root_gfn(const struct vmmu_shadow_vcpu *v);

/* track.c */
SH_HIDDEN void sh_unshadow(struct vmmu_shadow *sh, uint64_t gfn);

#endif /* VMMU_SHADOW_INTERNAL_H */
