/* SPDX-License-Identifier: MIT */
/*
 * Embedding vmmu's shadow-paging engine the way a hypervisor does (KVM
 * without EPT, VMware's binary-translation era): the guest keeps its own
 * page tables in its own memory and believes CR3 points at them; the
 * hardware really runs shadow tables that vmmu builds from them, filled
 * on demand by the #PF handler.
 *
 * The pieces an embedder supplies, all below:
 *   - a host platform: frames for the shadow tables (a static pool here)
 *     and the TLB-flush hook;
 *   - a guest platform: how vmmu reads guest-physical memory (the guest's
 *     page tables);
 *   - a p2m: what each guest frame is (RAM backed by a host frame, an MMIO
 *     hole, or nothing);
 *   - a #PF handler loop that acts on vmmu_shadow_fault's answer.
 *
 * There is no real guest here: vmmu_walk over the shadow tables plays the
 * CPU (with CR0.WP=1 and EFER.NXE=1, the mode the shadow assumes), and a
 * scripted guest makes accesses. Each step prints what the API promises,
 * never engine internals; make check compares the output.
 *
 *   make examples && build/examples/shadow-hypervisor
 */
#include <vmmu/vmmu.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- host memory: the shadow-table pool and the guest's RAM ------------------ */

#define HOST_FRAMES 192u
#define POOL_FIRST 1u    /* host frames [1, 128): shadow tables */
#define POOL_END 128u
#define GUEST_BASE 128u  /* host frames [128, 192): guest RAM frames 0..63 */
#define GUEST_FRAMES 64u
#define MMIO_GFN 0xfebf0u /* one page of device registers */

/* Host-physical address p lives at host_mem + p. */
static _Alignas(4096) unsigned char host_mem[HOST_FRAMES * 4096];
static uint64_t pool[POOL_END];  /* free host frames, a stack */
static unsigned pool_top;
static unsigned flush_requests;  /* counted by the flush hook */

static int pool_alloc(void *ctx, vmmu_hpa_t *frame)
{
	(void)ctx;
	if (pool_top == 0) {
		return -VMMU_ENOMEM; /* vmmu reclaims shadow pages and retries */
	}
	*frame = vmmu_hpa(pool[--pool_top] << 12);
	return 0;
}

static void pool_free(void *ctx, vmmu_hpa_t frame)
{
	(void)ctx;
	pool[pool_top++] = frame.v >> 12;
}

/*
 * Where a hypervisor shoots down TLBs (an IPI to every CPU running the
 * guest). Here it only counts: how many flushes an operation needs is the
 * engine's business; the example prints only what the API promises.
 */
static void tlb_flush(void *ctx, const struct vmmu_tlb_req *req)
{
	(void)ctx;
	(void)req;
	flush_requests++;
}

static int no_alloc(void *ctx, vmmu_hpa_t *frame)
{
	(void)ctx;
	(void)frame;
	return -VMMU_ENOMEM; /* the guest platform is only read and written */
}

static void die(void *ctx, const char *file, int line, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "vmmu panic %s:%d: %s\n", file, line, msg);
	abort();
}

static const struct vmmu_platform_ops host_ops = {
	.frame_alloc = pool_alloc, .frame_free = pool_free,
	.tlb_flush = tlb_flush, .panic = die,
};

static const struct vmmu_platform host = {
	.ops = &host_ops,
	.direct_map_base = (uintptr_t)host_mem,
	.direct_map_size = sizeof(host_mem),
};

/* The guest's view: guest-physical address p is host frame GUEST_BASE + p/4K. */
static const struct vmmu_platform_ops guest_ops = {
	.frame_alloc = no_alloc, .frame_free = pool_free, .panic = die,
};

static const struct vmmu_platform guest = {
	.ops = &guest_ops,
	.direct_map_base = (uintptr_t)host_mem + GUEST_BASE * 4096u,
	.direct_map_size = GUEST_FRAMES * 4096u,
};

/*
 * The p2m: vmmu asks it for every guest frame a fault maps. RAM gets a
 * host frame; the MMIO page is never mapped, so every access to it
 * faults and comes back as VMMU_SHADOW_MMIO for the device model.
 */
static int p2m(void *ctx, uint64_t gfn, uint64_t *hfn)
{
	(void)ctx;
	if (gfn == MMIO_GFN) {
		return VMMU_P2M_MMIO;
	}
	if (gfn >= GUEST_FRAMES) {
		return VMMU_P2M_ABSENT;
	}
	*hfn = GUEST_BASE + gfn;
	return VMMU_P2M_RAM;
}

static const struct vmmu_shadow_ops shadow_ops = {.p2m = p2m};

static const char *ok(int rc)
{
	return rc == 0 ? "ok" : vmmu_strerror(rc);
}

