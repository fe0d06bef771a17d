// SPDX-License-Identifier: GPL-2.0
/*
 * VT-x: what the CPU offers, and whether this module may enter VMX
 * operation at all.
 *
 * The capability MSRs are read with the _safe accessors (a hypervisor
 * below us may not emulate them), decoded by a pure function the KUnit
 * tests feed with the values of real CPU models, and reported in one
 * dmesg line and in /sys/module/eptmmu/parameters/vmx_caps.  VMXON is
 * then tried once, with the CPU's fixed CR0/CR4 bits honoured, and left
 * again at once: if another hypervisor (kvm_intel) owns VMX, CR4.VMXE is
 * already set and we must not touch it.
 *
 * The vmx vCPU itself (VMCS, guest entry, EPT violation exits, INVEPT) is
 * not written yet: backend=vmx refuses to load, backend=auto uses the soft
 * vCPU and says why.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/moduleparam.h>
#include <linux/preempt.h>
#include <linux/string.h>
#include <asm/cpufeature.h>
#include <asm/io.h>
#include <asm/msr.h>
#include <asm/processor.h>
#include <asm/tlbflush.h>
#include <asm/vmx.h>

#include <eptmmu/export.h>
#include <eptmmu/vmx.h>

static char vmx_caps[256] = "not probed";
module_param_string(vmx_caps, vmx_caps, sizeof(vmx_caps), 0444);
MODULE_PARM_DESC(vmx_caps, "What VT-x offers on this CPU (read-only)");

static void decode_ept(struct eptmmu_vmx_caps *c, u64 ept)
{
	c->ept_exec_only = ept & VMX_EPT_EXECUTE_ONLY_BIT;
	c->ept_4level = ept & VMX_EPT_PAGE_WALK_4_BIT;
	c->ept_wb = ept & VMX_EPTP_WB_BIT;
	c->ept_2m = ept & VMX_EPT_2MB_PAGE_BIT;
	c->ept_1g = ept & VMX_EPT_1GB_PAGE_BIT;
	c->invept = ept & VMX_EPT_INVEPT_BIT;
	c->invept_single = c->invept && (ept & VMX_EPT_EXTENT_CONTEXT_BIT);
	c->invept_all = c->invept && (ept & VMX_EPT_EXTENT_GLOBAL_BIT);
	c->ept_ad = ept & VMX_EPT_AD_BIT;
}

/**
 * eptmmu_vmx_decode() - what the VMX capability MSRs mean for eptmmu
 * @c: filled in
 * @m: the raw values (see struct eptmmu_vmx_msrs)
 *
 * Pure: no MSR is read here, so the tests can give it any CPU model.
 * The allowed-1 settings are the high halves of the control MSRs, taken
 * from the TRUE MSR when IA32_VMX_BASIC says it exists.
 *
 * Return: true if the vmx backend could run here; else c->why says why.
 */
bool eptmmu_vmx_decode(struct eptmmu_vmx_caps *c,
		       const struct eptmmu_vmx_msrs *m)
{
	u32 proc1, proc2;

	memset(c, 0, sizeof(*c));
	c->vmx = m->cpuid_vmx;
	if (!c->vmx) {
		c->why = "the CPU has no VMX (CPUID.1:ECX.VMX is 0)";
		return false;
	}
	c->enabled = (m->feat_ctl & FEAT_CTL_LOCKED) &&
		     (m->feat_ctl & FEAT_CTL_VMX_ENABLED_OUTSIDE_SMX);
	if (!m->have_msrs) {
		c->why = "the VMX capability MSRs cannot be read";
		return false;
	}
	c->revision = m->basic & 0x7fffffff;
	c->true_ctls = m->basic & VMX_BASIC_TRUE_CTLS;
	proc1 = (c->true_ctls ? m->true_procbased : m->procbased) >> 32;
	proc2 = m->procbased2 >> 32;
	c->secondary = proc1 & CPU_BASED_ACTIVATE_SECONDARY_CONTROLS;
	c->ept = c->secondary && (proc2 & SECONDARY_EXEC_ENABLE_EPT);
	c->unrestricted = c->secondary &&
			  (proc2 & SECONDARY_EXEC_UNRESTRICTED_GUEST);
	if (c->ept)
		decode_ept(c, m->ept_vpid_cap);

	if (!c->enabled)
		c->why = "VMX is disabled by the firmware (IA32_FEATURE_CONTROL)";
	else if (!c->ept)
		c->why = "the CPU has no EPT";
	else if (!c->ept_4level || !c->ept_wb)
		c->why = "EPT lacks a 4-level walk or write-back tables";
	else if (!c->invept || !(c->invept_single || c->invept_all))
		c->why = "the CPU has no usable INVEPT";
	else
		return true;
	return false;
}
EXPORT_SYMBOL_IF_KUNIT(eptmmu_vmx_decode);

