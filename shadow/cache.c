/* SPDX-License-Identifier: MIT */
/*
 * The shadow page cache: descriptors in caller-given storage, two hashes
 * (by guest frame, by shadow table address), a creation-order list for
 * oldest-first reclaim, and the two-phase zap: pages are unlinked and
 * queued, then one TLB-flush request covers them all before their frames
 * go back to the platform. See docs/shadow.md.
 */
#include "internal.h"

static void reset_pool(struct vmmu_shadow *sh)
{
	for (uint32_t i = 0; i < VMMU_SHADOW_HASH; i++) {
		sh->hash[i] = 0;
		sh->hhash[i] = 0;
	}
	for (uint32_t i = 0; i < VMMU_SHADOW_RMAP_HASH; i++) {
		sh->rmap[i] = 0;
	}
	for (uint32_t i = 0; i < sh->max_pages; i++) {
		sh->pages[i] = (struct vmmu_shadow_page){.next = i + 2};
	}
	sh->pages[sh->max_pages - 1].next = 0;
	sh->free_head = 1;
	sh->used_pages = 0;
	sh->oldest = sh->newest = sh->zap_head = 0;
}

int vmmu_shadow_init(struct vmmu_shadow *sh, const struct vmmu_fmt *fmt,
		     const struct vmmu_platform *plat,
		     const struct vmmu_shadow_ops *ops, void *ops_ctx,
		     struct vmmu_shadow_page *pages, uint32_t max_pages)
{
	if (sh == NULL || fmt == NULL || fmt->kind != VMMU_FMT_X86 ||
	    (fmt->flags & VMMU_FMT_F_SCRAMBLED) || fmt->levels < 4 ||
	    fmt->levels > VMMU_LEVEL_MAX || vmmu_platform_check(plat) != 0 ||
	    ops == NULL || ops->p2m == NULL || pages == NULL ||
	    max_pages < fmt->levels || max_pages > VMMU_SHADOW_MAX_PAGES) {
		return -VMMU_EINVAL;
	}
	*sh = (struct vmmu_shadow){
		.fmt = fmt, .plat = plat, .ops = ops, .ops_ctx = ops_ctx,
		.pages = pages, .max_pages = max_pages,
	};
	reset_pool(sh);
	return 0;
}

int32_t sh_find(const struct vmmu_shadow *sh, uint64_t gfn, uint32_t role)
{
	SH_FOR_GFN(sh, gfn, i) {
		if (sh->pages[i].role == role) {
			return (int32_t)i;
		}
	}
	return -1;
}

int32_t sh_find_hpa(const struct vmmu_shadow *sh, uint64_t hpa)
{
	for (uint32_t l = sh->hhash[sh_mix(hpa >> VMMU_PAGE_SHIFT, VMMU_SHADOW_HASH)];
	     l != 0; l = sh->pages[l - 1].hnext) {
		if (sh->pages[l - 1].hpa == hpa) {
			return (int32_t)(l - 1);
		}
	}
	return -1;
}

uint64_t vmmu_shadow_lookup(const struct vmmu_shadow *sh, uint64_t gfn,
			    uint32_t role)
{
	int32_t i = sh == NULL ? -1 : sh_find(sh, gfn, role);

	return i < 0 ? 0 : sh->pages[i].hpa;
}

bool sh_tracked(const struct vmmu_shadow *sh, uint64_t gfn)
{
	SH_FOR_GFN(sh, gfn, i) {
		if (!sh_is_direct(sh->pages[i].role)) {
			return true;
		}
	}
	return false;
}

uint32_t vmmu_shadow_tracked(const struct vmmu_shadow *sh, uint64_t gfn)
{
	uint32_t n = 0;

	if (sh == NULL) {
		return 0;
	}
	SH_FOR_GFN(sh, gfn, i) {
		n += !sh_is_direct(sh->pages[i].role);
	}
	return n;
}

static void zero_frame(const struct vmmu_platform *plat, uint64_t frame)
{
	vmmu_pte_t *t = vmmu_map_table(plat, frame);

	VMMU_CHECK(plat, t != NULL);
	for (unsigned k = 0; k < VMMU_PT_ENTRIES; k++) {
		t[k] = 0;
	}
	vmmu_unmap_table(plat, t);
}

