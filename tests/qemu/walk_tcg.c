/* SPDX-License-Identifier: MIT */
/*
 * walk_tcg: vmmu's software walker against the emulated CPU.
 *
 * vmmu's builder maps test windows into the live page tables (the tree
 * behind CR3, itself built by vmmu in kx_paging_init): a 4K, a 2M and a 1G
 * leaf, once in the kernel half and once in the user half, all aliasing one
 * data page. For every combination below the entries on the window's path
 * are set (vmmu_pt_protect for the leaf rights, raw edits through
 * vmmu_pt_entry for the rest), the CPU mode is set (CR0.WP, EFER.NXE,
 * CR4.SMEP/SMAP, EFLAGS.AC), and then:
 *
 *   1. vmmu_walk(VMMU_ACC_PEEK) predicts the outcome;
 *   2. the CPU performs the access (ring 0, or ring 3 through the user stub
 *      page) and we record fault or not, vector, error code, CR2, and the
 *      entries on the path afterwards (A/D as the CPU set them);
 *   3. the entries are put back and vmmu_walk runs again, committing, so
 *      it sets A/D in the same tables;
 *
 * and everything is compared: outcome, error code, CR2 and every entry on
 * the path bit for bit, except the accessed flag of non-leaf entries when
 * the access faulted (the CPU may set it on the way down; vmmu never
 * writes on a fault).
 *
 * Groups: permissions (leaf x parent U/W/NX x access x CPU mode),
 * reserved bits, ignored bits, not-present at each level, A/D presets.
 *
 * With "-append la57" the runtime runs everything on 5-level paging
 * (kx_la57) and the windows move to 57-bit canonical addresses; every
 * path then has one more level (the PML5E), compared like the others.
 */
#include "kx.h"

#define SZ_4K (1ull << 12)
#define SZ_2M (1ull << 21)
#define SZ_1G (1ull << 30)

/* 4-level paging: canonical over 48 bits. */
#define WIN_SUP 0xffff923400000000ull  /* PML4 slot 292 */
#define WIN_USER 0x00005a5a00000000ull /* PML4 slot 180 */
/*
 * 5-level paging (kx_la57): canonical over 57 bits only, so with 4-level
 * paging still in force they would #GP; PML5 slots other than 0 and 511.
 */
#define WIN_SUP_LA57 0xff92340000000000ull  /* PML5 slot 402, PML4 slot 104 */
#define WIN_USER_LA57 0x005a5a0000000000ull /* PML5 slot 90, PML4 slot 180 */
#define DATA_OFF 0x7c0u                /* byte accessed inside the data page */
#define MAX_DIAG 40u                   /* mismatches printed in full */

static uint8_t data_page[4096] __attribute__((aligned(4096)));

/* --- windows --------------------------------------------------------------- */

struct window {
	const char *name;
	uint64_t base;       /* VA of the leaf's region */
	unsigned leaf;       /* leaf level: 1 (4K), 2 (2M), 3 (1G) */
	uint64_t va;         /* the byte accessed */
	uint64_t pa;         /* where va must translate to */
	unsigned perm;       /* leaf rights now set (enum perm_bits) */
	vmmu_pte_t *slot[VMMU_LEVEL_MAX + 1];  /* [leaf..levels] live entries */
	vmmu_pte_t clean[VMMU_LEVEL_MAX + 1];  /* their values, A/D clear */
	bool ok;             /* mapped as intended */
};

static struct window windows[] = {
	{.name = "4K/kernel-half", .base = WIN_SUP, .leaf = 1},
	{.name = "2M/kernel-half", .base = WIN_SUP + SZ_1G, .leaf = 2},
	{.name = "1G/kernel-half", .base = WIN_SUP + 2 * SZ_1G, .leaf = 3},
	{.name = "4K/user-half", .base = WIN_USER, .leaf = 1},
	{.name = "2M/user-half", .base = WIN_USER + SZ_1G, .leaf = 2},
	{.name = "1G/user-half", .base = WIN_USER + 2 * SZ_1G, .leaf = 3},
};
#define NWIN (sizeof(windows) / sizeof(windows[0]))

