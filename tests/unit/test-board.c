// SPDX-License-Identifier: MIT
/* Board directories: board.cfg parsing and the file steps on a rootfs,
 * including symlinks that try to point the steps at the host. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "xarch/board.h"

static char top[] = "/tmp/xarch-test-board.XXXXXX";

static void put(const char *rel, const char *text)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/%s", top, rel);
	FILE *f = fopen(p, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static bool has(const char *rel, const char *text)
{
	char p[4096], buf[4096] = "";
	snprintf(p, sizeof(p), "%s/%s", top, rel);
	FILE *f = fopen(p, "r");
	if (!f)
		return false;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return text ? strstr(buf, text) != NULL : true;
}

static bool exists(const char *rel)
{
	char p[4096];
	struct stat st;
	snprintf(p, sizeof(p), "%s/%s", top, rel);
	return lstat(p, &st) == 0;
}

static void sh(const char *cmd)
{
	char c[8192];
	snprintf(c, sizeof(c), "cd '%s' && %s", top, cmd);
	if (system(c) != 0)
		fprintf(stderr, "setup failed: %s\n", cmd);
}

static void test_load(void)
{
	struct xarch_board b;
	struct xarch_error err = {0};
	sh("mkdir -p b1 b2 b3");
	put("b1/board.cfg", "board {\n\tarch = \"riscv64\"\n\thostname = \"rv\"\n"
			    "\tfstab = { \"UUID=1 / ext4 defaults 0 1\", \"UUID=2 /boot/efi vfat "
			    "defaults 0 2\" }\n\trun = { \"update-grub\" }\n\tqcow2 = true\n"
			    "\tcpus = 2\n}\n");
	int r = xarch_board_load(".", &b, &err); /* no board.cfg: defaults */
	CHECK(r == 0 && !strcmp(b.esp, "/boot/efi") && !b.n_fstab && !b.qcow2,
	      "no board.cfg: defaults (%s)", err.msg);
	xarch_board_release(&b);

	char d[4200];
	snprintf(d, sizeof(d), "%s/b1", top);
	r = xarch_board_load(d, &b, &err);
	CHECK(r == 0, "board.cfg loads (%s)", err.msg);
	CHECK(!strcmp(b.arch, "riscv64") && !strcmp(b.hostname, "rv") && b.n_fstab == 2 &&
		  b.n_run == 1 && b.qcow2 && b.cpus == 2 && !strcmp(b.memory, "2G"),
	      "board.cfg values");
	xarch_board_release(&b);

	put("b2/board.cfg", "board {\n\tarch = \"riscv64\"\n\tbogus = 1\n}\n");
	snprintf(d, sizeof(d), "%s/b2", top);
	r = xarch_board_load(d, &b, &err);
	CHECK(r < 0 && strstr(err.msg, "board.cfg:3") && strstr(err.msg, "bogus"),
	      "unknown option named with its line (%s)", err.msg);

	put("b3/board.cfg", "board { arch = \"vax11\" }\n");
	snprintf(d, sizeof(d), "%s/b3", top);
	r = xarch_board_load(d, &b, &err);
	CHECK(r < 0 && strstr(err.msg, "unknown arch 'vax11'"), "unknown arch (%s)", err.msg);

	CHECK(!strcmp(xarch_efi_loader_name("riscv64"), "BOOTRISCV64.EFI") &&
		  !strcmp(xarch_efi_loader_name("arm64"), "BOOTAA64.EFI") &&
		  !strcmp(xarch_efi_loader_name("x86_64"), "BOOTX64.EFI") &&
		  !xarch_efi_loader_name("s390x"),
	      "removable loader names");
}

static void test_prepare(void)
{
	struct xarch_board b;
	struct xarch_error err = {0};
	char d[4200], root[4200], esp[4200];
	sh("mkdir -p r/etc r/boot/efi/EFI/debian host && echo grub > "
	   "r/boot/efi/EFI/debian/grubriscv64.efi && touch r/.dockerenv && "
	   "echo host > host/passwd && ln -s /etc/hostname-of-host r/etc/resolv.conf && "
	   "ln -s ../../host/passwd r/etc/fstab && ln -s /tmp r/etc/hostname");
	snprintf(d, sizeof(d), "%s/b1", top);
	snprintf(root, sizeof(root), "%s/r", top);
	snprintf(esp, sizeof(esp), "%s/efi", top);
	int r = xarch_board_load(d, &b, &err);
	if (r == 0)
		r = xarch_board_prepare(&b, root, esp, &err);
	CHECK(r == 0, "prepare runs (%s)", err.msg);
	CHECK(!exists("r/.dockerenv") && !exists("r/etc/resolv.conf"), "default removals");
	CHECK(has("r/etc/fstab", "UUID=2 /boot/efi vfat defaults 0 2\n"), "fstab written");
	CHECK(has("host/passwd", "host") && !has("host/passwd", "UUID"),
	      "fstab symlink replaced, its target untouched");
	CHECK(has("r/etc/hostname", "rv\n"), "hostname written (symlink to /tmp replaced)");
	CHECK(exists("r/boot/efi") && !exists("r/boot/efi/EFI"), "ESP moved out, mount point left");
	CHECK(has("efi/EFI/debian/grubriscv64.efi", "grub"), "ESP files in espdir");
	CHECK(has("efi/EFI/BOOT/BOOTRISCV64.EFI", "grub"), "removable loader copied");
	xarch_board_release(&b);
}

int main(void)
{
	if (!mkdtemp(top)) {
		perror("mkdtemp");
		return 1;
	}
	test_load();
	test_prepare();
	char c[4200];
	snprintf(c, sizeof(c), "rm -rf '%s'", top);
	if (system(c) != 0)
		return 1;
	return check_done();
}
