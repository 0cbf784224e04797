/* SPDX-License-Identifier: MIT */
/*
 * x86-64 guest page walk (SDM Vol. 3A §4.5 translation, §4.6 access rights,
 * §4.7 page-fault exceptions, §4.8 A/D flags).
 *
 * The walk reads one entry per level, stops at a not-present entry (#PF,
 * P=0) or at a present entry with reserved bits (#PF, P=1|RSVD), and
 * accumulates rights: W and U are ANDed over the levels, XD is ORed. The
 * permission decision is one table look-up: perm_fault[access][rights],
 * rebuilt by vmmu_walker_set_cpu() only when CR0/CR4/EFER change.
 * Protection keys come from the leaf only (§4.6.2).
 *
 * A/D are written only after the walk succeeded, with compare-exchange on
 * the exact value read; if an entry changed since, the walk starts over,
 * so the flags are never set in an entry that no longer translates the
 * address (KVM's walk_addr_generic and Xen's guest_walk_tables do the
 * same).
 */
#include "internal.h"

/* Rights accumulated over the levels: bit set = allowed. */
enum { RIGHT_W = 1u << 0, RIGHT_U = 1u << 1, RIGHT_X = 1u << 2, RIGHT_ALL = 7u };

/* Permission-table index bits, from the access. */
enum { IDX_W = 1u << 0, IDX_U = 1u << 1, IDX_F = 1u << 2, IDX_AC = 1u << 3 };

/* pk_check[] bits. */
enum { PK_USER_PAGES = 1u << 0, PK_SUPER_PAGES = 1u << 1, PK_WD_APPLIES = 1u << 2 };

#define WALK_MAX_RETRIES 1000u

static const uint32_t known_access = VMMU_ACC_WRITE | VMMU_ACC_USER |
				     VMMU_ACC_FETCH | VMMU_ACC_IMPLICIT |
				     VMMU_ACC_AC | VMMU_ACC_PEEK;

/* --- tables derived from the CPU state ------------------------------------ */

/* Does an access of kind idx fault on a page with `rights`? (SDM §4.6.1) */
static bool access_faults(const struct vmmu_cpu_state *cpu, unsigned idx,
			  unsigned rights)
{
	bool write = idx & IDX_W, user = idx & IDX_U, fetch = idx & IDX_F;
	bool upage = rights & RIGHT_U;

	if (user) {
		return !upage || (write && !(rights & RIGHT_W)) ||
		       (fetch && !(rights & RIGHT_X));
	}
	if (write && !(rights & RIGHT_W) && (cpu->cr0 & VMMU_CR0_WP)) {
		return true;
	}
	if (fetch) {
		/* SMEP: no supervisor fetch from a user page, whatever WP says. */
		return !(rights & RIGHT_X) || (upage && (cpu->cr4 & VMMU_CR4_SMEP));
	}
	/* SMAP: supervisor data access to a user page, unless AC overrides. */
	return upage && (cpu->cr4 & VMMU_CR4_SMAP) && !(idx & IDX_AC);
}

static void build_perm_tables(struct vmmu_walker *w)
{
	const struct vmmu_cpu_state *cpu = &w->cpu;

	for (unsigned idx = 0; idx < 16; idx++) {
		uint8_t mask = 0;
		for (unsigned r = 0; r <= RIGHT_ALL; r++) {
			mask |= (uint8_t)(access_faults(cpu, idx, r) << r);
		}
		w->perm_fault[idx] = mask;
		/* Keys apply to data accesses only (§4.6.2). */
		uint8_t pk = 0;
		if (!(idx & IDX_F)) {
			pk |= (cpu->cr4 & VMMU_CR4_PKE) ? PK_USER_PAGES : 0;
			pk |= (cpu->cr4 & VMMU_CR4_PKS) ? PK_SUPER_PAGES : 0;
		}
		/* WD stops user writes, and supervisor writes when CR0.WP=1. */
		if ((idx & IDX_W) && ((idx & IDX_U) || (cpu->cr0 & VMMU_CR0_WP))) {
			pk |= PK_WD_APPLIES;
		}
		w->pk_check[idx] = pk;
	}
}

