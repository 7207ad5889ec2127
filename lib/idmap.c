// SPDX-License-Identifier: MIT
/*
 * uid/gid maps for a process that has unshared CLONE_NEWUSER.
 *
 * An unprivileged process may write a map of exactly its own id (and, for
 * gid_map, only after "deny" went to setgroups).  More than that needs
 * the setuid helpers newuidmap/newgidmap (shadow's "uidmap" package),
 * which check the ranges against /etc/subuid and /etc/subgid.  Root may
 * write any map directly.
 */
#include <fcntl.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>

#include "internal.h"
#include "xarch/idmap.h"
#include "xarch/rootfs.h"

#define MAX_SUBID_FILE (16u << 20)
/* (uid_t)-1 means "no id" to the kernel and can never be mapped, so every
 * range ends at or below it (exclusive end) */
#define ID_END 4294967295u

extern char **environ;

/* ---- /etc/subuid, /etc/subgid ------------------------------------------- */

static int parse_u32(const char *s, uint32_t *ret)
{
	size_t n = strlen(s);
	if (n == 0 || n > 10)
		return -EINVAL;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > UINT32_MAX)
		return -ERANGE;
	*ret = (uint32_t)v;
	return 0;
}

/* Read a subuid/subgid file: the ranges of `user`/`id` into ret (up to
 * max), and the end of the highest range of anyone into *ret_top. */
static int subid_scan(const char *file, const char *user, uint32_t id, struct xarch_idmap *ret,
		      size_t max, uint64_t *ret_top)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int r = xa_read_file(file ? file : "/etc/subuid", MAX_SUBID_FILE, &buf, &len, NULL);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	size_t found = 0;
	uint64_t top = 0;
	char *save = NULL;
	for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!*line || *line == '#')
			continue;
		/* exactly name:start:count */
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2 || strchr(c2 + 1, ':'))
			continue;
		*c1 = *c2 = '\0';
		const char *f[3] = {line, c1 + 1, c2 + 1};
		uint32_t owner, start, count;
		bool match = (user && *user && strcmp(f[0], user) == 0) ||
			     (parse_u32(f[0], &owner) == 0 && owner == id && id != ID_END);
		if (parse_u32(f[1], &start) < 0 || parse_u32(f[2], &count) < 0 || count == 0 ||
		    (uint64_t)start + count > ID_END)
			continue;
		if ((uint64_t)start + count > top)
			top = (uint64_t)start + count;
		if (match && found < max)
			ret[found++] = (struct xarch_idmap){.inside = 0, .outside = start, .count = count};
	}
	if (ret_top)
		*ret_top = top;
	return (int)found;
}

int xarch_subid_ranges(const char *file, const char *user, uint32_t id, struct xarch_idmap *ret,
		       size_t max)
{
	return subid_scan(file, user, id, ret, max, NULL);
}

uint64_t xarch_subid_top(const char *file)
{
	uint64_t top = 0;
	subid_scan(file, NULL, ID_END, NULL, 0, &top);
	return top;
}

/* ---- the maps ------------------------------------------------------------ */

/* The host name of `uid` into buf ("" when there is none). */
static int user_name(uid_t uid, char *buf, size_t len)
{
	struct xarch_user u;
	buf[0] = '\0';
	if (xarch_host_user(NULL, uid, &u, NULL) == 0)
		xa_strcpy(buf, len, u.name);
	return 0;
}

static bool overlaps(uint64_t a, uint64_t an, uint64_t b, uint64_t bn)
{
	return a < b + bn && b < a + an;
}

/* Append subordinate ranges after the caller's own id (maps[0]): inside
 * ids count up from 1; ranges overlapping an earlier one on the outside
 * are skipped (the kernel refuses overlapping maps). */
static void add_ranges(struct xarch_idmap *maps, size_t *n, size_t max,
		       const struct xarch_idmap *found, size_t n_found)
{
	uint64_t next = 1;
	for (size_t i = 0; i < n_found && *n < max && next < ID_END; i++) {
		bool clash = false;
		for (size_t j = 0; j < *n; j++)
			clash |= overlaps(maps[j].outside, maps[j].count, found[i].outside,
					  found[i].count);
		if (clash)
			continue;
		uint64_t count = found[i].count;
		if (count > ID_END - next)
			count = ID_END - next;
		maps[(*n)++] = (struct xarch_idmap){.inside = (uint32_t)next,
						    .outside = found[i].outside,
						    .count = (uint32_t)count};
		next += count;
	}
}

