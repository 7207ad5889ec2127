/* SPDX-License-Identifier: MIT */
/* Partition tables (MBR, GPT, hybrid) written into a disk image file, laid out
 * the way genimage's hdimage does it. */
#ifndef XARCH_PTABLE_H
#define XARCH_PTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xarch/error.h"

#define XARCH_PT_MAX_PARTS	   128
#define XARCH_GPT_LOCATION_DEFAULT 1024

/* A byte range [start, end) of a partition's content (relative to the
 * partition's start) that holds nothing: table areas and other partitions
 * may overlap it (genimage's `holes`). */
struct xarch_hole {
	uint64_t start, end;
};

/* GPT attribute bits (UEFI + Discoverable Partitions Specification) */
#define XARCH_GPT_ATTR_LEGACY_BOOT  (UINT64_C(1) << 2)
#define XARCH_GPT_ATTR_READ_ONLY    (UINT64_C(1) << 60)
#define XARCH_GPT_ATTR_HIDDEN	    (UINT64_C(1) << 62)
#define XARCH_GPT_ATTR_NO_AUTOMOUNT (UINT64_C(1) << 63)

struct xarch_part {
	uint64_t offset, size; /* bytes; multiples of 512 when in_table */
	uint8_t mbr_type;      /* MBR byte; hybrid: 0 = only in the GPT */
	bool bootable;	       /* MBR 0x80; GPT attribute bit 2 */
	uint64_t gpt_attrs;    /* more GPT attribute bits (XARCH_GPT_ATTR_*) */
	uint8_t type_guid[16]; /* on-disk (mixed-endian) byte order */
	uint8_t part_guid[16];
	char name[72]; /* ASCII, at most 36 characters in GPT */
	bool in_table; /* false: raw data at offset, no table entry */
	/* MBR: a logical partition in the extended partition; its EBR is the
	 * sector at ebr_offset (before offset).  The extended partition spans
	 * from the first logical's EBR to the end of the last logical. */
	bool logical;
	uint64_t ebr_offset;
	const struct xarch_hole *holes;
	size_t n_holes;
};

struct xarch_ptable {
	enum { XARCH_PT_MBR, XARCH_PT_GPT, XARCH_PT_HYBRID, XARCH_PT_NONE } type;
	uint64_t disk_size; /* bytes */
	uint32_t disk_signature;
	uint8_t disk_guid[16]; /* on-disk byte order */
	uint64_t gpt_location; /* bytes; 0 means the default, 1024 (LBA 2) */
	bool gpt_no_backup;
	size_t n;
	struct xarch_part parts[XARCH_PT_MAX_PARTS];
};

/*
 * Parse "78662d6f-706f-6570-6f72-742d726f6f74" or a shortcut into on-disk
 * (mixed-endian) order.  Shortcuts (case-insensitive): genimage's L S H U R V
 * F, "linux", and the Discoverable Partitions Specification's names as
 * systemd-id128 prints them: esp, xbootldr, swap, home, srv, var, tmp,
 * user-home, linux-generic, root-<arch>, usr-<arch> with -verity and
 * -verity-sig (arch: alpha arc arm arm64 ia64 loongarch64 mips mips64 mips-le
 * mips64-le parisc ppc ppc64 ppc64-le riscv32 riscv64 s390 s390x tilegx x86
 * x86-64).  0 or -EINVAL.
 */
int xarch_guid_parse(const char *s, uint8_t out[16]);

/* Format on-disk GUID bytes as lowercase text; buf needs 37 bytes. */
void xarch_guid_format(const uint8_t g[16], char buf[37]);

/*
 * Validate the layout: fit in the disk, sector alignment of table entries,
 * overlaps of any two partitions (raw ones too) and of partitions with the
 * table areas (MBR bytes 440..511, GPT header, entry arrays, EBRs) unless a
 * hole covers the overlap, MBR/EBR rules, GPT names.  Returns the number of
 * table entries.  Messages name the partitions and their byte ranges.
 */
int xarch_ptable_check(const struct xarch_ptable *t, struct xarch_error *err);
/* The same; on error *ret_part is the index of the partition the message is
 * about, or (size_t)-1 when it is about the table as a whole. */
int xarch_ptable_check_at(const struct xarch_ptable *t, size_t *ret_part, struct xarch_error *err);

/* "16 MiB", "33 KiB", "70000 bytes": exact sizes as people write them. */
void xarch_size_exact(uint64_t v, char *buf, size_t len);

/* Check, then write the table(s) with pwrite: only the table bytes (MBR 440..511,
 * the 92-byte GPT headers, the entry arrays, the EBRs' entries), so data already
 * in the file (a boot loader's holes) around them is kept. */
int xarch_ptable_write(int fd, const struct xarch_ptable *t, struct xarch_error *err);

#endif
