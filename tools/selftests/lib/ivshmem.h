/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ivshmem-plain (1af4:1110) specifics on top of vfio_dev/vfio_mig: the
 * register block in BAR0, the shared memory in BAR2 mapped into the test, and
 * whole-device save / restore helpers.
 */
#ifndef VMT_IVSHMEM_H
#define VMT_IVSHMEM_H

#include <stdbool.h>
#include <stdint.h>

#include "ivm_stream.h"
#include "vfio_dev.h"
#include "vfio_mig.h"

#define IVSHMEM_VENDOR		0x1af4
#define IVSHMEM_DEVICE		0x1110
#define IVSHMEM_REG_BAR		VFIO_PCI_BAR0_REGION_INDEX
#define IVSHMEM_MEM_BAR		VFIO_PCI_BAR2_REGION_INDEX
#define IVSHMEM_INTRMASK	0
#define IVSHMEM_INTRSTATUS	4
#define IVSHMEM_IVPOSITION	8
#define IVSHMEM_DOORBELL	12

struct ivsh {
	struct vdev dev;
	volatile uint8_t *mem;	/* BAR2 mapping, NULL if not mapped */
	uint64_t mem_size;
};

void ivsh_init(struct ivsh *s);
/* Opens the device, checks that it is ivshmem and maps BAR2. */
int ivsh_open(struct ivsh *s, const char *bdf);
void ivsh_close(struct ivsh *s);
int ivsh_map(struct ivsh *s);
void ivsh_unmap(struct ivsh *s);

int ivsh_rd(const struct ivsh *s, unsigned int reg, uint32_t *v);
int ivsh_wr(const struct ivsh *s, unsigned int reg, uint32_t v);
/*
 * Sets INTRMASK and INTRSTATUS.  Tests choose status & mask == 0 so that the
 * device never asserts INTx (nobody listens to it under VFIO here).
 */
int ivsh_set_regs(const struct ivsh *s, uint32_t mask, uint32_t status);
/* Reads both; note that reading INTRSTATUS clears it in the device. */
int ivsh_get_regs(const struct ivsh *s, uint32_t *mask, uint32_t *status);

/* Fills / verifies BAR2 (through the mapping) with vmt_pattern(seed). */
void ivsh_fill(struct ivsh *s, uint64_t seed);
/* Returns first bad offset or UINT64_MAX. */
uint64_t ivsh_verify(const struct ivsh *s, uint64_t seed);

/* RUNNING -> STOP_COPY -> read whole stream -> RUNNING. */
int ivsh_save(struct ivsh *s, struct vmt_buf *out, size_t chunk,
	      struct vmt_rng *rng);
/* RUNNING -> RESUMING -> write -> STOP -> RUNNING. */
int ivsh_restore(struct ivsh *s, const void *stream, size_t len, size_t chunk,
		 struct vmt_rng *rng);

/*
 * The STOP_COPY stream length: VFIO_DEVICE_FEATURE_MIG_DATA_SIZE where the
 * kernel has it, else (Linux < 6.3: ENOTTY from the vfio core) the length the
 * stream format gives for this device's BAR2.  Tests that check the feature
 * itself call mig_data_size().
 */
int ivsh_data_size(const struct ivsh *s, uint64_t *len);

/* The driver's debugfs directory (error injection, facts for the tests). */
/*
 * The PCI driver's name (its module's KBUILD_MODNAME), which also names its
 * debugfs directory; IVSHMEM_DRIVER overrides it where a test reads it.
 */
#define IVSH_DRIVER_NAME	"ivshmem_vfio_pci"
#define IVSH_DEBUGFS	"/sys/kernel/debug/" IVSH_DRIVER_NAME
/* Opens IVSH_DEBUGFS/<name>, mounting debugfs first if needed; or -errno. */
int ivsh_debugfs_open(const char *name, int flags);

/*
 * False only if the driver says (<debugfs>/ivshmem_vfio_pci/mmap_freeze: N)
 * that it cannot stop BAR mappings while the device is stopped, as on kernels
 * before 6.12.  Without that file the tests expect the freeze.
 */
/* A boolean of the driver's debugfs directory; @dflt if it cannot be read. */
bool ivsh_debugfs_bool(const char *name, bool dflt);
bool ivsh_mmap_freezes(void);

/*
 * The reference count of the driver's module (IVSHMEM_DRIVER, default
 * IVSH_DRIVER_NAME): every open device and every data file holds one.
 */
int ivsh_module_refs(long *n);

/* Template for ivm_build() describing this device. */
void ivsh_build_params(const struct ivsh *s, struct ivm_build_params *bp);

#endif /* VMT_IVSHMEM_H */
