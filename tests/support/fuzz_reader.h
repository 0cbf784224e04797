/* SPDX-License-Identifier: MIT */
/*
 * Reading a fuzzer's input as a stream of big-endian integers; past the
 * end every read gives 0, so any input decodes to something.
 */
#ifndef VMMU_TEST_FUZZ_READER_H
#define VMMU_TEST_FUZZ_READER_H

#include <stddef.h>
#include <stdint.h>

struct reader {
	const uint8_t *p;
	size_t n;
};

static inline uint8_t rd8(struct reader *r)
{
	if (r->n == 0) {
		return 0;
	}
	r->n--;
	return *r->p++;
}

static inline uint16_t rd16(struct reader *r)
{
	uint16_t hi = rd8(r);
	return (uint16_t)(hi << 8 | rd8(r));
}

static inline uint32_t rd32(struct reader *r)
{
	uint32_t hi = rd16(r);
	return hi << 16 | rd16(r);
}

static inline uint64_t rd64(struct reader *r)
{
	uint64_t hi = rd32(r);
	return hi << 32 | rd32(r);
}

#endif
