// SPDX-License-Identifier: MIT
/*
 * xarch board build: rootfs -> board steps -> commands inside the target ->
 * host hooks -> genimage -> start_vm.sh, in a work directory beside the
 * output.  Nothing is mounted on the host and no loop device is used.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "internal.h"
#include "xarch/arch.h"
#include "xarch/board.h"
#include "xarch/boot.h"
#include "xarch/build.h"
#include "xarch/container.h"
#include "xarch/gcfg.h"
#include "xarch/genimage.h"
#include "xarch/oci.h"
#include "xarch/spawn.h"

struct bb {
	const struct xarch_board *b;
	const struct xarch_board_build_opts *o;
	char work[PATH_MAX], rootfs[PATH_MAX], esp[PATH_MAX], out[PATH_MAX];
	char disk[256]; /* the image start_vm.sh boots */
	double t0;
	struct xarch_error *err;
};

static void stage_done(struct bb *s, const char *stage)
{
	double t = xa_now_s();
	if (s->o && s->o->stage)
		s->o->stage(s->o->data, stage, t - s->t0);
	s->t0 = t;
}

static int run_tool(struct bb *s, const char *const argv[], const char *what)
{
	int st, r = xarch_spawn_wait(argv, NULL, &st, s->err);
	if (r < 0)
		return r;
	if (xarch_exit_code(st))
		return xarch_err(s->err, EIO, "%s failed with exit %d", what, xarch_exit_code(st));
	return 0;
}

/* The target rootfs in work/rootfs: built from the Dockerfile, or taken from
 * --rootfs (a directory is copied: the user's tree is never changed). */
static int get_rootfs(struct bb *s)
{
	const char *src = s->o ? s->o->rootfs : NULL;
	struct stat st;
	if (!src) {
		char df[PATH_MAX], out[PATH_MAX + 8], plat[64] = "";
		xa_snprintf(df, sizeof(df), "%s/Dockerfile", s->b->dir);
		if (access(df, F_OK) < 0)
			return xarch_err(s->err, ENOENT,
					 "%s: no Dockerfile; add one or pass --rootfs DIR|TAR",
					 s->b->dir);
		const struct xarch_arch *a = s->b->arch[0] ? xarch_arch_lookup(s->b->arch) : NULL;
		if (a)
			xarch_arch_platform(a, plat, sizeof(plat));
		xa_snprintf(out, sizeof(out), "dir:%s", s->rootfs);
		const char *outs[] = {out};
		struct xarch_build_opts bo = {
		    .context = s->b->dir,
		    .platform = plat[0] ? plat : NULL,
		    .outputs = outs,
		    .n_outputs = 1,
		    .no_cache = s->o && s->o->no_cache,
		    .note = s->o ? s->o->note : NULL,
		    .note_data = s->o ? s->o->data : NULL,
		};
		struct xarch_build_result res;
		/* relative paths in the Dockerfile (FROM tar:base.tar) are the
		 * board directory's, as its genimage.cfg's are */
		int cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC), r;
		if (cwd < 0 || chdir(s->b->dir) < 0) {
			r = xarch_err_sys(s->err, errno, "cannot enter '%s'", s->b->dir);
		} else {
			bo.context = ".";
			r = xarch_build(&bo, &res, s->err);
		}
		if (cwd >= 0) {
			if (fchdir(cwd) < 0 && r >= 0)
				r = xarch_err_sys(s->err, errno,
						  "cannot return to the working directory");
			close(cwd);
		}
		return r;
	}
	if (stat(src, &st) == 0 && S_ISDIR(st.st_mode)) {
		char from[PATH_MAX + 4];
		xa_snprintf(from, sizeof(from), "%s/.", src);
		if (mkdir(s->rootfs, 0755) < 0)
			return xarch_err_sys(s->err, errno, "cannot create '%s'", s->rootfs);
		const char *argv[] = {"cp", "-a", "--reflink=auto", from, s->rootfs, NULL};
		return run_tool(s, argv, "copying the rootfs");
	}
	char ref[PATH_MAX + 8];
	if (!strchr(src, ':') || access(src, F_OK) == 0)
		xa_snprintf(ref, sizeof(ref), "tar:%s", src);
	else
		xa_strcpy(ref, sizeof(ref), src);
	struct xarch_image_opts io = {.platform = s->b->arch[0] ? s->b->arch : NULL};
	return xarch_image_pull(ref, s->rootfs, &io, NULL, s->err);
}

/* board.cfg run = {...}: each with /bin/sh -c inside the target, the ESP
 * mounted where it belongs so grub-mkconfig and friends write to it. */
