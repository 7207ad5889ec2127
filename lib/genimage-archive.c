// SPDX-License-Identifier: MIT
/*
 * genimage's tar and cpio image types, written in-process with libarchive
 * instead of spawning tar/find|cpio: the source tree (rootpath/mountpoint
 * or srcpath, less other images' mountpoints, which stay as empty
 * directories) is walked in sorted order through directory fds, never
 * following a symlink; owners (numeric), modes, mtimes, devices, symlinks
 * and hard links are kept, xattrs and ACLs too in tar (pax).  With
 * SOURCE_DATE_EPOCH mtimes are clamped to it, so the output is
 * byte-identical from run to run.
 *
 * tar: compressed by the name's suffix, as `tar -a` (genimage runs `tar ca`).
 * cpio: `format` (newc by default, odc, bin, ustar, tar), `compress` (a
 * compressor name, or a command run without a shell) and the extraargs
 * that make sense in-process (-R/--owner, --reproducible, --quiet, ...).
 */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "gi.h"
#include "internal.h"

struct ino_map {
	dev_t dev;
	ino_t ino;
	int64_t n;
};

struct aw {
	struct gi *g;
	const struct xarch_gimage *img;
	const struct gi_src *src;
	struct archive *a, *disk;
	struct archive_entry_linkresolver *lr;
	bool cpio, owner, group;
	uid_t uid;
	gid_t gid;
	struct ino_map *map; /* hard-linked files' numbers (cpio) */
	size_t n_map;
	int64_t next_ino;
	char buf[1 << 16];
};

static int aerr(struct aw *w, const char *what)
{
	const char *m = archive_error_string(w->a);
	return GI_ERR(w->g, w->img, EIO, "%s: %s", what, m ? m : "libarchive error");
}

/* Write one entry and, for a regular file with data, its bytes. */
static int put(struct aw *w, struct archive_entry *e)
{
	if (archive_write_header(w->a, e) < ARCHIVE_WARN)
		return aerr(w, archive_entry_pathname(e));
	int64_t left = archive_entry_size(e);
	if (archive_entry_filetype(e) != AE_IFREG || left <= 0)
		return 0;
	const char *p = archive_entry_sourcepath(e);
	_cleanup_close_ int fd = open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return xarch_err_sys(w->g->err, errno, "cannot open '%s'", p);
	while (left > 0) {
		size_t want = left < (int64_t)sizeof(w->buf) ? (size_t)left : sizeof(w->buf);
		ssize_t n = read(fd, w->buf, want);
		if (n < 0)
			return xarch_err_sys(w->g->err, errno, "cannot read '%s'", p);
		if (n == 0)
			return GI_ERR(w->g, w->img, EIO, "'%s' shrank while it was archived", p);
		if (archive_write_data(w->a, w->buf, (size_t)n) != n)
			return aerr(w, p);
		left -= n;
	}
	return 0;
}

/* Hand e to the hard link resolver and write what comes out. */
static int emit(struct aw *w, struct archive_entry *e)
{
	struct archive_entry *spare = NULL;
	int r = 0;
	archive_entry_linkify(w->lr, &e, &spare);
	if (e) {
		r = put(w, e);
		archive_entry_free(e);
	}
	if (spare) {
		if (r >= 0)
			r = put(w, spare);
		archive_entry_free(spare);
	}
	return r;
}

/* cpio inode numbers: 1, 2, ... in archive order, one per hard-linked file. */
static int ino_for(struct aw *w, const struct stat *st, int64_t *ret)
{
	if (st->st_nlink > 1 && !S_ISDIR(st->st_mode))
		for (size_t i = 0; i < w->n_map; i++)
			if (w->map[i].dev == st->st_dev && w->map[i].ino == st->st_ino) {
				*ret = w->map[i].n;
				return 0;
			}
	*ret = ++w->next_ino;
	if (st->st_nlink > 1 && !S_ISDIR(st->st_mode)) {
		struct ino_map *m = reallocarray(w->map, w->n_map + 1, sizeof(*m));
		if (!m)
			return -ENOMEM;
		w->map = m;
		m[w->n_map++] = (struct ino_map){st->st_dev, st->st_ino, *ret};
	}
	return 0;
}

