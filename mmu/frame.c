/* SPDX-License-Identifier: MIT */
/*
 * Frame table (include/vmmu/frame.h, docs/frame.md).
 *
 * Two words per frame carry everything that changes concurrently, each
 * updated only by compare-exchange:
 *
 *   count: general references, the owner and the allocated flag, so "take
 *          a reference if dom owns it" is one compare-exchange;
 *   type:  the type, its reference count and the validated/pinned/partial
 *          flags, so "take a type reference if the frame is (or can
 *          become) this type" is one compare-exchange too.
 *
 * A type change happens only at type count 0 and publishes the new type
 * with count 1 and "validated" clear: that one reference is the
 * validator's lock. Other users of the same type see count > 0 without
 * "validated" and wait; users of another type see count > 0 and are
 * refused. Devalidation mirrors it: the last reference clears "validated"
 * first and keeps count 1 while the entries are released. Either may stop
 * early (preemption): the frame is then "paused" and only the caller that
 * was told -VMMU_ERESTART moves it on (Xen's partial type references,
 * where XSA-299 and XSA-310 found bookkeeping lost across restarts: here
 * the paused state is the type word itself, and the progress lives in the
 * validator's scratch word, which nothing else touches).
 */
#include "internal.h"

_Static_assert(sizeof(struct vmmu_frame) == 32, "frame record is 32 bytes");

/* count word */
#define FC_COUNT_MASK ((1ull << 40) - 1)
#define FC_OWNER_SHIFT 40
#define FC_OWNER_MASK (0xffffull << FC_OWNER_SHIFT)
#define FC_ALLOCATED (1ull << 63)

/* type word */
#define FT_COUNT_MASK ((1ull << 48) - 1)
#define FT_DEVAL (1ull << 57)
#define FT_PARTIAL (1ull << 58)
#define FT_PINNED (1ull << 59)
#define FT_VALIDATED (1ull << 60)
#define FT_TYPE_SHIFT 61

static inline uint64_t fc_count(uint64_t w)
{
	return w & FC_COUNT_MASK;
}

static inline vmmu_domid_t fc_owner(uint64_t w)
{
	return (vmmu_domid_t)((w & FC_OWNER_MASK) >> FC_OWNER_SHIFT);
}

/* Allocated, to dom: references may be taken (and the frame given up). */
static inline bool owned_by(uint64_t w, vmmu_domid_t dom)
{
	return (w & FC_ALLOCATED) != 0 && fc_owner(w) == dom;
}

static inline uint64_t ft_count(uint64_t w)
{
	return w & FT_COUNT_MASK;
}

static inline unsigned ft_type(uint64_t w)
{
	return (unsigned)(w >> FT_TYPE_SHIFT);
}

static inline uint64_t ft_word(unsigned type, uint64_t count)
{
	return ((uint64_t)type << FT_TYPE_SHIFT) | count;
}

