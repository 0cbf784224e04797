/* SPDX-License-Identifier: MIT */
/*
 * Exhaustive differential test of vmmu_walk against the reference walker.
 *
 * Every test case is one integer of flag bits (enum flag below): the bits
 * of the PTE, of the PDE and of the PDPTE that map one fixed address, the
 * protection-key register, the kind of access and the CPU state. A
 * legality filter drops combinations that are meaningless (fetch+write,
 * PKRU bits without CR4.PKE, ...) or redundant (more than one reserved bit:
 * any one of them ends the walk the same way). Every legal combination is
 * run through vmmu_walk and through ref_walk on identical tables, and the
 * outcome, error code, physical address, the walk record and every entry
 * of the path (A/D bits included) must agree exactly.
 *
 * Runs for 4- and 5-level paging and for MAXPHYADDR 36 (bit 36 of an entry
 * is reserved) and 46 (bit 36 is an address bit); bit 51 is reserved in
 * both.
 *
 * Usage: exhaustive [-v] [LEVELS [MAXPHYADDR]]
 *   -v: print every mismatch, not only the first 20;
 *   LEVELS (4 or 5) and MAXPHYADDR (36 or 46): run only that part.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vmmu/vmmu.h>

#include "model_common.h"
#include "ref_walk.h"
#include "test_platform.h"

/* --- the flags of one test case -------------------------------------- */
enum flag {
	/* PTE */
	F_PTE_W,
	F_PTE_U,
	F_PTE_A,
	F_PTE_D,
	F_PTE_NX,
	F_PTE_P,
	F_PTE_BIT51,
	F_PTE_BIT36,
	/* PDE */
	F_PDE_W,
	F_PDE_U,
	F_PDE_A,
	F_PDE_D,
	F_PDE_PSE,
	F_PDE_NX,
	F_PDE_P,
	F_PDE_BIT51,
	F_PDE_BIT36,
	F_PDE_BIT13,
	/* PDPTE */
	F_PDPTE_RO,
	/* protection keys (leaf key 1) */
	F_PKU_AD,
	F_PKU_WD,
	/* access */
	F_ACC_USER,
	F_ACC_WRITE,
	F_ACC_FETCH,
	F_ACC_IMPLICIT,
	/* CPU state */
	F_CPU_NXE,
	F_CPU_WP,
	F_CPU_SMEP,
	F_CPU_SMAP,
	F_CPU_AC,
	F_CPU_PKE,
	F_CPU_PKS,
	F_COUNT
};

static const char *const flag_name[F_COUNT] = {
	[F_PTE_W] = "pte.w",         [F_PTE_U] = "pte.u",
	[F_PTE_A] = "pte.a",         [F_PTE_D] = "pte.d",
	[F_PTE_NX] = "pte.nx",       [F_PTE_P] = "pte.p",
	[F_PTE_BIT51] = "pte.bit51", [F_PTE_BIT36] = "pte.bit36",
	[F_PDE_W] = "pde.w",         [F_PDE_U] = "pde.u",
	[F_PDE_A] = "pde.a",         [F_PDE_D] = "pde.d",
	[F_PDE_PSE] = "pde.pse",     [F_PDE_NX] = "pde.nx",
	[F_PDE_P] = "pde.p",         [F_PDE_BIT51] = "pde.bit51",
	[F_PDE_BIT36] = "pde.bit36", [F_PDE_BIT13] = "pde.bit13",
	[F_PDPTE_RO] = "pdpte.ro",   [F_PKU_AD] = "pkru.ad",
	[F_PKU_WD] = "pkru.wd",      [F_ACC_USER] = "user",
	[F_ACC_WRITE] = "write",     [F_ACC_FETCH] = "fetch",
	[F_ACC_IMPLICIT] = "implicit", [F_CPU_NXE] = "efer.nx",
	[F_CPU_WP] = "cr0.wp",       [F_CPU_SMEP] = "cr4.smep",
	[F_CPU_SMAP] = "cr4.smap",   [F_CPU_AC] = "eflags.ac",
	[F_CPU_PKE] = "cr4.pke",     [F_CPU_PKS] = "cr4.pks",
};

