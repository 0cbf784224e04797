/* SPDX-License-Identifier: MIT */
/* A small machine for direct-paging tests (pv_fixture.h). */
#include "pv_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void must(int rc, const char *what)
{
	if (rc != 0) {
		fprintf(stderr, "pv_fixture: %s: %s\n", what, vmmu_strerror(rc));
		abort();
	}
}

void pv_fixture_init(struct pv_fixture *fx, uint64_t nframes,
		     uint64_t own_last, vmmu_domid_t dom, vmmu_domid_t other,
		     uint32_t flags)
{
	memset(fx, 0, sizeof(*fx));
	fx->nframes = nframes;
	fx->own_last = own_last;
	fx->next_free = 1;
	test_platform_init(&fx->tp, nframes);
	/* 16-byte aligned, as an embedder should give it (frame.h). */
	fx->frames = aligned_alloc(64, nframes * sizeof(struct vmmu_frame));
	fx->work = calloc(2 * nframes, sizeof(uint64_t));
	if (fx->frames == NULL || fx->work == NULL) {
		abort();
	}
	must(vmmu_ft_init(&fx->ft, fx->frames, vmmu_ft_bytes(nframes), nframes,
			  &fx->tp.plat),
	     "vmmu_ft_init");
	for (uint64_t mfn = 1; mfn < nframes; mfn++) {
		memset(pv_table(fx, mfn), 0, 4096);
		must(vmmu_ft_assign(&fx->ft, mfn, mfn <= own_last ? dom : other),
		     "vmmu_ft_assign");
	}
	must(vmmu_pv_domain_init(&fx->d, &fx->ft, &fx->tp.plat, dom, 40, NULL,
				 flags),
	     "vmmu_pv_domain_init");
	must(vmmu_pv_vcpu_init(&fx->v, &fx->d, 0), "vmmu_pv_vcpu_init");
}

void pv_fixture_fini(struct pv_fixture *fx)
{
	free(fx->frames);
	free(fx->work);
	test_platform_fini(&fx->tp);
}

uint64_t pv_new_frame(struct pv_fixture *fx)
{
	uint64_t mfn = fx->next_free++;

	if (mfn > fx->own_last) {
		fprintf(stderr, "pv_fixture: the domain has no frame left\n");
		abort();
	}
	memset(pv_table(fx, mfn), 0, 4096);
	return mfn;
}

uint64_t *pv_table(const struct pv_fixture *fx, uint64_t mfn)
{
	return (uint64_t *)test_platform_ptr(&fx->tp, mfn << 12);
}

int pv_ext(struct pv_fixture *fx, uint32_t cmd, uint64_t arg1, uint64_t arg2)
{
	struct vmmu_pv_mmuext_op op = {.cmd = cmd};
	uint32_t done = 0;

	op.arg1.linear_addr = arg1;
	op.arg2.vcpumask = arg2;
	return vmmu_pv_mmuext_op(&fx->v, &op, 1, &done, VMMU_PV_DOMID_SELF);
}

const char *pv_audit_problem(struct pv_fixture *fx, char *buf, size_t n)
{
	struct vmmu_pv_audit r;

	if (vmmu_pv_audit(&fx->d, &fx->v, 1, fx->work, &r) == 0) {
		return NULL;
	}
	snprintf(buf, n, "audit: %llu errors, first at frame %llu: %s",
		 (unsigned long long)r.errors, (unsigned long long)r.first_mfn,
		 r.first);
	return buf;
}

void pv_snapshot(const struct vmmu_ft *ft, struct vmmu_frame_info *base)
{
	for (uint64_t mfn = 0; mfn < ft->nframes; mfn++) {
		must(vmmu_ft_info(ft, mfn, &base[mfn]), "vmmu_ft_info");
	}
}

const char *pv_counts_changed(const struct vmmu_ft *ft,
			      const struct vmmu_frame_info *base, char *buf,
			      size_t n)
{
	for (uint64_t mfn = 0; mfn < ft->nframes; mfn++) {
		struct vmmu_frame_info now;

		must(vmmu_ft_info(ft, mfn, &now), "vmmu_ft_info");
		if (now.count != base[mfn].count ||
		    now.type_count != base[mfn].type_count ||
		    now.pinned != base[mfn].pinned || now.partial) {
			snprintf(buf, n,
				 "frame %llu: count %llu type count %llu pinned %d "
				 "partial %d, was %llu/%llu pinned %d",
				 (unsigned long long)mfn,
				 (unsigned long long)now.count,
				 (unsigned long long)now.type_count, now.pinned,
				 now.partial, (unsigned long long)base[mfn].count,
				 (unsigned long long)base[mfn].type_count,
				 base[mfn].pinned);
			return buf;
		}
	}
	return NULL;
}
