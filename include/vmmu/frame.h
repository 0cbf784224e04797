/* SPDX-License-Identifier: MIT */
/**
 * @file frame.h
 * @brief Frame table: per machine frame ownership, reference and type
 * counts for direct paging (docs/frame.md).
 *
 * A hypervisor that lets guests load their own page tables (Xen PV style)
 * must know, for every machine frame, who owns it, how many references
 * exist to it and what it is being used as. A frame is used as exactly one
 * type at a time (a page table of some level, a descriptor table, or
 * writable memory) and may change type only when nothing uses it as its
 * current type. A page-table type is only in force once its entries have
 * been validated; the first user of a new type validates it, the last one
 * devalidates it (hooks in struct vmmu_ft_ops).
 *
 * Every count lives in one 64-bit word per frame and changes by
 * compare-exchange: any number of CPUs may take and drop references on the
 * same frames at once without a lock. A record is 32 bytes.
 */
#ifndef VMMU_FRAME_H
#define VMMU_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vmmu/platform.h>
#include <vmmu/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A domain (guest) id. */
typedef uint16_t vmmu_domid_t;

/** What a frame is used as (3 bits). */
enum vmmu_ftype {
	VMMU_FTYPE_NONE = 0,     /**< nothing yet: any type may be taken */
	VMMU_FTYPE_L1 = 1,       /**< page table, level 1 (PT) */
	VMMU_FTYPE_L2 = 2,       /**< page directory */
	VMMU_FTYPE_L3 = 3,       /**< page-directory-pointer table */
	VMMU_FTYPE_L4 = 4,       /**< PML4 */
	VMMU_FTYPE_SEG_DESC = 5, /**< GDT/LDT page */
	VMMU_FTYPE_WRITABLE = 7, /**< mapped writable somewhere */
};

/** True for the types whose entries must be validated (L1..L4, SEG_DESC). */
static inline bool vmmu_ftype_validated_on_use(unsigned type)
{
	return type >= VMMU_FTYPE_L1 && type <= VMMU_FTYPE_SEG_DESC;
}

/**
 * One frame's record (32 bytes). The fields are private: read them with
 * the accessors below.
 *
 * count: bits 39..0 general reference count, 55..40 owner, 63 allocated.
 * type:  bits 63..61 type, 60 validated, 59 pinned, 58 paused (a
 *        (de)validation stopped early), 57 devalidating, 47..0 type count.
 * scratch: the validator's progress (vmmu_ft_scratch).
 * linear: same-level ("linear") table links (vmmu_ft_linear_hold/use).
 */
struct vmmu_frame {
	uint64_t count;
	uint64_t type;
	uint64_t scratch;
	int64_t linear;
};

/** The frame table. Initialise with vmmu_ft_init(); fields are private. */
struct vmmu_ft {
	struct vmmu_frame *frames;
	uint64_t nframes;
	const struct vmmu_platform *plat;
};

/**
 * Hooks for type changes, called by the one CPU that performs the change.
 * ctx is passed back.
 */
struct vmmu_ft_ops {
	/**
	 * Validate frame mfn as `type` (a page-table or descriptor type):
	 * check every entry and take the references its entries need.
	 * Return 0 when done; -VMMU_ERESTART to stop early (preemption),
	 * with the progress kept in *vmmu_ft_scratch(ft, mfn) so that the
	 * next call continues there; or another negative error after
	 * releasing everything it took. While it runs, other CPUs asking for
	 * the same type wait.
	 */
	int (*validate)(void *ctx, uint64_t mfn, unsigned type);
	/**
	 * Release what validate took: all entries of a validated frame, or
	 * the ones a stopped validation had done (the scratch word says
	 * which). Return 0, or -VMMU_ERESTART to stop early with the
	 * progress kept in the scratch word.
	 */
	int (*devalidate)(void *ctx, uint64_t mfn, unsigned type);
	/**
	 * mfn was writable and is becoming `type`: flush every TLB that may
	 * still hold a writable translation of it. Called after the new type
	 * is published and before validation (so that no CPU can map it
	 * writable in between: Xen XSA-401). May be NULL.
	 */
	void (*leave_writable)(void *ctx, uint64_t mfn, unsigned type);
	void *ctx;
};

/** Bytes vmmu_ft_init needs for nframes frames; 0 if that overflows. */
size_t vmmu_ft_bytes(uint64_t nframes);

/**
 * Set up a table of nframes frames (machine frames 0 .. nframes-1) in mem
 * (8-byte aligned, at least vmmu_ft_bytes(nframes) bytes, owned by the
 * caller until the table is no longer used; 16-byte aligned memory lets a
 * writable mapping take both of its references in one compare-exchange). Every frame starts free.
 * Returns 0 or -VMMU_EINVAL. Context: any; not concurrent with other calls
 * on this table.
 */
