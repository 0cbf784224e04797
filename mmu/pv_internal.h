/* SPDX-License-Identifier: MIT */
/*
 * Private to the direct-paging sources (mmu/pv_*.c): entry bits and the
 * per-entry reference rules the validator and the hypercalls share.
 */
#ifndef VMMU_MMU_PV_INTERNAL_H
#define VMMU_MMU_PV_INTERNAL_H

#include "internal.h"

#define ENTRIES 512u

/* x86 entry bits direct paging reads (the PV ABI is x86-64 only). */
#define E_P (1ull << 0)
#define E_RW (1ull << 1)
#define E_PWT (1ull << 3)
#define E_PCD (1ull << 4)
#define E_A (1ull << 5)
#define E_D (1ull << 6)
#define E_PS (1ull << 7) /* PAT in an L1 entry */
#define E_G (1ull << 8)

static inline uint64_t entry_mfn(const struct vmmu_pv_domain *d, uint64_t e)
{
	return (e & d->addr_mask) >> 12;
}

static inline bool l4_slot_reserved(const struct vmmu_pv_domain *d,
				    unsigned level, unsigned i)
{
	return level == 4 && (d->l4_reserved[i / 64] >> (i % 64) & 1u) != 0;
}

/* The state of entry `special` of a table in (de)validation. */
enum entry_state {
	ES_NONE = 0,
	ES_PARTIAL = 1,   /* general ref + partial type ref on the table below */
	ES_RELEASING = 2, /* general ref; the type ref's release stopped early */
};

/*
 * A (de)validating or paused table's progress: entries [0, *next) hold
 * their references, entry *special what *state (enum entry_state) says.
 */
__attribute__((visibility("hidden"))) void
vmmu_pv_progress(const struct vmmu_ft *ft, uint64_t mfn, unsigned *next,
		 unsigned *special, unsigned *state);

/* Whether a present entry of `level` may carry e's flags (0 or -EINVAL). */
__attribute__((visibility("hidden"))) int
vmmu_pv_entry_check_flags(const struct vmmu_pv_domain *d, unsigned level,
			  uint64_t e);

/*
 * Check entry e of table `table` (of `level`) and take the references it needs
 * (nothing for a not-present entry, which is only checked). Returns 0,
 * -VMMU_ERESTART (L2-L4: the table below holds a partial reference, and
 * its general reference is held), or an error with nothing held.
 */
__attribute__((visibility("hidden"))) int
vmmu_pv_entry_get(struct vmmu_pv_domain *d, uint64_t table, unsigned level,
		  uint64_t e);

/*
 * vmmu_pv_entry_get for an L1 entry whose frame `owner` must own (the
 * domain a foreign mapping names; d->id otherwise).
 */
__attribute__((visibility("hidden"))) int
vmmu_pv_l1_get(struct vmmu_pv_domain *d, uint64_t e, vmmu_domid_t owner);

/*
 * The same-level link from `table` that entry e makes, when its table
 * below could not be taken (-VMMU_EBUSY): see mmu/pv_validate.c.
 */
__attribute__((visibility("hidden"))) int
vmmu_pv_linear_get(struct vmmu_pv_domain *d, uint64_t table, unsigned level,
		   uint64_t e);

/*
 * Release what vmmu_pv_entry_get took for e. Returns 0, or
 * -VMMU_ERESTART: the table below is being released and its reference is
 * not gone yet (finish with vmmu_pv_table_put on its frame).
 */
__attribute__((visibility("hidden"))) int
vmmu_pv_entry_put(struct vmmu_pv_domain *d, uint64_t table, unsigned level,
		  uint64_t e);

#endif
