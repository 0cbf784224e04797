/* SPDX-License-Identifier: MIT */
/*
 * mmu_random: seeded random page-table trees on the real (emulated) MMU.
 *
 * Each tree is built by vmmu's builder (vmmu_pt_map/protect/unmap) into the
 * live tables behind CR3, in a window of two top-level slots in the kernel
 * half and two in the user half: mixed 4K/2M/1G leaves, random rights
 * (R/W, U/S, NX), random attributes, backing frames drawn from a data pool
 * this kernel owns (so the same frame is often mapped at several VAs).
 * Raw edits through vmmu_pt_entry then add what the builder never makes:
 * table entries pointing at a sub-table already used elsewhere (shared
 * sub-tables, even across halves), extra leaves, upper entries with fewer
 * rights, not-present entries and reserved bits. They are undone before the
 * next builder call: the builder owns its tree and must never see (or free)
 * a table twice.
 *
 * Then thousands of random one-byte accesses (read, write, fetch; ring 0 or
 * ring 3; random CR0.WP, EFER.NXE, CR4.SMEP, CR4.SMAP, EFLAGS.AC), each one:
 *
 *   1. INVLPG the VA (INVLPG also empties the paging-structure caches, SDM
 *      Vol. 3A §4.10.4.1), so the CPU walks the tables as they are now;
 *   2. vmmu_walk(VMMU_ACC_PEEK) predicts: fault or not, vector, error code,
 *      translated address, hence the byte a read returns;
 *   3. the CPU does the access; we keep its outcome, the byte read and the
 *      entries on the path afterwards (A/D as the CPU set them);
 *   4. the entries are put back and a committing vmmu_walk sets A/D in the
 *      same tables; A/D then accumulate across accesses as on a CPU;
 *
 * and everything is compared, entries bit for bit except the accessed flag
 * of non-leaf entries when the access faults (SDM §4.8 lets the CPU set it
 * while walking down; vmmu writes nothing on a fault). The data pool has a
 * predicted image: reads must return its byte, writes (0xc3) update it, and
 * after each tree the whole pool must equal the image (no stray write).
 *
 * Every tree is torn down with vmmu_pt_unmap and the frame pool must be
 * back where it started. The command line takes "seed=N" (decimal or 0x
 * hex), "trees=N", "accesses=N" (per tree), "batch=N" (accesses per CPU
 * mode) and "strict"; the log prints the seed, and a mismatch prints seed,
 * tree and access number. Each tree's random stream depends only on the
 * seed and the tree number.
 *
 * Under KVM (nested, shadow paging, and slow here) the run is smaller, the
 * CPU mode changes every 50 accesses instead of every access, and every
 * path entry is stored again before its access (refresh_path: works around
 * a shadow-paging KVM keeping shadow entries across EFER.NXE changes);
 * "strict" turns the work-around off, as it turns off TCG's tolerances.
 */
#include "kx.h"
#include "splitmix.h"

#define SZ_4K (1ull << 12)
#define SZ_2M (1ull << 21)
#define SZ_1G (1ull << 30)

#define DEFAULT_SEED 0x6d6d7572616e64ull /* "mmurand" */
#define TREES_TCG 32u
#define ACCESSES_TCG 1500u     /* per tree */
#define TREES_KVM 6u
#define ACCESSES_KVM 900u     /* per tree: nested KVM is slow here */
#define ROUNDS 3u              /* builder changes + raw edits + accesses */
#define MAPS_FIRST_ROUND 40u
#define MAPS_LATER_ROUND 8u
#define MAX_TARGETS 256u
#define MAX_EDITS 64u
#define MAX_DIAG 20u           /* mismatches printed in full */

/* Top-level slots of the window: two per half, away from the runtime's. */
#define SLOT_KERNEL_4 300u /* PML4 slots 300, 301 */
#define SLOT_USER_4 100u   /* PML4 slots 100, 101 */
#define SLOT_KERNEL_5 400u /* PML5 slots 400, 401 */
#define SLOT_USER_5 100u   /* PML5 slots 100, 101 */
#define NSLOTS 4u

/*
 * Backing memory: two 2 MiB regions, so 2M leaves can map them and 4K
 * leaves any of their 1024 pages; a 1G leaf maps physical 0 (the whole
 * identity-mapped GiB) and is only accessed inside this pool.
 */
#define POOL_REGIONS 2u
#define POOL_SIZE (POOL_REGIONS * SZ_2M)
#define POOL_PAGES (POOL_SIZE / SZ_4K)
static uint8_t data_pool[POOL_SIZE] __attribute__((aligned(1u << 21)));
/*
 * The predicted image of the pool: the pattern, except the bytes written
 * (always 0xc3), one bit each; bit k of written[i] is byte k of word i.
 */
static uint8_t written[POOL_SIZE / 8];

/*
 * Every byte at an offset = 0x3f (mod 64) holds 0xc3 (ret), and writes only
 * ever store 0xc3, so a fetch from such an address returns to its caller
 * whichever pool page it lands in. Other bytes are a hash of their address
 * below 0x80 (never 0xc3), so a read through a wrong translation shows.
 * The pattern is made a 64-bit word at a time: under nested KVM the guest
 * runs few instructions per second, and the pool is 4 MiB.
 */
#define FETCH_OFF_MASK 0x3fu
#define RET 0xc3u

/* --- random numbers (splitmix64) -------------------------------------------- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	return splitmix64_next(&rng_state);
}

/* Uniform in [0, n), n > 0. */
static uint64_t below(uint64_t n)
{
	return rnd() % n;
}

/* True with probability pct/100. */
static bool chance(unsigned pct)
{
	return below(100) < pct;
}

/* --- run-wide state ------------------------------------------------------------- */

struct config {
	uint64_t seed;
	unsigned trees;
	unsigned accesses; /* per tree */
};
static struct config cfg;

static struct vmmu_walker walker; /* the CPU's mode, as set per access */
static struct vmmu_walker probe;  /* most permissive mode: where could it go */
static struct vmmu_cpu_state base_cpu;
static uint64_t pool_pa;
static uint64_t user_stack_pa; /* where the ring-3 read stub leaves its byte */

/*
 * Under KVM: how many accesses share one CPU mode (every change of CR0.WP,
 * CR4.SMEP/SMAP or EFER.NXE makes a shadow-paging KVM rebuild its shadow
 * tables), and whether to store every path entry again before an access
 * (see refresh_path).
 */
static unsigned mode_batch = 1;
static bool kvm_refresh;
static uint64_t refreshed_entries;
/* Scan the whole pool after every tree (else once, at the end: KVM). */
static bool scan_each_tree;
static unsigned diag_printed;
static uint64_t walk_pairs, walk_pair_errors;

