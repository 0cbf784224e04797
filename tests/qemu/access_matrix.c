/* SPDX-License-Identifier: MIT */
/*
 * access_matrix: the host's exhaustive access matrix, on a CPU.
 *
 * tests/support/access_space.h defines the combinations that the host
 * test tests/model/exhaustive.c runs against the reference walker: the
 * bits of the PTE, PDE and PDPTE mapping one address (present, R/W, U/S,
 * A, D, XD, PS, reserved bits 51, 36 and 13), the protection-key registers,
 * the access (user/supervisor, read/write/fetch, implicit) and the CPU
 * state (EFER.NXE, CR0.WP, CR4.SMEP, CR4.SMAP with and without EFLAGS.AC,
 * CR4.PKE, CR4.PKS). This kernel runs every one of them that the CPU
 * model supports:
 *
 *   1. the entries on the address's path are written as the combination
 *      says (the path itself was made by vmmu's builder), the CPU state is
 *      set, and INVLPG drops any cached translation;
 *   2. the CPU performs the access (ring 0, ring 3 through the user stub
 *      page, or an implicit supervisor access: a segment load through an
 *      LDT placed at the address) and we record the exception, error code,
 *      CR2 and the entries as the CPU left them;
 *   3. the entries are written again and vmmu_walk, committing, walks the
 *      same tables;
 *
 * and the outcome, error code, CR2 and every entry of the path bit for bit
 * must agree, except the accessed flag of entries above the one where a
 * faulting walk stopped (the CPU may set it on the way down; vmmu never
 * writes on a fault).
 *
 * Combinations the CPU model lacks a feature for (PKU, PKS, SMEP, SMAP,
 * NX) are counted as unsupported. Bit 36 is reserved only when MAXPHYADDR
 * is 36 (the manifest gives TCG phys-bits=36, so the whole host space
 * runs); with a wider MAXPHYADDR it is an address bit that would point
 * outside RAM, and those combinations are left out.
 *
 * Command line (words separated by commas or spaces): "stride=N" runs one
 * combination in N, picked by a hash of its flags (the manifest samples
 * under KVM, where every page-table store exits); "shard=K/N" runs share K
 * of N, so that N runs together cover every combination once; "strict" refuses
 * the known TCG deviations (enum kx_quirk in rt/kx.h); "diag=N" prints the first N
 * mismatches in full (default 40); "trace" prints each case before it runs;
 * "sample=N" (at most 4096) runs N legal combinations drawn at random
 * ("seed=S") instead of enumerating the space: for CPUs that run guest
 * code slowly (the nested KVM here runs the enumeration loop alone for
 * many minutes); "must=MASK" runs only the combinations that have every
 * flag of MASK (bits of enum acc_flag), to aim at one corner.
 */
#include "access_space.h"
#include "kx.h"
#include "splitmix.h"

#define VA4 0xffff923412345678ull /* 48-bit canonical, as the host test */
#define VA5 0xff92340012345678ull /* 57-bit canonical, not 48-bit */
#define SZ_4K 0x1000ull
#define SZ_2M 0x200000ull
#define MAX_DIAG 40u

/*
 * The 8-byte word at the address is also an LDT entry (implicit accesses
 * load it): a present DPL-3 read/write data segment, base 0, whose first
 * byte is 0xc3 (ret, the target of fetches; explicit writes store 0xc3
 * too). The type's accessed bit (bit 40) decides whether loading it also
 * writes (SDM Vol. 3A 3.4.5.1).
 */
#define DESC_DATA 0x00cff2000000ffc3ull
#define DESC_ACCESSED (1ull << 40)

static uint8_t frame_4k[SZ_4K] __attribute__((aligned(SZ_4K)));
static uint8_t frame_2m[SZ_2M] __attribute__((aligned(SZ_2M)));

/* The eight kinds of access, one TAP line each. */
enum kind {
	K_SUP_READ,
	K_SUP_WRITE,
	K_SUP_FETCH,
	K_USER_READ,
	K_USER_WRITE,
	K_USER_FETCH,
	K_IMPLICIT_READ,
	K_IMPLICIT_WRITE,
	NKIND
};
static const char *const kind_names[NKIND] = {
	"supervisor read", "supervisor write", "supervisor fetch",
	"user read",       "user write",       "user fetch",
	"implicit read",   "implicit write",
};


