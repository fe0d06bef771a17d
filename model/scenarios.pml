/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The scenarios: which agents run, from which state.  Each is small on
 * purpose (one interaction group), so that every search is exhaustive.
 * Pick one with -DSCEN_<NAME>.
 */

/* A leaf as a fault for a write of host page p would leave it. */
#define LEAF_W(p)	(P | R | W | MW | HW | ((p) -> PFN1 : 0))

#if defined(SCEN_INVAL)
/*
 * R-INVAL-SEQ: slow faults against reclaim of the page they resolved;
 * the page may come back as the other one (reuse).
 */
#define NG 1
#define NV 1
#define AD 0
#define NACC 2
#define CHOOSE_ACCESS(v, k)	g = 0; if :: w = 0 :: w = 1 fi
#define INIT_STATE	hmap[0] = 0; freed[1] = 1
#define START_AGENTS	run vcpu(0); run host(0, 1, 1)
#define IOCTL_PROGRAM	skip

#elif defined(SCEN_DELETE)
/* R-MEMSLOT-DELETE, R-MEMSLOT-SRCU: delete against munmap and a vCPU. */
#define NG 1
#define NV 1
#define AD 0
#define NACC 2
#define CHOOSE_ACCESS(v, k)	g = 0; if :: w = 0 :: w = 1 fi
#define INIT_STATE	hmap[0] = 0; freed[1] = 1; spte[0] = LEAF_W(0)
#define START_AGENTS	run vcpu(0); run delete(); run host(0, 1, 1)
#define IOCTL_PROGRAM	skip

#elif defined(SCEN_ZAPS)
/*
 * R-ZAP-FLUSH, R-FROZEN, R-FLUSH-SYNC: a range zap of both gfns (an
 * invalidation that frees nothing) against munmap of gfn 0, whose page
 * the vCPU's TLB still maps; the vCPU may also fault it back.
 */
#define NG 2
#define NV 1
#define AD 0
#define NACC 2
#define CHOOSE_ACCESS(v, k)	if :: g = 0 :: g = 1 fi; if :: w = 0 :: w = 1 fi
#define INIT_STATE	hmap[0] = 0; hmap[1] = 1;			\
			spte[0] = LEAF_W(0); spte[1] = LEAF_W(1);	\
			tlb[0] = TV | TW; tlb[1] = TV | TW | TP
#define START_AGENTS	run vcpu(0); run host(0, 1, 1); run host(1, 3, 0)
#define IOCTL_PROGRAM	skip

#elif defined(SCEN_HOSTDIRTY_AD) || defined(SCEN_HOSTDIRTY_NOAD)
/*
 * R-HOST-DIRTY, R-AGE-ATOMIC, R-AGE-NOFLUSH, R-VOLATILE-D: a clean
 * host page, read and written by the guest, aged, then reclaimed.
 */
#define NG 1
#define NV 1
#ifdef SCEN_HOSTDIRTY_AD
#define AD 1
#else
#define AD 0
#endif
#define NACC 2
#define CHOOSE_ACCESS(v, k)	g = 0; if :: w = 0 :: w = 1 fi
#define INIT_STATE	hmap[0] = 0; freed[1] = 1
#define START_AGENTS	run vcpu(0); run aging(); run host(0, 1, 1)
#define IOCTL_PROGRAM	skip

#elif defined(SCEN_WRPROT)
/*
 * R-WRPROT-FLUSH, R-AGE-NOFLUSH, R-FLUSH-REALOLD, R-DIRTY-INVARIANT:
 * without A/D, guest writes against aging, dirty-log start and a
 * harvest.
 */
#define NG 1
#define NV 1
#define AD 0
#define NACC 3
#define CHOOSE_ACCESS(v, k)	g = 0; if :: w = 0 :: w = 1 fi
#define INIT_STATE	hmap[0] = 0; freed[1] = 1
#define START_AGENTS	run vcpu(0); run aging(); run ioctl()
#define IOCTL_PROGRAM	log_start(); get_log()

