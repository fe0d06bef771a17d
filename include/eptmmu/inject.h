/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Test-only fault injection.  Built only with EPTMMU_TEST=1 (what
 * `make check` does); a production build compiles every site to nothing.
 *
 * Two kinds of knobs:
 *  - broken variants: make a correct mechanism wrong on purpose, so a race
 *    test can show that it catches the bug the mechanism prevents;
 *  - park points: hold a thread between two steps of an operation so a
 *    race test can run the competing operation exactly there.
 */
#ifndef _EPTMMU_INJECT_H
#define _EPTMMU_INJECT_H

#include <linux/compiler.h>
#include <linux/stddef.h>
#include <linux/types.h>

/* Where a race test can hold a thread (see eptmmu_park()). */
enum eptmmu_park_point {
	/* Slow fault: pfn resolved, invalidation sequence snapshotted. */
	EPTMMU_PARK_SLOW_BEFORE_LOCK,
	/*
	 * The next three are in atomic context (mmu_lock or RCU held):
	 * the hook must spin, not sleep.
	 */
	/* eptmmu_set_spte_locked(): old SPTE read, not yet stored. */
	EPTMMU_PARK_LOCKED_WRITE,
	/* Fast path: SPTE read, cmpxchg not yet tried. */
	EPTMMU_PARK_FAST_BEFORE_CMPXCHG,
	/* Fast path: W set by cmpxchg, gfn not yet marked dirty. */
	EPTMMU_PARK_FAST_AFTER_SET,
	/* Broken aging only: between its read and its store. */
	EPTMMU_PARK_AGE_MID,
	/* Soft vCPU walk, tlb_lock and RCU held: entry read, A/D not yet set. */
	EPTMMU_PARK_SOFT_BEFORE_AD,
	/* A range zap: every entry cleared, the flush not yet delivered. */
	EPTMMU_PARK_ZAP_BEFORE_FLUSH,
	/*
	 * A range zap's chance to yield (also when it does not), before the
	 * entry under the iterator is zapped: the work between two of these
	 * is what a zap does without ever rescheduling.
	 */
	EPTMMU_PARK_ZAP_RESCHED,
	/* Sleepable: memslot delete, slot unpublished for faults, not zapped. */
	EPTMMU_PARK_DELETE_BEFORE_ZAP,
	/*
	 * GET/CLEAR_DIRTY_LOG, write lock held, between two bitmap words:
	 * where it may yield (R-DIRTY-YIELD).
	 */
	EPTMMU_PARK_DIRTY_LOG_RESCHED,
	/* Sleepable: the same, yielding, with mmu_lock dropped. */
	EPTMMU_PARK_DIRTY_LOG_YIELDED,
	/*
	 * Dirty-ring push, any context (the fast path's RCU section): the
	 * first stores of an entry made, the last not yet.
	 */
	EPTMMU_PARK_RING_PUSH,
	/*
	 * Dirty-ring push, any context: between raising dirty_index and
	 * publishing the flags (with ring_index_after_publish: after, and
	 * before).
	 */
	EPTMMU_PARK_RING_INDEX,
	EPTMMU_PARK_NR
};

