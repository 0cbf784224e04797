/* SPDX-License-Identifier: MIT */
/* Format-independent leaf and table encoding over struct vmmu_fmt. */
#include "internal.h"

vmmu_pte_t vmmu_pte_make_table(const struct vmmu_fmt *fmt, unsigned level,
			       uint64_t table_pa)
{
	const struct vmmu_fmt_level *lv = &fmt->level[level];

	/* Full rights: restrictions live in the leaves (x86 ANDs W/U, ORs NX). */
	return (table_pa & lv->addr_table) | lv->present | lv->read |
	       lv->write | lv->user | lv->exec | lv->uexec;
}

static bool x86_prot_ok(const struct vmmu_fmt_level *lv,
			const struct vmmu_prot *prot)
{
	const uint32_t known = VMMU_PERM_R | VMMU_PERM_W | VMMU_PERM_X |
			       VMMU_PERM_U;
	const uint8_t flags = VMMU_PROT_GLOBAL | VMMU_PROT_ACCESSED |
			      VMMU_PROT_DIRTY;

	/* A present x86 entry is always readable: no write- or exec-only. */
	return (prot->perm & ~known) == 0 && (prot->perm & VMMU_PERM_R) &&
	       prot->cache < 8 && (prot->pkey == 0 || (lv->pkey != 0 && prot->pkey < 16)) &&
	       (prot->flags & ~flags) == 0;
}

static bool ept_memtype_ok(uint8_t mt)
{
	/* SDM §29.3.7: UC=0, WC=1, WT=4, WP=5, WB=6; 2, 3 and 7 are reserved. */
	return mt == 0 || mt == 1 || mt == 4 || mt == 5 || mt == 6;
}

static bool ept_prot_ok(const struct vmmu_fmt *fmt, const struct vmmu_fmt_level *lv,
			const struct vmmu_prot *prot)
{
	uint32_t known = VMMU_PERM_R | VMMU_PERM_W | VMMU_PERM_X;
	uint8_t flags = VMMU_PROT_IPAT;
	uint32_t p = prot->perm;

	if (lv->uexec != 0) {
		known |= VMMU_PERM_UX;
	}
	if (lv->accessed != 0) {
		flags |= VMMU_PROT_ACCESSED | VMMU_PROT_DIRTY;
	}
	if ((p & ~known) != 0 || (prot->flags & ~flags) != 0 || prot->pkey != 0 ||
	    !ept_memtype_ok(prot->cache)) {
		return false;
	}
	if (p == 0 || ((p & VMMU_PERM_W) && !(p & VMMU_PERM_R))) {
		return false; /* not present, or write-without-read (misconfig) */
	}
	if (!(p & VMMU_PERM_R) && !(fmt->flags & VMMU_FMT_F_EPT_XONLY)) {
		return false; /* execute-only needs the capability */
	}
	return true;
}

static vmmu_pte_t x86_encode(const struct vmmu_fmt_level *lv,
			     const struct vmmu_prot *prot)
{
	vmmu_pte_t pte = lv->present | lv->ps;

	pte |= (prot->perm & VMMU_PERM_W) ? lv->write : 0;
	pte |= (prot->perm & VMMU_PERM_U) ? lv->user : 0;
	pte |= (prot->perm & VMMU_PERM_X) ? 0 : lv->nx;
	pte |= (prot->cache & 1) ? lv->pwt : 0;
	pte |= (prot->cache & 2) ? lv->pcd : 0;
	pte |= (prot->cache & 4) ? lv->pat : 0;
	pte |= (prot->flags & VMMU_PROT_GLOBAL) ? lv->global : 0;
	pte |= (uint64_t)prot->pkey << lv->pkey_shift & lv->pkey;
	return pte;
}

static vmmu_pte_t ept_encode(const struct vmmu_fmt_level *lv,
			     const struct vmmu_prot *prot)
{
	vmmu_pte_t pte = lv->ps;

	pte |= (prot->perm & VMMU_PERM_R) ? lv->read : 0;
	pte |= (prot->perm & VMMU_PERM_W) ? lv->write : 0;
	pte |= (prot->perm & VMMU_PERM_X) ? lv->exec : 0;
	pte |= (prot->perm & VMMU_PERM_UX) ? lv->uexec : 0;
	pte |= (uint64_t)prot->cache << lv->memtype_shift & lv->memtype;
	pte |= (prot->flags & VMMU_PROT_IPAT) ? lv->ipat : 0;
	return pte;
}

