// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for spte/: format, constructors, access tracking, the
 * volatile-bits policy, the flush predicate and the write helpers.
 *
 * The policy and flush tables are checked against an independent model:
 * instead of restating the formula, the test simulates every agent that
 * can touch an SPTE without mmu_lock (CPU, fast page fault) and asks
 * whether any of them could change the value.
 */
#include <kunit/test.h>
#include <linux/delay.h>
#include <linux/jiffies.h>
#include <linux/kthread.h>
#include <linux/random.h>
#include <linux/sched.h>

#include <eptmmu/inject.h>
#include <eptmmu/spte.h>

#define R	VMX_EPT_READABLE_MASK
#define W	VMX_EPT_WRITABLE_MASK
#define X	VMX_EPT_EXECUTABLE_MASK
#define A	VMX_EPT_ACCESS_BIT
#define D	VMX_EPT_DIRTY_BIT

static const int leaf_levels[] = { PG_LEVEL_4K, PG_LEVEL_2M, PG_LEVEL_1G };

/* The bits the policy and flush tables range over. */
enum {
	C_PRESENT, C_LEAF, C_W, C_HOSTW, C_MMUW, C_A, C_D, C_TRACKED,
	C_NR
};

static bool cbit(unsigned int combo, int bit)
{
	return combo & BIT(bit);
}

/*
 * An SPTE with exactly the bits @combo names, at @level (a 2M entry, so
 * "leaf" is decided by the large bit), in A/D mode @ad.
 */
static u64 combo_spte(unsigned int combo, bool ad)
{
	u64 spte = 0x1234ULL << PAGE_SHIFT;

	spte |= (u64)X86_MEMTYPE_WB << VMX_EPT_MT_EPTE_SHIFT;
	if (cbit(combo, C_PRESENT))
		spte |= SPTE_PRESENT;
	if (cbit(combo, C_LEAF))
		spte |= SPTE_LARGE_MASK;
	if (cbit(combo, C_TRACKED))
		spte |= SPTE_ACC_TRACKED | SPTE_SAVED_R | SPTE_SAVED_X;
	else
		spte |= R | X;
	if (cbit(combo, C_W))
		spte |= W;
	if (cbit(combo, C_HOSTW))
		spte |= SPTE_HOST_WRITABLE;
	if (cbit(combo, C_MMUW))
		spte |= SPTE_MMU_WRITABLE;
	if (cbit(combo, C_A))
		spte |= A;
	if (cbit(combo, C_D))
		spte |= D;
	if (!ad)
		spte |= SPTE_AD_DISABLED;
	return spte;
}

/* Model of the CPU: on a permitted access, set A; on a write, also D. */
static u64 model_cpu_access(u64 spte, bool write)
{
	bool leaf = spte & SPTE_LARGE_MASK;

	if (!(spte & SPTE_PRESENT) || !leaf || (spte & SPTE_AD_DISABLED))
		return spte;
	if (!(spte & (R | X)))
		return spte;		/* RWX clear: the access faults */
	if (write && !(spte & W))
		return spte;
	spte |= A;
	if (write)
		spte |= D;
	return spte;
}

/* Model of the fast page fault, both cases, for a read or write fault. */
static u64 model_fast_path(u64 spte, bool write)
{
	bool leaf = spte & SPTE_LARGE_MASK;
	bool may_w = (spte & SPTE_HOST_WRITABLE) && (spte & SPTE_MMU_WRITABLE);

	if (!(spte & SPTE_PRESENT) || !leaf)
		return spte;
	if (spte & SPTE_ACC_TRACKED) {
		if (spte & SPTE_SAVED_R)
			spte |= R;
		if (spte & SPTE_SAVED_X)
			spte |= X;
		spte &= ~(SPTE_ACC_TRACKED | SPTE_SAVED_MASK);
		if (write && may_w)
			spte |= W;
		return spte;
	}
	if (write && !(spte & W) && may_w)
		spte |= W;
	return spte;
}

static bool model_can_change_unlocked(u64 spte)
{
	bool write;

	for (write = false; ; write = true) {
		if (model_cpu_access(spte, write) != spte ||
		    model_fast_path(spte, write) != spte)
			return true;
		/* The fast path's W makes the CPU's D possible next. */
		if (model_cpu_access(model_fast_path(spte, true), true) !=
		    model_fast_path(spte, true))
			return true;
		if (write)
			return false;
	}
}

