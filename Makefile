# SPDX-License-Identifier: GPL-2.0
#
#   make                 build eptmmu.ko against KDIR (default: the running kernel)
#   make check           build test kernels, run every suite under QEMU
#   make run             the demo: boot QEMU with the module and run a workload
#   make bench           dirty-logging and fault-path figures under QEMU (scripts/bench.sh)
#   make docs            check Documentation/locking.rst against the code, build the docs
#   make model           check the SPIN model of the lockless protocol (scripts/model.sh)
#   make torture         every agent at once under QEMU, both SPTE modes (scripts/torture.sh):
#                        DURATION= SEED= KERNEL= VMS= BROKEN= SEEDS=
#   make compat          build, DKMS-build and test on Debian 12's kernels (scripts/compat.sh)
#   make W=1 / C=1       extra warnings / sparse, as for any kernel module

KDIR ?= /lib/modules/$(shell uname -r)/build
PWD := $(shell pwd)

all: modules

modules:
	$(MAKE) -C $(KDIR) M=$(PWD) modules

clean:
	$(MAKE) -C $(KDIR) M=$(PWD) clean

check:
	bash scripts/check.sh

docs:
	python3 scripts/check_rules.py

run:
	bash scripts/demo.sh

bench:
	bash scripts/bench.sh

model:
	bash scripts/model.sh

# Empty values fall back to scripts/torture.sh's defaults.
torture:
	DURATION=$(DURATION) SEED=$(SEED) KERNEL=$(KERNEL) VMS=$(VMS) \
		BROKEN=$(BROKEN) SEEDS=$(SEEDS) bash scripts/torture.sh

compat:
	bash scripts/compat.sh

.PHONY: all modules clean check run docs bench model torture compat
