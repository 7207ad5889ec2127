/* SPDX-License-Identifier: MIT */
/* Private helpers shared by the library's files. */
#ifndef XARCH_INTERNAL_H
#define XARCH_INTERNAL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include "xarch/error.h"

static inline void freep(void *p)
{
	free(*(void **)p);
}
static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}
static inline void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}
static inline void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

#define _cleanup_free_ __attribute__((cleanup(freep)))
#define _cleanup_close_ __attribute__((cleanup(closep)))
#define _cleanup_fclose_ __attribute__((cleanup(fclosep)))
#define _cleanup_closedir_ __attribute__((cleanup(closedirp)))

/* Hand ownership out of a cleanup variable. */
#define TAKE_PTR(p)                        \
	({                                 \
		__typeof__(p) _tp_ = (p);  \
		(p) = NULL;                \
		_tp_;                      \
	})
#define TAKE_FD(fd)                 \
	({                          \
		int _tf_ = (fd);    \
		(fd) = -1;          \
		_tf_;               \
	})

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Read the rest of an fd, NUL-terminated; -EFBIG past `max` bytes. */
int xa_read_fd(int fd, size_t max, char **ret, size_t *ret_len);

/* Read a whole (small) file, NUL-terminated; `max` bounds the size. */
int xa_read_file(const char *path, size_t max, char **ret, size_t *ret_len,
		 struct xarch_error *err);
int xa_read_file_at(int dirfd, const char *path, size_t max, char **ret, size_t *ret_len,
		    struct xarch_error *err);

/* Write `len` bytes to an existing file (procfs/sysfs style, one write). */
int xa_write_existing(const char *path, const void *buf, size_t len);

/* Write a file atomically: temp name in the same directory, fsync, rename. */
int xa_write_atomic(const char *path, const void *buf, size_t len, mode_t mode,
		    struct xarch_error *err);

/* Search PATH (or `path_env` when not NULL) for an executable; writes the
 * full path into buf.  Returns 0 or -ENOENT. */
int xa_find_in_path(const char *name, const char *path_env, char *buf, size_t len);

/* snprintf that reports truncation as -ENAMETOOLONG. */
int xa_snprintf(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* strlcpy-like, returns -ENAMETOOLONG on truncation. */
int xa_strcpy(char *dst, size_t len, const char *src);

#include <string.h>

static inline bool xa_ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* CLOCK_MONOTONIC, in seconds and in milliseconds. */
static inline double xa_now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline int64_t xa_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* mkdir -p on the host: every missing component of `path` with `mode`;
 * 0 or -errno (-ENAMETOOLONG beyond PATH_MAX). */
int xa_mkdir_p(const char *path, mode_t mode);

/* Remove `name` under `pfd` and everything below it (no symlink is
 * followed); 0, or -errno of the first failure. */
int xa_rm_rf_at(int pfd, const char *name);

/* Is the file a statically linked ELF (no PT_INTERP)?  1 yes, 0 no, <0 error. */
int xa_is_static_elf(const char *path);

#endif
