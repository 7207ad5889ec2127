// SPDX-License-Identifier: MIT
/*
 * Fuzz target for the ELF parser: any byte string must parse or fail with
 * -ENOEXEC and a message, never crash or read out of bounds.  What a
 * successful parse returns is used (strings read, type named) so that
 * dangling pointers show up under ASan.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "xarch/elf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xarch_elf_info info;
	struct xarch_error err = {0};
	int r = xarch_elf_parse(data, size, &info, &err);
	if (r < 0) {
		if (r != -ENOEXEC && r != -ENOMEM)
			abort();
		if (!err.msg[0] || strchr(err.msg, '\n'))
			abort(); /* one line, always */
		return 0;
	}
	size_t sum = strlen(xarch_elf_type_name(&info)) + strlen(info.abi);
	if (info.interp)
		sum += strlen(info.interp);
	if (info.soname)
		sum += strlen(info.soname);
	if (info.rpath)
		sum += strlen(info.rpath);
	if (info.runpath)
		sum += strlen(info.runpath);
	if (info.n_needed > XARCH_ELF_MAX_NEEDED || info.header_len > sizeof(info.header))
		abort();
	for (size_t i = 0; i < info.n_needed; i++)
		sum += strlen(info.needed[i]);
	if (info.is_static && (info.interp || info.n_needed))
		abort();
	xarch_elf_info_release(&info);
	return sum == (size_t)-1;
}
