// SPDX-License-Identifier: MIT
/*
 * genimage.cfg images generated with the usual tools.  Filesystems used only
 * as one hdimage partition are made at their offset inside the disk file.
 */
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"
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
static const char *const *tool_env(struct gi *g)
{
	static const char *env[512];
	extern char **environ;
	size_t n = 0;
	for (char **e = environ; *e && n < ARRAY_SIZE(env) - 3; e++)
		if (strncmp(*e, "MTOOLS_SKIP_CHECK=", 18) &&
		    strncmp(*e, "E2FSPROGS_FAKE_TIME=", 20))
			env[n++] = *e;
	env[n++] = "MTOOLS_SKIP_CHECK=1";
	if (g->epoch)
		env[n++] = g->fake_time;
	env[n] = NULL;
	return env;
}

int gi_run(struct gi *g, const char *const argv[], const struct xarch_gimage *img)
{
	char out[4096], q[1024];
	int st, r = xarch_spawn_output(argv, tool_env(g), true, out, sizeof(out), &st, g->err);
	if (r < 0)
		return r;
	if (xarch_exit_code(st) == 0)
		return 0;
	/* the tool's own last line says why */
	size_t len = strlen(out);
	while (len && (out[len - 1] == '\n' || out[len - 1] == ' '))
		out[--len] = '\0';
	const char *last = strrchr(out, '\n');
	last = last ? last + 1 : out;
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
	return in_dir(g->output, name, buf, len);
}

static void report(struct gi *g, int fd, const char *path)
{
	struct stat st;
	if (g->o && g->o->done && fstat(fd, &st) == 0)
		g->o->done(g->o->data, path, (uint64_t)st.st_size, (uint64_t)st.st_blocks * 512);
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
	report(g, fd, final);
	if (fsync(fd) < 0 || rename(tmp, final) < 0)
		return xarch_err_sys(g->err, errno, "cannot write '%s'", final);
	return 0;
}

static int gen_fs(struct gi *g, const struct xarch_gimage *img)
{
	char final[PATH_MAX], tmp[PATH_MAX];
	if (xa_snprintf(final, sizeof(final), "%s/%s", g->output, img->name) < 0)
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

/* Copy SRC into fd at off, leaving zero blocks as holes. */
int gi_copy_at(struct gi *g, int fd, const char *src, uint64_t off, uint64_t max)
{
	_cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
	static char buf[1 << 16];
	static const char zero[1 << 16];
	uint64_t done = 0;
	if (in < 0)
		return xarch_err_sys(g->err, errno, "cannot open '%s'", src);
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n < 0)
			return xarch_err_sys(g->err, errno, "cannot read '%s'", src);
		if (n == 0)
			return 0;
		if (done + (uint64_t)n > max)
			return xarch_err(g->err, ENOSPC, "'%s' does not fit its partition", src);
		if (memcmp(buf, zero, (size_t)n) &&
		    pwrite(fd, buf, (size_t)n, (off_t)(off + done)) != n)
			return xarch_err_sys(g->err, errno, "cannot write image data");
		done += (uint64_t)n;
	}
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
	if (se && *se) {
		g->epoch = true;
		g->epoch_sec = strtoll(se, NULL, 10);
		xa_snprintf(g->fake_time, sizeof(g->fake_time), "E2FSPROGS_FAKE_TIME=%s", se);
	}
	if (mkdir(g->output, 0755) < 0 && errno != EEXIST) {
		r = xarch_err_sys(err, errno, "cannot create '%s'", g->output);
		goto out;
	}
	for (size_t i = 0; i < cfg->n_images && r >= 0; i++) {
		const struct xarch_gimage *img = &cfg->images[i];
		if (!gi_type_find(img->type))
			r = xarch_err(err, ENOTSUP,
				      "%s:%d: image '%s': type '%s' is not supported yet",
				      img->file, img->line, img->name, img->type);
	}
	/* filesystems that are not made in place, the disks that use them, then
	 * what is made from the disks (qemu) */
	static const unsigned phase[] = {0, GI_DISK, GI_AFTER_DISK};
	for (size_t p = 0; p < ARRAY_SIZE(phase); p++)
		for (size_t i = 0; i < cfg->n_images && r >= 0; i++) {
			const struct xarch_gimage *img = &cfg->images[i];
			const struct gi_type *t = gi_type_find(img->type);
			if ((t->flags & (GI_DISK | GI_AFTER_DISK)) != phase[p] ||
			    gi_is_inline(g, img))
				continue;
			if (t->generate)
				r = gi_with_hooks(g, img, t->generate);
			else if (t->build)
				r = gi_with_hooks(g, img, gen_fs);
		}
out:
	free(g);
	return r;
}
