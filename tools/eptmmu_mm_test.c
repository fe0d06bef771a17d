// SPDX-License-Identifier: GPL-2.0
/*
 * eptmmu_mm_test - drive real Linux memory-management paths (page idle
 * tracking, KSM, THP split and collapse, huge leaves back after dirty
 * logging, mprotect, munmap, compaction, soft offline, reclaim of memfd
 * and swapped-in anonymous pages the guest wrote, a poisoned page,
 * memory-cgroup reclaim and DAMON asking whether the guest used a page)
 * under memory a VM has mapped, and check that the guest's view and the
 * process's view of that memory always agree.
 *
 * A check that passes because the kernel path never ran proves nothing,
 * so every test also asserts that the VM's counters (EPTMMU_GET_VM_STATS:
 * invalidations, aging_passes, aged_young, maps_2m) moved.  After an event
 * that may have moved a page, "agree" means both directions with fresh
 * values: the process writes and the guest must read it, then the guest
 * writes and the process must read it.  Reading old data back would not
 * do: a stale mapping to a freed page often still holds the old data.
 *
 * Each test makes its own VM.  Runs as root (pagemap PFNs, page_idle,
 * KSM and compaction knobs); a missing kernel feature makes the lines
 * that need it SKIP.  Output is TAP; exit 0 iff no test failed.
 *
 *   eptmmu_mm_test [-v] [-l] [test...]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib.h"

/* Well above 32-bit space, so a truncated gpa cannot hit a slot. */
#define GPA_BASE	0x100000000ULL
/* A second slot far from the first: no huge leaf can span both. */
#define GPA_FAR		(GPA_BASE + (1ULL << 30))
#define WORDS		(PAGE_SIZE / 8)
#define SEC		1000000000ULL

/* <sys/mman.h> lacks it; the value is the kernel's uapi one. */
#ifndef MADV_HWPOISON
#define MADV_HWPOISON		100
#endif
#ifndef MADV_SOFT_OFFLINE
#define MADV_SOFT_OFFLINE	101
#endif

#define KSM_DIR		"/sys/kernel/mm/ksm/"
#define COMPACT		"/proc/sys/vm/compact_memory"

static bool verbose;
static int devfd;

#define vdiag(...)	do { if (verbose) tap_diag(__VA_ARGS__); } while (0)

/*
 * Why the running test stopped early because a kernel feature is missing:
 * the runner reports its remaining lines as SKIP instead of "not reached".
 */
static char skip_why[200];

static void __printf(1, 2) skip_rest(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(skip_why, sizeof(skip_why), fmt, ap);
	va_end(ap);
}

/* The word of page @page a check with @salt uses: it varies per page. */
static size_t word_of(size_t page, unsigned int salt)
{
	return (page * 37 + salt * 101) % WORDS;
}

static struct eptmmu_access *acc_alloc(size_t n)
{
	struct eptmmu_access *a = calloc(n, sizeof(*a));

	if (!a)
		die("calloc");
	return a;
}

/* ---- files ---- */

static u64 read_u64(const char *path)
{
	char buf[32];

	return read_file(path, buf, sizeof(buf)) ? 0 : strtoull(buf, NULL, 0);
}

/* ---- running accesses ---- */

static void diag_vm_stats(const char *what, const struct eptmmu_vm_stats *s)
{
	tap_diag("%s: maps_4k %llu maps_2m %llu splits %llu zapped %llu flushes %llu invalidations %llu ept_ad %llu aging_passes %llu aged_young %llu",
		 what, s->maps_4k, s->maps_2m, s->splits, s->zapped,
		 s->tlb_flushes, s->invalidations, s->ept_ad, s->aging_passes,
		 s->aged_young);
}

/* ---- a VM with one memslot and one vCPU ---- */

struct fix {
	int vm;
	int vcpu;
	u8 *mem;
	size_t size;
	size_t npages;
	u64 gpa;
};

/*
 * @nohuge before the first touch, or THP=always would back the region
 * with huge pages the test does not want.
 */
static bool fix_init(struct fix *f, size_t size, size_t align, bool nohuge)
{
	int r;

	f->vm = xcreate_vm(devfd);
	f->vcpu = xcreate_vcpu(f->vm);
	f->mem = xmap(size, align);
	f->size = size;
	f->npages = size / PAGE_SIZE;
	f->gpa = GPA_BASE;
	if (nohuge && madvise(f->mem, size, MADV_NOHUGEPAGE))
		tap_diag("MADV_NOHUGEPAGE: %s", strerror(errno));
	r = set_memslot(f->vm, 0, 0, f->gpa, size, f->mem);
	if (r)
		tap_diag("EPTMMU_SET_MEMSLOT slot 0 size %#zx: %s", size,
			 strerror(-r));
	return !r;
}

static void fix_fini(struct fix *f)
{
	close(f->vcpu);
	close_vm(f->vm);
	munmap(f->mem, f->size);
}

static u64 *word_ptr(struct fix *f, size_t page, size_t word)
{
	return (u64 *)(f->mem + page * PAGE_SIZE) + word;
}

static u64 word_gpa(struct fix *f, size_t page, size_t word)
{
	return f->gpa + page * PAGE_SIZE + word * 8;
}

/* The guest writes pat(@tag, page) into word_of(page, @salt) of every page. */
static bool guest_writes(struct fix *f, u64 tag, unsigned int salt,
			 const char *what)
{
	struct eptmmu_access *a = acc_alloc(f->npages);
	size_t i;
	bool ok;

	for (i = 0; i < f->npages; i++)
		a[i] = access_of(EPTMMU_ACCESS_WRITE,
				 word_gpa(f, i, word_of(i, salt)), 8,
				 pat(tag, i));
	ok = run_all(f->vcpu, a, f->npages, NULL, what);
	free(a);
	return ok;
}

/*
 * The guest reads word_of(page, @salt) of every page; each must hold what
 * the process sees there and, unless @want is NULL, @want(page).
 */
static bool guest_sees_process(struct fix *f, unsigned int salt,
			       u64 (*want)(size_t page), const char *what)
{
	struct eptmmu_access *a = acc_alloc(f->npages);
	size_t i, bad = 0;
	bool ok;

	for (i = 0; i < f->npages; i++)
		a[i] = access_of(EPTMMU_ACCESS_READ,
				 word_gpa(f, i, word_of(i, salt)), 8, 0);
	ok = run_all(f->vcpu, a, f->npages, NULL, what);
	for (i = 0; ok && i < f->npages; i++) {
		u64 p = *word_ptr(f, i, word_of(i, salt));
		u64 w = want ? want(i) : p;

		if ((a[i].value != p || a[i].value != w) && bad++ < 3)
			tap_diag("%s: page %zu: guest read %#llx, process holds %#llx, want %#llx",
				 what, i, a[i].value, p, w);
	}
	if (bad)
		tap_diag("%s: %zu of %zu pages differ", what, bad, f->npages);
	free(a);
	return ok && !bad;
}

/*
 * Fresh values both ways on every page: a mapping left pointing at a page
 * the host no longer uses there fails one direction or the other.
 */
static bool agree_both_ways(struct fix *f, u64 tag, const char *what)
{
	struct eptmmu_access *a = acc_alloc(f->npages);
	size_t i, bad = 0;
	bool ok;

	for (i = 0; i < f->npages; i++) {
		*word_ptr(f, i, word_of(i, 1)) = pat(tag, i);
		a[i] = access_of(EPTMMU_ACCESS_READ,
				 word_gpa(f, i, word_of(i, 1)), 8, 0);
	}
	ok = run_all(f->vcpu, a, f->npages, NULL, what);
	for (i = 0; ok && i < f->npages; i++)
		if (a[i].value != pat(tag, i) && bad++ < 3)
			tap_diag("%s: page %zu: process wrote %#llx, guest read %#llx",
				 what, i, pat(tag, i), a[i].value);

	ok = ok && guest_writes(f, tag + 1, 2, what);
	for (i = 0; ok && i < f->npages; i++) {
		u64 v = *word_ptr(f, i, word_of(i, 2));

		if (v != pat(tag + 1, i) && bad++ < 3)
			tap_diag("%s: page %zu: guest wrote %#llx, process reads %#llx",
				 what, i, pat(tag + 1, i), v);
	}
	if (bad)
		tap_diag("%s: %zu mismatches over %zu pages", what, bad,
			 f->npages);
	free(a);
	return ok && !bad;
}

/*
 * Stay on the CPU this thread is on, so the pages it faults wait in that
 * CPU's lru_add batch, which MADV_PAGEOUT drains (lru_add_drain() drains
 * the caller's CPU only) and past which idle marking can push them.
 * False if the affinity cannot be set; @old is for unpin().
 */
static bool pin_here(cpu_set_t *old)
{
	cpu_set_t one;

	if (sched_getaffinity(0, sizeof(*old), old))
		return false;
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	return !sched_setaffinity(0, sizeof(one), &one);
}

static void unpin(bool pinned, cpu_set_t *old)
{
	if (pinned)
		sched_setaffinity(0, sizeof(*old), old);
}

/* ---- 1: idle page tracking ---- */

#define IDLE_PAGES	64

