// SPDX-License-Identifier: GPL-2.0
/*
 * eptmmu_perf - dirty-logging and fault-path performance of eptmmu, with
 * the options and phases of KVM's dirty_log_perf_test so that the figures
 * of the two can be put side by side.
 *
 *   eptmmu_perf [-v vcpus] [-b bytes] [-i iterations] [-m wp|dbit] [-M [-I]]
 *               [-s anon|thp|hugetlb] [--csv] [-q]
 *   eptmmu_perf -R [-b bytes] [-i iterations] [-s ...] [--csv]
 *
 * -R measures one thing only (harvest_cost_main()): a harvest of a
 * sparse and of a dense dirty set, by the bitmap and by the dirty ring.
 *
 * One memslot covers all guest memory; vCPU i (a thread with its own vCPU
 * fd) owns slice i of -b bytes.  Phases, each timed on the wall clock and,
 * where vCPUs run, per vCPU:
 *
 *   populate     every vCPU writes every page of its slice once: all first
 *                touches, so every access goes through the fault path
 *   enable_log   SET_MEMSLOT turns dirty logging on (write-protect or
 *                clear D, split huge pages)
 *   per iteration:
 *     dirty      every vCPU writes every page of its slice
 *     get_log    EPTMMU_GET_DIRTY_LOG (with NO_CLEAR under -M)
 *     clear_log  EPTMMU_CLEAR_DIRTY_LOG of what was harvested (-M only)
 *   disable_log  SET_MEMSLOT turns dirty logging off
 *   refault      every vCPU writes every page again: what disabling left
 *                mapped is a TLB hit or walk, what it zapped faults again
 *   age_mark     page_idle marks all guest pages idle: the kernel calls the
 *                MMU notifier's clear_young, eptmmu's lockless aging
 *   reread       every vCPU reads every page again; with ept_ad=off the
 *                aged leaves are access-tracked, so this is the fast
 *                access-track path
 *   age_check    page_idle reads the idle bits back (aging those pages
 *                once more): the guest just used them, so few stay idle
 *
 * Then the fault latency that EPTMMU_GET_FAULT_LATENCY measured in the
 * kernel, summed over the vCPUs, for the whole run and per vCPU phase.
 * Medians and p99s are estimates from its log2-ns histogram, interpolated
 * inside a bucket.  The "fast path speedup" is median(slow 4K) /
 * median(fast WP), the slow faults of populate against the fast ones of
 * the dirty passes; it is also given against the slow re-maps of refault.
 *
 * Options mean what they mean in dirty_log_perf_test, except -m: there
 * it picks the guest mode, here the dirty-logging mode.  -M is manual
 * protect, the default of dirty_log_perf_test (which turns it off with -g);
 * -I adds what that test also asks for by default, the bitmap initially
 * set (EPTMMU_MEM_DIRTY_LOG_INITIALLY_SET: enabling protects nothing, the
 * first CLEAR does).  The CSV's "manual" column is 0, 1 (-M) or 2 (-M -I).
 *
 * The process never touches guest memory itself until the end (a check
 * that it holds what the guest wrote): a host access would make a page
 * young behind the guest's back and blur the aging figures.  Aging needs
 * root (PFNs from /proc/self/pagemap); without it those phases are skipped.
 *
 * Exit: 0 done, 1 failure, 2 bad usage or a feature the system lacks.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
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

#include "lib.h"

/* Well above 32-bit space and 1 GiB aligned, so huge leaves can map it. */
#define GPA_BASE	0x100000000ULL
/* Accesses per EPTMMU_RUN: enough that the ioctl's entry cost fades. */
#define BATCH		1024
#define SEC		1000000000ULL
/* A progress line at most this often, and not for shorter phases. */
#define PROGRESS_NS	(2 * SEC)

/* sysfs moves at most a page of a binary attribute per call. */
#define IDLE_CHUNK	(PAGE_SIZE / 8)

enum backing { BACK_ANON, BACK_THP, BACK_HUGETLB };
static const char *const backing_name[] = { "anon", "thp", "hugetlb" };

static struct {
	unsigned int vcpus;
	u64 bytes;		/* per vCPU */
	unsigned int iters;
	bool dbit;
	bool manual;
	bool initially_set;
	enum backing backing;
	bool csv;
	bool quiet;
	bool harvest_cost;
} opt = {
	.vcpus = 1,
	.bytes = 64 << 20,
	.iters = 2,
};

/* What the vCPU threads do next. */
enum work { WORK_WRITE, WORK_READ, WORK_EXIT };

struct vcpu {
	pthread_t th;
	int fd;
	u64 first, npages;	/* its slice: pages [first, first + npages) */
	struct eptmmu_vcpu_stats stats;	/* after its last EPTMMU_RUN */
	u64 ns;			/* its time in the last phase */
	atomic_ullong progress;	/* pages done in the current phase */
	bool failed;
	char why[200];
};

/*
 * The main thread hands out work by bumping @seq under @lock; each vCPU
 * thread does it and counts itself in @ndone.  Timed waits on @done let
 * the main thread print progress meanwhile.
 */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t start, done;
	unsigned long seq;
	enum work work;
	u64 tag;		/* written into (or expected in) each page */
	unsigned int ndone;
} ctl = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.start = PTHREAD_COND_INITIALIZER,
	.done = PTHREAD_COND_INITIALIZER,
};

static struct vcpu *vcpus;
static int vm;
static u64 *mem, npages, maplen;

/* One row of the phase table. */
struct phase {
	const char *name;	/* CSV */
	const char *label;	/* human */
	unsigned int iter;	/* 0: not per iteration */
	bool ran_vcpus;		/* vCPU phase: per-vCPU times are valid */
	u64 wall_ns, vcpu_min_ns, vcpu_max_ns, pages;
	struct eptmmu_vcpu_stats v0, v1;	/* summed over vCPUs */
	struct eptmmu_vm_stats s0, s1;
};

static struct phase *phases;
static unsigned int nphases, maxphases;

/* ---- options ---- */

