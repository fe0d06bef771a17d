#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Runs inside a Bochs guest with VT-x (make check): while the real
# kvm_intel owns VMX, eptmmu refuses backend=vmx and falls back with
# backend=auto; once kvm_intel is gone, eptmmu takes VMX.  Needs
# /irqbypass.ko, /kvm.ko, /kvm-intel.ko, /eptmmu.ko and /eptmmu_vmx_test
# in the initramfs.
# Output is TAP.

n=0
failed=0
out=/tmp/kvm_owns_vmx.out

# check DESCRIPTION CMD...: one TAP line; CMD's output only on failure.
check() {
	desc=$1
	shift
	n=$((n + 1))
	if "$@" >"$out" 2>&1; then
		echo "ok $n - $desc"
	else
		echo "not ok $n - $desc"
		sed 's/^/# /' "$out"
		failed=1
	fi
}

# kvm.enable_virt_at_load (default Y): kvm_intel does VMXON at load.
kvm_load() {
	insmod /irqbypass.ko && insmod /kvm.ko && insmod /kvm-intel.ko &&
		grep -qx Y /sys/module/kvm/parameters/enable_virt_at_load
}

kvm_unload() {
	rmmod kvm_intel && rmmod kvm && rmmod irqbypass
}

# insmod_fails ERRTEXT ARGS...: insmod must fail with that errno text.
insmod_fails() {
	want=$1
	shift
	if insmod "$@" 2>/tmp/insmod.err; then
		echo "insmod $* succeeded"
		return 1
	fi
	cat /tmp/insmod.err
	grep -q "$want" /tmp/insmod.err
}

# dmesg_has TEXT: the kernel said TEXT since the last dmesg_has.
dmesg_has() {
	dmesg -c >/tmp/dmesg.out
	cat /tmp/dmesg.out
	grep -qF "$1" /tmp/dmesg.out
}

no_eptmmu() {
	test ! -e /sys/module/eptmmu
}

eptmmu_runs() {
	/eptmmu_vmx_test --backend "$1" writes_land
}

eptmmu_auto_soft() {
	insmod /eptmmu.ko backend=auto &&
		dmesg_has "backend=auto: soft vCPU (another hypervisor (e.g. kvm_intel) owns VMX" &&
		eptmmu_runs soft && rmmod eptmmu
}

eptmmu_vmx() {
	insmod /eptmmu.ko backend=vmx &&
		dmesg_has "backend=vmx: vmx vCPU" && eptmmu_runs vmx && rmmod eptmmu
}

vmx_refused() {
	insmod_fails "No such device" /eptmmu.ko backend=vmx &&
		dmesg_has "backend=vmx: another hypervisor (e.g. kvm_intel) owns VMX" &&
		no_eptmmu
}

echo "1..5"
dmesg -c >/dev/null
check "kvm_intel loads and enters VMX operation on every CPU" kvm_load
check "with kvm_intel loaded, eptmmu backend=vmx refuses to load (ENODEV), says why and leaves nothing behind" \
	vmx_refused
check "with kvm_intel loaded, eptmmu backend=auto falls back to the soft vCPU, says why, and runs guests" \
	eptmmu_auto_soft
check "kvm_intel unloads (VMXOFF on every CPU)" kvm_unload
check "then eptmmu backend=vmx loads and runs guests on the CPU's EPT" eptmmu_vmx
exit $failed
