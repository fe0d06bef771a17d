// SPDX-License-Identifier: GPL-2.0
/*
 * Dirty logging, in one place.
 *
 * Two modes per memslot.  Write protection: W is cleared but MMU-writable
 * kept, so the first write after a harvest takes the fast path, which
 * sets W and marks the page.  D bits (A/D VMs only): pages stay writable;
 * the CPU's D is the log and a harvest moves it into the bitmap.
 *
 * In a PML VM (vm->pml) write protection is replaced by the CPU's
 * page-modification log: leaves stay writable with D clear, the CPU logs
 * the gpa of each write that sets a D, the vmx vCPU drains its log into
 * the bitmap at every VM exit, and a harvest first makes every vCPU
 * drain (R-PML-DRAIN), then clears D on the pages it collected.
 *
 * The invariant every function here keeps: a page is either marked in the
 * bitmap and not yet harvested, or write-protected (D clear) in its SPTE
 * and in every vCPU's TLB.  Harvests run with slots_lock, then mmu_lock
 * for write, so no fault installs a leaf in the middle of one.
 */
#include <linux/bitmap.h>
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include <eptmmu/export.h>
#include <eptmmu/inject.h>
#include <eptmmu/mmu.h>
#include <eptmmu/trace.h>

/*
 * The bitmap of a slot about to log, before the slot is published: with
 * EPTMMU_MEM_DIRTY_LOG_INITIALLY_SET every page is in the log from the
 * first moment a fault can see the slot logging (R-DIRTY-INITIALLY-SET).
 */
int eptmmu_dirty_log_alloc(struct eptmmu_slot *slot)
{
	size_t words = BITS_TO_LONGS(slot->npages);
	bool set = slot->flags & EPTMMU_MEM_DIRTY_LOG_INITIALLY_SET;

	/* A bitmap that starts set is written whole: no zeroing first. */
	slot->dirty_bitmap = set ? kvmalloc_array(words, sizeof(long),
						  GFP_KERNEL_ACCOUNT) :
				   kvcalloc(words, sizeof(long),
					    GFP_KERNEL_ACCOUNT);
	if (!slot->dirty_bitmap)
		return -ENOMEM;
	if (set) {
		memset(slot->dirty_bitmap, 0xff, words * sizeof(long));
		/* No bit past the slot's end: a GET copies whole words. */
		slot->dirty_bitmap[words - 1] &=
			BITMAP_LAST_WORD_MASK(slot->npages);
	}
	return 0;
}

/* What a harvest or a start stores into a leaf: W or D withdrawn. */
static u64 protected_spte(u64 spte, bool dbit)
{
	return dbit ? spte & ~(u64)VMX_EPT_DIRTY_BIT :
		      spte & ~(u64)VMX_EPT_WRITABLE_MASK;
}

/*
 * Does a leaf need the store?  With write protection: any leaf that is
 * or may become writable (MMU-writable), stale snapshot or not -- the
 * write helper tells from the real old value whether the fast path made
 * it writable meanwhile.  With D bits: any A/D leaf.
 */
static __always_inline bool needs_protect(u64 spte, int level, bool dbit)
{
	if (!spte_is_present_leaf(spte, level))
		return false;
	if (dbit)
		return spte_ad_enabled(spte);
	return spte_is_writable(spte) || spte_is_mmu_writable(spte);
}

/*
 * Withdraw W (or D) from the leaf at @it.  The SPTE alone does not say
 * whether a vCPU may still write: aging without A/D drops W with no flush
 * (R-AGE-NOFLUSH), so a leaf that reads back write-protected can still
 * have a writable translation in some TLB, and the store (old & ~W ==
 * old) would decide no flush.  Any leaf that could have been writable
 * since the last flush, i.e. any MMU-writable one, is flushed for
 * (R-WRPROT-FLUSH).
 */
/* R-WRPROT-FLUSH */
static __always_inline void wrprot_leaf(struct eptmmu_vm *vm, u64 *sptep,
					u64 gfn, int level, u64 old, bool dbit,
					bool *flush)
{
	if (!eptmmu_broken(wrprot_flush_from_spte) &&
	    (old & SPTE_MMU_WRITABLE))
		*flush = true;
	eptmmu_set_leaf_locked(vm, sptep, gfn, level, old,
			       protected_spte(old, dbit), flush);
}

/*
 * Protect [start, end) under the write lock; split huge leaves with tables
 * from @c (a fallback: split_range() has split them, and a logging slot's
 * faults map 4K).  Return where to resume when @c ran dry, or @end.
 */
