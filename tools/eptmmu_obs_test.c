// SPDX-License-Identifier: GPL-2.0
/*
 * eptmmu_obs_test: the observability of eptmmu, checked against what the
 * test itself did.  TAP output.
 *
 *  - tracepoints (system "eptmmu", through tracefs): a known access
 *    pattern must produce exactly the events it implies, with the fields
 *    it implies (so many slow faults at these gpas, so many fast-path
 *    faults, these SPTE changes, one harvest of so many pages, ...);
 *  - the per-VM debugfs stat files, read by tools/eptmmu_stat, must agree
 *    with EPTMMU_GET_VM_STATS and EPTMMU_RUN's counters, and appear and
 *    disappear with their VMs.
 *
 * On a kernel without tracing (no tracefs) the trace tests skip, unless
 * -r says the kernel has it: then its absence is a failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib.h"

#define SLOT_GPA	0x40000000ULL	/* 1 GiB: 1G-aligned, below 4 GiB */
#define NPAGES		64
#define DEBUGFS_VMS	"/sys/kernel/debug/eptmmu"

static int devfd;
static char skip_why[160];
static struct {
	bool require_trace;
	const char *stat_tool;
} opt = { .stat_tool = "/eptmmu_stat" };

/* ---- tracefs ---- */

static const char *tracefs;

static const char *const events[] = {
	"eptmmu_fault_entry", "eptmmu_fault_result", "eptmmu_spte_changed",
	"eptmmu_zap_range", "eptmmu_tlb_flush", "eptmmu_dirty_log",
	"eptmmu_dirty_log_pages", "eptmmu_age", "eptmmu_split_huge",
	"eptmmu_huge_recreate", "eptmmu_vmx_exit",
};

/* tracefs, mounted if need be; NULL (and skip_why set) if there is none. */
static const char *find_tracefs(void)
{
	static const char *const dirs[] = {
		"/sys/kernel/tracing", "/sys/kernel/debug/tracing",
	};
	char path[128];
	size_t i;

	if (tracefs)
		return tracefs;
	for (i = 0; i < ARRAY_SIZE(dirs); i++) {
		snprintf(path, sizeof(path), "%s/events", dirs[i]);
		if (!access(path, F_OK))
			return tracefs = dirs[i];
	}
	if (!mount("nodev", dirs[0], "tracefs", 0, NULL))
		return tracefs = dirs[0];
	snprintf(skip_why, sizeof(skip_why),
		 "no tracefs (mount: %s): kernel without CONFIG_TRACING",
		 strerror(errno));
	return NULL;
}

static int tfs_write(const char *file, const char *s)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", tracefs, file);
	return write_file(path, s);
}

/* Opening the buffer with O_TRUNC empties it. */
static int trace_clear(void)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/trace", tracefs);
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

/* Enable every eptmmu event and start from an empty buffer. */
static bool trace_start(void)
{
	char file[128];
	size_t i;

	if (tfs_write("tracing_on", "0") ||
	    tfs_write("buffer_size_kb", "4096"))
		return false;
	for (i = 0; i < ARRAY_SIZE(events); i++) {
		snprintf(file, sizeof(file), "events/eptmmu/%s/enable", events[i]);
		if (tfs_write(file, "1")) {
			tap_diag("cannot enable %s", events[i]);
			return false;
		}
	}
	return !trace_clear() && !tfs_write("tracing_on", "1");
}

static void trace_stop(void)
{
	tfs_write("tracing_on", "0");
	tfs_write("events/eptmmu/enable", "0");
}

/* The events recorded since trace_clear(), one per line. */
struct rec {
	char event[32];
	char text[200];		/* what follows "event: " */
};

static struct rec *recs;
static int nrecs;
static bool lost;

/* Read the buffer into recs[], then clear it for the next phase. */
static void trace_collect(void)
{
	char path[256], line[512];
	FILE *f;

	free(recs);
	recs = NULL;
	nrecs = 0;
	lost = false;
	snprintf(path, sizeof(path), "%s/trace", tracefs);
	f = fopen(path, "re");
	if (!f)
		die("open %s", path);
	while (fgets(line, sizeof(line), f)) {
		char *p = strstr(line, ": eptmmu_"), *colon;
		struct rec *r;

		if (strstr(line, "LOST") && line[0] == '#')
			lost = true;
		if (!p)
			continue;
		p += 2;
		colon = strchr(p, ':');
		if (!colon)
			continue;
		recs = realloc(recs, (nrecs + 1) * sizeof(*recs));
		if (!recs)
			die("realloc");
		r = &recs[nrecs++];
		snprintf(r->event, sizeof(r->event), "%.*s", (int)(colon - p), p);
		snprintf(r->text, sizeof(r->text), "%s", colon + 2);
		r->text[strcspn(r->text, "\n")] = 0;
	}
	fclose(f);
	if (lost)
		tap_diag("the trace buffer lost events");
	trace_clear();
}

