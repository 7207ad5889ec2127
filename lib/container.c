// SPDX-License-Identifier: MIT
/*
 * `xarch run`: a root filesystem as a container, without an engine.
 *
 * Process tree: xarch stays in the host's namespaces and is the parent of
 * one child, created by a single clone() with CLONE_NEWNS|NEWPID|NEWUTS|
 * NEWIPC (+NEWNET for --network none, +NEWUSER when needed).  That child is
 * PID 1 of the new pid namespace: it builds the mount tree, pivots into it
 * and execs the command, so the command itself is PID 1.  The parent
 * writes the id maps (user namespace), relays the pty (-t), forwards
 * signals and reaps.  Nothing is ever mounted in the host's namespace: the
 * child's first act is to make its copy of the mount tree private, and
 * everything it mounts dies with it.
 *
 * Foreign binaries: the host's binfmt_misc entry when it has the F flag
 * (the kernel opened qemu at registration, so nothing is copied into the
 * rootfs); otherwise the child, in its own user namespace, mounts a private
 * binfmt_misc and registers qemu there before pivot_root, so F opens the
 * host's qemu.
 *
 * Mount points inside the rootfs are resolved inside it (rootfs.h) and
 * mounts are attached with move_mount() to those O_PATH fds, so a symlink
 * in the rootfs can never redirect a mount or a write to the host.
 */
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>

#include "internal.h"
#include "xarch/binfmt.h"
#include "xarch/container.h"
#include "xarch/spawn.h"
#include "xarch/idmap.h"
#include "xarch/probe.h"
#include "xarch/rootfs.h"
#include "xarch/userns.h"

#define DEFAULT_PATH  "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define KILL_GRACE_MS 2000

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

enum binfmt_mode { RUN_NATIVE, RUN_HOST_BINFMT, RUN_PRIVATE_BINFMT };

/* Everything decided before the clone; the child gets a copy. */
struct plan {
	const struct xarch_container_opts *o;
	const struct xarch_arch *arch;
	enum binfmt_mode mode;
	const struct xarch_arch *emu; /* o->emulate, registered privately (NULL: not) */
	char entry[64];		      /* binfmt entry that runs the arch */
	bool entry_has_c;
	bool userns;
	bool rootless;
	bool cmd_missing; /* reported as the shell would: exit 127 */
	struct xarch_idmaps maps;
	struct xarch_user user;
	const char *hostname;
	char **argv; /* the command (owned strings live in o or user) */
	char **envp; /* malloc'ed */
	size_t n_env;
};

/* What the child tells the parent when it cannot exec. */
enum { STAGE_SETUP = 1, STAGE_CMD_NOTFOUND, STAGE_CMD };
struct report {
	int stage;
	int code;
	char msg[512];
};

static void note(const struct xarch_container_opts *o, enum xarch_note_level lvl, const char *fmt,
		 ...) __attribute__((format(printf, 3, 4)));
static void note(const struct xarch_container_opts *o, enum xarch_note_level lvl, const char *fmt,
		 ...)
{
	if (!o->note || (lvl == XARCH_NOTE_INFO && !o->verbose))
		return;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	o->note(o->note_data, lvl, msg);
}

/* Environment ------------------------------------------------------------*/

static int env_set(struct plan *p, const char *kv)
{
	const char *eq = strchr(kv, '=');
	size_t klen = eq ? (size_t)(eq - kv) : strlen(kv);
	char *s;
	if (!eq) {
		/* docker's "-e KEY": the caller's value, or nothing */
		const char *v = getenv(kv);
		if (!v)
			return 0;
		if (asprintf(&s, "%s=%s", kv, v) < 0)
			return -ENOMEM;
	} else if (!(s = strdup(kv))) {
		return -ENOMEM;
	}
	for (size_t i = 0; i < p->n_env; i++)
		if (strncmp(p->envp[i], kv, klen) == 0 && p->envp[i][klen] == '=') {
			free(p->envp[i]);
			p->envp[i] = s;
			return 0;
		}
	char **n = realloc(p->envp, (p->n_env + 2) * sizeof(*n));
	if (!n) {
		free(s);
		return -ENOMEM;
	}
	p->envp = n;
	p->envp[p->n_env++] = s;
	p->envp[p->n_env] = NULL;
	return 0;
}

static int env_setf(struct plan *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int env_setf(struct plan *p, const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -ENAMETOOLONG;
	return env_set(p, buf);
}

static const char *env_get(char *const *envp, const char *key)
{
	size_t k = strlen(key);
	for (; envp && *envp; envp++)
		if (strncmp(*envp, key, k) == 0 && (*envp)[k] == '=')
			return *envp + k + 1;
	return NULL;
}

static void plan_release(struct plan *p)
{
	for (size_t i = 0; i < p->n_env; i++)
		free(p->envp[i]);
	free(p->envp);
	free(p->argv);
}

/* Planning (parent) ------------------------------------------------------*/

/* Is `path` (inside the root) an executable regular file?  Searches
 * `path_env` when it has no slash; the found path goes to buf. */
static bool root_find_prog(int rootfd, const char *prog, const char *path_env, char *buf,
			   size_t len)
{
	if (strchr(prog, '/')) {
		if (prog[0] != '/')
			return false;
		_cleanup_close_ int fd = xarch_root_open(rootfd, prog, O_PATH | O_CLOEXEC, 0, NULL);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
			return false;
		return xa_strcpy(buf, len, prog) == 0;
	}
	for (const char *d = path_env; d && *d;) {
		const char *e = strchrnul(d, ':');
		char cand[PATH_MAX];
		if (e > d && snprintf(cand, sizeof(cand), "%.*s/%s", (int)(e - d), d, prog) <
				 (int)sizeof(cand)) {
			_cleanup_close_ int fd =
			    xarch_root_open(rootfd, cand, O_PATH | O_CLOEXEC, 0, NULL);
			struct stat st;
			if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
			    (st.st_mode & 0111))
				return xa_strcpy(buf, len, cand) == 0;
		}
		d = *e ? e + 1 : e;
	}
	return false;
}

