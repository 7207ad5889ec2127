// SPDX-License-Identifier: MIT
/*
 * Applying image layers (OCI image-spec, layer.md) to a rootfs directory.
 *
 * A layer is untrusted input.  libarchive only parses it here; every
 * change to the tree is made by this file with *at() calls relative to a
 * directory fd that was resolved inside the root (xarch_root_open /
 * xarch_root_mkdir_p: openat2 RESOLVE_IN_ROOT or the component walk), and
 * the final component is never followed (O_NOFOLLOW, AT_SYMLINK_NOFOLLOW,
 * O_EXCL).  So a symlink planted by this or an earlier layer, "..", or an
 * absolute name can point anywhere: it is resolved against the root.
 *
 * Decisions (see doc-layer.md):
 *  - a leading "/" is stripped, like tar does; a ".." component is an
 *    error naming the entry (tar skips such members; a layer that has one
 *    is broken or hostile);
 *  - whiteouts apply to lower layers only: a path this layer wrote (or a
 *    directory it wrote below) survives a later whiteout of it in the same
 *    layer, except for the lower children of such a directory;
 *  - opaque markers are collected and applied when the layer ends;
 *  - device nodes without opts->privileged are skipped and counted;
 *  - xattrs: everything when privileged, user.* only otherwise; a
 *    namespace the filesystem or the kernel refuses is counted, not fatal;
 *  - directory modes and times are set when the layer ends, deepest first,
 *    so read-only directories can still be filled and mtimes survive.
 */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>

#include <zlib.h>

#include "digest.h"
#include "internal.h"
#include "xarch/image.h"
#include "xarch/rootfs.h"

#define WH_PREFIX     ".wh."
#define WH_META	      ".wh..wh."
#define WH_OPAQUE     ".wh..wh..opq"
#define READ_BLOCK    (64u << 10)
#define PROGRESS_STEP (1u << 20)
#define RM_MAX_DEPTH  4096 /* directories held open while removing a tree */
#define DIR_MODE      0755 /* parents a layer does not list */

/* ---- messages ------------------------------------------------------------ */

/* An entry name fit for a one-line message: control bytes as '?', long
 * names cut. */
static const char *printable(const char *s, char *buf, size_t len)
{
	size_t n = 0;
	for (; *s && n + 4 < len; s++)
		buf[n++] = ((unsigned char)*s < 0x20 || *s == 0x7f) ? '?' : *s;
	if (*s) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}

