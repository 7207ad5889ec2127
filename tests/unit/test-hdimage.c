// SPDX-License-Identifier: MIT
/* hdimage layouts worked out from configs alone (no disk written): offsets,
 * sizes, logical partitions and their EBRs, file sizes, and the errors. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "xarch/hdimage.h"

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)

/* every image the configs use, with its size */
static int size_of(void *data, const char *name, uint64_t *ret, struct xarch_error *err)
{
	static const struct {
		const char *name;
		uint64_t size;
	} sizes[] = {{"part1.img", 300000},
		     {"part2.img", 70000},
		     {"blob.img", 70 * KiB},
		     {"3K.img", 3 * KiB},
		     {"b100", 100},
		     {"b50", 50},
		     {"b75", 75}};
	(void)data;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		if (!strcmp(sizes[i].name, name)) {
			*ret = sizes[i].size;
			return 0;
		}
	return xarch_err(err, ENOENT, "no image '%s'", name);
}

static struct xarch_hd_layout L;

/* Lay out the image called "disk" of cfg; 0 or -errno (message in err). */
static int layout(const char *cfg, struct xarch_error *err)
{
	struct xarch_gcfg c;
	int r = xarch_gcfg_parse_buf(cfg, strlen(cfg), NULL, &c, err);
	if (r < 0)
		return r;
	const struct xarch_gimage *img = xarch_gcfg_image(&c, "disk");
	r = img ? xarch_hd_layout(&c, img, size_of, NULL, &L, err) : -ENOENT;
	xarch_gcfg_release(&c);
	return r;
}

#define FILES                                                                                      \
	"image part1.img { file {} }\nimage part2.img { file {} }\nimage blob.img { file {} }\n"   \
	"image 3K.img { file {} }\n"

/* genimage's own test (test/hdimage-forced-primary.*): its expected table */
static void test_forced_primary(void)
{
	struct xarch_error e = {0};
	const char *cfg =
	    FILES "image disk {\n"
		  "hdimage { align = 1M disk-signature = 0x12345678 extended-partition = 2 }\n"
		  "partition part1 { image = \"part1.img\" partition-type = 0xc bootable = true }\n"
		  "partition part5 { image = \"part1.img\" partition-type = 0x83 }\n"
		  "partition part6 { image = \"part2.img\" partition-type = 0x83 }\n"
		  "partition part7 { image = \"part1.img\" partition-type = 0x83 }\n"
		  "partition part8 { image = \"part2.img\" partition-type = 0x83 }\n"
		  "partition part9 { image = \"part1.img\" partition-type = 0x83 }\n"
		  "partition part3 { image = \"part1.img\" partition-type = 0x83 forced-primary = "
		  "true }\n"
		  "partition part4 { image = \"part2.img\" partition-type = 0x82 forced-primary = "
		  "true }\n"
		  "}\n";
	static const struct {
		uint64_t start, size;
		bool logical;
	} want[] = {{2048, 2048, false},  {6144, 2048, true},  {10240, 2048, true},
		    {14336, 2048, true},  {18432, 2048, true}, {22528, 2048, true},
		    {24576, 2048, false}, {26624, 2048, false}};
	CHECK_INT(layout(cfg, &e), 0, "forced-primary layout: %s", e.msg);
	for (size_t i = 0; i < 8; i++) {
		const struct xarch_part *p = &L.t.parts[i];
		CHECK(p->offset / 512 == want[i].start && p->size / 512 == want[i].size &&
			  p->logical == want[i].logical,
		      "%s at %llu+%llu%s", p->name, (unsigned long long)want[i].start,
		      (unsigned long long)want[i].size, want[i].logical ? " (logical)" : "");
		if (p->logical)
			CHECK_INT(p->ebr_offset, p->offset - MiB, "%s: EBR one align before",
				  p->name);
	}
	CHECK_INT(L.t.disk_signature, 0x12345678, "disk-signature");
	CHECK_INT(L.t.parts[6].mbr_type, 0x83, "forced-primary keeps its type");
}

static void expect(const char *cfg, const char *a, const char *b, const char *what)
{
	struct xarch_error e = {0};
	int r = layout(cfg, &e);
	bool ok = r < 0 && strstr(e.msg, a) && (!b || strstr(e.msg, b));
	CHECK(ok, "%s rejected", what);
	if (!ok)
		printf("#   r=%d msg='%s' want '%s' and '%s'\n", r, e.msg, a, b ? b : "");
}

