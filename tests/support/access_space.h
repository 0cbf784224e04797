/* SPDX-License-Identifier: MIT */
/*
 * The access matrix: one definition of the combinations that the host's
 * exhaustive test (tests/model/exhaustive.c) runs against the reference
 * walker and the QEMU kernel (tests/qemu/access_matrix.c) runs against the
 * CPU. Both enumerate exactly this space, so the counts they report can be
 * compared.
 *
 * A combination is one integer of flag bits (enum acc_flag): the bits of
 * the PTE, the PDE and the PDPTE that map one fixed address, the
 * protection-key registers, the kind of access and the CPU state. A
 * legality filter in the style of kvm-unit-tests' access.c drops
 * combinations that are meaningless (fetch+write, PKRU bits without a key
 * feature) or redundant (more than one reserved bit: any one of them ends
 * the walk the same way).
 *
 * Header only, freestanding (stdint/stdbool and vmmu's public headers), so
 * the test kernels can use it.
 */
#ifndef VMMU_TEST_ACCESS_SPACE_H
#define VMMU_TEST_ACCESS_SPACE_H

#include <stdbool.h>
#include <stdint.h>

#include <vmmu/vmmu.h>

enum acc_flag {
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

static const char *const acc_flag_name[F_COUNT] = {
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

#define ACCF(f) (1ull << (f))
#define ACCF_HAS(flags, f) (((flags) & ACCF(f)) != 0)

/*
 * The flags are enumerated in three nested groups, context outermost (the
 * CPU state changes least often), then PDE/PDPTE, then PTE.
 */
#define ACC_PTE_FIRST F_PTE_W
#define ACC_PTE_BITS (F_PDE_W - F_PTE_W)
#define ACC_PDE_FIRST F_PDE_W
#define ACC_PDE_BITS (F_PKU_AD - F_PDE_W) /* PDE bits and PDPTE.RO */
#define ACC_CTX_FIRST F_PKU_AD
#define ACC_CTX_BITS (F_COUNT - F_PKU_AD)
#define ACC_CTX_MASK (((1ull << ACC_CTX_BITS) - 1) << ACC_CTX_FIRST)

/* Raw x86 entry bits, spelled out here (the test owns its bit layout). */
#define ACC_B(n) (1ull << (n))
#define ACC_X_P ACC_B(0)
#define ACC_X_W ACC_B(1)
#define ACC_X_U ACC_B(2)
#define ACC_X_A ACC_B(5)
#define ACC_X_D ACC_B(6)
#define ACC_X_PS ACC_B(7)
#define ACC_X_NX ACC_B(63)
#define ACC_X_PKEY(k) ((uint64_t)(k) << 59)
#define ACC_X_ADDR 0x000ffffffffff000ull

/*
 * Keys: the leaf carries key 1 (AD/WD from the flags); a non-leaf PDE
 * carries key 2 in bits that are ignored there, and key 2 is always denied,
 * so a walker that reads keys from a non-leaf entry shows.
 */
#define ACC_LEAF_KEY 1u
#define ACC_TABLE_KEY 2u

/* Which combinations are worth running (for MAXPHYADDR maxphyaddr). */
static inline bool acc_legal(uint64_t f, unsigned maxphyaddr)
{
	uint64_t reserved;

	/* An access is a fetch or a write, not both. */
	if (ACCF_HAS(f, F_ACC_FETCH) && ACCF_HAS(f, F_ACC_WRITE)) {
		return false;
	}
	/* Implicit accesses are supervisor data accesses. */
	if (ACCF_HAS(f, F_ACC_IMPLICIT) &&
	    (ACCF_HAS(f, F_ACC_USER) || ACCF_HAS(f, F_ACC_FETCH))) {
		return false;
	}
	/* Key-register bits only matter with keys enabled. */
	if ((ACCF_HAS(f, F_PKU_AD) || ACCF_HAS(f, F_PKU_WD)) &&
	    !ACCF_HAS(f, F_CPU_PKE) && !ACCF_HAS(f, F_CPU_PKS)) {
		return false;
	}
	/* EFLAGS.AC only matters with SMAP. */
	if (ACCF_HAS(f, F_CPU_AC) && !ACCF_HAS(f, F_CPU_SMAP)) {
		return false;
	}
	/* PDE bit 13 is reserved only in a 2M leaf (else an address bit). */
	if (ACCF_HAS(f, F_PDE_BIT13) && !ACCF_HAS(f, F_PDE_PSE)) {
		return false;
	}
	/* D is ignored in a PDE that points to a page table (the random
	   tests vary ignored bits); vary it only in a 2M leaf. */
	if (ACCF_HAS(f, F_PDE_D) && !ACCF_HAS(f, F_PDE_PSE)) {
		return false;
	}
	/* Under a 2M leaf the PTE is never read: don't vary it. */
	if (ACCF_HAS(f, F_PDE_PSE) &&
	    (f & (((1ull << ACC_PTE_BITS) - 1) << ACC_PTE_FIRST)) != 0) {
		return false;
	}
	/* At most one reserved bit at a time. */
	reserved = ACCF(F_PTE_BIT51) | ACCF(F_PDE_BIT51) | ACCF(F_PDE_BIT13);
	if (maxphyaddr <= 36) {
		reserved |= ACCF(F_PTE_BIT36) | ACCF(F_PDE_BIT36);
	}
	if (!ACCF_HAS(f, F_CPU_NXE)) {
		reserved |= ACCF(F_PTE_NX) | ACCF(F_PDE_NX);
	}
	reserved &= f;
	return (reserved & (reserved - 1)) == 0;
}

/*
 * Call fn(arg, f) for every legal combination, context outermost.
 * acc_legal() only ever rejects a case for bits that are set, and no rule
 * needs a bit of an inner group to allow an outer one, so a partial case
 * that is not legal has no legal extension: the loops prune early.
 * Returns the number of combinations visited.
 */
static inline uint64_t acc_for_each(unsigned maxphyaddr,
				    void (*fn)(void *arg, uint64_t f), void *arg)
{
	uint64_t count = 0;

	for (uint64_t ctx = 0; ctx < (1ull << ACC_CTX_BITS); ctx++) {
		uint64_t fc = ctx << ACC_CTX_FIRST;

		if (!acc_legal(fc, maxphyaddr)) {
			continue;
		}
		for (uint64_t pde = 0; pde < (1ull << ACC_PDE_BITS); pde++) {
			uint64_t fd = fc | (pde << ACC_PDE_FIRST);
			uint64_t ptes = ACCF_HAS(fd, F_PDE_PSE)
						? 1
						: (1ull << ACC_PTE_BITS);

			if (!acc_legal(fd, maxphyaddr)) {
				continue;
			}
			for (uint64_t pte = 0; pte < ptes; pte++) {
				uint64_t f = fd | (pte << ACC_PTE_FIRST);

				if (acc_legal(f, maxphyaddr)) {
					fn(arg, f);
					count++;
				}
			}
		}
	}
	return count;
}

/* Where the entries of a combination point. */
struct acc_frames {
	uint64_t pd;       /* the page directory the PDPTE points to */
	uint64_t pt;       /* the page table a non-leaf PDE points to */
	uint64_t frame_4k; /* the 4K leaf's frame */
	uint64_t frame_2m; /* the 2M leaf's frame (2 MiB aligned) */
	/*
	 * The PTE stored when the PDE is a 2M leaf. It must never be used:
	 * give it a reserved bit, so a walker that descends anyway faults.
	 */
	uint64_t pte_poison;
};

/* The PDPTE, PDE and PTE for flags f. */
struct acc_entries {
	uint64_t pdpte, pde, pte;
};

static inline uint64_t acc_bit_if(uint64_t f, enum acc_flag flag, uint64_t bit)
{
	return ACCF_HAS(f, flag) ? bit : 0;
}

/*
 * Spelled out bit by bit rather than driven by a table: the host test
 * composes 248 million of these, and the loop over a table costs it a
 * third more time.
 */
static inline void acc_entries_for(uint64_t f, const struct acc_frames *fr,
				   struct acc_entries *e)
{
	e->pdpte = fr->pd | ACC_X_P | ACC_X_U |
		   (ACCF_HAS(f, F_PDPTE_RO) ? 0 : ACC_X_W);

	e->pde = ACCF_HAS(f, F_PDE_PSE)
			 ? fr->frame_2m | ACC_X_PS | ACC_X_PKEY(ACC_LEAF_KEY)
			 : fr->pt | ACC_X_PKEY(ACC_TABLE_KEY);
	e->pde |= acc_bit_if(f, F_PDE_P, ACC_X_P) |
		  acc_bit_if(f, F_PDE_W, ACC_X_W) |
		  acc_bit_if(f, F_PDE_U, ACC_X_U) |
		  acc_bit_if(f, F_PDE_A, ACC_X_A) |
		  acc_bit_if(f, F_PDE_D, ACC_X_D) |
		  acc_bit_if(f, F_PDE_NX, ACC_X_NX) |
		  acc_bit_if(f, F_PDE_BIT51, ACC_B(51)) |
		  acc_bit_if(f, F_PDE_BIT36, ACC_B(36)) |
		  acc_bit_if(f, F_PDE_BIT13, ACC_B(13));
	if (ACCF_HAS(f, F_PDE_PSE)) {
		e->pte = fr->pte_poison;
		return;
	}
	e->pte = fr->frame_4k | ACC_X_PKEY(ACC_LEAF_KEY) |
		 acc_bit_if(f, F_PTE_P, ACC_X_P) |
		 acc_bit_if(f, F_PTE_W, ACC_X_W) |
		 acc_bit_if(f, F_PTE_U, ACC_X_U) |
		 acc_bit_if(f, F_PTE_A, ACC_X_A) |
		 acc_bit_if(f, F_PTE_D, ACC_X_D) |
		 acc_bit_if(f, F_PTE_NX, ACC_X_NX) |
		 acc_bit_if(f, F_PTE_BIT51, ACC_B(51)) |
		 acc_bit_if(f, F_PTE_BIT36, ACC_B(36));
}

/* A key register: key 1 denies per ad/wd, key 2 everything, others nothing. */
static inline uint32_t acc_key_register(bool ad, bool wd)
{
	uint32_t r = 3u << (2 * ACC_TABLE_KEY);

	r |= ad ? 1u << (2 * ACC_LEAF_KEY) : 0;
	r |= wd ? 2u << (2 * ACC_LEAF_KEY) : 0;
	return r;
}

/*
 * PKRU and IA32_PKRS for flags f. A register whose CR4 bit is clear denies
 * every key (it must be ignored). With both CR4.PKE and CR4.PKS set, PKRS
 * gets key 1's AD and WD swapped, so using the wrong register shows.
 */
static inline void acc_key_registers(uint64_t f, uint32_t *pkru, uint32_t *pkrs)
{
	bool ad = ACCF_HAS(f, F_PKU_AD), wd = ACCF_HAS(f, F_PKU_WD);

	*pkru = ACCF_HAS(f, F_CPU_PKE) ? acc_key_register(ad, wd) : ~0u;
	if (!ACCF_HAS(f, F_CPU_PKS)) {
		*pkrs = ~0u;
	} else if (ACCF_HAS(f, F_CPU_PKE)) {
		*pkrs = acc_key_register(wd, ad);
	} else {
		*pkrs = acc_key_register(ad, wd);
	}
}

/* vmmu_walk's access flags for f (without VMMU_ACC_PEEK). */
static inline uint32_t acc_vmmu_access(uint64_t f)
{
	return (uint32_t)(acc_bit_if(f, F_ACC_WRITE, VMMU_ACC_WRITE) |
			  acc_bit_if(f, F_ACC_USER, VMMU_ACC_USER) |
			  acc_bit_if(f, F_ACC_FETCH, VMMU_ACC_FETCH) |
			  acc_bit_if(f, F_ACC_IMPLICIT, VMMU_ACC_IMPLICIT) |
			  acc_bit_if(f, F_CPU_AC, VMMU_ACC_AC));
}

#endif
