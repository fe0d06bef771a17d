// SPDX-License-Identifier: GPL-2.0
/*
 * eptmmu_dirty_log_test - dirty logging under running vCPUs, in the spirit
 * of KVM's dirty_log_test, plus the arguments the dirty-log ioctls refuse.
 *
 * vCPU threads keep writing the current iteration number into the first
 * word of random pages while the main thread harvests the dirty log once
 * per iteration.  Every page has a single writer, so when it is all over
 * the first word of a page says in which iteration it was last written,
 * and some harvest from that iteration on must have reported it: if none
 * did, the log lost a write.  That is what a live migration relies on.
 *
 * One run per logging mode: write protection and (on VMs that use EPT
 * A/D bits) D bits, each with automatic clearing (GET_DIRTY_LOG) and with
 * manual clearing (GET_DIRTY_LOG with NO_CLEAR, then CLEAR_DIRTY_LOG of
 * the bits just collected), and manual clearing with logging turned on
 * over a mapped slot with the bitmap initially set (R-DIRTY-INITIALLY-SET).
 * With -r the same runs use the dirty ring instead of the bitmap (the
 * VM's per-vCPU rings of -r entries; D-bit slots add their bitmap, where
 * the D bits go), then the ring's own cases: ring-full exits at the
 * soft limit and the recovery from them, resets with stale and
 * uncollected entries, and the errnos of the ring's calls.
 * Output is TAP; exit 0 iff all pass.
 *
 *   eptmmu_dirty_log_test [-m MiB] [-v vCPUs] [-i iterations] [-w writes]
 *                         [-s seed] [-L GiB] [-r entries]
 *
 * A run harvests at least -i times, and goes on until its vCPUs have made
 * their share of -w guest writes: -w divided by the runs not skipped, so
 * the whole test makes at least -w writes with or without EPT A/D.
 *
 * On the vmx vCPU (a VT-x host, or Bochs) the slots lie below 4 GiB and
 * every VM gets the guest code; there write protection becomes logging
 * by PML when the module has it on (ept_pml, R-PML-DRAIN).  -L is the
 * soft vCPU's.
 */
#define _GNU_SOURCE
/* R-DIRTY-INVARIANT: no page lost, against concurrent harvests. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "g64.h"

/*
 * Well above 32-bit space, so a truncated gpa cannot hit a slot; the vmx
 * vCPU's guest reaches only the first 4 GiB, so there the slots start at
 * 1 GiB, below its guest code (GUEST_CODE_GPA).
 */
#define GPA_SOFT	0x100000000ULL
#define GPA_VMX		0x40000000ULL
#define GPA_BASE	gpa_base
/* Accesses per EPTMMU_RUN of a vCPU thread. */
#define BATCH		256
/* A vCPU that finishes no batch for this long is stuck. */
#define STUCK_NS	(30 * 1000000000ULL)
/* The value of the lone write after a run: no iteration ever gets there. */
#define SINGLE_VALUE	0xd1d1d1d1d1d1d1d1ULL
#define BM_SENTINEL	0x5a5a5a5a5a5a5a5aULL

static struct {
	unsigned int mib;
	unsigned int vcpus;
	unsigned long iters;
	u64 writes;
	u64 seed;
	unsigned int ring;	/* entries per vCPU ring; 0: bitmap runs */
} opt = {
	.mib = 16,
	.vcpus = 2,
	.iters = 200,
	.writes = 1000000,
};

static int devfd;
static u64 gpa_base = GPA_SOFT;
static bool vmx;	/* the vCPUs are vmx ones: each VM needs guest code */

/* A VM whose vCPUs can make accesses, whichever backend runs them. */
static int new_vm(void)
{
	int vm = xcreate_vm(devfd);

	if (vmx && setup_guest_code(vm, GUEST_CODE_SLOT, GUEST_CODE_GPA))
		die("setup_guest_code");
	return vm;
}

/* splitmix64: turns (seed, run, vCPU) into unrelated xorshift states. */
static u64 mix64(u64 x)
{
	x += 0x9E3779B97F4A7C15ULL;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
	return x ^ (x >> 31);
}

/* ---- bitmaps and the two ioctls ---- */

static u64 bm_words(u64 npages)
{
	return (npages + 63) / 64;
}

static bool bm_test(const u64 *bm, u64 page)
{
	return bm[page / 64] >> (page % 64) & 1;
}

static u64 bm_count(const u64 *bm, u64 words)
{
	u64 n = 0, w;

	for (w = 0; w < words; w++)
		n += __builtin_popcountll(bm[w]);
	return n;
}

/* Room for the bitmap of @npages and the sentinel word after it. */
static u64 *bm_alloc(u64 npages)
{
	u64 *bm = calloc(bm_words(npages) + 1, sizeof(u64));

	if (!bm)
		die("calloc");
	return bm;
}

enum how {
	AUTO,		/* GET_DIRTY_LOG */
	MANUAL,		/* GET_DIRTY_LOG with NO_CLEAR, then CLEAR_DIRTY_LOG */
	PEEK,		/* GET_DIRTY_LOG with NO_CLEAR alone: consumes nothing */
	RING,		/* collect every vCPU's ring, reset; GET too for D bits */
};

/* The ring VM being harvested (the runs use one VM at a time). */
static struct {
	int vm;
	struct dring *rings;
	unsigned int n;
	bool dbit;
	atomic_ullong gen;	/* resets so far: a full vCPU waits for one */
	atomic_bool want;	/* a vCPU waits for a reset */
} rc;

struct ring_bm {
	u64 *bm;
	u32 slot;
	u64 npages;
	u64 entries, bad;
};

static void ring_mark(u32 slot, u64 off, void *arg)
{
	struct ring_bm *b = arg;

	b->entries++;
	if (slot != b->slot || off >= b->npages) {
		if (b->bad++ < 3)
			tap_diag("ring entry names slot %u page %llu", slot, off);
		return;
	}
	b->bm[off / 64] |= 1ULL << (off % 64);
}

/* R-RING-NOVCPU: with D bits, the GET collects what no vCPU logged. */
/*
 * Collect every ring into @bm and reset: the pages are re-protected when
 * the reset returns, as a migration needs before it copies them.  With
 * D bits the writes the vCPUs did not fault for are in the D bits, which
 * a GET moves into the bitmap: add those.
 */
static bool ring_harvest(int vm, u32 slot, u64 npages, u64 *bm,
			 const char *what)
{
	struct ring_bm b = { .bm = bm, .slot = slot, .npages = npages };
	u64 words = bm_words(npages), *more, w;
	unsigned int v;
	int r;

	memset(bm, 0, words * sizeof(u64));
	for (v = 0; v < rc.n; v++)
		dring_collect(&rc.rings[v], ring_mark, &b);
	r = reset_dirty_rings(vm);
	atomic_fetch_add(&rc.gen, 1);
	if (r < 0 || (u64)r != b.entries) {
		tap_diag("%s: RESET_DIRTY_RINGS returned %d, %llu entries collected",
			 what, r, b.entries);
		return false;
	}
	if (b.bad)
		return false;
	if (!rc.dbit)
		return true;
	more = bm_alloc(npages);
	r = dirty_log_ioctl(vm, EPTMMU_GET_DIRTY_LOG, slot, 0, 0, 0, more);
	if (r)
		tap_diag("%s: GET_DIRTY_LOG: %s", what, strerror(-r));
	for (w = 0; w < words; w++)
		bm[w] |= more[w];
	free(more);
	return !r;
}

/*
 * One harvest of @slot into @bm (bm_alloc(@npages)).  MANUAL clears exactly
 * the bits the GET returned, as a migration that has copied those pages
 * would.  The checks around the GET catch a kernel that writes more than
 * DIV_ROUND_UP(npages, 64) words or reports pages past the slot's end.
 */
static bool harvest(int vm, u32 slot, u64 npages, enum how how, u64 *bm,
		    const char *what)
{
	u64 words = bm_words(npages);
	int r;

	if (how == RING)
		return ring_harvest(vm, slot, npages, bm, what);
	bm[words] = BM_SENTINEL;
	r = dirty_log_ioctl(vm, EPTMMU_GET_DIRTY_LOG, slot,
			    how == AUTO ? 0 : EPTMMU_DIRTY_LOG_NO_CLEAR, 0, 0, bm);
	if (r) {
		tap_diag("%s: GET_DIRTY_LOG: %s", what, strerror(-r));
		return false;
	}
	if (bm[words] != BM_SENTINEL) {
		tap_diag("%s: GET_DIRTY_LOG wrote past its %llu bitmap words",
			 what, words);
		return false;
	}
	if (npages % 64 && bm[words - 1] >> (npages % 64)) {
		tap_diag("%s: GET_DIRTY_LOG set bits past the slot's %llu pages: %#llx",
			 what, npages, bm[words - 1]);
		return false;
	}
	if (how != MANUAL)
		return true;
	r = dirty_log_ioctl(vm, EPTMMU_CLEAR_DIRTY_LOG, slot, 0, 0, npages, bm);
	if (r)
		tap_diag("%s: CLEAR_DIRTY_LOG: %s", what, strerror(-r));
	return !r;
}

/* A harvest that must report exactly the @n pages of @pages. */
static bool harvest_is(int vm, u32 slot, u64 npages, enum how how,
		       const u64 *pages, size_t n, const char *what)
{
	u64 *got = bm_alloc(npages), *want = bm_alloc(npages);
	u64 p, words = bm_words(npages);
	int shown = 0;
	bool ok;
	size_t i;

	for (i = 0; i < n; i++)
		want[pages[i] / 64] |= 1ULL << (pages[i] % 64);
	ok = harvest(vm, slot, npages, how, got, what);
	if (ok && memcmp(got, want, words * sizeof(u64))) {
		tap_diag("%s: %llu pages reported, want %zu", what,
			 bm_count(got, words), n);
		for (p = 0; p < npages && shown < 4; p++) {
			if (bm_test(got, p) == bm_test(want, p))
				continue;
			tap_diag("%s: page %llu %s", what, p, bm_test(got, p) ?
				 "reported, but not written" :
				 "written, but not reported");
			shown++;
		}
		ok = false;
	}
	free(got);
	free(want);
	return ok;
}

