/* SPDX-License-Identifier: MIT */
/*
 * Page-table builder.
 *
 * Every operation (map, unmap, protect) is one traversal run twice over
 * the same code: PREPARE checks everything and counts the frames the
 * change needs (new tables, split tables, bookkeeping pages for detached
 * subtrees) without writing; the frames are then reserved from the
 * platform; COMMIT repeats the traversal and writes. Because both phases
 * make the same decisions from the same inputs, COMMIT cannot run out of
 * frames or fail a check, so a failed call changes nothing (Hafnium's
 * prepare/commit, seL4's decode/perform).
 *
 * Tables that leave the tree are not freed at once: hardware may still
 * hold them in paging-structure caches. Their addresses are noted in
 * bookkeeping pages, the TLB flush is requested, and only then are they
 * freed.
 */
#include "internal.h"

enum pt_kind { PT_MAP, PT_UNMAP, PT_PROTECT };
enum pt_phase { PT_PREPARE, PT_COMMIT };

/* Slots per bookkeeping page: word 0 links to the next page. */
#define PT_DETACH_SLOTS (VMMU_PT_ENTRIES - 1)

/*
 * A table during the traversal: real (mapped) or, in PREPARE, virtual. A
 * virtual table is empty, or the split of a large leaf, whose entry i is
 * split_attr | (split_base + i * split_step): the leaf is decoded once per
 * split, not once per entry.
 */
struct pt_tbl {
	uint64_t pa;           /* 0 for a virtual table */
	vmmu_pte_t *ptr;       /* mapped real table */
	bool split;            /* virtual: a split (else empty) */
	vmmu_pte_t split_attr; /* the leaf's bits re-encoded a level down */
	uint64_t split_base;   /* the leaf's output address */
	uint64_t split_step;   /* bytes per entry one level down */
};

struct pt_op {
	struct vmmu_pt *pt;
	const struct vmmu_fmt *fmt;
	enum pt_kind kind;
	enum pt_phase phase;
	uint64_t start, end;   /* tree addresses, [start, end) */
	uint64_t out;          /* map: output address of start */
	const struct vmmu_prot *prot;
	vmmu_pte_t leaf_attr[VMMU_LEVEL_MAX + 1]; /* map: leaf bits but the address */
	unsigned flags;
	unsigned max_leaf;     /* highest level a new leaf may sit at */
	uint64_t tables;       /* tables created (PREPARE: needed) */
	uint64_t detached;     /* subtrees detached (PREPARE: to detach) */
	bool flush;            /* a present entry changed */
	uint64_t reserve;      /* COMMIT: reserved frames, linked through word 0 */
	uint64_t reserved;
	uint64_t detach_page;  /* COMMIT: current bookkeeping page */
	unsigned detach_used;
};

/* --- frames --------------------------------------------------------------- */

static void frame_put_link(const struct vmmu_platform *plat, uint64_t pa,
			   uint64_t next)
{
	vmmu_pte_t *p = vmmu_map_table(plat, pa);

	VMMU_CHECK(plat, p != NULL);
	p[0] = next;
	vmmu_unmap_table(plat, p);
}

static uint64_t frame_get_link(const struct vmmu_platform *plat, uint64_t pa)
{
	vmmu_pte_t next = 0;
	bool mapped = vmmu_pte_read_at(plat, pa, &next);

	VMMU_CHECK(plat, mapped);
	return next;
}

static uint64_t reserve_take(struct pt_op *op)
{
	const struct vmmu_platform *plat = op->pt->plat;

	VMMU_CHECK(plat, op->reserved > 0);
	uint64_t pa = op->reserve;
	op->reserve = frame_get_link(plat, pa);
	op->reserved--;
	return pa;
}

static void reserve_release(struct pt_op *op)
{
	const struct vmmu_platform *plat = op->pt->plat;

	while (op->reserved > 0) {
		plat->ops->frame_free(plat->ctx, vmmu_hpa(reserve_take(op)));
	}
}

