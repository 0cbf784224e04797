/* SPDX-License-Identifier: MIT */
/*
 * Shadow-paging oracle (docs/shadow.md "Tests"). Random guest page-table
 * trees in guest RAM, random guest stores applied through
 * vmmu_shadow_write, random CPU modes (CR0.WP, SMEP, SMAP, EFER.NXE) and
 * random accesses (read/write/fetch, user/supervisor, EFLAGS.AC,
 * implicit) from two vCPUs sharing one shadow instance.
 *
 * Every access is resolved the way hardware and an embedder would: walk
 * the SHADOW tables (vmmu_walk over the host platform in the host mode
 * the shadow assumes: CR0.WP=1, NXE=1, the guest's SMEP/SMAP); on a fault
 * call vmmu_shadow_fault and act on its answer; repeat. The answer must
 * equal the guest walk (PEEK) composed with the p2m:
 *   - the shadow translates   => the guest translates to the same host
 *     address, every guest entry used has A set, the leaf D for writes,
 *     and a write never goes straight to a tracked guest page table;
 *   - INJECT                  => the guest faults with that exact error code;
 *   - MMIO / EMULATE / ENOENT => the guest translates to an MMIO gpa / a
 *     RAM page the leaf cannot grant / an absent frame.
 * After each access, every other access kind on that address is probed on
 * the shadow alone (safety: the shadow never grants more than the guest).
 *
 * Knobs: SHADOW_SEED, SHADOW_ACCESSES (default 1000000).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <vmmu/vmmu.h>
#include <vmmu/shadow.h>

#include "splitmix.h"
#include "test_platform.h"

#define NTABLES 20
#define NVCPU 2

/* --- the guest's physical layout (p2m) ------------------------------------ */

#define MMIO_GFN 0x1000ull   /* [0x1000, 0x1200): device memory */
#define ABSENT_GFN 0x80000ull /* and above: nothing */
#define HOST_OFF 0x100000ull  /* RAM gfn g lives at host frame g + HOST_OFF */

static int p2m(void *ctx, uint64_t gfn, uint64_t *hfn)
{
	(void)ctx;
	if (gfn >= MMIO_GFN && gfn < MMIO_GFN + 0x200) {
		return VMMU_P2M_MMIO;
	}
	if (gfn >= ABSENT_GFN) {
		return VMMU_P2M_ABSENT;
	}
	*hfn = gfn + HOST_OFF;
	return VMMU_P2M_RAM;
}

static const struct vmmu_shadow_ops ops = {.p2m = p2m};

/* --- state ------------------------------------------------------------------ */

struct vcpu_ctx {
	struct vmmu_shadow_vcpu v;
	struct vmmu_walker gw; /* oracle: guest walk */
	struct vmmu_walker hw; /* oracle: hardware on the shadow tables */
	struct vmmu_cpu_state cpu;
	uint64_t cr3;
};

struct world {
	struct test_platform host, guest;
	struct vmmu_fmt fmt;
	struct vmmu_shadow sh;
	struct vmmu_shadow_page *pages;
	struct vcpu_ctx vc[NVCPU];
	uint64_t table[NTABLES]; /* guest-physical addresses of the tables */
	uint64_t rng;
	unsigned levels;
	/* counters */
	uint64_t accesses, direct_ok, fixed, injected, mmio, emulated, absent, badmem;
	uint64_t probes, writes, mode_changes, cr3_loads, invlpgs;
};

static const unsigned idx_set[6] = {0, 1, 2, 3, 256, 511};

static uint64_t rnd(struct world *w, uint64_t n)
{
	return splitmix64_next(&w->rng) % n;
}

/* Table t normally sits at level levels - t % levels (0: a root). */
static unsigned table_level(const struct world *w, unsigned t)
{
	return w->levels - t % w->levels;
}

/* A random table normally used at `level`. */
static unsigned table_at(struct world *w, unsigned level)
{
	unsigned n = (NTABLES - 1 - (w->levels - level)) / w->levels + 1;

	return (unsigned)rnd(w, n) * w->levels + (w->levels - level);
}

