// SPDX-License-Identifier: GPL-2.0
/*
 * The MMU auditor: one walk over a VM's whole EPT tree that checks every
 * entry against the memslots, the host's page tables, dirty logging and
 * the SPTE format, and reports each entry that breaks an invariant.
 *
 * A race test checks the outcome it was written for; the auditor checks
 * everything else a wrong interleaving could have left behind.  It runs
 * after every KUnit case that builds a tree, at the end of every step of
 * the user-space tests (through debugfs, which every build has), and by
 * hand: cat /sys/kernel/debug/eptmmu/<tgid>-<vmfd>/audit.
 *
 * Documentation/locking.rst, "The auditor", maps each check to the rule
 * it stands for and lists which broken variants it catches.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/ktime.h>
#include <linux/lockdep.h>
#include <linux/mm.h>
#include <linux/pgtable.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/seq_file.h>

#include <eptmmu/audit.h>
#include <eptmmu/export.h>
#include <eptmmu/mmu.h>

/* Beyond this many, violations are counted but not printed one by one. */
#define AUDIT_PRINT_MAX	16

struct audit {
	struct eptmmu_vm *vm;
	struct eptmmu_slots *slots;
	struct mm_struct *mm;		/* NULL: the mm has gone, no host checks */
	struct seq_file *m;		/* NULL: report with pr_err() */
	unsigned long violations;
	u64 tables, mmio;
	u64 leaves[PG_LEVEL_1G + 1];
	/* The host range an invalidation is changing right now, if any. */
	bool inval;
	unsigned long inval_start, inval_end;
};

static void audit_say(struct audit *a, const char *fmt, ...)
{
	struct va_format vaf;
	va_list args;

	va_start(args, fmt);
	vaf.fmt = fmt;
	vaf.va = &args;
	if (a->m)
		seq_printf(a->m, "%pV\n", &vaf);
	else
		pr_err("audit: %pV\n", &vaf);
	va_end(args);
}

/* The SPTE's bits as letters: P R W X, then the named ones that are set. */
static void decode(u64 spte, char *buf, size_t size)
{
	static const struct { u64 bit; const char *name; } bits[] = {
		{ SPTE_LARGE_MASK, " L" }, { VMX_EPT_ACCESS_BIT, " A" },
		{ VMX_EPT_DIRTY_BIT, " D" }, { SPTE_AD_DISABLED, " ad-off" },
		{ SPTE_HOST_WRITABLE, " host-w" }, { SPTE_MMU_WRITABLE, " mmu-w" },
		{ SPTE_ACC_TRACKED, " tracked" }, { SPTE_SAVED_R, " saved-r" },
		{ SPTE_SAVED_X, " saved-x" },
	};
	int i, n;

	n = scnprintf(buf, size, "%c%c%c%c",
		      spte & SPTE_PRESENT ? 'P' : '-',
		      spte & VMX_EPT_READABLE_MASK ? 'R' : '-',
		      spte & VMX_EPT_WRITABLE_MASK ? 'W' : '-',
		      spte & VMX_EPT_EXECUTABLE_MASK ? 'X' : '-');
	for (i = 0; i < ARRAY_SIZE(bits); i++)
		if (spte & bits[i].bit)
			n += scnprintf(buf + n, size - n, "%s", bits[i].name);
}

/*
 * One violation: where (gfn, level), what the entry holds, decoded, and
 * what the check expected instead.
 */
static void violation(struct audit *a, u64 gfn, int level, u64 spte,
		      const char *check, const char *expected)
{
	char bits[80];

	if (++a->violations > AUDIT_PRINT_MAX)
		return;
	decode(spte, bits, sizeof(bits));
	audit_say(a, "FAIL %s: gfn 0x%llx level %d spte 0x%016llx [%s pfn 0x%llx]",
		  check, gfn, level, spte, bits, spte_pfn(spte));
	audit_say(a, "  expected: %s", expected);
}

