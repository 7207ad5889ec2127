// SPDX-License-Identifier: MIT
/*
 * Layers: the OCI changeset semantics on layers written here with
 * libarchive, and the hostile layers of tests/fixtures/malicious applied
 * inside TMP/root next to TMP/outside, whose canaries must not change.
 *   test-layer FIXTURE_DIR
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "check.h"
#include "digest.h"
#include "xarch/image.h"

/* the layer tables below name only the fields they need */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

static char tmp[4096], root[4200], outside[4200];
#ifndef LAYER_FIXTURES
#define LAYER_FIXTURES "tests/fixtures/malicious"
#endif
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static const char *fixtures = LAYER_FIXTURES;

/* ---- trees ---------------------------------------------------------------- */

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	return remove(p) < 0 ? -1 : 0;
}

static int chmod_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	if (flag == FTW_D || flag == FTW_DNR)
		chmod(p, 0700); /* read-only directories of a layer, unprivileged */
	return 0;
}

static void rm_rf(const char *p)
{
	nftw(p, chmod_cb, 64, FTW_PHYS);
	nftw(p, rm_cb, 64, FTW_DEPTH | FTW_PHYS);
}

static void put(const char *path, const char *data)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		perror(path);
		exit(2);
	}
	fputs(data, f);
	fclose(f);
}

static char *slurp(const char *path)
{
	static char buf[256];
	int fd = open(path, O_RDONLY | O_NOFOLLOW);
	if (fd < 0)
		return NULL;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return NULL;
	buf[n] = '\0';
	return buf;
}

static char *in_root(const char *p)
{
	static char buf[8192];
	snprintf(buf, sizeof(buf), "%s/%s", root, p);
	return buf;
}

static bool exists(const char *p)
{
	struct stat st;
	return lstat(in_root(p), &st) == 0;
}

static struct stat canary_st;

/* A fresh TMP/root and TMP/outside/{canary,sub/canary2}. */
static void fresh(void)
{
	rm_rf(root);
	rm_rf(outside);
	char p[8192];
	mkdir(root, 0755);
	mkdir(outside, 0755);
	snprintf(p, sizeof(p), "%s/canary", outside);
	put(p, "canary\n");
	stat(p, &canary_st);
	snprintf(p, sizeof(p), "%s/sub", outside);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/sub/canary2", outside);
	put(p, "canary2\n");
}

static size_t count_dir(const char *path)
{
	DIR *d = opendir(path);
	size_t n = 0;
	if (!d)
		return 0;
	for (struct dirent *de; (de = readdir(d));)
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	return n;
}

/* Nothing outside the root changed. */
static bool outside_intact(void)
{
	char p[8192];
	struct stat st;
	snprintf(p, sizeof(p), "%s/canary", outside);
	const char *c = slurp(p);
	if (!c || strcmp(c, "canary\n") || lstat(p, &st) < 0 || st.st_nlink != 1 ||
	    st.st_ino != canary_st.st_ino || st.st_mode != canary_st.st_mode ||
	    st.st_mtim.tv_sec != canary_st.st_mtim.tv_sec)
		return false;
	snprintf(p, sizeof(p), "%s/sub/canary2", outside);
	c = slurp(p);
	if (!c || strcmp(c, "canary2\n"))
		return false;
	snprintf(p, sizeof(p), "%s/sub", outside);
	if (count_dir(outside) != 2 || count_dir(p) != 1 || count_dir(tmp) != 2)
		return false;
	return access("/tmp/xarch-layer-test-abs", F_OK) != 0;
}

/* ---- applying ------------------------------------------------------------- */

static int apply_files(const char *const *files, size_t n, const struct xarch_layer_opts *o,
		       struct xarch_error *err)
{
	int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	int r = 0;
	for (size_t i = 0; i < n && r >= 0; i++) {
		int fd = open(files[i], O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			printf("# cannot open %s\n", files[i]);
			r = -ENOENT;
			break;
		}
		r = xarch_layer_apply_fd(rootfd, fd, o, err);
		close(fd);
	}
	close(rootfd);
	return r;
}

/* An entry of a layer written by the test. */
struct ent {
	const char *path;
	char type;	  /* f d l h c p */
	const char *data; /* file content, link target */
	unsigned mode;
	long mtime;
	const char *xattr_name, *xattr_val;
	unsigned uid, gid;
};

