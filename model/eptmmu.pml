/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Promela model of eptmmu's lockless MMU protocol (see model/README.md).
 *
 * One file, many configurations: exactly one -DSCEN_<name> picks the
 * agents and the initial state (scenarios.pml), and -DBROKEN_<knob>
 * restores one of the old behaviours that include/eptmmu/inject.h can
 * switch on.  Every statement or atomic block below is one step of the
 * code: a READ_ONCE, a cmpxchg/xchg/atomic AND/OR, a lock operation or
 * one vCPU's part of a TLB flush.  Purely local computation is folded
 * into the step that uses it, which hides no interleaving.
 */

/* ---- SPTE bits (spte/spte.c, include/eptmmu/spte.h), abstracted ---- */
#define P	1	/* SPTE_PRESENT */
#define R	2	/* readable (X is never looked at apart from R) */
#define W	4	/* writable */
#define MW	8	/* SPTE_MMU_WRITABLE */
#define HW	16	/* SPTE_HOST_WRITABLE */
#define A	32	/* EPT accessed (A/D mode only) */
#define D	64	/* EPT dirty (A/D mode only) */
#define T	128	/* SPTE_ACC_TRACKED, saved R implied (leaves are always R) */
#define PFN1	256	/* which of the two host pages: 0 or 1 */
#define FROZEN	512	/* SPTE_FROZEN: not present, owned by one zapper */

#define PFN(s)		(((s) & PFN1) -> 1 : 0)
/* include/eptmmu/spte.h spte_is_accessed() / spte_is_dirty() */
#define ACCESSED(s)	(((s) & P) && (AD -> ((s) & A) : !((s) & T)))
#define DIRTY(s)	(((s) & P) && (AD -> ((s) & D) : ((s) & W)))
/* spte_can_fast_set_w() */
#define CAN_SET_W(s)	(((s) & MW) && ((s) & HW))
/* spte_mark_access_tracked(), no A/D: R saved, RW dropped (R-ACC-NOW) */
#define TRACK(s)	(((s) & T) -> (s) : (((s) & ~(R | W)) | T))
/* spte_restore_access(): saved R back, W stays clear (R-ACC-NOW) */
#define RESTORE(s)	(((s) & ~T) | R)

/*
 * spte_has_volatile_bits(): the terms of R-VOLATILE-TRACKED,
 * R-VOLATILE-MMUW, R-VOLATILE-A and R-VOLATILE-D.  I-VOLATILE in
 * set_spte_locked() checks that they name every bit a lockless agent
 * may set under a locked writer.  -DBROKEN_VOLATILE_NO_A drops the A
 * term (a model-only variant: no knob in inject.h).
 */
#ifndef BROKEN_VOLATILE_NO_A
#define A_CLEAR(s)	!((s) & A)
#else
#define A_CLEAR(s)	0
#endif
#define VOLATILE(s)	(((s) & P) && (((s) & T) ||			\
			 (!((s) & W) && CAN_SET_W(s)) ||		\
			 (AD && (A_CLEAR(s) || (((s) & W) && !((s) & D))))))

/*
 * What a lockless agent added to a leaf read as s that is now c: A, D,
 * W or R set (the CPU's A/D, the fast path's W and restore), or the
 * access-tracked mark gone (the restore).  Clearing A (aging) is not a
 * gain: losing that only makes a page look used.
 */
#define GAINED(s, c)	((((c) & ~(s)) & (A | D | W | R)) | (((s) & ~(c)) & T))

/* spte_needs_tlb_flush() (R-FLUSH-REALOLD) */
#define NEEDS_FLUSH(o, n)						\
	(((o) & P) &&							\
	 (!((n) & P) || PFN(o) != PFN(n) ||				\
	  (((o) & MW) && !((n) & MW)) ||				\
	  (((o) & W) && !((n) & W) && !(!((o) & T) && ((n) & T))) ||	\
	  (AD && ((o) & D) && !((n) & D))))

/* ---- a TLB entry (vcpu/soft.c struct soft_tlb_entry) ---- */
#define TV	1	/* valid */
#define TW	2	/* the walk allowed W */
#define TD	4	/* the walk that filled it set D */
#define TP	8	/* pfn 1 */
#define TPFN(t)	(((t) & TP) -> 1 : 0)

