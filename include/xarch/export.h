/* SPDX-License-Identifier: MIT */
#ifndef XARCH_EXPORT_H
#define XARCH_EXPORT_H

/*
 * Writing a rootfs directory out as a tarball or a one-layer container
 * image (lib/export.c).  Destinations use skopeo's syntax:
 *
 *   tar:FILE                    plain, or .gz/.tgz/.xz/.zst/.bz2 by suffix
 *   oci:DIR[:TAG]               an OCI image layout (DIR must not exist)
 *   oci-archive:FILE[:TAG]      a tar of one
 *   docker-archive:FILE[:REPO:TAG]  what `docker load` reads (with the
 *                               OCI layout files, like Docker >= 25)
 *
 * The tree is walked fd-relative, in sorted order, never following a
 * symlink; the tar is pax (restricted) with numeric owners, hard links,
 * xattrs (SCHILY.xattr), device nodes and fifos.  With SOURCE_DATE_EPOCH
 * set, mtimes are clamped to it and every timestamp written is it, so two
 * exports of one tree are byte-identical.  Output is written under a temp
 * name next to the destination and renamed into place: on failure there is
 * no output at all.
 */

#include <stdbool.h>
#include <stdint.h>

#include "xarch/error.h"
#include "xarch/oci.h"

struct xarch_export_opts {
	const char *platform; /* "linux/arm64/v8", "riscv64"...; NULL: from the rootfs */
	bool cross_mounts;    /* descend into other file systems (default: not) */
	/* progress: bytes of file data and entries written so far; may be NULL */
	void (*progress)(void *data, uint64_t bytes, uint64_t entries);
	void *progress_data;
	/* docker://REF destinations: registry credentials ("USER:PASS", NULL:
	 * the docker config file) and plain http */
	const char *creds;
	bool insecure;
	/* images: the image config's "config" object as JSON text (Env, Cmd,
	 * Entrypoint, WorkingDir, User, Labels, ExposedPorts, Volumes,
	 * StopSignal); NULL: Env with the default PATH only */
	const char *config;
	const char *created_by; /* the history entry; NULL: "xarch export" */
	/* images: these uncompressed layer tars, in order (gzipped into the
	 * image, one history entry each), instead of the tree as one layer;
	 * the tree then only gives the platform when none is set */
	const struct xarch_export_layer *layers;
	size_t n_layers;
};

struct xarch_export_layer {
	const char *path;	/* an uncompressed tar (whiteouts as in OCI layers) */
	const char *created_by; /* NULL: the opts' created_by */
};

struct xarch_export_result {
	char format[32];			 /* "tar", "oci", "oci-archive", "docker-archive" */
	char platform[64];			 /* "" for tar: */
	char layer_digest[XARCH_DIGEST_LEN + 1]; /* images: the gzip layer blob */
	char diff_id[XARCH_DIGEST_LEN + 1];	 /* images: its uncompressed tar */
	char config_digest[XARCH_DIGEST_LEN + 1];
	char manifest_digest[XARCH_DIGEST_LEN + 1];
	uint64_t layer_size; /* bytes written for the rootfs (compressed) */
	uint64_t tar_size;   /* its uncompressed size */
	uint64_t entries;    /* tar entries */
	uint64_t skipped;    /* sockets (a tar cannot hold them) */
};

/* Export the tree at `rootfs` to `dest` (see above). */
/* DEST docker://HOST/NAME[:TAG] builds the image as an OCI layout in a
 * temporary directory and pushes it (xarch_registry_push_layout). */
int xarch_export(const char *rootfs, const char *dest, const struct xarch_export_opts *o,
		 struct xarch_export_result *ret, struct xarch_error *err);

/*
 * Diff layers (for `xarch build`'s step cache): a snapshot records every
 * path's inode, mode, owner, size, mtime and ctime; xarch_diff_layer then
 * writes to `fd` an uncompressed tar of what changed since (ctime catches
 * in-place writes, chmod, chown and xattrs), deletions as whiteouts
 * `.wh.NAME`, a directory that replaced another as opaque `.wh..wh..opq`
 * followed by all of its content.  `before` NULL: the whole tree.
 */
struct xarch_snapshot;
int xarch_snapshot_take(const char *rootfs, struct xarch_snapshot **ret, struct xarch_error *err);
void xarch_snapshot_free(struct xarch_snapshot *sn);
int xarch_diff_layer(const char *rootfs, const struct xarch_snapshot *before, int fd,
		     uint64_t *ret_entries, struct xarch_error *err);

#endif