static const char *write_layer(const char *name, const struct ent *e, size_t n, int filter)
{
	static char path[8192];
	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	switch (filter) {
	case 1:
		archive_write_add_filter_gzip(a);
		break;
	case 2:
		archive_write_add_filter_xz(a);
		break;
	case 3:
		archive_write_add_filter_zstd(a);
		break;
	case 4:
		archive_write_add_filter_bzip2(a);
		break;
	default:
		break;
	}
	if (archive_write_open_filename(a, path) != ARCHIVE_OK) {
		printf("# %s\n", archive_error_string(a));
		exit(2);
	}
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *ae = archive_entry_new();
		archive_entry_set_pathname(ae, e[i].path);
		archive_entry_set_mtime(ae, e[i].mtime ? e[i].mtime : 1600000000, 0);
		archive_entry_set_uid(ae, e[i].uid);
		archive_entry_set_gid(ae, e[i].gid);
		size_t len = 0;
		switch (e[i].type) {
		case 'd':
			archive_entry_set_filetype(ae, AE_IFDIR);
			archive_entry_set_perm(ae, e[i].mode ? e[i].mode : 0755);
			break;
		case 'l':
			archive_entry_set_filetype(ae, AE_IFLNK);
			archive_entry_set_perm(ae, 0777);
			archive_entry_set_symlink(ae, e[i].data);
			break;
		case 'h':
			archive_entry_set_filetype(ae, AE_IFREG);
			archive_entry_set_perm(ae, 0644);
			archive_entry_set_hardlink(ae, e[i].data);
			break;
		case 'c':
			archive_entry_set_filetype(ae, AE_IFCHR);
			archive_entry_set_perm(ae, 0666);
			archive_entry_set_rdevmajor(ae, 1);
			archive_entry_set_rdevminor(ae, 3);
			break;
		case 'p':
			archive_entry_set_filetype(ae, AE_IFIFO);
			archive_entry_set_perm(ae, 0640);
			break;
		default:
			len = e[i].data ? strlen(e[i].data) : 0;
			archive_entry_set_filetype(ae, AE_IFREG);
			archive_entry_set_perm(ae, e[i].mode ? e[i].mode : 0644);
			archive_entry_set_size(ae, (la_int64_t)len);
		}
		if (e[i].xattr_name)
			archive_entry_xattr_add_entry(ae, e[i].xattr_name, e[i].xattr_val,
						      strlen(e[i].xattr_val));
		archive_write_header(a, ae);
		if (len)
			archive_write_data(a, e[i].data, len);
		archive_entry_free(ae);
	}
	archive_write_close(a);
	archive_write_free(a);
	return path;
}

static char layer_paths[4][8192];

static int apply_layers(const struct ent *const *layers, const size_t *counts, size_t n,
			const struct xarch_layer_opts *o, struct xarch_error *err)
{
	const char *files[4];
	for (size_t i = 0; i < n; i++) {
		char name[32];
		snprintf(name, sizeof(name), "layer%zu.tar", i);
		snprintf(layer_paths[i], sizeof(layer_paths[i]), "%s",
			 write_layer(name, layers[i], counts[i], 0));
		files[i] = layer_paths[i];
	}
	return apply_files(files, n, o, err);
}

#define L(...) ((const struct ent[]){__VA_ARGS__})
#define N(...) (sizeof((const struct ent[]){__VA_ARGS__}) / sizeof(struct ent))

/* ---- hostile layers ------------------------------------------------------- */

enum expect { E_ERR, E_OK, E_EITHER };

struct fixture {
	const char *files[2];
	enum expect expect;
	const char *want; /* E_ERR: in the message; E_OK: exists in the root */
	const char *why;
};