/* The memslot that holds all of [gfn, gfn + n), or NULL. */
static struct eptmmu_slot *slot_of_range(struct audit *a, u64 gfn, u64 n)
{
	struct eptmmu_slot *s = eptmmu_gfn_to_slot(a->slots, gfn);

	if (s && gfn + n - s->base_gfn <= s->npages)
		return s;
	return NULL;
}

static bool in_any_slot(struct audit *a, u64 gfn, u64 n)
{
	int i;

	for (i = 0; i < a->slots->nr; i++) {
		struct eptmmu_slot *s = &a->slots->slots[i];

		if (gfn < s->base_gfn + s->npages && s->base_gfn < gfn + n)
			return true;
	}
	return false;
}

/* Checks of the leaf against the host's page tables. */
static void audit_host(struct audit *a, struct eptmmu_slot *s, u64 gfn,
		       int level, u64 spte)
{
	unsigned long hva = s->userspace_addr +
			    ((gfn - s->base_gfn) << PAGE_SHIFT);
	unsigned long size = PAGE_SIZE << SPTE_LEVEL_SHIFT(level);
	struct eptmmu_host_map h;

	/*
	 * The mm has gone: its release callback zaps everything, and may
	 * be doing so right now (under the read lock, after this audit);
	 * with no host tables left there is nothing to compare with.
	 */
	if (!a->mm)
		return;
	/*
	 * The one operation the locks cannot exclude: an invalidation
	 * between its start and its end changes host entries under only
	 * the host's page-table lock.  Its start zapped (or is about to
	 * zap) our leaves there, and a fault that raced it retries.
	 */
	if (a->inval && hva < a->inval_end && a->inval_start < hva + size)
		return;
	if (!eptmmu_host_lookup(a->mm, hva, &h)) {
		violation(a, gfn, level, spte, "leaf where the host maps nothing",
			  "no leaf (an invalidation zaps before the host unmaps)");
		return;
	}
	if (h.level < level)
		violation(a, gfn, level, spte, "huge leaf over a smaller host mapping",
			  "leaf no larger than the host's page");
	if (h.pfn != spte_pfn(spte)) {
		audit_say(a, "  (host pfn 0x%llx at hva 0x%lx)", h.pfn, hva);
		violation(a, gfn, level, spte, "leaf pfn is not the host's page",
			  "the pfn the host maps at the slot's hva");
	}
	if ((spte & (VMX_EPT_WRITABLE_MASK | SPTE_HOST_WRITABLE)) && !h.writable)
		violation(a, gfn, level, spte, "write access the host does not give",
			  "neither W nor host-writable over a read-only host PTE");
}

/* Dirty logging. */
static void audit_logging(struct audit *a, struct eptmmu_slot *s, u64 gfn,
			  int level, u64 spte)
{
	bool marked;

	if (!(s->flags & EPTMMU_MEM_LOG_DIRTY_PAGES))
		return;
	if (level > PG_LEVEL_4K) {
		violation(a, gfn, level, spte, "huge leaf in a dirty-logging slot",
			  "4K leaves only (dirty-log start splits)");
		return;
	}
	if (!s->dirty_bitmap) {
		violation(a, gfn, level, spte, "logging slot without a bitmap",
			  "a bitmap while the slot logs");
		return;
	}
	/* An unharvested mark: the page is reported whatever it holds. */
	marked = test_bit(gfn - s->base_gfn, s->dirty_bitmap) ||
		 eptmmu_dirty_ring_holds(a->vm, s->id, gfn - s->base_gfn);
	if (marked || !spte_is_writable(spte))
		return;
	/*
	 * PML: with every vCPU stopped every buffer is drained, so a D
	 * set since the last harvest is marked (R-PML-DRAIN).
	 */
	if (eptmmu_slot_logs_pml(a->vm, s)) {
		if (!spte_ad_enabled(spte) || (spte & VMX_EPT_DIRTY_BIT))
			violation(a, gfn, level, spte,
				  "writable leaf with D, PML logging, no mark",
				  "D clear on an A/D leaf, or the gfn marked");
		return;
	}
	if (!eptmmu_slot_logs_dbit(s))
		violation(a, gfn, level, spte,
			  "writable leaf, write-protection logging, no mark",
			  "W clear, or the gfn marked in the bitmap");
	else if (!spte_ad_enabled(spte))
		violation(a, gfn, level, spte,
			  "writable leaf without A/D in a D-bit logging slot",
			  "an A/D leaf (its D is the log), or the gfn marked");
}

