// SPDX-License-Identifier: MIT
/* /etc/subuid parsing, the rootless map layout, and maps written for a real
 * child in a new user namespace (the kernel's uid_map as the oracle). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "xarch/idmap.h"

static char tmpdir[256];

static void write_file(const char *rel, const char *s, mode_t mode)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0 || write(fd, s, strlen(s)) != (ssize_t)strlen(s)) {
		perror(path);
		exit(2);
	}
	close(fd);
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

static bool map_is(const struct xarch_idmap *m, uint32_t in, uint32_t out, uint32_t count)
{
	return m->inside == in && m->outside == out && m->count == count;
}

static void test_subid(void)
{
	char path[512];
	struct xarch_idmap r[8];
	snprintf(path, sizeof(path), "%s/subuid", tmpdir);
	write_file("subuid",
		   "# comment\n"
		   "alice:100000:65536\n"
		   "1000:200000:1000\n"
		   "bob:300000:65536\n"
		   "alice:bad:10\n"
		   "alice:400000\n"
		   "alice:1:2:3\n"
		   "alice:4294967000:1000\n"
		   "alice:4294967295:1\n"
		   "alice:500000:0\n"
		   "alice:-5:10\n"
		   "alice: 7:10\n"
		   "\n"
		   "alice:600000:10\n"
		   "carol:700000:99999999999\n"
		   "edge:4294901759:65536\n"
		   "alicex:800000:10\n"
		   "4294967295:900000:10\n",
		   0644);
	int n = xarch_subid_ranges(path, "alice", 1000, r, 8);
	CHECK_INT(n, 3, "alice/1000: three ranges");
	CHECK(n == 3 && map_is(&r[0], 0, 100000, 65536) && map_is(&r[1], 0, 200000, 1000) &&
		  map_is(&r[2], 0, 600000, 10),
	      "alice/1000: by name and by uid, file order");
	CHECK_INT(xarch_subid_ranges(path, NULL, 1000, r, 8), 1, "uid 1000 alone");
	CHECK_INT(xarch_subid_ranges(path, "bob", 4294967295u, r, 8), 1, "bob by name");
	CHECK_INT(xarch_subid_ranges(path, "alice", 1000, r, 2), 2, "max bounds the result");
	CHECK_INT(xarch_subid_ranges(path, "carol", 4294967295u, r, 8), 0,
		  "count over 32 bits is skipped");
	n = xarch_subid_ranges(path, "edge", 4294967295u, r, 8);
	CHECK(n == 1 && map_is(&r[0], 0, 4294901759u, 65536), "a range ending at 2^32-1 is ok");
	CHECK_INT(xarch_subid_ranges(path, "nobody", 4242, r, 8), 0, "unknown user: none");
	CHECK_INT(xarch_subid_ranges(path, "", 4294967295u, r, 8), 0,
		  "empty name, invalid id match nothing");
	snprintf(path, sizeof(path), "%s/missing", tmpdir);
	CHECK_INT(xarch_subid_ranges(path, "alice", 1000, r, 8), 0, "missing file: none");
}

static void test_rootless(void)
{
	char subuid[512], subgid[512], tools[512], empty[512];
	struct xarch_idmaps m;
	struct xarch_error err = {0};
	snprintf(subuid, sizeof(subuid), "%s/r-subuid", tmpdir);
	snprintf(subgid, sizeof(subgid), "%s/r-subgid", tmpdir);
	snprintf(tools, sizeof(tools), "%s/tools", tmpdir);
	snprintf(empty, sizeof(empty), "%s/empty", tmpdir);
	mkdir(tools, 0755);
	mkdir(empty, 0755);
	write_file("tools/newuidmap", "#!/bin/sh\nexit 0\n", 0755);
	write_file("tools/newgidmap", "#!/bin/sh\nexit 0\n", 0755);

	/* uid 0 is "root" in every passwd; ranges by name and by number */
	write_file("r-subuid", "root:100000:65536\n0:300000:10\nother:1:1\n", 0644);
	write_file("r-subgid", "root:200000:65536\n", 0644);
	int r = xarch_idmaps_rootless_files(0, 0, subuid, subgid, tools, &m, &err);
	CHECK_INT(r, 0, "rootless maps (%s)", err.msg);
	CHECK(m.full, "ranges and tools: full");
	CHECK(m.n_uid == 3 && map_is(&m.uid[0], 0, 0, 1) && map_is(&m.uid[1], 1, 100000, 65536) &&
		  map_is(&m.uid[2], 65537, 300000, 10),
	      "uid: self as 0, then ranges from 1 up");
	CHECK(m.n_gid == 2 && map_is(&m.gid[0], 0, 0, 1) && map_is(&m.gid[1], 1, 200000, 65536),
	      "gid: self as 0, subgid keyed by the user");

	r = xarch_idmaps_rootless_files(0, 0, subuid, subgid, empty, &m, &err);
	CHECK(r == 0 && !m.full && m.n_uid == 1 && m.n_gid == 1,
	      "no newuidmap in PATH: single ids, not full");
	snprintf(subgid, sizeof(subgid), "%s/missing", tmpdir);
	r = xarch_idmaps_rootless_files(0, 0, subuid, subgid, tools, &m, &err);
	CHECK(r == 0 && !m.full && m.n_uid == 1 && map_is(&m.gid[0], 0, 0, 1),
	      "no subgid ranges: single ids, not full");

	/* an unnamed uid; a range containing the caller's own id is skipped
	 * (the kernel refuses overlapping maps) */
	write_file("r-subuid", "3000000:2999990:100\n3000000:100000:65536\n", 0644);
	write_file("r-subgid", "3000000:100000:65536\n", 0644);
	snprintf(subgid, sizeof(subgid), "%s/r-subgid", tmpdir);
	r = xarch_idmaps_rootless_files(3000000, 3000001, subuid, subgid, tools, &m, &err);
	CHECK(r == 0 && m.full && m.n_uid == 2 && map_is(&m.uid[0], 0, 3000000, 1) &&
		  map_is(&m.uid[1], 1, 100000, 65536) && map_is(&m.gid[0], 0, 3000001, 1),
	      "overlap with the own id skipped (%s)", err.msg);

	/* huge ranges: inside ids stay below 2^32-1 */
	write_file("r-subgid", "root:200000:65536\n", 0644);
	write_file("r-subuid", "root:100:4294000000\nroot:4294100000:867295\n", 0644);
	r = xarch_idmaps_rootless_files(0, 0, subuid, subgid, tools, &m, &err);
	CHECK(r == 0 && m.n_uid == 3 && map_is(&m.uid[1], 1, 100, 4294000000u) &&
		  map_is(&m.uid[2], 4294000001u, 4294100000u, 867295) &&
		  (uint64_t)m.uid[2].inside + m.uid[2].count <= 4294967295u,
	      "huge ranges: inside ids below 2^32-1");

	/* more ranges than slots */
	char many[2048] = "";
	for (int i = 0; i < 12; i++) {
		char line[64];
		snprintf(line, sizeof(line), "root:%d:10\n", 100000 + 100 * i);
		strcat(many, line);
	}
	write_file("r-subuid", many, 0644);
	r = xarch_idmaps_rootless_files(0, 0, subuid, subgid, tools, &m, &err);
	CHECK(r == 0 && m.n_uid == 8 && m.uid[7].inside == 61, "at most 8 uid ranges");

	xarch_idmaps_identity(&m);
	CHECK(m.n_uid == 1 && m.n_gid == 1 && map_is(&m.uid[0], 0, 0, 4294967295u) &&
		  map_is(&m.gid[0], 0, 0, 4294967295u) && m.full,
	      "identity maps");
}

