// SPDX-License-Identifier: MIT
/*
 * `xarch exec`: run one foreign binary through qemu-user, directly, without
 * binfmt_misc.  The work is deciding the command: which arch (ELF header),
 * which qemu, and for dynamic programs which sysroot holds the interpreter
 * named in PT_INTERP, so that a missing piece is reported by name with the
 * package that adds it, instead of qemu's "Could not open
 * '/lib/ld-linux-riscv64-lp64d.so.1'".
 */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"
#include "xarch/elf.h"
#include "xarch/exec.h"
#include "xarch/spawn.h"

static bool is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Like qemu's -L lookup: plain concatenation, host symlinks followed. */
static bool is_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}


static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

int xarch_find_qemu(const struct xarch_arch *a, const char *qemu_dir, char *buf, size_t len,
		    struct xarch_error *err)
{
	char names[2][64];
	snprintf(names[0], sizeof(names[0]), "qemu-%s-static", a->name);
	snprintf(names[1], sizeof(names[1]), "qemu-%s", a->name);
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		char path[PATH_MAX];
		if (qemu_dir) {
			if (xa_snprintf(path, sizeof(path), "%s/%s", qemu_dir, names[i]) < 0)
				continue;
			if (!is_file(path) || access(path, X_OK) < 0)
				continue;
		} else if (xa_find_in_path(names[i], NULL, path, sizeof(path)) < 0) {
			continue;
		}
		if (xa_strcpy(buf, len, path) < 0)
			return xarch_err(err, ENAMETOOLONG, "path too long: '%s'", path);
		return 0;
	}
	return xarch_err(err, ENOENT,
			 "no qemu for %s: '%s' not found in %s; install qemu-user-static "
			 "(apt-get install qemu-user-static) or pass --qemu-dir",
			 a->name, names[0], qemu_dir ? qemu_dir : "PATH");
}

const char *xarch_sysroot_package(const struct xarch_arch *a, const char *interp, char *buf,
				  size_t len)
{
	if (!a->debian || !a->triplet)
		return NULL;
	const char *deb = a->debian;
	/* the arm row is armhf; a soft-float program wants armel's libc */
	if (strcmp(a->name, "arm") == 0 && interp &&
	    strcmp(base_name(interp), "ld-linux.so.3") == 0)
		deb = "armel";
	snprintf(buf, len, "libc6-%s-cross", deb);
	return buf;
}

/* The places a sysroot for `a` is looked for, in order. */
static size_t sysroot_candidates(const struct xarch_arch *a, char (*out)[PATH_MAX], size_t max)
{
	size_t n = 0;
	const char *env = getenv("QEMU_LD_PREFIX");
	if (env && *env && n < max && xa_strcpy(out[n], PATH_MAX, env) == 0)
		n++;
	if (a->triplet && n < max && xa_snprintf(out[n], PATH_MAX, "/usr/%s", a->triplet) == 0)
		n++;
	/* soft-float arm: arm-linux-gnueabi next to arm-linux-gnueabihf */
	int stem = a->triplet ? (int)strlen(a->triplet) - 2 : 0;
	if (a->triplet && xa_ends_with(a->triplet, "-gnueabihf") && n < max &&
	    xa_snprintf(out[n], PATH_MAX, "/usr/%.*s", stem, a->triplet) == 0)
		n++;
	if (n < max && xa_snprintf(out[n], PATH_MAX, "/usr/gnemul/qemu-%s", a->name) == 0)
		n++;
	if (n < max && xa_snprintf(out[n], PATH_MAX, "/etc/qemu-binfmt/%s", a->name) == 0)
		n++;
	return n;
}

/* Is `interp` in `dir`, directly or in the prefix-style DIR/lib/?  Fills
 * ret->loader for the latter. */
static bool has_interp(const char *dir, const char *interp, struct xarch_sysroot *ret)
{
	char path[PATH_MAX];
	ret->loader[0] = '\0';
	const char *sep = interp[0] == '/' ? "" : "/";
	if (xa_snprintf(path, sizeof(path), "%s%s%s", dir, sep, interp) == 0 && is_file(path))
		return true;
	char alt[PATH_MAX];
	if (xa_snprintf(alt, sizeof(alt), "%s/lib/%s", dir, base_name(interp)) == 0 &&
	    strcmp(alt, path) != 0 && is_file(alt)) {
		xa_strcpy(ret->loader, sizeof(ret->loader), alt);
		return true;
	}
	return false;
}

