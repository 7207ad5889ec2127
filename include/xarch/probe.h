/* SPDX-License-Identifier: MIT */
#ifndef XARCH_PROBE_H
#define XARCH_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xarch/arch.h"
#include "xarch/error.h"

/*
 * Probes are tiny static ELF programs, generated in memory, whose only
 * work is exit(argc).  Running one tells whether the kernel (natively or
 * through binfmt_misc) can execute an arch, and whether the P flag handed
 * the emulator the right argv.
 */

/* Is there probe code for this arch? */
bool xarch_probe_available(const struct xarch_arch *a);

/* Write the probe into buf; returns its size or -ENOTSUP / -ENOSPC. */
int xarch_probe_build(const struct xarch_arch *a, uint8_t *buf, size_t len);

/* Run the probe from a memfd with `extra_args` extra arguments; returns
 * its exit status (argc = 1 + extra_args when all went well), or -errno:
 * -ENOEXEC when nothing can execute it. */
int xarch_probe_run(const struct xarch_arch *a, int extra_args, struct xarch_error *err);

/* Does the host CPU+kernel run `a` without emulation?  Decided by trying,
 * in a way binfmt_misc entries cannot fake (an empty private binfmt_misc
 * when possible).  1 yes, 0 no, -errno when it could not be decided. */
int xarch_arch_runs_natively(const struct xarch_arch *a);

#endif
