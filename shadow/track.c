/* SPDX-License-Identifier: MIT */
/*
 * Write tracking: a guest frame is tracked while a (non-direct) shadow
 * page shadows it. Guest stores to a tracked, in-sync frame trap (its
 * shadow leaves are read-only) and are emulated through vmmu_shadow_write,
 * which applies the store and drops the shadow entries derived from the
 * guest entry it touched, in every role. A guest that sends its stores
 * as a batch (vmmu_shadow_write_batch) pays one hash lookup per guest
 * table and one flush per batch. Frames written like data (partial or
 * misaligned stores, or repeated stores no fault uses: KVM's write
 * flooding) stop being shadowed.
 */
#include "internal.h"

#define SH_BATCH_TABS 4u /* guest tables a batch keeps open */
#define SH_BATCH_SP 4u   /* shadows per table handled in place */

/* Store size bytes of value at the host pointer p. */
static void store_sized(uint8_t *p, uint64_t value, unsigned size)
{
	if (((uintptr_t)p & (size - 1)) != 0) {
		for (unsigned i = 0; i < size; i++) { /* split, as the CPU may */
			__atomic_store_n(p + i, (uint8_t)(value >> (8 * i)),
					 __ATOMIC_RELEASE);
		}
		return;
	}
	switch (size) {
	case 1:
		__atomic_store_n(p, (uint8_t)value, __ATOMIC_RELEASE);
		break;
	case 2:
		__atomic_store_n((uint16_t *)(void *)p, (uint16_t)value, __ATOMIC_RELEASE);
		break;
	case 4:
		__atomic_store_n((uint32_t *)(void *)p, (uint32_t)value, __ATOMIC_RELEASE);
		break;
	default:
		__atomic_store_n((uint64_t *)(void *)p, value, __ATOMIC_RELEASE);
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

/*
 * Stop shadowing guest frame gfn: zap every shadow of it that no vCPU
 * holds as a root (one flush for all). Roots stay; their entries were
 * dropped by the caller.
 */
void sh_unshadow(struct vmmu_shadow *sh, uint64_t gfn)
{
	bool again = true;

	while (again) {
		again = false;
		SH_FOR_GFN(sh, gfn, i) {
			if (!sh_is_direct(sh->pages[i].role) && sh->pages[i].roots == 0) {
				sh_zap_page(sh, i);
				again = true;
				break;
			}
		}
	}
	sh->stat_unshadow++;
	sh_zap_commit(sh);
}

/* What one emulated store did to the shadows of its frame. */
struct sh_store_effect {
	bool shadowed; /* the frame has shadows (is tracked) */
	bool dropped;  /* a present entry went */
	bool flooded;  /* a page no root holds reached SH_FLOOD_LIMIT */
};

/*
 * A store of size bytes at gpa: in one pass over the frame's shadows,
 * drop the entries of the slot(s) it touched and count it against write
 * flooding. Then unshadow the frame if it is used as data: KVM's
 * misaligned rule (a store that does not cover whole entries, or smaller
 * than 4 bytes) or flooding.
 */
static void track_store(struct vmmu_shadow *sh, uint64_t gpa, unsigned size)
{
	uint64_t gfn = gpa >> VMMU_PAGE_SHIFT;
	unsigned first = (unsigned)((gpa & ~VMMU_PAGE_MASK) / sizeof(vmmu_pte_t));
	unsigned last = (unsigned)(((gpa & ~VMMU_PAGE_MASK) + size - 1) /
				   sizeof(vmmu_pte_t));
	bool partial = first != last || size < 4;
	struct sh_store_effect fx = {0};

	SH_FOR_GFN(sh, gfn, i) {
		struct vmmu_shadow_page *p = &sh->pages[i];
		if (sh_is_direct(p->role)) {
			continue;
		}
		fx.shadowed = true;
		for (unsigned k = first; k <= last; k++) {
			fx.dropped |= sh_slot_drop(sh, i, k);
		}
		fx.flooded |= !partial && ++p->flood >= SH_FLOOD_LIMIT && p->roots == 0;
	}
	if (fx.shadowed && (partial || fx.flooded)) {
		sh_unshadow(sh, gfn);
	}
	if (fx.dropped) {
		sh->stat_write_zaps++;
		sh_flush_all(sh, VMMU_TLB_ALL);
	}
}

int vmmu_shadow_write(struct vmmu_shadow_vcpu *v, uint64_t gpa,
		      uint64_t value, unsigned size)
{
	if (v == NULL || (size != 1 && size != 2 && size != 4 && size != 8)) {
		return -VMMU_EINVAL;
	}
	if ((gpa & ~VMMU_PAGE_MASK) + size > VMMU_PAGE_SIZE) {
		return -VMMU_EALIGN; /* the emulator splits page-crossing stores */
	}
	int rc = guest_store(v->walker.plat, gpa, value, size);
	if (rc != 0) {
		return rc;
	}
	track_store(v->sh, gpa, size); /* nothing to do for an untracked frame */
	return 0;
}

/* A guest table a batch is writing: mapped, with its shadows mapped. */
struct sh_batch_tab {
	uint64_t gfn;                    /* ~0: unused */
	vmmu_pte_t *table;               /* the guest table */
	uint32_t n;                      /* its shadow pages; > SH_BATCH_SP: many */
	uint32_t idx[SH_BATCH_SP];
	vmmu_pte_t *shadow[SH_BATCH_SP]; /* their tables */
};

/* A batch keeps the last few guest tables open: a fork alternates between
 * the parent's and the child's table, a range update stays on one. */
struct sh_batch {
	struct sh_batch_tab tab[SH_BATCH_TABS];
	unsigned next; /* round-robin victim */
	bool flush;
};

static void tab_close(struct vmmu_shadow_vcpu *v, struct sh_batch_tab *t)
{
	uint32_t n = t->n < SH_BATCH_SP ? t->n : SH_BATCH_SP;

	if (t->gfn == ~0ull) {
		return;
	}
	for (uint32_t j = 0; j < n; j++) {
		vmmu_unmap_table(v->sh->plat, t->shadow[j]);
	}
	vmmu_unmap_table(v->walker.plat, t->table);
	t->gfn = ~0ull;
}

static int tab_open(struct vmmu_shadow_vcpu *v, struct sh_batch_tab *t,
		    uint64_t gfn)
{
	struct vmmu_shadow *sh = v->sh;

	t->table = vmmu_map_table(v->walker.plat, gfn << VMMU_PAGE_SHIFT);
	if (t->table == NULL) {
		return -VMMU_EFAULT;
	}
	t->gfn = gfn;
	t->n = 0;
	SH_FOR_GFN(sh, gfn, i) {
		if (sh_is_direct(sh->pages[i].role)) {
			continue;
		}
		if (t->n < SH_BATCH_SP) {
			t->idx[t->n] = i;
			t->shadow[t->n] = vmmu_map_table(sh->plat, sh->pages[i].hpa);
		}
		t->n++;
	}
	return 0;
}

/* The open table for gfn, opening it (closing the oldest) when needed. */
static struct sh_batch_tab *batch_tab(struct vmmu_shadow_vcpu *v,
				      struct sh_batch *b, uint64_t gfn, int *rc)
{
	for (unsigned k = 0; k < SH_BATCH_TABS; k++) {
		if (b->tab[k].gfn == gfn) {
			return &b->tab[k];
		}
	}
	struct sh_batch_tab *t = &b->tab[b->next];
	b->next = (b->next + 1) % SH_BATCH_TABS;
	tab_close(v, t);
	*rc = tab_open(v, t, gfn);
	return *rc == 0 ? t : NULL;
}

/*
 * Update the shadows of one stored entry: a guest change that only takes
 * W away keeps each leaf and takes W from it (a fork's write-protect; the
 * frame is unchanged, so the reverse map is too); anything else drops the
 * derived entries.
 */
static void batch_shadow(struct vmmu_shadow *sh, struct sh_batch *b,
			 struct sh_batch_tab *t, unsigned slot, vmmu_pte_t old,
			 vmmu_pte_t e)
{
	const struct vmmu_fmt_level *lv = &sh->fmt->level[1];
	bool only_w = (old & ~e) == lv->write && (e & ~old) == 0;

	if (t->n > SH_BATCH_SP) {
		b->flush |= sh_drop_slot_all(sh, t->gfn, slot);
		return;
	}
	for (uint32_t j = 0; j < t->n; j++) {
		vmmu_pte_t s = vmmu_pte_load(&t->shadow[j][slot]);
		if (s == 0) {
			continue;
		}
		b->flush = true;
		if (only_w && sh_role_level(sh->pages[t->idx[j]].role) == 1) {
			vmmu_pte_store(&t->shadow[j][slot], s & ~lv->write);
		} else {
			sh_slot_drop(sh, t->idx[j], slot);
		}
	}
}

static int batch_one(struct vmmu_shadow_vcpu *v, struct sh_batch *b,
		     const struct vmmu_shadow_store *st)
{
	const struct vmmu_fmt_level *gl = &v->walker.fmt->level[1];
	uint64_t gpa = st->gpa & ~(uint64_t)VMMU_SHADOW_STORE_PRESERVE_AD;
	unsigned slot = (unsigned)((gpa & ~VMMU_PAGE_MASK) / sizeof(vmmu_pte_t));
	int rc = 0;

	if ((gpa & (sizeof(vmmu_pte_t) - 1)) != 0) {
		return -VMMU_EALIGN;
	}
	struct sh_batch_tab *t = batch_tab(v, b, gpa >> VMMU_PAGE_SHIFT, &rc);
	if (t == NULL) {
		return rc;
	}
	vmmu_pte_t old = vmmu_pte_load(&t->table[slot]);
	vmmu_pte_t e = st->value;
	if (st->gpa & VMMU_SHADOW_STORE_PRESERVE_AD) {
		e |= old & (gl->accessed | gl->dirty);
	}
	vmmu_pte_store(&t->table[slot], e);
	if (t->n != 0 && old != e) {
		batch_shadow(v->sh, b, t, slot, old, e);
	}
	return 0;
}

int vmmu_shadow_write_batch(struct vmmu_shadow_vcpu *v,
			    const struct vmmu_shadow_store *st, uint32_t n,
			    uint32_t *done)
{
	struct sh_batch b = {.next = 0};
	int rc = 0;
	uint32_t i = 0;

	if (done != NULL) {
		*done = 0;
	}
	if (v == NULL || done == NULL || (st == NULL && n != 0)) {
		return -VMMU_EINVAL;
	}
	for (unsigned k = 0; k < SH_BATCH_TABS; k++) {
		b.tab[k].gfn = ~0ull;
	}
	for (; i < n && rc == 0; i++) {
		rc = batch_one(v, &b, &st[i]);
	}
	for (unsigned k = 0; k < SH_BATCH_TABS; k++) {
		tab_close(v, &b.tab[k]);
	}
	*done = rc == 0 ? n : i - 1;
	if (b.flush) {
		v->sh->stat_write_zaps++;
		sh_flush_all(v->sh, VMMU_TLB_ALL);
	}
	return rc;
}

/* Drop the shadow leaf (4K or 2M) for gva under the vCPU's root, if any. */
static void drop_leaf(struct vmmu_shadow *sh, uint64_t root, uint64_t gva)
{
	const struct vmmu_fmt *fmt = sh->fmt;
	uint64_t table = root;

	for (unsigned l = fmt->levels; l > 1; l--) {
		vmmu_pte_t e;
		uint64_t slot = table + vmmu_fmt_index(fmt, l, gva) * sizeof(e);
		if (!vmmu_pte_read_at(sh->plat, slot, &e) ||
		    !vmmu_pte_present(fmt, l, e)) {
			return;
		}
		if (e & fmt->level[l].ps) {
			int32_t big = sh_find_hpa(sh, table);
			VMMU_CHECK(sh->plat, big >= 0);
			sh_upper_set(sh, (uint32_t)big, vmmu_fmt_index(fmt, l, gva), 0);
			return;
		}
		table = e & fmt->level[l].addr_table;
	}
	int32_t idx = sh_find_hpa(sh, table);
	VMMU_CHECK(sh->plat, idx >= 0);
	sh_leaf_set(sh, (uint32_t)idx, vmmu_fmt_index(fmt, 1, gva), 0);
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
	sh_flush_range(v->sh, gva & VMMU_PAGE_MASK, VMMU_PAGE_SIZE);
	return 0;
}