/* ---- guest accesses from the main thread ---- */

static bool run_ok(int vcpu, struct eptmmu_access *a, u32 n,
		   struct eptmmu_run *run, char *why, size_t len)
{
	int r = run_vcpu(vcpu, a, n, run);

	if (!r && run->exit_reason == EPTMMU_EXIT_DONE && run->done == n)
		return true;
	if (r)
		snprintf(why, len, "EPTMMU_RUN failed: %s", strerror(-r));
	else
		snprintf(why, len, "EPTMMU_RUN done %u/%u exit %s gpa %#llx errno %u",
			 run->done, n, exit_name(run->exit_reason),
			 run->exit_gpa, run->exit_errno);
	return false;
}

/* ---- the run: vCPU threads write while the main thread harvests ---- */

static const struct mode {
	const char *name;
	u32 flags;		/* of the memslot */
	enum how how;
} modes[] = {
	{ "wp/auto", EPTMMU_MEM_LOG_DIRTY_PAGES, AUTO },
	{ "wp/manual", EPTMMU_MEM_LOG_DIRTY_PAGES, MANUAL },
	{ "dbit/auto",
	  EPTMMU_MEM_LOG_DIRTY_PAGES | EPTMMU_MEM_DIRTY_LOG_DBIT, AUTO },
	{ "dbit/manual",
	  EPTMMU_MEM_LOG_DIRTY_PAGES | EPTMMU_MEM_DIRTY_LOG_DBIT, MANUAL },
	/*
	 * The slot is mapped (huge where the host gives THPs) before logging
	 * starts with the bitmap all set: pages are protected by the CLEARs.
	 */
	{ "wp/manual/initially-set",
	  EPTMMU_MEM_LOG_DIRTY_PAGES | EPTMMU_MEM_DIRTY_LOG_INITIALLY_SET,
	  MANUAL },
	{ "dbit/manual/initially-set",
	  EPTMMU_MEM_LOG_DIRTY_PAGES | EPTMMU_MEM_DIRTY_LOG_DBIT |
	  EPTMMU_MEM_DIRTY_LOG_INITIALLY_SET, MANUAL },
};

/* -r: the same runs over the dirty ring. */
static const struct mode ring_modes[] = {
	{ "ring/wp", EPTMMU_MEM_LOG_DIRTY_PAGES, RING },
	{ "ring/dbit", EPTMMU_MEM_LOG_DIRTY_PAGES | EPTMMU_MEM_DIRTY_LOG_DBIT,
	  RING },
};

/* The -L runs: the first four modes, one per logging mode (auto). */
#define NR_BIG_MODES	4

/* TAP lines of one run, in the order it prints them. */
static const char *const run_checks[] = {
	"0 lost pages",
	"every vCPU run completed",
	"the guest wrote its share of -w and harvests reported pages",
	"final harvest empty",
	"single write reported exactly",
	/* Ring runs only. */
	"every ring-full exit recovered from, no entry overflowed",
};

#define RUN_TAP		((int)ARRAY_SIZE(run_checks) - 1)
#define RING_RUN_TAP	((int)ARRAY_SIZE(run_checks))

struct dl_run;

struct vcpu_thread {
	pthread_t tid;
	struct dl_run *run;
	int fd;
	unsigned int idx;
	u64 npages;		/* pages this vCPU owns */
	u64 rng;
	atomic_ullong writes;
	/* The iteration whose batch this vCPU completed last. */
	atomic_ullong done_iter;
	u64 full_exits;		/* EPTMMU_EXIT_RING_FULL, each waited out */
	bool failed;
	char why[160];
	struct eptmmu_vcpu_stats stats;
	struct eptmmu_access acc[BATCH];
};

struct dl_run {
	int vm;
	u8 *mem;
	u64 npages;
	atomic_ullong iter;
	atomic_bool stop;
	atomic_bool failed;
	struct vcpu_thread *vt;
	/* Ring runs: harvests a full vCPU asked for, between iterations. */
	u64 *bm, *reported, nrep, extra;
};

/*
 * Each batch stores the iteration it started in.  Pages go round-robin to
 * the vCPUs (page % vCPUs == index), so a page's last value is the last
 * write of its one writer, never an older write of a slower vCPU.
 */
/*
 * A batch on a ring VM: at each ring-full exit, ask the main thread for a
 * reset, wait for one, and go on from the access that was not made.
 * Return the accesses done (all of them unless the run stops meanwhile).
 */
static u32 ring_batch(struct vcpu_thread *t, struct eptmmu_run *run, bool *ok)
{
	struct timespec nap = { .tv_nsec = 50 * 1000 };
	struct dl_run *d = t->run;
	u32 off = 0;
	u64 gen;
	int r;

	*ok = false;
	for (;;) {
		gen = atomic_load(&rc.gen);
		r = run_vcpu(t->fd, t->acc + off, BATCH - off, run);
		if (r) {
			snprintf(t->why, sizeof(t->why), "EPTMMU_RUN failed: %s",
				 strerror(-r));
			return off;
		}
		off += run->done;
		if (run->exit_reason == EPTMMU_EXIT_DONE && off == BATCH)
			break;
		if (run->exit_reason != EPTMMU_EXIT_RING_FULL ||
		    run->exit_gpa != t->acc[off].gpa) {
			snprintf(t->why, sizeof(t->why),
				 "EPTMMU_RUN done %u/%u exit %s gpa %#llx errno %u",
				 off, BATCH, exit_name(run->exit_reason),
				 run->exit_gpa, run->exit_errno);
			return off;
		}
		t->full_exits++;
		atomic_store(&rc.want, true);
		while (atomic_load(&rc.gen) == gen && !atomic_load(&d->stop))
			nanosleep(&nap, NULL);
		if (atomic_load(&d->stop))
			break;
	}
	*ok = true;
	return off;
}

static void *vcpu_main(void *arg)
{
	struct vcpu_thread *t = arg;
	struct dl_run *d = t->run;
	struct eptmmu_run run;
	u64 it, p;
	bool ok;
	u32 done;
	int n;

	while (!atomic_load(&d->stop)) {
		it = atomic_load(&d->iter);
		for (n = 0; n < BATCH; n++) {
			p = t->idx + (rand64(&t->rng) % t->npages) * opt.vcpus;
			t->acc[n] = access_of(EPTMMU_ACCESS_WRITE,
					      GPA_BASE + p * PAGE_SIZE, 8, it);
		}
		if (rc.rings) {
			done = ring_batch(t, &run, &ok);
		} else {
			ok = run_ok(t->fd, t->acc, BATCH, &run, t->why,
				    sizeof(t->why));
			done = BATCH;
		}
		if (!ok) {
			t->failed = true;
			atomic_store(&d->failed, true);
			break;
		}
		t->stats = run.stats;
		atomic_fetch_add_explicit(&t->writes, done,
					  memory_order_relaxed);
		if (done < BATCH)
			break;		/* stopped while waiting for a reset */
		atomic_store(&t->done_iter, it);
	}
	return NULL;
}

static u64 total_writes(struct dl_run *d)
{
	u64 n = 0;
	unsigned int v;

	for (v = 0; v < opt.vcpus; v++)
		n += atomic_load_explicit(&d->vt[v].writes,
					  memory_order_relaxed);
	return n;
}

/* Note which pages harvest @it reported; return how many. */
static u64 record(const u64 *bm, u64 *reported, u64 npages, u64 it)
{
	u64 p;

	for (p = 0; p < npages; p++)
		if (bm_test(bm, p))
			reported[p] = it;
	return bm_count(bm, bm_words(npages));
}

/*
 * Wait until every vCPU has completed a batch that started in iteration
 * @it, so each harvest has fresh writes of every vCPU to report (and the
 * vCPUs are writing again while it runs).
 */
static bool wait_batches(struct dl_run *d, u64 it)
{
	struct timespec nap = { .tv_nsec = 100 * 1000 };
	u64 t0 = now_ns();
	unsigned int v;

	for (;;) {
		if (atomic_load(&d->failed))
			return false;
		/*
		 * A vCPU whose ring is full waits for a reset: harvest now,
		 * as iteration @it (the counter is @it, no write is newer).
		 */
		if (rc.rings && atomic_exchange(&rc.want, false)) {
			if (!harvest(d->vm, 0, d->npages, RING, d->bm, "ring-full harvest"))
				return false;
			d->nrep += record(d->bm, d->reported, d->npages, it);
			d->extra++;
			continue;
		}
		for (v = 0; v < opt.vcpus; v++)
			if (atomic_load(&d->vt[v].done_iter) < it)
				break;
		if (v == opt.vcpus)
			return true;
		if (now_ns() - t0 > STUCK_NS) {
			tap_diag("vCPU %u completed no batch of iteration %llu in %llu s",
				 v, it, STUCK_NS / 1000000000ULL);
			return false;
		}
		nanosleep(&nap, NULL);
	}
}

struct tally {
	u64 written;		/* pages holding an iteration */
	u64 distinct;		/* pages some harvest reported */
	u64 spurious;		/* reported, but never written */
	u64 lost;		/* written after the last harvest that reported them */
	u64 late;		/* harvests that missed a write made before them */
	u64 bad;		/* holding a value no iteration wrote */
};

/* The vCPUs store with WRITE_ONCE(): an untorn load sees old or new. */
static u64 page_word(const struct dl_run *d, u64 p)
{
	return __atomic_load_n((u64 *)(d->mem + p * PAGE_SIZE),
			       __ATOMIC_RELAXED);
}

static void snapshot(const struct dl_run *d, u64 *seen)
{
	u64 p;

	for (p = 0; p < d->npages; p++)
		seen[p] = page_word(d, p);
}

/*
 * The invariant of dl_run(), one harvest at a time: a value in @seen was
 * in memory before harvest @it began, so some harvest up to @it reported
 * its page.  A write a harvest dropped is usually overwritten long before
 * the run ends, where only the last write of a page counts; this catches
 * most of them when they happen.
 */
