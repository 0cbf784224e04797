/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the page-table builder (pt.h): map, unmap, protect,
 * lookup and entry on every format family, large leaves, splitting, table
 * reclamation, TLB-flush requests, argument errors, and the central
 * promise: a call that fails (here: an allocation failing at every
 * possible point) changes nothing and leaks nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "test_platform.h"
#include "unit_check.h"

#define ARENA_FRAMES 4096u

/* All tests map around here: 1 GiB aligned, inside PML4 entry 0. */
#define BASE (256 * GIB)

/* --- formats ---------------------------------------------------------- */

enum family { FAM_X86, FAM_EPT, FAM_SCRAMBLED };

struct spec {
	const char *label;
	enum family fam;
	unsigned levels, maxphy, flags;
	uint32_t seed;
};

static const struct spec k_specs[] = {
	{"x86-4", FAM_X86, 4, 46, VMMU_FMT_F_1G, 0},
	{"x86-5", FAM_X86, 5, 52, VMMU_FMT_F_1G, 0},
	{"x86-4-no1g", FAM_X86, 4, 39, 0, 0},
	{"ept-4", FAM_EPT, 4, 46, VMMU_FMT_F_1G | VMMU_FMT_F_EPT_AD, 0},
	{"ept-5", FAM_EPT, 5, 39,
	 VMMU_FMT_F_1G | VMMU_FMT_F_EPT_MBEC | VMMU_FMT_F_EPT_XONLY, 0},
	{"scr-4", FAM_SCRAMBLED, 4, 46, VMMU_FMT_F_1G, 77},
	{"scr-5", FAM_SCRAMBLED, 5, 46, VMMU_FMT_F_1G, 1234},
	{"scr-4-no1g", FAM_SCRAMBLED, 4, 40, 0, 99},
};
#define NSPECS (sizeof(k_specs) / sizeof(k_specs[0]))

struct env {
	const struct spec *spec;
	struct test_platform tp;
	struct vmmu_fmt fmt;
	struct vmmu_pt pt;
	struct vmmu_prot a, b, c; /* three distinct valid prots */
};

static bool spec_has_1g(const struct spec *s)
{
	return s->flags & VMMU_FMT_F_1G;
}

static bool has_1g(const struct env *e)
{
	return spec_has_1g(e->spec);
}

static void fmt_from_spec(const struct spec *s, struct vmmu_fmt *fmt)
{
	int rc = -1;

	switch (s->fam) {
	case FAM_X86:
		rc = vmmu_fmt_init_x86(fmt, s->levels, s->maxphy, s->flags);
		break;
	case FAM_EPT:
		rc = vmmu_fmt_init_ept(fmt, s->levels, s->maxphy, s->flags);
		break;
	case FAM_SCRAMBLED:
		rc = vmmu_fmt_init_scrambled(fmt, s->levels, s->maxphy, s->flags,
					     s->seed);
		break;
	}
	assert_int_equal(rc, 0);
}

static void set_prots(struct env *e)
{
	if (e->spec->fam == FAM_EPT) {
		e->a = (struct vmmu_prot){.perm = VMMU_PERM_R | VMMU_PERM_W | VMMU_PERM_X,
					  .cache = 6};
		e->b = (struct vmmu_prot){.perm = VMMU_PERM_R, .cache = 6};
		e->c = (struct vmmu_prot){.perm = VMMU_PERM_R | VMMU_PERM_W,
					  .cache = 5, .flags = VMMU_PROT_IPAT};
		if (e->spec->flags & VMMU_FMT_F_EPT_AD) {
			e->c.flags |= VMMU_PROT_ACCESSED | VMMU_PROT_DIRTY;
		}
	} else {
		e->a = (struct vmmu_prot){.perm = VMMU_PERM_R | VMMU_PERM_W |
						  VMMU_PERM_U | VMMU_PERM_X};
		e->b = (struct vmmu_prot){.perm = VMMU_PERM_R | VMMU_PERM_U};
		/* PAT index 4 (the PAT bit alone: bit 7 in a PTE, 12 in a
		 * PDE/PDPTE), key 7, global, accessed, dirty. */
		e->c = (struct vmmu_prot){.perm = VMMU_PERM_R | VMMU_PERM_W,
					  .cache = 4, .pkey = 7,
					  .flags = VMMU_PROT_GLOBAL |
						   VMMU_PROT_ACCESSED |
						   VMMU_PROT_DIRTY};
	}
}

static void env_init(struct env *e, const struct spec *s, bool mapped)
{
	memset(e, 0, sizeof(*e));
	e->spec = s;
	if (mapped) {
		test_platform_init_mapped(&e->tp, ARENA_FRAMES);
	} else {
		test_platform_init(&e->tp, ARENA_FRAMES);
	}
	fmt_from_spec(s, &e->fmt);
	set_prots(e);
	WHERE("%s%s init", s->label, mapped ? " mapped" : "");
	CHECK_EQ(vmmu_pt_init(&e->pt, &e->fmt, &e->tp.plat), 0);
	CHECK_EQ(e->pt.table_count, 1);
	CHECK_EQ(e->tp.live, 1);
}

static void env_fini(struct env *e)
{
	vmmu_pt_destroy(&e->pt);
	CHECK_EQ(e->tp.live, 0);
	CHECK_EQ(e->tp.allocs, e->tp.frees);
	CHECK_EQ(e->tp.maps, e->tp.unmaps);
	test_platform_fini(&e->tp);
}

/* Every tree frame is a live platform frame, so the two counts agree. */
static void check_no_leak(const struct env *e)
{
	CHECK_EQ(e->tp.live, e->pt.table_count);
}

/* --- running a scenario on every format ------------------------------- */

/* A scenario works on a fresh environment; env_fini then checks for leaks. */
typedef void (*scenario_fn)(struct env *e);

/*
 * Run `scenario` once per format, each time on a fresh environment: only
 * formats with 1G leaves if `needs_1g`, table access through the
 * frame_map hooks if `mapped`.
 */
static void run_on_specs(scenario_fn scenario, bool needs_1g, bool mapped)
{
	for (size_t i = 0; i < NSPECS; i++) {
		if (needs_1g && !spec_has_1g(&k_specs[i])) {
			continue;
		}
		struct env e;
		env_init(&e, &k_specs[i], mapped);
		scenario(&e);
		env_fini(&e);
	}
}

static void run_on_every_spec(scenario_fn scenario)
{
	run_on_specs(scenario, false, false);
}

static void run_on_specs_with_1g(scenario_fn scenario)
{
	run_on_specs(scenario, true, false);
}

static void run_on_every_spec_mapped(scenario_fn scenario)
{
	run_on_specs(scenario, false, true);
}

/* --- checking mappings ------------------------------------------------ */

static void check_root_empty(const struct env *e)
{
	const vmmu_pte_t *root = test_platform_ptr(&e->tp, e->pt.root.v);

	for (unsigned k = 0; k < VMMU_PT_ENTRIES; k++) {
		CHECK_EQ(vmmu_pte_present(&e->fmt, e->fmt.levels, root[k]), false);
	}
}

static void check_prot_eq(const struct vmmu_prot *got,
			  const struct vmmu_prot *want)
{
	CHECK_EQ(got->perm, want->perm);
	CHECK_EQ(got->cache, want->cache);
	CHECK_EQ(got->pkey, want->pkey);
	CHECK_EQ(got->flags, want->flags);
}

