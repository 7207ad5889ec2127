// SPDX-License-Identifier: MIT
/*
 * Paths inside a root filesystem, resolved inside it.
 *
 * A rootfs is untrusted input: /etc/resolv.conf may be an absolute symlink
 * to /etc/shadow, /dev a symlink to "../../../../dev", and a mount point a
 * symlink to the host's /etc.  Opening ROOT + "/" + path with the host's
 * resolver would follow all of them out of the root.  So every lookup here
 * is relative to an fd of the root with "/" meaning that root: openat2(2)
 * with RESOLVE_IN_ROOT where the kernel has it (5.6+), else a walk that
 * opens one component at a time with O_PATH|O_NOFOLLOW and interprets each
 * symlink itself.  Creating (mkdir -p, mount-point files) always uses the
 * walk: each new entry is made with mkdirat/mknodat relative to a directory
 * fd that was itself resolved inside the root.
 */
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "internal.h"
#include "xarch/rootfs.h"

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

#define MAX_SYMLINKS	40	    /* the kernel's MAXSYMLINKS */
#define MAX_DEPTH	4096	    /* directories held open by the walk */
#define OPENAT2_RETRIES 16	    /* EAGAIN: a rename raced with ".." */
#define MAX_ETC_FILE	(16u << 20) /* /etc/passwd, /etc/group */
#define MAX_ENV_FILE	(16u << 20)
#define PARENT_MODE	0755 /* parents made by xarch_root_mkfile */

/* ---- the walk ---------------------------------------------------------- */

enum walk_mode {
	WALK_OPEN,   /* openat semantics, O_CREAT creates the last component */
	WALK_MKDIR,  /* create missing directories, return an O_PATH fd */
	WALK_MKFILE, /* create missing parents and an empty file */
};

/* The directories resolved so far, below the root.  ".." pops one, so the
 * walk can never reach a directory it did not come through, and ".." at
 * the root stays there. */
struct dirstack {
	int rootfd;
	int *fds;
	size_t n, cap;
};

static int dirstack_top(const struct dirstack *s)
{
	return s->n ? s->fds[s->n - 1] : s->rootfd;
}

static void dirstack_pop(struct dirstack *s)
{
	if (s->n)
		close(s->fds[--s->n]);
}

static void dirstack_clear(struct dirstack *s)
{
	while (s->n)
		dirstack_pop(s);
}

/* Takes ownership of fd, also on failure. */
static int dirstack_push(struct dirstack *s, int fd)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		int *fds = cap <= MAX_DEPTH ? realloc(s->fds, cap * sizeof(*fds)) : NULL;
		if (!fds) {
			close(fd);
			return cap <= MAX_DEPTH ? -ENOMEM : -ENAMETOOLONG;
		}
		s->fds = fds;
		s->cap = cap;
	}
	s->fds[s->n++] = fd;
	return 0;
}

static void dirstack_release(struct dirstack *s)
{
	dirstack_clear(s);
	free(s->fds);
	s->fds = NULL;
	s->cap = 0;
}

static bool needs_mode(int flags)
{
	/* O_TMPFILE includes O_DIRECTORY's bit: test all of it */
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
}

/* Open the final component `name` in `dirfd` with the caller's flags.
 * Unless the caller asked for the link itself (`link_ok`), it was seen as
 * a non-symlink or missing; O_NOFOLLOW makes sure it still is. */
static int open_final(int dirfd, const char *name, int flags, mode_t mode, bool link_ok)
{
	int fd = openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
			needs_mode(flags) ? mode : 0);
	if (fd < 0)
		return -errno;
	if ((flags & O_PATH) && !link_ok) {
		/* O_PATH|O_NOFOLLOW opens a symlink instead of failing: one
		 * swapped in since we looked must not be handed out */
		struct stat st;
		if (fstat(fd, &st) < 0 || S_ISLNK(st.st_mode)) {
			close(fd);
			return -ELOOP;
		}
	}
	return fd;
}