static void check_seen(const struct dl_run *d, const u64 *seen,
		       const u64 *reported, u64 it, const char *name,
		       struct tally *t)
{
	u64 p;

	for (p = 0; p < d->npages; p++) {
		if (reported[p] >= seen[p])
			continue;
		if (t->late++ < 5)
			tap_diag("%s: lost page %llu: held iteration %llu before harvest %llu, last reported in %llu%s",
				 name, p, seen[p], it, reported[p],
				 reported[p] ? "" : " (never)");
	}
}

/* Check every page against the invariant below; print the first few misses. */
static void tally_pages(const struct dl_run *d, const u64 *reported, u64 last,
			const char *name, struct tally *t)
{
	const u64 *rep;
	u64 p, val;

	for (p = 0; p < d->npages; p++) {
		val = page_word(d, p);
		rep = &reported[p];
		t->distinct += *rep != 0;
		if (!val) {
			t->spurious += *rep != 0;
			continue;
		}
		t->written++;
		if (val > last && t->bad++ < 3)
			tap_diag("%s: page %llu holds %#llx, but the last iteration was %llu",
				 name, p, val, last);
		if (val <= last && *rep < val && t->lost++ < 5)
			tap_diag("%s: lost page %llu: holds iteration %llu, last reported in %llu%s",
				 name, p, val, *rep, *rep ? "" : " (never)");
	}
}

/*
 * Why "reported[p] >= v" must hold for a page p whose last write stored
 * v.  The counter becomes v only after harvest v - 1 returned, and the
 * vCPU read it before writing, so the write came after harvest v - 1.
 * From the write on, p is in the log until a GET copies it out, so the
 * first GET after the write reported p, and that is harvest v or later.
 * With manual clearing a CLEAR can drop a write that found p's bit
 * already set, but only between one harvest's GET and CLEAR: then that
 * GET reported p, and the write, whose vCPU read the counter before that
 * harvest ended, stored at most that harvest's iteration.  The final
 * harvest, with the vCPUs stopped, covers the writes after the last one
 * in the loop.
 */
static void dl_run(const struct mode *m, unsigned int run_idx, u64 target)
{
	u64 size = (u64)opt.mib * SZ_1M, npages = size / PAGE_SIZE;
	u64 *bm = NULL, *reported = NULL, *seen = NULL, it, last;
	u64 nrep = 0, harvests = 0;
	u64 writes, single, other, t0, ns;
	struct eptmmu_vcpu_stats sum = { 0 };
	struct tally t = { 0 };
	struct eptmmu_access a[2];
	struct eptmmu_run run;
	struct dl_run d = { 0 };
	bool harvest_ok = true, vcpus_ok = true, ok;
	char what[64], why[160];
	unsigned int v, started = 0;
	unsigned long iters = opt.iters;
	int r, n;

	d.vm = new_vm();
	d.mem = xmap(size, SZ_2M);
	if (m->how == RING) {
		r = enable_dirty_ring(d.vm, opt.ring);
		if (r) {
			tap_diag("%s: ENABLE_DIRTY_RING of %u entries: %s",
				 m->name, opt.ring, strerror(-r));
			goto out;
		}
	}
	d.npages = npages;
	/* Backed before the guest runs: no zero page, no COW under the test. */
	memset(d.mem, 0, size);
	/* Initially set: logging starts over a mapped slot, as in migration. */
	r = set_memslot(d.vm, 0, m->flags & EPTMMU_MEM_DIRTY_LOG_INITIALLY_SET ?
			0 : m->flags, GPA_BASE, size, d.mem);
	if (r) {
		tap_diag("%s: SET_MEMSLOT of %u MiB with flags %#x: %s",
			 m->name, opt.mib, m->flags, strerror(-r));
		goto out;
	}
	bm = bm_alloc(npages);
	reported = calloc(npages, sizeof(*reported));
	seen = calloc(npages, sizeof(*seen));
	d.vt = calloc(opt.vcpus, sizeof(*d.vt));
	if (!reported || !seen || !d.vt)
		die("calloc");
	for (v = 0; v < opt.vcpus; v++) {
		struct vcpu_thread *vt = &d.vt[v];

		vt->run = &d;
		vt->fd = xcreate_vcpu(d.vm);
		vt->idx = v;
		vt->npages = (npages - v + opt.vcpus - 1) / opt.vcpus;
		vt->rng = mix64(opt.seed ^ mix64(run_idx * 256 + v)) | 1;
	}
	if (m->how == RING) {
		rc.rings = calloc(opt.vcpus, sizeof(*rc.rings));
		if (!rc.rings)
			die("calloc");
		for (v = 0; v < opt.vcpus; v++) {
			r = dring_map(&rc.rings[v], d.vt[v].fd, opt.ring);
			if (r)
				die("mmap of vCPU %u's dirty ring: %s", v,
				    strerror(-r));
		}
		rc.vm = d.vm;
		rc.n = opt.vcpus;
		rc.dbit = m->flags & EPTMMU_MEM_DIRTY_LOG_DBIT;
		d.bm = bm;
		d.reported = reported;
	}

	if (m->flags & EPTMMU_MEM_DIRTY_LOG_INITIALLY_SET) {
		/* Zeros: a page still holding 0 counts as never written. */
		for (it = 0; it < npages; it += n) {
			for (n = 0; n < BATCH && it + n < npages; n++)
				d.vt[0].acc[n] = access_of(EPTMMU_ACCESS_WRITE,
							   GPA_BASE + (it + n) * PAGE_SIZE,
							   8, 0);
			if (!run_ok(d.vt[0].fd, d.vt[0].acc, n, &run, why,
				    sizeof(why))) {
				tap_diag("%s: mapping the slot: %s", m->name, why);
				goto out;
			}
		}
		r = set_memslot(d.vm, 0, m->flags, GPA_BASE, size, d.mem);
		if (r) {
			tap_diag("%s: turning logging on: %s", m->name,
				 strerror(-r));
			goto out;
		}
	}

	/* Iteration values start at 1: a page still holding 0 was never written. */
	atomic_store(&d.iter, 1);
	t0 = now_ns();
	for (v = 0; v < opt.vcpus; v++) {
		errno = pthread_create(&d.vt[v].tid, NULL, vcpu_main, &d.vt[v]);
		if (errno) {
			tap_diag("%s: pthread_create: %s", m->name,
				 strerror(errno));
			atomic_store(&d.failed, true);
			break;
		}
		started++;
	}

	/*
	 * -i iterations at least, more until this run's share of -w.  An
	 * initially-set run is about the start and the first CLEARs, which
	 * a quarter of that shows as well: it costs make check less.
	 */
	if (m->flags & EPTMMU_MEM_DIRTY_LOG_INITIALLY_SET) {
		iters = opt.iters / 4 ? opt.iters / 4 : 1;
		target /= 4;
	}
	for (it = 1; started == opt.vcpus; it++) {
		atomic_store(&d.iter, it);
		if (!wait_batches(&d, it))
			break;
		snprintf(what, sizeof(what), "%s: harvest %llu", m->name, it);
		if (!harvest(d.vm, 0, npages, m->how, bm, what)) {
			harvest_ok = false;
			break;
		}
		harvests++;
		nrep += record(bm, reported, npages, it);
		check_seen(&d, seen, reported, it, m->name, &t);
		snapshot(&d, seen);
		if (it >= iters && total_writes(&d) >= target)
			break;
	}
	last = it;

	atomic_store(&d.stop, true);
	for (v = 0; v < started; v++)
		pthread_join(d.vt[v].tid, NULL);
	if (harvest_ok) {
		snprintf(what, sizeof(what), "%s: final harvest", m->name);
		harvest_ok = harvest(d.vm, 0, npages, m->how, bm, what);
		if (harvest_ok) {
			nrep += record(bm, reported, npages, last + 1);
			harvests++;
			check_seen(&d, seen, reported, last + 1, m->name, &t);
		}
	}
	ns = now_ns() - t0;
	writes = total_writes(&d);
	nrep += d.nrep;
	harvests += d.extra;

	tally_pages(&d, reported, last, m->name, &t);
	for (v = 0; v < opt.vcpus; v++) {
		const struct vcpu_thread *vt = &d.vt[v];

		if (vt->failed) {
			tap_diag("%s: vCPU %u: %s", m->name, v, vt->why);
			vcpus_ok = false;
		}
		sum.accesses += vt->stats.accesses;
		sum.faults += vt->stats.faults;
		sum.fast_fixed_wp += vt->stats.fast_fixed_wp;
		sum.slow_faults += vt->stats.slow_faults;
		sum.tlb_flushes += vt->stats.tlb_flushes;
	}
	vcpus_ok &= started == opt.vcpus;

	tap_diag("%s: %llu iterations, %llu guest writes, %llu pages reported in %llu harvests (%llu distinct, %llu written), %.2f s",
		 m->name, last, writes, nrep, harvests, t.distinct, t.written,
		 ns / 1e9);
	tap_diag("%s: vCPU stats: accesses %llu faults %llu fast_wp %llu slow %llu tlb_flushes %llu",
		 m->name, sum.accesses, sum.faults, sum.fast_fixed_wp,
		 sum.slow_faults, sum.tlb_flushes);
	if (t.spurious)
		tap_diag("%s: %llu pages reported but never written", m->name,
			 t.spurious);
	if (t.lost || t.late)
		tap_diag("%s: %llu pages lost at the end; %llu times a harvest missed a write made before it",
			 m->name, t.lost, t.late);

	tap_ok(harvest_ok && !t.lost && !t.late && !t.bad, "%s: %s", m->name,
	       run_checks[0]);
	tap_ok(vcpus_ok, "%s: %s", m->name, run_checks[1]);
	if (writes < target)
		tap_diag("%s: %llu guest writes, want at least %llu", m->name,
			 writes, target);
	tap_ok(writes >= target && nrep, "%s: %s", m->name, run_checks[2]);

	/* Nothing runs: a harvest now must not find anything. */
	snprintf(what, sizeof(what), "%s: harvest after the final one", m->name);
	tap_ok(harvest_ok && harvest_is(d.vm, 0, npages, m->how, NULL, 0, what),
	       "%s: %s", m->name, run_checks[3]);

	/* The read must not count as a write. */
	single = mix64(opt.seed + run_idx) % npages;
	other = (single + 1) % npages;
	a[0] = access_of(EPTMMU_ACCESS_READ, GPA_BASE + other * PAGE_SIZE, 8, 0);
	a[1] = access_of(EPTMMU_ACCESS_WRITE, GPA_BASE + single * PAGE_SIZE, 8,
			 SINGLE_VALUE);
	snprintf(what, sizeof(what), "%s: single write", m->name);
	ok = run_ok(d.vt[single % opt.vcpus].fd, a, 2, &run, why, sizeof(why));
	if (!ok)
		tap_diag("%s: %s", what, why);
	ok = ok && harvest_is(d.vm, 0, npages, m->how, &single, 1, what);
	if (ok && *(u64 *)(d.mem + single * PAGE_SIZE) != SINGLE_VALUE) {
		tap_diag("%s: page %llu holds %#llx", what, single,
			 *(u64 *)(d.mem + single * PAGE_SIZE));
		ok = false;
	}
	snprintf(what, sizeof(what), "%s: harvest after the single write",
		 m->name);
	ok = ok && harvest_is(d.vm, 0, npages, m->how, NULL, 0, what);
	tap_ok(ok, "%s: %s", m->name, run_checks[4]);

	if (m->how == RING) {
		u64 full = 0, overflow = ~0ULL, exits = 0;

		for (v = 0; v < opt.vcpus; v++)
			full += d.vt[v].full_exits;
		r = vm_stat(d.vm, "dirty_ring_overflow", &overflow);
		r = r ? r : vm_stat(d.vm, "dirty_ring_full_exits", &exits);
		if (r)
			tap_diag("%s: debugfs: %s", m->name, strerror(-r));
		tap_diag("%s: %llu ring-full exits (debugfs %llu), %llu harvests asked for by full vCPUs, %llu entries overflowed",
			 m->name, full, exits, d.extra, overflow);
		/* Whether they happen depends on the pace: ring_full_exact() makes them. */
		tap_ok(!r && full == exits && !overflow && vcpus_ok,
		       "%s: %s", m->name, run_checks[5]);
		for (v = 0; v < opt.vcpus; v++)
			dring_unmap(&rc.rings[v]);
		free(rc.rings);
		memset(&rc, 0, sizeof(rc));
	}
	for (v = 0; v < opt.vcpus; v++)
		close(d.vt[v].fd);
out:
	close_vm(d.vm);
	munmap(d.mem, size);
	free(d.vt);
	free(reported);
	free(seen);
	free(bm);
}

