/* SPDX-License-Identifier: MIT */
/*
 * The guest side of batching, end to end: a PV guest kernel that touches
 * its page tables only through the batch API (include/vmmu/batch.h), over
 * the direct-paging backend (batch_pv.h), whose hypercalls land in vmmu's
 * multicall executor (batch_exec.h) and validator (pv.h). Both sides live
 * in this one process: the "hypervisor" owns a frame table over static
 * machine memory and one domain with one vCPU; the "guest" builds an
 * address space, then forks it the way Linux's copy_page_range does:
 * write-protect every parent PTE, fill a child L1 with read-only copies,
 * pin the child, flush the parent's TLB. Done in lazy-MMU mode the burst
 * is a handful of hypercalls; done outside it, one hypercall per update.
 * Then one hostile update in a batch shows what a refusal leaves behind.
 * Every number printed is deterministic; make test compares the output.
 *
 *   make examples && build/examples/guest-backend
 */
#include <vmmu/vmmu.h>

#include <stdio.h>
#include <stdlib.h>

#define FRAMES 280u /* 1..279 are the guest's */
#define GUEST 1u
#define PAGES 256u  /* pages the parent maps */
#define DATA 16u    /* page i of the parent is frame DATA + i */
#define FRESH 272u  /* frames for the error demo's new mappings */

/* Machine memory: machine frame n lives at memory + n * 4096. */
static _Alignas(4096) unsigned char memory[FRAMES * 4096];
static struct vmmu_frame frame_records[FRAMES];

/* === the hypervisor ================================================== */

static uint64_t full_flushes, guest_flushes; /* flush requests received */

static int no_alloc(void *ctx, vmmu_hpa_t *frame)
{
	(void)ctx;
	(void)frame;
	return -VMMU_ENOMEM; /* direct paging allocates nothing */
}

static void no_free(void *ctx, vmmu_hpa_t frame)
{
	(void)ctx;
	(void)frame;
}

/*
 * Where a real hypervisor sends IPIs. Full flushes come from vmmu itself
 * (a frame that was writable becoming a page table, XSA-241); non-global
 * ones from what the guest asked for.
 */
static void flush(void *ctx, const struct vmmu_tlb_req *req)
{
	(void)ctx;
	if (req->scope == VMMU_TLB_ALL) {
		full_flushes++;
	} else {
		guest_flushes++;
	}
}

static void die(void *ctx, const char *file, int line, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "vmmu panic %s:%d: %s\n", file, line, msg);
	abort();
}

static const struct vmmu_platform_ops plat_ops = {
	.frame_alloc = no_alloc,
	.frame_free = no_free,
	.tlb_flush = flush,
	.panic = die,
};

static const struct vmmu_platform plat = {
	.ops = &plat_ops,
	.direct_map_base = (uintptr_t)memory,
	.direct_map_size = sizeof(memory),
};

static struct vmmu_ft ft;
static struct vmmu_pv_domain dom;
static struct vmmu_pv_vcpu vcpu;

/*
 * Guest virtual addresses are host pointers here: guest and hypervisor
 * share one address space, so the guest's scratch arrays (requests, done
 * words, multicall list) are readable at the addresses it passes. A real
 * hypervisor walks the guest's page tables and checks the whole range.
 */
static void *guest_ptr(void *ctx, const struct vmmu_pv_vcpu *v, uint64_t gva,
		       size_t len)
{
	(void)ctx;
	(void)v;
	(void)len;
	return (void *)(uintptr_t)gva;
}

/*
 * STOP_ON_ERROR: nothing after a refused entry runs, which is what the
 * guest backend's "updates before it applied, the rest dropped" needs.
 */
static const struct vmmu_batch_exec_ops exec_ops = {
	.guest_ptr = guest_ptr,
	.flags = VMMU_BATCH_EXEC_STOP_ON_ERROR,
};

