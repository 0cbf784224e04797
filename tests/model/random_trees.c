/* SPDX-License-Identifier: MIT */
/*
 * Seeded random differential test of vmmu_walk against the reference
 * walker over whole random page-table trees.
 *
 * A tree is a pool of table frames filling the test arena, every entry of
 * every frame random: not-present entries with junk bits, table pointers
 * (mostly to a table of the next level down, sometimes to any frame:
 * shared sub-tables, aliases, self-maps; rarely to an address that is not
 * memory), 4K/2M/1G leaves with random frames, random permission, cache,
 * key and ignored bits at every level, and occasionally a reserved bit.
 * vmmu walks the arena; the model walks a copy of it. Each query is a
 * random (va, access, CPU state); afterwards the outcome, error code,
 * address, walk record and the whole memory (every A/D bit of the tree)
 * must agree. A/D bits accumulate across queries as they would on a CPU.
 *
 * Usage: random_trees [SEED [QUERIES]]   (defaults: fixed seed, 20000)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vmmu/vmmu.h>

#include "model_common.h"
#include "ref_walk.h"
#include "splitmix.h"
#include "test_platform.h"

#define DEFAULT_SEED 0x766d6d75u /* "vmmu" */
#define DEFAULT_QUERIES 20000u
#define QUERIES_PER_TREE 250u
#define ARENA_FRAMES 64u
#define ARENA_BYTES ((uint64_t)ARENA_FRAMES * 4096u)

#define B(n) (1ull << (n))

/* --- random numbers (splitmix64) --------------------------------------- */
static uint64_t rng_state;

static uint64_t rnd(void)
{
	return splitmix64_next(&rng_state);
}

/* Uniform in [0, n). */
static uint64_t below(uint64_t n)
{
	return rnd() % n;
}

/* True with probability pct/100. */
static bool chance(unsigned pct)
{
	return below(100) < pct;
}

/* Bits hi..lo inclusive. */
static uint64_t bits(unsigned hi, unsigned lo)
{
	uint64_t upto = hi >= 63 ? ~0ull : (B(hi + 1) - 1);
	return upto & ~(B(lo) - 1);
}

/* --- one tree ------------------------------------------------------------ */
struct tree {
	unsigned levels;
	unsigned maxphyaddr;
	bool page_1g;
	bool mapped; /* platform routes table access through frame_map */
	struct test_platform tp;
	struct vmmu_fmt fmt;
	struct vmmu_walker walker;
	uint8_t *ref_mem;       /* the model's copy of the arena */
	struct model_flat_mem ref_flat; /* ref_walk's view of ref_mem */
	unsigned frame_level[ARENA_FRAMES]; /* intended level of each frame */
	unsigned root;          /* root frame */
	uint64_t recent_va[16];
	unsigned recent_count;
};

static uint64_t passed, failed;
static uint64_t outcome_count[4];
static uint64_t pf_not_present, pf_reserved, pf_rights, pf_key;

/* A random frame intended for `level` (any frame if there is none). */
static unsigned frame_of_level(const struct tree *t, unsigned level)
{
	unsigned candidates[ARENA_FRAMES];
	unsigned n = 0;

	for (unsigned f = 0; f < ARENA_FRAMES; f++) {
		if (t->frame_level[f] == level) {
			candidates[n++] = f;
		}
	}
	if (n == 0) {
		return (unsigned)below(ARENA_FRAMES);
	}
	return candidates[below(n)];
}

/* Random attribute bits common to every entry kind. */
static uint64_t random_attrs(unsigned level, bool leaf)
{
	uint64_t e = 0;

	e |= chance(85) ? B(1) : 0;  /* R/W */
	e |= chance(85) ? B(2) : 0;  /* U/S */
	e |= chance(20) ? B(3) : 0;  /* PWT */
	e |= chance(20) ? B(4) : 0;  /* PCD */
	e |= chance(50) ? B(5) : 0;  /* A */
	e |= chance(50) ? B(6) : 0;  /* D (ignored in tables) */
	e |= chance(20) ? B(8) : 0;  /* G (ignored in tables) */
	e |= rnd() & bits(11, 9);    /* ignored */
	if (chance(30)) {
		e |= rnd() & bits(58, 52); /* ignored */
	}
	e |= rnd() & bits(62, 59);   /* protection key (leaf), else ignored */
	e |= chance(leaf ? 20 : 6) ? B(63) : 0; /* XD */
	if (leaf && level > 1 && chance(30)) {
		e |= B(12); /* PAT of a large leaf */
	}
	if (leaf && level == 1 && chance(20)) {
		e |= B(7); /* PAT of a PTE */
	}
	return e;
}

