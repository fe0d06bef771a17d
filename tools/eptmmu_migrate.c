// SPDX-License-Identifier: GPL-2.0
/*
 * eptmmu_migrate - live migration of a running VM from one process to
 * another, over eptmmu's dirty log: what dirty logging exists for.
 *
 * The source process runs a VM whose vCPU threads keep writing a
 * verifiable pattern into guest memory.  A destination process (started
 * with fork+exec, or a second invocation) creates a VM of its own and
 * receives the memory over a UNIX socket or TCP on loopback (or two pipes,
 * on kernels built without sockets, as make check's are):
 *
 *   round 1      every page, while the vCPUs run (logging already on);
 *   round 2..    the pages the dirty log reported since the round before,
 *                until a harvest finds at most --threshold pages or
 *                --max-rounds is reached;
 *   stop-and-copy  stop the vCPUs, harvest once more, send what is left
 *                and the vCPU state (for the soft vCPU: how far each
 *                vCPU's write sequence has got), and the destination
 *                can resume.
 *
 * Then the checks, none of which can pass on an incomplete copy:
 *   - the source's guest reads and its memory at the stop point are what
 *     its own writes made them (the workload is what we think it is);
 *   - the destination's memory is byte-identical to the source's at the
 *     stop point: the source streams its whole stop-point image (its
 *     vCPUs stay stopped) and the destination compares every byte;
 *   - the destination's memory is also the workload replayed, from the
 *     seed, up to the handed-over positions: an independent model;
 *   - the destination resumes the workload from those positions, every
 *     guest read of the resumed vCPUs (through the destination's EPT)
 *     sees the value the model expects, and its memory at the end is
 *     the model's;
 *   - the MMU auditor finds nothing wrong in either VM.
 *
 * The workload.  vCPU v owns a contiguous chunk of pages and makes a
 * fixed sequence of writes there: write n goes to a word and has a value
 * that are a hash of (seed, v, n), to one of the chunk's first --hot pages
 * (--hot-pct of the writes: pages always being rewritten, as a guest's
 * stack and hot data are) or anywhere in the chunk.  Before each write the
 * vCPU reads the word and checks it against its model of the memory.  So
 * a vCPU's whole state is the number of writes it has made, and the
 * memory at any position can be computed without the VM.
 *
 * Dirty logs.  The copy loop asks a "dirty source" for the pages to send;
 * the bitmap one drives EPTMMU_GET_DIRTY_LOG (with manual protect:
 * NO_CLEAR then EPTMMU_CLEAR_DIRTY_LOG of exactly the pages found, or the
 * clearing GET), the ring one collects every vCPU's dirty ring and
 * resets them (with D bits, plus a clearing GET: the CPU's D bits are
 * logged by no vCPU), behind the same three calls.  The one rule of the contract: collect() re-protects what
 * it reports before returning, and only then may those pages be copied;
 * a page written after its copy started is then reported again.
 *
 * Output is TAP (progress as "#" lines, five results per migration);
 * exit 0 iff every check passed, 1 if one failed, 2 on a usage or setup
 * error.  --help says more.
 */
#define _GNU_SOURCE
/*
 * R-DIRTY-INVARIANT: a migration copies a page only after the harvest
 * that re-protected it returned, so every write is in the final copy.
 * R-FLUSH-SYNC: with the flush skipped (broken=skip_flush) a re-protected
 * page stays writable in a vCPU's TLB, and the byte comparison fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib.h"

/* Below 4 GiB, so the vmx vCPU reaches it too. */
#define GPA_BASE	0x40000000ULL
#define DATA_SLOT	0
#define WORDS		(PAGE_SIZE / 8)
/* Read + write pairs per EPTMMU_RUN at full speed. */
#define BATCH		256
/* Pages per PAGES message. */
#define CHUNK		64
#define MAX_VCPUS	16
#define MAX_EXAMPLES	8
#define NTAP		5
/* First word of HELLO: "eptmmig", so a stray peer is refused. */
#define PROTO_MAGIC	0x6570746d6d6967ULL

enum { MODE_WP, MODE_DBIT, NR_MODES };
static const char *const mode_name[] = { "wp", "dbit" };

static struct {
	unsigned int mib, vcpus, hot, hot_pct, threshold, max_rounds;
	unsigned int warmup_ms, post_ms;
	unsigned long rate;
	u64 seed;
	bool mode[NR_MODES];
	const char *dirty;
	const char *csv;
	const char *transport;
	const char *listen, *connect;
	unsigned int ring;
	bool dest;
	int dest_fd, dest_wfd;
} opt = {
	.mib = 16,
	.vcpus = 2,
	.hot = 32,
	.hot_pct = 50,
	.threshold = 256,
	.max_rounds = 20,
	.warmup_ms = 200,
	.post_ms = 300,
	.rate = 5000,
	.dirty = "bitmap",
	.ring = 4096,
	.transport = "pair",
	.dest_fd = -1,
	.dest_wfd = -1,
};

/* ---- the workload, on both sides ---- */

/* What both sides must agree on: sent in HELLO. */
struct wl_params {
	u64 magic;
	u64 seed;
	u64 pages;
	u64 rate;	/* writes per second per vCPU; 0: as fast as it goes */
	u32 vcpus;
	u32 hot;
	u32 hot_pct;
	u32 mode;
	u32 post_ms;
	u32 pad;
};

struct workload;

struct vcpu_thread {
	struct workload *wl;
	pthread_t th;
	unsigned int idx;
	int fd;
	u64 pos;		/* writes made: the vCPU's whole state */
	u64 start_pos;
	u64 reads, bad_reads;
	u64 bad_page, bad_want, bad_got;
	u64 ring_full;		/* EPTMMU_EXIT_RING_FULL: waited for a reset */
	u32 bad_word;
	bool failed;
	char why[200];
	struct eptmmu_access acc[2 * BATCH];
	u64 old[BATCH];
	u64 sidx[BATCH];
};

struct workload {
	const struct wl_params *p;
	u8 *mem;		/* the memslot's memory */
	u64 *model;		/* what it must hold, word by word */
	u64 chunk;		/* pages per vCPU */
	int vm;
	int backend;
	u32 ring_entries;	/* per-vCPU dirty ring; 0: none */
	bool ept_ad;
	atomic_bool stop;
	bool running;
	struct vcpu_thread vt[MAX_VCPUS];
};

/* Write @n of vCPU @v: which word of the slot, and its new value. */
static void write_of(const struct wl_params *p, u64 chunk, u32 v, u64 n,
		     u64 *word, u64 *val)
{
	u64 r = pat(p->seed ^ ((u64)(v + 1) << 40), n);
	u64 span = r % 100 < p->hot_pct ? (p->hot < chunk ? p->hot : chunk) :
					  chunk;

	*word = (v * chunk + (r >> 8) % span) * WORDS + (r >> 40) % WORDS;
	*val = pat(~p->seed - v, n);
}

/* The memory before any write: distinct and never zero (pat()). */
static void initial_image(const struct wl_params *p, u64 *mem)
{
	fill(mem, p->pages * PAGE_SIZE, p->seed);
}

/* The model after vCPU positions @pos, computed from the seed alone. */
static void replay(const struct wl_params *p, u64 *model, const u64 *pos)
{
	u64 chunk = p->pages / p->vcpus, n, w, val;
	u32 v;

	initial_image(p, model);
	for (v = 0; v < p->vcpus; v++)
		for (n = 0; n < pos[v]; n++) {
			write_of(p, chunk, v, n, &w, &val);
			model[w] = val;
		}
}

