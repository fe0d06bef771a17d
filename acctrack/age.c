// SPDX-License-Identifier: GPL-2.0
/*
 * Aging: how reclaim learns which pages the guest uses.
 *
 * Lockless: no mmu_lock, only the RCU read section that keeps the tables
 * alive, like the fast path.  Every store is atomic, so aging can race
 * the CPU, the fast path, faults and zaps without losing their bits, and
 * losing a race to them costs nothing worse than a page that looks young.
 * Aging never flushes: a vCPU that keeps using its cached translation
 * does not set A again, so a hot page may look idle once; reclaim accepts
 * that (clear_young is defined that way), and a flush per aging pass
 * would cost every vCPU its TLB.
 */
#include <linux/rcupdate.h>

#include <eptmmu/export.h>
#include <eptmmu/inject.h>
#include <eptmmu/mmu.h>
#include <eptmmu/trace.h>

/* Test builds only: the broken variants the aging tests must catch. */
static void age_broken(struct eptmmu_iter *it, u64 old)
{
	if (eptmmu_broken(age_two_step)) {
		u64 saved = spte_mark_access_tracked(old) & (SPTE_SAVED_MASK |
							     SPTE_ACC_TRACKED);

		eptmmu_spte_clear_bits(it->sptep, VMX_EPT_RWX_MASK);
		eptmmu_park(EPTMMU_PARK_AGE_MID);
		eptmmu_spte_set_bits(it->sptep, saved);
	} else {
		eptmmu_park(EPTMMU_PARK_AGE_MID);
		WRITE_ONCE(*it->sptep, old & ~(u64)VMX_EPT_ACCESS_BIT);
	}
}

/* R-AGE-ATOMIC, R-AGE-NOFLUSH */
/* Return whether the leaf at @it was young; make it old if @clear. */
static bool age_leaf(struct eptmmu_iter *it, bool clear)
{
	u64 old = it->old_spte;

	if (!spte_is_accessed(old) || eptmmu_broken(age_never_young))
		return false;
	if (!clear)
		return true;
	if ((spte_ad_enabled(old) && eptmmu_broken(age_plain_rmw)) ||
	    (!spte_ad_enabled(old) && eptmmu_broken(age_two_step))) {
		age_broken(it, old);
		return true;
	}
	/* The CPU may set D meanwhile: an AND keeps it, a store would not. */
	if (spte_ad_enabled(old))
		return eptmmu_spte_clear_bits(it->sptep, VMX_EPT_ACCESS_BIT) &
		       VMX_EPT_ACCESS_BIT;
	/*
	 * One cmpxchg from a young leaf to a tracked one: nobody ever sees
	 * RWX cleared without the saved bits, and if the fast path or a
	 * fault changed the leaf first, it stays young.
	 */
	if (eptmmu_spte_try_cmpxchg(it->sptep, &old,
				    spte_mark_access_tracked(old)) &&
	    spte_is_writable(old))
		/*
		 * R-HOST-DIRTY: W goes unsaved, and with it the only sign
		 * the guest may have written.  The notifier's caller holds
		 * the host page-table lock of this range, so the page is
		 * still the host's.
		 */
		eptmmu_host_page_dirty(spte_pfn(old), it->level);
	return true;
}

/**
 * eptmmu_age_gfn_range() - age the leaves mapping [start, end)
 * @vm: the VM
 * @start: first gfn
 * @end: gfn past the range
 * @clear: make young leaves old (else only test)
 *
 * Caller holds vm->srcu (the gfns come from a memslot).  Takes no lock.
 *
 * Return: true if any leaf was young.
 */
bool eptmmu_age_gfn_range(struct eptmmu_vm *vm, u64 start, u64 end,
			  bool clear)
{
	struct eptmmu_iter it;
	u64 young = 0, leaves = 0;

	rcu_read_lock();
	for_each_eptmmu_spte(&it, vm, start, end, PG_LEVEL_4K) {
		if (!spte_is_present_leaf(it.old_spte, it.level))
			continue;
		leaves++;
		if (age_leaf(&it, clear))
			young++;
	}
	rcu_read_unlock();
	atomic64_inc(&vm->stats.aging_passes);
	atomic64_add(young, &vm->stats.aged_young);
	trace_eptmmu_age(start, end, clear, young, leaves - young);
	return young;
}
EXPORT_SYMBOL_IF_KUNIT(eptmmu_age_gfn_range);