struct counts {
	uint64_t compared, mismatches, unsupported;
};

static struct {
	uint64_t va;
	uint64_t cr3;
	unsigned levels;
	vmmu_pte_t *slot[VMMU_LEVEL_MAX + 1]; /* [1..levels] the live path */
	vmmu_pte_t table_init[VMMU_LEVEL_MAX + 1];
	struct acc_frames frames;
	struct vmmu_walker walker;
	uint64_t cpu_flags;                 /* CPU-state flags now loaded */
	unsigned stride, shard;
	uint64_t samples;                   /* random sample of this size, or 0 */
	uint64_t must;                      /* flags every combination run has */
	uint64_t rng;                       /* its generator's state */
	struct counts kind[NKIND];
	unsigned diag_printed, max_diag;
	bool trace;                         /* print every case before it runs */
	bool restore_on_mode_change;        /* forget_path() on a new CPU state */
} m;

static void must(int rc, const char *what)
{
	if (rc != 0) {
		kx_tap_bail("%s: %s (%d)", what, vmmu_strerror(rc), rc);
	}
}

static enum kind kind_of(uint64_t f)
{
	unsigned op = ACCF_HAS(f, F_ACC_FETCH)   ? 2u
		      : ACCF_HAS(f, F_ACC_WRITE) ? 1u
						 : 0u;

	if (ACCF_HAS(f, F_ACC_IMPLICIT)) {
		return op == 1 ? K_IMPLICIT_WRITE : K_IMPLICIT_READ;
	}
	return (enum kind)((ACCF_HAS(f, F_ACC_USER) ? 3u : 0u) + op);
}

/* --- what the CPU model supports ------------------------------------------ */

static bool supported(uint64_t f)
{
	if ((ACCF_HAS(f, F_CPU_PKE) && !kx_cpu.pku) ||
	    (ACCF_HAS(f, F_CPU_PKS) && !kx_cpu.pks) ||
	    (ACCF_HAS(f, F_CPU_SMEP) && !kx_cpu.smep) ||
	    (ACCF_HAS(f, F_CPU_SMAP) && !kx_cpu.smap) ||
	    (ACCF_HAS(f, F_CPU_NXE) && !kx_cpu.nx)) {
		return false;
	}
	/* Above MAXPHYADDR 36, bit 36 would address memory that is not there. */
	return kx_cpu.maxphyaddr <= 36 ||
	       (!ACCF_HAS(f, F_PTE_BIT36) && !ACCF_HAS(f, F_PDE_BIT36));
}

/*
 * Whether f is in this run's share: all of them by default, else those
 * whose hash falls in shard `shard` of `stride`. A hash, not the index,
 * so that a sample does not alias with the bit pattern of the flags (with
 * index % 4, say, every user page would have the same residue).
 */
static bool in_sample(uint64_t f)
{
	uint64_t z = f * 0x9e3779b97f4a7c15ull;

	z = (z ^ (z >> 29)) * 0xbf58476d1ce4e5b9ull;
	z ^= z >> 32;
	return m.stride == 1 || z % m.stride == m.shard;
}

/* The random sample's generator. */
static uint64_t rnd(void)
{
	return splitmix64_next(&m.rng);
}

/*
 * Make the next write_path() store every entry. KVM with shadow paging
 * (nested here) keeps a shadow entry it built while EFER.NXE was 1 after
 * NXE goes to 0 and an INVLPG, until the guest stores to the entry again:
 * without this, a leaf with XD set translates where the SDM (and vmmu)
 * report a reserved-bit fault. Off with "strict".
 */
static void forget_path(void)
{
	for (unsigned l = 1; l <= m.levels; l++) {
		*m.slot[l] = 0;
	}
}

/* --- CPU state ---------------------------------------------------------------- */

