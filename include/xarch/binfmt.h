/* SPDX-License-Identifier: MIT */
#ifndef XARCH_BINFMT_H
#define XARCH_BINFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xarch/arch.h"
#include "xarch/error.h"

#define XARCH_BINFMT_DIR "/proc/sys/fs/binfmt_misc"
#define XARCH_BINFMT_MAX 256	/* BINPRM_BUF_SIZE: offset + magic length fit in it */
#define XARCH_BINFMT_PREFIX "xarch-"

/* One binfmt_misc rule, as registered or as read back from the kernel. */
struct xarch_binfmt_rule {
	char name[64];
	char type;		/* 'M' magic or 'E' extension */
	bool enabled;
	unsigned offset;
	size_t len;		/* bytes in magic (and mask) */
	uint8_t magic[XARCH_BINFMT_MAX];
	uint8_t mask[XARCH_BINFMT_MAX]; /* all 0xff when the rule had none */
	char extension[64];	/* type 'E' */
	char interpreter[4096];
	char flags[8];		/* subset of "POCF", in that order */
};

/* Parse a register line ":name:type:offset:magic:mask:interp:flags" (the
 * format of binfmt.d files and the `register` file). */
int xarch_binfmt_parse_line(const char *line, struct xarch_binfmt_rule *ret,
			    struct xarch_error *err);

/* Format a rule as a register line (escaping as \xHH); returns length or
 * -ENOSPC. */
int xarch_binfmt_format_line(const struct xarch_binfmt_rule *r, char *buf, size_t len);

/* Parse the text of a live entry (/proc/sys/fs/binfmt_misc/NAME). */
int xarch_binfmt_parse_entry(const char *name, const char *text,
			     struct xarch_binfmt_rule *ret, struct xarch_error *err);

/* The kernel's test: (header[offset+i] & mask[i]) == magic[i] for all i.
 * `hdr_len` is how many bytes of the file were read (short files never
 * match a longer magic).  Extension rules match on `path`'s suffix. */
bool xarch_binfmt_matches(const struct xarch_binfmt_rule *r, const char *path,
			  const uint8_t *hdr, size_t hdr_len);

/* The rule xarch registers for `a` (name xarch-<arch>). */
void xarch_binfmt_rule_for_arch(const struct xarch_arch *a, const char *interpreter,
				const char *flags, struct xarch_binfmt_rule *ret);

/* Do two magic rules ever match the same file?  (Used to report conflicts.) */
bool xarch_binfmt_overlap(const struct xarch_binfmt_rule *a, const struct xarch_binfmt_rule *b);

/* Live table --------------------------------------------------------------*/

struct xarch_binfmt_table {
	bool mounted;
	bool enabled;		/* global `status` */
	size_t n;
	struct xarch_binfmt_rule *rules; /* sorted by name */
};

/* Read every entry of the binfmt_misc mounted at `dir` (NULL: the default).
 * An unmounted dir is not an error: `mounted` is false and n is 0. */
int xarch_binfmt_table_read(const char *dir, struct xarch_binfmt_table *ret,
			    struct xarch_error *err);
void xarch_binfmt_table_release(struct xarch_binfmt_table *t);

/* An enabled rule that would run the file, or NULL.  The kernel tries the
 * newest registration first, an order readdir does not reveal; callers that
 * care list every match with xarch_binfmt_matches(). */
const struct xarch_binfmt_rule *xarch_binfmt_table_match(const struct xarch_binfmt_table *t,
							 const char *path, const uint8_t *hdr,
							 size_t hdr_len);

/* A 64-byte ELF header an `a` executable would start with (EXEC, OS/ABI 0,
 * the row's e_flags): what `status` feeds the table to see who runs it. */
size_t xarch_binfmt_arch_header(const struct xarch_arch *a, uint8_t *hdr, size_t len);

/* The arches a rule would run (synthetic header of each row matches).
 * Fills up to `max` pointers, returns how many matched. */
size_t xarch_binfmt_rule_arches(const struct xarch_binfmt_rule *r,
				const struct xarch_arch **ret, size_t max);

/* The first enabled entry of the table that runs `a`, or NULL. */
const struct xarch_binfmt_rule *xarch_binfmt_table_runner(const struct xarch_binfmt_table *t,
							  const struct xarch_arch *a);

/* Is `name` acceptable as an entry file name (not register/status/./..,
 * no '/', fits)? */
bool xarch_binfmt_name_ok(const char *name);

/* Registration (binfmt-install.c) -----------------------------------------*/

#define XARCH_BINFMT_DEFAULT_FLAGS "POF"
#define XARCH_BINFMT_QEMU_P_DIR "/usr/libexec/qemu-binfmt"
#define XARCH_BINFMT_RUN_DIR "/run/xarch/binfmt"   /* root's -binfmt-P symlinks */
#define XARCH_BINFMT_PERSIST_LINK_DIR "/var/lib/xarch/binfmt" /* ... surviving reboots */
#define XARCH_BINFMT_CONF_DIR "/etc/binfmt.d"

/* Mount binfmt_misc on `dir` (NULL: the default) unless it is mounted.
 * 1 when this call mounted it, 0 when it already was. */