static void check_page(const struct env *e, uint64_t in, uint64_t out,
		       const struct vmmu_prot *prot, unsigned level)
{
	uint64_t got = ~0ull;
	struct vmmu_prot p;
	unsigned lvl = 99;

	memset(&p, 0xee, sizeof(p));
	CHECK_EQ(vmmu_pt_lookup(&e->pt, in + 0x123, &got, &p, &lvl), 0);
	CHECK_EQ(got, out + 0x123);
	CHECK_EQ(lvl, level);
	check_prot_eq(&p, prot);
	/* all outputs are optional */
	CHECK_EQ(vmmu_pt_lookup(&e->pt, in, NULL, NULL, NULL), 0);
}

/* Pages of [in, in+size) at the given indices: a few spread ones. */
static void sample_pages(uint64_t size, uint64_t *idx, size_t *n)
{
	uint64_t pages = size / PAGE;
	*n = 0;
	if (pages <= 16) {
		for (uint64_t i = 0; i < pages; i++) {
			idx[(*n)++] = i;
		}
		return;
	}
	const uint64_t picks[] = {0, 1, 511, 512, 513, pages / 3, pages / 2,
				  pages - 513, pages - 512, pages - 2, pages - 1};
	for (size_t i = 0; i < sizeof(picks) / sizeof(picks[0]); i++) {
		if (picks[i] < pages) {
			idx[(*n)++] = picks[i];
		}
	}
}

static void check_range(const struct env *e, uint64_t in, uint64_t out,
			uint64_t size, const struct vmmu_prot *prot,
			unsigned level)
{
	uint64_t idx[16];
	size_t n;

	sample_pages(size, idx, &n);
	for (size_t i = 0; i < n; i++) {
		check_page(e, in + idx[i] * PAGE, out + idx[i] * PAGE, prot,
			   level);
	}
}

static void check_unmapped(const struct env *e, uint64_t in, uint64_t size)
{
	uint64_t idx[16];
	size_t n;

	sample_pages(size, idx, &n);
	for (size_t i = 0; i < n; i++) {
		uint64_t out = 0xabcd;
		CHECK_EQ(vmmu_pt_lookup(&e->pt, in + idx[i] * PAGE, &out, NULL,
					NULL),
			 -VMMU_ENOENT);
	}
}

static void check_flush(const struct env *e, uint64_t flushes_before,
			uint64_t addr, uint64_t size)
{
	CHECK_EQ(e->tp.flushes, flushes_before + 1);
	CHECK_EQ(e->tp.last_flush.scope, VMMU_TLB_RANGE);
	CHECK_EQ(e->tp.last_flush.addr, addr);
	CHECK_EQ(e->tp.last_flush.size, size);
	CHECK_EQ(e->tp.last_flush.cpu_mask_words, 0);
	CHECK_EQ(e->tp.last_flush.cpu_mask == NULL, true);
}

/*
 * What protect leaves in a page: the new prot, plus the accessed/dirty
 * state the page already had (protect keeps hardware-set A/D).
 */
static struct vmmu_prot protected_prot(const struct vmmu_prot *new_prot,
				       const struct vmmu_prot *old_prot)
{
	struct vmmu_prot p = *new_prot;
	p.flags |= old_prot->flags & (VMMU_PROT_ACCESSED | VMMU_PROT_DIRTY);
	return p;
}

/* --- snapshots of the raw tree ---------------------------------------- */

struct snap {
	size_t n, cap;
	uint64_t *pa;
	uint8_t *data;
};

static void snap_add(struct snap *s, const struct env *e, uint64_t pa)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 64;
		s->pa = realloc(s->pa, s->cap * sizeof(*s->pa));
		s->data = realloc(s->data, s->cap * PAGE);
		assert_non_null(s->pa);
		assert_non_null(s->data);
	}
	s->pa[s->n] = pa;
	memcpy(s->data + s->n * PAGE, test_platform_ptr(&e->tp, pa), PAGE);
	s->n++;
}

static void snap_visit(struct snap *s, const struct env *e, unsigned level,
		       uint64_t pa)
{
	uint64_t fn = pa / PAGE;

	/* A tree frame must be a live frame of this platform. */
	CHECK_EQ(pa % PAGE, 0);
	assert_true(fn > 0 && fn < e->tp.frames);
	CHECK_EQ(e->tp.in_use[fn], 1);
	snap_add(s, e, pa);
	if (level == 1) {
		return;
	}
	const vmmu_pte_t *t = test_platform_ptr(&e->tp, pa);
	for (unsigned i = 0; i < VMMU_PT_ENTRIES; i++) {
		if (vmmu_pte_present(&e->fmt, level, t[i]) &&
		    !vmmu_pte_is_leaf(&e->fmt, level, t[i])) {
			snap_visit(s, e, level - 1,
				   vmmu_pte_addr(&e->fmt, level, t[i]));
		}
	}
}

static void snap_take(struct snap *s, const struct env *e)
{
	memset(s, 0, sizeof(*s));
	snap_visit(s, e, e->fmt.levels, e->pt.root.v);
	/* table_count counts exactly the reachable frames */
	CHECK_EQ(s->n, e->pt.table_count);
}

static void snap_free(struct snap *s)
{
	free(s->pa);
	free(s->data);
	memset(s, 0, sizeof(*s));
}

static void check_unchanged(const struct env *e, const struct snap *before)
{
	struct snap now;

	snap_take(&now, e);
	CHECK_EQ(now.n, before->n);
	if (now.n == before->n) {
		CHECK_EQ(memcmp(now.pa, before->pa, now.n * sizeof(*now.pa)), 0);
		for (size_t i = 0; i < now.n; i++) {
			if (memcmp(now.data + i * PAGE, before->data + i * PAGE,
				   PAGE) != 0) {
				print_error("[%s] table %#llx changed\n", g_where,
					    (unsigned long long)now.pa[i]);
				fail();
			}
		}
	}
	snap_free(&now);
}

/* --- init / destroy ---------------------------------------------------- */

static void fresh_tree_is_empty(struct env *e)
{
	check_root_empty(e);
	CHECK_EQ(e->pt.fmt == &e->fmt, true);
	CHECK_EQ(e->pt.plat == &e->tp.plat, true);
	CHECK_EQ(e->tp.flushes, 0);
}

static void test_init_destroy(void **state)
{
	(void)state;
	run_on_every_spec(fresh_tree_is_empty);
}

static void test_init_errors(void **state)
{
	(void)state;
	struct test_platform tp;
	struct vmmu_fmt fmt;
	struct vmmu_pt pt;
	struct vmmu_platform bad;

	test_platform_init(&tp, 64);
	assert_int_equal(vmmu_fmt_init_x86(&fmt, 4, 46, 0), 0);
	WHERE("init errors");
	CHECK_EQ(vmmu_pt_init(NULL, &fmt, &tp.plat), -VMMU_EINVAL);
	CHECK_EQ(vmmu_pt_init(&pt, NULL, &tp.plat), -VMMU_EINVAL);
	CHECK_EQ(vmmu_pt_init(&pt, &fmt, NULL), -VMMU_EINVAL);
	bad = tp.plat;
	bad.ops = NULL;
	CHECK_EQ(vmmu_pt_init(&pt, &fmt, &bad), -VMMU_EINVAL);
	bad = tp.plat;
	bad.direct_map_size = 0;
	CHECK_EQ(vmmu_pt_init(&pt, &fmt, &bad), -VMMU_EINVAL);
	CHECK_EQ(tp.alloc_calls, 0);
	tp.fail_at = 1;
	CHECK_EQ(vmmu_pt_init(&pt, &fmt, &tp.plat), -VMMU_ENOMEM);
	CHECK_EQ(tp.live, 0);
	CHECK_EQ(tp.alloc_calls, 1);
	test_platform_fini(&tp);
}

