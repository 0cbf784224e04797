/* SPDX-License-Identifier: MIT */
/*
 * Embedding vmmu in a few lines: a platform over a static frame pool, a
 * 4-level x86-64 tree built with the builder, and guest walks of it.
 *
 *   make examples && build/examples/walk_demo
 */
#include <vmmu/vmmu.h>

#include <stdio.h>
#include <stdlib.h>

#define POOL_FRAMES 256

/* The embedder's memory: physical address p lives at pool + p. */
static _Alignas(4096) unsigned char pool[POOL_FRAMES * 4096];
static unsigned next_frame = 1; /* frame 0 stays unused */

static int pool_alloc(void *ctx, vmmu_hpa_t *frame)
{
	(void)ctx;
	if (next_frame == POOL_FRAMES) {
		return -VMMU_ENOMEM;
	}
	*frame = vmmu_hpa((uint64_t)next_frame++ * 4096);
	return 0;
}

static void pool_free(void *ctx, vmmu_hpa_t frame)
{
	(void)ctx;
	(void)frame; /* a bump allocator: frames are not reused in this demo */
}

static void demo_panic(void *ctx, const char *file, int line, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "vmmu panic %s:%d: %s\n", file, line, msg);
	abort();
}

static const struct vmmu_platform_ops demo_ops = {
	.frame_alloc = pool_alloc,
	.frame_free = pool_free,
	.panic = demo_panic,
};

static void show(const struct vmmu_walker *w, uint64_t cr3, uint64_t va,
		 uint32_t access, const char *what)
{
	struct vmmu_walk r;
	int rc = vmmu_walk(w, cr3, va, access, &r);

	if (rc == VMMU_WALK_OK) {
		printf("%-28s %#018llx -> %#llx (level %u leaf)\n", what,
		       (unsigned long long)va, (unsigned long long)r.addr, r.level);
	} else if (rc == VMMU_WALK_PF) {
		printf("%-28s %#018llx -> #PF error code %#x\n", what,
		       (unsigned long long)va, r.pfec);
	} else {
		printf("%-28s %#018llx -> %s\n", what, (unsigned long long)va,
		       rc == VMMU_WALK_GP ? "#GP" : vmmu_strerror(rc));
	}
}

int main(void)
{
	struct vmmu_platform plat = {
		.ops = &demo_ops,
		.direct_map_base = (uintptr_t)pool,
		.direct_map_size = sizeof(pool),
	};
	struct vmmu_fmt fmt;
	struct vmmu_pt pt;
	struct vmmu_walker w;
	const struct vmmu_cpu_state cpu = {
		.cr0 = VMMU_CR0_PE | VMMU_CR0_PG | VMMU_CR0_WP,
		.cr4 = VMMU_CR4_PAE | VMMU_CR4_SMEP | VMMU_CR4_SMAP,
		.efer = VMMU_EFER_LME | VMMU_EFER_LMA | VMMU_EFER_NXE,
	};
	const struct vmmu_prot kernel_rw = {.perm = VMMU_PERM_R | VMMU_PERM_W};
	const struct vmmu_prot user_rx = {.perm = VMMU_PERM_R | VMMU_PERM_X |
						  VMMU_PERM_U};
	const uint64_t kva = 0xffffffff80000000ull, uva = 0x400000;

	if (vmmu_fmt_init_x86(&fmt, 4, 46, VMMU_FMT_F_1G) != 0 ||
	    vmmu_pt_init(&pt, &fmt, &plat) != 0 ||
	    vmmu_pt_map(&pt, kva, 0x40000000, 1ull << 30, &kernel_rw, 0) != 0 ||
	    vmmu_pt_map(&pt, uva, 0x200000, 0x3000, &user_rx, 0) != 0 ||
	    vmmu_walker_init(&w, &fmt, &plat, &cpu) != 0) {
		fprintf(stderr, "setup failed\n");
		return 1;
	}
	printf("tree: %llu tables\n", (unsigned long long)pt.table_count);
	show(&w, pt.root.v, kva + 0x1234, VMMU_ACC_WRITE, "kernel write (1G page)");
	show(&w, pt.root.v, kva, VMMU_ACC_FETCH, "kernel fetch from NX page");
	show(&w, pt.root.v, uva + 0x10, VMMU_ACC_USER | VMMU_ACC_FETCH, "user fetch");
	show(&w, pt.root.v, uva + 0x10, VMMU_ACC_USER | VMMU_ACC_WRITE, "user write to read-only");
	show(&w, pt.root.v, uva, VMMU_ACC_READ, "kernel read, SMAP");
	show(&w, pt.root.v, uva, VMMU_ACC_READ | VMMU_ACC_AC, "kernel read, SMAP + AC");
	show(&w, pt.root.v, uva + 0x3000, VMMU_ACC_USER, "user read of a hole");
	show(&w, pt.root.v, 0x0000800000000000ull, VMMU_ACC_READ, "non-canonical");
	vmmu_pt_destroy(&pt);
	return 0;
}
