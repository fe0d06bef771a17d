/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The guest's first instruction, at G_IMG_GPA: the host set RSP and the
 * arguments of guest_main() (guest.h).  Whatever it returns is the
 * program's result, reported with a DONE ucall; a host that runs the
 * guest again after that finds it halted (EPTMMU_EXIT_GUEST).
 */
	.section .text.entry, "ax"
	.globl	_start
_start:
	and	$-16, %rsp
	call	guest_main
	mov	%rax, %rsi
	mov	$3, %edi	/* G_UCALL_DONE */
	vmcall
1:	hlt
	jmp	1b
	.section .note.GNU-stack, "", @progbits
