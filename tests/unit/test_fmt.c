/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for fmt.h and pte.h: a conformance suite run on every format
 * descriptor (x86-64 4/5-level, EPT 4/5-level with feature combinations,
 * the scrambled test format), plus the small helpers (level names,
 * canonical checks, error strings).
 *
 * Expected encodings and reserved bits are transcribed from the Intel SDM
 * (section and table numbers next to each table below); they are not
 * derived from the descriptor under test.
 */
#include <limits.h>
#include <string.h>

#include <vmmu/vmmu.h>

#include "unit_check.h"

/* Bits hi..lo inclusive. */
static uint64_t bits(unsigned hi, unsigned lo)
{
	if (hi < lo) {
		return 0;
	}
	uint64_t upper = hi == 63 ? ~0ull : (BIT(hi + 1) - 1);
	return upper & ~(BIT(lo) - 1);
}

/* --- the formats under test --------------------------------------------- */

enum family { FAM_X86, FAM_EPT, FAM_SCRAMBLED };

struct fmt_case {
	enum family fam;
	unsigned levels;
	unsigned maxphy;
	unsigned flags;
	uint32_t seed;
	struct vmmu_fmt fmt;
};

#define MAX_CASES 256
static struct fmt_case g_cases[MAX_CASES];
static size_t g_ncases;

static const unsigned k_maxphys[] = {36, 39, 46, 52};
static const uint32_t k_seeds[] = {1, 2, 0xdeadbeefu, 12345u};

static int init_case(struct fmt_case *c)
{
	switch (c->fam) {
	case FAM_X86:
		return vmmu_fmt_init_x86(&c->fmt, c->levels, c->maxphy,
					 c->flags);
	case FAM_EPT:
		return vmmu_fmt_init_ept(&c->fmt, c->levels, c->maxphy,
					 c->flags);
	case FAM_SCRAMBLED:
		return vmmu_fmt_init_scrambled(&c->fmt, c->levels, c->maxphy,
					       c->flags, c->seed);
	}
	return -1;
}

static void add_case(enum family fam, unsigned levels, unsigned maxphy,
		     unsigned flags, uint32_t seed)
{
	assert_true(g_ncases < MAX_CASES);
	struct fmt_case *c = &g_cases[g_ncases++];
	memset(c, 0, sizeof(*c));
	c->fam = fam;
	c->levels = levels;
	c->maxphy = maxphy;
	c->flags = flags;
	c->seed = seed;
	WHERE("init fam=%d levels=%u maxphy=%u flags=%#x seed=%#x", fam,
	      levels, maxphy, flags, seed);
	CHECK_EQ(init_case(c), 0);
}

static int setup_cases(void **state)
{
	(void)state;
	g_ncases = 0;
	for (unsigned lv = 4; lv <= 5; lv++) {
		for (size_t m = 0; m < 4; m++) {
			add_case(FAM_X86, lv, k_maxphys[m], 0, 0);
			add_case(FAM_X86, lv, k_maxphys[m], VMMU_FMT_F_1G, 0);
			for (unsigned f = 0; f < 16; f++) {
				add_case(FAM_EPT, lv, k_maxphys[m], f, 0);
			}
		}
		for (size_t s = 0; s < 4; s++) {
			add_case(FAM_SCRAMBLED, lv, 46, VMMU_FMT_F_1G,
				 k_seeds[s]);
			add_case(FAM_SCRAMBLED, lv, 36, 0, k_seeds[s]);
			add_case(FAM_SCRAMBLED, lv, 52, VMMU_FMT_F_1G,
				 k_seeds[s] * 7u);
		}
	}
	return 0;
}

static const char *fam_name(enum family f)
{
	return f == FAM_X86 ? "x86" : f == FAM_EPT ? "ept" : "scrambled";
}

static void where_case(const struct fmt_case *c, unsigned level,
		       const char *what)
{
	WHERE("%s L%u maxphy=%u flags=%#x seed=%#x level=%u: %s",
	      fam_name(c->fam), c->levels, c->maxphy, c->flags, c->seed, level,
	      what);
}

static bool is_ept(const struct fmt_case *c)
{
	return c->fam == FAM_EPT;
}

/* Leaves: level 1 always, 2 always (x86 and EPT), 3 only with 1G pages. */
static bool leaf_allowed(const struct fmt_case *c, unsigned level)
{
	return level == 1 || level == 2 ||
	       (level == 3 && (c->flags & VMMU_FMT_F_1G));
}

static uint64_t leaf_size(unsigned level)
{
	return 1ull << (12 + 9 * (level - 1));
}

/* A check of one level of one format case. */
typedef void (*level_check_fn)(const struct fmt_case *c, unsigned level);

/* Run `check` on every level of every format case. */
static void check_every_level(level_check_fn check)
{
	for (size_t i = 0; i < g_ncases; i++) {
		for (unsigned l = 1; l <= g_cases[i].levels; l++) {
			check(&g_cases[i], l);
		}
	}
}

/* --- descriptor shape ---------------------------------------------------- */

static void test_descriptor_shape(void **state)
{
	(void)state;
	for (size_t i = 0; i < g_ncases; i++) {
		const struct fmt_case *c = &g_cases[i];
		const struct vmmu_fmt *f = &c->fmt;

		where_case(c, 0, "shape");
		assert_non_null(f->name);
		CHECK_EQ(f->kind, is_ept(c) ? VMMU_FMT_EPT : VMMU_FMT_X86);
		CHECK_EQ(f->levels, c->levels);
		CHECK_EQ(f->maxphyaddr, c->maxphy);
		CHECK_EQ(f->va_bits, c->levels == 4 ? 48 : 57);
		CHECK_EQ(f->flags, c->flags | (c->fam == FAM_SCRAMBLED
						       ? VMMU_FMT_F_SCRAMBLED
						       : 0));
		for (unsigned l = 1; l <= c->levels; l++) {
			where_case(c, l, "shape");
			CHECK_EQ(f->level[l].shift, 12 + 9 * (l - 1));
			CHECK_EQ(vmmu_fmt_entry_size(f, l), leaf_size(l));
			CHECK_EQ(f->level[l].leaf_ok != 0, leaf_allowed(c, l));
			CHECK_EQ(vmmu_fmt_index(f, l, 0x1ffull << (12 + 9 * (l - 1))),
				 0x1ff);
			CHECK_EQ(vmmu_fmt_index(f, l, (0x1ffull << (12 + 9 * (l - 1))) +
						       (1ull << (12 + 9 * l))),
				 0x1ff);
		}
	}
}

