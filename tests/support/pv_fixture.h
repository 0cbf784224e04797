/* SPDX-License-Identifier: MIT */
/*
 * A small machine for direct-paging tests: a frame table over the test
 * platform's arena (machine frame n is arena page n), frames split
 * between a domain and a second one, the domain, one vCPU, and the audit.
 */
#ifndef VMMU_TEST_PV_FIXTURE_H
#define VMMU_TEST_PV_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "test_platform.h"

struct pv_fixture {
	struct test_platform tp;
	struct vmmu_ft ft;
	struct vmmu_frame *frames;
	struct vmmu_pv_domain d;
	struct vmmu_pv_vcpu v;
	uint64_t *work; /* the audit's scratch */
	uint64_t nframes;
	uint64_t own_last;  /* the domain's frames are 1..own_last */
	uint64_t next_free; /* pv_new_frame's next */
};

/*
 * nframes frames, zeroed; frames 1..own_last belong to domain `dom`, the
 * ones above to `other`, frame 0 to nobody. The domain gets `flags`
 * (enum vmmu_pv_domain_flags), MAXPHYADDR 40, no reserved L4 slots; its
 * vCPU is vCPU 0. Aborts when the set-up fails.
 */
void pv_fixture_init(struct pv_fixture *fx, uint64_t nframes,
		     uint64_t own_last, vmmu_domid_t dom, vmmu_domid_t other,
		     uint32_t flags);
void pv_fixture_fini(struct pv_fixture *fx);

/*
 * The domain's next unused frame, zeroed (frames are handed out from 1
 * up). Aborts when the domain has none left.
 */
uint64_t pv_new_frame(struct pv_fixture *fx);

/* Machine frame mfn as a table of entries. */
uint64_t *pv_table(const struct pv_fixture *fx, uint64_t mfn);

/* One mmuext_op with arg1 and arg2; returns its result. */
int pv_ext(struct pv_fixture *fx, uint32_t cmd, uint64_t arg1, uint64_t arg2);

/*
 * Audit the domain with its vCPU: NULL when clean, else a description
 * (in buf) of the first inconsistency.
 */
const char *pv_audit_problem(struct pv_fixture *fx, char *buf, size_t n);

/* In a cmocka test: fail with the audit's first problem, if any. */
#define PV_ASSERT_AUDIT_CLEAN(pvfx)                                          \
	do {                                                                 \
		char pv_buf_[256];                                           \
		const char *pv_problem_ =                                    \
			pv_audit_problem((pvfx), pv_buf_, sizeof(pv_buf_));  \
		if (pv_problem_ != NULL) {                                   \
			fail_msg("%s", pv_problem_);                         \
		}                                                            \
	} while (0)

/* Every frame's state now, into base[0 .. ft->nframes). */
void pv_snapshot(const struct vmmu_ft *ft, struct vmmu_frame_info *base);

/*
 * NULL when every frame's general and type counts and pin are as in base
 * and nothing is paused (types may stay behind, unvalidated), else a
 * description of the first frame that differs (in buf).
 */
const char *pv_counts_changed(const struct vmmu_ft *ft,
			      const struct vmmu_frame_info *base, char *buf,
			      size_t n);

#endif
