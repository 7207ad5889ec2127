// SPDX-License-Identifier: MIT
/*
 * Registering qemu-user in binfmt_misc: finding the emulator, giving it the
 * argv[0] Debian's QEMU needs for the P flag, conflict checks against the
 * live table, the kernel's errors turned into advice, verification with a
 * probe program, and systemd-binfmt files.
 *
 * Entries are always named xarch-<arch> so a distribution's qemu-<arch>
 * entries are never clobbered, and removal writes -1 to one entry file:
 * never to `status`, which would drop every entry on the system.
 */
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include "internal.h"
#include "xarch/binfmt.h"
#include "xarch/exec.h"
#include "xarch/probe.h"

static const char *dir_or_default(const char *dir)
{
	return dir ? dir : XARCH_BINFMT_DIR;
}

int xarch_binfmt_mount(const char *dir, struct xarch_error *err)
{
	char reg[4096];
	dir = dir_or_default(dir);
	if (xa_snprintf(reg, sizeof(reg), "%s/register", dir) < 0)
		return xarch_err(err, ENAMETOOLONG, "path too long: '%s'", dir);
	if (access(reg, F_OK) == 0)
		return 0;
	if (mount("binfmt_misc", dir, "binfmt_misc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == 0)
		return 1;
	int e = errno;
	xarch_err_sys(err, e, "cannot mount binfmt_misc on '%s'", dir);
	switch (e) {
	case EPERM:
	case EACCES:
		xarch_err_hint(err, "fix: run as root (sudo) or use --userns");
		break;
	case ENODEV:
		xarch_err_hint(err, "fix: load the module with 'modprobe binfmt_misc'");
		break;
	case ENOENT:
		xarch_err_hint(err, "fix: is /proc mounted?");
		break;
	}
	return -e;
}

int xarch_binfmt_register(const char *dir, const struct xarch_binfmt_rule *r,
			  struct xarch_error *err)
{
	char line[2048], path[4096];
	int n = xarch_binfmt_format_line(r, line, sizeof(line));
	if (n < 0)
		return xarch_err(err, ENAMETOOLONG, "cannot register '%s': rule too long", r->name);
	if (!xarch_binfmt_name_ok(r->name))
		return xarch_err(err, EINVAL, "cannot register '%s': bad entry name", r->name);
	if (xa_snprintf(path, sizeof(path), "%s/register", dir_or_default(dir)) < 0)
		return xarch_err(err, ENAMETOOLONG, "path too long");
	int rc = xa_write_existing(path, line, (size_t)n);
	if (rc == 0)
		return 0;
	xarch_err_sys(err, -rc, "cannot register '%s'", r->name);
	switch (-rc) {
	case EEXIST:
		xarch_err_hint(err,
			       "fix: an entry of that name exists; remove it first "
			       "('xarch binfmt remove --force %s')",
			       r->name);
		break;
	case EINVAL:
		xarch_err_hint(err,
			       "fix: the kernel rejected the rule: an unknown flag in '%s', or "
			       "a kernel older than 4.8 without F support (try --flags PO)",
			       r->flags);
		break;
	case ENOENT:
		if (access(dir_or_default(dir), F_OK) == 0 && access(path, F_OK) < 0)
			xarch_err_hint(err, "fix: binfmt_misc is not mounted on '%s'",
				       dir_or_default(dir));
		else
			xarch_err_hint(err,
				       "fix: interpreter '%s' is missing; install "
				       "qemu-user-static or pass --qemu-dir",
				       r->interpreter);
		break;
	case EPERM:
	case EACCES:
		xarch_err_hint(err, "fix: run as root (sudo) or use --userns for a private table");
		break;
	}
	return rc;
}

int xarch_binfmt_unregister(const char *dir, const char *name, struct xarch_error *err)
{
	char path[4096];
	if (!xarch_binfmt_name_ok(name))
		return xarch_err(err, EINVAL, "'%s' is not a binfmt_misc entry name",
				 name ? name : "");
	if (xa_snprintf(path, sizeof(path), "%s/%s", dir_or_default(dir), name) < 0)
		return xarch_err(err, ENAMETOOLONG, "path too long");
	int rc = xa_write_existing(path, "-1", 2);
	if (rc == -ENOENT)
		return xarch_err(err, ENOENT, "no binfmt_misc entry '%s'", name);
	if (rc < 0) {
		xarch_err_sys(err, -rc, "cannot remove '%s'", name);
		if (rc == -EPERM || rc == -EACCES)
			xarch_err_hint(err, "fix: run as root (sudo)");
	}
	return rc;
}

static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;
	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

static int default_link_dir(char *buf, size_t len)
{
	if (geteuid() == 0)
		return xa_strcpy(buf, len, XARCH_BINFMT_RUN_DIR);
	const char *rt = getenv("XDG_RUNTIME_DIR");
	if (rt && rt[0] == '/')
		return xa_snprintf(buf, len, "%s/xarch/binfmt", rt);
	return -ENOENT;
}

int xarch_binfmt_p_interpreter(const struct xarch_arch *a, const char *qemu, const char *link_dir,
			       char *buf, size_t len, struct xarch_error *err)
{
	char distro[4096], dir[4096], link[4096], tmp[4096], target[PATH_MAX];
	snprintf(distro, sizeof(distro), XARCH_BINFMT_QEMU_P_DIR "/%s-binfmt-P", a->name);
	if (same_file(distro, qemu))
		return xa_strcpy(buf, len, distro);
	if (link_dir) {
		if (xa_strcpy(dir, sizeof(dir), link_dir) < 0)
			return xarch_err(err, ENAMETOOLONG, "path too long: '%s'", link_dir);
	} else if (default_link_dir(dir, sizeof(dir)) < 0) {
		return xarch_err(
		    err, ENOENT,
		    "no directory for the '%s-binfmt-P' link: XDG_RUNTIME_DIR is unset", a->name);
	}
	if (!realpath(qemu, target))
		return xarch_err_sys(err, errno, "cannot resolve '%s'", qemu);
	if (xa_snprintf(link, sizeof(link), "%s/%s-binfmt-P", dir, a->name) < 0 ||
	    xa_snprintf(tmp, sizeof(tmp), "%s/.%s-binfmt-P.%d", dir, a->name, (int)getpid()) < 0)
		return xarch_err(err, ENAMETOOLONG, "path too long: '%s'", dir);
	int rc = xa_mkdir_p(dir, 0755);
	if (rc < 0)
		return xarch_err_sys(err, -rc, "cannot create '%s'", dir);
	if (same_file(link, target))
		return xa_strcpy(buf, len, link);
	unlink(tmp);
	if (symlink(target, tmp) < 0)
		return xarch_err_sys(err, errno, "cannot create '%s'", tmp);
	if (rename(tmp, link) < 0) {
		int e = errno;
		unlink(tmp);
		return xarch_err_sys(err, e, "cannot create '%s'", link);
	}
	return xa_strcpy(buf, len, link);
}

const char *xarch_binfmt_outcome_str(enum xarch_binfmt_outcome o)
{
	switch (o) {
	case XARCH_BINFMT_REGISTERED:
		return "registered";
	case XARCH_BINFMT_VERIFIED:
		return "registered and verified";
	case XARCH_BINFMT_P_BROKEN:
		return "registered, P flag not honoured by this qemu";
	case XARCH_BINFMT_NOT_RUNNING:
		return "registered, but the probe did not run";
	case XARCH_BINFMT_SKIP_NATIVE:
		return "skipped: the host runs it natively";
	case XARCH_BINFMT_SKIP_NO_QEMU:
		return "skipped: no qemu found";
	case XARCH_BINFMT_SKIP_CONFLICT:
		return "skipped: another entry claims it";
	case XARCH_BINFMT_FAILED:
		return "failed";
	}
	return "?";
}

static int flags_for(const struct xarch_binfmt_install_opts *o, const struct xarch_arch *a,
		     char *out, size_t len, struct xarch_error *err)
{
	bool cred = o->credential &&
		    (!o->credential_only || xarch_binfmt_list_has(o->credential_only, a));
	char f[16];
	const char *in = o->flags ? o->flags : XARCH_BINFMT_DEFAULT_FLAGS;
	if (strlen(in) > 8)
		return xarch_err(err, EINVAL, "bad flags '%s': use letters from POCF", in);
	for (const char *c = in; *c; c++)
		if (!strchr("POCFpocf", *c))
			return xarch_err(err, EINVAL, "unknown flag '%c' in '%s' (known: P O C F)",
					 *c, in);
	snprintf(f, sizeof(f), "%s%s", in, cred ? "CO" : "");
	/* C implies O: the kernel needs the open file to take its credentials */
	if (strpbrk(f, "Cc") && !strpbrk(f, "Oo"))
		strcat(f, "O");
	size_t k = 0;
	for (const char *c = "POCF"; *c && k + 1 < len; c++)
		if (strchr(f, *c) || strchr(f, *c + 32))
			out[k++] = *c;
	out[k] = '\0';
	return 0;
}

int xarch_binfmt_install_arch(const struct xarch_arch *a, const struct xarch_binfmt_install_opts *o,
			      struct xarch_binfmt_result *ret, struct xarch_error *err)
{
	struct xarch_binfmt_result *res = ret;
	char flags[8], interp[4096];
	memset(res, 0, sizeof(*res));
	res->arch = a;
	res->outcome = XARCH_BINFMT_FAILED;
	int rc = flags_for(o, a, flags, sizeof(flags), err);
	if (rc < 0)
		return rc;
	xarch_binfmt_rule_for_arch(a, "", flags, &res->rule);

	if (!o->force && xarch_arch_runs_natively(a) == 1) {
		res->outcome = XARCH_BINFMT_SKIP_NATIVE;
		return 0;
	}
	if (xarch_find_qemu(a, o->qemu_dir, res->qemu, sizeof(res->qemu), err) < 0) {
		res->outcome = XARCH_BINFMT_SKIP_NO_QEMU;
		return 0;
	}
	if (strchr(flags, 'F')) {
		int s = xa_is_static_elf(res->qemu);
		if (s == 0 && !o->allow_dynamic) {
			xarch_err(
			    err, ENOEXEC,
			    "cannot register '%s': '%s' is dynamically linked, and with the F "
			    "flag it would fail inside chroots and containers",
			    res->rule.name, res->qemu);
			xarch_err_hint(err, "fix: install qemu-user-static, or pass "
					    "--allow-dynamic");
			return -ENOEXEC;
		}
		res->static_unknown = s < 0;
	}
	if (strchr(flags, 'P')) {
		rc = xarch_binfmt_p_interpreter(a, res->qemu, o->link_dir, interp, sizeof(interp),
						err);
		if (rc < 0)
			return rc;
	} else if (xa_strcpy(interp, sizeof(interp), res->qemu) < 0) {
		return xarch_err(err, ENAMETOOLONG, "path too long: '%s'", res->qemu);
	}
	xarch_binfmt_rule_for_arch(a, interp, flags, &res->rule);

	struct xarch_binfmt_table t;
	rc = xarch_binfmt_table_read(o->dir, &t, err);
	if (rc < 0)
		return rc;
	bool exists = false;
	for (size_t i = 0; i < t.n; i++) {
		const struct xarch_binfmt_rule *e = &t.rules[i];
		if (strcmp(e->name, res->rule.name) == 0) {
			exists = true;
			continue;
		}
		if (e->enabled && !res->conflict[0] && xarch_binfmt_overlap(e, &res->rule))
			xa_strcpy(res->conflict, sizeof(res->conflict), e->name);
	}
	bool mounted = t.mounted;
	xarch_binfmt_table_release(&t);
	if (!mounted)
		return xarch_err(err, ENOENT, "cannot register '%s': binfmt_misc is not mounted",
				 res->rule.name);
	if (res->conflict[0] && !o->force) {
		res->outcome = XARCH_BINFMT_SKIP_CONFLICT;
		return 0;
	}
	if (exists) {
		rc = xarch_binfmt_unregister(o->dir, res->rule.name, err);
		if (rc < 0 && rc != -ENOENT)
			return rc;
		res->replaced = true;
	}
	rc = xarch_binfmt_register(o->dir, &res->rule, err);
	if (rc < 0)
		return rc;
	res->outcome = XARCH_BINFMT_REGISTERED;
	if (o->verify && xarch_probe_available(a)) {
		/* the kernel tries the newest entry first: ours, even over a
		 * conflicting one we were forced past */
		res->probe_status = xarch_probe_run(a, 2, NULL);
		if (res->probe_status == 3)
			res->outcome = XARCH_BINFMT_VERIFIED;
		else if (res->probe_status == 4 || res->probe_status == 2)
			res->outcome = XARCH_BINFMT_P_BROKEN;
		else
			res->outcome = XARCH_BINFMT_NOT_RUNNING;
	}
	return 0;
}


int xarch_binfmt_problems(const struct xarch_binfmt_rule *r, char *buf, size_t len)
{
	size_t o = 0;
	int n = 0;
	const struct xarch_arch *arches[1];
	bool emulator = r->type == 'M' && xarch_binfmt_rule_arches(r, arches, 1) > 0;
	struct stat st;
	bool present = stat(r->interpreter, &st) == 0;
	if (len)
		buf[0] = '\0';
#define ADD(...)                                                                                   \
	do {                                                                                       \
		int _k = snprintf(buf + o, o < len ? len - o : 0, __VA_ARGS__);                    \
		if (_k > 0)                                                                        \
			o += (size_t)_k;                                                           \
		n++;                                                                               \
	} while (0)
	if (!present)
		ADD("%sinterpreter '%s' is missing%s", n ? "\n" : "", r->interpreter,
		    strchr(r->flags, 'F') ? " (works until re-registered: F keeps it open)" : "");
	if (emulator && !strchr(r->flags, 'F'))
		ADD("%sno F flag: fails in chroots and containers without the interpreter",
		    n ? "\n" : "");
	if (emulator && present && xa_is_static_elf(r->interpreter) == 0)
		ADD("%sinterpreter is dynamically linked: fails inside chroots", n ? "\n" : "");
	if (xa_ends_with(r->interpreter, "-binfmt-P") && !strchr(r->flags, 'P'))
		ADD("%sinterpreter named *-binfmt-P without the P flag: QEMU drops argv[0]",
		    n ? "\n" : "");
	if (strchr(r->flags, 'P') && !xa_ends_with(r->interpreter, "-binfmt-P") &&
	    strncmp(strrchr(r->interpreter, '/') ? strrchr(r->interpreter, '/') + 1
						 : r->interpreter,
		    "qemu", 4) == 0)
		ADD("%sP flag with an interpreter not named *-binfmt-P: QEMU before 6.0 or a "
		    "kernel before 5.12 loses an argument",
		    n ? "\n" : "");
	if (strchr(r->flags, 'C'))
		ADD("%sC flag: setuid foreign binaries run with their owner's rights",
		    n ? "\n" : "");
#undef ADD
	return n;
}

static int conf_path(const char *root, const char *name, char *buf, size_t len)
{
	if (!xarch_binfmt_name_ok(name))
		return -EINVAL;
	return xa_snprintf(buf, len, "%s" XARCH_BINFMT_CONF_DIR "/%s.conf", root ? root : "", name);
}

int xarch_binfmt_persist_write(const char *root, const struct xarch_binfmt_rule *r,
			       struct xarch_error *err)
{
	char path[4096], dir[4096], line[2048], text[2300];
	if (conf_path(root, r->name, path, sizeof(path)) < 0)
		return xarch_err(err, EINVAL, "bad entry name '%s'", r->name);
	int n = xarch_binfmt_format_line(r, line, sizeof(line));
	if (n < 0)
		return xarch_err(err, ENAMETOOLONG, "rule '%s' too long", r->name);
	if (xa_snprintf(text, sizeof(text),
			"# written by 'xarch binfmt install --persist'; loaded at boot by "
			"systemd-binfmt\n%s\n",
			line) < 0)
		return xarch_err(err, ENAMETOOLONG, "rule '%s' too long", r->name);
	snprintf(dir, sizeof(dir), "%s" XARCH_BINFMT_CONF_DIR, root ? root : "");
	int rc = xa_mkdir_p(dir, 0755);
	if (rc < 0)
		return xarch_err_sys(err, -rc, "cannot create '%s'", dir);
	return xa_write_atomic(path, text, strlen(text), 0644, err);
}

int xarch_binfmt_persist_remove(const char *root, const char *name, struct xarch_error *err)
{
	char path[4096];
	if (conf_path(root, name, path, sizeof(path)) < 0)
		return xarch_err(err, EINVAL, "bad entry name '%s'", name);
	if (unlink(path) < 0) {
		if (errno == ENOENT)
			return -ENOENT;
		return xarch_err_sys(err, errno, "cannot remove '%s'", path);
	}
	return 0;
}

bool xarch_binfmt_list_has(const char *csv, const struct xarch_arch *a)
{
	while (csv && *csv) {
		const char *e = strchrnul(csv, ',');
		char name[64];
		if ((size_t)(e - csv) < sizeof(name)) {
			memcpy(name, csv, (size_t)(e - csv));
			name[e - csv] = '\0';
			if (xarch_arch_lookup(name) == a)
				return true;
		}
		csv = *e ? e + 1 : e;
	}
	return false;
}

int xarch_binfmt_pick_arches(const char *const *names, const char *qemu_dir,
			     const struct xarch_arch ***ret, size_t *ret_n, struct xarch_error *err)
{
	size_t n, k = 0, want = 0;
	const struct xarch_arch *t = xarch_arch_table(&n);
	while (names && names[want])
		want++;
	_cleanup_free_ const struct xarch_arch **list = calloc(want ? want : n, sizeof(*list));
	if (!list)
		return xarch_err(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < want; i++) {
		list[k] = xarch_arch_lookup(names[i]);
		if (!list[k++])
			return xarch_err(err, EINVAL,
					 "unknown architecture '%s'; 'xarch arch' lists the known names",
					 names[i]);
	}
	for (size_t i = 0; !want && i < n; i++) {
		char q[4096];
		if (xarch_find_qemu(&t[i], qemu_dir, q, sizeof(q), NULL) == 0)
			list[k++] = &t[i];
	}
	*ret = TAKE_PTR(list);
	*ret_n = k;
	return 0;
}

int xarch_binfmt_install_list(const struct xarch_arch *const *arches, size_t n, bool explicit,
			      const struct xarch_binfmt_install_opts *o,
			      struct xarch_binfmt_result **ret, struct xarch_error *err)
{
	struct xarch_binfmt_result *res = calloc(n ? n : 1, sizeof(*res));
	if (!res)
		return xarch_err(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		struct xarch_error e = { 0 };
		int rc = xarch_binfmt_install_arch(arches[i], o, &res[i], &e);
		if (rc == 0 && explicit && res[i].outcome == XARCH_BINFMT_SKIP_NO_QEMU)
			rc = -ENOENT;
		if (rc < 0) {
			res[i].outcome = XARCH_BINFMT_FAILED;
			snprintf(res[i].error, sizeof(res[i].error), "%s",
				 e.msg[0] ? e.msg : strerror(-rc));
		}
	}
	*ret = res;
	return 0;
}
