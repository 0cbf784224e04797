/* SPDX-License-Identifier: MIT */
/*
 * Targeted tests of the x86-64 guest walk (vmmu_walk) and the EPT walk
 * (vmmu_ept_walk). Tables are written by hand with the SDM's bit
 * positions, so every expectation below is computed from the SDM, not from
 * the library:
 *   x86: Vol. 3A §4.5 (entry formats), §4.6 (access rights, SMEP, SMAP,
 *        protection keys), §4.7 (page-fault error code), §4.8 (A/D).
 *   EPT: Vol. 3C §29.3.2 (entries), §29.3.3 (misconfigurations and
 *        violations; exit qualification Table 28-7), §29.3.5 (A/D).
 */
#include <string.h>

#include "test_platform.h"
#include "unit_check.h"

/* x86 entry bits (SDM Vol. 3A Tables 4-14..4-20). */
#define X_P BIT(0)
#define X_W BIT(1)
#define X_U BIT(2)
#define X_PWT BIT(3)
#define X_A BIT(5)
#define X_D BIT(6)
#define X_PS BIT(7)
#define X_G BIT(8)
#define X_PAT_BIG BIT(12)
#define X_XD BIT(63)
#define X_KEY(k) ((uint64_t)(k) << 59)
#define X_TABLE (X_P | X_W | X_U)

/* EPT entry bits (SDM Vol. 3C Tables 29-1..29-7). */
#define E_R BIT(0)
#define E_W BIT(1)
#define E_X BIT(2)
#define E_MT(t) ((uint64_t)(t) << 3)
#define E_IPAT BIT(6)
#define E_PS BIT(7)
#define E_A BIT(8)
#define E_D BIT(9)
#define E_UX BIT(10)
#define E_RWX (E_R | E_W | E_X)

#define FRAMES 256u

/* --- environment ------------------------------------------------------- */

struct wenv {
	struct test_platform tp;
	struct vmmu_fmt fmt;
	struct vmmu_walker w;
	struct vmmu_cpu_state cpu;
	uint64_t root;
	uint64_t table_flags; /* flags of the table entries build() writes */
};

/* Entry slots used for one address, by level. */
struct path {
	uint64_t slot[VMMU_LEVEL_MAX + 1];
};

static uint64_t new_table(struct wenv *e)
{
	uint64_t pa = test_platform_data_frame(&e->tp);
	assert_true(pa != 0);
	memset(test_platform_ptr(&e->tp, pa), 0, PAGE);
	return pa;
}

static uint64_t *pte(struct wenv *e, uint64_t slot_pa)
{
	return test_platform_ptr(&e->tp, slot_pa);
}

static unsigned idx(uint64_t va, unsigned level)
{
	return (va >> (12 + 9 * (level - 1))) & 511;
}

static void x86_env(struct wenv *e, unsigned levels, unsigned maxphy,
		    unsigned flags)
{
	memset(e, 0, sizeof(*e));
	test_platform_init(&e->tp, FRAMES);
	assert_int_equal(vmmu_fmt_init_x86(&e->fmt, levels, maxphy, flags), 0);
	e->cpu = long_mode_cpu(levels);
	assert_int_equal(vmmu_walker_init(&e->w, &e->fmt, &e->tp.plat, &e->cpu), 0);
	e->root = new_table(e);
	e->table_flags = X_TABLE;
}

static void ept_env(struct wenv *e, unsigned levels, unsigned flags)
{
	memset(e, 0, sizeof(*e));
	test_platform_init(&e->tp, FRAMES);
	assert_int_equal(vmmu_fmt_init_ept(&e->fmt, levels, 46, flags), 0);
	e->root = new_table(e);
	e->table_flags = E_RWX | ((flags & VMMU_FMT_F_EPT_MBEC) ? E_UX : 0);
}

static void env_fini(struct wenv *e)
{
	test_platform_fini(&e->tp);
}

static void set_cpu(struct wenv *e)
{
	CHECK_EQ(vmmu_walker_set_cpu(&e->w, &e->cpu), 0);
}

/*
 * Tables for addr from the root down to leaf_level, reusing present ones;
 * new table entries get e->table_flags. The slot at leaf_level is left as
 * it is (zero when new).
 */
static struct path build(struct wenv *e, uint64_t addr, unsigned leaf_level)
{
	struct path p;
	uint64_t table = e->root;

	memset(&p, 0, sizeof(p));
	for (unsigned l = e->fmt.levels; l >= leaf_level; l--) {
		p.slot[l] = table + 8 * idx(addr, l);
		if (l == leaf_level) {
			break;
		}
		uint64_t *s = pte(e, p.slot[l]);
		if (*s == 0) {
			*s = new_table(e) | e->table_flags;
		}
		table = *s & 0x000ffffffffff000ull;
	}
	return p;
}

static struct path map_x86(struct wenv *e, uint64_t va, unsigned level,
			   uint64_t leaf)
{
	struct path p = build(e, va, level);
	*pte(e, p.slot[level]) = leaf;
	return p;
}

static int walk(struct wenv *e, uint64_t va, uint32_t acc, struct vmmu_walk *out)
{
	memset(out, 0xcc, sizeof(*out));
	return vmmu_walk(&e->w, e->root, va, acc, out);
}

/* Expect a #PF with this error code, stopping at level. */
static void expect_pf(struct wenv *e, uint64_t va, uint32_t acc, uint32_t pfec,
		      unsigned level)
{
	struct vmmu_walk out;
	CHECK_EQ(walk(e, va, acc, &out), VMMU_WALK_PF);
	CHECK_EQ(out.pfec, pfec);
	CHECK_EQ(out.level, level);
}

static void expect_ok(struct wenv *e, uint64_t va, uint32_t acc, uint64_t pa)
{
	struct vmmu_walk out;
	CHECK_EQ(walk(e, va, acc, &out), VMMU_WALK_OK);
	CHECK_EQ(out.addr, pa);
}

/* Snapshot of the entries on a path, to prove a walk wrote nothing. */
struct saved {
	uint64_t v[VMMU_LEVEL_MAX + 1];
};

static struct saved save(struct wenv *e, const struct path *p)
{
	struct saved s;
	memset(&s, 0, sizeof(s));
	for (unsigned l = 1; l <= VMMU_LEVEL_MAX; l++) {
		if (p->slot[l]) {
			s.v[l] = *pte(e, p->slot[l]);
		}
	}
	return s;
}

static void expect_saved(struct wenv *e, const struct path *p,
			 const struct saved *s)
{
	for (unsigned l = 1; l <= VMMU_LEVEL_MAX; l++) {
		if (p->slot[l]) {
			CHECK_EQ(*pte(e, p->slot[l]), s->v[l]);
		}
	}
}

/* A canonical user address whose index is different at every level. */
#define VA4 0x00001234567899abull

/* --- translation ----------------------------------------------------------- */

static void test_translate_4k(void **state)
{
	(void)state;
	struct wenv e;
	struct vmmu_walk out;
	x86_env(&e, 4, 46, VMMU_FMT_F_1G);
	WHERE("4K");
	uint64_t leaf = 0xabcde000ull | X_P | X_W | X_U;
	struct path p = map_x86(&e, VA4, 1, leaf);
	struct saved before = save(&e, &p);

	CHECK_EQ(walk(&e, VA4, VMMU_ACC_READ, &out), VMMU_WALK_OK);
	CHECK_EQ(out.addr, 0xabcde000ull | (VA4 & 0xfff));
	CHECK_EQ(out.level, 1);
	CHECK_EQ(out.top_level, 4);
	CHECK_EQ(out.pkey, 0);
	CHECK_EQ(out.perm, VMMU_PERM_R | VMMU_PERM_W | VMMU_PERM_X | VMMU_PERM_U);
	for (unsigned l = 1; l <= 4; l++) {
		CHECK_EQ(out.pte_addr[l], p.slot[l]);
		CHECK_EQ(out.pte[l], before.v[l] | X_A);
		CHECK_EQ(*pte(&e, p.slot[l]), before.v[l] | X_A);
	}
	/* a write sets D in the leaf only */
	CHECK_EQ(walk(&e, VA4, VMMU_ACC_WRITE, &out), VMMU_WALK_OK);
	CHECK_EQ(*pte(&e, p.slot[1]), leaf | X_A | X_D);
	CHECK_EQ(out.pte[1], leaf | X_A | X_D);
	for (unsigned l = 2; l <= 4; l++) {
		CHECK_EQ(*pte(&e, p.slot[l]), before.v[l] | X_A);
	}
	env_fini(&e);
}

