// SPDX-License-Identifier: MIT
/*
 * Dockerfile builds without an engine (see include/xarch/build.h).
 *
 * A build works in STATE/work-XXXXXX/: one rootfs directory per stage.
 * Instructions run in order; only the stages the target needs are built.
 * Paths a stage's rootfs or the context could redirect (symlinks, "..")
 * are resolved inside that root with lib/rootfs.c, and files are created
 * relative to directory fds so resolved, with O_NOFOLLOW|O_EXCL: a rootfs
 * symlink pointing at a host path never makes COPY write outside.
 *
 * The step cache keeps the rootfs and metadata of each finished stage
 * under STATE/cache/KEY, KEY hashing the base, every expanded instruction,
 * the platform and the content of COPY/ADD sources; a stage whose key is
 * there is not run again and its cached tree is used read-only.
 */
#include <archive.h>
#include <archive_entry.h>
#include <ctype.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>

#include "digest.h"
#include "internal.h"
#include "xarch/arch.h"
#include "xarch/build.h"
#include "xarch/dockerfile.h"
#include "xarch/export.h"
#include "xarch/image.h"
#include "xarch/oci.h"
#include "xarch/registry.h"
#include "xarch/rootfs.h"
#include "xarch/store.h"

#define EXPAND_MAX     (64u << 10)
#define DOCKERFILE_MAX (4u << 20)
#define IGNORE_MAX     (1u << 20)
#define DEFAULT_PATH   "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* ---- string vectors ------------------------------------------------------ */

struct strv {
	char **v; /* NULL-terminated when n > 0 */
	size_t n;
};