#define M(f) (1ull << (f))
#define HAS(flags, f) (((flags) & M(f)) != 0)

/* The flags are enumerated in three nested groups (for speed only; each
   case is still one integer checked by legal()). */
#define PTE_FIRST F_PTE_W
#define PTE_BITS (F_PDE_W - F_PTE_W)
#define PDE_FIRST F_PDE_W
#define PDE_BITS (F_PKU_AD - F_PDE_W) /* PDE bits and PDPTE.RO */
#define CTX_FIRST F_PKU_AD
#define CTX_BITS (F_COUNT - F_PKU_AD)

/* Raw entry bits, spelled out here (the test owns its bit layout). */
#define B(n) (1ull << (n))
#define X_P B(0)
#define X_W B(1)
#define X_U B(2)
#define X_A B(5)
#define X_D B(6)
#define X_PS B(7)
#define X_NX B(63)
#define X_PKEY(k) ((uint64_t)(k) << 59)
#define X_ADDR 0x000ffffffffff000ull

/* Fixed test addresses. */
#define VA4 0xffff923412345678ull /* 48-bit canonical */
#define VA5 0xff92340012345678ull /* 57-bit canonical, not 48-bit */
#define FRAME_4K 0x0000000876543000ull /* below 2^36 */
#define FRAME_2M 0x0000000789a00000ull /* 2 MiB aligned, below 2^36 */
/* A PTE that must never be used (its PDE is a 2M leaf): present, with a
   reserved bit, so a walker that descends anyway faults visibly. */
#define PTE_POISON (X_P | X_W | X_U | B(51) | 0x0000000123456000ull)
/* Keys: the leaf carries key 1 (PKRU bits from the flags); a non-leaf PDE
   carries key 2, which PKRU/PKRS always deny (AD = WD = 1). */
#define LEAF_KEY 1u
#define TABLE_KEY 2u

/*
 * access.c-style legality: which combinations are worth running.
 */
static bool legal(uint64_t f, unsigned maxphyaddr)
{
	uint64_t reserved;

	/* An access is a fetch or a write, not both. */
	if (HAS(f, F_ACC_FETCH) && HAS(f, F_ACC_WRITE)) {
		return false;
	}
	/* Implicit accesses are supervisor data accesses. */
	if (HAS(f, F_ACC_IMPLICIT) &&
	    (HAS(f, F_ACC_USER) || HAS(f, F_ACC_FETCH))) {
		return false;
	}
	/* Key-register bits only matter with keys enabled. */
	if ((HAS(f, F_PKU_AD) || HAS(f, F_PKU_WD)) &&
	    !HAS(f, F_CPU_PKE) && !HAS(f, F_CPU_PKS)) {
		return false;
	}
	/* EFLAGS.AC only matters with SMAP. */
	if (HAS(f, F_CPU_AC) && !HAS(f, F_CPU_SMAP)) {
		return false;
	}
	/* PDE bit 13 is reserved only in a 2M leaf (else an address bit). */
	if (HAS(f, F_PDE_BIT13) && !HAS(f, F_PDE_PSE)) {
		return false;
	}
	/* D is ignored in a PDE that points to a page table (the random
	   tests vary ignored bits); vary it only in a 2M leaf. */
	if (HAS(f, F_PDE_D) && !HAS(f, F_PDE_PSE)) {
		return false;
	}
	/* Under a 2M leaf the PTE is never read: don't vary it. */
	if (HAS(f, F_PDE_PSE) &&
	    (f & (((1ull << PTE_BITS) - 1) << PTE_FIRST)) != 0) {
		return false;
	}
	/* At most one reserved bit at a time. */
	reserved = M(F_PTE_BIT51) | M(F_PDE_BIT51) | M(F_PDE_BIT13);
	if (maxphyaddr <= 36) {
		reserved |= M(F_PTE_BIT36) | M(F_PDE_BIT36);
	}
	if (!HAS(f, F_CPU_NXE)) {
		reserved |= M(F_PTE_NX) | M(F_PDE_NX);
	}
	reserved &= f;
	return (reserved & (reserved - 1)) == 0;
}

