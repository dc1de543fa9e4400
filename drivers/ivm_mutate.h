/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ivshmem-vfio-pci: deliberate bugs for mutation testing of the selftests.
 *
 * A build with IVM_MUTATE=<NAME> (make variable or environment) defines
 * IVM_MUTATE_<NAME> and breaks the driver in exactly one way, so that
 * scripts/mutation-test.sh can show that the test suite catches it.  Normal
 * builds define none of them and every IVM_MUTATED() is a constant false.
 *
 * GET_STATE      GET reports STOP while the device is in STOP_COPY
 * RESET_KEEPS_FD a reset leaves the data files usable
 * SESSION_FD     leaving STOP_COPY leaves the save file usable
 * SKIP_CRC       the resume stream's CRC is not checked
 * ACCEPT_SHORT   RESUMING -> STOP accepts a truncated stream
 * DROP_REGS      restoring does not load the registers
 * NO_FREEZE      STOP does not keep the user away from the BARs
 * CLOBBER_STATUS saving does not restore INTRSTATUS after reading it
 * DATA_SIZE      MIG_DATA_SIZE is off by one page
 * SEEKABLE       data files are not stream files (pread/lseek work)
 * LOG_RESTART    a second DMA_LOGGING_START without STOP succeeds
 */
#ifndef IVM_MUTATE_H
#define IVM_MUTATE_H

#ifdef __KERNEL__
#include <linux/kconfig.h>
#define IVM_MUTATED(name)	IS_ENABLED(IVM_MUTATE_##name)
#else
/* Userspace builds of the codec are never mutated. */
#define IVM_MUTATED(name)	(sizeof(#name) == 0)
#endif

#endif /* IVM_MUTATE_H */
