/* SPDX-License-Identifier: MIT */
/*
 * tlb_semantics: the TLB behaviour the shadow-paging engine will rely on,
 * checked against the CPU (SDM Vol. 3A §4.10).
 *
 * vmmu's builder maps a few 4 KiB test pages into the live tree (kx_pt) at
 * a window in the kernel half. Two data frames, A and B, hold different
 * bytes, so one read tells which translation the CPU used. Each case primes
 * the TLB with a read through the old entry, changes the entry (a raw store
 * through vmmu_pt_entry where no flush may happen: the runtime's tlb_flush
 * hook would INVLPG or reload CR3 whenever the builder asks), optionally
 * flushes, and reads again.
 *
 * Two kinds of TAP lines:
 *
 *   required  what the SDM guarantees: INVLPG and MOV CR3 (non-global)
 *             invalidate, INVLPG and a CR4.PGE toggle drop global entries,
 *             INVLPG drops the paging-structure caches, not-present entries
 *             are never cached. A violation is "not ok".
 *   allowed   what the SDM permits but never promises (a stale translation
 *             until the flush, global entries surviving MOV CR3, a spurious
 *             #PF after a rights upgrade): "ok ... # observed: ...". A CPU
 *             may drop any TLB entry at any time, so both outcomes pass;
 *             only an outcome outside the permitted set fails.
 *
 * With "-append la57" the window sits at a 57-bit canonical address and
 * the upper-level case covers the PML5E too.
 */
#include "kx.h"

#define SZ_4K (1ull << 12)
#define SZ_1G (1ull << 30)

/* 4-level paging: canonical over 48 bits. PML4 slot 300. */
#define WIN 0xffff960000000000ull
/* 5-level paging: canonical over 57 bits only. PML5 slot 400, PML4 slot 300. */
#define WIN_LA57 0xff90960000000000ull
/* A region with no page directory yet (PDPTE not present). */
#define FRESH_OFF (5 * SZ_1G)

/* The 4 KiB test pages at the start of the window. */
enum test_page {
	PG_MAIN,   /* non-global: remaps, not-present, rights upgrade */
	PG_GLOBAL, /* G=1 while CR4.PGE=1 */
	PG_LOCAL,  /* non-global companion of PG_GLOBAL */
	PG_UPPER,  /* its upper-level entries are swapped */
	NPAGE
};

/* Data frames: every byte says which frame a read went to. */
#define MARK_A 0xaa
#define MARK_B 0xbb
#define READ_OFF 0x100  /* byte read inside a test page */
#define WRITE_OFF 0x800 /* byte written (kx_access stores 0xc3) */
static uint8_t frame_a[SZ_4K] __attribute__((aligned(4096)));
static uint8_t frame_b[SZ_4K] __attribute__((aligned(4096)));

/* Leaf attributes for raw entries. */
enum leaf_attr {
	LEAF_RO = 0,
	LEAF_W = 1u << 0, /* writable */
	LEAF_G = 1u << 1, /* global */
};

#define PFEC_P (1u << 0)
#define PFEC_W (1u << 1)

static uint64_t win;
static uint64_t tables_before;
static unsigned setup_checks, setup_failures;
static char summary[320];
static size_t summary_len;

/* --- helpers ----------------------------------------------------------------- */

static void must(int rc, const char *what)
{
	if (rc != 0) {
		kx_tap_bail("%s: %s (%d)", what, vmmu_strerror(rc), rc);
	}
}

static uint64_t frame_pa(const uint8_t *frame)
{
	return (uint64_t)(uintptr_t)frame; /* identity mapped */
}

static uint64_t page_va(enum test_page p)
{
	return win + (uint64_t)p * SZ_4K;
}

/* PG_UPPER moved by one entry at `level`: same indices below it. */
static uint64_t partner_va(unsigned level)
{
	return page_va(PG_UPPER) + vmmu_fmt_entry_size(&kx_fmt, level);
}

