/* SPDX-License-Identifier: MIT */
/*
 * Direct paging: the PV MMU hypercalls (include/vmmu/pv.h).
 *
 * An entry update is: find the table (a general reference and a type
 * reference on it, kept across consecutive requests to the same table),
 * read the old entry, take the references the new entry needs, swap old
 * for new with a compare-exchange, release what the old one held. The
 * compare-exchange, not a lock, serialises vCPUs updating the same entry:
 * a loser releases what it took and tries again. Entries that change only
 * in bits that carry no reference (A, D, NX, G, U/S, software bits) skip
 * the reference work (Xen's fast path, minus R/W at any level: XSA-182).
 */
#include <vmmu/pv.h>

#include "pv_internal.h"

/* Bits an update may change without touching references. */
#define FAST_BITS                                                            \
	(E_A | E_D | E_G | (1ull << 2) /* U/S */ | vmmu_bits(11, 9) |       \
	 vmmu_bits(63, 52))

/* A table the current call holds a reference on. */
struct held_table {
	uint64_t mfn;
	unsigned level; /* 0: none */
	vmmu_pte_t *map;
};

/* What one call carries from request to request. */
struct call {
	struct vmmu_pv_vcpu *v;
	struct vmmu_pv_domain *d;
	struct vmmu_pv_domain *pg; /* whose frames new L1 entries map: d or foreign */
	struct held_table t;
	bool flush; /* an L2-L4 entry changed */
};

static void flush(const struct vmmu_pv_domain *d, uint32_t scope,
		  uint64_t addr, uint64_t size, const uint64_t *mask,
		  uint32_t mask_words)
{
	struct vmmu_tlb_req req = {
		.scope = scope,
		.cpu_mask_words = mask_words,
		.addr = addr,
		.size = size,
		.cpu_mask = mask,
	};

	if (d->plat->ops->tlb_flush != NULL) {
		d->plat->ops->tlb_flush(d->plat->ctx, &req);
	}
}

/*
 * Status of one request inside a call: done (go on), done but stop the
 * call now (something was parked on the vCPU: it is finished first thing
 * in the next call), or negative: not done (-VMMU_ERESTART: retried by the
 * next call; anything else: refused).
 */
#define REQ_DONE 0
#define REQ_DONE_STOP 1

/* --- vCPU state ------------------------------------------------------------------ */

int vmmu_pv_vcpu_init(struct vmmu_pv_vcpu *v, struct vmmu_pv_domain *d,
		      uint32_t id)
{
	if (v == NULL || d == NULL || id >= 64u * 64u) {
		return -VMMU_EINVAL;
	}
	__builtin_memset(v, 0, sizeof(*v));
	v->d = d;
	v->id = id;
	return 0;
}

/*
 * Park a table whose release stopped early (Xen's old_guest_table). The
 * call stops right after a request parks one; its end may park two more
 * (the table it held, a paused validation it gives up); the next call
 * finishes them all first.
 */
static void park(struct vmmu_pv_vcpu *v, uint64_t mfn)
{
	unsigned slot = 0;

	while (slot < VMMU_PV_PARKED_MAX && v->pending_put[slot] != 0) {
		slot++;
	}
	VMMU_CHECK(v->d->plat, slot < VMMU_PV_PARKED_MAX);
	v->pending_put[slot] = mfn;
}

/* Release a table reference: 0, or 1 when it was parked. */
static int put_table(struct vmmu_pv_vcpu *v, uint64_t mfn)
{
	if (vmmu_pv_table_put(v->d, mfn) == -VMMU_ERESTART) {
		park(v, mfn);
		return 1;
	}
	return 0;
}

/* Release an entry's references: 0, or 1 when its table was parked. */
static int put_entry(struct vmmu_pv_vcpu *v, uint64_t table, unsigned level,
		     uint64_t e)
{
	if (vmmu_pv_entry_put(v->d, table, level, e) == -VMMU_ERESTART) {
		park(v, entry_mfn(v->d, e));
		return 1;
	}
	return 0;
}

