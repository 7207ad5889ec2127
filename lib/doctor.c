// SPDX-License-Identifier: MIT
/*
 * `xarch doctor`: look at the host and say, for each thing the workflows
 * need, whether it is there and the exact command that fixes it.  Doctor
 * only reads.  In particular it never touches /proc/sys/fs/binfmt_misc
 * unless /proc/self/mountinfo says binfmt_misc is mounted there: on
 * systemd hosts that path is an automount point and a mere access would
 * mount it.  The namespace tests run in children that exit at once.
 */
#include <ctype.h>
#include <grp.h>
#include <sched.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <sys/xattr.h>

#include "internal.h"
#include "xarch/arch.h"
#include "xarch/binfmt.h"
#include "xarch/doctor.h"
#include "xarch/idmap.h"
#include "xarch/rootfs.h"
#include "xarch/spawn.h"
#include "xarch/userns.h"

/* The arches the common workflows are about. */
static const char *const common_arches[] = {"riscv64", "aarch64", "arm"};

/* Tools later commands run, and the Debian package of each. */
static const struct {
	const char *name, *package, *why;
} tools[] = {
    {"mke2fs", "e2fsprogs", "ext4 root filesystems"},
    {"mkfs.vfat", "dosfstools", "FAT boot partitions"},
    {"mcopy", "mtools", "filling FAT partitions without mounting"},
    {"sfdisk", "fdisk", "partitioning disk images"},
    {"qemu-img", "qemu-utils", "qcow2 images"},
    {"qemu-system-riscv64", "qemu-system-misc", "booting riscv64 images"},
    {"qemu-system-aarch64", "qemu-system-arm", "booting aarch64 images"},
};

#define SBIN_PATH "/usr/local/sbin:/usr/sbin:/sbin"

struct checks {
	struct xarch_check *v;
	size_t n, cap;
	bool oom;
};

static struct xarch_check scratch;

static struct xarch_check *add(struct checks *l, const char *id, enum xarch_check_level level,
			       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static struct xarch_check *add(struct checks *l, const char *id, enum xarch_check_level level,
			       const char *fmt, ...)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 32;
		struct xarch_check *nv = realloc(l->v, cap * sizeof(*nv));
		if (!nv) {
			l->oom = true;
			return &scratch;
		}
		l->v = nv;
		l->cap = cap;
	}
	struct xarch_check *c = &l->v[l->n++];
	memset(c, 0, sizeof(*c));
	snprintf(c->id, sizeof(c->id), "%s", id);
	c->level = level;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->summary, sizeof(c->summary), fmt, ap);
	va_end(ap);
	return c;
}

static void set_fix(struct xarch_check *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_fix(struct xarch_check *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->fix, sizeof(c->fix), fmt, ap);
	va_end(ap);
}

const char *xarch_check_level_name(enum xarch_check_level level)
{
	switch (level) {
	case XARCH_CHECK_OK:
		return "ok";
	case XARCH_CHECK_INFO:
		return "info";
	case XARCH_CHECK_WARN:
		return "warn";
	case XARCH_CHECK_FAIL:
		return "FAIL";
	}
	return "?";
}

enum xarch_check_level xarch_doctor_worst(const struct xarch_check *c, size_t n)
{
	enum xarch_check_level w = XARCH_CHECK_OK;
	for (size_t i = 0; i < n; i++)
		if (c[i].level > w)
			w = c[i].level;
	return w;
}

/* Small helpers ----------------------------------------------------------*/

static bool find_tool(const char *name, char *buf, size_t len)
{
	char path[4096];
	const char *env = getenv("PATH");
	if (xa_snprintf(path, sizeof(path), "%s:" SBIN_PATH, env && *env ? env : "/usr/bin:/bin") <
	    0)
		return false;
	return xa_find_in_path(name, path, buf, len) == 0;
}

/* The first line of a small file, "" when unreadable. */
static void read_line(const char *path, char *buf, size_t len)
{
	_cleanup_free_ char *s = NULL;
	buf[0] = '\0';
	if (xa_read_file(path, 4096, &s, NULL, NULL) < 0)
		return;
	snprintf(buf, len, "%.*s", (int)strcspn(s, "\n"), s);
}

