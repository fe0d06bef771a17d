#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# `make bench`: dirty-logging and fault-path figures of eptmmu.
#
# Builds the plain test kernel, eptmmu.ko as a user would build it (no
# EPTMMU_TEST knobs) and tools/eptmmu_perf, boots QEMU (2 vCPUs) once and
# runs eptmmu_perf there for ept_ad=on and ept_ad=off, with 1 and 2 vCPU
# threads, in each dirty-logging mode the SPTE mode allows (wp always,
# dbit only with EPT A/D), each configuration $EPTMMU_BENCH_REPS times.
# The repetitions are interleaved (all configurations once, then again)
# so slow drift of the host shows up as spread, not as a bias between
# configurations.  After each insmod one small unmeasured run translates
# the module's code (TCG), so that no measured run pays for it.
# eptmmu_perf runs with -M -I, manual clearing with the
# bitmap initially set, because that is what KVM's dirty_log_perf_test
# does by default (KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE |
# KVM_DIRTY_LOG_INITIALLY_SET).
#
# Prints medians per configuration and phase, the populate scaling from 1
# to 2 vCPUs next to the guest's CPU ceiling (two busy loops against one:
# below 2 when the host's cores are busy elsewhere), fault latencies per
# phase and the fast-path speedup (latencies of the smallest size), and
# leaves in $EPTMMU_OUT/bench/:
#   raw.csv      every CSV line eptmmu_perf printed, with the run it came from
#   summary.csv  medians per size, configuration and phase
#   latency.csv  medians per configuration, phase and fault kind
#   kvm_compare.csv  eptmmu/KVM per size, phase and vCPUs, like for like or not
#   sweep.csv    seconds and seconds per GiB per size, eptmmu and KVM
#   harvest.csv  eptmmu_perf -R: one harvest of a 64-page (dirty_pct 0), a
#                1% and a 50% dirty set,
#                the bitmap (GET + CLEAR) beside the dirty ring (collect +
#                reset), per size and SPTE mode
#   bench.png    fault-latency histograms per kind, the phase times and
#                the size sweep
#
# The tracepoint cost: at the smallest size, ept_ad=on, wp, 1 vCPU, the
# module as shipped (events compiled in, disabled) beside the same module
# built with EPTMMU_NOTRACE=1 (every tracepoint compiled out) and beside
# the shipped one with every eptmmu event enabled, interleaved like the
# rest: phase times and mean fault latencies, and their ratios.
#
# The figures come from a TCG-emulated guest: compare them with each other
# (configurations, modes, before/after a change), not with real hardware.
#
# Knobs (environment): EPTMMU_BENCH_BYTES (per vCPU, one size or a list:
# the size sweep, default "64M 256M 1G"; each size runs every
# configuration), EPTMMU_BENCH_ITERS (default 5), EPTMMU_BENCH_REPS
# (default 3), EPTMMU_BENCH_TIMEOUT (QEMU, seconds, default 900 per 64 MiB
# of the sizes' sum, the largest step), EPTMMU_OUT.  The guest gets the
# memory the largest size needs at 2 vCPUs, plus 1 GiB.
#
# With several sizes it also prints, per phase and configuration, the
# cost per GiB of guest memory at each size and its max/min over the
# sizes (linear work: near 1), for eptmmu and for KVM, and adds them to
# sweep.csv and the plot.
#
# Side by side with KVM: the guest kernel is the kvm variant
# (scripts/kconfig/kvm.config: KVM and KVM_AMD built in; QEMU's TCG
# emulates SVM with nested paging for -cpu max, not VMX), so KVM's TDP MMU
# and eptmmu run in the same boot.  KVM's dirty_log_perf_test is built
# statically from tools/testing/selftests/kvm of the same linux-source-6.12
# tree and runs with the same -v, -b and -i (its default, manual protect,
# matches -M).  Only the MMU-work phases compare like with like; the table
# says which.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BYTES=${EPTMMU_BENCH_BYTES:-64M 256M 1G}
ITERS=${EPTMMU_BENCH_ITERS:-5}
REPS=${EPTMMU_BENCH_REPS:-3}

# MiB of a size such as 64M or 1G.
size_mib() {
	case $1 in
	*[gG]) echo $(( ${1%[gG]} * 1024 )) ;;
	*[mM]) echo $(( ${1%[mM]} )) ;;
	*) die "EPTMMU_BENCH_BYTES: '$1': want sizes like 64M or 1G" ;;
	esac
}
sum_mib=0
max_mib=0
for b in $BYTES; do
	m=$(size_mib "$b")
	sum_mib=$((sum_mib + m))
	[ "$m" -gt "$max_mib" ] && max_mib=$m
done
LIMIT=${EPTMMU_BENCH_TIMEOUT:-$(( 900 * ((sum_mib + 63) / 64) ))}
# Two vCPUs of the largest size, and room for the kernel and initramfs.
export EPTMMU_QEMU_MEM=$(( 2 * max_mib + 1024 ))M

t_start=$SECONDS
ensure_packages "${EPTMMU_PACKAGES[@]}" gnuplot-nox
mkdir -p "$EPTMMU_OUT"
# The KVM variant of the test kernel: eptmmu and KVM's TDP MMU (on SVM
# with nested paging, which TCG emulates) in the same guest, one boot.
kernel_build kvm
# The same module with every tracepoint compiled out, for the tracepoint
# comparison (below); copied out before the next build reuses MODDIR.
module_build bench-notrace EPTMMU_NOTRACE=1
cp "$MODDIR/src/eptmmu.ko" "$EPTMMU_OUT/eptmmu-notrace.ko"
module_build bench
tools_build

