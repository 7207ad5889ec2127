// SPDX-License-Identifier: MIT
/* Disk image outputs read back by the tools users flash with: the .bmap by
 * bmaptool (create, copy, and its checksum checks), the Android sparse image
 * by simg2img and simg_dump, plus our own walk of the chunk headers. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "xarch/diskout.h"

static char tmpdir[] = "/tmp/xarch-diskout-XXXXXX";
static char out[65536];

#define BS 4096
/* 6 MiB and an odd tail: the last block is partial */
#define IMG_SIZE (6 * 1024 * 1024 + 1234)

/* Run argv, capture stdout+stderr into `out`; the exit status or -1. */
static int run(const char *const argv[])
{
	int pfd[2];
	if (pipe(pfd) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		close(pfd[0]);
		close(pfd[1]);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(pfd[1]);
	size_t n = 0;
	ssize_t r;
	while ((r = read(pfd[0], out + n, sizeof(out) - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = '\0';
	close(pfd[0]);
	int st;
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* A check that a command succeeds; its output is shown when it does not. */
static void check_run(const char *const argv[], const char *what)
{
	int r = run(argv);
	CHECK_INT(r, 0, "%s", what);
	if (r)
		printf("#   %s\n", out);
}

static bool have(const char *tool)
{
	const char *argv[] = {"sh", "-c", "command -v \"$0\"", tool, NULL};
	return run(argv) == 0;
}

static void path(char *buf, const char *name)
{
	snprintf(buf, 4096, "%s/%s", tmpdir, name);
}

static void fill_random(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

static void put_random(int fd, uint64_t off, size_t n, uint32_t seed)
{
	uint8_t *p = malloc(n);
	fill_random(p, n, seed);
	if (pwrite(fd, p, n, (off_t)off) != (ssize_t)n)
		perror("pwrite");
	free(p);
}

static void put_pattern(int fd, uint64_t off, size_t n, const uint8_t pat[4])
{
	uint8_t *p = malloc(n);
	for (size_t i = 0; i < n; i++)
		p[i] = pat[i % 4];
	if (pwrite(fd, p, n, (off_t)off) != (ssize_t)n)
		perror("pwrite");
	free(p);
}

static const uint8_t deadbeef[4] = {0xde, 0xad, 0xbe, 0xef};
static const uint8_t zero4[4];

/*
 * Blocks 0-1 data; hole; 256-259 data, 260-263 0xdeadbeef, 264-265 written
 * zeros, 266 data; hole; 90 bytes inside block 768; hole to the last 3000
 * bytes, which span block 1535 and the partial block 1536.
 */
static int make_image(const char *p)
{
	int fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	if (ftruncate(fd, IMG_SIZE) < 0)
		perror("ftruncate");
	put_random(fd, 0, 2 * BS, 1);
	put_random(fd, 256 * BS, 4 * BS, 2);
	put_pattern(fd, 260 * BS, 4 * BS, deadbeef);
	put_pattern(fd, 264 * BS, 2 * BS, zero4);
	put_random(fd, 266 * BS, BS, 3);
	put_random(fd, 768 * BS + 10, 90, 4);
	put_random(fd, IMG_SIZE - 3000, 3000, 5);
	fsync(fd);
	return fd;
}

static bool no_leftovers(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	bool ok = true;
	if (!d)
		return false;
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, prefix, strlen(prefix)))
			ok = false;
	closedir(d);
	return ok;
}

static bool exists(const char *p)
{
	return access(p, F_OK) == 0;
}

/* The <Range> lines of a bmap, checksums included, in one string. */
static void ranges_of(const char *bmap, char *buf, size_t len)
{
	FILE *f = fopen(bmap, "r");
	char line[512];
	buf[0] = '\0';
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		const char *s = strstr(line, "<Range");
		if (s && strlen(buf) + strlen(s) < len)
			strcat(buf, s);
	}
	fclose(f);
}

static void test_stats(int fd)
{
	struct xarch_diskout_stats st;
	struct xarch_error err = {0};
	struct stat sb;
	CHECK_INT(xarch_diskout_stats(fd, &st, &err), 0, "stats of the sparse image");
	fstat(fd, &sb);
	CHECK_INT(st.size, IMG_SIZE, "apparent size");
	CHECK_INT(st.allocated, (uint64_t)sb.st_blocks * 512, "allocated = st_blocks * 512");
	/* 2 + 11 + 1 + 2 blocks hold data, the last one cut at the end */
	CHECK(st.mapped >= 2 * BS + 11 * BS + 90 + 3000, "mapped covers the data (%llu)",
	      (unsigned long long)st.mapped);
	CHECK(st.mapped <= 15 * BS + (IMG_SIZE % BS), "mapped leaves the holes out (%llu)",
	      (unsigned long long)st.mapped);
	CHECK_INT(st.out_size, 0, "no output size for stats");

	int p[2];
	if (pipe(p) == 0) {
		CHECK_INT(xarch_diskout_stats(p[0], &st, &err), -EINVAL, "a pipe is refused");
		close(p[0]);
		close(p[1]);
	}
}

static void test_bmap(int fd, const char *img)
{
	char bmap[4096], ref[4096], copy[4096], bad[4096], badmap[4096];
	struct xarch_diskout_stats st;
	struct xarch_error err = {0};
	path(bmap, "img.bmap");
	path(ref, "ref.bmap");
	path(copy, "copy.img");
	path(bad, "bad.img");
	path(badmap, "bad.bmap");

	int r = xarch_bmap_write(fd, bmap, 0, &st, &err);
	CHECK_INT(r, 0, "bmap written (%s)", err.msg);
	CHECK_INT(st.size, IMG_SIZE, "bmap stats: size");
	CHECK_INT(st.mapped, 15 * BS + (IMG_SIZE % BS), "bmap stats: 16 mapped blocks");
	struct stat sb;
	CHECK(stat(bmap, &sb) == 0 && (uint64_t)sb.st_size == st.out_size,
	      "bmap stats: out_size is the file's size");
	CHECK(no_leftovers(tmpdir, "img.bmap.tmp-"), "no temp file left");

	/* the same image gives the same bytes */
	char again[4096];
	path(again, "again.bmap");
	xarch_bmap_write(fd, again, 0, NULL, NULL);
	const char *cmp_same[] = {"cmp", bmap, again, NULL};
	CHECK_INT(run(cmp_same), 0, "bmap is reproducible");

	if (!have("bmaptool")) {
		SKIP("bmaptool not installed (Debian package bmap-tools): bmap not checked");
		return;
	}
	const char *create[] = {"bmaptool", "create", "-o", ref, img, NULL};
	check_run(create, "bmaptool create runs");
	char mine[8192], theirs[8192];
	ranges_of(bmap, mine, sizeof(mine));
	ranges_of(ref, theirs, sizeof(theirs));
	CHECK(mine[0] && strcmp(mine, theirs) == 0, "ranges and checksums match bmaptool create");
	if (strcmp(mine, theirs))
		printf("#   ours:\n%s#   bmaptool:\n%s", mine, theirs);

	const char *cp[] = {"bmaptool", "copy", "--bmap", bmap, img, copy, NULL};
	check_run(cp, "bmaptool copy accepts the bmap");
	CHECK(strstr(out, "mapped 16 blocks") != NULL, "bmaptool counts 16 mapped blocks");
	const char *cmp[] = {"cmp", img, copy, NULL};
	check_run(cmp, "bmaptool's copy is the image");

	/* one byte changed in a mapped block: bmaptool must notice */
	const char *cpbad[] = {"cp", "--sparse=always", img, bad, NULL};
	run(cpbad);
	int bfd = open(bad, O_WRONLY | O_CLOEXEC);
	uint8_t x = 0x55;
	if (bfd >= 0) {
		if (pwrite(bfd, &x, 1, 256 * BS + 100) != 1)
			perror("pwrite");
		close(bfd);
	}
	unlink(copy);
	const char *cp2[] = {"bmaptool", "copy", "--bmap", bmap, bad, copy, NULL};
	r = run(cp2);
	CHECK(r != 0 && strstr(out, "checksum mismatch for blocks range 256-266"),
	      "bmaptool rejects a corrupted block range (rc %d)", r);

	/* and a changed bmap file fails its own checksum */
	int in = open(bmap, O_RDONLY | O_CLOEXEC),
	    o = open(badmap, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	char buf[16384];
	ssize_t n = in >= 0 ? read(in, buf, sizeof(buf)) : -1;
	if (n > 0) {
		char *w = strstr(buf, "writes only");
		if (w)
			w[0] = 'W';
		if (write(o, buf, (size_t)n) != n)
			perror("write");
	}
	close(in);
	close(o);
	unlink(copy);
	const char *cp3[] = {"bmaptool", "copy", "--bmap", badmap, img, copy, NULL};
	r = run(cp3);
	CHECK(r != 0 && strstr(out, "checksum mismatch for bmap file"),
	      "bmaptool rejects an edited bmap file (rc %d)", r);
	unlink(copy);
	unlink(bad);
}

struct chunks {
	uint32_t bs, total_blks, total_chunks, seen, raw, fill, dont_care, other, blocks;
	bool deadbeef_fill, zero_fill, sizes_ok;
};

/* Our own reading of the sparse file: the headers and every chunk's size. */
static int read_simg(const char *p, struct chunks *c)
{
	memset(c, 0, sizeof(*c));
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	uint8_t h[28];
	struct stat sb;
	fstat(fd, &sb);
	if (read(fd, h, 28) != 28) {
		close(fd);
		return -1;
	}
	uint32_t magic = h[0] | h[1] << 8 | h[2] << 16 | (uint32_t)h[3] << 24;
	if (magic != 0xed26ff3au || h[4] != 1 || h[8] != 28 || h[10] != 12) {
		close(fd);
		return -1;
	}
	memcpy(&c->bs, h + 12, 4);
	memcpy(&c->total_blks, h + 16, 4);
	memcpy(&c->total_chunks, h + 20, 4);
	off_t off = 28;
	c->sizes_ok = true;
	for (;;) {
		uint8_t ch[16];
		ssize_t n = pread(fd, ch, 16, off);
		if (n < 12)
			break;
		uint16_t type = (uint16_t)(ch[0] | ch[1] << 8);
		uint32_t sz, total;
		memcpy(&sz, ch + 4, 4);
		memcpy(&total, ch + 8, 4);
		c->seen++;
		c->blocks += sz;
		if (type == 0xCAC1) {
			c->raw++;
			c->sizes_ok &= total == 12 + (uint64_t)sz * c->bs;
		} else if (type == 0xCAC2) {
			c->fill++;
			c->sizes_ok &= total == 16;
			c->deadbeef_fill |= !memcmp(ch + 12, deadbeef, 4) && sz == 4;
			c->zero_fill |= !memcmp(ch + 12, zero4, 4);
		} else if (type == 0xCAC3) {
			c->dont_care++;
			c->sizes_ok &= total == 12;
		} else {
			c->other++;
		}
		off += total;
	}
	c->sizes_ok &= off == sb.st_size;
	close(fd);
	return 0;
}

static void test_simg(int fd, const char *img)
{
	char simg[4096], zsimg[4096], raw[4096], padded[4096];
	struct xarch_diskout_stats st;
	struct xarch_error err = {0};
	struct chunks c;
	path(simg, "img.simg");
	path(zsimg, "zero.simg");
	path(raw, "out.raw");
	path(padded, "padded.img");

	int r = xarch_simg_write(fd, simg, 0, 0, &st, &err);
	CHECK_INT(r, 0, "sparse image written (%s)", err.msg);
	CHECK_INT(st.mapped, 15 * BS + (IMG_SIZE % BS), "simg stats: 16 mapped blocks");
	struct stat sb;
	CHECK(stat(simg, &sb) == 0 && (uint64_t)sb.st_size == st.out_size,
	      "simg stats: out_size is the file's size");
	CHECK(st.out_size < 16 * BS, "sparse image is small (%llu bytes)",
	      (unsigned long long)st.out_size);
	CHECK(no_leftovers(tmpdir, "img.simg.tmp-"), "no temp file left");

	CHECK_INT(read_simg(simg, &c), 0, "header reads back");
	CHECK_INT(c.bs, BS, "block size 4096");
	CHECK_INT(c.total_blks, (IMG_SIZE + BS - 1) / BS, "total blocks: the image rounded up");
	CHECK_INT(c.seen, c.total_chunks, "chunk count in the header");
	CHECK_INT(c.blocks, c.total_blks, "chunks cover every block");
	CHECK(c.sizes_ok, "every chunk's total size is right and they end at the end of file");
	/* data 0-1 | hole | 256-259 | beef 260-263 | zero 264-265 | 266 | hole | 768 | hole |
	 * 1535-1536 */
	CHECK_INT(c.dont_care, 3, "the holes are DONT_CARE chunks");
	CHECK_INT(c.fill, 2, "two FILL chunks");
	CHECK(c.deadbeef_fill, "0xdeadbeef blocks are one FILL chunk");
	CHECK(c.zero_fill, "written zeros are a FILL chunk");
	CHECK_INT(c.raw, 5, "RAW for the rest");
	CHECK_INT(c.other, 0, "no other chunk types");

	r = xarch_simg_write(fd, zsimg, 0, XARCH_SIMG_ZERO_HOLES, NULL, &err);
	CHECK_INT(r, 0, "sparse image with zeroed holes written");
	read_simg(zsimg, &c);
	CHECK(c.dont_care == 0 && c.zero_fill && c.blocks == c.total_blks,
	      "XARCH_SIMG_ZERO_HOLES: no DONT_CARE, zero FILLs");

	if (!have("simg2img")) {
		SKIP("simg2img not installed (Debian package android-sdk-libsparse-utils): "
		     "sparse image not checked");
		return;
	}
	/* the expanded image is padded with zeros to a whole block */
	const char *cp[] = {"cp", "--sparse=always", img, padded, NULL};
	run(cp);
	if (truncate(padded, (IMG_SIZE + BS - 1) / BS * BS) < 0)
		perror("truncate");
	const char *s2i[] = {"simg2img", simg, raw, NULL};
	check_run(s2i, "simg2img expands it");
	const char *cmp[] = {"cmp", padded, raw, NULL};
	check_run(cmp, "simg2img's output is the image, padded");
	unlink(raw);
	const char *s2iz[] = {"simg2img", zsimg, raw, NULL};
	check_run(s2iz, "simg2img expands the zeroed-holes one");
	check_run(cmp, "and it is the image too");
	unlink(raw);

	if (have("simg_dump")) {
		const char *dump[] = {"simg_dump", "-v", simg, NULL};
		r = run(dump);
		CHECK(r == 0 && strstr(out, "Fill") && strstr(out, "Don't care"),
		      "simg_dump reads it and names Fill and Don't care chunks");
		if (r)
			printf("#   %s\n", out);
	} else {
		SKIP("simg_dump not installed: second reader not run");
	}
}

/* Empty and hole-only images: nothing mapped, still valid files. */
static void test_empty(void)
{
	char img[4096], bmap[4096], simg[4096], raw[4096];
	struct xarch_diskout_stats st;
	struct xarch_error err = {0};
	path(img, "empty.img");
	path(bmap, "empty.bmap");
	path(simg, "empty.simg");
	path(raw, "empty.raw");
	for (int i = 0; i < 2; i++) {
		uint64_t size = i ? 1 << 20 : 0;
		int fd = open(img, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (ftruncate(fd, (off_t)size) < 0)
			perror("ftruncate");
		if (i) {
			CHECK_INT(xarch_bmap_write(fd, bmap, 0, &st, &err), 0,
				  "hole only: bmap (%s)", err.msg);
			CHECK_INT(st.mapped, 0, "nothing mapped");
		} else {
			/* bmaptool 3.6 divides by the block count */
			CHECK_INT(xarch_bmap_write(fd, bmap, 0, &st, &err), -EINVAL,
				  "empty: no bmap (%s)", err.msg);
			CHECK(!exists(bmap), "and no file");
		}
		struct chunks c;
		CHECK_INT(xarch_simg_write(fd, simg, 0, 0, &st, &err), 0, "%s: sparse image",
			  i ? "hole only" : "empty");
		CHECK(read_simg(simg, &c) == 0 && c.raw == 0 && c.fill == 0 &&
			  c.dont_care == (i ? 1 : 0) && c.blocks == size / BS,
		      "one DONT_CARE chunk or none");
		close(fd);
		if (i && have("bmaptool")) {
			unlink(raw);
			const char *cp[] = {"bmaptool", "copy", "--bmap", bmap, img, raw, NULL};
			check_run(cp, "bmaptool copy");
		}
		if (have("simg2img")) {
			const char *s2i[] = {"simg2img", simg, raw, NULL};
			check_run(s2i, "simg2img");
		}
		const char *cmp[] = {"cmp", img, raw, NULL};
		if (have("bmaptool") || have("simg2img"))
			check_run(cmp, "expanded equals the image");
		unlink(raw);
	}
}

static void test_errors(int fd)
{
	char p[4096 + 16], dir[4096];
	struct xarch_error err = {0};

	CHECK_INT(xarch_bmap_write(fd, "/tmp/xarch-diskout-missing/x.bmap", 0, NULL, &err), -ENOENT,
		  "missing output dir: bmap fails");
	CHECK(strstr(err.msg, "/tmp/xarch-diskout-missing/x.bmap") != NULL, "message names it: %s",
	      err.msg);
	CHECK_INT(xarch_simg_write(fd, "/tmp/xarch-diskout-missing/x.simg", 0, 0, NULL, &err),
		  -ENOENT, "missing output dir: simg fails");
	path(dir, "disk.img");
	snprintf(p, sizeof(p), "%s/x.simg", dir);
	CHECK_INT(xarch_simg_write(fd, p, 0, 0, NULL, &err), -ENOTDIR,
		  "output dir is a file: simg fails: %s", err.msg);

	path(p, "x.bmap");
	CHECK_INT(xarch_bmap_write(fd, p, 1000, NULL, &err), -EINVAL, "block size 1000 refused: %s",
		  err.msg);
	CHECK_INT(xarch_simg_write(fd, p, 256, 0, NULL, &err), -EINVAL, "block size 256 refused");
	CHECK(!exists(p), "nothing written for a bad block size");

	/* unwritable directory; root writes anyway, so as root the write is
	 * tried by a child that drops to nobody */
	path(dir, "ro");
	mkdir(dir, 0555);
	chmod(tmpdir, 0711);
	snprintf(p, sizeof(p), "%s/x.simg", dir);
	pid_t pid = fork();
	if (pid == 0) {
		if (geteuid() == 0 && (setgid(65534) < 0 || setuid(65534) < 0))
			_exit(2);
		_exit(xarch_simg_write(fd, p, 0, 0, NULL, NULL) == -EACCES ? 0 : 1);
	}
	int ws = -1;
	waitpid(pid, &ws, 0);
	chmod(tmpdir, 0700);
	CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "unwritable dir: simg fails with EACCES");
	CHECK(no_leftovers(dir, "x."), "nothing left in the unwritable dir");

	/* a write that fails halfway (file size limit): nothing left behind,
	 * including a previous output of the same name */
	struct rlimit old, lim;
	getrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, SIG_IGN);
	path(p, "big.simg");
	xarch_simg_write(fd, p, 0, 0, NULL, NULL);
	struct stat before, after;
	stat(p, &before);
	lim = old;
	lim.rlim_cur = 8192;
	setrlimit(RLIMIT_FSIZE, &lim);
	int r = xarch_simg_write(fd, p, 0, 0, NULL, &err);
	char q[4096];
	path(q, "big.bmap");
	lim.rlim_cur = 300;
	setrlimit(RLIMIT_FSIZE, &lim);
	int r2 = xarch_bmap_write(fd, q, 0, NULL, &err);
	setrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, SIG_DFL);
	CHECK_INT(r, -EFBIG, "simg: a failed write is an error");
	CHECK_INT(r2, -EFBIG, "bmap: a failed write is an error: %s", err.msg);
	CHECK(no_leftovers(tmpdir, "big.simg.tmp-") && no_leftovers(tmpdir, "big.bmap"),
	      "no temp files or partial outputs left");
	CHECK(stat(p, &after) == 0 && after.st_ino == before.st_ino &&
		  after.st_size == before.st_size,
	      "the previous output is untouched");
}

static void cleanup(void)
{
	const char *argv[] = {"rm", "-rf", tmpdir, NULL};
	run(argv);
}

int main(void)
{
	char img[4096];
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	path(img, "disk.img");
	int fd = make_image(img);
	if (fd < 0) {
		perror(img);
		return 1;
	}
	lseek(fd, 12345, SEEK_SET);
	test_stats(fd);
	test_bmap(fd, img);
	test_simg(fd, img);
	CHECK_INT(lseek(fd, 0, SEEK_CUR), 12345, "the image's file offset is kept");
	test_empty();
	test_errors(fd);
	close(fd);
	cleanup();
	return check_done();
}
