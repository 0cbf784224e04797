/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the input is a program of builder operations (map,
 * unmap, protect, with allocation failures injected) on one tree, checked
 * after every operation against a shadow model (one entry per 4 KiB page of
 * a 2 GiB input window), plus walks: structured ones whose outcome the
 * model predicts exactly, and hostile ones over raw random entries written
 * through vmmu_pt_entry (which must never crash and are undone after).
 *
 * Invariants checked:
 *  - every call's return code is one the model allows;
 *  - the tree agrees with the model (tree enumeration and vmmu_pt_lookup);
 *  - a failed call changes nothing (tree hash, table_count, frames, no
 *    TLB flush);
 *  - every entry the builder wrote has no reserved bits (no EPT
 *    misconfiguration), every table is a live platform frame, nothing is
 *    mapped outside the window;
 *  - no frame leaks: live == table_count throughout, 0 after destroy, and
 *    every frame_map is undone.
 *
 * Input layout: byte 0 picks the format (bits 0-2), the frame_map platform
 * (bit 3) and the window (bit 4: the top of the input space); byte 1 seeds
 * the scrambled format; the rest is a sequence of operations.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_reader.h"
#include "test_platform.h"

#define PAGE 4096ull
#define MIB (1024ull * 1024)
#define GIB (1024ull * MIB)
#define WINDOW_SIZE (2 * GIB)
#define WINDOW_PAGES (WINDOW_SIZE / PAGE)
#define ARENA_FRAMES 4096u
#define MAX_OPS 64
#define FULL_CHECK_EVERY 16
#define AD_FLAGS (VMMU_PROT_ACCESSED | VMMU_PROT_DIRTY)

