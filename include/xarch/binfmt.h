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

#endif
