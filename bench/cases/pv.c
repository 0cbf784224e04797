/* SPDX-License-Identifier: MIT */
/*
 * Direct-paging benchmarks (include/vmmu/pv.h, docs/direct-paging.md) and
 * their baseline.
 *
 *   pv/l1_update/batch512   one vmmu_pv_mmu_update call of 512 NORMAL
 *                           requests to one pinned L1 table, each replacing
 *                           a writable mapping of frame A_i by a writable
 *                           mapping of frame B_i (the next iteration moves
 *                           them back): every request takes and drops real
 *                           references. Per update.
 *   pv/l1_update/fastpath   the same batch changing only D and a software
 *                           bit: the fast path, no reference work.
 *   pv/pin_l4/tree_1gib     MMUEXT_PIN_L4_TABLE of a tree mapping 1 GiB
 *                           (1 L4, 1 L3, 1 L2, 512 L1s, 262144 data frames,
 *                           every other one writable); the unpin that
 *                           devalidates it again is the untimed reset. Per
 *                           present entry validated (262144 + 512 + 1 + 1).
 *   floor/xen_l1_atomics    what Xen's path for one such L1 update costs in
 *                           locked read-modify-writes alone: the 8
 *                           compare-exchange loops on the frame records of
 *                           the table, the new and the old target
 *                           (reference: direct-paging.md section 3), over
 *                           the same frame numbers, record layout and batch
 *                           shape as pv/l1_update/batch512, and nothing
 *                           else (no request decoding, no entry read or
 *                           store, no checks beyond those in Xen's loops).
 *
 * Machine layout. Table frames are reached through the bench platform's
 * direct map (bench_plat: frames below PV_DM_FRAMES, really allocated);
 * data frames lie above it: they have frame records (the frame table
 * covers every frame) but no memory, since nothing ever dereferences a
 * data frame (the validator reads tables only). A frame beyond the direct
 * map would make vmmu_map_table return NULL, which the library checks.
 */
#include "bench_cases.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PV_DOM 1u
#define PV_DM_FRAMES 1024u /* the direct map: table frames live here */
#define PV_BATCH 512u      /* requests per mmu_update call */

/* x86 entry bits */
#define PV_P (1ull << 0)
#define PV_RW (1ull << 1)
#define PV_US (1ull << 2)
#define PV_A (1ull << 5)
#define PV_D (1ull << 6)
#define PV_SW9 (1ull << 9) /* a software-available bit */

/* L1 update cases: the table, and the two sets of target frames. */
#define PV_L1_TABLE 1u
#define PV_SET_A PV_DM_FRAMES               /* A_i = PV_SET_A + i */
#define PV_SET_B (PV_DM_FRAMES + PV_BATCH)  /* B_i = PV_SET_B + i */
#define PV_L1_FRAMES (PV_DM_FRAMES + 2u * PV_BATCH)
#define PV_L1_FLAGS (PV_P | PV_RW | PV_US | PV_A)

/* Tree case: L4 1, L3 2, L2 3, L1 j at 4 + j, data (j, i) above the map. */
#define PV_T_L4 1u
#define PV_T_L3 2u
#define PV_T_L2 3u
#define PV_T_L1 4u
#define PV_T_DATA PV_DM_FRAMES
#define PV_T_LEAVES (512u * 512u)
#define PV_T_FRAMES (PV_DM_FRAMES + PV_T_LEAVES)
#define PV_T_TABLES (3u + 512u)
/* Present entries validated per pin: every leaf, 512 L2, 1 L3, 1 L4. */
#define PV_T_ENTRIES (PV_T_LEAVES + 512u + 1u + 1u)

struct pv_bench {
	struct bench_plat bp;
	struct vmmu_ft ft;
	void *ft_mem;
	uint64_t nframes;
	struct vmmu_pv_domain d;
	struct vmmu_pv_vcpu v;
	bool vcpu_live;
	uint64_t pinned;                        /* mfn pinned now, 0: none */
	struct vmmu_pv_mmu_update *req[2];      /* L1 cases: the two batches */
	unsigned flip;                          /* which batch runs next */
	uint64_t bad;
	int last_rc;
	const char *err;
};

static uint64_t *pv_table(struct pv_bench *b, uint64_t mfn)
{
	return (uint64_t *)bench_plat_ptr(&b->bp, mfn << VMMU_PAGE_SHIFT);
}

