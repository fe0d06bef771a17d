// SPDX-License-Identifier: GPL-2.0
/*
 * The software vCPU: behaves like a CPU walking EPT, so the MMU can be
 * exercised on any x86 host.
 *
 * Like hardware it caches translations in a TLB that only a flush request
 * empties, so an MMU change that forgets to flush is observable: the vCPU
 * keeps using the old translation.  The TLB lock is held across
 * walk + fill + the access itself, which gives a flush request the
 * hardware meaning: once it returns, no access is in flight through a
 * translation cached before it.
 */
#include <linux/highmem.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include <eptmmu/export.h>
#include <eptmmu/inject.h>
#include <eptmmu/vcpu.h>

#define SOFT_TLB_ENTRIES	64

struct soft_tlb_entry {
	u64 gfn;
	u64 pfn;
	u8 allowed;	/* RWX the whole walk allowed */
	bool dirty;	/* D was set by the walk that filled it */
	bool valid;
};

struct soft_vcpu {
	struct eptmmu_vcpu vcpu;
	/* Held across walk + fill + access; flushes take it too. */
	spinlock_t tlb_lock;
	struct soft_tlb_entry tlb[SOFT_TLB_ENTRIES];
};

enum { XLATE_OK, XLATE_VIOLATION, XLATE_MISCONFIG };

static struct soft_vcpu *to_soft(struct eptmmu_vcpu *vcpu)
{
	return container_of(vcpu, struct soft_vcpu, vcpu);
}

static void soft_flush_tlb(struct eptmmu_vcpu *vcpu)
{
	struct soft_vcpu *sv = to_soft(vcpu);
	int i;

	spin_lock(&sv->tlb_lock);
	for (i = 0; i < SOFT_TLB_ENTRIES; i++)
		sv->tlb[i].valid = false;
	WRITE_ONCE(vcpu->stats.tlb_flushes, vcpu->stats.tlb_flushes + 1);
	spin_unlock(&sv->tlb_lock);
}

/*
 * Set A/D as the CPU does: a locked update of an entry that still maps
 * what the walk saw, with the rights the walk used.  The CPU never sets
 * A/D on an entry that has become non-present, and neither may we: an OR
 * into a zapped or frozen SPTE would turn it into garbage that the
 * frozen-SPTE protocol cannot recognise.  When the entry has changed,
 * the walk must start again (R-SOFT-AD): going on with what it read
 * would write a page whose zap saw D clear, and the host would never
 * learn of the write (R-HOST-DIRTY).
 *
 * Return: false if the walk must start again.
 */
/* R-SOFT-AD */
static bool soft_set_ad(u64 *sptep, u64 seen, u64 bits, u64 need)
{
	u64 old = seen;

	while ((old & bits) != bits) {
		if (!spte_is_present(old) || spte_pfn(old) != spte_pfn(seen) ||
		    (old & need) != need)
			return eptmmu_broken(soft_ad_ignores_change);
		if (eptmmu_spte_try_cmpxchg(sptep, &old, old | bits))
			return true;
	}
	return true;
}

static int soft_walk(struct soft_vcpu *sv, u64 gfn, u8 need, bool write,
		     struct soft_tlb_entry *e, u64 *qual)
{
	struct eptmmu_vm *vm = sv->vcpu.vm;
	u64 *table;
	int level, r;
	u8 allowed;

