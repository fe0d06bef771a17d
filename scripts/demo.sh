#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# `make run`: build the test kernel, eptmmu.ko (as a user would build it:
# no test knobs) and the demo program, boot QEMU and run the workload in
# both SPTE modes: a VM with a 64 MiB memslot and vCPU threads touching
# every page, with the faults, fast/slow split, TLB work and time of each
# phase.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

ensure_packages "${EPTMMU_PACKAGES[@]}"
mkdir -p "$EPTMMU_OUT"
kernel_build plain
module_build demo
tools_build
plan=$EPTMMU_OUT/plan-demo.sh
cat >"$plan" <<'PLAN'
echo
echo "=== eptmmu demo ==="
for mode in on off; do
	echo
	insmod /eptmmu.ko ept_ad=$mode
	dmesg | grep 'eptmmu: SPTE mode' | tail -n 1 | sed 's/^\[[ 0-9.]*\] //'
	/eptmmu_demo -v 2 -m 64
	echo "demo exit status: $?"
	rmmod eptmmu
done
echo
echo "--- bad input is refused and changes nothing:"
insmod /eptmmu.ko ept_ad=bogus 2>&1 | tail -n 1
PLAN
make_initramfs "$EPTMMU_OUT/initrd-demo.gz" "$plan" "$MODDIR/src/eptmmu.ko" \
	"$TOOLSDIR/eptmmu_demo"
log=$EPTMMU_OUT/console-demo.log
say "booting QEMU (log: $log)"
run_qemu "$KBUILD/arch/x86/boot/bzImage" "$EPTMMU_OUT/initrd-demo.gz" \
	"$log" 300 "quiet" || die "QEMU failed or timed out; see $log"
sed -n '/=== eptmmu demo ===/,/eptmmu-harness: DONE/p' "$log" |
	grep -v 'eptmmu-harness\|^\[ *[0-9.]*\] ' | tr -d '\r'
grep -q "demo exit status: 0" "$log" || die "the demo workload failed"