/* A child in a new user namespace, waiting for the go. */
struct child {
	pid_t pid;
	int go;
};

static int child_start(struct child *c)
{
	int ready[2], go[2];
	if (pipe(ready) < 0 || pipe(go) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		close(ready[0]);
		close(go[1]);
		char ok = unshare(CLONE_NEWUSER) == 0 ? 'R' : 'E';
		if (write(ready[1], &ok, 1) != 1)
			_exit(2);
		char x;
		if (read(go[0], &x, 1) < 0)
			_exit(2);
		_exit(0);
	}
	close(ready[1]);
	close(go[0]);
	char ok = 0;
	ssize_t n = read(ready[0], &ok, 1);
	close(ready[0]);
	c->pid = pid;
	c->go = go[1];
	return n == 1 && ok == 'R' ? 0 : -EPERM;
}

static void child_stop(struct child *c)
{
	close(c->go);
	waitpid(c->pid, NULL, 0);
}

/* /proc/PID/FILE as "in out count" triples separated by ';'. */
static const char *read_map(pid_t pid, const char *file, char *out, size_t len)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	out[0] = '\0';
	FILE *f = fopen(path, "re");
	if (!f)
		return out;
	size_t off = 0;
	while (fgets(buf, sizeof(buf), f)) {
		unsigned a, b, c;
		if (sscanf(buf, "%u %u %u", &a, &b, &c) == 3)
			off += (size_t)snprintf(out + off, len - off, "%s%u %u %u", off ? ";" : "",
						a, b, c);
		else
			off += (size_t)snprintf(out + off, len - off, "%s%s", off ? ";" : "",
						strtok(buf, "\n"));
	}
	fclose(f);
	return out;
}

