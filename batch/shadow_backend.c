/* SPDX-License-Identifier: MIT */
/*
 * The shadow-paging backend of the batch queue (include/vmmu/batch_shadow.h,
 * docs/batch.md "Shadow backend"). A run of updates is applied in order to
 * one shadow instance: consecutive PTE writes as one
 * vmmu_shadow_write_batch call per scratchful (one TLB-flush request for
 * all of them instead of one trap and one flush each), everything else
 * one engine call per target vCPU.
 *
 * The submit contract is kept inside a coalesced run too: the entries are
 * checked as they are copied into the scratch array, so a malformed one
 * ends the copy, the well-formed ones before it go out, and the engine's
 * own *done says how far those got.
 */
#include <vmmu/batch_shadow.h>

#include "../mmu/internal.h"

#define MAX_VCPUS 4096u

/* Where a run's PTE writes are gathered for one engine call. */
struct gather {
	struct vmmu_shadow_store *st;
	uint32_t cap;
};

static bool is_pte_write(const struct vmmu_batch_entry *e)
{
	return e->kind == VMMU_BATCH_PTE_WRITE ||
	       e->kind == VMMU_BATCH_PTE_UPDATE_AD;
}

/*
 * Copy the PTE writes at the head of e[0..n) into st[0..cap), checking
 * each (the low bit of gpa is a flag to the engine: the alignment check
 * comes before it is ORed in). Returns how many were copied; *bad is the
 * refusal of the entry the copy stopped at, or 0 when it stopped at
 * another kind, at cap or at n. One loop with everything in locals: it
 * runs once per PTE write.
 */
static uint32_t gather(const struct vmmu_batch_entry *e, uint32_t n,
		       unsigned levels, struct vmmu_shadow_store *st,
		       uint32_t cap, int *bad)
{
	uint32_t lim = n < cap ? n : cap, m;

	*bad = 0;
	for (m = 0; m < lim; m++) {
		unsigned kind = e[m].kind;
		uint64_t ptr = e[m].ptr;
		if (kind != VMMU_BATCH_PTE_WRITE && kind != VMMU_BATCH_PTE_UPDATE_AD) {
			break;
		}
		if ((ptr & 7u) != 0 || (unsigned)e[m].level - 1u >= levels) {
			*bad = (ptr & 7u) != 0 ? -VMMU_EALIGN : -VMMU_EINVAL;
			break;
		}
		st[m].gpa = ptr | (kind == VMMU_BATCH_PTE_UPDATE_AD
					   ? VMMU_SHADOW_STORE_PRESERVE_AD
					   : 0);
		st[m].value = e[m].val;
	}
	return m;
}

/*
 * Apply the PTE writes at the head of e[0..n) (at least one), a gatherful
 * per engine call. *applied: how many went through. Returns 0 (stopped at
 * the first other kind or at n) or the refusal of e[*applied].
 */
static int write_run(struct vmmu_batch_shadow *s, struct vmmu_shadow_vcpu *v,
		     const struct gather *g, const struct vmmu_batch_entry *e,
		     uint32_t n, uint32_t *applied)
{
	*applied = 0;
	while (*applied < n && is_pte_write(&e[*applied])) {
		int bad;
		uint32_t done = 0;
		uint32_t m = gather(&e[*applied], n - *applied, s->levels, g->st,
				    g->cap, &bad);
		int rc = m == 0 ? 0 : vmmu_shadow_write_batch(v, g->st, m, &done);
		s->write_calls += m != 0;
		s->stores += done;
		*applied += done;
		if (rc != 0 || bad != 0) {
			return rc != 0 ? rc : bad;
		}
	}
	return 0;
}

/* The vCPUs a flush entry is for: checked in full before any is used. */
static int check_targets(const struct vmmu_batch_shadow *s,
			 const struct vmmu_batch_entry *e)
{
	switch (e->target) {
	case VMMU_BATCH_LOCAL:
	case VMMU_BATCH_ALL:
		return 0;
	case VMMU_BATCH_MASK: {
		/* Bits for vCPUs at or above nvcpus are a guest error. */
		uint64_t first = (uint64_t)e->mask_word * 64u;
		if (e->val == 0 || first >= s->nvcpus) {
			return e->val == 0 ? 0 : -VMMU_EINVAL;
		}
		uint64_t have = s->nvcpus - first;
		uint64_t ok = have >= 64u ? ~0ull : (1ull << have) - 1u;
		return (e->val & ~ok) != 0 ? -VMMU_EINVAL : 0;
	}
	default:
		return -VMMU_EINVAL;
	}
}

static int flush_one(struct vmmu_batch_shadow *s, struct vmmu_shadow_vcpu *v,
		     const struct vmmu_batch_entry *e)
{
	s->flush_calls++;
	return e->kind == VMMU_BATCH_INVLPG ? vmmu_shadow_invlpg(v, e->ptr)
					    : vmmu_shadow_flush_tlb(v);
}

