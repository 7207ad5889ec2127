// SPDX-License-Identifier: MIT
/*
 * Fuzz target for applying a layer: any byte string is applied (as a
 * layer, whiteouts interpreted) to an empty temp root, which is then
 * removed.  It must apply or fail with a one-line message, never crash,
 * leak or write outside the temp dir (the root sits in a private parent
 * that must hold only the root afterwards).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "xarch/image.h"

static int chmod_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	if (flag == FTW_D || flag == FTW_DNR)
		chmod(p, 0700); /* read-only directories, unprivileged */
	return 0;
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	return remove(p) < 0 ? -1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char parent[] = "/tmp/xarch-fuzz-layer.XXXXXX", root[64];
	if (!mkdtemp(parent))
		abort();
	snprintf(root, sizeof(root), "%s/root", parent);
	if (mkdir(root, 0755) < 0)
		abort();
	int in = memfd_create("layer", MFD_CLOEXEC);
	if (in < 0)
		abort();
	for (size_t off = 0; off < size;) {
		ssize_t w = write(in, data + off, size - off);
		if (w <= 0)
			abort();
		off += (size_t)w;
	}
	lseek(in, 0, SEEK_SET);
	int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	struct xarch_error err = {0};
	struct xarch_layer_opts o = {0};
	int r = xarch_layer_apply_fd(rootfd, in, &o, &err);
	close(rootfd);
	close(in);
	if (r < 0 && (!err.msg[0] || strchr(err.msg, '\n')))
		abort(); /* one line, always */
	nftw(root, chmod_cb, 64, FTW_PHYS);
	nftw(root, rm_cb, 64, FTW_DEPTH | FTW_PHYS);
	if (rmdir(parent) < 0)
		abort(); /* something other than the root appeared next to it */
	return 0;
}
