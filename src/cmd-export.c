// SPDX-License-Identifier: MIT
/* xarch export [OPTIONS] DIR DEST: a rootfs directory as a tarball or an image. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "xarch.h"
#include "xarch/export.h"

static void help(void)
{
	puts(
	    "usage: xarch export [-q] [--json] [--platform P] [--one-file-system=BOOL] DIR DEST\n\n"
	    "Write the tree at DIR to DEST, under a temp name next to it and renamed into\n"
	    "place, so on failure there is no output.  With SOURCE_DATE_EPOCH set, mtimes\n"
	    "are clamped to it and every timestamp is it: two exports are byte-identical.\n\n"
	    "destinations:\n"
	    "  tar:FILE                        a tarball; .gz .xz .zst .bz2 compress\n"
	    "  oci:DIR[:TAG]                   an OCI image layout (DIR must not exist)\n"
	    "  oci-archive:FILE[:TAG]          a tar of an OCI image layout\n"
	    "  docker-archive:FILE[:REPO:TAG]  for docker load / podman load\n"
	    "  docker://HOST/NAME[:TAG]        push to a registry (API v2)\n\n"
	    "  --platform P             image platform (linux/arm64/v8, riscv64, ...);\n"
	    "                           default: the arch of DIR's /bin/sh\n"
	    "  --one-file-system=BOOL   do not descend into mount points (default true)\n"
	    "  --json                   print a summary: digests, sizes, platform\n"
	    "  -q, --quiet              no progress on a terminal\n"
	    "  --creds USER:PASS        registry credentials (default: ~/.docker/config.json)\n"
	    "  --insecure               registry over plain http (loopback hosts always are)\n"
	    "  -h, --help");
}

/* files and bytes written so far */
static void export_meter(void *data, uint64_t bytes, uint64_t entries)
{
	static char what[48];
	struct meter *m = data;
	snprintf(what, sizeof(what), "export: %llu files", (unsigned long long)entries);
	m->what = what;
	meter_bytes(m, bytes, 0);
}

static int parse_bool(const char *s, bool *ret)
{
	if (!s || !strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "1"))
		*ret = true;
	else if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "0"))
		*ret = false;
	else
		return -1;
	return 0;
}

int cmd_export(int argc, char **argv)
{
	/* clang-format off */
	static const struct option opts[] = {
		{ "quiet", no_argument, NULL, 'q' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "platform", required_argument, NULL, 'P' },
		{ "one-file-system", optional_argument, NULL, 'x' },
		{ "creds", required_argument, NULL, 'C' },
		{ "insecure", no_argument, NULL, 'I' },
		{ 0 },
	};
	/* clang-format on */
	bool quiet = false, json = false, one_fs = true;
	struct xarch_export_opts o = {0};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		switch (c) {
		case 'q':
			quiet = true;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			help();
			return 0;
		case 'P':
			o.platform = optarg;
			break;
		case 'C':
			o.creds = optarg;
			break;
		case 'I':
			o.insecure = true;
			break;
		case 'x':
			if (parse_bool(optarg, &one_fs) < 0)
				return usage_error("export",
						   "--one-file-system wants true or false");
			break;
		default:
			return usage_error("export", "bad option");
		}
	}
	if (argc - optind != 2)
		return usage_error("export", "need a directory and a destination");
	o.cross_mounts = !one_fs;
	struct meter m = {0};
	if (!quiet && is_tty(STDERR_FILENO)) {
		o.progress = export_meter;
		o.progress_data = &m;
	}
	struct xarch_export_result res;
	struct xarch_error err = {0};
	int r = xarch_export(argv[optind], argv[optind + 1], &o, &res, &err);
	meter_done(&m);
	if (r < 0)
		return die_err(&err, r);
	if (res.skipped)
		warn("skipped %llu socket%s: a tar cannot hold them",
		     (unsigned long long)res.skipped, res.skipped == 1 ? "" : "s");
	if (!json)
		return 0;
	struct json_object *j = json_object_new_object();
	json_object_object_add(j, "destination", json_object_new_string(argv[optind + 1]));
	json_object_object_add(j, "format", json_object_new_string(res.format));
	json_object_object_add(j, "platform", json_str(res.platform[0] ? res.platform : NULL));
	json_object_object_add(j, "entries", json_object_new_int64((int64_t)res.entries));
	json_object_object_add(j, "tar_size", json_object_new_int64((int64_t)res.tar_size));
	json_object_object_add(j, "layer_size", json_object_new_int64((int64_t)res.layer_size));
	bool image = res.layer_digest[0];
	json_object_object_add(j, "layer_digest", json_str(image ? res.layer_digest : NULL));
	json_object_object_add(j, "diff_id", json_str(image ? res.diff_id : NULL));
	json_object_object_add(j, "config_digest", json_str(image ? res.config_digest : NULL));
	json_object_object_add(j, "manifest_digest", json_str(image ? res.manifest_digest : NULL));
	json_print(j);
	return 0;
}
