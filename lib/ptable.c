// SPDX-License-Identifier: MIT
/*
 * MBR / GPT / hybrid partition tables written into an image file.  The bytes
 * follow genimage 16's hdimage (CHS fields, first usable LBA, hybrid 0xEE
 * entry), so images made either way can be compared byte for byte.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "internal.h"
#include "xarch/ptable.h"

#define SECTOR 512u
#define GPT_ENTRIES 128u
#define GPT_ENTRY_SIZE 128u
#define GPT_ARRAY_BYTES (GPT_ENTRIES * GPT_ENTRY_SIZE)
#define GPT_ARRAY_SECTORS (GPT_ARRAY_BYTES / SECTOR)
#define GPT_HEADER_SIZE 92u
/* backup: entry array + header, at the very end of the disk */
#define GPT_BACKUP_BYTES ((uint64_t)(GPT_ARRAY_SECTORS + 1) * SECTOR)

static const struct {
	const char *name;
	const char *guid;
} guid_shortcuts[] = {
	/* genimage 16 */
	{ "L", "0fc63daf-8483-4772-8e79-3d69d8477de4" },
	{ "S", "0657fd6d-a4ab-43c4-84e5-0933c84b4f4f" },
	{ "H", "933ac7e1-2eb4-4f13-b844-0e14e2aef915" },
	{ "U", "c12a7328-f81f-11d2-ba4b-00a0c93ec93b" },
	{ "R", "a19d880f-05fc-4d3b-a006-743f0f84911e" },
	{ "V", "e6d6d379-f507-44c2-a23c-238f2a3df928" },
	{ "F", "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7" },
	/* xarch additions: Discoverable Partitions Specification */
	{ "ESP", "c12a7328-f81f-11d2-ba4b-00a0c93ec93b" },
	{ "root-x86-64", "4f68bce3-e8cd-4db1-96e7-fbcaf984b709" },
	{ "root-arm64", "b921b045-1df0-41c3-af44-4c6f280d3fae" },
	{ "root-riscv64", "72ec70a6-cf74-40e6-bd49-4bda08e8f224" },
	{ "usr-x86-64", "8484680c-9521-48c6-9c11-b0720656f69e" },
	{ "usr-arm64", "b0e01050-ee5f-4390-949a-9101b17104e9" },
	{ "usr-riscv64", "beaec34b-8442-439b-a40b-984381ed097d" },
};

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* text byte i (in reading order) -> on-disk position: the first three
 * fields are little-endian */
static const uint8_t guid_order[16] = { 3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15 };

static int guid_parse_text(const char *s, uint8_t out[16])
{
	uint8_t g[16];
	size_t bi = 0;

	if (strlen(s) != 36)
		return -EINVAL;
	for (size_t i = 0; i < 36;) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return -EINVAL;
			i++;
			continue;
		}
		int hi = hexval(s[i]), lo = hexval(s[i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		g[guid_order[bi++]] = (uint8_t)(hi << 4 | lo);
		i += 2;
	}
	memcpy(out, g, 16);
	return 0;
}

int xarch_guid_parse(const char *s, uint8_t out[16])
{
	if (!s)
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(guid_shortcuts); i++)
		if (strcasecmp(s, guid_shortcuts[i].name) == 0)
			return guid_parse_text(guid_shortcuts[i].guid, out);
	return guid_parse_text(s, out);
}

void xarch_guid_format(const uint8_t g[16], char buf[37])
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (size_t i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			buf[o++] = '-';
		uint8_t b = g[guid_order[i]];
		buf[o++] = hex[b >> 4];
		buf[o++] = hex[b & 15];
	}
	buf[o] = '\0';
}

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t gpt_location(const struct xarch_ptable *t)
{
	return t->gpt_location ? t->gpt_location : XARCH_GPT_LOCATION_DEFAULT;
}

static bool has_gpt(const struct xarch_ptable *t)
{
	return t->type == XARCH_PT_GPT || t->type == XARCH_PT_HYBRID;
}