static int plan_arch(struct plan *p, int rootfd, struct xarch_error *err)
{
	const struct xarch_container_opts *o = p->o;
	const struct xarch_arch *want = NULL, *have = NULL;
	if (o->arch && !(want = xarch_arch_lookup(o->arch)))
		return xarch_err(err, EINVAL, "unknown arch '%s' (see 'xarch arch')", o->arch);
	int r = xarch_root_arch(rootfd, NULL, &have, NULL);
	if (r < 0) {
		/* no /bin/sh and friends: ask the command's own binary */
		char prog[PATH_MAX];
		if (root_find_prog(rootfd, p->argv[0], env_get(p->envp, "PATH"), prog,
				   sizeof(prog)))
			r = xarch_root_arch(rootfd, prog, &have, NULL);
		else if (!want && p->argv[0][0] == '/') {
			/* (a relative name may still come from a volume) */
			p->cmd_missing = true;
			return xarch_err(err, ENOENT,
					 "cannot run '%s' in the container: No such file or "
					 "directory",
					 p->argv[0]);
		}
	}
	if (r < 0 && !want)
		return xarch_err(err, -r == ENOEXEC ? ENOEXEC : ENOENT,
				 "cannot tell the arch of '%s': no /bin/sh, /usr/bin/env, "
				 "/sbin/init or ELF command in it; pass --arch",
				 o->rootfs);
	if (want && have && want != have && !o->force_arch)
		return xarch_err(err, EINVAL,
				 "'%s' is a %s rootfs, not %s (--force-arch runs it anyway)",
				 o->rootfs, have->name, want->name);
	p->arch = have ? have : want;
	return 0;
}

static bool runs_natively(const struct xarch_arch *a)
{
	const struct xarch_arch *host = xarch_arch_host();
	if (a == host)
		return true;
	/* only the host's family may run natively; only then pay for a probe */
	if (!host || strcmp(a->family, host->family) != 0)
		return false;
	return xarch_arch_runs_natively(a) == 1;
}

static int plan_binfmt(struct plan *p, struct xarch_error *err)
{
	const struct xarch_container_opts *o = p->o;
	if (runs_natively(p->arch)) {
		p->mode = RUN_NATIVE;
		note(o, XARCH_NOTE_INFO, "%s rootfs: runs natively", p->arch->name);
		return 0;
	}
	struct xarch_binfmt_table t;
	int r = xarch_binfmt_table_read(NULL, &t, NULL);
	const struct xarch_binfmt_rule *e =
	    r == 0 && t.enabled ? xarch_binfmt_table_runner(&t, p->arch) : NULL;
	if (e && strchr(e->flags, 'F') && (!o->credential || strchr(e->flags, 'C'))) {
		p->mode = RUN_HOST_BINFMT;
		xa_strcpy(p->entry, sizeof(p->entry), e->name);
		p->entry_has_c = strchr(e->flags, 'C') != NULL;
		note(o, XARCH_NOTE_INFO, "%s rootfs: host binfmt entry '%s' (flags %s)",
		     p->arch->name, e->name, e->flags);
	} else {
		p->mode = RUN_PRIVATE_BINFMT;
		snprintf(p->entry, sizeof(p->entry), XARCH_BINFMT_PREFIX "%s", p->arch->name);
		p->entry_has_c = o->credential;
		note(o, XARCH_NOTE_INFO,
		     "%s rootfs: %s; registering '%s' (flags POF%s) in the container's user "
		     "namespace",
		     p->arch->name,
		     e ? (strchr(e->flags, 'F') ? "host entry lacks the C flag"
						: "host entry lacks the F flag")
		       : "no host binfmt entry",
		     p->entry, o->credential ? "C" : "");
	}
	if (r == 0)
		xarch_binfmt_table_release(&t);
	return 0;
}

/* A second arch the command may start (dnf --forcearch, rpm --root
 * scriptlets of a foreign target): registered privately unless the host
 * already runs it. */
static int plan_emulate(struct plan *p, struct xarch_error *err)
{
	const struct xarch_container_opts *o = p->o;
	if (!o->emulate)
		return 0;
	const struct xarch_arch *x = xarch_arch_lookup(o->emulate);
	if (!x)
		return xarch_err(err, EINVAL, "cannot emulate unknown arch '%s' (see xarch arch)",
				 o->emulate);
	if (x == p->arch || runs_natively(x))
		return 0;
	struct xarch_binfmt_table t;
	int r = xarch_binfmt_table_read(NULL, &t, NULL);
	const struct xarch_binfmt_rule *e =
	    r == 0 && t.enabled ? xarch_binfmt_table_runner(&t, x) : NULL;
	bool host = e && strchr(e->flags, 'F');
	if (r == 0)
		xarch_binfmt_table_release(&t);
	if (host)
		return 0;
	p->emu = x;
	note(o, XARCH_NOTE_INFO, "also registering %s%s in the container's user namespace",
	     XARCH_BINFMT_PREFIX, x->name);
	return 0;
}

static int plan_userns(struct plan *p, struct xarch_error *err)
{
	const struct xarch_container_opts *o = p->o;
	p->rootless = geteuid() != 0;
	p->userns = p->rootless || p->mode == RUN_PRIVATE_BINFMT || p->emu;
	if (!p->userns)
		return 0;
	if (!p->rootless) {
		note(o, XARCH_NOTE_INFO, "user namespace with identity maps");
		return 0;
	}
	int r = xarch_idmaps_rootless(getuid(), getgid(), &p->maps, err);
	if (r < 0)
		return r;
	if (!p->maps.full) {
		struct xarch_user me;
		bool known = xarch_host_user(NULL, getuid(), &me, NULL) == 0 && me.name[0];
		note(o, XARCH_NOTE_WARN,
		     "no subordinate ids for '%s' in /etc/subuid (or no newuidmap): only uid %u "
		     "is mapped (to root); package managers that chown or setuid (apt's _apt, "
		     "rpm scriptlets) and -u other users will fail",
		     known ? me.name : "?", (unsigned)getuid());
	} else {
		note(o, XARCH_NOTE_INFO, "user namespace: uid %u -> 0, %u subordinate ids from %u",
		     (unsigned)getuid(), p->maps.n_uid > 1 ? p->maps.uid[1].count : 0,
		     p->maps.n_uid > 1 ? p->maps.uid[1].outside : 0);
	}
	return 0;
}

static int plan_command(struct plan *p, int rootfd, struct xarch_error *err)
{
	const struct xarch_container_opts *o = p->o;
	size_t n = 0;
	while (o->argv && o->argv[n])
		n++;
	if (!(p->argv = calloc(n + 2, sizeof(*p->argv))))
		return xarch_err(err, ENOMEM, "out of memory");
	if (n) {
		for (size_t i = 0; i < n; i++)
			p->argv[i] = (char *)o->argv[i];
		return 0;
	}
	char found[PATH_MAX];
	if (p->user.shell[0] && root_find_prog(rootfd, p->user.shell, NULL, found, sizeof(found)))
		p->argv[0] = p->user.shell;
	else if (root_find_prog(rootfd, "/bin/sh", NULL, found, sizeof(found)))
		p->argv[0] = "/bin/sh";
	else
		return xarch_err(err, ENOENT,
				 "'%s' has no /bin/sh: not a rootfs? (or give a command)",
				 o->rootfs);
	return 0;
}

