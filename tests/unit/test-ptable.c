// SPDX-License-Identifier: MIT
/* Partition tables: GUID text, layout checks, CRCs, and the tables read back
 * by independent tools (sfdisk --dump/--verify, genimage byte for byte). */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "xarch/ptable.h"

static char tmpdir[] = "/tmp/xarch-ptable-XXXXXX";

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Run argv, capture stdout+stderr into buf; returns the exit status or -1. */
static int run(char *const argv[], char *buf, size_t len)
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
		execvp(argv[0], argv);
		_exit(127);
	}
	close(pfd[1]);
	size_t n = 0;
	ssize_t r;
	while ((r = read(pfd[0], buf + n, len - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	close(pfd[0]);
	int st;
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static bool have(const char *tool)
{
	char buf[256];
	char *argv[] = {(char *)"sh", (char *)"-c", (char *)"command -v \"$0\"", (char *)tool,
			NULL};
	return run(argv, buf, sizeof(buf)) == 0;
}

static void test_guid(void)
{
	uint8_t g[16];
	char s[37];
	static const uint8_t want[16] = {0x6f, 0x2d, 0x66, 0x78, 0x6f, 0x70, 0x70, 0x65,
					 0x6f, 0x72, 0x74, 0x2d, 0x72, 0x6f, 0x6f, 0x74};

	CHECK_INT(xarch_guid_parse("78662d6f-706f-6570-6f72-742d726f6f74", g), 0, "guid parses");
	CHECK(memcmp(g, want, 16) == 0, "guid stored mixed-endian");
	xarch_guid_format(g, s);
	CHECK_STR(s, "78662d6f-706f-6570-6f72-742d726f6f74", "guid round trip");
	CHECK_INT(xarch_guid_parse("78662D6F-706F-6570-6F72-742D726F6F74", g), 0, "upper case");
	xarch_guid_format(g, s);
	CHECK_STR(s, "78662d6f-706f-6570-6f72-742d726f6f74", "upper case round trip");

	static const struct {
		const char *in, *out;
	} tab[] = {
	    {"L", "0fc63daf-8483-4772-8e79-3d69d8477de4"},
	    {"U", "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"},
	    {"ESP", "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"},
	    {"S", "0657fd6d-a4ab-43c4-84e5-0933c84b4f4f"},
	    {"H", "933ac7e1-2eb4-4f13-b844-0e14e2aef915"},
	    {"V", "e6d6d379-f507-44c2-a23c-238f2a3df928"},
	    {"root-x86-64", "4f68bce3-e8cd-4db1-96e7-fbcaf984b709"},
	    {"root-arm64", "b921b045-1df0-41c3-af44-4c6f280d3fae"},
	    {"usr-riscv64", "beaec34b-8442-439b-a40b-984381ed097d"},
	};
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		CHECK_INT(xarch_guid_parse(tab[i].in, g), 0, "shortcut %s", tab[i].in);
		xarch_guid_format(g, s);
		CHECK_STR(s, tab[i].out, "shortcut %s value", tab[i].in);
	}
	static const char *bad[] = {"", "X", "78662d6f-706f-6570-6f72-742d726f6f7",
				    "78662d6f-706f-6570-6f72x742d726f6f74",
				    "78662d6f-706f-6570-6f72-742d726f6f7g"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_INT(xarch_guid_parse(bad[i], g), -EINVAL, "bad guid '%s' rejected", bad[i]);
}

/* Every Discoverable Partitions Specification name systemd knows parses to
 * systemd's GUID (the bare "root"/"usr" are host-dependent, left out). */
static void test_dps(void)
{
	static char out[65536];
	char *argv[] = {(char *)"systemd-id128", (char *)"show", NULL};
	size_t n = 0, bad = 0;

	if (!have("systemd-id128") || run(argv, out, sizeof(out)) != 0) {
		SKIP("systemd-id128 not installed: partition type names not compared");
		return;
	}
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		char name[64], hex[64], s[37], flat[33];
		uint8_t g[16];
		if (sscanf(line, "%63s %63s", name, hex) != 2 || !strcmp(name, "NAME") ||
		    !strcmp(name, "root") || !strcmp(name, "usr"))
			continue;
		n++;
		if (xarch_guid_parse(name, g) < 0) {
			printf("#   %s: not a shortcut\n", name);
			bad++;
			continue;
		}
		xarch_guid_format(g, s);
		size_t k = 0;
		for (const char *c = s; *c; c++)
			if (*c != '-')
				flat[k++] = *c;
		flat[k] = '\0';
		if (strcmp(flat, hex)) {
			printf("#   %s: %s, systemd says %s\n", name, flat, hex);
			bad++;
		}
	}
	CHECK(n > 100 && bad == 0, "%zu partition type names agree with systemd-id128 (%zu differ)",
	      n, bad);
}

#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)

static void add(struct xarch_ptable *t, const char *name, uint64_t off, uint64_t size,
		const char *type, const char *uuid, uint8_t mbr, bool boot)
{
	struct xarch_part *p = &t->parts[t->n++];
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->offset = off;
	p->size = size;
	p->mbr_type = mbr;
	p->bootable = boot;
	p->in_table = true;
	if (type)
		xarch_guid_parse(type, p->type_guid);
	if (uuid)
		xarch_guid_parse(uuid, p->part_guid);
}

/* the seed layout: ESP at 2M of 1 GiB, rootfs of 10 GiB after it */
static void seed_gpt(struct xarch_ptable *t)
{
	memset(t, 0, sizeof(*t));
	t->type = XARCH_PT_GPT;
	t->disk_size = UINT64_C(11813277696); /* what genimage makes of it */
	xarch_guid_parse("78662d6f-706f-6570-6f72-742d726f6f74", t->disk_guid);
	add(t, "esp", 2 * MiB, GiB, "U", "11111111-2222-3333-4444-555555555555", 0, true);
	add(t, "rootfs", 2 * MiB + GiB, 10 * GiB, "L", "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", 0,
	    false);
}

static void seed_mbr(struct xarch_ptable *t)
{
	memset(t, 0, sizeof(*t));
	t->type = XARCH_PT_MBR;
	t->disk_size = UINT64_C(51380224);
	t->disk_signature = 0x12345678;
	add(t, "boot", MiB, 16 * MiB, NULL, NULL, 0x0c, true);
	add(t, "root", 17 * MiB, 32 * MiB, NULL, NULL, 0x83, false);
}

static void expect_err(struct xarch_ptable *t, const char *needle, const char *what)
{
	struct xarch_error e = {0};
	int r = xarch_ptable_check(t, &e);
	CHECK(r < 0 && strstr(e.msg, needle), "%s rejected", what);
	if (r >= 0 || !strstr(e.msg, needle))
		printf("#   r=%d msg='%s' want '%s'\n", r, e.msg, needle);
}

static void test_check(void)
{
	static struct xarch_ptable t;
	struct xarch_error e = {0};

	seed_gpt(&t);
	CHECK_INT(xarch_ptable_check(&t, &e), 2, "seed gpt layout is valid: %s", e.msg);
	seed_mbr(&t);
	CHECK_INT(xarch_ptable_check(&t, &e), 2, "seed mbr layout is valid: %s", e.msg);

	seed_gpt(&t);
	t.parts[1].offset -= 512;
	expect_err(&t, "overlaps partition 'esp' (2 MiB..1026 MiB)", "overlap");
	seed_gpt(&t);
	t.parts[1].size = t.disk_size - t.parts[1].offset;
	expect_err(&t, "partition 'rootfs' (1026 MiB..", "backup overlap");
	expect_err(&t, "overlaps the backup gpt", "backup overlap message");
	seed_gpt(&t);
	t.parts[0].offset = 4096;
	expect_err(
	    &t, "partition 'esp' (4 KiB..1048580 KiB) overlaps the gpt entry array (1 KiB..17 KiB)",
	    "entry array overlap");
	seed_gpt(&t);
	t.parts[1].size = 20 * GiB;
	expect_err(&t, "partition 'rootfs'", "too big");
	expect_err(&t, "does not fit", "too big message");
	seed_gpt(&t);
	t.parts[0].size = 1000;
	expect_err(&t, "multiples of 512", "unaligned");
	seed_gpt(&t);
	t.parts[1].offset = UINT64_MAX - 511;
	expect_err(&t, "does not fit", "offset overflow");
	seed_mbr(&t);
	t.parts[0].offset = 0;
	expect_err(
	    &t,
	    "partition 'boot' (0..16 MiB) overlaps the mbr partition table (440 bytes..512 bytes)",
	    "mbr table overlap");
	t.parts[0].offset = 0;
	t.parts[0].size = 440;
	t.parts[0].in_table = false;
	CHECK_INT(xarch_ptable_check(&t, &e), 1, "raw boot code before byte 440 is fine: %s",
		  e.msg);
	seed_mbr(&t);
	for (int i = 0; i < 3; i++)
		add(&t, "x", (50 + i) * MiB, 512, NULL, NULL, 0x83, false);
	t.disk_size = 60 * MiB;
	expect_err(&t, "at most 4 fit; use extended-partition", "5 mbr partitions");
	seed_mbr(&t);
	t.parts[1].mbr_type = 0;
	CHECK_INT(xarch_ptable_check(&t, &e), 2, "mbr type 0 is written as genimage 16 does: %s",
		  e.msg);
	seed_gpt(&t);
	snprintf(t.parts[0].name, sizeof(t.parts[0].name), "%s",
		 "a-name-that-is-much-longer-than-36-characters");
	expect_err(&t, "at most 36", "long gpt name");
}

static int make_image(const char *path, uint64_t size, const struct xarch_ptable *t,
		      struct xarch_error *e)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0) {
		close(fd);
		return -errno;
	}
	int r = xarch_ptable_write(fd, t, e);
	close(fd);
	return r;
}