/* Give up the partial reference the vCPU owns: 0, or 1 when parked. */
static int drop_partial(struct vmmu_pv_vcpu *v)
{
	uint64_t mfn = v->pending_partial;

	if (mfn == 0) {
		return 0;
	}
	v->pending_partial = 0;
	if (vmmu_pv_table_abandon(v->d, mfn) == -VMMU_ERESTART) {
		park(v, mfn);
		return 1;
	}
	return 0;
}

/*
 * A table reference on mfn as `level`, continuing this vCPU's own partial
 * validation of it if it has one (and giving up another one first).
 * Returns 0, an error, or -VMMU_ERESTART: the vCPU owns a partial
 * reference now (or parked what it gave up): the request is retried.
 */
static int table_ref(struct vmmu_pv_vcpu *v, uint64_t mfn, unsigned level)
{
	int rc;

	if (v->pending_partial == mfn && v->pending_level == level) {
		v->pending_partial = 0;
		rc = vmmu_pv_table_continue(v->d, mfn, level);
	} else if (drop_partial(v) != 0) {
		return -VMMU_ERESTART;
	} else {
		rc = vmmu_pv_table_get(v->d, mfn, level);
	}
	if (rc == -VMMU_ERESTART) {
		v->pending_partial = mfn;
		v->pending_level = level;
	}
	return rc == -VMMU_EAGAIN ? -VMMU_ERESTART : rc;
}

/* Finish work left by an earlier call: 0, or -VMMU_ERESTART (more left). */
static int settle_vcpu(struct vmmu_pv_vcpu *v)
{
	for (unsigned i = 0; i < VMMU_PV_PARKED_MAX; i++) {
		if (v->pending_put[i] != 0) {
			if (vmmu_pv_table_put(v->d, v->pending_put[i]) != 0) {
				return -VMMU_ERESTART;
			}
			v->pending_put[i] = 0;
		}
	}
	return 0;
}

int vmmu_pv_vcpu_release(struct vmmu_pv_vcpu *v)
{
	uint64_t *bases[2] = {&v->user_base, &v->base};

	if (settle_vcpu(v) != 0 || drop_partial(v) != 0) {
		return -VMMU_ERESTART;
	}
	for (unsigned i = 0; i < 2; i++) {
		uint64_t mfn = *bases[i];
		if (mfn != 0) {
			*bases[i] = 0;
			if (put_table(v, mfn) != 0) {
				return -VMMU_ERESTART;
			}
		}
	}
	return 0;
}

/* --- the table an update goes to ------------------------------------------------- */

/* Drop the held table: 0, or 1 when its release was parked. */
static int release_held(struct call *c)
{
	if (c->t.level == 0) {
		return 0;
	}
	vmmu_unmap_table(c->d->plat, c->t.map);
	c->t.level = 0;
	/* Its last reference may be ours: a request may have dropped the rest. */
	return put_table(c->v, c->t.mfn);
}

/* The level of the validated table mfn is now, 0 if it is none. */
static unsigned table_level_now(const struct vmmu_pv_domain *d, uint64_t mfn)
{
	struct vmmu_frame_info i;

	if (vmmu_ft_info(d->ft, mfn, &i) != 0 || !i.validated ||
	    i.type_count == 0 || i.type < VMMU_FTYPE_L1 ||
	    i.type > VMMU_FTYPE_L4) {
		return 0;
	}
	return i.type;
}

/*
 * Hold a reference on the validated table mfn (kept for the following
 * requests while they go to the same table). Returns 0, -VMMU_ENOENT when
 * mfn is not a validated table right now, -VMMU_ERESTART (look again in
 * the next call), or another error.
 */
