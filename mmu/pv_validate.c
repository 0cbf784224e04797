/* SPDX-License-Identifier: MIT */
/*
 * Direct paging: validating a guest page table (include/vmmu/pv.h).
 *
 * Promoting a frame to "page table of level n" checks all 512 entries and
 * takes, for every present one, the references it needs: a general
 * reference on the frame it points at, plus a writable type reference for
 * a writable L1 entry, or a level n-1 type reference (validating that
 * table in turn) for an L2-L4 entry. Demotion releases exactly those.
 *
 * Both run inside the frame table's validate/devalidate hooks, so the
 * frame is locked against every other user while they run, and both may
 * stop early (L2-L4, when the platform's should_yield says so, or when a
 * table below stops early) and continue later. The progress lives in the
 * frame's scratch word:
 *
 *   bits 9..0    next: entries [0, next) hold their references
 *   bits 13..12  the state of entry `special`: none, holding a partial
 *                reference on its table (validation stopped there), or
 *                releasing its table (demotion stopped there)
 *   bits 25..16  special
 *
 * That is the invariant Xen's partial-validation bugs broke (XSA-299,
 * XSA-310): every entry below `next` holds exactly its references, entry
 * `special` holds what its state says, nothing else holds anything.
 */
#include "pv_internal.h"

struct progress {
	unsigned next, special;
	enum entry_state es;
};

static struct progress progress_load(const uint64_t *w)
{
	struct progress p = {
		.next = (unsigned)(*w & 0x3ffu),
		.es = (enum entry_state)((*w >> 12) & 3u),
		.special = (unsigned)((*w >> 16) & 0x3ffu),
	};
	return p;
}

void vmmu_pv_progress(const struct vmmu_ft *ft, uint64_t mfn, unsigned *next,
		      unsigned *special, unsigned *state)
{
	struct progress p = progress_load(&ft->frames[mfn].scratch);

	*next = p.next;
	*special = p.special;
	*state = p.es;
}

static void progress_store(uint64_t *w, const struct progress *p)
{
	*w = (uint64_t)p->next | ((uint64_t)p->es << 12) |
	     ((uint64_t)p->special << 16);
}


/* --- one entry ------------------------------------------------------------------ */

/*
 * A not-present entry is still checked (Xen XSA-273, L1TF): a speculative
 * walk may use its address, so it must be 0 or lie beyond every frame the
 * table knows (not cacheable guest memory), and PS must be clear above L1.
 */
static int check_not_present(const struct vmmu_pv_domain *d, unsigned level,
			     uint64_t e)
{
	uint64_t mfn = entry_mfn(d, e);

	if (mfn != 0 && mfn < d->ft->nframes) {
		return -VMMU_EINVAL;
	}
	return level > 1 && (e & E_PS) != 0 ? -VMMU_EINVAL : 0;
}

/* Flags a present entry of `level` may carry. */
int vmmu_pv_entry_check_flags(const struct vmmu_pv_domain *d, unsigned level,
			      uint64_t e)
{
	uint64_t refused = d->rsvd_mask;

	/* Cache attributes only for a domain that may flush caches (XSA-402). */
	if ((d->flags & VMMU_PV_CACHE_ATTRS) == 0) {
		refused |= E_PWT | E_PCD | (level == 1 ? E_PS : 0); /* PS: PAT */
	}
	if (level > 1) {
		refused |= E_PS | E_G; /* no superpages for PV guests */
	}
	return (e & refused) != 0 ? -VMMU_EINVAL : 0;
}

/*
 * References for a present L1 entry of d: the frame, which `owner` must
 * own (d, or the domain a foreign mapping names), writable if RW.
 */
static int get_l1(struct vmmu_pv_domain *d, uint64_t e, vmmu_domid_t owner)
{
	uint64_t mfn = entry_mfn(d, e);

	if (mfn >= d->ft->nframes) {
		return -VMMU_EPERM; /* I/O and unknown frames: not mappable */
	}
	if ((e & E_RW) == 0) {
		return vmmu_ft_get(d->ft, mfn, owner);
	}
	/* The read-only rule: a page table can never also be writable. */
	return vmmu_ft_get_writable(d->ft, mfn, owner);
}

