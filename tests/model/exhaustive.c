/* SPDX-License-Identifier: MIT */
/*
 * Exhaustive differential test of vmmu_walk against the reference walker.
 *
 * Every test case is one integer of flag bits (enum acc_flag in
 * tests/support/access_space.h, shared with the QEMU kernel
 * tests/qemu/access_matrix.c that runs the same space on a CPU): the bits
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

#include "access_space.h"
#include "model_common.h"
#include "ref_walk.h"
#include "test_platform.h"

/* Fixed test addresses. */
#define VA4 0xffff923412345678ull /* 48-bit canonical */
#define VA5 0xff92340012345678ull /* 57-bit canonical, not 48-bit */
#define FRAME_4K 0x0000000876543000ull /* below 2^36 */
#define FRAME_2M 0x0000000789a00000ull /* 2 MiB aligned, below 2^36 */
/* The PTE under a 2M leaf: present, with a reserved bit (access_space.h). */
#define PTE_POISON \
	(ACC_X_P | ACC_X_W | ACC_X_U | ACC_B(51) | 0x0000000123456000ull)
static void print_flags(FILE *out, uint64_t f)
{
	bool first = true;

	for (unsigned i = 0; i < F_COUNT; i++) {
		if (ACCF_HAS(f, i)) {
			fprintf(out, "%s%s", first ? "" : " ", acc_flag_name[i]);
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
	c->pd_pa = c->table_init[3] & ACC_X_ADDR;
	c->pt_pa = c->table_init[2] & ACC_X_ADDR;
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
	const struct acc_frames frames = {
		.pd = c->pd_pa,
		.pt = c->pt_pa,
		.frame_4k = FRAME_4K,
		.frame_2m = FRAME_2M,
		.pte_poison = PTE_POISON,
	};
	struct acc_entries e;

	for (unsigned l = 4; l <= c->levels; l++) {
		*c->slot[l] = c->table_init[l];
	}
	acc_entries_for(f, &frames, &e);
	*c->slot[3] = e.pdpte;
	*c->slot[2] = e.pde;
	*c->slot[1] = e.pte;
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
	acc_key_registers(f, &rcpu->pkru, &rcpu->pkrs);
	rcpu->cr0_wp = ACCF_HAS(f, F_CPU_WP);
	rcpu->cr4_smep = ACCF_HAS(f, F_CPU_SMEP);
	rcpu->cr4_smap = ACCF_HAS(f, F_CPU_SMAP);
	rcpu->cr4_pke = ACCF_HAS(f, F_CPU_PKE);
	rcpu->cr4_pks = ACCF_HAS(f, F_CPU_PKS);
	rcpu->cr4_la57 = c->levels == 5;
	rcpu->efer_nxe = ACCF_HAS(f, F_CPU_NXE);
	rcpu->maxphyaddr = c->maxphyaddr;
	rcpu->page_1g = true;
}

/* The model's access for flags f. */
static void ref_access_for(uint64_t f, struct ref_access *racc)
{
	memset(racc, 0, sizeof(*racc));
	racc->user = ACCF_HAS(f, F_ACC_USER);
	racc->write = ACCF_HAS(f, F_ACC_WRITE);
	racc->fetch = ACCF_HAS(f, F_ACC_FETCH);
	racc->implicit = ACCF_HAS(f, F_ACC_IMPLICIT);
	racc->ac = ACCF_HAS(f, F_CPU_AC);
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

static void run_case_cb(void *arg, uint64_t f)
{
	run_case(arg, f);
}

static uint64_t run_config(unsigned levels, unsigned maxphyaddr)
{
	struct config c;
	uint64_t count;

	config_init(&c, levels, maxphyaddr);
	count = acc_for_each(maxphyaddr, run_case_cb, &c);
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
