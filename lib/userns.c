// SPDX-License-Identifier: MIT
/*
 * A private binfmt_misc in a new user namespace (Linux >= 6.7).
 *
 * The kernel looks for binfmt_misc entries in the caller's user namespace
 * and walks up to its parents until one has an instance.  Mounting
 * binfmt_misc inside a fresh user namespace creates that instance, empty:
 * from then on the host's entries are invisible there, even after an
 * unmount.  So we read the host table first and re-register the entries
 * that still work, then add ours.  Nothing outside the namespace changes.
 */
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include "internal.h"
#include "xarch/binfmt.h"
#include "xarch/exec.h"
#include "xarch/probe.h"
#include "xarch/userns.h"

int xarch_userns_explain(enum xarch_userns_stage stage, int errnum, const char *kernel_release,
			 struct xarch_error *err)
{
	struct utsname u;
	if (!kernel_release)
		kernel_release = uname(&u) == 0 ? u.release : "?";
	unsigned major = 0, minor = 0;
	sscanf(kernel_release, "%u.%u", &major, &minor);
	switch (stage) {
	case XARCH_USERNS_UNSHARE:
		if (errnum == EINVAL)
			return xarch_err(err, errnum,
					 "cannot create a user namespace: the process is "
					 "multi-threaded (unshare needs a single thread)");
		xarch_err_sys(err, errnum, "cannot create a user namespace");
		xarch_err_hint(err, "fix: allow unprivileged user namespaces (sysctl "
				    "user.max_user_namespaces, kernel.unprivileged_userns_clone, "
				    "AppArmor's restrict_unprivileged_userns) or run 'sudo xarch "
				    "binfmt install' instead");
		return -errnum;
	case XARCH_USERNS_MAP:
		xarch_err_sys(err, errnum, "cannot map the user into the new user namespace");
		xarch_err_hint(err, "fix: run 'sudo xarch binfmt install' instead");
		return -errnum;
	case XARCH_USERNS_MOUNT:
		if (errnum == EPERM || errnum == EINVAL || errnum == ENODEV || errnum == EACCES) {
			if (major > 6 || (major == 6 && minor >= 7))
				return xarch_err(
				    err, errnum,
				    "this kernel (%u.%u) refused a private binfmt_misc "
				    "(%s); fix: check that binfmt_misc is built in or "
				    "loaded ('modprobe binfmt_misc'), or run 'sudo xarch "
				    "binfmt install' instead",
				    major, minor, strerror(errnum));
			return xarch_err(err, errnum,
					 "this kernel (%u.%u) has no per-user-namespace "
					 "binfmt_misc (needs >= 6.7): run 'sudo xarch binfmt "
					 "install' instead",
					 major, minor);
		}
		return xarch_err_sys(err, errnum, "cannot mount a private binfmt_misc");
	}
	return xarch_err(err, errnum, "user namespace setup failed");
}

static int write_proc(const char *path, const char *s)
{
	return xa_write_existing(path, s, strlen(s));
}

/* A new binfmt_misc instance for the calling process's user namespace. */
static int mount_private(void)
{
	/* our mounts must not propagate anywhere (they would not: a mount
	 * namespace owned by a new user namespace gets slave copies; belt
	 * and braces) */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return -errno;
	if (mount("binfmt_misc", XARCH_BINFMT_DIR, "binfmt_misc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  NULL) < 0)
		return -errno;
	return 0;
}

/* unshare + maps + private binfmt_misc; on failure *ret_stage says where. */
static int enter(uid_t uid, gid_t gid, enum xarch_userns_stage *ret_stage)
{
	char map[64];
	*ret_stage = XARCH_USERNS_UNSHARE;
	if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
		return -errno;
	*ret_stage = XARCH_USERNS_MAP;
	int r = write_proc("/proc/self/setgroups", "deny");
	if (r < 0 && r != -ENOENT)
		return r;
	snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)uid);
	if ((r = write_proc("/proc/self/uid_map", map)) < 0)
		return r;
	snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)gid);
	if ((r = write_proc("/proc/self/gid_map", map)) < 0)
		return r;
	*ret_stage = XARCH_USERNS_MOUNT;
	return mount_private();
}