static void test_apply(void)
{
	struct child c;
	struct xarch_error err = {0};
	char got[512], want[128];
	int r = child_start(&c);
	if (r < 0) {
		SKIP("user namespaces are unavailable (unshare(CLONE_NEWUSER) failed): "
		     "xarch_idmaps_apply not tested");
		if (r == -EPERM)
			child_stop(&c);
		return;
	}
	/* the caller's own ids, what works without privileges */
	struct xarch_idmaps m = {.n_uid = 1, .n_gid = 1};
	m.uid[0] = (struct xarch_idmap){0, (uint32_t)geteuid(), 1};
	m.gid[0] = (struct xarch_idmap){0, (uint32_t)getegid(), 1};
	r = xarch_idmaps_apply(c.pid, &m, &err);
	CHECK_INT(r, 0, "single-id maps applied (%s)", err.msg);
	snprintf(want, sizeof(want), "0 %u 1", (unsigned)geteuid());
	CHECK_STR(read_map(c.pid, "uid_map", got, sizeof(got)), want, "uid_map of the child");
	snprintf(want, sizeof(want), "0 %u 1", (unsigned)getegid());
	CHECK_STR(read_map(c.pid, "gid_map", got, sizeof(got)), want, "gid_map of the child");
	CHECK_STR(read_map(c.pid, "setgroups", got, sizeof(got)), "deny", "setgroups denied");
	CHECK_INT(xarch_idmaps_apply(c.pid, &m, &err), -EPERM, "maps are written once: %s",
		  err.msg);
	child_stop(&c);

	if (geteuid() != 0) {
		SKIP("not root: identity and multi-range direct maps not tested");
	} else {
		if (child_start(&c) == 0) {
			xarch_idmaps_identity(&m);
			r = xarch_idmaps_apply(c.pid, &m, &err);
			CHECK_INT(r, 0, "identity maps applied (%s)", err.msg);
			CHECK_STR(read_map(c.pid, "uid_map", got, sizeof(got)), "0 0 4294967295",
				  "identity uid_map");
			CHECK_STR(read_map(c.pid, "gid_map", got, sizeof(got)), "0 0 4294967295",
				  "identity gid_map");
			CHECK_STR(read_map(c.pid, "setgroups", got, sizeof(got)), "allow",
				  "identity: setgroups still allowed");
			child_stop(&c);
		}
		if (child_start(&c) == 0) {
			m = (struct xarch_idmaps){.n_uid = 2, .n_gid = 2};
			m.uid[0] = m.gid[0] = (struct xarch_idmap){0, 0, 1};
			m.uid[1] = m.gid[1] = (struct xarch_idmap){1, 100000, 65536};
			r = xarch_idmaps_apply(c.pid, &m, &err);
			CHECK_INT(r, 0, "root: two ranges written directly (%s)", err.msg);
			CHECK_STR(read_map(c.pid, "uid_map", got, sizeof(got)),
				  "0 0 1;1 100000 65536", "two-range uid_map");
			CHECK_STR(read_map(c.pid, "gid_map", got, sizeof(got)),
				  "0 0 1;1 100000 65536", "two-range gid_map");
			child_stop(&c);
		}
	}

	/* through newuidmap/newgidmap: the caller's own id is always allowed */
	char tool[512];
	const char *path = getenv("PATH");
	bool have = false;
	for (const char *p = path ? path : ""; p && *p;) {
		const char *e = strchrnul(p, ':');
		snprintf(tool, sizeof(tool), "%.*s/newuidmap", (int)(e - p), p);
		have |= access(tool, X_OK) == 0;
		p = *e ? e + 1 : e;
	}
	if (!have) {
		SKIP("newuidmap not installed (uidmap package): helper path not tested");
	} else if (child_start(&c) == 0) {
		m = (struct xarch_idmaps){.n_uid = 1, .n_gid = 1};
		m.uid[0] = (struct xarch_idmap){0, (uint32_t)getuid(), 1};
		m.gid[0] = (struct xarch_idmap){0, (uint32_t)getgid(), 1};
		r = xarch_idmaps_apply_helpers(c.pid, &m, &err);
		CHECK_INT(r, 0, "newuidmap/newgidmap applied the own ids (%s)", err.msg);
		snprintf(want, sizeof(want), "0 %u 1", (unsigned)getuid());
		CHECK_STR(read_map(c.pid, "uid_map", got, sizeof(got)), want,
			  "uid_map via newuidmap");
		child_stop(&c);
	}

	/* the helpers missing, or refusing */
	char *saved = path ? strdup(path) : NULL;
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/empty", tmpdir);
	setenv("PATH", dir, 1);
	m = (struct xarch_idmaps){.n_uid = 1, .n_gid = 1};
	m.uid[0] = m.gid[0] = (struct xarch_idmap){0, 1, 1};
	r = xarch_idmaps_apply_helpers(getpid(), &m, &err);
	CHECK_INT(r, -ENOENT, "no newuidmap: %s", err.msg);
	CHECK(strstr(err.msg, "newuidmap") && strstr(err.msg, "uidmap package"),
	      "... names the tool and the package");
	snprintf(dir, sizeof(dir), "%s/refuse", tmpdir);
	mkdir(dir, 0755);
	write_file(
	    "refuse/newuidmap",
	    "#!/bin/sh\necho 'newuidmap: uid range [1-2) -> [1-2) not allowed' >&2\nexit 1\n",
	    0755);
	setenv("PATH", dir, 1);
	r = xarch_idmaps_apply_helpers(getpid(), &m, &err);
	CHECK_INT(r, -EPERM, "newuidmap refuses: %s", err.msg);
	CHECK(strstr(err.msg, "not allowed") && strstr(err.msg, "usermod --add-subuids") &&
		  strstr(err.msg, "/etc/subuid"),
	      "... with its message and the usermod fix");
	if (saved)
		setenv("PATH", saved, 1);
	free(saved);

	/* invalid maps never reach the kernel */
	m = (struct xarch_idmaps){.n_uid = 0, .n_gid = 1};
	CHECK_INT(xarch_idmaps_apply(getpid(), &m, &err), -EINVAL, "no uid ranges: %s", err.msg);
	m = (struct xarch_idmaps){.n_uid = 1, .n_gid = 1};
	m.uid[0] = (struct xarch_idmap){4294967000u, 0, 1000};
	m.gid[0] = (struct xarch_idmap){0, 0, 1};
	CHECK_INT(xarch_idmaps_apply(getpid(), &m, &err), -EINVAL, "range past 2^32-1: %s",
		  err.msg);
	m.uid[0] = (struct xarch_idmap){0, 0, 0};
	CHECK_INT(xarch_idmaps_apply(getpid(), &m, &err), -EINVAL, "empty range: %s", err.msg);
	CHECK_INT(xarch_idmaps_apply(0, &m, &err), -EINVAL, "pid 0: %s", err.msg);
}

int main(void)
{
	const char *t = getenv("TMPDIR");
	snprintf(tmpdir, sizeof(tmpdir), "%s/xarch-test-idmap-XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 2;
	}
	test_subid();
	test_rootless();
	test_apply();
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return check_done();
}
