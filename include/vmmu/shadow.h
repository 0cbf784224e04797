/* SPDX-License-Identifier: MIT */
/**
 * @file shadow.h
 * Shadow paging: a cache of shadow page tables keyed by (guest frame,
 * role), a fault handler that fills them from the guest's own tables, and
 * write tracking that keeps them in sync with the guest's page-table
 * stores (emulated after a trap, sent as a batch, or let through to an
 * out-of-sync leaf table until the guest's next TLB flush). Design,
 * invariants and costs: docs/shadow.md.
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

/** Upper entries a shadow page remembers pointing at it (more: a scan). */
#define VMMU_SHADOW_KNOWN_PARENTS 4u

/** Bookkeeping of one shadow page; storage is given by the embedder. */
struct vmmu_shadow_page {
	uint64_t gfn;   /**< guest table frame (direct: first guest frame covered) */
	uint64_t hpa;   /**< the shadow table frame; 0 = descriptor free */
	uint64_t aux;   /**< levels 1, 2: the reverse-map link frame */
	uint32_t role;  /**< VMMU_SHADOW_ROLE_* */
	uint32_t next;  /**< gfn hash chain / free list / zap list: index + 1 */
	uint32_t hnext; /**< hpa hash chain: index + 1 */
	uint32_t older, newer; /**< creation-order list: index + 1 */
	uint32_t parents;      /**< upper shadow entries that point here */
	uint32_t roots;        /**< vCPU references as current or cached root */
	uint32_t flood;        /**< emulated writes since a fault last used it */
	uint32_t parent[VMMU_SHADOW_KNOWN_PARENTS]; /**< known: index + 1, 0 = none */
	uint16_t parent_slot[VMMU_SHADOW_KNOWN_PARENTS]; /**< their slots */
	uint16_t flags;        /**< private */
};

#define VMMU_SHADOW_HASH 1024u      /**< gfn and hpa hash buckets */
#define VMMU_SHADOW_RMAP_HASH 4096u /**< reverse-map buckets (host frames) */
#define VMMU_SHADOW_OOS_MAX 32u     /**< out-of-sync guest tables at once */
#define VMMU_SHADOW_PREV_ROOTS 3u   /**< cached previous roots per vCPU */
#define VMMU_SHADOW_VCPU_CACHE 16u  /**< frames a vCPU keeps in reserve */
#define VMMU_SHADOW_MAX_PAGES (1u << 22) /**< largest max_pages */

/** One out-of-sync guest leaf table and its snapshot. Private. */
struct vmmu_shadow_oos {
	uint64_t gfn;  /**< the guest table */
	uint64_t snap; /**< host frame: the guest table as it was when unsynced */
};

/** A shadow instance (one guest). Fields are private. */
struct vmmu_shadow {
	const struct vmmu_fmt *fmt;       /**< format of the shadow tables */
	const struct vmmu_platform *plat; /**< host platform */
	const struct vmmu_shadow_ops *ops;
	void *ops_ctx;
	struct vmmu_shadow_page *pages;   /**< [max_pages] */
	uint32_t max_pages;               /**< hard limit on shadow tables */
	uint32_t used_pages;              /**< live (not free, not zapped) */
	uint32_t free_head;               /**< index + 1 */
	uint32_t gen;                     /**< bumped by vmmu_shadow_zap_all */
	uint32_t oldest, newest;          /**< creation-order list ends */
	uint32_t zap_head;                /**< zapped, waiting for the flush */
	uint32_t n_oos;
	uint32_t epoch;                   /**< bumped when a page (zap, zap-all) or
					       an upper link goes */
	uint32_t no_prefetch;             /**< vmmu_shadow_set_prefetch(false) */
	uint32_t hash[VMMU_SHADOW_HASH];  /**< by gfn: index + 1 */
	uint32_t hhash[VMMU_SHADOW_HASH]; /**< by shadow table address */
	uint32_t rmap[VMMU_SHADOW_RMAP_HASH]; /**< leaf slots by host frame */
	struct vmmu_shadow_oos oos[VMMU_SHADOW_OOS_MAX];
	uint64_t stat_faults, stat_fixed, stat_inject, stat_emulate;
	uint64_t stat_zap_all, stat_write_zaps, stat_flushes;
	uint64_t stat_reclaimed, stat_unsync, stat_resync, stat_unshadow;
	uint64_t stat_prefetch, stat_large;
};

/** A cached root of a vCPU. Private. */
struct vmmu_shadow_root_ref {
	uint64_t gfn;
	uint32_t role;
	uint32_t idx; /**< descriptor index + 1, 0 = empty */
};

/** The path of a vCPU's last fill, reused while nothing was unlinked. Private. */
struct vmmu_shadow_path {
	uint64_t tag;   /**< gva >> 21 of the fill, ~0 = none */
	uint32_t epoch; /**< sh->epoch then */
	uint32_t reserved_;
	uint64_t gfn[VMMU_LEVEL_MAX + 1];
	uint32_t role[VMMU_LEVEL_MAX + 1];
	int32_t idx[VMMU_LEVEL_MAX + 1];
};