# KVM's own dirty_log_perf_test, static, from the same source tree as the
# guest kernel, cached beside that kernel's build.
kvm_perf_build() {
	KVMPERF=$KBUILD.kvm-selftests/dirty_log_perf_test
	[ -x "$KVMPERF" ] && return 0
	make -s -C "$KSRC" O="$KBUILD" ARCH=x86_64 headers_install >/dev/null
	make -s -C "$KSRC/tools/testing/selftests/kvm" ARCH=x86_64 \
		OUTPUT="$KBUILD.kvm-selftests" \
		KHDR_INCLUDES="-isystem $KBUILD/usr/include" LDFLAGS=-static \
		-j"$(nproc)" "$KVMPERF" >/dev/null 2>&1 ||
		die "building KVM's dirty_log_perf_test failed"
}
kvm_perf_build
t_built=$SECONDS

# The test kernel has neither HPET nor ACPI PM timer, so the TSC is the
# guest's only fine clock, and under TCG on a busy host its calibration
# against the PIT can fail, or the clocksource watchdog can call it
# unstable because the jiffies lag.  Either way the guest falls back to
# jiffies: phase times in 4 ms steps and fault latencies of 0 ns.  TCG's
# TSC is the host's, so measure its rate here and tell the guest.
guest_clock() {
	local bin=$EPTMMU_OUT/tsc_khz khz
	cc -O2 -o "$bin" -x c - <<'C' 2>/dev/null || return 0
#include <stdio.h>
#include <time.h>
#include <x86intrin.h>

int main(void)
{
	struct timespec a, b, d = { 0, 200000000 };
	unsigned long long c0, c1;

	clock_gettime(CLOCK_MONOTONIC_RAW, &a);
	c0 = __rdtsc();
	nanosleep(&d, NULL);
	c1 = __rdtsc();
	clock_gettime(CLOCK_MONOTONIC_RAW, &b);
	printf("%.0f\n", (c1 - c0) * 1e6 / ((b.tv_sec - a.tv_sec) * 1e9 +
					    (b.tv_nsec - a.tv_nsec)));
	return 0;
}
C
	khz=$("$bin") || return 0
	echo "tsc=reliable tsc_early_khz=$khz"
}

bench=$EPTMMU_OUT/bench
rm -rf "$bench"
mkdir -p "$bench"

plan=$EPTMMU_OUT/plan-bench.sh
cat >"$plan" <<PLAN
# The ceiling for any 2-vCPU scaling: one busy loop, then two at once.
# QEMU runs each guest CPU on a host thread; with a host core busy
# elsewhere the two share one and nothing can scale.
# eptmmu_perf runs are steps perf-AD-MODE-vN-rREP; it exits 2 where the
# VM cannot log in that mode (dbit without EPT A/D).
spin='BEGIN { for (i = 0; i < 300000; i++) s += i }'
mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null
# Enabling any event also hooks sched_switch to record task names, and
# disabling it unhooks it: each patches __schedule() under the other CPU,
# which under TCG now and then leaves that CPU on a stale int3 (seen at
# __schedule+0x2c5, the __tracepoint_sched_switch site, right after
# trace-on's events went off).  The eptmmu events' cost is what the
# tracepoint comparison measures, not the scheduler's hook: off.
echo 0 >/sys/kernel/tracing/options/record-cmd 2>/dev/null || :
# KVM enables the scheduler's preempt-notifier static key with its first
# VM and disables it with its last: each of its test's runs would patch
# __schedule() twice under the other CPU, and under TCG that patching
# now and then leaves a CPU on a stale int3 (an oops, then a panic, at
# the start of KVM's test).  One VM held for the whole plan keeps the key
# on (tools/eptmmu_kvm_hold.c).
/eptmmu_kvm_hold &
# A boot after a crash (bench_skip=N: the steps an earlier boot began)
# goes on from the next step; the rest of the plan runs as before.
skip=\$(sed -n 's/.*bench_skip=\([0-9]*\).*/\1/p' /proc/cmdline)
skip=\${skip:-0}
n=0
bstep() {
	n=\$((n + 1))
	[ \$n -le \$skip ] || step "\$@"
}
# TCG translates guest code the first time it runs, and a module loaded
# again sits at new addresses: the first run after an insmod would pay
# for translating every eptmmu path it takes (one sweep's first run after
# each insmod disabled logging at 1G in 5.5 ms, the runs after it in
# 0.9-1.7 ms), while KVM's built-in code stays translated from its first
# run on.  One small unmeasured run after each insmod, so every measured
# run is warm, as KVM's are.
warm() {
	/eptmmu_perf -q -M -I -m wp -v 2 -b 64M -i 2 >/dev/null 2>&1 || :
}
kvm_limit() {
	case \$1 in
	*G) m=\$(( \${1%G} * 1024 )) ;;
	*) m=\${1%M} ;;
	esac
	l=\$(( 60 * ((m + 63) / 64) ))
	[ \$l -ge 300 ] || l=300
	echo \$l
}
for rep in \$(seq 1 $REPS); do
	bstep cpu1-r\$rep time awk "\$spin"
	bstep cpu2-r\$rep time sh -c "awk '\$spin' & awk '\$spin' & wait"
	for b in $BYTES; do
		for v in 1 2; do
			# Bounded (1 min per 64 MiB, at least 5): one 2-vCPU
			# 256M run under nested SVM once made no progress for
			# 15 min; the rest of the plan still runs.
			bstep kvm-v\$v-b\$b-r\$rep timeout -s KILL \$(kvm_limit \$b) \
				/dirty_log_perf_test -v \$v -b \$b -i $ITERS
		done
		for ad in on off; do
			insmod /eptmmu.ko ept_ad=\$ad
			warm
			for v in 1 2; do
				for mode in wp dbit; do
					[ \$ad = off ] && [ \$mode = dbit ] && continue
					bstep perf-\$ad-\$mode-v\$v-b\$b-r\$rep /eptmmu_perf --csv \\
						-M -I -m \$mode -v \$v -b \$b -i $ITERS
				done
			done
			# One harvest of a 64-page, a 1% and a 50% dirty set:
			# the bitmap's GET + CLEAR beside the ring's collect +
			# reset.
			bstep harvest-\$ad-b\$b-r\$rep /eptmmu_perf -R --csv -b \$b -i $ITERS
			rmmod eptmmu
		done
	done
	# Tracepoints: the smallest size, ept_ad=on, wp, 1 vCPU, with the
	# module built without them, with them (disabled), and with every
	# eptmmu event enabled (the ring buffer overwrites: no reader).
	for t in notrace off on; do
		ko=/eptmmu.ko
		[ \$t = notrace ] && ko=/eptmmu-notrace.ko
		insmod \$ko ept_ad=on
		warm
		[ \$t = on ] && echo 1 >/sys/kernel/tracing/events/eptmmu/enable
		bstep trace-\$t-r\$rep /eptmmu_perf --csv -M -I -m wp -v 1 -b ${BYTES%% *} -i $ITERS
		[ \$t = on ] && echo 0 >/sys/kernel/tracing/events/eptmmu/enable
		rmmod eptmmu
	done
