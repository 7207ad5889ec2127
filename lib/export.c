// SPDX-License-Identifier: MIT
/*
 * xarch export: a rootfs directory as a tarball or a one-layer image.
 *
 * The layer is written in one pass: libarchive hands the uncompressed tar
 * to a sink that hashes it (the diff_id), deflates it with zlib as gzip
 * (no name, no timestamp in the header) and hashes and writes the
 * compressed bytes (the blob digest).
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "digest.h"
#include "internal.h"
#include "xarch/arch.h"
#include "xarch/export.h"
#include "xarch/registry.h"
#include "xarch/rootfs.h"

#define MT_INDEX    "application/vnd.oci.image.index.v1+json"
#define MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_CONFIG   "application/vnd.oci.image.config.v1+json"
#define MT_LAYER_GZ "application/vnd.oci.image.layer.v1.tar+gzip"

enum compression { COMP_NONE, COMP_GZIP, COMP_XZ, COMP_ZSTD, COMP_BZIP2 };

/* ---- the output sink: hash, maybe gzip, hash, write ----------------------------------- */

struct sink {
	int fd;
	bool gzip;
	bool z_ready;
	z_stream z;
	struct xa_sha256 raw, out;
	uint64_t raw_size, out_size;
	int error; /* first -errno */
	unsigned char zbuf[1 << 16];
};

static int sink_out(struct sink *s, const void *p, size_t n)
{
	const char *c = p;
	xa_sha256_update(&s->out, p, n);
	s->out_size += n;
	while (n) {
		ssize_t k = write(s->fd, c, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return s->error = -errno;
		c += k;
		n -= (size_t)k;
	}
	return 0;
}

static int sink_deflate(struct sink *s, int flush)
{
	int zr;
	do {
		s->z.next_out = s->zbuf;
		s->z.avail_out = sizeof(s->zbuf);
		zr = deflate(&s->z, flush);
		if (zr == Z_STREAM_ERROR)
			return s->error = -EIO;
		int r = sink_out(s, s->zbuf, sizeof(s->zbuf) - s->z.avail_out);
		if (r < 0)
			return r;
	} while (s->z.avail_out == 0 || (flush == Z_FINISH && zr != Z_STREAM_END));
	return 0;
}

static int sink_init(struct sink *s, int fd, bool gzip)
{
	memset(s, 0, offsetof(struct sink, zbuf));
	s->fd = fd;
	s->gzip = gzip;
	xa_sha256_init(&s->raw);
	xa_sha256_init(&s->out);
	if (gzip) {
		/* windowBits 16+15: a gzip wrapper with mtime 0 and no name */
		if (deflateInit2(&s->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + 15, 8,
				 Z_DEFAULT_STRATEGY) != Z_OK)
			return -ENOMEM;
		s->z_ready = true;
	}
	return 0;
}

static int sink_write(struct sink *s, const void *p, size_t n)
{
	if (s->error)
		return s->error;
	xa_sha256_update(&s->raw, p, n);
	s->raw_size += n;
	if (!s->gzip)
		return sink_out(s, p, n);
	s->z.next_in = (unsigned char *)p;
	s->z.avail_in = (uInt)n;
	return sink_deflate(s, Z_NO_FLUSH);
}

static int sink_finish(struct sink *s)
{
	if (s->error)
		return s->error;
	if (s->gzip)
		return sink_deflate(s, Z_FINISH);
	return 0;
}

static void sink_release(struct sink *s)
{
	if (s->z_ready)
		deflateEnd(&s->z);
	s->z_ready = false;
}

static la_ssize_t sink_cb(struct archive *a, void *data, const void *buf, size_t n)
{
	struct sink *s = data;
	int r = sink_write(s, buf, n);
	if (r < 0) {
		archive_set_error(a, -r, "write: %s", strerror(-r));
		return -1;
	}
	return (la_ssize_t)n;
}

/* ---- walking the tree ----------------------------------------------------------------- */

struct link {
	dev_t dev;
	ino_t ino;
	char *path; /* NULL: free slot */
};

struct walker {
	struct archive *a;
	const struct xarch_export_opts *o;
	dev_t root_dev;
	bool normalize; /* the image layout: root-owned, 0644/0755, no xattrs */
	bool have_clamp;
	time_t clamp;	    /* SOURCE_DATE_EPOCH; with normalize, every mtime */
	struct link *links; /* open addressing on dev/ino */
	size_t n_links, cap_links;
	uint64_t bytes, entries, skipped;
	/* a diff layer: only what changed since `before`, deletions as
	 * whiteouts; `full` > 0 below a replaced (opaque) directory */
	const struct xarch_snapshot *before;
	unsigned full;
	struct xarch_error *err;
	char path[PATH_MAX];
	char buf[1 << 16];
};

static size_t link_hash(dev_t dev, ino_t ino, size_t cap)
{
	uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ull ^ (uint64_t)dev;
	return (size_t)(h ^ (h >> 29)) & (cap - 1);
}

/* The first path seen for dev/ino, or NULL after recording `path` for it. */
static int link_find(struct walker *w, const struct stat *st, const char **ret)
{
	if (w->n_links * 2 >= w->cap_links) {
		size_t cap = w->cap_links ? w->cap_links * 2 : 256;
		struct link *t = calloc(cap, sizeof(*t));
		if (!t)
			return -ENOMEM;
		for (size_t i = 0; i < w->cap_links; i++) {
			if (!w->links[i].path)
				continue;
			size_t j = link_hash(w->links[i].dev, w->links[i].ino, cap);
			while (t[j].path)
				j = (j + 1) & (cap - 1);
			t[j] = w->links[i];
		}
		free(w->links);
		w->links = t;
		w->cap_links = cap;
	}
	size_t j = link_hash(st->st_dev, st->st_ino, w->cap_links);
	for (; w->links[j].path; j = (j + 1) & (w->cap_links - 1))
		if (w->links[j].dev == st->st_dev && w->links[j].ino == st->st_ino) {
			*ret = w->links[j].path;
			return 0;
		}
	w->links[j].path = strdup(w->path);
	if (!w->links[j].path)
		return -ENOMEM;
	w->links[j].dev = st->st_dev;
	w->links[j].ino = st->st_ino;
	w->n_links++;
	*ret = NULL;
	return 0;
}

static void walker_release(struct walker *w)
{
	for (size_t i = 0; i < w->cap_links; i++)
		free(w->links[i].path);
	free(w->links);
	w->links = NULL;
	w->cap_links = w->n_links = 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* The names in directory `fd`, sorted. */
static int read_names(int fd, char ***ret, size_t *ret_n)
{
	int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	DIR *d = fdopendir(dfd);
	if (!d) {
		int r = -errno;
		close(dfd);
		return r;
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	int r = 0;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			char **nn = reallocarray(names, cap, sizeof(*nn));
			if (!nn) {
				r = -ENOMEM;
				break;
			}
			names = nn;
		}
		if (!(names[n] = strdup(de->d_name))) {
			r = -ENOMEM;
			break;
		}
		n++;
		errno = 0;
	}
	if (!r && errno)
		r = -errno;
	closedir(d);
	if (r < 0) {
		free_names(names, n);
		return r;
	}
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	*ret = names;
	*ret_n = n;
	return 0;
}

/* xattrs of `fd` (a real fd, or O_PATH through /proc/self/fd), sorted by name. */
static int add_xattrs(struct walker *w, struct archive_entry *e, int fd, bool opath)
{
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	ssize_t len = opath ? listxattr(proc, NULL, 0) : flistxattr(fd, NULL, 0);
	if (len < 0)
		return errno == ENOTSUP || errno == ENODATA ? 0 : -errno;
	if (len == 0)
		return 0;
	_cleanup_free_ char *list = malloc((size_t)len + 1);
	if (!list)
		return -ENOMEM;
	len = opath ? listxattr(proc, list, (size_t)len) : flistxattr(fd, list, (size_t)len);
	if (len < 0)
		return -errno;
	list[len] = '\0';
	size_t n = 0;
	for (char *p = list; p < list + len; p += strlen(p) + 1)
		n++;
	_cleanup_free_ char **names = calloc(n ? n : 1, sizeof(*names));
	if (!names)
		return -ENOMEM;
	n = 0;
	for (char *p = list; p < list + len; p += strlen(p) + 1)
		if (*p)
			names[n++] = p;
	qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		ssize_t vl = opath ? getxattr(proc, names[i], w->buf, sizeof(w->buf))
				   : fgetxattr(fd, names[i], w->buf, sizeof(w->buf));
		if (vl < 0) {
			if (errno == ENODATA)
				continue;
			return -errno;
		}
		archive_entry_xattr_add_entry(e, names[i], w->buf, (size_t)vl);
	}
	return 0;
}