/* A byte count with an optional K, M or G (binary) suffix. */
static u64 parse_size(const char *s)
{
	unsigned long long v;
	char *end;
	int shift = 0;

	errno = 0;
	v = strtoull(s, &end, 0);
	switch (*end) {
	case 'k': case 'K':
		shift = 10;
		end++;
		break;
	case 'm': case 'M':
		shift = 20;
		end++;
		break;
	case 'g': case 'G':
		shift = 30;
		end++;
		break;
	}
	if (errno || end == s || *end || !v || v > (EPTMMU_MAX_MEMSLOT_SIZE >> shift) ||
	    (v << shift) % PAGE_SIZE) {
		fprintf(stderr, "eptmmu_perf: -b '%s': want a multiple of 4K up to 1T (suffixes K, M, G)\n",
			s);
		exit(2);
	}
	return v << shift;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: eptmmu_perf [-v vcpus] [-b bytes] [-i iterations] [-m wp|dbit] [-M [-I]]\n"
		"                   [-s anon|thp|hugetlb] [--csv] [-q]\n"
		"       eptmmu_perf -R [-b bytes] [-i iterations] [-s ...] [--csv]\n"
		"  -v N      vCPU threads, each with its own slice of memory (default 1)\n"
		"  -b SIZE   bytes per vCPU, suffixes K/M/G (default 64M)\n"
		"  -i N      dirty-logging iterations (default 2)\n"
		"  -m MODE   dirty logging by wp (write protection, default) or dbit\n"
		"            (EPT D bits; needs insmod eptmmu ept_ad=on)\n"
		"  -M        manual clear: GET_DIRTY_LOG with NO_CLEAR, then CLEAR_DIRTY_LOG\n"
		"  -I        with -M: the log starts all set, the first CLEAR protects\n"
		"  -s SRC    backing: anon (4K pages, default), thp (MADV_HUGEPAGE),\n"
		"            hugetlb (MAP_HUGETLB, needs reserved 2M pages)\n"
		"  -R        only this: the cost of one harvest of a dirty set of 64 pages\n"
		"            (shown as 0%%), 1%% and 50%% of -b bytes (one vCPU, write\n"
		"            protection), the bitmap's GET + CLEAR beside the dirty\n"
		"            ring's collect + reset\n"
		"  --csv     machine-readable lines only (progress still on stderr)\n"
		"  -q        no progress lines\n");
}

static void parse_args(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "csv", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ }
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "v:b:i:m:MIs:qRh", lopts, NULL)) != -1) {
		switch (ch) {
		case 'v':
			opt.vcpus = parse_num(optarg, 1, EPTMMU_MAX_VCPUS);
			break;
		case 'b':
			opt.bytes = parse_size(optarg);
			break;
		case 'i':
			opt.iters = parse_num(optarg, 1, 10000);
			break;
		case 'm':
			if (!strcmp(optarg, "wp") || !strcmp(optarg, "dbit")) {
				opt.dbit = optarg[0] == 'd';
				break;
			}
			fprintf(stderr, "eptmmu_perf: -m '%s': want wp or dbit\n", optarg);
			exit(2);
		case 'M':
			opt.manual = true;
			break;
		case 'I':
			opt.initially_set = true;
			break;
		case 's':
			for (opt.backing = BACK_ANON; opt.backing <= BACK_HUGETLB;
			     opt.backing++)
				if (!strcmp(optarg, backing_name[opt.backing]))
					break;
			if (opt.backing > BACK_HUGETLB) {
				fprintf(stderr, "eptmmu_perf: -s '%s': want anon, thp or hugetlb\n",
					optarg);
				exit(2);
			}
			break;
		case 'C':
			opt.csv = true;
			break;
		case 'q':
			opt.quiet = true;
			break;
		case 'R':
			opt.harvest_cost = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind != argc || (opt.initially_set && !opt.manual)) {
		usage(stderr);
		exit(2);
	}
	if (opt.bytes * opt.vcpus > EPTMMU_MAX_MEMSLOT_SIZE) {
		fprintf(stderr, "eptmmu_perf: %u x %llu bytes is more than one memslot holds\n",
			opt.vcpus, (unsigned long long)opt.bytes);
		exit(2);
	}
}

/* ---- memory ---- */

