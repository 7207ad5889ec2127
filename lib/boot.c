// SPDX-License-Identifier: MIT
/*
 * xarch boot: qemu-system for a disk image.  One table row per architecture
 * says which qemu, machine, CPU, firmware and virtio transport boot a UEFI
 * disk there:
 *
 *  - riscv64: OpenSBI (M-mode) as -bios, U-Boot for S-mode as -kernel; U-Boot's
 *    distro boot scans the virtio disk and starts EFI/BOOT/BOOTRISCV64.EFI.
 *    U-Boot (2023.01) drives virtio-mmio network cards only, so all devices
 *    are virtio-mmio there.
 *  - aarch64: EDK2 (QEMU_EFI.fd) as -bios; its boot manager finds
 *    EFI/BOOT/BOOTAA64.EFI.  -bios keeps EFI variables in RAM, so nothing
 *    beside the image is written; boot entries do not persist, the removable
 *    path is what boots.  `-cpu max,pauth-impdef=on`: every feature, with
 *    the cheap pointer-authentication hash (the architected one is slow
 *    under TCG).
 *  - arm (armhf): U-Boot for qemu_arm as -bios (EFI/BOOT/BOOTARM.EFI).
 *  - x86_64: OVMF as -bios on q35, KVM when the host is x86 and /dev/kvm opens.
 *
 * The console watcher reads qemu's stdout (the serial port) through a pipe,
 * copies it out and matches each line, with terminal escape sequences and
 * carriage returns removed, against a POSIX extended regex.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>

#include "boot-int.h"
#include "internal.h"
#include "xarch/arch.h"
#include "xarch/boot.h"
#include "xarch/ptable.h"
#include "xarch/spawn.h"

#define LIST(...) ((const char *const[]){__VA_ARGS__, NULL})

static const struct xa_boot_target targets[] = {
    {.arch = "riscv64",
     .dps = "riscv64",
     .efi_loader = "BOOTRISCV64.EFI",
     .qemu = "qemu-system-riscv64",
     .qemu_pkg = "qemu-system-misc",
     .machine = "virt",
     .firmware = LIST("/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin",
		      "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.elf"),
     .firmware_pkg = "opensbi",
     .loader = LIST("/usr/lib/u-boot/qemu-riscv64_smode/uboot.elf",
		    "/usr/lib/u-boot/qemu-riscv64_smode/u-boot.bin"),
     .loader_pkg = "u-boot-qemu",
     .mmio = true},
    {.arch = "aarch64",
     .dps = "arm64",
     .efi_loader = "BOOTAA64.EFI",
     .qemu = "qemu-system-aarch64",
     .qemu_pkg = "qemu-system-arm",
     .machine = "virt",
     .cpu = "max,pauth-impdef=on",
     .firmware = LIST("/usr/share/qemu-efi-aarch64/QEMU_EFI.fd", "/usr/share/AAVMF/AAVMF_CODE.fd"),
     .firmware_pkg = "qemu-efi-aarch64",
     .kvm_family = "arm"},
    {.arch = "arm",
     .dps = "arm",
     .efi_loader = "BOOTARM.EFI",
     .qemu = "qemu-system-arm",
     .qemu_pkg = "qemu-system-arm",
     .machine = "virt",
     .cpu = "cortex-a15",
     .firmware = LIST("/usr/lib/u-boot/qemu_arm/u-boot.bin"),
     .firmware_pkg = "u-boot-qemu",
     .mmio = true},
    {.arch = "x86_64",
     .dps = "x86-64",
     .efi_loader = "BOOTX64.EFI",
     .qemu = "qemu-system-x86_64",
     .qemu_pkg = "qemu-system-x86",
     .machine = "q35",
     .cpu = "max",
     .firmware = LIST("/usr/share/ovmf/OVMF.fd", "/usr/share/qemu/OVMF.fd"),
     .firmware_pkg = "ovmf",
     .kvm_family = "x86"},
};

const struct xa_boot_target *xa_boot_target_by_name(const char *arch)
{
	const struct xarch_arch *a = xarch_arch_lookup(arch);
	for (size_t i = 0; a && i < ARRAY_SIZE(targets); i++)
		if (strcmp(targets[i].arch, a->name) == 0)
			return &targets[i];
	return NULL;
}

const struct xa_boot_target *xa_boot_target_by_loader(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(targets); i++)
		if (strcasecmp(targets[i].efi_loader, name) == 0)
			return &targets[i];
	return NULL;
}

const struct xa_boot_target *xa_boot_target_by_type_guid(const uint8_t type[16], char *name,
							 size_t len)
{
	static const char *const kinds[] = {"root", "usr"};
	static const char *const tails[] = {"", "-verity", "-verity-sig"};
	for (size_t i = 0; i < ARRAY_SIZE(targets); i++)
		for (size_t k = 0; k < ARRAY_SIZE(kinds); k++)
			for (size_t t = 0; t < ARRAY_SIZE(tails); t++) {
				char n[64];
				uint8_t g[16];
				snprintf(n, sizeof(n), "%s-%s%s", kinds[k], targets[i].dps,
					 tails[t]);
				if (xarch_guid_parse(n, g) == 0 && memcmp(g, type, 16) == 0) {
					snprintf(name, len, "%s", n);
					return &targets[i];
				}
			}
	return NULL;
}

const char *xa_boot_target_names(char *buf, size_t len)
{
	size_t at = 0;
	buf[0] = 0;
	for (size_t i = 0; i < ARRAY_SIZE(targets) && at < len; i++)
		at += (size_t)snprintf(buf + at, len - at, "%s%s", i ? ", " : "", targets[i].arch);
	return buf;
}

/* --- the command --- */