int vmmu_ft_init(struct vmmu_ft *ft, void *mem, size_t bytes, uint64_t nframes,
		 const struct vmmu_platform *plat);

/**
 * Give free frame mfn to domain dom, holding the allocation reference.
 * Nothing of a previous life survives (type, counts: Xen XSA-214).
 * Returns 0, -VMMU_EINVAL (mfn beyond the table) or -VMMU_EBUSY (not
 * free). Context: any, lock-free.
 */
int vmmu_ft_assign(struct vmmu_ft *ft, uint64_t mfn, vmmu_domid_t dom);

/**
 * Domain dom gives frame mfn up: the allocation reference is dropped and
 * no new reference can be taken; the frame is free once the last one is
 * put. Returns 1 when the frame is free now, 0 when references remain,
 * -VMMU_EINVAL (mfn beyond the table) or -VMMU_EPERM (not allocated to
 * dom). Context: any, lock-free.
 */
int vmmu_ft_release(struct vmmu_ft *ft, uint64_t mfn, vmmu_domid_t dom);

/**
 * Take a general reference on mfn for a user in domain dom. Returns 0,
 * -VMMU_EINVAL (mfn beyond the table: checked before anything is read,
 * Xen XSA-167), -VMMU_EPERM (not allocated to dom) or -VMMU_EBUSY (count
 * saturated). Context: any, lock-free.
 */
int vmmu_ft_get(struct vmmu_ft *ft, uint64_t mfn, vmmu_domid_t dom);

/**
 * Drop a general reference (one taken by vmmu_ft_get or vmmu_ft_assign's
 * caller). Returns true when it was the last: the frame is free (and its
 * type state cleared). Calls the platform's panic hook, as broken
 * invariants of the caller, for: a reference nobody holds; the allocation
 * reference of a frame not released; the last reference while a type
 * reference is still held (type references come with general ones).
 * Context: any, lock-free.
 */
bool vmmu_ft_put(struct vmmu_ft *ft, uint64_t mfn);

/**
 * Take a type reference: use mfn as `type` (not VMMU_FTYPE_NONE). The
 * caller holds a general reference on mfn. If nothing uses the frame as
 * another type, the frame takes `type`; the first user of a type that
 * needs validation runs ops->validate (and ops->leave_writable first when
 * the frame was writable) while concurrent users of the same type wait.
 * Returns:
 *   0               a type reference is held;
 *   -VMMU_ERESTART  the validation this call started stopped early: the
 *                   caller holds a *partial* reference, and must either
 *                   continue (vmmu_ft_continue_type) or give it up
 *                   (vmmu_ft_abandon_type); nobody else can take the
 *                   frame meanwhile. The frame table does not know who
 *                   owns a paused operation: the continue, abandon and
 *                   finishing put calls trust their caller to be it (the
 *                   direct-paging layer records the owner);
 *   -VMMU_EAGAIN    nothing taken: another CPU's (de)validation of the
 *                   frame is paused, or running and the platform's
 *                   should_yield asked to stop waiting: call again later;
 *   -VMMU_EBUSY     in use as another type (or the count is saturated);
 *   -VMMU_EINVAL    bad mfn or type; or the validator's error (the frame
 *                   is then typeless and unused).
 * Context: may wait for another CPU; lock-free otherwise.
 */
int vmmu_ft_get_type(struct vmmu_ft *ft, uint64_t mfn, unsigned type,
		     const struct vmmu_ft_ops *ops);

/**
 * Continue the validation behind a partial reference (see
 * vmmu_ft_get_type). Returns 0 (now a full type reference),
 * -VMMU_ERESTART (still partial), -VMMU_ENOENT (mfn has no paused
 * validation of `type`: nothing changed), -VMMU_EINVAL (bad mfn, type or
 * ops) or the validator's error (the partial reference is gone and the
 * frame is typeless).
 */
int vmmu_ft_continue_type(struct vmmu_ft *ft, uint64_t mfn, unsigned type,
			  const struct vmmu_ft_ops *ops);

/**
 * Give a partial reference up: ops->devalidate releases what the stopped
 * validation had taken. Returns 0 (gone; the frame is unused),
 * -VMMU_ERESTART (devalidation stopped early: finish it with
 * vmmu_ft_put_type), -VMMU_ENOENT (mfn has no paused validation) or
 * -VMMU_EINVAL (bad mfn or ops).
 */
int vmmu_ft_abandon_type(struct vmmu_ft *ft, uint64_t mfn,
			 const struct vmmu_ft_ops *ops);