/* Every attribute field of a level: distinct bits, none overlapping an
 * address field or a reserved mask. Catches scrambled layouts that collide. */
static void check_fields_disjoint(const struct fmt_case *c, unsigned l)
{
	const struct vmmu_fmt_level *lv = &c->fmt.level[l];
	where_case(c, l, "fields");
	const uint64_t fields[] = {
		lv->read, lv->write, lv->user, lv->nx, lv->exec, lv->uexec,
		lv->accessed, lv->dirty, lv->global, lv->pwt, lv->pcd,
		lv->pat, lv->memtype, lv->ipat, lv->pkey,
		l > 1 ? lv->ps : 0,
	};
	/* x86: P is a bit of its own (EPT: present = any of R/W/X/UX). */
	uint64_t seen = c->fam == FAM_EPT ? 0 : lv->present;

	CHECK_EQ(lv->present != 0, true);
	for (size_t k = 0; k < sizeof(fields) / sizeof(fields[0]); k++) {
		CHECK_EQ(seen & fields[k], 0);
		seen |= fields[k];
	}
	uint64_t leaf_attrs = seen;
	CHECK_EQ(leaf_attrs & lv->rsvd_leaf, 0);
	CHECK_EQ(leaf_attrs & lv->addr_leaf, 0);
	CHECK_EQ(lv->addr_leaf & lv->rsvd_leaf, 0);
	if (l > 1) {
		CHECK_EQ(lv->addr_table & lv->rsvd_table, 0);
		CHECK_EQ(lv->addr_table & (lv->read | lv->write | lv->user |
					   lv->nx | lv->exec | lv->uexec |
					   lv->accessed | lv->ps),
			 0);
	}
	/* Address fields: exactly the SDM's bits (M-1):12 of a table
	 * pointer, (M-1):shift of a leaf frame. */
	if (l > 1) {
		CHECK_EQ(lv->addr_table, bits(c->maxphy - 1, 12));
	}
	if (leaf_allowed(c, l)) {
		CHECK_EQ(lv->addr_leaf, bits(c->maxphy - 1, 12 + 9 * (l - 1)));
	}
	if (lv->memtype) {
		CHECK_EQ(lv->memtype, 7ull << lv->memtype_shift);
	}
	if (lv->pkey) {
		CHECK_EQ(lv->pkey, 15ull << lv->pkey_shift);
	}
}

static void test_fields_disjoint(void **state)
{
	(void)state;
	check_every_level(check_fields_disjoint);
}

/* --- encode/decode round trip -------------------------------------------- */

/*
 * Could the format express prot at level? This is the spec of
 * vmmu_pte_make_leaf's -VMMU_EINVAL, written independently:
 *  x86 (SDM Vol. 3A §4.5, §4.6): reads are implied by P, so R is required;
 *    no UX; PAT index 0..7; protection key 0..15; no IPAT.
 *  EPT (SDM Vol. 3C §29.3.2, misconfigurations §29.3.3.1): no U, no pkey,
 *    no G; W requires R; X or UX without R only with execute-only support;
 *    UX only with MBEC; memory type 0,1,4,5,6; A/D only with EPT A/D.
 */
static bool x86_prot_ok(const struct vmmu_prot *p)
{
	const uint32_t known = VMMU_PERM_R | VMMU_PERM_W | VMMU_PERM_X |
			       VMMU_PERM_U;
	const uint32_t flags = VMMU_PROT_GLOBAL | VMMU_PROT_ACCESSED |
			       VMMU_PROT_DIRTY;

	return (p->perm & ~known) == 0 && (p->perm & VMMU_PERM_R) &&
	       p->cache <= 7 && p->pkey <= 15 && (p->flags & ~flags) == 0;
}

static bool ept_memtype_ok(unsigned mt)
{
	return mt == 0 || mt == 1 || mt == 4 || mt == 5 || mt == 6;
}

static bool ept_prot_ok(const struct fmt_case *c, const struct vmmu_prot *p)
{
	uint32_t known = VMMU_PERM_R | VMMU_PERM_W | VMMU_PERM_X;
	uint32_t flags = VMMU_PROT_IPAT;
	bool r = p->perm & VMMU_PERM_R;

	if (c->flags & VMMU_FMT_F_EPT_MBEC) {
		known |= VMMU_PERM_UX;
	}
	if (c->flags & VMMU_FMT_F_EPT_AD) {
		flags |= VMMU_PROT_ACCESSED | VMMU_PROT_DIRTY;
	}
	if ((p->perm & ~known) != 0 || p->perm == 0 || p->pkey != 0 ||
	    (p->flags & ~flags) != 0 || !ept_memtype_ok(p->cache)) {
		return false;
	}
	if ((p->perm & VMMU_PERM_W) && !r) {
		return false;
	}
	if (!r && !(c->flags & VMMU_FMT_F_EPT_XONLY)) {
		return false; /* X-only or UX-only */
	}
	return true;
}

static bool prot_ok(const struct fmt_case *c, unsigned level,
		    const struct vmmu_prot *p)
{
	if (!leaf_allowed(c, level)) {
		return false;
	}
	return is_ept(c) ? ept_prot_ok(c, p) : x86_prot_ok(p);
}

/* Exact leaf encodings, SDM Vol. 3A Tables 4-16, 4-18, 4-20 (x86) and
 * Vol. 3C Tables 29-3, 29-5, 29-7 (EPT: 1G PDPTE, 2M PDE, PTE). */
