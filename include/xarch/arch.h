/* SPDX-License-Identifier: MIT */
#ifndef XARCH_ARCH_H
#define XARCH_ARCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define XARCH_MAGIC_MAX 40

enum xarch_elf_class { XARCH_ELF32 = 1, XARCH_ELF64 = 2 };
enum xarch_elf_data { XARCH_LSB = 1, XARCH_MSB = 2 };

/*
 * One row per architecture qemu-user can emulate.  `magic`/`mask` are the
 * binfmt_misc match bytes (offset 0); they equal QEMU's qemu-binfmt-conf.sh
 * table except where `fixed_magic` says we corrected it (see arch.c).
 */
struct xarch_arch {
	const char *name;	 /* canonical; also the qemu target name */
	const char *uname;	 /* uname -m */
	const char *debian;	 /* dpkg --print-architecture, NULL if none */
	const char *rpm;	 /* rpm %_arch, NULL if none */
	const char *oci_arch;	 /* OCI platform architecture, NULL if none */
	const char *oci_variant; /* OCI platform variant, NULL if none */
	const char *const *aliases; /* further names, NULL-terminated, may be NULL */
	const char *family;	 /* CPUs of one family may run each other natively */
	const char *triplet;	 /* GNU triplet of the Debian cross toolchain */
	uint8_t elf_class;	 /* enum xarch_elf_class */
	uint8_t elf_data;	 /* enum xarch_elf_data */
	uint16_t machine;	 /* e_machine */
	uint16_t alt_machine;	 /* legacy e_machine also accepted, 0 if none */
	uint32_t eflags_mask;	 /* e_flags bits that select this row ... */
	uint32_t eflags_value;	 /* ... and their value (MIPS n32 vs o32) */
	uint8_t magic_len;
	uint8_t magic[XARCH_MAGIC_MAX];
	uint8_t mask[XARCH_MAGIC_MAX];
	bool fixed_magic;	 /* differs from QEMU's table on purpose */
};

/* The whole table, `*ret_n` rows. */
const struct xarch_arch *xarch_arch_table(size_t *ret_n);

/* Look up by canonical name, uname, Debian, RPM, OCI ("linux/arm64/v8",
 * "arm64", "arm/v7") or alias; case-sensitive like the sources. */
const struct xarch_arch *xarch_arch_lookup(const char *name);

/* The row an ELF header with these fields belongs to, or NULL. */
const struct xarch_arch *xarch_arch_from_elf(unsigned elf_class, unsigned elf_data,
					     unsigned machine, uint32_t eflags);

/* The arch this program was compiled for (what uname -m normally says). */
const struct xarch_arch *xarch_arch_host(void);

/* "linux/arm64/v8" style platform string into buf; returns buf. */
const char *xarch_arch_platform(const struct xarch_arch *a, char *buf, size_t len);

/* Qemu user binary names: "qemu-riscv64-static" / "qemu-riscv64". */
const char *xarch_arch_qemu_static(const struct xarch_arch *a, char *buf, size_t len);

#endif