static void volatile_table(struct kunit *test, bool ad)
{
	unsigned int combo, hits = 0;

	for (combo = 0; combo < BIT(C_NR); combo++) {
		u64 spte = combo_spte(combo, ad);
		bool expect = model_can_change_unlocked(spte);

		KUNIT_EXPECT_EQ_MSG(test, spte_has_volatile_bits(spte, PG_LEVEL_2M),
				    expect, "combo %#x ad=%d spte %#llx",
				    combo, ad, spte);
		hits += expect;
	}
	/* The table is not trivially all-false or all-true. */
	KUNIT_EXPECT_GT(test, hits, 0u);
	KUNIT_EXPECT_LT(test, hits, (unsigned int)BIT(C_NR));
}

/* R-VOLATILE-A, R-VOLATILE-D (the model's CPU sets A and D) */
static void volatile_table_ad(struct kunit *test)
{
	volatile_table(test, true);
}

/* R-VOLATILE-TRACKED (the model's fast path restores) */
static void volatile_table_noad(struct kunit *test)
{
	volatile_table(test, false);
}

/* The seeds' dirty-bit race: read-only + accessed + MMU-writable is volatile. */
/* R-VOLATILE-MMUW */
static void volatile_readonly_mmu_writable(struct kunit *test)
{
	u64 spte = spte_make_leaf(7, PG_LEVEL_4K, R | W | X, true,
				  X86_MEMTYPE_WB, true) | A;

	KUNIT_EXPECT_FALSE(test, spte_has_volatile_bits(spte | D, PG_LEVEL_4K));
	spte &= ~(u64)W;
	KUNIT_EXPECT_TRUE(test, spte_has_volatile_bits(spte, PG_LEVEL_4K));
	spte &= ~SPTE_MMU_WRITABLE;
	KUNIT_EXPECT_FALSE(test, spte_has_volatile_bits(spte, PG_LEVEL_4K));
}

/*
 * What eptmmu_set_leaf_locked() stores inline: a settled leaf, with A/D or
 * without, must be one neither the CPU nor the fast path changes without
 * mmu_lock, in the model as in the policy (aging, which the model leaves
 * out, is argued in locking.rst); and both cases must exist (a written
 * page: W, A and D set; without A/D, W set).
 */
static void settled_never_volatile(struct kunit *test)
{
	unsigned int combo, hits = 0, hits_noad = 0;
	u64 written;
	bool ad;

	for (ad = false; ; ad = true) {
		for (combo = 0; combo < BIT(C_NR); combo++) {
			u64 spte = combo_spte(combo, ad);

			hits_noad += spte_is_settled_noad(spte, PG_LEVEL_2M);
			if (!spte_is_settled(spte, PG_LEVEL_2M) &&
			    !spte_is_settled_noad(spte, PG_LEVEL_2M))
				continue;
			KUNIT_EXPECT_FALSE(test,
					   spte_is_settled(spte, PG_LEVEL_2M) &&
					   spte_is_settled_noad(spte, PG_LEVEL_2M));
			KUNIT_EXPECT_EQ(test, !ad,
					spte_is_settled_noad(spte, PG_LEVEL_2M));
			hits++;
			KUNIT_EXPECT_FALSE_MSG(test, model_can_change_unlocked(spte),
					       "combo %#x ad=%d spte %#llx", combo,
					       ad, spte);
			KUNIT_EXPECT_FALSE(test,
					   spte_has_volatile_bits(spte, PG_LEVEL_2M));
		}
		if (ad)
			break;
	}
	KUNIT_EXPECT_GT(test, hits_noad, 0u);
	KUNIT_EXPECT_GT(test, hits - hits_noad, 0u);
	written = spte_make_leaf(7, PG_LEVEL_4K, R | W | X, true,
				 X86_MEMTYPE_WB, true) | A | D;
	KUNIT_EXPECT_TRUE(test, spte_is_settled(written, PG_LEVEL_4K));
	written = spte_make_leaf(7, PG_LEVEL_4K, R | W | X, true,
				 X86_MEMTYPE_WB, false);
	KUNIT_EXPECT_TRUE(test, spte_is_settled_noad(written, PG_LEVEL_4K));
	KUNIT_EXPECT_FALSE(test, spte_is_settled_noad(spte_mark_access_tracked(written),
						      PG_LEVEL_4K));
}

static void volatile_nonleaf_never(struct kunit *test)
{
	u64 nonleaf = spte_make_nonleaf(99, true);
	int level;

	for (level = PG_LEVEL_2M; level <= SPTE_ROOT_LEVEL; level++)
		KUNIT_EXPECT_FALSE(test, spte_has_volatile_bits(nonleaf, level));
	KUNIT_EXPECT_FALSE(test, spte_has_volatile_bits(0, PG_LEVEL_4K));
	KUNIT_EXPECT_FALSE(test, spte_has_volatile_bits(SPTE_FROZEN, PG_LEVEL_4K));
	KUNIT_EXPECT_FALSE(test, spte_has_volatile_bits(spte_make_mmio(3),
							PG_LEVEL_4K));
}

