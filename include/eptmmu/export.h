/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Internal symbols are exported only to KUnit test modules, through the
 * kernel's EXPORTED_FOR_KUNIT_TESTING namespace (<kunit/visibility.h>, or
 * compat.h where the kernel lacks it); without CONFIG_KUNIT nothing is
 * exported.
 */
#ifndef _EPTMMU_EXPORT_H
#define _EPTMMU_EXPORT_H

#include <eptmmu/compat.h>

#endif /* _EPTMMU_EXPORT_H */
