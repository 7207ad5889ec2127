/* SPDX-License-Identifier: MIT */
/* A tiny table-test harness: one "ok"/"not ok" line per check, a summary
 * line at the end; the exit code is 1 when anything failed. */
#ifndef XARCH_TEST_CHECK_H
#define XARCH_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_passed, check_failed;

#define CHECK(cond, ...)                                                   \
	do {                                                               \
		if (cond) {                                                \
			check_passed++;                                    \
			printf("ok - ");                                   \
		} else {                                                   \
			check_failed++;                                    \
			printf("not ok - %s:%d: (%s) ", __FILE__, __LINE__, #cond); \
		}                                                          \
		printf(__VA_ARGS__);                                       \
		putchar('\n');                                             \
	} while (0)

#define CHECK_STR(a, b, ...)                                                          \
	do {                                                                          \
		const char *_a = (a), *_b = (b);                                      \
		bool _ok = (_a && _b && strcmp(_a, _b) == 0) || (!_a && !_b);         \
		CHECK(_ok, __VA_ARGS__);                                              \
		if (!_ok)                                                             \
			printf("#   got '%s', want '%s'\n", _a ? _a : "(null)",       \
			       _b ? _b : "(null)");                                   \
	} while (0)

#define CHECK_INT(a, b, ...)                                                     \
	do {                                                                     \
		long long _a = (long long)(a), _b = (long long)(b);              \
		CHECK(_a == _b, __VA_ARGS__);                                    \
		if (_a != _b)                                                    \
			printf("#   got %lld, want %lld\n", _a, _b);             \
	} while (0)

#define SKIP(...)                       \
	do {                            \
		printf("skip - ");      \
		printf(__VA_ARGS__);    \
		putchar('\n');          \
	} while (0)

static inline int check_done(void)
{
	printf("# %d passed, %d failed\n", check_passed, check_failed);
	return check_failed ? 1 : 0;
}

#endif