/* Transitions a writer may apply, and whether a cached TLB entry matters. */
struct transition {
	const char *name;
	u64 (*apply)(u64 old);
	/* Flush needed, given what the old SPTE let a TLB cache. */
	bool (*must_flush)(u64 old);
};

static bool leaf_present(u64 s)
{
	return (s & SPTE_PRESENT) && (s & SPTE_LARGE_MASK);
}

static u64 t_zap(u64 s)
{
	return 0;
}

static u64 t_freeze(u64 s)
{
	return SPTE_FROZEN;
}

static u64 t_wrprot(u64 s)
{
	return s & ~(u64)W;
}

static u64 t_wrprot_full(u64 s)
{
	return s & ~(W | SPTE_MMU_WRITABLE);
}

static u64 t_clear_a(u64 s)
{
	return s & ~(u64)A;
}

static u64 t_clear_d(u64 s)
{
	return s & ~(u64)D;
}

static u64 t_mark(u64 s)
{
	return spte_mark_access_tracked(s);
}

static u64 t_restore(u64 s)
{
	return spte_restore_access(s);
}

static u64 t_set_ad(u64 s)
{
	return s | A | D;
}

static u64 t_move(u64 s)
{
	return s + (1ULL << PAGE_SHIFT);
}

static bool f_always(u64 o)
{
	return leaf_present(o);
}

static bool f_never(u64 o)
{
	return false;
}

/* A cached writable translation must go when W goes. */
static bool f_if_w(u64 o)
{
	return leaf_present(o) && (o & W);
}

/* ... and when the MMU stops allowing W at all (it may have been fast-set). */
static bool f_if_w_or_mmuw(u64 o)
{
	return leaf_present(o) && (o & (W | SPTE_MMU_WRITABLE));
}

/* A cached "dirty" translation writes without setting D again. */
static bool f_if_d(u64 o)
{
	return leaf_present(o) && !(o & SPTE_AD_DISABLED) && (o & D);
}

static const struct transition transitions[] = {
	{ "zap", t_zap, f_always },
	{ "freeze", t_freeze, f_always },
	{ "move", t_move, f_always },
	{ "wrprot", t_wrprot, f_if_w },
	{ "wrprot+mmu", t_wrprot_full, f_if_w_or_mmuw },
	{ "clear A", t_clear_a, f_never },
	{ "clear D", t_clear_d, f_if_d },
	{ "age", t_mark, f_never },
	{ "restore", t_restore, f_never },
	{ "set A/D", t_set_ad, f_never },
};

static void flush_table(struct kunit *test, bool ad)
{
	unsigned int combo, t, hits = 0;

	for (combo = 0; combo < BIT(C_NR); combo++) {
		u64 old = combo_spte(combo, ad);

		for (t = 0; t < ARRAY_SIZE(transitions); t++) {
			const struct transition *tr = &transitions[t];
			u64 new = tr->apply(old);
			bool expect = tr->must_flush(old);

			/* Aging an SPTE it cannot restore is not a transition. */
			if (new == old)
				expect = false;
			KUNIT_EXPECT_EQ_MSG(test,
					    spte_needs_tlb_flush(old, new, PG_LEVEL_2M),
					    expect, "%s: combo %#x ad=%d %#llx -> %#llx",
					    tr->name, combo, ad, old, new);
			hits += expect;
		}
	}
	KUNIT_EXPECT_GT(test, hits, 0u);
}

/* R-FLUSH-REALOLD: the predicate the real old value is fed to. */
static void flush_table_ad(struct kunit *test)
{
	flush_table(test, true);
}

static void flush_table_noad(struct kunit *test)
{
	flush_table(test, false);
}

static void flush_nonleaf_is_callers(struct kunit *test)
{
	u64 nonleaf = spte_make_nonleaf(5, true);

	KUNIT_EXPECT_FALSE(test, spte_needs_tlb_flush(nonleaf, 0, PG_LEVEL_2M));
	KUNIT_EXPECT_FALSE(test, spte_needs_tlb_flush(0, nonleaf, PG_LEVEL_2M));
	KUNIT_EXPECT_FALSE(test, spte_needs_tlb_flush(spte_make_mmio(1), 0,
						      PG_LEVEL_4K));
}

/* Properties of mark/restore over every permission, level and mode. */
typedef void (*leaf_check_t)(struct kunit *test, u64 leaf, bool ad,
			     unsigned int access);