static uint64_t x86_expected_leaf(unsigned level, uint64_t pa,
				  const struct vmmu_prot *p)
{
	uint64_t e = pa | BIT(0); /* P */

	if (p->perm & VMMU_PERM_W) e |= BIT(1);
	if (p->perm & VMMU_PERM_U) e |= BIT(2);
	if (p->cache & 1) e |= BIT(3); /* PWT */
	if (p->cache & 2) e |= BIT(4); /* PCD */
	if (p->cache & 4) e |= level == 1 ? BIT(7) : BIT(12); /* PAT */
	if (p->flags & VMMU_PROT_ACCESSED) e |= BIT(5);
	if (p->flags & VMMU_PROT_DIRTY) e |= BIT(6);
	if (level > 1) e |= BIT(7); /* PS */
	if (p->flags & VMMU_PROT_GLOBAL) e |= BIT(8);
	e |= (uint64_t)p->pkey << 59;
	if (!(p->perm & VMMU_PERM_X)) e |= BIT(63); /* XD */
	return e;
}

static uint64_t ept_expected_leaf(unsigned level, uint64_t pa,
				  const struct vmmu_prot *p)
{
	uint64_t e = pa | ((uint64_t)p->cache << 3);

	if (p->perm & VMMU_PERM_R) e |= BIT(0);
	if (p->perm & VMMU_PERM_W) e |= BIT(1);
	if (p->perm & VMMU_PERM_X) e |= BIT(2);
	if (p->flags & VMMU_PROT_IPAT) e |= BIT(6);
	if (level > 1) e |= BIT(7);
	if (p->flags & VMMU_PROT_ACCESSED) e |= BIT(8);
	if (p->flags & VMMU_PROT_DIRTY) e |= BIT(9);
	if (p->perm & VMMU_PERM_UX) e |= BIT(10);
	return e;
}

static void check_one_leaf(const struct fmt_case *c, unsigned level,
			   uint64_t pa, const struct vmmu_prot *p)
{
	vmmu_pte_t pte = 0;
	int rc = vmmu_pte_make_leaf(&c->fmt, level, pa, p, &pte);

	if (!prot_ok(c, level, p)) {
		CHECK_EQ(rc, -VMMU_EINVAL);
		return;
	}
	CHECK_EQ(rc, 0);
	if (c->fam == FAM_X86) {
		CHECK_EQ(pte, x86_expected_leaf(level, pa, p));
	} else if (c->fam == FAM_EPT) {
		CHECK_EQ(pte, ept_expected_leaf(level, pa, p));
	}
	CHECK_EQ(vmmu_pte_present(&c->fmt, level, pte), true);
	CHECK_EQ(vmmu_pte_is_leaf(&c->fmt, level, pte), true);
	CHECK_EQ(vmmu_pte_addr(&c->fmt, level, pte), pa);
	CHECK_EQ(vmmu_pte_rsvd(&c->fmt, level, pte), 0);
	CHECK_EQ(vmmu_ept_misconfig(&c->fmt, level, pte), false);

	struct vmmu_prot d;
	memset(&d, 0xee, sizeof(d));
	vmmu_pte_decode_leaf(&c->fmt, level, pte, &d);
	CHECK_EQ(d.perm, p->perm);
	CHECK_EQ(d.cache, p->cache);
	CHECK_EQ(d.pkey, p->pkey);
	CHECK_EQ(d.flags, p->flags);
}

/*
 * Every permission, cache value 0..8 and flag byte 0..31 (both include
 * invalid values) at one level. The full product runs at MAXPHYADDR 46;
 * other widths, which only move the address field, get a sample.
 */
static void round_trip_level(const struct fmt_case *c, unsigned level)
{
	static const uint8_t all[33] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
					12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
					22, 23, 24, 25, 26, 27, 28, 29, 30, 31};
	static const uint8_t some_caches[] = {0, 2, 6, 7, 8};
	static const uint8_t some_flags[] = {0, 3, 6, 8, 9, 16};
	bool full = c->maxphy == 46;
	const uint8_t *caches = full ? all : some_caches;
	size_t ncaches = full ? 9 : sizeof(some_caches);
	const uint8_t *flagset = full ? all : some_flags;
	size_t nflags = full ? 32 : sizeof(some_flags);
	uint64_t top = (1ull << c->maxphy) - leaf_size(level);

	for (uint32_t perm = 0; perm < 32; perm++) {
		for (size_t ci = 0; ci < ncaches; ci++) {
			for (size_t fi = 0; fi < nflags; fi++) {
				unsigned cache = caches[ci], flags = flagset[fi];
				struct vmmu_prot p = {
					.perm = perm,
					.cache = (uint8_t)cache,
					.pkey = (uint8_t)((perm * 7 + cache * 3 + flags) % 17),
					.flags = (uint8_t)flags,
				};
				WHERE("%s L%u M=%u f=%#x seed=%#x level=%u perm=%#x cache=%u pkey=%u flags=%#x",
				      fam_name(c->fam), c->levels, c->maxphy,
				      c->flags, c->seed, level, perm, cache,
				      p.pkey, flags);
				check_one_leaf(c, level, (flags & 1) ? top : leaf_size(level), &p);
				if (is_ept(c)) {
					p.pkey = 0; /* the pkey-free variant too */
					check_one_leaf(c, level, top, &p);
				}
			}
		}
	}
}

static void test_leaf_round_trip(void **state)
{
	(void)state;
	check_every_level(round_trip_level);
}

static void sweep_pkeys_and_caches(const struct fmt_case *c, unsigned level)
{
	uint64_t pa = 3 * leaf_size(level);

	for (unsigned key = 0; key < 256; key++) {
		struct vmmu_prot p = {.perm = VMMU_PERM_R, .pkey = (uint8_t)key};
		if (is_ept(c)) {
			p.cache = 6;
		}
		where_case(c, level, "pkey sweep");
		check_one_leaf(c, level, pa, &p);
	}
	for (unsigned cache = 0; cache < 256; cache++) {
		struct vmmu_prot p = {.perm = VMMU_PERM_R | VMMU_PERM_X,
				      .cache = (uint8_t)cache};
		where_case(c, level, "cache sweep");
		check_one_leaf(c, level, pa, &p);
	}
}

static void test_leaf_pkey_cache_sweep(void **state)
{
	(void)state;
	check_every_level(sweep_pkeys_and_caches);
}

static struct vmmu_prot plain_prot(const struct fmt_case *c)
{
	struct vmmu_prot p = {.perm = VMMU_PERM_R | VMMU_PERM_W};
	if (is_ept(c)) {
		p.cache = 6;
	}
	return p;
}

