/* SPDX-License-Identifier: MIT */
/*
 * The shadow fault path: walk the guest tables (the foundation walker sets
 * guest A/D), translate the guest frame through the p2m, plan the shadow
 * path from the root down (one (gfn, role) per level), make room and take
 * every frame the plan needs before the first entry is written, then link
 * the path, install the leaf and prefetch its neighbours. Guest large
 * pages are split into "direct" shadow pages of 4K leaves. Upper shadow
 * entries grant everything; the leaf carries the guest's effective
 * rights, read-only while the guest D bit is clear.
 */
#include "internal.h"

/* The path a fault needs: level l's shadow table is (gfn[l], role[l]). */
struct sh_plan {
	uint64_t gfn[VMMU_LEVEL_MAX + 1];
	uint32_t role[VMMU_LEVEL_MAX + 1];
	int32_t idx[VMMU_LEVEL_MAX + 1];    /* descriptor, -1 = to create */
	uint64_t frame[VMMU_LEVEL_MAX + 1]; /* taken for the missing ones */
	uint64_t aux[VMMU_LEVEL_MAX + 1];   /* levels 1, 2: reverse-map links */
	unsigned top, bottom, missing;
};

/* Rights an entry grants, as role access bits. */
static uint32_t entry_acc(const struct vmmu_fmt *fmt, unsigned l, vmmu_pte_t e)
{
	const struct vmmu_fmt_level *lv = &fmt->level[l];

	return ((e & lv->write) ? VMMU_SHADOW_ROLE_ACC_W : 0) |
	       ((e & lv->user) ? VMMU_SHADOW_ROLE_ACC_U : 0) |
	       ((e & lv->nx) ? 0 : VMMU_SHADOW_ROLE_ACC_X);
}

static uint32_t perm_acc(uint32_t perm)
{
	return ((perm & VMMU_PERM_W) ? VMMU_SHADOW_ROLE_ACC_W : 0) |
	       ((perm & VMMU_PERM_U) ? VMMU_SHADOW_ROLE_ACC_U : 0) |
	       ((perm & VMMU_PERM_X) ? VMMU_SHADOW_ROLE_ACC_X : 0);
}

static uint32_t acc_perm(uint32_t acc)
{
	return VMMU_PERM_R |
	       ((acc & VMMU_SHADOW_ROLE_ACC_W) ? VMMU_PERM_W : 0) |
	       ((acc & VMMU_SHADOW_ROLE_ACC_U) ? VMMU_PERM_U : 0) |
	       ((acc & VMMU_SHADOW_ROLE_ACC_X) ? VMMU_PERM_X : 0);
}

/*
 * (gfn, role) of the shadow table at level l-1 below level l on the path
 * of w. Above the guest leaf it shadows the guest table the entry points
 * to, inheriting the entry's rights; at or below a guest large leaf it is
 * a direct page covering the part of the large page under gva.
 */
static void plan_child(const struct vmmu_shadow_vcpu *v, const struct vmmu_walk *w,
		       unsigned l, struct sh_plan *p)
{
	const struct vmmu_fmt *gf = v->walker.fmt;
	uint32_t acc = p->role[l] & SH_ACC_ALL;

	if (l > w->level) {
		vmmu_pte_t e = w->pte[l];
		p->gfn[l - 1] = (e & gf->level[l].addr_table) >> VMMU_PAGE_SHIFT;
		p->role[l - 1] = v->mode_role | (acc & entry_acc(gf, l, e)) | (l - 1);
		return;
	}
	bool dirty = (w->pte[w->level] & gf->level[w->level].dirty) != 0;
	uint64_t span = vmmu_fmt_entry_size(gf, l);
	p->gfn[l - 1] = (w->addr & ~(span - 1)) >> VMMU_PAGE_SHIFT;
	p->role[l - 1] = v->mode_role | perm_acc(w->perm) | (l - 1) |
			 VMMU_SHADOW_ROLE_DIRECT | (dirty ? VMMU_SHADOW_ROLE_DIRTY : 0);
}