/* One argument; `path` (absolute) appears in `text` at [pre, pre+plen),
 * with commas doubled when it is inside a -drive option string. */
struct arg {
	char *text;
	char *path;
	size_t pre, plen;
	bool commas;
};

struct xarch_boot_cmd {
	const struct xa_boot_target *t;
	char arch_source[160];
	char *missing;
	struct arg *args;
	size_t n, cap;
	char **argv;
};

static int add(struct xarch_boot_cmd *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int add(struct xarch_boot_cmd *c, const char *fmt, ...)
{
	va_list ap;
	char *s;
	if (c->n + 2 > c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 32;
		struct arg *na = realloc(c->args, cap * sizeof(*na));
		if (!na)
			return -ENOMEM;
		c->args = na;
		c->cap = cap;
	}
	va_start(ap, fmt);
	int r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	c->args[c->n++] = (struct arg){.text = s};
	return 0;
}

/* prefix + path + suffix; with `commas`, the path's commas doubled (qemu's
 * option syntax) */
static int add_path(struct xarch_boot_cmd *c, const char *prefix, const char *path,
		    const char *suffix, bool commas)
{
	size_t pl = strlen(path), extra = 0;
	if (commas)
		for (const char *p = path; *p; p++)
			extra += *p == ',';
	_cleanup_free_ char *esc = malloc(pl + extra + 1);
	if (!esc)
		return -ENOMEM;
	size_t j = 0;
	for (const char *p = path; *p; p++) {
		esc[j++] = *p;
		if (commas && *p == ',')
			esc[j++] = ',';
	}
	esc[j] = 0;
	int r = add(c, "%s%s%s", prefix, esc, suffix);
	if (r < 0)
		return r;
	struct arg *a = &c->args[c->n - 1];
	if (!(a->path = strdup(path)))
		return -ENOMEM;
	a->pre = strlen(prefix);
	a->plen = j;
	a->commas = commas;
	return 0;
}

void xarch_boot_cmd_free(struct xarch_boot_cmd *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++) {
		free(c->args[i].text);
		free(c->args[i].path);
	}
	free(c->args);
	free(c->argv);
	free(c->missing);
	free(c);
}

static void boot_cmd_freep(struct xarch_boot_cmd **c)
{
	xarch_boot_cmd_free(*c);
}

char *const *xarch_boot_cmd_argv(const struct xarch_boot_cmd *c)
{
	return c->argv;
}
const char *xarch_boot_cmd_arch(const struct xarch_boot_cmd *c)
{
	return c->t->arch;
}
const char *xarch_boot_cmd_arch_source(const struct xarch_boot_cmd *c)
{
	return c->arch_source;
}
const char *xarch_boot_cmd_missing(const struct xarch_boot_cmd *c)
{
	return c->missing;
}

static void set_missing(struct xarch_boot_cmd *c, const char *what, const char *pkg)
{
	if (c->missing)
		return;
	if (asprintf(&c->missing, "%s is not installed: apt-get install %s", what, pkg) < 0)
		c->missing = NULL;
}

