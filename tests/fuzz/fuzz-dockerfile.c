// SPDX-License-Identifier: MIT
/*
 * Fuzz the Dockerfile reader and the variable expander: what parses must be
 * consistent (a FROM or ARG first, lines increasing, exec forms only where
 * allowed), and expanding every word must not crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xarch/dockerfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *lookup(void *data, const char *name)
{
	(void)data;
	return name[0] == 'A' ? "a value with $ and \"quotes\"" : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xarch_dockerfile df;
	struct xarch_error err;
	char out[512];
	if (xarch_dockerfile_parse((const char *)data, size, "fuzz", &df, &err) < 0) {
		if (!memchr(err.msg, '\0', sizeof(err.msg)))
			abort();
		return 0;
	}
	if (!df.n || (df.v[0].cmd != XARCH_DF_FROM && df.v[0].cmd != XARCH_DF_ARG))
		abort();
	for (size_t i = 0; i < df.n; i++) {
		const struct xarch_df_instr *in = &df.v[i];
		if (i && in->line <= df.v[i - 1].line)
			abort();
		for (size_t j = 0; j < in->n_args; j++)
			if (in->args[j])
				xarch_df_expand(in->args[j], df.escape, lookup, NULL, out, sizeof(out),
						&err);
	}
	xarch_dockerfile_release(&df);
	return 0;
}
