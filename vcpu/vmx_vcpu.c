// SPDX-License-Identifier: GPL-2.0
/*
 * The vmx vCPU: guest accesses made by a real CPU through eptmmu's EPT.
 *
 * Each access of EPTMMU_RUN is one or a few VM entries of a tiny guest
 * (32-bit protected mode, paging off, unrestricted guest) whose code user
 * space put in guest memory (struct eptmmu_guest_code).  The CPU walks our
 * tables, sets A/D in them when the EPTP enables it, and reports what it
 * cannot translate as an EPT violation, which goes to the same fault entry
 * the soft vCPU uses; an MMIO SPTE comes back as an EPT misconfiguration.
 *
 * EPTMMU_RUN_GUEST instead runs free-running 64-bit code (IA-32e mode,
 * paging through the guest's own 4-level tables) from registers user
 * space gives, until the guest makes a VMCALL; the CPU's walks of the
 * guest's tables fault in through the same fault entry (vmx_run_guest()).
 *
 * The VMCS of a vCPU is active on at most one CPU: the one its thread last
 * entered the guest on.  It is VMCLEARed there (by IPI if need be) before
 * it is loaded elsewhere, when the run ends and when that CPU goes
 * offline, so outside EPTMMU_RUN no CPU holds it.
 *
 * What the CPU caches from our tables (guest-physical mappings tagged
 * with the EPTP) survives VM exits and VMCLEAR; only INVEPT removes it.
 * A vCPU remembers every CPU it ever entered the guest on, and a flush
 * request runs INVEPT on all of them.
 *
 * With PML (ept_pml=) the CPU writes the gpa of every write that sets a
 * leaf's D into the vCPU's PML buffer; the vCPU drains it into the dirty
 * bitmaps after every VM exit, before interrupts come back on, and a
 * harvest waits for that with an IPI to every CPU in ran_on
 * (R-PML-DRAIN).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cpumask.h>
#include <linux/moduleparam.h>
#include <linux/ptrace.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include <asm/debugreg.h>
#include <asm/desc.h>
#include <asm/io.h>
#include <asm/mce.h>
#include <asm/msr.h>
#include <asm/segment.h>
#include <asm/special_insns.h>
#include <asm/tlbflush.h>
#include <asm/trapnr.h>
#include <asm/vmx.h>

#include <eptmmu/compat.h>
#include <eptmmu/export.h>
#include <eptmmu/inject.h>
#include <eptmmu/mmu.h>
#include <eptmmu/trace.h>
#include <eptmmu/vcpu.h>
#include <eptmmu/vmx.h>
#include <eptmmu/vmx_regs.h>

static_assert(VMX_HOST_RSP_FIELD == HOST_RSP);

/*
 * Segment access rights of the guest (SDM "Guest Register State"): flat
 * 4 GiB, 32-bit, present, DPL 0; type 0xb is execute/read code, 3 is
 * read/write data, both accessed.
 */
#define AR_FLAT		(VMX_AR_P_MASK | VMX_AR_S_MASK | VMX_AR_DB_MASK | \
			 VMX_AR_G_MASK)
#define AR_CODE		(AR_FLAT | 0xb)
/* 64-bit code (EPTMMU_RUN_GUEST): L set, D/B clear. */
#define AR_CODE64	(VMX_AR_P_MASK | VMX_AR_S_MASK | VMX_AR_L_MASK | \
			 VMX_AR_G_MASK | 0xb)
#define AR_DATA		(AR_FLAT | 0x3)
#define AR_TSS		(VMX_AR_P_MASK | VMX_AR_TYPE_BUSY_32_TSS)

/*
 * IF set: external interrupts exit whatever the guest's IF says (the
 * guest has no IDT and never sees one), but Bochs 2.7 recomputes its
 * interrupt masking only when IF changes, so a guest entered with IF
 * clear from a host with interrupts off is never interrupted there: a
 * guest that runs long (R-VMX-FLUSH's remote_flush) would stall the CPU.
 */
#define GUEST_RFLAGS_FIXED	(X86_EFLAGS_FIXED | X86_EFLAGS_IF)

struct vmx_exit {
	u32 reason;
	u32 intr_info;
	u64 qual;
	u64 gpa;
	u64 rip;
	u64 rsp;
	u64 rflags;
	u32 insn_len;
	u32 insn_error;
};

/*
 * What the VMCS is set up for: an access of EPTMMU_RUN through the 32-bit
 * guest code, a fetch (data segments unusable), or a 64-bit guest of
 * EPTMMU_RUN_GUEST (IA-32e mode, paging on through the guest's CR3).
 */
enum vmx_mode {
	VMX_MODE_ACCESS,
	VMX_MODE_FETCH,
	VMX_MODE_LONG,
};

struct vmx_vcpu {
	struct eptmmu_vcpu vcpu;
	void *vmcs;
	u64 eptp;
	/*
	 * CPU the VMCS is active on, or -1.  Set by the owning thread and
	 * cleared (with @launched) on that CPU with interrupts off, possibly
	 * by an IPI or the CPU-offline callback.
	 */
	int cpu;
	bool launched;
	bool set_up;		/* the constant VMCS fields are written */
	u8 mode;		/* enum vmx_mode the VMCS is set up for */
	bool skip_vmclear;	/* broken=vmx_migrate_no_vmclear, next clear */
	struct list_head loaded_link;	/* on eptmmu_vmx_cpu.loaded */
	cpumask_var_t ran_on;	/* CPUs that may cache our translations */
	u64 *pml;		/* the PML buffer (ept_pml on), or NULL */
	atomic64_t flushes;
	u64 regs[VMX_NR_REGS];
	/* Guest state the next entry starts from (the VMCS has the rest). */
	u64 rip, rsp, rflags, cr3;
	struct vmx_exit exit;
};

static struct vmx_vcpu *to_vmx(struct eptmmu_vcpu *vcpu)
{
	return container_of(vcpu, struct vmx_vcpu, vcpu);
}

/*
 * VMREAD/VMWRITE of a field we know exists cannot fail while our VMCS is
 * current; if one does, the VMCS is not what we think and the entry that
 * follows fails with a reason we report.
 */
static void vmcs_write(unsigned long field, u64 value)
{
	bool bad;

	asm volatile("vmwrite %[v], %[f]\n\tsetbe %[bad]"
		     : [bad] "=qm" (bad)
		     : [v] "rm" (value), [f] "r" (field) : "cc");
	WARN_ONCE(bad, "eptmmu: VMWRITE %#lx failed\n", field);
}

static u64 vmcs_read(unsigned long field)
{
	u64 value;
	bool bad;

	asm volatile("vmread %[f], %[v]\n\tsetbe %[bad]"
		     : [v] "=r" (value), [bad] "=qm" (bad)
		     : [f] "r" (field) : "cc");
	WARN_ONCE(bad, "eptmmu: VMREAD %#lx failed\n", field);
	return bad ? 0 : value;
}