done
PLAN
make_initramfs "$EPTMMU_OUT/initrd-bench.gz" "$plan" \
	"$MODDIR/src/eptmmu.ko" "$EPTMMU_OUT/eptmmu-notrace.ko" \
	"$TOOLSDIR/eptmmu_perf" "$TOOLSDIR/eptmmu_kvm_hold" "$KVMPERF"

log=$EPTMMU_OUT/console-bench.log
say "booting QEMU ($EPTMMU_QEMU_MEM): $REPS x 6 runs of eptmmu_perf -M -I and 2 of KVM's test per size ($BYTES) -i $ITERS (log: $log, limit $LIMIT s)"
load0=$(cut -d' ' -f1-3 /proc/loadavg)
# Nested SVM under TCG is not robust: KVM's guest sometimes ends in a
# SHUTDOWN (its run fails, the rest goes on), and the whole test kernel
# has gone down in it (three times in one sweep before the held VM
# above; once a corrupted timer queue).  Then a new boot goes on after
# the step that was running, up to 6 boots, one log.
# The previous run's log stays beside it, for a figure to be checked.
[ -s "$log" ] && mv "$log" "$log.prev"
: >"$log"
clock=$(guest_clock)
boot=0 begun=0
while :; do
	qrc=0
	run_qemu "$KBUILD/arch/x86/boot/bzImage" "$EPTMMU_OUT/initrd-bench.gz" \
		"$log.$boot" "$LIMIT" "$clock bench_skip=$begun" || qrc=$?
	cat "$log.$boot" >>"$log"
	rm -f "$log.$boot"
	boot=$((boot + 1))
	[ $qrc -ne 124 ] && [ $boot -lt 6 ] &&
		! grep -q 'eptmmu-harness: DONE' "$log" || break
	begun=$(grep -ac 'eptmmu-harness: BEGIN' "$log")
	say "the guest went down in step $begun ($(grep -a 'eptmmu-harness: BEGIN' "$log" | tail -n 1 | sed 's/.*BEGIN //')); booting again from the next"
done
t_ran=$SECONDS
say "host: $(nproc) cores, load average $load0 before QEMU, $(cut -d' ' -f1-3 /proc/loadavg) after"
[ $qrc -eq 124 ] && say "QEMU timed out after $LIMIT s; reporting what finished"
grep -q 'eptmmu-harness: DONE' "$log" ||
	say "the guest did not finish its plan (QEMU status $qrc)"
case $(grep -a 'Switched to clocksource' "$log" | tail -n 1 | tr -d '\r') in
*clocksource\ tsc*) ;;
*) say "WARNING: the guest's clocksource is not the TSC: the times below are coarse; see $log" ;;
esac

# The console log to CSV, medians, tables and the plot's data files.
prc=0
python3 - "$log" "$bench" <<'PY' || prc=$?
import collections, csv, math, os, re, statistics, sys

log, out = sys.argv[1], sys.argv[2]
line_re = re.compile(r'eptmmu-out\[([^\]]+)\]: (.*)$')
end_re = re.compile(r'eptmmu-harness: END (\S+) rc=(\d+)')
header, rows, rc, other = None, [], {}, collections.defaultdict(list)
with open(log, errors='replace') as f:
    for raw in f:
        raw = raw.rstrip('\r\n').replace('\r', '')
        m = end_re.search(raw)
        if m:
            rc[m.group(1)] = int(m.group(2))
            continue
        m = line_re.search(raw)
        if not m:
            continue
        run, text = m.groups()
        if text.startswith('type,'):
            header = header or text.split(',')
        elif text.startswith(('phase,', 'latency,')):
            rows.append((run, text.split(',')))
        else:
            other[run].append(text)
if not header or not rows:
    sys.exit('bench: no eptmmu_perf CSV in %s' % log)