int xarch_userns_binfmt_supported(struct xarch_error *err)
{
	uid_t uid = geteuid();
	gid_t gid = getegid();
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return xarch_err_sys(err, errno, "pipe");
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(pfd[0]);
		close(pfd[1]);
		return xarch_err_sys(err, e, "fork");
	}
	if (pid == 0) {
		close(pfd[0]);
		enum xarch_userns_stage stage;
		int r = enter(uid, gid, &stage);
		int msg[2] = {(int)stage, -r};
		if (r < 0 && write(pfd[1], msg, sizeof(msg)) < 0)
			_exit(2);
		_exit(r < 0 ? 1 : 0);
	}
	close(pfd[1]);
	int msg[2] = {0, 0};
	ssize_t got = read(pfd[0], msg, sizeof(msg));
	close(pfd[0]);
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return xarch_err_sys(err, errno, "waitpid");
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 1;
	if (got != (ssize_t)sizeof(msg))
		return xarch_err(err, EIO, "the user namespace test did not report back");
	xarch_userns_explain((enum xarch_userns_stage)msg[0], msg[1], NULL, err);
	return 0;
}

void xarch_userns_report_release(struct xarch_userns_report *r)
{
	if (!r)
		return;
	free(r->results);
	free(r->copied);
	r->results = NULL;
	r->copied = NULL;
	r->n = r->n_copied = 0;
}

static int rm_tree_links(const char *dir)
{
	_cleanup_closedir_ DIR *d = opendir(dir);
	if (!d)
		return -errno;
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlinkat(dirfd(d), e->d_name, 0);
	return rmdir(dir) < 0 ? -errno : 0;
}

/* With F the kernel opens the interpreter when it is registered, so
 * -binfmt-P links may live in a throwaway directory (*ret_throwaway: remove
 * it after registering); without F they must outlive us. */
static int pick_link_dir(const char *flags, char *buf, size_t len, bool *ret_throwaway,
			 struct xarch_error *err)
{
	if (!flags)
		flags = XARCH_BINFMT_DEFAULT_FLAGS;
	const char *rt = getenv("XDG_RUNTIME_DIR");
	if (!strpbrk(flags, "Ff") && rt && rt[0] == '/' && access(rt, W_OK) == 0) {
		*ret_throwaway = false;
		return xa_snprintf(buf, len, "%s/xarch/binfmt", rt) < 0
			   ? xarch_err(err, ENAMETOOLONG, "path too long: '%s'", rt)
			   : 0;
	}
	const char *tmp = getenv("TMPDIR");
	if (!tmp || tmp[0] != '/')
		tmp = "/tmp";
	if (xa_snprintf(buf, len, "%s/xarch-binfmt-XXXXXX", tmp) < 0)
		return xarch_err(err, ENAMETOOLONG, "path too long: '%s'", tmp);
	if (!mkdtemp(buf))
		return xarch_err_sys(err, errno, "cannot create '%s'", buf);
	*ret_throwaway = strpbrk(flags, "Ff") != NULL;
	return 0;
}

static bool rule_is_ours(const struct xarch_binfmt_rule *r, const struct xarch_arch **list,
			 size_t n)
{
	const struct xarch_arch *runs[8];
	size_t m = xarch_binfmt_rule_arches(r, runs, ARRAY_SIZE(runs));
	for (size_t i = 0; i < n; i++) {
		char name[64];
		snprintf(name, sizeof(name), XARCH_BINFMT_PREFIX "%s", list[i]->name);
		if (strcmp(name, r->name) == 0)
			return true;
		for (size_t j = 0; j < m && j < ARRAY_SIZE(runs); j++)
			if (runs[j] == list[i])
				return true;
	}
	return false;
}