static void audit_leaf(struct audit *a, u64 gfn, int level, u64 spte)
{
	u64 n = SPTE_PAGES_PER(level);
	struct eptmmu_slot *s;
	u64 hgfn;

	a->leaves[level]++;
	if (level > PG_LEVEL_4K && (spte_pfn(spte) & (n - 1)))
		violation(a, gfn, level, spte, "huge leaf pfn not aligned",
			  "pfn a multiple of the leaf size");
	if (!pfn_valid(spte_pfn(spte)))
		violation(a, gfn, level, spte, "leaf pfn has no struct page",
			  "a page GUP returned");
	/* Format: permissions and the software bits. */
	if (spte_is_writable(spte) && !spte_is_mmu_writable(spte))
		violation(a, gfn, level, spte, "W without MMU-writable",
			  "MMU-writable on every W leaf");
	if (spte_is_writable(spte) && !spte_is_host_writable(spte))
		violation(a, gfn, level, spte, "W without host-writable",
			  "host-writable on every W leaf");
	if (spte & SPTE_ACC_TRACKED) {
		if (spte_ad_enabled(spte))
			violation(a, gfn, level, spte, "access-tracked A/D leaf",
				  "access tracking only without A/D");
		if (spte & VMX_EPT_RWX_MASK)
			violation(a, gfn, level, spte, "access-tracked leaf with RWX",
				  "RWX clear, R and X saved, W dropped");
		if (!(spte & SPTE_SAVED_R))
			violation(a, gfn, level, spte, "access-tracked leaf lost R",
				  "saved R (every leaf is readable)");
	} else {
		if (spte & SPTE_SAVED_MASK)
			violation(a, gfn, level, spte, "saved bits on an untracked leaf",
				  "saved R/X only while access-tracked");
		if (!(spte & VMX_EPT_READABLE_MASK))
			violation(a, gfn, level, spte, "untracked leaf without R",
				  "R on every leaf that is not access-tracked");
	}
	if (!spte_ad_enabled(spte) &&
	    (spte & (VMX_EPT_ACCESS_BIT | VMX_EPT_DIRTY_BIT)))
		violation(a, gfn, level, spte, "A/D bits on a leaf without A/D",
			  "A and D clear (nothing sets them)");

	/* Memslots. */
	s = slot_of_range(a, gfn, n);
	if (!s) {
		violation(a, gfn, level, spte, "leaf not wholly inside one memslot",
			  in_any_slot(a, gfn, n) ? "a leaf within one slot" :
						  "no leaf outside every slot");
		return;
	}
	hgfn = (s->userspace_addr >> PAGE_SHIFT) - s->base_gfn;
	if (level > PG_LEVEL_4K && (hgfn & (n - 1)))
		violation(a, gfn, level, spte, "huge leaf with gfn and hva not congruent",
			  "gfn and hva equal modulo the leaf size");
	if (level > eptmmu_max_leaf_level)
		violation(a, gfn, level, spte, "leaf larger than the EPT allows",
			  "no larger than the backend's largest leaf");
	if ((s->flags & EPTMMU_MEM_READONLY) &&
	    (spte & (VMX_EPT_WRITABLE_MASK | SPTE_HOST_WRITABLE)))
		violation(a, gfn, level, spte, "write access in a read-only slot",
			  "neither W nor host-writable");
	audit_logging(a, s, gfn, level, spte);
	audit_host(a, s, gfn, level, spte);
}