/*
 * Whether the plan is the vCPU's last fill path in the same 2 MiB region
 * with nothing unlinked or zapped since: then every page exists and every
 * upper link of the region is in place (no lookup, no relinking).
 */
static bool plan_cached(const struct vmmu_shadow_vcpu *v, const struct sh_plan *p,
			uint64_t tag)
{
	const struct vmmu_shadow_path *c = &v->last;

	if (c->tag != tag || c->epoch != v->sh->epoch ||
	    p->bottom != 1) {
		return false;
	}
	for (unsigned l = 1; l <= p->top; l++) {
		if (c->gfn[l] != p->gfn[l] || c->role[l] != p->role[l]) {
			return false;
		}
	}
	return true;
}

/* Fill in the plan down to p->bottom (the root only when w == NULL); true
 * when it is the cached last path (see plan_cached). */
static bool plan_path(struct vmmu_shadow_vcpu *v, const struct vmmu_walk *w,
		      struct sh_plan *p, uint64_t tag)
{
	struct vmmu_shadow *sh = v->sh;
	unsigned top = v->walker.levels;

	p->top = top;
	p->missing = 0;
	p->gfn[top] = sh_root_gfn(v);
	p->role[top] = sh_root_role(v);
	for (unsigned l = top - 1; l >= p->bottom && w != NULL; l--) {
		plan_child(v, w, l + 1, p);
	}
	bool cached = plan_cached(v, p, tag);
	for (unsigned l = p->bottom; l <= top; l++) {
		p->idx[l] = cached ? v->last.idx[l] : sh_find(sh, p->gfn[l], p->role[l]);
		p->frame[l] = p->aux[l] = 0;
		p->missing += p->idx[l] < 0;
	}
	return cached;
}

/* Remember a linked fill path for the next fault in its region. */
static void plan_remember(struct vmmu_shadow_vcpu *v, const struct sh_plan *p,
			  uint64_t tag)
{
	struct vmmu_shadow_path *c = &v->last;

	for (unsigned l = 1; l <= p->top; l++) {
		c->gfn[l] = p->gfn[l];
		c->role[l] = p->role[l];
		c->idx[l] = p->idx[l];
	}
	c->tag = tag;
	c->epoch = v->sh->epoch;
}

static void give_back(struct vmmu_shadow *sh, struct sh_plan *p)
{
	for (unsigned l = p->bottom; l <= p->top; l++) {
		if (p->frame[l] != 0) {
			sh_free_frame(sh, p->frame[l]);
		}
		if (p->aux[l] != 0) {
			sh_free_frame(sh, p->aux[l]);
		}
		p->frame[l] = p->aux[l] = 0;
	}
}

/* Take a frame (levels 1 and 2: and a link frame) per missing page; all or
 * nothing. */
static int take_frames(struct vmmu_shadow_vcpu *v, struct sh_plan *p)
{
	for (unsigned l = p->bottom; l <= p->top; l++) {
		if (p->idx[l] >= 0) {
			continue;
		}
		if (sh_take_frame(v, &p->frame[l]) != 0 ||
		    (l <= 2 && sh_take_frame(v, &p->aux[l]) != 0)) {
			give_back(v->sh, p);
			return -VMMU_ENOMEM;
		}
	}
	return 0;
}

/* Evict up to n of the oldest pages; false when none could go. */
static bool evict_some(struct vmmu_shadow *sh, uint32_t n)
{
	uint32_t before = sh->used_pages;

	(void)sh_reclaim(sh, sh->max_pages - sh->used_pages + n);
	return sh->used_pages < before;
}

/*
 * Plan and take every frame the path needs. When the pool limit (or the
 * platform) runs out, evict oldest-first and plan again: eviction may
 * have taken pages of this very path. -VMMU_ENOMEM only when nothing
 * evictable is left.
 */