/**
 * Drop a type reference. The last reference to a validated table type
 * runs ops->devalidate (the type count stays 1, unvalidated, while it
 * runs, so nobody takes the frame meanwhile) and leaves the frame unused.
 * Returns 0, or -VMMU_ERESTART when devalidation stopped early: the
 * reference is not gone yet, and the caller calls vmmu_ft_put_type again
 * to finish. Dropping the last reference of a pinned frame, or one nobody
 * holds, calls the platform's panic hook. Context: any.
 */
int vmmu_ft_put_type(struct vmmu_ft *ft, uint64_t mfn,
		     const struct vmmu_ft_ops *ops);

/**
 * A general reference and a writable type reference together (what a
 * writable mapping holds), in one 16-byte compare-exchange when the table
 * memory is 16-byte aligned (else in two steps). Returns what
 * vmmu_ft_get or vmmu_ft_get_type would: 0, -VMMU_EINVAL, -VMMU_EPERM,
 * -VMMU_EBUSY. Context: any, lock-free.
 */
int vmmu_ft_get_writable(struct vmmu_ft *ft, uint64_t mfn, vmmu_domid_t dom);
/** Drop both references vmmu_ft_get_writable took. */
void vmmu_ft_put_writable(struct vmmu_ft *ft, uint64_t mfn);

/** Whether mfn is allocated to dom right now (one load). */
bool vmmu_ft_owned(const struct vmmu_ft *ft, uint64_t mfn, vmmu_domid_t dom);

/**
 * Join a type that is validated already: a type reference without ever
 * validating or waiting. Returns 0, or -VMMU_EBUSY when mfn is not a
 * validated `type` in use right now (or -VMMU_EINVAL for a bad mfn). For
 * links that must not recurse into validation (linear tables).
 */
int vmmu_ft_get_type_validated(struct vmmu_ft *ft, uint64_t mfn,
			       unsigned type);

/**
 * Same-level ("linear") table links, counted per frame: a table may hold
 * links to other tables of its level, or be the target of such links,
 * never both (Xen XSA-240: chains and loops of them made teardown
 * recurse without bound). vmmu_ft_linear_hold(mfn, +1) records that mfn
 * holds one more link, vmmu_ft_linear_use(mfn, +1) that one more table
 * links to mfn; -1 undoes either. Returns 0, or -VMMU_EBUSY when the
 * frame is already on the other side (or at the limit of 32767).
 */
int vmmu_ft_linear_hold(struct vmmu_ft *ft, uint64_t mfn, int delta);
int vmmu_ft_linear_use(struct vmmu_ft *ft, uint64_t mfn, int delta);
/** The frame's link count: > 0 links held, < 0 links to it. */
int64_t vmmu_ft_linear(const struct vmmu_ft *ft, uint64_t mfn);

/**
 * The validator's 8-byte scratch word for mfn (its progress through the
 * entries, and whatever else it needs), or NULL for a bad mfn. Only the
 * CPU running or owning a (de)validation of the frame may use it; it
 * reads 0 when a validation starts afresh.
 */
uint64_t *vmmu_ft_scratch(struct vmmu_ft *ft, uint64_t mfn);

/**
 * Mark mfn pinned: the caller's type reference now belongs to the pin.
 * Only page tables and descriptor pages are pinned. Returns 0,
 * -VMMU_EINVAL (already pinned, not such a type, or no validated type
 * reference). Context: any, lock-free.
 */
int vmmu_ft_pin(struct vmmu_ft *ft, uint64_t mfn);

/**
 * Clear the pin mark; the pin's type reference goes back to the caller,
 * who drops it with vmmu_ft_put_type. Returns 0 or -VMMU_EINVAL (not
 * pinned). Context: any, lock-free.
 */
int vmmu_ft_unpin(struct vmmu_ft *ft, uint64_t mfn);

/** Snapshot of one frame's state (for audits, tests and traces). */
struct vmmu_frame_info {
	uint64_t count;      /**< general references */
	uint64_t type_count; /**< type references */
	vmmu_domid_t owner;  /**< meaningful when count > 0 */
	uint8_t type;        /**< enum vmmu_ftype */
	bool allocated, validated, pinned;
	bool partial;      /**< a (de)validation is paused */
	bool devalidating; /**< the (paused or running) operation is a devalidation */
};

/** Read frame mfn's state (two loads: not one atomic snapshot of both
 * words). Returns 0 or -VMMU_EINVAL. */
int vmmu_ft_info(const struct vmmu_ft *ft, uint64_t mfn,
		 struct vmmu_frame_info *out);

#ifdef __cplusplus
}
#endif

#endif