/* The registration options a private table gets from the userns ones. */
static struct xarch_binfmt_install_opts install_opts(const struct xarch_userns_opts *o,
						     const char *link_dir)
{
	return (struct xarch_binfmt_install_opts){
		.qemu_dir = o->qemu_dir,
		.flags = o->flags,
		.link_dir = link_dir,
		.credential = o->credential,
		.credential_only = o->credential_only,
		.force = o->force,
		.allow_dynamic = o->allow_dynamic,
		.verify = o->verify,
	};
}

int xarch_userns_enter_report(const struct xarch_userns_opts *o, struct xarch_userns_report *ret,
			      struct xarch_error *err)
{
	struct xarch_userns_report rep = {0};
	struct xarch_binfmt_table host = {0};
	_cleanup_free_ const struct xarch_arch **list = NULL;
	size_t n = 0;
	int rc = xarch_binfmt_pick_arches(o->arches, o->qemu_dir, &list, &n, err);
	if (rc < 0)
		return rc;
	if (o->copy_host && (rc = xarch_binfmt_table_read(NULL, &host, err)) < 0)
		return rc;

	char link_dir[4096] = "";
	bool throwaway = false;
	if ((rc = pick_link_dir(o->flags, link_dir, sizeof(link_dir), &throwaway, err)) < 0)
		goto out;

	enum xarch_userns_stage stage;
	rc = enter(geteuid(), getegid(), &stage);
	if (rc < 0) {
		xarch_userns_explain(stage, -rc, NULL, err);
		goto out;
	}

	rep.copied = calloc(host.n + 1, sizeof(*rep.copied));
	if (!rep.copied) {
		rc = xarch_err(err, ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < host.n; i++) {
		const struct xarch_binfmt_rule *r = &host.rules[i];
		if (!r->enabled || access(r->interpreter, F_OK) < 0 || rule_is_ours(r, list, n))
			continue;
		if (xarch_binfmt_register(NULL, r, NULL) == 0)
			xa_strcpy(rep.copied[rep.n_copied++], sizeof(rep.copied[0]), r->name);
		else
			rep.n_copy_failed++;
	}

	struct xarch_binfmt_install_opts io = install_opts(o, link_dir);
	rc = xarch_binfmt_install_list(list, n, o->arches && o->arches[0], &io, &rep.results, err);
	if (rc < 0)
		goto out;
	rep.n = n;
	rc = 0;
out:
	if (throwaway)
		rm_tree_links(link_dir);
	xarch_binfmt_table_release(&host);
	if (rc == 0 && ret)
		*ret = rep;
	else
		xarch_userns_report_release(&rep);
	return rc;
}

int xarch_userns_private_binfmt(const struct xarch_arch *a, const struct xarch_userns_opts *o,
				struct xarch_binfmt_result *ret, struct xarch_error *err)
{
	int rc = mount_private();
	if (rc < 0)
		return xarch_userns_explain(XARCH_USERNS_MOUNT, -rc, NULL, err);
	char link_dir[4096];
	bool throwaway = false;
	if ((rc = pick_link_dir(o->flags, link_dir, sizeof(link_dir), &throwaway, err)) < 0)
		return rc;
	struct xarch_binfmt_install_opts io = install_opts(o, link_dir);
	rc = xarch_binfmt_install_arch(a, &io, ret, err);
	if (rc == 0 && ret->outcome == XARCH_BINFMT_SKIP_NO_QEMU)
		rc = -ENOENT; /* err holds xarch_find_qemu's message */
	if (throwaway)
		rm_tree_links(link_dir);
	return rc;
}

int xarch_userns_enter(const struct xarch_userns_opts *o, struct xarch_error *err)
{
	return xarch_userns_enter_report(o, NULL, err);
}