/* --- the guest's page tables, written in guest memory ------------------------ */

#define P 0x1ull
#define RW 0x2ull
#define US 0x4ull
#define XD (1ull << 63)

enum { PML4_A = 1, PDPT = 2, PD = 3, PT_A = 4, PT_B = 5, PML4_B = 6,
       DATA = 0x10, USER_DATA = 0x11, DATA2 = 0x12, NEW_DATA = 0x20 };

static uint64_t *gtable(uint64_t gfn)
{
	return (uint64_t *)(host_mem + (GUEST_BASE + gfn) * 4096u);
}

static uint64_t pte(uint64_t gfn, uint64_t flags)
{
	return (gfn << 12) | flags;
}

/*
 * What the guest kernel set up before it enabled paging: two address
 * spaces (PML4_A, PML4_B) sharing one PDPT/PD, a page table PT_A for
 * 0x200000-0x3fffff, and PT_B prepared but not linked yet.
 */
static void guest_boot(void)
{
	gtable(PML4_A)[0] = pte(PDPT, P | RW | US);
	gtable(PML4_B)[0] = pte(PDPT, P | RW | US);
	gtable(PDPT)[0] = pte(PD, P | RW | US);
	gtable(PD)[1] = pte(PT_A, P | RW | US);             /* 0x200000 */
	gtable(PT_A)[0] = pte(DATA, P | RW);                /* 0x200000: kernel data */
	gtable(PT_A)[1] = pte(USER_DATA, P | RW | US) | XD; /* 0x201000: user data */
	gtable(PT_A)[2] = pte(PD, P | RW);                  /* 0x202000: a window on its PD */
	gtable(PT_A)[3] = pte(MMIO_GFN, P | RW);            /* 0x203000: device registers */
	gtable(PT_B)[0] = pte(NEW_DATA, P | RW);            /* will be 0x400000 */
}

/* --- the embedder's #PF handler ----------------------------------------------- */

static struct vmmu_shadow sh;
static struct vmmu_shadow_page pages[POOL_END]; /* descriptors: at most one per pool frame */
static struct vmmu_shadow_vcpu vcpu;
static struct vmmu_walker cpu; /* "the hardware": walks the shadow tables */

/* An access by the scripted guest. */
struct access {
	uint64_t va;
	uint32_t kind;  /* enum vmmu_access: VMMU_ACC_WRITE, _USER, _FETCH */
	uint64_t value; /* what a write stores (an 8-byte store) */
};

static void print_pfec(uint32_t pfec)
{
	printf("#PF injected, error code %#x (%s, %s %s)\n", pfec,
	       pfec & VMMU_PFEC_P ? "protection" : "not present",
	       pfec & VMMU_PFEC_U ? "user" : "supervisor",
	       pfec & VMMU_PFEC_W ? "write" : pfec & VMMU_PFEC_I ? "fetch" : "read");
}

/*
 * The access went through the shadow: this is where the CPU would touch
 * memory. The example does the store itself, at the host address.
 */
static void complete(const struct access *a, uint64_t hpa)
{
	printf("host %#llx (guest frame %#llx)", (unsigned long long)hpa,
	       (unsigned long long)((hpa >> 12) - GUEST_BASE));
	if (a->kind & VMMU_ACC_WRITE) {
		memcpy(host_mem + hpa, &a->value, sizeof(a->value));
		printf(" (stored %#llx)", (unsigned long long)a->value);
	}
	printf("\n");
}

/*
 * VMMU_SHADOW_EMULATE: the access is allowed but the shadow will not map
 * it writable: the target is one of the guest's own page tables, whose
 * every store vmmu must see. The embedder decodes the faulting instruction
 * (here: the scripted store) and applies it through vmmu_shadow_write,
 * which updates guest memory and drops the shadow entries derived from
 * the old value; then it skips the instruction.
 */
static void emulate(const struct access *a, const struct vmmu_shadow_result *r)
{
	int rc = vmmu_shadow_write(&vcpu, r->gpa, a->value, sizeof(a->value));

	printf("emulated: store %#llx to guest page table at gpa %#llx -> %s\n",
	       (unsigned long long)a->value, (unsigned long long)r->gpa,
	       ok(rc));
}

/* Act on the fault handler's answer; true when the access should retry. */
static bool answer(const struct access *a, const struct vmmu_shadow_result *r)
{
	switch (r->outcome) {
	case VMMU_SHADOW_FIXED:
		return true; /* shadow filled: re-enter the guest, it retries */
	case VMMU_SHADOW_INJECT:
		print_pfec(r->pfec); /* the guest's own tables forbid it */
		return false;
	case VMMU_SHADOW_MMIO:
		printf("MMIO at gpa %#llx: hand it to the device model\n",
		       (unsigned long long)r->gpa);
		return false;
	case VMMU_SHADOW_EMULATE:
		emulate(a, r);
		return false;
	default:
		printf("#GP injected (non-canonical address)\n");
		return false;
	}
}

