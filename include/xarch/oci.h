/* SPDX-License-Identifier: MIT */
#ifndef XARCH_OCI_H
#define XARCH_OCI_H

/*
 * Reading container images from local transports (lib/oci.c): an OCI image
 * layout directory, a tar of one, and what `docker save` writes.  Every
 * blob is checked against its digest and size before it is used, layer
 * diff_ids against the uncompressed stream (plain and gzip layers), and
 * digests must be sha256:[0-9a-f]{64} before any path is built from them.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xarch/error.h"
#include "xarch/image.h"

#define XARCH_OCI_JSON_MAX	(4u << 20) /* index, manifest, config */
#define XARCH_OCI_LAYERS_MAX	512	   /* layers of one image */
#define XARCH_OCI_MANIFESTS_MAX 1024	   /* entries of one index */
#define XARCH_DIGEST_LEN	71	   /* "sha256:" + 64 hex digits */

enum xarch_image_transport {
	XARCH_IMAGE_OCI,	    /* oci:DIR[:TAG] */
	XARCH_IMAGE_OCI_ARCHIVE,    /* oci-archive:FILE[:TAG] */
	XARCH_IMAGE_DOCKER_ARCHIVE, /* docker-archive:FILE[:REF] */
};

struct xarch_image_ref {
	enum xarch_image_transport transport;
	char path[4096];
	char tag[256]; /* "" when none was given */
};

/* Parse "TRANSPORT:PATH[:TAG]" (skopeo's syntax for these transports). */
int xarch_image_ref_parse(const char *s, struct xarch_image_ref *ret, struct xarch_error *err);

/* Transport names, in table order, for usage messages: "oci, oci-archive, ..." */
const char *xarch_image_transport_name(enum xarch_image_transport t);

/* Is `d` "sha256:" followed by exactly 64 lowercase hex digits? */
bool xarch_digest_valid(const char *d);

struct xarch_oci_descriptor {
	char media_type[128];
	char digest[XARCH_DIGEST_LEN + 1];
	uint64_t size;
	/* index entries only: the platform ("" when absent) and the
	 * org.opencontainers.image.ref.name annotation */
	char os[32], arch[32], variant[32];
	char ref_name[256];
};

struct xarch_oci_index {
	size_t n;
	struct xarch_oci_descriptor *manifests;
};

struct xarch_oci_manifest {
	bool docker; /* Docker v2 schema2 rather than OCI */
	struct xarch_oci_descriptor config;
	size_t n_layers;
	struct xarch_oci_descriptor *layers;
};

struct xarch_oci_config {
	char os[32], arch[32], variant[32];
	size_t n_diff_ids;
	char (*diff_ids)[XARCH_DIGEST_LEN + 1];
};

/* Parsers for the JSON documents (`len` bytes, need not be NUL-terminated).
 * They check types, required fields, digests and the caps above. */
int xarch_oci_index_parse(const char *json, size_t len, struct xarch_oci_index *ret,
			  struct xarch_error *err);
int xarch_oci_manifest_parse(const char *json, size_t len, struct xarch_oci_manifest *ret,
			     struct xarch_error *err);
int xarch_oci_config_parse(const char *json, size_t len, struct xarch_oci_config *ret,
			   struct xarch_error *err);
void xarch_oci_index_release(struct xarch_oci_index *x);
void xarch_oci_manifest_release(struct xarch_oci_manifest *m);
void xarch_oci_config_release(struct xarch_oci_config *c);

/* Index of the entry of `x` that runs on `platform` (any name
 * xarch_arch_lookup() knows, or "linux/arm/v6" style; NULL = the host).
 * On failure the message lists what the index offers. */
int xarch_oci_index_select(const struct xarch_oci_index *x, const char *platform,
			   struct xarch_error *err);

/* Check that the file `fd` has `size` bytes and the sha256 of `digest`. */
int xarch_blob_verify_fd(int fd, const char *digest, uint64_t size, struct xarch_error *err);

/* ---- images ---------------------------------------------------------------- */

struct xarch_image_opts {
	const char *platform; /* NULL: the host's, but a lone image of any arch is taken */
	const char *tmpdir;   /* where archives are unpacked; NULL: $TMPDIR or /var/tmp */
};

struct xarch_image;

/* Open and verify an image: resolve the tag, select the platform, read and
 * verify manifest, config and every layer blob (digest, size, diff_id). */
int xarch_image_open(const struct xarch_image_ref *ref, const struct xarch_image_opts *o,
		     struct xarch_image **ret, struct xarch_error *err);
/* The verified layer files, bottom first; valid until xarch_image_free(). */
const char *const *xarch_image_layers(const struct xarch_image *img, size_t *ret_n);
/* The config's diff_ids, one per layer ("sha256:..."), for
 * xarch_layer_opts.diff_ids: the applier checks them while it applies. */
const char *const *xarch_image_diff_ids(const struct xarch_image *img);
/* "linux/arm64/v8" of the image's config. */
const char *xarch_image_platform(const struct xarch_image *img);
/* "sha256:..." of the manifest (docker-archive: of the config, which
 * names every layer's diff_id); "" when the transport has none. */
const char *xarch_image_digest(const struct xarch_image *img);
/* Removes any temporary files. */
void xarch_image_free(struct xarch_image *img);

/* open + xarch_layers_unpack() into `dest` (which must not exist). */
int xarch_image_pull(const char *src, const char *dest, const struct xarch_image_opts *o,
		     const struct xarch_layer_opts *lo, struct xarch_error *err);

#endif