/* --- map / lookup -------------------------------------------------------- */

static void map_4k_pages_and_look_up(struct env *e)
{
	unsigned L = e->fmt.levels;
	uint64_t in = BASE + 0x5000, out = 0x1234000;

	WHERE("%s map 4k", e->spec->label);
	CHECK_EQ(vmmu_pt_map(&e->pt, in, out, PAGE, &e->a, 0), 0);
	CHECK_EQ(e->pt.table_count, L);
	check_no_leak(e);
	check_page(e, in, out, &e->a, 1);
	check_unmapped(e, in - PAGE, PAGE);
	check_unmapped(e, in + PAGE, PAGE);
	check_unmapped(e, in + GIB, PAGE);
	/* an adjacent page reuses the tables */
	CHECK_EQ(vmmu_pt_map(&e->pt, in + PAGE, 0x777000, PAGE, &e->b, 0), 0);
	CHECK_EQ(e->pt.table_count, L);
	check_page(e, in + PAGE, 0x777000, &e->b, 1);
	check_page(e, in, out, &e->a, 1);
	/* the next 1 GiB needs a new PD and PT */
	CHECK_EQ(vmmu_pt_map(&e->pt, in + GIB, out, PAGE, &e->c, 0), 0);
	CHECK_EQ(e->pt.table_count, L + 2);
	check_page(e, in + GIB, out, &e->c, 1);
	/* the next PML4 entry: PDPT, PD, PT */
	CHECK_EQ(vmmu_pt_map(&e->pt, 512 * GIB, 0, PAGE, &e->a, 0), 0);
	CHECK_EQ(e->pt.table_count, L + 5);
	check_page(e, 512 * GIB, 0, &e->a, 1);
	check_no_leak(e);
	/* a fresh mapping needs no TLB flush */
	CHECK_EQ(e->tp.flushes, 0);
}

static void test_map_4k_lookup(void **state)
{
	(void)state;
	run_on_every_spec(map_4k_pages_and_look_up);
}

struct leaf_case {
	const char *what;
	uint64_t in, out, size;
	unsigned flags;
};

static void run_leaf_case(const struct spec *s, const struct leaf_case *lc,
			  unsigned want_level, uint64_t want_tables)
{
	struct env e;
	env_init(&e, s, false);
	WHERE("%s %s", s->label, lc->what);
	CHECK_EQ(vmmu_pt_map(&e.pt, lc->in, lc->out, lc->size, &e.c, lc->flags), 0);
	CHECK_EQ(e.pt.table_count, want_tables);
	check_no_leak(&e);
	check_range(&e, lc->in, lc->out, lc->size, &e.c, want_level);
	check_unmapped(&e, lc->in - PAGE, PAGE);
	check_unmapped(&e, lc->in + lc->size, PAGE);
	env_fini(&e);
}

static void test_large_leaves(void **state)
{
	(void)state;
	for (size_t i = 0; i < NSPECS; i++) {
		const struct spec *s = &k_specs[i];
		bool g1 = s->flags & VMMU_FMT_F_1G;
		uint64_t L = s->levels;
		const struct leaf_case c2m = {"2M", BASE + 2 * MIB, 6 * MIB, 2 * MIB, 0};
		const struct leaf_case c1g = {"1G", BASE + GIB, 3 * GIB, GIB, 0};
		const struct leaf_case c1g_no = {"1G NO_1G", BASE + GIB, 3 * GIB, GIB,
						 VMMU_PT_NO_1G};
		const struct leaf_case c2m_4k = {"2M 4K_ONLY", BASE + 2 * MIB, 6 * MIB,
						 2 * MIB, VMMU_PT_4K_ONLY};
		const struct leaf_case c1g_4k = {"1G 4K_ONLY", BASE + GIB, 3 * GIB, GIB,
						 VMMU_PT_4K_ONLY};
		const struct leaf_case mis = {"2M out misaligned", BASE + 2 * MIB,
					      6 * MIB + PAGE, 2 * MIB, 0};
		const struct leaf_case mis1g = {"1G out 2M-aligned", BASE + GIB,
						3 * GIB + 2 * MIB, GIB, 0};

		run_leaf_case(s, &c2m, 2, L - 1);
		run_leaf_case(s, &c1g, g1 ? 3 : 2, g1 ? L - 2 : L - 1);
		run_leaf_case(s, &c1g_no, 2, L - 1);
		run_leaf_case(s, &c2m_4k, 1, L);
		run_leaf_case(s, &c1g_4k, 1, L - 1 + 512);
		run_leaf_case(s, &mis, 1, L);
		run_leaf_case(s, &mis1g, 2, L - 1);
	}
}

/* [2M-4K, 4M+4K): a 4K page, a 2M leaf, a 4K page. */
static void map_4k_2m_4k_in_one_call(struct env *e)
{
	uint64_t L = e->fmt.levels;
	uint64_t in = BASE + 2 * MIB - PAGE, out = 64 * MIB - PAGE;

	WHERE("%s mixed", e->spec->label);
	CHECK_EQ(vmmu_pt_map(&e->pt, in, out, 2 * MIB + 2 * PAGE, &e->a, 0), 0);
	CHECK_EQ(e->pt.table_count, L + 1);
	check_page(e, in, out, &e->a, 1);
	check_range(e, in + PAGE, out + PAGE, 2 * MIB, &e->a, 2);
	check_page(e, in + PAGE + 2 * MIB, out + PAGE + 2 * MIB, &e->a, 1);
	check_unmapped(e, in - PAGE, PAGE);
	check_unmapped(e, in + 2 * MIB + 2 * PAGE, PAGE);
	check_no_leak(e);
}

static void test_mixed_leaves(void **state)
{
	(void)state;
	run_on_every_spec(map_4k_2m_4k_in_one_call);
}

/* 1G + 2M + 4K in one call: each part takes the largest leaf that fits. */
static void map_takes_largest_leaf_that_fits(struct env *e)
{
	bool g1 = has_1g(e);
	uint64_t in = BASE + GIB, out = 8 * GIB;
	uint64_t size = GIB + 2 * MIB + PAGE;

	WHERE("%s largest leaf", e->spec->label);
	CHECK_EQ(vmmu_pt_map(&e->pt, in, out, size, &e->b, 0), 0);
	check_range(e, in, out, GIB, &e->b, g1 ? 3 : 2);
	check_range(e, in + GIB, out + GIB, 2 * MIB, &e->b, 2);
	check_page(e, in + GIB + 2 * MIB, out + GIB + 2 * MIB, &e->b, 1);
	check_unmapped(e, in + size, PAGE);
	check_no_leak(e);
}

static void test_largest_leaf_choice(void **state)
{
	(void)state;
	run_on_every_spec(map_takes_largest_leaf_that_fits);
}

/* --- overlap and replace ----------------------------------------------- */

