/* SPDX-License-Identifier: MIT */
/* Exception dispatch: recovery for guarded runs, a report for the rest. */
#include "kx.h"

extern uint64_t kx_recover_rip, kx_recover_rsp;
extern volatile uint32_t kx_recover_armed;
extern volatile int32_t kx_recover_result;

int kx_try_raw(void (*fn)(uint64_t), uint64_t arg, uint64_t rflags_or);
int kx_user_raw(uint64_t rip, uint64_t rsp, uint64_t arg, uint64_t rflags);

/* Details of the exception that ended the last guarded run. */
static struct kx_trap last_trap;
static unsigned trap_depth;

static const char *const names[32] = {
	"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM",
	"#DF", "CSO", "#TS", "#NP", "#SS", "#GP", "#PF", "#15",
	"#MF", "#AC", "#MC", "#XM", "#VE", "#CP", "#22", "#23",
	"#24", "#25", "#26", "#27", "#HV", "#VC", "#SX", "#31",
};

const char *kx_vector_name(int vector)
{
	if (vector < 0) {
		return "none";
	}
	return vector < 32 ? names[vector] : "int";
}

int kx_walk_vector(int walk_rc)
{
	return walk_rc == VMMU_WALK_OK   ? -1
	       : walk_rc == VMMU_WALK_PF ? 14
	       : walk_rc == VMMU_WALK_GP ? 13
					 : -2;
}

const char *kx_outcome_str(int vector, uint32_t err, char *buf, size_t n)
{
	if (vector < 0) {
		return "no fault";
	}
	kx_snprintf(buf, n, "%s err %#x", kx_vector_name(vector), err);
	return buf;
}

static void dump(const struct kx_regs *r, uint64_t cr2)
{
	kx_printf("# exception %lu (%s) error %#lx at rip %#lx cs %#lx rflags %#lx\n",
		  r->vector, kx_vector_name((int)r->vector), r->error, r->rip,
		  r->cs, r->rflags);
	kx_printf("# rsp %#lx ss %#lx cr2 %#lx cr3 %#lx cr0 %#lx cr4 %#lx\n",
		  r->rsp, r->ss, cr2, kx_read_cr3(), kx_read_cr0(), kx_read_cr4());
	kx_printf("# rax %#lx rbx %#lx rcx %#lx rdx %#lx\n", r->rax, r->rbx,
		  r->rcx, r->rdx);
	kx_printf("# rsi %#lx rdi %#lx rbp %#lx r8 %#lx\n", r->rsi, r->rdi,
		  r->rbp, r->r8);
}

bool (*kx_trap_hook)(struct kx_regs *r);

void kx_trap_entry(struct kx_regs *r)
{
	if (kx_trap_hook != NULL && kx_trap_hook(r)) {
		return; /* resumed as the hook left the frame */
	}
	uint64_t cr2 = r->vector == 14 ? kx_read_cr2() : 0;

	if (kx_recover_armed && trap_depth == 0) {
		kx_recover_armed = 0;
		if (r->vector == 14 && (r->cs & 3) == 3 &&
		    cr2 == KX_USER_EXIT_VA && r->rip == KX_USER_EXIT_VA) {
			/* A ring-3 stub finished (user.S). */
			kx_recover_result = -1;
			last_trap.vector = -1;
			last_trap.error = 0;
			last_trap.cr2 = 0;
		} else {
			kx_recover_result = (int32_t)r->vector;
			last_trap.vector = (int)r->vector;
			last_trap.error = (uint32_t)r->error;
			last_trap.cr2 = cr2;
		}
		last_trap.rip = r->rip;
		last_trap.cs = r->cs;
		r->rip = kx_recover_rip;
		r->rsp = kx_recover_rsp;
		r->cs = KX_KCS;
		r->ss = KX_KDS;
		r->rflags = 0x2; /* IF=0, AC=0 */
		return;
	}
	/* Unexpected: report and leave. A fault while reporting exits at once. */
	if (trap_depth++ != 0) {
		kx_exit(false);
	}
	kx_puts("\n");
	dump(r, cr2);
	kx_tap_bail("unexpected exception %lu (%s) at %#lx", r->vector,
		    kx_vector_name((int)r->vector), r->rip);
}

int kx_try(void (*fn)(uint64_t), uint64_t arg, bool ac, struct kx_trap *t)
{
	last_trap.vector = -1;
	int v = kx_try_raw(fn, arg, ac ? KX_RFLAGS_AC : 0);
	if (v < 0) {
		last_trap.vector = -1;
		last_trap.error = 0;
		last_trap.cr2 = 0;
		last_trap.rip = 0;
		last_trap.cs = KX_KCS;
	}
	if (t != NULL) {
		*t = last_trap;
	}
	return v;
}

int kx_user(uint64_t rip, uint64_t rsp, uint64_t arg, uint64_t rflags,
	    struct kx_trap *t)
{
	last_trap.vector = -1;
	int v = kx_user_raw(rip, rsp, arg, (rflags | 0x2) & ~(1ull << 9));
	if (t != NULL) {
		*t = last_trap;
	}
	return v;
}

int kx_access(enum kx_acc acc, bool user, uint64_t va, bool ac,
	      struct kx_trap *t)
{
	if (user) {
		const char *stub = acc == KX_READ    ? kx_user_read
				   : acc == KX_WRITE ? kx_user_write
						     : kx_user_fetch;
		return kx_user(kx_user_va(stub), KX_USER_STACK_VA + KX_PAGE - 64,
			       va, ac ? KX_RFLAGS_AC : 0, t);
	}
	void (*fn)(uint64_t) = acc == KX_READ    ? kx_sup_read
			       : acc == KX_WRITE ? kx_sup_write
						 : kx_sup_fetch;
	return kx_try(fn, va, ac, t);
}
