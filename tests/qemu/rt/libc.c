/* SPDX-License-Identifier: MIT */
/* The libc subset test kernels (and libvmmu.a) need, and a printf. */
#include "kx.h"

void *memcpy(void *restrict dst, const void *restrict src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	while (n-- != 0) {
		*d++ = *s++;
	}
	return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	if (d < s) {
		while (n-- != 0) {
			*d++ = *s++;
		}
	} else if (d > s) {
		while (n-- != 0) {
			d[n] = s[n];
		}
	}
	return dst;
}

void *memset(void *dst, int c, size_t n)
{
	unsigned char *d = dst;

	while (n-- != 0) {
		*d++ = (unsigned char)c;
	}
	return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;

	for (size_t i = 0; i < n; i++) {
		if (x[i] != y[i]) {
			return x[i] < y[i] ? -1 : 1;
		}
	}
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n] != '\0') {
		n++;
	}
	return n;
}

int strcmp(const char *a, const char *b)
{
	while (*a != '\0' && *a == *b) {
		a++;
		b++;
	}
	return (unsigned char)*a - (unsigned char)*b;
}

/* --- formatter ------------------------------------------------------------ */

struct out {
	char *buf;   /* NULL: write to COM1 */
	size_t size; /* buffer size (buf only) */
	size_t len;  /* characters produced so far */
};

static void out_c(struct out *o, char c)
{
	if (o->buf == NULL) {
		kx_putc(c);
	} else if (o->len + 1 < o->size) {
		o->buf[o->len] = c;
	}
	o->len++;
}

static void out_pad(struct out *o, char c, int n)
{
	while (n-- > 0) {
		out_c(o, c);
	}
}

enum {
	F_LEFT = 1, F_ZERO = 2, F_PLUS = 4, F_SPACE = 8, F_ALT = 16,
};

static void out_num(struct out *o, uint64_t v, bool neg, unsigned base,
		    bool upper, unsigned flags, int width, int prec)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char tmp[24];
	int n = 0;

	while (v != 0) {
		tmp[n++] = digits[v % base];
		v /= base;
	}
	if (prec < 0) {
		prec = 1;
	} else {
		flags &= ~(unsigned)F_ZERO;
	}
	int zeros = prec > n ? prec - n : 0;
	const char *prefix = "";
	if (neg) {
		prefix = "-";
	} else if (flags & F_PLUS) {
		prefix = "+";
	} else if (flags & F_SPACE) {
		prefix = " ";
	}
	if ((flags & F_ALT) && n > 0) {
		if (base == 16) {
			prefix = upper ? "0X" : "0x";
		} else if (base == 8 && zeros == 0) {
			zeros = 1;
		}
	}
	int plen = (int)strlen(prefix);
	int total = plen + zeros + n;
	int pad = width > total ? width - total : 0;

	if (!(flags & F_LEFT) && !(flags & F_ZERO)) {
		out_pad(o, ' ', pad);
	}
	for (int i = 0; i < plen; i++) {
		out_c(o, prefix[i]);
	}
	if (!(flags & F_LEFT) && (flags & F_ZERO)) {
		out_pad(o, '0', pad);
	}
	out_pad(o, '0', zeros);
	while (n > 0) {
		out_c(o, tmp[--n]);
	}
	if (flags & F_LEFT) {
		out_pad(o, ' ', pad);
	}
}