static u64 protect_range(struct eptmmu_vm *vm, u64 start, u64 end, bool dbit,
			 struct eptmmu_pt_cache *c, bool *flush)
{
	struct eptmmu_iter it;

	lockdep_assert_held_write(&vm->mmu_lock);
	for_each_eptmmu_spte(&it, vm, start, end, PG_LEVEL_4K) {
retry:
		if (eptmmu_iter_cond_resched(&it, false, flush))
			continue;
		if (!spte_is_present_leaf(it.old_spte, it.level))
			continue;
		if (it.level > PG_LEVEL_4K) {
			int r;

			if (!c->nr)
				return max(it.gfn, start);
			/* The iterator then steps into the new table. */
			r = eptmmu_split_huge(vm, &it, c);
			if (r == EPTMMU_FAULT_RETRY)
				goto retry;
			continue;
		}
		if (needs_protect(it.old_spte, it.level, dbit))
			wrprot_leaf(vm, it.sptep, it.gfn, it.level, it.old_spte,
				    dbit, flush);
	}
	return end;
}

/*
 * Split the huge leaves of [start, end) under the read lock, with tables
 * from @c: the split is one cmpxchg of the huge leaf, as a fault's is,
 * and loses to anyone who changed the leaf first (the CPU setting D,
 * aging, a zap's freeze), after which the entry is looked at again.
 * Nothing changes for a vCPU (the children map what the leaf did, with
 * its permissions and A/D), so no flush.  Return where to resume when @c
 * ran dry, or @end.
 */
static u64 split_range(struct eptmmu_vm *vm, u64 start, u64 end,
		       struct eptmmu_pt_cache *c)
{
	struct eptmmu_iter it;
	bool flush = false;

	lockdep_assert_held_read(&vm->mmu_lock);
	for_each_eptmmu_spte(&it, vm, start, end, PG_LEVEL_2M) {
retry:
		if (eptmmu_iter_cond_resched(&it, true, &flush))
			continue;
		if (!spte_is_present_leaf(it.old_spte, it.level))
			continue;
		if (!c->nr)
			return max(it.gfn, start);
		/* A 1G leaf's 2M children are split next, one level down. */
		if (eptmmu_split_huge(vm, &it, c) == EPTMMU_FAULT_RETRY)
			goto retry;
	}
	return end;
}

/**
 * eptmmu_dirty_log_start() - protect a slot that has just started logging
 * @vm: the VM
 * @slot: the slot as published, with its logging flags and bitmap
 *
 * Called with slots_lock after the slot is published, so a fault that
 * starts now already sees it logging.  Huge leaves are split first, under
 * the read lock (faults and zaps go on meanwhile): one dirty bit per 2M
 * would report 511 clean pages as dirty.  Then, unless the bitmap starts
 * all set (EPTMMU_MEM_DIRTY_LOG_INITIALLY_SET: each page is protected by
 * the first CLEAR that names it), every leaf is write-protected (or its
 * D cleared) under the write lock.  Returns when every vCPU's TLB agrees.
 */
void eptmmu_dirty_log_start(struct eptmmu_vm *vm, struct eptmmu_slot *slot)
{
	struct eptmmu_pt_cache cache = { 0 };
	u64 start = slot->base_gfn, end = start + slot->npages;
	/* PML, like D-bit logging, starts from D clear on writable leaves. */
	bool dbit = eptmmu_slot_logs_dbit(slot) ||
		    eptmmu_slot_logs_pml(vm, slot);

	lockdep_assert_held(&vm->slots_lock);
	/*
	 * The cache starts empty and is topped up only when a walk stops at
	 * a huge leaf for want of a table: a slot mapped 4K already (or not
	 * at all) allocates and zeroes nothing.
	 */
	while (start < end) {
		read_lock(&vm->mmu_lock);
		rcu_read_lock();
		start = split_range(vm, start, end, &cache);
		rcu_read_unlock();
		read_unlock(&vm->mmu_lock);
		if (start < end && eptmmu_pt_cache_topup(vm, &cache)) {
			/* No memory to split: zapped leaves refault as 4K. */
			eptmmu_zap_gfn_range(vm, start, end, true);
			break;
		}
	}
	start = slot->base_gfn;
	/* R-DIRTY-INITIALLY-SET: every page is marked, none protected. */
	if (slot->flags & EPTMMU_MEM_DIRTY_LOG_INITIALLY_SET)
		start = end;
	while (start < end) {
		bool flush = false;

		write_lock(&vm->mmu_lock);
		rcu_read_lock();
		start = protect_range(vm, start, end, dbit, &cache, &flush);
		if (flush)
			eptmmu_flush_remote_tlbs(vm);
		rcu_read_unlock();
		write_unlock(&vm->mmu_lock);
		if (start < end && eptmmu_pt_cache_topup(vm, &cache)) {
			eptmmu_zap_gfn_range(vm, start, end, true);
			break;
		}
	}
	eptmmu_pt_cache_free(vm, &cache);
}

