// SPDX-License-Identifier: MIT
/*
 * Android sparse images (the format of AOSP's libsparse, version 1.0), as
 * fastboot flashes them and simg2img expands them.  A 28-byte file header,
 * then chunks, each a 12-byte header and its payload:
 *   RAW       the blocks themselves
 *   FILL      one 32-bit value that repeats over the blocks
 *   DONT_CARE nothing: the target keeps what it had
 * All fields are little-endian.  Holes of the image become DONT_CARE
 * without being read; data blocks are read once and each one is either FILL
 * (zeros are the usual case) or RAW.  Chunk and file headers are written as
 * placeholders and patched when their counts are known, so memory does not
 * grow with the image.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diskout-int.h"
#include "internal.h"
#include "xarch/diskout.h"

#define SIMG_MAGIC	0xed26ff3au
#define SIMG_FILE_HDR	28
#define SIMG_CHUNK_HDR	12
#define CHUNK_RAW	0xCAC1
#define CHUNK_FILL	0xCAC2
#define CHUNK_DONT_CARE 0xCAC3

#define BUF_SIZE (1u << 20)
/* RAW chunks are cut at 64 MiB: a reader that buffers a whole chunk (some
 * bootloaders do) stays small, at 12 bytes per cut. */
#define RAW_CHUNK_MAX (64u << 20)

struct simg {
	int out;
	int error; /* first -errno */
	uint32_t bs;
	uint32_t max_raw; /* blocks */
	uint32_t chunks;
	uint64_t off; /* bytes written so far, buffered ones included */
	/* the chunk being built */
	uint16_t type; /* 0: none */
	uint32_t blocks;
	uint64_t hdr_off; /* RAW: where its header placeholder is */
	uint8_t fill[4];
	/* output buffer: wbuf[0] goes to file offset off - wn */
	size_t wn;
	uint8_t *wbuf;
};

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

static void flush(struct simg *s)
{
	if (s->wn && !s->error)
		s->error = xa_write_all(s->out, s->wbuf, s->wn);
	s->wn = 0;
}

static void put(struct simg *s, const void *p, size_t len)
{
	if (s->wn + len > BUF_SIZE)
		flush(s);
	if (len >= BUF_SIZE) {
		if (!s->error)
			s->error = xa_write_all(s->out, p, len);
	} else {
		memcpy(s->wbuf + s->wn, p, len);
		s->wn += len;
	}
	s->off += len;
}

/* Overwrite bytes written earlier, in the buffer or in the file. */
static void patch(struct simg *s, uint64_t at, const void *p, size_t len)
{
	uint64_t base = s->off - s->wn;
	if (at >= base) {
		memcpy(s->wbuf + (at - base), p, len);
		return;
	}
	flush(s); /* a header may straddle the flushed part and the buffer */
	if (!s->error && pwrite(s->out, p, len, (off_t)at) != (ssize_t)len)
		s->error = errno ? -errno : -EIO;
}

static void chunk_header(uint8_t h[SIMG_CHUNK_HDR], uint16_t type, uint32_t blocks, uint32_t total)
{
	put_le16(h, type);
	put_le16(h + 2, 0);
	put_le32(h + 4, blocks);
	put_le32(h + 8, total);
}

static void chunk_close(struct simg *s)
{
	uint8_t h[SIMG_CHUNK_HDR + 4];
	switch (s->type) {
	case CHUNK_RAW:
		chunk_header(h, CHUNK_RAW, s->blocks, SIMG_CHUNK_HDR + s->blocks * s->bs);
		patch(s, s->hdr_off, h, SIMG_CHUNK_HDR);
		break;
	case CHUNK_FILL:
		chunk_header(h, CHUNK_FILL, s->blocks, SIMG_CHUNK_HDR + 4);
		memcpy(h + SIMG_CHUNK_HDR, s->fill, 4);
		put(s, h, SIMG_CHUNK_HDR + 4);
		break;
	case CHUNK_DONT_CARE:
		chunk_header(h, CHUNK_DONT_CARE, s->blocks, SIMG_CHUNK_HDR);
		put(s, h, SIMG_CHUNK_HDR);
		break;
	default:
		return;
	}
	s->chunks++;
	s->type = 0;
}

static void chunk_start(struct simg *s, uint16_t type, const uint8_t *fill)
{
	static const uint8_t placeholder[SIMG_CHUNK_HDR];
	chunk_close(s);
	s->type = type;
	s->blocks = 0;
	if (fill)
		memcpy(s->fill, fill, 4);
	if (type == CHUNK_RAW) {
		s->hdr_off = s->off;
		put(s, placeholder, SIMG_CHUNK_HDR);
	}
}

static void add_raw(struct simg *s, const uint8_t *p, uint32_t n)
{
	while (n > 0) {
		if (s->type != CHUNK_RAW || s->blocks == s->max_raw)
			chunk_start(s, CHUNK_RAW, NULL);
		uint32_t k = s->max_raw - s->blocks;
		if (k > n)
			k = n;
		put(s, p, (size_t)k * s->bs);
		s->blocks += k;
		p += (size_t)k * s->bs;
		n -= k;
	}
}

/* n blocks of FILL (with fill) or DONT_CARE (fill NULL), merged with the
 * chunk before when it is the same. */
static void add_run(struct simg *s, const uint8_t *fill, uint64_t n)
{
	uint16_t type = fill ? CHUNK_FILL : CHUNK_DONT_CARE;
	while (n > 0) {
		if (s->type != type || (fill && memcmp(s->fill, fill, 4) != 0) ||
		    s->blocks == UINT32_MAX)
			chunk_start(s, type, fill);
		uint64_t k = UINT32_MAX - s->blocks;
		if (k > n)
			k = n;
		s->blocks += (uint32_t)k;
		n -= k;
	}
}

