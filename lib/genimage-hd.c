// SPDX-License-Identifier: MIT
/* hdimage: the partition layout of a disk (xarch_hd_layout, from the config
 * alone), then the disk itself: partition contents made in place or copied
 * in, and the tables written last, over the holes of any boot loader. */
#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "gi.h"
#include "internal.h"
#include "xarch/hdimage.h"

#define GPT_AREA   (128 * 128)		  /* the entry array */
#define GPT_BACKUP (GPT_AREA + GI_SECTOR) /* array + header at the end */

static uint64_t roundup(uint64_t v, uint64_t a)
{
	return a > 1 ? (v + a - 1) / a * a : v;
}

static void random_guid(uint8_t g[16])
{
	if (getrandom(g, 16, 0) != 16)
		memset(g, 0x5a, 16);
	g[7] = (uint8_t)((g[7] & 0x0f) | 0x40);
	g[8] = (uint8_t)((g[8] & 0x3f) | 0x80);
}

/* "FILE:LINE: " + message */
static int at(struct xarch_error *err, const char *file, int line, int code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int at(struct xarch_error *err, const char *file, int line, int code, const char *fmt, ...)
{
	char m[sizeof(err->msg)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(m, sizeof(m), fmt, ap);
	va_end(ap);
	return xarch_err(err, code, "%s:%d: %s", file, line, m);
}

#define IMG_ERR(code, fmt, ...)                                                                    \
	at(err, img->file, img->line, code, "image '%s': " fmt, img->name, ##__VA_ARGS__)
#define PART_ERR(p, code, fmt, ...)                                                                \
	at(err, img->file, (p)->line, code, "partition '%s': " fmt, (p)->name, ##__VA_ARGS__)

static const char *sz(uint64_t v, char *buf, size_t len)
{
	xarch_size_exact(v, buf, len);
	return buf;
}

int xarch_hd_hole_parse(const char *s, struct xarch_hole *ret)
{
	char a[64], b[64];
	const char *semi, *close;
	uint64_t start, end;

	while (isspace((unsigned char)*s))
		s++;
	if (*s++ != '(' || !(semi = strchr(s, ';')) || !(close = strchr(semi, ')')))
		return -EINVAL;
	for (const char *c = close + 1; *c; c++)
		if (!isspace((unsigned char)*c))
			return -EINVAL;
	/* trim the two numbers */
	while (isspace((unsigned char)*s))
		s++;
	const char *ae = semi, *bs = semi + 1, *be = close;
	while (ae > s && isspace((unsigned char)ae[-1]))
		ae--;
	while (isspace((unsigned char)*bs))
		bs++;
	while (be > bs && isspace((unsigned char)be[-1]))
		be--;
	if ((size_t)(ae - s) >= sizeof(a) || (size_t)(be - bs) >= sizeof(b))
		return -EINVAL;
	memcpy(a, s, (size_t)(ae - s));
	a[ae - s] = '\0';
	memcpy(b, bs, (size_t)(be - bs));
	b[be - bs] = '\0';
	if (xarch_gcfg_size_parse(a, &start) < 0 || xarch_gcfg_size_parse(b, &end) < 0 ||
	    end <= start)
		return -EINVAL;
	ret->start = start;
	ret->end = end;
	return 0;
}

/* The holes of partition p's image: the `file` image's `holes`, or (for an
 * image that is not in the config) the partition's own. */
static int add_holes(const struct xarch_gcfg *cfg, const struct xarch_gimage *img,
		     const struct xarch_gpart *p, struct xarch_hd_layout *L, struct xarch_part *q,
		     struct xarch_error *err)
{
	const struct xarch_gimage *c = p->image[0] ? xarch_gcfg_image(cfg, p->image) : NULL;
	const char *const *list = (const char *const *)p->holes;
	size_t n = p->n_holes;
	const char *tmp[XARCH_HD_MAX_HOLES];

	if (c) {
		if (n)
			return PART_ERR(p, EINVAL,
					"holes belong to the image: set them in image '%s' (file { "
					"holes = ... })",
					c->name);
		n = 0;
		for (size_t i = 0; i < c->n_opts && n < ARRAY_SIZE(tmp); i++)
			if (!strcmp(c->opts[i].key, "holes"))
				tmp[n++] = c->opts[i].value;
		list = tmp;
	}
	q->holes = L->holes + L->n_holes;
	for (size_t i = 0; i < n; i++) {
		if (L->n_holes >= XARCH_HD_MAX_HOLES)
			return PART_ERR(p, E2BIG, "more than %d holes", XARCH_HD_MAX_HOLES);
		if (xarch_hd_hole_parse(list[i], &L->holes[L->n_holes]) < 0)
			return c ? at(err, c->file, c->line, EINVAL,
				      "image '%s': invalid hole '%s', use \"(<start>;<end>)\"",
				      c->name, list[i])
				 : PART_ERR(p, EINVAL, "invalid hole '%s', use \"(<start>;<end>)\"",
					    list[i]);
		L->n_holes++;
		q->n_holes++;
	}
	return 0;
}

static bool opt_true(const struct xarch_gimage *img, const char *key)
{
	const char *v = xarch_gimage_opt(img, key);
	return v && !strcmp(v, "true");
}

/* The disk-wide options. */
static int hd_options(const struct xarch_gimage *img, struct xarch_ptable *t, uint64_t *align,
		      unsigned *ext_index, bool *fill, struct xarch_error *err)
{
	const char *v;

	if ((v = xarch_gimage_opt(img, "partition-table-type"))) {
		t->type = !strcmp(v, "gpt")	 ? XARCH_PT_GPT
			  : !strcmp(v, "hybrid") ? XARCH_PT_HYBRID
			  : !strcmp(v, "none")	 ? XARCH_PT_NONE
						 : XARCH_PT_MBR;
	} else if (opt_true(img, "gpt")) {
		t->type = XARCH_PT_GPT; /* deprecated spelling */
	} else if ((v = xarch_gimage_opt(img, "partition-table")) && !strcmp(v, "false")) {
		t->type = XARCH_PT_NONE; /* deprecated spelling */
	} else {
		t->type = XARCH_PT_MBR;
	}
	bool gpt = t->type == XARCH_PT_GPT || t->type == XARCH_PT_HYBRID;
	bool mbr = t->type == XARCH_PT_MBR || t->type == XARCH_PT_HYBRID;

	*align = t->type == XARCH_PT_NONE ? 1 : GI_SECTOR;
	if ((v = xarch_gimage_opt(img, "align")) &&
	    (xarch_gcfg_size_parse(v, align) < 0 || *align == 0))
		return IMG_ERR(EINVAL, "invalid align '%s'", v);
	if (t->type != XARCH_PT_NONE && *align % GI_SECTOR)
		return IMG_ERR(EINVAL, "align %llu is not a multiple of 512 (a sector)",
			       (unsigned long long)*align);

	*ext_index = 0;
	if ((v = xarch_gimage_opt(img, "extended-partition"))) {
		char *end;
		unsigned long x = strtoul(v, &end, 0);
		if (*end || end == v || x > 4)
			return IMG_ERR(EINVAL, "extended-partition '%s' is not 0 (automatic) to 4",
				       v);
		if (x && t->type != XARCH_PT_MBR)
			return IMG_ERR(EINVAL,
				       "extended-partition needs partition-table-type = mbr");
		*ext_index = (unsigned)x;
	}

	t->gpt_location = XARCH_GPT_LOCATION_DEFAULT;
	if ((v = xarch_gimage_opt(img, "gpt-location"))) {
		if (!gpt)
			return IMG_ERR(EINVAL, "gpt-location needs a gpt or hybrid table");
		if (xarch_gcfg_size_parse(v, &t->gpt_location) < 0 || t->gpt_location % GI_SECTOR ||
		    t->gpt_location < 2 * GI_SECTOR)
			return IMG_ERR(
			    EINVAL, "gpt-location '%s' is not a multiple of 512 from 1024 on", v);
	}
	t->gpt_no_backup = opt_true(img, "gpt-no-backup");
	*fill = opt_true(img, "fill");

	if ((v = xarch_gimage_opt(img, "disk-uuid"))) {
		if (!gpt)
			return IMG_ERR(EINVAL, "disk-uuid needs a gpt or hybrid table");
		if (strlen(v) != 36 || xarch_guid_parse(v, t->disk_guid) < 0)
			return IMG_ERR(EINVAL, "invalid disk-uuid '%s'", v);
	} else {
		random_guid(t->disk_guid);
	}
	if ((v = xarch_gimage_opt(img, "disk-signature"))) {
		if (!mbr)
			return IMG_ERR(EINVAL, "disk-signature needs an mbr or hybrid table");
		if (!strcmp(v, "random")) {
			if (getrandom(&t->disk_signature, 4, 0) != 4)
				return IMG_ERR(EIO, "no random disk-signature");
		} else {
			char *end;
			errno = 0;
			unsigned long long x = strtoull(v, &end, 0);
			if (errno || *end || end == v || x > UINT32_MAX)
				return IMG_ERR(
				    EINVAL,
				    "disk-signature '%s' is not a 32-bit number or \"random\"", v);
			t->disk_signature = (uint32_t)x;
		}
	}
	if (img->size_percent)
		return IMG_ERR(EINVAL, "size in percent is for filesystems; give the disk's size");
	return 0;
}

int xarch_hd_layout(const struct xarch_gcfg *cfg, const struct xarch_gimage *img,
		    xarch_hd_size_fn size_of, void *data, struct xarch_hd_layout *L,
		    struct xarch_error *err)
{
	struct xarch_ptable *t = &L->t;
	uint64_t align, now, data_end, ebr_gap;
	unsigned ext_index = 0, entries = 0;
	const struct xarch_gpart *autoresized = NULL, *forced = NULL;
	char a[32], b[32];
	bool fill = false, any_mbr_type = false, any_logical = false;
	int r;

	memset(L, 0, sizeof(*L));
	if ((r = hd_options(img, t, &align, &ext_index, &fill, err)) < 0)
		return r;
	bool gpt = t->type == XARCH_PT_GPT || t->type == XARCH_PT_HYBRID;

	if (img->n_parts > XARCH_PT_MAX_PARTS)
		return IMG_ERR(E2BIG, "%zu partitions, at most %d are supported", img->n_parts,
			       XARCH_PT_MAX_PARTS);
	for (size_t i = 0; i < img->n_parts; i++)
		entries += t->type != XARCH_PT_NONE && img->parts[i].in_partition_table;
	if (t->type == XARCH_PT_MBR && !ext_index && entries > 4)
		ext_index = 4;
	ebr_gap = align;

	/* what the tables occupy at the start */
	now = t->type == XARCH_PT_NONE	? 0
	      : t->type == XARCH_PT_MBR ? GI_SECTOR
					: t->gpt_location + GPT_AREA;
	data_end = now;
	entries = 0;
	for (size_t i = 0; i < img->n_parts; i++) {
		const struct xarch_gpart *p = &img->parts[i];
		struct xarch_part *q = &t->parts[t->n++];
		struct xarch_hd_source *s = &L->src[i];
		bool table = t->type != XARCH_PT_NONE && p->in_partition_table;
		uint64_t pal = p->align ? p->align : table || t->type == XARCH_PT_NONE ? align : 1;

		xa_strcpy(q->name, sizeof(q->name), p->name);
		q->in_table = table;
		if (p->image[0]) {
			s->image = p->image;
			if ((r = size_of(data, p->image, &s->size, err)) < 0)
				return r;
		}
		if ((r = add_holes(cfg, img, p, L, q, err)) < 0)
			return r;
		if (table && pal % align)
			return PART_ERR(p, EINVAL,
					"align %s is not a multiple of the disk's align %s",
					sz(pal, a, sizeof(a)), sz(align, b, sizeof(b)));

		/* MBR: primary or logical */
		if (table)
			entries++;
		bool after_ext = ext_index && table && entries >= ext_index;
		/* forced-primary: a primary entry after the extended one, so only
		 * once the extended partition has a logical partition */
		if (p->forced_primary && !(after_ext && any_logical))
			return PART_ERR(p, EINVAL,
					"forced-primary is only for partitions after a logical one "
					"(those from number %u on are logical)",
					ext_index ? ext_index : 5);
		q->logical = after_ext && !p->forced_primary;
		if (p->forced_primary)
			forced = p;
		else if (q->logical && forced)
			return PART_ERR(p, EINVAL,
					"a logical partition cannot follow the forced-primary "
					"partition '%s' (the extended partition would cover it); "
					"list forced-primary partitions last",
					forced->name);
		if (q->logical) {
			any_logical = true;
			now = roundup(now, ebr_gap) + ebr_gap;
		}

		/* where */
		if (p->offset) {
			q->offset = p->offset;
			if (table && q->offset % pal)
				return PART_ERR(p, EINVAL,
						"offset %s is not a multiple of its align %s",
						sz(q->offset, a, sizeof(a)), sz(pal, b, sizeof(b)));
			if (q->logical && q->offset < now)
				return PART_ERR(
				    p, EINVAL,
				    "offset %s leaves no room for its EBR (%s before it) "
				    "after the previous partition",
				    sz(q->offset, a, sizeof(a)), sz(ebr_gap, b, sizeof(b)));
		} else if (table || t->type == XARCH_PT_NONE) {
			q->offset = roundup(now, pal);
		}
		if (q->logical)
			q->ebr_offset = q->offset - ebr_gap;

		/* how big */
		if (p->autoresize) {
			if (autoresized)
				return PART_ERR(p, EINVAL,
						"only one partition can autoresize ('%s' does)",
						autoresized->name);
			if (!img->size)
				return PART_ERR(p, EINVAL, "autoresize needs the image's size");
			autoresized = p;
			uint64_t end = img->size - (gpt ? GPT_BACKUP : 0);
			if (q->offset >= end || img->size < (gpt ? GPT_BACKUP : 0))
				return PART_ERR(p, ENOSPC,
						"no room left to autoresize into: it starts at %s, "
						"the disk's usable space ends at %s",
						sz(q->offset, a, sizeof(a)), sz(end, b, sizeof(b)));
			q->size = (end - q->offset) / pal * pal;
			if (q->size < p->size)
				return PART_ERR(
				    p, ENOSPC, "autoresized to %s, less than its size %s",
				    sz(q->size, a, sizeof(a)), sz(p->size, b, sizeof(b)));
		} else if (p->size) {
			q->size = p->size;
		} else {
			q->size = table ? roundup(s->size, pal) : s->size;
		}
		if (s->image && s->size > q->size)
			return PART_ERR(p, ENOSPC,
					"image '%s' (%s) does not fit the partition (%s)", s->image,
					sz(s->size, a, sizeof(a)), sz(q->size, b, sizeof(b)));
		if (table && q->size == 0)
			return PART_ERR(p, EINVAL, "size 0");
		if (q->offset + q->size > now)
			now = q->offset + q->size;
		if (s->image && q->offset + s->size > data_end)
			data_end = q->offset + s->size;
		if (q->logical && q->ebr_offset + GI_SECTOR > data_end)
			data_end = q->ebr_offset + GI_SECTOR;

		/* table entries */
		if (p->partition_type >= 0 &&
		    !(t->type == XARCH_PT_MBR || t->type == XARCH_PT_HYBRID))
			return PART_ERR(p, EINVAL, "partition-type is for mbr and hybrid tables");
		if (p->partition_type_uuid[0] && !gpt)
			return PART_ERR(p, EINVAL,
					"partition-type-uuid is for gpt and hybrid tables");
		/* genimage writes type 0 for an MBR partition without partition-type;
		 * in a hybrid table it is then only in the GPT */
		q->mbr_type = p->partition_type >= 0 ? (uint8_t)p->partition_type : 0;
		any_mbr_type |= table && p->partition_type >= 0;
		q->bootable = p->bootable;
		q->gpt_attrs = (p->read_only ? XARCH_GPT_ATTR_READ_ONLY : 0) |
			       (p->hidden ? XARCH_GPT_ATTR_HIDDEN : 0) |
			       (p->no_automount ? XARCH_GPT_ATTR_NO_AUTOMOUNT : 0);
		const char *tu = p->partition_type_uuid[0] ? p->partition_type_uuid : "L";
		if (xarch_guid_parse(tu, q->type_guid) < 0)
			return PART_ERR(
			    p, EINVAL,
			    "invalid partition-type-uuid '%s' (a UUID or a shortcut such as "
			    "L, U, S, esp, root-arm64)",
			    tu);
		if (p->partition_uuid[0]) {
			if (strlen(p->partition_uuid) != 36 ||
			    xarch_guid_parse(p->partition_uuid, q->part_guid) < 0)
				return PART_ERR(p, EINVAL, "invalid partition-uuid '%s'",
						p->partition_uuid);
		} else {
			random_guid(q->part_guid);
		}
	}
	if (t->type == XARCH_PT_HYBRID && !any_mbr_type)
		return IMG_ERR(EINVAL, "a hybrid table needs a partition with a partition-type "
				       "(those go into the MBR)");

	/* the disk */
	if (img->size) {
		t->disk_size = img->size; /* xarch_ptable_check names what does not fit */
		if (t->type != XARCH_PT_NONE && img->size % GI_SECTOR)
			return IMG_ERR(EINVAL, "size %llu is not a multiple of 512",
				       (unsigned long long)img->size);
	} else if (gpt) {
		t->disk_size = roundup(now + GPT_BACKUP, 4096);
	} else {
		t->disk_size = t->type == XARCH_PT_NONE ? now : roundup(now, GI_SECTOR);
	}
	if (t->disk_size == 0)
		return IMG_ERR(EINVAL, "the disk is empty: give it a size or partitions");
	/* genimage only extends the file to the disk's size for the backup GPT
	 * or `fill`; otherwise it ends with the last data written */
	L->file_size = (gpt && !t->gpt_no_backup) || fill ? t->disk_size : data_end;

	size_t bad;
	if ((r = xarch_ptable_check_at(t, &bad, err)) < 0) {
		char m[sizeof(err->msg)];
		int line = bad < img->n_parts ? img->parts[bad].line : img->line;
		xa_strcpy(m, sizeof(m), err ? err->msg : "");
		return bad < img->n_parts ? at(err, img->file, line, -r, "%s", m)
					  : IMG_ERR(-r, "%s", m);
	}
	return 0;
}

/* Sizes for the layout: a filesystem made in place has its configured
 * size; everything else is a file by now (input or generated). */
static int size_cb(void *data, const char *name, uint64_t *ret, struct xarch_error *err)
{
	struct gi *g = data;
	const struct xarch_gimage *c = xarch_gcfg_image(g->cfg, name);
	char src[PATH_MAX];
	struct stat st;

	if (c && gi_is_inline(g, c)) {
		if (!c->size)
			return at(err, c->file, c->line, EINVAL,
				  "image '%s': a filesystem used as a partition needs a size",
				  c->name);
		*ret = c->size;
		return 0;
	}
	if (!gi_src_path(g, name, src, sizeof(src)))
		return xarch_err(err, ENAMETOOLONG, "'%s': path too long", name);
	if (stat(src, &st) < 0)
		return xarch_err_sys(err, errno, "cannot use image '%s' ('%s')", name, src);
	*ret = (uint64_t)st.st_size;
	return 0;
}

struct part_job {
	const struct xarch_gimage *img;
	const struct xarch_hd_layout *L;
	const char *tmp;
	int fd;
};

/* Partition i's content: made in place, or copied from its image file. */
static int part_fill(struct gi *g, size_t i, void *data)
{
	const struct part_job *j = data;
	const struct xarch_hd_source *s = &j->L->src[i];
	const struct xarch_gimage *c = s->image ? xarch_gcfg_image(g->cfg, s->image) : NULL;
	const struct xarch_part *q = &j->L->t.parts[i];
	char src[PATH_MAX];
	if (!s->image)
		return 0;
	if (c && gi_is_inline(g, c))
		return gi_build_at(g, c, j->tmp, j->fd, q->offset);
	if (!gi_src_path(g, s->image, src, sizeof(src)))
		return xarch_err(g->err, ENAMETOOLONG, "'%s': path too long", s->image);
	return gi_copy_at(g, j->fd, src, q->offset, q->size);
}

/* With SOURCE_DATE_EPOCH, the GUIDs and signature the config leaves to
 * chance are derived from it instead. */
static void pin_ids(struct gi *g, const struct xarch_gimage *img, struct xarch_ptable *t)
{
	const char *v = xarch_gimage_opt(img, "disk-signature");
	if (!g->epoch)
		return;
	if (!xarch_gimage_opt(img, "disk-uuid"))
		gi_guid(g, img->name, NULL, t->disk_guid);
	if (v && !strcmp(v, "random")) {
		uint8_t u[16];
		gi_guid(g, img->name, "disk-signature", u);
		memcpy(&t->disk_signature, u, sizeof(t->disk_signature));
	}
	for (size_t i = 0; i < img->n_parts && i < t->n; i++)
		if (!img->parts[i].partition_uuid[0])
			gi_guid(g, img->name, img->parts[i].name, t->parts[i].part_guid);
}

int gi_gen_hd(struct gi *g, const struct xarch_gimage *img)
{
	struct xarch_hd_layout *L = calloc(1, sizeof(*L));
	char final[PATH_MAX], tmp[PATH_MAX];
	struct xarch_error *err = g->err;
	int fd = -1, r = 0;
	bool tmp_made = false;

	if (!L)
		return -ENOMEM;
	if ((r = xarch_hd_layout(g->cfg, img, size_cb, g, L, err)) < 0)
		goto out;
	pin_ids(g, img, &L->t);
	if (xa_snprintf(final, sizeof(final), "%s/%s", gi_image_dir(g, img), img->name) < 0) {
		r = IMG_ERR(ENAMETOOLONG, "path too long");
		goto out;
	}
	if ((fd = gi_open_tmp(g, final, tmp)) < 0) {
		r = fd;
		goto out;
	}
	tmp_made = true;
	if (ftruncate(fd, (off_t)L->file_size) < 0) {
		r = xarch_err_sys(err, errno, "cannot size '%s'", tmp);
		goto out;
	}
	/* contents first (independent partitions in parallel): the tables go
	 * over any boot loader's holes */
	struct part_job pj = {.img = img, .L = L, .tmp = tmp, .fd = fd};
	if ((r = gi_parallel(g, img->n_parts, part_fill, &pj)) < 0)
		goto out;
	if (L->t.type != XARCH_PT_NONE && (r = xarch_ptable_write(fd, &L->t, err)) < 0) {
		char m[sizeof(err->msg)];
		if (err) {
			xa_strcpy(m, sizeof(m), err->msg);
			IMG_ERR(-r, "%s", m);
		}
		goto out;
	}
	r = gi_finish(g, fd, tmp, final);
out:
	if (fd >= 0)
		close(fd);
	if (r < 0 && tmp_made)
		unlink(tmp);
	free(L);
	return r;
}
