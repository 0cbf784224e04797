/* SPDX-License-Identifier: MIT */
/*
 * Format descriptors: x86-64 (4/5 levels), EPT and the scrambled test
 * format. Bit positions and reserved-bit rules follow the Intel SDM; the
 * section is cited where each rule is applied.
 */
#include "internal.h"

#define X86_P (1ull << 0)
#define X86_RW (1ull << 1)
#define X86_US (1ull << 2)
#define X86_PWT (1ull << 3)
#define X86_PCD (1ull << 4)
#define X86_A (1ull << 5)
#define X86_D (1ull << 6)
#define X86_PS (1ull << 7)
#define X86_PAT_4K (1ull << 7)
#define X86_G (1ull << 8)
#define X86_PAT_LARGE (1ull << 12)
#define X86_PKEY_SHIFT 59u
#define X86_NX (1ull << 63)

#define EPT_R (1ull << 0)
#define EPT_W (1ull << 1)
#define EPT_X (1ull << 2)
#define EPT_MT_SHIFT 3u
#define EPT_IPAT (1ull << 6)
#define EPT_PS (1ull << 7)
#define EPT_A (1ull << 8)
#define EPT_D (1ull << 9)
#define EPT_UX (1ull << 10)

static const char *const x86_level_names[VMMU_LEVEL_MAX + 1] = {
	"?", "PT", "PD", "PDPT", "PML4", "PML5",
};
static const char *const ept_level_names[VMMU_LEVEL_MAX + 1] = {
	"?", "EPT PT", "EPT PD", "EPT PDPT", "EPT PML4", "EPT PML5",
};

const char *vmmu_fmt_level_name(const struct vmmu_fmt *fmt, unsigned level)
{
	if (fmt == NULL || level == 0 || level > fmt->levels) {
		return "?";
	}
	if (fmt->kind == VMMU_FMT_EPT) {
		return ept_level_names[level];
	}
	return x86_level_names[level];
}

static bool fmt_args_ok(struct vmmu_fmt *fmt, unsigned levels,
			unsigned maxphyaddr)
{
	return fmt != NULL && (levels == 4 || levels == 5) &&
	       maxphyaddr >= 36 && maxphyaddr <= 52;
}

/* Physical-address bits [maxphyaddr, 51]: reserved at every level (SDM §4.5.4). */
static uint64_t above_maxphyaddr(unsigned maxphyaddr)
{
	return maxphyaddr >= 52 ? 0 : vmmu_bits(51, maxphyaddr);
}

/*
 * Start a descriptor: identity and geometry (shift per level, address
 * masks for tables and for leaves of each size). Attribute bits are the
 * caller's.
 */
static void fmt_begin(struct vmmu_fmt *fmt, const char *name, uint32_t kind,
		      unsigned flags, unsigned levels, unsigned maxphyaddr)
{
	uint64_t addr = vmmu_bits(maxphyaddr - 1, 12);

	/* Freestanding: plain assignment, no memset of our own. */
	*fmt = (struct vmmu_fmt){0};
	fmt->name = name;
	fmt->kind = kind;
	fmt->flags = flags;
	fmt->levels = levels;
	fmt->maxphyaddr = maxphyaddr;
	fmt->va_bits = levels == 5 ? 57 : 48;
	for (unsigned l = 1; l <= levels; l++) {
		struct vmmu_fmt_level *lv = &fmt->level[l];
		lv->shift = (uint8_t)(12 + 9 * (l - 1));
		lv->addr_table = addr;
		lv->addr_leaf = addr & ~(vmmu_fmt_entry_size(fmt, l) - 1);
	}
}

/*
 * x86-64 paging, SDM Vol. 3A §4.5 Tables 4-15..4-20 (4-level) and 4-14
 * (PML5E). Reserved: address bits at or above MAXPHYADDR everywhere; PS in
 * PML5E/PML4E; bits 20:13 of a 2M PDE and 29:13 of a 1G PDPTE (bit 12 is
 * PAT there); PS in a PDPTE without 1G support (§4.1.4, CPUID Page1GB).
 * Bit 63 is reserved only when EFER.NXE=0: the walker adds it.
 */
