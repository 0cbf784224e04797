/* SPDX-License-Identifier: MIT */
/*
 * The walker's access matrix through the shadow path (issue 6 item 7).
 *
 * tests/support/access_space.h defines the permission combinations that
 * tests/model/exhaustive.c runs against the reference walker and the QEMU
 * kernel runs against the CPU: the bits of the PTE, PDE and PDPTE mapping
 * one address, the access, and the CPU state. Here every combination that
 * shadow paging supports is built as guest tables in guest memory and the
 * access is resolved through the shadow path the way hardware and an
 * embedder would (tests/support/shadow_harness.h), then compared with the
 * guest walk composed with the p2m: the same host address (with guest A
 * set on the path and D for writes), or the same injected #PF error code;
 * EMULATE only for a write to a page the guest lets it write. Afterwards
 * all ten access kinds are probed on the shadow alone: it must never grant
 * more than the guest.
 *
 * Each combination runs twice (run_state):
 *   - fresh: on a shadow that has never seen its entries or frames;
 *   - warm: right after another access kind to the same address on a fresh
 *     shadow. A/D emulation (a read maps the page read-only while D is
 *     clear) and the CR0.WP=0 tricks (a supervisor write turns a user page
 *     into a supervisor page until a user access flips it back; XD with
 *     SMEP) depend on that history.
 *
 * Protection keys (CR4.PKE/PKS) are not virtualized by the shadow
 * (docs/shadow.md): for those combinations vmmu_shadow_vcpu_init and
 * vmmu_shadow_set_cpu must answer exactly -VMMU_ENOTSUP; they are counted
 * as skipped by design.
 *
 * 4-level paging, MAXPHYADDR 36: bit 36 of an entry is a reserved bit here
 * (with 46 it is an address bit, which the shadow only passes through: a
 * different frame, 2.5 times the combinations, nothing new to check).
 * Knob: SHADOW_MATRIX_LEVELS=5 runs 5-level paging instead.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vmmu/shadow.h>

#include "access_space.h"
#include "shadow_harness.h"
#include "splitmix.h"
#include "test_platform.h"
#include "unit_check.h"

#define MAXPHYADDR 36
#define VA4 0xffff923412345678ull /* 48-bit canonical */
#define VA5 0xff92340012345678ull /* 57-bit canonical, not 48-bit */
#define FRAME_4K 0x0000000876543000ull
#define FRAME_2M 0x0000000789a00000ull
/* The PTE under a 2M leaf: present, with a reserved bit (access_space.h). */
#define PTE_POISON (ACC_X_P | ACC_X_W | ACC_X_U | ACC_B(51) | 0x0000000123456000ull)
/* Guest RAM frame g lives at host frame g + HOST_OFF (below 2^36). */
#define HOST_OFF 0x100000ull
/* Paths used in turn between two zaps (see fresh_shadow), at most 256. */
#define NPATHS 128u
/* Room for every path's shadow pages: no reclaim within a round. */
#define MAX_PAGES (8u * NPATHS)
#define MAX_REPORTS 10

static int p2m(void *ctx, uint64_t gfn, uint64_t *hfn)
{
	(void)ctx;
	*hfn = gfn + HOST_OFF; /* all RAM: the matrix is about rights */
	return VMMU_P2M_RAM;
}

static const struct vmmu_shadow_ops ops = {.p2m = p2m};

struct counts {
	uint64_t combos, granted, injected, emulated, fills;
};

/* One address in the guest's space, with its own tables below the root. */
struct path {
	uint64_t va;
	uint64_t *slot[VMMU_LEVEL_MAX + 1]; /* guest entries mapping va */
	uint64_t upper[VMMU_LEVEL_MAX + 1]; /* PML4E/PML5E: next table | P|W|U */
	struct acc_frames fr;
};

struct matrix {
	unsigned levels;
	struct test_platform host, guest;
	struct vmmu_fmt fmt;
	struct vmmu_shadow sh;
	struct vmmu_shadow_page pages[MAX_PAGES];
	struct shh_env env;
	struct shh_vcpu c;
	uint64_t root; /* the guest's root table (CR3), shared by every path */
	struct path path[NPATHS];
	unsigned cur;   /* the path in use */
	unsigned next;  /* the path the next fresh shadow uses */
	uint64_t zaps;
	struct counts fresh, warm;
	uint64_t skipped, skipped_ctx, mismatches;
};

