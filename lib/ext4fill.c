// SPDX-License-Identifier: MIT
/*
 * xa_ext4fill: copy a directory tree into an empty ext2/3/4 filesystem.
 *
 * `mke2fs -d` links every entry with ext2fs_link(), which scans the whole
 * directory each time (quadratic in entries per directory), and copies data
 * block by block through libext2fs's cache.  Here libext2fs only opens the
 * filesystem, keeps the bitmaps and group counters, writes inodes and
 * xattrs; the rest is done directly:
 *  - inodes and blocks are taken from two cursors moving forward, so the
 *    tree is laid out in walk order and each file is one contiguous run;
 *  - file data goes straight to the disk file at the blocks' offsets
 *    (copy_file_range, or one pread/pwrite for small files);
 *  - each directory's entries are collected while its children are made
 *    and written once as a linear (unindexed) directory, with the block
 *    tails' checksums when metadata_csum is on;
 *  - block maps are built in memory: an extent tree of any depth, or the
 *    classic direct/indirect blocks when the extents feature is off.
 * Entries are sorted by name, so the same tree gives the same filesystem.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include <et/com_err.h>
#include <ext2fs/ext2_err.h>
#include <ext2fs/ext2fs.h>
#include <ext2fs/ext3_extents.h>
#pragma GCC diagnostic pop

#include "ext4fill.h"
#include "internal.h"

/* Metadata is assembled in host order and written as is. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "ext4fill needs a little-endian host");

#define SMALL_COPY (256 * 1024) /* files up to this size: pread into the stage */
#define STAGE	   (4 << 20)	/* writes to consecutive blocks are gathered here */
#define XBUF	   65536
#define O_DIR_FLAGS                                                                                \
	(O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) /* XATTR_LIST_MAX and XATTR_SIZE_MAX */

struct hlink {
	dev_t dev;
	ino_t sino;
	ext2_ino_t ino; /* 0: free slot */
	uint32_t links;
};

struct ext {
	uint32_t lblk, len;
	blk64_t pblk;
};

struct dent {
	const char *name;
	ext2_ino_t ino;
	uint8_t len, ft;
};

struct fill {
	ext2_filsys fs;
	int fd; /* the disk file: data, directories and map blocks go here */
	uint64_t off;
	unsigned bs, isize;
	bool extents, csum, filetype, dir_nlink, big;
	ext2_ino_t ino_cur, lnf;
	blk64_t blk_cur;
	uint32_t now;

	struct hlink *hl;
	size_t hl_cap, hl_n;

	char **excl;
	size_t n_excl;

	const char *root;
	char rel[PATH_MAX]; /* the directory being filled, relative to root */
	size_t rel_len;

	struct ext *ex;
	size_t ex_n, ex_cap;
	uint8_t *dbuf; /* directory blocks */
	size_t dbuf_cap;
	uint8_t *stage; /* STAGE bytes for the disk at st_pos */
	size_t st_len;
	uint64_t st_pos;
	uint8_t *zero; /* one block of zeros */
	uint8_t *blk;  /* one block (map blocks, slow symlinks) */
	uint8_t *ibuf; /* one on-disk inode */
	char *xlist, *xval;
	char lnk[PATH_MAX + 1];
	bool no_cfr, nospace;

	uint64_t free_blocks, free_inodes; /* of the empty filesystem */
	struct xarch_error *err;
};

/* --- errors ---------------------------------------------------------- */

/* "ROOT/REL/NAME" for messages (NAME may be NULL: the directory itself). */
static const char *where(struct fill *f, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%.*s%s%s", f->root, f->rel_len ? "/" : "", (int)f->rel_len, f->rel,
		 name ? "/" : "", name ? name : "");
	return buf;
}

static int fail_sys(struct fill *f, int code, const char *what, const char *name)
{
	char p[PATH_MAX + 64];
	if (code == ENOSPC) {
		f->nospace = true;
		return -ENOSPC;
	}
	return xarch_err_sys(f->err, code, "%s '%s'", what, where(f, name, p, sizeof(p)));
}

static int fail_e2(struct fill *f, errcode_t e, const char *what, const char *name)
{
	char p[PATH_MAX + 64];
	if (e == EXT2_ET_BLOCK_ALLOC_FAIL || e == EXT2_ET_INODE_ALLOC_FAIL || e == ENOSPC ||
	    e == EXT2_ET_EA_NO_SPACE) {
		f->nospace = true;
		return -ENOSPC;
	}
	if (e > 0 && e < 4096)
		return fail_sys(f, (int)e, what, name);
	return xarch_err(f->err, EIO, "%s '%s': %s", what, where(f, name, p, sizeof(p)),
			 error_message(e));
}

static int nospace(struct fill *f)
{
	f->nospace = true;
	return -ENOSPC;
}

/* --- allocation ------------------------------------------------------- */

static int alloc_ino(struct fill *f, bool dir, ext2_ino_t *ret)
{
	ext2_ino_t last = f->fs->super->s_inodes_count, ino;
	if (f->ino_cur > last ||
	    ext2fs_find_first_zero_inode_bitmap2(f->fs->inode_map, f->ino_cur, last, &ino))
		return nospace(f);
	ext2fs_inode_alloc_stats2(f->fs, ino, +1, dir);
	f->ino_cur = ino + 1;
	*ret = ino;
	return 0;
}

/* The first free run from the cursor on, at most `want` blocks long. */
static int alloc_run(struct fill *f, blk64_t want, blk64_t *ret_blk, blk64_t *ret_len)
{
	ext2_filsys fs = f->fs;
	blk64_t last = ext2fs_blocks_count(fs->super) - 1, b, e;

	if (f->blk_cur > last ||
	    ext2fs_find_first_zero_block_bitmap2(fs->block_map, f->blk_cur, last, &b)) {
		/* what was freed behind the cursor (the old root directory) */
		if (ext2fs_find_first_zero_block_bitmap2(fs->block_map,
							 fs->super->s_first_data_block, last, &b))
			return nospace(f);
	}
	if (want > last - b + 1)
		want = last - b + 1;
	if (want > 1 &&
	    !ext2fs_find_first_set_block_bitmap2(fs->block_map, b + 1, b + want - 1, &e))
		want = e - b;
	ext2fs_block_alloc_stats_range(fs, b, want, +1);
	f->blk_cur = b + want;
	*ret_blk = b;
	*ret_len = want;
	return 0;
}