static void test_translate_large(void **state)
{
	(void)state;
	struct wenv e;
	struct vmmu_walk out;
	x86_env(&e, 4, 46, VMMU_FMT_F_1G);

	WHERE("2M with PAT bit");
	uint64_t va2 = 0x00007f0012345678ull;
	uint64_t leaf2 = 0x40200000ull | X_P | X_W | X_PS | X_PAT_BIG;
	struct path p2 = map_x86(&e, va2, 2, leaf2);
	CHECK_EQ(walk(&e, va2, VMMU_ACC_WRITE, &out), VMMU_WALK_OK);
	CHECK_EQ(out.addr, 0x40200000ull + (va2 & (2 * MIB - 1)));
	CHECK_EQ(out.level, 2);
	CHECK_EQ(*pte(&e, p2.slot[2]), leaf2 | X_A | X_D);

	WHERE("1G with PAT bit");
	uint64_t va1 = 0xffff8000c1234567ull;
	uint64_t leaf1 = 0x80000000ull | X_P | X_PS | X_PAT_BIG | X_W;
	struct path p1 = map_x86(&e, va1, 3, leaf1);
	CHECK_EQ(walk(&e, va1, VMMU_ACC_READ, &out), VMMU_WALK_OK);
	CHECK_EQ(out.addr, 0x80000000ull + (va1 & (GIB - 1)));
	CHECK_EQ(out.level, 3);
	CHECK_EQ(out.perm, VMMU_PERM_R | VMMU_PERM_W | VMMU_PERM_X);
	CHECK_EQ(*pte(&e, p1.slot[3]), leaf1 | X_A);
	env_fini(&e);

	WHERE("1G without 1G support is reserved");
	x86_env(&e, 4, 46, 0);
	map_x86(&e, va1, 3, leaf1);
	expect_pf(&e, va1, VMMU_ACC_READ, VMMU_PFEC_P | VMMU_PFEC_RSVD, 3);
	env_fini(&e);
}

static void test_translate_5level(void **state)
{
	(void)state;
	struct wenv e;
	struct vmmu_walk out;
	x86_env(&e, 5, 52, VMMU_FMT_F_1G);
	uint64_t va = 0x00ab9def12345678ull; /* bit 55 = 1, 56 = 0: canonical */
	uint64_t frame = 0x000ffffffffff000ull; /* the top 4K frame, M = 52 */

	WHERE("5-level");
	struct path p = map_x86(&e, va, 1, frame | X_P);
	CHECK_EQ(walk(&e, va, VMMU_ACC_READ, &out), VMMU_WALK_OK);
	CHECK_EQ(out.addr, frame | 0x678);
	CHECK_EQ(out.top_level, 5);
	CHECK_EQ(out.pte_addr[5], p.slot[5]);
	CHECK_EQ(out.pte_addr[1], p.slot[1]);
	CHECK_EQ(out.perm, VMMU_PERM_R | VMMU_PERM_X);
	env_fini(&e);
}

static void test_noncanonical(void **state)
{
	(void)state;
	struct wenv e;
	struct vmmu_walk out;

	x86_env(&e, 4, 46, 0);
	WHERE("4-level canonical");
	CHECK_EQ(walk(&e, BIT(47), VMMU_ACC_READ, &out), VMMU_WALK_GP);
	CHECK_EQ(walk(&e, 0xffff7ffffffff000ull, VMMU_ACC_READ, &out), VMMU_WALK_GP);
	CHECK_EQ(walk(&e, BIT(63), VMMU_ACC_READ, &out), VMMU_WALK_GP);
	CHECK_EQ(walk(&e, BIT(56), VMMU_ACC_FETCH, &out), VMMU_WALK_GP);
	/* canonical but unmapped: a not-present fault at the top */
	expect_pf(&e, 0xffff800000000000ull, VMMU_ACC_READ, 0, 4);
	expect_pf(&e, 0x00007ffffffff000ull, VMMU_ACC_READ, 0, 4);
	env_fini(&e);

	x86_env(&e, 5, 46, 0);
	WHERE("5-level canonical");
	CHECK_EQ(walk(&e, BIT(56), VMMU_ACC_READ, &out), VMMU_WALK_GP);
	CHECK_EQ(walk(&e, 0xfeff000000000000ull, VMMU_ACC_READ, &out), VMMU_WALK_GP);
	expect_pf(&e, BIT(47), VMMU_ACC_READ, 0, 5);
	expect_pf(&e, 0xff00000000000000ull, VMMU_ACC_READ, 0, 5);
	env_fini(&e);
}

/* --- faults ------------------------------------------------------------- */

static void test_not_present_each_level(void **state)
{
	(void)state;
	for (unsigned levels = 4; levels <= 5; levels++) {
		for (unsigned L = levels; L >= 1; L--) {
			struct wenv e;
			struct vmmu_walk out;
			x86_env(&e, levels, 46, VMMU_FMT_F_1G);
			WHERE("%u-level not present at %u", levels, L);
			struct path p = build(&e, VA4, L);
			expect_pf(&e, VA4, VMMU_ACC_READ, 0, L);
			expect_pf(&e, VA4, VMMU_ACC_WRITE | VMMU_ACC_USER,
				  VMMU_PFEC_W | VMMU_PFEC_U, L);
			expect_pf(&e, VA4, VMMU_ACC_FETCH, VMMU_PFEC_I, L);
			/* every bit but P: still not present, never RSVD */
			*pte(&e, p.slot[L]) = ~X_P;
			struct saved s = save(&e, &p);
			CHECK_EQ(walk(&e, VA4, VMMU_ACC_WRITE, &out), VMMU_WALK_PF);
			CHECK_EQ(out.pfec, VMMU_PFEC_W);
			CHECK_EQ(out.level, L);
			CHECK_EQ(out.pte[L], ~X_P);
			expect_saved(&e, &p, &s); /* no A bits on a fault */
			env_fini(&e);
		}
	}
}