static void print_flags(FILE *out, uint64_t f)
{
	bool first = true;

	for (unsigned i = 0; i < F_COUNT; i++) {
		if (HAS(f, i)) {
			fprintf(out, "%s%s", first ? "" : " ", flag_name[i]);
			first = false;
		}
	}
	if (first) {
		fprintf(out, "(none)");
	}
}

/* --- one configuration: depth and MAXPHYADDR --------------------------- */
struct config {
	unsigned levels;
	unsigned maxphyaddr;
	struct test_platform tp;
	struct model_flat_mem mem; /* ref_walk's view of memory: tp's arena */
	struct vmmu_fmt fmt;
	struct vmmu_pt pt;
	struct vmmu_walker walker;
	struct vmmu_cpu_state cpu; /* last state given to the walker */
	uint64_t va;
	uint64_t cr3;
	vmmu_pte_t *slot[6];    /* [level] the entries mapping va */
	uint64_t slot_pa[6];    /* their physical addresses */
	uint64_t table_init[6]; /* PML5E/PML4E as the builder made them */
	uint64_t pd_pa;         /* table the PDPTE points to */
	uint64_t pt_pa;         /* table a non-leaf PDE points to */
};

static uint64_t passed, failed;
static bool verbose;

static void die(const char *what, int rc)
{
	fprintf(stderr, "exhaustive: %s failed: %d (%s)\n", what, rc,
		vmmu_strerror(rc));
	exit(2);
}

static void config_init(struct config *c, unsigned levels, unsigned maxphyaddr)
{
	struct vmmu_prot prot = {.perm = VMMU_PERM_R | VMMU_PERM_W |
					 VMMU_PERM_U | VMMU_PERM_X};
	struct ref_cpu plain = {.cr4_la57 = levels == 5}; /* no WP, NX, keys */
	struct vmmu_cpu_state cpu;
	int rc;

	memset(c, 0, sizeof(*c));
	c->levels = levels;
	c->maxphyaddr = maxphyaddr;
	c->va = levels == 5 ? VA5 : VA4;
	test_platform_init(&c->tp, 64);
	c->mem.bytes = c->tp.arena;
	c->mem.size = c->tp.frames * VMMU_PAGE_SIZE;
	rc = vmmu_fmt_init_x86(&c->fmt, levels, maxphyaddr, VMMU_FMT_F_1G);
	if (rc != 0) {
		die("vmmu_fmt_init_x86", rc);
	}
	rc = vmmu_pt_init(&c->pt, &c->fmt, &c->tp.plat);
	if (rc != 0) {
		die("vmmu_pt_init", rc);
	}
	rc = vmmu_pt_map(&c->pt, c->va & ~0xfffull, FRAME_4K, VMMU_PAGE_SIZE,
			 &prot, VMMU_PT_4K_ONLY);
	if (rc != 0) {
		die("vmmu_pt_map", rc);
	}
	for (unsigned l = 1; l <= levels; l++) {
		rc = vmmu_pt_entry(&c->pt, c->va, l, &c->slot[l]);
		if (rc != 0) {
			die("vmmu_pt_entry", rc);
		}
		c->slot_pa[l] = (uint64_t)((uint8_t *)c->slot[l] - c->tp.arena);
		c->table_init[l] = *c->slot[l];
	}
	c->pd_pa = c->table_init[3] & X_ADDR;
	c->pt_pa = c->table_init[2] & X_ADDR;
	c->cr3 = c->pt.root.v;
	model_cpu_state(&plain, &cpu);
	rc = vmmu_walker_init(&c->walker, &c->fmt, &c->tp.plat, &cpu);
	if (rc != 0) {
		die("vmmu_walker_init", rc);
	}
	c->cpu = cpu;
}

static void config_fini(struct config *c)
{
	/* Give the builder back the tree it made before it frees it. */
	for (unsigned l = 1; l <= c->levels; l++) {
		*c->slot[l] = c->table_init[l];
	}
	vmmu_pt_destroy(&c->pt);
	test_platform_fini(&c->tp);
}