static void t_idle(void)
{
	struct eptmmu_access a[IDLE_PAGES], ev[IDLE_PAGES];
	struct eptmmu_vm_stats s0, s1, s2, s3;
	u64 pfn[IDLE_PAGES], *evmem = NULL;
	struct eptmmu_run r0, r1;
	bool idle[IDLE_PAGES], marked[IDLE_PAGES];
	size_t i, n, n_idle = 0, bad;
	cpu_set_t oldmask;
	bool pinned, ok;
	int fd, r;
	struct fix f;

	fd = open(PAGE_IDLE, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		skip_rest("%s: %s", PAGE_IDLE, strerror(errno));
		return;
	}
	/*
	 * idle_mark() only sees pages on an LRU list, and a freshly faulted
	 * page waits in its CPU's lru_add batch (up to 31 folios) first.
	 * Staying on one CPU and faulting the 64 eviction pages after the
	 * test pages pushes every test page out of that batch.
	 */
	pinned = pin_here(&oldmask);
	if (!fix_init(&f, IDLE_PAGES * PAGE_SIZE, PAGE_SIZE, true))
		goto out_unpin;
	evmem = xmap(IDLE_PAGES * PAGE_SIZE, PAGE_SIZE);
	madvise(evmem, IDLE_PAGES * PAGE_SIZE, MADV_NOHUGEPAGE);
	for (i = 0; i < IDLE_PAGES; i++)
		*word_ptr(&f, i, 0) = pat(30, i);
	for (i = 0; i < IDLE_PAGES; i++)
		evmem[i * WORDS] = pat(31, i);
	r = set_memslot(f.vm, 1, 0, GPA_FAR, IDLE_PAGES * PAGE_SIZE, evmem);
	if (r) {
		tap_diag("EPTMMU_SET_MEMSLOT slot 1: %s", strerror(-r));
		goto out;
	}
	xvm_stats(f.vm, &s0);
	tap_diag("idle: the VM uses %s (stats.ept_ad %llu)",
		 s0.ept_ad ? "EPT A/D bits" : "access tracking (no A/D bits)",
		 s0.ept_ad);

	/* Every page gets a leaf the guest has just made young. */
	for (i = 0; i < IDLE_PAGES; i++)
		a[i] = access_of(EPTMMU_ACCESS_WRITE, word_gpa(&f, i, 1), 8,
				 pat(32, i));
	if (!run_all(f.vcpu, a, IDLE_PAGES, NULL, "guest writes"))
		goto out;

	r = pfns_present(f.mem, IDLE_PAGES, pfn);
	if (r) {
		skip_rest("no PFN in /proc/self/pagemap (%s; not root?)",
			  strerror(-r));
		goto out;
	}

	/*
	 * From here on the process must not touch f.mem: an access through
	 * its own PTE would make a page young whatever the guest did.
	 */
	xvm_stats(f.vm, &s0);
	r = idle_mark(fd, pfn, IDLE_PAGES);
	xvm_stats(f.vm, &s1);
	if (r) {
		skip_rest("writing %s: %s", PAGE_IDLE, strerror(-r));
		goto out;
	}
	memset(marked, 0, sizeof(marked));
	r = idle_read(fd, pfn, IDLE_PAGES, marked);
	for (i = 0; i < IDLE_PAGES; i++)
		n_idle += marked[i];
	if (r || n_idle < IDLE_PAGES) {
		tap_diag("%zu of %d pages read back idle (%s); a page off the LRU cannot be marked",
			 n_idle, IDLE_PAGES, r ? strerror(-r) : "read ok");
		for (i = 0, bad = 0; i < IDLE_PAGES; i++)
			if (!marked[i] && bad++ < 4)
				tap_diag("page %zu pfn %#llx is not idle", i,
					 pfn[i]);
	}
	tap_ok(!r && n_idle == IDLE_PAGES,
	       "idle: all %d guest-written pages read back idle right after marking",
	       IDLE_PAGES);

	ok = s1.aging_passes > s0.aging_passes &&
	     s1.aged_young - s0.aged_young >= IDLE_PAGES;
	if (!ok || verbose) {
		diag_vm_stats("before marking", &s0);
		diag_vm_stats("after marking", &s1);
	}
	tap_ok(ok, "idle: marking ran the aging notifier (aging_passes +%llu) and found the %d written pages young (aged_young +%llu)",
	       s1.aging_passes - s0.aging_passes, IDLE_PAGES,
	       s1.aged_young - s0.aged_young);

	/*
	 * Aging never flushes (R-AGE-NOFLUSH), so the vCPU's TLB may still
	 * hold translations of the even pages from the writes above, and a
	 * read served from it would set no accessed state: the page would
	 * look idle although the guest used it.  User space cannot flush, but
	 * the soft vCPU's TLB has 64 entries, direct-mapped by gfn % 64:
	 * reading 64 consecutive gfns of the other slot replaces every entry,
	 * so each even-page read below must walk EPT, as the first access of
	 * a real CPU after an unrelated workload would.
	 */
	for (i = 0; i < IDLE_PAGES; i++)
		ev[i] = access_of(EPTMMU_ACCESS_READ, GPA_FAR + i * PAGE_SIZE,
				  8, 0);
	if (!run_all(f.vcpu, ev, IDLE_PAGES, &r0, "TLB eviction reads"))
		goto out;
	for (i = 0; i < IDLE_PAGES / 2; i++)
		a[i] = access_of(EPTMMU_ACCESS_READ, word_gpa(&f, 2 * i, 1), 8,
				 0);
	if (!run_all(f.vcpu, a, IDLE_PAGES / 2, &r1, "even page reads"))
		goto out;
	bad = 0;
	for (i = 0; i < IDLE_PAGES / 2; i++)
		if (a[i].value != pat(32, 2 * i) && bad++ < 3)
			tap_diag("even page %zu read %#llx, want %#llx", 2 * i,
				 a[i].value, pat(32, 2 * i));
	/*
	 * A slow fault would clear the idle flag through GUP's
	 * folio_mark_accessed(), hiding broken aging: there must be none.
	 */
	ok = !bad && r1.stats.tlb_hits == r0.stats.tlb_hits &&
	     r1.stats.walks - r0.stats.walks >= IDLE_PAGES / 2 &&
	     r1.stats.slow_faults == r0.stats.slow_faults;
	if (!ok || verbose)
		tap_diag("even reads: tlb_hits +%llu walks +%llu faults +%llu fast_acc +%llu slow +%llu",
			 r1.stats.tlb_hits - r0.stats.tlb_hits,
			 r1.stats.walks - r0.stats.walks,
			 r1.stats.faults - r0.stats.faults,
			 r1.stats.fast_fixed_acc - r0.stats.fast_fixed_acc,
			 r1.stats.slow_faults - r0.stats.slow_faults);
	tap_ok(ok, "idle: the guest's even-page reads see the data and walk EPT (no TLB hit, no slow fault)");

	xvm_stats(f.vm, &s2);
	r = idle_read(fd, pfn, IDLE_PAGES, idle);
	xvm_stats(f.vm, &s3);
	if (r)
		tap_diag("reading %s: %s", PAGE_IDLE, strerror(-r));
	/* Judged only on pages that were idle: the first line failed the rest. */
	for (i = 0, bad = 0, n = 0; !r && i < IDLE_PAGES; i += 2) {
		n += marked[i];
		if (marked[i] && idle[i] && bad++ < 4)
			tap_diag("even page %zu pfn %#llx still idle", i, pfn[i]);
	}
	tap_ok(!r && n && !bad, "idle: pages the guest read are no longer idle (%zu of %zu still idle)",
	       bad, n);
	for (i = 1, bad = 0, n = 0; !r && i < IDLE_PAGES; i += 2) {
		n += marked[i];
		if (marked[i] && !idle[i] && bad++ < 4)
			tap_diag("odd page %zu pfn %#llx not idle", i, pfn[i]);
	}
	tap_ok(!r && n && !bad, "idle: pages neither side touched stay idle (%zu of %zu not idle)",
	       bad, n);

	ok = s3.aging_passes > s2.aging_passes &&
	     s3.aged_young - s2.aged_young >= IDLE_PAGES / 2;
	if (!ok || verbose) {
		diag_vm_stats("before read-back", &s2);
		diag_vm_stats("after read-back", &s3);
	}
	tap_ok(ok, "idle: the read-back aged through the notifier (aging_passes +%llu) and found the %d read pages young (aged_young +%llu)",
	       s3.aging_passes - s2.aging_passes, IDLE_PAGES / 2,
	       s3.aged_young - s2.aged_young);
out:
	munmap(evmem, IDLE_PAGES * PAGE_SIZE);
	fix_fini(&f);
out_unpin:
	unpin(pinned, &oldmask);
	close(fd);
}

/* ---- 2: KSM ---- */

#define KSM_PAGES	(SZ_2M / PAGE_SIZE)
/* The guest maps pages below this before merging; the rest are a control. */
#define KSM_GUEST	448UL
#define KSM_WAIT_NS	(10 * SEC)

/* Pages 2k and 2k + 1 hold the same data, different from any other pair. */
static u64 ksm_word(size_t page, size_t word)
{
	return pat(40, page / 2 * WORDS + word);
}

static void ksm_count(struct fix *f, size_t *guest, size_t *control)
{
	static u64 pfn[KSM_PAGES];
	size_t i;

	*guest = *control = 0;
	if (pfns_of(f->mem, KSM_PAGES, pfn))
		return;
	for (i = 0; i < KSM_PAGES; i += 2)
		if (pfn[i] && pfn[i] == pfn[i + 1])
			(*(i < KSM_GUEST ? guest : control))++;
}

/* First merged guest-mapped pair after pair @after (-1: any), or -1. */
static long ksm_pair(struct fix *f, long after)
{
	u64 pfn[2];
	long k;

	for (k = after + 1; k < (long)KSM_GUEST / 2; k++)
		if (!pfns_of(f->mem + 2 * k * PAGE_SIZE, 2, pfn) && pfn[0] &&
		    pfn[0] == pfn[1])
			return k;
	return -1;
}

static u64 ksm_want(size_t page)
{
	return ksm_word(page, word_of(page, 0));
}