static int hold_table(struct call *c, uint64_t mfn)
{
	unsigned level;
	int rc;

	if (c->t.level != 0 && c->t.mfn == mfn) {
		return 0;
	}
	if (release_held(c) != 0) {
		return -VMMU_ERESTART;
	}
	level = table_level_now(c->d, mfn);
	if (level == 0) {
		return -VMMU_ENOENT;
	}
	/*
	 * Join the validated table, never validate it: if it was devalidated
	 * (or changed type) since the look, try again in the next call.
	 */
	rc = vmmu_ft_get(c->d->ft, mfn, c->d->id);
	if (rc != 0) {
		return rc;
	}
	if (vmmu_ft_get_type_validated(c->d->ft, mfn, level) != 0) {
		vmmu_ft_put(c->d->ft, mfn);
		return -VMMU_ERESTART;
	}
	c->t.map = vmmu_map_table(c->d->plat, mfn << 12);
	VMMU_CHECK(c->d->plat, c->t.map != NULL);
	c->t.mfn = mfn;
	c->t.level = level;
	return 0;
}

/*
 * A frame that is not a page table is ordinary memory: the update is a
 * plain store under a transient writable reference (Xen: an unpinned
 * table is written like any page). A frame in use as a table of another
 * kind (a descriptor table, a table being validated) is refused.
 */
static int store_plain(struct call *c, uint64_t mfn, unsigned index,
		       uint64_t val)
{
	vmmu_pte_t *p;
	int rc = vmmu_ft_get_type(c->d->ft, mfn, VMMU_FTYPE_WRITABLE, &c->d->ops);

	if (rc != 0) {
		return rc == -VMMU_EAGAIN ? -VMMU_ERESTART : rc;
	}
	/* A frame the platform cannot map is the embedder's, not a crash. */
	p = vmmu_map_table(c->d->plat, mfn << 12);
	if (p != NULL) {
		__atomic_store_n(&p[index], val, __ATOMIC_RELAXED);
		vmmu_unmap_table(c->d->plat, p);
	}
	VMMU_CHECK(c->d->plat,
		   vmmu_ft_put_type(c->d->ft, mfn, &c->d->ops) == 0);
	return p != NULL ? REQ_DONE : -VMMU_EFAULT;
}

/* --- one entry ---------------------------------------------------------------------- */

/* Old and new are both present and differ only where no reference is held. */
static bool fast_path(uint64_t old, uint64_t val)
{
	return (old & val & E_P) != 0 && ((old ^ val) & ~FAST_BITS) == 0;
}

/* The references the new entry needs; -VMMU_ERESTART: retry the request. */
static int take_new(struct call *c, unsigned level, uint64_t val)
{
	int rc;

	if (level == 1) {
		rc = vmmu_pv_l1_get(c->d, val, c->pg->id);
		return rc == -VMMU_EAGAIN ? -VMMU_ERESTART : rc;
	}
	if ((val & E_P) == 0) {
		return vmmu_pv_entry_get(c->d, c->t.mfn, level, val);
	}
	rc = vmmu_pv_entry_check_flags(c->d, level, val);
	if (rc != 0) {
		return rc;
	}
	rc = table_ref(c->v, entry_mfn(c->d, val), level - 1);
	if (rc == -VMMU_EBUSY) {
		rc = vmmu_pv_linear_get(c->d, c->t.mfn, level, val);
	}
	return rc;
}

/* Swap old for want; false when the entry changed meanwhile (*old updated). */
static bool swap_entry(vmmu_pte_t *p, uint64_t *old, uint64_t want)
{
	return __atomic_compare_exchange_n(p, old, want, false, __ATOMIC_ACQ_REL,
					   __ATOMIC_RELAXED);
}

