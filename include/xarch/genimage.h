/* SPDX-License-Identifier: MIT */
#ifndef XARCH_GENIMAGE_H
#define XARCH_GENIMAGE_H

/*
 * Generate the images of a genimage.cfg (see gcfg.h): hdimage (gpt, mbr,
 * hybrid, none), vfat, ext2/3/4, file, tar and cpio (written in-process with
 * libarchive), squashfs (mksquashfs), erofs (mkfs.erofs) and qemu (qemu-img
 * convert of the hdimages).  `mountpoint` splits the rootfs between images
 * without copying it: the image without one gets the rootpath less the other
 * images' mountpoints, which stay as empty directories.  exec-pre/exec-post
 * run with /bin/sh -c and genimage's variables (IMAGE, IMAGEOUTFILE, ...).  A filesystem image used only as a
 * partition of one hdimage is made in place: the disk is extended sparsely
 * and mke2fs / mkfs.vfat / mcopy write straight at the partition's offset, so
 * no intermediate image is written or copied.  Outputs are written under a
 * temp name in outputpath and renamed; on error nothing is left.
 *
 * SOURCE_DATE_EPOCH: exported to mke2fs as E2FSPROGS_FAKE_TIME; mkfs.vfat
 * gets --invariant when it is set.  mcopy keeps the sources' mtimes (-p -m).
 * tar/cpio clamp mtimes to it; mksquashfs and mkfs.erofs read it themselves
 * (erofs also gets a UUID derived from the image name and the time).
 */
#include <stdint.h>

#include "xarch/error.h"
#include "xarch/gcfg.h"

/* One written image file. */
struct xarch_genimage_result {
	const char *name, *type, *path;
	uint64_t apparent, allocated; /* size, and bytes allocated on disk */
	uint64_t mapped;	      /* bytes in data extents (what a flasher writes) */
	double seconds;		      /* wall time of the build step it was part of */
};

struct xarch_genimage_opts {
	const char *rootpath, *inputpath, *outputpath, *tmppath; /* NULL: config, then default */
	unsigned jobs; /* images built at once; 0: one per CPU */
	/* beside each hdimage: NAME.bmap (bmaptool), NAME.simg (Android sparse),
	 * NAME.qcow2 (qemu-img) */
	bool bmap, android_sparse, qcow2;
	/* progress: an image's build starts; it was written */
	void (*start)(void *data, const struct xarch_gimage *img);
	void (*done)(void *data, const struct xarch_genimage_result *res);
	void *data;
};

int xarch_genimage(const struct xarch_gcfg *cfg, const struct xarch_genimage_opts *o,
		   struct xarch_error *err);

#endif