/* An entry that maps nothing: zero, MMIO, or wrong. */
static void audit_nonpresent(struct audit *a, u64 gfn, int level, u64 spte)
{
	unsigned int gen = a->slots->generation & SPTE_MMIO_GEN_MAX;

	if (!spte)
		return;
	if (spte_is_frozen(spte)) {
		violation(a, gfn, level, spte, "frozen entry with no zap in flight",
			  "0 (a zap clears what it froze)");
		return;
	}
	if (!spte_is_mmio(spte)) {
		violation(a, gfn, level, spte, "non-present entry that is not MMIO",
			  "0, an MMIO SPTE or a frozen one");
		return;
	}
	a->mmio++;
	if (level != PG_LEVEL_4K)
		violation(a, gfn, level, spte, "MMIO entry above 4K",
			  "MMIO SPTEs at 4K only");
	if (in_any_slot(a, gfn, SPTE_PAGES_PER(level)))
		violation(a, gfn, level, spte, "MMIO entry inside a memslot",
			  "no MMIO SPTE where a slot is (creation zaps them)");
	/* Generations only move forward (modulo the field's width). */
	if (a->slots->generation <= SPTE_MMIO_GEN_MAX && spte_mmio_gen(spte) > gen)
		violation(a, gfn, level, spte, "MMIO entry from a future generation",
			  "a generation no newer than the memslot array's");
}

static struct eptmmu_pt *audit_child(struct audit *a, u64 gfn, int level,
				     u64 spte)
{
	u64 pfn = spte_pfn(spte);
	struct eptmmu_pt *pt;

	if (!pfn_valid(pfn)) {
		violation(a, gfn, level, spte, "table entry without a page",
			  "the pfn of an eptmmu table");
		return NULL;
	}
	pt = (struct eptmmu_pt *)page_private(pfn_to_page(pfn));
	if (!pt || pt->spt != page_address(pfn_to_page(pfn))) {
		violation(a, gfn, level, spte, "table entry to a page that is no table",
			  "a page whose private points to its eptmmu_pt");
		return NULL;
	}
	if ((spte & VMX_EPT_RWX_MASK) != VMX_EPT_RWX_MASK)
		violation(a, gfn, level, spte, "table entry without RWX",
			  "RWX on every non-leaf entry");
	if (pt->level != level - 1 || pt->base_gfn != gfn) {
		audit_say(a, "  (table says level %d base gfn 0x%llx)",
			  pt->level, pt->base_gfn);
		violation(a, gfn, level, spte, "table not where it says it is",
			  "table level one below the entry, base gfn the entry's");
	}
	return pt;
}

static void audit_table(struct audit *a, struct eptmmu_pt *pt)
{
	int level = pt->level, i;

	lockdep_assert_held_write(&a->vm->mmu_lock);
	a->tables++;
	for (i = 0; i < SPTE_ENT_PER_PAGE; i++) {
		u64 gfn = pt->base_gfn + i * SPTE_PAGES_PER(level);
		u64 spte = READ_ONCE(pt->spt[i]);
		struct eptmmu_pt *child;

		if (!spte_is_present(spte)) {
			audit_nonpresent(a, gfn, level, spte);
			continue;
		}
		/* Leaf or table: the tree has one A/D mode, the VM's. */
		if (spte_ad_enabled(spte) != a->vm->ad)
			violation(a, gfn, level, spte, "A/D type bit not the VM's mode",
				  a->vm->ad ? "A/D enabled" : "A/D disabled");
		if (spte_is_last(spte, level)) {
			audit_leaf(a, gfn, level, spte);
			continue;
		}
		child = audit_child(a, gfn, level, spte);
		if (child)
			audit_table(a, child);
	}
}