static int write_header(struct walker *w, struct archive_entry *e)
{
	int r = archive_write_header(w->a, e);
	if (r < ARCHIVE_WARN)
		return xarch_err(w->err, archive_errno(w->a) > 0 ? archive_errno(w->a) : EIO,
				 "cannot write '%s': %s", w->path, archive_error_string(w->a));
	w->entries++;
	return 0;
}

/* Copy exactly `size` bytes of `fd` into the archive (zeros if it shrank). */
static int write_data(struct walker *w, int fd, uint64_t size)
{
	uint64_t left = size;
	bool eof = false;
	while (left) {
		size_t want = left < sizeof(w->buf) ? (size_t)left : sizeof(w->buf);
		ssize_t k = 0;
		if (!eof) {
			k = read(fd, w->buf, want);
			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0)
				return xarch_err_sys(w->err, errno, "cannot read '%s'", w->path);
			if (k == 0)
				eof = true;
		}
		if (eof) {
			memset(w->buf, 0, want);
			k = (ssize_t)want;
		}
		if (archive_write_data(w->a, w->buf, (size_t)k) != k)
			return xarch_err(w->err, EIO, "cannot write '%s': %s", w->path,
					 archive_error_string(w->a));
		left -= (uint64_t)k;
		w->bytes += (uint64_t)k;
	}
	if (w->o && w->o->progress)
		w->o->progress(w->o->progress_data, w->bytes, w->entries);
	return 0;
}

/* ---- snapshots and diffs -------------------------------------------------------------- */

struct snap_ent {
	char *path;
	ino_t ino;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	off_t size;
	struct timespec mtim, ctim;
};

struct xarch_snapshot {
	struct snap_ent *v;
	size_t n, cap;
	dev_t dev;
};

void xarch_snapshot_free(struct xarch_snapshot *sn)
{
	if (!sn)
		return;
	for (size_t i = 0; i < sn->n; i++)
		free(sn->v[i].path);
	free(sn->v);
	free(sn);
}

