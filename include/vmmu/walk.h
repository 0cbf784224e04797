/* SPDX-License-Identifier: MIT */
/**
 * @file walk.h
 * The guest page walk with exact x86-64 semantics (SDM Vol. 3A §4.5-§4.7),
 * and the EPT walk (SDM Vol. 3C §29.3) for nested guests.
 *
 * A walker holds the CPU state that shapes a walk (CR0, CR4, EFER, PKRU,
 * IA32_PKRS) and tables derived from it: reserved-bit masks per level and
 * a permission-fault table indexed by access type. vmmu_walker_set_cpu()
 * recomputes them only when a paging-relevant bit changed; vmmu_walk()
 * itself only looks values up.
 *
 * Table memory is reached through the platform (frame_map or the direct
 * map); CR3 and table pointers are guest-physical in the platform's sense.
 */
#ifndef VMMU_WALK_H
#define VMMU_WALK_H

#include "platform.h"
#include "pte.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Architectural register bits the walker reads. */
#define VMMU_CR0_PE (1ull << 0)
#define VMMU_CR0_WP (1ull << 16)
#define VMMU_CR0_PG (1ull << 31)
#define VMMU_CR4_PSE (1ull << 4)
#define VMMU_CR4_PAE (1ull << 5)
#define VMMU_CR4_PGE (1ull << 7)
#define VMMU_CR4_LA57 (1ull << 12)
#define VMMU_CR4_SMEP (1ull << 20)
#define VMMU_CR4_SMAP (1ull << 21)
#define VMMU_CR4_PKE (1ull << 22)
#define VMMU_CR4_PKS (1ull << 24)
#define VMMU_EFER_LME (1ull << 8)
#define VMMU_EFER_LMA (1ull << 10)
#define VMMU_EFER_NXE (1ull << 11)

/** #PF error-code bits (SDM Vol. 3A §4.7). */
#define VMMU_PFEC_P (1u << 0)    /**< 0: not-present entry; 1: protection/rsvd/PK */
#define VMMU_PFEC_W (1u << 1)
#define VMMU_PFEC_U (1u << 2)
#define VMMU_PFEC_RSVD (1u << 3)
#define VMMU_PFEC_I (1u << 4)    /**< instruction fetch (only with NXE or SMEP) */
#define VMMU_PFEC_PK (1u << 5)

/** Access flags for vmmu_walk(). Bits 1, 2, 4 match the error code. */
enum vmmu_access {
	VMMU_ACC_READ = 0,
	VMMU_ACC_WRITE = 1u << 1,
	VMMU_ACC_USER = 1u << 2,     /**< explicit access at CPL 3 */
	VMMU_ACC_FETCH = 1u << 4,
	VMMU_ACC_IMPLICIT = 1u << 8, /**< supervisor implicit access (GDT/IDT/LDT/TSS) */
	VMMU_ACC_AC = 1u << 9,       /**< EFLAGS.AC was 1 (SMAP override) */
	VMMU_ACC_PEEK = 1u << 10,    /**< check only: never set A/D */
};

/** The registers that shape a walk. */
struct vmmu_cpu_state {
	uint64_t cr0;
	uint64_t cr4;
	uint64_t efer;
	uint32_t pkru;
	uint32_t pkrs; /**< IA32_PKRS (supervisor keys) */
};

/** Per-level masks a walker derives from its format and CPU state (private). */
struct vmmu_walker_level {
	uint64_t present;    /**< any bit set: the entry is present */
	uint64_t leaf;       /**< any bit set in a present entry: it is a leaf */
	uint64_t rsvd_table; /**< must-be-zero bits of a table entry */
	uint64_t rsvd_leaf;  /**< must-be-zero bits of a leaf */
};

/** Walker state. Initialise with vmmu_walker_init(); fields are private. */
struct vmmu_walker {
	const struct vmmu_fmt *fmt;
	const struct vmmu_platform *plat;
	struct vmmu_cpu_state cpu;
	struct vmmu_walker_level lvl[VMMU_LEVEL_MAX + 1];
	uint64_t addr_mask;     /**< table-address bits (equal at every level) */
	uint64_t write_bit, user_bit, nx_bit, accessed_bit; /**< uniform formats */
	uint64_t cr3_rsvd;      /**< CR3 bits that MOV CR3 would refuse */
	uint8_t perm_fault[16]; /**< [access index] bit per effective-rights combo */
	uint8_t pk_check[16];   /**< [access index] which key register applies, WD */
	uint8_t pfec_fetch;     /**< VMMU_PFEC_I when fetches report I/D, else 0 */
	uint8_t levels;
	uint8_t canon_shift;    /**< 64 - linear-address width */
	uint8_t uniform;        /**< W/U/XD/A sit at the same bits at every level */
	uint8_t reserved_[4];
};

/** Result of a walk. */
struct vmmu_walk {
	uint64_t addr;   /**< translated address (on success) */
	uint32_t pfec;   /**< #PF error code (on VMMU_WALK_PF) */
	uint8_t top_level;  /**< level the walk started at (4 or 5) */
	uint8_t level;   /**< leaf level on success; level where it stopped on a fault */
	uint8_t pkey;    /**< leaf protection key (when a leaf was reached) */
	uint8_t reserved_;
	uint32_t perm;   /**< effective rights, enum vmmu_perm (when a leaf was reached) */
	/** Entries as read at each level used; on success after A/D were set. */
	vmmu_pte_t pte[VMMU_LEVEL_MAX + 1];
	/** Physical address of each entry used. */
	uint64_t pte_addr[VMMU_LEVEL_MAX + 1];
};