static void check_every_leaf(struct kunit *test, leaf_check_t check)
{
	unsigned int access, l;
	int ad;

	for (ad = 0; ad <= 1; ad++)
		for (l = 0; l < ARRAY_SIZE(leaf_levels); l++)
			for (access = 0; access <= VMX_EPT_RWX_MASK; access++) {
				/* Present leaves grant R or X; W needs R. */
				if (!(access & (R | X)) ||
				    ((access & W) && !(access & R)))
					continue;
				check(test, spte_make_leaf(0xabcde, leaf_levels[l],
							   access, true,
							   X86_MEMTYPE_WB, ad),
				      ad, access);
			}
}

static void check_mark_restore(struct kunit *test, u64 leaf, bool ad,
			       unsigned int access)
{
	u64 marked = spte_mark_access_tracked(leaf);
	u64 back = spte_restore_access(marked);
	u64 keep = SPTE_PFN_MASK | VMX_EPT_MT_MASK | VMX_EPT_IPAT_BIT |
		   SPTE_LARGE_MASK | SPTE_HOST_WRITABLE | SPTE_MMU_WRITABLE |
		   SPTE_AD_DISABLED | SPTE_PRESENT;

	KUNIT_EXPECT_EQ(test, back & keep, leaf & keep);
	KUNIT_EXPECT_EQ(test, back & (R | X), leaf & (R | X));
	if (ad)
		KUNIT_EXPECT_EQ(test, back & W, leaf & W);
	else
		KUNIT_EXPECT_EQ(test, back & W, 0ULL);
	KUNIT_EXPECT_FALSE(test, spte_is_access_tracked(back));
	KUNIT_EXPECT_TRUE(test, spte_is_accessed(back));
}

/* R-ACC-NOW */
static void mark_restore_roundtrip(struct kunit *test)
{
	check_every_leaf(test, check_mark_restore);
}

static void check_mark(struct kunit *test, u64 leaf, bool ad,
		       unsigned int access)
{
	u64 young = spte_restore_access(leaf);
	u64 marked = spte_mark_access_tracked(young);

	KUNIT_EXPECT_EQ(test, spte_mark_access_tracked(marked), marked);
	KUNIT_EXPECT_FALSE(test, spte_is_accessed(marked));
	KUNIT_EXPECT_TRUE(test, spte_is_present(marked));
	KUNIT_EXPECT_FALSE(test, spte_is_mmio(marked));
	if (ad) {
		KUNIT_EXPECT_EQ(test, marked, young & ~(u64)A);
		KUNIT_EXPECT_FALSE(test, spte_is_access_tracked(marked));
	} else {
		KUNIT_EXPECT_EQ(test, marked & VMX_EPT_RWX_MASK, 0ULL);
		KUNIT_EXPECT_TRUE(test, spte_is_access_tracked(marked));
		KUNIT_EXPECT_EQ(test, !!(marked & SPTE_SAVED_R), !!(access & R));
		KUNIT_EXPECT_EQ(test, !!(marked & SPTE_SAVED_X), !!(access & X));
	}
}

static void mark_idempotent(struct kunit *test)
{
	check_every_leaf(test, check_mark);
}

static void mark_keeps_mmu_writable(struct kunit *test)
{
	u64 leaf = spte_make_leaf(1, PG_LEVEL_4K, R | W, true,
				  X86_MEMTYPE_WB, false);
	u64 marked = spte_mark_access_tracked(leaf);

	/* W is gone but may come back through the fast path. */
	KUNIT_EXPECT_FALSE(test, spte_is_writable(marked));
	KUNIT_EXPECT_TRUE(test, spte_can_fast_set_w(marked));
	KUNIT_EXPECT_TRUE(test, spte_has_volatile_bits(marked, PG_LEVEL_4K));
}

static void mark_ignores_non_present(struct kunit *test)
{
	unsigned int gen;

	KUNIT_EXPECT_EQ(test, spte_mark_access_tracked(0), 0ULL);
	KUNIT_EXPECT_EQ(test, spte_mark_access_tracked(SPTE_FROZEN), SPTE_FROZEN);
	KUNIT_EXPECT_EQ(test, spte_restore_access(SPTE_FROZEN), SPTE_FROZEN);
	for (gen = 0; gen <= SPTE_MMIO_GEN_MAX; gen++) {
		u64 mmio = spte_make_mmio(gen);

		KUNIT_EXPECT_EQ(test, spte_mark_access_tracked(mmio), mmio);
		KUNIT_EXPECT_EQ(test, spte_restore_access(mmio), mmio);
	}
}