int xarch_check_sysroot(const char *dir, const struct xarch_arch *a, const char *interp,
			struct xarch_sysroot *ret, struct xarch_error *err)
{
	struct xarch_sysroot s = {0};
	if (!is_dir(dir)) {
		int e = errno;
		struct stat st;
		if (stat(dir, &st) == 0)
			e = ENOTDIR;
		return xarch_err_sys(err, e, "cannot use sysroot '%s'", dir);
	}
	if (xa_strcpy(s.dir, sizeof(s.dir), dir) < 0)
		return xarch_err(err, ENAMETOOLONG, "path too long: '%s'", dir);
	if (interp && !has_interp(dir, interp, &s))
		return xarch_err(err, ENOENT,
				 "'%s' not found in sysroot '%s': pass the root of a %s system or "
				 "cross toolchain",
				 interp, dir, a ? a->name : "matching");
	*ret = s;
	return 0;
}

int xarch_find_sysroot(const struct xarch_arch *a, const char *interp, struct xarch_sysroot *ret,
		       struct xarch_error *err)
{
	char cand[6][PATH_MAX];
	size_t n = sysroot_candidates(a, cand, ARRAY_SIZE(cand));
	for (size_t i = 0; i < n; i++) {
		struct xarch_sysroot s = {0};
		if (!is_dir(cand[i]))
			continue;
		if (interp && !has_interp(cand[i], interp, &s))
			continue;
		xa_strcpy(s.dir, sizeof(s.dir), cand[i]);
		*ret = s;
		return 0;
	}

	char where[1024] = "";
	size_t o = 0;
	for (size_t i = 0; i < n && o < sizeof(where); i++) {
		int k = snprintf(where + o, sizeof(where) - o, "%s%s", i ? ", " : "", cand[i]);
		if (k < 0)
			break;
		o += (size_t)k;
	}
	char pkg[64];
	const char *p = xarch_sysroot_package(a, interp, pkg, sizeof(pkg));
	if (interp)
		xarch_err(err, ENOENT, "no %s sysroot: '%s' not found in %s", a->name, interp,
			  where);
	else
		xarch_err(err, ENOENT, "no %s sysroot in %s", a->name, where);
	if (p)
		xarch_err_hint(err, "install it with 'apt-get install %s' or pass --sysroot DIR",
			       p);
	else
		xarch_err_hint(err, "pass --sysroot DIR (the root of a %s system)", a->name);
	return -ENOENT;
}

/* The program as execve would find it: PATH-searched without a '/'. */
static int resolve_prog(const char *name, char *buf, size_t len, struct xarch_error *err)
{
	if (!*name)
		return xarch_err(err, EINVAL, "empty program name");
	if (strchr(name, '/')) {
		struct stat st;
		if (stat(name, &st) < 0)
			return xarch_err_sys(err, errno, "cannot run '%s'", name);
		if (S_ISDIR(st.st_mode))
			return xarch_err(err, EISDIR, "cannot run '%s': it is a directory", name);
		if (xa_strcpy(buf, len, name) < 0)
			return xarch_err(err, ENAMETOOLONG, "path too long: '%s'", name);
		return 0;
	}
	if (xa_find_in_path(name, NULL, buf, len) == 0)
		return 0;
	if (access(name, F_OK) == 0)
		return xarch_err(err, ENOENT,
				 "cannot run '%s': not found in PATH (use './%s' for the file in "
				 "the current directory)",
				 name, name);
	return xarch_err(err, ENOENT, "cannot run '%s': not found in PATH", name);
}

static uint32_t get_u(const uint8_t *p, int n, bool be)
{
	uint32_t v = 0;
	for (int i = 0; i < n; i++)
		v |= (uint32_t)p[be ? n - 1 - i : i] << (8 * i);
	return v;
}

/* Only while the ELF parser is missing (-ENOSYS): the arch from the fixed
 * part of the header.  Whether the program is dynamic stays unknown. */
static int arch_from_header(const char *path, const struct xarch_arch **ret,
			    struct xarch_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return xarch_err_sys(err, errno, "cannot open '%s'", path);
	uint8_t h[64];
	ssize_t n = read(fd, h, sizeof(h));
	if (n < 52 || memcmp(h, "\177ELF", 4) != 0)
		return xarch_err(err, ENOEXEC, "'%s' is not an ELF file", path);
	bool be = h[5] == 2;
	unsigned machine = get_u(h + 18, 2, be);
	uint32_t flags = get_u(h + (h[4] == 2 ? 48 : 36), 4, be);
	*ret = xarch_arch_from_elf(h[4], h[5], machine, flags);
	return 0;
}

void xarch_exec_plan_release(struct xarch_exec_plan *p)
{
	free(p->argv);
	p->argv = NULL;
}

