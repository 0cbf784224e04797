/* SPDX-License-Identifier: MIT */
/* Every benchmark case, in the order they run. Add new cases here. */
#include "bench_cases.h"

const struct bench_case *const bench_cases[] = {
	&bench_floor_loads_4,
	&bench_walk_4level_4k,
	&bench_walk_4level_4k_peek,
	&bench_walk_4level_4k_set_ad,
	&bench_walk_4level_4k_maphook,
	&bench_floor_loads_3,
	&bench_walk_4level_2m,
	&bench_floor_loads_2,
	&bench_walk_4level_1g,
	&bench_floor_loads_5,
	&bench_walk_5level_4k,
	&bench_pt_lookup_4k,
	&bench_pt_map_4k,
	&bench_pt_unmap_4k,
	&bench_pt_protect_4k,
	&bench_pt_map_2m,
	&bench_floor_xen_l1_atomics,
	&bench_pv_l1_update_batch512,
	&bench_pv_l1_update_fastpath,
	&bench_pv_pin_l4_tree_1gib,
	&bench_peer_ck_ring_spsc,
	&bench_peer_urcu_wfcq,
	&bench_batch_enqueue,
	&bench_unbatched_update_syscall,
	&bench_batch_flush512_syscall,
	&bench_shim_reset_overhead,
	&bench_shadow_fault_fill_4k,
	&bench_shadow_fault_fill_4k_prefetch,
	&bench_shadow_cr3_switch_cached,
	&bench_native_fork_64mib,
	&bench_shadow_fork_64mib_batched,
	&bench_shadow_fork_64mib_trapped,
};

const size_t bench_case_count = sizeof(bench_cases) / sizeof(bench_cases[0]);