static void put_l1(struct vmmu_pv_domain *d, uint64_t e)
{
	uint64_t mfn = entry_mfn(d, e);

	if ((e & E_RW) != 0) {
		vmmu_ft_put_writable(d->ft, mfn);
	} else {
		vmmu_ft_put(d->ft, mfn);
	}
}

/* --- linear (same-level) links ------------------------------------------------ */

/*
 * An L2-L4 entry pointing at a table of its own level instead of the one
 * below: allowed only on a domain with VMMU_PV_LINEAR_PT, read-only (Xen
 * XSA-182), to a table of the same domain that is validated already (so
 * taking it never recurses into validation and cannot deadlock), or to
 * the table itself (which takes nothing). A table may hold such links or
 * be linked to, never both (XSA-240); the frame table counts both sides.
 */
int vmmu_pv_linear_get(struct vmmu_pv_domain *d, uint64_t table, unsigned level,
		       uint64_t e)
{
	uint64_t target = entry_mfn(d, e);
	int rc;

	if ((d->flags & VMMU_PV_LINEAR_PT) == 0) {
		return -VMMU_EBUSY;
	}
	if ((e & E_RW) != 0) {
		return -VMMU_EINVAL;
	}
	if (target == table) {
		return 0;
	}
	rc = vmmu_ft_get(d->ft, target, d->id); /* ownership first */
	if (rc != 0) {
		return rc;
	}
	rc = vmmu_ft_linear_use(d->ft, target, 1);
	if (rc == 0) {
		rc = vmmu_ft_linear_hold(d->ft, table, 1);
		if (rc == 0) {
			rc = vmmu_ft_get_type_validated(d->ft, target, level);
			if (rc == 0) {
				return 0;
			}
			vmmu_ft_linear_hold(d->ft, table, -1);
		}
		vmmu_ft_linear_use(d->ft, target, -1);
	}
	vmmu_ft_put(d->ft, target);
	return rc;
}

/*
 * Entry e of `table` (level >= 2) is about to give up what it holds: a
 * same-level link first gives back its link counts. Returns false for a
 * link to the table itself, which holds nothing. Only a domain with
 * linear tables can have same-level links, so the others never look at
 * the target's record here (devalidation passes every entry through).
 */
static bool unlink_entry(struct vmmu_pv_domain *d, uint64_t table,
			 unsigned level, uint64_t e)
{
	uint64_t target = entry_mfn(d, e);
	struct vmmu_frame_info i;

	if ((d->flags & VMMU_PV_LINEAR_PT) == 0) {
		return true;
	}
	if (target == table) {
		return false;
	}
	/* The entry holds a type reference: the target's type is stable. */
	if (vmmu_ft_info(d->ft, target, &i) == 0 && i.type == level) {
		vmmu_ft_linear_hold(d->ft, table, -1);
		vmmu_ft_linear_use(d->ft, target, -1);
	}
	return true;
}

int vmmu_pv_l1_get(struct vmmu_pv_domain *d, uint64_t e, vmmu_domid_t owner)
{
	int rc;

	if ((e & E_P) == 0) {
		return check_not_present(d, 1, e);
	}
	rc = vmmu_pv_entry_check_flags(d, 1, e);
	return rc != 0 ? rc : get_l1(d, e, owner);
}

int vmmu_pv_entry_get(struct vmmu_pv_domain *d, uint64_t table,
		      unsigned level, uint64_t e)
{
	int rc;

	if (level == 1) {
		return vmmu_pv_l1_get(d, e, d->id);
	}
	if ((e & E_P) == 0) {
		return check_not_present(d, level, e);
	}
	rc = vmmu_pv_entry_check_flags(d, level, e);
	if (rc != 0) {
		return rc;
	}
	rc = vmmu_pv_table_get(d, entry_mfn(d, e), level - 1);
	if (rc == -VMMU_EBUSY) {
		rc = vmmu_pv_linear_get(d, table, level, e);
	}
	return rc;
}

