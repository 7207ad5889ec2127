/* SPDX-License-Identifier: MIT */
#ifndef XARCH_ROOTFS_H
#define XARCH_ROOTFS_H

/*
 * Paths inside a root filesystem, resolved inside it.  Every function takes
 * an O_PATH|O_DIRECTORY fd of the root; absolute symlinks and ".." are
 * resolved relative to that root (openat2 RESOLVE_IN_ROOT, or an
 * equivalent component walk on kernels without it), so a rootfs can never
 * make xarch open, create or mount on a host path.
 */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "xarch/arch.h"
#include "xarch/error.h"

/* Open the root directory itself (O_PATH|O_DIRECTORY|O_CLOEXEC); the error
 * names a missing path or a non-directory. */
int xarch_root_open_dir(const char *rootfs, struct xarch_error *err);

/* openat(2)-style open of `path` inside the root.  `flags` as for openat
 * (O_PATH, O_RDONLY, O_CREAT...); symlinks in every component, including
 * the last unless O_NOFOLLOW, stay inside the root.  Returns an fd. */
int xarch_root_open(int rootfd, const char *path, int flags, mode_t mode,
		    struct xarch_error *err);

/* xarch_root_open() always by the component walk (what it falls back to
 * without openat2; XARCH_NO_OPENAT2=1 in the environment forces it too). */
int xarch_root_open_walk(int rootfd, const char *path, int flags, mode_t mode,
			 struct xarch_error *err);

/* mkdir -p inside the root; returns an O_PATH fd of the final directory.
 * A non-directory in the way is an error (-ENOTDIR). */
int xarch_root_mkdir_p(int rootfd, const char *path, mode_t mode, struct xarch_error *err);

/* A mount point for a file bind mount: the existing file, or a new empty
 * one (parents created).  Returns an O_PATH fd; a directory in the way is
 * -EISDIR. */
int xarch_root_mkfile(int rootfd, const char *path, mode_t mode, struct xarch_error *err);

/* The path a mount(2) call can use for an O_PATH fd: "/proc/self/fd/N". */
const char *xarch_fd_path(int fd, char *buf, size_t len);

/* A user as the rootfs's /etc/passwd and /etc/group define it. */
struct xarch_user {
	uid_t uid;
	gid_t gid;
	size_t n_groups;	/* supplementary groups from /etc/group */
	gid_t groups[64];
	char name[64];		/* "" for a numeric id not in passwd */
	char home[256];		/* "/" when unknown */
	char shell[256];	/* "" when unknown */
};

/* Resolve "-u" specs: "name", "uid", "name:group", "uid:gid", "name:gid"
 * against the rootfs's /etc/passwd and /etc/group (read inside the root).
 * A numeric uid need not exist; an unknown name is an error. */
int xarch_root_user(int rootfd, const char *spec, struct xarch_user *ret,
		    struct xarch_error *err);

/* A host user from the host's /etc/passwd and /etc/group (files only, no
 * NSS: xarch links statically): by `name`, or by `uid` when name is NULL. */
int xarch_host_user(const char *name, uid_t uid, struct xarch_user *ret,
		    struct xarch_error *err);

/* The arch of the rootfs, from the ELF header of `prog` (NULL: /bin/sh,
 * then /usr/bin/env, /sbin/init), read inside the root.  -ENOENT when no
 * such program, -ENOEXEC when it is not an ELF (e.g. a script). */
int xarch_root_arch(int rootfd, const char *prog, const struct xarch_arch **ret,
		    struct xarch_error *err);

/* Parse a docker-style env file (KEY=VALUE lines, "#" comments, blank
 * lines, "KEY" alone takes the value from the current environment).
 * Appends malloc'ed "KEY=VALUE" strings to *envv (NULL-terminated,
 * realloc'ed); the error names file and line. */
int xarch_env_file(const char *path, char ***envv, size_t *n, struct xarch_error *err);

#endif
