/* SPDX-License-Identifier: MIT */
#ifndef XARCH_REGISTRY_H
#define XARCH_REGISTRY_H

/*
 * Container registries, distribution-spec (registry API v2) over HTTP(S)
 * (lib/registry.c): anonymous, Basic and Bearer-token auth; credentials
 * from --creds, $DOCKER_CONFIG/config.json or ~/.docker/config.json.
 * Pulls are written into a temporary OCI layout and imported with the
 * oci: transport, so every check of lib/oci.c applies to them too.
 */

#include <stdbool.h>
#include <stddef.h>

#include "xarch/error.h"
#include "xarch/image.h"

struct xarch_registry_ref {
	char host[256];	 /* as dialled, with ":PORT" when given */
	char name[256];	 /* repository, "library/debian" */
	char tag[129];	 /* "" when a digest was given */
	char digest[72]; /* "" unless NAME@sha256:... */
};

/* "[docker://]HOST[:PORT]/NAME[:TAG|@DIGEST]" or a Docker Hub short name
 * ("debian", "user/img:tag"): docker.io means registry-1.docker.io and
 * one-component names get "library/".  The tag defaults to "latest". */
int xarch_registry_ref_parse(const char *s, struct xarch_registry_ref *ret,
			     struct xarch_error *err);

struct xarch_registry_opts {
	const char *creds;    /* "USER:PASS"; NULL: from the docker config file */
	bool insecure;	      /* plain http (and no TLS verification) */
	const char *platform; /* pull: as xarch_image_opts */
	const char *tmpdir;   /* pull: blobs go here; NULL: next to the destination */
	/* per blob transferred: its digest, bytes so far, its size; may be NULL */
	void (*progress)(void *data, const char *digest, uint64_t done, uint64_t total);
	void *progress_data;
};

/* Download an image (index → platform, manifest, config, layers, each
 * checked against its digest and size) and unpack it into `dest`, which
 * must not exist. */
int xarch_registry_pull(const char *ref, const char *dest, const struct xarch_registry_opts *o,
			const struct xarch_layer_opts *lo, struct xarch_error *err);

/* Push what `tag_in_layout` names in an OCI layout directory (NULL or "":
 * its only entry) to `ref`: blobs the registry lacks (HEAD, then POST +
 * monolithic PUT), the manifest(s), and for an index every child manifest
 * before the index itself. */
int xarch_registry_push_layout(const char *oci_layout_dir, const char *tag_in_layout,
			       const char *ref, const struct xarch_registry_opts *o,
			       struct xarch_error *err);

/* ---- pieces, exposed for tests -------------------------------------------------------- */

struct xarch_auth_challenge {
	char scheme[16]; /* "Bearer", "Basic" */
	char realm[1024];
	char service[256];
	char scope[512];
};

/* Parse a WWW-Authenticate value (the first challenge). */
int xarch_auth_challenge_parse(const char *hdr, struct xarch_auth_challenge *ret);

/* Find credentials for `host` in a docker config.json text: auths[host].auth
 * (base64 "user:pass"), also under "https://host" style keys; for Docker
 * Hub also "https://index.docker.io/v1/".  -ENOENT when none. */
int xarch_docker_config_auth(const char *json, size_t len, const char *host, char *user,
			     size_t ulen, char *pass, size_t plen);

#endif