static void t_ksm(void)
{
	char run0[16] = "0", scan0[16] = "100", sleep0[16] = "20";
	struct eptmmu_vm_stats s0, s1, s2, s3;
	size_t i, w, gm = 0, cm = 0;
	struct eptmmu_access *a;
	u64 v, v2, pfn[2], t0;
	long k;
	struct fix f;
	bool ok;
	int r;

	if (access(KSM_DIR "run", F_OK)) {
		skip_rest("no KSM (%s: %s)", KSM_DIR "run", strerror(errno));
		return;
	}
	read_file(KSM_DIR "run", run0, sizeof(run0));
	read_file(KSM_DIR "pages_to_scan", scan0, sizeof(scan0));
	read_file(KSM_DIR "sleep_millisecs", sleep0, sizeof(sleep0));

	if (!fix_init(&f, SZ_2M, SZ_2M, true))
		return;
	for (i = 0; i < KSM_PAGES; i++)
		for (w = 0; w < WORDS; w++)
			*word_ptr(&f, i, w) = ksm_word(i, w);
	a = acc_alloc(KSM_PAGES);
	for (i = 0; i < KSM_GUEST; i++)
		a[i] = access_of(EPTMMU_ACCESS_READ,
				 word_gpa(&f, i, word_of(i, 0)), 8, 0);
	if (!run_all(f.vcpu, a, KSM_GUEST, NULL, "guest reads before merging"))
		goto out;

	xvm_stats(f.vm, &s0);
	if (madvise(f.mem, f.size, MADV_MERGEABLE)) {
		skip_rest("MADV_MERGEABLE: %s", strerror(errno));
		goto out;
	}
	write_file(KSM_DIR "pages_to_scan", "10000");
	write_file(KSM_DIR "sleep_millisecs", "10");
	r = write_file(KSM_DIR "run", "1");
	if (r) {
		skip_rest("starting KSM: %s", strerror(-r));
		goto out_ksm;
	}
	/*
	 * KSM merges a page only after its checksum held still for a full
	 * scan, so expect two or three scans.  The control pairs the guest
	 * never mapped tell "KSM did nothing" from "KSM skipped the pages the
	 * VM maps" (it refuses pages with unexpected references).
	 */
	t0 = now_ns();
	while (now_ns() - t0 < KSM_WAIT_NS) {
		ksm_count(&f, &gm, &cm);
		if (gm == KSM_GUEST / 2 && cm == (KSM_PAGES - KSM_GUEST) / 2)
			break;
		usleep(50000);
	}
	xvm_stats(f.vm, &s1);
	tap_diag("ksm: after %.1f s, %zu of %lu guest-mapped pairs and %zu of %lu control pairs merged; pages_sharing %llu",
		 (now_ns() - t0) / 1e9, gm, KSM_GUEST / 2, cm,
		 (KSM_PAGES - KSM_GUEST) / 2,
		 read_u64(KSM_DIR "pages_sharing"));
	if (!gm && !cm) {
		skip_rest("KSM merged none of the pairs in %llu s",
			  KSM_WAIT_NS / SEC);
		goto out_ksm;
	}
	if (!gm)
		tap_diag("KSM merges pages the VM does not map but none it does: does eptmmu hold page references?");
	tap_ok(gm > 0, "ksm: identical pages the guest maps are merged (%zu of %lu pairs)",
	       gm, KSM_GUEST / 2);
	if (!gm) {
		skip_rest("no merged guest-mapped pair");
		goto out_ksm;
	}

	ok = s1.invalidations > s0.invalidations;
	if (!ok || verbose) {
		diag_vm_stats("before merging", &s0);
		diag_vm_stats("after merging", &s1);
	}
	tap_ok(ok, "ksm: merging invalidated the guest's mappings (invalidations +%llu)",
	       s1.invalidations - s0.invalidations);

	tap_ok(guest_sees_process(&f, 0, ksm_want, "reads after merging"),
	       "ksm: guest reads of every page see its data after merging");

	/*
	 * The guest breaks COW: its write must get a page of its own.  The
	 * merged page is mapped without host-writable, so the write must be
	 * a slow fault (GUP for write breaks COW); a fast-path fix would let
	 * the guest write into the page KSM shares.
	 */
	k = ksm_pair(&f, -1);
	v = pat(41, 0);
	ok = k >= 0;
	if (ok) {
		struct eptmmu_access a = access_of(EPTMMU_ACCESS_READ,
						   word_gpa(&f, 2 * k, 3), 8, 0);
		struct eptmmu_run before, after;

		ok = run_all(f.vcpu, &a, 1, &before, "read merged");
		a = access_of(EPTMMU_ACCESS_WRITE, word_gpa(&f, 2 * k, 3), 8, v);
		ok = ok && run_all(f.vcpu, &a, 1, &after, "write merged");
		if (ok && (after.stats.fast_fixed_wp != before.stats.fast_fixed_wp ||
			   after.stats.slow_faults <= before.stats.slow_faults)) {
			tap_diag("ksm: the COW-breaking write took fast_wp +%llu, slow +%llu (want 0 and >= 1)",
				 after.stats.fast_fixed_wp - before.stats.fast_fixed_wp,
				 after.stats.slow_faults - before.stats.slow_faults);
			ok = false;
		}
		ok = ok && g_read(f.vcpu, word_gpa(&f, 2 * k + 1, 3), 8, &v2);
	}
	if (ok) {
		pfns_of(f.mem + 2 * k * PAGE_SIZE, 2, pfn);
		if (*word_ptr(&f, 2 * k, 3) != v ||
		    *word_ptr(&f, 2 * k + 1, 3) != ksm_word(2 * k + 1, 3) ||
		    v2 != ksm_word(2 * k + 1, 3) || pfn[0] == pfn[1] ||
		    *word_ptr(&f, 2 * k, 4) != ksm_word(2 * k, 4)) {
			tap_diag("pair %ld: process sees %#llx (want %#llx), sibling %#llx, guest reads sibling %#llx (want %#llx), pfns %#llx %#llx",
				 k, *word_ptr(&f, 2 * k, 3), v,
				 *word_ptr(&f, 2 * k + 1, 3), v2,
				 ksm_word(2 * k + 1, 3), pfn[0], pfn[1]);
			ok = false;
		}
	}
	tap_ok(ok, "ksm: a guest write to a merged page takes the slow path and lands in the process's copy only, the sibling keeps its data");

	/* The process breaks COW under a guest that has the KSM page in its TLB. */
	k = ksm_pair(&f, k);
	if (k < 0) {
		tap_skip("only one pair was merged", "ksm: a process write to a merged page reaches the guest");
		goto out_ksm;
	}
	ok = g_read(f.vcpu, word_gpa(&f, 2 * k, 4), 8, &v2) &&
	     g_read(f.vcpu, word_gpa(&f, 2 * k + 1, 4), 8, &v2);
	xvm_stats(f.vm, &s2);
	v = pat(41, 1);
	*word_ptr(&f, 2 * k, 4) = v;
	xvm_stats(f.vm, &s3);
	ok = ok && g_read(f.vcpu, word_gpa(&f, 2 * k, 4), 8, &v2);
	if (ok && v2 != v) {
		tap_diag("pair %ld: the process wrote %#llx, the guest reads %#llx",
			 k, v, v2);
		ok = false;
	}
	ok = ok && g_read(f.vcpu, word_gpa(&f, 2 * k + 1, 4), 8, &v2);
	if (ok && (v2 != ksm_word(2 * k + 1, 4) ||
		   *word_ptr(&f, 2 * k + 1, 4) != v2)) {
		tap_diag("pair %ld: the sibling reads %#llx in the guest, %#llx in the process, want %#llx",
			 k, v2, *word_ptr(&f, 2 * k + 1, 4),
			 ksm_word(2 * k + 1, 4));
		ok = false;
	}
	if (ok && s3.invalidations == s2.invalidations) {
		tap_diag("the process's COW break did not invalidate");
		ok = false;
	}
	tap_ok(ok, "ksm: a process write to a merged page reaches the guest, the sibling keeps its data");
out_ksm:
	/* Unmerge and stop, then put back what the system had. */
	fix_fini(&f);
	f.mem = NULL;
	write_file(KSM_DIR "run", "2");
	if (strcmp(run0, "0"))
		write_file(KSM_DIR "run", run0);
	write_file(KSM_DIR "pages_to_scan", scan0);
	write_file(KSM_DIR "sleep_millisecs", sleep0);
out:
	free(a);
	if (f.mem)
		fix_fini(&f);
}

/* ---- 3: THP split and collapse ---- */

#define THP_SIZE	(2 * SZ_2M)
/* Pages in the middle of the first and of the second huge page. */
#define THP_HOLE	300
#define THP_PROT	700

static u64 thp_want(size_t page)
{
	return page == THP_HOLE ? 0 : pat(50, page);
}

