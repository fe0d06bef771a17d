/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Internal symbols are exported only to KUnit test modules, through the
 * kernel's EXPORTED_FOR_KUNIT_TESTING namespace.  Kernels older than 6.2
 * lack <kunit/visibility.h>; there (and without CONFIG_KUNIT) nothing is
 * exported.
 */
#ifndef _EPTMMU_EXPORT_H
#define _EPTMMU_EXPORT_H

#if __has_include(<kunit/visibility.h>)
#include <kunit/visibility.h>
#else
#define EXPORT_SYMBOL_IF_KUNIT(symbol)
#endif

#endif /* _EPTMMU_EXPORT_H */
