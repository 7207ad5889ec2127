/* SPDX-License-Identifier: MIT */
/* Private: what the .bmap and Android sparse writers share (diskout.c). */
#ifndef XARCH_DISKOUT_INT_H
#define XARCH_DISKOUT_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "xarch/error.h"

/*
 * Walk the data of a file in runs of whole blocks: a block is data when any
 * byte of it is inside a SEEK_DATA/SEEK_HOLE data extent.  Runs are
 * block-aligned, except that the last one ends at the end of the file.
 * With bs = 1 the runs are the extents themselves.
 */
struct xa_extents {
	int fd;
	uint64_t size; /* apparent size */
	uint64_t bs;
	uint64_t pos;  /* where the next search starts */
	bool all_data; /* the filesystem cannot tell: everything is data */
};

void xa_extents_init(struct xa_extents *it, int fd, uint64_t size, uint64_t bs);

/* The next run [*ret_start, *ret_end): 1, 0 at the end, or -errno. */
int xa_extents_next(struct xa_extents *it, uint64_t *ret_start, uint64_t *ret_end);

/* 0 for a valid block size (0 becomes the default), else -EINVAL with a message. */
int xa_diskout_block_size(uint32_t *bs, struct xarch_error *err);

/* The image open on fd must be a regular file; its size in *ret_size. */
int xa_diskout_image_size(int fd, uint64_t *ret_size, struct xarch_error *err);

/* A temp file beside `final` (its name in tmp, PATH_MAX bytes): fd or -errno. */
int xa_diskout_open_tmp(const char *final, char *tmp, struct xarch_error *err);

/* fsync, close and rename tmp to final; on failure tmp is removed.  fd is
 * closed either way. */
int xa_diskout_commit(int fd, const char *tmp, const char *final, struct xarch_error *err);

/* Write all of buf at the file position; -errno. */
int xa_write_all(int fd, const void *buf, size_t len);

/* Read up to len bytes at off, fewer only at the end of the file; the count or -errno. */
ssize_t xa_pread_full(int fd, void *buf, size_t len, uint64_t off);

#endif
