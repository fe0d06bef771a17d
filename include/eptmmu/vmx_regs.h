/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The vmx vCPU's guest register file, shared by C and vcpu/vmx_enter.S.
 */
#ifndef _EPTMMU_VMX_REGS_H
#define _EPTMMU_VMX_REGS_H

#define VMX_REG_RAX	0
#define VMX_REG_RBX	1
#define VMX_REG_RCX	2
#define VMX_REG_RDX	3
#define VMX_REG_RSI	4
#define VMX_REG_RDI	5
#define VMX_REG_RBP	6
#define VMX_REG_R8	7
#define VMX_REG_R9	8
#define VMX_REG_R10	9
#define VMX_REG_R11	10
#define VMX_REG_R12	11
#define VMX_REG_R13	12
#define VMX_REG_R14	13
#define VMX_REG_R15	14
#define VMX_NR_REGS	15

/* The VMCS encoding of HOST_RSP (asm/vmx.h has it for C only). */
#define VMX_HOST_RSP_FIELD	0x00006c14

#endif /* _EPTMMU_VMX_REGS_H */
