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
 * With backend=vmx (or auto, when usable) every online CPU then enters
 * VMX operation for as long as the module is loaded: the CPU hotplug
 * callbacks here do VMXON when a CPU comes online and VMCLEAR + VMXOFF
 * when it goes.  vcpu/vmx_vcpu.c runs the guests.
 *
 * Around that, the system's own transitions (R-VMX-LIFE in
 * Documentation/locking.rst): a PM notifier leaves VMX operation on
 * every CPU before suspend or hibernation and enters it again after (the
 * CPU forgets it across S3), a reboot notifier leaves it for good before
 * reboot, power-off and kexec, and the kernel's emergency callback
 * leaves it on a crash or an emergency reboot, where notifiers do not
 * run.  Whenever a CPU enters VMX operation it runs an all-context
 * INVEPT before any vCPU can enter a guest there, so a flush it missed
 * while it was out cannot leave a stale translation behind.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cpu.h>
#include <linux/cpuhotplug.h>
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/moduleparam.h>
#include <linux/notifier.h>
#include <linux/preempt.h>
#include <linux/reboot.h>
#include <linux/smp.h>
#include <linux/string.h>
#include <linux/suspend.h>
#include <asm/cpufeature.h>
#include <asm/io.h>
#include <asm/msr.h>
#include <asm/processor.h>
#include <asm/reboot.h>
#include <asm/tlbflush.h>
#include <asm/vmx.h>

#include <eptmmu/compat.h>
#include <eptmmu/export.h>
#include <eptmmu/inject.h>
#include <eptmmu/vmx.h>

static char vmx_caps[256] = "not probed";
module_param_string(vmx_caps, vmx_caps, sizeof(vmx_caps), 0444);
MODULE_PARM_DESC(vmx_caps, "What VT-x offers on this CPU (read-only)");

DEFINE_PER_CPU(struct eptmmu_vmx_cpu, eptmmu_vmx_cpu);
struct eptmmu_vmx_config eptmmu_vmx __read_mostly;
static struct eptmmu_vmx_msrs vmx_msrs;
static int vmx_hp_state = -1;

/*
 * Why VMX operation is off on every CPU although the module runs the
 * vmx backend (R-VMX-LIFE): changed with the CPU hotplug lock held for
 * read and every online CPU then switched by IPI, read by the hotplug
 * callbacks (which run with it held for write), so a CPU coming online
 * never misses a change.
 */
enum vmx_hold {
	VMX_RUNNING,
	VMX_SLEEPING,	/* suspend or hibernation: back on after resume */
	VMX_STOPPED,	/* reboot, power-off or kexec: never back */
};

static enum vmx_hold vmx_hold;

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
	else if (!c->invept || !c->invept_all)
		c->why = "the CPU has no all-context INVEPT (needed at every VMXON)";
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
	if (m->have_msrs)
		m->have_msrs = !rdmsrl_safe(MSR_IA32_VMX_PINBASED_CTLS, &m->pinbased) &&
			       !rdmsrl_safe(MSR_IA32_VMX_EXIT_CTLS, &m->exit) &&
			       !rdmsrl_safe(MSR_IA32_VMX_ENTRY_CTLS, &m->entry);
	if (m->have_msrs && (m->basic & VMX_BASIC_TRUE_CTLS))
		m->have_msrs = !rdmsrl_safe(MSR_IA32_VMX_TRUE_PROCBASED_CTLS,
					    &m->true_procbased) &&
			       !rdmsrl_safe(MSR_IA32_VMX_TRUE_PINBASED_CTLS,
					    &m->true_pinbased) &&
			       !rdmsrl_safe(MSR_IA32_VMX_TRUE_EXIT_CTLS,
					    &m->true_exit) &&
			       !rdmsrl_safe(MSR_IA32_VMX_TRUE_ENTRY_CTLS,
					    &m->true_entry);
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

/*
 * VMXOFF, tolerating a CPU that is not in VMX operation (it faults with
 * #UD then): the emergency path cannot know for sure.  Return false if it
 * faulted.
 */