static void mmio_roundtrip(struct kunit *test)
{
	unsigned int gen;

	for (gen = 0; gen <= SPTE_MMIO_GEN_MAX; gen++) {
		u64 mmio = spte_make_mmio(gen);

		KUNIT_EXPECT_TRUE(test, spte_is_mmio(mmio));
		KUNIT_EXPECT_FALSE(test, spte_is_present(mmio));
		KUNIT_EXPECT_FALSE(test, spte_is_access_tracked(mmio));
		KUNIT_EXPECT_FALSE(test, spte_is_frozen(mmio));
		KUNIT_EXPECT_EQ(test, spte_mmio_gen(mmio), gen);
		/* The CPU must see a misconfiguration: W without R. */
		KUNIT_EXPECT_EQ(test, mmio & (R | W), (u64)W);
	}
	/* Generations wrap at the field width. */
	KUNIT_EXPECT_EQ(test, spte_mmio_gen(spte_make_mmio(SPTE_MMIO_GEN_MAX + 1)),
			0u);
}

static void check_leaf_not_mmio(struct kunit *test, u64 leaf, bool ad,
				unsigned int access)
{
	KUNIT_EXPECT_FALSE(test, spte_is_mmio(leaf));
	KUNIT_EXPECT_FALSE(test, spte_is_mmio(spte_mark_access_tracked(leaf)));
	KUNIT_EXPECT_FALSE(test, spte_is_frozen(leaf));
}

static void leaves_never_mmio(struct kunit *test)
{
	check_every_leaf(test, check_leaf_not_mmio);
}

static void frozen_is_inert(struct kunit *test)
{
	KUNIT_EXPECT_TRUE(test, spte_is_frozen(SPTE_FROZEN));
	KUNIT_EXPECT_FALSE(test, spte_is_present(SPTE_FROZEN));
	KUNIT_EXPECT_FALSE(test, spte_is_mmio(SPTE_FROZEN));
	KUNIT_EXPECT_FALSE(test, spte_is_accessed(SPTE_FROZEN));
	KUNIT_EXPECT_EQ(test, SPTE_FROZEN & VMX_EPT_RWX_MASK, 0ULL);
	KUNIT_EXPECT_FALSE(test, spte_is_frozen(0));
}

static void field_layout(struct kunit *test)
{
	static const u64 fields[] = {
		SPTE_AD_DISABLED, SPTE_PRESENT, SPTE_HOST_WRITABLE,
		SPTE_MMU_WRITABLE, SPTE_ACC_TRACKED, SPTE_SAVED_MASK,
		SPTE_MMIO_GEN_MASK,
	};
	u64 seen = 0;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(fields); i++) {
		KUNIT_EXPECT_EQ(test, fields[i] & seen, 0ULL);
		KUNIT_EXPECT_EQ(test, fields[i] & SPTE_HW_MASK, 0ULL);
		seen |= fields[i];
	}
	KUNIT_EXPECT_EQ(test, seen, SPTE_SW_MASK);
}

static void leaf_fields(struct kunit *test)
{
	u64 s = spte_make_leaf(0x12345, PG_LEVEL_2M, R | W, true,
			       X86_MEMTYPE_WB, true);

	KUNIT_EXPECT_EQ(test, spte_pfn(s), 0x12345ULL);
	KUNIT_EXPECT_TRUE(test, spte_is_present_leaf(s, PG_LEVEL_2M));
	KUNIT_EXPECT_EQ(test, (s & VMX_EPT_MT_MASK) >> VMX_EPT_MT_EPTE_SHIFT,
			X86_MEMTYPE_WB);
	KUNIT_EXPECT_TRUE(test, spte_is_writable(s));
	KUNIT_EXPECT_TRUE(test, spte_is_mmu_writable(s));
	KUNIT_EXPECT_TRUE(test, spte_is_host_writable(s));
	KUNIT_EXPECT_TRUE(test, spte_ad_enabled(s));
	KUNIT_EXPECT_EQ(test, s & (A | D | X), 0ULL);
}

static void leaf_readonly_host(struct kunit *test)
{
	u64 s = spte_make_leaf(3, PG_LEVEL_4K, R | X, false,
			       X86_MEMTYPE_WB, false);

	KUNIT_EXPECT_FALSE(test, spte_is_writable(s));
	KUNIT_EXPECT_FALSE(test, spte_is_host_writable(s));
	KUNIT_EXPECT_FALSE(test, spte_is_mmu_writable(s));
	KUNIT_EXPECT_FALSE(test, spte_can_fast_set_w(s));
	KUNIT_EXPECT_FALSE(test, spte_ad_enabled(s));
	KUNIT_EXPECT_FALSE(test, spte_has_volatile_bits(s, PG_LEVEL_4K));
}

/* Read-only by choice: the fast path may grant W on the first write. */
static void leaf_readonly_by_choice(struct kunit *test)
{
	u64 s = spte_make_leaf(3, PG_LEVEL_4K, R | X, true,
			       X86_MEMTYPE_WB, true);

	KUNIT_EXPECT_FALSE(test, spte_is_writable(s));
	KUNIT_EXPECT_TRUE(test, spte_is_host_writable(s));
	KUNIT_EXPECT_TRUE(test, spte_is_mmu_writable(s));
	KUNIT_EXPECT_TRUE(test, spte_can_fast_set_w(s));
	KUNIT_EXPECT_TRUE(test, spte_has_volatile_bits(s | A, PG_LEVEL_4K));
}