int xarch_exec_plan(const struct xarch_exec_opts *o, struct xarch_exec_plan *ret,
		    struct xarch_error *err)
{
	if (!o->argv || !o->argv[0])
		return xarch_err(err, EINVAL, "no program to run");
	memset(ret, 0, sizeof(*ret));
	struct xarch_exec_plan *p = ret;
	const char *argv0 = o->argv[0];
	int r = resolve_prog(argv0, p->prog, sizeof(p->prog), err);
	if (r < 0)
		return r;

	const struct xarch_arch *elf_arch = NULL;
	bool interp_known = true;
	struct xarch_elf_info info;
	r = xarch_elf_parse_file(p->prog, &info, err);
	if (r == -ENOSYS) {
		r = arch_from_header(p->prog, &elf_arch, err);
		if (r < 0)
			return r;
		interp_known = false;
	} else if (r < 0) {
		return r;
	} else {
		elf_arch = info.arch;
		p->is_static = !info.interp;
		if (info.interp && xa_strcpy(p->interp, sizeof(p->interp), info.interp) < 0) {
			xarch_elf_info_release(&info);
			return xarch_err(err, ENAMETOOLONG, "'%s': interpreter path too long",
					 p->prog);
		}
		unsigned cls = info.elf_class, data = info.elf_data, machine = info.machine;
		xarch_elf_info_release(&info);
		if (!elf_arch && !o->arch)
			return xarch_err(err, ENOEXEC,
					 "'%s': no known architecture for e_machine %u (%u-bit "
					 "%s-endian); pass --arch",
					 p->prog, machine, cls == 2 ? 64 : 32,
					 data == 2 ? "big" : "little");
	}

	p->arch = elf_arch;
	if (o->arch) {
		p->arch = xarch_arch_lookup(o->arch);
		if (!p->arch)
			return xarch_err(err, EINVAL,
					 "unknown architecture '%s'; 'xarch arch' lists the known "
					 "names",
					 o->arch);
	}
	if (!p->arch)
		return xarch_err(err, ENOEXEC, "'%s': unknown architecture; pass --arch", p->prog);

	size_t nargs = 0;
	while (o->argv[nargs])
		nargs++;
	/* qemu -L DIR -0 ARGV0 [LOADER] PROG ARGS... NULL */
	_cleanup_free_ const char **argv = calloc(nargs + 8, sizeof(*argv));
	if (!argv)
		return xarch_err(err, ENOMEM, "out of memory");
	size_t k = 0;

	p->native = p->arch == xarch_arch_host();
	if (p->native) {
		argv[k++] = p->prog;
		for (size_t i = 1; i < nargs; i++)
			argv[k++] = o->argv[i];
		p->argv = TAKE_PTR(argv);
		return 0;
	}

	r = xarch_find_qemu(p->arch, o->qemu_dir, p->qemu, sizeof(p->qemu), err);
	if (r < 0)
		return r;

	const char *interp = p->interp[0] ? p->interp : NULL;
	if (o->sysroot) {
		r = xarch_check_sysroot(o->sysroot, p->arch, interp, &p->sysroot, err);
		if (r < 0)
			return r;
	} else if (!p->is_static) {
		r = xarch_find_sysroot(p->arch, interp, &p->sysroot, err);
		/* without the parser we cannot tell static from dynamic: a
		 * missing sysroot is left to qemu to report */
		if (r < 0 && interp_known)
			return r;
		p->sysroot_auto = r == 0;
	}

	argv[k++] = p->qemu;
	if (p->sysroot.dir[0]) {
		argv[k++] = "-L";
		argv[k++] = p->sysroot.dir;
	}
	if (p->sysroot.loader[0]) {
		/* ld.so run as the program takes the real one as argv[1] and
		 * hands it that name as argv[0] */
		argv[k++] = p->sysroot.loader;
		argv[k++] = p->prog;
	} else {
		argv[k++] = "-0";
		argv[k++] = argv0;
		argv[k++] = p->prog;
	}
	for (size_t i = 1; i < nargs; i++)
		argv[k++] = o->argv[i];
	p->argv = TAKE_PTR(argv);
	return 0;
}

int xarch_exec(const struct xarch_exec_opts *o, int *ret_wstatus, struct xarch_error *err)
{
	_cleanup_free_ struct xarch_exec_plan *p = malloc(sizeof(*p));
	if (!p)
		return xarch_err(err, ENOMEM, "out of memory");
	int r = xarch_exec_plan(o, p, err);
	if (r < 0)
		return r;
	r = xarch_spawn_wait(p->argv, NULL, ret_wstatus, err);
	xarch_exec_plan_release(p);
	return r;
}
