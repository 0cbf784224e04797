/* SPDX-License-Identifier: MIT */
/* Shadow-paging test harness: see shadow_harness.h. */
#include "shadow_harness.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Raw x86 entry bits the checks read (the test owns its bit layout). */
#define SHH_X_A 0x20ull
#define SHH_X_D 0x40ull

const uint32_t shh_kinds[SHH_KINDS] = {
	0, VMMU_ACC_WRITE, VMMU_ACC_FETCH, VMMU_ACC_USER,
	VMMU_ACC_USER | VMMU_ACC_WRITE, VMMU_ACC_USER | VMMU_ACC_FETCH,
	VMMU_ACC_AC, VMMU_ACC_AC | VMMU_ACC_WRITE, VMMU_ACC_IMPLICIT,
	VMMU_ACC_IMPLICIT | VMMU_ACC_WRITE,
};

/* Record a mismatch; always false, so a check can `return say(...)`. */
__attribute__((format(printf, 2, 3)))
static bool say(char why[SHH_WHY], const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, SHH_WHY, fmt, ap);
	va_end(ap);
	return false;
}

struct vmmu_cpu_state shh_host_cpu(const struct vmmu_cpu_state *g)
{
	struct vmmu_cpu_state h = *g;

	/* The shadow encodes the guest's WP=0 and NXE=0 rules in its
	   leaves, so the hardware always runs with both set. */
	h.cr0 |= VMMU_CR0_WP;
	h.efer |= VMMU_EFER_NXE;
	return h;
}

int shh_vcpu_init(struct shh_vcpu *c, const struct shh_env *env,
		  const struct vmmu_cpu_state *cpu, uint64_t cr3)
{
	struct vmmu_cpu_state h = shh_host_cpu(cpu);
	int rc;

	c->env = NULL; /* attached only once everything succeeded */
	c->cpu = *cpu;
	c->cr3 = cr3;
	rc = vmmu_shadow_vcpu_init(&c->v, env->sh, env->fmt, env->guest, cpu, cr3);
	if (rc != 0) {
		return rc;
	}
	rc = vmmu_walker_init(&c->gw, env->fmt, env->guest, cpu);
	if (rc == 0) {
		rc = vmmu_walker_init(&c->hw, env->fmt, env->host, &h);
	}
	if (rc != 0) {
		vmmu_shadow_vcpu_destroy(&c->v);
		return rc;
	}
	c->env = env;
	return 0;
}

void shh_vcpu_fini(struct shh_vcpu *c)
{
	vmmu_shadow_vcpu_destroy(&c->v);
	c->env = NULL;
}

int shh_set_cpu(struct shh_vcpu *c, const struct vmmu_cpu_state *cpu)
{
	struct vmmu_cpu_state h = shh_host_cpu(cpu);
	int rc = vmmu_shadow_set_cpu(&c->v, cpu);

	if (rc == 0) {
		rc = vmmu_walker_set_cpu(&c->gw, cpu);
	}
	if (rc == 0) {
		rc = vmmu_walker_set_cpu(&c->hw, &h);
	}
	if (rc == 0) {
		c->cpu = *cpu;
	}
	return rc;
}

int shh_new_cr3(struct shh_vcpu *c, uint64_t cr3)
{
	int rc = vmmu_shadow_new_cr3(&c->v, cr3);

	if (rc == 0) {
		c->cr3 = cr3;
	}
	return rc;
}

/* p2m type of gpa's frame; *hpa is where it lands for RAM. */
static int p2m_of(const struct shh_env *env, uint64_t gpa, uint64_t *hpa)
{
	uint64_t hfn = 0;
	int t = env->p2m(env->p2m_ctx, gpa >> 12, &hfn);

	*hpa = (hfn << 12) | (gpa & 0xfff);
	return t;
}

void shh_expect(const struct shh_vcpu *c, uint64_t va, uint32_t acc,
		struct shh_expect *e)
{
	memset(e, 0, sizeof(*e));
	/* PEEK: the expectation must not set the A/D bits whose setting by
	   the engine is itself checked afterwards. */
	e->grc = vmmu_walk(&c->gw, c->cr3, va, acc | VMMU_ACC_PEEK, &e->g);
	e->type = e->grc == VMMU_WALK_OK ? p2m_of(c->env, e->g.addr, &e->hpa) : -1;
}

