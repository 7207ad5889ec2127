/* SPDX-License-Identifier: MIT */
#ifndef XARCH_IMAGE_H
#define XARCH_IMAGE_H

/*
 * Container images: applying OCI layers to a rootfs directory (layer.c)
 * and reading image formats and transports (oci.c).  See the OCI
 * image-spec, layer.md, for the changeset semantics.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xarch/error.h"

/* ---- layers (lib/layer.c) ------------------------------------------------ */

/* What was left out on purpose (filled when opts->stats is not NULL,
 * added to across layers; zero it first). */
struct xarch_layer_stats {
	uint64_t entries;	  /* tar entries read */
	uint64_t whiteouts;	  /* .wh.NAME and opaque markers applied */
	uint64_t skipped_devices; /* device nodes skipped: not privileged */
	uint64_t skipped_xattrs;  /* not user.* unprivileged, or the fs refused */
	uint64_t skipped_other;	  /* sockets, reserved .wh..wh.* names */
};

struct xarch_layer_opts {
	bool privileged;	/* create device nodes, set any owner (root, not userns) */
	bool keep_owner;	/* chown entries to the ids in the tar (default when root) */
	bool plain_tar;		/* a rootfs tarball, not a layer: .wh. names are files */
	void (*progress)(void *data, uint64_t done, uint64_t total); /* may be NULL */
	void *progress_data;
	struct xarch_layer_stats *stats; /* may be NULL */
	/* xarch_layer_apply_fd: "sha256:<hex>" the uncompressed stream must
	 * hash to (checked while applying, in the same pass for gzip and plain
	 * tar; zstd, xz and bzip2 layers are hashed in a second read), NULL
	 * for none.
	 * xarch_layers_unpack: diff_ids[i] for layers[i], NULL for none. */
	const char *diff_id;
	const char *const *diff_ids;
};

/* Apply one layer (a tar, optionally gzip/xz/zstd/bzip2-compressed, read
 * from `fd`) on top of the tree at `rootfd`: whiteouts (.wh.NAME) delete
 * lower entries, opaque whiteouts (.wh..wh..opq) hide all lower children of
 * their directory, a non-directory replaces a directory and vice versa,
 * hard links, symlinks, xattrs (SCHILY.xattr), owner before mode (setuid
 * survives), directory mtimes after their children.  Every path is resolved
 * inside the root: `..`, absolute names, and links or symlinks that point
 * outside never create, modify or delete anything outside it.  The error
 * names the entry. */
int xarch_layer_apply_fd(int rootfd, int fd, const struct xarch_layer_opts *o,
			 struct xarch_error *err);

/* Unpack `n` layer files in order into a new directory `dest` (which must
 * not exist): built in a temp dir next to it and renamed into place, so on
 * any error `dest` does not exist and nothing else changed. */
int xarch_layers_unpack(const char *const *layers, size_t n, const char *dest,
			const struct xarch_layer_opts *o, struct xarch_error *err);

#endif