static int reserve_frames(struct pt_op *op, uint64_t count)
{
	const struct vmmu_platform *plat = op->pt->plat;

	op->reserve = 0;
	op->reserved = 0;
	for (uint64_t i = 0; i < count; i++) {
		vmmu_hpa_t f;
		int rc = plat->ops->frame_alloc(plat->ctx, &f);
		vmmu_pte_t *p = rc == 0 ? vmmu_map_table(plat, f.v) : NULL;
		if (rc == 0 && p == NULL) {
			/* A frame the platform cannot map is no use as a table. */
			plat->ops->frame_free(plat->ctx, f);
			rc = -VMMU_EFAULT;
		}
		if (rc != 0) {
			reserve_release(op);
			return rc < 0 ? rc : -VMMU_ENOMEM;
		}
		p[0] = op->reserve;
		vmmu_unmap_table(plat, p);
		op->reserve = f.v;
		op->reserved++;
	}
	return 0;
}

/* --- entries ---------------------------------------------------------------- */

static uint64_t tree_mask(const struct vmmu_fmt *fmt)
{
	return (1ull << fmt->va_bits) - 1;
}

/*
 * Describe the split of the large leaf `large` (at level+1) into a virtual
 * table at `level`: its attributes re-encoded for the level below (the PS
 * and PAT bits move), keeping every attribute. -VMMU_EINVAL when the level
 * below cannot express them.
 */
static int split_describe(const struct vmmu_fmt *fmt, unsigned level,
			  vmmu_pte_t large, struct pt_tbl *c)
{
	struct vmmu_prot prot;

	vmmu_pte_decode_leaf(fmt, level + 1, large, &prot);
	*c = (struct pt_tbl){.split = true,
			     .split_base = vmmu_pte_addr(fmt, level + 1, large),
			     .split_step = vmmu_fmt_entry_size(fmt, level)};
	return vmmu_pte_make_leaf(fmt, level, 0, &prot, &c->split_attr);
}

static vmmu_pte_t tbl_get(const struct pt_tbl *t, unsigned i)
{
	if (t->ptr != NULL) {
		return vmmu_pte_load(&t->ptr[i]);
	}
	return t->split ? t->split_attr | (t->split_base + i * t->split_step) : 0;
}

static void tbl_set(struct pt_op *op, struct pt_tbl *t, unsigned i,
		    vmmu_pte_t v)
{
	if (op->phase == PT_COMMIT) {
		vmmu_pte_store(&t->ptr[i], v);
	}
}

static unsigned tbl_present_outside(const struct pt_op *op,
				    const struct pt_tbl *t, unsigned level,
				    unsigned first, unsigned last)
{
	unsigned n = 0;

	for (unsigned i = 0; i < VMMU_PT_ENTRIES; i++) {
		if ((i < first || i > last) &&
		    vmmu_pte_present(op->fmt, level, tbl_get(t, i))) {
			n++;
		}
	}
	return n;
}

/* --- detaching subtrees ------------------------------------------------------ */

static void detach(struct pt_op *op, uint64_t table_pa, unsigned level)
{
	const struct vmmu_platform *plat = op->pt->plat;

	op->detached++;
	if (op->phase != PT_COMMIT) {
		return;
	}
	if (op->detach_page == 0 || op->detach_used == PT_DETACH_SLOTS) {
		uint64_t page = reserve_take(op);
		frame_put_link(plat, page, op->detach_page);
		op->detach_page = page;
		op->detach_used = 0;
	}
	vmmu_pte_t *p = vmmu_map_table(plat, op->detach_page);
	VMMU_CHECK(plat, p != NULL);
	/* Table addresses are page aligned: the level rides in the low bits. */
	p[1 + op->detach_used++] = table_pa | level;
	vmmu_unmap_table(plat, p);
}

static uint64_t detach_pages_for(uint64_t n)
{
	return (n + PT_DETACH_SLOTS - 1) / PT_DETACH_SLOTS;
}

/* Free a table and every table below it. Depth is bounded by the format. */
static void free_subtree(struct vmmu_pt *pt, uint64_t pa, unsigned level)
{
	const struct vmmu_platform *plat = pt->plat;

	if (level > 1) {
		vmmu_pte_t *t = vmmu_map_table(plat, pa);
		VMMU_CHECK(plat, t != NULL);
		for (unsigned i = 0; i < VMMU_PT_ENTRIES; i++) {
			vmmu_pte_t e = t[i];
			if (vmmu_pte_present(pt->fmt, level, e) &&
			    !vmmu_pte_is_leaf(pt->fmt, level, e)) {
				free_subtree(pt, vmmu_pte_addr(pt->fmt, level, e),
					     level - 1);
			}
		}
		vmmu_unmap_table(plat, t);
	}
	vmmu_trace(plat, VMMU_TRACE_TABLE_FREE, pa, level);
	plat->ops->frame_free(plat->ctx, vmmu_hpa(pa));
	pt->table_count--;
}

