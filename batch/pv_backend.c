/* SPDX-License-Identifier: MIT */
/*
 * The direct-paging backend of the batch queue (include/vmmu/batch_pv.h):
 * a run of updates becomes request arrays in the CPU's scratch memory,
 * one multicall entry per array, one hypercall per scratchful.
 *
 * Updates map one to one onto requests, in order, so the updates of a
 * hypercall are a contiguous part of the run and each multicall entry
 * covers a contiguous part of that. A refusal is found from the entries'
 * results and done words: the first entry with an error, and inside it
 * the request its done word points at.
 */
#include <vmmu/batch_pv.h>

/* The array a request goes to. */
enum group { G_NONE, G_MMU, G_EXT };

/* An entry's result before the hypervisor writes it: "not run". */
#define NOT_RUN ((uint64_t)-(int64_t)VMMU_ERESTART)

/* The hypercall being built from a run. */
struct build {
	const struct vmmu_batch_pv *p;
	struct vmmu_batch_pv_scratch *s;
	uint32_t cpu;
	uint32_t base; /* index in the run of the hypercall's first update */
	uint32_t ncalls, nupd, next, nbitmaps;
	enum group cur; /* the array calls[ncalls - 1] fills */
};

/* The request one update becomes. */
struct req {
	enum group g;
	bool mask; /* a MULTI flush: its bitmap is word mask_word = bits */
	uint32_t mask_word;
	uint64_t bits;
	struct vmmu_pv_mmu_update u;
	struct vmmu_pv_mmuext_op x;
};

static uint64_t guest_addr(const void *p)
{
	return (uint64_t)(uintptr_t)p;
}

/* --- updates to requests ------------------------------------------------------------ */

static int pte_request(const struct vmmu_batch_entry *e, struct req *r)
{
	if ((e->ptr & VMMU_PV_MMU_CMD_MASK) != 0) {
		return -VMMU_EALIGN; /* the low bits carry the command */
	}
	r->g = G_MMU;
	r->u.ptr = e->ptr | (e->kind == VMMU_BATCH_PTE_UPDATE_AD
				     ? VMMU_PV_MMU_PT_UPDATE_PRESERVE_AD
				     : VMMU_PV_MMU_NORMAL_PT_UPDATE);
	r->u.val = e->val;
	return 0;
}

/* The command for e's target: local, all, or multi (with a bitmap). */
static int flush_request(const struct build *b, const struct vmmu_batch_entry *e,
			 uint32_t local, uint32_t all, uint32_t multi,
			 struct req *r)
{
	switch (e->target) {
	case VMMU_BATCH_LOCAL:
		r->x.cmd = local;
		return 0;
	case VMMU_BATCH_ALL:
		r->x.cmd = all;
		return 0;
	case VMMU_BATCH_MASK:
		if (b->s->bitmaps_cap == 0) {
			return -VMMU_ENOTSUP;
		}
		if (e->mask_word >= b->p->bitmap_words) {
			return -VMMU_EINVAL;
		}
		r->x.cmd = multi;
		r->mask = true;
		r->mask_word = e->mask_word;
		r->bits = e->val;
		return 0;
	default:
		return -VMMU_EINVAL;
	}
}

static int ext_request(const struct build *b, const struct vmmu_batch_entry *e,
		       struct req *r)
{
	r->g = G_EXT;
	r->x.arg1.mfn = e->ptr >> VMMU_PAGE_SHIFT;
	switch (e->kind) {
	case VMMU_BATCH_PIN:
		if (e->level < 1 || e->level > 5) {
			return -VMMU_EINVAL;
		}
		if (e->level == 5) {
			return -VMMU_ENOTSUP; /* the PV ABI has no L5 tables */
		}
		r->x.cmd = VMMU_PV_MMUEXT_PIN_L1_TABLE + e->level - 1u;
		return 0;
	case VMMU_BATCH_UNPIN:
		r->x.cmd = VMMU_PV_MMUEXT_UNPIN_TABLE;
		return 0;
	case VMMU_BATCH_NEW_BASE:
		r->x.cmd = VMMU_PV_MMUEXT_NEW_BASEPTR;
		return 0;
	case VMMU_BATCH_NEW_USER_BASE:
		r->x.cmd = VMMU_PV_MMUEXT_NEW_USER_BASEPTR;
		return 0;
	case VMMU_BATCH_TLB_FLUSH:
		r->x.arg1.mfn = 0;
		return flush_request(b, e, VMMU_PV_MMUEXT_TLB_FLUSH_LOCAL,
				     VMMU_PV_MMUEXT_TLB_FLUSH_ALL,
				     VMMU_PV_MMUEXT_TLB_FLUSH_MULTI, r);
	default: /* VMMU_BATCH_INVLPG */
		r->x.arg1.linear_addr = e->ptr;
		return flush_request(b, e, VMMU_PV_MMUEXT_INVLPG_LOCAL,
				     VMMU_PV_MMUEXT_INVLPG_ALL,
				     VMMU_PV_MMUEXT_INVLPG_MULTI, r);
	}
}