int xarch_idmaps_rootless_files(uid_t uid, gid_t gid, const char *subuid, const char *subgid,
				const char *path_env, struct xarch_idmaps *ret,
				struct xarch_error *err)
{
	struct xarch_idmaps m = {0};
	struct xarch_idmap found[16];
	char name[256], tool[4096];
	if (uid == (uid_t)-1 || gid == (gid_t)-1)
		return xarch_err(err, EINVAL, "invalid uid or gid");
	m.uid[0] = (struct xarch_idmap){.inside = 0, .outside = uid, .count = 1};
	m.gid[0] = (struct xarch_idmap){.inside = 0, .outside = gid, .count = 1};
	m.n_uid = m.n_gid = 1;

	int r = user_name(uid, name, sizeof(name));
	if (r < 0)
		return xarch_err_sys(err, -r, "cannot look up uid %u", (unsigned)uid);
	if (!subuid)
		subuid = "/etc/subuid";
	if (!subgid)
		subgid = "/etc/subgid";
	/* both files are keyed by the user (name or uid), never by a gid */
	r = xarch_subid_ranges(subuid, name, uid, found, ARRAY_SIZE(found));
	if (r < 0)
		return xarch_err_sys(err, -r, "cannot read '%s'", subuid);
	add_ranges(m.uid, &m.n_uid, ARRAY_SIZE(m.uid), found, (size_t)r);
	r = xarch_subid_ranges(subgid, name, uid, found, ARRAY_SIZE(found));
	if (r < 0)
		return xarch_err_sys(err, -r, "cannot read '%s'", subgid);
	add_ranges(m.gid, &m.n_gid, ARRAY_SIZE(m.gid), found, (size_t)r);

	m.full = m.n_uid > 1 && m.n_gid > 1 &&
		 xa_find_in_path("newuidmap", path_env, tool, sizeof(tool)) == 0 &&
		 xa_find_in_path("newgidmap", path_env, tool, sizeof(tool)) == 0;
	if (!m.full)
		m.n_uid = m.n_gid = 1; /* what can be written without helpers */
	*ret = m;
	return 0;
}

int xarch_idmaps_rootless(uid_t uid, gid_t gid, struct xarch_idmaps *ret, struct xarch_error *err)
{
	return xarch_idmaps_rootless_files(uid, gid, NULL, NULL, NULL, ret, err);
}

void xarch_idmaps_identity(struct xarch_idmaps *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->uid[0] = (struct xarch_idmap){.inside = 0, .outside = 0, .count = ID_END};
	ret->gid[0] = ret->uid[0];
	ret->n_uid = ret->n_gid = 1;
	ret->full = true;
}

/* ---- applying ------------------------------------------------------------ */

static int check_maps(const struct xarch_idmap *maps, size_t n, size_t max, const char *what,
		      struct xarch_error *err)
{
	if (n == 0 || n > max)
		return xarch_err(err, EINVAL, "%s map: %zu ranges (1 to %zu allowed)", what, n,
				 max);
	for (size_t i = 0; i < n; i++)
		if (maps[i].count == 0 || (uint64_t)maps[i].inside + maps[i].count > ID_END ||
		    (uint64_t)maps[i].outside + maps[i].count > ID_END)
			return xarch_err(err, EINVAL, "%s map: range %u %u %u out of bounds", what,
					 maps[i].inside, maps[i].outside, maps[i].count);
	return 0;
}

/* The text the kernel wants, all lines in one write. */
static int format_map(const struct xarch_idmap *maps, size_t n, char *buf, size_t len)
{
	size_t off = 0;
	for (size_t i = 0; i < n; i++) {
		int k = snprintf(buf + off, len - off, "%u %u %u\n", maps[i].inside,
				 maps[i].outside, maps[i].count);
		if (k < 0 || (size_t)k >= len - off)
			return -ENAMETOOLONG;
		off += (size_t)k;
	}
	return (int)off;
}

static int write_map(pid_t pid, const char *file, const struct xarch_idmap *maps, size_t n,
		     struct xarch_error *err)
{
	char path[64], text[512];
	int len = format_map(maps, n, text, sizeof(text));
	if (len < 0 || xa_snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file) < 0)
		return xarch_err(err, EINVAL, "%s: map too long", file);
	int r = xa_write_existing(path, text, (size_t)len);
	if (r < 0) {
		xarch_err_sys(err, -r, "cannot write '%s'", path);
		if (r == -EPERM && geteuid() != 0)
			xarch_err_hint(err, "only root may map more than the caller's own id "
					    "without newuidmap/newgidmap");
		return r;
	}
	return 0;
}

static int apply_direct(pid_t pid, const struct xarch_idmaps *m, struct xarch_error *err)
{
	int r = write_map(pid, "uid_map", m->uid, m->n_uid, err);
	if (r < 0)
		return r;
	/* Unprivileged writers must give up setgroups before gid_map; a lone
	 * gid has no use for it either.  Root mapping ranges keeps it, so
	 * that e.g. apt can drop to _apt inside. */
	if (geteuid() != 0 || (m->n_gid == 1 && m->gid[0].count == 1)) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/setgroups", (int)pid);
		r = xa_write_existing(path, "deny", 4);
		if (r < 0 && r != -ENOENT) /* ENOENT: kernels before 3.19 */
			return xarch_err_sys(err, -r, "cannot write '%s'", path);
	}
	return write_map(pid, "gid_map", m->gid, m->n_gid, err);
}