static void free_detached(struct pt_op *op)
{
	const struct vmmu_platform *plat = op->pt->plat;
	uint64_t page = op->detach_page;
	unsigned used = op->detach_used;

	while (page != 0) {
		vmmu_pte_t *p = vmmu_map_table(plat, page);
		VMMU_CHECK(plat, p != NULL);
		uint64_t next = p[0];
		for (unsigned i = 0; i < used; i++) {
			uint64_t v = p[1 + i];
			free_subtree(op->pt, v & VMMU_PAGE_MASK,
				     (unsigned)(v & ~VMMU_PAGE_MASK));
		}
		vmmu_unmap_table(plat, p);
		plat->ops->frame_free(plat->ctx, vmmu_hpa(page));
		page = next;
		used = PT_DETACH_SLOTS;
	}
	op->detach_page = 0;
}

/* --- the traversal ------------------------------------------------------------ */

static int visit(struct pt_op *op, struct pt_tbl *t, unsigned level,
		 uint64_t base, bool *empty);

/*
 * Make the virtual table *c (at `level`) real in COMMIT: take a reserved
 * frame and fill it with the virtual content.
 */
static void child_create(struct pt_op *op, struct pt_tbl *c, unsigned level)
{
	const struct vmmu_platform *plat = op->pt->plat;

	op->tables++;
	if (op->phase != PT_COMMIT) {
		return;
	}
	const struct pt_tbl content = *c;
	c->pa = reserve_take(op);
	c->ptr = vmmu_map_table(plat, c->pa);
	VMMU_CHECK(plat, c->ptr != NULL);
	for (unsigned i = 0; i < VMMU_PT_ENTRIES; i++) {
		c->ptr[i] = tbl_get(&content, i);
	}
	op->pt->table_count++;
	vmmu_trace(plat, VMMU_TRACE_TABLE_ALLOC, c->pa, level);
	if (content.split) {
		vmmu_trace(plat, VMMU_TRACE_SPLIT, c->pa, level + 1);
	}
}

/*
 * Descend below entry i into a new table holding `content` (0: empty; else
 * the large leaf being split). The table is filled before it is linked, so
 * a concurrent walker never sees it half-built.
 */
static int descend_new(struct pt_op *op, struct pt_tbl *t, unsigned level,
		       unsigned i, uint64_t ebase, vmmu_pte_t content)
{
	struct pt_tbl c = {0};
	bool unused;

	/* A large leaf the level below cannot express cannot be split. */
	if (content != 0 && split_describe(op->fmt, level - 1, content, &c) != 0) {
		return -VMMU_EINVAL;
	}
	child_create(op, &c, level - 1);
	/*
	 * PREPARE need not look inside a new page table (level 1): nothing
	 * there can fail or need frames once the range and prot are checked.
	 */
	int rc = 0;
	if (op->phase == PT_COMMIT || level - 1 > 1) {
		rc = visit(op, &c, level - 1, ebase, &unused);
	}
	if (c.ptr != NULL) {
		vmmu_unmap_table(op->pt->plat, c.ptr);
	}
	if (rc == 0) {
		tbl_set(op, t, i, vmmu_pte_make_table(op->fmt, level, c.pa));
	}
	return rc;
}

/* Descend below entry i into the existing table it points to. */
static int descend_existing(struct pt_op *op, struct pt_tbl *t, unsigned level,
			    unsigned i, uint64_t ebase, bool *child_empty)
{
	vmmu_pte_t e = tbl_get(t, i);
	struct pt_tbl c = {.pa = vmmu_pte_addr(op->fmt, level, e)};

	c.ptr = vmmu_map_table(op->pt->plat, c.pa);
	if (c.ptr == NULL) {
		return -VMMU_EFAULT;
	}
	int rc = visit(op, &c, level - 1, ebase, child_empty);
	vmmu_unmap_table(op->pt->plat, c.ptr);
	return rc;
}

