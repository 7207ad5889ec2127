// SPDX-License-Identifier: MIT
/* xarch bootstrap [OPTIONS] OUT: a target rootfs from a distribution mirror. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xarch.h"
#include "xarch/bootstrap.h"

static void help(void)
{
	puts(
	    "usage: xarch bootstrap [OPTIONS] OUT\n\n"
	    "Create a root filesystem for ARCH from a distribution's mirror: Debian/Ubuntu\n"
	    "with mmdebstrap (debootstrap if it is missing), RPM distributions with\n"
	    "dnf --forcearch --installroot.  Foreign maintainer scripts run under qemu-user\n"
	    "through a private binfmt_misc (the host's table is not touched).  OUT is a new\n"
	    "directory or a tarball (.tar, .tar.gz, .tar.xz, .tar.zst); it appears only\n"
	    "when everything worked.  Use it in a Dockerfile as FROM dir:OUT or FROM tar:OUT.\n\n"
	    "  --distro NAME          debian (default), ubuntu, openeuler, fedora, rpm\n"
	    "  --arch ARCH            riscv64, arm64, armhf, ... (default: this machine's)\n"
	    "  -q, --quiet            no tool output (shown when it fails)\n"
	    "  --json                 print a summary (path, arch, distro, suite, packages, size)\n"
	    "  --include PKG[,PKG]    extra packages (rpm: the packages to install)\n"
	    "  --tool TOOL            mmdebstrap, debootstrap or dnf (default: by distro)\n"
	    "  --qemu-dir DIR         where qemu-ARCH-static is (default: PATH)\n\n"
	    "Debian/Ubuntu:\n"
	    "  --suite SUITE          bookworm, trixie, forky, sid, noble, ... (default:\n"
	    "                         debian stable, ubuntu noble)\n"
	    "  --mirror URL           default: the Debian/Ubuntu URI of /etc/apt, else\n"
	    "                         http://deb.debian.org/debian (ports.ubuntu.com for\n"
	    "                         Ubuntu on arches other than amd64/i386)\n"
	    "  --variant V            minbase, buildd, important, standard, ... (tool's default)\n"
	    "  --components C[,C]     main,contrib,... (default main)\n"
	    "  --no-check-valid-until accept a Release file past its Valid-Until date (frozen\n"
	    "                         snapshots, stale mirrors: testing/sid indexes expire\n"
	    "                         after a week)\n"
	    "  --no-probe             do not check the mirror's Release file first\n\n"
	    "RPM distributions:\n"
	    "  --releasever R         24.03LTS (openEuler default), 41 (Fedora default)\n"
	    "  --repo URL[,URL]       repository base URLs (repeatable; $basearch and\n"
	    "                         $releasever are expanded by dnf)\n"
	    "  --gpgkey URL           the repositories' signing key\n"
	    "  --no-gpgcheck          accept unsigned packages\n"
	    "  --rpm-dbpath DIR       the target rpm's database path (default by distro)\n"
	    "  -h, --help");
}

/* "a,b" + "c" -> "a,b,c" (repeatable list options) */
static int append_csv(char **dst, const char *add)
{
	char *s;
	if (asprintf(&s, "%s%s%s", *dst ? *dst : "", *dst ? "," : "", add) < 0)
		return -1;
	free(*dst);
	*dst = s;
	return 0;
}

static void on_note(void *data, const char *msg)
{
	bool *quiet = data;
	if (!*quiet || strncmp(msg, "warning", 7) == 0)
		fprintf(stderr, "xarch: %s\n", msg);
}

/* the last lines of the quiet log, after a failure */
static void show_log_tail(int fd)
{
	char buf[4096];
	off_t end = lseek(fd, 0, SEEK_END);
	if (end <= 0)
		return;
	off_t from = end > (off_t)sizeof(buf) - 1 ? end - (off_t)sizeof(buf) + 1 : 0;
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, from);
	if (n <= 0)
		return;
	buf[n] = 0;
	const char *p = buf + n;
	int lines = 0;
	while (p > buf && lines <= 15)
		if (*--p == '\n')
			lines++;
	fprintf(stderr, "xarch: the tool's last output:\n%s%s", p == buf && *p != '\n' ? p : p + 1,
		buf[n - 1] == '\n' ? "" : "\n");
}

