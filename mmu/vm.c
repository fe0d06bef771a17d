// SPDX-License-Identifier: GPL-2.0
/*
 * VMs and memslots.
 *
 * The memslot array is copy-on-update: readers (faults, notifiers) hold
 * vm->srcu and never block an update; an update builds a new array under
 * vm->slots_lock, publishes it, waits for readers of the old one, and
 * only then zaps what the old array mapped.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/mm.h>
#include <linux/rcupdate.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include <eptmmu/audit.h>
#include <eptmmu/export.h>
#include <eptmmu/inject.h>
#include <eptmmu/mmu.h>
#include <eptmmu/trace.h>

bool eptmmu_pml_enabled __read_mostly;

struct eptmmu_vm *eptmmu_vm_create(struct mm_struct *mm)
{
	struct eptmmu_slots *slots;
	struct eptmmu_vm *vm;
	int r = -ENOMEM;

	vm = kzalloc(sizeof(*vm), GFP_KERNEL_ACCOUNT);
	if (!vm)
		return ERR_PTR(-ENOMEM);
	refcount_set(&vm->refs, 1);
	mutex_init(&vm->slots_lock);
	mutex_init(&vm->vcpus_lock);
	init_rwsem(&vm->audit_lock);
	rwlock_init(&vm->mmu_lock);
	vm->ad = eptmmu_ad_enabled;
	vm->backend = eptmmu_backend;
	vm->pml = eptmmu_pml_enabled && vm->ad &&
		  vm->backend == EPTMMU_BACKEND_VMX;
	vm->guest_code_gpa = EPTMMU_NO_GUEST_CODE;
	if (init_srcu_struct(&vm->srcu))
		goto free_vm;
	slots = kzalloc(sizeof(*slots), GFP_KERNEL_ACCOUNT);
	if (!slots)
		goto free_srcu;
	RCU_INIT_POINTER(vm->slots, slots);
	vm->root = eptmmu_pt_alloc(vm, GFP_KERNEL_ACCOUNT);
	if (!vm->root)
		goto free_slots;
	vm->root->level = SPTE_ROOT_LEVEL;
	eptmmu_pt_linked(vm);

	mmgrab(mm);
	vm->mm = mm;
	r = eptmmu_notifier_register(vm);
	if (r)
		goto drop_mm;
	return vm;

drop_mm:
	mmdrop(mm);
	eptmmu_free_all_tables(vm);
free_slots:
	kfree(slots);
free_srcu:
	cleanup_srcu_struct(&vm->srcu);
free_vm:
	kfree(vm);
	return ERR_PTR(r);
}
EXPORT_SYMBOL_IF_KUNIT(eptmmu_vm_create);

void eptmmu_vm_get(struct eptmmu_vm *vm)
{
	refcount_inc(&vm->refs);
}

static void vm_destroy(struct eptmmu_vm *vm)
{
	struct eptmmu_slots *slots;
	int i;

	/* No audit may be reading the tree or locking the vCPUs. */
	eptmmu_audit_remove_vm(vm);
	/* After this no notifier callback runs or is running. */
	eptmmu_notifier_unregister(vm);
	for (i = 0; i < atomic_read(&vm->nr_vcpus); i++) {
		eptmmu_dirty_ring_free(vm->vcpus[i]);
		vm->vcpus[i]->ops->destroy(vm->vcpus[i]);
	}
	eptmmu_free_all_tables(vm);
	WARN_ON_ONCE(atomic64_read(&vm->stats.tables));
	slots = rcu_dereference_protected(vm->slots, true);
	for (i = 0; i < slots->nr; i++)
		kvfree(slots->slots[i].dirty_bitmap);
	kfree(slots);
	/* The arrays a dirty-log stop left to their readers. */
	srcu_barrier(&vm->srcu);
	WARN_ON_ONCE(atomic_read(&vm->old_slots));
	cleanup_srcu_struct(&vm->srcu);
	mmdrop(vm->mm);
	kfree(vm);
}

void eptmmu_vm_put(struct eptmmu_vm *vm)
{
	if (refcount_dec_and_test(&vm->refs))
		vm_destroy(vm);
}
EXPORT_SYMBOL_IF_KUNIT(eptmmu_vm_put);