/* Map logical blocks [lblk, lblk+count) to newly allocated blocks (f->ex). */
static int add_blocks(struct fill *f, uint64_t lblk, uint64_t count)
{
	while (count) {
		blk64_t b, n;
		int r = alloc_run(f, count < EXT_INIT_MAX_LEN ? count : EXT_INIT_MAX_LEN, &b, &n);
		if (r < 0)
			return r;
		struct ext *p = f->ex_n ? &f->ex[f->ex_n - 1] : NULL;
		if (p && p->lblk + p->len == lblk && p->pblk + p->len == b &&
		    p->len + n <= EXT_INIT_MAX_LEN) {
			p->len += n;
		} else {
			if (f->ex_n == f->ex_cap) {
				size_t cap = f->ex_cap ? 2 * f->ex_cap : 64;
				struct ext *v = realloc(f->ex, cap * sizeof(*v));
				if (!v)
					return -ENOMEM;
				f->ex = v;
				f->ex_cap = cap;
			}
			f->ex[f->ex_n++] = (struct ext){(uint32_t)lblk, (uint32_t)n, b};
		}
		lblk += n;
		count -= n;
	}
	return 0;
}

/* Add [lb, le), skipping what an earlier (rounded) range already covers. */
static int add_range(struct fill *f, uint64_t lb, uint64_t le)
{
	if (f->ex_n) {
		uint64_t end = (uint64_t)f->ex[f->ex_n - 1].lblk + f->ex[f->ex_n - 1].len;
		if (lb < end)
			lb = end;
	}
	return lb < le ? add_blocks(f, lb, le - lb) : 0;
}

static int write_at(struct fill *f, const void *buf, size_t len, uint64_t pos)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t n = pwrite(f->fd, p, len, (off_t)pos);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= n;
		pos += n;
	}
	return 0;
}

static int stage_flush(struct fill *f)
{
	int r = f->st_len ? write_at(f, f->stage, f->st_len, f->st_pos) : 0;
	f->st_len = 0;
	return r;
}

/* Room for n (<= STAGE) bytes going to `pos` of the disk.  Small files are
 * laid out back to back, so most of them leave in one pwrite together. */
static int stage_reserve(struct fill *f, uint64_t pos, size_t n, uint8_t **ret)
{
	int r;
	if (f->st_len && (pos != f->st_pos + f->st_len || f->st_len + n > STAGE) &&
	    (r = stage_flush(f)) < 0)
		return r;
	if (!f->st_len)
		f->st_pos = pos;
	*ret = f->stage + f->st_len;
	f->st_len += n;
	return 0;
}

static int put_raw(struct fill *f, const void *buf, size_t n, uint64_t pos)
{
	uint8_t *p;
	if (n > STAGE)
		return write_at(f, buf, n, pos);
	int r = stage_reserve(f, pos, n, &p);
	if (r == 0)
		memcpy(p, buf, n);
	return r;
}

static uint64_t blk_pos(struct fill *f, blk64_t b)
{
	return f->off + (uint64_t)b * f->bs;
}

/* crc32c(fs seed, inode number, generation (0), data): extent and
 * directory block checksums. */
static uint32_t meta_csum(struct fill *f, ext2_ino_t ino, const void *p, size_t n)
{
	uint32_t le = ino, gen = 0;
	uint32_t c = ext2fs_crc32c_le(f->fs->csum_seed, (const unsigned char *)&le, 4);
	c = ext2fs_crc32c_le(c, (const unsigned char *)&gen, 4);
	return ext2fs_crc32c_le(c, p, n);
}

/* One block of a map (extent tree node or indirect block). */
static int put_map_block(struct fill *f, const void *buf, blk64_t *ret, blk64_t *meta)
{
	blk64_t b, n;
	int r = alloc_run(f, 1, &b, &n);
	if (r < 0)
		return r;
	if ((r = put_raw(f, buf, f->bs, blk_pos(f, b))) < 0)
		return r;
	(*meta)++;
	*ret = b;
	return 0;
}

/* --- block maps ------------------------------------------------------- */

/* f->ex as an extent tree: up to 4 extents in the inode, else leaves and
 * as many index levels as needed. */
static int map_extents(struct fill *f, ext2_ino_t ino, struct ext2_inode_large *in, blk64_t *meta)
{
	const unsigned per = (f->bs - sizeof(struct ext3_extent_header)) / 12;
	size_t n = f->ex_n;
	unsigned depth = 0;
	_cleanup_free_ uint8_t *cur = malloc(n * 12 + 1);
	if (!cur)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct ext3_extent e = {
		    .ee_block = f->ex[i].lblk,
		    .ee_len = (uint16_t)f->ex[i].len,
		    .ee_start_hi = (uint16_t)(f->ex[i].pblk >> 32),
		    .ee_start = (uint32_t)f->ex[i].pblk,
		};
		memcpy(cur + i * 12, &e, 12);
	}
	while (n > 4) {
		size_t nb = (n + per - 1) / per;
		uint8_t *next = malloc(nb * 12);
		if (!next)
			return -ENOMEM;
		for (size_t i = 0; i < nb; i++) {
			size_t k = n - i * per < per ? n - i * per : per;
			struct ext3_extent_header h = {EXT3_EXT_MAGIC, (uint16_t)k, (uint16_t)per,
						       (uint16_t)depth, 0};
			blk64_t b;
			memset(f->blk, 0, f->bs);
			memcpy(f->blk, &h, sizeof(h));
			memcpy(f->blk + sizeof(h), cur + i * per * 12, k * 12);
			if (f->csum) {
				size_t t = sizeof(h) + per * 12;
				uint32_t c = meta_csum(f, ino, f->blk, t);
				memcpy(f->blk + t, &c, 4);
			}
			int r = put_map_block(f, f->blk, &b, meta);
			if (r < 0) {
				free(next);
				return r;
			}
			/* an index entry starts with the same first block number */
			struct ext3_extent_idx x = {0, (uint32_t)b, (uint16_t)(b >> 32), 0};
			memcpy(&x.ei_block, cur + i * per * 12, 4);
			memcpy(next + i * 12, &x, 12);
		}
		free(cur);
		cur = next;
		n = nb;
		depth++;
	}
	struct ext3_extent_header h = {EXT3_EXT_MAGIC, (uint16_t)n, 4, (uint16_t)depth, 0};
	memset(in->i_block, 0, sizeof(in->i_block));
	memcpy(in->i_block, &h, sizeof(h));
	memcpy((uint8_t *)in->i_block + sizeof(h), cur, n * 12);
	in->i_flags |= EXT4_EXTENTS_FL;
	return 0;
}

