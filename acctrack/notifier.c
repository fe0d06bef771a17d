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

/**
 * eptmmu_hva_to_gfns() - the gfns a memslot maps in a host address range
 * @s: the memslot
 * @start: first host address
 * @end: address past the range
 * @first: out: first gfn
 * @last: out: gfn past the range
 *
 * Return: false if the slot does not map any of it.
 */
bool eptmmu_hva_to_gfns(const struct eptmmu_slot *s, unsigned long start,
			unsigned long end, u64 *first, u64 *last)
{
	unsigned long s_end = s->userspace_addr + (s->npages << PAGE_SHIFT);
	unsigned long lo = max(start, s->userspace_addr);
	unsigned long hi = min(end, s_end);

	if (lo >= hi)
		return false;
	*first = s->base_gfn + ((lo - s->userspace_addr) >> PAGE_SHIFT);
	*last = s->base_gfn + ((hi - s->userspace_addr + PAGE_SIZE - 1) >> PAGE_SHIFT);
	return true;
}

/* Zap the gfns that the memslots map in [start, end) of host memory. */
static bool zap_hva_range(struct eptmmu_vm *vm, unsigned long start,
			  unsigned long end, bool can_yield)
{
	struct eptmmu_slots *slots;
	bool hit = false;
	u64 first, last;
	int idx, i;

	idx = srcu_read_lock(&vm->srcu);
	slots = eptmmu_slots(vm);
	for (i = 0; i < slots->nr; i++) {
		if (!eptmmu_hva_to_gfns(&slots->slots[i], start, end, &first,
					&last))
			continue;
		hit = true;
		eptmmu_zap_gfn_range(vm, first, last, can_yield);
	}
	srcu_read_unlock(&vm->srcu, idx);
	return hit;
}

/* Age (or, without @clear, test) what the memslots map in [start, end). */
static int age_hva_range(struct eptmmu_vm *vm, unsigned long start,
			 unsigned long end, bool clear)
{
	struct eptmmu_slots *slots;
	u64 first, last;
	bool young = false;
	int idx, i;

	idx = srcu_read_lock(&vm->srcu);
	slots = eptmmu_slots(vm);
	for (i = 0; i < slots->nr; i++)
		if (eptmmu_hva_to_gfns(&slots->slots[i], start, end, &first,
				       &last))
			young |= eptmmu_age_gfn_range(vm, first, last, clear);
	srcu_read_unlock(&vm->srcu, idx);
	return young;
}

/*
 * The "flush" in the name is the host's own TLB, which the caller
 * handles; EPT translations are not flushed (see acctrack/age.c).
 */
static int eptmmu_clear_flush_young(struct mmu_notifier *mn,
				    struct mm_struct *mm, unsigned long start,
				    unsigned long end)
{
	return age_hva_range(mn_to_vm(mn), start, end, true);
}

static int eptmmu_clear_young(struct mmu_notifier *mn, struct mm_struct *mm,
			      unsigned long start, unsigned long end)
{
	return age_hva_range(mn_to_vm(mn), start, end, true);
}

static int eptmmu_test_young(struct mmu_notifier *mn, struct mm_struct *mm,
			     unsigned long address)
{
	return age_hva_range(mn_to_vm(mn), address, address + 1, false);
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
	/* Read without the lock by the slow fault's GUP-fast hint. */
	WRITE_ONCE(vm->mmu_invalidate_in_progress,
		   vm->mmu_invalidate_in_progress + 1);
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
	WRITE_ONCE(vm->mmu_invalidate_in_progress,
		   vm->mmu_invalidate_in_progress - 1);
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
	.clear_flush_young = eptmmu_clear_flush_young,
	.clear_young = eptmmu_clear_young,
	.test_young = eptmmu_test_young,
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
