// SPDX-License-Identifier: MIT
/*
 * bmaptool's block map (format 2.0) for a sparse disk image: the XML lists
 * the runs of blocks that hold data, each with the SHA-256 of its bytes, so
 * `bmaptool copy` writes only those and verifies them.  The file's own
 * checksum is taken over the file with that field as 64 '0's, which is what
 * bmaptool recomputes.  The text is hashed as it is written and the field is
 * patched in place at the end, so memory stays constant.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "diskout-int.h"
#include "internal.h"
#include "xarch/diskout.h"

#define READ_CHUNK (1u << 20)

/* Buffered output that hashes every byte and knows its position. */
struct xmlout {
	int fd;
	int error; /* first -errno */
	uint64_t off;
	size_t n;
	struct xa_sha256 sha;
	char buf[16384];
};

static void out_flush(struct xmlout *o)
{
	if (o->n && !o->error)
		o->error = xa_write_all(o->fd, o->buf, o->n);
	o->n = 0;
}

static void __attribute__((format(printf, 2, 3))) out_printf(struct xmlout *o, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int len = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (len < 0 || (size_t)len >= sizeof(line)) {
		o->error = o->error ? o->error : -EOVERFLOW;
		return;
	}
	if (o->n + (size_t)len > sizeof(o->buf))
		out_flush(o);
	memcpy(o->buf + o->n, line, (size_t)len);
	xa_sha256_update(&o->sha, line, (size_t)len);
	o->n += (size_t)len;
	o->off += (uint64_t)len;
}

/* SHA-256 of [a, b) of the image, in hex. */
static int hash_range(int fd, uint64_t a, uint64_t b, char *buf, char hex[65])
{
	struct xa_sha256 c;
	xa_sha256_init(&c);
	while (a < b) {
		size_t want = b - a < READ_CHUNK ? (size_t)(b - a) : READ_CHUNK;
		ssize_t n = xa_pread_full(fd, buf, want, a);
		if (n < 0)
			return (int)n;
		if ((size_t)n < want)
			return -EIO; /* the image shrank under us */
		xa_sha256_update(&c, buf, want);
		a += want;
	}
	xa_sha256_hex(&c, hex);
	return 0;
}

static const char zeros64[] = "0000000000000000000000000000000000000000000000000000000000000000";

static int write_map(int fd, int out, const char *final, uint64_t size, uint32_t bs,
		     uint64_t *ret_mapped, struct xarch_error *err)
{
	struct xa_extents it;
	uint64_t a, b, blocks = 0, mapped = 0;
	int r = 0;

	/* first pass, extents only: MappedBlocksCount comes before the ranges */
	xa_extents_init(&it, fd, size, bs);
	while ((r = xa_extents_next(&it, &a, &b)) > 0) {
		blocks += (b - a + bs - 1) / bs;
		mapped += b - a;
	}
	if (r < 0)
		return xarch_err_sys(err, -r, "cannot find the data in the disk image");

	_cleanup_free_ struct xmlout *o = malloc(sizeof(*o));
	_cleanup_free_ char *buf = malloc(READ_CHUNK);
	if (!o || !buf)
		return xarch_err(err, ENOMEM, "out of memory");
	o->fd = out;
	o->error = 0;
	o->off = 0;
	o->n = 0;
	xa_sha256_init(&o->sha);

	out_printf(o, "<?xml version=\"1.0\" ?>\n"
		      "<!-- Block map of a disk image, written by xarch: the blocks that hold\n"
		      "     data.  `bmaptool copy` writes only these and checks their SHA-256;\n"
		      "     the other blocks read as zeros. -->\n");
	out_printf(o, "<bmap version=\"2.0\">\n");
	out_printf(o, "    <ImageSize> %" PRIu64 " </ImageSize>\n", size);
	out_printf(o, "    <BlockSize> %" PRIu32 " </BlockSize>\n", bs);
	out_printf(o, "    <BlocksCount> %" PRIu64 " </BlocksCount>\n", (size + bs - 1) / bs);
	out_printf(o, "    <MappedBlocksCount> %" PRIu64 " </MappedBlocksCount>\n", blocks);
	out_printf(o, "    <ChecksumType> sha256 </ChecksumType>\n");
	out_printf(o, "    <BmapFileChecksum> ");
	uint64_t sum_off = o->off;
	out_printf(o, "%s </BmapFileChecksum>\n", zeros64);
	out_printf(o, "    <BlockMap>\n");

	uint64_t blocks2 = 0;
	xa_extents_init(&it, fd, size, bs);
	while (!o->error && (r = xa_extents_next(&it, &a, &b)) > 0) {
		char hex[65];
		uint64_t first = a / bs, last = (b - 1) / bs;
		if ((r = hash_range(fd, a, b, buf, hex)) < 0)
			return xarch_err_sys(err, -r, "cannot read the disk image");
		if (first == last)
			out_printf(o, "        <Range chksum=\"%s\"> %" PRIu64 " </Range>\n", hex,
				   first);
		else
			out_printf(
			    o, "        <Range chksum=\"%s\"> %" PRIu64 "-%" PRIu64 " </Range>\n",
			    hex, first, last);
		blocks2 += last - first + 1;
	}
	if (r < 0)
		return xarch_err_sys(err, -r, "cannot find the data in the disk image");
	if (blocks2 != blocks)
		return xarch_err(err, EAGAIN,
				 "the disk image changed while its block map was written");
	out_printf(o, "    </BlockMap>\n</bmap>\n");
	out_flush(o);
	if (o->error)
		return xarch_err_sys(err, -o->error, "cannot write '%s'", final);

	char hex[65];
	xa_sha256_hex(&o->sha, hex);
	ssize_t w = pwrite(out, hex, 64, (off_t)sum_off);
	if (w != 64)
		return xarch_err_sys(err, w < 0 ? errno : EIO, "cannot write '%s'", final);
	*ret_mapped = mapped;
	return 0;
}

int xarch_bmap_write(int fd, const char *out_path, uint32_t block_size,
		     struct xarch_diskout_stats *ret_st, struct xarch_error *err)
{
	uint64_t size, mapped = 0;
	char tmp[PATH_MAX];
	int r;

	if ((r = xa_diskout_block_size(&block_size, err)) < 0 ||
	    (r = xa_diskout_image_size(fd, &size, err)) < 0)
		return r;
	if (size == 0)
		return xarch_err(err, EINVAL,
				 "'%s': the disk image is empty, bmaptool cannot use "
				 "a block map of no blocks",
				 out_path);
	int out = xa_diskout_open_tmp(out_path, tmp, err);
	if (out < 0)
		return out;
	off_t saved = lseek(fd, 0, SEEK_CUR);
	r = write_map(fd, out, out_path, size, block_size, &mapped, err);
	if (saved >= 0)
		lseek(fd, saved, SEEK_SET); /* SEEK_DATA moved it */
	if (r < 0) {
		close(out);
		unlink(tmp);
		return r;
	}
	off_t out_size = lseek(out, 0, SEEK_END);
	if ((r = xa_diskout_commit(out, tmp, out_path, err)) < 0)
		return r;
	if (ret_st) {
		struct xarch_diskout_stats s = {0};
		struct stat st;
		if (fstat(fd, &st) == 0)
			s.allocated = (uint64_t)st.st_blocks * 512;
		s.size = size;
		s.mapped = mapped;
		s.out_size = out_size > 0 ? (uint64_t)out_size : 0;
		*ret_st = s;
	}
	return 0;
}