static int prepare(struct vmmu_shadow_vcpu *v, const struct vmmu_walk *w,
		   struct sh_plan *p, uint64_t tag, bool *cached)
{
	struct vmmu_shadow *sh = v->sh;

	for (;;) {
		*cached = plan_path(v, w, p, tag);
		if (sh->max_pages - sh->used_pages < p->missing) {
			if (!evict_some(sh, p->missing)) {
				return -VMMU_ENOMEM;
			}
			continue;
		}
		if (take_frames(v, p) == 0) {
			return 0;
		}
		if (!evict_some(sh, 1)) {
			return -VMMU_ENOMEM;
		}
	}
}

/* Create one planned page; a frame that becomes a page table is protected. */
static bool create_page(struct vmmu_shadow_vcpu *v, struct sh_plan *p, unsigned l)
{
	struct vmmu_shadow *sh = v->sh;
	bool direct = sh_is_direct(p->role[l]);
	bool flush = false;
	int32_t k = sh_oos_find(sh, p->gfn[l]);

	if (!direct && l > 1 && k >= 0) {
		flush = sh_resync(v, (uint32_t)k); /* upper levels stay in sync */
	}
	bool fresh = !direct && !sh_tracked(sh, p->gfn[l]);
	p->idx[l] = (int32_t)sh_create(sh, p->gfn[l], p->role[l], p->frame[l],
				       p->aux[l]);
	p->frame[l] = p->aux[l] = 0;
	if (fresh) {
		flush |= sh_write_protect(sh, p->gfn[l]);
	}
	return flush;
}

/* Create the planned pages (frames already taken) and record the root. */
static void commit_pages(struct vmmu_shadow_vcpu *v, struct sh_plan *p)
{
	bool flush = false;

	for (unsigned l = p->top; l >= p->bottom; l--) {
		if (p->idx[l] < 0) {
			flush |= create_page(v, p, l);
		} else {
			v->sh->pages[p->idx[l]].flood = 0; /* in use: not flooded */
		}
		if (l == p->bottom) {
			break;
		}
	}
	if (flush) {
		sh_flush_all(v->sh, VMMU_TLB_ALL);
	}
	sh_set_root(v, p->gfn[p->top], p->role[p->top], (uint32_t)p->idx[p->top]);
}

int vmmu_shadow_root(struct vmmu_shadow_vcpu *v, uint64_t *root)
{
	struct sh_plan p;

	if (v == NULL || root == NULL) {
		return -VMMU_EINVAL;
	}
	if (v->root_hpa == 0 || v->gen != v->sh->gen) {
		bool cached;
		p.bottom = v->walker.levels;
		int rc = prepare(v, NULL, &p, ~0ull, &cached);
		if (rc != 0) {
			return rc;
		}
		commit_pages(v, &p);
	}
	*root = v->root_hpa;
	return 0;
}

/* Link the planned path: each level's slot for gva points to the next. */
static void link_path(struct vmmu_shadow_vcpu *v, const struct sh_plan *p,
		      uint64_t gva)
{
	struct vmmu_shadow *sh = v->sh;
	const struct vmmu_fmt *fmt = sh->fmt;
	bool stale = false;

	for (unsigned l = p->top; l > p->bottom; l--) {
		vmmu_pte_t want = vmmu_pte_make_table(fmt, l, sh->pages[p->idx[l - 1]].hpa) |
				  fmt->level[l].accessed;
		vmmu_pte_t old = sh_upper_set(sh, (uint32_t)p->idx[l],
					      vmmu_fmt_index(fmt, l, gva), want);
		/* Only not-present slots are expected: a present one that
		 * differs (a guest D change on a large leaf) is healed. */
		stale |= old != want && vmmu_pte_present(fmt, l, old);
	}
	if (stale) {
		sh_flush_all(sh, VMMU_TLB_ALL);
	}
}

/* How the shadow leaf for one guest translation is encoded. */
struct sh_leaf {
	bool w, u, x;
	bool emulate; /* the access is allowed but this leaf cannot allow it */
};

