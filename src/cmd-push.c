// SPDX-License-Identifier: MIT
/* xarch push [--creds U:P] [--insecure] oci:DIR[:TAG] docker://REF: upload an image. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "xarch.h"
#include "xarch/oci.h"
#include "xarch/registry.h"

static void help(void)
{
	puts("usage: xarch push [--creds U:P] [--insecure] oci:DIR[:TAG] "
	     "docker://HOST/NAME[:TAG]\n\n"
	     "Upload the image (or the whole multi-arch index) that TAG names in an OCI\n"
	     "layout to a registry: blobs it lacks, then the manifests, then the index.\n\n"
	     "  --creds U:P     registry credentials (default: ~/.docker/config.json)\n"
	     "  --insecure      registry over plain http (loopback hosts always are)\n"
	     "  -h, --help");
}

int cmd_push(int argc, char **argv)
{
	/* clang-format off */
	static const struct option opts[] = {
		{ "creds", required_argument, NULL, 'C' },
		{ "insecure", no_argument, NULL, 'I' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	/* clang-format on */
	struct xarch_registry_opts ro = {0};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'C':
			ro.creds = optarg;
			break;
		case 'I':
			ro.insecure = true;
			break;
		case 'h':
			help();
			return 0;
		default:
			return usage_error("push", "bad option");
		}
	}
	if (argc - optind != 2)
		return usage_error("push", "need a source and a destination");
	const char *src = argv[optind], *dst = argv[optind + 1];
	if (strncmp(dst, "docker://", 9))
		return usage_error("push", "destination '%s' must start with docker://", dst);
	struct xarch_error err = {0};
	struct xarch_image_ref ref;
	int r = xarch_image_ref_parse(src, &ref, &err);
	if (r < 0)
		return die_err(&err, r);
	if (ref.transport != XARCH_IMAGE_OCI)
		return usage_error("push", "source '%s' must be oci:DIR[:TAG]", src);
	struct meter m = { .what = "push" };
	if (is_tty(STDERR_FILENO)) {
		ro.progress = meter_blob_cb;
		ro.progress_data = &m;
	}
	r = xarch_registry_push_layout(ref.path, ref.tag, dst, &ro, &err);
	meter_done(&m);
	if (r < 0)
		return die_err(&err, r);
	return 0;
}
