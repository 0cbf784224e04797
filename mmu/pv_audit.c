/* SPDX-License-Identifier: MIT */
/*
 * Direct paging: the audit (include/vmmu/pv.h). It recounts, from first
 * principles, every reference that should exist on the domain's frames
 * and compares with the frame table. Tests and the fuzzer run it after
 * every operation: a count off by one is a use-after-free or a leak, a
 * writable mapping of a table is a guest writing its own page tables.
 */
#include <vmmu/pv.h>

#include "pv_internal.h"

struct tally {
	const struct vmmu_pv_audit_domain *doms;
	unsigned n;
	const struct vmmu_pv_domain *d; /* the domain being counted */
	uint64_t *general, *typed;
	struct vmmu_pv_audit *out;
};

static void report(struct tally *t, uint64_t mfn, const char *what)
{
	if (t->out->errors++ == 0) {
		t->out->first_mfn = mfn;
		t->out->first = what;
	}
}

static bool owned(const struct vmmu_pv_domain *d, uint64_t mfn,
		  struct vmmu_frame_info *i)
{
	return mfn < d->ft->nframes && vmmu_ft_info(d->ft, mfn, i) == 0 &&
	       i->count != 0 && i->owner == d->id;
}

/* The audited domain that owns mfn (its record in *i), or NULL. */
static const struct vmmu_pv_domain *owner_of(const struct tally *t,
					     uint64_t mfn,
					     struct vmmu_frame_info *i)
{
	const struct vmmu_ft *ft = t->doms[0].d->ft;

	if (mfn >= ft->nframes || vmmu_ft_info(ft, mfn, i) != 0 || i->count == 0) {
		return NULL;
	}
	for (unsigned k = 0; k < t->n; k++) {
		if (i->owner == t->doms[k].d->id) {
			return t->doms[k].d;
		}
	}
	return NULL;
}

/*
 * Whether the table being counted may map mfn through an entry of `level`:
 * its own frame, or, for an L1 entry of a domain with foreign ops, a frame
 * of another audited domain.
 */
static bool mappable(const struct tally *t, unsigned level, uint64_t mfn,
		     struct vmmu_frame_info *i)
{
	if (owned(t->d, mfn, i)) {
		return true;
	}
	return level == 1 && t->d->foreign != NULL && owner_of(t, mfn, i) != NULL;
}

/* A reference holding both a general and a type reference on mfn. */
static void hold(struct tally *t, uint64_t mfn)
{
	struct vmmu_frame_info i;

	if (mfn == 0) {
		return;
	}
	if (!owned(t->d, mfn, &i)) {
		report(t, mfn, "a vCPU holds a frame the domain does not own");
		return;
	}
	t->general[mfn]++;
	t->typed[mfn]++;
}

/*
 * The references entry e of table `table` (of `level`) holds. Returns 1
 * for a same-level (linear) link, which the table's link count must show.
 */
static int count_entry(struct tally *t, uint64_t table, unsigned level,
		       uint64_t e)
{
	uint64_t target = entry_mfn(t->d, e);
	struct vmmu_frame_info i;

	t->out->entries++;
	if (level > 1 && target == table) {
		return 0; /* a link to itself holds nothing */
	}
	if (!mappable(t, level, target, &i)) {
		report(t, target, "an entry maps a frame the domain does not own");
		return 0;
	}
	t->general[target]++;
	if (level == 1 && (e & E_RW) == 0) {
		return 0;
	}
	t->typed[target]++;
	if (level == 1 && i.type != VMMU_FTYPE_WRITABLE) {
		report(t, target, "a page table (or descriptor page) is mapped writable");
	} else if (level > 1 && i.type == level) {
		if ((e & E_RW) != 0) {
			report(t, target, "a same-level link is writable");
		}
		return 1;
	} else if (level > 1 && i.type != level - 1) {
		report(t, target, "an entry points at a table of the wrong level");
	}
	return 0;
}

