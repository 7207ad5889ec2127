/* SPDX-License-Identifier: MIT */
/* Private to lib/boot*.c: the boot target table. */
#ifndef XARCH_BOOT_INT_H
#define XARCH_BOOT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One row per architecture xarch boots: qemu machine, firmware, devices. */
struct xa_boot_target {
	const char *arch;	     /* xarch_arch name */
	const char *dps;	     /* Discoverable Partitions arch: root-<dps> */
	const char *efi_loader;	     /* removable-media loader in EFI/BOOT */
	const char *qemu;	     /* qemu-system-<x> */
	const char *qemu_pkg;	     /* Debian package of that binary */
	const char *machine;	     /* -M */
	const char *cpu;	     /* -cpu (TCG); NULL: the machine's default */
	const char *const *firmware; /* -bios, the first installed; [0] the default */
	const char *firmware_pkg;
	const char *const *loader; /* -kernel (U-Boot after OpenSBI), NULL: none */
	const char *loader_pkg;
	bool mmio;		/* virtio-*-device instead of virtio-*-pci */
	const char *kvm_family; /* host family on which -accel kvm is used */
};

const struct xa_boot_target *xa_boot_target_by_name(const char *arch);
const struct xa_boot_target *xa_boot_target_by_loader(const char *name);
/* The row whose root-/usr- (-verity, -verity-sig) GUID is `type` (on-disk
 * order); writes the type's name ("root-riscv64"). */
const struct xa_boot_target *xa_boot_target_by_type_guid(const uint8_t type[16], char *name,
							 size_t len);
/* The names of the table's arches, ", "-separated. */
const char *xa_boot_target_names(char *buf, size_t len);

bool xa_boot_is_qcow2(const uint8_t *head, size_t len);

#endif