static vmmu_pte_t *entry_at(uint64_t va, unsigned level)
{
	vmmu_pte_t *slot = NULL;

	must(vmmu_pt_entry(&kx_pt, va, level, &slot), "vmmu_pt_entry");
	return slot;
}

static struct vmmu_prot prot_of(unsigned attrs)
{
	/* A and D preset: no A/D update re-walks the tables behind our back. */
	struct vmmu_prot p = {
		.perm = VMMU_PERM_R | VMMU_PERM_X,
		.flags = VMMU_PROT_ACCESSED | VMMU_PROT_DIRTY,
	};

	p.perm |= (attrs & LEAF_W) ? VMMU_PERM_W : 0;
	p.flags |= (attrs & LEAF_G) ? VMMU_PROT_GLOBAL : 0;
	return p;
}

static vmmu_pte_t leaf_entry(const uint8_t *frame, unsigned attrs)
{
	struct vmmu_prot p = prot_of(attrs);
	vmmu_pte_t e = 0;

	must(vmmu_pte_make_leaf(&kx_fmt, 1, frame_pa(frame), &p, &e),
	     "vmmu_pte_make_leaf");
	return e;
}

/* One aligned 64-bit store, no flush: the CPU's TLB is left as it is. */
static void store_entry(vmmu_pte_t *slot, vmmu_pte_t v)
{
	__atomic_store_n(slot, v, __ATOMIC_RELEASE);
}

/* Raw remap of a test page's PTE, without any flush. */
static void set_leaf(enum test_page p, const uint8_t *frame, unsigned attrs)
{
	store_entry(entry_at(page_va(p), 1), leaf_entry(frame, attrs));
}

static void clear_present(enum test_page p)
{
	vmmu_pte_t *slot = entry_at(page_va(p), 1);

	store_entry(slot, *slot & ~kx_fmt.level[1].present);
}

static void mov_cr3_same(void)
{
	kx_write_cr3(kx_read_cr3());
}

/* Clear then set CR4.PGE: flushes every TLB entry, global ones too. */
static void toggle_pge(void)
{
	uint64_t cr4 = kx_read_cr4();

	kx_write_cr4(cr4 & ~KX_CR4_PGE);
	kx_write_cr4(cr4);
}

/* Add " tag=value" to the summary printed at the end. */
static void note(const char *tag, const char *value)
{
	int n = kx_snprintf(summary + summary_len, sizeof(summary) - summary_len,
			    " %s=%s", tag, value);
	if (n > 0 && summary_len + (size_t)n < sizeof(summary)) {
		summary_len += (size_t)n;
	}
}

/* --- reads and writes ------------------------------------------------------- */

enum seen { SEEN_FAULT, SEEN_A, SEEN_B, SEEN_OTHER };

struct probe {
	enum seen seen;
	uint8_t byte;
	struct kx_trap trap;
};

static volatile uint8_t read_result;

static void read_byte(uint64_t va)
{
	read_result = *(volatile const uint8_t *)(uintptr_t)va;
}

static struct probe probe_read(uint64_t page)
{
	struct probe p = {.seen = SEEN_FAULT};

	read_result = 0;
	if (kx_try(read_byte, page + READ_OFF, false, &p.trap) >= 0) {
		return p;
	}
	p.byte = read_result;
	p.seen = p.byte == MARK_A ? SEEN_A : p.byte == MARK_B ? SEEN_B : SEEN_OTHER;
	return p;
}

static const char *probe_str(const struct probe *p, char *buf, size_t n)
{
	switch (p->seen) {
	case SEEN_A:
		return "frame A";
	case SEEN_B:
		return "frame B";
	case SEEN_OTHER:
		kx_snprintf(buf, n, "byte %#x (neither frame)", p->byte);
		return buf;
	case SEEN_FAULT:
		break;
	}
	kx_snprintf(buf, n, "%s err %#x cr2 %#lx", kx_vector_name(p->trap.vector),
		    p->trap.error, p->trap.cr2);
	return buf;
}

