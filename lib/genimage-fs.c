// SPDX-License-Identifier: MIT
/*
 * The image types of xarch genimage behind one table (genimage's image-*.c
 * handlers): vfat (mkfs.vfat + mcopy) and ext2/3/4 (mke2fs -d), made at an
 * offset inside a file; squashfs, erofs and qemu with their tools; tar and
 * cpio in lib/genimage-archive.c.  Also where an image's files come from
 * (mountpoint, srcpath, empty) and the exec-pre/exec-post hooks.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "gi.h"
#include "ext4fill.h"
#include "internal.h"
#include "xarch/ptable.h"
#include "xarch/rootfs.h"
#include "xarch/spawn.h"

#define ARGV_MAX 96

/* --- where the files come from ------------------------------------------ */

/* "/a/b/" -> "a/b"; -EINVAL for "." or ".." components. */
static int norm_mp(const char *in, char *out, size_t len)
{
	while (*in == '/')
		in++;
	if (xa_strcpy(out, len, in) < 0)
		return -ENAMETOOLONG;
	size_t n = strlen(out);
	while (n && out[n - 1] == '/')
		out[--n] = '\0';
	for (const char *c = out; *c;) {
		size_t l = strcspn(c, "/");
		if ((l == 1 && c[0] == '.') || (l == 2 && c[0] == '.' && c[1] == '.'))
			return -EINVAL;
		c += l;
		c += *c == '/';
	}
	return 0;
}

void gi_source_release(struct gi_src *s)
{
	for (size_t i = 0; i < s->n_excl; i++)
		free(s->excl[i]);
	free(s->excl);
	s->excl = NULL;
	s->n_excl = 0;
}