static void test_reserved_bits(void **state)
{
	(void)state;
	const uint32_t rsvd = VMMU_PFEC_P | VMMU_PFEC_RSVD;

	for (unsigned L = 4; L >= 1; L--) {
		struct wenv e;
		x86_env(&e, 4, 46, VMMU_FMT_F_1G);
		struct path p = map_x86(&e, VA4, 1, 0x5000 | X_P | X_W | X_U);
		uint64_t good = *pte(&e, p.slot[L]);

		WHERE("bit 51 at level %u", L);
		*pte(&e, p.slot[L]) = good | BIT(51);
		struct saved s = save(&e, &p);
		expect_pf(&e, VA4, VMMU_ACC_READ, rsvd, L);
		expect_pf(&e, VA4, VMMU_ACC_WRITE | VMMU_ACC_USER,
			  rsvd | VMMU_PFEC_W | VMMU_PFEC_U, L);
		expect_pf(&e, VA4, VMMU_ACC_FETCH, rsvd | VMMU_PFEC_I, L);
		expect_saved(&e, &p, &s);

		WHERE("bit 46 (= MAXPHYADDR) at level %u", L);
		*pte(&e, p.slot[L]) = good | BIT(46);
		expect_pf(&e, VA4, VMMU_ACC_READ, rsvd, L);
		WHERE("bit 45 (< MAXPHYADDR) at level %u is address", L);
		*pte(&e, p.slot[L]) = good | BIT(45);
		if (L == 1) {
			expect_ok(&e, VA4, VMMU_ACC_READ, BIT(45) | 0x5000 | (VA4 & 0xfff));
		}

		WHERE("XD with NXE=0 at level %u", L);
		*pte(&e, p.slot[L]) = good | X_XD;
		e.cpu.efer &= ~VMMU_EFER_NXE;
		set_cpu(&e);
		expect_pf(&e, VA4, VMMU_ACC_READ, rsvd, L);
		/* NXE=0 and no SMEP: no I bit even for a fetch */
		expect_pf(&e, VA4, VMMU_ACC_FETCH, rsvd, L);
		e.cpu.efer |= VMMU_EFER_NXE;
		set_cpu(&e);
		WHERE("XD with NXE=1 at level %u", L);
		expect_ok(&e, VA4, VMMU_ACC_READ, 0x5000 | (VA4 & 0xfff));
		expect_pf(&e, VA4, VMMU_ACC_FETCH, VMMU_PFEC_P | VMMU_PFEC_I, 1);
		env_fini(&e);
	}

	struct wenv e;
	x86_env(&e, 4, 46, VMMU_FMT_F_1G);
	WHERE("PS in PML4E");
	struct path p = map_x86(&e, VA4, 1, 0x5000 | X_P);
	*pte(&e, p.slot[4]) |= X_PS;
	expect_pf(&e, VA4, VMMU_ACC_READ, rsvd, 4);
	*pte(&e, p.slot[4]) &= ~X_PS;
	WHERE("2M leaf bit 13");
	*pte(&e, p.slot[2]) = 0x200000 | X_P | X_PS | BIT(13);
	expect_pf(&e, VA4, VMMU_ACC_READ, rsvd, 2);
	WHERE("2M leaf bit 12 is PAT, not reserved");
	*pte(&e, p.slot[2]) = 0x200000 | X_P | X_PS | BIT(12);
	expect_ok(&e, VA4, VMMU_ACC_READ, 0x200000 | (VA4 & (2 * MIB - 1)));
	WHERE("1G leaf bit 29");
	*pte(&e, p.slot[3]) = 0x40000000 | X_P | X_PS | BIT(29);
	expect_pf(&e, VA4, VMMU_ACC_READ, rsvd, 3);
	WHERE("reserved beats U/S: RSVD at level 3 under a supervisor PML4E");
	*pte(&e, p.slot[4]) &= ~X_U;
	expect_pf(&e, VA4, VMMU_ACC_USER, rsvd | VMMU_PFEC_U, 3);
	WHERE("PKRU is not consulted for RSVD faults");
	*pte(&e, p.slot[4]) |= X_U;
	*pte(&e, p.slot[3]) = 0x40000000 | X_P | X_U | X_PS | BIT(29) | X_KEY(5);
	e.cpu.cr4 |= VMMU_CR4_PKE;
	e.cpu.pkru = 3u << 10; /* AD5 | WD5 */
	set_cpu(&e);
	expect_pf(&e, VA4, VMMU_ACC_USER, rsvd | VMMU_PFEC_U, 3);
	env_fini(&e);
}

static void test_permissions(void **state)
{
	(void)state;
	struct wenv e;
	struct vmmu_walk out;
	const uint32_t P = VMMU_PFEC_P, W = VMMU_PFEC_W, U = VMMU_PFEC_U,
		       I = VMMU_PFEC_I;
	uint64_t pa = 0x7000, off = VA4 & 0xfff;

	x86_env(&e, 4, 46, 0);
	struct path p = map_x86(&e, VA4, 1, pa | X_P | X_U); /* read-only user */

	WHERE("read-only user page");
	expect_ok(&e, VA4, VMMU_ACC_READ | VMMU_ACC_USER, pa | off);
	expect_ok(&e, VA4, VMMU_ACC_READ, pa | off);
	struct saved s = save(&e, &p);
	CHECK_EQ(walk(&e, VA4, VMMU_ACC_WRITE | VMMU_ACC_USER, &out), VMMU_WALK_PF);
	CHECK_EQ(out.pfec, P | W | U);
	CHECK_EQ(out.level, 1);
	CHECK_EQ(out.perm, VMMU_PERM_R | VMMU_PERM_X | VMMU_PERM_U);
	expect_saved(&e, &p, &s);
	expect_pf(&e, VA4, VMMU_ACC_WRITE, P | W, 1); /* CR0.WP = 1 */
	e.cpu.cr0 &= ~VMMU_CR0_WP;
	set_cpu(&e);
	WHERE("CR0.WP = 0");
	expect_ok(&e, VA4, VMMU_ACC_WRITE, pa | off);
	CHECK_EQ(*pte(&e, p.slot[1]), pa | X_P | X_U | X_A | X_D);
	expect_pf(&e, VA4, VMMU_ACC_WRITE | VMMU_ACC_USER, P | W | U, 1);
	e.cpu.cr0 |= VMMU_CR0_WP;
	set_cpu(&e);

	WHERE("R/W = 0 above the leaf");
	*pte(&e, p.slot[1]) = pa | X_P | X_U | X_W;
	*pte(&e, p.slot[3]) &= ~X_W;
	expect_pf(&e, VA4, VMMU_ACC_WRITE | VMMU_ACC_USER, P | W | U, 1);
	expect_pf(&e, VA4, VMMU_ACC_WRITE, P | W, 1);
	*pte(&e, p.slot[3]) |= X_W;
	expect_ok(&e, VA4, VMMU_ACC_WRITE | VMMU_ACC_USER, pa | off);

	WHERE("U/S = 0 anywhere makes a supervisor page");
	for (unsigned l = 1; l <= 4; l++) {
		*pte(&e, p.slot[l]) &= ~X_U;
		expect_pf(&e, VA4, VMMU_ACC_READ | VMMU_ACC_USER, P | U, 1);
		expect_pf(&e, VA4, VMMU_ACC_FETCH | VMMU_ACC_USER, P | U | I, 1);
		CHECK_EQ(walk(&e, VA4, VMMU_ACC_READ, &out), VMMU_WALK_OK);
		CHECK_EQ(out.perm, VMMU_PERM_R | VMMU_PERM_W | VMMU_PERM_X);
		*pte(&e, p.slot[l]) |= X_U;
	}

	WHERE("XD anywhere, NXE = 1");
	for (unsigned l = 1; l <= 4; l++) {
		*pte(&e, p.slot[l]) |= X_XD;
		expect_pf(&e, VA4, VMMU_ACC_FETCH, P | I, 1);
		expect_pf(&e, VA4, VMMU_ACC_FETCH | VMMU_ACC_USER, P | I | U, 1);
		CHECK_EQ(walk(&e, VA4, VMMU_ACC_READ | VMMU_ACC_USER, &out), VMMU_WALK_OK);
		CHECK_EQ(out.perm, VMMU_PERM_R | VMMU_PERM_W | VMMU_PERM_U);
		*pte(&e, p.slot[l]) &= ~X_XD;
	}
	expect_ok(&e, VA4, VMMU_ACC_FETCH | VMMU_ACC_USER, pa | off);
	env_fini(&e);
}

