/* SPDX-License-Identifier: MIT */
/*
 * vmmu_shadow_audit: recount the cache's bookkeeping from the shadow
 * tables themselves and compare. Slow (reads every live table); for tests
 * and debugging.
 */
#include "internal.h"

static bool live(const struct vmmu_shadow_page *p)
{
	return p->hpa != 0 && !(p->flags & SH_PF_ZAPPED);
}

/* Hashes and the live count. */
static uint32_t audit_pages(const struct vmmu_shadow *sh)
{
	uint32_t bad = 0, n = 0;

	for (uint32_t i = 0; i < sh->max_pages; i++) {
		const struct vmmu_shadow_page *p = &sh->pages[i];
		if (!live(p)) {
			continue;
		}
		n++;
		bad += sh_find(sh, p->gfn, p->role) != (int32_t)i;
		bad += sh_find_hpa(sh, p->hpa) != (int32_t)i;
		bad += sh_role_level(p->role) <= 2 && p->aux == 0;
	}
	return bad + (n != sh->used_pages);
}

/* Count, into refs[], the upper entries pointing at each page. */
static uint32_t count_refs(const struct vmmu_shadow *sh, uint32_t *refs)
{
	uint32_t bad = 0;

	for (uint32_t i = 0; i < sh->max_pages; i++) {
		unsigned l = sh_role_level(sh->pages[i].role);
		if (!live(&sh->pages[i]) || l == 1) {
			continue;
		}
		const struct vmmu_fmt_level *lv = &sh->fmt->level[l];
		for (unsigned k = 0; k < VMMU_PT_ENTRIES; k++) {
			vmmu_pte_t e = sh_slot_read(sh, i, k);
			if (!(e & lv->present) || (e & lv->ps)) {
				continue; /* a 2M leaf: in the reverse map instead */
			}
			int32_t c = sh_find_hpa(sh, e & lv->addr_table);
			if (c < 0 || sh_role_level(sh->pages[c].role) != l - 1) {
				bad++;
			} else {
				refs[c]++;
			}
		}
	}
	return bad;
}

/* Parent counts, and the known parents really point here. */
static uint32_t audit_parents(const struct vmmu_shadow *sh, uint32_t *refs)
{
	uint32_t bad = count_refs(sh, refs);

	for (uint32_t i = 0; i < sh->max_pages; i++) {
		const struct vmmu_shadow_page *p = &sh->pages[i];
		if (!live(p)) {
			continue;
		}
		bad += p->parents != refs[i];
		for (unsigned j = 0; j < VMMU_SHADOW_KNOWN_PARENTS; j++) {
			uint32_t q = p->parent[j];
			if (q == 0) {
				continue;
			}
			unsigned pl = sh_role_level(sh->pages[q - 1].role);
			vmmu_pte_t e = sh_slot_read(sh, q - 1, p->parent_slot[j]);
			bad += (e & sh->fmt->level[pl].addr_table) != p->hpa;
		}
	}
	return bad;
}

/* Every reverse-map link names a present leaf of its bucket, linked both
 * ways; returns problems, and the number of links in *links. */
static uint32_t audit_rmap(const struct vmmu_shadow *sh, uint64_t *links)
{
	uint32_t bad = 0;

	for (uint32_t b = 0; b < VMMU_SHADOW_RMAP_HASH; b++) {
		uint32_t prev = 0;
		for (uint32_t l = sh->rmap[b]; l != 0; l = sh_rl_get(sh, l, SH_RL_NEXT)) {
			uint32_t i = SH_LINK_IDX(l);
			bool ok = i < sh->max_pages && live(&sh->pages[i]) &&
				  sh_role_level(sh->pages[i].role) <= 2;
			const struct vmmu_fmt_level *lv =
				&sh->fmt->level[ok ? sh_role_level(sh->pages[i].role) : 1];
			vmmu_pte_t e = ok ? sh_slot_read(sh, i, SH_LINK_SLOT(l)) : 0;
			uint64_t hfn = (e & lv->addr_leaf) >> VMMU_PAGE_SHIFT;
			if (!(e & lv->present) || (lv->ps != 0 && !(e & lv->ps)) ||
			    sh_mix(hfn, VMMU_SHADOW_RMAP_HASH) != b ||
			    sh_rl_get(sh, l, SH_RL_PREV) != prev || ++*links > (1ull << 32)) {
				return bad + 1; /* a broken chain cannot be walked on */
			}
			prev = l;
		}
	}
	return bad;
}

/* Present leaves (4K and 2M), to compare with the reverse map's links. */
static uint64_t count_leaves(const struct vmmu_shadow *sh)
{
	uint64_t n = 0;

	for (uint32_t i = 0; i < sh->max_pages; i++) {
		unsigned l = sh_role_level(sh->pages[i].role);
		if (!live(&sh->pages[i]) || l > 2) {
			continue;
		}
		const struct vmmu_fmt_level *lv = &sh->fmt->level[l];
		for (unsigned k = 0; k < VMMU_PT_ENTRIES; k++) {
			vmmu_pte_t e = sh_slot_read(sh, i, k);
			n += (e & lv->present) && (l == 1 || (e & lv->ps));
		}
	}
	return n;
}

/* Out-of-sync records name shadowed leaf-only frames, once each. */
static uint32_t audit_oos(const struct vmmu_shadow *sh)
{
	uint32_t bad = sh->n_oos > VMMU_SHADOW_OOS_MAX;

	for (uint32_t k = 0; k < sh->n_oos && !bad; k++) {
		bad += !sh_tracked(sh, sh->oos[k].gfn) ||
		       sh_oos_find(sh, sh->oos[k].gfn) != (int32_t)k;
		SH_FOR_GFN(sh, sh->oos[k].gfn, i) {
			bad += !sh_is_direct(sh->pages[i].role) &&
			       sh_role_level(sh->pages[i].role) != 1;
		}
	}
	return bad;
}

int vmmu_shadow_audit(const struct vmmu_shadow *sh, uint32_t *scratch)
{
	uint64_t links = 0;

	if (sh == NULL || scratch == NULL) {
		return -VMMU_EINVAL;
	}
	for (uint32_t i = 0; i < sh->max_pages; i++) {
		scratch[i] = 0;
	}
	uint32_t bad = audit_pages(sh) + audit_parents(sh, scratch) + audit_oos(sh);
	bad += audit_rmap(sh, &links);
	bad += links != count_leaves(sh);
	return (int)(bad > 0x7fffffff ? 0x7fffffff : bad);
}
