// SPDX-License-Identifier: GPL-2.0
/*
 * eptmmu_stat: a live view of every eptmmu VM's counters, like kvm_stat.
 *
 * Reads /sys/kernel/debug/eptmmu/<tgid>-<vmfd>/<stat> (one file per
 * counter, mmu/stats.c) and prints each counter's value and its rate per
 * second since the previous refresh.  Needs no VM file descriptor, only
 * debugfs (root); with no VM, or no module, it says so and keeps looking.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_VMS		64
#define MAX_STATS	64
#define NAME_LEN	64

struct vm {
	char name[NAME_LEN];
	int nstats;
	char stat[MAX_STATS][NAME_LEN];
	unsigned long long value[MAX_STATS];
	unsigned long long prev[MAX_STATS];
	int have_prev;
};

static struct vm vms[MAX_VMS];
static int nvms;

static const char *root = "/sys/kernel/debug";
static const char *only_vm;
static double delay = 1;
static int once, csv;
static long count = -1;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: eptmmu_stat [options]\n"
		"Show the counters of every eptmmu VM, refreshed every few seconds.\n"
		"\n"
		"  -d, --delay SECS    seconds between refreshes (default 1; 0 with\n"
		"                      --once: values only, no rates)\n"
		"  -1, --once          one report: the values, and their rates over\n"
		"                      --delay seconds, then exit\n"
		"  -c, --csv           comma-separated lines: time,vm,stat,value,rate\n"
		"  -n, --count N       stop after N reports\n"
		"  -v, --vm TGID-FD    only this VM (a directory name below)\n"
		"  -r, --root DIR      where debugfs is mounted (default %s)\n"
		"  -h, --help          this text\n"
		"\n"
		"Reads DIR/eptmmu/<tgid>-<vmfd>/<stat>; needs root.  A VM appears once\n"
		"its process made it (EPTMMU_CREATE_VM) and goes when it is destroyed.\n"
		"Rates are per second since the previous report; the first report of a\n"
		"VM has none.\n", root);
}

static int read_u64(const char *path, unsigned long long *v)
{
	char buf[64];
	FILE *f = fopen(path, "r");
	int ok;

	if (!f)
		return -errno;
	ok = fgets(buf, sizeof(buf), f) != NULL;
	fclose(f);
	if (!ok)
		return -EIO;
	*v = strtoull(buf, NULL, 10);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(a, b);
}

static struct vm *find_vm(struct vm *list, int n, const char *name)
{
	int i;

	for (i = 0; i < n; i++)
		if (!strcmp(list[i].name, name))
			return &list[i];
	return NULL;
}

/*
 * Read every VM's stats; keep the previous values of VMs seen before.
 * Returns 0, or -ENOENT when DIR/eptmmu does not exist.
 */
static int sample(void)
{
	static struct vm old[MAX_VMS];
	char dir[512], path[1024];
	struct dirent *d;
	int nold = nvms, i, j;
	DIR *top, *vd;

	memcpy(old, vms, sizeof(vms));
	nvms = 0;
	snprintf(dir, sizeof(dir), "%s/eptmmu", root);
	top = opendir(dir);
	if (!top)
		return -ENOENT;
	while ((d = readdir(top)) && nvms < MAX_VMS) {
		struct vm *v = &vms[nvms];

		/* Only VM directories: <tgid>-<fd>. */
		if (d->d_name[0] < '0' || d->d_name[0] > '9' ||
		    !strchr(d->d_name, '-'))
			continue;
		if (only_vm && strcmp(only_vm, d->d_name))
			continue;
		memset(v, 0, sizeof(*v));
		snprintf(v->name, sizeof(v->name), "%.63s", d->d_name);
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		vd = opendir(path);
		if (!vd)
			continue;	/* gone meanwhile */
		while ((d = readdir(vd)) && v->nstats < MAX_STATS) {
			if (d->d_name[0] == '.' || !strcmp(d->d_name, "audit"))
				continue;
			snprintf(v->stat[v->nstats++], NAME_LEN, "%.63s", d->d_name);
		}
		closedir(vd);
		qsort(v->stat, v->nstats, NAME_LEN, cmp_str);
		for (i = 0; i < v->nstats; i++) {
			snprintf(path, sizeof(path), "%s/%s/%s", dir, v->name,
				 v->stat[i]);
			if (read_u64(path, &v->value[i]))
				v->value[i] = 0;
		}
		nvms++;
	}
	closedir(top);
	qsort(vms, nvms, sizeof(vms[0]), cmp_str);
	for (i = 0; i < nvms; i++) {
		struct vm *p = find_vm(old, nold, vms[i].name);

		if (!p || p->nstats != vms[i].nstats)
			continue;
		for (j = 0; j < vms[i].nstats; j++)
			vms[i].prev[j] = p->value[j];
		vms[i].have_prev = 1;
	}
	return 0;
}

