// SPDX-License-Identifier: GPL-2.0
/*
 * MMU-notifier hooks: Linux memory management stays in control of the
 * memory eptmmu maps.  An invalidation zaps the SPTEs of every memslot the
 * host range overlaps and flushes before it returns; faults that resolved
 * a page before or during it see the sequence move and retry.
 *
 * These callbacks never take slots_lock: the memslot array is read under
 * SRCU, and slots_lock holders wait for SRCU readers.
 */
#include <linux/mmu_notifier.h>

#include <eptmmu/mmu.h>

static struct eptmmu_vm *mn_to_vm(struct mmu_notifier *mn)
{
	return container_of(mn, struct eptmmu_vm, mn);
}

/* Zap the gfns that the memslots map in [start, end) of host memory. */
static bool zap_hva_range(struct eptmmu_vm *vm, unsigned long start,
			  unsigned long end, bool can_yield)
{
	struct eptmmu_slots *slots;
	bool hit = false;
	int idx, i;

	idx = srcu_read_lock(&vm->srcu);
	slots = eptmmu_slots(vm);
	for (i = 0; i < slots->nr; i++) {
		struct eptmmu_slot *s = &slots->slots[i];
		unsigned long s_end = s->userspace_addr + (s->npages << PAGE_SHIFT);
		unsigned long lo = max(start, s->userspace_addr);
		unsigned long hi = min(end, s_end);
		u64 first, last;

		if (lo >= hi)
			continue;
		hit = true;
		first = (lo - s->userspace_addr) >> PAGE_SHIFT;
		last = (hi - s->userspace_addr + PAGE_SIZE - 1) >> PAGE_SHIFT;
		eptmmu_zap_gfn_range(vm, s->base_gfn + first, s->base_gfn + last,
				     can_yield);
	}
	srcu_read_unlock(&vm->srcu, idx);
	return hit;
}

static int eptmmu_invalidate_range_start(struct mmu_notifier *mn,
					 const struct mmu_notifier_range *range)
{
	struct eptmmu_vm *vm = mn_to_vm(mn);

	/*
	 * Bookkeeping first, under the write lock: a fault holding the read
	 * lock either finished installing before this (and is zapped below)
	 * or sees in_progress and retries.
	 */
	write_lock(&vm->mmu_lock);
	if (!vm->mmu_invalidate_in_progress) {
		vm->mmu_invalidate_start = range->start;
		vm->mmu_invalidate_end = range->end;
	} else {
		vm->mmu_invalidate_start = min(vm->mmu_invalidate_start, range->start);
		vm->mmu_invalidate_end = max(vm->mmu_invalidate_end, range->end);
	}
	vm->mmu_invalidate_in_progress++;
	write_unlock(&vm->mmu_lock);

	if (zap_hva_range(vm, range->start, range->end,
			  mmu_notifier_range_blockable(range)))
		atomic64_inc(&vm->stats.invalidations);
	return 0;
}

static void eptmmu_invalidate_range_end(struct mmu_notifier *mn,
					const struct mmu_notifier_range *range)
{
	struct eptmmu_vm *vm = mn_to_vm(mn);

	write_lock(&vm->mmu_lock);
	/* Read without the lock by faults taking their snapshot. */
	WRITE_ONCE(vm->mmu_invalidate_seq, vm->mmu_invalidate_seq + 1);
	vm->mmu_invalidate_in_progress--;
	WARN_ON_ONCE(vm->mmu_invalidate_in_progress < 0);
	write_unlock(&vm->mmu_lock);
}

/* The mm is going away: nothing may map its pages any more. */
static void eptmmu_mn_release(struct mmu_notifier *mn, struct mm_struct *mm)
{
	struct eptmmu_vm *vm = mn_to_vm(mn);

	WRITE_ONCE(vm->dead, true);
	eptmmu_zap_gfn_range(vm, 0, EPTMMU_MAX_GPA >> PAGE_SHIFT, true);
}

static const struct mmu_notifier_ops eptmmu_mn_ops = {
	.invalidate_range_start = eptmmu_invalidate_range_start,
	.invalidate_range_end = eptmmu_invalidate_range_end,
	.release = eptmmu_mn_release,
};

int eptmmu_notifier_register(struct eptmmu_vm *vm)
{
	vm->mn.ops = &eptmmu_mn_ops;
	return mmu_notifier_register(&vm->mn, vm->mm);
}

void eptmmu_notifier_unregister(struct eptmmu_vm *vm)
{
	mmu_notifier_unregister(&vm->mn, vm->mm);
}
