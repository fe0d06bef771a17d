/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The VT-x side: capability detection, the VMXON probe, backend choice.
 */
#ifndef _EPTMMU_VMX_H
#define _EPTMMU_VMX_H

#include <linux/list.h>
#include <linux/percpu.h>
#include <linux/types.h>

/* Raw inputs of the decision, as read on one CPU. */
struct eptmmu_vmx_msrs {
	bool cpuid_vmx;
	bool have_msrs;
	u64 feat_ctl;
	u64 basic;
	u64 procbased, true_procbased, procbased2;
	u64 pinbased, true_pinbased;
	u64 exit, true_exit, entry, true_entry;
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

/* VMCS control values and guest CR0/CR4, fixed at init for every CPU. */
struct eptmmu_vmx_config {
	u32 revision;
	u32 pin, proc, proc2, exit, entry;
	u64 guest_cr0, guest_cr4;
	bool invept_single;	/* else all-context */
	bool invept_all;
	/* The CPU can enter a 64-bit guest (IA-32e mode, CR0.PG, CR4.PAE). */
	bool long_mode;
};

/* Per CPU; changed only on that CPU with interrupts off. */
struct eptmmu_vmx_cpu {
	void *vmxon_region;
	bool on;			/* in VMX operation */
	struct list_head loaded;	/* vmx vCPUs whose VMCS is active here */
	void *current_vmcs;		/* the VMCS VMPTRLD made current */
};

DECLARE_PER_CPU(struct eptmmu_vmx_cpu, eptmmu_vmx_cpu);
extern struct eptmmu_vmx_config eptmmu_vmx;

bool eptmmu_vmx_decode(struct eptmmu_vmx_caps *c,
		       const struct eptmmu_vmx_msrs *m);
const char *eptmmu_vmx_controls(struct eptmmu_vmx_config *cfg,
				const struct eptmmu_vmx_caps *c,
				const struct eptmmu_vmx_msrs *m);
int eptmmu_vmx_init(const char *backend, struct eptmmu_vmx_caps *caps,
		    bool *use_vmx);
void eptmmu_vmx_exit(void);

/* vcpu/vmx_enter.S: 0 after a VM exit, 1 VMfail, 2 fault (no VMX). */
int eptmmu_vmx_enter(u64 *regs, bool launched);
extern const u8 eptmmu_vmx_vmexit[];
/* vcpu/vmx_enter.S: call an IDT-style NMI entry with an interrupt frame. */
void eptmmu_vmx_call_nmi(void (*entry)(void));

/* vcpu/vmx_vcpu.c */
void eptmmu_vmx_clear_loaded(struct eptmmu_vmx_cpu *vc);
void eptmmu_vmx_invept(u64 eptp);

#endif /* _EPTMMU_VMX_H */