/* PFEC.I: only with NXE = 1 or SMEP = 1 (SDM Vol. 3A §4.7). */
static void test_fetch_i_bit(void **state)
{
	(void)state;
	struct wenv e;
	x86_env(&e, 4, 46, 0);
	map_x86(&e, VA4, 1, 0x9000 | X_P); /* supervisor page */

	WHERE("NXE=0 SMEP=0");
	e.cpu.efer &= ~VMMU_EFER_NXE;
	set_cpu(&e);
	expect_pf(&e, VA4 + GIB, VMMU_ACC_FETCH, 0, 3);
	expect_pf(&e, VA4, VMMU_ACC_FETCH | VMMU_ACC_USER, VMMU_PFEC_P | VMMU_PFEC_U, 1);
	WHERE("NXE=0 SMEP=1");
	e.cpu.cr4 |= VMMU_CR4_SMEP;
	set_cpu(&e);
	expect_pf(&e, VA4 + GIB, VMMU_ACC_FETCH, VMMU_PFEC_I, 3);
	expect_pf(&e, VA4, VMMU_ACC_FETCH | VMMU_ACC_USER,
		  VMMU_PFEC_P | VMMU_PFEC_U | VMMU_PFEC_I, 1);
	WHERE("NXE=1 SMEP=0");
	e.cpu.cr4 &= ~VMMU_CR4_SMEP;
	e.cpu.efer |= VMMU_EFER_NXE;
	set_cpu(&e);
	expect_pf(&e, VA4 + GIB, VMMU_ACC_FETCH, VMMU_PFEC_I, 3);
	/* reads never carry I */
	expect_pf(&e, VA4 + GIB, VMMU_ACC_READ, 0, 3);
	env_fini(&e);
}

static void test_smep(void **state)
{
	(void)state;
	struct wenv e;
	x86_env(&e, 4, 46, 0);
	struct path p = map_x86(&e, VA4, 1, 0x9000 | X_P | X_U);
	uint64_t want = 0x9000 | (VA4 & 0xfff);

	WHERE("SMEP off");
	expect_ok(&e, VA4, VMMU_ACC_FETCH, want);
	e.cpu.cr4 |= VMMU_CR4_SMEP;
	set_cpu(&e);
	WHERE("SMEP on, user page");
	struct saved s = save(&e, &p);
	expect_pf(&e, VA4, VMMU_ACC_FETCH, VMMU_PFEC_P | VMMU_PFEC_I, 1);
	expect_saved(&e, &p, &s);
	expect_ok(&e, VA4, VMMU_ACC_FETCH | VMMU_ACC_USER, want);
	expect_ok(&e, VA4, VMMU_ACC_READ, want); /* data: SMAP's business */
	WHERE("SMEP on, supervisor page (U=0 in the PDPTE)");
	*pte(&e, p.slot[3]) &= ~X_U;
	expect_ok(&e, VA4, VMMU_ACC_FETCH, want);
	env_fini(&e);
}

static void test_smap(void **state)
{
	(void)state;
	struct wenv e;
	x86_env(&e, 4, 46, 0);
	struct path p = map_x86(&e, VA4, 1, 0x9000 | X_P | X_U | X_W);
	uint64_t want = 0x9000 | (VA4 & 0xfff);
	const uint32_t P = VMMU_PFEC_P, W = VMMU_PFEC_W;

	e.cpu.cr4 |= VMMU_CR4_SMAP;
	set_cpu(&e);
	WHERE("SMAP explicit");
	expect_pf(&e, VA4, VMMU_ACC_READ, P, 1);
	expect_pf(&e, VA4, VMMU_ACC_WRITE, P | W, 1);
	expect_ok(&e, VA4, VMMU_ACC_READ | VMMU_ACC_AC, want);
	expect_ok(&e, VA4, VMMU_ACC_WRITE | VMMU_ACC_AC, want);
	WHERE("SMAP implicit ignores AC");
	expect_pf(&e, VA4, VMMU_ACC_READ | VMMU_ACC_IMPLICIT | VMMU_ACC_AC, P, 1);
	expect_pf(&e, VA4, VMMU_ACC_WRITE | VMMU_ACC_IMPLICIT, P | W, 1);
	WHERE("SMAP: user accesses and fetches unaffected");
	expect_ok(&e, VA4, VMMU_ACC_READ | VMMU_ACC_USER, want);
	expect_ok(&e, VA4, VMMU_ACC_FETCH, want);
	WHERE("SMAP: supervisor page unaffected");
	*pte(&e, p.slot[2]) &= ~X_U;
	expect_ok(&e, VA4, VMMU_ACC_READ, want);
	expect_ok(&e, VA4, VMMU_ACC_WRITE | VMMU_ACC_IMPLICIT, want);
	env_fini(&e);
}

static void test_pku(void **state)
{
	(void)state;
	struct wenv e;
	struct vmmu_walk out;
	const uint32_t P = VMMU_PFEC_P, W = VMMU_PFEC_W, U = VMMU_PFEC_U,
		       PK = VMMU_PFEC_PK;
	const uint32_t AD5 = 1u << 10, WD5 = 1u << 11;
	x86_env(&e, 4, 46, 0);
	struct path p = map_x86(&e, VA4, 1, 0x9000 | X_P | X_U | X_W | X_KEY(5));
	uint64_t want = 0x9000 | (VA4 & 0xfff);

	WHERE("PKE=0 ignores PKRU");
	e.cpu.pkru = AD5 | WD5;
	set_cpu(&e);
	expect_ok(&e, VA4, VMMU_ACC_WRITE | VMMU_ACC_USER, want);

	e.cpu.cr4 |= VMMU_CR4_PKE;
	e.cpu.pkru = AD5;
	set_cpu(&e);
	WHERE("AD5");
	struct saved s = save(&e, &p);
	CHECK_EQ(walk(&e, VA4, VMMU_ACC_READ | VMMU_ACC_USER, &out), VMMU_WALK_PF);
	CHECK_EQ(out.pfec, P | U | PK);
	CHECK_EQ(out.pkey, 5);
	expect_saved(&e, &p, &s);
	expect_pf(&e, VA4, VMMU_ACC_READ, P | PK, 1); /* supervisor, user page */
	expect_pf(&e, VA4, VMMU_ACC_WRITE, P | W | PK, 1);
	expect_ok(&e, VA4, VMMU_ACC_FETCH | VMMU_ACC_USER, want); /* not data */
	WHERE("other keys' bits do not matter");
	e.cpu.pkru = ~(AD5 | WD5);
	set_cpu(&e);
	expect_ok(&e, VA4, VMMU_ACC_WRITE | VMMU_ACC_USER, want);

	WHERE("WD5");
	e.cpu.pkru = WD5;
	set_cpu(&e);
	expect_ok(&e, VA4, VMMU_ACC_READ | VMMU_ACC_USER, want);
	expect_pf(&e, VA4, VMMU_ACC_WRITE | VMMU_ACC_USER, P | W | U | PK, 1);
	expect_pf(&e, VA4, VMMU_ACC_WRITE, P | W | PK, 1); /* WP = 1 */
	e.cpu.cr0 &= ~VMMU_CR0_WP;
	set_cpu(&e);
	expect_ok(&e, VA4, VMMU_ACC_WRITE, want);
	expect_pf(&e, VA4, VMMU_ACC_WRITE | VMMU_ACC_USER, P | W | U | PK, 1);
	e.cpu.cr0 |= VMMU_CR0_WP;
	set_cpu(&e);

	WHERE("WD5 with a read-only page: both reasons, PK set (SDM §4.7)");
	*pte(&e, p.slot[1]) &= ~X_W;
	expect_pf(&e, VA4, VMMU_ACC_WRITE | VMMU_ACC_USER, P | W | U | PK, 1);
	*pte(&e, p.slot[1]) |= X_W;

	WHERE("key from the leaf only");
	e.cpu.pkru = AD5;
	set_cpu(&e);
	*pte(&e, p.slot[1]) &= ~X_KEY(15);
	for (unsigned l = 2; l <= 4; l++) {
		*pte(&e, p.slot[l]) |= X_KEY(5);
	}
	CHECK_EQ(walk(&e, VA4, VMMU_ACC_READ | VMMU_ACC_USER, &out), VMMU_WALK_OK);
	CHECK_EQ(out.pkey, 0);
	WHERE("supervisor pages ignore PKRU");
	*pte(&e, p.slot[1]) |= X_KEY(5);
	*pte(&e, p.slot[4]) &= ~X_U;
	expect_ok(&e, VA4, VMMU_ACC_READ, want);
	expect_ok(&e, VA4, VMMU_ACC_WRITE, want);
	env_fini(&e);
}