static void x86_level(struct vmmu_fmt *fmt, unsigned l, unsigned flags,
		      uint64_t rsvd)
{
	struct vmmu_fmt_level *lv = &fmt->level[l];

	lv->present = X86_P;
	lv->write = X86_RW;
	lv->user = X86_US;
	lv->nx = X86_NX;
	lv->accessed = X86_A;
	lv->pwt = X86_PWT;
	lv->pcd = X86_PCD;
	lv->rsvd_table = rsvd;
	if (l == 1) {
		lv->leaf_ok = 1;
		lv->pat = X86_PAT_4K;
	} else if (l == 2 || (l == 3 && (flags & VMMU_FMT_F_1G))) {
		lv->leaf_ok = 1;
		lv->ps = X86_PS;
		lv->pat = X86_PAT_LARGE;
	} else {
		/* PML4E/PML5E, or a PDPTE without 1G pages: PS must be 0. */
		lv->rsvd_table |= X86_PS;
	}
	if (lv->leaf_ok) {
		lv->dirty = X86_D;
		lv->global = X86_G;
		lv->pkey = 0xfull << X86_PKEY_SHIFT;
		lv->pkey_shift = X86_PKEY_SHIFT;
		lv->rsvd_leaf = rsvd;
		if (l > 1) {
			lv->rsvd_leaf |= vmmu_bits(lv->shift - 1, 13);
		}
	}
}

int vmmu_fmt_init_x86(struct vmmu_fmt *fmt, unsigned levels,
		      unsigned maxphyaddr, unsigned flags)
{
	if (!fmt_args_ok(fmt, levels, maxphyaddr) ||
	    (flags & ~(unsigned)VMMU_FMT_F_1G) != 0) {
		return -VMMU_EINVAL;
	}
	fmt_begin(fmt, levels == 5 ? "x86-64 5-level" : "x86-64 4-level",
		  VMMU_FMT_X86, flags, levels, maxphyaddr);
	for (unsigned l = 1; l <= levels; l++) {
		x86_level(fmt, l, flags, above_maxphyaddr(maxphyaddr));
	}
	return 0;
}

/*
 * EPT, SDM Vol. 3C §29.3.2 Tables 29-1..29-6 (EPT PML5E..PTE). Table
 * entries: bits 7:3 reserved (bit 7 is PS at PDPTE/PDE, reserved above
 * and in a PDPTE without 1G support). Leaves: bits 29:12 (1G) or 20:12
 * (2M) reserved; memory type at 5:3, ignore-PAT at 6. A/D at 8/9 only
 * with EPTP bit 6; user-execute at bit 10 only with MBEC.
 */
static void ept_level(struct vmmu_fmt *fmt, unsigned l, unsigned flags,
		      uint64_t rsvd)
{
	struct vmmu_fmt_level *lv = &fmt->level[l];

	lv->read = EPT_R;
	lv->write = EPT_W;
	lv->exec = EPT_X;
	lv->present = EPT_R | EPT_W | EPT_X;
	if (flags & VMMU_FMT_F_EPT_MBEC) {
		lv->uexec = EPT_UX;
		lv->present |= EPT_UX;
	}
	if (flags & VMMU_FMT_F_EPT_AD) {
		lv->accessed = EPT_A;
	}
	lv->rsvd_table = rsvd | vmmu_bits(7, 3);
	if (l == 1) {
		lv->leaf_ok = 1;
	} else if (l == 2 || (l == 3 && (flags & VMMU_FMT_F_1G))) {
		lv->leaf_ok = 1;
		lv->ps = EPT_PS;
	}
	if (lv->leaf_ok) {
		lv->memtype = 7ull << EPT_MT_SHIFT;
		lv->memtype_shift = EPT_MT_SHIFT;
		lv->ipat = EPT_IPAT;
		lv->dirty = (flags & VMMU_FMT_F_EPT_AD) ? EPT_D : 0;
		lv->rsvd_leaf = rsvd;
		if (l > 1) {
			lv->rsvd_leaf |= vmmu_bits(lv->shift - 1, 12);
		}
	}
}