/* Classic block map: a cursor over f->ex answers "is anything mapped in
 * [a, b)" for non-decreasing a. */
struct ind {
	const struct ext *ex;
	size_t n, k;
};

static bool ind_has(struct ind *c, uint64_t a, uint64_t b)
{
	while (c->k < c->n && (uint64_t)c->ex[c->k].lblk + c->ex[c->k].len <= a)
		c->k++;
	return c->k < c->n && c->ex[c->k].lblk < b;
}

static uint32_t ind_get(struct ind *c, uint64_t l)
{
	return ind_has(c, l, l + 1) ? (uint32_t)(c->ex[c->k].pblk + (l - c->ex[c->k].lblk)) : 0;
}

static int ind_build(struct fill *f, struct ind *c, int level, uint64_t base, uint32_t *ret,
		     blk64_t *meta)
{
	uint64_t apb = f->bs / 4, per = 1;
	for (int i = 1; i < level; i++)
		per *= apb;
	*ret = 0;
	if (!ind_has(c, base, base + per * apb))
		return 0;
	_cleanup_free_ uint32_t *v = calloc(apb, 4);
	if (!v)
		return -ENOMEM;
	for (uint64_t i = 0; i < apb; i++) {
		if (level == 1) {
			v[i] = ind_get(c, base + i);
		} else {
			int r = ind_build(f, c, level - 1, base + i * per, &v[i], meta);
			if (r < 0)
				return r;
		}
	}
	blk64_t b;
	int r = put_map_block(f, v, &b, meta);
	if (r < 0)
		return r;
	*ret = (uint32_t)b;
	return 0;
}

static int map_indirect(struct fill *f, struct ext2_inode_large *in, blk64_t *meta)
{
	struct ind c = {f->ex, f->ex_n, 0};
	uint64_t apb = f->bs / 4, base = EXT2_NDIR_BLOCKS, span = apb;
	memset(in->i_block, 0, sizeof(in->i_block));
	for (int i = 0; i < EXT2_NDIR_BLOCKS; i++)
		in->i_block[i] = ind_get(&c, i);
	for (int level = 1; level <= 3; level++) {
		int r =
		    ind_build(f, &c, level, base, &in->i_block[EXT2_NDIR_BLOCKS + level - 1], meta);
		if (r < 0)
			return r;
		base += span;
		span *= apb;
	}
	return ind_has(&c, base, UINT64_MAX) ? -EFBIG : 0;
}

/* Store f->ex as the inode's map and count its blocks in i_blocks. */
static int set_map(struct fill *f, ext2_ino_t ino, struct ext2_inode_large *in)
{
	blk64_t meta = 0, data = 0;
	int r;
	for (size_t i = 0; i < f->ex_n; i++)
		data += f->ex[i].len;
	if (f->extents)
		r = map_extents(f, ino, in, &meta);
	else
		r = map_indirect(f, in, &meta);
	if (r < 0)
		return r;
	errcode_t e = ext2fs_iblk_set(f->fs, (struct ext2_inode *)in, data + meta);
	return e ? -EFBIG : 0;
}

/* --- inodes ----------------------------------------------------------- */

static uint32_t xtime(struct timespec ts)
{
	int64_t s = ts.tv_sec;
	return (uint32_t)(((s - (int32_t)s) >> 32) & EXT4_EPOCH_MASK) |
	       ((uint32_t)ts.tv_nsec << EXT4_EPOCH_BITS);
}

static void inode_init(struct fill *f, struct ext2_inode_large *in, const struct stat *st)
{
	memset(in, 0, sizeof(*in));
	in->i_mode = (uint16_t)st->st_mode;
	in->i_uid = (uint16_t)st->st_uid;
	in->osd2.linux2.l_i_uid_high = (uint16_t)(st->st_uid >> 16);
	in->i_gid = (uint16_t)st->st_gid;
	in->osd2.linux2.l_i_gid_high = (uint16_t)(st->st_gid >> 16);
	in->i_links_count = 1;
	in->i_atime = (uint32_t)st->st_atim.tv_sec;
	in->i_mtime = (uint32_t)st->st_mtim.tv_sec;
	in->i_ctime = (uint32_t)st->st_ctim.tv_sec;
	if (f->big) {
		in->i_extra_isize = sizeof(*in) - EXT2_GOOD_OLD_INODE_SIZE;
		in->i_atime_extra = xtime(st->st_atim);
		in->i_mtime_extra = xtime(st->st_mtim);
		in->i_ctime_extra = xtime(st->st_ctim);
		in->i_crtime = f->now;
	}
}

static int inode_write(struct fill *f, ext2_ino_t ino, struct ext2_inode_large *in,
		       const char *name)
{
	size_t n = f->isize < sizeof(*in) ? f->isize : sizeof(*in);
	memset(f->ibuf, 0, f->isize);
	memcpy(f->ibuf, in, n);
	errcode_t e = ext2fs_write_inode_full(f->fs, ino, (struct ext2_inode *)f->ibuf, f->isize);
	return e ? fail_e2(f, e, "cannot write the inode of", name) : 0;
}

/* Copy the xattrs of fd (or, when fd < 0, of the path of `name`). */
static int put_xattrs(struct fill *f, ext2_ino_t ino, int fd, const char *name)
{
	char p[PATH_MAX + 64];
	if (fd < 0)
		where(f, name, p, sizeof(p));
	ssize_t n = fd >= 0 ? flistxattr(fd, f->xlist, XBUF) : llistxattr(p, f->xlist, XBUF);
	if (n < 0 && (errno == ENOTSUP || errno == ENOSYS))
		return 0;
	if (n < 0)
		return fail_sys(f, errno, "cannot list the xattrs of", name);
	if (n == 0)
		return 0;

	struct ext2_xattr_handle *h;
	errcode_t e = ext2fs_xattrs_open(f->fs, ino, &h);
	if (e == EXT2_ET_MISSING_EA_FEATURE)
		return 0;
	if (e)
		return fail_e2(f, e, "cannot store the xattrs of", name);
	int r = 0;
	if ((e = ext2fs_xattrs_read(h)))
		r = fail_e2(f, e, "cannot store the xattrs of", name);
	for (char *k = f->xlist; !r && k < f->xlist + n; k += strlen(k) + 1) {
		ssize_t v =
		    fd >= 0 ? fgetxattr(fd, k, f->xval, XBUF) : lgetxattr(p, k, f->xval, XBUF);
		if (v < 0 && errno == ENODATA)
			continue;
		if (v < 0)
			r = fail_sys(f, errno, "cannot read the xattrs of", name);
		else if ((e = ext2fs_xattr_set(h, k, f->xval, v)))
			r = fail_e2(f, e, "cannot store the xattrs of", name);
	}
	e = ext2fs_xattrs_close(&h);
	if (!r && e)
		r = fail_e2(f, e, "cannot store the xattrs of", name);
	return r;
}