int vmmu_pv_entry_put(struct vmmu_pv_domain *d, uint64_t table,
		      unsigned level, uint64_t e)
{
	if ((e & E_P) == 0) {
		return 0;
	}
	if (level == 1) {
		put_l1(d, e);
		return 0;
	}
	return unlink_entry(d, table, level, e)
		       ? vmmu_pv_table_put(d, entry_mfn(d, e))
		       : 0;
}

/* --- validate and devalidate ---------------------------------------------------- */

static int map_table(struct vmmu_pv_domain *d, uint64_t mfn, vmmu_pte_t **t)
{
	*t = vmmu_map_table(d->plat, mfn << 12);
	return *t != NULL ? 0 : -VMMU_EFAULT;
}

/* Resume entry `special` whose table below stopped early. */
static int finish_partial_entry(struct vmmu_pv_domain *d, unsigned level,
				uint64_t e, struct progress *p)
{
	uint64_t child = entry_mfn(d, e);
	int rc = vmmu_ft_continue_type(d->ft, child, level - 1, &d->ops);

	if (rc == -VMMU_ERESTART) {
		return rc;
	}
	p->es = ES_NONE;
	if (rc != 0) {
		vmmu_ft_put(d->ft, child); /* the type reference is gone */
		return rc;
	}
	p->next = p->special + 1;
	return 0;
}

/*
 * Release entries [0, next) and entry `special`, newest first; stops early
 * (-VMMU_ERESTART) when may_stop and the platform asks, or when a table
 * below stops early.
 */
static int release_entries(struct vmmu_pv_domain *d, uint64_t mfn,
			   unsigned level, const vmmu_pte_t *t,
			   struct progress *p, bool may_stop);

static int validate_entries(struct vmmu_pv_domain *d, uint64_t mfn,
			    unsigned level, const vmmu_pte_t *t,
			    struct progress *p)
{
	int rc;

	if (p->es == ES_PARTIAL) {
		rc = finish_partial_entry(d, level, t[p->special], p);
		if (rc != 0) {
			return rc;
		}
	}
	while (p->next < ENTRIES) {
		unsigned i = p->next;
		uint64_t e = __atomic_load_n(&t[i], __ATOMIC_RELAXED);

		if (!l4_slot_reserved(d, level, i)) {
			rc = vmmu_pv_entry_get(d, mfn, level, e);
			if (rc == -VMMU_ERESTART) {
				p->es = ES_PARTIAL;
				p->special = i;
				return rc;
			}
			if (rc == -VMMU_EAGAIN) {
				return -VMMU_ERESTART; /* nothing held: retry i */
			}
			if (rc != 0) {
				return rc;
			}
		}
		p->next = i + 1;
		if (level > 1 && p->next < ENTRIES && vmmu_should_yield(d->plat)) {
			return -VMMU_ERESTART;
		}
	}
	return 0;
}

/*
 * The hypervisor's L4 slots of a freshly validated L4: what the guest
 * wrote there while it was plain memory must not reach the hardware (Xen
 * writes its own entries at this point too).
 */
static void fill_reserved_slots(struct vmmu_pv_domain *d, uint64_t mfn,
				vmmu_pte_t *t)
{
	const struct vmmu_pv_guest_ops *g = d->guest;

	if (g != NULL && g->fill_reserved_l4 != NULL) {
		g->fill_reserved_l4(g->ctx, mfn, t);
		return;
	}
	for (unsigned i = 0; i < ENTRIES; i++) {
		if (l4_slot_reserved(d, 4, i)) {
			__atomic_store_n(&t[i], 0, __ATOMIC_RELAXED);
		}
	}
}

static int pv_validate(void *ctx, uint64_t mfn, unsigned type)
{
	struct vmmu_pv_domain *d = ctx;
	uint64_t *w = vmmu_ft_scratch(d->ft, mfn);
	struct progress p = progress_load(w);
	vmmu_pte_t *t;
	int rc;

	if (type < VMMU_FTYPE_L1 || type > VMMU_FTYPE_L4) {
		return -VMMU_ENOTSUP; /* descriptor tables: not yet */
	}
	rc = map_table(d, mfn, &t);
	if (rc != 0) {
		return rc;
	}
	rc = validate_entries(d, mfn, type, t, &p);
	if (rc == 0 && type == VMMU_FTYPE_L4) {
		fill_reserved_slots(d, mfn, t);
	}
	if (rc != 0 && rc != -VMMU_ERESTART) {
		/* A refused entry: give back everything taken, to the end. */
		while (release_entries(d, mfn, type, t, &p, false) ==
		       -VMMU_ERESTART) {
		}
	}
	progress_store(w, &p);
	vmmu_unmap_table(d->plat, t);
	return rc;
}