static void test_crc(void)
{
	static struct xarch_ptable t;
	struct xarch_error e = {0};
	char img[256];
	uint8_t h[512];
	static uint8_t arr[128 * 128];

	seed_gpt(&t);
	snprintf(img, sizeof(img), "%s/crc.img", tmpdir);
	CHECK_INT(make_image(img, t.disk_size, &t, &e), 0, "write gpt: %s", e.msg);
	int fd = open(img, O_RDONLY | O_CLOEXEC);
	uint64_t last = t.disk_size / 512 - 1;
	for (int copy = 0; copy < 2; copy++) {
		uint64_t at = copy ? last : 1;
		CHECK(pread(fd, h, 512, (off_t)(at * 512)) == 512, "read header %d", copy);
		CHECK(memcmp(h, "EFI PART", 8) == 0, "header %d signature", copy);
		CHECK_INT(le32(h + 8), 0x00010000, "header %d revision", copy);
		CHECK_INT(le32(h + 12), 92, "header %d size", copy);
		CHECK_INT(le64(h + 24), at, "header %d my_lba", copy);
		CHECK_INT(le64(h + 32), copy ? 1 : last, "header %d alternate_lba", copy);
		CHECK_INT(le64(h + 40), 4096, "header %d first usable (genimage: first partition)",
			  copy);
		CHECK_INT(le64(h + 48), last - 33, "header %d last usable", copy);
		CHECK_INT(le64(h + 72), copy ? last - 32 : 2, "header %d entries lba", copy);
		uint32_t crc = le32(h + 16);
		memset(h + 16, 0, 4);
		CHECK_INT(crc, (uint32_t)crc32(0, h, 92), "header %d crc", copy);
		CHECK(pread(fd, arr, sizeof(arr), (off_t)(le64(h + 72) * 512)) == sizeof(arr),
		      "read entries %d", copy);
		CHECK_INT(le32(h + 88), (uint32_t)crc32(0, arr, sizeof(arr)), "entries %d crc",
			  copy);
		CHECK_INT(le64(arr + 48), 4, "esp entry %d has LegacyBIOSBootable", copy);
		CHECK(arr[56] == 'e' && arr[57] == 0 && arr[58] == 's', "utf-16le name %d", copy);
	}
	close(fd);

	t.gpt_no_backup = true;
	snprintf(img, sizeof(img), "%s/nobackup.img", tmpdir);
	CHECK_INT(make_image(img, t.disk_size, &t, &e), 0, "write gpt without backup: %s", e.msg);
	fd = open(img, O_RDONLY | O_CLOEXEC);
	CHECK(pread(fd, h, 512, 512) == 512 && le64(h + 32) == 1, "no backup: alternate_lba 1");
	CHECK(pread(fd, h, 512, (off_t)(last * 512)) == 512 && h[0] == 0,
	      "no backup header written");
	close(fd);
}

