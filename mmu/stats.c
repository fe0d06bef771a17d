// SPDX-License-Identifier: GPL-2.0
/*
 * Statistics an admin reads without the VM's file descriptor: one debugfs
 * file per counter in the VM's directory,
 * /sys/kernel/debug/eptmmu/<tgid>-<vmfd>/<name>, like KVM's
 * /sys/kernel/debug/kvm/<pid>-<fd>/.  tools/eptmmu_stat shows them live.
 *
 * The values are those of EPTMMU_GET_VM_STATS, the vCPU counters of
 * EPTMMU_RUN summed over the VM's vCPUs, and the fault and page counters
 * KVM users know (pf_*, pages_*, remote_tlb_flush).  Reading takes no
 * lock (R-STATS-LOCKLESS): each counter is one u64, atomic or written
 * by one thread with WRITE_ONCE(), read once; a file read while the VM
 * runs is a snapshot of each counter, not of all of them at one instant.
 * Documentation/abi.rst lists the files.
 */
#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/seq_file.h>
#include <linux/stddef.h>
#include <linux/string.h>

#include <eptmmu/mmu.h>

/**
 * eptmmu_stat_installed() - a slow fault stored a leaf
 * @vcpu: the faulting vCPU (its thread is the counters' writer)
 * @old: what the leaf replaced (0 for none)
 * @new: the leaf
 * @level: its level
 *
 * Called under mmu_lock, right after the store: the auditor compares
 * the page counts with the tree under the write lock.
 */
void eptmmu_stat_installed(struct eptmmu_vcpu *vcpu, u64 old, u64 new,
			   int level)
{
	eptmmu_account_leaf(vcpu->vm, old, new, level);
	eptmmu_vcpu_stat_inc(&vcpu->kstats.pf_fixed);
}

/**
 * eptmmu_stat_mmio_created() - a fault stored an MMIO SPTE
 * @vcpu: the faulting vCPU
 * @old: what it replaced; an MMIO SPTE of an older generation is not new
 */
void eptmmu_stat_mmio_created(struct eptmmu_vcpu *vcpu, u64 old)
{
	if (!spte_is_mmio(old))
		eptmmu_vcpu_stat_inc(&vcpu->kstats.pf_mmio_spte_created);
}

/* Everything a stat file may show, gathered at each read. */
struct snapshot {
	struct eptmmu_vm_stats vm;
	struct eptmmu_vcpu_stats vcpu;		/* summed over the vCPUs */
	struct eptmmu_vcpu_kstats k;		/* summed over the vCPUs */
	u64 pages[PG_LEVEL_1G + 1];
	u64 vcpus;
	u64 pml;
	u64 ring_pushed, ring_reset, ring_full_exits, ring_overflow;
};

#define STAT(name, field)	{ #name, offsetof(struct snapshot, field) }

static const struct {
	const char *name;
	size_t offset;
} stat_files[] = {
	/* EPTMMU_GET_VM_STATS, under its names. */
	STAT(tables, vm.tables),
	STAT(maps_4k, vm.maps_4k),
	STAT(maps_2m, vm.maps_2m),
	STAT(maps_1g, vm.maps_1g),
	STAT(splits, vm.splits),
	STAT(zapped, vm.zapped),
	STAT(tlb_flushes, vm.tlb_flushes),
	STAT(invalidations, vm.invalidations),
	STAT(memslot_generation, vm.memslot_generation),
	STAT(ept_ad, vm.ept_ad),
	STAT(aging_passes, vm.aging_passes),
	STAT(aged_young, vm.aged_young),
	STAT(backend, vm.backend),
	/* EPTMMU_RUN's vCPU counters, summed (tlb_flushes is the VM's). */
	STAT(accesses, vcpu.accesses),
	STAT(tlb_hits, vcpu.tlb_hits),
	STAT(walks, vcpu.walks),
	STAT(faults, vcpu.faults),
	STAT(fast_fixed_wp, vcpu.fast_fixed_wp),
	STAT(fast_fixed_acc, vcpu.fast_fixed_acc),
	STAT(fast_retries, vcpu.fast_retries),
	STAT(fast_fallbacks, vcpu.fast_fallbacks),
	STAT(slow_faults, vcpu.slow_faults),
	STAT(slow_retries, vcpu.slow_retries),
	STAT(mmio_exits, vcpu.mmio_exits),
	/* KVM's names. */
	STAT(pf_taken, vcpu.faults),
	STAT(pf_fast, k.pf_fast),
	STAT(pf_fixed, k.pf_fixed),
	STAT(pf_spurious, k.pf_spurious),
	STAT(pf_mmio_spte_created, k.pf_mmio_spte_created),
	STAT(pf_guest_pt, k.pf_guest_pt),
	STAT(pf_guest_linear, k.pf_guest_linear),
	STAT(pages_4k, pages[PG_LEVEL_4K]),
	STAT(pages_2m, pages[PG_LEVEL_2M]),
	STAT(pages_1g, pages[PG_LEVEL_1G]),
	STAT(remote_tlb_flush, vm.tlb_flushes),
	STAT(vcpus, vcpus),
	/* Page-modification logging (R-PML-DRAIN). */
	STAT(pml, pml),
	STAT(pml_logged, k.pml_logged),
	STAT(pml_full_exits, k.pml_full_exits),
	/* The dirty rings (all 0 in a VM without). */
	STAT(dirty_ring_pushed, ring_pushed),
	STAT(dirty_ring_reset, ring_reset),
	STAT(dirty_ring_full_exits, ring_full_exits),
	STAT(dirty_ring_overflow, ring_overflow),
};

