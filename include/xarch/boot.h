/* SPDX-License-Identifier: MIT */
/* Booting a disk image under qemu-system: the command line per architecture
 * (machine, firmware, devices), arch inference from the image, a console
 * watcher with --expect, and start_vm.sh. */
#ifndef XARCH_BOOT_H
#define XARCH_BOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xarch/error.h"

struct xarch_boot_opts {
	const char *image;	  /* raw or qcow2 (told by the qcow2 magic) */
	const char *arch;	  /* NULL: inferred from the image */
	const char *firmware;	  /* NULL: the first installed of the arch's list */
	const char *loader;	  /* riscv64: U-Boot given to -kernel; NULL: search */
	uint64_t memory_mib;	  /* 0: 2048 */
	unsigned cpus;		  /* 0: min(4, online CPUs) */
	bool snapshot;		  /* writes go to a temp overlay, the image is untouched */
	unsigned ssh_port;	  /* forward 127.0.0.1:PORT to the guest's port 22; 0: none */
	const char *const *extra; /* more qemu arguments, NULL-terminated; may be NULL */
};

struct xarch_boot_cmd;

/*
 * Work out the qemu command line for a boot.  The image must exist; qemu
 * and the firmware need not (so a script can be written on another machine):
 * xarch_boot_cmd_missing() tells, and xarch_boot_run() refuses to start.
 */
int xarch_boot_cmd_new(const struct xarch_boot_opts *o, struct xarch_boot_cmd **ret,
		       struct xarch_error *err);
void xarch_boot_cmd_free(struct xarch_boot_cmd *c);

/* argv, NULL-terminated; argv[0] is the qemu binary's name. */
char *const *xarch_boot_cmd_argv(const struct xarch_boot_cmd *c);
/* The canonical arch name ("riscv64", "aarch64") and how it was chosen
 * ("--arch", "partition type root-riscv64", "ESP loader EFI/BOOT/BOOTAA64.EFI"). */
const char *xarch_boot_cmd_arch(const struct xarch_boot_cmd *c);
const char *xarch_boot_cmd_arch_source(const struct xarch_boot_cmd *c);
/* NULL when qemu and the firmware are installed, else a one-line message
 * naming the Debian package to install. */
const char *xarch_boot_cmd_missing(const struct xarch_boot_cmd *c);

/* The command as one shell-quoted line (for --print-cmd); malloc'd. */
char *xarch_boot_cmd_line(const struct xarch_boot_cmd *c);

/*
 * Write a POSIX sh script that runs the same qemu command (extra script
 * arguments are appended to qemu's).  Files under the script's directory
 * are named relative to it, so the directory can be moved; others are
 * absolute.  Written atomically, mode 0755.
 */
int xarch_boot_write_script(const struct xarch_boot_cmd *c, const char *path,
			    struct xarch_error *err);

struct xarch_boot_run_opts {
	const char *expect; /* POSIX extended regex matched per console line; NULL none */
	unsigned timeout;   /* seconds; 0 none */
	int out_fd;	    /* console copy (usually 1); -1 none */
	int log_fd;	    /* another copy; -1 none */
	bool interactive;   /* qemu on this terminal (its Ctrl-a x quits) */
};

/*
 * Run qemu.  With `expect`: returns 0 as soon as a console line matches,
 * then stops qemu (SIGTERM, SIGKILL after 5 s); -ETIMEDOUT or -ECHILD (qemu
 * ended first) with a message.  Without: waits for qemu and returns its exit
 * code (128+N for signal N); -ETIMEDOUT when `timeout` passes first.
 * SIGINT/SIGTERM/SIGHUP stop qemu and return -EINTR.
 */
int xarch_boot_run(const struct xarch_boot_cmd *c, const struct xarch_boot_run_opts *o,
		   struct xarch_error *err);

/*
 * The architecture of a disk image (raw or qcow2): from its GPT partition
 * types (Discoverable Partitions root-/usr- GUIDs), else from the removable
 * loader names in EFI/BOOT on its ESP or FAT partitions.  Writes the
 * canonical arch name and a "why" text.  -ENOENT with a message when
 * nothing tells, -EINVAL when the hints disagree.
 */
int xarch_boot_detect_arch(const char *image, char *ret_arch, size_t arch_len, char *ret_why,
			   size_t why_len, struct xarch_error *err);

#endif