/* --- regular files ---------------------------------------------------- */

/* Copy `len` bytes at `from` of fd to `to` in the disk, then `pad` zeros. */
static int copy_data(struct fill *f, int fd, const char *name, uint64_t from, uint64_t len,
		     uint64_t to, uint64_t pad)
{
	int r;
	if (len + pad <= SMALL_COPY + f->bs || f->no_cfr) {
		while (len + pad) {
			uint64_t chunk = len < SMALL_COPY ? len : SMALL_COPY, got = 0;
			/* the pad (less than a block) goes with the last chunk */
			uint64_t z = chunk == len ? pad : 0;
			uint8_t *p;
			if ((r = stage_reserve(f, to, chunk + z, &p)) < 0)
				return fail_sys(f, -r, "cannot write the disk image for", name);
			while (got < chunk) {
				ssize_t n = pread(fd, p + got, chunk - got, (off_t)(from + got));
				if (n < 0 && errno == EINTR)
					continue;
				if (n < 0)
					return fail_sys(f, errno, "cannot read", name);
				if (n == 0)
					return fail_sys(f, EIO,
							"file shrank while being copied:", name);
				got += n;
			}
			memset(p + chunk, 0, z);
			from += chunk;
			to += chunk + z;
			len -= chunk;
			pad -= z;
		}
		return 0;
	}
	loff_t in = (loff_t)from, out = (loff_t)to;
	while (len) {
		ssize_t n = copy_file_range(fd, &in, f->fd, &out, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == EOPNOTSUPP ||
			      errno == ENOSYS || errno == EBADF)) {
			f->no_cfr = true;
			return copy_data(f, fd, name, (uint64_t)in, len, (uint64_t)out, pad);
		}
		if (n < 0)
			return fail_sys(f, errno, "cannot copy", name);
		if (n == 0)
			return fail_sys(f, EIO, "file shrank while being copied:", name);
		len -= n;
	}
	if (pad && (r = put_raw(f, f->zero, pad, (uint64_t)out)) < 0) {
		return fail_sys(f, -r, "cannot write the disk image for", name);
	}
	return 0;
}

/* The block ranges holding data: SEEK_DATA/SEEK_HOLE when the file may be
 * sparse, else all of it.  Rounded out to whole blocks. */
static int file_ranges(struct fill *f, int fd, const struct stat *st)
{
	uint64_t size = st->st_size, bs = f->bs;
	f->ex_n = 0;
	if ((uint64_t)st->st_blocks * 512 < size) {
		off_t d = 0, h;
		int r;
		while ((uint64_t)d < size && (d = lseek(fd, d, SEEK_DATA)) >= 0) {
			h = lseek(fd, d, SEEK_HOLE);
			if (h < 0 || (uint64_t)h > size)
				h = (off_t)size;
			if ((uint64_t)d >= size)
				break;
			if ((r = add_range(f, d / bs, (h + bs - 1) / bs)) < 0)
				return r;
			d = h;
		}
		if (d >= 0 || errno == ENXIO)
			return 0;
		/* no SEEK_DATA here: copy all of it */
		f->ex_n = 0;
	}
	return add_range(f, 0, (size + bs - 1) / bs);
}

static int put_file(struct fill *f, int dfd, const char *name, const struct stat *st,
		    ext2_ino_t ino)
{
	struct ext2_inode_large in;
	uint64_t size = st->st_size;
	int r;

	_cleanup_close_ int fd =
	    openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return fail_sys(f, errno, "cannot open", name);
	if ((size + f->bs - 1) / f->bs > 0xffffffffULL) /* 32-bit logical blocks */
		return fail_sys(f, EFBIG, "too big for this filesystem:", name);

	if ((r = file_ranges(f, fd, st)) < 0)
		return r;
	for (size_t i = 0; i < f->ex_n; i++) {
		uint64_t a = (uint64_t)f->ex[i].lblk * f->bs;
		uint64_t b = a + (uint64_t)f->ex[i].len * f->bs;
		uint64_t e = b < size ? b : size;
		if ((r = copy_data(f, fd, name, a, e - a, blk_pos(f, f->ex[i].pblk), b - e)) < 0)
			return r;
	}
	inode_init(f, &in, st);
	errcode_t ee = ext2fs_inode_size_set(f->fs, (struct ext2_inode *)&in, size);
	if (ee)
		return fail_e2(f, ee, "cannot store", name);
	if ((r = set_map(f, ino, &in)) < 0)
		return r == -EFBIG ? fail_sys(f, EFBIG, "cannot map", name) : r;
	if ((r = inode_write(f, ino, &in, name)) < 0)
		return r;
	return put_xattrs(f, ino, fd, name);
}

/* Symlinks, devices, fifos and sockets. */
static int put_special(struct fill *f, int dfd, const char *name, const struct stat *st,
		       ext2_ino_t ino)
{
	struct ext2_inode_large in;
	int r;

	inode_init(f, &in, st);
	if (S_ISLNK(st->st_mode)) {
		ssize_t n = readlinkat(dfd, name, f->lnk, sizeof(f->lnk) - 1);
		if (n < 0)
			return fail_sys(f, errno, "cannot read the symlink", name);
		if ((size_t)n >= f->bs)
			return fail_sys(f, ENAMETOOLONG,
					"symlink target longer than a block:", name);
		in.i_size = (uint32_t)n;
		if ((size_t)n < sizeof(in.i_block)) {
			memcpy(in.i_block, f->lnk, n);
		} else {
			f->ex_n = 0;
			if ((r = add_blocks(f, 0, 1)) < 0)
				return r;
			memset(f->blk, 0, f->bs);
			memcpy(f->blk, f->lnk, n);
			if ((r = put_raw(f, f->blk, f->bs, blk_pos(f, f->ex[0].pblk))) < 0)
				return fail_sys(f, -r, "cannot write the disk image for", name);
			if ((r = set_map(f, ino, &in)) < 0)
				return r;
		}
	} else if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) {
		unsigned ma = major(st->st_rdev), mi = minor(st->st_rdev);
		if (ma < 256 && mi < 256)
			in.i_block[0] = ma * 256 + mi;
		else
			in.i_block[1] = (mi & 0xff) | (ma << 8) | ((mi & ~0xffu) << 12);
	}
	if ((r = inode_write(f, ino, &in, name)) < 0)
		return r;
	return put_xattrs(f, ino, -1, name);
}