/* How many records of @event contain every one of the NULL-ended words. */
static int count_ev(const char *event, ...)
{
	int i, n = 0;

	for (i = 0; i < nrecs; i++) {
		const char *w;
		bool all = true;
		va_list ap;

		if (strcmp(recs[i].event, event))
			continue;
		va_start(ap, event);
		while ((w = va_arg(ap, const char *)))
			all &= strstr(recs[i].text, w) != NULL;
		va_end(ap);
		n += all;
	}
	return n;
}

static void dump_recs(const char *why)
{
	int i;

	tap_diag("%s: %d events", why, nrecs);
	for (i = 0; i < nrecs && i < 12; i++)
		tap_diag("  %s: %s", recs[i].event, recs[i].text);
}

/* Field @key's value in @text ("... key VALUE ..."), as a number. */
static bool field(const char *text, const char *key, unsigned long long *v)
{
	char pat[40];
	const char *p;

	snprintf(pat, sizeof(pat), "%s ", key);
	for (p = text; (p = strstr(p, pat)); p++) {
		if (p != text && p[-1] != ' ')
			continue;
		*v = strtoull(p + strlen(pat), NULL, 16);
		return true;
	}
	return false;
}

/*
 * Every @event record that contains @word has a distinct value of hex
 * field @key, in [lo, lo + n * step), on multiples of @step; returns how
 * many distinct values were seen, or -1 on one outside.
 */
static int distinct_in(const char *event, const char *word, const char *key,
		       unsigned long long lo, int n, unsigned long long step)
{
	static bool seen[4096];
	unsigned long long v;
	int i, k = 0;

	memset(seen, 0, sizeof(seen));
	for (i = 0; i < nrecs; i++) {
		if (strcmp(recs[i].event, event) || !strstr(recs[i].text, word))
			continue;
		if (!field(recs[i].text, key, &v) || v < lo ||
		    (v - lo) % step || (v - lo) / step >= (unsigned long long)n ||
		    n > (int)ARRAY_SIZE(seen)) {
			tap_diag("%s %s out of range: %s", event, key, recs[i].text);
			return -1;
		}
		if (!seen[(v - lo) / step]) {
			seen[(v - lo) / step] = true;
			k++;
		}
	}
	return k;
}

/* ---- VM helpers ---- */

struct vmctx {
	int vm, vcpu;
	void *mem;
	size_t size;
};