/*
 * The shadow granted acc at va (hardware walk sw): the guest must grant it
 * too, now, to the same host address, with its A/D bits already set (the
 * hardware will not set guest bits: the engine must have), and never a
 * direct write to a guest page table the engine tracks.
 */
static bool check_granted(const struct shh_vcpu *c, uint64_t va, uint32_t acc,
			  const struct vmmu_walk *sw, char why[SHH_WHY])
{
	struct vmmu_walk g;
	int rc = vmmu_walk(&c->gw, c->cr3, va, acc | VMMU_ACC_PEEK, &g);
	uint64_t hpa;

	if (rc != VMMU_WALK_OK) {
		return say(why, "va %#llx acc %#x: shadow grants, guest walk %d pfec %#x",
			   (unsigned long long)va, acc, rc, g.pfec);
	}
	if (p2m_of(c->env, g.addr, &hpa) != VMMU_P2M_RAM || hpa != sw->addr) {
		return say(why, "va %#llx acc %#x: shadow -> %#llx, guest gpa %#llx",
			   (unsigned long long)va, acc, (unsigned long long)sw->addr,
			   (unsigned long long)g.addr);
	}
	for (unsigned l = g.top_level; l >= g.level; l--) {
		if (!(g.pte[l] & SHH_X_A)) {
			return say(why, "va %#llx: guest A clear at level %u",
				   (unsigned long long)va, l);
		}
	}
	if ((acc & VMMU_ACC_WRITE) && !(g.pte[g.level] & SHH_X_D)) {
		return say(why, "va %#llx: write granted with guest D clear",
			   (unsigned long long)va);
	}
	if ((acc & VMMU_ACC_WRITE) && vmmu_shadow_tracked(c->env->sh, g.addr >> 12) &&
	    !vmmu_shadow_out_of_sync(c->env->sh, g.addr >> 12)) {
		return say(why, "va %#llx: write granted to tracked gfn %#llx",
			   (unsigned long long)va, (unsigned long long)(g.addr >> 12));
	}
	return true;
}

/* An error return of the fault handler: only where the guest explains it. */
static int check_error(uint64_t va, uint32_t acc, int rc,
		       const struct shh_expect *e, struct shh_result *r)
{
	if (rc == -VMMU_ENOENT && e->type == VMMU_P2M_ABSENT) {
		r->how = SHH_ABSENT;
		return 1;
	}
	if (rc == -VMMU_EFAULT && e->grc == -VMMU_EFAULT) {
		r->how = SHH_BADMEM;
		return 1;
	}
	say(r->why, "va %#llx acc %#x: fault rc %d (guest %d)",
	    (unsigned long long)va, acc, rc, e->grc);
	return -1;
}

/*
 * The fault handler's answer against the expectation. Returns 0 for a
 * consistent FIXED (retry the access), 1 for a consistent final answer,
 * -1 for a mismatch.
 */
static int check_answer(uint64_t va, uint32_t acc,
			const struct vmmu_shadow_result *a,
			const struct shh_expect *e, struct shh_result *r)
{
	static const enum shh_how how[] = {
		[VMMU_SHADOW_INJECT] = SHH_INJECT, [VMMU_SHADOW_MMIO] = SHH_MMIO,
		[VMMU_SHADOW_EMULATE] = SHH_EMULATE, [VMMU_SHADOW_GP] = SHH_GP,
	};
	const bool ram = e->grc == VMMU_WALK_OK && e->type == VMMU_P2M_RAM;
	bool ok;

	switch (a->outcome) {
	case VMMU_SHADOW_FIXED:   ok = ram; break;
	case VMMU_SHADOW_INJECT:  ok = e->grc == VMMU_WALK_PF && a->pfec == e->g.pfec; break;
	case VMMU_SHADOW_MMIO:    ok = e->type == VMMU_P2M_MMIO && a->gpa == e->g.addr; break;
	/* EMULATE: only a write can need it (tracked frame, SMAP trick). */
	case VMMU_SHADOW_EMULATE: ok = ram && a->hpa == e->hpa && (acc & VMMU_ACC_WRITE); break;
	case VMMU_SHADOW_GP:      ok = e->grc == VMMU_WALK_GP; break;
	default:                  ok = false; break;
	}
	if (!ok) {
		say(r->why, "va %#llx acc %#x: answer %u (pfec %#x gpa %#llx hpa %#llx), "
		    "guest walk %d (pfec %#x gpa %#llx p2m type %d)",
		    (unsigned long long)va, acc, a->outcome, a->pfec,
		    (unsigned long long)a->gpa, (unsigned long long)a->hpa,
		    e->grc, e->g.pfec, (unsigned long long)e->g.addr, e->type);
		return -1;
	}
	if (a->outcome == VMMU_SHADOW_FIXED) {
		return 0;
	}
	r->how = how[a->outcome];
	r->pfec = a->outcome == VMMU_SHADOW_INJECT ? a->pfec : 0;
	r->addr = a->outcome == VMMU_SHADOW_MMIO      ? a->gpa
		  : a->outcome == VMMU_SHADOW_EMULATE ? a->hpa
						      : 0;
	return 1;
}

