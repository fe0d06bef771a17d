#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# `make check`: every test, on every test kernel, under QEMU.
#
#   EPTMMU_KERNELS="plain plain-6.1 lockdep rt kcsan"
#                                          which QEMU test kernels (default:
#                                          all five; empty: none); plain-6.1
#                                          is plain built from linux-6.1
#   EPTMMU_BOCHS=0                         skip the Bochs (VT-x) runs
#   EPTMMU_COMPAT=0                        skip make compat (Debian's own
#                                          kernels, the production module)
#   EPTMMU_BOCHS_PM=1                      add suspend/resume under Bochs
#                                          (Debian's 6.12 kernel, ~12 min)
#   EPTMMU_CACHE=/var/cache/eptmmu         kernel builds, kept between runs
#
# Ends with "N passed, N failed" over all kernels; exits non-zero on any
# failure, timeout, crash, kernel report naming eptmmu, or missing result.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

kernels=${EPTMMU_KERNELS-plain plain-6.1 lockdep rt kcsan}

t0=$SECONDS
jobpkgs=("${EPTMMU_MODEL_PACKAGES[@]}")
[ "${EPTMMU_BOCHS:-1}" = 0 ] || jobpkgs+=("${EPTMMU_BOCHS_PACKAGES[@]}")
ensure_packages "${EPTMMU_PACKAGES[@]}" "${jobpkgs[@]}"
mkdir -p "$EPTMMU_OUT"
say "packages ready ($((SECONDS - t0)) s)"

# kmemleak skips objects younger than 5 s and wants two scans.
KMEMLEAK_STEP="step kmemleak sh -c 'sleep 6; echo scan >/sys/kernel/debug/kmemleak; echo scan >/sys/kernel/debug/kmemleak; cat /sys/kernel/debug/kmemleak'"

# Broken variants the torture caught on 10 of 10 seeds (the catch table
# in Documentation/torture.rst): on the plain kernel it must fail on each.
TORTURE_CATCHES="skip_flush skip_invalidate_recheck"

