// SPDX-License-Identifier: MIT
/* hdimage: the partition layout of a disk, its table, and its partitions'
 * contents (made in place or copied in). */
#include <limits.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "gi.h"
#include "internal.h"
#include "xarch/ptable.h"

static uint64_t roundup(uint64_t v, uint64_t a)
{
	return a ? (v + a - 1) / a * a : v;
}

static void random_guid(uint8_t g[16])
{
	if (getrandom(g, 16, 0) != 16)
		memset(g, 0x5a, 16);
	g[7] = (uint8_t)((g[7] & 0x0f) | 0x40);
	g[8] = (uint8_t)((g[8] & 0x3f) | 0x80);
}

#define HD_ERR(code, fmt, ...)                                                                     \
	xarch_err(g->err, code, "%s:%d: image '%s': " fmt, img->file, img->line, img->name,        \
		  ##__VA_ARGS__)

int gi_gen_hd(struct gi *g, const struct xarch_gimage *img)
{
	struct xarch_ptable *t = calloc(1, sizeof(*t));
	const char *v;
	char final[PATH_MAX], tmp[PATH_MAX], src[PATH_MAX];
	uint64_t align = 512, now, end = 0;
	int fd = -1, r = 0;
	bool tmp_made = false;

	if (!t)
		return -ENOMEM;
	v = xarch_gimage_opt(img, "partition-table-type");
	if (!v || !strcmp(v, "mbr") || !strcmp(v, "dos"))
		t->type = XARCH_PT_MBR;
	else if (!strcmp(v, "gpt"))
		t->type = XARCH_PT_GPT;
	else if (!strcmp(v, "hybrid"))
		t->type = XARCH_PT_HYBRID;
	else
		t->type = XARCH_PT_NONE;
	if (t->type == XARCH_PT_NONE)
		align = 1;
	if ((v = xarch_gimage_opt(img, "align")) && xarch_gcfg_size_parse(v, &align) < 0) {
		r = HD_ERR(EINVAL, "invalid align");
		goto out;
	}
	t->gpt_location = XARCH_GPT_LOCATION_DEFAULT;
	if ((v = xarch_gimage_opt(img, "gpt-location")) &&
	    xarch_gcfg_size_parse(v, &t->gpt_location) < 0) {
		r = HD_ERR(EINVAL, "invalid gpt-location");
		goto out;
	}
	if ((v = xarch_gimage_opt(img, "disk-uuid"))) {
		if (xarch_guid_parse(v, t->disk_guid) < 0) {
			r = HD_ERR(EINVAL, "invalid disk-uuid '%s'", v);
			goto out;
		}
	} else {
		random_guid(t->disk_guid);
	}
	if ((v = xarch_gimage_opt(img, "disk-signature"))) {
		if (!strcmp(v, "random"))
			getrandom(&t->disk_signature, 4, 0);
		else
			t->disk_signature = (uint32_t)strtoul(v, NULL, 0);
	}
	now = t->type == XARCH_PT_NONE	? 0
	      : t->type == XARCH_PT_MBR ? GI_SECTOR
					: t->gpt_location + 128 * 128;
	if (img->n_parts > XARCH_PT_MAX_PARTS) {
		r = HD_ERR(E2BIG, "too many partitions");
		goto out;
	}
	for (size_t i = 0; i < img->n_parts; i++) {
		const struct xarch_gpart *p = &img->parts[i];
		const struct xarch_gimage *c =
		    p->image[0] ? xarch_gcfg_image(g->cfg, p->image) : NULL;
		struct xarch_part *q = &t->parts[t->n++];
		bool table = p->in_partition_table && t->type != XARCH_PT_NONE;
		uint64_t pal = p->align ? p->align : table ? align : 1, isz = 0;
		struct stat st;

		if (c && gi_is_inline(g, c)) {
			isz = c->size;
		} else if (p->image[0]) {
			if (!gi_src_path(g, p->image, src, sizeof(src)) || stat(src, &st) < 0) {
				r = xarch_err_sys(g->err, errno,
						  "%s:%d: partition '%s': cannot use '%s'",
						  img->file, p->line, p->name, p->image);
				goto out;
			}
			isz = (uint64_t)st.st_size;
		}
		q->size = p->size ? p->size : table ? roundup(isz, pal) : isz;
		if (isz > q->size) {
			r = xarch_err(g->err, ENOSPC,
				      "%s:%d: partition '%s': image is larger than size", img->file,
				      p->line, p->name);
			goto out;
		}
		q->offset = p->offset ? p->offset : roundup(now, pal);
		now = q->offset + q->size;
		if (now > end)
			end = now;
		q->in_table = p->in_partition_table;
		q->bootable = p->bootable;
		q->mbr_type = p->partition_type >= 0	   ? (uint8_t)p->partition_type
			      : t->type == XARCH_PT_HYBRID ? 0
							   : 0x83;
		if (xarch_guid_parse(p->partition_type_uuid[0] ? p->partition_type_uuid : "L",
				     q->type_guid) < 0) {
			r = xarch_err(g->err, EINVAL,
				      "%s:%d: partition '%s': invalid partition-type-uuid",
				      img->file, p->line, p->name);
			goto out;
		}
		if (p->partition_uuid[0]) {
			if (xarch_guid_parse(p->partition_uuid, q->part_guid) < 0) {
				r = xarch_err(g->err, EINVAL,
					      "%s:%d: partition '%s': invalid partition-uuid",
					      img->file, p->line, p->name);
				goto out;
			}
		} else {
			random_guid(q->part_guid);
		}
		xa_strcpy(q->name, sizeof(q->name), p->name);
	}
	if (img->size)
		t->disk_size = img->size;
	else if (t->type & XARCH_PT_GPT || t->type == XARCH_PT_HYBRID)
		t->disk_size = roundup(end + (128 * 128 + GI_SECTOR), 4096);
	else
		t->disk_size = end;

	if (xa_snprintf(final, sizeof(final), "%s/%s", g->output, img->name) < 0) {
		r = HD_ERR(ENAMETOOLONG, "path too long");
		goto out;
	}
	if ((fd = gi_open_tmp(g, final, tmp)) < 0) {
		r = fd;
		goto out;
	}
	tmp_made = true;
	if (ftruncate(fd, (off_t)t->disk_size) < 0) {
		r = xarch_err_sys(g->err, errno, "cannot size '%s'", tmp);
		goto out;
	}
	if (t->type != XARCH_PT_NONE && (r = xarch_ptable_write(fd, t, g->err)) < 0) {
		char m[sizeof(g->err->msg)];
		if (g->err) {
			xa_strcpy(m, sizeof(m), g->err->msg);
			HD_ERR(-r, "%s", m);
		}
		goto out;
	}
	for (size_t i = 0; i < img->n_parts; i++) {
		const struct xarch_gpart *p = &img->parts[i];
		const struct xarch_gimage *c =
		    p->image[0] ? xarch_gcfg_image(g->cfg, p->image) : NULL;
		const struct xarch_part *q = &t->parts[i];
		if (!p->image[0])
			continue;
		if (c && gi_is_inline(g, c))
			r = gi_build_at(g, c, tmp, fd, q->offset);
		else
			r = gi_src_path(g, p->image, src, sizeof(src))
				? gi_copy_at(g, fd, src, q->offset, q->size)
				: -ENAMETOOLONG;
		if (r < 0)
			goto out;
	}
	r = gi_finish(g, fd, tmp, final);
out:
	if (fd >= 0)
		close(fd);
	if (r < 0 && tmp_made)
		unlink(tmp);
	free(t);
	return r;
}
