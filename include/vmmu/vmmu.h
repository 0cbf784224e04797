/* SPDX-License-Identifier: MIT */
/**
 * @file vmmu.h
 * Umbrella header: everything a user of vmmu includes.
 */
#ifndef VMMU_VMMU_H
#define VMMU_VMMU_H

#include "types.h"
#include "platform.h"
#include "fmt.h"
#include "pte.h"
#include "pt.h"
#include "walk.h"
#include "frame.h"
#include "pv_abi.h"
#include "pv.h"
#include "batch.h"
#include "batch_exec.h"
#include "batch_pv.h"
#include "batch_shadow.h"
#include "mpsc.h"
#include "shadow.h"

#define VMMU_VERSION_MAJOR 0
#define VMMU_VERSION_MINOR 1
#define VMMU_VERSION_PATCH 0

#endif /* VMMU_VMMU_H */
