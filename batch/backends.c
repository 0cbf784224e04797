/* SPDX-License-Identifier: MIT */
/*
 * Two backends for the batch queue (include/vmmu/batch.h): native (the
 * updates are plain stores into the page tables, flushes go to the
 * platform) and recording (tests keep the log and check it).
 */
#include <vmmu/batch.h>

#include "../mmu/internal.h"

#define E_A (1ull << 5)
#define E_D (1ull << 6)

/* --- native ---------------------------------------------------------------------- */

/* *pte_ma = val, or with the A/D bits the CPU set meanwhile kept. */
static int native_store(const struct vmmu_platform *plat, uint64_t pte_ma,
			uint64_t val, bool keep_ad)
{
	vmmu_pte_t *t = vmmu_map_table(plat, pte_ma & VMMU_PAGE_MASK);
	vmmu_pte_t *p;
	uint64_t old;

	if (t == NULL) {
		return -VMMU_EFAULT;
	}
	p = &t[(pte_ma & 0xfffu) >> 3];
	if (!keep_ad) {
		__atomic_store_n(p, val, __ATOMIC_RELEASE);
	} else {
		old = __atomic_load_n(p, __ATOMIC_RELAXED);
		/* The hardware may set A or D between the load and the store. */
		while (!__atomic_compare_exchange_n(p, &old,
						    val | (old & (E_A | E_D)), false,
						    __ATOMIC_ACQ_REL,
						    __ATOMIC_RELAXED)) {
		}
	}
	vmmu_unmap_table(plat, t);
	return 0;
}

/* A flush entry as one request to the platform. */
static void native_flush(const struct vmmu_platform *plat, uint32_t cpu,
			 const struct vmmu_batch_entry *e)
{
	uint64_t mask[64] = {0};
	struct vmmu_tlb_req req = {
		.scope = e->kind == VMMU_BATCH_INVLPG ? VMMU_TLB_RANGE
						      : VMMU_TLB_ALL_NONGLOBAL,
		.addr = e->kind == VMMU_BATCH_INVLPG ? e->ptr : 0,
		.size = e->kind == VMMU_BATCH_INVLPG ? 4096 : 0,
	};

	if (e->target == VMMU_BATCH_LOCAL && cpu < 64u * 64u) {
		mask[cpu / 64] = 1ull << (cpu % 64);
		req.cpu_mask_words = cpu / 64 + 1;
	} else if (e->target == VMMU_BATCH_MASK && e->mask_word < 64) {
		mask[e->mask_word] = e->val;
		req.cpu_mask_words = e->mask_word + 1;
	}
	req.cpu_mask = req.cpu_mask_words != 0 ? mask : NULL;
	if (plat->ops->tlb_flush != NULL) {
		plat->ops->tlb_flush(plat->ctx, &req);
	}
}

static int native_one(const struct vmmu_batch_native *n, uint32_t cpu,
		      const struct vmmu_batch_entry *e)
{
	switch (e->kind) {
	case VMMU_BATCH_PTE_WRITE:
	case VMMU_BATCH_PTE_UPDATE_AD:
		return native_store(n->plat, e->ptr, e->val,
				    e->kind == VMMU_BATCH_PTE_UPDATE_AD);
	case VMMU_BATCH_PIN:
	case VMMU_BATCH_UNPIN:
		return 0; /* the hardware has no pins */
	case VMMU_BATCH_NEW_BASE:
	case VMMU_BATCH_NEW_USER_BASE:
		if (n->set_base != NULL) {
			n->set_base(n->ctx, cpu, e->ptr >> 12,
				    e->kind == VMMU_BATCH_NEW_USER_BASE);
		}
		return 0;
	case VMMU_BATCH_TLB_FLUSH:
	case VMMU_BATCH_INVLPG:
		native_flush(n->plat, cpu, e);
		return 0;
	default:
		return -VMMU_EINVAL;
	}
}

static int native_submit(void *ctx, uint32_t cpu,
			 const struct vmmu_batch_entry *e, uint32_t n,
			 uint32_t *done)
{
	const struct vmmu_batch_native *nb = ctx;

	for (uint32_t i = 0; i < n; i++) {
		int rc = native_one(nb, cpu, &e[i]);
		if (rc != 0) {
			*done = i;
			return rc;
		}
	}
	*done = n;
	return 0;
}

int vmmu_batch_native_init(struct vmmu_batch_native *n,
			   const struct vmmu_platform *plat,
			   void (*set_base)(void *ctx, uint32_t cpu,
					    uint64_t mfn, bool user),
			   void *ctx)
{
	if (n == NULL || vmmu_platform_check(plat) != 0) {
		return -VMMU_EINVAL;
	}
	n->backend.submit = native_submit;
	n->backend.ctx = n;
	n->plat = plat;
	n->set_base = set_base;
	n->ctx = ctx;
	return 0;
}

/* --- recording ---------------------------------------------------------------------- */

static int record_submit(void *ctx, uint32_t cpu,
			 const struct vmmu_batch_entry *e, uint32_t n,
			 uint32_t *done)
{
	struct vmmu_batch_recorder *r = ctx;

	(void)cpu;
	r->submits++;
	r->max_run = n > r->max_run ? n : r->max_run;
	for (uint32_t i = 0; i < n; i++) {
		if (e[i].seq == r->fail_seq) {
			*done = i;
			return r->fail_rc;
		}
		if (r->log_n < r->cap) {
			r->log[r->log_n++] = e[i];
		} else {
			r->overflow++;
		}
	}
	*done = n;
	return 0;
}

void vmmu_batch_recorder_init(struct vmmu_batch_recorder *r,
			      struct vmmu_batch_entry *log, uint64_t cap)
{
	__builtin_memset(r, 0, sizeof(*r));
	r->backend.submit = record_submit;
	r->backend.ctx = r;
	r->log = log;
	r->cap = log != NULL ? cap : 0;
	r->fail_seq = ~0ull;
	r->fail_rc = -VMMU_EINVAL;
}
