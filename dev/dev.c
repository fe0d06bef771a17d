// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/eptmmu and the VM and vCPU file descriptors.  Every argument from
 * user space is checked here or in the function it is passed to, before
 * anything changes; include/uapi/eptmmu.h lists the errnos.
 */
#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/uaccess.h>

#include <eptmmu/audit.h>
#include <eptmmu/dev.h>
#include <eptmmu/vcpu.h>

static int vcpu_release(struct inode *inode, struct file *file)
{
	struct eptmmu_vcpu *vcpu = file->private_data;

	/* NULL: vm_create_vcpu() failed after making the file. */
	if (vcpu)
		eptmmu_vm_put(vcpu->vm);
	return 0;
}

/*
 * Own the vCPU for one ioctl.  An audit in progress holds every
 * run_lock: wait for it instead of failing with EBUSY.
 */
static int vcpu_get(struct eptmmu_vcpu *vcpu)
{
	if (down_read_killable(&vcpu->vm->audit_lock))
		return -EINTR;
	if (!mutex_trylock(&vcpu->run_lock)) {
		up_read(&vcpu->vm->audit_lock);
		return -EBUSY;
	}
	return 0;
}

static void vcpu_put(struct eptmmu_vcpu *vcpu)
{
	lockdep_assert_held(&vcpu->run_lock);
	mutex_unlock(&vcpu->run_lock);
	up_read(&vcpu->vm->audit_lock);
}

static long vcpu_run(struct eptmmu_vcpu *vcpu, void __user *argp)
{
	struct eptmmu_run run;
	bool ran;
	int r;

	if (copy_from_user(&run, argp, sizeof(run)))
		return -EFAULT;
	if (!run.count || run.count > EPTMMU_MAX_RUN_ACCESSES || run.flags ||
	    run.pad)
		return -EINVAL;
	r = vcpu_get(vcpu);
	if (r)
		return r;
	r = eptmmu_vcpu_run(vcpu, &run, &ran);
	vcpu_put(vcpu);
	/* A batch refused before any access changes nothing. */
	if (r && !ran)
		return r;
	if (copy_to_user(argp, &run, sizeof(run)))
		return -EFAULT;
	return r;
}

static long vcpu_run_guest(struct eptmmu_vcpu *vcpu, void __user *argp)
{
	struct eptmmu_run_guest rg;
	int r;

	if (copy_from_user(&rg, argp, sizeof(rg)))
		return -EFAULT;
	r = vcpu_get(vcpu);
	if (r)
		return r;
	r = eptmmu_vcpu_run_guest(vcpu, &rg);
	vcpu_put(vcpu);
	if (r)
		return r;
	if (copy_to_user(argp, &rg, sizeof(rg)))
		return -EFAULT;
	return 0;
}

static long vcpu_latency(struct eptmmu_vcpu *vcpu, void __user *argp)
{
	long r;

	/* Consistent only while nobody runs the vCPU. */
	r = vcpu_get(vcpu);
	if (r)
		return r;
	if (copy_to_user(argp, &vcpu->latency, sizeof(vcpu->latency)))
		r = -EFAULT;
	vcpu_put(vcpu);
	return r;
}

/* The VM maps its creator's memory; no other address space may drive it. */
static int vm_usable(struct eptmmu_vm *vm)
{
	if (READ_ONCE(vm->dead) || current->mm != vm->mm)
		return -EIO;
	return 0;
}

static long vcpu_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct eptmmu_vcpu *vcpu = file->private_data;
	int r = vm_usable(vcpu->vm);

	if (r)
		return r;
	switch (cmd) {
	case EPTMMU_RUN:
		return vcpu_run(vcpu, (void __user *)arg);
	case EPTMMU_RUN_GUEST:
		return vcpu_run_guest(vcpu, (void __user *)arg);
	case EPTMMU_GET_FAULT_LATENCY:
		return vcpu_latency(vcpu, (void __user *)arg);
	default:
		return -ENOTTY;
	}
}

/* The dirty ring: the vCPU's only mapping (Documentation/abi.rst). */
static int vcpu_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct eptmmu_vcpu *vcpu = file->private_data;
	int r = vm_usable(vcpu->vm);

	return r ? r : eptmmu_dirty_ring_mmap(vcpu, vma);
}

static const struct file_operations vcpu_fops = {
	.owner = THIS_MODULE,
	.release = vcpu_release,
	.unlocked_ioctl = vcpu_ioctl,
	.mmap = vcpu_mmap,
	.llseek = noop_llseek,
};

static int vm_release(struct inode *inode, struct file *file)
{
	eptmmu_vm_put(file->private_data);
	return 0;
}

