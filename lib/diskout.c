// SPDX-License-Identifier: MIT
/*
 * The part the disk image outputs share: walking a file's data with
 * SEEK_DATA/SEEK_HOLE (holes are never read, so a mostly empty 10 GiB image
 * costs what its data costs), the size figures, and the temp file that is
 * renamed into place only when complete.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diskout-int.h"
#include "internal.h"
#include "xarch/diskout.h"

void xa_extents_init(struct xa_extents *it, int fd, uint64_t size, uint64_t bs)
{
	*it = (struct xa_extents){.fd = fd, .size = size, .bs = bs ? bs : 1};
}

/* The first data offset at or after `from`: 1 found, 0 none, -errno. */
static int seek_data(struct xa_extents *it, uint64_t from, uint64_t *ret)
{
	if (it->all_data) {
		*ret = from;
		return 1;
	}
	off_t o = lseek(it->fd, (off_t)from, SEEK_DATA);
	if (o < 0 && errno == ENXIO)
		return 0;
	if (o < 0 && errno == EINVAL && from == 0) {
		/* no SEEK_DATA here (some FUSE filesystems): all of it is data */
		it->all_data = true;
		*ret = from;
		return 1;
	}
	if (o < 0)
		return -errno;
	*ret = (uint64_t)o;
	return *ret < it->size;
}

/* The end of the data extent that holds `from`. */
static int seek_hole(struct xa_extents *it, uint64_t from, uint64_t *ret)
{
	if (it->all_data) {
		*ret = it->size;
		return 0;
	}
	off_t o = lseek(it->fd, (off_t)from, SEEK_HOLE);
	if (o < 0)
		return -errno;
	*ret = (uint64_t)o < it->size ? (uint64_t)o : it->size;
	return 0;
}

static uint64_t block_end(const struct xa_extents *it, uint64_t off)
{
	uint64_t e = (off + it->bs - 1) / it->bs * it->bs;
	return e < it->size ? e : it->size;
}

int xa_extents_next(struct xa_extents *it, uint64_t *ret_start, uint64_t *ret_end)
{
	uint64_t d, h = 0;
	int r;
	if (it->pos >= it->size)
		return 0;
	if ((r = seek_data(it, it->pos, &d)) <= 0) {
		it->pos = it->size;
		return r;
	}
	uint64_t start = d / it->bs * it->bs, end;
	if ((r = seek_hole(it, d, &h)) < 0)
		return r;
	end = block_end(it, h);
	/* the next extent may begin inside the block this one ends in */
	while (end < it->size) {
		if ((r = seek_data(it, h, &d)) < 0)
			return r;
		if (r == 0 || d >= end)
			break;
		if ((r = seek_hole(it, d, &h)) < 0)
			return r;
		if (block_end(it, h) > end)
			end = block_end(it, h);
	}
	it->pos = end;
	*ret_start = start;
	*ret_end = end;
	return 1;
}

int xa_diskout_block_size(uint32_t *bs, struct xarch_error *err)
{
	if (*bs == 0)
		*bs = XARCH_DISKOUT_BLOCK_SIZE;
	if (*bs < 512 || *bs > (1u << 20) || (*bs & (*bs - 1)))
		return xarch_err(err, EINVAL,
				 "block size %u: must be a power of two from 512 to 1048576", *bs);
	return 0;
}

int xa_diskout_image_size(int fd, uint64_t *ret_size, struct xarch_error *err)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return xarch_err_sys(err, errno, "cannot stat the disk image");
	if (!S_ISREG(st.st_mode))
		return xarch_err(err, EINVAL, "the disk image is not a regular file");
	*ret_size = (uint64_t)st.st_size;
	return 0;
}

int xa_diskout_open_tmp(const char *final, char *tmp, struct xarch_error *err)
{
	if (xa_snprintf(tmp, PATH_MAX, "%s.tmp-XXXXXX", final) < 0)
		return xarch_err(err, ENAMETOOLONG, "'%s': path too long", final);
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return xarch_err_sys(err, errno, "cannot write '%s'", final);
	if (fchmod(fd, 0644) < 0) {
		int e = errno;
		close(fd);
		unlink(tmp);
		return xarch_err_sys(err, e, "cannot write '%s'", final);
	}
	return fd;
}

int xa_diskout_commit(int fd, const char *tmp, const char *final, struct xarch_error *err)
{
	int e = 0;
	if (fsync(fd) < 0)
		e = errno;
	if (close(fd) < 0 && !e)
		e = errno;
	if (!e && rename(tmp, final) < 0)
		e = errno;
	if (e) {
		unlink(tmp);
		return xarch_err_sys(err, e, "cannot write '%s'", final);
	}
	return 0;
}

int xa_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

ssize_t xa_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	size_t n = 0;
	while (n < len) {
		ssize_t r = pread(fd, (char *)buf + n, len - n, (off_t)(off + n));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		n += (size_t)r;
	}
	return (ssize_t)n;
}

int xarch_diskout_stats(int fd, struct xarch_diskout_stats *ret, struct xarch_error *err)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return xarch_err_sys(err, errno, "cannot stat the disk image");
	if (!S_ISREG(st.st_mode))
		return xarch_err(err, EINVAL, "the disk image is not a regular file");
	struct xarch_diskout_stats s = {.size = (uint64_t)st.st_size,
					.allocated = (uint64_t)st.st_blocks * 512};
	struct xa_extents it;
	uint64_t a, b;
	int r;
	off_t saved = lseek(fd, 0, SEEK_CUR);
	xa_extents_init(&it, fd, s.size, 1);
	while ((r = xa_extents_next(&it, &a, &b)) > 0)
		s.mapped += b - a;
	if (saved >= 0)
		lseek(fd, saved, SEEK_SET);
	if (r < 0)
		return xarch_err_sys(err, -r, "cannot find the data in the disk image");
	*ret = s;
	return 0;
}
