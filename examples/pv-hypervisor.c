/* SPDX-License-Identifier: MIT */
/*
 * Embedding vmmu's direct-paging validator the way a hypervisor does: a
 * frame table over "machine memory", one guest with one vCPU, and the
 * hypercalls a Xen PV guest kernel makes, each answered by vmmu. The guest
 * builds its page tables in its own frames, pins its L4, loads it, maps
 * pages in a batch, and then tries what a hostile guest would: writable
 * mappings of its page tables, another domain's memory, a superpage. Every
 * hypercall's answer is printed; make test compares the output.
 *
 *   make examples && build/examples/pv-hypervisor
 */
#include <vmmu/vmmu.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FRAMES 64u
#define GUEST 1u
#define OTHER 2u

/* Machine memory: machine frame n lives at memory + n * 4096. */
static _Alignas(4096) unsigned char memory[FRAMES * 4096];
static struct vmmu_frame frame_records[FRAMES];

/* --- the platform: flush requests are where a hypervisor sends IPIs ---------- */

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

static void flush(void *ctx, const struct vmmu_tlb_req *req)
{
	static const char *const scope[] = {"", "range", "all non-global", "all"};

	(void)ctx;
	printf("    flush request: %s%s\n", scope[req->scope],
	       req->cpu_mask == NULL ? " on every CPU the guest ran on"
				     : " on this vCPU");
}

static void die(void *ctx, const char *file, int line, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "vmmu panic %s:%d: %s\n", file, line, msg);
	abort();
}

static const struct vmmu_platform_ops ops = {
	.frame_alloc = no_alloc,
	.frame_free = no_free,
	.tlb_flush = flush,
	.panic = die,
};

static const struct vmmu_platform plat = {
	.ops = &ops,
	.direct_map_base = (uintptr_t)memory,
	.direct_map_size = sizeof(memory),
};

/* --- the guest's side ---------------------------------------------------------------- */

#define P 0x1ull
#define RW 0x2ull
#define US 0x4ull

static uint64_t *frame(uint64_t mfn)
{
	return (uint64_t *)(memory + mfn * 4096);
}

static uint64_t pte(uint64_t mfn, uint64_t flags)
{
	return (mfn << 12) | flags;
}

/* One mmu_update request for entry `index` of table `table`. */
static struct vmmu_pv_mmu_update req(uint64_t table, unsigned index,
				     uint64_t val)
{
	struct vmmu_pv_mmu_update r = {
		.ptr = ((table << 12) + index * 8u) | VMMU_PV_MMU_NORMAL_PT_UPDATE,
		.val = val,
	};
	return r;
}

static void show(const char *what, int rc, uint32_t done)
{
	printf("%-56s -> %s (done %u)\n", what,
	       rc == 0 ? "ok" : vmmu_strerror(rc), done);
}

static struct vmmu_ft ft;
static struct vmmu_pv_domain dom;
static struct vmmu_pv_vcpu vcpu;

static int update(const struct vmmu_pv_mmu_update *r, uint32_t n,
		  uint32_t *done)
{
	*done = 0;
	return vmmu_pv_mmu_update(&vcpu, r, n, done, VMMU_PV_DOMID_SELF);
}

static int ext(uint32_t cmd, uint64_t mfn, uint32_t *done)
{
	struct vmmu_pv_mmuext_op op = {.cmd = cmd, .arg1.mfn = mfn};

	*done = 0;
	return vmmu_pv_mmuext_op(&vcpu, &op, 1, done, VMMU_PV_DOMID_SELF);
}

static void counts(const char *what, uint64_t mfn)
{
	struct vmmu_frame_info i;

	vmmu_ft_info(&ft, mfn, &i);
	printf("    frame %2llu (%s): %llu references, type %u used %llu times%s%s\n",
	       (unsigned long long)mfn, what, (unsigned long long)i.count,
	       i.type, (unsigned long long)i.type_count,
	       i.validated ? ", validated" : "", i.pinned ? ", pinned" : "");
}

