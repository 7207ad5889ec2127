// SPDX-License-Identifier: MIT
/* Paths inside a rootfs: symlinks that try to leave it, mkdir -p and mount
 * point files, both by openat2 and by the component walk; passwd/group,
 * env files and arch detection. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "xarch/arch.h"
#include "xarch/rootfs.h"

static char tmpdir[256];

static void write_at(const char *dir, const char *rel, const void *data, size_t len)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, data, len) != (ssize_t)len) {
		perror(path);
		exit(2);
	}
	close(fd);
}

static void write_str(const char *dir, const char *rel, const char *s)
{
	write_at(dir, rel, s, strlen(s));
}

static void mkdirs(const char *dir, const char *rel)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	for (char *p = path + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			mkdir(path, 0755);
			*p = '/';
		}
	mkdir(path, 0755);
}

static void link_at(const char *dir, const char *rel, const char *target)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	if (symlink(target, path) < 0) {
		perror(path);
		exit(2);
	}
}

static bool exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

/* The content of an fd, or "" */
static const char *fd_text(int fd, char *buf, size_t len)
{
	ssize_t n = pread(fd, buf, len - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static const char *modes[] = {"openat2", "walk"};

static void set_mode(int mode)
{
	if (mode)
		setenv("XARCH_NO_OPENAT2", "1", 1);
	else
		unsetenv("XARCH_NO_OPENAT2");
}

/* A tree with every kind of symlink that tries to get out. */
static void build_tree(const char *root)
{
	mkdirs(root, "etc");
	mkdirs(root, "usr/bin");
	mkdirs(root, "usr/share/doc");
	mkdirs(root, "usr/etc");
	mkdirs(root, "tmp");
	mkdirs(root, "loop");
	mkdirs(root, "mnt");
	write_str(root, "etc/host-secret", "inside");
	write_str(root, "tmp/x", "root-x");
	write_str(root, "usr/share/doc/file", "doc");
	write_str(root, "usr/etc/marker", "usr-etc");
	link_at(root, "etc/resolv.conf", "/etc/host-secret");
	link_at(root, "etc/hostname", "/etc/hostname-of-host"); /* the host has /etc/hostname */
	link_at(root, "etc/passwd-host", "/etc/passwd");
	link_at(root, "usr/escape", "../../../../tmp/x");
	link_at(root, "bin", "usr/bin");
	link_at(root, "loop/a", "b");
	link_at(root, "loop/b", "a");
	link_at(root, "loop/self", "self");
	/* a chain of directory links, relative, absolute, through "..": */
	link_at(root, "d1", "d2");
	link_at(root, "d2", "/d3");
	link_at(root, "d3", "usr/bin/../share");
	char target[512];
	snprintf(target, sizeof(target), "%s/host-made", tmpdir);
	link_at(root, "mnt/out", target);
	snprintf(target, sizeof(target), "%s/host-made-file", tmpdir);
	link_at(root, "mnt/outfile", target);
	snprintf(target, sizeof(target), "../../../../../../../../..%s/host-made-rel", tmpdir);
	link_at(root, "mnt/rel", target);
	link_at(root, "mnt/dangling", "/newfile");
	link_at(root, "mnt/todir", "/usr/share");
}

static void test_open(int mode)
{
	char root[512], buf[256], path[1024];
	struct xarch_error err = {0};
	snprintf(root, sizeof(root), "%s/root-%s", tmpdir, modes[mode]);
	build_tree(root);
	set_mode(mode);
	const char *m = modes[mode];

	int rootfd = xarch_root_open_dir(root, &err);
	CHECK(rootfd >= 0, "%s: root opens (%s)", m, err.msg);
	if (rootfd < 0)
		return;

	int fd = xarch_root_open(rootfd, "/etc/resolv.conf", O_RDONLY, 0, &err);
	CHECK_STR(fd >= 0 ? fd_text(fd, buf, sizeof(buf)) : err.msg, "inside",
		  "%s: absolute symlink resolves to ROOT/etc/host-secret", m);
	if (fd >= 0)
		close(fd);
	fd = xarch_root_open(rootfd, "/etc/hostname", O_RDONLY, 0, &err);
	CHECK_INT(fd, -ENOENT, "%s: absolute symlink never reaches the host's /etc", m);
	CHECK(strstr(err.msg, "/etc/hostname") != NULL, "%s: error names the path: %s", m, err.msg);
	fd = xarch_root_open(rootfd, "/etc/passwd-host", O_RDONLY, 0, NULL);
	CHECK_INT(fd, -ENOENT, "%s: link to /etc/passwd is the rootfs's (missing) one", m);

	fd = xarch_root_open(rootfd, "usr/escape", O_RDONLY, 0, &err);
	CHECK_STR(fd >= 0 ? fd_text(fd, buf, sizeof(buf)) : err.msg, "root-x",
		  "%s: ../../../../tmp/x stays in the root", m);
	if (fd >= 0)
		close(fd);
	fd = xarch_root_open(rootfd, "../../../../etc/host-secret", O_RDONLY, 0, &err);
	CHECK_STR(fd >= 0 ? fd_text(fd, buf, sizeof(buf)) : err.msg, "inside",
		  "%s: .. above the root stays at the root", m);
	if (fd >= 0)
		close(fd);
	snprintf(path, sizeof(path), "/mnt/rel/x");
	fd = xarch_root_open(rootfd, "/mnt/rel", O_RDONLY, 0, NULL);
	CHECK_INT(fd, -ENOENT, "%s: relative link to a host path does not escape", m);

	CHECK_INT(xarch_root_open(rootfd, "/loop/a", O_RDONLY, 0, NULL), -ELOOP,
		  "%s: a -> b -> a is ELOOP", m);
	CHECK_INT(xarch_root_open(rootfd, "/loop/self/x", O_RDONLY, 0, NULL), -ELOOP,
		  "%s: self loop in a middle component is ELOOP", m);

	fd = xarch_root_open(rootfd, "/d1/doc/file", O_RDONLY, 0, &err);
	CHECK_STR(fd >= 0 ? fd_text(fd, buf, sizeof(buf)) : err.msg, "doc",
		  "%s: chain d1 -> d2 -> /d3 -> usr/bin/../share", m);
	if (fd >= 0)
		close(fd);
	/* ".." after a symlink is the parent of where it led (usr), not of
	 * the link (the root): the kernel's rule */
	fd = xarch_root_open(rootfd, "/bin/../etc/marker", O_RDONLY, 0, &err);
	CHECK_STR(fd >= 0 ? fd_text(fd, buf, sizeof(buf)) : err.msg, "usr-etc",
		  "%s: .. after a directory symlink", m);
	if (fd >= 0)
		close(fd);

	fd = xarch_root_open(rootfd, "/etc/resolv.conf", O_PATH | O_NOFOLLOW, 0, &err);
	struct stat st;
	CHECK(fd >= 0 && fstat(fd, &st) == 0 && S_ISLNK(st.st_mode),
	      "%s: O_PATH|O_NOFOLLOW gives the link itself", m);
	if (fd >= 0)
		close(fd);
	CHECK_INT(xarch_root_open(rootfd, "/etc/resolv.conf", O_RDONLY | O_NOFOLLOW, 0, NULL),
		  -ELOOP, "%s: O_NOFOLLOW on a final link is ELOOP", m);
	CHECK_INT(xarch_root_open(rootfd, "/etc/host-secret/", O_RDONLY, 0, NULL), -ENOTDIR,
		  "%s: trailing slash on a file is ENOTDIR", m);
	CHECK_INT(xarch_root_open(rootfd, "/etc/host-secret/x", O_RDONLY, 0, NULL), -ENOTDIR,
		  "%s: a file as a directory is ENOTDIR", m);
	fd = xarch_root_open(rootfd, "/", O_RDONLY | O_DIRECTORY, 0, &err);
	CHECK(fd >= 0, "%s: '/' is the root (%s)", m, err.msg);
	if (fd >= 0)
		close(fd);
	fd = xarch_root_open(rootfd, "bin/", O_PATH | O_DIRECTORY, 0, &err);
	CHECK(fd >= 0, "%s: 'bin/' follows to usr/bin (%s)", m, err.msg);
	if (fd >= 0)
		close(fd);

	/* O_CREAT through a dangling absolute link lands inside */
	fd = xarch_root_open(rootfd, "/mnt/dangling", O_WRONLY | O_CREAT, 0600, &err);
	CHECK(fd >= 0, "%s: O_CREAT through a dangling link (%s)", m, err.msg);
	if (fd >= 0)
		close(fd);
	snprintf(path, sizeof(path), "%s/newfile", root);
	CHECK(exists(path), "%s: ... created ROOT/newfile", m);
	CHECK(!exists("/newfile"), "%s: ... and not /newfile on the host", m);
	CHECK_INT(
	    xarch_root_open(rootfd, "/etc/resolv.conf", O_WRONLY | O_CREAT | O_EXCL, 0600, NULL),
	    -EEXIST, "%s: O_CREAT|O_EXCL does not follow a final link", m);

	/* the walk directly, whatever the mode */
	fd = xarch_root_open_walk(rootfd, "/etc/resolv.conf", O_RDONLY, 0, &err);
	CHECK_STR(fd >= 0 ? fd_text(fd, buf, sizeof(buf)) : err.msg, "inside",
		  "%s: xarch_root_open_walk resolves inside", m);
	if (fd >= 0)
		close(fd);

	/* mkdir -p through a symlink to a host path */
	char host[512], host_rel[512];
	snprintf(host, sizeof(host), "%s/host-made", tmpdir);
	snprintf(host_rel, sizeof(host_rel), "%s/host-made-rel", tmpdir);
	fd = xarch_root_mkdir_p(rootfd, "/mnt/out/sub/dir", 0755, &err);
	CHECK(fd >= 0, "%s: mkdir_p through an absolute link (%s)", m, err.msg);
	if (fd >= 0)
		close(fd);
	CHECK(!exists(host), "%s: ... the host path '%s' was not created", m, host);
	snprintf(path, sizeof(path), "%s%s/host-made/sub/dir", root, tmpdir);
	CHECK(exists(path), "%s: ... it was created inside the root", m);
	fd = xarch_root_mkdir_p(rootfd, "/mnt/rel/a", 0755, &err);
	CHECK(fd >= 0, "%s: mkdir_p through a ../../ link (%s)", m, err.msg);
	if (fd >= 0)
		close(fd);
	CHECK(!exists(host_rel), "%s: ... the host path was not created", m);
	snprintf(path, sizeof(path), "%s%s/host-made-rel/a", root, tmpdir);
	CHECK(exists(path), "%s: ... it was created inside the root", m);

	fd = xarch_root_mkdir_p(rootfd, "/proc/self/../sys//./fs/", 0755, &err);
	CHECK(fd >= 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode),
	      "%s: mkdir_p with .. and . gives a directory fd (%s)", m, err.msg);
	if (fd >= 0)
		close(fd);
	snprintf(path, sizeof(path), "%s/proc/sys/fs", root);
	CHECK(exists(path), "%s: ... ROOT/proc/sys/fs exists", m);
	fd = xarch_root_mkdir_p(rootfd, "/usr/bin", 0755, &err);
	CHECK(fd >= 0, "%s: mkdir_p of an existing directory", m);
	if (fd >= 0)
		close(fd);
	CHECK_INT(xarch_root_mkdir_p(rootfd, "/etc/host-secret/sub", 0755, &err), -ENOTDIR,
		  "%s: a file in the way is ENOTDIR", m);
	CHECK_INT(xarch_root_mkdir_p(rootfd, "/loop/a/x", 0755, NULL), -ELOOP,
		  "%s: mkdir_p through a loop is ELOOP", m);

	/* mount point files */
	fd = xarch_root_mkfile(rootfd, "/run/new/dir/resolv.conf", 0644, &err);
	CHECK(fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode),
	      "%s: mkfile creates parents and a file (%s)", m, err.msg);
	if (fd >= 0)
		close(fd);
	fd = xarch_root_mkfile(rootfd, "/etc/resolv.conf", 0644, &err);
	CHECK(fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 6,
	      "%s: mkfile of an existing link gives its target", m);
	if (fd >= 0)
		close(fd);
	fd = xarch_root_mkfile(rootfd, "/mnt/outfile", 0644, &err);
	CHECK(fd >= 0, "%s: mkfile through a link to a host path (%s)", m, err.msg);
	if (fd >= 0)
		close(fd);
	snprintf(host, sizeof(host), "%s/host-made-file", tmpdir);
	CHECK(!exists(host), "%s: ... nothing on the host", m);
	snprintf(path, sizeof(path), "%s%s/host-made-file", root, tmpdir);
	CHECK(exists(path), "%s: ... the file is inside the root", m);
	CHECK_INT(xarch_root_mkfile(rootfd, "/mnt/todir", 0644, &err), -EISDIR,
		  "%s: a directory in the way is EISDIR", m);
	CHECK(strstr(err.msg, "directory") != NULL, "%s: ... %s", m, err.msg);
	CHECK_INT(xarch_root_mkfile(rootfd, "/etc/host-secret/f", 0644, NULL), -ENOTDIR,
		  "%s: mkfile below a file is ENOTDIR", m);

	close(rootfd);
}

