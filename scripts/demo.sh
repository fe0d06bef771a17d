#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# `make run`: build the test kernel, eptmmu.ko (as a user would build it:
# no test knobs) and the demo program, boot QEMU and run the workload in
# both SPTE modes: a VM with a 64 MiB memslot and vCPU threads touching
# every page, with the faults, fast/slow split, TLB work and time of each
# phase.  Then the same workload on the vmx vCPU under Bochs, which
# emulates an Intel Haswell with VT-x: there the CPU walks eptmmu's EPT.
# EPTMMU_BOCHS=0 skips that part.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# show_demo HEADING LOG WHERE: the demo's output from LOG (its banner on,
# no kernel lines), and fail unless the workload exited 0.
show_demo() {
	sed -n "/$1/,/eptmmu-harness: DONE/p" "$2" |
		grep -v 'eptmmu-harness\|^\[ *[0-9.]*\] ' | tr -d '\r'
	grep -q "demo exit status: 0" "$2" || die "the demo workload failed$3"
}

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
show_demo "=== eptmmu demo ===" "$log" ""

[ "${EPTMMU_BOCHS:-1}" = 0 ] && exit 0
plan=$EPTMMU_OUT/plan-demo-vtx.sh
# The console carries the kernel's messages too (the harness's markers
# need them): collect the demo's output and print it once the module is
# gone, so the two do not interleave.
cat >"$plan" <<'PLAN'
{
	echo
	echo "=== eptmmu demo on VT-x (Bochs as an Intel Haswell: the CPU walks eptmmu's EPT) ==="
	echo
	insmod /eptmmu.ko backend=vmx
	dmesg | grep -E 'eptmmu: (VT-x|backend|SPTE mode)' | sed 's/^\[[ 0-9.]*\] //'
	/eptmmu_demo -v 2 -m 8 -g
	echo "demo exit status: $?"
	rmmod eptmmu
} >/tmp/demo.out 2>&1
sleep 1
cat /tmp/demo.out
# The serial port drains slowly under Bochs; /init reboots after this.
sleep 5
PLAN
make_initramfs "$EPTMMU_OUT/initrd-demo-vtx.gz" "$plan" \
	"$MODDIR/src/eptmmu.ko" "$TOOLSDIR/eptmmu_demo"
log=$EPTMMU_OUT/console-demo-vtx.log
say "booting Bochs (log: $log)"
bash "$EPTMMU_TOP/scripts/bochs.sh" corei7_haswell_4770 \
	"$KBUILD/arch/x86/boot/bzImage" "$EPTMMU_OUT/initrd-demo-vtx.gz" \
	"$log" 600 </dev/null || die "Bochs failed or timed out; see $log"
show_demo "=== eptmmu demo on VT-x" "$log" " on VT-x"