/* memslot as the published array shows it (mmu/vm.c) */
#define S_VALID		0
#define S_LOG		1	/* logging dirty pages: has a bitmap */
#define S_INVALID	2	/* EPTMMU_SLOT_INVALID: being deleted */
#define S_GONE		3	/* not in the array */

#define NOPAGE	2		/* no host page at the gfn's hva */

/* results of the slow fault */
#define SR_OK	 0
#define SR_RETRY 1
#define SR_EXIT	 2		/* MMIO exit or -EFAULT: the access ends */

/* SRCU readers: each vCPU, two host threads, aging */
#define RH0	2
#define RH1	3
#define RAG	4
#define NREAD	5

/* zap operation ids, for the flush bookkeeping of zap() below */
#define K_H0	0
#define K_H1	1
#define K_DEL	2
#define NK	3

#include "scenarios.pml"

#ifndef DBIT
#define DBIT 0
#endif
#if DBIT && !AD
#error "D-bit dirty logging needs A/D"
#endif
#ifndef MAXTRY
#define MAXTRY 3
#endif
#define FAST_MAX 2

/* TLB entries are indexed v * NG + g; masks over them */
#define EBIT(v, g)	(1 << ((v) * NG + (g)))
#define GMASK(g)	(EBIT(0, g) | ((NV > 1) -> EBIT(1, g) : 0))
#define VMASK(v)	(((1 << NG) - 1) << ((v) * NG))
#define ALLG		((1 << NG) - 1)

/* ---- state ---- */
short spte[NG];
byte tlb[NV * NG];
bit tlb_lock[NV];		/* soft_vcpu->tlb_lock */
short wread[NV];		/* leaf a walk in flight read (0: none) */
byte wg[NV];			/* ... and its gfn */
bit wwr[NV];			/* ... and whether it is a write */

byte hmap[NG];			/* host page mapped at the gfn's hva */
bit freed[2];			/* host page is free */
bit gw[2];			/* the guest wrote it through EPT */
bit hdirty[2];			/* folio dirty flag */
byte ref[2];			/* GUP references */
bit ptl[NG];			/* host page-table lock held by aging */

byte slot = S_VALID;		/* the published memslot array */
byte rview[NREAD];		/* SRCU reader: 1 + slot state it saw */

byte mmu_rd;			/* mmu_lock readers */
bit mmu_wr;			/* mmu_lock writer */
byte seq;			/* mmu_invalidate_seq */
byte in_progress;		/* mmu_invalidate_in_progress */
byte imask;			/* gfns of the ranges in progress */
byte zaps_unflushed;		/* vm->zaps_unflushed */

bit bitmap[NG];			/* the slot's dirty bitmap */
bit logging_on;			/* dirty_log_start() has returned */
bit pending[NG];		/* written since logging started, not yet reported */

/*
 * Invariant bookkeeping (ghost state, not in the code).  An entry is
 * "stale" when it holds, or a walk in flight will fill it with, a
 * translation whose leaf has since gone or moved; "stalew" when it lets
 * a write through that the SPTE no longer records (W withdrawn, or D
 * cleared with the entry's D already recorded).  A flush or a drop of
 * the entry clears both.  mustgo[k] / mustw: the entries operation k
 * promised are gone by the time it returns.
 */
byte stale;
byte stalew;
byte mustgo[NK];
byte mustw;
bit vlost;			/* I-VOLATILE failed: set and checked in one step */

/* ---- helpers ---- */

/*
 * The flush invariants (I-ZAP-FLUSH, I-WRPROT-FLUSH) and I-VOLATILE,
 * each checked where an operation keeps or breaks its promise.
 * -DNO_FLUSH_ASSERTS leaves only the end-to-end ones (I-FREED,
 * I-HOST-DIRTY, I-DIRTY-LOG), to see whether such a bug also loses
 * data or reaches a freed page.
 */
#ifndef NO_FLUSH_ASSERTS
#define flush_assert(x)	assert(x)
#else
#define flush_assert(x)	skip
#endif

inline clr_bits(m)
{
	stale = stale & ~(m);
	stalew = stalew & ~(m);
	mustgo[0] = mustgo[0] & ~(m);
	mustgo[1] = mustgo[1] & ~(m);
	mustgo[2] = mustgo[2] & ~(m);
	mustw = mustw & ~(m)
}