static void map_memory(void)
{
	u64 size = npages * PAGE_SIZE;

	switch (opt.backing) {
	case BACK_ANON:
		/*
		 * The test kernel's THP default is "always": ask for 4K pages
		 * as KVM's "anonymous" backing does, so populate is 4K faults.
		 */
		maplen = size;
		mem = xmap(size, PAGE_SIZE);
		if (madvise(mem, size, MADV_NOHUGEPAGE))
			die("madvise MADV_NOHUGEPAGE");
		break;
	case BACK_THP:
		/* 2M alignment, same as the gpa's, so 2M leaves can map it. */
		maplen = size;
		mem = xmap(size, SZ_2M);
		if (madvise(mem, size, MADV_HUGEPAGE))
			die("madvise MADV_HUGEPAGE (no THP in this kernel?)");
		break;
	case BACK_HUGETLB:
		maplen = (size + SZ_2M - 1) & ~(SZ_2M - 1);
		mem = mmap(NULL, maplen, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
		if (mem == MAP_FAILED) {
			fprintf(stderr, "eptmmu_perf: -s hugetlb: mmap MAP_HUGETLB of %llu bytes: %s (reserve %llu pages in /proc/sys/vm/nr_hugepages)\n",
				(unsigned long long)maplen, strerror(errno),
				(unsigned long long)(maplen / SZ_2M));
			exit(2);
		}
		break;
	}
}

/* ---- fault latency ---- */

static const char *const kind_name[EPTMMU_FAULT_KINDS] = {
	[EPTMMU_FAULT_FAST_WP] = "fast_wp",
	[EPTMMU_FAULT_FAST_ACC] = "fast_acc",
	[EPTMMU_FAULT_SLOW_4K] = "slow_4k",
	[EPTMMU_FAULT_SLOW_HUGE] = "slow_huge",
	[EPTMMU_FAULT_OTHER] = "other",
};

static const char *const kind_label[EPTMMU_FAULT_KINDS] = {
	[EPTMMU_FAULT_FAST_WP] = "fast write-protect",
	[EPTMMU_FAULT_FAST_ACC] = "fast access-track",
	[EPTMMU_FAULT_SLOW_4K] = "slow 4K",
	[EPTMMU_FAULT_SLOW_HUGE] = "slow huge",
	[EPTMMU_FAULT_OTHER] = "other",
};

/*
 * The @q quantile of one kind's histogram.  Bucket b holds [2^b, 2^(b+1))
 * ns (bucket 0: [0, 2)); inside the bucket the faults are taken as spread
 * evenly, so this is an estimate, good to within the bucket's width.
 */
static double hist_quantile(const u64 *hist, u64 count, double q)
{
	double rank = q * count, lo, hi, cum = 0;
	int b;

	if (!count)
		return 0;
	for (b = 0; b < EPTMMU_LAT_BUCKETS; b++) {
		if (!hist[b] || cum + hist[b] < rank) {
			cum += hist[b];
			continue;
		}
		lo = b ? (double)(1ULL << b) : 0;
		hi = (double)(1ULL << (b + 1));
		return lo + (hi - lo) * (rank - cum) / hist[b];
	}
	return (double)(1ULL << EPTMMU_LAT_BUCKETS);
}

/* Summed over the vCPUs; false if the module has no such ioctl. */
static bool get_latency(struct eptmmu_fault_latency *sum)
{
	struct eptmmu_fault_latency l;
	unsigned int i;
	int k, b;

	memset(sum, 0, sizeof(*sum));
	for (i = 0; i < opt.vcpus; i++) {
		if (ioctl(vcpus[i].fd, EPTMMU_GET_FAULT_LATENCY, &l)) {
			if (errno == ENOTTY)
				return false;
			die("EPTMMU_GET_FAULT_LATENCY vCPU %u", i);
		}
		for (k = 0; k < EPTMMU_FAULT_KINDS; k++) {
			sum->count[k] += l.count[k];
			sum->total_ns[k] += l.total_ns[k];
			for (b = 0; b < EPTMMU_LAT_BUCKETS; b++)
				sum->hist[k][b] += l.hist[k][b];
		}
	}
	return true;
}

static double median_ns(const struct eptmmu_fault_latency *l, int k)
{
	return hist_quantile(l->hist[k], l->count[k], 0.5);
}

/*
 * Latency per vCPU phase, the iterations of a phase summed.  The ioctl
 * counts since the vCPU's creation and no vCPU runs between phases, so a
 * phase's faults are the difference of the snapshots around it.  Per
 * phase because a kind can mix faults of different cost: a slow 4K fault
 * on first touch allocates and zeroes the host page, one after a zap only
 * maps a present page again; their medians differ about twofold.
 */
struct lat_group {
	const char *name, *label;
	struct eptmmu_fault_latency lat;
};

static struct lat_group lat_groups[8];
static unsigned int nlat_groups;
static bool have_lat = true;

static void lat_account(const char *name, const char *label,
			const struct eptmmu_fault_latency *l0,
			const struct eptmmu_fault_latency *l1)
{
	struct lat_group *g;
	unsigned int i;
	int k, b;

	for (i = 0; i < nlat_groups && strcmp(lat_groups[i].name, name); i++)
		;
	if (i == ARRAY_SIZE(lat_groups))
		die("latency table full");
	g = &lat_groups[i];
	if (i == nlat_groups) {
		nlat_groups++;
		g->name = name;
		g->label = label;
	}
	for (k = 0; k < EPTMMU_FAULT_KINDS; k++) {
		g->lat.count[k] += l1->count[k] - l0->count[k];
		g->lat.total_ns[k] += l1->total_ns[k] - l0->total_ns[k];
		for (b = 0; b < EPTMMU_LAT_BUCKETS; b++)
			g->lat.hist[k][b] += l1->hist[k][b] - l0->hist[k][b];
	}
}

static const struct eptmmu_fault_latency *lat_of(const char *name)
{
	unsigned int i;

	for (i = 0; i < nlat_groups; i++)
		if (!strcmp(lat_groups[i].name, name))
			return &lat_groups[i].lat;
	return NULL;
}

/* median(slow 4K in @slow) / median(@kind in @fast); 0 if either is empty */
static double speedup(const char *slow, const char *fast, int kind)
{
	const struct eptmmu_fault_latency *s = lat_of(slow), *f = lat_of(fast);

	if (!s || !f || !s->count[EPTMMU_FAULT_SLOW_4K] || !f->count[kind])
		return 0;
	return median_ns(s, EPTMMU_FAULT_SLOW_4K) / median_ns(f, kind);
}

/* ---- vCPU threads ---- */

static u64 value_of(u64 page, u64 tag)
{
	return page << 16 | tag;
}

/* One pass over the vCPU's slice: a write or a checked read per page. */
static bool sweep(struct vcpu *v, enum work work, u64 tag,
		  struct eptmmu_access *a)
{
	u8 kind = work == WORK_READ ? EPTMMU_ACCESS_READ : EPTMMU_ACCESS_WRITE;
	struct eptmmu_run run;
	u64 p, page;
	u32 i, n;
	int r;

	for (p = 0; p < v->npages; p += n) {
		n = v->npages - p < BATCH ? v->npages - p : BATCH;
		for (i = 0; i < n; i++) {
			page = v->first + p + i;
			a[i] = access_of(kind, GPA_BASE + page * PAGE_SIZE, 8,
					 value_of(page, tag));
		}
		r = run_vcpu(v->fd, a, n, &run);
		if (r || run.exit_reason != EPTMMU_EXIT_DONE || run.done != n) {
			snprintf(v->why, sizeof(v->why),
				 "EPTMMU_RUN: %s, exit %s at gpa %#llx (done %u/%u, errno %u)",
				 r ? strerror(-r) : "ran",
				 exit_name(run.exit_reason), run.exit_gpa,
				 run.done, n, run.exit_errno);
			return false;
		}
		v->stats = run.stats;
		/* A wrong value would make every figure meaningless. */
		for (i = 0; kind == EPTMMU_ACCESS_READ && i < n; i++) {
			page = v->first + p + i;
			if (a[i].value != value_of(page, tag)) {
				snprintf(v->why, sizeof(v->why),
					 "gpa %#llx read %#llx, the guest wrote %#llx",
					 a[i].gpa, a[i].value,
					 value_of(page, tag));
				return false;
			}
		}
		atomic_store_explicit(&v->progress, p + n,
				      memory_order_relaxed);
	}
	return true;
}

static void *vcpu_thread(void *arg)
{
	struct eptmmu_access *a = calloc(BATCH, sizeof(*a));
	struct vcpu *v = arg;
	unsigned long seen = 0;
	enum work work;
	u64 tag, t0;

	if (!a)
		die("calloc");
	for (;;) {
		pthread_mutex_lock(&ctl.lock);
		while (ctl.seq == seen)
			pthread_cond_wait(&ctl.start, &ctl.lock);
		seen = ctl.seq;
		work = ctl.work;
		tag = ctl.tag;
		pthread_mutex_unlock(&ctl.lock);
		if (work == WORK_EXIT)
			break;

		t0 = now_ns();
		if (!v->failed && !sweep(v, work, tag, a))
			v->failed = true;
		v->ns = now_ns() - t0;

		pthread_mutex_lock(&ctl.lock);
		if (++ctl.ndone == opt.vcpus)
			pthread_cond_signal(&ctl.done);
		pthread_mutex_unlock(&ctl.lock);
	}
	free(a);
	return NULL;
}

static void progress(const char *what, const char *unit, u64 t0, u64 done,
		     u64 total, u64 *last)
{
	u64 t = now_ns();

	if (opt.quiet || t - t0 < PROGRESS_NS || t - *last < PROGRESS_NS)
		return;
	*last = t;
	fprintf(stderr, "eptmmu_perf: %s: %llu of %llu %s (%.0f%%) in %.1f s\n",
		what, (unsigned long long)done, (unsigned long long)total, unit,
		100.0 * done / total, (t - t0) / 1e9);
}

static void sum_vcpu_stats(struct eptmmu_vcpu_stats *s)
{
	unsigned int i;

	memset(s, 0, sizeof(*s));
	for (i = 0; i < opt.vcpus; i++) {
		const struct eptmmu_vcpu_stats *x = &vcpus[i].stats;

		s->accesses += x->accesses;
		s->faults += x->faults;
		s->fast_fixed_wp += x->fast_fixed_wp;
		s->fast_fixed_acc += x->fast_fixed_acc;
		s->fast_fallbacks += x->fast_fallbacks;
		s->slow_faults += x->slow_faults;
		s->slow_retries += x->slow_retries;
		s->tlb_flushes += x->tlb_flushes;
	}
}

static struct phase *phase_begin(const char *name, const char *label,
				 unsigned int iter)
{
	struct phase *ph;

	if (nphases == maxphases)
		die("phase table full");
	ph = &phases[nphases++];
	memset(ph, 0, sizeof(*ph));
	ph->name = name;
	ph->label = label;
	ph->iter = iter;
	sum_vcpu_stats(&ph->v0);
	xvm_stats(vm, &ph->s0);
	return ph;
}

static void phase_end(struct phase *ph, u64 wall_ns, u64 pages)
{
	ph->wall_ns = wall_ns;
	ph->pages = pages;
	sum_vcpu_stats(&ph->v1);
	xvm_stats(vm, &ph->s1);
}

/* All vCPUs sweep their slices once; exits on a vCPU's failure. */
static void run_vcpus(const char *name, const char *label, unsigned int iter,
		      enum work work, u64 tag)
{
	struct eptmmu_fault_latency l0, l1;
	struct phase *ph = phase_begin(name, label, iter);
	struct timespec ts;
	u64 t0, wall, done, last = 0;
	unsigned int i;
	bool failed = false;

	if (have_lat)
		have_lat = get_latency(&l0);
	for (i = 0; i < opt.vcpus; i++)
		atomic_store(&vcpus[i].progress, 0);
	t0 = now_ns();
	pthread_mutex_lock(&ctl.lock);
	ctl.ndone = 0;
	ctl.work = work;
	ctl.tag = tag;
	ctl.seq++;
	pthread_cond_broadcast(&ctl.start);
	while (ctl.ndone < opt.vcpus) {
		/* CLOCK_REALTIME: the condition variable's default clock. */
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&ctl.done, &ctl.lock, &ts);
		if (ctl.ndone == opt.vcpus)
			break;
		for (i = 0, done = 0; i < opt.vcpus; i++)
			done += atomic_load_explicit(&vcpus[i].progress,
						     memory_order_relaxed);
		progress(label, "pages", t0, done, npages, &last);
	}
	pthread_mutex_unlock(&ctl.lock);
	wall = now_ns() - t0;

	ph->ran_vcpus = true;
	ph->vcpu_min_ns = ~0ULL;
	for (i = 0; i < opt.vcpus; i++) {
		struct vcpu *v = &vcpus[i];

		if (v->failed) {
			fprintf(stderr, "eptmmu_perf: %s: vCPU %u: %s\n", label,
				i, v->why);
			failed = true;
		}
		if (v->ns < ph->vcpu_min_ns)
			ph->vcpu_min_ns = v->ns;
		if (v->ns > ph->vcpu_max_ns)
			ph->vcpu_max_ns = v->ns;
	}
	phase_end(ph, wall, npages);
	if (failed)
		exit(1);
	if (have_lat && get_latency(&l1))
		lat_account(name, label, &l0, &l1);
}