#define CPU_STATE_FLAGS                                                     \
	(ACCF(F_PKU_AD) | ACCF(F_PKU_WD) | ACCF(F_CPU_NXE) | ACCF(F_CPU_WP) | \
	 ACCF(F_CPU_SMEP) | ACCF(F_CPU_SMAP) | ACCF(F_CPU_PKE) |             \
	 ACCF(F_CPU_PKS))

static uint64_t with_bit(uint64_t v, uint64_t bit, bool on)
{
	return on ? v | bit : v & ~bit;
}

/*
 * Load the CPU state of f and give the walker the same. The key registers
 * are written while their CR4 bits are clear, and PKRU needs CR4.PKE to be
 * written at all; a register whose CR4 bit stays clear keeps what it had
 * (the CPU ignores it) and the walker gets all-deny for it (it must ignore
 * it too).
 */
static void load_cpu_state(uint64_t f)
{
	uint64_t want = f & CPU_STATE_FLAGS;
	uint32_t pkru, pkrs;

	if (want == m.cpu_flags) {
		return;
	}
	acc_key_registers(f, &pkru, &pkrs);
	uint64_t cr4 = kx_read_cr4() &
		       ~(KX_CR4_SMEP | KX_CR4_SMAP | KX_CR4_PKE | KX_CR4_PKS);
	kx_write_cr4(cr4);
	if (kx_cpu.pks) {
		kx_wrmsr(KX_MSR_PKRS, pkrs);
	}
	if (ACCF_HAS(f, F_CPU_PKE)) {
		cr4 |= KX_CR4_PKE;
		kx_write_cr4(cr4);
		kx_wrpkru(pkru);
	}
	cr4 = with_bit(cr4, KX_CR4_SMEP, ACCF_HAS(f, F_CPU_SMEP));
	cr4 = with_bit(cr4, KX_CR4_SMAP, ACCF_HAS(f, F_CPU_SMAP));
	cr4 = with_bit(cr4, KX_CR4_PKS, ACCF_HAS(f, F_CPU_PKS));
	kx_write_cr4(cr4);
	kx_write_cr0(with_bit(kx_read_cr0(), KX_CR0_WP, ACCF_HAS(f, F_CPU_WP)));
	kx_wrmsr(KX_MSR_EFER, with_bit(kx_rdmsr(KX_MSR_EFER), KX_EFER_NXE,
				       ACCF_HAS(f, F_CPU_NXE)));

	struct vmmu_cpu_state cpu = {
		.cr0 = kx_read_cr0(),
		.cr4 = kx_read_cr4(),
		.efer = kx_rdmsr(KX_MSR_EFER),
		.pkru = pkru,
		.pkrs = pkrs,
	};
	must(vmmu_walker_set_cpu(&m.walker, &cpu), "vmmu_walker_set_cpu");
	m.cpu_flags = want;
	if (m.restore_on_mode_change) {
		forget_path();
	}
}

/* Back to the state the runtime booted with (WP, NXE, nothing else). */
static void restore_boot_state(void)
{
	load_cpu_state(ACCF(F_CPU_WP) | (kx_cpu.nx ? ACCF(F_CPU_NXE) : 0));
}

/* --- the path ---------------------------------------------------------------- */

/*
 * Store an entry only when it changes: under KVM with shadow paging every
 * store to a page table traps.
 */
static void put(vmmu_pte_t *slot, vmmu_pte_t v)
{
	if (*slot != v) {
		*slot = v;
	}
}

static void entries_for(uint64_t f, vmmu_pte_t set[VMMU_LEVEL_MAX + 1])
{
	struct acc_entries e;

	acc_entries_for(f, &m.frames, &e);
	for (unsigned l = 4; l <= m.levels; l++) {
		set[l] = m.table_init[l];
	}
	set[3] = e.pdpte;
	set[2] = e.pde;
	set[1] = e.pte;
}

static void write_path(const vmmu_pte_t set[VMMU_LEVEL_MAX + 1])
{
	for (unsigned l = 1; l <= m.levels; l++) {
		put(m.slot[l], set[l]);
	}
}

static void read_path(vmmu_pte_t out[VMMU_LEVEL_MAX + 1])
{
	for (unsigned l = 1; l <= m.levels; l++) {
		out[l] = *m.slot[l];
	}
}

