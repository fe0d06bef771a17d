// SPDX-License-Identifier: GPL-2.0
/*
 * eptmmu_detect.ko: proof that the debug kernels' detectors work in our
 * harness.  Loading it with fault=NAME switches on one broken variant of
 * real eptmmu code and drives it; `make check` expects the matching
 * kernel report, naming eptmmu, from the lockdep or KCSAN kernel:
 *
 *   lockorder  the soft walk takes mmu_lock inside tlb_lock, against the
 *              flush path's mmu_lock -> tlb_lock             (lockdep)
 *   uaf        a zap frees an unlinked table before tearing it down (KASAN)
 *   race       the locked SPTE writer uses a plain store while a "CPU"
 *              thread sets D with cmpxchg                      (KCSAN)
 *   atomic     the soft vCPU keeps preemption off across an access and
 *              its tlb_lock, a sleeping lock on PREEMPT_RT
 *                                  (DEBUG_ATOMIC_SLEEP: lockdep and RT)
 *
 * With fault=skip_flush it drives nothing: it stays loaded with
 * eptmmu_flush_remote_tlbs() switched off until it is unloaded, so a
 * user-space test on the vmx vCPU can show that it notices the CPU's TLB
 * going stale (R-VMX-FLUSH).
 *
 * Not a KUnit suite: it passes when the kernel complains.
 * Rules: R-LOCK-ORDER (lockorder), R-RCU-PT (uaf), R-VOLATILE-D (race),
 * R-MAY-SLEEP (atomic).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/delay.h>
#include <linux/kthread.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/module.h>

#include <eptmmu/inject.h>
#include <eptmmu/vcpu.h>

static char *fault = "";
module_param(fault, charp, 0444);
MODULE_PARM_DESC(fault, "lockorder | uaf | race | atomic | skip_flush");

#define GPA	BIT_ULL(30)

/* A VM over 2 MiB of the loading process's memory, with one vCPU. */
static int make_vm(struct eptmmu_vm **vmp, struct eptmmu_vcpu **vcpup,
		   unsigned long *hvap)
{
	struct eptmmu_memslot req = { .guest_phys_addr = GPA, .memory_size = SZ_2M };
	unsigned long hva = vm_mmap(NULL, 0, SZ_2M, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS, 0);
	struct eptmmu_vm *vm;
	int r;

	if (IS_ERR_VALUE(hva))
		return hva;
	vm = eptmmu_vm_create(current->mm);
	if (IS_ERR(vm)) {
		vm_munmap(hva, SZ_2M);
		return PTR_ERR(vm);
	}
	req.userspace_addr = hva;
	r = eptmmu_set_memslot(vm, &req);
	*vcpup = eptmmu_soft_vcpu_create(vm);
	if (r || IS_ERR(*vcpup)) {
		eptmmu_vm_put(vm);
		vm_munmap(hva, SZ_2M);
		return r ? r : PTR_ERR(*vcpup);
	}
	*vmp = vm;
	*hvap = hva;
	return 0;
}

static void touch(struct eptmmu_vcpu *vcpu, u64 off)
{
	struct eptmmu_access a = {
		.gpa = GPA + off, .kind = EPTMMU_ACCESS_WRITE, .size = 8, .value = 1,
	};
	u32 err;

	mutex_lock(&vcpu->run_lock);
	eptmmu_vcpu_access(vcpu, &a, &err);
	mutex_unlock(&vcpu->run_lock);
}

static int run_vm_fault(bool *knob)
{
	struct eptmmu_vcpu *vcpu;
	struct eptmmu_vm *vm;
	unsigned long hva;
	int r = make_vm(&vm, &vcpu, &hva);

	if (r)
		return r;
	/* The correct order first: a zap flushes under mmu_lock. */
	touch(vcpu, 0);
	eptmmu_zap_gfn_range(vm, 0, EPTMMU_MAX_GPA >> PAGE_SHIFT, true);
	touch(vcpu, PAGE_SIZE);
	WRITE_ONCE(*knob, true);
	if (knob == &eptmmu_inject.pt_free_early)
		eptmmu_zap_gfn_range(vm, 0, EPTMMU_MAX_GPA >> PAGE_SHIFT, true);
	else
		touch(vcpu, 2 * PAGE_SIZE);
	WRITE_ONCE(*knob, false);
	eptmmu_vm_put(vm);
	vm_munmap(hva, SZ_2M);
	return 0;
}

struct race {
	u64 spte;
	bool stop;
};

static int set_d_fn(void *data)
{
	struct race *rc = data;

	while (!READ_ONCE(rc->stop)) {
		u64 old = READ_ONCE(rc->spte);

		if ((old & VMX_EPT_WRITABLE_MASK) && !(old & VMX_EPT_DIRTY_BIT))
			try_cmpxchg64(&rc->spte, &old, old | VMX_EPT_DIRTY_BIT);
		cpu_relax();
	}
	return 0;
}

static int run_race(void)
{
	u64 base = spte_make_leaf(0x42, PG_LEVEL_4K, VMX_EPT_RWX_MASK, true,
				  X86_MEMTYPE_WB, true) | VMX_EPT_ACCESS_BIT;
	unsigned long deadline = jiffies + 2 * HZ;
	struct task_struct *t;
	struct race rc = { .spte = base };

	t = kthread_run(set_d_fn, &rc, "eptmmu-detect-cpu");
	if (IS_ERR(t))
		return PTR_ERR(t);
	WRITE_ONCE(eptmmu_inject.spte_plain_access, true);
	while (time_before(jiffies, deadline)) {
		u64 old = READ_ONCE(rc.spte);

		eptmmu_spte_write_locked(&rc.spte, old,
					 old & ~(u64)VMX_EPT_WRITABLE_MASK,
					 PG_LEVEL_4K);
		eptmmu_spte_write_locked(&rc.spte, 0, base, PG_LEVEL_4K);
		cond_resched();
	}
	WRITE_ONCE(eptmmu_inject.spte_plain_access, false);
	WRITE_ONCE(rc.stop, true);
	kthread_stop(t);
	return 0;
}

static int __init detect_init(void)
{
	int r;

	if (!strcmp(fault, "skip_flush")) {
		WRITE_ONCE(eptmmu_inject.skip_flush, true);
		pr_info("fault=skip_flush: TLB flushes are off until rmmod\n");
		return 0;
	}
	if (!strcmp(fault, "lockorder"))
		r = run_vm_fault(&eptmmu_inject.walk_takes_mmu_lock);
	else if (!strcmp(fault, "uaf"))
		r = run_vm_fault(&eptmmu_inject.pt_free_early);
	else if (!strcmp(fault, "race"))
		r = run_race();
	else if (!strcmp(fault, "atomic"))
		r = run_vm_fault(&eptmmu_inject.soft_preempt_off);
	else
		r = -EINVAL;
	pr_info("fault=%s injected: %d\n", fault, r);
	/* Nothing to keep loaded. */
	return r ? r : -ECANCELED;
}
module_init(detect_init);

static void __exit detect_exit(void)
{
	WRITE_ONCE(eptmmu_inject.skip_flush, false);
}
module_exit(detect_exit);

MODULE_DESCRIPTION("Injects known bugs into eptmmu to prove the debug-kernel detectors");
MODULE_LICENSE("GPL");
MODULE_IMPORT_NS(EXPORTED_FOR_KUNIT_TESTING);