/* A random guest entry for a table at `level` (architectural bits). */
static uint64_t gen_entry(struct world *w, unsigned level)
{
	uint64_t e = 1; /* P */

	if (rnd(w, 32) == 0) {
		return rnd(w, 2) ? 0 : (rnd(w, 1u << 20) << 12) & ~1ull;
	}
	e |= rnd(w, 8) ? 2 : 0;                /* R/W */
	e |= rnd(w, 8) ? 4 : 0;                /* U/S */
	e |= rnd(w, 2) ? 0x20 : 0;             /* A */
	e |= rnd(w, 2) ? 0x40 : 0;             /* D */
	e |= rnd(w, 8) == 0 ? 1ull << 63 : 0;  /* XD */
	e |= rnd(w, 100) == 0 ? 1ull << 51 : 0; /* reserved (MAXPHYADDR 46) */
	if (level == 1) {
		static const uint64_t base[4] = {0x100, 0x0, MMIO_GFN, 0x90000};
		uint64_t gfn = rnd(w, 3) == 0 ? w->table[rnd(w, NTABLES)] >> 12
					    : base[rnd(w, 4)] + rnd(w, 4);
		return e | (gfn << 12);
	}
	if ((level == 2 || level == 3) && rnd(w, 4) == 0) {
		static const uint64_t b2[4] = {0, 0x200, MMIO_GFN, 0x80200};
		static const uint64_t b3[3] = {0, 0x40000, ABSENT_GFN};
		uint64_t gfn = level == 2 ? b2[rnd(w, 4)] : b3[rnd(w, 3)];
		e |= rnd(w, 30) == 0 ? 1ull << 13 : 0; /* reserved in a large leaf */
		return e | 0x80 | (gfn << 12);
	}
	e |= (level >= 4 && rnd(w, 100) == 0) ? 0x80 : 0; /* PS: reserved */
	return e | w->table[rnd(w, 16) ? table_at(w, level - 1) : rnd(w, NTABLES)];
}

static void build_tables(struct world *w)
{
	for (unsigned t = 0; t < NTABLES; t++) {
		w->table[t] = test_platform_data_frame(&w->guest);
		assert_true(w->table[t] != 0);
		memset(test_platform_ptr(&w->guest, w->table[t]), 0, 4096);
	}
	/* Table t is mostly used at table_level(t), but any may alias. */
	for (unsigned t = 0; t < NTABLES; t++) {
		uint64_t *p = test_platform_ptr(&w->guest, w->table[t]);
		for (unsigned k = 0; k < 6; k++) {
			p[idx_set[k]] = gen_entry(w, table_level(w, t));
		}
	}
}

static uint64_t random_va(struct world *w)
{
	uint64_t va = rnd(w, 4096);

	for (unsigned l = 1; l <= w->levels; l++) {
		va |= (uint64_t)idx_set[rnd(w, 6)] << (12 + 9 * (l - 1));
	}
	unsigned bits = w->levels == 5 ? 57 : 48;
	if (rnd(w, 200) == 0) {
		return va | (1ull << 62); /* non-canonical */
	}
	return (uint64_t)((int64_t)(va << (64 - bits)) >> (64 - bits));
}

static struct vmmu_cpu_state random_cpu(struct world *w)
{
	struct vmmu_cpu_state c = {
		.cr0 = VMMU_CR0_PE | VMMU_CR0_PG | (rnd(w, 3) ? VMMU_CR0_WP : 0),
		.cr4 = VMMU_CR4_PAE | (w->levels == 5 ? VMMU_CR4_LA57 : 0) |
		       (rnd(w, 3) ? 0 : VMMU_CR4_SMEP) | (rnd(w, 3) ? 0 : VMMU_CR4_SMAP),
		.efer = VMMU_EFER_LME | VMMU_EFER_LMA | (rnd(w, 8) ? VMMU_EFER_NXE : 0),
	};
	return c;
}

static struct vmmu_cpu_state host_cpu(const struct world *w,
				      const struct vmmu_cpu_state *g)
{
	struct vmmu_cpu_state h = *g;

	h.cr0 |= VMMU_CR0_WP;
	h.efer |= VMMU_EFER_NXE;
	(void)w;
	return h;
}

static void set_mode(struct world *w, struct vcpu_ctx *c)
{
	c->cpu = random_cpu(w);
	struct vmmu_cpu_state h = host_cpu(w, &c->cpu);
	assert_int_equal(vmmu_shadow_set_cpu(&c->v, &c->cpu), 0);
	assert_int_equal(vmmu_walker_set_cpu(&c->gw, &c->cpu), 0);
	assert_int_equal(vmmu_walker_set_cpu(&c->hw, &h), 0);
}

