/* SPDX-License-Identifier: MIT */
/*
 * shadow_vivo: vmmu's shadow-paging engine in vivo (issue 6 item 8).
 *
 * The test kernel plays hypervisor for a ring-3 guest that has page tables
 * of its own. The guest builds and tears down address spaces, forks
 * (write-protect + copy on write), maps, write-protects and splits a
 * 2 MiB page (and maps it twice), puts one page table under entries with
 * three different rights in two address spaces, turns freed data pages
 * into page tables, probes unmapped, read-only, no-execute and supervisor
 * pages, and computes a checksum. It runs three times in one boot:
 *
 *   native   its tables are loaded into CR3 as they are;
 *   shadow   CR3 holds vmmu's shadow root; every #PF goes to
 *            vmmu_shadow_fault, guest page-table stores trap on
 *            write-protected shadow leaves and are emulated through
 *            vmmu_shadow_write, guest faults are injected;
 *   reclaim  the same with a shadow pool too small for the guest, so
 *            the engine reclaims all the time.
 *
 * The shadow runs must give the native run's checksum, its exact list of
 * guest-visible faults (address, error code, RIP) and its guest memory
 * (modulo A/D bits in page tables); the guest checks by itself every word
 * it reads, every fault it expects (address and error code), and the A/D
 * bits the architecture promises (A once accessed, D exactly when written).
 * Every check is exact, so each one can fail: engine bugs planted one at a
 * time (no write zap, no write protection of new tables, roles without
 * inherited rights or the direct page's D, leaves ignoring D or tracking,
 * a wrong error code, INVLPG or a flush not resyncing) each fail it.
 *
 * Layout. Guest-physical RAM is GRAM_GPA..+8 MiB. In the native run it is
 * the host memory there; in the shadow runs the p2m backs it with host
 * memory at HRAM_HPA (and GRAM is poisoned), so a guest/host frame mix-up
 * in the engine shows. The kernel image is identity in both (p2m identity)
 * and every guest address space maps it supervisor-only, because a trap
 * from ring 3 is delivered on the current CR3: IDT, GDT, TSS, the ring-0
 * stack and trap.S's entry code must be reachable through the shadow.
 * trap.S then switches to the kernel's own tables (kx_trap_host_cr3, a
 * "VM exit") before any C runs, and every vmmu call is made there: vmmu
 * may free shadow tables (reclaim) and must never do so under the CPU's
 * feet, and the kernel reaches guest memory through its own identity map,
 * never through a shadow mapping that write tracking protects. Before
 * each return to ring 3 the kernel checks, in the shadow tables
 * themselves, that this working set is mapped and pre-faults what is
 * missing (after a new root or a reclaim); a ring-0 fault on the guest's
 * tables is a failure, not something to recurse on.
 *
 * Guest-virtual layout (PML4 slots): 0 the kernel (supervisor), 1 a
 * window onto all guest RAM (user RW NX: how the guest writes its page
 * tables), 2 address-space areas, 3 the 2 MiB page, 4 the aliased page
 * table, 32 the guest code (.user_text at KX_USER_TEXT_VA, user R+X) and
 * stacks.
 * Slots 0, 1 and 32 come from a template the kernel ("loader") builds
 * with vmmu_pt; the guest builds everything else with plain stores.
 *
 * Guest <-> kernel: hypercalls are UD2 at one known RIP (RAX = number);
 * page-table stores use one instruction, MOV %RSI,(%RDI) at one known
 * RIP, the only store the kernel emulates; a guest #PF is delivered to
 * the guest's own handler (an upcall on its exception stack), which
 * resolves copy on write or recovers a probe and returns by hypercall.
 * The guest follows the TLB rules: INVLPG or a flush after changing or
 * removing a present entry, before relying on the change.
 */
#include "kx.h"

/* ------------------------------------------------------------------------ */
/* Layout shared by the kernel and the guest                                  */
/* ------------------------------------------------------------------------ */

#define PG 4096ull
#define GRAM_GPA 0x04000000ull  /* 64 MiB: guest RAM, guest-physical */
#define GRAM_SIZE 0x00800000ull /* 8 MiB */
#define G_FRAMES 2048u
#define HRAM_HPA 0x06000000ull  /* 96 MiB: its host backing in shadow runs */
#define SPOOL_HPA 0x08000000ull /* 128 MiB: frames for shadow tables */
#define SPOOL_FRAMES 1536u
#define G_STATE_FRAMES 8u       /* struct gstate at guest frame 0 */
#define BIG_FRAME (G_FRAMES - 512u) /* the last 2 MiB: the guest's large page */

#define WIN_VA 0x0000008000000000ull   /* slot 1 */
#define AREA_VA 0x0000010000000000ull  /* slot 2 */
#define BIG_VA 0x0000018000000000ull   /* slot 3 */
#define ALIAS_VA 0x0000020000000000ull /* slot 4 */
#define SZ_2M 0x200000ull
#define USTACK_VA (KX_USER_TEXT_VA + 0x200000ull)
#define USTACK_PAGES 4u
#define XSTACK_VA (KX_USER_TEXT_VA + 0x400000ull)
#define XSTACK_PAGES 2u
#define GSTATE_VA WIN_VA

#define PTE_P 0x1ull
#define PTE_W 0x2ull
#define PTE_U 0x4ull
#define PTE_A 0x20ull
#define PTE_D 0x40ull
#define PTE_PS 0x80ull
#define PTE_COW 0x200ull /* software bit: shared, copy on write */
#define PTE_NX (1ull << 63)
#define PTE_ADDR 0x000ffffffffff000ull
#define PTE_AD (PTE_A | PTE_D)

#define PF_P VMMU_PFEC_P
#define PF_W VMMU_PFEC_W
#define PF_U VMMU_PFEC_U
#define PF_I VMMU_PFEC_I
#define E_NONE 0xffffffffu /* a probe that must not fault */

/* Hypercall numbers (RAX at the UD2). */
enum hcall {
	HC_BOOT = 0x100, /* from the entry stub, on the kernel's tables */
	HC_CR3,          /* RDI = new CR3 */
	HC_INVLPG,       /* RDI = address */
	HC_FLUSH,        /* whole TLB */
	HC_PF_RETURN,    /* RDI = RIP, RSI = RAX, RDX = RSP, R10 bit 0: set RAX */
	HC_EXIT,         /* RDI = checksum, RSI = failures, RDX = first line */
};

/* What a guest frame holds (gstate.kind). */
enum g_kind {
	K_FREE, K_STATE, K_LTABLE, K_STACK, K_DATA, K_TABLE, K_DATA_FREE,
	K_TABLE_FREE, K_BIG,
};

#define AS_PAGES 256u
#define N_AS 3u
#define MARK 0xfa017fa017fa017full /* a probe's RAX after a fault */

/* One address space of the guest: its root and the pages of its area. */
struct g_as {
	uint64_t pml4;
	uint32_t n, pad_;
	uint64_t va[AS_PAGES];
	uint16_t frame[AS_PAGES]; /* guest frame; 0 = slot empty */
};

/* Guest state at guest frame 0 (GSTATE_VA); the loader fills the top. */
struct gstate {
	uint64_t seed, ram_gpa, win_va, tmpl_cr3, kern_va;
	uint64_t va_load, va_load_end, va_store, va_store_end, va_fetch_ret;
	uint64_t va_ret;
	uint32_t first_free, big_frame;
	/* the guest's own from here */
	uint64_t rng, sum, cur_cr3, last_cr2;
	uint32_t last_err, faults, fresh, next_stamp;
	uint32_t n_data_free, n_table_free, bad, first_bad_line;
	uint32_t pages_mapped, tables_made, cow_copies, cow_reuse;
	uint32_t conversions, probes, cr3_loads, pad_;
	uint8_t kind[G_FRAMES];
	uint8_t ref[G_FRAMES];
	uint32_t stamp[G_FRAMES];
	uint16_t data_free[G_FRAMES];
	uint16_t table_free[G_FRAMES];
	struct g_as as[N_AS];
};
_Static_assert(sizeof(struct gstate) <= G_STATE_FRAMES * PG, "gstate too big");

/* ------------------------------------------------------------------------ */
/* The guest: ring 3, .user_text, run at its KX_USER_TEXT_VA alias.          */
/*                                                                          */
/* Position independent by construction: it references no global object    */
/* (everything is reached through the gstate pointer), no string, no        */
/* switch (jump tables), no library call; calls are PC-relative.            */
/* ------------------------------------------------------------------------ */

#define GUEST __attribute__((section(".user_text")))
#define G_BARRIER() __asm__ volatile("" ::: "memory")

/* Fixed-encoding stubs the kernel recognises by RIP (and decodes). */
__asm__(".pushsection .user_text, \"ax\", @progbits\n"
	/* kx_user enters here on the kernel's tables: ask for the guest's. */
	".globl vivo_g_boot, vivo_g_boot_ud2\n"
	"vivo_g_boot:\n"
	"	movl $0x100, %eax\n"
	"vivo_g_boot_ud2:\n"
	"	ud2\n"
	/* Resumed here on the guest's tables: RDI = state, RSP = stack. */
	".globl vivo_g_start\n"
	"vivo_g_start:\n"
	"	call vivo_g_main\n"
	"	ud2\n" /* not the hypercall RIP: the kernel fails the run */
	/* Hypercall: RDI = number, RSI, RDX, RCX, R8 = arguments. */
	".globl vivo_g_hcall, vivo_g_hcall_ud2\n"
	"vivo_g_hcall:\n"
	"	movq %rdi, %rax\n"
	"	movq %rsi, %rdi\n"
	"	movq %rdx, %rsi\n"
	"	movq %rcx, %rdx\n"
	"	movq %r8, %r10\n"
	"vivo_g_hcall_ud2:\n"
	"	ud2\n"
	"	ret\n"
	/* The page-table store: 48 89 37, the one store the kernel emulates. */
	".globl vivo_g_pte_store, vivo_g_pte_store_insn, vivo_g_ret\n"
	"vivo_g_pte_store:\n"
	"vivo_g_pte_store_insn:\n"
	"	movq %rsi, (%rdi)\n"
	"vivo_g_ret:\n"
	"	ret\n"
	/* Probes: RAX = MARK after a fault (the guest's handler sets it). */
	".globl vivo_g_probe_load, vivo_g_probe_load_insn, vivo_g_probe_load_end\n"
	"vivo_g_probe_load:\n"
	"	xorl %eax, %eax\n"
	"vivo_g_probe_load_insn:\n"
	"	movq (%rdi), %rax\n"
	"vivo_g_probe_load_end:\n"
	"	ret\n"
	".globl vivo_g_probe_store, vivo_g_probe_store_insn, vivo_g_probe_store_end\n"
	"vivo_g_probe_store:\n"
	"	xorl %eax, %eax\n"
	"vivo_g_probe_store_insn:\n"
	"	movb %sil, (%rdi)\n"
	"vivo_g_probe_store_end:\n"
	"	ret\n"
	".globl vivo_g_probe_fetch, vivo_g_probe_fetch_ret\n"
	"vivo_g_probe_fetch:\n"
	"	xorl %eax, %eax\n"
	"	call *%rdi\n"
	"vivo_g_probe_fetch_ret:\n"
	"	ret\n"
	/* #PF upcall: RDI..R8 = state, CR2, error code, RIP, RSP. */
	".globl vivo_g_pf_entry\n"
	"vivo_g_pf_entry:\n"
	"	call vivo_g_pf\n"
	"	ud2\n"
	".popsection\n");

