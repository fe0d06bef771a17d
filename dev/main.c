// SPDX-License-Identifier: GPL-2.0
/*
 * eptmmu: an MMU for x86 EPT page tables, outside KVM.
 *
 * Module entry points.  Each room of the module brings itself up here, in
 * dependency order, and goes down in reverse.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/init.h>
#include <linux/module.h>

#include <linux/rcupdate.h>

#include <eptmmu/dev.h>
#include <eptmmu/spte.h>

static int __init eptmmu_init(void)
{
	/*
	 * Only the software vCPU exists so far; it emulates the CPU's EPT
	 * walk, including A/D, so A/D is available.
	 */
	int r = eptmmu_spte_init(true, "soft");

	if (r)
		return r;
	return eptmmu_dev_init();
}

static void __exit eptmmu_exit(void)
{
	eptmmu_dev_exit();
	/* Page tables freed with call_rcu must be gone before our code is. */
	rcu_barrier();
	pr_info("unloaded\n");
}

module_init(eptmmu_init);
module_exit(eptmmu_exit);

MODULE_DESCRIPTION("EPT MMU: guest-physical to host-physical page tables with a lockless fast page fault");
MODULE_LICENSE("GPL");