# plan_for KERNEL: the guest's plan (a shell fragment run by /init) and the
# list of STEP:KIND the report expects from it.
plan_for() {
	# plain-6.1 is the plain kernel built from linux-source-6.1: the
	# same plan.
	local k=$1 kv=${1%-6.1}
	PLAN=$EPTMMU_OUT/plan-$k.sh
	EXPECT=(smoke:rc kunit:kunit)
	cat >"$PLAN" <<'EOF'
step smoke sh -c 'insmod /eptmmu.ko && dmesg | grep "eptmmu: SPTE mode" && rmmod eptmmu'
step kunit sh -c 'insmod /eptmmu.ko && insmod /eptmmu_test.ko; r=$?; rmmod eptmmu_test; rmmod eptmmu; exit $r'
EOF
	if [ ${#TOOLS[@]} -gt 0 ]; then
		# Every selftest in both SPTE modes: EPT A/D bits, and access
		# tracking without them.  The debug kernels run 5-10x slower:
		# they get smaller workloads, never fewer checks.
		local st="" dl="" dlr="-w 200000 -i 50"
		[ "$kv" = plain ] || { st="-m 16 -n 10000"; dl="-w 100000 -i 50"; dlr="-w 40000 -i 20"; }
		# Swap on zram, so reclaim really writes anonymous pages out
		# (eptmmu_mm_test swap).
		cat >>"$PLAN" <<'EOF'
step zram sh -c 'echo 256M >/sys/block/zram0/disksize && mkswap /dev/zram0 >/dev/null && swapon /dev/zram0 && cat /proc/swaps'
EOF
		EXPECT+=(zram:rc)
		cat >>"$PLAN" <<EOF
step selftest sh -c 'insmod /eptmmu.ko ept_ad=on && /eptmmu_selftest $st; r=\$?; rmmod eptmmu; exit \$r'
step selftest-noad sh -c 'insmod /eptmmu.ko ept_ad=off && /eptmmu_selftest $st; r=\$?; rmmod eptmmu; exit \$r'
step dirtylog sh -c 'insmod /eptmmu.ko ept_ad=on && /eptmmu_dirty_log_test $dl; r=\$?; rmmod eptmmu; exit \$r'
step dirtylog-noad sh -c 'insmod /eptmmu.ko ept_ad=off && /eptmmu_dirty_log_test $dl; r=\$?; rmmod eptmmu; exit \$r'
step dirtylog-ring sh -c 'insmod /eptmmu.ko ept_ad=on && /eptmmu_dirty_log_test -r 1024 $dlr; r=\$?; rmmod eptmmu; exit \$r'
step dirtylog-ring-noad sh -c 'insmod /eptmmu.ko ept_ad=off && /eptmmu_dirty_log_test -r 1024 $dlr; r=\$?; rmmod eptmmu; exit \$r'
step mm sh -c 'insmod /eptmmu.ko ept_ad=on && /eptmmu_mm_test; r=\$?; rmmod eptmmu; exit \$r'
step mm-noad sh -c 'insmod /eptmmu.ko ept_ad=off && /eptmmu_mm_test; r=\$?; rmmod eptmmu; exit \$r'
step vmxtest-soft sh -c 'insmod /eptmmu.ko && /eptmmu_vmx_test --backend soft; r=\$?; rmmod eptmmu; exit \$r'
EOF
		EXPECT+=(selftest:tap selftest-noad:tap dirtylog:tap dirtylog-noad:tap
			 dirtylog-ring:tap dirtylog-ring-noad:tap
			 mm:tap mm-noad:tap vmxtest-soft:tap)
		# Live migration to a second process over the dirty log
		# (tools/eptmmu_migrate.c): write protection and D bits with
		# A/D, write protection without; each over the bitmap and
		# over the dirty rings (small ones: ring-full exits happen).  The test kernels have no
		# sockets (no CONFIG_NET): the destination is reached through
		# pipes there; make compat runs it over a UNIX socket.
		local mg="-m 8 -p 200"
		[ "$kv" = plain ] || mg="-m 2 -r 200 -w 100 -p 100"
		cat >>"$PLAN" <<EOF
step migrate sh -c 'insmod /eptmmu.ko ept_ad=on && /eptmmu_migrate $mg; r=\$?; rmmod eptmmu; exit \$r'
step migrate-noad sh -c 'insmod /eptmmu.ko ept_ad=off && /eptmmu_migrate $mg; r=\$?; rmmod eptmmu; exit \$r'
step migrate-ring sh -c 'insmod /eptmmu.ko ept_ad=on && /eptmmu_migrate $mg -d ring -G 1024; r=\$?; rmmod eptmmu; exit \$r'
step migrate-ring-noad sh -c 'insmod /eptmmu.ko ept_ad=off && /eptmmu_migrate $mg -d ring -G 1024; r=\$?; rmmod eptmmu; exit \$r'
EOF
		EXPECT+=(migrate:tap migrate-noad:tap migrate-ring:tap migrate-ring-noad:tap)
		# Tracepoints, debugfs stats and eptmmu_stat: on a kernel with
		# event tracing (-r) a missing tracefs or event fails; without
		# it the trace cases skip and say so.
		local obs=""
		grep -q '^CONFIG_EVENT_TRACING=y' "$KBUILD/.config" && obs=-r
		echo "step obs sh -c 'insmod /eptmmu.ko && /eptmmu_obs_test $obs; r=\$?; rmmod eptmmu; exit \$r'" >>"$PLAN"
		EXPECT+=(obs:tap)
		# Bounded lock holds under lowered lockup/stall thresholds, over
		# the largest slot (a CLEAR of it walks 2^22 bitmap words: ~3 s
		# on the plain kernel, ~13 s on the debug ones, in one lock
		# hold before R-DIRTY-YIELD).
		# KCSAN's instrumentation makes that walk ~5x slower than
		# lockdep's (165 s): KCSAN gets a 64 GiB slot, which runs the
		# same yielding code under its checks.  With DEBUG_PAGEALLOC
		# the lockdep kernel takes 80 s over 1 TiB: 512 GiB still
		# held the lock ~6 s there before R-DIRTY-YIELD, 3x the
		# watchdog's 2 s.
		# On RT the holds are preemptible: no lockup watchdog sees
		# them, and RCU's stall warning only a reader section that
		# long; RT gets the small slot too.
		local gib=1024
		case $k in kcsan|rt) gib=64 ;; lockdep) gib=512 ;; esac
		echo "step holds /holds.sh $gib" >>"$PLAN"
		EXPECT+=(holds:tap)
		# Every agent at once (tools/eptmmu_torture.c), in both SPTE
		# modes; the debug kernels a lighter load, for less time.  Seed 1
		# always: a failure here replays with the line it prints.
		local tt="-d 10" mode
		[ "$kv" = plain ] || tt="-d 8 -l"
		# 6.1 runs the same torture for less time: its catch rates are
		# the 6.12 plain kernel's (Documentation/torture.rst).
		[ "$k" = plain-6.1 ] && tt="-d 5"
		for mode in on off; do
			echo "step torture-ad$mode sh -c 'insmod /eptmmu.ko ept_ad=$mode && /eptmmu_torture -s 1 $tt -K $k; r=\$?; rmmod eptmmu; exit \$r'" >>"$PLAN"
			EXPECT+=("torture-ad$mode:tap")
		done
		# The same agents over dirty rings (small: ring-full exits
		# happen), with A/D: write-protection and D-bit sessions.
		local tr="-d 5"
		[ "$kv" = plain ] || tr="-d 4 -l"
		echo "step torture-ring sh -c 'insmod /eptmmu.ko ept_ad=on && /eptmmu_torture -s 1 $tr -R 1024 -K $k; r=\$?; rmmod eptmmu; exit \$r'" >>"$PLAN"
		EXPECT+=(torture-ring:tap)
		# make bench's tool, in a tiny configuration, so it keeps working.
		if [ "$kv" = plain ]; then
			echo "step perf-smoke sh -c 'insmod /eptmmu.ko && /eptmmu_perf -v 2 -b 4M -i 2 -q && /eptmmu_perf -v 2 -b 4M -i 2 -q -M -I && /eptmmu_perf -R -b 4M -i 1 -q; r=\$?; rmmod eptmmu; exit \$r'" >>"$PLAN"
			EXPECT+=(perf-smoke:rc)
			# What users load: the build without EPTMMU_TEST (no
			# injection sites, no KUnit) runs the user-space tests
			# too, in both SPTE modes.
			cat >>"$PLAN" <<'EOF'
step prod-selftest sh -c 'insmod /eptmmu-prod.ko ept_ad=on && /eptmmu_selftest; r=$?; rmmod eptmmu; exit $r'
step prod-dirtylog sh -c 'insmod /eptmmu-prod.ko ept_ad=off && /eptmmu_dirty_log_test; r=$?; rmmod eptmmu; exit $r'
step prod-mm sh -c 'insmod /eptmmu-prod.ko ept_ad=on && /eptmmu_mm_test; r=$?; rmmod eptmmu; exit $r'
step prod-dirtylog-ring sh -c 'insmod /eptmmu-prod.ko ept_ad=on && /eptmmu_dirty_log_test -r 1024 -w 100000 -i 20; r=$?; rmmod eptmmu; exit $r'
EOF
			EXPECT+=(prod-selftest:tap prod-dirtylog:tap prod-mm:tap prod-dirtylog-ring:tap)
			echo "step prod-obs sh -c 'insmod /eptmmu-prod.ko ept_ad=off && /eptmmu_obs_test $obs; r=\$?; rmmod eptmmu; exit \$r'" >>"$PLAN"
			EXPECT+=(prod-obs:tap)
			# broken= exists in test builds only, and takes known
			# knobs only.
			cat >>"$PLAN" <<'EOF'
step prod-no-broken sh -c 'insmod /eptmmu-prod.ko broken=skip_flush && test ! -e /sys/module/eptmmu/parameters/broken; r=$?; rmmod eptmmu; exit $r'
step broken-unknown sh -c 'if insmod /eptmmu.ko broken=skip_flush,no_such_knob; then rmmod eptmmu; exit 1; fi; dmesg | grep "no knob .no_such_knob."'
EOF
			EXPECT+=(prod-no-broken:rc broken-unknown:rc)
			# R-PML-DRAIN: the soft vCPU has no PML.
			cat >>"$PLAN" <<'EOF'
step pml-refused sh -c 'if insmod /eptmmu.ko ept_pml=on; then rmmod eptmmu; exit 1; fi; dmesg | grep "ept_pml=on refused: the soft vCPU has no PML"'
EOF
			EXPECT+=(pml-refused:rc)
			# The torture must catch the broken variants it caught
			# on every seed (Documentation/torture.rst): a run has
			# to end in a failed oracle (exit 1 and a FAIL verdict),
			# not in a crash or a refused load.
			# A migration over a log that loses writes must not
			# verify: without TLB flushes a re-protected page stays
			# writable in the vCPU's TLB, and a guest that keeps
			# rewriting a working set that fits there (-P 100: every
			# write to the 32 hot pages of each vCPU) is never
			# logged again after the full copy.  Both logging modes
			# must fail the byte comparison.
			cat >>"$PLAN" <<'EOF'
step migrate-catches-skip_flush sh -c 'insmod /eptmmu.ko ept_ad=on broken=skip_flush || exit 2; /eptmmu_migrate -m 8 -P 100 -p 100 >/tmp/migrate.out; r=$?; cat /tmp/migrate.out; rmmod eptmmu; test $r -eq 1 && grep -q "^not ok .* wp: destination byte-identical" /tmp/migrate.out && grep -q "^not ok .* dbit: destination byte-identical" /tmp/migrate.out'
EOF
			EXPECT+=(migrate-catches-skip_flush:rc)
			# R-RING-RESET: a reset that frees entries without
			# re-protecting their pages must lose writes.
			cat >>"$PLAN" <<'EOF'
step dirtylog-ring-catches-no-protect sh -c 'insmod /eptmmu.ko ept_ad=on broken=ring_reset_no_protect || exit 2; /eptmmu_dirty_log_test -r 1024 -w 100000 -i 20 >/tmp/o; r=$?; cat /tmp/o; rmmod eptmmu; test $r -ne 0 && grep -q "^not ok .*ring/wp: 0 lost pages" /tmp/o'
EOF
			EXPECT+=(dirtylog-ring-catches-no-protect:rc)
			local knob
			for knob in $TORTURE_CATCHES; do
				# Seeds 1, 2, 3 until one fails: a catch is a
				# race won, and a host busy elsewhere (6.1, under
				# a loaded make check) once let seed 1 pass.
				echo "step torture-catches-$knob sh -c 'insmod /eptmmu.ko ept_ad=on broken=$knob || exit 2; for s in 1 2 3; do /eptmmu_torture -s \$s -d 10 -x -K $k >/tmp/torture.out; r=\$?; cat /tmp/torture.out; test \$r -eq 1 && grep -q \"verdict: FAIL\" /tmp/torture.out && break; r=0; done; rmmod eptmmu; test \$r -eq 1'" >>"$PLAN"
				EXPECT+=("torture-catches-$knob:rc")
			done
		fi
	fi
	# Detector checks come last: each must produce its report, and a
	# report switches lockdep off for the rest of the boot.
	local atomic="step detect-atomic sh -c 'insmod /eptmmu.ko; insmod /eptmmu_detect.ko fault=atomic; rmmod eptmmu'"
	case $k in
	lockdep)
		echo "$KMEMLEAK_STEP" >>"$PLAN"
		echo "$atomic" >>"$PLAN"
		cat >>"$PLAN" <<'EOF'