/* The descriptor word in both leaf frames; accessed when nothing writes. */
static void reset_descriptors(bool implicit_write)
{
	uint64_t d = DESC_DATA | (implicit_write ? 0 : DESC_ACCESSED);

	memcpy(frame_4k + (m.va & (SZ_4K - 1)), &d, sizeof(d));
	memcpy(frame_2m + (m.va & (SZ_2M - 1)), &d, sizeof(d));
}

/* --- the CPU and vmmu ------------------------------------------------------- */

struct outcome {
	int vector;     /* -1: no exception */
	uint32_t error;
	uint64_t cr2;
	vmmu_pte_t after[VMMU_LEVEL_MAX + 1];
};

static uint64_t ldt_selector(void)
{
	/* LDT at the page of va; TI = 1, RPL = 3 (the descriptor's DPL). */
	return (m.va & (SZ_4K - 8)) | 4u | 3u;
}

static void cpu_access(uint64_t f, struct outcome *o)
{
	bool ac = ACCF_HAS(f, F_CPU_AC);
	struct kx_trap t;
	enum kx_acc acc = ACCF_HAS(f, F_ACC_FETCH)   ? KX_FETCH
			  : ACCF_HAS(f, F_ACC_WRITE) ? KX_WRITE
						     : KX_READ;

	if (ACCF_HAS(f, F_ACC_IMPLICIT)) {
		o->vector = kx_try(kx_sup_load_es, ldt_selector(), ac, &t);
	} else {
		o->vector = kx_access(acc, ACCF_HAS(f, F_ACC_USER), m.va, ac, &t);
	}
	o->error = t.error;
	o->cr2 = t.cr2;
	read_path(o->after);
}

/*
 * vmmu's prediction, committing A/D. A segment load reads the descriptor
 * and only then writes its accessed bit: an implicit write is an implicit
 * read followed, if that succeeded, by the write (at the descriptor's
 * upper half, where the type byte is). drop: access flags to leave out.
 */
static void vmmu_access(uint64_t f, uint32_t drop, struct outcome *o,
			struct vmmu_walk *w)
{
	uint32_t acc = acc_vmmu_access(f) & ~drop;
	uint64_t va = m.va;
	int rc;

	if (ACCF_HAS(f, F_ACC_IMPLICIT) && ACCF_HAS(f, F_ACC_WRITE)) {
		rc = vmmu_walk(&m.walker, m.cr3, va, acc & ~VMMU_ACC_WRITE, w);
		if (rc == VMMU_WALK_OK) {
			va += 4;
			rc = vmmu_walk(&m.walker, m.cr3, va, acc, w);
		}
	} else {
		rc = vmmu_walk(&m.walker, m.cr3, va, acc, w);
	}
	o->vector = kx_walk_vector(rc);
	o->error = rc == VMMU_WALK_PF ? w->pfec : 0;
	o->cr2 = rc == VMMU_WALK_PF ? va : 0;
	read_path(o->after);
}

/* --- comparing ------------------------------------------------------------------ */

static bool same_error(uint64_t f, uint32_t cpu, uint32_t vmmu,
		       const struct vmmu_walk *w)
{
	if (cpu == vmmu) {
		return true;
	}
	if (kx_quirk_rsvd_no_p(cpu, vmmu)) {
		return true;
	}
	return ACCF_HAS(f, F_CPU_PKS) && (vmmu & VMMU_PFEC_U) != 0 &&
	       (vmmu & VMMU_PFEC_PK) != 0 && (w->perm & VMMU_PERM_U) == 0 &&
	       cpu == (vmmu & ~(uint32_t)VMMU_PFEC_PK) &&
	       kx_quirk(KX_Q_PKS_USER_NO_PK);
}

/* CR2: exact, except within the 8-byte descriptor of an implicit write. */
static bool same_cr2(uint64_t f, uint64_t cpu, uint64_t vmmu)
{
	if (ACCF_HAS(f, F_ACC_IMPLICIT) && ACCF_HAS(f, F_ACC_WRITE)) {
		return cpu >= m.va && cpu < m.va + 8 && vmmu >= m.va &&
		       vmmu < m.va + 8;
	}
	return cpu == vmmu;
}