/* Install val in entry `index` of the held table. */
static int update_entry(struct call *c, unsigned index, uint64_t val,
			bool preserve_ad)
{
	unsigned level = c->t.level;
	vmmu_pte_t *p = &c->t.map[index];
	uint64_t old = __atomic_load_n(p, __ATOMIC_RELAXED), want;
	int rc;

	if (l4_slot_reserved(c->d, level, index)) {
		return -VMMU_EINVAL; /* the hypervisor's slots */
	}
	for (;;) {
		want = preserve_ad ? val | (old & (E_A | E_D)) : val;
		if (fast_path(old, want)) {
			rc = vmmu_pv_entry_check_flags(c->d, level, want);
			if (rc != 0) {
				return rc;
			}
			if (swap_entry(p, &old, want)) {
				rc = REQ_DONE;
				break;
			}
			continue;
		}
		rc = take_new(c, level, want);
		if (rc != 0) {
			return rc;
		}
		if (swap_entry(p, &old, want)) {
			rc = put_entry(c->v, c->t.mfn, level, old) != 0
				     ? REQ_DONE_STOP
				     : REQ_DONE;
			break;
		}
		/* Another vCPU changed it first: give back and look again. */
		if (put_entry(c->v, c->t.mfn, level, want) != 0 ||
		    vmmu_should_yield(c->d->plat)) {
			return -VMMU_ERESTART;
		}
	}
	c->flush |= level > 1;
	return rc;
}

/* --- mmu_update ------------------------------------------------------------------------ */

/* Give back a foreign domain from get_pg_owner. */
static void put_pg_owner(struct call *c)
{
	const struct vmmu_pv_foreign_ops *fo = c->d->foreign;

	if (c->pg != NULL && c->pg != c->d && fo->put != NULL) {
		fo->put(fo->ctx, c->pg);
	}
	c->pg = c->d;
}

/*
 * The domain whose frames the call's new L1 entries map (Xen's pg_owner):
 * the caller's own, or the one the embedder's foreign ops give for data.
 * Page tables of another domain (Xen's pt_owner, the upper half), DOMID_IO
 * and DOMID_XEN are not offered. Returns 0 or -VMMU_EPERM.
 */
static int get_pg_owner(struct call *c, vmmu_domid_t data, uint32_t tables)
{
	const struct vmmu_pv_foreign_ops *fo = c->d->foreign;

	c->pg = c->d;
	if (tables != 0 && tables - 1 != c->d->id) {
		return -VMMU_EPERM;
	}
	if (data == VMMU_PV_DOMID_SELF || data == c->d->id) {
		return 0;
	}
	if (data > VMMU_PV_DOMID_SELF || fo == NULL || fo->get == NULL) {
		return -VMMU_EPERM;
	}
	c->pg = fo->get(fo->ctx, c->d, data);
	if (c->pg == NULL || c->pg->ft != c->d->ft) {
		put_pg_owner(c);
		return -VMMU_EPERM;
	}
	return 0;
}

/* M2P[mfn] = pfn, for a frame of the domain foreigndom names. */
static int set_m2p(struct call *c, uint64_t mfn, uint64_t pfn)
{
	int rc = vmmu_ft_get(c->d->ft, mfn, c->pg->id);

	if (rc != 0) {
		return rc;
	}
	__atomic_store_n(&c->pg->m2p[mfn], pfn, __ATOMIC_RELAXED);
	vmmu_ft_put(c->d->ft, mfn);
	return REQ_DONE;
}