static int snap_walk(struct xarch_snapshot *sn, int dfd, char *path, size_t plen)
{
	char **names;
	size_t n;
	int r = read_names(dfd, &names, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n && r >= 0; i++) {
		size_t nl = strlen(names[i]), len = plen + (plen ? 1 : 0) + nl;
		if (len >= PATH_MAX) {
			r = -ENAMETOOLONG;
			break;
		}
		if (plen)
			path[plen] = '/';
		memcpy(path + plen + (plen ? 1 : 0), names[i], nl + 1);
		struct stat st;
		if (fstatat(dfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
			r = -errno;
			break;
		}
		if (sn->n == sn->cap) {
			size_t cap = sn->cap ? sn->cap * 2 : 1024;
			struct snap_ent *v = reallocarray(sn->v, cap, sizeof(*v));
			if (!v) {
				r = -ENOMEM;
				break;
			}
			sn->v = v;
			sn->cap = cap;
		}
		struct snap_ent *e = &sn->v[sn->n];
		*e = (struct snap_ent){.path = strdup(path),
				       .ino = st.st_ino,
				       .mode = st.st_mode,
				       .uid = st.st_uid,
				       .gid = st.st_gid,
				       .size = st.st_size,
				       .mtim = st.st_mtim,
				       .ctim = st.st_ctim};
		if (!e->path) {
			r = -ENOMEM;
			break;
		}
		sn->n++;
		if (S_ISDIR(st.st_mode) && st.st_dev == sn->dev) {
			int fd =
			    openat(dfd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0) {
				r = -errno;
				break;
			}
			r = snap_walk(sn, fd, path, len);
			close(fd);
		}
		path[plen] = '\0';
	}
	free_names(names, n);
	return r;
}

static int snap_cmp(const void *a, const void *b)
{
	return strcmp(((const struct snap_ent *)a)->path, ((const struct snap_ent *)b)->path);
}

int xarch_snapshot_take(const char *rootfs, struct xarch_snapshot **ret, struct xarch_error *err)
{
	_cleanup_close_ int fd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return xarch_err_sys(err, errno, "cannot open '%s'", rootfs);
	struct stat st;
	struct xarch_snapshot *sn = calloc(1, sizeof(*sn));
	char *path = malloc(PATH_MAX);
	if (!sn || !path || fstat(fd, &st) < 0) {
		free(sn);
		free(path);
		return xarch_err(err, ENOMEM, "out of memory");
	}
	sn->dev = st.st_dev;
	path[0] = '\0';
	int r = snap_walk(sn, fd, path, 0);
	free(path);
	if (r < 0) {
		xarch_snapshot_free(sn);
		return xarch_err_sys(err, -r, "cannot walk '%s'", rootfs);
	}
	if (sn->n)
		qsort(sn->v, sn->n, sizeof(*sn->v), snap_cmp);
	*ret = sn;
	return 0;
}

/* the first entry >= key */
static size_t snap_lower(const struct xarch_snapshot *sn, const char *key)
{
	size_t lo = 0, hi = sn->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(sn->v[mid].path, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static const struct snap_ent *snap_find(const struct xarch_snapshot *sn, const char *path)
{
	size_t i = snap_lower(sn, path);
	return i < sn->n && !strcmp(sn->v[i].path, path) ? &sn->v[i] : NULL;
}

static bool snap_same(const struct snap_ent *e, const struct stat *st)
{
	return e->ino == st->st_ino && e->mode == st->st_mode && e->uid == st->st_uid &&
	       e->gid == st->st_gid && e->size == st->st_size &&
	       e->mtim.tv_sec == st->st_mtim.tv_sec && e->mtim.tv_nsec == st->st_mtim.tv_nsec &&
	       e->ctim.tv_sec == st->st_ctim.tv_sec && e->ctim.tv_nsec == st->st_ctim.tv_nsec;
}

/* an empty regular file `dir/NAME` (a whiteout) */
static int write_marker(struct walker *w, const char *dir, const char *name)
{
	char p[PATH_MAX];
	if (xa_snprintf(p, sizeof(p), "%s%s%s", dir, dir[0] ? "/" : "", name) < 0)
		return xarch_err(w->err, ENAMETOOLONG, "path too long under '%s'", dir);
	struct archive_entry *e = archive_entry_new();
	if (!e)
		return xarch_err(w->err, ENOMEM, "out of memory");
	archive_entry_set_pathname(e, p);
	archive_entry_set_mode(e, S_IFREG | 0644);
	archive_entry_set_size(e, 0);
	archive_entry_set_mtime(e, w->have_clamp ? w->clamp : 0, 0);
	int r = write_header(w, e);
	archive_entry_free(e);
	return r;
}

/* whiteouts for the entries of directory `w->path` (plen) gone since before */
static int write_whiteouts(struct walker *w, int dfd, size_t plen)
{
	char prefix[PATH_MAX + 2], dir[PATH_MAX];
	memcpy(dir, w->path, plen);
	dir[plen] = '\0';
	snprintf(prefix, sizeof(prefix), "%s%s", dir, plen ? "/" : "");
	size_t pl = strlen(prefix);
	const struct xarch_snapshot *sn = w->before;
	for (size_t i = snap_lower(sn, prefix); i < sn->n && !strncmp(sn->v[i].path, prefix, pl);
	     i++) {
		const char *name = sn->v[i].path + pl;
		if (strchr(name, '/'))
			continue;
		struct stat st;
		if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT)
			continue;
		char wh[NAME_MAX + 8];
		snprintf(wh, sizeof(wh), ".wh.%s", name);
		int r = write_marker(w, dir, wh);
		if (r < 0)
			return r;
	}
	return 0;
}

static int walk_dir(struct walker *w, int dfd, size_t plen);

/* One entry `name` of directory `dfd`; w->path already names it. */
static int walk_entry(struct walker *w, int dfd, const char *name, size_t plen)
{
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return xarch_err_sys(w->err, errno, "cannot stat '%s'", w->path);
	if (S_ISSOCK(st.st_mode)) {
		w->skipped++;
		return 0;
	}
	bool opaque = false;
	if (w->before && !w->full) {
		const struct snap_ent *b = snap_find(w->before, w->path);
		if (b && snap_same(b, &st)) {
			/* unchanged: only a directory's children may matter */
			if (!S_ISDIR(st.st_mode) || st.st_dev != w->root_dev)
				return 0;
			_cleanup_close_ int dfd2 =
			    openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (dfd2 < 0)
				return xarch_err_sys(w->err, errno, "cannot open '%s'", w->path);
			return walk_dir(w, dfd2, plen);
		}
		/* a directory that replaced another hides all it had */
		opaque = b && S_ISDIR(b->mode) && S_ISDIR(st.st_mode) && b->ino != st.st_ino;
	}
	_cleanup_close_ int fd = -1;
	bool opath = false;
	if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
		int fl = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
		if (S_ISDIR(st.st_mode))
			fl |= O_DIRECTORY;
		fd = openat(dfd, name, fl);
		if (fd < 0)
			return xarch_err_sys(w->err, errno, "cannot open '%s'", w->path);
		struct stat st2;
		if (fstat(fd, &st2) < 0)
			return xarch_err_sys(w->err, errno, "cannot stat '%s'", w->path);
		if (st2.st_dev != st.st_dev || st2.st_ino != st.st_ino)
			return xarch_err(w->err, EAGAIN, "'%s' changed during the export", w->path);
		st = st2;
	} else if (!S_ISLNK(st.st_mode) && !w->normalize) {
		fd = openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		opath = true;
		if (fd < 0)
			return xarch_err_sys(w->err, errno, "cannot open '%s'", w->path);
	}

	struct archive_entry *e = archive_entry_new();
	if (!e)
		return xarch_err(w->err, ENOMEM, "out of memory");
	int r = 0;
	archive_entry_set_pathname(e, w->path);
	time_t mt = st.st_mtime;
	if (w->have_clamp && (w->normalize || mt > w->clamp))
		mt = w->clamp;
	archive_entry_set_mtime(e, mt, 0);
	if (w->normalize) {
		archive_entry_set_mode(e,
				       (st.st_mode & S_IFMT) | (S_ISDIR(st.st_mode) ? 0755 : 0644));
	} else {
		archive_entry_set_mode(e, st.st_mode);
		archive_entry_set_uid(e, st.st_uid);
		archive_entry_set_gid(e, st.st_gid);
	}

	const char *first = NULL;
	if (!S_ISDIR(st.st_mode) && st.st_nlink > 1 && !w->normalize) {
		if ((r = link_find(w, &st, &first)) < 0) {
			xarch_err(w->err, -r, "out of memory");
			goto out;
		}
	}
	if (first) {
		/* a hard link: no data, no xattrs of its own */
		archive_entry_set_hardlink(e, first);
		archive_entry_set_size(e, 0);
		r = write_header(w, e);
		goto out;
	}
	if (S_ISLNK(st.st_mode)) {
		char target[PATH_MAX];
		ssize_t n = readlinkat(dfd, name, target, sizeof(target) - 1);
		if (n < 0) {
			r = xarch_err_sys(w->err, errno, "cannot read the link '%s'", w->path);
			goto out;
		}
		target[n] = '\0';
		archive_entry_set_symlink(e, target);
	} else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
		archive_entry_set_rdevmajor(e, major(st.st_rdev));
		archive_entry_set_rdevminor(e, minor(st.st_rdev));
	}
	if (S_ISREG(st.st_mode))
		archive_entry_set_size(e, st.st_size);
	if (fd >= 0 && !w->normalize && (r = add_xattrs(w, e, fd, opath)) < 0) {
		xarch_err(w->err, -r, "cannot read the xattrs of '%s': %s", w->path, strerror(-r));
		goto out;
	}
	if ((r = write_header(w, e)) < 0)
		goto out;
	if (S_ISREG(st.st_mode) && st.st_size > 0)
		r = write_data(w, fd, (uint64_t)st.st_size);
	else if (w->o && w->o->progress)
		w->o->progress(w->o->progress_data, w->bytes, w->entries);
	if (r >= 0 && S_ISDIR(st.st_mode)) {
		/* a mount point is exported, its contents are not */
		if (opaque) {
			char dir[PATH_MAX];
			memcpy(dir, w->path, plen + 1);
			if ((r = write_marker(w, dir, ".wh..wh..opq")) < 0)
				goto out;
			w->full++;
		}
		if (st.st_dev == w->root_dev || (w->o && w->o->cross_mounts))
			r = walk_dir(w, fd, plen);
		if (opaque)
			w->full--;
	}
out:
	archive_entry_free(e);
	return r;
}

