// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "xarch.h"

int die_err(const struct xarch_error *err, int r)
{
	if (err && err->code && err->msg[0])
		fprintf(stderr, "xarch: %s\n", err->msg);
	else
		fprintf(stderr, "xarch: %s\n", strerror(r < 0 ? -r : r));
	return 1;
}

int die(const char *fmt, ...)
{
	va_list ap;
	fputs("xarch: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

void warn(const char *fmt, ...)
{
	va_list ap;
	fputs("xarch: warning: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fputs("xarch: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\ntry 'xarch %s%s--help'\n", cmd ? cmd : "", cmd ? " " : "");
	return EXIT_USAGE;
}

void json_print(struct json_object *o)
{
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
						       JSON_C_TO_STRING_SPACED |
						       JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

struct json_object *json_str(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

bool is_tty(int fd)
{
	return isatty(fd) == 1;
}