static void must(int rc, const char *what)
{
	if (rc != 0) {
		kx_tap_bail("%s: %s (%d)", what, vmmu_strerror(rc), rc);
	}
}

/* --- addresses ------------------------------------------------------------------ */

static unsigned top_level(void)
{
	return kx_fmt.levels;
}

static uint64_t level_size(unsigned level)
{
	return vmmu_fmt_entry_size(&kx_fmt, level);
}

/* Sign-extend from the top linear-address bit (48 or 57). */
static uint64_t canonical(uint64_t va)
{
	unsigned sh = 64u - kx_fmt.va_bits;

	return (uint64_t)((int64_t)(va << sh) >> sh);
}

/* Top-level slot i (0..NSLOTS-1) of the window: two kernel, two user. */
static unsigned window_slot(unsigned i)
{
	unsigned kernel = kx_la57 ? SLOT_KERNEL_5 : SLOT_KERNEL_4;
	unsigned user = kx_la57 ? SLOT_USER_5 : SLOT_USER_4;

	return i < 2 ? kernel + i : user + i - 2;
}

static bool in_pool(uint64_t pa)
{
	return pa >= pool_pa && pa < pool_pa + POOL_SIZE;
}

/* --- the data pool ---------------------------------------------------------------- */

/* The pattern word at pool offset off (8-byte aligned). */
static uint64_t pattern_word(uint64_t off)
{
	uint64_t x = (off >> 3) * 0x9e3779b97f4a7c15ull;
	uint64_t w = (x ^ (x >> 29) ^ (x >> 47)) & 0x7f7f7f7f7f7f7f7full;

	if ((off & FETCH_OFF_MASK) == (FETCH_OFF_MASK & ~7u)) {
		w = (w & ~(0xffull << 56)) | ((uint64_t)RET << 56); /* byte 0x3f */
	}
	return w;
}

/* What the pool should hold at offset off, 8-byte aligned. */
static uint64_t image_word(uint64_t off)
{
	uint64_t w = pattern_word(off);
	unsigned mask = written[off >> 3];

	for (unsigned k = 0; mask != 0; k++, mask >>= 1) {
		if (mask & 1) {
			w = (w & ~(0xffull << (8 * k))) | ((uint64_t)RET << (8 * k));
		}
	}
	return w;
}

static uint8_t image_byte(uint64_t off)
{
	return (uint8_t)(image_word(off & ~7ull) >> (8 * (off & 7)));
}

static void fill_pool(void)
{
	uint64_t *w = (uint64_t *)(void *)data_pool;

	for (uint64_t off = 0; off < POOL_SIZE; off += 8) {
		w[off >> 3] = pattern_word(off);
	}
}

/*
 * Compare the whole pool with its image (catches stores the CPU made where
 * vmmu predicted none); returns how many words differ, and adopts them.
 */
static unsigned pool_differences(void)
{
	volatile uint64_t *w = (volatile uint64_t *)(void *)data_pool;
	unsigned bad = 0;

	for (uint64_t off = 0; off < POOL_SIZE; off += 8) {
		uint64_t want = image_word(off);
		uint64_t got = w[off >> 3];
		if (got == want) {
			continue;
		}
		if (bad++ < 4) {
			kx_tap_diag("  pool word at pa %#lx is %016lx, image %016lx",
				    pool_pa + off, got, want);
		}
		w[off >> 3] = want;
	}
	return bad;
}

/* --- CPU mode ----------------------------------------------------------------- */

struct mode {
	bool wp, nxe, smep, smap, ac;
};

static struct mode cur_mode;
static bool cur_mode_valid;

static struct mode random_mode(void)
{
	struct mode m = {
		.wp = chance(50),
		.nxe = kx_cpu.nx && chance(75),
		.smep = kx_cpu.smep && chance(50),
		.smap = kx_cpu.smap && chance(50),
		.ac = kx_cpu.smap && chance(50),
	};
	return m;
}

static void mode_name(const struct mode *m, char *buf, size_t n)
{
	kx_snprintf(buf, n, "%s%s%s%s%s", m->wp ? "WP," : "", m->nxe ? "NXE," : "",
		    m->smep ? "SMEP," : "", m->smap ? "SMAP," : "",
		    m->ac ? "AC," : "");
	size_t len = strlen(buf);
	if (len == 0) {
		kx_snprintf(buf, n, "none");
	} else {
		buf[len - 1] = '\0';
	}
}

static uint64_t with_bit(uint64_t v, uint64_t bit, bool on)
{
	return on ? v | bit : v & ~bit;
}

/* Load CR0.WP, EFER.NXE, CR4.SMEP/SMAP, and hand the registers to the walker. */
static void set_mode(const struct mode *m)
{
	if (cur_mode_valid && cur_mode.wp == m->wp && cur_mode.nxe == m->nxe &&
	    cur_mode.smep == m->smep && cur_mode.smap == m->smap) {
		cur_mode.ac = m->ac; /* EFLAGS.AC is per access (kx_access) */
		return;
	}
	kx_write_cr0(with_bit(kx_read_cr0(), KX_CR0_WP, m->wp));
	kx_wrmsr(KX_MSR_EFER, with_bit(kx_rdmsr(KX_MSR_EFER), KX_EFER_NXE, m->nxe));
	uint64_t cr4 = kx_read_cr4();
	cr4 = with_bit(cr4, KX_CR4_SMEP, m->smep);
	cr4 = with_bit(cr4, KX_CR4_SMAP, m->smap);
	kx_write_cr4(cr4);

	struct vmmu_cpu_state cpu = {
		.cr0 = kx_read_cr0(),
		.cr4 = kx_read_cr4(),
		.efer = kx_rdmsr(KX_MSR_EFER),
	};
	must(vmmu_walker_set_cpu(&walker, &cpu), "vmmu_walker_set_cpu");
	cur_mode = *m;
	cur_mode_valid = true;
}

/* The mode the runtime booted with (WP, NXE where supported, no SMEP/SMAP). */
static void set_boot_mode(void)
{
	struct mode m = {.wp = true, .nxe = kx_cpu.nx};
	set_mode(&m);
}

static void flush_tlb(void)
{
	/* The runtime leaves CR4.PGE clear, so this drops every translation. */
	kx_write_cr3(kx_read_cr3());
}

/* --- targets: ranges worth accessing ------------------------------------------ */

struct target {
	uint64_t va;     /* base of the mapped range */
	uint64_t lo, hi; /* offsets from va whose bytes lie in the data pool */
	uint8_t leaf;    /* leaf level it was mapped with */
	bool raw;        /* made by a raw edit: gone when the edits are undone */
};