static void test_sfdisk(void)
{
	static struct xarch_ptable t;
	struct xarch_error e = {0};
	char img[256], out[8192];

	if (!have("sfdisk")) {
		SKIP("sfdisk not installed (util-linux fdisk package): no oracle for the tables");
		return;
	}

	seed_gpt(&t);
	snprintf(img, sizeof(img), "%s/gpt.img", tmpdir);
	CHECK_INT(make_image(img, t.disk_size, &t, &e), 0, "write gpt image: %s", e.msg);
	char *dump[] = {(char *)"sfdisk", (char *)"--dump", img, NULL};
	CHECK_INT(run(dump, out, sizeof(out)), 0, "sfdisk --dump gpt");
	static const char *gpt_want[] = {
	    "label: gpt\n",
	    "label-id: 78662D6F-706F-6570-6F72-742D726F6F74\n",
	    "first-lba: 4096\n",
	    "last-lba: 23072774\n",
	    "1 : start=        4096, size=     2097152, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, "
	    "uuid=11111111-2222-3333-4444-555555555555, name=\"esp\", "
	    "attrs=\"LegacyBIOSBootable\"\n",
	    "2 : start=     2101248, size=    20971520, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, "
	    "uuid=AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE, name=\"rootfs\"\n",
	};
	for (size_t i = 0; i < sizeof(gpt_want) / sizeof(gpt_want[0]); i++) {
		bool ok = strstr(out, gpt_want[i]) != NULL;
		CHECK(ok, "sfdisk gpt dump has: %.*s", (int)strcspn(gpt_want[i], "\n"),
		      gpt_want[i]);
		if (!ok)
			printf("#   dump:\n%s", out);
	}
	char *verify[] = {(char *)"sfdisk", (char *)"--verify", img, NULL};
	int r = run(verify, out, sizeof(out));
	CHECK(r == 0 && strstr(out, "No errors detected"), "sfdisk --verify gpt: %s",
	      strstr(out, "No errors") ? "clean" : out);

	seed_mbr(&t);
	snprintf(img, sizeof(img), "%s/mbr.img", tmpdir);
	CHECK_INT(make_image(img, t.disk_size, &t, &e), 0, "write mbr image: %s", e.msg);
	CHECK_INT(run(dump, out, sizeof(out)), 0, "sfdisk --dump mbr");
	static const char *mbr_want[] = {
	    "label: dos\n",
	    "label-id: 0x12345678\n",
	    "1 : start=        2048, size=       32768, type=c, bootable\n",
	    "2 : start=       34816, size=       65536, type=83\n",
	};
	for (size_t i = 0; i < sizeof(mbr_want) / sizeof(mbr_want[0]); i++) {
		bool ok = strstr(out, mbr_want[i]) != NULL;
		CHECK(ok, "sfdisk mbr dump has: %.*s", (int)strcspn(mbr_want[i], "\n"),
		      mbr_want[i]);
		if (!ok)
			printf("#   dump:\n%s", out);
	}
	r = run(verify, out, sizeof(out));
	CHECK(r == 0 && strstr(out, "No errors detected"), "sfdisk --verify mbr: %s",
	      strstr(out, "No errors") ? "clean" : out);
}