/* A /proc/sys integer: its value, or -1 when the file does not exist. */
static long sysctl_long(const char *path)
{
	char line[64];
	if (access(path, F_OK) < 0)
		return -1;
	read_line(path, line, sizeof(line));
	return strtol(line, NULL, 10);
}

static bool file_contains(const char *path, const char *needle)
{
	_cleanup_free_ char *s = NULL;
	if (xa_read_file(path, 1 << 22, &s, NULL, NULL) < 0)
		return false;
	return strstr(s, needle) != NULL;
}

/* Kernel ------------------------------------------------------------------*/

struct kernel {
	char release[65];
	unsigned major, minor;
};

static bool kernel_at_least(const struct kernel *k, unsigned major, unsigned minor)
{
	return k->major > major || (k->major == major && k->minor >= minor);
}

static void check_kernel(struct checks *l, const struct kernel *k)
{
	if (!kernel_at_least(k, 4, 8)) {
		struct xarch_check *c = add(l, "kernel.version", XARCH_CHECK_WARN,
					    "Linux %s: no binfmt_misc F flag (needs 4.8), so "
					    "emulation does not work inside chroots and containers",
					    k->release);
		set_fix(c, "boot a Linux kernel >= 4.8 (>= 6.7 for rootless binfmt_misc)");
	} else if (!kernel_at_least(k, 6, 7)) {
		add(l, "kernel.version", XARCH_CHECK_INFO,
		    "Linux %s: F flag supported; per-user-namespace binfmt_misc needs 6.7, so "
		    "registering needs root",
		    k->release);
	} else {
		add(l, "kernel.version", XARCH_CHECK_OK,
		    "Linux %s: F flag (>= 4.8) and per-user-namespace binfmt_misc (>= 6.7)",
		    k->release);
	}
}

/* binfmt_misc --------------------------------------------------------------*/

enum mount_state { MNT_NONE, MNT_AUTOFS, MNT_BINFMT };

/* What is mounted on the binfmt_misc directory, from mountinfo only. */
static enum mount_state binfmt_mount_state(void)
{
	_cleanup_free_ char *s = NULL;
	enum mount_state st = MNT_NONE;
	if (xa_read_file("/proc/self/mountinfo", 1 << 24, &s, NULL, NULL) < 0)
		return MNT_NONE;
	for (char *line = s, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		/* id parent major:minor root MOUNTPOINT opts [optional...] - FSTYPE ... */
		char *f[5] = {0};
		char *p = line;
		for (int i = 0; i < 5 && p; i++) {
			f[i] = p;
			p = strchr(p, ' ');
			if (p)
				*p++ = '\0';
		}
		if (!p || !f[4] || strcmp(f[4], XARCH_BINFMT_DIR) != 0)
			continue;
		char *sep = strstr(p, " - ");
		if (!sep)
			continue;
		char *fstype = sep + 3;
		size_t n = strcspn(fstype, " ");
		if (n == 11 && strncmp(fstype, "binfmt_misc", 11) == 0)
			st = MNT_BINFMT;
		else if (n == 6 && strncmp(fstype, "autofs", 6) == 0 && st == MNT_NONE)
			st = MNT_AUTOFS;
	}
	return st;
}

/* 1 in /proc/filesystems, 2 a module that mount would load, 0 not found */
static int binfmt_in_kernel(const struct kernel *k)
{
	if (file_contains("/proc/filesystems", "\tbinfmt_misc\n"))
		return 1;
	char path[512];
	static const char *const ext[] = {"", ".xz", ".zst", ".gz"};
	for (size_t i = 0; i < ARRAY_SIZE(ext); i++) {
		snprintf(path, sizeof(path), "/lib/modules/%s/kernel/fs/binfmt_misc.ko%s",
			 k->release, ext[i]);
		if (access(path, F_OK) == 0)
			return 2;
	}
	snprintf(path, sizeof(path), "/lib/modules/%s/modules.builtin", k->release);
	return file_contains(path, "binfmt_misc.ko") ? 1 : 0;
}

static const char *const mount_cmd = "mount -t binfmt_misc binfmt_misc " XARCH_BINFMT_DIR;

