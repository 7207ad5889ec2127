/* SPDX-License-Identifier: MIT */
#ifndef XARCH_ERROR_H
#define XARCH_ERROR_H

/*
 * Library convention: functions return >= 0 on success and -errno on
 * failure.  Where the reason matters they also fill an optional error
 * object with a one-line, lowercase message that names the subject and,
 * when there is one, the fix.  The library never prints and never exits.
 */
struct xarch_error {
	int code;	/* positive errno, 0 when unset */
	char msg[512];
};

/* Record a message; returns -code so callers can `return xarch_err(...)`. */
int xarch_err(struct xarch_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Like xarch_err() but appends ": strerror(code)". */
int xarch_err_sys(struct xarch_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Append a hint (e.g. the fix) to an already recorded message. */
void xarch_err_hint(struct xarch_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