/* Write the leaf mapping s (COMMIT only; encoded once per call in leaf_attr). */
static void set_map_leaf(struct pt_op *op, struct pt_tbl *t, unsigned level,
			 unsigned i, uint64_t s)
{
	if (op->phase == PT_COMMIT) {
		vmmu_pte_store(&t->ptr[i],
			       op->leaf_attr[level] | (op->out + (s - op->start)));
	}
}

/* What to do with one entry; each returns 0 or a negative error. */
struct pt_entry_ctx {
	struct pt_tbl *t;
	unsigned level;
	unsigned i;
	uint64_t ebase; /* first address the entry maps */
	uint64_t s;     /* first address of the op inside the entry */
	bool full;      /* the op covers the whole entry */
	vmmu_pte_t e;   /* the entry's current value */
	bool present, leaf;
	bool kept;      /* out: the entry is present afterwards */
};

static int map_entry(struct pt_op *op, struct pt_entry_ctx *x)
{
	const struct vmmu_fmt *fmt = op->fmt;
	uint64_t size = vmmu_fmt_entry_size(fmt, x->level);
	uint64_t out = op->out + (x->s - op->start);
	bool replace = (op->flags & VMMU_PT_REPLACE) != 0;
	bool leaf_here = x->full && x->level <= op->max_leaf &&
			 fmt->level[x->level].leaf_ok && (out & (size - 1)) == 0;
	bool unused;

	x->kept = true;
	if (!x->present) {
		if (leaf_here) {
			set_map_leaf(op, x->t, x->level, x->i, x->s);
			return 0;
		}
		return descend_new(op, x->t, x->level, x->i, x->ebase, 0);
	}
	if (x->leaf) {
		if (!replace) {
			return -VMMU_EEXIST;
		}
		op->flush = true;
		if (leaf_here) {
			set_map_leaf(op, x->t, x->level, x->i, x->s);
			return 0;
		}
		return descend_new(op, x->t, x->level, x->i, x->ebase,
				   x->full ? 0 : x->e);
	}
	if (replace && leaf_here) {
		op->flush = true;
		set_map_leaf(op, x->t, x->level, x->i, x->s);
		detach(op, vmmu_pte_addr(fmt, x->level, x->e), x->level - 1);
		return 0;
	}
	return descend_existing(op, x->t, x->level, x->i, x->ebase, &unused);
}

static int unmap_entry(struct pt_op *op, struct pt_entry_ctx *x)
{
	bool child_empty = false;

	x->kept = false;
	if (!x->present) {
		return 0;
	}
	if (x->leaf && !x->full) {
		x->kept = true;
		op->flush = true;
		return descend_new(op, x->t, x->level, x->i, x->ebase, x->e);
	}
	if (!x->leaf && !x->full) {
		int rc = descend_existing(op, x->t, x->level, x->i, x->ebase,
					  &child_empty);
		if (rc != 0 || !child_empty) {
			x->kept = true;
			return rc;
		}
	}
	op->flush = true;
	tbl_set(op, x->t, x->i, 0);
	if (!x->leaf) {
		detach(op, vmmu_pte_addr(op->fmt, x->level, x->e), x->level - 1);
	}
	return 0;
}

static int protect_entry(struct pt_op *op, struct pt_entry_ctx *x)
{
	const struct vmmu_fmt *fmt = op->fmt;
	bool unused;

	x->kept = true;
	if (!x->present) {
		return -VMMU_ENOENT;
	}
	if (!x->leaf) {
		return descend_existing(op, x->t, x->level, x->i, x->ebase,
					&unused);
	}
	if (!x->full) {
		op->flush = true;
		return descend_new(op, x->t, x->level, x->i, x->ebase, x->e);
	}
	if (op->phase != PT_COMMIT) {
		return 0; /* the prot was checked for every leaf level up front */
	}
	/* Keep the hardware-set A/D bits: protecting must not lose dirtiness. */
	const struct vmmu_fmt_level *lv = &fmt->level[x->level];
	vmmu_pte_t v = op->leaf_attr[x->level] | (x->e & lv->addr_leaf) |
		       (x->e & (lv->accessed | lv->dirty));
	if (v != x->e) {
		op->flush = true;
		vmmu_pte_store(&x->t->ptr[x->i], v);
	}
	return 0;
}

static int apply_entry(struct pt_op *op, struct pt_entry_ctx *x)
{
	switch (op->kind) {
	case PT_MAP:
		return map_entry(op, x);
	case PT_UNMAP:
		return unmap_entry(op, x);
	case PT_PROTECT:
		return protect_entry(op, x);
	}
	return -VMMU_EINVAL;
}