/*
 * mmu/pt.c eptmmu_flush_remote_tlbs() -> vcpu/soft.c soft_flush_tlb():
 * one step per vCPU; taking tlb_lock waits out an access in flight
 * (R-FLUSH-SYNC).
 */
inline flush_all()
{
#ifndef BROKEN_SKIP_FLUSH
	fv = 0;
#else
	fv = NV;	/* eptmmu_flush_remote_tlbs() returns at once */
#endif
	do
	:: fv < NV ->
		atomic {
			tlb_lock[fv] == 0 ->
			tlb[fv * NG] = 0;
			if
			:: NG > 1 -> tlb[fv * NG + NG - 1] = 0
			:: else
			fi;
			clr_bits(VMASK(fv))
		};
		fv++
	:: else -> break
	od
}

/* Ghost: a leaf of gfn g changed from o to n; which entries went stale. */
inline mark_removed(g, o, n)
{
	mv = 0;
	do
	:: mv < NV ->
		me = mv * NG + g;
		if
		:: (tlb[me] & TV) || (wg[mv] == g && (wread[mv] & P)) ->
			if
			:: !((n) & P) || PFN(n) != PFN(o) ->
				stale = stale | (1 << me)
			:: else
			fi;
			/*
			 * With A/D an entry that has not recorded D walks again
			 * on a write (soft_access() need_dirty), so only a W
			 * with D already recorded can write unseen.
			 */
			if
			:: !((n) & W) &&
			   ((tlb[me] & TW) || (wg[mv] == g && (wread[mv] & W))) &&
			   (!AD || (tlb[me] & TD) ||
			    (wg[mv] == g && wwr[mv] && (wread[mv] & D))) ->
				stalew = stalew | (1 << me)
			:: else
			fi;
			if
			:: AD && !((n) & D) &&
			   ((tlb[me] & TD) ||
			    (wg[mv] == g && wwr[mv] && (wread[mv] & D))) ->
				stalew = stalew | (1 << me)
			:: else
			fi
		:: else
		fi;
		mv++
	:: else -> break
	od
}

/* mmu/pt.c eptmmu_host_page_dirty() (R-HOST-DIRTY) */
#ifndef BROKEN_NO_HOST_DIRTY
#define host_page_dirty(p)	hdirty[p] = 1
#else
#define host_page_dirty(p)	skip
#endif

/*
 * mmu/pt.c eptmmu_leaf_changed() and note_lost_dirty() (R-HOST-DIRTY,
 * R-DIRTY-DBIT).  Runs inside the step that replaced the leaf: it only
 * sets flags, and who reads them (reclaim, a harvest) cannot run
 * between the replace and this under the same lock.
 */
inline leaf_changed(g, o, n)
{
	if
	:: (o) & P ->
		same = ((n) & P) && PFN(n) == PFN(o);
		if
		:: DIRTY(o) && !(same && DIRTY(n)) -> host_page_dirty(PFN(o))
		:: else
		fi;
		if
		:: (!((n) & D) || !same) && AD && ((o) & D) && DBIT &&
		   slot == S_LOG ->
			bitmap[g] = 1
		:: else
		fi
	:: else
	fi
}

/*
 * mmu/pt.c eptmmu_set_spte_locked() with spte/spte.c
 * eptmmu_spte_write_locked(): xchg when the snapshot has volatile bits,
 * else a plain store; flush and bookkeeping from the value replaced
 * (R-MMULOCK-WRITE, R-FLUSH-REALOLD).
 */
inline set_spte_locked(g, snap, n)
{
	atomic {
#ifndef BROKEN_SPTE_PLAIN_STORE
		if
		:: VOLATILE(snap) -> old = spte[g]
		:: else -> old = snap
		fi;
#else
		old = snap;
#endif
		/*
		 * I-VOLATILE (R-VOLATILE-A, R-VOLATILE-D, R-VOLATILE-MMUW,
		 * R-VOLATILE-TRACKED): a bit some lockless agent set since
		 * the writer's read is in the value its decisions use, or
		 * in the value it stores.
		 */
#ifndef NO_FLUSH_ASSERTS
		vlost = (GAINED(snap, spte[g]) &
			 ~(GAINED(snap, old) | GAINED(snap, n))) != 0;
		assert(!vlost);
#endif
		spte[g] = n;
#ifndef BROKEN_FLUSH_FROM_SNAPSHOT
		if
		:: NEEDS_FLUSH(old, n) -> fl = 1
		:: else
		fi;
#else
		if
		:: NEEDS_FLUSH(snap, n) -> fl = 1
		:: else
		fi;
#endif
		leaf_changed(g, old, n);
		mark_removed(g, old, n)
	}
}

