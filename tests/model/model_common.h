/* SPDX-License-Identifier: MIT */
/*
 * What the two differential model tests (exhaustive.c, random_trees.c)
 * share: turning the reference walker's view of a CPU, an access, memory
 * and an outcome into vmmu's, and comparing one walk of each.
 *
 * This is test glue between the two sides, so it sees both vmmu and
 * ref_walk.h; the reference walker itself (ref_walk.c) stays independent
 * of the library and does not use it.
 */
#ifndef VMMU_TESTS_MODEL_COMMON_H
#define VMMU_TESTS_MODEL_COMMON_H

#include <stdint.h>

#include <vmmu/vmmu.h>

#include "ref_walk.h"

/* Flat memory for ref_walk: `size` bytes at `bytes`, physical address 0 up. */
struct model_flat_mem {
	uint8_t *bytes;
	uint64_t size;
};

/* A ref_mem reading and writing `flat`, which must outlive it. */
struct ref_mem model_ref_mem(struct model_flat_mem *flat);

/* vmmu's CPU state for the model's (long mode, paging on); zero-filled. */
void model_cpu_state(const struct ref_cpu *rcpu, struct vmmu_cpu_state *cpu);

/* vmmu's access flags (VMMU_ACC_*) for the model's access. */
uint32_t model_access_flags(const struct ref_access *racc);

/* A model outcome as the vmmu_walk return value that means the same. */
int model_outcome_rc(enum ref_outcome o);

/* "OK", "#PF", "#GP", "EFAULT" (or "?") for a vmmu_walk return value. */
const char *model_outcome_name(int rc);

/*
 * The first way vmmu's walk (its return value vrc and record vw) differs
 * from the model's (rr) in outcome, error code or physical address; NULL
 * when they agree.
 */
const char *model_outcome_mismatch(int vrc, const struct vmmu_walk *vw,
				   const struct ref_result *rr);

/*
 * The first way the walk records differ (levels, the entries read and
 * their addresses, the protection key when rcpu enables keys); NULL when
 * they agree. Compare outcomes first: this assumes they are equal.
 */
const char *model_record_mismatch(int vrc, const struct vmmu_walk *vw,
				  const struct ref_result *rr,
				  const struct ref_cpu *rcpu);

#endif