/*
 * Can the 2M range at @gfn map huge again: the slot allows a 2M leaf
 * there and the host maps a huge page now?  mmap_lock held for read.
 */
static bool stop_can_map_huge(struct eptmmu_slot *slot, struct mm_struct *mm,
			      struct eptmmu_host_cursor *c, u64 gfn)
{
	unsigned long hva = slot->userspace_addr +
			    ((gfn - slot->base_gfn) << PAGE_SHIFT);

	return eptmmu_slot_max_level(slot, gfn) >= PG_LEVEL_2M &&
	       eptmmu_host_level_2m(mm, c, hva) >= PG_LEVEL_2M;
}

/**
 * eptmmu_dirty_log_stop() - let huge pages come back after logging
 * @vm: the VM
 * @slot: the slot as published, logging off
 *
 * Write access returns lazily through the fast path.  Huge pages need a
 * slow fault, so the 4K leaves of every 2M range that the slot allows and
 * the host backs with a huge page are zapped; the next access maps them
 * huge.  Other ranges keep their leaves.
 *
 * The host's tables are scanned under one mmap_lock (slots_lock →
 * mmap_lock, R-LOCK-ORDER), a PMD per 2M range (eptmmu_host_level_2m()),
 * not a lock round trip and a four-level walk per 2M: that was most of
 * the cost of stopping a large slot.  The lock is dropped for each run of
 * ranges to zap (the zap takes mmu_lock and may sleep), and whenever a
 * writer of the host's tables waits or the CPU is wanted.  A host change
 * after a range was read is harmless either way: a zap only costs a
 * refault, and a range left with 4K leaves is only slower.
 */
void eptmmu_dirty_log_stop(struct eptmmu_vm *vm, struct eptmmu_slot *slot)
{
	u64 span = SPTE_PAGES_PER(PG_LEVEL_2M);
	u64 end = slot->base_gfn + slot->npages;
	u64 gfn = round_up(slot->base_gfn, span);
	struct mm_struct *mm = vm->mm;

	lockdep_assert_held(&vm->slots_lock);
	/* The process is exiting: its memory is about to go, huge or not. */
	if (!mmget_not_zero(mm))
		return;
	while (gfn + span <= end) {
		struct eptmmu_host_cursor c = { .valid = false };
		u64 run = 0;

		mmap_read_lock(mm);
		while (gfn + span <= end) {
			bool huge = stop_can_map_huge(slot, mm, &c, gfn);

			/* @gfn is read again, for the next run: it is cheap. */
			if (!huge && run)
				break;
			if (huge && !run)
				run = gfn;
			gfn += span;
			if (need_resched() || mmap_lock_is_contended(mm))
				break;
		}
		mmap_read_unlock(mm);
		if (run)
			eptmmu_zap_for_huge(vm, run, gfn, PG_LEVEL_2M);
		cond_resched();
	}
	mmput(mm);
}

/*
 * GET and CLEAR re-protect the pages of a bitmap word (64 pages) at a
 * time, words in order.  Consecutive words mostly lie in the same 4K
 * table, so the cursor keeps the last table found (or that none is
 * there) and walks down from the root only when a word leaves it: one
 * descent per 512 pages of the range, not one per word, and a word's
 * leaves are then handled straight from the table.  The table pointer
 * stays good while the write lock is held: only zaps and teardown unlink
 * tables, and neither runs beside the write lock (the fast path, aging
 * and the CPU change leaves, never table links).  Dropping the lock (a
 * yield, R-DIRTY-YIELD) invalidates the cursor.
 */
/* R-DIRTY-CURSOR */
struct wrprot_cursor {
	bool valid;
	u64 base;	/* first gfn of the 2M range the cursor knows */
	u64 *spt;	/* its 4K table, or NULL: no 4K leaf there */
};

