/* SPDX-License-Identifier: MIT */
#ifndef XARCH_USERNS_H
#define XARCH_USERNS_H

#include <stdbool.h>
#include <stddef.h>

#include "xarch/error.h"

/* Private binfmt_misc inside a new user namespace (kernel >= 6.7). */
struct xarch_userns_opts {
	const char *const *arches; /* NULL-terminated; NULL or empty: all with a qemu */
	const char *qemu_dir;	   /* where qemu-*-static live; NULL: PATH */
	const char *flags;	   /* NULL: "POF" */
	bool credential;	   /* add C to every arch registered */
	bool copy_host;		   /* re-register the host's entries that still work */
};

/* 1 when the kernel lets an unprivileged user namespace mount its own
 * binfmt_misc, 0 when not (reason in err), decided by trying in a child. */
int xarch_userns_binfmt_supported(struct xarch_error *err);

/* Move the calling (single-threaded) process into a new user + mount
 * namespace mapped to root, mount a private binfmt_misc, copy the host
 * entries that matter and register the requested arches.  On return the
 * process is inside; children inherit it. */
int xarch_userns_enter(const struct xarch_userns_opts *o, struct xarch_error *err);

#endif
