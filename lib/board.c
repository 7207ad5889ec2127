// SPDX-License-Identifier: MIT
/* Board directories: board.cfg and the file steps on a built rootfs. */
#include <confuse.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "internal.h"
#include "xarch/arch.h"
#include "xarch/board.h"
#include "xarch/rootfs.h"

static _Thread_local char board_msg[512];

static void board_errfunc(cfg_t *cfg, const char *fmt, va_list ap)
{
	char m[400];
	if (board_msg[0])
		return;
	vsnprintf(m, sizeof(m), fmt, ap);
	snprintf(board_msg, sizeof(board_msg), "%s:%d: %s",
		 cfg && cfg->filename ? cfg->filename : "board.cfg", cfg ? cfg->line : 0, m);
}

#define S(n) CFG_STR(n, NULL, CFGF_NODEFAULT)
#define L(n) CFG_STR_LIST(n, NULL, CFGF_NODEFAULT)

static cfg_opt_t board_opts[] = {
    S("arch"),	 S("hostname"),
    L("fstab"),	 L("remove"),
    S("esp"),	 S("efi-loader"),
    L("run"),	 L("hooks"),
    S("image"),	 CFG_BOOL("qcow2", cfg_false, CFGF_NONE),
    S("memory"), CFG_INT("cpus", 0, CFGF_NONE),
    CFG_END(),
};

static cfg_opt_t top_opts[] = {
    CFG_SEC("board", board_opts, CFGF_NONE),
    CFG_END(),
};

static int copy_list(cfg_t *sec, const char *key, char ***ret, size_t *n)
{
	unsigned k = cfg_size(sec, key);
	if (!k)
		return 0;
	if (!(*ret = calloc(k + 1, sizeof(char *))))
		return -ENOMEM;
	for (unsigned i = 0; i < k; i++)
		if (!((*ret)[i] = strdup(cfg_getnstr(sec, key, i))))
			return -ENOMEM;
	*n = k;
	return 0;
}

static void copy_str(cfg_t *sec, const char *key, char *buf, size_t len, const char *def)
{
	const char *v = cfg_getstr(sec, key);
	xa_strcpy(buf, len, v ? v : def);
}

static const char *const default_remove[] = {"/.dockerenv", "/etc/resolv.conf"};

int xarch_board_load(const char *dir, struct xarch_board *b, struct xarch_error *err)
{
	char path[PATH_MAX];
	cfg_t *cfg, *sec;
	int r = 0;

	memset(b, 0, sizeof(*b));
	if (xa_strcpy(b->dir, sizeof(b->dir), dir) < 0 ||
	    xa_snprintf(path, sizeof(path), "%s/board.cfg", dir) < 0)
		return xarch_err(err, ENAMETOOLONG, "'%s': path too long", dir);
	b->cpus = 0;
	if (access(path, F_OK) < 0) {
		cfg = NULL;
		sec = NULL;
	} else {
		board_msg[0] = '\0';
		if (!(cfg = cfg_init(top_opts, CFGF_NONE)))
			return -ENOMEM;
		cfg_set_error_function(cfg, board_errfunc);
		int pr = cfg_parse(cfg, path);
		if (pr != CFG_SUCCESS) {
			r = xarch_err(err, EINVAL, "%s",
				      board_msg[0] ? board_msg : "board.cfg: cannot be read");
			cfg_free(cfg);
			return r;
		}
		sec = cfg_getsec(cfg, "board");
	}
	if (sec) {
		copy_str(sec, "arch", b->arch, sizeof(b->arch), "");
		copy_str(sec, "hostname", b->hostname, sizeof(b->hostname), "");
		copy_str(sec, "esp", b->esp, sizeof(b->esp), "/boot/efi");
		copy_str(sec, "efi-loader", b->efi_loader, sizeof(b->efi_loader), "");
		copy_str(sec, "image", b->image, sizeof(b->image), "");
		copy_str(sec, "memory", b->memory, sizeof(b->memory), "2G");
		b->qcow2 = cfg_getbool(sec, "qcow2");
		long cpus = cfg_getint(sec, "cpus");
		if (cpus < 0 || cpus > 64) {
			r = xarch_err(err, EINVAL, "%s: cpus must be 1 to 64", path);
			goto out;
		}
		b->cpus = (unsigned)cpus;
		b->remove_set = cfg_size(sec, "remove") > 0;
		if ((r = copy_list(sec, "fstab", &b->fstab, &b->n_fstab)) < 0 ||
		    (r = copy_list(sec, "remove", &b->remove, &b->n_remove)) < 0 ||
		    (r = copy_list(sec, "run", &b->run, &b->n_run)) < 0 ||
		    (r = copy_list(sec, "hooks", &b->hooks, &b->n_hooks)) < 0)
			goto out;
	} else {
		xa_strcpy(b->esp, sizeof(b->esp), "/boot/efi");
		xa_strcpy(b->memory, sizeof(b->memory), "2G");
	}
	if (b->arch[0] && !xarch_arch_lookup(b->arch))
		r = xarch_err(err, EINVAL, "%s: unknown arch '%s' (see xarch arch)", path, b->arch);
out:
	if (cfg)
		cfg_free(cfg);
	if (r < 0)
		xarch_board_release(b);
	return r;
}