static void sleep_until(u64 t)
{
	struct timespec ts = {
		.tv_sec = t / 1000000000ULL, .tv_nsec = t % 1000000000ULL,
	};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/*
 * One vCPU: batches of (read the word, check it, write the next value)
 * through EPTMMU_RUN.  The model is updated as the batch is built (a
 * later read of the same word in the batch sees the earlier write) and
 * rolled back for whatever the run did not complete, so pos and the model
 * always describe exactly the writes that were made.
 */
static void *vcpu_main(void *arg)
{
	struct vcpu_thread *t = arg;
	struct workload *wl = t->wl;
	const struct wl_params *p = wl->p;
	u64 t0 = now_ns(), w, val, k, n, done;
	struct eptmmu_run run;
	int r;

	t->start_pos = t->pos;
	n = p->rate ? p->rate / 200 : BATCH;
	n = n < 1 ? 1 : n > BATCH ? BATCH : n;
	while (!atomic_load(&wl->stop)) {
		for (k = 0; k < n; k++) {
			u64 gpa;

			write_of(p, wl->chunk, t->idx, t->pos + k, &w, &val);
			gpa = GPA_BASE + w * 8;
			t->sidx[k] = w;
			t->old[k] = wl->model[w];
			wl->model[w] = val;
			t->acc[2 * k] = access_of(EPTMMU_ACCESS_READ, gpa, 8, 0);
			t->acc[2 * k + 1] = access_of(EPTMMU_ACCESS_WRITE, gpa,
						      8, val);
		}
		r = run_vcpu(t->fd, t->acc, 2 * n, &run);
		done = run.done;
		if (r && r != -EFAULT && r != -EINVAL)
			done = 0;	/* nothing was made */
		for (k = 0; k < (done + 1) / 2; k++) {
			t->reads++;
			if (t->acc[2 * k].value == t->old[k])
				continue;
			if (!t->bad_reads++) {
				t->bad_page = t->sidx[k] / WORDS;
				t->bad_word = t->sidx[k] % WORDS;
				t->bad_want = t->old[k];
				t->bad_got = t->acc[2 * k].value;
			}
		}
		for (k = n; k-- > done / 2;)
			wl->model[t->sidx[k]] = t->old[k];
		t->pos += done / 2;
		if (!r && run.exit_reason == EPTMMU_EXIT_RING_FULL) {
			/* Undone accesses were rolled back: wait for a reset. */
			struct timespec nap = { .tv_nsec = 100 * 1000 };

			t->ring_full++;
			nanosleep(&nap, NULL);
			continue;
		}
		if (r || (run.exit_reason != EPTMMU_EXIT_DONE &&
			  run.exit_reason != EPTMMU_EXIT_INTR)) {
			if (r)
				snprintf(t->why, sizeof(t->why),
					 "EPTMMU_RUN: %s", strerror(-r));
			else
				snprintf(t->why, sizeof(t->why),
					 "EPTMMU_RUN exit %s at gpa %#llx errno %u",
					 exit_name(run.exit_reason),
					 run.exit_gpa, run.exit_errno);
			t->failed = true;
			break;
		}
		if (p->rate)
			sleep_until(t0 + (t->pos - t->start_pos) * 1000000000ULL /
				    p->rate);
	}
	return NULL;
}

/* A VM with one slot over @wl->mem and the vCPUs: NULL, or what failed. */
static const char *wl_create(struct workload *wl, int devfd)
{
	struct eptmmu_vm_stats st;
	unsigned int v;
	int r;

	wl->chunk = wl->p->pages / wl->p->vcpus;
	wl->vm = ioctl(devfd, EPTMMU_CREATE_VM, 0);
	if (wl->vm < 0)
		return "EPTMMU_CREATE_VM failed";
	xvm_stats(wl->vm, &st);
	wl->ept_ad = st.ept_ad == 1;
	wl->backend = st.backend;
	r = set_memslot(wl->vm, DATA_SLOT, 0, GPA_BASE,
			wl->p->pages * PAGE_SIZE, wl->mem);
	if (r)
		return "EPTMMU_SET_MEMSLOT failed";
	/* Accepted and ignored by the soft vCPU; the vmx one needs it. */
	if (setup_guest_code(wl->vm, GUEST_CODE_SLOT, GUEST_CODE_GPA))
		return "setting the vmx guest code failed";
	/* The ring's size is the VM's, fixed before its first vCPU. */
	if (wl->ring_entries && enable_dirty_ring(wl->vm, wl->ring_entries))
		return "EPTMMU_ENABLE_DIRTY_RING failed";
	for (v = 0; v < wl->p->vcpus; v++) {
		wl->vt[v].wl = wl;
		wl->vt[v].idx = v;
		wl->vt[v].fd = ioctl(wl->vm, EPTMMU_CREATE_VCPU, 0);
		if (wl->vt[v].fd < 0)
			return "EPTMMU_CREATE_VCPU failed";
	}
	return NULL;
}

static void wl_start(struct workload *wl)
{
	unsigned int v;

	atomic_store(&wl->stop, false);
	for (v = 0; v < wl->p->vcpus; v++)
		if (pthread_create(&wl->vt[v].th, NULL, vcpu_main, &wl->vt[v]))
			die("pthread_create");
	wl->running = true;
}

/* Stop the vCPUs: when this returns none is in EPTMMU_RUN. */
static void wl_stop(struct workload *wl)
{
	unsigned int v;

	if (!wl->running)
		return;
	atomic_store(&wl->stop, true);
	for (v = 0; v < wl->p->vcpus; v++)
		pthread_join(wl->vt[v].th, NULL);
	wl->running = false;
}

static u64 wl_writes(const struct workload *wl, bool since_start)
{
	u64 n = 0;
	unsigned int v;

	for (v = 0; v < wl->p->vcpus; v++)
		n += wl->vt[v].pos - (since_start ? wl->vt[v].start_pos : 0);
	return n;
}

/* Reads that saw something else, with the first one described in @why. */
static u64 wl_bad_reads(const struct workload *wl, char *why, size_t len)
{
	u64 bad = 0;
	unsigned int v;

	why[0] = 0;
	for (v = 0; v < wl->p->vcpus; v++) {
		const struct vcpu_thread *t = &wl->vt[v];

		if (t->bad_reads && !bad)
			snprintf(why, len, "vCPU %u read %#llx at page %llu word %u, expected %#llx",
				 v, t->bad_got, t->bad_page, t->bad_word,
				 t->bad_want);
		bad += t->bad_reads;
	}
	return bad;
}

static u64 wl_reads(const struct workload *wl)
{
	u64 n = 0;
	unsigned int v;

	for (v = 0; v < wl->p->vcpus; v++)
		n += wl->vt[v].reads;
	return n;
}

static const char *wl_failure(const struct workload *wl)
{
	unsigned int v;

	for (v = 0; v < wl->p->vcpus; v++)
		if (wl->vt[v].failed)
			return wl->vt[v].why;
	return NULL;
}

/* Pages of @mem that differ from @model; the first in *@first. */
static u64 pages_differing(const struct workload *wl, u64 *first)
{
	u64 pg, bad = 0;

	*first = ~0ULL;
	for (pg = 0; pg < wl->p->pages; pg++)
		if (memcmp(wl->mem + pg * PAGE_SIZE, wl->model + pg * WORDS,
			   PAGE_SIZE)) {
			if (!bad++)
				*first = pg;
		}
	return bad;
}

/* Audit, then close the vCPUs and the VM: violations or -errno. */
static long wl_destroy(struct workload *wl)
{
	unsigned int v;
	long r = -EBADF;

	wl_stop(wl);
	if (wl->vm >= 0)
		r = audit_vm(wl->vm);
	for (v = 0; v < wl->p->vcpus; v++)
		if (wl->vt[v].fd > 0)
			close(wl->vt[v].fd);
	if (wl->vm >= 0)
		close(wl->vm);
	wl->vm = -1;
	return r;
}

/* ---- dirty sources ---- */

/*
 * Where the copy loop learns what to send.  start() turns logging on;
 * collect() ORs into @set every page written since the last collect() (or
 * start()) and returns how many it found, having re-protected them (W or
 * D taken away, every vCPU's TLB flushed) before returning: a write made
 * after it returns is reported by the next call, so the caller copies the
 * pages only after collect() returns.  stop() turns logging off.  A
 * per-vCPU dirty ring fits the same three calls (collect: harvest every
 * vCPU's ring, reset them), which is why the vCPU fds are here.
 */
struct dirty_source {
	const struct dirty_source_ops *ops;
	int vm;
	u32 slot;
	u32 log_flags;
	u64 gpa, npages;
	void *hva;
	const int *vcpu_fds;
	unsigned int nvcpus;
	u64 *bm;
	struct dring rings[MAX_VCPUS];
	u32 ring_entries;
};

struct dirty_source_ops {
	const char *name;
	const char *what;
	bool ring;		/* the VM needs dirty rings (before its vCPUs) */
	int (*start)(struct dirty_source *ds);
	long (*collect)(struct dirty_source *ds, u64 *set);
	void (*stop)(struct dirty_source *ds);
};

static u64 bm_words(u64 npages)
{
	return (npages + 63) / 64;
}

static int bitmap_start(struct dirty_source *ds)
{
	ds->bm = calloc(bm_words(ds->npages), sizeof(u64));
	if (!ds->bm)
		return -ENOMEM;
	return set_memslot(ds->vm, ds->slot, ds->log_flags, ds->gpa,
			   ds->npages * PAGE_SIZE, ds->hva);
}

static long bitmap_or(struct dirty_source *ds, u64 *set)
{
	u64 w;

	for (w = 0; w < bm_words(ds->npages); w++)
		set[w] |= ds->bm[w];
	return bitmap_count(ds->bm, bm_words(ds->npages));
}

/*
 * Manual protect: GET with NO_CLEAR copies the log, CLEAR re-protects
 * exactly the pages it reported (the order KVM's users follow: clear,
 * then copy).  A page written between the GET and the CLEAR is cleared
 * without being reported -- but it was reported by this GET already,
 * and its copy starts after the CLEAR, so the copy has that write.
 */
static long bitmap_manual_collect(struct dirty_source *ds, u64 *set)
{
	int r;

	r = dirty_log_ioctl(ds->vm, EPTMMU_GET_DIRTY_LOG, ds->slot,
			    EPTMMU_DIRTY_LOG_NO_CLEAR, 0, 0, ds->bm);
	if (!r)
		r = dirty_log_ioctl(ds->vm, EPTMMU_CLEAR_DIRTY_LOG, ds->slot,
				    0, 0, ds->npages, ds->bm);
	return r ? r : bitmap_or(ds, set);
}

/* The clearing GET: harvest and re-protect in one call. */
static long bitmap_get_collect(struct dirty_source *ds, u64 *set)
{
	int r = dirty_log_ioctl(ds->vm, EPTMMU_GET_DIRTY_LOG, ds->slot, 0, 0,
				0, ds->bm);

	return r ? r : bitmap_or(ds, set);
}

static void bitmap_stop(struct dirty_source *ds)
{
	set_memslot(ds->vm, ds->slot, 0, ds->gpa, ds->npages * PAGE_SIZE,
		    ds->hva);
	free(ds->bm);
	ds->bm = NULL;
}

static int ring_start(struct dirty_source *ds)
{
	unsigned int v;
	int r = bitmap_start(ds);

	for (v = 0; !r && v < ds->nvcpus; v++)
		r = dring_map(&ds->rings[v], ds->vcpu_fds[v], ds->ring_entries);
	return r;
}

static void ring_mark(u32 slot, u64 off, void *arg)
{
	struct dirty_source *ds = arg;

	/* The one slot logs; anything else would be a kernel bug. */
	if (slot != ds->slot || off >= ds->npages)
		die("source: ring entry names slot %u page %llu", slot, off);
	ds->bm[off / 64] |= 1ULL << (off % 64);
}

/*
 * Every vCPU's ring, then the reset that re-protects what they held:
 * after it the pages may be copied.  With D bits, the writes no vCPU
 * logged are in the D bits: a clearing GET adds them (R-RING-NOVCPU).
 */
static long ring_collect(struct dirty_source *ds, u64 *set)
{
	u64 words = bm_words(ds->npages), w, *d;
	unsigned int v;
	int r;

	for (v = 0; v < ds->nvcpus; v++)
		dring_collect(&ds->rings[v], ring_mark, ds);
	r = reset_dirty_rings(ds->vm);
	if (r < 0)
		return r;
	if (ds->log_flags & EPTMMU_MEM_DIRTY_LOG_DBIT) {
		d = calloc(words, sizeof(u64));
		if (!d)
			return -ENOMEM;
		r = dirty_log_ioctl(ds->vm, EPTMMU_GET_DIRTY_LOG, ds->slot, 0,
				    0, 0, d);
		for (w = 0; w < words; w++)
			ds->bm[w] |= d[w];
		free(d);
		if (r)
			return r;
	}
	r = bitmap_or(ds, set);
	memset(ds->bm, 0, words * sizeof(u64));
	return r;
}

static void ring_stop(struct dirty_source *ds)
{
	unsigned int v;

	for (v = 0; v < ds->nvcpus; v++)
		dring_unmap(&ds->rings[v]);
	bitmap_stop(ds);
}

static const struct dirty_source_ops dirty_sources[] = {
	{ "bitmap", "dirty bitmap, manual protect (GET with NO_CLEAR, then CLEAR)",
	  false, bitmap_start, bitmap_manual_collect, bitmap_stop },
	{ "bitmap-get", "dirty bitmap, clearing GET",
	  false, bitmap_start, bitmap_get_collect, bitmap_stop },
	{ "ring", "per-vCPU dirty rings (--ring entries), reset after each collect",
	  true, ring_start, ring_collect, ring_stop },
};

static const struct dirty_source_ops *dirty_source_by_name(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(dirty_sources); i++)
		if (!strcmp(dirty_sources[i].name, name))
			return &dirty_sources[i];
	return NULL;
}