/** Outcome of vmmu_walk() (non-negative). */
enum vmmu_walk_outcome {
	VMMU_WALK_OK = 0, /**< translated */
	VMMU_WALK_PF = 1, /**< page fault; error code in vmmu_walk::pfec */
	VMMU_WALK_GP = 2, /**< non-canonical address: #GP (or #SS), no walk */
};

/**
 * Prepare a walker for an x86-64 format (4 or 5 levels) and CPU state.
 * Returns 0, or -VMMU_EINVAL (not an x86 format, bad platform, or a CPU
 * state the format cannot walk: see vmmu_walker_set_cpu).
 */
int vmmu_walker_init(struct vmmu_walker *w, const struct vmmu_fmt *fmt,
		     const struct vmmu_platform *plat,
		     const struct vmmu_cpu_state *cpu);

/**
 * Load new register values; recomputes the tables only when a bit that
 * affects translation changed. Requires long mode with paging (CR0.PG,
 * CR4.PAE, EFER.LMA) and CR4.LA57 matching the format's level count;
 * otherwise -VMMU_EINVAL and the walker is unchanged. Context: the
 * walker's owner; not concurrently with vmmu_walk on the same walker.
 */
int vmmu_walker_set_cpu(struct vmmu_walker *w, const struct vmmu_cpu_state *cpu);

/**
 * Walk va from the table at cr3 for the access given (enum vmmu_access).
 * Returns VMMU_WALK_OK, VMMU_WALK_PF, VMMU_WALK_GP, or a negative error:
 * -VMMU_EFAULT when a table is not memory; -VMMU_EINVAL for CR3 bits
 * beyond MAXPHYADDR, unknown access bits, WRITE|FETCH, USER|IMPLICIT or a
 * NULL argument; -VMMU_EBUSY after 1000 walks lost the A/D race.
 *
 * On success A is set in every entry used and D in the leaf for writes,
 * each by compare-exchange; if an entry changed under the walk, the walk
 * restarts. On a fault nothing is written. Context: any; several walkers
 * may walk and update the same tables concurrently.
 */
int vmmu_walk(const struct vmmu_walker *w, uint64_t cr3, uint64_t va,
	      uint32_t access, struct vmmu_walk *out);

/* --- EPT ---------------------------------------------------------------- */

/** Access flags for vmmu_ept_walk(). */
enum vmmu_ept_access {
	VMMU_EPT_ACC_READ = 1u << 0,
	VMMU_EPT_ACC_WRITE = 1u << 1,
	VMMU_EPT_ACC_FETCH = 1u << 2,
	VMMU_EPT_ACC_USER = 1u << 3,  /**< user-mode linear address (MBEC) */
	VMMU_EPT_ACC_LINEAR = 1u << 4, /**< a guest linear address is involved */
	VMMU_EPT_ACC_GUEST_PT = 1u << 5, /**< access to a guest paging structure */
	VMMU_EPT_ACC_PEEK = 1u << 6,  /**< never set A/D */
};

/** EPT-violation exit-qualification bits (SDM Vol. 3C Table 28-7). */
#define VMMU_EPT_QUAL_READ (1ull << 0)
#define VMMU_EPT_QUAL_WRITE (1ull << 1)
#define VMMU_EPT_QUAL_FETCH (1ull << 2)
#define VMMU_EPT_QUAL_READABLE (1ull << 3)
#define VMMU_EPT_QUAL_WRITABLE (1ull << 4)
#define VMMU_EPT_QUAL_EXECUTABLE (1ull << 5)
#define VMMU_EPT_QUAL_UEXECUTABLE (1ull << 6)
#define VMMU_EPT_QUAL_GLA_VALID (1ull << 7)
#define VMMU_EPT_QUAL_GLA_XLAT (1ull << 8)

/** Result of an EPT walk. */
struct vmmu_ept_walk {
	uint64_t hpa;    /**< translated address (on success) */
	uint64_t qual;   /**< exit qualification (on a violation) */
	uint8_t level;   /**< leaf level, or where the walk stopped */
	uint8_t memtype; /**< leaf memory type (on success) */
	uint8_t ipat;
	uint8_t reserved_[5];
	vmmu_pte_t pte[VMMU_LEVEL_MAX + 1];
};

enum vmmu_ept_outcome {
	VMMU_EPT_OK = 0,
	VMMU_EPT_VIOLATION = 1,
	VMMU_EPT_MISCONFIG = 2,
};

/**
 * Translate a guest-physical address through the EPT rooted at eptp
 * (bits 12 and up; low control bits ignored). Returns VMMU_EPT_OK,
 * VMMU_EPT_VIOLATION (qual filled), VMMU_EPT_MISCONFIG, or -VMMU_EFAULT /
 * -VMMU_EINVAL / -VMMU_ERANGE. With EPT A/D enabled, A is set in every
 * entry used and D on the leaf for writes (guest paging-structure accesses
 * count as writes, SDM §29.3.5), by compare-exchange. Context: any.
 */
int vmmu_ept_walk(const struct vmmu_fmt *fmt, const struct vmmu_platform *plat,
		  uint64_t eptp, uint64_t gpa, uint32_t access,
		  struct vmmu_ept_walk *out);

#ifdef __cplusplus
}
#endif

#endif /* VMMU_WALK_H */
