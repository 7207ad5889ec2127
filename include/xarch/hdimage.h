/* SPDX-License-Identifier: MIT */
/*
 * The layout of a genimage `hdimage`: where each partition goes, how big it
 * is, what the partition table says and how long the output file is, worked
 * out from the config alone (and the sizes of the partitions' images).
 * lib/genimage-hd.c writes what this computes.
 *
 * Rules (genimage's README and genimage 16's behaviour):
 *  - partition-table-type mbr (default), gpt, hybrid or none; the old
 *    `gpt = true` and `partition-table = false` still work.
 *  - align: 512 by default (1 with no table); a partition in the table is
 *    aligned to its own `align` or the disk's, which must divide it; other
 *    partitions to their `align` or 1 (with no table: the disk's).
 *  - a partition in the table without an offset goes after everything placed
 *    so far (the MBR sector, or the GPT entry array), rounded up to its
 *    align; raw partitions (in-partition-table = false) need an offset.
 *  - size: autoresize fills the disk up to the backup GPT, rounded down to
 *    align, and `size` is then a minimum; else `size`; else the image's size
 *    rounded up to align (in the table) or as is.
 *  - MBR with more than 4 entries: partitions from number
 *    `extended-partition` (default 4) on are logical, each after an EBR one
 *    `align` before it; `forced-primary` keeps a partition after the extended
 *    one primary (newer genimage; genimage 16 does not know the option).
 *  - the disk's size: `size`, else the end of the last partition (GPT: plus
 *    the backup, rounded up to 4 KiB).  The file is that long with a backup
 *    GPT or `fill`; otherwise it ends where the last data written ends, as
 *    genimage's does.
 */
#ifndef XARCH_HDIMAGE_H
#define XARCH_HDIMAGE_H

#include <stdint.h>

#include "xarch/error.h"
#include "xarch/gcfg.h"
#include "xarch/ptable.h"

#define XARCH_HD_MAX_HOLES 256

struct xarch_hd_source {
	const char *image; /* the partition's image (a config image or an input file); NULL: none */
	uint64_t size;	   /* its size in bytes */
};

struct xarch_hd_layout {
	struct xarch_ptable t; /* t.parts[i] is the config's partition i */
	struct xarch_hd_source src[XARCH_PT_MAX_PARTS];
	uint64_t file_size;			     /* how long the output file is */
	struct xarch_hole holes[XARCH_HD_MAX_HOLES]; /* what t.parts[].holes point into */
	size_t n_holes;
};

/* The size of a partition's image (by the name the partition uses). */
typedef int (*xarch_hd_size_fn)(void *data, const char *image, uint64_t *ret_size,
				struct xarch_error *err);

/*
 * Work out img's layout into *ret (caller-allocated; holes point into it, so
 * do not copy it).  Unset UUIDs and disk-signature = "random" are drawn from
 * getrandom().  Errors read "FILE:LINE: partition 'x' ..." with the line of
 * the partition (or of the image).
 */
int xarch_hd_layout(const struct xarch_gcfg *cfg, const struct xarch_gimage *img,
		    xarch_hd_size_fn size_of, void *data, struct xarch_hd_layout *ret,
		    struct xarch_error *err);

/* "(440; 33K)" -> [440, 33792).  0 or -EINVAL. */
int xarch_hd_hole_parse(const char *s, struct xarch_hole *ret);

#endif