/* ---- refused arguments ---- */

/*
 * Slot 0 logs, 200 pages: not a multiple of 64, so the last bitmap word is
 * partial and a CLEAR may end there with any num_pages.  Slot 1 does not
 * log.  Slot 5 does not exist.
 */
#define INV_PAGES	200
#define INV_A		3
#define INV_T		197
#define INV_GPA1	(GPA_BASE + (1ULL << 30))
#define INV_GPA3	(GPA_BASE + (2ULL << 30))

struct bad_log {
	const char *desc;
	unsigned long cmd;
	struct eptmmu_dirty_log log;
	int err;
};

#define NR_BAD_GET	7
#define NR_BAD_CLEAR	9
#define INV_TAP		(NR_BAD_GET + 1 + NR_BAD_CLEAR + 1 + 4)

/*
 * Each call must fail with its errno and leave the log of slot 0 exactly
 * as it was: pages A and T written and not cleared.
 */
static void bad_log_calls(int vm, int vcpu, const struct bad_log *b, size_t n)
{
	static const u64 dirty[] = { INV_A, INV_T };
	int ret, err;
	size_t i;
	bool ok;

	for (i = 0; i < n; i++, b++) {
		struct eptmmu_dirty_log log = b->log;

		errno = 0;
		ret = ioctl(vm, b->cmd, &log);
		err = errno;
		ok = ret == -1 && err == b->err;
		if (!ok)
			tap_diag("%s: returned %d errno %d (%s), want -1 errno %d (%s)",
				 b->desc, ret, err, strerror(err), b->err,
				 strerror(b->err));
		if (!harvest_is(vm, 0, INV_PAGES, PEEK, dirty, 2, b->desc)) {
			/* Log them again, so one failure does not cascade. */
			g_write(vcpu, GPA_BASE + INV_A * PAGE_SIZE, 8, i);
			g_write(vcpu, GPA_BASE + INV_T * PAGE_SIZE, 8, i);
			ok = false;
		}
		tap_ok(ok, "invalid: %s -> %s", b->desc, strerrorname_np(b->err));
	}
}

#define PTR(p)		((uintptr_t)(p))

/* The two lines that depend on EPT A/D: one of them is always skipped. */
static const char inv_ebusy[] =
	"invalid: switching a logging slot between write protection and D bits -> EBUSY";
static const char inv_no_ad[] =
	"invalid: SET_MEMSLOT with LOG_DIRTY_PAGES | DIRTY_LOG_DBIT on a VM without A/D -> EINVAL";