static bool vm_setup(struct vmctx *c, size_t size, size_t align, bool thp,
		     u32 flags)
{
	c->vm = xcreate_vm(devfd);
	c->vcpu = xcreate_vcpu(c->vm);
	c->size = size;
	c->mem = xmap(size, align);
	madvise(c->mem, size, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	memset(c->mem, 0x5a, size);
	if (setup_guest_code(c->vm, GUEST_CODE_SLOT, GUEST_CODE_GPA)) {
		tap_diag("setup_guest_code failed");
		return false;
	}
	if (set_memslot(c->vm, 0, flags, SLOT_GPA, size, c->mem)) {
		tap_diag("SET_MEMSLOT failed: %s", strerror(errno));
		return false;
	}
	return true;
}

static void vm_teardown(struct vmctx *c)
{
	close(c->vcpu);
	close_vm(c->vm);
	munmap(c->mem, c->size);
}

/* One access of @kind to each of pages [first, first + n) of the slot. */
static bool touch(struct vmctx *c, u8 kind, int first, int n,
		  struct eptmmu_run *run)
{
	struct eptmmu_access a[NPAGES];
	int i;

	for (i = 0; i < n; i++)
		a[i] = access_of(kind, SLOT_GPA + (u64)(first + i) * PAGE_SIZE,
				 8, i + 1);
	return run_all(c->vcpu, a, n, run, "touch");
}

static int set_logging(struct vmctx *c, bool on)
{
	return set_memslot(c->vm, 0, on ? EPTMMU_MEM_LOG_DIRTY_PAGES : 0,
			   SLOT_GPA, c->size, c->mem);
}

static bool need_tracefs(void)
{
	if (find_tracefs())
		return true;
	if (opt.require_trace)
		skip_why[0] = 0;	/* not a skip: a failure */
	tap_diag("%s", skip_why);
	return false;
}

/* ---- tests ---- */

static void test_events(void)
{
	char path[256];
	int missing = 0;
	size_t i;

	if (!need_tracefs())
		return;
	for (i = 0; i < ARRAY_SIZE(events); i++) {
		snprintf(path, sizeof(path), "%s/events/eptmmu/%s/format",
			 tracefs, events[i]);
		if (access(path, R_OK)) {
			tap_diag("missing %s", path);
			missing++;
		}
	}
	tap_ok(!missing, "every eptmmu event exists in tracefs (%zu, %d missing)",
	       ARRAY_SIZE(events), missing);
}

/*
 * First touch, dirty logging with write protection, fast-path faults,
 * harvest, manual clear, stop, MMIO, delete: each phase's events.
 */
static void test_faults(void)
{
	u64 gfn0 = SLOT_GPA >> 12, bm[1];
	struct eptmmu_run run;
	struct vmctx c;
	int n;

	if (!need_tracefs())
		return;
	if (!vm_setup(&c, NPAGES * PAGE_SIZE, PAGE_SIZE, false, 0) ||
	    !trace_start()) {
		tap_diag("set-up failed");
		return;
	}

	/* 1: the first write to each page: a slow fault installs a 4K leaf. */
	if (!touch(&c, EPTMMU_ACCESS_WRITE, 0, NPAGES, &run))
		goto out;
	trace_collect();
	n = count_ev("eptmmu_fault_result", " slow level 1 ", "access W ",
		     "retries 0 r 0", NULL);
	tap_ok(count_ev("eptmmu_fault_entry", "access W ", NULL) == NPAGES &&
	       n == NPAGES && run.stats.faults == NPAGES &&
	       distinct_in("eptmmu_fault_result", "slow", "gpa", SLOT_GPA,
			   NPAGES, PAGE_SIZE) == NPAGES,
	       "first touch: %d slow 4K faults traced at %d distinct gpas, %d entries (expected %d, RUN counted %llu)",
	       n, distinct_in("eptmmu_fault_result", "slow", "gpa", SLOT_GPA,
			      NPAGES, PAGE_SIZE),
	       count_ev("eptmmu_fault_entry", NULL), NPAGES, run.stats.faults);
	n = count_ev("eptmmu_spte_changed", "level 1 old 0 [] new ", "|W|", NULL);
	if (!tap_ok(n == NPAGES &&
		    distinct_in("eptmmu_spte_changed", "old 0 []", "gfn", gfn0,
				NPAGES, 1) == NPAGES,
		    "first touch: %d leaves installed writable (0 -> P|R|W|X), one per gfn",
		    n))
		dump_recs("first touch");

	/* 2: logging on: every leaf loses W, one flush reaches the vCPU. */
	if (set_logging(&c, true)) {
		tap_diag("logging on failed");
		goto out;
	}
	trace_collect();
	tap_ok(count_ev("eptmmu_dirty_log", "start slot 0 pages 64", NULL) == 1 &&
	       count_ev("eptmmu_spte_changed", NULL) == NPAGES &&
	       count_ev("eptmmu_tlb_flush", "vcpus 1", NULL) >= 1,
	       "dirty-log start: one start of 64 pages, %d leaf changes (expected %d), %d flushes to 1 vCPU",
	       count_ev("eptmmu_spte_changed", NULL), NPAGES,
	       count_ev("eptmmu_tlb_flush", "vcpus 1", NULL));

	/* 3: writes again: exactly one fast-path fault per page. */
	if (!touch(&c, EPTMMU_ACCESS_WRITE, 0, NPAGES, &run))
		goto out;
	trace_collect();
	n = count_ev("eptmmu_fault_result", "fast-wp level 1 retries 0 r 0", NULL);
	if (!tap_ok(n == NPAGES && count_ev("eptmmu_fault_result", NULL) == NPAGES &&
		    distinct_in("eptmmu_fault_result", "fast-wp", "gpa", SLOT_GPA,
				NPAGES, PAGE_SIZE) == NPAGES &&
		    run.stats.fast_fixed_wp == NPAGES,
		    "writes while logging: %d fast-path (W) faults of %d traced, expected %d; RUN counted %llu",
		    n, count_ev("eptmmu_fault_result", NULL), NPAGES,
		    run.stats.fast_fixed_wp))
		dump_recs("fast path");
	n = count_ev("eptmmu_spte_changed", "level 1", "new ", NULL);
	tap_ok(n == NPAGES &&
	       distinct_in("eptmmu_spte_changed", "level 1", "gfn", gfn0, NPAGES, 1) ==
	       NPAGES,
	       "writes while logging: %d leaves got W back, one per gfn", n);

	/* 4: harvest: the 64 pages; then 10 writes, GET (no clear), CLEAR. */
	n = dirty_log_ioctl(c.vm, EPTMMU_GET_DIRTY_LOG, 0, 0, 0, 0, bm);
	trace_collect();
	tap_ok(!n && count_ev("eptmmu_dirty_log_pages", "harvest slot 0 pages 64",
			      NULL) == 1,
	       "harvest: one event of 64 pages (%d events)",
	       count_ev("eptmmu_dirty_log_pages", NULL));
	if (!touch(&c, EPTMMU_ACCESS_WRITE, 3, 10, &run))
		goto out;
	n = dirty_log_ioctl(c.vm, EPTMMU_GET_DIRTY_LOG, 0,
			    EPTMMU_DIRTY_LOG_NO_CLEAR, 0, 0, bm);
	n |= dirty_log_ioctl(c.vm, EPTMMU_CLEAR_DIRTY_LOG, 0, 0, 0, NPAGES, bm);
	trace_collect();
	tap_ok(!n && bm[0] == 0x3ffULL << 3 &&
	       count_ev("eptmmu_fault_result", "fast-wp", NULL) == 10 &&
	       count_ev("eptmmu_dirty_log_pages", "harvest slot 0 pages 10", NULL) == 1 &&
	       count_ev("eptmmu_dirty_log_pages", "clear slot 0 pages 10", NULL) == 1,
	       "10 writes: 10 fast-path faults, a harvest and a clear of 10 pages (bitmap %#llx)",
	       (unsigned long long)bm[0]);

	/* 5: logging off, an MMIO access, then the slot goes. */
	n = set_logging(&c, false);
	trace_collect();
	tap_ok(!n && count_ev("eptmmu_dirty_log", "stop slot 0 pages 64", NULL) == 1,
	       "dirty-log stop: one event of 64 pages");
	{
		struct eptmmu_access a = access_of(EPTMMU_ACCESS_READ,
						   SLOT_GPA + 4 * SZ_2M, 8, 0);

		run_vcpu(c.vcpu, &a, 1, &run);
	}
	trace_collect();
	tap_ok(run.exit_reason == EPTMMU_EXIT_MMIO &&
	       count_ev("eptmmu_fault_result", " mmio level 0 ", "r 2", NULL) == 1 &&
	       count_ev("eptmmu_spte_changed", "old 0 [] new ", "[mmio]", NULL) == 1,
	       "MMIO: one fault ending in mmio and one MMIO SPTE (%d events)", nrecs);
	n = del_memslot(c.vm, 0);
	trace_collect();
	if (!tap_ok(!n && count_ev("eptmmu_spte_changed", "[frozen]", NULL) == NPAGES &&
		    count_ev("eptmmu_zap_range", "gfn 40000-40040 zapped", NULL) == 1 &&
		    count_ev("eptmmu_tlb_flush", NULL) >= 1,
		    "delete: one zap of the slot's 64 gfns, %d leaves frozen",
		    count_ev("eptmmu_spte_changed", "[frozen]", NULL)))
		dump_recs("delete");
out:
	trace_stop();
	vm_teardown(&c);
}

/* The young and old leaves of every eptmmu_age event (decimal). */
static void sum_age(u64 *young, u64 *old)
{
	int i;

	*young = *old = 0;
	for (i = 0; i < nrecs; i++) {
		const char *y = strstr(recs[i].text, " young ");
		const char *o = strstr(recs[i].text, " old ");

		if (strcmp(recs[i].event, "eptmmu_age") || !y || !o)
			continue;
		*young += strtoull(y + 7, NULL, 10);
		*old += strtoull(o + 5, NULL, 10);
	}
}

/* Aging through idle page tracking: MMU-notifier clear_young passes. */
static void test_aging(void)
{
	u64 pfn[16], young = 0, old = 0;
	cpu_set_t one, old_mask;
	bool pinned, ok;
	struct vmctx c;
	char *evict;
	int fd, round;

	if (!need_tracefs())
		return;
	fd = open(PAGE_IDLE, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(skip_why, sizeof(skip_why),
			 "no %s (CONFIG_IDLE_PAGE_TRACKING)", PAGE_IDLE);
		return;
	}
	/*
	 * Page idle tracking sees only pages on an LRU list, and a freshly
	 * faulted page waits in its CPU's lru_add batch first: on one CPU,
	 * 64 more pages faulted after ours push them out of it.
	 */
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	pinned = !sched_getaffinity(0, sizeof(old_mask), &old_mask) &&
		 !sched_setaffinity(0, sizeof(one), &one);
	ok = vm_setup(&c, 16 * PAGE_SIZE, PAGE_SIZE, false, 0);
	evict = xmap(64 * PAGE_SIZE, PAGE_SIZE);
	madvise(evict, 64 * PAGE_SIZE, MADV_NOHUGEPAGE);
	memset(evict, 1, 64 * PAGE_SIZE);
	if (!ok || !touch(&c, EPTMMU_ACCESS_READ, 0, 16, NULL) ||
	    pfns_present(c.mem, 16, pfn) || !trace_start()) {
		tap_diag("set-up failed");
		goto out;
	}
	/* After the guest's reads every leaf is young; then none is. */
	for (round = 0; round < 2; round++) {
		idle_mark(fd, pfn, 16);
		trace_collect();
		sum_age(&young, &old);
		tap_ok(young == (round ? 0 : 16) && old == (round ? 16 : 0),
		       "aging %s: %llu young, %llu old leaves (expected %d, %d)",
		       round ? "again, no guest access" : "after guest reads",
		       (unsigned long long)young, (unsigned long long)old,
		       round ? 0 : 16, round ? 16 : 0);
	}
out:
	trace_stop();
	close(fd);
	vm_teardown(&c);
	munmap(evict, 64 * PAGE_SIZE);
	if (pinned)
		sched_setaffinity(0, sizeof(old_mask), &old_mask);
}

/* A 2M leaf split by dirty logging and recreated once logging stops. */
static void test_huge(void)
{
	struct eptmmu_run run;
	struct vmctx c;
	int r;

	if (!need_tracefs())
		return;
	if (!vm_setup(&c, SZ_2M, SZ_2M, true, 0))
		return;
	if (host_thp(c.mem) != 1) {
		snprintf(skip_why, sizeof(skip_why),
			 "the host maps no THP here (no THP on this kernel?)");
		vm_teardown(&c);
		return;
	}
	if (!trace_start() || !touch(&c, EPTMMU_ACCESS_READ, 0, 1, &run))
		goto out;
	trace_collect();
	tap_ok(count_ev("eptmmu_fault_result", "slow level 2", NULL) == 1,
	       "first read of a THP: one slow fault installing a 2M leaf");
	r = set_logging(&c, true);
	trace_collect();
	tap_ok(!r && count_ev("eptmmu_split_huge", "gfn 40000 level 2", NULL) == 1,
	       "dirty-log start: the 2M leaf at gfn 0x40000 split (%d splits)",
	       count_ev("eptmmu_split_huge", NULL));
	r = set_logging(&c, false);
	r |= !touch(&c, EPTMMU_ACCESS_READ, 5, 1, &run);
	trace_collect();
	if (!tap_ok(!r && count_ev("eptmmu_huge_recreate", "gfn 40000-40200 level 2",
				   NULL) == 1 &&
		    count_ev("eptmmu_fault_result", "slow level 2", NULL) == 1,
		    "dirty-log stop: the range gives way to a 2M leaf, the next fault maps it"))
		dump_recs("recreate");
out:
	trace_stop();
	vm_teardown(&c);
}

/* VM exits exist only on the vmx vCPU (under Bochs or on hardware). */
static void test_vmx_exit(void)
{
	struct eptmmu_vm_stats st;
	struct vmctx c;

	if (!need_tracefs())
		return;
	if (!vm_setup(&c, 4 * PAGE_SIZE, PAGE_SIZE, false, 0))
		return;
	xvm_stats(c.vm, &st);
	if (st.backend != EPTMMU_BACKEND_VMX) {
		snprintf(skip_why, sizeof(skip_why),
			 "soft vCPU: no VM exits (backend=vmx has them)");
		vm_teardown(&c);
		return;
	}
	if (trace_start() && touch(&c, EPTMMU_ACCESS_WRITE, 0, 4, NULL)) {
		trace_collect();
		tap_ok(count_ev("eptmmu_vmx_exit", "reason VMCALL", NULL) >= 4 &&
		       count_ev("eptmmu_vmx_exit", "reason EPT_VIOLATION", NULL) >= 4,
		       "vmx: a VMCALL exit per access, EPT violations for first touches");
	}
	trace_stop();
	vm_teardown(&c);
}

/* ---- stats ---- */

struct statval {
	char vm[32], name[40];
	unsigned long long value;
};

/* Run eptmmu_stat with @args; its CSV rows for VM @vm into @out. */
static int stat_tool(const char *args, const char *vm, struct statval *out,
		     int max, int *status)
{
	char cmd[256], line[256];
	int n = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "%s %s", opt.stat_tool, args);
	p = popen(cmd, "r");
	if (!p)
		return -errno;
	while (fgets(line, sizeof(line), p)) {
		struct statval sv;

		if (sscanf(line, "%*d,%31[^,],%39[^,],%llu", sv.vm, sv.name,
			   &sv.value) != 3)
			continue;
		if (vm && strcmp(vm, sv.vm))
			continue;
		if (n < max)
			out[n++] = sv;
	}
	*status = pclose(p);
	return n;
}