static int run_inside(struct bb *s)
{
	for (size_t i = 0; i < s->b->n_run; i++) {
		const char *argv[] = {"/bin/sh", "-c", s->b->run[i], NULL};
		const char *env[] = {"GRUB_DISABLE_OS_PROBER=true",
				     "DEBIAN_FRONTEND=noninteractive", NULL};
		struct xarch_volume vol = {.source = s->esp, .target = s->b->esp};
		struct xarch_container_opts co = {
		    .rootfs = s->rootfs,
		    .argv = argv,
		    .env = env,
		    .workdir = "/",
		    .volumes = &vol,
		    .n_volumes = 1,
		    .arch = s->b->arch[0] ? s->b->arch : NULL,
		};
		int st, r = xarch_container_run(&co, &st, s->err);
		if (r < 0)
			return r;
		if (xarch_exit_code(st))
			return xarch_err(s->err, EIO, "board.cfg: run '%s' failed with exit %d",
					 s->b->run[i], xarch_exit_code(st));
	}
	return 0;
}

static int run_hooks(struct bb *s)
{
	char e_root[PATH_MAX + 8], e_esp[PATH_MAX + 8], e_board[PATH_MAX + 8], e_work[PATH_MAX + 8],
	    e_arch[64], e_out[PATH_MAX + 8], hook[PATH_MAX];
	xa_snprintf(e_root, sizeof(e_root), "ROOTFS=%s", s->rootfs);
	xa_snprintf(e_esp, sizeof(e_esp), "ESP=%s", s->esp);
	xa_snprintf(e_board, sizeof(e_board), "BOARD=%s", s->b->dir);
	xa_snprintf(e_work, sizeof(e_work), "WORK=%s", s->work);
	xa_snprintf(e_out, sizeof(e_out), "OUTPUT=%s", s->out);
	xa_snprintf(e_arch, sizeof(e_arch), "ARCH=%s", s->b->arch);
	char e_xarch[PATH_MAX + 8] = "XARCH=xarch", self[PATH_MAX];
	ssize_t sl = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (sl > 0) {
		self[sl] = '\0';
		xa_snprintf(e_xarch, sizeof(e_xarch), "XARCH=%s", self);
	}
	for (size_t i = 0; i < s->b->n_hooks; i++) {
		extern char **environ;
		const char *env[256];
		size_t n = 0;
		for (char **e = environ; *e && n < ARRAY_SIZE(env) - 9; e++)
			if (strncmp(*e, "XARCH=", 6))
				env[n++] = *e;
		env[n++] = e_root, env[n++] = e_esp, env[n++] = e_board, env[n++] = e_work;
		env[n++] = e_out, env[n++] = e_arch, env[n++] = e_xarch, env[n] = NULL;
		if (s->b->hooks[i][0] == '/')
			xa_strcpy(hook, sizeof(hook), s->b->hooks[i]);
		else
			xa_snprintf(hook, sizeof(hook), "%s/%s", s->b->dir, s->b->hooks[i]);
		/* an executable hook runs by its #! line, others with /bin/sh */
		const char *argv[] = {"/bin/sh", hook, NULL};
		const char *const *av = access(hook, X_OK) == 0 ? argv + 1 : argv;
		int st, r = xarch_spawn_wait(av, env, &st, s->err);
		if (r < 0)
			return r;
		if (xarch_exit_code(st))
			return xarch_err(s->err, EIO, "hook '%s' failed with exit %d",
					 s->b->hooks[i], xarch_exit_code(st));
	}
	return 0;
}

/* the files of board/input/ visible in the genimage inputpath (work/) beside efi/ */
static int link_inputs(struct bb *s)
{
	char in[PATH_MAX];
	xa_snprintf(in, sizeof(in), "%s/input", s->b->dir);
	_cleanup_closedir_ DIR *d = opendir(in);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char src[PATH_MAX * 2], dst[PATH_MAX * 2];
		if (e->d_name[0] == '.' || !strcmp(e->d_name, "efi") ||
		    !strcmp(e->d_name, "rootfs"))
			continue;
		xa_snprintf(src, sizeof(src), "%s/%s", in, e->d_name);
		xa_snprintf(dst, sizeof(dst), "%s/%s", s->work, e->d_name);
		char abs[PATH_MAX];
		if (!realpath(src, abs) || symlink(abs, dst) < 0)
			return xarch_err_sys(s->err, errno, "cannot use '%s'", src);
	}
	return 0;
}

static int make_disk(struct bb *s)
{
	struct xarch_gcfg cfg;
	char path[PATH_MAX], tmp[PATH_MAX];
	xa_snprintf(path, sizeof(path), "%s/genimage.cfg", s->b->dir);
	xa_snprintf(tmp, sizeof(tmp), "%s/tmp", s->work);
	int r = xarch_gcfg_parse_file(path, s->b->dir, &cfg, s->err);
	if (r < 0)
		return r;
	struct xarch_genimage_opts go = {
	    .rootpath = s->rootfs,
	    .inputpath = s->work,
	    .outputpath = s->out,
	    .tmppath = tmp,
	    .qcow2 = s->b->qcow2,
	    .done = s->o ? s->o->image_done : NULL,
	    .data = s->o ? s->o->data : NULL,
	};
	if (s->b->image[0] && !xarch_gcfg_image(&cfg, s->b->image))
		r = xarch_err(s->err, ENOENT, "board.cfg: image '%s' is not in %s", s->b->image,
			      path);
	xa_strcpy(s->disk, sizeof(s->disk), s->b->image);
	for (size_t i = 0; i < cfg.n_images && !s->disk[0]; i++)
		if (!strcmp(cfg.images[i].type, "hdimage"))
			xa_strcpy(s->disk, sizeof(s->disk), cfg.images[i].name);
	if (r >= 0)
		r = xarch_genimage(&cfg, &go, s->err);
	xarch_gcfg_release(&cfg);
	return r;
}