/*
 * Rights of the shadow leaf, run by hardware with CR0.WP=1. Under guest
 * CR0.WP=0 supervisor writes ignore R/W: on a supervisor page that is
 * W=1 (user accesses fault on U=0 anyway); on a user page a supervisor
 * write turns the leaf into a supervisor page (U=0, W=1, and NX under
 * SMEP since the guest forbids that fetch) until a user access flips it
 * back; with SMAP that trick would let supervisor reads through, so the
 * write is emulated instead. The leaf is read-only while guest D=0 and
 * while its frame is a tracked (in-sync) guest page table.
 */
static struct sh_leaf leaf_rights(uint32_t mode, uint32_t perm, bool dirty,
				  uint32_t access, bool protect)
{
	bool write = (access & VMMU_ACC_WRITE) != 0;
	bool sup_write = write && !(access & VMMU_ACC_USER);
	struct sh_leaf r = {
		.w = perm & VMMU_PERM_W, .u = perm & VMMU_PERM_U,
		.x = perm & VMMU_PERM_X,
	};

	if (!(mode & VMMU_SHADOW_ROLE_WP) && !r.w) {
		if (!r.u) {
			r.w = true;
		} else if (sup_write) {
			if (mode & VMMU_SHADOW_ROLE_SMAP_NOWP) {
				r.w = false;
				r.emulate = true;
				return r;
			}
			r.u = false;
			r.w = true;
			r.x = r.x && !(mode & VMMU_SHADOW_ROLE_SMEP_NOWP);
		}
	}
	r.w = r.w && dirty && !protect;
	r.emulate = write && !r.w;
	return r;
}

static vmmu_pte_t encode_leaf(const struct vmmu_fmt *fmt, uint64_t hpa,
			      const struct sh_leaf *r)
{
	const struct vmmu_fmt_level *lv = &fmt->level[1];

	return (hpa & lv->addr_leaf) | lv->present | lv->accessed | lv->dirty |
	       (r->w ? lv->write : 0) | (r->u ? lv->user : 0) |
	       (r->x ? 0 : lv->nx);
}

/* p2m of a RAM guest frame: 0 with *hpa, 1 for MMIO, or -VMMU_E*. */
static int p2m_ram(const struct vmmu_shadow *sh, uint64_t gfn, uint64_t *hpa)
{
	uint64_t hfn = 0;
	int type = sh->ops->p2m(sh->ops_ctx, gfn, &hfn);

	if (type == VMMU_P2M_MMIO) {
		return 1;
	}
	if (type != VMMU_P2M_RAM) {
		return -VMMU_ENOENT;
	}
	*hpa = hfn << VMMU_PAGE_SHIFT;
	if ((*hpa & ~sh->fmt->level[1].addr_leaf) != 0 ||
	    (*hpa >> VMMU_PAGE_SHIFT) != hfn) {
		return -VMMU_ERANGE;
	}
	return 0;
}

/* Walk the guest; 1 = answered without touching the shadow. */
static int guest_walk(struct vmmu_shadow_vcpu *v, uint64_t gva, uint32_t access,
		      struct vmmu_walk *w, struct vmmu_shadow_result *res)
{
	int rc = vmmu_walk(&v->walker, v->cr3, gva, access, w);
	uint64_t hpa = 0;

	if (rc < 0) {
		return rc;
	}
	if (rc == VMMU_WALK_GP) {
		res->outcome = VMMU_SHADOW_GP;
		return 1;
	}
	if (rc == VMMU_WALK_PF) {
		res->outcome = VMMU_SHADOW_INJECT;
		res->pfec = w->pfec;
		v->sh->stat_inject++;
		return 1;
	}
	res->gpa = w->addr;
	rc = p2m_ram(v->sh, w->addr >> VMMU_PAGE_SHIFT, &hpa);
	if (rc == 1) {
		res->outcome = VMMU_SHADOW_MMIO;
	}
	res->hpa = hpa | (w->addr & ~VMMU_PAGE_MASK);
	return rc;
}

