/* SPDX-License-Identifier: MIT */
/*
 * Outputs beside a sparse disk image file: bmaptool's block map (.bmap) and
 * Android's sparse image format (what fastboot and simg2img read), plus the
 * size figures a summary wants.
 *
 * All three read the image through its fd only and find the data with
 * SEEK_DATA/SEEK_HOLE, so a hole is never read.  The writers stream (memory
 * does not grow with the image), write OUT_PATH under a temp name in the same
 * directory and rename it into place; on failure nothing is left behind.
 * The fd must be readable; its file offset is restored on return.
 */
#ifndef XARCH_DISKOUT_H
#define XARCH_DISKOUT_H

#include <stdint.h>

#include "xarch/error.h"

#define XARCH_DISKOUT_BLOCK_SIZE 4096

struct xarch_diskout_stats {
	uint64_t size;	    /* apparent size of the image, bytes */
	uint64_t mapped;    /* bytes inside data extents (holes excluded) */
	uint64_t allocated; /* bytes the filesystem allocated (st_blocks * 512) */
	uint64_t out_size;  /* bytes of the .bmap / sparse file written; 0 for stats */
};

/* The figures for a regular file: 0 or -errno. */
int xarch_diskout_stats(int fd, struct xarch_diskout_stats *ret, struct xarch_error *err);

/*
 * Write bmaptool's block map, format 2.0, for the image open on fd:
 * every block that holds any data byte is mapped, each run of mapped blocks
 * carries the SHA-256 of its bytes (cut at the end of the image when the
 * last block is partial), and BmapFileChecksum is the SHA-256 of the file
 * taken with that field as 64 '0's.  `bmaptool copy --bmap OUT IMAGE DEV`
 * then writes only the mapped blocks and verifies them.  An empty image is
 * refused (-EINVAL): bmaptool cannot use a map of no blocks.
 * block_size: 0 means XARCH_DISKOUT_BLOCK_SIZE, else a power of two from 512
 * to 1 MiB.
 * ret_st (optional) gets the figures; there `mapped` counts whole mapped
 * blocks (the last one cut at the end of the image).
 */
int xarch_bmap_write(int fd, const char *out_path, uint32_t block_size,
		     struct xarch_diskout_stats *ret_st, struct xarch_error *err);

/*
 * Write the image as an Android sparse image (libsparse format 1.0):
 * holes become DONT_CARE chunks, data blocks that repeat one 32-bit value
 * (zeros included) FILL chunks, everything else RAW chunks; no CRC32.
 * An image whose size is not a multiple of the block size is padded with
 * zeros to the next block, as img2simg does, so the expanded image is up to
 * one block longer than the input.
 * DONT_CARE means "leave what is there": fastboot flashing a partition that
 * was not erased keeps old data in the holes.  When the holes must read as
 * zeros, pass XARCH_SIMG_ZERO_HOLES: they become FILL chunks of zeros (same
 * size on disk, slower to flash; what img2simg does with holes).  The
 * header's image checksum is 0 and there is no CRC32 chunk (both optional).
 * block_size: as for xarch_bmap_write(); the image may hold at most 2^32 - 1
 * blocks.
 * ret_st (optional) gets the figures; there `mapped` counts whole mapped
 * blocks (the last one cut at the end of the image).
 */
#define XARCH_SIMG_ZERO_HOLES (1u << 0)

int xarch_simg_write(int fd, const char *out_path, uint32_t block_size, unsigned flags,
		     struct xarch_diskout_stats *ret_st, struct xarch_error *err);

#endif