/*
 * R-STATS-LOCKLESS: a second thread reads stat files while the vCPU
 * faults (the KCSAN kernel watches those reads against the increments);
 * counters may only grow.
 */
struct reader {
	int vmfd;
	atomic_bool stop;
	unsigned long reads, backwards;
};

static void *reader_fn(void *arg)
{
	static const char *const names[] = {
		"pf_taken", "pf_fixed", "faults", "pages_4k", "maps_4k",
	};
	unsigned long long last[ARRAY_SIZE(names)] = { 0 };
	struct reader *r = arg;
	char path[160], buf[32];
	size_t i;

	/* At least one pass, however soon the workload ends. */
	do {
		for (i = 0; i < ARRAY_SIZE(names); i++) {
			unsigned long long v;

			snprintf(path, sizeof(path), DEBUGFS_VMS "/%d-%d/%s",
				 getpid(), r->vmfd, names[i]);
			if (read_file(path, buf, sizeof(buf)))
				continue;
			v = strtoull(buf, NULL, 10);
			r->backwards += v < last[i];
			last[i] = v;
			r->reads++;
		}
	} while (!atomic_load(&r->stop));
	return NULL;
}

static bool stat_of(const struct statval *sv, int n, const char *name,
		    unsigned long long *v)
{
	int i;

	for (i = 0; i < n; i++) {
		if (!strcmp(sv[i].name, name)) {
			*v = sv[i].value;
			return true;
		}
	}
	return false;
}