/* ---- the wire ---- */

enum msg_type {
	MSG_HELLO = 1,	/* S->D: struct wl_params */
	MSG_READY,	/* D->S: the destination's VM exists; arg: backend */
	MSG_PAGES,	/* S->D: count page numbers, then count pages; arg: round */
	MSG_STATE,	/* S->D: struct vcpu_state */
	MSG_STATE_ACK,	/* D->S: arg: when it could have resumed */
	MSG_VERIFY,	/* S->D: as PAGES, the stop-point image; count 0 ends it */
	MSG_RESULT,	/* D->S: struct dest_result */
	MSG_BYE,	/* S->D: no more migrations */
};

struct msg_hdr {
	u32 type;
	u32 count;
	u64 arg;
};

struct vcpu_state {
	u64 t_stop;
	u64 pos[MAX_VCPUS];
};

struct example {
	u64 page;
	u64 want, got;
	u32 word;
	u32 round;	/* the round that last brought the page, 0: none */
};

struct dest_result {
	u64 t_ready, t_resumed, compare_ns, replay_ns;
	u64 pages_received;
	u64 compared, differ;
	u64 replay_bad, replay_first;
	u64 post_writes, post_reads, post_bad_reads, post_final_bad;
	__s64 audit;
	u32 nex;
	u32 failed;
	char why[200];
	char post_why[200];
	struct example ex[MAX_EXAMPLES];
};

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

static int read_all(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (!n)
				errno = ECONNRESET;
			return -1;
		}
		p += n;
		len -= n;
	}
	return 0;
}