/* Rights of a leaf or parent entry, as the test varies them. */
enum perm_bits {
	PB_W = 1u << 0,  /* R/W = 1 */
	PB_U = 1u << 1,  /* U/S = 1 */
	PB_NX = 1u << 2, /* XD = 1 */
};
#define PB_ALL (PB_W | PB_U) /* full rights: writable, user, executable */

/* --- CPU modes --------------------------------------------------------------- */

struct mode {
	const char *name;
	bool wp, nxe, smep, smap, ac;
};

static const struct mode modes[] = {
	{"WP,NXE", true, true, false, false, false},
	{"NXE", false, true, false, false, false},
	{"WP", true, false, false, false, false},
	{"WP,NXE,SMEP", true, true, true, false, false},
	{"WP,NXE,SMAP", true, true, false, true, false},
	{"WP,NXE,SMAP,AC", true, true, false, true, true},
	{"NXE,SMEP,SMAP", false, true, true, true, false},
	{"SMEP,SMAP,AC", false, false, true, true, true},
};
#define NMODE (sizeof(modes) / sizeof(modes[0]))
enum { M_DEFAULT = 0, M_NONX = 2, M_SMEP = 3, M_SMAP_AC = 5 };

static bool mode_supported(const struct mode *m)
{
	return (!m->nxe || kx_cpu.nx) && (!m->smep || kx_cpu.smep) &&
	       (!m->smap || kx_cpu.smap);
}

/* --- accesses ---------------------------------------------------------------- */

struct access {
	const char *name;
	enum kx_acc kind;
	bool user;
};

static const struct access accesses[] = {
	{"kernel-read", KX_READ, false},  {"kernel-write", KX_WRITE, false},
	{"kernel-fetch", KX_FETCH, false}, {"user-read", KX_READ, true},
	{"user-write", KX_WRITE, true},   {"user-fetch", KX_FETCH, true},
};
#define NACC (sizeof(accesses) / sizeof(accesses[0]))

/* --- one combination --------------------------------------------------------- */

enum modifier {
	MOD_NONE,
	MOD_RSVD, /* set bit `bit` at level `level` */
	MOD_IGN,  /* same, for a bit the CPU must ignore */
	MOD_NP,   /* clear P at `level` (and set `bit` too when non-zero) */
	MOD_AD,   /* preset A/D: ad bit0 leaf A, bit1 leaf D, bit2 parent A */
};

struct combo {
	const struct mode *mode;
	struct window *w;
	unsigned leaf_perm, parent_perm;
	const struct access *acc;
	enum modifier mod;
	unsigned level, bit, ad;
};

struct group {
	const char *name;
	unsigned compared;
	unsigned mismatches;
};

static struct vmmu_walker walker;
static const struct mode *cur_mode;
static unsigned diag_printed;
static unsigned builder_checks, builder_errors;
static unsigned walk_pairs, walk_pair_errors;
static uint64_t total_compared;

static void must(int rc, const char *what)
{
	if (rc != 0) {
		kx_tap_bail("%s: %s (%d)", what, vmmu_strerror(rc), rc);
	}
}

static void set_mode(const struct mode *m)
{
	if (cur_mode == m) {
		return;
	}
	uint64_t cr0 = kx_read_cr0();
	cr0 = m->wp ? cr0 | KX_CR0_WP : cr0 & ~KX_CR0_WP;
	kx_write_cr0(cr0);
	uint64_t efer = kx_rdmsr(KX_MSR_EFER);
	efer = m->nxe ? efer | KX_EFER_NXE : efer & ~KX_EFER_NXE;
	kx_wrmsr(KX_MSR_EFER, efer);
	uint64_t cr4 = kx_read_cr4();
	cr4 = m->smep ? cr4 | KX_CR4_SMEP : cr4 & ~KX_CR4_SMEP;
	cr4 = m->smap ? cr4 | KX_CR4_SMAP : cr4 & ~KX_CR4_SMAP;
	kx_write_cr4(cr4);

	/* The walker gets the registers as the CPU has them now. */
	struct vmmu_cpu_state cpu = {
		.cr0 = kx_read_cr0(),
		.cr4 = kx_read_cr4(),
		.efer = kx_rdmsr(KX_MSR_EFER),
	};
	must(vmmu_walker_set_cpu(&walker, &cpu), "vmmu_walker_set_cpu");
	cur_mode = m;
}