static const struct fixture fixtures_table[] = {
    {{"dotdot.tar"}, E_ERR, "'../escape'", "'..' entry is an error naming it"},
    {{"dotdot-inner.tar"}, E_ERR, "'a/../../escape'", "inner '..' is an error"},
    {{"absolute.tar"}, E_OK, "tmp/xarch-layer-test-abs", "leading '/' stripped"},
    {{"symlink-root.tar"}, E_OK, "tmp/pwned", "write through 'l -> /' lands in the root"},
    {{"symlink-dotdot.tar"}, E_OK, "outside/pwned", "'l -> ../../outside' stays in"},
    {{"symlink-next.1.tar", "symlink-next.2.tar"},
     E_OK,
     "outside/canary",
     "symlink from the layer before stays in"},
    {{"symlink-overwrite.tar"}, E_OK, "l", "a file replaces the symlink, not its target"},
    {{"hardlink-abs.tar"}, E_ERR, "'p'", "link to /etc/passwd: not in the root"},
    {{"hardlink-dotdot.tar"}, E_ERR, "'..'", "link target with '..' is an error"},
    {{"hardlink-symlink.tar"}, E_ERR, "'h'", "link through 'l -> ..' resolved in root"},
    {{"whiteout-dotdot.tar"}, E_ERR, "invalid whiteout", ".wh... is an error"},
    {{"whiteout-dot.tar"}, E_ERR, "invalid whiteout", ".wh.. is an error"},
    {{"whiteout-empty.tar"}, E_ERR, "invalid whiteout", ".wh. (the root) is an error"},
    {{"whiteout-escape.tar"}, E_ERR, "'../.wh.outside'", "../.wh.x is an error"},
    {{"whiteout-symlink.1.tar", "whiteout-symlink.2.tar"},
     E_OK,
     "l",
     "whiteouts through a symlink stay in the root"},
    {{"opaque-symlink.tar"}, E_OK, "l", "opaque marker below 'l -> ..' stays in"},
    {{"deep.tar"}, E_OK, NULL, "400 levels deep"},
    {{"longname.tar"}, E_ERR, "too long", "5000-byte name"},
    {{"longcomp.tar"}, E_ERR, "too long", "300-byte component"},
    {{"dir-to-symlink.tar"}, E_OK, "outside/pwned", "dir replaced by symlink to outside"},
    {{"truncated.tar"}, E_ERR, "'big'", "8 GiB claimed, 512 bytes there"},
    {{"nul-name.tar"}, E_EITHER, NULL, "NUL in a pax path"},
    {{"device.tar"}, E_OK, NULL, "device nodes"},
};

static void test_fixtures(const char *mode, bool priv)
{
	for (size_t i = 0; i < ARRAY_LEN(fixtures_table); i++) {
		const struct fixture *f = &fixtures_table[i];
		char paths[2][4096];
		const char *files[2];
		size_t n = 0;
		for (; n < 2 && f->files[n]; n++) {
			snprintf(paths[n], sizeof(paths[n]), "%s/%s", fixtures, f->files[n]);
			files[n] = paths[n];
		}
		fresh();
		struct xarch_layer_stats stats = {0};
		struct xarch_layer_opts o = {
		    .privileged = priv, .keep_owner = priv, .stats = &stats};
		struct xarch_error err = {0};
		int r = apply_files(files, n, &o, &err);
		CHECK(outside_intact(), "%s %s: nothing outside the root changed (%s)", mode,
		      f->files[0], f->why);
		if (r < 0)
			printf("#   error: %s\n", err.msg);
		if (f->expect == E_ERR) {
			CHECK(r < 0 && strstr(err.msg, f->want) && !strchr(err.msg, '\n'),
			      "%s %s: error naming %s", mode, f->files[0], f->want);
		} else if (f->expect == E_OK) {
			CHECK(r == 0, "%s %s: applied", mode, f->files[0]);
			if (f->want)
				CHECK(exists(f->want), "%s %s: '%s' inside the root", mode,
				      f->files[0], f->want);
		} else {
			CHECK(r == 0 || (err.msg[0] && !strchr(err.msg, '\n')),
			      "%s %s: clean result", mode, f->files[0]);
		}
		if (strcmp(f->files[0], "device.tar") == 0) {
			if (priv)
				CHECK(exists("dev/null") && exists("dev/sda"),
				      "%s device nodes created when privileged", mode);
			else
				CHECK(!exists("dev/null") && stats.skipped_devices == 2,
				      "%s device nodes skipped and counted when unprivileged",
				      mode);
		}
	}
}

/* ---- changesets -------------------------------------------------------------- */

static const struct xarch_layer_opts unpriv;

