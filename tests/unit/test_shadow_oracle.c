/* SPDX-License-Identifier: MIT */
/*
 * Shadow-paging oracle (docs/shadow.md "Tests"). Random guest page-table
 * trees in guest RAM, random guest stores applied through
 * vmmu_shadow_write, random CPU modes (CR0.WP, SMEP, SMAP, EFER.NXE) and
 * random accesses (read/write/fetch, user/supervisor, EFLAGS.AC,
 * implicit) from two vCPUs sharing one shadow instance.
 *
 * Every access is resolved the way hardware and an embedder would and
 * compared with the guest walk composed with the p2m, by the shared
 * harness (tests/support/shadow_harness.h states the rules). After an
 * access, every access kind on that address is sometimes probed on the
 * shadow alone (safety: the shadow never grants more than the guest).
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

#include "shadow_harness.h"
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

struct world {
	struct test_platform host, guest;
	struct vmmu_fmt fmt;
	struct vmmu_shadow sh;
	struct vmmu_shadow_page *pages;
	struct shh_env env;
	struct shh_vcpu vc[NVCPU];
	uint64_t table[NTABLES]; /* guest-physical addresses of the tables */
	uint64_t rng;
	unsigned levels;
	/* counters */
	uint64_t accesses, direct_ok, fixed, injected, mmio, emulated, absent, badmem;
	uint64_t probes, writes, mode_changes, cr3_loads, invlpgs;
	uint64_t direct_stores, stale_accesses, flushes, audits;
	bool unflushed; /* a direct store to an out-of-sync table, not flushed */
	uint32_t *scratch; /* vmmu_shadow_audit */
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

static void set_mode(struct world *w, struct shh_vcpu *c)
{
	struct vmmu_cpu_state cpu = random_cpu(w);

	assert_int_equal(shh_set_cpu(c, &cpu), 0);
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
	w->env = (struct shh_env){
		.sh = &w->sh, .fmt = &w->fmt, .guest = &w->guest.plat,
		.host = &w->host.plat, .p2m = p2m,
	};
	build_tables(w);
	for (unsigned i = 0; i < NVCPU; i++) {
		struct vmmu_cpu_state cpu = random_cpu(w);
		assert_int_equal(shh_vcpu_init(&w->vc[i], &w->env, &cpu,
					       w->table[i * levels]), 0);
	}
}