/** Per-vCPU shadow state. Fields are private. */
struct vmmu_shadow_vcpu {
	struct vmmu_shadow *sh;
	struct vmmu_walker walker; /**< guest walker (guest platform) */
	uint64_t cr3;              /**< guest CR3 */
	uint64_t root_hpa;         /**< current shadow root, 0 = none yet */
	uint32_t mode_role;        /**< role bits from the CPU state */
	uint32_t gen;              /**< sh->gen when the roots were taken */
	struct vmmu_shadow_root_ref cur;  /**< current root (holds a reference) */
	struct vmmu_shadow_root_ref prev[VMMU_SHADOW_PREV_ROOTS]; /**< newest first */
	struct vmmu_shadow_path last;     /**< last fill's path */
	uint64_t split_gfn;               /**< 2M region last found unfit for a 2M leaf */
	uint32_t split_epoch;             /**< sh->epoch then (+1: none) */
	uint32_t reserved2_;
	uint64_t cache[VMMU_SHADOW_VCPU_CACHE]; /**< reserved frames */
	uint32_t n_cache;
	uint32_t reserved_;
};

/** Counters of an instance (vmmu_shadow_stats). */
struct vmmu_shadow_stats {
	uint64_t faults, fixed, injected, emulated;
	uint64_t flushes;        /**< TLB-flush requests made */
	uint64_t write_zaps;     /**< emulated stores that dropped a present entry */
	uint64_t zap_all;
	uint64_t reclaimed;      /**< pages evicted oldest-first */
	uint64_t unsynced, resynced; /**< leaf tables let go out of sync / resynced */
	uint64_t unshadowed;     /**< frames unshadowed (flooding, misaligned writes) */
	uint64_t prefetched;     /**< neighbouring leaves filled ahead */
	uint64_t large;          /**< 2M shadow leaves installed */
	uint32_t used_pages, max_pages, out_of_sync;
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
 * caller; max_pages is the hard limit on shadow tables (levels ..
 * VMMU_SHADOW_MAX_PAGES). Each level-1 and level-2 shadow table takes a
 * second frame (its reverse-map links) and each out-of-sync guest table a
 * snapshot frame, and each vCPU may hold VMMU_SHADOW_VCPU_CACHE reserved
 * frames: size the host frame pool for 2 * max_pages +
 * VMMU_SHADOW_OOS_MAX + VMMU_SHADOW_VCPU_CACHE * vCPUs. Returns 0 or
 * -VMMU_EINVAL. Context: any; allocates nothing.
 */
int vmmu_shadow_init(struct vmmu_shadow *sh, const struct vmmu_fmt *fmt,
		     const struct vmmu_platform *plat,
		     const struct vmmu_shadow_ops *ops, void *ops_ctx,
		     struct vmmu_shadow_page *pages, uint32_t max_pages);

/**
 * Prefetch (on by default): a fill also fills the empty, accessed
 * neighbours in its aligned group of 8 guest entries (docs/shadow.md).
 * Off: each fault fills one leaf. Context: instance lock.
 */
void vmmu_shadow_set_prefetch(struct vmmu_shadow *sh, bool on);

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
 * Detach a vCPU: drop its references on its current and cached roots and
 * give its reserved frames back. Context: instance lock.
 */
void vmmu_shadow_vcpu_destroy(struct vmmu_shadow_vcpu *v);

/**
 * Fill the vCPU's reserve of frames (VMMU_SHADOW_VCPU_CACHE) from the host
 * platform's frame_alloc. The fault path takes frames from this reserve
 * first, so an embedder whose frame_alloc must not run under its lock
 * calls this before taking the lock (KVM's memory-cache top-up): a fault
 * needs at most 2 * levels + 1 frames. Returns 0 or -VMMU_ENOMEM (what
 * was allocated is kept). Context: vCPU owner, not necessarily under the
 * instance lock.
 */
int vmmu_shadow_vcpu_topup(struct vmmu_shadow_vcpu *v);

/** Counters and pool occupancy. Context: instance lock. */
void vmmu_shadow_stats(const struct vmmu_shadow *sh, struct vmmu_shadow_stats *out);

/**
 * Guest changed CR0/CR4/EFER. The role changes with WP/SMEP/SMAP/NXE, so a
 * different root is used from the next fault on (the old one stays
 * cached). Returns 0, -VMMU_EINVAL or -VMMU_ENOTSUP (vCPU unchanged).
 * Context: instance lock.
 */
int vmmu_shadow_set_cpu(struct vmmu_shadow_vcpu *v,
			const struct vmmu_cpu_state *cpu);

/**
 * Guest loaded CR3: a guest TLB flush (out-of-sync tables are resynced;
 * bit 63, PCID no-flush, is treated as a flush too, which is always
 * allowed). The root for (cr3 frame, role) is taken from the vCPU's
 * cached roots when it is one of the last VMMU_SHADOW_PREV_ROOTS + 1
 * (no lookup, no allocation), else found or built by the next
 * vmmu_shadow_root or fault. Returns 0 or -VMMU_EINVAL (reserved CR3
 * bits). Context: instance lock.
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
 * filled, or -VMMU_ENOMEM (the pool limit or the platform ran out and
 * nothing evictable is left: every page is some vCPU's root; nothing is
 * left half-linked), -VMMU_ENOENT (the guest frame is absent in the
 * p2m), -VMMU_EFAULT (a guest table is not memory), -VMMU_EINVAL.
 * A write to an in-sync guest leaf table lets it go out of sync (FIXED)
 * when it is shadowed only as a leaf table; else it is EMULATE.
 * Context: instance lock.
 */
int vmmu_shadow_fault(struct vmmu_shadow_vcpu *v, uint64_t gva,
		      uint32_t access, struct vmmu_shadow_result *res);

/**
 * Apply an emulated guest store of size 1, 2, 4 or 8 bytes of value at
 * gpa, and drop every shadow entry derived from the guest entries it
 * touches (in every role), with one TLB-flush request when a present
 * shadow entry was dropped. A store smaller than 4 bytes or across two
 * entries, or the third store in a row to a frame no fault used in
 * between (write flooding), means the frame is used as data: its shadows
 * are zapped (except roots in use) and it stops being tracked. Returns 0,
 * -VMMU_EALIGN (crosses a page: split it), -VMMU_EINVAL or -VMMU_EFAULT
 * (gpa not guest memory). Context: instance lock.
 */
int vmmu_shadow_write(struct vmmu_shadow_vcpu *v, uint64_t gpa,
		      uint64_t value, unsigned size);

/** One guest page-table store for vmmu_shadow_write_batch. */
struct vmmu_shadow_store {
	uint64_t gpa;   /**< entry address (8-byte aligned) | VMMU_SHADOW_STORE_* */
	uint64_t value; /**< the new 8-byte entry */
};

/** Low bit of vmmu_shadow_store::gpa: keep the guest entry's A/D bits
 * (they are ORed from the old entry, as Xen's PT_UPDATE_PRESERVE_AD). */
#define VMMU_SHADOW_STORE_PRESERVE_AD 1u

/**
 * Apply n 8-byte guest page-table stores in order, as vmmu_shadow_write
 * does one, with at most one TLB-flush request for the whole run (the
 * guest-side batch interface: PTE writes arrive as a batch, no trap).
 * Returns 0 with *done = n, or the first refusal (-VMMU_EALIGN,
 * -VMMU_EFAULT, -VMMU_EINVAL) with *done = its index: the stores before it
 * are applied, it and those after it are not. Context: instance lock.
 */
int vmmu_shadow_write_batch(struct vmmu_shadow_vcpu *v,
			    const struct vmmu_shadow_store *st, uint32_t n,
			    uint32_t *done);

/**
 * Guest flushed its whole TLB (non-global entries: MOV CR3 without PCID
 * no-flush, INVPCID single-context): out-of-sync shadows are resynced.
 * Requests the flush from the platform. Returns 0. Context: instance lock.
 */
int vmmu_shadow_flush_tlb(struct vmmu_shadow_vcpu *v);

/**
 * Guest INVLPG: drop the shadow leaf for gva in the current root (so an
 * out-of-sync table's change for gva is seen) and request a flush of that
 * page. A no-op for non-canonical gva. Returns 0.
 * Context: instance lock.
 */
int vmmu_shadow_invlpg(struct vmmu_shadow_vcpu *v, uint64_t gva);

/**
 * Free every shadow table of the instance and request one full TLB flush;
 * every vCPU re-creates its root on next use (cached roots are dropped).
 * Context: instance lock; no vCPU runs on a shadow root.
 */
void vmmu_shadow_zap_all(struct vmmu_shadow *sh);

/**
 * Number of shadow pages that shadow guest frame gfn (any role, not
 * direct): non-zero means the frame is a tracked guest table, whose
 * stores go through vmmu_shadow_write(_batch) unless it is out of sync
 * (vmmu_shadow_out_of_sync). Context: instance lock.
 */
uint32_t vmmu_shadow_tracked(const struct vmmu_shadow *sh, uint64_t gfn);

/**
 * Whether guest frame gfn is an out-of-sync leaf table: shadowed, but its
 * shadow leaves may be writable and its shadows may lag the guest until
 * the guest's next INVLPG, TLB flush or CR3 load. Context: instance lock.
 */
bool vmmu_shadow_out_of_sync(const struct vmmu_shadow *sh, uint64_t gfn);

/**
 * Check the instance's bookkeeping against its tables: hashes, the live
 * count, parent counts and known parents, the reverse map (every present
 * leaf linked once, in the right chain, both ways), out-of-sync records.
 * scratch: max_pages words. Returns the number of problems found (0 =
 * consistent) or -VMMU_EINVAL. Slow: for tests. Context: instance lock.
 */
int vmmu_shadow_audit(const struct vmmu_shadow *sh, uint32_t *scratch);

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