static bool vmcs_op(int op, void *vmcs)
{
	u64 pa = virt_to_phys(vmcs);
	bool bad;

	if (op)
		asm volatile("vmptrld %[pa]\n\tsetbe %[bad]"
			     : [bad] "=qm" (bad) : [pa] "m" (pa) : "cc", "memory");
	else
		asm volatile("vmclear %[pa]\n\tsetbe %[bad]"
			     : [bad] "=qm" (bad) : [pa] "m" (pa) : "cc", "memory");
	return !bad;
}

#define vmclear(vmcs)	vmcs_op(0, vmcs)
#define vmptrld(vmcs)	vmcs_op(1, vmcs)

/**
 * eptmmu_vmx_invept() - drop this CPU's translations tagged with @eptp
 * @eptp: the EPTP
 *
 * Single-context where the CPU offers it, else all-context.  The caller
 * is in VMX operation.
 */
void eptmmu_vmx_invept(u64 eptp)
{
	struct { u64 eptp, rsvd; } desc = { eptp, 0 };
	unsigned long type = eptmmu_vmx.invept_single ? VMX_EPT_EXTENT_CONTEXT :
							VMX_EPT_EXTENT_GLOBAL;

	asm volatile("invept %0, %1" : : "m" (desc), "r" (type) : "cc", "memory");
}

/* On vv->cpu, interrupts off. */
static void vmx_clear_here(struct vmx_vcpu *vv)
{
	struct eptmmu_vmx_cpu *vc = this_cpu_ptr(&eptmmu_vmx_cpu);

	lockdep_assert_irqs_disabled();
	if (WARN_ON_ONCE(vv->cpu != smp_processor_id()))
		return;
	if (!READ_ONCE(vv->skip_vmclear))
		WARN_ON_ONCE(!vmclear(vv->vmcs));
	WRITE_ONCE(vv->skip_vmclear, false);
	if (vc->current_vmcs == vv->vmcs)
		vc->current_vmcs = NULL;
	list_del(&vv->loaded_link);
	vv->launched = false;
	/* The owner reads launched after seeing cpu == -1. */
	smp_store_release(&vv->cpu, -1);
}

static void vmx_clear_ipi(void *info)
{
	struct vmx_vcpu *vv = info;

	/* The CPU's offline callback may have got here first. */
	if (READ_ONCE(vv->cpu) == smp_processor_id())
		vmx_clear_here(vv);
}

/**
 * eptmmu_vmx_clear_loaded() - VMCLEAR every VMCS active on this CPU
 * @vc: this CPU's state; interrupts are off
 *
 * Before VMXOFF: a VMCS left active would lose the state the CPU caches.
 */
void eptmmu_vmx_clear_loaded(struct eptmmu_vmx_cpu *vc)
{
	struct vmx_vcpu *vv, *tmp;

	lockdep_assert_irqs_disabled();
	list_for_each_entry_safe(vv, tmp, &vc->loaded, loaded_link)
		vmx_clear_here(vv);
}

/* R-VMX-VMCS: make sure no CPU has the VMCS active (waits for an IPI). */
static void vmx_clear(struct vmx_vcpu *vv)
{
	/* Pairs with the release in vmx_clear_here(). */
	int cpu = smp_load_acquire(&vv->cpu);

	if (cpu < 0)
		return;
	/* Fails only if @cpu went offline, whose callback cleared it. */
	smp_call_function_single(cpu, vmx_clear_ipi, vv, 1);
	/* Pairs with the release in vmx_clear_here(). */
	WARN_ON_ONCE(smp_load_acquire(&vv->cpu) >= 0);
}

static void set_segment(unsigned long sel, unsigned long base,
			unsigned long limit, unsigned long ar,
			u16 selector, u32 rights)
{
	vmcs_write(sel, selector);
	vmcs_write(base, 0);
	vmcs_write(limit, rights & VMX_AR_G_MASK ? 0xffffffff : 0x67);
	vmcs_write(ar, rights);
}