/* OUTPUT/start_vm.sh: the disk (its qcow2 when made) with xarch boot's
 * settings for the board's arch; written even where qemu is missing. */
static int write_start_vm(struct bb *s)
{
	char img[PATH_MAX + 8], script[PATH_MAX];
	uint64_t mem = 0;
	struct xarch_boot_cmd *c;
	if (!s->disk[0])
		return 0;
	xa_snprintf(img, sizeof(img), "%s/%s%s", s->out, s->disk, s->b->qcow2 ? ".qcow2" : "");
	xa_snprintf(script, sizeof(script), "%s/start_vm.sh", s->out);
	if (s->b->memory[0] && xarch_gcfg_size_parse(s->b->memory, &mem) < 0)
		return xarch_err(s->err, EINVAL, "board.cfg: memory '%s' is not a size",
				 s->b->memory);
	struct xarch_boot_opts bo = {
	    .image = img,
	    .arch = s->b->arch[0] ? s->b->arch : NULL,
	    .memory_mib = mem >> 20,
	    .cpus = s->b->cpus,
	};
	int r = xarch_boot_cmd_new(&bo, &c, s->err);
	if (r < 0)
		return r;
	r = xarch_boot_write_script(c, script, s->err);
	xarch_boot_cmd_free(c);
	return r;
}

/* Outputs belong to the user who ran sudo, not to root. */
static void give_back(struct bb *s)
{
	const char *u = getenv("SUDO_UID"), *g = getenv("SUDO_GID");
	if (geteuid() != 0 || !u || !g)
		return;
	uid_t uid = (uid_t)strtoul(u, NULL, 10);
	gid_t gid = (gid_t)strtoul(g, NULL, 10);
	_cleanup_closedir_ DIR *d = opendir(s->out);
	struct dirent *e;
	if (chown(s->out, uid, gid) < 0)
		return;
	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.')
			fchownat(dirfd(d), e->d_name, uid, gid, AT_SYMLINK_NOFOLLOW);
}

int xarch_board_build(const struct xarch_board *b, const struct xarch_board_build_opts *o,
		      struct xarch_error *err)
{
	struct bb *s = calloc(1, sizeof(*s));
	int r;
	if (!s)
		return -ENOMEM;
	s->b = b;
	s->o = o;
	s->err = err;
	if (o && o->output)
		r = xa_strcpy(s->out, sizeof(s->out), o->output);
	else
		r = xa_snprintf(s->out, sizeof(s->out), "%s/output", b->dir);
	if (r < 0 || xa_snprintf(s->work, sizeof(s->work), "%s/.work-XXXXXX", s->out) < 0) {
		free(s);
		return xarch_err(err, ENAMETOOLONG, "output path too long");
	}
	if (mkdir(s->out, 0755) < 0 && errno != EEXIST) {
		r = xarch_err_sys(err, errno, "cannot create '%s'", s->out);
		free(s);
		return r;
	}
	char abs[PATH_MAX];
	if (realpath(s->out, abs) && xa_strcpy(s->out, sizeof(s->out), abs) >= 0)
		xa_snprintf(s->work, sizeof(s->work), "%s/.work-XXXXXX", s->out);
	if (!mkdtemp(s->work)) {
		r = xarch_err_sys(err, errno, "cannot create a work directory in '%s'", s->out);
		free(s);
		return r;
	}
	xa_snprintf(s->rootfs, sizeof(s->rootfs), "%s/rootfs", s->work);
	xa_snprintf(s->esp, sizeof(s->esp), "%s/efi", s->work);
	s->t0 = xa_now_s();

	if ((r = get_rootfs(s)) < 0)
		goto out;
	stage_done(s, "rootfs");
	if ((r = xarch_board_prepare(b, s->rootfs, s->esp, err)) < 0)
		goto out;
	stage_done(s, "prepare");
	if ((r = run_inside(s)) < 0 || (r = run_hooks(s)) < 0)
		goto out;
	stage_done(s, "hooks");
	if ((r = link_inputs(s)) < 0 || (r = make_disk(s)) < 0)
		goto out;
	stage_done(s, "genimage");
	if ((r = write_start_vm(s)) < 0)
		goto out;
	give_back(s);
out:
	if (!(o && o->keep_work)) {
		int dfd = open(s->out, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			xa_rm_rf_at(dfd, strrchr(s->work, '/') + 1);
			close(dfd);
		}
	}
	free(s);
	return r;
}
