// SPDX-License-Identifier: MIT
/* xarch genimage --config FILE: the images of a genimage.cfg. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xarch.h"
#include "xarch/gcfg.h"
#include "xarch/genimage.h"

static void help(void)
{
	puts("usage: xarch genimage [--config FILE] [--rootpath DIR] [--inputpath DIR]\n"
	     "                      [--outputpath DIR] [--tmppath DIR] [--includepath DIRS]\n"
	     "                      [--jobs N] [--bmap] [--android-sparse] [--qcow2]\n"
	     "                      [--json] [--quiet]\n\n"
	     "Build the images of a genimage.cfg without root or loop devices.  A\n"
	     "filesystem used as one partition of a disk is made in place inside the\n"
	     "(sparse) disk file, with no intermediate image; independent images are built\n"
	     "in parallel.  Defaults as genimage: the config's paths, else root, input,\n"
	     "images, tmp (relative to the current directory).  Each output is written\n"
	     "under a temp name and renamed, so a failure leaves nothing half-written.\n"
	     "SOURCE_DATE_EPOCH makes the output reproducible.\n\n"
	     "  -c, --config FILE      the configuration (default genimage.cfg)\n"
	     "  -j, --jobs N           images built at once (default: one per CPU)\n"
	     "      --bmap             write DISK.bmap beside each disk (bmaptool copy --bmap)\n"
	     "      --android-sparse   write DISK.simg beside each disk (fastboot, simg2img)\n"
	     "      --qcow2            write DISK.qcow2 beside each disk (qemu-img)\n"
	     "      --json             print a JSON summary of the written files\n"
	     "  -q, --quiet            print nothing on success\n"
	     "  -h, --help");
}

struct ctx {
	bool quiet, json, tty;
	struct json_object *files;
};

static void start(void *data, const struct xarch_gimage *img)
{
	struct ctx *c = data;
	if (c->tty && !c->quiet && !c->json)
		fprintf(stderr, "building %s (%s)\n", img->name, img->type);
}

static void done(void *data, const struct xarch_genimage_result *res)
{
	struct ctx *c = data;
	char a[32], b[32];
	if (c->json) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "name", json_str(res->name));
		json_object_object_add(o, "type", json_str(res->type));
		json_object_object_add(o, "path", json_str(res->path));
		json_object_object_add(o, "size", json_object_new_int64((int64_t)res->apparent));
		json_object_object_add(o, "allocated",
				       json_object_new_int64((int64_t)res->allocated));
		json_object_object_add(o, "mapped", json_object_new_int64((int64_t)res->mapped));
		json_object_object_add(o, "seconds", json_object_new_double(res->seconds));
		json_object_array_add(c->files, o);
		return;
	}
	if (c->quiet)
		return;
	format_size(res->apparent, a, sizeof(a));
	format_size(res->mapped, b, sizeof(b));
	printf("%s: %s (%s written) in %.2f s\n", res->path, a, b, res->seconds);
}

int cmd_genimage(int argc, char **argv)
{
	/* clang-format off */
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "rootpath", required_argument, NULL, 'r' },
		{ "inputpath", required_argument, NULL, 'i' },
		{ "outputpath", required_argument, NULL, 'o' },
		{ "tmppath", required_argument, NULL, 't' },
		{ "includepath", required_argument, NULL, 'I' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "bmap", no_argument, NULL, 'B' },
		{ "android-sparse", no_argument, NULL, 'A' },
		{ "qcow2", no_argument, NULL, 'Q' },
		{ "json", no_argument, NULL, 'J' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	/* clang-format on */
	const char *config = "genimage.cfg", *includepath = NULL;
	struct ctx ctx = {.tty = is_tty(2)};
	struct xarch_genimage_opts o = {.start = start, .done = done, .data = &ctx};
	struct xarch_error err = {0};
	struct xarch_gcfg cfg;
	char *end;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:j:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'r':
			o.rootpath = optarg;
			break;
		case 'i':
			o.inputpath = optarg;
			break;
		case 'o':
			o.outputpath = optarg;
			break;
		case 't':
			o.tmppath = optarg;
			break;
		case 'I':
			includepath = optarg;
			break;
		case 'j':
			o.jobs = (unsigned)strtoul(optarg, &end, 10);
			if (*end || !o.jobs || o.jobs > 64)
				return usage_error("genimage",
						   "--jobs wants a number from 1 to 64");
			break;
		case 'B':
			o.bmap = true;
			break;
		case 'A':
			o.android_sparse = true;
			break;
		case 'Q':
			o.qcow2 = true;
			break;
		case 'J':
			ctx.json = true;
			break;
		case 'q':
			ctx.quiet = true;
			break;
		case 'h':
			help();
			return 0;
		default:
			return usage_error("genimage", "invalid option");
		}
	}
	if (optind < argc)
		return usage_error("genimage", "unexpected argument '%s'", argv[optind]);
	r = xarch_gcfg_parse_file(config, includepath, &cfg, &err);
	if (r < 0)
		return die_err(&err, r);
	if (ctx.json)
		ctx.files = json_object_new_array();
	r = xarch_genimage(&cfg, &o, &err);
	xarch_gcfg_release(&cfg);
	if (r < 0) {
		json_object_put(ctx.files);
		return die_err(&err, r);
	}
	if (ctx.json) {
		struct json_object *top = json_object_new_object();
		json_object_object_add(top, "images", ctx.files);
		json_print(top);
	}
	return 0;
}
