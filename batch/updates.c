/* SPDX-License-Identifier: MIT */
/*
 * The guest API's update calls (include/vmmu/batch.h): each checks its
 * arguments, builds one entry and queues it. Nothing is queued for a bad
 * argument.
 */
#include <vmmu/batch.h>

#include "../mmu/internal.h"

static bool level_ok(unsigned level)
{
	return level >= 1 && level <= 5;
}

int vmmu_batch_pte_slow_(struct vmmu_batch_cpu *c, uint8_t kind,
			 uint64_t pte_ma, unsigned level, uint64_t val)
{
	struct vmmu_batch_entry e = {.kind = kind, .level = (uint8_t)level,
				     .ptr = pte_ma, .val = val};

	return vmmu_batch_queue(c, &e);
}

/* Frames fit the 52-bit physical address space. */
static bool mfn_ok(uint64_t mfn)
{
	return mfn < (1ull << 40);
}

int vmmu_batch_pin(struct vmmu_batch_cpu *c, uint64_t mfn, unsigned level)
{
	struct vmmu_batch_entry e = {.kind = VMMU_BATCH_PIN,
				     .level = (uint8_t)level, .ptr = mfn << 12};

	if (!mfn_ok(mfn) || !level_ok(level)) {
		return -VMMU_EINVAL;
	}
	return vmmu_batch_queue(c, &e);
}

int vmmu_batch_unpin(struct vmmu_batch_cpu *c, uint64_t mfn)
{
	struct vmmu_batch_entry e = {.kind = VMMU_BATCH_UNPIN, .ptr = mfn << 12};

	return mfn_ok(mfn) ? vmmu_batch_queue(c, &e) : -VMMU_EINVAL;
}

int vmmu_batch_new_base(struct vmmu_batch_cpu *c, uint64_t mfn, bool user)
{
	struct vmmu_batch_entry e = {
		.kind = user ? VMMU_BATCH_NEW_USER_BASE : VMMU_BATCH_NEW_BASE,
		.ptr = mfn << 12};

	if (!mfn_ok(mfn) || (mfn == 0 && !user)) {
		return -VMMU_EINVAL; /* only the user root may be none */
	}
	return vmmu_batch_queue(c, &e);
}

/*
 * A flush for target t: one entry, or one per non-zero mask word. A mask
 * with no CPU in it queues nothing. The entries of a MASK flush are
 * queued one by one: all of them apply in order behind what came before.
 */
static int tlb(struct vmmu_batch_cpu *c, uint8_t kind, uint64_t va,
	       enum vmmu_batch_target t, const uint64_t *mask, uint32_t words)
{
	struct vmmu_batch_entry e = {.kind = kind, .target = (uint8_t)t,
				     .ptr = va};
	int rc = 0;

	if (t != VMMU_BATCH_MASK) {
		return t == VMMU_BATCH_LOCAL || t == VMMU_BATCH_ALL
			       ? vmmu_batch_queue(c, &e)
			       : -VMMU_EINVAL;
	}
	if ((mask == NULL && words != 0) || words > 64) {
		return -VMMU_EINVAL;
	}
	for (uint32_t w = 0; w < words && rc >= 0; w++) {
		if (mask[w] != 0) {
			e.mask_word = w;
			e.val = mask[w];
			rc = vmmu_batch_queue(c, &e);
		}
	}
	return rc;
}

int vmmu_batch_tlb_flush(struct vmmu_batch_cpu *c, enum vmmu_batch_target t,
			 const uint64_t *mask, uint32_t words)
{
	return tlb(c, VMMU_BATCH_TLB_FLUSH, 0, t, mask, words);
}

int vmmu_batch_invlpg(struct vmmu_batch_cpu *c, uint64_t va,
		      enum vmmu_batch_target t, const uint64_t *mask,
		      uint32_t words)
{
	return tlb(c, VMMU_BATCH_INVLPG, va & ~0xfffull, t, mask, words);
}