int vmmu_fmt_init_ept(struct vmmu_fmt *fmt, unsigned levels,
		      unsigned maxphyaddr, unsigned flags)
{
	const unsigned known = VMMU_FMT_F_1G | VMMU_FMT_F_EPT_AD |
			       VMMU_FMT_F_EPT_MBEC | VMMU_FMT_F_EPT_XONLY;

	if (!fmt_args_ok(fmt, levels, maxphyaddr) || (flags & ~known) != 0) {
		return -VMMU_EINVAL;
	}
	fmt_begin(fmt, levels == 5 ? "EPT 5-level" : "EPT 4-level",
		  VMMU_FMT_EPT, flags, levels, maxphyaddr);
	for (unsigned l = 1; l <= levels; l++) {
		ept_level(fmt, l, flags, above_maxphyaddr(maxphyaddr));
	}
	return 0;
}

/*
 * Scrambled format: x86 semantics, but every level draws its attribute
 * bits from a seeded shuffle of the positions x86 leaves to attributes
 * (0..11 and 52..58), with the protection key kept at 62:59. Large-leaf
 * address bits and reserved rules mirror x86.
 */
enum { SCR_P, SCR_W, SCR_U, SCR_PWT, SCR_PCD, SCR_A, SCR_D, SCR_PS, SCR_G,
       SCR_PAT, SCR_NX, SCR_COUNT };

static uint32_t scr_next(uint32_t *state)
{
	/* xorshift32: deterministic, no libc. */
	uint32_t x = *state;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*state = x;
	return x;
}

static void scr_positions(uint32_t *state, uint8_t pos[SCR_COUNT])
{
	uint8_t pool[19];
	unsigned n = 0;

	for (uint8_t b = 0; b < 12; b++) {
		pool[n++] = b;
	}
	for (uint8_t b = 52; b < 59; b++) {
		pool[n++] = b;
	}
	for (unsigned i = n - 1; i > 0; i--) {
		unsigned j = scr_next(state) % (i + 1);
		uint8_t t = pool[i];
		pool[i] = pool[j];
		pool[j] = t;
	}
	for (unsigned i = 0; i < SCR_COUNT; i++) {
		pos[i] = pool[i];
	}
}

static void scr_level(struct vmmu_fmt *fmt, unsigned l, unsigned flags,
		      uint64_t rsvd, const uint8_t pos[SCR_COUNT])
{
	struct vmmu_fmt_level *lv = &fmt->level[l];
	uint64_t ps = 1ull << pos[SCR_PS];

	lv->present = 1ull << pos[SCR_P];
	lv->write = 1ull << pos[SCR_W];
	lv->user = 1ull << pos[SCR_U];
	lv->nx = 1ull << pos[SCR_NX];
	lv->accessed = 1ull << pos[SCR_A];
	lv->pwt = 1ull << pos[SCR_PWT];
	lv->pcd = 1ull << pos[SCR_PCD];
	lv->rsvd_table = rsvd;
	if (l == 1 || l == 2 || (l == 3 && (flags & VMMU_FMT_F_1G))) {
		lv->leaf_ok = 1;
		lv->ps = l == 1 ? 0 : ps;
		lv->pat = 1ull << pos[SCR_PAT];
		lv->dirty = 1ull << pos[SCR_D];
		lv->global = 1ull << pos[SCR_G];
		lv->pkey = 0xfull << X86_PKEY_SHIFT;
		lv->pkey_shift = X86_PKEY_SHIFT;
		lv->rsvd_leaf = rsvd;
		if (l > 1) {
			lv->rsvd_leaf |= vmmu_bits(lv->shift - 1, 13);
		}
	} else {
		lv->rsvd_table |= ps;
	}
}

int vmmu_fmt_init_scrambled(struct vmmu_fmt *fmt, unsigned levels,
			    unsigned maxphyaddr, unsigned flags, uint32_t seed)
{
	uint32_t state = seed * 2654435761u + 0x9e3779b9u;
	uint8_t pos[SCR_COUNT];

	if (!fmt_args_ok(fmt, levels, maxphyaddr) ||
	    (flags & ~(unsigned)VMMU_FMT_F_1G) != 0) {
		return -VMMU_EINVAL;
	}
	if (state == 0) {
		state = 1;
	}
	fmt_begin(fmt, "scrambled (test only)", VMMU_FMT_X86,
		  flags | VMMU_FMT_F_SCRAMBLED, levels, maxphyaddr);
	for (unsigned l = 1; l <= levels; l++) {
		scr_positions(&state, pos);
		scr_level(fmt, l, flags, above_maxphyaddr(maxphyaddr), pos);
	}
	return 0;
}
