/* SPDX-License-Identifier: MIT */
#ifndef XARCH_DOCTOR_H
#define XARCH_DOCTOR_H

#include <stddef.h>

enum xarch_check_level {
	XARCH_CHECK_OK,
	XARCH_CHECK_INFO,
	XARCH_CHECK_WARN, /* a later workflow will not work */
	XARCH_CHECK_FAIL, /* the common workflows are blocked */
};

struct xarch_check {
	char id[48]; /* stable, e.g. "binfmt.mounted" */
	enum xarch_check_level level;
	char summary[256];
	char fix[512]; /* the exact command or step; "" when ok */
};

/* Run every host check; the array is malloc'ed.  Reads only: nothing is
 * mounted, registered or written (tests that need a namespace or a
 * changed identity run in a short-lived child).  Returns 0 or -ENOMEM. */
int xarch_doctor_run(struct xarch_check **ret, size_t *ret_n);

/* "ok", "info", "warn", "FAIL" */
const char *xarch_check_level_name(enum xarch_check_level level);

/* The highest level in the array (XARCH_CHECK_OK when empty). */
enum xarch_check_level xarch_doctor_worst(const struct xarch_check *c, size_t n);

#endif