/*
 * The hypercall entry point: one entry is a direct hypercall, more are a
 * multicall. A preempted call is re-entered until it is over, as a real
 * hypervisor re-runs the guest's hypercall instruction.
 */
static int hypercall(void *ctx, uint32_t cpu,
		     struct vmmu_pv_multicall_entry *calls, uint32_t n)
{
	uint32_t done = 0;
	int64_t rc;

	(void)ctx;
	(void)cpu;
	do {
		rc = n == 1 ? vmmu_batch_exec_call(&vcpu, &calls[0], &exec_ops)
			    : vmmu_batch_exec(&vcpu, calls, n, &done, &exec_ops);
	} while (rc == -VMMU_ERESTART);
	return (int)rc;
}

static void hypervisor_init(void)
{
	vmmu_ft_init(&ft, frame_records, sizeof(frame_records), FRAMES, &plat);
	for (uint64_t mfn = 1; mfn < FRAMES; mfn++) {
		vmmu_ft_assign(&ft, mfn, GUEST);
	}
	vmmu_pv_domain_init(&dom, &ft, &plat, GUEST, 40, NULL, 0);
	vmmu_pv_vcpu_init(&vcpu, &dom, 0);
}

static void audit(const char *when)
{
	static uint64_t work[2 * FRAMES];
	struct vmmu_pv_audit a;
	int rc = vmmu_pv_audit(&dom, &vcpu, 1, work, &a);

	printf("audit %s: %s (%llu frames, %llu tables, %llu entries)\n", when,
	       rc == 0 ? "clean" : a.first, (unsigned long long)a.frames,
	       (unsigned long long)a.tables, (unsigned long long)a.entries);
}

/* === the guest kernel ================================================== */

#define P 0x1ull
#define RW 0x2ull
#define US 0x4ull
#define A 0x20ull
#define D 0x40ull

/*
 * Scratch memory the hypervisor reads and writes: one page of mmu_update
 * requests (256), a few mmuext ops and multicall entries. A run longer
 * than that goes out in several hypercalls.
 */
static struct vmmu_pv_multicall_entry sc_calls[8];
static struct vmmu_batch_pv_progress sc_progress[8];
static struct vmmu_pv_mmu_update sc_upd[256];
static struct vmmu_pv_mmuext_op sc_ext[16];
static struct vmmu_batch_pv_scratch scratch = {
	.calls = sc_calls,
	.progress = sc_progress,
	.upd = sc_upd,
	.ext = sc_ext,
	.calls_cap = 8,
	.upd_cap = 256,
	.ext_cap = 16,
};

static struct vmmu_batch_pv backend;
static struct vmmu_batch_entry ring[1024]; /* holds a whole fork burst */
static struct vmmu_batch_cpu cpu0;
static uint64_t queued; /* updates queued so far: the next one's seq */

/* An address space: four tables in the guest's own frames. */
struct mm {
	uint64_t l4, l3, l2, l1;
};

static const struct mm parent = {1, 2, 3, 4};
static const struct mm child_a = {5, 6, 7, 8};
static const struct mm child_b = {9, 10, 11, 12};

static uint64_t pte(uint64_t mfn, uint64_t flags)
{
	return (mfn << 12) | flags;
}

/* Machine address of entry `index` of table `mfn`. */
static uint64_t ma(uint64_t mfn, unsigned index)
{
	return (mfn << 12) + index * 8u;
}

/* What the guest may read of its tables (mapped read-only in a PV guest). */
static uint64_t entry(uint64_t mfn, unsigned index)
{
	return ((const uint64_t *)(memory + mfn * 4096))[index];
}

/*
 * Every batch call queues exactly one update (LOCAL/ALL flushes too), so
 * counting them here gives the sequence numbers the queue hands out.
 * Outside lazy mode the call also applies it: a refusal is a bug here.
 */
