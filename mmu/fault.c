// SPDX-License-Identifier: GPL-2.0
/*
 * The slow page fault: memslot, host page, mmu_lock for read, install.
 */
#include <linux/mm.h>
#include <linux/pgtable.h>
#include <linux/sched/mm.h>

#include <eptmmu/audit.h>
#include <eptmmu/export.h>
#include <eptmmu/inject.h>
#include <eptmmu/mmu.h>
#include <eptmmu/trace.h>

struct fault {
	u64 gfn;
	bool write;
	u64 need;		/* the RWX bits the access needs */
	struct eptmmu_slot *slot;
	unsigned long hva;
	unsigned long seq;
	struct page *page;
	bool host_writable;
	int host_level;
	int level;
	bool stale;		/* broken=skip_invalidate_recheck let it race */
};

/* The PUD over @hva, read once; false if it or a level above is empty. */
static bool host_pud(struct mm_struct *mm, unsigned long hva, pud_t *pud)
{
	pgd_t *pgd = pgd_offset(mm, hva);
	p4d_t p4d;

	if (pgd_none(READ_ONCE(*pgd)))
		return false;
	p4d = READ_ONCE(*p4d_offset(pgd, hva));
	if (!p4d_present(p4d))
		return false;
	*pud = READ_ONCE(*pud_offset(&p4d, hva));
	return pud_present(*pud);
}

/**
 * eptmmu_host_lookup() - what the host's page tables map at @hva now
 * @mm: the address space; its mmap_lock held for read, or @mm is
 *	current's and interrupts are off
 * @hva: a host address
 * @h: filled with the pfn at @hva, the mapping's level and its write bit
 *
 * A lockless read, for any mm: the auditor runs from KUnit's cleanup
 * kthread, which has no current->mm to use GUP-fast on.  mmap_lock keeps
 * the upper tables alive, or, for the slow fault's lockless path, having
 * interrupts off does, as for GUP-fast: x86 frees page-table pages only
 * after an IPI or an RCU grace period, and this CPU holds off both.  A
 * PTE table the host frees or a split or
 * collapse under us is what the invalidation protocol reports (the fault's
 * sequence, the auditor's write-held mmu_lock).  Only static inlines of
 * <linux/pgtable.h>: nothing here needs an exported symbol.
 *
 * Return: true if a present page is mapped at @hva.
 */
bool eptmmu_host_lookup(struct mm_struct *mm, unsigned long hva,
			struct eptmmu_host_map *h)
{
	pud_t pud;
	pmd_t pmd;
	pte_t pte;

	if (!irqs_disabled())
		mmap_assert_locked(mm);
	if (!host_pud(mm, hva, &pud))
		return false;
	if (pud_leaf(pud)) {
		h->level = PG_LEVEL_1G;
		h->pfn = pud_pfn(pud) + ((hva & ~PUD_MASK) >> PAGE_SHIFT);
		h->writable = pud_write(pud);
		return true;
	}
	pmd = pmdp_get_lockless(pmd_offset(&pud, hva));
	if (!pmd_present(pmd))
		return false;
	if (pmd_leaf(pmd)) {
		h->level = PG_LEVEL_2M;
		h->pfn = pmd_pfn(pmd) + ((hva & ~PMD_MASK) >> PAGE_SHIFT);
		h->writable = pmd_write(pmd);
		return true;
	}
	pte = ptep_get_lockless(pte_offset_kernel(&pmd, hva));
	if (!pte_present(pte))
		return false;
	h->level = PG_LEVEL_4K;
	h->pfn = pte_pfn(pte);
	h->writable = pte_write(pte);
	return true;
}