static void test_pks(void **state)
{
	(void)state;
	struct wenv e;
	struct vmmu_walk out;
	const uint32_t P = VMMU_PFEC_P, W = VMMU_PFEC_W, PK = VMMU_PFEC_PK;
	const uint32_t AD3 = 1u << 6, WD3 = 1u << 7;
	x86_env(&e, 4, 46, 0);
	/* supervisor page (U=0 in the leaf), key 3 */
	struct path p = map_x86(&e, VA4, 1, 0x9000 | X_P | X_W | X_KEY(3));
	uint64_t want = 0x9000 | (VA4 & 0xfff);

	WHERE("PKS=0 ignores PKRS");
	e.cpu.pkrs = AD3;
	set_cpu(&e);
	expect_ok(&e, VA4, VMMU_ACC_READ, want);
	e.cpu.cr4 |= VMMU_CR4_PKS;
	set_cpu(&e);
	WHERE("PKS AD3");
	CHECK_EQ(walk(&e, VA4, VMMU_ACC_READ, &out), VMMU_WALK_PF);
	CHECK_EQ(out.pfec, P | PK);
	CHECK_EQ(out.pkey, 3);
	expect_pf(&e, VA4, VMMU_ACC_WRITE, P | W | PK, 1);
	expect_ok(&e, VA4, VMMU_ACC_FETCH, want);
	WHERE("PKS WD3");
	e.cpu.pkrs = WD3;
	set_cpu(&e);
	expect_ok(&e, VA4, VMMU_ACC_READ, want);
	expect_pf(&e, VA4, VMMU_ACC_WRITE, P | W | PK, 1);
	e.cpu.cr0 &= ~VMMU_CR0_WP;
	set_cpu(&e);
	expect_ok(&e, VA4, VMMU_ACC_WRITE, want);
	WHERE("PKS: user pages use PKRU, not PKRS");
	e.cpu.cr0 |= VMMU_CR0_WP;
	e.cpu.pkrs = AD3;
	set_cpu(&e);
	*pte(&e, p.slot[1]) |= X_U;
	expect_ok(&e, VA4, VMMU_ACC_READ, want);
	expect_ok(&e, VA4, VMMU_ACC_READ | VMMU_ACC_USER, want);
	env_fini(&e);
}

/* --- A/D and PEEK ----------------------------------------------------------- */

static void test_accessed_dirty(void **state)
{
	(void)state;
	struct wenv e;
	struct vmmu_walk out;
	x86_env(&e, 4, 46, 0);
	uint64_t leaf = 0x9000 | X_P | X_U | X_W;
	struct path p = map_x86(&e, VA4, 1, leaf);
	struct saved s = save(&e, &p);

	WHERE("PEEK sets nothing");
	CHECK_EQ(walk(&e, VA4, VMMU_ACC_WRITE | VMMU_ACC_PEEK, &out), VMMU_WALK_OK);
	CHECK_EQ(out.addr, 0x9000 | (VA4 & 0xfff));
	CHECK_EQ(out.pte[1], leaf);
	expect_saved(&e, &p, &s);
	WHERE("a fault sets nothing");
	*pte(&e, p.slot[2]) &= ~X_W;
	s = save(&e, &p);
	expect_pf(&e, VA4, VMMU_ACC_WRITE | VMMU_ACC_USER,
		  VMMU_PFEC_P | VMMU_PFEC_W | VMMU_PFEC_U, 1);
	expect_saved(&e, &p, &s);
	WHERE("PEEK fault sets nothing either");
	expect_pf(&e, VA4, VMMU_ACC_WRITE | VMMU_ACC_USER | VMMU_ACC_PEEK,
		  VMMU_PFEC_P | VMMU_PFEC_W | VMMU_PFEC_U, 1);
	expect_saved(&e, &p, &s);
	WHERE("read success: A everywhere, no D");
	CHECK_EQ(walk(&e, VA4, VMMU_ACC_READ, &out), VMMU_WALK_OK);
	for (unsigned l = 1; l <= 4; l++) {
		CHECK_EQ(*pte(&e, p.slot[l]), s.v[l] | X_A);
	}
	WHERE("write success: D on the leaf only");
	*pte(&e, p.slot[2]) |= X_W;
	s = save(&e, &p);
	CHECK_EQ(walk(&e, VA4, VMMU_ACC_WRITE, &out), VMMU_WALK_OK);
	CHECK_EQ(*pte(&e, p.slot[1]), s.v[1] | X_D);
	for (unsigned l = 2; l <= 4; l++) {
		CHECK_EQ(*pte(&e, p.slot[l]), s.v[l]);
	}
	env_fini(&e);
}

/* --- CPU state, CR3, memory --------------------------------------------------- */

static void test_set_cpu(void **state)
{
	(void)state;
	struct wenv e;
	struct vmmu_walker saved;
	x86_env(&e, 4, 46, 0);

	struct vmmu_cpu_state bad[5];
	for (int i = 0; i < 5; i++) {
		bad[i] = long_mode_cpu(4);
	}
	bad[0].cr0 &= ~VMMU_CR0_PG;
	bad[1].cr4 &= ~VMMU_CR4_PAE;
	bad[2].efer &= ~VMMU_EFER_LMA;
	bad[3].cr4 |= VMMU_CR4_LA57;
	bad[4].efer &= ~(VMMU_EFER_LMA | VMMU_EFER_LME);
	e.cpu.cr4 |= VMMU_CR4_SMEP;
	set_cpu(&e);
	memcpy(&saved, &e.w, sizeof(saved));
	for (int i = 0; i < 5; i++) {
		WHERE("bad cpu state %d", i);
		CHECK_EQ(vmmu_walker_set_cpu(&e.w, &bad[i]), -VMMU_EINVAL);
		CHECK_EQ(memcmp(&saved, &e.w, sizeof(saved)), 0);
		struct vmmu_walker w2;
		CHECK_EQ(vmmu_walker_init(&w2, &e.fmt, &e.tp.plat, &bad[i]),
			 -VMMU_EINVAL);
	}
	env_fini(&e);

	x86_env(&e, 5, 46, 0);
	WHERE("5-level needs LA57");
	struct vmmu_cpu_state c = long_mode_cpu(5);
	c.cr4 &= ~VMMU_CR4_LA57;
	CHECK_EQ(vmmu_walker_set_cpu(&e.w, &c), -VMMU_EINVAL);
	struct vmmu_walker w2;
	CHECK_EQ(vmmu_walker_init(&w2, &e.fmt, &e.tp.plat, &c), -VMMU_EINVAL);
	env_fini(&e);

	WHERE("walker_init argument checks");
	x86_env(&e, 4, 46, 0);
	struct vmmu_fmt ept;
	assert_int_equal(vmmu_fmt_init_ept(&ept, 4, 46, 0), 0);
	c = long_mode_cpu(4);
	CHECK_EQ(vmmu_walker_init(&w2, &ept, &e.tp.plat, &c), -VMMU_EINVAL);
	CHECK_EQ(vmmu_walker_init(&w2, NULL, &e.tp.plat, &c), -VMMU_EINVAL);
	CHECK_EQ(vmmu_walker_init(&w2, &e.fmt, NULL, &c), -VMMU_EINVAL);
	CHECK_EQ(vmmu_walker_init(&w2, &e.fmt, &e.tp.plat, NULL), -VMMU_EINVAL);
	struct vmmu_platform badp = e.tp.plat;
	badp.ops = NULL;
	CHECK_EQ(vmmu_walker_init(&w2, &e.fmt, &badp, &c), -VMMU_EINVAL);
	CHECK_EQ(vmmu_walker_set_cpu(&e.w, NULL), -VMMU_EINVAL);
	env_fini(&e);
}

