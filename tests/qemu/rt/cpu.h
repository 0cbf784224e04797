/* SPDX-License-Identifier: MIT */
/*
 * Test-kernel runtime: x86-64 register and port access, CPUID feature bits.
 * Everything is static inline; nothing here keeps state.
 */
#ifndef KX_CPU_H
#define KX_CPU_H

#include <stdbool.h>
#include <stdint.h>

/* Architectural bits the runtime and the test kernels use. */
#define KX_CR0_PE (1ull << 0)
#define KX_CR0_MP (1ull << 1)
#define KX_CR0_EM (1ull << 2)
#define KX_CR0_WP (1ull << 16)
#define KX_CR0_PG (1ull << 31)
#define KX_CR4_PAE (1ull << 5)
#define KX_CR4_PGE (1ull << 7)
#define KX_CR4_OSFXSR (1ull << 9)
#define KX_CR4_OSXMMEXCPT (1ull << 10)
#define KX_CR4_LA57 (1ull << 12)
#define KX_CR4_SMEP (1ull << 20)
#define KX_CR4_SMAP (1ull << 21)
#define KX_CR4_PKE (1ull << 22)
#define KX_CR4_PKS (1ull << 24)
#define KX_MSR_EFER 0xc0000080u
#define KX_EFER_LME (1ull << 8)
#define KX_EFER_LMA (1ull << 10)
#define KX_EFER_NXE (1ull << 11)
#define KX_MSR_PKRS 0x6e1u /* IA32_PKRS: supervisor protection keys */
#define KX_RFLAGS_AC (1ull << 18)

static inline uint64_t kx_read_cr0(void)
{
	uint64_t v;
	__asm__ volatile("mov %%cr0, %0" : "=r"(v));
	return v;
}
static inline void kx_write_cr0(uint64_t v)
{
	__asm__ volatile("mov %0, %%cr0" : : "r"(v) : "memory");
}
static inline uint64_t kx_read_cr2(void)
{
	uint64_t v;
	__asm__ volatile("mov %%cr2, %0" : "=r"(v));
	return v;
}
static inline uint64_t kx_read_cr3(void)
{
	uint64_t v;
	__asm__ volatile("mov %%cr3, %0" : "=r"(v));
	return v;
}
static inline void kx_write_cr3(uint64_t v)
{
	__asm__ volatile("mov %0, %%cr3" : : "r"(v) : "memory");
}
static inline uint64_t kx_read_cr4(void)
{
	uint64_t v;
	__asm__ volatile("mov %%cr4, %0" : "=r"(v));
	return v;
}
static inline void kx_write_cr4(uint64_t v)
{
	__asm__ volatile("mov %0, %%cr4" : : "r"(v) : "memory");
}
static inline uint64_t kx_rdmsr(uint32_t msr)
{
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((uint64_t)hi << 32) | lo;
}
static inline void kx_wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr"
			 :
			 : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32))
			 : "memory");
}
/* WRPKRU/RDPKRU: #UD unless CR4.PKE is set. */
static inline void kx_wrpkru(uint32_t v)
{
	__asm__ volatile("wrpkru" : : "a"(v), "c"(0), "d"(0) : "memory");
}
static inline uint32_t kx_rdpkru(void)
{
	uint32_t v, hi;
	__asm__ volatile("rdpkru" : "=a"(v), "=d"(hi) : "c"(0));
	return v;
}
static inline void kx_invlpg(uint64_t va)
{
	__asm__ volatile("invlpg (%0)" : : "r"(va) : "memory");
}
static inline void kx_outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}
static inline uint8_t kx_inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline void kx_cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	__asm__ volatile("cpuid"
			 : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
			 : "a"(leaf), "c"(sub));
}
static inline void kx_pause(void)
{
	__asm__ volatile("pause");
}

/* CPU features the runtime found at boot (kx_cpu_detect). */
struct kx_cpu {
	unsigned maxphyaddr; /* CPUID 0x80000008 EAX[7:0] (36 if absent) */
	unsigned vabits;     /* CPUID 0x80000008 EAX[15:8] (48 if absent) */
	bool nx, page1g, smep, smap, pku, pks, la57, pcid;
	bool hypervisor;     /* CPUID.1:ECX[31] */
	char vendor[13];
	char hv_vendor[13];  /* CPUID 0x40000000 signature ("KVMKVMKVM"), or "" */
};
extern struct kx_cpu kx_cpu;

#endif
