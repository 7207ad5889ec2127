/* SPDX-License-Identifier: MIT */
#ifndef XARCH_BUILD_H
#define XARCH_BUILD_H

/*
 * `xarch build`: a Dockerfile executed without an engine (lib/build.c).
 * Each stage's rootfs is a directory under the build's state directory;
 * RUN goes through xarch_container_run() (emulated for foreign arches),
 * COPY/ADD write through fds resolved inside the stage's root, and the
 * last (or --target) stage is written out with xarch_export() and/or put
 * in the local store.  Nothing is written to an output before the whole
 * build succeeded.
 *
 * FROM takes: scratch; an earlier stage's name; a name given to
 * `xarch build -t` (the local store); oci:DIR[:TAG], oci-archive:FILE[:TAG],
 * docker-archive:FILE[:REF] (through the store); tar:FILE (a rootfs
 * tarball); dir:PATH or a path starting with '/', './' or '../' (a rootfs
 * directory, copied); docker://REF (a registry pull).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xarch/container.h"
#include "xarch/error.h"

struct xarch_build_opts {
	const char *context;	       /* directory */
	const char *dockerfile;	       /* NULL: CONTEXT/Dockerfile */
	const char *platform;	       /* target platform; NULL: the host's */
	const char *target;	       /* stage name; NULL: the last stage */
	const char *const *build_args; /* "KEY=VALUE" or "KEY" (from the environment) */
	size_t n_build_args;
	const char *const *outputs; /* dir:PATH, tar:FILE, oci:DIR[:TAG], ... */
	size_t n_outputs;
	const char *tag;	/* put the result in the local store under this name */
	const char *store_root; /* NULL: xarch_store_root() */
	const char *state_dir;	/* NULL: xarch_build_state_dir() */
	bool no_cache;
	/* step lines (info), warnings, RUN's container notes; NULL: dropped */
	void (*note)(void *data, enum xarch_note_level level, const char *msg);
	void *note_data;
};

struct xarch_build_result {
	char platform[128]; /* of the final stage */
	unsigned steps;	    /* instructions executed */
	unsigned cached;    /* of those, taken from the step cache */
	char digest[80];    /* -t: the stored image's digest */
};

/* $XARCH_BUILD_DIR, else /var/cache/xarch/build for root, else
 * $XDG_CACHE_HOME/xarch/build or ~/.cache/xarch/build. */
int xarch_build_state_dir(char *buf, size_t len, struct xarch_error *err);

int xarch_build(const struct xarch_build_opts *o, struct xarch_build_result *ret,
		struct xarch_error *err);

/* .dockerignore matching (exposed for tests): patterns as in the file
 * (`**`, `!exception`, last match wins); `path` relative to the context.
 * Also true when a parent directory of `path` is excluded. */
bool xarch_dockerignore_match(const char *const *patterns, size_t n, const char *path);

#endif
