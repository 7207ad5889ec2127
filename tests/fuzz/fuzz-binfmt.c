// SPDX-License-Identifier: MIT
/*
 * Fuzz the binfmt_misc text formats: the input is tried as a register line
 * and as the text of a live entry; whatever parses must format to a line
 * that parses back to the same rule.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xarch/binfmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same(const struct xarch_binfmt_rule *a, const struct xarch_binfmt_rule *b)
{
	if (strcmp(a->name, b->name) || a->type != b->type ||
	    strcmp(a->interpreter, b->interpreter) || strcmp(a->flags, b->flags) ||
	    a->offset != b->offset)
		return false;
	if (a->type == 'E')
		return strcmp(a->extension, b->extension) == 0;
	return a->len == b->len && !memcmp(a->magic, b->magic, a->len) &&
	       !memcmp(a->mask, b->mask, a->len);
}

static void round_trip(const struct xarch_binfmt_rule *r)
{
	char line[4096 * 2 + 2048];
	struct xarch_binfmt_rule back;
	int n = xarch_binfmt_format_line(r, line, sizeof(line));
	if (n < 0)
		return;
	/* formatting may produce a line the kernel would refuse (a name with
	 * the delimiter, say); only a successful re-parse must agree */
	if (xarch_binfmt_parse_line(line, &back, NULL) == 0 && !strchr(r->interpreter, ':') &&
	    !strchr(r->extension, ':') && !strchr(r->name, ':') && !strchr(r->interpreter, '\n') &&
	    !strchr(r->interpreter, '\r') && r->interpreter[0] && !same(r, &back))
		abort();
	uint8_t hdr[XARCH_BINFMT_MAX];
	memset(hdr, 0, sizeof(hdr));
	if (r->type == 'M' && r->offset + r->len <= sizeof(hdr)) {
		memcpy(hdr + r->offset, r->magic, r->len);
		if (!xarch_binfmt_matches(r, NULL, hdr, r->offset + r->len))
			abort(); /* a rule always matches its own magic */
		if (!xarch_binfmt_overlap(r, r))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	struct xarch_binfmt_rule r;
	struct xarch_error err;
	if (xarch_binfmt_parse_line(s, &r, &err) == 0)
		round_trip(&r);
	if (xarch_binfmt_parse_entry("fuzz", s, &r, &err) == 0)
		round_trip(&r);
	char probs[1024];
	if (xarch_binfmt_parse_line(s, &r, NULL) == 0)
		xarch_binfmt_problems(&r, probs, sizeof(probs));
	free(s);
	return 0;
}