/* "layer entry 'NAME': ..." (+ ": strerror" when `sys`). */
static int entry_err(struct xarch_error *err, const char *entry, int code, bool sys,
		     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int entry_err(struct xarch_error *err, const char *entry, int code, bool sys,
		     const char *fmt, ...)
{
	char name[104], what[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	printable(entry ? entry : "", name, sizeof(name));
	if (sys)
		return xarch_err_sys(err, code, "layer entry '%s': %s", name, what);
	return xarch_err(err, code, "layer entry '%s': %s", name, what);
}

/* ---- paths ---------------------------------------------------------------- */

/* The canonical form of a member name: relative, without "." or empty
 * components or a trailing slash; "" is the root.  A leading "/" is
 * dropped (tar's behaviour); ".." is -EINVAL. */
static int canon_path(const char *in, char *out, size_t len)
{
	size_t n = 0;
	const char *p = in;
	if (len == 0)
		return -ENAMETOOLONG;
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *c = p;
		size_t cl = strcspn(p, "/");
		p += cl;
		if (cl == 1 && c[0] == '.')
			continue;
		if (cl == 2 && c[0] == '.' && c[1] == '.')
			return -EINVAL;
		if (cl > NAME_MAX)
			return -ENAMETOOLONG;
		size_t need;
		if (__builtin_add_overflow(n + (n ? 1 : 0), cl, &need) || need >= len)
			return -ENAMETOOLONG;
		if (n)
			out[n++] = '/';
		memcpy(out + n, c, cl);
		n += cl;
	}
	out[n] = '\0';
	return 0;
}

/* Split a canonical path in place: *dir ("" for the root) and *name. */
static void split_path(char *path, const char **dir, const char **name)
{
	char *slash = strrchr(path, '/');
	if (!slash) {
		*dir = "";
		*name = path;
		return;
	}
	*slash = '\0';
	*dir = path;
	*name = slash + 1;
}

static unsigned path_depth(const char *p)
{
	if (!*p)
		return 0;
	unsigned d = 1;
	for (; *p; p++)
		d += *p == '/';
	return d;
}

/* ---- the paths a layer wrote ---------------------------------------------- */

/* A set of canonical paths (open addressing).  A path is only in it with
 * all its ancestors, so a directory the layer wrote below is in it too. */
struct pathset {
	char **slots;
	size_t cap, n;
};

static uint64_t str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static char **pathset_slot(char **slots, size_t cap, const char *p)
{
	size_t i = str_hash(p) & (cap - 1);
	while (slots[i] && strcmp(slots[i], p) != 0)
		i = (i + 1) & (cap - 1);
	return &slots[i];
}

static bool pathset_has(const struct pathset *s, const char *p)
{
	return s->cap && *pathset_slot(s->slots, s->cap, p);
}

/* 1 added, 0 already there, -ENOMEM. */
static int pathset_add(struct pathset *s, const char *p)
{
	if ((s->n + 1) * 2 > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 256;
		if (cap > SIZE_MAX / sizeof(char *))
			return -ENOMEM;
		char **slots = calloc(cap, sizeof(char *));
		if (!slots)
			return -ENOMEM;
		for (size_t i = 0; i < s->cap; i++)
			if (s->slots[i])
				*pathset_slot(slots, cap, s->slots[i]) = s->slots[i];
		free(s->slots);
		s->slots = slots;
		s->cap = cap;
	}
	char **slot = pathset_slot(s->slots, s->cap, p);
	if (*slot)
		return 0;
	if (!(*slot = strdup(p)))
		return -ENOMEM;
	s->n++;
	return 1;
}

/* Add `path` and its ancestors. */
static int pathset_mark(struct pathset *s, const char *path)
{
	char buf[PATH_MAX];
	if (xa_strcpy(buf, sizeof(buf), path) < 0)
		return -ENAMETOOLONG;
	while (*buf) {
		int r = pathset_add(s, buf);
		if (r <= 0)
			return r; /* there: so are its ancestors */
		char *slash = strrchr(buf, '/');
		if (!slash)
			break;
		*slash = '\0';
	}
	return 0;
}

static void pathset_release(struct pathset *s)
{
	for (size_t i = 0; i < s->cap; i++)
		free(s->slots[i]);
	free(s->slots);
	s->slots = NULL;
	s->cap = s->n = 0;
}

/* ---- removing ------------------------------------------------------------- */

static int remove_at(int dirfd, const char *name, unsigned depth);

/* Remove the children of directory `fd` (taken, also on failure: one fd
 * per level of a deep tree).  With `keep`, a child whose path (`path` +
 * "/" + name) is in it stays, and a kept directory is pruned the same
 * way: what an opaque whiteout does. */
static int clear_dir(int fd, const char *path, const struct pathset *keep, unsigned depth)
{
	if (depth >= RM_MAX_DEPTH) {
		close(fd);
		return -ELOOP;
	}
	_cleanup_closedir_ DIR *d = fdopendir(fd);
	if (!d) {
		int e = errno;
		close(fd);
		return -e;
	}
	struct dirent *de;
	char child[PATH_MAX];
	int r = 0;
	while ((errno = 0, de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (keep &&
		    xa_snprintf(child, sizeof(child), "%s%s%s", path, *path ? "/" : "",
				de->d_name) == 0 &&
		    pathset_has(keep, child)) {
			int cfd = openat(dirfd(d), de->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (cfd < 0)
				continue; /* a file (or symlink) the layer wrote */
			if ((r = clear_dir(cfd, child, keep, depth + 1)) < 0)
				return r;
			continue;
		}
		if ((r = remove_at(dirfd(d), de->d_name, depth + 1)) < 0)
			return r;
	}
	return errno ? -errno : 0;
}

/* rm -rf of `name` in `dirfd`, never following a symlink; a missing
 * entry is fine. */
static int remove_at(int dirfd, const char *name, unsigned depth)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
			return -errno;
		return 0;
	}
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* a read-only directory of a lower layer: we own it unprivileged */
	if ((st.st_mode & 0700) != 0700)
		(void)fchmod(fd, (st.st_mode & 07777) | 0700);
	int r = clear_dir(fd, NULL, NULL, depth);
	if (r < 0)
		return r;
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

/* ---- one layer ------------------------------------------------------------ */

struct dir_rec {
	char *path;
	unsigned depth;
	size_t seq;
	mode_t mode;
	struct timespec times[2];
};

struct applier {
	int rootfd;
	const struct xarch_layer_opts *o;
	struct xarch_layer_stats *st;
	struct archive *a;
	const char *entry; /* the member name, for messages */
	char prev[104];	   /* the last one, printable: `entry` dies with it */
	struct pathset written;
	char **opaque;
	size_t n_opaque, cap_opaque;
	struct dir_rec *dirs;
	size_t n_dirs, cap_dirs;
	uint64_t total, reported;
	const uint64_t *stream_bytes; /* compressed bytes read, when we read the stream */
};

static void progress(struct applier *ap, bool force)
{
	if (!ap->o->progress)
		return;
	la_int64_t b = archive_filter_bytes(ap->a, -1);
	uint64_t done = ap->stream_bytes ? *ap->stream_bytes : b > 0 ? (uint64_t)b : 0;
	if (!force && done - ap->reported < PROGRESS_STEP)
		return;
	ap->reported = done;
	ap->o->progress(ap->o->progress_data, done, ap->total);
}

static int grow(void **v, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return 0;
	size_t nc = *cap ? *cap * 2 : 16, bytes;
	if (__builtin_mul_overflow(nc, size, &bytes))
		return -ENOMEM;
	void *nv = realloc(*v, bytes);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = nc;
	return 0;
}

static void entry_times(struct archive_entry *e, struct timespec t[2])
{
	t[1].tv_sec = archive_entry_mtime(e);
	t[1].tv_nsec = archive_entry_mtime_nsec(e);
	if (archive_entry_atime_is_set(e)) {
		t[0].tv_sec = archive_entry_atime(e);
		t[0].tv_nsec = archive_entry_atime_nsec(e);
	} else {
		t[0] = t[1];
	}
	if (!archive_entry_mtime_is_set(e))
		t[0].tv_nsec = t[1].tv_nsec = UTIME_OMIT;
	if (t[0].tv_nsec < 0 || t[0].tv_nsec > 999999999)
		t[0].tv_nsec = 0;
	if (t[1].tv_nsec < 0 || t[1].tv_nsec > 999999999)
		t[1].tv_nsec = 0;
}

/* Set the entry's xattrs on `fd`, or on `path` (a /proc/self/fd link)
 * when fd < 0. */
static int apply_xattrs(struct applier *ap, struct archive_entry *e, int fd, const char *path,
			struct xarch_error *err)
{
	const char *name;
	const void *val;
	size_t size;
	if (archive_entry_xattr_reset(e) == 0)
		return 0;
	while (archive_entry_xattr_next(e, &name, &val, &size) == ARCHIVE_OK) {
		if (!name || !*name)
			continue;
		if (!ap->o->privileged && strncmp(name, "user.", 5) != 0) {
			ap->st->skipped_xattrs++;
			continue;
		}
		int r = fd >= 0 ? fsetxattr(fd, name, val, size, 0)
				: setxattr(path, name, val, size, 0);
		if (r == 0)
			continue;
		if (errno == ENOTSUP || errno == EPERM || errno == EACCES || errno == EINVAL ||
		    errno == ERANGE || errno == E2BIG) {
			ap->st->skipped_xattrs++;
			continue;
		}
		char n[128];
		return entry_err(err, ap->entry, errno, true, "cannot set xattr '%s'",
				 printable(name, n, sizeof(n)));
	}
	return 0;
}

static int chown_fd(struct applier *ap, struct archive_entry *e, int fd, struct xarch_error *err)
{
	if (!ap->o->keep_owner)
		return 0;
	la_int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);
	if (uid < 0 || uid >= UINT32_MAX || gid < 0 || gid >= UINT32_MAX)
		return entry_err(err, ap->entry, EINVAL, false, "owner %lld:%lld out of range",
				 (long long)uid, (long long)gid);
	if (fchownat(fd, "", (uid_t)uid, (gid_t)gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return entry_err(err, ap->entry, errno, true, "cannot change owner to %lld:%lld",
				 (long long)uid, (long long)gid);
	return 0;
}

static int write_data(struct applier *ap, struct archive_entry *e, int fd, struct xarch_error *err)
{
	const void *buf;
	size_t size;
	la_int64_t off;
	uint64_t end = 0;
	for (;;) {
		int r = archive_read_data_block(ap->a, &buf, &size, &off);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN)
			return entry_err(err, ap->entry, EIO, false, "%s",
					 archive_error_string(ap->a) ?: "cannot read data");
		uint64_t stop;
		if (off < 0 || __builtin_add_overflow((uint64_t)off, size, &stop) ||
		    stop > INT64_MAX)
			return entry_err(err, ap->entry, EINVAL, false, "bad data offset");
		const char *p = buf;
		uint64_t at = (uint64_t)off;
		while (size) {
			ssize_t w = pwrite(fd, p, size, (off_t)at);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				return entry_err(err, ap->entry, w < 0 ? errno : EIO, true,
						 "cannot write");
			p += w;
			at += (uint64_t)w;
			size -= (size_t)w;
		}
		if (stop > end)
			end = stop;
		progress(ap, false);
	}
	/* a sparse file may end in a hole */
	la_int64_t want = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
	if (want > 0 && (uint64_t)want > end && ftruncate(fd, (off_t)want) < 0)
		return entry_err(err, ap->entry, errno, true, "cannot set size");
	return 0;
}

/* Make room for `name` in `dirfd`: an existing directory stays when the
 * new entry is one too (returns 1), anything else is removed (0). */
static int make_room(int dirfd, const char *name, bool want_dir)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (S_ISDIR(st.st_mode))
		return want_dir ? 1 : remove_at(dirfd, name, 0);
	if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

static int add_dir_rec(struct applier *ap, const char *path, struct archive_entry *e)
{
	if (grow((void **)&ap->dirs, &ap->cap_dirs, ap->n_dirs, sizeof(*ap->dirs)) < 0)
		return -ENOMEM;
	struct dir_rec *d = &ap->dirs[ap->n_dirs];
	if (!(d->path = strdup(path)))
		return -ENOMEM;
	d->depth = path_depth(path);
	d->seq = ap->n_dirs;
	d->mode = archive_entry_mode(e) & 07777;
	entry_times(e, d->times);
	ap->n_dirs++;
	return 0;
}

static int do_dir(struct applier *ap, struct archive_entry *e, int pfd, const char *name,
		  const char *path, struct xarch_error *err)
{
	_cleanup_close_ int fd = -1;
	if (!*path) {
		fd = openat(ap->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	} else {
		int r = make_room(pfd, name, true);
		if (r < 0)
			return entry_err(err, ap->entry, -r, true, "cannot replace what is there");
		/* owner-only until the layer ends, when the real mode is set */
		if (r == 0 && mkdirat(pfd, name, 0700) < 0)
			return entry_err(err, ap->entry, errno, true, "cannot create directory");
		fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0)
		return entry_err(err, ap->entry, errno, true, "cannot open directory");
	int r = chown_fd(ap, e, fd, err);
	if (r < 0)
		return r;
	if ((r = apply_xattrs(ap, e, fd, NULL, err)) < 0)
		return r;
	if (add_dir_rec(ap, path, e) < 0)
		return entry_err(err, ap->entry, ENOMEM, false, "out of memory");
	return 0;
}

static int do_file(struct applier *ap, struct archive_entry *e, int pfd, const char *name,
		   struct xarch_error *err)
{
	int r = make_room(pfd, name, false);
	if (r < 0)
		return entry_err(err, ap->entry, -r, true, "cannot replace what is there");
	_cleanup_close_ int fd =
	    openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return entry_err(err, ap->entry, errno, true, "cannot create file");
	if ((r = write_data(ap, e, fd, err)) < 0)
		return r;
	/* owner before mode: chown clears setuid/setgid */
	if ((r = chown_fd(ap, e, fd, err)) < 0)
		return r;
	if (fchmod(fd, archive_entry_mode(e) & 07777) < 0)
		return entry_err(err, ap->entry, errno, true, "cannot set mode");
	/* after chown, which drops security.capability */
	if ((r = apply_xattrs(ap, e, fd, NULL, err)) < 0)
		return r;
	struct timespec t[2];
	entry_times(e, t);
	if (futimens(fd, t) < 0)
		return entry_err(err, ap->entry, errno, true, "cannot set times");
	return 0;
}

static int do_symlink(struct applier *ap, struct archive_entry *e, int pfd, const char *name,
		      struct xarch_error *err)
{
	const char *target = archive_entry_symlink(e);
	if (!target || !*target)
		return entry_err(err, ap->entry, EINVAL, false, "symbolic link without a target");
	int r = make_room(pfd, name, false);
	if (r < 0)
		return entry_err(err, ap->entry, -r, true, "cannot replace what is there");
	/* created as it is: it is only ever resolved inside the root */
	if (symlinkat(target, pfd, name) < 0)
		return entry_err(err, ap->entry, errno, true, "cannot create symbolic link");
	if (ap->o->keep_owner) {
		la_int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);
		if (uid < 0 || uid >= UINT32_MAX || gid < 0 || gid >= UINT32_MAX ||
		    fchownat(pfd, name, (uid_t)uid, (gid_t)gid, AT_SYMLINK_NOFOLLOW) < 0)
			return entry_err(err, ap->entry, errno ? errno : EINVAL, true,
					 "cannot change owner to %lld:%lld", (long long)uid,
					 (long long)gid);
	}
	if (archive_entry_xattr_count(e))
		ap->st->skipped_xattrs += (uint64_t)archive_entry_xattr_count(e);
	struct timespec t[2];
	entry_times(e, t);
	if (utimensat(pfd, name, t, AT_SYMLINK_NOFOLLOW) < 0)
		return entry_err(err, ap->entry, errno, true, "cannot set times");
	return 0;
}

static int do_node(struct applier *ap, struct archive_entry *e, int pfd, const char *name,
		   mode_t type, struct xarch_error *err)
{
	if (type != S_IFIFO && !ap->o->privileged) {
		ap->st->skipped_devices++;
		return 0;
	}
	int r = make_room(pfd, name, false);
	if (r < 0)
		return entry_err(err, ap->entry, -r, true, "cannot replace what is there");
	if (mknodat(pfd, name, type | 0600, type == S_IFIFO ? 0 : archive_entry_rdev(e)) < 0)
		return entry_err(err, ap->entry, errno, true, "cannot create %s",
				 type == S_IFIFO ? "fifo" : "device node");
	/* opening a device or fifo could block or act: work on an O_PATH fd
	 * and its /proc/self/fd link, which leads to the node itself */
	_cleanup_close_ int fd = openat(pfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || (st.st_mode & S_IFMT) != type)
		return entry_err(err, ap->entry, fd < 0 ? errno : EIO, true, "cannot open node");
	if ((r = chown_fd(ap, e, fd, err)) < 0)
		return r;
	char proc[64];
	xarch_fd_path(fd, proc, sizeof(proc));
	if (chmod(proc, archive_entry_mode(e) & 07777) < 0)
		return entry_err(err, ap->entry, errno, true, "cannot set mode");
	if ((r = apply_xattrs(ap, e, -1, proc, err)) < 0)
		return r;
	struct timespec t[2];
	entry_times(e, t);
	if (utimensat(AT_FDCWD, proc, t, 0) < 0)
		return entry_err(err, ap->entry, errno, true, "cannot set times");
	return 0;
}

static int do_hardlink(struct applier *ap, const char *link, int pfd, const char *name,
		       struct xarch_error *err)
{
	char target[PATH_MAX], shown[256];
	int r = canon_path(link, target, sizeof(target));
	if (r == -EINVAL)
		return entry_err(err, ap->entry, EINVAL, false,
				 "hard link target '%s' has a '..' component",
				 printable(link, shown, sizeof(shown)));
	if (r < 0 || !*target)
		return entry_err(err, ap->entry, r < 0 ? -r : EINVAL, false,
				 "invalid hard link target '%s'",
				 printable(link, shown, sizeof(shown)));
	/* the target as seen inside the root; a symlink is linked itself */
	_cleanup_close_ int tfd = xarch_root_open(ap->rootfd, target, O_PATH | O_NOFOLLOW, 0, NULL);
	if (tfd < 0)
		return entry_err(err, ap->entry, -tfd, true, "hard link target '%s'",
				 printable(target, shown, sizeof(shown)));
	struct stat tst, st;
	if (fstat(tfd, &tst) < 0)
		return entry_err(err, ap->entry, errno, true, "cannot stat hard link target");
	if (S_ISDIR(tst.st_mode))
		return entry_err(err, ap->entry, EPERM, false,
				 "hard link target '%s' is a directory",
				 printable(target, shown, sizeof(shown)));
	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_dev == tst.st_dev &&
	    st.st_ino == tst.st_ino)
		return 0; /* already that file */
	if ((r = make_room(pfd, name, false)) < 0)
		return entry_err(err, ap->entry, -r, true, "cannot replace what is there");
	char proc[64];
	xarch_fd_path(tfd, proc, sizeof(proc));
	if (linkat(AT_FDCWD, proc, pfd, name, AT_SYMLINK_FOLLOW) < 0 &&
	    (errno != ENOENT || linkat(tfd, "", pfd, name, AT_EMPTY_PATH) < 0))
		return entry_err(err, ap->entry, errno, true, "cannot create hard link");
	return 0;
}

/* The directory `dir` inside the root as an O_PATH fd, created (mkdir -p
 * inside the root) when `create`. */
static int open_parent(struct applier *ap, const char *dir, bool create)
{
	if (!*dir) {
		int fd = openat(ap->rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
		return fd < 0 ? -errno : fd;
	}
	if (create)
		return xarch_root_mkdir_p(ap->rootfd, dir, DIR_MODE, NULL);
	return xarch_root_open(ap->rootfd, dir, O_PATH | O_DIRECTORY, 0, NULL);
}

/* Remove the lower children of `path` (a directory this layer wrote),
 * keeping what the layer wrote. */
static int prune(struct applier *ap, const char *path)
{
	int fd =
	    *path ? xarch_root_open(ap->rootfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0, NULL)
		  : openat(ap->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 && !*path)
		fd = -errno;
	if (fd == -ENOENT || fd == -ENOTDIR || fd == -ELOOP)
		return 0;
	if (fd < 0)
		return fd;
	return clear_dir(fd, path, &ap->written, 0);
}

static int do_whiteout(struct applier *ap, const char *dir, const char *name,
		       struct xarch_error *err)
{
	ap->st->whiteouts++;
	if (strcmp(name, WH_OPAQUE) == 0) {
		if (grow((void **)&ap->opaque, &ap->cap_opaque, ap->n_opaque, sizeof(*ap->opaque)) <
			0 ||
		    !(ap->opaque[ap->n_opaque] = strdup(dir)))
			return entry_err(err, ap->entry, ENOMEM, false, "out of memory");
		ap->n_opaque++;
		if (*dir && pathset_mark(&ap->written, dir) < 0)
			return entry_err(err, ap->entry, ENOMEM, false, "out of memory");
		return 0;
	}
	if (strncmp(name, WH_META, strlen(WH_META)) == 0) {
		/* reserved for the spec (aufs's .wh..wh.plnk and friends) */
		ap->st->whiteouts--;
		ap->st->skipped_other++;
		return 0;
	}
	const char *victim = name + strlen(WH_PREFIX);
	if (!*victim || strcmp(victim, ".") == 0 || strcmp(victim, "..") == 0)
		return entry_err(err, ap->entry, EINVAL, false, "invalid whiteout");

	char path[PATH_MAX];
	if (xa_snprintf(path, sizeof(path), "%s%s%s", dir, *dir ? "/" : "", victim) < 0)
		return entry_err(err, ap->entry, ENAMETOOLONG, false, "name too long");
	if (pathset_has(&ap->written, path)) {
		/* this layer's own entry stays; a directory loses only what
		 * lower layers had in it */
		int r = prune(ap, path);
		if (r < 0)
			return entry_err(err, ap->entry, -r, true, "cannot apply whiteout");
		return 0;
	}
	_cleanup_close_ int pfd = open_parent(ap, dir, false);
	if (pfd == -ENOENT || pfd == -ENOTDIR || pfd == -ELOOP)
		return 0; /* nothing to hide */
	if (pfd < 0)
		return entry_err(err, ap->entry, -pfd, true, "cannot open its directory");
	int r = remove_at(pfd, victim, 0);
	if (r < 0)
		return entry_err(err, ap->entry, -r, true, "cannot apply whiteout");
	return 0;
}

static int apply_entry(struct applier *ap, struct archive_entry *e, struct xarch_error *err)
{
	char path[PATH_MAX], parent[PATH_MAX];
	const char *dir, *name;
	ap->entry = archive_entry_pathname(e);
	if (!ap->entry)
		return xarch_err(err, EINVAL, "layer entry without a (readable) name");
	ap->st->entries++;
	int r = canon_path(ap->entry, path, sizeof(path));
	if (r == -EINVAL)
		return entry_err(err, ap->entry, EINVAL, false,
				 "a '..' component would leave the root");
	if (r < 0)
		return entry_err(err, ap->entry, -r, false, "name too long");
	memcpy(parent, path, strlen(path) + 1);
	split_path(parent, &dir, &name);

	if (!ap->o->plain_tar && strncmp(name, WH_PREFIX, strlen(WH_PREFIX)) == 0)
		return do_whiteout(ap, dir, name, err);

	const char *link = archive_entry_hardlink(e);
	mode_t type = archive_entry_filetype(e);
	if (!*path && (link || type != AE_IFDIR))
		return entry_err(err, ap->entry, EINVAL, false, "the root must be a directory");
	if (type == AE_IFSOCK ||
	    (!link && type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK &&
	     type != AE_IFCHR && type != AE_IFBLK && type != AE_IFIFO)) {
		ap->st->skipped_other++;
		return 0;
	}
	if (pathset_mark(&ap->written, path) < 0)
		return entry_err(err, ap->entry, ENOMEM, false, "out of memory");
	if (!*path)
		return do_dir(ap, e, -1, "", "", err);

	_cleanup_close_ int pfd = open_parent(ap, dir, true);
	if (pfd < 0) {
		char shown[256];
		return entry_err(err, ap->entry, -pfd, true, "cannot create its directory '%s'",
				 printable(dir, shown, sizeof(shown)));
	}
	if (link)
		return do_hardlink(ap, link, pfd, name, err);
	switch (type) {
	case AE_IFDIR:
		return do_dir(ap, e, pfd, name, path, err);
	case AE_IFREG:
		return do_file(ap, e, pfd, name, err);
	case AE_IFLNK:
		return do_symlink(ap, e, pfd, name, err);
	default:
		return do_node(ap, e, pfd, name, type, err);
	}
}

static int dir_rec_cmp(const void *pa, const void *pb)
{
	const struct dir_rec *a = pa, *b = pb;
	if (a->depth != b->depth)
		return a->depth > b->depth ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* When the layer ends: opaque whiteouts, then directory modes and times,
 * deepest first so setting a child's does not change its parent's mtime. */
static int finish(struct applier *ap, struct xarch_error *err)
{
	for (size_t i = 0; i < ap->n_opaque; i++) {
		int r = prune(ap, ap->opaque[i]);
		if (r < 0) {
			char shown[256];
			return xarch_err_sys(err, -r, "cannot apply opaque whiteout of '%s'",
					     printable(ap->opaque[i], shown, sizeof(shown)));
		}
	}
	if (ap->n_dirs)
		qsort(ap->dirs, ap->n_dirs, sizeof(*ap->dirs), dir_rec_cmp);
	for (size_t i = 0; i < ap->n_dirs; i++) {
		struct dir_rec *d = &ap->dirs[i];
		_cleanup_close_ int fd =
		    *d->path ? xarch_root_open(ap->rootfd, d->path,
					       O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0, NULL)
			     : openat(ap->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd == -1 && !*d->path)
			fd = -errno;
		if (fd == -ENOENT || fd == -ENOTDIR || fd == -ELOOP)
			continue; /* replaced or removed later in the layer */
		char shown[256];
		if (fd < 0)
			return xarch_err_sys(err, -fd, "cannot open directory '%s'",
					     printable(d->path, shown, sizeof(shown)));
		if (fchmod(fd, d->mode) < 0 || futimens(fd, d->times) < 0)
			return xarch_err_sys(err, errno, "cannot set mode or times of '%s'",
					     printable(d->path, shown, sizeof(shown)));
	}
	return 0;
}

static void applier_release(struct applier *ap)
{
	if (ap->a)
		archive_read_free(ap->a);
	pathset_release(&ap->written);
	for (size_t i = 0; i < ap->n_opaque; i++)
		free(ap->opaque[i]);
	free(ap->opaque);
	for (size_t i = 0; i < ap->n_dirs; i++)
		free(ap->dirs[i].path);
	free(ap->dirs);
}

/* ---- the layer stream, hashed as it is applied ------------------------------- */

/*
 * With a diff_id to check, the layer reaches libarchive through this reader:
 * gzip is inflated here (so the uncompressed bytes can be hashed in the same
 * pass that applies them, instead of inflating every layer twice) and plain
 * tar passes through hashed.  Other compressions pass through unhashed and
 * libarchive's own filters decompress them.
 */
struct layer_stream {
	int fd;
	enum { LS_UNKNOWN, LS_PLAIN, LS_GZIP, LS_OTHER } kind;
	z_stream z;
	bool z_init, z_end;
	struct xa_sha256 sha;
	uint64_t in_bytes;	/* compressed bytes read, for progress */
	uint8_t in[128 * 1024];
	size_t in_len;		/* bytes of `in` not yet given to inflate */
	uint8_t out[256 * 1024];
	char error[128];
};

static ssize_t ls_fill(struct layer_stream *s)
{
	ssize_t n;
	do
		n = read(s->fd, s->in, sizeof(s->in));
	while (n < 0 && errno == EINTR);
	if (n > 0)
		s->in_bytes += (uint64_t)n;
	return n;
}

static la_ssize_t ls_read(struct archive *a, void *data, const void **buf)
{
	struct layer_stream *s = data;
	if (s->kind != LS_GZIP) {
		ssize_t n = s->in_len ? (ssize_t)s->in_len : ls_fill(s);
		s->in_len = 0;
		if (n < 0) {
			archive_set_error(a, errno, "cannot read the layer");
			return -1;
		}
		if (n > 0 && s->kind == LS_UNKNOWN) {
			const uint8_t *p = s->in;
			bool gz = n >= 2 && p[0] == 0x1f && p[1] == 0x8b;
			bool other = (n >= 4 && !memcmp(p, "\x28\xb5\x2f\xfd", 4)) ||
				     (n >= 6 && !memcmp(p, "\xfd" "7zXZ\0", 6)) ||
				     (n >= 3 && !memcmp(p, "BZh", 3));
			s->kind = gz ? LS_GZIP : other ? LS_OTHER : LS_PLAIN;
			if (gz) {
				s->in_len = (size_t)n;
				return ls_read(a, data, buf);
			}
		}
		if (s->kind == LS_PLAIN && n > 0)
			xa_sha256_update(&s->sha, s->in, (size_t)n);
		*buf = s->in;
		return n;
	}
	if (!s->z_init) {
		if (inflateInit2(&s->z, 15 + 16) != Z_OK) {
			archive_set_error(a, ENOMEM, "cannot start gzip");
			return -1;
		}
		s->z_init = true;
		s->z.next_in = s->in;
		s->z.avail_in = (uInt)s->in_len;
		s->in_len = 0;
	}
	s->z.next_out = s->out;
	s->z.avail_out = sizeof(s->out);
	while (s->z.avail_out == sizeof(s->out) && !s->z_end) {
		if (s->z.avail_in == 0) {
			ssize_t n = ls_fill(s);
			if (n < 0) {
				archive_set_error(a, errno, "cannot read the layer");
				return -1;
			}
			if (n == 0) {
				archive_set_error(a, EINVAL, "truncated gzip stream");
				return -1;
			}
			s->z.next_in = s->in;
			s->z.avail_in = (uInt)n;
		}
		int zr = inflate(&s->z, Z_NO_FLUSH);
		if (zr == Z_STREAM_END) {
			/* another gzip member may follow (multi-member layers) */
			if (s->z.avail_in == 0) {
				ssize_t n = ls_fill(s);
				if (n < 0) {
					archive_set_error(a, errno, "cannot read the layer");
					return -1;
				}
				s->z.next_in = s->in;
				s->z.avail_in = (uInt)(n > 0 ? n : 0);
			}
			if (s->z.avail_in == 0 || inflateReset(&s->z) != Z_OK)
				s->z_end = true;
		} else if (zr != Z_OK && zr != Z_BUF_ERROR) {
			archive_set_error(a, EINVAL, "invalid gzip data: %s",
					  s->z.msg ? s->z.msg : "error");
			return -1;
		}
	}
	size_t got = sizeof(s->out) - s->z.avail_out;
	xa_sha256_update(&s->sha, s->out, got);
	*buf = s->out;
	return (la_ssize_t)got;
}

/* sha256 of a compressed file's decompressed content, via libarchive's
 * raw format (any of the filters layers use). */
static int hash_uncompressed(int fd, char hex[65], struct xarch_error *err)
{
	if (lseek(fd, 0, SEEK_SET) < 0)
		return xarch_err_sys(err, errno, "cannot reread the layer");
	struct archive *a = archive_read_new();
	if (!a)
		return xarch_err(err, ENOMEM, "out of memory");
	struct xa_sha256 c;
	xa_sha256_init(&c);
	struct archive_entry *e;
	int r = 0;
	if (archive_read_support_format_raw(a) != ARCHIVE_OK ||
	    archive_read_support_filter_xz(a) < ARCHIVE_WARN ||
	    archive_read_support_filter_zstd(a) < ARCHIVE_WARN ||
	    archive_read_support_filter_bzip2(a) < ARCHIVE_WARN ||
	    archive_read_open_fd(a, fd, READ_BLOCK) != ARCHIVE_OK ||
	    archive_read_next_header(a, &e) != ARCHIVE_OK) {
		r = xarch_err(err, EBADMSG, "layer: %s", archive_error_string(a) ?: "unreadable");
		goto out;
	}
	for (;;) {
		const void *buf;
		size_t len;
		la_int64_t off;
		int k = archive_read_data_block(a, &buf, &len, &off);
		if (k == ARCHIVE_EOF)
			break;
		if (k < ARCHIVE_WARN) {
			r = xarch_err(err, EBADMSG, "layer: %s", archive_error_string(a) ?: "bad data");
			goto out;
		}
		xa_sha256_update(&c, buf, len);
	}
	xa_sha256_hex(&c, hex);
out:
	archive_read_free(a);
	return r;
}

/* Read what libarchive left (tar padding after the end marker), so the
 * hash covers the whole stream, then compare.  0, or -EBADMSG. */
static int ls_check(struct archive *a, struct layer_stream *s, const char *diff_id,
		    struct xarch_error *err)
{
	const void *buf;
	la_ssize_t n;
	while ((n = ls_read(a, s, &buf)) > 0)
		;
	if (n < 0)
		return xarch_err(err, EBADMSG, "layer: %s", archive_error_string(a) ?: "read error");
	char hex[65];
	if (s->kind == LS_OTHER) {
		/* zstd, xz, bzip2: libarchive decompressed them; hash a second,
		 * raw read of the same file (rare in practice, so not worth a
		 * decompressor of our own per format) */
		int r = hash_uncompressed(s->fd, hex, err);
		if (r < 0)
			return r;
	} else {
		xa_sha256_hex(&s->sha, hex);
	}
	if (strncmp(diff_id, "sha256:", 7) || strcmp(hex, diff_id + 7))
		return xarch_err(err, EBADMSG,
				 "layer does not match its diff_id %s: uncompressed sha256 is %s",
				 diff_id, hex);
	return 0;
}

int xarch_layer_apply_fd(int rootfd, int fd, const struct xarch_layer_opts *o,
			 struct xarch_error *err)
{
	static const struct xarch_layer_opts defaults;
	struct xarch_layer_stats scratch = {0};
	_cleanup_free_ struct layer_stream *ls = NULL;
	struct applier ap = {.rootfd = rootfd, .o = o ? o : &defaults};
	ap.st = ap.o->stats ? ap.o->stats : &scratch;
	struct stat st;
	int r;

	if (rootfd < 0 || fd < 0)
		return xarch_err(err, EBADF, "no root or layer file");
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		ap.total = (uint64_t)st.st_size;
	if (!(ap.a = archive_read_new()))
		return xarch_err(err, ENOMEM, "out of memory");
	/* tar (ustar, pax, GNU) and the compressions layers use: nothing
	 * else libarchive could be talked into parsing */
	if (archive_read_support_format_tar(ap.a) != ARCHIVE_OK ||
	    archive_read_support_filter_gzip(ap.a) < ARCHIVE_WARN ||
	    archive_read_support_filter_xz(ap.a) < ARCHIVE_WARN ||
	    archive_read_support_filter_zstd(ap.a) < ARCHIVE_WARN ||
	    archive_read_support_filter_bzip2(ap.a) < ARCHIVE_WARN) {
		r = xarch_err(err, ENOTSUP, "libarchive: %s",
			      archive_error_string(ap.a) ?: "no tar support");
		goto out;
	}
	int opened;
	if (ap.o->diff_id) {
		if (!(ls = calloc(1, sizeof(*ls)))) {
			r = xarch_err(err, ENOMEM, "out of memory");
			goto out;
		}
		ls->fd = fd;
		xa_sha256_init(&ls->sha);
		ap.stream_bytes = &ls->in_bytes;
		opened = archive_read_open(ap.a, ls, NULL, ls_read, NULL);
	} else {
		opened = archive_read_open_fd(ap.a, fd, READ_BLOCK);
	}
	if (opened != ARCHIVE_OK) {
		r = xarch_err(err, EINVAL, "cannot read layer: %s",
			      archive_error_string(ap.a) ?: "unknown format");
		goto out;
	}
	for (;;) {
		struct archive_entry *e;
		r = archive_read_next_header(ap.a, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			const char *msg = archive_error_string(ap.a) ?: "bad header";
			if (ap.prev[0])
				r = xarch_err(err, EINVAL, "cannot read layer after entry '%s': %s",
					      ap.prev, msg);
			else
				r = xarch_err(err, EINVAL, "cannot read layer: %s", msg);
			goto out;
		}
		if ((r = apply_entry(&ap, e, err)) < 0)
			goto out;
		printable(ap.entry, ap.prev, sizeof(ap.prev));
		progress(&ap, false);
	}
	if (ls && (r = ls_check(ap.a, ls, ap.o->diff_id, err)) < 0)
		goto out;
	if ((r = finish(&ap, err)) < 0)
		goto out;
	progress(&ap, true);
	r = 0;
out:
	applier_release(&ap);
	if (ls && ls->z_init)
		inflateEnd(&ls->z);
	return r;
}

/* ---- a new tree from layers -------------------------------------------------- */

static void remove_tree(const char *path)
{
	_cleanup_free_ char *copy = strdup(path);
	if (!copy)
		return;
	char *slash = strrchr(copy, '/');
	const char *name = slash ? slash + 1 : copy;
	_cleanup_close_ int pfd = -1;
	if (slash) {
		*slash = '\0';
		pfd = open(slash == copy ? "/" : copy, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (pfd < 0)
			return;
	}
	(void)remove_at(slash ? pfd : AT_FDCWD, name, 0);
}

int xarch_layers_unpack(const char *const *layers, size_t n, const char *dest,
			const struct xarch_layer_opts *o, struct xarch_error *err)
{
	struct stat st;
	char tmp[PATH_MAX];
	int r;

	if (!dest || !*dest || (n && !layers))
		return xarch_err(err, EINVAL, "no destination or layers");
	if (lstat(dest, &st) == 0)
		return xarch_err(err, EEXIST, "'%s' already exists", dest);
	if (errno != ENOENT)
		return xarch_err_sys(err, errno, "cannot check '%s'", dest);
	size_t len = strlen(dest);
	while (len > 1 && dest[len - 1] == '/')
		len--;
	if (xa_snprintf(tmp, sizeof(tmp), "%.*s.xarch-tmp-XXXXXX", (int)len, dest) < 0)
		return xarch_err(err, ENAMETOOLONG, "path too long: '%s'", dest);
	if (!mkdtemp(tmp))
		return xarch_err_sys(err, errno, "cannot create a directory next to '%s'", dest);
	_cleanup_close_ int rootfd = open(tmp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (rootfd < 0 || chmod(tmp, DIR_MODE) < 0) {
		r = xarch_err_sys(err, errno, "cannot open '%s'", tmp);
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		_cleanup_close_ int fd = open(layers[i], O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0) {
			r = xarch_err_sys(err, errno, "cannot open '%s'", layers[i]);
			goto fail;
		}
		struct xarch_error e1 = {0};
		struct xarch_layer_opts lo = o ? *o : (struct xarch_layer_opts){ 0 };
		lo.diff_id = o && o->diff_ids ? o->diff_ids[i] : NULL;
		r = xarch_layer_apply_fd(rootfd, fd, &lo, &e1);
		if (r < 0) {
			r = xarch_err(err, -r, "%s: %s", layers[i], e1.msg);
			goto fail;
		}
	}
	/* RENAME_NOREPLACE: a dest that appeared meanwhile is not replaced */
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dest, RENAME_NOREPLACE) < 0) {
		r = xarch_err_sys(err, errno, "cannot rename '%s' to '%s'", tmp, dest);
		goto fail;
	}
	return 0;
fail:
	remove_tree(tmp);
	return r;
}
