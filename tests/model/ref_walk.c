/* SPDX-License-Identifier: MIT */
/*
 * Reference x86-64 walker: see ref_walk.h. Written from Intel SDM Vol. 3A
 * §4.5-§4.7 only; shares nothing with the vmmu library on purpose.
 *
 * The walk, in the order the SDM describes it:
 *   1. the linear address must be canonical (48 or 57 bits) or #GP;
 *   2. from CR3, each level in turn: a not-present entry ends the walk with
 *      a #PF (P=0); a present entry with a reserved bit set ends it with a
 *      #PF (P=1, RSVD=1); PS=1 in a PDPTE or PDE, or any PTE, is the leaf;
 *   3. at the leaf, the access rights (combined over every level used) and
 *      the protection key (the leaf's only) decide whether the access is
 *      allowed; if not, #PF (P=1, plus PK when the key denied it);
 *   4. only then are accessed (every level) and dirty (leaf, writes) set.
 */
#include "ref_walk.h"

#include <string.h>

/* --- bits of a paging-structure entry (SDM Vol. 3A tables 4-15..4-20) --- */
#define BIT(n) (1ull << (n))

#define E_P BIT(0)   /* present */
#define E_RW BIT(1)  /* read/write: 0 = writes may not be allowed */
#define E_US BIT(2)  /* user/supervisor: 0 = user-mode accesses not allowed */
#define E_A BIT(5)   /* accessed */
#define E_D BIT(6)   /* dirty (leaf entries only) */
#define E_PS BIT(7)  /* page size (PDPTE, PDE); reserved in PML4E/PML5E */
#define E_XD BIT(63) /* execute-disable (reserved when EFER.NXE = 0) */
#define E_PKEY_SHIFT 59 /* protection key: bits 62:59 of a leaf */

/* Bits hi..lo inclusive. */
static uint64_t bit_range(unsigned hi, unsigned lo)
{
	uint64_t upto_hi = hi >= 63 ? ~0ull : (BIT(hi + 1) - 1);
	return upto_hi & ~(BIT(lo) - 1);
}

/* Linear-address fields (SDM figures 4-8..4-10, and 5-level paging). */
static unsigned index_pml5(uint64_t va) { return (unsigned)(va >> 48) & 511; }
static unsigned index_pml4(uint64_t va) { return (unsigned)(va >> 39) & 511; }
static unsigned index_pdpt(uint64_t va) { return (unsigned)(va >> 30) & 511; }
static unsigned index_pd(uint64_t va) { return (unsigned)(va >> 21) & 511; }
static unsigned index_pt(uint64_t va) { return (unsigned)(va >> 12) & 511; }

/* Everything one walk carries from level to level. */
struct walk {
	const struct ref_mem *mem;
	const struct ref_cpu *cpu;
	const struct ref_access *acc;
	struct ref_result *res;
	uint32_t pfec_access; /* the W/U/I part of any error code */
	uint64_t rsvd_phys;   /* address bits MAXPHYADDR..51 */
	uint64_t rsvd_xd;     /* bit 63 when EFER.NXE = 0 */
	/* Rights combined over the levels walked so far. */
	bool all_writable;    /* AND of R/W */
	bool all_user;        /* AND of U/S */
	bool any_xd;          /* OR of XD (only when EFER.NXE = 1) */
};

static enum ref_outcome end_not_present(struct walk *w, unsigned level)
{
	w->res->outcome = REF_PF;
	w->res->level = level;
	w->res->pfec = w->pfec_access; /* P = 0 */
	return REF_PF;
}

static enum ref_outcome end_reserved(struct walk *w, unsigned level)
{
	w->res->outcome = REF_PF;
	w->res->level = level;
	w->res->pfec = w->pfec_access | REF_PFEC_P | REF_PFEC_RSVD;
	return REF_PF;
}

static enum ref_outcome end_bad_memory(struct walk *w, unsigned level)
{
	w->res->outcome = REF_BADMEM;
	w->res->level = level;
	return REF_BADMEM;
}

/* Read entry `index` of the table at table_pa for `level`; record it. */
static bool read_entry(struct walk *w, unsigned level, uint64_t table_pa,
		       unsigned index, uint64_t *entry)
{
	uint64_t pa = table_pa + 8ull * index;

	w->res->pte_addr[level] = pa;
	if (!w->mem->read(w->mem->ctx, pa, entry)) {
		return false;
	}
	w->res->pte[level] = *entry;
	return true;
}

/* Fold an entry's rights into the walk (SDM §4.6.1: every level counts). */
static void combine_rights(struct walk *w, uint64_t entry)
{
	if ((entry & E_RW) == 0) {
		w->all_writable = false;
	}
	if ((entry & E_US) == 0) {
		w->all_user = false;
	}
	if (w->cpu->efer_nxe && (entry & E_XD) != 0) {
		w->any_xd = true;
	}
}