/*
 * Point @c at the 4K table covering @gfn.  A huge leaf on the way has no
 * place in a logging slot (dirty-log start splits, a logging slot's
 * faults map 4K), but if one is there it is protected whole rather than
 * skipped: a writable leaf that is neither marked nor protected is what
 * the invariant forbids.
 */
static void cursor_find(struct eptmmu_vm *vm, struct wrprot_cursor *c,
			u64 gfn, bool dbit, bool *flush)
{
	struct eptmmu_iter it;

	c->valid = true;
	c->base = eptmmu_gfn_round(gfn, PG_LEVEL_2M);
	c->spt = NULL;
	for_each_eptmmu_spte(&it, vm, gfn, gfn + 1, PG_LEVEL_2M) {
		if (!spte_is_present(it.old_spte))
			continue;
		if (spte_is_last(it.old_spte, it.level)) {
			if (needs_protect(it.old_spte, it.level, dbit))
				wrprot_leaf(vm, it.sptep, it.gfn, it.level,
					    it.old_spte, dbit, flush);
			continue;
		}
		if (it.level == PG_LEVEL_2M)
			c->spt = eptmmu_spte_to_child(it.old_spte);
	}
}

/*
 * One leaf of a CLEAR or harvest, in a 4K table.  Most are settled leaves
 * losing W: a load, a test and a store.  The flush they owe is already
 * requested (reprotect_mask()), and @dbit is a constant (both callers in
 * reprotect_mask()).
 */
static __always_inline void reprotect_leaf(struct eptmmu_vm *vm, u64 *sptep,
					   u64 gfn, bool dbit, bool *flush)
{
	u64 old = READ_ONCE(*sptep);

	if (!dbit && eptmmu_wrprot_settled(vm, sptep, old, PG_LEVEL_4K))
		return;
	if (dbit && !(old & VMX_EPT_DIRTY_BIT))
		return;
	if (needs_protect(old, PG_LEVEL_4K, dbit))
		wrprot_leaf(vm, sptep, gfn, PG_LEVEL_4K, old, dbit, flush);
}

/*
 * The leaves of @in (bits of @gfn's word) in the 4K table @spt, whose
 * first entry maps @base: what a CLEAR costs per page.  A word with every
 * bit set (a dense CLEAR, a migration's usual one) lies whole in the table;
 * with write protection, if all its leaves are settled, they go together
 * (eptmmu_wrprot_settled_word()), otherwise one by one.
 */
static __always_inline void reprotect_table(struct eptmmu_vm *vm, u64 *spt,
					    u64 base, u64 gfn, u64 in,
					    bool dbit, bool *flush)
{
	if (in == ~0ULL && !dbit &&
	    eptmmu_wrprot_settled_word(vm, &spt[gfn - base]))
		return;
	for (; in; in &= in - 1) {
		u64 g = gfn + __ffs64(in);

		reprotect_leaf(vm, &spt[g - base], g, dbit, flush);
	}
}

/*
 * Re-protect the pages of @mask at @gfn (64 pages); write lock held.
 * W withdrawn, or with @dbit D cleared instead, on the leaves whose D is
 * set (and recorded: eptmmu_leaf_changed()): D-bit slots and PML slots
 * (a D the CPU sets after the read is a write PML logs again).  It always
 * owes a flush, whatever the leaves read back: aging without A/D drops W
 * with no flush (R-AGE-NOFLUSH), and a TLB entry with D set writes
 * without setting D again.
 *
 * Aligned so that its loops never straddle a 4K page of code: QEMU's TCG,
 * on which make bench runs, chains translated blocks only within one
 * guest page, and a loop across a page boundary looks its next block up
 * on every iteration.  That alone made a CLEAR 3.5 times as slow in one
 * build and not in another; under 2K of padding keeps the figures about
 * the code rather than about where the linker put it.  In a section of
 * its own, so that the padding is the linker's and not instructions in
 * the object that objtool would find unreachable.
 */
static void __section(".text.eptmmu_reprotect") __aligned(2048)
reprotect_mask(struct eptmmu_vm *vm, struct wrprot_cursor *c, u64 gfn,
	       u64 mask, bool dbit, bool *flush)
{
	lockdep_assert_held_write(&vm->mmu_lock);
	*flush = true;
	while (mask) {
		u64 first = gfn + __ffs64(mask), in, top;

		if (!c->valid || first < c->base ||
		    first >= c->base + SPTE_ENT_PER_PAGE)
			cursor_find(vm, c, first, dbit, flush);
		/* The bits of @mask in this table: from @first to its end. */
		top = c->base + SPTE_ENT_PER_PAGE - gfn;
		in = top >= 64 ? mask : mask & (BIT_ULL(top) - 1);
		mask &= ~in;
		if (!c->spt)
			continue;
		if (dbit)
			reprotect_table(vm, c->spt, c->base, gfn, in, true,
					flush);
		else
			reprotect_table(vm, c->spt, c->base, gfn, in, false,
					flush);
	}
}