/* Whether leaves on guest frame gfn must stay read-only (an in-sync table). */
static bool protected_frame(const struct vmmu_shadow *sh, uint64_t gfn)
{
	return sh_tracked(sh, gfn) && sh_oos_find(sh, gfn) < 0;
}

/*
 * Rights of the faulting leaf. A write refused only because the target
 * is an in-sync guest leaf table lets that table go out of sync instead
 * of emulating every store to it (KVM's unsync, Xen's OOS).
 */
static struct sh_leaf fault_rights(struct vmmu_shadow_vcpu *v,
				   const struct vmmu_walk *w, uint32_t access,
				   uint64_t target_gfn)
{
	const struct vmmu_fmt *gf = v->walker.fmt;
	bool dirty = (w->pte[w->level] & gf->level[w->level].dirty) != 0;
	bool protect = protected_frame(v->sh, target_gfn);
	struct sh_leaf r = leaf_rights(v->mode_role, w->perm, dirty, access, protect);

	if (r.emulate && protect) {
		struct sh_leaf free = leaf_rights(v->mode_role, w->perm, dirty,
						  access, false);
		if (!free.emulate && sh_try_unsync(v, target_gfn)) {
			return free;
		}
	}
	return r;
}

/* Install leaf e at slot of level-1 page idx (derived from guest value g). */
static void put_leaf(struct vmmu_shadow *sh, uint32_t idx, unsigned slot,
		     vmmu_pte_t g, vmmu_pte_t e)
{
	const struct vmmu_shadow_page *p = &sh->pages[idx];

	if (!sh_is_direct(p->role)) {
		sh_oos_fill(sh, p->gfn, slot, g);
	}
	sh_leaf_set(sh, idx, slot, e);
}

/*
 * A neighbour's guest entry, as a walk through this table would see it:
 * rights and dirty bit through perm and dirty. False when it is not worth (or not
 * allowed) prefetching: not present, A clear (prefetching must not make
 * an entry the guest never used visible as accessed), reserved bits.
 */
static bool neighbour_entry(const struct vmmu_shadow_vcpu *v, uint32_t role,
			    vmmu_pte_t g, uint32_t *perm, bool *dirty)
{
	const struct vmmu_fmt_level *lv = &v->walker.fmt->level[1];

	if (!(g & v->walker.lvl[1].present) || !(g & lv->accessed) ||
	    (g & v->walker.lvl[1].rsvd_leaf) != 0) {
		return false;
	}
	*perm = acc_perm(role & entry_acc(v->walker.fmt, 1, g));
	*dirty = (g & lv->dirty) != 0;
	return true;
}

/* Guest value and rights of neighbour slot k of the plan's level-1 page. */
static bool neighbour(struct vmmu_shadow_vcpu *v, const struct vmmu_walk *w,
		      const struct sh_plan *p, unsigned k, vmmu_pte_t *g,
		      uint32_t *perm, bool *dirty)
{
	uint32_t role = p->role[1];

	if (sh_is_direct(role)) {
		*g = (p->gfn[1] + k) << VMMU_PAGE_SHIFT;
		*perm = w->perm;
		*dirty = (role & VMMU_SHADOW_ROLE_DIRTY) != 0;
		return true;
	}
	uint64_t addr = (w->pte_addr[1] & VMMU_PAGE_MASK) + k * sizeof(vmmu_pte_t);
	if (!vmmu_pte_read_at(v->walker.plat, addr, g) ||
	    !neighbour_entry(v, role, *g, perm, dirty)) {
		return false;
	}
	return true;
}

/* Bit k: slot first + k of page idx is empty (one mapping for the group). */
static uint32_t empty_slots(const struct vmmu_shadow *sh, uint32_t idx,
			    unsigned first)
{
	vmmu_pte_t *t = vmmu_map_table(sh->plat, sh->pages[idx].hpa);
	uint32_t empty = 0;

	for (unsigned k = 0; k < SH_PREFETCH; k++) {
		empty |= (uint32_t)(vmmu_pte_load(&t[first + k]) == 0) << k;
	}
	vmmu_unmap_table(sh->plat, t);
	return empty;
}