static int walk_dir(struct walker *w, int dfd, size_t plen)
{
	char **names;
	size_t n;
	int r = read_names(dfd, &names, &n);
	if (r < 0)
		return xarch_err(w->err, -r, "cannot read the directory '%s': %s",
				 plen ? w->path : ".", strerror(-r));
	for (size_t i = 0; i < n && r >= 0; i++) {
		size_t nl = strlen(names[i]);
		size_t len = plen + (plen ? 1 : 0) + nl;
		if (len >= sizeof(w->path)) {
			r = xarch_err(w->err, ENAMETOOLONG, "path too long under '%s'", w->path);
			break;
		}
		if (plen)
			w->path[plen] = '/';
		memcpy(w->path + plen + (plen ? 1 : 0), names[i], nl + 1);
		r = walk_entry(w, dfd, names[i], len);
		w->path[plen] = '\0';
	}
	free_names(names, n);
	if (r >= 0 && w->before && !w->full)
		r = write_whiteouts(w, dfd, plen);
	return r;
}

/* SOURCE_DATE_EPOCH, when set and valid. */
static bool source_date_epoch(time_t *ret)
{
	const char *s = getenv("SOURCE_DATE_EPOCH");
	if (!s || !*s)
		return false;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || v < 0)
		return false;
	*ret = (time_t)v;
	return true;
}

/*
 * Tar the tree at `dirfd` into `outfd`.  `normalize` is for the image
 * layout itself (root-owned, fixed modes and times).  Returns the sink's
 * sizes and digests via `s`.
 */
static int tar_tree(int dirfd, int outfd, enum compression comp, bool normalize,
		    const struct xarch_export_opts *o, struct sink *s, struct walker *stats,
		    const struct xarch_snapshot *before, struct xarch_error *err)
{
	struct stat st;
	if (fstat(dirfd, &st) < 0)
		return xarch_err_sys(err, errno, "cannot stat the rootfs");
	int r = sink_init(s, outfd, comp == COMP_GZIP);
	if (r < 0)
		return xarch_err(err, -r, "out of memory");
	struct walker *w = calloc(1, sizeof(*w));
	struct archive *a = archive_write_new();
	if (!w || !a) {
		r = xarch_err(err, ENOMEM, "out of memory");
		goto out;
	}
	w->a = a;
	w->o = o;
	w->err = err;
	w->root_dev = st.st_dev;
	w->normalize = normalize;
	w->before = before;
	w->have_clamp = source_date_epoch(&w->clamp);
	if (normalize && !w->have_clamp) {
		w->clamp = time(NULL);
		w->have_clamp = true;
	}
	r = archive_write_set_format_pax_restricted(a);
	/* only SCHILY.xattr, which is what Docker, umoci and GNU tar read */
	if (r == ARCHIVE_OK)
		archive_write_set_format_option(a, "pax", "xattrheader", "SCHILY");
	if (r == ARCHIVE_OK && comp == COMP_XZ)
		r = archive_write_add_filter_xz(a);
	else if (r == ARCHIVE_OK && comp == COMP_ZSTD)
		r = archive_write_add_filter_zstd(a);
	else if (r == ARCHIVE_OK && comp == COMP_BZIP2)
		r = archive_write_add_filter_bzip2(a);
	/* no zero padding after a compressed stream (zstd rejects it) */
	if (r == ARCHIVE_OK && comp != COMP_NONE && comp != COMP_GZIP)
		r = archive_write_set_bytes_in_last_block(a, 1);
	if (r == ARCHIVE_OK)
		r = archive_write_open2(a, s, NULL, sink_cb, NULL, NULL);
	if (r != ARCHIVE_OK) {
		r = xarch_err(err, EINVAL, "cannot set up the tar writer: %s",
			      archive_error_string(a));
		goto out;
	}
	w->path[0] = '\0';
	if ((r = walk_dir(w, dirfd, 0)) < 0)
		goto out;
	if (archive_write_close(a) != ARCHIVE_OK) {
		r = xarch_err(err, s->error ? -s->error : EIO, "cannot finish the tar: %s",
			      archive_error_string(a));
		goto out;
	}
	if ((r = sink_finish(s)) < 0) {
		r = xarch_err_sys(err, -r, "cannot write the tar");
		goto out;
	}
	if (stats) {
		stats->bytes = w->bytes;
		stats->entries = w->entries;
		stats->skipped = w->skipped;
	}
	r = 0;
out:
	if (a)
		archive_write_free(a);
	if (w)
		walker_release(w);
	free(w);
	sink_release(s);
	return r;
}

