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
	/**
	 * L2-L4 entries may link to a validated table of their own level or
	 * to their own table, read-only ("linear" or recursive page tables,
	 * Xen's pv-linear-pt); a table holds such links or is linked to,
	 * never both.
	 */
	VMMU_PV_LINEAR_PT = 1u << 1,
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
	uint64_t *m2p;                    /**< MACHPHYS_UPDATE's table, or NULL */
	const struct vmmu_pv_guest_ops *guest; /**< guest-memory access, or NULL */
	const struct vmmu_pv_foreign_ops *foreign; /**< foreign mappings, or NULL */
	uint32_t nr_vcpus;                /**< bits in a vCPU bitmap */
	uint32_t reserved_;
};

struct vmmu_pv_vcpu;

/**
 * Foreign mappings (the foreigndom argument of mmu_update and
 * update_va_mapping_otherdomain): how a privileged domain (a toolstack, a
 * device model, a backend driver) reaches the frames of the domains it
 * controls. The embedder decides who controls whom, as Xen's IS_PRIV_FOR /
 * XSM_TARGET check does.
 */
struct vmmu_pv_foreign_ops {
	/**
	 * The domain `domid` if `caller` may map its frames, kept alive until
	 * put(); NULL when there is no such domain or caller may not (the
	 * call is refused with -VMMU_EPERM). It must use the caller's frame
	 * table. Never asked for DOMID_SELF, the caller's own id or ids from
	 * VMMU_PV_DOMID_SELF up (refused by vmmu).
	 */
	struct vmmu_pv_domain *(*get)(void *ctx, const struct vmmu_pv_domain *caller,
				      vmmu_domid_t domid);
	/** The call that got it is over. */
	void (*put)(void *ctx, struct vmmu_pv_domain *d);
	void *ctx;
};

/** How vmmu reads guest memory (vCPU bitmaps of the multi flush forms). */
struct vmmu_pv_guest_ops {
	/**
	 * Copy len bytes at guest virtual address gva, as vCPU v sees it,
	 * into dst. Return 0 or -VMMU_EFAULT.
	 */
	int (*copy_from_guest)(void *ctx, const struct vmmu_pv_vcpu *v, void *dst,
			       uint64_t gva, size_t len);
	/**
	 * An L4 was just validated: write the hypervisor's entries into its
	 * reserved slots (whatever the guest left there must not survive).
	 * Optional: without it (or without guest ops) the reserved slots of
	 * every validated L4 are cleared.
	 */
	void (*fill_reserved_l4)(void *ctx, uint64_t mfn, vmmu_pte_t *l4);
	void *ctx;
};

/**
 * Set up domain `id` over frame table ft. plat is the domain's platform:
 * its tlb_flush hook gets this domain's flush requests (a NULL CPU mask
 * meaning every CPU the domain is dirty on), and its should_yield hook
 * preempts long validations. l4_reserved (may be NULL) marks the L4 slots
 * the hypervisor keeps for itself (Xen: 256-271): validation skips them,
 * then clears them or lets the embedder fill them
 * (vmmu_pv_guest_ops::fill_reserved_l4), and a guest may not write them
 * while the table is validated. maxphyaddr
 * bounds entry addresses. Returns 0 or -VMMU_EINVAL.
 */
int vmmu_pv_domain_init(struct vmmu_pv_domain *d, struct vmmu_ft *ft,
			const struct vmmu_platform *plat, vmmu_domid_t id,
			unsigned maxphyaddr, const uint64_t l4_reserved[8],
			uint32_t flags);

/**
 * The machine-to-physical table MMU_MACHPHYS_UPDATE writes: m2p[mfn] for
 * every frame of the frame table (the embedder shows it to guests
 * read-only). NULL (the default): the command is refused.
 */
void vmmu_pv_domain_set_m2p(struct vmmu_pv_domain *d, uint64_t *m2p);

/**
 * Guest-memory access for the multi-vCPU flush forms (TLB_FLUSH_MULTI,
 * INVLPG_MULTI, UVMF_MULTI), whose vCPU bitmap (nr_vcpus bits, at most
 * 4096) lies in guest memory. NULL (the default): those forms are refused.
 */