static bool vmx_off(void)
{
	asm goto("1: vmxoff\n\t"
		 _ASM_EXTABLE(1b, %l[faulted])
		 : : : "cc", "memory" : faulted);
	return true;
faulted:
	return false;
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
			WARN_ON_ONCE(!vmx_off());
		cr4_clear_bits(X86_CR4_VMXE);
		if (r)
			*why = "VMXON failed";
	}
	preempt_enable();
	__free_page(page);
	return r;
}

/*
 * A control field's value: the bits we want plus those the CPU insists on
 * (allowed-0 settings, low half of the MSR), or false if the CPU cannot
 * set one we want (allowed-1 settings, high half).
 */
static bool adjust(u32 *out, u32 want, u64 msr)
{
	u32 must = msr, may = msr >> 32;

	*out = (want | must) & may;
	return (*out & want) == want;
}

/**
 * eptmmu_vmx_controls() - the VMCS controls and guest CR0/CR4 we run with
 * @cfg: filled in
 * @c: decoded capabilities (eptmmu_vmx_decode() said usable)
 * @m: the raw MSRs
 *
 * The guest is trapped as tightly as the CPU allows: external interrupts
 * and NMIs exit (the host stays responsive), HLT, every I/O port, MSR and
 * debug-register access exits, and CR0/CR4 are owned by the host.  Its
 * x87/SSE state is disabled (CR0.EM/TS, CR4.OSFXSR clear) so it never
 * touches the host's FPU registers.
 *
 * Return: NULL, or why the CPU cannot run our guest.
 */
const char *eptmmu_vmx_controls(struct eptmmu_vmx_config *cfg,
				const struct eptmmu_vmx_caps *c,
				const struct eptmmu_vmx_msrs *m)
{
	bool t = c->true_ctls;
	u64 cr0;

	memset(cfg, 0, sizeof(*cfg));
	cfg->revision = c->revision;
	cfg->invept_single = c->invept_single;
	cfg->invept_all = c->invept_all;
	if (!c->unrestricted)
		return "the CPU has no unrestricted guest (our guest runs with paging off)";
	if (!adjust(&cfg->pin, PIN_BASED_EXT_INTR_MASK | PIN_BASED_NMI_EXITING,
		    t ? m->true_pinbased : m->pinbased))
		return "the CPU cannot exit on interrupts and NMIs";
	if (!adjust(&cfg->proc, CPU_BASED_HLT_EXITING |
		    CPU_BASED_UNCOND_IO_EXITING | CPU_BASED_MOV_DR_EXITING |
		    CPU_BASED_RDPMC_EXITING |
		    CPU_BASED_ACTIVATE_SECONDARY_CONTROLS,
		    t ? m->true_procbased : m->procbased))
		return "the CPU lacks a primary processor-based control we need";
	/* MSR bitmaps off: every RDMSR/WRMSR exits. */
	cfg->proc &= ~CPU_BASED_USE_MSR_BITMAPS;
	if (!adjust(&cfg->proc2, SECONDARY_EXEC_ENABLE_EPT |
		    SECONDARY_EXEC_UNRESTRICTED_GUEST, m->procbased2))
		return "the CPU lacks EPT or unrestricted guest controls";
	if (!adjust(&cfg->exit, VM_EXIT_HOST_ADDR_SPACE_SIZE,
		    t ? m->true_exit : m->exit))
		return "the CPU cannot exit to a 64-bit host";
	if (!adjust(&cfg->entry, 0, t ? m->true_entry : m->entry))
		return "the CPU's VM-entry controls are unusable";
	if (cfg->entry & VM_ENTRY_IA32E_MODE)
		return "the CPU insists on a 64-bit guest";
	/* EPTMMU_RUN_GUEST's guests, when the CPU can run them. */
	cfg->long_mode = ((t ? m->true_entry : m->entry) >> 32 &
			  VM_ENTRY_IA32E_MODE) &&
			 (m->cr0_fixed1 & X86_CR0_PG) &&
			 (m->cr4_fixed1 & X86_CR4_PAE);

	/* Unrestricted guest exempts PE and PG from the fixed-1 bits. */
	cr0 = (m->cr0_fixed0 & ~(u64)(X86_CR0_PG | X86_CR0_PE)) | X86_CR0_PE |
	      X86_CR0_NE | X86_CR0_ET | X86_CR0_EM | X86_CR0_TS;
	if (cr0 & ~m->cr0_fixed1)
		return "the CPU's fixed CR0 bits do not allow our guest";
	cfg->guest_cr0 = cr0;
	cfg->guest_cr4 = m->cr4_fixed0;
	if (cfg->guest_cr4 & ~m->cr4_fixed1)
		return "the CPU's fixed CR4 bits do not allow our guest";
	return NULL;
}
EXPORT_SYMBOL_IF_KUNIT(eptmmu_vmx_controls);

