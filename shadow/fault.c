/* SPDX-License-Identifier: MIT */
/*
 * The shadow fault path: walk the guest tables (the foundation walker sets
 * guest A/D), translate the guest frame through the p2m, plan the shadow
 * path from the root down (one (gfn, role) per level), take every frame
 * the plan needs before the first entry is written, then link and install
 * the leaf. Guest large pages are split into "direct" shadow pages of 4K
 * leaves. Upper shadow entries grant everything; the leaf carries the
 * guest's effective rights, read-only while the guest D bit is clear.
 */
#include "internal.h"

/* The path a fault needs: pages[l] is the shadow table at level l. */
struct sh_plan {
	uint64_t gfn[VMMU_LEVEL_MAX + 1];
	uint32_t role[VMMU_LEVEL_MAX + 1];
	uint64_t hpa[VMMU_LEVEL_MAX + 1]; /* 0 = to create */
	uint64_t frame[VMMU_LEVEL_MAX + 1]; /* taken for the missing ones */
	unsigned top, missing;
};

static int mode_role(const struct vmmu_fmt *fmt, const struct vmmu_cpu_state *c,
		     uint32_t *role)
{
	bool wp = (c->cr0 & VMMU_CR0_WP) != 0;

	if (c->cr4 & (VMMU_CR4_PKE | VMMU_CR4_PKS)) {
		return -VMMU_ENOTSUP; /* keys are not virtualized (docs/shadow.md) */
	}
	*role = (wp ? VMMU_SHADOW_ROLE_WP : 0) |
		((!wp && (c->cr4 & VMMU_CR4_SMEP)) ? VMMU_SHADOW_ROLE_SMEP_NOWP : 0) |
		((!wp && (c->cr4 & VMMU_CR4_SMAP)) ? VMMU_SHADOW_ROLE_SMAP_NOWP : 0) |
		((c->efer & VMMU_EFER_NXE) ? VMMU_SHADOW_ROLE_NXE : 0) |
		(fmt->levels == 5 ? VMMU_SHADOW_ROLE_LA57 : 0);
	return 0;
}

int vmmu_shadow_vcpu_init(struct vmmu_shadow_vcpu *v, struct vmmu_shadow *sh,
			  const struct vmmu_fmt *guest_fmt,
			  const struct vmmu_platform *guest_plat,
			  const struct vmmu_cpu_state *cpu, uint64_t cr3)
{
	uint32_t role;

	if (v == NULL || sh == NULL || guest_fmt == NULL || cpu == NULL ||
	    guest_fmt->levels != sh->fmt->levels) {
		return -VMMU_EINVAL;
	}
	int rc = mode_role(guest_fmt, cpu, &role);
	if (rc != 0) {
		return rc;
	}
	*v = (struct vmmu_shadow_vcpu){.sh = sh, .mode_role = role};
	rc = vmmu_walker_init(&v->walker, guest_fmt, guest_plat, cpu);
	if (rc != 0) {
		return rc;
	}
	return vmmu_shadow_new_cr3(v, cr3);
}

int vmmu_shadow_set_cpu(struct vmmu_shadow_vcpu *v,
			const struct vmmu_cpu_state *cpu)
{
	uint32_t role;

	if (v == NULL || cpu == NULL) {
		return -VMMU_EINVAL;
	}
	int rc = mode_role(v->walker.fmt, cpu, &role);
	if (rc != 0) {
		return rc;
	}
	rc = vmmu_walker_set_cpu(&v->walker, cpu);
	if (rc != 0) {
		return rc;
	}
	if (role != v->mode_role) {
		v->mode_role = role;
		v->root_hpa = 0; /* another role, another root */
	}
	return 0;
}

int vmmu_shadow_new_cr3(struct vmmu_shadow_vcpu *v, uint64_t cr3)
{
	if (v == NULL || (cr3 & v->walker.cr3_rsvd) != 0) {
		return -VMMU_EINVAL;
	}
	/* Bit 63 (PCID no-flush) and PCID bits do not select tables. */
	v->cr3 = cr3 & ~(1ull << 63);
	v->root_hpa = 0;
	return 0;
}

static uint32_t root_role(const struct vmmu_shadow_vcpu *v)
{
	return v->mode_role | SH_ACC_ALL | v->walker.levels;
}

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

/* Fill in the plan: root only (w == NULL) or the whole path of w. */
static void plan_path(struct vmmu_shadow_vcpu *v, const struct vmmu_walk *w,
		      struct sh_plan *p)
{
	struct vmmu_shadow *sh = v->sh;
	unsigned top = v->walker.levels;
	unsigned bottom = w == NULL ? top : 1;