/* map with VMMU_PT_REPLACE succeeds and asks for one flush of the range. */
static void replace_with_flush(struct env *e, uint64_t in, uint64_t out,
			       uint64_t size, const struct vmmu_prot *prot)
{
	uint64_t f0 = e->tp.flushes;

	CHECK_EQ(vmmu_pt_map(&e->pt, in, out, size, prot, VMMU_PT_REPLACE), 0);
	check_flush(e, f0, in, size);
}

static void map_over_mapping_fails_or_replaces(struct env *e)
{
	struct snap before;
	uint64_t in = BASE + 4 * MIB, out = 32 * MIB;

	WHERE("%s exist", e->spec->label);
	CHECK_EQ(vmmu_pt_map(&e->pt, in, out, 2 * MIB, &e->c, 0), 0);
	uint64_t tc = e->pt.table_count;
	snap_take(&before, e);
	CHECK_EQ(vmmu_pt_map(&e->pt, in + 8 * PAGE, 0, PAGE, &e->a, 0),
		 -VMMU_EEXIST);
	CHECK_EQ(vmmu_pt_map(&e->pt, in - PAGE, 0, 2 * PAGE, &e->a, 0),
		 -VMMU_EEXIST);
	CHECK_EQ(vmmu_pt_map(&e->pt, in + 2 * MIB - PAGE, 0, 2 * PAGE, &e->a,
			     VMMU_PT_4K_ONLY),
		 -VMMU_EEXIST);
	CHECK_EQ(vmmu_pt_map(&e->pt, in - GIB, 0, 2 * GIB, &e->a, 0),
		 -VMMU_EEXIST);
	CHECK_EQ(e->pt.table_count, tc);
	check_no_leak(e);
	check_unchanged(e, &before);
	snap_free(&before);
	CHECK_EQ(e->tp.flushes, 0);

	WHERE("%s replace 4K inside 2M", e->spec->label);
	replace_with_flush(e, in + 8 * PAGE, 0x5000, PAGE, &e->a);
	CHECK_EQ(e->pt.table_count, tc + 1);
	check_no_leak(e);
	check_page(e, in + 8 * PAGE, 0x5000, &e->a, 1);
	check_range(e, in, out, 8 * PAGE, &e->c, 1);
	check_range(e, in + 9 * PAGE, out + 9 * PAGE, 2 * MIB - 9 * PAGE,
		    &e->c, 1);

	WHERE("%s replace back with 2M", e->spec->label);
	replace_with_flush(e, in, 64 * MIB, 2 * MIB, &e->b);
	CHECK_EQ(e->pt.table_count, tc);
	check_no_leak(e);
	check_range(e, in, 64 * MIB, 2 * MIB, &e->b, 2);

	WHERE("%s replace partly mapped range", e->spec->label);
	replace_with_flush(e, in - PAGE, 0x100000, 2 * PAGE, &e->a);
	check_range(e, in - PAGE, 0x100000, 2 * PAGE, &e->a, 1);
	check_range(e, in + PAGE, 64 * MIB + PAGE, 2 * MIB - PAGE, &e->b, 1);
	check_no_leak(e);
}

static void test_exist_and_replace(void **state)
{
	(void)state;
	run_on_every_spec(map_over_mapping_fails_or_replaces);
}

/* --- unmap ------------------------------------------------------------- */

static void unmap_inside_2m_splits_it(struct env *e)
{
	uint64_t in = BASE + 6 * MIB, out = 10 * MIB;

	WHERE("%s unmap in 2M", e->spec->label);
	CHECK_EQ(vmmu_pt_map(&e->pt, in, out, 2 * MIB, &e->c, 0), 0);
	uint64_t tc = e->pt.table_count, f0 = e->tp.flushes;
	CHECK_EQ(vmmu_pt_unmap(&e->pt, in + 100 * PAGE, 3 * PAGE), 0);
	check_flush(e, f0, in + 100 * PAGE, 3 * PAGE);
	CHECK_EQ(e->pt.table_count, tc + 1);
	check_no_leak(e);
	/* the split keeps every attribute (x86: the PAT bit moves from
	 * bit 12 to bit 7) */
	check_range(e, in, out, 100 * PAGE, &e->c, 1);
	check_unmapped(e, in + 100 * PAGE, 3 * PAGE);
	check_range(e, in + 103 * PAGE, out + 103 * PAGE,
		    2 * MIB - 103 * PAGE, &e->c, 1);
}

static void test_unmap_splits_2m(void **state)
{
	(void)state;
	run_on_every_spec(unmap_inside_2m_splits_it);
}

static void unmap_inside_1g_splits_both_ends(struct env *e)
{
	uint64_t in = BASE + GIB, out = 5 * GIB;
	uint64_t lo = 2 * MIB + PAGE, hi = GIB - 2 * MIB - PAGE;

	WHERE("%s unmap in 1G", e->spec->label);
	CHECK_EQ(vmmu_pt_map(&e->pt, in, out, GIB, &e->c, 0), 0);
	uint64_t tc = e->pt.table_count, f0 = e->tp.flushes;
	CHECK_EQ(vmmu_pt_unmap(&e->pt, in + lo, hi - lo), 0);
	check_flush(e, f0, in + lo, hi - lo);
	CHECK_EQ(e->pt.table_count, tc + 3); /* PD + two PTs */
	check_no_leak(e);
	check_range(e, in, out, 2 * MIB, &e->c, 2);
	check_page(e, in + 2 * MIB, out + 2 * MIB, &e->c, 1);
	check_unmapped(e, in + lo, hi - lo);
	check_page(e, in + hi, out + hi, &e->c, 1);
	check_range(e, in + GIB - 2 * MIB, out + GIB - 2 * MIB, 2 * MIB,
		    &e->c, 2);
}

static void test_unmap_splits_1g_both_ends(void **state)
{
	(void)state;
	run_on_specs_with_1g(unmap_inside_1g_splits_both_ends);
}

static void unmap_frees_emptied_tables(struct env *e)
{
	uint64_t L = e->fmt.levels;

	WHERE("%s unmap frees", e->spec->label);
	CHECK_EQ(vmmu_pt_map(&e->pt, BASE, 0, PAGE, &e->a, 0), 0);
	CHECK_EQ(vmmu_pt_map(&e->pt, BASE + GIB, 0, PAGE, &e->a, 0), 0);
	CHECK_EQ(e->pt.table_count, L + 2);
	CHECK_EQ(vmmu_pt_unmap(&e->pt, BASE, PAGE), 0);
	CHECK_EQ(e->pt.table_count, L); /* its PD and PT went */
	check_no_leak(e);
	check_page(e, BASE + GIB, 0, &e->a, 1);

	/* a mix of everything, then one unmap over it all, holes included */
	CHECK_EQ(vmmu_pt_map(&e->pt, BASE + 2 * GIB, 0, GIB + 2 * MIB + PAGE,
			     &e->b, 0),
		 0);
	CHECK_EQ(vmmu_pt_map(&e->pt, 512 * GIB - PAGE, 0, 2 * PAGE, &e->c, 0),
		 0);
	uint64_t f0 = e->tp.flushes;
	CHECK_EQ(vmmu_pt_unmap(&e->pt, BASE - GIB, 512 * GIB), 0);
	check_flush(e, f0, BASE - GIB, 512 * GIB);
	CHECK_EQ(e->pt.table_count, 1);
	CHECK_EQ(e->tp.live, 1);
	check_root_empty(e);
	/* unmapping holes only is fine */
	CHECK_EQ(vmmu_pt_unmap(&e->pt, BASE, 4 * GIB), 0);
	CHECK_EQ(e->pt.table_count, 1);
	/* the tree is still usable */
	CHECK_EQ(vmmu_pt_map(&e->pt, BASE, 0, 2 * MIB, &e->a, 0), 0);
	check_range(e, BASE, 0, 2 * MIB, &e->a, 2);
}