#define SEG(s, selector, rights)					\
	set_segment(GUEST_##s##_SELECTOR, GUEST_##s##_BASE,		\
		    GUEST_##s##_LIMIT, GUEST_##s##_AR_BYTES, selector, rights)

/*
 * Data segments usable for the guest code, unusable for a fetch; paging
 * and IA-32e mode for a 64-bit guest only.  Each mode owns every field it
 * sets, so any mode can follow any other.  CR0/CR4 belong to the host
 * (every bit in the guest/host masks): the read shadows are what the
 * guest would see.
 */
static void vmx_set_mode(struct vmx_vcpu *vv, enum vmx_mode mode)
{
	const struct eptmmu_vmx_config *c = &eptmmu_vmx;
	u32 ar = mode == VMX_MODE_FETCH ? VMX_AR_UNUSABLE_MASK : AR_DATA;
	bool lm = mode == VMX_MODE_LONG;
	u64 cr0 = c->guest_cr0 | (lm ? X86_CR0_PG : 0);
	u64 cr4 = c->guest_cr4 | (lm ? X86_CR4_PAE : 0);

	vmcs_write(GUEST_DS_AR_BYTES, ar);
	vmcs_write(GUEST_ES_AR_BYTES, ar);
	vmcs_write(GUEST_SS_AR_BYTES, ar);
	vmcs_write(GUEST_FS_AR_BYTES, ar);
	vmcs_write(GUEST_GS_AR_BYTES, ar);
	vmcs_write(GUEST_CS_AR_BYTES, lm ? AR_CODE64 : AR_CODE);
	/*
	 * Without "load IA32_EFER" the entry sets EFER.LMA (and, with
	 * CR0.PG, EFER.LME) from the IA-32e control and leaves the host's
	 * other EFER bits; the exit puts LMA/LME back from the host
	 * address-space size.
	 */
	vmcs_write(VM_ENTRY_CONTROLS, c->entry | (lm ? VM_ENTRY_IA32E_MODE : 0));
	vmcs_write(GUEST_CR0, cr0);
	vmcs_write(GUEST_CR4, cr4);
	vmcs_write(CR0_READ_SHADOW, cr0);
	vmcs_write(CR4_READ_SHADOW, cr4 & ~X86_CR4_VMXE);
	if (!lm)
		vmcs_write(GUEST_CR3, 0);
	vv->mode = mode;
}

/* The fields that never change, written once on the first load. */
static void vmx_setup_vmcs(struct vmx_vcpu *vv)
{
	const struct eptmmu_vmx_config *c = &eptmmu_vmx;

	vmcs_write(PIN_BASED_VM_EXEC_CONTROL, c->pin);
	vmcs_write(CPU_BASED_VM_EXEC_CONTROL, c->proc);
	/* PML exactly when there is a buffer to log into. */
	vmcs_write(SECONDARY_VM_EXEC_CONTROL,
		   vv->pml ? c->proc2 | SECONDARY_EXEC_ENABLE_PML : c->proc2);
	vmcs_write(VM_EXIT_CONTROLS, c->exit);
	vmcs_write(EXCEPTION_BITMAP, ~0u);
	vmcs_write(PAGE_FAULT_ERROR_CODE_MASK, 0);
	vmcs_write(PAGE_FAULT_ERROR_CODE_MATCH, 0);
	vmcs_write(CR3_TARGET_COUNT, 0);
	vmcs_write(VM_EXIT_MSR_STORE_COUNT, 0);
	vmcs_write(VM_EXIT_MSR_LOAD_COUNT, 0);
	vmcs_write(VM_ENTRY_MSR_LOAD_COUNT, 0);
	vmcs_write(VM_ENTRY_INTR_INFO_FIELD, 0);
	/* Every CR0/CR4 bit is the host's: a guest write to one exits. */
	vmcs_write(CR0_GUEST_HOST_MASK, ~0UL);
	vmcs_write(CR4_GUEST_HOST_MASK, ~0UL);
	vmcs_write(EPT_POINTER, vv->eptp);
	vmcs_write(VMCS_LINK_POINTER, ~0ULL);
	if (vv->pml) {
		vmcs_write(PML_ADDRESS, virt_to_phys(vv->pml));
		vmcs_write(GUEST_PML_INDEX, EPTMMU_PML_ENTRIES - 1);
	}

	vmcs_write(GUEST_DR7, DR7_FIXED_1);
	vmcs_write(GUEST_IA32_DEBUGCTL, 0);
	vmcs_write(GUEST_SYSENTER_CS, 0);
	vmcs_write(GUEST_SYSENTER_ESP, 0);
	vmcs_write(GUEST_SYSENTER_EIP, 0);
	SEG(CS, 0x08, AR_CODE);
	SEG(DS, 0x10, AR_DATA);
	SEG(ES, 0x10, AR_DATA);
	SEG(SS, 0x10, AR_DATA);
	SEG(FS, 0x10, AR_DATA);
	SEG(GS, 0x10, AR_DATA);
	SEG(TR, 0x18, AR_TSS);
	SEG(LDTR, 0, VMX_AR_UNUSABLE_MASK);
	/* No descriptor tables: a segment load or an event would fault. */
	vmcs_write(GUEST_GDTR_BASE, 0);
	vmcs_write(GUEST_GDTR_LIMIT, 0);
	vmcs_write(GUEST_IDTR_BASE, 0);
	vmcs_write(GUEST_IDTR_LIMIT, 0);

	vmcs_write(HOST_CR0, read_cr0());
	vmcs_write(HOST_CS_SELECTOR, __KERNEL_CS);
	vmcs_write(HOST_SS_SELECTOR, __KERNEL_DS);
	vmcs_write(HOST_DS_SELECTOR, 0);
	vmcs_write(HOST_ES_SELECTOR, 0);
	vmcs_write(HOST_FS_SELECTOR, 0);
	vmcs_write(HOST_GS_SELECTOR, 0);
	vmcs_write(HOST_TR_SELECTOR, GDT_ENTRY_TSS * 8);
	vmcs_write(HOST_RIP, (unsigned long)eptmmu_vmx_vmexit);
	vmx_set_mode(vv, VMX_MODE_ACCESS);
	vv->set_up = true;
}

/* Host state that differs between CPUs. */
static void vmx_load_host_cpu(void)
{
	struct desc_ptr gdt, idt;
	struct ldttss_desc *tss;
	u64 v;

	native_store_gdt(&gdt);
	store_idt(&idt);
	tss = (struct ldttss_desc *)(gdt.address + GDT_ENTRY_TSS * 8);
	vmcs_write(HOST_TR_BASE, tss->base0 | ((u64)tss->base1 << 16) |
		   ((u64)tss->base2 << 24) | ((u64)tss->base3 << 32));
	vmcs_write(HOST_GDTR_BASE, gdt.address);
	vmcs_write(HOST_IDTR_BASE, idt.address);
	rdmsrl(MSR_GS_BASE, v);
	vmcs_write(HOST_GS_BASE, v);
	/* VM exit loads the SYSENTER MSRs from here, always. */
	rdmsrl(MSR_IA32_SYSENTER_CS, v);
	vmcs_write(HOST_IA32_SYSENTER_CS, v);
	rdmsrl(MSR_IA32_SYSENTER_ESP, v);
	vmcs_write(HOST_IA32_SYSENTER_ESP, v);
	rdmsrl(MSR_IA32_SYSENTER_EIP, v);
	vmcs_write(HOST_IA32_SYSENTER_EIP, v);
}

/*
 * Make our VMCS current on this CPU.  Preemption is off; interrupts are
 * off on return.  Return false if this CPU is not in VMX operation (it is
 * going offline): the caller waits to be migrated.
 */
static bool vmx_load(struct vmx_vcpu *vv)
{
	struct eptmmu_vmx_cpu *vc = this_cpu_ptr(&eptmmu_vmx_cpu);
	int cpu = smp_processor_id();

	/* Pairs with the release in vmx_clear_here(): launched is reset. */
	if (smp_load_acquire(&vv->cpu) != cpu) {
		/* Broken: the old CPU forgets the VMCS without writing it back. */
		if (eptmmu_broken(vmx_migrate_no_vmclear))
			WRITE_ONCE(vv->skip_vmclear, true);
		vmx_clear(vv);
	}
	local_irq_disable();
	if (!vc->on) {
		local_irq_enable();
		return false;
	}
	if (vv->cpu != cpu) {
		if (!vv->set_up)
			vmclear(vv->vmcs);	/* launch state "clear" */
		if (WARN_ON_ONCE(!vmptrld(vv->vmcs))) {
			local_irq_enable();
			return false;
		}
		vc->current_vmcs = vv->vmcs;
		list_add(&vv->loaded_link, &vc->loaded);
		WRITE_ONCE(vv->cpu, cpu);
		if (!vv->set_up)
			vmx_setup_vmcs(vv);
		vmx_load_host_cpu();
	} else if (vc->current_vmcs != vv->vmcs) {
		WARN_ON_ONCE(!vmptrld(vv->vmcs));
		vc->current_vmcs = vv->vmcs;
	}
	/*
	 * R-VMX-FLUSH: publish this CPU in ran_on before the CPU can cache
	 * a translation here; a flusher orders its SPTE writes before its
	 * read of ran_on the same way.
	 */
	if (!cpumask_test_cpu(cpu, vv->ran_on)) {
		cpumask_set_cpu(cpu, vv->ran_on);
		/* Pairs with the smp_mb() in vmx_flush_tlb(). */
		smp_mb__after_atomic();
	}
	return true;
}

static bool exit_is_nmi(const struct vmx_exit *e)
{
	return (e->intr_info & INTR_INFO_INTR_TYPE_MASK) == INTR_TYPE_NMI_INTR;
}

/* A machine check delivered in the guest (exit reason 0, vector 18). */
static bool exit_is_mc(const struct vmx_exit *e)
{
	return (e->reason & 0xffff) == EXIT_REASON_EXCEPTION_NMI &&
	       (e->intr_info & (INTR_INFO_VALID_MASK | INTR_INFO_INTR_TYPE_MASK |
				INTR_INFO_VECTOR_MASK)) ==
	       (INTR_INFO_VALID_MASK | INTR_TYPE_HARD_EXCEPTION | X86_TRAP_MC);
}

/*
 * R-VMX-EVENT: an NMI or a machine check that made the guest exit belongs
 * to the host, whose handler must run as if the event had hit the host
 * right here, with interrupts still off.
 *
 * The NMI: under FRED through the kernel's FRED entry for hypervisors;
 * otherwise through the entry point the kernel exports for VMX modules,
 * called with the interrupt frame a CPU would have pushed
 * (eptmmu_vmx_call_nmi()): its IRET also ends the NMI blocking the VM
 * exit left behind.  INT 2 only where the kernel exports no entry: a
 * software interrupt is not an NMI (FRED rejects it, and it does not
 * unblock NMIs).
 *
 * The machine check: do_machine_check(), with registers that say "user
 * mode, interrupts on": the machine check hit guest code, never kernel
 * code, and its recovery policy (e.g. killing the task that ran the
 * guest) is the host's to choose.
 */
static void vmx_host_nmi(void)
{
	if (eptmmu_fred_enabled())
		eptmmu_fred_nmi();
	else if (EPTMMU_HAVE_VMX_NMI_ENTRY)
		eptmmu_vmx_call_nmi(eptmmu_vmx_nmi_entry);
	else
		/*
		 * No exported entry (a kernel without kvm_intel as a
		 * module): INT 2 runs the handler through the IDT; NMIs
		 * then stay blocked until the next IRET, which the next
		 * interrupt brings.
		 */
		asm volatile("int $2");
}

static void vmx_host_mc(void)
{
#ifdef CONFIG_X86_MCE
	struct pt_regs regs = {
		.cs = 3,
		.flags = X86_EFLAGS_IF,
	};

	do_machine_check(&regs);
#endif
}

#ifdef EPTMMU_TEST
/*
 * Test builds: the next vmx_fake_exits VM exits are reported, in turn,
 * as a machine check during VM entry, a machine-check exception and an
 * NMI, none of which Bochs can raise in a guest.  The host handlers then
 * run for an event that did not happen: harmless on one CPU (the
 * machine-check handler finds no bank with an error), and what the
 * counters in /proc/interrupts show.  The exit that was replaced had
 * done its work, which the access redoes.
 */
static atomic_t vmx_fake_exits = ATOMIC_INIT(0);
module_param_named(vmx_fake_exits, vmx_fake_exits.counter, int, 0644);
MODULE_PARM_DESC(vmx_fake_exits,
		 "test builds only: report the next N VM exits as machine checks / NMIs");

static void vmx_fake_exit(struct vmx_exit *e)
{
	int n = atomic_dec_if_positive(&vmx_fake_exits);

	if (n < 0)
		return;
	switch (n % 3) {
	case 0:
		e->reason = EXIT_REASON_MCE_DURING_VMENTRY |
			    VMX_EXIT_REASONS_FAILED_VMENTRY;
		e->intr_info = 0;
		break;
	case 1:
		e->reason = EXIT_REASON_EXCEPTION_NMI;
		e->intr_info = INTR_INFO_VALID_MASK | INTR_TYPE_HARD_EXCEPTION |
			       X86_TRAP_MC;
		break;
	default:
		e->reason = EXIT_REASON_EXCEPTION_NMI;
		e->intr_info = INTR_INFO_VALID_MASK | INTR_TYPE_NMI_INTR |
			       NMI_VECTOR;
		break;
	}
}
#else
static void vmx_fake_exit(struct vmx_exit *e)
{
}
#endif

/* Host segment state a VM exit does not restore (R-VMX-HOSTSEG). */
struct vmx_host_seg {
	u16 ds, es, fs, gs, ldt;
	unsigned long fs_base, kernel_gs_base;
};

static void vmx_save_host_seg(struct vmx_host_seg *h, unsigned long fs_base)
{
	savesegment(ds, h->ds);
	savesegment(es, h->es);
	savesegment(fs, h->fs);
	savesegment(gs, h->gs);
	asm volatile("sldt %0" : "=rm" (h->ldt));
	h->fs_base = fs_base;
	/* While in the kernel, the user's GS base is in KERNEL_GS_BASE. */
	if (h->gs)
		rdmsrl(MSR_KERNEL_GS_BASE, h->kernel_gs_base);
}

/*
 * R-VMX-HOSTSEG: a VM exit leaves LDTR unusable, the data segment
 * selectors null and the FS/GS bases what the VMCS host fields say;
 * KERNEL_GS_BASE it does not touch.  The task's LDT (modify_ldt()) is
 * loaded again from the same selector (the GDT still describes it).  A
 * user FS or GS selector is loaded again, but loading it also loads the
 * base from its descriptor, and for GS (load_gs_index() swaps GS) into
 * KERNEL_GS_BASE, the user's GS base: with FSGSBASE that base may differ
 * from the descriptor's, so both are written back after the load.  With
 * a null selector the VMCS host fields already restored the FS base, and
 * the user's GS base was never touched.
 */
static void vmx_load_host_seg(const struct vmx_host_seg *h)
{
	bool keep_bases = !eptmmu_broken(vmx_host_seg_clobber);

	if (h->ldt && keep_bases)
		asm volatile("lldt %0" : : "rm" (h->ldt));
	loadsegment(ds, h->ds);
	loadsegment(es, h->es);
	if (h->fs) {
		loadsegment(fs, h->fs);
		if (keep_bases)
			wrmsrl(MSR_FS_BASE, h->fs_base);
	}
	if (h->gs) {
		load_gs_index(h->gs);
		if (keep_bases)
			wrmsrl(MSR_KERNEL_GS_BASE, h->kernel_gs_base);
	}
}

/*
 * Right after a VM exit, interrupts off: the host's events first
 * (R-VMX-EVENT).  Return 0, or 1 for a failed VM entry that is the
 * guest's to answer for.
 */
static int vmx_exit_events(struct vmx_vcpu *vv)
{
	struct vmx_exit *e = &vv->exit;
	bool as_guest_error = eptmmu_broken(vmx_mc_guest_error);

	if ((e->reason & 0xffff) == EXIT_REASON_MCE_DURING_VMENTRY &&
	    !as_guest_error) {
		vmx_host_mc();
		/*
		 * A failed VMLAUNCH may or may not have left the VMCS
		 * launched: VMCLEAR makes the next entry a VMLAUNCH for sure.
		 */
		vmx_clear_here(vv);
		return 0;
	}
	if (e->reason & VMX_EXIT_REASONS_FAILED_VMENTRY)
		return 1;
	if ((e->reason & 0xffff) == EXIT_REASON_EXCEPTION_NMI) {
		if (exit_is_nmi(e))
			vmx_host_nmi();
		else if (exit_is_mc(e) && !as_guest_error)
			vmx_host_mc();
	}
	return 0;
}

/*
 * R-PML-DRAIN: after a VM exit, interrupts still off, our VMCS current:
 * move what the CPU logged into the dirty bitmaps and empty the buffer.
 * The CPU fills it from the last entry down and leaves the index at the
 * next free one, 0xffff once the first entry is used (the next write then
 * exits with reason 62 first).  Only interrupts coming back on after this
 * let a harvest's kick IPI complete, so the harvest that sent it reads
 * these marks.  A gpa in no slot, or in one that no longer logs (stopped,
 * being deleted), has nowhere to go and is dropped; one in a slot that
 * logs by D bits is marked twice, once here and once by the harvest's
 * scan of its D.
 */
static void vmx_pml_drain(struct vmx_vcpu *vv)
{
	struct eptmmu_vcpu *vcpu = &vv->vcpu;
	struct eptmmu_vm *vm = vcpu->vm;
	struct eptmmu_slot *slot = NULL;
	struct eptmmu_slots *slots;
	unsigned int i, index;
	int idx;

	lockdep_assert_irqs_disabled();
	index = (u16)vmcs_read(GUEST_PML_INDEX);
	if (index == EPTMMU_PML_ENTRIES - 1)
		return;
	i = index >= EPTMMU_PML_ENTRIES ? 0 : index + 1;
	WRITE_ONCE(vcpu->kstats.pml_logged,
		   vcpu->kstats.pml_logged + EPTMMU_PML_ENTRIES - i);
	idx = srcu_read_lock(&vm->srcu);
	slots = srcu_dereference(vm->slots, &vm->srcu);
	for (; i < EPTMMU_PML_ENTRIES; i++) {
		/*
		 * The CPU logs a page-aligned gpa; Bochs 2.7 keeps the
		 * access's page offset in it, which the shift drops.
		 */
		u64 gfn = READ_ONCE(vv->pml[i]) >> PAGE_SHIFT;

		if (!slot || gfn - slot->base_gfn >= slot->npages)
			slot = eptmmu_gfn_to_slot(slots, gfn);
		/* Into the vCPU's dirty ring in a ring VM (R-RING-NOVCPU). */
		if (slot)
			eptmmu_vcpu_mark_dirty(vcpu, slot, gfn);
	}
	srcu_read_unlock(&vm->srcu, idx);
	vmcs_write(GUEST_PML_INDEX, EPTMMU_PML_ENTRIES - 1);
}

/*
 * One VM entry in @mode at vv->rip, with vv->rsp, vv->rflags (and, for a
 * 64-bit guest, vv->cr3).  Fills vv->exit.  Return 0 after a VM exit,
 * -EIO if the entry failed (vv->exit says how), -EAGAIN to try again.
 */
static int vmx_enter_once(struct vmx_vcpu *vv, enum vmx_mode mode)
{
	struct vmx_host_seg hseg;
	struct desc_ptr gdt, idt;
	unsigned long dr7 = 0;
	u64 v, debugctl;
	int r;

	preempt_disable();
	if (!vmx_load(vv)) {
		/*
		 * This CPU is out of VMX operation: going offline, suspending
		 * or rebooting (R-VMX-LIFE).  Wait, to be migrated or frozen.
		 */
		preempt_enable();
		schedule_timeout_interruptible(1);
		return -EAGAIN;
	}
	if (mode != vv->mode)
		vmx_set_mode(vv, mode);
	if (mode == VMX_MODE_LONG)
		vmcs_write(GUEST_CR3, vv->cr3);
	vmcs_write(HOST_CR3, __read_cr3());
	vmcs_write(HOST_CR4, cr4_read_shadow());
	rdmsrl(MSR_FS_BASE, v);
	vmcs_write(HOST_FS_BASE, v);
	vmcs_write(GUEST_RIP, vv->rip);
	vmcs_write(GUEST_RSP, vv->rsp);
	vmcs_write(GUEST_RFLAGS, vv->rflags);
	/* A fetched STI or MOV SS must not leave a blocking state behind. */
	vmcs_write(GUEST_INTERRUPTIBILITY_INFO, 0);
	vmcs_write(GUEST_PENDING_DBG_EXCEPTIONS, 0);
	vmcs_write(GUEST_ACTIVITY_STATE, GUEST_ACTIVITY_ACTIVE);

	/* What VM exit clobbers and the kernel expects to find again. */
	vmx_save_host_seg(&hseg, v);
	native_store_gdt(&gdt);
	store_idt(&idt);
	if (hw_breakpoint_active())
		get_debugreg(dr7, 7);
	rdmsrl(MSR_IA32_DEBUGCTLMSR, debugctl);

	r = eptmmu_vmx_enter(vv->regs, vv->launched);

	native_load_gdt(&gdt);
	native_load_idt(&idt);
	invalidate_tss_limit();
	vmx_load_host_seg(&hseg);
	if (dr7)
		set_debugreg(dr7, 7);
	if (debugctl)
		wrmsrl(MSR_IA32_DEBUGCTLMSR, debugctl);

	memset(&vv->exit, 0, sizeof(vv->exit));
	vv->exit.rip = vv->rip;
	vv->exit.rsp = vv->rsp;
	vv->exit.rflags = vv->rflags;
	if (r == 0) {
		vv->launched = true;
		vv->exit.reason = vmcs_read(VM_EXIT_REASON);
		vv->exit.intr_info = vmcs_read(VM_EXIT_INTR_INFO);
		vv->exit.qual = vmcs_read(EXIT_QUALIFICATION);
		vv->exit.gpa = vmcs_read(GUEST_PHYSICAL_ADDRESS);
		vv->exit.rip = vmcs_read(GUEST_RIP);
		vv->exit.rsp = vmcs_read(GUEST_RSP);
		vv->exit.rflags = vmcs_read(GUEST_RFLAGS);
		vv->exit.insn_len = vmcs_read(VM_EXIT_INSTRUCTION_LEN);
		vmx_fake_exit(&vv->exit);
		r = vmx_exit_events(vv);
		/* Not after a machine check during entry: it VMCLEARed. */
		if (vv->pml && vv->cpu == smp_processor_id())
			vmx_pml_drain(vv);
	} else if (r == 1) {
		vv->exit.insn_error = vmcs_read(VM_INSTRUCTION_ERROR);
	}
	local_irq_enable();
	preempt_enable();
	return r ? -EIO : 0;
}

static int guest_error(struct vmx_vcpu *vv, u32 why, u32 *exit_errno)
{
	const struct vmx_exit *e = &vv->exit;

	pr_warn_ratelimited("vmx vCPU %d: guest stopped: exit %#x insn_error %u at rip %#llx qual %#llx gpa %#llx intr %#x\n",
			    vv->vcpu.id, why, e->insn_error, e->rip, e->qual,
			    e->gpa, e->intr_info);
	vv->vcpu.guest_rip = e->rip;
	*exit_errno = why;
	return EPTMMU_EXIT_GUEST;
}

/* The qualification an EPT misconfiguration would have had as a violation. */
static u64 misconfig_qual(bool instr, u8 kind)
{
	if (instr)
		return EPT_VIOLATION_ACC_INSTR;
	return kind == EPTMMU_ACCESS_WRITE ? EPT_VIOLATION_ACC_WRITE :
					     EPT_VIOLATION_ACC_READ;
}

#define QUAL_MASK	(EPT_VIOLATION_ACC_READ | EPT_VIOLATION_ACC_WRITE | \
			 EPT_VIOLATION_ACC_INSTR |			     \
			 (VMX_EPT_RWX_MASK << EPT_VIOLATION_RWX_SHIFT) |    \
			 EPT_VIOLATION_GVA_IS_VALID |			     \
			 EPT_VIOLATION_GVA_TRANSLATED)