/* The request for e, or why e cannot be sent. */
static int to_request(const struct build *b, const struct vmmu_batch_entry *e,
		      struct req *r)
{
	__builtin_memset(r, 0, sizeof(*r));
	switch (e->kind) {
	case VMMU_BATCH_PTE_WRITE:
	case VMMU_BATCH_PTE_UPDATE_AD:
		return pte_request(e, r);
	case VMMU_BATCH_PIN:
	case VMMU_BATCH_UNPIN:
	case VMMU_BATCH_NEW_BASE:
	case VMMU_BATCH_NEW_USER_BASE:
	case VMMU_BATCH_TLB_FLUSH:
	case VMMU_BATCH_INVLPG:
		return ext_request(b, e, r);
	default:
		return -VMMU_EINVAL;
	}
}

/* --- building a hypercall ------------------------------------------------------------ */

/* Whether r fits in what is being built (else that is sent first). */
static bool fits(const struct build *b, const struct req *r)
{
	const struct vmmu_batch_pv_scratch *s = b->s;
	uint32_t max_calls = (b->p->flags & VMMU_BATCH_PV_NO_MULTICALL) != 0
				     ? 1u
				     : s->calls_cap;

	if (b->cur != r->g && b->ncalls == max_calls) {
		return false;
	}
	if (r->g == G_MMU ? b->nupd == s->upd_cap : b->next == s->ext_cap) {
		return false;
	}
	return !r->mask || b->nbitmaps < s->bitmaps_cap;
}

/* Start a multicall entry for array g at its next free request. */
static void open_call(struct build *b, enum group g)
{
	struct vmmu_batch_pv_scratch *s = b->s;
	uint32_t j = b->ncalls++;
	struct vmmu_pv_multicall_entry *c = &s->calls[j];

	s->progress[j].done = 0;
	s->progress[j].count = 0;
	c->op = g == G_MMU ? VMMU_PV_HC_MMU_UPDATE : VMMU_PV_HC_MMUEXT_OP;
	c->result = NOT_RUN;
	c->args[0] = g == G_MMU ? guest_addr(&s->upd[b->nupd])
				: guest_addr(&s->ext[b->next]);
	c->args[1] = 0;
	c->args[2] = guest_addr(&s->progress[j].done);
	c->args[3] = VMMU_PV_DOMID_SELF;
	c->args[4] = 0;
	c->args[5] = 0;
	b->cur = g;
}

/* A vCPU bitmap with word `word` = bits, the rest clear: its address. */
static uint64_t new_bitmap(struct build *b, uint32_t word, uint64_t bits)
{
	uint32_t words = b->p->bitmap_words;
	uint64_t *bm = &b->s->bitmaps[(size_t)b->nbitmaps++ * words];

	for (uint32_t w = 0; w < words; w++) {
		bm[w] = w == word ? bits : 0;
	}
	return guest_addr(bm);
}

static void append(struct build *b, const struct req *r)
{
	struct vmmu_batch_pv_scratch *s = b->s;

	if (b->cur != r->g) {
		open_call(b, r->g);
	}
	if (r->g == G_MMU) {
		s->upd[b->nupd++] = r->u;
	} else {
		struct vmmu_pv_mmuext_op *x = &s->ext[b->next++];

		*x = r->x;
		if (r->mask) {
			x->arg2.vcpumask = new_bitmap(b, r->mask_word, r->bits);
		}
	}
	s->calls[b->ncalls - 1].args[1]++;
	s->progress[b->ncalls - 1].count++;
}

/* --- sending and mapping refusals back ------------------------------------------------ */

/* An entry's error as submit's return value (rc: the hook's). */
static int error_of(int64_t r, int rc)
{
	if ((uint64_t)r == NOT_RUN && rc < 0) {
		return rc; /* never run: the multicall itself was refused */
	}
	return r < INT32_MIN ? INT32_MIN : (int)r;
}

/*
 * The first refused update of the hypercall just made: 0 when there is
 * none, else its error with *fail = its index in the run.
 */