static const char *const stat_names[] = {
	"tables", "maps_4k", "maps_2m", "maps_1g", "splits", "zapped",
	"tlb_flushes", "invalidations", "memslot_generation", "ept_ad",
	"aging_passes", "aged_young", "backend", "accesses", "tlb_hits",
	"walks", "faults", "fast_fixed_wp", "fast_fixed_acc", "fast_retries",
	"fast_fallbacks", "slow_faults", "slow_retries", "mmio_exits",
	"pf_taken", "pf_fast", "pf_fixed", "pf_spurious",
	"pf_mmio_spte_created", "pf_guest_pt", "pf_guest_linear", "pages_4k",
	"pages_2m", "pages_1g",
	"remote_tlb_flush", "vcpus", "pml", "pml_logged", "pml_full_exits",
	"dirty_ring_pushed", "dirty_ring_reset", "dirty_ring_full_exits",
	"dirty_ring_overflow",
};

/*
 * eptmmu_stat's numbers for one VM after a known workload: equal to the
 * ioctls' and to what the workload implies.
 */
static void test_stat(void)
{
	struct statval sv[128];
	struct eptmmu_vm_stats st;
	struct eptmmu_run run;
	unsigned long long v = 0, pf_fast = 0, pf_fixed = 0, pf_spur = 0;
	unsigned long long mmio = 0, p4k = 0;
	char name[32], args[96];
	int n, status, bad = 0;
	struct reader rd = { 0 };
	pthread_t reader;
	struct vmctx c;
	size_t i;
	bool ok;

	if (!vm_setup(&c, NPAGES * PAGE_SIZE, PAGE_SIZE, false, 0))
		return;
	rd.vmfd = c.vm;
	if (pthread_create(&reader, NULL, reader_fn, &rd))
		die("pthread_create");
	/* 64 slow faults, logging, 20 fast ones, 2 MMIO exits (1 SPTE). */
	ok = touch(&c, EPTMMU_ACCESS_WRITE, 0, NPAGES, NULL) &&
	     !set_logging(&c, true) && touch(&c, EPTMMU_ACCESS_WRITE, 0, 20, NULL);
	atomic_store(&rd.stop, true);
	pthread_join(reader, NULL);
	if (!ok) {
		tap_diag("workload failed");
		goto out;
	}
	tap_ok(rd.reads > 0 && !rd.backwards,
	       "stat files read during the workload: %lu reads, %lu went backwards",
	       rd.reads, rd.backwards);
	{
		struct eptmmu_access a[2] = {
			access_of(EPTMMU_ACCESS_READ, SLOT_GPA + SZ_2M, 8, 0),
			access_of(EPTMMU_ACCESS_READ, SLOT_GPA + SZ_2M, 8, 0),
		};

		run_vcpu(c.vcpu, &a[0], 1, &run);
		run_vcpu(c.vcpu, &a[1], 1, &run);
	}
	xvm_stats(c.vm, &st);
	snprintf(name, sizeof(name), "%d-%d", getpid(), c.vm);
	snprintf(args, sizeof(args), "--once --csv -d 0 -v %s", name);
	n = stat_tool(args, name, sv, ARRAY_SIZE(sv), &status);
	for (i = 0; i < ARRAY_SIZE(stat_names); i++) {
		if (!stat_of(sv, n, stat_names[i], &v)) {
			tap_diag("eptmmu_stat shows no %s", stat_names[i]);
			bad++;
		}
	}
	tap_ok(n == (int)ARRAY_SIZE(stat_names) && !bad && status == 0,
	       "eptmmu_stat --once --csv: %d stats of VM %s (expected %zu), exit %d",
	       n, name, ARRAY_SIZE(stat_names), status);

#define AGREE(field, val) do {						\
	if (!stat_of(sv, n, #field, &v) || v != (unsigned long long)(val)) { \
		tap_diag("%s: eptmmu_stat %llu, expected %llu", #field, v, \
			 (unsigned long long)(val));			\
		bad++;							\
	}								\
} while (0)
	bad = 0;
	AGREE(tables, st.tables);
	AGREE(maps_4k, st.maps_4k);
	AGREE(maps_2m, st.maps_2m);
	AGREE(maps_1g, st.maps_1g);
	AGREE(splits, st.splits);
	AGREE(zapped, st.zapped);
	AGREE(tlb_flushes, st.tlb_flushes);
	AGREE(invalidations, st.invalidations);
	AGREE(memslot_generation, st.memslot_generation);
	AGREE(ept_ad, st.ept_ad);
	AGREE(aging_passes, st.aging_passes);
	AGREE(aged_young, st.aged_young);
	AGREE(backend, st.backend);
	AGREE(remote_tlb_flush, st.tlb_flushes);
	/* One vCPU: its RUN counters are the VM's sums. */
	AGREE(accesses, run.stats.accesses);
	AGREE(tlb_hits, run.stats.tlb_hits);
	AGREE(walks, run.stats.walks);
	AGREE(faults, run.stats.faults);
	AGREE(fast_fixed_wp, run.stats.fast_fixed_wp);
	AGREE(fast_fixed_acc, run.stats.fast_fixed_acc);
	AGREE(fast_retries, run.stats.fast_retries);
	AGREE(fast_fallbacks, run.stats.fast_fallbacks);
	AGREE(slow_faults, run.stats.slow_faults);
	AGREE(slow_retries, run.stats.slow_retries);
	AGREE(mmio_exits, run.stats.mmio_exits);
	AGREE(pf_taken, run.stats.faults);
	AGREE(vcpus, 1);
	tap_ok(!bad, "eptmmu_stat agrees with EPTMMU_GET_VM_STATS and EPTMMU_RUN (%d differ)",
	       bad);

	/* What the workload implies for KVM's names. */
	bad = 0;
	stat_of(sv, n, "pf_fast", &pf_fast);
	stat_of(sv, n, "pf_fixed", &pf_fixed);
	stat_of(sv, n, "pf_spurious", &pf_spur);
	stat_of(sv, n, "pf_mmio_spte_created", &mmio);
	stat_of(sv, n, "pages_4k", &p4k);
	tap_ok(pf_fast == 20 && pf_fixed == NPAGES + 20 && pf_spur == 0 &&
	       mmio == 1 && p4k == NPAGES && run.stats.mmio_exits == 2,
	       "KVM's names: pf_fast %llu (20), pf_fixed %llu (%d), pf_spurious %llu (0), pf_mmio_spte_created %llu (1), pages_4k %llu (%d)",
	       pf_fast, pf_fixed, NPAGES + 20, pf_spur, mmio, p4k, NPAGES);
out:
	vm_teardown(&c);
}