static void leaf_4k_has_no_large_bit(struct kunit *test)
{
	u64 s = spte_make_leaf(3, PG_LEVEL_4K, R, false, X86_MEMTYPE_WB, true);

	KUNIT_EXPECT_EQ(test, s & SPTE_LARGE_MASK, 0ULL);
	KUNIT_EXPECT_TRUE(test, spte_is_last(s, PG_LEVEL_4K));
	/* The same bits at a higher level would be a table pointer. */
	KUNIT_EXPECT_FALSE(test, spte_is_last(s, PG_LEVEL_2M));
}

static void nonleaf_fields(struct kunit *test)
{
	u64 s = spte_make_nonleaf(0x777, false);
	int level;

	KUNIT_EXPECT_EQ(test, spte_pfn(s), 0x777ULL);
	KUNIT_EXPECT_EQ(test, s & VMX_EPT_RWX_MASK, (u64)VMX_EPT_RWX_MASK);
	KUNIT_EXPECT_TRUE(test, spte_is_present(s));
	for (level = PG_LEVEL_2M; level <= SPTE_ROOT_LEVEL; level++)
		KUNIT_EXPECT_FALSE(test, spte_is_last(s, level));
	KUNIT_EXPECT_FALSE(test, spte_ad_enabled(s));
	KUNIT_EXPECT_TRUE(test, spte_ad_enabled(spte_make_nonleaf(1, true)));
}

static void accessed_dirty_by_mode(struct kunit *test)
{
	u64 ad = spte_make_leaf(1, PG_LEVEL_4K, R | W, true, X86_MEMTYPE_WB, true);
	u64 noad = spte_make_leaf(1, PG_LEVEL_4K, R | W, true, X86_MEMTYPE_WB,
				  false);

	KUNIT_EXPECT_FALSE(test, spte_is_accessed(ad));
	KUNIT_EXPECT_TRUE(test, spte_is_accessed(ad | A));
	KUNIT_EXPECT_FALSE(test, spte_is_dirty(ad));
	KUNIT_EXPECT_TRUE(test, spte_is_dirty(ad | D));
	/* Without A/D: young until marked, dirty exactly when writable. */
	KUNIT_EXPECT_TRUE(test, spte_is_accessed(noad));
	KUNIT_EXPECT_TRUE(test, spte_is_dirty(noad));
	KUNIT_EXPECT_FALSE(test, spte_is_dirty(noad & ~(u64)W));
	KUNIT_EXPECT_FALSE(test, spte_is_accessed(spte_mark_access_tracked(noad)));
}

static void check_split(struct kunit *test, u64 huge, int level)
{
	u64 pages = SPTE_PAGES_PER(level - 1);
	unsigned int i;

	for (i = 0; i < SPTE_ENT_PER_PAGE; i++) {
		u64 c = spte_make_split_child(huge, level, i);

		KUNIT_EXPECT_EQ(test, spte_pfn(c), spte_pfn(huge) + i * pages);
		KUNIT_EXPECT_EQ(test, c & ~(SPTE_PFN_MASK | SPTE_LARGE_MASK),
				huge & ~(SPTE_PFN_MASK | SPTE_LARGE_MASK));
		KUNIT_EXPECT_TRUE(test, spte_is_present_leaf(c, level - 1));
		KUNIT_EXPECT_EQ(test, !!(c & SPTE_LARGE_MASK),
				level - 1 > PG_LEVEL_4K);
	}
}

static void split_2m(struct kunit *test)
{
	check_split(test, spte_make_leaf(0x200, PG_LEVEL_2M, R | W | X, true,
					 X86_MEMTYPE_WB, true) | A | D,
		    PG_LEVEL_2M);
}

static void split_1g(struct kunit *test)
{
	check_split(test, spte_make_leaf(0x40000, PG_LEVEL_1G, R | X, false,
					 X86_MEMTYPE_WB, true),
		    PG_LEVEL_1G);
}

static void split_tracked(struct kunit *test)
{
	u64 huge = spte_make_leaf(0x400, PG_LEVEL_2M, R | W, true,
				  X86_MEMTYPE_WB, false);

	huge = spte_mark_access_tracked(huge);
	check_split(test, huge, PG_LEVEL_2M);
	KUNIT_EXPECT_TRUE(test,
			  spte_is_access_tracked(spte_make_split_child(huge,
								       PG_LEVEL_2M,
								       17)));
}