/* genimage's hdimage-fail8..11 and other mistakes */
static void test_errors(void)
{
	expect(FILES "image disk {\n hdimage { align = 1M extended-partition = 1 }\n"
		     " partition p1 { image = \"part1.img\" forced-primary = true }\n"
		     " partition p2 { image = \"part1.img\" }\n}\n",
	       "<buffer>:7: partition 'p1'", "forced-primary is only for", "fail8");
	expect(FILES
	       "image disk {\n hdimage { align = 1M }\n"
	       " partition p1 { image = \"part1.img\" }\n partition p2 { image = \"part1.img\" }\n"
	       " partition p3 { image = \"part1.img\" }\n partition p4 { image = \"part1.img\" }\n"
	       " partition p5 { image = \"part1.img\" forced-primary = true }\n}\n",
	       "5 entries in the mbr", NULL, "fail9: 3 primary + extended + forced");
	expect(FILES "image disk {\n hdimage { align = 1M extended-partition = 1 }\n"
		     " partition e1 { image = \"part1.img\" }\n"
		     " partition p2 { image = \"part1.img\" forced-primary = true }\n"
		     " partition e5 { image = \"part1.img\" }\n}\n",
	       "<buffer>:9: partition 'e5'", "cannot follow the forced-primary partition 'p2'",
	       "fail11");
	expect(FILES "image disk {\n hdimage { partition-table-type = \"gpt\" }\n"
		     " partition a { offset = 1M image = \"part1.img\" }\n"
		     " partition b { offset = 1100K image = \"part1.img\" }\n}\n",
	       "<buffer>:8: partition 'b' (1100 KiB..1393 KiB) overlaps partition 'a' (1 MiB..1317 "
	       "KiB)",
	       NULL, "overlap");
	expect(FILES "image disk {\n hdimage { partition-table-type = \"gpt\" }\n"
		     " partition spl { in-partition-table = false offset = 1K size = 24K image = "
		     "\"3K.img\" }\n"
		     " partition a { offset = 1M image = \"part1.img\" }\n}\n",
	       "<buffer>:7: partition 'spl' (1 KiB..25 KiB) overlaps the gpt entry array (1 "
	       "KiB..17 KiB)",
	       "hole", "raw blob on the gpt (genimage gpt-overlap1)");
	expect(FILES "image disk {\n hdimage {}\n"
		     " partition a { image = \"part1.img\" size = 100K }\n}\n",
	       "<buffer>:7: partition 'a': image 'part1.img' (300000 bytes) does not fit the "
	       "partition (100 KiB)",
	       NULL, "image larger than size");
	expect(FILES "image disk {\n size = 1M\n hdimage {}\n"
		     " partition a { image = \"part1.img\" size = 2M }\n}\n",
	       "<buffer>:8: partition 'a' (512 bytes..", "does not fit in the disk (1 MiB)",
	       "disk too small");
	expect(FILES "image disk {\n hdimage { align = 1M }\n"
		     " partition a { image = \"part1.img\" align = 4K }\n}\n",
	       "align 4 KiB is not a multiple of the disk's align 1 MiB", NULL, "small align");
	expect(FILES "image disk {\n hdimage { partition-table-type = \"gpt\" }\n"
		     " partition a { image = \"part1.img\" partition-type-uuid = \"nope\" }\n}\n",
	       "<buffer>:7: partition 'a': invalid partition-type-uuid 'nope'", NULL,
	       "unknown shortcut");
	expect(FILES
	       "image disk {\n hdimage { partition-table-type = \"gpt\" disk-signature = 1 }\n"
	       " partition a { image = \"part1.img\" }\n}\n",
	       "disk-signature needs an mbr or hybrid table", NULL, "disk-signature on gpt");
	expect(FILES "image disk {\n hdimage { partition-table-type = \"hybrid\" }\n"
		     " partition a { image = \"part1.img\" }\n}\n",
	       "needs a partition with a partition-type", NULL, "hybrid without mbr entries");
	expect(FILES "image disk {\n hdimage {}\n"
		     " partition a { image = \"part1.img\" autoresize = true }\n}\n",
	       "autoresize needs the image's size", NULL, "autoresize without size");
}

