// SPDX-License-Identifier: MIT
/*
 * genimage.cfg images generated with the usual tools.  Filesystems used only
 * as one hdimage partition are made at their offset inside the disk file.
 */
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "internal.h"
#include "xarch/genimage.h"
#include "xarch/ptable.h"
#include "xarch/spawn.h"

#define SECTOR 512ull

struct gi {
	const struct xarch_gcfg *cfg;
	const struct xarch_genimage_opts *o;
	const char *root, *input, *output, *tmp;
	char fake_time[64];
	bool epoch;
	struct xarch_error *err;
};

static bool is_fs(const struct xarch_gimage *img)
{
	return !strcmp(img->type, "vfat") || !strcmp(img->type, "ext2") ||
	       !strcmp(img->type, "ext3") || !strcmp(img->type, "ext4");
}

/* How many hdimage partitions use image NAME. */
static unsigned refs(const struct xarch_gcfg *cfg, const char *name)
{
	unsigned n = 0;
	for (size_t i = 0; i < cfg->n_images; i++)
		for (size_t j = 0; j < cfg->images[i].n_parts; j++)
			n += !strcmp(cfg->images[i].parts[j].image, name);
	return n;
}

static bool is_inline(const struct gi *g, const struct xarch_gimage *img)
{
	return is_fs(img) && refs(g->cfg, img->name) == 1;
}

/* The tools' environment: ours plus MTOOLS_SKIP_CHECK (mtools on an image
 * file at an offset) and, with SOURCE_DATE_EPOCH, E2FSPROGS_FAKE_TIME. */
static const char *const *tool_env(struct gi *g)
{
	static const char *env[512];
	extern char **environ;
	size_t n = 0;
	for (char **e = environ; *e && n < ARRAY_SIZE(env) - 3; e++)
		if (strncmp(*e, "MTOOLS_SKIP_CHECK=", 18) && strncmp(*e, "E2FSPROGS_FAKE_TIME=", 20))
			env[n++] = *e;
	env[n++] = "MTOOLS_SKIP_CHECK=1";
	if (g->epoch)
		env[n++] = g->fake_time;
	env[n] = NULL;
	return env;
}