static void t_invalid(bool ept_ad)
{
	static const u64 dirty[] = { INV_A, INV_T };
	u64 bm[8], ones[8], tmask = 1ULL << (INV_T - 192);
	u8 *mem, *mem1, *mem3;
	void *ro, *none;
	int vm, vcpu, r, r2;
	bool ok;

	vm = new_vm();
	vcpu = xcreate_vcpu(vm);
	mem = xmap(INV_PAGES * PAGE_SIZE, PAGE_SIZE);
	mem1 = xmap(64 * PAGE_SIZE, PAGE_SIZE);
	mem3 = xmap(64 * PAGE_SIZE, PAGE_SIZE);
	ro = mmap(NULL, PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS,
		  -1, 0);
	none = mmap(NULL, PAGE_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
	if (ro == MAP_FAILED || none == MAP_FAILED)
		die("mmap of the bad bitmaps");
	memset(ones, 0xff, sizeof(ones));

	r = set_memslot(vm, 0, EPTMMU_MEM_LOG_DIRTY_PAGES, GPA_BASE,
			INV_PAGES * PAGE_SIZE, mem);
	r2 = set_memslot(vm, 1, 0, INV_GPA1, 64 * PAGE_SIZE, mem1);
	if (r || r2) {
		tap_diag("invalid: slots 0 and 1: %s, %s", strerror(-r),
			 strerror(-r2));
		goto out;
	}
	if (!g_write(vcpu, GPA_BASE + INV_A * PAGE_SIZE, 8, 1) ||
	    !g_write(vcpu, GPA_BASE + INV_T * PAGE_SIZE, 8, 1))
		goto out;

	{
		/* The EFAULT last: the next line checks it consumed nothing. */
		const struct bad_log gets[] = {
			{ "GET_DIRTY_LOG on a slot without logging",
			  EPTMMU_GET_DIRTY_LOG, { .slot = 1, .bitmap = PTR(bm) },
			  EINVAL },
			{ "GET_DIRTY_LOG on a slot that does not exist",
			  EPTMMU_GET_DIRTY_LOG, { .slot = 5, .bitmap = PTR(bm) },
			  ENOENT },
			{ "GET_DIRTY_LOG with unknown flag bit 1",
			  EPTMMU_GET_DIRTY_LOG,
			  { .flags = 1u << 1, .bitmap = PTR(bm) }, EINVAL },
			{ "GET_DIRTY_LOG with first_page 64",
			  EPTMMU_GET_DIRTY_LOG,
			  { .first_page = 64, .bitmap = PTR(bm) }, EINVAL },
			{ "GET_DIRTY_LOG with num_pages = the slot's pages",
			  EPTMMU_GET_DIRTY_LOG,
			  { .num_pages = INV_PAGES, .bitmap = PTR(bm) }, EINVAL },
			{ "GET_DIRTY_LOG with NO_CLEAR and a read-only bitmap",
			  EPTMMU_GET_DIRTY_LOG,
			  { .flags = EPTMMU_DIRTY_LOG_NO_CLEAR, .bitmap = PTR(ro) },
			  EFAULT },
			{ "GET_DIRTY_LOG with a read-only bitmap",
			  EPTMMU_GET_DIRTY_LOG, { .bitmap = PTR(ro) }, EFAULT },
		};

		_Static_assert(ARRAY_SIZE(gets) == NR_BAD_GET, "NR_BAD_GET");
		bad_log_calls(vm, vcpu, gets, ARRAY_SIZE(gets));
	}
	ok = harvest_is(vm, 0, INV_PAGES, AUTO, dirty, 2,
			"harvest after the refused GETs") &&
	     harvest_is(vm, 0, INV_PAGES, AUTO, NULL, 0, "the next harvest");
	tap_ok(ok, "invalid: after the EFAULT a harvest reports exactly the pages written before it");

	/* The log holds A and T again, copied but not cleared. */
	if (!g_write(vcpu, GPA_BASE + INV_A * PAGE_SIZE, 8, 2) ||
	    !g_write(vcpu, GPA_BASE + INV_T * PAGE_SIZE, 8, 2) ||
	    !harvest_is(vm, 0, INV_PAGES, PEEK, dirty, 2, "before the CLEARs"))
		goto out;
	{
		/* All bits set: a CLEAR that went through would drop A or T. */
		const struct bad_log clears[] = {
			{ "CLEAR_DIRTY_LOG with first_page 1, not a multiple of 64",
			  EPTMMU_CLEAR_DIRTY_LOG,
			  { .first_page = 1, .num_pages = 64, .bitmap = PTR(ones) },
			  EINVAL },
			{ "CLEAR_DIRTY_LOG with num_pages 0",
			  EPTMMU_CLEAR_DIRTY_LOG,
			  { .num_pages = 0, .bitmap = PTR(ones) }, EINVAL },
			{ "CLEAR_DIRTY_LOG of pages 0..255 of a 200-page slot",
			  EPTMMU_CLEAR_DIRTY_LOG,
			  { .num_pages = 256, .bitmap = PTR(ones) }, EINVAL },
			{ "CLEAR_DIRTY_LOG of 100 pages, short of the slot's end",
			  EPTMMU_CLEAR_DIRTY_LOG,
			  { .num_pages = 100, .bitmap = PTR(ones) }, EINVAL },
			{ "CLEAR_DIRTY_LOG with flags NO_CLEAR",
			  EPTMMU_CLEAR_DIRTY_LOG,
			  { .flags = EPTMMU_DIRTY_LOG_NO_CLEAR,
			    .num_pages = INV_PAGES, .bitmap = PTR(ones) }, EINVAL },
			{ "CLEAR_DIRTY_LOG on a slot without logging",
			  EPTMMU_CLEAR_DIRTY_LOG,
			  { .slot = 1, .num_pages = 64, .bitmap = PTR(ones) },
			  EINVAL },
			{ "CLEAR_DIRTY_LOG on a slot that does not exist",
			  EPTMMU_CLEAR_DIRTY_LOG,
			  { .slot = 5, .num_pages = 64, .bitmap = PTR(ones) },
			  ENOENT },
			{ "CLEAR_DIRTY_LOG with a NULL bitmap",
			  EPTMMU_CLEAR_DIRTY_LOG,
			  { .num_pages = INV_PAGES, .bitmap = 0 }, EFAULT },
			{ "CLEAR_DIRTY_LOG with an unreadable bitmap",
			  EPTMMU_CLEAR_DIRTY_LOG,
			  { .num_pages = INV_PAGES, .bitmap = PTR(none) }, EFAULT },
		};

		_Static_assert(ARRAY_SIZE(clears) == NR_BAD_CLEAR, "NR_BAD_CLEAR");
		bad_log_calls(vm, vcpu, clears, ARRAY_SIZE(clears));
	}

	/*
	 * The accepted neighbour of the refused ranges: the last, partial
	 * word.  T must be write-protected again, so writing it logs it anew.
	 */
	memset(bm, 0, sizeof(bm));
	bm[0] = tmask;
	r = dirty_log_ioctl(vm, EPTMMU_CLEAR_DIRTY_LOG, 0, 0, 192,
			    INV_PAGES - 192, bm);
	if (r)
		tap_diag("CLEAR_DIRTY_LOG of pages 192..199: %s", strerror(-r));
	ok = !r && harvest_is(vm, 0, INV_PAGES, PEEK, dirty, 1,
			      "after clearing T") &&
	     g_write(vcpu, GPA_BASE + INV_T * PAGE_SIZE, 8, 3) &&
	     harvest_is(vm, 0, INV_PAGES, PEEK, dirty, 2,
			"after writing T again");
	tap_ok(ok, "invalid: CLEAR_DIRTY_LOG of the partial last word works (control)");

	r = set_memslot(vm, 2, EPTMMU_MEM_DIRTY_LOG_DBIT, INV_GPA3,
			64 * PAGE_SIZE, mem3);
	r2 = del_memslot(vm, 2);
	if (r != -EINVAL || r2 != -ENOENT)
		tap_diag("SET_MEMSLOT DBIT alone: %s, then delete: %s",
			 strerror(-r), strerror(-r2));
	tap_ok(r == -EINVAL && r2 == -ENOENT,
	       "invalid: SET_MEMSLOT with DIRTY_LOG_DBIT but not LOG_DIRTY_PAGES -> EINVAL, no slot made");

	r = set_memslot(vm, 2, EPTMMU_MEM_DIRTY_LOG_INITIALLY_SET, INV_GPA3,
			64 * PAGE_SIZE, mem3);
	r2 = set_memslot(vm, 0, EPTMMU_MEM_LOG_DIRTY_PAGES |
			 EPTMMU_MEM_DIRTY_LOG_INITIALLY_SET, GPA_BASE,
			 INV_PAGES * PAGE_SIZE, mem);
	if (r != -EINVAL || r2 != -EBUSY)
		tap_diag("SET_MEMSLOT INITIALLY_SET alone: %s; slot 0 switched to it: %s",
			 strerror(-r), strerror(-r2));
	tap_ok(r == -EINVAL && r2 == -EBUSY &&
	       harvest_is(vm, 0, INV_PAGES, PEEK, dirty, 2, "after INITIALLY_SET"),
	       "invalid: DIRTY_LOG_INITIALLY_SET without LOG_DIRTY_PAGES -> EINVAL; switched on while logging -> EBUSY");

	if (ept_ad) {
		/* Slot 0 is write-protect logging; slot 3 D-bit logging. */
		r = set_memslot(vm, 0, EPTMMU_MEM_LOG_DIRTY_PAGES |
				EPTMMU_MEM_DIRTY_LOG_DBIT, GPA_BASE,
				INV_PAGES * PAGE_SIZE, mem);
		r2 = set_memslot(vm, 3, EPTMMU_MEM_LOG_DIRTY_PAGES |
				 EPTMMU_MEM_DIRTY_LOG_DBIT, INV_GPA3,
				 64 * PAGE_SIZE, mem3);
		ok = r == -EBUSY && !r2;
		if (!ok)
			tap_diag("slot 0 to D bits: %s; new D-bit slot 3: %s",
				 strerror(-r), strerror(-r2));
		r = set_memslot(vm, 3, EPTMMU_MEM_LOG_DIRTY_PAGES, INV_GPA3,
				64 * PAGE_SIZE, mem3);
		if (r != -EBUSY)
			tap_diag("slot 3 to write protection: %s", strerror(-r));
		ok &= r == -EBUSY;
		/* Both slots still log. */
		ok = ok && harvest_is(vm, 0, INV_PAGES, AUTO, dirty, 2,
				      "slot 0 after the refused switch") &&
		     g_write(vcpu, INV_GPA3 + 7 * PAGE_SIZE, 8, 4) &&
		     harvest_is(vm, 3, 64, AUTO, (const u64[]){ 7 }, 1,
				"slot 3 after the refused switch");
		tap_ok(ok, "%s", inv_ebusy);
		tap_ok(true, "%s # SKIP VM has EPT A/D", inv_no_ad);
	} else {
		tap_ok(true, "%s # SKIP VM has no EPT A/D", inv_ebusy);
		r = set_memslot(vm, 2, EPTMMU_MEM_LOG_DIRTY_PAGES |
				EPTMMU_MEM_DIRTY_LOG_DBIT, INV_GPA3,
				64 * PAGE_SIZE, mem3);
		r2 = del_memslot(vm, 2);
		if (r != -EINVAL || r2 != -ENOENT)
			tap_diag("SET_MEMSLOT LOG | DBIT: %s, then delete: %s",
				 strerror(-r), strerror(-r2));
		tap_ok(r == -EINVAL && r2 == -ENOENT, "%s", inv_no_ad);
	}
out:
	close(vcpu);
	close_vm(vm);
	munmap(mem, INV_PAGES * PAGE_SIZE);
	munmap(mem1, 64 * PAGE_SIZE);
	munmap(mem3, 64 * PAGE_SIZE);
	munmap(ro, PAGE_SIZE);
	munmap(none, PAGE_SIZE);
}

/* ---- -L: one large, sparsely written slot ---- */

/* Pages the guest writes in the large slot, spread over all of it. */
#define BIG_WRITTEN	1024
#define BIG_TAP		4

static bool big_writes(int vcpu, u64 npages, u64 tag)
{
	struct eptmmu_access *a = calloc(BIG_WRITTEN, sizeof(*a));
	bool ok;
	u64 i;

	if (!a)
		die("calloc");
	for (i = 0; i < BIG_WRITTEN; i++)
		a[i] = access_of(EPTMMU_ACCESS_WRITE,
				 GPA_BASE + i * (npages / BIG_WRITTEN) * PAGE_SIZE,
				 8, tag + i);
	ok = run_all(vcpu, a, BIG_WRITTEN, NULL, "writes to the large slot");
	free(a);
	return ok;
}

/*
 * R-DIRTY-YIELD: a slot of @gib GiB with BIG_WRITTEN pages written.  A
 * full-range GET, a CLEAR of every page and another GET each walk all of
 * it under the write lock; they must yield (make check lowers the
 * soft-lockup and RCU-stall thresholds around this) and still be exact.
 */
static void big_run(const struct mode *m, unsigned int gib)
{
	u64 size = (u64)gib << 30, npages = size / PAGE_SIZE, t0, t1, t2;
	size_t words = npages / 64, n1, n2, n3;
	u64 *bm = malloc(words * 8), *ones = malloc(words * 8);
	int vm, vcpu, r;
	const char *name = m->flags & EPTMMU_MEM_DIRTY_LOG_DBIT ? "dbit" : "wp";
	void *mem;

	if (!bm || !ones)
		die("malloc");
	memset(ones, 0xff, words * 8);
	mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED)
		die("mmap %u GiB", gib);
	/*
	 * One 4K page per write: THPs would be 512 times the memory.  A
	 * kernel without THP (PREEMPT_RT) refuses the advice with EINVAL
	 * and maps 4K pages anyway.
	 */
	if (madvise(mem, size, MADV_NOHUGEPAGE) && errno != EINVAL)
		die("MADV_NOHUGEPAGE");
	vm = xcreate_vm(devfd);
	vcpu = xcreate_vcpu(vm);
	r = set_memslot(vm, 0, m->flags, GPA_BASE, size, mem);
	if (r)
		die("EPTMMU_SET_MEMSLOT %u GiB: %s", gib, strerror(-r));
	if (!big_writes(vcpu, npages, 1))
		die("guest writes");

	t0 = now_ns();
	r = dirty_log_ioctl(vm, EPTMMU_GET_DIRTY_LOG, 0,
			    EPTMMU_DIRTY_LOG_NO_CLEAR, 0, 0, bm);
	t1 = now_ns();
	n1 = r ? 0 : bitmap_count(bm, words);
	tap_ok(!r && n1 == BIG_WRITTEN,
	       "%s %u GiB: a full-range GET reports the %d written pages (%zu, %.1f ms)",
	       name, gib, BIG_WRITTEN, n1, (t1 - t0) / 1e6);
	r = dirty_log_ioctl(vm, EPTMMU_CLEAR_DIRTY_LOG, 0, 0, 0, npages, ones);
	t2 = now_ns();
	tap_ok(!r, "%s %u GiB: CLEAR of every page (%.1f ms)", name, gib,
	       (t2 - t1) / 1e6);
	r = dirty_log_ioctl(vm, EPTMMU_GET_DIRTY_LOG, 0, 0, 0, 0, bm);
	n2 = r ? ~(size_t)0 : bitmap_count(bm, words);
	tap_ok(!n2, "%s %u GiB: nothing dirty after the CLEAR (%zu)", name,
	       gib, n2);
	if (!big_writes(vcpu, npages, 1 << 20))
		die("guest writes");
	r = dirty_log_ioctl(vm, EPTMMU_GET_DIRTY_LOG, 0, 0, 0, 0, bm);
	n3 = r ? 0 : bitmap_count(bm, words);
	tap_ok(n3 == BIG_WRITTEN,
	       "%s %u GiB: writes after the CLEAR are reported again (%zu)",
	       name, gib, n3);
	close(vcpu);
	close(vm);
	munmap(mem, size);
	free(bm);
	free(ones);
}

