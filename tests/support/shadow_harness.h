/* SPDX-License-Identifier: MIT */
/*
 * Shadow-paging test harness: resolve a guest access the way hardware and
 * an embedder would, and check the answer against the guest walk composed
 * with the p2m. Shared by the random oracle (tests/unit/test_shadow_oracle.c)
 * and the access matrix (tests/unit/test_shadow_matrix.c), so both judge
 * the engine by one definition.
 *
 * "Hardware" is vmmu_walk over the shadow tables (host platform) in the
 * mode the shadow assumes: the guest's CR4 and EFLAGS.AC with CR0.WP=1 and
 * EFER.NXE=1 (docs/shadow.md). "Embedder" is a #PF handler that calls
 * vmmu_shadow_fault and lets the access retry after VMMU_SHADOW_FIXED.
 *
 * The expectation is the guest walk (VMMU_ACC_PEEK, taken before the
 * access) composed with the p2m:
 *   - the shadow grants       => the guest grants, to the same host address,
 *     every guest entry used has A set, the leaf D for writes, and a write
 *     never goes straight to a tracked guest page table;
 *   - INJECT                  => the guest faults with that exact error code;
 *   - MMIO / EMULATE / absent => the guest translates to an MMIO gpa / a RAM
 *     page the shadow leaf cannot grant (writes only) / an absent frame;
 *   - GP                      => the address is non-canonical for the guest.
 *
 * Hosted, no cmocka: a check returns false with a message in a buffer and
 * the caller fails in its own framework, with its own context (a seed, a
 * combination).
 */
#ifndef VMMU_TEST_SHADOW_HARNESS_H
#define VMMU_TEST_SHADOW_HARNESS_H

#include <stdbool.h>
#include <stdint.h>

#include <vmmu/vmmu.h>
#include <vmmu/shadow.h>

/* One shadow instance as the harness sees it. */
struct shh_env {
	struct vmmu_shadow *sh;
	const struct vmmu_fmt *fmt;        /* guest tables and shadow tables */
	const struct vmmu_platform *guest; /* guest-physical memory */
	const struct vmmu_platform *host;  /* where the shadow tables live */
	/* The p2m the instance was given: the expectation needs it too. */
	int (*p2m)(void *ctx, uint64_t gfn, uint64_t *hfn);
	void *p2m_ctx;
};

/* One vCPU: the engine's, plus the two walkers that judge it. */
struct shh_vcpu {
	const struct shh_env *env;
	struct vmmu_shadow_vcpu v;
	struct vmmu_walker gw;     /* the guest walk: guest platform, guest mode */
	struct vmmu_walker hw;     /* hardware: shadow tables, host mode */
	struct vmmu_cpu_state cpu; /* guest mode */
	uint64_t cr3;              /* guest CR3 */
};

/* What one access came to. */
enum shh_how {
	SHH_GRANTED, /* the shadow translates it (possibly after fills) */
	SHH_INJECT,  /* #PF injected, error code in pfec */
	SHH_MMIO,    /* device access at guest-physical addr */
	SHH_EMULATE, /* instruction emulated on host-physical addr */
	SHH_GP,      /* #GP: non-canonical */
	SHH_ABSENT,  /* -VMMU_ENOENT: the guest frame is absent in the p2m */
	SHH_BADMEM,  /* -VMMU_EFAULT: a guest table pointer leaves guest RAM */
};

#define SHH_WHY 256

struct shh_result {
	enum shh_how how;
	unsigned fills; /* VMMU_SHADOW_FIXED answers before the end */
	uint32_t pfec;  /* SHH_INJECT */
	uint64_t addr;  /* GRANTED/EMULATE: host-physical; MMIO: guest-physical */
	char why[SHH_WHY]; /* the first mismatch, when the check failed */
};

/* The guest walk composed with the p2m, taken before an access. */
struct shh_expect {
	int grc;           /* vmmu_walk on the guest tables (PEEK) */
	struct vmmu_walk g;
	int type;          /* enum vmmu_p2m_type of g.addr; -1 when no translation */
	uint64_t hpa;      /* RAM: the host address g.addr maps to */
};

/* The host mode the shadow tables run in for guest mode g. */
struct vmmu_cpu_state shh_host_cpu(const struct vmmu_cpu_state *g);

/*
 * vmmu_shadow_vcpu_init on env's instance, then the two walkers. Returns
 * the engine's answer (so a caller can assert a refusal such as
 * -VMMU_ENOTSUP), or a walker's error when the engine accepted.
 */
int shh_vcpu_init(struct shh_vcpu *c, const struct shh_env *env,
		  const struct vmmu_cpu_state *cpu, uint64_t cr3);

/* Detach the engine's vCPU (vmmu_shadow_vcpu_destroy): gives back what it
   holds, so a test can check that every host frame came back. */
void shh_vcpu_fini(struct shh_vcpu *c);

/* A guest mode change: the engine and both walkers. 0 or the first error. */
int shh_set_cpu(struct shh_vcpu *c, const struct vmmu_cpu_state *cpu);

/* A guest CR3 load. 0 or the engine's error. */
int shh_new_cr3(struct shh_vcpu *c, uint64_t cr3);

/* The expectation for acc at va in the guest's current state. */
void shh_expect(const struct shh_vcpu *c, uint64_t va, uint32_t acc,
		struct shh_expect *e);

/*
 * One access: the expectation, then walk the shadow / fault / retry until
 * the shadow grants or the engine answers otherwise, each answer checked.
 * Returns true when everything matched; false with r->why set.
 */
bool shh_access(struct shh_vcpu *c, uint64_t va, uint32_t acc,
		struct shh_result *r);

/*
 * Safety probe: if the shadow grants acc at va right now (no fault
 * handled), the guest must grant it (shh_access's "granted" rules).
 * Returns 1 granted and consistent, 0 not granted, -1 with why set.
 */
int shh_probe(struct shh_vcpu *c, uint64_t va, uint32_t acc,
	      char why[SHH_WHY]);

/*
 * shh_probe for every kind of shh_kinds. When the supervisor read stops
 * at a not-present entry or a reserved bit, no kind can pass (neither
 * depends on the access), so the other walks are skipped. Returns the
 * number of kinds the shadow grants, or -1 with why set.
 */
int shh_probe_all(struct shh_vcpu *c, uint64_t va, char why[SHH_WHY]);

/* The ten access kinds a guest can make (without VMMU_ACC_PEEK). */
#define SHH_KINDS 10
extern const uint32_t shh_kinds[SHH_KINDS];

#endif