static void check_binfmt_arch(struct checks *l, const struct xarch_arch *a,
			      const struct xarch_binfmt_table *t, enum mount_state ms)
{
	char id[48];
	snprintf(id, sizeof(id), "binfmt.%s", a->name);
	struct xarch_check *c;
	if (a == xarch_arch_host()) {
		add(l, id, XARCH_CHECK_OK, "%s is this host's arch: runs natively", a->name);
		return;
	}
	if (ms != MNT_BINFMT) {
		c = add(l, id, XARCH_CHECK_WARN,
			"no binfmt_misc entry runs %s programs (binfmt_misc is not mounted)",
			a->name);
		set_fix(c,
			"xarch binfmt install %s (mounts binfmt_misc; or rootless: xarch binfmt "
			"install --userns %s)",
			a->name, a->name);
		return;
	}

	uint8_t hdr[64];
	size_t hl = xarch_binfmt_arch_header(a, hdr, sizeof(hdr));
	const struct xarch_binfmt_rule *run = NULL, *disabled = NULL;
	char others[128] = "";
	for (size_t i = 0; i < t->n; i++) {
		const struct xarch_binfmt_rule *r = &t->rules[i];
		if (!xarch_binfmt_matches(r, NULL, hdr, hl))
			continue;
		if (!r->enabled) {
			if (!disabled)
				disabled = r;
		} else if (!run) {
			run = r;
		} else {
			size_t o = strlen(others);
			snprintf(others + o, sizeof(others) - o, "%s'%s'", o ? ", " : "", r->name);
		}
	}
	if (!run && disabled) {
		c = add(l, id, XARCH_CHECK_WARN, "the binfmt_misc entry '%s' for %s is disabled",
			disabled->name, a->name);
		set_fix(c, "echo 1 > " XARCH_BINFMT_DIR "/%s", disabled->name);
		return;
	}
	if (!run) {
		c = add(l, id, XARCH_CHECK_WARN, "no binfmt_misc entry runs %s programs", a->name);
		set_fix(c, "xarch binfmt install %s", a->name);
		return;
	}

	struct stat st;
	bool present = stat(run->interpreter, &st) == 0;
	bool fflag = strchr(run->flags, 'F') != NULL;
	int is_static = present ? xa_is_static_elf(run->interpreter) : -ENOENT;
	char also[200] = "";
	if (others[0])
		snprintf(also, sizeof(also), "; also matched by %s (the newest one wins)", others);
	if (!present && !fflag) {
		c = add(l, id, XARCH_CHECK_WARN, "entry '%s' runs %s with '%s', which is missing%s",
			run->name, a->name, run->interpreter, also);
		set_fix(c, "apt-get install qemu-user-static && xarch binfmt install --force %s",
			a->name);
	} else if (!fflag) {
		c = add(l, id, XARCH_CHECK_WARN,
			"entry '%s' (%s) has no F flag: %s programs fail inside chroots and "
			"containers%s",
			run->name, run->interpreter, a->name, also);
		set_fix(c, "xarch binfmt install --force %s (registers with flags POF)", a->name);
	} else if (is_static == 0) {
		c = add(l, id, XARCH_CHECK_WARN,
			"entry '%s' uses a dynamically linked '%s': %s programs fail inside "
			"foreign root filesystems%s",
			run->name, run->interpreter, a->name, also);
		set_fix(c, "apt-get install qemu-user-static && xarch binfmt install --force %s",
			a->name);
	} else {
		add(l, id, XARCH_CHECK_OK, "%s runs through '%s' (%s, flags %s%s)%s", a->name,
		    run->name, run->interpreter, run->flags[0] ? run->flags : "none",
		    !present	     ? ", file since removed; F keeps it open"
		    : is_static == 1 ? ", static"
				     : "",
		    also);
	}
}