/* A #PF for a not-present entry at this page: P=0 in the error code. */
static bool is_not_present_pf(const struct probe *p, uint64_t page)
{
	return p->seen == SEEN_FAULT && p->trap.vector == 14 &&
	       !(p->trap.error & PFEC_P) && p->trap.cr2 == page + READ_OFF;
}

static int write_byte(uint64_t page, struct kx_trap *t)
{
	return kx_access(KX_WRITE, false, page + WRITE_OFF, false, t);
}

/*
 * Fill the TLB: after the entry was set and its VA invalidated, a read must
 * see `want` (required). Counted; a miss is printed and fails the run.
 */
static void prime(uint64_t page, enum seen want, const char *where)
{
	struct probe p = probe_read(page);
	char buf[64];

	setup_checks++;
	if (p.seen != want) {
		setup_failures++;
		kx_tap_diag("%s: fresh translation of %#lx not used: %s", where,
			    page, probe_str(&p, buf, sizeof(buf)));
	}
}

/* Install frame/attrs with INVLPG, then prime the TLB through it. */
static void install_and_prime(enum test_page pg, const uint8_t *frame,
			      unsigned attrs, const char *where)
{
	set_leaf(pg, frame, attrs);
	kx_invlpg(page_va(pg));
	prime(page_va(pg), frame == frame_a ? SEEN_A : SEEN_B, where);
}

/* An allowed outcome: old or new frame (anything else is a violation). */
static bool report_old_or_new(const char *tag, const char *what,
			      const struct probe *p)
{
	char buf[64];
	const char *obs = p->seen == SEEN_A   ? "old frame (stale entry used)"
			  : p->seen == SEEN_B ? "new frame (no stale entry)"
					      : probe_str(p, buf, sizeof(buf));
	bool ok = p->seen == SEEN_A || p->seen == SEEN_B;

	note(tag, p->seen == SEEN_A ? "old" : p->seen == SEEN_B ? "new" : "BAD");
	return kx_tap_ok(ok, "allowed %s: %s # observed: %s", tag, what, obs);
}

static bool report_new(const char *tag, const char *what, const struct probe *p)
{
	char buf[64];

	return kx_tap_ok(p->seen == SEEN_B, "required %s: %s (read: %s)", tag, what,
			 probe_str(p, buf, sizeof(buf)));
}

/* --- setup and cleanup ------------------------------------------------------ */

static bool map_page(uint64_t va, const uint8_t *frame)
{
	struct vmmu_prot p = prot_of(LEAF_W);
	uint64_t out = 0;
	unsigned level = 0;

	if (vmmu_pt_map(&kx_pt, va, frame_pa(frame), SZ_4K, &p,
			VMMU_PT_4K_ONLY) != 0) {
		return false;
	}
	return vmmu_pt_lookup(&kx_pt, va, &out, NULL, &level) == 0 &&
	       out == frame_pa(frame) && level == 1;
}

static void setup(void)
{
	unsigned mapped = 0, wanted = NPAGE + kx_fmt.levels - 1;

	memset(frame_a, MARK_A, sizeof(frame_a));
	memset(frame_b, MARK_B, sizeof(frame_b));
	tables_before = kx_pt.table_count;
	for (unsigned p = 0; p < NPAGE; p++) {
		mapped += map_page(page_va((enum test_page)p), frame_a) ? 1 : 0;
	}
	for (unsigned l = 2; l <= kx_fmt.levels; l++) {
		mapped += map_page(partner_va(l), frame_b) ? 1 : 0;
	}
	if (!kx_tap_ok(mapped == wanted,
		       "setup: %u of %u test pages mapped by vmmu_pt_map "
		       "(4K leaves, frames A %#lx and B %#lx)",
		       mapped, wanted, frame_pa(frame_a), frame_pa(frame_b))) {
		kx_tap_bail("cannot run without the test pages");
	}
}