/* writev()/readv() until every iovec is done. */
static int iov_all(int fd, struct iovec *iov, int cnt, bool wr)
{
	while (cnt) {
		ssize_t n = wr ? writev(fd, iov, cnt) : readv(fd, iov, cnt);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (!n)
				errno = ECONNRESET;
			return -1;
		}
		while (cnt && (size_t)n >= iov->iov_len) {
			n -= iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt) {
			iov->iov_base = (char *)iov->iov_base + n;
			iov->iov_len -= n;
		}
	}
	return 0;
}

static int send_msg(int fd, u32 type, u32 count, u64 arg, const void *body,
		    size_t len)
{
	struct msg_hdr h = { .type = type, .count = count, .arg = arg };

	if (write_all(fd, &h, sizeof(h)))
		return -1;
	return len ? write_all(fd, body, len) : 0;
}

static int recv_hdr(int fd, struct msg_hdr *h, u32 want)
{
	if (read_all(fd, h, sizeof(*h)))
		return -1;
	if (want && h->type != want) {
		errno = EPROTO;
		return -1;
	}
	return 0;
}

/* Pages @pg[0..n) of @mem in one message: the numbers, then the bytes. */
static int send_pages(int fd, u32 type, u64 round, const u8 *mem,
		      const u64 *pg, u32 n)
{
	struct iovec iov[CHUNK + 2];
	struct msg_hdr h = { .type = type, .count = n, .arg = round };
	u32 i;

	iov[0].iov_base = &h;
	iov[0].iov_len = sizeof(h);
	iov[1].iov_base = (void *)pg;
	iov[1].iov_len = n * sizeof(u64);
	for (i = 0; i < n; i++) {
		iov[i + 2].iov_base = (void *)(mem + pg[i] * PAGE_SIZE);
		iov[i + 2].iov_len = PAGE_SIZE;
	}
	return iov_all(fd, iov, n + 2, true);
}

/* Send every page of @set (cleared as it goes); pages sent or -1. */
static long send_set(int fd, u64 round, const u8 *mem, u64 *set, u64 npages)
{
	u64 pg[CHUNK], w, sent = 0;
	u32 n = 0;

	for (w = 0; w < bm_words(npages); w++) {
		while (set[w]) {
			pg[n++] = w * 64 + __builtin_ctzll(set[w]);
			set[w] &= set[w] - 1;
			if (n == CHUNK) {
				if (send_pages(fd, MSG_PAGES, round, mem, pg, n))
					return -1;
				sent += n;
				n = 0;
			}
		}
	}
	if (n && send_pages(fd, MSG_PAGES, round, mem, pg, n))
		return -1;
	return sent + n;
}

/* ---- transport ---- */

static socklen_t parse_addr(const char *a, struct sockaddr_storage *ss,
			    int *family)
{
	memset(ss, 0, sizeof(*ss));
	if (!strncmp(a, "unix:", 5)) {
		struct sockaddr_un *un = (void *)ss;

		if (strlen(a + 5) >= sizeof(un->sun_path) || !a[5])
			return 0;
		un->sun_family = AF_UNIX;
		snprintf(un->sun_path, sizeof(un->sun_path), "%s", a + 5);
		*family = AF_UNIX;
		return sizeof(*un);
	}
	if (!strncmp(a, "tcp:", 4)) {
		struct sockaddr_in *in = (void *)ss;
		char *end;
		unsigned long port = strtoul(a + 4, &end, 10);

		if (*end || !a[4] || port > 65535)
			return 0;
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		/* Loopback only: both ends read the same CLOCK_MONOTONIC. */
		in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		*family = AF_INET;
		return sizeof(*in);
	}
	return 0;
}

static void tune(int fd, int family)
{
	int one = 1;

	/* STATE and STATE_ACK are small and on the downtime's clock. */
	if (family == AF_INET)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int listen_on(const char *a, int *family)
{
	struct sockaddr_storage ss;
	socklen_t len = parse_addr(a, &ss, family);
	int fd, one = 1;

	if (!len) {
		fprintf(stderr, "eptmmu_migrate: bad address '%s' (unix:PATH or tcp:PORT)\n", a);
		exit(2);
	}
	fd = socket(*family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (*family == AF_UNIX)
		unlink(((struct sockaddr_un *)&ss)->sun_path);
	if (bind(fd, (void *)&ss, len) || listen(fd, 1))
		die("bind/listen %s", a);
	return fd;
}

static int connect_to(const char *a)
{
	struct sockaddr_storage ss;
	int family, fd, tries;
	socklen_t len = parse_addr(a, &ss, &family);

	if (!len) {
		fprintf(stderr, "eptmmu_migrate: bad address '%s' (unix:PATH or tcp:PORT)\n", a);
		exit(2);
	}
	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	/* The other side may still be starting up: a few seconds of retries. */
	for (tries = 0; connect(fd, (void *)&ss, len); tries++) {
		if (tries == 50 || (errno != ENOENT && errno != ECONNREFUSED))
			die("connect %s", a);
		usleep(100000);
	}
	tune(fd, family);
	return fd;
}

/* The two directions of the link: one socket for both, or two pipes. */
struct conn {
	int rfd, wfd;
};

static pid_t dest_pid;

static struct conn conn_of(int fd)
{
	struct conn c = { .rfd = fd, .wfd = fd };

	return c;
}

/* Pipes instead of a socketpair, for kernels without CONFIG_NET. */
static void make_pipes(int to_dest[2], int to_src[2])
{
	if (pipe2(to_dest, O_CLOEXEC) || pipe2(to_src, O_CLOEXEC))
		die("pipe2");
	/* Bigger pipes, fewer wake-ups per page; the default works too. */
	fcntl(to_dest[1], F_SETPIPE_SZ, 1 << 20);
	fcntl(to_src[1], F_SETPIPE_SZ, 1 << 20);
}

/*
 * The destination as a separate process (fork + exec of this binary), so
 * it has its own address space, /dev/eptmmu and VM: nothing is shared but
 * the link.  Its end of a socketpair or of the pipes is inherited (the
 * only descriptors without O_CLOEXEC); with unix or tcp it connects back.
 */
static struct conn spawn_dest(char *what, size_t len)
{
	char rarg[16] = "", warg[16] = "", addr[128] = "";
	int sv[2] = { -1, -1 }, to_dest[2], to_src[2];
	int lfd = -1, family = AF_UNIX, fd;
	const char *t = opt.transport;
	struct conn c;

	if (!strcmp(t, "pair")) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
			/*
			 * Without CONFIG_NET the socket system calls do not
			 * exist (ENOSYS); without CONFIG_UNIX the family.
			 */
			if (errno != ENOSYS && errno != EAFNOSUPPORT)
				die("socketpair");
			t = "pipe";
		} else {
			snprintf(rarg, sizeof(rarg), "%d", sv[1]);
			snprintf(warg, sizeof(warg), "%d", sv[1]);
			snprintf(what, len, "a UNIX socketpair");
		}
	}
	if (!strcmp(t, "pipe")) {
		make_pipes(to_dest, to_src);
		snprintf(rarg, sizeof(rarg), "%d", to_dest[0]);
		snprintf(warg, sizeof(warg), "%d", to_src[1]);
		snprintf(what, len, "two pipes%s", t == opt.transport ? "" :
			 " (socketpair: no sockets in this kernel)");
	} else if (!strcmp(t, "unix")) {
		snprintf(addr, sizeof(addr), "unix:/tmp/eptmmu_migrate.%d.sock",
			 getpid());
		lfd = listen_on(addr, &family);
		snprintf(what, len, "a UNIX socket (%s)", addr + 5);
	} else if (!strcmp(t, "tcp")) {
		struct sockaddr_in in;
		socklen_t sl = sizeof(in);

		lfd = listen_on("tcp:0", &family);
		if (getsockname(lfd, (void *)&in, &sl))
			die("getsockname");
		snprintf(addr, sizeof(addr), "tcp:%u", ntohs(in.sin_port));
		snprintf(what, len, "TCP on 127.0.0.1:%u", ntohs(in.sin_port));
	} else if (strcmp(t, "pair")) {
		fprintf(stderr, "eptmmu_migrate: --transport pair, pipe, unix or tcp\n");
		exit(2);
	}
	fflush(stdout);
	dest_pid = fork();
	if (dest_pid < 0)
		die("fork");
	if (!dest_pid) {
		if (lfd >= 0) {
			execl("/proc/self/exe", "eptmmu_migrate", "--dest",
			      "--connect", addr, (char *)NULL);
		} else {
			/* Its ends stay open across exec, ours do not. */
			fcntl(atoi(rarg), F_SETFD, 0);
			fcntl(atoi(warg), F_SETFD, 0);
			execl("/proc/self/exe", "eptmmu_migrate", "--dest",
			      "--fd", rarg, "--wfd", warg, (char *)NULL);
		}
		perror("eptmmu_migrate: exec /proc/self/exe");
		_exit(2);
	}
	if (sv[0] >= 0) {
		close(sv[1]);
		return conn_of(sv[0]);
	}
	if (lfd < 0) {
		close(to_dest[0]);
		close(to_src[1]);
		c.rfd = to_src[0];
		c.wfd = to_dest[1];
		return c;
	}
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		die("accept");
	tune(fd, family);
	close(lfd);
	if (family == AF_UNIX)
		unlink(addr + 5);
	return conn_of(fd);
}