	rcu_read_lock();
again:
	allowed = VMX_EPT_RWX_MASK;
	level = SPTE_ROOT_LEVEL;
	table = vm->root->spt;
	for (;;) {
		u64 *sptep = &table[eptmmu_spte_index(gfn, level)];
		u64 spte = READ_ONCE(*sptep);

		if (spte_is_mmio(spte)) {
			r = XLATE_MISCONFIG;
			break;
		}
		allowed &= spte & VMX_EPT_RWX_MASK;
		if (!(spte & VMX_EPT_RWX_MASK)) {
			r = XLATE_VIOLATION;	/* not present */
			break;
		}
		if (!spte_is_last(spte, level)) {
			if (vm->ad && spte_ad_enabled(spte) &&
			    !soft_set_ad(sptep, spte, VMX_EPT_ACCESS_BIT, 0))
				goto again;
			table = eptmmu_spte_to_child(spte);
			level--;
			continue;
		}
		if ((allowed & need) != need) {
			r = XLATE_VIOLATION;
			break;
		}
		eptmmu_park(EPTMMU_PARK_SOFT_BEFORE_AD);
		if (vm->ad && spte_ad_enabled(spte) &&
		    !soft_set_ad(sptep, spte, VMX_EPT_ACCESS_BIT |
				 (write ? VMX_EPT_DIRTY_BIT : 0), need))
			goto again;
		e->gfn = gfn;
		e->pfn = spte_pfn(spte) + (gfn & (SPTE_PAGES_PER(level) - 1));
		e->allowed = allowed;
		e->dirty = write;
		e->valid = true;
		r = XLATE_OK;
		break;
	}
	rcu_read_unlock();
	*qual |= (u64)allowed << EPT_VIOLATION_RWX_SHIFT;
	return r;
}

/*
 * The walk needs no lock: tables it can reach live until an RCU grace
 * period after they are unlinked.  The detector check makes it take
 * mmu_lock inside tlb_lock, which inverts the flush path's order.
 */
/* R-LOCK-ORDER: the walk takes RCU only, never mmu_lock. */
static int soft_walk_checked(struct soft_vcpu *sv, u64 gfn, u8 need,
			     bool write, struct soft_tlb_entry *e, u64 *qual)
{
	int r;

	if (!eptmmu_broken(walk_takes_mmu_lock))
		return soft_walk(sv, gfn, need, write, e, qual);
	read_lock(&sv->vcpu.vm->mmu_lock);
	r = soft_walk(sv, gfn, need, write, e, qual);
	read_unlock(&sv->vcpu.vm->mmu_lock);
	return r;
}

static void soft_do_access(u64 pfn, struct eptmmu_access *a)
{
	void *base = kmap_local_pfn(pfn);
	void *p = base + offset_in_page(a->gpa);
	bool write = a->kind == EPTMMU_ACCESS_WRITE;

	/* Guest memory is shared with the process and other vCPUs. */
	switch (a->size) {
	case 1:
		if (write)
			WRITE_ONCE(*(u8 *)p, a->value);
		else
			a->value = READ_ONCE(*(u8 *)p);
		break;
	case 2:
		if (write)
			WRITE_ONCE(*(u16 *)p, a->value);
		else
			a->value = READ_ONCE(*(u16 *)p);
		break;
	case 4:
		if (write)
			WRITE_ONCE(*(u32 *)p, a->value);
		else
			a->value = READ_ONCE(*(u32 *)p);
		break;
	default:
		if (write)
			WRITE_ONCE(*(u64 *)p, a->value);
		else
			a->value = READ_ONCE(*(u64 *)p);
		break;
	}
	kunmap_local(base);
}

/*
 * One access: TLB, else walk; an EPT violation goes to the shared fault
 * entry and the access is tried again, as the CPU would.
 */
