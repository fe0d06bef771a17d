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

#include <eptmmu/audit.h>
#include <eptmmu/dev.h>
#include <eptmmu/spte.h>
#include <eptmmu/mmu.h>
#include <eptmmu/vmx.h>

static char *backend = "auto";
module_param(backend, charp, 0444);
MODULE_PARM_DESC(backend,
		 "vCPU backend: auto (vmx when usable, else soft), soft, vmx");

static int __init eptmmu_init(void)
{
	struct eptmmu_vmx_caps caps;
	struct eptmmu_ept_hw hw = {
		/* The soft vCPU emulates every EPT feature, A/D included. */
		.name = "soft", .backend = EPTMMU_BACKEND_SOFT, .ad = true,
		.max_leaf_level = PG_LEVEL_1G,
	};
	bool use_vmx;
	int r = eptmmu_vmx_init(backend, &caps, &use_vmx);

	if (r)
		return r;
	if (use_vmx) {
		hw.name = "vmx";
		hw.backend = EPTMMU_BACKEND_VMX;
		hw.ad = caps.ept_ad;
		hw.max_leaf_level = caps.ept_1g ? PG_LEVEL_1G :
				    caps.ept_2m ? PG_LEVEL_2M : PG_LEVEL_4K;
	}
	r = eptmmu_spte_init(&hw);
	if (!r)
		r = eptmmu_vmx_pml_init(&caps, use_vmx, eptmmu_ad_enabled);
	if (r)
		goto vmx_exit;
	eptmmu_audit_init();
	r = eptmmu_dev_init();
	if (!r)
		return 0;
	eptmmu_audit_exit();
vmx_exit:
	eptmmu_vmx_exit();
	return r;
}

static void __exit eptmmu_exit(void)
{
	eptmmu_dev_exit();
	eptmmu_audit_exit();
	/* Page tables freed with call_rcu must be gone before our code is. */
	rcu_barrier();
	eptmmu_vmx_exit();
	pr_info("unloaded\n");
}

module_init(eptmmu_init);
module_exit(eptmmu_exit);

MODULE_DESCRIPTION("EPT MMU: guest-physical to host-physical page tables with a lockless fast page fault");
MODULE_LICENSE("GPL");
