/* SPDX-License-Identifier: MIT */
#ifndef XARCH_ELF_H
#define XARCH_ELF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xarch/arch.h"
#include "xarch/error.h"

#define XARCH_ELF_MAX_NEEDED 256
/* Files are read up to this many bytes; headers past it are an error. */
#define XARCH_ELF_MAX_FILE (512u << 20)
/* As many bytes as the kernel shows binfmt_misc (BINPRM_BUF_SIZE). */
#define XARCH_ELF_HEADER_BYTES 256

enum xarch_elf_type { XARCH_ELF_REL = 1, XARCH_ELF_EXEC = 2, XARCH_ELF_DYN = 3, XARCH_ELF_CORE = 4 };

/* What `xarch inspect` reports about one file.  Strings point into `strtab_copy`
 * (owned by the struct) and stay valid until xarch_elf_info_release(). */
struct xarch_elf_info {
	unsigned elf_class;	/* 1 = 32-bit, 2 = 64-bit */
	unsigned elf_data;	/* 1 = little, 2 = big endian */
	unsigned osabi;
	unsigned type;		/* e_type */
	unsigned machine;	/* e_machine */
	uint32_t eflags;
	bool pie;		/* DYN with PT_INTERP or DF_1_PIE */
	bool is_static;		/* no PT_INTERP and no PT_DYNAMIC needing libs */
	const struct xarch_arch *arch; /* NULL when no row matches */
	const char *interp;	/* PT_INTERP, NULL if none */
	const char *soname;
	const char *rpath;
	const char *runpath;
	size_t n_needed;
	const char *needed[XARCH_ELF_MAX_NEEDED];
	/* ABI details decoded from e_flags/attributes; "" when not applicable */
	char abi[128];		/* e.g. "lp64d, rvc", "eabi5 hard-float", "n32" */
	uint8_t header[XARCH_ELF_HEADER_BYTES]; /* first bytes, for binfmt matching */
	size_t header_len;
	char *strtab_copy;	/* private */
};

/* Parse an ELF image held in memory.  Every offset and count is checked
 * against `len`; malformed input gives -ENOEXEC with a message naming the
 * problem, never a crash. */
int xarch_elf_parse(const uint8_t *buf, size_t len, struct xarch_elf_info *ret,
		    struct xarch_error *err);

/* Only the ELF header and program headers (class, machine, arch, type,
 * PT_INTERP; no libraries), from the first XARCH_ELF_HEAD_BYTES of the
 * file: cheap enough for a 13 MB qemu-user-static on every `xarch run`. */
#define XARCH_ELF_HEAD_BYTES (64u * 1024)
int xarch_elf_parse_head_file(const char *path, struct xarch_elf_info *ret,
			      struct xarch_error *err);

/* Open and parse a file (read-only, no symlink games).  Messages name
 * `path`: "'PATH': truncated ELF: ...", "'PATH' is not an ELF file ...". */
int xarch_elf_parse_file(const char *path, struct xarch_elf_info *ret, struct xarch_error *err);

/* Parse an open file (read up to XARCH_ELF_MAX_FILE bytes); `name` is the
 * subject of error messages and may be NULL. */
int xarch_elf_parse_fd(int fd, const char *name, struct xarch_elf_info *ret,
		       struct xarch_error *err);

void xarch_elf_info_release(struct xarch_elf_info *info);

/* Human name of e_type, with "PIE" for position independent executables. */
const char *xarch_elf_type_name(const struct xarch_elf_info *info);

/* Dependency resolution the way ld.so does it, inside `sysroot` ---------*/

struct xarch_dep {
	char name[256];		/* the DT_NEEDED string or the interpreter path */
	char path[4096];	/* where found, inside the sysroot ("/lib/x.so"); "" if missing */
	bool found;
	bool is_interp;
};

struct xarch_deps {
	size_t n;
	struct xarch_dep *deps; /* interpreter first, then breadth-first needed */
	size_t n_missing;
	char search[2048];	/* the directories searched, ':'-separated */
};

/* Resolve `info`'s interpreter and needed libraries (transitively) inside
 * `sysroot`: DT_RPATH (when no RUNPATH), DT_RUNPATH, /etc/ld.so.conf(.d)
 * includes, multiarch dirs for the arch, the default lib dirs.  Symlinks
 * are followed inside the sysroot.  Only libraries of the same class and
 * machine count (like ld.so skipping wrong-ELF files). */
int xarch_elf_resolve_deps(const struct xarch_elf_info *info, const char *sysroot,
			   struct xarch_deps *ret, struct xarch_error *err);
void xarch_deps_release(struct xarch_deps *d);

/* The same, with `origin` the directory of the file inside the sysroot
 * (what $ORIGIN in the file's own RPATH/RUNPATH means); NULL when the file
 * lives outside it, in which case entries using $ORIGIN are skipped. */
int xarch_elf_resolve_deps_origin(const struct xarch_elf_info *info, const char *origin,
				  const char *sysroot, struct xarch_deps *ret,
				  struct xarch_error *err);

#endif
