/* SPDX-License-Identifier: MIT */
/*
 * vCPU state: the mode part of the role, CR3 loads and CPU mode changes.
 * Both are guest TLB flushes: out-of-sync tables are resynced first, then
 * the root for the new (CR3 frame, role) is taken from the vCPU's cached
 * roots when it is there (no lookup, no allocation), else found or built
 * by the next vmmu_shadow_root or fault.
 */
#include "internal.h"

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

uint32_t sh_root_role(const struct vmmu_shadow_vcpu *v)
{
	return v->mode_role | SH_ACC_ALL | v->walker.levels;
}

uint64_t sh_root_gfn(const struct vmmu_shadow_vcpu *v)
{
	return (v->cr3 & v->walker.addr_mask) >> VMMU_PAGE_SHIFT;
}

/* After a CR3 or mode change: the cached root, or none until the next use. */
static void select_root(struct vmmu_shadow_vcpu *v)
{
	if (!sh_root_from_cache(v, sh_root_gfn(v), sh_root_role(v))) {
		v->root_hpa = 0;
	}
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
	*v = (struct vmmu_shadow_vcpu){.sh = sh, .mode_role = role, .gen = sh->gen,
				       .last = {.tag = ~0ull}, .split_gfn = ~0ull};
	rc = vmmu_walker_init(&v->walker, guest_fmt, guest_plat, cpu);
	if (rc != 0) {
		return rc;
	}
	if ((cr3 & v->walker.cr3_rsvd) != 0) {
		return -VMMU_EINVAL;
	}
	v->cr3 = cr3 & ~(1ull << 63);
	return 0;
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
		/* CR0.WP/CR4.SMEP/SMAP changes flush the TLB (SDM 4.10.4.1). */
		if (sh_resync_all(v)) {
			sh_flush_all(v->sh, VMMU_TLB_ALL);
		}
		v->mode_role = role;
		select_root(v);
	}
	return 0;
}

int vmmu_shadow_new_cr3(struct vmmu_shadow_vcpu *v, uint64_t cr3)
{
	if (v == NULL || (cr3 & v->walker.cr3_rsvd) != 0) {
		return -VMMU_EINVAL;
	}
	/*
	 * Bit 63 (PCID no-flush) and the PCID do not select tables. The load
	 * is treated as a full flush even with bit 63 set: resyncing more
	 * often than the guest asked is always allowed.
	 */
	v->cr3 = cr3 & ~(1ull << 63);
	if (sh_resync_all(v)) {
		sh_flush_all(v->sh, VMMU_TLB_ALL);
	}
	select_root(v);
	return 0;
}

int vmmu_shadow_flush_tlb(struct vmmu_shadow_vcpu *v)
{
	if (v == NULL) {
		return -VMMU_EINVAL;
	}
	(void)sh_resync_all(v); /* the one flush below covers the resync */
	sh_flush_all(v->sh, VMMU_TLB_ALL);
	return 0;
}