/**
 * eptmmu_host_level_2m() - how large a page the host maps at @hva, 2M at least
 * @mm: the address space, its mmap_lock held for read
 * @c: the scan's cursor (struct eptmmu_host_cursor)
 * @hva: a 2M-aligned host address
 *
 * For scans of 2M ranges, in ascending order: their PMDs lie side by side
 * in one table, so a scan descends from the PGD once per 1G and then reads
 * one PMD per range, where eptmmu_host_lookup() walks four levels for
 * each (dirty-log stop over a large slot spent most of its time there).
 * mmap_lock keeps the PMD table the cursor points at alive: only munmap
 * and exit free one, with the lock held for write.  Entries are read as
 * eptmmu_host_lookup() reads them, a snapshot that a host change may
 * overtake.
 *
 * Return: PG_LEVEL_1G or PG_LEVEL_2M where the host maps a huge page, else
 * PG_LEVEL_4K (small pages, or nothing).
 */
int eptmmu_host_level_2m(struct mm_struct *mm, struct eptmmu_host_cursor *c,
			 unsigned long hva)
{
	unsigned long top = hva & PUD_MASK;
	pud_t pud;
	pmd_t pmd;

	mmap_assert_locked(mm);
	if (!c->valid || c->top != top) {
		c->valid = true;
		c->top = top;
		c->pmd = NULL;
		c->level = PG_LEVEL_4K;
		if (!host_pud(mm, top, &pud))
			return c->level;
		if (pud_leaf(pud))
			c->level = PG_LEVEL_1G;
		else
			c->pmd = pmd_offset(&pud, top);
	}
	if (!c->pmd)
		return c->level;
	pmd = pmdp_get_lockless(c->pmd + pmd_index(hva));
	return pmd_present(pmd) && pmd_leaf(pmd) ? PG_LEVEL_2M : PG_LEVEL_4K;
}

/*
 * How large a page the host maps at @hva.  Only a huge host mapping may
 * become a huge leaf: a huge folio mapped by small PTEs can have holes.
 */
static int host_mapping_level(struct mm_struct *mm, unsigned long hva)
{
	struct eptmmu_host_map h;

	return eptmmu_host_lookup(mm, hva, &h) ? h.level : PG_LEVEL_4K;
}

/**
 * resolve_page_fast() - the host page without mmap_lock, if it is simple
 * @vm: the VM
 * @f: the fault; sets page, host_writable and host_level on success
 *
 * The common case, as KVM's hva_to_pfn() has it: the vCPU thread runs in
 * the VM's mm and the host maps the page already, writable (any fault),
 * or at all (a read).  GUP-fast takes the reference without mmap_lock,
 * so vCPUs faulting in parallel do not queue on it; the host level is
 * read the same way, interrupts off.  Anything else (no PTE yet, COW to
 * break, a poisoned page, another thread's mm) is resolve_page()'s.  A
 * host change from here on is caught as for GUP: the sequence was read
 * before (smp_rmb()), and the PTE GUP-fast read was still there when it
 * took its reference, so an invalidation that removes it has started
 * after the snapshot and is seen under mmu_lock (R-INVAL-SEQ).
 *
 * Return: true if @f now holds a page reference.
 */
static bool resolve_page_fast(struct eptmmu_vm *vm, struct fault *f)
{
	unsigned long flags;

	if (current->mm != vm->mm)
		return false;
	/*
	 * While an invalidation runs, the page GUP-fast finds is the one
	 * being taken away and the fault can only retry: take the slow path,
	 * whose GUP waits for the host (a long invalidation otherwise spins
	 * a vCPU through its whole retry budget, EAGAIN).  A hint only: the
	 * recheck under mmu_lock decides (R-INVAL-SEQ).
	 */
	if (READ_ONCE(vm->mmu_invalidate_in_progress))
		return false;
	if (get_user_page_fast_only(f->hva, FOLL_WRITE, &f->page))
		f->host_writable = true;
	else if (!f->write && get_user_page_fast_only(f->hva, 0, &f->page))
		f->host_writable = false;
	else
		return false;
	local_irq_save(flags);
	f->host_level = host_mapping_level(vm->mm, f->hva);
	local_irq_restore(flags);
	atomic64_inc(&vm->stats.gup_fast);
	return true;
}