static void test_layouts(void)
{
	struct xarch_error e = {0};

	/* hybrid + autoresize with a minimum size: the backup GPT is kept free */
	CHECK_INT(layout(FILES
			 "image disk {\n size = 16M\n"
			 " hdimage { partition-table-type = \"hybrid\" align = 1M }\n"
			 " partition a { image = \"part1.img\" partition-type = 0xc }\n"
			 " partition b { image = \"part2.img\" partition-type-uuid = S }\n"
			 " partition c { autoresize = true partition-type = 0x83 size = 2M }\n}\n",
			 &e),
		  0, "hybrid autoresize: %s", e.msg);
	CHECK_INT(L.t.parts[2].offset, 3 * MiB, "autoresize partition after the others");
	CHECK_INT(L.t.parts[2].size, 12 * MiB, "autoresize rounded down to align, backup kept");
	CHECK_INT(L.t.parts[1].mbr_type, 0, "no partition-type: only in the GPT");
	CHECK_INT(L.file_size, 16 * MiB, "gpt with backup: the whole disk");

	/* genimage's test/hdimage-nopart: no table, align 128 */
	CHECK_INT(layout("image b100 { file {} }\nimage b50 { file {} }\nimage b75 { file {} }\n"
			 "image disk {\n size = 512\n"
			 " hdimage { partition-table-type = none align = 128 fill = true }\n"
			 " partition p1 { image = \"b100\" }\n"
			 " partition p2 { image = \"b50\" align = 8 }\n"
			 " partition p3 { image = \"b75\" }\n}\n",
			 &e),
		  0, "no table: %s", e.msg);
	CHECK(L.t.parts[0].offset == 0 && L.t.parts[1].offset == 104 && L.t.parts[2].offset == 256,
	      "no table: 0, 104, 256 as genimage");
	CHECK_INT(L.file_size, 512, "fill: the disk's size");

	/* MBR without fill: the file ends with the last data */
	CHECK_INT(
	    layout(FILES
		   "image disk {\n hdimage {}\n"
		   " partition a { offset = 4M image = \"part1.img\" partition-type = 0x83 }\n"
		   " partition b { offset = 1M image = \"part2.img\" }\n"
		   " partition c { image = \"part2.img\" }\n}\n",
		   &e),
	    0, "mbr out of order: %s", e.msg);
	CHECK_INT(L.t.parts[2].offset, 4 * MiB + 300032, "after the furthest partition");
	CHECK_INT(L.file_size, 4 * MiB + 300032 + 70000, "file ends with c's data");
	CHECK_INT(L.t.parts[1].mbr_type, 0, "type 0 without partition-type (genimage 16)");

	/* holes: a loader over the MBR and GPT header, the array moved past it */
	CHECK_INT(
	    layout(
		"image blob.img { file { holes = {\"(440; 1K)\"} } }\n"
		"image part1.img { file {} }\n"
		"image disk {\n hdimage { partition-table-type = gpt gpt-location = 70K }\n"
		" partition loader { in-partition-table = false offset = 0 image = \"blob.img\" }\n"
		" partition root { image = \"part1.img\" read-only = true hidden = true }\n}\n",
		&e),
	    0, "loader with holes: %s", e.msg);
	CHECK_INT(L.t.parts[1].offset, 86 * KiB, "first partition after the moved array");
	CHECK(L.t.parts[1].gpt_attrs == (XARCH_GPT_ATTR_READ_ONLY | XARCH_GPT_ATTR_HIDDEN),
	      "read-only and hidden attribute bits");
	CHECK_INT(L.n_holes, 1, "one hole");

	/* the old spellings */
	CHECK_INT(layout(FILES "image disk {\n hdimage { gpt = true }\n"
			       " partition a { image = \"part1.img\" }\n}\n",
			 &e),
		  0, "gpt = true: %s", e.msg);
	CHECK_INT(L.t.type, XARCH_PT_GPT, "gpt = true means a gpt");
	CHECK_INT(layout(FILES "image disk {\n hdimage { partition-table = false }\n"
			       " partition a { image = \"part1.img\" }\n}\n",
			 &e),
		  0, "partition-table = false: %s", e.msg);
	CHECK_INT(L.t.type, XARCH_PT_NONE, "partition-table = false means none");
}

static void test_holes(void)
{
	struct xarch_hole h;
	CHECK(xarch_hd_hole_parse("(440; 33K)", &h) == 0 && h.start == 440 && h.end == 33 * KiB,
	      "(440; 33K)");
	CHECK(xarch_hd_hole_parse(" ( 64K ;80K ) ", &h) == 0 && h.start == 64 * KiB &&
		  h.end == 80 * KiB,
	      "spaces");
	static const char *bad[] = {"", "440;1K", "(1K;440)", "(1K;1K)", "(a;b)", "(1;2) x"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(xarch_hd_hole_parse(bad[i], &h) == -EINVAL, "bad hole '%s'", bad[i]);
}

int main(void)
{
	test_forced_primary();
	test_errors();
	test_layouts();
	test_holes();
	return check_done();
}