/* Compare the table areas (first 34 and last 33 sectors) with genimage's. */
static bool same_tables(const char *a, const char *b, uint64_t size)
{
	static uint8_t x[34 * 512], y[34 * 512];
	int fa = open(a, O_RDONLY | O_CLOEXEC), fb = open(b, O_RDONLY | O_CLOEXEC);
	bool ok = fa >= 0 && fb >= 0;
	const uint64_t where[2] = {0, size - 33 * 512};

	for (int i = 0; ok && i < 2; i++) {
		size_t len = i ? 33 * 512 : 34 * 512;
		ok = pread(fa, x, len, (off_t)where[i]) == (ssize_t)len &&
		     pread(fb, y, len, (off_t)where[i]) == (ssize_t)len;
		for (size_t k = 0; ok && k < len; k++)
			if (x[k] != y[k]) {
				printf("#   first difference at byte %llu\n",
				       (unsigned long long)(where[i] + k));
				ok = false;
			}
	}
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
	return ok;
}

static int write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

static void genimage_case(const char *name, const char *cfg, const struct xarch_ptable *t)
{
	char p[512], q[512], out[8192], in[256], o[256], r[256], tp[256], c[256];

	snprintf(in, sizeof(in), "%s/in", tmpdir);
	snprintf(o, sizeof(o), "%s/out", tmpdir);
	snprintf(r, sizeof(r), "%s/root", tmpdir);
	snprintf(tp, sizeof(tp), "%s/tmp", tmpdir);
	snprintf(c, sizeof(c), "%s/%s.cfg", tmpdir, name);
	write_text(c, cfg);
	char *argv[] = {(char *)"genimage",
			(char *)"--config",
			c,
			(char *)"--rootpath",
			r,
			(char *)"--inputpath",
			in,
			(char *)"--outputpath",
			o,
			(char *)"--tmppath",
			tp,
			NULL};
	int rc = run(argv, out, sizeof(out));
	CHECK_INT(rc, 0, "genimage %s", name);
	if (rc != 0) {
		printf("#   %s\n", out);
		return;
	}
	snprintf(p, sizeof(p), "%s/out/%s.img", tmpdir, name);
	struct stat st;
	CHECK(stat(p, &st) == 0 && (uint64_t)st.st_size == t->disk_size,
	      "genimage %s image has the expected size", name);
	snprintf(q, sizeof(q), "%s/%s-xarch.img", tmpdir, name);
	struct xarch_error e = {0};
	CHECK(make_image(q, t->disk_size, t, &e) >= 0, "xarch %s image: %s", name, e.msg);
	CHECK(same_tables(p, q, t->disk_size), "%s tables byte-identical to genimage", name);
}