#define CHECK(cond)                                                         \
	do {                                                                \
		if (!(cond)) {                                              \
			fprintf(stderr, "fuzz_pt_walk: %s:%d: %s\n", __FILE__, \
				__LINE__, #cond);                           \
			abort();                                            \
		}                                                           \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* --- input ---------------------------------------------------------------- */

/* Input: struct reader, rd8..rd64 (fuzz_reader.h). */

/* --- formats and prots ------------------------------------------------------ */

enum family { FAM_X86, FAM_EPT, FAM_SCRAMBLED };

struct fmt_choice {
	enum family fam;
	unsigned levels, maxphy, flags;
};

static const struct fmt_choice k_fmts[8] = {
	{FAM_X86, 4, 46, VMMU_FMT_F_1G},
	{FAM_X86, 5, 52, VMMU_FMT_F_1G},
	{FAM_X86, 4, 36, 0},
	{FAM_EPT, 4, 46, VMMU_FMT_F_1G | VMMU_FMT_F_EPT_AD},
	{FAM_EPT, 5, 39,
	 VMMU_FMT_F_1G | VMMU_FMT_F_EPT_AD | VMMU_FMT_F_EPT_MBEC | VMMU_FMT_F_EPT_XONLY},
	{FAM_EPT, 4, 52, 0},
	{FAM_SCRAMBLED, 4, 46, VMMU_FMT_F_1G},
	{FAM_SCRAMBLED, 5, 40, VMMU_FMT_F_1G},
};

#define NPROTS 5 /* [0..3] valid, [4] invalid */

struct shadow_page {
	uint64_t out; /* output address + 1; 0 = unmapped */
	struct vmmu_prot prot;
};

struct fz {
	const struct fmt_choice *choice;
	bool ept, mapped;
	struct test_platform tp;
	struct vmmu_fmt fmt;
	struct vmmu_pt pt;
	struct vmmu_prot prots[NPROTS];
	uint64_t base;     /* window start */
	uint64_t maxout;   /* 2^MAXPHYADDR */
	bool ad_unknown;   /* hostile walks may have set A/D anywhere */
	bool have_walker;
	struct vmmu_walker w_sane, w_host;
	uint64_t dirty_lo, dirty_hi; /* shadow pages touched */
};

static struct shadow_page g_shadow[WINDOW_PAGES];

static void set_prots(struct fz *f)
{
	unsigned fl = f->choice->flags;

	if (!f->ept) {
		f->prots[0] = (struct vmmu_prot){.perm = VMMU_PERM_R | VMMU_PERM_W |
							 VMMU_PERM_U | VMMU_PERM_X};
		f->prots[1] = (struct vmmu_prot){.perm = VMMU_PERM_R | VMMU_PERM_U,
						 .cache = 4, .pkey = 3,
						 .flags = VMMU_PROT_GLOBAL};
		f->prots[2] = (struct vmmu_prot){.perm = VMMU_PERM_R | VMMU_PERM_W | VMMU_PERM_X,
						 .cache = 1, .flags = AD_FLAGS};
		f->prots[3] = (struct vmmu_prot){.perm = VMMU_PERM_R, .cache = 7,
						 .pkey = 15};
		f->prots[4] = (struct vmmu_prot){.perm = VMMU_PERM_W};
		return;
	}
	f->prots[0] = (struct vmmu_prot){.perm = VMMU_PERM_R | VMMU_PERM_W | VMMU_PERM_X,
					 .cache = 6};
	if (fl & VMMU_FMT_F_EPT_MBEC) {
		f->prots[0].perm |= VMMU_PERM_UX;
	}
	f->prots[1] = (struct vmmu_prot){.perm = VMMU_PERM_R, .cache = 0,
					 .flags = VMMU_PROT_IPAT};
	f->prots[2] = (struct vmmu_prot){.perm = VMMU_PERM_R | VMMU_PERM_X, .cache = 5};
	if (fl & VMMU_FMT_F_EPT_XONLY) {
		f->prots[2].perm = VMMU_PERM_X;
	}
	f->prots[3] = (struct vmmu_prot){.perm = VMMU_PERM_R | VMMU_PERM_W, .cache = 4};
	if (fl & VMMU_FMT_F_EPT_AD) {
		f->prots[3].flags = AD_FLAGS;
	}
	f->prots[4] = (struct vmmu_prot){.perm = VMMU_PERM_W, .cache = 6};
}

static int init_fmt(struct fz *f, uint32_t seed)
{
	const struct fmt_choice *c = f->choice;
	switch (c->fam) {
	case FAM_X86:
		return vmmu_fmt_init_x86(&f->fmt, c->levels, c->maxphy, c->flags);
	case FAM_EPT:
		return vmmu_fmt_init_ept(&f->fmt, c->levels, c->maxphy, c->flags);
	case FAM_SCRAMBLED:
		return vmmu_fmt_init_scrambled(&f->fmt, c->levels, c->maxphy,
					       c->flags, seed);
	}
	return -1;
}

static struct vmmu_cpu_state sane_cpu(const struct fz *f)
{
	struct vmmu_cpu_state c = {
		.cr0 = VMMU_CR0_PE | VMMU_CR0_PG | VMMU_CR0_WP,
		.cr4 = VMMU_CR4_PAE | (f->fmt.levels == 5 ? VMMU_CR4_LA57 : 0),
		.efer = VMMU_EFER_LME | VMMU_EFER_LMA | VMMU_EFER_NXE,
	};
	return c;
}

/* --- tree hash, for "a failed call changes nothing" ----------------------------- */

static uint64_t hash_table(const struct fz *f, unsigned level, uint64_t pa,
			   uint64_t h)
{
	uint64_t fn = pa / PAGE;
	CHECK(pa % PAGE == 0 && fn > 0 && fn < f->tp.frames && f->tp.in_use[fn]);
	const vmmu_pte_t *t = test_platform_ptr(&f->tp, pa);
	h = (h ^ pa) * 0x100000001b3ull;
	for (unsigned i = 0; i < VMMU_PT_ENTRIES; i++) {
		h = (h ^ t[i]) * 0x100000001b3ull;
		h ^= h >> 29;
	}
	if (level == 1) {
		return h;
	}
	for (unsigned i = 0; i < VMMU_PT_ENTRIES; i++) {
		if (vmmu_pte_present(&f->fmt, level, t[i]) &&
		    !vmmu_pte_is_leaf(&f->fmt, level, t[i])) {
			h = hash_table(f, level - 1, vmmu_pte_addr(&f->fmt, level, t[i]), h);
		}
	}
	return h;
}

struct state {
	uint64_t hash, tables, live, flushes;
};

static struct state state_of(const struct fz *f)
{
	struct state s = {
		.hash = hash_table(f, f->fmt.levels, f->pt.root.v, 0xcbf29ce484222325ull),
		.tables = f->pt.table_count,
		.live = f->tp.live,
		.flushes = f->tp.flushes,
	};
	return s;
}

static void check_unchanged(const struct fz *f, const struct state *before)
{
	struct state now = state_of(f);
	CHECK(now.hash == before->hash);
	CHECK(now.tables == before->tables);
	CHECK(now.live == before->live);
	CHECK(now.flushes == before->flushes);
}

/* --- shadow model -------------------------------------------------------------- */

static void touch(struct fz *f, uint64_t first, uint64_t end)
{
	if (first < f->dirty_lo) {
		f->dirty_lo = first;
	}
	if (end > f->dirty_hi) {
		f->dirty_hi = end;
	}
}

static bool prot_eq(const struct fz *f, const struct vmmu_prot *a,
		    const struct vmmu_prot *b)
{
	uint8_t mask = f->ad_unknown ? (uint8_t)~AD_FLAGS : 0xff;
	return a->perm == b->perm && a->cache == b->cache && a->pkey == b->pkey &&
	       (a->flags & mask) == (b->flags & mask);
}

/* Window-relative page index of addr, or WINDOW_PAGES when outside. */
static uint64_t page_of(const struct fz *f, uint64_t addr)
{
	uint64_t off = addr - f->base;
	return off < WINDOW_SIZE ? off / PAGE : WINDOW_PAGES;
}

static bool shadow_any_mapped(uint64_t first, uint64_t end)
{
	for (uint64_t p = first; p < end; p++) {
		if (g_shadow[p].out) {
			return true;
		}
	}
	return false;
}

static bool shadow_all_mapped(uint64_t first, uint64_t end)
{
	for (uint64_t p = first; p < end; p++) {
		if (!g_shadow[p].out) {
			return false;
		}
	}
	return true;
}

/* Would writing (out, prot) change any mapped page of [first, end)? With
 * protect semantics (keep_out) the output stays and A/D are kept. */
static bool shadow_would_change(const struct fz *f, uint64_t first,
				uint64_t end, uint64_t out,
				const struct vmmu_prot *prot, bool keep_out)
{
	for (uint64_t p = first; p < end; p++) {
		const struct shadow_page *s = &g_shadow[p];
		if (!s->out) {
			continue;
		}
		struct vmmu_prot want = *prot;
		if (keep_out) {
			want.flags |= s->prot.flags & AD_FLAGS;
		} else if (s->out != out + (p - first) * PAGE + 1) {
			return true;
		}
		if (!prot_eq(f, &want, &s->prot)) {
			return true;
		}
	}
	return false;
}

/* One flush of exactly the call's range, required or merely allowed. */
static void check_flush(const struct fz *f, const struct state *before,
			bool required, uint64_t in, uint64_t size)
{
	CHECK(f->tp.flushes == before->flushes + (required ? 1 : 0) ||
	      (!required && f->tp.flushes == before->flushes + 1));
	if (f->tp.flushes != before->flushes) {
		CHECK(f->tp.last_flush.scope == VMMU_TLB_RANGE);
		CHECK(f->tp.last_flush.addr == in && f->tp.last_flush.size == size);
	}
}

/* Lookup of one page must agree with the model. */
static void check_lookup(const struct fz *f, uint64_t page)
{
	if (page >= WINDOW_PAGES) {
		return;
	}
	uint64_t in = f->base + page * PAGE + 0x7a8;
	uint64_t out = 0;
	struct vmmu_prot prot;
	unsigned level = 0;
	int rc = vmmu_pt_lookup(&f->pt, in, &out, &prot, &level);
	const struct shadow_page *s = &g_shadow[page];
	if (!s->out) {
		CHECK(rc == -VMMU_ENOENT);
		return;
	}
	CHECK(rc == 0);
	CHECK(out == s->out - 1 + 0x7a8);
	CHECK(level >= 1 && level <= 3);
	CHECK(prot_eq(f, &prot, &s->prot));
}

/* Address covered by entry i of a table at level whose first address is tbase. */
static uint64_t entry_base(const struct fz *f, unsigned level, uint64_t tbase,
			   unsigned i)
{
	uint64_t a = tbase + ((uint64_t)i << f->fmt.level[level].shift);
	if (level == f->fmt.levels && !f->ept) {
		unsigned sh = 64 - f->fmt.va_bits;
		a = (uint64_t)((int64_t)(a << sh) >> sh); /* canonical */
	}
	return a;
}

static void check_leaf(const struct fz *f, unsigned level, vmmu_pte_t pte,
		       uint64_t ebase, uint64_t lo, uint64_t hi)
{
	uint64_t esize = vmmu_fmt_entry_size(&f->fmt, level);
	uint64_t first = page_of(f, ebase), last = page_of(f, ebase + esize - 1);
	/* the builder maps only inside the window */
	CHECK(first < WINDOW_PAGES && last < WINDOW_PAGES);
	struct vmmu_prot prot;
	vmmu_pte_decode_leaf(&f->fmt, level, pte, &prot);
	uint64_t out = vmmu_pte_addr(&f->fmt, level, pte);
	uint64_t checked = 0, now; /* the last shadow prot compared, packed */
	_Static_assert(sizeof(struct vmmu_prot) == sizeof(uint64_t), "packing");
	for (uint64_t p = first; p <= last; p++) {
		uint64_t a = f->base + p * PAGE;
		if (a < lo || a > hi) {
			continue;
		}
		CHECK(g_shadow[p].out == out + (a - ebase) + 1);
		memcpy(&now, &g_shadow[p].prot, sizeof(now));
		if (p == first || now != checked) {
			CHECK(prot_eq(f, &prot, &g_shadow[p].prot));
			checked = now;
		}
	}
}

/* Pages of a non-present entry inside [lo, hi] and the window: unmapped. */
static void check_hole(const struct fz *f, uint64_t ebase, uint64_t esize,
		       uint64_t lo, uint64_t hi)
{
	uint64_t wlast = f->base + WINDOW_SIZE - 1;
	uint64_t a0 = ebase, a1 = ebase + esize - 1;

	a0 = a0 > lo ? a0 : lo;
	a0 = a0 > f->base ? a0 : f->base;
	a1 = a1 < hi ? a1 : hi;
	a1 = a1 < wlast ? a1 : wlast;
	if (a0 > a1) {
		return;
	}
	for (uint64_t p = page_of(f, a0); p <= page_of(f, a1); p++) {
		CHECK(g_shadow[p].out == 0);
	}
}

/*
 * Compare the tree with the model over input addresses [lo, hi]
 * (inclusive). Entries outside the window must be empty.
 */
static void check_table(const struct fz *f, unsigned level, uint64_t pa,
			uint64_t tbase, uint64_t lo, uint64_t hi)
{
	uint64_t fn = pa / PAGE;
	CHECK(pa % PAGE == 0 && fn > 0 && fn < f->tp.frames && f->tp.in_use[fn]);
	const vmmu_pte_t *t = test_platform_ptr(&f->tp, pa);
	uint64_t esize = vmmu_fmt_entry_size(&f->fmt, level);
	uint64_t wlast = f->base + WINDOW_SIZE - 1;

	for (unsigned i = 0; i < VMMU_PT_ENTRIES; i++) {
		uint64_t ebase = entry_base(f, level, tbase, i);
		uint64_t elast = ebase + esize - 1;
		if (elast < lo || ebase > hi) {
			continue;
		}
		vmmu_pte_t pte = t[i];
		if (!vmmu_pte_present(&f->fmt, level, pte)) {
			if (!(elast < f->base || ebase > wlast)) {
				check_hole(f, ebase, esize, lo, hi);
			}
			continue;
		}
		CHECK(!(elast < f->base || ebase > wlast));
		CHECK(vmmu_pte_rsvd(&f->fmt, level, pte) == 0);
		CHECK(!vmmu_ept_misconfig(&f->fmt, level, pte));
		if (vmmu_pte_is_leaf(&f->fmt, level, pte)) {
			CHECK(f->fmt.level[level].leaf_ok);
			check_leaf(f, level, pte, ebase, lo, hi);
		} else {
			CHECK(level > 1);
			check_table(f, level - 1, vmmu_pte_addr(&f->fmt, level, pte),
				    ebase, lo, hi);
		}
	}
}

static void check_range(const struct fz *f, uint64_t first, uint64_t end)
{
	uint64_t lo = f->base + first * PAGE;
	uint64_t hi = f->base + end * PAGE - 1;
	check_table(f, f->fmt.levels, f->pt.root.v, 0, lo, hi);
	check_lookup(f, first);
	check_lookup(f, end - 1);
	if (first > 0) {
		check_lookup(f, first - 1);
	}
	check_lookup(f, end);
	CHECK(f->tp.live == f->pt.table_count);
}

static void check_all(const struct fz *f)
{
	check_table(f, f->fmt.levels, f->pt.root.v, 0, 0, ~0ull);
	CHECK(f->tp.live == f->pt.table_count);
}

/* --- operations ------------------------------------------------------------------ */

/* An operation's input range, window-relative pages [first, end). */
struct range {
	uint64_t first, end;
	uint64_t in, size; /* as passed (may be deliberately bad) */
	bool bad_align, bad_size;
};

static struct range read_range(struct fz *f, struct reader *r)
{
	/* 1 GiB ranges are rarer and shorter: with VMMU_PT_4K_ONLY each is
	 * 262144 leaves to build and check. */
	static const uint64_t grans[8] = {PAGE, PAGE, PAGE, PAGE,
					  2 * MIB, 2 * MIB, 2 * MIB, GIB};
	struct range g;
	uint64_t gran = grans[rd8(r) % 8];
	uint64_t count = 1 + rd8(r) % (gran == GIB ? 2 : 4);
	uint64_t start = (rd32(r) % (WINDOW_SIZE / gran)) * gran;
	uint64_t size = count * gran;
	uint8_t shift = rd8(r);

	if (shift & 0x80) {
		start += (uint64_t)(shift & 7) * PAGE;
	}
	if (shift & 0x40) {
		size += (uint64_t)((shift >> 3) & 7) * PAGE;
	}
	if (start >= WINDOW_SIZE) {
		start = WINDOW_SIZE - PAGE;
	}
	if (size > WINDOW_SIZE - start) {
		size = WINDOW_SIZE - start;
	}
	memset(&g, 0, sizeof(g));
	g.first = start / PAGE;
	g.end = (start + size) / PAGE;
	g.in = f->base + start;
	g.size = size;
	switch (rd8(r)) {
	case 0xff:
		g.size = 0;
		g.bad_size = true;
		break;
	case 0xfe:
		g.in += 0x800;
		g.bad_align = true;
		break;
	case 0xfd:
		g.size += 1;
		g.bad_align = true;
		break;
	default:
		break;
	}
	return g;
}

static bool rc_in(int rc, int a, int b, int c)
{
	return rc == a || rc == b || rc == c;
}

/* An injected allocation failure fired, or the arena ran dry. */
static bool enomem_ok(const struct fz *f, bool armed)
{
	return (armed && f->tp.fail_at == 0) || f->tp.free_top < 64;
}

/*
 * Return-code rules shared by map/unmap/protect. `other_error` says the
 * call has an argument error besides the range's own; with several, the
 * library may report any of them.
 */
static void check_rc_common(const struct fz *f, int rc, bool armed,
			    const struct range *g, bool other_error)
{
	if (armed && f->tp.fail_at == 0) {
		CHECK(rc == -VMMU_ENOMEM); /* an allocation failed */
	}
	if (rc == -VMMU_ENOMEM) {
		CHECK(enomem_ok(f, armed));
	}
	if (g->bad_size || g->bad_align) {
		CHECK(rc != 0 && rc != -VMMU_ENOMEM);
	}
	if (other_error) {
		return;
	}
	if (g->bad_size) {
		CHECK(rc == -VMMU_EINVAL);
	}
	if (g->bad_align) {
		CHECK(rc == -VMMU_EALIGN);
	}
}

static void op_map(struct fz *f, struct reader *r, bool armed)
{
	struct range g = read_range(f, r);
	uint8_t pi = rd8(r) % NPROTS;
	uint8_t mode = rd8(r);
	uint8_t fl = rd8(r);
	unsigned flags = fl & 7;
	uint64_t out = ((uint64_t)rd32(r) << 12) & (f->maxout - 1);
	bool bad_flags = (fl & 0xf8) == 0xf8;

	if (bad_flags) {
		flags |= 1u << 5;
	}
	/* 1 GiB and more in 4K leaves is slow to build and check: only
	 * one time in eight. */
	bool heavy_ok = (mode & 0xe0) == 0xe0;
	if (g.size >= GIB && !heavy_ok) {
		flags &= ~(unsigned)VMMU_PT_4K_ONLY;
		mode |= 1;
	}
	if (mode & 1) { /* congruent with the input: large leaves possible */
		out &= ~(GIB - 1);
		out += (g.in - f->base) & (GIB - 1);
		out &= f->maxout - 1;
	}
	if ((mode & 6) == 6) { /* near the top of the output space */
		out = f->maxout - PAGE * (1 + rd8(r) % 4);
	}
	bool bad_out = out + g.size > f->maxout || out + g.size < out;
	bool bad_prot = pi == NPROTS - 1;
	bool arg_error = g.bad_size || g.bad_align || bad_out || bad_prot || bad_flags;
	bool replace = flags & VMMU_PT_REPLACE;
	bool overlap = shadow_any_mapped(g.first, g.end);
	bool changes = replace &&
		       shadow_would_change(f, g.first, g.end, out, &f->prots[pi], false);

	struct state before = state_of(f);
	int rc = vmmu_pt_map(&f->pt, g.in, out, g.size, &f->prots[pi], flags);
	check_rc_common(f, rc, armed, &g, bad_out || bad_prot || bad_flags);
	if (arg_error) {
		CHECK(rc != 0);
		if (!g.bad_size && !g.bad_align && !bad_out) {
			CHECK(rc == -VMMU_EINVAL);
		}
		if (bad_out && !bad_prot && !bad_flags && !g.bad_size && !g.bad_align) {
			CHECK(rc == -VMMU_ERANGE);
		}
	} else if (overlap && !replace) {
		CHECK(rc_in(rc, -VMMU_EEXIST, -VMMU_ENOMEM, -VMMU_EEXIST));
	} else {
		CHECK(rc_in(rc, 0, -VMMU_ENOMEM, 0));
	}
	if (rc != 0) {
		check_unchanged(f, &before);
		return;
	}
	if (overlap) {
		check_flush(f, &before, changes, g.in, g.size);
	} else {
		CHECK(f->tp.flushes == before.flushes);
	}
	for (uint64_t p = g.first; p < g.end; p++) {
		g_shadow[p].out = out + (p - g.first) * PAGE + 1;
		g_shadow[p].prot = f->prots[pi];
	}
	touch(f, g.first, g.end);
	check_range(f, g.first, g.end);
}

static void op_unmap(struct fz *f, struct reader *r, bool armed)
{
	struct range g = read_range(f, r);
	struct state before = state_of(f);
	int rc = vmmu_pt_unmap(&f->pt, g.in, g.size);

	check_rc_common(f, rc, armed, &g, false);
	if (!g.bad_size && !g.bad_align) {
		CHECK(rc_in(rc, 0, -VMMU_ENOMEM, 0));
	}
	if (rc != 0) {
		check_unchanged(f, &before);
		return;
	}
	check_flush(f, &before, shadow_any_mapped(g.first, g.end), g.in, g.size);
	for (uint64_t p = g.first; p < g.end; p++) {
		g_shadow[p].out = 0;
	}
	check_range(f, g.first, g.end);
}

static void op_protect(struct fz *f, struct reader *r, bool armed)
{
	struct range g = read_range(f, r);
	uint8_t pi = rd8(r) % NPROTS;
	bool bad_prot = pi == NPROTS - 1;
	bool holes = !shadow_all_mapped(g.first, g.end);
	bool changes = !holes && !bad_prot &&
		       shadow_would_change(f, g.first, g.end, 0, &f->prots[pi], true);
	struct state before = state_of(f);
	int rc = vmmu_pt_protect(&f->pt, g.in, g.size, &f->prots[pi]);

	check_rc_common(f, rc, armed, &g, bad_prot);
	if (!g.bad_size && !g.bad_align) {
		if (bad_prot && !holes) {
			CHECK(rc == -VMMU_EINVAL);
		} else if (holes && !bad_prot) {
			CHECK(rc == -VMMU_ENOENT);
		} else if (holes && bad_prot) {
			CHECK(rc == -VMMU_ENOENT || rc == -VMMU_EINVAL);
		} else {
			CHECK(rc_in(rc, 0, -VMMU_ENOMEM, 0));
		}
	}
	if (rc != 0) {
		check_unchanged(f, &before);
		return;
	}
	check_flush(f, &before, changes, g.in, g.size);
	for (uint64_t p = g.first; p < g.end; p++) {
		uint8_t ad = g_shadow[p].prot.flags & AD_FLAGS;
		g_shadow[p].prot = f->prots[pi];
		g_shadow[p].prot.flags |= ad; /* protect keeps A/D */
	}
	check_range(f, g.first, g.end);
}

/* Mark the pages of the leaf that translated `page` accessed (and dirty). */
static void shadow_set_ad(struct fz *f, uint64_t page, unsigned level,
			  bool dirty)
{
	uint64_t pages = vmmu_fmt_entry_size(&f->fmt, level) / PAGE;
	uint64_t first = ((f->base / PAGE + page) & ~(pages - 1)) - f->base / PAGE;
	for (uint64_t p = first; p < first + pages; p++) {
		CHECK(p < WINDOW_PAGES && g_shadow[p].out);
		g_shadow[p].prot.flags |= VMMU_PROT_ACCESSED;
		if (dirty) {
			g_shadow[p].prot.flags |= VMMU_PROT_DIRTY;
		}
	}
}

/* x86: supervisor/user read/write/fetch with WP=1, NXE=1, no SMEP/SMAP/PK. */
static void walk_x86_checked(struct fz *f, uint64_t page, uint8_t sel)
{
	static const uint32_t accs[5] = {
		VMMU_ACC_READ, VMMU_ACC_WRITE, VMMU_ACC_READ | VMMU_ACC_USER,
		VMMU_ACC_WRITE | VMMU_ACC_USER, VMMU_ACC_FETCH,
	};
	uint32_t acc = accs[sel % 5];
	bool peek = sel & 0x80;
	uint64_t va = f->base + page * PAGE + 0x123;
	struct vmmu_walk out;
	int rc = vmmu_walk(&f->w_sane, f->pt.root.v, va,
			   acc | (peek ? VMMU_ACC_PEEK : 0), &out);
	const struct shadow_page *s = &g_shadow[page];
	uint32_t pfec = acc & (VMMU_PFEC_W | VMMU_PFEC_U | VMMU_PFEC_I);

	if (!s->out) {
		CHECK(rc == VMMU_WALK_PF && out.pfec == pfec);
		return;
	}
	uint32_t perm = s->prot.perm;
	bool ok = (!(acc & VMMU_ACC_WRITE) || (perm & VMMU_PERM_W)) &&
		  (!(acc & VMMU_ACC_USER) || (perm & VMMU_PERM_U)) &&
		  (!(acc & VMMU_ACC_FETCH) || (perm & VMMU_PERM_X));
	if (!ok) {
		CHECK(rc == VMMU_WALK_PF && out.pfec == (pfec | VMMU_PFEC_P));
		return;
	}
	CHECK(rc == VMMU_WALK_OK);
	CHECK(out.addr == s->out - 1 + 0x123);
	CHECK(out.perm == perm);
	CHECK(out.pkey == s->prot.pkey);
	if (!peek) {
		shadow_set_ad(f, page, out.level, acc & VMMU_ACC_WRITE);
	}
}

static void walk_ept_checked(struct fz *f, uint64_t page, uint8_t sel)
{
	static const uint32_t accs[4] = {
		VMMU_EPT_ACC_READ, VMMU_EPT_ACC_WRITE, VMMU_EPT_ACC_FETCH,
		VMMU_EPT_ACC_FETCH | VMMU_EPT_ACC_USER,
	};
	uint32_t acc = accs[sel % 4];
	bool peek = sel & 0x80;
	bool mbec = f->fmt.flags & VMMU_FMT_F_EPT_MBEC;
	uint64_t gpa = f->base + page * PAGE + 0x456;
	struct vmmu_ept_walk out;
	int rc = vmmu_ept_walk(&f->fmt, &f->tp.plat, f->pt.root.v, gpa,
			       acc | (peek ? VMMU_EPT_ACC_PEEK : 0), &out);
	const struct shadow_page *s = &g_shadow[page];
	uint64_t qual = acc & 7;

	if (!s->out) {
		CHECK(rc == VMMU_EPT_VIOLATION && out.qual == qual);
		return;
	}
	uint32_t perm = s->prot.perm;
	bool user_fetch = mbec && (acc & VMMU_EPT_ACC_USER);
	bool ok = (!(acc & VMMU_EPT_ACC_READ) || (perm & VMMU_PERM_R)) &&
		  (!(acc & VMMU_EPT_ACC_WRITE) || (perm & VMMU_PERM_W)) &&
		  (!(acc & VMMU_EPT_ACC_FETCH) ||
		   (perm & (user_fetch ? VMMU_PERM_UX : VMMU_PERM_X)));
	if (!ok) {
		uint64_t want = qual;
		want |= (perm & VMMU_PERM_R) ? VMMU_EPT_QUAL_READABLE : 0;
		want |= (perm & VMMU_PERM_W) ? VMMU_EPT_QUAL_WRITABLE : 0;
		want |= (perm & VMMU_PERM_X) ? VMMU_EPT_QUAL_EXECUTABLE : 0;
		want |= (mbec && (perm & VMMU_PERM_UX)) ? VMMU_EPT_QUAL_UEXECUTABLE : 0;
		CHECK(rc == VMMU_EPT_VIOLATION && out.qual == want);
		return;
	}
	CHECK(rc == VMMU_EPT_OK);
	CHECK(out.hpa == s->out - 1 + 0x456);
	CHECK(out.memtype == s->prot.cache);
	CHECK(out.ipat == ((s->prot.flags & VMMU_PROT_IPAT) ? 1 : 0));
	if (!peek && (f->fmt.flags & VMMU_FMT_F_EPT_AD)) {
		shadow_set_ad(f, page, out.level, acc & VMMU_EPT_ACC_WRITE);
	}
}

static void op_walk_checked(struct fz *f, struct reader *r)
{
	uint64_t page = rd32(r) % WINDOW_PAGES;
	uint8_t sel = rd8(r);

	if (f->ept) {
		walk_ept_checked(f, page, sel);
	} else if (f->have_walker) {
		walk_x86_checked(f, page, sel);
	}
	check_lookup(f, page);
}

/* Random register values: the walker accepts them or says -VMMU_EINVAL. */
static void random_cpu(struct fz *f, struct reader *r)
{
	struct vmmu_cpu_state c = sane_cpu(f);
	uint8_t sel = rd8(r);

	if (sel & 1) c.cr0 &= ~VMMU_CR0_WP;
	if (sel & 2) c.cr4 |= VMMU_CR4_SMEP;
	if (sel & 4) c.cr4 |= VMMU_CR4_SMAP;
	if (sel & 8) c.cr4 |= VMMU_CR4_PKE;
	if (sel & 16) c.cr4 |= VMMU_CR4_PKS;
	if (sel & 32) c.efer &= ~VMMU_EFER_NXE;
	c.pkru = rd32(r);
	c.pkrs = rd32(r);
	if (sel & 64) { /* anything at all */
		c.cr0 = rd64(r);
		c.cr4 = rd64(r);
		c.efer = rd64(r);
	}
	int rc = vmmu_walker_set_cpu(&f->w_host, &c);
	CHECK(rc == 0 || rc == -VMMU_EINVAL);
}

static void hostile_walk(struct fz *f, struct reader *r, uint64_t va,
			 bool peek_only)
{
	uint8_t sel = rd8(r);
	bool peek = peek_only || (sel & 0x80);

	if (sel & 0x40) {
		va = rd64(r); /* any address at all */
	}
	if (f->ept) {
		struct vmmu_ept_walk out;
		uint32_t acc = (sel & 0x3f) | (peek ? VMMU_EPT_ACC_PEEK : 0);
		int rc = vmmu_ept_walk(&f->fmt, &f->tp.plat, f->pt.root.v, va, acc, &out);
		CHECK(rc == VMMU_EPT_OK || rc == VMMU_EPT_VIOLATION ||
		      rc == VMMU_EPT_MISCONFIG || rc == -VMMU_EFAULT ||
		      rc == -VMMU_ERANGE || rc == -VMMU_EINVAL);
		if (rc == VMMU_EPT_OK) {
			CHECK(out.hpa < f->maxout);
			CHECK(out.level >= 1 && out.level <= 3);
		}
	} else if (f->have_walker) {
		struct vmmu_walk out;
		uint32_t acc = (uint32_t)(sel & 0x16) | (sel & 1 ? VMMU_ACC_AC : 0) |
			       (sel & 8 ? VMMU_ACC_IMPLICIT : 0) |
			       (peek ? VMMU_ACC_PEEK : 0);
		/* no such access: a write that is a fetch, a user implicit one */
		bool nonsense = ((acc & VMMU_ACC_WRITE) && (acc & VMMU_ACC_FETCH)) ||
				((acc & VMMU_ACC_USER) && (acc & VMMU_ACC_IMPLICIT));
		int rc = vmmu_walk(&f->w_host, f->pt.root.v, va, acc, &out);
		if (nonsense) {
			CHECK(rc == -VMMU_EINVAL);
			return;
		}
		CHECK(rc == VMMU_WALK_OK || rc == VMMU_WALK_PF || rc == VMMU_WALK_GP ||
		      rc == -VMMU_EFAULT);
		if (rc == VMMU_WALK_OK) {
			CHECK(out.addr < f->maxout);
			CHECK(out.level >= 1 && out.level <= 3);
		}
	}
	if (!peek) {
		f->ad_unknown = true;
	}
}

/* Pure decoders on a raw value: no crash, consistent answers. */
static void poke_decoders(const struct fz *f, vmmu_pte_t v)
{
	for (unsigned l = 1; l <= f->fmt.levels; l++) {
		uint64_t rsvd = vmmu_pte_rsvd(&f->fmt, l, v);
		bool present = vmmu_pte_present(&f->fmt, l, v);
		CHECK((rsvd & ~v) == 0);
		CHECK(present || rsvd == 0);
		CHECK(present || !vmmu_ept_misconfig(&f->fmt, l, v));
		if (f->ept && rsvd) {
			CHECK(vmmu_ept_misconfig(&f->fmt, l, v));
		}
		if (present && vmmu_pte_is_leaf(&f->fmt, l, v) && rsvd == 0) {
			struct vmmu_prot p;
			vmmu_pte_decode_leaf(&f->fmt, l, v, &p);
			(void)vmmu_pte_addr(&f->fmt, l, v);
		}
	}
}

/*
 * Write a random value into a live entry, walk through it, restore it.
 * Non-PEEK walks may set A/D in whatever the garbage points at; x86 and
 * EPT keep A/D in the same bits at every level, so that is harmless to the
 * tree's structure (and the model then ignores A/D). The scrambled format
 * moves those bits, so its hostile walks only peek.
 */
static void op_hostile(struct fz *f, struct reader *r)
{
	unsigned level = 1 + rd8(r) % f->fmt.levels;
	uint64_t va = f->base + (rd32(r) % WINDOW_PAGES) * PAGE;
	uint8_t how = rd8(r);
	uint64_t bits = rd64(r);
	vmmu_pte_t *slot = NULL;

	if (f->have_walker) {
		random_cpu(f, r);
	}
	poke_decoders(f, bits);
	int rc = vmmu_pt_entry(&f->pt, va, level, &slot);
	if (f->mapped) {
		CHECK(rc == -VMMU_ENOTSUP);
		return;
	}
	if (rc != 0) {
		CHECK(rc == -VMMU_ENOENT || rc == -VMMU_EEXIST);
		return;
	}
	vmmu_pte_t saved = *slot;
	switch (how % 4) {
	case 0: *slot = bits; break;
	case 1: *slot = saved ^ (1ull << (bits % 64)); break;
	case 2: *slot = saved | (bits & 0xfff0000000000ffeull); break;
	default: *slot = (bits & ~0xfffull) | (saved & 0xfff); break;
	}
	bool peek_only = f->choice->fam == FAM_SCRAMBLED;
	unsigned walks = 1 + how / 64;
	for (unsigned i = 0; i < walks; i++) {
		hostile_walk(f, r, va + (rd8(r) & 0xf) * PAGE, peek_only);
	}
	*slot = saved;
}

/* --- one input --------------------------------------------------------------------- */

static bool setup(struct fz *f, struct reader *r)
{
	uint8_t b0 = rd8(r);
	uint8_t seed = rd8(r);

	memset(f, 0, sizeof(*f));
	f->choice = &k_fmts[b0 & 7];
	f->ept = f->choice->fam == FAM_EPT;
	f->mapped = b0 & 8;
	if (init_fmt(f, seed) != 0) {
		CHECK(!"format init failed");
	}
	f->maxout = 1ull << f->fmt.maxphyaddr;
	if (b0 & 16) { /* the top of the input space */
		f->base = f->ept ? (1ull << f->fmt.va_bits) - WINDOW_SIZE
				 : 0ull - WINDOW_SIZE;
	} else { /* straddling a PML4 entry boundary */
		f->base = 511 * GIB;
	}
	set_prots(f);
	if (f->mapped) {
		test_platform_init_mapped(&f->tp, ARENA_FRAMES);
	} else {
		test_platform_init(&f->tp, ARENA_FRAMES);
	}
	CHECK(vmmu_pt_init(&f->pt, &f->fmt, &f->tp.plat) == 0);
	if (!f->ept) {
		struct vmmu_cpu_state c = sane_cpu(f);
		int rc = vmmu_walker_init(&f->w_sane, &f->fmt, &f->tp.plat, &c);
		CHECK(rc == 0 || (rc == -VMMU_EINVAL && f->choice->fam == FAM_SCRAMBLED));
		f->have_walker = rc == 0;
		f->w_host = f->w_sane;
	}
	f->dirty_lo = WINDOW_PAGES;
	f->dirty_hi = 0;
	return true;
}

static void teardown(struct fz *f)
{
	f->tp.fail_at = 0;
	check_all(f);
	CHECK(vmmu_pt_unmap(&f->pt, f->base, WINDOW_SIZE) == 0);
	CHECK(f->pt.table_count == 1);
	CHECK(f->tp.live == 1);
	vmmu_pt_destroy(&f->pt);
	CHECK(f->tp.live == 0);
	CHECK(f->tp.allocs == f->tp.frees);
	CHECK(f->tp.maps == f->tp.unmaps);
	test_platform_fini(&f->tp);
	if (f->dirty_lo < f->dirty_hi) {
		memset(&g_shadow[f->dirty_lo], 0,
		       (f->dirty_hi - f->dirty_lo) * sizeof(g_shadow[0]));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz f;
	struct reader r = {data, size};

	if (size < 2) {
		return 0;
	}
	setup(&f, &r);
	for (unsigned n = 0; n < MAX_OPS && r.n > 0; n++) {
		bool armed = f.tp.fail_at != 0;
		switch (rd8(&r) % 8) {
		case 0:
		case 1:
			op_map(&f, &r, armed);
			break;
		case 2:
			op_unmap(&f, &r, armed);
			break;
		case 3:
			op_protect(&f, &r, armed);
			break;
		case 4:
			op_walk_checked(&f, &r);
			break;
		case 5:
			check_lookup(&f, rd32(&r) % WINDOW_PAGES);
			break;
		case 6: /* fail an allocation of the next operation */
			f.tp.fail_at = 1 + rd8(&r) % 16;
			continue;
		default:
			op_hostile(&f, &r);
			break;
		}
		f.tp.fail_at = 0;
		if (n % FULL_CHECK_EVERY == FULL_CHECK_EVERY - 1) {
			check_all(&f);
		}
	}
	teardown(&f);
	return 0;
}
