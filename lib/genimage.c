// SPDX-License-Identifier: MIT
/*
 * genimage.cfg images generated with the usual tools.  Filesystems used only
 * as one hdimage partition are made at their offset inside the disk file.
 */
#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "digest.h"
#include "xarch/diskout.h"
#include "gi.h"
#include "xarch/spawn.h"

static bool has_flag(const struct xarch_gimage *img, unsigned flag)
{
	const struct gi_type *t = gi_type_find(img->type);
	return t && (t->flags & flag);
}

/* How many partitions use image NAME; *disk says whether one is an hdimage's. */
static unsigned refs(const struct xarch_gcfg *cfg, const char *name, bool *disk)
{
	unsigned n = 0;
	for (size_t i = 0; i < cfg->n_images; i++)
		for (size_t j = 0; j < cfg->images[i].n_parts; j++)
			if (!strcmp(cfg->images[i].parts[j].image, name)) {
				n++;
				*disk = *disk || !strcmp(cfg->images[i].type, "hdimage");
			}
	return n;
}

/* Made in place: a fixed-size filesystem in exactly one hdimage partition,
 * with no exec hook that would expect its own file. */
bool gi_is_inline(const struct gi *g, const struct xarch_gimage *img)
{
	bool disk = false;
	return has_flag(img, GI_INPLACE) && !img->exec_pre[0] && !img->exec_post[0] &&
	       refs(g->cfg, img->name, &disk) == 1 && disk;
}

/* The tools' environment: ours plus MTOOLS_SKIP_CHECK (mtools on an image
 * file at an offset) and, with SOURCE_DATE_EPOCH, E2FSPROGS_FAKE_TIME. */
static bool env_key_is(const char *kv, const char *key_eq)
{
	return key_eq && !strncmp(kv, key_eq, strcspn(key_eq, "=") + 1);
}

static const char *const *tool_env(struct gi *g)
{
	static const char *env[512];
	extern char **environ;
	size_t n = 0;
	for (char **e = environ; *e && n < ARRAY_SIZE(env) - 6; e++) {
		bool over =
		    env_key_is(*e, "MTOOLS_SKIP_CHECK=") || env_key_is(*e, "E2FSPROGS_FAKE_TIME=");
		for (size_t i = 0; i < ARRAY_SIZE(g->env_extra); i++)
			over |= env_key_is(*e, g->env_extra[i]);
		if (!over)
			env[n++] = *e;
	}
	env[n++] = "MTOOLS_SKIP_CHECK=1";
	bool faked = false;
	for (size_t i = 0; i < ARRAY_SIZE(g->env_extra); i++)
		if (g->env_extra[i]) {
			env[n++] = g->env_extra[i];
			faked |= env_key_is(g->env_extra[i], "E2FSPROGS_FAKE_TIME=");
		}
	if (g->epoch && !faked)
		env[n++] = g->fake_time;
	env[n] = NULL;
	return env;
}

/* "mkfs.fat 4.2 (2021-01-31)", "mke2fs 1.47.0 (5-Feb-2023)" */
static bool is_banner(const char *l)
{
	const char *sp = strchr(l, ' ');
	if (!sp || !isdigit((unsigned char)sp[1]))
		return false;
	sp = strchr(sp + 1, ' ');
	return sp && sp[1] == '(' && l[strlen(l) - 1] == ')';
}

int gi_run(struct gi *g, const char *const argv[], const struct xarch_gimage *img)
{
	char out[4096], q[1024];
	int st, r = xarch_spawn_output(argv, tool_env(g), true, out, sizeof(out), &st, g->err);
	if (r < 0)
		return r;
	if (xarch_exit_code(st) == 0)
		return 0;
	/* the tool's own last line says why (its version banner, printed
	 * from a buffer at exit, does not) */
	const char *last = "";
	for (char *l = strtok(out, "\n"); l; l = strtok(NULL, "\n")) {
		size_t len = strlen(l);
		while (len && l[len - 1] == ' ')
			l[--len] = '\0';
		if (len && !is_banner(l))
			last = l;
	}
	return xarch_err(g->err, EIO, "%s:%d: image '%s': '%s' failed with exit %d%s%s", img->file,
			 img->line, img->name, xarch_argv_quote(argv, q, sizeof(q)),
			 xarch_exit_code(st), *last ? ": " : "", last);
}