/* TLB_FLUSH or INVLPG on every vCPU the entry targets. */
static int flush_targets(struct vmmu_batch_shadow *s, struct vmmu_shadow_vcpu *self,
			 const struct vmmu_batch_entry *e)
{
	int rc = check_targets(s, e);

	if (rc != 0) {
		return rc;
	}
	switch (e->target) {
	case VMMU_BATCH_LOCAL:
		return flush_one(s, self, e);
	case VMMU_BATCH_ALL:
		for (uint32_t i = 0; i < s->nvcpus && rc == 0; i++) {
			rc = flush_one(s, s->vcpus[i], e);
		}
		return rc;
	default: /* MASK: check_targets saw every bit name a vCPU */
		for (uint64_t bits = e->val; bits != 0 && rc == 0; bits &= bits - 1) {
			uint32_t i = e->mask_word * 64u + (uint32_t)__builtin_ctzll(bits);
			rc = flush_one(s, s->vcpus[i], e);
		}
		return rc;
	}
}

/* Every kind but the PTE writes. */
static int apply_one(struct vmmu_batch_shadow *s, struct vmmu_shadow_vcpu *v,
		     const struct vmmu_batch_entry *e)
{
	switch (e->kind) {
	case VMMU_BATCH_PIN:
	case VMMU_BATCH_UNPIN:
		/* Nothing to hold: the shadow follows whatever CR3 is loaded. */
		return 0;
	case VMMU_BATCH_NEW_BASE:
		return vmmu_shadow_new_cr3(v, (e->ptr >> VMMU_PAGE_SHIFT)
						      << VMMU_PAGE_SHIFT);
	case VMMU_BATCH_NEW_USER_BASE:
		/* One root (CR3) per vCPU: only "no user root" is possible. */
		return (e->ptr >> VMMU_PAGE_SHIFT) == 0 ? 0 : -VMMU_ENOTSUP;
	case VMMU_BATCH_TLB_FLUSH:
	case VMMU_BATCH_INVLPG:
		return flush_targets(s, v, e);
	default:
		return -VMMU_EINVAL;
	}
}

/* The run under the lock: *done = entries applied. */
static int apply_run(struct vmmu_batch_shadow *s, uint32_t cpu,
		     const struct vmmu_batch_entry *e, uint32_t n, uint32_t *done)
{
	struct vmmu_shadow_store stack[VMMU_BATCH_SHADOW_STACK_STORES];
	struct gather g = {.st = stack, .cap = VMMU_BATCH_SHADOW_STACK_STORES};
	struct vmmu_shadow_vcpu *v = cpu < s->nvcpus ? s->vcpus[cpu] : NULL;
	uint32_t i = 0;
	int rc = 0;

	if (s->scratch != NULL) {
		g = (struct gather){.st = s->scratch, .cap = s->scratch_cap};
	}
	while (i < n && rc == 0) {
		uint32_t k = 0;
		if (v == NULL) {
			rc = -VMMU_EINVAL; /* a queue the backend has no vCPU for */
		} else if (is_pte_write(&e[i])) {
			rc = write_run(s, v, &g, &e[i], n - i, &k);
			i += k;
		} else {
			rc = apply_one(s, v, &e[i]);
			i += rc == 0;
		}
	}
	*done = i;
	return rc;
}

static int shadow_submit(void *ctx, uint32_t cpu, const struct vmmu_batch_entry *e,
			 uint32_t n, uint32_t *done)
{
	struct vmmu_batch_shadow *s = ctx;

	if (s->lock != NULL) {
		s->lock(s->lock_ctx);
	}
	s->submits++;
	int rc = apply_run(s, cpu, e, n, done);
	if (s->unlock != NULL) {
		s->unlock(s->lock_ctx);
	}
	return rc;
}

int vmmu_batch_shadow_init(struct vmmu_batch_shadow *s, struct vmmu_shadow *sh,
			   struct vmmu_shadow_vcpu *const *vcpus,
			   uint32_t nvcpus, struct vmmu_shadow_store *scratch,
			   uint32_t scratch_cap)
{
	if (s == NULL || sh == NULL || sh->fmt == NULL || vcpus == NULL ||
	    nvcpus == 0 || nvcpus > MAX_VCPUS ||
	    (scratch == NULL) != (scratch_cap == 0)) {
		return -VMMU_EINVAL;
	}
	for (uint32_t i = 0; i < nvcpus; i++) {
		if (vcpus[i] == NULL || vcpus[i]->sh != sh) {
			return -VMMU_EINVAL;
		}
	}
	*s = (struct vmmu_batch_shadow){
		.backend = {.submit = shadow_submit, .ctx = s},
		.sh = sh, .vcpus = vcpus, .nvcpus = nvcpus,
		.levels = sh->fmt->levels,
		.scratch = scratch, .scratch_cap = scratch_cap,
	};
	return 0;
}
