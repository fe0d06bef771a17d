/* SPDX-License-Identifier: GPL-2.0 */
/*
 * VM entry and VM exit of the vmx vCPU.  Only the register switch is in
 * assembly; vcpu/vmx_vcpu.c does everything else with interrupts off.
 */
#include <linux/linkage.h>
#include <asm/asm.h>
#include <asm/nospec-branch.h>
#include <asm/segment.h>
#include <asm/unwind_hints.h>

#include <eptmmu/vmx_regs.h>

#define REG(r)	(VMX_REG_##r * 8)

/*
 * int eptmmu_vmx_enter(u64 *regs, bool launched)
 *
 * Loads the guest's general registers from @regs, enters the guest with
 * VMRESUME if @launched else VMLAUNCH, and on the VM exit (HOST_RIP is
 * eptmmu_vmx_vmexit below, HOST_RSP the stack as it is at the entry) stores
 * them back.  The host's callee-saved registers and the @regs pointer live
 * on the stack across the guest's run: VM exit restores only RSP and RIP.
 *
 * Return: 0 after a VM exit, 1 if the instruction failed (VMfail: the
 * caller reads VM_INSTRUCTION_ERROR), 2 if it faulted (no VMX operation).
 */
SYM_FUNC_START(eptmmu_vmx_enter)
	push	%rbp
	mov	%rsp, %rbp
	push	%r15
	push	%r14
	push	%r13
	push	%r12
	push	%rbx
	push	%rdi

	mov	$VMX_HOST_RSP_FIELD, %eax
	vmwrite	%rsp, %rax
	jbe	.Lfailed

	/* The flags of this test survive the register loads below. */
	test	%sil, %sil

	mov	REG(RAX)(%rdi), %rax
	mov	REG(RBX)(%rdi), %rbx
	mov	REG(RCX)(%rdi), %rcx
	mov	REG(RDX)(%rdi), %rdx
	mov	REG(RSI)(%rdi), %rsi
	mov	REG(RBP)(%rdi), %rbp
	mov	REG(R8)(%rdi), %r8
	mov	REG(R9)(%rdi), %r9
	mov	REG(R10)(%rdi), %r10
	mov	REG(R11)(%rdi), %r11
	mov	REG(R12)(%rdi), %r12
	mov	REG(R13)(%rdi), %r13
	mov	REG(R14)(%rdi), %r14
	mov	REG(R15)(%rdi), %r15
	mov	REG(RDI)(%rdi), %rdi

	jnz	.Lresume
	UNWIND_HINT_SAVE
.Llaunch:
	vmlaunch
	jmp	.Lfailed
.Lresume:
	vmresume
	jmp	.Lfailed
	_ASM_EXTABLE(.Llaunch, .Lfaulted)
	_ASM_EXTABLE(.Lresume, .Lfaulted)

SYM_INNER_LABEL(eptmmu_vmx_vmexit, SYM_L_GLOBAL)
	UNWIND_HINT_RESTORE
	ENDBR
	/* The stack top is the regs pointer: swap it for the guest's RDI. */
	xchg	%rdi, (%rsp)
	mov	%rax, REG(RAX)(%rdi)
	mov	%rbx, REG(RBX)(%rdi)
	mov	%rcx, REG(RCX)(%rdi)
	mov	%rdx, REG(RDX)(%rdi)
	mov	%rsi, REG(RSI)(%rdi)
	mov	%rbp, REG(RBP)(%rdi)
	mov	%r8, REG(R8)(%rdi)
	mov	%r9, REG(R9)(%rdi)
	mov	%r10, REG(R10)(%rdi)
	mov	%r11, REG(R11)(%rdi)
	mov	%r12, REG(R12)(%rdi)
	mov	%r13, REG(R13)(%rdi)
	mov	%r14, REG(R14)(%rdi)
	mov	%r15, REG(R15)(%rdi)
	pop	REG(RDI)(%rdi)
	xor	%eax, %eax
	jmp	.Lout

.Lfaulted:
	mov	$2, %eax
	add	$8, %rsp
	jmp	.Lout
.Lfailed:
	mov	$1, %eax
	add	$8, %rsp
.Lout:
	/* No guest value may linger in a register the caller can see. */
	xor	%ecx, %ecx
	xor	%edx, %edx
	xor	%esi, %esi
	xor	%edi, %edi
	xor	%r8d, %r8d
	xor	%r9d, %r9d
	xor	%r10d, %r10d
	xor	%r11d, %r11d
	pop	%rbx
	pop	%r12
	pop	%r13
	pop	%r14
	pop	%r15
	pop	%rbp
	RET
SYM_FUNC_END(eptmmu_vmx_enter)

/*
 * void eptmmu_vmx_call_nmi(void (*entry)(void))
 *
 * Run the host's NMI handler for the NMI that made the guest exit, as if
 * the CPU had delivered it at this point (R-VMX-EVENT): @entry is the
 * kernel's IDT-style NMI entry for VMX modules, which expects the frame
 * an interrupt pushes (SS, RSP, RFLAGS, CS, RIP, with RSP first aligned
 * to 16 bytes as the CPU does) and returns with IRET.  That IRET is what
 * lifts the NMI blocking the VM exit left in effect, so no other way of
 * calling the handler (and no INT 2) will do.  Interrupts are off.
 */
SYM_FUNC_START(eptmmu_vmx_call_nmi)
	push	%rbp
	mov	%rsp, %rbp
	and	$-16, %rsp
	push	$__KERNEL_DS
	push	%rbp
	pushf
	push	$__KERNEL_CS
	/* The return address completes the frame; IRET pops all of it. */
	CALL_NOSPEC rdi
	/* RSP is back at %rbp already; say so for objtool. */
	leave
	RET
SYM_FUNC_END(eptmmu_vmx_call_nmi)