static int plan_env(struct plan *p, struct xarch_error *err)
{
	const struct xarch_container_opts *o = p->o;
	const char *term = getenv("TERM");
	int r = 0;
	if (!(p->envp = calloc(1, sizeof(*p->envp))))
		return xarch_err(err, ENOMEM, "out of memory");
	r |= env_set(p, "PATH=" DEFAULT_PATH);
	r |= env_setf(p, "HOME=%s", p->user.home[0] ? p->user.home : "/");
	r |= env_setf(p, "HOSTNAME=%s", p->hostname);
	if (o->tty)
		r |= env_setf(p, "TERM=%s", term && *term ? term : "xterm");
	r |= env_set(p, "container=xarch");
	for (size_t i = 0; o->env && o->env[i]; i++)
		r |= env_set(p, o->env[i]);
	if (r < 0)
		return xarch_err(err, ENOMEM, "out of memory");
	return 0;
}

static int plan_make(struct plan *p, int rootfd, struct xarch_error *err)
{
	const struct xarch_container_opts *o = p->o;
	int r;
	p->hostname = o->hostname && *o->hostname ? o->hostname : "xarch";
	if (strlen(p->hostname) > 64)
		return xarch_err(err, EINVAL, "hostname '%s' is longer than 64 bytes", p->hostname);
	if ((r = xarch_root_user(rootfd, o->user ? o->user : "0", &p->user, err)) < 0)
		return r;
	if ((r = plan_env(p, err)) < 0 || (r = plan_command(p, rootfd, err)) < 0 ||
	    (r = plan_arch(p, rootfd, err)) < 0 || (r = plan_binfmt(p, err)) < 0 ||
	    (r = plan_emulate(p, err)) < 0 || (r = plan_userns(p, err)) < 0)
		return r;
	for (size_t i = 0; i < o->n_volumes; i++) {
		const struct xarch_volume *v = &o->volumes[i];
		if (!v->source || v->source[0] != '/' || !v->target || v->target[0] != '/')
			return xarch_err(err, EINVAL, "volume '%s:%s': both paths must be absolute",
					 v->source ? v->source : "", v->target ? v->target : "");
		if (access(v->source, F_OK) < 0)
			return xarch_err_sys(err, errno, "volume source '%s'", v->source);
	}
	for (size_t i = 0; i < o->n_tmpfs; i++)
		if (!o->tmpfs[i].target || o->tmpfs[i].target[0] != '/')
			return xarch_err(err, EINVAL, "tmpfs target '%s' must be absolute",
					 o->tmpfs[i].target ? o->tmpfs[i].target : "");
	if (o->workdir && o->workdir[0] != '/')
		return xarch_err(err, EINVAL, "workdir '%s' must be absolute", o->workdir);
	return 0;
}

/* Mounting (child) -------------------------------------------------------*/

/* A new filesystem as a detached mount: fsopen + fsconfig + fsmount.
 * `opts` is a comma-separated mount option string (may be NULL); the
 * per-mount flags among them (ro, nosuid, nodev, noexec) become attrs. */
static int fs_new(const char *type, const char *opts, unsigned attrs, struct xarch_error *err)
{
	_cleanup_close_ int fs = fsopen(type, FSOPEN_CLOEXEC);
	if (fs < 0)
		return xarch_err_sys(err, errno, "cannot create a %s filesystem", type);
	_cleanup_free_ char *copy = opts ? strdup(opts) : NULL;
	if (opts && !copy)
		return xarch_err(err, ENOMEM, "out of memory");
	char *save = NULL;
	for (char *kv = copy ? strtok_r(copy, ",", &save) : NULL; kv;
	     kv = strtok_r(NULL, ",", &save)) {
		if (!strcmp(kv, "ro")) {
			attrs |= MOUNT_ATTR_RDONLY;
			continue;
		}
		if (!strcmp(kv, "nosuid") || !strcmp(kv, "nodev") || !strcmp(kv, "noexec")) {
			attrs |= !strcmp(kv, "nosuid")	? MOUNT_ATTR_NOSUID
				 : !strcmp(kv, "nodev") ? MOUNT_ATTR_NODEV
							: MOUNT_ATTR_NOEXEC;
			continue;
		}
		if (!strcmp(kv, "rw") || !strcmp(kv, "suid") || !strcmp(kv, "dev") ||
		    !strcmp(kv, "exec"))
			continue;
		char *eq = strchr(kv, '=');
		if (eq)
			*eq = '\0';
		int r = eq ? fsconfig(fs, FSCONFIG_SET_STRING, kv, eq + 1, 0)
			   : fsconfig(fs, FSCONFIG_SET_FLAG, kv, NULL, 0);
		if (r < 0)
			return xarch_err_sys(err, errno, "%s option '%s%s%s'", type, kv,
					     eq ? "=" : "", eq ? eq + 1 : "");
	}
	if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return xarch_err_sys(err, errno, "cannot create a %s filesystem", type);
	int m = fsmount(fs, FSMOUNT_CLOEXEC, attrs);
	if (m < 0)
		return xarch_err_sys(err, errno, "cannot mount a %s filesystem", type);
	return m;
}

/* Attach detached mount `m` on `name` relative to `dirfd` ("" : dirfd itself). */
static int attach(int m, int dirfd, const char *name, const char *what, struct xarch_error *err)
{
	unsigned fl = MOVE_MOUNT_F_EMPTY_PATH | (name[0] ? 0 : MOVE_MOUNT_T_EMPTY_PATH);
	if (move_mount(m, "", dirfd, name, fl) < 0)
		return xarch_err_sys(err, errno, "cannot mount on '%s'", what);
	return 0;
}

static int set_attrs(int m, unsigned attrs, bool recursive, const char *what,
		     struct xarch_error *err)
{
	struct mount_attr a = {.attr_set = attrs};
	if (mount_setattr(m, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &a, sizeof(a)) < 0)
		return xarch_err_sys(err, errno, "cannot make '%s' read-only", what);
	return 0;
}

/* A detached copy of the (host) tree at fd or path, optionally read-only. */
static int bind_tree(int fd, const char *path, bool readonly, struct xarch_error *err)
{
	unsigned fl = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE;
	_cleanup_close_ int t =
	    open_tree(fd, fd >= 0 ? "" : path, fl | (fd >= 0 ? AT_EMPTY_PATH : 0));
	if (t < 0)
		return xarch_err_sys(err, errno, "cannot bind '%s'", path);
	if (readonly && set_attrs(t, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID, true, path, err) < 0)
		return -err->code;
	return TAKE_FD(t);
}

/* The container's root: a recursive bind of the rootfs, or an overlay of
 * it with upper and work on a tmpfs.  The mount is attached over the rootfs
 * directory in the child's own namespace (pivot_root needs an attached
 * mount point); returns an fd of the new root's top. */