/*
 * Run one guest access: the CPU walks the shadow root; on a #PF vmmu
 * decides. A fill may take more than one fault (read access first, then
 * the write once the guest's dirty bit is set), so loop, with a bound an
 * embedder would turn into "kill the guest".
 */
static void run(const char *what, struct access a)
{
	printf("  %-44s ", what);
	for (unsigned tries = 0; tries < 4; tries++) {
		uint64_t root;
		struct vmmu_walk w;
		struct vmmu_shadow_result r;

		/* Before entering the guest: keep the vCPU's frame reserve full
		   (outside the hypervisor's lock, in a real one), then load the
		   shadow root into the real CR3. */
		vmmu_shadow_vcpu_topup(&vcpu);
		if (vmmu_shadow_root(&vcpu, &root) != 0) {
			printf("out of shadow memory\n");
			return;
		}
		if (vmmu_walk(&cpu, root, a.va, a.kind | VMMU_ACC_PEEK, &w) == VMMU_WALK_OK) {
			complete(&a, w.addr);
			return;
		}
		int rc = vmmu_shadow_fault(&vcpu, a.va, a.kind, &r);
		if (rc != 0) {
			printf("fault handler: %s\n", vmmu_strerror(rc));
			return;
		}
		if (!answer(&a, &r)) {
			return;
		}
	}
	printf("still faulting: a bug\n");
}

/* --- the script ----------------------------------------------------------- */

static struct vmmu_cpu_state guest_cpu(void)
{
	return (struct vmmu_cpu_state){
		.cr0 = VMMU_CR0_PE | VMMU_CR0_PG | VMMU_CR0_WP,
		.cr4 = VMMU_CR4_PAE,
		.efer = VMMU_EFER_LME | VMMU_EFER_LMA | VMMU_EFER_NXE,
	};
}

/* Set up the instance, the vCPU and the "CPU". */
static void start(struct vmmu_fmt *fmt)
{
	struct vmmu_cpu_state g = guest_cpu(), hw = guest_cpu();
	int rc;

	for (unsigned f = POOL_END - 1; f >= POOL_FIRST; f--) {
		pool[pool_top++] = f;
	}
	vmmu_fmt_init_x86(fmt, 4, 46, VMMU_FMT_F_1G);
	rc = vmmu_shadow_init(&sh, fmt, &host, &shadow_ops, NULL, pages,
			      POOL_END - POOL_FIRST);
	printf("shadow instance over a %u-frame pool: %s\n",
	       POOL_END - POOL_FIRST, ok(rc));
	rc = vmmu_shadow_vcpu_init(&vcpu, &sh, fmt, &guest, &g, pte(PML4_A, 0));
	printf("vCPU with guest CR3 = %#llx: %s\n",
	       (unsigned long long)pte(PML4_A, 0), ok(rc));
	/* The real CPU runs the shadow with CR0.WP=1 and EFER.NXE=1 always. */
	hw.cr0 |= VMMU_CR0_WP;
	hw.efer |= VMMU_EFER_NXE;
	vmmu_walker_init(&cpu, fmt, &host, &hw);
}

static void faults(void)
{
	puts("\n1. Faults: the shadow starts empty and fills on demand.");
	run("kernel read 0x200010", (struct access){0x200010, 0, 0});
	run("kernel write 0x200010", (struct access){0x200010, VMMU_ACC_WRITE, 0x1234});
	printf("  the guest sees %#llx in its frame %#x\n",
	       (unsigned long long)gtable(DATA)[2], DATA);
	run("user read 0x201000", (struct access){0x201000, VMMU_ACC_USER, 0});

	puts("\n2. Injected #PF: the guest's own tables say no; vmmu gives the code.");
	run("user read of kernel data 0x200010",
	    (struct access){0x200010, VMMU_ACC_USER, 0});
	run("kernel read of unmapped 0x204000", (struct access){0x204000, 0, 0});
	run("user fetch from 0x201000 (XD)",
	    (struct access){0x201000, VMMU_ACC_USER | VMMU_ACC_FETCH, 0});

	puts("\n3. MMIO: never mapped, every access goes to the device model.");
	run("kernel write 0x203008", (struct access){0x203008, VMMU_ACC_WRITE, 1});
}