int main(void)
{
	/* Frames 1..47 are the guest's, 48..63 another guest's. */
	const uint64_t l4 = 1, l3 = 2, l2 = 3, l1 = 4, data = 10;
	const uint64_t va = 0x40200000ull; /* L4 slot 0, L3 1, L2 1, L1 0 */
	struct vmmu_pv_mmu_update batch[8];
	uint32_t done;
	int rc;

	vmmu_ft_init(&ft, frame_records, sizeof(frame_records), FRAMES, &plat);
	for (uint64_t mfn = 1; mfn < FRAMES; mfn++) {
		vmmu_ft_assign(&ft, mfn, mfn < 48 ? GUEST : OTHER);
	}
	vmmu_pv_domain_init(&dom, &ft, &plat, GUEST, 40, NULL, 0);
	vmmu_pv_vcpu_init(&vcpu, &dom, 0);

	puts("The guest builds L4 -> L3 -> L2 -> L1 in its own frames (plain memory).");
	frame(l4)[0] = pte(l3, P | RW | US);
	frame(l3)[1] = pte(l2, P | RW | US);
	frame(l2)[1] = pte(l1, P | RW | US);
	frame(l1)[0] = pte(data, P | RW | US);

	rc = ext(VMMU_PV_MMUEXT_PIN_L4_TABLE, l4, &done);
	show("pin the L4 (validates the whole tree)", rc, done);
	counts("L1", l1);
	counts("data", data);
	rc = ext(VMMU_PV_MMUEXT_NEW_BASEPTR, l4, &done);
	show("load it as the kernel base pointer", rc, done);

	puts("\nA batch maps seven more pages, one hypercall:");
	for (unsigned i = 0; i < 7; i++) {
		batch[i] = req(l1, 1 + i, pte(data + 1 + i, P | RW | US));
	}
	rc = update(batch, 7, &done);
	show("mmu_update x7 on the L1 (L1 changes flush nothing)", rc, done);

	puts("\nWhat a hostile guest tries:");
	batch[0] = req(l1, 20, pte(l2, P | RW));
	rc = update(batch, 1, &done);
	show("map its own L2 writable", rc, done);
	batch[0] = req(l1, 20, pte(l2, P));
	rc = update(batch, 1, &done);
	show("map its own L2 read-only (allowed)", rc, done);
	batch[0] = req(l1, 21, pte(50, P));
	rc = update(batch, 1, &done);
	show("map another guest's frame", rc, done);
	batch[0] = req(l2, 2, pte(20, P | RW | US | 0x80));
	rc = update(batch, 1, &done);
	show("install a 2M superpage", rc, done);
	batch[0] = req(l4, 5, pte(l4, P | RW));
	rc = update(batch, 1, &done);
	show("point its L4 at itself, writable", rc, done);
	batch[0] = req(l1, 22, pte(data, P));
	batch[1] = req(l1, 23, pte(50, P)); /* refused: stops the batch */
	batch[2] = req(l1, 24, pte(data, P));
	rc = update(batch, 3, &done);
	show("a batch whose second request is refused", rc, done);
	rc = ext(VMMU_PV_MMUEXT_PIN_L1_TABLE, data, &done);
	show("pin a frame it maps writable as a page table", rc, done);

	puts("\nupdate_va_mapping: the L1 entry for a virtual address, then INVLPG.");
	rc = vmmu_pv_update_va_mapping(&vcpu, va, pte(data + 9, P | US),
				       VMMU_PV_UVMF_INVLPG);
	show("remap 0x40200000 read-only to another frame", rc, rc == 0);
	rc = vmmu_pv_update_va_mapping(&vcpu, va, pte(l4, P | RW),
				       VMMU_PV_UVMF_INVLPG);
	show("remap it writable onto the L4 (refused: no flush)", rc, rc == 0);
	counts("data", data);

	puts("\nAn L2 change: one flush request at the end of the call.");
	batch[0] = req(l2, 1, 0);
	rc = update(batch, 1, &done);
	show("unlink the L1 from the L2", rc, done);
	counts("L1", l1);

	puts("\nThe guest lets go of its address space.");
	rc = ext(VMMU_PV_MMUEXT_UNPIN_TABLE, l4, &done);
	show("unpin the L4 (still the base pointer)", rc, done);
	rc = vmmu_pv_vcpu_release(&vcpu);
	show("vCPU teardown: the base pointer goes", rc, rc == 0);
	counts("L4", l4);
	counts("data", data);
	return 0;
}