/* ---- dirty logging ---- */

static u64 log_flags(bool on)
{
	if (!on)
		return 0;
	return EPTMMU_MEM_LOG_DIRTY_PAGES |
	       (opt.dbit ? EPTMMU_MEM_DIRTY_LOG_DBIT : 0) |
	       (opt.initially_set ? EPTMMU_MEM_DIRTY_LOG_INITIALLY_SET : 0);
}

static void toggle_log(bool on)
{
	struct phase *ph = on ? phase_begin("enable_log", "enable dirty log", 0) :
				phase_begin("disable_log", "disable dirty log", 0);
	u64 t0 = now_ns();
	int r;

	r = set_memslot(vm, 0, log_flags(on), GPA_BASE, npages * PAGE_SIZE,
			mem);
	phase_end(ph, now_ns() - t0, npages);
	if (r) {
		errno = -r;
		die("EPTMMU_SET_MEMSLOT %s dirty logging", on ? "enabling" : "disabling");
	}
}

static int log_ioctl(unsigned long cmd, u32 flags, u64 first, u64 num,
		     u64 *bm)
{
	struct eptmmu_dirty_log log = {
		.slot = 0,
		.flags = flags,
		.first_page = first,
		.num_pages = num,
		.bitmap = (uintptr_t)bm,
	};

	return ioctl(vm, cmd, &log) ? -errno : 0;
}

static u64 popcount_bm(const u64 *bm, u64 words)
{
	u64 n = 0, w;

	for (w = 0; w < words; w++)
		n += __builtin_popcountll(bm[w]);
	return n;
}

/*
 * The floor for any MMU pass over this run's leaf SPTEs (one per 4K page
 * while logging): read as many u64s in this guest, from memory already
 * touched.  Clearing the dirty log can be compared with it.
 */
static void spte_pass(void)
{
	volatile u64 sink;
	u64 *a = malloc(npages * sizeof(*a)), sum = 0, i, t0;
	struct phase *ph;

	if (!a)
		die("malloc");
	memset(a, 1, npages * sizeof(*a));
	ph = phase_begin("spte_pass", "u64 pass (SPTE bound)", 0);
	t0 = now_ns();
	for (i = 0; i < npages; i++)
		sum += a[i];
	phase_end(ph, now_ns() - t0, npages);
	sink = sum;
	(void)sink;
	free(a);
}

static void harvest(unsigned int iter, u64 *bm)
{
	u64 words = (npages + 63) / 64, t0, dirty;
	struct phase *ph;
	int r;

	memset(bm, 0, words * 8);
	ph = phase_begin("get_log", "get dirty log", iter);
	t0 = now_ns();
	r = log_ioctl(EPTMMU_GET_DIRTY_LOG,
		      opt.manual ? EPTMMU_DIRTY_LOG_NO_CLEAR : 0, 0, 0, bm);
	phase_end(ph, now_ns() - t0, 0);
	if (r) {
		errno = -r;
		die("EPTMMU_GET_DIRTY_LOG");
	}
	/* Every page was written since the last harvest. */
	dirty = popcount_bm(bm, words);
	ph->pages = dirty;
	if (dirty != npages)
		fprintf(stderr, "eptmmu_perf: iteration %u: the log has %llu dirty pages, the vCPUs wrote %llu\n",
			iter, (unsigned long long)dirty,
			(unsigned long long)npages);
	if (!opt.manual)
		return;

	/* As a migration does after copying the pages it harvested. */
	ph = phase_begin("clear_log", "clear dirty log", iter);
	t0 = now_ns();
	r = log_ioctl(EPTMMU_CLEAR_DIRTY_LOG, 0, 0, npages, bm);
	phase_end(ph, now_ns() - t0, dirty);
	if (r) {
		errno = -r;
		die("EPTMMU_CLEAR_DIRTY_LOG");
	}
}

/* ---- aging through idle page tracking ---- */

struct idle {
	int fd;
	u64 *pfn;	/* of each guest page (0: not present) */
	u64 npfn;	/* present ones */
	u64 *words;	/* bitmap words covering them, sorted, unique */
	u64 nwords;
	u64 *bits;	/* read back, parallel to words */
};