static void check_leaf_address_errors(const struct fmt_case *c, unsigned level)
{
	struct vmmu_prot p = plain_prot(c);
	uint64_t size = leaf_size(level);
	vmmu_pte_t pte;

	where_case(c, level, "address errors");
	if (!leaf_allowed(c, level)) {
		CHECK_EQ(vmmu_pte_make_leaf(&c->fmt, level, size, &p, &pte),
			 -VMMU_EINVAL);
		return;
	}
	CHECK_EQ(vmmu_pte_make_leaf(&c->fmt, level, 0, &p, &pte), 0);
	CHECK_EQ(vmmu_pte_addr(&c->fmt, level, pte), 0);
	CHECK_EQ(vmmu_pte_make_leaf(&c->fmt, level, size + 0x800, &p, &pte),
		 -VMMU_EALIGN);
	CHECK_EQ(vmmu_pte_make_leaf(&c->fmt, level, size + 1, &p, &pte),
		 -VMMU_EALIGN);
	if (level > 1) {
		CHECK_EQ(vmmu_pte_make_leaf(&c->fmt, level, size + 0x1000, &p,
					    &pte),
			 -VMMU_EALIGN);
		CHECK_EQ(vmmu_pte_make_leaf(&c->fmt, level, size + size / 2,
					    &p, &pte),
			 -VMMU_EALIGN);
	}
	CHECK_EQ(vmmu_pte_make_leaf(&c->fmt, level, 1ull << c->maxphy, &p,
				    &pte),
		 -VMMU_ERANGE);
	CHECK_EQ(vmmu_pte_make_leaf(&c->fmt, level,
				    (1ull << c->maxphy) + size, &p, &pte),
		 -VMMU_ERANGE);
	CHECK_EQ(vmmu_pte_make_leaf(&c->fmt, level, 1ull << 52, &p, &pte),
		 -VMMU_ERANGE);
	CHECK_EQ(vmmu_pte_make_leaf(&c->fmt, level, 1ull << 63, &p, &pte),
		 -VMMU_ERANGE);
}

static void test_leaf_address_errors(void **state)
{
	(void)state;
	check_every_level(check_leaf_address_errors);
}

/* Named refusals from the brief, spelled out. */
static void test_leaf_named_refusals(void **state)
{
	(void)state;
	for (size_t i = 0; i < g_ncases; i++) {
		const struct fmt_case *c = &g_cases[i];
		const struct vmmu_fmt *f = &c->fmt;
		vmmu_pte_t pte;
		struct vmmu_prot p = plain_prot(c);

		where_case(c, 1, "named refusals");
		p.perm = VMMU_PERM_W;
		CHECK_EQ(vmmu_pte_make_leaf(f, 1, 0, &p, &pte), -VMMU_EINVAL);
		p.perm = VMMU_PERM_W | VMMU_PERM_X;
		CHECK_EQ(vmmu_pte_make_leaf(f, 1, 0, &p, &pte), -VMMU_EINVAL);
		p.perm = 0;
		CHECK_EQ(vmmu_pte_make_leaf(f, 1, 0, &p, &pte), -VMMU_EINVAL);
		p.perm = VMMU_PERM_X;
		CHECK_EQ(vmmu_pte_make_leaf(f, 1, 0, &p, &pte),
			 (is_ept(c) && (c->flags & VMMU_FMT_F_EPT_XONLY))
				 ? 0
				 : -VMMU_EINVAL);
		p = plain_prot(c);
		p.pkey = 1;
		CHECK_EQ(vmmu_pte_make_leaf(f, 1, 0, &p, &pte),
			 is_ept(c) ? -VMMU_EINVAL : 0);
		p = plain_prot(c);
		p.perm |= VMMU_PERM_U;
		CHECK_EQ(vmmu_pte_make_leaf(f, 1, 0, &p, &pte),
			 is_ept(c) ? -VMMU_EINVAL : 0);
		p = plain_prot(c);
		p.perm |= VMMU_PERM_UX;
		CHECK_EQ(vmmu_pte_make_leaf(f, 1, 0, &p, &pte),
			 (is_ept(c) && (c->flags & VMMU_FMT_F_EPT_MBEC))
				 ? 0
				 : -VMMU_EINVAL);
		p = plain_prot(c);
		CHECK_EQ(vmmu_pte_make_leaf(f, 3, 0, &p, &pte),
			 (c->flags & VMMU_FMT_F_1G) ? 0 : -VMMU_EINVAL);
		CHECK_EQ(vmmu_pte_make_leaf(f, 4, 0, &p, &pte), -VMMU_EINVAL);
		CHECK_EQ(vmmu_pte_make_leaf(f, 0, 0, &p, &pte), -VMMU_EINVAL);
		CHECK_EQ(vmmu_pte_make_leaf(f, c->levels + 1, 0, &p, &pte),
			 -VMMU_EINVAL);
		if (c->levels == 5) {
			CHECK_EQ(vmmu_pte_make_leaf(f, 5, 0, &p, &pte),
				 -VMMU_EINVAL);
		}
	}
}

/* --- table pointers ------------------------------------------------------ */

static void check_table(const struct fmt_case *c, unsigned level, uint64_t pa)
{
	const struct vmmu_fmt *f = &c->fmt;
	const struct vmmu_fmt_level *lv = &f->level[level];
	vmmu_pte_t pte = vmmu_pte_make_table(f, level, pa);

	CHECK_EQ(vmmu_pte_present(f, level, pte), true);
	CHECK_EQ(vmmu_pte_is_leaf(f, level, pte), false);
	CHECK_EQ(vmmu_pte_addr(f, level, pte), pa);
	CHECK_EQ(vmmu_pte_rsvd(f, level, pte), 0);
	CHECK_EQ(vmmu_ept_misconfig(f, level, pte), false);
	if (c->fam == FAM_X86) {
		/* SDM Vol. 3A Tables 4-15/4-17/4-19: P|R/W|U/S. */
		CHECK_EQ(pte, pa | 7);
	} else if (c->fam == FAM_EPT) {
		/* SDM Vol. 3C Tables 29-2/29-4/29-6: R|W|X (+ UX, MBEC). */
		CHECK_EQ(pte, pa | 7 |
				      ((c->flags & VMMU_FMT_F_EPT_MBEC) ? BIT(10)
									: 0));
	} else {
		CHECK_EQ(pte, pa | lv->present | lv->write | lv->user);
	}
}