/*
 * Find and reference the host page.  No pin is kept past the install:
 * the MMU notifier is what keeps the SPTE in step with the host.
 */
static int resolve_page(struct eptmmu_vm *vm, struct fault *f)
{
	struct mm_struct *mm = vm->mm;
	struct vm_area_struct *vma;
	unsigned int gup = 0;
	struct page *wpage;
	long n;
	int r = 0;

	if (resolve_page_fast(vm, f))
		return 0;
	if (!mmget_not_zero(mm))
		return -EFAULT;
	mmap_read_lock(mm);
	vma = vma_lookup(mm, f->hva);
	if (!vma) {
		r = -EFAULT;
		goto out;
	}
	if (f->write) {
		if (!(vma->vm_flags & VM_WRITE)) {
			r = -EACCES;
			goto out;
		}
		gup = FOLL_WRITE;
	}
	/* Without FOLL_HWPOISON, GUP reports a poisoned page as -EFAULT. */
	n = get_user_pages_remote(mm, f->hva, 1, gup | FOLL_HWPOISON, &f->page,
				  NULL);
	if (n != 1) {
		/*
		 * A poisoned page and a host out of memory are worth telling
		 * user space apart; anything else means no usable memory.
		 */
		r = n == -EHWPOISON || n == -ENOMEM ? n : -EFAULT;
		goto out;
	}
	f->host_writable = f->write;
	f->host_level = host_mapping_level(mm, f->hva);
out:
	mmap_read_unlock(mm);
	/*
	 * A read fault maps writable only if the host PTE already is: asking
	 * GUP for write would break COW (zero page, KSM) on a mere read.
	 */
	if (!r && !f->write && current->mm == mm &&
	    get_user_page_fast_only(f->hva, FOLL_WRITE, &wpage)) {
		if (wpage == f->page) {
			f->host_writable = true;
			put_page(wpage);
		} else {
			put_page(f->page);
			f->page = wpage;
			f->host_writable = true;
		}
	}
	mmput(mm);
	return r;
}

/**
 * eptmmu_slot_max_level() - the largest leaf the memslot allows at @gfn
 * @s: the memslot
 * @gfn: a gfn in it
 *
 * A huge leaf must lie wholly inside the slot, with gfn and hva congruent
 * modulo its size; a slot that logs dirty pages gets 4K leaves only.
 *
 * Return: PG_LEVEL_4K, PG_LEVEL_2M or PG_LEVEL_1G.
 */
int eptmmu_slot_max_level(const struct eptmmu_slot *s, u64 gfn)
{
	int level;

	if (s->flags & EPTMMU_MEM_LOG_DIRTY_PAGES)
		return PG_LEVEL_4K;
	/* The CPU's EPT may lack 1G (Sandy Bridge) or even 2M leaves. */
	for (level = eptmmu_max_leaf_level; level > PG_LEVEL_4K; level--) {
		u64 pages = SPTE_PAGES_PER(level);
		u64 base = eptmmu_gfn_round(gfn, level);

		if (base < s->base_gfn || base + pages > s->base_gfn + s->npages)
			continue;
		/* gfn and hva must be congruent modulo the leaf size. */
		if (((s->userspace_addr >> PAGE_SHIFT) - s->base_gfn) & (pages - 1))
			continue;
		return level;
	}
	return PG_LEVEL_4K;
}

/* R-INVAL-SEQ */
static bool invalidation_raced(struct eptmmu_vm *vm, struct fault *f)
{
	bool raced;

	lockdep_assert_held_read(&vm->mmu_lock);
	raced = (vm->mmu_invalidate_in_progress &&
		 f->hva >= vm->mmu_invalidate_start &&
		 f->hva < vm->mmu_invalidate_end) ||
		vm->mmu_invalidate_seq != f->seq;
	if (eptmmu_broken(skip_invalidate_recheck)) {
		f->stale = raced;
		return false;
	}
	return raced;
}

