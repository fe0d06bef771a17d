/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The MMU auditor (mmu/audit.c): a whole-tree consistency check, callable
 * from tests and, in every build, through debugfs.
 */
#ifndef _EPTMMU_AUDIT_H
#define _EPTMMU_AUDIT_H

#include <linux/bug.h>

struct eptmmu_vm;

/*
 * eptmmu_prove(): an invariant cheap enough to check on a hot path, in
 * test builds only (EPTMMU_TEST=1, like KVM's CONFIG_KVM_PROVE_MMU): a
 * WARN_ON_ONCE there, nothing but a type check in a production build.
 * The whole-tree checks are eptmmu_audit()'s.
 */
#ifdef EPTMMU_TEST
#define eptmmu_prove(cond)	WARN_ON_ONCE(cond)
#else
#define eptmmu_prove(cond)	({ BUILD_BUG_ON_INVALID(cond); false; })
#endif

long eptmmu_audit(struct eptmmu_vm *vm);
long eptmmu_audit_published(struct eptmmu_vm *vm);
void eptmmu_audit_add_vm(struct eptmmu_vm *vm, int fd);
void eptmmu_audit_remove_vm(struct eptmmu_vm *vm);
void eptmmu_audit_init(void);
void eptmmu_audit_exit(void);

#endif /* _EPTMMU_AUDIT_H */
