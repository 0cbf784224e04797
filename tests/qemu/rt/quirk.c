/* SPDX-License-Identifier: MIT */
/*
 * Known deviations of QEMU's TCG (7.2) from the SDM, where vmmu follows the
 * SDM. The comparing kernels tolerate them under TCG only (CPUID signature)
 * and unless the command line says "strict", and count every use.
 */
#include "kx.h"

static const char *const names[KX_NQUIRK] = {
	[KX_Q_RSVD_NO_P] = "reserved-bit #PF error code has RSVD without P",
	[KX_Q_1G_LEAF_A_ON_FAULT] = "A set in a faulting 1G leaf (PDPTE)",
	[KX_Q_PKS_USER_NO_PK] = "user access to a supervisor page denied by "
				"PKRS: no PK in the error code",
	[KX_Q_IMPLICIT_SMAP_AC] = "EFLAGS.AC overrides SMAP for implicit "
				  "supervisor accesses at CPL 0",
};
static uint64_t hits[KX_NQUIRK];

bool kx_quirks_tolerated(void)
{
	return kx_under_tcg() && !kx_cmdline_has("strict");
}

bool kx_quirk(enum kx_quirk q)
{
	if (!kx_quirks_tolerated()) {
		return false;
	}
	hits[q]++;
	return true;
}

bool kx_quirk_rsvd_no_p(uint32_t cpu_error, uint32_t pfec)
{
	return (pfec & VMMU_PFEC_RSVD) != 0 &&
	       cpu_error == (pfec & ~(uint32_t)VMMU_PFEC_P) &&
	       kx_quirk(KX_Q_RSVD_NO_P);
}

const char *kx_quirks_mode(void)
{
	return kx_quirks_tolerated() ? "known TCG quirks tolerated and counted"
				     : "strict SDM comparison";
}

void kx_quirks_report(void)
{
	for (unsigned q = 0; q < KX_NQUIRK; q++) {
		if (hits[q] != 0) {
			kx_tap_diag("TCG quirk tolerated %lu times: %s", hits[q],
				    names[q]);
		}
	}
}