static int make_root(const struct plan *p, int srcfd, struct xarch_error *err)
{
	const struct xarch_container_opts *o = p->o;
	if (!o->ephemeral) {
		_cleanup_close_ int m = bind_tree(srcfd, o->rootfs, false, err);
		if (m < 0 || attach(m, srcfd, "", o->rootfs, err) < 0)
			return -err->code;
		return TAKE_FD(m);
	}
	_cleanup_close_ int t = fs_new("tmpfs", "mode=0755", 0, err);
	if (t < 0 || attach(t, srcfd, "", o->rootfs, err) < 0)
		return -err->code;
	if (mkdirat(t, "upper", 0755) < 0 || mkdirat(t, "work", 0700) < 0 ||
	    mkdirat(t, "root", 0755) < 0)
		return xarch_err_sys(err, errno, "cannot prepare the overlay");
	_cleanup_close_ int up = openat(t, "upper", O_PATH | O_CLOEXEC);
	_cleanup_close_ int wk = openat(t, "work", O_PATH | O_CLOEXEC);
	if (up < 0 || wk < 0)
		return xarch_err_sys(err, errno, "cannot prepare the overlay");
	/* the root dir of the overlay takes the upper's owner and mode */
	struct stat st;
	if (fstat(srcfd, &st) == 0) {
		if (fchmodat(t, "upper", st.st_mode & 07777, 0) < 0 ||
		    (fchownat(t, "upper", st.st_uid, st.st_gid, 0) < 0 && errno != EINVAL &&
		     errno != EPERM))
			return xarch_err_sys(err, errno, "cannot prepare the overlay");
	}
	char opts[256];
	snprintf(opts, sizeof(opts),
		 "lowerdir=/proc/self/fd/%d,upperdir=/proc/self/fd/%d,workdir=/proc/self/fd/%d%s",
		 srcfd, up, wk, p->userns ? ",userxattr" : "");
	_cleanup_close_ int ov = fs_new("overlay", opts, 0, err);
	if (ov < 0 || attach(ov, t, "root", "overlay", err) < 0)
		return -err->code;
	return TAKE_FD(ov);
}

/* O_PATH fd of a mount-point directory inside the root (created if
 * missing, which the overlay keeps in its upper layer). */
static int root_dir(int root, const char *path, struct xarch_error *err)
{
	return xarch_root_mkdir_p(root, path, 0755, err);
}

static int mount_fs_at(int root, const char *path, const char *type, const char *opts,
		       unsigned attrs, struct xarch_error *err)
{
	_cleanup_close_ int d = root_dir(root, path, err);
	if (d < 0)
		return d;
	_cleanup_close_ int m = fs_new(type, opts, attrs, err);
	if (m < 0 || attach(m, d, "", path, err) < 0)
		return -err->code;
	return TAKE_FD(m);
}