/*
 * Per tree, each level below the top draws its indices from a small
 * palette, so mappings share tables; the top level uses the window slots.
 */
#define PALETTE_MAX 8u
struct tree {
	unsigned number;
	unsigned palette[VMMU_LEVEL_MAX + 1][PALETTE_MAX];
	unsigned palette_len[VMMU_LEVEL_MAX + 1];
	struct target targets[MAX_TARGETS];
	unsigned ntargets, nbuilder_targets;
	struct {
		vmmu_pte_t *slot;
		vmmu_pte_t old;
	} edits[MAX_EDITS];
	unsigned nedits;
	/* counts */
	unsigned maps, map_conflicts, protects, unmaps, builder_errors;
	unsigned shared, aliases, narrowed, not_present, reserved;
};

static unsigned palette_size(unsigned level)
{
	if (level == 1) {
		return 8;
	}
	if (level == 2) {
		return kx_la57 ? 3 : 4;
	}
	return level == 3 ? 3 : 2;
}

static void make_palette(struct tree *t)
{
	for (unsigned l = 1; l < top_level(); l++) {
		unsigned n = palette_size(l);
		t->palette_len[l] = n;
		for (unsigned i = 0; i < n; i++) {
			unsigned v;
			bool dup;
			do {
				v = (unsigned)below(VMMU_PT_ENTRIES);
				dup = false;
				for (unsigned k = 0; k < i; k++) {
					dup |= t->palette[l][k] == v;
				}
			} while (dup);
			t->palette[l][i] = v;
		}
	}
}

static unsigned palette_pick(const struct tree *t, unsigned level)
{
	return t->palette[level][below(t->palette_len[level])];
}

/* VA with palette indices from the top down to (excluding) level `leaf`. */
static uint64_t palette_prefix(const struct tree *t, unsigned leaf)
{
	uint64_t va = (uint64_t)window_slot((unsigned)below(NSLOTS))
		      << kx_fmt.level[top_level()].shift;

	for (unsigned l = top_level() - 1; l > leaf; l--) {
		va |= (uint64_t)palette_pick(t, l) << kx_fmt.level[l].shift;
	}
	return va;
}

static uint64_t set_index(uint64_t va, unsigned level, unsigned idx)
{
	unsigned sh = kx_fmt.level[level].shift;
	uint64_t mask = (uint64_t)(VMMU_PT_ENTRIES - 1) << sh;

	return canonical((va & ~mask) | ((uint64_t)idx << sh));
}

static void add_target(struct tree *t, uint64_t va, uint64_t lo, uint64_t hi,
		       unsigned leaf, bool raw)
{
	if (t->ntargets < MAX_TARGETS) {
		t->targets[t->ntargets++] = (struct target){
			.va = va, .lo = lo, .hi = hi, .leaf = (uint8_t)leaf, .raw = raw,
		};
	}
}

/* --- building with the builder ------------------------------------------------- */

static struct vmmu_prot random_prot(void)
{
	struct vmmu_prot p = {.perm = VMMU_PERM_R};

	p.perm |= chance(60) ? VMMU_PERM_W : 0;
	p.perm |= chance(60) ? VMMU_PERM_U : 0;
	p.perm |= (!kx_cpu.nx || chance(65)) ? VMMU_PERM_X : 0;
	if (chance(10)) {
		p.cache = (uint8_t)below(8); /* PAT index: memory type only */
	}
	if (chance(10)) {
		p.pkey = (uint8_t)below(16); /* ignored: CR4.PKE stays 0 */
	}
	if (chance(20)) {
		p.flags |= VMMU_PROT_ACCESSED;
		p.flags |= chance(50) ? VMMU_PROT_DIRTY : 0;
	}
	p.flags |= chance(10) ? VMMU_PROT_GLOBAL : 0; /* CR4.PGE is 0: no effect */
	return p;
}

/* One mapping: what, where, how big. */
struct mapping {
	unsigned leaf;
	uint64_t va, pa, size;
	uint64_t lo, hi;
};

static struct mapping random_mapping(const struct tree *t)
{
	struct mapping m;
	unsigned r = (unsigned)below(100);

	m.leaf = (kx_cpu.page1g && r < 12) ? 3 : r < 40 ? 2 : 1;
	m.va = palette_prefix(t, m.leaf);
	/* Leaf index: from the palette (shares and collides) or anywhere. */
	unsigned idx = chance(50) ? palette_pick(t, m.leaf)
			       : (unsigned)below(VMMU_PT_ENTRIES);
	unsigned count = 1;
	if (m.leaf == 1) {
		count = 1 + (unsigned)below(8);
		uint64_t first = below(POOL_PAGES - count + 1);
		m.pa = pool_pa + first * SZ_4K;
	} else if (m.leaf == 2) {
		count = chance(25) ? POOL_REGIONS : 1;
		m.pa = pool_pa + below(POOL_REGIONS - count + 1) * SZ_2M;
	} else {
		m.pa = 0; /* the only 1 GiB-aligned memory; accessed in the pool only */
	}
	if (idx + count > VMMU_PT_ENTRIES) {
		idx = VMMU_PT_ENTRIES - count; /* stay inside one table */
	}
	m.va = canonical(m.va | ((uint64_t)idx << kx_fmt.level[m.leaf].shift));
	m.size = count * level_size(m.leaf);
	m.lo = m.leaf == 3 ? pool_pa : 0;
	m.hi = m.leaf == 3 ? pool_pa + POOL_SIZE : m.size;
	return m;
}

static unsigned map_flags(unsigned leaf)
{
	unsigned f = leaf == 1 ? VMMU_PT_4K_ONLY : leaf == 2 ? VMMU_PT_NO_1G : 0;

	/* Sometimes overwrite: the builder then replaces leaves and frees tables. */
	return chance(15) ? f | VMMU_PT_REPLACE : f;
}

/* Check a fresh mapping reads back through vmmu_pt_lookup. */
static void check_lookup(struct tree *t, const struct mapping *m)
{
	uint64_t probe_va = m->va + m->lo;
	uint64_t out = 0;
	unsigned level = 0;
	int rc = vmmu_pt_lookup(&kx_pt, probe_va, &out, NULL, &level);

	if (rc != 0 || out != m->pa + m->lo || level != m->leaf) {
		t->builder_errors++;
		kx_tap_diag("builder: map %#lx -> %#lx size %#lx: lookup rc %d out "
			    "%#lx level %u (want level %u)",
			    m->va, m->pa, m->size, rc, out, level, m->leaf);
	}
}