static void cleanup(void)
{
	int rc = vmmu_pt_unmap(&kx_pt, win, NPAGE * SZ_4K);

	for (unsigned l = 2; rc == 0 && l <= kx_fmt.levels; l++) {
		rc = vmmu_pt_unmap(&kx_pt, partner_va(l), SZ_4K);
	}
	if (rc == 0) {
		rc = vmmu_pt_unmap(&kx_pt, win + FRESH_OFF, SZ_4K);
	}
	kx_tap_ok(rc == 0 && kx_pt.table_count == tables_before,
		  "cleanup: vmmu_pt_unmap removed every test page and table "
		  "(rc %d, %lu tables, %lu before)",
		  rc, kx_pt.table_count, tables_before);
}

/* --- cases without global pages ------------------------------------------- */

/*
 * A and 1: remap a present PTE to another frame. Without a flush the CPU
 * may keep using the old translation (§4.10.4.2: the TLB is not coherent
 * with the tables; software invalidates); after INVLPG of the VA it must
 * not (§4.10.4.1).
 */
static void case_remap_invlpg(void)
{
	install_and_prime(PG_MAIN, frame_a, LEAF_W, "remap");
	set_leaf(PG_MAIN, frame_b, LEAF_W);
	struct probe before = probe_read(page_va(PG_MAIN));
	report_old_or_new("A", "PTE remapped A->B, no flush: read uses either frame",
			  &before);

	kx_invlpg(page_va(PG_MAIN));
	struct probe after = probe_read(page_va(PG_MAIN));
	report_new("1", "PTE remapped A->B, INVLPG of the VA: read uses B", &after);
}

/* 2: MOV CR3 invalidates every non-global TLB entry (§4.10.4.1). */
static void case_remap_cr3(void)
{
	install_and_prime(PG_MAIN, frame_a, LEAF_W, "cr3");
	set_leaf(PG_MAIN, frame_b, LEAF_W);
	mov_cr3_same();
	struct probe p = probe_read(page_va(PG_MAIN));
	report_new("2", "PTE remapped A->B, MOV CR3 (same value), non-global, "
			"CR4.PGE=0: read uses B", &p);
}

/*
 * The builder's own flushes: vmmu_pt_map(REPLACE) and vmmu_pt_unmap ask the
 * platform for a range flush (the runtime INVLPGs), so no stale translation
 * survives either call.
 */
static void case_builder_flushes(void)
{
	uint64_t va = page_va(PG_MAIN);
	struct vmmu_prot p = prot_of(LEAF_W);
	char b1[64], b2[64];

	install_and_prime(PG_MAIN, frame_a, LEAF_W, "builder");
	uint64_t flushes = kx_tlb_flushes;
	must(vmmu_pt_map(&kx_pt, va, frame_pa(frame_b), SZ_4K, &p,
			 VMMU_PT_4K_ONLY | VMMU_PT_REPLACE),
	     "vmmu_pt_map REPLACE");
	uint64_t map_flushes = kx_tlb_flushes - flushes;
	struct probe replaced = probe_read(va);

	flushes = kx_tlb_flushes;
	must(vmmu_pt_unmap(&kx_pt, va, SZ_4K), "vmmu_pt_unmap");
	uint64_t unmap_flushes = kx_tlb_flushes - flushes;
	struct probe unmapped = probe_read(va);
	kx_tap_ok(replaced.seen == SEEN_B && map_flushes == 1 &&
			  is_not_present_pf(&unmapped, va) && unmap_flushes == 1,
		  "required builder: vmmu_pt_map(REPLACE) A->B then vmmu_pt_unmap "
		  "flush on their own (%lu and %lu requests): read %s, then %s",
		  map_flushes, unmap_flushes, probe_str(&replaced, b1, sizeof(b1)),
		  probe_str(&unmapped, b2, sizeof(b2)));
	must(map_page(va, frame_a) ? 0 : -VMMU_EINVAL, "re-map PG_MAIN");
}

