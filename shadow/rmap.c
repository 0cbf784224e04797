/* SPDX-License-Identifier: MIT */
/*
 * The reverse map and the only writers of shadow entries.
 *
 * - Leaf slots are chained by the host frame they map (a 2M leaf by its
 *   first frame): one bucket head per hash of the frame in the instance,
 *   and per level-1 and level-2 shadow page one "aux" frame of links
 *   (next[512], prev[512], each a slot link: (descriptor << 9 | slot) + 1).
 *   Write-protecting a guest frame walks two chains (its own, and its 2M
 *   region's) instead of every leaf table.
 * - Upper slots keep each child's parent count and up to
 *   VMMU_SHADOW_KNOWN_PARENTS known parents; a child with more parents
 *   than it knows falls back to a scan of the
 *   level above (a guest table linked from several places, rare).
 *
 * Every shadow entry is written through sh_leaf_set or sh_upper_set so the
 * two maps never go stale. One store may bypass them: taking W from a
 * present leaf (sh_write_protect_hfn here, a batch's write-protect in
 * track.c) keeps its frame and presence, which is all the maps record.
 */
#include "internal.h"

uint32_t sh_rl_get(const struct vmmu_shadow *sh, uint32_t link, unsigned field)
{
	const struct vmmu_shadow_page *p = &sh->pages[SH_LINK_IDX(link)];
	uint32_t *w = (uint32_t *)vmmu_map_table(sh->plat, p->aux);
	uint32_t v = w[field + SH_LINK_SLOT(link)];

	vmmu_unmap_table(sh->plat, (vmmu_pte_t *)w);
	return v;
}

static void rl_set(struct vmmu_shadow *sh, uint32_t link, unsigned field,
		   uint32_t v)
{
	const struct vmmu_shadow_page *p = &sh->pages[SH_LINK_IDX(link)];
	uint32_t *w = (uint32_t *)vmmu_map_table(sh->plat, p->aux);

	w[field + SH_LINK_SLOT(link)] = v;
	vmmu_unmap_table(sh->plat, (vmmu_pte_t *)w);
}

static uint32_t *rmap_head(struct vmmu_shadow *sh, uint64_t hfn)
{
	return &sh->rmap[sh_mix(hfn, VMMU_SHADOW_RMAP_HASH)];
}

static void rmap_add(struct vmmu_shadow *sh, uint32_t link, uint64_t hfn)
{
	uint32_t *head = rmap_head(sh, hfn);

	rl_set(sh, link, SH_RL_NEXT, *head);
	rl_set(sh, link, SH_RL_PREV, 0);
	if (*head != 0) {
		rl_set(sh, *head, SH_RL_PREV, link);
	}
	*head = link;
}

static void rmap_del(struct vmmu_shadow *sh, uint32_t link, uint64_t hfn)
{
	uint32_t next = sh_rl_get(sh, link, SH_RL_NEXT);
	uint32_t prev = sh_rl_get(sh, link, SH_RL_PREV);

	if (prev != 0) {
		rl_set(sh, prev, SH_RL_NEXT, next);
	} else {
		*rmap_head(sh, hfn) = next;
	}
	if (next != 0) {
		rl_set(sh, next, SH_RL_PREV, prev);
	}
}

vmmu_pte_t sh_slot_read(const struct vmmu_shadow *sh, uint32_t idx, unsigned slot)
{
	vmmu_pte_t *t = vmmu_map_table(sh->plat, sh->pages[idx].hpa);
	vmmu_pte_t e = vmmu_pte_load(&t[slot]);

	vmmu_unmap_table(sh->plat, t);
	return e;
}

/* The caller read the slot already (under the lock; the hardware never
 * writes a shadow entry: A and D are preset in every one). */
static void slot_store(struct vmmu_shadow *sh, uint32_t idx, unsigned slot,
		       vmmu_pte_t e)
{
	vmmu_pte_t *t = vmmu_map_table(sh->plat, sh->pages[idx].hpa);

	VMMU_CHECK(sh->plat, t != NULL);
	vmmu_pte_store(&t[slot], e);
	vmmu_unmap_table(sh->plat, t);
}

