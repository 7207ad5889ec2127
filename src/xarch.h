/* SPDX-License-Identifier: MIT */
/* The CLI's shared pieces: command signature, output helpers. */
#ifndef XARCH_CLI_H
#define XARCH_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <json-c/json.h>

#include "xarch/container.h"
#include "xarch/error.h"

#define EXIT_USAGE 2

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

int cmd_arch(int argc, char **argv);
int cmd_binfmt(int argc, char **argv);
int cmd_build(int argc, char **argv);
int cmd_board(int argc, char **argv);
int cmd_binfmt_status(int argc, char **argv);
int cmd_boot(int argc, char **argv);
int cmd_bootstrap(int argc, char **argv);
int cmd_doctor(int argc, char **argv);
int cmd_exec(int argc, char **argv);
int cmd_genimage(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_images(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_pull(int argc, char **argv);
int cmd_push(int argc, char **argv);
int cmd_rmi(int argc, char **argv);
int cmd_run(int argc, char **argv);

/* "xarch: <msg>" on stderr; returns 1 (the failure exit code). */
int die_err(const struct xarch_error *err, int r);
int die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* usage error: message + "try 'xarch CMD --help'", returns 2 */
int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Options of a query that takes only --json and --help.  Returns -1 to go
 * on (optind then points at the first operand), else the exit code. */
int parse_query_opts(int argc, char **argv, const char *cmd, void (*help)(void), bool *json);

/* Print a json object pretty to stdout, then drop it. */
void json_print(struct json_object *o);
/* json string or null */
struct json_object *json_str(const char *s);

/* "512 B", "3.1 MiB", "1.25 GiB" */
void format_size(uint64_t n, char *buf, size_t len);

/* A one-line progress meter on stderr, redrawn at most every 100 ms. */
struct meter {
	const char *what;
	struct timespec last;
	bool shown;
};
/* "WHAT: 3.1 MiB / 12.0 MiB (25%)"; total 0 when unknown */
void meter_bytes(struct meter *m, uint64_t done, uint64_t total);
/* end the line if anything was drawn */
void meter_done(struct meter *m);
/* the xarch_layer_opts / xarch_export_opts style callbacks */
void meter_cb(void *data, uint64_t done, uint64_t total);
/* the xarch_registry_opts callback: one line per blob */
void meter_blob_cb(void *data, const char *digest, uint64_t done, uint64_t total);

/* The library's note callback: info lines on stderr unless *(bool *)quiet,
 * warnings and errors as "xarch: ..." lines. */
void print_note(void *quiet, enum xarch_note_level level, const char *msg);

/* Are stdout/stderr terminals (for colour/progress)? */
bool is_tty(int fd);

#endif
