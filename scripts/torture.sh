#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# `make torture`: tools/eptmmu_torture under QEMU, in both SPTE modes.
#
#   DURATION=10   seconds per SPTE mode
#   SEED=N        first seed (default: from the clock, printed)
#   KERNEL=plain  test kernel (scripts/kconfig/KERNEL.config)
#   VMS=1         VMs the torture runs at once
#   BROKEN=knob   load eptmmu.ko with broken=knob (include/eptmmu/inject.h)
#   SEEDS=1       seeds SEED .. SEED+SEEDS-1, all in one boot; with more
#                 than one, each run stops at its first failure and the
#                 summary says how many seeds caught the breakage
#   MODES="on off"  which ept_ad= modes
#   SPLIT=1       with SEEDS>1: each seed runs once, in the MODES in turn
#                 (seed SEED in the first), instead of once per mode
#   TORTURE_ARGS= more eptmmu_torture options (-l: light load)
#
# Exits 0 when every run passed (SEEDS=1) or, with SEEDS>1, always after
# printing the catch count; the log is $EPTMMU_OUT/console-torture.log.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

DURATION=${DURATION:-10}
SEED=${SEED:-$(date +%s)}
KERNEL=${KERNEL:-plain}
VMS=${VMS:-1}
BROKEN=${BROKEN:-}
SEEDS=${SEEDS:-1}
SPLIT=${SPLIT:-0}
MODES=${MODES:-on off}
TORTURE_ARGS=${TORTURE_ARGS:-}

case $DURATION$SEED$VMS$SEEDS in
*[!0-9]*) die "DURATION, SEED, VMS and SEEDS are numbers" ;;
esac

ensure_packages "${EPTMMU_PACKAGES[@]}"
mkdir -p "$EPTMMU_OUT"
kernel_build "$KERNEL"
module_build "$KERNEL" EPTMMU_TEST=1
tools_build

plan=$EPTMMU_OUT/plan-torture.sh
expect=(zram:rc)
cat >"$plan" <<'EOF'
step zram sh -c 'echo 256M >/sys/block/zram0/disksize && mkswap /dev/zram0 >/dev/null && swapon /dev/zram0 && cat /proc/swaps'
EOF
param=${BROKEN:+broken=$BROKEN}
fast=
[ "$SEEDS" -gt 1 ] && fast=-x
runs=0
read -ra modes <<<"$MODES"
for ((m = 0; m < ${#modes[@]}; m++)); do
	mode=${modes[m]}
	for ((s = SEED; s < SEED + SEEDS; s++)); do
		[ "$SPLIT" = 1 ] && [ $(((s - SEED) % ${#modes[@]})) -ne $m ] &&
			continue
		name=torture-ad$mode
		[ "$SEEDS" -gt 1 ] && name=$name-$s
		echo "step $name sh -c 'insmod /eptmmu.ko ept_ad=$mode $param && /eptmmu_torture -s $s -d $DURATION -v $VMS -K $KERNEL $fast $TORTURE_ARGS; r=\$?; rmmod eptmmu; exit \$r'" >>"$plan"
		expect+=("$name:tap")
		runs=$((runs + 1))
	done
done

make_initramfs "$EPTMMU_OUT/initrd-torture.gz" "$plan" \
	"$MODDIR/src/eptmmu.ko" "$TOOLSDIR/eptmmu_torture"
log=$EPTMMU_OUT/console-torture.log
# A run may go on 2 * DURATION + 10 s past its end (tools/eptmmu_torture.c,
# running()).
limit=$((60 + runs * (3 * DURATION + 25)))
[ "$KERNEL" = plain ] || limit=$((limit * 2))
say "booting $KERNEL: $runs run(s) of $DURATION s, seed $SEED${BROKEN:+, broken=$BROKEN} (limit $limit s)"
qrc=0
run_qemu "$KBUILD/arch/x86/boot/bzImage" "$EPTMMU_OUT/initrd-torture.gz" \
	"$log" "$limit" || qrc=$?
[ $qrc -eq 124 ] && echo "  QEMU timed out after $limit s (log: $log)"

grep -o 'eptmmu-out\[torture[^]]*\]: # \(verdict\|vm[0-9].*ops/s\|vm[0-9] \(mm\|vm-ops\).*\|FAIL\).*' "$log" |
	sed 's/^eptmmu-out/  /' || true
if [ "$SEEDS" -gt 1 ]; then
	# A seed caught the breakage if its run failed or the kernel
	# reported anything naming eptmmu while it ran.
	python3 - "$EPTMMU_TOP/scripts" "$log" "$BROKEN" "${expect[@]:1}" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import ktap_report as k
lines = k.load(sys.argv[2])
reports = k.find_reports(lines)
steps = {}
for i, (_, text, _) in enumerate(lines):
    m = k.MARK.search(text)
    if m and m.group(1) == 'BEGIN':
        steps[m.group(2)] = [i, None, None]
    elif m and m.group(1) == 'END' and m.group(2) in steps:
        steps[m.group(2)][1:] = [i, int(m.group(3))]
caught = ran = 0
for spec in sys.argv[4:]:
    name = spec.split(':')[0]
    st = steps.get(name)
    if not st or st[1] is None:
        print(f'  {name}: did not run to the end')
        continue
    ran += 1
    why = []
    # Only a failed oracle counts: a feature line that was not reached
    # (the run stopped at its first failure) or a crash does not.
    oracles = set()
    for _, text, stp in lines[st[0]:st[1]]:
        if (stp == name and text.startswith('not ok')
                and 'exercised' not in text):
            oracles.add(text.split(' - ')[1].split(':')[0])
    if oracles:
        why.append(','.join(sorted(oracles)))
    elif st[2]:
        print(f'  {name}: exited {st[2]} with no failed oracle (not counted)')
    kr = [r for r in reports if st[0] < r[0] < st[1] and r[2]]
    if kr:
        why.append('kernel %s: %s' % (kr[0][1], kr[0][3][:60]))
    caught += bool(why)
    print(f'  {name}: {"CAUGHT " + "; ".join(why) if why else "passed"}')
print(f'catch: broken={sys.argv[3]}: {caught}/{ran} runs caught it')
PY
	exit 0
fi
rc=0
python3 "$EPTMMU_TOP/scripts/ktap_report.py" run --ksrc "$KSRC" --log "$log" \
	--kernel "torture-$KERNEL" --json "$EPTMMU_OUT/result-torture.json" \
	"${expect[@]}" || rc=1
[ $qrc -eq 0 ] || rc=1
echo "replay: make torture SEED=$SEED DURATION=$DURATION KERNEL=$KERNEL VMS=$VMS${BROKEN:+ BROKEN=$BROKEN}"
exit $rc
