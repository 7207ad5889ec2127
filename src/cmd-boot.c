// SPDX-License-Identifier: MIT
/* xarch boot IMAGE: the image under qemu-system, headless on the serial console. */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xarch.h"
#include "xarch/boot.h"

static void help(void)
{
	puts("usage: xarch boot [--arch ARCH] [--memory SIZE] [--cpus N] [--snapshot]\n"
	     "                  [--expect REGEX [--timeout SECONDS]] [--log FILE]\n"
	     "                  [--interactive] [--print-cmd] [--write-script FILE]\n"
	     "                  [--firmware FILE] [--loader FILE] [--ssh-port PORT]\n"
	     "                  IMAGE [-- QEMU-ARGS...]\n\n"
	     "Boot a disk image (raw or qcow2) under qemu-system with the serial console\n"
	     "on stdout, a user-mode network and virtio disk, network and rng.  The arch\n"
	     "comes from the image's GPT partition types (root-riscv64, root-arm64 ...)\n"
	     "or its ESP's EFI/BOOT/BOOT*.EFI loader, unless --arch says it.\n"
	     "  riscv64  qemu-system-riscv64 -M virt, OpenSBI + U-Boot (opensbi, u-boot-qemu)\n"
	     "  aarch64  qemu-system-aarch64 -M virt, EDK2 (qemu-efi-aarch64)\n"
	     "  arm      qemu-system-arm -M virt, U-Boot (u-boot-qemu)\n"
	     "  x86_64   qemu-system-x86_64 -M q35, OVMF (ovmf); KVM when available\n"
	     "The guest writes to the image; --snapshot discards its writes instead.\n\n"
	     "  -a, --arch ARCH          riscv64, aarch64 (arm64), arm (armhf), x86_64\n"
	     "  -m, --memory SIZE        guest RAM: 2G (default), 512M, a number is MiB\n"
	     "  -c, --cpus N             guest CPUs (default: this machine's, at most 4)\n"
	     "  -s, --snapshot           keep the image unchanged\n"
	     "  -e, --expect REGEX       exit 0 once a console line matches the POSIX\n"
	     "                           extended regex (escape sequences removed), then\n"
	     "                           stop qemu; exit 1 if qemu ends or time runs out\n"
	     "  -t, --timeout SECONDS    give up after this long (default with --expect 600)\n"
	     "  -l, --log FILE           copy the console to FILE as well\n"
	     "  -i, --interactive        attach this terminal (Ctrl-a x quits qemu)\n"
	     "      --print-cmd          print the qemu command line and exit\n"
	     "      --write-script FILE  write a start_vm.sh running the same command\n"
	     "      --firmware FILE      instead of the arch's firmware (-bios)\n"
	     "      --loader FILE        riscv64: instead of U-Boot (-kernel)\n"
	     "      --ssh-port PORT      forward 127.0.0.1:PORT to the guest's port 22\n"
	     "  -h, --help\n\n"
	     "Without --expect or --interactive, qemu runs until it exits (stdin closed);\n"
	     "the exit code is qemu's.");
}

enum { O_PRINT = 256, O_SCRIPT, O_FIRMWARE, O_LOADER, O_SSH };

static int parse_size_mib(const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	uint64_t mul = 1;
	if (end == s)
		return -1;
	if (*end == 'G' || *end == 'g')
		mul = 1024, end++;
	else if (*end == 'M' || *end == 'm')
		end++;
	if (*end == 'i' && end[1] == 'B')
		end += 2;
	else if (*end == 'B')
		end++;
	if (*end || !v || v > (UINT64_C(1) << 22) / mul)
		return -1;
	*ret = v * mul;
	return 0;
}

static int parse_uint(const char *s, unsigned max, unsigned *ret)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	if (end == s || *end || !v || v > max)
		return -1;
	*ret = (unsigned)v;
	return 0;
}

