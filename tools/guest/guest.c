// SPDX-License-Identifier: GPL-2.0
/*
 * Guest programs for EPTMMU_RUN_GUEST: freestanding 64-bit C, linked at
 * G_IMG_GPA into a flat image that the tools embed (../Makefile) and load
 * into guest memory (../g64.c).  No libc, no FPU/SSE (the vmx vCPU's guest
 * runs with CR0.EM/TS set: the build uses general registers only), no
 * interrupts: what a program has to say goes to the host by ucall.
 */
#include <stddef.h>
#include <stdint.h>

#include "guest.h"

typedef unsigned long long u64;

/*
 * Guest memory is shared with the host and the other vCPUs: every access
 * of the programs below is one real load or store, in program order.
 */
#define READ_ONCE(x)		(*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v)	(*(volatile __typeof__(x) *)&(x) = (v))

/* The compiler may call these for struct copies and initialisers. */
void *memset(void *s, int c, size_t n)
{
	unsigned char *p = s;

	while (n--)
		*p++ = c;
	return s;
}

void *memcpy(void *d, const void *s, size_t n)
{
	unsigned char *p = d;
	const unsigned char *q = s;

	while (n--)
		*p++ = *q++;
	return d;
}

/* VMCALL to the host (guest.h); returns the host's RAX. */
static u64 ucall(u64 cmd, u64 a0, u64 a1, u64 a2, u64 a3, u64 a4)
{
	register u64 r8 asm("r8") = a3;
	register u64 r9 asm("r9") = a4;
	u64 ret;

	asm volatile("vmcall"
		     : "=a" (ret), "+D" (cmd), "+S" (a0), "+d" (a1), "+c" (a2),
		       "+r" (r8), "+r" (r9)
		     : : "memory", "r10", "r11");
	return ret;
}

#define GUEST_SYNC(stage, v)	ucall(G_UCALL_SYNC, (stage), (v), 0, 0, 0)

/* A failed assertion stops the program: the host reports file:line. */
#define GUEST_ASSERT_EQ(a, b) do {					\
	u64 __a = (a), __b = (b);					\
	if (__a != __b) {						\
		ucall(G_UCALL_ASSERT, (u64)__FILE__, __LINE__,		\
		      (u64)(#a " == " #b), __a, __b);			\
		for (;;)						\
			asm volatile("hlt");				\
	}								\
} while (0)
#define GUEST_ASSERT(c)	GUEST_ASSERT_EQ(!!(c), 1)

/*
 * Write g_pat(tag, i) into each of @n words at @p, tell the host (stage
 * 1), which checks them in its memory and writes g_pat(tag + 1, i) there;
 * read those back, then the same over again with the host's writes at
 * stage 2 (the host may change the mapping in between).
 */
static u64 prog_pattern(u64 *p, u64 n, u64 tag)
{
	u64 i, stage;

	for (i = 0; i < n; i++)
		WRITE_ONCE(p[i], g_pat(tag, i));
	for (stage = 1; stage <= 2; stage++) {
		GUEST_SYNC(stage, n);
		for (i = 0; i < n; i++)
			GUEST_ASSERT_EQ(READ_ONCE(p[i]), g_pat(tag + stage, i));
	}
	return n;
}

static u64 prog_read(u64 *p, u64 n)
{
	u64 i, sum = 0;

	for (i = 0; i < n; i++)
		sum += READ_ONCE(p[i]);
	return sum;
}

/* Every vCPU arrives, then waits for all @nr (bounded: the host sees why). */
static void barrier(u64 *count, u64 nr, u64 round)
{
	u64 spins = 0;

	__atomic_fetch_add(count, 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(count, __ATOMIC_SEQ_CST) < nr * round) {
		asm volatile("pause");
		GUEST_ASSERT(++spins < (1ULL << 32));
	}
}

/*
 * vCPU @id of @nr writes its words (i % nr == id) of the @n at @p, then,
 * once every vCPU has written, checks everybody's.  Only a guest whose
 * vCPUs run at the same time gets past the barriers.
 */
static u64 prog_smp(u64 id, u64 *p, u64 n, u64 nr, u64 *count)
{
	u64 i;

	barrier(count, nr, 1);
	for (i = id; i < n; i += nr)
		WRITE_ONCE(p[i], g_pat(G_SMP_TAG(id), i));
	barrier(count, nr, 2);
	for (i = 0; i < n; i++)
		GUEST_ASSERT_EQ(READ_ONCE(p[i]), g_pat(G_SMP_TAG(i % nr), i));
	return n;
}

/*
 * The demo (eptmmu_demo -g): the first word of each of @n pages at @p
 * (pages @first.. of the demo's slot) is written with, or must hold,
 * G_TOUCH_VALUE(page, @how & 0xff); G_TOUCH_WRITE in @how writes.
 */
static u64 prog_touch(u64 *p, u64 n, u64 first, u64 how)
{
	u64 i, v;

	for (i = 0; i < n; i++, p += 4096 / 8) {
		v = G_TOUCH_VALUE(first + i, how & 0xff);
		if (how & G_TOUCH_WRITE)
			WRITE_ONCE(*p, v);
		else
			GUEST_ASSERT_EQ(READ_ONCE(*p), v);
	}
	return n;
}

/*
 * Write a counter into the dword at @p until the dword at @flag is not
 * 0, with no VM exit of its own: R-VMX-FLUSH's remote_flush test.
 */
static u64 prog_spin(unsigned int *p, unsigned int *flag)
{
	unsigned int v = 0;

	while (!READ_ONCE(*flag))
		WRITE_ONCE(*p, ++v);
	return v;
}

u64 guest_main(u64 id, u64 prog, u64 a0, u64 a1, u64 a2, u64 a3)
{
	switch (prog) {
	case G_PROG_HELLO:
		WRITE_ONCE(*(u64 *)a0, a1);
		return a1;
	case G_PROG_PATTERN:
		return prog_pattern((u64 *)a0, a1, a2);
	case G_PROG_READ:
		return prog_read((u64 *)a0, a1);
	case G_PROG_ASSERT:
		GUEST_ASSERT_EQ(a0, a1);
		return 0;
	case G_PROG_SMP:
		return prog_smp(id, (u64 *)a0, a1, a2, (u64 *)a3);
	case G_PROG_TOUCH:
		return prog_touch((u64 *)a0, a1, a2, a3);
	case G_PROG_SPIN:
		return prog_spin((unsigned int *)a0, (unsigned int *)a1);
	}
	GUEST_ASSERT(prog < G_PROG_NR);
	return 0;
}