step detect-lockorder sh -c 'insmod /eptmmu.ko; insmod /eptmmu_detect.ko fault=lockorder; rmmod eptmmu'
step detect-uaf sh -c 'insmod /eptmmu.ko; insmod /eptmmu_detect.ko fault=uaf; rmmod eptmmu'
EOF
		EXPECT+=(kmemleak:rc detect-atomic:report=sleep
			 detect-lockorder:report=lockdep detect-uaf:report=kasan) ;;
	rt)
		# Sleeping in atomic context, where tlb_lock sleeps.  Not the
		# lock-order check: without queued rwlocks (RT has none)
		# lockdep takes every read_lock() as recursive and cannot see
		# that inversion, although RT's readers do wait behind a
		# writer that holds the lock's rt_mutex.  The lockdep kernel
		# checks R-LOCK-ORDER.
		echo "$atomic" >>"$PLAN"
		EXPECT+=(detect-atomic:report=sleep) ;;
	kcsan)
		cat >>"$PLAN" <<'EOF'
step detect-race sh -c 'insmod /eptmmu.ko; insmod /eptmmu_detect.ko fault=race; rmmod eptmmu'
EOF
		EXPECT+=(detect-race:report=kcsan) ;;
	esac
}

# User-space tools, built once, statically (they run from busybox).
TOOLS=()
if [ -f "$EPTMMU_TOP/tools/Makefile" ]; then
	tools_build
	TOOLS=("$TOOLSDIR"/eptmmu_selftest "$TOOLSDIR"/eptmmu_dirty_log_test
	       "$TOOLSDIR"/eptmmu_mm_test "$TOOLSDIR"/eptmmu_perf
	       "$TOOLSDIR"/eptmmu_vmx_test "$TOOLSDIR"/eptmmu_torture
	       "$TOOLSDIR"/eptmmu_migrate "$TOOLSDIR"/eptmmu_obs_test
	       "$TOOLSDIR"/eptmmu_stat)
fi

results=()
status=0

# The locking rules: every ID in Documentation/locking.rst enforced in
# code and reproduced by a test; the documents build without warnings.
echo "--- rules and docs ---"
python3 "$EPTMMU_TOP/scripts/check_rules.py" --json "$EPTMMU_OUT/result-rules.json" ||
	status=1
results+=("$EPTMMU_OUT/result-rules.json")

# Jobs that do not mind how slowly they run: the Bochs runs (one emulator
# thread each, whose guest clock counts instructions, so a run starved of
# CPU sees the same guest) and the SPIN model.  They run at the lowest
# priority (SCHED_IDLE), after the QEMU guests (start_lanes below), or
# with EPTMMU_JOBS_EARLY=1 at once, taking whatever CPU the QEMU kernels
# and make compat's boots leave idle: those run at normal priority, one
# at a time, because a QEMU guest does mind: its two vCPU threads wait for
# each other (TCG's exclusive sections), and a stolen CPU makes its
# kernel's clock jump (stall and lockup reports) and its lock-hold tests
# slow.  EPTMMU_BOCHS_JOBS (default: one per host CPU) run at a time,
# longest first, each into its own files; their reports are printed in
# that order once all are done.
# job ID CMD...: CMD's output goes to ID.out, its verdict to ID.rc.
job() {
	local id=$1
	shift
	rm -f "$EPTMMU_OUT/$id.rc"
	while [ "$(jobs -rp | wc -l)" -ge "${EPTMMU_BOCHS_JOBS:-$(nproc)}" ]; do
		wait -n || true
	done
	# The job never fails: its verdict is in $id.rc, read after wait.
	(
		rc=0
		"$@" || rc=1
		echo $rc >"$EPTMMU_OUT/$id.rc"
	) >"$EPTMMU_OUT/$id.out" 2>&1 &
	echo "$id" >>"$EPTMMU_OUT/jobs.list"
}

