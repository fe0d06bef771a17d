// SPDX-License-Identifier: GPL-2.0
/*
 * The lockless fast page fault, and the fault entry every backend calls.
 *
 * Some EPT violations only need a bit flipped in a leaf that is already
 * there: W on a write-protected, MMU-writable page (dirty logging), or
 * R/X restored on an access-tracked page (aging without A/D).  Those are
 * fixed here with one cmpxchg, without mmu_lock, inside an RCU read
 * section that keeps the tables we walk alive.  Everything else goes to
 * the slow path.
 *
 * Why the gfn marked dirty is the SPTE's position and never derived from
 * its pfn: between our read and our cmpxchg the leaf may be zapped and
 * the same pfn mapped again, at this gfn or another (the ABA).  If our
 * cmpxchg succeeds, the value at *this position* is the one we read, and
 * the position alone says which gfn it translates: direct EPT has no
 * reverse map that could name another gfn for the same pfn.
 */
#include <linux/log2.h>
#include <linux/rcupdate.h>
#include <linux/sched/clock.h>

#include <eptmmu/audit.h>
#include <eptmmu/export.h>
#include <eptmmu/fastpf.h>
#include <eptmmu/inject.h>
#include <eptmmu/trace.h>

#define FAST_MAX_RETRIES	4

static void stat_inc(u64 *counter)
{
	WRITE_ONCE(*counter, *counter + 1);
}

/*
 * Detector of the ABA (test builds only): what a fast path that looked
 * the gfn up from the pfn would find -- the highest gfn mapping @pfn.
 */
static u64 gfn_of_pfn(struct eptmmu_vm *vm, u64 pfn, u64 fallback)
{
	struct eptmmu_iter it;
	u64 gfn = fallback;

	for_each_eptmmu_spte(&it, vm, 0, EPTMMU_MAX_GPA >> PAGE_SHIFT,
			     PG_LEVEL_4K)
		if (spte_is_present_leaf(it.old_spte, it.level) &&
		    it.level == PG_LEVEL_4K && spte_pfn(it.old_spte) == pfn)
			gfn = it.gfn;
	return gfn;
}

static void mark_written(struct eptmmu_vcpu *vcpu, struct eptmmu_slot *slot,
			 u64 gfn, u64 spte)
{
	struct eptmmu_vm *vm = vcpu->vm;

	if (eptmmu_broken(dirty_gfn_from_pfn)) {
		gfn = gfn_of_pfn(vm, spte_pfn(spte), gfn);
		slot = eptmmu_gfn_to_slot(eptmmu_slots(vm), gfn);
		if (!slot)
			return;
	}
	eptmmu_vcpu_mark_dirty(vcpu, slot, gfn);
}

/**
 * eptmmu_fast_page_fault() - try to fix an EPT violation without mmu_lock
 * @vcpu: the faulting vCPU
 * @gpa: guest-physical address
 * @exit_qual: SDM exit qualification (bits 0-2: the access)
 *
 * Return: EPTMMU_FAST_FIXED (W set), EPTMMU_FAST_FIXED_ACC (access
 * restored), EPTMMU_FAST_SPURIOUS (nothing left to do), or
 * EPTMMU_FAST_FALLBACK for the slow path.
 */