bad = False
for run in sorted(rc):
    if rc[run] == 2 and '-dbit-' in run:
        print('  %s: skipped (%s)' % (run, '; '.join(other[run])[:200]))
    elif run.startswith('kvm-') and rc[run] != 0:
        # KVM's own test under nested SVM in TCG: killed at its bound
        # (137), or its guest ended in a SHUTDOWN.  Its figures are
        # left out (below); the medians are over the runs that finished.
        print('  %s: KVM\'s test %s: %s' % (
            run, 'did not finish in its time bound (killed)' if rc[run] == 137
            else 'failed (rc=%d)' % rc[run], ' | '.join(other[run][-2:])[:160]))
    elif rc[run] != 0:
        bad = True
        print('  %s: FAILED rc=%d: %s' % (run, rc[run],
                                         ' | '.join(other[run][-5:])))

recs = []
with open(os.path.join(out, 'raw.csv'), 'w', newline='') as f:
    w = csv.writer(f)
    w.writerow(['run'] + header)
    for run, fields in rows:
        if len(fields) != len(header):
            print('  %s: dropped a garbled line (%d fields)' % (run, len(fields)))
            continue
        w.writerow([run] + fields)
        recs.append(dict(zip(header, fields), run=run))
# The tracepoint comparison's runs have a table of their own.
trace_recs = [r for r in recs if r['run'].startswith('trace-')]
recs = [r for r in recs if not r['run'].startswith('trace-')]

def num(r, k):
    return float(r[k]) if r.get(k, '') != '' else math.nan

def cfg_of(r):
    return (r['ept_ad'], r['dirty_mode'], int(r['vcpus']))

order = {'on': 0, 'off': 1, 'wp': 0, 'dbit': 1}
cfgs = sorted({cfg_of(r) for r in recs},
              key=lambda c: (order[c[0]], order[c[1]], c[2]))
label = {c: 'ad=%s %s %dv' % c for c in cfgs}
label_all = lambda c: 'ad=%s %s %dv' % c
phases = [p for p in ('populate', 'enable_log', 'dirty', 'get_log', 'clear_log', 'spte_pass',
                      'disable_log', 'refault', 'age_mark', 'reread', 'age_check')
          if any(r['type'] == 'phase' and r['name'] == p for r in recs)]
kinds = ['fast_wp', 'fast_acc', 'slow_4k', 'slow_huge', 'other']

def med(xs):
    xs = [x for x in xs if not math.isnan(x)]
    return statistics.median(xs) if xs else math.nan

def mib(b):
    return '%dM' % (b >> 20) if b < 1 << 30 or b % (1 << 30) else '%dG' % (b >> 30)

all_recs = recs
sizes = sorted({int(r['bytes_per_vcpu']) for r in all_recs})
# (config, phase) -> {bytes per vCPU: median wall seconds}, for the sweep.
sweep = collections.defaultdict(dict)
with open(os.path.join(out, 'summary.csv'), 'w', newline='') as f:
    csv.writer(f).writerow(['bytes_per_vcpu', 'ept_ad', 'dirty_mode', 'vcpus',
                            'phase', 'runs', 'samples', 'median_wall_s',
                            'min_wall_s', 'max_wall_s', 'median_pages_per_s',
                            'median_gib_per_s'])
def select(size):
    """The records of one size, its configurations, their labels, and per
    configuration and phase every sample (an iterated phase gives one per
    iteration of every run)."""
    recs = [r for r in all_recs if int(r['bytes_per_vcpu']) == size]
    cfgs = sorted({cfg_of(r) for r in recs},
                  key=lambda c: (order[c[0]], order[c[1]], c[2]))
    ph = collections.defaultdict(list)
    for r in recs:
        if r['type'] == 'phase':
            ph[cfg_of(r), r['name']].append(r)
    return recs, cfgs, {c: label_all(c) for c in cfgs}, ph

for size in sizes:
    recs, cfgs, label, ph = select(size)
    runs = {c: len({r['run'] for r in recs if cfg_of(r) == c}) for c in cfgs}

    def fmt(x, spec='%.4f'):
        return '-' if math.isnan(x) else spec % x

    with open(os.path.join(out, 'summary.csv'), 'a', newline='') as f:
        w = csv.writer(f)
        for c in cfgs:
            for p in phases:
                s = ph.get((c, p), [])
                if not s:
                    continue
                walls = [num(r, 'wall_s') for r in s]
                w.writerow([size] + list(c) + [p, runs[c], len(s), '%.6f' % med(walls),
                                      '%.6f' % min(walls), '%.6f' % max(walls),
                                      '%.1f' % med([num(r, 'pages_per_s') for r in s]),
                                      '%.4f' % med([num(r, 'gib_per_s') for r in s])])

    print()
    print('== %s per vCPU ==' % mib(size))
    print('median wall seconds per phase (%s)' %
          ', '.join('%s: %d runs' % (label[c], runs[c]) for c in cfgs))
    print('%-20s' % 'phase' + ''.join('%14s' % label[c] for c in cfgs))
    for p in phases:
        print('%-20s' % p + ''.join(
            '%14s' % fmt(med([num(r, 'wall_s') for r in ph.get((c, p), [])]))
            for c in cfgs))
    print('%-20s' % 'populate p/s' + ''.join(
        '%14s' % fmt(med([num(r, 'pages_per_s') for r in ph.get((c, 'populate'), [])]),
                     '%.0f') for c in cfgs))

    # Populate does not depend on the dirty-logging mode that follows it:
    # pool the modes of one SPTE mode.
    print()
    real_re = re.compile(r'^real\s+(\d+)m\s*([\d.]+)s')
    def real_s(run):
        for t in other.get(run, []):
            m = real_re.match(t)
            if m:
                return int(m.group(1)) * 60 + float(m.group(2))
        return math.nan
    ceil = med([2 * real_s('cpu1-r%d' % i) / real_s('cpu2-r%d' % i)
                for i in range(1, 100) if 'cpu1-r%d' % i in rc])
    if not math.isnan(ceil):
        print('CPU ceiling of this guest: two busy loops at once ran %.2fx the rate of one'
              % ceil)
        print('  (2.00: each guest CPU had a host core; 1.00: they shared one)')
    for ad in ('on', 'off'):
        rate = {}
        for v in (1, 2):
            rate[v] = med([num(r, 'pages_per_s') for c in cfgs
                           if c[0] == ad and c[2] == v
                           for r in ph.get((c, 'populate'), [])])
        if not any(math.isnan(x) for x in rate.values()):
            print('populate scaling ept_ad=%-3s: 2 vCPUs %.0f pages/s / 1 vCPU %.0f pages/s = %.2fx'
                  '%s' % (ad, rate[2], rate[1], rate[2] / rate[1],
                          '' if math.isnan(ceil) else
                          ', %.2f of the CPU ceiling' % (rate[2] / rate[1] / ceil)))

    for c in cfgs:
        for p in phases:
            if ph.get((c, p)):
                sweep[c, p][size] = med([num(r, 'wall_s') for r in ph[c, p]])

