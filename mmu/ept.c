/* SPDX-License-Identifier: MIT */
/*
 * EPT walk for nested guests (SDM Vol. 3C §29.3.2 translation, §29.3.3
 * misconfigurations and violations, §29.3.5 accessed and dirty flags).
 *
 * A not-present entry or missing permission is an EPT violation, reported
 * with the exit qualification a VMM would see (Table 28-7): the access
 * type in bits 2:0 and, in bits 6:3, the AND of R/W/X/user-X over the
 * entries used. A present entry with reserved bits or an illegal R/W/X or
 * memory-type combination is an EPT misconfiguration instead.
 */
#include "internal.h"

enum { EPT_RIGHT_R = 1u, EPT_RIGHT_W = 2u, EPT_RIGHT_X = 4u, EPT_RIGHT_UX = 8u };

#define EPT_MAX_RETRIES 1000u

static unsigned ept_rights(const struct vmmu_fmt_level *lv, vmmu_pte_t e)
{
	return ((e & lv->read) ? EPT_RIGHT_R : 0) |
	       ((e & lv->write) ? EPT_RIGHT_W : 0) |
	       ((e & lv->exec) ? EPT_RIGHT_X : 0) |
	       ((e & lv->uexec) ? EPT_RIGHT_UX : 0);
}

/* With EPT A/D on, guest paging-structure accesses count as writes (§29.3.5). */
static bool ept_is_write(const struct vmmu_fmt *fmt, uint32_t access)
{
	return (access & VMMU_EPT_ACC_WRITE) ||
	       ((access & VMMU_EPT_ACC_GUEST_PT) &&
		(fmt->flags & VMMU_FMT_F_EPT_AD));
}

static uint64_t ept_qualification(const struct vmmu_fmt *fmt, uint32_t access,
				  unsigned rights)
{
	uint64_t q = 0;

	q |= (access & VMMU_EPT_ACC_READ) ? VMMU_EPT_QUAL_READ : 0;
	q |= ept_is_write(fmt, access) ? VMMU_EPT_QUAL_WRITE : 0;
	q |= (access & VMMU_EPT_ACC_FETCH) ? VMMU_EPT_QUAL_FETCH : 0;
	q |= (rights & EPT_RIGHT_R) ? VMMU_EPT_QUAL_READABLE : 0;
	q |= (rights & EPT_RIGHT_W) ? VMMU_EPT_QUAL_WRITABLE : 0;
	q |= (rights & EPT_RIGHT_X) ? VMMU_EPT_QUAL_EXECUTABLE : 0;
	q |= (rights & EPT_RIGHT_UX) ? VMMU_EPT_QUAL_UEXECUTABLE : 0;
	if (access & VMMU_EPT_ACC_LINEAR) {
		q |= VMMU_EPT_QUAL_GLA_VALID;
		/* Bit 8: the access was to the translated address itself. */
		q |= (access & VMMU_EPT_ACC_GUEST_PT) ? 0 : VMMU_EPT_QUAL_GLA_XLAT;
	}
	return q;
}

static bool ept_allowed(const struct vmmu_fmt *fmt, uint32_t access,
			unsigned rights)
{
	if ((access & VMMU_EPT_ACC_READ) && !(rights & EPT_RIGHT_R)) {
		return false;
	}
	if (ept_is_write(fmt, access) && !(rights & EPT_RIGHT_W)) {
		return false;
	}
	if (access & VMMU_EPT_ACC_FETCH) {
		/* MBEC: user-mode linear addresses need the user-execute bit. */
		bool user = (fmt->flags & VMMU_FMT_F_EPT_MBEC) &&
			    (access & VMMU_EPT_ACC_USER);
		return (rights & (user ? EPT_RIGHT_UX : EPT_RIGHT_X)) != 0;
	}
	return true;
}

