// SPDX-License-Identifier: MIT
/*
 * Which architecture a disk image is for, read from the image itself: the
 * GPT partition types of the Discoverable Partitions Specification
 * (root-riscv64, usr-arm64, ...), else the removable-media loader names in
 * EFI/BOOT on the EFI system partition (BOOTRISCV64.EFI, BOOTAA64.EFI).
 * Raw and qcow2 images are read directly: a small qcow2 cluster mapper and a
 * small FAT12/16/32 directory reader, every count from the image bounded.
 */
#include <endian.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "boot-int.h"
#include "internal.h"
#include "xarch/boot.h"
#include "xarch/ptable.h"

/* --- reading guest bytes of a raw or qcow2 image --- */

struct img {
	int fd;
	uint64_t size; /* guest size */
	bool qcow2;
	unsigned cluster_bits;
	uint64_t l1_offset;
	uint32_t l1_size;
};

static int read_full(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;
	while (len) {
		ssize_t r = pread(fd, p, len, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0) { /* past the end of the file: zeros, like a sparse tail */
			memset(p, 0, len);
			return 0;
		}
		p += r;
		len -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint64_t be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}
static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}
static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)le16(p) | (uint32_t)le16(p + 2) << 16;
}
static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

bool xa_boot_is_qcow2(const uint8_t *head, size_t len)
{
	return len >= 4 && memcmp(head, "QFI\xfb", 4) == 0;
}

static int img_open(struct img *im, const char *path, struct xarch_error *err)
{
	uint8_t h[104];
	struct stat st;

	*im = (struct img){.fd = -1};
	im->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (im->fd < 0)
		return xarch_err_sys(err, errno, "cannot open '%s'", path);
	if (fstat(im->fd, &st) < 0)
		return xarch_err_sys(err, errno, "cannot stat '%s'", path);
	im->size = (uint64_t)st.st_size;
	if (read_full(im->fd, h, sizeof(h), 0) < 0)
		return xarch_err_sys(err, errno, "cannot read '%s'", path);
	if (!xa_boot_is_qcow2(h, sizeof(h)))
		return 0;
	im->qcow2 = true;
	im->cluster_bits = be32(h + 20);
	im->size = be64(h + 24);
	im->l1_size = be32(h + 36);
	im->l1_offset = be64(h + 40);
	if (be32(h + 4) < 2 || im->cluster_bits < 9 || im->cluster_bits > 21)
		return xarch_err(err, EINVAL, "'%s': unsupported qcow2 header", path);
	if (be32(h + 32) != 0)
		return xarch_err(err, ENOTSUP, "'%s': encrypted qcow2 image", path);
	return 0;
}

/* Guest bytes [off, off+len) of a qcow2 image; unallocated clusters (and a
 * backing file's, which are not followed) read as zeros. */
static int qcow2_read(const struct img *im, uint8_t *buf, size_t len, uint64_t off)
{
	uint64_t csize = UINT64_C(1) << im->cluster_bits;
	unsigned l2_bits = im->cluster_bits - 3;

	while (len) {
		uint64_t in = off & (csize - 1);
		size_t n = (size_t)(csize - in < len ? csize - in : len);
		uint64_t l1i = off >> (im->cluster_bits + l2_bits);
		uint64_t l2i = (off >> im->cluster_bits) & ((UINT64_C(1) << l2_bits) - 1);
		uint8_t e[8];
		uint64_t host = 0;
		int r;

		if (l1i < im->l1_size) {
			if ((r = read_full(im->fd, e, 8, im->l1_offset + l1i * 8)) < 0)
				return r;
			uint64_t l2 = be64(e) & UINT64_C(0x00fffffffffffe00);
			if (l2) {
				if ((r = read_full(im->fd, e, 8, l2 + l2i * 8)) < 0)
					return r;
				uint64_t ent = be64(e);
				if (ent & (UINT64_C(1) << 62))
					return -ENOTSUP; /* compressed cluster */
				if (!(ent & 1))		 /* bit 0: reads as zeros (v3) */
					host = ent & UINT64_C(0x00fffffffffffe00);
			}
		}
		if (host) {
			if ((r = read_full(im->fd, buf, n, host + in)) < 0)
				return r;
		} else {
			memset(buf, 0, n);
		}
		buf += n;
		off += n;
		len -= n;
	}
	return 0;
}

