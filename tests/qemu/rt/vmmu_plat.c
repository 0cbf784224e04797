/* SPDX-License-Identifier: MIT */
/*
 * The vmmu platform of the test kernels: 4 KiB frames from a static pool
 * inside the identity map (so the direct map is base 0, size
 * KX_IDMAP_SIZE), TLB flushes by INVLPG or a CR3 reload, and a panic hook
 * that bails out. kx_paging_init() builds the kernel's own page tables with
 * vmmu and switches CR3 to them, so every test runs on vmmu-built tables:
 * 4-level, or 5-level when the command line says "la57" (kx_la57).
 */
#include "kx.h"

#define POOL_FRAMES 1024u
#define FLUSH_PAGES_MAX 64u

static uint8_t pool[POOL_FRAMES][KX_PAGE] __attribute__((aligned(4096)));
static uint16_t free_stack[POOL_FRAMES];
static unsigned free_top;
static uint8_t in_use[POOL_FRAMES];
static uint8_t user_stack[KX_PAGE] __attribute__((aligned(4096)));

struct vmmu_fmt kx_fmt;
struct vmmu_pt kx_pt;
uint64_t kx_tlb_flushes;

static int plat_alloc(void *ctx, vmmu_hpa_t *frame)
{
	(void)ctx;
	if (free_top == 0) {
		return -VMMU_ENOMEM;
	}
	unsigned i = free_stack[--free_top];
	in_use[i] = 1;
	/* Poison: vmmu must initialise every frame it takes. */
	memset(pool[i], 0xa5, KX_PAGE);
	*frame = vmmu_hpa((uint64_t)(uintptr_t)pool[i]);
	return 0;
}

static void plat_free(void *ctx, vmmu_hpa_t frame)
{
	uint64_t off = frame.v - (uint64_t)(uintptr_t)pool[0];
	unsigned i = (unsigned)(off / KX_PAGE);

	(void)ctx;
	if (frame.v < (uint64_t)(uintptr_t)pool[0] || off % KX_PAGE != 0 ||
	    i >= POOL_FRAMES || !in_use[i]) {
		kx_tap_bail("vmmu freed a frame it does not own: %#lx", frame.v);
	}
	in_use[i] = 0;
	memset(pool[i], 0x5a, KX_PAGE);
	free_stack[free_top++] = (uint16_t)i;
}

static void plat_flush(void *ctx, const struct vmmu_tlb_req *req)
{
	(void)ctx;
	kx_tlb_flushes++;
	if (req->scope == VMMU_TLB_RANGE && req->size / KX_PAGE <= FLUSH_PAGES_MAX) {
		for (uint64_t off = 0; off < req->size; off += KX_PAGE) {
			kx_invlpg(req->addr + off);
		}
		return;
	}
	/*
	 * A range may cover global leaves and MOV CR3 keeps those (SDM Vol. 3A
	 * 4.10.4.1): widen a long range to a full flush with a PGE toggle.
	 */
	uint64_t cr4 = kx_read_cr4();
	if (req->scope != VMMU_TLB_ALL_NONGLOBAL && (cr4 & KX_CR4_PGE)) {
		kx_write_cr4(cr4 & ~KX_CR4_PGE);
		kx_write_cr4(cr4);
		return;
	}
	kx_write_cr3(kx_read_cr3());
}

static void plat_panic(void *ctx, const char *file, int line, const char *msg)
{
	(void)ctx;
	kx_tap_bail("vmmu panic at %s:%d: %s", file, line, msg);
}

static const struct vmmu_platform_ops plat_ops = {
	.frame_alloc = plat_alloc,
	.frame_free = plat_free,
	.tlb_flush = plat_flush,
	.panic = plat_panic,
};

const struct vmmu_platform kx_plat = {
	.ops = &plat_ops,
	.ctx = NULL,
	.direct_map_base = 0,
	.direct_map_size = KX_IDMAP_SIZE,
};

unsigned kx_frames_free(void)
{
	return free_top;
}

static void must(int rc, const char *what)
{
	if (rc != 0) {
		kx_tap_bail("kx_paging_init: %s: %s", what, vmmu_strerror(rc));
	}
}

void kx_paging_init(void)
{
	for (unsigned i = POOL_FRAMES; i-- > 0;) {
		free_stack[free_top++] = (uint16_t)i;
	}
	must(vmmu_platform_check(&kx_plat), "vmmu_platform_check");
	must(vmmu_fmt_init_x86(&kx_fmt, kx_la57 ? 5 : 4, kx_cpu.maxphyaddr,
			       kx_cpu.page1g ? VMMU_FMT_F_1G : 0),
	     "vmmu_fmt_init_x86");
	must(vmmu_pt_init(&kx_pt, &kx_fmt, &kx_plat), "vmmu_pt_init");

	/*
	 * Kernel: identity map of [4 KiB, KX_IDMAP_SIZE), supervisor, RWX (no
	 * NX bit anywhere, so tests may clear EFER.NXE). Page 0 stays unmapped
	 * to catch NULL dereferences.
	 */
	struct vmmu_prot kprot = {
		.perm = VMMU_PERM_R | VMMU_PERM_W | VMMU_PERM_X,
	};
	must(vmmu_pt_map(&kx_pt, KX_PAGE, KX_PAGE, KX_IDMAP_SIZE - KX_PAGE,
			 &kprot, 0),
	     "identity map");

	/* Ring-3 stubs (read + execute) and the user stack (read/write/execute). */
	struct vmmu_prot utext = {
		.perm = VMMU_PERM_R | VMMU_PERM_X | VMMU_PERM_U,
	};
	uint64_t text_size = (uint64_t)(__user_text_end - __user_text_start);
	must(vmmu_pt_map(&kx_pt, KX_USER_TEXT_VA,
			 (uint64_t)(uintptr_t)__user_text_start, text_size,
			 &utext, VMMU_PT_4K_ONLY),
	     "user text");
	struct vmmu_prot ustack = {
		.perm = VMMU_PERM_R | VMMU_PERM_W | VMMU_PERM_X | VMMU_PERM_U,
	};
	must(vmmu_pt_map(&kx_pt, KX_USER_STACK_VA,
			 (uint64_t)(uintptr_t)user_stack, KX_PAGE, &ustack,
			 VMMU_PT_4K_ONLY),
	     "user stack");

	if (kx_la57) {
		/* From the boot tables (4-level) straight to vmmu's 5-level tree. */
		if (kx_pt.root.v >= (1ull << 32)) {
			kx_tap_bail("kx_paging_init: 5-level root %#lx above 4 GiB",
				    kx_pt.root.v);
		}
		kx_la57_switch(kx_pt.root.v);
		if (!(kx_read_cr4() & KX_CR4_LA57)) {
			kx_tap_bail("kx_paging_init: CR4.LA57 still clear after the switch");
		}
	} else {
		kx_write_cr3(kx_pt.root.v);
	}
	kx_printf("# paging: %u-level (CR4.LA57 %d), vmmu tree at %#lx, %lu tables, "
		  "%u pool frames free\n",
		  kx_fmt.levels, (kx_read_cr4() & KX_CR4_LA57) ? 1 : 0,
		  kx_pt.root.v, kx_pt.table_count, kx_frames_free());
}
