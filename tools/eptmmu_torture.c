// SPDX-License-Identifier: GPL-2.0
/*
 * eptmmu_torture - every agent of the MMU at once, for a bounded time,
 * with oracles that know what each guest access may return.
 *
 * Per VM: four memslots, three anonymous and one a shared memfd.
 * vCPU threads make batches of reads, writes and fetches on the
 * soft vCPU (EPTMMU_RUN) and read and write the same memory from the
 * process; mm threads unmap, zap, swap out, write-protect, split and
 * collapse THPs, compact, soft-offline, KSM-merge and fork under it; one
 * VM thread moves memslots, starts and stops dirty logging in both modes,
 * harvests (GET, or GET NO_CLEAR + CLEAR), ages through page_idle and
 * reads SPTEs back.
 *
 * The data oracle.  Each vCPU thread owns WORDS_PER words of every page
 * and is their only writer (through the guest or the process), so it
 * knows the last value stored.  Every page has two event counters, each a
 * "busy" count raised for the duration of an event and a generation
 * bumped at its end: z for events that destroy the contents (the page
 * reads zero afterwards), p for windows in which accesses may fail
 * (mprotect read-only, the hole of munmap + mmap).  An access window is
 * undisturbed by z when no z event was busy at either end and the
 * generation did not move.  Then a read must return exactly the known
 * value, or zero if a z event ended since the value was last known; in a
 * disturbed window zero is also allowed and nothing becomes known.  Every
 * other event (reclaim, migration, KSM, collapse, fork) must keep the
 * data: no allowance at all.  After a RUN, each word the guest wrote is
 * read through the process's mapping, which must show it unless a z event
 * intervened: a guest write into a page the process no longer maps is
 * caught there even when the guest reads its own write back fine.
 *
 * The dirty-log oracle.  The VM thread numbers its harvests per slot.  A
 * vCPU thread reads that number h before a RUN and, if the slot's logging
 * session was committed before the RUN and still is after it, records
 * "page written, harvest >= h must report it".  Each harvest first takes
 * the records made so far, and after it the page must have been reported
 * by a harvest numbered h or later (a write completing during a harvest
 * may be reported by that one or the next).  Stopping logging first ends
 * the session, waits for vCPU threads that saw it open, then harvests.
 *
 * The SPTE oracle.  A 4K or 2M leaf EPTMMU_GET_SPTE shows while the
 * process's page table maps a stable frame must map that frame.
 *
 * Kernel-side detectors (KASAN, lockdep, watchdogs) are judged by the
 * harness from the log.  Output is TAP; the last line gives the verdict
 * and how to replay it.
 *
 *   eptmmu_torture [-s SEED] [-d SECONDS] [-v NVMS] [-t VCPUS] [-H MMTHREADS]
 *                  [-m SLOT_MIB] [-R ENTRIES] [-l] [-c] [-x] [-V] [-K KERNEL]
 *
 * -R ENTRIES gives each VM dirty rings of ENTRIES per vCPU: every harvest
 * of a slot first collects all the VM's rings (entries of other slots are
 * kept for those slots' next harvests) and resets them, then harvests the
 * slot's bitmap as before (it holds the D bits, which no vCPU logs), and
 * a RUN may also end with a ring-full exit, after which its vCPU thread
 * waits a little for the VM thread's next harvest.
 *
 * -l lightens the load (debug kernels); -c concentrates every agent on
 * the first HOT_PAGES pages of each slot half of the time, with no pause
 * in the VM thread, for races that need two agents on one SPTE at once.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib.h"

#ifndef MADV_SOFT_OFFLINE
#define MADV_SOFT_OFFLINE	101
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT		21
#endif

#define NSLOTS		4
/* Two gpa homes per slot, never used by another slot: a move alternates. */
#define GPA_HOME(s, alt)	(0x40000000ULL + (s) * 0x8000000ULL + \
				 (alt) * 0x4000000ULL)
#define MAX_SLOT_MIB	64
#define WORDS_PER	8
#define MAX_VCPUS	8
#define MAX_MM		4
#define MAX_VMS		4
#define MAX_BATCH	64
#define HOT_PAGES	8
#define MS		1000000ULL
#define SEC		1000000000ULL
#define KSM_DIR		"/sys/kernel/mm/ksm/"
#define THP_DIR		"/sys/kernel/mm/transparent_hugepage/"
#define COMPACT		"/proc/sys/vm/compact_memory"
#define BROKEN_PARAM	"/sys/module/eptmmu/parameters/broken"

struct page_ev {
	atomic_uint zbusy, zgen;	/* contents destroyed */
	atomic_uint pbusy, pgen;	/* accesses may fail */
};

struct word {
	u64 val;
	u32 zseen;	/* page zgen when val became known; ZUNKNOWN: not */
};

#define ZUNKNOWN	0xffffffffu

struct slot {
	u8 *hva;
	atomic_ullong gpa;
	atomic_uint sbusy, sgen;	/* a move in progress / done */
	/* Odd while logging, bumped after the start commits, before stop. */
	atomic_uint lsess;
	atomic_uint inflight;	/* vCPU threads between RUN and recording */
	atomic_ullong harvests;	/* completed harvests of this slot */
	atomic_ullong *need;	/* per page: lowest harvest index + 1 */
	u64 *lastrep;		/* per page: last reporting harvest + 1 */
	bool dbit, manual;	/* this session's mode */
	u64 *ring_rep;		/* -R: pages the rings reported, not yet harvested */
	bool initset;		/* manual, the log starts all set */
	/* Backed by a shared memfd (as VMMs back RAM), not anonymous. */
	int memfd;
	int alt;
	/* Held for write while part of the range is a hole or read-only. */
	pthread_rwlock_t hole;
};

struct counters {
	atomic_ullong ops;
	atomic_ullong reads, writes, fetches, hwrites, hchecks;
	atomic_ullong data_bad, hva_bad, exit_bad, exits_allowed;
	atomic_ullong dirty_records, dirty_checked, dirty_lost;
	atomic_ullong spte_checked, spte_stale, other_bad;
	atomic_ullong sessions, dbit_sessions, manual_sessions, initset_sessions;
	atomic_ullong ring_entries, ring_full;
	atomic_ullong final_checked;
	atomic_ullong audits, audit_bad;
	atomic_ullong ev[16];
};

enum {
	EV_DONTNEED, EV_REMAP, EV_PAGEOUT, EV_MPROTECT, EV_COLLAPSE,
	EV_SPLIT, EV_COMPACT, EV_OFFLINE, EV_FORK, EV_KSM, EV_PUNCH, EV_NR,
};

static const char *const ev_name[EV_NR] = {
	"dontneed", "munmap+mmap", "pageout", "mprotect-ro", "collapse",
	"thp-split", "compact", "soft-offline", "fork", "ksm-scan",
	"punch-hole",
};

enum {
	OP_MOVE, OP_LOG_START, OP_LOG_STOP, OP_HARVEST, OP_AGE, OP_SPTE,
	OP_AUDIT, OP_NR,
};

static const char *const op_name[OP_NR] = {
	"slot-move", "log-start", "log-stop", "harvest", "age", "get-spte",
	"audit",
};

struct vm {
	int id, fd;
	size_t slot_pages;
	u8 *mem;
	struct slot slot[NSLOTS];
	struct page_ev *pev;		/* NSLOTS * slot_pages */
	struct word *words[MAX_VCPUS];	/* per thread: page * WORDS_PER */
	struct dring ring[MAX_VCPUS];	/* -R: each vCPU's, mapped */
	atomic_ullong opcnt[OP_NR];
};

static struct {
	u64 seed, duration;
	unsigned int nvms, nvcpus, nmm, slot_mib;
	unsigned int ring;		/* -R: entries per vCPU ring, 0: none */
	bool light, hot, failfast, verbose;
	const char *kernel;
	bool ad, have_thp, have_ksm, have_idle, have_pfn, have_offline;
	bool have_compact, have_audit;
	char no_thp[128], no_ksm[128], no_idle[128], no_offline[128];
	char no_compact[128];
	char broken[256];
} cfg = {
	.seed = 1, .duration = 10, .nvms = 1, .nvcpus = 2, .nmm = 1,
	.slot_mib = 2, .kernel = "plain",
};