static int img_read(const struct img *im, void *buf, size_t len, uint64_t off)
{
	if (off > im->size || len > im->size - off)
		return -ERANGE;
	return im->qcow2 ? qcow2_read(im, buf, len, off) : read_full(im->fd, buf, len, off);
}

/* --- the FAT reader: names in EFI/BOOT --- */

struct fat {
	const struct img *im;
	uint64_t base; /* partition start, bytes */
	uint64_t part_size;
	unsigned bps, spc, type; /* bytes/sector, sectors/cluster, 12/16/32 */
	uint64_t fat_off, root_off, data_off;
	uint32_t root_entries, root_clus, n_clusters;
};

static int fat_open(struct fat *f, const struct img *im, uint64_t base, uint64_t size)
{
	uint8_t b[512];
	if (size < 512 || img_read(im, b, sizeof(b), base) < 0)
		return -EINVAL;
	*f = (struct fat){.im = im, .base = base, .part_size = size};
	f->bps = le16(b + 11);
	f->spc = b[13];
	unsigned rsvd = le16(b + 14), nfats = b[16];
	f->root_entries = le16(b + 17);
	uint64_t tot = le16(b + 19) ? le16(b + 19) : le32(b + 32);
	uint64_t fatsz = le16(b + 22) ? le16(b + 22) : le32(b + 36);
	if (b[510] != 0x55 || b[511] != 0xaa || (f->bps & (f->bps - 1)) || f->bps < 512 ||
	    f->bps > 4096 || !f->spc || (f->spc & (f->spc - 1)) || !rsvd || !nfats || !fatsz ||
	    !tot)
		return -EINVAL;
	uint64_t root_secs = ((uint64_t)f->root_entries * 32 + f->bps - 1) / f->bps;
	uint64_t meta = rsvd + nfats * fatsz + root_secs;
	if (meta >= tot || tot * f->bps > size)
		return -EINVAL;
	f->n_clusters = (uint32_t)((tot - meta) / f->spc);
	f->type = f->n_clusters < 4085 ? 12 : f->n_clusters < 65525 ? 16 : 32;
	f->fat_off = base + (uint64_t)rsvd * f->bps;
	f->root_off = base + (rsvd + nfats * fatsz) * f->bps;
	f->data_off = f->root_off + root_secs * f->bps;
	f->root_clus = f->type == 32 ? le32(b + 44) : 0;
	return 0;
}

static int fat_next(const struct fat *f, uint32_t c, uint32_t *ret)
{
	uint8_t e[4] = {0};
	uint64_t off;
	int r;
	switch (f->type) {
	case 12:
		off = f->fat_off + c + c / 2;
		if ((r = img_read(f->im, e, 2, off)) < 0)
			return r;
		*ret = (c & 1) ? le16(e) >> 4 : le16(e) & 0xfff;
		if (*ret >= 0xff8)
			*ret = 0;
		return 0;
	case 16:
		if ((r = img_read(f->im, e, 2, f->fat_off + (uint64_t)c * 2)) < 0)
			return r;
		*ret = le16(e) >= 0xfff8 ? 0 : le16(e);
		return 0;
	default:
		if ((r = img_read(f->im, e, 4, f->fat_off + (uint64_t)c * 4)) < 0)
			return r;
		*ret = le32(e) & 0x0fffffff;
		if (*ret >= 0x0ffffff8)
			*ret = 0;
		return 0;
	}
}

#define DIR_MAX (1u << 20) /* directories read: at most 1 MiB each */

/* The directory starting at cluster `clus` (0: the FAT12/16 root) into a
 * malloc'd buffer of *ret_len bytes. */
static int fat_read_dir(const struct fat *f, uint32_t clus, uint8_t **ret, size_t *ret_len)
{
	size_t csize = (size_t)f->bps * f->spc, len = 0;
	_cleanup_free_ uint8_t *buf = NULL;
	int r;

	if (clus == 0 && f->type != 32) {
		len = (size_t)f->root_entries * 32;
		if (!len || !(buf = malloc(len)))
			return -ENOMEM;
		if ((r = img_read(f->im, buf, len, f->root_off)) < 0)
			return r;
		*ret = TAKE_PTR(buf);
		*ret_len = len;
		return 0;
	}
	if (clus == 0)
		clus = f->root_clus;
	for (unsigned n = 0; clus >= 2 && clus < f->n_clusters + 2; n++) {
		if (len + csize > DIR_MAX || n > f->n_clusters)
			return -EFBIG; /* too big, or a loop in the chain */
		uint8_t *nb = realloc(buf, len + csize);
		if (!nb)
			return -ENOMEM;
		buf = nb;
		if ((r = img_read(f->im, buf + len, csize,
				  f->data_off + (uint64_t)(clus - 2) * csize)) < 0)
			return r;
		len += csize;
		if ((r = fat_next(f, clus, &clus)) < 0)
			return r;
	}
	if (!buf)
		return -ENOENT;
	*ret = TAKE_PTR(buf);
	*ret_len = len;
	return 0;
}

