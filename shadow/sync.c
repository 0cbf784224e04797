/* SPDX-License-Identifier: MIT */
/*
 * Out-of-sync leaf tables, vCPU roots and frame reserves.
 *
 * Unsync (KVM's unsync pages, Xen's out-of-sync shadows with snapshots):
 * a guest frame shadowed only by level-1 pages may become guest-writable
 * instead of trapping every store. Its snapshot records, per entry, the
 * guest value every present shadow entry of that slot was derived from
 * (the value when it went out of sync, updated by each fill). On a guest
 * TLB flush or CR3 load every out-of-sync frame is resynced: slots whose
 * guest value differs from the snapshot are dropped in every role, and
 * the frame is write-protected again. INVLPG drops the one leaf instead.
 * This is exactly what a TLB may do: until the guest flushes, a stale
 * shadow entry is a translation the TLB could still hold.
 */
#include "internal.h"

int32_t sh_oos_find(const struct vmmu_shadow *sh, uint64_t gfn)
{
	for (uint32_t k = 0; k < sh->n_oos; k++) {
		if (sh->oos[k].gfn == gfn) {
			return (int32_t)k;
		}
	}
	return -1;
}

int sh_take_frame(struct vmmu_shadow_vcpu *v, uint64_t *frame)
{
	const struct vmmu_platform *plat = v->sh->plat;
	vmmu_hpa_t f = {0};

	if (v->n_cache != 0) {
		*frame = v->cache[--v->n_cache];
		return 0;
	}
	if (plat->ops->frame_alloc(plat->ctx, &f) != 0 || f.v == 0) {
		return -VMMU_ENOMEM;
	}
	*frame = f.v;
	return 0;
}

void sh_free_frame(struct vmmu_shadow *sh, uint64_t frame)
{
	sh->plat->ops->frame_free(sh->plat->ctx, vmmu_hpa(frame));
}

int vmmu_shadow_vcpu_topup(struct vmmu_shadow_vcpu *v)
{
	if (v == NULL || v->sh == NULL) {
		return -VMMU_EINVAL;
	}
	const struct vmmu_platform *plat = v->sh->plat;
	while (v->n_cache < VMMU_SHADOW_VCPU_CACHE) {
		vmmu_hpa_t f = {0};
		if (plat->ops->frame_alloc(plat->ctx, &f) != 0 || f.v == 0) {
			return -VMMU_ENOMEM;
		}
		v->cache[v->n_cache++] = f.v;
	}
	return 0;
}

/* Copy one 4 KiB frame from src (platform sp) to dst (platform dp). */
static bool copy_frame(const struct vmmu_platform *dp, uint64_t dst,
		       const struct vmmu_platform *sp, uint64_t src)
{
	vmmu_pte_t *s = vmmu_map_table(sp, src);

	if (s == NULL) {
		return false;
	}
	vmmu_pte_t *d = vmmu_map_table(dp, dst);
	VMMU_CHECK(dp, d != NULL);
	for (unsigned k = 0; k < VMMU_PT_ENTRIES; k++) {
		d[k] = vmmu_pte_load(&s[k]);
	}
	vmmu_unmap_table(dp, d);
	vmmu_unmap_table(sp, s);
	return true;
}

/* May guest frame gfn go out of sync: shadowed, and only as a leaf table? */
static bool leaf_only(const struct vmmu_shadow *sh, uint64_t gfn)
{
	bool any = false;

	SH_FOR_GFN(sh, gfn, i) {
		const struct vmmu_shadow_page *p = &sh->pages[i];
		if (sh_is_direct(p->role)) {
			continue;
		}
		if (sh_role_level(p->role) != 1) {
			return false;
		}
		any = true;
	}
	return any;
}

/*
 * Let tracked guest frame gfn go out of sync (a guest write to it is
 * then allowed straight through). False when it must stay in sync (an
 * upper-level shadow of it exists, or no snapshot frame could be had):
 * the write is emulated instead.
 */
