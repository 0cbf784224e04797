/* SPDX-License-Identifier: MIT */
/* Error strings, platform validation and the panic path. */
#include "internal.h"

static const char *const vmmu_err_text[VMMU_ERR_COUNT] = {
	[VMMU_OK] = "success",
	[VMMU_EINVAL] = "invalid argument",
	[VMMU_ENOMEM] = "out of frames",
	[VMMU_EEXIST] = "range already mapped",
	[VMMU_ENOENT] = "range not mapped",
	[VMMU_ERANGE] = "address out of range",
	[VMMU_EALIGN] = "misaligned address or size",
	[VMMU_EFAULT] = "table address is not memory",
	[VMMU_EPERM] = "operation not permitted",
	[VMMU_EBUSY] = "resource busy",
	[VMMU_ERESTART] = "preempted, call again to continue",
	[VMMU_ENOTSUP] = "not supported by this format or mode",
	[VMMU_EAGAIN] = "busy elsewhere, call again later",
};

const char *vmmu_strerror(int err)
{
	unsigned code = err < 0 ? (unsigned)-(long)err : (unsigned)err;

	if (code >= VMMU_ERR_COUNT) {
		return "unknown error";
	}
	return vmmu_err_text[code];
}

int vmmu_platform_check(const struct vmmu_platform *plat)
{
	if (plat == NULL || plat->ops == NULL) {
		return -VMMU_EINVAL;
	}
	const struct vmmu_platform_ops *ops = plat->ops;
	if (ops->frame_alloc == NULL || ops->frame_free == NULL ||
	    ops->panic == NULL) {
		return -VMMU_EINVAL;
	}
	/* Without a map hook the direct map must cover something. */
	if (ops->frame_map == NULL && plat->direct_map_size == 0) {
		return -VMMU_EINVAL;
	}
	/* An unmap hook without a map hook would be called on direct-map pointers. */
	if (ops->frame_map == NULL && ops->frame_unmap != NULL) {
		return -VMMU_EINVAL;
	}
	return 0;
}

void vmmu_panic(const struct vmmu_platform *plat, const char *file, int line,
		const char *msg)
{
	plat->ops->panic(plat->ctx, file, line, msg);
	__builtin_trap();
}