/* Release entry i's table below; -VMMU_ERESTART leaves it RELEASING. */
static int release_table_entry(struct vmmu_pv_domain *d, uint64_t e,
			       unsigned i, struct progress *p)
{
	uint64_t child = entry_mfn(d, e);
	int rc;

	if (p->es == ES_PARTIAL && p->special == i) {
		rc = vmmu_ft_abandon_type(d->ft, child, &d->ops);
	} else {
		rc = vmmu_ft_put_type(d->ft, child, &d->ops);
	}
	if (rc == -VMMU_ERESTART) {
		p->es = ES_RELEASING;
		p->special = i;
		return rc;
	}
	VMMU_CHECK(d->plat, rc == 0);
	p->es = ES_NONE;
	vmmu_ft_put(d->ft, child);
	return 0;
}

/* Release present entry i (below next); -VMMU_ERESTART leaves it RELEASING. */
static int release_entry(struct vmmu_pv_domain *d, uint64_t mfn,
			 unsigned level, uint64_t e, unsigned i,
			 struct progress *p)
{
	if (level == 1) {
		put_l1(d, e);
		return 0;
	}
	return unlink_entry(d, mfn, level, e) ? release_table_entry(d, e, i, p)
					      : 0;
}

static int release_entries(struct vmmu_pv_domain *d, uint64_t mfn,
			   unsigned level, const vmmu_pte_t *t,
			   struct progress *p, bool may_stop)
{
	int rc;

	if (p->es != ES_NONE) {
		unsigned i = p->special;

		rc = release_table_entry(d, t[i], i, p);
		if (rc != 0) {
			return rc;
		}
		if (p->next == i + 1) {
			p->next = i; /* it was the last entry below next */
		}
	}
	while (p->next > 0) {
		unsigned i = p->next - 1;
		uint64_t e = __atomic_load_n(&t[i], __ATOMIC_RELAXED);

		if ((e & E_P) != 0 && !l4_slot_reserved(d, level, i)) {
			rc = release_entry(d, mfn, level, e, i, p);
			if (rc != 0) {
				return rc;
			}
		}
		p->next = i;
		if (may_stop && level > 1 && p->next > 0 && vmmu_should_yield(d->plat)) {
			return -VMMU_ERESTART;
		}
	}
	return 0;
}

static int pv_devalidate(void *ctx, uint64_t mfn, unsigned type)
{
	struct vmmu_pv_domain *d = ctx;
	uint64_t *w = vmmu_ft_scratch(d->ft, mfn);
	struct progress p = progress_load(w);
	vmmu_pte_t *t;
	int rc;

	VMMU_CHECK(d->plat, type >= VMMU_FTYPE_L1 && type <= VMMU_FTYPE_L4);
	VMMU_CHECK(d->plat, map_table(d, mfn, &t) == 0);
	rc = release_entries(d, mfn, type, t, &p, true);
	progress_store(w, &p);
	vmmu_unmap_table(d->plat, t);
	return rc;
}

/*
 * A frame that was mapped writable becomes a page table: a writable
 * mapping may have been removed by an L1 update (which flushes nothing:
 * the guest's job), so a CPU may still hold the writable translation,
 * global or not. Flush everything on every CPU the domain ran on before
 * the frame is validated; the frame table calls this after the new type
 * is visible, so no new writable mapping can appear meanwhile (Xen
 * XSA-241, XSA-401).
 */
static void pv_leave_writable(void *ctx, uint64_t mfn, unsigned type)
{
	struct vmmu_pv_domain *d = ctx;
	struct vmmu_tlb_req req = {.scope = VMMU_TLB_ALL};

	(void)mfn;
	(void)type;
	if (d->plat->ops->tlb_flush != NULL) {
		d->plat->ops->tlb_flush(d->plat->ctx, &req);
	}
}