/* Call fn(name, first cluster, is_dir) for each entry, with the long name
 * when there is one (ASCII only; others become '?'). */
static int fat_each(const uint8_t *d, size_t len,
		    int (*fn)(void *data, const char *name, uint32_t clus, bool dir), void *data)
{
	char lfn[256] = "";
	unsigned lfn_parts = 0;
	static const uint8_t lfn_at[13] = {1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30};

	for (size_t o = 0; o + 32 <= len; o += 32) {
		const uint8_t *e = d + o;
		if (e[0] == 0)
			break;
		if (e[0] == 0xe5) {
			lfn_parts = 0;
			continue;
		}
		if ((e[11] & 0x3f) == 0x0f) { /* a long-name piece, last piece first */
			unsigned seq = e[0] & 0x1f;
			if (!seq || seq > 19)
				continue;
			if (e[0] & 0x40) {
				memset(lfn, 0, sizeof(lfn));
				lfn_parts = seq;
			}
			for (unsigned i = 0; i < 13; i++) {
				uint16_t ch = le16(e + lfn_at[i]);
				size_t at = (seq - 1) * 13 + i;
				if (ch == 0 || ch == 0xffff || at >= sizeof(lfn) - 1)
					break;
				lfn[at] = ch < 0x80 ? (char)ch : '?';
			}
			continue;
		}
		if (e[11] & 0x08) { /* volume label */
			lfn_parts = 0;
			continue;
		}
		char name[256];
		if (lfn_parts) {
			memcpy(name, lfn, sizeof(name));
		} else { /* 8.3 */
			size_t n = 0;
			for (int i = 0; i < 8 && e[i] != ' '; i++)
				name[n++] = (char)e[i];
			if (e[8] != ' ') {
				name[n++] = '.';
				for (int i = 8; i < 11 && e[i] != ' '; i++)
					name[n++] = (char)e[i];
			}
			name[n] = 0;
		}
		lfn_parts = 0;
		uint32_t clus = (uint32_t)le16(e + 26) | (uint32_t)le16(e + 20) << 16;
		int r = fn(data, name, clus, e[11] & 0x10);
		if (r)
			return r;
	}
	return 0;
}

struct find {
	const char *want;
	uint32_t clus;
	bool found;
};

static int find_dir_cb(void *data, const char *name, uint32_t clus, bool dir)
{
	struct find *fd = data;
	if (dir && strcasecmp(name, fd->want) == 0) {
		fd->clus = clus;
		fd->found = true;
		return 1;
	}
	return 0;
}

static int fat_subdir(const struct fat *f, uint32_t clus, const char *name, uint32_t *ret)
{
	_cleanup_free_ uint8_t *d = NULL;
	size_t len;
	struct find fd = {.want = name};
	int r = fat_read_dir(f, clus, &d, &len);
	if (r < 0)
		return r;
	fat_each(d, len, find_dir_cb, &fd);
	if (!fd.found || fd.clus < 2)
		return -ENOENT;
	*ret = fd.clus;
	return 0;
}

/* --- the per-arch hints --- */

struct hints {
	const struct xa_boot_target *arch; /* first found */
	char why[128];
	const struct xa_boot_target *other; /* a second, different one */
	char other_why[128];
};

/* `kind` ("partition type") and `what` ("root-riscv64") say why */
static void hint(struct hints *h, const struct xa_boot_target *t, const char *kind,
		 const char *what)
{
	if (!h->arch) {
		h->arch = t;
		snprintf(h->why, sizeof(h->why), "%s %s", kind, what);
	} else if (h->arch != t && !h->other) {
		h->other = t;
		snprintf(h->other_why, sizeof(h->other_why), "%s %s", kind, what);
	}
}

static int loader_cb(void *data, const char *name, uint32_t clus, bool dir)
{
	struct hints *h = data;
	const struct xa_boot_target *t = xa_boot_target_by_loader(name);
	(void)clus;
	if (!dir && t) {
		char path[64];
		snprintf(path, sizeof(path), "EFI/BOOT/%.40s", name);
		hint(h, t, "ESP loader", path);
	}
	return 0;
}