static void t_thp(void)
{
	struct eptmmu_vm_stats s0, s1, s2, s3, split;
	int thp, r = 0, tries;
	bool ok, early;
	size_t w, bad;
	struct fix f;
	u64 v;

	if (!fix_init(&f, THP_SIZE, SZ_2M, false))
		return;
	/* THP=always does not need it; THP=madvise does. */
	madvise(f.mem, f.size, MADV_HUGEPAGE);
	xvm_stats(f.vm, &s0);
	if (!guest_writes(&f, 50, 0, "guest writes"))
		goto out;
	xvm_stats(f.vm, &s1);
	thp = host_thp(f.mem);
	tap_diag("thp: host THP at the region: %s; maps_2m +%llu maps_4k +%llu",
		 thp > 0 ? "yes" : thp == 0 ? "no" : strerror(-thp),
		 s1.maps_2m - s0.maps_2m, s1.maps_4k - s0.maps_4k);
	if (s1.maps_2m > s0.maps_2m)
		tap_ok(true, "thp: guest writes to THP-backed memory install 2M leaves");
	else if (thp > 0)
		tap_ok(false, "thp: guest writes to THP-backed memory install 2M leaves");
	else
		tap_skip(thp ? "host THP state unknown and no 2M leaf" :
			 "the host did not back the region with a THP",
			 "thp: guest writes to THP-backed memory install 2M leaves");

	/* Both split the huge PMD under a 2M leaf (if there is one). */
	xvm_stats(f.vm, &s2);
	if (madvise(f.mem + THP_HOLE * PAGE_SIZE, PAGE_SIZE, MADV_DONTNEED) ||
	    mprotect(f.mem + THP_PROT * PAGE_SIZE, PAGE_SIZE, PROT_READ) ||
	    mprotect(f.mem + THP_PROT * PAGE_SIZE, PAGE_SIZE,
		     PROT_READ | PROT_WRITE))
		die("split");
	xvm_stats(f.vm, &s3);
	ok = s3.invalidations - s2.invalidations >= 2;
	if (!ok || verbose) {
		diag_vm_stats("before split", &s2);
		diag_vm_stats("after split", &s3);
	}
	tap_ok(ok, "thp: MADV_DONTNEED and mprotect of one 4K page each invalidate (invalidations +%llu)",
	       s3.invalidations - s2.invalidations);

	ok = guest_sees_process(&f, 0, thp_want, "reads after split");
	for (w = 0, bad = 0; w < WORDS; w++)
		if (*word_ptr(&f, THP_HOLE, w))
			bad++;
	for (w = 0; ok && w < WORDS; w += 73) {
		ok = g_read(f.vcpu, word_gpa(&f, THP_HOLE, w), 8, &v);
		if (ok && v)
			bad++;
	}
	if (bad)
		tap_diag("the MADV_DONTNEED page has %zu non-zero words", bad);
	tap_ok(ok && !bad, "thp: after the split every page reads right in the guest, the MADV_DONTNEED page as zero on both sides");

	tap_ok(agree_both_ways(&f, 51, "after split"),
	       "thp: after the split fresh writes on either side reach the other on every page");

	split = s3;
	xvm_stats(f.vm, &s2);
	for (tries = 0; tries < 3; tries++) {
		r = madvise(f.mem, f.size, MADV_COLLAPSE) ? errno : 0;
		if (r != EAGAIN)
			break;
		usleep(100000);
	}
	xvm_stats(f.vm, &s3);
	if (r) {
		skip_rest("MADV_COLLAPSE: %s", strerror(r));
		goto out;
	}
	thp = host_thp(f.mem);
	ok = s3.invalidations > s2.invalidations;
	/*
	 * khugepaged may have collapsed the range first, between the split
	 * and here (seen once, ept_ad=off, where the accesses after the split
	 * take longer): then MADV_COLLAPSE finds a huge PMD and has nothing
	 * to do, and the guest's accesses since the split mapped 2M leaves
	 * again, which only a huge host PMD allows.  Its collapse must have
	 * invalidated, as ours would.
	 */
	early = !ok && s2.maps_2m > split.maps_2m;
	if (early) {
		ok = s2.invalidations > split.invalidations;
		tap_diag("thp: khugepaged collapsed first: invalidations +%llu, maps_2m +%llu",
			 s2.invalidations - split.invalidations,
			 s2.maps_2m - split.maps_2m);
	}
	if (!ok || verbose) {
		diag_vm_stats("after split", &split);
		diag_vm_stats("before collapse", &s2);
		diag_vm_stats("after collapse", &s3);
	}
	tap_ok(ok, "thp: MADV_COLLAPSE invalidates (invalidations +%llu%s, host THP %s)",
	       early ? s2.invalidations - split.invalidations :
		       s3.invalidations - s2.invalidations,
	       early ? " by khugepaged's collapse" : "",
	       thp > 0 ? "yes" : thp == 0 ? "no" : "unknown");

	xvm_stats(f.vm, &s2);
	ok = guest_sees_process(&f, 2, NULL, "reads after collapse") &&
	     agree_both_ways(&f, 53, "after collapse");
	xvm_stats(f.vm, &s3);
	tap_diag("thp: after collapse the guest's accesses installed maps_2m +%llu maps_4k +%llu",
		 s3.maps_2m - s2.maps_2m, s3.maps_4k - s2.maps_4k);
	tap_ok(ok, "thp: after MADV_COLLAPSE guest and process agree on every page, both ways");
out:
	fix_fini(&f);
}

/* ---- 3b: dirty-log stop brings the huge leaves back ---- */

#define LS_CHUNKS	4
#define LS_SIZE		(LS_CHUNKS * SZ_2M)

/* The levels of the leaves at the first, a middle and the last page of @chunk. */
static bool ls_levels(struct fix *f, int chunk, int want, const char *what)
{
	static const size_t at[] = { 0, 301, 511 };
	struct eptmmu_spte sp;
	bool ok = true;
	size_t i;
	int l;

	for (i = 0; i < ARRAY_SIZE(at); i++) {
		l = get_spte(f->vm, f->gpa + chunk * SZ_2M + at[i] * PAGE_SIZE,
			     &sp);
		if (l != want) {
			tap_diag("%s: 2M range %d page %zu: leaf level %d, want %d",
				 what, chunk, at[i], l, want);
			ok = false;
		}
	}
	return ok;
}

/*
 * Four 2M ranges, the host backing the even ones with THPs and the odd
 * ones with small pages (MADV_NOHUGEPAGE before the first touch).  Dirty
 * logging splits the huge leaves; stopping it must zap the 4K leaves of
 * the even ranges, which the next accesses map huge again, and keep those
 * of the odd ones: a scan of the host's tables that reads the wrong PMD,
 * ends a run early or runs one on would zap too little or too much.
 */
static void t_logstop(void)
{
	bool huge[LS_CHUNKS], ok;
	struct eptmmu_spte sp;
	struct fix f;
	int c, r;

	if (!fix_init(&f, LS_SIZE, SZ_2M, false))
		return;
	for (c = 0; c < LS_CHUNKS; c++)
		madvise(f.mem + c * SZ_2M, SZ_2M,
			c % 2 ? MADV_NOHUGEPAGE : MADV_HUGEPAGE);
	if (!guest_writes(&f, 60, 0, "logstop: first writes"))
		goto out;
	for (c = 0; c < LS_CHUNKS; c++)
		huge[c] = get_spte(f.vm, f.gpa + c * SZ_2M, &sp) == 2;
	if (!huge[0] || !huge[2] || huge[1] || huge[3]) {
		skip_rest("the host backed the 2M ranges huge/small as %d%d%d%d, not 1010",
			  huge[0], huge[1], huge[2], huge[3]);
		goto out;
	}
	r = set_memslot(f.vm, 0, EPTMMU_MEM_LOG_DIRTY_PAGES, f.gpa, f.size,
			f.mem);
	ok = !r && guest_writes(&f, 61, 1, "logstop: writes while logging");
	for (c = 0; ok && c < LS_CHUNKS; c++)
		ok = ls_levels(&f, c, 1, "logging");
	tap_ok(ok, "logstop: logging splits the 2M leaves, every range maps 4K");

	r = set_memslot(f.vm, 0, 0, f.gpa, f.size, f.mem);
	ok = !r;
	for (c = 0; ok && c < LS_CHUNKS; c++)
		ok = ls_levels(&f, c, c % 2 ? 1 : 0, "after stop");
	tap_ok(ok, "logstop: stopping zaps the 4K leaves where the host maps huge, only there");

	ok = guest_writes(&f, 62, 2, "logstop: writes after stop");
	for (c = 0; ok && c < LS_CHUNKS; c++)
		ok = ls_levels(&f, c, c % 2 ? 1 : 2, "after stop, rewritten");
	tap_ok(ok && agree_both_ways(&f, 63, "after stop"),
	       "logstop: the next writes map those ranges huge again, the others stay 4K, guest and process agree");
out:
	fix_fini(&f);
}

/* ---- 4: mprotect read-only ---- */

static void t_mprotect(void)
{
	struct eptmmu_vm_stats s0, s1;
	struct eptmmu_access b;
	struct eptmmu_run run;
	u8 *p;
	u64 v, gpa;
	struct fix f;
	bool ok;
	int r;

	if (!fix_init(&f, 16 * PAGE_SIZE, PAGE_SIZE, true))
		return;
	p = f.mem + 3 * PAGE_SIZE;
	gpa = word_gpa(&f, 3, 5);
	/* A writable leaf and TLB entry, for mprotect to revoke. */
	if (!g_write(f.vcpu, gpa, 8, pat(60, 0)) ||
	    *word_ptr(&f, 3, 5) != pat(60, 0))
		goto out;
	xvm_stats(f.vm, &s0);
	if (mprotect(p, PAGE_SIZE, PROT_READ))
		die("mprotect");
	xvm_stats(f.vm, &s1);
	ok = s1.invalidations > s0.invalidations;
	if (!ok)
		diag_vm_stats("after mprotect", &s1);
	tap_ok(ok, "mprotect: PROT_READ invalidates (invalidations +%llu)",
	       s1.invalidations - s0.invalidations);

	ok = g_read(f.vcpu, gpa, 8, &v) && v == pat(60, 0);
	tap_ok(ok, "mprotect: guest reads of the PROT_READ page still work");

	b = access_of(EPTMMU_ACCESS_WRITE, gpa, 8, pat(60, 1));
	r = run_vcpu(f.vcpu, &b, 1, &run);
	ok = !r && run.exit_reason == EPTMMU_EXIT_FAULT && run.done == 0 &&
	     run.exit_errno == EACCES && run.exit_gpa == gpa;
	if (!ok)
		diag_run("write to PROT_READ page", r, &run);
	if (*word_ptr(&f, 3, 5) != pat(60, 0)) {
		tap_diag("the refused write changed the page to %#llx",
			 *word_ptr(&f, 3, 5));
		ok = false;
	}
	tap_ok(ok, "mprotect: a guest write to the PROT_READ page exits FAULT with EACCES and changes nothing");

	if (mprotect(p, PAGE_SIZE, PROT_READ | PROT_WRITE))
		die("mprotect");
	ok = g_write(f.vcpu, gpa, 8, pat(60, 2)) &&
	     *word_ptr(&f, 3, 5) == pat(60, 2) &&
	     g_read(f.vcpu, gpa, 8, &v) && v == pat(60, 2);
	tap_ok(ok, "mprotect: after mprotect back to read-write guest writes land and the process sees them");
out:
	fix_fini(&f);
}

/* ---- 5: munmap and mmap MAP_FIXED under a running vCPU ---- */

#define REMAP_PAGES	16
#define REMAP_PAGE	5
#define REMAP_ROUNDS	20
#define REMAP_READS	64

/* Word @w of the swapped page in round @r; round 0 is the original page. */
static u64 remap_val(u64 r, u64 w)
{
	return 0x5EED000000000000ULL | r << 16 | w;
}

struct remap_ctx {
	int vcpu;
	u64 gpa;
	/* Odd while the main thread is swapping; round = seq / 2. */
	atomic_uint seq;
	atomic_bool stop;
	/* Runs wholly inside a round, which must see only that round's page. */
	atomic_int clean[REMAP_ROUNDS + 1];
	unsigned long runs, efaults;
	atomic_ulong bad;
	char why[4][160];
};