/**
 * eptmmu_vm_add_vcpu() - publish a vCPU to the flush path
 * @vm: the VM
 * @vcpu: a fully initialised vCPU
 *
 * vCPUs are never removed before the VM dies, so the flush path can walk
 * the array without a lock.
 *
 * Return: the vCPU id, -ENOSPC, or -ENOMEM (no dirty ring).
 */
int eptmmu_vm_add_vcpu(struct eptmmu_vm *vm, struct eptmmu_vcpu *vcpu)
{
	int id;

	mutex_lock(&vm->vcpus_lock);
	id = atomic_read(&vm->nr_vcpus);
	if (id >= EPTMMU_MAX_VCPUS) {
		mutex_unlock(&vm->vcpus_lock);
		return -ENOSPC;
	}
	/* A ring VM's vCPUs all have rings (the size is fixed by now). */
	if (eptmmu_dirty_ring_alloc(vm, vcpu)) {
		mutex_unlock(&vm->vcpus_lock);
		return -ENOMEM;
	}
	vcpu->id = id;
	WRITE_ONCE(vm->vcpus[id], vcpu);
	/* The flush path must never see the count before the pointer. */
	atomic_set_release(&vm->nr_vcpus, id + 1);
	mutex_unlock(&vm->vcpus_lock);
	return id;
}
EXPORT_SYMBOL_IF_KUNIT(eptmmu_vm_add_vcpu);

struct eptmmu_slot *eptmmu_gfn_to_slot(struct eptmmu_slots *slots, u64 gfn)
{
	int i;

	for (i = 0; i < slots->nr; i++) {
		struct eptmmu_slot *s = &slots->slots[i];

		if (gfn >= s->base_gfn && gfn - s->base_gfn < s->npages)
			return s;
	}
	return NULL;
}

struct eptmmu_slot *eptmmu_slot_by_id(struct eptmmu_slots *slots, u32 id)
{
	int i;

	for (i = 0; i < slots->nr; i++)
		if (slots->slots[i].id == id)
			return &slots->slots[i];
	return NULL;
}

static int check_memslot(const struct eptmmu_memslot *req)
{
	u64 end;

	if (req->flags & ~(EPTMMU_MEM_LOG_DIRTY_PAGES | EPTMMU_MEM_READONLY |
			   EPTMMU_MEM_DIRTY_LOG_DBIT |
			   EPTMMU_MEM_DIRTY_LOG_INITIALLY_SET))
		return -EINVAL;
	if ((req->flags & (EPTMMU_MEM_DIRTY_LOG_DBIT |
			   EPTMMU_MEM_DIRTY_LOG_INITIALLY_SET)) &&
	    !(req->flags & EPTMMU_MEM_LOG_DIRTY_PAGES))
		return -EINVAL;
	if (req->slot >= EPTMMU_MAX_MEMSLOTS)
		return -EINVAL;
	if (!req->memory_size)
		return 0;
	if (!PAGE_ALIGNED(req->guest_phys_addr) ||
	    !PAGE_ALIGNED(req->memory_size) ||
	    !PAGE_ALIGNED(req->userspace_addr))
		return -EINVAL;
	if (req->memory_size > EPTMMU_MAX_MEMSLOT_SIZE)
		return -EINVAL;
	if (check_add_overflow(req->guest_phys_addr, req->memory_size, &end) ||
	    end > EPTMMU_MAX_GPA)
		return -EINVAL;
	if (req->userspace_addr != (unsigned long)req->userspace_addr ||
	    !access_ok((void __user *)(unsigned long)req->userspace_addr,
		       req->memory_size))
		return -EFAULT;
	return 0;
}

/* Make @new the array faults and notifiers see. */
static void publish_slots(struct eptmmu_vm *vm, struct eptmmu_slots *new)
{
	struct eptmmu_slots *old = eptmmu_slots(vm);
	int i, dbit = 0;

	lockdep_assert_held(&vm->slots_lock);
	new->generation = old->generation + 1;
	for (i = 0; i < new->nr; i++)
		dbit += eptmmu_slot_logs_dbit(&new->slots[i]) &&
			new->slots[i].dirty_bitmap;
	/*
	 * R-DBIT-COUNT: up before the array is published, down after, so
	 * whoever sees a D-logging slot in an array also sees it counted.
	 */
	if (dbit > vm->nr_dbit_slots)
		WRITE_ONCE(vm->nr_dbit_slots, dbit);
	rcu_assign_pointer(vm->slots, new);
	if (dbit < vm->nr_dbit_slots)
		WRITE_ONCE(vm->nr_dbit_slots, dbit);
}