/* Fill the empty neighbours of slot in its aligned group (KVM's pte prefetch). */
static void prefetch(struct vmmu_shadow_vcpu *v, const struct vmmu_walk *w,
		     const struct sh_plan *p, unsigned slot)
{
	struct vmmu_shadow *sh = v->sh;
	const struct vmmu_fmt *gf = v->walker.fmt;
	uint32_t idx = (uint32_t)p->idx[1];
	unsigned first = slot & ~(SH_PREFETCH - 1);

	uint32_t empty = empty_slots(sh, idx, first) & ~(1u << (slot - first));

	for (unsigned k = first; empty != 0; k++, empty >>= 1) {
		vmmu_pte_t g;
		uint32_t perm;
		bool dirty;
		uint64_t hpa;
		if (!(empty & 1) || !neighbour(v, w, p, k, &g, &perm, &dirty)) {
			continue;
		}
		uint64_t gfn = sh_is_direct(p->role[1]) ? p->gfn[1] + k
			       : (g & gf->level[1].addr_leaf) >> VMMU_PAGE_SHIFT;
		if (p2m_ram(sh, gfn, &hpa) != 0) {
			continue;
		}
		struct sh_leaf r = leaf_rights(v->mode_role, perm, dirty, 0,
					       protected_frame(sh, gfn));
		put_leaf(sh, idx, k, g, encode_leaf(sh->fmt, hpa, &r));
		sh->stat_prefetch++;
	}
}

/* Whether the 2M region at guest frame gfn0 is one aligned 2M host region
 * of RAM with no tracked guest table in it. */
static bool region_fits(const struct vmmu_shadow *sh, uint64_t gfn0, uint64_t *hpa0)
{
	if (p2m_ram(sh, gfn0, hpa0) != 0 ||
	    (*hpa0 & (VMMU_PT_ENTRIES * VMMU_PAGE_SIZE - 1)) != 0) {
		return false;
	}
	for (unsigned k = 0; k < VMMU_PT_ENTRIES; k++) {
		uint64_t h;
		if (p2m_ram(sh, gfn0 + k, &h) != 0 ||
		    h != *hpa0 + (uint64_t)k * VMMU_PAGE_SIZE || sh_tracked(sh, gfn0 + k)) {
			return false;
		}
	}
	return true;
}

/*
 * A 2M shadow leaf for the guest large page under gva, with rights *r:
 * only when the host backs the 2M region with one aligned 2M region (else
 * it is split into 4K leaves) and no frame in it is a tracked guest table
 * (a large leaf cannot be read-only for one frame). A region found unfit
 * is remembered until something is zapped or unlinked (epoch).
 */
static bool large_fits(struct vmmu_shadow_vcpu *v, const struct vmmu_walk *w,
		       uint32_t access, uint64_t *hpa0, struct sh_leaf *r)
{
	struct vmmu_shadow *sh = v->sh;
	const struct vmmu_fmt *gf = v->walker.fmt;
	uint64_t gfn0 = (w->addr >> VMMU_PAGE_SHIFT) & ~(uint64_t)(VMMU_PT_ENTRIES - 1);

	if (w->level < 2 || !sh->fmt->level[2].leaf_ok ||
	    (v->split_gfn == gfn0 && v->split_epoch == sh->epoch)) {
		return false;
	}
	bool dirty = (w->pte[w->level] & gf->level[w->level].dirty) != 0;
	*r = leaf_rights(v->mode_role, w->perm, dirty, access, false);
	if (r->emulate || !region_fits(sh, gfn0, hpa0)) {
		v->split_gfn = gfn0;
		v->split_epoch = sh->epoch;
		return false;
	}
	return true;
}