/* Run newuidmap/newgidmap PID inside outside count...; its stderr ends up
 * in the error message. */
static int run_helper(const char *tool, pid_t pid, const struct xarch_idmap *maps, size_t n,
		      struct xarch_error *err)
{
	char num[1 + 3 * 8][16];
	const char *argv[2 + 3 * 8 + 1];
	size_t k = 0;
	if (n > 8)
		return xarch_err(err, EINVAL, "too many ranges for %s", tool);
	argv[k++] = tool;
	snprintf(num[0], sizeof(num[0]), "%d", (int)pid);
	argv[k++] = num[0];
	for (size_t i = 0; i < n; i++) {
		const uint32_t v[3] = {maps[i].inside, maps[i].outside, maps[i].count};
		for (int j = 0; j < 3; j++) {
			char *s = num[1 + 3 * i + (size_t)j];
			snprintf(s, sizeof(num[0]), "%u", v[j]);
			argv[k++] = s;
		}
	}
	argv[k] = NULL;

	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return xarch_err_sys(err, errno, "cannot run %s", tool);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 2);
	pid_t child;
	int e = posix_spawnp(&child, tool, &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	if (e) {
		close(pfd[0]);
		if (e == ENOENT)
			return xarch_err(err, ENOENT,
					 "%s not found: mapping subordinate ids needs it; fix: "
					 "install the uidmap package (apt-get install uidmap)",
					 tool);
		return xarch_err_sys(err, e, "cannot run %s", tool);
	}
	char out[256];
	size_t got = 0;
	for (;;) {
		char drop[256];
		char *dst = got < sizeof(out) - 1 ? out + got : drop;
		size_t room = got < sizeof(out) - 1 ? sizeof(out) - 1 - got : sizeof(drop);
		ssize_t r = read(pfd[0], dst, room);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (dst == out + got)
			got += (size_t)r;
	}
	close(pfd[0]);
	out[got] = '\0';
	out[strcspn(out, "\n")] = '\0';
	int st;
	while (waitpid(child, &st, 0) < 0)
		if (errno != EINTR)
			return xarch_err_sys(err, errno, "cannot wait for %s", tool);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;

	char user[256];
	if (user_name(getuid(), user, sizeof(user)) < 0 || !user[0])
		snprintf(user, sizeof(user), "%u", (unsigned)getuid());
	bool uid = strcmp(tool, "newuidmap") == 0;
	xarch_err(err, EPERM, "%s %d failed (%s %d)%s%s", tool, (int)pid,
		  WIFEXITED(st) ? "exit" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st),
		  out[0] ? ": " : "", out);
	xarch_err_hint(err,
		       "fix: give '%s' subordinate %s in %s, e.g. 'usermod --add-sub%ss "
		       "100000-165535 %s'",
		       user, uid ? "uids" : "gids", uid ? "/etc/subuid" : "/etc/subgid",
		       uid ? "uid" : "gid", user);
	return -EPERM;
}

int xarch_idmaps_apply_helpers(pid_t pid, const struct xarch_idmaps *m, struct xarch_error *err)
{
	int r;
	if (pid <= 0)
		return xarch_err(err, EINVAL, "invalid pid %d", (int)pid);
	if ((r = check_maps(m->uid, m->n_uid, ARRAY_SIZE(m->uid), "uid", err)) < 0 ||
	    (r = check_maps(m->gid, m->n_gid, ARRAY_SIZE(m->gid), "gid", err)) < 0)
		return r;
	if ((r = run_helper("newuidmap", pid, m->uid, m->n_uid, err)) < 0)
		return r;
	return run_helper("newgidmap", pid, m->gid, m->n_gid, err);
}

int xarch_idmaps_apply(pid_t pid, const struct xarch_idmaps *m, struct xarch_error *err)
{
	int r;
	if (pid <= 0)
		return xarch_err(err, EINVAL, "invalid pid %d", (int)pid);
	if ((r = check_maps(m->uid, m->n_uid, ARRAY_SIZE(m->uid), "uid", err)) < 0 ||
	    (r = check_maps(m->gid, m->n_gid, ARRAY_SIZE(m->gid), "gid", err)) < 0)
		return r;
	if ((m->n_uid > 1 || m->n_gid > 1) && geteuid() != 0)
		return xarch_idmaps_apply_helpers(pid, m, err);
	return apply_direct(pid, m, err);
}
