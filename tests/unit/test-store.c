// SPDX-License-Identifier: MIT
/* The local image store: its directory, reference keys, listing a store
 * built by hand, removal by name, digest and prefix. */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "xarch/store.h"

#define HA "aaaa111111111111111111111111111111111111111111111111111111111111"
#define HB "aaaa222222222222222222222222222222222222222222222222222222222222"

static char tmp[PATH_MAX];

static void put(const char *rel, const char *text)
{
	char p[PATH_MAX * 2];
	snprintf(p, sizeof(p), "%s/%s", tmp, rel);
	FILE *f = fopen(p, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void mk(const char *rel)
{
	char p[PATH_MAX * 2];
	snprintf(p, sizeof(p), "%s/%s", tmp, rel);
	mkdir(p, 0755);
}

static void test_root(void)
{
	char buf[PATH_MAX];
	setenv("XARCH_STORE", "/x/store", 1);
	CHECK(xarch_store_root(buf, sizeof(buf), NULL) == 0, "root: XARCH_STORE returns");
	CHECK_STR(buf, "/x/store", "root: XARCH_STORE is taken as is");
	unsetenv("XARCH_STORE");
	if (geteuid() == 0) {
		CHECK(xarch_store_root(buf, sizeof(buf), NULL) == 0, "root: as root");
		CHECK_STR(buf, "/var/lib/xarch", "root: /var/lib/xarch as root");
		return;
	}
	setenv("XDG_DATA_HOME", "/d", 1);
	xarch_store_root(buf, sizeof(buf), NULL);
	CHECK_STR(buf, "/d/xarch", "root: $XDG_DATA_HOME/xarch");
	unsetenv("XDG_DATA_HOME");
	setenv("HOME", "/h", 1);
	xarch_store_root(buf, sizeof(buf), NULL);
	CHECK_STR(buf, "/h/.local/share/xarch", "root: ~/.local/share/xarch");
}

static void test_ref_key(void)
{
	char buf[8192], want[PATH_MAX * 2];
	mk("L");
	if (chdir(tmp) < 0)
		return;
	CHECK(xarch_store_ref_key("oci:L:t", buf, sizeof(buf), NULL) == 0, "key: oci:L:t");
	snprintf(want, sizeof(want), "oci:%s/L:t", tmp);
	CHECK_STR(buf, want, "key: relative path made absolute");
	xarch_store_ref_key("oci:./L", buf, sizeof(buf), NULL);
	snprintf(want, sizeof(want), "oci:%s/L", tmp);
	CHECK_STR(buf, want, "key: no tag, ./ folded");
	xarch_store_ref_key("oci-archive:missing.tar:x", buf, sizeof(buf), NULL);
	CHECK_STR(buf, "oci-archive:missing.tar:x", "key: a missing path is kept as written");
	struct xarch_error err = {0};
	CHECK_INT(xarch_store_ref_key("nope:x", buf, sizeof(buf), &err), -EINVAL,
		  "key: unknown transport refused");
	CHECK_INT(xarch_store_ref_key("/plain/dir", buf, sizeof(buf), NULL), -EINVAL,
		  "key: a plain path is no source");
	CHECK_INT(xarch_store_ref_key("oci:L:t", buf, 8, NULL), -ENAMETOOLONG,
		  "key: a short buffer is reported");
	if (chdir("/") < 0)
		return;
}

static void build_store(void)
{
	mk("s");
	mk("s/rootfs");
	mk("s/rootfs/" HA);
	put("s/rootfs/" HA "/file", "hello");
	put("s/rootfs/" HA ".json", "{\"digest\": \"sha256:" HA "\", \"source\": \"oci:/a:t\", "
				    "\"platform\": \"linux/riscv64\", \"created\": 100, "
				    "\"size\": 5}");
	mk("s/rootfs/" HB); /* no metadata: still listed */
	mk("s/rootfs/not-a-digest");
	mk("s/rootfs/.rm-" HA);
	put("s/refs.json", "{\"oci:/b:t\": \"sha256:" HA "\", \"oci:/a:t\": \"sha256:" HA "\", "
			   "\"oci:/c\": \"sha256:" HB "\", \"bad\": \"x\", \"n\": 3}");
}

static void test_list(void)
{
	char root[PATH_MAX * 2];
	snprintf(root, sizeof(root), "%s/s", tmp);
	struct xarch_store_entry *v = NULL;
	size_t n = 99;
	struct xarch_error err = {0};
	int r = xarch_store_list(root, &v, &n, &err);
	CHECK(r == 0, "list: returns 0 (%s)", err.msg);
	CHECK_INT(n, 2, "list: two entries, other names ignored");
	if (r < 0 || n != 2)
		return;
	CHECK_STR(v[0].digest, "sha256:" HA, "list: newest first");
	CHECK_STR(v[0].platform, "linux/riscv64", "list: platform from the metadata");
	CHECK_STR(v[0].source, "oci:/a:t", "list: source from the metadata");
	CHECK_INT(v[0].created, 100, "list: created");
	CHECK_INT(v[0].size, 5, "list: size");
	CHECK_INT(v[0].n_refs, 2, "list: both refs of A");
	if (v[0].n_refs == 2) {
		CHECK_STR(v[0].refs[0], "oci:/a:t", "list: refs sorted (1)");
		CHECK_STR(v[0].refs[1], "oci:/b:t", "list: refs sorted (2)");
	}
	CHECK_STR(v[1].digest, "sha256:" HB, "list: entry without metadata");
	CHECK_STR(v[1].platform, "", "list: no platform without metadata");
	CHECK_INT(v[1].n_refs, 1, "list: one ref of B");
	xarch_store_list_free(v, n);

	snprintf(root, sizeof(root), "%s/none", tmp);
	CHECK(xarch_store_list(root, &v, &n, NULL) == 0 && n == 0,
	      "list: a store that does not exist is empty");
	xarch_store_list_free(v, n);
}

static void test_remove(void)
{
	char root[PATH_MAX * 2], d[80] = "";
	snprintf(root, sizeof(root), "%s/s", tmp);
	struct xarch_error err = {0};
	CHECK_INT(xarch_store_remove(root, "aaaa", d, &err), -EINVAL, "rmi: ambiguous prefix");
	CHECK(strstr(err.msg, "more than one") != NULL, "rmi: says so (%s)", err.msg);
	CHECK_INT(xarch_store_remove(root, "aaa", d, NULL), -ENOENT, "rmi: 3 digits are too few");
	CHECK_INT(xarch_store_remove(root, "zzzz", d, NULL), -ENOENT, "rmi: not hex");
	CHECK_INT(xarch_store_remove(root, "oci:/nothing", d, NULL), -ENOENT, "rmi: unknown ref");
	CHECK_INT(xarch_store_remove(root, "oci:/b:t", d, NULL), 0, "rmi: by ref");
	CHECK_STR(d, "sha256:" HA, "rmi: reports the digest");
	struct xarch_store_entry *v = NULL;
	size_t n = 0;
	xarch_store_list(root, &v, &n, NULL);
	CHECK(n == 1 && !strcmp(v[0].digest, "sha256:" HB), "rmi: only B is left");
	xarch_store_list_free(v, n);
	char p[PATH_MAX * 3];
	struct stat st;
	snprintf(p, sizeof(p), "%s/rootfs/%s", root, HA);
	CHECK(lstat(p, &st) < 0, "rmi: the tree is gone");
	snprintf(p, sizeof(p), "%s/rootfs/.rm-%s", root, HA);
	CHECK(lstat(p, &st) < 0, "rmi: no hidden leftover");
	snprintf(p, sizeof(p), "%s/rootfs/%s.json", root, HA);
	CHECK(lstat(p, &st) < 0, "rmi: the metadata is gone");
	CHECK_INT(xarch_store_remove(root, "sha256:" HB, d, NULL), 0, "rmi: by full digest");
	xarch_store_list(root, &v, &n, NULL);
	CHECK_INT(n, 0, "rmi: the store is empty");
	xarch_store_list_free(v, n);
	CHECK_INT(xarch_store_remove(root, "sha256:" HB, d, NULL), -ENOENT, "rmi: twice fails");
}

static void test_bad_refs(void)
{
	char root[PATH_MAX * 2];
	mk("bad");
	put("bad/refs.json", "[1, 2");
	snprintf(root, sizeof(root), "%s/bad", tmp);
	struct xarch_store_entry *v = NULL;
	size_t n = 0;
	struct xarch_error err = {0};
	CHECK_INT(xarch_store_list(root, &v, &n, &err), -EINVAL, "refs: broken refs.json");
	CHECK(strstr(err.msg, "refs.json") != NULL, "refs: names the file (%s)", err.msg);
}

int main(void)
{
	snprintf(tmp, sizeof(tmp), "/tmp/xarch-store-test.XXXXXX");
	if (!mkdtemp(tmp)) {
		perror("mkdtemp");
		return 1;
	}
	test_root();
	test_ref_key();
	build_store();
	test_list();
	test_remove();
	test_bad_refs();
	char *rm[] = {"rm", "-rf", tmp, NULL};
	pid_t pid = fork();
	if (pid == 0) {
		execvp("rm", rm);
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
	return check_done();
}