static int big_main(unsigned int gib)
{
	struct eptmmu_vm_stats st;
	unsigned int i;
	int vm;

	tap_plan(2 * BIG_TAP);
	devfd = xopen_dev();
	vm = xcreate_vm(devfd);
	xvm_stats(vm, &st);
	close(vm);
	if (st.backend == EPTMMU_BACKEND_VMX)
		die("-L: the vmx vCPU's guest reaches only 4 GiB");
	for (i = 0; i < NR_BIG_MODES; i += 2) {
		int c;

		if ((modes[i].flags & EPTMMU_MEM_DIRTY_LOG_DBIT) && !st.ept_ad) {
			for (c = 0; c < BIG_TAP; c++)
				tap_ok(true, "dbit: # SKIP VM has no EPT A/D");
			continue;
		}
		big_run(&modes[i], gib);
	}
	close(devfd);
	return tap_done();
}

/* ---- runner ---- */

/* A section that gave up early still prints its lines, as failures. */
static void finish(const char *name, int start, int ntap)
{
	int ran = tap_count() - start;

	if (ran > ntap)
		tap_diag("%s printed %d results, declared %d", name, ran, ntap);
	for (; ran < ntap; ran++)
		tap_ok(false, "%s: not reached (see the diagnostics above)",
		       name);
}


/* ---- the dirty ring's own cases ---- */

#define RF_PAGES	2048
#define RF_ENTRIES	EPTMMU_DIRTY_RING_MIN_ENTRIES
#define RF_SOFT		(RF_ENTRIES - EPTMMU_DIRTY_RING_RSVD_ENTRIES)

struct entry_list {
	u32 slot[RF_ENTRIES];
	u64 off[RF_ENTRIES];
	u32 n;
};

static void list_add(u32 slot, u64 off, void *arg)
{
	struct entry_list *l = arg;

	if (l->n < RF_ENTRIES) {
		l->slot[l->n] = slot;
		l->off[l->n] = off;
	}
	l->n++;
}

static struct entry_list elist;
static struct eptmmu_access rf_acc[RF_PAGES];

/* A write that must complete; its page is @page of slot 0. */
static bool ring_write(int vcpu, u64 page, u64 v)
{
	return g_write(vcpu, GPA_BASE + page * PAGE_SIZE, 8, v);
}

/*
 * One vCPU writes RF_PAGES distinct pages in one batch, again and again
 * from where it stopped: each stop must be a ring-full exit exactly at
 * the soft limit, before the access it names; a read must not start in
 * a full ring; the entries must be the pages in the order written; the
 * memory must hold every write.
 */
/* R-RING-SOFT-FULL */
static bool ring_full_exact(int vm, int vcpu, struct dring *ring, u8 *mem)
{
	struct eptmmu_access rd = access_of(EPTMMU_ACCESS_READ, GPA_BASE, 8, 0);
	u32 done = 0, stops = 0, got, i;
	struct eptmmu_run run;
	int r;

	for (i = 0; i < RF_PAGES; i++)
		rf_acc[i] = access_of(EPTMMU_ACCESS_WRITE,
				      GPA_BASE + i * PAGE_SIZE, 8, i + 1);
	while (done < RF_PAGES) {
		r = run_vcpu(vcpu, rf_acc + done, RF_PAGES - done, &run);
		if (r) {
			tap_diag("ring full: EPTMMU_RUN: %s", strerror(-r));
			return false;
		}
		got = run.done;
		if (done + got < RF_PAGES &&
		    (run.exit_reason != EPTMMU_EXIT_RING_FULL || got != RF_SOFT ||
		     run.exit_gpa != rf_acc[done + got].gpa)) {
			tap_diag("ring full: run from page %u: done %u exit %s gpa %#llx, want RING_FULL after %u",
				 done, got, exit_name(run.exit_reason),
				 run.exit_gpa, RF_SOFT);
			return false;
		}
		if (done + got < RF_PAGES) {
			stops++;
			r = run_vcpu(vcpu, &rd, 1, &run);
			if (r || run.exit_reason != EPTMMU_EXIT_RING_FULL ||
			    run.done) {
				tap_diag("ring full: a read in a full ring: r %d exit %s done %u",
					 r, exit_name(run.exit_reason), run.done);
				return false;
			}
		}
		elist.n = 0;
		dring_collect(ring, list_add, &elist);
		if (elist.n != got) {
			tap_diag("ring full: %u pages written, %u entries", got,
				 elist.n);
			return false;
		}
		for (i = 0; i < elist.n; i++) {
			if (elist.slot[i] || elist.off[i] != done + i) {
				tap_diag("ring full: entry %u is slot %u page %llu, want page %u",
					 i, elist.slot[i], elist.off[i], done + i);
				return false;
			}
		}
		r = reset_dirty_rings(vm);
		if (r != (int)got) {
			tap_diag("ring full: RESET_DIRTY_RINGS returned %d, want %u",
				 r, got);
			return false;
		}
		done += got;
	}
	if (stops != RF_PAGES / RF_SOFT) {
		tap_diag("ring full: %u ring-full exits, want %u", stops,
			 RF_PAGES / RF_SOFT);
		return false;
	}
	for (i = 0; i < RF_PAGES; i++) {
		u64 v = *(volatile u64 *)(mem + i * PAGE_SIZE);

		if (v != i + 1) {
			tap_diag("ring full: page %u holds %#llx", i, v);
			return false;
		}
	}
	return true;
}

/* Write @pages; the ring must then hold exactly them, in order. */
static bool ring_holds(int vcpu, struct dring *ring, const u64 *pages,
		       u32 n, u32 nwrite, const char *what)
{
	u32 i;

	for (i = 0; i < nwrite; i++)
		if (!ring_write(vcpu, pages[i], 100 + i))
			return false;
	elist.n = 0;
	dring_collect(ring, list_add, &elist);
	if (elist.n != n) {
		tap_diag("%s: %u entries, want %u", what, elist.n, n);
		return false;
	}
	for (i = 0; i < n; i++) {
		if (elist.slot[i] || elist.off[i] != pages[i]) {
			tap_diag("%s: entry %u is slot %u page %llu, want page %llu",
				 what, i, elist.slot[i], elist.off[i], pages[i]);
			return false;
		}
	}
	return true;
}

/* R-RING-RESET */
/*
 * A reset frees collected entries in order and stops at the first one not
 * collected; it re-protects only the pages of the entries it frees; it
 * skips entries user space rewrote and entries of a slot that has gone,
 * and frees them all the same.
 */
static bool ring_reset_cases(int vm, int vcpu, struct dring *ring, u8 *mem)
{
	static const u64 p4[] = { 10, 11, 12, 13 };
	struct eptmmu_dirty_gfn *e;
	u64 again[2];
	u32 head;
	int r;

	/* Entries 0..3 for pages 10..13; hand back only 0, 1 and 3. */
	head = ring->next;
	if (!ring_holds(vcpu, ring, p4, 4, 4, "reset order"))
		return false;
	e = &ring->gfns[(head + 2) & (ring->entries - 1)];
	__atomic_store_n(&e->flags, EPTMMU_DIRTY_GFN_F_DIRTY, __ATOMIC_RELEASE);
	r = reset_dirty_rings(vm);
	if (r != 2) {
		tap_diag("reset order: RESET_DIRTY_RINGS returned %d, want 2 (stop at the uncollected entry)", r);
		return false;
	}
	/*
	 * Pages 10 and 11 are protected again, 12 and 13 not (their entries
	 * are still in the ring): rewriting all four logs 10 and 11 only.
	 */
	again[0] = 10;
	again[1] = 11;
	ring->next = head + 4;
	if (!ring_holds(vcpu, ring, p4, 0, 0, "after the partial reset"))
		return false;
	if (!ring_write(vcpu, 10, 1) || !ring_write(vcpu, 11, 1) ||
	    !ring_write(vcpu, 12, 1) || !ring_write(vcpu, 13, 1))
		return false;
	if (!ring_holds(vcpu, ring, again, 2, 0, "rewrite after the partial reset"))
		return false;
	/* Now hand back entry 2 too: the reset frees it and the two new ones. */
	__atomic_store_n(&e->flags, EPTMMU_DIRTY_GFN_F_DIRTY |
			 EPTMMU_DIRTY_GFN_F_RESET, __ATOMIC_RELEASE);
	r = reset_dirty_rings(vm);
	if (r != 4) {
		tap_diag("reset order: the second RESET_DIRTY_RINGS returned %d, want 4", r);
		return false;
	}

	/* A rewritten entry: slot 9, a page past any slot; then page 20. */
	head = ring->next;
	again[0] = 20;
	if (!ring_holds(vcpu, ring, again, 1, 1, "stale entries"))
		return false;
	e = &ring->gfns[head & (ring->entries - 1)];
	e->slot = 9;
	e->offset = 1ULL << 40;
	r = reset_dirty_rings(vm);
	if (r != 1) {
		tap_diag("stale entries: RESET_DIRTY_RINGS of a rewritten entry returned %d, want 1", r);
		return false;
	}
	/* Page 20 was not re-protected: a write logs nothing. */
	if (!ring_holds(vcpu, ring, again, 0, 1, "after the rewritten entry"))
		return false;
	(void)mem;
	return true;
}