static void add_holes(struct simg *s, uint64_t n, unsigned flags)
{
	static const uint8_t zero[4];
	add_run(s, (flags & XARCH_SIMG_ZERO_HOLES) ? zero : NULL, n);
}

/* Blocks of data: runs of RAW, with the blocks that repeat their first
 * 32-bit word (p[0..bs-4) == p[4..bs)) cut out as FILL. */
static void add_data(struct simg *s, const uint8_t *p, uint32_t nblocks)
{
	uint32_t raw_from = 0;
	for (uint32_t i = 0; i < nblocks; i++) {
		const uint8_t *b = p + (size_t)i * s->bs;
		if (memcmp(b, b + 4, s->bs - 4) != 0)
			continue;
		add_raw(s, p + (size_t)raw_from * s->bs, i - raw_from);
		add_run(s, b, 1);
		raw_from = i + 1;
	}
	add_raw(s, p + (size_t)raw_from * s->bs, nblocks - raw_from);
}

static int write_simg(int fd, struct simg *s, const char *final, uint64_t size, unsigned flags,
		      uint64_t *ret_mapped, struct xarch_error *err)
{
	uint64_t bs = s->bs, total = (size + bs - 1) / bs, pos = 0, a, b, mapped = 0;
	struct xa_extents it;
	int r = 0;

	_cleanup_free_ uint8_t *in = malloc(BUF_SIZE);
	if (!in)
		return xarch_err(err, ENOMEM, "out of memory");

	static const uint8_t placeholder[SIMG_FILE_HDR];
	put(s, placeholder, SIMG_FILE_HDR);

	xa_extents_init(&it, fd, size, bs);
	while (!s->error && (r = xa_extents_next(&it, &a, &b)) > 0) {
		if (a > pos)
			add_holes(s, (a - pos) / bs, flags);
		mapped += b - a;
		for (uint64_t off = a; off < b;) {
			size_t want = b - off < BUF_SIZE ? (size_t)(b - off) : BUF_SIZE;
			ssize_t n = xa_pread_full(fd, in, want, off);
			if (n < 0)
				return xarch_err_sys(err, (int)-n, "cannot read the disk image");
			if ((size_t)n < want)
				return xarch_err(err, EAGAIN,
						 "the disk image shrank while it was read");
			/* the last block of an image that is not whole blocks */
			size_t padded = (want + bs - 1) / bs * bs;
			memset(in + want, 0, padded - want);
			add_data(s, in, (uint32_t)(padded / bs));
			off += want;
		}
		pos = (b + bs - 1) / bs * bs;
	}
	if (r < 0)
		return xarch_err_sys(err, -r, "cannot find the data in the disk image");
	if (pos / bs < total)
		add_holes(s, total - pos / bs, flags);
	chunk_close(s);

	uint8_t h[SIMG_FILE_HDR];
	put_le32(h, SIMG_MAGIC);
	put_le16(h + 4, 1); /* major version */
	put_le16(h + 6, 0); /* minor version */
	put_le16(h + 8, SIMG_FILE_HDR);
	put_le16(h + 10, SIMG_CHUNK_HDR);
	put_le32(h + 12, s->bs);
	put_le32(h + 16, (uint32_t)total);
	put_le32(h + 20, s->chunks);
	put_le32(h + 24, 0); /* no image checksum */
	patch(s, 0, h, sizeof(h));
	flush(s);
	if (s->error)
		return xarch_err_sys(err, -s->error, "cannot write '%s'", final);
	*ret_mapped = mapped;
	return 0;
}

int xarch_simg_write(int fd, const char *out_path, uint32_t block_size, unsigned flags,
		     struct xarch_diskout_stats *ret_st, struct xarch_error *err)
{
	uint64_t size, mapped = 0;
	char tmp[PATH_MAX];
	int r;

	if ((r = xa_diskout_block_size(&block_size, err)) < 0 ||
	    (r = xa_diskout_image_size(fd, &size, err)) < 0)
		return r;
	if ((size + block_size - 1) / block_size > UINT32_MAX)
		return xarch_err(err, EFBIG,
				 "disk image of %llu bytes: too large for an Android sparse image "
				 "of %u-byte blocks (at most 2^32 - 1 blocks)",
				 (unsigned long long)size, block_size);

	_cleanup_free_ struct simg *s = calloc(1, sizeof(*s));
	_cleanup_free_ uint8_t *wbuf = malloc(BUF_SIZE);
	if (!s || !wbuf)
		return xarch_err(err, ENOMEM, "out of memory");
	s->wbuf = wbuf;
	s->bs = block_size;
	s->max_raw = RAW_CHUNK_MAX / block_size;

	int out = xa_diskout_open_tmp(out_path, tmp, err);
	if (out < 0)
		return out;
	s->out = out;
	off_t saved = lseek(fd, 0, SEEK_CUR);
	r = write_simg(fd, s, out_path, size, flags, &mapped, err);
	if (saved >= 0)
		lseek(fd, saved, SEEK_SET); /* SEEK_DATA moved it */
	if (r < 0) {
		close(out);
		unlink(tmp);
		return r;
	}
	if ((r = xa_diskout_commit(out, tmp, out_path, err)) < 0)
		return r;
	if (ret_st) {
		struct xarch_diskout_stats st = {
		    .size = size, .mapped = mapped, .out_size = s->off};
		struct stat sb;
		if (fstat(fd, &sb) == 0)
			st.allocated = (uint64_t)sb.st_blocks * 512;
		*ret_st = st;
	}
	return 0;
}
