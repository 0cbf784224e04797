/* SPDX-License-Identifier: MIT */
/*
 * The direct-paging backend of the batch queue (batch/pv_backend.c),
 * wired in process to vmmu's own hypervisor side: the hypercall hook runs
 * vmmu_batch_exec (a multicall, stopping at the first refused entry) or
 * vmmu_batch_exec_call (a direct hypercall) on a small domain's vCPU
 * (tests/support/pv_fixture.h), continuing preempted calls as a real
 * hypervisor would. The tests call the backend's submit directly and
 * check the hypercalls it made (how many, multicall or direct, the arrays
 * in each), the page tables, the flushes, the index a refusal maps back
 * to, and the audit after every hypercall.
 */
#include <stdlib.h>
#include <string.h>

#include "unit_check.h" /* cmocka, WHERE, CHECK_EQ */

#include <vmmu/batch_exec.h>
#include <vmmu/batch_pv.h>

#include "pv_fixture.h"

#define NFRAMES 64u
#define OWN_LAST 55u
#define DOM 1u
#define OTHER_DOM 2u
#define FOREIGN 60u   /* an OTHER_DOM frame */
#define NR_VCPUS 100u /* two bitmap words */
#define NCPUS 2u

#define P (1ull << 0)
#define RW (1ull << 1)
#define US (1ull << 2)
#define A (1ull << 5)
#define D (1ull << 6)

#define MAX_RECS 64u
#define MAX_CALLS 16u

/* One hypercall the backend made, as it made it. */
struct hc_rec {
	uint32_t cpu, n;
	uint64_t op[MAX_CALLS];
	uint64_t count[MAX_CALLS];
	const struct vmmu_pv_multicall_entry *calls;
};

/* One flush request the domain's platform got. */
struct flush_rec {
	uint32_t scope, words;
	uint64_t addr;
	uint64_t mask[2];
	uint64_t watched; /* the watched PTE when the flush was requested */
};

/* Per-CPU scratch memory. */
struct cpu_mem {
	struct vmmu_pv_multicall_entry calls[MAX_CALLS];
	struct vmmu_batch_pv_progress progress[MAX_CALLS];
	struct vmmu_pv_mmu_update upd[64];
	struct vmmu_pv_mmuext_op ext[16];
	uint64_t bitmaps[4 * 2];
};

struct fixture {
	struct pv_fixture pv; /* first: the platform's ctx is the fixture */
	struct vmmu_platform_ops plat_ops;
	struct vmmu_pv_guest_ops guest;
	struct vmmu_batch_exec_ops xops;
	struct vmmu_batch_pv bp;
	struct vmmu_batch_pv_scratch scratch[NCPUS];
	struct cpu_mem mem[NCPUS];
	bool yield_all;
	uint64_t restarts;
	/* hypercalls */
	struct hc_rec recs[MAX_RECS];
	uint32_t nrecs;
	int fake; /* 1: refuse the whole multicall, 2: lie about done, 3: do nothing */
	/* flushes */
	struct flush_rec flushes[MAX_RECS];
	uint32_t nflushes;
	uint64_t *watched;
	/* scene */
	uint64_t a, b, c, l1, l2, l3, l4, spare;
};

/* --- platform, guest memory, hypervisor ---------------------------------------- */

static bool yield_hook(void *ctx)
{
	return ((struct fixture *)ctx)->yield_all;
}

static void flush_hook(void *ctx, const struct vmmu_tlb_req *req)
{
	struct fixture *fx = ctx;
	struct flush_rec *f = &fx->flushes[fx->nflushes++];

	assert_true(fx->nflushes <= MAX_RECS);
	memset(f, 0, sizeof(*f));
	f->scope = req->scope;
	f->words = req->cpu_mask_words;
	f->addr = req->addr;
	for (uint32_t w = 0; w < req->cpu_mask_words && w < 2; w++) {
		f->mask[w] = req->cpu_mask[w];
	}
	f->watched = fx->watched != NULL ? *fx->watched : 0;
}

static int copy_from_guest(void *ctx, const struct vmmu_pv_vcpu *v, void *dst,
			   uint64_t gva, size_t len)
{
	(void)ctx;
	(void)v;
	memcpy(dst, (const void *)(uintptr_t)gva, len);
	return 0;
}

static void *guest_ptr(void *ctx, const struct vmmu_pv_vcpu *v, uint64_t gva,
		       size_t len)
{
	(void)ctx;
	(void)v;
	(void)len;
	return (void *)(uintptr_t)gva;
}

static void assert_audit_clean(struct fixture *fx)
{
	PV_ASSERT_AUDIT_CLEAN(&fx->pv);
}

static void record(struct fixture *fx, uint32_t cpu,
		   const struct vmmu_pv_multicall_entry *calls, uint32_t n)
{
	struct hc_rec *r = &fx->recs[fx->nrecs++];

	assert_true(fx->nrecs <= MAX_RECS);
	assert_true(n >= 1 && n <= MAX_CALLS);
	r->cpu = cpu;
	r->n = n;
	r->calls = calls;
	for (uint32_t j = 0; j < n; j++) {
		r->op[j] = calls[j].op;
		r->count[j] = calls[j].args[1];
	}
}