/*
 * Does the protection-key register deny this data access? (SDM §4.6.2)
 * AD: no data access at all. WD: no write, when the access is user-mode
 * or CR0.WP = 1.
 */
static bool key_denies(const struct walk *w, uint32_t key_register,
		       unsigned key)
{
	bool access_disable = ((key_register >> (2 * key)) & 1) != 0;
	bool write_disable = ((key_register >> (2 * key + 1)) & 1) != 0;

	if (access_disable) {
		return true;
	}
	if (write_disable && w->acc->write && (w->acc->user || w->cpu->cr0_wp)) {
		return true;
	}
	return false;
}

/*
 * Access rights at the leaf (SDM §4.6.1) and protection keys (§4.6.2).
 * Returns true when the access is allowed; otherwise fills the error code.
 */
static bool access_allowed(struct walk *w, uint64_t leaf)
{
	const struct ref_cpu *cpu = w->cpu;
	const struct ref_access *acc = w->acc;
	bool supervisor = !acc->user; /* explicit CPL<3 or implicit */
	bool user_page = w->all_user;
	bool denied = false;
	bool key_fault = false;

	/* User-mode accesses only reach user-mode pages. */
	if (acc->user && !user_page) {
		denied = true;
	}

	/* Writes. */
	if (acc->write) {
		if (acc->user) {
			if (!w->all_writable) {
				denied = true;
			}
		} else {
			/* Supervisor: with CR0.WP = 0 any page is writable. */
			if (cpu->cr0_wp && !w->all_writable) {
				denied = true;
			}
		}
	}

	/* Instruction fetches. */
	if (acc->fetch) {
		if (cpu->efer_nxe && w->any_xd) {
			denied = true;
		}
		if (supervisor && cpu->cr4_smep && user_page) {
			denied = true;
		}
	}

	/* SMAP: supervisor data accesses to user-mode pages. */
	if (!acc->fetch && supervisor && cpu->cr4_smap && user_page) {
		if (acc->implicit || !acc->ac) {
			denied = true;
		}
	}

	/* Protection keys: data accesses only; the leaf's key only. */
	if (!acc->fetch) {
		unsigned key = (unsigned)(leaf >> E_PKEY_SHIFT) & 15;

		if (cpu->cr4_pke && user_page && key_denies(w, cpu->pkru, key)) {
			key_fault = true;
		}
		if (cpu->cr4_pks && !user_page && key_denies(w, cpu->pkrs, key)) {
			key_fault = true;
		}
	}

	if (!denied && !key_fault) {
		return true;
	}
	w->res->pfec = w->pfec_access | REF_PFEC_P;
	if (key_fault) {
		w->res->pfec |= REF_PFEC_PK;
	}
	return false;
}

/* Success: set A in every entry used (top to leaf), D in the leaf on writes. */
static void set_accessed_dirty(struct walk *w, unsigned top, unsigned leaf_level)
{
	for (unsigned level = top; level >= leaf_level; level--) {
		uint64_t pa = w->res->pte_addr[level];
		uint64_t now = 0;
		uint64_t want;

		/* Re-read: one entry may serve at two levels (self-maps). */
		(void)w->mem->read(w->mem->ctx, pa, &now);
		want = now | E_A;
		if (level == leaf_level && w->acc->write) {
			want |= E_D;
		}
		if (want != now) {
			w->mem->write(w->mem->ctx, pa, want);
		}
		/* The record shows the entry as this walk left it at this level. */
		w->res->pte[level] |= E_A;
		if (level == leaf_level && w->acc->write) {
			w->res->pte[level] |= E_D;
		}
	}
}

/* Leaf reached at `level`: check rights, set A/D, compute the address. */
static enum ref_outcome finish_leaf(struct walk *w, unsigned level,
				    uint64_t leaf, uint64_t pa)
{
	struct ref_result *res = w->res;

	res->level = level;
	if (!access_allowed(w, leaf)) {
		res->outcome = REF_PF;
		return REF_PF;
	}
	if (!w->acc->no_ad) {
		set_accessed_dirty(w, res->top_level, level);
	}
	res->outcome = REF_OK;
	res->pa = pa;
	return REF_OK;
}