/* The first level whose entry differs (0: none). */
static unsigned entry_mismatch(const struct outcome *cpu,
			       const struct outcome *vmmu, unsigned stop_level)
{
	for (unsigned l = m.levels; l >= 1; l--) {
		vmmu_pte_t mask = ~0ull;

		if (vmmu->vector >= 0 && l > stop_level) {
			mask &= ~kx_fmt.level[l].accessed;
		}
		if (((cpu->after[l] ^ vmmu->after[l]) & mask) != 0) {
			return l;
		}
	}
	return 0;
}

/* The outcome, with CR2 for a fault. */
static const char *outcome_str(const struct outcome *o, char *buf, size_t n)
{
	char what[48];

	if (o->vector < 0) {
		return "no fault";
	}
	kx_snprintf(buf, n, "%s cr2 %#lx",
		    kx_outcome_str(o->vector, o->error, what, sizeof(what)), o->cr2);
	return buf;
}
static void print_flags(uint64_t f)
{
	char line[320];
	size_t k = 0;

	line[0] = '\0';
	for (unsigned i = 0; i < F_COUNT && k < sizeof(line); i++) {
		if (ACCF_HAS(f, i)) {
			int w = kx_snprintf(line + k, sizeof(line) - k, " %s",
					    acc_flag_name[i]);
			k += w > 0 ? (size_t)w : 0;
		}
	}
	kx_tap_diag("MISMATCH %u-level case %#lx:%s", m.levels, f,
		    k == 0 ? " (none)" : line);
}

static void report(uint64_t f, const vmmu_pte_t set[], const struct outcome *cpu,
		   const struct outcome *vmmu, unsigned bad_level)
{
	char b1[64], b2[64];

	if (m.diag_printed++ >= m.max_diag) {
		return;
	}
	print_flags(f);
	kx_tap_diag("  cpu:  %s", outcome_str(cpu, b1, sizeof(b1)));
	kx_tap_diag("  vmmu: %s", outcome_str(vmmu, b2, sizeof(b2)));
	for (unsigned l = m.levels; l >= 1; l--) {
		kx_tap_diag("  %-4s set %016lx cpu %016lx vmmu %016lx%s",
			    vmmu_fmt_level_name(&kx_fmt, l), set[l],
			    cpu->after[l], vmmu->after[l],
			    l == bad_level ? "  <-" : "");
	}
}

/* Insertion sort by CPU state (the sample is small). */
static void sort_by_context(uint64_t *v, uint64_t n)
{
	for (uint64_t i = 1; i < n; i++) {
		uint64_t x = v[i], key = x & CPU_STATE_FLAGS, j = i;

		for (; j > 0 && (v[j - 1] & CPU_STATE_FLAGS) > key; j--) {
			v[j] = v[j - 1];
		}
		v[j] = x;
	}
}

/* --- one combination -------------------------------------------------------------- */

/* Whether the CPU did what vmmu predicted; *bad_level: first entry that differs. */
static bool agree(uint64_t f, const struct outcome *cpu,
		  const struct outcome *vmmu, const struct vmmu_walk *w,
		  unsigned *bad_level)
{
	bool ok = cpu->vector == vmmu->vector;

	if (ok && cpu->vector == 14) {
		ok = same_error(f, cpu->error, vmmu->error, w) &&
		     same_cr2(f, cpu->cr2, vmmu->cr2);
	}
	*bad_level = entry_mismatch(cpu, vmmu, w->level);
	return ok && *bad_level == 0;
}

/*
 * TCG treats an implicit access at CPL 0 with AC set like an explicit one
 * (KX_Q_IMPLICIT_SMAP_AC): predict that instead and see whether it explains what the
 * CPU did.
 */