static int one_update(struct call *c, const struct vmmu_pv_mmu_update *r)
{
	uint64_t cmd = r->ptr & VMMU_PV_MMU_CMD_MASK;
	uint64_t addr = r->ptr & ~VMMU_PV_MMU_CMD_MASK;
	uint64_t mfn = addr >> 12;
	unsigned index = (unsigned)((addr & 0xfffu) >> 3);
	int rc;

	if (cmd > 3 || (cmd == VMMU_PV_MMU_MACHPHYS_UPDATE && c->pg->m2p == NULL)) {
		return -VMMU_ENOTSUP; /* 4..7 are undefined */
	}
	if (mfn >= c->d->ft->nframes) {
		return -VMMU_EINVAL; /* before any frame record is read */
	}
	if (cmd == VMMU_PV_MMU_MACHPHYS_UPDATE) {
		return set_m2p(c, mfn, r->val);
	}
	/*
	 * The table the previous request went to: the call holds references
	 * on it already, so only ownership is checked (one load) instead of
	 * taking and dropping a reference per request.
	 */
	if (c->t.level != 0 && c->t.mfn == mfn) {
		if (!vmmu_ft_owned(c->d->ft, mfn, c->d->id)) {
			return -VMMU_EPERM;
		}
		return update_entry(c, index, r->val,
				    cmd == VMMU_PV_MMU_PT_UPDATE_PRESERVE_AD);
	}
	rc = vmmu_ft_get(c->d->ft, mfn, c->d->id);
	if (rc != 0) {
		return rc;
	}
	rc = hold_table(c, mfn);
	if (rc == -VMMU_ENOENT) {
		rc = store_plain(c, mfn, index, r->val);
	} else if (rc == 0) {
		rc = update_entry(c, index, r->val,
				  cmd == VMMU_PV_MMU_PT_UPDATE_PRESERVE_AD);
	}
	vmmu_ft_put(c->d->ft, mfn);
	return rc;
}

/*
 * End of a call: give up a paused validation no retry needs, release the
 * held table (parking is fine: the call is over), flush once for L2-L4
 * changes, even when stopping early.
 */
static void end_call(struct call *c, int rc)
{
	/*
	 * A paused validation is kept only for the retry of the request that
	 * made it (the call then ends with -VMMU_ERESTART): otherwise it is
	 * given up now, or other vCPUs would wait on it until this one made
	 * another table call.
	 */
	if (rc != -VMMU_ERESTART) {
		(void)drop_partial(c->v);
	}
	(void)release_held(c);
	if (c->flush) {
		flush(c->d, VMMU_TLB_ALL_NONGLOBAL, 0, 0, NULL, 0);
	}
}

/*
 * Run requests [*done, count) with one_req; the common frame of
 * mmu_update and mmuext_op (done, stop and continue rules in pv.h).
 */
static int run_batch(struct call *c, const void *reqs, size_t size,
		     uint32_t count, uint32_t *done,
		     int (*one_req)(struct call *, const void *))
{
	uint32_t i = *done;
	int rc = settle_vcpu(c->v);

	for (; rc == 0 && i < count; i++) {
		if (i != *done && vmmu_should_yield(c->d->plat)) {
			rc = -VMMU_ERESTART;
			break;
		}
		rc = one_req(c, (const char *)reqs + (size_t)i * size);
		if (rc == REQ_DONE_STOP) {
			i++;
			rc = -VMMU_ERESTART;
			break;
		}
		if (rc != 0) {
			break;
		}
	}
	*done = i;
	end_call(c, rc);
	return rc;
}

static int one_update_cb(struct call *c, const void *r)
{
	return one_update(c, r);
}

/* The checks both batch hypercalls start with, then the batch. */
static int batch_call(struct vmmu_pv_vcpu *v, const void *reqs, size_t size,
		      uint32_t count, uint32_t *done, uint32_t foreigndom,
		      int (*one_req)(struct call *, const void *))
{
	struct call c = {.v = v};
	int rc;

	if (v == NULL || done == NULL || *done > count ||
	    (reqs == NULL && count != 0)) {
		return -VMMU_EINVAL;
	}
	c.d = v->d;
	rc = get_pg_owner(&c, (vmmu_domid_t)(foreigndom & 0xffffu),
			  foreigndom >> 16);
	if (rc == 0) {
		rc = run_batch(&c, reqs, size, count, done, one_req);
	}
	put_pg_owner(&c);
	return rc;
}

int vmmu_pv_mmu_update(struct vmmu_pv_vcpu *v,
		       const struct vmmu_pv_mmu_update *reqs, uint32_t count,
		       uint32_t *done, uint32_t foreigndom)
{
	return batch_call(v, reqs, sizeof(*reqs), count, done, foreigndom,
			  one_update_cb);
}

