// SPDX-License-Identifier: MIT
/* placeholder: replaced by the ELF parser */
#include "internal.h"
#include "xarch/elf.h"

int xarch_elf_parse_file(const char *path, struct xarch_elf_info *ret, struct xarch_error *err)
{
	return xarch_err(err, ENOSYS, "ELF parsing not implemented");
}

void xarch_elf_info_release(struct xarch_elf_info *info)
{
}