static void test_table_round_trip(void **state)
{
	(void)state;
	for (size_t i = 0; i < g_ncases; i++) {
		const struct fmt_case *c = &g_cases[i];
		for (unsigned l = 2; l <= c->levels; l++) {
			where_case(c, l, "table");
			check_table(c, l, 0x1000);
			check_table(c, l, 0x7654000ull);
			check_table(c, l, (1ull << c->maxphy) - 0x1000);
		}
	}
}

static void test_present(void **state)
{
	(void)state;
	for (size_t i = 0; i < g_ncases; i++) {
		const struct fmt_case *c = &g_cases[i];
		const struct vmmu_fmt *f = &c->fmt;
		for (unsigned l = 1; l <= c->levels; l++) {
			where_case(c, l, "present");
			CHECK_EQ(vmmu_pte_present(f, l, 0), false);
			CHECK_EQ(vmmu_pte_rsvd(f, l, 0), 0);
			uint64_t all_but_present = ~f->level[l].present;
			CHECK_EQ(vmmu_pte_present(f, l, all_but_present), false);
			CHECK_EQ(vmmu_pte_rsvd(f, l, all_but_present), 0);
			if (c->fam == FAM_X86) {
				CHECK_EQ(f->level[l].present, BIT(0));
			} else if (c->fam == FAM_EPT) {
				/* Any of R/W/X, or UX with MBEC (§29.3.2). */
				CHECK_EQ(f->level[l].present,
					 7 | ((c->flags & VMMU_FMT_F_EPT_MBEC)
						      ? BIT(10)
						      : 0));
			}
			CHECK_EQ(vmmu_pte_is_leaf(f, 1, 0), true);
		}
	}
}

/* --- reserved bits: tables transcribed from the SDM ------------------------ */

/*
 * x86-64 4-level and 5-level paging, SDM Vol. 3A §4.5, Tables 4-14..4-20
 * (M = MAXPHYADDR; bits 62:52 are ignored/protection key, bit 63 is XD and
 * reserved only when EFER.NXE = 0, which the walker adds: not here):
 *   Table 4-14 PML5E, 4-15 PML4E: bit 7 (PS) reserved; 51:M.
 *   Table 4-16 PDPTE (1G page):  29:13 and 51:M.
 *   Table 4-17 PDPTE (-> PD):    51:M; bit 7 = 1 is a 1G page, reserved
 *                                when 1G pages are unsupported (§4.6.1).
 *   Table 4-18 PDE (2M page):    20:13 and 51:M.
 *   Table 4-19 PDE (-> PT):      51:M.
 *   Table 4-20 PTE (4K page):    51:M.
 *
 * EPT, SDM Vol. 3C §29.3.2 (M = MAXPHYADDR; bits 11, 62:52 ignored or
 * feature bits; 8/9 A/D or ignored; 10 UX or ignored):
 *   Table 29-1 PML5E, 29-2 PML4E: 7:3 reserved; 51:M.
 *   Table 29-3 PDPTE (1G page):   29:12 reserved; 51:M.
 *   Table 29-4 PDPTE (-> PD):     6:3 reserved, bit 7 = 1 is a 1G page
 *                                 (reserved without 1G support); 51:M.
 *   Table 29-5 PDE (2M page):     20:12 reserved; 51:M.
 *   Table 29-6 PDE (-> PT):       7:3 reserved (bit 7 = 1 is a 2M page).
 *   Table 29-7 PTE (4K page):     51:M (5:3 memtype, 6 IPAT, 7 ignored).
 *
 * The two differ only in: EPT table entries also reserve 6:3, and the
 * reserved address bits of an EPT 1G/2M leaf start at 12 (x86: 13, as
 * bit 12 is the PAT bit).
 */
static bool sdm_reserved(const struct fmt_case *c, unsigned level, bool leaf,
			 unsigned bit)
{
	bool ept = is_ept(c);
	unsigned large_leaf_lo = ept ? 12 : 13;

	if (bit >= c->maxphy && bit <= 51) {
		return true;
	}
	if (!leaf) {
		if (ept && bit >= 3 && bit <= 6) {
			return true;
		}
		return bit == 7 && (level >= 4 ||
				    (level == 3 && !(c->flags & VMMU_FMT_F_1G)));
	}
	if (level == 3) {
		return bit >= large_leaf_lo && bit <= 29;
	}
	if (level == 2) {
		return bit >= large_leaf_lo && bit <= 20;
	}
	return false;
}

static void check_rsvd_bits(const struct fmt_case *c, unsigned level, bool leaf)
{
	const struct vmmu_fmt *f = &c->fmt;
	uint64_t ps = level > 1 ? BIT(7) : 0;
	uint64_t base = BIT(0) | (leaf ? ps : 0); /* P, or EPT R */

	for (unsigned b = 1; b < 64; b++) {
		if (leaf && BIT(b) == ps) {
			continue;
		}
		uint64_t pte = base | BIT(b);
		/* bit 7 on a table entry where leaves are allowed makes it a
		 * leaf without other reserved bits. */
		bool rsvd = sdm_reserved(c, level, leaf, b);
		WHERE("%s L%u M=%u flags=%#x level=%u %s bit %u",
		      fam_name(c->fam), c->levels, c->maxphy, c->flags, level,
		      leaf ? "leaf" : "table", b);
		CHECK_EQ(vmmu_pte_rsvd(f, level, pte), rsvd ? BIT(b) : 0);
	}
}

static void test_reserved_bits_sdm(void **state)
{
	(void)state;
	for (size_t i = 0; i < g_ncases; i++) {
		const struct fmt_case *c = &g_cases[i];
		if (c->fam == FAM_SCRAMBLED) {
			continue;
		}
		for (unsigned l = 1; l <= c->levels; l++) {
			if (l > 1) {
				check_rsvd_bits(c, l, false);
			}
			if (leaf_allowed(c, l)) {
				check_rsvd_bits(c, l, true);
			}
		}
	}
}