static int strv_add(struct strv *s, const char *str)
{
	char **v = realloc(s->v, (s->n + 2) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	s->v = v;
	if (!(v[s->n] = strdup(str)))
		return -ENOMEM;
	v[++s->n] = NULL;
	return 0;
}

static void strv_clear(struct strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

static int strv_copy(struct strv *dst, const struct strv *src)
{
	strv_clear(dst);
	for (size_t i = 0; i < src->n; i++)
		if (strv_add(dst, src->v[i]) < 0)
			return -ENOMEM;
	return 0;
}

/* "KEY=VALUE" lists: set replaces the entry of KEY */
static int kv_set(struct strv *s, const char *key, const char *val)
{
	size_t kl = strlen(key);
	_cleanup_free_ char *e = malloc(kl + strlen(val) + 2);
	if (!e)
		return -ENOMEM;
	sprintf(e, "%s=%s", key, val);
	for (size_t i = 0; i < s->n; i++)
		if (!strncmp(s->v[i], key, kl) && s->v[i][kl] == '=') {
			free(s->v[i]);
			s->v[i] = TAKE_PTR(e);
			return 0;
		}
	return strv_add(s, e);
}

static const char *kv_get(const struct strv *s, const char *key)
{
	size_t kl = strlen(key);
	for (size_t i = 0; i < s->n; i++)
		if (!strncmp(s->v[i], key, kl) && s->v[i][kl] == '=')
			return s->v[i] + kl + 1;
	return NULL;
}

/* ---- .dockerignore --------------------------------------------------------- */

/* a pattern with "**" components against a path, component by component */
static bool match_parts(char **pat, size_t np, char **path, size_t n)
{
	if (np == 0)
		return n == 0;
	if (!strcmp(pat[0], "**")) {
		for (size_t k = 0; k <= n; k++)
			if (match_parts(pat + 1, np - 1, path + k, n - k))
				return true;
		return false;
	}
	return n > 0 && fnmatch(pat[0], path[0], 0) == 0 &&
	       match_parts(pat + 1, np - 1, path + 1, n - 1);
}

static size_t split_path(char *s, char **parts, size_t max)
{
	size_t n = 0;
	for (char *t = strtok(s, "/"); t && n < max; t = strtok(NULL, "/"))
		if (strcmp(t, "."))
			parts[n++] = t;
	return n;
}

static bool ignore_one(const char *pattern, const char *path)
{
	char pb[PATH_MAX], xb[PATH_MAX];
	char *pp[256], *xp[256];
	if (xa_strcpy(pb, sizeof(pb), pattern) < 0 || xa_strcpy(xb, sizeof(xb), path) < 0)
		return false;
	size_t np = split_path(pb, pp, 256), n = split_path(xb, xp, 256);
	if (np == 0)
		return false;
	/* the path or one of its parents */
	for (size_t k = n; k > 0; k--)
		if (match_parts(pp, np, xp, k))
			return true;
	return false;
}

bool xarch_dockerignore_match(const char *const *patterns, size_t n, const char *path)
{
	bool ex = false;
	for (size_t i = 0; i < n; i++) {
		const char *p = patterns[i];
		bool neg = p[0] == '!';
		if (neg)
			p++;
		if (ignore_one(p, path))
			ex = !neg;
	}
	return ex;
}

/* Excluded, and no exception could bring back something below it? */
static bool ignored(const struct strv *ig, const char *path, bool dir)
{
	if (!ig || !ig->n || !xarch_dockerignore_match((const char *const *)ig->v, ig->n, path))
		return false;
	if (!dir)
		return true;
	size_t n = strlen(path);
	for (size_t i = 0; i < ig->n; i++) {
		const char *p = ig->v[i];
		if (p[0] != '!')
			continue;
		for (p++; *p == '/';)
			p++;
		if (!strncmp(p, path, n) && p[n] == '/')
			return false;
	}
	return true;
}

static int load_dockerignore(const char *context, struct strv *ret, struct xarch_error *err)
{
	char p[PATH_MAX];
	_cleanup_free_ char *buf = NULL;
	size_t len;
	if (xa_snprintf(p, sizeof(p), "%s/.dockerignore", context) < 0)
		return xarch_err(err, ENAMETOOLONG, "context path too long");
	int r = xa_read_file(p, IGNORE_MAX, &buf, &len, NULL);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return xarch_err_sys(err, -r, "cannot read '%s'", p);
	for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		size_t n = strlen(l);
		while (n && (l[n - 1] == '\r' || l[n - 1] == ' ' || l[n - 1] == '\t'))
			l[--n] = '\0';
		while (*l == ' ' || *l == '\t')
			l++;
		if (!*l || *l == '#')
			continue;
		if (strv_add(ret, l) < 0)
			return xarch_err(err, ENOMEM, "out of memory");
	}
	return 0;
}

/* ---- the build's state ---------------------------------------------------- */

struct stage {
	char *name;	    /* AS name, lowercase; NULL */
	size_t first, last; /* instruction indices: FROM .. last */
	bool needed, built;
	char dir[PATH_MAX]; /* the rootfs */
	bool cached;	    /* dir is a cache entry: read-only */
	char platform[128]; /* "linux/riscv64"; "" unknown */
	struct strv env, args;
	struct strv shell, cmd, entrypoint;
	bool has_cmd, has_entrypoint, cmd_here;
	struct strv labels; /* KEY=VALUE */
	struct strv ports, volumes;
	char *workdir, *user, *stopsignal, *author;
	struct xa_sha256 key; /* the step cache key so far */
	/* the image's layers: the base's, then one per step that changed the
	 * tree (files in the step cache) */
	struct xarch_export_layer *layers;
	size_t n_layers;
};

struct build {
	const struct xarch_build_opts *o;
	struct xarch_error *err;
	const char *dfname;
	struct xarch_dockerfile df;
	struct stage *stages;
	size_t n_stages;
	struct strv global_args; /* ARGs before the first FROM, with values */
	struct strv build_args;	 /* from the command line */
	bool *arg_used;
	struct strv ignore;
	char state[PATH_MAX - 64], work[PATH_MAX], cache[PATH_MAX];
	char host_platform[128], target_platform[128];
	/* a foreign arch the build targets (--platform, else the first foreign
	 * FROM --platform): native stages may run its binaries (dnf --forcearch) */
	char emulate[32];
	bool root; /* real root: owners, devices */
	unsigned counter, steps, cached;
	struct stage *cur;
	const struct xarch_df_instr *in;
};

static void note(struct build *b, enum xarch_note_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void note(struct build *b, enum xarch_note_level lvl, const char *fmt, ...)
{
	if (!b->o->note)
		return;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	b->o->note(b->o->note_data, lvl, msg);
}

/* "Dockerfile:LINE: INSTR: message"; returns -code */
static int line_err(struct build *b, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int line_err(struct build *b, int code, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return xarch_err(b->err, code, "%s:%d: %s", b->dfname, b->in ? b->in->line : 0, msg);
}

/* prefix an error some library call already recorded with the line */
static int line_wrap(struct build *b, int r)
{
	if (b->err) {
		char msg[sizeof(b->err->msg)];
		snprintf(msg, sizeof(msg), "%s", b->err->msg);
		xarch_err(b->err, -r, "%s:%d: %s", b->dfname, b->in ? b->in->line : 0, msg);
	}
	return r;
}

static bool real_root(void)
{
	if (geteuid() != 0)
		return false;
	_cleanup_fclose_ FILE *f = fopen("/proc/self/uid_map", "re");
	if (!f)
		return true;
	unsigned long a = 0, c = 0, n = 0;
	return fscanf(f, "%lu %lu %lu", &a, &c, &n) == 3 && a == 0 && c == 0 && n == 4294967295ul;
}

int xarch_build_state_dir(char *buf, size_t len, struct xarch_error *err)
{
	const char *env = getenv("XARCH_BUILD_DIR");
	int r;
	if (env && *env)
		r = xa_strcpy(buf, len, env);
	else if (geteuid() == 0)
		r = xa_strcpy(buf, len, "/var/cache/xarch/build");
	else if ((env = getenv("XDG_CACHE_HOME")) && env[0] == '/')
		r = xa_snprintf(buf, len, "%s/xarch/build", env);
	else if ((env = getenv("HOME")) && env[0] == '/')
		r = xa_snprintf(buf, len, "%s/.cache/xarch/build", env);
	else
		return xarch_err(err, ENOENT, "no build directory: set XARCH_BUILD_DIR or HOME");
	return r < 0 ? xarch_err(err, ENAMETOOLONG, "build directory name too long") : 0;
}

/* ---- variables ------------------------------------------------------------- */

/* ENV wins over ARG; before the first FROM only the global ARGs exist */
static const char *lookup_var(void *data, const char *name)
{
	struct build *b = data;
	if (b->cur) {
		const char *v = kv_get(&b->cur->env, name);
		return v ? v : kv_get(&b->cur->args, name);
	}
	return kv_get(&b->global_args, name);
}

/* expand `in` (quotes removed) into a new string */
static int expand(struct build *b, const char *in, char **ret)
{
	_cleanup_free_ char *out = malloc(EXPAND_MAX);
	if (!out)
		return xarch_err(b->err, ENOMEM, "out of memory");
	struct xarch_error e = {0};
	int r = xarch_df_expand(in, b->df.escape, lookup_var, b, out, EXPAND_MAX, &e);
	if (r < 0)
		return line_err(b, -r, "%s", e.msg);
	*ret = strdup(out);
	return *ret ? 0 : xarch_err(b->err, ENOMEM, "out of memory");
}

/* a build-arg's value: NULL when not given */
static const char *build_arg(struct build *b, const char *name)
{
	size_t kl = strlen(name);
	for (size_t i = 0; i < b->build_args.n; i++) {
		const char *a = b->build_args.v[i];
		if (!strncmp(a, name, kl) && a[kl] == '=') {
			b->arg_used[i] = true;
			return a + kl + 1;
		}
	}
	return NULL;
}

static const char *predefined_arg(struct build *b, const char *name, char *buf, size_t len)
{
	const char *plat = NULL;
	bool target = !strncmp(name, "TARGET", 6);
	if (target)
		plat = b->target_platform;
	else if (!strncmp(name, "BUILD", 5))
		plat = b->host_platform;
	else
		return NULL;
	const char *what = name + (target ? 6 : 5);
	char p[128];
	snprintf(p, sizeof(p), "%s", plat);
	char *os = p, *arch = strchr(p, '/'), *variant = NULL;
	if (arch) {
		*arch++ = '\0';
		if ((variant = strchr(arch, '/')))
			*variant++ = '\0';
	}
	if (!strcmp(what, "PLATFORM"))
		snprintf(buf, len, "%s", plat);
	else if (!strcmp(what, "OS"))
		snprintf(buf, len, "%s", os);
	else if (!strcmp(what, "ARCH"))
		snprintf(buf, len, "%s", arch ? arch : "");
	else if (!strcmp(what, "VARIANT"))
		snprintf(buf, len, "%s", variant ? variant : "");
	else
		return NULL;
	return buf;
}

/* ---- tree copying ------------------------------------------------------------ */

struct hardlink {
	dev_t dev;
	ino_t ino;
	char *dest; /* path inside the destination root */
};

struct copier {
	struct build *b;
	int dst_root;	 /* O_PATH fd of the destination root */
	bool keep_owner; /* else root:root (or chown) */
	bool chown;
	uid_t uid;
	gid_t gid;
	int chmod;		   /* -1: keep */
	const struct strv *ignore; /* for context sources; NULL */
	struct hardlink *links;
	size_t n_links;
	struct xa_sha256 *hash; /* content hashing only (no writes) when set */
};

static void copier_release(struct copier *c)
{
	for (size_t i = 0; i < c->n_links; i++)
		free(c->links[i].dest);
	free(c->links);
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* sorted names of a directory fd (not consumed) */
static int list_dir(int fd, struct strv *ret)
{
	int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return -errno;
	}
	struct dirent *e;
	int r = 0;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
		    (r = strv_add(ret, e->d_name)) < 0)
			break;
	closedir(d);
	if (r == 0 && ret->n)
		qsort(ret->v, ret->n, sizeof(char *), cmp_name);
	return r;
}

static int copy_data(int in, int out)
{
	for (;;) {
		ssize_t k = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
		if (k == 0)
			return 0;
		if (k > 0)
			continue;
		if (errno == EINTR)
			continue;
		if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
			return -errno;
		break;
	}
	char buf[65536];
	for (;;) {
		ssize_t k = read(in, buf, sizeof(buf));
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			return 0;
		for (ssize_t off = 0; off < k;) {
			ssize_t w = write(out, buf + off, (size_t)(k - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return -errno;
			off += w;
		}
	}
}

static void copy_xattrs(int in, int out)
{
	char names[8192], val[65536];
	ssize_t n = flistxattr(in, names, sizeof(names));
	for (ssize_t i = 0; n > 0 && i < n; i += (ssize_t)strlen(names + i) + 1) {
		ssize_t k = fgetxattr(in, names + i, val, sizeof(val));
		if (k >= 0)
			fsetxattr(out, names + i, val, (size_t)k, 0);
	}
}

static void hash_str(struct xa_sha256 *h, const char *s)
{
	xa_sha256_update(h, s, strlen(s) + 1);
}

/* owner and mode for a copied entry */
static void attrs(const struct copier *c, const struct stat *st, uid_t *uid, gid_t *gid,
		  mode_t *mode)
{
	*uid = c->chown ? c->uid : c->keep_owner ? st->st_uid : 0;
	*gid = c->chown ? c->gid : c->keep_owner ? st->st_gid : 0;
	*mode = c->chmod >= 0 ? (mode_t)c->chmod : st->st_mode & 07777;
}

static int copy_entry(struct copier *c, int sdir, const char *name, const struct stat *st,
		      const char *src_rel, const char *dst_rel, int ddir, bool top);

/* `name` in the directory `sdir`, never following a symlink; name NULL:
 * `sdir` is an O_PATH fd of the entry itself */
static int src_open(int sdir, const char *name, int flags)
{
	if (name)
		return openat(sdir, name, flags | O_NOFOLLOW | O_CLOEXEC);
	char pp[64];
	return open(xarch_fd_path(sdir, pp, sizeof(pp)), flags | O_CLOEXEC);
}

static ssize_t src_readlink(int sdir, const char *name, char *buf, size_t len)
{
	return readlinkat(sdir, name ? name : "", buf, len);
}

/* copy the children of the directory `sfd` into `dst_rel` (created) */
static int copy_children(struct copier *c, int sfd, const char *src_rel, const char *dst_rel)
{
	struct strv names = {0};
	int r = list_dir(sfd, &names);
	if (r < 0) {
		strv_clear(&names);
		return xarch_err_sys(c->b->err, -r, "cannot read '%s'", src_rel[0] ? src_rel : ".");
	}
	_cleanup_close_ int ddir = -1;
	if (!c->hash) {
		ddir = xarch_root_mkdir_p(c->dst_root, dst_rel[0] ? dst_rel : "/", 0755, c->b->err);
		if (ddir < 0) {
			strv_clear(&names);
			return ddir;
		}
	}
	for (size_t i = 0; i < names.n && r >= 0; i++) {
		char s2[PATH_MAX], d2[PATH_MAX];
		if (xa_snprintf(s2, sizeof(s2), "%s%s%s", src_rel, src_rel[0] ? "/" : "",
				names.v[i]) < 0 ||
		    xa_snprintf(d2, sizeof(d2), "%s/%s", strcmp(dst_rel, "/") ? dst_rel : "",
				names.v[i]) < 0) {
			r = xarch_err(c->b->err, ENAMETOOLONG, "path too long: '%s'", s2);
			break;
		}
		struct stat st;
		if (fstatat(sfd, names.v[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
			r = xarch_err_sys(c->b->err, errno, "cannot stat '%s'", s2);
			break;
		}
		if (ignored(c->ignore, s2, S_ISDIR(st.st_mode)))
			continue;
		r = copy_entry(c, sfd, names.v[i], &st, s2, d2, ddir, false);
	}
	strv_clear(&names);
	return r;
}

static void dirname_base(const char *path, char *dir, size_t len, const char **base)
{
	const char *s = strrchr(path, '/');
	if (!s) {
		snprintf(dir, len, "/");
		*base = path;
		return;
	}
	snprintf(dir, len, "%.*s", (int)(s - path), path);
	if (!dir[0])
		snprintf(dir, len, "/");
	*base = s + 1;
}

/*
 * Copy one entry (`name` in the source directory `sdir`) to `dst_rel` in
 * the destination root, whose parent is `ddir` (resolved inside the root).
 * Directories merge into existing ones (a symlink there resolves inside
 * the root); other entries replace what is there.
 */
static int copy_entry(struct copier *c, int sdir, const char *name, const struct stat *st,
		      const char *src_rel, const char *dst_rel, int ddir, bool top)
{
	struct xarch_error *err = c->b->err;
	const char *base = strrchr(dst_rel, '/');
	base = base ? base + 1 : dst_rel;
	uid_t uid;
	gid_t gid;
	mode_t mode;
	attrs(c, st, &uid, &gid, &mode);
	int r;

	if (c->hash) {
		char meta[128];
		snprintf(meta, sizeof(meta), "%o %u %u %lld", (unsigned)st->st_mode, (unsigned)uid,
			 (unsigned)gid, S_ISDIR(st->st_mode) ? 0LL : (long long)st->st_size);
		hash_str(c->hash, dst_rel);
		hash_str(c->hash, meta);
	}

	if (S_ISDIR(st->st_mode)) {
		_cleanup_close_ int sfd = src_open(sdir, name, O_RDONLY | O_DIRECTORY);
		if (sfd < 0)
			return xarch_err_sys(err, errno, "cannot open '%s'", src_rel);
		if ((r = copy_children(c, sfd, src_rel, dst_rel)) < 0 || c->hash)
			return r;
		if (top && !strcmp(dst_rel, "/"))
			return 0;
		/* the directory's own attributes, after its children */
		_cleanup_close_ int p =
		    xarch_root_open(c->dst_root, dst_rel, O_RDONLY | O_DIRECTORY, 0, err);
		if (p < 0)
			return p;
		if (c->b->root || uid != geteuid())
			fchown(p, uid, gid);
		fchmod(p, mode);
		if (c->b->root)
			copy_xattrs(sfd, p);
		struct timespec ts[2] = {st->st_atim, st->st_mtim};
		futimens(p, ts);
		return 0;
	}

	if (c->hash) {
		if (S_ISREG(st->st_mode)) {
			_cleanup_close_ int fd = src_open(sdir, name, O_RDONLY);
			if (fd < 0)
				return xarch_err_sys(err, errno, "cannot open '%s'", src_rel);
			char buf[65536];
			ssize_t k;
			while ((k = read(fd, buf, sizeof(buf))) > 0)
				xa_sha256_update(c->hash, buf, (size_t)k);
			if (k < 0)
				return xarch_err_sys(err, errno, "cannot read '%s'", src_rel);
		} else if (S_ISLNK(st->st_mode)) {
			char t[PATH_MAX];
			ssize_t k = src_readlink(sdir, name, t, sizeof(t) - 1);
			t[k < 0 ? 0 : k] = '\0';
			hash_str(c->hash, t);
		}
		return 0;
	}

	/* whatever is at the destination goes, unless it is a directory */
	struct stat dst;
	if (fstatat(ddir, base, &dst, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISDIR(dst.st_mode))
			return xarch_err(err, EISDIR, "cannot copy '%s' over the directory '%s'",
					 src_rel, dst_rel);
		if (unlinkat(ddir, base, 0) < 0)
			return xarch_err_sys(err, errno, "cannot replace '%s'", dst_rel);
	}

	/* a hard link to a file copied before */
	if (!S_ISDIR(st->st_mode) && st->st_nlink > 1) {
		for (size_t i = 0; i < c->n_links; i++) {
			if (c->links[i].dev != st->st_dev || c->links[i].ino != st->st_ino)
				continue;
			char odir[PATH_MAX];
			const char *obase;
			dirname_base(c->links[i].dest, odir, sizeof(odir), &obase);
			_cleanup_close_ int ofd =
			    xarch_root_open(c->dst_root, odir, O_PATH | O_DIRECTORY, 0, err);
			if (ofd < 0)
				return ofd;
			if (linkat(ofd, obase, ddir, base, 0) == 0)
				return 0;
			break; /* fall back to a copy */
		}
	}

	if (S_ISREG(st->st_mode)) {
		_cleanup_close_ int in = src_open(sdir, name, O_RDONLY);
		if (in < 0)
			return xarch_err_sys(err, errno, "cannot open '%s'", src_rel);
		_cleanup_close_ int out =
		    openat(ddir, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (out < 0)
			return xarch_err_sys(err, errno, "cannot create '%s'", dst_rel);
		if ((r = copy_data(in, out)) < 0)
			return xarch_err_sys(err, -r, "cannot copy '%s'", src_rel);
		if ((c->b->root || uid != geteuid()) && fchown(out, uid, gid) < 0 && c->b->root)
			return xarch_err_sys(err, errno, "cannot chown '%s'", dst_rel);
		if (c->b->root)
			copy_xattrs(in, out);
		if (fchmod(out, mode) < 0)
			return xarch_err_sys(err, errno, "cannot chmod '%s'", dst_rel);
		struct timespec ts[2] = {st->st_atim, st->st_mtim};
		futimens(out, ts);
	} else if (S_ISLNK(st->st_mode)) {
		char t[PATH_MAX];
		ssize_t k = src_readlink(sdir, name, t, sizeof(t) - 1);
		if (k < 0)
			return xarch_err_sys(err, errno, "cannot read the link '%s'", src_rel);
		t[k] = '\0';
		if (symlinkat(t, ddir, base) < 0)
			return xarch_err_sys(err, errno, "cannot create '%s'", dst_rel);
		if (c->b->root)
			fchownat(ddir, base, uid, gid, AT_SYMLINK_NOFOLLOW);
		struct timespec ts[2] = {st->st_atim, st->st_mtim};
		utimensat(ddir, base, ts, AT_SYMLINK_NOFOLLOW);
		return 0;
	} else if (S_ISFIFO(st->st_mode) || S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) {
		if (!S_ISFIFO(st->st_mode) && !c->b->root)
			return 0; /* device nodes need real root */
		if (mknodat(ddir, base, (st->st_mode & S_IFMT) | 0600, st->st_rdev) < 0)
			return xarch_err_sys(err, errno, "cannot create '%s'", dst_rel);
		if (c->b->root)
			fchownat(ddir, base, uid, gid, AT_SYMLINK_NOFOLLOW);
		char pp[64];
		_cleanup_close_ int p = openat(ddir, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (p >= 0)
			chmod(xarch_fd_path(p, pp, sizeof(pp)), mode);
		return 0;
	} else {
		return 0; /* sockets */
	}

	if (st->st_nlink > 1) {
		struct hardlink *l = reallocarray(c->links, c->n_links + 1, sizeof(*l));
		if (!l)
			return xarch_err(err, ENOMEM, "out of memory");
		c->links = l;
		l[c->n_links] = (struct hardlink){st->st_dev, st->st_ino, strdup(dst_rel)};
		if (!l[c->n_links].dest)
			return xarch_err(err, ENOMEM, "out of memory");
		c->n_links++;
	}
	return 0;
}

/*
 * Copy the source `src_rel` (resolved inside the source root `sroot`, a
 * symlink as the last component followed inside it too) to `dst_rel` in
 * the destination root: a directory's contents into dst_rel, anything
 * else to dst_rel itself.
 */
static int copy_path(struct copier *c, int sroot, const char *src_rel, const char *dst_rel)
{
	struct xarch_error *err = c->b->err;
	_cleanup_close_ int p =
	    xarch_root_open(sroot, src_rel[0] ? src_rel : "/", O_PATH | O_CLOEXEC, 0, err);
	if (p < 0)
		return p;
	struct stat st;
	if (fstat(p, &st) < 0)
		return xarch_err_sys(err, errno, "cannot stat '%s'", src_rel);
	if (S_ISDIR(st.st_mode)) {
		_cleanup_close_ int d = openat(p, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (d < 0)
			return xarch_err_sys(err, errno, "cannot open '%s'", src_rel);
		if (c->hash)
			hash_str(c->hash, dst_rel);
		return copy_children(c, d, src_rel, dst_rel);
	}
	char ddirp[PATH_MAX];
	const char *dbase;
	dirname_base(dst_rel, ddirp, sizeof(ddirp), &dbase);
	_cleanup_close_ int ddir = -1;
	if (!c->hash && (ddir = xarch_root_mkdir_p(c->dst_root, ddirp, 0755, err)) < 0)
		return ddir;
	return copy_entry(c, p, NULL, &st, src_rel, dst_rel, ddir, true);
}

/* a whole tree `src` (a host directory) into the root dir `dst` */
static int copy_tree(struct build *b, const char *src, const char *dst)
{
	_cleanup_close_ int sroot = xarch_root_open_dir(src, b->err);
	if (sroot < 0)
		return sroot;
	_cleanup_close_ int droot = xarch_root_open_dir(dst, b->err);
	if (droot < 0)
		return droot;
	struct copier c = {.b = b, .dst_root = droot, .keep_owner = true, .chmod = -1};
	int r = copy_path(&c, sroot, "", "/");
	copier_release(&c);
	if (r >= 0) {
		/* the root directory's own mode and owner */
		struct stat st;
		if (fstat(sroot, &st) == 0) {
			char pp[64];
			chmod(xarch_fd_path(droot, pp, sizeof(pp)), st.st_mode & 07777);
			if (b->root)
				chown(pp, st.st_uid, st.st_gid);
		}
	}
	return r;
}

/* ---- platforms ----------------------------------------------------------------- */

static int norm_platform(struct build *b, const char *name, char *buf, size_t len)
{
	const struct xarch_arch *a = xarch_arch_lookup(name);
	if (!a || !a->oci_arch)
		return line_err(b, EINVAL, "unknown platform '%s'; 'xarch arch' lists them", name);
	xarch_arch_platform(a, buf, len);
	return 0;
}

/* ---- stage state ------------------------------------------------------------------ */

static void stage_reset(struct stage *s)
{
	strv_clear(&s->env);
	strv_clear(&s->args);
	strv_clear(&s->shell);
	strv_clear(&s->cmd);
	strv_clear(&s->entrypoint);
	strv_clear(&s->labels);
	strv_clear(&s->ports);
	strv_clear(&s->volumes);
	free(s->workdir);
	free(s->user);
	free(s->stopsignal);
	free(s->author);
	s->workdir = s->user = s->stopsignal = s->author = NULL;
	s->has_cmd = s->has_entrypoint = s->cmd_here = false;
	for (size_t i = 0; i < s->n_layers; i++) {
		free((char *)s->layers[i].path);
		free((char *)s->layers[i].created_by);
	}
	free(s->layers);
	s->layers = NULL;
	s->n_layers = 0;
}

static int json_strv(json_object *a, struct strv *ret)
{
	if (!json_object_is_type(a, json_type_array))
		return 0;
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		json_object *e = json_object_array_get_idx(a, i);
		if (json_object_is_type(e, json_type_string) &&
		    strv_add(ret, json_object_get_string(e)) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int json_keys(json_object *o, struct strv *ret, bool values)
{
	if (!json_object_is_type(o, json_type_object))
		return 0;
	json_object_object_foreach(o, k, v)
	{
		int r = values ? (json_object_is_type(v, json_type_string)
				      ? kv_set(ret, k, json_object_get_string(v))
				      : 0)
			       : strv_add(ret, k);
		if (r < 0)
			return r;
	}
	return 0;
}

/* the base image's runtime config becomes the stage's starting point */
static int stage_from_config(struct stage *s, const char *config)
{
	json_object *c = config ? json_tokener_parse(config) : NULL;
	if (!c)
		return 0;
	json_object *v;
	int r = 0;
	if (json_object_object_get_ex(c, "Env", &v))
		r = json_strv(v, &s->env);
	if (r == 0 && json_object_object_get_ex(c, "Cmd", &v) &&
	    json_object_is_type(v, json_type_array)) {
		s->has_cmd = true;
		r = json_strv(v, &s->cmd);
	}
	if (r == 0 && json_object_object_get_ex(c, "Entrypoint", &v) &&
	    json_object_is_type(v, json_type_array)) {
		s->has_entrypoint = true;
		r = json_strv(v, &s->entrypoint);
	}
	if (r == 0 && json_object_object_get_ex(c, "Shell", &v))
		r = json_strv(v, &s->shell);
	if (r == 0 && json_object_object_get_ex(c, "Labels", &v))
		r = json_keys(v, &s->labels, true);
	if (r == 0 && json_object_object_get_ex(c, "ExposedPorts", &v))
		r = json_keys(v, &s->ports, false);
	if (r == 0 && json_object_object_get_ex(c, "Volumes", &v))
		r = json_keys(v, &s->volumes, false);
	if (r == 0 && json_object_object_get_ex(c, "WorkingDir", &v) &&
	    json_object_is_type(v, json_type_string) && *json_object_get_string(v))
		s->workdir = strdup(json_object_get_string(v));
	if (r == 0 && json_object_object_get_ex(c, "User", &v) &&
	    json_object_is_type(v, json_type_string) && *json_object_get_string(v))
		s->user = strdup(json_object_get_string(v));
	if (r == 0 && json_object_object_get_ex(c, "StopSignal", &v) &&
	    json_object_is_type(v, json_type_string))
		s->stopsignal = strdup(json_object_get_string(v));
	json_object_put(c);
	return r;
}

static json_object *strv_json(const struct strv *s)
{
	json_object *a = json_object_new_array();
	for (size_t i = 0; i < s->n; i++)
		json_object_array_add(a, json_object_new_string(s->v[i]));
	return a;
}

static json_object *set_json(const struct strv *s)
{
	json_object *o = json_object_new_object();
	for (size_t i = 0; i < s->n; i++)
		json_object_object_add(o, s->v[i], json_object_new_object());
	return o;
}

/* the image config's "config" object */
static char *stage_config(const struct stage *s)
{
	json_object *c = json_object_new_object();
	if (!c)
		return NULL;
	struct strv env = {0};
	if (!kv_get(&s->env, "PATH"))
		kv_set(&env, "PATH", DEFAULT_PATH);
	for (size_t i = 0; i < s->env.n; i++)
		strv_add(&env, s->env.v[i]);
	json_object_object_add(c, "Env", strv_json(&env));
	strv_clear(&env);
	if (s->has_entrypoint)
		json_object_object_add(c, "Entrypoint", strv_json(&s->entrypoint));
	if (s->has_cmd)
		json_object_object_add(c, "Cmd", strv_json(&s->cmd));
	if (s->workdir)
		json_object_object_add(c, "WorkingDir", json_object_new_string(s->workdir));
	if (s->user)
		json_object_object_add(c, "User", json_object_new_string(s->user));
	if (s->labels.n) {
		json_object *l = json_object_new_object();
		for (size_t i = 0; i < s->labels.n; i++) {
			char *eq = strchr(s->labels.v[i], '=');
			*eq = '\0';
			json_object_object_add(l, s->labels.v[i], json_object_new_string(eq + 1));
			*eq = '=';
		}
		json_object_object_add(c, "Labels", l);
	}
	if (s->ports.n)
		json_object_object_add(c, "ExposedPorts", set_json(&s->ports));
	if (s->volumes.n)
		json_object_object_add(c, "Volumes", set_json(&s->volumes));
	if (s->stopsignal)
		json_object_object_add(c, "StopSignal", json_object_new_string(s->stopsignal));
	if (s->shell.n)
		json_object_object_add(c, "Shell", strv_json(&s->shell));
	const char *t = json_object_to_json_string_ext(c, JSON_C_TO_STRING_PLAIN |
							      JSON_C_TO_STRING_NOSLASHESCAPE);
	char *ret = t ? strdup(t) : NULL;
	json_object_put(c);
	return ret;
}

static struct stage *stage_named(struct build *b, const char *name, size_t before)
{
	for (size_t i = 0; i < before && i < b->n_stages; i++)
		if (b->stages[i].name && !strcasecmp(b->stages[i].name, name))
			return &b->stages[i];
	/* COPY --from=N: a stage index */
	char *end;
	unsigned long n = strtoul(name, &end, 10);
	if (*name && !*end && n < before)
		return &b->stages[n];
	return NULL;
}

/* ---- FROM ---------------------------------------------------------------------------- */

enum base_kind { BASE_SCRATCH, BASE_STAGE, BASE_TREE, BASE_TAR, BASE_DOCKER };

struct base {
	enum base_kind kind;
	char src[PATH_MAX];
	struct stage *stage;
	char ident[200]; /* "" when it cannot be cached */
	char platform[128];
	char *config;
};

static bool is_path(const char *s)
{
	return s[0] == '/' || !strncmp(s, "./", 2) || !strncmp(s, "../", 3) || !strcmp(s, ".");
}

static int resolve_base(struct build *b, size_t si, const char *name, const char *platform,
			struct base *ret)
{
	struct xarch_error *err = b->err;
	int r;
	memset(ret, 0, sizeof(*ret));
	if (!strcasecmp(name, "scratch")) {
		ret->kind = BASE_SCRATCH;
		snprintf(ret->ident, sizeof(ret->ident), "scratch");
		return 0;
	}
	struct stage *st = NULL;
	for (size_t i = 0; i < si; i++)
		if (b->stages[i].name && !strcasecmp(b->stages[i].name, name))
			st = &b->stages[i];
	if (st) {
		ret->kind = BASE_STAGE;
		ret->stage = st;
		xa_strcpy(ret->src, sizeof(ret->src), st->dir);
		struct xa_sha256 k = st->key;
		char hex[65];
		xa_sha256_hex(&k, hex);
		snprintf(ret->ident, sizeof(ret->ident), "stage:%s", hex);
		snprintf(ret->platform, sizeof(ret->platform), "%s", st->platform);
		ret->config = stage_config(st);
		return 0;
	}
	if (!strncmp(name, "docker://", 9)) {
		ret->kind = BASE_DOCKER;
		return xa_strcpy(ret->src, sizeof(ret->src), name) < 0
			   ? line_err(b, ENAMETOOLONG, "name too long")
			   : 0;
	}
	if (!strncmp(name, "tar:", 4)) {
		struct stat sb;
		ret->kind = BASE_TAR;
		if (!realpath(name + 4, ret->src) || stat(ret->src, &sb) < 0)
			return line_err(b, errno, "FROM '%s': %s", name, strerror(errno));
		snprintf(ret->ident, sizeof(ret->ident), "tar:%.120s:%lld:%lld.%09ld", ret->src,
			 (long long)sb.st_size, (long long)sb.st_mtim.tv_sec, sb.st_mtim.tv_nsec);
		return 0;
	}
	if (!strncmp(name, "dir:", 4) || is_path(name)) {
		const char *p = strncmp(name, "dir:", 4) ? name : name + 4;
		struct stat sb;
		ret->kind = BASE_TREE;
		if (!realpath(p, ret->src) || stat(ret->src, &sb) < 0 || !S_ISDIR(sb.st_mode))
			return line_err(b, errno ? errno : ENOTDIR, "FROM '%s': not a directory",
					name);
		/* the tree's content is its identity */
		_cleanup_close_ int sroot = xarch_root_open_dir(ret->src, err);
		if (sroot < 0)
			return line_wrap(b, sroot);
		struct xa_sha256 h;
		xa_sha256_init(&h);
		struct copier c = {.b = b, .keep_owner = true, .chmod = -1, .hash = &h};
		r = copy_path(&c, sroot, "", "/");
		copier_release(&c);
		if (r < 0)
			return line_wrap(b, r);
		char hex[65];
		xa_sha256_hex(&h, hex);
		snprintf(ret->ident, sizeof(ret->ident), "tree:%s", hex);
		return 0;
	}
	struct xarch_image_ref ref;
	char path[PATH_MAX];
	if (xarch_image_ref_parse(name, &ref, NULL) == 0) {
		struct xarch_store_opts so = {.root = b->o->store_root, .platform = platform};
		if ((r = xarch_store_get(name, &so, path, sizeof(path), NULL, err)) < 0)
			return line_wrap(b, r);
		ret->kind = BASE_TREE;
		xa_strcpy(ret->src, sizeof(ret->src), path);
		const char *hex = strrchr(path, '/') + 1;
		snprintf(ret->ident, sizeof(ret->ident), "image:%s", hex);
		struct xarch_store_entry e;
		if (xarch_store_find(b->o->store_root, name, &e, &ret->config, NULL) == 0)
			snprintf(ret->platform, sizeof(ret->platform), "%s", e.platform);
		return 0;
	}
	/* a name given to `xarch build -t` */
	struct xarch_store_entry e;
	struct xarch_error e2 = {0};
	r = xarch_store_find(b->o->store_root, name, &e, &ret->config, &e2);
	if (r == -ENOENT)
		return line_err(b, ENOENT,
				"FROM '%s': no such stage or image in the local store; build it "
				"with 'xarch build -t %s', or name a source: oci:DIR[:TAG], "
				"docker-archive:FILE, tar:FILE, dir:PATH, docker://REF",
				name, name);
	if (r < 0)
		return line_err(b, -r, "FROM '%s': %s", name, e2.msg);
	ret->kind = BASE_TREE;
	xa_strcpy(ret->src, sizeof(ret->src), e.path);
	snprintf(ret->ident, sizeof(ret->ident), "image:%s", e.digest);
	snprintf(ret->platform, sizeof(ret->platform), "%s", e.platform);
	return 0;
}

static int materialize(struct build *b, struct stage *s, const struct base *base)
{
	struct xarch_layer_opts lo = {.privileged = b->root, .keep_owner = b->root};
	int r;
	switch (base->kind) {
	case BASE_SCRATCH:
		if (mkdir(s->dir, 0755) < 0)
			return xarch_err_sys(b->err, errno, "cannot create '%s'", s->dir);
		return 0;
	case BASE_STAGE:
	case BASE_TREE:
		if (mkdir(s->dir, 0755) < 0)
			return xarch_err_sys(b->err, errno, "cannot create '%s'", s->dir);
		r = copy_tree(b, base->stage ? base->stage->dir : base->src, s->dir);
		return r < 0 ? line_wrap(b, r) : 0;
	case BASE_TAR: {
		lo.plain_tar = true;
		const char *layers[] = {base->src};
		r = xarch_layers_unpack(layers, 1, s->dir, &lo, b->err);
		return r < 0 ? line_wrap(b, r) : 0;
	}
	case BASE_DOCKER: {
		struct xarch_registry_opts ro = {.platform = s->platform[0] ? s->platform : NULL};
		r = xarch_registry_pull(base->src, s->dir, &ro, &lo, b->err);
		return r < 0 ? line_wrap(b, r) : 0;
	}
	}
	return 0;
}

/* ---- COPY / ADD ---------------------------------------------------------------------- */

static int glob_walk(struct build *b, int sroot, char **parts, size_t np, size_t i, const char *cur,
		     const struct strv *ignore, struct strv *out)
{
	char next[PATH_MAX];
	if (i == np) {
		_cleanup_close_ int fd =
		    xarch_root_open(sroot, cur[0] ? cur : "/", O_PATH | O_CLOEXEC, 0, NULL);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) < 0 ||
		    (cur[0] && ignored(ignore, cur, S_ISDIR(st.st_mode))))
			return 0;
		return strv_add(out, cur);
	}
	if (!strpbrk(parts[i], "*?[")) {
		if (xa_snprintf(next, sizeof(next), "%s%s%s", cur, cur[0] ? "/" : "", parts[i]) < 0)
			return -ENAMETOOLONG;
		return glob_walk(b, sroot, parts, np, i + 1, next, ignore, out);
	}
	_cleanup_close_ int dfd =
	    xarch_root_open(sroot, cur[0] ? cur : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0, NULL);
	if (dfd < 0)
		return 0;
	struct strv names = {0};
	int r = list_dir(dfd, &names);
	for (size_t k = 0; r >= 0 && k < names.n; k++) {
		if (fnmatch(parts[i], names.v[k], 0))
			continue;
		if (xa_snprintf(next, sizeof(next), "%s%s%s", cur, cur[0] ? "/" : "", names.v[k]) <
		    0)
			r = -ENAMETOOLONG;
		else
			r = glob_walk(b, sroot, parts, np, i + 1, next, ignore, out);
	}
	strv_clear(&names);
	return r;
}

/* Is the file a tar archive (possibly compressed)?  The offset is reset. */
static bool is_tar(int fd)
{
	struct archive *a = archive_read_new();
	if (!a)
		return false;
	archive_read_support_format_tar(a);
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_bzip2(a);
	archive_read_support_filter_xz(a);
	archive_read_support_filter_zstd(a);
	struct archive_entry *e;
	bool yes = archive_read_open_fd(a, fd, 65536) == ARCHIVE_OK &&
		   archive_read_next_header(a, &e) == ARCHIVE_OK;
	archive_read_free(a);
	lseek(fd, 0, SEEK_SET);
	return yes;
}

static int join_dest(struct build *b, const struct stage *s, const char *d, char *buf, size_t len)
{
	const char *wd = s->workdir ? s->workdir : "/";
	int r = d[0] == '/'
		    ? xa_strcpy(buf, len, d)
		    : xa_snprintf(buf, len, "%s%s%s", wd, xa_ends_with(wd, "/") ? "" : "/", d);
	return r < 0 ? line_err(b, ENAMETOOLONG, "destination too long") : 0;
}

static int chown_spec(struct build *b, const struct stage *s, const char *spec, uid_t *uid,
		      gid_t *gid)
{
	_cleanup_close_ int rootfd = xarch_root_open_dir(s->dir, b->err);
	if (rootfd < 0)
		return rootfd;
	struct xarch_user u;
	struct xarch_error e = {0};
	int r = xarch_root_user(rootfd, spec, &u, &e);
	if (r < 0)
		return line_err(b, -r, "--chown=%s: %s", spec, e.msg);
	*uid = u.uid;
	*gid = u.gid;
	/* "--chown=10": the gid is the uid, as Docker does */
	if (!strchr(spec, ':') && spec[strspn(spec, "0123456789")] == '\0')
		*gid = (gid_t)u.uid;
	return 0;
}

static int do_copy(struct build *b, struct stage *s, size_t si, const struct xarch_df_instr *in,
		   bool dry)
{
	bool add = in->cmd == XARCH_DF_ADD;
	const char *what = add ? "ADD" : "COPY";
	static const char *const unsupported[] = {"parents", "exclude", "checksum", "keep-git-dir"};
	for (size_t i = 0; i < ARRAY_SIZE(unsupported); i++)
		if (xarch_df_flag(in, unsupported[i]))
			return line_err(b, ENOTSUP, "%s --%s is not supported", what,
					unsupported[i]);
	if (in->n_args < 2)
		return line_err(b, EINVAL, "%s needs a source and a destination", what);
	struct strv args = {0}, matches = {0};
	_cleanup_free_ char *from_x = NULL, *chown_x = NULL, *chmod_x = NULL;
	_cleanup_close_ int sroot = -1, droot = -1, existing = -1;
	struct copier c = {.b = b, .chmod = -1};
	int r = 0;
	for (size_t i = 0; i < in->n_args && r >= 0; i++) {
		_cleanup_free_ char *x = NULL;
		if ((r = expand(b, in->args[i], &x)) >= 0 && (r = strv_add(&args, x)) < 0)
			r = xarch_err(b->err, ENOMEM, "out of memory");
	}
	if (r < 0)
		goto out;

	/* where the sources are */
	char srcdir[PATH_MAX];
	const struct strv *ignore = NULL;
	bool keep_owner = false;
	const char *from = xarch_df_flag(in, "from");
	struct xa_sha256 *key = dry ? &s->key : NULL;
	if (from) {
		if ((r = expand(b, from, &from_x)) < 0)
			goto out;
		struct stage *fs = stage_named(b, from_x, si);
		keep_owner = true;
		if (fs) {
			snprintf(srcdir, sizeof(srcdir), "%s", fs->dir);
			if (key) {
				struct xa_sha256 k = fs->key;
				char hex[65];
				xa_sha256_hex(&k, hex);
				hash_str(key, hex);
				key = NULL; /* the stage's key covers its content */
			}
		} else {
			struct base bs;
			if ((r = resolve_base(b, si, from_x, s->platform[0] ? s->platform : NULL,
					      &bs)) < 0)
				goto out;
			free(bs.config);
			if (bs.kind != BASE_TREE) {
				r = line_err(b, EINVAL,
					     "--from=%s: want a stage, a stored image or an image "
					     "source",
					     from_x);
				goto out;
			}
			snprintf(srcdir, sizeof(srcdir), "%s", bs.src);
			if (key) {
				hash_str(key, bs.ident);
				key = NULL;
			}
		}
	} else {
		snprintf(srcdir, sizeof(srcdir), "%s", b->o->context);
		ignore = &b->ignore;
	}
	sroot = xarch_root_open_dir(srcdir, b->err);
	if (sroot < 0) {
		r = sroot;
		goto out;
	}

	/* the sources, globs expanded */
	size_t n_src = args.n - 1;
	for (size_t i = 0; i < n_src && r >= 0; i++) {
		const char *p = args.v[i];
		if (strstr(p, "://")) {
			r = line_err(b, ENOTSUP,
				     "%s of a URL is not supported (xarch builds without network "
				     "access): download '%s' into the context and %s the file",
				     what, p, what);
			break;
		}
		char pb[PATH_MAX];
		char *parts[256];
		if (xa_strcpy(pb, sizeof(pb), p) < 0) {
			r = line_err(b, ENAMETOOLONG, "source too long");
			break;
		}
		size_t np = split_path(pb, parts, 256);
		for (size_t k = 0; k < np; k++)
			if (!strcmp(parts[k], "..")) {
				r = line_err(b, EINVAL, "%s source '%s' is outside the %s", what, p,
					     from ? "stage" : "build context");
				break;
			}
		size_t before = matches.n;
		if (r >= 0 && (r = glob_walk(b, sroot, parts, np, 0, "", ignore, &matches)) < 0)
			r = line_err(b, -r, "%s: cannot read the sources", what);
		if (r >= 0 && matches.n == before)
			r = line_err(b, ENOENT, "%s source '%s' not found in the %s", what, p,
				     from ? from_x : "build context");
	}
	if (r < 0)
		goto out;

	char dest[PATH_MAX];
	if ((r = join_dest(b, s, args.v[args.n - 1], dest, sizeof(dest))) < 0)
		goto out;
	bool dest_dir = xa_ends_with(args.v[args.n - 1], "/") || matches.n > 1 ||
			!strcmp(args.v[args.n - 1], ".");
	for (size_t n = strlen(dest); n > 1 && dest[n - 1] == '/'; n--)
		dest[n - 1] = '\0';

	c.keep_owner = keep_owner;
	const char *chown = xarch_df_flag(in, "chown"), *chmod_s = xarch_df_flag(in, "chmod");
	if (chown && (r = expand(b, chown, &chown_x)) < 0)
		goto out;
	if (chmod_s) {
		char *end;
		if ((r = expand(b, chmod_s, &chmod_x)) < 0)
			goto out;
		long m = strtol(chmod_x, &end, 8);
		if (!*chmod_x || *end || m < 0 || m > 07777) {
			r = line_err(b, EINVAL, "--chmod=%s: want an octal mode", chmod_x);
			goto out;
		}
		c.chmod = (int)m;
	}
	if (dry) {
		/* the key: the instruction (hashed by the caller) and the content */
		if (key) {
			struct xa_sha256 *h = key;
			c.hash = h;
			c.ignore = ignore;
			for (size_t i = 0; i < matches.n && r >= 0; i++) {
				hash_str(h, matches.v[i]);
				r = copy_path(&c, sroot, matches.v[i], "/");
			}
			if (r < 0)
				r = line_wrap(b, r);
		}
		goto out;
	}
	if (chown_x) {
		if ((r = chown_spec(b, s, chown_x, &c.uid, &c.gid)) < 0)
			goto out;
		c.chown = true;
	}
	droot = xarch_root_open_dir(s->dir, b->err);
	if (droot < 0) {
		r = droot;
		goto out;
	}
	c.dst_root = droot;
	c.ignore = ignore;
	existing = xarch_root_open(droot, dest, O_PATH | O_DIRECTORY | O_CLOEXEC, 0, NULL);
	if (existing >= 0)
		dest_dir = true;
	for (size_t i = 0; i < matches.n && r >= 0; i++) {
		const char *m = matches.v[i];
		_cleanup_close_ int p =
		    xarch_root_open(sroot, m[0] ? m : "/", O_PATH | O_CLOEXEC, 0, b->err);
		struct stat st;
		if (p < 0 || fstat(p, &st) < 0) {
			r = p < 0 ? p : -errno;
			break;
		}
		if (S_ISDIR(st.st_mode)) {
			r = copy_path(&c, sroot, m, dest);
			continue;
		}
		if (add && !from && S_ISREG(st.st_mode)) {
			char pp[64];
			_cleanup_close_ int fd =
			    open(xarch_fd_path(p, pp, sizeof(pp)), O_RDONLY | O_CLOEXEC);
			if (fd >= 0 && is_tar(fd)) {
				_cleanup_close_ int dfd =
				    xarch_root_mkdir_p(droot, dest, 0755, b->err);
				if (dfd < 0) {
					r = dfd;
					break;
				}
				struct xarch_layer_opts lo = {.privileged = b->root,
							      .keep_owner = b->root,
							      .plain_tar = true};
				r = xarch_layer_apply_fd(dfd, fd, &lo, b->err);
				continue;
			}
		}
		char target[PATH_MAX];
		const char *base = strrchr(m, '/');
		base = base ? base + 1 : m;
		if (dest_dir) {
			if (xa_snprintf(target, sizeof(target), "%s/%s",
					strcmp(dest, "/") ? dest : "", base) < 0) {
				r = line_err(b, ENAMETOOLONG, "destination too long");
				break;
			}
		} else {
			xa_strcpy(target, sizeof(target), dest);
		}
		r = copy_path(&c, sroot, m, target);
	}
	if (r < 0 && b->err && strncmp(b->err->msg, b->dfname, strlen(b->dfname)))
		r = line_wrap(b, r);
out:
	copier_release(&c);
	strv_clear(&matches);
	strv_clear(&args);
	return r;
}

/* ---- RUN ------------------------------------------------------------------------------ */

static int do_run(struct build *b, struct stage *s, const struct xarch_df_instr *in)
{
	static const char *const unsupported[] = {"mount", "security"};
	for (size_t i = 0; i < ARRAY_SIZE(unsupported); i++)
		if (xarch_df_flag(in, unsupported[i]))
			return line_err(b, ENOTSUP, "RUN --%s is not supported", unsupported[i]);
	const char *net = xarch_df_flag(in, "network");
	struct strv argv = {0}, env = {0};
	int r = 0;
	if (in->json) {
		for (size_t i = 0; i < in->n_args && r >= 0; i++)
			r = strv_add(&argv, in->args[i]);
	} else {
		if (s->shell.n)
			r = strv_copy(&argv, &s->shell);
		else if ((r = strv_add(&argv, "/bin/sh")) >= 0)
			r = strv_add(&argv, "-c");
		if (r >= 0)
			r = strv_add(&argv, in->n_args ? in->args[0] : "");
	}
	/* ENV, then the ARGs ENV does not override */
	if (r >= 0)
		r = strv_copy(&env, &s->env);
	for (size_t i = 0; r >= 0 && i < s->args.n; i++) {
		char *eq = strchr(s->args.v[i], '=');
		*eq = '\0';
		if (!kv_get(&env, s->args.v[i]))
			r = kv_set(&env, s->args.v[i], eq + 1);
		*eq = '=';
	}
	if (r < 0 || !argv.n) {
		r = argv.n ? xarch_err(b->err, ENOMEM, "out of memory")
			   : line_err(b, EINVAL, "RUN with an empty command");
		goto out;
	}
	struct xarch_container_opts co = {
	    .rootfs = s->dir,
	    .argv = (const char *const *)argv.v,
	    .env = (const char *const *)env.v,
	    .workdir = s->workdir ? s->workdir : "/",
	    .user = s->user,
	    .network = net && !strcmp(net, "none") ? XARCH_NET_NONE : XARCH_NET_HOST,
	    .emulate = b->emulate[0] ? b->emulate : NULL,
	    .note = b->o->note,
	    .note_data = b->o->note_data,
	};
	int st = 0;
	if ((r = xarch_container_run(&co, &st, b->err)) < 0) {
		r = line_wrap(b, r);
		goto out;
	}
	if (WIFEXITED(st) && WEXITSTATUS(st))
		r = line_err(b, EIO, "RUN failed with exit %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		r = line_err(b, EIO, "RUN was killed by signal %d", WTERMSIG(st));
out:
	strv_clear(&argv);
	strv_clear(&env);
	return r;
}

/* ---- metadata instructions ----------------------------------------------------------------- */

static int set_str(struct build *b, char **dst, const char *raw)
{
	char *x;
	int r = expand(b, raw, &x);
	if (r < 0)
		return r;
	free(*dst);
	*dst = x;
	return 0;
}

static int do_arg(struct build *b, struct strv *into, const struct xarch_df_instr *in)
{
	for (size_t i = 0; i + 1 < in->n_args + 1 && i < in->n_args; i += 2) {
		const char *name = in->args[i], *def = i + 1 < in->n_args ? in->args[i + 1] : NULL;
		const char *v = build_arg(b, name);
		_cleanup_free_ char *x = NULL;
		char pre[128];
		int r;
		if (!v && def) {
			if ((r = expand(b, def, &x)) < 0)
				return r;
			v = x;
		}
		if (!v && into != &b->global_args)
			v = kv_get(&b->global_args, name);
		if (!v)
			v = predefined_arg(b, name, pre, sizeof(pre));
		if (v && kv_set(into, name, v) < 0)
			return xarch_err(b->err, ENOMEM, "out of memory");
	}
	return 0;
}

static int exec_or_shell(struct build *b, struct stage *s, const struct xarch_df_instr *in,
			 struct strv *dst)
{
	strv_clear(dst);
	int r = 0;
	if (in->json) {
		for (size_t i = 0; i < in->n_args && r >= 0; i++)
			r = strv_add(dst, in->args[i]);
	} else if (in->n_args && in->args[0][0]) {
		if (s->shell.n)
			r = strv_copy(dst, &s->shell);
		else if ((r = strv_add(dst, "/bin/sh")) >= 0)
			r = strv_add(dst, "-c");
		if (r >= 0)
			r = strv_add(dst, in->args[0]);
	}
	return r < 0 ? xarch_err(b->err, ENOMEM, "out of memory") : 0;
}

/* One instruction of a stage (not FROM).  `dry`: metadata only, and the
 * step cache key gets RUN/COPY/ADD's inputs. */
static int step(struct build *b, struct stage *s, size_t si, const struct xarch_df_instr *in,
		bool dry)
{
	int r = 0;
	switch (in->cmd) {
	case XARCH_DF_FROM:
		return line_err(b, EINVAL, "FROM inside a stage");
	case XARCH_DF_RUN:
		return dry ? 0 : do_run(b, s, in);
	case XARCH_DF_COPY:
	case XARCH_DF_ADD:
		return do_copy(b, s, si, in, dry);
	case XARCH_DF_ENV:
		for (size_t i = 0; i + 1 < in->n_args && r >= 0; i += 2) {
			_cleanup_free_ char *k = NULL, *v = NULL;
			if ((r = expand(b, in->args[i], &k)) >= 0 &&
			    (r = expand(b, in->args[i + 1], &v)) >= 0 && kv_set(&s->env, k, v) < 0)
				r = xarch_err(b->err, ENOMEM, "out of memory");
		}
		return r;
	case XARCH_DF_ARG:
		return do_arg(b, &s->args, in);
	case XARCH_DF_LABEL:
		for (size_t i = 0; i + 1 < in->n_args && r >= 0; i += 2) {
			_cleanup_free_ char *k = NULL, *v = NULL;
			if ((r = expand(b, in->args[i], &k)) >= 0 &&
			    (r = expand(b, in->args[i + 1], &v)) >= 0 &&
			    kv_set(&s->labels, k, v) < 0)
				r = xarch_err(b->err, ENOMEM, "out of memory");
		}
		return r;
	case XARCH_DF_WORKDIR: {
		_cleanup_free_ char *x = NULL;
		char path[PATH_MAX];
		if ((r = expand(b, in->text, &x)) < 0 ||
		    (r = join_dest(b, s, x, path, sizeof(path))) < 0)
			return r;
		for (size_t n = strlen(path); n > 1 && path[n - 1] == '/'; n--)
			path[n - 1] = '\0';
		free(s->workdir);
		if (!(s->workdir = strdup(path)))
			return xarch_err(b->err, ENOMEM, "out of memory");
		if (dry)
			return 0;
		_cleanup_close_ int rootfd = xarch_root_open_dir(s->dir, b->err);
		if (rootfd < 0)
			return rootfd;
		_cleanup_close_ int fd = xarch_root_mkdir_p(rootfd, path, 0755, b->err);
		return fd < 0 ? line_wrap(b, fd) : 0;
	}
	case XARCH_DF_USER:
		return set_str(b, &s->user, in->args[0]);
	case XARCH_DF_CMD:
		s->has_cmd = true;
		s->cmd_here = true;
		return exec_or_shell(b, s, in, &s->cmd);
	case XARCH_DF_ENTRYPOINT:
		s->has_entrypoint = true;
		/* an ENTRYPOINT resets the CMD of the base image */
		if (!s->cmd_here) {
			strv_clear(&s->cmd);
			s->has_cmd = false;
		}
		return exec_or_shell(b, s, in, &s->entrypoint);
	case XARCH_DF_SHELL:
		if (!in->json)
			return line_err(b, EINVAL,
					"SHELL takes the exec form: SHELL [\"/bin/sh\", \"-c\"]");
		strv_clear(&s->shell);
		for (size_t i = 0; i < in->n_args && r >= 0; i++)
			r = strv_add(&s->shell, in->args[i]);
		return r;
	case XARCH_DF_EXPOSE:
		for (size_t i = 0; i < in->n_args && r >= 0; i++) {
			_cleanup_free_ char *x = NULL;
			char port[128];
			if ((r = expand(b, in->args[i], &x)) < 0)
				break;
			if (!*x || x[strspn(x, "0123456789-/tcpudpsct")] ||
			    xa_snprintf(port, sizeof(port), "%s%s", x,
					strchr(x, '/') ? "" : "/tcp") < 0) {
				r = line_err(b, EINVAL, "EXPOSE: bad port '%s'", x);
				break;
			}
			bool have = false;
			for (size_t k = 0; k < s->ports.n; k++)
				have |= !strcmp(s->ports.v[k], port);
			if (!have)
				r = strv_add(&s->ports, port);
		}
		return r;
	case XARCH_DF_VOLUME:
		for (size_t i = 0; i < in->n_args && r >= 0; i++) {
			_cleanup_free_ char *x = NULL;
			if ((r = expand(b, in->args[i], &x)) < 0)
				break;
			bool have = false;
			for (size_t k = 0; k < s->volumes.n; k++)
				have |= !strcmp(s->volumes.v[k], x);
			if (!have && *x)
				r = strv_add(&s->volumes, x);
		}
		return r;
	case XARCH_DF_STOPSIGNAL:
		return set_str(b, &s->stopsignal, in->args[0]);
	case XARCH_DF_MAINTAINER:
		free(s->author);
		s->author = strdup(in->text);
		return s->author ? 0 : xarch_err(b->err, ENOMEM, "out of memory");
	}
	return line_err(b, ENOTSUP, "unsupported instruction");
}

/* ---- the step cache's layers ------------------------------------------------------------- */

/* the instructions that change the tree: each is one cached layer */
static bool fs_step(const struct xarch_df_instr *in)
{
	return in->cmd == XARCH_DF_RUN || in->cmd == XARCH_DF_COPY || in->cmd == XARCH_DF_ADD ||
	       in->cmd == XARCH_DF_WORKDIR;
}

static int stage_add_layer(struct build *b, struct stage *s, const char *path, const char *by)
{
	struct xarch_export_layer *v = reallocarray(s->layers, s->n_layers + 1, sizeof(*v));
	if (!v)
		return xarch_err(b->err, ENOMEM, "out of memory");
	s->layers = v;
	char *p = strdup(path), *c = strdup(by);
	if (!p || !c) {
		free(p);
		free(c);
		return xarch_err(b->err, ENOMEM, "out of memory");
	}
	v[s->n_layers++] = (struct xarch_export_layer){.path = p, .created_by = c};
	return 0;
}

/* "RUN apt-get install ..." for the history */
static void created_by(const struct xarch_df_instr *in, char *buf, size_t len)
{
	snprintf(buf, len, "%s %s", xarch_df_cmd_name(in->cmd), in->text ? in->text : "");
}

/*
 * The changes of the tree `dir` since `before` (NULL: all of it) as an
 * uncompressed layer tar at `path`, written under a temp name and renamed:
 * a layer file is always complete.  No change: an empty file.
 */
static int store_layer(struct build *b, const char *dir, const struct xarch_snapshot *before,
		       const char *path, bool *ret_empty)
{
	char tmp[PATH_MAX];
	if (xa_snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", path) < 0)
		return xarch_err(b->err, ENAMETOOLONG, "cache path too long");
	_cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return xarch_err_sys(b->err, errno, "cannot create '%s'", tmp);
	uint64_t entries = 0;
	int r = xarch_diff_layer(dir, before, fd, &entries, b->err);
	if (r >= 0 && entries == 0 && ftruncate(fd, 0) < 0)
		r = xarch_err_sys(b->err, errno, "cannot write '%s'", tmp);
	if (r >= 0 && (fsync(fd) < 0 || rename(tmp, path) < 0))
		r = xarch_err_sys(b->err, errno, "cannot write '%s'", path);
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	*ret_empty = entries == 0;
	return 0;
}

static int apply_layer(struct build *b, struct stage *s, const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return xarch_err_sys(b->err, errno, "cannot open '%s'", path);
	_cleanup_close_ int rootfd = open(s->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return xarch_err_sys(b->err, errno, "cannot open '%s'", s->dir);
	struct xarch_layer_opts lo = {.privileged = b->root, .keep_owner = b->root};
	return xarch_layer_apply_fd(rootfd, fd, &lo, b->err);
}

/* where a step's layer lives: the cache, or the work dir when the stage
 * cannot be cached */
static int layer_path(struct build *b, bool cacheable, const char *kind, const char *hex, char *buf,
		      size_t len)
{
	int r = cacheable ? xa_snprintf(buf, len, "%s/%s-%s.tar", b->cache, kind, hex)
			  : xa_snprintf(buf, len, "%s/%s-%u.tar", b->work, kind, b->counter++);
	return r < 0 ? xarch_err(b->err, ENAMETOOLONG, "cache path too long") : 0;
}

static void base_key(const struct base *base, const char *platform, char hex[65])
{
	struct xa_sha256 h;
	xa_sha256_init(&h);
	hash_str(&h, "xarch-base-1");
	hash_str(&h, base->ident);
	hash_str(&h, platform);
	xa_sha256_hex(&h, hex);
}

/* the base's layers: a stage's own, else the base tree as one */
static int base_layers(struct build *b, struct stage *s, const struct base *base,
		       const char *platform, const char *name, bool cacheable, bool make)
{
	if (base->kind == BASE_SCRATCH)
		return 0;
	if (base->kind == BASE_STAGE) {
		for (size_t i = 0; i < base->stage->n_layers; i++) {
			int r = stage_add_layer(b, s, base->stage->layers[i].path,
						base->stage->layers[i].created_by);
			if (r < 0)
				return r;
		}
		return 0;
	}
	char hex[65], path[PATH_MAX], by[PATH_MAX + 8];
	base_key(base, platform, hex);
	int r = layer_path(b, cacheable, "base", hex, path, sizeof(path));
	if (r < 0)
		return r;
	struct stat st;
	bool empty = false;
	if (stat(path, &st) == 0)
		empty = st.st_size == 0;
	else if (!make)
		return -ENOENT;
	else if ((r = xa_mkdir_p(cacheable ? b->cache : b->work, 0700)) < 0 ||
		 (r = store_layer(b, s->dir, NULL, path, &empty)) < 0)
		return r;
	snprintf(by, sizeof(by), "FROM %s", name);
	return empty ? 0 : stage_add_layer(b, s, path, by);
}

/* ---- stages ------------------------------------------------------------------------------ */

static void hash_instr(struct stage *s, const struct xarch_df_instr *in)
{
	struct xa_sha256 *h = &s->key;
	hash_str(h, xarch_df_cmd_name(in->cmd));
	for (size_t i = 0; i < in->n_flags; i++) {
		hash_str(h, in->flags[i].name);
		hash_str(h, in->flags[i].value ? in->flags[i].value : "");
	}
	hash_str(h, in->json ? "json" : "shell");
	for (size_t i = 0; i < in->n_args; i++)
		hash_str(h, in->args[i] ? in->args[i] : "(null)");
	/* what the instruction sees: ENV, ARG, WORKDIR, USER, SHELL */
	for (size_t i = 0; i < s->env.n; i++)
		hash_str(h, s->env.v[i]);
	hash_str(h, "|");
	for (size_t i = 0; i < s->args.n; i++)
		hash_str(h, s->args.v[i]);
	hash_str(h, "|");
	hash_str(h, s->workdir ? s->workdir : "");
	hash_str(h, s->user ? s->user : "");
	for (size_t i = 0; i < s->shell.n; i++)
		hash_str(h, s->shell.v[i]);
}

static int stage_begin(struct build *b, struct stage *s, size_t si, struct base *base,
		       const char *platform)
{
	stage_reset(s);
	snprintf(s->platform, sizeof(s->platform), "%s", platform);
	xa_sha256_init(&s->key);
	hash_str(&s->key, "xarch-build-2");
	hash_str(&s->key, base->ident);
	hash_str(&s->key, platform);
	(void)si;
	if (stage_from_config(s, base->config) < 0)
		return xarch_err(b->err, ENOMEM, "out of memory");
	return 0;
}

static int run_stage(struct build *b, size_t si)
{
	struct stage *s = &b->stages[si];
	const struct xarch_df_instr *from = &b->df.v[s->first];
	int r;
	b->in = from;
	b->cur = NULL; /* FROM sees the global ARGs */

	_cleanup_free_ char *name = NULL, *plat_x = NULL;
	if ((r = expand(b, from->args[0], &name)) < 0)
		return r;
	char platform[128] = "";
	const char *pf = xarch_df_flag(from, "platform");
	if (pf) {
		if ((r = expand(b, pf, &plat_x)) < 0 ||
		    (r = norm_platform(b, plat_x, platform, sizeof(platform))) < 0)
			return r;
	} else if (b->o->platform) {
		snprintf(platform, sizeof(platform), "%s", b->target_platform);
	}
	struct base base;
	r = resolve_base(b, si, name, platform[0] ? platform : NULL, &base);
	if (r < 0)
		return r;
	if (!platform[0])
		snprintf(platform, sizeof(platform), "%s", base.platform);
	b->cur = s;
	if (xa_snprintf(s->dir, sizeof(s->dir), "%s/stage-%zu", b->work, si) < 0)
		return xarch_err(b->err, ENAMETOOLONG, "build directory name too long");
	const char *label = s->name ? s->name : "";
	char hex[65] = "", cdir[PATH_MAX] = "";
	bool cacheable = base.ident[0] != '\0';

	/* the keys: a pass over the stage without running anything; each
	 * step that changes the tree is keyed by everything before it */
	size_t n_in = s->last - s->first + 1;
	_cleanup_free_ char(*keys)[65] = calloc(n_in, 65);
	if (!keys) {
		r = xarch_err(b->err, ENOMEM, "out of memory");
		goto out;
	}
	if (cacheable) {
		if ((r = stage_begin(b, s, si, &base, platform)) < 0)
			goto out;
		for (size_t i = s->first + 1; i <= s->last; i++) {
			b->in = &b->df.v[i];
			hash_instr(s, b->in);
			if ((r = step(b, s, si, b->in, true)) < 0)
				goto out;
			if (fs_step(b->in)) {
				struct xa_sha256 k = s->key;
				xa_sha256_hex(&k, keys[i - s->first]);
			}
		}
		struct xa_sha256 k = s->key;
		xa_sha256_hex(&k, hex);
		if (xa_snprintf(cdir, sizeof(cdir), "%s/%s", b->cache, hex) < 0)
			cacheable = false;
		struct stat st;
		bool hit = cacheable && !b->o->no_cache && stat(cdir, &st) == 0 &&
			   S_ISDIR(st.st_mode) &&
			   base_layers(b, s, &base, platform, name, true, false) == 0;
		/* the whole stage: its tree and every layer are there */
		for (size_t i = s->first + 1; hit && i <= s->last; i++) {
			const struct xarch_df_instr *in = &b->df.v[i];
			char lp[PATH_MAX], by[PATH_MAX + 16];
			if (!fs_step(in))
				continue;
			hit =
			    layer_path(b, true, "layer", keys[i - s->first], lp, sizeof(lp)) == 0 &&
			    stat(lp, &st) == 0;
			created_by(in, by, sizeof(by));
			if (hit && st.st_size && (r = stage_add_layer(b, s, lp, by)) < 0)
				goto out;
		}
		if (hit) {
			snprintf(s->dir, sizeof(s->dir), "%s", cdir);
			s->cached = true;
			b->cached += (unsigned)n_in;
			b->steps += (unsigned)n_in;
			note(b, XARCH_NOTE_INFO, "[%s%s%zu] FROM %s: CACHED (%.12s, %zu layers)",
			     label, label[0] ? " " : "#", si, name, hex, s->n_layers);
			r = 0;
			goto out;
		}
	}

	/* the real thing: cached steps are applied as layers until the first
	 * miss, from there on the steps run and their diffs are stored */
	struct xa_sha256 key = s->key;
	if ((r = stage_begin(b, s, si, &base, platform)) < 0)
		goto out;
	s->key = key;
	b->in = from;
	note(b, XARCH_NOTE_INFO, "[%s%s%zu] FROM %s%s%s", label, label[0] ? " " : "#", si, name,
	     platform[0] ? " on " : "", platform);
	b->steps++;
	if ((r = materialize(b, s, &base)) < 0 ||
	    (r = base_layers(b, s, &base, platform, name, cacheable, true)) < 0)
		goto out;
	if (cacheable && (r = xa_mkdir_p(b->cache, 0700)) < 0) {
		r = xarch_err_sys(b->err, -r, "cannot create '%s'", b->cache);
		goto out;
	}
	bool hits = cacheable && !b->o->no_cache;
	for (size_t i = s->first + 1; i <= s->last; i++) {
		b->in = &b->df.v[i];
		const char *iname = xarch_df_cmd_name(b->in->cmd);
		const char *itext = b->in->text ? b->in->text : "";
		b->steps++;
		if (!fs_step(b->in)) {
			note(b, XARCH_NOTE_INFO, "[%s%s%zu] %s %s", label, label[0] ? " " : "#", si,
			     iname, itext);
			if ((r = step(b, s, si, b->in, false)) < 0)
				goto out;
			continue;
		}
		char lp[PATH_MAX], by[PATH_MAX + 16];
		struct stat st;
		bool empty = false;
		if ((r = layer_path(b, cacheable, "layer", keys[i - s->first], lp, sizeof(lp))) < 0)
			goto out;
		if (hits && stat(lp, &st) == 0) {
			note(b, XARCH_NOTE_INFO, "[%s%s%zu] %s %s: CACHED", label,
			     label[0] ? " " : "#", si, iname, itext);
			b->cached++;
			empty = st.st_size == 0;
			if (!empty && (r = apply_layer(b, s, lp)) < 0)
				goto out;
			/* WORKDIR also sets the working directory */
			if (b->in->cmd == XARCH_DF_WORKDIR &&
			    (r = step(b, s, si, b->in, false)) < 0)
				goto out;
		} else {
			hits = false;
			note(b, XARCH_NOTE_INFO, "[%s%s%zu] %s %s", label, label[0] ? " " : "#", si,
			     iname, itext);
			struct xarch_snapshot *snap = NULL;
			if ((r = xarch_snapshot_take(s->dir, &snap, b->err)) < 0)
				goto out;
			r = step(b, s, si, b->in, false);
			if (r >= 0)
				r = store_layer(b, s->dir, snap, lp, &empty);
			xarch_snapshot_free(snap);
			if (r < 0)
				goto out;
		}
		created_by(b->in, by, sizeof(by));
		if (!empty && (r = stage_add_layer(b, s, lp, by)) < 0)
			goto out;
	}
	if (!s->platform[0]) {
		/* from the binaries the stage ended with, else the host's */
		_cleanup_close_ int rootfd = xarch_root_open_dir(s->dir, NULL);
		const struct xarch_arch *a;
		if (rootfd >= 0 && xarch_root_arch(rootfd, NULL, &a, NULL) == 0 && a->oci_arch)
			xarch_arch_platform(a, s->platform, sizeof(s->platform));
	}
	/* into the cache: the finished tree is never written again */
	if (cacheable && xa_mkdir_p(b->cache, 0700) == 0 &&
	    (rename(s->dir, cdir) == 0 ||
	     (errno == ENOTEMPTY || errno == EEXIST
		  ? xa_rm_rf_at(AT_FDCWD, cdir) == 0 && rename(s->dir, cdir) == 0
		  : false))) {
		snprintf(s->dir, sizeof(s->dir), "%s", cdir);
		s->cached = true;
	}
	r = 0;
out:
	free(base.config);
	return r;
}

/* mark the stages `si` needs (FROM and COPY --from), recursively */
static void mark_needed(struct build *b, size_t si)
{
	struct stage *s = &b->stages[si];
	if (s->needed)
		return;
	s->needed = true;
	for (size_t i = s->first; i <= s->last; i++) {
		const struct xarch_df_instr *in = &b->df.v[i];
		const char *ref =
		    in->cmd == XARCH_DF_FROM ? in->args[0] : xarch_df_flag(in, "from");
		if (!ref || in->cmd == XARCH_DF_RUN)
			continue;
		if (strchr(ref, '$')) {
			/* computed: every stage before may be it */
			for (size_t k = 0; k < si; k++)
				mark_needed(b, k);
			continue;
		}
		struct stage *d = stage_named(b, ref, si);
		if (d)
			mark_needed(b, (size_t)(d - b->stages));
	}
}

/* ---- outputs -----------------------------------------------------------------------------------
 */

static int output_dir(struct build *b, const struct stage *s, const char *path)
{
	struct stat st;
	if (lstat(path, &st) == 0)
		return xarch_err(b->err, EEXIST, "output '%s' already exists", path);
	char tmp[PATH_MAX];
	if (xa_snprintf(tmp, sizeof(tmp), "%s.xarch-tmp-XXXXXX", path) < 0)
		return xarch_err(b->err, ENAMETOOLONG, "output path too long");
	for (size_t n = strlen(path); n > 1 && path[n - 1] == '/';)
		return xarch_err(b->err, EINVAL, "output '%s': drop the trailing '/'", path);
	if (!mkdtemp(tmp))
		return xarch_err_sys(b->err, errno, "cannot create a directory next to '%s'", path);
	int r = copy_tree(b, s->dir, tmp);
	if (r >= 0 && rename(tmp, path) < 0)
		r = xarch_err_sys(b->err, errno, "cannot rename to '%s'", path);
	if (r < 0)
		xa_rm_rf_at(AT_FDCWD, tmp);
	return r;
}

static int output_store(struct build *b, const struct stage *s, const char *config,
			struct xarch_build_result *res)
{
	char root[PATH_MAX], tmp[PATH_MAX], src[PATH_MAX + 32], path[PATH_MAX];
	int r;
	if (b->o->store_root)
		r = xa_strcpy(root, sizeof(root), b->o->store_root) < 0
			? xarch_err(b->err, ENAMETOOLONG, "store path too long")
			: 0;
	else
		r = xarch_store_root(root, sizeof(root), b->err);
	if (r < 0)
		return r;
	if ((r = xa_mkdir_p(root, 0755)) < 0)
		return xarch_err_sys(b->err, -r, "cannot create '%s'", root);
	if (xa_snprintf(tmp, sizeof(tmp), "%s/.build-XXXXXX", root) < 0 || !mkdtemp(tmp))
		return xarch_err_sys(b->err, errno, "cannot create a directory in '%s'", root);
	snprintf(src, sizeof(src), "oci:%s/layout:latest", tmp);
	struct xarch_export_opts eo = {.platform = s->platform,
				       .config = config,
				       .created_by = "xarch build",
				       .layers = s->layers,
				       .n_layers = s->n_layers};
	struct xarch_store_opts so = {.root = root, .name = b->o->tag, .config = config};
	if ((r = xarch_export(s->dir, src, &eo, NULL, b->err)) >= 0 &&
	    (r = xarch_store_get(src, &so, path, sizeof(path), NULL, b->err)) >= 0)
		snprintf(res->digest, sizeof(res->digest), "sha256:%s", strrchr(path, '/') + 1);
	xa_rm_rf_at(AT_FDCWD, tmp);
	return r;
}

/* ---- the build
 * ------------------------------------------------------------------------------------ */

static int build_init(struct build *b, struct xarch_error *err)
{
	const struct xarch_build_opts *o = b->o;
	struct utsname u;
	(void)u;
	xarch_arch_platform(xarch_arch_host(), b->host_platform, sizeof(b->host_platform));
	if (o->platform) {
		const struct xarch_arch *a = xarch_arch_lookup(o->platform);
		if (!a || !a->oci_arch)
			return xarch_err(err, EINVAL,
					 "unknown platform '%s'; 'xarch arch' lists them",
					 o->platform);
		xarch_arch_platform(a, b->target_platform, sizeof(b->target_platform));
	} else {
		snprintf(b->target_platform, sizeof(b->target_platform), "%s", b->host_platform);
	}
	const struct xarch_arch *host = xarch_arch_host(), *t = NULL;
	if (o->platform)
		t = xarch_arch_lookup(o->platform);
	for (size_t i = 0; i < b->df.n && (!t || t == host); i++) {
		const char *pf =
		    b->df.v[i].cmd == XARCH_DF_FROM ? xarch_df_flag(&b->df.v[i], "platform") : NULL;
		t = pf && !strchr(pf, '$') ? xarch_arch_lookup(pf) : t;
	}
	if (t && t != host)
		snprintf(b->emulate, sizeof(b->emulate), "%s", t->name);
	/* the build args */
	for (size_t i = 0; i < o->n_build_args; i++) {
		const char *a = o->build_args[i], *eq = strchr(a, '=');
		int r;
		if (eq) {
			r = strv_add(&b->build_args, a);
		} else {
			const char *v = getenv(a);
			if (!v)
				continue;
			char k[256];
			snprintf(k, sizeof(k), "%s", a);
			r = kv_set(&b->build_args, k, v);
		}
		if (r < 0)
			return xarch_err(err, ENOMEM, "out of memory");
	}
	b->arg_used = calloc(b->build_args.n + 1, sizeof(bool));
	if (!b->arg_used)
		return xarch_err(err, ENOMEM, "out of memory");
	/* the predefined platform ARGs live in the global scope */
	static const char *const pre[] = {"TARGETPLATFORM", "TARGETOS",	     "TARGETARCH",
					  "TARGETVARIANT",  "BUILDPLATFORM", "BUILDOS",
					  "BUILDARCH",	    "BUILDVARIANT"};
	for (size_t i = 0; i < ARRAY_SIZE(pre); i++) {
		char v[128];
		predefined_arg(b, pre[i], v, sizeof(v));
		const char *ov = NULL;
		for (size_t k = 0; k < b->build_args.n; k++)
			if (!strncmp(b->build_args.v[k], pre[i], strlen(pre[i])) &&
			    b->build_args.v[k][strlen(pre[i])] == '=')
				ov = b->build_args.v[k] + strlen(pre[i]) + 1;
		if (kv_set(&b->global_args, pre[i], ov ? ov : v) < 0)
			return xarch_err(err, ENOMEM, "out of memory");
	}
	return 0;
}

int xarch_build(const struct xarch_build_opts *o, struct xarch_build_result *ret,
		struct xarch_error *err)
{
	struct build b = {.o = o, .err = err, .root = real_root()};
	struct xarch_build_result res = {0};
	char dfpath[PATH_MAX];
	_cleanup_free_ char *text = NULL, *config = NULL;
	size_t len;
	int r;
	struct stat st;

	if (!o || !o->context)
		return xarch_err(err, EINVAL, "no build context");
	if (stat(o->context, &st) < 0 || !S_ISDIR(st.st_mode))
		return xarch_err(err, ENOTDIR, "build context '%s' is not a directory", o->context);
	if (o->dockerfile)
		r = xa_strcpy(dfpath, sizeof(dfpath), o->dockerfile);
	else
		r = xa_snprintf(dfpath, sizeof(dfpath), "%s/Dockerfile", o->context);
	if (r < 0)
		return xarch_err(err, ENAMETOOLONG, "Dockerfile path too long");
	b.dfname = o->dockerfile ? o->dockerfile : "Dockerfile";
	if ((r = xa_read_file(dfpath, DOCKERFILE_MAX, &text, &len, err)) < 0)
		return r;
	if ((r = xarch_dockerfile_parse(text, len, b.dfname, &b.df, err)) < 0)
		return r;
	if ((r = build_init(&b, err)) < 0 ||
	    (r = load_dockerignore(o->context, &b.ignore, err)) < 0)
		goto out;

	/* global ARGs, then the stages */
	size_t i = 0;
	for (; i < b.df.n && b.df.v[i].cmd != XARCH_DF_FROM; i++) {
		b.in = &b.df.v[i];
		if (b.df.v[i].cmd != XARCH_DF_ARG) {
			r = line_err(&b, EINVAL,
				     "%s before the first FROM; only ARG may come first",
				     xarch_df_cmd_name(b.df.v[i].cmd));
			goto out;
		}
		if ((r = do_arg(&b, &b.global_args, &b.df.v[i])) < 0)
			goto out;
	}
	if (i == b.df.n) {
		r = xarch_err(err, EINVAL, "%s: no FROM instruction", b.dfname);
		goto out;
	}
	for (; i < b.df.n; i++) {
		if (b.df.v[i].cmd == XARCH_DF_FROM) {
			struct stage *ns = reallocarray(b.stages, b.n_stages + 1, sizeof(*ns));
			if (!ns) {
				r = xarch_err(err, ENOMEM, "out of memory");
				goto out;
			}
			b.stages = ns;
			struct stage *s = &b.stages[b.n_stages++];
			memset(s, 0, sizeof(*s));
			s->first = i;
			const struct xarch_df_instr *in = &b.df.v[i];
			if (in->n_args == 3 && !strcasecmp(in->args[1], "as")) {
				s->name = strdup(in->args[2]);
				for (char *c = s->name; c && *c; c++)
					*c = (char)tolower((unsigned char)*c);
			} else if (in->n_args != 1) {
				b.in = in;
				r = line_err(&b, EINVAL, "FROM takes IMAGE [AS NAME]");
				goto out;
			}
		}
		b.stages[b.n_stages - 1].last = i;
	}

	/* the target and what it needs */
	size_t target = b.n_stages - 1;
	if (o->target) {
		struct stage *t = NULL;
		for (size_t k = 0; k < b.n_stages; k++)
			if (b.stages[k].name && !strcasecmp(b.stages[k].name, o->target))
				t = &b.stages[k];
		if (!t) {
			r = xarch_err(err, ENOENT, "no stage named '%s' in %s", o->target,
				      b.dfname);
			goto out;
		}
		target = (size_t)(t - b.stages);
	}
	mark_needed(&b, target);

	/* where the stages live */
	if (o->state_dir)
		r = xa_strcpy(b.state, sizeof(b.state), o->state_dir) < 0 ? -ENAMETOOLONG : 0;
	else
		r = xarch_build_state_dir(b.state, sizeof(b.state), err);
	if (r < 0)
		goto out;
	if ((r = xa_mkdir_p(b.state, 0700)) < 0) {
		r = xarch_err_sys(err, -r, "cannot create '%s'", b.state);
		goto out;
	}
	snprintf(b.cache, sizeof(b.cache), "%s/cache", b.state);
	if (xa_snprintf(b.work, sizeof(b.work), "%s/work-XXXXXX", b.state) < 0 ||
	    !mkdtemp(b.work)) {
		r = xarch_err_sys(err, errno, "cannot create a directory in '%s'", b.state);
		b.work[0] = '\0';
		goto out;
	}
	chmod(b.work, 0755);

	for (size_t k = 0; k <= target; k++) {
		if (!b.stages[k].needed)
			continue;
		if ((r = run_stage(&b, k)) < 0)
			goto out;
		b.stages[k].built = true;
	}
	for (size_t k = 0; k < b.build_args.n; k++)
		if (!b.arg_used[k]) {
			char n[128];
			snprintf(n, sizeof(n), "%.*s", (int)strcspn(b.build_args.v[k], "="),
				 b.build_args.v[k]);
			bool pre = !strncmp(n, "TARGET", 6) || !strncmp(n, "BUILD", 5);
			if (!pre)
				note(&b, XARCH_NOTE_WARN,
				     "build-arg '%s' was not consumed by any ARG", n);
		}

	/* outputs */
	struct stage *s = &b.stages[target];
	b.in = NULL;
	if (!s->platform[0])
		snprintf(s->platform, sizeof(s->platform), "%s", b.target_platform);
	snprintf(res.platform, sizeof(res.platform), "%s", s->platform);
	if (!(config = stage_config(s))) {
		r = xarch_err(err, ENOMEM, "out of memory");
		goto out;
	}
	for (size_t k = 0; k < o->n_outputs; k++) {
		const char *d = o->outputs[k];
		if (!strncmp(d, "dir:", 4) || (!strchr(d, ':') && d[0]))
			r = output_dir(&b, s, strncmp(d, "dir:", 4) ? d : d + 4);
		else {
			struct xarch_export_opts eo = {.platform = s->platform,
						       .config = config,
						       .created_by = "xarch build",
						       .layers = s->layers,
						       .n_layers = s->n_layers};
			r = xarch_export(s->dir, d, &eo, NULL, err);
		}
		if (r < 0)
			goto out;
		note(&b, XARCH_NOTE_INFO, "wrote %s", d);
	}
	if (o->tag) {
		if ((r = output_store(&b, s, config, &res)) < 0)
			goto out;
		note(&b, XARCH_NOTE_INFO, "stored as '%s' (%.19s)", o->tag, res.digest);
	}
	res.steps = b.steps;
	res.cached = b.cached;
	if (ret)
		*ret = res;
	r = 0;
out:
	if (b.work[0])
		xa_rm_rf_at(AT_FDCWD, b.work);
	for (size_t k = 0; k < b.n_stages; k++) {
		stage_reset(&b.stages[k]);
		free(b.stages[k].name);
	}
	free(b.stages);
	strv_clear(&b.global_args);
	strv_clear(&b.build_args);
	strv_clear(&b.ignore);
	free(b.arg_used);
	xarch_dockerfile_release(&b.df);
	return r;
}