static void write_locked_plain_when_stable(struct kunit *test)
{
	/* Writable, accessed, dirty: nothing lockless can change it. */
	u64 old = spte_make_leaf(9, PG_LEVEL_4K, R | W, true,
				 X86_MEMTYPE_WB, true) | A | D;
	u64 slot = old;

	KUNIT_EXPECT_EQ(test, eptmmu_spte_write_locked(&slot, old, 0,
						       PG_LEVEL_4K), old);
	KUNIT_EXPECT_EQ(test, slot, 0ULL);
}

static void write_locked_returns_real_old(struct kunit *test)
{
	u64 snap = spte_make_leaf(9, PG_LEVEL_4K, R | W, true,
				  X86_MEMTYPE_WB, true) | A;
	u64 slot = snap | D;	/* the CPU set D after the snapshot */

	KUNIT_EXPECT_EQ(test, eptmmu_spte_write_locked(&slot, snap,
						       snap & ~(u64)W,
						       PG_LEVEL_4K),
			snap | D);
	KUNIT_EXPECT_EQ(test, slot, snap & ~(u64)W);
}

static void cmpxchg_helper(struct kunit *test)
{
	u64 slot = 5, old = 5;

	KUNIT_EXPECT_TRUE(test, eptmmu_spte_try_cmpxchg(&slot, &old, 6));
	KUNIT_EXPECT_EQ(test, slot, 6ULL);
	old = 5;
	KUNIT_EXPECT_FALSE(test, eptmmu_spte_try_cmpxchg(&slot, &old, 7));
	KUNIT_EXPECT_EQ(test, old, 6ULL);	/* failure reports current */
	KUNIT_EXPECT_EQ(test, slot, 6ULL);
}

static void clear_set_bits_helpers(struct kunit *test)
{
	u64 slot = A | D | R;

	KUNIT_EXPECT_EQ(test, eptmmu_spte_clear_bits(&slot, A), A | D | R);
	KUNIT_EXPECT_EQ(test, slot, D | R);
	KUNIT_EXPECT_EQ(test, eptmmu_spte_set_bits(&slot, A), D | R);
	KUNIT_EXPECT_EQ(test, slot, A | D | R);
}

/*
 * The locked writer against a concurrent "CPU" that sets D.  Every D the
 * setter managed to set (which it can only do while W is still set, i.e.
 * before the writer's store) must show up in the old value the writer gets
 * back.  In even iterations the writer waits for the setter between its
 * read and its store, so the bad interleaving happens every time; in odd
 * ones the two really run concurrently.
 */
#define DSET_ITERS	10000

struct dsetter {
	u64 spte;
	atomic_t seq;
	atomic_t done;
	bool set_d;
};

static int dsetter_fn(void *data)
{
	struct dsetter *ds = data;
	int last = 0;

	while (!kthread_should_stop()) {
		int seq = atomic_read_acquire(&ds->seq);
		u64 old;
		bool did = false;

		if (seq == last) {
			cpu_relax();
			cond_resched();
			continue;
		}
		old = READ_ONCE(ds->spte);
		while ((old & W) && !(old & D)) {
			if (try_cmpxchg64(&ds->spte, &old, old | D)) {
				did = true;
				break;
			}
		}
		WRITE_ONCE(ds->set_d, did);
		atomic_set_release(&ds->done, seq);
		last = seq;
	}
	return 0;
}

static bool dsetter_wait(struct dsetter *ds, int seq)
{
	unsigned long deadline = jiffies + HZ;

	while (atomic_read_acquire(&ds->done) != seq) {
		if (time_after(jiffies, deadline))
			return false;
		cpu_relax();
		cond_resched();
	}
	return true;
}

/* Return the number of D bits lost; *set counts the D bits the setter set. */
static unsigned int run_dsetter(struct kunit *test, unsigned int *set)
{
	struct dsetter *ds;
	struct task_struct *t;
	unsigned int i, lost = 0;
	u64 base = spte_make_leaf(0x42, PG_LEVEL_4K, R | W, true,
				  X86_MEMTYPE_WB, true) | A;

	ds = kunit_kzalloc(test, sizeof(*ds), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, ds);
	t = kthread_create(dsetter_fn, ds, "eptmmu-dsetter");
	KUNIT_ASSERT_FALSE(test, IS_ERR(t));
	/*
	 * Each side spins for the other: on one CPU of a preemptible
	 * kernel, where cond_resched() yields nothing, every hand-off
	 * would cost a time slice.  Pin the two apart.
	 */
	if (num_online_cpus() > 1) {
		int cpu = raw_smp_processor_id();

		KUNIT_ASSERT_EQ(test, set_cpus_allowed_ptr(current,
							   cpumask_of(cpu)), 0);
		kthread_bind(t, cpumask_any_but(cpu_online_mask, cpu));
	}
	wake_up_process(t);

	*set = 0;
	for (i = 1; i <= DSET_ITERS; i++) {
		u64 snap, ret;

		WRITE_ONCE(ds->spte, base);
		snap = READ_ONCE(ds->spte);
		atomic_set_release(&ds->seq, i);
		if (!(i & 1)) {
			if (!dsetter_wait(ds, i))
				break;
		} else {
			ndelay(get_random_u32_below(200));
		}
		ret = eptmmu_spte_write_locked(&ds->spte, snap, snap & ~(u64)W,
					       PG_LEVEL_4K);
		if (!dsetter_wait(ds, i))
			break;
		if (READ_ONCE(ds->set_d)) {
			(*set)++;
			if (!(ret & D))
				lost++;
		}
	}
	kthread_stop(t);
	KUNIT_EXPECT_EQ_MSG(test, i, DSET_ITERS + 1, "setter thread stalled");
	return lost;
}