/*
 * Run @a (a read or write through the guest code, or with @fetch the
 * instruction fetch at a->gpa) until it is done or cannot be.
 */
static int vmx_do(struct vmx_vcpu *vv, struct eptmmu_access *a, bool fetch,
		  u32 *exit_errno)
{
	struct eptmmu_vcpu *vcpu = &vv->vcpu;
	u64 page = a->gpa & PAGE_MASK;
	int tries, r;

	for (tries = 0; tries < EPTMMU_ACCESS_MAX_TRIES; tries++) {
		u64 code = READ_ONCE(vcpu->vm->guest_code_gpa);
		const struct vmx_exit *e = &vv->exit;
		bool instr, ours;
		u64 qual, rip;
		int fr;

		memset(vv->regs, 0, sizeof(vv->regs));
		if (fetch) {
			rip = a->gpa;
		} else {
			if (code == EPTMMU_NO_GUEST_CODE) {
				memset(&vv->exit, 0, sizeof(vv->exit));
				return guest_error(vv, EPTMMU_GUEST_NO_CODE,
						   exit_errno);
			}
			rip = code;
			vv->regs[VMX_REG_RAX] = (a->kind << 8) | a->size;
			vv->regs[VMX_REG_RBX] = a->gpa;
			vv->regs[VMX_REG_RDX] = lower_32_bits(a->value);
			vv->regs[VMX_REG_RCX] = upper_32_bits(a->value);
		}
		vv->rip = rip;
		vv->rsp = 0;
		/*
		 * A fetch single-steps: the #DB trap after the one instruction
		 * at the gpa exits (every exception does), whatever it is.
		 */
		vv->rflags = GUEST_RFLAGS_FIXED | (fetch ? X86_EFLAGS_TF : 0);
		r = vmx_enter_once(vv, fetch ? VMX_MODE_FETCH : VMX_MODE_ACCESS);
		if (r == -EAGAIN) {
			if (signal_pending(current))
				return EPTMMU_EXIT_INTR;
			continue;
		}
		if (r)
			return guest_error(vv, e->reason |
					   VMX_EXIT_REASONS_FAILED_VMENTRY,
					   exit_errno);
		trace_eptmmu_vmx_exit(vcpu->id, e->reason, e->qual, e->gpa, e->rip);

		switch (e->reason & 0xffff) {
		case EXIT_REASON_VMCALL:
			if (fetch)
				return EPTMMU_EXIT_DONE;
			a->value = lower_32_bits(vv->regs[VMX_REG_RDX]) |
				   (u64)lower_32_bits(vv->regs[VMX_REG_RCX]) << 32;
			if (a->size < 8)
				a->value &= BIT_ULL(a->size * 8) - 1;
			WRITE_ONCE(vcpu->stats.accesses, vcpu->stats.accesses + 1);
			return EPTMMU_EXIT_DONE;
		case EXIT_REASON_EXTERNAL_INTERRUPT:
			break;	/* handled when interrupts came back on */
		case EXIT_REASON_PML_FULL:
			/* Drained at the exit: the write goes on. */
			eptmmu_vcpu_stat_inc(&vcpu->kstats.pml_full_exits);
			break;
		case EXIT_REASON_MCE_DURING_VMENTRY:
			break;	/* the host's, handled at the exit */
		case EXIT_REASON_EXCEPTION_NMI:
			if (exit_is_nmi(e) ||
			    (exit_is_mc(e) && !eptmmu_broken(vmx_mc_guest_error)))
				break;
			if (fetch)
				return EPTMMU_EXIT_DONE;
			return guest_error(vv, e->reason, exit_errno);
		case EXIT_REASON_EPT_VIOLATION:
		case EXIT_REASON_EPT_MISCONFIG:
			if ((e->reason & 0xffff) == EXIT_REASON_EPT_VIOLATION) {
				instr = e->qual & EPT_VIOLATION_ACC_INSTR;
				qual = e->qual & QUAL_MASK;
			} else {
				instr = fetch ? (e->gpa & PAGE_MASK) == page :
						(e->gpa & PAGE_MASK) == code;
				qual = misconfig_qual(instr, a->kind);
			}
			/* The fault the access itself takes, or its code's. */
			ours = (e->gpa & PAGE_MASK) == page && instr == fetch;
			/* A fetched instruction's own accesses are not ours. */
			if (fetch && !ours)
				return EPTMMU_EXIT_DONE;
			fr = eptmmu_page_fault(vcpu, e->gpa, qual);
			if (fr == EPTMMU_FAULT_RING_FULL)
				return EPTMMU_EXIT_RING_FULL;
			if (fr == EPTMMU_FAULT_MMIO) {
				if (!ours)
					return guest_error(vv, e->reason,
							   exit_errno);
				WRITE_ONCE(vcpu->stats.mmio_exits,
					   vcpu->stats.mmio_exits + 1);
				return EPTMMU_EXIT_MMIO;
			}
			if (fr < 0) {
				*exit_errno = -fr;
				return EPTMMU_EXIT_FAULT;
			}
			break;
		default:
			/* A fetched instruction may do anything: it ran. */
			if (fetch)
				return EPTMMU_EXIT_DONE;
			return guest_error(vv, e->reason, exit_errno);
		}
		if (signal_pending(current))
			return EPTMMU_EXIT_INTR;
		cond_resched();
	}
	*exit_errno = EAGAIN;
	return EPTMMU_EXIT_FAULT;
}