int cmd_boot(int argc, char **argv)
{
	/* clang-format off */
	static const struct option opts[] = {
		{ "arch", required_argument, NULL, 'a' },
		{ "memory", required_argument, NULL, 'm' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "snapshot", no_argument, NULL, 's' },
		{ "expect", required_argument, NULL, 'e' },
		{ "timeout", required_argument, NULL, 't' },
		{ "log", required_argument, NULL, 'l' },
		{ "interactive", no_argument, NULL, 'i' },
		{ "print-cmd", no_argument, NULL, O_PRINT },
		{ "write-script", required_argument, NULL, O_SCRIPT },
		{ "firmware", required_argument, NULL, O_FIRMWARE },
		{ "bios", required_argument, NULL, O_FIRMWARE },
		{ "loader", required_argument, NULL, O_LOADER },
		{ "ssh-port", required_argument, NULL, O_SSH },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	/* clang-format on */
	struct xarch_boot_opts o = {0};
	struct xarch_boot_run_opts ro = {.out_fd = 1, .log_fd = -1};
	struct xarch_error err = {0};
	const char *log = NULL, *script = NULL;
	bool print = false, timeout_set = false;
	int c, r;

	optind = 1;
	/* "+": options end at IMAGE, so `--` and qemu's own options follow it */
	while ((c = getopt_long(argc, argv, "+a:m:c:se:t:l:ih", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			o.arch = optarg;
			break;
		case 'm':
			if (parse_size_mib(optarg, &o.memory_mib) < 0)
				return usage_error("boot", "--memory wants a size like 2G or 512M");
			break;
		case 'c':
			if (parse_uint(optarg, 512, &o.cpus) < 0)
				return usage_error("boot", "--cpus wants a number from 1 to 512");
			break;
		case 's':
			o.snapshot = true;
			break;
		case 'e':
			ro.expect = optarg;
			break;
		case 't':
			if (parse_uint(optarg, 7 * 86400, &ro.timeout) < 0)
				return usage_error("boot", "--timeout wants seconds, at least 1");
			timeout_set = true;
			break;
		case 'l':
			log = optarg;
			break;
		case 'i':
			ro.interactive = true;
			break;
		case O_PRINT:
			print = true;
			break;
		case O_SCRIPT:
			script = optarg;
			break;
		case O_FIRMWARE:
			o.firmware = optarg;
			break;
		case O_LOADER:
			o.loader = optarg;
			break;
		case O_SSH:
			if (parse_uint(optarg, 65535, &o.ssh_port) < 0)
				return usage_error("boot", "--ssh-port wants a port number");
			break;
		case 'h':
			help();
			return 0;
		default:
			return usage_error("boot", "invalid option");
		}
	}
	if (optind >= argc)
		return usage_error("boot", "missing the disk image");
	o.image = argv[optind++];
	if (optind < argc) {
		if (strcmp(argv[optind], "--") != 0)
			return usage_error("boot",
					   "unexpected argument '%s' (qemu's options go after --)",
					   argv[optind]);
		o.extra = (const char *const *)argv + optind + 1;
	}
	if (ro.interactive && (ro.expect || log))
		return usage_error("boot", "--interactive does not go with --expect or --log");
	if (ro.expect && !timeout_set)
		ro.timeout = 600;

	struct xarch_boot_cmd *cmd;
	if ((r = xarch_boot_cmd_new(&o, &cmd, &err)) < 0)
		return die_err(&err, r);
	const char *missing = xarch_boot_cmd_missing(cmd);
	if (print || script) {
		if (print) {
			char *line = xarch_boot_cmd_line(cmd);
			if (line)
				fputs(line, stdout);
			free(line);
		}
		if (script && (r = xarch_boot_write_script(cmd, script, &err)) < 0) {
			xarch_boot_cmd_free(cmd);
			return die_err(&err, r);
		}
		if (missing)
			warn("%s", missing);
		xarch_boot_cmd_free(cmd);
		return 0;
	}
	if (log) {
		ro.log_fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (ro.log_fd < 0) {
			xarch_boot_cmd_free(cmd);
			return die("cannot write '%s': %m", log);
		}
	}
	fprintf(stderr, "xarch: booting %s (%s, %s)%s\n", o.image, xarch_boot_cmd_arch(cmd),
		xarch_boot_cmd_arch_source(cmd), ro.interactive ? "; Ctrl-a x quits" : "");
	fflush(stdout);
	r = xarch_boot_run(cmd, &ro, &err);
	xarch_boot_cmd_free(cmd);
	if (ro.log_fd >= 0)
		close(ro.log_fd);
	if (r < 0) {
		/* the console rarely ends with a newline; the reason gets its own line */
		fputc('\n', stdout);
		fflush(stdout);
		return die_err(&err, r);
	}
	if (ro.expect) {
		fputc('\n', stdout);
		if (is_tty(2))
			fprintf(stderr, "xarch: '%s' appeared on the console\n", ro.expect);
	}
	return r;
}