static void q(int rc)
{
	if (rc != 0) {
		fprintf(stderr, "update %llu: %s\n", (unsigned long long)queued,
			vmmu_strerror(rc));
		exit(1);
	}
	queued++;
}

static void guest_init(void)
{
	vmmu_batch_pv_init(&backend, &scratch, 1, 1, hypercall, NULL, 0);
	vmmu_batch_cpu_init(&cpu0, 0, ring, 1024, &backend.backend);
}

/* L4[0] -> L3, L3[1] -> L2, L2[0] -> L1: va 0x40000000 up. */
static void link_tables(const struct mm *m)
{
	q(vmmu_batch_pte_write(&cpu0, ma(m->l4, 0), 4, pte(m->l3, P | RW | US)));
	q(vmmu_batch_pte_write(&cpu0, ma(m->l3, 1), 3, pte(m->l2, P | RW | US)));
	q(vmmu_batch_pte_write(&cpu0, ma(m->l2, 0), 2, pte(m->l1, P | RW | US)));
}

/* --- counting what a burst cost -------------------------------------------- */

struct tally {
	uint64_t queued, hypercalls, multicalls, requests, full, guest;
};

static struct tally tally_now(void)
{
	return (struct tally){queued, scratch.hypercalls, scratch.multicalls,
			      scratch.requests, full_flushes, guest_flushes};
}

static struct tally tally_since(struct tally t0)
{
	struct tally t = tally_now();

	return (struct tally){t.queued - t0.queued, t.hypercalls - t0.hypercalls,
			      t.multicalls - t0.multicalls,
			      t.requests - t0.requests, t.full - t0.full,
			      t.guest - t0.guest};
}

static void show(const char *what, struct tally t)
{
	printf("  %-13s updates %3llu  hypercalls %3llu  multicalls %llu  "
	       "requests sent %3llu\n",
	       what, (unsigned long long)t.queued,
	       (unsigned long long)t.hypercalls,
	       (unsigned long long)t.multicalls,
	       (unsigned long long)t.requests);
	printf("  %-13s flush requests: %llu full (tables that were writable), "
	       "%llu asked for by the guest\n",
	       "", (unsigned long long)t.full, (unsigned long long)t.guest);
}

/* --- the parent ------------------------------------------------------------ */

/*
 * Tables that are not pinned yet are ordinary memory: the writes are
 * plain stores (the hypervisor checks only that the frame is the guest's
 * and not a table). The pin validates the whole tree at once.
 */
static void build_parent(void)
{
	struct tally t0 = tally_now();
	int rc;

	printf("The parent maps %u pages writable, pins its L4 and loads it "
	       "(lazy mode):\n", PAGES);
	vmmu_batch_lazy_enter(&cpu0);
	link_tables(&parent);
	for (unsigned i = 0; i < PAGES; i++) {
		q(vmmu_batch_pte_write(&cpu0, ma(parent.l1, i), 1,
				       pte(DATA + i, P | RW | US)));
	}
	q(vmmu_batch_pin(&cpu0, parent.l4, 4));
	q(vmmu_batch_new_base(&cpu0, parent.l4, false));
	rc = vmmu_batch_lazy_leave(&cpu0);
	printf("  lazy_leave: %s\n", vmmu_strerror(rc));
	show("build", tally_since(t0));
}

/* The CPU's page walker sets A/D on the pages it wrote: no hypercall. */
static void touch_even_pages(void)
{
	uint64_t *l1 = (uint64_t *)(memory + parent.l1 * 4096);

	for (unsigned i = 0; i < PAGES; i += 2) {
		__atomic_or_fetch(&l1[i], A | D, __ATOMIC_RELAXED);
	}
}

/* --- fork ------------------------------------------------------------------ */

/*
 * copy_page_range: per page, write-protect the parent's PTE (keeping the
 * A/D bits the CPU may set meanwhile: PRESERVE_AD) and give the child a
 * read-only, old, clean copy. The child's tables are not tables yet, so
 * its writes are plain stores; pinning its L4 validates all four. L1
 * changes flush nothing in the hypervisor, so the guest flushes the
 * parent's TLB itself, queued behind the writes it covers.
 */
