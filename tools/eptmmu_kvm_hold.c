// SPDX-License-Identifier: GPL-2.0
/*
 * eptmmu_kvm_hold: keep one idle KVM VM, with one vCPU that never runs,
 * until killed.  make bench starts it in the background of its guest.
 *
 * Creating the first VM enables the scheduler's preempt-notifier static
 * key, and a vCPU without an in-kernel local APIC one of KVM's own; the
 * last VM to go disables them again.  So every run of KVM's
 * dirty_log_perf_test patches __schedule() and friends twice, while the
 * other CPU runs them.  Under QEMU's TCG that cross-CPU patching
 * sometimes leaves a CPU executing a stale int3 (an oops in __schedule(),
 * then a panic), which ended several bench boots at the start of KVM's
 * test.  With a VM held for the whole plan the keys change once, at
 * start-up, before anything is measured.
 *
 * The held VM should cost the measured runs nothing: its vCPU never
 * enters the guest, and a preempt notifier runs only for a thread that
 * registered one.  (Not measured apart: the sweeps with it gave eptmmu
 * figures within the spread of those without.)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/kvm.h>

int main(void)
{
	int kvm, vm, vcpu;

	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0) {
		fprintf(stderr, "eptmmu_kvm_hold: /dev/kvm: %s\n",
			strerror(errno));
		return 1;
	}
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0) {
		fprintf(stderr, "eptmmu_kvm_hold: KVM_CREATE_VM: %s\n",
			strerror(errno));
		return 1;
	}
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0) {
		fprintf(stderr, "eptmmu_kvm_hold: KVM_CREATE_VCPU: %s\n",
			strerror(errno));
		return 1;
	}
	printf("eptmmu_kvm_hold: holding a VM with one vCPU\n");
	fflush(stdout);
	for (;;)
		pause();
}