/* Add the u64 counters of @from to those of @to, each read once. */
static void sum_u64s(u64 *to, const u64 *from, size_t bytes)
{
	size_t i;

	for (i = 0; i < bytes / sizeof(u64); i++)
		to[i] += READ_ONCE(from[i]);
}

static void take_snapshot(struct eptmmu_vm *vm, struct snapshot *s)
{
	int i, n;

	memset(s, 0, sizeof(*s));
	eptmmu_get_vm_stats(vm, &s->vm);
	for (i = PG_LEVEL_4K; i <= PG_LEVEL_1G; i++)
		s->pages[i] = atomic64_read(&vm->stats.pages[i]);
	/* vCPUs stay until the VM goes; pairs with eptmmu_vm_add_vcpu(). */
	n = atomic_read_acquire(&vm->nr_vcpus);
	for (i = 0; i < n; i++) {
		struct eptmmu_vcpu *vcpu = READ_ONCE(vm->vcpus[i]);

		sum_u64s((u64 *)&s->vcpu, (const u64 *)&vcpu->stats,
			 sizeof(vcpu->stats));
		sum_u64s((u64 *)&s->k, (const u64 *)&vcpu->kstats,
			 sizeof(vcpu->kstats));
	}
	s->vcpus = n;
	s->pml = vm->pml;
	s->ring_pushed = atomic64_read(&vm->stats.ring_pushed);
	s->ring_reset = atomic64_read(&vm->stats.ring_reset);
	s->ring_full_exits = atomic64_read(&vm->stats.ring_full_exits);
	s->ring_overflow = atomic64_read(&vm->stats.ring_overflow);
}

static_assert(sizeof(struct eptmmu_vcpu_stats) % sizeof(u64) == 0);
static_assert(sizeof(struct eptmmu_vcpu_kstats) % sizeof(u64) == 0);

/* The file's name says which counter it shows. */
static int stat_show(struct seq_file *m, void *unused)
{
	const char *name = m->file->f_path.dentry->d_name.name;
	struct snapshot s;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(stat_files); i++) {
		if (strcmp(name, stat_files[i].name))
			continue;
		take_snapshot(m->private, &s);
		seq_printf(m, "%llu\n",
			   *(u64 *)((char *)&s + stat_files[i].offset));
		return 0;
	}
	return -ENOENT;
}
DEFINE_SHOW_ATTRIBUTE(stat);

/**
 * eptmmu_stats_debugfs_add() - one file per counter in the VM's directory
 * @vm: the VM
 * @dir: its debugfs directory (eptmmu_audit_add_vm() made it)
 *
 * The files go with the directory when the VM is destroyed; as for the
 * audit file, debugfs_remove() waits for a read in progress, so a read
 * never outlives the VM.
 */
void eptmmu_stats_debugfs_add(struct eptmmu_vm *vm, struct dentry *dir)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(stat_files); i++)
		debugfs_create_file(stat_files[i].name, 0444, dir, vm,
				    &stat_fops);
}