static int run(struct gi *g, const char *const argv[], const struct xarch_gimage *img)
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
	return xarch_err(g->err, EIO, "%s:%d: image '%s': '%s' failed with exit %d%s%s",
			 img->file, img->line, img->name, xarch_argv_quote(argv, q, sizeof(q)),
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
static int mkfs_run(struct gi *g, const struct xarch_gimage *img, const char **argv, size_t n,
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
	return run(g, argv, img);
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
static const char *src_path(const struct gi *g, const char *name, char *buf, size_t len)
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

static int mkfs_ext(struct gi *g, const struct xarch_gimage *img, const char *disk, uint64_t off)
{
	const char *argv[96];
	size_t n = 0;
	char eopt[128], sz[32], root[PATH_MAX];
	struct stat st;
	const char *v;

	xa_snprintf(eopt, sizeof(eopt),
		    "root_owner=0:0,lazy_itable_init=0,lazy_journal_init=0,offset=%llu",
		    (unsigned long long)off);
	xa_snprintf(sz, sizeof(sz), "%lluk", (unsigned long long)(img->size / 1024));
	argv[n++] = "mke2fs";
	argv[n++] = "-q";
	argv[n++] = "-F";
	argv[n++] = "-t";
	argv[n++] = img->type;
	argv[n++] = "-I";
	argv[n++] = "256";
	argv[n++] = "-E";
	argv[n++] = eopt;
	if (!img->empty) {
		if (xa_snprintf(root, sizeof(root), "%s/%s", g->root, img->mountpoint) < 0)
			return xarch_err(g->err, ENAMETOOLONG, "image '%s': path too long",
					 img->name);
		if (stat(root, &st) == 0 && S_ISDIR(st.st_mode)) {
			argv[n++] = "-d";
			argv[n++] = root;
		}
	}
	if ((v = xarch_gimage_opt(img, "features"))) {
		argv[n++] = "-O";
		argv[n++] = v;
	}
	return mkfs_run(g, img, argv, n, "-L", disk, sz);
}

static int mmd_parents(struct gi *g, const struct xarch_gimage *img, const char *spec,
		       const char *name)
{
	char dir[XARCH_GCFG_PATH_MAX + 2];
	const char *argv[] = { "mmd", "-D", "s", "-i", spec, dir, NULL };
	for (const char *s = strchr(name, '/'); s; s = strchr(s + 1, '/')) {
		if (s == name)
			continue;
		xa_snprintf(dir, sizeof(dir), "::%.*s", (int)(s - name), name);
		int r = run(g, argv, img);
		if (r < 0)
			return r;
	}
	return 0;
}

static int mkfs_vfat(struct gi *g, const struct xarch_gimage *img, const char *disk, uint64_t off)
{
	const char *argv[96];
	size_t n = 0;
	char offs[32], sz[32], spec[PATH_MAX + 40];
	char src[PATH_MAX], dst[XARCH_GCFG_PATH_MAX + 4];
	int r;

	xa_snprintf(offs, sizeof(offs), "%llu", (unsigned long long)(off / SECTOR));
	xa_snprintf(sz, sizeof(sz), "%llu", (unsigned long long)(img->size / 1024));
	argv[n++] = "mkfs.vfat";
	if (g->epoch)
		argv[n++] = "--invariant";
	argv[n++] = "--offset";
	argv[n++] = offs;
	if ((r = mkfs_run(g, img, argv, n, "-n", disk, sz)) < 0)
		return r;

	xa_snprintf(spec, sizeof(spec), "%s@@%llu", disk, (unsigned long long)off);
	const char *cp[] = { "mcopy", "-s", "-p", "-m", "-i", spec, src, dst, NULL };
	/* files = { "a/b" }: stored as ::b */
	for (size_t i = 0; i < img->n_opts; i++) {
		const char *f = img->opts[i].value, *s;
		if (strcmp(img->opts[i].key, "files"))
			continue;
		if (!src_path(g, f, src, sizeof(src)))
			return xarch_err(g->err, ENAMETOOLONG, "image '%s': path too long",
					 img->name);
		s = strrchr(f, '/');
		xa_snprintf(dst, sizeof(dst), "::%s", s ? s + 1 : f);
		if ((r = run(g, cp, img)) < 0)
			return r;
	}
	/* file "DIR/NAME" { image = SRC } */
	for (size_t i = 0; i < img->n_files; i++) {
		const char *name = img->files[i].name;
		if (!src_path(g, img->files[i].image, src, sizeof(src)))
			return xarch_err(g->err, ENAMETOOLONG, "image '%s': path too long",
					 img->name);
		while (*name == '/')
			name++;
		if ((r = mmd_parents(g, img, spec, name)) < 0)
			return r;
		xa_snprintf(dst, sizeof(dst), "::%s", name);
		if ((r = run(g, cp, img)) < 0)
			return r;
	}
	return 0;
}

static int mkfs_at(struct gi *g, const struct xarch_gimage *img, const char *disk, uint64_t off)
{
	if (!img->size || img->size % 1024)
		return xarch_err(g->err, EINVAL, "%s:%d: image '%s': size must be set, in KiB",
				 img->file, img->line, img->name);
	if (!strcmp(img->type, "vfat"))
		return mkfs_vfat(g, img, disk, off);
	return mkfs_ext(g, img, disk, off);
}

static void report(struct gi *g, int fd, const char *path)
{
	struct stat st;
	if (g->o && g->o->done && fstat(fd, &st) == 0)
		g->o->done(g->o->data, path, (uint64_t)st.st_size, (uint64_t)st.st_blocks * 512);
}

/* A temp file next to the output; its name in tmp (PATH_MAX). */
static int open_tmp(struct gi *g, const char *final, char *tmp)
{
	if (xa_snprintf(tmp, PATH_MAX, "%s.tmp-XXXXXX", final) < 0)
		return xarch_err(g->err, ENAMETOOLONG, "'%s': path too long", final);
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return xarch_err_sys(g->err, errno, "cannot create '%s'", tmp);
	fchmod(fd, 0644);
	return fd;
}

static int finish(struct gi *g, int fd, const char *tmp, const char *final)
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
	int fd = open_tmp(g, final, tmp), r;
	if (fd < 0)
		return fd;
	if (ftruncate(fd, (off_t)img->size) < 0)
		r = xarch_err_sys(g->err, errno, "cannot size '%s'", tmp);
	else if ((r = mkfs_at(g, img, tmp, 0)) >= 0)
		r = finish(g, fd, tmp, final);
	close(fd);
	if (r < 0)
		unlink(tmp);
	return r;
}

/* Copy SRC into fd at off, leaving zero blocks as holes. */
static int copy_at(struct gi *g, int fd, const char *src, uint64_t off, uint64_t max)
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

static uint64_t roundup(uint64_t v, uint64_t a)
{
	return a ? (v + a - 1) / a * a : v;
}

static void random_guid(uint8_t g[16])
{
	if (getrandom(g, 16, 0) != 16)
		memset(g, 0x5a, 16);
	g[7] = (uint8_t)((g[7] & 0x0f) | 0x40);
	g[8] = (uint8_t)((g[8] & 0x3f) | 0x80);
}

#define HD_ERR(code, fmt, ...)                                                             \
	xarch_err(g->err, code, "%s:%d: image '%s': " fmt, img->file, img->line, img->name, \
		  ##__VA_ARGS__)

static int gen_hd(struct gi *g, const struct xarch_gimage *img)
{
	struct xarch_ptable *t = calloc(1, sizeof(*t));
	const char *v;
	char final[PATH_MAX], tmp[PATH_MAX], src[PATH_MAX];
	uint64_t align = 512, now, end = 0;
	int fd = -1, r = 0;
	bool tmp_made = false;

	if (!t)
		return -ENOMEM;
	v = xarch_gimage_opt(img, "partition-table-type");
	if (!v || !strcmp(v, "mbr") || !strcmp(v, "dos"))
		t->type = XARCH_PT_MBR;
	else if (!strcmp(v, "gpt"))
		t->type = XARCH_PT_GPT;
	else if (!strcmp(v, "hybrid"))
		t->type = XARCH_PT_HYBRID;
	else
		t->type = XARCH_PT_NONE;
	if (t->type == XARCH_PT_NONE)
		align = 1;
	if ((v = xarch_gimage_opt(img, "align")) && xarch_gcfg_size_parse(v, &align) < 0) {
		r = HD_ERR(EINVAL, "invalid align");
		goto out;
	}
	t->gpt_location = XARCH_GPT_LOCATION_DEFAULT;
	if ((v = xarch_gimage_opt(img, "gpt-location")) &&
	    xarch_gcfg_size_parse(v, &t->gpt_location) < 0) {
		r = HD_ERR(EINVAL, "invalid gpt-location");
		goto out;
	}
	if ((v = xarch_gimage_opt(img, "disk-uuid"))) {
		if (xarch_guid_parse(v, t->disk_guid) < 0) {
			r = HD_ERR(EINVAL, "invalid disk-uuid '%s'", v);
			goto out;
		}
	} else {
		random_guid(t->disk_guid);
	}
	if ((v = xarch_gimage_opt(img, "disk-signature"))) {
		if (!strcmp(v, "random"))
			getrandom(&t->disk_signature, 4, 0);
		else
			t->disk_signature = (uint32_t)strtoul(v, NULL, 0);
	}
	now = t->type == XARCH_PT_NONE ? 0 :
	      t->type == XARCH_PT_MBR	 ? SECTOR :
					   t->gpt_location + 128 * 128;
	if (img->n_parts > XARCH_PT_MAX_PARTS) {
		r = HD_ERR(E2BIG, "too many partitions");
		goto out;
	}
	for (size_t i = 0; i < img->n_parts; i++) {
		const struct xarch_gpart *p = &img->parts[i];
		const struct xarch_gimage *c = p->image[0] ? xarch_gcfg_image(g->cfg, p->image) : NULL;
		struct xarch_part *q = &t->parts[t->n++];
		bool table = p->in_partition_table && t->type != XARCH_PT_NONE;
		uint64_t pal = p->align ? p->align : table ? align : 1, isz = 0;
		struct stat st;

		if (c && is_inline(g, c)) {
			isz = c->size;
		} else if (p->image[0]) {
			if (!src_path(g, p->image, src, sizeof(src)) || stat(src, &st) < 0) {
				r = xarch_err_sys(g->err, errno, "%s:%d: partition '%s': cannot use '%s'",
						  img->file, p->line, p->name, p->image);
				goto out;
			}
			isz = (uint64_t)st.st_size;
		}
		q->size = p->size ? p->size : table ? roundup(isz, pal) : isz;
		if (isz > q->size) {
			r = xarch_err(g->err, ENOSPC, "%s:%d: partition '%s': image is larger than size",
				      img->file, p->line, p->name);
			goto out;
		}
		q->offset = p->offset ? p->offset : roundup(now, pal);
		now = q->offset + q->size;
		if (now > end)
			end = now;
		q->in_table = p->in_partition_table;
		q->bootable = p->bootable;
		q->mbr_type = p->partition_type >= 0 ? (uint8_t)p->partition_type :
			      t->type == XARCH_PT_HYBRID ? 0 : 0x83;
		if (xarch_guid_parse(p->partition_type_uuid[0] ? p->partition_type_uuid : "L",
				     q->type_guid) < 0) {
			r = xarch_err(g->err, EINVAL, "%s:%d: partition '%s': invalid partition-type-uuid",
				      img->file, p->line, p->name);
			goto out;
		}
		if (p->partition_uuid[0]) {
			if (xarch_guid_parse(p->partition_uuid, q->part_guid) < 0) {
				r = xarch_err(g->err, EINVAL, "%s:%d: partition '%s': invalid partition-uuid",
					      img->file, p->line, p->name);
				goto out;
			}
		} else {
			random_guid(q->part_guid);
		}
		xa_strcpy(q->name, sizeof(q->name), p->name);
	}
	if (img->size)
		t->disk_size = img->size;
	else if (t->type & XARCH_PT_GPT || t->type == XARCH_PT_HYBRID)
		t->disk_size = roundup(end + (128 * 128 + SECTOR), 4096);
	else
		t->disk_size = end;

	if (xa_snprintf(final, sizeof(final), "%s/%s", g->output, img->name) < 0) {
		r = HD_ERR(ENAMETOOLONG, "path too long");
		goto out;
	}
	if ((fd = open_tmp(g, final, tmp)) < 0) {
		r = fd;
		goto out;
	}
	tmp_made = true;
	if (ftruncate(fd, (off_t)t->disk_size) < 0) {
		r = xarch_err_sys(g->err, errno, "cannot size '%s'", tmp);
		goto out;
	}
	if (t->type != XARCH_PT_NONE && (r = xarch_ptable_write(fd, t, g->err)) < 0) {
		char m[sizeof(g->err->msg)];
		if (g->err) {
			xa_strcpy(m, sizeof(m), g->err->msg);
			HD_ERR(-r, "%s", m);
		}
		goto out;
	}
	for (size_t i = 0; i < img->n_parts; i++) {
		const struct xarch_gpart *p = &img->parts[i];
		const struct xarch_gimage *c = p->image[0] ? xarch_gcfg_image(g->cfg, p->image) : NULL;
		const struct xarch_part *q = &t->parts[i];
		if (!p->image[0])
			continue;
		if (c && is_inline(g, c))
			r = mkfs_at(g, c, tmp, q->offset);
		else
			r = src_path(g, p->image, src, sizeof(src)) ?
				    copy_at(g, fd, src, q->offset, q->size) :
				    -ENAMETOOLONG;
		if (r < 0)
			goto out;
	}
	r = finish(g, fd, tmp, final);
out:
	if (fd >= 0)
		close(fd);
	if (r < 0 && tmp_made)
		unlink(tmp);
	free(t);
	return r;
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
		xa_snprintf(g->fake_time, sizeof(g->fake_time), "E2FSPROGS_FAKE_TIME=%s", se);
	}
	if (mkdir(g->output, 0755) < 0 && errno != EEXIST) {
		r = xarch_err_sys(err, errno, "cannot create '%s'", g->output);
		goto out;
	}
	/* filesystems that are not made in place, then the disks that use them */
	for (size_t i = 0; i < cfg->n_images && r >= 0; i++) {
		const struct xarch_gimage *img = &cfg->images[i];
		if (is_fs(img) && !is_inline(g, img))
			r = gen_fs(g, img);
		else if (!is_fs(img) && strcmp(img->type, "hdimage") && strcmp(img->type, "file"))
			r = xarch_err(err, ENOTSUP, "%s:%d: image '%s': type '%s' is not supported yet",
				      img->file, img->line, img->name, img->type);
	}
	for (size_t i = 0; i < cfg->n_images && r >= 0; i++)
		if (!strcmp(cfg->images[i].type, "hdimage"))
			r = gen_hd(g, &cfg->images[i]);
out:
	free(g);
	return r;
}