static bool vm_dir_exists(int vmfd)
{
	char path[128];

	snprintf(path, sizeof(path), DEBUGFS_VMS "/%d-%d", getpid(), vmfd);
	return !access(path, F_OK);
}

/* A VM's directory and files come with it and go with it. */
static void test_debugfs(void)
{
	struct statval sv[128];
	char path[160], name[32];
	int a, b, missing = 0, status, n;
	size_t i;

	if (access(DEBUGFS_VMS, F_OK)) {
		snprintf(skip_why, sizeof(skip_why), "no " DEBUGFS_VMS);
		return;
	}
	a = xcreate_vm(devfd);
	b = xcreate_vm(devfd);
	for (i = 0; i < ARRAY_SIZE(stat_names); i++) {
		snprintf(path, sizeof(path), DEBUGFS_VMS "/%d-%d/%s", getpid(), a,
			 stat_names[i]);
		if (access(path, R_OK)) {
			tap_diag("missing %s", path);
			missing++;
		}
	}
	tap_ok(vm_dir_exists(a) && vm_dir_exists(b) && !missing,
	       "two VMs, two directories, every stat file there (%d missing)",
	       missing);
	close_vm(a);
	snprintf(name, sizeof(name), "%d-%d", getpid(), a);
	n = stat_tool("--once --csv -d 0", name, sv, ARRAY_SIZE(sv), &status);
	tap_ok(!vm_dir_exists(a) && vm_dir_exists(b) && n == 0 && status == 0,
	       "closing one: its directory is gone (eptmmu_stat: %d rows), the other stays",
	       n);
	close_vm(b);
	snprintf(name, sizeof(name), "%d-%d", getpid(), b);
	n = stat_tool("--once --csv -d 0", name, sv, ARRAY_SIZE(sv), &status);
	tap_ok(!vm_dir_exists(b) && n == 0 && status == 0,
	       "closing the other: gone too");
}