	p->top = top;
	p->missing = 0;
	p->gfn[top] = (v->cr3 & v->walker.addr_mask) >> VMMU_PAGE_SHIFT;
	p->role[top] = root_role(v);
	for (unsigned l = top; l >= bottom; l--) {
		if (l < top) {
			plan_child(v, w, l + 1, p);
		}
		int32_t i = sh_find(sh, p->gfn[l], p->role[l]);
		p->hpa[l] = i < 0 ? 0 : sh->pages[i].hpa;
		p->frame[l] = 0;
		p->missing += i < 0;
		if (l == bottom) {
			break;
		}
	}
}

static void give_back(struct vmmu_shadow *sh, struct sh_plan *p, unsigned bottom)
{
	for (unsigned l = bottom; l <= p->top; l++) {
		if (p->frame[l] != 0) {
			sh->plat->ops->frame_free(sh->plat->ctx, vmmu_hpa(p->frame[l]));
			p->frame[l] = 0;
		}
	}
}

/* Take a frame for every missing page of the plan; all or nothing. */
static int take_frames(struct vmmu_shadow *sh, struct sh_plan *p, unsigned bottom)
{
	if (sh->used_pages + p->missing > sh->max_pages) {
		return -VMMU_ENOMEM;
	}
	for (unsigned l = bottom; l <= p->top; l++) {
		vmmu_hpa_t f;
		if (p->hpa[l] != 0) {
			continue;
		}
		if (sh->plat->ops->frame_alloc(sh->plat->ctx, &f) != 0 || f.v == 0) {
			give_back(sh, p, bottom);
			return -VMMU_ENOMEM;
		}
		p->frame[l] = f.v;
	}
	return 0;
}

/*
 * Plan and take every frame the path needs. When the pool (or the
 * platform) is exhausted, reclaim by zapping everything once and plan
 * again; -VMMU_ENOMEM only if even an empty pool cannot hold the path.
 */
static int prepare(struct vmmu_shadow_vcpu *v, const struct vmmu_walk *w,
		   struct sh_plan *p)
{
	unsigned bottom = w == NULL ? v->walker.levels : 1;

	if (v->gen != v->sh->gen) {
		v->root_hpa = 0;
	}
	plan_path(v, w, p);
	if (take_frames(v->sh, p, bottom) == 0) {
		return 0;
	}
	if (v->sh->used_pages == 0) {
		return -VMMU_ENOMEM;
	}
	vmmu_shadow_zap_all(v->sh);
	v->root_hpa = 0;
	plan_path(v, w, p);
	return take_frames(v->sh, p, bottom);
}

/* Create the planned pages (frames already taken) and record the root. */
static void commit_pages(struct vmmu_shadow_vcpu *v, struct sh_plan *p,
			 unsigned bottom)
{
	for (unsigned l = p->top; l >= bottom; l--) {
		if (p->hpa[l] == 0) {
			bool fresh = !(p->role[l] & VMMU_SHADOW_ROLE_DIRECT) &&
				     vmmu_shadow_tracked(v->sh, p->gfn[l]) == 0;
			p->hpa[l] = sh_create(v->sh, p->gfn[l], p->role[l], p->frame[l]);
			if (fresh) {
				sh_write_protect(v->sh, p->gfn[l]);
			}
		}
		if (l == bottom) {
			break;
		}
	}
	v->root_hpa = p->hpa[p->top];
	v->gen = v->sh->gen;
}

int vmmu_shadow_root(struct vmmu_shadow_vcpu *v, uint64_t *root)
{
	struct sh_plan p;

	if (v == NULL || root == NULL) {
		return -VMMU_EINVAL;
	}
	if (v->root_hpa == 0 || v->gen != v->sh->gen) {
		int rc = prepare(v, NULL, &p);
		if (rc != 0) {
			return rc;
		}
		commit_pages(v, &p, p.top);
	}
	*root = v->root_hpa;
	return 0;
}