static uint64_t entry_size(unsigned level)
{
	return vmmu_fmt_entry_size(&kx_fmt, level);
}

/*
 * Find the live entries on w's path. The clean values of the table entries
 * are taken once, at setup (upper entries are shared between windows and
 * every combination puts them back); the leaf's after each protect.
 */
static void refresh_slots(struct window *w, bool tables_too)
{
	const struct vmmu_fmt_level *lv;

	for (unsigned l = w->leaf; l <= kx_fmt.levels; l++) {
		must(vmmu_pt_entry(&kx_pt, w->va, l, &w->slot[l]), "vmmu_pt_entry");
		lv = &kx_fmt.level[l];
		if (l == w->leaf || tables_too) {
			w->clean[l] = *w->slot[l] & ~(lv->accessed | lv->dirty);
		}
	}
}

/*
 * Store an entry only when it changes: under KVM with shadow paging every
 * store to a page table traps, and most entries do not change.
 */
static void put(vmmu_pte_t *slot, vmmu_pte_t v)
{
	if (*slot != v) {
		*slot = v;
	}
}

static void restore_clean(const struct window *w)
{
	for (unsigned l = w->leaf; l <= kx_fmt.levels; l++) {
		put(w->slot[l], w->clean[l]);
	}
}

static struct vmmu_prot prot_of(unsigned perm)
{
	struct vmmu_prot p = {.perm = VMMU_PERM_R};

	p.perm |= (perm & PB_W) ? VMMU_PERM_W : 0;
	p.perm |= (perm & PB_U) ? VMMU_PERM_U : 0;
	p.perm |= (perm & PB_NX) ? 0 : VMMU_PERM_X;
	return p;
}

/* Set the leaf's rights with the builder and check it reads them back. */
static void set_leaf_perm(struct window *w, unsigned perm)
{
	if (w->perm == perm) {
		return;
	}
	struct vmmu_prot p = prot_of(perm), got;
	uint64_t out = 0;
	unsigned level = 0;

	must(vmmu_pt_protect(&kx_pt, w->base, entry_size(w->leaf), &p),
	     "vmmu_pt_protect");
	refresh_slots(w, false);
	w->perm = perm;
	builder_checks++;
	int rc = vmmu_pt_lookup(&kx_pt, w->va, &out, &got, &level);
	uint32_t mask = VMMU_PERM_W | VMMU_PERM_U | VMMU_PERM_X;
	if (rc != 0 || out != w->pa || level != w->leaf ||
	    (got.perm & mask) != (p.perm & mask)) {
		builder_errors++;
		kx_tap_diag("builder: %s protect perm %#x: lookup rc %d out %#lx "
			    "level %u perm %#x",
			    w->name, p.perm, rc, out, level, got.perm);
	}
}

static vmmu_pte_t with_perm(unsigned level, vmmu_pte_t e, unsigned perm)
{
	const struct vmmu_fmt_level *lv = &kx_fmt.level[level];

	e &= ~(lv->write | lv->user | lv->nx);
	e |= (perm & PB_W) ? lv->write : 0;
	e |= (perm & PB_U) ? lv->user : 0;
	e |= (perm & PB_NX) ? lv->nx : 0;
	return e;
}

static const char *perm_str(unsigned perm)
{
	static const char *const s[8] = {
		"S/R/X", "S/W/X", "U/R/X", "U/W/X",
		"S/R/NX", "S/W/NX", "U/R/NX", "U/W/NX",
	};
	return s[perm & 7];
}

