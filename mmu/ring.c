// SPDX-License-Identifier: GPL-2.0
/*
 * The dirty ring: per-vCPU logs of the pages a vCPU's writes dirtied, in
 * memory user space maps from the vCPU fd, so that collecting the log
 * costs what was dirtied rather than what the memslots hold.
 *
 * One producer per ring, the thread running the vCPU, pushes at
 * @dirty_index; user space collects entries and flags them F_RESET;
 * EPTMMU_RESET_DIRTY_RINGS (one at a time, under slots_lock) re-protects
 * the collected pages and frees their entries by moving @reset_index.
 * The vCPU never fills its ring: it stops (EPTMMU_EXIT_RING_FULL) while
 * EPTMMU_DIRTY_RING_RSVD_ENTRIES entries are still free, more than it can
 * log before it looks again (R-RING-SOFT-FULL).  Documentation/locking.rst
 * has the ordering (R-RING-ORDER) and the reset (R-RING-RESET).
 */
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include <eptmmu/export.h>
#include <eptmmu/inject.h>
#include <eptmmu/mmu.h>

/*
 * Entries a reset copies, protects and frees at a time: a small buffer,
 * one flush per batch.
 */
#define EPTMMU_RING_RESET_BATCH	1024

/* Entries pushed and not yet reset. */
static u32 ring_used(const struct eptmmu_dirty_ring *ring)
{
	u32 reset;

	/*
	 * Pairs with the store-release of @reset_index in reset_ring(): the
	 * entries it frees were read, and their flags cleared, before the
	 * producer may reuse them.
	 */
	reset = smp_load_acquire(&ring->reset_index);
	return READ_ONCE(ring->dirty_index) - reset;
}

/**
 * eptmmu_enable_dirty_ring() - EPTMMU_ENABLE_DIRTY_RING
 * @vm: the VM
 * @cfg: the request from user space
 *
 * Return: 0, -EINVAL, -EBUSY (a vCPU exists), -EEXIST (already enabled).
 */
int eptmmu_enable_dirty_ring(struct eptmmu_vm *vm,
			     const struct eptmmu_dirty_ring_config *cfg)
{
	int r = 0;

	if (cfg->flags || !is_power_of_2(cfg->entries) ||
	    cfg->entries < EPTMMU_DIRTY_RING_MIN_ENTRIES ||
	    cfg->entries > EPTMMU_DIRTY_RING_MAX_ENTRIES)
		return -EINVAL;
	/* vCPU creation reads the size under the same lock. */
	mutex_lock(&vm->vcpus_lock);
	if (vm->dirty_ring_entries)
		r = -EEXIST;
	else if (atomic_read(&vm->nr_vcpus))
		r = -EBUSY;
	else
		WRITE_ONCE(vm->dirty_ring_entries, cfg->entries);
	mutex_unlock(&vm->vcpus_lock);
	return r;
}

/**
 * eptmmu_dirty_ring_alloc() - give a new vCPU its ring
 * @vm: the VM, vcpus_lock held
 * @vcpu: the vCPU, not yet published
 *
 * Return: 0 or -ENOMEM.
 */