/* --- mmuext_op ------------------------------------------------------------------------- */

static bool canonical48(uint64_t va)
{
	return (uint64_t)((int64_t)(va << 16) >> 16) == va;
}

/* Which vCPUs a flush is for. */
enum flush_target { FLUSH_LOCAL, FLUSH_ALL, FLUSH_MULTI };

/* The CPU mask of a flush for `target`: words used, or a negative error. */
struct flush_mask {
	uint64_t bits[64];
	uint32_t words; /* 0: the whole domain (NULL mask) */
};

static int resolve_mask(const struct call *c, enum flush_target target,
			uint64_t bitmap, struct flush_mask *m)
{
	const struct vmmu_pv_guest_ops *g = c->d->guest;

	__builtin_memset(m, 0, sizeof(*m));
	if (target == FLUSH_ALL) {
		return 0;
	}
	if (target == FLUSH_LOCAL) {
		m->bits[c->v->id / 64] = 1ull << (c->v->id % 64);
		m->words = c->v->id / 64 + 1;
		return 0;
	}
	if (g == NULL || g->copy_from_guest == NULL || c->d->nr_vcpus == 0) {
		return -VMMU_ENOTSUP;
	}
	if (g->copy_from_guest(g->ctx, c->v, m->bits, bitmap,
			       (c->d->nr_vcpus + 7) / 8) != 0) {
		return -VMMU_EFAULT;
	}
	m->words = (c->d->nr_vcpus + 63) / 64;
	return 0;
}

static void flush_mask(const struct call *c, const struct flush_mask *m,
		       uint32_t scope, uint64_t va)
{
	flush(c->d, scope, va, scope == VMMU_TLB_RANGE ? 4096 : 0,
	      m->words != 0 ? m->bits : NULL, m->words);
}

/* Flush for this vCPU, the domain, or the vCPUs in a guest bitmap. */
static int flush_for(const struct call *c, enum flush_target target,
		     uint64_t bitmap, uint32_t scope, uint64_t va)
{
	struct flush_mask m;
	int rc = resolve_mask(c, target, bitmap, &m);

	if (rc == 0) {
		flush_mask(c, &m, scope, va);
	}
	return rc;
}

static int pin(struct call *c, uint64_t mfn, unsigned level)
{
	int rc;

	if (mfn >= c->d->ft->nframes) {
		return -VMMU_EINVAL;
	}
	rc = table_ref(c->v, mfn, level);
	if (rc != 0) {
		return rc;
	}
	rc = vmmu_ft_pin(c->d->ft, mfn);
	if (rc != 0) {
		(void)put_table(c->v, mfn); /* already pinned: not nested */
		return rc;
	}
	return REQ_DONE;
}

static int unpin(struct call *c, uint64_t mfn)
{
	int rc, parked;

	if (mfn >= c->d->ft->nframes) {
		return -VMMU_EINVAL;
	}
	/* Only the owner may unpin: hold it while its pin goes. */
	rc = vmmu_ft_get(c->d->ft, mfn, c->d->id);
	if (rc != 0) {
		return rc;
	}
	rc = vmmu_ft_unpin(c->d->ft, mfn);
	if (rc != 0) {
		vmmu_ft_put(c->d->ft, mfn);
		return rc;
	}
	parked = put_table(c->v, mfn);
	vmmu_ft_put(c->d->ft, mfn);
	return parked ? REQ_DONE_STOP : REQ_DONE;
}