static void describe(const struct combo *c, char *buf, size_t n)
{
	int k = kx_snprintf(buf, n, "%s va %#lx leaf %s parent %s %s mode %s",
			    c->w->name, c->w->va, perm_str(c->leaf_perm),
			    perm_str(c->parent_perm), c->acc->name, c->mode->name);
	if (k < 0 || (size_t)k >= n) {
		return;
	}
	switch (c->mod) {
	case MOD_RSVD:
		kx_snprintf(buf + k, n - (size_t)k, " +rsvd bit %u @%s", c->bit,
			    vmmu_fmt_level_name(&kx_fmt, c->level));
		break;
	case MOD_IGN:
		kx_snprintf(buf + k, n - (size_t)k, " +ignored bit %u @%s", c->bit,
			    vmmu_fmt_level_name(&kx_fmt, c->level));
		break;
	case MOD_NP:
		kx_snprintf(buf + k, n - (size_t)k, " not-present @%s%s",
			    vmmu_fmt_level_name(&kx_fmt, c->level),
			    c->bit ? " (+bit 51)" : "");
		break;
	case MOD_AD:
		kx_snprintf(buf + k, n - (size_t)k, " preset%s%s%s",
			    (c->ad & 1) ? " leaf-A" : "", (c->ad & 2) ? " leaf-D" : "",
			    (c->ad & 4) ? " parent-A" : "");
		break;
	case MOD_NONE:
		break;
	}
}

/* Run one combination; returns true when CPU and vmmu agree. */
static bool run_combo(const struct combo *c)
{
	struct window *w = c->w;
	unsigned top = kx_fmt.levels;
	unsigned parent = w->leaf + 1;
	vmmu_pte_t set[VMMU_LEVEL_MAX + 1], cpu_after[VMMU_LEVEL_MAX + 1],
		vmmu_after[VMMU_LEVEL_MAX + 1];

	set_mode(c->mode);
	set_leaf_perm(w, c->leaf_perm);

	/* Entries on the path: clean, parent rights, then the modifier. */
	for (unsigned l = w->leaf; l <= top; l++) {
		set[l] = w->clean[l];
	}
	set[parent] = with_perm(parent, set[parent], c->parent_perm);
	switch (c->mod) {
	case MOD_RSVD:
	case MOD_IGN:
		set[c->level] |= 1ull << c->bit;
		break;
	case MOD_NP:
		set[c->level] &= ~kx_fmt.level[c->level].present;
		if (c->bit != 0) {
			set[c->level] |= 1ull << c->bit;
		}
		break;
	case MOD_AD:
		if (c->ad & 1) {
			set[w->leaf] |= kx_fmt.level[w->leaf].accessed;
		}
		if (c->ad & 2) {
			set[w->leaf] |= kx_fmt.level[w->leaf].dirty;
		}
		if (c->ad & 4) {
			set[parent] |= kx_fmt.level[parent].accessed;
		}
		break;
	case MOD_NONE:
		break;
	}
	for (unsigned l = w->leaf; l <= top; l++) {
		put(w->slot[l], set[l]);
	}
	kx_invlpg(w->va);

	/* 1. prediction */
	uint32_t acc = 0;
	acc |= c->acc->kind == KX_WRITE ? VMMU_ACC_WRITE : 0;
	acc |= c->acc->kind == KX_FETCH ? VMMU_ACC_FETCH : 0;
	acc |= c->acc->user ? VMMU_ACC_USER : 0;
	acc |= c->mode->ac ? VMMU_ACC_AC : 0;
	struct vmmu_walk pw;
	int pred = vmmu_walk(&walker, kx_pt.root.v, w->va, acc | VMMU_ACC_PEEK, &pw);

	/* 2. the CPU */
	struct kx_trap t;
	kx_access(c->acc->kind, c->acc->user, w->va, c->mode->ac, &t);
	for (unsigned l = w->leaf; l <= top; l++) {
		cpu_after[l] = *w->slot[l];
		put(w->slot[l], set[l]);
	}

	/* 3. committing walk on the same tables */
	struct vmmu_walk cw;
	int commit = vmmu_walk(&walker, kx_pt.root.v, w->va, acc, &cw);
	for (unsigned l = w->leaf; l <= top; l++) {
		vmmu_after[l] = *w->slot[l];
	}
	restore_clean(w);
	kx_invlpg(w->va);

	/* Compare. */
	walk_pairs++;
	bool pair_ok = commit == pred &&
		       (pred != VMMU_WALK_PF || cw.pfec == pw.pfec) &&
		       (pred != VMMU_WALK_OK || cw.addr == pw.addr);
	if (!pair_ok) {
		walk_pair_errors++;
	}

	int want_vec = kx_walk_vector(pred);
	bool ok = pair_ok && t.vector == want_vec;
	if (ok && pred == VMMU_WALK_PF) {
		ok = t.cr2 == w->va;
		if (t.error != pw.pfec) {
			ok = ok && kx_quirk_rsvd_no_p(t.error, pw.pfec);
		}
	}
	if (ok && pred == VMMU_WALK_OK) {
		ok = pw.addr == w->pa;
	}
	unsigned bad_level = 0;
	for (unsigned l = w->leaf; l <= top; l++) {
		vmmu_pte_t mask = ~0ull;
		if (pred != VMMU_WALK_OK && l != w->leaf) {
			mask &= ~kx_fmt.level[l].accessed;
		}
		vmmu_pte_t diff = (cpu_after[l] ^ vmmu_after[l]) & mask;
		vmmu_pte_t a = kx_fmt.level[l].accessed;
		if (diff == a && pred != VMMU_WALK_OK && l == w->leaf && l == 3 &&
		    (cpu_after[l] & a) && kx_quirk(KX_Q_1G_LEAF_A_ON_FAULT)) {
			diff = 0;
		}
		if (diff != 0) {
			ok = false;
			bad_level = bad_level ? bad_level : l;
		}
	}
	total_compared++;
	if (!ok && diag_printed++ < MAX_DIAG) {
		char what[192], b1[48], b2[48];
		describe(c, what, sizeof(what));
		kx_tap_diag("MISMATCH %s", what);
		kx_tap_diag("  cpu:  %s cr2 %#lx (at rip %#lx cs %#lx)",
			    kx_outcome_str(t.vector, t.error, b1, sizeof(b1)), t.cr2,
			    t.rip, t.cs);
		kx_tap_diag("  vmmu: %s (walk rc %d, committing walk rc %d pfec %#x)",
			    kx_outcome_str(want_vec, pw.pfec, b2, sizeof(b2)), pred,
			    commit, cw.pfec);
		for (unsigned l = top; l >= w->leaf; l--) {
			kx_tap_diag("  %-4s set %016lx cpu %016lx vmmu %016lx%s",
				    vmmu_fmt_level_name(&kx_fmt, l), set[l],
				    cpu_after[l], vmmu_after[l],
				    l == bad_level ? "  <-" : "");
		}
	}
	return ok;
}