/* R-VMX-LIFE: nothing cached from before this VMXON survives it. */
static void vmx_invept_all(void)
{
	struct { u64 eptp, rsvd; } desc = { 0, 0 };

	asm volatile("invept %0, %1" : : "m" (desc),
		     "r" ((unsigned long)VMX_EPT_EXTENT_GLOBAL) : "cc", "memory");
}

/* On @cpu, interrupts off: enter VMX operation. */
static int vmx_cpu_enable(struct eptmmu_vmx_cpu *vc)
{
	u64 cr4 = __read_cr4();
	int r;

	lockdep_assert_irqs_disabled();
	if (vc->on)
		return 0;
	if (cr4 & X86_CR4_VMXE) {
		pr_err("CPU %d: another hypervisor owns VMX (CR4.VMXE is set)\n",
		       smp_processor_id());
		return -EBUSY;
	}
	if (!fixed_bits_ok(&vmx_msrs, read_cr0(), cr4 | X86_CR4_VMXE))
		return -EINVAL;
	cr4_set_bits(X86_CR4_VMXE);
	r = vmx_on(virt_to_phys(vc->vmxon_region));
	if (r) {
		cr4_clear_bits(X86_CR4_VMXE);
		pr_err("CPU %d: VMXON failed (%d)\n", smp_processor_id(), r);
		return r;
	}
	/*
	 * R-VMX-LIFE: translations tagged with any EPTP may survive VMXOFF
	 * and VMXON, and flushes skipped this CPU while it was out of VMX
	 * operation (or offline): drop them all before a guest can run
	 * here.  Interrupts are off, so no flush IPI sees on set first.
	 */
	vmx_invept_all();
	WRITE_ONCE(vc->on, true);
	return 0;
}

/* Interrupts off: leave VMX operation, VMCSs first. */
static void vmx_cpu_disable(struct eptmmu_vmx_cpu *vc)
{
	lockdep_assert_irqs_disabled();
	if (!vc->on)
		return;
	eptmmu_vmx_clear_loaded(vc);
	WARN_ON_ONCE(!vmx_off());
	cr4_clear_bits(X86_CR4_VMXE);
	WRITE_ONCE(vc->on, false);
}

static int vmx_cpu_online(unsigned int cpu)
{
	struct eptmmu_vmx_cpu *vc = this_cpu_ptr(&eptmmu_vmx_cpu);
	unsigned long flags;
	int r;

	if (!vc->vmxon_region) {
		struct page *page = alloc_pages_node(cpu_to_node(cpu),
						     GFP_KERNEL | __GFP_ZERO, 0);

		if (!page)
			return -ENOMEM;
		vc->vmxon_region = page_address(page);
		INIT_LIST_HEAD(&vc->loaded);
	}
	*(u32 *)vc->vmxon_region = eptmmu_vmx.revision;
	/* Suspend: the PM notifier turns it on after the resume. */
	if (READ_ONCE(vmx_hold) != VMX_RUNNING)
		return 0;
	local_irq_save(flags);
	r = vmx_cpu_enable(vc);
	local_irq_restore(flags);
	return r;
}

static int vmx_cpu_offline(unsigned int cpu)
{
	struct eptmmu_vmx_cpu *vc = this_cpu_ptr(&eptmmu_vmx_cpu);
	unsigned long flags;

	local_irq_save(flags);
	vmx_cpu_disable(vc);
	local_irq_restore(flags);
	return 0;
}

