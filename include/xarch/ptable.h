/* SPDX-License-Identifier: MIT */
/* Partition tables (MBR, GPT, hybrid) written into a disk image file, laid out
 * the way genimage's hdimage does it. */
#ifndef XARCH_PTABLE_H
#define XARCH_PTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xarch/error.h"

#define XARCH_PT_MAX_PARTS 128
#define XARCH_GPT_LOCATION_DEFAULT 1024

struct xarch_part {
	uint64_t offset, size;	/* bytes, multiples of 512 */
	uint8_t mbr_type;	/* MBR/hybrid: 0 = not in the MBR (hybrid) */
	bool bootable;
	uint8_t type_guid[16];	/* on-disk (mixed-endian) byte order */
	uint8_t part_guid[16];
	char name[72];		/* ASCII, at most 36 characters in GPT */
	bool in_table;
};

struct xarch_ptable {
	enum { XARCH_PT_MBR, XARCH_PT_GPT, XARCH_PT_HYBRID, XARCH_PT_NONE } type;
	uint64_t disk_size;	/* bytes */
	uint32_t disk_signature;
	uint8_t disk_guid[16];	/* on-disk byte order */
	uint64_t gpt_location;	/* bytes; 0 means the default, 1024 (LBA 2) */
	bool gpt_no_backup;
	size_t n;
	struct xarch_part parts[XARCH_PT_MAX_PARTS];
};

/*
 * Parse "78662d6f-706f-6570-6f72-742d726f6f74" or a shortcut into on-disk
 * (mixed-endian) order.  Shortcuts: genimage's L S H U R V F, plus ESP and
 * root-<arch> / usr-<arch> of the Discoverable Partitions Specification for
 * x86-64, arm64 and riscv64.  0 or -EINVAL.
 */
int xarch_guid_parse(const char *s, uint8_t out[16]);

/* Format on-disk GUID bytes as lowercase text; buf needs 37 bytes. */
void xarch_guid_format(const uint8_t g[16], char buf[37]);

/* Validate the layout: alignment, fit, overlaps with each other and with the
 * table areas, MBR entry count. */
int xarch_ptable_check(const struct xarch_ptable *t, struct xarch_error *err);

/* Check, then write the table(s) with pwrite; partition data is untouched. */
int xarch_ptable_write(int fd, const struct xarch_ptable *t, struct xarch_error *err);

#endif