static const char *part_label(const struct xarch_part *p, size_t i, char *buf, size_t len)
{
	if (p->name[0])
		return p->name;
	snprintf(buf, len, "#%zu", i + 1);
	return buf;
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

int xarch_ptable_check(const struct xarch_ptable *t, struct xarch_error *err)
{
	char lb[24], lb2[24];
	size_t in_table = 0, in_mbr = 0;
	uint64_t loc = gpt_location(t);

	if (t->type > XARCH_PT_NONE)
		return xarch_err(err, EINVAL, "unknown partition table type %d", (int)t->type);
	if (t->n > XARCH_PT_MAX_PARTS)
		return xarch_err(err, EINVAL, "%zu partitions, at most %u are supported", t->n,
				 XARCH_PT_MAX_PARTS);
	if (t->disk_size == 0 || t->disk_size % SECTOR)
		return xarch_err(err, EINVAL, "disk size %llu is not a non-zero multiple of 512",
				 (unsigned long long)t->disk_size);

	/* table areas: [start, start+len) */
	struct {
		const char *what;
		uint64_t start, len;
	} areas[4];
	size_t n_areas = 0;

	if (t->type != XARCH_PT_NONE)
		areas[n_areas++] = (typeof(areas[0])){ "the MBR", 0, SECTOR };
	if (has_gpt(t)) {
		if (loc % SECTOR || loc < 2 * SECTOR)
			return xarch_err(err, EINVAL,
					 "gpt location %llu must be a multiple of 512 and at least 1024",
					 (unsigned long long)loc);
		uint64_t need = loc + GPT_ARRAY_BYTES;
		if (!t->gpt_no_backup)
			need += GPT_BACKUP_BYTES;
		if (need < loc || need > t->disk_size)
			return xarch_err(err, ENOSPC, "disk of %llu bytes is too small for a gpt",
					 (unsigned long long)t->disk_size);
		areas[n_areas++] = (typeof(areas[0])){ "the gpt header", SECTOR, SECTOR };
		areas[n_areas++] = (typeof(areas[0])){ "the gpt entry array", loc, GPT_ARRAY_BYTES };
		if (!t->gpt_no_backup)
			areas[n_areas++] = (typeof(areas[0])){ "the backup gpt",
							       t->disk_size - GPT_BACKUP_BYTES,
							       GPT_BACKUP_BYTES };
	}

	for (size_t i = 0; i < t->n; i++) {
		const struct xarch_part *p = &t->parts[i];
		const char *l = part_label(p, i, lb, sizeof(lb));
		uint64_t end;

		if (__builtin_add_overflow(p->offset, p->size, &end) || end > t->disk_size)
			return xarch_err(err, ENOSPC,
					 "partition '%s' (offset %llu, size %llu) does not fit in the disk of %llu bytes",
					 l, (unsigned long long)p->offset,
					 (unsigned long long)p->size,
					 (unsigned long long)t->disk_size);
		if (!p->in_table || t->type == XARCH_PT_NONE)
			continue;
		in_table++;
		if (p->size == 0)
			return xarch_err(err, EINVAL, "partition '%s' has size 0", l);
		if (p->offset % SECTOR || p->size % SECTOR)
			return xarch_err(err, EINVAL,
					 "partition '%s': offset %llu and size %llu must be multiples of 512",
					 l, (unsigned long long)p->offset,
					 (unsigned long long)p->size);
		for (size_t a = 0; a < n_areas; a++)
			if (overlaps(p->offset, p->size, areas[a].start, areas[a].len))
				return xarch_err(err, EINVAL, "partition '%s' overlaps %s", l,
						 areas[a].what);
		for (size_t j = 0; j < i; j++) {
			const struct xarch_part *q = &t->parts[j];
			if (q->in_table && overlaps(p->offset, p->size, q->offset, q->size))
				return xarch_err(err, EINVAL, "partition '%s' overlaps partition '%s'",
						 l, part_label(q, j, lb2, sizeof(lb2)));
		}
		if (t->type == XARCH_PT_MBR || (t->type == XARCH_PT_HYBRID && p->mbr_type)) {
			in_mbr++;
			if (t->type == XARCH_PT_MBR && !p->mbr_type)
				return xarch_err(err, EINVAL, "partition '%s' has no mbr partition type",
						 l);
			if (p->offset / SECTOR > UINT32_MAX || p->size / SECTOR > UINT32_MAX)
				return xarch_err(err, EFBIG,
						 "partition '%s' lies beyond the 2 TiB an mbr can address",
						 l);
		}
		if (has_gpt(t)) {
			for (const char *c = p->name; *c; c++)
				if ((unsigned char)*c >= 0x80 || (unsigned char)*c < 0x20)
					return xarch_err(err, EINVAL,
							 "partition '%s': gpt names must be printable ascii",
							 l);
			if (strnlen(p->name, sizeof(p->name)) > 36)
				return xarch_err(err, EINVAL,
						 "partition '%s': gpt names are at most 36 characters", l);
		}
	}
	if (t->type == XARCH_PT_MBR && in_mbr > 4)
		return xarch_err(err, EINVAL,
				 "%zu partitions in an mbr: more than 4 partitions need extended-partition",
				 in_mbr);
	if (t->type == XARCH_PT_HYBRID && in_mbr > 3)
		return xarch_err(err, EINVAL,
				 "%zu partitions with an mbr type: a hybrid mbr holds at most 3", in_mbr);
	return (int)in_table;
}

static int pwrite_all(int fd, const void *buf, size_t len, uint64_t off, struct xarch_error *err)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t r = pwrite(fd, p, len, (off_t)off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return xarch_err_sys(err, errno, "cannot write the partition table at %llu",
					     (unsigned long long)off);
		}
		p += r;
		len -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

/* genimage's CHS: 255 heads, 63 sectors; the cylinder is not clamped to 1023,
 * its low 10 bits are stored, which is what genimage 16 writes. */
static void lba_to_chs(uint32_t lba, uint8_t chs[3])
{
	uint32_t c = lba / (63 * 255);
	uint32_t s = lba ? lba % 63 + 1 : 0;

	chs[0] = (uint8_t)((lba / 63) % 255);
	chs[1] = (uint8_t)(((c & 0x300) >> 2) | (s & 0xff));
	chs[2] = (uint8_t)(c & 0xff);
}

static void mbr_entry(uint8_t *e, bool boot, uint8_t type, uint32_t start, uint32_t count)
{
	e[0] = boot ? 0x80 : 0x00;
	lba_to_chs(start, e + 1);
	e[4] = type;
	lba_to_chs(start + count - 1, e + 5);
	put_le32(e + 8, start);
	put_le32(e + 12, count);
}

/* Bytes 440..511 only: boot code before them is left as it is. */
static int write_mbr(int fd, const struct xarch_ptable *t, struct xarch_error *err)
{
	uint8_t m[72] = { 0 };
	size_t k = 0;

	put_le32(m, t->disk_signature);
	if (t->type == XARCH_PT_GPT) {
		uint64_t secs = t->disk_size / SECTOR - 1;
		mbr_entry(m + 6, false, 0xee, 1, secs > UINT32_MAX ? UINT32_MAX : (uint32_t)secs);
	} else {
		for (size_t i = 0; i < t->n && k < 4; i++) {
			const struct xarch_part *p = &t->parts[i];
			if (!p->in_table || !p->mbr_type)
				continue;
			mbr_entry(m + 6 + 16 * k++, p->bootable, p->mbr_type,
				  (uint32_t)(p->offset / SECTOR), (uint32_t)(p->size / SECTOR));
		}
		/* hybrid: 0xEE covers LBA 1 up to the end of the entry array */
		if (t->type == XARCH_PT_HYBRID)
			mbr_entry(m + 6 + 16 * k, false, 0xee, 1,
				  (uint32_t)(gpt_location(t) / SECTOR + GPT_ARRAY_SECTORS - 1));
	}
	m[70] = 0x55;
	m[71] = 0xaa;
	return pwrite_all(fd, m, sizeof(m), 440, err);
}

static void gpt_header(uint8_t *h, const struct xarch_ptable *t, uint64_t my_lba,
		       uint64_t alt_lba, uint64_t first, uint64_t last, uint64_t entries_lba,
		       uint32_t array_crc)
{
	memset(h, 0, SECTOR);
	memcpy(h, "EFI PART", 8);
	put_le32(h + 8, 0x00010000);
	put_le32(h + 12, GPT_HEADER_SIZE);
	put_le64(h + 24, my_lba);
	put_le64(h + 32, alt_lba);
	put_le64(h + 40, first);
	put_le64(h + 48, last);
	memcpy(h + 56, t->disk_guid, 16);
	put_le64(h + 72, entries_lba);
	put_le32(h + 80, GPT_ENTRIES);
	put_le32(h + 84, GPT_ENTRY_SIZE);
	put_le32(h + 88, array_crc);
	put_le32(h + 16, (uint32_t)crc32(0, h, GPT_HEADER_SIZE));
}

static int write_gpt(int fd, const struct xarch_ptable *t, struct xarch_error *err)
{
	_cleanup_free_ uint8_t *arr = calloc(1, GPT_ARRAY_BYTES);
	uint8_t hdr[SECTOR];
	uint64_t last_lba = t->disk_size / SECTOR - 1;
	uint64_t loc_lba = gpt_location(t) / SECTOR;
	uint64_t first = loc_lba + GPT_ARRAY_SECTORS;
	size_t k = 0;
	int r;

	if (!arr)
		return xarch_err(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < t->n; i++) {
		const struct xarch_part *p = &t->parts[i];
		if (!p->in_table)
			continue;
		uint8_t *e = arr + GPT_ENTRY_SIZE * k++;
		memcpy(e, p->type_guid, 16);
		memcpy(e + 16, p->part_guid, 16);
		put_le64(e + 32, p->offset / SECTOR);
		put_le64(e + 40, (p->offset + p->size) / SECTOR - 1);
		put_le64(e + 48, p->bootable ? UINT64_C(1) << 2 : 0);
		for (size_t c = 0; c < 36 && p->name[c]; c++)
			put_le16(e + 56 + 2 * c, (uint8_t)p->name[c]);
		/* genimage: the first usable LBA is where the first partition starts */
		if (k == 1 || p->offset / SECTOR < first)
			first = p->offset / SECTOR;
	}
	uint32_t acrc = (uint32_t)crc32(0, arr, GPT_ARRAY_BYTES);
	uint64_t last_usable = last_lba - GPT_ARRAY_SECTORS - 1;

	/* without a backup, genimage points alternate_lba at the primary itself */
	gpt_header(hdr, t, 1, t->gpt_no_backup ? 1 : last_lba, first, last_usable, loc_lba, acrc);
	r = pwrite_all(fd, arr, GPT_ARRAY_BYTES, gpt_location(t), err);
	if (r < 0)
		return r;
	r = pwrite_all(fd, hdr, SECTOR, SECTOR, err);
	if (r < 0 || t->gpt_no_backup)
		return r;

	gpt_header(hdr, t, last_lba, 1, first, last_usable, last_lba - GPT_ARRAY_SECTORS, acrc);
	r = pwrite_all(fd, arr, GPT_ARRAY_BYTES, (last_lba - GPT_ARRAY_SECTORS) * SECTOR, err);
	if (r < 0)
		return r;
	return pwrite_all(fd, hdr, SECTOR, last_lba * SECTOR, err);
}

int xarch_ptable_write(int fd, const struct xarch_ptable *t, struct xarch_error *err)
{
	int r = xarch_ptable_check(t, err);
	if (r < 0)
		return r;
	if (t->type == XARCH_PT_NONE)
		return 0;
	if (has_gpt(t)) {
		r = write_gpt(fd, t, err);
		if (r < 0)
			return r;
	}
	return write_mbr(fd, t, err);
}