static void free_list(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

void xarch_board_release(struct xarch_board *b)
{
	free_list(b->fstab, b->n_fstab);
	free_list(b->remove, b->n_remove);
	free_list(b->run, b->n_run);
	free_list(b->hooks, b->n_hooks);
	b->fstab = b->remove = b->run = b->hooks = NULL;
	b->n_fstab = b->n_remove = b->n_run = b->n_hooks = 0;
}

const char *xarch_efi_loader_name(const char *arch)
{
	static const struct {
		const char *arch, *file;
	} t[] = {
	    {"riscv64", "BOOTRISCV64.EFI"}, {"aarch64", "BOOTAA64.EFI"},
	    {"x86_64", "BOOTX64.EFI"},	    {"i386", "BOOTIA32.EFI"},
	    {"arm", "BOOTARM.EFI"},	    {"loongarch64", "BOOTLOONGARCH64.EFI"},
	};
	const struct xarch_arch *a = arch ? xarch_arch_lookup(arch) : NULL;
	for (size_t i = 0; a && i < ARRAY_SIZE(t); i++)
		if (!strcmp(a->name, t[i].arch))
			return t[i].file;
	return NULL;
}

/* ---- steps ----------------------------------------------------------------- */

/* The parent directory of `path` inside the root (O_PATH) and its last name. */
static int open_parent(int rootfd, const char *path, char *name, size_t len,
		       struct xarch_error *err)
{
	char dir[PATH_MAX];
	const char *slash;
	while (*path == '/')
		path++;
	slash = strrchr(path, '/');
	if (xa_strcpy(name, len, slash ? slash + 1 : path) < 0 || !name[0] || !strcmp(name, ".") ||
	    !strcmp(name, ".."))
		return xarch_err(err, EINVAL, "'%s': not a file path", path);
	xa_snprintf(dir, sizeof(dir), "/%.*s", slash ? (int)(slash - path) : 0, path);
	return xarch_root_open(rootfd, dir, O_PATH | O_DIRECTORY | O_CLOEXEC, 0, err);
}

/* open_parent, as a directory fd that *at() calls can write through */
static int open_parent_dir(int rootfd, const char *path, char *name, size_t len,
			   struct xarch_error *err)
{
	int pfd = open_parent(rootfd, path, name, len, err);
	if (pfd < 0)
		return pfd;
	int dfd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	close(pfd);
	if (dfd < 0)
		return xarch_err_sys(err, errno, "cannot open the directory of '%s'", path);
	return dfd;
}

static int remove_in_root(int rootfd, const char *path, struct xarch_error *err)
{
	char name[NAME_MAX + 1];
	int dfd = open_parent_dir(rootfd, path, name, sizeof(name), err);
	if (dfd == -ENOENT)
		return 0;
	if (dfd < 0)
		return dfd;
	int r = 0;
	if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT) {
		if (errno == EISDIR || errno == EPERM)
			r = xa_rm_rf_at(dfd, name);
		else
			r = -errno;
		if (r < 0)
			r = xarch_err_sys(err, -r, "cannot remove '%s' from the rootfs", path);
	}
	close(dfd);
	return r;
}

static int write_in_root(int rootfd, const char *path, const char *text, struct xarch_error *err)
{
	char name[NAME_MAX + 1];
	int dfd = open_parent_dir(rootfd, path, name, sizeof(name), err);
	if (dfd < 0)
		return dfd;
	/* a symlink there is replaced, never followed */
	if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT) {
		close(dfd);
		return xarch_err_sys(err, errno, "cannot replace '%s' in the rootfs", path);
	}
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	close(dfd);
	if (fd < 0)
		return xarch_err_sys(err, errno, "cannot create '%s' in the rootfs", path);
	size_t len = strlen(text);
	ssize_t w = write(fd, text, len);
	int e = errno;
	close(fd);
	if (w != (ssize_t)len)
		return xarch_err_sys(err, w < 0 ? e : EIO, "cannot write '%s' in the rootfs", path);
	return 0;
}

/* Copy src to dst (host paths) with mode 0644; dst replaced. */
static int copy_file(const char *src, const char *dst, struct xarch_error *err)
{
	_cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return xarch_err_sys(err, errno, "cannot open '%s'", src);
	unlink(dst);
	_cleanup_close_ int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (out < 0)
		return xarch_err_sys(err, errno, "cannot create '%s'", dst);
	char buf[1 << 16];
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n < 0)
			return xarch_err_sys(err, errno, "cannot read '%s'", src);
		if (n == 0)
			return 0;
		if (write(out, buf, (size_t)n) != n)
			return xarch_err_sys(err, errno, "cannot write '%s'", dst);
	}
}