static void map_some(struct tree *t, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct mapping m = random_mapping(t);
		struct vmmu_prot p = random_prot();
		int rc = vmmu_pt_map(&kx_pt, m.va, m.pa, m.size, &p, map_flags(m.leaf));
		if (rc == -VMMU_EEXIST) {
			t->map_conflicts++;
			continue;
		}
		if (rc == -VMMU_ENOMEM) {
			break; /* pool short: this tree is big enough */
		}
		must(rc, "vmmu_pt_map");
		t->maps++;
		check_lookup(t, &m);
		add_target(t, m.va, m.lo, m.hi, m.leaf, false);
	}
}

/* New rights for a whole target, or for one 4K page of it (splits). */
static void protect_some(struct tree *t, unsigned n)
{
	for (unsigned i = 0; i < n && t->nbuilder_targets > 0; i++) {
		const struct target *g = &t->targets[below(t->nbuilder_targets)];
		uint64_t va = g->va, size = level_size(g->leaf);
		if (chance(50)) {
			va = g->va + ((g->lo + below(g->hi - g->lo)) & ~(SZ_4K - 1));
			size = SZ_4K;
		}
		struct vmmu_prot p = random_prot();
		int rc = vmmu_pt_protect(&kx_pt, va, size, &p);
		if (rc == -VMMU_ENOENT || rc == -VMMU_ENOMEM) {
			continue; /* partly unmapped earlier, or pool short */
		}
		must(rc, "vmmu_pt_protect");
		t->protects++;
	}
}

/* Punch 4K or 2M holes into targets (splits large leaves). */
static void unmap_some(struct tree *t, unsigned n)
{
	for (unsigned i = 0; i < n && t->nbuilder_targets > 0; i++) {
		const struct target *g = &t->targets[below(t->nbuilder_targets)];
		uint64_t size = (g->leaf >= 2 && chance(50)) ? SZ_2M : SZ_4K;
		uint64_t va = g->va + ((g->lo + below(g->hi - g->lo)) & ~(size - 1));
		int rc = vmmu_pt_unmap(&kx_pt, va, size);
		if (rc == -VMMU_ENOMEM) {
			continue;
		}
		must(rc, "vmmu_pt_unmap");
		t->unmaps++;
	}
}

/* --- raw edits --------------------------------------------------------------------- */

static void raw_set(struct tree *t, vmmu_pte_t *slot, vmmu_pte_t v)
{
	if (t->nedits == MAX_EDITS) {
		return;
	}
	t->edits[t->nedits].slot = slot;
	t->edits[t->nedits].old = *slot;
	t->nedits++;
	*slot = v;
}

/* Put every raw edit back, newest first, and forget the targets they made. */
static void undo_raw_edits(struct tree *t)
{
	while (t->nedits > 0) {
		t->nedits--;
		*t->edits[t->nedits].slot = t->edits[t->nedits].old;
	}
	t->ntargets = t->nbuilder_targets;
	flush_tlb();
}

static const struct target *random_builder_target(const struct tree *t)
{
	return t->nbuilder_targets ? &t->targets[below(t->nbuilder_targets)] : NULL;
}

/* The live entry at `level` on va's path, or NULL (no table there). */
static vmmu_pte_t *entry_at(uint64_t va, unsigned level)
{
	vmmu_pte_t *slot;

	return vmmu_pt_entry(&kx_pt, va, level, &slot) == 0 ? slot : NULL;
}

/* A random not-present slot in the same table as `slot` (index now idx). */
static int free_index_near(vmmu_pte_t *slot, unsigned level, unsigned idx)
{
	vmmu_pte_t *table = slot - idx;

	for (unsigned tries = 0; tries < 8; tries++) {
		unsigned j = (unsigned)below(VMMU_PT_ENTRIES);
		if (!vmmu_pte_present(&kx_fmt, level, table[j])) {
			return (int)j;
		}
	}
	return -1;
}

/* Fewer rights in a table entry: clear R/W or U/S, or set XD. */
static vmmu_pte_t narrow_rights(unsigned level, vmmu_pte_t e)
{
	const struct vmmu_fmt_level *lv = &kx_fmt.level[level];

	e = chance(30) ? e & ~lv->write : e;
	e = chance(30) ? e & ~lv->user : e;
	e = (kx_cpu.nx && chance(30)) ? e | lv->nx : e;
	return e;
}

/*
 * Shared sub-table: a free entry at `level` in the table on y's path is
 * pointed at the sub-table x's path uses below that level, so x's mappings
 * appear a second time at y's prefix (maybe in the other half, maybe with
 * fewer rights on the way).
 */
static void edit_shared_subtable(struct tree *t)
{
	const struct target *x = random_builder_target(t);
	const struct target *y = random_builder_target(t);
	if (x == NULL) {
		return;
	}
	unsigned lo = (x->leaf > y->leaf ? x->leaf : y->leaf) + 1;
	if (lo > top_level()) {
		return;
	}
	unsigned level = lo + (unsigned)below(top_level() - lo + 1);
	vmmu_pte_t *xs = entry_at(x->va, level), *ys = entry_at(y->va, level);
	if (xs == NULL || ys == NULL || !vmmu_pte_present(&kx_fmt, level, *xs) ||
	    vmmu_pte_is_leaf(&kx_fmt, level, *xs)) {
		return;
	}
	unsigned yidx = vmmu_fmt_index(&kx_fmt, level, y->va);
	int j = free_index_near(ys, level, yidx);
	if (j < 0) {
		return;
	}
	vmmu_pte_t e = *xs & ~kx_fmt.level[level].accessed;
	raw_set(t, ys - yidx + j, chance(50) ? narrow_rights(level, e) : e);
	/* x's range, seen through y's prefix at this level and above. */
	uint64_t va = x->va;
	for (unsigned l = top_level(); l > level; l--) {
		va = set_index(va, l, vmmu_fmt_index(&kx_fmt, l, y->va));
	}
	va = set_index(va, level, (unsigned)j);
	add_target(t, va, x->lo, x->hi, x->leaf, true);
	t->shared++;
}

