// SPDX-License-Identifier: MIT
/*
 * Fuzz the image JSON parsers: the input is tried as an image index, a
 * manifest and a config, and an index that parses is asked for several
 * platforms.  Whatever parses must hold only valid digests.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xarch/oci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const platforms[] = {"linux/amd64", "linux/arm64/v8", "arm/v6",
						"riscv64",     "windows/amd64",	 NULL};
	const char *s = (const char *)data;
	struct xarch_error err;
	struct xarch_oci_index x;
	if (xarch_oci_index_parse(s, size, &x, &err) == 0) {
		for (size_t i = 0; i < x.n; i++)
			if (!xarch_digest_valid(x.manifests[i].digest))
				abort();
		for (size_t i = 0; i < sizeof(platforms) / sizeof(platforms[0]); i++) {
			int k = xarch_oci_index_select(&x, platforms[i], &err);
			if (k >= 0 && (size_t)k >= x.n)
				abort();
		}
		xarch_oci_index_release(&x);
	}
	struct xarch_oci_manifest m;
	if (xarch_oci_manifest_parse(s, size, &m, &err) == 0) {
		if (!xarch_digest_valid(m.config.digest) || m.n_layers > XARCH_OCI_LAYERS_MAX)
			abort();
		for (size_t i = 0; i < m.n_layers; i++)
			if (!xarch_digest_valid(m.layers[i].digest))
				abort();
		xarch_oci_manifest_release(&m);
	}
	struct xarch_oci_config c;
	if (xarch_oci_config_parse(s, size, &c, &err) == 0) {
		for (size_t i = 0; i < c.n_diff_ids; i++)
			if (!xarch_digest_valid(c.diff_ids[i]))
				abort();
		xarch_oci_config_release(&c);
	}
	/* and as a reference, NUL-terminated */
	char *z = malloc(size + 1);
	if (!z)
		return 0;
	memcpy(z, data, size);
	z[size] = '\0';
	struct xarch_image_ref ref;
	xarch_image_ref_parse(z, &ref, &err);
	free(z);
	return 0;
}