void vmmu_pv_domain_set_guest_ops(struct vmmu_pv_domain *d,
				  const struct vmmu_pv_guest_ops *ops,
				  uint32_t nr_vcpus);

/**
 * Let domain d map other domains' frames through the foreigndom argument
 * (see struct vmmu_pv_foreign_ops). NULL (the default): any foreigndom
 * but d's own is refused with -VMMU_EPERM. The references a foreign
 * mapping holds are on the other domain's frames: audit the domains
 * together (vmmu_pv_audit_domains).
 */
void vmmu_pv_domain_set_foreign_ops(struct vmmu_pv_domain *d,
				    const struct vmmu_pv_foreign_ops *ops);

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

/** Releases a vCPU can have parked (see struct vmmu_pv_vcpu). */
#define VMMU_PV_PARKED_MAX 4

/**
 * A virtual CPU of a domain. Initialise with vmmu_pv_vcpu_init(); fields
 * are private except through the accessors.
 */
struct vmmu_pv_vcpu {
	struct vmmu_pv_domain *d;
	uint32_t id;
	uint32_t reserved_;
	uint64_t base;      /**< kernel L4 (holds a table reference), 0: none */
	uint64_t user_base; /**< user L4 (holds a table reference), 0: none */
	/**
	 * Table references whose release stopped early (Xen's
	 * old_guest_table): finished first thing in the vCPU's next call. A
	 * call parks at most three: one from a request, one from the table
	 * it was updating, one from a paused validation it gave up at its end.
	 */
	uint64_t pending_put[VMMU_PV_PARKED_MAX];
	/**
	 * A partial table reference this vCPU owns (a validation stopped
	 * early): kept only for the retry of the request that made it; a
	 * call that ends any other way than -VMMU_ERESTART gives it up, so
	 * other vCPUs never wait on it for long.
	 */
	uint64_t pending_partial;
	uint32_t pending_level;
	uint32_t reserved2_;
};

/** Set up vCPU id of domain d. Returns 0 or -VMMU_EINVAL. */
int vmmu_pv_vcpu_init(struct vmmu_pv_vcpu *v, struct vmmu_pv_domain *d,
		      uint32_t id);

/**
 * The hypercall mmu_update: apply reqs[*done .. count) in order. Each
 * request is checked before it changes anything (MACHPHYS_UPDATE needs
 * vmmu_pv_domain_set_m2p; commands 4-7 are refused with -VMMU_ENOTSUP);
 * the first refused one
 * stops the call with its error and *done = its index. When the
 * platform's should_yield asks to stop (checked before every request but
 * the first), the call returns -VMMU_ERESTART with *done = the requests
 * completed: call again with the same array and done to continue. *done
 * must not exceed count (-VMMU_EINVAL: a resumed index is checked, Xen
 * XSA-212). foreigndom: the low 16 bits name the domain whose frames
 * new L1 entries may map (and whose M2P slots MACHPHYS_UPDATE may set):
 * VMMU_PV_DOMID_SELF or d's own id, or another domain d may map
 * (vmmu_pv_domain_set_foreign_ops); the page tables updated are always
 * d's (upper 16 bits 0 or d's id + 1). Anything else is -VMMU_EPERM with
 * nothing done (DOMID_IO and DOMID_XEN included). A call
 * that changed any L2-L4 entry ends with one flush request for the
 * domain (also when it stops early); L1 changes flush nothing (the guest
 * asks). Context: any CPU running this vCPU; other vCPUs may call at once.
 */
int vmmu_pv_mmu_update(struct vmmu_pv_vcpu *v,
		       const struct vmmu_pv_mmu_update *reqs, uint32_t count,
		       uint32_t *done, uint32_t foreigndom);

/**
 * The hypercall mmuext_op: pin/unpin tables, new (user) base pointers,
 * TLB flushes and INVLPG (local, all, and multi when the domain has guest
 * ops: else -VMMU_ENOTSUP; a bitmap that cannot be read: -VMMU_EFAULT). Same done, stop and continue rules as
 * vmmu_pv_mmu_update. Flush requests carry a NULL CPU mask for "every CPU
 * the domain is dirty on" and a mask with this vCPU's id bit for "local";
 * INVLPG of a non-canonical address is ignored (Xen XSA-279).
 * foreigndom must be DOMID_SELF or d's own id: as in Xen, every command
 * with another domain is refused with -VMMU_EPERM, and vmmu does not
 * offer the foreign pin Xen's domain builder uses (an embedder builds a
 * domain's tables with vmmu_pv_table_get and vmmu_ft_pin on that domain).
 */