/* Accesses that cannot happen are refused, not walked. */
static void test_bad_access(void **state)
{
	(void)state;
	struct wenv e;
	struct vmmu_walk out;
	x86_env(&e, 4, 46, 0);
	map_x86(&e, VA4, 1, 0x9000 | X_P | X_W | X_U);

	WHERE("bad access flags");
	CHECK_EQ(walk(&e, VA4, VMMU_ACC_WRITE | VMMU_ACC_FETCH, &out), -VMMU_EINVAL);
	CHECK_EQ(walk(&e, VA4, VMMU_ACC_USER | VMMU_ACC_IMPLICIT, &out), -VMMU_EINVAL);
	CHECK_EQ(walk(&e, VA4, 1u << 0, &out), -VMMU_EINVAL);
	CHECK_EQ(walk(&e, VA4, 1u << 20, &out), -VMMU_EINVAL);
	CHECK_EQ(vmmu_walk(&e.w, e.root, VA4, VMMU_ACC_READ, NULL), -VMMU_EINVAL);
	CHECK_EQ(vmmu_walk(NULL, e.root, VA4, VMMU_ACC_READ, &out), -VMMU_EINVAL);
	expect_ok(&e, VA4, VMMU_ACC_READ, 0x9000 | (VA4 & 0xfff));
	env_fini(&e);
}

static void test_cr3_and_memory(void **state)
{
	(void)state;
	struct wenv e;
	struct vmmu_walk out;
	x86_env(&e, 4, 46, 0);
	struct path p = map_x86(&e, VA4, 1, 0x9000 | X_P);
	uint64_t want = 0x9000 | (VA4 & 0xfff);
	uint64_t outside = (uint64_t)FRAMES * PAGE; /* first pa past the arena */

	WHERE("CR3 low bits (PWT, PCD, PCID) are ignored");
	memset(&out, 0, sizeof(out));
	CHECK_EQ(vmmu_walk(&e.w, e.root | 0x18, VA4, VMMU_ACC_READ, &out), VMMU_WALK_OK);
	CHECK_EQ(out.addr, want);
	CHECK_EQ(vmmu_walk(&e.w, e.root | 0xfff, VA4, VMMU_ACC_READ, &out), VMMU_WALK_OK);
	CHECK_EQ(out.addr, want);
	WHERE("CR3 bits at or above MAXPHYADDR");
	CHECK_EQ(vmmu_walk(&e.w, e.root | BIT(46), VA4, VMMU_ACC_READ, &out),
		 -VMMU_EINVAL);
	CHECK_EQ(vmmu_walk(&e.w, e.root | BIT(51), VA4, VMMU_ACC_READ, &out),
		 -VMMU_EINVAL);
	WHERE("CR3 outside memory");
	CHECK_EQ(vmmu_walk(&e.w, outside, VA4, VMMU_ACC_READ, &out), -VMMU_EFAULT);
	WHERE("a table outside memory");
	for (unsigned l = 2; l <= 4; l++) {
		uint64_t keep = *pte(&e, p.slot[l]);
		*pte(&e, p.slot[l]) = outside | X_TABLE;
		struct saved s = save(&e, &p);
		CHECK_EQ(walk(&e, VA4, VMMU_ACC_READ, &out), -VMMU_EFAULT);
		expect_saved(&e, &p, &s);
		*pte(&e, p.slot[l]) = (BIT(46) - PAGE) | X_TABLE;
		CHECK_EQ(walk(&e, VA4, VMMU_ACC_READ, &out), -VMMU_EFAULT);
		*pte(&e, p.slot[l]) = keep;
	}
	expect_ok(&e, VA4, VMMU_ACC_READ, want);
	env_fini(&e);
}

/* --- EPT ---------------------------------------------------------------------- */

static struct path map_ept(struct wenv *e, uint64_t gpa, unsigned level,
			   uint64_t leaf)
{
	struct path p = build(e, gpa, level);
	*pte(e, p.slot[level]) = leaf;
	return p;
}

static int ept_walk(struct wenv *e, uint64_t gpa, uint32_t acc,
		    struct vmmu_ept_walk *out)
{
	memset(out, 0xcc, sizeof(*out));
	return vmmu_ept_walk(&e->fmt, &e->tp.plat, e->root, gpa, acc, out);
}

static void expect_violation(struct wenv *e, uint64_t gpa, uint32_t acc,
			     uint64_t qual, unsigned level)
{
	struct vmmu_ept_walk out;
	CHECK_EQ(ept_walk(e, gpa, acc, &out), VMMU_EPT_VIOLATION);
	CHECK_EQ(out.qual, qual);
	CHECK_EQ(out.level, level);
}

static void expect_ept_ok(struct wenv *e, uint64_t gpa, uint32_t acc,
			  uint64_t hpa)
{
	struct vmmu_ept_walk out;
	CHECK_EQ(ept_walk(e, gpa, acc, &out), VMMU_EPT_OK);
	CHECK_EQ(out.hpa, hpa);
}

#define GPA 0x0000123456789abcull
#define Q_R VMMU_EPT_QUAL_READ
#define Q_W VMMU_EPT_QUAL_WRITE
#define Q_F VMMU_EPT_QUAL_FETCH
#define Q_CR VMMU_EPT_QUAL_READABLE
#define Q_CW VMMU_EPT_QUAL_WRITABLE
#define Q_CX VMMU_EPT_QUAL_EXECUTABLE
#define Q_CUX VMMU_EPT_QUAL_UEXECUTABLE

static void test_ept_translate(void **state)
{
	(void)state;
	struct wenv e;
	struct vmmu_ept_walk out;
	ept_env(&e, 4, VMMU_FMT_F_1G);
	uint64_t leaf = 0x55000 | E_R | E_W | E_MT(6);
	struct path p = map_ept(&e, GPA, 1, leaf);
	struct saved s = save(&e, &p);

	WHERE("EPT 4K");
	CHECK_EQ(ept_walk(&e, GPA, VMMU_EPT_ACC_WRITE, &out), VMMU_EPT_OK);
	CHECK_EQ(out.hpa, 0x55000 | (GPA & 0xfff));
	CHECK_EQ(out.level, 1);
	CHECK_EQ(out.memtype, 6);
	CHECK_EQ(out.ipat, 0);
	CHECK_EQ(out.pte[1], leaf);
	CHECK_EQ(out.pte[4], s.v[4]);
	expect_saved(&e, &p, &s); /* no A/D without EPT A/D */
	WHERE("EPT IPAT and UC");
	*pte(&e, p.slot[1]) = 0x55000 | E_R | E_MT(0) | E_IPAT;
	CHECK_EQ(ept_walk(&e, GPA, VMMU_EPT_ACC_READ, &out), VMMU_EPT_OK);
	CHECK_EQ(out.memtype, 0);
	CHECK_EQ(out.ipat, 1);
	WHERE("EPTP low control bits ignored");
	memset(&out, 0, sizeof(out));
	CHECK_EQ(vmmu_ept_walk(&e.fmt, &e.tp.plat, e.root | 0x5e, GPA,
			       VMMU_EPT_ACC_READ, &out),
		 VMMU_EPT_OK);
	CHECK_EQ(out.hpa, 0x55000 | (GPA & 0xfff));

	WHERE("EPT 2M");
	uint64_t g2 = 0x0000004000345678ull;
	map_ept(&e, g2, 2, 0x40000000 | E_RWX | E_PS | E_MT(4));
	CHECK_EQ(ept_walk(&e, g2, VMMU_EPT_ACC_FETCH, &out), VMMU_EPT_OK);
	CHECK_EQ(out.hpa, 0x40000000 + (g2 & (2 * MIB - 1)));
	CHECK_EQ(out.level, 2);
	CHECK_EQ(out.memtype, 4);
	WHERE("EPT 1G");
	uint64_t g1 = 0x0000008076543210ull;
	map_ept(&e, g1, 3, 0x1c0000000ull | E_R | E_PS | E_MT(5));
	CHECK_EQ(ept_walk(&e, g1, VMMU_EPT_ACC_READ, &out), VMMU_EPT_OK);
	CHECK_EQ(out.hpa, 0x1c0000000ull + (g1 & (GIB - 1)));
	CHECK_EQ(out.level, 3);
	CHECK_EQ(out.memtype, 5);
	env_fini(&e);

	WHERE("EPT 1G without 1G support: misconfig");
	ept_env(&e, 4, 0);
	map_ept(&e, g1, 3, 0x1c0000000ull | E_R | E_PS | E_MT(5));
	CHECK_EQ(ept_walk(&e, g1, VMMU_EPT_ACC_READ, &out), VMMU_EPT_MISCONFIG);
	env_fini(&e);

	WHERE("EPT 5-level");
	ept_env(&e, 5, 0);
	uint64_t g5 = 0x01ab9def12345678ull;
	p = map_ept(&e, g5, 1, 0x66000 | E_R | E_MT(6));
	CHECK_EQ(ept_walk(&e, g5, VMMU_EPT_ACC_READ, &out), VMMU_EPT_OK);
	CHECK_EQ(out.hpa, 0x66678);
	CHECK_EQ(out.pte[5], *pte(&e, p.slot[5]));
	env_fini(&e);
}

