/* SPDX-License-Identifier: MIT */
/**
 * @file shadow.h
 * Shadow paging (first slice): a cache of shadow page tables keyed by
 * (guest frame, role), a fault handler that fills them from the guest's
 * own tables, and write tracking that keeps them in sync with guest
 * page-table stores the embedder emulates. Design: docs/shadow.md.
 *
 * Two address spaces meet here:
 * - guest-physical: the guest's tables are read (and their A/D bits set)
 *   by a vmmu_walker over the *guest* platform given per vCPU, whose
 *   "physical" addresses are guest-physical;
 * - host-physical: shadow tables are frames from the *host* platform given
 *   to vmmu_shadow_init; their leaves hold host frames the embedder's p2m
 *   hook returns for guest frames.
 *
 * The hardware is assumed to run the shadow tables with CR0.WP=1,
 * EFER.NXE=1, and CR4.SMEP/SMAP/EFLAGS.AC as the guest set them.
 *
 * Concurrency: one instance is used under one lock held by the caller
 * (every function here is `_locked` in spirit); there is no global state,
 * and two instances coexist.
 */
#ifndef VMMU_SHADOW_H
#define VMMU_SHADOW_H

#include "platform.h"
#include "walk.h"

#ifdef __cplusplus
extern "C" {
#endif

/** What the p2m hook says about a guest frame. */
enum vmmu_p2m_type {
	VMMU_P2M_RAM = 0,    /**< guest RAM backed by *hfn */
	VMMU_P2M_MMIO = 1,   /**< emulated device memory: never mapped */
	VMMU_P2M_ABSENT = 2, /**< nothing there */
};

/** Embedder hooks of a shadow instance (the guest's memory layout). */
struct vmmu_shadow_ops {
	/**
	 * Translate guest frame gfn. Return enum vmmu_p2m_type; for
	 * VMMU_P2M_RAM set *hfn to the host frame number. Context: called
	 * per fault with the caller's lock held; must not call back into
	 * vmmu.
	 */
	int (*p2m)(void *ctx, uint64_t gfn, uint64_t *hfn);
};

/**
 * Role of a shadow page: every mode bit that changes how its entries are
 * encoded. Two shadows of one guest table with different roles are
 * different pages (CVE-2021-38198 class). Bit layout (private, stable for
 * tests): see VMMU_SHADOW_ROLE_*.
 */
#define VMMU_SHADOW_ROLE_LEVEL_MASK 0x7u     /**< level 1..5 of the shadow */
#define VMMU_SHADOW_ROLE_ACC_W (1u << 3)     /**< inherited: writable above */
#define VMMU_SHADOW_ROLE_ACC_U (1u << 4)     /**< inherited: user above */
#define VMMU_SHADOW_ROLE_ACC_X (1u << 5)     /**< inherited: executable above */
#define VMMU_SHADOW_ROLE_WP (1u << 6)        /**< guest CR0.WP */
#define VMMU_SHADOW_ROLE_SMEP_NOWP (1u << 7) /**< CR4.SMEP && !CR0.WP */
#define VMMU_SHADOW_ROLE_SMAP_NOWP (1u << 8) /**< CR4.SMAP && !CR0.WP */
#define VMMU_SHADOW_ROLE_NXE (1u << 9)       /**< guest EFER.NXE */
#define VMMU_SHADOW_ROLE_LA57 (1u << 10)     /**< 5-level guest paging */
#define VMMU_SHADOW_ROLE_DIRECT (1u << 11)   /**< splits a guest large page */
#define VMMU_SHADOW_ROLE_DIRTY (1u << 12)    /**< direct: guest leaf D was set */

/** Bookkeeping of one shadow page; storage is given by the embedder. */
struct vmmu_shadow_page {
	uint64_t gfn;  /**< guest table frame (direct: first guest frame covered) */
	uint64_t hpa;  /**< the shadow table frame; 0 = descriptor free */
	uint32_t role; /**< VMMU_SHADOW_ROLE_* */
	uint32_t next; /**< hash chain / free list: index + 1, 0 = end */
};

#define VMMU_SHADOW_HASH 256u

/** A shadow instance (one guest). Fields are private. */
struct vmmu_shadow {
	const struct vmmu_fmt *fmt;       /**< format of the shadow tables */
	const struct vmmu_platform *plat; /**< host platform */
	const struct vmmu_shadow_ops *ops;
	void *ops_ctx;
	struct vmmu_shadow_page *pages;   /**< [max_pages] */
	uint32_t max_pages;               /**< hard limit on shadow tables */
	uint32_t used_pages;
	uint32_t free_head;               /**< index + 1 */
	uint32_t gen;                     /**< bumped by vmmu_shadow_zap_all */
	uint32_t hash[VMMU_SHADOW_HASH];  /**< index + 1 */
	uint64_t stat_faults, stat_fixed, stat_inject, stat_emulate;
	uint64_t stat_zap_all, stat_write_zaps, stat_flushes;
};

/** Per-vCPU shadow state. Fields are private. */
struct vmmu_shadow_vcpu {
	struct vmmu_shadow *sh;
	struct vmmu_walker walker; /**< guest walker (guest platform) */
	uint64_t cr3;              /**< guest CR3 */
	uint64_t root_hpa;         /**< current shadow root, 0 = none yet */
	uint32_t mode_role;        /**< role bits from the CPU state */
	uint32_t gen;              /**< sh->gen when root_hpa was taken */
};

/** How vmmu_shadow_fault resolved a fault (non-negative). */
enum vmmu_shadow_outcome {
	VMMU_SHADOW_FIXED = 0,   /**< shadow filled: resume the guest */
	VMMU_SHADOW_INJECT = 1,  /**< inject #PF, error code in res->pfec */
	VMMU_SHADOW_MMIO = 2,    /**< emulate the access to res->gpa (device) */
	VMMU_SHADOW_EMULATE = 3, /**< allowed but not mappable as is: emulate
				      the instruction on res->gpa / res->hpa
				      (guest page-table store, or CR0.WP=0 with
				      SMAP writing a read-only user page) */
	VMMU_SHADOW_GP = 4,      /**< non-canonical address: inject #GP */
};

/** Result of vmmu_shadow_fault. */
struct vmmu_shadow_result {
	uint32_t outcome; /**< enum vmmu_shadow_outcome */
	uint32_t pfec;    /**< VMMU_SHADOW_INJECT: exact #PF error code */
	uint64_t gpa;     /**< MMIO/EMULATE/FIXED: guest-physical address */
	uint64_t hpa;     /**< FIXED/EMULATE: host-physical address */
};

/**
 * Set up an instance. fmt (x86, 4 or 5 levels: the shadow tables' format,
 * its level count must match the guests'), plat (host frames, TLB flush),
 * ops/ops_ctx (p2m), and pages[max_pages]: descriptor storage owned by the
 * caller; max_pages is the hard limit on shadow tables (>= levels).
 * Returns 0 or -VMMU_EINVAL. Context: any; allocates nothing.
 */
int vmmu_shadow_init(struct vmmu_shadow *sh, const struct vmmu_fmt *fmt,
		     const struct vmmu_platform *plat,
		     const struct vmmu_shadow_ops *ops, void *ops_ctx,
		     struct vmmu_shadow_page *pages, uint32_t max_pages);

/** Free every shadow table (no flush is requested). Context: instance lock. */
void vmmu_shadow_destroy(struct vmmu_shadow *sh);

/**
 * Attach a vCPU: guest_plat maps guest-physical memory (the guest tables),
 * cpu is its paging state (long mode; PKE/PKS give -VMMU_ENOTSUP), cr3 its
 * CR3. No frame is allocated until the first fault or vmmu_shadow_root.
 * Returns 0, -VMMU_EINVAL or -VMMU_ENOTSUP. Context: instance lock.
 */
int vmmu_shadow_vcpu_init(struct vmmu_shadow_vcpu *v, struct vmmu_shadow *sh,
			  const struct vmmu_fmt *guest_fmt,
			  const struct vmmu_platform *guest_plat,
			  const struct vmmu_cpu_state *cpu, uint64_t cr3);

/**
 * Guest changed CR0/CR4/EFER. The role changes with WP/SMEP/SMAP/NXE, so a
 * different root is used from the next fault on (the old one stays
 * cached). Returns 0, -VMMU_EINVAL or -VMMU_ENOTSUP (vCPU unchanged).
 * Context: instance lock.
 */
int vmmu_shadow_set_cpu(struct vmmu_shadow_vcpu *v,
			const struct vmmu_cpu_state *cpu);

/**
 * Guest loaded CR3 (bit 63, PCID no-flush, is ignored: shadows are always
 * in sync in this slice). Selects the root for (cr3 frame, role) from the
 * next fault on. Returns 0 or -VMMU_EINVAL (reserved CR3 bits).
 * Context: instance lock.
 */
int vmmu_shadow_new_cr3(struct vmmu_shadow_vcpu *v, uint64_t cr3);

/**
 * Host-physical address of the vCPU's shadow root, creating it when
 * needed (after a CR3/mode change or vmmu_shadow_zap_all). Returns 0 and
 * sets *root, or -VMMU_ENOMEM. Context: instance lock, before guest entry.
 */
int vmmu_shadow_root(struct vmmu_shadow_vcpu *v, uint64_t *root);

/**
 * Handle a #PF the hardware raised on the shadow tables at gva with
 * access (enum vmmu_access; the hardware error code's W/U/I bits plus
 * VMMU_ACC_AC/IMPLICIT). Walks the guest tables (setting guest A/D),
 * consults the p2m and installs shadow entries. Returns 0 with *res
 * filled, or -VMMU_ENOMEM (pool limit reached even after reclaim; nothing
 * is left half-linked), -VMMU_ENOENT (the guest frame is absent in the
 * p2m), -VMMU_EFAULT (a guest table is not memory), -VMMU_EINVAL.
 * Context: instance lock.
 */
int vmmu_shadow_fault(struct vmmu_shadow_vcpu *v, uint64_t gva,
		      uint32_t access, struct vmmu_shadow_result *res);

/**
 * Apply an emulated guest store of size 1, 2, 4 or 8 bytes (naturally
 * aligned) of value at gpa, and drop every shadow entry derived from the
 * guest entry it touches (in every role), with one TLB-flush request when
 * a present shadow entry was dropped. Returns 0, -VMMU_EALIGN,
 * -VMMU_EINVAL or -VMMU_EFAULT (gpa not guest memory). Context: instance
 * lock.
 */
int vmmu_shadow_write(struct vmmu_shadow_vcpu *v, uint64_t gpa,
		      uint64_t value, unsigned size);

/**
 * Guest INVLPG: drop the shadow leaf for gva in the current root and
 * request a flush of that page. A no-op for non-canonical gva. Returns 0.
 * Context: instance lock.
 */
int vmmu_shadow_invlpg(struct vmmu_shadow_vcpu *v, uint64_t gva);

/**
 * Free every shadow table of the instance and request one full TLB flush;
 * every vCPU re-creates its root on next use. Also the reclaim step when
 * the pool is full. Context: instance lock; no vCPU runs on a shadow root.
 */
void vmmu_shadow_zap_all(struct vmmu_shadow *sh);

/**
 * Number of shadow pages that shadow guest frame gfn (any role, not
 * direct): non-zero means its writes must go through vmmu_shadow_write.
 * Context: instance lock.
 */
uint32_t vmmu_shadow_tracked(const struct vmmu_shadow *sh, uint64_t gfn);

/**
 * Find the shadow page for (gfn, role); returns its table's host-physical
 * address or 0. For tests and audits. Context: instance lock.
 */
uint64_t vmmu_shadow_lookup(const struct vmmu_shadow *sh, uint64_t gfn,
			    uint32_t role);

#ifdef __cplusplus
}
#endif

#endif /* VMMU_SHADOW_H */