static struct vm vms[MAX_VMS];
static struct counters cnt;
static atomic_bool stop;
static atomic_uint reports;
/* mm threads that have not yet run each event once. */
static atomic_uint first_pass_left;
static u64 t_end, t_start, t_grace;
/* When the last mm thread finished its first round (0: not done). */
static atomic_ullong t_first_round;
static int devfd;

#define MAX_REPORTS	20

/* A broken oracle: count it against @oracle and say what was seen. */
static void __printf(2, 3) fail(atomic_ullong *oracle, const char *fmt, ...)
{
	char buf[300];
	va_list ap;

	atomic_fetch_add(oracle, 1);
	if (cfg.failfast)
		atomic_store(&stop, true);
	if (atomic_fetch_add(&reports, 1) >= MAX_REPORTS)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	tap_diag("FAIL %.3f s: %s", (now_ns() - t_start) / 1e9, buf);
}

#define vdiag(...)	do { if (cfg.verbose) tap_diag(__VA_ARGS__); } while (0)

/*
 * Past its duration a run goes on, every agent with it, until each mm
 * thread has run every event once: under a debug kernel on a loaded
 * host one compaction can take seconds, and a feature line must not
 * depend on how fast the host was.  The grace is bounded, so a thread
 * stuck in one event still ends the run, and its feature lines fail.
 */
static bool running(void)
{
	u64 now = now_ns();

	if (atomic_load(&stop))
		return false;
	return now < t_end ||
	       (atomic_load(&first_pass_left) && now < t_grace);
}

static void sleep_us(unsigned int us)
{
	struct timespec ts = { .tv_sec = us / 1000000,
			       .tv_nsec = (us % 1000000) * 1000L };

	nanosleep(&ts, NULL);
}

/* ---- event windows ---- */

/* What an access window saw of a page's events. */
struct win {
	u32 z0, p0, s0;
	bool zb, pb, sb;
};

static void win_open(struct page_ev *e, struct slot *s, struct win *w)
{
	w->z0 = atomic_load(&e->zgen);
	w->zb = atomic_load(&e->zbusy);
	w->p0 = atomic_load(&e->pgen);
	w->pb = atomic_load(&e->pbusy);
	w->s0 = atomic_load(&s->sgen);
	w->sb = atomic_load(&s->sbusy);
}

/* Closing reads busy before gen: see the file comment for why. */
static void win_close(struct page_ev *e, struct slot *s, struct win *w)
{
	w->zb |= atomic_load(&e->zbusy) != 0;
	w->zb |= atomic_load(&e->zgen) != w->z0;
	w->pb |= atomic_load(&e->pbusy) != 0;
	w->pb |= atomic_load(&e->pgen) != w->p0;
	w->sb |= atomic_load(&s->sbusy) != 0;
	w->sb |= atomic_load(&s->sgen) != w->s0;
}

static void ev_begin(struct vm *vm, size_t first, size_t n, bool z, bool p)
{
	size_t i;

	for (i = first; i < first + n; i++) {
		if (z)
			atomic_fetch_add(&vm->pev[i].zbusy, 1);
		if (p)
			atomic_fetch_add(&vm->pev[i].pbusy, 1);
	}
}

static void ev_end(struct vm *vm, size_t first, size_t n, bool z, bool p)
{
	size_t i;

	for (i = first; i < first + n; i++) {
		if (z) {
			atomic_fetch_add(&vm->pev[i].zgen, 1);
			atomic_fetch_sub(&vm->pev[i].zbusy, 1);
		}
		if (p) {
			atomic_fetch_add(&vm->pev[i].pgen, 1);
			atomic_fetch_sub(&vm->pev[i].pbusy, 1);
		}
	}
}

/* ---- the data oracle ---- */

static bool zero_allowed(const struct word *w, const struct win *win)
{
	return win->zb || w->zseen != win->z0;
}

/* Check value @x seen for word @w; learn it if the window was quiet. */
static bool word_seen(struct word *w, const struct win *win, u64 x)
{
	bool ok = x == w->val || (!x && zero_allowed(w, win));

	if (ok && !win->zb) {
		w->val = x;
		w->zseen = win->z0;
	}
	return ok;
}

static void word_stored(struct word *w, const struct win *win, u64 v)
{
	w->val = v;
	w->zseen = win->zb ? ZUNKNOWN : win->z0;
}

/* ---- vCPU threads ---- */

struct vcpu_arg {
	struct vm *vm;
	int idx, fd;
	u64 rng;
	pthread_t th;
	u64 ops;
};

struct planned {
	size_t page;	/* VM-wide page index */
	unsigned int word;	/* index in the page */
	struct win win;
};

static u64 *word_hva(struct vm *vm, size_t page, unsigned int word)
{
	return (u64 *)(vm->mem + page * PAGE_SIZE) + word;
}

/* Record the write of @page for the dirty-log oracle (see the top). */
static void dirty_record(struct slot *s, size_t sp, u64 h)
{
	atomic_ullong *n = &s->need[sp];
	unsigned long long old = atomic_load(n);

	while (old < h + 1 && !atomic_compare_exchange_weak(n, &old, h + 1))
		;
	atomic_fetch_add(&cnt.dirty_records, 1);
}

static void host_op(struct vcpu_arg *va, size_t page, unsigned int wi,
		    bool write, u64 counter)
{
	struct vm *vm = va->vm;
	struct slot *s = &vm->slot[page / vm->slot_pages];
	struct word *w = &vm->words[va->idx][page * WORDS_PER + wi];
	unsigned int word = va->idx * WORDS_PER + wi;
	struct win win;
	u64 v, x;

	pthread_rwlock_rdlock(&s->hole);
	win_open(&vm->pev[page], s, &win);
	if (write) {
		v = pat(((u64)vm->id << 48) | ((u64)va->idx << 40) | 1ULL << 39,
			counter);
		__atomic_store_n(word_hva(vm, page, word), v, __ATOMIC_RELAXED);
		win_close(&vm->pev[page], s, &win);
		word_stored(w, &win, v);
		atomic_fetch_add(&cnt.hwrites, 1);
	} else {
		x = __atomic_load_n(word_hva(vm, page, word), __ATOMIC_RELAXED);
		win_close(&vm->pev[page], s, &win);
		if (!word_seen(w, &win, x))
			fail(&cnt.data_bad, "vm%d vcpu%d: process read of page %zu word %u is %#llx, want %#llx%s",
			     vm->id, va->idx, page, word, x, w->val,
			     zero_allowed(w, &win) ? " or 0" : "");
		atomic_fetch_add(&cnt.hchecks, 1);
	}
	pthread_rwlock_unlock(&s->hole);
}

/* Whether the access that stopped a RUN may stop it, given its window. */
static bool exit_allowed(const struct eptmmu_run *run, const struct win *w)
{
	switch (run->exit_reason) {
	case EPTMMU_EXIT_MMIO:
		return w->sb;
	case EPTMMU_EXIT_FAULT:
		if (run->exit_errno == EAGAIN)
			return w->pb || w->zb;
		return w->pb && (run->exit_errno == EFAULT ||
				 run->exit_errno == EACCES);
	case EPTMMU_EXIT_INTR:
		return true;
	case EPTMMU_EXIT_RING_FULL:
		return cfg.ring;
	default:
		return false;
	}
}

