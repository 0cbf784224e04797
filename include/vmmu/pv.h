/* SPDX-License-Identifier: MIT */
/**
 * @file pv.h
 * @brief Direct paging: the hypervisor side of Xen-style paravirtual
 * paging (docs/direct-paging.md). A guest's own page tables are loaded by
 * the hardware, so every entry it installs is validated against the frame
 * table: the frame must be the guest's, a page table must never be
 * writable, a table of level n may only point at tables of level n-1.
 *
 * One struct vmmu_pv_domain per guest, one struct vmmu_pv_vcpu per
 * virtual CPU; the hypercalls take a vCPU. All of a domain's vCPUs may
 * call at once.
 */
#ifndef VMMU_PV_H
#define VMMU_PV_H

#include <stdbool.h>
#include <stdint.h>

#include <vmmu/frame.h>
#include <vmmu/platform.h>
#include <vmmu/pv_abi.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Domain flags. */
enum vmmu_pv_domain_flags {
	/** L1 entries may set PWT/PCD/PAT (the domain may flush caches). */
	VMMU_PV_CACHE_ATTRS = 1u << 0,
};

/** A guest. Initialise with vmmu_pv_domain_init(); fields are private. */
struct vmmu_pv_domain {
	struct vmmu_ft *ft;
	const struct vmmu_platform *plat; /**< flushes reach this domain's CPUs */
	struct vmmu_ft_ops ops;           /**< the validator, bound to this domain */
	uint64_t addr_mask;               /**< frame-address bits of an entry */
	uint64_t rsvd_mask;               /**< bits above MAXPHYADDR (and 51) */
	uint64_t l4_reserved[8];          /**< L4 slots the hypervisor owns */
	vmmu_domid_t id;
	uint32_t flags;
};

/**
 * Set up domain `id` over frame table ft. plat is the domain's platform:
 * its tlb_flush hook gets this domain's flush requests (a NULL CPU mask
 * meaning every CPU the domain is dirty on), and its should_yield hook
 * preempts long validations. l4_reserved (may be NULL) marks the L4 slots
 * the hypervisor keeps for itself (Xen: 256-271): validation skips them
 * and a guest may not write them; the embedder fills them. maxphyaddr
 * bounds entry addresses. Returns 0 or -VMMU_EINVAL.
 */
int vmmu_pv_domain_init(struct vmmu_pv_domain *d, struct vmmu_ft *ft,
			const struct vmmu_platform *plat, vmmu_domid_t id,
			unsigned maxphyaddr, const uint64_t l4_reserved[8],
			uint32_t flags);

/**
 * Take a reference to frame mfn as a validated page table of `level`
 * (1..4) for domain d: a general reference and a type reference,
 * validating the table (and, through its entries, the tables below it)
 * if it is not validated yet. Returns 0, -VMMU_ERESTART (the validation
 * stopped early: the caller holds a partial reference and continues with
 * vmmu_pv_table_continue or gives it up with vmmu_pv_table_abandon),
 * -VMMU_EAGAIN (nothing taken, another CPU is busy with the frame),
 * -VMMU_EPERM (not d's frame), -VMMU_EBUSY (in use as another type, e.g.
 * mapped writable) or -VMMU_EINVAL (an entry is not acceptable).
 */
int vmmu_pv_table_get(struct vmmu_pv_domain *d, uint64_t mfn, unsigned level);
/** Continue a partial reference from vmmu_pv_table_get. Same returns. */
int vmmu_pv_table_continue(struct vmmu_pv_domain *d, uint64_t mfn,
			   unsigned level);
/**
 * Give a partial reference up. Returns 0, or -VMMU_ERESTART (call
 * vmmu_pv_table_put to finish releasing it).
 */
int vmmu_pv_table_abandon(struct vmmu_pv_domain *d, uint64_t mfn);
/**
 * Drop a reference from vmmu_pv_table_get. The last one devalidates the
 * table (releasing what its entries held). Returns 0 or -VMMU_ERESTART
 * (devalidation stopped early: call again to finish).
 */
int vmmu_pv_table_put(struct vmmu_pv_domain *d, uint64_t mfn);

#ifdef __cplusplus
}
#endif

#endif