static int cmp_u64(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

/* Why aging cannot be measured here, or NULL once @id is set up. */
static const char *idle_setup(struct idle *id)
{
	static char why[160];
	u64 i, n = 0;
	int fd;

	memset(id, 0, sizeof(*id));
	id->fd = open(PAGE_IDLE, O_RDWR | O_CLOEXEC);
	if (id->fd < 0) {
		snprintf(why, sizeof(why), "%s: %s", PAGE_IDLE, strerror(errno));
		return why;
	}
	id->pfn = calloc(npages, 8);
	id->words = calloc(npages, 8);
	id->bits = calloc(npages, 8);
	if (!id->pfn || !id->words || !id->bits)
		die("calloc");
	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || pread(fd, id->pfn, npages * 8,
			    (uintptr_t)mem / PAGE_SIZE * 8) != (ssize_t)(npages * 8)) {
		snprintf(why, sizeof(why), "/proc/self/pagemap: %s",
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		return why;
	}
	close(fd);
	for (i = 0; i < npages; i++) {
		id->pfn[i] = id->pfn[i] & PM_PRESENT ? id->pfn[i] & PM_PFN_MASK : 0;
		if (id->pfn[i])
			id->words[n++] = id->pfn[i] / 64;
	}
	if (!n)
		return "/proc/self/pagemap shows no PFNs (not root?)";
	id->npfn = n;
	qsort(id->words, n, 8, cmp_u64);
	for (i = 1, id->nwords = 1; i < n; i++)
		if (id->words[i] != id->words[id->nwords - 1])
			id->words[id->nwords++] = id->words[i];
	return NULL;
}

/*
 * Write all-ones (mark idle) or read every bitmap word of the guest's
 * pages, in runs of consecutive words.  A word also covers up to 63
 * neighbouring PFNs that are not ours; marking them too costs little and
 * keeps each call a plain run.  Each word is read once: a read ages the
 * pages it reports, so reading it twice would age them twice.
 */
static void idle_io(struct idle *id, bool write, const char *label, u64 t0)
{
	static u64 ones[IDLE_CHUNK];
	u64 i = 0, n, last = 0;
	ssize_t r;

	memset(ones, 0xff, sizeof(ones));
	while (i < id->nwords) {
		for (n = 1; i + n < id->nwords && n < IDLE_CHUNK &&
		     id->words[i + n] == id->words[i] + n; n++)
			;
		if (write)
			r = pwrite(id->fd, ones, n * 8, id->words[i] * 8);
		else
			r = pread(id->fd, &id->bits[i], n * 8, id->words[i] * 8);
		if (r <= 0 || r % 8)
			die("%s %s at PFN %#llx", write ? "writing" : "reading",
			    PAGE_IDLE, (unsigned long long)id->words[i] * 64);
		/* A short transfer: go on from where it stopped. */
		i += r / 8;
		progress(label, "bitmap words", t0, i, id->nwords, &last);
	}
}

static bool pfn_idle(const struct idle *id, u64 pfn)
{
	u64 lo = 0, hi = id->nwords, mid;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (id->words[mid] < pfn / 64)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < id->nwords && id->words[lo] == pfn / 64 &&
	       (id->bits[lo] >> (pfn % 64) & 1);
}

/* Returns the pages still idle after the re-read, or -1 if not run. */
static long long age_and_reread(u64 tag)
{
	const char *why;
	struct idle id;
	struct phase *ph;
	long long still_idle = 0;
	u64 t0, i;

	why = idle_setup(&id);
	if (why && !opt.csv)
		printf("aging skipped: %s\n", why);
	else if (why)
		fprintf(stderr, "eptmmu_perf: aging skipped: %s\n", why);
	if (!why) {
		ph = phase_begin("age_mark", "age: mark idle", 0);
		t0 = now_ns();
		idle_io(&id, true, "age: mark idle", t0);
		phase_end(ph, now_ns() - t0, id.npfn);
	}

	run_vcpus("reread", "re-read after aging", 0, WORK_READ, tag);

	if (!why) {
		ph = phase_begin("age_check", "age: read idle", 0);
		t0 = now_ns();
		idle_io(&id, false, "age: read idle", t0);
		phase_end(ph, now_ns() - t0, id.npfn);
		for (i = 0; i < npages; i++)
			still_idle += id.pfn[i] && pfn_idle(&id, id.pfn[i]);
	}
	if (id.fd >= 0)
		close(id.fd);
	free(id.pfn);
	free(id.words);
	free(id.bits);
	return why ? -1 : still_idle;
}

/* ---- output ---- */

static double secs(u64 ns)
{
	return ns / 1e9;
}

static double gib(u64 pages)
{
	return pages * (double)PAGE_SIZE / (1ULL << 30);
}

#define D(f)	((long long)(ph->s1.f - ph->s0.f))
#define DV(f)	((unsigned long long)(ph->v1.f - ph->v0.f))

static const char *csv_header =
	"type,ept_ad,vcpus,bytes_per_vcpu,backing,dirty_mode,manual,iterations,"
	"name,kind,iter,wall_s,vcpu_min_s,vcpu_max_s,pages,pages_per_s,gib_per_s,"
	"faults,fast_wp,fast_acc,slow,tables,maps_4k,maps_2m,splits,zapped,"
	"tlb_flushes,aging_passes,aged_young,"
	"count,mean_ns,p50_ns,p99_ns,hist";

static void csv_config(bool ept_ad)
{
	printf("%s,%u,%llu,%s,%s,%d,%u,", ept_ad ? "on" : "off", opt.vcpus,
	       (unsigned long long)opt.bytes, backing_name[opt.backing],
	       opt.dbit ? "dbit" : "wp", opt.manual + opt.initially_set,
	       opt.iters);
}

static void csv_latency(bool ept_ad, const char *name,
			const struct eptmmu_fault_latency *lat, int k)
{
	const char *sep = "";
	int b;

	printf("latency,");
	csv_config(ept_ad);
	printf("%s,%s,0,,,,,,,,,,,,,,,,,,,", name, kind_name[k]);
	printf("%llu,%.1f,%.1f,%.1f,", (unsigned long long)lat->count[k],
	       lat->count[k] ? (double)lat->total_ns[k] / lat->count[k] : 0,
	       median_ns(lat, k), hist_quantile(lat->hist[k], lat->count[k], 0.99));
	/* bucket:count pairs, ';'-separated so the field has no comma */
	for (b = 0; b < EPTMMU_LAT_BUCKETS; b++) {
		if (!lat->hist[k][b])
			continue;
		printf("%s%d:%llu", sep, b, (unsigned long long)lat->hist[k][b]);
		sep = ";";
	}
	printf("\n");
}

static void print_csv(bool ept_ad, const struct eptmmu_fault_latency *lat)
{
	unsigned int i;
	int k;

	printf("%s\n", csv_header);
	for (i = 0; i < nphases; i++) {
		const struct phase *ph = &phases[i];
		double s = secs(ph->wall_ns);

		printf("phase,");
		csv_config(ept_ad);
		printf("%s,,%u,%.6f,", ph->name, ph->iter, s);
		if (ph->ran_vcpus)
			printf("%.6f,%.6f,", secs(ph->vcpu_min_ns),
			       secs(ph->vcpu_max_ns));
		else
			printf(",,");
		printf("%llu,%.1f,%.4f,", (unsigned long long)ph->pages,
		       s > 0 ? ph->pages / s : 0, s > 0 ? gib(ph->pages) / s : 0);
		printf("%llu,%llu,%llu,%llu,", DV(faults), DV(fast_fixed_wp),
		       DV(fast_fixed_acc), DV(slow_faults));
		printf("%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld,,,,,\n",
		       D(tables), D(maps_4k), D(maps_2m), D(splits), D(zapped),
		       D(tlb_flushes), D(aging_passes), D(aged_young));
	}
	if (!lat)
		return;
	/* The whole run: every kind, so each run has the same lines. */
	for (k = 0; k < EPTMMU_FAULT_KINDS; k++)
		csv_latency(ept_ad, "all", lat, k);
	for (i = 0; i < nlat_groups; i++)
		for (k = 0; k < EPTMMU_FAULT_KINDS; k++)
			if (lat_groups[i].lat.count[k])
				csv_latency(ept_ad, lat_groups[i].name,
					    &lat_groups[i].lat, k);
}

static void print_latency(const char *label,
			  const struct eptmmu_fault_latency *lat)
{
	int k;

	for (k = 0; k < EPTMMU_FAULT_KINDS; k++) {
		if (!lat->count[k])
			continue;
		printf("%-22s %-19s %9llu %10.0f %11.0f %11.0f\n", label,
		       kind_label[k], (unsigned long long)lat->count[k],
		       (double)lat->total_ns[k] / lat->count[k],
		       median_ns(lat, k),
		       hist_quantile(lat->hist[k], lat->count[k], 0.99));
		label = "";
	}
}

static void print_human(const struct eptmmu_fault_latency *lat,
			long long still_idle)
{
	struct eptmmu_vm_stats tot0 = phases[0].s0, tot1;
	unsigned int i;
	double x;

	printf("\n%-22s %4s %9s %19s %9s %11s %8s\n", "phase", "iter",
	       "wall s", "vCPU s (min..max)", "pages", "pages/s", "GiB/s");
	for (i = 0; i < nphases; i++) {
		const struct phase *ph = &phases[i];
		double s = secs(ph->wall_ns);
		char it[12] = "-", vs[32] = "-";

		if (ph->iter)
			snprintf(it, sizeof(it), "%u", ph->iter);
		if (ph->ran_vcpus)
			snprintf(vs, sizeof(vs), "%.4f..%.4f",
				 secs(ph->vcpu_min_ns), secs(ph->vcpu_max_ns));
		printf("%-22s %4s %9.4f %19s %9llu %11.0f %8.3f\n", ph->label, it,
		       s, vs, (unsigned long long)ph->pages,
		       s > 0 ? ph->pages / s : 0, s > 0 ? gib(ph->pages) / s : 0);
	}

	/* Deltas over each phase: vCPU counters, then the VM's. */
	printf("\n%-22s %4s %7s %7s %7s %7s %7s %6s %7s %7s %6s %6s\n",
	       "phase", "iter", "faults", "fast wp", "fastacc", "slow",
	       "tables", "splits", "zapped", "flushes", "aging", "young");
	for (i = 0; i < nphases; i++) {
		const struct phase *ph = &phases[i];
		char it[12] = "-";

		if (ph->iter)
			snprintf(it, sizeof(it), "%u", ph->iter);
		printf("%-22s %4s %7llu %7llu %7llu %7llu %+7lld %6lld %7lld %7lld %6lld %6lld\n",
		       ph->label, it, DV(faults), DV(fast_fixed_wp),
		       DV(fast_fixed_acc), DV(slow_faults), D(tables), D(splits),
		       D(zapped), D(tlb_flushes), D(aging_passes), D(aged_young));
	}
	tot1 = phases[nphases - 1].s1;
	printf("aging takes no mmu_lock (lockless by construction); over the run: %llu aging passes, %llu young leaves aged\n",
	       tot1.aging_passes - tot0.aging_passes,
	       tot1.aged_young - tot0.aged_young);
	for (i = 0; i < nphases; i++) {
		const struct phase *ph = &phases[i];

		if (strcmp(ph->name, "age_mark"))
			continue;
		if (!D(aging_passes))
			printf("page_idle aged none of the guest's pages: it only reaches pages on an LRU list (hugetlb pages are not)\n");
		else if (still_idle > 0)
			printf("%lld of %llu guest pages still read idle after the re-read: aging does not flush, so an access through a translation the vCPU's TLB kept sets no accessed state\n",
			       still_idle, (unsigned long long)npages);
		else
			printf("after the re-read no guest page reads idle: every access reached the SPTEs\n");
	}

	if (!lat) {
		printf("\nfault latency: this eptmmu has no EPTMMU_GET_FAULT_LATENCY\n");
		return;
	}
	printf("\nfault latency in the kernel's handler, all vCPUs (~median, ~p99: estimates from log2-ns buckets)\n");
	printf("%-22s %-19s %9s %10s %11s %11s\n", "phase", "kind", "count",
	       "mean ns", "~median ns", "~p99 ns");
	print_latency("whole run", lat);
	for (i = 0; i < nlat_groups; i++)
		print_latency(lat_groups[i].label, &lat_groups[i].lat);

	/*
	 * The slow path on first touch, against the fast paths: what a fault
	 * costs that the fast path keeps off mmu_lock and GUP.
	 */
	x = speedup("populate", "dirty", EPTMMU_FAULT_FAST_WP);
	if (x)
		printf("fast path speedup: median(slow 4K) / median(fast WP) = %.1fx (slow 4K of populate, fast WP of dirty memory)\n",
		       x);
	else
		printf("fast path speedup: n/a (no slow 4K faults in populate or no fast WP faults in dirty memory)\n");
	x = speedup("refault", "dirty", EPTMMU_FAULT_FAST_WP);
	if (x)
		printf("  against the slow 4K re-maps of the touch after disable (host page present): %.1fx\n",
		       x);
	x = speedup("populate", "reread", EPTMMU_FAULT_FAST_ACC);
	if (x)
		printf("access-track fast path: median(slow 4K of populate) / median(fast access-track of the re-read) = %.1fx\n",
		       x);
}

#undef D
#undef DV

/*
 * A guest whose TSC is unusable (QEMU/TCG on a busy host can fail the
 * calibration) falls back to jiffies: every phase time is then a multiple
 * of the tick.  Say so rather than print precise-looking numbers.
 */
static void warn_coarse_clock(void)
{
	struct timespec res;

	if (!clock_getres(CLOCK_MONOTONIC, &res) &&
	    (res.tv_sec || res.tv_nsec > 1000))
		fprintf(stderr, "eptmmu_perf: warning: CLOCK_MONOTONIC resolution is %.3f ms: phase times are that coarse (no usable TSC?)\n",
			res.tv_sec * 1e3 + res.tv_nsec / 1e6);
}

/* No fault handler takes under 2 ns: bucket 0 means the clock stood still. */
static void warn_coarse_latency(const struct eptmmu_fault_latency *lat)
{
	u64 all = 0, zero = 0;
	int k;

	for (k = 0; k < EPTMMU_FAULT_KINDS; k++) {
		all += lat->count[k];
		zero += lat->hist[k][0];
	}
	if (zero * 2 > all)
		fprintf(stderr, "eptmmu_perf: warning: %llu of %llu faults took under 2 ns: the kernel's clock is coarse (no usable TSC?), latencies are meaningless\n",
			(unsigned long long)zero, (unsigned long long)all);
}

/* The process's view must hold what the guest wrote last. */
static bool check_memory(u64 tag)
{
	u64 i;

	for (i = 0; i < npages; i++) {
		if (mem[i * PAGE_SIZE / 8] != value_of(i, tag)) {
			fprintf(stderr, "eptmmu_perf: page %llu holds %#llx, the guest wrote %#llx\n",
				(unsigned long long)i,
				(unsigned long long)mem[i * PAGE_SIZE / 8],
				(unsigned long long)value_of(i, tag));
			return false;
		}
	}
	return true;
}

/* ---- -R: the cost of a harvest, the bitmap beside the dirty ring ---- */

/* Pages of the "pct 0" set, whatever the size: the bitmap's fixed cost. */
#define HC_FEW		64

/*
 * A set of @pct % of the pages, spread evenly: every (100 / @pct)-th;
 * for @pct 0, HC_FEW pages spread over the slot.
 * Each pass writes each page of the set once, after the harvest before
 * re-protected it: every write faults, and the log holds the set exactly.
 */
struct hc_set {
	struct eptmmu_access *acc;
	u64 n;
};

static void hc_set_make(struct hc_set *s, unsigned int pct, u64 tag)
{
	u64 stride = pct ? 100 / pct : npages / HC_FEW, i;

	s->n = npages / stride;
	s->acc = calloc(s->n ? s->n : 1, sizeof(*s->acc));
	if (!s->acc)
		die("calloc");
	for (i = 0; i < s->n; i++)
		s->acc[i] = access_of(EPTMMU_ACCESS_WRITE,
				      GPA_BASE + i * stride * PAGE_SIZE, 8, tag);
}

static void hc_count(u32 slot, u64 off, void *arg)
{
	u64 *n = arg;

	(void)slot;
	(void)off;
	(*n)++;
}

/* Collect the ring and reset it: the ring's harvest.  Entries, or die. */
static u64 hc_ring_harvest(int vmfd, struct dring *ring)
{
	u64 n = 0;
	int r;

	dring_collect(ring, hc_count, &n);
	r = reset_dirty_rings(vmfd);
	if (r < 0 || (u64)r != n)
		die("RESET_DIRTY_RINGS returned %d for %llu entries", r, n);
	return n;
}

/*
 * One pass over @s; with @ring, each ring-full exit is harvested on the
 * way (its time is the harvest's, as a VMM's would be).  Return the ns
 * spent harvesting so far and add the entries to @found.
 */
static u64 hc_dirty(int vcpufd, int vmfd, struct dring *ring,
		    const struct hc_set *s, u64 *found, u64 *full)
{
	struct eptmmu_run run;
	u64 done = 0, ns = 0, t0;
	u32 n;
	int r;

	while (done < s->n) {
		n = s->n - done > BATCH ? BATCH : s->n - done;
		r = run_vcpu(vcpufd, s->acc + done, n, &run);
		if (r)
			die("EPTMMU_RUN: %s", strerror(-r));
		done += run.done;
		if (run.exit_reason == EPTMMU_EXIT_DONE)
			continue;
		if (!ring || run.exit_reason != EPTMMU_EXIT_RING_FULL)
			die("EPTMMU_RUN exit %s at gpa %#llx",
			    exit_name(run.exit_reason), run.exit_gpa);
		(*full)++;
		t0 = now_ns();
		*found += hc_ring_harvest(vmfd, ring);
		ns += now_ns() - t0;
	}
	return ns;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * One configuration: a VM of -b bytes, populated, logging by write
 * protection; a warm-up pass, then -i timed passes, each a dirty pass of
 * the set and its harvest: GET with NO_CLEAR plus CLEAR (manual protect,
 * what a migration does), or collecting the ring and resetting it.
 */
static bool hc_run(int devfd, bool ring, unsigned int pct, bool ept_ad)
{
	u64 words = (npages + 63) / 64, found, full = 0, ns, t0, tag = 1;
	double *s = calloc(opt.iters, sizeof(double)), med;
	struct dring dr = { 0 };
	struct hc_set all, set;
	u64 *bm = calloc(words, 8);
	unsigned int it;
	bool ok = true;
	int vmfd, vcpufd, r;

	if (!s || !bm)
		die("calloc");
	vmfd = xcreate_vm(devfd);
	if (ring && enable_dirty_ring(vmfd, EPTMMU_DIRTY_RING_MAX_ENTRIES))
		die("EPTMMU_ENABLE_DIRTY_RING");
	r = set_memslot(vmfd, 0, 0, GPA_BASE, npages * PAGE_SIZE, mem);
	if (r)
		die("EPTMMU_SET_MEMSLOT: %s", strerror(-r));
	vcpufd = xcreate_vcpu(vmfd);
	if (ring && dring_map(&dr, vcpufd, EPTMMU_DIRTY_RING_MAX_ENTRIES))
		die("mmap of the dirty ring");
	hc_set_make(&all, 100, tag);
	found = 0;
	hc_dirty(vcpufd, vmfd, NULL, &all, &found, &full);
	free(all.acc);
	r = set_memslot(vmfd, 0, EPTMMU_MEM_LOG_DIRTY_PAGES, GPA_BASE,
			npages * PAGE_SIZE, mem);
	if (r)
		die("turning logging on: %s", strerror(-r));
	for (it = 0; it <= opt.iters; it++) {
		hc_set_make(&set, pct, ++tag);
		found = 0;
		ns = hc_dirty(vcpufd, vmfd, ring ? &dr : NULL, &set, &found,
			      &full);
		t0 = now_ns();
		if (ring) {
			found += hc_ring_harvest(vmfd, &dr);
		} else {
			r = dirty_log_ioctl(vmfd, EPTMMU_GET_DIRTY_LOG, 0,
					    EPTMMU_DIRTY_LOG_NO_CLEAR, 0, 0, bm);
			if (!r)
				r = dirty_log_ioctl(vmfd, EPTMMU_CLEAR_DIRTY_LOG,
						    0, 0, 0, npages, bm);
			if (r)
				die("GET/CLEAR_DIRTY_LOG: %s", strerror(-r));
			found = bitmap_count(bm, words);
		}
		ns += now_ns() - t0;
		/* Pass 0 warms up (its log also holds the populate's pages). */
		if (it && found != set.n) {
			fprintf(stderr, "eptmmu_perf: %s %u%%: harvested %llu pages, %llu were written\n",
				ring ? "ring" : "bitmap", pct, found, set.n);
			ok = false;
		}
		if (it)
			s[it - 1] = ns / 1e9;
		free(set.acc);
	}
	qsort(s, opt.iters, sizeof(double), cmp_double);
	med = opt.iters % 2 ? s[opt.iters / 2] :
	      (s[opt.iters / 2 - 1] + s[opt.iters / 2]) / 2;
	if (opt.csv)
		printf("harvest,%s,%s,%u,%llu,%llu,%u,%.6f,%.6f,%.6f,%.1f,%llu\n",
		       ept_ad ? "on" : "off", ring ? "ring" : "bitmap", pct,
		       (unsigned long long)(npages * PAGE_SIZE), set.n,
		       opt.iters, med, s[0], s[opt.iters - 1],
		       set.n ? med * 1e9 / set.n : 0.0, full);
	else
		printf("  %-7s %3u%%  %9llu  %12.3f  %12.1f  %10.1f  %8llu\n",
		       ring ? "ring" : "bitmap", pct, set.n, med * 1e3,
		       set.n ? med * 1e9 / set.n : 0.0,
		       med / (npages * PAGE_SIZE / (double)(1ULL << 30)) * 1e3,
		       full);
	dring_unmap(&dr);
	close(vcpufd);
	close(vmfd);
	free(bm);
	free(s);
	return ok;
}

/*
 * -R: what one harvest costs for a sparse (1 %) and a dense (50 %) dirty
 * set, and for HC_FEW pages whatever the size (shown as 0 %), the
 * bitmap's GET + CLEAR beside the ring's collect + reset, so that
 * "the ring's cost follows the pages dirtied, the bitmap's the memslot's
 * size" is a measured figure.
 */
static int harvest_cost_main(void)
{
	static const unsigned int pcts[] = { 0, 1, 50 };
	struct eptmmu_vm_stats st;
	int devfd = xopen_dev(), probe;
	bool ok = true;
	unsigned int p;

	probe = xcreate_vm(devfd);
	xvm_stats(probe, &st);
	close(probe);
	npages = opt.bytes / PAGE_SIZE;
	map_memory();
	if (opt.csv)
		printf("harvest_fields,ept_ad,log,dirty_pct,bytes,pages_dirty,iters,median_s,min_s,max_s,ns_per_dirty_page,ring_full_exits\n");
	else
		printf("eptmmu_perf -R: harvest cost over %llu MiB (%llu pages), ept_ad=%s, write protection, 1 vCPU, median of %u\n"
		       "  log     dirty  pages      harvest ms  ns/dirty page  ms per GiB  ring-full\n",
		       (unsigned long long)(opt.bytes >> 20), npages,
		       st.ept_ad ? "on" : "off", opt.iters);
	for (p = 0; p < ARRAY_SIZE(pcts); p++) {
		ok &= hc_run(devfd, false, pcts[p], st.ept_ad);
		ok &= hc_run(devfd, true, pcts[p], st.ept_ad);
	}
	close(devfd);
	munmap(mem, maplen);
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct eptmmu_fault_latency lat;
	struct eptmmu_vm_stats st;
	long long still_idle;
	bool ok;
	unsigned int i, it;
	u64 *bm, tag = 1;
	int devfd, r;

	parse_args(argc, argv);
	setvbuf(stdout, NULL, _IOLBF, 0);
	warn_coarse_clock();
	if (opt.harvest_cost)
		return harvest_cost_main();
	npages = opt.bytes / PAGE_SIZE * opt.vcpus;

	devfd = xopen_dev();
	vm = xcreate_vm(devfd);
	xvm_stats(vm, &st);
	if (opt.dbit && !st.ept_ad) {
		fprintf(stderr, "eptmmu_perf: -m dbit needs EPT A/D bits, and this VM uses access tracking (insmod eptmmu ept_ad=on)\n");
		return 2;
	}
	map_memory();
	r = set_memslot(vm, 0, 0, GPA_BASE, npages * PAGE_SIZE, mem);
	if (r) {
		errno = -r;
		die("EPTMMU_SET_MEMSLOT");
	}
	bm = calloc((npages + 63) / 64, 8);
	maxphases = 3 * opt.iters + 10;
	phases = calloc(maxphases, sizeof(*phases));
	vcpus = calloc(opt.vcpus, sizeof(*vcpus));
	if (!bm || !phases || !vcpus)
		die("calloc");
	for (i = 0; i < opt.vcpus; i++) {
		struct vcpu *v = &vcpus[i];

		v->fd = xcreate_vcpu(vm);
		v->first = opt.bytes / PAGE_SIZE * i;
		v->npages = opt.bytes / PAGE_SIZE;
		if (pthread_create(&v->th, NULL, vcpu_thread, v))
			die("pthread_create");
	}
	if (!opt.csv)
		printf("eptmmu_perf: ept_ad=%s (%s), %u vCPU%s x %llu MiB, %s backing, dirty log by %s, %s clear, %u iteration%s\n",
		       st.ept_ad ? "on" : "off",
		       st.ept_ad ? "EPT A/D bits" : "access tracking",
		       opt.vcpus, opt.vcpus > 1 ? "s" : "",
		       (unsigned long long)(opt.bytes >> 20),
		       backing_name[opt.backing],
		       opt.dbit ? "EPT D bits" : "write protection",
		       opt.initially_set ? "manual (initially set)" :
		       opt.manual ? "manual" : "automatic", opt.iters,
		       opt.iters > 1 ? "s" : "");

	run_vcpus("populate", "populate", 0, WORK_WRITE, tag);
	toggle_log(true);
	for (it = 1; it <= opt.iters; it++) {
		run_vcpus("dirty", "dirty memory", it, WORK_WRITE, ++tag);
		harvest(it, bm);
	}
	spte_pass();
	toggle_log(false);
	/*
	 * Aging needs mapped pages, and turning logging off may have zapped
	 * them (so huge pages can come back): the guest writes once more.
	 */
	run_vcpus("refault", "touch after disable", 0, WORK_WRITE, ++tag);
	still_idle = age_and_reread(tag);

	if (have_lat)
		have_lat = get_latency(&lat);
	if (have_lat)
		warn_coarse_latency(&lat);
	if (opt.csv)
		print_csv(st.ept_ad, have_lat ? &lat : NULL);
	else
		print_human(have_lat ? &lat : NULL, still_idle);

	pthread_mutex_lock(&ctl.lock);
	ctl.work = WORK_EXIT;
	ctl.seq++;
	pthread_cond_broadcast(&ctl.start);
	pthread_mutex_unlock(&ctl.lock);
	for (i = 0; i < opt.vcpus; i++)
		pthread_join(vcpus[i].th, NULL);

	ok = check_memory(tag);
	if (!opt.csv)
		printf("\n%s\n", ok ? "guest writes and process memory agree" :
		       "FAILED: process memory differs from what the guest wrote");
	for (i = 0; i < opt.vcpus; i++)
		close(vcpus[i].fd);
	close(vm);
	close(devfd);
	munmap(mem, maplen);
	free(bm);
	free(phases);
	free(vcpus);
	return ok ? 0 : 1;
}