static int format(struct out *o, const char *fmt, va_list ap)
{
	for (; *fmt != '\0'; fmt++) {
		if (*fmt != '%') {
			out_c(o, *fmt);
			continue;
		}
		fmt++;
		unsigned flags = 0;
		for (;; fmt++) {
			if (*fmt == '-') {
				flags |= F_LEFT;
			} else if (*fmt == '0') {
				flags |= F_ZERO;
			} else if (*fmt == '+') {
				flags |= F_PLUS;
			} else if (*fmt == ' ') {
				flags |= F_SPACE;
			} else if (*fmt == '#') {
				flags |= F_ALT;
			} else {
				break;
			}
		}
		int width = 0;
		if (*fmt == '*') {
			width = va_arg(ap, int);
			if (width < 0) {
				flags |= F_LEFT;
				width = -width;
			}
			fmt++;
		} else {
			while (*fmt >= '0' && *fmt <= '9') {
				width = width * 10 + (*fmt++ - '0');
			}
		}
		int prec = -1;
		if (*fmt == '.') {
			fmt++;
			prec = 0;
			if (*fmt == '*') {
				prec = va_arg(ap, int);
				fmt++;
			} else {
				while (*fmt >= '0' && *fmt <= '9') {
					prec = prec * 10 + (*fmt++ - '0');
				}
			}
		}
		int lng = 0; /* -2 hh, -1 h, 0 int, 1 long/size/ptrdiff/intmax */
		if (*fmt == 'h') {
			lng = -1;
			if (*++fmt == 'h') {
				lng = -2;
				fmt++;
			}
		} else if (*fmt == 'l') {
			lng = 1;
			if (*++fmt == 'l') {
				fmt++;
			}
		} else if (*fmt == 'z' || *fmt == 'j' || *fmt == 't') {
			lng = 1;
			fmt++;
		}
		char c = *fmt;
		if (c == '\0') {
			break;
		}
		switch (c) {
		case 'd':
		case 'i': {
			int64_t v = lng == 1 ? va_arg(ap, long) : va_arg(ap, int);
			if (lng == -1) {
				v = (short)v;
			} else if (lng == -2) {
				v = (signed char)v;
			}
			uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
			out_num(o, u, v < 0, 10, false, flags, width, prec);
			break;
		}
		case 'u':
		case 'x':
		case 'X':
		case 'o': {
			uint64_t v = lng == 1 ? va_arg(ap, unsigned long)
					      : va_arg(ap, unsigned int);
			if (lng == -1) {
				v = (unsigned short)v;
			} else if (lng == -2) {
				v = (unsigned char)v;
			}
			unsigned base = c == 'u' ? 10 : c == 'o' ? 8 : 16;
			out_num(o, v, false, base, c == 'X', flags & ~(unsigned)(F_PLUS | F_SPACE),
				width, prec);
			break;
		}
		case 'p': {
			uint64_t v = (uint64_t)(uintptr_t)va_arg(ap, void *);
			out_num(o, v, false, 16, false, F_ALT | (flags & F_LEFT), width, prec);
			break;
		}
		case 'c': {
			char ch = (char)va_arg(ap, int);
			if (!(flags & F_LEFT)) {
				out_pad(o, ' ', width - 1);
			}
			out_c(o, ch);
			if (flags & F_LEFT) {
				out_pad(o, ' ', width - 1);
			}
			break;
		}
		case 's': {
			const char *s = va_arg(ap, const char *);
			if (s == NULL) {
				s = "(null)";
			}
			int n = 0;
			while (s[n] != '\0' && (prec < 0 || n < prec)) {
				n++;
			}
			if (!(flags & F_LEFT)) {
				out_pad(o, ' ', width - n);
			}
			for (int i = 0; i < n; i++) {
				out_c(o, s[i]);
			}
			if (flags & F_LEFT) {
				out_pad(o, ' ', width - n);
			}
			break;
		}
		case '%':
			out_c(o, '%');
			break;
		default: /* unknown: print it as written */
			out_c(o, '%');
			out_c(o, c);
			break;
		}
	}
	if (o->buf != NULL && o->size > 0) {
		o->buf[o->len < o->size ? o->len : o->size - 1] = '\0';
	}
	return (int)o->len;
}

int kx_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	static char dummy;
	struct out o = {buf != NULL ? buf : &dummy, buf != NULL ? size : 0, 0};

	return format(&o, fmt, ap);
}

int kx_snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int n = kx_vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

int kx_vprintf(const char *fmt, va_list ap)
{
	struct out o = {NULL, 0, 0};

	return format(&o, fmt, ap);
}

int kx_printf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int n = kx_vprintf(fmt, ap);
	va_end(ap);
	return n;
}