/* Write the path's entries for flags f (every entry, every time). */
static void set_entries(struct config *c, uint64_t f)
{
	uint64_t pte, pde, pdpte;

	for (unsigned l = 4; l <= c->levels; l++) {
		*c->slot[l] = c->table_init[l];
	}

	pdpte = c->pd_pa | X_P | X_U;
	if (!HAS(f, F_PDPTE_RO)) {
		pdpte |= X_W;
	}
	*c->slot[3] = pdpte;

	if (HAS(f, F_PDE_PSE)) {
		pde = FRAME_2M | X_PS | X_PKEY(LEAF_KEY);
	} else {
		pde = c->pt_pa | X_PKEY(TABLE_KEY);
	}
	pde |= HAS(f, F_PDE_P) ? X_P : 0;
	pde |= HAS(f, F_PDE_W) ? X_W : 0;
	pde |= HAS(f, F_PDE_U) ? X_U : 0;
	pde |= HAS(f, F_PDE_A) ? X_A : 0;
	pde |= HAS(f, F_PDE_D) ? X_D : 0;
	pde |= HAS(f, F_PDE_NX) ? X_NX : 0;
	pde |= HAS(f, F_PDE_BIT51) ? B(51) : 0;
	pde |= HAS(f, F_PDE_BIT36) ? B(36) : 0;
	pde |= HAS(f, F_PDE_BIT13) ? B(13) : 0;
	*c->slot[2] = pde;

	if (HAS(f, F_PDE_PSE)) {
		pte = PTE_POISON;
	} else {
		pte = FRAME_4K | X_PKEY(LEAF_KEY);
		pte |= HAS(f, F_PTE_P) ? X_P : 0;
		pte |= HAS(f, F_PTE_W) ? X_W : 0;
		pte |= HAS(f, F_PTE_U) ? X_U : 0;
		pte |= HAS(f, F_PTE_A) ? X_A : 0;
		pte |= HAS(f, F_PTE_D) ? X_D : 0;
		pte |= HAS(f, F_PTE_NX) ? X_NX : 0;
		pte |= HAS(f, F_PTE_BIT51) ? B(51) : 0;
		pte |= HAS(f, F_PTE_BIT36) ? B(36) : 0;
	}
	*c->slot[1] = pte;
}

/*
 * A key register: key 1 (the leaf's) denies per `ad`/`wd`, key 2 (the
 * non-leaf PDE's) denies everything, the other keys allow everything.
 */
static uint32_t key_register(bool ad, bool wd)
{
	uint32_t r = 3u << (2 * TABLE_KEY);

	r |= ad ? 1u << (2 * LEAF_KEY) : 0;
	r |= wd ? 2u << (2 * LEAF_KEY) : 0;
	return r;
}

/*
 * PKRU and IA32_PKRS for flags f. A register whose CR4 bit is clear denies
 * every key (it must be ignored). With both CR4.PKE and CR4.PKS set, PKRS
 * gets key 1's AD and WD swapped, so using the wrong register shows.
 */
static void key_registers(uint64_t f, uint32_t *pkru, uint32_t *pkrs)
{
	bool ad = HAS(f, F_PKU_AD), wd = HAS(f, F_PKU_WD);

	*pkru = HAS(f, F_CPU_PKE) ? key_register(ad, wd) : ~0u;
	if (!HAS(f, F_CPU_PKS)) {
		*pkrs = ~0u;
	} else if (HAS(f, F_CPU_PKE)) {
		*pkrs = key_register(wd, ad);
	} else {
		*pkrs = key_register(ad, wd);
	}
}