static bool explained_by_implicit_quirk(uint64_t f, const vmmu_pte_t set[],
					const struct outcome *cpu)
{
	struct outcome alt;
	struct vmmu_walk w;
	unsigned bad_level;

	if (!kx_quirks_tolerated() || !ACCF_HAS(f, F_ACC_IMPLICIT) ||
	    !ACCF_HAS(f, F_CPU_SMAP) || !ACCF_HAS(f, F_CPU_AC)) {
		return false;
	}
	write_path(set);
	vmmu_access(f, VMMU_ACC_IMPLICIT, &alt, &w);
	if (!agree(f, cpu, &alt, &w, &bad_level)) {
		return false;
	}
	return kx_quirk(KX_Q_IMPLICIT_SMAP_AC);
}

static void run_case(void *arg, uint64_t f)
{
	struct counts *c = &m.kind[kind_of(f)];
	vmmu_pte_t set[VMMU_LEVEL_MAX + 1];
	struct outcome cpu, vmmu;
	struct vmmu_walk w;
	unsigned bad_level;

	(void)arg;
	if (!supported(f)) {
		c->unsupported++;
		return;
	}
	if (!in_sample(f) || (f & m.must) != m.must) {
		return;
	}
	if (m.trace) {
		kx_printf("# case %#lx\n", f);
	}
	load_cpu_state(f);
	entries_for(f, set);
	if (ACCF_HAS(f, F_ACC_IMPLICIT)) {
		reset_descriptors(ACCF_HAS(f, F_ACC_WRITE));
	}
	write_path(set);
	kx_invlpg(m.va);
	cpu_access(f, &cpu);

	write_path(set);
	vmmu_access(f, 0, &vmmu, &w);

	c->compared++;
	if (!agree(f, &cpu, &vmmu, &w, &bad_level) &&
	    !explained_by_implicit_quirk(f, set, &cpu)) {
		c->mismatches++;
		report(f, set, &cpu, &vmmu, bad_level);
	}
}

/*
 * Draw m.samples legal, supported combinations at random (contexts
 * sorted: the CPU state then changes as little as in the full run). For
 * a CPU that runs guest code slowly (nested KVM), where even enumerating
 * the space takes too long. Returns the number drawn.
 */
static uint64_t run_sample(void)
{
	static uint64_t drawn[4096];
	uint64_t n = m.samples < 4096 ? m.samples : 4096, i = 0;

	while (i < n) {
		uint64_t f = (rnd() & ((1ull << F_COUNT) - 1)) | m.must;

		if (acc_legal(f, kx_cpu.maxphyaddr) && supported(f)) {
			drawn[i++] = f;
		}
	}
	sort_by_context(drawn, n);
	for (i = 0; i < n; i++) {
		run_case(NULL, drawn[i]);
	}
	return n;
}

/* --- set-up ---------------------------------------------------------------------- */

/* Map the test address with the builder and find its path. */
static void setup_path(void)
{
	struct vmmu_prot prot = {.perm = VMMU_PERM_R | VMMU_PERM_W |
					 VMMU_PERM_U | VMMU_PERM_X};

	m.levels = kx_fmt.levels;
	m.va = m.levels == 5 ? VA5 : VA4;
	m.cr3 = kx_pt.root.v;
	must(vmmu_pt_map(&kx_pt, m.va & ~(SZ_4K - 1), (uint64_t)(uintptr_t)frame_4k,
			 SZ_4K, &prot, VMMU_PT_4K_ONLY),
	     "vmmu_pt_map");
	for (unsigned l = 1; l <= m.levels; l++) {
		must(vmmu_pt_entry(&kx_pt, m.va, l, &m.slot[l]), "vmmu_pt_entry");
		m.table_init[l] = *m.slot[l];
	}
	m.frames.pd = m.table_init[3] & ACC_X_ADDR;
	m.frames.pt = m.table_init[2] & ACC_X_ADDR;
	m.frames.frame_4k = (uint64_t)(uintptr_t)frame_4k;
	m.frames.frame_2m = (uint64_t)(uintptr_t)frame_2m;
	/* Present, reserved bit 51, and an address with no memory behind it. */
	m.frames.pte_poison = ACC_X_P | ACC_X_W | ACC_X_U | ACC_B(51) |
			      0x0000000123456000ull;
	reset_descriptors(false);
	kx_set_ldt(m.va & ~(SZ_4K - 1), (uint32_t)(SZ_4K - 1));
}