static void build_rsvd_masks(struct vmmu_walker *w)
{
	const struct vmmu_fmt *fmt = w->fmt;
	bool nxe = (w->cpu.efer & VMMU_EFER_NXE) != 0;

	for (unsigned l = 1; l <= fmt->levels; l++) {
		const struct vmmu_fmt_level *lv = &fmt->level[l];
		/* XD is reserved at every level when EFER.NXE=0 (§4.5.4). */
		uint64_t nx = nxe ? 0 : lv->nx;
		w->rsvd_table[l] = lv->rsvd_table | nx;
		w->rsvd_leaf[l] = lv->rsvd_leaf | nx;
	}
}

static bool cpu_state_ok(const struct vmmu_fmt *fmt,
			 const struct vmmu_cpu_state *cpu)
{
	bool la57 = (cpu->cr4 & VMMU_CR4_LA57) != 0;

	return (cpu->cr0 & VMMU_CR0_PG) && (cpu->cr0 & VMMU_CR0_PE) &&
	       (cpu->cr4 & VMMU_CR4_PAE) && (cpu->efer & VMMU_EFER_LMA) &&
	       la57 == (fmt->levels == 5);
}

/* Bits whose change alters translation (PKRU/PKRS are read at walk time). */
static bool paging_bits_differ(const struct vmmu_cpu_state *a,
			       const struct vmmu_cpu_state *b)
{
	const uint64_t cr0 = VMMU_CR0_PE | VMMU_CR0_PG | VMMU_CR0_WP;
	const uint64_t cr4 = VMMU_CR4_PAE | VMMU_CR4_LA57 | VMMU_CR4_SMEP |
			     VMMU_CR4_SMAP | VMMU_CR4_PKE | VMMU_CR4_PKS;
	const uint64_t efer = VMMU_EFER_LMA | VMMU_EFER_NXE;

	return ((a->cr0 ^ b->cr0) & cr0) || ((a->cr4 ^ b->cr4) & cr4) ||
	       ((a->efer ^ b->efer) & efer);
}

int vmmu_walker_set_cpu(struct vmmu_walker *w, const struct vmmu_cpu_state *cpu)
{
	if (w == NULL || cpu == NULL || !cpu_state_ok(w->fmt, cpu)) {
		return -VMMU_EINVAL;
	}
	bool rebuild = paging_bits_differ(&w->cpu, cpu) || w->levels == 0;
	w->cpu = *cpu;
	if (rebuild) {
		build_rsvd_masks(w);
		build_perm_tables(w);
		w->wp = (cpu->cr0 & VMMU_CR0_WP) != 0;
		w->levels = (uint8_t)w->fmt->levels;
	}
	return 0;
}

int vmmu_walker_init(struct vmmu_walker *w, const struct vmmu_fmt *fmt,
		     const struct vmmu_platform *plat,
		     const struct vmmu_cpu_state *cpu)
{
	if (w == NULL || fmt == NULL || fmt->kind != VMMU_FMT_X86 ||
	    vmmu_platform_check(plat) != 0 || cpu == NULL ||
	    !cpu_state_ok(fmt, cpu)) {
		return -VMMU_EINVAL;
	}
	*w = (struct vmmu_walker){.fmt = fmt, .plat = plat};
	w->cr3_addr_mask = fmt->level[fmt->levels].addr_table;
	return vmmu_walker_set_cpu(w, cpu);
}

/* --- the walk ---------------------------------------------------------------- */

static unsigned access_index(uint32_t access)
{
	unsigned idx = 0;

	idx |= (access & VMMU_ACC_WRITE) ? IDX_W : 0;
	idx |= (access & VMMU_ACC_USER) ? IDX_U : 0;
	idx |= (access & VMMU_ACC_FETCH) ? IDX_F : 0;
	/* EFLAGS.AC lifts SMAP only for explicit supervisor accesses (§4.6.1). */
	if ((access & (VMMU_ACC_AC | VMMU_ACC_USER | VMMU_ACC_IMPLICIT)) ==
	    VMMU_ACC_AC) {
		idx |= IDX_AC;
	}
	return idx;
}