/* "a b  c" -> argv entries appended at *n (modifies buf) */
static int split_args(char *buf, const char **argv, size_t *n, size_t max)
{
	for (char *s = strtok(buf, " \t"); s; s = strtok(NULL, " \t")) {
		if (*n + 1 >= max)
			return -E2BIG;
		argv[(*n)++] = s;
	}
	return 0;
}

/* The end every mkfs command line shares: the label (under the tool's own
 * flag), the config's extraargs, the disk and the size; then run it.
 * `argv` has room for 96 entries. */
int gi_mkfs_run(struct gi *g, const struct xarch_gimage *img, const char **argv, size_t n,
		const char *label_flag, const char *disk, const char *sz)
{
	char extra[XARCH_GCFG_EXEC_MAX];
	const char *v;
	if ((v = xarch_gimage_opt(img, "label"))) {
		argv[n++] = label_flag;
		argv[n++] = v;
	}
	if ((v = xarch_gimage_opt(img, "extraargs"))) {
		xa_strcpy(extra, sizeof(extra), v);
		if (split_args(extra, argv, &n, 90) < 0)
			return xarch_err(g->err, E2BIG, "image '%s': too many extraargs",
					 img->name);
	}
	argv[n++] = disk;
	argv[n++] = sz;
	argv[n] = NULL;
	return gi_run(g, argv, img);
}

static const char *in_dir(const char *dir, const char *name, char *buf, size_t len)
{
	if (name[0] == '/')
		return name;
	if (xa_snprintf(buf, len, "%s/%s", dir, name) < 0)
		return NULL;
	return buf;
}

/* Where an image's bytes come from when it is not made in place. */
const char *gi_src_path(const struct gi *g, const char *name, char *buf, size_t len)
{
	const struct xarch_gimage *img = xarch_gcfg_image(g->cfg, name);
	if (!img)
		return in_dir(g->input, name, buf, len);
	if (!strcmp(img->type, "file")) {
		const char *n = xarch_gimage_opt(img, "name");
		return in_dir(g->input, n ? n : img->name, buf, len);
	}
	return in_dir(gi_image_dir(g, img), name, buf, len);
}

const char *gi_image_dir(const struct gi *g, const struct xarch_gimage *img)
{
	return img->temporary ? g->tmp : g->output;
}

/* A temp file next to the output; its name in tmp (PATH_MAX). */
int gi_open_tmp(struct gi *g, const char *final, char *tmp)
{
	if (xa_snprintf(tmp, PATH_MAX, "%s.tmp-XXXXXX", final) < 0)
		return xarch_err(g->err, ENAMETOOLONG, "'%s': path too long", final);
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return xarch_err_sys(g->err, errno, "cannot create '%s'", tmp);
	fchmod(fd, 0644);
	return fd;
}

int gi_finish(struct gi *g, int fd, const char *tmp, const char *final)
{
	if (fsync(fd) < 0 || rename(tmp, final) < 0)
		return xarch_err_sys(g->err, errno, "cannot write '%s'", final);
	return 0;
}

static int gen_fs(struct gi *g, const struct xarch_gimage *img)
{
	char final[PATH_MAX], tmp[PATH_MAX];
	if (xa_snprintf(final, sizeof(final), "%s/%s", gi_image_dir(g, img), img->name) < 0)
		return xarch_err(g->err, ENAMETOOLONG, "image '%s': path too long", img->name);
	int fd = gi_open_tmp(g, final, tmp), r;
	if (fd < 0)
		return fd;
	if (ftruncate(fd, (off_t)img->size) < 0)
		r = xarch_err_sys(g->err, errno, "cannot size '%s'", tmp);
	else if ((r = gi_build_at(g, img, tmp, fd, 0)) >= 0)
		r = gi_finish(g, fd, tmp, final);
	close(fd);
	if (r < 0)
		unlink(tmp);
	return r;
}