/* One reserved bit that a present entry of this kind can carry (0 when
   there is none: a table entry with MAXPHYADDR 52). */
static uint64_t random_reserved_bit(const struct tree *t, unsigned level,
				    bool leaf)
{
	uint64_t candidates = 0;
	unsigned n, pick;

	if (t->maxphyaddr < 52) {
		candidates |= bits(51, t->maxphyaddr);
	}
	if (leaf && level == 2) {
		candidates |= bits(20, 13);
	}
	if (leaf && level == 3) {
		candidates |= bits(29, 13);
	}
	if (level >= 4) {
		candidates |= B(7); /* PS in PML4E/PML5E */
	}
	n = (unsigned)__builtin_popcountll(candidates);
	if (n == 0) {
		return 0;
	}
	pick = (unsigned)below(n);
	for (unsigned b = 0; b < 64; b++) {
		if ((candidates & B(b)) != 0 && pick-- == 0) {
			return B(b);
		}
	}
	return 0;
}

/* A random entry for a table intended to sit at `level`. */
static uint64_t random_entry(const struct tree *t, unsigned level)
{
	uint64_t e;
	bool leaf;

	if (chance(8)) {
		return rnd() & ~1ull; /* not present: everything else ignored */
	}
	switch (level) {
	case 1:
		leaf = true;
		break;
	case 2:
		leaf = chance(30);
		break;
	case 3:
		leaf = chance(20);
		break;
	default:
		leaf = false;
		break;
	}
	e = 1 | random_attrs(level, leaf);
	if (leaf) {
		unsigned shift = 12 + 9 * (level - 1);

		if (level > 1) {
			e |= B(7); /* PS */
		}
		if (chance(50)) {
			/* Inside the arena: frames that are also tables. */
			e |= (below(ARENA_FRAMES) << 12) & bits(63, shift);
		} else {
			e |= rnd() & bits(t->maxphyaddr - 1, shift);
		}
	} else {
		unsigned target;

		if (chance(2)) {
			/* Not memory: beyond the arena, within MAXPHYADDR. */
			e |= ARENA_BYTES + (below(64) << 12);
		} else {
			target = chance(95) ? frame_of_level(t, level - 1)
					    : (unsigned)below(ARENA_FRAMES);
			e |= (uint64_t)target << 12;
		}
	}
	if (chance(4)) {
		e |= random_reserved_bit(t, level, leaf);
	}
	return e;
}

static void tree_fill(struct tree *t)
{
	uint64_t *arena = (uint64_t *)(void *)t->tp.arena;

	/* Intended levels: one root, then lower levels get more frames. */
	t->root = 1 + (unsigned)below(ARENA_FRAMES - 1);
	for (unsigned f = 0; f < ARENA_FRAMES; f++) {
		unsigned r = (unsigned)below(100);
		unsigned level;

		if (t->levels == 5) {
			level = r < 5 ? 4 : r < 15 ? 3 : r < 40 ? 2 : 1;
		} else {
			level = r < 10 ? 3 : r < 35 ? 2 : 1;
		}
		t->frame_level[f] = level;
	}
	t->frame_level[t->root] = t->levels;
	for (unsigned f = 0; f < ARENA_FRAMES; f++) {
		for (unsigned i = 0; i < 512; i++) {
			arena[f * 512 + i] = random_entry(t, t->frame_level[f]);
		}
	}
	memcpy(t->ref_mem, t->tp.arena, ARENA_BYTES);
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "random_trees: %s failed: %d (%s)\n", what, rc,
		vmmu_strerror(rc));
	exit(2);
}