/* Write leaf slot `slot` of level-1 page idx; returns the old entry. */
vmmu_pte_t sh_leaf_set(struct vmmu_shadow *sh, uint32_t idx, unsigned slot,
		       vmmu_pte_t e)
{
	const struct vmmu_fmt_level *lv = &sh->fmt->level[1];
	vmmu_pte_t old = sh_slot_read(sh, idx, slot);

	if (old == e) {
		return old;
	}
	slot_store(sh, idx, slot, e);
	uint64_t ohfn = (old & lv->addr_leaf) >> VMMU_PAGE_SHIFT;
	uint64_t nhfn = (e & lv->addr_leaf) >> VMMU_PAGE_SHIFT;
	bool was = (old & lv->present) != 0, is = (e & lv->present) != 0;

	if (was && is && ohfn == nhfn) {
		return old;
	}
	if (was) {
		rmap_del(sh, SH_LINK(idx, slot), ohfn);
	}
	if (is) {
		rmap_add(sh, SH_LINK(idx, slot), nhfn);
	}
	return old;
}

/* Parent bookkeeping of the child an upper entry points to. */
static void child_ref(struct vmmu_shadow *sh, const struct vmmu_fmt_level *lv,
		      vmmu_pte_t e, uint32_t idx, unsigned slot, int delta)
{
	int32_t c = sh_find_hpa(sh, e & lv->addr_table);

	VMMU_CHECK(sh->plat, c >= 0);
	struct vmmu_shadow_page *ch = &sh->pages[c];
	if (delta > 0) {
		ch->parents++;
		for (unsigned j = 0; j < VMMU_SHADOW_KNOWN_PARENTS; j++) {
			if (ch->parent[j] == 0) {
				ch->parent[j] = idx + 1;
				ch->parent_slot[j] = (uint16_t)slot;
				break;
			}
		}
		return;
	}
	ch->parents--;
	for (unsigned j = 0; j < VMMU_SHADOW_KNOWN_PARENTS; j++) {
		if (ch->parent[j] == idx + 1 && ch->parent_slot[j] == slot) {
			ch->parent[j] = 0;
			break;
		}
	}
}

/* Write upper slot `slot` of page idx (level > 1); returns the old entry. */
vmmu_pte_t sh_upper_set(struct vmmu_shadow *sh, uint32_t idx, unsigned slot,
			vmmu_pte_t e)
{
	const struct vmmu_fmt_level *lv =
		&sh->fmt->level[sh_role_level(sh->pages[idx].role)];
	vmmu_pte_t old = sh_slot_read(sh, idx, slot);

	if (old == e) {
		return old; /* relinking an existing path: nothing to do */
	}
	slot_store(sh, idx, slot, e);
	sh->epoch++; /* a link changed: cached fill paths are stale */
	if ((old & lv->present) && (old & lv->ps)) {
		rmap_del(sh, SH_LINK(idx, slot), (old & lv->addr_leaf) >> VMMU_PAGE_SHIFT);
	} else if (old & lv->present) {
		child_ref(sh, lv, old, idx, slot, -1);
	}
	if ((e & lv->present) && (e & lv->ps)) {
		rmap_add(sh, SH_LINK(idx, slot), (e & lv->addr_leaf) >> VMMU_PAGE_SHIFT);
	} else if (e & lv->present) {
		child_ref(sh, lv, e, idx, slot, +1);
	}
	return old;
}

/* Clear one slot of page idx; true when it was present. */
bool sh_slot_drop(struct vmmu_shadow *sh, uint32_t idx, unsigned slot)
{
	unsigned level = sh_role_level(sh->pages[idx].role);
	vmmu_pte_t old = level == 1 ? sh_leaf_set(sh, idx, slot, 0)
				    : sh_upper_set(sh, idx, slot, 0);

	return (old & sh->fmt->level[level].present) != 0;
}

/* Bit k of out[k / 64]: slot k of page idx matches (e & mask) == want
 * (one mapping for the whole table). */
static void match_slots(const struct vmmu_shadow *sh, uint32_t idx,
			uint64_t mask, uint64_t want, uint64_t out[8])
{
	vmmu_pte_t *t = vmmu_map_table(sh->plat, sh->pages[idx].hpa);

	VMMU_CHECK(sh->plat, t != NULL);
	for (unsigned k = 0; k < VMMU_PT_ENTRIES; k++) {
		uint64_t hit = (vmmu_pte_load(&t[k]) & mask) == want;
		out[k / 64] = (k % 64 == 0 ? 0 : out[k / 64]) | hit << (k % 64);
	}
	vmmu_unmap_table(sh->plat, t);
}

/* Apply sh_upper_set(idx, k, 0) or sh_leaf_set(idx, k, 0) to the slots set. */
static void drop_slots(struct vmmu_shadow *sh, uint32_t idx, const uint64_t m[8])
{
	for (unsigned w = 0; w < VMMU_PT_ENTRIES / 64; w++) {
		for (uint64_t bits = m[w]; bits != 0; bits &= bits - 1) {
			sh_slot_drop(sh, idx, w * 64 + (unsigned)__builtin_ctzll(bits));
		}
	}
}

