/* SPDX-License-Identifier: MIT */
#ifndef XARCH_USERNS_H
#define XARCH_USERNS_H

#include <stdbool.h>
#include <stddef.h>

#include "xarch/binfmt.h"
#include "xarch/error.h"

/* Private binfmt_misc inside a new user namespace (kernel >= 6.7). */
struct xarch_userns_opts {
	const char *const *arches; /* NULL-terminated; NULL or empty: all with a qemu */
	const char *qemu_dir;	   /* where qemu-*-static live; NULL: PATH */
	const char *flags;	   /* NULL: "POF" */
	bool credential;	   /* add C to every arch registered ... */
	const char *credential_only; /* ... or, when set, to these (comma-separated) */
	bool copy_host;		   /* re-register the host's entries that still work */
	bool force;		   /* register even over a copied entry / native arch */
	bool allow_dynamic;	   /* accept a dynamically linked qemu with F */
	bool verify;		   /* run a probe for each registered arch */
};

/* What xarch_userns_enter_report() did: one result per arch tried, and the
 * names of the host entries copied into the private table. */
struct xarch_userns_report {
	size_t n;
	struct xarch_binfmt_result *results;
	size_t n_copied;
	char (*copied)[64];
	size_t n_copy_failed;
};
void xarch_userns_report_release(struct xarch_userns_report *r);

/* Where setting up a private binfmt_misc can fail. */
enum xarch_userns_stage {
	XARCH_USERNS_UNSHARE = 1, /* unshare(CLONE_NEWUSER | CLONE_NEWNS) */
	XARCH_USERNS_MAP,	  /* setgroups / uid_map / gid_map */
	XARCH_USERNS_MOUNT,	  /* mounting binfmt_misc inside */
};

/* Turn a failure at `stage` with `errnum` into the user-facing message and
 * fix; `kernel_release` is uname -r (NULL: this kernel's).  Returns
 * -errnum.  Separate so the explanations can be tested without such a kernel. */
int xarch_userns_explain(enum xarch_userns_stage stage, int errnum, const char *kernel_release,
			 struct xarch_error *err);

/* 1 when the kernel lets an unprivileged user namespace mount its own
 * binfmt_misc, 0 when not (reason in err), decided by trying in a child. */
int xarch_userns_binfmt_supported(struct xarch_error *err);

/* Move the calling (single-threaded) process into a new user + mount
 * namespace mapped to root, mount a private binfmt_misc, copy the host
 * entries that matter and register the requested arches.  On return the
 * process is inside; children inherit it. */
int xarch_userns_enter(const struct xarch_userns_opts *o, struct xarch_error *err);

/* For a process already alone in new user + mount namespaces (clone'd
 * with CLONE_NEWUSER|CLONE_NEWNS, maps written): mount a private
 * binfmt_misc and register qemu for `a` as xarch-<arch> with o->flags
 * (plus C and O with o->credential); o->arches and o->copy_host are
 * ignored.  With F the interpreter is opened now, so call it before
 * pivot_root.  -ENOENT when no qemu is found. */
int xarch_userns_private_binfmt(const struct xarch_arch *a, const struct xarch_userns_opts *o,
				struct xarch_binfmt_result *ret, struct xarch_error *err);

/* The same, reporting per-arch results (`ret` may be NULL). */
int xarch_userns_enter_report(const struct xarch_userns_opts *o, struct xarch_userns_report *ret,
			      struct xarch_error *err);

#endif