static void scan_fat(const struct img *im, uint64_t off, uint64_t size, struct hints *h)
{
	struct fat f;
	uint32_t efi, boot;
	_cleanup_free_ uint8_t *d = NULL;
	size_t len;

	if (fat_open(&f, im, off, size) < 0 || fat_subdir(&f, 0, "EFI", &efi) < 0 ||
	    fat_subdir(&f, efi, "BOOT", &boot) < 0 || fat_read_dir(&f, boot, &d, &len) < 0)
		return;
	fat_each(d, len, loader_cb, h);
}

/* the GPT's type GUID for each arch, and ESP candidates */
#define MAX_FAT 8
struct range {
	uint64_t off, size;
};

static int scan_gpt(const struct img *im, const uint8_t *hdr, struct hints *h, struct range *fats,
		    size_t *n_fats)
{
	uint8_t esp[16];
	uint64_t lba = le64(hdr + 72);
	uint32_t n = le32(hdr + 80), esize = le32(hdr + 84);
	uint8_t e[512];

	xarch_guid_parse("esp", esp);
	if (esize < 128 || esize > sizeof(e) || n > 1024)
		return -EINVAL;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t off = lba * 512 + (uint64_t)i * esize;
		if (img_read(im, e, esize, off) < 0)
			break;
		static const uint8_t zero[16];
		if (!memcmp(e, zero, 16))
			continue;
		uint64_t first = le64(e + 32), last = le64(e + 40);
		char name[64];
		const struct xa_boot_target *t = xa_boot_target_by_type_guid(e, name, sizeof(name));
		if (t)
			hint(h, t, "partition type", name);
		if ((!memcmp(e, esp, 16)) && last >= first && *n_fats < MAX_FAT)
			fats[(*n_fats)++] = (struct range){first * 512, (last - first + 1) * 512};
	}
	return 0;
}

int xarch_boot_detect_arch(const char *image, char *ret_arch, size_t arch_len, char *ret_why,
			   size_t why_len, struct xarch_error *err)
{
	struct img im;
	uint8_t mbr[512], gpt[512];
	struct hints h = {0};
	struct range fats[MAX_FAT];
	size_t n_fats = 0;
	int r;

	r = img_open(&im, image, err);
	_cleanup_close_ int fd = im.fd;
	if (r < 0)
		return r;
	if ((r = img_read(&im, mbr, 512, 0)) < 0 || (r = img_read(&im, gpt, 512, 512)) < 0)
		return xarch_err(err, EINVAL, "cannot tell the architecture of '%s': %s", image,
				 r == -ENOTSUP ? "compressed qcow2 clusters" : "image too small");
	if (!memcmp(gpt, "EFI PART", 8)) {
		scan_gpt(&im, gpt, &h, fats, &n_fats);
	} else if (mbr[510] == 0x55 && mbr[511] == 0xaa) {
		for (int i = 0; i < 4; i++) {
			const uint8_t *p = mbr + 446 + i * 16;
			static const uint8_t fat_types[] = {0x01, 0x04, 0x06, 0x0b,
							    0x0c, 0x0e, 0xef};
			if (memchr(fat_types, p[4], sizeof(fat_types)) && le32(p + 12) &&
			    n_fats < MAX_FAT)
				fats[n_fats++] = (struct range){(uint64_t)le32(p + 8) * 512,
								(uint64_t)le32(p + 12) * 512};
		}
	}
	/* The partition types are the surer sign; loaders only when none. */
	if (!h.arch)
		for (size_t i = 0; i < n_fats; i++)
			scan_fat(&im, fats[i].off, fats[i].size, &h);
	if (!h.arch)
		return xarch_err(err, ENOENT,
				 "cannot tell the architecture of '%s': no root/usr partition type "
				 "of a known architecture and no EFI/BOOT/BOOT*.EFI loader on an "
				 "ESP; pass --arch",
				 image);
	if (h.other)
		return xarch_err(err, EINVAL,
				 "'%s' is for two architectures (%s: %s, %s: %s); pass --arch",
				 image, h.why, h.arch->arch, h.other_why, h.other->arch);
	if (xa_strcpy(ret_arch, arch_len, h.arch->arch) < 0)
		return -ENAMETOOLONG;
	if (ret_why)
		snprintf(ret_why, why_len, "%s", h.why);
	return 0;
}