/* Append descriptor idx as the newest page. */
static void list_push_newest(struct vmmu_shadow *sh, uint32_t idx)
{
	struct vmmu_shadow_page *p = &sh->pages[idx];

	p->older = sh->newest;
	p->newer = 0;
	if (sh->newest != 0) {
		sh->pages[sh->newest - 1].newer = idx + 1;
	} else {
		sh->oldest = idx + 1;
	}
	sh->newest = idx + 1;
}

static void list_remove(struct vmmu_shadow *sh, uint32_t idx)
{
	struct vmmu_shadow_page *p = &sh->pages[idx];

	if (p->older != 0) {
		sh->pages[p->older - 1].newer = p->newer;
	} else {
		sh->oldest = p->newer;
	}
	if (p->newer != 0) {
		sh->pages[p->newer - 1].older = p->older;
	} else {
		sh->newest = p->older;
	}
	p->older = p->newer = 0;
}

/*
 * Create the page for (gfn, role) on `frame` (a level-1 page also gets
 * `aux`, its reverse-map links); both are zeroed here. A free descriptor
 * must exist. Returns the descriptor index.
 */
uint32_t sh_create(struct vmmu_shadow *sh, uint64_t gfn, uint32_t role,
		   uint64_t frame, uint64_t aux)
{
	VMMU_CHECK(sh->plat, sh->free_head != 0 && frame != 0);
	uint32_t i = sh->free_head - 1;
	struct vmmu_shadow_page *p = &sh->pages[i];
	uint32_t b = sh_bucket(gfn);
	uint32_t hb = sh_mix(frame >> VMMU_PAGE_SHIFT, VMMU_SHADOW_HASH);

	zero_frame(sh->plat, frame);
	if (aux != 0) {
		zero_frame(sh->plat, aux);
	}
	sh->free_head = p->next;
	*p = (struct vmmu_shadow_page){
		.gfn = gfn, .hpa = frame, .aux = aux, .role = role,
		.next = sh->hash[b], .hnext = sh->hhash[hb],
	};
	sh->hash[b] = i + 1;
	sh->hhash[hb] = i + 1;
	list_push_newest(sh, i);
	sh->used_pages++;
	vmmu_trace(sh->plat, VMMU_TRACE_TABLE_ALLOC, frame, sh_role_level(role));
	return i;
}

void sh_flush_all(struct vmmu_shadow *sh, uint32_t scope)
{
	sh->stat_flushes++;
	if (sh->plat->ops->tlb_flush != NULL) {
		struct vmmu_tlb_req req = {.scope = scope};
		sh->plat->ops->tlb_flush(sh->plat->ctx, &req);
	}
}

/* A one-range flush request (INVLPG, a page-size change). */
void sh_flush_range(struct vmmu_shadow *sh, uint64_t va, uint64_t len)
{
	sh->stat_flushes++;
	vmmu_tlb_flush_range(sh->plat, va, len);
}

/* Remove descriptor idx from a singly linked chain starting at *head. */
static void chain_remove(struct vmmu_shadow *sh, uint32_t *head, uint32_t idx,
			 bool by_hpa)
{
	uint32_t *link = head;

	while (*link != 0 && *link != idx + 1) {
		struct vmmu_shadow_page *q = &sh->pages[*link - 1];
		link = by_hpa ? &q->hnext : &q->next;
	}
	VMMU_CHECK(sh->plat, *link == idx + 1);
	*link = by_hpa ? sh->pages[idx].hnext : sh->pages[idx].next;
}

/*
 * Phase one of a zap: unlink page idx from the hashes, the list, its
 * parents and its children, and queue it; its frame stays allocated until
 * sh_zap_commit has requested the flush (a CPU may still be walking it).
 */
void sh_zap_page(struct vmmu_shadow *sh, uint32_t idx)
{
	struct vmmu_shadow_page *p = &sh->pages[idx];

	VMMU_CHECK(sh->plat, p->hpa != 0 && !(p->flags & SH_PF_ZAPPED));
	sh_unlink_parents(sh, idx);
	sh_page_clear(sh, idx);
	chain_remove(sh, &sh->hash[sh_bucket(p->gfn)], idx, false);
	chain_remove(sh, &sh->hhash[sh_mix(p->hpa >> VMMU_PAGE_SHIFT,
					   VMMU_SHADOW_HASH)], idx, true);
	list_remove(sh, idx);
	p->flags |= SH_PF_ZAPPED;
	sh->epoch++; /* cached fill paths may name it */
	p->next = sh->zap_head;
	sh->zap_head = idx + 1;
	sh->used_pages--;
	if (!sh_is_direct(p->role) && !sh_tracked(sh, p->gfn)) {
		sh_oos_forget(sh, p->gfn);
	}
}