# bochs_step_limit KERNEL PLAN: the guest seconds after which /init's
# watchdog describes a step's tasks and kills it (lib.sh).  A Bochs
# guest's clock runs on Bochs ticks (the kernel takes the TSC for the
# model's 3.5 GHz), so a step's guest time does not depend on the host's
# load; the longest steps take 3 s (plain), 31 s (lockdep)
# and 21 s (kcsan).  With both CPUs busy a plain guest second costs up to
# ~150 s of host time, so the bounds stay low, for a stuck step to be
# killed well inside bochs_exec's 2400 s.
bochs_step_limit() {
	local s=8
	[ "$1" = plain ] || s=60
	sed -i "1i STEP_LIMIT=$s" "$2"
}

# The protocol model: SPIN checks every interleaving of the agents in
# each scenario, and finds the counterexample of each broken variant
# (model/README.md).
model_stage() {
	local mrc=0 t1=$SECONDS
	rm -f "$EPTMMU_OUT/result-model.json"
	echo "--- model ---"
	bash "$EPTMMU_TOP/scripts/model.sh" >"$EPTMMU_OUT/model.tap" || mrc=$?
	sed 's/^/  /' "$EPTMMU_OUT/model.tap"
	python3 - "$EPTMMU_OUT/model.tap" "$EPTMMU_OUT/result-model.json" "$mrc" <<'PY'
import json, re, sys
text = open(sys.argv[1]).read()
ok = len(re.findall(r'^ok \d+', text, re.M))
bad = len(re.findall(r'^not ok \d+', text, re.M))
if int(sys.argv[3]) and not bad:
    bad = 1
json.dump({"kernel": "model", "passed": ok, "failed": bad, "skipped": 0},
          open(sys.argv[2], "w"))
PY
	echo "  model: $((SECONDS - t1)) s"
	return $mrc
}
# Each kernel's modules (and the kernel itself, the first time) are built
# in the background while the kernel before runs its tests: builds do not
# mind sharing the machine, and the QEMU runs leave a CPU idle much of the
# time.  build-KERNEL.rc says when a kernel's are ready.
prebuild() {
	local k rc
	for k in $kernels; do
		rc=0
		(
			kernel_build "$k"
			if [ "${k%-6.1}" = plain ]; then
				module_build "$k-prod"
				mkdir -p "$EPTMMU_OUT/prod-$k"
				cp "$MODDIR/src/eptmmu.ko" \
					"$EPTMMU_OUT/prod-$k/eptmmu-prod.ko"
			fi
			module_build "$k" EPTMMU_TEST=1
		) >"$EPTMMU_OUT/build-$k.log" 2>&1 || rc=$?
		echo $rc >"$EPTMMU_OUT/build-$k.rc"
	done
	# make compat's builds (W=1, sparse, DKMS, against Debian's
	# headers) too; its boots come later, among the jobs.
	if [ "${EPTMMU_COMPAT:-1}" != 0 ]; then
		rc=0
		EPTMMU_COMPAT_STAGE=build bash "$EPTMMU_TOP/scripts/compat.sh" \
			>"$EPTMMU_OUT/compat-build.out" 2>&1 || rc=$?
		echo $rc >"$EPTMMU_OUT/compat-build.rc"
	fi
}
# The VT-x host: Bochs emulates VMX with EPT.  Haswell has EPT A/D and
# 1G pages, Sandy Bridge neither.  In each model: the module reads the
# model's capabilities right, backend=vmx runs real guests on our EPT, and
# eptmmu_vmx_test checks, through the CPU's own walks, that guest writes
# land, hardware A/D bits feed dirty logging and aging (access tracking
# and the fast path without A/D), write-protection logging loses no page
# and an munmap makes the guest fault again; its g64_* cases run 64-bit
# guest programs in C (EPTMMU_RUN_GUEST) on their own page tables, two
# vCPUs of one VM at once among them, and the demo runs one too (-g).
# Both boot with two CPUs, so vCPU threads migrate (VMCLEAR by IPI,
# INVEPT on both), the 64-bit SMP guests run on two CPUs at once, and a
# flush must kick a guest looping on the other CPU.  The
# debug kernels among $kernels run the vmx test and the demo too (lockdep
# + KASAN as a Haswell, KCSAN as a two-CPU Sandy Bridge), so the vmx
# vCPU's paths are checked by the same detectors as the rest.  The KUnit
# suites pass there too but re-test the soft vCPU for ~4 minutes a model;
# EPTMMU_BOCHS_KUNIT=1 adds them.  EPTMMU_BOCHS=0 skips Bochs.
# Bochs is one host thread however many CPUs it emulates, and its guest
# clock counts instructions (clock: sync=none), so runs on other host
# cores see the same guest: each run is a job (above).
# bochs_run KERNEL MODEL CPUS [BOCHS_APPEND]
bochs_run() {
	local k=$1 model=$2 cpus=$3 bappend=${4:-} want ad plan log bexpect
	local id=bochs-$k-$model extra=()
	kernel_build "$k"
	# prebuild's modules, if it built them: building again in the same
	# tree could rewrite them under the QEMU run's make_initramfs.
	if [ "$(cat "$EPTMMU_OUT/build-$k.rc" 2>/dev/null)" = 0 ]; then
		MODDIR=$EPTMMU_OUT/modbuild-$k
	else
		module_build "$k" EPTMMU_TEST=1
	fi
	case $model in
	*haswell*)
		want="ept=1 walk4=1 wb=1 2m=1 1g=1 invept=single+all ad=1 pml=0 exec_only=1 unrestricted=1 vmxon=ok"
		ad=1 ;;
	*skylake*)
		want="ept=1 walk4=1 wb=1 2m=1 1g=1 invept=single+all ad=1 pml=1 exec_only=1 unrestricted=1 vmxon=ok"
		ad=1 ;;
	*)
		want="ept=1 walk4=1 wb=1 2m=1 1g=0 invept=single+all ad=0 pml=0 exec_only=1 unrestricted=1 vmxon=ok"
		ad=0 ;;
	esac
	plan=$EPTMMU_OUT/plan-bochs-$k-$model.sh
	case $model in *skylake*)
		bochs_pml_plan "$plan" "$want"
		bochs_step_limit "$k" "$plan"
		make_initramfs "$EPTMMU_OUT/initrd-$id.gz" "$plan" \
			"$MODDIR"/src/eptmmu.ko "$TOOLSDIR"/eptmmu_vmx_test \
			"$TOOLSDIR"/eptmmu_migrate \
			"$TOOLSDIR"/eptmmu_dirty_log_test
		log=$EPTMMU_OUT/console-$id.log
		rm -f "$EPTMMU_OUT/result-$id.json"
		job "$id" bochs_exec "$id" "$k" "$model" "$cpus" "$bappend" \
			"$log" "$KBUILD/arch/x86/boot/bzImage" "$KSRC" \
			"${PML_EXPECT[@]}"
		results+=("$EPTMMU_OUT/result-$id.json")
		return ;;
	esac
	cat >"$plan" <<EOF
