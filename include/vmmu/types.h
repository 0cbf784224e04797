/* SPDX-License-Identifier: MIT */
/**
 * @file types.h
 * Basic types of vmmu: address kinds that cannot be mixed up, PTE values,
 * error codes.
 *
 * Every address kind is a single-member struct in every build (never only
 * in debug builds), so passing a guest frame where a machine frame is
 * expected is a compile error.
 */
#ifndef VMMU_TYPES_H
#define VMMU_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VMMU_PAGE_SHIFT 12u
#define VMMU_PAGE_SIZE (1ull << VMMU_PAGE_SHIFT)
#define VMMU_PAGE_MASK (~(VMMU_PAGE_SIZE - 1))
/** Entries per table in every supported format (x86-64, EPT). */
#define VMMU_PT_ENTRIES 512u

/** A raw page-table entry of any format. */
typedef uint64_t vmmu_pte_t;

/** Machine (host) frame number. */
typedef struct vmmu_mfn {
	uint64_t v;
} vmmu_mfn_t;
/** Guest frame number. */
typedef struct vmmu_gfn {
	uint64_t v;
} vmmu_gfn_t;
/** Guest virtual (linear) address. */
typedef struct vmmu_gva {
	uint64_t v;
} vmmu_gva_t;
/** Guest physical address. */
typedef struct vmmu_gpa {
	uint64_t v;
} vmmu_gpa_t;
/** Host physical address. */
typedef struct vmmu_hpa {
	uint64_t v;
} vmmu_hpa_t;

static inline vmmu_mfn_t vmmu_mfn(uint64_t v)
{
	vmmu_mfn_t r = {v};
	return r;
}
static inline vmmu_gfn_t vmmu_gfn(uint64_t v)
{
	vmmu_gfn_t r = {v};
	return r;
}
static inline vmmu_gva_t vmmu_gva(uint64_t v)
{
	vmmu_gva_t r = {v};
	return r;
}
static inline vmmu_gpa_t vmmu_gpa(uint64_t v)
{
	vmmu_gpa_t r = {v};
	return r;
}
static inline vmmu_hpa_t vmmu_hpa(uint64_t v)
{
	vmmu_hpa_t r = {v};
	return r;
}
static inline vmmu_mfn_t vmmu_hpa_to_mfn(vmmu_hpa_t a)
{
	return vmmu_mfn(a.v >> VMMU_PAGE_SHIFT);
}
static inline vmmu_hpa_t vmmu_mfn_to_hpa(vmmu_mfn_t f)
{
	return vmmu_hpa(f.v << VMMU_PAGE_SHIFT);
}
static inline vmmu_gfn_t vmmu_gpa_to_gfn(vmmu_gpa_t a)
{
	return vmmu_gfn(a.v >> VMMU_PAGE_SHIFT);
}
static inline vmmu_gpa_t vmmu_gfn_to_gpa(vmmu_gfn_t f)
{
	return vmmu_gpa(f.v << VMMU_PAGE_SHIFT);
}

/**
 * Error codes. Functions return 0 on success or the negated code
 * (-VMMU_EINVAL ...). vmmu_strerror() accepts either sign.
 */
enum vmmu_err {
	VMMU_OK = 0,
	VMMU_EINVAL = 1,   /**< malformed argument */
	VMMU_ENOMEM = 2,   /**< the platform could not supply a frame */
	VMMU_EEXIST = 3,   /**< range already (partly) mapped */
	VMMU_ENOENT = 4,   /**< range not (fully) mapped */
	VMMU_ERANGE = 5,   /**< address outside the format's input range */
	VMMU_EALIGN = 6,   /**< address or size not aligned as required */
	VMMU_EFAULT = 7,   /**< a table address is not backed by memory */
	VMMU_EPERM = 8,    /**< operation not permitted */
	VMMU_EBUSY = 9,    /**< resource in use */
	VMMU_ERESTART = 10, /**< preempted: call again to continue */
	VMMU_ENOTSUP = 11, /**< feature not supported by this format/mode */
	VMMU_EAGAIN = 12,  /**< another CPU is busy with it: call again later */
	VMMU_ERR_COUNT
};

/** Human-readable text for an error code (either sign); never NULL. */
const char *vmmu_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif /* VMMU_TYPES_H */