/*
 * Every vCPU stopped: no fault, fast path, A/D update or guest in flight.
 * audit_lock first, so RUN ioctls wait for the audit rather than find a
 * run_lock taken (EBUSY); the run_locks then wait out the RUNs already in
 * flight, and any other driver of a vCPU (KUnit).
 */
static void lock_vcpus(struct eptmmu_vm *vm)
{
	int i;

	down_write(&vm->audit_lock);
	mutex_lock(&vm->vcpus_lock);
	for (i = 0; i < atomic_read(&vm->nr_vcpus); i++)
		mutex_lock_nest_lock(&vm->vcpus[i]->run_lock, &vm->vcpus_lock);
}

static void unlock_vcpus(struct eptmmu_vm *vm)
{
	int i;

	lockdep_assert_held(&vm->vcpus_lock);
	for (i = atomic_read(&vm->nr_vcpus) - 1; i >= 0; i--)
		mutex_unlock(&vm->vcpus[i]->run_lock);
	mutex_unlock(&vm->vcpus_lock);
	up_write(&vm->audit_lock);
}

/* The walk, once the memslots are stable: the caller holds them. */
static long audit_slots(struct eptmmu_vm *vm, struct seq_file *m,
			struct eptmmu_slots *slots)
{
	struct audit a = { .vm = vm, .m = m, .slots = slots };
	u64 t0 = ktime_get_ns(), tables, pages;
	int level;

	if (mmget_not_zero(vm->mm)) {
		a.mm = vm->mm;
		mmap_read_lock(a.mm);
	}
	write_lock(&vm->mmu_lock);
	rcu_read_lock();
	a.inval = vm->mmu_invalidate_in_progress;
	a.inval_start = vm->mmu_invalidate_start;
	a.inval_end = vm->mmu_invalidate_end;
	if (vm->root->level != SPTE_ROOT_LEVEL || vm->root->base_gfn)
		violation(&a, vm->root->base_gfn, vm->root->level, 0,
			  "root table misplaced", "level 4 at gfn 0");
	audit_table(&a, vm->root);
	tables = atomic64_read(&vm->stats.tables);
	if (tables != a.tables) {
		audit_say(&a, "  (stats.tables %llu, tree %llu)", tables, a.tables);
		violation(&a, 0, SPTE_ROOT_LEVEL, 0, "table count is not stats.tables",
			  "as many tables in the tree as counted");
	}
	/* Leaves appear and go under mmu_lock only, never locklessly. */
	for (level = PG_LEVEL_4K; level <= PG_LEVEL_1G; level++) {
		pages = atomic64_read(&vm->stats.pages[level]);
		if (pages == a.leaves[level])
			continue;
		audit_say(&a, "  (stats.pages[%d] %llu, tree %llu)", level,
			  pages, a.leaves[level]);
		violation(&a, 0, level, 0, "leaf count is not stats.pages",
			  "as many leaves in the tree as counted");
	}
	rcu_read_unlock();
	write_unlock(&vm->mmu_lock);
	if (a.mm) {
		mmap_read_unlock(a.mm);
		mmput(a.mm);
	}

	if (a.violations || m)
		audit_say(&a, "tables %llu leaves %llu/%llu/%llu mmio %llu%s us %llu bad %lu",
			  a.tables, a.leaves[PG_LEVEL_4K], a.leaves[PG_LEVEL_2M],
			  a.leaves[PG_LEVEL_1G], a.mmio,
			  a.inval ? " (invalidation in flight)" :
			  !a.mm ? " (mm gone: no host checks)" : "",
			  div_u64(ktime_get_ns() - t0, NSEC_PER_USEC), a.violations);
	return a.violations;
}

/*
 * Lock order, as in locking.rst: audit_lock -> run_lock (every vCPU) ->
 * slots_lock -> mmap_lock -> mmu_lock -> RCU.  With every vCPU stopped and the write
 * lock held, the only writers left are lockless aging (whose every store
 * leaves a consistent SPTE, so each entry is judged on one READ_ONCE) and
 * an invalidation between its start and its end (whose host range is
 * exempt from the host checks).
 */