# Cost per GiB of guest memory (bytes per vCPU x vCPUs) at each size, and
# how far it moves from the smallest size to the largest: linear work
# gives a max/min near 1.
with open(os.path.join(out, 'sweep.csv'), 'w', newline='') as f:
    w = csv.writer(f)
    w.writerow(['mmu', 'ept_ad', 'dirty_mode', 'vcpus', 'phase',
                'bytes_per_vcpu', 'median_wall_s', 's_per_gib'])
    for (c, p), bysize in sorted(sweep.items()):
        for size, wall in sorted(bysize.items()):
            w.writerow(['eptmmu'] + list(c) + [p, size, '%.6f' % wall,
                        '%.6f' % (wall / (size * c[2] / 2**30))])
if len(sizes) > 1:
    print()
    print('seconds per GiB of guest memory, per size per vCPU; max/min over the sizes')
    allc = sorted({c for c, _ in sweep}, key=lambda c: (order[c[0]], order[c[1]], c[2]))
    print('%-34s' % 'phase / configuration' + ''.join('%11s' % mib(b) for b in sizes)
          + '%9s' % 'max/min')
    for p in phases:
        for c in allc:
            bysize = sweep.get((c, p))
            if not bysize:
                continue
            per = [bysize[b] / (b * c[2] / 2**30) if b in bysize else math.nan
                   for b in sizes]
            ok = [x for x in per if not math.isnan(x) and x > 0]
            print('%-34s' % ('%s %s' % (p, label_all(c))) +
                  ''.join('%11s' % fmt(x, '%.4f') for x in per) +
                  '%9s' % (fmt(max(ok) / min(ok), '%.2fx') if len(ok) > 1 else '-'))

# Latencies and the plot: the smallest size (the figures of the issue).
recs, cfgs, label, ph = select(sizes[0])

# Latency per (phase, kind): medians over runs of each run's figures,
# which are estimates from log2-ns buckets.  The phase matters: slow 4K
# faults of populate allocate host pages, those after disabling logging
# only map present ones again.
lat = collections.defaultdict(list)
for r in recs:
    if r['type'] == 'latency' and num(r, 'count') > 0:
        lat[cfg_of(r), r['name'], r['kind']].append(r)
pairs = sorted({(n, k) for (_, n, k) in lat if n != 'all'},
               key=lambda nk: (phases.index(nk[0]) if nk[0] in phases else 99,
                               kinds.index(nk[1])))
with open(os.path.join(out, 'latency.csv'), 'w', newline='') as f:
    w = csv.writer(f)
    w.writerow(['ept_ad', 'dirty_mode', 'vcpus', 'phase', 'kind', 'runs',
                'median_count', 'median_mean_ns', 'median_p50_ns',
                'median_p99_ns'])
    for c in cfgs:
        for n, k in [('all', k) for k in kinds] + pairs:
            s = lat.get((c, n, k), [])
            if s:
                w.writerow(list(c) + [n, k, len(s)] + ['%.1f' % med([num(r, x) for r in s])
                    for x in ('count', 'mean_ns', 'p50_ns', 'p99_ns')])

print()
print('fault latency: median over runs of each run\'s ~median ns (log2-bucket estimate)')
print('%-20s' % 'phase/kind' + ''.join('%14s' % label[c] for c in cfgs))
for n, k in pairs:
    print('%-20s' % ('%s/%s' % (n, k)) + ''.join(
        '%14s' % fmt(med([num(r, 'p50_ns') for r in lat.get((c, n, k), [])]), '%.0f')
        for c in cfgs))

def speedup(c, slow, fast, kind):
    """median over runs of median(slow 4K in slow) / median(kind in fast)"""
    s = {r['run']: num(r, 'p50_ns') for r in lat.get((c, slow, 'slow_4k'), [])}
    f = {r['run']: num(r, 'p50_ns') for r in lat.get((c, fast, kind), [])}
    return med([s[run] / f[run] for run in s if run in f and f[run] > 0])

for name, args in (('fast speedup', ('populate', 'dirty', 'fast_wp')),
                   ('  vs re-map', ('refault', 'dirty', 'fast_wp')),
                   ('acc speedup', ('populate', 'reread', 'fast_acc'))):
    print('%-20s' % name + ''.join('%14s' % fmt(speedup(c, *args), '%.1fx')
                                   for c in cfgs))
print('(fast speedup: median(slow 4K of populate) / median(fast WP of the dirty passes);')
print(' vs re-map: the slow 4K faults after disabling logging instead, host pages present;')
print(' acc speedup: populate\'s slow 4K against the fast access-track faults of the re-read)')

