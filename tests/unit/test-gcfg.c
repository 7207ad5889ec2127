// SPDX-License-Identifier: MIT
/* genimage.cfg parsing: the seed's config, an RK3568 layout, sizes, errors. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "xarch/gcfg.h"

/*
 * libconfuse 3.3 does not free its include stack when a parse fails inside an
 * included file (here: the include loop); LeakSanitizer reads this hook.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libconfuse\nleak:cfg_yy_create_buffer\n";
}

#define FIX(name) GCFG_FIXTURES "/" name

static const struct xarch_gpart *part(const struct xarch_gimage *img, const char *name)
{
	for (size_t i = 0; img && i < img->n_parts; i++)
		if (strcmp(img->parts[i].name, name) == 0)
			return &img->parts[i];
	return NULL;
}

static void test_seed(void)
{
	struct xarch_gcfg c;
	struct xarch_error err = {0};
	int r = xarch_gcfg_parse_file(FIX("seed.cfg"), NULL, &c, &err);
	CHECK_INT(r, 0, "seed.cfg parses (%s)", err.msg);
	if (r < 0)
		return;
	CHECK_INT(c.n_images, 3, "seed: three images");
	const struct xarch_gimage *esp = xarch_gcfg_image(&c, "esp.vfat");
	const struct xarch_gimage *root = xarch_gcfg_image(&c, "rootfs.ext4");
	const struct xarch_gimage *disk = xarch_gcfg_image(&c, "oe2403lts-rv64-qemu.img");
	CHECK(esp && root && disk, "seed: images by name");
	if (!esp || !root || !disk)
		goto out;
	CHECK_STR(esp->type, "vfat", "esp type");
	CHECK_INT(esp->size, 1ULL << 30, "esp size 1GB = 1 GiB");
	CHECK_STR(xarch_gimage_opt(esp, "label"), "ESP", "esp label");
	CHECK_STR(xarch_gimage_opt(esp, "extraargs"), "-i 00455350", "esp extraargs");
	CHECK_STR(xarch_gimage_opt(esp, "files"), "efi/EFI", "esp files list");
	CHECK_STR(root->type, "ext4", "rootfs type");
	CHECK_INT(root->size, 10ULL << 30, "rootfs size 10G");
	CHECK_STR(xarch_gimage_opt(root, "features"), "filetype", "rootfs features");
	CHECK_STR(xarch_gimage_opt(root, "use-mke2fs"), "true", "rootfs use-mke2fs");
	CHECK_STR(xarch_gimage_opt(root, "extraargs"), "-U 78662d6f-706f-6570-6f72-742d726f6f74",
		  "rootfs extraargs");
	CHECK_STR(disk->type, "hdimage", "disk type");
	CHECK_STR(xarch_gimage_opt(disk, "partition-table-type"), "gpt", "disk gpt");
	CHECK_INT(disk->n_parts, 2, "disk: two partitions");
	const struct xarch_gpart *p = part(disk, "esp"), *q = part(disk, "rootfs");
	CHECK(p && q, "partitions esp and rootfs");
	if (p && q) {
		CHECK_INT(p->offset, 2u << 20, "esp offset 2M");
		CHECK_STR(p->image, "esp.vfat", "esp image");
		CHECK_STR(p->partition_type_uuid, "U", "esp type uuid U");
		CHECK(p->bootable, "esp bootable");
		CHECK(p->in_partition_table, "esp in table");
		CHECK_INT(q->offset, 0, "rootfs offset automatic");
		CHECK_STR(q->partition_type_uuid, "L", "rootfs type uuid L");
		CHECK(!q->bootable, "rootfs not bootable");
		CHECK_INT(p->partition_type, -1, "no MBR type");
	}
out:
	xarch_gcfg_release(&c);
}

static void test_rk3568(void)
{
	struct xarch_gcfg c;
	struct xarch_error err = {0};
	int r = xarch_gcfg_parse_file(FIX("rk3568.cfg"), NULL, &c, &err);
	CHECK_INT(r, 0, "rk3568.cfg parses (%s)", err.msg);
	if (r < 0)
		return;
	CHECK_STR(c.outputpath, "images", "config outputpath");
	CHECK_STR(c.inputpath, "input", "config inputpath");
	CHECK_STR(c.rootpath, "", "config rootpath unset");
	const struct xarch_gimage *disk = xarch_gcfg_image(&c, "rk3568.img");
	const struct xarch_gimage *boot = xarch_gcfg_image(&c, "boot.vfat");
	CHECK(disk && boot, "rk3568 images");
	if (!disk || !boot)
		goto out;
	CHECK_STR(xarch_gimage_opt(disk, "gpt-location"), "64s", "gpt-location");
	static const struct {
		const char *name;
		uint64_t offset;
		bool in_table;
		const char *image;
	} want[] = {
	    {"idbloader", 32 << 10, false, "idbloader.img"},
	    {"u-boot", 8 << 20, false, "u-boot.itb"},
	    {"boot", 16 << 20, true, "boot.vfat"},
	    {"rootfs", 512 << 20, true, "rootfs.ext4"},
	};
	CHECK_INT(disk->n_parts, 4, "four partitions");
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]) && i < disk->n_parts; i++) {
		const struct xarch_gpart *p = &disk->parts[i];
		CHECK_STR(p->name, want[i].name, "partition %zu name", i);
		CHECK_INT(p->offset, want[i].offset, "%s offset", want[i].name);
		CHECK_INT(p->in_partition_table, want[i].in_table, "%s in table", want[i].name);
		CHECK_STR(p->image, want[i].image, "%s image", want[i].name);
	}
	CHECK_STR(disk->parts[3].partition_uuid, "b921b045-1df0-41c3-af44-4c6f280d3fae",
		  "rootfs partition-uuid");
	CHECK_INT(boot->n_files, 1, "vfat file section");
	if (boot->n_files) {
		CHECK_STR(boot->files[0].name, "EFI/BOOT/BOOTAA64.EFI", "file target");
		CHECK_STR(boot->files[0].image, "grubaa64.efi", "file source");
	}
	size_t nfiles = 0;
	for (size_t i = 0; i < boot->n_opts; i++)
		nfiles += strcmp(boot->opts[i].key, "files") == 0;
	CHECK_INT(nfiles, 3, "three files");
	CHECK_STR(xarch_gcfg_image(&c, "rootfs.ext4")->mountpoint, "/", "mountpoint");
out:
	xarch_gcfg_release(&c);
}

static void test_include_env(void)
{
	struct xarch_gcfg c;
	struct xarch_error err = {0};
	setenv("XARCH_GCFG_TEST_LABEL", "from-env", 1);
	int r = xarch_gcfg_parse_file(FIX("inc-main.cfg"), GCFG_FIXTURES, &c, &err);
	CHECK_INT(r, 0, "include + env parse (%s)", err.msg);
	if (r < 0)
		return;
	const struct xarch_gimage *d = xarch_gcfg_image(&c, "data.ext4");
	CHECK(d != NULL, "included image present");
	if (d)
		CHECK_STR(xarch_gimage_opt(d, "label"), "from-env", "${VAR} expanded");
	const struct xarch_gimage *disk = xarch_gcfg_image(&c, "disk.img");
	if (disk && disk->n_parts)
		CHECK_INT(disk->parts[0].partition_type, 0x83, "partition-type 0x83");
	xarch_gcfg_release(&c);
	/* a buffer may not include files */
	const char *b = "include(\"/etc/passwd\")\n";
	r = xarch_gcfg_parse_buf(b, strlen(b), NULL, &c, &err);
	CHECK(r < 0 && strstr(err.msg, "<buffer>:1:"), "buffer include refused: %s", err.msg);
}

