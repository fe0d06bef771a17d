// SPDX-License-Identifier: GPL-2.0
/*
 * EPTMMU_RUN for every backend: check the batch, make its accesses one by
 * one through the backend, report how the run ended.
 */
#include <linux/sched/signal.h>
#include <linux/uaccess.h>
#include <asm/processor-flags.h>

#include <eptmmu/export.h>
#include <eptmmu/vcpu.h>

/**
 * eptmmu_check_access() - is @a an access @vcpu can make?
 * @vcpu: the vCPU (its backend decides how far the gpa may go)
 * @a: the access
 *
 * Return: 0 or -EINVAL.
 */
int eptmmu_check_access(struct eptmmu_vcpu *vcpu, const struct eptmmu_access *a)
{
	int i;

	if (a->kind > EPTMMU_ACCESS_FETCH)
		return -EINVAL;
	if (a->size != 1 && a->size != 2 && a->size != 4 && a->size != 8)
		return -EINVAL;
	if (a->gpa & (a->size - 1) || a->gpa >= vcpu->ops->max_gpa)
		return -EINVAL;
	for (i = 0; i < ARRAY_SIZE(a->pad); i++)
		if (a->pad[i])
			return -EINVAL;
	return 0;
}

/**
 * eptmmu_vcpu_access() - perform one guest access, taking faults as needed
 * @vcpu: the vCPU; the caller holds its run_lock
 * @a: the access (checked by eptmmu_check_access()); reads fill @a->value
 * @exit_errno: for EPTMMU_EXIT_FAULT, the positive errno
 *
 * Return: EPTMMU_EXIT_DONE or the reason the access could not be done.
 */
int eptmmu_vcpu_access(struct eptmmu_vcpu *vcpu, struct eptmmu_access *a,
		       u32 *exit_errno)
{
	lockdep_assert_held(&vcpu->run_lock);
	return vcpu->ops->access(vcpu, a, exit_errno);
}
EXPORT_SYMBOL_IF_KUNIT(eptmmu_vcpu_access);

static int run_batch(struct eptmmu_vcpu *vcpu, struct eptmmu_run *run,
		     bool *ran)
{
	struct eptmmu_access __user *ua = u64_to_user_ptr(run->accesses);
	struct eptmmu_access a;
	u32 i;

	for (i = 0; i < run->count; i++) {
		if (copy_from_user(&a, &ua[i], sizeof(a)))
			return -EFAULT;
		if (eptmmu_check_access(vcpu, &a))
			return -EINVAL;
	}
	run->done = 0;
	run->exit_reason = EPTMMU_EXIT_DONE;
	run->exit_errno = 0;
	*ran = true;
	for (i = 0; i < run->count; i++) {
		int exit;

		/* Re-checked: the batch is user memory and may have changed. */
		if (copy_from_user(&a, &ua[i], sizeof(a)))
			return -EFAULT;
		if (eptmmu_check_access(vcpu, &a))
			return -EINVAL;
		/* R-RING-SOFT-FULL: no access starts in a soft-full ring. */
		if (eptmmu_dirty_ring_soft_full(vcpu))
			exit = EPTMMU_EXIT_RING_FULL;
		else
			exit = eptmmu_vcpu_access(vcpu, &a, &run->exit_errno);
		if (exit == EPTMMU_EXIT_RING_FULL)
			atomic64_inc(&vcpu->vm->stats.ring_full_exits);
		if (exit != EPTMMU_EXIT_DONE) {
			run->exit_reason = exit;
			if (exit != EPTMMU_EXIT_GUEST)
				run->exit_gpa = a.gpa;
			break;
		}
		if (a.kind != EPTMMU_ACCESS_WRITE &&
		    put_user(a.value, &ua[i].value))
			return -EFAULT;
		run->done++;
		if (signal_pending(current)) {
			if (i + 1 < run->count) {
				run->exit_reason = EPTMMU_EXIT_INTR;
				run->exit_gpa = a.gpa;
			}
			break;
		}
		cond_resched();
	}
	return 0;
}