static void world_init(struct world *w, uint64_t seed, unsigned levels,
		       uint32_t max_pages)
{
	memset(w, 0, sizeof(*w));
	w->rng = seed;
	w->levels = levels;
	test_platform_init(&w->host, 4096);
	test_platform_init(&w->guest, 256);
	assert_int_equal(vmmu_fmt_init_x86(&w->fmt, levels, 46, VMMU_FMT_F_1G), 0);
	w->pages = calloc(max_pages, sizeof(*w->pages));
	assert_non_null(w->pages);
	assert_int_equal(vmmu_shadow_init(&w->sh, &w->fmt, &w->host.plat, &ops,
					  NULL, w->pages, max_pages), 0);
	build_tables(w);
	for (unsigned i = 0; i < NVCPU; i++) {
		struct vcpu_ctx *c = &w->vc[i];
		c->cpu = random_cpu(w);
		struct vmmu_cpu_state h = host_cpu(w, &c->cpu);
		c->cr3 = w->table[i * levels];
		assert_int_equal(vmmu_shadow_vcpu_init(&c->v, &w->sh, &w->fmt,
						       &w->guest.plat, &c->cpu, c->cr3), 0);
		assert_int_equal(vmmu_walker_init(&c->gw, &w->fmt, &w->guest.plat, &c->cpu), 0);
		assert_int_equal(vmmu_walker_init(&c->hw, &w->fmt, &w->host.plat, &h), 0);
	}
}

static void world_fini(struct world *w)
{
	vmmu_shadow_destroy(&w->sh);
	assert_int_equal(w->host.live, 0); /* every shadow frame came back */
	free(w->pages);
	test_platform_fini(&w->host);
	test_platform_fini(&w->guest);
}

/* --- the checks ------------------------------------------------------------- */

#define FAIL(w, ...)                                                       \
	do {                                                               \
		print_error("seed state %#llx after %llu accesses: ",      \
			    (unsigned long long)(w)->rng,                  \
			    (unsigned long long)(w)->accesses);            \
		print_error(__VA_ARGS__);                                  \
		fail();                                                    \
	} while (0)

static int p2m_of(uint64_t gpa, uint64_t *hpa)
{
	uint64_t hfn = 0;
	int t = p2m(NULL, gpa >> 12, &hfn);

	*hpa = (hfn << 12) | (gpa & 0xfff);
	return t;
}

/*
 * The shadow granted `acc` at va (walk sw): the guest must grant it too,
 * to the same host address, with its A/D bits already set.
 */
static void check_granted(struct world *w, struct vcpu_ctx *c, uint64_t va,
			  uint32_t acc, const struct vmmu_walk *sw)
{
	struct vmmu_walk gw;
	int rc = vmmu_walk(&c->gw, c->cr3, va, acc | VMMU_ACC_PEEK, &gw);
	uint64_t hpa;

	if (rc != VMMU_WALK_OK) {
		FAIL(w, "va %#llx acc %#x: shadow grants, guest walk %d pfec %#x\n",
		     (unsigned long long)va, acc, rc, gw.pfec);
	}
	if (p2m_of(gw.addr, &hpa) != VMMU_P2M_RAM || hpa != sw->addr) {
		FAIL(w, "va %#llx acc %#x: shadow -> %#llx, guest gpa %#llx\n",
		     (unsigned long long)va, acc, (unsigned long long)sw->addr,
		     (unsigned long long)gw.addr);
	}
	for (unsigned l = gw.top_level; l >= gw.level; l--) {
		if (!(gw.pte[l] & 0x20)) {
			FAIL(w, "va %#llx: guest A clear at level %u\n",
			     (unsigned long long)va, l);
		}
	}
	if ((acc & VMMU_ACC_WRITE) && !(gw.pte[gw.level] & 0x40)) {
		FAIL(w, "va %#llx: write granted with guest D clear\n",
		     (unsigned long long)va);
	}
	if ((acc & VMMU_ACC_WRITE) && vmmu_shadow_tracked(&w->sh, gw.addr >> 12)) {
		FAIL(w, "va %#llx: write granted to tracked gfn %#llx\n",
		     (unsigned long long)va, (unsigned long long)(gw.addr >> 12));
	}
}