static void pv_note(struct pv_bench *b, int rc, const char *err)
{
	if (rc != 0) {
		b->bad++;
		b->last_rc = rc;
		b->err = err;
	}
}

static int pv_check(const char *what, int rc)
{
	if (rc != 0) {
		fprintf(stderr, "bench: pv: %s: %d (%s)\n", what, rc,
			vmmu_strerror(rc));
		return -1;
	}
	return 0;
}

/* One mmuext_op (pin, unpin); 0 or the error (also when not done). */
static int pv_ext(struct pv_bench *b, uint32_t cmd, uint64_t mfn)
{
	struct vmmu_pv_mmuext_op op = {.cmd = cmd, .arg1.mfn = mfn};
	uint32_t done = 0;
	int rc = vmmu_pv_mmuext_op(&b->v, &op, 1, &done, VMMU_PV_DOMID_SELF);

	if (rc == 0 && done != 1) {
		rc = -VMMU_EFAULT;
	}
	return rc;
}

static void pv_bench_free(void *st)
{
	struct pv_bench *b = st;

	if (b == NULL) {
		return;
	}
	if (b->pinned != 0) {
		(void)pv_ext(b, VMMU_PV_MMUEXT_UNPIN_TABLE, b->pinned);
	}
	if (b->vcpu_live) {
		(void)vmmu_pv_vcpu_release(&b->v);
	}
	if (b->bp.arena != NULL) {
		bench_plat_fini(&b->bp);
	}
	free(b->req[0]);
	free(b->req[1]);
	free(b->ft_mem);
	free(b);
}

static const char *pv_bench_error(void *st)
{
	const struct pv_bench *b = st;

	return b->bad != 0 ? b->err : NULL;
}

/*
 * The platform (table frames in a PV_DM_FRAMES direct map), a frame table
 * of nframes frames all given to PV_DOM but frame 0, the domain, its vCPU.
 */
static struct pv_bench *pv_bench_new(uint64_t nframes)
{
	struct pv_bench *b = calloc(1, sizeof(*b));
	size_t bytes = vmmu_ft_bytes(nframes);

	if (b == NULL) {
		fprintf(stderr, "bench: out of host memory\n");
		return NULL;
	}
	if (bench_plat_init(&b->bp, PV_DM_FRAMES, false) != 0) {
		goto fail;
	}
	/* Cache-line aligned, as a hypervisor's frame table would be. */
	b->ft_mem = bench_line_alloc(bytes);
	if (b->ft_mem == NULL) {
		goto fail;
	}
	b->nframes = nframes;
	if (pv_check("vmmu_ft_init",
		     vmmu_ft_init(&b->ft, b->ft_mem, bytes, nframes,
				  &b->bp.plat)) != 0) {
		goto fail;
	}
	for (uint64_t mfn = 1; mfn < nframes; mfn++) {
		if (pv_check("vmmu_ft_assign",
			     vmmu_ft_assign(&b->ft, mfn, PV_DOM)) != 0) {
			goto fail;
		}
	}
	if (pv_check("vmmu_pv_domain_init",
		     vmmu_pv_domain_init(&b->d, &b->ft, &b->bp.plat, PV_DOM,
					 BENCH_MAXPHYADDR, NULL, 0)) != 0 ||
	    pv_check("vmmu_pv_vcpu_init", vmmu_pv_vcpu_init(&b->v, &b->d, 0)) != 0) {
		goto fail;
	}
	b->vcpu_live = true;
	return b;
fail:
	pv_bench_free(b);
	return NULL;
}

/* The audit agrees with the frame table and counted `tables` tables. */
static int pv_audit(struct pv_bench *b, const char *when, uint64_t tables)
{
	struct vmmu_pv_audit a;
	uint64_t *work = calloc(2 * b->nframes, sizeof(uint64_t));
	int rc;

	if (work == NULL) {
		fprintf(stderr, "bench: out of host memory\n");
		return -1;
	}
	rc = vmmu_pv_audit(&b->d, &b->v, 1, work, &a);
	free(work);
	if (rc != 0) {
		fprintf(stderr,
			"bench: pv: audit %s: %d (%llu errors, first at frame "
			"%llu: %s)\n",
			when, rc, (unsigned long long)a.errors,
			(unsigned long long)a.first_mfn,
			a.first != NULL ? a.first : "-");
		return -1;
	}
	if (a.tables != tables) {
		fprintf(stderr, "bench: pv: audit %s: %llu tables, expected %llu\n",
			when, (unsigned long long)a.tables,
			(unsigned long long)tables);
		return -1;
	}
	return 0;
}