static void test_whiteouts(void)
{
	struct xarch_error err = {0};
	fresh();
	const struct ent *ls[] = {
	    L({"d", 'd'}, {"d/a", 'f', "a"}, {"d/b", 'f', "b"}, {"f", 'f', "f"},
	      {"keep", 'f', "old"}),
	    L({"d/.wh.a", 'f'}, {".wh.f", 'f'}, {"keep", 'f', "new"}, {".wh.keep", 'f'},
	      {".wh.missing", 'f'}),
	};
	size_t ns[] = {5, 5};
	CHECK_INT(apply_layers(ls, ns, 2, &unpriv, &err), 0, "whiteouts applied %s", err.msg);
	CHECK(!exists("d/a") && exists("d/b") && !exists("f"), "whiteouts delete lower entries");
	CHECK(exists("keep") && strcmp(slurp(in_root("keep")) ?: "", "new") == 0,
	      "a whiteout spares what its own layer wrote");
	CHECK(!exists(".wh.f") && !exists("d/.wh.a"), "whiteout files are not extracted");
}

static void test_opaque(bool marker_first)
{
	struct xarch_error err = {0};
	fresh();
	const struct ent l1[] = {
	    {"d", 'd'}, {"d/a", 'f', "a"}, {"d/sub", 'd'}, {"d/sub/x", 'f', "x"}, {"e", 'f', "e"}};
	const struct ent first[] = {
	    {"d/.wh..wh..opq", 'f'}, {"d/c", 'f', "c"}, {"d/sub/y", 'f', "y"}};
	const struct ent last[] = {
	    {"d/c", 'f', "c"}, {"d/sub/y", 'f', "y"}, {"d/.wh..wh..opq", 'f'}};
	const struct ent *ls[] = {l1, marker_first ? first : last};
	size_t ns[] = {5, 3};
	CHECK_INT(apply_layers(ls, ns, 2, &unpriv, &err), 0, "opaque layer applied %s", err.msg);
	const char *w = marker_first ? "before" : "after";
	CHECK(!exists("d/a") && !exists("d/sub/x"), "opaque (marker %s siblings) hides lower", w);
	CHECK(exists("d/c") && exists("d/sub/y") && exists("e"),
	      "opaque (marker %s siblings) keeps this layer's and other dirs' entries", w);
	CHECK(!exists("d/.wh..wh..opq"), "opaque marker not extracted");
}

static void test_replace(void)
{
	struct xarch_error err = {0};
	struct stat st;
	fresh();
	const struct ent *ls[] = {
	    L({"d", 'd'}, {"d/x", 'd'}, {"d/x/y", 'f', "y"}, {"f", 'f', "file"}),
	    L({"d", 'f', "now a file"}, {"f", 'd'}, {"f/z", 'f', "z"}),
	};
	size_t ns[] = {4, 3};
	CHECK_INT(apply_layers(ls, ns, 2, &unpriv, &err), 0, "replacing layer applied %s", err.msg);
	CHECK(lstat(in_root("d"), &st) == 0 && S_ISREG(st.st_mode), "a file replaces a directory");
	CHECK(lstat(in_root("f"), &st) == 0 && S_ISDIR(st.st_mode) && exists("f/z"),
	      "a directory replaces a file");
}

