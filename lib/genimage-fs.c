// SPDX-License-Identifier: MIT
/*
 * Filesystem image types of xarch genimage: vfat (mkfs.vfat + mcopy) and
 * ext2/3/4 (mke2fs -d), made at an offset inside a file.
 */
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "gi.h"
#include "internal.h"

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
	return gi_mkfs_run(g, img, argv, n, "-L", disk, sz);
}

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

static int mkfs_vfat(struct gi *g, const struct xarch_gimage *img, const char *disk, uint64_t off)
{
	const char *argv[96];
	size_t n = 0;
	char offs[32], sz[32], spec[PATH_MAX + 40];
	char src[PATH_MAX], dst[XARCH_GCFG_PATH_MAX + 4];
	int r;

	xa_snprintf(offs, sizeof(offs), "%llu", (unsigned long long)(off / GI_SECTOR));
	xa_snprintf(sz, sizeof(sz), "%llu", (unsigned long long)(img->size / 1024));
	argv[n++] = "mkfs.vfat";
	if (g->epoch)
		argv[n++] = "--invariant";
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
	return 0;
}

int gi_build_at(struct gi *g, const struct xarch_gimage *img, const char *disk, int fd,
		uint64_t off)
{
	if (!img->size || img->size % 1024)
		return xarch_err(g->err, EINVAL, "%s:%d: image '%s': size must be set, in KiB",
				 img->file, img->line, img->name);
	if (!strcmp(img->type, "vfat"))
		return mkfs_vfat(g, img, disk, off);
	return mkfs_ext(g, img, disk, off);
}