step vmxtest sh -c 'insmod /eptmmu.ko backend=vmx && dmesg | grep -E "backend=vmx|SPTE mode" | tail -n 2 && /eptmmu_vmx_test --backend vmx --ad $ad; r=\$?; rmmod eptmmu; exit \$r'
step demo sh -c 'insmod /eptmmu.ko backend=vmx && /eptmmu_demo -v 2 -m 4 && /eptmmu_demo -v 2 -m 4 -g; r=\$?; rmmod eptmmu; exit \$r'
EOF
	bexpect=(vmxtest:tap demo:rc)
	# The VM-exit tracepoint needs real exits: the vmx vCPU's.  On the
	# plain kernel's Haswell only: the lockdep run is the longest job.
	if [ "$k" = plain ] && [ $ad = 1 ] &&
		grep -q '^CONFIG_EVENT_TRACING=y' "$KBUILD/.config"; then
		echo "step obs-vmx sh -c 'insmod /eptmmu.ko backend=vmx && /eptmmu_obs_test -r -S /eptmmu_stat vmx_exit; r=\$?; rmmod eptmmu; exit \$r'" >>"$plan"
		bexpect+=(obs-vmx:tap)
		extra+=("$TOOLSDIR"/eptmmu_obs_test "$TOOLSDIR"/eptmmu_stat)
	fi
	# What the vmx vCPU allocates (VMCSs, VMXON regions, guest state)
	# must be freed: kmemleak after both modules ran, with
	# EPTMMU_BOCHS_KMEMLEAK=1.  Off by default: in the last full run its
	# scans under Bochs had not finished after 12 minutes (it took ~2
	# before), which left the job to its 40-minute timeout.
	if [ "$k" = lockdep ] && [ "${EPTMMU_BOCHS_KMEMLEAK:-0}" = 1 ]; then
		echo "$KMEMLEAK_STEP" >>"$plan"
		bexpect+=(kmemleak:rc)
	fi
	if [ "$k" = plain ]; then
		cat >>"$plan" <<EOF
step caps sh -c 'insmod /eptmmu.ko backend=soft && dmesg | grep "eptmmu: VT-x" && cat /sys/module/eptmmu/parameters/vmx_caps && grep -q "$want" /sys/module/eptmmu/parameters/vmx_caps; r=\$?; rmmod eptmmu; exit \$r'
EOF
		bexpect+=(caps:rc)
		if [ $ad = 1 ]; then
			# The same CPU without A/D: access tracking on hardware.
			cat >>"$plan" <<'EOF'
step vmxtest-noad sh -c 'insmod /eptmmu.ko backend=vmx ept_ad=off && /eptmmu_vmx_test --backend vmx --ad 0; r=$?; rmmod eptmmu; exit $r'
EOF
			bexpect+=(vmxtest-noad:tap)
			# R-VMX-HOSTSEG and R-VMX-EVENT (FSGSBASE):
			# the old behaviours must fail their tests here.
			cat >>"$plan" <<'EOF'
step vmx-hostseg-broken sh -c 'insmod /eptmmu.ko backend=vmx broken=vmx_host_seg_clobber || exit 2; /eptmmu_vmx_test --backend vmx host_segments >/tmp/o; r=$?; cat /tmp/o; rmmod eptmmu; test $r -ne 0 && grep -q "^not ok .*GS base set by WRGSBASE" /tmp/o'
step vmx-events-broken sh -c 'insmod /eptmmu.ko backend=vmx broken=vmx_mc_guest_error || exit 2; /eptmmu_vmx_test --backend vmx host_events >/tmp/o; r=$?; cat /tmp/o; rmmod eptmmu; test $r -ne 0 && grep -q "^not ok .*accesses completed right" /tmp/o'
EOF
			bexpect+=(vmx-hostseg-broken:rc vmx-events-broken:rc)
			# The qualification's bits 7-8 dropped: the 64-bit
			# guest's page-walk faults are no longer told apart.
			cat >>"$plan" <<'EOF'
step vmx-qual-broken sh -c 'insmod /eptmmu.ko backend=vmx broken=vmx_qual_no_gla || exit 2; /eptmmu_vmx_test --backend vmx g64_pattern >/tmp/o; r=$?; cat /tmp/o; rmmod eptmmu; test $r -ne 0 && grep -q "^not ok .*guest paging structures .* told apart" /tmp/o'
EOF
			bexpect+=(vmx-qual-broken:rc)
		else
			cat >>"$plan" <<'EOF'
step ad-refused sh -c 'insmod /eptmmu.ko backend=vmx ept_ad=on; r=$?; dmesg | grep "ept_ad=on" | tail -n 1; test $r -ne 0'
EOF
			bexpect+=(ad-refused:rc)
		fi
		# R-VMX-FLUSH on both models (two CPUs each): without the kick
		# a guest looping on CPU 1 writes past a harvest unlogged.  On
		# the Haswell the harvest clears D bits (the CPU does not set
		# D again through a translation that has it), on the Sandy
		# Bridge it takes W away.
		cat >>"$plan" <<'EOF'
step vmx-flush-nokick-broken sh -c 'insmod /eptmmu.ko backend=vmx broken=vmx_flush_no_kick || exit 2; /eptmmu_vmx_test --backend vmx remote_flush >/tmp/o; r=$?; cat /tmp/o; rmmod eptmmu; test $r -ne 0 && grep -q "^not ok .*after the harvest were logged" /tmp/o'
EOF
		bexpect+=(vmx-flush-nokick-broken:rc)
		# The same for a zap (a memslot deleted under the
		# looping guest): its writes must stop when the delete
		# returns.
		cat >>"$plan" <<'EOF'
step vmx-zap-nokick-broken sh -c 'insmod /eptmmu.ko backend=vmx broken=vmx_flush_no_kick || exit 2; /eptmmu_vmx_test --backend vmx remote_zap >/tmp/o; r=$?; cat /tmp/o; rmmod eptmmu; test $r -ne 0 && grep -q "^not ok .*no write reached the page after the delete" /tmp/o'
EOF
		bexpect+=(vmx-zap-nokick-broken:rc)
		# R-VMX-VMCS: a VMCS loaded on another CPU without a
		# VMCLEAR where it was active must fail the threads.
		cat >>"$plan" <<'EOF'