/* ---- the destination ---- */

/* Record a page that differs (the first MAX_EXAMPLES of them). */
static void example(struct dest_result *res, u64 pg, const u64 *want,
		    const u64 *got, const u8 *round)
{
	struct example *e;
	u32 w;

	if (res->nex == MAX_EXAMPLES)
		return;
	for (w = 0; w < WORDS && want[w] == got[w]; w++)
		;
	e = &res->ex[res->nex++];
	e->page = pg;
	e->word = w;
	e->want = want[w];
	e->got = got[w];
	e->round = round[pg];
}

static u8 round_mark(u64 round)
{
	return round > 255 ? 255 : round;
}

/* One migration, destination side, after HELLO; 0, or -1: connection lost. */
static int dest_migrate(const struct conn *c, int devfd, const struct wl_params *p)
{
	struct workload wl = { .p = p, .vm = -1 };
	struct dest_result res = { 0 };
	struct vcpu_state st;
	struct msg_hdr h;
	u64 pg[CHUNK], *img = NULL;
	u8 *round = NULL;
	const char *err;
	u64 t0, first;
	unsigned int v;
	u32 i;

	wl.mem = xmap(p->pages * PAGE_SIZE, SZ_2M);
	wl.model = xmap(p->pages * PAGE_SIZE, PAGE_SIZE);
	round = calloc(p->pages, 1);
	img = malloc(CHUNK * PAGE_SIZE);
	if (!round || !img)
		die("malloc");
	/* Fresh memory reads 0, which pat() never is: a page never sent differs. */
	err = wl_create(&wl, devfd);
	if (err) {
		res.failed = 1;
		snprintf(res.why, sizeof(res.why), "destination: %s: %s", err,
			 strerror(errno));
	}
	if (send_msg(c->wfd, MSG_READY, 0, wl.backend, NULL, 0))
		return -1;

	/* Pages until STATE, then the vCPU state. */
	for (;;) {
		struct iovec iov[CHUNK];

		if (recv_hdr(c->rfd, &h, 0))
			return -1;
		if (h.type == MSG_STATE)
			break;
		if (h.type != MSG_PAGES || h.count > CHUNK ||
		    read_all(c->rfd, pg, h.count * sizeof(u64))) {
			errno = EPROTO;
			return -1;
		}
		for (i = 0; i < h.count; i++) {
			if (pg[i] >= p->pages) {
				errno = EPROTO;
				return -1;
			}
			/* Straight into guest memory, as a VMM's receiver does. */
			iov[i].iov_base = wl.mem + pg[i] * PAGE_SIZE;
			iov[i].iov_len = PAGE_SIZE;
			round[pg[i]] = round_mark(h.arg);
		}
		if (iov_all(c->rfd, iov, h.count, false))
			return -1;
		res.pages_received += h.count;
	}
	if (h.count != sizeof(st) || read_all(c->rfd, &st, sizeof(st)))
		return -1;
	for (v = 0; v < p->vcpus; v++)
		wl.vt[v].pos = st.pos[v];
	/* Memory and vCPU state are in: this is where it could resume. */
	res.t_ready = now_ns();
	if (send_msg(c->wfd, MSG_STATE_ACK, 0, res.t_ready, NULL, 0))
		return -1;

	/* Byte by byte against the source's stop-point image. */
	t0 = now_ns();
	for (;;) {
		if (recv_hdr(c->rfd, &h, MSG_VERIFY))
			return -1;
		if (!h.count)
			break;
		if (h.count > CHUNK || read_all(c->rfd, pg, h.count * sizeof(u64)) ||
		    read_all(c->rfd, img, h.count * PAGE_SIZE))
			return -1;
		for (i = 0; i < h.count; i++) {
			const u64 *want = img + i * WORDS;

			if (pg[i] >= p->pages) {
				errno = EPROTO;
				return -1;
			}
			res.compared++;
			if (!memcmp(want, wl.mem + pg[i] * PAGE_SIZE, PAGE_SIZE))
				continue;
			res.differ++;
			example(&res, pg[i], want,
				(u64 *)(wl.mem + pg[i] * PAGE_SIZE), round);
		}
	}
	res.compare_ns = now_ns() - t0;
	/* And against the workload replayed to the handed-over positions. */
	t0 = now_ns();
	replay(p, wl.model, st.pos);
	res.replay_bad = pages_differing(&wl, &res.replay_first);
	res.replay_ns = now_ns() - t0;

	/* Resume: the vCPUs carry on from where the source's stopped. */
	if (!res.failed) {
		res.t_resumed = now_ns();
		wl_start(&wl);
		usleep(p->post_ms * 1000);
		wl_stop(&wl);
		res.post_writes = wl_writes(&wl, true);
		res.post_reads = wl_reads(&wl);
		res.post_bad_reads = wl_bad_reads(&wl, res.post_why,
						  sizeof(res.post_why));
		res.post_final_bad = pages_differing(&wl, &first);
		err = wl_failure(&wl);
		if (err) {
			res.failed = 1;
			snprintf(res.why, sizeof(res.why), "destination vCPU: %s", err);
		}
	}
	res.audit = wl_destroy(&wl);
	munmap(wl.mem, p->pages * PAGE_SIZE);
	munmap(wl.model, p->pages * PAGE_SIZE);
	free(round);
	free(img);
	return send_msg(c->wfd, MSG_RESULT, sizeof(res), 0, &res, sizeof(res));
}

static int dest_main(const struct conn *c)
{
	struct wl_params p;
	struct msg_hdr h;
	int devfd = xopen_dev();

	for (;;) {
		if (recv_hdr(c->rfd, &h, 0))
			break;
		if (h.type == MSG_BYE)
			return 0;
		if (h.type != MSG_HELLO || h.count != sizeof(p) ||
		    read_all(c->rfd, &p, sizeof(p)) || p.magic != PROTO_MAGIC ||
		    !p.vcpus || p.vcpus > MAX_VCPUS || !p.pages ||
		    p.pages % p.vcpus || p.pages > (4ULL << 30) / PAGE_SIZE) {
			errno = EPROTO;
			break;
		}
		if (dest_migrate(c, devfd, &p))
			break;
	}
	fprintf(stderr, "eptmmu_migrate: destination: connection lost: %s\n",
		strerror(errno));
	return 2;
}