static void read_msrs(struct eptmmu_vmx_msrs *m)
{
	memset(m, 0, sizeof(*m));
	m->cpuid_vmx = cpuid_ecx(1) & BIT(X86_FEATURE_VMX & 31);
	if (!m->cpuid_vmx)
		return;
	if (rdmsrl_safe(MSR_IA32_FEAT_CTL, &m->feat_ctl))
		m->feat_ctl = 0;
	m->have_msrs = !rdmsrl_safe(MSR_IA32_VMX_BASIC, &m->basic) &&
		       !rdmsrl_safe(MSR_IA32_VMX_PROCBASED_CTLS, &m->procbased) &&
		       !rdmsrl_safe(MSR_IA32_VMX_PROCBASED_CTLS2, &m->procbased2) &&
		       !rdmsrl_safe(MSR_IA32_VMX_CR0_FIXED0, &m->cr0_fixed0) &&
		       !rdmsrl_safe(MSR_IA32_VMX_CR0_FIXED1, &m->cr0_fixed1) &&
		       !rdmsrl_safe(MSR_IA32_VMX_CR4_FIXED0, &m->cr4_fixed0) &&
		       !rdmsrl_safe(MSR_IA32_VMX_CR4_FIXED1, &m->cr4_fixed1);
	if (m->have_msrs && (m->basic & VMX_BASIC_TRUE_CTLS))
		m->have_msrs = !rdmsrl_safe(MSR_IA32_VMX_TRUE_PROCBASED_CTLS,
					    &m->true_procbased);
	/* Only defined when EPT (or VPID) can be enabled. */
	if (m->have_msrs && rdmsrl_safe(MSR_IA32_VMX_EPT_VPID_CAP,
					&m->ept_vpid_cap))
		m->ept_vpid_cap = 0;
}

/* VMfailInvalid sets CF, VMfailValid ZF: jbe takes either. */
static int vmx_on(u64 pa)
{
	asm goto("1: vmxon %[pa]\n\t"
		 "jbe %l[failed]\n\t"
		 _ASM_EXTABLE(1b, %l[faulted])
		 : : [pa] "m" (pa) : "cc", "memory" : failed, faulted);
	return 0;
failed:
	return -EIO;
faulted:
	return -EFAULT;
}

static void vmx_off(void)
{
	asm volatile("vmxoff" : : : "cc", "memory");
}

/* Are CR0 and CR4 (with VMXE) what VMX operation requires? */
static bool fixed_bits_ok(const struct eptmmu_vmx_msrs *m, u64 cr0, u64 cr4)
{
	return (cr0 & m->cr0_fixed0) == m->cr0_fixed0 &&
	       !(cr0 & ~m->cr0_fixed1) &&
	       (cr4 & m->cr4_fixed0) == m->cr4_fixed0 &&
	       !(cr4 & ~m->cr4_fixed1);
}

/*
 * Enter and leave VMX operation once on this CPU.  Return 0, or a reason
 * in *why.
 */
static int vmxon_probe(const struct eptmmu_vmx_msrs *m, u32 revision,
		       const char **why)
{
	struct page *page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	u64 cr4;
	int r;

	if (!page) {
		*why = "no memory for a VMXON region";
		return -ENOMEM;
	}
	*(u32 *)page_address(page) = revision;
	preempt_disable();
	cr4 = __read_cr4();
	if (cr4 & X86_CR4_VMXE) {
		*why = "another hypervisor (e.g. kvm_intel) owns VMX on this CPU (CR4.VMXE is set)";
		r = -EBUSY;
	} else if (!fixed_bits_ok(m, read_cr0(), cr4 | X86_CR4_VMXE)) {
		*why = "CR0/CR4 do not meet the VMX fixed-bit requirements";
		r = -EINVAL;
	} else {
		cr4_set_bits(X86_CR4_VMXE);
		r = vmx_on(page_to_phys(page));
		if (!r)
			vmx_off();
		cr4_clear_bits(X86_CR4_VMXE);
		if (r)
			*why = "VMXON failed";
	}
	preempt_enable();
	__free_page(page);
	return r;
}

/**
 * eptmmu_vmx_init() - probe VT-x and choose a backend
 * @backend: the backend= parameter: "auto", "soft" or "vmx"
 * @caps: filled in with what was found
 *
 * Return: 0 with the soft backend chosen, or a negative errno when
 * backend=vmx cannot be honoured.
 */
int eptmmu_vmx_init(const char *backend, struct eptmmu_vmx_caps *caps)
{
	struct eptmmu_vmx_msrs m;
	const char *why = NULL;
	bool usable;
	int r = 0;

	read_msrs(&m);
	usable = eptmmu_vmx_decode(caps, &m);
	if (usable) {
		r = vmxon_probe(&m, caps->revision, &why);
		caps->vmxon_ok = !r;
		usable = !r;
	}
	if (!why)
		why = caps->why;

	snprintf(vmx_caps, sizeof(vmx_caps),
		 "vmx=%d enabled=%d ept=%d walk4=%d wb=%d 2m=%d 1g=%d invept=%s%s ad=%d exec_only=%d unrestricted=%d vmxon=%s",
		 caps->vmx, caps->enabled, caps->ept, caps->ept_4level,
		 caps->ept_wb, caps->ept_2m, caps->ept_1g,
		 caps->invept_single ? "single" : "",
		 caps->invept_all ? (caps->invept_single ? "+all" : "all") : "",
		 caps->ept_ad, caps->ept_exec_only, caps->unrestricted,
		 usable ? "ok" : (caps->vmxon_ok ? "ok" : "no"));
	pr_info("VT-x: %s%s%s\n", vmx_caps, usable ? "" : "; not usable: ",
		usable ? "" : why);

	if (!strcmp(backend, "soft"))
		return 0;
	if (!strcmp(backend, "vmx")) {
		pr_err("backend=vmx: %s\n", usable ?
		       "the vmx vCPU is not implemented yet" : why);
		return usable ? -EOPNOTSUPP : -ENODEV;
	}
	if (!strcmp(backend, "auto")) {
		pr_info("backend=auto: soft vCPU (%s)\n", usable ?
			"the vmx vCPU is not implemented yet" : why);
		return 0;
	}
	pr_err("backend=%s: expected auto, soft or vmx\n", backend);
	return -EINVAL;
}