/* --- the domain and its tables ------------------------------------------------- */

int vmmu_pv_domain_init(struct vmmu_pv_domain *d, struct vmmu_ft *ft,
			const struct vmmu_platform *plat, vmmu_domid_t id,
			unsigned maxphyaddr, const uint64_t l4_reserved[8],
			uint32_t flags)
{
	if (d == NULL || ft == NULL || vmmu_platform_check(plat) != 0 ||
	    maxphyaddr < 32 || maxphyaddr > 52 ||
	    (flags & ~(uint32_t)(VMMU_PV_CACHE_ATTRS | VMMU_PV_LINEAR_PT)) != 0) {
		return -VMMU_EINVAL;
	}
	__builtin_memset(d, 0, sizeof(*d));
	d->ft = ft;
	d->plat = plat;
	d->id = id;
	d->flags = flags;
	d->addr_mask = vmmu_bits(maxphyaddr - 1, 12);
	/* Bits MAXPHYADDR..51 are reserved in every entry. */
	d->rsvd_mask = maxphyaddr < 52 ? vmmu_bits(51, maxphyaddr) : 0;
	for (unsigned i = 0; l4_reserved != NULL && i < 8; i++) {
		d->l4_reserved[i] = l4_reserved[i];
	}
	d->ops.validate = pv_validate;
	d->ops.devalidate = pv_devalidate;
	d->ops.leave_writable = pv_leave_writable;
	d->ops.ctx = d;
	return 0;
}

void vmmu_pv_domain_set_m2p(struct vmmu_pv_domain *d, uint64_t *m2p)
{
	d->m2p = m2p;
}

void vmmu_pv_domain_set_guest_ops(struct vmmu_pv_domain *d,
				  const struct vmmu_pv_guest_ops *ops,
				  uint32_t nr_vcpus)
{
	d->guest = ops;
	d->nr_vcpus = nr_vcpus > 4096 ? 4096 : nr_vcpus;
}

void vmmu_pv_domain_set_foreign_ops(struct vmmu_pv_domain *d,
				    const struct vmmu_pv_foreign_ops *ops)
{
	d->foreign = ops;
}

static bool table_level_ok(unsigned level)
{
	return level >= 1 && level <= 4;
}

int vmmu_pv_table_get(struct vmmu_pv_domain *d, uint64_t mfn, unsigned level)
{
	int rc;

	if (!table_level_ok(level)) {
		return -VMMU_EINVAL;
	}
	rc = vmmu_ft_get(d->ft, mfn, d->id);
	if (rc != 0) {
		return rc;
	}
	rc = vmmu_ft_get_type(d->ft, mfn, level, &d->ops);
	if (rc != 0 && rc != -VMMU_ERESTART) {
		vmmu_ft_put(d->ft, mfn);
	}
	return rc;
}

int vmmu_pv_table_continue(struct vmmu_pv_domain *d, uint64_t mfn,
			   unsigned level)
{
	int rc;

	if (!table_level_ok(level) || mfn >= d->ft->nframes) {
		return -VMMU_EINVAL;
	}
	rc = vmmu_ft_continue_type(d->ft, mfn, level, &d->ops);
	if (rc != 0 && rc != -VMMU_ERESTART && rc != -VMMU_ENOENT) {
		vmmu_ft_put(d->ft, mfn); /* validation failed: nothing held */
	}
	return rc;
}

int vmmu_pv_table_abandon(struct vmmu_pv_domain *d, uint64_t mfn)
{
	int rc = vmmu_ft_abandon_type(d->ft, mfn, &d->ops);

	if (rc == 0) {
		vmmu_ft_put(d->ft, mfn);
	}
	return rc;
}

int vmmu_pv_table_put(struct vmmu_pv_domain *d, uint64_t mfn)
{
	int rc = vmmu_ft_put_type(d->ft, mfn, &d->ops);

	if (rc == 0) {
		vmmu_ft_put(d->ft, mfn);
	}
	return rc;
}
