/* SPDX-License-Identifier: MIT */
#ifndef XARCH_SPAWN_H
#define XARCH_SPAWN_H

#include <stdbool.h>
#include <stddef.h>

#include "xarch/error.h"

/* Map a wait(2) status to a shell-style exit code: the exit status, or
 * 128+N for a child killed by signal N. */
int xarch_exit_code(int wstatus);

/* Run argv[0] (PATH-searched) with `envp` (NULL: the current environment),
 * forward SIGINT/SIGTERM/SIGHUP/SIGQUIT/SIGUSR1/SIGUSR2/SIGWINCH to it while
 * waiting, and store its wait status.  Returns 0 when it ran, -errno (with
 * a message) when it could not be started. */
int xarch_spawn_wait(const char *const argv[], const char *const envp[], int *ret_wstatus,
		     struct xarch_error *err);

/* Run argv[0] (PATH-searched) with `envp` (NULL: the current environment),
 * stdin from /dev/null and stderr discarded (or, `with_stderr`, captured
 * with stdout), capturing up to len-1 bytes of its output into buf
 * (NUL-terminated; the rest is read and dropped).  Stores the wait status.
 * Returns 0 when it ran, -errno when it could not be started. */
int xarch_spawn_output(const char *const argv[], const char *const envp[], bool with_stderr,
		       char *buf, size_t len, int *ret_wstatus,
		       struct xarch_error *err);

/* Quote argv shell-style for logs and error messages; a result that does
 * not fit ends in "...".  Returns buf. */
const char *xarch_argv_quote(const char *const argv[], char *buf, size_t len);

#endif