/* Frame mfn holds `count` general and `type_count` type references. */
static int pv_expect(struct pv_bench *b, uint64_t mfn, uint64_t count,
		     uint64_t type_count)
{
	struct vmmu_frame_info i;

	if (vmmu_ft_info(&b->ft, mfn, &i) != 0 || i.count != count ||
	    i.type_count != type_count) {
		fprintf(stderr,
			"bench: pv: frame %llu: %llu references, %llu type "
			"references; expected %llu and %llu\n",
			(unsigned long long)mfn, (unsigned long long)i.count,
			(unsigned long long)i.type_count,
			(unsigned long long)count, (unsigned long long)type_count);
		return -1;
	}
	return 0;
}

/* --- pv/l1_update/batch512, fastpath --------------------------------------------------------- */

static uint64_t l1_ptr(unsigned i)
{
	return (((uint64_t)PV_L1_TABLE << VMMU_PAGE_SHIFT) + i * 8u) |
	       VMMU_PV_MMU_NORMAL_PT_UPDATE;
}

/* One mmu_update call of the next batch; returns its checksum. */
static uint64_t l1_run(void *st, uint64_t n)
{
	struct pv_bench *b = st;
	uint64_t sum = 0;

	for (uint64_t it = 0; it < n; it++) {
		uint32_t done = 0;
		int rc = vmmu_pv_mmu_update(&b->v, b->req[b->flip], PV_BATCH,
					    &done, VMMU_PV_DOMID_SELF);

		if (rc == 0 && done != PV_BATCH) {
			rc = -VMMU_EFAULT;
		}
		pv_note(b, rc, "vmmu_pv_mmu_update failed inside the timed loop");
		b->flip ^= 1u;
		sum += done;
	}
	return sum;
}

/*
 * A pinned L1 table whose entry i maps A_i writable. fast: the two batches
 * rewrite those same mappings with and without D and a software bit (the
 * fast path); else batch 0 maps B_i and batch 1 maps A_i again.
 */
static void *l1_setup(bool fast)
{
	struct pv_bench *b = pv_bench_new(PV_L1_FRAMES);
	uint64_t *t;

	if (b == NULL) {
		return NULL;
	}
	b->req[0] = calloc(PV_BATCH, sizeof(*b->req[0]));
	b->req[1] = calloc(PV_BATCH, sizeof(*b->req[1]));
	if (b->req[0] == NULL || b->req[1] == NULL) {
		fprintf(stderr, "bench: out of host memory\n");
		goto fail;
	}
	t = pv_table(b, PV_L1_TABLE);
	for (unsigned i = 0; i < PV_BATCH; i++) {
		uint64_t a = ((uint64_t)(PV_SET_A + i) << 12) | PV_L1_FLAGS;
		uint64_t bb = ((uint64_t)(PV_SET_B + i) << 12) | PV_L1_FLAGS;

		t[i] = a;
		b->req[0][i] = (struct vmmu_pv_mmu_update){
			.ptr = l1_ptr(i), .val = fast ? a | PV_D | PV_SW9 : bb};
		b->req[1][i] = (struct vmmu_pv_mmu_update){.ptr = l1_ptr(i), .val = a};
	}
	if (pv_check("pin the L1", pv_ext(b, VMMU_PV_MMUEXT_PIN_L1_TABLE,
					  PV_L1_TABLE)) != 0) {
		goto fail;
	}
	b->pinned = PV_L1_TABLE;
	/* A_i: allocation + mapping, one writable reference; B_i: allocation. */
	if (pv_expect(b, PV_SET_A + 7, 2, 1) != 0 ||
	    pv_expect(b, PV_SET_B + 7, 1, 0) != 0) {
		goto fail;
	}
	/* One batch: the entries hold what batch 0 says, references moved. */
	l1_run(b, 1);
	for (unsigned i = 0; i < PV_BATCH && b->bad == 0; i++) {
		if (t[i] != b->req[0][i].val) {
			fprintf(stderr, "bench: pv: entry %u is %#llx, expected %#llx\n",
				i, (unsigned long long)t[i],
				(unsigned long long)b->req[0][i].val);
			goto fail;
		}
	}
	if (b->bad != 0) {
		pv_check("vmmu_pv_mmu_update", b->last_rc);
		goto fail;
	}
	if (pv_expect(b, PV_SET_A + 7, fast ? 2 : 1, fast ? 1 : 0) != 0 ||
	    pv_expect(b, PV_SET_B + 7, fast ? 1 : 2, fast ? 0 : 1) != 0 ||
	    pv_audit(b, "after one batch", 1) != 0) {
		goto fail;
	}
	/* And back: the state every timed run starts from. */
	l1_run(b, 1);
	if (b->bad != 0) {
		pv_check("vmmu_pv_mmu_update", b->last_rc);
		goto fail;
	}
	if (pv_audit(b, "after two batches", 1) != 0 ||
	    pv_expect(b, PV_SET_A + 7, 2, 1) != 0) {
		goto fail;
	}
	return b;
fail:
	pv_bench_free(b);
	return NULL;
}