/* R-MEMSLOT-SRCU */
/* Publish @new, wait for readers of the old array, free it. */
static void swap_slots(struct eptmmu_vm *vm, struct eptmmu_slots *new)
{
	struct eptmmu_slots *old = eptmmu_slots(vm);

	publish_slots(vm, new);
	/*
	 * Expedited, as KVM's memslot swap: the same guarantee, without the
	 * normal grace period's batching delay, which dirty-log start and
	 * stop (a flags update each) would otherwise wait out every time.
	 */
	synchronize_srcu_expedited(&vm->srcu);
	kfree(old);
}

static void free_old_slots(struct rcu_head *head)
{
	struct eptmmu_slots *old = container_of(head, struct eptmmu_slots, rcu);
	atomic_t *pending = old->pending;

	kvfree(old->stale_bitmap);
	kfree(old);
	atomic_dec(pending);
}

/*
 * R-MEMSLOT-SRCU, where nothing is to be zapped against the old array's
 * readers: dirty-log stop.  Publish @new and free the old array and
 * @stale (the bitmap only it names) after its last reader, without
 * waiting here.  A fault or the fast path working from the old array
 * meanwhile may still mark @stale (alive until then) or map a 4K leaf
 * after the stop's zaps (a range that stays 4K until its next zap:
 * slower, never wrong; the slot no longer logs, so neither its W nor
 * its D is anybody's record).  Waiting cost most of a stop: an expedited
 * grace period was 80% of stopping a 256 MiB slot under TCG.
 */
static void swap_slots_deferred(struct eptmmu_vm *vm, struct eptmmu_slots *new,
				unsigned long *stale)
{
	struct eptmmu_slots *old = eptmmu_slots(vm);

	lockdep_assert_held(&vm->slots_lock);
	publish_slots(vm, new);
	old->stale_bitmap = stale;
	old->pending = &vm->old_slots;
	atomic_inc(&vm->old_slots);
	if (eptmmu_broken(stop_free_now))
		free_old_slots(&old->rcu);
	else
		call_srcu(&vm->srcu, &old->rcu, free_old_slots);
}

/*
 * The old order, kept as a broken variant for the test that catches it:
 * the slot is unpublished first, so an invalidation in the window finds
 * no slot and zaps nothing while the leaves still map the host's pages.
 */
static void delete_unpublish_first(struct eptmmu_vm *vm,
				   struct eptmmu_slots *new, u64 gfn, u64 n)
{
	swap_slots(vm, new);
	eptmmu_park(EPTMMU_PARK_DELETE_BEFORE_ZAP);
	eptmmu_zap_gfn_range(vm, gfn, gfn + n, true);
}

/**
 * delete_slot() - take a memslot away (R-MEMSLOT-DELETE)
 * @vm: the VM, slots_lock held
 * @id: the slot
 *
 * Until its leaves are zapped and flushed, the slot must stay where MMU
 * notifiers look, or an munmap meanwhile finds nothing to zap and the
 * host frees a page the guest still maps.  So the slot is first
 * republished marked invalid: invalidations still zap it, faults map
 * nothing in it.  Once no fault can still see it valid (SRCU), it is
 * zapped; only then is it removed, and its bitmap freed after the last
 * reader (a zap recording D bits) is gone.
 *
 * Return: 0, -ENOENT, -ENOMEM.
 */