int eptmmu_dirty_ring_alloc(struct eptmmu_vm *vm, struct eptmmu_vcpu *vcpu)
{
	u32 n = vm->dirty_ring_entries;

	lockdep_assert_held(&vm->vcpus_lock);
	if (!n)
		return 0;
	/* Charged to the VM creator's cgroup, as its page tables are. */
	vcpu->ring.gfns = __vmalloc(array_size(n, sizeof(*vcpu->ring.gfns)),
				    GFP_KERNEL_ACCOUNT | __GFP_ZERO);
	if (!vcpu->ring.gfns)
		return -ENOMEM;
	vcpu->ring.entries = n;
	vcpu->ring.dirty_index = 0;
	vcpu->ring.reset_index = 0;
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(eptmmu_dirty_ring_alloc);

void eptmmu_dirty_ring_free(struct eptmmu_vcpu *vcpu)
{
	vfree(vcpu->ring.gfns);
	vcpu->ring.gfns = NULL;
}

/**
 * eptmmu_dirty_ring_soft_full() - must the vCPU stop before it logs more?
 * @vcpu: the vCPU, run by the caller
 *
 * Return: true when no more than EPTMMU_DIRTY_RING_RSVD_ENTRIES entries
 * are free (never for a VM without rings).
 */
/* R-RING-SOFT-FULL */
bool eptmmu_dirty_ring_soft_full(struct eptmmu_vcpu *vcpu)
{
	struct eptmmu_dirty_ring *ring = &vcpu->ring;

	if (!ring->gfns)
		return false;
	return ring_used(ring) >= ring->entries - EPTMMU_DIRTY_RING_RSVD_ENTRIES;
}
EXPORT_SYMBOL_IF_KUNIT(eptmmu_dirty_ring_soft_full);

/**
 * eptmmu_dirty_ring_push() - log one page into the running vCPU's ring
 * @vcpu: the vCPU; the caller is the thread running it
 * @slot: the page's memslot (its bitmap takes the page if the ring is full)
 * @offset: the page, relative to @slot
 *
 * Any context (the fast path calls it inside RCU): no lock, no sleep.
 */
/* R-RING-ORDER */
void eptmmu_dirty_ring_push(struct eptmmu_vcpu *vcpu,
			    struct eptmmu_slot *slot, u64 offset)
{
	struct eptmmu_dirty_ring *ring = &vcpu->ring;
	u32 at = ring->dirty_index;
	struct eptmmu_dirty_gfn *e = &ring->gfns[at & (ring->entries - 1)];

	/*
	 * Cannot happen while R-RING-SOFT-FULL holds.  If it does, the page
	 * goes to the bitmap (collected by GET_DIRTY_LOG), never lost.
	 */
	if (WARN_ON_ONCE(ring_used(ring) >= ring->entries)) {
		atomic64_inc(&vcpu->vm->stats.ring_overflow);
		set_bit(offset, slot->dirty_bitmap);
		return;
	}
	if (eptmmu_broken(ring_no_release)) {
		/* What an unordered publication may look like to a reader. */
		WRITE_ONCE(e->flags, EPTMMU_DIRTY_GFN_F_DIRTY);
		eptmmu_park(EPTMMU_PARK_RING_PUSH);
		WRITE_ONCE(e->slot, slot->id);
		WRITE_ONCE(e->offset, offset);
	} else {
		WRITE_ONCE(e->slot, slot->id);
		WRITE_ONCE(e->offset, offset);
		eptmmu_park(EPTMMU_PARK_RING_PUSH);
	}
	if (eptmmu_broken(ring_index_after_publish)) {
		/* The old order: published, then counted (R-RING-ORDER). */
		smp_store_release(&e->flags, EPTMMU_DIRTY_GFN_F_DIRTY);
		eptmmu_park(EPTMMU_PARK_RING_INDEX);
		WRITE_ONCE(ring->dirty_index, at + 1);
		goto out;
	}
	/*
	 * Raised before the entry is published: the reset trusts only
	 * entries below it, and must find below it every entry user space
	 * could have collected (the release below carries it to the
	 * collector, whose F_RESET release carries it to the reset).
	 */
	WRITE_ONCE(ring->dirty_index, at + 1);
	eptmmu_park(EPTMMU_PARK_RING_INDEX);
	if (!eptmmu_broken(ring_no_release))
		/* Pairs with the collector's load-acquire of @flags. */
		smp_store_release(&e->flags, EPTMMU_DIRTY_GFN_F_DIRTY);
out:
	atomic64_inc(&vcpu->vm->stats.ring_pushed);
}
EXPORT_SYMBOL_IF_KUNIT(eptmmu_dirty_ring_push);

/*
 * Reset the collected entries at the head of @ring: copy them (user space
 * may rewrite the shared entries at any time, so each is read once),
 * re-protect their pages, and only then free them (R-RING-RESET).
 */
/* R-RING-RESET */
static u32 reset_ring(struct eptmmu_vm *vm, struct eptmmu_dirty_ring *ring,
		      struct eptmmu_dirty_gfn *buf)
{
	u32 start = ring->reset_index, mask = ring->entries - 1, n, i;

	lockdep_assert_held(&vm->slots_lock);
	for (n = 0; n < EPTMMU_RING_RESET_BATCH; n++) {
		struct eptmmu_dirty_gfn *e = &ring->gfns[(start + n) & mask];

		/* Pairs with the collector's store-release of F_RESET. */
		if (!(smp_load_acquire(&e->flags) & EPTMMU_DIRTY_GFN_F_RESET))
			break;
		/*
		 * Read after the acquire, so an entry user space collected is
		 * below it (the push raised it first); F_RESET on an entry
		 * never pushed is user space's mistake, and stops the reset.
		 */
		if (start + n == READ_ONCE(ring->dirty_index))
			break;
		buf[n].slot = READ_ONCE(e->slot);
		buf[n].offset = READ_ONCE(e->offset);
	}
	if (!n)
		return 0;
	/* Returns once every vCPU's TLB has the pages protected. */
	if (!eptmmu_broken(ring_reset_no_protect))
		eptmmu_dirty_log_clear_pages(vm, buf, n);
	for (i = 0; i < n; i++)
		WRITE_ONCE(ring->gfns[(start + i) & mask].flags, 0);
	/* Pairs with ring_used(): the producer reuses them after this. */
	smp_store_release(&ring->reset_index, start + n);
	atomic64_add(n, &vm->stats.ring_reset);
	return n;
}

/**
 * eptmmu_reset_dirty_rings() - EPTMMU_RESET_DIRTY_RINGS
 * @vm: the VM
 *
 * vCPUs may run meanwhile: each ring's producer writes only past the
 * entries reset here.
 *
 * Return: the number of entries reset, -EINVAL (no rings), -ENOMEM.
 * (At most EPTMMU_MAX_VCPUS * EPTMMU_DIRTY_RING_MAX_ENTRIES: an int.)
 */
int eptmmu_reset_dirty_rings(struct eptmmu_vm *vm)
{
	u32 entries = READ_ONCE(vm->dirty_ring_entries);
	struct eptmmu_dirty_gfn *buf;
	int i, n, total = 0;

	if (!entries)
		return -EINVAL;
	buf = kmalloc_array(min(entries, EPTMMU_RING_RESET_BATCH), sizeof(*buf),
			    GFP_KERNEL_ACCOUNT);
	if (!buf)
		return -ENOMEM;
	mutex_lock(&vm->slots_lock);
	/* Pairs with eptmmu_vm_add_vcpu(): a counted vCPU has its ring. */
	n = atomic_read_acquire(&vm->nr_vcpus);
	for (i = 0; i < n; i++) {
		struct eptmmu_dirty_ring *ring = &READ_ONCE(vm->vcpus[i])->ring;
		u32 done;

		do {
			done = reset_ring(vm, ring, buf);
			total += done;
		} while (done == EPTMMU_RING_RESET_BATCH);
	}
	mutex_unlock(&vm->slots_lock);
	kfree(buf);
	return total;
}
EXPORT_SYMBOL_IF_KUNIT(eptmmu_reset_dirty_rings);

static unsigned long ring_pages(const struct eptmmu_dirty_ring *ring)
{
	return (unsigned long)ring->entries * sizeof(*ring->gfns) >> PAGE_SHIFT;
}

/*
 * A page of the ring, on the first touch of the mapping.  The mapping
 * holds the vCPU file, and the vCPU (and its ring) lives until the VM's
 * last file is released: the pages outlive every mapping.
 */
static vm_fault_t ring_fault(struct vm_fault *vmf)
{
	struct eptmmu_vcpu *vcpu = vmf->vma->vm_file->private_data;
	struct page *page;

	/* Only an mremap() that grew the mapping gets here past the end. */
	if (vmf->pgoff >= ring_pages(&vcpu->ring))
		return VM_FAULT_SIGBUS;
	page = vmalloc_to_page((u8 *)vcpu->ring.gfns +
			       (vmf->pgoff << PAGE_SHIFT));
	get_page(page);
	vmf->page = page;
	return 0;
}

static const struct vm_operations_struct ring_vm_ops = {
	.fault = ring_fault,
};

/**
 * eptmmu_dirty_ring_mmap() - map @vcpu's ring into user space
 * @vcpu: the vCPU
 * @vma: offset 0, shared, at most the ring's pages, not executable
 *
 * Return: 0, -ENODEV (the VM has no rings), -EINVAL.
 */
int eptmmu_dirty_ring_mmap(struct eptmmu_vcpu *vcpu, struct vm_area_struct *vma)
{
	if (!vcpu->ring.gfns)
		return -ENODEV;
	/* A private copy would hide the kernel's entries and the F_RESETs. */
	if (vma->vm_pgoff || !(vma->vm_flags & VM_SHARED) ||
	    (vma->vm_flags & VM_EXEC) ||
	    vma_pages(vma) > ring_pages(&vcpu->ring))
		return -EINVAL;
	vma->vm_ops = &ring_vm_ops;
	return 0;
}

/**
 * eptmmu_dirty_ring_holds() - is the page in a ring, not yet reset?
 * @vm: the VM; no vCPU runs (the auditor holds every run_lock)
 * @slot: memslot id
 * @offset: page in it
 *
 * Return: true if an entry between a ring's reset and dirty index names it.
 */
bool eptmmu_dirty_ring_holds(struct eptmmu_vm *vm, u32 slot, u64 offset)
{
	int i, n = atomic_read_acquire(&vm->nr_vcpus);

	for (i = 0; i < n; i++) {
		struct eptmmu_dirty_ring *ring = &READ_ONCE(vm->vcpus[i])->ring;
		u32 at;

		if (!ring->gfns)
			return false;
		for (at = READ_ONCE(ring->reset_index);
		     at != READ_ONCE(ring->dirty_index); at++) {
			struct eptmmu_dirty_gfn *e =
				&ring->gfns[at & (ring->entries - 1)];

			if (READ_ONCE(e->slot) == slot &&
			    READ_ONCE(e->offset) == offset)
				return true;
		}
	}
	return false;
}