/*
 * Apply the op to the entries of table t (at `level`, mapping from base).
 * *empty: no entry of t is present afterwards (computed for unmap only).
 */
static int visit(struct pt_op *op, struct pt_tbl *t, unsigned level,
		 uint64_t base, bool *empty)
{
	const struct vmmu_fmt *fmt = op->fmt;
	uint64_t size = vmmu_fmt_entry_size(fmt, level);
	uint64_t lo = op->start > base ? op->start : base;
	uint64_t last = op->end - 1;
	uint64_t span_last = base + size * VMMU_PT_ENTRIES - 1;
	unsigned first = vmmu_fmt_index(fmt, level, lo);
	unsigned final = vmmu_fmt_index(fmt, level, last < span_last ? last : span_last);
	unsigned kept = 0;

	for (unsigned i = first; i <= final; i++) {
		struct pt_entry_ctx x = {.t = t, .level = level, .i = i};
		x.ebase = base + (uint64_t)i * size;
		x.s = op->start > x.ebase ? op->start : x.ebase;
		x.full = x.s == x.ebase && last >= x.ebase + size - 1;
		x.e = tbl_get(t, i);
		x.present = vmmu_pte_present(fmt, level, x.e);
		x.leaf = x.present && vmmu_pte_is_leaf(fmt, level, x.e);
		int rc = apply_entry(op, &x);
		if (rc != 0) {
			return rc;
		}
		kept += x.kept;
	}
	if (op->kind == PT_UNMAP) {
		*empty = kept == 0 &&
			 tbl_present_outside(op, t, level, first, final) == 0;
	}
	return 0;
}

/* --- public entry points ------------------------------------------------------ */

static int root_visit(struct pt_op *op)
{
	struct vmmu_pt *pt = op->pt;
	struct pt_tbl root = {.pa = pt->root.v};
	bool unused;

	root.ptr = vmmu_map_table(pt->plat, root.pa);
	VMMU_CHECK(pt->plat, root.ptr != NULL);
	int rc = visit(op, &root, pt->fmt->levels, 0, &unused);
	vmmu_unmap_table(pt->plat, root.ptr);
	return rc;
}

/*
 * PREPARE, reserve, COMMIT, flush, free. in/size are the caller's (already
 * validated) range; the op holds tree addresses.
 */
static int run_op(struct pt_op *op, uint64_t in, uint64_t size)
{
	op->phase = PT_PREPARE;
	int rc = root_visit(op);
	if (rc != 0) {
		return rc;
	}
	uint64_t needed = op->tables + detach_pages_for(op->detached);
	rc = reserve_frames(op, needed);
	if (rc != 0) {
		return rc;
	}
	uint64_t tables = op->tables, detached = op->detached;
	op->phase = PT_COMMIT;
	op->tables = op->detached = 0;
	op->flush = false;
	rc = root_visit(op);
	VMMU_CHECK(op->pt->plat, rc == 0 && op->tables == tables &&
					 op->detached == detached &&
					 op->reserved == 0);
	if (op->flush) {
		vmmu_tlb_flush_range(op->pt->plat, in, size);
	}
	free_detached(op);
	return 0;
}

/* Validate a range; returns 0 and its tree address, or an error. */
static int range_check(const struct vmmu_pt *pt, uint64_t in, uint64_t size,
		       uint64_t *tree_in)
{
	const struct vmmu_fmt *fmt = pt->fmt;

	if (size == 0) {
		return -VMMU_EINVAL;
	}
	if (((in | size) & (VMMU_PAGE_SIZE - 1)) != 0) {
		return -VMMU_EALIGN;
	}
	uint64_t last = in + size - 1;
	if (last < in || !vmmu_fmt_addr_ok(fmt, in) || !vmmu_fmt_addr_ok(fmt, last) ||
	    ((in ^ last) >> (fmt->va_bits - 1)) != 0) {
		/* Wraps, leaves the input space, or crosses the canonical hole. */
		return -VMMU_ERANGE;
	}
	*tree_in = in & tree_mask(fmt);
	return 0;
}

static bool pt_ok(const struct vmmu_pt *pt)
{
	return pt != NULL && pt->fmt != NULL && pt->plat != NULL &&
	       pt->root.v != 0;
}

