// SPDX-License-Identifier: MIT
/*
 * Fuzz the genimage.cfg reader: whatever parses must be a consistent model
 * (partitions only in hdimages, referenced images present or raw blobs).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xarch/gcfg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * libconfuse 3.3 leaks its lexer's include stack and a function's argument
 * list when a parse fails midway; those are its bugs, not ours.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libconfuse\nleak:cfg_yy_create_buffer\n";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xarch_gcfg c;
	struct xarch_error err;
	if (xarch_gcfg_parse_buf((const char *)data, size, NULL, &c, &err) < 0) {
		if (!memchr(err.msg, '\0', sizeof(err.msg)))
			abort();
		return 0;
	}
	for (size_t i = 0; i < c.n_images; i++) {
		const struct xarch_gimage *img = &c.images[i];
		if (!img->type[0] || (img->n_parts && strcmp(img->type, "hdimage")))
			abort();
		for (size_t j = 0; j < img->n_parts; j++) {
			const struct xarch_gpart *p = &img->parts[j];
			if (p->image[0] && p->in_partition_table && !xarch_gcfg_image(&c, p->image))
				abort();
		}
	}
	xarch_gcfg_release(&c);
	return 0;
}