bool sh_try_unsync(struct vmmu_shadow_vcpu *v, uint64_t gfn)
{
	struct vmmu_shadow *sh = v->sh;
	uint64_t snap;

	if (sh_oos_find(sh, gfn) >= 0) {
		return true;
	}
	if (!leaf_only(sh, gfn)) {
		return false;
	}
	if (sh->n_oos == VMMU_SHADOW_OOS_MAX && sh_resync(v, 0)) {
		sh_flush_all(sh, VMMU_TLB_ALL); /* the oldest goes back in sync */
	}
	if (sh_take_frame(v, &snap) != 0) {
		return false;
	}
	if (!copy_frame(sh->plat, snap, v->walker.plat, gfn << VMMU_PAGE_SHIFT)) {
		sh_free_frame(sh, snap);
		return false;
	}
	sh->oos[sh->n_oos++] = (struct vmmu_shadow_oos){.gfn = gfn, .snap = snap};
	sh->stat_unsync++;
	return true;
}

/* Drop slot in every (non-direct) shadow of gfn; true if one was present. */
bool sh_drop_slot_all(struct vmmu_shadow *sh, uint64_t gfn,
				unsigned slot)
{
	bool dropped = false;

	SH_FOR_GFN(sh, gfn, i) {
		if (!sh_is_direct(sh->pages[i].role)) {
			dropped |= sh_slot_drop(sh, i, slot);
		}
	}
	return dropped;
}

/* Remove record k, keeping the others oldest first. */
static void oos_remove(struct vmmu_shadow *sh, uint32_t k)
{
	sh_free_frame(sh, sh->oos[k].snap);
	for (uint32_t j = k + 1; j < sh->n_oos; j++) {
		sh->oos[j - 1] = sh->oos[j];
	}
	sh->n_oos--;
}

/* The frame stopped being shadowed: forget its record (no resync needed). */
void sh_oos_forget(struct vmmu_shadow *sh, uint64_t gfn)
{
	int32_t k = sh_oos_find(sh, gfn);

	if (k >= 0) {
		oos_remove(sh, (uint32_t)k);
	}
}

/*
 * A fill derived a shadow entry of out-of-sync gfn from guest value e at
 * slot: entries of that slot derived from an older value go first, so
 * the snapshot stays the one value all of them come from.
 */
void sh_oos_fill(struct vmmu_shadow *sh, uint64_t gfn, unsigned slot,
		 vmmu_pte_t e)
{
	int32_t k = sh_oos_find(sh, gfn);

	if (k < 0) {
		return;
	}
	vmmu_pte_t *s = vmmu_map_table(sh->plat, sh->oos[k].snap);
	if (s[slot] != e) {
		sh_drop_slot_all(sh, gfn, slot);
		s[slot] = e;
	}
	vmmu_unmap_table(sh->plat, s);
}

/*
 * Bring record k back in sync: drop the slots whose guest value changed
 * since its snapshot, write-protect the frame again. Returns true when a
 * flush is needed (an entry dropped or a writable leaf protected).
 */
bool sh_resync(struct vmmu_shadow_vcpu *v, uint32_t k)
{
	struct vmmu_shadow *sh = v->sh;
	uint64_t gfn = sh->oos[k].gfn;
	vmmu_pte_t *g = vmmu_map_table(v->walker.plat, gfn << VMMU_PAGE_SHIFT);
	vmmu_pte_t *s = vmmu_map_table(sh->plat, sh->oos[k].snap);
	bool changed = false;

	VMMU_CHECK(sh->plat, g != NULL && s != NULL);
	for (unsigned i = 0; i < VMMU_PT_ENTRIES; i++) {
		if (vmmu_pte_load(&g[i]) != s[i]) {
			changed |= sh_drop_slot_all(sh, gfn, i);
		}
	}
	vmmu_unmap_table(sh->plat, s);
	vmmu_unmap_table(v->walker.plat, g);
	oos_remove(sh, k);
	sh->stat_resync++;
	return sh_write_protect(sh, gfn) || changed;
}

/* Guest TLB flush: every out-of-sync frame back in sync. True when the
 * caller must request a flush (one for all of them). */