step vmx-vmcs-broken sh -c 'insmod /eptmmu.ko backend=vmx broken=vmx_migrate_no_vmclear || exit 2; /eptmmu_vmx_test --backend vmx threads >/tmp/o; r=$?; cat /tmp/o; rmmod eptmmu; test $r -ne 0 && grep -q "^not ok .*threads: 2 vCPUs in 2 threads" /tmp/o'
EOF
		bexpect+=(vmx-vmcs-broken:rc)
		# A live migration between two processes on the vmx vCPU
		# (tools/eptmmu_migrate.c): D bits and write protection on the
		# Haswell, write protection on the Sandy Bridge.  No broken
		# variant here: with broken=skip_flush a trial run under Bochs
		# lost no write (its CPU did not reuse the stale writable
		# translation), so there would be nothing to catch.  The ring
		# run's one vCPU writes flat out (-r 0) all over its 1024 pages
		# (-P 0) into a 1024-entry ring: the vmx vCPU takes ring-full
		# exits (27 in the write-protection run of a trial).
		cat >>"$plan" <<'EOF'
step migrate sh -c 'insmod /eptmmu.ko backend=vmx && /eptmmu_migrate -m 2 -t 32 -w 200 -p 200; r=$?; rmmod eptmmu; exit $r'
step migrate-ring sh -c 'insmod /eptmmu.ko backend=vmx && /eptmmu_migrate -v 1 -m 4 -P 0 -r 0 -t 32 -R 8 -w 100 -p 100 -d ring -G 1024; r=$?; rmmod eptmmu; exit $r'
step dirtylog-ring-g64 sh -c 'insmod /eptmmu.ko backend=vmx && /eptmmu_dirty_log_test -G; r=$?; rmmod eptmmu; exit $r'
EOF
		bexpect+=(migrate:tap migrate-ring:tap dirtylog-ring-g64:tap)
		# A 64-bit guest (EPTMMU_RUN_GUEST) through ring-full exits.
		extra+=("$TOOLSDIR"/eptmmu_dirty_log_test)
		# With the real kvm_intel owning VMX, eptmmu must step aside.
		echo "step kvm-owns-vmx /kvm_owns_vmx.sh" >>"$plan"
		bexpect+=(kvm-owns-vmx:tap)
		extra+=("$EPTMMU_TOP/scripts/guest/kvm_owns_vmx.sh"
		       "$KBUILD"/virt/lib/irqbypass.ko
		       "$KBUILD"/arch/x86/kvm/kvm{,-intel}.ko)
		if [ "${EPTMMU_BOCHS_KUNIT:-0}" = 1 ]; then
			cat >>"$plan" <<'EOF'
step kunit sh -c 'insmod /eptmmu.ko && insmod /eptmmu_test.ko; r=$?; rmmod eptmmu_test; rmmod eptmmu; exit $r'
EOF
			bexpect+=(kunit:kunit)
		fi
	fi
	bochs_step_limit "$k" "$plan"
	make_initramfs "$EPTMMU_OUT/initrd-$id.gz" "$plan" \
		"$MODDIR"/src/eptmmu{,_test,_detect}.ko \
		"$TOOLSDIR"/eptmmu_vmx_test "$TOOLSDIR"/eptmmu_demo \
		"$TOOLSDIR"/eptmmu_migrate "${extra[@]}"
	log=$EPTMMU_OUT/console-$id.log
	rm -f "$EPTMMU_OUT/result-$id.json"
	job "$id" bochs_exec "$id" "$k" "$model" "$cpus" "$bappend" "$log" \
		"$KBUILD/arch/x86/boot/bzImage" "$KSRC" "${bexpect[@]}"
}

# Dirty logging by PML (R-PML-DRAIN), on a model that has it (Skylake-X:
# EPT A/D, 1G, PML) with two CPUs, so a harvest on one CPU has a guest
# running on the other to kick.  Its own small plan: the vmx dirty-log
# cases, eptmmu_dirty_log_test (every logging mode against two writing
# vCPUs, 0 lost pages) and a migration with PML on (ept_pml=auto turns it
# on), the same tests but the migration with ept_pml=off (write
# protection) beside them, and a harvest that does not drain a running
# guest's PML log must miss its page.  Unloading the module costs more
# guest time than most of these tests (RCU grace periods, expedited
# here): each load serves several steps, and the last one stays loaded.
# The Haswell and Sandy Bridge runs cover the rest of the vmx vCPU;
# QEMU's plain run checks that ept_pml=on is refused where PML cannot
# run.
# bochs_pml_plan PLAN WANT -> PML_EXPECT
bochs_pml_plan() {
	local plan=$1 want=$2 vt="--backend vmx --ad 1" dl="-m 1 -i 5 -w 2000"
	cat >"$plan" <<EOF
step vmxtest-pml sh -c 'insmod /eptmmu.ko backend=vmx || exit 1; cat /sys/module/eptmmu/parameters/vmx_caps; grep -q "$want" /sys/module/eptmmu/parameters/vmx_caps && dmesg | grep "eptmmu: PML: on" && /eptmmu_vmx_test $vt --pml 1 backend dirty_dbit dirty_wp dirty_wp_race pml_drain pml_full pml_manual'
step vmxtest-g64-pml /eptmmu_vmx_test $vt --pml 1 g64_hello g64_pattern g64_smp g64_dirty_pt remote_flush remote_zap
step dirtylog-pml /eptmmu_dirty_log_test $dl
step migrate-ring-pml /eptmmu_migrate -v 1 -m 4 -P 0 -r 0 -t 32 -R 8 -w 100 -p 100 -d ring -G 1024
step migrate-pml sh -c '/eptmmu_migrate -M wp -m 1 -r 0 -t 4 -R 4 -w 2 -p 2; r=\$?; rmmod eptmmu; exit \$r'
step vmxtest-nopml sh -c 'insmod /eptmmu.ko backend=vmx ept_pml=off && /eptmmu_vmx_test $vt --pml 0 dirty_dbit dirty_wp dirty_wp_race'
step dirtylog-nopml sh -c '/eptmmu_dirty_log_test $dl; r=\$?; rmmod eptmmu; exit \$r'
step vmx-flush-nokick-pml-broken sh -c 'insmod /eptmmu.ko backend=vmx broken=vmx_flush_no_kick || exit 2; /eptmmu_vmx_test $vt --pml 1 remote_flush >/tmp/o; r=\$?; cat /tmp/o; rmmod eptmmu; test \$r -ne 0 && grep -q "^not ok .*after the harvest were logged" /tmp/o'
step pml-drain-broken sh -c 'insmod /eptmmu.ko backend=vmx broken=pml_no_drain || exit 2; /eptmmu_vmx_test --backend vmx pml_drain >/tmp/o; r=\$?; cat /tmp/o; test \$r -ne 0 && grep -q "^not ok .*harvest made while it ran reported" /tmp/o'
EOF
	PML_EXPECT=(vmxtest-pml:tap vmxtest-g64-pml:tap dirtylog-pml:tap
		    migrate-ring-pml:tap migrate-pml:tap
		    vmxtest-nopml:tap dirtylog-nopml:tap
		    vmx-flush-nokick-pml-broken:rc pml-drain-broken:rc)
}