static void remap_bad(struct remap_ctx *c, const char *fmt, ...) __printf(2, 3);
static void remap_bad(struct remap_ctx *c, const char *fmt, ...)
{
	unsigned long n = atomic_fetch_add(&c->bad, 1);
	va_list ap;

	if (n < ARRAY_SIZE(c->why)) {
		va_start(ap, fmt);
		vsnprintf(c->why[n], sizeof(c->why[0]), fmt, ap);
		va_end(ap);
	}
}

/*
 * Reads the swapped page (and its two neighbours, which never change) in
 * a loop.  A run that started in round r may see round r or a later one
 * it overlapped, never an older one, and may hit the hole (EFAULT) only
 * if a swap overlapped it.  Seeing an older round after munmap returned
 * means the invalidation's flush did not reach this vCPU (R-FLUSH-SYNC).
 */
static void *remap_thread(void *arg)
{
	struct eptmmu_access a[REMAP_READS + 2];
	struct remap_ctx *c = arg;
	struct eptmmu_run run;
	unsigned int s0, s1;
	u32 i;
	int r;

	while (!atomic_load(&c->stop) && atomic_load(&c->bad) < 100) {
		for (i = 0; i < REMAP_READS; i++)
			a[i] = access_of(EPTMMU_ACCESS_READ,
					 c->gpa + REMAP_PAGE * PAGE_SIZE + i * 8,
					 8, 0);
		a[i++] = access_of(EPTMMU_ACCESS_READ,
				   c->gpa + (REMAP_PAGE - 1) * PAGE_SIZE, 8, 0);
		a[i++] = access_of(EPTMMU_ACCESS_READ,
				   c->gpa + (REMAP_PAGE + 1) * PAGE_SIZE, 8, 0);
		s0 = atomic_load(&c->seq);
		r = run_vcpu(c->vcpu, a, ARRAY_SIZE(a), &run);
		s1 = atomic_load(&c->seq);
		c->runs++;
		if (r) {
			remap_bad(c, "EPTMMU_RUN: %s", strerror(-r));
			continue;
		}
		if (run.exit_reason == EPTMMU_EXIT_FAULT &&
		    run.exit_errno == EFAULT && (s0 != s1 || s0 & 1) &&
		    run.exit_gpa >> 12 == (c->gpa >> 12) + REMAP_PAGE) {
			c->efaults++;
		} else if (run.exit_reason != EPTMMU_EXIT_DONE) {
			remap_bad(c, "run in seq %u..%u: done %u exit %s gpa %#llx errno %u",
				  s0, s1, run.done,
				  exit_name(run.exit_reason), run.exit_gpa,
				  run.exit_errno);
		}
		for (i = 0; i < run.done && i < REMAP_READS; i++) {
			u64 v = a[i].value, round = v >> 16 & 0xffffffff;

			if (v != remap_val(round, i) || round < s0 / 2 ||
			    round > (s1 + 1) / 2)
				remap_bad(c, "run in seq %u..%u read %#llx at word %u, want rounds %u..%u",
					  s0, s1, v, i, s0 / 2, (s1 + 1) / 2);
		}
		for (; i < run.done; i++) {
			u64 page = REMAP_PAGE - 1 + 2 * (i - REMAP_READS);

			if (a[i].value != pat(70, page))
				remap_bad(c, "neighbour page %llu read %#llx",
					  page, a[i].value);
		}
		if (s0 == s1 && !(s0 & 1) && run.exit_reason == EPTMMU_EXIT_DONE)
			atomic_fetch_add(&c->clean[s0 / 2], 1);
	}
	return NULL;
}

/* Wait until the thread has finished @n clean runs in round @r. */
static bool remap_wait(struct remap_ctx *c, int r, int n)
{
	u64 t0 = now_ns();

	while (atomic_load(&c->clean[r]) < n) {
		if (atomic_load(&c->bad) || now_ns() - t0 > 5 * SEC)
			return false;
		usleep(200);
	}
	return true;
}

static void t_remap(void)
{
	struct eptmmu_vm_stats s0, s1;
	struct remap_ctx *c;
	unsigned long bad;
	u64 buf[WORDS];
	pthread_t th;
	struct fix f;
	int mfd, r;
	size_t i, w;
	bool ok, late = true;
	u8 *p;

	if (!fix_init(&f, REMAP_PAGES * PAGE_SIZE, PAGE_SIZE, true))
		return;
	c = calloc(1, sizeof(*c));
	if (!c)
		die("calloc");
	/*
	 * Each new page is a memfd page written beforehand: a fresh anonymous
	 * page would read as zero until the process filled it, a value the
	 * guest may legitimately see but the check could not tell from a bug.
	 */
	mfd = memfd_create("eptmmu_mm_test", MFD_CLOEXEC);
	if (mfd < 0 || ftruncate(mfd, REMAP_ROUNDS * PAGE_SIZE))
		die("memfd");
	for (r = 1; r <= REMAP_ROUNDS; r++) {
		for (w = 0; w < WORDS; w++)
			buf[w] = remap_val(r, w);
		if (pwrite(mfd, buf, PAGE_SIZE, (r - 1) * PAGE_SIZE) != PAGE_SIZE)
			die("pwrite memfd");
	}
	for (i = 0; i < REMAP_PAGES; i++)
		for (w = 0; w < WORDS; w++)
			*word_ptr(&f, i, w) = i == REMAP_PAGE ? remap_val(0, w) :
					      pat(70, i);
	p = f.mem + REMAP_PAGE * PAGE_SIZE;
	c->vcpu = f.vcpu;
	c->gpa = f.gpa;
	xvm_stats(f.vm, &s0);
	if (pthread_create(&th, NULL, remap_thread, c))
		die("pthread_create");
	for (r = 1; r <= REMAP_ROUNDS; r++) {
		/* The vCPU has the old page mapped and cached. */
		if (!remap_wait(c, r - 1, 1)) {
			late = false;
			break;
		}
		atomic_fetch_add(&c->seq, 1);
		if (munmap(p, PAGE_SIZE))
			die("munmap");
		if (mmap(p, PAGE_SIZE, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED, mfd, (r - 1) * PAGE_SIZE) != p)
			die("mmap MAP_FIXED");
		atomic_fetch_add(&c->seq, 1);
	}
	late = late && remap_wait(c, REMAP_ROUNDS, 2);
	atomic_store(&c->stop, true);
	pthread_join(th, NULL);
	xvm_stats(f.vm, &s1);

	tap_diag("remap: %d swaps, %lu vCPU runs, %lu overlapped a swap and hit the hole",
		 r - 1, c->runs, c->efaults);
	bad = atomic_load(&c->bad);
	for (i = 0; i < bad && i < ARRAY_SIZE(c->why); i++)
		tap_diag("%s", c->why[i]);
	tap_ok(!bad, "remap: the vCPU only ever read the old or the new page (%lu bad values)",
	       bad);

	ok = late && !bad;
	if (!late)
		tap_diag("the vCPU finished no clean run within 5 s in round %d",
			 r <= REMAP_ROUNDS ? r - 1 : REMAP_ROUNDS);
	tap_ok(ok, "remap: every run started after a swap saw only the new page");

	ok = s1.invalidations - s0.invalidations >= (u64)r - 1;
	if (!ok || verbose) {
		diag_vm_stats("before", &s0);
		diag_vm_stats("after", &s1);
	}
	tap_ok(ok, "remap: each munmap invalidated (invalidations +%llu for %d munmaps)",
	       s1.invalidations - s0.invalidations, r - 1);
	close(mfd);
	free(c);
	fix_fini(&f);
}

/* ---- 6: compaction ---- */

#define COMPACT_SIZE	(16 * SZ_1M)
#define COMPACT_PAGES	(COMPACT_SIZE / PAGE_SIZE)

static u64 compact_want(size_t page)
{
	return pat(80, page);
}

static void t_compaction(void)
{
	static u64 pfn0[COMPACT_PAGES], pfn1[COMPACT_PAGES];
	static u64 cpfn0[COMPACT_PAGES], cpfn1[COMPACT_PAGES];
	struct eptmmu_vm_stats s0, s1;
	size_t i, moved = 0, cmoved = 0;
	u8 *ctl, *hole;
	struct fix f;
	bool ok;
	u64 t0;
	int r;

	if (access(COMPACT, W_OK)) {
		skip_rest("%s: %s", COMPACT, strerror(errno));
		return;
	}
	if (!fix_init(&f, COMPACT_SIZE, PAGE_SIZE, true))
		return;
	ctl = xmap(COMPACT_SIZE, PAGE_SIZE);
	hole = xmap(COMPACT_SIZE, PAGE_SIZE);
	madvise(ctl, COMPACT_SIZE, MADV_NOHUGEPAGE);
	madvise(hole, COMPACT_SIZE, MADV_NOHUGEPAGE);
	/*
	 * Interleave the guest's pages with control pages and with pages
	 * freed again, so the guest's pages sit among holes that compaction
	 * wants to fill.  The control pages, never mapped by the guest, tell
	 * "compaction moved nothing here" from "it could not move the pages
	 * the VM maps".
	 */
	for (i = 0; i < COMPACT_PAGES; i++) {
		*word_ptr(&f, i, 0) = 1;
		ctl[i * PAGE_SIZE] = 1;
		hole[i * PAGE_SIZE] = 1;
	}
	munmap(hole, COMPACT_SIZE);
	if (!guest_writes(&f, 80, 0, "guest writes"))
		goto out;
	if (pfns_of(f.mem, COMPACT_PAGES, pfn0) ||
	    pfns_of(ctl, COMPACT_PAGES, cpfn0) || !pfn0[0]) {
		skip_rest("no PFN in /proc/self/pagemap (not root?)");
		goto out;
	}
	xvm_stats(f.vm, &s0);
	t0 = now_ns();
	r = write_file(COMPACT, "1");
	xvm_stats(f.vm, &s1);
	if (r) {
		skip_rest("writing %s: %s", COMPACT, strerror(-r));
		goto out;
	}
	pfns_of(f.mem, COMPACT_PAGES, pfn1);
	pfns_of(ctl, COMPACT_PAGES, cpfn1);
	for (i = 0; i < COMPACT_PAGES; i++) {
		moved += pfn0[i] != pfn1[i];
		cmoved += cpfn0[i] != cpfn1[i];
	}
	tap_diag("compaction: %.1f s; %zu of %lu guest-mapped pages and %zu of %lu control pages moved",
		 (now_ns() - t0) / 1e9, moved, COMPACT_PAGES, cmoved,
		 COMPACT_PAGES);
	/*
	 * Compaction moves only what lies below where its scanners meet:
	 * a handful of control pages moved and none of the guest's says
	 * nothing (MADV_SOFT_OFFLINE's test moves chosen ones for sure).
	 */
	if (!moved && cmoved < COMPACT_PAGES / 16) {
		tap_skip("compaction moved too little to tell",
			 "compaction: migrated guest-mapped pages were invalidated");
	} else {
		ok = moved && s1.invalidations > s0.invalidations;
		if (!moved)
			tap_diag("compaction moved control pages but no page the VM maps: does eptmmu hold page references?");
		if (!ok || verbose) {
			diag_vm_stats("before compaction", &s0);
			diag_vm_stats("after compaction", &s1);
		}
		tap_ok(ok, "compaction: migrated guest-mapped pages were invalidated (%zu moved, invalidations +%llu)",
		       moved, s1.invalidations - s0.invalidations);
	}

	tap_ok(guest_sees_process(&f, 0, compact_want, "reads after compaction"),
	       "compaction: guest reads of every page see the data it wrote");
	tap_ok(agree_both_ways(&f, 81, "after compaction"),
	       "compaction: fresh writes on either side reach the other on every page");
out:
	munmap(ctl, COMPACT_SIZE);
	fix_fini(&f);
}

