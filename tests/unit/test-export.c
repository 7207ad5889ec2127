// SPDX-License-Identifier: MIT
/* xarch_export(): a small tree to each format, parsed back with the OCI
 * parsers, digests checked, and byte-identical output under
 * SOURCE_DATE_EPOCH. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "digest.h"
#include "internal.h"
#include "xarch/export.h"
#include "xarch/oci.h"

static char top[64];

static void put(const char *rel, const char *text, mode_t mode)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", top, rel);
	FILE *f = fopen(p, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
	chmod(p, mode);
}

static void mk_tree(void)
{
	char p[256], q[256];
	snprintf(p, sizeof(p), "%s/root", top);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/root/etc", top);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/root/bin", top);
	mkdir(p, 0700);
	put("root/etc/hello", "hello\n", 0640);
	put("root/bin/su", "#!/bin/sh\n", 04755);
	snprintf(p, sizeof(p), "%s/root/etc/hello", top);
	snprintf(q, sizeof(q), "%s/root/etc/hard", top);
	link(p, q);
	snprintf(q, sizeof(q), "%s/root/bin/link", top);
	symlink("../etc/hello", q);
}

static char *read_all(const char *path, size_t *len)
{
	char *buf = NULL;
	if (xa_read_file(path, 1 << 24, &buf, len, NULL) < 0)
		return NULL;
	return buf;
}

static char *blob(const char *layout, const char *digest, size_t *len)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/blobs/sha256/%s", layout, digest + 7);
	return read_all(p, len);
}

/* sha256 of the gunzipped file */
static bool gunzip_digest(const char *path, char out[XARCH_DIGEST_LEN + 1])
{
	gzFile g = gzopen(path, "rb");
	if (!g)
		return false;
	struct xa_sha256 c;
	xa_sha256_init(&c);
	char buf[8192];
	int n;
	while ((n = gzread(g, buf, sizeof(buf))) > 0)
		xa_sha256_update(&c, buf, (size_t)n);
	gzclose(g);
	char hex[65];
	xa_sha256_hex(&c, hex);
	snprintf(out, XARCH_DIGEST_LEN + 1, "sha256:%s", hex);
	return n == 0;
}

static void test_oci_layout(void)
{
	char root[128], dest[256], layout[160];
	snprintf(root, sizeof(root), "%s/root", top);
	snprintf(layout, sizeof(layout), "%s/L", top);
	snprintf(dest, sizeof(dest), "oci:%s:t1", layout);
	struct xarch_export_opts o = {.platform = "linux/riscv64"};
	struct xarch_export_result res;
	struct xarch_error err = {0};
	int r = xarch_export(root, dest, &o, &res, &err);
	CHECK_INT(r, 0, "export to oci: (%s)", err.msg);
	if (r < 0)
		return;
	CHECK_STR(res.platform, "linux/riscv64", "platform reported");
	CHECK_INT(res.entries, 6, "entries: bin bin/link bin/su etc etc/hard etc/hello");

	char p[512];
	size_t len;
	snprintf(p, sizeof(p), "%s/index.json", layout);
	_cleanup_free_ char *ij = read_all(p, &len);
	struct xarch_oci_index idx = {0};
	r = ij ? xarch_oci_index_parse(ij, len, &idx, &err) : -1;
	CHECK_INT(r, 0, "index.json parses (%s)", err.msg);
	if (r < 0)
		return;
	CHECK_INT(idx.n, 1, "one manifest");
	CHECK_STR(idx.manifests[0].ref_name, "t1", "ref.name annotation");
	CHECK_STR(idx.manifests[0].digest, res.manifest_digest, "manifest digest reported");

	_cleanup_free_ char *mj = blob(layout, res.manifest_digest, &len);
	struct xarch_oci_manifest m = {0};
	r = mj ? xarch_oci_manifest_parse(mj, len, &m, &err) : -1;
	CHECK_INT(r, 0, "manifest parses (%s)", err.msg);
	if (r >= 0) {
		CHECK(!m.docker, "an OCI manifest");
		CHECK_INT(m.n_layers, 1, "one layer");
		CHECK_STR(m.config.digest, res.config_digest, "config digest");
		CHECK_STR(m.layers[0].digest, res.layer_digest, "layer digest");
		CHECK_INT(m.layers[0].size, res.layer_size, "layer size");
		snprintf(p, sizeof(p), "%s/blobs/sha256/%s", layout, res.layer_digest + 7);
		int fd = open(p, O_RDONLY | O_CLOEXEC);
		CHECK_INT(xarch_blob_verify_fd(fd, m.layers[0].digest, m.layers[0].size, &err), 0,
			  "layer blob matches its digest (%s)", err.msg);
		close(fd);
		char diff[XARCH_DIGEST_LEN + 1] = "";
		CHECK(gunzip_digest(p, diff), "layer gunzips");
		CHECK_STR(diff, res.diff_id, "diff_id is the sha256 of the tar");
	}
	_cleanup_free_ char *cj = blob(layout, res.config_digest, &len);
	struct xarch_oci_config c = {0};
	r = cj ? xarch_oci_config_parse(cj, len, &c, &err) : -1;
	CHECK_INT(r, 0, "config parses (%s)", err.msg);
	if (r >= 0) {
		CHECK_STR(c.arch, "riscv64", "config architecture");
		CHECK_STR(c.os, "linux", "config os");
		CHECK_INT(c.n_diff_ids, 1, "one diff_id");
		if (c.n_diff_ids == 1)
			CHECK_STR(c.diff_ids[0], res.diff_id, "config diff_id");
	}
	xarch_oci_config_release(&c);
	xarch_oci_manifest_release(&m);
	xarch_oci_index_release(&idx);

	r = xarch_export(root, dest, &o, &res, &err);
	CHECK_INT(r, -EEXIST, "an existing oci: directory is refused");
}

