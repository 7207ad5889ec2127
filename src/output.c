// SPDX-License-Identifier: MIT
#include <errno.h>
#include <getopt.h>
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

int parse_query_opts(int argc, char **argv, const char *cmd, void (*help)(void), bool *json)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;
	*json = false;
	opterr = 0;
	optind = 0; /* full re-initialisation: commands may parse twice */
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			*json = true;
			break;
		case 'h':
			help();
			return 0;
		default:
			return usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
		}
	}
	return -1;
}
