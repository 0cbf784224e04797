/* SPDX-License-Identifier: MIT */
/*
 * The shadow page cache: descriptors in caller-given storage, one hash
 * chain per guest frame bucket, a free list, and zap-all (the reclaim step
 * of this slice). Shadow tables themselves are frames from the host
 * platform. See docs/shadow.md.
 */
#include "internal.h"

static void reset_pool(struct vmmu_shadow *sh)
{
	for (uint32_t i = 0; i < VMMU_SHADOW_HASH; i++) {
		sh->hash[i] = 0;
	}
	for (uint32_t i = 0; i < sh->max_pages; i++) {
		sh->pages[i] = (struct vmmu_shadow_page){.next = i + 2};
	}
	sh->pages[sh->max_pages - 1].next = 0;
	sh->free_head = 1;
	sh->used_pages = 0;
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
	    max_pages < fmt->levels || max_pages > (1u << 30)) {
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
	for (uint32_t i = sh->hash[sh_bucket(gfn)]; i != 0;
	     i = sh->pages[i - 1].next) {
		const struct vmmu_shadow_page *p = &sh->pages[i - 1];
		if (p->gfn == gfn && p->role == role) {
			return (int32_t)(i - 1);
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

uint32_t vmmu_shadow_tracked(const struct vmmu_shadow *sh, uint64_t gfn)
{
	uint32_t n = 0;

	if (sh == NULL) {
		return 0;
	}
	for (uint32_t i = sh->hash[sh_bucket(gfn)]; i != 0;
	     i = sh->pages[i - 1].next) {
		const struct vmmu_shadow_page *p = &sh->pages[i - 1];
		n += p->gfn == gfn && !(p->role & VMMU_SHADOW_ROLE_DIRECT);
	}
	return n;
}

uint64_t sh_create(struct vmmu_shadow *sh, uint64_t gfn, uint32_t role,
		   uint64_t frame)
{
	VMMU_CHECK(sh->plat, sh->free_head != 0 && frame != 0);
	uint32_t i = sh->free_head - 1;
	struct vmmu_shadow_page *p = &sh->pages[i];
	vmmu_pte_t *t = vmmu_map_table(sh->plat, frame);

	VMMU_CHECK(sh->plat, t != NULL);
	for (unsigned k = 0; k < VMMU_PT_ENTRIES; k++) {
		t[k] = 0;
	}
	vmmu_unmap_table(sh->plat, t);
	sh->free_head = p->next;
	uint32_t b = sh_bucket(gfn);
	*p = (struct vmmu_shadow_page){
		.gfn = gfn, .hpa = frame, .role = role, .next = sh->hash[b],
	};
	sh->hash[b] = i + 1;
	sh->used_pages++;
	vmmu_trace(sh->plat, VMMU_TRACE_TABLE_ALLOC, frame, sh_role_level(role));
	return frame;
}

void sh_flush_all(struct vmmu_shadow *sh, uint32_t scope)
{
	sh->stat_flushes++;
	if (sh->plat->ops->tlb_flush != NULL) {
		struct vmmu_tlb_req req = {.scope = scope};
		sh->plat->ops->tlb_flush(sh->plat->ctx, &req);
	}
}

/* Give every shadow frame back; descriptors and hash start empty. */
static void free_all_frames(struct vmmu_shadow *sh)
{
	for (uint32_t i = 0; i < sh->max_pages; i++) {
		struct vmmu_shadow_page *p = &sh->pages[i];
		if (p->hpa != 0) {
			vmmu_trace(sh->plat, VMMU_TRACE_TABLE_FREE, p->hpa,
				   sh_role_level(p->role));
			sh->plat->ops->frame_free(sh->plat->ctx, vmmu_hpa(p->hpa));
		}
	}
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