/* An extra leaf, written raw into a free slot of a 4K or 2M table. */
static void edit_alias_leaf(struct tree *t)
{
	const struct target *y = random_builder_target(t);
	if (y == NULL || y->leaf > 2) {
		return;
	}
	unsigned level = y->leaf == 1 && chance(50) ? 1 : 2;
	vmmu_pte_t *ys = entry_at(y->va, level);
	if (ys == NULL) {
		return; /* a large leaf above (y was split or replaced) */
	}
	unsigned yidx = vmmu_fmt_index(&kx_fmt, level, y->va);
	int j = free_index_near(ys, level, yidx);
	if (j < 0) {
		return;
	}
	uint64_t pa = level == 1 ? pool_pa + below(POOL_PAGES) * SZ_4K
				 : pool_pa + below(POOL_REGIONS) * SZ_2M;
	struct vmmu_prot p = random_prot();
	vmmu_pte_t e;
	must(vmmu_pte_make_leaf(&kx_fmt, level, pa, &p, &e), "vmmu_pte_make_leaf");
	raw_set(t, ys - yidx + j, e);
	add_target(t, set_index(y->va & ~(level_size(level) - 1), level, (unsigned)j),
		   0, level_size(level), level, true);
	t->aliases++;
}

/* A random entry on a target's path (level in [target leaf, top]). */
static vmmu_pte_t *random_path_entry(const struct tree *t, unsigned min_above,
				     unsigned *level)
{
	const struct target *g = random_builder_target(t);
	if (g == NULL || g->leaf + min_above > top_level()) {
		return NULL;
	}
	unsigned from = g->leaf + min_above;
	*level = from + (unsigned)below(top_level() - from + 1);
	vmmu_pte_t *s = entry_at(g->va, *level);
	return (s != NULL && vmmu_pte_present(&kx_fmt, *level, *s)) ? s : NULL;
}

static void edit_narrow_table_entry(struct tree *t)
{
	unsigned level;
	vmmu_pte_t *s = random_path_entry(t, 1, &level);

	if (s != NULL && !vmmu_pte_is_leaf(&kx_fmt, level, *s)) {
		raw_set(t, s, narrow_rights(level, *s));
		t->narrowed++;
	}
}

/* Clear P; the other bits are then ignored, so sometimes fill them with junk. */
static void edit_not_present(struct tree *t)
{
	unsigned level;
	vmmu_pte_t *s = random_path_entry(t, 0, &level);

	if (s != NULL) {
		vmmu_pte_t e = *s & ~kx_fmt.level[level].present;
		raw_set(t, s, chance(50) ? e | (rnd() & ~kx_fmt.level[level].present) : e);
		t->not_present++;
	}
}

/* A bit the SDM reserves in this entry (Vol. 3A §4.5, Tables 4-14..4-20). */
static unsigned reserved_bit(unsigned level, bool leaf)
{
	unsigned m = kx_cpu.maxphyaddr;

	if (leaf && level >= 2 && chance(50)) {
		/* Bits 20:13 (2M) or 29:13 (1G) of a large leaf. */
		return 13 + (unsigned)below(kx_fmt.level[level].shift - 13);
	}
	if (!leaf && level >= 4 && chance(30)) {
		return 7; /* PS in a PML4E or PML5E */
	}
	if (m < 52) {
		return m + (unsigned)below(52 - m);
	}
	return leaf && level >= 2 ? 13 : (level >= 4 ? 7 : 0);
}

static void edit_reserved(struct tree *t)
{
	unsigned level;
	vmmu_pte_t *s = random_path_entry(t, 0, &level);

	if (s == NULL) {
		return;
	}
	bool leaf = vmmu_pte_is_leaf(&kx_fmt, level, *s);
	unsigned bit = reserved_bit(level, leaf);
	if (bit != 0) {
		raw_set(t, s, *s | (1ull << bit));
		t->reserved++;
	}
}

static void raw_edits(struct tree *t)
{
	t->nbuilder_targets = t->ntargets;
	for (unsigned i = 0; i < 4; i++) {
		edit_shared_subtable(t);
	}
	for (unsigned i = 0; i < 3; i++) {
		edit_alias_leaf(t);
	}
	for (unsigned i = 0; i < 3; i++) {
		edit_narrow_table_entry(t);
	}
	if (chance(70)) {
		edit_not_present(t);
	}
	if (chance(50)) {
		edit_reserved(t);
	}
	flush_tlb();
}

/* --- one access ---------------------------------------------------------------------- */

/* Ring-3 read that leaves the byte read at the start of the user stack page. */
#define MR_STR2(x) #x
#define MR_STR(x) MR_STR2(x)
__asm__(".pushsection .user_text, \"ax\"\n"
	".globl mmu_random_user_read\n"
	"mmu_random_user_read:\n"
	"\tmovb (%rsi), %al\n"
	"\tmovabsq $" MR_STR(KX_USER_STACK_VA) ", %rdi\n"
	"\tmovb %al, (%rdi)\n"
	"\tmovabsq $" MR_STR(KX_USER_EXIT_VA) ", %rax\n"
	"\tjmpq *%rax\n"
	".popsection\n");
extern char mmu_random_user_read[];

static volatile uint8_t kernel_read_value;

static void kernel_read(uint64_t va)
{
	kernel_read_value = *(volatile const uint8_t *)(uintptr_t)va;
}

/* The entries a walk of va could touch, top down. */
struct path {
	unsigned bottom; /* lowest level reached */
	bool leaf;       /* the bottom entry is a present leaf */
	vmmu_pte_t *slot[VMMU_LEVEL_MAX + 1];
	vmmu_pte_t set[VMMU_LEVEL_MAX + 1], cpu[VMMU_LEVEL_MAX + 1],
		vmmu[VMMU_LEVEL_MAX + 1];
};

/*
 * Follow present table entries from the root, ignoring rights and reserved
 * bits, so the path holds every entry the CPU might write.
 */
static void find_path(uint64_t va, struct path *p)
{
	uint64_t table = kx_pt.root.v;

	p->leaf = false;
	for (unsigned l = top_level(); l >= 1; l--) {
		vmmu_pte_t *slot = (vmmu_pte_t *)(uintptr_t)table +
				   vmmu_fmt_index(&kx_fmt, l, va);
		vmmu_pte_t e = *slot;
		p->slot[l] = slot;
		p->set[l] = e;
		p->bottom = l;
		if (!vmmu_pte_present(&kx_fmt, l, e)) {
			return;
		}
		if (kx_fmt.level[l].leaf_ok && vmmu_pte_is_leaf(&kx_fmt, l, e)) {
			p->leaf = true;
			return;
		}
		table = e & kx_fmt.level[l].addr_table;
		if (table >= KX_IDMAP_SIZE) {
			return; /* a reserved address bit: not memory we can follow */
		}
	}
}

/* Store an entry only when it changes: under KVM every PT store exits. */
static void put(vmmu_pte_t *slot, vmmu_pte_t v)
{
	if (*slot != v) {
		*slot = v;
	}
}