/* FAIL only when neither the kernel nor a user namespace has binfmt_misc. */
static void check_binfmt(struct checks *l, const struct kernel *k, int userns_binfmt)
{
	struct xarch_check *c;
	int in_kernel = binfmt_in_kernel(k);
	if (in_kernel == 1) {
		add(l, "binfmt.kernel", XARCH_CHECK_OK, "the kernel supports binfmt_misc");
	} else if (in_kernel == 2) {
		add(l, "binfmt.kernel", XARCH_CHECK_OK,
		    "binfmt_misc is a module, loaded when it is mounted");
	} else if (userns_binfmt == 1) {
		add(l, "binfmt.kernel", XARCH_CHECK_OK,
		    "the kernel supports binfmt_misc (a user namespace could mount it)");
	} else {
		c = add(l, "binfmt.kernel", XARCH_CHECK_FAIL,
			"the kernel has no binfmt_misc: foreign programs run only through "
			"'xarch exec'");
		set_fix(c, "modprobe binfmt_misc, or boot a kernel built with CONFIG_BINFMT_MISC");
	}

	enum mount_state ms = binfmt_mount_state();
	struct xarch_binfmt_table t = {0};
	if (ms == MNT_BINFMT) {
		if (xarch_binfmt_table_read(NULL, &t, NULL) < 0 || !t.mounted)
			ms = MNT_NONE;
	}
	if (ms == MNT_BINFMT) {
		add(l, "binfmt.mounted", XARCH_CHECK_OK, "binfmt_misc is mounted on %s",
		    XARCH_BINFMT_DIR);
	} else if (ms == MNT_AUTOFS) {
		add(l, "binfmt.mounted", XARCH_CHECK_INFO,
		    "%s is an automount point (systemd): binfmt_misc is mounted on first use",
		    XARCH_BINFMT_DIR);
	} else {
		c = add(l, "binfmt.mounted", XARCH_CHECK_WARN, "binfmt_misc is not mounted on %s",
			XARCH_BINFMT_DIR);
		set_fix(c, "%s (or 'xarch binfmt install', which mounts it)", mount_cmd);
	}

	if (ms != MNT_BINFMT) {
		add(l, "binfmt.status", XARCH_CHECK_INFO,
		    "binfmt_misc status not checked: not mounted");
	} else if (t.enabled) {
		add(l, "binfmt.status", XARCH_CHECK_OK, "binfmt_misc is enabled (%zu entries)",
		    t.n);
	} else {
		c = add(l, "binfmt.status", XARCH_CHECK_WARN,
			"binfmt_misc is disabled: no entry runs anything");
		set_fix(c, "echo 1 > " XARCH_BINFMT_DIR "/status");
	}

	for (size_t i = 0; i < ARRAY_SIZE(common_arches); i++) {
		const struct xarch_arch *a = xarch_arch_lookup(common_arches[i]);
		if (!a)
			continue;
		if (ms == MNT_BINFMT && !t.enabled) {
			char id[48];
			snprintf(id, sizeof(id), "binfmt.%s", a->name);
			c = add(l, id, XARCH_CHECK_WARN,
				"%s programs do not run: binfmt_misc is disabled", a->name);
			set_fix(c, "echo 1 > " XARCH_BINFMT_DIR "/status");
			continue;
		}
		check_binfmt_arch(l, a, &t, ms);
	}
	xarch_binfmt_table_release(&t);
}

/* qemu-user ---------------------------------------------------------------*/

/* "qemu-riscv64 version 7.2.22 (Debian ...)" -> "7.2.22" */
static void qemu_version(const char *qemu, char *buf, size_t len)
{
	char out[512];
	int st;
	const char *argv[] = {qemu, "--version", NULL};
	buf[0] = '\0';
	if (xarch_spawn_output(argv, NULL, false, out, sizeof(out), &st, NULL) < 0 || xarch_exit_code(st) != 0)
		return;
	out[strcspn(out, "\n")] = '\0';
	const char *v = strstr(out, " version ");
	if (!v)
		return;
	v += 9;
	snprintf(buf, len, "%.*s", (int)strcspn(v, " "), v);
}