/* The first installed file of `list`, else list[0] (recorded as missing). */
static const char *pick(struct xarch_boot_cmd *c, const char *const *list, const char *what,
			const char *pkg)
{
	for (size_t i = 0; list[i]; i++)
		if (access(list[i], R_OK) == 0)
			return list[i];
	char w[PATH_MAX + 64];
	snprintf(w, sizeof(w), "%s (%s)", what, list[0]);
	set_missing(c, w, pkg);
	return list[0];
}

static int abs_path(const char *what, const char *p, char out[PATH_MAX], struct xarch_error *err)
{
	if (!realpath(p, out))
		return xarch_err_sys(err, errno, "cannot open %s '%s'", what, p);
	return 0;
}

static bool use_kvm(const struct xa_boot_target *t)
{
	const struct xarch_arch *h = xarch_arch_host(), *a = xarch_arch_lookup(t->arch);
	if (!t->kvm_family || !h || !a || strcmp(h->family, t->kvm_family) != 0 ||
	    h->elf_class != a->elf_class)
		return false;
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

int xarch_boot_cmd_new(const struct xarch_boot_opts *o, struct xarch_boot_cmd **ret,
		       struct xarch_error *err)
{
	__attribute__((cleanup(boot_cmd_freep))) struct xarch_boot_cmd *c = calloc(1, sizeof(*c));
	char image[PATH_MAX], fw[PATH_MAX], ld[PATH_MAX], arch[32], names[128];
	uint8_t head[4] = {0};
	struct stat st;
	int r;

	if (!c)
		return -ENOMEM;
	if ((r = abs_path("image", o->image, image, err)) < 0)
		return r;
	_cleanup_close_ int fd = open(image, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		return xarch_err_sys(err, errno, "cannot open image '%s'", o->image);
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return xarch_err(err, EINVAL, "image '%s' is not a file", o->image);
	if (pread(fd, head, sizeof(head), 0) < 0)
		return xarch_err_sys(err, errno, "cannot read image '%s'", o->image);
	bool qcow2 = xa_boot_is_qcow2(head, sizeof(head));

	if (o->arch) {
		c->t = xa_boot_target_by_name(o->arch);
		if (!c->t)
			return xarch_err(err, EINVAL, "cannot boot arch '%s': xarch boots %s",
					 o->arch, xa_boot_target_names(names, sizeof(names)));
		snprintf(c->arch_source, sizeof(c->arch_source), "--arch");
	} else {
		if ((r = xarch_boot_detect_arch(image, arch, sizeof(arch), c->arch_source,
						sizeof(c->arch_source), err)) < 0)
			return r;
		if (!(c->t = xa_boot_target_by_name(arch)))
			return xarch_err(err, EINVAL, "cannot boot arch '%s'", arch);
	}
	const struct xa_boot_target *t = c->t;

	char qemu[PATH_MAX];
	if (xa_find_in_path(t->qemu, NULL, qemu, sizeof(qemu)) < 0)
		set_missing(c, t->qemu, t->qemu_pkg);
	if (o->firmware) {
		if ((r = abs_path("firmware", o->firmware, fw, err)) < 0)
			return r;
	} else if ((r = xa_strcpy(fw, sizeof(fw),
				  pick(c, t->firmware, "firmware", t->firmware_pkg))) < 0) {
		return r;
	}
	if (o->loader) {
		if (!t->loader)
			return xarch_err(err, EINVAL,
					 "--loader is for riscv64 (U-Boot after OpenSBI), not %s",
					 t->arch);
		if ((r = abs_path("loader", o->loader, ld, err)) < 0)
			return r;
	} else if (t->loader && (r = xa_strcpy(ld, sizeof(ld),
					       pick(c, t->loader, "U-Boot", t->loader_pkg))) < 0) {
		return r;
	}

	unsigned cpus = o->cpus;
	if (!cpus) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		cpus = n < 1 ? 1 : n > 4 ? 4 : (unsigned)n;
	}
	uint64_t mem = o->memory_mib ? o->memory_mib : 2048;
	bool kvm = use_kvm(t);
	const char *bus = t->mmio ? "device" : "pci";

	r = 0;
	r |= add(c, "%s", t->qemu);
	r |= add(c, "-M");
	r |= add(c, "%s", t->machine);
	if (kvm) {
		r |= add(c, "-accel");
		r |= add(c, "kvm");
		r |= add(c, "-cpu");
		r |= add(c, "host");
	} else if (t->cpu) {
		r |= add(c, "-cpu");
		r |= add(c, "%s", t->cpu);
	}
	r |= add(c, "-m");
	if (mem % 1024 == 0)
		r |= add(c, "%" PRIu64 "G", mem / 1024);
	else
		r |= add(c, "%" PRIu64 "M", mem);
	r |= add(c, "-smp");
	r |= add(c, "%u", cpus);
	r |= add(c, "-nographic");
	r |= add(c, "-bios");
	r |= add_path(c, "", fw, "", false);
	if (t->loader) {
		r |= add(c, "-kernel");
		r |= add_path(c, "", ld, "", false);
	}
	r |= add(c, "-drive");
	r |= add_path(c, "file=", image,
		      qcow2 ? ",format=qcow2,if=none,id=disk0" : ",format=raw,if=none,id=disk0",
		      true);
	r |= add(c, "-device");
	r |= add(c, "virtio-blk-%s,drive=disk0", bus);
	r |= add(c, "-netdev");
	if (o->ssh_port)
		r |= add(c, "user,id=net0,hostfwd=tcp:127.0.0.1:%u-:22", o->ssh_port);
	else
		r |= add(c, "user,id=net0");
	r |= add(c, "-device");
	r |= add(c, "virtio-net-%s,netdev=net0", bus);
	r |= add(c, "-device");
	r |= add(c, "virtio-rng-%s", bus);
	if (o->snapshot)
		r |= add(c, "-snapshot");
	for (size_t i = 0; o->extra && o->extra[i]; i++)
		r |= add(c, "%s", o->extra[i]);
	if (r)
		return xarch_err(err, ENOMEM, "out of memory");

	if (!(c->argv = calloc(c->n + 1, sizeof(char *))))
		return -ENOMEM;
	for (size_t i = 0; i < c->n; i++)
		c->argv[i] = c->args[i].text;
	*ret = TAKE_PTR(c);
	return 0;
}

/* --- printing and the script --- */

static bool shell_safe(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
			    "_@%+=:,./-",
			    *s))
			return false;
	return true;
}