static long vm_create_vcpu(struct eptmmu_vm *vm, unsigned long arg)
{
	struct eptmmu_vcpu *vcpu;
	struct file *file;
	int fd;

	if (arg)
		return -EINVAL;
	/*
	 * A vCPU, once made, stays in the VM until the VM dies: get the fd
	 * and the file first, so running out of either (EMFILE, ENFILE)
	 * uses up no vCPU.
	 */
	fd = get_unused_fd_flags(O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return fd;
	file = anon_inode_getfile("eptmmu-vcpu", &vcpu_fops, NULL, O_RDWR);
	if (IS_ERR(file)) {
		put_unused_fd(fd);
		return PTR_ERR(file);
	}
	vcpu = eptmmu_vcpu_create(vm);
	if (IS_ERR(vcpu)) {
		fput(file);
		put_unused_fd(fd);
		return PTR_ERR(vcpu);
	}
	eptmmu_vm_get(vm);
	file->private_data = vcpu;
	fd_install(fd, file);
	return fd;
}

static long vm_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct eptmmu_vm *vm = file->private_data;
	void __user *argp = (void __user *)arg;
	int r = vm_usable(vm);

	if (r)
		return r;
	switch (cmd) {
	case EPTMMU_SET_MEMSLOT: {
		struct eptmmu_memslot req;

		if (copy_from_user(&req, argp, sizeof(req)))
			return -EFAULT;
		return eptmmu_set_memslot(vm, &req);
	}
	case EPTMMU_SET_GUEST_CODE: {
		struct eptmmu_guest_code req;

		if (copy_from_user(&req, argp, sizeof(req)))
			return -EFAULT;
		if (req.flags || !IS_ALIGNED(req.gpa, PAGE_SIZE) ||
		    req.gpa >= EPTMMU_VMX_MAX_GPA)
			return -EINVAL;
		/* Read by vmx vCPUs at each access; the soft vCPU ignores it. */
		WRITE_ONCE(vm->guest_code_gpa, req.gpa);
		return 0;
	}
	case EPTMMU_CREATE_VCPU:
		return vm_create_vcpu(vm, arg);
	case EPTMMU_GET_DIRTY_LOG:
	case EPTMMU_CLEAR_DIRTY_LOG: {
		struct eptmmu_dirty_log log;

		if (copy_from_user(&log, argp, sizeof(log)))
			return -EFAULT;
		if (cmd == EPTMMU_GET_DIRTY_LOG)
			return eptmmu_get_dirty_log(vm, &log);
		return eptmmu_clear_dirty_log(vm, &log);
	}
	case EPTMMU_ENABLE_DIRTY_RING: {
		struct eptmmu_dirty_ring_config cfg;

		if (copy_from_user(&cfg, argp, sizeof(cfg)))
			return -EFAULT;
		return eptmmu_enable_dirty_ring(vm, &cfg);
	}
	case EPTMMU_RESET_DIRTY_RINGS:
		if (arg)
			return -EINVAL;
		return eptmmu_reset_dirty_rings(vm);
	case EPTMMU_GET_VM_STATS: {
		struct eptmmu_vm_stats st;

		eptmmu_get_vm_stats(vm, &st);
		return copy_to_user(argp, &st, sizeof(st)) ? -EFAULT : 0;
	}
	case EPTMMU_GET_SPTE: {
		struct eptmmu_spte req;

		if (copy_from_user(&req, argp, sizeof(req)))
			return -EFAULT;
		r = eptmmu_get_spte(vm, &req);
		if (r)
			return r;
		return copy_to_user(argp, &req, sizeof(req)) ? -EFAULT : 0;
	}
	default:
		return -ENOTTY;
	}
}

static const struct file_operations vm_fops = {
	.owner = THIS_MODULE,
	.release = vm_release,
	.unlocked_ioctl = vm_ioctl,
	.llseek = noop_llseek,
};

static long dev_create_vm(unsigned long arg)
{
	struct eptmmu_vm *vm;
	int fd;

	if (arg)
		return -EINVAL;
	if (!current->mm)
		return -EINVAL;
	vm = eptmmu_vm_create(current->mm);
	if (IS_ERR(vm))
		return PTR_ERR(vm);
	/* Ours until the directory exists: another thread may close @fd. */
	eptmmu_vm_get(vm);
	fd = anon_inode_getfd("eptmmu-vm", &vm_fops, vm, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		eptmmu_vm_put(vm);
	else
		eptmmu_audit_add_vm(vm, fd);
	eptmmu_vm_put(vm);
	return fd;
}

static long dev_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	switch (cmd) {
	case EPTMMU_GET_API_VERSION:
		return EPTMMU_API_VERSION;
	case EPTMMU_CREATE_VM:
		return dev_create_vm(arg);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations dev_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = dev_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice eptmmu_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "eptmmu",
	.fops = &dev_fops,
};

int eptmmu_dev_init(void)
{
	return misc_register(&eptmmu_misc);
}

void eptmmu_dev_exit(void)
{
	misc_deregister(&eptmmu_misc);
}