static void fork_burst(const struct mm *child)
{
	for (unsigned i = 0; i < PAGES; i++) {
		q(vmmu_batch_pte_update_ad(&cpu0, ma(parent.l1, i), 1,
					   pte(DATA + i, P | US)));
		q(vmmu_batch_pte_write(&cpu0, ma(child->l1, i), 1,
				       pte(DATA + i, P | US)));
	}
	link_tables(child);
	q(vmmu_batch_pin(&cpu0, child->l4, 4));
	q(vmmu_batch_tlb_flush(&cpu0, VMMU_BATCH_ALL, NULL, 0));
}

static struct tally fork_lazy(const struct mm *child)
{
	struct tally t0 = tally_now();
	int rc;

	vmmu_batch_lazy_enter(&cpu0);
	fork_burst(child);
	printf("  still queued when lazy mode ends: %llu\n",
	       (unsigned long long)vmmu_batch_pending(&cpu0));
	rc = vmmu_batch_lazy_leave(&cpu0);
	printf("  lazy_leave: %s\n", vmmu_strerror(rc));
	return tally_since(t0);
}

/* Outside lazy mode every call is applied before it returns. */
static struct tally fork_eager(const struct mm *child)
{
	struct tally t0 = tally_now();

	fork_burst(child);
	return tally_since(t0);
}

static void check_fork(const struct mm *child)
{
	unsigned ro = 0, ad = 0, copies = 0;
	struct vmmu_frame_info i;

	for (unsigned k = 0; k < PAGES; k++) {
		ro += (entry(parent.l1, k) & (P | RW)) == P;
		ad += k % 2 == 0 && (entry(parent.l1, k) & (A | D)) == (A | D);
		copies += entry(child->l1, k) == pte(DATA + k, P | US);
	}
	vmmu_ft_info(&ft, child->l4, &i);
	printf("  parent: %u of %u PTEs read-only, A/D kept on %u of %u\n", ro,
	       PAGES, ad, PAGES / 2);
	printf("  child: %u read-only copies, L4 %s%s\n", copies,
	       i.validated ? "validated" : "not validated",
	       i.pinned ? " and pinned" : "");
}

static void compare(struct tally lazy, struct tally eager)
{
	/* Tenths, in integers: the ratio prints the same everywhere. */
	uint64_t tenths = eager.hypercalls * 10 / lazy.hypercalls;

	puts("\nThe same burst, counted:");
	show("lazy mode", lazy);
	show("outside lazy", eager);
	puts("  (lazy: a page of requests per hypercall, 256 + 256, then 3 links,"
	     " pin and flush\n   as one multicall of an mmu_update and an"
	     " mmuext_op array)");
	printf("  lazy mode: %llu hypercalls instead of %llu, %llu.%llu times "
	       "fewer\n",
	       (unsigned long long)lazy.hypercalls,
	       (unsigned long long)eager.hypercalls,
	       (unsigned long long)(tenths / 10),
	       (unsigned long long)(tenths % 10));
}

/* --- a hostile update in a batch -------------------------------------------- */

static const char *kind_name(uint32_t kind)
{
	static const char *const names[] = {
		"?", "PTE write", "PTE update (A/D kept)", "pin", "unpin",
		"new base", "new user base", "TLB flush", "INVLPG"};

	return kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "?";
}

/*
 * Eight new mappings in entries 256..263 of the parent's L1, the fifth of
 * them a writable mapping of the child's L1 (a page table: refused), then
 * a TLB flush. Returns the sequence number of the batch's first update.
 */