int xarch_binfmt_mount(const char *dir, struct xarch_error *err);

/* Write the rule to `dir`/register.  Kernel errors are explained (name
 * taken, unknown flag or old kernel, missing interpreter, permission). */
int xarch_binfmt_register(const char *dir, const struct xarch_binfmt_rule *r,
			  struct xarch_error *err);

/* Remove the entry `name` (writes -1 to that entry's file, never to
 * `status`).  -ENOENT when there is no such entry. */
int xarch_binfmt_unregister(const char *dir, const char *name, struct xarch_error *err);

/* The path to register for `qemu` so that QEMU sees an argv[0] ending in
 * "-binfmt-P" (how Debian's QEMU learns about the P flag): the distro's
 * /usr/libexec/qemu-binfmt/<arch>-binfmt-P when it resolves to `qemu`,
 * else a symlink <link_dir>/<arch>-binfmt-P -> qemu (created/replaced). */
int xarch_binfmt_p_interpreter(const struct xarch_arch *a, const char *qemu, const char *link_dir,
			       char *buf, size_t len, struct xarch_error *err);

struct xarch_binfmt_install_opts {
	const char *dir;	/* binfmt_misc mount point, NULL: the default */
	const char *qemu_dir;	/* NULL: PATH */
	const char *flags;	/* NULL: "POF" */
	const char *link_dir;	/* for -binfmt-P symlinks, NULL: chosen by uid */
	bool credential;	/* add C (and O) to every arch ... */
	const char *credential_only; /* ... or, when set, only to these (comma-separated) */
	bool force;		/* register despite conflicts / native arch */
	bool allow_dynamic;	/* accept a dynamic qemu with F */
	bool verify;		/* run the probe after registering */
};

enum xarch_binfmt_outcome {
	XARCH_BINFMT_REGISTERED = 0, /* no probe for the arch, or verify off */
	XARCH_BINFMT_VERIFIED,	     /* probe ran with the right argc */
	XARCH_BINFMT_P_BROKEN,	     /* ran, but the emulator got argv wrong */
	XARCH_BINFMT_NOT_RUNNING,    /* registered, yet the probe did not run */
	XARCH_BINFMT_SKIP_NATIVE,    /* the host runs it without emulation */
	XARCH_BINFMT_SKIP_NO_QEMU,
	XARCH_BINFMT_SKIP_CONFLICT,  /* another entry claims it; see `conflict` */
	XARCH_BINFMT_FAILED,	     /* see the error */
};

struct xarch_binfmt_result {
	const struct xarch_arch *arch;
	enum xarch_binfmt_outcome outcome;
	struct xarch_binfmt_rule rule; /* what was (or would have been) registered */
	char qemu[4096];
	bool replaced;		/* an older xarch-<arch> was removed first */
	bool static_unknown;	/* could not tell whether qemu is static */
	char conflict[64];	/* an enabled entry overlapping ours */
	int probe_status;	/* the probe's exit status, or -errno */
	char error[512];	/* why, for XARCH_BINFMT_FAILED */
};

/* Register qemu for one arch under xarch-<arch>.  Fills `ret` whatever the
 * outcome; returns 0 for registered/skipped outcomes and -errno (message in
 * err) for XARCH_BINFMT_FAILED. */
int xarch_binfmt_install_arch(const struct xarch_arch *a, const struct xarch_binfmt_install_opts *o,
			      struct xarch_binfmt_result *ret, struct xarch_error *err);

/* The arches an install covers: the named ones (any alias; an unknown name
 * is an error before anything is registered), or, with no names, every row
 * whose qemu is found.  The array is malloc'ed. */
int xarch_binfmt_pick_arches(const char *const *names, const char *qemu_dir,
			     const struct xarch_arch ***ret, size_t *ret_n, struct xarch_error *err);

/* xarch_binfmt_install_arch() for each of `arches`; (*ret)[i] is the
 * result for arches[i] (failures recorded in it, not returned).  With
 * `explicit`, a missing qemu is a failure rather than a skip. */
int xarch_binfmt_install_list(const struct xarch_arch *const *arches, size_t n, bool explicit,
			      const struct xarch_binfmt_install_opts *o,
			      struct xarch_binfmt_result **ret, struct xarch_error *err);

/* Does the comma-separated list of arch names (any alias) name `a`? */
bool xarch_binfmt_list_has(const char *csv, const struct xarch_arch *a);

/* Short text for an outcome ("registered and verified", ...). */
const char *xarch_binfmt_outcome_str(enum xarch_binfmt_outcome o);

/* Problems of a live entry, one short phrase per line into buf ("" when
 * none); returns how many. */
int xarch_binfmt_problems(const struct xarch_binfmt_rule *r, char *buf, size_t len);

/* systemd-binfmt files: <root>/etc/binfmt.d/<rule name>.conf ------------- */
int xarch_binfmt_persist_write(const char *root, const struct xarch_binfmt_rule *r,
			       struct xarch_error *err);
/* 0 removed, -ENOENT when there was none. */
int xarch_binfmt_persist_remove(const char *root, const char *name, struct xarch_error *err);

#endif
