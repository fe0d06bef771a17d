/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The MMU auditor (mmu/audit.c): a whole-tree consistency check, callable
 * from tests and, in every build, through debugfs.
 */
#ifndef _EPTMMU_AUDIT_H
#define _EPTMMU_AUDIT_H

struct eptmmu_vm;

long eptmmu_audit(struct eptmmu_vm *vm);
void eptmmu_audit_add_vm(struct eptmmu_vm *vm, int fd);
void eptmmu_audit_remove_vm(struct eptmmu_vm *vm);
void eptmmu_audit_init(void);
void eptmmu_audit_exit(void);

#endif /* _EPTMMU_AUDIT_H */