static uint64_t attr_union(const struct vmmu_fmt_level *lv, unsigned l)
{
	return lv->present | lv->read | lv->write | lv->user | lv->nx |
	       lv->exec | lv->uexec | lv->accessed | lv->dirty | lv->global |
	       lv->pwt | lv->pcd | lv->pat | lv->memtype | lv->ipat | lv->pkey |
	       (l > 1 ? lv->ps : 0);
}

/* Scrambled: same semantics, moved bits. Address bits 51:M are reserved
 * wherever they do not hold an attribute; the masks report themselves. */
static void test_reserved_bits_scrambled(void **state)
{
	(void)state;
	for (size_t i = 0; i < g_ncases; i++) {
		const struct fmt_case *c = &g_cases[i];
		if (c->fam != FAM_SCRAMBLED) {
			continue;
		}
		for (unsigned l = 1; l <= c->levels; l++) {
			const struct vmmu_fmt_level *lv = &c->fmt.level[l];
			uint64_t high = bits(51, c->maxphy) & ~attr_union(lv, l);
			where_case(c, l, "scrambled rsvd");
			if (l > 1) {
				uint64_t r = lv->rsvd_table & ~lv->ps;
				vmmu_pte_t t = vmmu_pte_make_table(&c->fmt, l, 0x1000);
				CHECK_EQ(vmmu_pte_rsvd(&c->fmt, l, t | r), r);
				CHECK_EQ(lv->rsvd_table & high, high);
			}
			if (leaf_allowed(c, l)) {
				CHECK_EQ(lv->rsvd_leaf & high, high);
			} else if (lv->ps) {
				/* a PS bit where leaves are not allowed is
				 * reserved (pte.h) */
				vmmu_pte_t t = vmmu_pte_make_table(&c->fmt, l, 0x1000);
				assert_true(vmmu_pte_rsvd(&c->fmt, l, t | lv->ps) != 0);
			}
		}
	}
}

/* --- EPT misconfiguration -------------------------------------------------- */

static bool ept_leaf_misconfig_expected(const struct fmt_case *c,
					uint64_t pte)
{
	unsigned xwr = pte & 7;
	bool ux = (c->flags & VMMU_FMT_F_EPT_MBEC) && (pte & BIT(10));
	bool xonly = c->flags & VMMU_FMT_F_EPT_XONLY;

	if (xwr == 0 && !ux) {
		return false; /* not present */
	}
	if ((xwr & 3) == 2) {
		return true; /* W without R */
	}
	if (!(xwr & 1) && !xonly) {
		return true; /* X-only / UX-only */
	}
	return !ept_memtype_ok((pte >> 3) & 7);
}

static void test_ept_misconfig_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < g_ncases; i++) {
		const struct fmt_case *c = &g_cases[i];
		const struct vmmu_fmt *f = &c->fmt;
		bool xonly = c->flags & VMMU_FMT_F_EPT_XONLY;
		bool mbec = c->flags & VMMU_FMT_F_EPT_MBEC;

		if (!is_ept(c)) {
			for (unsigned l = 1; l <= c->levels; l++) {
				where_case(c, l, "misconfig non-ept");
				CHECK_EQ(vmmu_ept_misconfig(f, l, BIT(1)), false);
				CHECK_EQ(vmmu_ept_misconfig(f, l, ~0ull), false);
			}
			continue;
		}
		for (unsigned xwr = 0; xwr < 8; xwr++) {
			for (unsigned mt = 0; mt < 8; mt++) {
				for (unsigned uxb = 0; uxb < 2; uxb++) {
					uint64_t pte = xwr | (mt << 3) |
						       (uxb ? BIT(10) : 0);
					WHERE("ept M=%u flags=%#x PTE %#llx",
					      c->maxphy, c->flags,
					      (unsigned long long)pte);
					CHECK_EQ(vmmu_ept_misconfig(f, 1, pte),
						 ept_leaf_misconfig_expected(c, pte));
					uint64_t big = pte | BIT(7);
					CHECK_EQ(vmmu_ept_misconfig(f, 2, big),
						 ept_leaf_misconfig_expected(c, big));
				}
			}
		}
		where_case(c, 0, "misconfig named");
		CHECK_EQ(vmmu_ept_misconfig(f, 1, 0), false);
		CHECK_EQ(vmmu_ept_misconfig(f, 1, 0x38 | BIT(51)), false);
		CHECK_EQ(vmmu_ept_misconfig(f, 1, BIT(1)), true);
		CHECK_EQ(vmmu_ept_misconfig(f, 1, BIT(1) | BIT(2)), true);
		CHECK_EQ(vmmu_ept_misconfig(f, 1, 4 | (6 << 3)), !xonly);
		CHECK_EQ(vmmu_ept_misconfig(f, 1, 7 | (6 << 3)), false);
		CHECK_EQ(vmmu_ept_misconfig(f, 4, 7), false);
		CHECK_EQ(vmmu_ept_misconfig(f, 4, 4), !xonly);
		CHECK_EQ(vmmu_ept_misconfig(f, 4, 2), true);
		CHECK_EQ(vmmu_ept_misconfig(f, 4, 7 | BIT(4)), true);
		CHECK_EQ(vmmu_ept_misconfig(f, 4, 7 | BIT(7)), true);
		CHECK_EQ(vmmu_ept_misconfig(f, 1, BIT(10) | (6 << 3)),
			 mbec && !xonly);
		if (c->maxphy < 52) {
			CHECK_EQ(vmmu_ept_misconfig(f, 1, 7 | (6 << 3) | BIT(51)),
				 true);
			CHECK_EQ(vmmu_ept_misconfig(f, 3, 7 | BIT(c->maxphy)),
				 true);
		}
		/* 1G leaf: reserved without 1G support */
		CHECK_EQ(vmmu_ept_misconfig(f, 3, 7 | BIT(7) | (6 << 3)),
			 !(c->flags & VMMU_FMT_F_1G));
		CHECK_EQ(vmmu_ept_misconfig(f, 2, 7 | BIT(7) | (6 << 3) | BIT(12)),
			 true);
		/* every single bit on a table entry: misconfigured iff reserved */
		for (unsigned l = 2; l <= c->levels; l++) {
			for (unsigned b = 1; b < 64; b++) {
				uint64_t pte = 1 | BIT(b);
				/* R|PS where leaves are allowed is a valid
				 * leaf with memory type UC. */
				bool leaf = b == 7 && leaf_allowed(c, l);
				bool want = !leaf && sdm_reserved(c, l, false, b);
				WHERE("ept M=%u flags=%#x level %u bit %u",
				      c->maxphy, c->flags, l, b);
				CHECK_EQ(vmmu_ept_misconfig(f, l, pte), want);
			}
		}
		/* every single bit on a 4K leaf with memtype WB */
		for (unsigned b = 1; b < 64; b++) {
			uint64_t pte = 1 | (6 << 3) | BIT(b);
			bool want = sdm_reserved(c, 1, true, b) ||
				    ept_leaf_misconfig_expected(c, pte);
			WHERE("ept M=%u flags=%#x PTE bit %u", c->maxphy,
			      c->flags, b);
			CHECK_EQ(vmmu_ept_misconfig(f, 1, pte), want);
		}
	}
}