/*
 * Store every entry on the path again, same value. A shadow-paging KVM
 * write-protects guest tables and, on a store, re-derives its shadow
 * entries from the guest entry under the CPU mode of that moment. It does
 * not redo that when EFER.NXE changes later, and its INVLPG keeps synced
 * shadow entries, so an entry with XD written while NXE=1 stays usable
 * after NXE=0 although bit 63 is then reserved (SDM Vol. 3A §4.5, Table
 * 4-20) and the access must #PF with RSVD. The store makes KVM look again.
 */
static void refresh_path(const struct path *p)
{
	for (unsigned l = top_level(); l >= p->bottom; l--) {
		*(volatile vmmu_pte_t *)p->slot[l] = p->set[l];
		refreshed_entries++;
	}
}

struct trial {
	unsigned tree, number;
	uint64_t va;
	enum kx_acc kind;
	bool user;
	struct mode mode;
	uint32_t acc;
	int pred, commit;
	struct vmmu_walk pw, cw;
	struct kx_trap t;
	uint8_t value, want_value;
	struct path path;
	unsigned bad_level;
	const char *why;
};

static uint32_t access_flags(const struct trial *r)
{
	uint32_t acc = 0;

	acc |= r->kind == KX_WRITE ? VMMU_ACC_WRITE : 0;
	acc |= r->kind == KX_FETCH ? VMMU_ACC_FETCH : 0;
	acc |= r->user ? VMMU_ACC_USER : 0;
	acc |= r->mode.ac ? VMMU_ACC_AC : 0;
	return acc;
}

/* The CPU does the access; for reads, keeps the byte it read. */
static void cpu_access(struct trial *r)
{
	if (r->kind != KX_READ) {
		kx_access(r->kind, r->user, r->va, r->mode.ac, &r->t);
		return;
	}
	if (r->user) {
		kx_user(kx_user_va(mmu_random_user_read),
			KX_USER_STACK_VA + KX_PAGE - 64, r->va,
			r->mode.ac ? KX_RFLAGS_AC : 0, &r->t);
		r->value = *(volatile const uint8_t *)(uintptr_t)user_stack_pa;
	} else {
		kx_try(kernel_read, r->va, r->mode.ac, &r->t);
		r->value = kernel_read_value;
	}
}

/* Predict, let the CPU do it, then commit vmmu's walk on the same entries. */
static void run_trial(struct trial *r)
{
	struct path *p = &r->path;

	set_mode(&r->mode);
	r->acc = access_flags(r);
	kx_invlpg(r->va);
	find_path(r->va, p);
	if (kvm_refresh) {
		refresh_path(p);
	}

	r->pred = vmmu_walk(&walker, kx_pt.root.v, r->va, r->acc | VMMU_ACC_PEEK,
			    &r->pw);
	if (r->pred == VMMU_WALK_OK && in_pool(r->pw.addr)) {
		r->want_value = image_byte(r->pw.addr - pool_pa);
	}
	cpu_access(r);
	for (unsigned l = top_level(); l >= p->bottom; l--) {
		p->cpu[l] = *p->slot[l];
		put(p->slot[l], p->set[l]);
	}
	r->commit = vmmu_walk(&walker, kx_pt.root.v, r->va, r->acc, &r->cw);
	for (unsigned l = top_level(); l >= p->bottom; l--) {
		p->vmmu[l] = *p->slot[l];
	}
	kx_invlpg(r->va);
}

static bool error_codes_agree(const struct trial *r)
{
	if (r->t.error == r->pw.pfec) {
		return true;
	}
	return kx_quirk_rsvd_no_p(r->t.error, r->pw.pfec);
}

/* Outcome, error code, CR2, byte read or written. Sets r->why on a mismatch. */
static void compare_outcome(struct trial *r)
{
	walk_pairs++;
	if (r->commit != r->pred ||
	    (r->pred == VMMU_WALK_PF && r->cw.pfec != r->pw.pfec) ||
	    (r->pred == VMMU_WALK_OK && r->cw.addr != r->pw.addr)) {
		walk_pair_errors++;
		r->why = "peek and committing walks differ";
	} else if (r->t.vector != kx_walk_vector(r->pred)) {
		r->why = "outcome";
	} else if (r->pred == VMMU_WALK_PF && r->t.cr2 != r->va) {
		r->why = "CR2";
	} else if (r->pred == VMMU_WALK_PF && !error_codes_agree(r)) {
		r->why = "error code";
	} else if (r->pred == VMMU_WALK_GP && r->t.error != 0) {
		r->why = "#GP error code";
	} else if (r->pred == VMMU_WALK_OK && !in_pool(r->pw.addr)) {
		r->why = "translated outside the data pool";
	} else if (r->pred == VMMU_WALK_OK && r->kind == KX_READ &&
		   r->value != r->want_value) {
		r->why = "value read";
	} else if (r->pred == VMMU_WALK_OK && r->kind == KX_WRITE) {
		uint64_t off = r->pw.addr - pool_pa;
		written[off >> 3] |= (uint8_t)(1u << (off & 7));
		if (data_pool[off] != RET) {
			r->why = "byte written";
		}
	}
}

/* Every entry on the path, bit for bit (upper A is free on a fault). */
static void compare_entries(struct trial *r)
{
	const struct path *p = &r->path;

	for (unsigned l = top_level(); l >= p->bottom; l--) {
		vmmu_pte_t a = kx_fmt.level[l].accessed;
		bool is_leaf = p->leaf && l == p->bottom;
		vmmu_pte_t diff = p->cpu[l] ^ p->vmmu[l];
		if (r->pred != VMMU_WALK_OK && !is_leaf) {
			diff &= ~a;
		}
		if (diff == a && r->pred != VMMU_WALK_OK && is_leaf && l == 3 &&
		    (p->cpu[l] & a) && kx_quirk(KX_Q_1G_LEAF_A_ON_FAULT)) {
			diff = 0;
		}
		if (diff != 0 && r->bad_level == 0) {
			r->bad_level = l;
			r->why = r->why ? r->why : "entries after the access";
		}
	}
}

static const char *kind_name(const struct trial *r)
{
	static const char *const names[2][3] = {
		{"kernel-read", "kernel-write", "kernel-fetch"},
		{"user-read", "user-write", "user-fetch"},
	};
	return names[r->user][r->kind];
}