static void test_unmap_frees_tables(void **state)
{
	(void)state;
	run_on_every_spec(unmap_frees_emptied_tables);
}

/* destroy frees a full tree. */
static void destroy_frees_full_tree(struct env *e)
{
	WHERE("%s destroy", e->spec->label);
	CHECK_EQ(vmmu_pt_map(&e->pt, BASE, 0, 4 * MIB, &e->a, VMMU_PT_4K_ONLY), 0);
	CHECK_EQ(vmmu_pt_map(&e->pt, BASE + GIB, 0, GIB, &e->a, 0), 0);
	CHECK_EQ(vmmu_pt_map(&e->pt, 513 * GIB, 0, PAGE, &e->a, 0), 0);
	check_no_leak(e);
}

static void test_destroy_full_tree(void **state)
{
	(void)state;
	run_on_every_spec(destroy_frees_full_tree);
}

/* --- protect ------------------------------------------------------------ */

static void protect_whole_and_part_of_leaf(struct env *e)
{
	struct snap before;
	uint64_t in = BASE + 8 * MIB, out = 20 * MIB;

	WHERE("%s protect", e->spec->label);
	CHECK_EQ(vmmu_pt_map(&e->pt, in, out, 2 * MIB, &e->a, 0), 0);
	uint64_t tc = e->pt.table_count, f0 = e->tp.flushes;
	CHECK_EQ(vmmu_pt_protect(&e->pt, in, 2 * MIB, &e->b), 0);
	check_flush(e, f0, in, 2 * MIB);
	CHECK_EQ(e->pt.table_count, tc); /* whole leaf: no split */
	check_range(e, in, out, 2 * MIB, &e->b, 2);

	WHERE("%s protect split", e->spec->label);
	f0 = e->tp.flushes;
	CHECK_EQ(vmmu_pt_protect(&e->pt, in + 5 * PAGE, 2 * PAGE, &e->c), 0);
	check_flush(e, f0, in + 5 * PAGE, 2 * PAGE);
	CHECK_EQ(e->pt.table_count, tc + 1);
	check_no_leak(e);
	check_range(e, in, out, 5 * PAGE, &e->b, 1);
	check_range(e, in + 5 * PAGE, out + 5 * PAGE, 2 * PAGE, &e->c, 1);
	check_range(e, in + 7 * PAGE, out + 7 * PAGE, 2 * MIB - 7 * PAGE,
		    &e->b, 1);

	WHERE("%s protect partly unmapped", e->spec->label);
	snap_take(&before, e);
	f0 = e->tp.flushes;
	CHECK_EQ(vmmu_pt_protect(&e->pt, in - PAGE, 2 * PAGE, &e->a),
		 -VMMU_ENOENT);
	CHECK_EQ(vmmu_pt_protect(&e->pt, in + 2 * MIB - PAGE, 2 * PAGE, &e->a),
		 -VMMU_ENOENT);
	CHECK_EQ(vmmu_pt_protect(&e->pt, in, 4 * MIB, &e->a), -VMMU_ENOENT);
	CHECK_EQ(vmmu_pt_protect(&e->pt, in + GIB, PAGE, &e->a), -VMMU_ENOENT);
	CHECK_EQ(e->tp.flushes, f0);
	check_unchanged(e, &before);
	check_no_leak(e);

	WHERE("%s protect bad prot", e->spec->label);
	struct vmmu_prot bad = e->a;
	bad.perm = VMMU_PERM_W;
	CHECK_EQ(vmmu_pt_protect(&e->pt, in, PAGE, &bad), -VMMU_EINVAL);
	CHECK_EQ(vmmu_pt_protect(&e->pt, in, PAGE, NULL), -VMMU_EINVAL);
	check_unchanged(e, &before);
	snap_free(&before);
}

static void test_protect(void **state)
{
	(void)state;
	run_on_every_spec(protect_whole_and_part_of_leaf);
}

/* Protect inside a 1G leaf splits 1G -> 2M -> 4K; the rest keeps its prot. */
static void protect_inside_1g_splits_to_4k(struct env *e)
{
	uint64_t in = BASE + GIB, out = 7 * GIB, at = 6 * MIB + PAGE;

	WHERE("%s protect in 1G", e->spec->label);
	CHECK_EQ(vmmu_pt_map(&e->pt, in, out, GIB, &e->c, 0), 0);
	uint64_t tc = e->pt.table_count;
	struct vmmu_prot bc = protected_prot(&e->b, &e->c);
	CHECK_EQ(vmmu_pt_protect(&e->pt, in + at, PAGE, &e->b), 0);
	CHECK_EQ(e->pt.table_count, tc + 2);
	check_page(e, in + at, out + at, &bc, 1);
	check_page(e, in + at - PAGE, out + at - PAGE, &e->c, 1);
	check_page(e, in + at + PAGE, out + at + PAGE, &e->c, 1);
	check_range(e, in, out, 6 * MIB, &e->c, 2);
	check_range(e, in + 8 * MIB, out + 8 * MIB, GIB - 8 * MIB, &e->c, 2);
	check_no_leak(e);
}

static void test_protect_splits_1g(void **state)
{
	(void)state;
	run_on_specs_with_1g(protect_inside_1g_splits_to_4k);
}

/* --- argument errors --------------------------------------------------- */

static void check_all_fail(struct env *e, uint64_t in, uint64_t out,
			   uint64_t size, int want_map, int want_other)
{
	CHECK_EQ(vmmu_pt_map(&e->pt, in, out, size, &e->a, 0), want_map);
	CHECK_EQ(vmmu_pt_map(&e->pt, in, out, size, &e->a, VMMU_PT_REPLACE),
		 want_map);
	if (want_other != 0) {
		CHECK_EQ(vmmu_pt_unmap(&e->pt, in, size), want_other);
		CHECK_EQ(vmmu_pt_protect(&e->pt, in, size, &e->b), want_other);
	}
}