/* ---- the source ---- */

static FILE *csv;

static void csv_row(const char *mode, const char *kind, u64 round, u64 found,
		    u64 sent, double ms, double total_ms, double downtime_ms,
		    const char *verdict)
{
	if (!csv)
		return;
	fprintf(csv, "%s,%s,%llu,%llu,%llu,%.3f,%.3f,", mode, kind, round,
		found, sent, ms, total_ms);
	if (downtime_ms >= 0)
		fprintf(csv, "%.3f", downtime_ms);
	fprintf(csv, ",%s\n", verdict);
}

static const char *backend_name(int b)
{
	return b == EPTMMU_BACKEND_VMX ? "vmx" : "soft";
}

static void skip_mode(const char *mode, const char *why)
{
	static const char *const checks[NTAP] = {
		"source workload", "destination byte-identical to the source",
		"destination = replayed workload", "destination resumed",
		"MMU audit",
	};
	int c;

	for (c = 0; c < NTAP; c++)
		tap_skip(why, "%s: %s", mode, checks[c]);
}

/* Send the whole stop-point image for the destination to compare. */
static int send_image(int fd, const u8 *mem, u64 npages)
{
	u64 pg[CHUNK], base;
	u32 i, n;

	for (base = 0; base < npages; base += n) {
		n = npages - base < CHUNK ? npages - base : CHUNK;
		for (i = 0; i < n; i++)
			pg[i] = base + i;
		if (send_pages(fd, MSG_VERIFY, 0, mem, pg, n))
			return -1;
	}
	return send_msg(fd, MSG_VERIFY, 0, 0, NULL, 0);
}

/*
 * One migration in @m; false when the connection is gone (the results
 * are then printed as failures).
 */
static bool migrate(const struct conn *c, int devfd, int m, const struct dirty_source_ops *dso)
{
	const char *mn = mode_name[m];
	struct wl_params p = {
		.magic = PROTO_MAGIC,
		.seed = opt.seed + m,
		.pages = (u64)opt.mib * 256,
		.rate = opt.rate,
		.vcpus = opt.vcpus,
		.hot = opt.hot,
		.hot_pct = opt.hot_pct,
		.mode = m,
		.post_ms = opt.post_ms,
	};
	struct workload wl = { .p = &p, .vm = -1,
			       .ring_entries = dso->ring ? opt.ring : 0 };
	struct dirty_source ds = { .ops = dso };
	struct dest_result res;
	struct vcpu_state st = { 0 };
	int vfds[MAX_VCPUS];
	u64 *set, words = bm_words(p.pages), t_mig, t_round, sent, total = 0;
	u64 found = 0, first, src_bad, src_bad_reads, warm, pre_writes;
	u64 after, t_ready;
	double downtime, ms;
	const char *err;
	char why[240];
	unsigned int v, rounds = 0;
	struct msg_hdr h;
	long audit, n;
	bool ok, pass;
	u32 i;

	wl.mem = xmap(p.pages * PAGE_SIZE, SZ_2M);
	wl.model = xmap(p.pages * PAGE_SIZE, PAGE_SIZE);
	set = calloc(words, sizeof(u64));
	if (!set)
		die("calloc");
	initial_image(&p, (u64 *)wl.mem);
	initial_image(&p, wl.model);
	err = wl_create(&wl, devfd);
	if (err)
		die("source: %s", err);
	if (m == MODE_DBIT && !wl.ept_ad) {
		wl_destroy(&wl);
		skip_mode(mn, "VM has no EPT A/D (dbit needs ept_ad=on)");
		goto out_free;
	}
	for (v = 0; v < p.vcpus; v++)
		vfds[v] = wl.vt[v].fd;
	ds = (struct dirty_source){
		.ops = dso, .vm = wl.vm, .slot = DATA_SLOT,
		.log_flags = EPTMMU_MEM_LOG_DIRTY_PAGES |
			     (m == MODE_DBIT ? EPTMMU_MEM_DIRTY_LOG_DBIT : 0),
		.gpa = GPA_BASE, .npages = p.pages, .hva = wl.mem,
		.vcpu_fds = vfds, .nvcpus = p.vcpus,
		.ring_entries = wl.ring_entries,
	};

	/* The guest runs before anything is sent, as a guest being migrated does. */
	wl_start(&wl);
	if (send_msg(c->wfd, MSG_HELLO, sizeof(p), 0, &p, sizeof(p)) ||
	    recv_hdr(c->rfd, &h, MSG_READY))
		goto lost;
	usleep(opt.warmup_ms * 1000);
	warm = wl_writes(&wl, false);
	tap_diag("%s: source VM (%s vCPU) running, destination VM (%s vCPU) ready; warm-up %u ms: %llu writes",
		 mn, backend_name(wl.backend), backend_name(h.arg),
		 opt.warmup_ms, warm);

	t_mig = now_ns();
	n = dso->start(&ds);
	if (n)
		die("source: turning dirty logging on: %s", strerror((int)-n));
	/* Round 1: everything; the log has been on since just before. */
	for (;;) {
		t_round = now_ns();
		if (!rounds) {
			memset(set, 0xff, words * sizeof(u64));
			if (p.pages % 64)
				set[words - 1] = (1ULL << (p.pages % 64)) - 1;
			found = p.pages;
		} else {
			n = dso->collect(&ds, set);
			if (n < 0)
				die("source: %s: collect", dso->name);
			found = n;
			if (found <= opt.threshold || rounds >= opt.max_rounds)
				break;	/* the rest goes with the vCPUs stopped */
		}
		rounds++;
		n = send_set(c->wfd, rounds, wl.mem, set, p.pages);
		if (n < 0)
			goto lost;
		sent = n;
		total += sent;
		ms = (now_ns() - t_round) / 1e6;
		tap_diag("%s: round %2u  dirty %7llu  sent %7llu  %8.2f ms  (%.1f ms in)%s",
			 mn, rounds, found, sent, ms, (now_ns() - t_mig) / 1e6,
			 rounds == 1 ? "  full copy, vCPUs running" : "");
		csv_row(mn, "precopy", rounds, found, sent, ms,
			(now_ns() - t_mig) / 1e6, -1, "");
	}

	/* Stop-and-copy: downtime starts when the vCPUs are told to stop. */
	st.t_stop = now_ns();
	wl_stop(&wl);
	n = dso->collect(&ds, set);
	if (n < 0)
		die("source: %s: final collect", dso->name);
	rounds++;
	after = n;
	n = send_set(c->wfd, rounds, wl.mem, set, p.pages);
	if (n < 0)
		goto lost;
	sent = n;
	total += sent;
	for (v = 0; v < p.vcpus; v++)
		st.pos[v] = wl.vt[v].pos;
	if (send_msg(c->wfd, MSG_STATE, sizeof(st), 0, &st, sizeof(st)) ||
	    recv_hdr(c->rfd, &h, MSG_STATE_ACK))
		goto lost;
	t_ready = h.arg;
	downtime = (t_ready - st.t_stop) / 1e6;
	ms = (t_ready - t_round) / 1e6;
	tap_diag("%s: round %2u  dirty %7llu  sent %7llu  %8.2f ms  (%.1f ms in)  vCPUs stopped: %llu found before, %llu after",
		 mn, rounds, sent, sent, ms, (t_ready - t_mig) / 1e6, found,
		 after);
	csv_row(mn, "final", rounds, sent, sent, ms, (t_ready - t_mig) / 1e6,
		downtime, "");
	dso->stop(&ds);
	if (dso->ring) {
		u64 full = 0, overflow = ~0ULL;

		for (v = 0; v < p.vcpus; v++)
			full += wl.vt[v].ring_full;
		if (vm_stat(wl.vm, "dirty_ring_overflow", &overflow))
			overflow = 0;	/* no debugfs: the audit line says so */
		tap_diag("%s: %u-entry rings: %llu ring-full exits waited out, %llu entries overflowed",
			 mn, opt.ring, full, overflow);
		if (overflow)
			die("source: %llu dirty-ring entries overflowed", overflow);
	}

	/* The source side of the checks, at the stop point. */
	pre_writes = wl_writes(&wl, false);
	src_bad = pages_differing(&wl, &first);
	src_bad_reads = wl_bad_reads(&wl, why, sizeof(why));
	if (send_image(c->wfd, wl.mem, p.pages) || recv_hdr(c->rfd, &h, MSG_RESULT) ||
	    h.count != sizeof(res) || read_all(c->rfd, &res, sizeof(res)))
		goto lost;
	err = wl_failure(&wl);
	audit = wl_destroy(&wl);

	for (v = 0; v < p.vcpus; v++)
		tap_diag("%s: vCPU %u handed over at write %llu", mn, v,
			 st.pos[v]);
	tap_diag("%s: destination compared the source's image for %.1f ms and the replay for %.1f ms, then resumed %.1f ms after the stop",
		 mn, res.compare_ns / 1e6, res.replay_ns / 1e6,
		 (res.t_resumed - st.t_stop) / 1e6);

	ok = !err && !src_bad && !src_bad_reads;
	if (err)
		tap_diag("%s: source vCPU: %s", mn, err);
	if (src_bad_reads)
		tap_diag("%s: source: %llu reads wrong: %s", mn, src_bad_reads, why);
	if (src_bad)
		tap_diag("%s: source: %llu pages differ from what its vCPUs wrote (first: page %llu)",
			 mn, src_bad, first);
	pass = tap_ok(ok, "%s: source workload: %llu writes (%llu during the migration), %llu of %llu guest reads as expected, %llu pages at the stop point unlike what it wrote",
		      mn, pre_writes, pre_writes - warm,
		      wl_reads(&wl) - src_bad_reads, wl_reads(&wl), src_bad);

	for (i = 0; i < res.nex; i++)
		tap_diag("%s: page %llu (gpa %#llx) differs at word %u: source %#llx, destination %#llx; %s%.0u",
			 mn, res.ex[i].page, GPA_BASE + res.ex[i].page * PAGE_SIZE,
			 res.ex[i].word, res.ex[i].want, res.ex[i].got,
			 res.ex[i].round ? "last sent in round " : "never sent",
			 res.ex[i].round);
	pass &= tap_ok(res.compared == p.pages && !res.differ,
		       "%s: destination byte-identical to the source at the stop point: %llu of %llu pages compared, %llu differ",
		       mn, res.compared, p.pages, res.differ);

	if (res.replay_bad)
		tap_diag("%s: first page unlike the replay: %llu", mn,
			 res.replay_first);
	pass &= tap_ok(!res.replay_bad,
		       "%s: destination = the workload replayed from the seed to the handed-over positions: %llu pages differ",
		       mn, res.replay_bad);

	if (res.failed)
		tap_diag("%s: %s", mn, res.why);
	if (res.post_bad_reads)
		tap_diag("%s: destination: %llu reads wrong: %s", mn,
			 res.post_bad_reads, res.post_why);
	pass &= tap_ok(!res.failed && res.post_writes && !res.post_bad_reads &&
		       !res.post_final_bad,
		       "%s: destination resumed for %u ms: %llu writes, %llu of %llu guest reads as expected, %llu pages unlike the model at its end",
		       mn, p.post_ms, res.post_writes,
		       res.post_reads - res.post_bad_reads, res.post_reads,
		       res.post_final_bad);

	if (audit == -ENOENT && res.audit == -ENOENT)
		tap_skip("no /sys/kernel/debug/eptmmu (debugfs not mounted?)",
			 "%s: MMU audit", mn);
	else
		pass &= tap_ok(!audit && !res.audit,
			       "%s: MMU audit: source VM %ld, destination VM %lld violations",
			       mn, audit, (long long)res.audit);

	tap_diag("%s: %llu pages (%.1f MiB) in %u rounds, %.1f ms; downtime %.2f ms (vCPUs stopped -> destination ready); verdict: %s",
		 mn, total, total * PAGE_SIZE / 1048576.0, rounds,
		 (t_ready - t_mig) / 1e6, downtime, pass ? "PASS" : "FAIL");
	csv_row(mn, "total", rounds, total, total, (t_ready - t_mig) / 1e6,
		(t_ready - t_mig) / 1e6, downtime, pass ? "PASS" : "FAIL");
	goto out_free;

lost:
	tap_diag("%s: connection to the destination lost: %s", mn,
		 strerror(errno));
	wl_destroy(&wl);
	free(set);
	return false;

out_free:
	munmap(wl.mem, p.pages * PAGE_SIZE);
	munmap(wl.model, p.pages * PAGE_SIZE);
	free(set);
	return true;
}

