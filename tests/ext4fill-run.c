// SPDX-License-Identifier: MIT
/* Test and benchmark driver for xa_ext4fill:
 *   ext4fill-run [-x EXCLUDE]... [-t EPOCH] DISK OFFSET ROOT */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "ext4fill.h"

int main(int argc, char **argv)
{
	const char *excl[64];
	struct xa_ext4fill_opts o = {.exclude = excl, .root_from_source = true};
	struct xarch_error err = {0};
	int c;

	while ((c = getopt(argc, argv, "x:t:")) != -1) {
		if (c == 'x' && o.n_exclude < sizeof(excl) / sizeof(excl[0]))
			excl[o.n_exclude++] = optarg;
		else if (c == 't')
			o.now = strtoull(optarg, NULL, 10);
		else
			goto usage;
	}
	if (argc - optind != 3)
		goto usage;
	if (xa_ext4fill(argv[optind], strtoull(argv[optind + 1], NULL, 0), argv[optind + 2], &o,
			&err) < 0) {
		fprintf(stderr, "ext4fill-run: %s\n", err.msg);
		return 1;
	}
	return 0;
usage:
	fprintf(stderr, "usage: ext4fill-run [-x EXCLUDE]... [-t EPOCH] DISK OFFSET ROOT\n");
	return 2;
}
