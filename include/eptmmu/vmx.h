/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The VT-x side: capability detection, the VMXON probe, backend choice.
 */
#ifndef _EPTMMU_VMX_H
#define _EPTMMU_VMX_H

#include <linux/types.h>

/* Raw inputs of the decision, as read on one CPU. */
struct eptmmu_vmx_msrs {
	bool cpuid_vmx;
	bool have_msrs;
	u64 feat_ctl;
	u64 basic;
	u64 procbased, true_procbased, procbased2;
	u64 ept_vpid_cap;
	u64 cr0_fixed0, cr0_fixed1, cr4_fixed0, cr4_fixed1;
};

struct eptmmu_vmx_caps {
	bool vmx, enabled, true_ctls, secondary, ept, unrestricted;
	bool ept_exec_only, ept_4level, ept_wb, ept_2m, ept_1g, ept_ad;
	bool invept, invept_single, invept_all;
	bool vmxon_ok;
	u32 revision;
	const char *why;	/* why the vmx backend cannot run, or NULL */
};

bool eptmmu_vmx_decode(struct eptmmu_vmx_caps *c,
		       const struct eptmmu_vmx_msrs *m);
int eptmmu_vmx_init(const char *backend, struct eptmmu_vmx_caps *caps);

#endif /* _EPTMMU_VMX_H */
