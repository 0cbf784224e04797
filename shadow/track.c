/* SPDX-License-Identifier: MIT */
/*
 * Write tracking: a guest frame is tracked while a (non-direct) shadow
 * page shadows it. Every guest store to a tracked frame is emulated
 * through vmmu_shadow_write, which applies it to guest memory and drops
 * the shadow entries derived from the guest entry it touched, in every
 * role. Shadow leaves mapping a tracked frame are installed read-only, so
 * such stores fault and come here (VMMU_SHADOW_EMULATE).
 */
#include "internal.h"

/* Store size bytes of value at the host pointer p (naturally aligned). */
static void store_sized(void *p, uint64_t value, unsigned size)
{
	switch (size) {
	case 1:
		__atomic_store_n((uint8_t *)p, (uint8_t)value, __ATOMIC_RELEASE);
		break;
	case 2:
		__atomic_store_n((uint16_t *)p, (uint16_t)value, __ATOMIC_RELEASE);
		break;
	case 4:
		__atomic_store_n((uint32_t *)p, (uint32_t)value, __ATOMIC_RELEASE);
		break;
	default:
		__atomic_store_n((uint64_t *)p, value, __ATOMIC_RELEASE);
		break;
	}
}

static int guest_store(const struct vmmu_platform *gp, uint64_t gpa,
		       uint64_t value, unsigned size)
{
	vmmu_pte_t *t = vmmu_map_table(gp, gpa & VMMU_PAGE_MASK);

	if (t == NULL) {
		return -VMMU_EFAULT;
	}
	store_sized((uint8_t *)t + (gpa & ~VMMU_PAGE_MASK), value, size);
	vmmu_unmap_table(gp, t);
	return 0;
}

/* Clear slot idx of one shadow table; true when it was present. */
static bool drop_entry(struct vmmu_shadow *sh, const struct vmmu_shadow_page *p,
		       unsigned idx)
{
	unsigned level = sh_role_level(p->role);
	vmmu_pte_t *t = vmmu_map_table(sh->plat, p->hpa);

	VMMU_CHECK(sh->plat, t != NULL);
	vmmu_pte_t old = vmmu_pte_load(&t[idx]);
	vmmu_pte_store(&t[idx], 0);
	vmmu_unmap_table(sh->plat, t);
	return vmmu_pte_present(sh->fmt, level, old);
}

/* Drop entry idx in every shadow of guest frame gfn; true if any was present. */
static bool zap_gfn_entry(struct vmmu_shadow *sh, uint64_t gfn, unsigned idx)
{
	bool dropped = false;

	for (uint32_t i = sh->hash[sh_bucket(gfn)]; i != 0;
	     i = sh->pages[i - 1].next) {
		const struct vmmu_shadow_page *p = &sh->pages[i - 1];
		if (p->gfn == gfn && !(p->role & VMMU_SHADOW_ROLE_DIRECT)) {
			dropped |= drop_entry(sh, p, idx);
		}
	}
	return dropped;
}

int vmmu_shadow_write(struct vmmu_shadow_vcpu *v, uint64_t gpa,
		      uint64_t value, unsigned size)
{
	if (v == NULL || (size != 1 && size != 2 && size != 4 && size != 8)) {
		return -VMMU_EINVAL;
	}
	if ((gpa & (size - 1)) != 0) {
		return -VMMU_EALIGN;
	}
	int rc = guest_store(v->walker.plat, gpa, value, size);
	if (rc != 0) {
		return rc;
	}
	struct vmmu_shadow *sh = v->sh;
	unsigned idx = (unsigned)((gpa & ~VMMU_PAGE_MASK) / sizeof(vmmu_pte_t));
	if (zap_gfn_entry(sh, gpa >> VMMU_PAGE_SHIFT, idx)) {
		sh->stat_write_zaps++;
		sh_flush_all(sh, VMMU_TLB_ALL);
	}
	return 0;
}

/* Slot of the shadow leaf for gva under root, or NULL (path absent). */
static bool drop_leaf(struct vmmu_shadow *sh, uint64_t root, uint64_t gva)
{
	const struct vmmu_fmt *fmt = sh->fmt;
	uint64_t table = root;

	for (unsigned l = fmt->levels; l > 1; l--) {
		vmmu_pte_t e;
		uint64_t slot = table + vmmu_fmt_index(fmt, l, gva) * sizeof(e);
		if (!vmmu_pte_read_at(sh->plat, slot, &e) ||
		    !vmmu_pte_present(fmt, l, e)) {
			return false;
		}
		table = e & fmt->level[l].addr_table;
	}
	vmmu_pte_t *t = vmmu_map_table(sh->plat, table);
	VMMU_CHECK(sh->plat, t != NULL);
	vmmu_pte_t *slot = &t[vmmu_fmt_index(fmt, 1, gva)];
	bool was = vmmu_pte_present(fmt, 1, vmmu_pte_load(slot));
	vmmu_pte_store(slot, 0);
	vmmu_unmap_table(sh->plat, t);
	return was;
}

int vmmu_shadow_invlpg(struct vmmu_shadow_vcpu *v, uint64_t gva)
{
	if (v == NULL) {
		return -VMMU_EINVAL;
	}
	if (!vmmu_fmt_addr_ok(v->sh->fmt, gva) || v->root_hpa == 0 ||
	    v->gen != v->sh->gen) {
		return 0;
	}
	drop_leaf(v->sh, v->root_hpa, gva);
	/* The guest asked for this flush whatever the shadow held. */
	v->sh->stat_flushes++;
	vmmu_tlb_flush_range(v->sh->plat, gva & VMMU_PAGE_MASK, VMMU_PAGE_SIZE);
	return 0;
}

/* Clear W in every writable leaf of one level-1 shadow table mapping hpa. */
static bool protect_in_table(struct vmmu_shadow *sh, uint64_t table, uint64_t hpa)
{
	const struct vmmu_fmt_level *lv = &sh->fmt->level[1];
	vmmu_pte_t *t = vmmu_map_table(sh->plat, table);
	bool changed = false;

	VMMU_CHECK(sh->plat, t != NULL);
	for (unsigned k = 0; k < VMMU_PT_ENTRIES; k++) {
		vmmu_pte_t e = vmmu_pte_load(&t[k]);
		if ((e & lv->present) && (e & lv->write) &&
		    (e & lv->addr_leaf) == hpa) {
			vmmu_pte_store(&t[k], e & ~lv->write);
			changed = true;
		}
	}
	vmmu_unmap_table(sh->plat, t);
	return changed;
}

/*
 * Guest frame gfn just became tracked: no shadow leaf may stay writable
 * on it. Without a reverse map (docs/shadow.md) this scans every level-1
 * shadow table once per newly tracked frame.
 */
void sh_write_protect(struct vmmu_shadow *sh, uint64_t gfn)
{
	uint64_t hfn = 0;
	bool changed = false;

	if (sh->ops->p2m(sh->ops_ctx, gfn, &hfn) != VMMU_P2M_RAM) {
		return;
	}
	for (uint32_t i = 0; i < sh->max_pages; i++) {
		const struct vmmu_shadow_page *p = &sh->pages[i];
		if (p->hpa != 0 && sh_role_level(p->role) == 1) {
			changed |= protect_in_table(sh, p->hpa,
						    hfn << VMMU_PAGE_SHIFT);
		}
	}
	if (changed) {
		sh_flush_all(sh, VMMU_TLB_ALL);
	}
}