# bochs_exec ID KERNEL MODEL CPUS APPEND LOG BZIMAGE KSRC EXPECT...
bochs_exec() {
	local id=$1 k=$2 model=$3 cpus=$4 bappend=$5 log=$6 bz=$7 ksrc=$8
	local t1=$SECONDS brc=0 rc=0
	shift 8
	# Wall-clock bound: a run at SCHED_IDLE may wait most of the QEMU
	# kernels' time for a CPU (alone, the longest takes ~5 min).
	BOCHS_CPUS=$cpus BOCHS_APPEND=$bappend \
		bash "$EPTMMU_TOP/scripts/bochs.sh" "$model" "$bz" \
		"$EPTMMU_OUT/initrd-$id.gz" "$log" 2400 </dev/null || brc=$?
	[ $brc -eq 124 ] && echo "  Bochs timed out (log: $log)"
	python3 "$EPTMMU_TOP/scripts/ktap_report.py" run --ksrc "$ksrc" \
		--log "$log" --kernel "$id" \
		--json "$EPTMMU_OUT/result-$id.json" "$@" || rc=1
	[ $brc -eq 0 ] || rc=1
	echo "  bochs $k $model ($cpus CPU): $((SECONDS - t1)) s (log: $log)"
	return $rc
}

# make compat: the production module on Debian's kernels (their header
# packages, DKMS, their images booted under QEMU).  Its builds ran beside
# the QEMU kernels (prebuild); the boots follow them in the foreground.
compat_stage() {
	while [ ! -e "$EPTMMU_OUT/compat-build.rc" ]; do sleep 1; done
	cat "$EPTMMU_OUT/compat-build.out"
	EPTMMU_COMPAT_STAGE=boot \
		EPTMMU_COMPAT_JSON=$EPTMMU_OUT/result-compat.json \
		bash "$EPTMMU_TOP/scripts/compat.sh"
}

# R-VMX-LIFE across suspend: the test kernels have no PM_SLEEP, so this
# boots Debian's own 6.12 kernel (linux-image-$EPTMMU_PM_KERNEL) under
# Bochs, with eptmmu.ko (test knobs on) built against its headers: the PM
# notifier and the CPU hotplug callbacks through pm_test's "core" runs of
# hibernation and suspend to RAM, then a real S3 (Bochs 2.7 resets the
# CPUs and its BIOS resumes at the wake vector, so VMX operation really
# is lost) with CPU 1 offline (with both CPUs in it, the guest made no
# progress after the resume: Bochs resets the TSCs), vmx guests before
# and after.  ~12 min of a job slot on a loaded machine (Debian's kernel
# boots slowly under Bochs), so only with EPTMMU_BOCHS_PM=1.
# broken=vmx_pm_ignored (the notifier doing nothing) oopsed with "invalid
# opcode" in vmx_do() after a real S3 in a one-CPU run by hand; as a
# step here, after the other S3s, it hung the guest instead, so it is
# not one.
bochs_pm_run() {
	local k=${EPTMMU_PM_KERNEL:-6.12.117+deb12-amd64} id=bochs-pm d plan
	d=$EPTMMU_OUT/modbuild-pm
	if [ ! -f "/boot/vmlinuz-$k" ] || [ ! -d "/lib/modules/$k/build" ]; then
		echo "  bochs-pm: no /boot/vmlinuz-$k or headers: skipped"
		return 0
	fi
	mkdir -p "$d"
	rsync -rlpD --checksum --delete --exclude .git \
		--filter=':- .gitignore' --exclude tools/build \
		"$EPTMMU_TOP/" "$d/src/"
	make -s -C "/lib/modules/$k/build" M="$d/src" EPTMMU_TEST=1 modules ||
		die "module build failed against $k"
	plan=$EPTMMU_OUT/plan-$id.sh
	cat >"$plan" <<'EOF'
step pm-before sh -c 'insmod /eptmmu.ko backend=vmx && /eptmmu_vmx_test --backend vmx writes_land threads'
step pm-test-core sh -c 'echo 0 >/sys/module/suspend/parameters/pm_test_delay; for s in disk mem; do echo core >/sys/power/pm_test && echo $s >/sys/power/state || exit 1; done; echo none >/sys/power/pm_test; dmesg | grep -c "eptmmu: resume: VMX operation entered again on every CPU" | grep -qx 2'
step pm-s3 sh -c 'c=/sys/devices/system/cpu/cpu1/online; echo 0 >$c && echo deep >/sys/power/mem_sleep && echo mem >/sys/power/state && echo 1 >$c && dmesg | grep -c "eptmmu: resume: VMX operation entered again on every CPU" | grep -qx 3'
step pm-after sh -c '/eptmmu_vmx_test --backend vmx writes_land threads dirty_wp cpu_hotplug; r=$?; rmmod eptmmu; exit $r'
EOF
	make_initramfs "$EPTMMU_OUT/initrd-$id.gz" "$plan" "$d/src/eptmmu.ko" \
		"$TOOLSDIR"/eptmmu_vmx_test
	rm -f "$EPTMMU_OUT/result-$id.json"
	job "$id" bochs_exec "$id" pm corei7_haswell_4770 2 no_console_suspend \
		"$EPTMMU_OUT/console-$id.log" "/boot/vmlinuz-$k" "$KSRC" \
		pm-before:tap pm-test-core:rc pm-s3:rc pm-after:tap
}

rm -f "$EPTMMU_OUT"/build-*.rc
rm -f "$EPTMMU_OUT/compat-build.rc"
# Below the QEMU runs, above the Bochs runs: the next kernel's modules
# are usually needed before the Bochs runs are.
(
	renice -n 10 -p $BASHPID >/dev/null
	prebuild
) &