#elif defined(SCEN_VOLATILE_A)
/*
 * R-VOLATILE-A, R-VOLATILE-D, R-AGE-ATOMIC: A/D with write-protect
 * logging; a written leaf (A, D) is aged, so A is clear, and
 * dirty-log start protects it while the vCPU's walks set A (and D)
 * again between the writer's read and its store.
 */
#define NG 1
#define NV 1
#define AD 1
#define NACC 2
#define CHOOSE_ACCESS(v, k)	g = 0; if :: w = 0 :: w = 1 fi
#define INIT_STATE	hmap[0] = 0; freed[1] = 1;			\
			spte[0] = LEAF_W(0) | A | D
#define START_AGENTS	run vcpu(0); run aging(); run ioctl()
#define IOCTL_PROGRAM	log_start(); get_log()

#elif defined(SCEN_START)
/*
 * R-FLUSH-REALOLD, R-VOLATILE-MMUW, R-FASTPF-WP: dirty-log start (then
 * a harvest) against guest writes that the fast path makes writable,
 * starting from a read-only, MMU-writable leaf (as logging leaves it
 * when it stops); no aging.
 */
#define NG 1
#define NV 1
#define AD 0
#define NACC 2
#define CHOOSE_ACCESS(v, k)	g = 0; w = 1
#define INIT_STATE	hmap[0] = 0; freed[1] = 1; spte[0] = P | R | MW | HW
#define START_AGENTS	run vcpu(0); run ioctl()
#define IOCTL_PROGRAM	log_start(); get_log()

#elif defined(SCEN_FASTHARV)
/*
 * R-DIRTY-MARK-AFTER-W, R-FASTPF-WP, R-VOLATILE-MMUW, R-FLUSH-REALOLD:
 * write-protect logging; guest writes take the fast path against a
 * harvest (GET) and a CLEAR.
 */
#define NG 1
#define NV 1
#define AD 0
#define NACC 3
#define CHOOSE_ACCESS(v, k)	g = 0; if :: w = 0 :: w = 1 fi
#define INIT_STATE	hmap[0] = 0; freed[1] = 1; slot = S_LOG;	\
			logging_on = 1; spte[0] = P | R | MW | HW
#define START_AGENTS	run vcpu(0); run ioctl()
#define IOCTL_PROGRAM	get_log(); clear_log()

#elif defined(SCEN_FAULTKEEP)
/*
 * R-FAULT-KEEP, R-DIRTY-DBIT, R-VOLATILE-D: D-bit logging; vCPU 0 reads
 * (slow fault), vCPU 1 writes twice, a harvest in between.
 */
#define NG 1
#define NV 2
#define AD 1
#define DBIT 1
#define NACC 2
#define CHOOSE_ACCESS(v, k)	g = 0; if :: v == 0 && k == 0 -> w = 0 :: else -> if :: w = 0 :: w = 1 fi fi
#define INIT_STATE	hmap[0] = 0; freed[1] = 1; slot = S_LOG;	\
			logging_on = 1
#define START_AGENTS	run vcpu(0); run vcpu(1); run ioctl()
#define IOCTL_PROGRAM	get_log()

#elif defined(SCEN_YIELD)
/*
 * R-DIRTY-YIELD, R-DIRTY-INVARIANT: a harvest of two pages that may
 * yield between them, against guest writes through the TLB.
 */
#define NG 2
#define NV 1
#define AD 0
#define YIELDS 1
#define NACC 2
#define CHOOSE_ACCESS(v, k)	w = 1; if :: g = 0 :: g = 1 fi
#define INIT_STATE	hmap[0] = 0; hmap[1] = 1; slot = S_LOG;		\
			logging_on = 1;					\
			spte[0] = LEAF_W(0); spte[1] = LEAF_W(1);	\
			bitmap[0] = 1; bitmap[1] = 1;			\
			pending[0] = 1; pending[1] = 1;			\
			tlb[0] = TV | TW; tlb[1] = TV | TW | TP
#define START_AGENTS	run vcpu(0); run ioctl()
#define IOCTL_PROGRAM	get_log()

#else
#error "pick a scenario: -DSCEN_<NAME>"
#endif