/* Error-code bits that come from the access itself (§4.7). */
static uint32_t access_pfec(const struct vmmu_walker *w, uint32_t access)
{
	uint32_t pfec = access & (VMMU_PFEC_W | VMMU_PFEC_U);

	/* I/D is reported only with EFER.NXE=1 or CR4.SMEP=1. */
	if ((access & VMMU_ACC_FETCH) &&
	    ((w->cpu.efer & VMMU_EFER_NXE) || (w->cpu.cr4 & VMMU_CR4_SMEP))) {
		pfec |= VMMU_PFEC_I;
	}
	return pfec;
}

static bool canonical(const struct vmmu_fmt *fmt, uint64_t va)
{
	unsigned unused = 64 - fmt->va_bits;

	return (uint64_t)((int64_t)(va << unused) >> unused) == va;
}

/* Protection-key violation of a data access (§4.6.2); keys from the leaf. */
static bool pk_violation(const struct vmmu_walker *w, unsigned idx,
			 unsigned rights, const struct vmmu_fmt_level *leaf_lv,
			 vmmu_pte_t leaf)
{
	unsigned check = w->pk_check[idx];
	bool upage = rights & RIGHT_U;

	if (!(check & (upage ? PK_USER_PAGES : PK_SUPER_PAGES))) {
		return false;
	}
	unsigned key = (unsigned)((leaf & leaf_lv->pkey) >> leaf_lv->pkey_shift);
	uint32_t reg = upage ? w->cpu.pkru : w->cpu.pkrs;
	uint32_t bits = reg >> (2 * key);
	return (bits & 1) || ((bits & 2) && (check & PK_WD_APPLIES));
}

/* Set A (and D on a write leaf) on every level that lacks it. */
static int set_ad_bits(const struct vmmu_walker *w, struct vmmu_walk *out,
		       bool write, uint32_t *changed_level)
{
	const struct vmmu_fmt *fmt = w->fmt;

	for (unsigned l = out->top_level; l >= out->level; l--) {
		const struct vmmu_fmt_level *lv = &fmt->level[l];
		vmmu_pte_t old = out->pte[l];
		vmmu_pte_t want = old | lv->accessed;
		if (l == out->level && write) {
			want |= lv->dirty;
		}
		if (want == old) {
			continue;
		}
		uint64_t table = out->pte_addr[l] & VMMU_PAGE_MASK;
		vmmu_pte_t *t = vmmu_map_table(w->plat, table);
		if (t == NULL) {
			return -VMMU_EFAULT;
		}
		bool ok = vmmu_pte_cmpxchg(
			&t[(out->pte_addr[l] & ~VMMU_PAGE_MASK) / sizeof(vmmu_pte_t)],
			old, want);
		vmmu_unmap_table(w->plat, t);
		if (!ok) {
			*changed_level = l;
			return 1; /* changed under us: walk again */
		}
		out->pte[l] = want;
	}
	return 0;
}

/*
 * One pass over the tables. Returns VMMU_WALK_OK with out->level = leaf
 * level and *rights filled, VMMU_WALK_PF with out->pfec's P/RSVD bits, or
 * a negative error.
 */
static int walk_tables(const struct vmmu_walker *w, uint64_t cr3, uint64_t va,
		       bool write, struct vmmu_walk *out, unsigned *rights_out,
		       bool *ad_needed)
{
	const struct vmmu_fmt *fmt = w->fmt;
	uint64_t table = cr3 & w->cr3_addr_mask;
	unsigned rights = RIGHT_ALL;
	uint64_t missing_a = 0;

	for (unsigned level = w->levels;; level--) {
		const struct vmmu_fmt_level *lv = &fmt->level[level];
		vmmu_pte_t *t = vmmu_map_table(w->plat, table);
		if (t == NULL) {
			return -VMMU_EFAULT;
		}
		unsigned idx = (unsigned)(va >> lv->shift) & (VMMU_PT_ENTRIES - 1);
		vmmu_pte_t e = vmmu_pte_load(&t[idx]);
		vmmu_unmap_table(w->plat, t);
		out->pte[level] = e;
		out->pte_addr[level] = table + idx * sizeof(vmmu_pte_t);
		out->level = (uint8_t)level;
		if (!(e & lv->present)) {
			out->pfec = 0;
			return VMMU_WALK_PF;
		}
		bool leaf = level == 1 || (e & lv->ps);
		if (e & (leaf ? w->rsvd_leaf[level] : w->rsvd_table[level])) {
			out->pfec = VMMU_PFEC_P | VMMU_PFEC_RSVD;
			return VMMU_WALK_PF;
		}
		rights &= ((e & lv->write) ? RIGHT_W : 0) |
			  ((e & lv->user) ? RIGHT_U : 0) |
			  ((e & lv->nx) ? 0 : RIGHT_X);
		missing_a |= ~e & lv->accessed;
		if (leaf) {
			*rights_out = rights;
			*ad_needed = missing_a != 0 || (write && !(e & lv->dirty));
			return VMMU_WALK_OK;
		}
		table = e & lv->addr_table;
	}
}