static int vmx_access(struct eptmmu_vcpu *vcpu, struct eptmmu_access *a,
		      u32 *exit_errno)
{
	struct vmx_vcpu *vv = to_vmx(vcpu);
	struct eptmmu_access rd;
	int r;

	if (a->kind != EPTMMU_ACCESS_FETCH)
		return vmx_do(vv, a, false, exit_errno);
	r = vmx_do(vv, a, true, exit_errno);
	if (r != EPTMMU_EXIT_DONE)
		return r;
	/* The CPU fetched the bytes; the guest code reads them for us. */
	rd = *a;
	rd.kind = EPTMMU_ACCESS_READ;
	r = vmx_do(vv, &rd, false, exit_errno);
	a->value = rd.value;
	return r;
}

/* struct eptmmu_regs's general registers, but RSP (the VMCS has it). */
static const struct {
	u8 reg;
	u8 off;
} vmx_gprs[] = {
#define GPR(r, R)	{ VMX_REG_##R, offsetof(struct eptmmu_regs, r) / 8 }
	GPR(rax, RAX), GPR(rbx, RBX), GPR(rcx, RCX), GPR(rdx, RDX),
	GPR(rsi, RSI), GPR(rdi, RDI), GPR(rbp, RBP), GPR(r8, R8),
	GPR(r9, R9), GPR(r10, R10), GPR(r11, R11), GPR(r12, R12),
	GPR(r13, R13), GPR(r14, R14), GPR(r15, R15),
#undef GPR
};