static void tree_init(struct tree *t)
{
	struct ref_cpu plain; /* no WP, NX, keys */
	struct vmmu_cpu_state cpu;
	int rc;

	memset(t, 0, sizeof(*t));
	t->levels = chance(50) ? 5 : 4;
	{
		static const unsigned mp[] = {36, 39, 40, 42, 46, 48, 52};
		t->maxphyaddr = mp[below(sizeof(mp) / sizeof(mp[0]))];
	}
	t->page_1g = chance(75);
	t->mapped = chance(50);
	if (t->mapped) {
		test_platform_init_mapped(&t->tp, ARENA_FRAMES);
	} else {
		test_platform_init(&t->tp, ARENA_FRAMES);
	}
	t->ref_mem = malloc(ARENA_BYTES);
	if (t->ref_mem == NULL) {
		fprintf(stderr, "random_trees: out of memory\n");
		exit(2);
	}
	t->ref_flat.bytes = t->ref_mem;
	t->ref_flat.size = ARENA_BYTES;
	rc = vmmu_fmt_init_x86(&t->fmt, t->levels, t->maxphyaddr,
			       t->page_1g ? VMMU_FMT_F_1G : 0);
	if (rc != 0) {
		die("vmmu_fmt_init_x86", rc);
	}
	memset(&plain, 0, sizeof(plain));
	plain.cr4_la57 = t->levels == 5;
	model_cpu_state(&plain, &cpu);
	rc = vmmu_walker_init(&t->walker, &t->fmt, &t->tp.plat, &cpu);
	if (rc != 0) {
		die("vmmu_walker_init", rc);
	}
	tree_fill(t);
}

static void tree_fini(struct tree *t)
{
	free(t->ref_mem);
	test_platform_fini(&t->tp);
}

/* A random address: usually through the tree, sometimes a recent one,
   rarely not canonical. */
static uint64_t random_va(struct tree *t)
{
	unsigned va_bits = t->levels == 5 ? 57 : 48;
	uint64_t va;

	if (t->recent_count > 0 && chance(30)) {
		va = t->recent_va[below(t->recent_count)];
		if (chance(50)) {
			va ^= rnd() & 0xfff; /* same page, other offset */
		}
		return va;
	}
	va = rnd() & bits(va_bits - 1, 0);
	if (va & B(va_bits - 1)) {
		va |= bits(63, va_bits); /* sign-extend */
	}
	if (chance(3)) {
		va ^= B(va_bits + below(64 - va_bits)); /* not canonical */
	}
	if (t->recent_count < 16) {
		t->recent_va[t->recent_count++] = va;
	} else {
		t->recent_va[below(16)] = va;
	}
	return va;
}

/* One query: what was asked, and what vmmu and the model answered. */
struct query {
	struct ref_cpu rcpu;
	struct ref_access racc;
	uint64_t va, cr3;
	uint64_t maps0, unmaps0; /* the platform's counts before the walk */
	int vrc, rrc;
	struct vmmu_walk vw;
	struct ref_result rr;
};

static void random_ref_cpu(const struct tree *t, struct ref_cpu *rcpu)
{
	memset(rcpu, 0, sizeof(*rcpu));
	rcpu->cr0_wp = chance(50);
	rcpu->cr4_smep = chance(50);
	rcpu->cr4_smap = chance(50);
	rcpu->cr4_pke = chance(50);
	rcpu->cr4_pks = chance(40);
	rcpu->cr4_la57 = t->levels == 5;
	rcpu->efer_nxe = chance(75);
	rcpu->pkru = (uint32_t)rnd();
	rcpu->pkrs = (uint32_t)rnd();
	rcpu->maxphyaddr = t->maxphyaddr;
	rcpu->page_1g = t->page_1g;
}

static void set_walker_cpu(struct tree *t, const struct ref_cpu *rcpu)
{
	struct vmmu_cpu_state cpu;
	int rc;

	model_cpu_state(rcpu, &cpu);
	rc = vmmu_walker_set_cpu(&t->walker, &cpu);
	if (rc != 0) {
		die("vmmu_walker_set_cpu", rc);
	}
}

static void random_access(struct ref_access *racc)
{
	memset(racc, 0, sizeof(*racc));
	switch (below(3)) {
	case 0:
		break; /* read */
	case 1:
		racc->write = true;
		break;
	default:
		racc->fetch = true;
		break;
	}
	racc->user = chance(50);
	racc->implicit = !racc->user && !racc->fetch && chance(25);
	racc->ac = chance(50);
	racc->no_ad = chance(10);
}