/* Fill the outputs that come from the leaf (address, key, rights). */
static void finish_leaf(const struct vmmu_walker *w, uint64_t va,
			   unsigned rights, struct vmmu_walk *out)
{
	const struct vmmu_fmt *fmt = w->fmt;
	const struct vmmu_fmt_level *lv = &fmt->level[out->level];
	vmmu_pte_t leaf = out->pte[out->level];
	uint64_t offset = va & (vmmu_fmt_entry_size(fmt, out->level) - 1);

	out->addr = (leaf & lv->addr_leaf) + offset;
	out->pkey = (uint8_t)((leaf & lv->pkey) >> lv->pkey_shift);
	out->perm = VMMU_PERM_R | ((rights & RIGHT_W) ? VMMU_PERM_W : 0) |
		    ((rights & RIGHT_U) ? VMMU_PERM_U : 0) |
		    ((rights & RIGHT_X) ? VMMU_PERM_X : 0);
}

static bool access_ok(uint32_t access)
{
	if ((access & ~known_access) != 0) {
		return false;
	}
	if ((access & VMMU_ACC_WRITE) && (access & VMMU_ACC_FETCH)) {
		return false;
	}
	/* Implicit accesses are supervisor accesses by definition. */
	return !((access & VMMU_ACC_USER) && (access & VMMU_ACC_IMPLICIT));
}

int vmmu_walk(const struct vmmu_walker *w, uint64_t cr3, uint64_t va,
	      uint32_t access, struct vmmu_walk *out)
{
	if (w == NULL || out == NULL || !access_ok(access)) {
		return -VMMU_EINVAL;
	}
	if ((cr3 & vmmu_bits(60, w->fmt->maxphyaddr)) != 0) {
		return -VMMU_EINVAL; /* MOV CR3 would have raised #GP */
	}
	out->top_level = w->levels;
	if (!canonical(w->fmt, va)) {
		out->level = 0;
		out->pfec = 0;
		return VMMU_WALK_GP;
	}
	unsigned idx = access_index(access);
	bool write = (access & VMMU_ACC_WRITE) != 0;

	for (unsigned tries = 0; tries < WALK_MAX_RETRIES; tries++) {
		unsigned rights = 0;
		bool ad_needed = false;
		int rc = walk_tables(w, cr3, va, write, out, &rights, &ad_needed);
		if (rc != VMMU_WALK_OK) {
			out->pfec |= rc == VMMU_WALK_PF ? access_pfec(w, access) : 0;
			return rc;
		}
		bool fault = (w->perm_fault[idx] >> rights) & 1;
		const struct vmmu_fmt_level *leaf_lv = &w->fmt->level[out->level];
		bool pk = pk_violation(w, idx, rights, leaf_lv, out->pte[out->level]);
		finish_leaf(w, va, rights, out);
		if (fault || pk) {
			/* PK is reported whenever the key forbids it, with or without another violation (KVM, access.c). */
			out->pfec = VMMU_PFEC_P | access_pfec(w, access) |
				    (pk ? VMMU_PFEC_PK : 0);
			return VMMU_WALK_PF;
		}
		out->pfec = 0;
		if (!ad_needed || (access & VMMU_ACC_PEEK)) {
			return VMMU_WALK_OK;
		}
		uint32_t changed = 0;
		rc = set_ad_bits(w, out, write, &changed);
		if (rc <= 0) {
			return rc == 0 ? VMMU_WALK_OK : rc;
		}
		vmmu_trace(w->plat, VMMU_TRACE_WALK_RETRY, va, changed);
	}
	return -VMMU_EBUSY;
}