static int walk(int rootfd, const char *path, int flags, mode_t mode, enum walk_mode how)
{
	char todo[PATH_MAX], next[PATH_MAX], target[PATH_MAX];
	struct dirstack s = {.rootfd = rootfd};
	int links = 0, r;

	if (!path)
		return -EINVAL;
	if (xa_strcpy(todo, sizeof(todo), path) < 0)
		return -ENAMETOOLONG;
	/* O_CREAT|O_EXCL never follows a final symlink (it fails EEXIST) */
	bool follow_last =
	    !(flags & O_NOFOLLOW) && !((flags & O_CREAT) && (flags & O_EXCL) && how == WALK_OPEN);
	char *p = todo;
	for (;;) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		char *comp = p;
		p += strcspn(p, "/");
		/* a trailing slash makes the last component a directory that
		 * must be entered, like an inner one */
		bool slash = *p == '/';
		if (slash)
			*p++ = '\0';
		while (*p == '/')
			p++;
		bool last = !*p && !slash;

		if (strcmp(comp, ".") == 0)
			continue;
		if (strcmp(comp, "..") == 0) {
			dirstack_pop(&s);
			continue;
		}
		if (strlen(comp) > NAME_MAX) {
			r = -ENAMETOOLONG;
			goto out;
		}
		int dirfd = dirstack_top(&s);
		if (last && how == WALK_OPEN && !follow_last) {
			r = open_final(dirfd, comp, flags, mode, true);
			goto out;
		}

		_cleanup_close_ int fd = openat(dirfd, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT &&
		    (how != WALK_OPEN || (last && (flags & O_CREAT)))) {
			if (how == WALK_OPEN) {
				/* O_NOFOLLOW: a symlink created meanwhile fails */
				r = open_final(dirfd, comp, flags, mode, false);
				goto out;
			}
			int c;
			if (last && how == WALK_MKFILE)
				c = mknodat(dirfd, comp, S_IFREG | (mode & 07777), 0);
			else
				c = mkdirat(dirfd, comp,
					    how == WALK_MKDIR ? (mode & 07777) : PARENT_MODE);
			/* EEXIST: someone was quicker; look at what is there */
			if (c < 0 && errno != EEXIST) {
				r = -errno;
				goto out;
			}
			fd = openat(dirfd, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		}
		if (fd < 0) {
			r = -errno;
			goto out;
		}
		struct stat st;
		if (fstat(fd, &st) < 0) {
			r = -errno;
			goto out;
		}

		if (S_ISLNK(st.st_mode)) {
			if (++links > MAX_SYMLINKS) {
				r = -ELOOP;
				goto out;
			}
			/* an O_PATH fd of the link itself: no second lookup */
			ssize_t n = readlinkat(fd, "", target, sizeof(target));
			if (n < 0) {
				r = -errno;
				goto out;
			}
			if ((size_t)n >= sizeof(target)) {
				r = -ENAMETOOLONG;
				goto out;
			}
			target[n] = '\0';
			if (n == 0) {
				r = -ENOENT;
				goto out;
			}
			if (xa_snprintf(next, sizeof(next), "%s%s%s", target, slash ? "/" : "", p) <
			    0) {
				r = -ENAMETOOLONG;
				goto out;
			}
			memcpy(todo, next, strlen(next) + 1);
			p = todo;
			if (target[0] == '/')
				dirstack_clear(&s); /* absolute: from the rootfs's "/" */
			continue;
		}

		if (last) {
			switch (how) {
			case WALK_OPEN:
				if (S_ISDIR(st.st_mode) && (flags & O_CREAT))
					r = -EISDIR;
				else
					r = open_final(dirfd, comp, flags, mode, false);
				break;
			case WALK_MKDIR:
				r = S_ISDIR(st.st_mode) ? TAKE_FD(fd) : -ENOTDIR;
				break;
			case WALK_MKFILE:
				r = S_ISDIR(st.st_mode) ? -EISDIR : TAKE_FD(fd);
				break;
			default:
				r = -EINVAL;
			}
			goto out;
		}
		if (!S_ISDIR(st.st_mode)) {
			r = -ENOTDIR;
			goto out;
		}
		if ((r = dirstack_push(&s, TAKE_FD(fd))) < 0)
			goto out;
	}

	/* The path names a directory we hold: "", "/", ".", ".." or one
	 * with a trailing slash. */
	switch (how) {
	case WALK_OPEN:
		if (flags & O_CREAT) {
			r = -EISDIR;
			break;
		}
		r = openat(dirstack_top(&s), ".", flags | O_CLOEXEC | O_NOCTTY);
		if (r < 0)
			r = -errno;
		break;
	case WALK_MKDIR:
		r = openat(dirstack_top(&s), ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (r < 0)
			r = -errno;
		break;
	default:
		r = -EISDIR;
	}
out:
	dirstack_release(&s);
	return r;
}

/* ---- opening ------------------------------------------------------------ */

static bool force_walk(void)
{
	/* XARCH_NO_OPENAT2=1 forces the walk (tests, seccomp filters that
	 * hide openat2); the same switch as xarch_open_in_root() */
	const char *e = getenv("XARCH_NO_OPENAT2");
	return e && *e && strcmp(e, "0") != 0;
}

/* openat2 with RESOLVE_IN_ROOT; -ENOSYS when the kernel (or a seccomp
 * filter) does not offer it, so the caller walks instead. */
static int open_openat2(int rootfd, const char *path, int flags, mode_t mode)
{
	static int have_openat2 = -1; /* benign race: every thread learns the same */
	if (have_openat2 == 0 || force_walk())
		return -ENOSYS;
	struct open_how how = {
	    /* openat2 rejects what openat ignores: O_NOCTTY with O_PATH,
	     * a mode without O_CREAT */
	    .flags = (uint64_t)(unsigned)(flags | O_CLOEXEC | ((flags & O_PATH) ? 0 : O_NOCTTY)),
	    .mode = needs_mode(flags) ? (mode & 07777) : 0,
	    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	for (int i = 0; i < OPENAT2_RETRIES; i++) {
		long fd = syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
		if (fd >= 0) {
			have_openat2 = 1;
			return (int)fd;
		}
		if (errno == EAGAIN || errno == EINTR)
			continue;
		if (errno == ENOSYS) {
			have_openat2 = 0;
			return -ENOSYS;
		}
		/* EPERM/E2BIG from a seccomp filter or an older struct: the
		 * walk gives the real answer */
		if ((errno == EPERM || errno == E2BIG) && have_openat2 != 1)
			return -ENOSYS;
		return -errno;
	}
	return -ENOSYS; /* renames kept racing: the walk has no such retry */
}

static int root_open(int rootfd, const char *path, int flags, mode_t mode)
{
	if (!path)
		return -EINVAL;
	int r = open_openat2(rootfd, path, flags, mode);
	if (r != -ENOSYS)
		return r;
	return walk(rootfd, path, flags, mode, WALK_OPEN);
}

int xarch_root_open_dir(const char *rootfs, struct xarch_error *err)
{
	if (!rootfs || !*rootfs)
		return xarch_err(err, EINVAL, "empty rootfs path");
	int fd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	if (errno == ENOTDIR)
		return xarch_err(err, ENOTDIR, "rootfs '%s' is not a directory", rootfs);
	return xarch_err_sys(err, errno, "cannot open rootfs '%s'", rootfs);
}

int xarch_root_open(int rootfd, const char *path, int flags, mode_t mode, struct xarch_error *err)
{
	int r = root_open(rootfd, path, flags, mode);
	if (r < 0)
		return xarch_err_sys(err, -r, "cannot open '%s' inside the rootfs",
				     path ? path : "(null)");
	return r;
}

int xarch_root_open_walk(int rootfd, const char *path, int flags, mode_t mode,
			 struct xarch_error *err)
{
	int r = walk(rootfd, path, flags, mode, WALK_OPEN);
	if (r < 0)
		return xarch_err_sys(err, -r, "cannot open '%s' inside the rootfs",
				     path ? path : "(null)");
	return r;
}

int xarch_root_mkdir_p(int rootfd, const char *path, mode_t mode, struct xarch_error *err)
{
	/* the common case, everything there already, in one syscall */
	int r = open_openat2(rootfd, path ? path : "", O_PATH | O_DIRECTORY, 0);
	if (r >= 0)
		return r;
	r = walk(rootfd, path, 0, mode, WALK_MKDIR);
	if (r == -ENOTDIR)
		return xarch_err(err, ENOTDIR,
				 "cannot create directory '%s' inside the rootfs: "
				 "a non-directory is in the way",
				 path);
	if (r < 0)
		return xarch_err_sys(err, -r, "cannot create directory '%s' inside the rootfs",
				     path ? path : "(null)");
	return r;
}

int xarch_root_mkfile(int rootfd, const char *path, mode_t mode, struct xarch_error *err)
{
	if (!path)
		return xarch_err(err, EINVAL, "no path");
	size_t len = strlen(path);
	int r;
	if (len == 0 || path[len - 1] == '/') {
		r = -EISDIR;
	} else {
		r = open_openat2(rootfd, path, O_PATH, 0);
		if (r >= 0) {
			struct stat st;
			if (fstat(r, &st) < 0 || S_ISDIR(st.st_mode)) {
				close(r);
				r = -EISDIR;
			} else {
				return r;
			}
		} else {
			r = walk(rootfd, path, 0, mode, WALK_MKFILE);
		}
	}
	if (r == -EISDIR)
		return xarch_err(err, EISDIR,
				 "cannot create file '%s' inside the rootfs: "
				 "a directory is in the way",
				 path);
	if (r < 0)
		return xarch_err_sys(err, -r, "cannot create file '%s' inside the rootfs", path);
	return r;
}

const char *xarch_fd_path(int fd, char *buf, size_t len)
{
	if (fd < 0 || !buf || xa_snprintf(buf, len, "/proc/self/fd/%d", fd) < 0)
		return NULL;
	return buf;
}

/* ---- reading files inside the root -------------------------------------- */

/* A file of the rootfs; a missing one reads as empty (*ret = NULL). */
static int read_in_root(int rootfd, const char *path, char **ret, size_t *ret_len,
			struct xarch_error *err)
{
	_cleanup_close_ int fd = root_open(rootfd, path, O_RDONLY, 0);
	if (fd == -ENOENT) {
		*ret = NULL;
		*ret_len = 0;
		return 0;
	}
	if (fd < 0)
		return xarch_err_sys(err, -fd, "cannot open '%s' inside the rootfs", path);
	int r = xa_read_fd(fd, MAX_ETC_FILE, ret, ret_len);
	if (r == -EFBIG)
		return xarch_err(err, EFBIG, "'%s' in the rootfs is larger than %u bytes", path,
				 MAX_ETC_FILE);
	if (r < 0)
		return xarch_err_sys(err, -r, "cannot read '%s' inside the rootfs", path);
	return 0;
}

/* ---- /etc/passwd and /etc/group ----------------------------------------- */

struct span {
	const char *s;
	size_t n;
};

/* Next line of buf[0..len) from *pos; false at the end. */
static bool next_line(const char *buf, size_t len, size_t *pos, struct span *ret)
{
	if (*pos >= len)
		return false;
	const char *s = buf + *pos;
	const char *nl = memchr(s, '\n', len - *pos);
	size_t n = nl ? (size_t)(nl - s) : len - *pos;
	*pos += n + (nl ? 1 : 0);
	ret->s = s;
	ret->n = n;
	return true;
}

/* Split at ':' into at most `max` fields; returns the count, or max + 1
 * when there are more (a malformed line). */
static size_t split(struct span line, char sep, struct span *f, size_t max)
{
	size_t k = 0;
	const char *s = line.s, *end = line.s + line.n;
	for (;;) {
		const char *c = memchr(s, sep, (size_t)(end - s));
		if (k == max)
			return max + 1;
		f[k].s = s;
		f[k].n = c ? (size_t)(c - s) : (size_t)(end - s);
		k++;
		if (!c)
			return k;
		s = c + 1;
	}
}

static bool span_eq(struct span a, const char *s)
{
	size_t n = strlen(s);
	return a.n == n && memcmp(a.s, s, n) == 0;
}

/* A decimal id, 0..4294967294 ((uid_t)-1 is "no id" to the kernel). */
static int parse_id_n(const char *s, size_t n, uint32_t *ret)
{
	if (n == 0 || n > 10)
		return -EINVAL;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v >= UINT32_MAX)
		return -ERANGE;
	*ret = (uint32_t)v;
	return 0;
}

static bool is_number(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* A line worth parsing: not empty, no comment, no NIS "+"/"-" entry, no
 * NUL byte (which would cut copied strings short). */
static bool db_line(struct span l)
{
	return l.n > 0 && l.s[0] != '#' && l.s[0] != '+' && l.s[0] != '-' &&
	       !memchr(l.s, '\0', l.n);
}

static int copy_span(char *dst, size_t len, struct span s)
{
	if (s.n >= len)
		return -ENAMETOOLONG;
	memcpy(dst, s.s, s.n);
	dst[s.n] = '\0';
	return 0;
}

/* passwd: name:password:uid:gid:gecos:home:shell */
enum { PW_NAME, PW_PASSWD, PW_UID, PW_GID, PW_GECOS, PW_HOME, PW_SHELL, PW_FIELDS };
/* group: name:password:gid:members */
enum { GR_NAME, GR_PASSWD, GR_GID, GR_MEMBERS, GR_FIELDS };

/* Find the passwd entry by name (name != NULL) or uid; 1 found, 0 not. */
static int passwd_find(const char *buf, size_t len, const char *name, uint32_t uid, struct span *f)
{
	size_t pos = 0;
	struct span l;
	while (next_line(buf, len, &pos, &l)) {
		uint32_t u, g;
		if (!db_line(l) || split(l, ':', f, PW_FIELDS) != PW_FIELDS ||
		    parse_id_n(f[PW_UID].s, f[PW_UID].n, &u) < 0 ||
		    parse_id_n(f[PW_GID].s, f[PW_GID].n, &g) < 0)
			continue;
		if (name ? span_eq(f[PW_NAME], name) : u == uid)
			return 1;
	}
	return 0;
}

/* The gid of group `name`; 1 found, 0 not. */
static int group_find(const char *buf, size_t len, const char *name, uint32_t *ret)
{
	size_t pos = 0;
	struct span l, f[GR_FIELDS + 1];
	while (next_line(buf, len, &pos, &l)) {
		uint32_t g;
		if (!db_line(l) || split(l, ':', f, GR_FIELDS) != GR_FIELDS ||
		    parse_id_n(f[GR_GID].s, f[GR_GID].n, &g) < 0)
			continue;
		if (span_eq(f[GR_NAME], name)) {
			*ret = g;
			return 1;
		}
	}
	return 0;
}

static void add_group(struct xarch_user *u, gid_t g)
{
	for (size_t i = 0; i < u->n_groups; i++)
		if (u->groups[i] == g)
			return;
	if (u->n_groups < ARRAY_SIZE(u->groups))
		u->groups[u->n_groups++] = g;
}

/* Groups whose member list names `user`. */
static void group_members(const char *buf, size_t len, const char *user, struct xarch_user *u)
{
	size_t pos = 0;
	struct span l, f[GR_FIELDS + 1];
	while (next_line(buf, len, &pos, &l)) {
		uint32_t g;
		if (!db_line(l) || split(l, ':', f, GR_FIELDS) != GR_FIELDS ||
		    parse_id_n(f[GR_GID].s, f[GR_GID].n, &g) < 0)
			continue;
		const char *s = f[GR_MEMBERS].s, *end = s + f[GR_MEMBERS].n;
		while (s < end) {
			const char *c = memchr(s, ',', (size_t)(end - s));
			struct span m = {s, c ? (size_t)(c - s) : (size_t)(end - s)};
			if (span_eq(m, user)) {
				add_group(u, g);
				break;
			}
			s = c ? c + 1 : end;
		}
	}
}

int xarch_root_user(int rootfd, const char *spec, struct xarch_user *ret, struct xarch_error *err)
{
	char user[256], group[256];
	struct xarch_user u = {0};
	int r;

	if (!spec || !*spec)
		return xarch_err(err, EINVAL, "empty user");
	const char *colon = strchr(spec, ':');
	size_t ulen = colon ? (size_t)(colon - spec) : strlen(spec);
	if (ulen == 0 || ulen >= sizeof(user) || (colon && (!colon[1] || strchr(colon + 1, ':'))))
		return xarch_err(err, EINVAL,
				 "invalid user '%.300s': expected NAME|UID[:GROUP|GID]", spec);
	memcpy(user, spec, ulen);
	user[ulen] = '\0';
	if (colon && xa_strcpy(group, sizeof(group), colon + 1) < 0)
		return xarch_err(err, EINVAL, "invalid user '%.300s': group name too long", spec);

	_cleanup_free_ char *pw = NULL, *gr = NULL;
	size_t pw_len = 0, gr_len = 0;
	if ((r = read_in_root(rootfd, "/etc/passwd", &pw, &pw_len, err)) < 0)
		return r;
	if ((r = read_in_root(rootfd, "/etc/group", &gr, &gr_len, err)) < 0)
		return r;

	struct span f[PW_FIELDS + 1];
	bool numeric = is_number(user);
	uint32_t id = 0;
	if (numeric && parse_id_n(user, ulen, &id) < 0)
		return xarch_err(err, EINVAL, "invalid uid '%s': out of range", user);
	int found = pw ? passwd_find(pw, pw_len, numeric ? NULL : user, id, f) : 0;
	if (!found && !numeric)
		return xarch_err(err, ENOENT, "no user '%s' in the rootfs's /etc/passwd%s", user,
				 pw ? "" : " (there is no /etc/passwd)");
	if (found) {
		uint32_t g = 0;
		parse_id_n(f[PW_UID].s, f[PW_UID].n, &id);
		parse_id_n(f[PW_GID].s, f[PW_GID].n, &g);
		u.gid = g;
		if (copy_span(u.name, sizeof(u.name), f[PW_NAME]) < 0)
			return xarch_err(err, ENAMETOOLONG,
					 "user name of uid %u in /etc/passwd is too long", id);
		if (copy_span(u.home, sizeof(u.home), f[PW_HOME]) < 0 ||
		    copy_span(u.shell, sizeof(u.shell), f[PW_SHELL]) < 0)
			return xarch_err(err, ENAMETOOLONG,
					 "home or shell of user '%s' in /etc/passwd is too long",
					 u.name);
		if (!u.home[0])
			strcpy(u.home, "/");
	} else {
		/* a uid the image does not know: like docker, group 0 */
		u.gid = 0;
		strcpy(u.home, "/");
	}
	u.uid = id;

	if (colon) {
		uint32_t g;
		if (is_number(group)) {
			if (parse_id_n(group, strlen(group), &g) < 0)
				return xarch_err(err, EINVAL, "invalid gid '%s': out of range",
						 group);
		} else if (!gr || !group_find(gr, gr_len, group, &g)) {
			return xarch_err(err, ENOENT, "no group '%s' in the rootfs's /etc/group%s",
					 group, gr ? "" : " (there is no /etc/group)");
		}
		u.gid = g;
	}

	/* what initgroups(3) would give: the primary group, then every
	 * group listing the user by name */
	add_group(&u, u.gid);
	if (u.name[0] && gr)
		group_members(gr, gr_len, u.name, &u);

	*ret = u;
	return 0;
}

/* ---- the rootfs's architecture ------------------------------------------ */

static uint32_t rd(const uint8_t *p, size_t n, bool be)
{
	uint32_t v = 0;
	for (size_t i = 0; i < n; i++)
		v |= (uint32_t)p[i] << (8 * (be ? n - 1 - i : i));
	return v;
}

static int arch_of(int rootfd, const char *path, const struct xarch_arch **ret,
		   struct xarch_error *err)
{
	_cleanup_close_ int fd = root_open(rootfd, path, O_RDONLY, 0);
	if (fd < 0)
		return xarch_err_sys(err, -fd, "cannot open '%s' inside the rootfs", path);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return xarch_err_sys(err, errno, "cannot stat '%s' inside the rootfs", path);
	if (!S_ISREG(st.st_mode))
		return xarch_err(err, ENOEXEC, "'%s' in the rootfs is not a regular file", path);
	uint8_t h[64];
	size_t n = 0;
	while (n < sizeof(h)) {
		ssize_t k = read(fd, h + n, sizeof(h) - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return xarch_err_sys(err, errno, "cannot read '%s' inside the rootfs",
					     path);
		if (k == 0)
			break;
		n += (size_t)k;
	}
	if (n >= 2 && h[0] == '#' && h[1] == '!')
		return xarch_err(err, ENOEXEC,
				 "'%s' in the rootfs is a script, not an ELF program: name an "
				 "ELF binary of the rootfs to detect its architecture",
				 path);
	if (n < 6 || memcmp(h,
			    "\x7f"
			    "ELF",
			    4) != 0)
		return xarch_err(err, ENOEXEC, "'%s' in the rootfs is not an ELF file", path);
	unsigned cls = h[4], data = h[5];
	if ((cls != 1 && cls != 2) || (data != 1 && data != 2))
		return xarch_err(err, ENOEXEC, "'%s' in the rootfs: bad ELF class %u or data %u",
				 path, cls, data);
	size_t need = cls == 2 ? 64 : 52;
	if (n < need)
		return xarch_err(err, ENOEXEC,
				 "'%s' in the rootfs: truncated ELF header (%zu bytes)", path, n);
	bool be = data == 2;
	unsigned machine = rd(h + 18, 2, be);
	uint32_t eflags = rd(h + (cls == 2 ? 48 : 36), 4, be);
	const struct xarch_arch *a = xarch_arch_from_elf(cls, data, machine, eflags);
	if (!a)
		return xarch_err(err, ENOEXEC,
				 "'%s' in the rootfs: unknown ELF machine %u (%u-bit, %s endian)",
				 path, machine, cls == 2 ? 64 : 32, be ? "big" : "little");
	*ret = a;
	return 0;
}

int xarch_root_arch(int rootfd, const char *prog, const struct xarch_arch **ret,
		    struct xarch_error *err)
{
	static const char *const defaults[] = {"/bin/sh", "/usr/bin/env", "/sbin/init"};
	const char *const *list = prog ? &prog : defaults;
	size_t n = prog ? 1 : ARRAY_SIZE(defaults);
	for (size_t i = 0; i < n; i++) {
		/* a missing (or dangling) default: try the next one */
		struct stat st;
		_cleanup_close_ int fd = root_open(rootfd, list[i], O_PATH, 0);
		if (fd == -ENOENT)
			continue;
		if (fd >= 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) && !prog)
			continue;
		return arch_of(rootfd, list[i], ret, err);
	}
	if (prog)
		return xarch_err(err, ENOENT, "no '%s' in the rootfs", prog);
	return xarch_err(err, ENOENT,
			 "no /bin/sh, /usr/bin/env or /sbin/init in the rootfs to detect its "
			 "architecture from");
}

/* ---- docker --env-file ---------------------------------------------------- */

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int xarch_env_file(const char *path, char ***envv, size_t *n, struct xarch_error *err)
{
	if (!path || !envv || !n)
		return xarch_err(err, EINVAL, "no env file");
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int r = xa_read_file(path, MAX_ENV_FILE, &buf, &len, err);
	if (r < 0)
		return r;

	char **add = NULL;
	size_t n_add = 0, cap = 0, pos = 0, lineno = 0;
	struct span l;
	while (next_line(buf, len, &pos, &l)) {
		lineno++;
		if (l.n && l.s[l.n - 1] == '\r')
			l.n--;
		if (lineno == 1 && l.n >= 3 && memcmp(l.s, "\xef\xbb\xbf", 3) == 0) {
			l.s += 3;
			l.n -= 3;
		}
		if (memchr(l.s, '\0', l.n)) {
			r = xarch_err(err, EINVAL, "%s:%zu: NUL byte in line", path, lineno);
			goto fail;
		}
		while (l.n && is_space(*l.s)) {
			l.s++;
			l.n--;
		}
		if (l.n == 0 || l.s[0] == '#')
			continue;
		const char *eq = memchr(l.s, '=', l.n);
		size_t klen = eq ? (size_t)(eq - l.s) : l.n;
		if (klen == 0) {
			r = xarch_err(err, EINVAL, "%s:%zu: no variable name in '%.*s'", path,
				      lineno, (int)(l.n > 64 ? 64 : l.n), l.s);
			goto fail;
		}
		for (size_t i = 0; i < klen; i++)
			if (is_space(l.s[i])) {
				r = xarch_err(err, EINVAL,
					      "%s:%zu: variable '%.*s' contains whitespace", path,
					      lineno, (int)(klen > 64 ? 64 : klen), l.s);
				goto fail;
			}
		char *entry;
		if (eq) {
			entry = strndup(l.s, l.n);
		} else {
			/* KEY alone: the caller's value, or nothing */
			_cleanup_free_ char *key = strndup(l.s, klen);
			if (!key) {
				r = xarch_err(err, ENOMEM, "out of memory");
				goto fail;
			}
			const char *v = getenv(key);
			if (!v)
				continue;
			if (asprintf(&entry, "%s=%s", key, v) < 0)
				entry = NULL;
		}
		if (!entry) {
			r = xarch_err(err, ENOMEM, "out of memory");
			goto fail;
		}
		if (n_add == cap) {
			size_t nc = cap ? cap * 2 : 16;
			char **nv = realloc(add, nc * sizeof(*nv));
			if (!nv) {
				free(entry);
				r = xarch_err(err, ENOMEM, "out of memory");
				goto fail;
			}
			add = nv;
			cap = nc;
		}
		add[n_add++] = entry;
	}

	size_t total;
	if (__builtin_add_overflow(*n, n_add, &total) || total > SIZE_MAX / sizeof(char *) - 1) {
		r = xarch_err(err, EOVERFLOW, "too many environment variables");
		goto fail;
	}
	char **nv = realloc(*envv, (total + 1) * sizeof(*nv));
	if (!nv) {
		r = xarch_err(err, ENOMEM, "out of memory");
		goto fail;
	}
	if (n_add)
		memcpy(nv + *n, add, n_add * sizeof(*nv));
	nv[total] = NULL;
	free(add);
	*envv = nv;
	*n = total;
	return (int)(n_add > INT_MAX ? INT_MAX : n_add);
fail:
	strv_free(add, n_add);
	return r;
}

int xarch_host_user(const char *name, uid_t uid, struct xarch_user *ret,
		    struct xarch_error *err)
{
	char spec[32];
	_cleanup_close_ int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return xarch_err_sys(err, errno, "cannot open '/'");
	if (!name) {
		snprintf(spec, sizeof(spec), "%u", (unsigned)uid);
		name = spec;
	}
	return xarch_root_user(root, name, ret, err);
}