static void *l1_setup_batch(void)
{
	return l1_setup(false);
}

static void *l1_setup_fast(void)
{
	return l1_setup(true);
}

const struct bench_case bench_pv_l1_update_batch512 = {
	.name = "pv/l1_update/batch512",
	.what = "vmmu_pv_mmu_update of 512 L1 entries, each writable A_i -> "
		"writable B_i (and back)",
	.setup = l1_setup_batch,
	.teardown = pv_bench_free,
	.run = l1_run,
	.error = pv_bench_error,
	.items_per_iter = PV_BATCH,
	.item = "update",
};

const struct bench_case bench_pv_l1_update_fastpath = {
	.name = "pv/l1_update/fastpath",
	.what = "vmmu_pv_mmu_update of 512 L1 entries changing only D and a "
		"software bit",
	.setup = l1_setup_fast,
	.teardown = pv_bench_free,
	.run = l1_run,
	.error = pv_bench_error,
	.items_per_iter = PV_BATCH,
	.item = "update",
};

/* --- pv/pin_l4/tree_1gib ---------------------------------------------------- */

static uint64_t tree_run(void *st, uint64_t n)
{
	struct pv_bench *b = st;

	for (uint64_t i = 0; i < n; i++) {
		pv_note(b, pv_ext(b, VMMU_PV_MMUEXT_PIN_L4_TABLE, PV_T_L4),
			"pin of the L4 failed inside the timed loop");
	}
	b->pinned = PV_T_L4;
	return b->bp.flushes;
}

static void tree_reset(void *st)
{
	struct pv_bench *b = st;

	pv_note(b, pv_ext(b, VMMU_PV_MMUEXT_UNPIN_TABLE, PV_T_L4),
		"unpin of the L4 failed (reset)");
	b->pinned = 0;
}

static void *tree_setup(void)
{
	struct pv_bench *b = pv_bench_new(PV_T_FRAMES);

	if (b == NULL) {
		return NULL;
	}
	pv_table(b, PV_T_L4)[0] = ((uint64_t)PV_T_L3 << 12) | PV_P | PV_RW | PV_US;
	pv_table(b, PV_T_L3)[0] = ((uint64_t)PV_T_L2 << 12) | PV_P | PV_RW | PV_US;
	for (unsigned j = 0; j < 512; j++) {
		uint64_t *l1 = pv_table(b, PV_T_L1 + j);

		pv_table(b, PV_T_L2)[j] =
			((uint64_t)(PV_T_L1 + j) << 12) | PV_P | PV_RW | PV_US;
		for (unsigned i = 0; i < 512; i++) {
			uint64_t mfn = PV_T_DATA + j * 512u + i;

			l1[i] = (mfn << 12) | PV_P | PV_US | PV_A |
				(i & 1u ? PV_RW : 0);
		}
	}
	/* One round untimed: check what the pin holds and that unpin frees it. */
	tree_run(b, 1);
	if (b->bad != 0) {
		pv_check("pin the L4", b->last_rc);
		goto fail;
	}
	if (pv_audit(b, "after the pin", PV_T_TABLES) != 0 ||
	    pv_expect(b, PV_T_DATA + 1, 2, 1) != 0 ||
	    pv_expect(b, PV_T_DATA + 2, 2, 0) != 0 ||
	    pv_expect(b, PV_T_L1 + 5, 2, 1) != 0) {
		goto fail;
	}
	tree_reset(b);
	if (b->bad != 0) {
		pv_check("unpin the L4", b->last_rc);
		goto fail;
	}
	if (pv_audit(b, "after the unpin", 0) != 0 ||
	    pv_expect(b, PV_T_DATA + 1, 1, 0) != 0 ||
	    pv_expect(b, PV_T_L1 + 5, 1, 0) != 0) {
		goto fail;
	}
	return b;
fail:
	pv_bench_free(b);
	return NULL;
}