static void bad_arguments_change_nothing(struct env *e)
{
	struct snap before;
	bool ept = e->spec->fam == FAM_EPT;
	uint64_t top_in = ept ? 1ull << e->fmt.va_bits
			      : 1ull << (e->fmt.va_bits - 1);
	uint64_t top_out = 1ull << e->fmt.maxphyaddr;

	CHECK_EQ(vmmu_pt_map(&e->pt, BASE, 0, 2 * MIB, &e->a, 0), 0);
	snap_take(&before, e);
	uint64_t f0 = e->tp.flushes;

	WHERE("%s alignment", e->spec->label);
	check_all_fail(e, BASE + 0x800, 0, PAGE, -VMMU_EALIGN, -VMMU_EALIGN);
	check_all_fail(e, BASE + 1, 0, PAGE, -VMMU_EALIGN, -VMMU_EALIGN);
	check_all_fail(e, BASE, 0, PAGE + 1, -VMMU_EALIGN, -VMMU_EALIGN);
	check_all_fail(e, BASE, 0, 0x800, -VMMU_EALIGN, -VMMU_EALIGN);
	check_all_fail(e, BASE + GIB, 0x10, PAGE, -VMMU_EALIGN, 0);
	WHERE("%s size 0", e->spec->label);
	check_all_fail(e, BASE, 0, 0, -VMMU_EINVAL, -VMMU_EINVAL);
	WHERE("%s input range", e->spec->label);
	check_all_fail(e, top_in, 0, PAGE, -VMMU_ERANGE, -VMMU_ERANGE);
	check_all_fail(e, top_in - PAGE, 0, 2 * PAGE, -VMMU_ERANGE,
		       -VMMU_ERANGE);
	check_all_fail(e, 1ull << 63, 0, PAGE, -VMMU_ERANGE, -VMMU_ERANGE);
	if (!ept) {
		/* the lower half of the non-canonical hole */
		check_all_fail(e, ~0ull - top_in + 1 - PAGE, 0, PAGE,
			       -VMMU_ERANGE, -VMMU_ERANGE);
	}
	WHERE("%s wrap-around", e->spec->label);
	check_all_fail(e, ~0ull - PAGE + 1, 0, 2 * PAGE, -VMMU_ERANGE,
		       -VMMU_ERANGE);
	check_all_fail(e, BASE, 0, ~0ull - PAGE + 1, -VMMU_ERANGE,
		       -VMMU_ERANGE);
	WHERE("%s output range", e->spec->label);
	check_all_fail(e, BASE + GIB, top_out, PAGE, -VMMU_ERANGE, 0);
	check_all_fail(e, BASE + GIB, top_out - PAGE, 2 * PAGE,
		       -VMMU_ERANGE, 0);
	check_all_fail(e, BASE + GIB, ~0ull - PAGE + 1, 2 * PAGE,
		       -VMMU_ERANGE, 0);
	WHERE("%s prot and flags", e->spec->label);
	struct vmmu_prot bad = e->a;
	bad.perm = VMMU_PERM_W;
	CHECK_EQ(vmmu_pt_map(&e->pt, BASE + GIB, 0, PAGE, &bad, 0), -VMMU_EINVAL);
	bad = e->a;
	bad.cache = 200;
	CHECK_EQ(vmmu_pt_map(&e->pt, BASE + GIB, 0, PAGE, &bad, 0), -VMMU_EINVAL);
	CHECK_EQ(vmmu_pt_map(&e->pt, BASE + GIB, 0, PAGE, NULL, 0), -VMMU_EINVAL);
	CHECK_EQ(vmmu_pt_map(&e->pt, BASE + GIB, 0, PAGE, &e->a, 1u << 5),
		 -VMMU_EINVAL);
	CHECK_EQ(vmmu_pt_map(&e->pt, BASE + GIB, 0, PAGE, &e->a, 1u << 31),
		 -VMMU_EINVAL);
	CHECK_EQ(vmmu_pt_map(NULL, BASE + GIB, 0, PAGE, &e->a, 0), -VMMU_EINVAL);
	CHECK_EQ(vmmu_pt_unmap(NULL, BASE, PAGE), -VMMU_EINVAL);
	CHECK_EQ(vmmu_pt_protect(NULL, BASE, PAGE, &e->a), -VMMU_EINVAL);

	CHECK_EQ(e->tp.flushes, f0);
	check_unchanged(e, &before);
	check_no_leak(e);
	check_range(e, BASE, 0, 2 * MIB, &e->a, 2);
	snap_free(&before);
}

static void test_arg_errors(void **state)
{
	(void)state;
	run_on_every_spec(bad_arguments_change_nothing);
}

/* The last page and 2M of the input space (x86: ends at 2^64). */
static void map_at_top_of_input_space(struct env *e)
{
	bool ept = e->spec->fam == FAM_EPT;
	uint64_t end = ept ? 1ull << e->fmt.va_bits : 0; /* 0 = 2^64 */
	uint64_t last = end - PAGE, last2m = end - 2 * MIB;

	WHERE("%s top of input", e->spec->label);
	CHECK_EQ(vmmu_pt_map(&e->pt, last, 0x3000, PAGE, &e->a, 0), 0);
	check_page(e, last, 0x3000, &e->a, 1);
	CHECK_EQ(vmmu_pt_map(&e->pt, last2m, 4 * MIB, 2 * MIB - PAGE, &e->b, 0), 0);
	check_page(e, last2m, 4 * MIB, &e->b, 1);
	CHECK_EQ(vmmu_pt_protect(&e->pt, last2m, 2 * MIB, &e->c), 0);
	check_page(e, last, 0x3000, &e->c, 1);
	check_page(e, last2m, 4 * MIB, &e->c, 1);
	CHECK_EQ(vmmu_pt_unmap(&e->pt, last2m, 2 * MIB), 0);
	CHECK_EQ(e->pt.table_count, 1);
	CHECK_EQ(vmmu_pt_map(&e->pt, last2m, 4 * MIB, 2 * MIB, &e->b, 0), 0);
	check_range(e, last2m, 4 * MIB, 2 * MIB, &e->b, 2);
	if (!ept) {
		/* the first canonical upper-half address */
		uint64_t upper = ~0ull << (e->fmt.va_bits - 1);
		CHECK_EQ(vmmu_pt_map(&e->pt, upper, 0, PAGE, &e->a, 0), 0);
		check_page(e, upper, 0, &e->a, 1);
		/* ... and the last lower-half one */
		uint64_t lower = (1ull << (e->fmt.va_bits - 1)) - PAGE;
		CHECK_EQ(vmmu_pt_map(&e->pt, lower, PAGE, PAGE, &e->a, 0), 0);
		check_page(e, lower, PAGE, &e->a, 1);
	}
	/* output: the last frame below 2^MAXPHYADDR */
	uint64_t top_out = (1ull << e->fmt.maxphyaddr) - 2 * MIB;
	CHECK_EQ(vmmu_pt_map(&e->pt, BASE, top_out, 2 * MIB, &e->a, 0), 0);
	check_range(e, BASE, top_out, 2 * MIB, &e->a, 2);
	check_no_leak(e);
}

static void test_top_of_input_space(void **state)
{
	(void)state;
	run_on_every_spec(map_at_top_of_input_space);
}

/* --- raw entries --------------------------------------------------------- */

