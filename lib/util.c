// SPDX-License-Identifier: MIT
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"
#include "xarch/elf.h"

int xa_read_fd(int fd, size_t max, char **ret, size_t *ret_len)
{
	size_t cap = 4096, n = 0;
	_cleanup_free_ char *buf = malloc(cap + 1);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (n == cap) {
			if (cap >= max)
				return -EFBIG;
			cap = cap > max / 2 ? max : cap * 2;
			char *nb = realloc(buf, cap + 1);
			if (!nb)
				return -ENOMEM;
			buf = nb;
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	if (ret_len)
		*ret_len = n;
	*ret = TAKE_PTR(buf);
	return 0;
}

int xa_read_file_at(int dirfd, const char *path, size_t max, char **ret, size_t *ret_len,
		    struct xarch_error *err)
{
	_cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return xarch_err_sys(err, errno, "cannot open '%s'", path);
	int r = xa_read_fd(fd, max, ret, ret_len);
	if (r == -EFBIG)
		return xarch_err(err, EFBIG, "'%s' is larger than %zu bytes", path, max);
	if (r == -ENOMEM)
		return xarch_err(err, ENOMEM, "out of memory");
	if (r < 0)
		return xarch_err_sys(err, -r, "cannot read '%s'", path);
	return 0;
}

int xa_read_file(const char *path, size_t max, char **ret, size_t *ret_len, struct xarch_error *err)
{
	return xa_read_file_at(AT_FDCWD, path, max, ret, ret_len, err);
}

int xa_write_existing(const char *path, const void *buf, size_t len)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t r = write(fd, buf, len);
	if (r < 0)
		return -errno;
	if ((size_t)r != len)
		return -EIO;
	return 0;
}

int xa_write_atomic(const char *path, const void *buf, size_t len, mode_t mode,
		    struct xarch_error *err)
{
	char tmp[4096];
	if (xa_snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) < 0)
		return xarch_err(err, ENAMETOOLONG, "path too long: '%s'", path);
	_cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return xarch_err_sys(err, errno, "cannot create '%s'", tmp);
	const char *p = buf;
	size_t left = len;
	while (left > 0) {
		ssize_t r = write(fd, p, left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			unlink(tmp);
			return xarch_err_sys(err, e, "cannot write '%s'", tmp);
		}
		p += r;
		left -= (size_t)r;
	}
	if (fchmod(fd, mode) < 0 || fsync(fd) < 0 || rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		return xarch_err_sys(err, e, "cannot write '%s'", path);
	}
	return 0;
}

int xa_find_in_path(const char *name, const char *path_env, char *buf, size_t len)
{
	if (strchr(name, '/')) {
		if (access(name, X_OK) != 0)
			return -ENOENT;
		return xa_strcpy(buf, len, name);
	}
	if (!path_env)
		path_env = getenv("PATH");
	if (!path_env || !*path_env)
		path_env = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	const char *p = path_env;
	while (*p) {
		const char *colon = strchrnul(p, ':');
		int n = (int)(colon - p);
		if (n > 0 && xa_snprintf(buf, len, "%.*s/%s", n, p, name) == 0) {
			struct stat st;
			if (stat(buf, &st) == 0 && S_ISREG(st.st_mode) && access(buf, X_OK) == 0)
				return 0;
		}
		p = *colon ? colon + 1 : colon;
	}
	return -ENOENT;
}

int xa_snprintf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= len)
		return -ENAMETOOLONG;
	return 0;
}

int xa_strcpy(char *dst, size_t len, const char *src)
{
	size_t n = strlen(src);
	if (n >= len) {
		if (len) {
			memcpy(dst, src, len - 1);
			dst[len - 1] = '\0';
		}
		return -ENAMETOOLONG;
	}
	memcpy(dst, src, n + 1);
	return 0;
}

int xa_is_static_elf(const char *path)
{
	struct xarch_elf_info info;
	int r = xarch_elf_parse_head_file(path, &info, NULL);
	if (r < 0)
		return r;
	r = info.interp == NULL;
	xarch_elf_info_release(&info);
	return r;
}

int xa_mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	if (xa_strcpy(buf, sizeof(buf), path) < 0)
		return -ENAMETOOLONG;
	for (char *s = buf + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}