static int setup_dev(const struct plan *p, int root, struct xarch_error *err)
{
	static const char *const nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
	static const char *const links[][2] = {
	    {"ptmx", "pts/ptmx"},	   {"fd", "/proc/self/fd"},
	    {"stdin", "/proc/self/fd/0"},  {"stdout", "/proc/self/fd/1"},
	    {"stderr", "/proc/self/fd/2"}, {"core", "/proc/kcore"},
	};
	_cleanup_close_ int dev = mount_fs_at(root, "/dev", "tmpfs", "mode=0755,size=1024k",
					      MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, err);
	if (dev < 0)
		return dev;
	for (size_t i = 0; i < ARRAY_SIZE(nodes); i++) {
		char host[64];
		snprintf(host, sizeof(host), "/dev/%s", nodes[i]);
		struct stat st;
		/* outside a user namespace the nodes can simply be made (one
		 * syscall each, against three for a bind mount) */
		if (!p->userns && stat(host, &st) == 0 && S_ISCHR(st.st_mode) &&
		    mknodat(dev, nodes[i], S_IFCHR | 0666, st.st_rdev) == 0)
			continue;
		int f = openat(dev, nodes[i], O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0666);
		if (f < 0)
			return xarch_err_sys(err, errno, "cannot create '%s'", host);
		close(f);
		_cleanup_close_ int t =
		    open_tree(AT_FDCWD, host, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
		if (t < 0)
			return xarch_err_sys(err, errno, "cannot bind '%s'", host);
		if (attach(t, dev, nodes[i], host, err) < 0)
			return -err->code;
	}
	for (size_t i = 0; i < ARRAY_SIZE(links); i++)
		if (symlinkat(links[i][1], dev, links[i][0]) < 0)
			return xarch_err_sys(err, errno, "cannot create '/dev/%s'", links[i][0]);
	if (mkdirat(dev, "pts", 0755) < 0 || mkdirat(dev, "shm", 01777) < 0 ||
	    mkdirat(dev, "mqueue", 0755) < 0)
		return xarch_err_sys(err, errno, "cannot populate '/dev'");
	struct xarch_error e2 = {0};
	int pts = fs_new("devpts", "newinstance,ptmxmode=0666,mode=0620,gid=5", 0, &e2);
	if (pts < 0) /* gid 5 may not be mapped (single-id user namespace) */
		pts = fs_new("devpts", "newinstance,ptmxmode=0666,mode=0620", 0, err);
	if (pts < 0)
		return pts;
	int r = attach(pts, dev, "pts", "/dev/pts", err);
	close(pts);
	if (r < 0)
		return r;
	_cleanup_close_ int shm = fs_new(
	    "tmpfs", "mode=1777", MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, err);
	if (shm < 0 || attach(shm, dev, "shm", "/dev/shm", err) < 0)
		return -err->code;
	return 0;
}

static int setup_sys(const struct plan *p, int root, struct xarch_error *err)
{
	const unsigned ro =
	    MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
	_cleanup_close_ int d = root_dir(root, "/sys", err);
	if (d < 0)
		return d;
	/* a fresh sysfs shows the container's own network namespace; the
	 * kernel allows it only when that namespace is ours (or we are root
	 * of the host), and it is one mount where a bind copies a dozen */
	if (p->o->network == XARCH_NET_NONE || !p->userns) {
		_cleanup_close_ int m = fs_new("sysfs", NULL, ro, NULL);
		if (m >= 0)
			return attach(m, d, "", "/sys", err);
	}
	_cleanup_close_ int m = bind_tree(-1, "/sys", true, err);
	if (m < 0 || set_attrs(m, ro, true, "/sys", err) < 0)
		return -err->code;
	return attach(m, d, "", "/sys", err);
}

/* /etc/resolv.conf and /etc/hosts from the host, read-only, over the
 * rootfs's own files (never written).  A missing target is created only in
 * the ephemeral upper layer. */
static int setup_etc_file(const struct plan *p, int root, const char *path, struct xarch_error *err)
{
	const struct xarch_container_opts *o = p->o;
	if (access(path, R_OK) < 0) {
		note(o, XARCH_NOTE_INFO, "not providing '%s': the host has none", path);
		return 0;
	}
	_cleanup_close_ int t = xarch_root_open(root, path, O_PATH | O_CLOEXEC, 0, NULL);
	if (t < 0 && t == -ENOENT && o->ephemeral && !o->readonly)
		t = xarch_root_mkfile(root, path, 0644, NULL);
	struct stat st;
	if (t < 0 || fstat(t, &st) < 0 || !S_ISREG(st.st_mode)) {
		note(o, XARCH_NOTE_INFO, "not providing '%s': %s", path,
		     t < 0 ? "no such file in the rootfs (it is created only with --ephemeral)"
			   : "not a regular file in the rootfs");
		return 0;
	}
	_cleanup_close_ int m = bind_tree(-1, path, true, err);
	if (m < 0)
		return m;
	return attach(m, t, "", path, err);
}

static int setup_volume(const struct plan *p, int root, const struct xarch_volume *v, int srcfd,
			struct xarch_error *err)
{
	struct stat st;
	if (fstat(srcfd, &st) < 0)
		return xarch_err_sys(err, errno, "volume source '%s'", v->source);
	_cleanup_close_ int t = S_ISDIR(st.st_mode) ? xarch_root_mkdir_p(root, v->target, 0755, err)
						    : xarch_root_mkfile(root, v->target, 0644, err);
	if (t < 0)
		return t;
	_cleanup_close_ int m = bind_tree(srcfd, v->source, v->readonly, err);
	if (m < 0)
		return m;
	note(p->o, XARCH_NOTE_INFO, "volume '%s' on '%s'%s", v->source, v->target,
	     v->readonly ? " (read-only)" : "");
	return attach(m, t, "", v->target, err);
}

static int lo_up(struct xarch_error *err)
{
	_cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = {0};
	xa_strcpy(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return xarch_err_sys(err, errno, "cannot configure 'lo'");
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		return xarch_err_sys(err, errno, "cannot bring up 'lo'");
	return 0;
}

/* Build the tree and pivot into it. */
static int setup_mounts(const struct plan *p, struct xarch_error *err)
{
	const struct xarch_container_opts *o = p->o;
	int r;
	/* fds of the host paths first: they must be opened in this (new)
	 * mount namespace, before anything is mounted over them */
	_cleanup_close_ int src = xarch_root_open_dir(o->rootfs, err);
	if (src < 0)
		return src;
	_cleanup_free_ int *vfd = calloc(o->n_volumes + 1, sizeof(int));
	if (!vfd)
		return xarch_err(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < o->n_volumes; i++)
		if ((vfd[i] = open(o->volumes[i].source, O_PATH | O_CLOEXEC)) < 0)
			return xarch_err_sys(err, errno, "volume source '%s'",
					     o->volumes[i].source);

	_cleanup_close_ int root = make_root(p, src, err);
	if (root < 0)
		return root;
	_cleanup_close_ int proc =
	    mount_fs_at(root, "/proc", "proc", NULL,
			MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, err);
	if (proc < 0)
		return proc;
	if (p->mode == RUN_PRIVATE_BINFMT || p->emu) {
		/* the private table lives as long as its mount: move it into the
		 * container, where its /proc would show it anyway */
		_cleanup_close_ int bm =
		    open_tree(AT_FDCWD, XARCH_BINFMT_DIR, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
		if (bm < 0)
			return xarch_err_sys(err, errno, "cannot bind '%s'", XARCH_BINFMT_DIR);
		if (attach(bm, proc, "sys/fs/binfmt_misc", XARCH_BINFMT_DIR, err) < 0)
			return -err->code;
	}
	if ((r = setup_sys(p, root, err)) < 0)
		return r;
	if ((r = setup_dev(p, root, err)) < 0)
		return r;
	_cleanup_close_ int tmp = mount_fs_at(root, "/tmp", "tmpfs", "mode=1777",
					      MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, err);
	if (tmp < 0)
		return tmp;
	if ((r = setup_etc_file(p, root, "/etc/resolv.conf", err)) < 0 ||
	    (r = setup_etc_file(p, root, "/etc/hosts", err)) < 0)
		return r;
	for (size_t i = 0; i < o->n_volumes; i++) {
		r = setup_volume(p, root, &o->volumes[i], vfd[i], err);
		close(vfd[i]);
		vfd[i] = -1;
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < o->n_tmpfs; i++) {
		int m = mount_fs_at(root, o->tmpfs[i].target, "tmpfs", o->tmpfs[i].options,
				    MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, err);
		if (m < 0)
			return m;
		close(m);
	}
	if (o->readonly && set_attrs(root, MOUNT_ATTR_RDONLY, false, "/", err) < 0)
		return -err->code;

	if (fchdir(root) < 0 || syscall(SYS_pivot_root, ".", ".") < 0)
		return xarch_err_sys(err, errno, "cannot pivot_root into '%s'", o->rootfs);
	if (umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
		return xarch_err_sys(err, errno, "cannot detach the host's root");
	return 0;
}

/* The child ---------------------------------------------------------------*/

static void child_fail(int fd, int stage, const struct xarch_error *err)
{
	struct report rep = {.stage = stage, .code = err->code ? err->code : EIO};
	xa_strcpy(rep.msg, sizeof(rep.msg), err->msg);
	ssize_t w;
	do
		w = write(fd, &rep, sizeof(rep));
	while (w < 0 && errno == EINTR);
	_exit(127);
}

static int send_fd(int sock, int fd)
{
	char dummy = 'p';
	struct iovec iov = {.iov_base = &dummy, .iov_len = 1};
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u = {0};
	struct msghdr m = {.msg_iov = &iov,
			   .msg_iovlen = 1,
			   .msg_control = u.buf,
			   .msg_controllen = sizeof(u.buf)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sock, &m, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

static int recv_fd(int sock)
{
	char dummy;
	struct iovec iov = {.iov_base = &dummy, .iov_len = 1};
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u = {0};
	struct msghdr m = {.msg_iov = &iov,
			   .msg_iovlen = 1,
			   .msg_control = u.buf,
			   .msg_controllen = sizeof(u.buf)};
	ssize_t n;
	do
		n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	struct cmsghdr *c = n > 0 ? CMSG_FIRSTHDR(&m) : NULL;
	if (!c || c->cmsg_type != SCM_RIGHTS)
		return -EIO;
	int fd;
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

/* stdin/stdout/stderr: a pty from the container's devpts (master handed
 * to the parent), or the caller's, in a session of its own either way so
 * the host terminal's signals reach xarch only (it forwards them). */
static int child_stdio(const struct plan *p, int ptysock, struct xarch_error *err)
{
	if (setsid() < 0)
		return xarch_err_sys(err, errno, "setsid");
	if (p->o->tty) {
		_cleanup_close_ int mfd = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (mfd < 0 || unlockpt(mfd) < 0)
			return xarch_err_sys(err, errno, "cannot open '/dev/ptmx'");
		int s = ioctl(mfd, TIOCGPTPEER, O_RDWR | O_NOCTTY);
		if (s < 0)
			return xarch_err_sys(err, errno, "cannot open the pty");
		if (send_fd(ptysock, mfd) < 0 || ioctl(s, TIOCSCTTY, 0) < 0)
			return xarch_err_sys(err, errno, "cannot set up the pty");
		for (int i = 0; i < 3; i++)
			if (dup2(s, i) < 0)
				return xarch_err_sys(err, errno, "dup2");
		if (s > 2)
			close(s);
		return 0;
	}
	if (!p->o->interactive) {
		int n = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (n < 0 || dup2(n, 0) < 0)
			return xarch_err_sys(err, errno, "cannot open '/dev/null'");
		close(n);
	}
	return 0;
}

static int child_user(const struct plan *p, struct xarch_error *err)
{
	const struct xarch_user *u = &p->user;
	if (setgroups(u->n_groups, u->groups) < 0) {
		/* a user namespace made with setgroups=deny (single-id maps,
		 * e.g. xarch run inside 'xarch binfmt install --userns') */
		int e = errno;
		char buf[16] = "";
		int fd = open("/proc/self/setgroups", O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
		if (fd >= 0)
			close(fd);
		if (e != EPERM || n < 4 || strncmp(buf, "deny", 4) != 0)
			return xarch_err_sys(err, e, "cannot set the groups of '%s'",
					     u->name[0]	  ? u->name
					     : p->o->user ? p->o->user
							  : "root");
	}
	if (u->uid == 0 && u->gid == 0)
		return 0;
	if (setresgid(u->gid, u->gid, u->gid) < 0 || setresuid(u->uid, u->uid, u->uid) < 0) {
		xarch_err_sys(err, errno, "cannot switch to uid %u gid %u", (unsigned)u->uid,
			      (unsigned)u->gid);
		if (p->rootless && !p->maps.full)
			xarch_err_hint(err, "only root is mapped without /etc/subuid ranges");
		return -err->code;
	}
	return 0;
}

static int child_workdir(const struct plan *p, struct xarch_error *err)
{
	const char *w = p->o->workdir;
	if (!w)
		return chdir(p->user.home[0] ? p->user.home : "/") < 0 ? chdir("/") : 0;
	if (chdir(w) == 0)
		return 0;
	/* like docker: create a missing workdir */
	char tmp[PATH_MAX];
	if (errno != ENOENT || xa_strcpy(tmp, sizeof(tmp), w) < 0)
		return xarch_err_sys(err, errno, "workdir '%s'", w);
	for (char *s = tmp + 1;; s++) {
		if (*s && *s != '/')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return xarch_err_sys(err, errno, "cannot create workdir '%s'", w);
		if (!(*s = c))
			break;
	}
	return chdir(w) < 0 ? xarch_err_sys(err, errno, "workdir '%s'", w) : 0;
}

/* Resolve the command like execvp with the container's PATH. */
static int child_find(const struct plan *p, char *buf, size_t len, struct stat *st)
{
	const char *prog = p->argv[0];
	if (strchr(prog, '/')) {
		if (xa_strcpy(buf, len, prog) < 0)
			return -ENAMETOOLONG;
		return stat(buf, st) < 0 ? -errno : 0;
	}
	const char *path = env_get(p->envp, "PATH");
	int best = -ENOENT;
	for (const char *d = path ? path : DEFAULT_PATH; *d;) {
		const char *e = strchrnul(d, ':');
		if (e > d && snprintf(buf, len, "%.*s/%s", (int)(e - d), d, prog) < (int)len &&
		    stat(buf, st) == 0 && S_ISREG(st->st_mode)) {
			if (access(buf, X_OK) == 0)
				return 0;
			best = -EACCES;
		}
		d = *e ? e + 1 : e;
	}
	return best;
}

/* PID 1 as a minimal init: the command runs as PID 2; signals from the
 * parent go to it, orphans are reaped, and the command's end is ours (a
 * signal N becomes exit status 128+N: PID 1 cannot die of it).  Returns
 * only in the command's process. */
static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};
static volatile sig_atomic_t init_child;

static void init_forward(int sig)
{
	if (init_child > 0)
		kill(init_child, sig);
}

static void mini_init(int repfd, const sigset_t *mask)
{
	/* CLONE_VFORK: this process sleeps until the command has exec'ed, so
	 * the command starts at once on this CPU instead of waking another */
	pid_t c = (pid_t)syscall(SYS_clone, CLONE_VFORK | SIGCHLD, NULL, NULL, NULL, 0);
	if (c < 0)
		return; /* run the command as PID 1 then */
	if (c == 0)
		return;
	init_child = c;
	close(repfd); /* the command's exec closes its copy: the parent sees EOF */
	struct sigaction sa = {.sa_handler = init_forward, .sa_flags = SA_RESTART};
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < ARRAY_SIZE(forwarded); i++)
		sigaction(forwarded[i], &sa, NULL);
	sigprocmask(SIG_SETMASK, mask, NULL);
	for (;;) {
		int st;
		pid_t w = waitpid(-1, &st, 0);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			_exit(127);
		if (w == c)
			_exit(xarch_exit_code(st));
	}
}

static void child_main(const struct plan *p, int repfd, int syncfd, int ptysock,
		       const sigset_t *mask, const cpu_set_t *cpus)
{
	const struct xarch_container_opts *o = p->o;
	struct xarch_error err = {0};
	if (p->userns) {
		char c;
		ssize_t n;
		do
			n = read(syncfd, &c, 1);
		while (n < 0 && errno == EINTR);
		if (n != 1)
			_exit(127); /* the parent failed and told why */
	}
	close(syncfd);
	mode_t umask_saved = umask(0); /* modes below are meant as written */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		xarch_err_sys(&err, errno, "cannot make the mount namespace private");
		child_fail(repfd, STAGE_SETUP, &err);
	}
	if (p->mode == RUN_PRIVATE_BINFMT) {
		struct xarch_userns_opts uo = {
		    .qemu_dir = o->qemu_dir, .credential = o->credential, .force = true};
		struct xarch_binfmt_result res;
		int r = xarch_userns_private_binfmt(p->arch, &uo, &res, &err);
		if (r < 0) {
			char inner[512];
			xa_strcpy(inner, sizeof(inner), err.msg);
			xarch_err(
			    &err, -r,
			    "cannot run %s binaries: no host binfmt_misc entry with the F flag "
			    "and no private one (%s); fix: run 'sudo xarch binfmt install %s' "
			    "or 'xarch doctor'",
			    p->arch->name, inner, p->arch->name);
			child_fail(repfd, STAGE_SETUP, &err);
		}
		note(o, XARCH_NOTE_INFO, "registered '%s' -> %s (flags %s)", res.rule.name,
		     res.rule.interpreter, res.rule.flags);
	}
	if (p->emu) {
		struct xarch_userns_opts uo = {.qemu_dir = o->qemu_dir, .force = true};
		struct xarch_binfmt_result res;
		if (xarch_userns_private_binfmt(p->emu, &uo, &res, &err) < 0)
			child_fail(repfd, STAGE_SETUP, &err);
	}
	if (setup_mounts(p, &err) < 0)
		child_fail(repfd, STAGE_SETUP, &err);
	if (sethostname(p->hostname, strlen(p->hostname)) < 0) {
		xarch_err_sys(&err, errno, "cannot set the hostname");
		child_fail(repfd, STAGE_SETUP, &err);
	}
	if ((o->network == XARCH_NET_NONE && lo_up(&err) < 0) ||
	    child_stdio(p, ptysock, &err) < 0 || child_user(p, &err) < 0 ||
	    child_workdir(p, &err) < 0)
		child_fail(repfd, STAGE_SETUP, &err);
	close(ptysock);

	char prog[PATH_MAX];
	struct stat st;
	int r = child_find(p, prog, sizeof(prog), &st);
	if (r < 0) {
		xarch_err_sys(&err, -r, "cannot run '%s' in the container", p->argv[0]);
		child_fail(repfd, r == -ENOENT ? STAGE_CMD_NOTFOUND : STAGE_CMD, &err);
	}
	/* Without C the kernel takes the credentials from qemu, not from the
	 * program: a setuid program would run without its privileges. */
	if (p->mode != RUN_NATIVE && !p->entry_has_c && (st.st_mode & S_ISUID) &&
	    st.st_uid != geteuid()) {
		xarch_err(&err, EPERM,
			  "'%s' is setuid but binfmt entry '%s' lacks the C flag: rerun with "
			  "--credential",
			  prog, p->entry);
		child_fail(repfd, STAGE_CMD, &err);
	}
	umask(umask_saved);
	if (o->init == XARCH_INIT_YES || (o->init == XARCH_INIT_AUTO && p->mode != RUN_NATIVE))
		mini_init(repfd, mask);
	if (cpus)
		sched_setaffinity(0, sizeof(*cpus), cpus);
	sigprocmask(SIG_SETMASK, mask, NULL);
	syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
	execve(prog, p->argv, p->envp);
	r = errno;
	xarch_err_sys(&err, r, "cannot run '%s' in the container", prog);
	if (r == ENOENT)
		xarch_err_hint(&err, "its interpreter (ld.so) is missing from the rootfs?");
	else if (r == ENOEXEC)
		xarch_err_hint(&err, "not a program this kernel or binfmt_misc can run");
	child_fail(repfd, r == ENOENT ? STAGE_CMD_NOTFOUND : STAGE_CMD, &err);
}

/* The parent ----------------------------------------------------------------*/

/* Root's maps: every id this process has, onto itself ("0 0 4294967295"
 * on the host; inside another user namespace only what that one maps). */
static int write_identity_map(pid_t pid, const char *which)
{
	char path[64], buf[1024], out[1024];
	snprintf(path, sizeof(path), "/proc/self/%s", which);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (n <= 0)
		return fd < 0 ? -errno : -EIO;
	buf[n] = '\0';
	size_t o = 0;
	char *save = NULL;
	for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		unsigned long in, outside, count;
		if (sscanf(l, "%lu %lu %lu", &in, &outside, &count) != 3)
			continue;
		int k = snprintf(out + o, sizeof(out) - o, "%lu %lu %lu\n", in, in, count);
		if (k < 0 || (size_t)k >= sizeof(out) - o)
			return -E2BIG;
		o += (size_t)k;
	}
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, which);
	return xa_write_existing(path, out, o);
}

static int write_identity_maps(pid_t pid, struct xarch_error *err)
{
	int r = write_identity_map(pid, "uid_map");
	if (r == 0)
		r = write_identity_map(pid, "gid_map");
	if (r < 0)
		return xarch_userns_explain(XARCH_USERNS_MAP, -r, NULL, err);
	return 0;
}

struct relay {
	int master; /* -1 without -t */
	bool stdin_open;
	bool raw;
	struct termios saved;
};

static void copy_winsize(int master)
{
	struct winsize ws;
	if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0 || ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0)
		ioctl(master, TIOCSWINSZ, &ws);
}

static void write_all(int fd, const char *buf, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, buf, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		buf += w;
		n -= (size_t)w;
	}
}

/* Move what is there from `from` to `to`; false at EOF or error. */
static bool pump(int from, int to)
{
	char buf[8192];
	ssize_t n = read(from, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0)
		return false;
	write_all(to, buf, (size_t)n);
	return true;
}

/* Forward signals, relay the pty, reap.  Returns the wait status. */
static int supervise(pid_t pid, int sfd, struct relay *rl, const struct xarch_container_opts *o)
{
	int status = 0, killed_for = 0, n_term = 0;
	long deadline = -1;
	bool done = false;
	while (!done) {
		struct pollfd fds[3] = {
		    {.fd = sfd, .events = POLLIN},
		    {.fd = rl->master >= 0 && rl->stdin_open ? STDIN_FILENO : -1, .events = POLLIN},
		    {.fd = rl->master, .events = POLLIN}};
		int timeout = deadline < 0 ? -1 : (int)(deadline - xa_now_ms());
		if (deadline >= 0 && timeout < 0)
			timeout = 0;
		int r = poll(fds, 3, timeout);
		if (r < 0 && errno != EINTR)
			break;
		if (deadline >= 0 && xa_now_ms() >= deadline) {
			kill(pid, SIGKILL);
			deadline = -1;
		}
		if (r <= 0)
			continue;
		if (fds[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				int sig = (int)si.ssi_signo;
				if (sig == SIGCHLD) {
					pid_t w = waitpid(pid, &status, WNOHANG);
					if (w == pid)
						done = true;
					continue;
				}
				if (sig == SIGWINCH && rl->master >= 0) {
					copy_winsize(rl->master);
					continue;
				}
				kill(pid, sig);
				if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP ||
				    sig == SIGQUIT) {
					/* PID 1 ignores signals it has no handler for (and qemu
					 * emulating a default action on PID 1 hangs): give it
					 * a moment, then a second signal or the timeout kills */
					killed_for = sig;
					if (++n_term >= 2)
						kill(pid, SIGKILL);
					else
						deadline = xa_now_ms() + KILL_GRACE_MS;
				}
			}
		}
		if (fds[1].revents & (POLLIN | POLLHUP | POLLERR) &&
		    !pump(STDIN_FILENO, rl->master)) {
			/* EOF on our stdin: an end-of-file for the pty's reader */
			char eof = rl->raw ? rl->saved.c_cc[VEOF] : 4;
			write_all(rl->master, &eof, 1);
			rl->stdin_open = false;
		}
		if (fds[2].revents & (POLLIN | POLLHUP | POLLERR) &&
		    !pump(rl->master, STDOUT_FILENO)) {
			close(rl->master);
			rl->master = -1;
		}
	}
	if (rl->master >= 0) {
		/* what the command wrote just before exiting */
		fcntl(rl->master, F_SETFL, fcntl(rl->master, F_GETFL) | O_NONBLOCK);
		while (pump(rl->master, STDOUT_FILENO)) {
			struct pollfd pf = {.fd = rl->master, .events = POLLIN};
			if (poll(&pf, 1, 0) <= 0)
				break;
		}
	}
	(void)o;
	/* killed by our SIGKILL after a forwarded signal: report that signal */
	if (killed_for && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
		status = killed_for;
	return status;
}

static int clone_child(unsigned long flags)
{
	/* fork semantics (no new stack): the child continues here */
	return (int)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, 0);
}

