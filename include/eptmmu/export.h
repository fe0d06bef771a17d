/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Internal symbols are exported only to KUnit test modules, through the
 * kernel's EXPORTED_FOR_KUNIT_TESTING namespace (<kunit/visibility.h>,
 * Linux 6.2 and later); without CONFIG_KUNIT nothing is exported.
 */
#ifndef _EPTMMU_EXPORT_H
#define _EPTMMU_EXPORT_H

#include <kunit/visibility.h>

#endif /* _EPTMMU_EXPORT_H */