static void report(const struct config *c, uint64_t f, const char *what,
		   int vrc, const struct vmmu_walk *vw,
		   const struct ref_result *rr, const uint64_t *vafter,
		   const uint64_t *rafter)
{
	failed++;
	if (failed > 20 && !verbose) {
		return;
	}
	printf("MISMATCH (%u-level, MAXPHYADDR %u, case %#llx): %s\n  flags: ",
	       c->levels, c->maxphyaddr, (unsigned long long)f, what);
	print_flags(stdout, f);
	printf("\n  vmmu: %-6s pfec %#04x addr %#llx level %u\n",
	       model_outcome_name(vrc), vrc == VMMU_WALK_PF ? vw->pfec : 0,
	       (unsigned long long)(vrc == VMMU_WALK_OK ? vw->addr : 0),
	       vw->level);
	printf("  ref:  %-6s pfec %#04x addr %#llx level %u\n",
	       model_outcome_name(model_outcome_rc(rr->outcome)),
	       rr->outcome == REF_PF ? rr->pfec : 0,
	       (unsigned long long)(rr->outcome == REF_OK ? rr->pa : 0),
	       rr->level);
	for (unsigned l = c->levels; l >= 1; l--) {
		printf("  %-5s after: vmmu %#018llx ref %#018llx%s\n",
		       vmmu_fmt_level_name(&c->fmt, l),
		       (unsigned long long)vafter[l],
		       (unsigned long long)rafter[l],
		       vafter[l] != rafter[l] ? "  <--" : "");
	}
}

/* The model's CPU state for flags f. */
static void ref_cpu_for(const struct config *c, uint64_t f,
			struct ref_cpu *rcpu)
{
	memset(rcpu, 0, sizeof(*rcpu));
	key_registers(f, &rcpu->pkru, &rcpu->pkrs);
	rcpu->cr0_wp = HAS(f, F_CPU_WP);
	rcpu->cr4_smep = HAS(f, F_CPU_SMEP);
	rcpu->cr4_smap = HAS(f, F_CPU_SMAP);
	rcpu->cr4_pke = HAS(f, F_CPU_PKE);
	rcpu->cr4_pks = HAS(f, F_CPU_PKS);
	rcpu->cr4_la57 = c->levels == 5;
	rcpu->efer_nxe = HAS(f, F_CPU_NXE);
	rcpu->maxphyaddr = c->maxphyaddr;
	rcpu->page_1g = true;
}

/* The model's access for flags f. */
static void ref_access_for(uint64_t f, struct ref_access *racc)
{
	memset(racc, 0, sizeof(*racc));
	racc->user = HAS(f, F_ACC_USER);
	racc->write = HAS(f, F_ACC_WRITE);
	racc->fetch = HAS(f, F_ACC_FETCH);
	racc->implicit = HAS(f, F_ACC_IMPLICIT);
	racc->ac = HAS(f, F_CPU_AC);
}

/* Give the walker the same CPU state (it changes only with the outer,
   context loop, so only then). */
static void sync_walker_cpu(struct config *c, const struct ref_cpu *rcpu)
{
	struct vmmu_cpu_state cpu;
	int rc;

	model_cpu_state(rcpu, &cpu); /* zero-filled: compared bytewise */
	if (memcmp(&cpu, &c->cpu, sizeof(cpu)) != 0) {
		rc = vmmu_walker_set_cpu(&c->walker, &cpu);
		if (rc != 0) {
			die("vmmu_walker_set_cpu", rc);
		}
		c->cpu = cpu;
	}
}

/*
 * vmmu and the model walk the same tables (reset in between); the entries
 * each left behind go to vafter[] and rafter[].
 */
static int walk_both(struct config *c, uint64_t f, const struct ref_cpu *rcpu,
		     const struct ref_access *racc, struct vmmu_walk *vw,
		     struct ref_result *rr, uint64_t *vafter, uint64_t *rafter)
{
	struct ref_mem rmem = model_ref_mem(&c->mem);
	uint64_t before[6] = {0};
	int vrc;

	set_entries(c, f);
	for (unsigned l = 1; l <= c->levels; l++) {
		before[l] = *c->slot[l];
	}
	memset(vw, 0, sizeof(*vw));
	vrc = vmmu_walk(&c->walker, c->cr3, c->va, model_access_flags(racc), vw);
	for (unsigned l = 1; l <= c->levels; l++) {
		vafter[l] = *c->slot[l];
		*c->slot[l] = before[l];
	}
	ref_walk(&rmem, rcpu, c->cr3, c->va, racc, rr);
	for (unsigned l = 1; l <= c->levels; l++) {
		rafter[l] = *c->slot[l];
	}
	return vrc;
}