/* D-bit logging: move every leaf's D into the bitmap; write lock held. */
static void harvest_dbits(struct eptmmu_vm *vm, struct eptmmu_slot *slot,
			  bool *flush)
{
	struct eptmmu_iter it;

	for_each_eptmmu_spte(&it, vm, slot->base_gfn,
			     slot->base_gfn + slot->npages, PG_LEVEL_4K) {
		if (eptmmu_iter_cond_resched(&it, false, flush))
			continue;
		/* eptmmu_set_spte_locked() records a D it takes away. */
		if (needs_protect(it.old_spte, it.level, true))
			eptmmu_set_spte_locked(vm, &it,
					       protected_spte(it.old_spte, true),
					       flush);
	}
}

/*
 * R-DIRTY-YIELD: a harvest or CLEAR over a large slot must not hold the
 * write lock (and the CPU) for as long as its bitmap is.  Every
 * EPTMMU_DIRTY_LOG_YIELD_WORDS words, if someone waits, deliver the flush
 * for what was protected so far, then let them in.  Pages already
 * harvested are protected in every TLB by then; pages not yet reached are
 * still marked; a write meanwhile marks a page again (or sets its D), and
 * the next harvest reports it.  slots_lock stays held, so the slot stays.
 * Not at every word: a yield hands the CPU to whatever else is runnable,
 * and a harvest of a few hundred MiB (a migration's usual call) should
 * cost what it costs, as KVM's does, not a time slice of something else.
 */
/* R-DIRTY-YIELD */
static void dirty_log_cond_resched(struct eptmmu_vm *vm, bool *flush,
				   unsigned int *budget, struct wrprot_cursor *c)
	__must_hold(RCU) __must_hold(&vm->mmu_lock)
{
	lockdep_assert_held_write(&vm->mmu_lock);
	eptmmu_park(EPTMMU_PARK_DIRTY_LOG_RESCHED);
	if (eptmmu_broken(dirty_log_no_yield) || --*budget)
		return;
	*budget = EPTMMU_DIRTY_LOG_YIELD_WORDS;
	if (!need_resched() && !rwlock_needbreak(&vm->mmu_lock))
		return;
	/* R-DIRTY-CURSOR: tables may be zapped and freed meanwhile. */
	c->valid = false;
	if (*flush && !eptmmu_broken(dirty_log_yield_noflush)) {
		eptmmu_flush_remote_tlbs(vm);
		*flush = false;
	}
	rcu_read_unlock();
	write_unlock(&vm->mmu_lock);
	eptmmu_park(EPTMMU_PARK_DIRTY_LOG_YIELDED);
	cond_resched();
	write_lock(&vm->mmu_lock);
	rcu_read_lock();
}

/*
 * R-DIRTY-PEEK: a GET with NO_CLEAR of a write-protection logging slot
 * changes nothing, so it needs no mmu_lock: it reads the bitmap, whose
 * only writers meanwhile are faults and the fast path setting bits
 * (slots_lock keeps out CLEAR, other GETs and whoever frees the bitmap).
 * A bit set after its word was read stays set for the next GET.  With
 * D bits the log is in the SPTEs and the harvest must take them.  The
 * bitmap goes straight to the user's buffer in one copy, as KVM's
 * manual-protect GET copies its bitmap, with no kernel copy between
 * (which cost as much as the copy itself); a buffer that faults part way
 * gets -EFAULT, and nothing changed.
 *
 * The copy reads the live bitmap with plain loads, a byte or a word at a
 * time, while faults set bits in it atomically: a race by design, so it
 * is marked data_race() for KCSAN.  Bits are only ever set while
 * slots_lock is held here, so whatever mix of before and after the copy
 * sees of a word holds every bit set before the GET began and only bits
 * that are set: a torn word is as good a snapshot as a whole one.  With
 * the event on, the words go one at a time (atomic reads) so that the
 * count is of exactly what user space got.
 */
