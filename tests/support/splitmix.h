/* SPDX-License-Identifier: MIT */
/*
 * splitmix64: the tests' seeded random numbers (host tests and QEMU test
 * kernels alike). Header only, freestanding.
 */
#ifndef VMMU_TEST_SPLITMIX_H
#define VMMU_TEST_SPLITMIX_H

#include <stdint.h>

/* The next number of the sequence whose state is *state. */
static inline uint64_t splitmix64_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

#endif
