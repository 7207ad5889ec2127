/* SPDX-License-Identifier: MIT */
#ifndef XARCH_BOARD_H
#define XARCH_BOARD_H

/*
 * Board directories: a Dockerfile (the rootfs), a genimage.cfg (the disk
 * layout), a board.cfg (the steps the seed's mkimage.sh did by hand, made
 * declarative) and optional hooks/ and input/ files.
 *
 * board.cfg (libconfuse syntax, like genimage.cfg; every option optional):
 *
 *   board {
 *     arch = "riscv64"                   # else the Dockerfile's --platform
 *     hostname = "debian-rv64"           # /etc/hostname (and /etc/hosts line)
 *     fstab = { "UUID=... / ext4 defaults 0 1", ... }   # /etc/fstab, replaced
 *     remove = { "/.dockerenv", "/etc/resolv.conf" }     # (the default list)
 *     esp = "/boot/efi"                  # moved out of the rootfs: the ESP's files
 *     efi-loader = "EFI/debian/grubriscv64.efi"  # copied to EFI/BOOT/BOOT<ARCH>.EFI
 *     run = { "update-grub" }            # inside the target, emulated, ESP mounted
 *     hooks = { "hooks/fixup.sh" }       # on the host, env ROOTFS ESP BOARD WORK ARCH
 *     image = "disk.img"                 # the disk of genimage.cfg to boot
 *     qcow2 = true                       # also DISK.qcow2
 *     memory = "2G"  cpus = 4            # for start_vm.sh / xarch boot
 *   }
 *
 * All paths inside the rootfs are resolved inside it (a rootfs cannot make
 * xarch write to the host).
 */
#include <stdbool.h>
#include <stddef.h>

#include "xarch/container.h"
#include "xarch/error.h"

struct xarch_board {
	char dir[4096];
	char arch[32], hostname[256], esp[256], efi_loader[256], image[256], memory[32];
	unsigned cpus;
	bool qcow2, remove_set;
	char **fstab, **remove, **run, **hooks;
	size_t n_fstab, n_remove, n_run, n_hooks;
};

/* Read DIR/board.cfg (absent: all defaults).  Errors name file and line. */
int xarch_board_load(const char *dir, struct xarch_board *ret, struct xarch_error *err);
void xarch_board_release(struct xarch_board *b);

/* The removable-media EFI loader name for an arch ("BOOTRISCV64.EFI"), NULL if none. */
const char *xarch_efi_loader_name(const char *arch);

/*
 * The file steps on a built rootfs, in order: remove the `remove` paths,
 * write fstab and hostname, move the `esp` directory to `espdir` (created;
 * an empty directory is left in the rootfs as the mount point), copy the
 * EFI loader to EFI/BOOT/BOOT<ARCH>.EFI in espdir (efi-loader, else the
 * first EFI/<vendor>/grub*.efi or shim*.efi found).
 */
int xarch_board_prepare(const struct xarch_board *b, const char *rootfs, const char *espdir,
			struct xarch_error *err);

struct xarch_genimage_result;

struct xarch_board_build_opts {
	const char *rootfs; /* a directory (copied, never changed) or a tarball/image
			     * source (tar:, oci:, docker-archive:); NULL: BOARD/Dockerfile
			     * built with xarch_build() for the board's arch */
	const char *output; /* NULL: BOARD/output */
	bool keep_work;	    /* keep OUTPUT/.work-XXXXXX (rootfs, efi) for inspection */
	bool no_cache;	    /* the Dockerfile build's --no-cache */
	/* the Dockerfile build's step lines and warnings */
	void (*note)(void *data, enum xarch_note_level level, const char *msg);
	/* progress: a stage ended ("rootfs", "prepare", "hooks", "genimage") */
	void (*stage)(void *data, const char *stage, double seconds);
	void (*image_done)(void *data, const struct xarch_genimage_result *res);
	void *data;
};

/*
 * The whole pipeline into OUTPUT: the rootfs, xarch_board_prepare(), the
 * `run` commands inside the target (emulated, ESP mounted at `esp`), the
 * host hooks, then genimage.cfg (rootpath = the rootfs, inputpath = a work
 * directory holding efi/ and the board's input/ files), then
 * OUTPUT/start_vm.sh booting the disk (`image`, else the first hdimage; its
 * .qcow2 with qcow2 = true) as `xarch boot` would.  Outputs are given
 * to SUDO_UID/SUDO_GID when run through sudo.
 */
int xarch_board_build(const struct xarch_board *b, const struct xarch_board_build_opts *o,
		      struct xarch_error *err);

#endif