/* Drop every entry of page idx (it is being zapped). */
void sh_page_clear(struct vmmu_shadow *sh, uint32_t idx)
{
	uint64_t present = sh->fmt->level[sh_role_level(sh->pages[idx].role)].present;
	uint64_t m[8];

	/* (e & present) == present: the present bit is a single bit */
	match_slots(sh, idx, present, present, m);
	drop_slots(sh, idx, m);
}

/* Clear, in every live page of `level`, the entries pointing to hpa. */
static void scan_parents(struct vmmu_shadow *sh, unsigned level, uint64_t hpa)
{
	const struct vmmu_fmt_level *lv = &sh->fmt->level[level];
	uint64_t m[8];

	for (uint32_t i = 0; i < sh->max_pages; i++) {
		const struct vmmu_shadow_page *p = &sh->pages[i];
		if (p->hpa == 0 || (p->flags & SH_PF_ZAPPED) ||
		    sh_role_level(p->role) != level) {
			continue;
		}
		/* table entries only: a large leaf is nobody's parent */
		match_slots(sh, i, lv->present | lv->ps | lv->addr_table,
			    lv->present | hpa, m);
		drop_slots(sh, i, m);
	}
}

/* Unlink page idx from every upper entry that points to it. */
void sh_unlink_parents(struct vmmu_shadow *sh, uint32_t idx)
{
	struct vmmu_shadow_page *p = &sh->pages[idx];

	unsigned known = 0;

	for (unsigned j = 0; j < VMMU_SHADOW_KNOWN_PARENTS; j++) {
		known += p->parent[j] != 0;
	}
	if (known == p->parents) {
		for (unsigned j = 0; j < VMMU_SHADOW_KNOWN_PARENTS; j++) {
			if (p->parent[j] != 0) {
				sh_upper_set(sh, p->parent[j] - 1, p->parent_slot[j], 0);
			}
		}
	} else {
		scan_parents(sh, sh_role_level(p->role) + 1, p->hpa);
	}
	VMMU_CHECK(sh->plat, p->parents == 0);
}

/* The 2M shadow leaf mapping the region that starts at host frame base, or 0. */
static uint32_t large_leaf_link(const struct vmmu_shadow *sh, uint64_t base)
{
	const struct vmmu_fmt_level *lv = &sh->fmt->level[2];

	for (uint32_t l = sh->rmap[sh_mix(base, VMMU_SHADOW_RMAP_HASH)]; l != 0;
	     l = sh_rl_get(sh, l, SH_RL_NEXT)) {
		uint32_t idx = SH_LINK_IDX(l);
		vmmu_pte_t e = sh_slot_read(sh, idx, SH_LINK_SLOT(l));
		if (sh_role_level(sh->pages[idx].role) == 2 &&
		    (e & lv->addr_leaf) >> VMMU_PAGE_SHIFT == base) {
			return l;
		}
	}
	return 0;
}

/*
 * Clear W in every 4K shadow leaf that maps host frame hfn, and drop the
 * 2M leaves whose region holds it (a 2M leaf cannot be read-only for one
 * of its frames: the next fault splits it). True if anything changed.
 */
bool sh_write_protect_hfn(struct vmmu_shadow *sh, uint64_t hfn)
{
	const struct vmmu_fmt_level *lv = &sh->fmt->level[1];
	bool changed = false;
	uint32_t big;

	while ((big = large_leaf_link(sh, hfn & ~(uint64_t)(VMMU_PT_ENTRIES - 1))) != 0) {
		sh_upper_set(sh, SH_LINK_IDX(big), SH_LINK_SLOT(big), 0);
		changed = true;
	}
	for (uint32_t l = *rmap_head(sh, hfn); l != 0; l = sh_rl_get(sh, l, SH_RL_NEXT)) {
		uint32_t idx = SH_LINK_IDX(l);
		unsigned slot = SH_LINK_SLOT(l);
		vmmu_pte_t e = sh_slot_read(sh, idx, slot);
		if (sh_role_level(sh->pages[idx].role) == 1 && (e & lv->write) &&
		    (e & lv->addr_leaf) >> VMMU_PAGE_SHIFT == hfn) {
			slot_store(sh, idx, slot, e & ~lv->write);
			changed = true;
		}
	}
	return changed;
}

/* Guest frame gfn is (again) a tracked page table: no writable leaf on it. */
bool sh_write_protect(struct vmmu_shadow *sh, uint64_t gfn)
{
	uint64_t hfn = 0;

	if (sh->ops->p2m(sh->ops_ctx, gfn, &hfn) != VMMU_P2M_RAM) {
		return false;
	}
	return sh_write_protect_hfn(sh, hfn);
}