/* --- hard links ------------------------------------------------------- */

static size_t hl_slot(struct fill *f, dev_t dev, ino_t sino)
{
	uint64_t h = ((uint64_t)sino * 0x9E3779B97F4A7C15ULL) ^ (uint64_t)dev;
	size_t i = (size_t)(h ^ (h >> 29)) & (f->hl_cap - 1);
	while (f->hl[i].ino && (f->hl[i].sino != sino || f->hl[i].dev != dev))
		i = (i + 1) & (f->hl_cap - 1);
	return i;
}

static int hl_add(struct fill *f, dev_t dev, ino_t sino, ext2_ino_t ino)
{
	if (2 * (f->hl_n + 1) > f->hl_cap) {
		struct hlink *old = f->hl;
		size_t oc = f->hl_cap;
		f->hl_cap = oc ? 2 * oc : 256;
		f->hl = calloc(f->hl_cap, sizeof(*f->hl));
		if (!f->hl) {
			f->hl = old;
			f->hl_cap = oc;
			return -ENOMEM;
		}
		for (size_t i = 0; i < oc; i++)
			if (old[i].ino)
				f->hl[hl_slot(f, old[i].dev, old[i].sino)] = old[i];
		free(old);
	}
	f->hl[hl_slot(f, dev, sino)] = (struct hlink){dev, sino, ino, 1};
	f->hl_n++;
	return 0;
}

static struct hlink *hl_find(struct fill *f, dev_t dev, ino_t sino)
{
	if (!f->hl_cap)
		return NULL;
	struct hlink *h = &f->hl[hl_slot(f, dev, sino)];
	return h->ino ? h : NULL;
}

/* Link counts of the inodes met more than once. */
static int hl_finish(struct fill *f)
{
	for (size_t i = 0; i < f->hl_cap; i++) {
		struct hlink *h = &f->hl[i];
		if (!h->ino || h->links == 1)
			continue;
		errcode_t e =
		    ext2fs_read_inode_full(f->fs, h->ino, (struct ext2_inode *)f->ibuf, f->isize);
		if (!e) {
			((struct ext2_inode *)f->ibuf)->i_links_count = (uint16_t)h->links;
			e = ext2fs_write_inode_full(f->fs, h->ino, (struct ext2_inode *)f->ibuf,
						    f->isize);
		}
		if (e)
			return xarch_err(f->err, EIO, "cannot update inode %u: %s", h->ino,
					 error_message(e));
	}
	return 0;
}

/* --- directories ------------------------------------------------------ */

static int dent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct dent *)a)->name, ((const struct dent *)b)->name);
}

static uint8_t ftype(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG:
		return EXT2_FT_REG_FILE;
	case S_IFDIR:
		return EXT2_FT_DIR;
	case S_IFCHR:
		return EXT2_FT_CHRDEV;
	case S_IFBLK:
		return EXT2_FT_BLKDEV;
	case S_IFIFO:
		return EXT2_FT_FIFO;
	case S_IFSOCK:
		return EXT2_FT_SOCK;
	case S_IFLNK:
		return EXT2_FT_SYMLINK;
	}
	return EXT2_FT_UNKNOWN;
}

/* The names excluded inside the current directory (pointers into f->excl). */
static size_t excluded_here(struct fill *f, const char **out)
{
	size_t n = 0;
	for (size_t i = 0; i < f->n_excl; i++) {
		const char *e = f->excl[i], *s = strrchr(e, '/');
		size_t pl = s ? (size_t)(s - e) : 0;
		if (pl == f->rel_len && !memcmp(e, f->rel, pl))
			out[n++] = s ? s + 1 : e;
	}
	return n;
}

static bool name_in(const char *name, const char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(name, v[i]))
			return true;
	return false;
}

static int rel_push(struct fill *f, const char *name, size_t *saved)
{
	size_t n = strlen(name);
	*saved = f->rel_len;
	if (f->rel_len + n + 2 > sizeof(f->rel))
		return fail_sys(f, ENAMETOOLONG, "path too long:", name);
	if (f->rel_len)
		f->rel[f->rel_len++] = '/';
	memcpy(f->rel + f->rel_len, name, n + 1);
	f->rel_len += n;
	return 0;
}

/* Read and sort the entries of a directory; names live in *ret_names. */
static int read_entries(struct fill *f, DIR *d, struct dent **ret, size_t *ret_n, char **ret_names)
{
	_cleanup_free_ char *names = NULL;
	_cleanup_free_ struct dent *v = NULL;
	size_t n = 0, cap = 0, nl = 0, ncap = 0;
	struct dirent *de;

	errno = 0;
	while ((de = readdir(d))) {
		const char *s = de->d_name;
		if (s[0] == '.' && (!s[1] || (s[1] == '.' && !s[2])))
			continue;
		size_t len = strlen(s);
		if (n == cap) {
			cap = cap ? 2 * cap : 32;
			struct dent *nv = realloc(v, cap * sizeof(*v));
			if (!nv)
				return -ENOMEM;
			v = nv;
		}
		if (nl + len + 1 > ncap) {
			ncap = ncap ? 2 * ncap : 1024;
			while (nl + len + 1 > ncap)
				ncap *= 2;
			char *nn = realloc(names, ncap);
			if (!nn)
				return -ENOMEM;
			names = nn;
		}
		memcpy(names + nl, s, len + 1);
		/* an offset until the arena stops moving */
		v[n++] = (struct dent){.name = (const char *)(uintptr_t)nl, .len = (uint8_t)len};
		nl += len + 1;
	}
	if (errno)
		return fail_sys(f, errno, "cannot read the directory", NULL);
	for (size_t i = 0; i < n; i++)
		v[i].name = names + (uintptr_t)v[i].name;
	if (n > 1)
		qsort(v, n, sizeof(*v), dent_cmp);
	*ret = TAKE_PTR(v);
	*ret_n = n;
	*ret_names = TAKE_PTR(names);
	return 0;
}

static size_t rec_len(size_t name_len)
{
	return (8 + name_len + 3) & ~(size_t)3;
}

/* Lay out ".", ".." and v[] in blocks (at least min_blocks) into f->dbuf;
 * returns the number of blocks. */