static_assert(ARRAY_SIZE(vmx_gprs) == VMX_NR_REGS);

/* How a 64-bit guest's EPT violation or misconfiguration ends. */
static int vmx_guest_fault(struct vmx_vcpu *vv, struct eptmmu_run_guest *rg)
{
	const struct vmx_exit *e = &vv->exit;
	u64 qual = e->qual & QUAL_MASK;
	int fr;

	if (eptmmu_broken(vmx_qual_no_gla))
		qual &= ~(u64)(EPT_VIOLATION_GVA_IS_VALID |
			       EPT_VIOLATION_GVA_TRANSLATED);

	/* An MMIO SPTE: the fault path needs only to find it again. */
	if ((e->reason & 0xffff) == EXIT_REASON_EPT_MISCONFIG)
		qual = EPT_VIOLATION_ACC_READ;
	fr = eptmmu_page_fault(&vv->vcpu, e->gpa, qual);
	/* Not handled: the guest faults again once the ring has room. */
	if (fr == EPTMMU_FAULT_RING_FULL) {
		rg->exit_gpa = e->gpa;
		return EPTMMU_EXIT_RING_FULL;
	}
	if (fr == EPTMMU_FAULT_MMIO) {
		WRITE_ONCE(vv->vcpu.stats.mmio_exits,
			   vv->vcpu.stats.mmio_exits + 1);
		rg->exit_gpa = e->gpa;
		return EPTMMU_EXIT_MMIO;
	}
	if (fr < 0) {
		rg->exit_gpa = e->gpa;
		rg->exit_errno = -fr;
		return EPTMMU_EXIT_FAULT;
	}
	return EPTMMU_EXIT_DONE;	/* fixed, or to be retried: go on */
}