static bool is_zero(const char *p, size_t n)
{
	return n == 0 || (p[0] == 0 && !memcmp(p, p + 1, n - 1));
}

/* Write the non-zero 4 KiB blocks of buf (len bytes) to fd at off. */
static int write_nonzero(int fd, const char *buf, size_t len, uint64_t off)
{
	for (size_t i = 0; i < len;) {
		size_t b = len - i < 4096 ? len - i : 4096;
		if (is_zero(buf + i, b)) {
			i += b;
			continue;
		}
		size_t j = i + b; /* extend the run of data blocks */
		while (j < len) {
			size_t c = len - j < 4096 ? len - j : 4096;
			if (is_zero(buf + j, c))
				break;
			j += c;
		}
		if (pwrite(fd, buf + i, j - i, (off_t)(off + i)) != (ssize_t)(j - i))
			return -errno ? -errno : -EIO;
		i = j;
	}
	return 0;
}

/* Copy SRC into fd at off: only its data extents are read, and zero blocks
 * inside them stay holes too. */
int gi_copy_at(struct gi *g, int fd, const char *src, uint64_t off, uint64_t max)
{
	_cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ char *buf = NULL;
	const size_t bufsz = 1 << 20;
	struct stat st;
	off_t pos = 0;

	if (in < 0 || fstat(in, &st) < 0)
		return xarch_err_sys(g->err, errno, "cannot open '%s'", src);
	if ((uint64_t)st.st_size > max)
		return xarch_err(g->err, ENOSPC,
				 "'%s' (%llu bytes) does not fit its partition "
				 "(%llu bytes)",
				 src, (unsigned long long)st.st_size, (unsigned long long)max);
	if (!(buf = malloc(bufsz)))
		return -ENOMEM;
	while (pos < st.st_size) {
		off_t data = lseek(in, pos, SEEK_DATA), hole;
		if (data < 0 && errno == ENXIO)
			break;
		if (data < 0) /* no SEEK_DATA: all of it is data */
			data = pos, hole = st.st_size;
		else if ((hole = lseek(in, data, SEEK_HOLE)) < 0)
			hole = st.st_size;
		for (pos = data; pos < hole;) {
			size_t want = (size_t)(hole - pos) < bufsz ? (size_t)(hole - pos) : bufsz;
			ssize_t n = pread(in, buf, want, pos);
			if (n <= 0)
				return xarch_err_sys(g->err, n < 0 ? errno : EIO,
						     "cannot read '%s'", src);
			int r = write_nonzero(fd, buf, (size_t)n, off + (uint64_t)pos);
			if (r < 0)
				return xarch_err_sys(g->err, -r, "cannot write image data");
			pos += n;
		}
	}
	return 0;
}

void gi_guid(const struct gi *g, const char *a, const char *b, uint8_t out[16])
{
	if (!g->epoch || !g->epoch_s) {
		if (getrandom(out, 16, 0) != 16)
			memset(out, 0x5a, 16);
	} else {
		struct xa_sha256 c;
		uint8_t h[32];
		xa_sha256_init(&c);
		xa_sha256_update(&c, "xarch-genimage", 15);
		xa_sha256_update(&c, g->epoch_s, strlen(g->epoch_s) + 1);
		xa_sha256_update(&c, a, strlen(a) + 1);
		xa_sha256_update(&c, b ? b : "", strlen(b ? b : "") + 1);
		xa_sha256_final(&c, h);
		memcpy(out, h, 16);
	}
	out[7] = (uint8_t)((out[7] & 0x0f) | 0x40); /* version 4, in on-disk order */
	out[8] = (uint8_t)((out[8] & 0x3f) | 0x80);
}