static int add(struct aw *w, int dfd, const char *name, const char *rel, const char *full)
{
	struct stat st;
	char path[PATH_MAX + 4];
	int r;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return xarch_err_sys(w->g->err, errno, "cannot stat '%s'", full);
	if (S_ISSOCK(st.st_mode) && !w->cpio)
		return 0; /* tar cannot hold sockets; GNU tar skips them too */
	if (w->cpio)
		xa_strcpy(path, sizeof(path), *rel ? rel : ".");
	else
		xa_snprintf(path, sizeof(path), "./%s", rel);
	struct archive_entry *e = archive_entry_new();
	if (!e)
		return xarch_err(w->g->err, ENOMEM, "out of memory");
	archive_entry_copy_pathname(e, path);
	archive_entry_copy_sourcepath(e, full);
	_cleanup_close_ int fd = -1;
	if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))
		fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (archive_read_disk_entry_from_file(w->disk, e, fd, &st) < ARCHIVE_WARN) {
		const char *m = archive_error_string(w->disk);
		archive_entry_free(e);
		return GI_ERR(w->g, w->img, EIO, "'%s': %s", full, m ? m : "cannot read");
	}
	/* only what is reproducible: no atime/ctime, whole-second mtimes */
	archive_entry_unset_atime(e);
	archive_entry_unset_ctime(e);
	archive_entry_unset_birthtime(e);
	time_t mt = st.st_mtime;
	if (w->g->epoch && mt > w->g->epoch_sec)
		mt = (time_t)w->g->epoch_sec;
	archive_entry_set_mtime(e, mt, 0);
	archive_entry_set_uname(e, NULL);
	archive_entry_set_gname(e, NULL);
	if (w->owner)
		archive_entry_set_uid(e, w->uid);
	if (w->group)
		archive_entry_set_gid(e, w->gid);
	if (w->cpio) {
		int64_t ino;
		if (ino_for(w, &st, &ino) < 0) {
			archive_entry_free(e);
			return xarch_err(w->g->err, ENOMEM, "out of memory");
		}
		archive_entry_set_ino64(e, ino);
		archive_entry_set_dev(e, 0);
		/* a mountpoint left empty, as genimage's fresh mkdir */
		if (S_ISDIR(st.st_mode) && gi_src_excluded(w->src, rel))
			archive_entry_set_nlink(e, 2);
	}
	if ((r = emit(w, e)) < 0)
		return r;
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Directory `rel` (open as dfd, at `full` on the host): its entries, sorted. */
static int walk(struct aw *w, int dfd, const char *rel, const char *full)
{
	int r = 0, fd2 = dup(dfd);
	DIR *d = fd2 >= 0 ? fdopendir(fd2) : NULL;
	char **v = NULL;
	size_t n = 0;
	struct dirent *de;

	if (!d) {
		if (fd2 >= 0)
			close(fd2);
		return xarch_err_sys(w->g->err, errno, "cannot read '%s'", full);
	}
	while ((errno = 0, de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char **nv = reallocarray(v, n + 1, sizeof(*v));
		if (!nv) {
			r = -ENOMEM;
			break;
		}
		v = nv;
		if (!(v[n] = strdup(de->d_name))) {
			r = -ENOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	if (r < 0) {
		r = xarch_err(w->g->err, ENOMEM, "out of memory");
		goto out;
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_name);
	for (size_t i = 0; i < n && r >= 0; i++) {
		char sub[PATH_MAX], host[PATH_MAX];
		struct stat st;
		if (xa_snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "", v[i]) < 0 ||
		    xa_snprintf(host, sizeof(host), "%s/%s", full, v[i]) < 0) {
			r = GI_ERR(w->g, w->img, ENAMETOOLONG, "path too long below '%s'", full);
			break;
		}
		if ((r = add(w, dfd, v[i], sub, host)) < 0)
			break;
		/* another image's mountpoint: the directory, not its files */
		if (fstatat(dfd, v[i], &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode) ||
		    gi_src_excluded(w->src, sub))
			continue;
		int c = openat(dfd, v[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (c < 0) {
			r = xarch_err_sys(w->g->err, errno, "cannot open '%s'", host);
			break;
		}
		r = walk(w, c, sub, host);
		close(c);
	}
out:
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	return r;
}

/* Write the image's tree to w->a, which is set up and open. */
static int write_tree(struct aw *w)
{
	int r;
	if (!w->src->dir[0])
		return 0; /* empty */
	_cleanup_close_ int root = open(w->src->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return GI_ERR(w->g, w->img, errno, "cannot open '%s': %s", w->src->dir,
			      strerror(errno));
	/* the root itself: "./" in tar, "." in cpio, as tar -C DIR . and find . */
	char parent[PATH_MAX];
	if (xa_snprintf(parent, sizeof(parent), "%s/..", w->src->dir) < 0)
		return GI_ERR(w->g, w->img, ENAMETOOLONG, "path too long");
	struct stat st;
	if (fstat(root, &st) < 0)
		return xarch_err_sys(w->g->err, errno, "cannot stat '%s'", w->src->dir);
	struct archive_entry *e = archive_entry_new();
	if (!e)
		return -ENOMEM;
	archive_entry_copy_pathname(e, w->cpio ? "." : "./");
	archive_entry_copy_sourcepath(e, w->src->dir);
	if (archive_read_disk_entry_from_file(w->disk, e, root, &st) < ARCHIVE_WARN) {
		archive_entry_free(e);
		return GI_ERR(w->g, w->img, EIO, "'%s': %s", w->src->dir,
			      archive_error_string(w->disk));
	}
	archive_entry_unset_atime(e);
	archive_entry_unset_ctime(e);
	archive_entry_unset_birthtime(e);
	time_t mt = st.st_mtime;
	if (w->g->epoch && mt > w->g->epoch_sec)
		mt = (time_t)w->g->epoch_sec;
	archive_entry_set_mtime(e, mt, 0);
	if (w->owner)
		archive_entry_set_uid(e, w->uid);
	if (w->group)
		archive_entry_set_gid(e, w->gid);
	if (w->cpio) {
		archive_entry_set_ino64(e, ++w->next_ino);
		archive_entry_set_dev(e, 0);
	}
	if ((r = emit(w, e)) < 0)
		return r;
	if ((r = walk(w, root, "", w->src->dir)) < 0)
		return r;
	/* cpio keeps hard-linked files until their last link: the rest now */
	struct archive_entry *spare = NULL;
	for (;;) {
		e = NULL;
		archive_entry_linkify(w->lr, &e, &spare);
		if (!e)
			break;
		r = put(w, e);
		archive_entry_free(e);
		if (r < 0)
			return r;
	}
	return 0;
}

/* GNU tar -a's suffixes; 1 when compressed */
static int tar_filter(struct aw *w, const char *name)
{
	static const struct {
		const char *suffix;
		int (*add)(struct archive *);
	} sfx[] = {
	    {".gz", archive_write_add_filter_gzip},	 {".tgz", archive_write_add_filter_gzip},
	    {".taz", archive_write_add_filter_gzip},	 {".Z", archive_write_add_filter_compress},
	    {".taZ", archive_write_add_filter_compress}, {".bz2", archive_write_add_filter_bzip2},
	    {".tz2", archive_write_add_filter_bzip2},	 {".tbz2", archive_write_add_filter_bzip2},
	    {".tbz", archive_write_add_filter_bzip2},	 {".lz", archive_write_add_filter_lzip},
	    {".lzma", archive_write_add_filter_lzma},	 {".tlz", archive_write_add_filter_lzma},
	    {".lzo", archive_write_add_filter_lzop},	 {".xz", archive_write_add_filter_xz},
	    {".txz", archive_write_add_filter_xz},	 {".zst", archive_write_add_filter_zstd},
	    {".tzst", archive_write_add_filter_zstd},	 {".lz4", archive_write_add_filter_lz4},
	};
	for (size_t i = 0; i < ARRAY_SIZE(sfx); i++)
		if (xa_ends_with(name, sfx[i].suffix)) {
			if (sfx[i].add(w->a) < ARCHIVE_WARN)
				return aerr(w, "compression");
			return 1;
		}
	return 0;
}

/* compress = "gzip": libarchive's own; anything else runs as a command
 * (libarchive splits it into argv; no shell is involved).  1 when added. */
static int cpio_filter(struct aw *w, const char *c)
{
	static const struct {
		const char *name;
		int (*add)(struct archive *);
	} f[] = {
	    {"gzip", archive_write_add_filter_gzip}, {"bzip2", archive_write_add_filter_bzip2},
	    {"xz", archive_write_add_filter_xz},     {"lzma", archive_write_add_filter_lzma},
	    {"lzop", archive_write_add_filter_lzop}, {"zstd", archive_write_add_filter_zstd},
	    {"lz4", archive_write_add_filter_lz4},   {"lzip", archive_write_add_filter_lzip},
	};
	if (!c || !c[0])
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(f); i++)
		if (!strcmp(c, f[i].name))
			return f[i].add(w->a) < ARCHIVE_WARN ? aerr(w, "compress") : 1;
	if (archive_write_add_filter_program(w->a, c) < ARCHIVE_WARN)
		return aerr(w, "compress");
	return 1;
}

static int cpio_format(struct aw *w, const char *f)
{
	static const struct {
		const char *name;
		int (*set)(struct archive *);
	} fm[] = {
	    {"newc", archive_write_set_format_cpio_newc},
	    {"odc", archive_write_set_format_cpio_odc},
	    {"bin", archive_write_set_format_cpio_bin},
	    {"ustar", archive_write_set_format_ustar},
	    {"tar", archive_write_set_format_v7tar},
	};
	if (!f)
		f = "newc";
	for (size_t i = 0; i < ARRAY_SIZE(fm); i++)
		if (!strcmp(f, fm[i].name))
			return fm[i].set(w->a) < ARCHIVE_WARN ? aerr(w, "format") : 0;
	return GI_ERR(w->g, w->img, ENOTSUP,
		      "cpio format '%s' is not supported (newc, odc, bin, ustar, tar)", f);
}

/* -R USER[:GROUP] as cpio takes it: numbers, or names of this host. */
static int owner_spec(struct aw *w, const char *s)
{
	char u[256], *gp;
	if (xa_strcpy(u, sizeof(u), s) < 0)
		return -EINVAL;
	gp = strpbrk(u, ":.");
	if (gp)
		*gp++ = '\0';
	if (u[0]) {
		char *end;
		unsigned long v = strtoul(u, &end, 10);
		struct passwd *pw = *end ? getpwnam(u) : NULL;
		if (*end && !pw)
			return -EINVAL;
		w->uid = pw ? pw->pw_uid : (uid_t)v;
		w->owner = true;
		if (gp && !*gp && pw) {
			w->gid = pw->pw_gid;
			w->group = true;
		}
	}
	if (gp && *gp) {
		char *end;
		unsigned long v = strtoul(gp, &end, 10);
		struct group *gr = *end ? getgrnam(gp) : NULL;
		if (*end && !gr)
			return -EINVAL;
		w->gid = gr ? gr->gr_gid : (gid_t)v;
		w->group = true;
	}
	return 0;
}

/* cpio's extraargs that mean something here; anything else is refused
 * rather than silently dropped. */
static int cpio_args(struct aw *w, const char *args)
{
	static const char *const ignored[] = {"--reproducible",
					      "--ignore-devno",
					      "--renumber-inodes",
					      "--quiet",
					      "-v",
					      "--verbose",
					      "-V",
					      "--dot",
					      "-c"};
	char buf[XARCH_GCFG_EXEC_MAX];
	if (!args || xa_strcpy(buf, sizeof(buf), args) < 0)
		return args ? GI_ERR(w->g, w->img, E2BIG, "extraargs too long") : 0;
	char *save = NULL;
	for (char *a = strtok_r(buf, " \t\n", &save); a; a = strtok_r(NULL, " \t\n", &save)) {
		bool skip = false;
		for (size_t i = 0; i < ARRAY_SIZE(ignored); i++)
			skip = skip || !strcmp(a, ignored[i]);
		if (skip)
			continue;
		const char *spec = NULL;
		if (!strcmp(a, "-R") || !strcmp(a, "--owner"))
			spec = strtok_r(NULL, " \t\n", &save);
		else if (!strncmp(a, "--owner=", 8))
			spec = a + 8;
		else if (!strncmp(a, "-R", 2))
			spec = a + 2;
		else
			return GI_ERR(w->g, w->img, ENOTSUP,
				      "cpio extraargs '%s' is not supported (only -R/--owner, "
				      "--reproducible, --quiet)",
				      a);
		if (!spec || owner_spec(w, spec) < 0)
			return GI_ERR(w->g, w->img, EINVAL, "cpio extraargs: bad owner '%s'",
				      spec ? spec : "");
	}
	return 0;
}

static int build(struct gi *g, const struct xarch_gimage *img, const char *path, int fd, bool cpio)
{
	struct aw *w = calloc(1, sizeof(*w));
	struct gi_src src = {0};
	int r;

	if (!w)
		return xarch_err(g->err, ENOMEM, "out of memory");
	w->g = g;
	w->img = img;
	w->src = &src;
	w->cpio = cpio;
	w->a = archive_write_new();
	w->disk = archive_read_disk_new();
	w->lr = archive_entry_linkresolver_new();
	if (!w->a || !w->disk || !w->lr) {
		r = xarch_err(g->err, ENOMEM, "out of memory");
		goto out;
	}
	if ((r = gi_source(g, img, &src)) < 0)
		goto out;
	/* cpio has no room for xattrs or ACLs */
	archive_read_disk_set_behavior(
	    w->disk, ARCHIVE_READDISK_NO_FFLAGS |
			 (cpio ? ARCHIVE_READDISK_NO_XATTR | ARCHIVE_READDISK_NO_ACL : 0));
	if (cpio) {
		if ((r = cpio_format(w, xarch_gimage_opt(img, "format"))) < 0 ||
		    (r = cpio_args(w, xarch_gimage_opt(img, "extraargs"))) < 0 ||
		    (r = cpio_filter(w, xarch_gimage_opt(img, "compress"))) < 0)
			goto out;
		bool z = r > 0;
		/* cpio's 512-byte blocks, the last one padded too */
		archive_write_set_bytes_per_block(w->a, 512);
		archive_write_set_bytes_in_last_block(w->a, z ? 1 : 512);
	} else {
		if (archive_write_set_format_pax_restricted(w->a) < ARCHIVE_WARN) {
			r = aerr(w, "format");
			goto out;
		}
		/* xattrs as GNU tar and bsdtar both read them */
		archive_write_set_format_option(w->a, "pax", "xattrheader", "SCHILY");
		int z = tar_filter(w, img->name);
		if ((r = z) < 0)
			goto out;
		/* GNU tar's 10 KiB records, the last one padded too when not compressed */
		archive_write_set_bytes_in_last_block(w->a, z ? 1 : 10240);
	}
	/* no time or name in the gzip header */
	archive_write_set_filter_option(w->a, "gzip", "timestamp", NULL);
	archive_entry_linkresolver_set_strategy(w->lr, archive_format(w->a));
	if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0) {
		r = xarch_err_sys(g->err, errno, "cannot truncate '%s'", path);
		goto out;
	}
	if (archive_write_open_fd(w->a, fd) < ARCHIVE_WARN) {
		r = aerr(w, "cannot start the archive");
		goto out;
	}
	if ((r = write_tree(w)) < 0)
		goto out;
	if (archive_write_close(w->a) < ARCHIVE_WARN)
		r = aerr(w, "cannot finish the archive");
out:
	if (w->lr)
		archive_entry_linkresolver_free(w->lr);
	if (w->a)
		archive_write_free(w->a);
	if (w->disk)
		archive_read_free(w->disk);
	gi_source_release(&src);
	free(w->map);
	free(w);
	return r;
}

int gi_build_tar(struct gi *g, const struct xarch_gimage *img, const char *path, int fd,
		 uint64_t off)
{
	(void)off;
	return build(g, img, path, fd, false);
}

int gi_build_cpio(struct gi *g, const struct xarch_gimage *img, const char *path, int fd,
		  uint64_t off)
{
	(void)off;
	return build(g, img, path, fd, true);
}
