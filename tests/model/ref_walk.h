/* SPDX-License-Identifier: MIT */
/*
 * Reference x86-64 page walker (4- and 5-level paging), written from the
 * architecture rules (Intel SDM Vol. 3A §4.5 "4-level and 5-level paging",
 * §4.6 "Access rights", §4.7 "Page-fault exceptions") and nothing else.
 *
 * It is the independent oracle the model tests compare vmmu_walk against,
 * so it deliberately shares no code, no constants and no headers with the
 * vmmu library: it is plain hosted C11 over uint64_t. It favours being
 * obviously right over being fast: every level is spelled out, every bit
 * has its own named constant here.
 */
#ifndef VMMU_TESTS_REF_WALK_H
#define VMMU_TESTS_REF_WALK_H

#include <stdbool.h>
#include <stdint.h>

/* #PF error-code bits (SDM Vol. 3A §4.7, figure 4-12). */
#define REF_PFEC_P (1u << 0)
#define REF_PFEC_W (1u << 1)
#define REF_PFEC_U (1u << 2)
#define REF_PFEC_RSVD (1u << 3)
#define REF_PFEC_I (1u << 4)
#define REF_PFEC_PK (1u << 5)

/*
 * Physical memory as the walker sees it. read returns false when pa is not
 * memory (the walk then ends with REF_BADMEM and writes nothing). pa is
 * always 8-byte aligned.
 */
struct ref_mem {
	void *ctx;
	bool (*read)(void *ctx, uint64_t pa, uint64_t *val);
	void (*write)(void *ctx, uint64_t pa, uint64_t val);
};

/* The processor state that shapes a walk (long mode, paging on). */
struct ref_cpu {
	bool cr0_wp;
	bool cr4_smep;
	bool cr4_smap;
	bool cr4_pke;
	bool cr4_pks;
	bool cr4_la57;     /* 5-level paging */
	bool efer_nxe;
	uint32_t pkru;
	uint32_t pkrs;     /* IA32_PKRS */
	unsigned maxphyaddr; /* 36..52 */
	bool page_1g;      /* CPUID.80000001H:EDX.Page1GB */
};

/* One access. user and implicit are exclusive; fetch and write too. */
struct ref_access {
	bool write;
	bool user;     /* explicit access at CPL 3 */
	bool fetch;    /* instruction fetch */
	bool implicit; /* implicit supervisor access (GDT, IDT, TSS...) */
	bool ac;       /* EFLAGS.AC */
	bool no_ad;    /* check only: never set accessed/dirty */
};

enum ref_outcome {
	REF_OK = 0,     /* translated */
	REF_PF = 1,     /* page fault, error code in pfec */
	REF_GP = 2,     /* non-canonical address */
	REF_BADMEM = 3, /* a paging-structure address is not memory */
};

struct ref_result {
	enum ref_outcome outcome;
	uint32_t pfec;   /* REF_PF */
	uint64_t pa;     /* REF_OK: the physical address */
	unsigned level;  /* REF_OK: leaf level; REF_PF/REF_BADMEM: level where
			    the walk stopped (1 = PT ... 5 = PML5) */
	unsigned top_level; /* 4 or 5 */
	/* Entry read at each level used ([level]); on REF_OK with the A/D
	   bits this walk set added. Levels not used are 0. */
	uint64_t pte[6];
	/* Physical address of each entry used. */
	uint64_t pte_addr[6];
};

/*
 * Walk va from cr3 for access acc. On REF_OK, sets the accessed flag in
 * every entry used and the dirty flag in the leaf for writes (unless
 * acc->no_ad); on any other outcome memory is left unchanged.
 */
enum ref_outcome ref_walk(const struct ref_mem *mem, const struct ref_cpu *cpu,
			  uint64_t cr3, uint64_t va,
			  const struct ref_access *acc, struct ref_result *res);

#endif