/* Entries [0, next) of table mfn, and entry `special` per its state. */
static void count_table(struct tally *t, uint64_t mfn, unsigned level,
			unsigned next, unsigned special, unsigned state)
{
	const vmmu_pte_t *tab = vmmu_map_table(t->d->plat, mfn << 12);

	if (tab == NULL) {
		report(t, mfn, "a table is not memory");
		return;
	}
	int64_t links = 0, counted = vmmu_ft_linear(t->d->ft, mfn);

	t->out->tables++;
	for (unsigned k = 0; k < next; k++) {
		uint64_t e = __atomic_load_n(&tab[k], __ATOMIC_RELAXED);
		if ((e & E_P) != 0 && !l4_slot_reserved(t->d, level, k)) {
			int link = count_entry(t, mfn, level, e);
			/* A link being released was uncounted when that began. */
			links += state == ES_RELEASING && k == special ? 0 : link;
		}
	}
	if (links != (counted > 0 ? counted : 0)) {
		report(t, mfn, "same-level links differ from the table's link count");
	}
	/* Below next it was counted above (a release in progress there). */
	if (state != ES_NONE && special >= next) {
		hold(t, entry_mfn(t->d, tab[special]));
	}
	vmmu_unmap_table(t->d->plat, (vmmu_pte_t *)(uintptr_t)tab);
}

static void count_frame(struct tally *t, uint64_t mfn)
{
	struct vmmu_frame_info i;
	unsigned next = ENTRIES, special = 0, state = ES_NONE;

	t->d = owner_of(t, mfn, &i);
	if (t->d == NULL) {
		return;
	}
	t->out->frames++;
	t->general[mfn] += i.allocated ? 1 : 0;
	if (i.pinned) {
		t->general[mfn]++;
		t->typed[mfn]++;
	}
	if (i.type < VMMU_FTYPE_L1 || i.type > VMMU_FTYPE_L4 || i.type_count == 0) {
		return;
	}
	if (!i.validated) {
		if (!i.partial) {
			report(t, mfn, "a (de)validation is running: not quiescent");
			return;
		}
		vmmu_pv_progress(t->d->ft, mfn, &next, &special, &state);
	}
	count_table(t, mfn, i.type, next, special, state);
}

static void compare(struct tally *t, uint64_t mfn)
{
	struct vmmu_frame_info i;

	if (owner_of(t, mfn, &i) == NULL) {
		return;
	}
	if (i.count != t->general[mfn]) {
		report(t, mfn, "general reference count differs from its holders");
	} else if (i.type_count != t->typed[mfn]) {
		report(t, mfn, "type reference count differs from its holders");
	}
}

/* The vCPUs' references: base pointers, parked and partial tables. */
static void count_vcpus(struct tally *t, const struct vmmu_pv_audit_domain *a)
{
	t->d = a->d;
	for (unsigned v = 0; v < a->nvcpus; v++) {
		const struct vmmu_pv_vcpu *cpu = &a->vcpus[v];

		hold(t, cpu->base);
		hold(t, cpu->user_base);
		for (unsigned k = 0; k < VMMU_PV_PARKED_MAX; k++) {
			hold(t, cpu->pending_put[k]);
		}
		hold(t, cpu->pending_partial);
	}
}

static bool audit_args_ok(const struct vmmu_pv_audit_domain *doms, unsigned n,
			  const uint64_t *work, const struct vmmu_pv_audit *out)
{
	if (doms == NULL || n == 0 || work == NULL || out == NULL) {
		return false;
	}
	for (unsigned k = 0; k < n; k++) {
		if (doms[k].d == NULL || doms[k].d->ft != doms[0].d->ft ||
		    (doms[k].vcpus == NULL && doms[k].nvcpus != 0)) {
			return false;
		}
	}
	return true;
}

int vmmu_pv_audit_domains(const struct vmmu_pv_audit_domain *doms, unsigned n,
			  uint64_t *work, struct vmmu_pv_audit *out)
{
	uint64_t nframes;
	struct tally t;

	if (!audit_args_ok(doms, n, work, out)) {
		return -VMMU_EINVAL;
	}
	nframes = doms[0].d->ft->nframes;
	__builtin_memset(out, 0, sizeof(*out));
	__builtin_memset(work, 0, (size_t)(2 * nframes) * sizeof(*work));
	t = (struct tally){.doms = doms, .n = n, .general = work,
			   .typed = work + nframes, .out = out};
	for (unsigned k = 0; k < n; k++) {
		count_vcpus(&t, &doms[k]);
	}
	for (uint64_t mfn = 0; mfn < nframes; mfn++) {
		count_frame(&t, mfn);
	}
	for (uint64_t mfn = 0; mfn < nframes; mfn++) {
		compare(&t, mfn);
	}
	return out->errors == 0 ? 0 : -VMMU_EFAULT;
}

int vmmu_pv_audit(const struct vmmu_pv_domain *d,
		  const struct vmmu_pv_vcpu *vcpus, unsigned nvcpus,
		  uint64_t *work, struct vmmu_pv_audit *out)
{
	const struct vmmu_pv_audit_domain one = {d, vcpus, nvcpus};

	return vmmu_pv_audit_domains(&one, 1, work, out);
}
