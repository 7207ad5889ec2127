/* SPDX-License-Identifier: MIT */
#ifndef XARCH_GCFG_H
#define XARCH_GCFG_H

/*
 * genimage.cfg files read with libconfuse into a plain C model; nothing is
 * generated here.  Option names follow genimage's documentation.
 *
 * Strings: libconfuse expands ${VAR} (and ${VAR:-default}) from the
 * environment in unquoted and "double-quoted" values, not in 'single-quoted'
 * ones, which is what genimage relies on.  include("x.cfg") is searched in
 * the includepath (colon-separated); libconfuse limits nesting, so an include
 * loop is an error.  Differences from genimage: a partition whose image is not
 * an image of the config is an error unless in-partition-table = false (a raw
 * blob written as is); only the image types named below are known.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xarch/error.h"

#define XARCH_GCFG_NAME_MAX 256
#define XARCH_GCFG_PATH_MAX 1024
#define XARCH_GCFG_EXEC_MAX 4096

/* A type option as written; list options (files, holes) repeat the key. */
struct xarch_gcfg_opt {
	char *key;
	char *value;
};

/* vfat's `file NAME { image = "SRC" }`: SRC stored in the image as NAME. */
struct xarch_gcfg_file {
	char *name;
	char *image;
};

struct xarch_gpart {
	char name[XARCH_GCFG_NAME_MAX];
	uint64_t offset, size, align; /* 0: computed by genimage */
	char image[XARCH_GCFG_NAME_MAX];
	int partition_type;	      /* MBR type byte, -1 when unset */
	char partition_type_uuid[64]; /* as written: a GUID or a shortcut (L, U, ...) */
	char partition_uuid[64];
	bool bootable, in_partition_table, autoresize, forced_primary, hidden, read_only,
	    no_automount, fill, sparse;
	char **holes; /* "(start;end)" as written */
	size_t n_holes;
	int line; /* where the partition section starts */
};

struct xarch_gimage {
	char name[XARCH_GCFG_NAME_MAX];	  /* the section title: the output file */
	char fsname[XARCH_GCFG_NAME_MAX]; /* the `name =` option */
	char type[32];	       /* hdimage vfat ext2 ext3 ext4 file tar cpio squashfs erofs qemu */
	uint64_t size;	       /* 0 when unset */
	unsigned size_percent; /* "200%": size relative to the content, 0 when unset */
	char mountpoint[XARCH_GCFG_PATH_MAX];
	char srcpath[XARCH_GCFG_PATH_MAX];
	char flashtype[XARCH_GCFG_NAME_MAX];
	bool empty, temporary;
	char exec_pre[XARCH_GCFG_EXEC_MAX], exec_post[XARCH_GCFG_EXEC_MAX];
	struct xarch_gcfg_opt *opts; /* the type section's options that were set */
	size_t n_opts;
	struct xarch_gcfg_file *files;
	size_t n_files;
	struct xarch_gpart *parts;
	size_t n_parts;
	char file[XARCH_GCFG_PATH_MAX]; /* where the image section is */
	int line;
};

struct xarch_gcfg {
	struct xarch_gimage *images;
	size_t n_images;
	/* the config {} section; empty when unset */
	char outputpath[XARCH_GCFG_PATH_MAX], inputpath[XARCH_GCFG_PATH_MAX],
	    rootpath[XARCH_GCFG_PATH_MAX], tmppath[XARCH_GCFG_PATH_MAX],
	    includepath[XARCH_GCFG_PATH_MAX];
};

/*
 * Parse a file.  includepath (colon-separated, may be NULL) is where
 * include() looks; when NULL the config's `includepath` is not known yet, so
 * the directory of path is searched.  Errors read "FILE:LINE: ...".
 */
int xarch_gcfg_parse_file(const char *path, const char *includepath, struct xarch_gcfg *ret,
			  struct xarch_error *err);
/* Parse len bytes (no NUL needed).  include() is refused unless includepath is set. */
int xarch_gcfg_parse_buf(const char *buf, size_t len, const char *includepath,
			 struct xarch_gcfg *ret, struct xarch_error *err);
void xarch_gcfg_release(struct xarch_gcfg *c);

/* genimage sizes: bytes, k/K/M/G/T (1024-based, optional B or iB), s (512). */
int xarch_gcfg_size_parse(const char *s, uint64_t *ret);

const struct xarch_gimage *xarch_gcfg_image(const struct xarch_gcfg *c, const char *name);
/* The first value of a type option, NULL when unset. */
const char *xarch_gimage_opt(const struct xarch_gimage *img, const char *key);

#endif