static void test_links_modes(void)
{
	struct xarch_error err = {0};
	struct stat st, st2;
	bool root_user = geteuid() == 0;
	struct xarch_layer_opts o = {.privileged = root_user, .keep_owner = root_user};
	fresh();
	const struct ent *ls[] = {
	    L({"a", 'f', "data", 0644}, {"h", 'h', "a"}, {"s", 'l', "/etc/passwd"},
	      {"suid", 'f', "#!/bin/sh\n", 04755, 0, NULL, NULL, 7, 8},
	      {"x", 'f', "x", 0644, 0, "user.xarch", "hello"}, {"dd", 'd', NULL, 0755, 1000000000},
	      {"dd/child", 'f', "c", 0600, 1100000000}, {"ro", 'd', NULL, 0555},
	      {"ro/in", 'f', "in"}, {"fifo", 'p'}),
	};
	size_t ns[] = {10};
	CHECK_INT(apply_layers(ls, ns, 1, &o, &err), 0, "links and modes applied %s", err.msg);
	CHECK(lstat(in_root("a"), &st) == 0 && lstat(in_root("h"), &st2) == 0 &&
		  st.st_ino == st2.st_ino && st.st_nlink == 2,
	      "hard link shares the inode");
	char buf[64] = "";
	ssize_t n = readlink(in_root("s"), buf, sizeof(buf) - 1);
	CHECK(n == 11 && memcmp(buf, "/etc/passwd", 11) == 0, "symlink created as it is");
	CHECK(lstat(in_root("suid"), &st) == 0 && (st.st_mode & 07777) == 04755,
	      "setuid mode kept%s", root_user ? " after chown" : "");
	if (root_user)
		CHECK(st.st_uid == 7 && st.st_gid == 8, "owner from the tar (keep_owner)");
	else
		SKIP("owner from the tar: needs root");
	char val[32] = "";
	n = getxattr(in_root("x"), "user.xarch", val, sizeof(val));
	if (n < 0 && (errno == ENOTSUP || errno == EOPNOTSUPP))
		SKIP("user.* xattr round trip: the filesystem has no user xattrs");
	else
		CHECK(n == 5 && memcmp(val, "hello", 5) == 0, "user.* xattr round trip");
	CHECK(lstat(in_root("dd"), &st) == 0 && st.st_mtim.tv_sec == 1000000000,
	      "directory mtime kept after its children");
	CHECK(lstat(in_root("dd/child"), &st) == 0 && st.st_mtim.tv_sec == 1100000000 &&
		  (st.st_mode & 07777) == 0600,
	      "file mtime and mode");
	CHECK(lstat(in_root("ro"), &st) == 0 && (st.st_mode & 07777) == 0555 && exists("ro/in"),
	      "read-only directory filled, then made read-only");
	CHECK(lstat(in_root("fifo"), &st) == 0 && S_ISFIFO(st.st_mode) &&
		  (st.st_mode & 0777) == 0640,
	      "fifo");
}

static void test_order_and_plain(void)
{
	struct xarch_error err = {0};
	fresh();
	const struct ent *ls[] = {
	    L({"f", 'f', "1"}, {"g", 'f', "1"}),
	    L({"f", 'f', "2"}),
	    L({"f", 'f', "3"}, {".wh.g", 'f', "plain"}),
	};
	size_t ns[] = {2, 1, 2};
	CHECK_INT(apply_layers(ls, ns, 3, &unpriv, &err), 0, "three layers %s", err.msg);
	CHECK(strcmp(slurp(in_root("f")) ?: "", "3") == 0, "later layers win");
	CHECK(!exists("g"), "whiteout in layer 3");

	fresh();
	struct xarch_layer_opts plain = {.plain_tar = true};
	const struct ent *pl[] = {L({"g", 'f', "1"}, {".wh.g", 'f', "plain"})};
	size_t pn[] = {2};
	CHECK_INT(apply_layers(pl, pn, 1, &plain, &err), 0, "plain tar %s", err.msg);
	CHECK(exists("g") && strcmp(slurp(in_root(".wh.g")) ?: "", "plain") == 0,
	      "plain tar: .wh. names are files");
}

static void test_filters(void)
{
	static const char *names[] = {"none", "gzip", "xz", "zstd", "bzip2"};
	for (int i = 0; i < 5; i++) {
		struct xarch_error err = {0};
		fresh();
		const struct ent e[] = {{"dir", 'd'}, {"dir/file", 'f', "compressed"}};
		const char *p = write_layer("filtered", e, 2, i);
		CHECK_INT(apply_files(&p, 1, &unpriv, &err), 0, "%s layer %s", names[i], err.msg);
		CHECK(strcmp(slurp(in_root("dir/file")) ?: "", "compressed") == 0, "%s content",
		      names[i]);
	}
	/* not a tar at all */
	struct xarch_error err = {0};
	char p[8192];
	snprintf(p, sizeof(p), "%s/garbage", tmp);
	put(p, "this is not an archive, just some text that is long enough......\n");
	const char *pp = p;
	CHECK(apply_files(&pp, 1, &unpriv, &err) < 0 && err.msg[0], "garbage is an error: %s",
	      err.msg);
	unlink(p);
}

/* sha256:<hex> of a file's content after decompression (libarchive's raw
 * format, any filter, or none) */
static void uncompressed_digest(const char *path, char out[72])
{
	struct xa_sha256 c;
	char hex[65];
	xa_sha256_init(&c);
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	archive_read_support_format_raw(a);
	archive_read_support_filter_all(a);
	if (archive_read_open_filename(a, path, 65536) == ARCHIVE_OK &&
	    archive_read_next_header(a, &e) == ARCHIVE_OK) {
		const void *buf;
		size_t len;
		la_int64_t off;
		while (archive_read_data_block(a, &buf, &len, &off) == ARCHIVE_OK)
			xa_sha256_update(&c, buf, len);
	}
	archive_read_free(a);
	xa_sha256_hex(&c, hex);
	snprintf(out, 72, "sha256:%s", hex);
}