static void count(struct group *g, bool ok)
{
	g->compared++;
	g->mismatches += ok ? 0 : 1;
}

static void report(const struct group *g)
{
	kx_tap_ok(g->mismatches == 0 && g->compared > 0,
		  "%s: %u combinations compared, %u mismatches", g->name,
		  g->compared, g->mismatches);
}

static bool window_usable(const struct window *w)
{
	return w->ok;
}

/* --- groups ---------------------------------------------------------------- */

static void group_perm(void)
{
	struct group g = {"permissions (leaf x parent U/W/NX x access x mode)", 0, 0};
	unsigned skipped = 0;

	for (unsigned m = 0; m < NMODE; m++) {
		if (!mode_supported(&modes[m])) {
			skipped++;
			continue;
		}
		for (unsigned wi = 0; wi < NWIN; wi++) {
			if (!window_usable(&windows[wi])) {
				continue;
			}
			for (unsigned lp = 0; lp < 8; lp++) {
				for (unsigned pp = 0; pp < 8; pp++) {
					for (unsigned a = 0; a < NACC; a++) {
						struct combo c = {
							.mode = &modes[m], .w = &windows[wi],
							.leaf_perm = lp, .parent_perm = pp,
							.acc = &accesses[a], .mod = MOD_NONE,
						};
						count(&g, run_combo(&c));
					}
				}
			}
		}
	}
	if (skipped != 0) {
		kx_tap_diag("%u CPU modes skipped (feature missing)", skipped);
	}
	report(&g);
}

