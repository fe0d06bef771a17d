/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Host side of the 64-bit guest programs (guest/guest.c) on the vmx vCPU:
 * the guest image and its 4-level page tables in guest memory, and a run
 * loop over EPTMMU_RUN_GUEST that decodes the guest's ucalls.
 */
#ifndef _EPTMMU_TOOLS_G64_H
#define _EPTMMU_TOOLS_G64_H

#include "lib.h"
#include "guest/guest.h"

/* Slots of a g64 VM: out of the way of tests' slots 0.. and 29..31. */
#define G64_PT_SLOT	26
#define G64_IMG_SLOT	27
/* The guest page tables: a slot of their own, so its log shows them. */
#define G64_PT_GPA	0x100000ULL
#define G64_PT_PAGES	64

/* x86 page-table entry bits (SDM vol. 3, "4-Level Paging"). */
#define PTE_P		(1ULL << 0)
#define PTE_W		(1ULL << 1)
#define PTE_A		(1ULL << 5)
#define PTE_D		(1ULL << 6)

struct g64 {
	int vm;
	u64 *pt;		/* the page-table slot, in this process */
	unsigned int pt_used;	/* pages of it in use; the first is the PML4 */
	u8 *img;		/* the image slot, in this process */
	/* Added to every entry g64_map() makes (PTE_A | PTE_D: none to set). */
	u64 pte_extra;
};

/*
 * Give VM @vm the image slot and the page-table slot (flags @pt_flags),
 * load the guest image and map it 1:1.  Returns 0 or -errno.
 */
int g64_init(struct g64 *g, int vm, u32 pt_flags);
void g64_fini(struct g64 *g);
/* Map [@gva, +@size) to [@gpa, +@size) with 4 KiB pages; false if full. */
bool g64_map(struct g64 *g, u64 gva, u64 gpa, u64 size);
/* The guest page-table page @i (0: the PML4) is at this gpa. */
static inline u64 g64_pt_gpa(unsigned int i)
{
	return G64_PT_GPA + (u64)i * PAGE_SIZE;
}

/* What one run of a guest program ended with. */
struct g64_exit {
	struct eptmmu_run_guest rg;
	int r;			/* the ioctl's -errno, or 0 */
	u64 ucall;		/* G_UCALL_*, or 0: no ucall */
	u64 arg[5];
	char why[256];		/* an assertion's file:line: text */
};

/* vCPU @idx's registers to start program @prog with @a0..@a3. */
void g64_start(struct g64 *g, struct eptmmu_run_guest *rg, unsigned int idx,
	       enum g_prog prog, u64 a0, u64 a1, u64 a2, u64 a3);
/*
 * Run @rg on @vcpu until a ucall or another exit (a signal's EXIT_INTR
 * is run on): what it was goes to @e.  True for a SYNC or DONE ucall; a
 * failed assertion or any other end is a TAP diagnostic prefixed @what.
 */
bool g64_run(struct g64 *g, int vcpu, struct eptmmu_run_guest *rg,
	     struct g64_exit *e, const char *what);
/* g64_run() until DONE, which must come with no SYNC before it. */
bool g64_call(struct g64 *g, int vcpu, unsigned int idx, enum g_prog prog,
	      u64 a0, u64 a1, u64 a2, u64 a3, struct g64_exit *e,
	      const char *what);

#endif /* _EPTMMU_TOOLS_G64_H */