static void ring_errnos(void)
{
	static const struct {
		const char *desc;
		u32 entries, flags;
	} bad[] = {
		{ "0 entries", 0, 0 },
		{ "1000 entries (not a power of two)", 1000, 0 },
		{ "512 entries (below the minimum)", 512, 0 },
		{ "131072 entries (above the maximum)", 131072, 0 },
		{ "flags 1", RF_ENTRIES, 1 },
	};
	struct eptmmu_dirty_ring_config cfg;
	int vm, vm2, vcpu, r;
	void *p;
	size_t i;

	vm = xcreate_vm(devfd);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		cfg = (struct eptmmu_dirty_ring_config) {
			.entries = bad[i].entries, .flags = bad[i].flags,
		};
		errno = 0;
		r = ioctl(vm, EPTMMU_ENABLE_DIRTY_RING, &cfg);
		tap_ok(r == -1 && errno == EINVAL,
		       "ring invalid: ENABLE_DIRTY_RING with %s -> EINVAL (got %d %s)",
		       bad[i].desc, r, strerror(errno));
	}
	errno = 0;
	r = ioctl(vm, EPTMMU_RESET_DIRTY_RINGS, 0);
	tap_ok(r == -1 && errno == EINVAL,
	       "ring invalid: RESET_DIRTY_RINGS on a VM without rings -> EINVAL");
	/* Nothing was enabled by the refused calls: a vCPU has no ring. */
	vcpu = xcreate_vcpu(vm);
	p = mmap(NULL, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	tap_ok(p == MAP_FAILED && errno == ENODEV,
	       "ring invalid: mmap of a vCPU without a ring -> ENODEV");
	r = enable_dirty_ring(vm, RF_ENTRIES);
	tap_ok(r == -EBUSY, "ring invalid: ENABLE_DIRTY_RING after a vCPU -> EBUSY (got %s)",
	       strerror(-r));
	close(vcpu);
	close(vm);

	vm2 = xcreate_vm(devfd);
	r = enable_dirty_ring(vm2, RF_ENTRIES);
	tap_ok(!r, "ring: ENABLE_DIRTY_RING of %u entries", RF_ENTRIES);
	r = enable_dirty_ring(vm2, RF_ENTRIES * 2);
	tap_ok(r == -EEXIST, "ring invalid: a second ENABLE_DIRTY_RING -> EEXIST (got %s)",
	       strerror(-r));
	errno = 0;
	r = ioctl(vm2, EPTMMU_RESET_DIRTY_RINGS, 1);
	tap_ok(r == -1 && errno == EINVAL,
	       "ring invalid: RESET_DIRTY_RINGS with an argument -> EINVAL");
	vcpu = xcreate_vcpu(vm2);
	p = mmap(NULL, RF_ENTRIES * sizeof(struct eptmmu_dirty_gfn),
		 PROT_READ | PROT_WRITE, MAP_PRIVATE, vcpu, 0);
	tap_ok(p == MAP_FAILED && errno == EINVAL,
	       "ring invalid: MAP_PRIVATE mmap of the ring -> EINVAL");
	p = mmap(NULL, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu,
		 PAGE_SIZE);
	tap_ok(p == MAP_FAILED && errno == EINVAL,
	       "ring invalid: mmap of the ring at a non-zero offset -> EINVAL");
	p = mmap(NULL, 2 * RF_ENTRIES * sizeof(struct eptmmu_dirty_gfn),
		 PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	tap_ok(p == MAP_FAILED && errno == EINVAL,
	       "ring invalid: mmap of more than the ring -> EINVAL");
	r = reset_dirty_rings(vm2);
	tap_ok(r == 0, "ring: RESET_DIRTY_RINGS of an empty ring resets 0 (got %d)", r);
	close(vcpu);
	close(vm2);
}

/*
 * D-bit logging in a ring VM: the vCPU logs the write it faults for, the
 * reset clears that page's D, and the write after it, which does not
 * fault, is in the D bit again for GET_DIRTY_LOG (R-RING-NOVCPU).
 */
static bool ring_dbit_reset(void)
{
	u64 bm[1] = { 0 }, want = 1ULL << 5;
	struct eptmmu_spte sp;
	struct dring ring = { 0 };
	int vm, vcpu, r, lvl;
	bool ok = false;
	u8 *mem;

	vm = xcreate_vm(devfd);
	mem = xmap(64 * PAGE_SIZE, PAGE_SIZE);
	r = enable_dirty_ring(vm, RF_ENTRIES);
	r = r ? r : set_memslot(vm, 0, EPTMMU_MEM_LOG_DIRTY_PAGES |
				EPTMMU_MEM_DIRTY_LOG_DBIT, GPA_BASE,
				64 * PAGE_SIZE, mem);
	vcpu = xcreate_vcpu(vm);
	r = r ? r : dring_map(&ring, vcpu, RF_ENTRIES);
	if (r) {
		tap_diag("ring dbit: setup: %s", strerror(-r));
		goto out;
	}
	elist.n = 0;
	if (!ring_write(vcpu, 5, 1) || dring_collect(&ring, list_add, &elist) != 1 ||
	    elist.off[0] != 5) {
		tap_diag("ring dbit: the faulting write is not the one entry");
		goto out;
	}
	lvl = get_spte(vm, GPA_BASE + 5 * PAGE_SIZE, &sp);
	if (lvl != 1 || !(sp.spte & EPT_D)) {
		tap_diag("ring dbit: before the reset: level %d spte %#llx, want D", lvl,
			 sp.spte);
		goto out;
	}
	r = reset_dirty_rings(vm);
	lvl = get_spte(vm, GPA_BASE + 5 * PAGE_SIZE, &sp);
	if (r != 1 || lvl != 1 || (sp.spte & EPT_D)) {
		tap_diag("ring dbit: reset %d; after it: level %d spte %#llx, want D clear",
			 r, lvl, sp.spte);
		goto out;
	}
	r = dirty_log_ioctl(vm, EPTMMU_GET_DIRTY_LOG, 0, 0, 0, 0, bm);
	if (r || bm[0]) {
		tap_diag("ring dbit: GET after the reset: %s, %#llx, want nothing",
			 strerror(-r), bm[0]);
		goto out;
	}
	elist.n = 0;
	if (!ring_write(vcpu, 5, 2) || dring_collect(&ring, list_add, &elist)) {
		tap_diag("ring dbit: the write after the reset faulted and logged %u entries",
			 elist.n);
		goto out;
	}
	r = dirty_log_ioctl(vm, EPTMMU_GET_DIRTY_LOG, 0, 0, 0, 0, bm);
	ok = !r && bm[0] == want;
	if (!ok)
		tap_diag("ring dbit: GET after the second write: %s, %#llx, want %#llx",
			 strerror(-r), bm[0], want);
out:
	dring_unmap(&ring);
	close(vcpu);
	close_vm(vm);
	munmap(mem, 64 * PAGE_SIZE);
	return ok;
}

#define RING_INV_TAP	15
#define RING_CASES_TAP	5

static void t_ring(bool ept_ad)
{
	u64 size = RF_PAGES * PAGE_SIZE, overflow = ~0ULL;
	struct dring ring = { 0 };
	int vm, vcpu, r;
	u8 *mem;
	bool ok;

	ring_errnos();

	vm = xcreate_vm(devfd);
	mem = xmap(size, SZ_2M);
	memset(mem, 0, size);
	r = enable_dirty_ring(vm, RF_ENTRIES);
	r = r ? r : set_memslot(vm, 0, EPTMMU_MEM_LOG_DIRTY_PAGES, GPA_BASE,
				size, mem);
	vcpu = xcreate_vcpu(vm);
	r = r ? r : dring_map(&ring, vcpu, RF_ENTRIES);
	if (r) {
		tap_diag("ring: setup: %s", strerror(-r));
		goto out;
	}
	tap_ok(ring_full_exact(vm, vcpu, &ring, mem),
	       "ring: a vCPU stops at the soft limit with RING_FULL, before the access it names, and goes on after a reset");
	tap_ok(ring_reset_cases(vm, vcpu, &ring, mem),
	       "ring: a reset frees collected entries in order, re-protects only their pages, skips rewritten ones");
	/* Stale: the slot goes away with entries in the ring. */
	ok = ring_write(vcpu, 30, 1) && ring_write(vcpu, 31, 1);
	elist.n = 0;
	ok = ok && dring_collect(&ring, list_add, &elist) == 2;
	ok = ok && !del_memslot(vm, 0);
	r = reset_dirty_rings(vm);
	ok = ok && r == 2;
	ok = ok && !set_memslot(vm, 0, EPTMMU_MEM_LOG_DIRTY_PAGES, GPA_BASE,
				size, mem);
	{
		static const u64 p30[] = { 30 };

		ok = ok && ring_holds(vcpu, &ring, p30, 1, 1,
				      "after the slot came back");
		ok = ok && reset_dirty_rings(vm) == 1;
	}
	tap_ok(ok, "ring: entries of a deleted slot are freed by the reset, the ring goes on");
	r = vm_stat(vm, "dirty_ring_overflow", &overflow);
	tap_ok(!r && !overflow,
	       "ring: no entry ever overflowed the ring (debugfs dirty_ring_overflow %llu)",
	       overflow);
	if (ept_ad)
		tap_ok(ring_dbit_reset(),
		       "ring: with D bits a reset clears the page's D; the next write is in the D bit, not the ring");
	else
		tap_skip("VM has no EPT A/D", "ring: with D bits a reset clears the page's D");
	dring_unmap(&ring);
out:
	close(vcpu);
	close_vm(vm);
	munmap(mem, size);
}

/* ---- -G: a 64-bit guest (EPTMMU_RUN_GUEST, vmx vCPU) over the ring ---- */

#define G64R_GPA	0x40000000ULL
#define G64R_PAGES	1024

struct g64r_seen {
	u64 *count;		/* entries per page */
	u64 entries, bad;
};

static void g64r_note(u32 slot, u64 off, void *arg)
{
	struct g64r_seen *s = arg;

	s->entries++;
	if (slot || off >= G64R_PAGES)
		s->bad++;
	else
		s->count[off]++;
}

/*
 * A 64-bit guest writes one word into each of G64R_PAGES pages of a
 * logging slot in a ring VM: its run must stop with ring-full exits (no
 * more than 448 entries fit before one), go on after each reset, and in
 * the end every page must be in the rings and hold what the guest wrote.
 * A page may be in them twice, once per ring-full exit at most: the exit
 * can come between the fault that logged the page and the write that
 * faulted, which the reset re-protects, so the write faults and is
 * logged again (KVM's rings do the same).
 */
static int g64_ring_main(void)
{
	struct g64r_seen seen = { 0 };
	struct eptmmu_run_guest rg;
	struct dring ring = { 0 };
	u64 size = G64R_PAGES * PAGE_SIZE, fulls = 0, p, logged = 0, twice = 0;
	struct g64 g;
	int vm, vcpu, r;
	bool ok = true;
	u8 *mem;

	tap_plan(2);
	devfd = xopen_dev();
	vm = xcreate_vm(devfd);
	mem = xmap(size, PAGE_SIZE);
	seen.count = calloc(G64R_PAGES, sizeof(u64));
	if (!seen.count)
		die("calloc");
	r = enable_dirty_ring(vm, RF_ENTRIES);
	r = r ? r : g64_init(&g, vm, 0);
	r = r ? r : set_memslot(vm, 0, EPTMMU_MEM_LOG_DIRTY_PAGES, G64R_GPA,
				size, mem);
	if (r || !g64_map(&g, G64R_GPA, G64R_GPA, size))
		die("g64 ring: setup: %s", strerror(-r));
	vcpu = xcreate_vcpu(vm);
	if (dring_map(&ring, vcpu, RF_ENTRIES))
		die("mmap of the dirty ring");
	g64_start(&g, &rg, 0, G_PROG_TOUCH, G64R_GPA, G64R_PAGES, 0,
		  G_TOUCH_WRITE | 1);
	for (;;) {
		r = ioctl(vcpu, EPTMMU_RUN_GUEST, &rg) ? -errno : 0;
		if (r == -EOPNOTSUPP) {
			tap_skip("EPTMMU_RUN_GUEST needs a vmx vCPU", "g64 ring: ring-full exits");
			tap_skip("EPTMMU_RUN_GUEST needs a vmx vCPU", "g64 ring: every page logged");
			goto out;
		}
		if (!r && rg.exit_reason == EPTMMU_EXIT_INTR)
			continue;
		if (r || (rg.exit_reason != EPTMMU_EXIT_RING_FULL &&
			  rg.exit_reason != EPTMMU_EXIT_UCALL)) {
			tap_diag("g64 ring: EPTMMU_RUN_GUEST: %s, exit %s gpa %#llx errno %u",
				 strerror(-r), exit_name(rg.exit_reason),
				 rg.exit_gpa, rg.exit_errno);
			ok = false;
			break;
		}
		if (rg.exit_reason == EPTMMU_EXIT_UCALL) {
			ok = rg.regs.rdi == G_UCALL_DONE;
			if (!ok)
				tap_diag("g64 ring: ucall %llu, want DONE", rg.regs.rdi);
			break;
		}
		fulls++;
		dring_collect(&ring, g64r_note, &seen);
		r = reset_dirty_rings(vm);
		if (r < 0) {
			tap_diag("g64 ring: RESET_DIRTY_RINGS: %s", strerror(-r));
			ok = false;
			break;
		}
	}
	dring_collect(&ring, g64r_note, &seen);
	reset_dirty_rings(vm);
	tap_ok(ok && fulls >= G64R_PAGES / RF_SOFT,
	       "g64 ring: the 64-bit guest's run stopped %llu times with RING_FULL (want >= %u) and went on to DONE",
	       fulls, G64R_PAGES / RF_SOFT);
	for (p = 0; p < G64R_PAGES; p++) {
		logged += seen.count[p] >= 1;
		twice += seen.count[p] > 1;
		seen.bad += seen.count[p] > 2;
		if (*(u64 *)(mem + p * PAGE_SIZE) != G_TOUCH_VALUE(p, 1))
			seen.bad++;
	}
	tap_ok(ok && logged == G64R_PAGES && twice <= fulls && !seen.bad &&
	       seen.entries == G64R_PAGES + twice,
	       "g64 ring: %llu entries, %llu of %u pages logged (%llu twice, at most one per ring-full exit), %llu wrong entries or pages",
	       seen.entries, logged, G64R_PAGES, twice, seen.bad);
out:
	dring_unmap(&ring);
	close(vcpu);
	g64_fini(&g);
	close_vm(vm);
	munmap(mem, size);
	free(seen.count);
	close(devfd);
	return tap_done();
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: eptmmu_dirty_log_test [-m MiB] [-v vCPUs] [-i iterations] [-w writes] [-s seed]\n"
		"  -m MiB       memslot size (default %u)\n"
		"  -v N         vCPU threads (default %u)\n"
		"  -i N         harvests per run, at least (default %lu)\n"
		"  -w N         guest writes, at least, over all runs: each run\n"
		"               iterates past -i until it has written its equal\n"
		"               share (default %llu)\n"
		"  -s SEED      random seed (default 0)\n"
		"  -L GiB       only this: a sparsely written slot of GiB, full-range\n"
		"               GET, CLEAR and GET again in each logging mode\n"
		"  -G           only this: a 64-bit guest (EPTMMU_RUN_GUEST, vmx vCPU)\n"
		"               over a dirty ring, through ring-full exits\n"
		"  -r ENTRIES   the runs over dirty rings of ENTRIES per vCPU (a power\n"
		"               of two, %u..%u), then the ring's own cases\n"
		"Output is TAP; exit 0 iff all pass.\n",
		opt.mib, opt.vcpus, opt.iters, opt.writes,
		EPTMMU_DIRTY_RING_MIN_ENTRIES, EPTMMU_DIRTY_RING_MAX_ENTRIES);
}

