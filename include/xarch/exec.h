/* SPDX-License-Identifier: MIT */
#ifndef XARCH_EXEC_H
#define XARCH_EXEC_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "xarch/arch.h"
#include "xarch/error.h"

/* Find the qemu-user binary for `a` in `qemu_dir` (NULL: PATH), preferring
 * qemu-<arch>-static.  The error names the package that provides it. */
int xarch_find_qemu(const struct xarch_arch *a, const char *qemu_dir, char *buf, size_t len,
		    struct xarch_error *err);

/* A sysroot and how the program's interpreter is reached in it. */
struct xarch_sysroot {
	char dir[PATH_MAX];
	/* "" when DIR + PT_INTERP exists (qemu -L finds it by itself).  When
	 * only the prefix-style DIR/lib/<basename of PT_INTERP> exists (a
	 * cross toolchain's /usr/<triplet> for a /lib64 interpreter), its
	 * host path: the loader is then run explicitly. */
	char loader[PATH_MAX];
};

/* Find a sysroot for `a` holding `interp` (NULL: any existing candidate):
 * $QEMU_LD_PREFIX, /usr/<triplet> (for arm also the soft-float
 * arm-linux-gnueabi), /usr/gnemul/qemu-<arch>, /etc/qemu-binfmt/<arch>.
 * -ENOENT with a message naming what is missing, where it was looked for
 * and the package that would add it. */
int xarch_find_sysroot(const struct xarch_arch *a, const char *interp, struct xarch_sysroot *ret,
		       struct xarch_error *err);

/* Check that `dir` is a directory holding `interp` (may be NULL). */
int xarch_check_sysroot(const char *dir, const struct xarch_arch *a, const char *interp,
			struct xarch_sysroot *ret, struct xarch_error *err);

/* The Debian package with the C library for `a` in /usr/<triplet>
 * ("libc6-riscv64-cross"), chosen by `interp` for arm soft/hard float;
 * NULL when Debian has none. */
const char *xarch_sysroot_package(const struct xarch_arch *a, const char *interp, char *buf,
				  size_t len);

struct xarch_exec_opts {
	const char *sysroot;	 /* NULL: found with xarch_find_sysroot when dynamic */
	const char *qemu_dir;	 /* NULL: PATH */
	const char *arch;	 /* NULL: from the ELF header; else any name of a row */
	const char *const *argv; /* program and its arguments */
};

/* What xarch_exec() would run, decided without running anything. */
struct xarch_exec_plan {
	const struct xarch_arch *arch;
	bool native;		      /* the host runs it: no qemu */
	bool is_static;		      /* no PT_INTERP */
	bool sysroot_auto;	      /* sysroot was found, not given */
	char prog[PATH_MAX];	      /* argv[0] resolved (PATH-searched when it has no '/') */
	char qemu[PATH_MAX];	      /* "" when native */
	char interp[PATH_MAX];	      /* PT_INTERP, "" when static */
	struct xarch_sysroot sysroot; /* dir "" when none is used */
	const char **argv;	      /* the command; NULL-terminated, points into this struct
				       * and the caller's argv; the struct must not be moved */
};

/* Fill `ret` (in place; release it with xarch_exec_plan_release). */
int xarch_exec_plan(const struct xarch_exec_opts *o, struct xarch_exec_plan *ret,
		    struct xarch_error *err);
void xarch_exec_plan_release(struct xarch_exec_plan *p);

/* Run a foreign binary through qemu-user (or natively when the host runs
 * it); stores the wait status.  Signals are forwarded while it runs. */
int xarch_exec(const struct xarch_exec_opts *o, int *ret_wstatus, struct xarch_error *err);

#endif