/* mmu/dirty.c wrprot_leaf() (R-WRPROT-FLUSH) */
inline wrprot_leaf(g, snap)
{
	atomic {
#ifndef BROKEN_WRPROT_FLUSH_FROM_SPTE
		if
		:: (snap) & MW -> fl = 1
		:: else
		fi;
#endif
		nw = (DBIT -> ((snap) & ~D) : ((snap) & ~W))
	};
	set_spte_locked(g, snap, nw);
	mustw = mustw | (stalew & GMASK(g))
}

/* mmu/dirty.c needs_protect() */
#define NEEDS_PROTECT(s)	(((s) & P) && (DBIT -> AD : (((s) & W) || ((s) & MW))))

inline write_lock()
{
	atomic { mmu_rd == 0 && mmu_wr == 0 -> mmu_wr = 1 }
}

inline write_unlock()
{
	mmu_wr = 0
}

/* mmu/vm.c swap_slots(): publish, then synchronize_srcu() (R-MEMSLOT-SRCU) */
inline publish(st)
{
	slot = st;
	atomic {
		(rview[0] == 0 || rview[0] == slot + 1) &&
		(rview[1] == 0 || rview[1] == slot + 1) &&
		(rview[2] == 0 || rview[2] == slot + 1) &&
		(rview[3] == 0 || rview[3] == slot + 1) &&
		(rview[4] == 0 || rview[4] == slot + 1)
	}
}

/*
 * mmu/pt.c eptmmu_zap_gfn_range() on the gfns of mask m: read lock,
 * eptmmu_zap_begin(), per entry eptmmu_freeze_and_clear(), then
 * eptmmu_zap_end().  Tables are not modelled: every entry is a 4K leaf.
 */
inline zap(k, m)
{
	atomic { mmu_wr == 0 -> mmu_rd++ };
	zfl = 0;
	zaps_unflushed++;			/* eptmmu_zap_begin() */
	zg = 0;
	do
	:: zg < NG && ((m) & (1 << zg)) ->
		/* zap_pass(): the iterator's READ_ONCE */
		atomic {
			old = spte[zg];
			/* a clear seen here is ours to flush for (R-ZAP-FLUSH) */
			mustgo[k] = mustgo[k] | (stale & GMASK(zg))
		};
		if
		:: old == 0 || old == FROZEN -> zg++
		:: else ->
			/* eptmmu_freeze_and_clear(): cmpxchg to frozen (R-FROZEN) */
			atomic {
				if
				:: spte[zg] == old ->
					spte[zg] = FROZEN;
					leaf_changed(zg, old, FROZEN);
					mark_removed(zg, old, FROZEN);
					mustgo[k] = mustgo[k] | (stale & GMASK(zg));
					zfl = 1;
					ok = 1
				:: else -> ok = 0	/* changed: retry this entry */
				fi
			};
			if
			:: ok ->
				spte[zg] = 0;	/* WRITE_ONCE(*sptep, 0) */
				zg++
			:: else
			fi
		fi
	:: zg < NG && !((m) & (1 << zg)) -> zg++
	:: zg >= NG -> break
	od;
	/* eptmmu_zap_end() */
	atomic {
#ifndef BROKEN_ZAP_FLUSH_OWN_ONLY
		zdo = zfl || zaps_unflushed > 1
#else
		zdo = zfl
#endif
	};
	if
	:: zdo -> flush_all()
	:: else
	fi;
	zaps_unflushed--;
	mmu_rd--;
	/* R-ZAP-FLUSH, R-FLUSH-SYNC: nobody uses what was cleared */
	flush_assert(mustgo[k] == 0)
}

/* ---- the vCPU (vcpu/soft.c soft_access()) ---- */

/*
 * The access itself: the host must map this very page at the gfn's
 * address (not freed, not reused elsewhere).
 */
inline do_access(g, p, w)
{
	assert(hmap[g] == p);		/* I-FREED */
	if
	:: w ->
		gw[p] = 1;
		if
		:: logging_on -> pending[g] = 1
		:: else
		fi
	:: else
	fi
}