static void world_fini(struct world *w)
{
	for (unsigned i = 0; i < NVCPU; i++) {
		shh_vcpu_fini(&w->vc[i]);
	}
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

/* The engine's bookkeeping (hashes, parents, reverse map) is consistent. */
static void audit(struct world *w)
{
	int bad = vmmu_shadow_audit(&w->sh, w->scratch);

	w->audits++;
	if (bad != 0) {
		FAIL(w, "vmmu_shadow_audit found %d problems\n", bad);
	}
}

/* Safety: whatever the shadow now grants at va, the guest grants. */
static void probe_all(struct world *w, struct shh_vcpu *c, uint64_t va)
{
	char why[SHH_WHY];

	for (unsigned k = 0; k < SHH_KINDS; k++) {
		w->probes++;
		if (shh_probe(c, va, shh_kinds[k], why) < 0) {
			FAIL(w, "%s\n", why);
		}
	}
}

/* One access, resolved until the shadow grants it or answers otherwise. */
static void one_access(struct world *w, struct shh_vcpu *c, uint64_t va,
		       uint32_t acc)
{
	struct shh_result r;

	w->accesses++;
	if (w->unflushed) {
		/* Stale translations are allowed: resolve, do not compare. */
		(void)shh_access(c, va, acc, &r);
		w->stale_accesses++;
		return;
	}
	if (!shh_access(c, va, acc, &r)) {
		FAIL(w, "%s\n", r.why);
	}
	w->fixed += r.fills;
	w->direct_ok += r.how == SHH_GRANTED && r.fills == 0;
	w->injected += r.how == SHH_INJECT;
	w->mmio += r.how == SHH_MMIO;
	w->emulated += r.how == SHH_EMULATE;
	w->absent += r.how == SHH_ABSENT;
	w->badmem += r.how == SHH_BADMEM;
}

/*
 * The guest flushes every vCPU's TLB (a shootdown): out-of-sync tables are
 * resynced, and from here on the shadow must match the guest exactly.
 */
static void guest_flush_all(struct world *w)
{
	for (unsigned i = 0; i < NVCPU; i++) {
		assert_int_equal(vmmu_shadow_flush_tlb(&w->vc[i].v), 0);
	}
	w->unflushed = false;
	w->flushes++;
}

/*
 * A store to an out-of-sync table needs no trap: the guest writes it
 * directly (vmmu is not called). The architecture lets the old
 * translation live until the guest flushes; half of the time it flushes
 * at once, else some accesses run on the stale shadow first.
 */
static void direct_store(struct world *w, uint64_t gpa, uint64_t e)
{
	*(uint64_t *)test_platform_ptr(&w->guest, gpa) = e;
	w->direct_stores++;
	if (rnd(w, 2) == 0) {
		guest_flush_all(w);
	} else {
		w->unflushed = true;
	}
}

/* A guest store to one of its tables: emulated, or direct when unsynced. */
static void guest_store(struct world *w, struct shh_vcpu *c)
{
	unsigned t = (unsigned)rnd(w, NTABLES);
	uint64_t gpa = w->table[t] + idx_set[rnd(w, 6)] * 8;
	uint64_t e = gen_entry(w, rnd(w, 8) ? table_level(w, t)
					    : 1 + (unsigned)rnd(w, w->levels));

	if (vmmu_shadow_out_of_sync(&w->sh, gpa >> 12) && rnd(w, 4) != 0) {
		direct_store(w, gpa, e);
		return;
	}
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
	struct shh_vcpu *c = &w->vc[rnd(w, NVCPU)];
	uint64_t r = rnd(w, 1000);

	if (r < 40) {
		guest_store(w, c);
	} else if (r < 42) {
		set_mode(w, c);
		w->mode_changes++;
	} else if (r < 45) {
		assert_int_equal(shh_new_cr3(c, w->table[rnd(w, 3) * w->levels]), 0);
		w->cr3_loads++;
		/* vmmu resyncs every out-of-sync table on any CR3 load (more
		 * than the architecture asks), so all vCPUs are exact again. */
		w->unflushed = false;
	} else if (r < 47 && w->unflushed) {
		guest_flush_all(w);
	} else if (r < 50) {
		assert_int_equal(vmmu_shadow_invlpg(&c->v, random_va(w)), 0);
		w->invlpgs++;
	}
	uint64_t va = random_va(w);
	uint32_t acc = shh_kinds[rnd(w, SHH_KINDS)];
	one_access(w, c, va, acc);
	if (rnd(w, 8) == 0 && !w->unflushed) {
		probe_all(w, c, va);
	}
	if ((w->accesses & 16383) == 0) {
		audit(w);
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
	w->scratch = calloc(max_pages, sizeof(*w->scratch));
	assert_non_null(w->scratch);
	/* n accesses compared: those on a stale shadow do not count. */
	while (w->accesses - w->stale_accesses < n) {
		step(w);
	}
	audit(w);
	free(w->scratch);
	printf("shadow oracle %s: seed %#llx, %u-level, pool %u: %llu accesses "
	       "(%llu hit the shadow at once, %llu fills, %llu #PF injected, "
	       "%llu MMIO, %llu emulated, %llu absent, %llu bad table), %llu probes, %llu guest "
	       "stores, %llu mode changes, %llu CR3 loads, %llu INVLPG, %llu "
	       "zap-alls, %llu write zaps; %llu unsynced, %llu resynced, %llu "
	       "reclaimed, %llu prefetched, %llu 2M leaves, %llu direct stores to out-of-sync "
	       "tables, %llu accesses on a stale shadow, %llu guest flushes, "
	       "%llu audits\n",
	       label, (unsigned long long)seed, levels, max_pages,
	       (unsigned long long)w->accesses, (unsigned long long)w->direct_ok,
	       (unsigned long long)w->fixed, (unsigned long long)w->injected,
	       (unsigned long long)w->mmio, (unsigned long long)w->emulated,
	       (unsigned long long)w->absent, (unsigned long long)w->badmem,
	       (unsigned long long)w->probes,
	       (unsigned long long)w->writes, (unsigned long long)w->mode_changes,
	       (unsigned long long)w->cr3_loads, (unsigned long long)w->invlpgs,
	       (unsigned long long)w->sh.stat_zap_all,
	       (unsigned long long)w->sh.stat_write_zaps,
	       (unsigned long long)w->sh.stat_unsync,
	       (unsigned long long)w->sh.stat_resync,
	       (unsigned long long)w->sh.stat_reclaimed,
	       (unsigned long long)w->sh.stat_prefetch,
	       (unsigned long long)w->sh.stat_large,
	       (unsigned long long)w->direct_stores,
	       (unsigned long long)w->stale_accesses,
	       (unsigned long long)w->flushes, (unsigned long long)w->audits);
	/* The run must have exercised every answer, or it proves little. */
	assert_true(w->fixed > 0 && w->injected > 0 && w->mmio > 0 &&
		    w->emulated > 0 && w->absent > 0 && w->direct_stores > 0 &&
		    w->sh.stat_resync > 0 && w->sh.stat_prefetch > 0 &&
		    w->sh.stat_large > 0);
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