static int dir_blocks(struct fill *f, ext2_ino_t ino, ext2_ino_t parent, const struct dent *v,
		      size_t n, size_t min_blocks, size_t *ret_blocks)
{
	const size_t cap = f->bs - (f->csum ? sizeof(struct ext2_dir_entry_tail) : 0);
	size_t nb = 0, pos = cap, last = 0;

	for (size_t i = 0; i < n + 2 || nb < min_blocks || pos == cap; i++) {
		const struct dent *e = NULL;
		struct dent dot = {".", ino, 1, EXT2_FT_DIR},
			    dotdot = {"..", parent, 2, EXT2_FT_DIR};
		if (i == 0)
			e = &dot;
		else if (i == 1)
			e = &dotdot;
		else if (i < n + 2)
			e = &v[i - 2];
		size_t need = e ? rec_len(e->len) : cap;
		if (pos + need > cap) {
			/* a new block; the previous one's last entry takes the rest */
			if (nb) {
				struct ext2_dir_entry *l =
				    (void *)(f->dbuf + (nb - 1) * f->bs + last);
				ext2fs_set_rec_len(f->fs, (unsigned)(cap - last), l);
			}
			if ((nb + 1) * f->bs > f->dbuf_cap) {
				size_t c = f->dbuf_cap ? 2 * f->dbuf_cap : 16 * f->bs;
				uint8_t *p = realloc(f->dbuf, c);
				if (!p)
					return -ENOMEM;
				f->dbuf = p;
				f->dbuf_cap = c;
			}
			memset(f->dbuf + nb * f->bs, 0, f->bs);
			nb++;
			pos = 0;
		}
		struct ext2_dir_entry_2 *d = (void *)(f->dbuf + (nb - 1) * f->bs + pos);
		if (e) {
			d->inode = e->ino;
			d->name_len = e->len;
			d->file_type = f->filetype ? e->ft : 0;
			memcpy(d->name, e->name, e->len);
		}
		ext2fs_set_rec_len(f->fs, (unsigned)need, (struct ext2_dir_entry *)d);
		last = pos;
		pos += need;
		if (!e && i >= n + 2 && nb >= min_blocks)
			break;
	}
	struct ext2_dir_entry *l = (void *)(f->dbuf + (nb - 1) * f->bs + last);
	ext2fs_set_rec_len(f->fs, (unsigned)(cap - last), l);
	if (f->csum) {
		for (size_t b = 0; b < nb; b++) {
			uint8_t *blk = f->dbuf + b * f->bs;
			struct ext2_dir_entry_tail *t = (void *)(blk + cap);
			ext2fs_initialize_dirent_tail(f->fs, t);
			t->det_checksum = meta_csum(f, ino, blk, cap);
		}
	}
	*ret_blocks = nb;
	return 0;
}

static int fill_dir(struct fill *f, int dfd_owned, ext2_ino_t ino, ext2_ino_t parent,
		    const struct stat *st, bool skip, size_t min_blocks);