/* A new kernel (user false) or user L4; user mfn 0 means none. */
static int new_base(struct call *c, uint64_t mfn, bool user)
{
	uint64_t *slot = user ? &c->v->user_base : &c->v->base;
	uint64_t old = *slot;
	int rc;

	if (mfn == old) {
		return REQ_DONE; /* the embedder reloads CR3 */
	}
	if (mfn != 0 || !user) {
		if (mfn == 0 || mfn >= c->d->ft->nframes) {
			return -VMMU_EINVAL;
		}
		rc = table_ref(c->v, mfn, 4);
		if (rc != 0) {
			return rc;
		}
	}
	*slot = mfn;
	if (old != 0 && put_table(c->v, old) != 0) {
		return REQ_DONE_STOP;
	}
	return REQ_DONE;
}

static enum flush_target flush_target_of(uint32_t cmd)
{
	switch (cmd) {
	case VMMU_PV_MMUEXT_TLB_FLUSH_LOCAL:
	case VMMU_PV_MMUEXT_INVLPG_LOCAL:
		return FLUSH_LOCAL;
	case VMMU_PV_MMUEXT_TLB_FLUSH_MULTI:
	case VMMU_PV_MMUEXT_INVLPG_MULTI:
		return FLUSH_MULTI;
	default:
		return FLUSH_ALL;
	}
}

static int one_ext(struct call *c, const struct vmmu_pv_mmuext_op *op)
{
	uint64_t a = op->arg1.mfn;

	if (c->pg != c->d) {
		return -VMMU_EPERM; /* no command acts for another domain */
	}
	switch (op->cmd) {
	case VMMU_PV_MMUEXT_PIN_L1_TABLE:
	case VMMU_PV_MMUEXT_PIN_L2_TABLE:
	case VMMU_PV_MMUEXT_PIN_L3_TABLE:
	case VMMU_PV_MMUEXT_PIN_L4_TABLE:
		return pin(c, a, op->cmd - VMMU_PV_MMUEXT_PIN_L1_TABLE + 1);
	case VMMU_PV_MMUEXT_UNPIN_TABLE:
		return unpin(c, a);
	case VMMU_PV_MMUEXT_NEW_BASEPTR:
		return new_base(c, a, false);
	case VMMU_PV_MMUEXT_NEW_USER_BASEPTR:
		return new_base(c, a, true);
	case VMMU_PV_MMUEXT_TLB_FLUSH_LOCAL:
	case VMMU_PV_MMUEXT_TLB_FLUSH_MULTI:
	case VMMU_PV_MMUEXT_TLB_FLUSH_ALL:
		return flush_for(c, flush_target_of(op->cmd), op->arg2.vcpumask,
				 VMMU_TLB_ALL_NONGLOBAL, 0);
	case VMMU_PV_MMUEXT_INVLPG_LOCAL:
	case VMMU_PV_MMUEXT_INVLPG_MULTI:
	case VMMU_PV_MMUEXT_INVLPG_ALL:
		/* A non-canonical address invalidates nothing (XSA-279). */
		if (!canonical48(op->arg1.linear_addr)) {
			return REQ_DONE;
		}
		return flush_for(c, flush_target_of(op->cmd), op->arg2.vcpumask,
				 VMMU_TLB_RANGE, op->arg1.linear_addr & ~0xfffull);
	default:
		return -VMMU_ENOTSUP;
	}
}

static int one_ext_cb(struct call *c, const void *op)
{
	return one_ext(c, op);
}

int vmmu_pv_mmuext_op(struct vmmu_pv_vcpu *v,
		      const struct vmmu_pv_mmuext_op *ops, uint32_t count,
		      uint32_t *done, uint32_t foreigndom)
{
	return batch_call(v, ops, sizeof(*ops), count, done, foreigndom,
			  one_ext_cb);
}

/* --- update_va_mapping ---------------------------------------------------------------- */

/*
 * The L1 table and index that map va under the vCPU's base, or 0. The
 * walk goes through validated guest tables only: an address in one of
 * the hypervisor's L4 slots is refused by the caller first.
 */
