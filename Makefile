# SPDX-License-Identifier: GPL-2.0
# Out-of-tree build of ivshmem-vfio-pci.ko and the test/VM harness entry points.
#
# On a host with kernel headers:  make [KDIR=...]; make install   (then scripts/bind.sh)
# In a QEMU guest built from Debian packages (needs root, see README.md):
#   make check [SUITE=trixie|sid|bookworm] [EXTRA_TESTS=<dir>]   build + boot + run all tests, print the verdict
#   make demo | make bench | make vm-shell | make vm-clean | make harness-selftest | make mutants
# Harness variables (make variables or environment): SUITE IVM_CACHE IVM_SMALL IVM_MISMATCH IVM_BIG IVM_TIMEOUT
# IVM_TEST_TIMEOUT IVM_MEM IVM_KO EXTRA_TESTS V=1 -- see README.md.
KVER ?= $(shell uname -r)
KDIR ?= /lib/modules/$(KVER)/build

all: modules

modules:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean

install: modules
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules_install
	depmod -a $(KVER)

# ---- VM harness (scripts/vm.sh); command-line variables reach the scripts through the environment ----
check:
	@scripts/vm.sh check

demo:
	@scripts/vm.sh demo

vm-shell:
	@scripts/vm.sh shell

# Build the module and tests for the image's kernel, no boot.
vm-build:
	@scripts/vm.sh build

bench:
	@scripts/bench.sh

# Drops the whole cache, or only one suite's images with an explicit SUITE=...
vm-clean:
	@IVM_CLEAN_SUITE=$(if $(filter command line environment,$(origin SUITE)),$(SUITE)) scripts/vm.sh clean

harness-selftest:
	@scripts/harness-selftest.sh

# Mutation testing: every tools/mutants/*.patch (MUTANTS="A B") must make make check fail (scripts/mutants.sh).
mutants:
	@scripts/mutants.sh

.PHONY: all modules clean install check demo vm-shell vm-build bench vm-clean harness-selftest mutants
