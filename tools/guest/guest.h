/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the 64-bit guest programs (guest.c, run by EPTMMU_RUN_GUEST on the
 * vmx vCPU) and the host side that runs them (../g64.c) agree on: where
 * the guest image lives, how the host starts a program, and the ucall
 * convention by which the guest reports to the host.  Included by
 * freestanding guest code and by the tools: plain C, no libc.
 *
 * Starting a program: RIP = G_IMG_GPA (entry.S), RSP = its vCPU's stack
 * top, RDI = the vCPU's index, RSI = the program (G_PROG_*), RDX, RCX,
 * R8, R9 = its arguments: the SysV registers of guest_main()'s arguments.
 *
 * A ucall is VMCALL with RDI = G_UCALL_*, arguments in RSI, RDX, RCX, R8,
 * R9; EPTMMU_RUN_GUEST returns EPTMMU_EXIT_UCALL with those registers and
 * the guest goes on when the host runs it again, with RAX the host's
 * answer.
 */
#ifndef _EPTMMU_GUEST_H
#define _EPTMMU_GUEST_H

/*
 * The image: code and data linked at G_IMG_GPA and mapped there 1:1
 * (guest-virtual = guest-physical, so the host reads the guest's strings
 * at the same offsets), then the vCPUs' stacks, G_STACK_SIZE each, the
 * first one ending at the top of the image slot.
 */
#define G_IMG_GPA	0x200000ULL
#define G_IMG_SIZE	0x100000ULL
#define G_CODE_MAX	0x80000ULL
#define G_STACK_SIZE	0x10000ULL
#define G_MAX_VCPUS	((G_IMG_SIZE - G_CODE_MAX) / G_STACK_SIZE)

enum g_prog {
	G_PROG_HELLO,	/* *(u64 *)a0 = a1; done(a1) */
	G_PROG_PATTERN,	/* pattern tag a2 over a1 words at a0; see guest.c */
	G_PROG_READ,	/* read a1 words at a0; done(their sum) */
	G_PROG_ASSERT,	/* assert a0 == a1, then done(0) */
	G_PROG_SMP,	/* vCPUs a2, words a1 at a0, barrier at a3 */
	G_PROG_TOUCH,	/* the demo's pages: see guest.c */
	G_PROG_SPIN,	/* the remote-flush loop: see guest.c */
	G_PROG_NR
};

enum g_ucall {
	G_UCALL_SYNC = 1,	/* RSI: stage, RDX: a value */
	G_UCALL_ASSERT,		/* RSI: file, RDX: line, RCX: expression, R8, R9: values */
	G_UCALL_DONE,		/* RSI: the result */
};

/* A distinct, non-zero value for every (tag, index): splitmix64. */
static inline unsigned long long g_pat(unsigned long long tag,
				       unsigned long long idx)
{
	unsigned long long x = tag * 0x9E3779B97F4A7C15ULL + idx + 1;

	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
	return (x ^ (x >> 31)) | 1;
}

/* The demo's word in page @page after phase @phase wrote it. */
#define G_TOUCH_VALUE(page, phase)	((unsigned long long)(page) << 8 | (phase))
#define G_TOUCH_WRITE	0x100

/* The value vCPU @id writes into word @i of the SMP program's area. */
#define G_SMP_TAG(id)	(0x5e00 + (id))

#endif /* _EPTMMU_GUEST_H */