static void count_map(struct eptmmu_vm *vm, int level)
{
	if (level == PG_LEVEL_1G)
		atomic64_inc(&vm->stats.maps_1g);
	else if (level == PG_LEVEL_2M)
		atomic64_inc(&vm->stats.maps_2m);
	else
		atomic64_inc(&vm->stats.maps_4k);
}

/*
 * A table in the way of a huge leaf: its 4K leaves give way.  This clears
 * entries under the read lock, so it is a zap like any other
 * (R-ZAP-FLUSH); the caller ends it after its flush.
 */
static int replace_table(struct eptmmu_vm *vm, struct eptmmu_iter *it,
			 bool *flush, bool *zapping)
{
	if (!*zapping) {
		eptmmu_zap_begin(vm);
		*zapping = true;
	}
	return eptmmu_freeze_and_clear(vm, it, flush) ? 0 : EPTMMU_FAULT_RETRY;
}

/* R-FAULT-KEEP */
static int install_leaf(struct eptmmu_vcpu *vcpu, struct eptmmu_iter *it,
			u64 new, u64 need, bool *flush, bool *zapping)
{
	struct eptmmu_vm *vm = vcpu->vm;
	bool broken = eptmmu_broken(fault_replaces_leaf);
	u64 old = it->old_spte;

	if (spte_is_present(old) && !spte_is_last(old, it->level)) {
		if (replace_table(vm, it, flush, zapping))
			return EPTMMU_FAULT_RETRY;
		old = 0;
		trace_eptmmu_huge_recreate(it->gfn, it->gfn + SPTE_PAGES_PER(it->level), it->level);
	} else if (spte_is_present(old) && spte_pfn(old) == spte_pfn(new)) {
		/*
		 * Someone (another vCPU, the fast path) already mapped what
		 * this fault needs, maybe with more: W granted since, a D
		 * the CPU set since.  Replacing it would take those away
		 * for nothing, and a D that goes unrecorded is a dirty page
		 * missing from the log.
		 */
		if (!broken && (old & need) == need)
			return 0;
		if (broken && (old & VMX_EPT_RWX_MASK & ~new) == 0 &&
		    (new & VMX_EPT_RWX_MASK & ~old) == 0)
			return 0;
	}
	if (!eptmmu_spte_try_cmpxchg(it->sptep, &old, new))
		return EPTMMU_FAULT_RETRY;
	/* What the replaced leaf had (W, D, young) is accounted for. */
	if (!broken)
		eptmmu_leaf_changed(vm, it->gfn, old, new, it->level);
	if (spte_needs_tlb_flush(old, new, it->level))
		*flush = true;
	count_map(vm, it->level);
	eptmmu_stat_installed(vcpu, old, new, it->level);
	return 0;
}

static int map_page(struct eptmmu_vcpu *vcpu, struct fault *f, u64 new)
{
	struct eptmmu_vm *vm = vcpu->vm;
	bool flush = false, zapping = false;
	struct eptmmu_iter it;
	int r = EPTMMU_FAULT_RETRY, e = 0;

	/* Anything but an installed leaf leaves r at "retry the access". */
	for_each_eptmmu_spte(&it, vm, f->gfn, f->gfn + 1, f->level) {
		if (spte_is_frozen(it.old_spte))
			break;		/* a zap owns it */
		if (it.level == f->level) {
			r = install_leaf(vcpu, &it, new, f->need, &flush,
					 &zapping);
			break;
		}
		if (!spte_is_present(it.old_spte))
			e = eptmmu_link_table(vm, &it, &vcpu->cache);
		else if (spte_is_last(it.old_spte, it.level))
			e = eptmmu_split_huge(vm, &it, &vcpu->cache);
		if (e) {
			r = e;
			break;
		}
	}
	if (zapping)
		eptmmu_zap_end(vm, flush);
	else if (flush)
		eptmmu_flush_remote_tlbs(vm);
	return r;
}