static void test_genimage(void)
{
	static struct xarch_ptable t;
	char d[512];

	if (!have("genimage")) {
		SKIP("genimage not installed: no byte-for-byte comparison");
		return;
	}
	const char *sub[] = {"in", "out", "root", "tmp"};
	for (size_t i = 0; i < 4; i++) {
		snprintf(d, sizeof(d), "%s/%s", tmpdir, sub[i]);
		mkdir(d, 0755);
	}
	static const struct {
		const char *name;
		uint64_t size;
	} files[] = {{"esp", GiB}, {"root", 10 * GiB}, {"a", 16 * MiB}, {"b", 32 * MiB}};
	for (size_t i = 0; i < 4; i++) {
		snprintf(d, sizeof(d), "%s/in/%s.img", tmpdir, files[i].name);
		if (truncate(d, 0) < 0 && close(open(d, O_CREAT | O_WRONLY | O_CLOEXEC, 0644)) < 0)
			continue;
		if (truncate(d, (off_t)files[i].size) < 0)
			printf("#   cannot truncate %s\n", d);
	}

	seed_gpt(&t);
	genimage_case("gpt",
		      "image gpt.img {\n hdimage {\n  partition-table-type = \"gpt\"\n"
		      "  disk-uuid = \"78662d6f-706f-6570-6f72-742d726f6f74\"\n }\n"
		      " partition esp {\n  image = \"esp.img\"\n  offset = 2M\n"
		      "  partition-type-uuid = \"U\"\n"
		      "  partition-uuid = \"11111111-2222-3333-4444-555555555555\"\n"
		      "  bootable = true\n }\n"
		      " partition rootfs {\n  image = \"root.img\"\n  partition-type-uuid = \"L\"\n"
		      "  partition-uuid = \"aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee\"\n }\n}\n",
		      &t);

	seed_mbr(&t);
	genimage_case("mbr",
		      "image mbr.img {\n hdimage {\n  partition-table-type = \"mbr\"\n"
		      "  disk-signature = 0x12345678\n }\n"
		      " partition boot {\n  image = \"a.img\"\n  offset = 1M\n"
		      "  partition-type = 0xc\n  bootable = true\n }\n"
		      " partition root {\n  image = \"b.img\"\n  partition-type = 0x83\n }\n}\n",
		      &t);

	seed_mbr(&t);
	t.type = XARCH_PT_HYBRID;
	t.disk_size = UINT64_C(51400704);
	xarch_guid_parse("78662d6f-706f-6570-6f72-742d726f6f74", t.disk_guid);
	xarch_guid_parse("U", t.parts[0].type_guid);
	xarch_guid_parse("11111111-2222-3333-4444-555555555555", t.parts[0].part_guid);
	xarch_guid_parse("L", t.parts[1].type_guid);
	xarch_guid_parse("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", t.parts[1].part_guid);
	t.parts[1].mbr_type = 0;
	genimage_case("hybrid",
		      "image hybrid.img {\n hdimage {\n  partition-table-type = \"hybrid\"\n"
		      "  disk-uuid = \"78662d6f-706f-6570-6f72-742d726f6f74\"\n"
		      "  disk-signature = 0x12345678\n }\n"
		      " partition boot {\n  image = \"a.img\"\n  offset = 1M\n"
		      "  partition-type = 0xc\n  partition-type-uuid = \"U\"\n"
		      "  partition-uuid = \"11111111-2222-3333-4444-555555555555\"\n"
		      "  bootable = true\n }\n"
		      " partition root {\n  image = \"b.img\"\n  partition-type-uuid = \"L\"\n"
		      "  partition-uuid = \"aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee\"\n }\n}\n",
		      &t);
}

static void cleanup(void)
{
	char *argv[] = {(char *)"rm", (char *)"-rf", tmpdir, NULL};
	char out[256];
	run(argv, out, sizeof(out));
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_guid();
	test_dps();
	test_check();
	test_crc();
	test_sfdisk();
	test_genimage();
	cleanup();
	return check_done();
}