static void test_misc(void)
{
	char buf[64], path[512];
	struct xarch_error err = {0};
	CHECK_STR(xarch_fd_path(7, buf, sizeof(buf)), "/proc/self/fd/7", "fd path");
	CHECK(xarch_fd_path(7, buf, 8) == NULL, "fd path: too small a buffer is NULL");
	CHECK(xarch_fd_path(-1, buf, sizeof(buf)) == NULL, "fd path: no fd");

	snprintf(path, sizeof(path), "%s/missing", tmpdir);
	CHECK_INT(xarch_root_open_dir(path, &err), -ENOENT, "missing rootfs: %s", err.msg);
	snprintf(path, sizeof(path), "%s/afile", tmpdir);
	write_str(tmpdir, "afile", "x");
	CHECK_INT(xarch_root_open_dir(path, &err), -ENOTDIR, "file as rootfs: %s", err.msg);
	CHECK(strstr(err.msg, "not a directory") != NULL, "... says so");
}

static void test_user(void)
{
	char root[512], big[12000];
	struct xarch_error err = {0};
	struct xarch_user u;
	snprintf(root, sizeof(root), "%s/users", tmpdir);
	mkdirs(root, "etc");

	/* a long gecos before and in a real entry, junk lines, comments */
	char *pw = malloc(40000);
	int n = snprintf(pw, 40000,
			 "root:x:0:0:root:/root:/bin/bash\n"
			 "# a comment\n"
			 "\n"
			 "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
			 "broken line\n"
			 "bad:x:notanumber:1::/:/bin/sh\n"
			 "toomany:x:7:7::/:/bin/sh:extra\n"
			 "minus:x:4294967295:1::/:/bin/sh\n"
			 "+nis::::::\n");
	memset(big, 'g', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	n += snprintf(pw + n, 40000 - n, "longgecos:x:5000:5000:%s:/home/long:/bin/sh\n", big);
	big[300] = '\0';
	n += snprintf(pw + n, 40000 - n, "longhome:x:6000:6000::/%s:/bin/sh\n", big);
	n += snprintf(pw + n, 40000 - n,
		      "user:x:1000:1000:User,,,:/home/user:/bin/sh\n"
		      "nohome:x:1001:1001:::\n"
		      "dup:x:1000:1:::\n");
	write_at(root, "etc/passwd", pw, (size_t)n);
	free(pw);
	char *gr = malloc(8000);
	n = snprintf(gr, 8000,
		     "root:x:0:\n"
		     "wheel:x:10:user,other\n"
		     "audio:x:29:other,user\n"
		     "users:x:100:\n"
		     "prefix:x:101:username,use\n"
		     "docker:x:999:user\n"
		     "again:x:1000:user\n"
		     "staff:x:50:\n"
		     "broken\n");
	for (int i = 0; i < 70; i++)
		n += snprintf(gr + n, 8000 - n, "many%d:x:%d:nohome\n", i, 2000 + i);
	write_at(root, "etc/group", gr, (size_t)n);
	free(gr);

	int rootfd = xarch_root_open_dir(root, &err);
	if (rootfd < 0) {
		CHECK(false, "users root opens");
		return;
	}
	int r = xarch_root_user(rootfd, "root", &u, &err);
	CHECK(r == 0 && u.uid == 0 && u.gid == 0 && !strcmp(u.name, "root") &&
		  !strcmp(u.home, "/root") && !strcmp(u.shell, "/bin/bash") && u.n_groups == 1,
	      "root by name (%s)", err.msg);
	r = xarch_root_user(rootfd, "user", &u, &err);
	CHECK(r == 0 && u.uid == 1000 && u.gid == 1000 && !strcmp(u.home, "/home/user"),
	      "user by name (%s)", err.msg);
	CHECK_INT(u.n_groups, 4, "user: primary + wheel, audio, docker (not 'use'/'username')");
	CHECK(u.groups[0] == 1000 && u.groups[1] == 10 && u.groups[2] == 29 && u.groups[3] == 999,
	      "user: group order is primary, then /etc/group order");
	r = xarch_root_user(rootfd, "1000", &u, &err);
	CHECK(r == 0 && !strcmp(u.name, "user") && u.gid == 1000, "uid 1000 is 'user' (first)");
	r = xarch_root_user(rootfd, "1234", &u, &err);
	CHECK(r == 0 && u.uid == 1234 && u.gid == 0 && u.name[0] == '\0' && !strcmp(u.home, "/") &&
		  u.shell[0] == '\0' && u.n_groups == 1,
	      "unknown uid: allowed, gid 0, home /");
	r = xarch_root_user(rootfd, "user:staff", &u, &err);
	CHECK(r == 0 && u.uid == 1000 && u.gid == 50 && u.groups[0] == 50, "name:group (%s)",
	      err.msg);
	r = xarch_root_user(rootfd, "user:4242", &u, &err);
	CHECK(r == 0 && u.gid == 4242, "name:gid");
	r = xarch_root_user(rootfd, "1234:50", &u, &err);
	CHECK(r == 0 && u.uid == 1234 && u.gid == 50, "uid:gid");
	r = xarch_root_user(rootfd, "0:wheel", &u, &err);
	CHECK(r == 0 && u.uid == 0 && u.gid == 10, "uid:group");
	r = xarch_root_user(rootfd, "longgecos", &u, &err);
	CHECK(r == 0 && u.uid == 5000 && !strcmp(u.home, "/home/long"),
	      "a 12000-byte line parses (%s)", err.msg);
	CHECK_INT(xarch_root_user(rootfd, "longhome", &u, &err), -ENAMETOOLONG,
		  "home longer than the buffer: %s", err.msg);
	r = xarch_root_user(rootfd, "nohome", &u, &err);
	CHECK(r == 0 && !strcmp(u.home, "/") && u.n_groups == 64,
	      "empty home is '/', groups capped at 64 (%zu)", u.n_groups);

	const struct {
		const char *spec;
		int want;
	} bad[] = {
	    {"nobody", -ENOENT},
	    {"user:nogroup", -ENOENT},
	    {"", -EINVAL},
	    {":", -EINVAL},
	    {"user:", -EINVAL},
	    {":0", -EINVAL},
	    {"a:b:c", -EINVAL},
	    {"4294967295", -EINVAL},
	    {"99999999999", -EINVAL},
	    {"0:4294967295", -EINVAL},
	    {"bad", -ENOENT},
	    {"toomany", -ENOENT},
	    {"+nis", -ENOENT},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&err, 0, sizeof(err));
		memset(&u, 0x5a, sizeof(u));
		CHECK_INT(xarch_root_user(rootfd, bad[i].spec, &u, &err), bad[i].want,
			  "bad spec '%s': %s", bad[i].spec, err.msg);
		CHECK(u.uid == 0x5a5a5a5a, "... output untouched");
	}
	xarch_root_user(rootfd, "nobody", &u, &err);
	CHECK(strstr(err.msg, "'nobody'") && strstr(err.msg, "/etc/passwd"),
	      "unknown user names it: %s", err.msg);
	close(rootfd);

	/* no /etc at all: numbers only */
	snprintf(root, sizeof(root), "%s/nousers", tmpdir);
	mkdirs(root, "x");
	/* and a passwd that is a link to the host's: read inside, so missing */
	mkdirs(root, "etc");
	link_at(root, "etc/passwd", "/var/lib/../../../../etc/shadow");
	link_at(root, "etc/group", "../../../../../etc/gshadow");
	rootfd = xarch_root_open_dir(root, &err);
	r = xarch_root_user(rootfd, "0", &u, &err);
	CHECK(r == 0 && u.uid == 0 && u.name[0] == '\0', "no passwd: uid 0 ok (%s)", err.msg);
	r = xarch_root_user(rootfd, "33:44", &u, &err);
	CHECK(r == 0 && u.uid == 33 && u.gid == 44, "no passwd: uid:gid ok");
	CHECK_INT(xarch_root_user(rootfd, "root", &u, &err), -ENOENT,
		  "no passwd (host's is never read): name is an error: %s", err.msg);
	CHECK_INT(xarch_root_user(rootfd, "0:root", &u, &err), -ENOENT,
		  "no group: group name is an error: %s", err.msg);
	close(rootfd);
}