static void entry_slots_at_every_level(struct env *e)
{
	unsigned L = e->fmt.levels;
	vmmu_pte_t *slot = NULL;
	uint64_t in = BASE + 4 * MIB + 3 * PAGE;

	WHERE("%s entry", e->spec->label);
	CHECK_EQ(vmmu_pt_entry(&e->pt, in, L, &slot), 0);
	uint8_t *root = test_platform_ptr(&e->tp, e->pt.root.v);
	CHECK_EQ((uint8_t *)slot == root + 8 * vmmu_fmt_index(&e->fmt, L, in),
		 true);
	CHECK_EQ(*slot, 0);
	CHECK_EQ(vmmu_pt_entry(&e->pt, in, 1, &slot), -VMMU_ENOENT);
	CHECK_EQ(vmmu_pt_entry(&e->pt, in, L - 1, &slot), -VMMU_ENOENT);
	CHECK_EQ(vmmu_pt_entry(&e->pt, in, 0, &slot), -VMMU_EINVAL);
	CHECK_EQ(vmmu_pt_entry(&e->pt, in, L + 1, &slot), -VMMU_EINVAL);
	CHECK_EQ(vmmu_pt_entry(&e->pt, 1ull << 62, 1, &slot), -VMMU_ERANGE);

	CHECK_EQ(vmmu_pt_map(&e->pt, in, 0x9000, PAGE, &e->a, 0), 0);
	vmmu_pte_t want;
	CHECK_EQ(vmmu_pte_make_leaf(&e->fmt, 1, 0x9000, &e->a, &want), 0);
	CHECK_EQ(vmmu_pt_entry(&e->pt, in, 1, &slot), 0);
	CHECK_EQ(*slot, want);
	for (unsigned l = 2; l <= L; l++) {
		CHECK_EQ(vmmu_pt_entry(&e->pt, in, l, &slot), 0);
		CHECK_EQ(vmmu_pte_present(&e->fmt, l, *slot), true);
		CHECK_EQ(vmmu_pte_is_leaf(&e->fmt, l, *slot), false);
	}
	/* writing through the slot is seen by lookup */
	CHECK_EQ(vmmu_pt_entry(&e->pt, in, 1, &slot), 0);
	CHECK_EQ(vmmu_pte_make_leaf(&e->fmt, 1, 0x77000, &e->b, slot), 0);
	check_page(e, in, 0x77000, &e->b, 1);
	/* a neighbour in the same PT has a slot, empty */
	CHECK_EQ(vmmu_pt_entry(&e->pt, in + PAGE, 1, &slot), 0);
	CHECK_EQ(*slot, 0);
	/* a 2M leaf: its slot at level 2, EEXIST below */
	CHECK_EQ(vmmu_pt_map(&e->pt, BASE + 8 * MIB, 0, 2 * MIB, &e->a, 0), 0);
	CHECK_EQ(vmmu_pt_entry(&e->pt, BASE + 8 * MIB + PAGE, 1, &slot),
		 -VMMU_EEXIST);
	CHECK_EQ(vmmu_pt_entry(&e->pt, BASE + 8 * MIB + PAGE, 2, &slot), 0);
	CHECK_EQ(vmmu_pte_is_leaf(&e->fmt, 2, *slot), true);
	CHECK_EQ(vmmu_pte_addr(&e->fmt, 2, *slot), 0);
}

static void test_entry(void **state)
{
	(void)state;
	run_on_every_spec(entry_slots_at_every_level);
}

static void lookup_unmapped_or_out_of_range(struct env *e)
{
	uint64_t out = 5;
	WHERE("%s lookup errors", e->spec->label);
	CHECK_EQ(vmmu_pt_lookup(&e->pt, BASE, &out, NULL, NULL), -VMMU_ENOENT);
	CHECK_EQ(out, 5);
	int rc = vmmu_pt_lookup(&e->pt, 1ull << 62, &out, NULL, NULL);
	assert_true(rc == -VMMU_ENOENT || rc == -VMMU_ERANGE);
}

static void test_lookup_errors(void **state)
{
	(void)state;
	run_on_every_spec(lookup_unmapped_or_out_of_range);
}

/* --- a failed call changes nothing ----------------------------------------- */

struct fail_op {
	const char *what;
	bool needs_1g;
	void (*setup)(struct env *e);
	int (*op)(struct env *e);
	void (*verify)(struct env *e);
	uint64_t allocs;   /* frames the op must take (all become tables) */
	bool flushes;      /* success requests one TLB flush */
};

static void setup_page_at_base(struct env *e)
{
	CHECK_EQ(vmmu_pt_map(&e->pt, BASE, 0x2000, PAGE, &e->a, 0), 0);
}

static int op_map_across_pml4(struct env *e)
{
	return vmmu_pt_map(&e->pt, 512 * GIB - 2 * PAGE, 0x40000, 4 * PAGE, &e->c,
			   VMMU_PT_4K_ONLY);
}

static void verify_map_across_pml4(struct env *e)
{
	check_range(e, 512 * GIB - 2 * PAGE, 0x40000, 4 * PAGE, &e->c, 1);
	check_page(e, BASE, 0x2000, &e->a, 1);
}

static int op_map_1g_4k_only(struct env *e)
{
	return vmmu_pt_map(&e->pt, BASE + GIB, 2 * GIB, GIB, &e->b,
			   VMMU_PT_4K_ONLY);
}

static void verify_map_1g_4k_only(struct env *e)
{
	check_range(e, BASE + GIB, 2 * GIB, GIB, &e->b, 1);
}

static void setup_1g_leaf(struct env *e)
{
	CHECK_EQ(vmmu_pt_map(&e->pt, BASE + GIB, 3 * GIB, GIB, &e->c, 0), 0);
}

#define SPLIT_LO (2 * MIB + PAGE)
#define SPLIT_HI (GIB - 2 * MIB - PAGE)

static int op_unmap_split_1g(struct env *e)
{
	return vmmu_pt_unmap(&e->pt, BASE + GIB + SPLIT_LO, SPLIT_HI - SPLIT_LO);
}

static void verify_unmap_split_1g(struct env *e)
{
	check_range(e, BASE + GIB, 3 * GIB, 2 * MIB, &e->c, 2);
	check_page(e, BASE + GIB + 2 * MIB, 3 * GIB + 2 * MIB, &e->c, 1);
	check_unmapped(e, BASE + GIB + SPLIT_LO, SPLIT_HI - SPLIT_LO);
	check_range(e, BASE + GIB + SPLIT_HI, 3 * GIB + SPLIT_HI, PAGE, &e->c, 1);
	check_range(e, BASE + 2 * GIB - 2 * MIB, 4 * GIB - 2 * MIB, 2 * MIB, &e->c, 2);
}

static int op_protect_split_1g(struct env *e)
{
	return vmmu_pt_protect(&e->pt, BASE + GIB + 6 * MIB + PAGE, PAGE, &e->a);
}

static void verify_protect_split_1g(struct env *e)
{
	struct vmmu_prot ac = protected_prot(&e->a, &e->c);
	check_page(e, BASE + GIB + 6 * MIB + PAGE, 3 * GIB + 6 * MIB + PAGE, &ac, 1);
	check_page(e, BASE + GIB + 6 * MIB, 3 * GIB + 6 * MIB, &e->c, 1);
	check_range(e, BASE + GIB, 3 * GIB, 2 * MIB, &e->c, 2);
}

static void setup_2m_leaf(struct env *e)
{
	CHECK_EQ(vmmu_pt_map(&e->pt, BASE + 2 * MIB, 8 * MIB, 2 * MIB, &e->c, 0), 0);
}

static int op_replace_split_2m(struct env *e)
{
	return vmmu_pt_map(&e->pt, BASE + 3 * MIB, 0x1000, PAGE, &e->a,
			   VMMU_PT_REPLACE);
}

static void verify_replace_split_2m(struct env *e)
{
	check_page(e, BASE + 3 * MIB, 0x1000, &e->a, 1);
	check_range(e, BASE + 2 * MIB, 8 * MIB, MIB, &e->c, 1);
	check_range(e, BASE + 3 * MIB + PAGE, 9 * MIB + PAGE, MIB - PAGE, &e->c, 1);
}

static int op_unmap_split_2m(struct env *e)
{
	return vmmu_pt_unmap(&e->pt, BASE + 2 * MIB + PAGE, PAGE);
}