/*
 * C, 6 and 3 on one page: present -> not present without a flush (the old
 * translation may still be used), then INVLPG (the access must fault with
 * P=0), then not present -> present with no flush at all: a not-present
 * entry is never cached (§4.10.4.3), so the new translation is used at once.
 */
static void case_not_present(void)
{
	uint64_t va = page_va(PG_MAIN);
	char buf[64];

	install_and_prime(PG_MAIN, frame_a, LEAF_W, "not-present");
	clear_present(PG_MAIN);
	struct probe stale = probe_read(va);
	bool stale_ok = stale.seen == SEEN_A || is_not_present_pf(&stale, va);
	note("C", stale.seen == SEEN_A ? "old" : stale_ok ? "#PF" : "BAD");
	kx_tap_ok(stale_ok,
		  "allowed C: PTE made not present, no flush: read may still "
		  "succeed # observed: %s",
		  stale.seen == SEEN_A ? "read succeeded through the stale entry"
				       : probe_str(&stale, buf, sizeof(buf)));

	kx_invlpg(va);
	struct probe gone = probe_read(va);
	kx_tap_ok(is_not_present_pf(&gone, va),
		  "required 6: PTE made not present, INVLPG: read takes #PF with "
		  "P=0 and CR2 = VA (%s)", probe_str(&gone, buf, sizeof(buf)));

	set_leaf(PG_MAIN, frame_b, LEAF_W);
	struct probe back = probe_read(va);
	report_new("3", "after that #PF, PTE made present (-> B) with no flush: "
			"read uses B at once", &back);
}

/*
 * 3 again through the builder, two levels up: a fresh vmmu_pt_map into a
 * region with no page directory links a new PD and PT (PDPTE and PDE go
 * from not present to present) and requests no flush; the CPU, which just
 * faulted there, must use the new translation at once.
 */
static void case_fresh_map(void)
{
	uint64_t va = win + FRESH_OFF;
	struct vmmu_prot p = prot_of(LEAF_W);
	char b1[64], b2[64];

	kx_invlpg(va);
	struct probe absent = probe_read(va);
	uint64_t flushes = kx_tlb_flushes;
	must(vmmu_pt_map(&kx_pt, va, frame_pa(frame_b), SZ_4K, &p, VMMU_PT_4K_ONLY),
	     "vmmu_pt_map fresh");
	uint64_t requested = kx_tlb_flushes - flushes;
	struct probe present = probe_read(va);
	kx_tap_ok(is_not_present_pf(&absent, va) && requested == 0 &&
			  present.seen == SEEN_B,
		  "required 3b: fresh vmmu_pt_map under a not-present PDPTE, no "
		  "flush (%lu requests): %s before, %s after",
		  requested, probe_str(&absent, b1, sizeof(b1)),
		  probe_str(&present, b2, sizeof(b2)));
}

/*
 * 4: read-only -> writable. Without a flush the write may take a spurious
 * #PF (§4.10.4.3: the CPU may use the cached read-only rights); after
 * INVLPG it must succeed. The write that must fault comes before priming,
 * because delivering a #PF invalidates the entries for that VA (§4.10.4.1),
 * which would hide the stale read-only entry.
 */
static void case_rights_upgrade(void)
{
	uint64_t va = page_va(PG_MAIN);
	struct kx_trap ro, early, late;

	set_leaf(PG_MAIN, frame_a, LEAF_RO);
	kx_invlpg(va);
	int ro_vec = write_byte(va, &ro);
	prime(va, SEEN_A, "rights upgrade");
	set_leaf(PG_MAIN, frame_a, LEAF_W);
	int early_vec = write_byte(va, &early);
	bool spurious = early_vec == 14 && early.error == (PFEC_P | PFEC_W);
	note("4a", early_vec < 0 ? "write-ok" : spurious ? "spurious-#PF" : "BAD");
	kx_tap_ok(early_vec < 0 || spurious,
		  "allowed 4a: read-only -> writable, no flush: write may take a "
		  "spurious #PF # observed: %s",
		  early_vec < 0 ? "write succeeded (no spurious #PF)"
		  : spurious    ? "spurious #PF err 0x3"
				: kx_vector_name(early_vec));

	kx_invlpg(va);
	int late_vec = write_byte(va, &late);
	kx_tap_ok(ro_vec == 14 && ro.error == (PFEC_P | PFEC_W) && late_vec < 0,
		  "required 4: write to the read-only page takes #PF err %#x (want "
		  "0x3); after the upgrade and INVLPG the write succeeds (write: %s)",
		  ro.error, late_vec < 0 ? "no fault" : kx_vector_name(late_vec));
}