/* Install the 2M leaf at level 2 of the plan's path. */
static void set_large(struct vmmu_shadow_vcpu *v, const struct sh_plan *p,
		      uint64_t gva, uint64_t hpa0, const struct sh_leaf *r)
{
	struct vmmu_shadow *sh = v->sh;
	const struct vmmu_fmt_level *lv = &sh->fmt->level[2];
	vmmu_pte_t e = (hpa0 & lv->addr_leaf) | lv->present | lv->ps | lv->accessed |
		       lv->dirty | (r->w ? lv->write : 0) | (r->u ? lv->user : 0) |
		       (r->x ? 0 : lv->nx);
	vmmu_pte_t old = sh_upper_set(sh, (uint32_t)p->idx[2],
				      vmmu_fmt_index(sh->fmt, 2, gva), e);

	if ((old & lv->present) && !(old & lv->ps)) {
		/* 4K translations of the region may be cached: the page size
		 * changes, so they go first (SDM 4.10.2.3). */
		uint64_t span = VMMU_PT_ENTRIES * VMMU_PAGE_SIZE;
		sh_flush_range(sh, gva & ~(span - 1), span);
	}
	sh->stat_large++;
}

/* Plan, make room, link; large: down to level 2 only. */
static int build_path(struct vmmu_shadow_vcpu *v, const struct vmmu_walk *w,
		      struct sh_plan *p, uint64_t gva, bool large)
{
	uint64_t tag = gva >> 21;
	bool cached;

	p->bottom = large ? 2 : 1;
	int rc = prepare(v, w, p, tag, &cached);
	if (rc != 0) {
		return rc;
	}
	commit_pages(v, p);
	if (!cached) {
		link_path(v, p, gva);
		if (!large) {
			plan_remember(v, p, tag);
		}
	}
	return 0;
}

/* The 4K leaf for gva (and its prefetched neighbours); EMULATE or FIXED. */
static void fill_leaf(struct vmmu_shadow_vcpu *v, const struct vmmu_walk *w,
		      const struct sh_plan *p, uint64_t gva, uint32_t access,
		      struct vmmu_shadow_result *res)
{
	struct sh_leaf r = fault_rights(v, w, access, res->gpa >> VMMU_PAGE_SHIFT);
	unsigned slot = vmmu_fmt_index(v->sh->fmt, 1, gva);

	put_leaf(v->sh, (uint32_t)p->idx[1], slot, w->pte[w->level],
		 encode_leaf(v->sh->fmt, res->hpa, &r));
	if (!v->sh->no_prefetch) {
		prefetch(v, w, p, slot);
	}
	if (r.emulate) {
		res->outcome = VMMU_SHADOW_EMULATE;
		v->sh->stat_emulate++;
	} else {
		v->sh->stat_fixed++;
	}
}

int vmmu_shadow_fault(struct vmmu_shadow_vcpu *v, uint64_t gva,
		      uint32_t access, struct vmmu_shadow_result *res)
{
	struct vmmu_walk w;
	struct sh_plan p;
	struct sh_leaf r;
	uint64_t hpa0;

	if (v == NULL || res == NULL || (access & VMMU_ACC_PEEK)) {
		return -VMMU_EINVAL;
	}
	*res = (struct vmmu_shadow_result){.outcome = VMMU_SHADOW_FIXED};
	v->sh->stat_faults++;
	int rc = guest_walk(v, gva, access, &w, res);
	if (rc != 0) {
		return rc < 0 ? rc : 0;
	}
	bool large = large_fits(v, &w, access, &hpa0, &r);
	rc = build_path(v, &w, &p, gva, large);
	if (rc != 0) {
		return rc;
	}
	if (large) {
		set_large(v, &p, gva, hpa0, &r);
		v->sh->stat_fixed++;
		return 0;
	}
	fill_leaf(v, &w, &p, gva, access, res);
	return 0;
}

void vmmu_shadow_set_prefetch(struct vmmu_shadow *sh, bool on)
{
	if (sh != NULL) {
		sh->no_prefetch = !on;
	}
}