static inline bool cas(uint64_t *word, uint64_t *old, uint64_t new_value)
{
	return __atomic_compare_exchange_n(word, old, new_value, false,
					   __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

static inline uint64_t load(const uint64_t *word)
{
	return __atomic_load_n(word, __ATOMIC_ACQUIRE);
}

/* The record of mfn, or NULL when mfn is beyond the table (Xen XSA-167). */
static struct vmmu_frame *frame_of(const struct vmmu_ft *ft, uint64_t mfn)
{
	return mfn < ft->nframes ? &ft->frames[mfn] : NULL;
}

size_t vmmu_ft_bytes(uint64_t nframes)
{
	if (nframes > SIZE_MAX / sizeof(struct vmmu_frame)) {
		return 0;
	}
	return (size_t)nframes * sizeof(struct vmmu_frame);
}

int vmmu_ft_init(struct vmmu_ft *ft, void *mem, size_t bytes, uint64_t nframes,
		 const struct vmmu_platform *plat)
{
	size_t need = vmmu_ft_bytes(nframes);

	if (ft == NULL || mem == NULL || nframes == 0 || need == 0 ||
	    bytes < need || ((uintptr_t)mem & 7u) != 0 ||
	    vmmu_platform_check(plat) != 0) {
		return -VMMU_EINVAL;
	}
	__builtin_memset(mem, 0, need);
	ft->frames = (struct vmmu_frame *)mem;
	ft->nframes = nframes;
	ft->plat = plat;
	return 0;
}

/* --- ownership and general references -------------------------------------- */

int vmmu_ft_assign(struct vmmu_ft *ft, uint64_t mfn, vmmu_domid_t dom)
{
	struct vmmu_frame *f = frame_of(ft, mfn);
	uint64_t old = 0;

	if (f == NULL) {
		return -VMMU_EINVAL;
	}
	/* A free frame's type state was cleared when it became free. */
	if (!cas(&f->count, &old,
		 FC_ALLOCATED | ((uint64_t)dom << FC_OWNER_SHIFT) | 1u)) {
		return -VMMU_EBUSY;
	}
	return 0;
}

/* Why a general reference for dom cannot be taken on count word w (or 0). */
static int count_get_refused(uint64_t w, vmmu_domid_t dom)
{
	if (!owned_by(w, dom)) {
		return -VMMU_EPERM;
	}
	return fc_count(w) == FC_COUNT_MASK ? -VMMU_EBUSY : 0;
}

int vmmu_ft_get(struct vmmu_ft *ft, uint64_t mfn, vmmu_domid_t dom)
{
	struct vmmu_frame *f = frame_of(ft, mfn);
	uint64_t old;

	if (f == NULL) {
		return -VMMU_EINVAL;
	}
	old = load(&f->count);
	do {
		int rc = count_get_refused(old, dom);
		if (rc != 0) {
			return rc;
		}
	} while (!cas(&f->count, &old, old + 1));
	return 0;
}

/*
 * The last reference is going: nobody else can reach the frame (it is no
 * longer allocated, so no new reference can be taken), so its type state
 * is cleared before the count word says "free" (Xen XSA-214: nothing of
 * this life may survive into the next owner's).
 */
static void clear_type_state(struct vmmu_ft *ft, struct vmmu_frame *f)
{
	VMMU_CHECK(ft->plat, ft_count(load(&f->type)) == 0);
	__atomic_store_n(&f->type, 0, __ATOMIC_RELAXED);
	f->scratch = 0;
	__atomic_store_n(&f->linear, 0, __ATOMIC_RELAXED);
}

bool vmmu_ft_put(struct vmmu_ft *ft, uint64_t mfn)
{
	struct vmmu_frame *f = frame_of(ft, mfn);
	uint64_t old, next;

	VMMU_CHECK(ft->plat, f != NULL);
	old = load(&f->count);
	do {
		VMMU_CHECK(ft->plat, fc_count(old) != 0);
		next = old - 1;
		if (fc_count(next) == 0) {
			/* Only a released frame can lose its last reference. */
			VMMU_CHECK(ft->plat, (old & FC_ALLOCATED) == 0);
			clear_type_state(ft, f);
			__atomic_store_n(&f->count, 0, __ATOMIC_RELEASE);
			return true;
		}
	} while (!cas(&f->count, &old, next));
	return false;
}

int vmmu_ft_release(struct vmmu_ft *ft, uint64_t mfn, vmmu_domid_t dom)
{
	struct vmmu_frame *f = frame_of(ft, mfn);
	uint64_t old;

	if (f == NULL) {
		return -VMMU_EINVAL;
	}
	old = load(&f->count);
	do {
		if (!owned_by(old, dom)) {
			return -VMMU_EPERM;
		}
	} while (!cas(&f->count, &old, old & ~FC_ALLOCATED));
	/* The allocation reference goes the way of any other. */
	return vmmu_ft_put(ft, mfn) ? 1 : 0;
}

/* --- type references ------------------------------------------------------------
 *
 * States of a frame with a table type (count = type count):
 *
 *   count 0                        unused (validated or not)
 *   count n, validated             in use
 *   count 1, !validated, !paused   its (de)validation is running
 *   count 1, !validated, paused    its (de)validation stopped early; the
 *                                  one caller told -VMMU_ERESTART owns it
 *
 * FT_DEVAL says whether the running or paused operation is a devalidation.
 */

/* Wait for another CPU's (de)validation; false when the platform says stop. */
static bool wait_for_validator(const struct vmmu_ft *ft)
{
	if (vmmu_should_yield(ft->plat)) {
		return false;
	}
	__builtin_ia32_pause();
	return true;
}

/*
 * The type word after taking one reference as `type` from `old`: 0 with
 * *err set when refused, 0 with *err == 0 when another CPU is mid-way
 * (wait and look again).
 */
static uint64_t next_type_word(uint64_t old, unsigned type, int *err)
{
	*err = 0;
	if (ft_count(old) == 0) {
		if (ft_type(old) == type && (old & FT_VALIDATED) != 0) {
			return old + 1;
		}
		/* A new type, or a table type to validate again. */
		return ft_word(type, 1) |
		       (vmmu_ftype_validated_on_use(type) ? 0 : FT_VALIDATED);
	}
	if (ft_type(old) != type || ft_count(old) == FT_COUNT_MASK) {
		*err = -VMMU_EBUSY;
	} else if ((old & FT_VALIDATED) != 0) {
		return old + 1;
	} else if ((old & FT_PARTIAL) != 0) {
		*err = -VMMU_EAGAIN; /* paused: only its owner moves it on */
	}
	return 0;
}

/* Run (or continue) validation; the caller owns the running state. */
static int run_validate(struct vmmu_ft *ft, struct vmmu_frame *f,
			uint64_t mfn, unsigned type,
			const struct vmmu_ft_ops *ops)
{
	int rc = ops->validate(ops->ctx, mfn, type);

	if (rc == 0) {
		__atomic_fetch_or(&f->type, FT_VALIDATED, __ATOMIC_RELEASE);
		return 0;
	}
	if (rc == -VMMU_ERESTART) {
		__atomic_fetch_or(&f->type, FT_PARTIAL, __ATOMIC_RELEASE);
		return rc;
	}
	VMMU_CHECK(ft->plat, rc < 0);
	/* Waiters only read the word; nobody else writes it meanwhile. */
	f->scratch = 0;
	__atomic_store_n(&f->type, ft_word(VMMU_FTYPE_NONE, 0), __ATOMIC_RELEASE);
	return rc;
}

/* Run (or continue) devalidation; the caller owns the running state. */
static int run_devalidate(struct vmmu_ft *ft, struct vmmu_frame *f,
			  uint64_t mfn, const struct vmmu_ft_ops *ops)
{
	unsigned type = ft_type(load(&f->type));
	int rc;

	VMMU_CHECK(ft->plat, ops != NULL && ops->devalidate != NULL);
	rc = ops->devalidate(ops->ctx, mfn, type);
	if (rc == -VMMU_ERESTART) {
		__atomic_fetch_or(&f->type, FT_PARTIAL, __ATOMIC_RELEASE);
		return rc;
	}
	VMMU_CHECK(ft->plat, rc == 0);
	/* Keep the type: re-used as the same table type, it validates again. */
	f->scratch = 0;
	__atomic_store_n(&f->type, ft_word(type, 0), __ATOMIC_RELEASE);
	return 0;
}

static bool type_acceptable(unsigned type, const struct vmmu_ft_ops *ops)
{
	if (type == VMMU_FTYPE_WRITABLE) {
		return ops != NULL;
	}
	return vmmu_ftype_validated_on_use(type) && ops != NULL &&
	       ops->validate != NULL && ops->devalidate != NULL;
}

int vmmu_ft_get_type(struct vmmu_ft *ft, uint64_t mfn, unsigned type,
		     const struct vmmu_ft_ops *ops)
{
	struct vmmu_frame *f = frame_of(ft, mfn);
	uint64_t old, next;
	int err;

	if (f == NULL || !type_acceptable(type, ops)) {
		return -VMMU_EINVAL;
	}
	old = load(&f->type);
	for (;;) {
		next = next_type_word(old, type, &err);
		if (err != 0) {
			return err;
		}
		if (next == 0) {
			if (!wait_for_validator(ft)) {
				return -VMMU_EAGAIN;
			}
			old = load(&f->type);
		} else if (cas(&f->type, &old, next)) {
			break;
		}
	}
	if (ft_count(old) != 0 || (next & FT_VALIDATED) != 0) {
		return 0; /* joined a validated type: nothing to run */
	}
	/* The new type is published: nobody can map the frame writable now. */
	if (ft_type(old) == VMMU_FTYPE_WRITABLE && ops->leave_writable != NULL) {
		ops->leave_writable(ops->ctx, mfn, type);
	}
	f->scratch = 0;
	return run_validate(ft, f, mfn, type, ops);
}

/* Resume a paused operation the caller owns: paused -> running. */
static bool claim_paused(struct vmmu_frame *f, uint64_t want_deval,
			 unsigned type, bool any_type)
{
	uint64_t old = load(&f->type);

	do {
		if (ft_count(old) != 1 || (old & FT_VALIDATED) != 0 ||
		    (old & FT_PARTIAL) == 0 || (old & FT_DEVAL) != want_deval ||
		    (!any_type && ft_type(old) != type)) {
			return false;
		}
	} while (!cas(&f->type, &old, old & ~FT_PARTIAL));
	return true;
}

int vmmu_ft_continue_type(struct vmmu_ft *ft, uint64_t mfn, unsigned type,
			  const struct vmmu_ft_ops *ops)
{
	struct vmmu_frame *f = frame_of(ft, mfn);

	if (f == NULL || !type_acceptable(type, ops)) {
		return -VMMU_EINVAL;
	}
	if (!claim_paused(f, 0, type, false)) {
		return -VMMU_ENOENT;
	}
	return run_validate(ft, f, mfn, type, ops);
}

int vmmu_ft_abandon_type(struct vmmu_ft *ft, uint64_t mfn,
			 const struct vmmu_ft_ops *ops)
{
	struct vmmu_frame *f = frame_of(ft, mfn);
	uint64_t old;

	if (f == NULL || ops == NULL || ops->devalidate == NULL) {
		return -VMMU_EINVAL;
	}
	/* Paused validation -> running devalidation. */
	old = load(&f->type);
	do {
		if (ft_count(old) != 1 || (old & FT_VALIDATED) != 0 ||
		    (old & FT_PARTIAL) == 0 || (old & FT_DEVAL) != 0) {
			return -VMMU_ENOENT;
		}
	} while (!cas(&f->type, &old, (old & ~FT_PARTIAL) | FT_DEVAL));
	return run_devalidate(ft, f, mfn, ops);
}

/* The type word after dropping one reference from `old`; *deval: start one. */
static uint64_t type_word_after_put(const struct vmmu_ft *ft, uint64_t old,
				    bool *deval)
{
	bool last = ft_count(old) == 1;

	VMMU_CHECK(ft->plat, ft_count(old) != 0 && (old & FT_VALIDATED) != 0);
	/* The pin's reference is dropped only after unpinning. */
	VMMU_CHECK(ft->plat, !(last && (old & FT_PINNED) != 0));
	*deval = last && vmmu_ftype_validated_on_use(ft_type(old));
	if (*deval) {
		return (old & ~FT_VALIDATED) | FT_DEVAL; /* count stays 1 */
	}
	return old - 1;
}

int vmmu_ft_put_type(struct vmmu_ft *ft, uint64_t mfn,
		     const struct vmmu_ft_ops *ops)
{
	struct vmmu_frame *f = frame_of(ft, mfn);
	uint64_t old, next;
	bool deval;

	VMMU_CHECK(ft->plat, f != NULL);
	/* The owner of a paused devalidation finishes it. */
	if (claim_paused(f, FT_DEVAL, 0, true)) {
		return run_devalidate(ft, f, mfn, ops);
	}
	old = load(&f->type);
	do {
		next = type_word_after_put(ft, old, &deval);
	} while (!cas(&f->type, &old, next));
	return deval ? run_devalidate(ft, f, mfn, ops) : 0;
}

bool vmmu_ft_owned(const struct vmmu_ft *ft, uint64_t mfn, vmmu_domid_t dom)
{
	const struct vmmu_frame *f = frame_of(ft, mfn);

	return f != NULL && owned_by(load(&f->count), dom);
}

/* --- both references of a writable mapping at once ------------------------------
 *
 * A writable mapping holds a general and a writable type reference. The
 * two words are adjacent in the record, so with a 16-byte aligned table
 * one locked cmpxchg16b takes (or drops) both: half the locked operations
 * of an L1 update's reference work. Under ThreadSanitizer (which cannot
 * see inside inline assembly) and for unaligned tables, two steps.
 */
#if defined(__SANITIZE_THREAD__)
#define FT_PAIR_CAS 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define FT_PAIR_CAS 0
#endif
#endif
#ifndef FT_PAIR_CAS
#define FT_PAIR_CAS 1
#endif

struct word_pair {
	uint64_t lo, hi;
};

#if FT_PAIR_CAS
/* Compare-exchange count and type together; *old gets the current pair. */
static bool cas_pair(struct vmmu_frame *f, struct word_pair *old,
		     struct word_pair next)
{
	bool ok;

	__asm__ volatile("lock cmpxchg16b %1"
			 : "=@ccz"(ok), "+m"(*(struct word_pair *)(void *)f),
			   "+a"(old->lo), "+d"(old->hi)
			 : "b"(next.lo), "c"(next.hi)
			 : "memory");
	return ok;
}

static bool pair_usable(const struct vmmu_frame *f)
{
	return ((uintptr_t)f & 15u) == 0;
}
#endif


int vmmu_ft_get_writable(struct vmmu_ft *ft, uint64_t mfn, vmmu_domid_t dom)
{
	struct vmmu_frame *f = frame_of(ft, mfn);
	int rc;

	if (f == NULL) {
		return -VMMU_EINVAL;
	}
#if FT_PAIR_CAS
	if (pair_usable(f)) {
		struct word_pair old = {load(&f->count), load(&f->type)}, next;
		int err;
		do {
			err = count_get_refused(old.lo, dom);
			if (err != 0) {
				return err;
			}
			/* Writable needs no hook: becoming it is one word change. */
			next.hi = next_type_word(old.hi, VMMU_FTYPE_WRITABLE, &err);
			if (err != 0 || next.hi == 0) {
				return err != 0 ? err : -VMMU_EBUSY;
			}
			next.lo = old.lo + 1;
		} while (!cas_pair(f, &old, next));
		return 0;
	}
#endif
	rc = vmmu_ft_get(ft, mfn, dom);
	if (rc == 0) {
		static const struct vmmu_ft_ops no_hooks;
		rc = vmmu_ft_get_type(ft, mfn, VMMU_FTYPE_WRITABLE, &no_hooks);
		if (rc != 0) {
			vmmu_ft_put(ft, mfn);
		}
	}
	return rc;
}

void vmmu_ft_put_writable(struct vmmu_ft *ft, uint64_t mfn)
{
	struct vmmu_frame *f = frame_of(ft, mfn);

	VMMU_CHECK(ft->plat, f != NULL);
#if FT_PAIR_CAS
	if (pair_usable(f)) {
		struct word_pair old = {load(&f->count), load(&f->type)}, next;
		do {
			VMMU_CHECK(ft->plat, ft_type(old.hi) == VMMU_FTYPE_WRITABLE &&
						     ft_count(old.hi) != 0);
			if (fc_count(old.lo) <= 1) {
				break; /* the last reference: the slow path frees */
			}
			next.lo = old.lo - 1;
			next.hi = old.hi - 1;
		} while (!cas_pair(f, &old, next));
		if (fc_count(old.lo) > 1) {
			return;
		}
	}
#endif
	static const struct vmmu_ft_ops no_hooks;
	VMMU_CHECK(ft->plat, vmmu_ft_put_type(ft, mfn, &no_hooks) == 0);
	vmmu_ft_put(ft, mfn);
}

int vmmu_ft_get_type_validated(struct vmmu_ft *ft, uint64_t mfn,
			       unsigned type)
{
	struct vmmu_frame *f = frame_of(ft, mfn);
	uint64_t old;

	if (f == NULL) {
		return -VMMU_EINVAL;
	}
	old = load(&f->type);
	do {
		if (ft_type(old) != type || ft_count(old) == 0 ||
		    ft_count(old) == FT_COUNT_MASK || (old & FT_VALIDATED) == 0) {
			return -VMMU_EBUSY;
		}
	} while (!cas(&f->type, &old, old + 1));
	return 0;
}

/* --- same-level links --------------------------------------------------------- */

#define LINEAR_MAX 32767

/*
 * Count one more (delta +1) or one fewer (-1) link on `side` (+1: links
 * held, -1: links to this frame). Taking one needs the count not to be on
 * the other side; giving one back needs one to be there. One
 * compare-exchange does both the check and the count, so two CPUs cannot
 * put a frame on both sides at once.
 */
static int linear_add(struct vmmu_ft *ft, uint64_t mfn, int64_t side,
		      int delta)
{
	struct vmmu_frame *f = frame_of(ft, mfn);
	int64_t old, next;

	if (f == NULL || (delta != 1 && delta != -1)) {
		return -VMMU_EINVAL;
	}
	old = __atomic_load_n(&f->linear, __ATOMIC_ACQUIRE);
	do {
		if (delta > 0 && (old * side < 0 || old * side >= LINEAR_MAX)) {
			return -VMMU_EBUSY;
		}
		VMMU_CHECK(ft->plat, delta > 0 || old * side > 0);
		next = old + side * delta;
	} while (!__atomic_compare_exchange_n(&f->linear, &old, next, false,
					      __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
	return 0;
}

int vmmu_ft_linear_hold(struct vmmu_ft *ft, uint64_t mfn, int delta)
{
	return linear_add(ft, mfn, 1, delta);
}

int vmmu_ft_linear_use(struct vmmu_ft *ft, uint64_t mfn, int delta)
{
	return linear_add(ft, mfn, -1, delta);
}

int64_t vmmu_ft_linear(const struct vmmu_ft *ft, uint64_t mfn)
{
	const struct vmmu_frame *f = frame_of(ft, mfn);

	return f != NULL ? __atomic_load_n(&f->linear, __ATOMIC_ACQUIRE) : 0;
}

uint64_t *vmmu_ft_scratch(struct vmmu_ft *ft, uint64_t mfn)
{
	struct vmmu_frame *f = frame_of(ft, mfn);

	return f != NULL ? &f->scratch : NULL;
}

/* --- pins ----------------------------------------------------------------------- */

int vmmu_ft_pin(struct vmmu_ft *ft, uint64_t mfn)
{
	struct vmmu_frame *f = frame_of(ft, mfn);
	uint64_t old;

	if (f == NULL) {
		return -VMMU_EINVAL;
	}
	old = load(&f->type);
	do {
		if ((old & FT_PINNED) != 0 || ft_count(old) == 0 ||
		    (old & FT_VALIDATED) == 0 ||
		    !vmmu_ftype_validated_on_use(ft_type(old))) {
			return -VMMU_EINVAL;
		}
	} while (!cas(&f->type, &old, old | FT_PINNED));
	return 0;
}

int vmmu_ft_unpin(struct vmmu_ft *ft, uint64_t mfn)
{
	struct vmmu_frame *f = frame_of(ft, mfn);
	uint64_t old;

	if (f == NULL) {
		return -VMMU_EINVAL;
	}
	old = load(&f->type);
	do {
		if ((old & FT_PINNED) == 0) {
			return -VMMU_EINVAL;
		}
	} while (!cas(&f->type, &old, old & ~FT_PINNED));
	return 0;
}

int vmmu_ft_info(const struct vmmu_ft *ft, uint64_t mfn,
		 struct vmmu_frame_info *out)
{
	const struct vmmu_frame *f = frame_of(ft, mfn);
	uint64_t c, t;

	if (f == NULL || out == NULL) {
		return -VMMU_EINVAL;
	}
	c = load(&f->count);
	t = load(&f->type);
	out->count = fc_count(c);
	out->owner = fc_owner(c);
	out->allocated = (c & FC_ALLOCATED) != 0;
	out->type_count = ft_count(t);
	out->type = (uint8_t)ft_type(t);
	out->validated = (t & FT_VALIDATED) != 0;
	out->pinned = (t & FT_PINNED) != 0;
	out->partial = (t & FT_PARTIAL) != 0;
	out->devalidating = (t & FT_DEVAL) != 0;
	return 0;
}