/* fastpf/fastpf.c eptmmu_fast_page_fault(); fr = 1 when fixed */
inline fastpf(g, w)
{
	atomic { rview[v] = slot + 1; fs = slot };
	fr = 0;
	if
	:: fs != S_GONE ->
		old = spte[g];		/* the RCU walk to the leaf */
		ftry = 0;
		do
		:: ftry >= FAST_MAX || !(old & P) -> break
		:: else ->
			atomic {
				ftry++;
				n = old;
				setw = 0;
				if
				:: old & T -> n = RESTORE(old)	/* R-FASTPF-ACC */
				:: else
				fi;
				ok = 1;
				if
				:: w && !(n & W) ->		/* R-FASTPF-WP */
					if
					:: CAN_SET_W(n) -> n = n | W; setw = 1
					:: else -> ok = 0
					fi
				:: else
				fi;
				if
				:: (w && !(n & W)) || (!w && !(n & R)) -> ok = 0
				:: else
				fi
			};
			if
			:: !ok -> break
			:: ok && n == old -> fr = 1; break
			:: else
			fi;
#ifdef BROKEN_FAST_MARK_BEFORE_SET
			if
			:: setw && fs == S_LOG && !DBIT -> bitmap[g] = 1
			:: else
			fi;
#endif
#ifndef BROKEN_FAST_PLAIN_STORE
			atomic {
				if
				:: spte[g] == old -> spte[g] = n; ok = 1
				:: else -> old = spte[g]; ok = 0
				fi
			};
#else
			spte[g] = n; ok = 1;	/* WRITE_ONCE instead of cmpxchg */
#endif
			if
			:: ok ->
#ifndef BROKEN_FAST_MARK_BEFORE_SET
				/* R-DIRTY-MARK-AFTER-W (the gfn is the position by construction) */
				if
				:: setw && fs == S_LOG && !DBIT -> bitmap[g] = 1
				:: else
				fi;
#endif
				fr = 1;
				break
			:: else
			fi
		od
	:: else
	fi;
	rview[v] = 0
}

/* mmu/fault.c eptmmu_slow_page_fault(); result in sr */
inline slowpf(g, w)
{
	atomic { rview[v] = slot + 1; fs = slot };
	if
	:: fs == S_GONE || fs == S_INVALID ->
		/* install_mmio(), or R-MEMSLOT-DELETE: map nothing */
		sr = SR_EXIT
	:: else ->
		snap = seq;		/* f.seq = READ_ONCE(mmu_invalidate_seq) */
		/* resolve_page(): GUP takes a reference; faults a page in */
		atomic {
			if
			:: hmap[g] == NOPAGE ->
				if
				:: freed[0] -> p = 0
				:: freed[1] -> p = 1
				:: else -> p = NOPAGE
				fi;
				if
				:: p != NOPAGE ->
					hmap[g] = p; freed[p] = 0;
					gw[p] = 0; hdirty[p] = 0
				:: else
				fi
			:: else -> p = hmap[g]
			fi;
			if
			:: p != NOPAGE -> ref[p]++
			:: else
			fi
		};
		if
		:: p == NOPAGE -> sr = SR_EXIT
		:: else ->
			/* spte_make_leaf(); the host PTE is writable (R-HOST-DIRTY) */
			n = P | R | HW | MW | (p -> PFN1 : 0) |
			    ((w || fs != S_LOG) -> W : 0) |
			    (AD -> (A | (w -> D : 0)) : 0);
			atomic { mmu_wr == 0 -> mmu_rd++ };
			/* invalidation_raced() (R-INVAL-SEQ) */
#ifndef BROKEN_SKIP_INVALIDATE_RECHECK
			if
			:: (in_progress > 0 && (imask & (1 << g))) || seq != snap ->
				sr = SR_RETRY
			:: else ->
#else
			if
			:: true ->
#endif
				/* map_page(): the iterator's READ_ONCE */
				old = spte[g];
				fl = 0;
				if
				:: old == FROZEN -> sr = SR_RETRY	/* R-FROZEN */
#ifndef BROKEN_FAULT_REPLACES_LEAF
				/* install_leaf(): keep what grants the access (R-FAULT-KEEP) */
				:: (old & P) && PFN(old) == p &&
				   ((w && (old & W)) || (!w && (old & R))) ->
					sr = SR_OK
#else
				:: (old & P) && PFN(old) == p &&
				   (old & (R | W)) == (n & (R | W)) ->
					sr = SR_OK
#endif
				:: else ->
					atomic {
						if
						:: spte[g] == old ->
							spte[g] = n;
							sr = SR_OK;
#ifndef BROKEN_FAULT_REPLACES_LEAF
							leaf_changed(g, old, n);
#endif
							if
							:: NEEDS_FLUSH(old, n) -> fl = 1
							:: else
							fi;
							mark_removed(g, old, n)
						:: else -> sr = SR_RETRY
						fi
					};
					if
					:: fl -> flush_all()
					:: else
					fi
				fi
			fi;
			mmu_rd--;
			/* a writable leaf in a logging slot: this write is logged,
			   after the leaf is in (R-DIRTY-MARK-AFTER-W) */
			if
			:: sr == SR_OK && (n & W) && fs == S_LOG -> bitmap[g] = 1
			:: else
			fi;
			ref[p]--		/* put_page() */
		fi
	fi;
	rview[v] = 0
}