static void usage(FILE *f)
{
	size_t i;

	fprintf(f,
		"usage: eptmmu_migrate [options]          source; starts its own destination\n"
		"       eptmmu_migrate --listen ADDR ...  source; waits for a destination\n"
		"       eptmmu_migrate --dest --connect ADDR   a destination\n"
		"Live-migrates a running VM to another process over the dirty log and checks\n"
		"that the destination's memory is byte-identical to the source's at the stop\n"
		"point, then resumes the workload there.\n"
		"  -M, --mode M        wp, dbit or all (default all: wp, then dbit if the VM\n"
		"                      has EPT A/D; dbit needs eptmmu ept_ad=on)\n"
		"  -m, --mib N         guest memory in MiB (default %u)\n"
		"  -v, --vcpus N       vCPU threads (default %u, at most %d)\n"
		"  -r, --rate N        guest writes per second per vCPU, 0: flat out (default %lu)\n"
		"  -H, --hot N         pages per vCPU that take --hot-pct of its writes (default %u)\n"
		"  -P, --hot-pct P     (default %u)\n"
		"  -t, --threshold N   stop and copy once a harvest finds at most N pages\n"
		"                      (default %u)\n"
		"  -R, --max-rounds N  or after N pre-copy rounds (default %u)\n"
		"  -w, --warmup MS     vCPUs run this long before the migration (default %u)\n"
		"  -p, --post MS       the destination runs this long after resuming (default %u)\n"
		"  -s, --seed N        workload seed (default 0)\n"
		"  -d, --dirty SRC     dirty source:",
		opt.mib, opt.vcpus, MAX_VCPUS, opt.rate, opt.hot, opt.hot_pct,
		opt.threshold, opt.max_rounds, opt.warmup_ms, opt.post_ms);
	for (i = 0; i < ARRAY_SIZE(dirty_sources); i++)
		fprintf(f, "\n                        %-11s %s%s",
			dirty_sources[i].name, dirty_sources[i].what,
			i ? "" : " (default)");
	fprintf(f, "\n"
		"  -G, --ring N        entries per vCPU of -d ring's rings (default %u)\n"
		"  -T, --transport T   how the started destination is reached: pair (a\n"
		"                      UNIX socketpair, default; pipes if the kernel has no\n"
		"                      sockets), pipe, unix (a socket path) or tcp\n"
		"                      (127.0.0.1, needs lo up)\n"
		"      --listen ADDR   do not start one: wait for a destination at ADDR\n"
		"      --dest          be the destination; with --connect ADDR\n"
		"  ADDR is unix:PATH or tcp:PORT (loopback only: both ends time the\n"
		"  downtime with the same CLOCK_MONOTONIC)\n"
		"      --csv FILE      per-round rows (mode,kind,round,dirty,sent,round_ms,\n"
		"                      elapsed_ms,downtime_ms,verdict); - for stdout\n"
		"  -h, --help\n"
		"Output is TAP: progress and rounds as '#' lines, %d results per\n"
		"migration, then 'verdict: PASS' or 'verdict: FAIL'.  Exit 0 iff all\n"
		"passed, 1 if a check failed, 2 on a usage or setup error.\n",
		opt.ring, NTAP);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "mode", required_argument, NULL, 'M' },
		{ "mib", required_argument, NULL, 'm' },
		{ "vcpus", required_argument, NULL, 'v' },
		{ "rate", required_argument, NULL, 'r' },
		{ "hot", required_argument, NULL, 'H' },
		{ "hot-pct", required_argument, NULL, 'P' },
		{ "threshold", required_argument, NULL, 't' },
		{ "max-rounds", required_argument, NULL, 'R' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "post", required_argument, NULL, 'p' },
		{ "seed", required_argument, NULL, 's' },
		{ "dirty", required_argument, NULL, 'd' },
		{ "ring", required_argument, NULL, 'G' },
		{ "transport", required_argument, NULL, 'T' },
		{ "listen", required_argument, NULL, 'L' },
		{ "connect", required_argument, NULL, 'C' },
		{ "dest", no_argument, NULL, 'D' },
		{ "fd", required_argument, NULL, 'F' },
		{ "wfd", required_argument, NULL, 'W' },
		{ "csv", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ }
	};
	const struct dirty_source_ops *dso;
	const char *modes = "all";
	char what[192];
	int ch, devfd, m, status = 0, failed;
	struct conn c;

	while ((ch = getopt_long(argc, argv, "M:m:v:r:H:P:t:R:w:p:s:d:G:T:h", lo,
				 NULL)) != -1) {
		switch (ch) {
		case 'M':
			modes = optarg;
			break;
		case 'm':
			opt.mib = parse_num(optarg, 1, 2048);
			break;
		case 'v':
			opt.vcpus = parse_num(optarg, 1, MAX_VCPUS);
			break;
		case 'r':
			opt.rate = parse_num(optarg, 0, 100000000);
			break;
		case 'H':
			opt.hot = parse_num(optarg, 1, 1UL << 20);
			break;
		case 'P':
			opt.hot_pct = parse_num(optarg, 0, 100);
			break;
		case 't':
			opt.threshold = parse_num(optarg, 0, 1UL << 30);
			break;
		case 'R':
			opt.max_rounds = parse_num(optarg, 1, 250);
			break;
		case 'w':
			opt.warmup_ms = parse_num(optarg, 0, 600000);
			break;
		case 'p':
			opt.post_ms = parse_num(optarg, 1, 600000);
			break;
		case 's':
			opt.seed = parse_num(optarg, 0, ~0UL);
			break;
		case 'd':
			opt.dirty = optarg;
			break;
		case 'G':
			opt.ring = parse_num(optarg, EPTMMU_DIRTY_RING_MIN_ENTRIES,
					     EPTMMU_DIRTY_RING_MAX_ENTRIES);
			break;
		case 'T':
			opt.transport = optarg;
			break;
		case 'L':
			opt.listen = optarg;
			break;
		case 'C':
			opt.connect = optarg;
			break;
		case 'D':
			opt.dest = true;
			break;
		case 'F':
			opt.dest_fd = parse_num(optarg, 0, 1 << 20);
			break;
		case 'W':
			opt.dest_wfd = parse_num(optarg, 0, 1 << 20);
			break;
		case 'c':
			opt.csv = optarg;
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
	signal(SIGPIPE, SIG_IGN);

	if (opt.dest) {
		if (opt.dest_fd >= 0) {
			c.rfd = opt.dest_fd;
			c.wfd = opt.dest_wfd >= 0 ? opt.dest_wfd : opt.dest_fd;
			return dest_main(&c);
		}
		if (!opt.connect) {
			fprintf(stderr, "eptmmu_migrate: --dest needs --connect ADDR\n");
			return 2;
		}
		c = conn_of(connect_to(opt.connect));
		return dest_main(&c);
	}

	if (!strcmp(modes, "all")) {
		opt.mode[MODE_WP] = true;
		opt.mode[MODE_DBIT] = true;
	} else {
		for (m = 0; m < NR_MODES; m++)
			opt.mode[m] = !strcmp(modes, mode_name[m]);
		if (!opt.mode[MODE_WP] && !opt.mode[MODE_DBIT]) {
			fprintf(stderr, "eptmmu_migrate: --mode wp, dbit or all\n");
			return 2;
		}
	}
	dso = dirty_source_by_name(opt.dirty);
	if (!dso) {
		fprintf(stderr, "eptmmu_migrate: no dirty source '%s' (--help lists them)\n",
			opt.dirty);
		return 2;
	}
	if ((u64)opt.mib * 256 % opt.vcpus) {
		fprintf(stderr, "eptmmu_migrate: %u MiB do not split into %u equal vCPU chunks\n",
			opt.mib, opt.vcpus);
		return 2;
	}
	if (opt.csv) {
		csv = strcmp(opt.csv, "-") ? fopen(opt.csv, "we") : stdout;
		if (!csv)
			die("%s", opt.csv);
		fprintf(csv, "mode,kind,round,dirty,sent,round_ms,elapsed_ms,downtime_ms,verdict\n");
	}

	if (opt.listen) {
		int family, lfd = listen_on(opt.listen, &family);

		fprintf(stderr, "eptmmu_migrate: waiting for a destination at %s\n",
			opt.listen);
		c = conn_of(accept4(lfd, NULL, NULL, SOCK_CLOEXEC));
		if (c.rfd < 0)
			die("accept");
		tune(c.rfd, family);
		close(lfd);
		snprintf(what, sizeof(what), "%s", opt.listen);
	} else {
		c = spawn_dest(what, sizeof(what));
	}

	tap_plan(NTAP * ((int)opt.mode[MODE_WP] + (int)opt.mode[MODE_DBIT]));
	devfd = xopen_dev();
	tap_diag("eptmmu_migrate: %u MiB, %u vCPUs, %lu writes/s per vCPU (%u%% to %u hot pages each), seed %llu",
		 opt.mib, opt.vcpus, opt.rate, opt.hot_pct, opt.hot, opt.seed);
	tap_diag("%s; stop and copy at <= %u dirty pages or after %u rounds",
		 dso->what, opt.threshold, opt.max_rounds);
	if (dest_pid)
		tap_diag("destination: process %d (fork + exec), over %s",
			 dest_pid, what);
	else
		tap_diag("destination: connected at %s", what);
	for (m = 0; m < NR_MODES; m++) {
		int start = tap_count(), i;

		if (!opt.mode[m])
			continue;
		if (!migrate(&c, devfd, m, dso)) {
			for (i = tap_count() - start; i < NTAP; i++)
				tap_ok(false, "%s: not reached (connection lost)",
				       mode_name[m]);
			break;
		}
	}
	send_msg(c.wfd, MSG_BYE, 0, 0, NULL, 0);
	close(c.wfd);
	if (c.rfd != c.wfd)
		close(c.rfd);
	close(devfd);
	if (dest_pid) {
		if (waitpid(dest_pid, &status, 0) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status))
			tap_diag("destination process ended with status %#x", status);
	}
	if (csv && csv != stdout)
		fclose(csv);
	failed = tap_done();
	tap_diag("verdict: %s", failed ? "FAIL" : "PASS");
	return failed ? 1 : 0;
}