/* The answer of the shadow fault handler must match the guest walk. */
static bool check_answer(struct world *w, struct vcpu_ctx *c, uint64_t va,
			 uint32_t acc, int rc, const struct vmmu_shadow_result *r,
			 int grc, const struct vmmu_walk *g)
{
	uint64_t hpa = 0;
	int type = grc == VMMU_WALK_OK ? p2m_of(g->addr, &hpa) : -1;

	(void)c;

	if (rc == -VMMU_ENOENT && type == VMMU_P2M_ABSENT) {
		w->absent++;
		return true;
	}
	if (grc == -VMMU_EFAULT && rc == -VMMU_EFAULT) {
		w->badmem++; /* a guest table pointer leads outside guest RAM */
		return true;
	}
	if (rc != 0) {
		FAIL(w, "va %#llx acc %#x: fault rc %d (guest %d)\n",
		     (unsigned long long)va, acc, rc, grc);
	}
	switch (r->outcome) {
	case VMMU_SHADOW_FIXED:
		if (grc != VMMU_WALK_OK || type != VMMU_P2M_RAM) {
			FAIL(w, "va %#llx acc %#x: FIXED but guest %d type %d\n",
			     (unsigned long long)va, acc, grc, type);
		}
		return false;
	case VMMU_SHADOW_INJECT:
		if (grc != VMMU_WALK_PF || r->pfec != g->pfec) {
			FAIL(w, "va %#llx acc %#x: inject pfec %#x, guest %d pfec %#x\n",
			     (unsigned long long)va, acc, r->pfec, grc, g->pfec);
		}
		w->injected++;
		return true;
	case VMMU_SHADOW_MMIO:
		if (type != VMMU_P2M_MMIO || r->gpa != g->addr) {
			FAIL(w, "va %#llx: MMIO %#llx but guest %d type %d\n",
			     (unsigned long long)va, (unsigned long long)r->gpa, grc, type);
		}
		w->mmio++;
		return true;
	case VMMU_SHADOW_EMULATE:
		if (type != VMMU_P2M_RAM || r->hpa != hpa || !(acc & VMMU_ACC_WRITE)) {
			FAIL(w, "va %#llx acc %#x: EMULATE %#llx but guest %d type %d\n",
			     (unsigned long long)va, acc, (unsigned long long)r->hpa, grc, type);
		}
		w->emulated++;
		return true;
	case VMMU_SHADOW_GP:
		if (grc != VMMU_WALK_GP) {
			FAIL(w, "va %#llx: GP but guest %d\n", (unsigned long long)va, grc);
		}
		return true;
	default:
		FAIL(w, "bad outcome %u\n", r->outcome);
	}
	return true;
}

static const uint32_t kinds[10] = {
	0, VMMU_ACC_WRITE, VMMU_ACC_FETCH, VMMU_ACC_USER,
	VMMU_ACC_USER | VMMU_ACC_WRITE, VMMU_ACC_USER | VMMU_ACC_FETCH,
	VMMU_ACC_AC, VMMU_ACC_AC | VMMU_ACC_WRITE, VMMU_ACC_IMPLICIT,
	VMMU_ACC_IMPLICIT | VMMU_ACC_WRITE,
};

/* Safety: whatever the shadow now grants at va, the guest grants. */
static void probe_all(struct world *w, struct vcpu_ctx *c, uint64_t va)
{
	uint64_t root;

	assert_int_equal(vmmu_shadow_root(&c->v, &root), 0);
	for (unsigned k = 0; k < 10; k++) {
		struct vmmu_walk sw;
		int s = vmmu_walk(&c->hw, root, va, kinds[k] | VMMU_ACC_PEEK, &sw);
		w->probes++;
		if (s == VMMU_WALK_OK) {
			check_granted(w, c, va, kinds[k], &sw);
		}
	}
}

/* One access, resolved until the shadow grants it or answers otherwise. */
static void one_access(struct world *w, struct vcpu_ctx *c, uint64_t va,
		       uint32_t acc)
{
	struct vmmu_walk g, sw;
	int grc = vmmu_walk(&c->gw, c->cr3, va, acc | VMMU_ACC_PEEK, &g);

	assert_true(grc >= 0 || grc == -VMMU_EFAULT);
	w->accesses++;
	for (unsigned iter = 0; iter < 3; iter++) {
		uint64_t root;
		assert_int_equal(vmmu_shadow_root(&c->v, &root), 0);
		int s = vmmu_walk(&c->hw, root, va, acc | VMMU_ACC_PEEK, &sw);
		if (s == VMMU_WALK_OK) {
			check_granted(w, c, va, acc, &sw);
			w->direct_ok += iter == 0;
			return;
		}
		struct vmmu_shadow_result r;
		int rc = vmmu_shadow_fault(&c->v, va, acc, &r);
		if (check_answer(w, c, va, acc, rc, &r, grc, &g)) {
			return;
		}
		w->fixed++;
	}
	FAIL(w, "va %#llx acc %#x: FIXED but the shadow still faults\n",
	     (unsigned long long)va, acc);
}

