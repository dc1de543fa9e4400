# SPDX-License-Identifier: GPL-2.0
# Out-of-tree build of ivshmem-vfio-pci.ko and the test/VM harness entry points.
#
# On a host with kernel headers:  make [KDIR=...]; make install   (then scripts/bind.sh)
#   make dkms-install | make dkms-uninstall     the same through DKMS (rebuilt for every new kernel)
#   make deb                                    a Debian package of the DKMS source (build/deb/*.deb)
#   make docs                                   Documentation/*.svg from their .dot (graphviz)
# In a QEMU guest built from Debian packages (needs root, see README.md):
#   make check [SUITE=trixie|sid|bookworm] [EXTRA_TESTS=<dir>]   build + boot + run all tests, print the verdict
#   make demo | make bench | make vm-shell | make vm-clean | make harness-selftest | make lint | make mutants
# Harness variables (make variables or environment): SUITE IVM_CACHE IVM_SMALL IVM_MISMATCH IVM_BIG IVM_TIMEOUT
# IVM_TEST_TIMEOUT IVM_MEM IVM_KO EXTRA_TESTS V=1 -- see README.md.
KVER ?= $(shell uname -r)
KDIR ?= /lib/modules/$(KVER)/build
# updates/ takes precedence over the kernel's own modules in depmod's search order (Debian's default)
INSTALL_MOD_DIR ?= updates

# The project's name (module file, DKMS module, package) and its version, from VERSION only
NAME := ivshmem-vfio-pci
VERSION := $(strip $(shell cat $(CURDIR)/VERSION))
# What DKMS needs to build the module: the source of the DKMS package and of make dkms-install
DKMS_FILES := Kbuild Makefile VERSION LICENSE $(sort $(wildcard drivers/*.c drivers/*.h)) \
	include/uapi/linux/ivshmem_vfio_mig.h
DKMS_SRC = $(DESTDIR)/usr/src/$(NAME)-$(VERSION)
DEB_BUILD := $(CURDIR)/build/deb

all: modules vfio-migctl

modules:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

# the command line tool (tools/vfio-migctl, see its man page vfio-migctl.8)
vfio-migctl:
	$(MAKE) -C tools/vfio-migctl

clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean
	$(MAKE) -C tools/vfio-migctl clean

# The module into /lib/modules/$(KVER)/updates/ (INSTALL_MOD_PATH=<dir> stages it below <dir>), then depmod;
# vfio-migctl and its man page into $(DESTDIR)$(PREFIX) (/usr/local)
install: install-module install-vfio-migctl

install-module: modules
	$(MAKE) -C $(KDIR) M=$(CURDIR) INSTALL_MOD_DIR=$(INSTALL_MOD_DIR) modules_install
	depmod -a $(if $(INSTALL_MOD_PATH),-b $(INSTALL_MOD_PATH)) $(KVER)

install-vfio-migctl:
	$(MAKE) -C tools/vfio-migctl install

version:
	@echo $(VERSION)

print-dkms-files:
	@echo $(DKMS_FILES)

# ---- DKMS and the Debian package -----------------------------------------------------------------------------------
# The DKMS source tree /usr/src/$(NAME)-$(VERSION), dkms.conf with its version filled in
dkms-src:
	rm -rf $(DKMS_SRC)
	install -d $(DKMS_SRC)
	cp --parents $(DKMS_FILES) $(DKMS_SRC)/
	sed 's/#MODULE_VERSION#/$(VERSION)/' dkms.conf > $(DKMS_SRC)/dkms.conf

# add + build + install for $(KVER) (dkms builds it again for every kernel installed later); an older registration
# of the same version is removed first
dkms-install: dkms-src
	@command -v dkms > /dev/null || { echo "dkms is not installed (Debian: apt-get install dkms)" >&2; exit 1; }
	-dkms remove -m $(NAME) -v $(VERSION) --all > /dev/null 2>&1
	dkms add -m $(NAME) -v $(VERSION)
	dkms build -m $(NAME) -v $(VERSION) -k $(KVER)
	dkms install -m $(NAME) -v $(VERSION) -k $(KVER)

dkms-uninstall:
	-dkms remove -m $(NAME) -v $(VERSION) --all
	rm -rf $(DKMS_SRC)

# $(NAME)-dkms_$(VERSION)_all.deb, built with Debian's own tooling (dpkg-buildpackage, debhelper, dh-dkms) in a copy
# of the DKMS source under build/deb/; debian/changelog is made there from VERSION
deb:
	@for t in dpkg-buildpackage dh dh_dkms; do command -v $$t > /dev/null || { \
		echo "make deb needs $$t (Debian: apt-get install dpkg-dev debhelper dh-dkms)" >&2; exit 1; }; done
	rm -rf $(DEB_BUILD)
	install -d $(DEB_BUILD)/$(NAME)-$(VERSION)
	cp -a --parents $(DKMS_FILES) dkms.conf debian $(DEB_BUILD)/$(NAME)-$(VERSION)/
	scripts/deb-changelog.sh $(NAME) $(VERSION) > $(DEB_BUILD)/$(NAME)-$(VERSION)/debian/changelog
	cd $(DEB_BUILD)/$(NAME)-$(VERSION) && dpkg-buildpackage --build=binary --no-sign
	@ls $(DEB_BUILD)/*.deb

# ---- Documentation: graphviz pictures (Documentation/*.dot -> .svg, committed with their source) ------------------------
# dot comes from Debian's graphviz (scripts/host-deps.sh docs installs it, as root); tools/unit/states_picture_test
# checks in make check that migration-states.dot has ivm_step()'s arcs and that the SVG was rendered from it
DOCS_SVG := $(patsubst %.dot,%.svg,$(wildcard Documentation/*.dot))

docs: $(DOCS_SVG)

Documentation/%.svg: Documentation/%.dot
	@command -v dot > /dev/null || scripts/host-deps.sh docs
	dot -Tsvg $< -o $@

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

# checkpatch --strict, kernel-doc -Wall, sparse (C=2) and W=1 on the driver, for the kernels of LINT_SUITES
# ("trixie sid"), in a chroot of each suite's image (scripts/lint.sh; needs root, like make check)
lint:
	@scripts/lint.sh

# Mutation testing: every tools/mutants/*.patch (MUTANTS="A B") must make make check fail (scripts/mutants.sh).
mutants:
	@scripts/mutants.sh

.PHONY: all docs modules vfio-migctl clean install install-module install-vfio-migctl version print-dkms-files dkms-src dkms-install dkms-uninstall deb check demo vm-shell vm-build bench vm-clean harness-selftest lint mutants