/* The eight access kinds of the matrix (AC comes with the CPU state). */
static const uint64_t kind_flags[8] = {
	0,
	ACCF(F_ACC_WRITE),
	ACCF(F_ACC_FETCH),
	ACCF(F_ACC_USER),
	ACCF(F_ACC_USER) | ACCF(F_ACC_WRITE),
	ACCF(F_ACC_USER) | ACCF(F_ACC_FETCH),
	ACCF(F_ACC_IMPLICIT),
	ACCF(F_ACC_IMPLICIT) | ACCF(F_ACC_WRITE),
};

#define KIND_MASK (ACCF(F_ACC_USER) | ACCF(F_ACC_WRITE) | \
		   ACCF(F_ACC_FETCH) | ACCF(F_ACC_IMPLICIT))

/* A guest table in guest memory, zeroed. */
static uint64_t guest_table(struct matrix *m)
{
	uint64_t pa = test_platform_data_frame(&m->guest);

	assert_true(pa != 0);
	memset(test_platform_ptr(&m->guest, pa), 0, PAGE);
	return pa;
}

static unsigned va_index(uint64_t va, unsigned level)
{
	return (unsigned)(va >> (12 + 9 * (level - 1))) & 511;
}

/*
 * Path p: the fixed address with root index 256 + p (upper half, so it
 * stays canonical), its own table at every level below the root (slot[l]
 * is the entry at level l), and its own 4K and 2M frames: no two paths
 * share a guest or host frame other than the root.
 */
static void build_path(struct matrix *m, unsigned p)
{
	const unsigned top = 12 + 9 * (m->levels - 1);
	struct path *pa = &m->path[p];
	uint64_t table[VMMU_LEVEL_MAX + 1];

	pa->va = ((m->levels == 5 ? VA5 : VA4) & ~(511ull << top)) |
		 ((256ull + p) << top);
	table[m->levels] = m->root;
	for (unsigned l = m->levels; l >= 1; l--) {
		table[l] = l == m->levels ? m->root : guest_table(m);
		pa->slot[l] = (uint64_t *)test_platform_ptr(&m->guest, table[l]) +
			      va_index(pa->va, l);
	}
	for (unsigned l = 4; l <= m->levels; l++) {
		pa->upper[l] = table[l - 1] | ACC_X_P | ACC_X_W | ACC_X_U;
	}
	pa->fr = (struct acc_frames){
		.pd = table[2], .pt = table[1],
		.frame_4k = FRAME_4K + p * PAGE,
		.frame_2m = FRAME_2M + p * 2 * MIB,
		.pte_poison = PTE_POISON,
	};
}

static void matrix_init(struct matrix *m, unsigned levels)
{
	memset(m, 0, sizeof(*m));
	m->levels = levels;
	test_platform_init(&m->host, 3 * MAX_PAGES); /* tables, rmap, reserve */
	test_platform_init(&m->guest, NPATHS * (VMMU_LEVEL_MAX - 1) + 8);
	assert_int_equal(vmmu_fmt_init_x86(&m->fmt, levels, MAXPHYADDR,
					   VMMU_FMT_F_1G), 0);
	m->env = (struct shh_env){
		.sh = &m->sh, .fmt = &m->fmt, .guest = &m->guest.plat,
		.host = &m->host.plat, .p2m = p2m,
	};
	m->root = guest_table(m);
	for (unsigned p = 0; p < NPATHS; p++) {
		build_path(m, p);
	}
}

static void matrix_fini(struct matrix *m)
{
	if (m->c.env != NULL) {
		shh_vcpu_fini(&m->c);
	}
	vmmu_shadow_destroy(&m->sh);
	CHECK_EQ(m->host.live, 0);
	test_platform_fini(&m->host);
	test_platform_fini(&m->guest);
}