/* vmmu walks the arena, the model its copy. */
static void walk_both(struct tree *t, struct query *q)
{
	struct ref_mem rmem = model_ref_mem(&t->ref_flat);

	q->maps0 = t->tp.maps;
	q->unmaps0 = t->tp.unmaps;
	memset(&q->vw, 0, sizeof(q->vw));
	q->vrc = vmmu_walk(&t->walker, q->cr3, q->va,
			   model_access_flags(&q->racc), &q->vw);
	q->rrc = model_outcome_rc(ref_walk(&rmem, &q->rcpu, q->cr3, q->va,
					   &q->racc, &q->rr));
}

/* The first way vmmu and the model disagree on q; NULL when they agree. */
static const char *query_mismatch(const struct tree *t, const struct query *q)
{
	const char *bad = model_outcome_mismatch(q->vrc, &q->vw, &q->rr);

	if (bad == NULL && memcmp(t->tp.arena, t->ref_mem, ARENA_BYTES) != 0) {
		bad = "memory after the access (A/D bits)";
	}
	if (bad == NULL) {
		bad = model_record_mismatch(q->vrc, &q->vw, &q->rr, &q->rcpu);
	}
	if (bad == NULL &&
	    t->tp.maps - q->maps0 != t->tp.unmaps - q->unmaps0) {
		bad = "frame_map/frame_unmap not balanced";
	}
	return bad;
}

static void count_outcome(const struct query *q)
{
	if (q->rrc >= VMMU_WALK_OK && q->rrc <= VMMU_WALK_GP) {
		outcome_count[q->rrc]++;
	} else {
		outcome_count[3]++;
	}
	if (q->rr.outcome != REF_PF) {
		return;
	}
	if ((q->rr.pfec & REF_PFEC_P) == 0) {
		pf_not_present++;
	} else if ((q->rr.pfec & REF_PFEC_RSVD) != 0) {
		pf_reserved++;
	} else if ((q->rr.pfec & REF_PFEC_PK) != 0) {
		pf_key++;
	} else {
		pf_rights++;
	}
}

static void print_query(const struct tree *t, const struct query *q)
{
	const struct ref_cpu *c = &q->rcpu;
	const struct ref_access *a = &q->racc;

	printf("  tree: %u-level, MAXPHYADDR %u, 1G %s, %s platform, cr3 %#" PRIx64 "\n",
	       t->levels, t->maxphyaddr, t->page_1g ? "yes" : "no",
	       t->mapped ? "frame_map" : "direct-map", q->cr3);
	printf("  cpu: wp %d smep %d smap %d pke %d pks %d nxe %d pkru %#x pkrs %#x\n",
	       c->cr0_wp, c->cr4_smep, c->cr4_smap, c->cr4_pke, c->cr4_pks,
	       c->efer_nxe, c->pkru, c->pkrs);
	printf("  access: va %#" PRIx64 "%s%s%s%s%s%s\n", q->va,
	       a->write ? " write" : "", a->user ? " user" : "",
	       a->fetch ? " fetch" : "", a->implicit ? " implicit" : "",
	       a->ac ? " ac" : "", a->no_ad ? " peek" : "");
}

static void print_answers(const struct tree *t, const struct query *q)
{
	const struct vmmu_walk *vw = &q->vw;
	const struct ref_result *rr = &q->rr;

	printf("  vmmu: %-6s pfec %#04x addr %#" PRIx64 " level %u\n",
	       model_outcome_name(q->vrc), q->vrc == VMMU_WALK_PF ? vw->pfec : 0,
	       q->vrc == VMMU_WALK_OK ? vw->addr : 0, vw->level);
	printf("  ref:  %-6s pfec %#04x addr %#" PRIx64 " level %u\n",
	       model_outcome_name(q->rrc), rr->outcome == REF_PF ? rr->pfec : 0,
	       rr->outcome == REF_OK ? rr->pa : 0, rr->level);
	for (unsigned l = rr->top_level; l >= 1; l--) {
		if (rr->pte_addr[l] == 0 && rr->pte[l] == 0) {
			continue;
		}
		printf("  %-5s @%#" PRIx64 ": ref read %#018" PRIx64
		       " / vmmu @%#" PRIx64 " %#018" PRIx64 "\n",
		       vmmu_fmt_level_name(&t->fmt, l), rr->pte_addr[l],
		       rr->pte[l], vw->pte_addr[l], vw->pte[l]);
	}
}

