/* SPDX-License-Identifier: MIT */
/**
 * @file pv_abi.h
 * @brief The Xen PV MMU hypercall ABI (x86-64 guests): request layouts,
 * command numbers and flags, so that a guest kernel written for Xen talks
 * to a vmmu-based hypervisor unchanged, and a vmmu guest backend talks to
 * Xen. Facts only; what vmmu does with them is in docs/frame.md (and the
 * direct-paging documentation as it is built).
 *
 * Sizes and offsets are those of the 64-bit ABI and are checked by
 * tests/unit/test_pv_abi.c.
 */
#ifndef VMMU_PV_ABI_H
#define VMMU_PV_ABI_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Hypercall numbers. */
enum vmmu_pv_hypercall {
	VMMU_PV_HC_MMU_UPDATE = 1,
	VMMU_PV_HC_MULTICALL = 13,
	VMMU_PV_HC_UPDATE_VA_MAPPING = 14,
	VMMU_PV_HC_UPDATE_VA_MAPPING_OTHERDOMAIN = 22,
	VMMU_PV_HC_MMUEXT_OP = 26,
};

/**
 * One mmu_update request (16 bytes). The low 3 bits of ptr are the
 * command (enum vmmu_pv_mmu_cmd); the rest is the 8-byte aligned machine
 * address of the entry (or, for MACHPHYS, the frame whose M2P entry is
 * set to val).
 */
struct vmmu_pv_mmu_update {
	uint64_t ptr;
	uint64_t val;
};

/** mmu_update commands (ptr & 7). 4..7 are refused (-ENOSYS in Xen). */
enum vmmu_pv_mmu_cmd {
	VMMU_PV_MMU_NORMAL_PT_UPDATE = 0,   /**< checked *ptr = val */
	VMMU_PV_MMU_MACHPHYS_UPDATE = 1,    /**< M2P[ptr >> 12] = val */
	VMMU_PV_MMU_PT_UPDATE_PRESERVE_AD = 2, /**< as 0, keeping A/D set by hardware */
	VMMU_PV_MMU_PT_UPDATE_NO_TRANSLATE = 3, /**< as 0, val never translated */
};
#define VMMU_PV_MMU_CMD_MASK 7ull

/** Set in the count of a continued mmu_update/mmuext_op call. */
#define VMMU_PV_MMU_UPDATE_PREEMPTED (1u << 31)

/** Domain ids with a meaning of their own (the foreigndom argument). */
#define VMMU_PV_DOMID_SELF 0x7ff0u
#define VMMU_PV_DOMID_IO 0x7ff1u
#define VMMU_PV_DOMID_XEN 0x7ff2u

/**
 * One mmuext_op request (24 bytes on x86-64): arg1 is a frame or a linear
 * address, arg2 an entry count, a guest pointer to a vCPU bitmap or a
 * source frame, by command.
 */
struct vmmu_pv_mmuext_op {
	uint32_t cmd;
	uint32_t pad_;
	union {
		uint64_t mfn;
		uint64_t linear_addr;
	} arg1;
	union {
		uint32_t nr_ents;
		uint64_t vcpumask; /**< guest address of a bitmap */
		uint64_t src_mfn;
	} arg2;
};

/** mmuext_op commands. */
enum vmmu_pv_mmuext_cmd {
	VMMU_PV_MMUEXT_PIN_L1_TABLE = 0,
	VMMU_PV_MMUEXT_PIN_L2_TABLE = 1,
	VMMU_PV_MMUEXT_PIN_L3_TABLE = 2,
	VMMU_PV_MMUEXT_PIN_L4_TABLE = 3,
	VMMU_PV_MMUEXT_UNPIN_TABLE = 4,
	VMMU_PV_MMUEXT_NEW_BASEPTR = 5,
	VMMU_PV_MMUEXT_TLB_FLUSH_LOCAL = 6,
	VMMU_PV_MMUEXT_INVLPG_LOCAL = 7,
	VMMU_PV_MMUEXT_TLB_FLUSH_MULTI = 8,
	VMMU_PV_MMUEXT_INVLPG_MULTI = 9,
	VMMU_PV_MMUEXT_TLB_FLUSH_ALL = 10,
	VMMU_PV_MMUEXT_INVLPG_ALL = 11,
	VMMU_PV_MMUEXT_FLUSH_CACHE = 12,
	VMMU_PV_MMUEXT_SET_LDT = 13,
	VMMU_PV_MMUEXT_NEW_USER_BASEPTR = 15,
	VMMU_PV_MMUEXT_CLEAR_PAGE = 16,
	VMMU_PV_MMUEXT_COPY_PAGE = 17,
	VMMU_PV_MMUEXT_FLUSH_CACHE_GLOBAL = 18,
	VMMU_PV_MMUEXT_MARK_SUPER = 19,   /**< withdrawn: refused */
	VMMU_PV_MMUEXT_UNMARK_SUPER = 20, /**< withdrawn: refused */
};

/**
 * update_va_mapping flags: bits 1..0 the flush (none, whole TLB, one
 * page); then either UVMF_ALL (bit 2) or the upper bits are a guest
 * pointer to a vCPU bitmap (UVMF_MULTI), 0 meaning this vCPU only.
 */
#define VMMU_PV_UVMF_NONE 0ull
#define VMMU_PV_UVMF_TLB_FLUSH 1ull
#define VMMU_PV_UVMF_INVLPG 2ull
#define VMMU_PV_UVMF_FLUSHTYPE_MASK 3ull
#define VMMU_PV_UVMF_MULTI 0ull /**< with a bitmap pointer in the upper bits */
#define VMMU_PV_UVMF_LOCAL 0ull /**< with no pointer */
#define VMMU_PV_UVMF_ALL 4ull

/** One multicall entry: the hypercall, its result, its arguments. */
struct vmmu_pv_multicall_entry {
	uint64_t op;
	uint64_t result;
	uint64_t args[6];
};

/** Feature flag: mmu_update understands PT_UPDATE_PRESERVE_AD. */
#define VMMU_PV_XENFEAT_MMU_PT_UPDATE_PRESERVE_AD 5u
/** VM assist: guest stores to read-only L1 tables are emulated. */
#define VMMU_PV_VMASST_TYPE_WRITABLE_PAGETABLES 2u

#ifdef __cplusplus
}
#endif

#endif