/* Bits the architecture reserves in an entry at `level` (leaf or table). */
static unsigned rsvd_bits(unsigned level, bool leaf, unsigned out[8])
{
	unsigned n = 0, m = kx_cpu.maxphyaddr;

	if (m < 52) {
		out[n++] = m;
		if (m != 51) {
			out[n++] = 51;
		}
	}
	if (leaf && level == 2) {
		out[n++] = 13;
		out[n++] = 20;
	}
	if (leaf && level == 3) {
		out[n++] = 13;
		out[n++] = 29;
	}
	if (!leaf && level >= 4) {
		out[n++] = 7; /* PS in a PML4E (and a PML5E) */
	}
	return n;
}

/* The bits a path-level group tries in one entry; returns how many. */
typedef unsigned (*level_bits_fn)(const struct window *w, unsigned level,
				  unsigned bits[8]);

static unsigned reserved_bits_at(const struct window *w, unsigned level,
				 unsigned bits[8])
{
	return rsvd_bits(level, level == w->leaf, bits);
}

static unsigned ignored_bits_at(const struct window *w, unsigned level,
				unsigned bits[8])
{
	static const unsigned ign[] = {9, 10, 11, 52, 58, 62};

	(void)w;
	(void)level;
	memcpy(bits, ign, sizeof(ign));
	return sizeof(ign) / sizeof(ign[0]);
}

/* Not present: P cleared alone, or with bit 51 left set. */
static unsigned not_present_at(const struct window *w, unsigned level,
			       unsigned bits[8])
{
	(void)w;
	(void)level;
	bits[0] = 0;
	bits[1] = 51;
	return 2;
}

/*
 * One modification `mod` of each entry on every usable window's path, for
 * every bit bits_at() names there, every access, and the first mode_count
 * of the modes default, no-NX, SMEP.
 */
static void sweep_path_levels(const char *name, unsigned mode_count,
			      enum modifier mod, level_bits_fn bits_at)
{
	static const unsigned mode_ids[] = {M_DEFAULT, M_NONX, M_SMEP};
	struct group g = {name, 0, 0};

	for (unsigned mi = 0; mi < mode_count; mi++) {
		const struct mode *m = &modes[mode_ids[mi]];
		if (!mode_supported(m)) {
			continue;
		}
		for (unsigned wi = 0; wi < NWIN; wi++) {
			struct window *w = &windows[wi];
			if (!window_usable(w)) {
				continue;
			}
			for (unsigned l = w->leaf; l <= kx_fmt.levels; l++) {
				unsigned bits[8];
				unsigned nb = bits_at(w, l, bits);
				for (unsigned b = 0; b < nb; b++) {
					for (unsigned a = 0; a < NACC; a++) {
						struct combo c = {
							.mode = m, .w = w,
							.leaf_perm = PB_ALL, .parent_perm = PB_ALL,
							.acc = &accesses[a], .mod = mod,
							.level = l, .bit = bits[b],
						};
						count(&g, run_combo(&c));
					}
				}
			}
		}
	}
	report(&g);
}

static void group_bits(bool reserved)
{
	if (reserved) {
		sweep_path_levels("reserved bits at every level of the path", 3,
				  MOD_RSVD, reserved_bits_at);
	} else {
		sweep_path_levels("ignored bits at every level of the path", 1,
				  MOD_IGN, ignored_bits_at);
	}
}

static void group_not_present(void)
{
	sweep_path_levels("not-present at every level of the path", 3, MOD_NP,
			  not_present_at);
}

static void group_ad(void)
{
	struct group g = {"accessed/dirty presets (read-only and writable leaves)", 0, 0};
	static const unsigned leafp[] = {PB_ALL, PB_U};

	for (unsigned wi = 0; wi < NWIN; wi++) {
		struct window *w = &windows[wi];
		if (!window_usable(w)) {
			continue;
		}
		for (unsigned p = 0; p < 2; p++) {
			for (unsigned ad = 0; ad < 8; ad++) {
				for (unsigned a = 0; a < NACC; a++) {
					struct combo c = {
						.mode = &modes[M_DEFAULT], .w = w,
						.leaf_perm = leafp[p], .parent_perm = PB_ALL,
						.acc = &accesses[a], .mod = MOD_AD, .ad = ad,
					};
					count(&g, run_combo(&c));
				}
			}
		}
	}
	report(&g);
}

