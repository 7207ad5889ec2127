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
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
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
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
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

void format_size(uint64_t n, char *buf, size_t len)
{
	if (n < 1024)
		snprintf(buf, len, "%llu B", (unsigned long long)n);
	else if (n < (1u << 20))
		snprintf(buf, len, "%.1f KiB", (double)n / 1024);
	else if (n < (1ull << 30))
		snprintf(buf, len, "%.1f MiB", (double)n / (1 << 20));
	else
		snprintf(buf, len, "%.2f GiB", (double)n / (1 << 30));
}

void meter_bytes(struct meter *m, uint64_t done, uint64_t total)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long ms = (now.tv_sec - m->last.tv_sec) * 1000 + (now.tv_nsec - m->last.tv_nsec) / 1000000;
	if (m->shown && ms < 100 && (!total || done < total))
		return;
	m->last = now;
	m->shown = true;
	char d[32], t[32];
	format_size(done, d, sizeof(d));
	if (total) {
		format_size(total, t, sizeof(t));
		fprintf(stderr, "\r%s: %s / %s (%u%%)\033[K", m->what, d, t,
			(unsigned)(done >= total ? 100 : done * 100 / total));
	} else {
		fprintf(stderr, "\r%s: %s\033[K", m->what, d);
	}
}

void meter_done(struct meter *m)
{
	if (m->shown)
		fputc('\n', stderr);
	m->shown = false;
}

void meter_cb(void *data, uint64_t done, uint64_t total)
{
	meter_bytes(data, done, total);
}

/* registry transfers: a meter line per blob, then the label is what it
 * was again (pull: the source, for the unpacking that follows) */
void meter_blob_cb(void *data, const char *digest, uint64_t done, uint64_t total)
{
	static char what[40];
	static const char *label;
	struct meter *m = data;
	if (m->what != what) {
		label = m->what;
		snprintf(what, sizeof(what), "blob %.19s", digest);
		m->what = what;
	}
	meter_bytes(m, done, total);
	if (total && done >= total) {
		meter_done(m);
		m->what = label;
	}
}

void print_note(void *quiet, enum xarch_note_level level, const char *msg)
{
	if (level == XARCH_NOTE_INFO && quiet && *(bool *)quiet)
		return;
	if (level == XARCH_NOTE_INFO)
		fprintf(stderr, "%s\n", msg);
	else
		fprintf(stderr, "xarch: %s%s\n", level == XARCH_NOTE_WARN ? "warning: " : "", msg);
}