static int refusal(const struct build *b, int rc, uint32_t *fail)
{
	uint32_t at = b->base;

	for (uint32_t j = 0; j < b->ncalls; j++) {
		const struct vmmu_batch_pv_progress *pr = &b->s->progress[j];
		int64_t r = (int64_t)__atomic_load_n(&b->s->calls[j].result,
						     __ATOMIC_RELAXED);
		uint32_t done = __atomic_load_n(&pr->done, __ATOMIC_RELAXED);

		if (r >= 0) {
			at += pr->count;
			continue;
		}
		/* A done word beyond the entry's requests is not believed. */
		*fail = at + (done < pr->count ? done : pr->count - 1u);
		return error_of(r, rc);
	}
	return 0;
}

/* Make the hypercall built so far; 0, or the refusal (*fail set). */
static int send(struct build *b, uint32_t *fail)
{
	struct vmmu_batch_pv_scratch *s = b->s;
	uint32_t n = b->ncalls;
	int rc;

	if (n == 0) {
		return 0;
	}
	rc = b->p->hypercall(b->p->ctx, b->cpu, s->calls, n);
	if (n == 1) {
		s->calls[0].result = (uint64_t)(int64_t)rc; /* a direct call */
	}
	s->hypercalls++;
	s->multicalls += n > 1;
	s->requests += b->nupd + b->next;
	rc = refusal(b, rc, fail);
	b->base += b->nupd + b->next;
	b->ncalls = b->nupd = b->next = b->nbitmaps = 0;
	b->cur = G_NONE;
	return rc;
}

/* Add update i of the run; a refusal (of it or of what was sent) stops. */
static int add(struct build *b, const struct vmmu_batch_entry *e, uint32_t i,
	       uint32_t *fail)
{
	struct req r;
	int rc = to_request(b, e, &r);

	if (rc != 0) {
		/* The updates before it still go out, and may be refused. */
		int sent = send(b, fail);

		*fail = sent != 0 ? *fail : i;
		return sent != 0 ? sent : rc;
	}
	if (!fits(b, &r)) {
		rc = send(b, fail);
		if (rc != 0) {
			return rc;
		}
	}
	append(b, &r);
	return 0;
}

static int pv_submit(void *ctx, uint32_t cpu, const struct vmmu_batch_entry *e,
		     uint32_t n, uint32_t *done)
{
	struct vmmu_batch_pv *p = ctx;
	struct build b = {.p = p, .cpu = cpu, .cur = G_NONE};
	uint32_t fail = 0;
	int rc = 0;

	if (done == NULL) {
		return -VMMU_EINVAL;
	}
	*done = 0;
	if (p == NULL || cpu >= p->ncpus || (e == NULL && n != 0)) {
		return -VMMU_EINVAL;
	}
	b.s = &p->cpus[cpu];
	for (uint32_t i = 0; i < n && rc == 0; i++) {
		rc = add(&b, &e[i], i, &fail);
	}
	if (rc == 0) {
		rc = send(&b, &fail);
	}
	*done = rc == 0 ? n : fail;
	return rc;
}

/* --- set-up ------------------------------------------------------------------------------ */

static bool scratch_ok(const struct vmmu_batch_pv_scratch *s)
{
	return s->calls != NULL && s->progress != NULL && s->upd != NULL &&
	       s->ext != NULL && s->calls_cap != 0 && s->upd_cap != 0 &&
	       s->ext_cap != 0 && (s->bitmaps == NULL) == (s->bitmaps_cap == 0);
}

int vmmu_batch_pv_init(struct vmmu_batch_pv *p,
		       struct vmmu_batch_pv_scratch *cpus, uint32_t ncpus,
		       uint32_t nr_vcpus, vmmu_batch_pv_hypercall_fn hypercall,
		       void *ctx, uint32_t flags)
{
	if (p == NULL || cpus == NULL || ncpus == 0 || hypercall == NULL ||
	    nr_vcpus == 0 || nr_vcpus > 4096 ||
	    (flags & ~(uint32_t)VMMU_BATCH_PV_NO_MULTICALL) != 0) {
		return -VMMU_EINVAL;
	}
	for (uint32_t c = 0; c < ncpus; c++) {
		if (!scratch_ok(&cpus[c])) {
			return -VMMU_EINVAL;
		}
	}
	for (uint32_t c = 0; c < ncpus; c++) {
		cpus[c].hypercalls = 0;
		cpus[c].multicalls = 0;
		cpus[c].requests = 0;
	}
	p->backend.submit = pv_submit;
	p->backend.ctx = p;
	p->hypercall = hypercall;
	p->ctx = ctx;
	p->cpus = cpus;
	p->ncpus = ncpus;
	p->bitmap_words = (nr_vcpus + 63u) / 64u;
	p->flags = flags;
	p->reserved_ = 0;
	return 0;
}