/*
 * No memslot: leave an MMIO SPTE so the next access exits at once.
 *
 * Bounds: a guest may touch any gpa below EPTMMU_MAX_GPA (2^48) that no
 * slot covers, and each 2 MiB of such gpas can cost up to three tables.
 * They are charged to the VM's creator (GFP_KERNEL_ACCOUNT, so its memcg
 * limit applies) and go with the VM; there is no separate cap.
 *
 * The generation stored in the SPTE is never read to decide anything:
 * KVM needs it to invalidate MMIO SPTEs lazily, here creating a slot zaps
 * the MMIO SPTEs it covers before it returns (R-MEMSLOT-SRCU).  It stays
 * for EPTMMU_GET_SPTE-style diagnosis of which array made the entry.
 */
static int install_mmio(struct eptmmu_vcpu *vcpu, u64 gfn, u64 generation)
{
	struct eptmmu_vm *vm = vcpu->vm;
	struct eptmmu_iter it;
	int r = 0;

	r = eptmmu_pt_cache_topup(vm, &vcpu->cache);
	if (r)
		return r;
	read_lock(&vm->mmu_lock);
	rcu_read_lock();
	for_each_eptmmu_spte(&it, vm, gfn, gfn + 1, PG_LEVEL_4K) {
		if (spte_is_frozen(it.old_spte))
			break;
		if (it.level == PG_LEVEL_4K) {
			if (!spte_is_present(it.old_spte) &&
			    eptmmu_spte_try_cmpxchg(it.sptep, &it.old_spte,
						    spte_make_mmio(generation)))
				eptmmu_stat_mmio_created(vcpu, it.old_spte);
			break;
		}
		/* A present leaf above 4K would be in a memslot. */
		if (spte_is_present(it.old_spte))
			continue;
		if (eptmmu_link_table(vm, &it, &vcpu->cache))
			break;
	}
	rcu_read_unlock();
	read_unlock(&vm->mmu_lock);
	return EPTMMU_FAULT_MMIO;
}

/**
 * eptmmu_slow_page_fault() - resolve an EPT violation under mmu_lock (read)
 * @vcpu: the faulting vCPU
 * @gpa: guest-physical address
 * @exit_qual: SDM exit qualification (bits 0-2: the access)
 *
 * Return: 0 (mapped), EPTMMU_FAULT_RETRY (something changed: retry the
 * access), EPTMMU_FAULT_MMIO (no memslot), -EACCES (write to read-only
 * memory), -EFAULT (no process memory), -EHWPOISON (the host page is
 * poisoned), -ENOMEM.
 */
