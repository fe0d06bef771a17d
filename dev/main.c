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
#include <eptmmu/vmx.h>

static char *backend = "auto";
module_param(backend, charp, 0444);
MODULE_PARM_DESC(backend,
		 "vCPU backend: auto (vmx when usable, else soft), soft, vmx");

static int __init eptmmu_init(void)
{
	struct eptmmu_vmx_caps caps;
	int r = eptmmu_vmx_init(backend, &caps);

	if (r)
		return r;
	/*
	 * The soft vCPU is what runs: it emulates the CPU's EPT walk,
	 * A/D included, so A/D is always available to it.
	 */
	r = eptmmu_spte_init(true, "soft");
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