/* The guest CPU state combination f describes. */
static struct vmmu_cpu_state cpu_of(const struct matrix *m, uint64_t f)
{
	struct vmmu_cpu_state c = {
		.cr0 = VMMU_CR0_PE | VMMU_CR0_PG | acc_bit_if(f, F_CPU_WP, VMMU_CR0_WP),
		.cr4 = VMMU_CR4_PAE | (m->levels == 5 ? VMMU_CR4_LA57 : 0) |
		       acc_bit_if(f, F_CPU_SMEP, VMMU_CR4_SMEP) |
		       acc_bit_if(f, F_CPU_SMAP, VMMU_CR4_SMAP) |
		       acc_bit_if(f, F_CPU_PKE, VMMU_CR4_PKE) |
		       acc_bit_if(f, F_CPU_PKS, VMMU_CR4_PKS),
		.efer = VMMU_EFER_LME | VMMU_EFER_LMA | acc_bit_if(f, F_CPU_NXE, VMMU_EFER_NXE),
	};
	acc_key_registers(f, &c.pkru, &c.pkrs);
	return c;
}

/* Write every entry of path p for combination f (A/D come back clear). */
static void write_entries(struct matrix *m, unsigned p, uint64_t f)
{
	struct path *pa = &m->path[p];
	struct acc_entries e;

	acc_entries_for(f, &pa->fr, &e);
	for (unsigned l = 4; l <= m->levels; l++) {
		*pa->slot[l] = pa->upper[l];
	}
	*pa->slot[3] = e.pdpte;
	*pa->slot[2] = e.pde;
	*pa->slot[1] = e.pte;
}

/*
 * A new shadow instance and vCPU in f's mode. Done once per CPU context:
 * vCPU init derives the walk tables from the mode, which would dominate
 * the run if done per combination.
 */
static void new_instance(struct matrix *m, uint64_t f)
{
	struct vmmu_cpu_state cpu = cpu_of(m, f);

	if (m->c.env != NULL) {
		shh_vcpu_fini(&m->c);
	}
	vmmu_shadow_destroy(&m->sh);
	CHECK_EQ(m->host.live, 0); /* every shadow frame came back */
	assert_int_equal(vmmu_shadow_init(&m->sh, &m->fmt, &m->host.plat, &ops,
					  NULL, m->pages, MAX_PAGES), 0);
	assert_int_equal(shh_vcpu_init(&m->c, &m->env, &cpu, m->root), 0);
	m->next = 0;
}

/*
 * A shadow with no history for combination f: the next path, which no
 * shadow entry has seen since the last zap, its entries written with A/D
 * clear. Zapping for every combination would cost more than all the rest
 * (vmmu_shadow_zap_all resets every hash bucket, and the root's shadow
 * would be created and zeroed again each time); one zap per NPATHS
 * combinations still leaves every entry the combination describes, and
 * every guest and host frame below the root, unseen by the shadow.
 */
static void fresh_shadow(struct matrix *m, uint64_t f)
{
	if (m->next == NPATHS) {
		vmmu_shadow_zap_all(&m->sh);
		m->zaps++;
		m->next = 0;
	}
	m->cur = m->next++;
	write_entries(m, m->cur, f);
}

static void print_flags(uint64_t f)
{
	for (unsigned i = 0; i < F_COUNT; i++) {
		if (ACCF_HAS(f, i)) {
			printf(" %s", acc_flag_name[i]);
		}
	}
}

/* A mismatch: print the first few in full, count them all. */
static void report(struct matrix *m, uint64_t f, const char *variant,
		   uint64_t first, const char *why)
{
	if (++m->mismatches > MAX_REPORTS) {
		return;
	}
	printf("MISMATCH (%s, case %#llx):", variant, (unsigned long long)f);
	print_flags(f);
	if (first != f) {
		printf("\n  after:");
		print_flags(first & KIND_MASK);
		printf(first & KIND_MASK ? "" : " read");
	}
	printf("\n  %s\n", why);
}

/*
 * Combination f's access on the shadow as it is: resolved and checked
 * (shh_access), counted, then every kind probed.
 */