static uint64_t find_l1(const struct call *c, uint64_t va, unsigned *index)
{
	uint64_t mfn = c->v->base;

	for (unsigned level = 4; level > 1; level--) {
		const vmmu_pte_t *t = vmmu_map_table(c->d->plat, mfn << 12);
		uint64_t e;

		if (t == NULL) {
			return 0;
		}
		e = __atomic_load_n(&t[(va >> (12 + 9 * (level - 1))) & 511],
				    __ATOMIC_RELAXED);
		vmmu_unmap_table(c->d->plat, (vmmu_pte_t *)(uintptr_t)t);
		if ((e & E_P) == 0 || (e & E_PS) != 0) {
			return 0;
		}
		mfn = entry_mfn(c->d, e);
	}
	*index = (unsigned)((va >> 12) & 511);
	return mfn;
}

static int update_va(struct call *c, uint64_t va, uint64_t val)
{
	unsigned index;
	uint64_t l1;
	int rc;

	/* The hypervisor's own L4 slots are not the guest's to change. */
	if (!canonical48(va) || c->v->base == 0 ||
	    l4_slot_reserved(c->d, 4, (unsigned)((va >> 39) & 511))) {
		return -VMMU_EINVAL;
	}
	l1 = find_l1(c, va, &index);
	if (l1 == 0 || l1 >= c->d->ft->nframes) {
		return -VMMU_ENOENT;
	}
	rc = hold_table(c, l1);
	if (rc == -VMMU_ENOENT || (rc == 0 && c->t.level != 1)) {
		return -VMMU_ENOENT; /* not an L1 table (any more) */
	}
	if (rc != 0) {
		return rc;
	}
	return update_entry(c, index, val, false);
}

static int uva_call(struct vmmu_pv_vcpu *v, uint64_t va, uint64_t val,
		    uint64_t flags, vmmu_domid_t domid)
{
	struct call c = {.v = v};
	uint64_t target = flags & ~VMMU_PV_UVMF_FLUSHTYPE_MASK;
	uint64_t type = flags & VMMU_PV_UVMF_FLUSHTYPE_MASK;
	enum flush_target who = target == VMMU_PV_UVMF_LOCAL ? FLUSH_LOCAL
				: target == VMMU_PV_UVMF_ALL ? FLUSH_ALL
							     : FLUSH_MULTI;
	struct flush_mask m;
	int rc;

	if (v == NULL || type == 3) {
		return -VMMU_EINVAL;
	}
	c.d = v->d;
	rc = get_pg_owner(&c, domid, 0);
	/* Read a vCPU bitmap first: a bad one refuses the whole call. */
	if (rc == 0 && type != VMMU_PV_UVMF_NONE) {
		rc = resolve_mask(&c, who, target, &m);
	}
	if (rc == 0) {
		rc = settle_vcpu(v);
	}
	if (rc == 0) {
		rc = update_va(&c, va, val);
	}
	end_call(&c, rc == REQ_DONE_STOP ? 0 : rc);
	put_pg_owner(&c);
	if (rc == REQ_DONE_STOP) {
		rc = 0; /* done; what was parked is finished by the next call */
	}
	if (rc != 0) {
		return rc; /* never flush for a refused update (XSA-279) */
	}
	if (type == VMMU_PV_UVMF_TLB_FLUSH) {
		flush_mask(&c, &m, VMMU_TLB_ALL_NONGLOBAL, 0);
	} else if (type == VMMU_PV_UVMF_INVLPG) {
		flush_mask(&c, &m, VMMU_TLB_RANGE, va & ~0xfffull);
	}
	return 0;
}

int vmmu_pv_update_va_mapping(struct vmmu_pv_vcpu *v, uint64_t va,
			      uint64_t val, uint64_t flags)
{
	return uva_call(v, va, val, flags, VMMU_PV_DOMID_SELF);
}

int vmmu_pv_update_va_mapping_otherdomain(struct vmmu_pv_vcpu *v, uint64_t va,
					  uint64_t val, uint64_t flags,
					  vmmu_domid_t domid)
{
	return uva_call(v, va, val, flags, domid);
}