/* R-DIRTY-PEEK */
static int peek_bitmap(struct eptmmu_vm *vm, struct eptmmu_slot *slot,
		       u64 __user *ubuf, size_t words)
{
	atomic_long_t *bm = (atomic_long_t *)slot->dirty_bitmap;
	u64 pages = 0;
	size_t w;

	lockdep_assert_held(&vm->slots_lock);
	if (!trace_eptmmu_dirty_log_pages_enabled()) {
		/* The bit sets racing the copy are harmless, as above. */
		return data_race(copy_to_user(ubuf, slot->dirty_bitmap,
					      words * sizeof(u64))) ? -EFAULT : 0;
	}
	for (w = 0; w < words; w++) {
		u64 v = atomic_long_read(&bm[w]);

		if (put_user(v, &ubuf[w]))
			return -EFAULT;
		pages += hweight64(v);
	}
	trace_eptmmu_dirty_log_pages(EPTMMU_TRACE_LOG_HARVEST, slot->id, pages);
	return 0;
}

/* The dirty-log event for @npages bits of @buf, counted only while it is on. */
static void trace_log_pages(int op, struct eptmmu_slot *slot, const u64 *buf,
			    u64 npages)
{
	if (trace_eptmmu_dirty_log_pages_enabled())
		trace_eptmmu_dirty_log_pages(op, slot->id,
					     bitmap_weight((const unsigned long *)buf,
							   npages));
}

/**
 * eptmmu_dirty_log_sync() - get every vCPU's PML log into the bitmaps
 * @vm: the VM (PML on)
 *
 * R-PML-DRAIN: the CPU logs a write in the PML buffer of the vCPU that
 * made it, and that vCPU drains the buffer into the bitmaps (through
 * eptmmu_mark_dirty(), on its own thread) at every VM exit, before
 * interrupts come back on.  A vCPU still in the guest may hold entries
 * for writes made before this harvest: each backend kicks its running
 * vCPUs out and returns once they have drained.  A write the CPU logs
 * after that is newer than the harvest; its D stays set (or is cleared
 * by this harvest, and the entry reports the page again later), so the
 * next harvest reports it.  Sleeps; no mmu_lock held.
 */
/* R-PML-DRAIN */
void eptmmu_dirty_log_sync(struct eptmmu_vm *vm)
{
	int i, n;

	might_sleep();
	if (eptmmu_broken(pml_no_drain))
		return;
	/* Pairs with the release in eptmmu_vm_add_vcpu(). */
	n = atomic_read_acquire(&vm->nr_vcpus);
	for (i = 0; i < n; i++) {
		struct eptmmu_vcpu *vcpu = READ_ONCE(vm->vcpus[i]);

		if (vcpu->ops->sync_dirty_log)
			vcpu->ops->sync_dirty_log(vcpu);
	}
}

static struct eptmmu_slot *logging_slot(struct eptmmu_vm *vm, u32 id, int *r)
{
	struct eptmmu_slot *s;

	lockdep_assert_held(&vm->slots_lock);
	/* The same errno as EPTMMU_SET_MEMSLOT for an impossible id. */
	*r = -EINVAL;
	if (id >= EPTMMU_MAX_MEMSLOTS)
		return NULL;
	s = eptmmu_slot_by_id(eptmmu_slots(vm), id);
	if (!s)
		*r = -ENOENT;
	else if (s->dirty_bitmap)
		*r = 0;
	return *r ? NULL : s;
}

/**
 * eptmmu_get_dirty_log() - EPTMMU_GET_DIRTY_LOG
 * @vm: the VM
 * @log: the request from user space
 *
 * Return: 0 or a negative errno (include/uapi/eptmmu.h).
 */
