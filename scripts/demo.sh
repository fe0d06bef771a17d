#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# `make run`: build the test kernel and eptmmu.ko, boot QEMU, load the
# module in each SPTE mode and show what it chose.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

ensure_packages "${EPTMMU_PACKAGES[@]}"
mkdir -p "$EPTMMU_OUT"
kernel_build plain
module_build demo
plan=$EPTMMU_OUT/plan-demo.sh
cat >"$plan" <<'PLAN'
echo
echo "=== eptmmu demo ==="
for mode in auto off on; do
	echo "--- insmod eptmmu.ko ept_ad=$mode"
	insmod /eptmmu.ko ept_ad=$mode && dmesg | grep 'eptmmu:' | tail -n 1
	rmmod eptmmu
done
echo "--- insmod eptmmu.ko ept_ad=bogus (must be refused)"
insmod /eptmmu.ko ept_ad=bogus || echo "refused, as it should be"
PLAN
make_initramfs "$EPTMMU_OUT/initrd-demo.gz" "$plan" "$MODDIR/src/eptmmu.ko"
log=$EPTMMU_OUT/console-demo.log
say "booting QEMU (log: $log)"
run_qemu "$KBUILD/arch/x86/boot/bzImage" "$EPTMMU_OUT/initrd-demo.gz" \
	"$log" 120 "quiet" || die "QEMU failed or timed out; see $log"
sed -n '/=== eptmmu demo ===/,/eptmmu-harness: DONE/p' "$log" |
	grep -v 'eptmmu-harness' | sed 's/^\[ *[0-9.]*\] //'