/*
 * One guest access: TLB hit, or a lockless walk, with tlb_lock held
 * across walk, fill and the access; on a violation eptmmu_page_fault()
 * (fast path, then slow path) and the access is tried again.
 */
inline access(g, w)
{
	tries = 0;
	do
	:: tries >= MAXTRY -> break	/* EAGAIN: the access gives up */
	:: else ->
		tries++;
		e = v * NG + g;
		atomic {
			tlb_lock[v] == 0 -> tlb_lock[v] = 1;
			if
			:: (tlb[e] & TV) && (!w || (tlb[e] & TW)) &&
			   (!(w && AD) || (tlb[e] & TD)) ->
				p = TPFN(tlb[e]);
				do_access(g, p, w);
				tlb_lock[v] = 0;
				hit = 1
			:: else ->
				hit = 0;
				/* a faulting access leaves no translation behind */
				tlb[e] = 0;
				clr_bits(1 << e)
			fi
		};
		if
		:: hit -> break
		:: else
		fi;
		/* soft_walk(): READ_ONCE of the leaf */
		atomic {
			s = spte[g];
			if
			:: (s & P) && (s & R) && (!w || (s & W)) ->
				wread[v] = s; wg[v] = g; wwr[v] = w; ok = 1
			:: else ->
				ok = 0; tlb_lock[v] = 0
			fi
		};
		if
		:: ok && AD && (s & (A | (w -> D : 0))) != (A | (w -> D : 0)) ->
			/*
			 * vcpu/soft.c soft_set_ad() (R-SOFT-AD): a locked OR,
			 * only into an entry that still maps what the walk saw.
			 * The CPU's A/D update is part of its walk: when the
			 * entry has gone meanwhile it walks again, it does not
			 * access.
			 */
			atomic {
				if
				:: (spte[g] & P) && PFN(spte[g]) == PFN(s) ->
					spte[g] = spte[g] | A | (w -> D : 0);
					wread[v] = wread[v] | A | (w -> D : 0)
				:: else ->
#ifndef BROKEN_SOFT_SET_AD_IGNORED
					/* walk again */
					ok = 0; rewalk = 1; wread[v] = 0;
					tlb_lock[v] = 0
#else
					/* soft.c today: the access goes ahead */
					skip
#endif
				fi
			}
		:: else
		fi;
		if
		:: ok ->
			/* fill the TLB and do the access, still under tlb_lock */
			atomic {
				tlb[e] = TV | ((s & W) -> TW : 0) | (w -> TD : 0) |
					 ((s & PFN1) -> TP : 0);
				p = PFN(s);
				do_access(g, p, w);
				wread[v] = 0;
				tlb_lock[v] = 0
			};
			break
		:: rewalk -> rewalk = 0
		:: else ->
			fastpf(g, w);
			if
			:: fr == 0 ->
				slowpf(g, w);
				if
				:: sr == SR_EXIT -> break
				:: else
				fi
			:: else
			fi
		fi
	od
}

#define VCPU_LOCALS							\
	byte g, e, p, tries, ftry, fs, fv, mv, me, snap, sr;		\
	bit w, hit, ok, fr, setw, fl, same, rewalk;			\
	short s, old, n

proctype vcpu(byte v)
{
	VCPU_LOCALS;
	byte k;

	k = 0;
	do
	:: k < NACC ->
		CHOOSE_ACCESS(v, k);
		access(g, w);
		k++
	:: else -> break
	od
}