const struct bench_case bench_pv_pin_l4_tree_1gib = {
	.name = "pv/pin_l4/tree_1gib",
	.what = "MMUEXT_PIN_L4_TABLE of a 1 GiB tree (515 tables, 262144 "
		"leaves); reset: unpin (devalidates it)",
	.setup = tree_setup,
	.teardown = pv_bench_free,
	.run = tree_run,
	.reset = tree_reset,
	.error = pv_bench_error,
	.items_per_iter = PV_T_ENTRIES,
	.item = "PTE",
};

/* --- floor/xen_l1_atomics --------------------------------------------------- */

/*
 * A frame record laid out like vmmu's (and like Xen's 32-byte page_info):
 * the general count word, then the type word. The bits follow Xen's
 * count_info / type_info closely enough for its loop conditions.
 */
struct xen_frame {
	uint64_t count_info;
	uint64_t type_info;
	uint64_t other_[2];
};
_Static_assert(sizeof(struct xen_frame) == 32, "32-byte frame records");

#define XPGC_COUNT_MASK ((1ull << 40) - 1)
#define XPGT_COUNT_MASK ((1ull << 48) - 1)
#define XPGT_LOCKED (1ull << 56)
#define XPGT_VALIDATED (1ull << 60)
#define XPGT_TYPE_SHIFT 61
#define XPGT_TYPE_MASK (7ull << XPGT_TYPE_SHIFT)
#define XPGT_L1 (1ull << XPGT_TYPE_SHIFT)
#define XPGT_WRITABLE (7ull << XPGT_TYPE_SHIFT)

struct xen_floor {
	struct xen_frame *frames;
	unsigned flip;
	uint64_t bad;
};

static inline bool xcas(uint64_t *w, uint64_t *old, uint64_t next)
{
	return __atomic_compare_exchange_n(w, old, next, false, __ATOMIC_ACQ_REL,
					   __ATOMIC_ACQUIRE);
}

static inline uint64_t xload(const uint64_t *w)
{
	return __atomic_load_n(w, __ATOMIC_RELAXED);
}

/* get_page: one more general reference unless the count is 0 or full. */
static inline bool xen_get_page(struct xen_frame *f)
{
	uint64_t x = xload(&f->count_info);

	do {
		if (((x + 1) & XPGC_COUNT_MASK) <= 1) {
			return false;
		}
	} while (!xcas(&f->count_info, &x, x + 1));
	return true;
}

/* put_page */
static inline void xen_put_page(struct xen_frame *f)
{
	uint64_t x = xload(&f->count_info);

	while (!xcas(&f->count_info, &x, x - 1)) {
	}
}

/* page_lock: a type reference plus PGT_locked, on a validated table. */
static inline bool xen_page_lock(struct xen_frame *f)
{
	uint64_t x = xload(&f->type_info), nx;

	do {
		while ((x & XPGT_LOCKED) != 0) {
			__builtin_ia32_pause();
			x = xload(&f->type_info);
		}
		nx = x + (1u | XPGT_LOCKED);
		if ((x & XPGT_VALIDATED) == 0 || (x & XPGT_COUNT_MASK) == 0 ||
		    (nx & XPGT_COUNT_MASK) == 0) {
			return false;
		}
	} while (!xcas(&f->type_info, &x, nx));
	return true;
}

/* page_unlock */
static inline void xen_page_unlock(struct xen_frame *f)
{
	uint64_t x = xload(&f->type_info);

	while (!xcas(&f->type_info, &x, x - (1u | XPGT_LOCKED))) {
	}
}

/* get_page_type(PGT_writable_page), the frame already writable or unused. */
static inline bool xen_get_writable(struct xen_frame *f)
{
	uint64_t x = xload(&f->type_info), nx;

	do {
		if ((x & XPGT_COUNT_MASK) == XPGT_COUNT_MASK ||
		    (x & XPGT_TYPE_MASK) != XPGT_WRITABLE) {
			return false;
		}
		nx = x + 1;
	} while (!xcas(&f->type_info, &x, nx));
	return true;
}