int vmmu_pt_init(struct vmmu_pt *pt, const struct vmmu_fmt *fmt,
		 const struct vmmu_platform *plat)
{
	vmmu_hpa_t root;

	if (pt == NULL || fmt == NULL || vmmu_platform_check(plat) != 0 ||
	    fmt->levels < 4 || fmt->levels > VMMU_LEVEL_MAX) {
		return -VMMU_EINVAL;
	}
	int rc = plat->ops->frame_alloc(plat->ctx, &root);
	if (rc != 0) {
		return rc < 0 ? rc : -VMMU_ENOMEM;
	}
	vmmu_pte_t *t = vmmu_map_table(plat, root.v);
	if (t == NULL) {
		plat->ops->frame_free(plat->ctx, root);
		return -VMMU_EFAULT;
	}
	for (unsigned i = 0; i < VMMU_PT_ENTRIES; i++) {
		t[i] = 0;
	}
	vmmu_unmap_table(plat, t);
	*pt = (struct vmmu_pt){.fmt = fmt, .plat = plat, .root = root,
			       .table_count = 1};
	vmmu_trace(plat, VMMU_TRACE_TABLE_ALLOC, root.v, fmt->levels);
	return 0;
}

void vmmu_pt_destroy(struct vmmu_pt *pt)
{
	if (!pt_ok(pt)) {
		return;
	}
	free_subtree(pt, pt->root.v, pt->fmt->levels);
	VMMU_CHECK(pt->plat, pt->table_count == 0);
	pt->root.v = 0;
}

/*
 * Encode the prot once per leaf level up to max_level (the address is ORed
 * in per entry). If it is expressible here, no leaf write can fail during
 * COMMIT.
 */
static int encode_leaf_attrs(struct pt_op *op, unsigned max_level)
{
	for (unsigned l = 1; l <= max_level && l <= op->fmt->levels; l++) {
		if (!op->fmt->level[l].leaf_ok) {
			continue;
		}
		int rc = vmmu_pte_make_leaf(op->fmt, l, 0, op->prot,
					    &op->leaf_attr[l]);
		if (rc != 0) {
			return rc;
		}
	}
	return 0;
}

static unsigned max_leaf_level(const struct vmmu_fmt *fmt, unsigned flags)
{
	if (flags & VMMU_PT_4K_ONLY) {
		return 1;
	}
	if ((flags & VMMU_PT_NO_1G) || !fmt->level[3].leaf_ok) {
		return 2;
	}
	return 3;
}

int vmmu_pt_map(struct vmmu_pt *pt, uint64_t in, uint64_t out, uint64_t size,
		const struct vmmu_prot *prot, unsigned flags)
{
	const unsigned known = VMMU_PT_4K_ONLY | VMMU_PT_NO_1G | VMMU_PT_REPLACE;
	uint64_t tree_in;

	if (!pt_ok(pt) || prot == NULL || (flags & ~known) != 0) {
		return -VMMU_EINVAL;
	}
	int rc = range_check(pt, in, size, &tree_in);
	if (rc != 0) {
		return rc;
	}
	if ((out & (VMMU_PAGE_SIZE - 1)) != 0) {
		return -VMMU_EALIGN;
	}
	if (out + size < out || ((out + size - 1) >> pt->fmt->maxphyaddr) != 0) {
		return -VMMU_ERANGE;
	}
	struct pt_op op = {.pt = pt, .fmt = pt->fmt, .kind = PT_MAP,
			   .start = tree_in, .end = tree_in + size, .out = out,
			   .prot = prot, .flags = flags,
			   .max_leaf = max_leaf_level(pt->fmt, flags)};
	rc = encode_leaf_attrs(&op, op.max_leaf);
	if (rc != 0) {
		return rc;
	}
	return run_op(&op, in, size);
}

int vmmu_pt_unmap(struct vmmu_pt *pt, uint64_t in, uint64_t size)
{
	uint64_t tree_in;

	if (!pt_ok(pt)) {
		return -VMMU_EINVAL;
	}
	int rc = range_check(pt, in, size, &tree_in);
	if (rc != 0) {
		return rc;
	}
	struct pt_op op = {.pt = pt, .fmt = pt->fmt, .kind = PT_UNMAP,
			   .start = tree_in, .end = tree_in + size};
	return run_op(&op, in, size);
}