/* A hypervisor that misbehaves (fx->fake), for the backend's mapping. */
static int fake_hypercall(struct fixture *fx,
			  struct vmmu_pv_multicall_entry *calls, uint32_t n)
{
	if (fx->fake == 1) {
		return -VMMU_EFAULT; /* the list itself: nothing ran */
	}
	if (fx->fake == 3) {
		return 0; /* a direct call writes no result field */
	}
	for (uint32_t j = 0; j < n; j++) {
		uint32_t lie = 99;

		memcpy((void *)(uintptr_t)calls[j].args[2], &lie, sizeof(lie));
		calls[j].result = (uint64_t)(int64_t)-VMMU_EBUSY;
	}
	return n == 1 ? -VMMU_EBUSY : 0;
}

/* The hypervisor: vmmu's executor on vCPU 0, continuing preempted calls. */
static int hypercall(void *ctx, uint32_t cpu,
		     struct vmmu_pv_multicall_entry *calls, uint32_t n)
{
	struct fixture *fx = ctx;
	uint32_t done = 0;
	int64_t rc;

	record(fx, cpu, calls, n);
	if (fx->fake != 0) {
		return fake_hypercall(fx, calls, n);
	}
	for (;;) {
		rc = n == 1 ? vmmu_batch_exec_call(&fx->pv.v, &calls[0], &fx->xops)
			    : vmmu_batch_exec(&fx->pv.v, calls, n, &done, &fx->xops);
		assert_audit_clean(fx);
		if (rc != -VMMU_ERESTART) {
			return (int)rc;
		}
		fx->restarts++;
	}
}

/* --- fixture ------------------------------------------------------------------------ */

static void init_backend(struct fixture *fx, uint32_t calls_cap, uint32_t upd_cap,
			 uint32_t ext_cap, uint32_t bitmaps_cap, uint32_t flags)
{
	for (uint32_t c = 0; c < NCPUS; c++) {
		struct cpu_mem *m = &fx->mem[c];

		fx->scratch[c] = (struct vmmu_batch_pv_scratch){
			.calls = m->calls,
			.progress = m->progress,
			.upd = m->upd,
			.ext = m->ext,
			.bitmaps = bitmaps_cap != 0 ? m->bitmaps : NULL,
			.calls_cap = calls_cap,
			.upd_cap = upd_cap,
			.ext_cap = ext_cap,
			.bitmaps_cap = bitmaps_cap,
		};
	}
	assert_int_equal(vmmu_batch_pv_init(&fx->bp, fx->scratch, NCPUS, NR_VCPUS,
					    hypercall, fx, flags),
			 0);
}

static uint64_t *table(struct fixture *fx, uint64_t mfn)
{
	return pv_table(&fx->pv, mfn);
}

static uint64_t entry(uint64_t mfn, uint64_t flags)
{
	return (mfn << 12) | flags;
}

/* Machine address of entry i of table mfn. */
static uint64_t pte_ma(uint64_t mfn, unsigned i)
{
	return (mfn << 12) | ((uint64_t)i * 8u);
}

static uint64_t va(unsigned i)
{
	return (1ull << 39) | (1ull << 30) | (1ull << 21) | ((uint64_t)i << 12);
}