/* The tool with no VM at all, and its --help. */
static void test_stat_novm(void)
{
	char cmd[160], line[256];
	bool said = false;
	FILE *p;
	int st;

	snprintf(cmd, sizeof(cmd), "%s --once -d 0", opt.stat_tool);
	p = popen(cmd, "r");
	if (!p)
		return;
	while (fgets(line, sizeof(line), p))
		said |= strstr(line, "no eptmmu VMs") != NULL;
	st = pclose(p);
	tap_ok(said && st == 0, "eptmmu_stat --once without VMs: says so, exit %d", st);
	snprintf(cmd, sizeof(cmd), "%s --help", opt.stat_tool);
	p = popen(cmd, "r");
	said = false;
	while (p && fgets(line, sizeof(line), p))
		said |= strstr(line, "usage: eptmmu_stat") != NULL;
	st = p ? pclose(p) : -1;
	tap_ok(said && st == 0, "eptmmu_stat --help: usage, exit %d", st);
}

static const struct tap_test tests[] = {
	{ "events", test_events, 1, "every tracepoint is in tracefs" },
	{ "faults", test_faults, 10, "a known pattern's events, phase by phase" },
	{ "aging", test_aging, 2, "aging passes: young and old leaves" },
	{ "huge", test_huge, 3, "huge split and re-creation" },
	{ "vmx_exit", test_vmx_exit, 1, "VM exits of the vmx vCPU" },
	{ "stat", test_stat, 4, "eptmmu_stat against the ioctls" },
	{ "debugfs", test_debugfs, 3, "stat files come and go with VMs" },
	{ "stat_novm", test_stat_novm, 2, "eptmmu_stat with no VM, --help" },
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: eptmmu_obs_test [-r] [-S PATH] [-l] [TEST...]\n"
		"  -r       the kernel has tracing: no tracefs is a failure, not a skip\n"
		"  -S PATH  eptmmu_stat to run (default %s)\n"
		"  -l       list the tests\n", opt.stat_tool);
}

int main(int argc, char **argv)
{
	int ch;

	while ((ch = getopt(argc, argv, "rS:lh")) != -1) {
		switch (ch) {
		case 'r':
			opt.require_trace = true;
			break;
		case 'S':
			opt.stat_tool = optarg;
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