/* The first 8 words where the arena and the model's copy differ. */
static void print_memory_diff(const struct tree *t)
{
	for (uint64_t pa = 0, shown = 0; pa < ARENA_BYTES && shown < 8;
	     pa += 8) {
		uint64_t a, b;

		memcpy(&a, t->tp.arena + pa, 8);
		memcpy(&b, t->ref_mem + pa, 8);
		if (a != b) {
			printf("  memory @%#" PRIx64 ": vmmu %#018" PRIx64
			       " ref %#018" PRIx64 "\n", pa, a, b);
			shown++;
		}
	}
}

static void query(struct tree *t, uint64_t seed, uint64_t qno)
{
	struct query q;
	const char *bad;

	random_ref_cpu(t, &q.rcpu);
	set_walker_cpu(t, &q.rcpu);
	random_access(&q.racc);
	q.va = random_va(t);
	/* CR3: the root, plus PWT/PCD now and then (not address bits). */
	q.cr3 = ((uint64_t)t->root << 12) | (chance(20) ? (rnd() & 0x18) : 0);
	walk_both(t, &q);

	bad = query_mismatch(t, &q);
	count_outcome(&q);
	if (bad == NULL) {
		passed++;
		return;
	}
	failed++;
	if (failed <= 20) {
		printf("MISMATCH (seed %#" PRIx64 ", query %" PRIu64 "): %s\n",
		       seed, qno, bad);
		print_query(t, &q);
		print_answers(t, &q);
		print_memory_diff(t);
	}
	/* Resynchronise so one mismatch is not reported forever. */
	memcpy(t->ref_mem, t->tp.arena, ARENA_BYTES);
}

int main(int argc, char **argv)
{
	uint64_t seed = DEFAULT_SEED;
	uint64_t queries = DEFAULT_QUERIES;
	uint64_t q = 0;
	unsigned trees = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 3) {
		fprintf(stderr, "usage: %s [SEED [QUERIES]]\n", argv[0]);
		return 2;
	}
	if (argc > 1) {
		seed = strtoull(argv[1], NULL, 0);
	}
	if (argc > 2) {
		queries = strtoull(argv[2], NULL, 0);
	}
	printf("random_trees: seed %#" PRIx64 ", %" PRIu64
	       " queries (rerun: %s %#" PRIx64 " %" PRIu64 ")\n",
	       seed, queries, argv[0], seed, queries);
	rng_state = seed;
	while (q < queries) {
		struct tree t;

		tree_init(&t);
		trees++;
		for (unsigned i = 0; i < QUERIES_PER_TREE && q < queries;
		     i++, q++) {
			query(&t, seed, q);
			/* Now and then, age the tree: clear random A/D bits
			   (in both memories). */
			if (chance(5)) {
				unsigned f = (unsigned)below(ARENA_FRAMES);
				uint64_t *v = (uint64_t *)(void *)t.tp.arena;
				uint64_t *r = (uint64_t *)(void *)t.ref_mem;

				for (unsigned k = 0; k < 512; k++) {
					v[f * 512 + k] &= ~(B(5) | B(6));
					r[f * 512 + k] &= ~(B(5) | B(6));
				}
			}
		}
		tree_fini(&t);
	}
	printf("random_trees: %u trees; outcomes OK %" PRIu64 ", #PF %" PRIu64
	       " (not present %" PRIu64 ", reserved %" PRIu64 ", rights %" PRIu64
	       ", key %" PRIu64 "), #GP %" PRIu64 ", EFAULT %" PRIu64 "\n",
	       trees, outcome_count[0], outcome_count[1], pf_not_present,
	       pf_reserved, pf_rights, pf_key, outcome_count[2],
	       outcome_count[3]);
	printf("random_trees: %" PRIu64 " passed, %" PRIu64 " failed\n", passed,
	       failed);
	return failed == 0 ? 0 : 1;
}