/* R-MEMSLOT-DELETE */
static int delete_slot(struct eptmmu_vm *vm, u32 id)
{
	struct eptmmu_slots *old = eptmmu_slots(vm), *invalid, *new;
	struct eptmmu_slot *s = eptmmu_slot_by_id(old, id), gone;
	int i, j = 0;

	lockdep_assert_held(&vm->slots_lock);
	if (!s)
		return -ENOENT;
	invalid = kmemdup(old, sizeof(*old), GFP_KERNEL_ACCOUNT);
	new = kzalloc(sizeof(*new), GFP_KERNEL_ACCOUNT);
	if (!invalid || !new) {
		kfree(invalid);
		kfree(new);
		return -ENOMEM;
	}
	gone = *s;
	for (i = 0; i < old->nr; i++)
		if (old->slots[i].id != id)
			new->slots[j++] = old->slots[i];
	new->nr = j;
	if (eptmmu_broken(delete_unpublish_first)) {
		kfree(invalid);
		delete_unpublish_first(vm, new, gone.base_gfn, gone.npages);
		kvfree(gone.dirty_bitmap);
		return 0;
	}
	invalid->slots[s - old->slots].flags |= EPTMMU_SLOT_INVALID;
	/* Frees @old: from here on only @gone knows the slot. */
	swap_slots(vm, invalid);
	eptmmu_park(EPTMMU_PARK_DELETE_BEFORE_ZAP);
	eptmmu_zap_gfn_range(vm, gone.base_gfn, gone.base_gfn + gone.npages,
			     true);
	swap_slots(vm, new);
	kvfree(gone.dirty_bitmap);
	return 0;
}

static bool log_on(const struct eptmmu_slot *s)
{
	return s->flags & EPTMMU_MEM_LOG_DIRTY_PAGES;
}

/**
 * eptmmu_set_memslot() - create, update the flags of, or delete a memslot
 * @vm: the VM
 * @req: the request, as user space gave it
 *
 * Errors are those documented for EPTMMU_SET_MEMSLOT; a rejected request
 * changes nothing.
 *
 * Return: 0 or a negative errno.
 */
int eptmmu_set_memslot(struct eptmmu_vm *vm, const struct eptmmu_memslot *req)
{
	unsigned long *stale_bitmap = NULL;
	struct eptmmu_slots *old, *new;
	struct eptmmu_slot *cur, *ns;
	bool was_logging;
	u64 gfn, npages;
	int r, i;

	r = check_memslot(req);
	if (r)
		return r;
	gfn = req->guest_phys_addr >> PAGE_SHIFT;
	npages = req->memory_size >> PAGE_SHIFT;

	if ((req->flags & EPTMMU_MEM_DIRTY_LOG_DBIT) && !vm->ad)
		return -EINVAL;

	mutex_lock(&vm->slots_lock);
	if (READ_ONCE(vm->dead)) {
		r = -EIO;
		goto out;
	}
	if (!npages) {
		r = delete_slot(vm, req->slot);
		goto out;
	}
	old = eptmmu_slots(vm);
	cur = eptmmu_slot_by_id(old, req->slot);
	if (cur) {
		if (cur->base_gfn != gfn || cur->npages != npages ||
		    cur->userspace_addr != req->userspace_addr ||
		    (cur->flags ^ req->flags) & EPTMMU_MEM_READONLY) {
			r = -EBUSY;
			goto out;
		}
		/* A logging slot switches mode only through "off". */
		if (cur->flags & req->flags & EPTMMU_MEM_LOG_DIRTY_PAGES &&
		    (cur->flags ^ req->flags) & (EPTMMU_MEM_DIRTY_LOG_DBIT |
				EPTMMU_MEM_DIRTY_LOG_INITIALLY_SET)) {
			r = -EBUSY;
			goto out;
		}
	} else {
		for (i = 0; i < old->nr; i++) {
			struct eptmmu_slot *s = &old->slots[i];

			if (gfn < s->base_gfn + s->npages &&
			    s->base_gfn < gfn + npages) {
				r = -EEXIST;
				goto out;
			}
		}
	}

	new = kmemdup(old, sizeof(*old), GFP_KERNEL_ACCOUNT);
	if (!new) {
		r = -ENOMEM;
		goto out;
	}
	if (cur) {
		ns = &new->slots[cur - old->slots];
		ns->flags = req->flags;
		if (log_on(ns) && !log_on(cur)) {
			r = eptmmu_dirty_log_alloc(ns);
		} else if (!log_on(ns) && log_on(cur)) {
			stale_bitmap = ns->dirty_bitmap;
			ns->dirty_bitmap = NULL;
		}
	} else {
		/* Keep the array sorted by gfn. */
		for (i = new->nr; i > 0 && new->slots[i - 1].base_gfn > gfn; i--)
			new->slots[i] = new->slots[i - 1];
		ns = &new->slots[i];
		*ns = (struct eptmmu_slot) {
			.base_gfn = gfn,
			.npages = npages,
			.userspace_addr = req->userspace_addr,
			.flags = req->flags,
			.id = req->slot,
		};
		new->nr++;
		if (log_on(ns))
			r = eptmmu_dirty_log_alloc(ns);
	}
	if (r) {
		kfree(new);
		goto out;
	}
	was_logging = cur && log_on(cur);
	/* Either frees the old array, and @cur with it. */
	if (stale_bitmap)
		swap_slots_deferred(vm, new, stale_bitmap);
	else
		swap_slots(vm, new);
	if (!cur) {
		/*
		 * A new slot may cover gfns that faulted as MMIO before it
		 * existed; their MMIO SPTEs must go now.
		 */
		eptmmu_zap_gfn_range(vm, gfn, gfn + npages, true);
	} else if (log_on(ns) && !was_logging) {
		trace_eptmmu_dirty_log(EPTMMU_TRACE_LOG_START, ns->id, ns->npages);
		eptmmu_dirty_log_start(vm, ns);
	} else if (!log_on(ns) && was_logging) {
		trace_eptmmu_dirty_log(EPTMMU_TRACE_LOG_STOP, ns->id, ns->npages);
		eptmmu_dirty_log_stop(vm, ns);
	}
out:
	mutex_unlock(&vm->slots_lock);
	return r;
}
EXPORT_SYMBOL_IF_KUNIT(eptmmu_set_memslot);

