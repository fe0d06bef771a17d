// SPDX-License-Identifier: GPL-2.0
/*
 * eptmmu_test.ko: the KUnit suites for eptmmu.ko.  The suites run when this
 * module loads; eptmmu.ko must be loaded first (it exports its internals
 * to KUnit only, in the EXPORTED_FOR_KUNIT_TESTING namespace).
 */
#include <linux/module.h>

MODULE_DESCRIPTION("KUnit suites for eptmmu");
MODULE_LICENSE("GPL");
MODULE_IMPORT_NS(EXPORTED_FOR_KUNIT_TESTING);