int gi_timestamp_parse(const char *s, uint64_t *ret)
{
	struct tm tm = {0};
	size_t n = strlen(s);
	char *end;
	if (s[0] == '@') {
		unsigned long long v = strtoull(s + 1, &end, 10);
		if (end == s + 1 || *end)
			return -EINVAL;
		*ret = v;
		return 0;
	}
	if ((n != 8 && n != 12 && n != 14) || strspn(s, "0123456789") != n)
		return -EINVAL;
	if (sscanf(s, "%4d%2d%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday) != 3 ||
	    (n >= 12 && sscanf(s + 8, "%2d%2d", &tm.tm_hour, &tm.tm_min) != 2) ||
	    (n == 14 && sscanf(s + 12, "%2d", &tm.tm_sec) != 1))
		return -EINVAL;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
	    tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
		return -EINVAL;
	time_t t = timegm(&tm);
	if (t < 0)
		return -EINVAL;
	*ret = (uint64_t)t;
	return 0;
}

/* ---- running jobs in parallel ------------------------------------------ */

struct job_result {
	int r;
	struct xarch_error e;
};

static int job_collect(struct gi *g, pid_t pid, int fd, int *first_r, size_t i, size_t *first_i)
{
	struct job_result res = {.r = -EIO};
	int st;
	ssize_t n = read(fd, &res, sizeof(res));
	close(fd);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (n != (ssize_t)sizeof(res)) {
		res.r = -EIO;
		snprintf(res.e.msg, sizeof(res.e.msg), "a build job died (%s)",
			 WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "no result");
		res.e.code = EIO;
	}
	if (res.r < 0 && (*first_r >= 0 || i < *first_i)) {
		*first_r = res.r;
		*first_i = i;
		if (g->err)
			*g->err = res.e;
	}
	return 0;
}

int gi_parallel(struct gi *g, size_t n, int (*fn)(struct gi *, size_t, void *), void *data)
{
	struct pollfd pfd[GI_JOBS_MAX];
	pid_t pids[GI_JOBS_MAX];
	size_t idx[GI_JOBS_MAX], running = 0, next = 0, first_i = SIZE_MAX;
	unsigned jobs = g->jobs ? g->jobs : 1;
	int first_r = 0;

	if (n <= 1 || jobs <= 1) {
		for (size_t i = 0; i < n; i++) {
			int r = fn(g, i, data);
			if (r < 0)
				return r;
		}
		return 0;
	}
	if (jobs > GI_JOBS_MAX)
		jobs = GI_JOBS_MAX;
	fflush(NULL);
	while (running || (next < n && first_r >= 0)) {
		while (running < jobs && next < n && first_r >= 0) {
			int p[2];
			if (pipe2(p, O_CLOEXEC) < 0) {
				first_r = xarch_err_sys(g->err, errno, "cannot start a build job");
				break;
			}
			pid_t pid = fork();
			if (pid < 0) {
				close(p[0]);
				close(p[1]);
				first_r = xarch_err_sys(g->err, errno, "cannot start a build job");
				break;
			}
			if (pid == 0) {
				struct job_result res = {0};
				close(p[0]);
				g->err = &res.e;
				g->jobs = 1;
				res.r = fn(g, next, data);
				_exit(write(p[1], &res, sizeof(res)) == sizeof(res) ? 0 : 1);
			}
			close(p[1]);
			pfd[running] = (struct pollfd){.fd = p[0], .events = POLLIN};
			pids[running] = pid;
			idx[running++] = next++;
		}
		if (!running)
			break;
		if (poll(pfd, running, -1) < 0 && errno != EINTR)
			return xarch_err_sys(g->err, errno, "cannot wait for build jobs");
		for (size_t k = 0; k < running;) {
			if (!pfd[k].revents) {
				k++;
				continue;
			}
			job_collect(g, pids[k], pfd[k].fd, &first_r, idx[k], &first_i);
			running--;
			pfd[k] = pfd[running];
			pids[k] = pids[running];
			idx[k] = idx[running];
		}
	}
	return first_r;
}

/* ---- the order images are built in ---------------------------------------- */

/* The images of the config that `img` reads (an inline filesystem is built by
 * its disk, so the disk needs what the filesystem reads). */
static void deps(const struct gi *g, const struct xarch_gimage *img, bool *need)
{
	const struct xarch_gcfg *cfg = g->cfg;
	for (size_t i = 0; i < cfg->n_images; i++) {
		const struct xarch_gimage *c = &cfg->images[i];
		bool used = false;
		for (size_t j = 0; j < img->n_parts && !used; j++)
			used = !strcmp(img->parts[j].image, c->name);
		for (size_t j = 0; j < img->n_files && !used; j++)
			used = !strcmp(img->files[j].image, c->name);
		for (size_t j = 0; j < img->n_opts && !used; j++)
			used = (!strcmp(img->opts[j].key, "files") ||
				!strcmp(img->opts[j].key, "image")) &&
			       !strcmp(img->opts[j].value, c->name);
		if (!used || c == img)
			continue;
		if (gi_is_inline(g, c))
			deps(g, c, need);
		else
			need[i] = true;
	}
}

struct wave {
	const struct xarch_gimage **imgs;
	double *secs;
};

static int build_one(struct gi *g, size_t i, void *data)
{
	const struct xarch_gimage *img = ((struct wave *)data)->imgs[i];
	const struct gi_type *t = gi_type_find(img->type);
	return gi_with_hooks(g, img, t->generate ? t->generate : gen_fs);
}

static void report_file(struct gi *g, const struct xarch_gimage *img, const char *path,
			const char *type, double secs)
{
	struct xarch_genimage_result res = {
	    .name = img->name, .type = type, .path = path, .seconds = secs};
	struct xarch_diskout_stats st;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (!g->o || !g->o->done || fd < 0 || xarch_diskout_stats(fd, &st, NULL) < 0)
		return;
	res.apparent = st.size;
	res.allocated = st.allocated;
	res.mapped = st.mapped;
	g->o->done(g->o->data, &res);
}

/* The side files of a disk the options ask for: .bmap, .simg, .qcow2. */
static int side_files(struct gi *g, const struct xarch_gimage *img, const char *path)
{
	char out[PATH_MAX + 8], tmp[PATH_MAX + 8];
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	double t0 = xa_now_s();
	int r;

	if (fd < 0)
		return xarch_err_sys(g->err, errno, "cannot open '%s'", path);
	if (g->o->bmap) {
		xa_snprintf(out, sizeof(out), "%s.bmap", path);
		if ((r = xarch_bmap_write(fd, out, 0, NULL, g->err)) < 0)
			return r;
		report_file(g, img, out, "bmap", xa_now_s() - t0);
	}
	if (g->o->android_sparse) {
		t0 = xa_now_s();
		xa_snprintf(out, sizeof(out), "%s.simg", path);
		if ((r = xarch_simg_write(fd, out, 0, 0, NULL, g->err)) < 0)
			return r;
		report_file(g, img, out, "android-sparse", xa_now_s() - t0);
	}
	if (g->o->qcow2) {
		t0 = xa_now_s();
		xa_snprintf(out, sizeof(out), "%s.qcow2", path);
		_cleanup_close_ int tfd = gi_open_tmp(g, out, tmp);
		if (tfd < 0)
			return tfd;
		const char *argv[] = {"qemu-img", "convert", "-q", "-f", "raw",
				      "-O",	  "qcow2",   path, tmp,	 NULL};
		if ((r = gi_run(g, argv, img)) < 0 || (r = gi_finish(g, tfd, tmp, out)) < 0) {
			unlink(tmp);
			return r;
		}
		report_file(g, img, out, "qcow2", xa_now_s() - t0);
	}
	return 0;
}

static int report(struct gi *g, const struct xarch_gimage *img, double secs)
{
	char path[PATH_MAX];
	if (img->temporary || xa_snprintf(path, sizeof(path), "%s/%s", g->output, img->name) < 0)
		return 0; /* intermediate images in tmppath are not outputs */
	report_file(g, img, path, img->type, secs);
	if (g->o && !strcmp(img->type, "hdimage"))
		return side_files(g, img, path);
	return 0;
}

/* Build every image that has a file of its own, in waves: each wave is the
 * images whose inputs are all built, made in parallel. */
static int build_all(struct gi *g)
{
	const struct xarch_gcfg *cfg = g->cfg;
	size_t n = cfg->n_images, left = 0;
	_cleanup_free_ bool *built = calloc(n + 1, sizeof(bool)),
			    *need = calloc(n + 1, sizeof(bool));
	_cleanup_free_ const struct xarch_gimage **wave = calloc(n + 1, sizeof(*wave));
	int r = 0;

	if (!built || !need || !wave)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct xarch_gimage *img = &cfg->images[i];
		const struct gi_type *t = gi_type_find(img->type);
		built[i] = (!t->build && !t->generate) || gi_is_inline(g, img);
		left += !built[i];
	}
	while (left) {
		size_t k = 0;
		for (size_t i = 0; i < n; i++) {
			bool ready = !built[i];
			if (!ready)
				continue;
			memset(need, 0, n * sizeof(bool));
			deps(g, &cfg->images[i], need);
			for (size_t j = 0; j < n && ready; j++)
				ready = !need[j] || built[j];
			if (ready)
				wave[k++] = &cfg->images[i];
		}
		if (!k) {
			for (size_t i = 0; i < n; i++)
				if (!built[i])
					return xarch_err(g->err, ELOOP,
							 "%s:%d: image '%s' depends on itself "
							 "through other images",
							 cfg->images[i].file, cfg->images[i].line,
							 cfg->images[i].name);
		}
		double t0 = xa_now_s();
		for (size_t j = 0; j < k && g->o && g->o->start; j++)
			g->o->start(g->o->data, wave[j]);
		struct wave w = {.imgs = wave};
		if ((r = gi_parallel(g, k, build_one, &w)) < 0)
			return r;
		for (size_t j = 0; j < k; j++) {
			built[wave[j] - cfg->images] = true;
			if ((r = report(g, wave[j], xa_now_s() - t0)) < 0)
				return r;
		}
		left -= k;
	}
	return 0;
}