int main(int argc, char **argv)
{
	struct eptmmu_vm_stats st;
	unsigned int runs = 0, i, big_gib = 0, nmodes = ARRAY_SIZE(modes);
	bool g64_ring = false;
	const struct mode *mt = modes;
	int ntap = RUN_TAP;
	int ch, start, vm;
	bool ept_ad;
	u64 target;

	while ((ch = getopt(argc, argv, "m:v:i:w:s:L:r:Gh")) != -1) {
		switch (ch) {
		case 'm':
			opt.mib = parse_num(optarg, 1, 4096);
			break;
		case 'v':
			opt.vcpus = parse_num(optarg, 1, EPTMMU_MAX_VCPUS);
			break;
		case 'i':
			opt.iters = parse_num(optarg, 1, 1UL << 40);
			break;
		case 'w':
			opt.writes = parse_num(optarg, 0, 1UL << 40);
			break;
		case 's':
			opt.seed = parse_num(optarg, 0, ~0UL);
			break;
		case 'L':
			big_gib = parse_num(optarg, 1, EPTMMU_MAX_MEMSLOT_SIZE >> 30);
			break;
		case 'G':
			g64_ring = true;
			break;
		case 'r':
			opt.ring = parse_num(optarg, EPTMMU_DIRTY_RING_MIN_ENTRIES,
					     EPTMMU_DIRTY_RING_MAX_ENTRIES);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	if (big_gib)
		return big_main(big_gib);
	if (g64_ring)
		return g64_ring_main();

	if (opt.ring) {
		mt = ring_modes;
		nmodes = ARRAY_SIZE(ring_modes);
		ntap = RING_RUN_TAP;
		/* Each section ends with the audit of its VMs: one more line. */
		tap_plan(nmodes * (ntap + 1) + RING_INV_TAP + RING_CASES_TAP + 1);
	} else {
		tap_plan(nmodes * (ntap + 1) + INV_TAP + 1);
	}
	devfd = xopen_dev();
	vm = xcreate_vm(devfd);
	xvm_stats(vm, &st);
	close(vm);
	ept_ad = st.ept_ad == 1;
	vmx = st.backend == EPTMMU_BACKEND_VMX;
	if (vmx)
		gpa_base = GPA_VMX;
	if (vmx && opt.mib > 1024)
		die("-m %u: the vmx vCPU's slots lie between 1 and 4 GiB", opt.mib);
	for (i = 0; i < nmodes; i++)
		runs += ept_ad || !(mt[i].flags & EPTMMU_MEM_DIRTY_LOG_DBIT);
	target = (opt.writes + runs - 1) / runs;
	tap_diag("%s vCPU, EPT A/D %s; %u MiB, %u vCPUs, >= %lu iterations, >= %llu writes per run, seed %llu",
		 vmx ? "vmx" : "soft", ept_ad ? "on" : "off", opt.mib,
		 opt.vcpus, opt.iters, target, opt.seed);

	start = tap_count();
	if (opt.ring) {
		t_ring(ept_ad);
		finish("ring", start, RING_INV_TAP + RING_CASES_TAP);
		audit_step_report("ring");
	} else {
		t_invalid(ept_ad);
		finish("invalid", start, INV_TAP);
		audit_step_report("invalid");
	}

	for (i = 0; i < nmodes; i++) {
		const struct mode *m = &mt[i];
		int c;

		if ((m->flags & EPTMMU_MEM_DIRTY_LOG_DBIT) && !ept_ad) {
			for (c = 0; c < ntap; c++)
				tap_ok(true, "%s: %s # SKIP VM has no EPT A/D",
				       m->name, run_checks[c]);
			tap_skip("VM has no EPT A/D", "%s: MMU audit", m->name);
			continue;
		}
		start = tap_count();
		dl_run(m, i, target);
		finish(m->name, start, ntap);
		audit_step_report(m->name);
	}
	close(devfd);
	return tap_done();
}