static int add_excl(struct gi_src *s, const char *rel)
{
	char **n = reallocarray(s->excl, s->n_excl + 1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	s->excl = n;
	if (!(n[s->n_excl] = strdup(rel)))
		return -ENOMEM;
	s->n_excl++;
	return 0;
}

int gi_source(struct gi *g, const struct xarch_gimage *img, struct gi_src *ret)
{
	char mp[XARCH_GCFG_PATH_MAX], other[XARCH_GCFG_PATH_MAX], link[64];
	struct gi_src s = {0};
	int r;

	*ret = s;
	if (img->empty)
		return 0;
	if (img->srcpath[0]) {
		if (img->mountpoint[0])
			return GI_ERR(g, img, EINVAL,
				      "srcpath and mountpoint exclude each other; keep one");
		if (xa_strcpy(ret->dir, sizeof(ret->dir), img->srcpath) < 0)
			return GI_ERR(g, img, ENAMETOOLONG, "srcpath too long");
		return 0;
	}
	if (norm_mp(img->mountpoint, mp, sizeof(mp)) < 0)
		return GI_ERR(g, img, EINVAL, "mountpoint '%s' must not contain '.' or '..'",
			      img->mountpoint);
	_cleanup_close_ int root = xarch_root_open_dir(g->root, g->err);
	if (root < 0)
		return GI_ERR(g, img, -root, "cannot open rootpath '%s'; set --rootpath", g->root);
	if (!mp[0]) {
		xa_strcpy(s.dir, sizeof(s.dir), g->root);
	} else {
		/* rootpath/mountpoint with the rootfs's symlinks kept inside it */
		_cleanup_close_ int d =
		    xarch_root_open(root, mp, O_PATH | O_DIRECTORY | O_CLOEXEC, 0, NULL);
		if (d < 0)
			return GI_ERR(g, img, -d, "mountpoint '%s' is not a directory in '%s'",
				      img->mountpoint, g->root);
		xa_snprintf(link, sizeof(link), "/proc/self/fd/%d", d);
		ssize_t n = readlink(link, s.dir, sizeof(s.dir) - 1);
		if (n < 0)
			return xarch_err_sys(g->err, errno, "cannot resolve '%s'", link);
		s.dir[n] = '\0';
	}
	/* every other image's mountpoint below ours stays an empty directory */
	for (size_t i = 0; i < g->cfg->n_images; i++) {
		const struct xarch_gimage *o = &g->cfg->images[i];
		size_t l = strlen(mp);
		if (o == img || o->srcpath[0] || norm_mp(o->mountpoint, other, sizeof(other)) < 0 ||
		    !other[0])
			continue;
		if (!l && (r = add_excl(&s, other)) < 0)
			goto oom;
		if (l && !strncmp(other, mp, l) && other[l] == '/' &&
		    (r = add_excl(&s, other + l + 1)) < 0)
			goto oom;
	}
	*ret = s;
	return 0;
oom:
	gi_source_release(&s);
	return xarch_err(g->err, -r, "out of memory");
}

bool gi_src_excluded(const struct gi_src *s, const char *rel)
{
	for (size_t i = 0; i < s->n_excl; i++)
		if (!strcmp(s->excl[i], rel))
			return true;
	return false;
}

bool gi_src_has_excl_below(const struct gi_src *s, const char *rel)
{
	size_t l = strlen(rel);
	for (size_t i = 0; i < s->n_excl; i++)
		if (!l || (!strncmp(s->excl[i], rel, l) && s->excl[i][l] == '/'))
			return true;
	return false;
}

/* An empty directory beside `near` for an `empty` image's tool; removed by
 * the caller with rmdir. */
static int empty_dir(struct gi *g, const char *near, char *buf, size_t len)
{
	if (xa_snprintf(buf, len, "%s.empty-XXXXXX", near) < 0)
		return xarch_err(g->err, ENAMETOOLONG, "'%s': path too long", near);
	if (!mkdtemp(buf))
		return xarch_err_sys(g->err, errno, "cannot create '%s'", buf);
	return 0;
}

/* The directory a whole-file tool (mksquashfs, mkfs.erofs) reads: the image's
 * source, or an empty scratch directory (its name in empty) for none; the
 * output file emptied.  On failure nothing is left to release. */
static int tool_source(struct gi *g, const struct xarch_gimage *img, const char *path, int fd,
		       struct gi_src *src, char *empty, size_t len)
{
	int r = gi_source(g, img, src);
	if (r < 0)
		return r;
	if (!src->dir[0] && (r = empty_dir(g, path, empty, len)) < 0)
		goto fail;
	if (ftruncate(fd, 0) < 0) {
		r = xarch_err_sys(g->err, errno, "cannot truncate '%s'", path);
		goto fail;
	}
	return 0;
fail:
	if (empty[0])
		rmdir(empty);
	gi_source_release(src);
	return r;
}

/* --- exec-pre / exec-post ------------------------------------------------ */

static const char *absolute(const char *p, char *buf, size_t len)
{
	char cwd[PATH_MAX];
	if (p[0] == '/' || !getcwd(cwd, sizeof(cwd)))
		return p;
	return xa_snprintf(buf, len, "%s/%s", cwd, p) < 0 ? p : buf;
}

static const char *const hook_vars[] = {
    "IMAGE",	 "IMAGEOUTFILE", "IMAGENAME", "IMAGESIZE", "IMAGEMOUNTPOINT",  "IMAGEMOUNTPATH",
    "INPUTPATH", "OUTPUTPATH",	 "ROOTPATH",  "TMPPATH",   "MTOOLS_SKIP_CHECK"};

static bool is_hook_var(const char *e)
{
	for (size_t i = 0; i < ARRAY_SIZE(hook_vars); i++) {
		size_t l = strlen(hook_vars[i]);
		if (!strncmp(e, hook_vars[i], l) && e[l] == '=')
			return true;
	}
	return false;
}

static int run_hook(struct gi *g, const struct xarch_gimage *img, const char *what, const char *cmd)
{
	extern char **environ;
	char v[ARRAY_SIZE(hook_vars)][2 * PATH_MAX], a[PATH_MAX], mp[XARCH_GCFG_PATH_MAX];
	char out[4096];
	struct gi_src src = {0};
	size_t n = 0, k = 0;
	int st, r;

	for (char **e = environ; *e; e++)
		n++;
	_cleanup_free_ const char **env = calloc(n + ARRAY_SIZE(hook_vars) + 1, sizeof(*env));
	if (!env)
		return xarch_err(g->err, ENOMEM, "out of memory");
	for (char **e = environ; *e; e++)
		if (!is_hook_var(*e))
			env[k++] = *e;
	/* genimage's names; values go through the environment, never the
	 * command line, so nothing in them is ever run by the shell */
	if (gi_source(g, img, &src) < 0)
		src.dir[0] = '\0'; /* not there (yet): exec-pre may be what makes it */
	gi_source_release(&src);
	norm_mp(img->mountpoint, mp, sizeof(mp));
	snprintf(v[0], sizeof(v[0]), "IMAGE=%s", img->name);
	snprintf(v[1], sizeof(v[1]), "IMAGEOUTFILE=%s/%s",
		 absolute(gi_image_dir(g, img), a, sizeof(a)), img->name);
	snprintf(v[2], sizeof(v[2]), "IMAGENAME=%s", img->fsname);
	snprintf(v[3], sizeof(v[3]), "IMAGESIZE=%llu", (unsigned long long)img->size);
	snprintf(v[4], sizeof(v[4]), "IMAGEMOUNTPOINT=%s", mp);
	snprintf(v[5], sizeof(v[5]), "IMAGEMOUNTPATH=%s",
		 src.dir[0] ? absolute(src.dir, a, sizeof(a)) : "");
	snprintf(v[6], sizeof(v[6]), "INPUTPATH=%s", absolute(g->input, a, sizeof(a)));
	snprintf(v[7], sizeof(v[7]), "OUTPUTPATH=%s", absolute(g->output, a, sizeof(a)));
	snprintf(v[8], sizeof(v[8]), "ROOTPATH=%s", absolute(g->root, a, sizeof(a)));
	snprintf(v[9], sizeof(v[9]), "TMPPATH=%s", absolute(g->tmp, a, sizeof(a)));
	snprintf(v[10], sizeof(v[10]), "MTOOLS_SKIP_CHECK=1");
	for (size_t i = 0; i < ARRAY_SIZE(hook_vars); i++)
		env[k++] = v[i];
	env[k] = NULL;
	if (mkdir(g->tmp, 0755) < 0 && errno != EEXIST)
		return xarch_err_sys(g->err, errno, "cannot create tmppath '%s'", g->tmp);

	const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
	if ((r = xarch_spawn_output(argv, env, true, out, sizeof(out), &st, g->err)) < 0)
		return r;
	if (xarch_exit_code(st) == 0)
		return 0;
	size_t len = strlen(out);
	while (len && (out[len - 1] == '\n' || out[len - 1] == ' '))
		out[--len] = '\0';
	const char *last = strrchr(out, '\n');
	last = last ? last + 1 : out;
	return GI_ERR(g, img, EIO, "%s failed with exit %d%s%s", what, xarch_exit_code(st),
		      *last ? ": " : "", last);
}

int gi_with_hooks(struct gi *g, const struct xarch_gimage *img,
		  int (*gen)(struct gi *g, const struct xarch_gimage *img))
{
	int r;
	if (img->exec_pre[0] && (r = run_hook(g, img, "exec-pre", img->exec_pre)) < 0)
		return r;
	if ((r = gen(g, img)) < 0)
		return r;
	if (img->exec_post[0] && (r = run_hook(g, img, "exec-post", img->exec_post)) < 0) {
		char out[PATH_MAX];
		if (xa_snprintf(out, sizeof(out), "%s/%s", gi_image_dir(g, img), img->name) == 0)
			unlink(out);
		return r;
	}
	return 0;
}

/* --- ext2/3/4 -------------------------------------------------------------- */

static int mkfs_ext(struct gi *g, const struct xarch_gimage *img, const char *disk, int fd,
		    uint64_t off)
{
	const char *argv[ARGV_MAX];
	size_t n = 0;
	char eopt[128], sz[32];
	struct gi_src src;
	const char *v;
	int r;

	(void)fd;
	if ((r = gi_source(g, img, &src)) < 0)
		return r;
	char uuid[37] = "", seed[37] = "";
	if (g->epoch) { /* mke2fs picks both at random otherwise */
		uint8_t u[16];
		gi_guid(g, img->name, "ext-uuid", u);
		xarch_guid_format(u, uuid);
		gi_guid(g, img->name, "ext-hash-seed", u);
		xarch_guid_format(u, seed);
	}
	const char *owner = xarch_gimage_opt(img, "root-owner");
	unsigned ou, og;
	char oc;
	if (owner && sscanf(owner, "%u:%u%c", &ou, &og, &oc) != 2)
		return GI_ERR(g, img, EINVAL, "root-owner '%s' is not UID:GID", owner);
	uint64_t ts = g->epoch ? (uint64_t)g->epoch_sec : 0;
	char fake[64], conf[PATH_MAX + 16];
	if ((v = xarch_gimage_opt(img, "fs-timestamp"))) {
		if ((r = gi_timestamp_parse(v, &ts)) < 0)
			return GI_ERR(g, img, EINVAL,
				      "fs-timestamp '%s' is not YYYYMMDD[HHMM[SS]] or @SECONDS", v);
		xa_snprintf(fake, sizeof(fake), "E2FSPROGS_FAKE_TIME=%llu", (unsigned long long)ts);
		g->env_extra[0] = fake;
	}
	if ((v = xarch_gimage_opt(img, "mke2fs-conf"))) {
		xa_snprintf(conf, sizeof(conf), "MKE2FS_CONFIG=%s", v);
		g->env_extra[1] = conf;
	}
	xa_snprintf(eopt, sizeof(eopt),
		    "root_owner=%s,lazy_itable_init=0,lazy_journal_init=0,offset=%llu%s%s",
		    owner ? owner : "0:0", (unsigned long long)off, seed[0] ? ",hash_seed=" : "",
		    seed);
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
	if (uuid[0]) { /* before extraargs: a -U there wins */
		argv[n++] = "-U";
		argv[n++] = uuid;
	}
	if ((v = xarch_gimage_opt(img, "features"))) {
		argv[n++] = "-O";
		argv[n++] = v;
	}
	if ((v = xarch_gimage_opt(img, "usage-type"))) {
		argv[n++] = "-T";
		argv[n++] = v;
	}
	/* mke2fs makes the empty filesystem; xa_ext4fill copies the tree in
	 * (mke2fs -d links entries one by one, quadratic in a directory's size,
	 * and cannot leave other images' mountpoints out) */
	r = gi_mkfs_run(g, img, argv, n, "-L", disk, sz);
	g->env_extra[0] = g->env_extra[1] = NULL;
	if (r >= 0 && src.dir[0]) {
		struct xa_ext4fill_opts fo = {.exclude = (const char *const *)src.excl,
					      .n_exclude = src.n_excl,
					      .now = g->epoch ? (uint64_t)g->epoch_sec : 0};
		if ((r = xa_ext4fill(disk, off, src.dir, &fo, g->err)) < 0 && g->err) {
			char m[sizeof(g->err->msg)];
			xa_strcpy(m, sizeof(m), g->err->msg);
			GI_ERR(g, img, -r, "%s", m);
		}
	}
	gi_source_release(&src);
	return r;
}

/* --- vfat -------------------------------------------------------------------- */

static int mmd_parents(struct gi *g, const struct xarch_gimage *img, const char *spec,
		       const char *name)
{
	char dir[XARCH_GCFG_PATH_MAX + 2];
	const char *argv[] = {"mmd", "-D", "s", "-i", spec, dir, NULL};
	for (const char *s = strchr(name, '/'); s; s = strchr(s + 1, '/')) {
		if (s == name)
			continue;
		xa_snprintf(dir, sizeof(dir), "::%.*s", (int)(s - name), name);
		int r = gi_run(g, argv, img);
		if (r < 0)
			return r;
	}
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted names in directory `path` (without . and ..). */
static int list_dir(struct gi *g, const char *path, char ***ret, size_t *ret_n)
{
	_cleanup_closedir_ DIR *d = opendir(path);
	char **v = NULL;
	size_t n = 0;
	struct dirent *de;
	if (!d)
		return xarch_err_sys(g->err, errno, "cannot open '%s'", path);
	while ((errno = 0, de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char **nv = reallocarray(v, n + 1, sizeof(*v));
		if (!nv || !(nv[n] = strdup(de->d_name))) {
			v = nv ? nv : v;
			for (size_t i = 0; i < n; i++)
				free(v[i]);
			free(v);
			return xarch_err(g->err, ENOMEM, "out of memory");
		}
		v = nv;
		n++;
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_str);
	*ret = v;
	*ret_n = n;
	return 0;
}

/*
 * Copy the source's directory `rel` into the vfat: everything in one mcopy
 * -s, except mountpoints of other images (made as empty directories) and
 * the directories above them (made with mmd and walked into).  Like
 * genimage (mcopy -s of the directory glob), names starting with '.' are left out at
 * the top.
 */
static int vfat_copy_tree(struct gi *g, const struct xarch_gimage *img, const char *spec,
			  const struct gi_src *src, const char *rel)
{
	char dir[PATH_MAX], path[PATH_MAX], tgt[PATH_MAX + 4], **names = NULL;
	size_t n = 0, k = 0;
	int r;

	if (xa_snprintf(dir, sizeof(dir), "%s%s%s", src->dir, *rel ? "/" : "", rel) < 0)
		return GI_ERR(g, img, ENAMETOOLONG, "path too long");
	if ((r = list_dir(g, dir, &names, &n)) < 0)
		return r;
	const char **argv = calloc(n + 10, sizeof(*argv));
	char **own = calloc(n + 1, sizeof(*own));
	if (!argv || !own) {
		r = xarch_err(g->err, ENOMEM, "out of memory");
		goto out;
	}
	xa_snprintf(tgt, sizeof(tgt), "::/%s", rel);
	argv[k++] = "mcopy";
	argv[k++] = "-s";
	argv[k++] = "-p";
	argv[k++] = "-m";
	argv[k++] = "-i";
	argv[k++] = spec;
	size_t first = k;
	for (size_t i = 0; i < n && r >= 0; i++) {
		char sub[PATH_MAX];
		if (!*rel && names[i][0] == '.')
			continue;
		if (xa_snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "", names[i]) < 0 ||
		    xa_snprintf(path, sizeof(path), "%s/%s", dir, names[i]) < 0) {
			r = GI_ERR(g, img, ENAMETOOLONG, "path too long");
			break;
		}
		bool ex = gi_src_excluded(src, sub), below = gi_src_has_excl_below(src, sub);
		if (ex || below) {
			char d[PATH_MAX + 4];
			const char *mmd[] = {"mmd", "-D", "s", "-i", spec, d, NULL};
			xa_snprintf(d, sizeof(d), "::/%s", sub);
			if ((r = gi_run(g, mmd, img)) < 0)
				break;
			if (!ex && below)
				r = vfat_copy_tree(g, img, spec, src, sub);
			continue;
		}
		if (!(own[k - first] = strdup(path))) {
			r = xarch_err(g->err, ENOMEM, "out of memory");
			break;
		}
		argv[k] = own[k - first];
		k++;
	}
	if (r >= 0 && k > first) {
		argv[k++] = tgt;
		argv[k] = NULL;
		r = gi_run(g, argv, img);
	}
out:
	if (own)
		for (size_t i = 0; i <= n; i++)
			free(own[i]);
	free(own);
	free(argv);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return r;
}

/* What mkfs.fat chooses for a filesystem of img's size on its own (FAT
 * type, cluster size, CHS geometry): made in a sparse probe file beside the
 * disk (metadata only), its boot sector read back. */
static int vfat_geometry(struct gi *g, const struct xarch_gimage *img, const char *disk,
			 const char *sz, char fat[8], char spc[8], char geom[16])
{
	char probe[PATH_MAX];
	uint8_t bs[512];
	if (xa_snprintf(probe, sizeof(probe), "%s.fatprobe-XXXXXX", disk) < 0)
		return GI_ERR(g, img, ENAMETOOLONG, "path too long");
	int fd = mkostemp(probe, O_CLOEXEC);
	if (fd < 0)
		return xarch_err_sys(g->err, errno, "cannot create '%s'", probe);
	const char *argv[ARGV_MAX] = {"mkfs.vfat"};
	int r = ftruncate(fd, (off_t)img->size) < 0 ? -errno : 0;
	if (r < 0)
		r = xarch_err_sys(g->err, -r, "cannot size '%s'", probe);
	else if ((r = gi_mkfs_run(g, img, argv, 1, "-n", probe, sz)) >= 0 &&
		 pread(fd, bs, sizeof(bs), 0) != (ssize_t)sizeof(bs))
		r = xarch_err_sys(g->err, EIO, "cannot read '%s'", probe);
	close(fd);
	unlink(probe);
	if (r < 0)
		return r;
	/* FAT32 has no 16-bit FAT size; FAT12/16 name themselves at 54 */
	bool fat32 = !bs[22] && !bs[23];
	xa_snprintf(fat, 8, "%s", fat32 ? "32" : !memcmp(bs + 54, "FAT12", 5) ? "12" : "16");
	xa_snprintf(spc, 8, "%u", bs[13] ? bs[13] : 1);
	/* heads/sectors-per-track: they also decide the sector count */
	xa_snprintf(geom, 16, "%u/%u", bs[26] | bs[27] << 8, bs[24] | bs[25] << 8);
	return 0;
}

static int mkfs_vfat(struct gi *g, const struct xarch_gimage *img, const char *disk, int fd,
		     uint64_t off)
{
	const char *argv[ARGV_MAX];
	size_t n = 0;
	char offs[32], sz[32], spec[PATH_MAX + 40];
	char src[PATH_MAX], dst[XARCH_GCFG_PATH_MAX + 4];
	const char *v;
	bool listed = false;
	int r;

	(void)fd;
	if ((v = xarch_gimage_opt(img, "label")) && strlen(v) > 11)
		return GI_ERR(g, img, EINVAL, "vfat label '%s' is longer than 11 characters", v);
	xa_snprintf(offs, sizeof(offs), "%llu", (unsigned long long)(off / GI_SECTOR));
	xa_snprintf(sz, sizeof(sz), "%llu", (unsigned long long)(img->size / 1024));
	argv[n++] = "mkfs.vfat";
	if (g->epoch)
		argv[n++] = "--invariant";
	char fat[8], spc[8], geom[16];
	if (off) {
		/* at an offset mkfs.fat sizes the FAT from the whole disk file: give
		 * it the type and cluster size it picks for the partition alone */
		if ((r = vfat_geometry(g, img, disk, sz, fat, spc, geom)) < 0)
			return r;
		argv[n++] = "-F";
		argv[n++] = fat;
		argv[n++] = "-s";
		argv[n++] = spc;
		argv[n++] = "-g";
		argv[n++] = geom;
	}
	argv[n++] = "--offset";
	argv[n++] = offs;
	if ((r = gi_mkfs_run(g, img, argv, n, "-n", disk, sz)) < 0)
		return r;

	xa_snprintf(spec, sizeof(spec), "%s@@%llu", disk, (unsigned long long)off);
	const char *cp[] = {"mcopy", "-s", "-p", "-m", "-i", spec, src, dst, NULL};
	/* files = { "a/b" }: stored as ::b */
	for (size_t i = 0; i < img->n_opts; i++) {
		const char *f = img->opts[i].value, *s;
		if (strcmp(img->opts[i].key, "files"))
			continue;
		listed = true;
		if (!gi_src_path(g, f, src, sizeof(src)))
			return xarch_err(g->err, ENAMETOOLONG, "image '%s': path too long",
					 img->name);
		s = strrchr(f, '/');
		xa_snprintf(dst, sizeof(dst), "::%s", s ? s + 1 : f);
		if ((r = gi_run(g, cp, img)) < 0)
			return r;
	}
	/* file "DIR/NAME" { image = SRC } */
	for (size_t i = 0; i < img->n_files; i++) {
		const char *name = img->files[i].name;
		listed = true;
		if (!gi_src_path(g, img->files[i].image, src, sizeof(src)))
			return xarch_err(g->err, ENAMETOOLONG, "image '%s': path too long",
					 img->name);
		while (*name == '/')
			name++;
		if ((r = mmd_parents(g, img, spec, name)) < 0)
			return r;
		xa_snprintf(dst, sizeof(dst), "::%s", name);
		if ((r = gi_run(g, cp, img)) < 0)
			return r;
	}
	/* no file list: the image's root (rootpath/mountpoint or srcpath) */
	if (!listed && !img->empty) {
		struct gi_src s;
		if ((r = gi_source(g, img, &s)) < 0)
			return r;
		r = vfat_copy_tree(g, img, spec, &s, "");
		gi_source_release(&s);
	}
	return r;
}

/* In-place filesystems have a size, in KiB for the tools. */
static int check_size(struct gi *g, const struct xarch_gimage *img)
{
	if (!img->size || img->size % 1024)
		return xarch_err(g->err, EINVAL, "%s:%d: image '%s': size must be set, in KiB",
				 img->file, img->line, img->name);
	return 0;
}

static int build_vfat(struct gi *g, const struct xarch_gimage *img, const char *disk, int fd,
		      uint64_t off)
{
	int r = check_size(g, img);
	return r < 0 ? r : mkfs_vfat(g, img, disk, fd, off);
}

static int build_ext(struct gi *g, const struct xarch_gimage *img, const char *disk, int fd,
		     uint64_t off)
{
	int r = check_size(g, img);
	return r < 0 ? r : mkfs_ext(g, img, disk, fd, off);
}

/* --- squashfs, erofs, qemu: the tools write a whole file -------------------- */

/* Add extraargs (split at blanks, as genimage's shell would) to argv. */
static int add_extra(struct gi *g, const struct xarch_gimage *img, const char **argv, size_t *n,
		     char *buf, size_t len)
{
	const char *v = xarch_gimage_opt(img, "extraargs");
	if (!v)
		return 0;
	if (xa_strcpy(buf, len, v) < 0)
		return GI_ERR(g, img, E2BIG, "extraargs too long");
	for (char *s = strtok(buf, " \t\n"); s; s = strtok(NULL, " \t\n")) {
		if (*n + 12 >= ARGV_MAX)
			return GI_ERR(g, img, E2BIG, "too many extraargs");
		argv[(*n)++] = s;
	}
	return 0;
}

/* The output must not be larger than a given size (genimage checks it too). */
static int check_fits(struct gi *g, const struct xarch_gimage *img, int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return xarch_err_sys(g->err, errno, "cannot stat image '%s'", img->name);
	if (img->size && (uint64_t)st.st_size > img->size)
		return GI_ERR(g, img, E2BIG, "the filesystem (%lld bytes) is larger than size",
			      (long long)st.st_size);
	return 0;
}

/* mksquashfs -wildcards pattern for the entries of directory rel */
static int squash_pattern(const char *rel, const char *tail, char *buf, size_t len)
{
	size_t k = 0;
	for (const char *c = rel; *c; c++) {
		if (strchr("*?[]\\()|+@!", *c) && k + 1 < len)
			buf[k++] = '\\';
		if (k + 1 >= len)
			return -ENAMETOOLONG;
		buf[k++] = *c;
	}
	buf[k] = '\0';
	return xa_snprintf(buf + k, len - k, "/%s", tail);
}

static int build_squashfs(struct gi *g, const struct xarch_gimage *img, const char *path, int fd,
			  uint64_t off)
{
	const char *argv[ARGV_MAX], *comp = xarch_gimage_opt(img, "compression"),
				    *bs = xarch_gimage_opt(img, "block-size");
	char extra[XARCH_GCFG_EXEC_MAX], bsz[32], empty[PATH_MAX] = "";
	char(*pat)[PATH_MAX] = NULL;
	struct gi_src src;
	uint64_t b = 4096;
	size_t n = 0;
	int r;

	(void)off;
	if (bs && xarch_gcfg_size_parse(bs, &b) < 0)
		return GI_ERR(g, img, EINVAL, "invalid block-size '%s'", bs);
	xa_snprintf(bsz, sizeof(bsz), "%llu", (unsigned long long)b);
	if ((r = tool_source(g, img, path, fd, &src, empty, sizeof(empty))) < 0)
		return r;
	argv[n++] = "mksquashfs";
	argv[n++] = src.dir[0] ? src.dir : empty;
	argv[n++] = path;
	argv[n++] = "-b";
	argv[n++] = bsz;
	argv[n++] = "-noappend";
	argv[n++] = "-no-progress";
	argv[n++] = "-comp";
	if (comp && !strcasecmp(comp, "none")) {
		argv[n++] = "gzip";
		argv[n++] = "-noInodeCompression";
		argv[n++] = "-noDataCompression";
		argv[n++] = "-noFragmentCompression";
		argv[n++] = "-noXattrCompression";
	} else {
		argv[n++] = comp ? comp : "gzip";
	}
	if (src.n_excl)
		argv[n++] = "-wildcards";
	if ((r = add_extra(g, img, argv, &n, extra, sizeof(extra))) < 0)
		goto out;
	if (src.n_excl) {
		/* every entry below an excluded directory; the directory stays */
		for (size_t i = 0; i < n; i++)
			if (!strcmp(argv[i], "-e") || !strcmp(argv[i], "-ef")) {
				r = GI_ERR(g, img, ENOTSUP,
					   "extraargs with %s cannot be combined with another "
					   "image's mountpoint below this one",
					   argv[i]);
				goto out;
			}
		if (n + 2 * src.n_excl + 2 > ARGV_MAX ||
		    !(pat = calloc(2 * src.n_excl, sizeof(*pat)))) {
			r = GI_ERR(g, img, E2BIG, "too many mountpoints below this image");
			goto out;
		}
		argv[n++] = "-e";
		for (size_t i = 0; i < src.n_excl; i++) {
			if (squash_pattern(src.excl[i], "*", pat[2 * i], PATH_MAX) < 0 ||
			    squash_pattern(src.excl[i], ".*", pat[2 * i + 1], PATH_MAX) < 0) {
				r = GI_ERR(g, img, ENAMETOOLONG, "path too long");
				goto out;
			}
			argv[n++] = pat[2 * i];
			argv[n++] = pat[2 * i + 1];
		}
	}
	argv[n] = NULL;
	if ((r = gi_run(g, argv, img)) >= 0)
		r = check_fits(g, img, fd);
out:
	if (empty[0])
		rmdir(empty);
	free(pat);
	gi_source_release(&src);
	return r;
}

/* erofs --exclude-regex for everything below directory rel */
static int erofs_regex(const char *rel, char *buf, size_t len)
{
	size_t k = xa_strcpy(buf, len, "--exclude-regex=^") < 0 ? len : strlen(buf);
	for (const char *c = rel; *c; c++) {
		if (strchr(".[]()*+?{}|^$\\", *c) && k + 1 < len)
			buf[k++] = '\\';
		if (k + 1 >= len)
			return -ENAMETOOLONG;
		buf[k++] = *c;
	}
	buf[k] = '\0';
	return xa_snprintf(buf + k, len - k, "/.");
}

static int build_erofs(struct gi *g, const struct xarch_gimage *img, const char *path, int fd,
		       uint64_t off)
{
	const char *argv[ARGV_MAX], *label = xarch_gimage_opt(img, "label"),
				    *ts = xarch_gimage_opt(img, "fs-timestamp");
	char extra[XARCH_GCFG_EXEC_MAX], empty[PATH_MAX] = "", uuid[40];
	char(*re)[PATH_MAX + 32] = NULL;
	struct gi_src src;
	size_t n = 0;
	int r;

	(void)off;
	if (label && strlen(label) > 15)
		return GI_ERR(g, img, EINVAL, "erofs label '%s' is longer than 15 bytes", label);
	if ((r = tool_source(g, img, path, fd, &src, empty, sizeof(empty))) < 0)
		return r;
	argv[n++] = "mkfs.erofs";
	argv[n++] = "--quiet";
	if (label && label[0]) {
		argv[n++] = "-L";
		argv[n++] = label;
	}
	if (ts) {
		argv[n++] = "-T";
		argv[n++] = ts;
	}
	if (g->epoch) {
		/* the UUID is random otherwise: derive one from the name and time */
		uint64_t h = 1469598103934665603ull;
		for (const char *c = img->name; *c; c++)
			h = (h ^ (uint8_t)*c) * 1099511628211ull;
		uint64_t h2 = (h ^ (uint64_t)g->epoch_sec) * 1099511628211ull;
		xa_snprintf(uuid, sizeof(uuid), "-U%08x-%04x-4%03x-8%03x-%012llx",
			    (unsigned)(h >> 32), (unsigned)(h >> 16) & 0xffff, (unsigned)h & 0xfff,
			    (unsigned)(h2 >> 52) & 0xfff,
			    (unsigned long long)(h2 & 0xffffffffffffull));
		argv[n++] = uuid;
	}
	if ((r = add_extra(g, img, argv, &n, extra, sizeof(extra))) < 0)
		goto out;
	if (src.n_excl) {
		if (n + src.n_excl + 3 > ARGV_MAX || !(re = calloc(src.n_excl, sizeof(*re)))) {
			r = GI_ERR(g, img, E2BIG, "too many mountpoints below this image");
			goto out;
		}
		for (size_t i = 0; i < src.n_excl; i++) {
			if (erofs_regex(src.excl[i], re[i], sizeof(re[i])) < 0) {
				r = GI_ERR(g, img, ENAMETOOLONG, "path too long");
				goto out;
			}
			argv[n++] = re[i];
		}
	}
	argv[n++] = path;
	argv[n++] = src.dir[0] ? src.dir : empty;
	argv[n] = NULL;
	if ((r = gi_run(g, argv, img)) >= 0)
		r = check_fits(g, img, fd);
out:
	if (empty[0])
		rmdir(empty);
	free(re);
	gi_source_release(&src);
	return r;
}

static int build_qemu(struct gi *g, const struct xarch_gimage *img, const char *path, int fd,
		      uint64_t off)
{
	const char *argv[ARGV_MAX], *fmt = xarch_gimage_opt(img, "format");
	char extra[XARCH_GCFG_EXEC_MAX], (*in)[PATH_MAX] = NULL;
	size_t n = 0, np = 0;
	int r;

	(void)off;
	for (size_t i = 0; i < img->n_parts; i++)
		np += img->parts[i].image[0] != '\0';
	if (!np)
		return GI_ERR(g, img, EINVAL, "no partition with an image given");
	if (ftruncate(fd, 0) < 0)
		return xarch_err_sys(g->err, errno, "cannot truncate '%s'", path);
	argv[n++] = "qemu-img";
	argv[n++] = "convert";
	if ((r = add_extra(g, img, argv, &n, extra, sizeof(extra))) < 0)
		return r;
	argv[n++] = "-O";
	argv[n++] = fmt && fmt[0] ? fmt : "qcow2";
	if (n + np + 2 > ARGV_MAX || !(in = calloc(np, sizeof(*in))))
		return GI_ERR(g, img, E2BIG, "too many partitions");
	for (size_t i = 0, k = 0; i < img->n_parts; i++) {
		if (!img->parts[i].image[0])
			continue;
		if (!gi_src_path(g, img->parts[i].image, in[k], sizeof(in[k]))) {
			free(in);
			return GI_ERR(g, img, ENAMETOOLONG, "path too long");
		}
		argv[n++] = in[k++];
	}
	argv[n++] = path;
	argv[n] = NULL;
	r = gi_run(g, argv, img);
	free(in);
	return r;
}

/* --- the table ----------------------------------------------------------------- */

static const struct gi_type types[] = {
    {"hdimage", NULL, gi_gen_hd, GI_DISK},
    {"vfat", build_vfat, NULL, GI_INPLACE},
    {"ext2", build_ext, NULL, GI_INPLACE},
    {"ext3", build_ext, NULL, GI_INPLACE},
    {"ext4", build_ext, NULL, GI_INPLACE},
    {"file", NULL, NULL, 0},
    {"tar", gi_build_tar, NULL, 0},
    {"cpio", gi_build_cpio, NULL, 0},
    {"squashfs", build_squashfs, NULL, 0},
    {"erofs", build_erofs, NULL, 0},
    {"qemu", build_qemu, NULL, GI_AFTER_DISK},
};

const struct gi_type *gi_type_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(types); i++)
		if (!strcmp(types[i].name, name))
			return &types[i];
	return NULL;
}

int gi_build_at(struct gi *g, const struct xarch_gimage *img, const char *disk, int fd,
		uint64_t off)
{
	const struct gi_type *t = gi_type_find(img->type);
	if (!t || !t->build)
		return GI_ERR(g, img, ENOTSUP, "type '%s' cannot be built here", img->type);
	if (off && !(t->flags & GI_INPLACE))
		return GI_ERR(g, img, ENOTSUP, "type '%s' cannot be made inside a disk", img->type);
	return t->build(g, img, disk, fd, off);
}
