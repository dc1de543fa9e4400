# SPDX-License-Identifier: GPL-2.0
# Out-of-tree build of ivshmem-vfio-pci.ko and the test/VM harness entry points.
KDIR ?= /lib/modules/$(shell uname -r)/build

all: modules

modules:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean

.PHONY: all modules clean
