/* SPDX-License-Identifier: MIT */
/* Runtime start-up after boot.S: console, descriptors, CPU, paging, test. */
#include "kx.h"

extern uint32_t kx_mb_magic, kx_mb_info;

#define MB_INFO_CMDLINE (1u << 2)

const char *kx_cmdline(void)
{
	if (kx_mb_magic != 0x2badb002u || kx_mb_info == 0) {
		return "";
	}
	const uint32_t *mbi = (const uint32_t *)(uintptr_t)kx_mb_info;
	if (!(mbi[0] & MB_INFO_CMDLINE) || mbi[4] == 0) {
		return "";
	}
	return (const char *)(uintptr_t)mbi[4];
}

static bool is_separator(char c)
{
	return c == ' ' || c == ',';
}

/*
 * The next word of the command line at or after *s (words are separated
 * by spaces or commas, so one -append argument can carry several without
 * quoting); its length, or 0 at the end.
 */
static size_t next_word(const char **s)
{
	size_t len = 0;

	while (is_separator(**s)) {
		(*s)++;
	}
	while ((*s)[len] != '\0' && !is_separator((*s)[len])) {
		len++;
	}
	return len;
}

bool kx_cmdline_has(const char *word)
{
	const char *s = kx_cmdline();
	size_t n = strlen(word), len;

	for (; (len = next_word(&s)) != 0; s += len) {
		if (len == n && memcmp(s, word, n) == 0) {
			return true;
		}
	}
	return false;
}

const char *kx_cmdline_value(const char *key)
{
	const char *s = kx_cmdline();
	size_t n = strlen(key), len;

	for (; (len = next_word(&s)) != 0; s += len) {
		if (len > n && memcmp(s, key, n) == 0 && s[n] == '=') {
			return s + n + 1;
		}
	}
	return NULL;
}

uint64_t kx_parse_uint(const char **s)
{
	uint64_t v = 0;
	unsigned base = 10;

	if ((*s)[0] == '0' && ((*s)[1] == 'x' || (*s)[1] == 'X')) {
		base = 16;
		*s += 2;
	}
	for (;; (*s)++) {
		char c = **s;
		unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
			     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
			     : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
						    : 99u;
		if (d >= base) {
			return v;
		}
		v = v * base + d;
	}
}

uint64_t kx_cmdline_uint(const char *key, uint64_t def)
{
	const char *v = kx_cmdline_value(key);

	return v != NULL ? kx_parse_uint(&v) : def;
}

struct kx_cpu kx_cpu;
bool kx_la57;

void kx_cpu_detect(void)
{
	uint32_t r[4];

	kx_cpuid(0, 0, r);
	uint32_t max_basic = r[0];
	memcpy(kx_cpu.vendor + 0, &r[1], 4);
	memcpy(kx_cpu.vendor + 4, &r[3], 4);
	memcpy(kx_cpu.vendor + 8, &r[2], 4);
	kx_cpu.vendor[12] = '\0';
	if (max_basic >= 7) {
		kx_cpuid(7, 0, r);
		kx_cpu.smep = (r[1] >> 7) & 1;
		kx_cpu.smap = (r[1] >> 20) & 1;
		kx_cpu.pku = (r[2] >> 3) & 1;
		kx_cpu.pks = (r[2] >> 31) & 1;
		kx_cpu.la57 = (r[2] >> 16) & 1;
	}
	if (max_basic >= 1) {
		kx_cpuid(1, 0, r);
		kx_cpu.pcid = (r[2] >> 17) & 1;
		kx_cpu.hypervisor = (r[2] >> 31) & 1;
	}
	if (kx_cpu.hypervisor) {
		kx_cpuid(0x40000000u, 0, r);
		memcpy(kx_cpu.hv_vendor + 0, &r[1], 4);
		memcpy(kx_cpu.hv_vendor + 4, &r[2], 4);
		memcpy(kx_cpu.hv_vendor + 8, &r[3], 4);
		for (unsigned i = 0; i < 12; i++) {
			char c = kx_cpu.hv_vendor[i];
			if (c != '\0' && (c < 0x20 || c > 0x7e)) {
				kx_cpu.hv_vendor[0] = '\0'; /* not a signature */
				break;
			}
		}
	}
	kx_cpuid(0x80000000u, 0, r);
	uint32_t max_ext = r[0];
	if (max_ext >= 0x80000001u) {
		kx_cpuid(0x80000001u, 0, r);
		kx_cpu.nx = (r[3] >> 20) & 1;
		kx_cpu.page1g = (r[3] >> 26) & 1;
	}
	kx_cpu.maxphyaddr = 36;
	kx_cpu.vabits = 48;
	if (max_ext >= 0x80000008u) {
		kx_cpuid(0x80000008u, 0, r);
		kx_cpu.maxphyaddr = r[0] & 0xff;
		kx_cpu.vabits = (r[0] >> 8) & 0xff;
	}
}

__attribute__((noreturn)) void kx_start(void);

void kx_start(void)
{
	kx_serial_init();
	kx_puts("TAP version 13\n");
	kx_desc_init();
	kx_cpu_detect();
	kx_printf("# vmmu test kernel: multiboot magic %#x, cmdline \"%s\"\n",
		  kx_mb_magic, kx_cmdline());
	kx_printf("# cpu %s, hypervisor \"%s\", maxphyaddr %u, nx %d 1g %d "
		  "smep %d smap %d pku %d pks %d la57 %d\n",
		  kx_cpu.vendor, kx_cpu.hv_vendor, kx_cpu.maxphyaddr, kx_cpu.nx,
		  kx_cpu.page1g, kx_cpu.smep, kx_cpu.smap, kx_cpu.pku,
		  kx_cpu.pks, kx_cpu.la57);
	if (!kx_cpu.nx) {
		/* The runtime maps nothing NX, but tests assume the bit exists. */
		kx_tap_diag("CPU has no NX");
	}
	kx_la57 = kx_cmdline_has("la57");
	if (kx_la57 && !kx_cpu.la57) {
		/* An empty plan with a reason: the runner reports a skip. */
		kx_puts("1..0 # SKIP no LA57 (5-level paging) on this CPU\n");
		kx_exit(true);
	}
	kx_paging_init();
	kx_main();
	kx_tap_finish();
}