/* One entry of a directory: its inode (new, or a hard link's). */
static int fill_entry(struct fill *f, int dfd, ext2_ino_t dir, struct dent *e, const char **excl,
		      size_t n_excl, size_t *nsub)
{
	struct stat st;
	struct hlink *h = NULL;
	size_t min_blocks = 0;
	int r;

	if (fstatat(dfd, e->name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return fail_sys(f, errno, "cannot stat", e->name);
	e->ft = ftype(st.st_mode);
	if (!S_ISDIR(st.st_mode) && st.st_nlink > 1 && (h = hl_find(f, st.st_dev, st.st_ino))) {
		if (h->links >= EXT2_LINK_MAX)
			return fail_sys(f, EMLINK, "too many hard links to", e->name);
		h->links++;
		e->ino = h->ino;
		return 0;
	}

	bool lnf = dir == EXT2_ROOT_INO && f->lnf && !strcmp(e->name, "lost+found");
	if (lnf) {
		/* the source's lost+found replaces the one mke2fs made, keeping
		 * its size (e2fsck reconnects files there without allocating) */
		struct ext2_inode old;
		if (!S_ISDIR(st.st_mode))
			return xarch_err(f->err, EEXIST,
					 "'%s/lost+found' must be a directory (the filesystem's "
					 "own is there)",
					 f->root);
		errcode_t ee = ext2fs_read_inode(f->fs, f->lnf, &old);
		if (!ee)
			ee = ext2fs_punch(f->fs, f->lnf, NULL, NULL, 0, ~0ULL);
		if (ee)
			return fail_e2(f, ee, "cannot reuse", e->name);
		min_blocks = EXT2_I_SIZE(&old) / f->bs;
		e->ino = f->lnf;
		f->lnf = 0;
	} else if ((r = alloc_ino(f, S_ISDIR(st.st_mode), &e->ino)) < 0) {
		return r;
	}

	if (S_ISDIR(st.st_mode)) {
		size_t saved;
		bool skip = n_excl && name_in(e->name, excl, n_excl);
		if (*nsub + 2 >= EXT2_LINK_MAX && !f->dir_nlink)
			return fail_sys(f, EMLINK, "too many subdirectories in", NULL);
		(*nsub)++;
		int cfd = openat(dfd, e->name, O_DIR_FLAGS | O_NOATIME);
		if (cfd < 0 && errno == EPERM)
			cfd = openat(dfd, e->name, O_DIR_FLAGS);
		if (cfd < 0)
			return fail_sys(f, errno, "cannot open", e->name);
		if ((r = rel_push(f, e->name, &saved)) < 0) {
			close(cfd);
			return r;
		}
		r = fill_dir(f, cfd, e->ino, dir, &st, skip, min_blocks);
		f->rel_len = saved;
		f->rel[saved] = 0;
		return r;
	}
	if (S_ISREG(st.st_mode))
		r = put_file(f, dfd, e->name, &st, e->ino);
	else
		r = put_special(f, dfd, e->name, &st, e->ino);
	if (r == 0 && st.st_nlink > 1)
		r = hl_add(f, st.st_dev, st.st_ino, e->ino);
	return r;
}

/* Fill directory `ino` from dfd (closed here): its entries first, depth
 * first in name order, then its own blocks and inode.  `skip`: an excluded
 * mount point, stored empty. */
static int fill_dir(struct fill *f, int dfd_owned, ext2_ino_t ino, ext2_ino_t parent,
		    const struct stat *st, bool skip, size_t min_blocks)
{
	_cleanup_close_ int dfd = dfd_owned;
	_cleanup_closedir_ DIR *d = NULL;
	_cleanup_free_ struct dent *v = NULL;
	_cleanup_free_ char *names = NULL;
	_cleanup_free_ const char **excl = NULL;
	struct ext2_inode_large in;
	size_t n = 0, n_excl = 0, nsub = 0, nb;
	int r;

	if (!skip) {
		int fd2 = dup(dfd);
		if (fd2 < 0 || !(d = fdopendir(fd2))) {
			r = errno;
			if (fd2 >= 0)
				close(fd2);
			return fail_sys(f, r, "cannot read the directory", NULL);
		}
		if ((r = read_entries(f, d, &v, &n, &names)) < 0)
			return r;
		closedir(TAKE_PTR(d));
		if (f->n_excl) {
			if (!(excl = calloc(f->n_excl, sizeof(*excl))))
				return -ENOMEM;
			n_excl = excluded_here(f, excl);
		}
	}
	/* mke2fs's lost+found, when the tree has none */
	if (ino == EXT2_ROOT_INO && f->lnf) {
		bool found = false;
		for (size_t i = 0; i < n && !found; i++)
			found = !strcmp(v[i].name, "lost+found");
		if (!found) {
			struct dent *nv = realloc(v, (n + 1) * sizeof(*v));
			if (!nv)
				return -ENOMEM;
			v = nv;
			memmove(v + 1, v, n * sizeof(*v));
			v[0] = (struct dent){"lost+found", f->lnf, 10, EXT2_FT_DIR};
			n++;
			nsub++;
			f->lnf = 0;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (v[i].ino)
			continue; /* lost+found, already there */
		if ((r = fill_entry(f, dfd, ino, &v[i], excl, n_excl, &nsub)) < 0)
			return r;
	}

	if ((r = dir_blocks(f, ino, parent, v, n, min_blocks, &nb)) < 0)
		return r;
	f->ex_n = 0;
	if ((r = add_blocks(f, 0, nb)) < 0)
		return r;
	for (size_t i = 0; i < f->ex_n; i++) {
		r = put_raw(f, f->dbuf + (size_t)f->ex[i].lblk * f->bs,
			    (size_t)f->ex[i].len * f->bs, blk_pos(f, f->ex[i].pblk));
		if (r < 0)
			return fail_sys(f, -r, "cannot write the disk image for", NULL);
	}
	inode_init(f, &in, st);
	in.i_size = (uint32_t)(nb * f->bs);
	in.i_size_high = (uint32_t)(((uint64_t)nb * f->bs) >> 32);
	in.i_links_count = nsub + 2 >= EXT2_LINK_MAX ? 1 : (uint16_t)(nsub + 2);
	if ((r = set_map(f, ino, &in)) < 0)
		return r;
	if ((r = inode_write(f, ino, &in, NULL)) < 0)
		return r;
	return put_xattrs(f, ino, dfd, NULL);
}

/* --- room needed, for the ENOSPC message ------------------------------ */

struct need {
	double blocks, inodes;
};

static void estimate(struct fill *f, int dfd_owned, struct need *nd)
{
	_cleanup_closedir_ DIR *d = fdopendir(dfd_owned);
	_cleanup_free_ const char **excl = NULL;
	struct dirent *de;
	size_t n_excl = 0, bytes = 24, saved;

	if (!d) {
		close(dfd_owned);
		return;
	}
	if (f->n_excl && (excl = calloc(f->n_excl, sizeof(*excl))))
		n_excl = excluded_here(f, excl);
	while ((de = readdir(d))) {
		const char *s = de->d_name;
		struct stat st;
		if (s[0] == '.' && (!s[1] || (s[1] == '.' && !s[2])))
			continue;
		bytes += rec_len(strlen(s));
		if (fstatat(dirfd(d), s, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		double share = S_ISDIR(st.st_mode) || st.st_nlink < 2 ? 1.0 : 1.0 / st.st_nlink;
		nd->inodes += share;
		if (S_ISREG(st.st_mode)) {
			uint64_t sz = st.st_size, alloc = (uint64_t)st.st_blocks * 512;
			nd->blocks +=
			    share * (double)(((sz < alloc ? sz : alloc) + f->bs - 1) / f->bs);
		} else if (S_ISLNK(st.st_mode) && st.st_size >= 60) {
			nd->blocks += 1;
		} else if (S_ISDIR(st.st_mode) && !(n_excl && name_in(s, excl, n_excl)) &&
			   rel_push(f, s, &saved) == 0) {
			int cfd =
			    openat(dirfd(d), s, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (cfd >= 0)
				estimate(f, cfd, nd);
			f->rel_len = saved;
			f->rel[saved] = 0;
		}
	}
	nd->blocks += (double)((bytes + f->bs - 13) / (f->bs - 12));
}

static int report_nospace(struct fill *f, const char *path)
{
	struct need nd = {0, 0};
	int fd = open(f->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	f->rel_len = 0;
	f->rel[0] = 0;
	if (fd >= 0)
		estimate(f, fd, &nd);
	/* extent blocks, xattr blocks and the rest: a little extra */
	uint64_t kib = (uint64_t)(nd.blocks * 1.01 + 16) * (f->bs / 1024);
	uint64_t ino = (uint64_t)nd.inodes + 1;
	uint64_t free_kib = f->free_blocks * (f->bs / 1024);
	return xarch_err(f->err, ENOSPC,
			 "'%s' does not fit in the filesystem in '%s': it needs about %llu KiB and "
			 "%llu inodes, the empty filesystem has %llu KiB and %llu inodes free; %s",
			 f->root, path, (unsigned long long)kib, (unsigned long long)ino,
			 (unsigned long long)free_kib, (unsigned long long)f->free_inodes,
			 kib >= free_kib || ino < f->free_inodes
			     ? "make the image bigger"
			     : "give it more inodes (mke2fs -N or -i)");
}

/* --- entry point ------------------------------------------------------ */

/* "home/", "/boot//efi", "./x" -> "home", "boot/efi", "x" */
static char *norm_path(const char *s)
{
	char *o = malloc(strlen(s) + 1), *p = o;
	if (!o)
		return NULL;
	while (*s) {
		while (*s == '/')
			s++;
		if (s[0] == '.' && (s[1] == '/' || !s[1])) {
			s++;
			continue;
		}
		if (!*s)
			break;
		if (p != o)
			*p++ = '/';
		while (*s && *s != '/')
			*p++ = *s++;
	}
	*p = 0;
	return o;
}

static void fill_release(struct fill *f)
{
	for (size_t i = 0; i < f->n_excl; i++)
		free(f->excl[i]);
	free(f->excl);
	free(f->hl);
	free(f->ex);
	free(f->dbuf);
	free(f->stage);
	free(f->zero);
	free(f->blk);
	free(f->ibuf);
	free(f->xlist);
	free(f->xval);
	if (f->fd >= 0)
		close(f->fd);
	if (f->fs)
		ext2fs_free(f->fs);
}

static int fill_open(struct fill *f, const char *path, uint64_t off)
{
	char io_opts[64];
	errcode_t e;

	initialize_ext2_error_table();
	snprintf(io_opts, sizeof(io_opts), "offset=%llu", (unsigned long long)off);
	e = ext2fs_open2(path, io_opts, EXT2_FLAG_RW | EXT2_FLAG_64BITS, 0, 0, unix_io_manager,
			 &f->fs);
	if (e) {
		f->fs = NULL;
		return xarch_err(f->err, e < 4096 ? (int)e : EINVAL,
				 "cannot open the ext2/3/4 filesystem at offset %llu of '%s': %s",
				 (unsigned long long)off, path, error_message(e));
	}
	struct ext2_super_block *sb = f->fs->super;
	if (ext2fs_has_feature_bigalloc(sb) || ext2fs_has_feature_quota(sb))
		return xarch_err(f->err, EOPNOTSUPP,
				 "'%s': filesystems with the %s feature cannot be filled here; "
				 "make it without it",
				 path, ext2fs_has_feature_bigalloc(sb) ? "bigalloc" : "quota");
	if ((e = ext2fs_read_bitmaps(f->fs)))
		return xarch_err(f->err, EIO, "cannot read the bitmaps of '%s': %s", path,
				 error_message(e));
	f->fd = open(path, O_WRONLY | O_CLOEXEC);
	if (f->fd < 0)
		return xarch_err_sys(f->err, errno, "cannot open '%s'", path);
	f->off = off;
	f->bs = f->fs->blocksize;
	f->isize = EXT2_INODE_SIZE(sb);
	f->extents = ext2fs_has_feature_extents(sb);
	f->csum = ext2fs_has_feature_metadata_csum(sb);
	f->filetype = ext2fs_has_feature_filetype(sb);
	f->dir_nlink = ext2fs_has_feature_dir_nlink(sb);
	f->big = f->isize >= sizeof(struct ext2_inode_large);
	f->ino_cur = EXT2_FIRST_INO(sb);
	f->blk_cur = sb->s_first_data_block;
	f->stage = malloc(STAGE);
	f->zero = calloc(1, f->bs);
	f->blk = malloc(f->bs);
	f->ibuf = malloc(f->isize);
	f->xlist = malloc(XBUF);
	f->xval = malloc(XBUF);
	if (!f->stage || !f->zero || !f->blk || !f->ibuf || !f->xlist || !f->xval)
		return -ENOMEM;
	return 0;
}

int xa_ext4fill(const char *path, uint64_t off, const char *root, const struct xa_ext4fill_opts *o,
		struct xarch_error *err)
{
	struct fill f = {.fd = -1, .err = err, .root = root};
	struct stat st;
	errcode_t e;
	int r;

	int rfd = open(root, O_DIR_FLAGS | O_NOATIME);
	if (rfd < 0 && errno == EPERM)
		rfd = open(root, O_DIR_FLAGS);
	if (rfd < 0)
		return xarch_err_sys(err, errno, "cannot open the root '%s'", root);
	if (fstat(rfd, &st) < 0) {
		r = xarch_err_sys(err, errno, "cannot stat '%s'", root);
		close(rfd);
		return r;
	}
	if (o && o->n_exclude) {
		if (!(f.excl = calloc(o->n_exclude, sizeof(*f.excl)))) {
			close(rfd);
			return -ENOMEM;
		}
		for (size_t i = 0; i < o->n_exclude; i++) {
			char *s = norm_path(o->exclude[i]);
			if (!s) {
				r = -ENOMEM;
				goto out_rfd;
			}
			if (!*s) { /* the root itself: everything is excluded */
				free(s);
				s = NULL;
			}
			if (s)
				f.excl[f.n_excl++] = s;
		}
	}
	if ((r = fill_open(&f, path, off)) < 0)
		goto out_rfd;
	f.now = o && o->now ? (uint32_t)o->now : (uint32_t)time(NULL);
	if (o && o->now)
		f.fs->now = (time_t)o->now;

	/* The root is rebuilt from scratch: keep lost+found, drop its block. */
	e = ext2fs_lookup(f.fs, EXT2_ROOT_INO, "lost+found", 10, NULL, &f.lnf);
	if (e)
		f.lnf = 0;
	if ((e = ext2fs_punch(f.fs, EXT2_ROOT_INO, NULL, NULL, 0, ~0ULL))) {
		r = fail_e2(&f, e, "cannot rewrite the root directory of", NULL);
		goto out_rfd;
	}
	f.free_blocks = ext2fs_free_blocks_count(f.fs->super);
	f.free_inodes = f.fs->super->s_free_inodes_count;

	if (!o || !o->root_from_source) { /* the root as mke2fs made it (root_owner) */
		struct ext2_inode ri;
		if (!ext2fs_read_inode(f.fs, EXT2_ROOT_INO, &ri)) {
			st.st_mode = (st.st_mode & S_IFMT) | (ri.i_mode & 07777);
			st.st_uid = inode_uid(ri);
			st.st_gid = inode_gid(ri);
			st.st_atim = st.st_mtim = st.st_ctim =
			    (struct timespec){.tv_sec = (time_t)ri.i_mtime};
		}
	}
	bool skip_all = o && o->n_exclude > f.n_excl;
	r = fill_dir(&f, rfd, EXT2_ROOT_INO, EXT2_ROOT_INO, &st, skip_all, 0);
	rfd = -1;
	if (r == 0 && (r = stage_flush(&f)) < 0)
		r = xarch_err_sys(err, -r, "cannot write '%s'", path);
	if (r == 0)
		r = hl_finish(&f);
	if (r == -ENOSPC && f.nospace)
		r = report_nospace(&f, path);
	if (r == 0) {
		e = ext2fs_close2(f.fs, EXT2_FLAG_FLUSH_NO_SYNC);
		if (e)
			r = xarch_err(err, EIO, "cannot write the filesystem in '%s': %s", path,
				      error_message(e));
		else
			f.fs = NULL;
	}
out_rfd:
	if (rfd >= 0)
		close(rfd);
	fill_release(&f);
	return r;
}
