/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The fast page fault and the fault entry point shared by every vCPU
 * backend.  Documentation/locking.rst has the rules it follows.
 */
#ifndef _EPTMMU_FASTPF_H
#define _EPTMMU_FASTPF_H

#include <eptmmu/mmu.h>

#define EPTMMU_FAST_FALLBACK	0
#define EPTMMU_FAST_FIXED	1	/* set W */
#define EPTMMU_FAST_FIXED_ACC	2	/* restored an access-tracked leaf */
#define EPTMMU_FAST_SPURIOUS	3	/* the leaf already allowed the access */

int eptmmu_fast_page_fault(struct eptmmu_vcpu *vcpu, u64 gpa, u64 exit_qual);
int eptmmu_page_fault(struct eptmmu_vcpu *vcpu, u64 gpa, u64 exit_qual);

#endif /* _EPTMMU_FASTPF_H */