int vmmu_pte_make_leaf(const struct vmmu_fmt *fmt, unsigned level, uint64_t pa,
		       const struct vmmu_prot *prot, vmmu_pte_t *out)
{
	if (level == 0 || level > fmt->levels || !fmt->level[level].leaf_ok ||
	    prot == NULL || out == NULL) {
		return -VMMU_EINVAL;
	}
	const struct vmmu_fmt_level *lv = &fmt->level[level];
	bool ok = fmt->kind == VMMU_FMT_EPT ? ept_prot_ok(fmt, lv, prot)
					    : x86_prot_ok(lv, prot);
	if (!ok) {
		return -VMMU_EINVAL;
	}
	if ((pa & (vmmu_fmt_entry_size(fmt, level) - 1)) != 0) {
		return -VMMU_EALIGN;
	}
	if ((pa >> fmt->maxphyaddr) != 0) {
		return -VMMU_ERANGE;
	}
	vmmu_pte_t pte = fmt->kind == VMMU_FMT_EPT ? ept_encode(lv, prot)
						   : x86_encode(lv, prot);
	pte |= (prot->flags & VMMU_PROT_ACCESSED) ? lv->accessed : 0;
	pte |= (prot->flags & VMMU_PROT_DIRTY) ? lv->dirty : 0;
	*out = pte | pa;
	return 0;
}

void vmmu_pte_decode_leaf(const struct vmmu_fmt *fmt, unsigned level,
			  vmmu_pte_t pte, struct vmmu_prot *prot)
{
	const struct vmmu_fmt_level *lv = &fmt->level[level];

	*prot = (struct vmmu_prot){0};
	if (fmt->kind == VMMU_FMT_EPT) {
		prot->perm |= (pte & lv->read) ? VMMU_PERM_R : 0;
		prot->perm |= (pte & lv->exec) ? VMMU_PERM_X : 0;
		prot->perm |= (pte & lv->uexec) ? VMMU_PERM_UX : 0;
		prot->cache = (uint8_t)((pte & lv->memtype) >> lv->memtype_shift);
		prot->flags |= (pte & lv->ipat) ? VMMU_PROT_IPAT : 0;
	} else {
		prot->perm = VMMU_PERM_R;
		prot->perm |= (pte & lv->user) ? VMMU_PERM_U : 0;
		prot->perm |= (pte & lv->nx) ? 0 : VMMU_PERM_X;
		prot->cache = (uint8_t)(((pte & lv->pwt) ? 1 : 0) |
					((pte & lv->pcd) ? 2 : 0) |
					((pte & lv->pat) ? 4 : 0));
		prot->pkey = (uint8_t)((pte & lv->pkey) >> lv->pkey_shift);
		prot->flags |= (pte & lv->global) ? VMMU_PROT_GLOBAL : 0;
	}
	prot->perm |= (pte & lv->write) ? VMMU_PERM_W : 0;
	prot->flags |= (pte & lv->accessed) ? VMMU_PROT_ACCESSED : 0;
	prot->flags |= (pte & lv->dirty) ? VMMU_PROT_DIRTY : 0;
}

bool vmmu_ept_misconfig(const struct vmmu_fmt *fmt, unsigned level,
			vmmu_pte_t pte)
{
	const struct vmmu_fmt_level *lv = &fmt->level[level];

	if (fmt->kind != VMMU_FMT_EPT || !vmmu_pte_present(fmt, level, pte)) {
		return false;
	}
	if (vmmu_pte_rsvd(fmt, level, pte) != 0) {
		return true;
	}
	bool r = (pte & lv->read) != 0;
	if ((pte & lv->write) && !r) {
		return true;
	}
	if (!r && !(pte & lv->write) && !(fmt->flags & VMMU_FMT_F_EPT_XONLY)) {
		return true; /* execute-only without the capability */
	}
	if (vmmu_pte_is_leaf(fmt, level, pte)) {
		uint8_t mt = (uint8_t)((pte & lv->memtype) >> lv->memtype_shift);
		return !ept_memtype_ok(mt);
	}
	return false;
}

int vmmu_set_ad_bits(const struct vmmu_fmt *fmt,
		     const struct vmmu_platform *plat, unsigned top,
		     unsigned leaf, vmmu_pte_t *pte, const uint64_t *pte_addr,
		     bool write, uint32_t *changed)
{
	for (unsigned l = top; l >= leaf; l--) {
		const struct vmmu_fmt_level *lv = &fmt->level[l];
		vmmu_pte_t want = pte[l] | lv->accessed |
				  ((l == leaf && write) ? lv->dirty : 0);
		if (want == pte[l]) {
			continue;
		}
		uint64_t slot = pte_addr[l];
		vmmu_pte_t *t = vmmu_map_table(plat, slot & VMMU_PAGE_MASK);
		if (t == NULL) {
			return -VMMU_EFAULT;
		}
		bool ok = vmmu_pte_cmpxchg(
			&t[(slot & ~VMMU_PAGE_MASK) / sizeof(vmmu_pte_t)], pte[l],
			want);
		vmmu_unmap_table(plat, t);
		if (!ok) {
			*changed = l;
			return 1;
		}
		pte[l] = want;
	}
	return 0;
}