static void test_env(void)
{
	char path[512];
	struct xarch_error err = {0};
	snprintf(path, sizeof(path), "%s/env", tmpdir);
	write_str(tmpdir, "env",
		  "\xef\xbb\xbf# comment\n"
		  "   \n"
		  "\n"
		  "FOO=bar\n"
		  "  SPACED=  value with spaces  \n"
		  "EMPTY=\n"
		  "HOSTVAR\n"
		  "UNSETVAR\n"
		  "\t# indented comment\n"
		  "WITH=equals=sign\n"
		  "CRLF=x\r\n"
		  "LAST=noeol");
	setenv("HOSTVAR", "hostval", 1);
	unsetenv("UNSETVAR");
	char **env = calloc(2, sizeof(char *));
	env[0] = strdup("A=1");
	size_t n = 1;
	int r = xarch_env_file(path, &env, &n, &err);
	CHECK_INT(r, 7, "env file: seven entries added (%s)", err.msg);
	const char *want[] = {"A=1",	"FOO=bar",	   "SPACED=  value with spaces  ",
			      "EMPTY=", "HOSTVAR=hostval", "WITH=equals=sign",
			      "CRLF=x", "LAST=noeol"};
	CHECK_INT(n, 8, "env: count");
	for (size_t i = 0; i < n && i < 8; i++)
		CHECK_STR(env[i], want[i], "env[%zu]", i);
	CHECK(n == 8 && env[8] == NULL, "env: NULL-terminated");

	const struct {
		const char *text, *where, *what;
	} bad[] = {
	    {"OK=1\n=x\n", ":2:", "no variable name"},
	    {"OK=1\n\nBAD KEY=1\n", ":3:", "whitespace"},
	    {"# c\nKEY WITH SPACE\n", ":2:", "whitespace"},
	    {"A=1\nB\t=2\n", ":2:", "whitespace"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_str(tmpdir, "env-bad", bad[i].text);
		snprintf(path, sizeof(path), "%s/env-bad", tmpdir);
		size_t n2 = n;
		char **before = env;
		r = xarch_env_file(path, &env, &n2, &err);
		CHECK_INT(r, -EINVAL, "bad env file %zu: %s", i, err.msg);
		CHECK(strstr(err.msg, bad[i].where) && strstr(err.msg, bad[i].what) &&
			  strncmp(err.msg, path, strlen(path)) == 0,
		      "... message is FILE%sLINE: %s", bad[i].where, bad[i].what);
		CHECK(n2 == n && env == before && env[8] == NULL, "... list untouched");
	}
	snprintf(path, sizeof(path), "%s/env-missing", tmpdir);
	CHECK_INT(xarch_env_file(path, &env, &n, &err), -ENOENT, "missing env file: %s", err.msg);
	for (size_t i = 0; i < n; i++)
		free(env[i]);
	free(env);

	/* an empty list and an empty file */
	write_str(tmpdir, "env-empty", "");
	snprintf(path, sizeof(path), "%s/env-empty", tmpdir);
	env = NULL;
	n = 0;
	CHECK_INT(xarch_env_file(path, &env, &n, &err), 0, "empty env file");
	CHECK(env && env[0] == NULL && n == 0, "... gives an empty NULL-terminated list");
	free(env);
}

/* An ELF header for `a`'s class, data and machine. */
static size_t elf_header(const struct xarch_arch *a, uint8_t *h)
{
	memset(h, 0, 128);
	memcpy(h,
	       "\x7f"
	       "ELF",
	       4);
	h[4] = a->elf_class;
	h[5] = a->elf_data;
	h[6] = 1;
	bool be = a->elf_data == 2;
	h[be ? 17 : 16] = 2; /* ET_EXEC */
	h[be ? 18 : 19] = (uint8_t)(a->machine >> 8);
	h[be ? 19 : 18] = (uint8_t)(a->machine & 0xff);
	size_t fo = a->elf_class == 2 ? 48 : 36;
	for (int i = 0; i < 4; i++)
		h[fo + i] = (uint8_t)(a->eflags_value >> (be ? 24 - 8 * i : 8 * i));
	return 128;
}

static void test_arch(int mode)
{
	char root[512], path[600];
	uint8_t h[128];
	struct xarch_error err = {0};
	const struct xarch_arch *got;
	const char *m = modes[mode];
	set_mode(mode);
	const char *names[] = {"aarch64", "riscv64", "s390x", "i386", "mips64el", "ppc"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const struct xarch_arch *a = xarch_arch_lookup(names[i]);
		if (!a) {
			CHECK(false, "row %s", names[i]);
			continue;
		}
		snprintf(root, sizeof(root), "%s/arch-%s-%s", tmpdir, m, names[i]);
		mkdirs(root, "usr/bin");
		write_at(root, "usr/bin/dash", h, elf_header(a, h));
		link_at(root, "bin", "usr/bin");
		link_at(root, "usr/bin/sh", "dash");
		int rootfd = xarch_root_open_dir(root, &err);
		got = NULL;
		int r = xarch_root_arch(rootfd, NULL, &got, &err);
		CHECK(r == 0 && got == a, "%s: /bin/sh -> dash, /bin -> usr/bin: %s (%s)", m,
		      names[i], r ? err.msg : got->name);
		close(rootfd);
	}

	/* a real program: the host's own /bin/true, copied */
	snprintf(root, sizeof(root), "%s/arch-%s-host", tmpdir, m);
	mkdirs(root, "usr/bin");
	int in = open("/bin/true", O_RDONLY);
	uint8_t *bin = malloc(1 << 20);
	ssize_t len = in >= 0 ? read(in, bin, 1 << 20) : -1;
	if (in >= 0)
		close(in);
	if (len > 64) {
		write_at(root, "usr/bin/env", bin, (size_t)len);
		int rootfd = xarch_root_open_dir(root, &err);
		int r = xarch_root_arch(rootfd, NULL, &got, &err);
		CHECK(r == 0 && got == xarch_arch_host(),
		      "%s: no /bin/sh, /usr/bin/env is a copy of the host's true (%s)", m,
		      r ? err.msg : got->name);
		close(rootfd);
	} else {
		SKIP("%s: no readable /bin/true to copy", m);
	}
	free(bin);

	snprintf(root, sizeof(root), "%s/arch-%s-script", tmpdir, m);
	mkdirs(root, "bin");
	mkdirs(root, "sbin");
	write_str(root, "bin/sh", "#!/bin/busybox sh\necho hi\n");
	write_str(root, "bin/text",
		  "just text, long enough to be more than sixty-four bytes .....\n");
	write_at(root, "bin/short",
		 "\x7f"
		 "ELF\x02\x01\x01",
		 7);
	link_at(root, "bin/dangling", "/nonexistent");
	int rootfd = xarch_root_open_dir(root, &err);
	CHECK_INT(xarch_root_arch(rootfd, NULL, &got, &err), -ENOEXEC, "%s: script: %s", m,
		  err.msg);
	CHECK(strstr(err.msg, "script") && strstr(err.msg, "/bin/sh"), "%s: ... says script", m);
	CHECK_INT(xarch_root_arch(rootfd, "/bin/text", &got, &err), -ENOEXEC, "%s: text: %s", m,
		  err.msg);
	CHECK_INT(xarch_root_arch(rootfd, "/bin/short", &got, &err), -ENOEXEC,
		  "%s: truncated header: %s", m, err.msg);
	CHECK_INT(xarch_root_arch(rootfd, "/bin/none", &got, &err), -ENOENT,
		  "%s: missing program: %s", m, err.msg);
	CHECK_INT(xarch_root_arch(rootfd, "/bin/dangling", &got, &err), -ENOENT,
		  "%s: dangling link: %s", m, err.msg);
	CHECK_INT(xarch_root_arch(rootfd, "/bin", &got, &err), -ENOEXEC, "%s: a directory: %s", m,
		  err.msg);
	close(rootfd);

	snprintf(root, sizeof(root), "%s/arch-%s-empty", tmpdir, m);
	mkdirs(root, "bin");
	link_at(root, "bin/sh", "/bin/busybox"); /* dangling: next candidate */
	snprintf(path, sizeof(path), "%s/sbin", root);
	rootfd = xarch_root_open_dir(root, &err);
	CHECK_INT(xarch_root_arch(rootfd, NULL, &got, &err), -ENOENT, "%s: empty rootfs: %s", m,
		  err.msg);
	close(rootfd);
}

int main(void)
{
	const char *t = getenv("TMPDIR");
	snprintf(tmpdir, sizeof(tmpdir), "%s/xarch-test-rootfs-XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 2;
	}
	for (int mode = 0; mode < 2; mode++)
		test_open(mode);
	unsetenv("XARCH_NO_OPENAT2");
	test_misc();
	test_user();
	test_env();
	for (int mode = 0; mode < 2; mode++)
		test_arch(mode);
	unsetenv("XARCH_NO_OPENAT2");
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return check_done();
}