# Tracepoints: phase times and fault latencies (mean ns: the log2 buckets'
# medians cannot see a few ns) without them, disabled and enabled, and the
# disabled/without ratio over the repetitions' medians.
if trace_recs:
    tv = ('notrace', 'off', 'on')
    tph = collections.defaultdict(list)
    tlat = collections.defaultdict(list)
    for r in trace_recs:
        t = r['run'].split('-')[1]
        if r['type'] == 'phase':
            tph[t, r['name']].append(num(r, 'wall_s'))
        elif r['type'] == 'latency' and r['name'] == 'all' and num(r, 'count') > 0:
            tlat[t, r['kind']].append(num(r, 'mean_ns'))
    print()
    print('tracepoints (ad=on wp 1v, %s per vCPU): median over runs; events "off" is the'
          % mib(sizes[0]))
    print('module as shipped, "notrace" the same built without them, "on" every eptmmu event enabled')
    print('%-22s' % 'phase / fault kind' + ''.join('%11s' % t for t in tv) +
          '%13s%12s' % ('off/notrace', 'on/notrace'))
    def trow(name, d, key, spec):
        m = {t: med(d.get((t, key), [])) for t in tv}
        if all(math.isnan(x) for x in m.values()):
            return
        r = lambda a: fmt(m[a] / m['notrace'], '%.3fx') if m['notrace'] > 0 else '-'
        print('%-22s' % name + ''.join('%11s' % fmt(m[t], spec) for t in tv) +
              '%13s%12s' % (r('off'), r('on')))
    for p in phases:
        trow('%s (s)' % p, tph, p, '%.4f')
    for k in kinds:
        trow('%s mean (ns)' % k, tlat, k, '%.0f')

ncols = {'ncfg': len(cfgs)}
# Plot data: histograms summed over every run of an SPTE mode, each kind
# normalised to a fraction of its faults, and the phase medians.
for ad in ('on', 'off'):
    hist = {k: [0] * 32 for k in kinds}
    for r in recs:
        if (r['type'] == 'latency' and r['name'] == 'all' and
                r['ept_ad'] == ad and r['hist']):
            for pair in r['hist'].split(';'):
                b, n = pair.split(':')
                hist[r['kind']][int(b)] += int(n)
    seen = [k for k in kinds if sum(hist[k])]
    used = [b for b in range(32) if any(hist[k][b] for k in seen)] or [10]
    with open(os.path.join(out, 'hist-%s.dat' % ad), 'w') as f:
        f.write('ns ' + ' '.join(seen or ['none']) + '\n')
        # One empty bucket either side, so each curve starts and ends at 0.
        for b in range(max(used[0] - 1, 0), min(used[-1] + 2, 32)):
            f.write('%d %s\n' % (1 << b, ' '.join(
                ['%.5f' % (hist[k][b] / sum(hist[k])) for k in seen] or ['NaN'])))
    ncols['nhist_' + ad] = len(seen)
with open(os.path.join(out, 'phases.dat'), 'w') as f:
    f.write('phase ' + ' '.join('"%s"' % label[c] for c in cfgs) + '\n')
    for p in phases:
        f.write(p + ' ' + ' '.join(
            '%.6f' % med([num(r, 'wall_s') for r in ph.get((c, p), [])])
            if ph.get((c, p)) else 'NaN' for c in cfgs) + '\n')
with open(os.path.join(out, 'plot.env'), 'w') as f:
    f.write(''.join('%s=%d\n' % kv for kv in ncols.items()))
sys.exit(1 if bad else 0)
PY
[ -f "$bench/plot.env" ] || die "no results to report; see $log"
. "$bench/plot.env"
rm -f "$bench/plot.env"

# Side by side with KVM, from the same boot.
grep -aq "kvm_amd: Nested Paging enabled" "$log" ||
	say "WARNING: the guest did not report kvm_amd nested paging; KVM's runs are suspect"
krc=0
python3 - "$log" "$bench" <<'PY' || krc=$?
import csv, os, re, statistics, sys

log, out = sys.argv[1], sys.argv[2]
line_re = re.compile(r'eptmmu-out\[(kvm-v(\d+)-b(\d+)([MG])-r\d+)\]: (.*)$')
pats = {
    'populate': re.compile(r'^Populate memory time: ([0-9.]+)s'),
    'enable_log': re.compile(r'^Enabling dirty logging time: ([0-9.]+)s'),
    'dirty': re.compile(r'^Iteration \d+ dirty memory time: ([0-9.]+)s'),
    'get_log': re.compile(r'^Iteration \d+ get dirty log time: ([0-9.]+)s'),
    'clear_log': re.compile(r'^Iteration \d+ clear dirty log time: ([0-9.]+)s'),
    'disable_log': re.compile(r'^Disabling dirty logging time: ([0-9.]+)s'),
}
end_re = re.compile(r'eptmmu-harness: END (kvm-\S+) rc=(\d+)')
# A run that failed (its guest ended in a SHUTDOWN, or it was killed)
# printed figures up to that point: a dirty pass cut short by the
# failure looks fast.  Only runs that ended with rc=0 count.
per_run, ok_runs = {}, set()
with open(log, errors='replace') as f:
    for raw in f:
        raw = raw.rstrip('\r\n')
        e = end_re.search(raw)
        if e and e.group(2) == '0':
            ok_runs.add(e.group(1))
        m = line_re.search(raw)
        if not m:
            continue
        v, text = int(m.group(2)), m.group(5).strip()
        size = int(m.group(3)) << (20 if m.group(4) == 'M' else 30)
        for ph, rx in pats.items():
            mm = rx.match(text)
            if mm:
                per_run.setdefault(m.group(1), []).append(
                    ((size, v, ph), float(mm.group(1))))