enum ref_outcome ref_walk(const struct ref_mem *mem, const struct ref_cpu *cpu,
			  uint64_t cr3, uint64_t va,
			  const struct ref_access *acc, struct ref_result *res)
{
	struct walk w;
	uint64_t table;
	uint64_t e;

	memset(res, 0, sizeof(*res));
	memset(&w, 0, sizeof(w));
	w.mem = mem;
	w.cpu = cpu;
	w.acc = acc;
	w.res = res;
	w.all_writable = true;
	w.all_user = true;
	w.any_xd = false;
	w.rsvd_phys = cpu->maxphyaddr >= 52 ? 0 : bit_range(51, cpu->maxphyaddr);
	w.rsvd_xd = cpu->efer_nxe ? 0 : E_XD;
	if (acc->write) {
		w.pfec_access |= REF_PFEC_W;
	}
	if (acc->user) {
		w.pfec_access |= REF_PFEC_U;
	}
	if (acc->fetch && (cpu->efer_nxe || cpu->cr4_smep)) {
		w.pfec_access |= REF_PFEC_I;
	}
	res->top_level = cpu->cr4_la57 ? 5 : 4;

	/* Canonical check: bits 63..47 (or 63..56) all equal. */
	{
		unsigned top_bit = cpu->cr4_la57 ? 56 : 47;
		uint64_t upper = va & bit_range(63, top_bit);

		if (upper != 0 && upper != bit_range(63, top_bit)) {
			res->outcome = REF_GP;
			return REF_GP;
		}
	}

	/* CR3: the first table's address, bits MAXPHYADDR-1..12. */
	table = cr3 & bit_range(cpu->maxphyaddr - 1, 12);

	/* --- PML5E (5-level paging only) ------------------------------- */
	if (cpu->cr4_la57) {
		if (!read_entry(&w, 5, table, index_pml5(va), &e)) {
			return end_bad_memory(&w, 5);
		}
		if ((e & E_P) == 0) {
			return end_not_present(&w, 5);
		}
		/* Reserved: PS, address bits above MAXPHYADDR, XD without NXE. */
		if ((e & (E_PS | w.rsvd_phys | w.rsvd_xd)) != 0) {
			return end_reserved(&w, 5);
		}
		combine_rights(&w, e);
		table = e & bit_range(51, 12);
	}

	/* --- PML4E ----------------------------------------------------- */
	if (!read_entry(&w, 4, table, index_pml4(va), &e)) {
		return end_bad_memory(&w, 4);
	}
	if ((e & E_P) == 0) {
		return end_not_present(&w, 4);
	}
	if ((e & (E_PS | w.rsvd_phys | w.rsvd_xd)) != 0) {
		return end_reserved(&w, 4);
	}
	combine_rights(&w, e);
	table = e & bit_range(51, 12);

	/* --- PDPTE ----------------------------------------------------- */
	if (!read_entry(&w, 3, table, index_pdpt(va), &e)) {
		return end_bad_memory(&w, 3);
	}
	if ((e & E_P) == 0) {
		return end_not_present(&w, 3);
	}
	if ((e & E_PS) != 0) {
		/* 1-GByte page. PS itself is reserved without 1G support. */
		if (!cpu->page_1g) {
			return end_reserved(&w, 3);
		}
		if ((e & (bit_range(29, 13) | w.rsvd_phys | w.rsvd_xd)) != 0) {
			return end_reserved(&w, 3);
		}
		combine_rights(&w, e);
		return finish_leaf(&w, 3, e,
				   (e & bit_range(51, 30)) |
					   (va & bit_range(29, 0)));
	}
	if ((e & (w.rsvd_phys | w.rsvd_xd)) != 0) {
		return end_reserved(&w, 3);
	}
	combine_rights(&w, e);
	table = e & bit_range(51, 12);

	/* --- PDE ------------------------------------------------------- */
	if (!read_entry(&w, 2, table, index_pd(va), &e)) {
		return end_bad_memory(&w, 2);
	}
	if ((e & E_P) == 0) {
		return end_not_present(&w, 2);
	}
	if ((e & E_PS) != 0) {
		/* 2-MByte page. */
		if ((e & (bit_range(20, 13) | w.rsvd_phys | w.rsvd_xd)) != 0) {
			return end_reserved(&w, 2);
		}
		combine_rights(&w, e);
		return finish_leaf(&w, 2, e,
				   (e & bit_range(51, 21)) |
					   (va & bit_range(20, 0)));
	}
	if ((e & (w.rsvd_phys | w.rsvd_xd)) != 0) {
		return end_reserved(&w, 2);
	}
	combine_rights(&w, e);
	table = e & bit_range(51, 12);

	/* --- PTE ------------------------------------------------------- */
	if (!read_entry(&w, 1, table, index_pt(va), &e)) {
		return end_bad_memory(&w, 1);
	}
	if ((e & E_P) == 0) {
		return end_not_present(&w, 1);
	}
	/* Bit 7 of a PTE is PAT, not PS: nothing extra is reserved. */
	if ((e & (w.rsvd_phys | w.rsvd_xd)) != 0) {
		return end_reserved(&w, 1);
	}
	combine_rights(&w, e);
	return finish_leaf(&w, 1, e,
			   (e & bit_range(51, 12)) | (va & bit_range(11, 0)));
}