/* ---- 7: soft offline: chosen pages migrate ---- */

#define SO_PAGES	16

static u64 so_want(size_t page)
{
	return pat(85, page);
}

/*
 * Without CONFIG_MIGRATION, MADV_SOFT_OFFLINE fails with EBUSY, as it does
 * when a page cannot move because someone holds it: tell the two apart by
 * the migration counters, which /proc/vmstat has only with migration.
 */
static bool kernel_migrates(void)
{
	static const char key[] = "pgmigrate_success ";
	FILE *vmstat = fopen("/proc/vmstat", "re");
	bool found = false;
	char line[128];

	if (!vmstat)
		return true;	/* cannot tell: let the test judge */
	while (!found && fgets(line, sizeof(line), vmstat))
		found = !strncmp(line, key, sizeof(key) - 1);
	fclose(vmstat);
	return found;
}

/*
 * Compaction moves whatever it finds, often nothing the test owns;
 * MADV_SOFT_OFFLINE migrates exactly the pages it is given (and retires
 * the old frames), so this migration under the guest always happens.
 */
static void t_soft_offline(void)
{
	u64 pfn0[SO_PAGES], pfn1[SO_PAGES];
	struct eptmmu_vm_stats s0, s1;
	size_t i, moved = 0, stray = 0;
	struct fix f;
	bool ok;

	if (!kernel_migrates()) {
		skip_rest("no CONFIG_MIGRATION (/proc/vmstat has no pgmigrate_* counters)");
		return;
	}
	if (!fix_init(&f, SO_PAGES * PAGE_SIZE, PAGE_SIZE, true))
		return;
	if (!guest_writes(&f, 85, 0, "guest writes"))
		goto out;
	if (pfns_present(f.mem, SO_PAGES, pfn0)) {
		skip_rest("no PFN in /proc/self/pagemap (not root?)");
		goto out;
	}
	xvm_stats(f.vm, &s0);
	/* The even pages; the odd ones show nothing else moved. */
	for (i = 0; i < SO_PAGES; i += 2) {
		if (!madvise(f.mem + i * PAGE_SIZE, PAGE_SIZE,
			     MADV_SOFT_OFFLINE))
			continue;
		if (errno == EINVAL || errno == EPERM) {
			skip_rest("MADV_SOFT_OFFLINE: %s (needs CONFIG_MEMORY_FAILURE and CAP_SYS_ADMIN)",
				  strerror(errno));
			goto out;
		}
		tap_diag("MADV_SOFT_OFFLINE of page %zu: %s", i,
			 strerror(errno));
	}
	xvm_stats(f.vm, &s1);
	if (pfns_present(f.mem, SO_PAGES, pfn1))
		tap_diag("a page is missing from pagemap after soft offline");
	for (i = 0; i < SO_PAGES; i++) {
		if (i % 2)
			stray += pfn0[i] != pfn1[i];
		else
			moved += pfn0[i] != pfn1[i];
	}
	ok = moved == SO_PAGES / 2 && !stray &&
	     s1.invalidations - s0.invalidations >= SO_PAGES / 2;
	if (!ok || verbose) {
		tap_diag("soft offline: %zu of %d chosen pages moved, %zu others",
			 moved, SO_PAGES / 2, stray);
		diag_vm_stats("before soft offline", &s0);
		diag_vm_stats("after soft offline", &s1);
	}
	tap_ok(ok, "soft_offline: the %d chosen guest-mapped pages migrated (%zu), no other did, each was invalidated (invalidations +%llu)",
	       SO_PAGES / 2, moved, s1.invalidations - s0.invalidations);
	tap_ok(guest_sees_process(&f, 0, so_want, "reads after soft offline"),
	       "soft_offline: guest reads of every page see the data it wrote");
	tap_ok(agree_both_ways(&f, 86, "after soft offline"),
	       "soft_offline: fresh writes on either side reach the other on every page");
out:
	fix_fini(&f);
}

/* ---- 8: guest writes the host never saw survive reclaim ---- */

#define HD_PAGES	16

/*
 * A memfd mapped shared, as VMMs back guest RAM.  The guest reads every
 * page first, so the host PTEs are writable but clean and the leaves
 * writable; then it writes through EPT only.  MADV_PAGEOUT unmaps the
 * pages (the notifier zaps) and drops whatever looks clean: the pattern
 * must still be in the file (R-HOST-DIRTY).
 */
