/* SPDX-License-Identifier: MIT */
/*
 * Private helpers shared by the mmu/ sources: invariant checks, platform
 * calls, atomics on entries. Not part of the public API.
 */
#ifndef VMMU_MMU_INTERNAL_H
#define VMMU_MMU_INTERNAL_H

#include <vmmu/vmmu.h>

/*
 * VMMU_CHECK guards internal invariants only; guest-controlled input is
 * reported with -VMMU_E* codes, never through this.
 */
#define VMMU_CHECK(plat, cond)                                               \
	do {                                                                 \
		if (__builtin_expect(!(cond), 0)) {                          \
			vmmu_panic((plat), __FILE__, __LINE__, #cond);       \
		}                                                            \
	} while (0)

__attribute__((noreturn, cold, visibility("hidden"))) void vmmu_panic(const struct vmmu_platform *plat,
						const char *file, int line,
						const char *msg);

/* Map the frame at pa; NULL when it is not memory. */
static inline vmmu_pte_t *vmmu_map_table(const struct vmmu_platform *plat,
					 uint64_t pa)
{
	if (plat->ops->frame_map != NULL) {
		return (vmmu_pte_t *)plat->ops->frame_map(plat->ctx, pa);
	}
	if (pa >= plat->direct_map_size) {
		return NULL;
	}
	return (vmmu_pte_t *)(plat->direct_map_base + (uintptr_t)pa);
}

static inline void vmmu_unmap_table(const struct vmmu_platform *plat,
				    vmmu_pte_t *table)
{
	if (plat->ops->frame_unmap != NULL) {
		plat->ops->frame_unmap(plat->ctx, table);
	}
}

/* Whether a long operation should stop here (the platform's preemption check). */
static inline bool vmmu_should_yield(const struct vmmu_platform *plat)
{
	return plat->ops->should_yield != NULL &&
	       plat->ops->should_yield(plat->ctx);
}

static inline void vmmu_trace(const struct vmmu_platform *plat, uint32_t ev,
			      uint64_t a, uint64_t b)
{
	if (plat->ops->trace != NULL) {
		plat->ops->trace(plat->ctx, ev, a, b);
	}
}

static inline void vmmu_tlb_flush_range(const struct vmmu_platform *plat,
					uint64_t addr, uint64_t size)
{
	if (plat->ops->tlb_flush != NULL) {
		struct vmmu_tlb_req req = {
			.scope = VMMU_TLB_RANGE,
			.addr = addr,
			.size = size,
		};
		plat->ops->tlb_flush(plat->ctx, &req);
	}
}

/*
 * Entries are read and written with single 64-bit atomic accesses: the
 * hardware (or another walker) may walk them concurrently, and a torn
 * entry would be a security bug.
 */
static inline vmmu_pte_t vmmu_pte_load(const vmmu_pte_t *slot)
{
	return __atomic_load_n(slot, __ATOMIC_RELAXED);
}

static inline void vmmu_pte_store(vmmu_pte_t *slot, vmmu_pte_t v)
{
	__atomic_store_n(slot, v, __ATOMIC_RELEASE);
}

static inline bool vmmu_pte_cmpxchg(vmmu_pte_t *slot, vmmu_pte_t old,
				    vmmu_pte_t new_value)
{
	return __atomic_compare_exchange_n(slot, &old, new_value, false,
					   __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

/* Read the entry at physical address slot; false when it is not memory. */
static inline bool vmmu_pte_read_at(const struct vmmu_platform *plat,
				    uint64_t slot, vmmu_pte_t *e)
{
	vmmu_pte_t *t = vmmu_map_table(plat, slot & VMMU_PAGE_MASK);

	if (t == NULL) {
		return false;
	}
	*e = vmmu_pte_load(&t[(slot & ~VMMU_PAGE_MASK) / sizeof(vmmu_pte_t)]);
	vmmu_unmap_table(plat, t);
	return true;
}

/*
 * Set A in the entries pte[top..leaf] that lack it, and D in the leaf when
 * `write`, each by compare-exchange against the value the walk read
 * (pte_addr[] holds where each was read). Returns 0 (pte[] updated), 1 when
 * an entry changed since the walk read it (*changed = its level: walk
 * again), or -VMMU_EFAULT. Shared by the x86 and EPT walks (SDM Vol. 3A
 * §4.8, Vol. 3C §29.3.5). Out of line on purpose: inlined, it costs the
 * steady-state walk (A/D already set) registers and instructions.
 */
__attribute__((visibility("hidden"))) int
vmmu_set_ad_bits(const struct vmmu_fmt *fmt,
		     const struct vmmu_platform *plat, unsigned top,
		     unsigned leaf, vmmu_pte_t *pte, const uint64_t *pte_addr,
		     bool write, uint32_t *changed);

/* Bits [lo, hi] set (0 <= lo <= hi <= 63). */
static inline uint64_t vmmu_bits(unsigned hi, unsigned lo)
{
	return (~0ull >> (63u - hi)) & (~0ull << lo);
}

#endif /* VMMU_MMU_INTERNAL_H */