void eptmmu_get_vm_stats(struct eptmmu_vm *vm, struct eptmmu_vm_stats *st)
{
	int idx = srcu_read_lock(&vm->srcu);

	st->memslot_generation = eptmmu_slots(vm)->generation;
	srcu_read_unlock(&vm->srcu, idx);
	st->tables = atomic64_read(&vm->stats.tables);
	st->maps_4k = atomic64_read(&vm->stats.maps_4k);
	st->maps_2m = atomic64_read(&vm->stats.maps_2m);
	st->maps_1g = atomic64_read(&vm->stats.maps_1g);
	st->splits = atomic64_read(&vm->stats.splits);
	st->zapped = atomic64_read(&vm->stats.zapped);
	st->tlb_flushes = atomic64_read(&vm->stats.tlb_flushes);
	st->invalidations = atomic64_read(&vm->stats.invalidations);
	st->ept_ad = vm->ad;
	st->backend = vm->backend;
	st->aging_passes = atomic64_read(&vm->stats.aging_passes);
	st->aged_young = atomic64_read(&vm->stats.aged_young);
}
EXPORT_SYMBOL_IF_KUNIT(eptmmu_get_vm_stats);

/**
 * eptmmu_get_spte() - the leaf that maps a gpa, for EPTMMU_GET_SPTE
 * @vm: the VM (its file holds a reference, so its root lives)
 * @req: in: @gpa and @flags (must be 0); out: as include/uapi/eptmmu.h says
 *
 * Takes no mmu_lock (eptmmu_leaf_of() walks under RCU): a snapshot is
 * all a caller looking at A/D bits or access tracking needs.
 * Host frame numbers are kernel addresses in disguise, so only callers
 * that may read /proc/self/pagemap's frames get them.
 *
 * Return: 0, or -EINVAL for a bad @req (changing nothing).
 */
int eptmmu_get_spte(struct eptmmu_vm *vm, struct eptmmu_spte *req)
{
	int level = 0;
	u64 spte;

	if (req->flags || req->gpa >= EPTMMU_MAX_GPA)
		return -EINVAL;
	rcu_read_lock();
	spte = eptmmu_leaf_of(vm, req->gpa >> PAGE_SHIFT, &level);
	rcu_read_unlock();
	req->level = level;
	req->flags = 0;
	if (level && spte_is_access_tracked(spte))
		req->flags |= EPTMMU_SPTE_ACCESS_TRACKED;
	if (level && spte_ad_enabled(spte))
		req->flags |= EPTMMU_SPTE_AD_ENABLED;
	spte &= SPTE_HW_MASK;
	if (!capable(CAP_SYS_ADMIN))
		spte &= ~SPTE_PFN_MASK;
	req->spte = spte;
	return 0;
}