static void t_host_dirty(void)
{
	struct eptmmu_vm_stats s0, s1;
	size_t i, bad = 0, notw = 0;
	struct eptmmu_spte sp;
	struct fix f = { .size = HD_PAGES * PAGE_SIZE, .npages = HD_PAGES,
			 .gpa = GPA_BASE };
	int mfd, r;
	bool ok;

	mfd = memfd_create("eptmmu-host-dirty", 0);
	if (mfd < 0 || ftruncate(mfd, f.size))
		die("memfd");
	f.mem = mmap(NULL, f.size, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (f.mem == MAP_FAILED)
		die("mmap memfd");
	f.vm = xcreate_vm(devfd);
	f.vcpu = xcreate_vcpu(f.vm);
	r = set_memslot(f.vm, 0, 0, f.gpa, f.size, f.mem);
	if (r) {
		tap_diag("EPTMMU_SET_MEMSLOT over a memfd: %s", strerror(-r));
		goto out;
	}
	if (!guest_sees_process(&f, 0, NULL, "first reads"))
		goto out;
	for (i = 0; i < HD_PAGES; i++)
		if (get_spte(f.vm, word_gpa(&f, i, 0), &sp) < 1 ||
		    !(sp.spte & EPT_W))
			notw++;
	if (notw)
		tap_diag("%zu of %d leaves not writable after a read: the host PTE was not",
			 notw, HD_PAGES);
	if (!guest_writes(&f, 90, 3, "guest writes"))
		goto out;
	xvm_stats(f.vm, &s0);
	if (madvise(f.mem, f.size, MADV_PAGEOUT)) {
		skip_rest("MADV_PAGEOUT: %s", strerror(errno));
		goto out;
	}
	xvm_stats(f.vm, &s1);
	/*
	 * Before 6.9, MADV_PAGEOUT keeps pages the secondary MMU reports
	 * young, and asking cleared the A bits: the second try reclaims.
	 */
	if (s1.invalidations == s0.invalidations &&
	    s1.aged_young > s0.aged_young) {
		tap_diag("MADV_PAGEOUT kept pages eptmmu called young (before 6.9?): again");
		if (madvise(f.mem, f.size, MADV_PAGEOUT))
			tap_diag("MADV_PAGEOUT again: %s", strerror(errno));
		xvm_stats(f.vm, &s1);
	}
	ok = s1.invalidations > s0.invalidations;
	if (!ok)
		diag_vm_stats("after MADV_PAGEOUT", &s1);
	tap_ok(ok, "host_dirty: MADV_PAGEOUT unmapped the guest-written memfd pages (invalidations +%llu)",
	       s1.invalidations - s0.invalidations);
	for (i = 0; i < HD_PAGES; i++) {
		u64 v = 0;
		off_t off = i * PAGE_SIZE + word_of(i, 3) * 8;

		if (pread(mfd, &v, 8, off) != 8 || v != pat(90, i)) {
			if (bad++ < 3)
				tap_diag("page %zu: the guest wrote %#llx, the memfd reads %#llx",
					 i, pat(90, i), v);
		}
	}
	tap_ok(!bad, "host_dirty: the memfd holds every guest write after reclaim (%zu of %d pages lost)",
	       bad, HD_PAGES);
	tap_ok(agree_both_ways(&f, 92, "after MADV_PAGEOUT"),
	       "host_dirty: fresh writes on either side reach the other on every page");
out:
	fix_fini(&f);
	close(mfd);
}

/* ---- 9: a poisoned page ---- */

/* The poison's SIGBUS is expected: the test looks at the guest's exit. */
static void on_sigbus(int sig)
{
	(void)sig;
}

/*
 * In a child (the poison is for the process, which gets SIGBUS): poison
 * a page the guest has mapped; the guest's next access to it must exit
 * FAULT with EHWPOISON, its neighbours keep working.  The child's exit
 * status: 0 all good, 2 no MADV_HWPOISON, 1 a check failed.
 */
static int hwpoison_child(void)
{
	struct sigaction sa = { .sa_handler = on_sigbus };
	struct eptmmu_access b;
	struct eptmmu_run run;
	struct fix f;
	u64 v;
	int r;

	sigaction(SIGBUS, &sa, NULL);
	if (!fix_init(&f, 4 * PAGE_SIZE, PAGE_SIZE, true))
		return 1;
	if (!guest_writes(&f, 95, 0, "guest writes"))
		return 1;
	if (madvise(f.mem + PAGE_SIZE, PAGE_SIZE, MADV_HWPOISON))
		return errno == EINVAL || errno == EPERM ? 2 : 1;
	b = access_of(EPTMMU_ACCESS_READ, word_gpa(&f, 1, 0), 8, 0);
	r = run_vcpu(f.vcpu, &b, 1, &run);
	if (r || run.exit_reason != EPTMMU_EXIT_FAULT ||
	    run.exit_errno != EHWPOISON) {
		diag_run("read of the poisoned page", r, &run);
		return 1;
	}
	if (!g_read(f.vcpu, word_gpa(&f, 2, word_of(2, 0)), 8, &v) ||
	    v != pat(95, 2))
		return 1;
	return 0;
}

static void t_hwpoison(void)
{
	int status = 0;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		die("fork");
	if (!pid)
		_exit(hwpoison_child());
	if (waitpid(pid, &status, 0) != pid)
		die("waitpid");
	if (WIFEXITED(status) && WEXITSTATUS(status) == 2) {
		skip_rest("MADV_HWPOISON refused (needs CONFIG_MEMORY_FAILURE and CAP_SYS_ADMIN)");
		return;
	}
	tap_ok(WIFEXITED(status) && !WEXITSTATUS(status),
	       "hwpoison: a guest access to a poisoned page exits FAULT with EHWPOISON, its neighbours still work (child status %#x)",
	       status);
}

/* ---- 10: anonymous memory through a swap-out and swap-in ---- */

#define SW_PAGES	16

static bool swap_enabled(void)
{
	char buf[512], *nl;
	int fd = open("/proc/swaps", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	/* A header line, then one line per swap device. */
	nl = strchr(buf, '\n');
	return nl && nl[1];
}

static u64 sw_want(size_t page)
{
	return pat(100, page);
}

/* Pages of [first, first + n) the process has no frame for now. */
static size_t not_present(struct fix *f, size_t first, size_t n)
{
	u64 pfn[512];
	size_t i, out = 0;

	if (n > ARRAY_SIZE(pfn))
		die("not_present: %zu pages", n);
	if (pfns_of(f->mem + first * PAGE_SIZE, n, pfn))
		return 0;
	for (i = 0; i < n; i++)
		out += !pfn[i];
	return out;
}

/*
 * Anonymous pages the process wrote go out to swap.  The guest's reads
 * bring them back as the swap cache's clean copies, mapped writable, so
 * the leaves are writable; the guest writes through EPT only.  Reclaim
 * then sees clean pages whose swap copy looks valid and drops them: the
 * guest's writes must survive (R-HOST-DIRTY).
 */
static void t_swap(void)
{
	size_t i, out, bad = 0;
	cpu_set_t oldmask;
	bool pinned;
	struct fix f;

	/*
	 * Pages faulted on another CPU would wait in its batch, off the LRU,
	 * where MADV_PAGEOUT cannot take them (3 of 16 went out once).
	 */
	pinned = pin_here(&oldmask);
	if (!fix_init(&f, SW_PAGES * PAGE_SIZE, PAGE_SIZE, true))
		goto out_unpin;
	if (!swap_enabled()) {
		skip_rest("no swap device (make check gives the test kernel a zram one)");
		goto out;
	}
	for (i = 0; i < SW_PAGES; i++)
		*word_ptr(&f, i, word_of(i, 4)) = sw_want(i);
	if (madvise(f.mem, f.size, MADV_PAGEOUT))
		die("MADV_PAGEOUT");
	out = not_present(&f, 0, SW_PAGES);
	tap_ok(out == SW_PAGES, "swap: MADV_PAGEOUT swapped out the process's pages (%zu of %d)",
	       out, SW_PAGES);
	if (!guest_sees_process(&f, 4, sw_want, "reads that swap in") ||
	    !guest_writes(&f, 101, 5, "guest writes"))
		goto out;
	if (madvise(f.mem, f.size, MADV_PAGEOUT))
		die("MADV_PAGEOUT");
	out = not_present(&f, 0, SW_PAGES);
	for (i = 0; i < SW_PAGES; i++) {
		u64 v = *word_ptr(&f, i, word_of(i, 5));

		if (v != pat(101, i) && bad++ < 3)
			tap_diag("page %zu: the guest wrote %#llx, the process reads %#llx",
				 i, pat(101, i), v);
	}
	tap_ok(!bad, "swap: every guest write survives a second swap-out (%zu of %d pages went out, %zu lost)",
	       out, SW_PAGES, bad);
	tap_ok(agree_both_ways(&f, 102, "after the swap round"),
	       "swap: fresh writes on either side reach the other on every page");
out:
	fix_fini(&f);
out_unpin:
	unpin(pinned, &oldmask);
}

/*
 * ---- 11, 12: aging on kernels without page_idle ----
 *
 * Debian's kernels have no CONFIG_IDLE_PAGE_TRACKING, so "idle" skips
 * there.  Two other kernel paths ask the notifier whether the guest used
 * a page, and both change what the kernel does with it:
 * - reclaim (every kernel with memory cgroups and swap): the rmap walk of
 *   a page on the inactive list calls clear_flush_young, and a page found
 *   young stays in memory;
 * - DAMON's virtual-address monitoring (CONFIG_DAMON_VADDR, Debian's
 *   6.12): each sample calls test_young, then clear_young, and the
 *   region's access count is what DAMON reports.
 * The guest keeps reading the first AGE_HOT pages while the
 * process touches none after setup, so the host's own accessed bits say
 * nothing and only the notifier can tell the kernel which pages are used.
 * The soft vCPU's TLB holds 64 entries indexed by gfn % 64, so a loop over
 * 128 consecutive gfns misses on every access: each read walks EPT and
 * makes its leaf young again (or, without A/D bits, takes the fast path
 * that restores an access-tracked leaf).
 */
#define AGE_HOT		128
/* Never touched after setup.  A gap keeps the two sets apart for DAMON. */
#define AGE_GAP		8
#define AGE_COLD	120
#define AGE_PAGES	(AGE_HOT + AGE_GAP + AGE_COLD)

struct hot_loop {
	struct fix *f;
	atomic_bool stop;
	atomic_ulong rounds;
	bool failed;
};

/* One read of every hot page: each walks EPT (see above). */
static bool hot_round(struct fix *f)
{
	struct eptmmu_access a[AGE_HOT];
	size_t i;

	for (i = 0; i < AGE_HOT; i++)
		a[i] = access_of(EPTMMU_ACCESS_READ,
				 word_gpa(f, i, word_of(i, 6)), 8, 0);
	return run_all(f->vcpu, a, AGE_HOT, NULL, "hot reads");
}

static void *hot_thread(void *arg)
{
	struct hot_loop *h = arg;

	while (!atomic_load(&h->stop)) {
		if (!hot_round(h->f)) {
			h->failed = true;
			break;
		}
		atomic_fetch_add(&h->rounds, 1);
	}
	return NULL;
}

/*
 * Map and fill the fixture and give every page a leaf; false (with the
 * reason set) when the setup failed.
 */
static bool hot_setup(struct fix *f)
{
	size_t i;

	if (!fix_init(f, AGE_PAGES * PAGE_SIZE, PAGE_SIZE, true))
		return false;
	for (i = 0; i < AGE_PAGES; i++)
		*word_ptr(f, i, word_of(i, 6)) = pat(110, i);
	if (!guest_sees_process(f, 6, NULL, "first reads")) {
		fix_fini(f);
		return false;
	}
	return true;
}

/* hot_setup(), then the guest's reads in a loop on a thread of their own. */
static bool hot_start(struct fix *f, struct hot_loop *h, pthread_t *th)
{
	if (!hot_setup(f))
		return false;
	h->f = f;
	atomic_init(&h->stop, false);
	atomic_init(&h->rounds, 0);
	h->failed = false;
	if (pthread_create(th, NULL, hot_thread, h))
		die("pthread_create");
	return true;
}

static unsigned long hot_stop(struct hot_loop *h, pthread_t th)
{
	atomic_store(&h->stop, true);
	pthread_join(th, NULL);
	return atomic_load(&h->rounds);
}

#define CG_ROOT		"/sys/fs/cgroup/"
#define CG_TEST		CG_ROOT "eptmmu_mm_test/"

/* Run in a memory cgroup of our own, so memory.reclaim hits only us. */
static bool cg_enter(void)
{
	char buf[256];
	int r;

	if (read_file(CG_ROOT "cgroup.controllers", buf, sizeof(buf)) &&
	    mount("none", CG_ROOT, "cgroup2", 0, NULL)) {
		skip_rest("no cgroup2 at %s: %s", CG_ROOT, strerror(errno));
		return false;
	}
	if (read_file(CG_ROOT "cgroup.controllers", buf, sizeof(buf)) ||
	    !strstr(buf, "memory")) {
		skip_rest("no memory controller (CONFIG_MEMCG)");
		return false;
	}
	r = write_file(CG_ROOT "cgroup.subtree_control", "+memory");
	if (!r && mkdir(CG_TEST, 0755) && errno != EEXIST)
		r = -errno;
	/* "0" is the writing process, all its threads included. */
	if (!r)
		r = write_file(CG_TEST "cgroup.procs", "0");
	if (r) {
		skip_rest("entering %s: %s", CG_TEST, strerror(-r));
		return false;
	}
	return true;
}

static void cg_leave(void)
{
	if (write_file(CG_ROOT "cgroup.procs", "0"))
		tap_diag("leaving %s: %s", CG_TEST, strerror(errno));
	rmdir(CG_TEST);
}

static void t_reclaim(void)
{
	size_t hot_out = 0, cold_out = 0;
	struct eptmmu_vm_stats s0, s1;
	unsigned long rounds;
	struct hot_loop h;
	char amount[32];
	pthread_t th;
	int i, r = 0;
	struct fix f;

	if (!swap_enabled()) {
		skip_rest("no swap device (make check gives the kernel a zram one)");
		return;
	}
	/* Before the first touch: pages are charged where they fault. */
	if (!cg_enter())
		return;
	if (!hot_start(&f, &h, &th))
		goto out;
	xvm_stats(f.vm, &s0);
	/*
	 * The first passes find the cold pages young from the process's own
	 * setup writes and only clear that; later ones send them out.  A
	 * hot page that went out comes back at the guest's next read, so
	 * each pass counts what it took.
	 */
	snprintf(amount, sizeof(amount), "%lu", (unsigned long)f.size);
	for (i = 0; i < 20 && cold_out < AGE_COLD / 2; i++) {
		r = write_file(CG_TEST "memory.reclaim", amount);
		if (r && r != -EAGAIN)
			break;
		r = 0;
		hot_out += not_present(&f, 0, AGE_HOT);
		cold_out = not_present(&f, AGE_HOT + AGE_GAP, AGE_COLD);
	}
	rounds = hot_stop(&h, th);
	xvm_stats(f.vm, &s1);
	vdiag("reclaim: %d memory.reclaim writes, %lu guest rounds", i, rounds);
	if (r)
		tap_diag("memory.reclaim: %s", strerror(-r));
	/*
	 * Every page was young once (the first reads); more young answers
	 * than pages are leaves the guest made young again after reclaim
	 * had aged them.
	 */
	tap_ok(!h.failed && rounds > 0 &&
	       s1.aged_young - s0.aged_young > AGE_PAGES,
	       "reclaim: the rmap walk asked the notifier and found the guest's pages young again (aging_passes +%llu, aged_young +%llu, guest rounds %lu)",
	       s1.aging_passes - s0.aging_passes,
	       s1.aged_young - s0.aged_young, rounds);
	tap_ok(cold_out >= AGE_COLD / 2,
	       "reclaim: pages nobody used went to swap (%zu of %d)",
	       cold_out, AGE_COLD);
	/*
	 * "Young" means used since the last look, and reclaim may look at
	 * a page twice within one guest round (more often the less CPU the
	 * guest's thread gets): some of the guest's pages can go.  They
	 * must go less often than pages nobody uses; with aging that never
	 * answers young (broken=age_never_young) they go as often.
	 */
	tap_ok(hot_out * AGE_COLD < cold_out * AGE_HOT,
	       "reclaim: the guest's pages went to swap less often than unused ones (%zu evictions of %d pages against %zu of %d)",
	       hot_out, AGE_HOT, cold_out, AGE_COLD);
	tap_ok(agree_both_ways(&f, 111, "after reclaim"),
	       "reclaim: fresh writes on either side reach the other on every page");
	fix_fini(&f);
out:
	cg_leave();
}

#define DAMON_DIR	"/sys/kernel/mm/damon/admin/kdamonds/"
#define DAMON_CTX	DAMON_DIR "0/contexts/0/"
#define DAMON_SCHEME	DAMON_CTX "schemes/0/"

static bool damon_set(const char *path, const char *fmt, ...) __printf(2, 3);

static bool damon_set(const char *path, const char *fmt, ...)
{
	char val[64];
	va_list ap;
	int r;

	va_start(ap, fmt);
	vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	r = write_file(path, val);
	if (r)
		tap_diag("%s <- %s: %s", path, val, strerror(-r));
	return !r;
}

/*
 * One kdamond monitoring [0, AGE_HOT) and the cold pages of @f in this
 * process, sampling every 5 ms, aggregating every 100 ms, with a "stat"
 * scheme over every region so the regions can be read back.
 */
static bool damon_start(struct fix *f)
{
	unsigned long hva = (unsigned long)f->mem;
	const char *big = "18446744073709551615";

	return damon_set(DAMON_DIR "nr_kdamonds", "1") &&
	       damon_set(DAMON_DIR "0/contexts/nr_contexts", "1") &&
	       damon_set(DAMON_CTX "operations", "vaddr") &&
	       damon_set(DAMON_CTX "monitoring_attrs/intervals/sample_us", "5000") &&
	       damon_set(DAMON_CTX "monitoring_attrs/intervals/aggr_us", "100000") &&
	       damon_set(DAMON_CTX "targets/nr_targets", "1") &&
	       damon_set(DAMON_CTX "targets/0/pid_target", "%d", getpid()) &&
	       damon_set(DAMON_CTX "targets/0/regions/nr_regions", "2") &&
	       damon_set(DAMON_CTX "targets/0/regions/0/start", "%lu", hva) &&
	       damon_set(DAMON_CTX "targets/0/regions/0/end", "%lu",
			 hva + AGE_HOT * PAGE_SIZE) &&
	       damon_set(DAMON_CTX "targets/0/regions/1/start", "%lu",
			 hva + (AGE_HOT + AGE_GAP) * PAGE_SIZE) &&
	       damon_set(DAMON_CTX "targets/0/regions/1/end", "%lu",
			 hva + AGE_PAGES * PAGE_SIZE) &&
	       damon_set(DAMON_CTX "schemes/nr_schemes", "1") &&
	       damon_set(DAMON_SCHEME "action", "stat") &&
	       damon_set(DAMON_SCHEME "access_pattern/sz/max", "%s", big) &&
	       damon_set(DAMON_SCHEME "access_pattern/nr_accesses/max", "%s", big) &&
	       damon_set(DAMON_SCHEME "access_pattern/age/max", "%s", big) &&
	       damon_set(DAMON_DIR "0/state", "on");
}

static void damon_stop(void)
{
	write_file(DAMON_DIR "0/state", "off");
	write_file(DAMON_DIR "nr_kdamonds", "0");
}

static void t_damon(void)
{
	unsigned long hva, start, end, rounds;
	size_t n, hot = 0, hot_used = 0, cold = 0, cold_used = 0;
	struct eptmmu_vm_stats s0, s1;
	char path[160], buf[32];
	u64 acc;
	struct hot_loop h;
	pthread_t th;
	bool ok;
	struct fix f;

	if (read_file(DAMON_DIR "nr_kdamonds", buf, sizeof(buf))) {
		skip_rest("no DAMON sysfs (CONFIG_DAMON_SYSFS, CONFIG_DAMON_VADDR)");
		return;
	}
	if (strcmp(buf, "0")) {
		skip_rest("DAMON is in use already (%s kdamonds)", buf);
		return;
	}
	if (!hot_start(&f, &h, &th))
		return;
	hva = (unsigned long)f.mem;
	xvm_stats(f.vm, &s0);
	ok = damon_start(&f);
	/* Several aggregation windows, so the setup writes are forgotten. */
	if (ok)
		usleep(600 * 1000);
	/* Waits for the next aggregation: the guest is still reading. */
	ok = ok && damon_set(DAMON_DIR "0/state", "update_schemes_tried_regions");
	rounds = hot_stop(&h, th);
	xvm_stats(f.vm, &s1);
	for (n = 0; ok; n++) {
		snprintf(path, sizeof(path), DAMON_SCHEME "tried_regions/%zu/start", n);
		if (read_file(path, buf, sizeof(buf)))
			break;
		start = strtoul(buf, NULL, 0);
		snprintf(path, sizeof(path), DAMON_SCHEME "tried_regions/%zu/end", n);
		end = read_u64(path);
		snprintf(path, sizeof(path), DAMON_SCHEME "tried_regions/%zu/nr_accesses", n);
		acc = read_u64(path);
		vdiag("damon: region %#lx-%#lx nr_accesses %llu", start, end,
		      acc);
		if (end <= hva + AGE_HOT * PAGE_SIZE) {
			hot++;
			hot_used += acc > 0;
		} else {
			cold++;
			cold_used += acc > 0;
		}
	}
	damon_stop();
	tap_ok(ok && !h.failed && rounds > 0 &&
	       s1.aging_passes > s0.aging_passes && s1.aged_young > s0.aged_young,
	       "damon: sampling asked the notifier (test_young, clear_young: aging_passes +%llu, aged_young +%llu) while the guest read (%lu rounds)",
	       s1.aging_passes - s0.aging_passes,
	       s1.aged_young - s0.aged_young, rounds);
	tap_ok(hot && hot_used == hot,
	       "damon: every region of the pages the guest reads was accessed (%zu of %zu)",
	       hot_used, hot);
	tap_ok(cold && !cold_used,
	       "damon: no region of the pages nobody used was (%zu of %zu were)",
	       cold_used, cold);
	fix_fini(&f);
}

/* ---- runner ---- */

static const struct tap_test tests[] = {
	{ "idle", t_idle, 6, "idle page tracking ages through the notifier" },
	{ "ksm", t_ksm, 5, "KSM merges and COW breaks under the guest" },
	{ "thp", t_thp, 6, "THP split and MADV_COLLAPSE under the guest" },
	{ "logstop", t_logstop, 3, "dirty-log stop maps huge again where the host does" },
	{ "mprotect", t_mprotect, 4, "mprotect read-only and back" },
	{ "remap", t_remap, 3, "munmap + mmap MAP_FIXED under a running vCPU" },
	{ "compaction", t_compaction, 3, "compaction migrates guest-mapped pages" },
	{ "soft_offline", t_soft_offline, 3, "MADV_SOFT_OFFLINE migrates chosen guest-mapped pages" },
	{ "host_dirty", t_host_dirty, 3, "guest writes to a memfd survive MADV_PAGEOUT" },
	{ "hwpoison", t_hwpoison, 1, "a poisoned page is reported as such" },
	{ "swap", t_swap, 3, "guest writes to swapped-in anonymous pages survive swap-out" },
	{ "reclaim", t_reclaim, 4, "reclaim sees the guest's use of its pages (clear_flush_young, MGLRU: clear_young)" },
	{ "damon", t_damon, 3, "DAMON sees the guest's accesses (test_young, clear_young)" },
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: eptmmu_mm_test [-v] [-l] [test...]\n"
		"  -v   more diagnostics\n"
		"  -l   list the tests and exit\n"
		"With test names, run only those.  Output is TAP; exit 0 iff all pass.\n");
}

int main(int argc, char **argv)
{
	int ch;

	while ((ch = getopt(argc, argv, "vlh")) != -1) {
		switch (ch) {
		case 'v':
			verbose = true;
			break;
		case 'l':
			tap_list_tests(tests, ARRAY_SIZE(tests));
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	return tap_run_tests(tests, ARRAY_SIZE(tests), argv + optind,
			     argc - optind, &devfd, skip_why);
}