#define OP_LOCALS							\
	byte zg, fv, mv, me, hp, hs, i;					\
	bit zfl, zdo, ok, fl, same;					\
	short old, nw, snap

/*
 * acctrack/notifier.c (R-INVAL-SEQ): invalidate_range_start
 * (bookkeeping under the write lock, then zap_hva_range() under SRCU),
 * the host's own PTE change, invalidate_range_end; then, if the host
 * frees the page (reclaim, munmap), the free, delayed by GUP references.
 */
proctype host(byte id; byte m; bit dofree)
{
	OP_LOCALS;

	hp = NOPAGE;
	atomic {
		mmu_rd == 0 && mmu_wr == 0 ->
		if
		:: in_progress == 0 -> imask = m
		:: else -> imask = imask | m
		fi;
		in_progress++
	};
	atomic { rview[RH0 + id] = slot + 1; hs = slot };
	if
	:: hs != S_GONE -> zap(id, m)	/* the slot is in the array */
	:: else
	fi;
	rview[RH0 + id] = 0;
	if
	:: dofree ->
		/* the host clears its PTE; aging holds the PTL meanwhile */
		i = ((m & 1) -> 0 : 1);
		atomic { !ptl[i] -> hp = hmap[i]; hmap[i] = NOPAGE }
	:: else
	fi;
	atomic {
		mmu_rd == 0 && mmu_wr == 0 ->
		seq++;
		in_progress--
	};
	if
	:: dofree && hp != NOPAGE ->
		atomic {
			ref[hp] == 0 ->
			/* R-HOST-DIRTY: a clean page is dropped */
			assert(!gw[hp] || hdirty[hp]);	/* I-HOST-DIRTY */
			freed[hp] = 1
		}
	:: else
	fi
}

/*
 * acctrack/age.c age_leaf() via eptmmu_age_gfn_range(), from a
 * clear_young notifier whose caller holds the host PTL of the page.
 */
proctype aging()
{
	OP_LOCALS;

	i = 0;
	do
	:: i < NG ->
		atomic {
			if
			:: hmap[i] != NOPAGE ->
				ptl[i] = 1;
				rview[RAG] = slot + 1;
				hs = slot
			:: else -> hs = S_GONE	/* no host PTE: nothing to age */
			fi
		};
		if
		:: hs != S_GONE ->
			old = spte[i];
			if
			:: ACCESSED(old) && AD ->
#ifndef BROKEN_AGE_PLAIN_RMW
				/* atomic AND: a D set meanwhile stays (R-AGE-ATOMIC) */
				spte[i] = spte[i] & ~A
#else
				/* age_broken(): WRITE_ONCE of the value read */
				spte[i] = old & ~A
#endif
#ifdef BROKEN_AGE_TWO_STEP
			:: ACCESSED(old) && !AD ->
				/* age_broken(): clear RWX, then set the saved bits */
				spte[i] = spte[i] & ~(R | W);
				spte[i] = spte[i] | T
#else
			:: ACCESSED(old) && !AD ->
				/* one cmpxchg to tracked, no flush (R-AGE-NOFLUSH) */
				atomic {
					if
					:: spte[i] == old ->
						nw = TRACK(old);
						spte[i] = nw;
						mark_removed(i, old, nw);
						if
						:: old & W -> hp = PFN(old); host_page_dirty(hp)
						:: else
						fi
					:: else
					fi
				}
#endif
			:: else
			fi
		:: else
		fi;
		atomic { ptl[i] = 0; rview[RAG] = 0 };
		i++
	:: else -> break
	od
}

/* mmu/vm.c delete_slot() (R-MEMSLOT-DELETE) */
proctype delete()
{
	OP_LOCALS;

#ifndef BROKEN_DELETE_UNPUBLISH_FIRST
	publish(S_INVALID);
	zap(K_DEL, ALLG);
	publish(S_GONE)
#else
	publish(S_GONE);
	zap(K_DEL, ALLG)
#endif
}

/*
 * mmu/dirty.c dirty_log_cond_resched() between two bitmap words
 * (R-DIRTY-YIELD): here each gfn is its own word.
 */