/* A guest store to one of its tables, emulated through the shadow. */
static void guest_store(struct world *w, struct vcpu_ctx *c)
{
	unsigned t = (unsigned)rnd(w, NTABLES);
	uint64_t gpa = w->table[t] + idx_set[rnd(w, 6)] * 8;
	uint64_t e = gen_entry(w, rnd(w, 8) ? table_level(w, t)
					    : 1 + (unsigned)rnd(w, w->levels));

	switch (rnd(w, 4)) {
	case 0: /* low half only */
		assert_int_equal(vmmu_shadow_write(&c->v, gpa, e & 0xffffffffu, 4), 0);
		break;
	case 1: /* guest clears A/D (one byte) */
		assert_int_equal(vmmu_shadow_write(&c->v, gpa, e & 0x9f, 1), 0);
		break;
	default:
		assert_int_equal(vmmu_shadow_write(&c->v, gpa, e, 8), 0);
		break;
	}
	w->writes++;
}

static void step(struct world *w)
{
	struct vcpu_ctx *c = &w->vc[rnd(w, NVCPU)];
	uint64_t r = rnd(w, 1000);

	if (r < 40) {
		guest_store(w, c);
	} else if (r < 42) {
		set_mode(w, c);
		w->mode_changes++;
	} else if (r < 45) {
		c->cr3 = w->table[rnd(w, 3) * w->levels];
		assert_int_equal(vmmu_shadow_new_cr3(&c->v, c->cr3), 0);
		w->cr3_loads++;
	} else if (r < 50) {
		assert_int_equal(vmmu_shadow_invlpg(&c->v, random_va(w)), 0);
		w->invlpgs++;
	}
	uint64_t va = random_va(w);
	uint32_t acc = kinds[rnd(w, 10)];
	one_access(w, c, va, acc);
	if (rnd(w, 8) == 0) {
		probe_all(w, c, va);
	}
}

static uint64_t env_u64(const char *name, uint64_t def)
{
	const char *s = getenv(name);

	return s != NULL ? strtoull(s, NULL, 0) : def;
}

static void run(uint64_t seed, unsigned levels, uint32_t max_pages,
		uint64_t n, const char *label)
{
	struct world *w = calloc(1, sizeof(*w));

	assert_non_null(w);
	world_init(w, seed, levels, max_pages);
	for (uint64_t i = 0; i < n; i++) {
		step(w);
	}
	printf("shadow oracle %s: seed %#llx, %u-level, pool %u: %llu accesses "
	       "(%llu hit the shadow at once, %llu fills, %llu #PF injected, "
	       "%llu MMIO, %llu emulated, %llu absent, %llu bad table), %llu probes, %llu guest "
	       "stores, %llu mode changes, %llu CR3 loads, %llu INVLPG, %llu "
	       "zap-alls, %llu write zaps\n",
	       label, (unsigned long long)seed, levels, max_pages,
	       (unsigned long long)w->accesses, (unsigned long long)w->direct_ok,
	       (unsigned long long)w->fixed, (unsigned long long)w->injected,
	       (unsigned long long)w->mmio, (unsigned long long)w->emulated,
	       (unsigned long long)w->absent, (unsigned long long)w->badmem,
	       (unsigned long long)w->probes,
	       (unsigned long long)w->writes, (unsigned long long)w->mode_changes,
	       (unsigned long long)w->cr3_loads, (unsigned long long)w->invlpgs,
	       (unsigned long long)w->sh.stat_zap_all,
	       (unsigned long long)w->sh.stat_write_zaps);
	/* The run must have exercised every answer, or it proves little. */
	assert_true(w->fixed > 0 && w->injected > 0 && w->mmio > 0 &&
		    w->emulated > 0 && w->absent > 0);
	world_fini(w);
	free(w);
}

static void test_oracle(void **state)
{
	(void)state;
	uint64_t seed = env_u64("SHADOW_SEED", 0x5ad0u);
	uint64_t n = env_u64("SHADOW_ACCESSES", 1000000);

	/* Most accesses with a roomy pool, the rest with a tight one that
	 * reclaims (zap-all) often; 4- and 5-level guests. */
	run(seed, 4, 2048, n * 4 / 10, "4-level");
	run(seed + 1, 5, 2048, n * 4 / 10, "5-level");
	run(seed + 2, 4, 12, n - 2 * (n * 4 / 10), "tight pool");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_oracle),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
