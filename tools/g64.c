// SPDX-License-Identifier: GPL-2.0
/*
 * The host side of the 64-bit guest programs: g64.h has the interface,
 * guest/guest.h the contract with the guest.
 *
 * The page tables are built by this process in the memory of their slot
 * before the guest runs; the guest never changes them, the CPU only sets
 * their A and D bits (unless pte_extra set them already).  Each table is
 * one page of the slot, handed out in order: table i is at
 * g64_pt_gpa(i).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "g64.h"

extern const unsigned char eptmmu_guest64_start[], eptmmu_guest64_end[];

int g64_init(struct g64 *g, int vm, u32 pt_flags)
{
	size_t len = eptmmu_guest64_end - eptmmu_guest64_start;
	int r;

	memset(g, 0, sizeof(*g));
	g->vm = vm;
	if (len > G_CODE_MAX)
		die("guest image of %zu bytes is over %llu", len, G_CODE_MAX);
	g->img = xmap(G_IMG_SIZE, PAGE_SIZE);
	g->pt = xmap(G64_PT_PAGES * PAGE_SIZE, PAGE_SIZE);
	memcpy(g->img, eptmmu_guest64_start, len);
	g->pt_used = 1;
	r = set_memslot(vm, G64_IMG_SLOT, 0, G_IMG_GPA, G_IMG_SIZE, g->img);
	if (!r)
		r = set_memslot(vm, G64_PT_SLOT, pt_flags, G64_PT_GPA,
				G64_PT_PAGES * PAGE_SIZE, g->pt);
	if (!r && !g64_map(g, G_IMG_GPA, G_IMG_GPA, G_IMG_SIZE))
		r = -ENOSPC;
	if (r)
		g64_fini(g);
	return r;
}

void g64_fini(struct g64 *g)
{
	if (g->img)
		munmap(g->img, G_IMG_SIZE);
	if (g->pt)
		munmap(g->pt, G64_PT_PAGES * PAGE_SIZE);
	g->img = NULL;
	g->pt = NULL;
}

/* The entry for @gva in table @t at @level (4: PML4 .. 1: PT). */
static u64 *entry_of(struct g64 *g, unsigned int t, int level, u64 gva)
{
	return &g->pt[t * (PAGE_SIZE / 8) + ((gva >> (12 + 9 * (level - 1))) & 511)];
}

bool g64_map(struct g64 *g, u64 gva, u64 gpa, u64 size)
{
	u64 off;

	for (off = 0; off < size; off += PAGE_SIZE) {
		unsigned int t = 0;
		int level;
		u64 *e;

		for (level = 4; level > 1; level--) {
			e = entry_of(g, t, level, gva + off);
			if (!(*e & PTE_P)) {
				if (g->pt_used == G64_PT_PAGES)
					return false;
				*e = g64_pt_gpa(g->pt_used++) | PTE_P | PTE_W |
				     (g->pte_extra & PTE_A);
			}
			t = ((*e & ~0xfffULL) - G64_PT_GPA) / PAGE_SIZE;
		}
		e = entry_of(g, t, 1, gva + off);
		*e = (gpa + off) | PTE_P | PTE_W | g->pte_extra;
	}
	return true;
}

void g64_start(struct g64 *g, struct eptmmu_run_guest *rg, unsigned int idx,
	       enum g_prog prog, u64 a0, u64 a1, u64 a2, u64 a3)
{
	memset(rg, 0, sizeof(*rg));
	rg->regs.rip = G_IMG_GPA;
	rg->regs.rsp = G_IMG_GPA + G_IMG_SIZE - idx * G_STACK_SIZE;
	rg->regs.rflags = 2;
	rg->regs.cr3 = g64_pt_gpa(0);
	rg->regs.rdi = idx;
	rg->regs.rsi = prog;
	rg->regs.rdx = a0;
	rg->regs.rcx = a1;
	rg->regs.r8 = a2;
	rg->regs.r9 = a3;
	(void)g;
}

/* A NUL-terminated string of the image at @gva, or "?". */
static const char *img_str(struct g64 *g, u64 gva)
{
	u64 off = gva - G_IMG_GPA;

	if (gva < G_IMG_GPA || off >= G_CODE_MAX ||
	    !memchr(g->img + off, 0, G_CODE_MAX - off))
		return "?";
	return (const char *)g->img + off;
}

bool g64_run(struct g64 *g, int vcpu, struct eptmmu_run_guest *rg,
	     struct g64_exit *e, const char *what)
{
	const struct eptmmu_regs *x = &rg->regs;

	memset(e, 0, sizeof(*e));
	do {
		e->r = ioctl(vcpu, EPTMMU_RUN_GUEST, rg) ? -errno : 0;
	} while (!e->r && rg->exit_reason == EPTMMU_EXIT_INTR);
	e->rg = *rg;
	if (e->r) {
		tap_diag("%s: EPTMMU_RUN_GUEST: %s", what, strerror(-e->r));
		return false;
	}
	if (rg->exit_reason != EPTMMU_EXIT_UCALL) {
		tap_diag("%s: the guest stopped: exit %s, gpa %#llx, errno/exit %u, qual %#llx, intr %#x, rip %#llx",
			 what, exit_name(rg->exit_reason), rg->exit_gpa,
			 rg->exit_errno, rg->exit_qual, rg->exit_intr, x->rip);
		return false;
	}
	e->ucall = x->rdi;
	e->arg[0] = x->rsi;
	e->arg[1] = x->rdx;
	e->arg[2] = x->rcx;
	e->arg[3] = x->r8;
	e->arg[4] = x->r9;
	if (e->ucall == G_UCALL_SYNC || e->ucall == G_UCALL_DONE)
		return true;
	if (e->ucall == G_UCALL_ASSERT)
		snprintf(e->why, sizeof(e->why),
			 "%s:%llu: assertion %s failed (%#llx vs %#llx)",
			 img_str(g, e->arg[0]), e->arg[1],
			 img_str(g, e->arg[2]), e->arg[3], e->arg[4]);
	else
		snprintf(e->why, sizeof(e->why), "unknown ucall %llu",
			 e->ucall);
	tap_diag("%s: guest: %s", what, e->why);
	return false;
}

bool g64_call(struct g64 *g, int vcpu, unsigned int idx, enum g_prog prog,
	      u64 a0, u64 a1, u64 a2, u64 a3, struct g64_exit *e,
	      const char *what)
{
	struct eptmmu_run_guest rg;

	g64_start(g, &rg, idx, prog, a0, a1, a2, a3);
	if (!g64_run(g, vcpu, &rg, e, what))
		return false;
	if (e->ucall == G_UCALL_DONE)
		return true;
	tap_diag("%s: guest: SYNC %llu where DONE was due", what, e->arg[0]);
	return false;
}
