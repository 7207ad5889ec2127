/* SPDX-License-Identifier: MIT */
/* A fast populator for empty ext2/3/4 filesystems (libext2fs), the
 * replacement for `mke2fs -d`. */
#ifndef XARCH_EXT4FILL_H
#define XARCH_EXT4FILL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xarch/error.h"

struct xa_ext4fill_opts {
	/* Paths relative to the root ("home", "boot/efi"): a directory there
	 * is stored empty (with its owner, mode, times and xattrs) and
	 * nothing below it is read.  Non-directories there are copied. */
	const char *const *exclude;
	size_t n_exclude;
	/* Creation time of the new inodes and the superblock's write time,
	 * seconds since the epoch (SOURCE_DATE_EPOCH); 0: the current time. */
	uint64_t now;
	/* The root directory takes the source root's owner, mode and times;
	 * false: it keeps what mke2fs gave it (its -E root_owner, 0755), as
	 * `mke2fs -d` and genimage do. */
	bool root_from_source;
};

/* Copy the tree at `root` into the freshly made, empty ext2/3/4 filesystem
 * that starts at byte `off` of the file `path` (as `mke2fs -d` would).
 * The root directory takes the source root's xattrs (and, with
 * root_from_source, its owner, mode and times); lost+found is kept.  Directory entries are stored
 * sorted by name and inodes/blocks allocated in that order, so the result is reproducible. Returns
 * 0 or -errno; -ENOSPC's message says how much room the tree needs. On failure the filesystem is
 * left half-written: discard the file (or run mke2fs again). */
int xa_ext4fill(const char *path, uint64_t off, const char *root, const struct xa_ext4fill_opts *o,
		struct xarch_error *err);

#endif