static void verify_unmap_split_2m(struct env *e)
{
	check_page(e, BASE + 2 * MIB, 8 * MIB, &e->c, 1);
	check_unmapped(e, BASE + 2 * MIB + PAGE, PAGE);
	check_range(e, BASE + 2 * MIB + 2 * PAGE, 8 * MIB + 2 * PAGE,
		    2 * MIB - 2 * PAGE, &e->c, 1);
}

static int op_protect_split_2m(struct env *e)
{
	return vmmu_pt_protect(&e->pt, BASE + 4 * MIB - PAGE, PAGE, &e->b);
}

static void verify_protect_split_2m(struct env *e)
{
	struct vmmu_prot bc = protected_prot(&e->b, &e->c);
	check_page(e, BASE + 4 * MIB - PAGE, 10 * MIB - PAGE, &bc, 1);
	check_range(e, BASE + 2 * MIB, 8 * MIB, 2 * MIB - PAGE, &e->c, 1);
}

static const struct fail_op k_fail_ops[] = {
	{"map across a PML4 boundary", false, setup_page_at_base,
	 op_map_across_pml4, verify_map_across_pml4, 5, false},
	{"map 1G with 4K_ONLY", false, setup_page_at_base, op_map_1g_4k_only,
	 verify_map_1g_4k_only, 513, false},
	{"unmap splitting both ends of a 1G leaf", true, setup_1g_leaf,
	 op_unmap_split_1g, verify_unmap_split_1g, 3, true},
	{"protect splitting a 1G leaf", true, setup_1g_leaf, op_protect_split_1g,
	 verify_protect_split_1g, 2, true},
	{"replace splitting a 2M leaf", false, setup_2m_leaf, op_replace_split_2m,
	 verify_replace_split_2m, 1, true},
	{"unmap splitting a 2M leaf", false, setup_2m_leaf, op_unmap_split_2m,
	 verify_unmap_split_2m, 1, true},
	{"protect splitting a 2M leaf", false, setup_2m_leaf, op_protect_split_2m,
	 verify_protect_split_2m, 1, true},
};

/* One sweep: a fail_op on one environment, and the tree before the op. */
struct sweep {
	const struct fail_op *fo;
	struct snap before;
	uint64_t tables, live;
};

/*
 * Run the op with its n-th allocation failing. True once the op succeeds
 * (having taken n - 1 allocations); until then, check that the failed call
 * changed nothing.
 */
static bool op_succeeds_with_fail_at(struct env *e, const struct sweep *sw,
				     uint64_t n)
{
	uint64_t f0 = e->tp.flushes, calls0 = e->tp.alloc_calls;

	e->tp.fail_at = n;
	int rc = sw->fo->op(e);
	e->tp.fail_at = 0;
	if (rc == 0) {
		CHECK_EQ(e->tp.alloc_calls - calls0, n - 1);
		CHECK_EQ(e->tp.flushes, f0 + (sw->fo->flushes ? 1 : 0));
		return true;
	}
	CHECK_EQ(rc, -VMMU_ENOMEM);
	CHECK_EQ(e->tp.alloc_calls - calls0, n);
	CHECK_EQ(e->pt.table_count, sw->tables);
	CHECK_EQ(e->tp.live, sw->live);
	CHECK_EQ(e->tp.flushes, f0);
	check_unchanged(e, &sw->before);
	return false;
}

/* Fail the op's 1st, 2nd, ... allocation until it succeeds, then verify. */
static void run_fail_sweep(const struct spec *s, const struct fail_op *fo,
			   bool mapped)
{
	const char *how = mapped ? " mapped" : "";
	struct env e;
	struct sweep sw = {.fo = fo};
	uint64_t n;

	env_init(&e, s, mapped);
	WHERE("%s%s %s setup", s->label, how, fo->what);
	fo->setup(&e);
	snap_take(&sw.before, &e);
	sw.tables = e.pt.table_count;
	sw.live = e.tp.live;
	for (n = 1; n < 2000; n++) {
		WHERE("%s%s %s fail_at=%llu", s->label, how, fo->what,
		      (unsigned long long)n);
		if (op_succeeds_with_fail_at(&e, &sw, n)) {
			break;
		}
	}
	WHERE("%s%s %s after success", s->label, how, fo->what);
	CHECK_EQ(n - 1, fo->allocs);
	CHECK_EQ(e.pt.table_count, sw.tables + fo->allocs);
	check_no_leak(&e);
	fo->verify(&e);
	snap_free(&sw.before);
	env_fini(&e);
}

/* Every fail_op on every format it applies to. */
static void sweep_every_fail_op(bool mapped)
{
	for (size_t i = 0; i < NSPECS; i++) {
		for (size_t k = 0; k < sizeof(k_fail_ops) / sizeof(k_fail_ops[0]); k++) {
			if (k_fail_ops[k].needs_1g && !spec_has_1g(&k_specs[i])) {
				continue;
			}
			run_fail_sweep(&k_specs[i], &k_fail_ops[k], mapped);
		}
	}
}

static void test_failed_call_changes_nothing(void **state)
{
	(void)state;
	sweep_every_fail_op(false);
}

static void test_failed_call_changes_nothing_mapped(void **state)
{
	(void)state;
	sweep_every_fail_op(true);
}

/* With frame_map hooks: the whole API works and every map is undone. */
static void whole_api_through_frame_map(struct env *e)
{
	vmmu_pte_t *slot;

	WHERE("%s mapped", e->spec->label);
	CHECK_EQ(vmmu_pt_map(&e->pt, BASE + PAGE, 0x8000, 2 * MIB, &e->a, 0), 0);
	check_range(e, BASE + PAGE, 0x8000, 2 * MIB, &e->a, 1);
	CHECK_EQ(vmmu_pt_protect(&e->pt, BASE + 2 * PAGE, PAGE, &e->b), 0);
	check_page(e, BASE + 2 * PAGE, 0x9000, &e->b, 1);
	CHECK_EQ(vmmu_pt_unmap(&e->pt, BASE, GIB), 0);
	CHECK_EQ(e->pt.table_count, 1);
	/* a raw pointer would outlive its frame_map mapping */
	CHECK_EQ(vmmu_pt_entry(&e->pt, BASE, e->fmt.levels, &slot),
		 -VMMU_ENOTSUP);
	assert_true(e->tp.maps > 0);
	check_no_leak(e);
}

static void test_mapped_platform(void **state)
{
	(void)state;
	run_on_every_spec_mapped(whole_api_through_frame_map);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_destroy),
		cmocka_unit_test(test_init_errors),
		cmocka_unit_test(test_map_4k_lookup),
		cmocka_unit_test(test_large_leaves),
		cmocka_unit_test(test_mixed_leaves),
		cmocka_unit_test(test_largest_leaf_choice),
		cmocka_unit_test(test_exist_and_replace),
		cmocka_unit_test(test_unmap_splits_2m),
		cmocka_unit_test(test_unmap_splits_1g_both_ends),
		cmocka_unit_test(test_unmap_frees_tables),
		cmocka_unit_test(test_destroy_full_tree),
		cmocka_unit_test(test_protect),
		cmocka_unit_test(test_protect_splits_1g),
		cmocka_unit_test(test_arg_errors),
		cmocka_unit_test(test_top_of_input_space),
		cmocka_unit_test(test_entry),
		cmocka_unit_test(test_lookup_errors),
		cmocka_unit_test(test_failed_call_changes_nothing),
		cmocka_unit_test(test_failed_call_changes_nothing_mapped),
		cmocka_unit_test(test_mapped_platform),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
