// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit fixtures shared by the suites; see test_env.h.
 */
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/kthread.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/sched/mm.h>
#include <linux/uaccess.h>

#include <eptmmu/audit.h>
#include <eptmmu/inject.h>

#include "test_env.h"

#ifdef EPTMMU_KUNIT_BORROWS_MM
/* The loader's mm the suites borrow (kunit_vm_mmap() in compat.h). */
struct mm_struct *eptmmu_kunit_loader_mm;
#endif

static void put_vm_action(void *vm)
{
	eptmmu_vm_put(vm);
}

static void mmput_action(void *mm)
{
	mmput(mm);
}

struct audit_case {
	struct kunit *test;
	struct eptmmu_vm *vm;
};

/*
 * Every case that builds a tree ends with an audit of it: a wrong leaf
 * that the case's own assertions never look at fails it too.  A case in
 * which a broken variant ran is expected to leave a wrong tree: what the
 * audit finds is logged, and the cases that run the variant assert on it
 * where it leaves one (expect_audit()).
 */
static void audit_action(void *data)
{
	struct audit_case *ac = data;
	long bad;

	/*
	 * A case that failed may have left a worker behind, still running
	 * its vCPU: the audit would wait for it.  Its verdict is in already.
	 */
	if (ac->test->status == KUNIT_FAILURE) {
		kunit_info(ac->test, "failed: tree not audited\n");
		return;
	}
	bad = eptmmu_audit(ac->vm);
	if (READ_ONCE(eptmmu_broken_ran)) {
		kunit_info(ac->test, "broken variant ran: audit found %ld violations\n",
			   bad);
		return;
	}
	KUNIT_EXPECT_EQ_MSG(ac->test, bad, 0,
			    "the MMU auditor found a wrong tree (dmesg: \"audit: FAIL\")");
}

/* Anonymous memory at an address aligned to @align, of @size bytes. */
unsigned long map_aligned(struct kunit *test, u64 size, u64 align)
{
	unsigned long hva = kunit_vm_mmap(test, NULL, 0, size + align,
					  PROT_READ | PROT_WRITE,
					  MAP_PRIVATE | MAP_ANONYMOUS, 0);

	KUNIT_ASSERT_FALSE(test, IS_ERR_VALUE(hva));
	KUNIT_ASSERT_NE(test, hva, 0UL);
	return ALIGN(hva, align);
}

struct env *env_create(struct kunit *test, u64 size, u64 align, u32 flags,
		       bool ad)
{
	struct eptmmu_memslot req = { 0 };
	struct env *env = kunit_kzalloc(test, sizeof(*env), GFP_KERNEL);
	struct audit_case *ac = kunit_kzalloc(test, sizeof(*ac), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, env);
	KUNIT_ASSERT_NOT_NULL(test, ac);
	env->hva = map_aligned(test, size, align);
	env->size = size;
	env->gpa = SLOT_GPA;
	/*
	 * The test thread's mm dies with the thread, before the cleanup
	 * (another kthread) runs: keep it, so the teardown audit sees the
	 * tree and the host page tables as the case left them.  Released
	 * after the VM.
	 */
	mmget(current->mm);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, mmput_action,
							current->mm), 0);
	env->vm = eptmmu_vm_create(current->mm);
	KUNIT_ASSERT_FALSE(test, IS_ERR(env->vm));
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, put_vm_action,
							env->vm), 0);
	WRITE_ONCE(eptmmu_broken_ran, false);
	ac->test = test;
	ac->vm = env->vm;
	/* Runs before put_vm_action(): actions run in reverse. */
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, audit_action, ac), 0);
	/* Nothing is mapped yet, so the mode can still be chosen per test. */
	env->vm->ad = ad;
	req.slot = 0;
	req.flags = flags;
	req.guest_phys_addr = env->gpa;
	req.memory_size = size;
	req.userspace_addr = env->hva;
	KUNIT_ASSERT_EQ(test, eptmmu_set_memslot(env->vm, &req), 0);
	env->vcpu = eptmmu_soft_vcpu_create(env->vm);
	KUNIT_ASSERT_FALSE(test, IS_ERR(env->vcpu));
	return env;
}

int guest(struct eptmmu_vcpu *vcpu, u64 gpa, int kind, u64 *value)
{
	struct eptmmu_access a = {
		.gpa = gpa, .kind = kind, .size = 8, .value = *value,
	};
	u32 err = 0;
	int exit;

	mutex_lock(&vcpu->run_lock);
	exit = eptmmu_vcpu_access(vcpu, &a, &err);
	mutex_unlock(&vcpu->run_lock);
	*value = a.value;
	return exit;
}

void guest_write(struct kunit *test, struct env *env, u64 off, u64 v)
{
	KUNIT_ASSERT_EQ(test, guest(env->vcpu, env->gpa + off,
				    EPTMMU_ACCESS_WRITE, &v), EPTMMU_EXIT_DONE);
}

u64 guest_read(struct kunit *test, struct env *env, u64 off)
{
	u64 v = 0;

	KUNIT_EXPECT_EQ(test, guest(env->vcpu, env->gpa + off,
				    EPTMMU_ACCESS_READ, &v), EPTMMU_EXIT_DONE);
	return v;
}

/* The leaf SPTE that maps @gfn now (0 if none), and its level. */
u64 leaf_of(struct eptmmu_vm *vm, u64 gfn, int *level)
{
	u64 leaf;

	read_lock(&vm->mmu_lock);
	rcu_read_lock();
	leaf = eptmmu_leaf_of(vm, gfn, level);
	rcu_read_unlock();
	read_unlock(&vm->mmu_lock);
	return leaf;
}