/* --- the encoder makes these entries ------------------------------------------ */

static struct vmmu_prot leaf_prot(bool w, bool u, bool a, bool d, bool nx)
{
	struct vmmu_prot p = {.perm = VMMU_PERM_R, .pkey = ACC_LEAF_KEY};

	p.perm |= (w ? VMMU_PERM_W : 0) | (u ? VMMU_PERM_U : 0) |
		  (nx ? 0 : VMMU_PERM_X);
	p.flags = (a ? VMMU_PROT_ACCESSED : 0) | (d ? VMMU_PROT_DIRTY : 0);
	return p;
}

/* Does vmmu_pte_make_leaf give `want` for these rights? */
static bool encoder_agrees(unsigned level, uint64_t pa,
			   const struct vmmu_prot *p, vmmu_pte_t want)
{
	vmmu_pte_t got = 0;
	int rc = vmmu_pte_make_leaf(&kx_fmt, level, pa, p, &got);

	if (rc != 0 || got != want) {
		kx_tap_diag("encoder: level %u perm %#x flags %#x: rc %d, %#lx, "
			    "matrix writes %#lx", level, p->perm, p->flags, rc,
			    got, want);
		return false;
	}
	return true;
}

/*
 * Every present leaf without a reserved bit that the matrix writes raw
 * (flags from access_space.h) must be exactly what vmmu's encoder makes
 * for the same rights, so the combinations test vmmu's own entries; the
 * PDPTE without PDPTE.RO must be vmmu_pte_make_table's. Once, at set-up.
 */
static void check_encoder(void)
{
	unsigned checked = 0, bad = 0;
	struct acc_entries e;

	for (uint64_t bits = 0; bits < (1u << ACC_PTE_BITS); bits++) {
		uint64_t f = bits << ACC_PTE_FIRST;
		if (!ACCF_HAS(f, F_PTE_P) || ACCF_HAS(f, F_PTE_BIT51) ||
		    ACCF_HAS(f, F_PTE_BIT36)) {
			continue;
		}
		struct vmmu_prot p = leaf_prot(
			ACCF_HAS(f, F_PTE_W), ACCF_HAS(f, F_PTE_U), ACCF_HAS(f, F_PTE_A),
			ACCF_HAS(f, F_PTE_D), ACCF_HAS(f, F_PTE_NX));
		acc_entries_for(f, &m.frames, &e);
		bad += encoder_agrees(1, m.frames.frame_4k, &p, e.pte) ? 0 : 1;
		checked++;
	}
	for (uint64_t bits = 0; bits < (1u << ACC_PDE_BITS); bits++) {
		uint64_t f = bits << ACC_PDE_FIRST;
		if (!ACCF_HAS(f, F_PDE_P) || !ACCF_HAS(f, F_PDE_PSE) ||
		    ACCF_HAS(f, F_PDE_BIT51) || ACCF_HAS(f, F_PDE_BIT36) ||
		    ACCF_HAS(f, F_PDE_BIT13) || ACCF_HAS(f, F_PDPTE_RO)) {
			continue;
		}
		struct vmmu_prot p = leaf_prot(
			ACCF_HAS(f, F_PDE_W), ACCF_HAS(f, F_PDE_U), ACCF_HAS(f, F_PDE_A),
			ACCF_HAS(f, F_PDE_D), ACCF_HAS(f, F_PDE_NX));
		acc_entries_for(f, &m.frames, &e);
		bad += encoder_agrees(2, m.frames.frame_2m, &p, e.pde) ? 0 : 1;
		checked++;
	}
	acc_entries_for(0, &m.frames, &e);
	bad += e.pdpte == vmmu_pte_make_table(&kx_fmt, 3, m.frames.pd) ? 0 : 1;
	checked++;
	kx_tap_ok(bad == 0,
		  "encoder: %u entries the matrix writes equal vmmu's "
		  "(vmmu_pte_make_leaf, vmmu_pte_make_table), %u differ",
		  checked, bad);
}

