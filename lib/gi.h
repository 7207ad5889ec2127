/* SPDX-License-Identifier: MIT */
/*
 * Inside xarch genimage (lib/genimage*.c): the state of one run and what the
 * image types share.  The driver is lib/genimage.c; each image type builds its
 * content with gi_build_at(), either into its own file (offset 0) or straight
 * into a disk file at a partition's offset.
 */
#ifndef XARCH_GI_H
#define XARCH_GI_H

#include <stdbool.h>
#include <stdint.h>

#include "xarch/genimage.h"

#define GI_SECTOR 512ull

struct gi {
	const struct xarch_gcfg *cfg;
	const struct xarch_genimage_opts *o;
	const char *root, *input, *output, *tmp;
	char fake_time[64];
	bool epoch;
	const char *epoch_s; /* SOURCE_DATE_EPOCH as set */
	unsigned jobs;	     /* parallel build jobs */
	int64_t epoch_sec;   /* SOURCE_DATE_EPOCH when epoch */
	/* KEY=VALUE for the tools of one image (override ours and the caller's) */
	const char *env_extra[3];
	struct xarch_error *err;
};

#define GI_ERR(g, img, code, fmt, ...)                                                             \
	xarch_err((g)->err, code, "%s:%d: image '%s': " fmt, (img)->file, (img)->line,             \
		  (img)->name, ##__VA_ARGS__)

/* Run a tool; on failure the error names the image and ends with the tool's
 * last line of output. */
int gi_run(struct gi *g, const char *const argv[], const struct xarch_gimage *img);
/* Append the label (under label_flag), extraargs, disk and size, then run.
 * argv has room for 96 entries. */
int gi_mkfs_run(struct gi *g, const struct xarch_gimage *img, const char **argv, size_t n,
		const char *label_flag, const char *disk, const char *sz);

/* Where an image's (or an input file's) bytes are read from. */
const char *gi_src_path(const struct gi *g, const char *name, char *buf, size_t len);
/* The image is a filesystem used by exactly one hdimage partition: it is
 * made in place in the disk and has no file of its own. */
bool gi_is_inline(const struct gi *g, const struct xarch_gimage *img);
/* Where img's own file goes: tmppath for `temporary = true`, else outputpath. */
const char *gi_image_dir(const struct gi *g, const struct xarch_gimage *img);

/*
 * The image types (genimage's image-*.c handlers), looked up by name.
 * `build` makes an image's content in the file `path` (open as fd) at byte
 * offset off (0 unless GI_INPLACE); `generate` makes the whole output file
 * itself (hdimage).  A type with neither (file) generates nothing.
 */
enum {
	GI_INPLACE = 1 << 0,   /* fixed size: can be made at an offset inside a disk */
	GI_DISK = 1 << 1,      /* made of other images: after the filesystems */
	GI_AFTER_DISK = 1 << 2 /* made from disks (qemu): after the hdimages */
};
struct gi_type {
	const char *name;
	int (*build)(struct gi *g, const struct xarch_gimage *img, const char *path, int fd,
		     uint64_t off);
	int (*generate)(struct gi *g, const struct xarch_gimage *img);
	unsigned flags;
};
const struct gi_type *gi_type_find(const char *name);

/* Make img's content in the file `path` (open as fd) at byte offset off;
 * the file is already at least off + img->size long when img->size is set. */
int gi_build_at(struct gi *g, const struct xarch_gimage *img, const char *path, int fd,
		uint64_t off);

/* Run img's exec-pre, gen(g, img), then its exec-post, with genimage's
 * environment (IMAGE, IMAGEOUTFILE, ROOTPATH, ...).  When exec-post fails
 * the image's output is removed. */
int gi_with_hooks(struct gi *g, const struct xarch_gimage *img,
		  int (*gen)(struct gi *g, const struct xarch_gimage *img));

/*
 * Where an image's files come from: `dir` is srcpath, or rootpath/mountpoint
 * resolved inside rootpath (empty when the image is `empty`); `excl` are the
 * mountpoints of other images below it, relative to dir, without leading or
 * trailing '/'.  They are left out of the image but kept as empty
 * directories (genimage's mountpoint split, without copying the rootfs).
 */
struct gi_src {
	char dir[4096];
	char **excl;
	size_t n_excl;
};
int gi_source(struct gi *g, const struct xarch_gimage *img, struct gi_src *ret);
void gi_source_release(struct gi_src *s);
/* Is rel (relative to the source dir) excluded, or does an exclusion lie below it? */
bool gi_src_excluded(const struct gi_src *s, const char *rel);
bool gi_src_has_excl_below(const struct gi_src *s, const char *rel);

/* tar and cpio, written with libarchive (lib/genimage-archive.c) */
int gi_build_tar(struct gi *g, const struct xarch_gimage *img, const char *path, int fd,
		 uint64_t off);
int gi_build_cpio(struct gi *g, const struct xarch_gimage *img, const char *path, int fd,
		  uint64_t off);
/* Copy src into fd at off (at most max bytes), zero blocks left as holes. */
int gi_copy_at(struct gi *g, int fd, const char *src, uint64_t off, uint64_t max);

/* A temp file beside `final` (its name in tmp, PATH_MAX), then fsync+rename. */
int gi_open_tmp(struct gi *g, const char *final, char *tmp);
int gi_finish(struct gi *g, int fd, const char *tmp, const char *final);

/* A GUID in on-disk (mixed-endian) order: random, or with SOURCE_DATE_EPOCH
 * derived from it and the names a, b (an image and a partition, say), so
 * the same inputs give the same disk. */
void gi_guid(const struct gi *g, const char *a, const char *b, uint8_t out[16]);

/* debugfs's time formats: @SECONDS or YYYYMMDD[HHMM[SS]] (UTC). */
int gi_timestamp_parse(const char *s, uint64_t *ret);

/* Run fn(g, i, data) for i in [0, n), in up to g->jobs child processes
 * (each fn runs with g->jobs = 1 and its own error).  All are waited for; the
 * failure with the lowest i is returned with its message. */
#define GI_JOBS_MAX 32
int gi_parallel(struct gi *g, size_t n, int (*fn)(struct gi *, size_t, void *), void *data);

/* hdimage (lib/genimage-hd.c) */
int gi_gen_hd(struct gi *g, const struct xarch_gimage *img);

#endif