u64 leaf_pfn(struct eptmmu_vm *vm, u64 gfn)
{
	int level = PG_LEVEL_4K;
	u64 leaf = leaf_of(vm, gfn, &level);

	if (!leaf)
		return 0;
	return spte_pfn(leaf) + (gfn & (SPTE_PAGES_PER(level) - 1));
}

u64 host_pfn(unsigned long hva)
{
	struct page *page;
	u64 pfn;

	if (get_user_pages_fast(hva, 1, 0, &page) != 1)
		return 0;
	pfn = page_to_pfn(page);
	put_page(page);
	return pfn;
}

u64 count_leaves(struct eptmmu_vm *vm, u64 start, u64 end)
{
	struct eptmmu_iter it;
	u64 n = 0;

	read_lock(&vm->mmu_lock);
	rcu_read_lock();
	for_each_eptmmu_spte(&it, vm, start, end, PG_LEVEL_4K)
		if (spte_is_present_leaf(it.old_spte, it.level))
			n += SPTE_PAGES_PER(it.level);
	rcu_read_unlock();
	read_unlock(&vm->mmu_lock);
	return n;
}

/* Change slot 0's flags (dirty logging on or off, its mode). */
int set_flags(struct env *env, u32 flags)
{
	struct eptmmu_memslot req = {
		.slot = 0, .flags = flags, .guest_phys_addr = env->gpa,
		.memory_size = env->size, .userspace_addr = env->hva,
	};

	return eptmmu_set_memslot(env->vm, &req);
}

/* Harvest slot @slot (at most 64 pages); return the bitmap's first word. */
u64 harvest(struct kunit *test, struct env *env, u32 slot)
{
	unsigned long ubuf = map_aligned(test, PAGE_SIZE, PAGE_SIZE);
	struct eptmmu_dirty_log log = { .slot = slot, .bitmap = ubuf };
	u64 word = ~0ULL;

	KUNIT_ASSERT_EQ(test, eptmmu_get_dirty_log(env->vm, &log), 0);
	KUNIT_ASSERT_EQ(test, copy_from_user(&word, (void __user *)ubuf, 8), 0UL);
	return word;
}

/*
 * The auditor's verdict on the tree as it is now.  @wrong: a broken
 * variant has just left it wrong, and the auditor must say so.
 */
void expect_audit(struct kunit *test, struct env *env, bool wrong)
{
	expect_audit_result(test, eptmmu_audit(env->vm), wrong);
}

void expect_audit_result(struct kunit *test, long bad, bool wrong)
{
	if (wrong)
		KUNIT_EXPECT_GT_MSG(test, bad, 0L,
				    "the auditor missed the broken variant's tree");
	else
		KUNIT_EXPECT_EQ(test, bad, 0L);
}

/* ---- parking in atomic context ---- */

struct spin_park sp;

static void spin_park(enum eptmmu_park_point point)
{
	unsigned long deadline = jiffies + 5 * HZ;

	if (point != sp.point || atomic_cmpxchg(&sp.armed, 1, 0) != 1)
		return;
	atomic_set(&sp.parked, 1);
	while (!atomic_read(&sp.release) && time_before(jiffies, deadline))
		cpu_relax();
}

void unpark_all(void *unused)
{
	WRITE_ONCE(eptmmu_inject.park, NULL);
	atomic_set(&sp.armed, 0);
	atomic_set(&sp.release, 1);
	memset(&eptmmu_inject, 0, sizeof(eptmmu_inject));
}

void arm_park(struct kunit *test, enum eptmmu_park_point point)
{
	sp.point = point;
	atomic_set(&sp.parked, 0);
	atomic_set(&sp.release, 0);
	atomic_set(&sp.armed, 1);
	WRITE_ONCE(eptmmu_inject.park, spin_park);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, unpark_all, NULL), 0);
}

bool wait_parked(void)
{
	unsigned long deadline = jiffies + 5 * HZ;

	while (!atomic_read(&sp.parked)) {
		if (time_after(jiffies, deadline))
			return false;
		cpu_relax();
		cond_resched();
	}
	return true;
}

/* ---- a second thread, on the other CPU ---- */

static int worker_fn(void *data)
{
	struct worker *w = data;

	w->fn(w);
	complete(&w->done);
	return 0;
}

/*
 * The parked side spins with mmu_lock or RCU held: it must never share a
 * CPU with the thread it waits for.  Pin this (the test) thread where it
 * is and put the worker on another CPU.
 */
void start_worker(struct kunit *test, struct worker *w)
{
	struct task_struct *t;
	int cpu = raw_smp_processor_id();

	if (num_online_cpus() < 2)
		kunit_skip(test, "needs two CPUs");
	KUNIT_ASSERT_EQ(test, set_cpus_allowed_ptr(current, cpumask_of(cpu)), 0);
	init_completion(&w->done);
	t = kthread_create(worker_fn, w, "eptmmu-race");
	KUNIT_ASSERT_FALSE(test, IS_ERR(t));
	kthread_bind(t, cpumask_any_but(cpu_online_mask, cpu));
	wake_up_process(t);
}

void finish_worker(struct kunit *test, struct worker *w)
{
	KUNIT_ASSERT_NE(test, wait_for_completion_timeout(&w->done, 10 * HZ), 0UL);
}