static void run_case(struct config *c, uint64_t f)
{
	struct ref_cpu rcpu;
	struct ref_access racc;
	struct vmmu_walk vw;
	struct ref_result rr;
	uint64_t vafter[6] = {0}, rafter[6] = {0};
	const char *bad;
	int vrc;

	ref_cpu_for(c, f, &rcpu);
	ref_access_for(f, &racc);
	sync_walker_cpu(c, &rcpu);
	vrc = walk_both(c, f, &rcpu, &racc, &vw, &rr, vafter, rafter);

	bad = model_outcome_mismatch(vrc, &vw, &rr);
	if (bad == NULL && memcmp(vafter, rafter, sizeof(vafter)) != 0) {
		bad = "entries after the access (A/D)";
	}
	if (bad == NULL) {
		bad = model_record_mismatch(vrc, &vw, &rr, &rcpu);
	}
	if (bad != NULL) {
		report(c, f, bad, vrc, &vw, &rr, vafter, rafter);
	} else {
		passed++;
	}
}

static uint64_t run_config(unsigned levels, unsigned maxphyaddr)
{
	struct config c;
	uint64_t count = 0;

	config_init(&c, levels, maxphyaddr);
	/*
	 * legal() only ever rejects a case for bits that are set, and no rule
	 * needs a bit of an inner group to allow an outer one, so a partial
	 * case that is not legal has no legal extension: prune early.
	 */
	for (uint64_t ctx = 0; ctx < (1ull << CTX_BITS); ctx++) {
		uint64_t fc = ctx << CTX_FIRST;

		if (!legal(fc, maxphyaddr)) {
			continue;
		}
		for (uint64_t pde = 0; pde < (1ull << PDE_BITS); pde++) {
			uint64_t fd = fc | (pde << PDE_FIRST);
			uint64_t ptes = HAS(fd, F_PDE_PSE) ? 1 : (1ull << PTE_BITS);

			if (!legal(fd, maxphyaddr)) {
				continue;
			}

			for (uint64_t pte = 0; pte < ptes; pte++) {
				uint64_t f = fd | (pte << PTE_FIRST);

				if (!legal(f, maxphyaddr)) {
					continue;
				}
				run_case(&c, f);
				count++;
			}
		}
	}
	config_fini(&c);
	return count;
}

int main(int argc, char **argv)
{
	static const unsigned depths[] = {4, 5};
	static const unsigned maxphys[] = {36, 46};
	clock_t t0 = clock();

	setvbuf(stdout, NULL, _IOLBF, 0);

	unsigned only_levels = 0, only_maxphy = 0;
	int pos = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-v") == 0) {
			verbose = true;
		} else if (pos < 2 && argv[i][0] >= '0' && argv[i][0] <= '9') {
			unsigned v = (unsigned)strtoul(argv[i], NULL, 0);

			if (pos++ == 0) {
				only_levels = v;
			} else {
				only_maxphy = v;
			}
		} else {
			fprintf(stderr, "usage: %s [-v] [LEVELS [MAXPHYADDR]]\n",
				argv[0]);
			return 2;
		}
	}
	for (size_t d = 0; d < sizeof(depths) / sizeof(depths[0]); d++) {
		for (size_t m = 0; m < sizeof(maxphys) / sizeof(maxphys[0]); m++) {
			uint64_t before = failed;
			uint64_t n;

			if ((only_levels != 0 && depths[d] != only_levels) ||
			    (only_maxphy != 0 && maxphys[m] != only_maxphy)) {
				continue;
			}
			n = run_config(depths[d], maxphys[m]);

			printf("exhaustive: %u-level, MAXPHYADDR %u: %llu combinations, %llu failed\n",
			       depths[d], maxphys[m], (unsigned long long)n,
			       (unsigned long long)(failed - before));
			fflush(stdout);
		}
	}
	printf("exhaustive: %.1f s CPU\n",
	       (double)(clock() - t0) / CLOCKS_PER_SEC);
	printf("exhaustive: %llu passed, %llu failed\n",
	       (unsigned long long)passed, (unsigned long long)failed);
	return failed == 0 ? 0 : 1;
}