/* --- init argument checking ------------------------------------------------ */

static void test_init_rejects_bad_args(void **state)
{
	(void)state;
	struct vmmu_fmt f;
	const unsigned bad_levels[] = {0, 1, 2, 3, 6, 7, 100};
	const unsigned bad_maxphy[] = {0, 12, 32, 35, 53, 57, 64, 1000};

	WHERE("init bad args");
	for (size_t i = 0; i < sizeof(bad_levels) / sizeof(bad_levels[0]); i++) {
		CHECK_EQ(vmmu_fmt_init_x86(&f, bad_levels[i], 46, 0), -VMMU_EINVAL);
		CHECK_EQ(vmmu_fmt_init_ept(&f, bad_levels[i], 46, 0), -VMMU_EINVAL);
		CHECK_EQ(vmmu_fmt_init_scrambled(&f, bad_levels[i], 46, 0, 1),
			 -VMMU_EINVAL);
	}
	for (size_t i = 0; i < sizeof(bad_maxphy) / sizeof(bad_maxphy[0]); i++) {
		CHECK_EQ(vmmu_fmt_init_x86(&f, 4, bad_maxphy[i], 0), -VMMU_EINVAL);
		CHECK_EQ(vmmu_fmt_init_ept(&f, 4, bad_maxphy[i], 0), -VMMU_EINVAL);
		CHECK_EQ(vmmu_fmt_init_scrambled(&f, 5, bad_maxphy[i], 0, 1),
			 -VMMU_EINVAL);
	}
	/* Boundaries accepted. */
	for (unsigned m = 36; m <= 52; m++) {
		CHECK_EQ(vmmu_fmt_init_x86(&f, 4, m, 0), 0);
		CHECK_EQ(f.maxphyaddr, m);
		CHECK_EQ(vmmu_fmt_init_ept(&f, 5, m, VMMU_FMT_F_1G), 0);
		CHECK_EQ(vmmu_fmt_init_scrambled(&f, 4, m, 0, m), 0);
	}
	/* Unknown flags for the family. */
	const unsigned x86_bad[] = {VMMU_FMT_F_EPT_AD, VMMU_FMT_F_EPT_MBEC,
				    VMMU_FMT_F_EPT_XONLY, VMMU_FMT_F_SCRAMBLED,
				    1u << 4, 1u << 31};
	for (size_t i = 0; i < sizeof(x86_bad) / sizeof(x86_bad[0]); i++) {
		CHECK_EQ(vmmu_fmt_init_x86(&f, 4, 46, x86_bad[i]), -VMMU_EINVAL);
		if (x86_bad[i] != VMMU_FMT_F_SCRAMBLED) {
			CHECK_EQ(vmmu_fmt_init_scrambled(&f, 4, 46, x86_bad[i], 7),
				 -VMMU_EINVAL);
		}
	}
	const unsigned ept_bad[] = {VMMU_FMT_F_SCRAMBLED, 1u << 4, 1u << 7,
				    1u << 31};
	for (size_t i = 0; i < sizeof(ept_bad) / sizeof(ept_bad[0]); i++) {
		CHECK_EQ(vmmu_fmt_init_ept(&f, 4, 46, ept_bad[i]), -VMMU_EINVAL);
	}
	CHECK_EQ(vmmu_fmt_init_x86(NULL, 4, 46, 0), -VMMU_EINVAL);
	CHECK_EQ(vmmu_fmt_init_ept(NULL, 4, 46, 0), -VMMU_EINVAL);
	CHECK_EQ(vmmu_fmt_init_scrambled(NULL, 4, 46, 0, 1), -VMMU_EINVAL);
}

/* Different seeds really move bits; the same seed is deterministic. */
static void test_scrambled_seeds(void **state)
{
	(void)state;
	struct vmmu_fmt a, b, c;

	WHERE("scrambled seeds");
	CHECK_EQ(vmmu_fmt_init_scrambled(&a, 4, 46, VMMU_FMT_F_1G, 1), 0);
	CHECK_EQ(vmmu_fmt_init_scrambled(&b, 4, 46, VMMU_FMT_F_1G, 1), 0);
	CHECK_EQ(vmmu_fmt_init_scrambled(&c, 4, 46, VMMU_FMT_F_1G, 2), 0);
	CHECK_EQ(memcmp(a.level, b.level, sizeof(a.level)), 0);
	assert_true(memcmp(a.level, c.level, sizeof(a.level)) != 0);
	/* Bits move from level to level within one format. */
	bool moved = false;
	for (unsigned l = 2; l <= 4; l++) {
		if (a.level[l].write != a.level[1].write ||
		    a.level[l].accessed != a.level[1].accessed ||
		    a.level[l].present != a.level[1].present) {
			moved = true;
		}
	}
	assert_true(moved);
}

/* --- names, canonical checks, error strings --------------------------------- */