kvm = {}
for run, figs in per_run.items():
    if run in ok_runs:
        for key, val in figs:
            kvm.setdefault(key, []).append(val)
if not kvm:
    sys.exit('bench: no dirty_log_perf_test output in ' + log)

def mib(b):
    return '%dM' % (b >> 20) if b < 1 << 30 or b % (1 << 30) else '%dG' % (b >> 30)

# eptmmu: the runs that do what KVM's test does (EPT A/D, write
# protection, manual clear with the bitmap initially set), medians over
# repetitions and iterations.
ept = {}
with open(os.path.join(out, 'raw.csv'), newline='') as f:
    for r in csv.DictReader(f):
        if (r['type'], r['ept_ad'], r['dirty_mode']) != ('phase', 'on', 'wp') or \
                r['run'].startswith('trace-'):
            continue
        ept.setdefault((int(r['bytes_per_vcpu']), int(r['vcpus']), r['name']),
                       []).append(float(r['wall_s']))
sizes = sorted({k[0] for k in kvm} | {k[0] for k in ept})

phases = ['populate', 'enable_log', 'dirty', 'get_log', 'clear_log', 'disable_log']
like = {'enable_log', 'get_log', 'clear_log', 'disable_log'}
rows = []
for size in sizes:
    print()
    print('eptmmu (-M -I) vs KVM (TDP MMU on nested SVM, manual protect, initially set)')
    print('in the same guest, %s per vCPU, median seconds' % mib(size))
    print('%-12s %-6s %12s %12s %9s' % ('phase', 'vCPUs', 'eptmmu', 'KVM', 'ratio'))
    for v in (1, 2):
        for ph in phases:
            e, k = ept.get((size, v, ph)), kvm.get((size, v, ph))
            if not e or not k:
                continue
            me, mk = statistics.median(e), statistics.median(k)
            ratio = me / mk if mk > 0 else float('nan')
            rows.append([size, ph, v, me, mk, ratio, 'yes' if ph in like else 'no'])
            print('%-12s %-6d %12.6f %12.6f %8.2fx%s' % (ph, v, me, mk, ratio,
                  '' if ph in like else '  *'))
    for v in (1, 2):
        c, sp = ept.get((size, v, 'clear_log')), ept.get((size, v, 'spte_pass'))
        if c and sp and statistics.median(sp) > 0:
            print('%d vCPU: clear dirty log %.6f s = %.1fx a plain pass over as many u64s '
                  'as there are leaf SPTEs (%.6f s, same guest)'
                  % (v, statistics.median(c), statistics.median(c) / statistics.median(sp),
                     statistics.median(sp)))
print()
print('Like for like (MMU work only): enable/get/clear/disable dirty logging.')
print('* not like for like: populate and dirty memory time the guest too -')
print('  KVM\'s guest executes instructions under nested SVM in TCG, eptmmu\'s')
print('  soft vCPU performs each access in the host kernel.  Populate\'s fault')
print('  handling alone is in the latency table above (slow 4K).')
with open(os.path.join(out, 'kvm_compare.csv'), 'w', newline='') as f:
    w = csv.writer(f)
    w.writerow(['bytes_per_vcpu', 'phase', 'vcpus', 'eptmmu_s', 'kvm_s', 'ratio',
                'like_for_like'])
    w.writerows(rows)

# KVM's cost per GiB across the sizes, beside eptmmu's (sweep.csv has
# eptmmu's rows already), and the plot's data: s/GiB per size of the
# like-for-like phases, eptmmu (ad=on wp) and KVM, 1 vCPU.
per = lambda wall, size, v: wall / (size * v / 2**30)
with open(os.path.join(out, 'sweep.csv'), 'a', newline='') as f:
    w = csv.writer(f)
    for (size, v, ph), vals in sorted(kvm.items()):
        w.writerow(['kvm', 'on', 'wp', v, ph, size, '%.6f' % statistics.median(vals),
                    '%.6f' % per(statistics.median(vals), size, v)])
if len(sizes) > 1:
    print()
    print('seconds per GiB per size, eptmmu (ad=on wp, -M -I) beside KVM; max/min over the sizes')
    print('%-24s' % 'phase' + ''.join('%11s' % mib(b) for b in sizes) + '%9s' % 'max/min')
    for v in (1, 2):
        for ph in phases:
            for who, d in (('eptmmu', ept), ('KVM', kvm)):
                xs = [per(statistics.median(d[b, v, ph]), b, v) if d.get((b, v, ph))
                      else float('nan') for b in sizes]
                ok = [x for x in xs if x == x and x > 0]
                if not ok:
                    continue
                print('%-24s' % ('%s %dv %s' % (ph, v, who)) +
                      ''.join('%11s' % ('-' if x != x else '%.4f' % x) for x in xs) +
                      '%9s' % ('%.2fx' % (max(ok) / min(ok)) if len(ok) > 1 else '-'))
with open(os.path.join(out, 'sweep.dat'), 'w') as f:
    cols = [(ph, who) for ph in sorted(like) for who in ('eptmmu', 'KVM')]
    f.write('MiB ' + ' '.join('"%s %s"' % c for c in cols) + '\n')
    for b in sizes:
        f.write('%d ' % (b >> 20) + ' '.join(
            '%.6f' % per(statistics.median((ept if who == 'eptmmu' else kvm)[b, 1, ph]), b, 1)
            if (ept if who == 'eptmmu' else kvm).get((b, 1, ph)) else 'NaN'
            for ph, who in cols) + '\n')
