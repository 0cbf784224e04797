/* SPDX-License-Identifier: MIT */
/*
 * Stress: walkers setting A/D race a writer that keeps replacing the leaf.
 *
 * The writer flips a 4K leaf between two frames, each time with A and D
 * clear, and before each flip checks that the entry still holds the frame
 * it stored last (a walker that set A/D with a plain read-modify-write
 * instead of compare-exchange would sometimes write back the old frame).
 * Walkers do write walks of the address and check that every translation
 * they report is one of the two frames and that the D bit they set belongs
 * to the frame they returned. Build with TSan too (make check-stress-tsan).
 */
#include "test_platform.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#define VA 0x00007f0000200000ull
#define FRAME_A 0x00100000ull
#define FRAME_B 0x00200000ull

struct shared {
	struct test_platform tp;
	struct vmmu_fmt fmt;
	struct vmmu_pt pt;
	struct vmmu_walker walker;
	vmmu_pte_t *leaf;
	vmmu_pte_t base_a, base_b;
	atomic_bool stop;
	atomic_ulong walks, bad, lost; /* walks: progress, in steps of 1024 */
	unsigned long flips;
	unsigned threads_done;
	unsigned long per_thread[16];
};

static void *walker_main(void *arg)
{
	struct shared *s = arg;
	unsigned long n = 0, bad = 0;

	while (!atomic_load_explicit(&s->stop, memory_order_relaxed)) {
		struct vmmu_walk r;
		int rc = vmmu_walk(&s->walker, s->pt.root.v, VA + 0x10,
				   VMMU_ACC_WRITE, &r);
		uint64_t frame = r.addr & ~0xfffull;
		uint64_t leaf_frame = r.pte[1] & s->fmt.level[1].addr_leaf;
		if (rc != VMMU_WALK_OK || (frame != FRAME_A && frame != FRAME_B) ||
		    leaf_frame != frame || !(r.pte[1] & s->fmt.level[1].dirty)) {
			bad++;
		}
		if ((++n & 1023) == 0) {
			atomic_fetch_add(&s->walks, 1024);
		}
	}
	atomic_fetch_add(&s->bad, bad);
	s->per_thread[__atomic_fetch_add(&s->threads_done, 1, __ATOMIC_RELAXED)] = n;
	return NULL;
}

/* Flip the leaf until the walkers have done `walks` walks between them. */
static void writer_loop(struct shared *s, unsigned long walks)
{
	vmmu_pte_t expect = s->base_a;
	unsigned long i;

	for (i = 0; atomic_load_explicit(&s->walks, memory_order_relaxed) < walks; i++) {
		vmmu_pte_t now = __atomic_load_n(s->leaf, __ATOMIC_ACQUIRE);
		uint64_t ad = s->fmt.level[1].accessed | s->fmt.level[1].dirty;
		if ((now & ~ad) != expect) {
			atomic_fetch_add(&s->lost, 1);
		}
		expect = (i & 1) ? s->base_a : s->base_b;
		__atomic_store_n(s->leaf, expect, __ATOMIC_RELEASE);
	}
	s->flips = i;
}

static int setup(struct shared *s)
{
	const struct vmmu_prot prot = {.perm = VMMU_PERM_R | VMMU_PERM_W};
	struct vmmu_cpu_state cpu = {
		.cr0 = VMMU_CR0_PE | VMMU_CR0_PG | VMMU_CR0_WP,
		.cr4 = VMMU_CR4_PAE,
		.efer = VMMU_EFER_LME | VMMU_EFER_LMA | VMMU_EFER_NXE,
	};

	test_platform_init(&s->tp, 4096);
	if (vmmu_fmt_init_x86(&s->fmt, 4, 46, VMMU_FMT_F_1G) != 0 ||
	    vmmu_pt_init(&s->pt, &s->fmt, &s->tp.plat) != 0 ||
	    vmmu_pt_map(&s->pt, VA, FRAME_A, VMMU_PAGE_SIZE, &prot, 0) != 0 ||
	    vmmu_pt_entry(&s->pt, VA, 1, &s->leaf) != 0 ||
	    vmmu_pte_make_leaf(&s->fmt, 1, FRAME_A, &prot, &s->base_a) != 0 ||
	    vmmu_pte_make_leaf(&s->fmt, 1, FRAME_B, &prot, &s->base_b) != 0 ||
	    vmmu_walker_init(&s->walker, &s->fmt, &s->tp.plat, &cpu) != 0) {
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long walks = argc > 1 ? strtoul(argv[1], NULL, 0) : 1000000;
	unsigned nthreads = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 0) : 2;
	static struct shared s;
	pthread_t th[16];

	if (nthreads == 0 || nthreads > 16 || setup(&s) != 0) {
		fprintf(stderr, "walk_race: setup failed\n");
		return 2;
	}
	for (unsigned i = 0; i < nthreads; i++) {
		pthread_create(&th[i], NULL, walker_main, &s);
	}
	writer_loop(&s, walks);
	atomic_store(&s.stop, true);
	for (unsigned i = 0; i < nthreads; i++) {
		pthread_join(th[i], NULL);
	}
	unsigned long done = 0;
	for (unsigned i = 0; i < nthreads; i++) {
		done += s.per_thread[i];
	}
	unsigned long failed = atomic_load(&s.bad) + atomic_load(&s.lost);
	printf("walk_race: %lu flips, %lu walks by %u threads, %llu re-walks after a lost race, %lu bad walks, %lu lost stores\n",
	       s.flips, done, nthreads,
	       (unsigned long long)s.tp.traces, atomic_load(&s.bad),
	       atomic_load(&s.lost));
	printf("walk_race: %lu passed, %lu failed\n", done - atomic_load(&s.bad),
	       failed);
	vmmu_pt_destroy(&s.pt);
	test_platform_fini(&s.tp);
	return failed == 0 && done >= walks ? 0 : 1;
}
