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

static void build_level_masks(struct vmmu_walker *w)
{
	const struct vmmu_fmt *fmt = w->fmt;
	bool nxe = (w->cpu.efer & VMMU_EFER_NXE) != 0;

	for (unsigned l = 1; l <= fmt->levels; l++) {
		const struct vmmu_fmt_level *lv = &fmt->level[l];
		struct vmmu_walker_level *wl = &w->lvl[l];
		/* XD is reserved at every level when EFER.NXE=0 (§4.5.4). */
		uint64_t nx = nxe ? 0 : lv->nx;
		wl->present = lv->present;
		/* Level 1 entries are always leaves: any present bit says so. */
		wl->leaf = l == 1 ? lv->present : lv->ps;
		wl->rsvd_table = lv->rsvd_table | nx;
		wl->rsvd_leaf = lv->rsvd_leaf | nx;
	}
}

/* Same W/U/XD/A bits at every level: rights fold into one AND and one OR. */
static bool fmt_uniform(const struct vmmu_fmt *fmt)
{
	const struct vmmu_fmt_level *l1 = &fmt->level[1];

	for (unsigned l = 2; l <= fmt->levels; l++) {
		const struct vmmu_fmt_level *lv = &fmt->level[l];
		if (lv->write != l1->write || lv->user != l1->user ||
		    lv->nx != l1->nx || lv->accessed != l1->accessed) {
			return false;
		}
	}
	return true;
}