static int run(struct plan *p, int *ret_wstatus, struct xarch_error *err)
{
	const struct xarch_container_opts *o = p->o;
	int rep[2] = {-1, -1}, sync[2] = {-1, -1}, pty[2] = {-1, -1};
	_cleanup_close_ int sfd = -1;
	sigset_t set, old;
	int rc;
	if (pipe2(rep, O_CLOEXEC) < 0 || pipe2(sync, O_CLOEXEC) < 0 ||
	    (o->tty && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pty) < 0)) {
		rc = xarch_err_sys(err, errno, "cannot create pipes");
		goto out_fds;
	}

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	for (size_t i = 0; i < ARRAY_SIZE(forwarded); i++)
		sigaddset(&set, forwarded[i]);
	sigprocmask(SIG_BLOCK, &set, &old);
	sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		rc = xarch_err_sys(err, errno, "signalfd");
		goto out_mask;
	}

	unsigned long flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC;
	if (o->network == XARCH_NET_NONE)
		flags |= CLONE_NEWNET;
	if (p->userns)
		flags |= CLONE_NEWUSER;
	fflush(stdout);
	fflush(stderr);
	/* Keep the child on this CPU: the parent goes to sleep right away
	 * and the child takes over without waking an idle CPU (on VMs that
	 * wake-up alone costs about a millisecond). */
	cpu_set_t cpus, one;
	bool pinned = false;
	int cpu = sched_getcpu();
	if (cpu >= 0 && sched_getaffinity(0, sizeof(cpus), &cpus) == 0) {
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		pinned = sched_setaffinity(0, sizeof(one), &one) == 0;
	}
	pid_t pid = clone_child(flags);
	if (pid != 0 && pinned)
		sched_setaffinity(0, sizeof(cpus), &cpus);
	if (pid < 0) {
		int e = errno;
		if (p->userns && (e == EPERM || e == ENOSPC || e == EUSERS))
			rc = xarch_userns_explain(XARCH_USERNS_UNSHARE, e, NULL, err);
		else
			rc = xarch_err_sys(err, e, "cannot create the container's namespaces");
		goto out_mask;
	}
	if (pid == 0) {
		close(rep[0]);
		close(sync[1]);
		if (pty[0] >= 0)
			close(pty[0]);
		child_main(p, rep[1], sync[0], pty[1], &old, pinned ? &cpus : NULL);
		_exit(127);
	}
	close(rep[1]);
	close(sync[0]);
	rep[1] = sync[0] = -1;
	if (pty[1] >= 0) {
		close(pty[1]);
		pty[1] = -1;
	}

	if (p->userns) {
		rc = p->rootless ? xarch_idmaps_apply(pid, &p->maps, err)
				 : write_identity_maps(pid, err);
		if (rc < 0) {
			close(sync[1]); /* the child exits on EOF */
			sync[1] = -1;
			waitpid(pid, NULL, 0);
			goto out_mask;
		}
		if (write(sync[1], "g", 1) != 1) {
			rc = xarch_err_sys(err, errno, "cannot start the container");
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			goto out_mask;
		}
	}

	struct relay rl = {.master = -1};
	if (o->tty) {
		rl.master = recv_fd(pty[0]);
		rl.stdin_open = o->interactive;
	}
	struct report r = {0};
	ssize_t n;
	do
		n = read(rep[0], &r, sizeof(r));
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(r)) {
		if (rl.master >= 0)
			close(rl.master);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		if (r.stage == STAGE_SETUP) {
			rc = xarch_err(err, r.code, "%s", r.msg);
			goto out_mask;
		}
		note(o, XARCH_NOTE_ERROR, "%s", r.msg);
		*ret_wstatus = W_EXITCODE(r.stage == STAGE_CMD_NOTFOUND ? 127 : 126, 0);
		rc = 0;
		goto out_mask;
	}
	/* exec'ed (or died without a word: its status tells) */
	if (rl.master >= 0) {
		copy_winsize(rl.master);
		if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &rl.saved) == 0) {
			struct termios raw = rl.saved;
			cfmakeraw(&raw);
			rl.raw = tcsetattr(STDIN_FILENO, TCSADRAIN, &raw) == 0;
		}
	}
	*ret_wstatus = supervise(pid, sfd, &rl, o);
	if (rl.raw)
		tcsetattr(STDIN_FILENO, TCSADRAIN, &rl.saved);
	if (rl.master >= 0)
		close(rl.master);
	rc = 0;