extern char vivo_g_boot[], vivo_g_boot_ud2[], vivo_g_start[];
extern char vivo_g_hcall_ud2[], vivo_g_pte_store_insn[], vivo_g_ret[];
extern char vivo_g_probe_load_insn[], vivo_g_probe_load_end[];
extern char vivo_g_probe_store_insn[], vivo_g_probe_store_end[];
extern char vivo_g_probe_fetch_ret[], vivo_g_pf_entry[];
uint64_t vivo_g_hcall(uint64_t nr, uint64_t a, uint64_t b, uint64_t c,
		      uint64_t d);
void vivo_g_pte_store(volatile uint64_t *slot, uint64_t value);
uint64_t vivo_g_probe_load(uint64_t va);
uint64_t vivo_g_probe_store(uint64_t va, uint64_t value);
uint64_t vivo_g_probe_fetch(uint64_t va);
void vivo_g_main(struct gstate *g);
void vivo_g_pf(struct gstate *g, uint64_t cr2, uint64_t err, uint64_t rip,
	       uint64_t rsp);

/* --- guest: small helpers ------------------------------------------------ */

static GUEST uint64_t g_rand(struct gstate *g)
{
	uint64_t z = (g->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static GUEST void g_mix(struct gstate *g, uint64_t v)
{
	g->sum = (g->sum ^ v) * 0x100000001b3ull;
	g->sum ^= g->sum >> 29;
}

/* A failed self-check: counted, and the first one's line kept. */
static GUEST void g_check(struct gstate *g, bool ok, unsigned line)
{
	if (!ok) {
		g->bad++;
		g->first_bad_line = g->first_bad_line ? g->first_bad_line : line;
	}
}
#define G_CHECK(g, cond) g_check((g), (cond), __LINE__)

static GUEST uint64_t g_gpa(const struct gstate *g, unsigned f)
{
	return g->ram_gpa + (uint64_t)f * PG;
}

static GUEST unsigned g_frame_of(struct gstate *g, uint64_t pte)
{
	uint64_t off = (pte & PTE_ADDR) - g->ram_gpa;

	G_CHECK(g, off < (uint64_t)G_FRAMES * PG);
	return off < (uint64_t)G_FRAMES * PG ? (unsigned)(off / PG) : BIG_FRAME - 1;
}

/* Guest-physical address -> the window (user RW alias of all guest RAM). */
static GUEST volatile uint64_t *g_win(const struct gstate *g, uint64_t gpa)
{
	return (volatile uint64_t *)(uintptr_t)(g->win_va + (gpa - g->ram_gpa));
}

static GUEST volatile uint64_t *g_at(uint64_t va)
{
	return (volatile uint64_t *)(uintptr_t)va;
}

/* Plain stores (REP STOSQ/MOVSQ): only for frames that never were tables. */
static GUEST void g_zero(volatile uint64_t *p)
{
	uint64_t n = 512;

	__asm__ volatile("rep stosq" : "+D"(p), "+c"(n) : "a"(0ull) : "memory");
}

static GUEST void g_copy(volatile uint64_t *dst, volatile uint64_t *src)
{
	uint64_t n = 512;

	__asm__ volatile("rep movsq" : "+D"(dst), "+S"(src), "+c"(n) : : "memory");
}

static GUEST uint64_t g_hc(uint64_t nr, uint64_t a)
{
	return vivo_g_hcall(nr, a, 0, 0, 0);
}

static GUEST void g_cr3(struct gstate *g, uint64_t cr3)
{
	g->cur_cr3 = cr3;
	g->cr3_loads++;
	g_hc(HC_CR3, cr3);
}

/* --- guest: frames ------------------------------------------------------- */

static GUEST unsigned g_fresh(struct gstate *g)
{
	G_CHECK(g, g->fresh < g->big_frame);
	return g->fresh < g->big_frame ? g->fresh++ : g->big_frame - 1;
}

static GUEST unsigned g_alloc_data(struct gstate *g)
{
	unsigned f = g->n_data_free ? g->data_free[--g->n_data_free] : g_fresh(g);

	g->kind[f] = K_DATA;
	g->ref[f] = 1;
	return f;
}

/*
 * A frame for a page table. Every other one is a former data page when
 * one is free: zeroed with plain stores (it never was a table, so nothing
 * tracks it yet) while the window still maps it writable; the engine must
 * write-protect that mapping once the frame is shadowed. Freed tables are
 * all zero (teardown clears every entry), fresh frames too.
 */
static GUEST unsigned g_alloc_table(struct gstate *g)
{
	unsigned f;

	if (g->n_data_free > 0 && ((g->tables_made & 1) || g->n_table_free == 0)) {
		f = g->data_free[--g->n_data_free];
		g_zero(g_win(g, g_gpa(g, f)));
		g->conversions++;
	} else if (g->n_table_free > 0) {
		f = g->table_free[--g->n_table_free];
	} else {
		f = g_fresh(g);
	}
	g->kind[f] = K_TABLE;
	g->tables_made++;
	return f;
}

static GUEST void g_put_data(struct gstate *g, unsigned f)
{
	G_CHECK(g, g->kind[f] == K_DATA && g->ref[f] > 0);
	if (--g->ref[f] == 0) {
		g->kind[f] = K_DATA_FREE;
		g->data_free[g->n_data_free++] = (uint16_t)f;
	}
}

/* Once a table, always a table: its stores must keep going through the
 * emulated instruction, so it only ever comes back as a table. */
static GUEST void g_put_table(struct gstate *g, unsigned f)
{
	G_CHECK(g, g->kind[f] == K_TABLE);
	g->kind[f] = K_TABLE_FREE;
	g->table_free[g->n_table_free++] = (uint16_t)f;
}

/* --- guest: page tables -------------------------------------------------- */

static GUEST unsigned g_index(uint64_t va, unsigned level)
{
	return (unsigned)(va >> (12 + 9 * (level - 1))) & 511;
}

/*
 * The entry for va at `level` of the tree rooted at pml4, through the
 * window; tables above it are created when `create` (a new entry in a
 * live table needs no flush: not-present entries are never cached).
 * NULL when a table is missing and not created, or a large page covers va.
 */
static GUEST volatile uint64_t *g_entry(struct gstate *g, uint64_t pml4,
					uint64_t va, unsigned level, bool create)
{
	uint64_t table = pml4;

	for (unsigned l = 4; l > level; l--) {
		volatile uint64_t *e = g_win(g, table) + g_index(va, l);
		if (!(*e & PTE_P)) {
			if (!create) {
				return NULL;
			}
			vivo_g_pte_store(e, g_gpa(g, g_alloc_table(g)) | PTE_P |
						    PTE_W | PTE_U);
		}
		if (*e & PTE_PS) {
			return NULL; /* a large page covers va */
		}
		table = *e & PTE_ADDR;
	}
	return g_win(g, table) + g_index(va, level);
}

static GUEST uint64_t g_page_flags(unsigned i)
{
	/* Every eighth page of an area is read-only. */
	return PTE_P | PTE_U | PTE_NX | ((i & 7) == 7 ? 0 : PTE_W);
}

static GUEST void g_map(struct gstate *g, uint64_t pml4, uint64_t va,
			unsigned f, uint64_t flags)
{
	volatile uint64_t *e = g_entry(g, pml4, va, 1, true);

	G_CHECK(g, !(*e & PTE_P));
	vivo_g_pte_store(e, g_gpa(g, f) | flags);
	g->pages_mapped++;
}

/* Clear the leaf for va; INVLPG when the tree is live. */
static GUEST void g_unmap(struct gstate *g, uint64_t pml4, uint64_t va)
{
	volatile uint64_t *e = g_entry(g, pml4, va, 1, false);

	G_CHECK(g, e != NULL && (*e & PTE_P));
	if (e != NULL) {
		vivo_g_pte_store(e, 0);
	}
	if (pml4 == g->cur_cr3) {
		g_hc(HC_INVLPG, va);
	}
}

/* A new root sharing the template's kernel, window and code subtrees. */
static GUEST uint64_t g_new_pml4(struct gstate *g)
{
	uint64_t root = g_gpa(g, g_alloc_table(g));
	volatile uint64_t *t = g_win(g, root), *tm = g_win(g, g->tmpl_cr3);

	vivo_g_pte_store(&t[0], tm[0]);
	vivo_g_pte_store(&t[1], tm[1]);
	vivo_g_pte_store(&t[32], tm[32]);
	return root;
}

/* A random unmapped page in the area: 4 GiB-spread, 32 page tables. */
static GUEST uint64_t g_pick_va(struct gstate *g, uint64_t pml4)
{
	for (;;) {
		uint64_t r = g_rand(g);
		uint64_t va = AREA_VA + ((r & 3) << 30) + (((r >> 2) & 7) << 21) +
			      (((r >> 5) & 511) << 12);
		volatile uint64_t *e = g_entry(g, pml4, va, 1, false);
		if (e == NULL || !(*e & PTE_P)) {
			return va;
		}
	}
}

/* --- guest: page contents ------------------------------------------------ */

/* A page with stamp s holds four words; where and what follow from s. */
static GUEST unsigned g_off(uint32_t s, unsigned k)
{
	return (s * 37u + k * 129u) & 511;
}

static GUEST uint64_t g_val(const struct gstate *g, uint32_t s, unsigned k)
{
	return (g->seed ^ s) * 0x9e3779b97f4a7c15ull + k;
}

static GUEST void g_fill(struct gstate *g, volatile uint64_t *page, uint32_t s)
{
	G_BARRIER();
	for (unsigned k = 0; k < 4; k++) {
		page[g_off(s, k)] = g_val(g, s, k);
	}
	G_BARRIER();
}

static GUEST void g_verify(struct gstate *g, volatile uint64_t *page, uint32_t s,
			   unsigned line)
{
	G_BARRIER();
	for (unsigned k = 0; k < 4; k++) {
		uint64_t v = page[g_off(s, k)];
		g_mix(g, v);
		g_check(g, v == g_val(g, s, k), line);
	}
	G_BARRIER();
}

/* A probe's outcome: no fault, or a fault at va with exactly `err`. */
static GUEST void g_expect(struct gstate *g, uint64_t rax, uint64_t va,
			   uint32_t err, unsigned line)
{
	if (err == E_NONE) {
		g_check(g, rax != MARK, line);
	} else {
		g_check(g, rax == MARK && g->last_cr2 == va && g->last_err == err,
			line);
	}
	g_mix(g, rax ^ g->last_err);
	g->probes++;
}
#define G_EXPECT(g, probe, va, err) g_expect((g), (probe), (va), (err), __LINE__)

/* --- guest: #PF handler (upcall) ----------------------------------------- */

/* Point the current address space's record of va at frame nf. */
static GUEST void g_retarget(struct gstate *g, uint64_t va, unsigned nf)
{
	for (unsigned a = 0; a < N_AS; a++) {
		struct g_as *as = &g->as[a];
		for (unsigned i = 0; as->pml4 == g->cur_cr3 && i < as->n; i++) {
			if (as->frame[i] != 0 && as->va[i] == va) {
				as->frame[i] = (uint16_t)nf;
			}
		}
	}
}

/* A write to a copy-on-write page: copy (or take it when last). */
static GUEST bool g_cow(struct gstate *g, uint64_t va)
{
	volatile uint64_t *e = g_entry(g, g->cur_cr3, va, 1, false);

	va &= ~(PG - 1);
	if (e == NULL || (*e & (PTE_P | PTE_COW)) != (PTE_P | PTE_COW)) {
		return false;
	}
	uint64_t old = *e;
	unsigned f = g_frame_of(g, old);
	if (g->ref[f] == 1) {
		vivo_g_pte_store(e, (old & ~PTE_COW) | PTE_W);
		g->cow_reuse++;
	} else {
		unsigned nf = g_alloc_data(g);
		g_copy(g_win(g, g_gpa(g, nf)), g_win(g, g_gpa(g, f)));
		g->stamp[nf] = g->stamp[f];
		g->ref[f]--;
		vivo_g_pte_store(e, g_gpa(g, nf) | (old & (PTE_P | PTE_U | PTE_NX)) |
					    PTE_W);
		g_retarget(g, va, nf);
		g->cow_copies++;
	}
	g_hc(HC_INVLPG, va); /* a present entry changed */
	return true;
}

static GUEST void g_pf_return(uint64_t rip, uint64_t rax, uint64_t rsp,
			      uint64_t set_rax)
{
	vivo_g_hcall(HC_PF_RETURN, rip, rax, rsp, set_rax);
}

/*
 * Every guest-visible fault lands here: copy on write is resolved and the
 * store retried; a probe resumes after its access with RAX = MARK;
 * anything else ends the guest with a failure. (g_pf_return does not
 * come back: the kernel resumes the interrupted context.)
 */
GUEST void vivo_g_pf(struct gstate *g, uint64_t cr2, uint64_t err, uint64_t rip,
		     uint64_t rsp)
{
	g->faults++;
	g->last_cr2 = cr2;
	g->last_err = (uint32_t)err;
	g_mix(g, cr2 ^ (err << 56));
	if (err == (PF_P | PF_W | PF_U) && g_cow(g, cr2)) {
		g_pf_return(rip, 0, rsp, 0);
	} else if (rip == g->va_load) {
		g_pf_return(g->va_load_end, MARK, rsp, 1);
	} else if (rip == g->va_store) {
		g_pf_return(g->va_store_end, MARK, rsp, 1);
	} else if (rip == cr2 && (err & PF_I) &&
		   *(volatile uint64_t *)(uintptr_t)rsp == g->va_fetch_ret) {
		g_pf_return(g->va_fetch_ret, MARK, rsp + 8, 1);
	}
	G_CHECK(g, false);
	vivo_g_hcall(HC_EXIT, g->sum, g->bad, g->first_bad_line, cr2);
}

/* --- guest: address spaces ----------------------------------------------- */

/* A new address space with n pages; contents written through the window. */
static GUEST void g_as_build(struct gstate *g, struct g_as *as, unsigned n)
{
	as->pml4 = g_new_pml4(g);
	as->n = n;
	for (unsigned i = 0; i < n; i++) {
		uint64_t va = g_pick_va(g, as->pml4);
		unsigned f = g_alloc_data(g);
		g_map(g, as->pml4, va, f, g_page_flags(i));
		as->va[i] = va;
		as->frame[i] = (uint16_t)f;
		g->stamp[f] = ++g->next_stamp;
		g_fill(g, g_win(g, g_gpa(g, f)), g->stamp[f]);
	}
}

/*
 * The leaf's A and D as the architecture promises them: A once the page
 * was accessed, D exactly when it was written (never for reads alone).
 * Comparing memory with the native run leaves A/D aside, so this is where
 * the engine's A/D emulation is checked.
 */
static GUEST void g_check_ad(struct gstate *g, uint64_t pml4, uint64_t va,
			     bool written, unsigned line)
{
	volatile uint64_t *e = g_entry(g, pml4, va, 1, false);
	uint64_t want = PTE_A | (written ? PTE_D : 0);

	g_check(g, e != NULL && (*e & PTE_AD) == want, line);
}

/*
 * Rewrite every step-th writable page (from `first`) through its own
 * address; returns how many. A copy-on-write fault may move the page to
 * a new frame in the middle: the frame is read again after the stores.
 */
static GUEST unsigned g_as_write(struct gstate *g, struct g_as *as,
				 unsigned step, unsigned first)
{
	unsigned wrote = 0;

	for (unsigned i = first; i < as->n; i += step) {
		if (as->frame[i] == 0 || (g_page_flags(i) & PTE_W) == 0) {
			continue;
		}
		uint32_t s = ++g->next_stamp;
		g_fill(g, g_at(as->va[i]), s);
		g->stamp[as->frame[i]] = s;
		g_check_ad(g, as->pml4, as->va[i], true, __LINE__);
		wrote++;
	}
	return wrote;
}

static GUEST void g_as_verify(struct gstate *g, struct g_as *as, unsigned step)
{
	for (unsigned i = 0; i < as->n; i += step) {
		if (as->frame[i] != 0) {
			g_verify(g, g_at(as->va[i]), g->stamp[as->frame[i]], __LINE__);
		}
	}
}

/*
 * Free a whole tree that is not live (no flush: its translations left
 * the TLB with the CR3 load that made another tree current). Every entry
 * is cleared, so freed tables are all zero; the shared template slots are
 * cleared, not followed.
 */
static GUEST void g_free_tree(struct gstate *g, uint64_t table, unsigned level)
{
	volatile uint64_t *t = g_win(g, table);

	for (unsigned i = 0; i < 512; i++) {
		uint64_t e = t[i];
		if (!(e & PTE_P)) {
			continue;
		}
		bool shared = level == 4 && (i == 0 || i == 1 || i == 32);
		if (level > 1 && !shared) {
			g_free_tree(g, e & PTE_ADDR, level - 1);
		} else if (level == 1) {
			g_put_data(g, g_frame_of(g, e));
		}
		vivo_g_pte_store(&t[i], 0);
	}
	g_put_table(g, g_frame_of(g, table));
}

/* --- guest: phases ------------------------------------------------------- */

static GUEST void g_phase_build(struct gstate *g, struct g_as *as)
{
	g_as_build(g, as, AS_PAGES);
	g_cr3(g, as->pml4);
	g_as_verify(g, as, 1);
	for (unsigned i = 0; i < as->n; i++) {
		g_check_ad(g, as->pml4, as->va[i], false, __LINE__); /* read only */
	}
	G_CHECK(g, g_as_write(g, as, 1, 0) == AS_PAGES - AS_PAGES / 8);
	g_as_verify(g, as, 1);
	g_check_ad(g, as->pml4, as->va[7], false, __LINE__); /* never written */
}

/* Faults with exact error codes: not present, read-only, NX, supervisor. */
static GUEST void g_phase_probes(struct gstate *g, struct g_as *as)
{
	uint64_t hole = g_pick_va(g, as->pml4), ro = as->va[7], nx = as->va[0];
	uint64_t k = g->kern_va;

	G_EXPECT(g, vivo_g_probe_load(hole), hole, PF_U);
	G_EXPECT(g, vivo_g_probe_store(hole, 1), hole, PF_U | PF_W);
	G_EXPECT(g, vivo_g_probe_fetch(hole), hole, PF_U | PF_I);
	G_EXPECT(g, vivo_g_probe_load(ro), ro, E_NONE);
	G_EXPECT(g, vivo_g_probe_store(ro + 8, 1), ro + 8, PF_P | PF_U | PF_W);
	G_EXPECT(g, vivo_g_probe_fetch(nx), nx, PF_P | PF_U | PF_I);
	G_EXPECT(g, vivo_g_probe_fetch(g->va_ret), g->va_ret, E_NONE);
	G_EXPECT(g, vivo_g_probe_load(k), k, PF_P | PF_U);
	G_EXPECT(g, vivo_g_probe_store(k, 1), k, PF_P | PF_U | PF_W);
	G_EXPECT(g, vivo_g_probe_fetch(k), k, PF_P | PF_U | PF_I);
	/* Past the end of guest RAM in the window: no leaf there. */
	uint64_t past = g->win_va + (uint64_t)G_FRAMES * PG + 0x10;
	G_EXPECT(g, vivo_g_probe_load(past), past, PF_U);
}

/* Sixteen pages behind one page table, set up for the alias phase. */
/* Sixteen pages behind one page table, their contents written first. */
static GUEST uint64_t g_alias_table(struct gstate *g, unsigned *frames)
{
	uint64_t pt = g_gpa(g, g_alloc_table(g));

	for (unsigned j = 0; j < 16; j++) {
		frames[j] = g_alloc_data(g);
		g->stamp[frames[j]] = ++g->next_stamp;
		g_fill(g, g_win(g, g_gpa(g, frames[j])), g->stamp[frames[j]]);
		vivo_g_pte_store(g_win(g, pt) + j, g_gpa(g, frames[j]) | PTE_P |
							  PTE_W | PTE_U | PTE_NX);
	}
	return pt;
}

/* Switch to root and read the alias pages j0, j0 + 1, ... < j1 there. */
static GUEST void g_alias_visit(struct gstate *g, uint64_t root, uint64_t va,
				const unsigned *f, unsigned j0, unsigned j1)
{
	uint64_t back = g->cur_cr3;

	g_cr3(g, root);
	for (unsigned j = j0; j < j1; j++) {
		g_verify(g, g_at(va + j * PG), g->stamp[f[j]], __LINE__);
	}
	g_cr3(g, back);
}

/* Entry 5 of the shared table moves to a new frame; INVLPG where live. */
static GUEST void g_alias_retarget(struct gstate *g, uint64_t pt, unsigned *f)
{
	unsigned nf = g_alloc_data(g);

	g->stamp[nf] = ++g->next_stamp;
	g_fill(g, g_win(g, g_gpa(g, nf)), g->stamp[nf]);
	vivo_g_pte_store(g_win(g, pt) + 5,
			 g_gpa(g, nf) | PTE_P | PTE_W | PTE_U | PTE_NX);
	g_put_data(g, f[5]);
	f[5] = nf;
	g_hc(HC_INVLPG, ALIAS_VA + 5 * PG);
	g_hc(HC_INVLPG, ALIAS_VA + SZ_2M + 5 * PG);
}

/*
 * One page table under three directory entries with three sets of rights:
 * writable at ALIAS_VA and read-only 2 MiB higher in the live space, and
 * no-execute in a second space visited first (so its shadow is not the
 * newest). The engine needs one shadow per role; a store to the shared
 * table must reach all three, also the one no INVLPG touches, which the
 * guest next uses after a CR3 load.
 */
static GUEST void g_phase_alias(struct gstate *g, struct g_as *as)
{
	unsigned f[16];
	uint64_t pt = g_alias_table(g, f), wa = ALIAS_VA, rb = ALIAS_VA + SZ_2M;
	uint64_t other = g_new_pml4(g);
	volatile uint64_t *pde_b = g_entry(g, as->pml4, rb, 2, true);

	vivo_g_pte_store(g_entry(g, other, wa, 2, true),
			 pt | PTE_P | PTE_W | PTE_U | PTE_NX);
	g_alias_visit(g, other, wa, f, 0, 16);
	vivo_g_pte_store(g_entry(g, as->pml4, wa, 2, true), pt | PTE_P | PTE_W | PTE_U);
	vivo_g_pte_store(pde_b, pt | PTE_P | PTE_U);
	for (unsigned j = 0; j < 16; j++) {
		g->stamp[f[j]] = ++g->next_stamp;
		g_fill(g, g_at(wa + j * PG), g->stamp[f[j]]);
		g_verify(g, g_at(rb + j * PG), g->stamp[f[j]], __LINE__);
	}
	G_EXPECT(g, vivo_g_probe_store(rb + 3 * PG, 1), rb + 3 * PG,
		 PF_P | PF_U | PF_W);
	g_alias_retarget(g, pt, f);
	g_verify(g, g_at(wa + 5 * PG), g->stamp[f[5]], __LINE__);
	g_verify(g, g_at(rb + 5 * PG), g->stamp[f[5]], __LINE__);
	g_alias_visit(g, other, wa, f, 0, 16);
	/* The read-only entry becomes writable: an upper entry, so flush all. */
	vivo_g_pte_store(pde_b, *pde_b | PTE_W);
	g_hc(HC_FLUSH, 0);
	g->stamp[f[6]] = ++g->next_stamp;
	g_fill(g, g_at(rb + 6 * PG), g->stamp[f[6]]);
	g_verify(g, g_at(wa + 6 * PG), g->stamp[f[6]], __LINE__);
}

/* Stamp every step-th 4K part of the 2 MiB page through BIG_VA. */
static GUEST void g_big_write(struct gstate *g, unsigned step)
{
	for (unsigned j = 0; j < 512; j += step) {
		g->stamp[g->big_frame + j] = ++g->next_stamp;
		g_fill(g, g_at(BIG_VA + j * PG), g->stamp[g->big_frame + j]);
	}
}

/* Read all 512 parts back, through BIG_VA or through the window. */
static GUEST void g_big_verify(struct gstate *g, bool window)
{
	for (unsigned j = 0; j < 512; j++) {
		volatile uint64_t *win = g_win(g, g_gpa(g, g->big_frame + j));
		uint64_t va = window ? (uint64_t)(uintptr_t)win : BIG_VA + j * PG;
		g_verify(g, g_at(va), g->stamp[g->big_frame + j], __LINE__);
	}
}

/*
 * A second, clean (D=0) 2 MiB entry for the same frames: a read through
 * it (part 2) sets only its A; a write (part 1, whose frame the first
 * entry has written) must set its own D, however dirty the first entry's
 * view of that frame is.
 */
static GUEST void g_big_second(struct gstate *g, struct g_as *as)
{
	uint64_t va = BIG_VA + SZ_2M;
	volatile uint64_t *pde = g_entry(g, as->pml4, va, 2, true);
	uint32_t *st = &g->stamp[g->big_frame];

	vivo_g_pte_store(pde, g_gpa(g, g->big_frame) | PTE_P | PTE_W | PTE_U |
				      PTE_PS | PTE_NX);
	g_verify(g, g_at(va + 2 * PG), st[2], __LINE__);
	G_CHECK(g, (*pde & PTE_AD) == PTE_A);
	st[1] = ++g->next_stamp;
	g_fill(g, g_at(va + PG), st[1]);
	G_CHECK(g, (*pde & PTE_AD) == PTE_AD);
	vivo_g_pte_store(pde, 0);
	g_hc(HC_INVLPG, va);
}

/* A guest 2 MiB page: written, made read-only, then split into 4K. */
static GUEST void g_phase_big(struct gstate *g, struct g_as *as)
{
	volatile uint64_t *pde = g_entry(g, as->pml4, BIG_VA, 2, true);

	vivo_g_pte_store(pde, g_gpa(g, g->big_frame) | PTE_P | PTE_W | PTE_U |
				      PTE_PS | PTE_NX);
	g->pages_mapped++;
	G_EXPECT(g, vivo_g_probe_load(BIG_VA + 0x3000), BIG_VA + 0x3000, E_NONE);
	G_CHECK(g, (*pde & PTE_AD) == PTE_A); /* read: A, not D */
	g_big_write(g, 1);
	G_CHECK(g, (*pde & PTE_AD) == PTE_AD);
	g_big_verify(g, true);
	g_big_second(g, as);
	vivo_g_pte_store(pde, *pde & ~PTE_W);
	g_hc(HC_INVLPG, BIG_VA);
	uint64_t w = BIG_VA + 0x5008;
	G_EXPECT(g, vivo_g_probe_store(w, 1), w, PF_P | PF_U | PF_W);
	G_EXPECT(g, vivo_g_probe_load(w), w, E_NONE);
	/* Split: a fresh page table of the same frames replaces the leaf. */
	uint64_t pt = g_gpa(g, g_alloc_table(g));
	for (unsigned j = 0; j < 512; j++) {
		vivo_g_pte_store(g_win(g, pt) + j, g_gpa(g, g->big_frame + j) | PTE_P |
							   PTE_W | PTE_U | PTE_NX);
	}
	vivo_g_pte_store(pde, pt | PTE_P | PTE_W | PTE_U);
	g_hc(HC_FLUSH, 0);
	g->pages_mapped += 512;
	g_big_verify(g, false);
	g_big_write(g, 8);
	g_big_verify(g, true);
}

/* Drop the page table under as->va[i] with every page in it; flush. */
static GUEST void g_drop_table(struct gstate *g, struct g_as *as, unsigned i)
{
	uint64_t va = as->va[i];
	volatile uint64_t *pde = g_entry(g, as->pml4, va, 2, false);

	for (unsigned k = 0; k < as->n; k++) {
		if (as->frame[k] != 0 && (as->va[k] >> 21) == (va >> 21)) {
			vivo_g_pte_store(g_entry(g, as->pml4, as->va[k], 1, false), 0);
			g_put_data(g, as->frame[k]);
			as->frame[k] = 0;
		}
	}
	unsigned pt = g_frame_of(g, *pde);
	vivo_g_pte_store(pde, 0);
	g_put_table(g, pt);
	g_hc(HC_FLUSH, 0);
	G_EXPECT(g, vivo_g_probe_load(va), va, PF_U);
}

/* Fill the empty slots with new pages at new addresses (frames reused). */
static GUEST void g_as_refill(struct gstate *g, struct g_as *as)
{
	for (unsigned i = 0; i < as->n; i++) {
		if (as->frame[i] != 0) {
			continue;
		}
		uint64_t va = g_pick_va(g, as->pml4);
		unsigned f = g_alloc_data(g);
		g->stamp[f] = ++g->next_stamp;
		g_fill(g, g_win(g, g_gpa(g, f)), g->stamp[f]);
		g_map(g, as->pml4, va, f, g_page_flags(i));
		as->va[i] = va;
		as->frame[i] = (uint16_t)f;
	}
}

/* Unmap a third of the live space, drop one page table, map anew. */
static GUEST void g_phase_shrink(struct gstate *g, struct g_as *as)
{
	for (unsigned i = 1; i < as->n; i += 3) {
		if (as->frame[i] != 0) {
			g_unmap(g, as->pml4, as->va[i]);
			g_put_data(g, as->frame[i]);
			as->frame[i] = 0;
		}
	}
	G_EXPECT(g, vivo_g_probe_load(as->va[1]), as->va[1], PF_U);
	G_EXPECT(g, vivo_g_probe_store(as->va[4], 1), as->va[4], PF_U | PF_W);
	g_drop_table(g, as, 2);
	g_as_refill(g, as);
	g_as_verify(g, as, 1);
	g_as_write(g, as, 2, 0);
	g_as_verify(g, as, 1);
}

/* Child shares every page; writable ones turn copy-on-write in both. */
static GUEST void g_fork(struct gstate *g, struct g_as *pa, struct g_as *ch)
{
	ch->pml4 = g_new_pml4(g);
	ch->n = pa->n;
	for (unsigned i = 0; i < pa->n; i++) {
		unsigned f = pa->frame[i];
		ch->va[i] = pa->va[i];
		ch->frame[i] = (uint16_t)f;
		if (f == 0) {
			continue;
		}
		volatile uint64_t *pe = g_entry(g, pa->pml4, pa->va[i], 1, false);
		uint64_t v = *pe;
		if (v & PTE_W) {
			v = (v & ~PTE_W) | PTE_COW;
			vivo_g_pte_store(pe, v);
		}
		vivo_g_pte_store(g_entry(g, ch->pml4, pa->va[i], 1, true), v & ~PTE_AD);
		g->ref[f]++;
		g->pages_mapped++;
	}
}

/* Writes that must each take exactly one copy-on-write fault (err 7). */
static GUEST void g_cow_writes(struct gstate *g, struct g_as *as, unsigned step,
			       unsigned first)
{
	uint32_t before = g->faults;
	unsigned wrote = g_as_write(g, as, step, first);

	G_CHECK(g, wrote > 0 && g->faults - before == wrote);
	G_CHECK(g, g->last_err == (PF_P | PF_U | PF_W));
}

static GUEST void g_phase_fork(struct gstate *g, struct g_as *pa, struct g_as *ch)
{
	g_fork(g, pa, ch);
	g_hc(HC_FLUSH, 0); /* the live parent's entries lost W */
	g_cow_writes(g, pa, 24, 5); /* relies on that flush alone */
	g_cr3(g, ch->pml4);
	g_as_verify(g, ch, 1);
	g_cow_writes(g, ch, 4, 0);
	g_cr3(g, pa->pml4);
	g_as_verify(g, pa, 1);
	g_cow_writes(g, pa, 3, 1);
	for (unsigned k = 0; k < 8; k++) {
		struct g_as *as = (k & 1) ? pa : ch;
		g_cr3(g, as->pml4);
		g_as_verify(g, as, 1 + (k & 3));
	}
}

/* The child goes away; a third space reuses its frames and tables. */
static GUEST void g_phase_rebuild(struct gstate *g, struct g_as *ch, struct g_as *as2)
{
	g_free_tree(g, ch->pml4, 4);
	ch->pml4 = 0;
	ch->n = 0;
	g_as_build(g, as2, AS_PAGES);
	g_cr3(g, as2->pml4);
	g_as_verify(g, as2, 1);
	g_as_write(g, as2, 1, 0);
	g_as_verify(g, as2, 1);
	G_EXPECT(g, vivo_g_probe_store(as2->va[15], 1), as2->va[15],
		 PF_P | PF_U | PF_W);
}

/* CR3 round trips between the spaces and the template, then the end. */
static GUEST void g_phase_final(struct gstate *g)
{
	struct g_as *a0 = &g->as[0], *a2 = &g->as[2];

	for (unsigned k = 0; k < 9; k++) {
		unsigned which = k % 3;
		g_cr3(g, which == 0 ? a0->pml4 : which == 1 ? a2->pml4 : g->tmpl_cr3);
		if (which == 2) {
			G_EXPECT(g, vivo_g_probe_load(a0->va[0]), a0->va[0], PF_U);
		} else {
			g_as_verify(g, which == 0 ? a0 : a2, 1 + k);
		}
	}
	g_cr3(g, a0->pml4);
	g_as_verify(g, a0, 1);
	g_mix(g, g->pages_mapped);
	g_mix(g, g->faults);
	g_mix(g, g->cow_copies);
}

GUEST void vivo_g_main(struct gstate *g)
{
	g->rng = g->seed;
	g->sum = g->seed;
	g->cur_cr3 = g->tmpl_cr3;
	g->fresh = g->first_free;
	g_phase_build(g, &g->as[0]);
	g_phase_probes(g, &g->as[0]);
	g_phase_alias(g, &g->as[0]);
	g_phase_big(g, &g->as[0]);
	g_phase_shrink(g, &g->as[0]);
	g_phase_fork(g, &g->as[0], &g->as[1]);
	g_phase_rebuild(g, &g->as[1], &g->as[2]);
	g_phase_final(g);
	vivo_g_hcall(HC_EXIT, g->sum, g->bad, g->first_bad_line, 0);
}

/* ------------------------------------------------------------------------ */
/* The hypervisor                                                            */
/* ------------------------------------------------------------------------ */

#define LOG_MAX 1024u
#define SH_PAGES_BIG 1024u
#define SH_PAGES_SMALL 40u
#define REPEAT_MAX 64u

/* One guest-visible fault, as the guest's handler receives it. */
struct fault_rec {
	uint64_t cr2, rip;
	uint32_t err, pad_;
};

/* One run of the guest program. */
struct run {
	const char *name;
	bool shadow;
	uint32_t max_pages;     /* shadow: the engine's pool limit */
	uint8_t *ram;           /* host view of guest RAM */
	uint64_t cur_cr3;       /* the guest's CR3 */
	bool booted, in_upcall, done;
	struct kx_regs saved;   /* the context a #PF upcall interrupted */
	uint64_t exit_sum, exit_bad, exit_line;
	/* counters */
	uint64_t exits, hcalls, pf, fixed, emulated, injected, cr3_loads;
	uint64_t invlpgs, flushes, prefaults, repeat_max;
	uint64_t last_rip, last_cr2, repeat;
	unsigned nlog;
	uint64_t nfaults;
	struct fault_rec log[LOG_MAX];
	uint64_t frame_hash[G_FRAMES];
	uint64_t tsc;              /* time stamp counter ticks the run took */
	struct vmmu_platform gplat; /* guest-physical memory of this run */
	struct vmmu_walker dec;    /* the guest's walk, for instruction fetch */
	struct vmmu_shadow sh;
	struct vmmu_shadow_vcpu v;
};

static struct run runs[3];
static struct run *cur;     /* the run the trap hook serves */
static bool in_hook;
static uint64_t host_cr3;
static uint64_t kstart, kend; /* the kernel image, page aligned */
static struct vmmu_fmt vfmt;  /* guest and shadow tables: x86-64, 4-level */
static struct vmmu_cpu_state vcpu_state;
static struct vmmu_shadow_page sh_pages[SH_PAGES_BIG];

/* --- kernel: guest memory ------------------------------------------------ */

/* Host pointer for a guest-physical address, or NULL: RAM or the kernel. */
static void *gptr(const struct run *rn, uint64_t gpa)
{
	if (gpa - GRAM_GPA < GRAM_SIZE) {
		return rn->ram + (gpa - GRAM_GPA);
	}
	if (gpa >= kstart && gpa < kend) {
		return (void *)(uintptr_t)gpa;
	}
	return NULL;
}

static struct gstate *gstate_of(const struct run *rn)
{
	return (struct gstate *)(void *)rn->ram;
}

static uint64_t user_va(const char *sym)
{
	return kx_user_va(sym);
}

/* --- kernel: platforms and p2m ------------------------------------------- */

static int no_alloc(void *ctx, vmmu_hpa_t *frame)
{
	(void)ctx;
	(void)frame;
	return -VMMU_ENOMEM;
}

static void no_free(void *ctx, vmmu_hpa_t frame)
{
	(void)ctx;
	kx_tap_bail("vmmu freed %#lx through a guest platform", frame.v);
}

static void vivo_panic(void *ctx, const char *file, int line, const char *msg)
{
	(void)ctx;
	kx_tap_bail("vmmu panic at %s:%d: %s", file, line, msg);
}

static void *guest_map(void *ctx, uint64_t pa)
{
	return gptr(ctx, pa);
}

/* The guest platform: guest-physical memory for vmmu's guest walker. */
static const struct vmmu_platform_ops guest_ops = {
	.frame_alloc = no_alloc,
	.frame_free = no_free,
	.frame_map = guest_map,
	.panic = vivo_panic,
};

/* Guest RAM is backed at HRAM_HPA, the kernel image is identity. */
static int vivo_p2m(void *ctx, uint64_t gfn, uint64_t *hfn)
{
	uint64_t gpa = gfn << 12;

	(void)ctx;
	if (gpa - GRAM_GPA < GRAM_SIZE) {
		*hfn = (HRAM_HPA + (gpa - GRAM_GPA)) >> 12;
		return VMMU_P2M_RAM;
	}
	if (gpa >= kstart && gpa < kend) {
		*hfn = gfn;
		return VMMU_P2M_RAM;
	}
	return VMMU_P2M_ABSENT;
}

static const struct vmmu_shadow_ops vivo_sh_ops = {.p2m = vivo_p2m};

/* Shadow-table frames: a pool of its own, so leaks and reclaim show. */
static struct {
	uint16_t free[SPOOL_FRAMES];
	uint8_t used[SPOOL_FRAMES];
	unsigned top, out, out_max;
	uint64_t frees, flush_reqs;
} spool;

static void spool_reset(void)
{
	spool.top = 0;
	for (unsigned i = SPOOL_FRAMES; i-- > 0;) {
		spool.used[i] = 0;
		spool.free[spool.top++] = (uint16_t)i;
	}
	spool.out = spool.out_max = 0;
	spool.frees = spool.flush_reqs = 0;
}

static int spool_alloc(void *ctx, vmmu_hpa_t *frame)
{
	(void)ctx;
	if (spool.top == 0) {
		return -VMMU_ENOMEM;
	}
	unsigned i = spool.free[--spool.top];
	uint64_t pa = SPOOL_HPA + (uint64_t)i * PG;
	spool.used[i] = 1;
	spool.out++;
	spool.out_max = spool.out > spool.out_max ? spool.out : spool.out_max;
	memset((void *)(uintptr_t)pa, 0xa5, PG); /* vmmu must initialise it */
	*frame = vmmu_hpa(pa);
	return 0;
}

static void spool_free(void *ctx, vmmu_hpa_t frame)
{
	uint64_t off = frame.v - SPOOL_HPA;
	unsigned i = (unsigned)(off / PG);

	(void)ctx;
	if (frame.v < SPOOL_HPA || off % PG != 0 || i >= SPOOL_FRAMES ||
	    !spool.used[i]) {
		kx_tap_bail("vmmu freed a shadow frame it does not own: %#lx", frame.v);
	}
	spool.used[i] = 0;
	spool.out--;
	spool.frees++;
	memset((void *)(uintptr_t)frame.v, 0x5a, PG); /* use after free shows */
	spool.free[spool.top++] = (uint16_t)i;
}

/* Requests come while the kernel runs on its own tables (after a VM exit). */
static void spool_flush(void *ctx, const struct vmmu_tlb_req *req)
{
	(void)ctx;
	spool.flush_reqs++;
	if (req->scope == VMMU_TLB_RANGE && req->size <= 64 * PG) {
		for (uint64_t off = 0; off < req->size; off += PG) {
			kx_invlpg(req->addr + off);
		}
		return;
	}
	uint64_t cr4 = kx_read_cr4();
	if (cr4 & KX_CR4_PGE) {
		kx_write_cr4(cr4 & ~KX_CR4_PGE);
		kx_write_cr4(cr4);
	} else {
		kx_write_cr3(kx_read_cr3());
	}
}

static const struct vmmu_platform_ops host_ops = {
	.frame_alloc = spool_alloc,
	.frame_free = spool_free,
	.tlb_flush = spool_flush,
	.panic = vivo_panic,
};

static const struct vmmu_platform host_plat = {
	.ops = &host_ops,
	.direct_map_base = 0,
	.direct_map_size = KX_IDMAP_SIZE,
};

/* --- kernel: the working set on the guest's tables ----------------------- */

/* A kernel page the CPU and trap.S touch while CR3 is the guest's. */
struct ws_page {
	uint64_t va;
	bool write, exec;
};

#define WS_MAX 24u
static struct ws_page ws[WS_MAX];
static unsigned n_ws;

static void ws_add(uint64_t start, uint64_t end, bool write, bool exec)
{
	for (uint64_t va = start & ~(PG - 1); va < end; va += PG) {
		unsigned i = 0;
		while (i < n_ws && ws[i].va != va) {
			i++;
		}
		if (i == n_ws) {
			if (n_ws == WS_MAX) {
				kx_tap_bail("kernel working set over %u pages", WS_MAX);
			}
			ws[n_ws++] = (struct ws_page){.va = va};
		}
		ws[i].write |= write;
		ws[i].exec |= exec;
	}
}

struct __attribute__((packed)) desc_ptr {
	uint16_t limit;
	uint64_t base;
};

/*
 * Interrupt delivery reads the IDT, the GDT (and sets accessed bits in
 * it) and the TSS, and pushes on RSP0 (IST1 for #DF, so that a broken
 * delivery is still reported); trap.S runs its stubs and reads
 * kx_trap_host_cr3. Everything else runs after the switch to host tables.
 */
static void ws_init(void)
{
	struct desc_ptr gdtr, idtr;
	uint16_t tr;

	__asm__ volatile("sgdt %0" : "=m"(gdtr));
	__asm__ volatile("sidt %0" : "=m"(idtr));
	__asm__ volatile("str %0" : "=r"(tr));
	const uint64_t *gdt = (const uint64_t *)(uintptr_t)gdtr.base;
	uint64_t d = gdt[tr / 8];
	uint64_t tss = ((d >> 16) & 0xffffff) | (((d >> 56) & 0xff) << 24) |
		       (gdt[tr / 8 + 1] << 32);
	uint64_t rsp0 = *(const uint64_t *)(uintptr_t)(tss + 4);
	uint64_t ist1 = *(const uint64_t *)(uintptr_t)(tss + 36);

	ws_add(idtr.base, idtr.base + idtr.limit + 1u, false, false);
	ws_add(gdtr.base, gdtr.base + gdtr.limit + 1u, true, false);
	ws_add(tss, tss + 104, false, false);
	ws_add(rsp0 - 512, rsp0, true, false);
	ws_add(ist1 - 512, ist1, true, false);
	ws_add((uint64_t)(uintptr_t)kx_isr_stubs, (uint64_t)(uintptr_t)kx_isr_end,
	       false, true);
	ws_add((uint64_t)(uintptr_t)&kx_trap_host_cr3,
	       (uint64_t)(uintptr_t)&kx_trap_host_cr3 + 8, false, false);
}

/*
 * Is p mapped in the shadow tree at root as the CPU needs it (identity,
 * writable / executable at every level)? Read straight from the shadow
 * tables: the engine's own view is not what is being checked.
 */
static bool ws_mapped(uint64_t root, const struct ws_page *p)
{
	uint64_t table = root, e = 0;

	for (unsigned l = 4; l >= 1; l--) {
		const uint64_t *t = (const uint64_t *)(uintptr_t)table;
		e = t[(p->va >> (12 + 9 * (l - 1))) & 511];
		if (!(e & PTE_P) || (p->write && !(e & PTE_W)) ||
		    (p->exec && (e & PTE_NX)) || (l > 1 && (e & PTE_PS))) {
			return false;
		}
		table = e & PTE_ADDR;
	}
	if (table != p->va || (e & PTE_U)) {
		kx_tap_bail("shadow maps kernel page %#lx as %#lx", p->va, e);
	}
	return true;
}

/* Fault in what is missing; returns how many pages were. */
static unsigned ws_prefault(struct run *rn, uint64_t root)
{
	unsigned missing = 0;

	for (unsigned i = 0; i < n_ws; i++) {
		if (ws_mapped(root, &ws[i])) {
			continue;
		}
		struct vmmu_shadow_result res;
		uint32_t acc = ws[i].write ? VMMU_ACC_WRITE
			       : ws[i].exec ? VMMU_ACC_FETCH : VMMU_ACC_READ;
		int rc = vmmu_shadow_fault(&rn->v, ws[i].va, acc, &res);
		if (rc != 0 || res.outcome != VMMU_SHADOW_FIXED) {
			kx_tap_bail("%s: pre-fault of kernel page %#lx: rc %d "
				    "outcome %u", rn->name, ws[i].va, rc,
				    rc == 0 ? res.outcome : 0u);
		}
		rn->prefaults++;
		missing++;
	}
	return missing;
}

/* The shadow root to enter with, the kernel working set mapped in it. */
static uint64_t shadow_entry_root(struct run *rn)
{
	for (unsigned round = 0; round < 8; round++) {
		uint64_t root = 0;
		int rc = vmmu_shadow_root(&rn->v, &root);
		if (rc != 0) {
			kx_tap_bail("%s: vmmu_shadow_root: %s", rn->name,
				    vmmu_strerror(rc));
		}
		/* A pre-fault may reclaim: check the whole set again after one. */
		if (ws_prefault(rn, root) == 0) {
			return root;
		}
	}
	kx_tap_bail("%s: kernel working set never settled in the shadow", rn->name);
}

/* The CR3 the trap returns with: the guest's tables or the shadow root. */
static void vm_enter(struct run *rn)
{
	kx_trap_resume_cr3 = rn->shadow ? shadow_entry_root(rn) : rn->cur_cr3;
}

/* --- kernel: traps from the guest ("VM exits") --------------------------- */

static void log_fault(struct run *rn, uint64_t cr2, uint32_t err, uint64_t rip)
{
	if (rn->nlog < LOG_MAX) {
		rn->log[rn->nlog++] =
			(struct fault_rec){.cr2 = cr2, .rip = rip, .err = err};
	}
	rn->nfaults++;
}

/* Deliver a guest #PF to the guest's handler, on its exception stack. */
static void upcall(struct run *rn, struct kx_regs *r, uint64_t cr2, uint32_t err)
{
	log_fault(rn, cr2, err, r->rip);
	if (rn->in_upcall) {
		kx_tap_bail("%s: #PF at %#lx (error %#x, rip %#lx) inside the guest's "
			    "#PF handler", rn->name, cr2, err, r->rip);
	}
	rn->saved = *r;
	rn->in_upcall = true;
	r->rdi = GSTATE_VA;
	r->rsi = cr2;
	r->rdx = err;
	r->rcx = r->rip;
	r->r8 = r->rsp;
	r->rip = user_va(vivo_g_pf_entry);
	r->rsp = XSTACK_VA + XSTACK_PAGES * PG;
}

/* Do the n bytes at the guest's rip, fetched through its own tables, match? */
static bool guest_insn_is(struct run *rn, uint64_t rip, const uint8_t *want,
			  unsigned n)
{
	struct vmmu_walk w;
	int rc = vmmu_walk(&rn->dec, rn->cur_cr3, rip,
			   VMMU_ACC_FETCH | VMMU_ACC_USER | VMMU_ACC_PEEK, &w);

	if (rc != VMMU_WALK_OK || (w.addr & (PG - 1)) > PG - n) {
		return false;
	}
	const uint8_t *p = gptr(rn, w.addr);
	return p != NULL && memcmp(p, want, n) == 0;
}

/*
 * The guest stored to a page vmmu write-protects (one of its page tables).
 * Only the guest's page-table store is emulated, after decoding it from
 * guest memory: MOV %RSI,(%RDI), 8 bytes to CR2; anything else is a bug.
 */
static void emulate_pte_store(struct run *rn, struct kx_regs *r, uint64_t cr2,
			      const struct vmmu_shadow_result *res)
{
	static const uint8_t mov_rsi_to_mrdi[3] = {0x48, 0x89, 0x37};

	if (r->rip != user_va(vivo_g_pte_store_insn) ||
	    !guest_insn_is(rn, r->rip, mov_rsi_to_mrdi, 3) || r->rdi != cr2 ||
	    (cr2 & 7) != 0 || (res->gpa & (PG - 1)) != (cr2 & (PG - 1))) {
		kx_tap_bail("%s: refusing to emulate a write to %#lx (gpa %#lx) at "
			    "rip %#lx: not the guest's page-table store",
			    rn->name, cr2, res->gpa, r->rip);
	}
	int rc = vmmu_shadow_write(&rn->v, res->gpa, r->rsi, 8);
	if (rc != 0) {
		kx_tap_bail("%s: vmmu_shadow_write(%#lx): %s", rn->name, res->gpa,
			    vmmu_strerror(rc));
	}
	r->rip += 3;
	rn->emulated++;
}

/* A fill that the guest does not see; no progress for long is a bug. */
static void note_fixed(struct run *rn, uint64_t rip, uint64_t cr2)
{
	rn->fixed++;
	if (rip == rn->last_rip && cr2 == rn->last_cr2) {
		if (++rn->repeat > REPEAT_MAX) {
			kx_tap_bail("%s: %lu fills in a row for %#lx at rip %#lx",
				    rn->name, rn->repeat, cr2, rip);
		}
	} else {
		rn->repeat = 0;
		rn->last_rip = rip;
		rn->last_cr2 = cr2;
	}
	rn->repeat_max = rn->repeat > rn->repeat_max ? rn->repeat : rn->repeat_max;
}

/* A #PF on the shadow tables: fill, emulate or inject, as vmmu says. */
static void shadow_pf(struct run *rn, struct kx_regs *r, uint64_t cr2)
{
	uint32_t err = (uint32_t)r->error;
	struct vmmu_shadow_result res;

	if (err & VMMU_PFEC_RSVD) {
		kx_tap_bail("%s: reserved bit in a shadow entry for %#lx (error %#x)",
			    rn->name, cr2, err);
	}
	int rc = vmmu_shadow_fault(&rn->v, cr2, err & (PF_W | PF_U | PF_I), &res);
	if (rc != 0) {
		kx_tap_bail("%s: vmmu_shadow_fault(%#lx, error %#x): %s", rn->name,
			    cr2, err, vmmu_strerror(rc));
	}
	if (res.outcome == VMMU_SHADOW_FIXED) {
		note_fixed(rn, r->rip, cr2);
		return;
	}
	rn->last_rip = 0;
	if (res.outcome == VMMU_SHADOW_EMULATE) {
		emulate_pte_store(rn, r, cr2, &res);
	} else if (res.outcome == VMMU_SHADOW_INJECT) {
		rn->injected++;
		upcall(rn, r, cr2, res.pfec);
	} else {
		kx_tap_bail("%s: vmmu_shadow_fault(%#lx) outcome %u at rip %#lx",
			    rn->name, cr2, res.outcome, r->rip);
	}
}

static void vm_load_cr3(struct run *rn, uint64_t cr3)
{
	if ((cr3 & (PG - 1)) != 0 || cr3 - GRAM_GPA >= GRAM_SIZE) {
		kx_tap_bail("%s: guest CR3 %#lx outside its RAM", rn->name, cr3);
	}
	rn->cur_cr3 = cr3;
	rn->cr3_loads++;
	int rc = rn->shadow ? vmmu_shadow_new_cr3(&rn->v, cr3) : 0;
	if (rc != 0) {
		kx_tap_bail("%s: vmmu_shadow_new_cr3(%#lx): %s", rn->name, cr3,
			    vmmu_strerror(rc));
	}
}

/*
 * Guest INVLPG. Native: the guest's translations carry no PCID, so an
 * INVLPG here drops them as the guest's own would.
 */
static void vm_invlpg(struct run *rn, uint64_t va)
{
	int rc = 0;

	rn->invlpgs++;
	if (rn->shadow) {
		rc = vmmu_shadow_invlpg(&rn->v, va);
	} else {
		kx_invlpg(va);
	}
	if (rc != 0) {
		kx_tap_bail("%s: vmmu_shadow_invlpg(%#lx): %s", rn->name, va,
			    vmmu_strerror(rc));
	}
}

/* Guest full TLB flush. Native: nothing, the MOV CR3 on the way back is one. */
static void vm_flush(struct run *rn)
{
	int rc = rn->shadow ? vmmu_shadow_flush_tlb(&rn->v) : 0;

	rn->flushes++;
	if (rc != 0) {
		kx_tap_bail("%s: vmmu_shadow_flush_tlb: %s", rn->name, vmmu_strerror(rc));
	}
}

/* Back from the guest's #PF handler: the saved context, RIP/RSP/RAX as asked. */
static void vm_pf_return(struct run *rn, struct kx_regs *r)
{
	uint64_t rip = r->rdi, rax = r->rsi, rsp = r->rdx, set_rax = r->r10;
	uint64_t text = (uint64_t)(__user_text_end - __user_text_start);

	if (!rn->in_upcall || rip - KX_USER_TEXT_VA >= text) {
		kx_tap_bail("%s: bad #PF return to %#lx", rn->name, rip);
	}
	*r = rn->saved;
	r->rip = rip;
	r->rsp = rsp;
	if (set_rax & 1) {
		r->rax = rax;
	}
	rn->in_upcall = false;
}

/* First trap: from the entry stub, still on the kernel's tables. */
static bool vm_boot(struct run *rn, struct kx_regs *r)
{
	if (rn->booted) {
		kx_tap_bail("%s: guest booted twice", rn->name);
	}
	rn->booted = true;
	r->rip = user_va(vivo_g_start);
	r->rsp = USTACK_VA + USTACK_PAGES * PG;
	r->rdi = GSTATE_VA;
	r->rflags = 0x2;
	return true;
}

/* UD2 at the hypercall RIP. Returns false when the guest is done. */
static bool vm_hcall(struct run *rn, struct kx_regs *r)
{
	if (r->rip == user_va(vivo_g_boot_ud2) && r->rax == HC_BOOT) {
		return vm_boot(rn, r);
	}
	if (r->rip != user_va(vivo_g_hcall_ud2)) {
		kx_tap_bail("%s: #UD at rip %#lx, not the hypercall", rn->name, r->rip);
	}
	rn->hcalls++;
	switch (r->rax) {
	case HC_CR3:
		vm_load_cr3(rn, r->rdi);
		break;
	case HC_INVLPG:
		vm_invlpg(rn, r->rdi);
		break;
	case HC_FLUSH:
		vm_flush(rn);
		break;
	case HC_PF_RETURN:
		vm_pf_return(rn, r);
		return true;
	case HC_EXIT:
		rn->exit_sum = r->rdi;
		rn->exit_bad = r->rsi;
		rn->exit_line = r->rdx;
		rn->done = true;
		return false;
	default:
		kx_tap_bail("%s: unknown hypercall %#lx", rn->name, r->rax);
	}
	r->rip += 2;
	r->rax = 0;
	return true;
}

static bool vm_exit(struct run *rn, struct kx_regs *r)
{
	if (r->vector == 6) {
		return vm_hcall(rn, r);
	}
	if (r->vector != 14) {
		kx_tap_bail("%s: guest raised %s (error %#lx) at rip %#lx", rn->name,
			    kx_vector_name((int)r->vector), r->error, r->rip);
	}
	uint64_t cr2 = kx_read_cr2();
	rn->pf++;
	if (rn->shadow) {
		shadow_pf(rn, r, cr2);
	} else {
		upcall(rn, r, cr2, (uint32_t)r->error);
	}
	return true;
}

/*
 * kx_trap_hook while the guest runs; trap.S has already switched to the
 * kernel's tables. Returns true to resume the guest (trap.S loads the CR3
 * vm_enter chose), false when it is done (kx_user's recovery returns).
 */
static bool vivo_hook(struct kx_regs *r)
{
	struct run *rn = cur;

	if (rn == NULL || in_hook) {
		return false; /* a trap in the hook itself: the runtime reports */
	}
	in_hook = true;
	if ((r->cs & 3) != 3) {
		kx_tap_bail("%s: ring-0 %s (error %#lx) at rip %#lx, cr2 %#lx, on CR3 "
			    "%#lx (guest CR3 %#lx): the kernel's working set was "
			    "not mapped", rn->name, kx_vector_name((int)r->vector),
			    r->error, r->rip, kx_read_cr2(), kx_trap_from_cr3,
			    rn->cur_cr3);
	}
	rn->exits++;
	bool resume = vm_exit(rn, r);
	if (resume) {
		vm_enter(rn);
	} else {
		kx_trap_resume_cr3 = host_cr3;
	}
	in_hook = false;
	return resume;
}

/* --- kernel: loading the guest ------------------------------------------- */

/* The loader's platform: table frames from guest RAM, handed out in order. */
struct loader {
	struct run *rn;
	unsigned next;
};

static int loader_alloc(void *ctx, vmmu_hpa_t *frame)
{
	struct loader *l = ctx;

	if (l->next >= 64) {
		return -VMMU_ENOMEM;
	}
	*frame = vmmu_hpa(GRAM_GPA + (uint64_t)l->next++ * PG);
	return 0;
}

static void *loader_map(void *ctx, uint64_t pa)
{
	return gptr(((struct loader *)ctx)->rn, pa);
}

static const struct vmmu_platform_ops loader_ops = {
	.frame_alloc = loader_alloc,
	.frame_free = no_free,
	.frame_map = loader_map,
	.panic = vivo_panic,
};

static void must(int rc, const char *what)
{
	if (rc != 0) {
		kx_tap_bail("%s: %s (%d)", what, vmmu_strerror(rc), rc);
	}
}

static void loader_map_range(struct vmmu_pt *pt, uint64_t va, uint64_t pa,
			     uint64_t size, uint32_t perm, const char *what)
{
	struct vmmu_prot prot = {.perm = perm};

	must(vmmu_pt_map(pt, va, pa, size, &prot, VMMU_PT_4K_ONLY), what);
}

/* The template tree: kernel (supervisor), window, code and stacks. */
static uint64_t load_tables(struct run *rn, unsigned *next)
{
	struct loader l = {.rn = rn, .next = *next + USTACK_PAGES + XSTACK_PAGES};
	const struct vmmu_platform plat = {.ops = &loader_ops, .ctx = &l};
	uint64_t ustack = GRAM_GPA + (uint64_t)*next * PG;
	uint64_t xstack = ustack + USTACK_PAGES * PG;
	struct vmmu_pt pt;

	must(vmmu_pt_init(&pt, &vfmt, &plat), "loader: vmmu_pt_init");
	loader_map_range(&pt, kstart, kstart, kend - kstart,
			 VMMU_PERM_R | VMMU_PERM_W | VMMU_PERM_X, "loader: kernel");
	loader_map_range(&pt, WIN_VA, GRAM_GPA, GRAM_SIZE,
			 VMMU_PERM_R | VMMU_PERM_W | VMMU_PERM_U, "loader: window");
	loader_map_range(&pt, KX_USER_TEXT_VA, (uint64_t)(uintptr_t)__user_text_start,
			 (uint64_t)(__user_text_end - __user_text_start),
			 VMMU_PERM_R | VMMU_PERM_X | VMMU_PERM_U, "loader: code");
	loader_map_range(&pt, USTACK_VA, ustack, USTACK_PAGES * PG,
			 VMMU_PERM_R | VMMU_PERM_W | VMMU_PERM_U, "loader: stack");
	loader_map_range(&pt, XSTACK_VA, xstack, XSTACK_PAGES * PG,
			 VMMU_PERM_R | VMMU_PERM_W | VMMU_PERM_U, "loader: #PF stack");
	*next = l.next;
	return pt.root.v; /* the tree lives on in guest RAM; pt is dropped */
}

static void load_kinds(struct gstate *g, unsigned stacks, unsigned end)
{
	for (unsigned f = 0; f < G_FRAMES; f++) {
		g->kind[f] = f < G_STATE_FRAMES ? K_STATE
			     : f < stacks + USTACK_PAGES + XSTACK_PAGES
				     ? K_STACK
			     : f < end	       ? K_LTABLE
			     : f >= BIG_FRAME ? K_BIG
					      : K_FREE;
	}
}

/* Fresh guest RAM: template tables, stacks, and the state the guest reads. */
static void load_guest(struct run *rn, uint64_t seed)
{
	unsigned next = G_STATE_FRAMES;
	struct gstate *g = gstate_of(rn);

	memset(rn->ram, 0, GRAM_SIZE);
	uint64_t root = load_tables(rn, &next);
	load_kinds(g, G_STATE_FRAMES, next);
	g->seed = seed;
	g->ram_gpa = GRAM_GPA;
	g->win_va = WIN_VA;
	g->tmpl_cr3 = root;
	g->kern_va = kstart;
	g->va_load = user_va(vivo_g_probe_load_insn);
	g->va_load_end = user_va(vivo_g_probe_load_end);
	g->va_store = user_va(vivo_g_probe_store_insn);
	g->va_store_end = user_va(vivo_g_probe_store_end);
	g->va_fetch_ret = user_va(vivo_g_probe_fetch_ret);
	g->va_ret = user_va(vivo_g_ret);
	g->first_free = next;
	g->big_frame = BIG_FRAME;
	rn->cur_cr3 = root;
	rn->gplat = (struct vmmu_platform){.ops = &guest_ops, .ctx = rn};
	must(vmmu_walker_init(&rn->dec, &vfmt, &rn->gplat, &vcpu_state),
	     "vmmu_walker_init");
}

/* --- kernel: runs and their comparison ----------------------------------- */

static uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

/* Run the guest from its entry stub until its exit hypercall. */
static void run_guest(struct run *rn)
{
	struct kx_trap t;
	uint64_t t0 = rdtsc();

	cur = rn;
	kx_trap_hook = vivo_hook;
	kx_trap_resume_cr3 = host_cr3;
	kx_trap_host_cr3 = host_cr3;
	int vec = kx_user(user_va(vivo_g_boot), 0, 0, 0, &t);
	kx_trap_host_cr3 = 0;
	kx_trap_hook = NULL;
	cur = NULL;
	rn->tsc = rdtsc() - t0;
	if (kx_read_cr3() != host_cr3 || vec != 6 || !rn->done ||
	    t.rip != user_va(vivo_g_hcall_ud2)) {
		kx_tap_bail("%s: the guest did not end with its exit hypercall "
			    "(%s at %#lx, CR3 %#lx)", rn->name, kx_vector_name(vec),
			    t.rip, kx_read_cr3());
	}
}

static bool kind_is_table(uint8_t k)
{
	return k == K_LTABLE || k == K_TABLE || k == K_TABLE_FREE;
}

/* One hash per guest frame; A/D bits of page-table entries left out. */
static void hash_ram(struct run *rn)
{
	const struct gstate *g = gstate_of(rn);

	for (unsigned f = 0; f < G_FRAMES; f++) {
		const uint64_t *p = (const uint64_t *)(const void *)(rn->ram + f * PG);
		uint64_t mask = kind_is_table(g->kind[f]) ? ~PTE_AD : ~0ull;
		uint64_t h = 0xcbf29ce484222325ull;
		for (unsigned i = 0; i < 512; i++) {
			h = (h ^ (p[i] & mask)) * 0x100000001b3ull;
			h ^= h >> 31;
		}
		rn->frame_hash[f] = h;
	}
}

static unsigned first_ram_difference(const struct run *a, const struct run *b)
{
	unsigned f = 0;

	while (f < G_FRAMES && a->frame_hash[f] == b->frame_hash[f]) {
		f++;
	}
	return f;
}

/* Index of the first fault record that differs, or LOG_MAX when none. */
static unsigned first_log_difference(const struct run *a, const struct run *b)
{
	for (unsigned i = 0; i < a->nlog && i < b->nlog; i++) {
		const struct fault_rec *x = &a->log[i], *y = &b->log[i];
		if (x->cr2 != y->cr2 || x->err != y->err || x->rip != y->rip) {
			return i;
		}
	}
	return a->nlog == b->nlog ? LOG_MAX : (a->nlog < b->nlog ? a->nlog : b->nlog);
}

static void report_guest(const struct run *rn)
{
	const struct gstate *g = gstate_of(rn);

	kx_tap_diag("%s: guest: %u pages mapped, %u tables made (%u from former "
		    "data pages), %u COW copies, %u COW reuses, %u probes, %u faults "
		    "handled, %u CR3 loads", rn->name, g->pages_mapped,
		    g->tables_made, g->conversions, g->cow_copies, g->cow_reuse,
		    g->probes, g->faults, g->cr3_loads);
	kx_tap_diag("%s: kernel: %lu exits (%lu hypercalls, %lu #PF), %lu CR3 "
		    "loads, %lu INVLPG, %lu flushes, %lu Mcycles (TSC)", rn->name,
		    rn->exits, rn->hcalls, rn->pf, rn->cr3_loads, rn->invlpgs,
		    rn->flushes, rn->tsc >> 20);
}

/* The five comparisons of a shadow run with the native one. */
static void report_shadow(const struct run *rn, const struct run *nat)
{
	unsigned d = first_log_difference(nat, rn), f = first_ram_difference(nat, rn);

	kx_tap_ok(rn->exit_bad == 0, "%s: the guest ran on vmmu's shadow tables "
		  "to its exit hypercall, self-checks pass (%lu failed, first at "
		  "line %lu)", rn->name, rn->exit_bad, rn->exit_line);
	kx_tap_ok(rn->exit_sum == nat->exit_sum, "%s: guest checksum %#lx, native %#lx",
		  rn->name, rn->exit_sum, nat->exit_sum);
	if (d != LOG_MAX) {
		const struct fault_rec *x = &nat->log[d], *y = &rn->log[d];
		kx_tap_diag("%s: fault %u: native %#lx err %#x rip %#lx, here %#lx "
			    "err %#x rip %#lx", rn->name, d, x->cr2, x->err, x->rip,
			    y->cr2, y->err, y->rip);
	}
	kx_tap_ok(d == LOG_MAX && rn->nfaults == nat->nfaults,
		  "%s: %lu guest-visible #PF with the native run's addresses, error "
		  "codes and RIPs (native: %lu)", rn->name, rn->nfaults, nat->nfaults);
	kx_tap_ok(f == G_FRAMES, "%s: guest RAM equals the native run's, A/D bits "
		  "of page-table entries aside (first differing frame: %u of %u)",
		  rn->name, f, G_FRAMES);
	kx_tap_ok(rn->emulated > 0 && rn->fixed > 0 && rn->injected == nat->nfaults,
		  "%s: %lu page-table stores trapped and emulated, %lu shadow faults "
		  "filled, %lu faults injected (native #PF: %lu)", rn->name,
		  rn->emulated, rn->fixed, rn->injected, nat->nfaults);
}

static void report_engine(const struct run *rn, uint64_t freed)
{
	struct vmmu_shadow_stats st;

	vmmu_shadow_stats(&rn->sh, &st);
	kx_tap_diag("%s: %lu kernel pages pre-faulted into the shadow, at most %lu "
		    "fills in a row at one address, %lu shadow frames freed during "
		    "the run, %lu TLB-flush requests", rn->name, rn->prefaults,
		    rn->repeat_max + 1, freed, spool.flush_reqs);
	kx_tap_diag("%s: engine: %lu faults, %lu write zaps, %lu zap-alls, %lu "
		    "reclaimed, %lu unsynced, %lu resynced, %lu unshadowed, %lu "
		    "prefetched, %u of %u pages in use", rn->name, st.faults,
		    st.write_zaps, st.zap_all, st.reclaimed, st.unsynced,
		    st.resynced, st.unshadowed, st.prefetched, st.used_pages,
		    st.max_pages);
}

static void init_run(struct run *rn, const char *name, uint32_t max_pages,
		     uint64_t ram)
{
	memset(rn, 0, sizeof(*rn));
	rn->name = name;
	rn->shadow = max_pages != 0;
	rn->max_pages = max_pages;
	rn->ram = (uint8_t *)(uintptr_t)ram;
}

static uint64_t vivo_seed(void)
{
	return kx_cmdline_uint("seed", 0x5ad0);
}

static void run_native(struct run *nat)
{
	init_run(nat, "native", 0, GRAM_GPA);
	load_guest(nat, vivo_seed());
	run_guest(nat);
	kx_tap_ok(nat->exit_bad == 0, "native: the guest ran on its own page tables "
		  "to its exit hypercall, self-checks pass (%lu failed, first at line "
		  "%lu); checksum %#lx, %lu #PF", nat->exit_bad, nat->exit_line,
		  nat->exit_sum, nat->nfaults);
	report_guest(nat);
	hash_ram(nat);
	/* From now on guest RAM lives at HRAM_HPA; its old home reads as junk. */
	memset((void *)(uintptr_t)GRAM_GPA, 0xee, GRAM_SIZE);
}

static void run_shadow(struct run *rn, const char *name, uint32_t max_pages,
		       const struct run *nat)
{
	init_run(rn, name, max_pages, HRAM_HPA);
	load_guest(rn, vivo_seed());
	spool_reset();
	must(vmmu_shadow_init(&rn->sh, &vfmt, &host_plat, &vivo_sh_ops, rn, sh_pages,
			      max_pages), "vmmu_shadow_init");
	must(vmmu_shadow_vcpu_init(&rn->v, &rn->sh, &vfmt, &rn->gplat, &vcpu_state,
				   rn->cur_cr3), "vmmu_shadow_vcpu_init");
	run_guest(rn);
	uint64_t freed = spool.frees;
	hash_ram(rn);
	report_shadow(rn, nat);
	report_guest(rn);
	report_engine(rn, freed);
	vmmu_shadow_vcpu_destroy(&rn->v);
	vmmu_shadow_destroy(&rn->sh);
	kx_tap_ok(spool.out == 0, "%s: every shadow frame back after "
		  "vmmu_shadow_destroy (%u left; at most %u in use, pool limit %u)",
		  name, spool.out, spool.out_max, max_pages);
	if (max_pages == SH_PAGES_SMALL) {
		kx_tap_ok(freed > 0, "%s: the %u-page pool made vmmu reclaim shadow "
			  "tables in vivo (%lu frames freed while the guest ran)",
			  name, max_pages, freed);
	}
}

static void vivo_setup(void)
{
	kstart = (uint64_t)(uintptr_t)__kernel_start & ~(PG - 1);
	kend = ((uint64_t)(uintptr_t)__kernel_end + PG - 1) & ~(PG - 1);
	if (kend > GRAM_GPA) {
		kx_tap_bail("kernel image ends at %#lx, over guest RAM at %#llx", kend,
			    GRAM_GPA);
	}
	host_cr3 = kx_read_cr3();
	must(vmmu_fmt_init_x86(&vfmt, 4, kx_cpu.maxphyaddr, 0), "vmmu_fmt_init_x86");
	vcpu_state = (struct vmmu_cpu_state){
		.cr0 = kx_read_cr0(), .cr4 = kx_read_cr4(),
		.efer = kx_rdmsr(KX_MSR_EFER),
	};
	ws_init();
	kx_tap_diag("guest RAM %#llx+%#llx (shadow runs: backed at %#llx), kernel "
		    "%#lx-%#lx, %u kernel pages in the working set, seed %#lx",
		    GRAM_GPA, GRAM_SIZE, HRAM_HPA, kstart, kend, n_ws, vivo_seed());
}

void kx_main(void)
{
	if (kx_la57 || !kx_cpu.nx) {
		kx_puts("1..0 # SKIP shadow_vivo needs 4-level paging and NX\n");
		kx_exit(true);
	}
	vivo_setup();
	kx_tap_plan(14);
	run_native(&runs[0]);
	run_shadow(&runs[1], "shadow", SH_PAGES_BIG, &runs[0]);
	run_shadow(&runs[2], "reclaim", SH_PAGES_SMALL, &runs[0]);
}