/* --- global pages (CR4.PGE) ------------------------------------------------ */

static bool cpu_has_pge(void)
{
	uint32_t r[4];

	kx_cpuid(1, 0, r);
	return (r[3] >> 13) & 1; /* CPUID.1:EDX.PGE */
}

/* 5a: INVLPG invalidates the VA's entries whether global or not (§4.10.4.1). */
static void case_global_invlpg(void)
{
	install_and_prime(PG_GLOBAL, frame_a, LEAF_W | LEAF_G, "global invlpg");
	set_leaf(PG_GLOBAL, frame_b, LEAF_W | LEAF_G);
	kx_invlpg(page_va(PG_GLOBAL));
	struct probe p = probe_read(page_va(PG_GLOBAL));
	report_new("5a", "global PTE (G=1, CR4.PGE=1) remapped A->B, INVLPG: "
			 "read uses B", &p);
}

/*
 * B and 2b: MOV CR3 need not invalidate global entries (§4.10.2.4,
 * §4.10.4.1), so the global page may keep the old frame; the non-global
 * page next to it must see the new one.
 */
static void case_global_cr3(void)
{
	install_and_prime(PG_GLOBAL, frame_a, LEAF_W | LEAF_G, "global cr3");
	install_and_prime(PG_LOCAL, frame_a, LEAF_W, "global cr3");
	set_leaf(PG_GLOBAL, frame_b, LEAF_W | LEAF_G);
	set_leaf(PG_LOCAL, frame_b, LEAF_W);
	mov_cr3_same();
	struct probe global = probe_read(page_va(PG_GLOBAL));
	struct probe local = probe_read(page_va(PG_LOCAL));
	char buf[64];
	const char *obs = global.seen == SEEN_A ? "old frame (global entry survived MOV CR3)"
			  : global.seen == SEEN_B ? "new frame (global entry did not survive)"
						  : probe_str(&global, buf, sizeof(buf));

	note("B", global.seen == SEEN_A ? "survived"
		      : global.seen == SEEN_B ? "not-survived" : "BAD");
	kx_tap_ok(global.seen == SEEN_A || global.seen == SEEN_B,
		  "allowed B: global PTE remapped A->B, MOV CR3: read uses either "
		  "frame # observed: %s", obs);
	report_new("2b", "non-global PTE remapped A->B, the same MOV CR3 with "
			 "CR4.PGE=1: read uses B", &local);
}

/* 5b: changing CR4.PGE invalidates all entries, global ones too (§4.10.4.1). */
static void case_global_pge_toggle(void)
{
	install_and_prime(PG_GLOBAL, frame_a, LEAF_W | LEAF_G, "pge toggle");
	set_leaf(PG_GLOBAL, frame_b, LEAF_W | LEAF_G);
	toggle_pge();
	struct probe p = probe_read(page_va(PG_GLOBAL));
	report_new("5b", "global PTE remapped A->B, CR4.PGE cleared and set: "
			 "read uses B", &p);
}

static void cases_global(void)
{
	uint64_t cr4 = kx_read_cr4();

	if (!cpu_has_pge()) {
		for (unsigned i = 0; i < 4; i++) {
			kx_tap_skip("no CR4.PGE (CPUID.1:EDX[13]) on this CPU");
		}
		return;
	}
	/* Only the test's own leaves carry G; the runtime's are non-global. */
	kx_write_cr4(cr4 | KX_CR4_PGE);
	case_global_invlpg();
	case_global_cr3();
	case_global_pge_toggle();
	/* Back as booted; clearing PGE flushes the global entries as well. */
	set_leaf(PG_GLOBAL, frame_a, LEAF_W);
	kx_write_cr4(cr4);
	kx_invlpg(page_va(PG_GLOBAL));
}