/* L4 -> L3 -> L2 -> L1 (index 1 each), pinned and loaded; a spare L1. */
static void build_scene(struct fixture *fx)
{
	fx->a = pv_new_frame(&fx->pv);
	fx->b = pv_new_frame(&fx->pv);
	fx->c = pv_new_frame(&fx->pv);
	fx->l1 = pv_new_frame(&fx->pv);
	fx->l2 = pv_new_frame(&fx->pv);
	fx->l3 = pv_new_frame(&fx->pv);
	fx->l4 = pv_new_frame(&fx->pv);
	fx->spare = pv_new_frame(&fx->pv);
	table(fx, fx->l1)[0] = entry(fx->a, P | RW | US);
	table(fx, fx->l2)[1] = entry(fx->l1, P | RW | US);
	table(fx, fx->l3)[1] = entry(fx->l2, P | RW | US);
	table(fx, fx->l4)[1] = entry(fx->l3, P | RW | US);
	table(fx, fx->spare)[0] = entry(fx->b, P | US);
	assert_int_equal(pv_ext(&fx->pv, VMMU_PV_MMUEXT_PIN_L4_TABLE, fx->l4, 0), 0);
	assert_int_equal(pv_ext(&fx->pv, VMMU_PV_MMUEXT_NEW_BASEPTR, fx->l4, 0), 0);
	fx->nflushes = 0;
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	pv_fixture_init(&fx->pv, NFRAMES, OWN_LAST, DOM, OTHER_DOM, 0);
	fx->plat_ops = *fx->pv.tp.plat.ops;
	fx->plat_ops.should_yield = yield_hook;
	fx->plat_ops.tlb_flush = flush_hook;
	fx->pv.tp.plat.ops = &fx->plat_ops;
	fx->guest.copy_from_guest = copy_from_guest;
	vmmu_pv_domain_set_guest_ops(&fx->pv.d, &fx->guest, NR_VCPUS);
	fx->xops = (struct vmmu_batch_exec_ops){
		.guest_ptr = guest_ptr,
		.flags = VMMU_BATCH_EXEC_STOP_ON_ERROR,
	};
	build_scene(fx);
	init_backend(fx, 8, 16, 8, 4, 0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	pv_fixture_fini(&fx->pv);
	free(fx);
	return 0;
}

/* --- updates ------------------------------------------------------------------------- */

static struct vmmu_batch_entry write_e(uint64_t ma, uint64_t val)
{
	return (struct vmmu_batch_entry){
		.kind = VMMU_BATCH_PTE_WRITE, .level = 1, .ptr = ma, .val = val};
}

static struct vmmu_batch_entry ad_e(uint64_t ma, uint64_t val)
{
	return (struct vmmu_batch_entry){
		.kind = VMMU_BATCH_PTE_UPDATE_AD, .level = 1, .ptr = ma, .val = val};
}

static struct vmmu_batch_entry frame_e(uint8_t kind, uint64_t mfn, uint8_t level)
{
	return (struct vmmu_batch_entry){.kind = kind, .level = level, .ptr = mfn << 12};
}

static struct vmmu_batch_entry flush_e(uint8_t kind, uint8_t target, uint64_t va_,
				       uint32_t word, uint64_t bits)
{
	return (struct vmmu_batch_entry){.kind = kind,
					 .target = target,
					 .mask_word = word,
					 .ptr = va_,
					 .val = bits};
}

static int submit(struct fixture *fx, uint32_t cpu,
		  const struct vmmu_batch_entry *e, uint32_t n, uint32_t *done)
{
	int rc = fx->bp.backend.submit(fx->bp.backend.ctx, cpu, e, n, done);

	assert_audit_clean(fx);
	return rc;
}

static void assert_call(const struct hc_rec *r, uint32_t j, uint64_t op,
			uint64_t count)
{
	WHERE("call %u", j);
	CHECK_EQ(r->op[j], op);
	CHECK_EQ(r->count[j], count);
}

/* --- coalescing --------------------------------------------------------------------- */

/* One run of writes: one direct mmu_update; the last write to an entry wins. */
static void test_writes_coalesce_into_one_direct_mmu_update(void **state)
{
	struct fixture *fx = *state;
	struct vmmu_batch_entry e[4] = {
		write_e(pte_ma(fx->l1, 1), entry(fx->b, P | RW | US)),
		write_e(pte_ma(fx->l1, 2), entry(fx->c, P | US)),
		ad_e(pte_ma(fx->l1, 0), entry(fx->c, P | US)),
		write_e(pte_ma(fx->l1, 1), entry(fx->c, P | US)),
	};
	uint32_t done = 7;

	table(fx, fx->l1)[0] |= A | D; /* set by the hardware meanwhile */
	assert_int_equal(submit(fx, 0, e, 4, &done), 0);
	assert_int_equal(done, 4);
	assert_int_equal(fx->nrecs, 1);
	assert_int_equal(fx->recs[0].n, 1);
	assert_call(&fx->recs[0], 0, VMMU_PV_HC_MMU_UPDATE, 4);
	/* the commands in ptr's low bits */
	assert_int_equal(fx->mem[0].upd[1].ptr, pte_ma(fx->l1, 2));
	assert_int_equal(fx->mem[0].upd[2].ptr,
			 pte_ma(fx->l1, 0) | VMMU_PV_MMU_PT_UPDATE_PRESERVE_AD);
	assert_int_equal(table(fx, fx->l1)[1], entry(fx->c, P | US));
	assert_int_equal(table(fx, fx->l1)[2], entry(fx->c, P | US));
	assert_int_equal(table(fx, fx->l1)[0], entry(fx->c, P | US | A | D));
	assert_int_equal(fx->scratch[0].hypercalls, 1);
	assert_int_equal(fx->scratch[0].multicalls, 0);
	assert_int_equal(fx->scratch[0].requests, 4);
	assert_int_equal(fx->nflushes, 0); /* L1 writes flush nothing */
}

/*
 * Writes, flushes, more writes, pin and unpin: four arrays in one
 * multicall, in order; the flush sees the write queued before it.
 */
static void test_mixed_run_is_one_multicall_in_order(void **state)
{
	struct fixture *fx = *state;
	struct vmmu_batch_entry e[7] = {
		write_e(pte_ma(fx->l1, 1), entry(fx->b, P | RW | US)),
		write_e(pte_ma(fx->l1, 2), entry(fx->c, P | US)),
		flush_e(VMMU_BATCH_TLB_FLUSH, VMMU_BATCH_LOCAL, 0, 0, 0),
		flush_e(VMMU_BATCH_INVLPG, VMMU_BATCH_ALL, va(1), 0, 0),
		write_e(pte_ma(fx->l1, 1), entry(fx->c, P | US)),
		frame_e(VMMU_BATCH_PIN, fx->spare, 1),
		frame_e(VMMU_BATCH_UNPIN, fx->spare, 0),
	};
	uint32_t done = 0;
	struct vmmu_frame_info i;

	fx->watched = &table(fx, fx->l1)[1];
	assert_int_equal(submit(fx, 0, e, 7, &done), 0);
	assert_int_equal(done, 7);
	assert_int_equal(fx->nrecs, 1);
	assert_int_equal(fx->recs[0].n, 4);
	assert_call(&fx->recs[0], 0, VMMU_PV_HC_MMU_UPDATE, 2);
	assert_call(&fx->recs[0], 1, VMMU_PV_HC_MMUEXT_OP, 2);
	assert_call(&fx->recs[0], 2, VMMU_PV_HC_MMU_UPDATE, 1);
	assert_call(&fx->recs[0], 3, VMMU_PV_HC_MMUEXT_OP, 2);
	assert_int_equal(fx->mem[0].ext[0].cmd, VMMU_PV_MMUEXT_TLB_FLUSH_LOCAL);
	assert_int_equal(fx->mem[0].ext[1].cmd, VMMU_PV_MMUEXT_INVLPG_ALL);
	assert_int_equal(fx->mem[0].ext[1].arg1.linear_addr, va(1));
	assert_int_equal(fx->mem[0].ext[2].cmd, VMMU_PV_MMUEXT_PIN_L1_TABLE);
	assert_int_equal(fx->mem[0].ext[2].arg1.mfn, fx->spare);
	assert_int_equal(fx->mem[0].ext[3].cmd, VMMU_PV_MMUEXT_UNPIN_TABLE);
	/* Both flushes came after the first write and before the second. */
	assert_int_equal(fx->nflushes, 2);
	assert_int_equal(fx->flushes[0].scope, VMMU_TLB_ALL_NONGLOBAL);
	assert_int_equal(fx->flushes[0].words, 1); /* this vCPU */
	assert_int_equal(fx->flushes[0].watched, entry(fx->b, P | RW | US));
	assert_int_equal(fx->flushes[1].scope, VMMU_TLB_RANGE);
	assert_int_equal(fx->flushes[1].addr, va(1));
	assert_int_equal(fx->flushes[1].words, 0); /* the whole domain */
	assert_int_equal(fx->flushes[1].watched, entry(fx->b, P | RW | US));
	assert_int_equal(table(fx, fx->l1)[1], entry(fx->c, P | US));
	assert_int_equal(vmmu_ft_info(&fx->pv.ft, fx->spare, &i), 0);
	assert_int_equal(i.pinned, 0);
	assert_int_equal(i.type_count, 0);
	assert_int_equal(fx->scratch[0].multicalls, 1);
	assert_int_equal(fx->scratch[0].requests, 7);
}

/* MASK flushes: a bitmap of the domain's vCPU count with word mask_word set. */
static void test_mask_flushes_carry_a_vcpu_bitmap(void **state)
{
	struct fixture *fx = *state;
	struct vmmu_batch_entry e[2] = {
		flush_e(VMMU_BATCH_TLB_FLUSH, VMMU_BATCH_MASK, 0, 1, 0x5),
		flush_e(VMMU_BATCH_INVLPG, VMMU_BATCH_MASK, va(2), 0, 0x8001),
	};
	uint32_t done = 0;

	assert_int_equal(submit(fx, 0, e, 2, &done), 0);
	assert_int_equal(done, 2);
	assert_int_equal(fx->nrecs, 1);
	assert_int_equal(fx->recs[0].n, 1); /* one mmuext_op: direct */
	assert_call(&fx->recs[0], 0, VMMU_PV_HC_MMUEXT_OP, 2);
	assert_int_equal(fx->mem[0].ext[0].cmd, VMMU_PV_MMUEXT_TLB_FLUSH_MULTI);
	assert_int_equal(fx->mem[0].ext[1].cmd, VMMU_PV_MMUEXT_INVLPG_MULTI);
	assert_int_equal(fx->mem[0].ext[0].arg2.vcpumask,
			 (uint64_t)(uintptr_t)&fx->mem[0].bitmaps[0]);
	assert_int_equal(fx->mem[0].ext[1].arg2.vcpumask,
			 (uint64_t)(uintptr_t)&fx->mem[0].bitmaps[2]);
	assert_int_equal(fx->nflushes, 2);
	assert_int_equal(fx->flushes[0].words, 2);
	assert_int_equal(fx->flushes[0].mask[0], 0);
	assert_int_equal(fx->flushes[0].mask[1], 0x5); /* vCPUs 64 and 66 */
	assert_int_equal(fx->flushes[1].scope, VMMU_TLB_RANGE);
	assert_int_equal(fx->flushes[1].addr, va(2));
	assert_int_equal(fx->flushes[1].mask[0], 0x8001);
	assert_int_equal(fx->flushes[1].mask[1], 0);
	/* A bitmap slot used again has its other words cleared. */
	e[0] = flush_e(VMMU_BATCH_TLB_FLUSH, VMMU_BATCH_MASK, 0, 0, 0x2);
	assert_int_equal(submit(fx, 0, e, 1, &done), 0);
	assert_int_equal(fx->nflushes, 3);
	assert_int_equal(fx->flushes[2].mask[0], 0x2);
	assert_int_equal(fx->flushes[2].mask[1], 0);
}

static void test_new_base_and_user_base(void **state)
{
	struct fixture *fx = *state;
	struct vmmu_batch_entry e[3] = {
		frame_e(VMMU_BATCH_NEW_BASE, fx->l4, 0),
		frame_e(VMMU_BATCH_NEW_USER_BASE, fx->l4, 0),
		frame_e(VMMU_BATCH_NEW_USER_BASE, 0, 0),
	};
	uint32_t done = 0;
	struct vmmu_frame_info i;

	assert_int_equal(submit(fx, 0, e, 2, &done), 0);
	assert_int_equal(fx->mem[0].ext[0].cmd, VMMU_PV_MMUEXT_NEW_BASEPTR);
	assert_int_equal(fx->mem[0].ext[1].cmd, VMMU_PV_MMUEXT_NEW_USER_BASEPTR);
	assert_int_equal(vmmu_pv_vcpu_base(&fx->pv.v), fx->l4);
	assert_int_equal(vmmu_pv_vcpu_user_base(&fx->pv.v), fx->l4);
	assert_int_equal(vmmu_ft_info(&fx->pv.ft, fx->l4, &i), 0);
	assert_int_equal(i.type_count, 3); /* pin, base, user base */
	assert_int_equal(submit(fx, 0, &e[2], 1, &done), 0);
	assert_int_equal(done, 1);
	assert_int_equal(vmmu_pv_vcpu_user_base(&fx->pv.v), 0);
	assert_int_equal(vmmu_ft_info(&fx->pv.ft, fx->l4, &i), 0);
	assert_int_equal(i.type_count, 2);
}

/* A run larger than the scratch: several hypercalls, in order. */
static void test_run_larger_than_scratch_goes_out_in_order(void **state)
{
	struct fixture *fx = *state;
	struct vmmu_batch_entry e[40];
	uint32_t done = 0;

	for (unsigned i = 0; i < 40; i++) {
		e[i] = write_e(pte_ma(fx->l1, 100 + i % 20),
			       entry(i < 20 ? fx->b : fx->c, P | US));
	}
	assert_int_equal(submit(fx, 0, e, 40, &done), 0);
	assert_int_equal(done, 40);
	assert_int_equal(fx->nrecs, 3); /* 16 + 16 + 8 */
	for (unsigned r = 0; r < 3; r++) {
		assert_int_equal(fx->recs[r].n, 1);
		assert_call(&fx->recs[r], 0, VMMU_PV_HC_MMU_UPDATE, r < 2 ? 16 : 8);
	}
	for (unsigned i = 0; i < 20; i++) {
		assert_int_equal(table(fx, fx->l1)[100 + i], entry(fx->c, P | US));
	}
	/* Few multicall entries: a new one each time the array kind changes. */
	init_backend(fx, 2, 16, 8, 4, 0);
	fx->nrecs = 0;
	struct vmmu_batch_entry m[5] = {
		write_e(pte_ma(fx->l1, 1), entry(fx->b, P | US)),
		flush_e(VMMU_BATCH_TLB_FLUSH, VMMU_BATCH_LOCAL, 0, 0, 0),
		write_e(pte_ma(fx->l1, 2), entry(fx->b, P | US)),
		write_e(pte_ma(fx->l1, 3), entry(fx->b, P | US)),
		flush_e(VMMU_BATCH_TLB_FLUSH, VMMU_BATCH_ALL, 0, 0, 0),
	};
	assert_int_equal(submit(fx, 0, m, 5, &done), 0);
	assert_int_equal(done, 5);
	assert_int_equal(fx->nrecs, 2);
	assert_int_equal(fx->recs[0].n, 2);
	assert_call(&fx->recs[0], 0, VMMU_PV_HC_MMU_UPDATE, 1);
	assert_call(&fx->recs[0], 1, VMMU_PV_HC_MMUEXT_OP, 1);
	assert_int_equal(fx->recs[1].n, 2);
	assert_call(&fx->recs[1], 0, VMMU_PV_HC_MMU_UPDATE, 2);
	assert_call(&fx->recs[1], 1, VMMU_PV_HC_MMUEXT_OP, 1);
	assert_int_equal(fx->scratch[0].hypercalls, 2);
	assert_int_equal(fx->scratch[0].multicalls, 2);
	assert_int_equal(table(fx, fx->l1)[3], entry(fx->b, P | US));
	/* Out of bitmaps: the next MASK flush goes in the next hypercall. */
	init_backend(fx, 8, 16, 8, 1, 0);
	fx->nrecs = 0;
	struct vmmu_batch_entry k[2] = {
		flush_e(VMMU_BATCH_TLB_FLUSH, VMMU_BATCH_MASK, 0, 0, 1),
		flush_e(VMMU_BATCH_TLB_FLUSH, VMMU_BATCH_MASK, 0, 1, 1),
	};
	assert_int_equal(submit(fx, 0, k, 2, &done), 0);
	assert_int_equal(fx->nrecs, 2);
	assert_int_equal(fx->flushes[fx->nflushes - 1].mask[1], 1);
}

static void test_no_multicall_flag_sends_each_array_alone(void **state)
{
	struct fixture *fx = *state;
	struct vmmu_batch_entry e[4] = {
		write_e(pte_ma(fx->l1, 1), entry(fx->b, P | US)),
		write_e(pte_ma(fx->l1, 2), entry(fx->b, P | US)),
		flush_e(VMMU_BATCH_TLB_FLUSH, VMMU_BATCH_LOCAL, 0, 0, 0),
		write_e(pte_ma(fx->l1, 3), entry(fx->b, P | US)),
	};
	uint32_t done = 0;

	init_backend(fx, 8, 16, 8, 4, VMMU_BATCH_PV_NO_MULTICALL);
	assert_int_equal(submit(fx, 0, e, 4, &done), 0);
	assert_int_equal(fx->nrecs, 3);
	assert_call(&fx->recs[0], 0, VMMU_PV_HC_MMU_UPDATE, 2);
	assert_call(&fx->recs[1], 0, VMMU_PV_HC_MMUEXT_OP, 1);
	assert_call(&fx->recs[2], 0, VMMU_PV_HC_MMU_UPDATE, 1);
	for (unsigned r = 0; r < 3; r++) {
		assert_int_equal(fx->recs[r].n, 1);
	}
	assert_int_equal(fx->scratch[0].multicalls, 0);
}

static void test_each_cpu_uses_its_own_scratch(void **state)
{
	struct fixture *fx = *state;
	struct vmmu_batch_entry e[2] = {
		write_e(pte_ma(fx->l1, 1), entry(fx->b, P | US)),
		flush_e(VMMU_BATCH_TLB_FLUSH, VMMU_BATCH_LOCAL, 0, 0, 0),
	};
	uint32_t done = 0;

	assert_int_equal(submit(fx, 1, e, 2, &done), 0);
	assert_int_equal(fx->recs[0].cpu, 1);
	assert_ptr_equal(fx->recs[0].calls, fx->mem[1].calls);
	assert_int_equal(fx->scratch[1].hypercalls, 1);
	assert_int_equal(fx->scratch[0].hypercalls, 0);
	assert_int_equal(submit(fx, NCPUS, e, 2, &done), -VMMU_EINVAL);
	assert_int_equal(done, 0);
}

/* --- refusals ------------------------------------------------------------------------- */

/*
 * A refused update at every position of a mixed run, with roomy and with
 * tiny scratch (so the run spans several hypercalls): submit returns the
 * refusal with *done = its position; the updates before it are applied,
 * it and the ones after it are not.
 */
static void refusal_at_every_position(struct fixture *fx, unsigned base,
				      uint32_t calls_cap, uint32_t upd_cap,
				      uint32_t ext_cap)
{
	enum { N = 10 };
	/* w: write, f: flush; the refused one is a foreign write or pin */
	const char *shape = "wwfwffwwfw";

	for (uint32_t bad = 0; bad < N; bad++) {
		struct vmmu_batch_entry e[N];
		uint32_t done = 0, flushes_before = 0;

		unsigned first = base + bad * N; /* fresh entries each time */

		init_backend(fx, calls_cap, upd_cap, ext_cap, 4, 0);
		fx->nflushes = 0;
		fx->nrecs = 0;
		for (uint32_t i = 0; i < N; i++) {
			bool w = shape[i] == 'w';

			e[i] = w ? write_e(pte_ma(fx->l1, first + i), entry(fx->b, P | US))
				 : flush_e(VMMU_BATCH_TLB_FLUSH, VMMU_BATCH_LOCAL, 0, 0, 0);
			flushes_before += !w && i < bad;
		}
		e[bad] = shape[bad] == 'w'
				 ? write_e(pte_ma(fx->l1, first + bad), entry(FOREIGN, P | US))
				 : frame_e(VMMU_BATCH_PIN, FOREIGN, 1);
		WHERE("caps %u/%u/%u, refused %u", calls_cap, upd_cap, ext_cap, bad);
		CHECK_EQ(submit(fx, 0, e, N, &done), (uint64_t)(int64_t)-VMMU_EPERM);
		CHECK_EQ(done, bad);
		CHECK_EQ(fx->nflushes, flushes_before);
		if (upd_cap == 1 && ext_cap == 1) {
			CHECK_EQ(fx->nrecs, bad + 1); /* one each, none after */
		}
		for (uint32_t i = 0; i < N; i++) {
			if (shape[i] == 'w') {
				CHECK_EQ(table(fx, fx->l1)[first + i],
					 i < bad ? entry(fx->b, P | US) : 0);
			}
		}
	}
}

static void test_refusal_maps_back_to_the_exact_update(void **state)
{
	struct fixture *fx = *state;

	refusal_at_every_position(fx, 100, 8, 16, 8);
	refusal_at_every_position(fx, 200, 2, 2, 1);
	refusal_at_every_position(fx, 300, 1, 1, 1);
	fx->yield_all = true; /* every hypercall preempted at every point */
	refusal_at_every_position(fx, 400, 8, 16, 8);
	assert_true(fx->restarts > 0);
}

/* Updates the backend cannot send: what comes before goes out first. */
static void test_unsendable_update_is_refused_after_the_ones_before(void **state)
{
	struct fixture *fx = *state;
	struct {
		struct vmmu_batch_entry e;
		int rc;
	} bad[] = {
		{write_e(pte_ma(fx->l1, 5) | 4, 0), -VMMU_EALIGN},
		{{.kind = 0}, -VMMU_EINVAL},
		{{.kind = VMMU_BATCH_INVLPG + 1}, -VMMU_EINVAL},
		{frame_e(VMMU_BATCH_PIN, fx->spare, 5), -VMMU_ENOTSUP},
		{frame_e(VMMU_BATCH_PIN, fx->spare, 0), -VMMU_EINVAL},
		{frame_e(VMMU_BATCH_PIN, fx->spare, 6), -VMMU_EINVAL},
		{flush_e(VMMU_BATCH_TLB_FLUSH, 3, 0, 0, 0), -VMMU_EINVAL},
		{flush_e(VMMU_BATCH_INVLPG, VMMU_BATCH_MASK, 0, 2, 1), -VMMU_EINVAL},
	};

	for (unsigned k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		struct vmmu_batch_entry e[3] = {
			write_e(pte_ma(fx->l1, 300 + k), entry(fx->b, P | US)),
			bad[k].e,
			write_e(pte_ma(fx->l1, 400 + k), entry(fx->b, P | US)),
		};
		uint32_t done = 0;

		fx->nrecs = 0;
		WHERE("case %u", k);
		CHECK_EQ(submit(fx, 0, e, 3, &done), (uint64_t)(int64_t)bad[k].rc);
		CHECK_EQ(done, 1);
		CHECK_EQ(fx->nrecs, 1);
		CHECK_EQ(table(fx, fx->l1)[300 + k], entry(fx->b, P | US));
		CHECK_EQ(table(fx, fx->l1)[400 + k], 0);
	}
	/* No bitmaps in the scratch: MASK flushes are not supported. */
	init_backend(fx, 8, 16, 8, 0, 0);
	struct vmmu_batch_entry m = flush_e(VMMU_BATCH_TLB_FLUSH, VMMU_BATCH_MASK, 0, 0, 1);
	uint32_t done = 9;
	assert_int_equal(submit(fx, 0, &m, 1, &done), -VMMU_ENOTSUP);
	assert_int_equal(done, 0);
	/* Refused before it is reached: the earlier refusal wins. */
	struct vmmu_batch_entry two[2] = {
		write_e(pte_ma(fx->l1, 9), entry(FOREIGN, P | US)),
		{.kind = 0},
	};
	assert_int_equal(submit(fx, 0, two, 2, &done), -VMMU_EPERM);
	assert_int_equal(done, 0);
}

/*
 * A hypervisor that runs every entry of a multicall whatever the results
 * (Xen's semantics: no stop flag): the refusal is still reported at the
 * right update, but the arrays after it in the same multicall were
 * applied. VMMU_BATCH_PV_NO_MULTICALL restores the contract.
 */
static void test_xen_semantics_apply_arrays_after_a_refused_one(void **state)
{
	struct fixture *fx = *state;
	struct vmmu_batch_entry e[3] = {
		write_e(pte_ma(fx->l1, 1), entry(FOREIGN, P | US)),
		flush_e(VMMU_BATCH_TLB_FLUSH, VMMU_BATCH_LOCAL, 0, 0, 0),
		write_e(pte_ma(fx->l1, 2), entry(fx->b, P | US)),
	};
	uint32_t done = 0;

	fx->xops.flags = 0;
	assert_int_equal(submit(fx, 0, e, 3, &done), -VMMU_EPERM);
	assert_int_equal(done, 0);
	assert_int_equal(fx->nrecs, 1);
	assert_int_equal(fx->nflushes, 1);                             /* applied */
	assert_int_equal(table(fx, fx->l1)[2], entry(fx->b, P | US)); /* applied */
	/* One array per hypercall: nothing after the refusal. */
	init_backend(fx, 8, 16, 8, 4, VMMU_BATCH_PV_NO_MULTICALL);
	fx->nflushes = 0;
	e[2].ptr = pte_ma(fx->l1, 3);
	assert_int_equal(submit(fx, 0, e, 3, &done), -VMMU_EPERM);
	assert_int_equal(done, 0);
	assert_int_equal(fx->nflushes, 0);
	assert_int_equal(table(fx, fx->l1)[3], 0);
}

/* What the hypervisor reports is mapped without trusting it too far. */
static void test_misbehaving_hypervisor_is_mapped_conservatively(void **state)
{
	struct fixture *fx = *state;
	struct vmmu_batch_entry e[3] = {
		write_e(pte_ma(fx->l1, 1), entry(fx->b, P | US)),
		write_e(pte_ma(fx->l1, 2), entry(fx->b, P | US)),
		flush_e(VMMU_BATCH_TLB_FLUSH, VMMU_BATCH_LOCAL, 0, 0, 0),
	};
	uint32_t done = 0;

	fx->fake = 1; /* the multicall refused as a whole: nothing ran */
	assert_int_equal(submit(fx, 0, e, 3, &done), -VMMU_EFAULT);
	assert_int_equal(done, 0);
	fx->fake = 2; /* every entry refused, done words beyond the arrays */
	assert_int_equal(submit(fx, 0, e, 3, &done), -VMMU_EBUSY);
	assert_int_equal(done, 1); /* the last request of the first array */
	assert_int_equal(submit(fx, 0, &e[2], 1, &done), -VMMU_EBUSY);
	assert_int_equal(done, 0);
	/* A direct call's result is its return value, not the entry's field. */
	fx->fake = 3;
	assert_int_equal(submit(fx, 0, e, 2, &done), 0);
	assert_int_equal(done, 2);
}

/* --- set-up and arguments -------------------------------------------------------- */

static void test_init_and_submit_arguments(void **state)
{
	struct fixture *fx = *state;
	struct vmmu_batch_pv p;
	struct vmmu_batch_pv_scratch s = fx->scratch[0];
	struct vmmu_batch_entry w = write_e(pte_ma(fx->l1, 1), entry(fx->b, P | US));
	uint32_t done = 5;

	assert_int_equal(vmmu_batch_pv_init(NULL, &s, 1, 1, hypercall, fx, 0), -VMMU_EINVAL);
	assert_int_equal(vmmu_batch_pv_init(&p, NULL, 1, 1, hypercall, fx, 0), -VMMU_EINVAL);
	assert_int_equal(vmmu_batch_pv_init(&p, &s, 0, 1, hypercall, fx, 0), -VMMU_EINVAL);
	assert_int_equal(vmmu_batch_pv_init(&p, &s, 1, 1, NULL, fx, 0), -VMMU_EINVAL);
	assert_int_equal(vmmu_batch_pv_init(&p, &s, 1, 0, hypercall, fx, 0), -VMMU_EINVAL);
	assert_int_equal(vmmu_batch_pv_init(&p, &s, 1, 4097, hypercall, fx, 0),
			 -VMMU_EINVAL);
	assert_int_equal(vmmu_batch_pv_init(&p, &s, 1, 1, hypercall, fx, 2), -VMMU_EINVAL);
	struct vmmu_batch_pv_scratch broken[] = {s, s, s, s, s, s, s, s};
	broken[0].calls = NULL;
	broken[1].progress = NULL;
	broken[2].upd = NULL;
	broken[3].ext = NULL;
	broken[4].calls_cap = 0;
	broken[5].upd_cap = 0;
	broken[6].ext_cap = 0;
	broken[7].bitmaps_cap = 0; /* bitmaps given without a capacity */
	for (unsigned k = 0; k < 8; k++) {
		WHERE("broken scratch %u", k);
		CHECK_EQ(vmmu_batch_pv_init(&p, &broken[k], 1, 1, hypercall, fx, 0),
			 (uint64_t)(int64_t)-VMMU_EINVAL);
	}
	assert_int_equal(vmmu_batch_pv_init(&p, &s, 1, 4096, hypercall, fx, 0), 0);
	assert_int_equal(p.bitmap_words, 64);
	assert_ptr_equal(p.backend.ctx, &p);
	/* submit */
	assert_int_equal(fx->bp.backend.submit(fx->bp.backend.ctx, 0, &w, 1, NULL),
			 -VMMU_EINVAL);
	assert_int_equal(fx->bp.backend.submit(NULL, 0, &w, 1, &done), -VMMU_EINVAL);
	assert_int_equal(done, 0);
	assert_int_equal(submit(fx, 0, NULL, 1, &done), -VMMU_EINVAL);
	assert_int_equal(submit(fx, 0, NULL, 0, &done), 0);
	assert_int_equal(done, 0);
	assert_int_equal(fx->nrecs, 0);
	assert_int_equal(table(fx, fx->l1)[1], 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_writes_coalesce_into_one_direct_mmu_update),
		T(test_mixed_run_is_one_multicall_in_order),
		T(test_mask_flushes_carry_a_vcpu_bitmap),
		T(test_new_base_and_user_base),
		T(test_run_larger_than_scratch_goes_out_in_order),
		T(test_no_multicall_flag_sends_each_array_alone),
		T(test_each_cpu_uses_its_own_scratch),
		T(test_refusal_maps_back_to_the_exact_update),
		T(test_unsendable_update_is_refused_after_the_ones_before),
		T(test_xen_semantics_apply_arrays_after_a_refused_one),
		T(test_misbehaving_hypervisor_is_mapped_conservatively),
		T(test_init_and_submit_arguments),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
