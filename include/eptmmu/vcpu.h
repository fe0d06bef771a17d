/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vCPU backends.  Each one turns guest accesses into EPT walks (in
 * hardware or in software) and EPT violations into eptmmu_page_fault().
 */
#ifndef _EPTMMU_VCPU_H
#define _EPTMMU_VCPU_H

#include <eptmmu/fastpf.h>

/* Give up on an access whose faults keep being undone (livelock guard). */
#define EPTMMU_ACCESS_MAX_TRIES	100000

struct eptmmu_vcpu *eptmmu_soft_vcpu_create(struct eptmmu_vm *vm);
struct eptmmu_vcpu *eptmmu_vmx_vcpu_create(struct eptmmu_vm *vm);
/* A vCPU of the backend the VM was created for. */
struct eptmmu_vcpu *eptmmu_vcpu_create(struct eptmmu_vm *vm);

/* vcpu/run.c */
int eptmmu_vcpu_access(struct eptmmu_vcpu *vcpu, struct eptmmu_access *a,
		       u32 *exit_errno);
int eptmmu_vcpu_run(struct eptmmu_vcpu *vcpu, struct eptmmu_run *run,
		    bool *ran);
int eptmmu_vcpu_run_guest(struct eptmmu_vcpu *vcpu,
			  struct eptmmu_run_guest *rg);
int eptmmu_check_access(struct eptmmu_vcpu *vcpu,
			const struct eptmmu_access *a);

#endif /* _EPTMMU_VCPU_H */