/* R-DIRTY-INVARIANT */
int eptmmu_get_dirty_log(struct eptmmu_vm *vm, struct eptmmu_dirty_log *log)
{
	bool keep = log->flags & EPTMMU_DIRTY_LOG_NO_CLEAR;
	void __user *ubuf = u64_to_user_ptr(log->bitmap);
	unsigned int budget = EPTMMU_DIRTY_LOG_YIELD_WORDS;
	struct wrprot_cursor cursor = { .valid = false };
	bool flush = false, dbit, pml;
	struct eptmmu_slot *slot;
	u64 *buf = NULL;
	size_t words, w;
	int r;

	if (log->flags & ~EPTMMU_DIRTY_LOG_NO_CLEAR || log->first_page ||
	    log->num_pages)
		return -EINVAL;
	mutex_lock(&vm->slots_lock);
	slot = logging_slot(vm, log->slot, &r);
	if (!slot)
		goto out;
	words = DIV_ROUND_UP(slot->npages, 64);
	dbit = eptmmu_slot_logs_dbit(slot);
	pml = eptmmu_slot_logs_pml(vm, slot);
	/* R-PML-DRAIN: what the CPU logged is in the bitmap from here on. */
	if (pml)
		eptmmu_dirty_log_sync(vm);
	/* A peek harvests nothing: its copy failing is soon enough. */
	if (keep && !dbit) {
		r = peek_bitmap(vm, slot, ubuf, words);
		goto out;
	}
	/* Find out now, while nothing is harvested, if the buffer is bad. */
	r = -EFAULT;
	if (clear_user(ubuf, words * sizeof(u64)))
		goto out;
	r = -ENOMEM;
	/* Every word is written below, by the harvest. */
	buf = kvmalloc_array(words, sizeof(u64), GFP_KERNEL_ACCOUNT);
	if (!buf)
		goto out;

	write_lock(&vm->mmu_lock);
	rcu_read_lock();
	if (dbit)
		harvest_dbits(vm, slot, &flush);
	for (w = 0; w < words; w++) {
		atomic_long_t *word = (atomic_long_t *)&slot->dirty_bitmap[w];
		u64 mask;

		dirty_log_cond_resched(vm, &flush, &budget, &cursor);
		mask = keep ? atomic_long_read(word) : atomic_long_xchg(word, 0);
		buf[w] = mask;
		if (!mask || keep)
			continue;
		/*
		 * Aging without A/D drops W without a flush, so a vCPU may
		 * still hold a writable translation of a page whose SPTE
		 * looks protected: whenever pages were harvested, flush,
		 * whatever the SPTEs said.
		 */
		flush = true;
		if (!dbit)
			reprotect_mask(vm, &cursor, slot->base_gfn + w * 64,
				       mask, pml, &flush);
	}
	if (flush)
		eptmmu_flush_remote_tlbs(vm);
	rcu_read_unlock();
	write_unlock(&vm->mmu_lock);
	trace_log_pages(EPTMMU_TRACE_LOG_HARVEST, slot, buf, slot->npages);
	r = 0;
	if (copy_to_user(ubuf, buf, words * sizeof(u64))) {
		/*
		 * The buffer went away after clear_user() said it was fine:
		 * give the pages back to the log rather than lose them (they
		 * stay re-protected, which the invariant allows).
		 */
		for (w = 0; w < words; w++)
			atomic_long_or(buf[w],
				       (atomic_long_t *)&slot->dirty_bitmap[w]);
		r = -EFAULT;
	}
out:
	mutex_unlock(&vm->slots_lock);
	kvfree(buf);
	return r;
}
EXPORT_SYMBOL_IF_KUNIT(eptmmu_get_dirty_log);

/**
 * eptmmu_clear_dirty_log() - EPTMMU_CLEAR_DIRTY_LOG (manual protect)
 * @vm: the VM
 * @log: the request: pages [first_page, +num_pages) whose bits are set
 *
 * Return: 0 or a negative errno (include/uapi/eptmmu.h).
 */
int eptmmu_clear_dirty_log(struct eptmmu_vm *vm, struct eptmmu_dirty_log *log)
{
	void __user *ubuf = u64_to_user_ptr(log->bitmap);
	unsigned int budget = EPTMMU_DIRTY_LOG_YIELD_WORDS;
	struct wrprot_cursor cursor = { .valid = false };
	bool flush = false, dbit;
	struct eptmmu_slot *slot;
	u64 *buf = NULL, end;
	size_t words, w;
	int r;

	if (log->flags || log->first_page % 64 || !log->num_pages)
		return -EINVAL;
	mutex_lock(&vm->slots_lock);
	slot = logging_slot(vm, log->slot, &r);
	if (!slot)
		goto out;
	r = -EINVAL;
	if (check_add_overflow(log->first_page, log->num_pages, &end) ||
	    end > slot->npages || (log->num_pages % 64 && end != slot->npages))
		goto out;
	words = DIV_ROUND_UP(log->num_pages, 64);
	r = -ENOMEM;
	/* Every word is written by the copy, or the CLEAR fails. */
	buf = kvmalloc_array(words, sizeof(u64), GFP_KERNEL_ACCOUNT);
	if (!buf)
		goto out;
	r = -EFAULT;
	if (copy_from_user(buf, ubuf, words * sizeof(u64)))
		goto out;
	dbit = eptmmu_slot_logs_dbit(slot);

	write_lock(&vm->mmu_lock);
	rcu_read_lock();
	for (w = 0; w < words; w++) {
		u64 first = log->first_page + w * 64;
		atomic_long_t *word =
			(atomic_long_t *)&slot->dirty_bitmap[first / 64];
		u64 mask = buf[w];

		dirty_log_cond_resched(vm, &flush, &budget, &cursor);
		if (end - first < 64)
			mask &= BIT_ULL(end - first) - 1;
		if (!mask)
			continue;
		atomic_long_andnot(mask, word);
		flush = true;
		/*
		 * With D bits, the next harvest collects whatever D is set.
		 * With PML, D goes: the next write sets it and is logged.
		 */
		if (!dbit)
			reprotect_mask(vm, &cursor, slot->base_gfn + first,
				       mask, eptmmu_slot_logs_pml(vm, slot),
				       &flush);
	}
	if (flush)
		eptmmu_flush_remote_tlbs(vm);
	rcu_read_unlock();
	write_unlock(&vm->mmu_lock);
	trace_log_pages(EPTMMU_TRACE_LOG_CLEAR, slot, buf, log->num_pages);
	r = 0;
out:
	mutex_unlock(&vm->slots_lock);
	kvfree(buf);
	return r;
}
EXPORT_SYMBOL_IF_KUNIT(eptmmu_clear_dirty_log);