/* R-VOLATILE-D */
static void write_locked_concurrent_d(struct kunit *test)
{
	unsigned int set, lost = run_dsetter(test, &set);

	kunit_info(test, "D set concurrently %u times, lost %u\n", set, lost);
	KUNIT_EXPECT_EQ(test, lost, 0u);
	KUNIT_EXPECT_GE(test, set, DSET_ITERS / 2u);
}

static void restore_plain_store(void *unused)
{
	WRITE_ONCE(eptmmu_inject.spte_plain_store, false);
}

/* The same test against a plain-store helper must see D being lost. */
static void write_locked_concurrent_d_broken(struct kunit *test)
{
	unsigned int set, lost;

	WRITE_ONCE(eptmmu_inject.spte_plain_store, true);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test,
							restore_plain_store,
							NULL), 0);
	lost = run_dsetter(test, &set);
	kunit_info(test, "broken helper: D set %u times, lost %u\n", set, lost);
	KUNIT_EXPECT_GE(test, lost, DSET_ITERS / 2u);
}

static struct kunit_case spte_format_cases[] = {
	KUNIT_CASE(field_layout),
	KUNIT_CASE(leaf_fields),
	KUNIT_CASE(leaf_readonly_host),
	KUNIT_CASE(leaf_readonly_by_choice),
	KUNIT_CASE(leaf_4k_has_no_large_bit),
	KUNIT_CASE(nonleaf_fields),
	KUNIT_CASE(accessed_dirty_by_mode),
	KUNIT_CASE(frozen_is_inert),
	KUNIT_CASE(mmio_roundtrip),
	KUNIT_CASE(leaves_never_mmio),
	KUNIT_CASE(split_2m),
	KUNIT_CASE(split_1g),
	KUNIT_CASE(split_tracked),
	{}
};

static struct kunit_suite spte_format_suite = {
	.name = "eptmmu_spte_format",
	.test_cases = spte_format_cases,
};

static struct kunit_case spte_acctrack_cases[] = {
	KUNIT_CASE(mark_restore_roundtrip),
	KUNIT_CASE(mark_idempotent),
	KUNIT_CASE(mark_keeps_mmu_writable),
	KUNIT_CASE(mark_ignores_non_present),
	{}
};

static struct kunit_suite spte_acctrack_suite = {
	.name = "eptmmu_spte_acctrack",
	.test_cases = spte_acctrack_cases,
};

static struct kunit_case spte_policy_cases[] = {
	KUNIT_CASE(volatile_table_ad),
	KUNIT_CASE(volatile_table_noad),
	KUNIT_CASE(volatile_readonly_mmu_writable),
	KUNIT_CASE(volatile_nonleaf_never),
	KUNIT_CASE(settled_never_volatile),
	KUNIT_CASE(flush_table_ad),
	KUNIT_CASE(flush_table_noad),
	KUNIT_CASE(flush_nonleaf_is_callers),
	{}
};

static struct kunit_suite spte_policy_suite = {
	.name = "eptmmu_spte_policy",
	.test_cases = spte_policy_cases,
};

static struct kunit_case spte_write_cases[] = {
	KUNIT_CASE(write_locked_plain_when_stable),
	KUNIT_CASE(write_locked_returns_real_old),
	KUNIT_CASE(cmpxchg_helper),
	KUNIT_CASE(clear_set_bits_helpers),
	KUNIT_CASE_SLOW(write_locked_concurrent_d),
	KUNIT_CASE_SLOW(write_locked_concurrent_d_broken),
	{}
};

static struct kunit_suite spte_write_suite = {
	.name = "eptmmu_spte_write",
	.test_cases = spte_write_cases,
};

kunit_test_suites(&spte_format_suite, &spte_acctrack_suite,
		  &spte_policy_suite, &spte_write_suite);
