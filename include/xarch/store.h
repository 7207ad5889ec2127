/* SPDX-License-Identifier: MIT */
#ifndef XARCH_STORE_H
#define XARCH_STORE_H

/*
 * The local image store (lib/store.c): images pulled once, unpacked,
 * keyed by manifest digest and reused by `xarch run SOURCE`.
 *
 *   ROOT/.lock                 flock()ed by every change (and by pulls)
 *   ROOT/refs.json             {"oci:/abs/dir:tag": "sha256:...", ...}
 *   ROOT/rootfs/HEX/           the unpacked tree (never written by run)
 *   ROOT/rootfs/HEX.json       {"digest", "source", "platform", "created", "size"}
 *
 * ROOT is $XARCH_STORE, else /var/lib/xarch for root, else
 * $XDG_DATA_HOME/xarch or ~/.local/share/xarch.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xarch/error.h"
#include "xarch/image.h"
#include "xarch/oci.h"

struct xarch_store_opts {
	const char *root;		      /* NULL: xarch_store_root() */
	const char *platform;		      /* as for xarch_image_opts */
	const struct xarch_layer_opts *layer; /* NULL: owners kept when root */
	/* remember the image under this name (xarch_store_name()) instead of
	 * its source, and keep `config` (the JSON of an image config's
	 * "config" object: Env, Cmd, WorkingDir...) with it: `xarch build -t` */
	const char *name;
	const char *config;
};

/* The key `xarch build -t NAME` stores NAME under: ":latest" added when
 * NAME has no tag ("img" -> "img:latest", "reg:5000/img" -> ...:latest). */
int xarch_store_name(const char *name, char *buf, size_t len, struct xarch_error *err);

/* The stored entry a name (xarch_store_name() form is tried too) or a
 * source key names: digest, platform, path; its kept config JSON goes to
 * `ret_config` (malloc'ed, NULL when there is none; may be NULL).
 * -ENOENT when nothing has that name. */
struct xarch_store_entry;
int xarch_store_find(const char *root, const char *name, struct xarch_store_entry *ret,
		     char **ret_config, struct xarch_error *err);

/* The default store directory (see above) into `buf`. */
int xarch_store_root(char *buf, size_t len, struct xarch_error *err);

/* The key a source is remembered under: the transport, the absolute path
 * (when it exists) and the tag: "oci:rel:t" -> "oci:/cwd/rel:t". */
int xarch_store_ref_key(const char *src, char *buf, size_t len, struct xarch_error *err);

/* The tree for image `src`: open (and verify) the image, reuse the entry
 * of its digest when there is one, else unpack it into the store.  The
 * tree's path goes to `ret_path`, and `ret_reused` (may be NULL) tells
 * whether it was there already. */
int xarch_store_get(const char *src, const struct xarch_store_opts *o, char *ret_path, size_t len,
		    bool *ret_reused, struct xarch_error *err);

struct xarch_store_entry {
	char digest[XARCH_DIGEST_LEN + 1];
	char source[4400]; /* what it was first pulled from */
	char platform[100];
	int64_t created; /* seconds since the epoch */
	uint64_t size;	 /* bytes of file data */
	size_t n_refs;
	char **refs;	 /* keys of refs.json naming this digest, sorted */
	char path[4200]; /* the tree */
};

/* Every entry of the store at `root` (NULL: the default), by digest.  A
 * store that does not exist yet is empty. */
int xarch_store_list(const char *root, struct xarch_store_entry **ret, size_t *ret_n,
		     struct xarch_error *err);
void xarch_store_list_free(struct xarch_store_entry *e, size_t n);

/* Remove the entry named by `what`: a source (as given or as its key), a
 * digest, or an unambiguous prefix of its hex (at least 4 digits).  The
 * removed digest goes to `ret_digest` (may be NULL). */
int xarch_store_remove(const char *root, const char *what, char ret_digest[XARCH_DIGEST_LEN + 1],
		       struct xarch_error *err);

#endif