static void test_ept_violations(void **state)
{
	(void)state;
	struct wenv e;
	ept_env(&e, 4, VMMU_FMT_F_1G);
	struct path p = map_ept(&e, GPA, 1, 0x55000 | E_R | E_MT(6));

	WHERE("read-only leaf");
	expect_ept_ok(&e, GPA, VMMU_EPT_ACC_READ, 0x55000 | (GPA & 0xfff));
	expect_violation(&e, GPA, VMMU_EPT_ACC_WRITE, Q_W | Q_CR, 1);
	expect_violation(&e, GPA, VMMU_EPT_ACC_FETCH, Q_F | Q_CR, 1);
	WHERE("linear-address bits");
	expect_violation(&e, GPA, VMMU_EPT_ACC_WRITE | VMMU_EPT_ACC_LINEAR,
			 Q_W | Q_CR | VMMU_EPT_QUAL_GLA_VALID | VMMU_EPT_QUAL_GLA_XLAT, 1);
	expect_violation(&e, GPA,
			 VMMU_EPT_ACC_WRITE | VMMU_EPT_ACC_LINEAR | VMMU_EPT_ACC_GUEST_PT,
			 Q_W | Q_CR | VMMU_EPT_QUAL_GLA_VALID, 1);
	WHERE("rights are the AND over all levels");
	*pte(&e, p.slot[1]) = 0x55000 | E_RWX | E_MT(6);
	*pte(&e, p.slot[2]) &= ~E_W;
	expect_violation(&e, GPA, VMMU_EPT_ACC_WRITE, Q_W | Q_CR | Q_CX, 1);
	*pte(&e, p.slot[2]) |= E_W;
	*pte(&e, p.slot[4]) &= ~E_X;
	expect_violation(&e, GPA, VMMU_EPT_ACC_FETCH, Q_F | Q_CR | Q_CW, 1);
	expect_ept_ok(&e, GPA, VMMU_EPT_ACC_WRITE, 0x55000 | (GPA & 0xfff));
	*pte(&e, p.slot[4]) |= E_X;
	WHERE("not present at each level: bits 3-5 clear");
	for (unsigned l = 1; l <= 4; l++) {
		uint64_t keep = *pte(&e, p.slot[l]);
		*pte(&e, p.slot[l]) = keep & ~E_RWX;
		expect_violation(&e, GPA, VMMU_EPT_ACC_READ, Q_R, l);
		expect_violation(&e, GPA, VMMU_EPT_ACC_WRITE | VMMU_EPT_ACC_FETCH,
				 Q_W | Q_F, l);
		*pte(&e, p.slot[l]) = keep;
	}
	WHERE("UX bit ignored without MBEC; qual bit 6 clear");
	*pte(&e, p.slot[1]) = 0x55000 | E_R | E_X | E_UX | E_MT(6);
	expect_ept_ok(&e, GPA, VMMU_EPT_ACC_FETCH | VMMU_EPT_ACC_USER,
		      0x55000 | (GPA & 0xfff));
	expect_violation(&e, GPA, VMMU_EPT_ACC_WRITE, Q_W | Q_CR | Q_CX, 1);
	env_fini(&e);
}

static void test_ept_mbec(void **state)
{
	(void)state;
	struct wenv e;
	ept_env(&e, 4, VMMU_FMT_F_EPT_MBEC);
	struct path p = map_ept(&e, GPA, 1, 0x55000 | E_R | E_X | E_MT(6));
	uint64_t hpa = 0x55000 | (GPA & 0xfff);

	WHERE("MBEC: X is supervisor execute");
	expect_ept_ok(&e, GPA, VMMU_EPT_ACC_FETCH, hpa);
	expect_violation(&e, GPA, VMMU_EPT_ACC_FETCH | VMMU_EPT_ACC_USER,
			 Q_F | Q_CR | Q_CX, 1);
	WHERE("MBEC: UX is user execute");
	*pte(&e, p.slot[1]) = 0x55000 | E_R | E_UX | E_MT(6);
	expect_ept_ok(&e, GPA, VMMU_EPT_ACC_FETCH | VMMU_EPT_ACC_USER, hpa);
	expect_violation(&e, GPA, VMMU_EPT_ACC_FETCH, Q_F | Q_CR | Q_CUX, 1);
	WHERE("MBEC: UX ANDed over levels");
	*pte(&e, p.slot[3]) &= ~E_UX;
	expect_violation(&e, GPA, VMMU_EPT_ACC_FETCH | VMMU_EPT_ACC_USER,
			 Q_F | Q_CR, 1);
	env_fini(&e);
}

static void test_ept_misconfig(void **state)
{
	(void)state;
	struct wenv e;
	struct vmmu_ept_walk out;
	ept_env(&e, 4, 0);
	struct path p = map_ept(&e, GPA, 1, 0x55000 | E_R | E_MT(6));
	const uint64_t bad_leaves[] = {
		0x55000 | E_W | E_MT(6),        /* W without R */
		0x55000 | E_W | E_X | E_MT(6),  /* WX without R */
		0x55000 | E_X | E_MT(6),        /* X-only, unsupported */
		0x55000 | E_R | E_MT(2),        /* memory types 2, 3, 7 */
		0x55000 | E_R | E_MT(3),
		0x55000 | E_R | E_MT(7),
		0x55000 | E_R | E_MT(6) | BIT(46), /* bits 51:M */
	};

	for (size_t i = 0; i < sizeof(bad_leaves) / sizeof(bad_leaves[0]); i++) {
		WHERE("misconfigured leaf %zu", i);
		*pte(&e, p.slot[1]) = bad_leaves[i];
		struct saved s = save(&e, &p);
		CHECK_EQ(ept_walk(&e, GPA, VMMU_EPT_ACC_READ, &out), VMMU_EPT_MISCONFIG);
		CHECK_EQ(ept_walk(&e, GPA, VMMU_EPT_ACC_FETCH, &out), VMMU_EPT_MISCONFIG);
		expect_saved(&e, &p, &s);
	}
	*pte(&e, p.slot[1]) = 0x55000 | E_R | E_MT(6);
	for (unsigned l = 2; l <= 4; l++) {
		WHERE("reserved bit 3 in the table entry at level %u", l);
		*pte(&e, p.slot[l]) |= BIT(3);
		CHECK_EQ(ept_walk(&e, GPA, VMMU_EPT_ACC_READ, &out), VMMU_EPT_MISCONFIG);
		*pte(&e, p.slot[l]) &= ~BIT(3);
		WHERE("W-only table entry at level %u", l);
		uint64_t keep = *pte(&e, p.slot[l]);
		*pte(&e, p.slot[l]) = (keep & ~E_RWX) | E_W;
		CHECK_EQ(ept_walk(&e, GPA, VMMU_EPT_ACC_READ, &out), VMMU_EPT_MISCONFIG);
		*pte(&e, p.slot[l]) = keep;
	}
	WHERE("PS in the PML4E");
	*pte(&e, p.slot[4]) |= E_PS;
	CHECK_EQ(ept_walk(&e, GPA, VMMU_EPT_ACC_READ, &out), VMMU_EPT_MISCONFIG);
	*pte(&e, p.slot[4]) &= ~E_PS;
	expect_ept_ok(&e, GPA, VMMU_EPT_ACC_READ, 0x55000 | (GPA & 0xfff));
	env_fini(&e);

	WHERE("execute-only supported");
	ept_env(&e, 4, VMMU_FMT_F_EPT_XONLY);
	map_ept(&e, GPA, 1, 0x55000 | E_X | E_MT(6));
	expect_ept_ok(&e, GPA, VMMU_EPT_ACC_FETCH, 0x55000 | (GPA & 0xfff));
	expect_violation(&e, GPA, VMMU_EPT_ACC_READ, Q_R | Q_CX, 1);
	env_fini(&e);
}