/* Append s[0..n) shell-quoted (nothing when n is 0). */
static void quote_n(FILE *f, const char *s, size_t n)
{
	char *t = strndup(s, n);
	if (!t || !n) {
		free(t);
		return;
	}
	if (shell_safe(t)) {
		fputs(t, f);
	} else {
		fputc('\'', f);
		for (const char *p = t; *p; p++)
			if (*p == '\'')
				fputs("'\\''", f);
			else
				fputc(*p, f);
		fputc('\'', f);
	}
	free(t);
}

char *xarch_boot_cmd_line(const struct xarch_boot_cmd *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	for (size_t i = 0; i < c->n; i++) {
		if (i)
			fputc(' ', f);
		quote_n(f, c->args[i].text, strlen(c->args[i].text));
	}
	fputc('\n', f);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* The path relative to `dir` when it is below it, else NULL. */
static const char *below(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	if (strcmp(dir, "/") == 0)
		return NULL;
	if (strncmp(path, dir, n) == 0 && path[n] == '/' && path[n + 1])
		return path + n + 1;
	return NULL;
}

static char *script_text(const struct xarch_boot_cmd *c, const char *dir)
{
	char *buf = NULL;
	size_t len = 0;
	bool drive_here = false;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	for (size_t i = 0; i < c->n; i++)
		if (c->args[i].path && c->args[i].commas && below(c->args[i].path, dir))
			drive_here = true;
	fprintf(f,
		"#!/bin/sh\n"
		"# Boot this %s disk image under qemu with its serial console on this\n"
		"# terminal (Ctrl-a x quits qemu, Ctrl-a h lists the other keys).\n"
		"# Arguments are passed on to qemu, e.g. -snapshot to keep the image as it is.\n"
		"# Written by `xarch boot --write-script`.\n"
		"set -e\n"
		"here=$(CDPATH= cd -- \"$(dirname -- \"$0\")\" && pwd)\n",
		c->t->arch);
	if (drive_here) /* qemu's option strings double their commas */
		fputs("drive_here=$(printf '%s\\n' \"$here\" | sed 's/,/,,/g')\n", f);
	fputs("exec", f);
	for (size_t i = 0; i < c->n; i++) {
		const struct arg *a = &c->args[i];
		const char *rel = a->path ? below(a->path, dir) : NULL;
		/* an option and its value on one line */
		bool value = i > 0 && c->args[i - 1].text[0] == '-' && a->text[0] != '-';
		fputs(value || i == 0 ? " " : " \\\n\t", f);
		if (!rel) {
			quote_n(f, a->text, strlen(a->text));
			continue;
		}
		quote_n(f, a->text, a->pre);
		fputs(a->commas ? "\"$drive_here\"/" : "\"$here\"/", f);
		/* the relative part of the (comma-doubled) path, and the rest */
		const char *tail = a->text + a->pre + a->plen;
		size_t skip = 0; /* characters of the escaped dir prefix */
		for (const char *p = a->path; p < rel; p++)
			skip += (a->commas && *p == ',') ? 2 : 1;
		const char *relesc = a->text + a->pre + skip;
		quote_n(f, relesc, strlen(relesc) - strlen(tail));
		quote_n(f, tail, strlen(tail));
	}
	fputs(" \\\n\t\"$@\"\n", f);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

int xarch_boot_write_script(const struct xarch_boot_cmd *c, const char *path,
			    struct xarch_error *err)
{
	char dir[PATH_MAX], tmp[PATH_MAX];
	if (xa_strcpy(tmp, sizeof(tmp), path) < 0)
		return xarch_err(err, ENAMETOOLONG, "path too long: '%s'", path);
	char *slash = strrchr(tmp, '/');
	if (slash == tmp)
		tmp[1] = 0;
	else if (slash)
		*slash = 0;
	else
		strcpy(tmp, ".");
	if (!realpath(tmp, dir))
		return xarch_err_sys(err, errno, "cannot write '%s'", path);
	_cleanup_free_ char *s = script_text(c, dir);
	if (!s)
		return xarch_err(err, ENOMEM, "out of memory");
	return xa_write_atomic(path, s, strlen(s), 0755, err);
}

/* --- running, and the console watcher --- */

struct matcher {
	regex_t re;
	bool on, matched;
	enum { PLAIN, ESC, CSI } state;
	char line[4096];
	size_t len;
};

static void match_line(struct matcher *m)
{
	m->line[m->len] = 0;
	if (!m->matched && regexec(&m->re, m->line, 0, NULL, 0) == 0)
		m->matched = true;
}

static void match_feed(struct matcher *m, const char *buf, size_t n)
{
	if (!m->on)
		return;
	for (size_t i = 0; i < n && !m->matched; i++) {
		unsigned char ch = (unsigned char)buf[i];
		switch (m->state) {
		case ESC:
			m->state = ch == '[' ? CSI : PLAIN;
			continue;
		case CSI:
			if (ch >= 0x40 && ch <= 0x7e)
				m->state = PLAIN;
			continue;
		case PLAIN:
			break;
		}
		if (ch == 0x1b) {
			m->state = ESC;
		} else if (ch == '\n') {
			match_line(m);
			m->len = 0;
		} else if (ch != '\r' && ch != 0) {
			if (m->len == sizeof(m->line) - 1) { /* keep the newer half */
				memmove(m->line, m->line + m->len / 2, m->len - m->len / 2);
				m->len -= m->len / 2;
			}
			m->line[m->len++] = (char)ch;
		}
	}
	if (!m->matched && m->len) /* a prompt has no newline yet */
		match_line(m);
}

static void write_all(int fd, const char *p, size_t n)
{
	while (fd >= 0 && n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* the copy is best effort; the watcher goes on */
		p += w;
		n -= (size_t)w;
	}
}

/* Read what the pipe has; false at EOF/error. */
static bool pump(int rd, const struct xarch_boot_run_opts *o, struct matcher *m)
{
	char buf[8192];
	ssize_t n = read(rd, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0)
		return false;
	write_all(o->out_fd, buf, (size_t)n);
	write_all(o->log_fd, buf, (size_t)n);
	match_feed(m, buf, (size_t)n);
	return true;
}

/* SIGTERM (qemu shuts down cleanly on it), SIGKILL after 5 s; the pipe is
 * drained meanwhile so qemu never blocks on a full one. */
static int stop_qemu(pid_t pid, int rd, const struct xarch_boot_run_opts *o, struct matcher *m)
{
	int st = 0;
	kill(pid, SIGTERM);
	int64_t end = xa_now_ms() + 5000;
	while (waitpid(pid, &st, WNOHANG) == 0) {
		if (xa_now_ms() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			break;
		}
		struct pollfd p = {.fd = rd, .events = POLLIN};
		if (rd >= 0 && poll(&p, 1, 20) > 0 && !pump(rd, o, m))
			rd = -1;
		else if (rd < 0)
			usleep(20000);
	}
	return st;
}

int xarch_boot_run(const struct xarch_boot_cmd *c, const struct xarch_boot_run_opts *o,
		   struct xarch_error *err)
{
	struct matcher m = {0};
	char qemu[PATH_MAX];
	sigset_t mask, old;
	struct termios tio;
	bool tio_saved = false;
	int pfd[2] = {-1, -1}, sfd = -1, st = 0, r;

	if (c->missing)
		return xarch_err(err, ENOENT, "%s", c->missing);
	if (xa_find_in_path(c->argv[0], NULL, qemu, sizeof(qemu)) < 0)
		return xarch_err(err, ENOENT, "%s is not installed: apt-get install %s", c->argv[0],
				 c->t->qemu_pkg);
	if (o->expect) {
		int rc = regcomp(&m.re, o->expect, REG_EXTENDED | REG_NOSUB);
		if (rc) {
			char e[128];
			regerror(rc, &m.re, e, sizeof(e));
			return xarch_err(err, EINVAL, "bad --expect pattern '%s': %s", o->expect,
					 e);
		}
		m.on = true;
	}
	if (!o->interactive && pipe2(pfd, O_CLOEXEC) < 0) {
		r = xarch_err_sys(err, errno, "cannot make a pipe");
		goto out_re;
	}
	if (o->interactive && isatty(0) && tcgetattr(0, &tio) == 0)
		tio_saved = true;

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, &old);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	pid_t parent = getpid();
	pid_t pid = sfd < 0 ? -1 : fork();
	if (pid == 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		/* qemu must not outlive xarch (a killed test, a closed terminal) */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(127);
		if (pfd[1] >= 0) {
			int nul = open("/dev/null", O_RDONLY);
			if (nul < 0 || dup2(nul, 0) < 0 || dup2(pfd[1], 1) < 0)
				_exit(127);
		}
		execv(qemu, c->argv);
		fprintf(stderr, "xarch: cannot run '%s': %s\n", qemu, strerror(errno));
		_exit(127);
	}
	if (pid < 0) {
		r = xarch_err_sys(err, errno, "cannot start '%s'", qemu);
		goto out;
	}
	if (pfd[1] >= 0) {
		close(pfd[1]);
		pfd[1] = -1;
	}

	int64_t deadline = o->timeout ? xa_now_ms() + (int64_t)o->timeout * 1000 : 0;
	int rd = pfd[0];
	bool exited = false;
	r = 1; /* 1: still running */
	while (r == 1) {
		struct pollfd p[2] = {{.fd = sfd, .events = POLLIN}, {.fd = rd, .events = POLLIN}};
		int wait_ms = -1;
		if (deadline) {
			int64_t left = deadline - xa_now_ms();
			wait_ms = left < 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
		}
		int n = poll(p, rd >= 0 ? 2 : 1, wait_ms);
		if (n < 0 && errno != EINTR) {
			r = xarch_err_sys(err, errno, "poll");
			break;
		}
		if (n > 0 && rd >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    !pump(rd, o, &m))
			rd = -1;
		if (m.matched) {
			r = 0;
			break;
		}
		if (n > 0 && (p[0].revents & POLLIN)) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo != SIGCHLD && r == 1)
					r = xarch_err(err, EINTR, "stopped by signal %u",
						      si.ssi_signo);
			}
			if (r == 1 && waitpid(pid, &st, WNOHANG) == pid) {
				exited = true;
				/* what qemu wrote last may hold the match */
				while (rd >= 0 && pump(rd, o, &m))
					;
				if (m.matched)
					r = 0;
				else if (m.on)
					r = xarch_err(
					    err, ECHILD,
					    "qemu exited (status %d) before '%s' appeared",
					    xarch_exit_code(st), o->expect);
				else
					r = xarch_exit_code(st);
				break;
			}
		}
		if (r == 1 && deadline && xa_now_ms() >= deadline)
			r = m.on ? xarch_err(err, ETIMEDOUT,
					     "timed out after %u s waiting for '%s' on the console",
					     o->timeout, o->expect)
				 : xarch_err(err, ETIMEDOUT, "timed out after %u s", o->timeout);
	}
	if (!exited)
		stop_qemu(pid, rd, o, &m);
out:
	if (tio_saved)
		tcsetattr(0, TCSANOW, &tio);
	if (sfd >= 0)
		close(sfd);
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
out_re:
	if (m.on)
		regfree(&m.re);
	return r;
}