static bool one_access(struct matrix *m, uint64_t f, struct counts *n,
		       char why[SHH_WHY])
{
	struct shh_result r;

	if (!shh_access(&m->c, m->path[m->cur].va, acc_vmmu_access(f), &r)) {
		memcpy(why, r.why, SHH_WHY);
		return false;
	}
	n->combos++;
	n->granted += r.how == SHH_GRANTED;
	n->injected += r.how == SHH_INJECT;
	n->emulated += r.how == SHH_EMULATE;
	n->fills += r.fills;
	/* Every access kind on the shadow alone: never more than the guest. */
	return shh_probe_all(&m->c, m->path[m->cur].va, why) >= 0;
}

/*
 * One guest state (CPU mode and entries; f0 has no access bits) and all
 * eight access kinds. Kind i runs first on a fresh shadow: the fresh run
 * of combination f0|kind[i]. Kind i+r then runs on the shadow it left: the
 * warm run of combination f0|kind[i+r]. As i goes round, every combination
 * runs once fresh and once warm, for one zap each. The rotation r (1..7)
 * varies with the state, so over the matrix every ordered pair of kinds
 * meets every kind of page.
 */
static void run_state(struct matrix *m, uint64_t f0)
{
	uint64_t h = f0;
	unsigned rot = 1 + (unsigned)(splitmix64_next(&h) % 7);

	for (unsigned i = 0; i < 8; i++) {
		uint64_t first = f0 | kind_flags[i];
		uint64_t then = f0 | kind_flags[(i + rot) % 8];
		char why[SHH_WHY];

		/* acc_legal restricts access bits only among themselves. */
		assert_true(acc_legal(first, MAXPHYADDR));
		fresh_shadow(m, f0);
		if (!one_access(m, first, &m->fresh, why)) {
			report(m, first, "fresh", first, why);
		} else if (!one_access(m, then, &m->warm, why)) {
			report(m, then, "warm", first, why);
		}
	}
}

/* Legal PDE/PDPTE/PTE extensions of context fc, the loops of acc_for_each. */
static uint64_t for_each_entries(struct matrix *m, uint64_t fc, bool run)
{
	uint64_t n = 0;

	for (uint64_t pde = 0; pde < (1ull << ACC_PDE_BITS); pde++) {
		uint64_t fd = fc | (pde << ACC_PDE_FIRST);
		uint64_t ptes = ACCF_HAS(fd, F_PDE_PSE) ? 1 : (1ull << ACC_PTE_BITS);

		if (!acc_legal(fd, MAXPHYADDR)) {
			continue;
		}
		for (uint64_t pte = 0; pte < ptes; pte++) {
			uint64_t f = fd | (pte << ACC_PTE_FIRST);
			if (!acc_legal(f, MAXPHYADDR)) {
				continue;
			}
			n++;
			if (run) {
				run_state(m, f);
			}
		}
	}
	return n;
}

/*
 * A context with protection keys: the shadow refuses it, exactly with
 * -VMMU_ENOTSUP, at vCPU init and at a mode change (which leaves the vCPU
 * in its old mode: an access still resolves as that mode says).
 */
static void refuse(struct matrix *m, uint64_t fc)
{
	const uint64_t keys = ACCF(F_CPU_PKE) | ACCF(F_CPU_PKS) |
			      ACCF(F_PKU_AD) | ACCF(F_PKU_WD);
	/* Entries that let a user read through, so the check below fills. */
	const uint64_t user_rw = ACCF(F_PDE_P) | ACCF(F_PDE_W) | ACCF(F_PDE_U) |
				 ACCF(F_PTE_P) | ACCF(F_PTE_W) | ACCF(F_PTE_U) |
				 ACCF(F_ACC_USER);
	const uint64_t f = (fc & ~keys) | user_rw;
	struct vmmu_cpu_state cpu = cpu_of(m, fc);
	struct shh_vcpu c;
	struct shh_result r;

	new_instance(m, f);
	fresh_shadow(m, f);
	assert_int_equal(shh_vcpu_init(&c, &m->env, &cpu, m->root),
			 -VMMU_ENOTSUP);
	assert_int_equal(vmmu_shadow_set_cpu(&m->c.v, &cpu), -VMMU_ENOTSUP);
	if (!shh_access(&m->c, m->path[m->cur].va, acc_vmmu_access(f), &r)) {
		report(m, f, "after a refused mode change", f, r.why);
	}
	CHECK_EQ(r.how, SHH_GRANTED);
	m->skipped_ctx++;
}