struct eptmmu_inject {
	/* eptmmu_spte_write_locked() never uses xchg: volatile bits get lost. */
	bool spte_plain_store;
	/* eptmmu_flush_remote_tlbs() does nothing: vCPU TLBs go stale. */
	bool skip_flush;
	/*
	 * The slow fault ignores invalidations that raced with it (and keeps
	 * the references of the pages it so maps: the host cannot free them
	 * under the stale leaves).
	 */
	bool skip_invalidate_recheck;
	/* Locked writers decide the flush from their snapshot, not xchg. */
	bool flush_from_snapshot;
	/* The fast path stores with WRITE_ONCE instead of cmpxchg. */
	bool fast_plain_store;
	/* The fast path marks the gfn dirty before its cmpxchg. */
	bool fast_mark_before_set;
	/* The fast path finds the gfn to mark from the pfn, not position. */
	bool dirty_gfn_from_pfn;
	/* Aging marks for access tracking in two atomic steps, not one. */
	bool age_two_step;
	/* Aging clears A with a plain read-modify-write. */
	bool age_plain_rmw;
	/* Aging answers "old" for every leaf: the host reclaims what the guest uses. */
	bool age_never_young;
	/*
	 * Memslot delete takes the slot away from invalidations before it
	 * zaps it (the old order): munmap meanwhile frees a mapped page.
	 */
	bool delete_unpublish_first;
	/*
	 * Dirty-log stop frees the replaced array and the slot's bitmap at
	 * once, not after their readers: a fault in flight marks freed memory.
	 */
	bool stop_free_now;
	/* A zap flushes only for what it cleared itself. */
	bool zap_flush_own_only;
	/* Write protection flushes only when the SPTE itself had W. */
	bool wrprot_flush_from_spte;
	/* A slow fault replaces a present leaf that already grants it. */
	bool fault_replaces_leaf;
	/* Nothing marks the host page dirty or accessed. */
	bool no_host_dirty;
	/* Zaps tear down whole subtrees, however large, without yielding. */
	bool zap_whole_subtrees;
	/* The soft walk goes on when its A/D update finds the entry changed. */
	bool soft_ad_ignores_change;
	/*
	 * The vmx vCPU answers a machine check in the guest (exit reason
	 * 41, or #MC) as a guest error: the host's handler never runs.
	 */
	bool vmx_mc_guest_error;
	/*
	 * A vmx vCPU's flush runs INVEPT on the flushing CPU only: no IPI
	 * kicks the other CPUs in ran_on out of the guest.
	 */
	bool vmx_flush_no_kick;
	/*
	 * A PML harvest reads the bitmap without kicking the running vCPUs
	 * to drain their PML buffers first (R-PML-DRAIN).
	 */
	bool pml_no_drain;
	/*
	 * A vmx vCPU moving to another CPU has its VMCS dropped from the old
	 * CPU's bookkeeping without a VMCLEAR there (R-VMX-VMCS).
	 */
	bool vmx_migrate_no_vmclear;
	/*
	 * The PM notifier does nothing: after S3 the module believes the CPU
	 * is still in VMX operation (the old behaviour).
	 */
	bool vmx_pm_ignored;
	/*
	 * After a VM exit the vmx vCPU neither reloads the task's LDT nor
	 * writes back the FS/GS bases a selector reload clobbers.
	 */
	bool vmx_host_seg_clobber;
	/*
	 * The vmx vCPU drops bits 7-8 (guest-linear address valid, and
	 * translation or paging-structure access) of a 64-bit guest's
	 * EPT-violation qualifications: its page-walk faults go uncounted.
	 */
	bool vmx_qual_no_gla;
	/* GET/CLEAR_DIRTY_LOG hold the write lock over the whole bitmap. */
	bool dirty_log_no_yield;
	/* A dirty-log yield drops the lock without flushing first. */
	bool dirty_log_yield_noflush;
	/*
	 * A dirty-ring push stores the entry's flags before its slot and
	 * offset, as an unordered store may become visible (R-RING-ORDER).
	 */
	bool ring_no_release;
	/* A dirty-ring reset frees entries without re-protecting their pages. */
	bool ring_reset_no_protect;
	/*
	 * A dirty-ring push publishes the entry before it raises dirty_index:
	 * a reset then may not free an entry user space collected.
	 */
	bool ring_index_after_publish;
	/*
	 * Detector checks (kunit/detect.c): each must turn its debug
	 * kernel's run red.
	 */
	/* The locked writer stores with a plain C assignment (KCSAN). */
	bool spte_plain_access;
	/* A zap frees an unlinked table before tearing it down (KASAN). */
	bool pt_free_early;
	/* The soft walk takes mmu_lock inside its tlb_lock (lockdep). */
	bool walk_takes_mmu_lock;
	/*
	 * The soft vCPU keeps preemption off across an access, tlb_lock
	 * included (DEBUG_ATOMIC_SLEEP; on PREEMPT_RT tlb_lock sleeps).
	 */
	bool soft_preempt_off;
	/* Called at every park point while set. */
	void (*park)(enum eptmmu_park_point point);
};

#ifdef EPTMMU_TEST

extern struct eptmmu_inject eptmmu_inject;
/*
 * Sticky: a broken variant took effect since a test last cleared it.  The
 * KUnit teardown audit then reports what it finds without failing the
 * case: a broken variant is there to leave a wrong tree behind.
 */
extern bool eptmmu_broken_ran;

static inline bool eptmmu_broken_on(bool on)
{
	if (unlikely(on))
		WRITE_ONCE(eptmmu_broken_ran, true);
	return on;
}

#define eptmmu_broken(knob)	eptmmu_broken_on(READ_ONCE(eptmmu_inject.knob))

#define eptmmu_park(point)						\
	do {								\
		void (*__park)(enum eptmmu_park_point) =		\
			READ_ONCE(eptmmu_inject.park);			\
		if (__park)						\
			__park(point);					\
	} while (0)

#else

/* Still names the knob, so a production build catches a misspelt one. */
#define eptmmu_broken(knob)	\
	((void)sizeof_field(struct eptmmu_inject, knob), false)

#define eptmmu_park(point)	((void)(point))

#endif /* EPTMMU_TEST */

#endif /* _EPTMMU_INJECT_H */