static void vcpu_batch(struct vcpu_arg *va, u64 *counter)
{
	struct eptmmu_access acc[MAX_BATCH];
	struct planned pl[MAX_BATCH];
	struct vm *vm = va->vm;
	unsigned int si = rand64(&va->rng) % NSLOTS;
	struct slot *s = &vm->slot[si];
	unsigned int n = 1 + rand64(&va->rng) % MAX_BATCH, i;
	u64 h, gpa, span, start;
	u32 ls0, ls1;
	struct eptmmu_run run;
	bool logged;
	int r;

	/* Mostly a few nearby pages, so batches revisit what they fault. */
	span = 1 + rand64(&va->rng) % (rand64(&va->rng) % 4 ? 16 : vm->slot_pages);
	start = rand64(&va->rng) % vm->slot_pages;
	if (cfg.hot && rand64(&va->rng) % 2) {
		start = 0;
		span = HOT_PAGES;
	}
	for (i = 0; i < n; i++) {
		size_t sp = (start + rand64(&va->rng) % span) % vm->slot_pages;
		unsigned int wi = rand64(&va->rng) % WORDS_PER;
		unsigned int word = va->idx * WORDS_PER + wi;
		u64 k = rand64(&va->rng) % 10;
		u8 kind = k < 4 ? EPTMMU_ACCESS_WRITE :
			  k < 8 ? EPTMMU_ACCESS_READ : EPTMMU_ACCESS_FETCH;
		u64 v = 0;

		pl[i].page = si * vm->slot_pages + sp;
		pl[i].word = wi;
		if (kind == EPTMMU_ACCESS_WRITE)
			v = pat(((u64)vm->id << 48) | ((u64)va->idx << 40),
				(*counter)++);
		acc[i] = access_of(kind, sp * PAGE_SIZE + word * 8, 8, v);
	}
	/*
	 * The windows open before the slot's gpa is read: a move between
	 * the two must count as disturbing the batch.
	 */
	for (i = 0; i < n; i++)
		win_open(&vm->pev[pl[i].page], s, &pl[i].win);
	gpa = atomic_load(&s->gpa);
	for (i = 0; i < n; i++)
		acc[i].gpa += gpa;
	ls0 = atomic_load(&s->lsess);
	h = atomic_load(&s->harvests);
	r = run_vcpu(va->fd, acc, n, &run);
	for (i = 0; i < n; i++)
		win_close(&vm->pev[pl[i].page], s, &pl[i].win);
	if (r) {
		fail(&cnt.other_bad, "vm%d vcpu%d: EPTMMU_RUN: %s", vm->id, va->idx,
		     strerror(-r));
		return;
	}

	atomic_fetch_add(&s->inflight, 1);
	ls1 = atomic_load(&s->lsess);
	logged = ls0 == ls1 && (ls0 & 1);
	for (i = 0; i < run.done && i < n; i++) {
		struct word *w = &vm->words[va->idx][pl[i].page * WORDS_PER +
						     pl[i].word];

		if (acc[i].kind == EPTMMU_ACCESS_WRITE) {
			word_stored(w, &pl[i].win, acc[i].value);
			atomic_fetch_add(&cnt.writes, 1);
			if (logged)
				dirty_record(s, pl[i].page % vm->slot_pages, h);
			continue;
		}
		atomic_fetch_add(acc[i].kind == EPTMMU_ACCESS_READ ?
				 &cnt.reads : &cnt.fetches, 1);
		if (!word_seen(w, &pl[i].win, acc[i].value))
			fail(&cnt.data_bad, "vm%d vcpu%d: guest %s of gpa %#llx (page %zu word %u) is %#llx, want %#llx%s",
			     vm->id, va->idx,
			     acc[i].kind == EPTMMU_ACCESS_READ ? "read" : "fetch",
			     acc[i].gpa, pl[i].page,
			     va->idx * WORDS_PER + pl[i].word, acc[i].value,
			     w->val, zero_allowed(w, &pl[i].win) ? " or 0" : "");
	}
	atomic_fetch_sub(&s->inflight, 1);
	if (run.done < n) {
		if (run.exit_reason == EPTMMU_EXIT_RING_FULL) {
			/* Room comes with the VM thread's next harvest. */
			atomic_fetch_add(&cnt.ring_full, 1);
			sleep_us(200);
		}
		if (exit_allowed(&run, &pl[run.done].win)) {
			atomic_fetch_add(&cnt.exits_allowed, 1);
		} else {
			fail(&cnt.exit_bad, "vm%d vcpu%d: RUN stopped at %u/%u: exit %s gpa %#llx errno %u, in a window with no event that allows it",
			     vm->id, va->idx, run.done, n,
			     exit_name(run.exit_reason), run.exit_gpa,
			     run.exit_errno);
		}
	}

	/* The process must see each write, unless a z event intervened. */
	pthread_rwlock_rdlock(&s->hole);
	for (i = 0; i < run.done && i < n; i++) {
		struct page_ev *e = &vm->pev[pl[i].page];
		unsigned int word = va->idx * WORDS_PER + pl[i].word;
		struct word *w = &vm->words[va->idx][pl[i].page * WORDS_PER +
						     pl[i].word];
		struct win win;
		u64 x;

		if (acc[i].kind != EPTMMU_ACCESS_WRITE || pl[i].win.zb ||
		    w->val != acc[i].value)
			continue;
		win_open(e, s, &win);
		x = __atomic_load_n(word_hva(vm, pl[i].page, word),
				    __ATOMIC_RELAXED);
		win_close(e, s, &win);
		if (win.zb || win.z0 != pl[i].win.z0)
			continue;
		atomic_fetch_add(&cnt.hchecks, 1);
		if (x != acc[i].value) {
			fail(&cnt.hva_bad, "vm%d vcpu%d: guest wrote %#llx at gpa %#llx (page %zu word %u) but the process reads %#llx",
			     vm->id, va->idx, acc[i].value, acc[i].gpa,
			     pl[i].page, word, x);
		}
	}
	pthread_rwlock_unlock(&s->hole);
}

static void *vcpu_thread(void *p)
{
	struct vcpu_arg *va = p;
	struct vm *vm = va->vm;
	u64 counter = 0, hcounter = 0;

	while (running()) {
		u64 k = rand64(&va->rng) % 10;

		if (k < 8) {
			vcpu_batch(va, &counter);
		} else {
			size_t page = rand64(&va->rng) %
				      (NSLOTS * vm->slot_pages);

			host_op(va, page, rand64(&va->rng) % WORDS_PER,
				k == 8, hcounter++);
		}
		va->ops++;
		atomic_fetch_add(&cnt.ops, 1);
	}
	return NULL;
}

/* ---- mm threads ---- */

struct mm_arg {
	struct vm *vm;
	int idx;
	u64 rng;
	pthread_t th;
	u64 ops, ev[EV_NR];
	int order[EV_NR];
};

static void count_ev(struct mm_arg *ma, int ev)
{
	ma->ev[ev]++;
	atomic_fetch_add(&cnt.ev[ev], 1);
}

/*
 * A range of pages in one slot: a few, or a whole 2 MiB.  KSM merges
 * only anonymous pages, and only the memfd slot has a file to punch.
 */
static void pick_range(struct mm_arg *ma, int ev, size_t *first, size_t *n)
{
	struct vm *vm = ma->vm;
	unsigned int si = ev == EV_PUNCH ? NSLOTS - 1 :
			  rand64(&ma->rng) % (ev == EV_KSM ? NSLOTS - 1 : NSLOTS);
	size_t len = rand64(&ma->rng) % 3 ? 1 + rand64(&ma->rng) % 32 :
		     vm->slot_pages;
	size_t off;

	if (len > vm->slot_pages)
		len = vm->slot_pages;
	off = rand64(&ma->rng) % (vm->slot_pages - len + 1);
	if (cfg.hot && rand64(&ma->rng) % 2) {
		len = 1 + rand64(&ma->rng) % HOT_PAGES;
		off = rand64(&ma->rng) % (HOT_PAGES - len + 1);
	}
	*first = si * vm->slot_pages + off;
	*n = len;
}

static void mm_madvise(struct vm *vm, size_t first, size_t n)
{
	/* A fresh mapping loses the VMA flags: give them back. */
	if (cfg.have_ksm)
		madvise(vm->mem + first * PAGE_SIZE, n * PAGE_SIZE,
			MADV_MERGEABLE);
	if (cfg.have_thp)
		madvise(vm->mem + first * PAGE_SIZE, n * PAGE_SIZE,
			MADV_HUGEPAGE);
}