int eptmmu_fast_page_fault(struct eptmmu_vcpu *vcpu, u64 gpa, u64 exit_qual)
{
	struct eptmmu_vm *vm = vcpu->vm;
	bool write = exit_qual & EPT_VIOLATION_ACC_WRITE;
	u64 need = exit_qual & VMX_EPT_RWX_MASK;	/* bits 0-2: R, W, X */
	u64 gfn = gpa >> PAGE_SHIFT;
	int r = EPTMMU_FAST_FALLBACK, retry, idx;
	struct eptmmu_slot *slot;
	struct eptmmu_iter it;
	u64 *sptep = NULL;
	u64 old = 0;
	int level = 0;

	idx = srcu_read_lock(&vm->srcu);
	slot = eptmmu_gfn_to_slot(eptmmu_slots(vm), gfn);
	if (!slot)
		goto out_srcu;		/* MMIO: the slow path's business */

	rcu_read_lock();
	for_each_eptmmu_spte(&it, vm, gfn, gfn + 1, PG_LEVEL_4K) {
		if (spte_is_present_leaf(it.old_spte, it.level)) {
			sptep = it.sptep;
			old = it.old_spte;
			level = it.level;
			/* R-ABA */
			gfn = it.gfn;	/* the position: see the comment on top */
			break;
		}
	}
	if (!sptep)
		goto out;

	for (retry = 0; retry < FAST_MAX_RETRIES; retry++) {
		bool tracked = spte_is_access_tracked(old);
		bool set_w = false;
		u64 new = old;

		if (!spte_is_present_leaf(old, level))
			break;		/* zapped or frozen meanwhile */
		/* R-FASTPF-HUGE */
		/* One bit for 512 pages: the slow path splits first. */
		if (level > PG_LEVEL_4K &&
		    (slot->flags & EPTMMU_MEM_LOG_DIRTY_PAGES))
			break;
		/* R-FASTPF-ACC */
		if (tracked)
			new = spte_restore_access(old);
		/* R-FASTPF-WP */
		if (write && !spte_is_writable(new)) {
			if (!spte_can_fast_set_w(new))
				break;
			new |= VMX_EPT_WRITABLE_MASK;
			set_w = true;
		}
		if ((new & need) != need)
			break;
		if (new == old) {
			/* Another vCPU fixed it; the violation dropped our TLB entry. */
			r = EPTMMU_FAST_SPURIOUS;
			goto out;
		}

		if (set_w && eptmmu_broken(fast_mark_before_set) &&
		    !eptmmu_slot_logs_dbit(slot))
			mark_written(vcpu, slot, gfn, old);
		/* W only where the MMU and the host allow it, never huge when logging. */
		eptmmu_prove(set_w && !spte_can_fast_set_w(old));
		eptmmu_prove((new & VMX_EPT_WRITABLE_MASK) && level > PG_LEVEL_4K &&
			     (slot->flags & EPTMMU_MEM_LOG_DIRTY_PAGES));
		eptmmu_park(EPTMMU_PARK_FAST_BEFORE_CMPXCHG);
		if (eptmmu_broken(fast_plain_store)) {
			WRITE_ONCE(*sptep, new);
		} else if (!eptmmu_spte_try_cmpxchg(sptep, &old, new)) {
			stat_inc(&vcpu->stats.fast_retries);
			continue;
		}

		/* R-DIRTY-MARK-AFTER-W */
		/*
		 * Mark only after W is really ours.  Marking first would let
		 * a harvest collect the mark and re-protect the page before
		 * our cmpxchg grants W again: the write would go unlogged.
		 * With D-bit logging the CPU's D records the write instead.
		 */
		if (set_w) {
			eptmmu_park(EPTMMU_PARK_FAST_AFTER_SET);
			if (!eptmmu_broken(fast_mark_before_set) &&
			    !eptmmu_slot_logs_dbit(slot))
				mark_written(vcpu, slot, gfn, new);
		}
		if (tracked) {
			stat_inc(&vcpu->stats.fast_fixed_acc);
			r = EPTMMU_FAST_FIXED_ACC;
		} else {
			stat_inc(&vcpu->stats.fast_fixed_wp);
			r = EPTMMU_FAST_FIXED;
		}
		goto out;
	}
out:
	rcu_read_unlock();
	if (r != EPTMMU_FAST_FALLBACK)
		vcpu->last_fault_level = level;
out_srcu:
	srcu_read_unlock(&vm->srcu, idx);
	return r;
}
EXPORT_SYMBOL_IF_KUNIT(eptmmu_fast_page_fault);

/*
 * Per-vCPU, written only by the thread running the vCPU (run_lock): a
 * handful of plain adds, cheap enough to keep on always.
 */
static void account_latency(struct eptmmu_fault_latency *l, int kind, u64 ns)
{
	int b = ns ? min_t(int, ilog2(ns), EPTMMU_LAT_BUCKETS - 1) : 0;

	l->count[kind]++;
	l->total_ns[kind] += ns;
	l->hist[kind][b]++;
}

/*
 * Bits 7 and 8 of the qualification (SDM "Exit Qualification for EPT
 * Violations"): with a valid guest-linear address, whether the CPU was
 * reading or updating one of the guest's paging-structure entries (8
 * clear) or making the access the linear address translates to (8 set).
 * A guest with paging off makes only the second kind; the soft vCPU
 * reports neither (no linear address at all).
 */
