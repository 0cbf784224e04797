/* SPDX-License-Identifier: MIT */
/* Shared glue of the differential model tests: see model_common.h. */
#include "model_common.h"

#include <string.h>

static bool flat_read(void *ctx, uint64_t pa, uint64_t *val)
{
	const struct model_flat_mem *flat = ctx;

	if (pa >= flat->size) {
		return false;
	}
	memcpy(val, flat->bytes + pa, sizeof(*val));
	return true;
}

static void flat_write(void *ctx, uint64_t pa, uint64_t val)
{
	struct model_flat_mem *flat = ctx;

	memcpy(flat->bytes + pa, &val, sizeof(val));
}

struct ref_mem model_ref_mem(struct model_flat_mem *flat)
{
	return (struct ref_mem){flat, flat_read, flat_write};
}

void model_cpu_state(const struct ref_cpu *rcpu, struct vmmu_cpu_state *cpu)
{
	memset(cpu, 0, sizeof(*cpu));
	cpu->cr0 = VMMU_CR0_PE | VMMU_CR0_PG |
		   (rcpu->cr0_wp ? VMMU_CR0_WP : 0);
	cpu->cr4 = VMMU_CR4_PAE | (rcpu->cr4_la57 ? VMMU_CR4_LA57 : 0) |
		   (rcpu->cr4_smep ? VMMU_CR4_SMEP : 0) |
		   (rcpu->cr4_smap ? VMMU_CR4_SMAP : 0) |
		   (rcpu->cr4_pke ? VMMU_CR4_PKE : 0) |
		   (rcpu->cr4_pks ? VMMU_CR4_PKS : 0);
	cpu->efer = VMMU_EFER_LME | VMMU_EFER_LMA |
		    (rcpu->efer_nxe ? VMMU_EFER_NXE : 0);
	cpu->pkru = rcpu->pkru;
	cpu->pkrs = rcpu->pkrs;
}

uint32_t model_access_flags(const struct ref_access *racc)
{
	uint32_t access = 0;

	access |= racc->write ? VMMU_ACC_WRITE : 0;
	access |= racc->user ? VMMU_ACC_USER : 0;
	access |= racc->fetch ? VMMU_ACC_FETCH : 0;
	access |= racc->implicit ? VMMU_ACC_IMPLICIT : 0;
	access |= racc->ac ? VMMU_ACC_AC : 0;
	access |= racc->no_ad ? VMMU_ACC_PEEK : 0;
	return access;
}

int model_outcome_rc(enum ref_outcome o)
{
	switch (o) {
	case REF_OK:
		return VMMU_WALK_OK;
	case REF_PF:
		return VMMU_WALK_PF;
	case REF_GP:
		return VMMU_WALK_GP;
	case REF_BADMEM:
		return -VMMU_EFAULT;
	}
	return -1000;
}

const char *model_outcome_name(int rc)
{
	switch (rc) {
	case VMMU_WALK_OK:
		return "OK";
	case VMMU_WALK_PF:
		return "#PF";
	case VMMU_WALK_GP:
		return "#GP";
	case -VMMU_EFAULT:
		return "EFAULT";
	default:
		return "?";
	}
}

const char *model_outcome_mismatch(int vrc, const struct vmmu_walk *vw,
				   const struct ref_result *rr)
{
	if (vrc != model_outcome_rc(rr->outcome)) {
		return "outcome";
	}
	if (vrc == VMMU_WALK_PF && vw->pfec != rr->pfec) {
		return "error code";
	}
	if (vrc == VMMU_WALK_OK && vw->addr != rr->pa) {
		return "physical address";
	}
	return NULL;
}

/* Entries read and their addresses, from the top level to the last one. */
static bool same_path(const struct vmmu_walk *vw, const struct ref_result *rr)
{
	for (unsigned l = rr->top_level; l >= rr->level && l >= 1; l--) {
		if (vw->pte[l] != rr->pte[l] ||
		    vw->pte_addr[l] != rr->pte_addr[l]) {
			return false;
		}
	}
	return true;
}

const char *model_record_mismatch(int vrc, const struct vmmu_walk *vw,
				  const struct ref_result *rr,
				  const struct ref_cpu *rcpu)
{
	if (vrc != VMMU_WALK_OK && vrc != VMMU_WALK_PF) {
		return NULL; /* no record to compare */
	}
	if (vw->level != rr->level || vw->top_level != rr->top_level) {
		return "walk record: level";
	}
	if (!same_path(vw, rr)) {
		return "walk record: pte[]/pte_addr[]";
	}
	if (vrc == VMMU_WALK_OK && (rcpu->cr4_pke || rcpu->cr4_pks) &&
	    vw->pkey != ((rr->pte[rr->level] >> 59) & 15)) {
		return "walk record: pkey";
	}
	return NULL;
}