static const char *pick(const char *opt, const char *cfg, const char *def)
{
	return opt ? opt : cfg && cfg[0] ? cfg : def;
}

int xarch_genimage(const struct xarch_gcfg *cfg, const struct xarch_genimage_opts *o,
		   struct xarch_error *err)
{
	struct gi *g = calloc(1, sizeof(*g));
	const char *se = getenv("SOURCE_DATE_EPOCH");
	int r = 0;

	if (!g)
		return -ENOMEM;
	g->cfg = cfg;
	g->o = o;
	g->err = err;
	g->root = pick(o ? o->rootpath : NULL, cfg->rootpath, "root");
	g->input = pick(o ? o->inputpath : NULL, cfg->inputpath, "input");
	g->output = pick(o ? o->outputpath : NULL, cfg->outputpath, "images");
	g->tmp = pick(o ? o->tmppath : NULL, cfg->tmppath, "tmp");
	g->jobs = o && o->jobs ? o->jobs : (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
	if (se && *se) {
		g->epoch = true;
		g->epoch_s = se;
		g->epoch_sec = strtoll(se, NULL, 10);
		xa_snprintf(g->fake_time, sizeof(g->fake_time), "E2FSPROGS_FAKE_TIME=%s", se);
	}
	if (mkdir(g->output, 0755) < 0 && errno != EEXIST) {
		r = xarch_err_sys(err, errno, "cannot create '%s'", g->output);
		goto out;
	}
	for (size_t i = 0; i < cfg->n_images && r >= 0; i++)
		if (cfg->images[i].temporary && mkdir(g->tmp, 0755) < 0 && errno != EEXIST)
			r = xarch_err_sys(err, errno, "cannot create '%s'", g->tmp);
	for (size_t i = 0; i < cfg->n_images && r >= 0; i++) {
		const struct xarch_gimage *img = &cfg->images[i];
		if (!gi_type_find(img->type))
			r = xarch_err(err, ENOTSUP,
				      "%s:%d: image '%s': type '%s' is not supported yet",
				      img->file, img->line, img->name, img->type);
	}
	if (r >= 0)
		r = build_all(g);
out:
	free(g);
	return r;
}