int eptmmu_slow_page_fault(struct eptmmu_vcpu *vcpu, u64 gpa, u64 exit_qual)
{
	struct eptmmu_vm *vm = vcpu->vm;
	struct eptmmu_slots *slots;
	struct fault f = {
		.gfn = gpa >> PAGE_SHIFT,
		.write = exit_qual & EPT_VIOLATION_ACC_WRITE,
		/* Bits 0-2 of the qualification are R, W, X, as in an SPTE. */
		.need = exit_qual & VMX_EPT_RWX_MASK,
	};
	unsigned int access;
	u64 pfn, new;
	int idx, r;

	WRITE_ONCE(vcpu->stats.slow_faults, vcpu->stats.slow_faults + 1);
	idx = srcu_read_lock(&vm->srcu);
	slots = eptmmu_slots(vm);
	f.slot = eptmmu_gfn_to_slot(slots, f.gfn);
	if (!f.slot) {
		r = install_mmio(vcpu, f.gfn, slots->generation);
		goto out;
	}
	/*
	 * R-MEMSLOT-DELETE: the slot is going away and its delete may have
	 * zapped this gfn already.  Nothing may map it again, not even as
	 * MMIO: the access exits as it will once the delete is done.
	 */
	if (f.slot->flags & EPTMMU_SLOT_INVALID) {
		r = EPTMMU_FAULT_MMIO;
		goto out;
	}
	if (f.write && (f.slot->flags & EPTMMU_MEM_READONLY)) {
		r = -EACCES;
		goto out;
	}
	r = eptmmu_pt_cache_topup(vm, &vcpu->cache);
	if (r)
		goto out;

	/*
	 * Snapshot before looking at the host page tables: an invalidation
	 * that starts after this point bumps the sequence (or is still in
	 * progress) by the time we hold mmu_lock.
	 */
	f.seq = READ_ONCE(vm->mmu_invalidate_seq);
	/* Order the snapshot before the host page-table walk (GUP). */
	smp_rmb();
	f.hva = f.slot->userspace_addr + ((f.gfn - f.slot->base_gfn) << PAGE_SHIFT);
	r = resolve_page(vm, &f);
	if (r)
		goto out;
	if (f.slot->flags & EPTMMU_MEM_READONLY)
		f.host_writable = false;

	f.level = min(f.host_level, eptmmu_slot_max_level(f.slot, f.gfn));
	pfn = page_to_pfn(f.page);
	while (f.level > PG_LEVEL_4K &&
	       (pfn & (SPTE_PAGES_PER(f.level) - 1)) !=
	       (f.gfn & (SPTE_PAGES_PER(f.level) - 1)))
		f.level--;
	pfn -= f.gfn & (SPTE_PAGES_PER(f.level) - 1);

	access = VMX_EPT_READABLE_MASK | VMX_EPT_EXECUTABLE_MASK;
	/* A write-tracked slot learns of the first write through a fault. */
	if (f.host_writable &&
	    (f.write || !(f.slot->flags & EPTMMU_MEM_LOG_DIRTY_PAGES)))
		access |= VMX_EPT_WRITABLE_MASK;
	new = spte_make_leaf(pfn, f.level, access, f.host_writable,
			     X86_MEMTYPE_WB, vm->ad);
	if (vm->ad) {
		new |= VMX_EPT_ACCESS_BIT;
		if (f.write)
			new |= VMX_EPT_DIRTY_BIT;
	}

	/* A logging slot's leaves are 4K; a read-only one's never writable. */
	eptmmu_prove(f.level > PG_LEVEL_4K &&
		     (f.slot->flags & EPTMMU_MEM_LOG_DIRTY_PAGES));
	eptmmu_prove((new & (VMX_EPT_WRITABLE_MASK | SPTE_HOST_WRITABLE)) &&
		     (f.slot->flags & EPTMMU_MEM_READONLY));
	eptmmu_park(EPTMMU_PARK_SLOW_BEFORE_LOCK);

	read_lock(&vm->mmu_lock);
	if (invalidation_raced(vm, &f)) {
		r = EPTMMU_FAULT_RETRY;
	} else {
		rcu_read_lock();
		r = map_page(vcpu, &f, new);
		rcu_read_unlock();
	}
	read_unlock(&vm->mmu_lock);
	/* A writable leaf in a logging slot: this write must be in the log. */
	if (!r && (new & VMX_EPT_WRITABLE_MASK))
		eptmmu_vcpu_mark_dirty(vcpu, f.slot, f.gfn);
	if (!r)
		vcpu->last_fault_level = f.level;
	/*
	 * The broken variant maps pages an invalidation has already let go
	 * of; the host may free them, and the stale leaf's zap would then
	 * mark a freed page dirty (the host's "Bad page state" under a later
	 * step).  It keeps those pages' references instead: what the tests
	 * see is the stale leaf, and the host stays intact.
	 */
	if (r || !f.stale)
		put_page(f.page);
out:
	srcu_read_unlock(&vm->srcu, idx);
	if (r == EPTMMU_FAULT_RETRY)
		WRITE_ONCE(vcpu->stats.slow_retries, vcpu->stats.slow_retries + 1);
	return r;
}
EXPORT_SYMBOL_IF_KUNIT(eptmmu_slow_page_fault);
