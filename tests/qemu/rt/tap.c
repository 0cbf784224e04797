/* SPDX-License-Identifier: MIT */
/* TAP version 13 on COM1, readable by prove(1). */
#include "kx.h"

static unsigned tap_planned;
static unsigned tap_count;
static unsigned tap_failed;

void kx_tap_plan(unsigned n)
{
	tap_planned = n;
	kx_printf("1..%u\n", n);
}

bool kx_tap_ok(bool ok, const char *fmt, ...)
{
	va_list ap;

	tap_count++;
	if (!ok) {
		tap_failed++;
	}
	kx_printf("%s %u - ", ok ? "ok" : "not ok", tap_count);
	va_start(ap, fmt);
	kx_vprintf(fmt, ap);
	va_end(ap);
	kx_putc('\n');
	return ok;
}

void kx_tap_skip(const char *fmt, ...)
{
	va_list ap;

	tap_count++;
	kx_printf("ok %u # SKIP ", tap_count);
	va_start(ap, fmt);
	kx_vprintf(fmt, ap);
	va_end(ap);
	kx_putc('\n');
}

void kx_tap_diag(const char *fmt, ...)
{
	va_list ap;

	kx_puts("# ");
	va_start(ap, fmt);
	kx_vprintf(fmt, ap);
	va_end(ap);
	kx_putc('\n');
}

void kx_tap_bail(const char *fmt, ...)
{
	va_list ap;

	kx_puts("Bail out! ");
	va_start(ap, fmt);
	kx_vprintf(fmt, ap);
	va_end(ap);
	kx_putc('\n');
	kx_exit(false);
}

void kx_tap_finish(void)
{
	bool pass = tap_failed == 0 && tap_count == tap_planned;

	if (tap_count != tap_planned) {
		kx_tap_diag("planned %u tests but ran %u", tap_planned, tap_count);
	}
	kx_tap_diag("%s: %u of %u failed", pass ? "PASS" : "FAIL", tap_failed,
		    tap_count);
	kx_exit(pass);
}