/*
 * R-VMX-LIFE: a crash (kdump), an emergency reboot or a panic's stop of
 * the other CPUs, in NMI context or with interrupts off, where no
 * notifier runs: leave VMX root operation, or INIT is blocked and the
 * next kernel cannot start this CPU.  The CPU may be anywhere in
 * vmx_cpu_enable() or vmx_cpu_disable(), so CR4.VMXE (set before VMXON,
 * cleared after VMXOFF) says whether to try, and a VMXOFF outside VMX
 * operation is caught.  The active VMCSs are not VMCLEARed: the list of
 * them may be half-updated under this NMI, and nothing after a crash
 * reads their contents.
 */
static void vmx_emergency_off(void)
{
	struct eptmmu_vmx_cpu *vc = this_cpu_ptr(&eptmmu_vmx_cpu);

	if (!(__read_cr4() & X86_CR4_VMXE))
		return;
	vmx_off();
	cr4_clear_bits(X86_CR4_VMXE);
	WRITE_ONCE(vc->on, false);
}

/* IPI: this CPU leaves VMX operation (or enters it again). */
static void vmx_cpu_off_ipi(void *unused)
{
	vmx_cpu_disable(this_cpu_ptr(&eptmmu_vmx_cpu));
}

static void vmx_cpu_on_ipi(void *failed)
{
	if (vmx_cpu_enable(this_cpu_ptr(&eptmmu_vmx_cpu)))
		atomic_inc(failed);
}

/*
 * R-VMX-LIFE: every online CPU leaves VMX operation, or enters it again
 * (@hold is VMX_RUNNING).  The hotplug lock keeps CPUs from coming or
 * going meanwhile; one that comes later reads vmx_hold.
 */
static void vmx_set_hold(enum vmx_hold hold, const char *why)
{
	atomic_t failed = ATOMIC_INIT(0);

	cpus_read_lock();
	if (READ_ONCE(vmx_hold) == VMX_STOPPED) {
		cpus_read_unlock();
		return;
	}
	WRITE_ONCE(vmx_hold, hold);
	if (hold == VMX_RUNNING)
		on_each_cpu(vmx_cpu_on_ipi, &failed, 1);
	else
		on_each_cpu(vmx_cpu_off_ipi, NULL, 1);
	cpus_read_unlock();
	if (atomic_read(&failed))
		pr_err("%s: VMXON failed on %d CPUs; vCPUs wait for them\n",
		       why, atomic_read(&failed));
	else
		pr_info("%s: VMX operation %s on every CPU\n", why,
			hold == VMX_RUNNING ? "entered again" : "left");
}

/*
 * Suspend to RAM loses VMX operation (the CPU comes back out of it, and
 * the next VMPTRLD or INVEPT would raise #UD); hibernation powers off.
 * Leave it before, with every CPU still online and no task frozen yet
 * (a vCPU in EPTMMU_RUN then waits, see vmx_enter_once()), and enter it
 * again when everything is back.  Suspend to idle does not need it and
 * gets it too: the notifier cannot tell the states apart.
 */
static int vmx_pm_notify(struct notifier_block *nb, unsigned long event,
			 void *unused)
{
	if (eptmmu_broken(vmx_pm_ignored))
		return NOTIFY_DONE;
	switch (event) {
	case PM_SUSPEND_PREPARE:
	case PM_HIBERNATION_PREPARE:
	case PM_RESTORE_PREPARE:
		vmx_set_hold(VMX_SLEEPING, "suspend");
		break;
	case PM_POST_SUSPEND:
	case PM_POST_HIBERNATION:
	case PM_POST_RESTORE:
		vmx_set_hold(VMX_RUNNING, "resume");
		break;
	}
	return NOTIFY_DONE;
}

static struct notifier_block vmx_pm_nb = {
	.notifier_call = vmx_pm_notify,
};

/*
 * Reboot, power-off, halt and kexec (which runs this chain too) end VMX
 * operation for good: INIT is blocked in VMX root operation, and the
 * next kernel must find the CPUs out of it.
 */
static int vmx_reboot_notify(struct notifier_block *nb, unsigned long event,
			     void *unused)
{
	vmx_set_hold(VMX_STOPPED, "reboot");
	return NOTIFY_DONE;
}