static void test_sizes(void)
{
	static const struct {
		const char *s;
		int r;
		uint64_t v;
	} t[] = {
	    {"0", 0, 0},
	    {"512", 0, 512},
	    {"1k", 0, 1024},
	    {"4K", 0, 4096},
	    {"4KB", 0, 4096},
	    {"2M", 0, 2 << 20},
	    {"2MB", 0, 2 << 20},
	    {"2MiB", 0, 2 << 20},
	    {"1GB", 0, 1ULL << 30},
	    {"10G", 0, 10ULL << 30},
	    {"3T", 0, 3ULL << 40},
	    {"64s", 0, 64 * 512},
	    {"0x100000", 0, 1 << 20},
	    {"18446744073709551615", 0, UINT64_MAX},
	    {"18446744073709551616", -ERANGE, 0},
	    {"16777216T", -ERANGE, 0},
	    {"", -EINVAL, 0},
	    {"M", -EINVAL, 0},
	    {"-1", -EINVAL, 0},
	    {" 1", -EINVAL, 0},
	    {"1Q", -EINVAL, 0},
	    {"1MBB", -EINVAL, 0},
	    {"1sB", -EINVAL, 0},
	    {"1 M", -EINVAL, 0},
	    {"50%", -EINVAL, 0},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		uint64_t v = 0;
		int r = xarch_gcfg_size_parse(t[i].s, &v);
		CHECK_INT(r, t[i].r, "size '%s' result", t[i].s);
		if (r == 0 && t[i].r == 0)
			CHECK_INT(v, t[i].v, "size '%s' value", t[i].s);
	}
}

