#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# deb-changelog.sh NAME VERSION: prints the debian/changelog of `make deb`. The version lives in VERSION only, so
# the changelog is made from it at build time (a native package: no Debian revision). Its date is that of the
# newest commit when there is a git tree (the same tree gives the same package), else the current time;
# DEBFULLNAME and DEBEMAIL name someone else than the project's maintainer address.
set -eu
name=$1 version=$2
date=$(git log -1 --format=%cD 2> /dev/null || :)
[ -n "$date" ] || date=$(date -R)
cat <<CHANGELOG
$name ($version) unstable; urgency=medium

  * $name $version, the DKMS source of the module, built by \`make deb\`.

 -- ${DEBFULLNAME:-ivshmem-vfio-pci developers} <${DEBEMAIL:-ivshmem-vfio-pci@noreply.invalid}>  $date
CHANGELOG