/*
 * After a VM exit of a 64-bit guest: EPTMMU_EXIT_DONE to enter it again,
 * or why the run ends.
 */
static int vmx_guest_exit(struct vmx_vcpu *vv, struct eptmmu_run_guest *rg)
{
	const struct vmx_exit *e = &vv->exit;

	vv->rip = e->rip;
	vv->rsp = e->rsp;
	vv->rflags = e->rflags;
	trace_eptmmu_vmx_exit(vv->vcpu.id, e->reason, e->qual, e->gpa, e->rip);
	switch (e->reason & 0xffff) {
	case EXIT_REASON_VMCALL:
		vv->rip += e->insn_len;
		return EPTMMU_EXIT_UCALL;
	case EXIT_REASON_EXTERNAL_INTERRUPT:
	case EXIT_REASON_MCE_DURING_VMENTRY:
		return EPTMMU_EXIT_DONE;	/* the host's, handled at the exit */
	case EXIT_REASON_PML_FULL:
		/* Drained at the exit (R-PML-DRAIN): the guest goes on. */
		eptmmu_vcpu_stat_inc(&vv->vcpu.kstats.pml_full_exits);
		return EPTMMU_EXIT_DONE;
	case EXIT_REASON_EXCEPTION_NMI:
		if (exit_is_nmi(e) ||
		    (exit_is_mc(e) && !eptmmu_broken(vmx_mc_guest_error)))
			return EPTMMU_EXIT_DONE;
		break;
	case EXIT_REASON_EPT_VIOLATION:
	case EXIT_REASON_EPT_MISCONFIG:
		return vmx_guest_fault(vv, rg);
	}
	return guest_error(vv, e->reason, &rg->exit_errno);
}

/*
 * EPTMMU_RUN_GUEST: the guest runs from @rg->regs until it makes a
 * ucall, faults for good, or a signal comes.  Between VM exits its state
 * is in the VMCS (segments, CRs) and in vv (registers, RIP, RSP, RFLAGS),
 * so the VMCS may move to another CPU (R-VMX-VMCS) at any exit.  Only
 * the vCPU's thread runs this, under run_lock; what it shares with
 * flushes, zaps and dirty logging is the EPT, as for EPTMMU_RUN.
 */
static int vmx_run_guest(struct eptmmu_vcpu *vcpu, struct eptmmu_run_guest *rg)
{
	struct vmx_vcpu *vv = to_vmx(vcpu);
	struct eptmmu_regs *g = &rg->regs;
	u64 *ur = (u64 *)g;
	const struct vmx_exit *e = &vv->exit;
	int i, r, exit;

	if (!eptmmu_vmx.long_mode)
		return -EOPNOTSUPP;
	for (i = 0; i < ARRAY_SIZE(vmx_gprs); i++)
		vv->regs[vmx_gprs[i].reg] = ur[vmx_gprs[i].off];
	vv->rip = g->rip;
	vv->rsp = g->rsp;
	vv->rflags = g->rflags | GUEST_RFLAGS_FIXED;
	vv->cr3 = g->cr3;
	for (;;) {
		/* R-RING-SOFT-FULL: no entry with a soft-full ring. */
		if (eptmmu_dirty_ring_soft_full(vcpu)) {
			rg->exit_gpa = 0;
			exit = EPTMMU_EXIT_RING_FULL;
			break;
		}
		r = vmx_enter_once(vv, VMX_MODE_LONG);
		if (r == -EIO) {
			exit = guest_error(vv, e->reason |
					   VMX_EXIT_REASONS_FAILED_VMENTRY,
					   &rg->exit_errno);
			break;
		}
		/* -EAGAIN: this CPU was out of VMX operation; try again. */
		exit = r ? EPTMMU_EXIT_DONE : vmx_guest_exit(vv, rg);
		if (exit != EPTMMU_EXIT_DONE)
			break;
		if (signal_pending(current)) {
			exit = EPTMMU_EXIT_INTR;
			break;
		}
		cond_resched();
	}
	if (exit == EPTMMU_EXIT_GUEST) {
		rg->exit_qual = e->qual;
		rg->exit_intr = e->intr_info;
	}
	if (exit == EPTMMU_EXIT_RING_FULL)
		atomic64_inc(&vcpu->vm->stats.ring_full_exits);
	for (i = 0; i < ARRAY_SIZE(vmx_gprs); i++)
		ur[vmx_gprs[i].off] = vv->regs[vmx_gprs[i].reg];
	g->rip = vv->rip;
	g->rsp = vv->rsp;
	g->rflags = vv->rflags;
	return exit;
}