static void eptmmu_count_qual(struct eptmmu_vcpu *vcpu, u64 exit_qual)
{
	if (!(exit_qual & EPT_VIOLATION_GVA_IS_VALID))
		return;
	if (exit_qual & EPT_VIOLATION_GVA_TRANSLATED)
		eptmmu_vcpu_stat_inc(&vcpu->kstats.pf_guest_linear);
	else
		eptmmu_vcpu_stat_inc(&vcpu->kstats.pf_guest_pt);
}

/* What a slow fault ended as, for eptmmu_fault_result. */
static int slow_path(int r, bool fixed)
{
	if (!r)
		return fixed ? EPTMMU_TRACE_SLOW : EPTMMU_TRACE_SLOW_SPURIOUS;
	if (r == EPTMMU_FAULT_MMIO)
		return EPTMMU_TRACE_MMIO;
	return r == EPTMMU_FAULT_RETRY ? EPTMMU_TRACE_RETRY : EPTMMU_TRACE_ERROR;
}

/**
 * eptmmu_page_fault() - the one entry for EPT violations of every backend
 * @vcpu: the faulting vCPU
 * @gpa: guest-physical address
 * @exit_qual: SDM exit qualification
 *
 * Return: 0 (fixed), EPTMMU_FAULT_RING_FULL (the vCPU's dirty ring is
 * soft-full: the fault was not handled), or as eptmmu_slow_page_fault().
 */
int eptmmu_page_fault(struct eptmmu_vcpu *vcpu, u64 gpa, u64 exit_qual)
{
	u64 t0 = local_clock();
	u64 retries = vcpu->stats.fast_retries, fixed;
	int fast, r, kind, path;

	/* R-RING-SOFT-FULL: nothing more is logged until user space resets. */
	if (eptmmu_dirty_ring_soft_full(vcpu))
		return EPTMMU_FAULT_RING_FULL;
	stat_inc(&vcpu->stats.faults);
	eptmmu_count_qual(vcpu, exit_qual);
	trace_eptmmu_fault_entry(vcpu->id, gpa, exit_qual);
	vcpu->last_fault_level = 0;
	fast = eptmmu_fast_page_fault(vcpu, gpa, exit_qual);
	if (fast != EPTMMU_FAST_FALLBACK) {
		r = 0;
		kind = fast == EPTMMU_FAST_FIXED_ACC ? EPTMMU_FAULT_FAST_ACC :
						      EPTMMU_FAULT_FAST_WP;
		eptmmu_vcpu_stat_inc(&vcpu->kstats.pf_fast);
		if (fast == EPTMMU_FAST_SPURIOUS) {
			eptmmu_vcpu_stat_inc(&vcpu->kstats.pf_spurious);
			path = EPTMMU_TRACE_FAST_SPURIOUS;
		} else {
			eptmmu_vcpu_stat_inc(&vcpu->kstats.pf_fixed);
			path = fast == EPTMMU_FAST_FIXED_ACC ?
			       EPTMMU_TRACE_FAST_ACC : EPTMMU_TRACE_FAST_WP;
		}
	} else {
		stat_inc(&vcpu->stats.fast_fallbacks);
		/* An installed leaf counts pf_fixed (eptmmu_stat_installed()). */
		fixed = vcpu->kstats.pf_fixed;
		r = eptmmu_slow_page_fault(vcpu, gpa, exit_qual);
		if (r)
			kind = EPTMMU_FAULT_OTHER;
		else if (vcpu->last_fault_level > PG_LEVEL_4K)
			kind = EPTMMU_FAULT_SLOW_HUGE;
		else
			kind = EPTMMU_FAULT_SLOW_4K;
		path = slow_path(r, vcpu->kstats.pf_fixed != fixed);
		if (path == EPTMMU_TRACE_SLOW_SPURIOUS)
			eptmmu_vcpu_stat_inc(&vcpu->kstats.pf_spurious);
	}
	account_latency(&vcpu->latency, kind, local_clock() - t0);
	trace_eptmmu_fault_result(vcpu->id, gpa, exit_qual, path,
				  vcpu->last_fault_level,
				  vcpu->stats.fast_retries - retries, r);
	return r;
}
EXPORT_SYMBOL_IF_KUNIT(eptmmu_page_fault);