/**
 * eptmmu_dirty_log_clear_pages() - take pages out of the log, re-protect them
 * @vm: the VM, slots_lock held
 * @pages: the pages, by memslot id and offset (a dirty-ring reset's copy)
 * @n: how many
 *
 * For each page: W is withdrawn (with D-bit or PML logging, D is cleared) and
 * its bitmap bit cleared, so that the next write is logged again -- by a
 * fault, or by the D bit the CPU sets (which a GET collects, or a
 * page-modification log reports).  Entries that name no logging slot
 * or a page past its end are skipped: the slot was deleted or stopped
 * logging since the entry was made, or user space wrote it.  Returns when
 * every vCPU's TLB has the pages protected.
 */
void eptmmu_dirty_log_clear_pages(struct eptmmu_vm *vm,
				  const struct eptmmu_dirty_gfn *pages,
				  size_t n)
{
	unsigned int budget = EPTMMU_DIRTY_LOG_YIELD_WORDS;
	struct wrprot_cursor cursor = { .valid = false };
	struct eptmmu_slot *slot = NULL;
	u64 word = 0, mask = 0;
	bool flush = false;
	size_t i;

	lockdep_assert_held(&vm->slots_lock);
	write_lock(&vm->mmu_lock);
	rcu_read_lock();
	/*
	 * Pages of one bitmap word in a row (a ring holds a guest's writes in
	 * the order it made them) are cleared and re-protected together, as a
	 * CLEAR's word is.
	 */
	for (i = 0; i <= n; i++) {
		u64 off = i < n ? pages[i].offset : 0;

		if (i < n && slot && slot->id == pages[i].slot &&
		    off < slot->npages && off / 64 == word) {
			mask |= BIT_ULL(off % 64);
			continue;
		}
		if (mask) {
			dirty_log_cond_resched(vm, &flush, &budget, &cursor);
			/*
			 * With D bits the D goes, recorded into the bitmap
			 * (R-DIRTY-DBIT), so the bits are cleared after: the
			 * write it records is one the caller copies.
			 */
			reprotect_mask(vm, &cursor, slot->base_gfn + word * 64,
				       mask, eptmmu_slot_logs_dbit(slot) ||
				       eptmmu_slot_logs_pml(vm, slot), &flush);
			atomic_long_andnot(mask, (atomic_long_t *)
					   &slot->dirty_bitmap[word]);
			/*
			 * Always, as in a CLEAR: aging may have dropped W, and
			 * a TLB entry with D set would write without setting
			 * it again.
			 */
			flush = true;
		}
		mask = 0;
		if (i == n)
			break;
		if (!slot || slot->id != pages[i].slot)
			slot = eptmmu_slot_by_id(eptmmu_slots(vm),
						 pages[i].slot);
		if (slot && !slot->dirty_bitmap)
			slot = NULL;
		if (!slot || off >= slot->npages)
			continue;
		word = off / 64;
		mask = BIT_ULL(off % 64);
	}
	if (flush)
		eptmmu_flush_remote_tlbs(vm);
	rcu_read_unlock();
	write_unlock(&vm->mmu_lock);
}