static void page_table_write(void)
{
	puts("\n4. The guest edits its own page table: vmmu must see the store.");
	printf("  the PD (guest frame %u) is shadowed, so tracked: %s\n", PD,
	       vmmu_shadow_tracked(&sh, PD) != 0 ? "yes" : "no");
	/* PD entry 2 (0x400000) := PT_B, written through the guest's window
	   on its PD at 0x202000: the shadow maps that window read-only. */
	run("kernel write 0x202010 (PD entry 2)",
	    (struct access){0x202010, VMMU_ACC_WRITE, pte(PT_B, P | RW | US)});
	run("kernel read 0x400000 (through the new PT)",
	    (struct access){0x400000, 0, 0});
}

/*
 * A guest MOV CR3: tell vmmu, then ask for the root to load before
 * re-entering. Roots of recent address spaces stay cached, so switching
 * back costs no rebuild.
 */
static void cr3_switch(void)
{
	uint64_t root_a = 0, root_b = 0, again = 0;

	puts("\n5. CR3 switch to another address space and back.");
	vmmu_shadow_root(&vcpu, &root_a);
	printf("  guest CR3 := %#llx: %s\n", (unsigned long long)pte(PML4_B, 0),
	       ok(vmmu_shadow_new_cr3(&vcpu, pte(PML4_B, 0))));
	run("kernel read 0x200010", (struct access){0x200010, 0, 0});
	vmmu_shadow_root(&vcpu, &root_b);
	printf("  guest CR3 := %#llx: %s\n", (unsigned long long)pte(PML4_A, 0),
	       ok(vmmu_shadow_new_cr3(&vcpu, pte(PML4_A, 0))));
	vmmu_shadow_root(&vcpu, &again);
	printf("  its own shadow root for B: %s; A's root back from the cache: %s\n",
	       root_b != root_a ? "yes" : "no", again == root_a ? "yes" : "no");
	run("kernel read 0x200010", (struct access){0x200010, 0, 0});
}

/*
 * A paravirtual guest does not trap on each page-table store: it queues
 * them (lazy MMU mode) and hands over a batch. vmmu applies them in order
 * with at most one flush request; the guest's TLB flush at the end is
 * vmmu_shadow_flush_tlb, which also brings any out-of-sync shadow back in
 * line with the guest tables.
 */
static void batch(void)
{
	const uint64_t pt_a = pte(PT_A, 0);
	const struct vmmu_shadow_store st[3] = {
		{pt_a + 0 * 8, pte(DATA2, P | RW)},         /* 0x200000: another frame */
		{pt_a + 5 * 8, pte(NEW_DATA + 1, P | RW)},  /* 0x205000: new */
		{pt_a + 6 * 8, pte(NEW_DATA + 2, P | RW)},  /* 0x206000: new */
	};
	const struct vmmu_shadow_store bad[2] = {
		{pt_a + 7 * 8, pte(NEW_DATA + 3, P | RW)},
		{pt_a + 8 * 8 + 4, pte(NEW_DATA + 4, P | RW)}, /* misaligned */
	};
	uint32_t done = 0;
	unsigned before = flush_requests;

	puts("\n6. A batch of page-table stores, then a guest TLB flush.");
	int rc = vmmu_shadow_write_batch(&vcpu, st, 3, &done);
	printf("  write_batch of 3 stores: %s, done %u, at most one flush request: %s\n",
	       ok(rc), done, flush_requests - before <= 1 ? "yes" : "no");
	before = flush_requests;
	rc = vmmu_shadow_flush_tlb(&vcpu);
	printf("  flush_tlb: %s, flush requested: %s\n", ok(rc),
	       flush_requests != before ? "yes" : "no");
	run("kernel read 0x200010 (remapped)", (struct access){0x200010, 0, 0});
	run("kernel read 0x206000 (new)", (struct access){0x206000, 0, 0});
	rc = vmmu_shadow_write_batch(&vcpu, bad, 2, &done);
	printf("  write_batch whose second store is misaligned: %s, done %u\n",
	       ok(rc), done);
}

/* Counters through the public vmmu_shadow_stats, then the teardown. */
static void finish(void)
{
	struct vmmu_shadow_stats st;

	puts("\n7. Statistics and teardown.");
	vmmu_shadow_stats(&sh, &st);
	printf("  pool: %u of %u shadow pages in use; #PF injected: %llu; "
	       "stores emulated: %llu\n", st.used_pages, st.max_pages,
	       (unsigned long long)st.injected, (unsigned long long)st.emulated);
	/* Detach the vCPU first: it holds root references and a frame reserve. */
	vmmu_shadow_vcpu_destroy(&vcpu);
	vmmu_shadow_destroy(&sh);
	printf("  every frame back in the pool: %s\n",
	       pool_top == POOL_END - POOL_FIRST ? "yes" : "no");
}

int main(void)
{
	struct vmmu_fmt fmt;

	guest_boot();
	start(&fmt);
	faults();
	page_table_write();
	cr3_switch();
	batch();
	finish();
	return 0;
}