static void test_ept_accessed_dirty(void **state)
{
	(void)state;
	struct wenv e;
	struct vmmu_ept_walk out;
	ept_env(&e, 4, VMMU_FMT_F_EPT_AD);
	uint64_t leaf = 0x55000 | E_R | E_W | E_MT(6);
	struct path p = map_ept(&e, GPA, 1, leaf);
	struct saved s = save(&e, &p);

	WHERE("EPT A/D: PEEK sets nothing");
	CHECK_EQ(ept_walk(&e, GPA, VMMU_EPT_ACC_WRITE | VMMU_EPT_ACC_PEEK, &out),
		 VMMU_EPT_OK);
	expect_saved(&e, &p, &s);
	WHERE("EPT A/D: violation sets nothing");
	expect_violation(&e, GPA, VMMU_EPT_ACC_FETCH, Q_F | Q_CR | Q_CW, 1);
	expect_saved(&e, &p, &s);
	WHERE("EPT A/D: read sets A everywhere");
	CHECK_EQ(ept_walk(&e, GPA, VMMU_EPT_ACC_READ, &out), VMMU_EPT_OK);
	for (unsigned l = 1; l <= 4; l++) {
		CHECK_EQ(*pte(&e, p.slot[l]), s.v[l] | E_A);
	}
	CHECK_EQ(out.pte[1], leaf | E_A);
	WHERE("EPT A/D: write sets D on the leaf");
	CHECK_EQ(ept_walk(&e, GPA, VMMU_EPT_ACC_WRITE, &out), VMMU_EPT_OK);
	CHECK_EQ(*pte(&e, p.slot[1]), leaf | E_A | E_D);
	for (unsigned l = 2; l <= 4; l++) {
		CHECK_EQ(*pte(&e, p.slot[l]), s.v[l] | E_A);
	}
	WHERE("EPT A/D: a guest paging-structure read is a write (§29.3.5)");
	*pte(&e, p.slot[1]) = leaf;
	CHECK_EQ(ept_walk(&e, GPA,
			  VMMU_EPT_ACC_READ | VMMU_EPT_ACC_LINEAR | VMMU_EPT_ACC_GUEST_PT,
			  &out),
		 VMMU_EPT_OK);
	CHECK_EQ(*pte(&e, p.slot[1]), leaf | E_A | E_D);
	WHERE("EPT A/D: ... also for permissions: both bits 0 and 1 (Table 28-7)");
	*pte(&e, p.slot[1]) = 0x55000 | E_R | E_MT(6);
	s = save(&e, &p);
	expect_violation(&e, GPA,
			 VMMU_EPT_ACC_READ | VMMU_EPT_ACC_LINEAR | VMMU_EPT_ACC_GUEST_PT,
			 Q_R | Q_W | Q_CR | VMMU_EPT_QUAL_GLA_VALID, 1);
	expect_saved(&e, &p, &s);
	env_fini(&e);

	WHERE("no EPT A/D: guest paging-structure reads are reads");
	ept_env(&e, 4, 0);
	p = map_ept(&e, GPA, 1, 0x55000 | E_R | E_MT(6));
	s = save(&e, &p);
	CHECK_EQ(ept_walk(&e, GPA,
			  VMMU_EPT_ACC_READ | VMMU_EPT_ACC_LINEAR | VMMU_EPT_ACC_GUEST_PT,
			  &out),
		 VMMU_EPT_OK);
	expect_saved(&e, &p, &s);
	env_fini(&e);
}

static void test_ept_errors(void **state)
{
	(void)state;
	struct wenv e;
	struct vmmu_ept_walk out;
	ept_env(&e, 4, 0);
	map_ept(&e, GPA, 1, 0x55000 | E_R | E_MT(6));
	uint64_t outside = (uint64_t)FRAMES * PAGE;

	WHERE("EPT errors");
	CHECK_EQ(ept_walk(&e, BIT(48), VMMU_EPT_ACC_READ, &out), -VMMU_ERANGE);
	CHECK_EQ(ept_walk(&e, ~0ull, VMMU_EPT_ACC_READ, &out), -VMMU_ERANGE);
	CHECK_EQ(vmmu_ept_walk(&e.fmt, &e.tp.plat, outside, GPA, VMMU_EPT_ACC_READ, &out),
		 -VMMU_EFAULT);
	CHECK_EQ(vmmu_ept_walk(&e.fmt, &e.tp.plat, e.root | BIT(46), GPA,
			       VMMU_EPT_ACC_READ, &out),
		 -VMMU_EINVAL);
	struct vmmu_fmt x86;
	assert_int_equal(vmmu_fmt_init_x86(&x86, 4, 46, 0), 0);
	CHECK_EQ(vmmu_ept_walk(&x86, &e.tp.plat, e.root, GPA, VMMU_EPT_ACC_READ, &out),
		 -VMMU_EINVAL);
	CHECK_EQ(vmmu_ept_walk(NULL, &e.tp.plat, e.root, GPA, VMMU_EPT_ACC_READ, &out),
		 -VMMU_EINVAL);
	CHECK_EQ(vmmu_ept_walk(&e.fmt, &e.tp.plat, e.root, GPA, VMMU_EPT_ACC_READ, NULL),
		 -VMMU_EINVAL);
	struct path p = build(&e, GPA, 1);
	*pte(&e, p.slot[3]) = outside | E_RWX;
	CHECK_EQ(ept_walk(&e, GPA, VMMU_EPT_ACC_READ, &out), -VMMU_EFAULT);
	env_fini(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_translate_4k),
		cmocka_unit_test(test_translate_large),
		cmocka_unit_test(test_translate_5level),
		cmocka_unit_test(test_noncanonical),
		cmocka_unit_test(test_not_present_each_level),
		cmocka_unit_test(test_reserved_bits),
		cmocka_unit_test(test_permissions),
		cmocka_unit_test(test_fetch_i_bit),
		cmocka_unit_test(test_smep),
		cmocka_unit_test(test_smap),
		cmocka_unit_test(test_pku),
		cmocka_unit_test(test_pks),
		cmocka_unit_test(test_accessed_dirty),
		cmocka_unit_test(test_set_cpu),
		cmocka_unit_test(test_bad_access),
		cmocka_unit_test(test_cr3_and_memory),
		cmocka_unit_test(test_ept_translate),
		cmocka_unit_test(test_ept_violations),
		cmocka_unit_test(test_ept_mbec),
		cmocka_unit_test(test_ept_misconfig),
		cmocka_unit_test(test_ept_accessed_dirty),
		cmocka_unit_test(test_ept_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