static void setup_walker(void)
{
	struct vmmu_cpu_state cpu = {
		.cr0 = kx_read_cr0(),
		.cr4 = kx_read_cr4(),
		.efer = kx_rdmsr(KX_MSR_EFER),
	};

	must(vmmu_walker_init(&m.walker, &kx_fmt, &kx_plat, &cpu),
	     "vmmu_walker_init");
	m.cpu_flags = ~0ull; /* nothing loaded yet */
}

static void setup_sampling(void)
{
	const char *shard = kx_cmdline_value("shard");

	m.stride = (unsigned)kx_cmdline_uint("stride", 1);
	m.shard = 0;
	if (shard != NULL) {
		m.shard = (unsigned)kx_parse_uint(&shard);
		m.stride = 0;
		if (*shard == '/') {
			shard++;
			m.stride = (unsigned)kx_parse_uint(&shard);
		}
	}
	m.samples = kx_cmdline_uint("sample", 0);
	m.must = kx_cmdline_uint("must", 0) & ((1ull << F_COUNT) - 1);
	m.rng = kx_cmdline_uint("seed", 0x61636365737321ull);
	m.max_diag = (unsigned)kx_cmdline_uint("diag", MAX_DIAG);
	m.trace = kx_cmdline_has("trace");
	if (m.stride == 0 || m.shard >= m.stride) {
		kx_tap_bail("bad stride=%u / shard=%u", m.stride, m.shard);
	}
}

static void print_cpu(void)
{
	kx_tap_diag("%u-level paging, address %#lx, MAXPHYADDR %u", m.levels,
		    m.va, kx_cpu.maxphyaddr);
	kx_tap_diag("CPU: %s; nx %d smep %d smap %d pku %d pks %d",
		    kx_under_tcg()   ? "TCG"
		    : kx_under_kvm() ? "KVM"
				     : "unknown",
		    kx_cpu.nx, kx_cpu.smep, kx_cpu.smap, kx_cpu.pku, kx_cpu.pks);
	kx_tap_diag("%s", kx_quirks_mode());
	if (m.must != 0) {
		kx_tap_diag("only the combinations with flags %#lx", m.must);
	}
	if (m.samples != 0) {
		kx_tap_diag("sample: %lu random legal combinations, seed %#lx",
			    m.samples, m.rng);
	} else if (m.stride != 1) {
		kx_tap_diag("sample: the combinations whose hash %% %u is %u",
			    m.stride, m.shard);
	}
}

void kx_main(void)
{
	struct counts total = {0, 0, 0};

	kx_tap_plan(NKIND + 2);
	m.restore_on_mode_change = !kx_cmdline_has("strict");
	setup_sampling();
	setup_path();
	setup_walker();
	print_cpu();
	check_encoder();

	uint64_t legal = m.samples != 0 ? run_sample()
				       : acc_for_each(kx_cpu.maxphyaddr, run_case, NULL);
	restore_boot_state();

	for (unsigned k = 0; k < NKIND; k++) {
		const struct counts *c = &m.kind[k];

		if (c->compared == 0 && (m.must != 0 || m.samples != 0)) {
			kx_tap_skip("%s: none in this selection", kind_names[k]);
			continue;
		}
		kx_tap_ok(c->mismatches == 0 && c->compared > 0,
			  "%s: %lu combinations compared, %lu mismatches "
			  "(%lu unsupported by this CPU)",
			  kind_names[k], c->compared, c->mismatches,
			  c->unsupported);
		total.compared += c->compared;
		total.mismatches += c->mismatches;
		total.unsupported += c->unsupported;
	}
	kx_quirks_report();
	if (m.samples != 0) {
		kx_tap_ok(total.mismatches == 0,
			  "total: %lu random legal combinations compared with the "
			  "CPU (%lu drawn unsupported), %lu mismatches",
			  total.compared, total.unsupported, total.mismatches);
		return;
	}
	kx_tap_ok(total.mismatches == 0,
		  "total: %lu of %lu legal combinations compared with the CPU "
		  "(%lu unsupported, %lu sampled out), %lu mismatches",
		  total.compared, legal, total.unsupported,
		  legal - total.unsupported - total.compared, total.mismatches);
}
