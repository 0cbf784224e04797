/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: direct paging (include/vmmu/pv.h) driven by hostile
 * guests. The input is a program of at most MAX_OPS operations issued by
 * two domains with two vCPUs each on a 64-frame machine:
 *
 *   frame 0, 49..63   unassigned (63 doubles as the "hypervisor L3" that
 *                     the embedder puts in domain 1's reserved L4 slot)
 *   frames 1..24      domain 1: VMMU_PV_LINEAR_PT, an M2P table and
 *                     guest ops (the multi flush forms read a vCPU bitmap
 *                     through them; fill_reserved_l4 fills its reserved
 *                     slots); no cache attributes; foreign ops that
 *                     let it map domain 2's frames (foreigndom 2)
 *   frames 25..48     domain 2: VMMU_PV_CACHE_ATTRS; no linear tables, no
 *                     M2P, no guest ops (those requests must be refused,
 *                     and the library clears its reserved slots itself)
 * Both reserve L4 slots 256-271 as Xen does.
 *
 * After EVERY hypercall both domains are audited together
 * (vmmu_pv_audit_domains: domain 1's foreign mappings hold references on
 * domain 2's frames), the foreign ops balanced every get with a put, and the
 * unassigned frames must hold no reference (a resume loop audits its
 * first AUDIT_ALL_UPTO calls, then every AUDIT_STRIDE-th and the last:
 * the audit dominates the run time). Besides, each call is checked against pv.h:
 *  - the return is 0 or one of the -VMMU_E* codes a hypercall may give;
 *  - done never moves back, never passes count, is count on success and
 *    the failing index on a refusal; a resumed index beyond count is
 *    refused with nothing done (XSA-212);
 *  - a completed mmu_update request left exactly its value in the entry
 *    (A/D may be kept for PRESERVE_AD) or M2P slot, the refused or
 *    pending one left it unchanged; commands 4..7 (and 1 without an M2P)
 *    are -VMMU_ENOTSUP, frames beyond the table -VMMU_EINVAL, a
 *    foreigndom naming a domain the caller does not control (or page
 *    tables not its own) -VMMU_EPERM with nothing done;
 *  - mmuext_op: the last completed op's effect is visible (pin, unpin,
 *    base pointers), any foreigndom but the caller's own is -VMMU_EPERM,
 *    unsupported commands give -VMMU_ENOTSUP and only they do, a batch issues exactly one guest flush per completed
 *    flush or canonical INVLPG (XSA-279) and none for anything else;
 *  - a frame that was writable and is a page table after a call got a
 *    VMMU_TLB_ALL flush on every CPU of the domain in that call (XSA-241,
 *    XSA-401); those flushes are counted apart from the guest's;
 *  - update_va_mapping: a success is visible through the vCPU's tables
 *    and flushes as asked, a refusal never flushes (XSA-279); a multi
 *    flush without guest ops is -VMMU_ENOTSUP, an unreadable vCPU bitmap
 *    -VMMU_EFAULT;
 *  - every validated L4 shows the hypervisor's reserved slots (filled by
 *    the hook in domain 1, cleared in domain 2), whatever the guest had
 *    stored there, and no address in those slots is the guest's to map;
 *  - vmmu_pv_vcpu_release leaves the vCPU holding nothing.
 * At the end every vCPU is released and every pin undone (as a domain
 * teardown does, with preemption off, bounded), and each domain frame
 * must be back to exactly its allocation reference with no type
 * reference: nothing the sequence took may leak. Unassigned frames must
 * still read zero (nothing wrote outside its domain).
 *
 * Encoding: each operation starts with a byte b: b & 15 the operation,
 * (b >> 4) & 3 the vCPU (vCPUs 0,1: domain 1; 2,3: domain 2), b >> 6 a
 * modifier. Missing bytes read as 0.
 *   store  (0-2)   sel idx16 val24   guest store into its own frame, only
 *                  when the frame table says it could map it writable
 *   mmu    (3-5,15) hdr {sel idx16 val24}x(1 + hdr&7); foreigndom
 *                  (hdr >> 3) & 7; modifier 3: start with done = count+1
 *   ext    (6-8)   hdr {cmd arg}x(1 + hdr&3); foreigndom (hdr >> 2) & 7;
 *                  arg is a frame selector, or a va for INVLPG; the
 *                  multi forms add a byte g: bitmap at guest address
 *                  g << 8; modifier 3 as for mmu
 *   uva    (9,10)  va val24 fl: flush type fl & 3, fl & 4 UVMF_ALL,
 *                  fl & 8: bitmap pointer fl << 8 (multi); modifier
 *                  1-3: update_va_mapping_otherdomain with the domain's
 *                  own id, the other domain's, DOMID_IO
 *   yield  (11)    y: should_yield answers (y & 1), on every Nth ask,
 *                  N from k_periods[(y >> 1) & 7]
 *   resume (12,13) re-issue the vCPU's last preempted call with its
 *                  array and done: 1, 4, 32 or RESUME_MAX times by modifier
 *   release (14)   vmmu_pv_vcpu_release once
 * A frame selector s: s < 192: the acting domain's frame s % 24; else
 * s & 63 < 60: machine frame s & 63 (the other domain's, unassigned, 0);
 * else a frame beyond the table. idx16 w: entry w & 511 when w & 0x8000,
 * else w & 3; command by (w >> 12) & 7: 0-3 normal, 4 preserve A/D, 5 no
 * translate, 6 machphys, 7 4 + ((w >> 9) & 3). val24 = selector, low
 * flag byte (bits 0-7: P RW US PWT PCD A D PS), high flag byte (G, bit
 * 9, bit 11, NX, reserved bit 45, bit 51, bit 52, address bit 39). A va
 * byte m: m & 0x80: 8 raw bytes follow; else L4..L1 indices (m >> 6) & 1,
 * (m >> 4) & 3, (m >> 2) & 3, m & 3.
 *
 * The guest's vCPU bitmaps (domain 1): an address with bit 12 set cannot
 * be read (-VMMU_EFAULT); otherwise the bitmap is bits 10..9 of it.
 *
 * FUZZ_PV_TRACE=1 prints every operation and its outcome (for reading a
 * crash input: ./fuzz_pv crash-file).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_reader.h"
#include "test_platform.h"

#define NFRAMES 64u
#define DOM_FRAMES 24u
#define NDOMS 2u
#define VPD 2u /* vCPUs per domain */
#define NVCPUS (NDOMS * VPD)
#define MAX_OPS 64u
#define MAX_BATCH 8u
#define MAX_EXT 4u
#define MAXPHY 40u
#define RESUME_MAX 2048u
#define AUDIT_ALL_UPTO 8u /* resume calls audited one by one... */
#define AUDIT_STRIDE 256u  /* ...then every AUDIT_STRIDE-th */
#define TEARDOWN_MAX 100000u
#define HV_L3 63u   /* the embedder's "hypervisor table" */
#define HV_SLOT 256u /* Xen's reserved L4 slots: 256..271 */
#define HV_SLOTS 16u
#define HV_ENTRY ((uint64_t)HV_L3 << 12 | 3u) /* present, writable */

#define E_P (1ull << 0)
#define E_RW (1ull << 1)
#define E_AD (3ull << 5)
#define E_ADDR (((1ull << MAXPHY) - 1) & ~0xfffull)

static const vmmu_domid_t k_domid[NDOMS] = {1, 2};
static const uint64_t k_base[NDOMS] = {1, 1 + DOM_FRAMES};
static const uint64_t k_beyond[4] = {NFRAMES, NFRAMES + 1, 1ull << 20,
				     (1ull << 28) - 1};
static const uint64_t k_periods[8] = {1, 1, 2, 3, 5, 17, 64, 300};
static const uint64_t k_hi_bits[8] = {1ull << 8,  1ull << 9,  1ull << 11,
				      1ull << 63, 1ull << 45, 1ull << 51,
				      1ull << 52, 1ull << 39};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* --- failures and trace ----------------------------------------------------------- */

static unsigned g_opno;
static bool g_trace;

#define TRACE(...)                                                          \
	do {                                                                \
		if (g_trace) {                                              \
			fprintf(stderr, __VA_ARGS__);                       \
		}                                                           \
	} while (0)

__attribute__((noreturn)) static void fail(int line, const char *what)
{
	fprintf(stderr, "fuzz_pv: op %u: %s:%d: %s\n", g_opno, __FILE__, line,
		what);
	abort();
}

#define CHECK(cond)                                                         \
	do {                                                                \
		if (!(cond)) {                                              \
			fail(__LINE__, #cond);                              \
		}                                                           \
	} while (0)

/* --- input ---------------------------------------------------------------------------- */

/* Input: struct reader, rd8..rd64 (fuzz_reader.h). */

/* --- the machine ------------------------------------------------------------------------ */

/* A hypercall left preempted on a vCPU, as the guest would re-issue it. */
enum call_kind { CALL_NONE, CALL_MMU, CALL_EXT, CALL_UVA };

struct call {
	enum call_kind kind;
	uint32_t count, done, fd;
	struct vmmu_pv_mmu_update mmu[MAX_BATCH];
	struct vmmu_pv_mmuext_op ext[MAX_EXT];
	uint64_t va, val, flags;
};

struct fz {
	struct vmmu_ft ft;
	struct vmmu_frame frames[NFRAMES];
	struct vmmu_pv_domain dom[NDOMS];
	struct vmmu_pv_vcpu vcpu[NVCPUS];
	struct call pending[NVCPUS];
	uint64_t work[2 * NFRAMES];
	uint64_t m2p[NFRAMES]; /* domain 1's */
	struct vmmu_pv_guest_ops guest;
	struct vmmu_pv_foreign_ops foreign; /* domain 1 controls domain 2 */
	/* Each domain frame's type after the last call that could change it. */
	uint8_t type_seen[NFRAMES];
};

/*
 * The test platform, with should_yield answering tp.yield only on every
 * g_period-th ask: period 1 stops every preemptible loop at its first
 * chance, longer ones stop deep inside a validation.
 */
static struct test_platform g_tp;
static struct vmmu_platform_ops g_ops;
static struct vmmu_platform g_plat;
static uint64_t g_tick, g_period = 1;
/* Flushes: VMMU_TLB_ALL (writable frame became a table) and the guest's. */
static uint64_t g_flush_all, g_flush_guest;
/* Domain 2 handed to domain 1's calls by its foreign ops, and given back. */
static uint64_t g_foreign_gets, g_foreign_puts;

static bool fz_yield(void *ctx)
{
	const struct test_platform *tp = ctx;

	return tp->yield && ++g_tick % g_period == 0;
}

static void fz_flush(void *ctx, const struct vmmu_tlb_req *req)
{
	if (req->scope == VMMU_TLB_ALL) {
		CHECK(req->cpu_mask == NULL); /* every CPU the domain ran on */
		g_flush_all++;
	} else {
		g_flush_guest++;
	}
	g_tp.plat.ops->tlb_flush(ctx, req);
}

static void platform_once(void)
{
	static bool ready;

	if (ready) {
		return;
	}
	test_platform_init(&g_tp, NFRAMES);
	g_ops = *g_tp.plat.ops;
	g_ops.should_yield = fz_yield;
	g_ops.tlb_flush = fz_flush;
	g_plat = g_tp.plat;
	g_plat.ops = &g_ops;
	g_trace = getenv("FUZZ_PV_TRACE") != NULL;
	ready = true;
}

static uint64_t *frame_ptr(uint64_t mfn)
{
	return test_platform_ptr(&g_tp, mfn << 12);
}

static unsigned dom_of_mfn(uint64_t mfn)
{
	for (unsigned d = 0; d < NDOMS; d++) {
		if (mfn >= k_base[d] && mfn < k_base[d] + DOM_FRAMES) {
			return d;
		}
	}
	return NDOMS; /* unassigned */
}

/* What the hypervisor keeps in reserved slot s of domain d's L4s. */
static uint64_t hv_slot(unsigned d, unsigned s)
{
	return d == 0 && s == HV_SLOT ? HV_ENTRY : 0;
}

static struct vmmu_frame_info info(const struct fz *f, uint64_t mfn)
{
	struct vmmu_frame_info i;

	CHECK(vmmu_ft_info(&f->ft, mfn, &i) == 0);
	return i;
}

static bool bitmap_readable(uint64_t gva)
{
	return (gva & 0x1000) == 0;
}

/* Domain 1's guest memory, as far as vCPU bitmaps go. */
static int fz_copy_from_guest(void *ctx, const struct vmmu_pv_vcpu *v,
			      void *dst, uint64_t gva, size_t len)
{
	struct fz *f = ctx;

	CHECK(v->d == &f->dom[0] && len == (VPD + 7) / 8);
	if (!bitmap_readable(gva)) {
		return -VMMU_EFAULT;
	}
	memset(dst, 0, len);
	*(uint8_t *)dst = (uint8_t)(gva >> 9 & 3);
	return 0;
}

static bool has_guest_ops(unsigned d)
{
	return d == 0;
}

/* Domain 1's embedder fills the slots of an L4 just validated. */
static struct vmmu_pv_domain *fz_foreign_get(void *ctx,
					     const struct vmmu_pv_domain *caller,
					     vmmu_domid_t domid)
{
	struct fz *f = ctx;

	CHECK(caller == &f->dom[0]);
	CHECK(domid != k_domid[0] && domid < VMMU_PV_DOMID_SELF);
	if (domid != k_domid[1]) {
		return NULL;
	}
	g_foreign_gets++;
	return &f->dom[1];
}

static void fz_foreign_put(void *ctx, struct vmmu_pv_domain *d)
{
	struct fz *f = ctx;

	CHECK(d == &f->dom[1]);
	g_foreign_puts++;
}

static void fz_fill_reserved_l4(void *ctx, uint64_t mfn, vmmu_pte_t *l4)
{
	const struct fz *f = ctx;

	CHECK(dom_of_mfn(mfn) == 0 && l4 == (vmmu_pte_t *)frame_ptr(mfn));
	(void)f;
	for (unsigned s = HV_SLOT; s < HV_SLOT + HV_SLOTS; s++) {
		l4[s] = hv_slot(0, s);
	}
}

/* Fresh state: runs must not depend on each other. */
static void reset(struct fz *f)
{
	static const uint64_t l4_reserved[8] = {0, 0, 0, 0, 0xffffull};

	memset(g_tp.arena, 0, NFRAMES * 4096);
	g_tp.yield = false;
	g_flush_all = 0;
	g_flush_guest = 0;
	g_foreign_gets = 0;
	g_foreign_puts = 0;
	g_tick = 0;
	g_period = 1;
	memset(f, 0, sizeof(*f));
	CHECK(vmmu_ft_init(&f->ft, f->frames, sizeof(f->frames), NFRAMES,
			   &g_plat) == 0);
	for (unsigned d = 0; d < NDOMS; d++) {
		for (uint64_t k = 0; k < DOM_FRAMES; k++) {
			CHECK(vmmu_ft_assign(&f->ft, k_base[d] + k, k_domid[d]) == 0);
		}
	}
	CHECK(vmmu_pv_domain_init(&f->dom[0], &f->ft, &g_plat, k_domid[0],
				  MAXPHY, l4_reserved, VMMU_PV_LINEAR_PT) == 0);
	f->guest = (struct vmmu_pv_guest_ops){
		.copy_from_guest = fz_copy_from_guest,
		.fill_reserved_l4 = fz_fill_reserved_l4,
		.ctx = f,
	};
	vmmu_pv_domain_set_m2p(&f->dom[0], f->m2p);
	vmmu_pv_domain_set_guest_ops(&f->dom[0], &f->guest, VPD);
	f->foreign = (struct vmmu_pv_foreign_ops){
		.get = fz_foreign_get, .put = fz_foreign_put, .ctx = f};
	vmmu_pv_domain_set_foreign_ops(&f->dom[0], &f->foreign);
	CHECK(vmmu_pv_domain_init(&f->dom[1], &f->ft, &g_plat, k_domid[1],
				  MAXPHY, l4_reserved, VMMU_PV_CACHE_ATTRS) == 0);
	for (unsigned v = 0; v < NVCPUS; v++) {
		CHECK(vmmu_pv_vcpu_init(&f->vcpu[v], &f->dom[v / VPD], v % VPD) == 0);
	}
}

/*
 * Every validated L4 shows the hypervisor's slots: the guest may have
 * stored anything there while the frame was plain memory, and it must
 * not reach the hardware (nor update_va_mapping's walk).
 */
static void check_reserved_slots(const struct fz *f)
{
	for (uint64_t mfn = 1; mfn < 1 + NDOMS * DOM_FRAMES; mfn++) {
		struct vmmu_frame_info i = info(f, mfn);
		const uint64_t *t = frame_ptr(mfn);

		if (i.type != VMMU_FTYPE_L4 || !i.validated) {
			continue;
		}
		for (unsigned s = HV_SLOT; s < HV_SLOT + HV_SLOTS; s++) {
			CHECK(t[s] == hv_slot(dom_of_mfn(mfn), s));
		}
	}
}

/* Both audits, and no reference on an unassigned frame. */
static void audit_all(struct fz *f)
{
	const struct vmmu_pv_audit_domain doms[NDOMS] = {
		{&f->dom[0], &f->vcpu[0], VPD},
		{&f->dom[1], &f->vcpu[VPD], VPD},
	};
	struct vmmu_pv_audit a;

	if (vmmu_pv_audit_domains(doms, NDOMS, f->work, &a) != 0) {
		fprintf(stderr,
			"fuzz_pv: op %u: audit: %llu errors, first at frame "
			"%llu: %s\n",
			g_opno, (unsigned long long)a.errors,
			(unsigned long long)a.first_mfn, a.first);
		abort();
	}
	CHECK(g_foreign_gets == g_foreign_puts); /* each call gave it back */
	for (uint64_t mfn = 0; mfn < NFRAMES; mfn++) {
		if (dom_of_mfn(mfn) == NDOMS) {
			CHECK(info(f, mfn).count == 0);
		}
	}
}

/* --- decoding --------------------------------------------------------------------------- */

static uint64_t rd_frame(struct reader *r, unsigned d)
{
	uint8_t s = rd8(r);
	unsigned w = s & 63u;

	if (s < 192) {
		return k_base[d] + s % DOM_FRAMES;
	}
	return w < 60 ? w : k_beyond[w - 60];
}

static uint64_t rd_val(struct reader *r, unsigned d)
{
	uint64_t e = rd_frame(r, d) << 12;
	uint8_t hi;

	e |= rd8(r);
	hi = rd8(r);
	for (unsigned b = 0; b < 8; b++) {
		if (hi >> b & 1) {
			e |= k_hi_bits[b];
		}
	}
	return e;
}

/* An mmu_update ptr: entry address and command. */
static uint64_t rd_ptr(struct reader *r, unsigned d)
{
	uint64_t mfn = rd_frame(r, d);
	uint16_t w = rd16(r);
	uint64_t index = w & 0x8000 ? w & 511u : w & 3u;
	static const uint64_t cmds[7] = {0, 0, 0, 0, 2, 3, 1};
	unsigned c = (w >> 12) & 7;
	uint64_t cmd = c < 7 ? cmds[c] : 4 + ((w >> 9) & 3u);

	return mfn << 12 | index << 3 | cmd;
}

static uint64_t rd_va(struct reader *r)
{
	uint8_t m = rd8(r);

	if (m & 0x80) {
		return rd64(r);
	}
	return (uint64_t)(m >> 6 & 1) << 39 | (uint64_t)(m >> 4 & 3) << 30 |
	       (uint64_t)(m >> 2 & 3) << 21 | (uint64_t)(m & 3) << 12;
}

static uint32_t fd_of(unsigned sel, unsigned d)
{
	switch (sel & 7) {
	case 5:
		return k_domid[d];
	case 6:
		return k_domid[1 - d];
	case 7:
		return (uint32_t)(k_domid[d] + 1) << 16 | VMMU_PV_DOMID_SELF;
	default:
		return VMMU_PV_DOMID_SELF;
	}
}

/*
 * The domain (index) whose frames domain d's new L1 entries map under
 * foreigndom fd, or NDOMS when the call must be refused with -VMMU_EPERM:
 * domain 1 controls domain 2 (its foreign ops say so), nobody else
 * controls anybody, and page tables are always the caller's.
 */
static unsigned pg_of(uint32_t fd, unsigned d)
{
	uint32_t data = fd & 0xffff, tables = fd >> 16;

	if (tables != 0 && tables != k_domid[d] + 1u) {
		return NDOMS;
	}
	if (data == VMMU_PV_DOMID_SELF || data == k_domid[d]) {
		return d;
	}
	return d == 0 && data == k_domid[1] ? 1 : NDOMS;
}

static bool fd_ok(uint32_t fd, unsigned d)
{
	return pg_of(fd, d) != NDOMS;
}

/* mmuext_op never acts for another domain. */
static bool fd_self(uint32_t fd, unsigned d)
{
	return pg_of(fd, d) == d;
}

/* mmuext commands, weighted towards the ones that hold references. */
static const uint32_t k_ext_cmds[32] = {
	0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
	16, 17, 18, 19, 20, 0, 1, 2, 3, 4, 5, 15, 4, 21, 0x80000000u, 0xffffffffu,
};

static bool ext_is_invlpg(uint32_t cmd)
{
	return cmd == VMMU_PV_MMUEXT_INVLPG_LOCAL ||
	       cmd == VMMU_PV_MMUEXT_INVLPG_ALL;
}

static bool ext_is_multi(uint32_t cmd)
{
	return cmd == VMMU_PV_MMUEXT_TLB_FLUSH_MULTI ||
	       cmd == VMMU_PV_MMUEXT_INVLPG_MULTI;
}

static bool ext_supported(uint32_t cmd, unsigned d)
{
	return cmd <= VMMU_PV_MMUEXT_INVLPG_LOCAL ||
	       cmd == VMMU_PV_MMUEXT_TLB_FLUSH_ALL ||
	       cmd == VMMU_PV_MMUEXT_INVLPG_ALL ||
	       cmd == VMMU_PV_MMUEXT_NEW_USER_BASEPTR ||
	       (ext_is_multi(cmd) && has_guest_ops(d));
}

static bool canonical(uint64_t va)
{
	return (uint64_t)((int64_t)(va << 16) >> 16) == va;
}

/* The flushes a completed ext op issues (pins and base pointers none). */
static unsigned ext_flushes(const struct vmmu_pv_mmuext_op *op)
{
	switch (op->cmd) {
	case VMMU_PV_MMUEXT_TLB_FLUSH_LOCAL:
	case VMMU_PV_MMUEXT_TLB_FLUSH_MULTI:
	case VMMU_PV_MMUEXT_TLB_FLUSH_ALL:
		return 1;
	case VMMU_PV_MMUEXT_INVLPG_LOCAL:
	case VMMU_PV_MMUEXT_INVLPG_MULTI:
	case VMMU_PV_MMUEXT_INVLPG_ALL:
		return canonical(op->arg1.linear_addr) ? 1 : 0;
	default:
		return 0;
	}
}

/* --- return codes and done ------------------------------------------------------------- */

static bool rc_documented(int rc)
{
	switch (-rc) {
	case 0:
	case VMMU_EINVAL:
	case VMMU_ENOENT:
	case VMMU_EPERM:
	case VMMU_EBUSY:
	case VMMU_ERESTART:
	case VMMU_ENOTSUP:
	case VMMU_EAGAIN:
	case VMMU_EFAULT: /* an unreadable vCPU bitmap */
		return true;
	default:
		return false;
	}
}

static bool refused(int rc)
{
	return rc != 0 && rc != -VMMU_ERESTART;
}

/* done rules of pv.h for a batch call that started at `start`. */
static void check_done(int rc, uint32_t start, uint32_t done, uint32_t count)
{
	CHECK(rc_documented(rc));
	if (start > count) {
		CHECK(rc == -VMMU_EINVAL && done == start); /* XSA-212 */
		return;
	}
	CHECK(done >= start && done <= count);
	CHECK(rc != 0 || done == count);
	CHECK(!refused(rc) || done < count);
}

/* --- mmu_update ------------------------------------------------------------------------ */

static bool in_arena(uint64_t ptr)
{
	return (ptr >> 12) < NFRAMES;
}

static bool is_machphys(uint64_t ptr)
{
	return (ptr & 7) == VMMU_PV_MMU_MACHPHYS_UPDATE;
}

/* What request ptr writes: an entry in the arena, or an M2P slot. */
static uint64_t *target_of(struct fz *f, uint64_t ptr)
{
	if (is_machphys(ptr)) {
		return &f->m2p[ptr >> 12];
	}
	return &frame_ptr(ptr >> 12)[(ptr & 0xff8u) >> 3];
}

/* Whether requests a and b write the same place (an M2P slot is per frame). */
static bool same_entry(uint64_t a, uint64_t b)
{
	if (is_machphys(a) || is_machphys(b)) {
		return is_machphys(a) && is_machphys(b) && a >> 12 == b >> 12;
	}
	return (a & ~7ull) == (b & ~7ull);
}

/* Whether requests [from, to) write the entry of request `i`. */
static bool touched(const struct call *c, uint32_t from, uint32_t to,
		    uint32_t i)
{
	for (uint32_t j = from; j < to; j++) {
		if (same_entry(c->mmu[j].ptr, c->mmu[i].ptr)) {
			return true;
		}
	}
	return false;
}

/* Completed requests left their value; the refused/pending one nothing. */
static void check_mmu_entries(struct fz *f, const struct call *c,
			      uint32_t start, int rc, const uint64_t *before)
{
	for (uint32_t i = start; i < c->done; i++) {
		const struct vmmu_pv_mmu_update *q = &c->mmu[i];
		uint64_t now;

		if (touched(c, i + 1, c->done, i)) {
			continue; /* a later request wrote it again */
		}
		CHECK(in_arena(q->ptr));
		now = *target_of(f, q->ptr);
		if ((q->ptr & 7) == VMMU_PV_MMU_PT_UPDATE_PRESERVE_AD) {
			CHECK((now & ~E_AD) == (q->val & ~E_AD));
			CHECK((now & q->val & E_AD) == (q->val & E_AD));
		} else {
			CHECK(now == q->val);
		}
	}
	if (rc != 0 && c->done < c->count && in_arena(c->mmu[c->done].ptr) &&
	    !touched(c, start, c->done, c->done)) {
		CHECK(*target_of(f, c->mmu[c->done].ptr) == before[c->done]);
	}
}

/* The refusal a request must get whatever the state. */
static void check_mmu_refusal(const struct call *c, int rc, unsigned d)
{
	uint64_t ptr;

	if (!refused(rc) || c->done >= c->count) {
		return;
	}
	if (!fd_ok(c->fd, d)) {
		CHECK(rc == -VMMU_EPERM);
		return;
	}
	ptr = c->mmu[c->done].ptr;
	/* Only domain 1 has an M2P. */
	if ((is_machphys(ptr) && pg_of(c->fd, d) != 0) || (ptr & 7) > 3) {
		CHECK(rc == -VMMU_ENOTSUP);
	} else if (!in_arena(ptr)) {
		CHECK(rc == -VMMU_EINVAL); /* XSA-167 */
	}
}

static int do_mmu(struct fz *f, unsigned v, struct call *c)
{
	uint64_t before[MAX_BATCH] = {0};
	uint32_t start = c->done;
	uint64_t flushes = g_flush_guest;
	int rc;

	for (uint32_t i = start; i < c->count; i++) {
		before[i] = in_arena(c->mmu[i].ptr) ? *target_of(f, c->mmu[i].ptr)
						    : 0;
	}
	rc = vmmu_pv_mmu_update(&f->vcpu[v], c->mmu, c->count, &c->done, c->fd);
	TRACE("    mmu_update -> %d done %u/%u\n", rc, c->done, c->count);
	check_done(rc, start, c->done, c->count);
	CHECK(g_flush_guest - flushes <= 1); /* one flush a call at most */
	if (start <= c->count) {
		CHECK(fd_ok(c->fd, v / VPD) || (rc == -VMMU_EPERM && c->done == start));
		check_mmu_entries(f, c, start, rc, before);
		check_mmu_refusal(c, rc, v / VPD);
	}
	return rc;
}

/* --- mmuext_op ------------------------------------------------------------------------- */

static void check_ext_effect(const struct fz *f, unsigned v,
			     const struct vmmu_pv_mmuext_op *op)
{
	const struct vmmu_pv_vcpu *cpu = &f->vcpu[v];

	switch (op->cmd) {
	case VMMU_PV_MMUEXT_PIN_L1_TABLE:
	case VMMU_PV_MMUEXT_PIN_L2_TABLE:
	case VMMU_PV_MMUEXT_PIN_L3_TABLE:
	case VMMU_PV_MMUEXT_PIN_L4_TABLE: {
		struct vmmu_frame_info i = info(f, op->arg1.mfn);
		CHECK(i.pinned && i.validated && i.type == op->cmd + 1);
		break;
	}
	case VMMU_PV_MMUEXT_UNPIN_TABLE:
		CHECK(!info(f, op->arg1.mfn).pinned);
		break;
	case VMMU_PV_MMUEXT_NEW_BASEPTR:
		CHECK(vmmu_pv_vcpu_base(cpu) == op->arg1.mfn);
		break;
	case VMMU_PV_MMUEXT_NEW_USER_BASEPTR:
		CHECK(vmmu_pv_vcpu_user_base(cpu) == op->arg1.mfn);
		break;
	default:
		break;
	}
}

static int do_ext(struct fz *f, unsigned v, struct call *c)
{
	uint32_t start = c->done;
	uint64_t flushes = g_flush_guest, want = 0;
	int rc = vmmu_pv_mmuext_op(&f->vcpu[v], c->ext, c->count, &c->done,
				   c->fd);

	TRACE("    mmuext_op -> %d done %u/%u\n", rc, c->done, c->count);
	check_done(rc, start, c->done, c->count);
	if (start > c->count) {
		CHECK(g_flush_guest == flushes);
		return rc;
	}
	/*
	 * Another domain: nothing done. An accepted foreign domain gets to
	 * the commands (each refused), after the vCPU's parked work, which
	 * may stop the call first (as in Xen).
	 */
	CHECK(fd_self(c->fd, v / VPD) ||
	      (c->done == start &&
	       (rc == -VMMU_EPERM ||
		(fd_ok(c->fd, v / VPD) &&
		 (rc == -VMMU_ERESTART || (rc == 0 && start == c->count))))));
	for (uint32_t i = start; i < c->done; i++) {
		CHECK(ext_supported(c->ext[i].cmd, v / VPD));
		want += ext_flushes(&c->ext[i]);
	}
	CHECK(g_flush_guest - flushes == want);
	if (c->done > start) {
		check_ext_effect(f, v, &c->ext[c->done - 1]);
	}
	if (refused(rc) && fd_self(c->fd, v / VPD)) {
		const struct vmmu_pv_mmuext_op *op = &c->ext[c->done];
		CHECK((rc == -VMMU_ENOTSUP) == !ext_supported(op->cmd, v / VPD));
		CHECK(rc != -VMMU_EFAULT ||
		      (ext_is_multi(op->cmd) && !bitmap_readable(op->arg2.vcpumask)));
	}
	return rc;
}

/* --- update_va_mapping ------------------------------------------------------------------ */

/* Whether va lies in the hypervisor's L4 slots (refused, never walked). */
static bool hv_va(uint64_t va)
{
	uint64_t slot = va >> 39 & 511;

	return slot >= HV_SLOT && slot < HV_SLOT + HV_SLOTS;
}

/* The L1 entry that maps va under base, by the guest's own walk; NULL if none. */
static const uint64_t *walk_l1e(uint64_t base, uint64_t va)
{
	uint64_t mfn = base;

	for (unsigned level = 4; level > 1; level--) {
		uint64_t e = frame_ptr(mfn)[va >> (12 + 9 * (level - 1)) & 511];
		if ((e & E_P) == 0) {
			return NULL;
		}
		mfn = (e & E_ADDR) >> 12;
		if (mfn >= NFRAMES) {
			return NULL;
		}
	}
	return &frame_ptr(mfn)[va >> 12 & 511];
}

static int do_uva(struct fz *f, unsigned v, struct call *c)
{
	struct vmmu_pv_vcpu *cpu = &f->vcpu[v];
	uint64_t flushes = g_flush_guest, all = g_flush_all, type = c->flags & 3;
	uint64_t target = c->flags & ~3ull;
	bool multi = type != 0 && target != VMMU_PV_UVMF_LOCAL &&
		     target != VMMU_PV_UVMF_ALL;
	int rc = c->count != 0 ? vmmu_pv_update_va_mapping_otherdomain(
					 cpu, c->va, c->val, c->flags,
					 (vmmu_domid_t)c->fd)
			       : vmmu_pv_update_va_mapping(cpu, c->va, c->val,
							   c->flags);

	TRACE("    update_va_mapping -> %d\n", rc);
	CHECK(rc_documented(rc));
	if (type == 3) {
		CHECK(rc == -VMMU_EINVAL);
	} else if (!fd_ok(c->fd, v / VPD)) {
		CHECK(rc == -VMMU_EPERM);
	} else if (multi && !has_guest_ops(v / VPD)) {
		CHECK(rc == -VMMU_ENOTSUP);
	} else if (multi && !bitmap_readable(target)) {
		CHECK(rc == -VMMU_EFAULT); /* read before anything changes */
	} else if (!canonical(c->va) || vmmu_pv_vcpu_base(cpu) == 0 ||
		   hv_va(c->va)) {
		CHECK(rc == -VMMU_EINVAL || rc == -VMMU_ERESTART);
	}
	if (rc != 0) {
		CHECK(g_flush_guest == flushes && g_flush_all == all); /* XSA-279 */
		return rc;
	}
	CHECK(g_flush_guest - flushes == (type != 0 ? 1u : 0u));
	const uint64_t *l1e = walk_l1e(vmmu_pv_vcpu_base(cpu), c->va);
	CHECK(l1e != NULL && *l1e == c->val);
	return rc;
}

/* --- calls, resumes -------------------------------------------------------------------- */

/*
 * The frame types of domain d, kept in f->type_seen as the "before" of the
 * next call (a call changes its own domain's frames only; anything else
 * that changes types, such as a vCPU release, notes them again).
 */
static void note_types(struct fz *f, unsigned d)
{
	for (uint64_t k = 0; k < DOM_FRAMES; k++) {
		f->type_seen[k_base[d] + k] = info(f, k_base[d] + k).type;
	}
}

/* A writable frame that became a table was flushed (XSA-241, XSA-401). */
static void check_leave_writable(struct fz *f, unsigned d, bool flushed)
{
	for (uint64_t k = 0; k < DOM_FRAMES; k++) {
		uint64_t mfn = k_base[d] + k;
		uint8_t now = info(f, mfn).type;
		CHECK(flushed || f->type_seen[mfn] != VMMU_FTYPE_WRITABLE ||
		      now < VMMU_FTYPE_L1 || now > VMMU_FTYPE_L4);
		f->type_seen[mfn] = now;
	}
}

/*
 * One hypercall of c on vCPU v, checked, and audited unless `quiet` (the
 * middle of a long resume loop, which is audited on a stride: a full L4
 * tree preempted at every chance takes ~1500 calls, and the audit
 * dominates the run time).
 */
static int issue_audit(struct fz *f, unsigned v, struct call *c, bool quiet)
{
	uint64_t all = g_flush_all;
	int rc;

	switch (c->kind) {
	case CALL_MMU:
		rc = do_mmu(f, v, c);
		break;
	case CALL_EXT:
		rc = do_ext(f, v, c);
		break;
	default:
		rc = do_uva(f, v, c);
		break;
	}
	check_leave_writable(f, v / VPD, g_flush_all != all);
	if (!quiet || rc != -VMMU_ERESTART) {
		check_reserved_slots(f);
		audit_all(f);
	}
	return rc;
}

static int issue(struct fz *f, unsigned v, struct call *c)
{
	return issue_audit(f, v, c, false);
}

/* A new call: kept on the vCPU when preempted, as the guest would redo it. */
static void issue_new(struct fz *f, unsigned v, const struct call *c)
{
	struct call now = *c;

	if (issue(f, v, &now) == -VMMU_ERESTART) {
		f->pending[v] = now;
	}
}

static void op_resume(struct fz *f, unsigned v, unsigned mod)
{
	static const unsigned reps[4] = {1, 4, 32, RESUME_MAX};
	struct call *c = &f->pending[v];
	int rc = -VMMU_ERESTART;

	TRACE("vcpu %u: resume x%u (%s)\n", v, reps[mod],
	      c->kind == CALL_NONE ? "nothing pending" : "pending call");
	for (unsigned n = 0; n < reps[mod] && c->kind != CALL_NONE &&
			     rc == -VMMU_ERESTART;
	     n++) {
		rc = issue_audit(f, v, c, n >= AUDIT_ALL_UPTO && n % AUDIT_STRIDE != 0);
	}
	if (c->kind != CALL_NONE && rc == -VMMU_ERESTART) {
		audit_all(f); /* where the loop stopped */
	}
	if (rc != -VMMU_ERESTART) {
		c->kind = CALL_NONE;
	}
}

/* --- operations -------------------------------------------------------------------------- */

/*
 * A plain guest store into its own frame, only when the guest could hold
 * a writable mapping of it: unused (type count 0) or writable. Tables and
 * frames being (de)validated are never written behind the validator.
 */
static void op_store(struct fz *f, unsigned v, struct reader *r)
{
	unsigned d = v / VPD;
	uint64_t mfn = k_base[d] + rd8(r) % DOM_FRAMES;
	uint16_t w = rd16(r);
	unsigned index = w & 0x8000 ? w & 511u : w & 3u;
	uint64_t val = rd_val(r, d);
	struct vmmu_frame_info i = info(f, mfn);
	bool ok = i.type_count == 0 || i.type == VMMU_FTYPE_WRITABLE;

	TRACE("vcpu %u: store frame %llu[%u] = %#llx%s\n", v,
	      (unsigned long long)mfn, index, (unsigned long long)val,
	      ok ? "" : " (skipped: not writable by the guest)");
	if (ok) {
		frame_ptr(mfn)[index] = val;
	}
}

static void trace_mmu(unsigned v, const struct call *c)
{
	TRACE("vcpu %u: mmu_update count %u done %u fd %#x\n", v, c->count,
	      c->done, c->fd);
	for (uint32_t i = 0; i < c->count; i++) {
		TRACE("    [%u] frame %llu[%llu] cmd %llu = %#llx\n", i,
		      (unsigned long long)(c->mmu[i].ptr >> 12),
		      (unsigned long long)((c->mmu[i].ptr & 0xfff) >> 3),
		      (unsigned long long)(c->mmu[i].ptr & 7),
		      (unsigned long long)c->mmu[i].val);
	}
}

static void op_mmu(struct fz *f, unsigned v, unsigned mod, struct reader *r)
{
	unsigned d = v / VPD;
	uint8_t h = rd8(r);
	struct call c = {.kind = CALL_MMU, .count = 1 + (h & 7u),
			 .fd = fd_of(h >> 3, d)};

	for (uint32_t i = 0; i < c.count; i++) {
		c.mmu[i].ptr = rd_ptr(r, d);
		c.mmu[i].val = rd_val(r, d);
	}
	c.done = mod == 3 ? c.count + 1 : 0;
	trace_mmu(v, &c);
	issue_new(f, v, &c);
}

static void op_ext(struct fz *f, unsigned v, unsigned mod, struct reader *r)
{
	unsigned d = v / VPD;
	uint8_t h = rd8(r);
	struct call c = {.kind = CALL_EXT, .count = 1 + (h & 3u),
			 .fd = fd_of(h >> 2, d)};

	for (uint32_t i = 0; i < c.count; i++) {
		struct vmmu_pv_mmuext_op *op = &c.ext[i];
		op->cmd = k_ext_cmds[rd8(r) & 31];
		op->arg1.mfn = ext_is_invlpg(op->cmd) ? rd_va(r) : rd_frame(r, d);
		if (ext_is_multi(op->cmd)) {
			op->arg2.vcpumask = (uint64_t)rd8(r) << 8;
		}
	}
	c.done = mod == 3 ? c.count + 1 : 0;
	TRACE("vcpu %u: mmuext_op count %u done %u fd %#x\n", v, c.count,
	      c.done, c.fd);
	for (uint32_t i = 0; i < c.count; i++) {
		TRACE("    [%u] cmd %u arg %#llx arg2 %#llx\n", i, c.ext[i].cmd,
		      (unsigned long long)c.ext[i].arg1.mfn,
		      (unsigned long long)c.ext[i].arg2.vcpumask);
	}
	issue_new(f, v, &c);
}

/*
 * Modifier 0: update_va_mapping; 1-3: update_va_mapping_otherdomain with
 * the domain's own id, the other domain's, DOMID_IO (count 1 marks it).
 */
static void op_uva(struct fz *f, unsigned v, unsigned mod, struct reader *r)
{
	static const uint32_t k_uva_sel[4] = {0, 5, 6, 0};
	struct call c = {.kind = CALL_UVA, .count = mod != 0,
			 .fd = mod == 3 ? VMMU_PV_DOMID_IO
					: fd_of(k_uva_sel[mod], v / VPD)};
	uint8_t fl;

	c.va = rd_va(r);
	c.val = rd_val(r, v / VPD);
	fl = rd8(r);
	c.flags = (fl & 3u) | (fl & 4u ? VMMU_PV_UVMF_ALL : 0) |
		  (fl & 8u ? (uint64_t)fl << 8 : 0);
	TRACE("vcpu %u: update_va_mapping va %#llx = %#llx flags %#llx "
	      "domid %#x\n",
	      v, (unsigned long long)c.va, (unsigned long long)c.val,
	      (unsigned long long)c.flags, c.fd);
	issue_new(f, v, &c);
}

static void op_yield(struct reader *r)
{
	uint8_t y = rd8(r);

	g_tp.yield = (y & 1) != 0;
	g_period = k_periods[(y >> 1) & 7];
	g_tick = 0;
	TRACE("yield %s every %llu\n", g_tp.yield ? "on" : "off",
	      (unsigned long long)g_period);
}

static bool vcpu_empty(const struct vmmu_pv_vcpu *cpu)
{
	return cpu->base == 0 && cpu->user_base == 0 && cpu->pending_put[0] == 0 &&
	       cpu->pending_put[1] == 0 && cpu->pending_partial == 0;
}

static int release(struct fz *f, unsigned v)
{
	int rc = vmmu_pv_vcpu_release(&f->vcpu[v]);

	TRACE("vcpu %u: release -> %d\n", v, rc);
	CHECK(rc == 0 || rc == -VMMU_ERESTART);
	CHECK(rc != 0 || vcpu_empty(&f->vcpu[v]));
	note_types(f, v / VPD);
	audit_all(f);
	return rc;
}

/* --- teardown ------------------------------------------------------------------------- */

static void release_all(struct fz *f)
{
	for (unsigned v = 0; v < NVCPUS; v++) {
		unsigned n = 0;
		while (release(f, v) == -VMMU_ERESTART) {
			CHECK(++n < TEARDOWN_MAX);
		}
	}
}

/* Unpin every pinned frame of domain d through its first vCPU. */
static void unpin_all(struct fz *f, unsigned d)
{
	for (uint64_t k = 0; k < DOM_FRAMES; k++) {
		uint64_t mfn = k_base[d] + k;
		struct call c = {.kind = CALL_EXT, .count = 1,
				 .fd = VMMU_PV_DOMID_SELF};
		unsigned n = 0;
		int rc;

		if (!info(f, mfn).pinned) {
			continue;
		}
		TRACE("teardown: unpin frame %llu\n", (unsigned long long)mfn);
		c.ext[0] = (struct vmmu_pv_mmuext_op){
			.cmd = VMMU_PV_MMUEXT_UNPIN_TABLE, .arg1.mfn = mfn};
		while ((rc = issue(f, d * VPD, &c)) == -VMMU_ERESTART) {
			CHECK(++n < TEARDOWN_MAX);
		}
		CHECK(rc == 0);
	}
}

/* Everything given back: each frame holds its allocation reference only. */
static void check_no_leak(struct fz *f)
{
	static const uint8_t zero[4096];

	for (uint64_t mfn = 0; mfn < NFRAMES; mfn++) {
		struct vmmu_frame_info i = info(f, mfn);
		unsigned d = dom_of_mfn(mfn);

		CHECK(d == 0 || f->m2p[mfn] == 0); /* only domain 1's own slots */
		if (d == NDOMS) {
			CHECK(i.count == 0 && !i.allocated);
			CHECK(memcmp(frame_ptr(mfn), zero, sizeof(zero)) == 0);
			continue;
		}
		CHECK(i.allocated && i.owner == k_domid[d]);
		CHECK(i.count == 1 && i.type_count == 0);
		CHECK(!i.pinned && !i.partial && !i.devalidating);
	}
}

static void teardown(struct fz *f)
{
	g_opno = MAX_OPS;
	g_tp.yield = false;
	TRACE("teardown\n");
	release_all(f);
	for (unsigned d = 0; d < NDOMS; d++) {
		unpin_all(f, d);
	}
	release_all(f); /* what an unpin parked */
	check_no_leak(f);
}

/* --- the target ------------------------------------------------------------------------- */

static void run_op(struct fz *f, struct reader *r)
{
	uint8_t b = rd8(r);
	unsigned v = (b >> 4) & 3, mod = b >> 6;

	switch (b & 15) {
	case 0:
	case 1:
	case 2:
		op_store(f, v, r);
		break;
	case 3:
	case 4:
	case 5:
	case 15:
		op_mmu(f, v, mod, r);
		break;
	case 6:
	case 7:
	case 8:
		op_ext(f, v, mod, r);
		break;
	case 9:
	case 10:
		op_uva(f, v, mod, r);
		break;
	case 11:
		op_yield(r);
		break;
	case 12:
	case 13:
		op_resume(f, v, mod);
		break;
	default:
		(void)release(f, v);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz f;
	struct reader r = {data, size};

	platform_once();
	reset(&f);
	audit_all(&f);
	for (g_opno = 0; g_opno < MAX_OPS && r.n > 0; g_opno++) {
		TRACE("op %u: ", g_opno);
		run_op(&f, &r);
	}
	teardown(&f);
	return 0;
}