/* One pass: VMMU_EPT_OK (leaf in out->level), _VIOLATION, _MISCONFIG or < 0. */
static int ept_tables(const struct vmmu_fmt *fmt, const struct vmmu_platform *plat,
		      uint64_t eptp, uint64_t gpa, struct vmmu_ept_walk *out,
		      uint64_t *pte_addr, unsigned *rights_out)
{
	uint64_t table = eptp & fmt->level[fmt->levels].addr_table;
	unsigned rights = EPT_RIGHT_R | EPT_RIGHT_W | EPT_RIGHT_X | EPT_RIGHT_UX;

	for (unsigned level = fmt->levels;; level--) {
		const struct vmmu_fmt_level *lv = &fmt->level[level];
		uint64_t slot = table + vmmu_fmt_index(fmt, level, gpa) *
					       sizeof(vmmu_pte_t);
		vmmu_pte_t e;
		if (!vmmu_pte_read_at(plat, slot, &e)) {
			return -VMMU_EFAULT;
		}
		out->pte[level] = e;
		pte_addr[level] = slot;
		out->level = (uint8_t)level;
		rights &= ept_rights(lv, e);
		*rights_out = rights;
		if (!vmmu_pte_present(fmt, level, e)) {
			return VMMU_EPT_VIOLATION;
		}
		if (vmmu_ept_misconfig(fmt, level, e)) {
			return VMMU_EPT_MISCONFIG;
		}
		if (vmmu_pte_is_leaf(fmt, level, e)) {
			return VMMU_EPT_OK;
		}
		table = e & lv->addr_table;
	}
}

static void ept_finish(const struct vmmu_fmt *fmt, uint64_t gpa,
		       struct vmmu_ept_walk *out)
{
	const struct vmmu_fmt_level *lv = &fmt->level[out->level];
	vmmu_pte_t leaf = out->pte[out->level];

	out->hpa = (leaf & lv->addr_leaf) +
		   (gpa & (vmmu_fmt_entry_size(fmt, out->level) - 1));
	out->memtype = (uint8_t)((leaf & lv->memtype) >> lv->memtype_shift);
	out->ipat = (leaf & lv->ipat) != 0;
	out->qual = 0;
}

int vmmu_ept_walk(const struct vmmu_fmt *fmt, const struct vmmu_platform *plat,
		  uint64_t eptp, uint64_t gpa, uint32_t access,
		  struct vmmu_ept_walk *out)
{
	const uint32_t known = VMMU_EPT_ACC_READ | VMMU_EPT_ACC_WRITE |
			       VMMU_EPT_ACC_FETCH | VMMU_EPT_ACC_USER |
			       VMMU_EPT_ACC_LINEAR | VMMU_EPT_ACC_GUEST_PT |
			       VMMU_EPT_ACC_PEEK;
	uint64_t pte_addr[VMMU_LEVEL_MAX + 1];

	if (fmt == NULL || fmt->kind != VMMU_FMT_EPT || out == NULL ||
	    vmmu_platform_check(plat) != 0 || (access & ~known) != 0 ||
	    (eptp & vmmu_bits(63, fmt->maxphyaddr)) != 0) {
		return -VMMU_EINVAL;
	}
	if ((gpa >> fmt->va_bits) != 0) {
		return -VMMU_ERANGE;
	}
	bool write = ept_is_write(fmt, access);
	for (unsigned tries = 0; tries < EPT_MAX_RETRIES; tries++) {
		unsigned rights = 0;
		int rc = ept_tables(fmt, plat, eptp, gpa, out, pte_addr, &rights);
		if (rc == VMMU_EPT_OK && !ept_allowed(fmt, access, rights)) {
			rc = VMMU_EPT_VIOLATION;
		}
		if (rc != VMMU_EPT_OK) {
			out->qual = rc == VMMU_EPT_VIOLATION
					    ? ept_qualification(fmt, access, rights)
					    : 0;
			return rc;
		}
		ept_finish(fmt, gpa, out);
		if (access & VMMU_EPT_ACC_PEEK) {
			return VMMU_EPT_OK;
		}
		uint32_t changed = 0;
		rc = vmmu_set_ad_bits(fmt, plat, fmt->levels, out->level, out->pte,
				      pte_addr, write, &changed);
		if (rc <= 0) {
			return rc;
		}
		vmmu_trace(plat, VMMU_TRACE_WALK_RETRY, gpa, changed);
	}
	return -VMMU_EBUSY;
}