int xarch_diff_layer(const char *rootfs, const struct xarch_snapshot *before, int fd,
		     uint64_t *ret_entries, struct xarch_error *err)
{
	_cleanup_close_ int rootfd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return xarch_err_sys(err, errno, "cannot open '%s'", rootfs);
	struct sink *s = malloc(sizeof(*s));
	struct walker stats = {0};
	int r = s ? tar_tree(rootfd, fd, COMP_NONE, false, NULL, s, &stats, before, err)
		  : xarch_err(err, ENOMEM, "out of memory");
	free(s);
	if (r >= 0 && ret_entries)
		*ret_entries = stats.entries;
	return r;
}

/* gzip the tar file `path` into `outfd`: digests and sizes in `s` */
static int gzip_file(const char *path, int outfd, struct sink *s, struct xarch_error *err)
{
	_cleanup_close_ int in = open(path, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return xarch_err_sys(err, errno, "cannot open the layer '%s'", path);
	int r = sink_init(s, outfd, true);
	if (r < 0)
		return xarch_err(err, -r, "out of memory");
	char *buf = malloc(1 << 16);
	if (!buf) {
		sink_release(s);
		return xarch_err(err, ENOMEM, "out of memory");
	}
	for (;;) {
		ssize_t k = read(in, buf, 1 << 16);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			r = xarch_err_sys(err, errno, "cannot read '%s'", path);
			break;
		}
		if (k == 0) {
			if ((r = sink_finish(s)) < 0)
				r = xarch_err_sys(err, -r, "cannot write a layer blob");
			break;
		}
		if ((r = sink_write(s, buf, (size_t)k)) < 0) {
			r = xarch_err_sys(err, -r, "cannot write a layer blob");
			break;
		}
	}
	free(buf);
	sink_release(s);
	return r;
}

/* ---- destinations --------------------------------------------------------------------- */

/* "dir" and "base" of a path (dir "." when none). */
static int split_path(const char *path, char *dir, size_t dlen, const char **base)
{
	const char *slash = strrchr(path, '/');
	if (!slash) {
		*base = path;
		return xa_strcpy(dir, dlen, ".");
	}
	if (!slash[1])
		return -EISDIR;
	*base = slash + 1;
	if (slash == path)
		return xa_strcpy(dir, dlen, "/");
	return xa_snprintf(dir, dlen, "%.*s", (int)(slash - path), path);
}

/* A temp file next to `path`: returns its fd and its name in `tmp`. */
static int temp_file_next_to(const char *path, char *tmp, size_t len, struct xarch_error *err)
{
	char dir[PATH_MAX];
	const char *base;
	int r = split_path(path, dir, sizeof(dir), &base);
	if (r == -EISDIR)
		return xarch_err(err, EISDIR, "'%s' names a directory, not a file", path);
	if (r < 0 || xa_snprintf(tmp, len, "%s/.%s.xarch-XXXXXX", dir, base) < 0)
		return xarch_err(err, ENAMETOOLONG, "path too long: '%s'", path);
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return xarch_err_sys(err, errno, "cannot create a file in '%s'", dir);
	return fd;
}

/* Make a file written under a temp name final: mode, fsync, rename. */
static int commit_file(int fd, const char *tmp, const char *dest, struct xarch_error *err)
{
	mode_t um = umask(0);
	umask(um);
	if (fchmod(fd, 0666 & ~um) < 0 || fsync(fd) < 0)
		return xarch_err_sys(err, errno, "cannot write '%s'", dest);
	if (rename(tmp, dest) < 0)
		return xarch_err_sys(err, errno, "cannot rename to '%s'", dest);
	return 0;
}

/* rm -rf of a tree we made ourselves (no symlinks followed). */
static void remove_tree_at(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		char **names;
		size_t n;
		if (read_names(fd, &names, &n) == 0) {
			for (size_t i = 0; i < n; i++)
				remove_tree_at(fd, names[i]);
			free_names(names, n);
		}
		close(fd);
		unlinkat(dfd, name, AT_REMOVEDIR);
		return;
	}
	unlinkat(dfd, name, 0);
}

static void remove_tree(const char *path)
{
	remove_tree_at(AT_FDCWD, path);
}

static int write_file_at(int dfd, const char *name, const void *buf, size_t len)
{
	_cleanup_close_ int fd =
	    openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -errno;
	const char *p = buf;
	while (len) {
		ssize_t k = write(fd, p, len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		p += k;
		len -= (size_t)k;
	}
	return fsync(fd) < 0 ? -errno : 0;
}

static const char *json_text(struct json_object *o)
{
	return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						     JSON_C_TO_STRING_NOSLASHESCAPE);
}

/* Store `o` as a blob of the layout: its digest and size. */
static int json_blob(int blobs, struct json_object *o, char digest[XARCH_DIGEST_LEN + 1],
		     uint64_t *size, struct xarch_error *err)
{
	const char *s = json_text(o);
	if (!s)
		return xarch_err(err, ENOMEM, "out of memory");
	size_t len = strlen(s);
	char hex[65];
	xa_sha256_buf_hex(s, len, hex);
	int r = write_file_at(blobs, hex, s, len);
	if (r < 0 && r != -EEXIST)
		return xarch_err_sys(err, -r, "cannot write the blob %s", hex);
	snprintf(digest, XARCH_DIGEST_LEN + 1, "sha256:%s", hex);
	*size = len;
	return 0;
}