inline dirty_resched()
{
#ifdef YIELDS
	if
	:: skip
	:: true ->
#ifndef BROKEN_DIRTY_LOG_YIELD_NOFLUSH
		if
		:: fl -> flush_all(); fl = 0
		:: else
		fi;
#endif
		/* R-DIRTY-INVARIANT at the yield */
		flush_assert(mustw == 0);
		write_unlock();
		write_lock()
	fi
#else
	skip
#endif
}

/* mmu/dirty.c reprotect_mask() for one gfn */
inline reprotect(g)
{
	if
	:: !DBIT ->
		snap = spte[g];
		if
		:: NEEDS_PROTECT(snap) -> wrprot_leaf(g, snap)
		:: else
		fi
	:: else
	fi
}

/*
 * mmu/vm.c publishes the slot logging, then mmu/dirty.c
 * eptmmu_dirty_log_start() protects every leaf under the write lock.
 */
inline log_start()
{
	publish(S_LOG);
	write_lock();
	fl = 0;
	mustw = 0;
	i = 0;
	do
	:: i < NG ->
		snap = spte[i];
		if
		:: NEEDS_PROTECT(snap) -> wrprot_leaf(i, snap)
		:: else
		fi;
		i++
	:: else -> break
	od;
	if
	:: fl -> flush_all()
	:: else
	fi;
	flush_assert(mustw == 0);		/* R-WRPROT-FLUSH */
	atomic { write_unlock(); logging_on = 1 }
}

/* mmu/dirty.c eptmmu_get_dirty_log(), clearing (R-DIRTY-INVARIANT) */
inline get_log()
{
	write_lock();
	fl = 0;
	mustw = 0;
	hs = 0;				/* pages reported */
	i = 0;
	do				/* harvest_dbits() (R-DIRTY-DBIT) */
	:: DBIT && i < NG ->
		snap = spte[i];
		if
		:: NEEDS_PROTECT(snap) ->
			nw = snap & ~D;
			set_spte_locked(i, snap, nw);
			mustw = mustw | (stalew & GMASK(i))
		:: else
		fi;
		i++
	:: else -> break
	od;
	i = 0;
	do
	:: i < NG ->
		dirty_resched();
		atomic { ok = bitmap[i]; bitmap[i] = 0 };	/* atomic_long_xchg */
		if
		:: ok ->
			hs = hs | (1 << i);
			fl = 1;
			reprotect(i)
		:: else
		fi;
		i++
	:: else -> break
	od;
	if
	:: fl -> flush_all()
	:: else
	fi;
	flush_assert(mustw == 0);		/* R-WRPROT-FLUSH, R-DIRTY-INVARIANT */
	atomic {
		write_unlock();
		/* user space reads the reported pages after the return */
		i = 0;
		do
		:: i < NG -> if :: hs & (1 << i) -> pending[i] = 0 :: else fi; i++
		:: else -> break
		od
	}
}

/* mmu/dirty.c eptmmu_clear_dirty_log() for the gfns of a chosen mask */
inline clear_log()
{
	if
	:: hs = 1
	:: NG > 1 -> hs = ALLG
	:: NG > 1 -> hs = 2
	fi;
	write_lock();
	fl = 0;
	mustw = 0;
	i = 0;
	do
	:: i < NG && (hs & (1 << i)) ->
		dirty_resched();
		bitmap[i] = 0;		/* atomic_long_andnot */
		fl = 1;
		reprotect(i);
		i++
	:: i < NG && !(hs & (1 << i)) -> i++
	:: else -> break
	od;
	if
	:: fl -> flush_all()
	:: else
	fi;
	flush_assert(mustw == 0);
	atomic {
		write_unlock();
		i = 0;
		do
		:: i < NG -> if :: hs & (1 << i) -> pending[i] = 0 :: else fi; i++
		:: else -> break
		od
	}
}

/* The dirty-log ioctls, one after another (slots_lock). */
proctype ioctl()
{
	OP_LOCALS;

	IOCTL_PROGRAM
}

init
{
	byte gi;

	atomic {
		INIT_STATE;
		START_AGENTS
	};
	_nr_pr == 1;
	/*
	 * I-DIRTY-LOG: every write since logging started is still marked,
	 * or was reported by a harvest, or (D-bit logging) is the leaf's D.
	 */
	gi = 0;
	do
	:: gi < NG ->
		assert(!pending[gi] || bitmap[gi] ||
		       (DBIT && (spte[gi] & P) && (spte[gi] & D)));
		gi++
	:: else -> break
	od
}
