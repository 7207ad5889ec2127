/* SPDX-License-Identifier: MIT */
#ifndef XARCH_CONTAINER_H
#define XARCH_CONTAINER_H

/*
 * `xarch run`: a foreign-arch root filesystem as a container, without an
 * engine.  The command runs as PID 1 of new mount, pid, uts and ipc
 * namespaces (network too with XARCH_NET_NONE), pivot_root'ed into the
 * rootfs, foreign binaries executed by binfmt_misc (F flag) — the host's
 * registration, or a private one in the container's user namespace.
 */

#include <stdbool.h>
#include <stddef.h>

#include "xarch/arch.h"
#include "xarch/error.h"

enum xarch_net { XARCH_NET_HOST, XARCH_NET_NONE };

/* Who is PID 1.  A PID 1 ignores signals it has no handler for, and qemu
 * ends a guest killed by a signal by sending that signal to itself: as
 * PID 1 it would hang instead of dying.  So by default an emulated command
 * runs under a minimal init (forwards signals, reaps, exits with the
 * command's status as 128+N) and a native one is PID 1 itself. */
enum xarch_init { XARCH_INIT_AUTO, XARCH_INIT_YES, XARCH_INIT_NO };
enum xarch_note_level { XARCH_NOTE_INFO, XARCH_NOTE_WARN, XARCH_NOTE_ERROR };

struct xarch_volume {
	const char *source;	/* host path (file or directory) */
	const char *target;	/* path inside the rootfs, resolved inside it */
	bool readonly;
};

struct xarch_tmpfs {
	const char *target;	/* inside the rootfs */
	const char *options;	/* mount options ("size=64m,mode=1777"), may be NULL */
};

struct xarch_container_opts {
	const char *rootfs;		/* directory */
	const char *const *argv;	/* NULL or empty: the rootfs's shell */
	const char *const *env;		/* extra KEY=VALUE, NULL-terminated, may be NULL */
	const char *workdir;		/* NULL: the user's home, else "/" */
	const char *user;		/* -u spec, NULL: root */
	const char *hostname;		/* NULL: "xarch" */
	const struct xarch_volume *volumes;
	size_t n_volumes;
	const struct xarch_tmpfs *tmpfs;
	size_t n_tmpfs;
	enum xarch_net network;
	bool interactive;		/* -i: keep stdin */
	bool tty;			/* -t: a pty, window size forwarded */
	bool ephemeral;			/* writes go to a thrown-away overlay upper */
	bool readonly;			/* the rootfs mounted read-only */
	const char *arch;		/* --arch/--platform: expected arch, NULL: any */
	bool force_arch;		/* run even when the rootfs's arch differs */
	bool credential;		/* private binfmt registration with the C flag */
	const char *qemu_dir;		/* where qemu-*-static are, NULL: PATH */
	/* another arch the command starts binaries of (a native rootfs installing a
	 * foreign one: dnf --forcearch, rpm --root scriptlets); registered in the
	 * container's user namespace unless the host runs it.  NULL: none. */
	const char *emulate;
	bool verbose;			/* notes on stderr (mapping used, binfmt chosen) */
	enum xarch_init init;
	/* Where notes go (the library never prints): warnings always, info
	 * only with `verbose`, and the one-line error when the command itself
	 * could not be started (then the call returns 0 with exit status 127
	 * for "not found", 126 otherwise, like a shell).  NULL: dropped. */
	void (*note)(void *data, enum xarch_note_level level, const char *msg);
	void *note_data;
};

/* Run the container and wait for it; stores the command's wait status.
 * Signals sent to the caller (SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1/2,
 * SIGWINCH) are forwarded to PID 1.  Nothing stays mounted afterwards. */
int xarch_container_run(const struct xarch_container_opts *o, int *ret_wstatus,
			struct xarch_error *err);

#endif