static void vmx_run_end(struct eptmmu_vcpu *vcpu)
{
	vmx_clear(to_vmx(vcpu));
}

static void vmx_read_stats(struct eptmmu_vcpu *vcpu,
			   struct eptmmu_vcpu_stats *stats)
{
	*stats = vcpu->stats;
	stats->tlb_flushes = atomic64_read(&to_vmx(vcpu)->flushes);
}

static void vmx_invept_ipi(void *info)
{
	struct vmx_vcpu *vv = info;

	/* A CPU that left VMX operation flushes when it comes back. */
	if (this_cpu_read(eptmmu_vmx_cpu.on))
		eptmmu_vmx_invept(vv->eptp);
}

/* R-VMX-FLUSH */
static void vmx_flush_tlb(struct eptmmu_vcpu *vcpu)
{
	struct vmx_vcpu *vv = to_vmx(vcpu);

	/*
	 * The SPTE changes being flushed are ordered before this read of
	 * ran_on; a CPU missing from it has not entered the guest since, and
	 * will walk the new tables when it does.  A vCPU in the guest on a
	 * CPU in the mask is kicked out by the IPI before the INVEPT runs.
	 */
	smp_mb();
	if (eptmmu_broken(vmx_flush_no_kick)) {
		preempt_disable();
		if (cpumask_test_cpu(smp_processor_id(), vv->ran_on))
			vmx_invept_ipi(vv);
		preempt_enable();
	} else {
		on_each_cpu_mask(vv->ran_on, vmx_invept_ipi, vv, true);
	}
	atomic64_inc(&vv->flushes);
}

static void vmx_pml_kick_ipi(void *info)
{
}

/*
 * R-PML-DRAIN: once this CPU's IPI handler has run on every CPU in
 * ran_on, the vCPU is in the guest on none of them with entries it has
 * not drained: it drains at the exit the IPI caused, or at its last exit,
 * before that CPU's interrupts came on.  ran_on is read as the flush
 * reads it (R-VMX-FLUSH): a CPU missing from it has not entered the guest
 * for this vCPU since before the call.
 */
static void vmx_sync_dirty_log(struct eptmmu_vcpu *vcpu)
{
	struct vmx_vcpu *vv = to_vmx(vcpu);

	/* Pairs with the smp_mb__after_atomic() in vmx_load(). */
	smp_mb();
	on_each_cpu_mask(vv->ran_on, vmx_pml_kick_ipi, NULL, true);
}

static void vmx_destroy(struct eptmmu_vcpu *vcpu)
{
	struct vmx_vcpu *vv = to_vmx(vcpu);

	vmx_clear(vv);
	/* The root may be reused as another VM's: no stale tag may stay. */
	on_each_cpu_mask(vv->ran_on, vmx_invept_ipi, vv, true);
	free_cpumask_var(vv->ran_on);
	/* Drained at the last exit; no CPU holds the VMCS that names it. */
	free_page((unsigned long)vv->pml);
	free_page((unsigned long)vv->vmcs);
	eptmmu_pt_cache_free(vcpu->vm, &vcpu->cache);
	kfree(vv);
}

static const struct eptmmu_vcpu_ops vmx_ops = {
	.name = "vmx",
	.max_gpa = EPTMMU_VMX_MAX_GPA,
	.access = vmx_access,
	.run_guest = vmx_run_guest,
	.run_end = vmx_run_end,
	.read_stats = vmx_read_stats,
	.flush_tlb = vmx_flush_tlb,
	.sync_dirty_log = vmx_sync_dirty_log,
	.destroy = vmx_destroy,
};

/**
 * eptmmu_vmx_vcpu_create() - a new vmx vCPU, published in @vm
 * @vm: the VM; the vCPU lives until the VM is destroyed
 *
 * Only when the module runs the vmx backend (every CPU is in VMX
 * operation).
 *
 * Return: the vCPU, or ERR_PTR(-ENOMEM / -ENOSPC).
 */
struct eptmmu_vcpu *eptmmu_vmx_vcpu_create(struct eptmmu_vm *vm)
{
	struct vmx_vcpu *vv = kzalloc(sizeof(*vv), GFP_KERNEL_ACCOUNT);
	int r = -ENOMEM;

	if (!vv)
		return ERR_PTR(-ENOMEM);
	vv->vmcs = (void *)get_zeroed_page(GFP_KERNEL_ACCOUNT);
	if (!vv->vmcs)
		goto free_vv;
	if (vm->pml) {
		vv->pml = (u64 *)get_zeroed_page(GFP_KERNEL_ACCOUNT);
		if (!vv->pml)
			goto free_vmcs;
	}
	if (!zalloc_cpumask_var(&vv->ran_on, GFP_KERNEL_ACCOUNT))
		goto free_vmcs;
	*(u32 *)vv->vmcs = eptmmu_vmx.revision;
	vv->cpu = -1;
	INIT_LIST_HEAD(&vv->loaded_link);
	atomic64_set(&vv->flushes, 0);
	vv->eptp = virt_to_phys(vm->root->spt) | VMX_EPTP_MT_WB |
		   VMX_EPTP_PWL_4 | (vm->ad ? VMX_EPTP_AD_ENABLE_BIT : 0);
	vv->vcpu.vm = vm;
	vv->vcpu.ops = &vmx_ops;
	mutex_init(&vv->vcpu.run_lock);
	r = eptmmu_vm_add_vcpu(vm, &vv->vcpu);
	if (r < 0)
		goto free_mask;
	return &vv->vcpu;

free_mask:
	free_cpumask_var(vv->ran_on);
free_vmcs:
	free_page((unsigned long)vv->pml);
	free_page((unsigned long)vv->vmcs);
free_vv:
	kfree(vv);
	return ERR_PTR(r);
}