/* FAIL when there is no qemu-user at all. */
static void check_qemu(struct checks *l)
{
	char path[4096], first[4096] = "", name[64];
	char missing[128] = "", dynamic_only[128] = "";
	size_t found = 0;
	for (size_t i = 0; i < ARRAY_SIZE(common_arches); i++) {
		const struct xarch_arch *a = xarch_arch_lookup(common_arches[i]);
		if (!a)
			continue;
		if (find_tool(xarch_arch_qemu_static(a, name, sizeof(name)), path, sizeof(path))) {
			found++;
			if (!first[0])
				snprintf(first, sizeof(first), "%s", path);
			continue;
		}
		size_t o = strlen(missing);
		snprintf(missing + o, sizeof(missing) - o, "%s%s", o ? " " : "", a->name);
		snprintf(name, sizeof(name), "qemu-%s", a->name);
		if (find_tool(name, path, sizeof(path))) {
			o = strlen(dynamic_only);
			snprintf(dynamic_only + o, sizeof(dynamic_only) - o, "%s%s", o ? " " : "",
				 a->name);
		}
	}
	/* another arch's static qemu still means the package is there */
	size_t n_any = 0;
	if (!found) {
		size_t n;
		const struct xarch_arch *table = xarch_arch_table(&n);
		for (size_t i = 0; i < n && !n_any; i++)
			if (find_tool(xarch_arch_qemu_static(&table[i], name, sizeof(name)), path,
				      sizeof(path))) {
				n_any++;
				snprintf(first, sizeof(first), "%s", path);
			}
	}

	char ver[64] = "";
	if (first[0])
		qemu_version(first, ver, sizeof(ver));
	struct xarch_check *c;
	if (found == ARRAY_SIZE(common_arches)) {
		add(l, "qemu.user", XARCH_CHECK_OK, "qemu-user-static %s (%s)",
		    ver[0] ? ver : "(version unknown)", first);
	} else if (found || n_any) {
		c = add(l, "qemu.user", XARCH_CHECK_WARN,
			"qemu-user-static %s lacks qemu-<arch>-static for: %s",
			ver[0] ? ver : "(version unknown)", missing);
		set_fix(c, "apt-get install qemu-user-static");
	} else if (dynamic_only[0]) {
		c = add(l, "qemu.user", XARCH_CHECK_WARN,
			"only dynamically linked qemu-user (for %s): fine for 'xarch exec', but "
			"binfmt_misc with F and foreign root filesystems need qemu-user-static",
			dynamic_only);
		set_fix(c, "apt-get install qemu-user-static");
	} else {
		c = add(l, "qemu.user", XARCH_CHECK_FAIL,
			"qemu-user-static is not installed: nothing can run foreign programs");
		set_fix(c, "apt-get install qemu-user-static");
	}
}

/* User namespaces and subordinate ids -------------------------------------*/

#define NO_DROP 254

/* Try unshare(CLONE_NEWUSER) in a child, as "nobody" when `drop` (root
 * may create user namespaces whatever the sysctls say): 0 when it worked,
 * NO_DROP when the uid could not be changed (e.g. inside a user namespace
 * that maps only root), else the errno. */