static bool same_file(const char *a, const char *b)
{
	size_t la, lb;
	_cleanup_free_ char *x = read_all(a, &la);
	_cleanup_free_ char *y = read_all(b, &lb);
	return x && y && la == lb && memcmp(x, y, la) == 0;
}

static void test_reproducible(void)
{
	static const char *const kinds[][3] = {
	    {"tar:", ".tar.gz", ""},
	    {"oci-archive:", "-o.tar", ":t"},
	    {"docker-archive:", "-d.tar", ":repo:tag"},
	    {"tar:", ".tar", ""},
	};
	char root[128];
	snprintf(root, sizeof(root), "%s/root", top);
	struct xarch_export_opts o = {.platform = "arm64"};
	setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
		char d1[512], d2[512];
		struct xarch_error err = {0};
		snprintf(d1, sizeof(d1), "%s%s/a%s%s", kinds[i][0], top, kinds[i][1], kinds[i][2]);
		snprintf(d2, sizeof(d2), "%s%s/b%s%s", kinds[i][0], top, kinds[i][1], kinds[i][2]);
		int r1 = xarch_export(root, d1, &o, NULL, &err);
		/* a later export of a touched tree must not differ */
		char p[256];
		snprintf(p, sizeof(p), "%s/root/etc/hello", top);
		utimensat(AT_FDCWD, p, NULL, 0);
		int r2 = xarch_export(root, d2, &o, NULL, &err);
		CHECK(r1 == 0 && r2 == 0, "%s%s twice (%s)", kinds[i][0], kinds[i][1], err.msg);
		char *f1 = strchr(d1, ':') + 1, *f2 = strchr(d2, ':') + 1;
		char *c1 = strchr(f1, ':'), *c2 = strchr(f2, ':');
		if (c1)
			*c1 = '\0';
		if (c2)
			*c2 = '\0';
		CHECK(same_file(f1, f2), "%s%s: byte-identical with SOURCE_DATE_EPOCH", kinds[i][0],
		      kinds[i][1]);
	}
	unsetenv("SOURCE_DATE_EPOCH");
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;
	if (!d)
		return -1;
	for (struct dirent *de; (de = readdir(d));)
		n += de->d_name[0] != '.' || (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."));
	closedir(d);
	return n;
}

static void test_failures(void)
{
	char root[128], d[256], out[160];
	snprintf(root, sizeof(root), "%s/root", top);
	snprintf(out, sizeof(out), "%s/out", top);
	mkdir(out, 0755);
	struct xarch_error err = {0};
	static const char *const bad[][2] = {
	    {"zip:", "/x"}, {"tar:", "/nodir/x.tar"}, {"oci:", "/nodir/L"}};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		snprintf(d, sizeof(d), "%s%s%s", bad[i][0], out, bad[i][1]);
		CHECK(xarch_export(root, d, NULL, NULL, &err) < 0, "%s fails: %s", d, err.msg);
	}
	/* no /bin/sh and no --platform: an image needs a platform */
	snprintf(d, sizeof(d), "oci:%s/L", out);
	int r = xarch_export(root, d, NULL, NULL, &err);
	CHECK(r < 0 && strstr(err.msg, "--platform"), "no arch found: %s", err.msg);
	snprintf(d, sizeof(d), "tar:%s/x.tar", out);
	CHECK(xarch_export("/nonexistent-xarch", d, NULL, NULL, &err) == -ENOENT,
	      "missing rootfs: %s", err.msg);
	CHECK_INT(count_entries(out), 0, "failed exports leave nothing behind");
}

static int rm_one(const char *p, const struct stat *st, int type, struct FTW *f)
{
	return remove(p) < 0 ? 0 : 0;
}

int main(void)
{
	snprintf(top, sizeof(top), "/tmp/xarch-test-export.XXXXXX");
	if (!mkdtemp(top)) {
		perror("mkdtemp");
		return 1;
	}
	umask(022);
	mk_tree();
	test_oci_layout();
	test_reproducible();
	test_failures();
	nftw(top, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return check_done();
}