PY
nsizes=$(echo $BYTES | wc -w)
[ -f "$bench/sweep.dat" ] || nsizes=1
gnuplot <<GP || die "gnuplot failed"
set terminal pngcairo size 1200,1950 font ",10"
set output "$bench/bench.png"
set datafile missing "NaN"
set key autotitle columnhead
set key noenhanced
set multiplot layout 4,1 title "eptmmu_perf under QEMU/TCG: -b $BYTES per vCPU, -i $ITERS, -M -I, $REPS runs per configuration" noenhanced
set logscale x 2
set format x "2^{%L}"
set xlabel "fault handler time, ns (lower bound of the log2 bucket)"
set ylabel "fraction of faults of the kind"
set grid
set style data linespoints
set title "fault latency, ept_ad=on (EPT A/D bits), all runs" noenhanced
if ($nhist_on > 0) {
	plot for [i=2:$((nhist_on + 1))] "$bench/hist-on.dat" using 1:i
} else {
	set label 1 "no runs" at graph 0.5, 0.5 center
	plot [1:2] [0:1] NaN notitle
	unset label 1
}
set title "fault latency, ept_ad=off (access tracking), all runs" noenhanced
if ($nhist_off > 0) {
	plot for [i=2:$((nhist_off + 1))] "$bench/hist-off.dat" using 1:i
} else {
	set label 1 "no runs" at graph 0.5, 0.5 center
	plot [1:2] [0:1] NaN notitle
	unset label 1
}
unset logscale x
set format x "%g"
set logscale y
set xlabel ""
set ylabel "median wall seconds (log scale)"
set title "phase times per configuration"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set xtics rotate by -30 noenhanced
set format y "%g"
plot for [i=2:$((ncfg + 1))] "$bench/phases.dat" using i:xtic(1)
set style data linespoints
set style fill empty
set xtics norotate
set format x "%g"
set logscale x 2
set logscale y
set xlabel "MiB per vCPU"
set ylabel "median seconds per GiB (log scale)"
set title "size sweep, 1 vCPU: like-for-like phases per GiB, eptmmu (ad=on wp -M -I) and KVM (flat = linear)"
if ($nsizes > 1) {
	plot for [i=2:9] "$bench/sweep.dat" using 1:i
} else {
	set label 1 "one size only (EPTMMU_BENCH_BYTES)" at graph 0.5, 0.5 center
	plot [1:2] [0.1:1] NaN notitle
	unset label 1
}
unset multiplot
GP

# The harvest cost, bitmap beside ring (eptmmu_perf -R): harvest.csv and
# a table of medians per size, SPTE mode, log and dirty fraction.
python3 - "$log" "$bench" <<'PY' || prc=1
import collections, csv, os, re, statistics, sys

log, out = sys.argv[1], sys.argv[2]
line_re = re.compile(r'eptmmu-out\[(harvest-[^\]]+)\]: (harvest,.*)$')
fields = ['ept_ad', 'log', 'dirty_pct', 'bytes', 'pages_dirty', 'iters',
          'median_s', 'min_s', 'max_s', 'ns_per_dirty_page', 'ring_full_exits']
rows = []
with open(log, errors='replace') as f:
    for raw in f:
        m = line_re.search(raw.rstrip('\r\n').replace('\r', ''))
        if m and len(m.group(2).split(',')) == len(fields) + 1:
            rows.append([m.group(1)] + m.group(2).split(',')[1:])
if not rows:
    sys.exit('bench: no eptmmu_perf -R lines in %s' % log)
with open(os.path.join(out, 'harvest.csv'), 'w', newline='') as f:
    w = csv.writer(f)
    w.writerow(['run'] + fields)
    w.writerows(rows)
cell = collections.defaultdict(list)
for r in rows:
    d = dict(zip(['run'] + fields, r))
    cell[int(d['bytes']), d['ept_ad'], int(d['dirty_pct']), d['log']].append(
        (float(d['median_s']), float(d['ns_per_dirty_page']), int(d['pages_dirty'])))
print()
print('== harvest cost: one harvest of a dirty set, medians over runs ==')
print('%8s %6s %6s %9s %14s %14s %12s %12s' % ('size', 'ept_ad', 'dirty', 'pages',
      'bitmap ms', 'ring ms', 'bitmap ns/pg', 'ring ns/pg'))
for (size, ad, pct) in sorted({k[:3] for k in cell}, key=lambda k: (k[0], k[1] != 'on', k[2])):
    b, r = cell.get((size, ad, pct, 'bitmap'), []), cell.get((size, ad, pct, 'ring'), [])
    med = lambda xs, i: statistics.median(x[i] for x in xs) if xs else float('nan')
    print('%7dM %6s %6s %9d %14.3f %14.3f %12.1f %12.1f' % (
        size >> 20, ad, '%d%%' % pct if pct else '64 pg', (b or r)[0][2],
        med(b, 0) * 1e3, med(r, 0) * 1e3,
        med(b, 1), med(r, 1)))
PY

t_end=$SECONDS
echo
say "results: $bench/raw.csv"
say "         $bench/kvm_compare.csv"
say "         $bench/summary.csv"
say "         $bench/latency.csv"
say "         $bench/harvest.csv"
say "plot:    $bench/bench.png"
say "time: build $((t_built - t_start)) s, QEMU $((t_ran - t_built)) s, total $((t_end - t_start)) s"
[ $qrc -eq 0 ] || die "QEMU failed or timed out (status $qrc); see $log"
[ $prc -eq 0 ] || die "some eptmmu_perf runs failed; see $log"
[ $krc -eq 0 ] || die "no KVM figures; see $log"