int vmmu_pt_protect(struct vmmu_pt *pt, uint64_t in, uint64_t size,
		    const struct vmmu_prot *prot)
{
	uint64_t tree_in;

	if (!pt_ok(pt) || prot == NULL) {
		return -VMMU_EINVAL;
	}
	int rc = range_check(pt, in, size, &tree_in);
	if (rc != 0) {
		return rc;
	}
	struct pt_op op = {.pt = pt, .fmt = pt->fmt, .kind = PT_PROTECT,
			   .start = tree_in, .end = tree_in + size, .prot = prot};
	rc = encode_leaf_attrs(&op, 3);
	if (rc != 0) {
		return rc;
	}
	return run_op(&op, in, size);
}

/* Find the slot for `in` at `level`; see vmmu_pt_entry / vmmu_pt_lookup. */
static int find_slot(const struct vmmu_pt *pt, uint64_t in, unsigned level,
		     vmmu_pte_t **slot, unsigned *slot_level)
{
	const struct vmmu_fmt *fmt = pt->fmt;
	uint64_t table = pt->root.v;

	for (unsigned l = fmt->levels;; l--) {
		vmmu_pte_t *t = vmmu_map_table(pt->plat, table);
		if (t == NULL) {
			return -VMMU_EFAULT;
		}
		vmmu_pte_t *p = &t[vmmu_fmt_index(fmt, l, in)];
		vmmu_pte_t e = vmmu_pte_load(p);
		if (l == level || !vmmu_pte_present(fmt, l, e) ||
		    vmmu_pte_is_leaf(fmt, l, e)) {
			/* The caller unmaps through the slot's page. */
			*slot = p;
			*slot_level = l;
			return 0;
		}
		vmmu_unmap_table(pt->plat, t);
		table = vmmu_pte_addr(fmt, l, e);
	}
}

static void slot_release(const struct vmmu_pt *pt, vmmu_pte_t *slot)
{
	uintptr_t page = (uintptr_t)slot & ~(uintptr_t)(VMMU_PAGE_SIZE - 1);

	vmmu_unmap_table(pt->plat, (vmmu_pte_t *)page);
}

int vmmu_pt_lookup(const struct vmmu_pt *pt, uint64_t in, uint64_t *out,
		   struct vmmu_prot *prot, unsigned *level)
{
	vmmu_pte_t *slot;
	unsigned l;

	if (!pt_ok(pt)) {
		return -VMMU_EINVAL;
	}
	if (!vmmu_fmt_addr_ok(pt->fmt, in)) {
		return -VMMU_ERANGE;
	}
	int rc = find_slot(pt, in, 1, &slot, &l);
	if (rc != 0) {
		return rc;
	}
	vmmu_pte_t e = vmmu_pte_load(slot);
	slot_release(pt, slot);
	if (!vmmu_pte_present(pt->fmt, l, e)) {
		return -VMMU_ENOENT;
	}
	if (out != NULL) {
		*out = vmmu_pte_addr(pt->fmt, l, e) +
		       (in & (vmmu_fmt_entry_size(pt->fmt, l) - 1));
	}
	if (prot != NULL) {
		vmmu_pte_decode_leaf(pt->fmt, l, e, prot);
	}
	if (level != NULL) {
		*level = l;
	}
	return 0;
}

int vmmu_pt_entry(struct vmmu_pt *pt, uint64_t in, unsigned level,
		  vmmu_pte_t **slot)
{
	unsigned l;

	if (!pt_ok(pt) || slot == NULL || level == 0 || level > pt->fmt->levels) {
		return -VMMU_EINVAL;
	}
	if (pt->plat->ops->frame_unmap != NULL) {
		return -VMMU_ENOTSUP; /* the pointer would outlive its mapping */
	}
	if (!vmmu_fmt_addr_ok(pt->fmt, in)) {
		return -VMMU_ERANGE;
	}
	int rc = find_slot(pt, in, level, slot, &l);
	if (rc != 0) {
		return rc;
	}
	if (l == level) {
		return 0;
	}
	bool leaf_above = vmmu_pte_present(pt->fmt, l, vmmu_pte_load(*slot));
	*slot = NULL;
	return leaf_above ? -VMMU_EEXIST : -VMMU_ENOENT;
}