static void print_mismatch(const struct trial *r)
{
	char mode[40], b1[48], b2[48];
	const struct path *p = &r->path;

	mode_name(&r->mode, mode, sizeof(mode));
	kx_tap_diag("MISMATCH (%s) seed %#lx tree %u access %u: %s va %#lx mode %s",
		    r->why, cfg.seed, r->tree, r->number, kind_name(r), r->va, mode);
	char got[24] = "", want[24] = "";
	if (r->kind == KX_READ && r->t.vector < 0) {
		kx_snprintf(got, sizeof(got), " read %#x", (unsigned)r->value);
	}
	if (r->kind == KX_READ && r->pred == VMMU_WALK_OK) {
		kx_snprintf(want, sizeof(want), " image %#x", (unsigned)r->want_value);
	}
	kx_tap_diag("  cpu:  %s cr2 %#lx (at rip %#lx cs %#lx)%s",
		    kx_outcome_str(r->t.vector, r->t.error, b1, sizeof(b1)), r->t.cr2,
		    r->t.rip, r->t.cs, got);
	kx_tap_diag("  vmmu: %s pa %#lx (peek rc %d, committing rc %d pfec %#x)%s",
		    kx_outcome_str(kx_walk_vector(r->pred), r->pw.pfec, b2, sizeof(b2)),
		    r->pred == VMMU_WALK_OK ? r->pw.addr : 0, r->pred, r->commit,
		    r->cw.pfec, want);
	for (unsigned l = top_level(); l >= p->bottom; l--) {
		kx_tap_diag("  %-4s set %016lx cpu %016lx vmmu %016lx%s",
			    vmmu_fmt_level_name(&kx_fmt, l), p->set[l], p->cpu[l],
			    p->vmmu[l], l == r->bad_level ? "  <-" : "");
	}
}

/* --- choosing accesses ------------------------------------------------------------- */

/* Anywhere in the window: palette indices mostly, so mostly near mappings. */
static uint64_t random_window_va(const struct tree *t)
{
	uint64_t va = (uint64_t)window_slot((unsigned)below(NSLOTS))
		      << kx_fmt.level[top_level()].shift;

	for (unsigned l = top_level() - 1; l >= 1; l--) {
		unsigned idx = chance(75) ? palette_pick(t, l)
					  : (unsigned)below(VMMU_PT_ENTRIES);
		va |= (uint64_t)idx << kx_fmt.level[l].shift;
	}
	return canonical(va | below(SZ_4K));
}

/* Flip one bit between the top address bit and bit 62: never canonical. */
static uint64_t non_canonical(uint64_t va)
{
	unsigned vb = kx_fmt.va_bits;

	return va ^ (1ull << (vb + below(63 - vb)));
}

static uint64_t candidate_va(const struct tree *t)
{
	unsigned r = (unsigned)below(100);

	if (r < 80 && t->ntargets > 0) {
		const struct target *g = &t->targets[below(t->ntargets)];
		return g->va + g->lo + below(g->hi - g->lo);
	}
	return random_window_va(t);
}

/*
 * True when no translation of va can reach memory outside the data pool:
 * the most permissive walk (supervisor read, WP/SMEP/SMAP off, NXE on so
 * XD is not reserved) either faults or lands in the pool. A 1G leaf maps
 * the kernel's own memory too; writing 0xc3 there would break the run.
 */
static bool safe_va(uint64_t va)
{
	struct vmmu_walk w;
	int rc = vmmu_walk(&probe, kx_pt.root.v, va, VMMU_ACC_READ | VMMU_ACC_PEEK, &w);

	return rc == VMMU_WALK_PF || rc == VMMU_WALK_GP ||
	       (rc == VMMU_WALK_OK && in_pool(w.addr));
}

static uint64_t pick_va(const struct tree *t, enum kx_acc kind)
{
	for (unsigned tries = 0; tries < 64; tries++) {
		uint64_t va = candidate_va(t);
		if (kind == KX_FETCH) {
			va |= FETCH_OFF_MASK; /* the pool holds ret there */
		}
		if (safe_va(va)) {
			return chance(2) ? non_canonical(va) : va;
		}
	}
	return non_canonical(canonical((uint64_t)window_slot(0)
				       << kx_fmt.level[top_level()].shift));
}

struct tally {
	unsigned accesses, faults, reads, writes, fetches, user, mismatches;
	unsigned ok, not_present, protection, reserved, gp; /* vmmu's prediction */
};

static void count_prediction(const struct trial *r, struct tally *c)
{
	if (r->pred == VMMU_WALK_OK) {
		c->ok++;
	} else if (r->pred == VMMU_WALK_GP) {
		c->gp++;
	} else if (r->pw.pfec & VMMU_PFEC_RSVD) {
		c->reserved++;
	} else if (r->pw.pfec & VMMU_PFEC_P) {
		c->protection++;
	} else {
		c->not_present++;
	}
}

static void one_access(const struct tree *t, unsigned number, struct tally *c)
{
	struct trial r = {.tree = t->number, .number = number};
	unsigned k = (unsigned)below(10);

	r.kind = k < 4 ? KX_READ : k < 7 ? KX_WRITE : KX_FETCH;
	r.user = chance(50);
	static struct mode batch_mode;
	if (number % mode_batch == 0) {
		batch_mode = random_mode();
	}
	r.mode = batch_mode;
	r.va = pick_va(t, r.kind);
	run_trial(&r);
	compare_outcome(&r);
	compare_entries(&r);

	c->accesses++;
	c->faults += r.t.vector >= 0;
	count_prediction(&r, c);
	c->reads += r.kind == KX_READ;
	c->writes += r.kind == KX_WRITE;
	c->fetches += r.kind == KX_FETCH;
	c->user += r.user;
	if (r.why != NULL) {
		c->mismatches++;
		if (diag_printed++ < MAX_DIAG) {
			print_mismatch(&r);
		}
	}
}

/* --- one tree -------------------------------------------------------------------------- */

static uint64_t window_half_size(void)
{
	return 2 * level_size(top_level());
}

/* Unmap both halves of the window; the builder frees every table it made. */
static void tear_down(void)
{
	for (unsigned h = 0; h < 2; h++) {
		uint64_t base = canonical((uint64_t)window_slot(2 * h)
					  << kx_fmt.level[top_level()].shift);
		must(vmmu_pt_unmap(&kx_pt, base, window_half_size()), "vmmu_pt_unmap window");
	}
	flush_tlb();
}

static bool window_empty(void)
{
	const vmmu_pte_t *root = (const vmmu_pte_t *)(uintptr_t)kx_pt.root.v;

	for (unsigned i = 0; i < NSLOTS; i++) {
		if (vmmu_pte_present(&kx_fmt, top_level(), root[window_slot(i)])) {
			return false;
		}
	}
	return true;
}

static struct tree tree;