int vmmu_pv_mmuext_op(struct vmmu_pv_vcpu *v,
		      const struct vmmu_pv_mmuext_op *ops, uint32_t count,
		      uint32_t *done, uint32_t foreigndom);

/**
 * The hypercall update_va_mapping: set the L1 entry that maps va in this
 * vCPU's current address space (base) to val, with the checks of
 * mmu_update, then flush as flags say (VMMU_PV_UVMF_*; the multi form
 * needs guest ops, as for mmuext_op). No flush when the update is refused. Returns 0,
 * -VMMU_ERESTART (call again), or the refusal (-VMMU_ENOENT: va is not
 * mapped by an L1 table).
 */
int vmmu_pv_update_va_mapping(struct vmmu_pv_vcpu *v, uint64_t va,
			      uint64_t val, uint64_t flags);

/**
 * The hypercall update_va_mapping_otherdomain: update_va_mapping where the
 * new entry maps a frame of domain `domid` (VMMU_PV_DOMID_SELF, d's own
 * id, or a domain d may map: else -VMMU_EPERM with nothing done).
 */
int vmmu_pv_update_va_mapping_otherdomain(struct vmmu_pv_vcpu *v, uint64_t va,
					  uint64_t val, uint64_t flags,
					  vmmu_domid_t domid);

/** The vCPU's kernel and user L4 (0: none), to load into CR3. */
static inline uint64_t vmmu_pv_vcpu_base(const struct vmmu_pv_vcpu *v)
{
	return v->base;
}
static inline uint64_t vmmu_pv_vcpu_user_base(const struct vmmu_pv_vcpu *v)
{
	return v->user_base;
}

/**
 * Drop everything the vCPU holds (base pointers, pending references), for
 * vCPU teardown. Returns 0 or -VMMU_ERESTART (call again).
 */
int vmmu_pv_vcpu_release(struct vmmu_pv_vcpu *v);

/** What vmmu_pv_audit found. */
struct vmmu_pv_audit {
	uint64_t frames;      /**< d's frames checked */
	uint64_t tables;      /**< page tables whose entries were counted */
	uint64_t entries;     /**< present entries counted */
	uint64_t errors;      /**< inconsistencies found */
	uint64_t first_mfn;   /**< the frame of the first one */
	const char *first;    /**< what it was */
};

/**
 * Recompute every general and type count of domain d's frames from what
 * holds references (allocation, pins, the vCPUs' base pointers and
 * pending work, every entry of every validated or paused table) and
 * compare with the frame table; check that no entry maps a frame d does
 * not own and that no page table is mapped writable. work: 2 * nframes
 * words of scratch memory. Call only while no hypercall of d runs.
 * Returns 0 when everything agrees, -VMMU_EINVAL (bad arguments) or
 * -VMMU_EFAULT (inconsistent: see *out).
 */
int vmmu_pv_audit(const struct vmmu_pv_domain *d,
		  const struct vmmu_pv_vcpu *vcpus, unsigned nvcpus,
		  uint64_t *work, struct vmmu_pv_audit *out);

/** One domain of vmmu_pv_audit_domains, with its vCPUs. */
struct vmmu_pv_audit_domain {
	const struct vmmu_pv_domain *d;
	const struct vmmu_pv_vcpu *vcpus;
	unsigned nvcpus;
};

/**
 * vmmu_pv_audit over several domains of one frame table at once: the
 * counts of every frame any of them owns are recomputed from all of their
 * holders, so foreign mappings (an L1 entry of a domain with foreign ops
 * mapping a frame of another domain in the set) are counted where they
 * are. A foreign mapping of a domain outside the set is reported, as is
 * one by a domain without foreign ops. Same returns as vmmu_pv_audit.
 */
int vmmu_pv_audit_domains(const struct vmmu_pv_audit_domain *doms, unsigned n,
			  uint64_t *work, struct vmmu_pv_audit *out);

#ifdef __cplusplus
}
#endif

#endif