static bool fmt_walkable(const struct vmmu_fmt *fmt)
{
	if (fmt->kind != VMMU_FMT_X86 || fmt->levels < 4 ||
	    fmt->levels > VMMU_LEVEL_MAX) {
		return false;
	}
	for (unsigned l = 2; l <= fmt->levels; l++) {
		if (fmt->level[l].addr_table != fmt->level[1].addr_table) {
			return false;
		}
	}
	return true;
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

/* Derive everything the walk looks up from w->cpu. */
static void rebuild_tables(struct vmmu_walker *w)
{
	build_level_masks(w);
	build_perm_tables(w);
	/* I/D is reported only with EFER.NXE=1 or CR4.SMEP=1 (§4.7). */
	w->pfec_fetch = ((w->cpu.efer & VMMU_EFER_NXE) ||
			 (w->cpu.cr4 & VMMU_CR4_SMEP))
				? VMMU_PFEC_I
				: 0;
}

int vmmu_walker_set_cpu(struct vmmu_walker *w, const struct vmmu_cpu_state *cpu)
{
	if (w == NULL || cpu == NULL || !cpu_state_ok(w->fmt, cpu)) {
		return -VMMU_EINVAL;
	}
	bool rebuild = paging_bits_differ(&w->cpu, cpu);
	w->cpu = *cpu;
	if (rebuild) {
		rebuild_tables(w);
	}
	return 0;
}

int vmmu_walker_init(struct vmmu_walker *w, const struct vmmu_fmt *fmt,
		     const struct vmmu_platform *plat,
		     const struct vmmu_cpu_state *cpu)
{
	if (w == NULL || fmt == NULL || !fmt_walkable(fmt) ||
	    vmmu_platform_check(plat) != 0 || cpu == NULL ||
	    !cpu_state_ok(fmt, cpu)) {
		return -VMMU_EINVAL;
	}
	const struct vmmu_fmt_level *l1 = &fmt->level[1];
	*w = (struct vmmu_walker){.fmt = fmt, .plat = plat};
	w->addr_mask = l1->addr_table;
	w->uniform = fmt_uniform(fmt);
	w->write_bit = l1->write;
	w->user_bit = l1->user;
	w->nx_bit = l1->nx;
	w->accessed_bit = l1->accessed;
	/* Bits 63 (PCID no-flush) and 62:61 (LAM) are not address bits. */
	w->cr3_rsvd = vmmu_bits(60, fmt->maxphyaddr);
	w->canon_shift = (uint8_t)(64 - fmt->va_bits);
	/* The loop reads the depth from the walker, next to its other fields. */
	w->levels = (uint8_t)fmt->levels;
	w->cpu = *cpu;
	rebuild_tables(w);
	return 0;
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
	return (access & (VMMU_PFEC_W | VMMU_PFEC_U)) |
	       (access & VMMU_ACC_FETCH & w->pfec_fetch);
}

static bool canonical(const struct vmmu_walker *w, uint64_t va)
{
	unsigned unused = w->canon_shift;

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

/* What one pass over the tables found out. */
struct walk_pass {
	unsigned rights;  /* RIGHT_* accumulated over the levels */
	unsigned shift;   /* log2 of the leaf's page size */
	bool ad_needed;   /* some A, or the D of a write, is clear */
};

/* Rights and missing A/D from the entries a pass read (any format). */
static void fold_entries(const struct vmmu_walker *w, const struct vmmu_walk *out,
			 bool write, struct walk_pass *pass)
{
	const struct vmmu_fmt *fmt = w->fmt;
	unsigned rights = RIGHT_ALL;
	bool missing = false;

	for (unsigned l = out->top_level; l >= out->level; l--) {
		const struct vmmu_fmt_level *lv = &fmt->level[l];
		vmmu_pte_t e = out->pte[l];
		rights &= ((e & lv->write) ? RIGHT_W : 0) |
			  ((e & lv->user) ? RIGHT_U : 0) |
			  ((e & lv->nx) ? 0 : RIGHT_X);
		missing |= !(e & lv->accessed);
	}
	pass->rights = rights;
	pass->ad_needed = missing ||
			  (write && !(out->pte[out->level] &
				      fmt->level[out->level].dirty));
}

/*
 * One pass over the tables. Returns VMMU_WALK_OK (out->level = leaf level),
 * VMMU_WALK_PF with the P/RSVD bits of the error code, or a negative error.
 * The loop reads only the walker's compact per-level masks; rights are an
 * AND and an OR of the entries, decoded once after the leaf (formats whose
 * bits move between levels decode each entry instead). `out` is restrict so
 * its stores do not force the walker's fields to be reloaded.
 */
static inline __attribute__((always_inline)) int
walk_tables(const struct vmmu_walker *w, uint64_t cr3, uint64_t va, bool write,
	    bool hook, struct vmmu_walk *restrict out, struct walk_pass *pass)
{
	const struct vmmu_platform *plat = w->plat;
	const uintptr_t dm_base = plat->direct_map_base;
	const uint64_t dm_size = plat->direct_map_size;
	const uint64_t addr_mask = w->addr_mask;
	uint64_t table = cr3 & addr_mask;
	unsigned level = w->levels;
	unsigned shift = VMMU_PAGE_SHIFT + 9 * (level - 1);
	uint64_t all = ~0ull, any = 0;
	vmmu_pte_t e;

	for (;; level--, shift -= 9) {
		const struct vmmu_walker_level *wl = &w->lvl[level];
		uint64_t slot = table + (((va >> shift) & (VMMU_PT_ENTRIES - 1)) *
					 sizeof(vmmu_pte_t));
		if (hook) {
			if (!vmmu_pte_read_at(plat, slot, &e)) {
				return -VMMU_EFAULT;
			}
		} else if (__builtin_expect(table >= dm_size, 0)) {
			/* vmmu_map_table's direct-map rule, open-coded: one
			 * compare and branch, base and size in registers. */
			return -VMMU_EFAULT;
		} else {
			e = vmmu_pte_load((const vmmu_pte_t *)(dm_base + (uintptr_t)slot));
		}
		out->pte[level] = e;
		out->pte_addr[level] = slot;
		if (__builtin_expect(!(e & wl->present), 0)) {
			out->level = (uint8_t)level;
			out->pfec = 0;
			return VMMU_WALK_PF;
		}
		bool leaf = (e & wl->leaf) != 0;
		if (__builtin_expect((e & (leaf ? wl->rsvd_leaf : wl->rsvd_table)) != 0, 0)) {
			out->level = (uint8_t)level;
			out->pfec = VMMU_PFEC_P | VMMU_PFEC_RSVD;
			return VMMU_WALK_PF;
		}
		all &= e;
		any |= e;
		if (leaf) {
			break;
		}
		table = e & addr_mask;
	}
	out->level = (uint8_t)level;
	pass->shift = shift;
	if (__builtin_expect(!w->uniform, 0)) {
		fold_entries(w, out, write, pass);
		return VMMU_WALK_OK;
	}
	pass->rights = ((all & w->write_bit) ? RIGHT_W : 0) |
		       ((all & w->user_bit) ? RIGHT_U : 0) |
		       ((any & w->nx_bit) ? 0 : RIGHT_X);
	pass->ad_needed = (~all & w->accessed_bit) != 0 ||
			  (write && !(e & w->fmt->level[level].dirty));
	return VMMU_WALK_OK;
}

/*
 * The pass specialised twice from the one loop above: tables through the
 * direct map (no call in the loop, so nothing spills) and through the map
 * hook.
 */
static int walk_direct(const struct vmmu_walker *w, uint64_t cr3, uint64_t va,
		       bool write, struct vmmu_walk *restrict out,
		       struct walk_pass *pass)
{
	return walk_tables(w, cr3, va, write, false, out, pass);
}

static __attribute__((noinline)) int
walk_hooked(const struct vmmu_walker *w, uint64_t cr3, uint64_t va, bool write,
	    struct vmmu_walk *restrict out, struct walk_pass *pass)
{
	return walk_tables(w, cr3, va, write, true, out, pass);
}

/* enum vmmu_perm for each combination of RIGHT_* bits. */
static const uint8_t rights_to_perm[RIGHT_ALL + 1] = {
	[0] = VMMU_PERM_R,
	[RIGHT_W] = VMMU_PERM_R | VMMU_PERM_W,
	[RIGHT_U] = VMMU_PERM_R | VMMU_PERM_U,
	[RIGHT_W | RIGHT_U] = VMMU_PERM_R | VMMU_PERM_W | VMMU_PERM_U,
	[RIGHT_X] = VMMU_PERM_R | VMMU_PERM_X,
	[RIGHT_X | RIGHT_W] = VMMU_PERM_R | VMMU_PERM_X | VMMU_PERM_W,
	[RIGHT_X | RIGHT_U] = VMMU_PERM_R | VMMU_PERM_X | VMMU_PERM_U,
	[RIGHT_ALL] = VMMU_PERM_R | VMMU_PERM_X | VMMU_PERM_W | VMMU_PERM_U,
};

/* Fill the outputs that come from the leaf (address, key, rights). */
static void finish_leaf(const struct vmmu_walker *w, uint64_t va,
			const struct walk_pass *pass, struct vmmu_walk *out)
{
	const struct vmmu_fmt_level *lv = &w->fmt->level[out->level];
	vmmu_pte_t leaf = out->pte[out->level];

	out->addr = (leaf & lv->addr_leaf) + (va & ((1ull << pass->shift) - 1));
	out->pkey = (uint8_t)((leaf & lv->pkey) >> lv->pkey_shift);
	out->perm = rights_to_perm[pass->rights];
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

/* The permission and key checks on a completed pass; true = #PF. */
static bool check_rights(const struct vmmu_walker *w, uint32_t access,
			 unsigned rights, struct vmmu_walk *out)
{
	unsigned idx = access_index(access);
	bool fault = (w->perm_fault[idx] >> rights) & 1;
	bool pk = false;

	if (__builtin_expect(w->pk_check[idx] & (PK_USER_PAGES | PK_SUPER_PAGES), 0)) {
		pk = pk_violation(w, idx, rights, &w->fmt->level[out->level],
				  out->pte[out->level]);
	}
	if (fault || pk) {
		/* PK is reported whenever the key forbids the access, with or
		 * without another violation (KVM, kvm-unit-tests access.c). */
		out->pfec = VMMU_PFEC_P | access_pfec(w, access) |
			    (pk ? VMMU_PFEC_PK : 0);
		return true;
	}
	out->pfec = 0;
	return false;
}

int vmmu_walk(const struct vmmu_walker *w, uint64_t cr3, uint64_t va,
	      uint32_t access, struct vmmu_walk *out)
{
	if (w == NULL || out == NULL || !access_ok(access)) {
		return -VMMU_EINVAL;
	}
	if ((cr3 & w->cr3_rsvd) != 0) {
		return -VMMU_EINVAL; /* MOV CR3 would have raised #GP */
	}
	out->top_level = w->levels;
	if (!canonical(w, va)) {
		out->level = 0;
		out->pfec = 0;
		return VMMU_WALK_GP;
	}
	bool write = (access & VMMU_ACC_WRITE) != 0;
	bool hook = w->plat->ops->frame_map != NULL;

	for (unsigned tries = 0; tries < WALK_MAX_RETRIES; tries++) {
		struct walk_pass pass;
		int rc = hook ? walk_hooked(w, cr3, va, write, out, &pass)
			      : walk_direct(w, cr3, va, write, out, &pass);
		if (rc != VMMU_WALK_OK) {
			out->pfec |= rc == VMMU_WALK_PF ? access_pfec(w, access) : 0;
			return rc;
		}
		finish_leaf(w, va, &pass, out);
		if (check_rights(w, access, pass.rights, out)) {
			return VMMU_WALK_PF;
		}
		if (!pass.ad_needed || (access & VMMU_ACC_PEEK)) {
			return VMMU_WALK_OK;
		}
		uint32_t changed = 0;
		rc = vmmu_set_ad_bits(w->fmt, w->plat, out->top_level, out->level,
				      out->pte, out->pte_addr, write, &changed);
		if (rc <= 0) {
			return rc == 0 ? VMMU_WALK_OK : rc;
		}
		vmmu_trace(w->plat, VMMU_TRACE_WALK_RETRY, va, changed);
	}
	return -VMMU_EBUSY;
}
