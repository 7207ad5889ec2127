/* SPDX-License-Identifier: MIT */
#ifndef XARCH_EXEC_H
#define XARCH_EXEC_H

#include <stdbool.h>
#include <stddef.h>

#include "xarch/arch.h"
#include "xarch/error.h"

/* Find the qemu-user binary for `a` in `qemu_dir` (NULL: PATH), preferring
 * qemu-<arch>-static. */
int xarch_find_qemu(const struct xarch_arch *a, const char *qemu_dir, char *buf, size_t len,
		    struct xarch_error *err);

/* Find a sysroot for `a`: /usr/<triplet>, then /usr/gnemul/qemu-<arch>, then
 * /etc/qemu-binfmt/<arch>.  The error names the package that would add one. */
int xarch_find_sysroot(const struct xarch_arch *a, char *buf, size_t len,
		       struct xarch_error *err);

struct xarch_exec_opts {
	const char *sysroot;	/* NULL: found with xarch_find_sysroot when dynamic */
	const char *qemu_dir;	/* NULL: PATH */
	const char *const *argv; /* program and its arguments */
};

/* Run a foreign binary through qemu-user; stores the wait status. */
int xarch_exec(const struct xarch_exec_opts *o, int *ret_wstatus, struct xarch_error *err);

#endif