static void print_rate(struct vm *v, int i, double secs, const char *fmt)
{
	if (v->have_prev && secs > 0)
		/* Signed: gauges (tables, pages_*) also go down. */
		printf(fmt, (double)(long long)(v->value[i] - v->prev[i]) / secs);
}

static void report(int r, double secs, int tty)
{
	time_t t = time(NULL);
	char when[64];
	int i, j;

	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime(&t));
	if (csv) {
		for (i = 0; i < nvms; i++) {
			for (j = 0; j < vms[i].nstats; j++) {
				printf("%lld,%s,%s,%llu,", (long long)t, vms[i].name,
				       vms[i].stat[j], vms[i].value[j]);
				print_rate(&vms[i], j, secs, "%.1f");
				printf("\n");
			}
		}
		fflush(stdout);
		return;
	}
	if (tty)
		printf("\033[H\033[2J");
	printf("eptmmu_stat  %s  every %g s\n", when, delay);
	if (r == -ENOENT)
		printf("no %s/eptmmu: eptmmu not loaded, or debugfs not mounted\n",
		       root);
	else if (!nvms)
		printf("no eptmmu VMs%s%s\n", only_vm ? " named " : "",
		       only_vm ? only_vm : "");
	for (i = 0; i < nvms; i++) {
		printf("\nVM %s\n %-24s %20s %14s\n", vms[i].name, "stat",
		       "value", "rate/s");
		for (j = 0; j < vms[i].nstats; j++) {
			printf(" %-24s %20llu ", vms[i].stat[j], vms[i].value[j]);
			if (vms[i].have_prev && secs > 0)
				print_rate(&vms[i], j, secs, "%14.1f");
			else
				printf("%14s", "-");
			printf("\n");
		}
	}
	fflush(stdout);
}

static void sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (time_t)s) * 1e9) };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "delay", required_argument, NULL, 'd' },
		{ "once", no_argument, NULL, '1' },
		{ "csv", no_argument, NULL, 'c' },
		{ "count", required_argument, NULL, 'n' },
		{ "vm", required_argument, NULL, 'v' },
		{ "root", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int tty = isatty(STDOUT_FILENO), c, r;
	char *end;

	while ((c = getopt_long(argc, argv, "d:1cn:v:r:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			delay = strtod(optarg, &end);
			if (*end || delay < 0 || delay > 3600) {
				fprintf(stderr, "eptmmu_stat: bad delay '%s'\n", optarg);
				return 2;
			}
			break;
		case '1':
			once = 1;
			break;
		case 'c':
			csv = 1;
			break;
		case 'n':
			count = strtol(optarg, &end, 10);
			if (*end || count < 1) {
				fprintf(stderr, "eptmmu_stat: bad count '%s'\n", optarg);
				return 2;
			}
			break;
		case 'v':
			only_vm = optarg;
			break;
		case 'r':
			root = optarg;
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
	if (!once && delay == 0) {
		fprintf(stderr, "eptmmu_stat: --delay 0 only with --once\n");
		return 2;
	}
	if (csv)
		printf("time,vm,stat,value,rate\n");
	tty = tty && !csv;
	if (once) {
		/* Values now; with a delay, a second sample gives the rates. */
		r = sample();
		if (delay > 0) {
			sleep_s(delay);
			r = sample();
		}
		report(r, delay, 0);
		return 0;
	}
	for (;;) {
		r = sample();
		report(r, delay, tty);
		if (count > 0 && --count == 0)
			return 0;
		sleep_s(delay);
	}
}
