// SPDX-License-Identifier: MIT
#include <stdarg.h>
#include <stdio.h>
#include <stdbool.h>
#include <string.h>

#include "xarch/error.h"

static int verr(struct xarch_error *err, int code, bool sys, const char *fmt, va_list ap)
{
	if (code < 0)
		code = -code;
	if (err) {
		err->code = code;
		int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		if (sys && n >= 0 && (size_t)n < sizeof(err->msg))
			snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(code));
	}
	return -code;
}

int xarch_err(struct xarch_error *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = verr(err, code, false, fmt, ap);
	va_end(ap);
	return r;
}

int xarch_err_sys(struct xarch_error *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = verr(err, code, true, fmt, ap);
	va_end(ap);
	return r;
}

void xarch_err_hint(struct xarch_error *err, const char *fmt, ...)
{
	if (!err)
		return;
	size_t n = strlen(err->msg);
	if (n + 3 >= sizeof(err->msg))
		return;
	memcpy(err->msg + n, "; ", 2);
	n += 2;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg + n, sizeof(err->msg) - n, fmt, ap);
	va_end(ap);
}