static void test_level_names(void **state)
{
	(void)state;
	static const char *const x86[] = {"?", "PT", "PD", "PDPT", "PML4", "PML5"};
	static const char *const ept[] = {"?", "EPT PT", "EPT PD", "EPT PDPT",
					  "EPT PML4", "EPT PML5"};

	for (size_t i = 0; i < g_ncases; i++) {
		const struct fmt_case *c = &g_cases[i];
		const char *const *names = is_ept(c) ? ept : x86;
		for (unsigned l = 1; l <= c->levels; l++) {
			where_case(c, l, "level name");
			assert_string_equal(vmmu_fmt_level_name(&c->fmt, l),
					    names[l]);
		}
		assert_string_equal(vmmu_fmt_level_name(&c->fmt, 0), "?");
		assert_string_equal(vmmu_fmt_level_name(&c->fmt, c->levels + 1), "?");
		assert_string_equal(vmmu_fmt_level_name(&c->fmt, 6), "?");
		assert_string_equal(vmmu_fmt_level_name(&c->fmt, 1000), "?");
		assert_string_equal(vmmu_fmt_level_name(&c->fmt, ~0u), "?");
	}
}

static void test_addr_ok(void **state)
{
	(void)state;
	struct vmmu_fmt x4, x5, e4, e5, s4;

	assert_int_equal(vmmu_fmt_init_x86(&x4, 4, 46, 0), 0);
	assert_int_equal(vmmu_fmt_init_x86(&x5, 5, 52, 0), 0);
	assert_int_equal(vmmu_fmt_init_ept(&e4, 4, 46, 0), 0);
	assert_int_equal(vmmu_fmt_init_ept(&e5, 5, 46, 0), 0);
	assert_int_equal(vmmu_fmt_init_scrambled(&s4, 4, 46, 0, 9), 0);
	WHERE("addr_ok");
	/* x86 4-level: bits 63:47 equal (SDM Vol. 3A §3.3.7.1). */
	CHECK_EQ(vmmu_fmt_addr_ok(&x4, 0), true);
	CHECK_EQ(vmmu_fmt_addr_ok(&x4, 0x00007fffffffffffull), true);
	CHECK_EQ(vmmu_fmt_addr_ok(&x4, 0x0000800000000000ull), false);
	CHECK_EQ(vmmu_fmt_addr_ok(&x4, 0xffff7fffffffffffull), false);
	CHECK_EQ(vmmu_fmt_addr_ok(&x4, 0xffff800000000000ull), true);
	CHECK_EQ(vmmu_fmt_addr_ok(&x4, ~0ull), true);
	CHECK_EQ(vmmu_fmt_addr_ok(&x4, BIT(63)), false);
	CHECK_EQ(vmmu_fmt_addr_ok(&x4, BIT(56)), false);
	CHECK_EQ(vmmu_fmt_addr_ok(&s4, 0x0000800000000000ull), false);
	CHECK_EQ(vmmu_fmt_addr_ok(&s4, 0xffff800000000000ull), true);
	/* x86 5-level: bits 63:56 equal. */
	CHECK_EQ(vmmu_fmt_addr_ok(&x5, 0x0000800000000000ull), true);
	CHECK_EQ(vmmu_fmt_addr_ok(&x5, 0x00ffffffffffffffull), true);
	CHECK_EQ(vmmu_fmt_addr_ok(&x5, 0x0100000000000000ull), false);
	CHECK_EQ(vmmu_fmt_addr_ok(&x5, 0xff00000000000000ull), true);
	CHECK_EQ(vmmu_fmt_addr_ok(&x5, 0xfeffffffffffffffull), false);
	CHECK_EQ(vmmu_fmt_addr_ok(&x5, 0xffff800000000000ull), true);
	/* EPT: below 2^48 / 2^57. */
	CHECK_EQ(vmmu_fmt_addr_ok(&e4, 0), true);
	CHECK_EQ(vmmu_fmt_addr_ok(&e4, BIT(48) - 1), true);
	CHECK_EQ(vmmu_fmt_addr_ok(&e4, BIT(48)), false);
	CHECK_EQ(vmmu_fmt_addr_ok(&e4, 0xffff800000000000ull), false);
	CHECK_EQ(vmmu_fmt_addr_ok(&e5, BIT(48)), true);
	CHECK_EQ(vmmu_fmt_addr_ok(&e5, BIT(57) - 1), true);
	CHECK_EQ(vmmu_fmt_addr_ok(&e5, BIT(57)), false);
	CHECK_EQ(vmmu_fmt_addr_ok(&e5, ~0ull), false);
}

static void test_strerror(void **state)
{
	(void)state;
	const char *seen[VMMU_ERR_COUNT];

	for (int e = 0; e < VMMU_ERR_COUNT; e++) {
		const char *pos = vmmu_strerror(e);
		const char *neg = vmmu_strerror(-e);
		assert_non_null(pos);
		assert_non_null(neg);
		assert_true(strlen(pos) > 0);
		assert_string_equal(pos, neg);
		seen[e] = pos;
		for (int k = 0; k < e; k++) {
			if (strcmp(seen[k], pos) == 0) {
				print_error("codes %d and %d share text '%s'\n", k, e, pos);
				fail();
			}
		}
	}
	const int unknown[] = {VMMU_ERR_COUNT, -VMMU_ERR_COUNT, 100, -100,
			       INT_MAX, INT_MIN, INT_MIN + 1};
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		const char *s = vmmu_strerror(unknown[i]);
		assert_non_null(s);
		assert_true(strlen(s) > 0);
		for (int k = 1; k < VMMU_ERR_COUNT; k++) {
			assert_string_not_equal(s, seen[k]);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_descriptor_shape),
		cmocka_unit_test(test_fields_disjoint),
		cmocka_unit_test(test_leaf_round_trip),
		cmocka_unit_test(test_leaf_pkey_cache_sweep),
		cmocka_unit_test(test_leaf_address_errors),
		cmocka_unit_test(test_leaf_named_refusals),
		cmocka_unit_test(test_table_round_trip),
		cmocka_unit_test(test_present),
		cmocka_unit_test(test_reserved_bits_sdm),
		cmocka_unit_test(test_reserved_bits_scrambled),
		cmocka_unit_test(test_ept_misconfig_table),
		cmocka_unit_test(test_init_rejects_bad_args),
		cmocka_unit_test(test_scrambled_seeds),
		cmocka_unit_test(test_level_names),
		cmocka_unit_test(test_addr_ok),
		cmocka_unit_test(test_strerror),
	};
	return cmocka_run_group_tests(tests, setup_cases, NULL);
}