/**
 * eptmmu_vcpu_run() - EPTMMU_RUN
 * @vcpu: the vCPU; the caller holds its run_lock
 * @run: the request, copied from user space; out fields are filled
 * @ran: out: accesses were attempted, so @run must go back to user space
 *
 * The whole batch is checked before any access is made, so a bad batch
 * changes nothing.  For EPTMMU_EXIT_GUEST the backend fills @run->exit_gpa
 * (through the access's value it cannot: the guest's rip is not a gpa of
 * the batch).
 *
 * The batch is user memory: it may become unreadable or invalid, or a
 * read's value unwritable, after accesses have run.  The run then stops
 * with -EFAULT or -EINVAL, and @ran tells the caller to hand back @run
 * anyway: @run->done and @run->stats say how far it got.
 *
 * Return: 0 (see @run->exit_reason), -EINVAL or -EFAULT.
 */
int eptmmu_vcpu_run(struct eptmmu_vcpu *vcpu, struct eptmmu_run *run,
		    bool *ran)
{
	int r;

	lockdep_assert_held(&vcpu->run_lock);
	vcpu->guest_rip = 0;
	*ran = false;
	r = run_batch(vcpu, run, ran);
	if (vcpu->ops->run_end)
		vcpu->ops->run_end(vcpu);
	if (run->exit_reason == EPTMMU_EXIT_GUEST)
		run->exit_gpa = vcpu->guest_rip;
	vcpu->ops->read_stats(vcpu, &run->stats);
	return r;
}

/* What user space may put in a 64-bit guest's RFLAGS: arithmetic, DF, IF. */
#define GUEST_RFLAGS_USER	(X86_EFLAGS_CF | X86_EFLAGS_PF | X86_EFLAGS_AF | \
				 X86_EFLAGS_ZF | X86_EFLAGS_SF | X86_EFLAGS_DF | \
				 X86_EFLAGS_OF | X86_EFLAGS_IF | X86_EFLAGS_FIXED)

/**
 * eptmmu_vcpu_run_guest() - EPTMMU_RUN_GUEST
 * @vcpu: the vCPU; the caller holds its run_lock
 * @rg: the request, copied from user space; @rg->regs and the exit
 *	fields are filled in unless an error is returned
 *
 * Everything is checked before the guest runs, so a refused call changes
 * nothing.
 *
 * Return: 0 (see @rg->exit_reason), -EINVAL or -EOPNOTSUPP.
 */
int eptmmu_vcpu_run_guest(struct eptmmu_vcpu *vcpu,
			  struct eptmmu_run_guest *rg)
{
	const struct eptmmu_regs *g = &rg->regs;
	int exit;

	lockdep_assert_held(&vcpu->run_lock);
	if (rg->flags || g->rflags & ~GUEST_RFLAGS_USER ||
	    g->cr3 & ~PAGE_MASK || g->cr3 >= EPTMMU_MAX_GPA)
		return -EINVAL;
	if (!vcpu->ops->run_guest)
		return -EOPNOTSUPP;
	rg->exit_gpa = 0;
	rg->exit_qual = 0;
	rg->exit_errno = 0;
	rg->exit_intr = 0;
	exit = vcpu->ops->run_guest(vcpu, rg);
	if (vcpu->ops->run_end)
		vcpu->ops->run_end(vcpu);
	if (exit < 0)
		return exit;
	rg->exit_reason = exit;
	return 0;
}

/**
 * eptmmu_vcpu_create() - a new vCPU of the backend @vm was created for
 * @vm: the VM
 *
 * Return: the vCPU, or an ERR_PTR (see the backends' create functions).
 */
struct eptmmu_vcpu *eptmmu_vcpu_create(struct eptmmu_vm *vm)
{
	if (vm->backend == EPTMMU_BACKEND_VMX)
		return eptmmu_vmx_vcpu_create(vm);
	return eptmmu_soft_vcpu_create(vm);
}