static void test_errors(void)
{
	static const struct {
		const char *file, *where, *what;
	} t[] = {
	    {"bad-option.cfg", "bad-option.cfg:3:", "lable"},
	    {"missing-image.cfg", "missing-image.cfg:", "nothere.vfat"},
	    {"bad-size.cfg", "bad-size.cfg:", "12QB"},
	    {"unterminated.cfg", "unterminated.cfg:", ""},
	    {"loop-a.cfg", "loop-", ""},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct xarch_gcfg c = {0};
		struct xarch_error err = {0};
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", GCFG_FIXTURES, t[i].file);
		int r = xarch_gcfg_parse_file(path, NULL, &c, &err);
		CHECK(r < 0, "%s fails", t[i].file);
		CHECK(strstr(err.msg, t[i].where) && strstr(err.msg, t[i].what), "%s message: %s",
		      t[i].file, err.msg);
		const char *colon = strstr(err.msg, ".cfg:");
		CHECK(colon && colon[5] >= '1' && colon[5] <= '9', "%s names a line", t[i].file);
		CHECK_INT(c.n_images, 0, "%s leaves ret untouched", t[i].file);
	}
	/* buffers: errors name <buffer> and the line */
	static const char *const bufs[] = {
	    "image a { vfat {} size = 1X }\n",
	    "\n\nimage a { nosuch = 1 vfat {} }\n",
	    "image a { vfat {} }\nimage d { hdimage { partition-table-type = \"zfs\" } }\n",
	    "image a { vfat {} ext4 {} }\n",
	    "image a { }\n",
	    "image d { hdimage {} partition p { offset = 1M } }\n",
	    "image d { hdimage {} partition p { image = \"d\" } }\n",
	    "image d { hdimage {} partition p { size = 1M partition-type = 256 } }\n",
	    "image a { vfat {} }\nimage a { vfat {} }\n",
	    "",
	};
	for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++) {
		struct xarch_gcfg c;
		struct xarch_error err = {0};
		int r = xarch_gcfg_parse_buf(bufs[i], strlen(bufs[i]), NULL, &c, &err);
		CHECK(r < 0 && strstr(err.msg, "<buffer>"), "bad buffer %zu: %s", i, err.msg);
	}
}

int main(void)
{
	test_seed();
	test_rk3568();
	test_include_env();
	test_sizes();
	test_errors();
	return check_done();
}