# built KERNEL: wait until prebuild has built KERNEL and its modules (if
# it builds them at all: bochs_run builds what it needs itself).
built() {
	case " $kernels " in *" $1 "*) ;; *) return 0 ;; esac
	while [ ! -e "$EPTMMU_OUT/build-$1.rc" ]; do sleep 1; done
	[ "$(cat "$EPTMMU_OUT/build-$1.rc")" = 0 ]
}

# The low-priority jobs (above job()), dispatched by one background shell
# as soon as what each needs is built.  lanes.rc says the dispatcher got
# through its list; jobs.list names the jobs it started, in order.
lanes() {
	# SCHED_IDLE, not just nice 19: a QEMU vCPU thread that wakes then
	# preempts them at once, where against a nice-19 task it may wait
	# out the task's slice, which TCG's vCPU threads, waking each other
	# all the time, pay for many times over.
	chrt -i -p 0 $BASHPID >/dev/null
	job model model_stage
	[ "${EPTMMU_BOCHS:-1}" != 0 ] || { wait; return 0; }
	built plain && bochs_run plain corei7_sandy_bridge_2600k 2
	built plain && bochs_run plain corei7_haswell_4770 2
	# Expedited RCU: a VM's teardown and a module unload wait for
	# (S)RCU grace periods, most of this run's guest time otherwise.
	built plain &&
		bochs_run plain corei7_skylake_x 2 rcupdate.rcu_expedited=1
	# DEBUG_PAGEALLOC guards the soft vCPU's direct-map accesses; the vmx
	# vCPU's guest goes through EPT only, so Bochs runs without it.
	case " $kernels " in *" lockdep "*)
		built lockdep &&
			bochs_run lockdep corei7_haswell_4770 1 debug_pagealloc=off ;;
	esac
	case " $kernels " in *" kcsan "*)
		built kcsan && bochs_run kcsan corei7_sandy_bridge_2600k 2 ;;
	esac
	[ "${EPTMMU_BOCHS_PM:-0}" = 1 ] && bochs_pm_run
	wait
}

# EPTMMU_JOBS_EARLY=1 starts them now, beside the QEMU kernels; by
# default they start after make compat's boots.  On this 2-CPU host the
# QEMU guests lost more than the jobs gained, even with the jobs at
# SCHED_IDLE (plain 178 s instead of 91 s, lockdep over 400 s instead
# of 302 s), and races the must-fail steps must win got rarer.
start_lanes() {
	rm -f "$EPTMMU_OUT/jobs.list" "$EPTMMU_OUT/lanes.rc"
	t_lanes=$SECONDS
	{
		lrc=0
		(lanes) || lrc=$?
		echo $lrc >"$EPTMMU_OUT/lanes.rc"
	} &
}
[ "${EPTMMU_JOBS_EARLY:-0}" = 1 ] && start_lanes

for k in $kernels; do
	t1=$SECONDS
	while [ ! -e "$EPTMMU_OUT/build-$k.rc" ]; do sleep 1; done
	cat "$EPTMMU_OUT/build-$k.log" >&2
	[ "$(cat "$EPTMMU_OUT/build-$k.rc")" = 0 ] ||
		die "building the $k kernel or its modules failed"
	kernel_build "$k"
	t2=$SECONDS
	MODDIR=$EPTMMU_OUT/modbuild-$k
	prod=()
	[ "${k%-6.1}" = plain ] && prod=("$EPTMMU_OUT/prod-$k/eptmmu-prod.ko")
	plan_for "$k"
	make_initramfs "$EPTMMU_OUT/initrd-$k.gz" "$PLAN" \
		"$MODDIR"/src/eptmmu{,_test,_detect}.ko "${TOOLS[@]}" \
		"$EPTMMU_TOP/scripts/guest/holds.sh" "${prod[@]}"
	limit=450 append=""
	[ "${k%-6.1}" = plain ] || limit=600
	# lockdep took 592 s of its 600 in a CI run on a loaded host.
	[ "$k" = lockdep ] && limit=900
	# DEBUG_PAGEALLOC is on at boot there; poisoning needs asking for.
	[ "$k" = lockdep ] && append=page_poison=1
	log=$EPTMMU_OUT/console-$k.log
	qrc=0
	rm -f "$EPTMMU_OUT/result-$k.json"
	run_qemu "$KBUILD/arch/x86/boot/bzImage" "$EPTMMU_OUT/initrd-$k.gz" \
		"$log" "$limit" "$append" || qrc=$?
	t3=$SECONDS
	[ $qrc -eq 124 ] && echo "  QEMU timed out after $limit s (log: $log)"
	python3 "$EPTMMU_TOP/scripts/ktap_report.py" run --ksrc "$KSRC" \
		--log "$log" --kernel "$k" --json "$EPTMMU_OUT/result-$k.json" \
		"${EXPECT[@]}" || status=1
	[ $qrc -eq 0 ] || status=1
	echo "  $k: waited $((t2 - t1)) s for kernel and modules, boot+tests $((t3 - t2)) s (log: $log)"
	results+=("$EPTMMU_OUT/result-$k.json")
done

# make compat's boots: QEMU guests too, so in the foreground, one at a
# time, after the test kernels.
if [ "${EPTMMU_COMPAT:-1}" != 0 ]; then
	t1=$SECONDS
	rm -f "$EPTMMU_OUT/result-compat.json"
	compat_stage || status=1
	echo "  compat boots: $((SECONDS - t1)) s"
	results+=("$EPTMMU_OUT/result-compat.json")
fi
[ "${EPTMMU_JOBS_EARLY:-0}" = 1 ] || start_lanes
t1=$SECONDS
wait
[ "$(cat "$EPTMMU_OUT/lanes.rc" 2>/dev/null)" = 0 ] || {
	echo "  the jobs' dispatcher failed (a build for a Bochs run?)"
	status=1
}
job_ids=()
[ -e "$EPTMMU_OUT/jobs.list" ] && mapfile -t job_ids <"$EPTMMU_OUT/jobs.list"
for id in "${job_ids[@]}"; do
	cat "$EPTMMU_OUT/$id.out"
	[ "$(cat "$EPTMMU_OUT/$id.rc" 2>/dev/null)" = 0 ] || status=1
	results+=("$EPTMMU_OUT/result-$id.json")
done
echo "  jobs: $((SECONDS - t_lanes)) s since they started, $((SECONDS - t1)) s waited for at the end: ${job_ids[*]}"

echo "=== summary ($((SECONDS - t0)) s) ==="
python3 "$EPTMMU_TOP/scripts/ktap_report.py" total "${results[@]}" || status=1
exit $status