static int try_userns(bool drop)
{
	pid_t pid = fork();
	if (pid < 0)
		return errno;
	if (pid == 0) {
		if (drop && (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
			     setresuid(65534, 65534, 65534) < 0))
			_exit(NO_DROP);
		_exit(unshare(CLONE_NEWUSER) < 0 ? (errno & 0xff) : 0);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return errno;
	if (!WIFEXITED(st))
		return EIO;
	return WEXITSTATUS(st);
}

static void check_userns(struct checks *l)
{
	struct xarch_check *c;
	long max = sysctl_long("/proc/sys/user/max_user_namespaces");
	long clone = sysctl_long("/proc/sys/kernel/unprivileged_userns_clone");
	long aa = sysctl_long("/proc/sys/kernel/apparmor_restrict_unprivileged_userns");
	if (max == 0) {
		c = add(l, "userns.allowed", XARCH_CHECK_WARN,
			"user namespaces are disabled (user.max_user_namespaces = 0): rootless "
			"workflows cannot run");
		set_fix(c, "sysctl -w user.max_user_namespaces=15000 (persist it in "
			   "/etc/sysctl.d/)");
		return;
	}
	if (clone == 0) {
		c = add(l, "userns.allowed", XARCH_CHECK_WARN,
			"unprivileged user namespaces are disabled "
			"(kernel.unprivileged_userns_clone = 0)");
		set_fix(c, "sysctl -w kernel.unprivileged_userns_clone=1 (persist it in "
			   "/etc/sysctl.d/)");
		return;
	}
	bool root = geteuid() == 0;
	int e = try_userns(root);
	if (e == NO_DROP) {
		e = try_userns(false);
		if (e == 0) {
			add(l, "userns.allowed", XARCH_CHECK_INFO,
			    "user namespaces can be created (tested as root only: no "
			    "unprivileged uid to switch to here)");
			return;
		}
	}
	if (e == 0) {
		add(l, "userns.allowed", XARCH_CHECK_OK, "%s user namespaces are allowed",
		    root ? "unprivileged" : "user");
	} else if (aa == 1) {
		c = add(l, "userns.allowed", XARCH_CHECK_WARN,
			"AppArmor restricts unprivileged user namespaces "
			"(kernel.apparmor_restrict_unprivileged_userns = 1)");
		set_fix(c, "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or give "
			   "xarch an AppArmor profile with 'userns,'");
	} else {
		c = add(l, "userns.allowed", XARCH_CHECK_WARN,
			"an unprivileged user cannot create a user namespace: %s", strerror(e));
		set_fix(c, "check the sysctls user.max_user_namespaces and "
			   "kernel.unprivileged_userns_clone and any LSM policy");
	}
}

/* The userns binfmt test result: 1 supported, 0 not, <0 unknown. */
static void check_userns_binfmt(struct checks *l, const struct kernel *k, int r,
				const struct xarch_error *err)
{
	struct xarch_check *c;
	if (r == 1) {
		add(l, "userns.binfmt", XARCH_CHECK_OK,
		    "a user namespace can have its own binfmt_misc ('xarch binfmt install "
		    "--userns' works without root)");
		return;
	}
	c = add(l, "userns.binfmt", kernel_at_least(k, 6, 7) ? XARCH_CHECK_WARN : XARCH_CHECK_INFO,
		"no private binfmt_misc in a user namespace: registering needs root");
	if (!kernel_at_least(k, 6, 7))
		set_fix(c,
			"boot Linux >= 6.7 for rootless use, or run 'sudo xarch binfmt install'");
	else if (err && err->msg[0])
		set_fix(c, "%s", err->msg);
	else
		set_fix(c, "run 'sudo xarch binfmt install' instead");
}

static void check_loop(struct checks *l)
{
	struct stat st;
	if (stat("/dev/loop-control", &st) == 0 && S_ISCHR(st.st_mode)) {
		add(l, "loop.control", XARCH_CHECK_OK,
		    "loop devices available (/dev/loop-control)");
		return;
	}
	struct xarch_check *c = add(l, "loop.control", XARCH_CHECK_WARN,
				    "no /dev/loop-control: disk images cannot be attached as loop "
				    "devices");
	set_fix(c, "modprobe loop (in a container: give it /dev/loop-control and /dev/loop*)");
}

/* Ids delegated to `u` in a subuid/subgid file. */
static unsigned long long subid_count(const char *file, const struct xarch_user *u)
{
	struct xarch_idmap r[32];
	unsigned long long n = 0;
	int k = xarch_subid_ranges(file, u->name, u->uid, r, ARRAY_SIZE(r));
	for (int i = 0; i < k; i++)
		n += r[i].count;
	return n;
}

static void check_subid(struct checks *l)
{
	struct xarch_check *c;
	const char *sudo = getenv("SUDO_USER");
	struct xarch_user who, *pw = NULL;
	if (getuid() == 0 && sudo && *sudo && xarch_host_user(sudo, 0, &who, NULL) == 0)
		pw = &who;
	if (!pw && xarch_host_user(NULL, getuid(), &who, NULL) == 0 && who.name[0])
		pw = &who;
	if (!pw) {
		add(l, "subid.ranges", XARCH_CHECK_INFO,
		    "uid %u has no passwd entry: subordinate ids not checked", (unsigned)getuid());
	} else if (pw->uid == 0) {
		add(l, "subid.ranges", XARCH_CHECK_INFO,
		    "running as root: no subordinate ids needed (run doctor with sudo or as the "
		    "user to check theirs)");
	} else {
		unsigned long long nu = subid_count("/etc/subuid", pw),
				   ng = subid_count("/etc/subgid", pw);
		unsigned long long tu = xarch_subid_top("/etc/subuid"),
				   tg = xarch_subid_top("/etc/subgid");
		unsigned long long top = tu > tg ? tu : tg;
		unsigned long long start = top < 100000 ? 100000 : (top + 65535) / 65536 * 65536;
		if (nu >= 65536 && ng >= 65536) {
			add(l, "subid.ranges", XARCH_CHECK_OK,
			    "%s has %llu subordinate uids and %llu gids", pw->name, nu,
			    ng);
		} else {
			c = add(l, "subid.ranges", XARCH_CHECK_WARN,
				"%s has %llu subordinate uids and %llu gids in /etc/subuid and "
				"/etc/subgid (65536 needed for a full root filesystem)",
				pw->name, nu, ng);
			set_fix(c, "usermod --add-subuids %llu-%llu --add-subgids %llu-%llu %s",
				start, start + 65535, start, start + 65535, pw->name);
		}
	}

	char a[4096], b[4096];
	bool has_u = find_tool("newuidmap", a, sizeof(a));
	bool has_g = find_tool("newgidmap", b, sizeof(b));
	if (!has_u || !has_g) {
		c = add(l, "subid.tools", XARCH_CHECK_WARN,
			"%s not found: multi-id user namespaces cannot be set up",
			!has_u && !has_g ? "newuidmap and newgidmap"
			: !has_u	 ? "newuidmap"
					 : "newgidmap");
		set_fix(c, "apt-get install uidmap");
		return;
	}
	struct stat su, sg;
	bool priv_u = stat(a, &su) == 0 &&
		      ((su.st_mode & S_ISUID) || getxattr(a, "security.capability", NULL, 0) > 0);
	bool priv_g = stat(b, &sg) == 0 &&
		      ((sg.st_mode & S_ISUID) || getxattr(b, "security.capability", NULL, 0) > 0);
	if (!priv_u || !priv_g) {
		c = add(l, "subid.tools", XARCH_CHECK_WARN,
			"%s is neither setuid root nor has file capabilities", !priv_u ? a : b);
		set_fix(c, "apt-get install --reinstall uidmap (or: chmod u+s %s %s)", a, b);
		return;
	}
	add(l, "subid.tools", XARCH_CHECK_OK, "newuidmap and newgidmap present (%s, %s)", a, b);
}

static void check_tools(struct checks *l)
{
	char path[4096], id[48];
	for (size_t i = 0; i < ARRAY_SIZE(tools); i++) {
		snprintf(id, sizeof(id), "tool.%s", tools[i].name);
		if (find_tool(tools[i].name, path, sizeof(path))) {
			add(l, id, XARCH_CHECK_OK, "%s (%s)", tools[i].name, path);
			continue;
		}
		struct xarch_check *c = add(l, id, XARCH_CHECK_WARN, "%s not found (needed for %s)",
					    tools[i].name, tools[i].why);
		set_fix(c, "apt-get install %s", tools[i].package);
	}
}

int xarch_doctor_run(struct xarch_check **ret, size_t *ret_n)
{
	struct checks l = {0};
	struct kernel k = {0};
	struct utsname u;
	if (uname(&u) == 0) {
		snprintf(k.release, sizeof(k.release), "%s", u.release);
		sscanf(k.release, "%u.%u", &k.major, &k.minor);
	}

	struct xarch_error uerr = {0};
	int userns_binfmt = xarch_userns_binfmt_supported(&uerr);

	check_kernel(&l, &k);
	check_binfmt(&l, &k, userns_binfmt);
	check_qemu(&l);
	check_userns(&l);
	check_userns_binfmt(&l, &k, userns_binfmt, &uerr);
	check_loop(&l);
	check_subid(&l);
	check_tools(&l);

	if (l.oom) {
		free(l.v);
		return -ENOMEM;
	}
	*ret = l.v;
	*ret_n = l.n;
	return 0;
}