/* --- setup ----------------------------------------------------------------- */

static void setup_windows(void)
{
	uint64_t data_pa = (uint64_t)(uintptr_t)data_page;
	unsigned usable = 0;

	data_page[DATA_OFF] = 0xc3; /* ret: the target of fetch accesses */
	for (unsigned wi = 0; wi < NWIN; wi++) {
		struct window *w = &windows[wi];
		uint64_t size = entry_size(w->leaf);

		if (kx_la57) {
			/* Same offsets, 57-bit canonical bases. */
			w->base = w->base >= WIN_SUP ? w->base - WIN_SUP + WIN_SUP_LA57
						     : w->base - WIN_USER + WIN_USER_LA57;
		}
		unsigned flags = w->leaf == 1 ? VMMU_PT_4K_ONLY
				 : w->leaf == 2 ? VMMU_PT_NO_1G
						: 0;

		if (w->leaf == 3 && !kx_cpu.page1g) {
			kx_tap_diag("%s: no 1G pages on this CPU, skipped", w->name);
			continue;
		}
		w->va = w->base + (data_pa & (size - 1)) + DATA_OFF;
		w->pa = data_pa + DATA_OFF;
		w->perm = PB_ALL;
		struct vmmu_prot p = prot_of(PB_ALL);
		must(vmmu_pt_map(&kx_pt, w->base, data_pa & ~(size - 1), size, &p,
				 flags),
		     "vmmu_pt_map window");
		uint64_t out = 0;
		unsigned level = 0;
		int rc = vmmu_pt_lookup(&kx_pt, w->va, &out, NULL, &level);
		if (rc != 0 || out != w->pa || level != w->leaf) {
			kx_tap_diag("%s: lookup rc %d out %#lx level %u (want %#lx level %u)",
				    w->name, rc, out, level, w->pa, w->leaf);
			continue;
		}
		w->ok = true;
		usable++;
	}
	/* Clean values of every entry on every path, now that all exist. */
	for (unsigned wi = 0; wi < NWIN; wi++) {
		if (windows[wi].ok) {
			refresh_slots(&windows[wi], true);
		}
	}
	kx_tap_ok(usable == NWIN - (kx_cpu.page1g ? 0u : 2u),
		  "test windows mapped by vmmu_pt_map: %u (4K/2M/1G leaves, both halves)",
		  usable);
}

void kx_main(void)
{
	kx_tap_plan(8);

	struct vmmu_cpu_state cpu = {
		.cr0 = kx_read_cr0(),
		.cr4 = kx_read_cr4(),
		.efer = kx_rdmsr(KX_MSR_EFER),
	};
	must(vmmu_walker_init(&walker, &kx_fmt, &kx_plat, &cpu), "vmmu_walker_init");
	kx_tap_diag("%u-level paging (%s), windows at %#llx and %#llx",
		    kx_fmt.levels, kx_la57 ? "LA57" : "48-bit addresses",
		    kx_la57 ? WIN_SUP_LA57 : WIN_SUP,
		    kx_la57 ? WIN_USER_LA57 : WIN_USER);
	kx_tap_diag("%s: %s",
		    kx_under_tcg() ? "TCG" : kx_under_kvm() ? "KVM" : "unknown CPU",
		    kx_quirks_mode());
	setup_windows();

	group_perm();
	group_bits(true);
	group_bits(false);
	group_not_present();
	group_ad();

	/* Leave the default mode so the runtime's own code runs as booted. */
	set_mode(&modes[M_DEFAULT]);
	kx_tap_ok(builder_errors == 0,
		  "builder: vmmu_pt_protect then vmmu_pt_lookup agree (%u checks)",
		  builder_checks);
	kx_tap_ok(walk_pair_errors == 0,
		  "vmmu_walk: peek and committing walks agree (%u pairs)", walk_pairs);
	kx_quirks_report();
	kx_tap_diag("total: %lu combinations compared against the CPU, "
		    "%u TLB flush requests from vmmu, %u pool frames free",
		    total_compared, (unsigned)kx_tlb_flushes, kx_frames_free());
}