/*
 * Every legal combination, context outermost as acc_for_each does, but
 * with the access kind innermost (run_state). Key contexts are refused as
 * a whole; their combinations are counted, not run. The count of a
 * context's entry combinations depends only on its EFER.NXE (the one
 * context bit acc_legal reads together with entry bits: XD is reserved
 * without it), so it is computed once per NXE value.
 */
static void run_matrix(struct matrix *m)
{
	uint64_t per_nxe[2] = {0, 0};

	for (uint64_t ctx = 0; ctx < (1ull << ACC_CTX_BITS); ctx++) {
		uint64_t fc = ctx << ACC_CTX_FIRST;
		unsigned nx = ACCF_HAS(fc, F_CPU_NXE);

		if ((fc & KIND_MASK) != 0 || !acc_legal(fc, MAXPHYADDR)) {
			continue;
		}
		if (!ACCF_HAS(fc, F_CPU_PKE) && !ACCF_HAS(fc, F_CPU_PKS)) {
			new_instance(m, fc);
			for_each_entries(m, fc, true);
			continue;
		}
		refuse(m, fc);
		if (per_nxe[nx] == 0) {
			per_nxe[nx] = for_each_entries(m, fc, false);
		}
		m->skipped += 8 * per_nxe[nx];
	}
}

static void count_legal(void *arg, uint64_t f)
{
	(void)f;
	++*(uint64_t *)arg;
}

static void print_counts(const char *variant, const struct counts *n)
{
	printf("  %-5s %llu combinations: %llu granted, %llu #PF injected, "
	       "%llu emulated, %llu fills\n", variant,
	       (unsigned long long)n->combos, (unsigned long long)n->granted,
	       (unsigned long long)n->injected, (unsigned long long)n->emulated,
	       (unsigned long long)n->fills);
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;

	timespec_get(&t1, TIME_UTC);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void test_matrix(void **state)
{
	const char *lv = getenv("SHADOW_MATRIX_LEVELS");
	struct matrix *m = malloc(sizeof(*m));
	struct timespec t0;
	uint64_t all = 0;
	(void)state;

	assert_non_null(m);
	matrix_init(m, lv != NULL && atoi(lv) == 5 ? 5 : 4);
	timespec_get(&t0, TIME_UTC);
	run_matrix(m);
	printf("shadow matrix (%u-level, MAXPHYADDR %u): %llu combinations run, "
	       "each fresh and warm; %llu skipped by design (protection keys: "
	       "-VMMU_ENOTSUP in %llu contexts); %llu mismatches; %.1f s\n",
	       m->levels, MAXPHYADDR, (unsigned long long)m->fresh.combos,
	       (unsigned long long)m->skipped, (unsigned long long)m->skipped_ctx,
	       (unsigned long long)m->mismatches, seconds_since(&t0));
	print_counts("fresh", &m->fresh);
	print_counts("warm", &m->warm);
	CHECK_EQ(m->mismatches, 0);
	/* Exactly access_space.h's matrix was covered, each case twice. */
	acc_for_each(MAXPHYADDR, count_legal, &all);
	CHECK_EQ(m->fresh.combos + m->skipped, all);
	CHECK_EQ(m->warm.combos, m->fresh.combos);
	/* The matrix must reach every answer the shadow gives, or it proves
	   little: grants, injections, emulation (CR0.WP=0 with SMAP), fills. */
	assert_true(m->fresh.granted > 0 && m->fresh.injected > 0 &&
		    m->fresh.emulated > 0 && m->fresh.fills > 0);
	assert_true(m->warm.granted > 0 && m->warm.injected > 0 &&
		    m->warm.emulated > 0);
	matrix_fini(m);
	free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_matrix),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