/* put_page_type */
static inline void xen_put_type(struct xen_frame *f)
{
	uint64_t x = xload(&f->type_info);

	while (!xcas(&f->type_info, &x, x - 1)) {
	}
}

static uint64_t floor_xen_run(void *st, uint64_t n)
{
	struct xen_floor *x = st;
	struct xen_frame *ft = x->frames;
	struct xen_frame *table = &ft[PV_L1_TABLE];
	uint64_t bad = 0;

	for (uint64_t it = 0; it < n; it++) {
		/* Batch 0 moves A_i -> B_i, batch 1 B_i -> A_i. */
		const uint64_t new_base = x->flip ? PV_SET_A : PV_SET_B;
		const uint64_t old_base = x->flip ? PV_SET_B : PV_SET_A;

		for (unsigned i = 0; i < PV_BATCH; i++) {
			struct xen_frame *nf = &ft[new_base + i];
			struct xen_frame *of = &ft[old_base + i];

			if (!xen_get_page(table)) {             /* #1 */
				bad++;
				continue;
			}
			if (!xen_page_lock(table)) {            /* #2 */
				xen_put_page(table);
				bad++;
				continue;
			}
			if (!xen_get_page(nf)) {                /* #3 */
				bad++;
			} else if (!xen_get_writable(nf)) {     /* #4 */
				xen_put_page(nf);
				bad++;
			} else {
				xen_put_type(of);               /* #5 */
				xen_put_page(of);               /* #6 */
			}
			xen_page_unlock(table);                 /* #7 */
			xen_put_page(table);                    /* #8 */
		}
		x->flip ^= 1u;
	}
	x->bad += bad;
	return x->frames[PV_SET_A].count_info ^ bad;
}

static void *floor_xen_setup(void)
{
	struct xen_floor *x = bench_line_alloc(sizeof(*x));

	if (x == NULL ||
	    (x->frames = bench_line_alloc(PV_L1_FRAMES * sizeof(struct xen_frame))) == NULL) {
		free(x);
		return NULL;
	}
	/* Allocated frames: one reference each (Xen's PGC_allocated one). */
	for (unsigned mfn = 1; mfn < PV_L1_FRAMES; mfn++) {
		x->frames[mfn].count_info = 1;
	}
	/* The pinned L1: validated, one type reference (the pin's). */
	x->frames[PV_L1_TABLE].type_info = XPGT_L1 | XPGT_VALIDATED | 1u;
	/* A_i mapped writable by the table; B_i writable, unused. */
	for (unsigned i = 0; i < PV_BATCH; i++) {
		x->frames[PV_SET_A + i].count_info = 2;
		x->frames[PV_SET_A + i].type_info = XPGT_WRITABLE | XPGT_VALIDATED | 1u;
		x->frames[PV_SET_B + i].type_info = XPGT_WRITABLE | XPGT_VALIDATED;
	}
	/* Two batches untimed: every count must be back where it started. */
	floor_xen_run(x, 2);
	if (x->bad != 0 || x->frames[PV_SET_A + 7].count_info != 2 ||
	    x->frames[PV_SET_B + 7].count_info != 1 ||
	    x->frames[PV_L1_TABLE].count_info != 1 ||
	    x->frames[PV_L1_TABLE].type_info != (XPGT_L1 | XPGT_VALIDATED | 1u)) {
		fprintf(stderr, "bench: floor/xen_l1_atomics: counts wrong after "
				"two batches\n");
		free(x->frames);
		free(x);
		return NULL;
	}
	return x;
}

static void floor_xen_teardown(void *st)
{
	struct xen_floor *x = st;

	free(x->frames);
	free(x);
}

static const char *floor_xen_error(void *st)
{
	const struct xen_floor *x = st;

	return x->bad != 0 ? "a reference could not be taken" : NULL;
}

const struct bench_case bench_floor_xen_l1_atomics = {
	.name = "floor/xen_l1_atomics",
	.what = "the 8 locked compare-exchange loops of Xen's L1 update "
		"(A_i -> B_i writable), 512 per batch, nothing else",
	.setup = floor_xen_setup,
	.teardown = floor_xen_teardown,
	.run = floor_xen_run,
	.error = floor_xen_error,
	.items_per_iter = PV_BATCH,
	.item = "update",
};