/* Phase two: one flush for everything queued, then free the frames. */
void sh_zap_commit(struct vmmu_shadow *sh)
{
	if (sh->zap_head == 0) {
		return;
	}
	sh_flush_all(sh, VMMU_TLB_ALL);
	while (sh->zap_head != 0) {
		uint32_t i = sh->zap_head - 1;
		struct vmmu_shadow_page *p = &sh->pages[i];
		sh->zap_head = p->next;
		vmmu_trace(sh->plat, VMMU_TRACE_TABLE_FREE, p->hpa,
			   sh_role_level(p->role));
		sh_free_frame(sh, p->hpa);
		if (p->aux != 0) {
			sh_free_frame(sh, p->aux);
		}
		*p = (struct vmmu_shadow_page){.next = sh->free_head};
		sh->free_head = i + 1;
	}
}

/* Oldest page that no vCPU holds as a root, or -1. */
static int32_t oldest_evictable(const struct vmmu_shadow *sh)
{
	for (uint32_t l = sh->oldest; l != 0; l = sh->pages[l - 1].newer) {
		if (sh->pages[l - 1].roots == 0) {
			return (int32_t)(l - 1);
		}
	}
	return -1;
}

/*
 * Make room for `need` new pages: evict oldest-first (never a page some
 * vCPU holds as current or cached root), at least a small batch so one
 * flush covers several evictions. Returns 0 or -VMMU_ENOMEM.
 */
int sh_reclaim(struct vmmu_shadow *sh, uint32_t need)
{
	uint32_t target = need + (sh->max_pages >= 64 ? 8 : 0);

	while (sh->max_pages - sh->used_pages < target) {
		int32_t i = oldest_evictable(sh);
		if (i < 0) {
			break;
		}
		sh_zap_page(sh, (uint32_t)i);
		sh->stat_reclaimed++;
	}
	sh_zap_commit(sh);
	return sh->max_pages - sh->used_pages >= need ? 0 : -VMMU_ENOMEM;
}

/* Give every shadow frame back; descriptors and hashes start empty. */
static void free_all_frames(struct vmmu_shadow *sh)
{
	for (uint32_t i = 0; i < sh->max_pages; i++) {
		struct vmmu_shadow_page *p = &sh->pages[i];
		if (p->hpa != 0) {
			vmmu_trace(sh->plat, VMMU_TRACE_TABLE_FREE, p->hpa,
				   sh_role_level(p->role));
			sh_free_frame(sh, p->hpa);
		}
		if (p->aux != 0) {
			sh_free_frame(sh, p->aux);
		}
	}
	for (uint32_t k = 0; k < sh->n_oos; k++) {
		sh_free_frame(sh, sh->oos[k].snap);
	}
	sh->n_oos = 0;
	sh->epoch++; /* every page went: cached fill paths are stale */
	reset_pool(sh);
}

void vmmu_shadow_zap_all(struct vmmu_shadow *sh)
{
	if (sh == NULL) {
		return;
	}
	/* Flush first: no CPU may keep walking a frame once it is freed. */
	sh_flush_all(sh, VMMU_TLB_ALL);
	free_all_frames(sh);
	sh->gen++;
	sh->stat_zap_all++;
}

void vmmu_shadow_destroy(struct vmmu_shadow *sh)
{
	if (sh == NULL || sh->pages == NULL) {
		return;
	}
	free_all_frames(sh);
	sh->gen++;
}

void vmmu_shadow_stats(const struct vmmu_shadow *sh, struct vmmu_shadow_stats *o)
{
	if (sh == NULL || o == NULL) {
		return;
	}
	*o = (struct vmmu_shadow_stats){
		.faults = sh->stat_faults, .fixed = sh->stat_fixed,
		.injected = sh->stat_inject, .emulated = sh->stat_emulate,
		.flushes = sh->stat_flushes, .write_zaps = sh->stat_write_zaps,
		.zap_all = sh->stat_zap_all, .reclaimed = sh->stat_reclaimed,
		.unsynced = sh->stat_unsync, .resynced = sh->stat_resync,
		.unshadowed = sh->stat_unshadow, .prefetched = sh->stat_prefetch,
		.large = sh->stat_large,
		.used_pages = sh->used_pages, .max_pages = sh->max_pages,
		.out_of_sync = sh->n_oos,
	};
}