static struct notifier_block vmx_reboot_nb = {
	.notifier_call = vmx_reboot_notify,
};

static void vmx_free_regions(void)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		struct eptmmu_vmx_cpu *vc = per_cpu_ptr(&eptmmu_vmx_cpu, cpu);

		if (vc->vmxon_region)
			free_page((unsigned long)vc->vmxon_region);
		vc->vmxon_region = NULL;
	}
}

/* Every online CPU enters VMX operation, and every CPU that comes later. */
static int vmx_enable_all(void)
{
	int r;

	WRITE_ONCE(vmx_hold, VMX_RUNNING);
	cpu_emergency_register_virt_callback(vmx_emergency_off);
	r = cpuhp_setup_state(CPUHP_AP_ONLINE_DYN, "eptmmu/vmx:online",
			      vmx_cpu_online, vmx_cpu_offline);
	if (r < 0) {
		cpu_emergency_unregister_virt_callback(vmx_emergency_off);
		vmx_free_regions();
		return r;
	}
	vmx_hp_state = r;
	register_reboot_notifier(&vmx_reboot_nb);
	register_pm_notifier(&vmx_pm_nb);
	return 0;
}

/**
 * eptmmu_vmx_exit() - leave VMX operation on every CPU (module unload)
 *
 * No vmx vCPU may exist any more: each VM holds a module reference.
 */
void eptmmu_vmx_exit(void)
{
	if (vmx_hp_state < 0)
		return;
	unregister_pm_notifier(&vmx_pm_nb);
	unregister_reboot_notifier(&vmx_reboot_nb);
	cpuhp_remove_state(vmx_hp_state);
	cpu_emergency_unregister_virt_callback(vmx_emergency_off);
	vmx_free_regions();
	vmx_hp_state = -1;
}

/**
 * eptmmu_vmx_init() - probe VT-x and choose a backend
 * @backend: the backend= parameter: "auto", "soft" or "vmx"
 * @caps: filled in with what was found
 * @use_vmx: set when the vmx backend runs (VMX operation is then on)
 *
 * Return: 0, or a negative errno when backend=vmx cannot be honoured or
 * @backend is not a backend.
 */
int eptmmu_vmx_init(const char *backend, struct eptmmu_vmx_caps *caps,
		    bool *use_vmx)
{
	struct eptmmu_vmx_msrs *m = &vmx_msrs;
	const char *why = NULL;
	bool want, usable;
	int r = 0;

	*use_vmx = false;
	want = !strcmp(backend, "vmx");
	if (!want && strcmp(backend, "auto") && strcmp(backend, "soft")) {
		pr_err("backend=%s: expected auto, soft or vmx\n", backend);
		return -EINVAL;
	}
	read_msrs(m);
	usable = eptmmu_vmx_decode(caps, m);
	if (usable) {
		why = eptmmu_vmx_controls(&eptmmu_vmx, caps, m);
		/* R-VMX-EVENT: an NMI in the guest must reach the host. */
		if (!why && eptmmu_fred_unserved())
			why = "FRED without kvm_intel's NMI entry for hypervisors";
		usable = !why;
	}
	if (usable) {
		r = vmxon_probe(m, caps->revision, &why);
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
		 caps->vmxon_ok ? "ok" : "no");
	pr_info("VT-x: %s%s%s\n", vmx_caps, usable ? "" : "; not usable: ",
		usable ? "" : why);

	if (!strcmp(backend, "soft") || (!want && !usable)) {
		if (!want && strcmp(backend, "soft"))
			pr_info("backend=auto: soft vCPU (%s)\n", why);
		return 0;
	}
	if (!usable) {
		pr_err("backend=vmx: %s\n", why);
		return -ENODEV;
	}
	r = vmx_enable_all();
	if (r) {
		pr_err("backend=%s: VMX operation could not be entered on every CPU (%d)%s\n",
		       backend, r, want ? "" : "; using the soft vCPU");
		return want ? r : 0;
	}
	pr_info("backend=%s: vmx vCPU (the CPU walks our EPT)\n", backend);
	*use_vmx = true;
	return 0;
}