/* diff_ids are checked while the layer is applied (gzip, plain tar) or by a
 * second read (xz, zstd, bzip2) */
static void test_diff_id(void)
{
	static const char *names[] = {"plain", "gzip", "xz", "zstd", "bzip2"};
	for (int i = 0; i < 5; i++) {
		const struct ent e[] = {{"dir", 'd'}, {"dir/file", 'f', "checked"}};
		const char *p = write_layer("checked", e, 2, i);
		char good[72];
		uncompressed_digest(p, good);
		struct xarch_layer_opts o = unpriv;
		struct xarch_error err = {0};
		fresh();
		o.diff_id = good;
		CHECK_INT(apply_files(&p, 1, &o, &err), 0, "%s layer with its diff_id %s", names[i],
			  err.msg);
		fresh();
		o.diff_id = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
		memset(&err, 0, sizeof(err));
		CHECK_INT(apply_files(&p, 1, &o, &err), -EBADMSG, "%s layer, wrong diff_id",
			  names[i]);
		CHECK(strstr(err.msg, "does not match its diff_id") != NULL, "... says so: %s",
		      err.msg);
		unlink(p);
	}
}

static void test_unpack(void)
{
	struct xarch_error err = {0};
	char dest[8192], bad[8192];
	fresh();
	const struct ent good[] = {{"etc", 'd'}, {"etc/os-release", 'f', "ID=test\n"}};
	const char *g = write_layer("good.tar", good, 2, 1);
	char gpath[8192];
	snprintf(gpath, sizeof(gpath), "%s", g);
	snprintf(bad, sizeof(bad), "%s/dotdot.tar", fixtures);
	snprintf(dest, sizeof(dest), "%s/dest", root);

	const char *fail[] = {gpath, bad};
	int r = xarch_layers_unpack(fail, 2, dest, &unpriv, &err);
	CHECK(r < 0 && strstr(err.msg, "dotdot.tar") && strstr(err.msg, "../escape"),
	      "unpack error names layer and entry: %s", err.msg);
	CHECK(count_dir(root) == 0, "failed unpack leaves no dest and no temp dir");

	const char *ok[] = {gpath};
	r = xarch_layers_unpack(ok, 1, dest, &unpriv, &err);
	struct stat st;
	char p[8300];
	snprintf(p, sizeof(p), "%s/etc/os-release", dest);
	CHECK(r == 0 && access(p, F_OK) == 0 && count_dir(root) == 1, "unpack creates dest");
	CHECK(stat(dest, &st) == 0 && (st.st_mode & 0777) == 0755, "dest is 0755");
	r = xarch_layers_unpack(ok, 1, dest, &unpriv, &err);
	CHECK(r == -EEXIST && count_dir(root) == 1, "existing dest is an error: %s", err.msg);
	unlink(gpath);
}

int main(int argc, char **argv)
{
	if (argc > 1)
		fixtures = argv[1];
	const char *t = getenv("TMPDIR");
	snprintf(tmp, sizeof(tmp), "%s/xarch-layer.XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(tmp)) {
		perror("mkdtemp");
		return 2;
	}
	snprintf(root, sizeof(root), "%s/root", tmp);
	snprintf(outside, sizeof(outside), "%s/outside", tmp);

	test_whiteouts();
	test_opaque(true);
	test_opaque(false);
	test_replace();
	test_links_modes();
	test_order_and_plain();
	test_filters();
	test_diff_id();
	/* layer files live in tmp: count_dir(tmp) == 2 below needs them gone */
	for (int i = 0; i < 4; i++)
		unlink(layer_paths[i]);
	char p[8192];
	snprintf(p, sizeof(p), "%s/filtered", tmp);
	unlink(p);
	test_unpack();

	test_fixtures("unprivileged:", false);
	if (geteuid() == 0)
		test_fixtures("privileged:", true);
	else
		SKIP("hostile layers as a privileged caller: needs root");
	setenv("XARCH_NO_OPENAT2", "1", 1);
	test_fixtures("component walk:", false);
	unsetenv("XARCH_NO_OPENAT2");

	rm_rf(tmp);
	return check_done();
}