static bool run_tree(unsigned number, struct tally *total)
{
	struct tree *t = &tree;
	struct tally c = {0};
	unsigned frames_before = kx_frames_free();
	uint64_t tables_max = 0;

	*t = (struct tree){.number = number};
	rng_state = cfg.seed ^ (0x9e3779b97f4a7c15ull * (number + 1));
	make_palette(t);
	for (unsigned round = 0; round < ROUNDS; round++) {
		if (round == 0) {
			map_some(t, MAPS_FIRST_ROUND);
		} else {
			undo_raw_edits(t);
			protect_some(t, 6);
			unmap_some(t, 3);
			map_some(t, MAPS_LATER_ROUND);
		}
		tables_max = kx_pt.table_count > tables_max ? kx_pt.table_count
							    : tables_max;
		raw_edits(t);
		unsigned n = cfg.accesses / ROUNDS;
		for (unsigned i = 0; i < n; i++) {
			one_access(t, round * n + i, &c);
		}
	}
	undo_raw_edits(t);
	set_boot_mode();
	tear_down();

	unsigned stray = scan_each_tree ? pool_differences() : 0;
	unsigned frames_after = kx_frames_free();
	bool empty = window_empty();
	bool ok = c.mismatches == 0 && stray == 0 && t->builder_errors == 0 &&
		  frames_after == frames_before && empty;
	kx_tap_ok(ok,
		  "tree %u: %u accesses (%u reads, %u writes, %u fetches; %u ring 3; "
		  "predicted %u ok, %u not-present, %u protection, %u reserved-bit, "
		  "%u #GP), %u mismatches; %u maps (%u conflicts), %u protects, "
		  "%u unmaps, raw: %u shared, %u alias, %u narrowed, %u not-present, "
		  "%u reserved; up to %lu tables, frames %u -> %u",
		  number, c.accesses, c.reads, c.writes, c.fetches, c.user, c.ok,
		  c.not_present, c.protection, c.reserved, c.gp, c.mismatches, t->maps, t->map_conflicts, t->protects,
		  t->unmaps, t->shared, t->aliases, t->narrowed, t->not_present,
		  t->reserved, tables_max, frames_before, frames_after);
	if (stray != 0 || !empty || t->builder_errors != 0) {
		kx_tap_diag("tree %u: %u pool words differ from the image, window %s, "
			    "%u builder errors",
			    number, stray, empty ? "empty" : "NOT empty",
			    t->builder_errors);
	}
	total->accesses += c.accesses;
	total->faults += c.faults;
	total->ok += c.ok;
	total->mismatches += c.mismatches;
	return ok;
}

/* --- setup -------------------------------------------------------------------------------- */

static void init_walkers(void)
{
	base_cpu = (struct vmmu_cpu_state){
		.cr0 = kx_read_cr0(),
		.cr4 = kx_read_cr4(),
		.efer = kx_rdmsr(KX_MSR_EFER),
	};
	must(vmmu_walker_init(&walker, &kx_fmt, &kx_plat, &base_cpu), "vmmu_walker_init");
	struct vmmu_cpu_state open = base_cpu;
	open.cr0 &= ~VMMU_CR0_WP;
	open.cr4 &= ~(VMMU_CR4_SMEP | VMMU_CR4_SMAP);
	open.efer = kx_cpu.nx ? open.efer | VMMU_EFER_NXE : open.efer;
	must(vmmu_walker_init(&probe, &kx_fmt, &kx_plat, &open), "vmmu_walker_init probe");
}

static void read_config(void)
{
	bool kvm = kx_under_kvm();

	cfg.seed = kx_cmdline_uint("seed", DEFAULT_SEED);
	cfg.trees = (unsigned)kx_cmdline_uint("trees", kvm ? TREES_KVM : TREES_TCG);
	cfg.accesses = (unsigned)kx_cmdline_uint("accesses", kvm ? ACCESSES_KVM : ACCESSES_TCG);
	cfg.trees = cfg.trees ? cfg.trees : 1;
	cfg.accesses = cfg.accesses < ROUNDS ? ROUNDS : cfg.accesses;
}

void kx_main(void)
{
	read_config();
	kx_tap_plan(cfg.trees + 2);
	kvm_refresh = kx_under_kvm() && !kx_cmdline_has("strict");
	mode_batch = (unsigned)kx_cmdline_uint("batch", kx_under_kvm() ? 50 : 1);
	mode_batch = mode_batch ? mode_batch : 1;
	scan_each_tree = !kx_under_kvm();
	pool_pa = (uint64_t)(uintptr_t)data_pool;
	must(vmmu_pt_lookup(&kx_pt, KX_USER_STACK_VA, &user_stack_pa, NULL, NULL),
	     "vmmu_pt_lookup user stack");
	init_walkers();
	fill_pool();

	kx_tap_diag("seed %#lx (reproduce: -append \"seed=%#lx%s\"), %u trees x %u "
		    "accesses%s",
		    cfg.seed, cfg.seed, kx_la57 ? " la57" : "", cfg.trees, cfg.accesses,
		    kx_under_kvm() ? " (fewer under KVM: nested KVM runs these kernels "
				     "far slower than TCG)" : "");
	kx_tap_diag("%u-level paging, window: %s slots %u,%u (kernel half) and %u,%u "
		    "(user half); data pool %#lx..%#lx; 1G leaves %s; %s",
		    top_level(), kx_la57 ? "PML5" : "PML4", window_slot(0),
		    window_slot(1), window_slot(2), window_slot(3), pool_pa,
		    (uint64_t)(pool_pa + POOL_SIZE), kx_cpu.page1g ? "yes" : "no",
		    kx_quirks_mode());

	struct tally total = {0};
	unsigned frames_start = kx_frames_free();
	for (unsigned i = 0; i < cfg.trees; i++) {
		run_tree(i, &total);
	}
	set_boot_mode();
	unsigned stray = pool_differences();
	kx_tap_ok(walk_pair_errors == 0,
		  "vmmu_walk: peek and committing walks agree (%lu pairs)", walk_pairs);
	kx_tap_ok(kx_frames_free() == frames_start && total.mismatches == 0 &&
			  stray == 0,
		  "total: %u accesses compared with the CPU (%u translated, %u faults), "
		  "%u mismatches; "
		  "data pool %s its image; frames %u at start, %u at end",
		  total.accesses, total.ok, total.faults, total.mismatches,
		  stray ? "DIFFERS from" : "matches", frames_start, kx_frames_free());
	kx_quirks_report();
	if (kvm_refresh) {
		kx_tap_diag("KVM: %lu path entries stored again before their access "
			    "(shadow entries kept across EFER.NXE changes; \"strict\" "
			    "turns this off)",
			    refreshed_entries);
	}
}