/* Link the planned path: each level's slot for gva points to the next. */
static void link_path(struct vmmu_shadow_vcpu *v, const struct sh_plan *p,
		      uint64_t gva)
{
	const struct vmmu_fmt *fmt = v->sh->fmt;
	bool stale = false;

	for (unsigned l = p->top; l > 1; l--) {
		vmmu_pte_t want = vmmu_pte_make_table(fmt, l, p->hpa[l - 1]) |
				  fmt->level[l].accessed;
		vmmu_pte_t *t = vmmu_map_table(v->sh->plat, p->hpa[l]);
		VMMU_CHECK(v->sh->plat, t != NULL);
		vmmu_pte_t *slot = &t[vmmu_fmt_index(fmt, l, gva)];
		vmmu_pte_t old = vmmu_pte_load(slot);
		if (old != want) {
			/* Only not-present slots are expected: a present one
			 * that differs means a missed guest write; heal it. */
			stale |= vmmu_pte_present(fmt, l, old);
			vmmu_pte_store(slot, want);
		}
		vmmu_unmap_table(v->sh->plat, t);
	}
	if (stale) {
		sh_flush_all(v->sh, VMMU_TLB_ALL);
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
 * while its frame is a tracked guest page table.
 */
static struct sh_leaf leaf_rights(const struct vmmu_shadow_vcpu *v,
				  const struct vmmu_walk *w, uint32_t access,
				  bool tracked)
{
	const struct vmmu_fmt *gf = v->walker.fmt;
	bool dirty = (w->pte[w->level] & gf->level[w->level].dirty) != 0;
	bool write = (access & VMMU_ACC_WRITE) != 0;
	bool sup_write = write && !(access & VMMU_ACC_USER);
	struct sh_leaf r = {
		.w = w->perm & VMMU_PERM_W, .u = w->perm & VMMU_PERM_U,
		.x = w->perm & VMMU_PERM_X,
	};

	if (!(v->mode_role & VMMU_SHADOW_ROLE_WP) && !r.w) {
		if (!r.u) {
			r.w = true;
		} else if (sup_write) {
			if (v->mode_role & VMMU_SHADOW_ROLE_SMAP_NOWP) {
				r.w = false;
				r.emulate = true;
				return r;
			}
			r.u = false;
			r.w = true;
			r.x = r.x && !(v->mode_role & VMMU_SHADOW_ROLE_SMEP_NOWP);
		}
	}
	r.w = r.w && dirty && !tracked;
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

static void set_leaf(struct vmmu_shadow_vcpu *v, const struct sh_plan *p,
		     uint64_t gva, vmmu_pte_t leaf)
{
	const struct vmmu_fmt *fmt = v->sh->fmt;
	vmmu_pte_t *t = vmmu_map_table(v->sh->plat, p->hpa[1]);

	VMMU_CHECK(v->sh->plat, t != NULL);
	vmmu_pte_store(&t[vmmu_fmt_index(fmt, 1, gva)], leaf);
	vmmu_unmap_table(v->sh->plat, t);
}

/* Guest walk result to RAM host address, or an outcome in res. */
static int translate_gpa(struct vmmu_shadow_vcpu *v, uint64_t gpa,
			 struct vmmu_shadow_result *res)
{
	uint64_t hfn = 0;
	int type = v->sh->ops->p2m(v->sh->ops_ctx, gpa >> VMMU_PAGE_SHIFT, &hfn);

	res->gpa = gpa;
	if (type == VMMU_P2M_MMIO) {
		res->outcome = VMMU_SHADOW_MMIO;
		return 1;
	}
	if (type != VMMU_P2M_RAM) {
		return -VMMU_ENOENT;
	}
	uint64_t hpa = hfn << VMMU_PAGE_SHIFT;
	if ((hpa & ~v->sh->fmt->level[1].addr_leaf) != 0 ||
	    (hpa >> VMMU_PAGE_SHIFT) != hfn) {
		return -VMMU_ERANGE;
	}
	res->hpa = hpa | (gpa & ~VMMU_PAGE_MASK);
	return 0;
}

/* Walk the guest; 1 = answered without touching the shadow. */
static int guest_walk(struct vmmu_shadow_vcpu *v, uint64_t gva, uint32_t access,
		      struct vmmu_walk *w, struct vmmu_shadow_result *res)
{
	int rc = vmmu_walk(&v->walker, v->cr3, gva, access, w);

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
	return translate_gpa(v, w->addr, res);
}

int vmmu_shadow_fault(struct vmmu_shadow_vcpu *v, uint64_t gva,
		      uint32_t access, struct vmmu_shadow_result *res)
{
	struct vmmu_walk w;
	struct sh_plan p;

	if (v == NULL || res == NULL || (access & VMMU_ACC_PEEK)) {
		return -VMMU_EINVAL;
	}
	*res = (struct vmmu_shadow_result){.outcome = VMMU_SHADOW_FIXED};
	v->sh->stat_faults++;
	int rc = guest_walk(v, gva, access, &w, res);
	if (rc != 0) {
		return rc < 0 ? rc : 0;
	}
	rc = prepare(v, &w, &p);
	if (rc != 0) {
		return rc;
	}
	commit_pages(v, &p, 1);
	link_path(v, &p, gva);
	bool tracked = vmmu_shadow_tracked(v->sh, res->gpa >> VMMU_PAGE_SHIFT) != 0;
	struct sh_leaf r = leaf_rights(v, &w, access, tracked);
	set_leaf(v, &p, gva, encode_leaf(v->sh->fmt, res->hpa, &r));
	if (r.emulate) {
		res->outcome = VMMU_SHADOW_EMULATE;
		v->sh->stat_emulate++;
	} else {
		v->sh->stat_fixed++;
	}
	return 0;
}
