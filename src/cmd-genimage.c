// SPDX-License-Identifier: MIT
/* xarch genimage --config FILE: the images of a genimage.cfg. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "xarch.h"
#include "xarch/gcfg.h"
#include "xarch/genimage.h"

static void help(void)
{
	puts("usage: xarch genimage --config FILE [--rootpath DIR] [--inputpath DIR]\n"
	     "                      [--outputpath DIR] [--tmppath DIR] [--includepath DIRS]\n\n"
	     "Build the images of a genimage.cfg: hdimage (gpt, mbr, hybrid, none), vfat,\n"
	     "ext2/3/4 and file.  A filesystem used as one partition of a disk is made in\n"
	     "place inside the (sparse) disk file, with no intermediate image.  Defaults as\n"
	     "genimage: the config's paths, else root, input, images, tmp (relative to the\n"
	     "current directory).  Each output is written under a temp name and renamed.\n\n"
	     "  -c, --config FILE      the configuration (default genimage.cfg)\n"
	     "  -q, --quiet            print nothing on success\n"
	     "  -h, --help");
}

static void done(void *data, const char *path, uint64_t apparent, uint64_t allocated)
{
	char a[32], b[32];
	if (*(bool *)data)
		return;
	format_size(apparent, a, sizeof(a));
	format_size(allocated, b, sizeof(b));
	printf("%s: %s (%s allocated)\n", path, a, b);
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
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	/* clang-format on */
	const char *config = "genimage.cfg", *includepath = NULL;
	struct xarch_genimage_opts o = { .done = done };
	struct xarch_error err = { 0 };
	struct xarch_gcfg cfg;
	bool quiet = false;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:qh", opts, NULL)) != -1) {
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
		case 'q':
			quiet = true;
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
	o.data = &quiet;
	r = xarch_gcfg_parse_file(config, includepath, &cfg, &err);
	if (r < 0)
		return die_err(&err, r);
	r = xarch_genimage(&cfg, &o, &err);
	xarch_gcfg_release(&cfg);
	if (r < 0)
		return die_err(&err, r);
	return 0;
}