bool sh_resync_all(struct vmmu_shadow_vcpu *v)
{
	bool changed = false;

	while (v->sh->n_oos != 0) {
		changed |= sh_resync(v, v->sh->n_oos - 1);
	}
	return changed;
}

static bool ref_valid(const struct vmmu_shadow_vcpu *v,
		      const struct vmmu_shadow_root_ref *r)
{
	const struct vmmu_shadow_page *p;

	if (r->idx == 0 || v->gen != v->sh->gen) {
		return false;
	}
	p = &v->sh->pages[r->idx - 1];
	return p->hpa != 0 && !(p->flags & SH_PF_ZAPPED) && p->gfn == r->gfn &&
	       p->role == r->role;
}

static void ref_put(struct vmmu_shadow_vcpu *v, struct vmmu_shadow_root_ref *r)
{
	if (ref_valid(v, r)) {
		v->sh->pages[r->idx - 1].roots--;
	}
	*r = (struct vmmu_shadow_root_ref){0};
}

/* Make (gfn, role) at descriptor idx the current root; the old one is cached. */
void sh_set_root(struct vmmu_shadow_vcpu *v, uint64_t gfn, uint32_t role,
		 uint32_t idx)
{
	if (v->gen == v->sh->gen && v->cur.idx == idx + 1 && v->root_hpa != 0) {
		return; /* the fault path: same root as before */
	}
	if (v->gen != v->sh->gen) {
		sh_drop_roots(v);
		v->gen = v->sh->gen;
	}
	if (!(v->cur.idx == idx + 1 && ref_valid(v, &v->cur))) {
		ref_put(v, &v->prev[VMMU_SHADOW_PREV_ROOTS - 1]);
		for (unsigned i = VMMU_SHADOW_PREV_ROOTS - 1; i > 0; i--) {
			v->prev[i] = v->prev[i - 1];
		}
		v->prev[0] = v->cur;
		v->cur = (struct vmmu_shadow_root_ref){.gfn = gfn, .role = role,
						       .idx = idx + 1};
		v->sh->pages[idx].roots++;
	}
	v->root_hpa = v->sh->pages[idx].hpa;
}

/* Switch to a cached root for (gfn, role) if there is one: O(1). */
bool sh_root_from_cache(struct vmmu_shadow_vcpu *v, uint64_t gfn, uint32_t role)
{
	struct vmmu_shadow_root_ref *hit = NULL;

	if (ref_valid(v, &v->cur) && v->cur.gfn == gfn && v->cur.role == role) {
		hit = &v->cur;
	}
	for (unsigned i = 0; hit == NULL && i < VMMU_SHADOW_PREV_ROOTS; i++) {
		if (ref_valid(v, &v->prev[i]) && v->prev[i].gfn == gfn &&
		    v->prev[i].role == role) {
			hit = &v->prev[i];
		}
	}
	if (hit == NULL) {
		return false;
	}
	if (hit != &v->cur) {
		struct vmmu_shadow_root_ref t = *hit; /* swap: cur is cached now */
		*hit = v->cur;
		v->cur = t;
	}
	v->root_hpa = v->sh->pages[v->cur.idx - 1].hpa;
	return true;
}

void sh_drop_roots(struct vmmu_shadow_vcpu *v)
{
	ref_put(v, &v->cur);
	for (unsigned i = 0; i < VMMU_SHADOW_PREV_ROOTS; i++) {
		ref_put(v, &v->prev[i]);
	}
	v->root_hpa = 0;
}

void vmmu_shadow_vcpu_destroy(struct vmmu_shadow_vcpu *v)
{
	if (v == NULL || v->sh == NULL) {
		return;
	}
	sh_drop_roots(v);
	while (v->n_cache != 0) {
		sh_free_frame(v->sh, v->cache[--v->n_cache]);
	}
}

bool vmmu_shadow_out_of_sync(const struct vmmu_shadow *sh, uint64_t gfn)
{
	return sh != NULL && sh_oos_find(sh, gfn) >= 0;
}