static int soft_access(struct eptmmu_vcpu *vcpu, struct eptmmu_access *a,
		       u32 *exit_errno)
{
	static const u8 need_of[] = {
		[EPTMMU_ACCESS_READ] = VMX_EPT_READABLE_MASK,
		[EPTMMU_ACCESS_WRITE] = VMX_EPT_WRITABLE_MASK,
		[EPTMMU_ACCESS_FETCH] = VMX_EPT_EXECUTABLE_MASK,
	};
	static const u64 qual_of[] = {
		[EPTMMU_ACCESS_READ] = EPT_VIOLATION_ACC_READ,
		[EPTMMU_ACCESS_WRITE] = EPT_VIOLATION_ACC_WRITE,
		[EPTMMU_ACCESS_FETCH] = EPT_VIOLATION_ACC_INSTR,
	};
	struct soft_vcpu *sv = to_soft(vcpu);
	bool write = a->kind == EPTMMU_ACCESS_WRITE;
	bool need_dirty = write && vcpu->vm->ad;
	u8 need = need_of[a->kind];
	u64 gfn = a->gpa >> PAGE_SHIFT;
	struct soft_tlb_entry *e = &sv->tlb[gfn % SOFT_TLB_ENTRIES];
	int tries, r, fr;

	for (tries = 0; tries < EPTMMU_ACCESS_MAX_TRIES; tries++) {
		bool atomic = eptmmu_broken(soft_preempt_off);
		u64 qual = qual_of[a->kind];

		/*
		 * R-MAY-SLEEP: tlb_lock sleeps on PREEMPT_RT, so a caller
		 * with preemption off is a bug on every kernel: say so on
		 * the debug ones, which are not all RT.
		 */
		if (atomic)
			preempt_disable();
		might_sleep();
		spin_lock(&sv->tlb_lock);
		if (e->valid && e->gfn == gfn && (e->allowed & need) == need &&
		    (!need_dirty || e->dirty)) {
			WRITE_ONCE(vcpu->stats.tlb_hits, vcpu->stats.tlb_hits + 1);
			r = XLATE_OK;
		} else {
			WRITE_ONCE(vcpu->stats.walks, vcpu->stats.walks + 1);
			/* A faulting access leaves no translation behind. */
			if (e->gfn == gfn)
				e->valid = false;
			r = soft_walk_checked(sv, gfn, need, write, e, &qual);
		}
		if (r == XLATE_OK)
			soft_do_access(e->pfn, a);
		spin_unlock(&sv->tlb_lock);
		if (atomic)
			preempt_enable();
		if (r == XLATE_OK) {
			WRITE_ONCE(vcpu->stats.accesses, vcpu->stats.accesses + 1);
			return EPTMMU_EXIT_DONE;
		}

		fr = eptmmu_page_fault(vcpu, a->gpa, qual);
		if (fr == EPTMMU_FAULT_MMIO) {
			WRITE_ONCE(vcpu->stats.mmio_exits, vcpu->stats.mmio_exits + 1);
			return EPTMMU_EXIT_MMIO;
		}
		if (fr == EPTMMU_FAULT_RING_FULL)
			return EPTMMU_EXIT_RING_FULL;
		if (fr < 0) {
			*exit_errno = -fr;
			return EPTMMU_EXIT_FAULT;
		}
		if (signal_pending(current))
			return EPTMMU_EXIT_INTR;
		cond_resched();
	}
	*exit_errno = EAGAIN;
	return EPTMMU_EXIT_FAULT;
}

static void soft_read_stats(struct eptmmu_vcpu *vcpu,
			    struct eptmmu_vcpu_stats *stats)
{
	/* Flushers bump tlb_flushes under the TLB lock. */
	spin_lock(&to_soft(vcpu)->tlb_lock);
	*stats = vcpu->stats;
	spin_unlock(&to_soft(vcpu)->tlb_lock);
}

static void soft_destroy(struct eptmmu_vcpu *vcpu)
{
	eptmmu_pt_cache_free(vcpu->vm, &vcpu->cache);
	kfree(to_soft(vcpu));
}

static const struct eptmmu_vcpu_ops soft_ops = {
	.name = "soft",
	.max_gpa = EPTMMU_MAX_GPA,
	.access = soft_access,
	.read_stats = soft_read_stats,
	.flush_tlb = soft_flush_tlb,
	.destroy = soft_destroy,
};

/**
 * eptmmu_soft_vcpu_create() - a new software vCPU, published in @vm
 * @vm: the VM; the vCPU lives until the VM is destroyed
 *
 * Return: the vCPU, or ERR_PTR(-ENOMEM / -ENOSPC).
 */
struct eptmmu_vcpu *eptmmu_soft_vcpu_create(struct eptmmu_vm *vm)
{
	struct soft_vcpu *sv = kzalloc(sizeof(*sv), GFP_KERNEL_ACCOUNT);
	int r;

	if (!sv)
		return ERR_PTR(-ENOMEM);
	sv->vcpu.vm = vm;
	sv->vcpu.ops = &soft_ops;
	mutex_init(&sv->vcpu.run_lock);
	spin_lock_init(&sv->tlb_lock);
	r = eptmmu_vm_add_vcpu(vm, &sv->vcpu);
	if (r < 0) {
		kfree(sv);
		return ERR_PTR(r);
	}
	return &sv->vcpu;
}
EXPORT_SYMBOL_IF_KUNIT(eptmmu_soft_vcpu_create);
