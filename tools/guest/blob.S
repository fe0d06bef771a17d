/* SPDX-License-Identifier: GPL-2.0 */
/* The guest image (guest.bin, built by ../Makefile) as data of the tools. */
	.section .rodata.eptmmu_guest64, "a"
	.balign	4096
	.globl	eptmmu_guest64_start
	.globl	eptmmu_guest64_end
eptmmu_guest64_start:
	.incbin	GUEST_BIN
eptmmu_guest64_end:
	.section .note.GNU-stack, "", @progbits