int cmd_bootstrap(int argc, char **argv)
{
	/* clang-format off */
	static const struct option opts[] = {
		{ "distro", required_argument, NULL, 'D' },
		{ "arch", required_argument, NULL, 'a' },
		{ "suite", required_argument, NULL, 's' },
		{ "releasever", required_argument, NULL, 's' },
		{ "mirror", required_argument, NULL, 'm' },
		{ "repo", required_argument, NULL, 'r' },
		{ "include", required_argument, NULL, 'i' },
		{ "variant", required_argument, NULL, 'V' },
		{ "components", required_argument, NULL, 'c' },
		{ "gpgkey", required_argument, NULL, 'k' },
		{ "no-gpgcheck", no_argument, NULL, 'G' },
		{ "rpm-dbpath", required_argument, NULL, 'd' },
		{ "no-check-valid-until", no_argument, NULL, 'U' },
		{ "no-probe", no_argument, NULL, 'P' },
		{ "tool", required_argument, NULL, 't' },
		{ "qemu-dir", required_argument, NULL, 'Q' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	/* clang-format on */
	struct xarch_bootstrap_opts o = {.distro = "debian", .log_fd = -1};
	char *repos = NULL, *include = NULL;
	bool json = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		switch (c) {
		case 'D':
			o.distro = optarg;
			break;
		case 'a':
			o.arch = optarg;
			break;
		case 's':
			o.suite = optarg;
			break;
		case 'm':
			o.mirror = optarg;
			break;
		case 'r':
			if (append_csv(&repos, optarg) < 0)
				return die("out of memory");
			break;
		case 'i':
			if (append_csv(&include, optarg) < 0)
				return die("out of memory");
			break;
		case 'V':
			o.variant = optarg;
			break;
		case 'c':
			o.components = optarg;
			break;
		case 'k':
			o.gpgkey = optarg;
			break;
		case 'G':
			o.no_gpgcheck = true;
			break;
		case 'd':
			o.rpm_dbpath = optarg;
			break;
		case 'U':
			o.no_check_valid_until = true;
			break;
		case 'P':
			o.no_probe = true;
			break;
		case 't':
			o.tool = optarg;
			break;
		case 'Q':
			o.qemu_dir = optarg;
			break;
		case 'q':
			o.quiet = true;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			help();
			return 0;
		default:
			return usage_error("bootstrap", "bad option");
		}
	}
	if (argc - optind != 1)
		return usage_error("bootstrap", argc == optind ? "no output given: name a new "
								 "directory or a .tar file"
							       : "only one output");
	if (!o.arch) {
		const struct xarch_arch *h = xarch_arch_host();
		o.arch = h ? h->name : "x86_64";
	}
	o.out = argv[optind];
	o.repos = repos;
	o.include = include;
	o.note = on_note;
	o.note_data = &o.quiet;
	int logfd = -1;
	if (o.quiet) {
		logfd = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		o.log_fd = logfd >= 0 ? logfd : open("/dev/null", O_WRONLY | O_CLOEXEC);
	}
	struct xarch_bootstrap_result res;
	struct xarch_error err = {0};
	int r = xarch_bootstrap(&o, &res, &err);
	free(repos);
	free(include);
	if (r < 0) {
		if (logfd >= 0)
			show_log_tail(logfd);
		if (o.log_fd >= 0)
			close(o.log_fd);
		return r == -EINVAL ? (die_err(&err, r), EXIT_USAGE) : die_err(&err, r);
	}
	if (o.log_fd >= 0)
		close(o.log_fd);
	char size[32];
	format_size(res.size, size, sizeof(size));
	const char *kind = res.tar ? "tar" : "dir";
	if (json) {
		struct json_object *j = json_object_new_object();
		json_object_object_add(j, "path", json_object_new_string(res.path));
		json_object_object_add(j, "format",
				       json_object_new_string(res.tar ? "tar" : "directory"));
		json_object_object_add(j, "arch", json_object_new_string(res.arch->name));
		json_object_object_add(j, "distro", json_object_new_string(res.distro->name));
		json_object_object_add(j, "suite", json_object_new_string(res.suite));
		json_object_object_add(j, "codename",
				       json_str(res.codename[0] ? res.codename : NULL));
		json_object_object_add(j, "mirror", json_object_new_string(res.mirror));
		json_object_object_add(j, "tool", json_object_new_string(res.tool));
		json_object_object_add(j, "emulation",
				       json_object_new_string(xarch_bootstrap_emu_str(res.emu)));
		json_object_object_add(
		    j, "packages", res.packages >= 0 ? json_object_new_int64(res.packages) : NULL);
		json_object_object_add(j, "size", json_object_new_int64((int64_t)res.size));
		json_object_object_add(j, "seconds", json_object_new_double(res.seconds));
		char from[4200];
		snprintf(from, sizeof(from), "FROM %s:%s", kind, res.path);
		json_object_object_add(j, "dockerfile", json_object_new_string(from));
		json_print(j);
		return 0;
	}
	char pk[32] = "? packages";
	if (res.packages >= 0)
		snprintf(pk, sizeof(pk), "%ld packages", res.packages);
	printf("%s: %s %s%s%s%s %s, %s, %s, %s (%.0f s)\n", res.path, res.distro->name, res.suite,
	       res.codename[0] && strcmp(res.codename, res.suite) ? " (" : "",
	       res.codename[0] && strcmp(res.codename, res.suite) ? res.codename : "",
	       res.codename[0] && strcmp(res.codename, res.suite) ? ")" : "", res.arch->name, pk,
	       size, xarch_bootstrap_emu_str(res.emu), res.seconds);
	printf("use it in a Dockerfile:  FROM %s:%s\n", kind, res.path);
	return 0;
}