static struct json_object *descriptor(const char *mt, const char *digest, uint64_t size)
{
	struct json_object *d = json_object_new_object();
	json_object_object_add(d, "mediaType", json_object_new_string(mt));
	json_object_object_add(d, "digest", json_object_new_string(digest));
	json_object_object_add(d, "size", json_object_new_int64((int64_t)size));
	return d;
}

struct image_spec {
	const struct xarch_arch *arch;
	const char *tag;      /* index annotation; NULL: none */
	const char *repo_tag; /* docker-archive: "repo:tag" or NULL */
	bool docker;
};

/*
 * Write an OCI image layout of the tree into the empty directory `lfd`:
 * the layer, config, manifest, index.json, oci-layout and, for Docker,
 * manifest.json.
 */
static int build_layout(int rootfd, int lfd, const struct image_spec *is,
			const struct xarch_export_opts *o, struct xarch_export_result *res,
			struct xarch_error *err)
{
	if (mkdirat(lfd, "blobs", 0755) < 0 || mkdirat(lfd, "blobs/sha256", 0755) < 0)
		return xarch_err_sys(err, errno, "cannot create blobs/sha256");
	_cleanup_close_ int blobs =
	    openat(lfd, "blobs/sha256", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (blobs < 0)
		return xarch_err_sys(err, errno, "cannot open blobs/sha256");

	/* the layers: the tree as one, or the given diff layers in order */
	size_t nl = o && o->n_layers ? o->n_layers : 1;
	struct blob_ref {
		char digest[XARCH_DIGEST_LEN + 1], diff_id[XARCH_DIGEST_LEN + 1];
		uint64_t size;
	};
	_cleanup_free_ struct blob_ref *lr = calloc(nl, sizeof(*lr));
	struct sink *s = malloc(sizeof(*s));
	int r = 0;
	if (!s || !lr) {
		free(s);
		return xarch_err(err, ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < nl && r >= 0; i++) {
		_cleanup_close_ int layer =
		    openat(blobs, ".layer", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (layer < 0) {
			r = xarch_err_sys(err, errno, "cannot create the layer blob");
			break;
		}
		struct walker stats = {0};
		if (o && o->n_layers)
			r = gzip_file(o->layers[i].path, layer, s, err);
		else
			r = tar_tree(rootfd, layer, COMP_GZIP, false, o, s, &stats, NULL, err);
		if (r < 0)
			break;
		char hex[65], diff_hex[65];
		xa_sha256_hex(&s->out, hex);
		xa_sha256_hex(&s->raw, diff_hex);
		res->layer_size += s->out_size;
		res->tar_size += s->raw_size;
		res->entries += stats.entries;
		res->skipped += stats.skipped;
		lr[i].size = s->out_size;
		if (fsync(layer) < 0 || renameat(blobs, ".layer", blobs, hex) < 0) {
			r = xarch_err_sys(err, errno, "cannot write the layer blob");
			break;
		}
		snprintf(lr[i].digest, sizeof(lr[i].digest), "sha256:%s", hex);
		snprintf(lr[i].diff_id, sizeof(lr[i].diff_id), "sha256:%s", diff_hex);
		snprintf(res->layer_digest, sizeof(res->layer_digest), "%s", lr[i].digest);
		snprintf(res->diff_id, sizeof(res->diff_id), "%s", lr[i].diff_id);
	}
	free(s);
	if (r < 0)
		return r;

	/* the config */
	time_t now;
	if (!source_date_epoch(&now))
		now = time(NULL);
	char created[32];
	struct tm tm;
	strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
	struct json_object *cfg = json_object_new_object();
	json_object_object_add(cfg, "created", json_object_new_string(created));
	json_object_object_add(cfg, "architecture", json_object_new_string(is->arch->oci_arch));
	if (is->arch->oci_variant)
		json_object_object_add(cfg, "variant",
				       json_object_new_string(is->arch->oci_variant));
	json_object_object_add(cfg, "os", json_object_new_string("linux"));
	struct json_object *cc = NULL;
	if (o && o->config) {
		cc = json_tokener_parse(o->config);
		if (!cc || !json_object_is_type(cc, json_type_object)) {
			json_object_put(cc);
			json_object_put(cfg);
			return xarch_err(err, EINVAL, "the image config is not a JSON object");
		}
	} else {
		cc = json_object_new_object();
		struct json_object *env = json_object_new_array();
		json_object_array_add(env,
				      json_object_new_string("PATH=/usr/local/sbin:/usr/local/"
							     "bin:/usr/sbin:/usr/bin:/sbin:/bin"));
		json_object_object_add(cc, "Env", env);
	}
	json_object_object_add(cfg, "config", cc);
	struct json_object *rootfs = json_object_new_object();
	json_object_object_add(rootfs, "type", json_object_new_string("layers"));
	struct json_object *ids = json_object_new_array();
	for (size_t i = 0; i < nl; i++)
		json_object_array_add(ids, json_object_new_string(lr[i].diff_id));
	json_object_object_add(rootfs, "diff_ids", ids);
	json_object_object_add(cfg, "rootfs", rootfs);
	struct json_object *hist = json_object_new_array();
	for (size_t i = 0; i < nl; i++) {
		struct json_object *h = json_object_new_object();
		const char *by = o && o->n_layers && o->layers[i].created_by
				     ? o->layers[i].created_by
				 : o && o->created_by ? o->created_by
						      : "xarch export";
		json_object_object_add(h, "created", json_object_new_string(created));
		json_object_object_add(h, "created_by", json_object_new_string(by));
		json_object_array_add(hist, h);
	}
	json_object_object_add(cfg, "history", hist);
	uint64_t cfg_size;
	r = json_blob(blobs, cfg, res->config_digest, &cfg_size, err);
	json_object_put(cfg);
	if (r < 0)
		return r;

	/* the manifest */
	struct json_object *m = json_object_new_object();
	json_object_object_add(m, "schemaVersion", json_object_new_int(2));
	json_object_object_add(m, "mediaType", json_object_new_string(MT_MANIFEST));
	json_object_object_add(m, "config", descriptor(MT_CONFIG, res->config_digest, cfg_size));
	struct json_object *layers = json_object_new_array();
	for (size_t i = 0; i < nl; i++)
		json_object_array_add(layers, descriptor(MT_LAYER_GZ, lr[i].digest, lr[i].size));
	json_object_object_add(m, "layers", layers);
	uint64_t m_size;
	r = json_blob(blobs, m, res->manifest_digest, &m_size, err);
	json_object_put(m);
	if (r < 0)
		return r;

	/* index.json and oci-layout */
	struct json_object *idx = json_object_new_object();
	json_object_object_add(idx, "schemaVersion", json_object_new_int(2));
	json_object_object_add(idx, "mediaType", json_object_new_string(MT_INDEX));
	struct json_object *ms = json_object_new_array();
	struct json_object *d = descriptor(MT_MANIFEST, res->manifest_digest, m_size);
	if (is->tag || is->repo_tag) {
		struct json_object *ann = json_object_new_object();
		if (is->repo_tag) {
			char name[512];
			const char *slash = strchr(is->repo_tag, '/');
			bool domain =
			    slash && (memchr(is->repo_tag, '.', (size_t)(slash - is->repo_tag)) ||
				      memchr(is->repo_tag, ':', (size_t)(slash - is->repo_tag)));
			snprintf(name, sizeof(name), "%s%s%s", domain ? "" : "docker.io/",
				 domain || slash ? "" : "library/", is->repo_tag);
			json_object_object_add(ann, "io.containerd.image.name",
					       json_object_new_string(name));
		}
		const char *t = is->tag ? is->tag : strrchr(is->repo_tag, ':') + 1;
		json_object_object_add(ann, "org.opencontainers.image.ref.name",
				       json_object_new_string(t));
		json_object_object_add(d, "annotations", ann);
	}
	json_object_array_add(ms, d);
	json_object_object_add(idx, "manifests", ms);
	const char *txt = json_text(idx);
	r = write_file_at(lfd, "index.json", txt, strlen(txt));
	json_object_put(idx);
	if (r < 0)
		return xarch_err_sys(err, -r, "cannot write index.json");
	static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	if ((r = write_file_at(lfd, "oci-layout", layout, strlen(layout))) < 0)
		return xarch_err_sys(err, -r, "cannot write oci-layout");

	if (is->docker) {
		struct json_object *arr = json_object_new_array(), *e = json_object_new_object();
		char p[128];
		snprintf(p, sizeof(p), "blobs/sha256/%s", res->config_digest + 7);
		json_object_object_add(e, "Config", json_object_new_string(p));
		struct json_object *tags = json_object_new_array();
		if (is->repo_tag)
			json_object_array_add(tags, json_object_new_string(is->repo_tag));
		json_object_object_add(e, "RepoTags", tags);
		struct json_object *ls = json_object_new_array();
		for (size_t i = 0; i < nl; i++) {
			snprintf(p, sizeof(p), "blobs/sha256/%s", lr[i].digest + 7);
			json_object_array_add(ls, json_object_new_string(p));
		}
		json_object_object_add(e, "Layers", ls);
		json_object_array_add(arr, e);
		txt = json_text(arr);
		r = write_file_at(lfd, "manifest.json", txt, strlen(txt));
		json_object_put(arr);
		if (r < 0)
			return xarch_err_sys(err, -r, "cannot write manifest.json");
	}
	return 0;
}

static enum compression compression_of(const char *path)
{
	if (xa_ends_with(path, ".gz") || xa_ends_with(path, ".tgz"))
		return COMP_GZIP;
	if (xa_ends_with(path, ".xz") || xa_ends_with(path, ".txz"))
		return COMP_XZ;
	if (xa_ends_with(path, ".zst") || xa_ends_with(path, ".tzst"))
		return COMP_ZSTD;
	if (xa_ends_with(path, ".bz2") || xa_ends_with(path, ".tbz2"))
		return COMP_BZIP2;
	return COMP_NONE;
}

static int export_tar(int rootfd, const char *path, const struct xarch_export_opts *o,
		      struct xarch_export_result *res, struct xarch_error *err)
{
	char tmp[PATH_MAX];
	_cleanup_close_ int fd = temp_file_next_to(path, tmp, sizeof(tmp), err);
	if (fd < 0)
		return fd;
	struct sink *s = malloc(sizeof(*s));
	struct walker stats = {0};
	int r = s ? tar_tree(rootfd, fd, compression_of(path), false, o, s, &stats, NULL, err)
		  : xarch_err(err, ENOMEM, "out of memory");
	if (r >= 0) {
		res->layer_size = s->out_size;
		res->tar_size = s->raw_size;
		res->entries = stats.entries;
		res->skipped = stats.skipped;
		r = commit_file(fd, tmp, path, err);
	}
	free(s);
	if (r < 0)
		unlink(tmp);
	return r;
}

/* The layout in a new temp dir next to `dest`; its name in `tmp`. */
static int layout_in_temp(int rootfd, const char *dest, const struct image_spec *is,
			  const struct xarch_export_opts *o, struct xarch_export_result *res,
			  char *tmp, size_t len, struct xarch_error *err)
{
	char dir[PATH_MAX];
	const char *base;
	char d2[PATH_MAX];
	/* "DIR/" for oci: is fine */
	if (xa_strcpy(d2, sizeof(d2), dest) < 0)
		return xarch_err(err, ENAMETOOLONG, "path too long: '%s'", dest);
	for (size_t n = strlen(d2); n > 1 && d2[n - 1] == '/'; n--)
		d2[n - 1] = '\0';
	if (split_path(d2, dir, sizeof(dir), &base) < 0 ||
	    xa_snprintf(tmp, len, "%s/.%s.xarch-XXXXXX", dir, base) < 0)
		return xarch_err(err, ENAMETOOLONG, "path too long: '%s'", dest);
	if (!mkdtemp(tmp))
		return xarch_err_sys(err, errno, "cannot create a directory in '%s'", dir);
	int r;
	_cleanup_close_ int lfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (lfd < 0) {
		r = xarch_err_sys(err, errno, "cannot open '%s'", tmp);
		goto fail;
	}
	if ((r = build_layout(rootfd, lfd, is, o, res, err)) < 0)
		goto fail;
	mode_t um = umask(0);
	umask(um);
	if (fchmod(lfd, 0777 & ~um) < 0) {
		r = xarch_err_sys(err, errno, "cannot chmod '%s'", tmp);
		goto fail;
	}
	return 0;
fail:
	remove_tree(tmp);
	return r;
}

static int export_image(int rootfd, const struct xarch_image_ref *ref,
			const struct xarch_export_opts *o, struct xarch_export_result *res,
			struct xarch_error *err)
{
	struct image_spec is = {.docker = ref->transport == XARCH_IMAGE_DOCKER_ARCHIVE};
	char repo_tag[300];
	if (is.docker) {
		if (ref->tag[0]) {
			const char *colon = strrchr(ref->tag, ':');
			const char *slash = strrchr(ref->tag, '/');
			bool has_tag = colon && (!slash || colon > slash);
			if (xa_snprintf(repo_tag, sizeof(repo_tag), "%s%s", ref->tag,
					has_tag ? "" : ":latest") < 0)
				return xarch_err(err, ENAMETOOLONG, "reference too long");
			is.repo_tag = repo_tag;
		}
	} else {
		is.tag = ref->tag[0] ? ref->tag : "latest";
	}

	/* the platform: --platform, else the rootfs's own binaries */
	if (o && o->platform) {
		is.arch = xarch_arch_lookup(o->platform);
		if (!is.arch)
			return xarch_err(err, EINVAL, "unknown platform '%s'", o->platform);
	} else {
		_cleanup_close_ int pfd = openat(rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (pfd < 0)
			return xarch_err_sys(err, errno, "cannot open the rootfs");
		int r = xarch_root_arch(pfd, NULL, &is.arch, err);
		if (r < 0) {
			xarch_err_hint(err, "pass --platform");
			return r;
		}
	}
	if (!is.arch->oci_arch)
		return xarch_err(err, EINVAL, "'%s' has no OCI platform name", is.arch->name);
	xarch_arch_platform(is.arch, res->platform, sizeof(res->platform));

	char tmp[PATH_MAX];
	int r;
	if (ref->transport == XARCH_IMAGE_OCI) {
		struct stat st;
		if (lstat(ref->path, &st) == 0)
			return xarch_err(err, EEXIST, "'%s' already exists", ref->path);
		if ((r = layout_in_temp(rootfd, ref->path, &is, o, res, tmp, sizeof(tmp), err)) < 0)
			return r;
		if (rename(tmp, ref->path) < 0) {
			r = xarch_err_sys(err, errno, "cannot rename to '%s'", ref->path);
			remove_tree(tmp);
		}
		return r;
	}

	/* an archive: the layout in a temp dir, tarred into a temp file */
	char atmp[PATH_MAX];
	_cleanup_close_ int fd = temp_file_next_to(ref->path, atmp, sizeof(atmp), err);
	if (fd < 0)
		return fd;
	if ((r = layout_in_temp(rootfd, ref->path, &is, o, res, tmp, sizeof(tmp), err)) < 0) {
		unlink(atmp);
		return r;
	}
	_cleanup_close_ int lfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	struct sink *s = malloc(sizeof(*s));
	if (lfd < 0)
		r = xarch_err_sys(err, errno, "cannot open '%s'", tmp);
	else if (!s)
		r = xarch_err(err, ENOMEM, "out of memory");
	else
		r = tar_tree(lfd, fd, COMP_NONE, true, NULL, s, NULL, NULL, err);
	free(s);
	if (r >= 0)
		r = commit_file(fd, atmp, ref->path, err);
	if (r < 0)
		unlink(atmp);
	remove_tree(tmp);
	return r;
}

/* docker://: an OCI layout in a temporary directory, pushed, removed. */
static int export_push(const char *rootfs, const char *dest, const struct xarch_export_opts *o,
		       struct xarch_export_result *res, struct xarch_error *err)
{
	const char *t = getenv("TMPDIR");
	char tmp[PATH_MAX], dir[PATH_MAX + 8], layout[PATH_MAX + 24];
	if (xa_snprintf(tmp, sizeof(tmp), "%s/xarch-push-XXXXXX", t && *t == '/' ? t : "/var/tmp") <
		0 ||
	    !mkdtemp(tmp))
		return xarch_err_sys(err, errno, "cannot create a temporary directory");
	snprintf(dir, sizeof(dir), "%s/layout", tmp);
	snprintf(layout, sizeof(layout), "oci:%s:xarch", dir);
	int r = xarch_export(rootfs, layout, o, res, err);
	if (r == 0) {
		struct xarch_registry_opts ro = {.creds = o ? o->creds : NULL,
						 .insecure = o && o->insecure};
		r = xarch_registry_push_layout(dir, "xarch", dest, &ro, err);
	}
	xa_rm_rf_at(AT_FDCWD, tmp);
	if (r == 0)
		snprintf(res->format, sizeof(res->format), "docker");
	return r;
}

int xarch_export(const char *rootfs, const char *dest, const struct xarch_export_opts *o,
		 struct xarch_export_result *ret, struct xarch_error *err)
{
	struct xarch_export_result res = {0};
	_cleanup_close_ int rootfd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return xarch_err_sys(err, errno, "cannot open '%s'", rootfs);
	int r;
	if (!strncmp(dest, "tar:", 4)) {
		if (!dest[4])
			return xarch_err(err, EINVAL, "'%s' names no file", dest);
		strcpy(res.format, "tar");
		r = export_tar(rootfd, dest + 4, o, &res, err);
	} else if (!strncmp(dest, "docker://", 9)) {
		r = export_push(rootfs, dest, o, &res, err);
	} else {
		struct xarch_image_ref ref;
		if (xarch_image_ref_parse(dest, &ref, err) < 0)
			return xarch_err(err, EINVAL,
					 "unknown destination '%s': want tar:FILE, oci:DIR[:TAG], "
					 "oci-archive:FILE[:TAG] or docker-archive:FILE[:REPO:TAG]",
					 dest);
		snprintf(res.format, sizeof(res.format), "%s",
			 xarch_image_transport_name(ref.transport));
		r = export_image(rootfd, &ref, o, &res, err);
	}
	if (r < 0)
		return r;
	if (ret)
		*ret = res;
	return 0;
}