static uint64_t queue_hostile_batch(void)
{
	uint64_t first = queued;

	for (unsigned k = 0; k < 8; k++) {
		uint64_t target = k == 4 ? child_a.l1 : FRESH + k;

		q(vmmu_batch_pte_write(&cpu0, ma(parent.l1, PAGES + k), 1,
				       pte(target, P | RW | US)));
	}
	q(vmmu_batch_tlb_flush(&cpu0, VMMU_BATCH_LOCAL, NULL, 0));
	return first;
}

static void hostile_batch(void)
{
	struct tally t0 = tally_now();
	struct vmmu_batch_error err;
	uint64_t first;
	int rc;

	puts("\nA batch with a hostile update: entry 5 of 8 maps the child's L1"
	     " writable.");
	vmmu_batch_lazy_enter(&cpu0);
	first = queue_hostile_batch();
	rc = vmmu_batch_lazy_leave(&cpu0);
	err = vmmu_batch_last_error(&cpu0);
	printf("  lazy_leave: %s\n", vmmu_strerror(rc));
	printf("  last error: seq %llu (update %llu of this batch, a %s): %s, "
	       "%llu dropped with it\n",
	       (unsigned long long)err.seq,
	       (unsigned long long)(err.seq - first + 1), kind_name(err.kind),
	       vmmu_strerror(err.rc), (unsigned long long)err.dropped);
	show("this flush", tally_since(t0));
	printf("  entries 256..263 now:");
	for (unsigned k = 0; k < 8; k++) {
		printf(" %s", entry(parent.l1, PAGES + k) != 0 ? "set" : "-");
	}
	puts("\n  (the four before it applied; it, the three after it and the"
	     " TLB flush dropped)");
}

/* --- teardown ------------------------------------------------------------------ */

/*
 * Unpinning devalidates each tree, dropping what its entries held. The
 * parent's L4 is still the base pointer: that reference goes with the
 * vCPU, which is the hypervisor's teardown, not a guest request.
 */
static void teardown(void)
{
	struct tally t0 = tally_now();
	int rc;

	puts("\nThe guest exits: unpin all three L4s in one batch.");
	vmmu_batch_lazy_enter(&cpu0);
	q(vmmu_batch_unpin(&cpu0, child_a.l4));
	q(vmmu_batch_unpin(&cpu0, child_b.l4));
	q(vmmu_batch_unpin(&cpu0, parent.l4));
	rc = vmmu_batch_lazy_leave(&cpu0);
	printf("  lazy_leave: %s\n", vmmu_strerror(rc));
	show("unpin", tally_since(t0));
	rc = vmmu_pv_vcpu_release(&vcpu);
	printf("  vCPU teardown (drops the base pointer): %s\n",
	       vmmu_strerror(rc));
}

/* Every frame back to its allocation reference alone, then given back. */
static void release_frames(void)
{
	unsigned idle = 0, freed = 0;
	struct vmmu_frame_info i;

	for (uint64_t mfn = 1; mfn < FRAMES; mfn++) {
		vmmu_ft_info(&ft, mfn, &i);
		idle += i.count == 1 && i.type_count == 0 && !i.pinned;
	}
	audit("after teardown");
	for (uint64_t mfn = 1; mfn < FRAMES; mfn++) {
		freed += vmmu_ft_release(&ft, mfn, GUEST) == 1;
	}
	printf("frames held by nothing but their allocation: %u of %u; "
	       "released and free: %u\n",
	       idle, FRAMES - 1, freed);
}

int main(void)
{
	struct tally lazy, eager;

	hypervisor_init();
	guest_init();
	build_parent();
	touch_even_pages();

	puts("\nfork() in lazy mode (child A):");
	lazy = fork_lazy(&child_a);
	check_fork(&child_a);

	puts("\nfork() again outside lazy mode (child B):");
	eager = fork_eager(&child_b);
	check_fork(&child_b);
	compare(lazy, eager);

	hostile_batch();
	audit("after the refusal");
	teardown();
	release_frames();
	return 0;
}