/* --- upper-level entries ---------------------------------------------------- */

/*
 * 7 and D at one level: point PG_UPPER's entry at `level` to the subtree of
 * partner_va(level) (same lower indices, leaf -> B). Without a flush the
 * old path may still be used (TLB and paging-structure caches); INVLPG of
 * the VA drops both, for every level (§4.10.4.1), so B must be read. Then
 * the entry is put back, INVLPG, and A must be read again.
 */
static void case_upper_level(unsigned level)
{
	uint64_t va = page_va(PG_UPPER);
	vmmu_pte_t *slot = entry_at(va, level);
	vmmu_pte_t orig = *slot, other = *entry_at(partner_va(level), level);
	const char *name = vmmu_fmt_level_name(&kx_fmt, level);
	char b1[64], b2[64];

	kx_invlpg(va);
	prime(va, SEEN_A, name);
	prime(partner_va(level), SEEN_B, name);
	store_entry(slot, other);
	struct probe stale = probe_read(va);
	note(name, stale.seen == SEEN_A ? "old" : stale.seen == SEEN_B ? "new" : "BAD");
	kx_invlpg(va);
	struct probe moved = probe_read(va);
	store_entry(slot, orig);
	kx_invlpg(va);
	struct probe back = probe_read(va);

	kx_tap_ok(moved.seen == SEEN_B && back.seen == SEEN_A,
		  "required 7-%s: %s entry pointed at another table, INVLPG of the "
		  "VA: read %s; put back, INVLPG: read %s",
		  name, name, probe_str(&moved, b1, sizeof(b1)),
		  probe_str(&back, b2, sizeof(b2)));
	kx_tap_ok(stale.seen == SEEN_A || stale.seen == SEEN_B,
		  "allowed D-%s: %s entry changed, no flush: read uses either "
		  "frame # observed: %s",
		  name, name, stale.seen == SEEN_A ? "old frame (cached path used)"
			      : stale.seen == SEEN_B ? "new frame"
						     : probe_str(&stale, b1, sizeof(b1)));
}

/* --- main ---------------------------------------------------------------------- */

void kx_main(void)
{
	/* setup, A, 1, 2, builder, C, 6, 3, 3b, 4a, 4, 5a, B, 2b, 5b, cleanup,
	 * setup-reads, plus 7 and D per upper level. */
	kx_tap_plan(17 + 2 * (kx_fmt.levels - 1));
	win = kx_la57 ? WIN_LA57 : WIN;
	kx_tap_diag("%u-level paging, window at %#lx; %s", kx_fmt.levels, win,
		    kx_under_tcg()   ? "TCG"
		    : kx_under_kvm() ? "KVM"
				     : "unknown CPU");
	/* Supervisor writes to read-only pages must fault for case 4. */
	uint64_t cr0 = kx_read_cr0();
	kx_write_cr0(cr0 | KX_CR0_WP);

	setup();
	case_remap_invlpg();
	case_remap_cr3();
	case_builder_flushes();
	case_not_present();
	case_fresh_map();
	case_rights_upgrade();
	cases_global();
	for (unsigned l = 2; l <= kx_fmt.levels; l++) {
		case_upper_level(l);
	}
	cleanup();
	kx_write_cr0(cr0);

	kx_tap_ok(setup_failures == 0,
		  "required: every translation installed with INVLPG was used at "
		  "once (%u priming reads, %u not)", setup_checks, setup_failures);
	kx_tap_diag("observed (%s, %u-level):%s",
		    kx_under_tcg() ? "TCG" : kx_under_kvm() ? "KVM" : "CPU",
		    kx_fmt.levels, summary);
}