static void mm_event(struct mm_arg *ma)
{
	struct vm *vm = ma->vm;
	bool drawn = ma->ops >= EV_NR;
	int ev = drawn ? (int)(rand64(&ma->rng) % EV_NR) : ma->order[ma->ops];
	int r;
	struct slot *s;
	size_t first, n, i;
	bool shared;
	u8 *addr;
	pid_t pid;
	void *m;

	pick_range(ma, ev, &first, &n);
	s = &vm->slot[first / vm->slot_pages];
	shared = s->memfd >= 0;
	addr = vm->mem + first * PAGE_SIZE;
	switch (ev) {
	case EV_DONTNEED:
		/* The file keeps a shared slot's data: no allowance there. */
		ev_begin(vm, first, n, !shared, false);
		if (madvise(addr, n * PAGE_SIZE, MADV_DONTNEED))
			die("MADV_DONTNEED");
		ev_end(vm, first, n, !shared, false);
		break;
	case EV_REMAP:
		ev_begin(vm, first, n, !shared, true);
		pthread_rwlock_wrlock(&s->hole);
		if (munmap(addr, n * PAGE_SIZE))
			die("munmap");
		sleep_us(rand64(&ma->rng) % 500);
		if (shared)
			m = mmap(addr, n * PAGE_SIZE, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_FIXED, s->memfd,
				 addr - s->hva);
		else
			m = mmap(addr, n * PAGE_SIZE, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		if (m != addr)
			die("mmap MAP_FIXED");
		mm_madvise(vm, first, n);
		pthread_rwlock_unlock(&s->hole);
		ev_end(vm, first, n, !shared, true);
		break;
	case EV_PUNCH:
		/* Freeing the file's pages is what destroys shared data. */
		if (!shared)
			return;
		ev_begin(vm, first, n, true, false);
		if (fallocate(s->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      addr - s->hva, n * PAGE_SIZE))
			die("fallocate PUNCH_HOLE");
		ev_end(vm, first, n, true, false);
		break;
	case EV_PAGEOUT:
		/* Reclaim keeps the data: no allowance. */
		madvise(addr, n * PAGE_SIZE, MADV_PAGEOUT);
		break;
	case EV_MPROTECT:
		ev_begin(vm, first, n, false, true);
		pthread_rwlock_wrlock(&s->hole);
		if (mprotect(addr, n * PAGE_SIZE, PROT_READ))
			die("mprotect RO");
		sleep_us(rand64(&ma->rng) % 2000);
		if (mprotect(addr, n * PAGE_SIZE, PROT_READ | PROT_WRITE))
			die("mprotect RW");
		pthread_rwlock_unlock(&s->hole);
		ev_end(vm, first, n, false, true);
		break;
	case EV_COLLAPSE:
		if (!cfg.have_thp)
			return;
		first -= first % (SZ_2M / PAGE_SIZE);
		madvise(vm->mem + first * PAGE_SIZE, SZ_2M, MADV_COLLAPSE);
		break;
	case EV_SPLIT:
		if (!cfg.have_thp)
			return;
		/* A 4K piece with other flags splits the THP under it. */
		madvise(addr, PAGE_SIZE, MADV_NOHUGEPAGE);
		madvise(addr, PAGE_SIZE, MADV_HUGEPAGE);
		break;
	case EV_COMPACT:
		if (!cfg.have_compact || (drawn && rand64(&ma->rng) % 8))
			return;
		write_file(COMPACT, "1");
		break;
	case EV_OFFLINE:
		/* Each one takes a frame out of service: keep them rare. */
		if (!cfg.have_offline || (drawn && rand64(&ma->rng) % 8))
			return;
		r = madvise(addr, PAGE_SIZE, MADV_SOFT_OFFLINE);
		if (r && errno != EBUSY && errno != EIO)
			vdiag("MADV_SOFT_OFFLINE: %s", strerror(errno));
		break;
	case EV_FORK:
		if (drawn && rand64(&ma->rng) % 4)
			return;
		pid = fork();
		if (pid < 0)
			die("fork");
		if (!pid) {
			/*
			 * Private pages: the child's writes go to its copies
			 * only.  Shared ones: the parent sees them, so they go
			 * to the last word, which no thread owns.
			 */
			for (i = 0; i < n; i++)
				addr[(i + 1) * PAGE_SIZE - 1] ^= 0x80;
			_exit(0);
		}
		waitpid(pid, NULL, 0);
		break;
	case EV_KSM:
		if (!cfg.have_ksm || shared)
			return;
		/* ksmd runs all along; make some pages identical for it. */
		ev_begin(vm, first, n, true, false);
		if (madvise(addr, n * PAGE_SIZE, MADV_DONTNEED))
			die("MADV_DONTNEED");
		for (i = 0; i < n; i++)
			__atomic_store_n((u64 *)(addr + (i + 1) * PAGE_SIZE - 8),
					 0, __ATOMIC_RELAXED);
		ev_end(vm, first, n, true, false);
		break;
	}
	count_ev(ma, ev);
}

/*
 * Each thread starts with every event once, in an order of its own, so
 * even a short run exercises the rare ones; then it draws at random.
 */
static void *mm_thread(void *p)
{
	struct mm_arg *ma = p;
	int i, j, t;

	for (i = 0; i < EV_NR; i++)
		ma->order[i] = i;
	for (i = EV_NR - 1; i > 0; i--) {
		j = rand64(&ma->rng) % (i + 1);
		t = ma->order[i];
		ma->order[i] = ma->order[j];
		ma->order[j] = t;
	}

	while (running()) {
		mm_event(ma);
		if (++ma->ops == EV_NR &&
		    atomic_fetch_sub(&first_pass_left, 1) == 1)
			atomic_store(&t_first_round, now_ns());
		atomic_fetch_add(&cnt.ops, 1);
		sleep_us(cfg.light ? 2000 : 200);
	}
	return NULL;
}

/* ---- the VM thread: memslots, dirty logging, aging, SPTEs ---- */

struct vm_arg {
	struct vm *vm;
	u64 rng;
	pthread_t th;
	u64 ops;
	u64 *bm;
	u64 *pfn;
	bool *idle;
	int idle_fd;
};

static u32 slot_flags(struct slot *s, bool logging)
{
	u32 f = 0;

	if (logging)
		f = EPTMMU_MEM_LOG_DIRTY_PAGES |
		    (s->dbit ? EPTMMU_MEM_DIRTY_LOG_DBIT : 0) |
		    (s->initset ? EPTMMU_MEM_DIRTY_LOG_INITIALLY_SET : 0);
	return f;
}

struct drain {
	struct vm *vm;
	u64 n;
};

static void ring_note(u32 slot, u64 off, void *arg)
{
	struct drain *d = arg;

	d->n++;
	if (slot >= NSLOTS || off >= d->vm->slot_pages) {
		fail(&cnt.other_bad, "vm%d: a dirty-ring entry names slot %u page %llu",
		     d->vm->id, slot, (unsigned long long)off);
		return;
	}
	d->vm->slot[slot].ring_rep[off / 64] |= 1ULL << (off % 64);
}

/*
 * -R: every ring of @vm into its slots' ring_rep, then the reset, which
 * re-protects the pages before it returns.  The VM thread only.
 */
static void ring_drain(struct vm *vm)
{
	struct drain d = { .vm = vm };
	unsigned int t;
	int r;

	for (t = 0; t < cfg.nvcpus; t++)
		dring_collect(&vm->ring[t], ring_note, &d);
	r = reset_dirty_rings(vm->fd);
	if (r < 0 || (u64)r != d.n)
		fail(&cnt.other_bad, "vm%d: RESET_DIRTY_RINGS returned %d for %llu entries collected",
		     vm->id, r, (unsigned long long)d.n);
	atomic_fetch_add(&cnt.ring_entries, d.n);
}

static void harvest(struct vm_arg *xa, unsigned int si)
{
	struct vm *vm = xa->vm;
	struct slot *s = &vm->slot[si];
	size_t words = (vm->slot_pages + 63) / 64, p;
	u64 k = atomic_load(&s->harvests);
	u64 *snap = xa->pfn;	/* reused: slot_pages entries */
	int r;

	for (p = 0; p < vm->slot_pages; p++)
		snap[p] = atomic_exchange(&s->need[p], 0);
	memset(xa->bm, 0, words * 8);
	/* After the snapshot: the entries of every write it holds are in. */
	if (cfg.ring)
		ring_drain(vm);
	if (s->manual) {
		r = dirty_log_ioctl(vm->fd, EPTMMU_GET_DIRTY_LOG, si,
				    EPTMMU_DIRTY_LOG_NO_CLEAR, 0, 0, xa->bm);
		if (!r)
			r = dirty_log_ioctl(vm->fd, EPTMMU_CLEAR_DIRTY_LOG, si,
					    0, 0, vm->slot_pages, xa->bm);
	} else {
		r = dirty_log_ioctl(vm->fd, EPTMMU_GET_DIRTY_LOG, si, 0, 0, 0,
				    xa->bm);
	}
	if (r) {
		fail(&cnt.other_bad, "vm%d slot %u: dirty-log harvest: %s", vm->id, si,
		     strerror(-r));
		return;
	}
	if (cfg.ring) {
		for (p = 0; p < words; p++)
			xa->bm[p] |= s->ring_rep[p];
		memset(s->ring_rep, 0, words * 8);
	}
	for (p = 0; p < vm->slot_pages; p++) {
		if (xa->bm[p / 64] >> (p % 64) & 1)
			s->lastrep[p] = k + 1;
		if (!snap[p])
			continue;
		atomic_fetch_add(&cnt.dirty_checked, 1);
		if (s->lastrep[p] < snap[p]) {
			fail(&cnt.dirty_lost, "vm%d slot %u (%s%s): page %zu written after harvest %llu began, reported by none of harvests %llu..%llu",
			     vm->id, si, s->dbit ? "D bits" : "write protection",
			     s->manual ? ", manual clear" : "", p,
			     (unsigned long long)snap[p] - 1,
			     (unsigned long long)snap[p] - 1,
			     (unsigned long long)k);
		}
	}
	atomic_store(&s->harvests, k + 1);
}

static void log_stop(struct vm_arg *xa, unsigned int si)
{
	struct vm *vm = xa->vm;
	struct slot *s = &vm->slot[si];
	int r;

	atomic_fetch_add(&s->lsess, 1);
	while (atomic_load(&s->inflight))
		sched_yield();
	harvest(xa, si);
	r = set_memslot(vm->fd, si, 0, atomic_load(&s->gpa),
			vm->slot_pages * PAGE_SIZE, s->hva);
	if (r)
		fail(&cnt.other_bad, "vm%d slot %u: stopping dirty logging: %s", vm->id, si,
		     strerror(-r));
}

static void log_start(struct vm_arg *xa, unsigned int si)
{
	struct vm *vm = xa->vm;
	struct slot *s = &vm->slot[si];
	int r;

	s->dbit = cfg.ad && rand64(&xa->rng) % 2;
	s->manual = rand64(&xa->rng) % 2;
	/*
	 * Every other manual session of a slot starts all set
	 * (R-DIRTY-INITIALLY-SET).  Not a draw: the seeds' sequences, and
	 * so what each catches (Documentation/torture.rst), stay as they were.
	 */
	s->initset = s->manual && atomic_load(&s->lsess) / 2 % 2;
	r = set_memslot(vm->fd, si, slot_flags(s, true), atomic_load(&s->gpa),
			vm->slot_pages * PAGE_SIZE, s->hva);
	if (r) {
		fail(&cnt.other_bad, "vm%d slot %u: starting dirty logging: %s", vm->id, si,
		     strerror(-r));
		return;
	}
	atomic_fetch_add(&s->lsess, 1);
	atomic_fetch_add(&cnt.sessions, 1);
	if (s->dbit)
		atomic_fetch_add(&cnt.dbit_sessions, 1);
	if (s->manual)
		atomic_fetch_add(&cnt.manual_sessions, 1);
	if (s->initset)
		atomic_fetch_add(&cnt.initset_sessions, 1);
}

static void slot_move(struct vm_arg *xa, unsigned int si)
{
	struct vm *vm = xa->vm;
	struct slot *s = &vm->slot[si];
	bool logging = atomic_load(&s->lsess) & 1;
	int r;

	if (logging)
		log_stop(xa, si);
	atomic_fetch_add(&s->sbusy, 1);
	r = del_memslot(vm->fd, si);
	if (r)
		fail(&cnt.other_bad, "vm%d slot %u: delete: %s", vm->id, si, strerror(-r));
	s->alt ^= 1;
	atomic_store(&s->gpa, GPA_HOME(si, s->alt));
	/* Not while a range of it is unmapped: that would be EFAULT. */
	pthread_rwlock_rdlock(&s->hole);
	r = set_memslot(vm->fd, si, 0, atomic_load(&s->gpa),
			vm->slot_pages * PAGE_SIZE, s->hva);
	pthread_rwlock_unlock(&s->hole);
	if (r)
		die("vm%d slot %u: re-create at %#llx", vm->id, si,
		    (unsigned long long)atomic_load(&s->gpa));
	atomic_fetch_add(&s->sgen, 1);
	atomic_fetch_sub(&s->sbusy, 1);
	if (logging)
		log_start(xa, si);
}

static void age(struct vm_arg *xa, unsigned int si)
{
	struct vm *vm = xa->vm;
	struct slot *s = &vm->slot[si];
	size_t n = vm->slot_pages, i, m = 0;

	if (pfns_of(s->hva, n, xa->pfn))
		return;
	for (i = 0; i < n; i++)
		if (xa->pfn[i])
			xa->pfn[m++] = xa->pfn[i];
	if (!m)
		return;
	/* Marking idle clears young bits, reading tests them: both age. */
	if (idle_mark(xa->idle_fd, xa->pfn, m) ||
	    idle_read(xa->idle_fd, xa->pfn, m, xa->idle))
		vdiag("page_idle: %s", strerror(errno));
}

/*
 * A leaf must map the frame the process maps, when that frame is the
 * same before and after the SPTE was read.  True if a leaf was checked:
 * under heavy zapping a random page often has none.
 */
static bool spte_check_one(struct vm_arg *xa, unsigned int si)
{
	struct vm *vm = xa->vm;
	struct slot *s = &vm->slot[si];
	size_t sp = rand64(&xa->rng) % vm->slot_pages;
	size_t page = si * vm->slot_pages + sp;
	struct eptmmu_spte e;
	bool checked = false;
	u64 f0, f1, want;
	struct win win;
	int lvl;

	pthread_rwlock_rdlock(&s->hole);
	win_open(&vm->pev[page], s, &win);
	if (pfns_of(s->hva + sp * PAGE_SIZE, 1, &f0))
		goto out;
	lvl = get_spte(vm->fd, atomic_load(&s->gpa) + sp * PAGE_SIZE, &e);
	if (pfns_of(s->hva + sp * PAGE_SIZE, 1, &f1))
		goto out;
	win_close(&vm->pev[page], s, &win);
	if (lvl < 0) {
		fail(&cnt.other_bad, "vm%d: EPTMMU_GET_SPTE: %s", vm->id, strerror(-lvl));
		goto out;
	}
	if (lvl < 1 || lvl > 2 || !f0 || f0 != f1 || win.zb || win.sb ||
	    !cfg.have_pfn)
		goto out;
	want = lvl == 1 ? f0 : f0 - sp % 512;
	atomic_fetch_add(&cnt.spte_checked, 1);
	checked = true;
	if (EPT_PFN(e.spte) != want) {
		/* A move by the kernel itself can sit between the reads. */
		sleep_us(1000);
		if (get_spte(vm->fd, atomic_load(&s->gpa) + sp * PAGE_SIZE,
			     &e) == lvl && EPT_PFN(e.spte) != want &&
		    !pfns_of(s->hva + sp * PAGE_SIZE, 1, &f1) && f1 == f0) {
			fail(&cnt.spte_stale, "vm%d slot %u page %zu: level-%d SPTE %#llx maps pfn %#llx, the process maps %#llx",
			     vm->id, si, sp, lvl, e.spte,
			     (unsigned long long)EPT_PFN(e.spte),
			     (unsigned long long)want);
		}
	}
out:
	pthread_rwlock_unlock(&s->hole);
	return checked;
}

/*
 * Up to 8 pages until one has a leaf to check: on a debug kernel's short
 * run, one random page per operation once checked none in 52 tries, and
 * the oracle counts a run that checked nothing as a failure.
 */
static void spte_check(struct vm_arg *xa, unsigned int si)
{
	int i;

	for (i = 0; i < 8; i++)
		if (spte_check_one(xa, si))
			return;
}

/*
 * The kernel's auditor over the whole tree (mmu/audit.c): while the other
 * agents run it tolerates only what is in flight by design (an
 * invalidation between its start and end); at the end nothing is.
 */
static void audit(struct vm *vm, const char *when)
{
	int r = audit_vm(vm->fd);

	atomic_fetch_add(&cnt.audits, 1);
	if (r > 0)
		fail(&cnt.audit_bad, "vm%d: the audit %s found %d violation(s)",
		     vm->id, when, r);
	else if (r < 0)
		fail(&cnt.audit_bad, "vm%d: the audit %s failed: %s", vm->id,
		     when, strerror(-r));
}

static void *vm_thread(void *p)
{
	struct vm_arg *xa = p;
	struct vm *vm = xa->vm;

	while (running()) {
		unsigned int si = rand64(&xa->rng) % NSLOTS;
		int op = rand64(&xa->rng) % 16;
		bool logging = atomic_load(&vm->slot[si].lsess) & 1;

		/* Harvests most, so the dirty-log oracle checks often. */
		op = op < 1 ? OP_MOVE : op < 3 ? (logging ? OP_LOG_STOP :
						  OP_LOG_START) :
		     op < 9 ? OP_HARVEST : op < 11 ? OP_AGE :
		     op < 15 ? OP_SPTE : OP_AUDIT;
		if (op == OP_HARVEST && !logging)
			op = OP_LOG_START;
		if ((op == OP_AGE && !cfg.have_idle) ||
		    (op == OP_AUDIT && !cfg.have_audit))
			op = OP_SPTE;
		switch (op) {
		case OP_MOVE:
			slot_move(xa, si);
			break;
		case OP_LOG_START:
			log_start(xa, si);
			break;
		case OP_LOG_STOP:
			log_stop(xa, si);
			break;
		case OP_HARVEST:
			harvest(xa, si);
			break;
		case OP_AGE:
			age(xa, si);
			break;
		case OP_SPTE:
			spte_check(xa, si);
			break;
		case OP_AUDIT:
			audit(vm, "during the run");
			break;
		}
		atomic_fetch_add(&vm->opcnt[op], 1);
		xa->ops++;
		atomic_fetch_add(&cnt.ops, 1);
		if (!cfg.hot)
			sleep_us(cfg.light ? 2000 : 300);
	}
	/* A last check of every logging slot: no write may be left over. */
	for (unsigned int si = 0; si < NSLOTS; si++)
		if (atomic_load(&vm->slot[si].lsess) & 1)
			log_stop(xa, si);
	return NULL;
}

/* ---- set-up ---- */

/*
 * The last slot of each VM is a shared memfd: reclaim writes its pages to
 * swap only if someone marked them dirty, and DONTNEED or munmap keep its
 * data (a hole punched in the file is what destroys it).
 */

static void probe_features(void)
{
	char buf[256];
	u64 pfn = 0;
	int fd, r;
	void *m;

	if (read_file(THP_DIR "enabled", buf, sizeof(buf)))
		snprintf(cfg.no_thp, sizeof(cfg.no_thp),
			 "no THP (%senabled: %s)", THP_DIR, strerror(errno));
	else if (strstr(buf, "[never]"))
		snprintf(cfg.no_thp, sizeof(cfg.no_thp), "THP set to never");
	else
		cfg.have_thp = true;
	r = write_file(KSM_DIR "run", "1");
	if (r)
		snprintf(cfg.no_ksm, sizeof(cfg.no_ksm), "no KSM (%srun: %s)",
			 KSM_DIR, strerror(-r));
	else
		cfg.have_ksm = true;
	write_file(KSM_DIR "sleep_millisecs", "10");
	write_file(KSM_DIR "pages_to_scan", "1000");
	fd = open(PAGE_IDLE, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		snprintf(cfg.no_idle, sizeof(cfg.no_idle), "no page_idle (%s: %s)",
			 PAGE_IDLE, strerror(errno));
	else
		close(fd);
	cfg.have_idle = fd >= 0;
	m = xmap(PAGE_SIZE, PAGE_SIZE);
	__atomic_store_n((char *)m, 1, __ATOMIC_RELAXED);
	cfg.have_pfn = !pfns_of(m, 1, &pfn) && pfn;
	if (!cfg.have_pfn && cfg.have_idle) {
		cfg.have_idle = false;
		snprintf(cfg.no_idle, sizeof(cfg.no_idle),
			 "no PFNs in /proc/self/pagemap (not root?)");
	}
	/* One probe page: soft offline takes it out for good. */
	r = madvise(m, PAGE_SIZE, MADV_SOFT_OFFLINE) ? errno : 0;
	if (r == EINVAL || r == EPERM)
		snprintf(cfg.no_offline, sizeof(cfg.no_offline),
			 "no MADV_SOFT_OFFLINE (%s)", strerror(r));
	else
		cfg.have_offline = true;
	if (access(COMPACT, W_OK))
		snprintf(cfg.no_compact, sizeof(cfg.no_compact), "%s: %s",
			 COMPACT, strerror(errno));
	else
		cfg.have_compact = true;
	if (read_file(BROKEN_PARAM, cfg.broken, sizeof(cfg.broken)) ||
	    !strcmp(cfg.broken, "(null)"))
		cfg.broken[0] = 0;
}

static void vm_setup(struct vm *vm, int id)
{
	size_t size = (size_t)cfg.slot_mib << 20, i;
	unsigned int si, t;

	vm->id = id;
	vm->fd = xcreate_vm(devfd);
	/* The ring size is the VM's, fixed before its first vCPU. */
	if (cfg.ring && enable_dirty_ring(vm->fd, cfg.ring))
		die("EPTMMU_ENABLE_DIRTY_RING of %u entries", cfg.ring);
	vm->slot_pages = size / PAGE_SIZE;
	vm->mem = xmap(NSLOTS * size, SZ_2M);
	if (cfg.have_thp)
		madvise(vm->mem, NSLOTS * size, MADV_HUGEPAGE);
	if (cfg.have_ksm)
		madvise(vm->mem, NSLOTS * size, MADV_MERGEABLE);
	vm->pev = calloc(NSLOTS * vm->slot_pages, sizeof(*vm->pev));
	for (t = 0; t < cfg.nvcpus; t++) {
		vm->words[t] = calloc(NSLOTS * vm->slot_pages * WORDS_PER,
				      sizeof(struct word));
		if (!vm->words[t])
			die("calloc");
	}
	if (!vm->pev)
		die("calloc");
	for (si = 0; si < NSLOTS; si++) {
		struct slot *s = &vm->slot[si];

		s->hva = vm->mem + si * size;
		s->memfd = -1;
		if (si == NSLOTS - 1) {
			s->memfd = memfd_create("eptmmu-torture", MFD_CLOEXEC);
			if (s->memfd < 0 || ftruncate(s->memfd, size) ||
			    mmap(s->hva, size, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_FIXED, s->memfd, 0) != s->hva)
				die("memfd slot");
		}
		s->need = calloc(vm->slot_pages, sizeof(*s->need));
		s->lastrep = calloc(vm->slot_pages, sizeof(*s->lastrep));
		s->ring_rep = calloc(vm->slot_pages / 64 + 1, 8);
		if (!s->need || !s->lastrep || !s->ring_rep)
			die("calloc");
		pthread_rwlock_init(&s->hole, NULL);
		atomic_store(&s->gpa, GPA_HOME(si, 0));
		if (set_memslot(vm->fd, si, 0, GPA_HOME(si, 0), size, s->hva))
			die("EPTMMU_SET_MEMSLOT %u", si);
	}
	/* Every word starts zero, and that is known. */
	for (t = 0; t < cfg.nvcpus; t++)
		for (i = 0; i < NSLOTS * vm->slot_pages * WORDS_PER; i++)
			vm->words[t][i].zseen = 0;
	setup_guest_code(vm->fd, GUEST_CODE_SLOT, GUEST_CODE_GPA);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: eptmmu_torture [-s SEED] [-d SECONDS] [-v NVMS] [-t VCPUS]\n"
		"                      [-H MM_THREADS] [-m SLOT_MIB] [-R ENTRIES] [-l] [-x] [-V]\n"
		"                      [-K KERNEL]\n"
		"  -R  dirty rings of ENTRIES per vCPU, collected at every harvest\n"
		"  -l  light load (debug kernels)   -x  stop at the first failure\n"
		"  -c  every agent on a few hot pages half of the time\n"
		"  -V  verbose                      -K  kernel name for the replay line\n");
	exit(2);
}

/* A feature the kernel has must have run; one it lacks is a SKIP. */
static bool feature_line(bool have, const char *why, const char *what,
			 u64 n)
{
	if (have)
		return tap_ok(n > 0, "%s exercised (%llu times)", what,
			      (unsigned long long)n);
	tap_skip(why, "%s", what);
	return true;
}

static bool have_swap(void)
{
	char buf[512];

	return !read_file("/proc/swaps", buf, sizeof(buf)) &&
	       strchr(buf, '\n');
}

static u64 aging_passes(void)
{
	struct eptmmu_vm_stats st;
	unsigned int v;
	u64 n = 0;

	for (v = 0; v < cfg.nvms; v++) {
		xvm_stats(vms[v].fd, &st);
		n += st.aging_passes;
	}
	return n;
}

/*
 * With every agent stopped, each word a thread owns must read back
 * exactly, through the guest and through the process.
 */
static void final_sweep(struct vcpu_arg *va)
{
	static struct eptmmu_access acc[4096];
	struct vm *vm = va->vm;
	size_t total = NSLOTS * vm->slot_pages * WORDS_PER, i, j, n;
	struct eptmmu_run run;
	struct win win = {};

	for (i = 0; i < total; i += n) {
		n = total - i < ARRAY_SIZE(acc) ? total - i : ARRAY_SIZE(acc);
		for (j = 0; j < n; j++) {
			size_t page = (i + j) / WORDS_PER;
			struct slot *s = &vm->slot[page / vm->slot_pages];
			unsigned int word = va->idx * WORDS_PER + (i + j) % WORDS_PER;

			acc[j] = access_of(EPTMMU_ACCESS_READ,
					   atomic_load(&s->gpa) +
					   (page % vm->slot_pages) * PAGE_SIZE +
					   word * 8, 8, 0);
		}
		if (!run_all(va->fd, acc, n, &run, "final sweep")) {
			fail(&cnt.data_bad, "vm%d vcpu%d: the final sweep's RUN stopped",
			     vm->id, va->idx);
			return;
		}
		for (j = 0; j < n; j++) {
			size_t page = (i + j) / WORDS_PER;
			unsigned int word = va->idx * WORDS_PER + (i + j) % WORDS_PER;
			struct word *w = &vm->words[va->idx][i + j];
			u64 x = *word_hva(vm, page, word);

			win.z0 = atomic_load(&vm->pev[page].zgen);
			if (!word_seen(w, &win, acc[j].value) ||
			    x != acc[j].value)
				fail(&cnt.data_bad, "vm%d vcpu%d: final sweep, page %zu word %u: guest reads %#llx, process %#llx, want %#llx%s",
				     vm->id, va->idx, page, word, acc[j].value,
				     x, w->val,
				     w->val && zero_allowed(w, &win) ? " or 0" : "");
			atomic_fetch_add(&cnt.final_checked, 1);
		}
	}
}

int main(int argc, char **argv)
{
	static struct vcpu_arg va[MAX_VMS][MAX_VCPUS];
	static struct mm_arg ma[MAX_VMS][MAX_MM];
	static struct vm_arg xa[MAX_VMS];
	struct eptmmu_vm_stats st;
	unsigned int v, t;
	bool ok = true, made;
	char line[256];
	double secs;
	size_t len;
	int opt;

	while ((opt = getopt(argc, argv, "s:d:v:t:H:m:R:lcxVK:")) != -1) {
		switch (opt) {
		case 's':
			cfg.seed = parse_num(optarg, 0, ~0UL);
			break;
		case 'd':
			cfg.duration = parse_num(optarg, 1, 3600);
			break;
		case 'v':
			cfg.nvms = parse_num(optarg, 1, MAX_VMS);
			break;
		case 't':
			cfg.nvcpus = parse_num(optarg, 1, MAX_VCPUS);
			break;
		case 'H':
			cfg.nmm = parse_num(optarg, 1, MAX_MM);
			break;
		case 'm':
			cfg.slot_mib = parse_num(optarg, 2, MAX_SLOT_MIB);
			if (cfg.slot_mib % 2)
				usage();
			break;
		case 'R':
			cfg.ring = parse_num(optarg, EPTMMU_DIRTY_RING_MIN_ENTRIES,
					     EPTMMU_DIRTY_RING_MAX_ENTRIES);
			break;
		case 'l':
			cfg.light = true;
			break;
		case 'c':
			cfg.hot = true;
			break;
		case 'x':
			cfg.failfast = true;
			break;
		case 'V':
			cfg.verbose = true;
			break;
		case 'K':
			cfg.kernel = optarg;
			break;
		default:
			usage();
		}
	}

	tap_plan(15);
	devfd = xopen_dev();
	probe_features();
	for (v = 0; v < cfg.nvms; v++)
		vm_setup(&vms[v], v);
	/* Each VM's memslot generation counts the slots it made. */
	for (v = 0, made = true; v < cfg.nvms; v++) {
		xvm_stats(vms[v].fd, &st);
		made &= st.memslot_generation >= NSLOTS;
	}
	cfg.ad = st.ept_ad;
	/* Every build has the auditor; only a missing debugfs hides it. */
	cfg.have_audit = audit_vm(vms[0].fd) != -ENOENT;
	tap_diag("seed %llu, %llu s, %u VM(s) x %u slots of %u MiB, %u vCPU + %u mm + 1 VM thread(s) each, SPTE mode %s, backend %s%s%s",
		 (unsigned long long)cfg.seed,
		 (unsigned long long)cfg.duration, cfg.nvms, NSLOTS,
		 cfg.slot_mib, cfg.nvcpus, cfg.nmm,
		 cfg.ad ? "EPT A/D (logging by write protection and by D bits)" :
		 "access tracking (logging by write protection)",
		 st.backend == EPTMMU_BACKEND_VMX ? "vmx" : "soft",
		 cfg.broken[0] ? ", broken=" : "", cfg.broken);
	ok &= tap_ok(made, "set-up: %u VM(s) with %u memslots each", cfg.nvms,
		     NSLOTS);

	atomic_store(&first_pass_left, cfg.nvms * cfg.nmm);
	t_start = now_ns();
	t_end = t_start + cfg.duration * SEC;
	t_grace = t_end + (2 * cfg.duration + 10) * SEC;
	for (v = 0; v < cfg.nvms; v++) {
		u64 base = cfg.seed * 0x100 + v * 0x10;

		for (t = 0; t < cfg.nvcpus; t++) {
			va[v][t] = (struct vcpu_arg){ .vm = &vms[v], .idx = t,
				.rng = pat(base, t) };
			va[v][t].fd = xcreate_vcpu(vms[v].fd);
			if (cfg.ring && dring_map(&vms[v].ring[t], va[v][t].fd,
						  cfg.ring))
				die("mmap of a dirty ring");
			pthread_create(&va[v][t].th, NULL, vcpu_thread,
				       &va[v][t]);
		}
		for (t = 0; t < cfg.nmm; t++) {
			ma[v][t] = (struct mm_arg){ .vm = &vms[v], .idx = t,
				.rng = pat(base + 8, t) };
			pthread_create(&ma[v][t].th, NULL, mm_thread, &ma[v][t]);
		}
		xa[v] = (struct vm_arg){ .vm = &vms[v], .rng = pat(base + 9, 0),
			.idle_fd = -1 };
		xa[v].bm = calloc(vms[v].slot_pages / 64 + 1, 8);
		xa[v].pfn = calloc(vms[v].slot_pages, 8);
		xa[v].idle = calloc(vms[v].slot_pages, sizeof(bool));
		if (!xa[v].bm || !xa[v].pfn || !xa[v].idle)
			die("calloc");
		if (cfg.have_idle)
			xa[v].idle_fd = open(PAGE_IDLE, O_RDWR | O_CLOEXEC);
		pthread_create(&xa[v].th, NULL, vm_thread, &xa[v]);
	}
	for (v = 0; v < cfg.nvms; v++) {
		for (t = 0; t < cfg.nvcpus; t++)
			pthread_join(va[v][t].th, NULL);
		for (t = 0; t < cfg.nmm; t++)
			pthread_join(ma[v][t].th, NULL);
		pthread_join(xa[v].th, NULL);
	}
	secs = (now_ns() - t_start) / 1e9;
	if (!atomic_load(&t_first_round))
		tap_diag("an mm thread did not run every event once, %.1f s past its %llu s",
			 secs - cfg.duration, (unsigned long long)cfg.duration);
	else if (atomic_load(&t_first_round) > t_end)
		tap_diag("ran %.1f s past its %llu s so that each mm thread ran every event once",
			 (atomic_load(&t_first_round) - t_end) / 1e9,
			 (unsigned long long)cfg.duration);

	/* Throughput per agent. */
	for (v = 0; v < cfg.nvms; v++) {
		for (t = 0; t < cfg.nvcpus; t++)
			tap_diag("vm%u vcpu%u: %.0f ops/s", v, t,
				 va[v][t].ops / secs);
		for (t = 0; t < cfg.nmm; t++)
			tap_diag("vm%u mm%u: %.0f events/s", v, t,
				 ma[v][t].ops / secs);
		for (t = 0, len = 0; t < OP_NR; t++)
			len += snprintf(line + len, sizeof(line) - len, "%s%s %llu",
					t ? ", " : "", op_name[t],
					(unsigned long long)vms[v].opcnt[t]);
		tap_diag("vm%u vm-ops: %.0f ops/s (%s)", v, xa[v].ops / secs,
			 line);
		xvm_stats(vms[v].fd, &st);
		tap_diag("vm%u stats: maps_4k %llu maps_2m %llu splits %llu zapped %llu flushes %llu invalidations %llu aging_passes %llu aged_young %llu",
			 v, st.maps_4k, st.maps_2m, st.splits, st.zapped,
			 st.tlb_flushes, st.invalidations, st.aging_passes,
			 st.aged_young);
	}
	for (t = 0; t < EV_NR; t++)
		tap_diag("mm event %s: %llu", ev_name[t],
			 (unsigned long long)cnt.ev[t]);
	for (v = 0; v < cfg.nvms; v++)
		for (t = 0; t < cfg.nvcpus; t++)
			final_sweep(&va[v][t]);
	write_file(KSM_DIR "run", "0");
	if (cfg.have_audit)
		for (v = 0; v < cfg.nvms; v++)
			audit(&vms[v], "at the end");

	ok &= tap_ok(cnt.reads && !cnt.data_bad,
	       "data: %llu guest reads, %llu fetches, %llu process reads, %llu final reads return what the protocol allows (%llu wrong)",
	       (unsigned long long)cnt.reads, (unsigned long long)cnt.fetches,
	       (unsigned long long)cnt.hchecks,
	       (unsigned long long)cnt.final_checked,
	       (unsigned long long)cnt.data_bad);
	ok &= tap_ok(cnt.writes && !cnt.hva_bad,
	       "process view: the process reads each of %llu guest writes back (%llu missing)",
	       (unsigned long long)cnt.writes, (unsigned long long)cnt.hva_bad);
	ok &= tap_ok(!cnt.exit_bad,
	       "exits: every RUN that stopped early (%llu) did so inside an event that allows it (%llu did not)",
	       (unsigned long long)cnt.exits_allowed,
	       (unsigned long long)cnt.exit_bad);
	if (cfg.ring) {
		u64 overflow = 0, o;

		for (v = 0; v < cfg.nvms; v++)
			if (!vm_stat(vms[v].fd, "dirty_ring_overflow", &o))
				overflow += o;
		tap_diag("dirty rings of %u entries: %llu entries collected, %llu ring-full exits, %llu entries overflowed",
			 cfg.ring, (unsigned long long)cnt.ring_entries,
			 (unsigned long long)cnt.ring_full,
			 (unsigned long long)overflow);
		if (overflow || !cnt.ring_entries)
			cnt.dirty_lost += !cnt.ring_entries + overflow;
	}
	ok &= tap_ok(cnt.dirty_checked && !cnt.dirty_lost,
	       "dirty log: %llu writes recorded, %llu checked at harvests of %llu sessions (%llu manual clear, %llu of them initially set), %llu lost",
	       (unsigned long long)cnt.dirty_records,
	       (unsigned long long)cnt.dirty_checked,
	       (unsigned long long)cnt.sessions,
	       (unsigned long long)cnt.manual_sessions,
	       (unsigned long long)cnt.initset_sessions,
	       (unsigned long long)cnt.dirty_lost);
	if (cfg.ad)
		ok &= tap_ok(cnt.dbit_sessions > 0,
		       "dirty log by D bits: %llu sessions",
		       (unsigned long long)cnt.dbit_sessions);
	else
		tap_skip("access tracking: the VM has no D bits to log by",
			 "dirty log by D bits");
	if (cfg.have_pfn)
		ok &= tap_ok(cnt.spte_checked && !cnt.spte_stale,
		       "SPTEs: %llu leaves read back map the process's frame (%llu stale)",
		       (unsigned long long)cnt.spte_checked,
		       (unsigned long long)cnt.spte_stale);
	else
		tap_skip("no PFNs in /proc/self/pagemap (not root?)",
			 "SPTEs map the process's frame");
	ok &= tap_ok(!cnt.other_bad, "ioctls: no VM operation failed (%llu did)",
	       (unsigned long long)cnt.other_bad);
	if (cfg.have_audit)
		ok &= tap_ok(cnt.audits > cfg.nvms && !cnt.audit_bad,
		       "audit: %llu audits of the whole tree, during the run and of each VM at the end, found it a tree the protocol allows (%llu did not)",
		       (unsigned long long)cnt.audits,
		       (unsigned long long)cnt.audit_bad);
	else
		tap_skip("no /sys/kernel/debug/eptmmu (debugfs not mounted?)",
			 "audit of the whole tree");
	ok &= feature_line(cfg.have_thp, cfg.no_thp, "THP collapse and split",
		     cnt.ev[EV_COLLAPSE] + cnt.ev[EV_SPLIT]);
	ok &= feature_line(cfg.have_ksm, cfg.no_ksm, "KSM", cnt.ev[EV_KSM]);
	ok &= feature_line(cfg.have_idle, cfg.no_idle, "aging through page_idle",
		     aging_passes());
	ok &= feature_line(cfg.have_offline, cfg.no_offline, "MADV_SOFT_OFFLINE",
		     cnt.ev[EV_OFFLINE]);
	ok &= feature_line(cfg.have_compact, cfg.no_compact, "compaction",
		     cnt.ev[EV_COMPACT]);
	ok &= feature_line(have_swap(), "no swap device in /proc/swaps",
		     "reclaim to swap (MADV_PAGEOUT)", cnt.ev[EV_PAGEOUT]);

	ok &= !atomic_load(&reports);
	tap_diag("verdict: %s: seed %llu, %llu s, SPTE mode %s%s%s, %u failure(s); replay: make torture SEED=%llu DURATION=%llu KERNEL=%s VMS=%u%s%s",
		 ok ? "PASS" : "FAIL", (unsigned long long)cfg.seed,
		 (unsigned long long)cfg.duration, cfg.ad ? "ept_ad=on" : "ept_ad=off",
		 cfg.broken[0] ? ", broken=" : "", cfg.broken,
		 atomic_load(&reports), (unsigned long long)cfg.seed,
		 (unsigned long long)cfg.duration, cfg.kernel, cfg.nvms,
		 cfg.broken[0] ? " BROKEN=" : "", cfg.broken);
	return tap_done();
}