out_mask:
	/* signals that arrived meanwhile are dropped with the signalfd */
	sigprocmask(SIG_SETMASK, &old, NULL);
out_fds:
	for (int i = 0; i < 2; i++) {
		if (rep[i] >= 0)
			close(rep[i]);
		if (sync[i] >= 0)
			close(sync[i]);
		if (pty[i] >= 0)
			close(pty[i]);
	}
	return rc;
}

int xarch_container_run(const struct xarch_container_opts *o, int *ret_wstatus,
			struct xarch_error *err)
{
	struct xarch_error local = {0};
	if (!err) /* the helpers below read err->code */
		err = &local;
	if (!o || !o->rootfs || !*o->rootfs)
		return xarch_err(err, EINVAL, "no rootfs given");
	_cleanup_close_ int rootfd = xarch_root_open_dir(o->rootfs, err);
	if (rootfd < 0)
		return rootfd;
	struct plan p = {.o = o};
	int wstatus = 0;
	int r = plan_make(&p, rootfd, err);
	if (r >= 0) {
		r = run(&p, &wstatus, err);
	} else if (p.cmd_missing) {
		note(o, XARCH_NOTE_ERROR, "%s", err->msg);
		wstatus = W_EXITCODE(127, 0);
		r = 0;
	}
	plan_release(&p);
	if (r < 0)
		return r;
	if (ret_wstatus)
		*ret_wstatus = wstatus;
	return 0;
}