static long audit_run(struct eptmmu_vm *vm, struct seq_file *m)
{
	long bad;

	lock_vcpus(vm);
	mutex_lock(&vm->slots_lock);
	bad = audit_slots(vm, m, eptmmu_slots(vm));
	mutex_unlock(&vm->slots_lock);
	unlock_vcpus(vm);
	return bad;
}

/**
 * eptmmu_audit() - check every entry of a VM's EPT tree
 * @vm: the VM; the caller holds a reference
 *
 * Sleeps: waits for every vCPU's run to end, then takes slots_lock, the
 * mm's mmap_lock and mmu_lock for write.  Each violation is printed with
 * pr_err() (the first AUDIT_PRINT_MAX of them), followed by a summary.
 *
 * Return: the number of violations (0: the tree is consistent).
 */
long eptmmu_audit(struct eptmmu_vm *vm)
{
	might_sleep();
	return audit_run(vm, NULL);
}
EXPORT_SYMBOL_IF_KUNIT(eptmmu_audit);

/**
 * eptmmu_audit_published() - audit against the memslot array as published
 * @vm: the VM; the caller holds a reference
 *
 * For a test that holds a memslot update where it wants it (a park point
 * inside the update, which holds slots_lock): the same walk, with the
 * memslots read under SRCU instead of slots_lock.  The update in flight is
 * the caller's to know about; its in-between state is what is judged.
 *
 * Return: the number of violations.
 */
long eptmmu_audit_published(struct eptmmu_vm *vm)
{
	long bad;
	int idx;

	might_sleep();
	lock_vcpus(vm);
	idx = srcu_read_lock(&vm->srcu);
	bad = audit_slots(vm, NULL, srcu_dereference(vm->slots, &vm->srcu));
	srcu_read_unlock(&vm->srcu, idx);
	unlock_vcpus(vm);
	return bad;
}
EXPORT_SYMBOL_IF_KUNIT(eptmmu_audit_published);

/* ---- debugfs: /sys/kernel/debug/eptmmu/<tgid>-<vmfd>/audit ---- */

static struct dentry *audit_root;

static int audit_show(struct seq_file *m, void *unused)
{
	audit_run(m->private, m);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(audit);

/**
 * eptmmu_audit_add_vm() - give a VM its debugfs directory
 * @vm: the VM, just made into file descriptor @fd of the calling process
 * @fd: that descriptor
 *
 * A failure (no debugfs, a name still taken by a VM whose descriptor was
 * closed and reused while another file kept it alive) leaves the VM
 * without the file; the VM works as before.
 */
void eptmmu_audit_add_vm(struct eptmmu_vm *vm, int fd)
{
	char name[32];
	struct dentry *d;

	snprintf(name, sizeof(name), "%d-%d", task_tgid_nr(current), fd);
	d = debugfs_create_dir(name, audit_root);
	if (IS_ERR(d))
		return;
	/*
	 * debugfs_create_file() (not the _unsafe variant): its proxy makes
	 * debugfs_remove() wait for a read in progress, so the read never
	 * outlives the VM (eptmmu_audit_remove_vm() runs first in its
	 * destruction).
	 */
	debugfs_create_file("audit", 0400, d, vm, &audit_fops);
	eptmmu_stats_debugfs_add(vm, d);
	vm->debugfs = d;
}

/**
 * eptmmu_audit_remove_vm() - remove a VM's debugfs directory
 * @vm: the VM, being destroyed
 *
 * Returns once no read of its audit file runs any more.
 */
void eptmmu_audit_remove_vm(struct eptmmu_vm *vm)
{
	debugfs_remove(vm->debugfs);
	vm->debugfs = NULL;
}

void eptmmu_audit_init(void)
{
	audit_root = debugfs_create_dir("eptmmu", NULL);
}

void eptmmu_audit_exit(void)
{
	debugfs_remove(audit_root);
}