bool shh_access(struct shh_vcpu *c, uint64_t va, uint32_t acc,
		struct shh_result *r)
{
	struct shh_expect e;

	memset(r, 0, sizeof(*r));
	shh_expect(c, va, acc, &e);
	if (e.grc < 0 && e.grc != -VMMU_EFAULT) {
		return say(r->why, "va %#llx acc %#x: guest walk error %d",
			   (unsigned long long)va, acc, e.grc);
	}
	/* Three rounds: a fill may take one fault per level of rights the
	   leaf grows (read, then write after D), never more. */
	for (unsigned iter = 0; iter < 3; iter++) {
		uint64_t root;
		struct vmmu_walk sw;
		struct vmmu_shadow_result a;

		if (vmmu_shadow_root(&c->v, &root) != 0) {
			return say(r->why, "va %#llx: no shadow root", (unsigned long long)va);
		}
		if (vmmu_walk(&c->hw, root, va, acc | VMMU_ACC_PEEK, &sw) == VMMU_WALK_OK) {
			r->how = SHH_GRANTED;
			r->addr = sw.addr;
			return check_granted(c, va, acc, &sw, r->why);
		}
		int rc = vmmu_shadow_fault(&c->v, va, acc, &a);
		int k = rc != 0 ? check_error(va, acc, rc, &e, r)
			       : check_answer(va, acc, &a, &e, r);
		if (k != 0) {
			return k > 0;
		}
		r->fills++;
	}
	return say(r->why, "va %#llx acc %#x: FIXED but the shadow still faults",
		   (unsigned long long)va, acc);
}

int shh_probe(struct shh_vcpu *c, uint64_t va, uint32_t acc,
	      char why[SHH_WHY])
{
	uint64_t root;
	struct vmmu_walk sw;

	if (vmmu_shadow_root(&c->v, &root) != 0) {
		say(why, "va %#llx: no shadow root", (unsigned long long)va);
		return -1;
	}
	if (vmmu_walk(&c->hw, root, va, acc | VMMU_ACC_PEEK, &sw) != VMMU_WALK_OK) {
		return 0;
	}
	if (!check_granted(c, va, acc, &sw, why)) {
		char what[SHH_WHY];
		memcpy(what, why, SHH_WHY);
		say(why, "probe without a fault: %s", what);
		return -1;
	}
	return 1;
}

int shh_probe_all(struct shh_vcpu *c, uint64_t va, char why[SHH_WHY])
{
	uint64_t root;
	struct vmmu_walk sw;
	int granted = 0;

	if (vmmu_shadow_root(&c->v, &root) != 0) {
		say(why, "va %#llx: no shadow root", (unsigned long long)va);
		return -1;
	}
	int s = vmmu_walk(&c->hw, root, va, VMMU_ACC_PEEK, &sw);
	if (s == VMMU_WALK_GP ||
	    (s == VMMU_WALK_PF && (!(sw.pfec & VMMU_PFEC_P) || (sw.pfec & VMMU_PFEC_RSVD)))) {
		return 0;
	}
	for (unsigned k = 0; k < SHH_KINDS; k++) {
		int g = shh_probe(c, va, shh_kinds[k], why);
		if (g < 0) {
			return -1;
		}
		granted += g;
	}
	return granted;
}