/* EFI/<vendor>/<prefix>*.efi under espdir into buf; 0 or -ENOENT. */
static int find_loader(const char *espdir, const char *prefix, char *buf, size_t len)
{
	char efi[PATH_MAX];
	xa_snprintf(efi, sizeof(efi), "%s/EFI", espdir);
	_cleanup_closedir_ DIR *d = opendir(efi);
	struct dirent *e;
	int found = -ENOENT;
	while (d && (e = readdir(d)) && found < 0) {
		if (e->d_name[0] == '.' || !strcasecmp(e->d_name, "BOOT"))
			continue;
		char sub[PATH_MAX];
		xa_snprintf(sub, sizeof(sub), "%s/%s", efi, e->d_name);
		_cleanup_closedir_ DIR *s = opendir(sub);
		struct dirent *f;
		while (s && (f = readdir(s)))
			if (!strncasecmp(f->d_name, prefix, strlen(prefix)) &&
			    xa_ends_with(f->d_name, ".efi") &&
			    xa_snprintf(buf, len, "EFI/%s/%s", e->d_name, f->d_name) >= 0) {
				found = 0;
				break;
			}
	}
	return found;
}

static int move_esp(const struct xarch_board *b, int rootfd, const char *espdir,
		    struct xarch_error *err)
{
	char name[NAME_MAX + 1];
	int r;
	if (mkdir(espdir, 0755) < 0 && errno != EEXIST)
		return xarch_err_sys(err, errno, "cannot create '%s'", espdir);
	int pfd = open_parent(rootfd, b->esp, name, sizeof(name), err);
	if (pfd == -ENOENT)
		return 0; /* nothing there: an empty ESP */
	if (pfd < 0)
		return pfd;
	struct stat st;
	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
		/* the tree moves; the mount point stays, empty */
		rmdir(espdir);
		if (renameat(pfd, name, AT_FDCWD, espdir) < 0) {
			r = xarch_err_sys(err, errno, "cannot move '%s' out of the rootfs to '%s'",
					  b->esp, espdir);
			close(pfd);
			return r;
		}
		if (mkdirat(pfd, name, st.st_mode & 07777) < 0 ||
		    fchownat(pfd, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0) {
			r = xarch_err_sys(err, errno, "cannot recreate '%s' in the rootfs", b->esp);
			close(pfd);
			return r;
		}
	}
	close(pfd);
	return 0;
}

int xarch_board_prepare(const struct xarch_board *b, const char *rootfs, const char *espdir,
			struct xarch_error *err)
{
	_cleanup_close_ int rootfd = xarch_root_open_dir(rootfs, err);
	char buf[8192];
	int r;
	if (rootfd < 0)
		return rootfd;
	const char *const *rm = b->remove_set ? (const char *const *)b->remove : default_remove;
	size_t n_rm = b->remove_set ? b->n_remove : ARRAY_SIZE(default_remove);
	for (size_t i = 0; i < n_rm; i++)
		if ((r = remove_in_root(rootfd, rm[i], err)) < 0)
			return r;
	if (b->n_fstab) {
		size_t k = 0;
		buf[0] = '\0';
		for (size_t i = 0; i < b->n_fstab; i++)
			k += (size_t)snprintf(buf + k, k < sizeof(buf) ? sizeof(buf) - k : 0,
					      "%s\n", b->fstab[i]);
		if (k >= sizeof(buf))
			return xarch_err(err, E2BIG, "board.cfg: fstab is too long");
		if ((r = write_in_root(rootfd, "/etc/fstab", buf, err)) < 0)
			return r;
	}
	if (b->hostname[0]) {
		xa_snprintf(buf, sizeof(buf), "%s\n", b->hostname);
		if ((r = write_in_root(rootfd, "/etc/hostname", buf, err)) < 0)
			return r;
	}
	if ((r = move_esp(b, rootfd, espdir, err)) < 0)
		return r;

	/* the removable-media loader, which firmware finds without NVRAM entries */
	const char *loader = xarch_efi_loader_name(b->arch);
	char src[PATH_MAX], dst[PATH_MAX], rel[PATH_MAX];
	if (!loader)
		return 0;
	xa_snprintf(dst, sizeof(dst), "%s/EFI/BOOT/%s", espdir, loader);
	if (b->efi_loader[0])
		xa_strcpy(rel, sizeof(rel), b->efi_loader);
	else if (access(dst, F_OK) == 0 || (find_loader(espdir, "shim", rel, sizeof(rel)) < 0 &&
					    find_loader(espdir, "grub", rel, sizeof(rel)) < 0))
		return 0;
	if (strstr(rel, ".."))
		return xarch_err(err, EINVAL, "board.cfg: efi-loader '%s' leaves the ESP", rel);
	xa_snprintf(src, sizeof(src), "%s/%s", espdir, rel);
	xa_snprintf(buf, sizeof(buf), "%s/EFI", espdir);
	mkdir(buf, 0755);
	xa_snprintf(buf, sizeof(buf), "%s/EFI/BOOT", espdir);
	if (mkdir(buf, 0755) < 0 && errno != EEXIST)
		return xarch_err_sys(err, errno, "cannot create '%s'", buf);
	return copy_file(src, dst, err);
}
