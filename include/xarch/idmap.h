/* SPDX-License-Identifier: MIT */
#ifndef XARCH_IDMAP_H
#define XARCH_IDMAP_H

/* uid/gid maps for rootless user namespaces: /etc/subuid ranges through
 * newuidmap/newgidmap, or a single id written directly. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "xarch/error.h"

struct xarch_idmap {
	uint32_t inside, outside, count;
};

/* Ranges for `user` (name) or `id` from a subuid/subgid file (NULL:
 * /etc/subuid resp. the path given).  Returns the number found (0 when
 * none), up to `max`. */
int xarch_subid_ranges(const char *file, const char *user, uint32_t id, struct xarch_idmap *ret,
		       size_t max);

/* The end of the highest range anyone has in a subuid/subgid file (0 when
 * none): where a new user's range can start without overlapping. */
uint64_t xarch_subid_top(const char *file);

/* The maps a rootless container gets: the caller's id as 0, then the
 * subordinate ranges from 1 on.  `*ret_full` tells whether ranges were
 * found (and newuidmap/newgidmap exist to apply them). */
struct xarch_idmaps {
	size_t n_uid, n_gid;
	struct xarch_idmap uid[8], gid[8];
	bool full;		/* subordinate ids available */
};
int xarch_idmaps_rootless(uid_t uid, gid_t gid, struct xarch_idmaps *ret, struct xarch_error *err);

/* The same with other files (NULL: /etc/subuid, /etc/subgid) and PATH
 * (NULL: $PATH) for finding newuidmap/newgidmap.  Without both ranges and
 * both tools the maps are the single ids and `full` is false.  Subordinate
 * ranges that overlap an earlier range on the outside are skipped. */
int xarch_idmaps_rootless_files(uid_t uid, gid_t gid, const char *subuid, const char *subgid,
				const char *path_env, struct xarch_idmaps *ret,
				struct xarch_error *err);

/* Identity maps for root (0..2^32-2 onto itself). */
void xarch_idmaps_identity(struct xarch_idmaps *ret);

/* Write the maps for process `pid` (which has unshared CLONE_NEWUSER):
 * through newuidmap/newgidmap when there is more than the caller's own id,
 * else directly (with setgroups=deny). */
int xarch_idmaps_apply(pid_t pid, const struct xarch_idmaps *m, struct xarch_error *err);

/* Always through newuidmap then newgidmap (PATH-searched); a failure names
 * the tool, its message and the fix. */
int xarch_idmaps_apply_helpers(pid_t pid, const struct xarch_idmaps *m, struct xarch_error *err);

#endif
