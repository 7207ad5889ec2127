// SPDX-License-Identifier: MIT
/*
 * Probes: the smallest static ELF program per architecture that does
 * exit(argc).  The header, one PT_LOAD covering the whole file, and three
 * or four instructions that load argc from the initial stack (every Linux
 * ABI puts it at the stack pointer) and make the exit system call.
 *
 * Running one from a memfd answers "can this kernel execute arch X", and
 * the exit status says how many arguments the program saw, which is how we
 * notice an emulator that mishandles binfmt_misc's P flag.
 */
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "internal.h"
#include "xarch/binfmt.h"
#include "xarch/probe.h"

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

struct probe_code {
	const char *arch;
	uint32_t eflags;
	uint8_t len;
	uint8_t code[16];
};

/* Instruction bytes in file order (already in the arch's byte order). */
/* clang-format off */
static const struct probe_code probes[] = {
	/* mov (%rsp),%rdi; mov $60,%eax; syscall */
	{ "x86_64", 0, 11, { 0x48, 0x8b, 0x3c, 0x24, 0xb8, 0x3c, 0, 0, 0, 0x0f, 0x05 } },
	/* mov (%esp),%ebx; mov $1,%eax; int $0x80 */
	{ "i386", 0, 10, { 0x8b, 0x1c, 0x24, 0xb8, 0x01, 0, 0, 0, 0xcd, 0x80 } },
	/* ldr x0,[sp]; mov x8,#93; svc #0 */
	{ "aarch64", 0, 12,
	  { 0xe0, 0x03, 0x40, 0xf9, 0xa8, 0x0b, 0x80, 0xd2, 0x01, 0x00, 0x00, 0xd4 } },
	/* ldr r0,[sp]; mov r7,#1; svc #0 (EABI5, hard-float) */
	{ "arm", 0x05000400, 12,
	  { 0x00, 0x00, 0x9d, 0xe5, 0x01, 0x70, 0xa0, 0xe3, 0x00, 0x00, 0x00, 0xef } },
	/* ld a0,0(sp); li a7,93; ecall */
	{ "riscv64", 0x5, 12,
	  { 0x03, 0x35, 0x01, 0x00, 0x93, 0x08, 0xd0, 0x05, 0x73, 0x00, 0x00, 0x00 } },
	/* lw a0,0(sp); li a7,93; ecall */
	{ "riscv32", 0x5, 12,
	  { 0x03, 0x25, 0x01, 0x00, 0x93, 0x08, 0xd0, 0x05, 0x73, 0x00, 0x00, 0x00 } },
	/* lw a0,0(sp); li v0,4001; syscall; nop (o32, mips32r2) */
	{ "mips", 0x70001007, 16,
	  { 0x8f, 0xa4, 0x00, 0x00, 0x24, 0x02, 0x0f, 0xa1, 0x00, 0x00, 0x00, 0x0c, 0, 0, 0, 0 } },
	{ "mipsel", 0x70001007, 16,
	  { 0x00, 0x00, 0xa4, 0x8f, 0xa1, 0x0f, 0x02, 0x24, 0x0c, 0x00, 0x00, 0x00, 0, 0, 0, 0 } },
	/* ld a0,0(sp); li v0,5058; syscall; nop (n64, mips64r2) */
	{ "mips64", 0x80000007, 16,
	  { 0xdf, 0xa4, 0x00, 0x00, 0x24, 0x02, 0x13, 0xc2, 0x00, 0x00, 0x00, 0x0c, 0, 0, 0, 0 } },
	{ "mips64el", 0x80000007, 16,
	  { 0x00, 0x00, 0xa4, 0xdf, 0xc2, 0x13, 0x02, 0x24, 0x0c, 0x00, 0x00, 0x00, 0, 0, 0, 0 } },
	/* ld r3,0(r1); li r0,1; sc (ELFv2) */
	{ "ppc64le", 0x2, 12,
	  { 0x00, 0x00, 0x61, 0xe8, 0x01, 0x00, 0x00, 0x38, 0x02, 0x00, 0x00, 0x44 } },
	/* lwz r3,0(r1); li r0,1; sc */
	{ "ppc", 0, 12,
	  { 0x80, 0x61, 0x00, 0x00, 0x38, 0x00, 0x00, 0x01, 0x44, 0x00, 0x00, 0x02 } },
	/* lg %r2,0(%r15); svc 1 */
	{ "s390x", 0, 8, { 0xe3, 0x20, 0xf0, 0x00, 0x00, 0x04, 0x0a, 0x01 } },
	/* ld.d $a0,$sp,0; ori $a7,$zero,93; syscall 0 (LP64D, object ABI v1) */
	{ "loongarch64", 0x43, 12,
	  { 0x64, 0x00, 0xc0, 0x28, 0x0b, 0x74, 0x81, 0x03, 0x00, 0x00, 0x2b, 0x00 } },
};
/* clang-format on */

#define PROBE_BASE 0x400000u

static const struct probe_code *probe_for(const struct xarch_arch *a)
{
	if (!a)
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(probes); i++)
		if (strcmp(probes[i].arch, a->name) == 0)
			return &probes[i];
	return NULL;
}

bool xarch_probe_available(const struct xarch_arch *a)
{
	return probe_for(a) != NULL;
}

static void put(uint8_t *p, uint64_t v, int n, bool be)
{
	for (int i = 0; i < n; i++)
		p[be ? n - 1 - i : i] = (uint8_t)(v >> (8 * i));
}

int xarch_probe_build(const struct xarch_arch *a, uint8_t *buf, size_t len)
{
	const struct probe_code *pc = probe_for(a);
	if (!pc)
		return -ENOTSUP;
	bool is64 = a->elf_class == XARCH_ELF64, be = a->elf_data == XARCH_MSB;
	size_t ehsize = is64 ? 64 : 52, phsize = is64 ? 56 : 32;
	size_t code_off = ehsize + phsize; /* 120 or 84: both 4-byte aligned */
	size_t total = code_off + pc->len;
	if (len < total)
		return -ENOSPC;
	memset(buf, 0, total);
	uint8_t *h = buf;
	memcpy(h,
	       "\x7f"
	       "ELF",
	       4);
	h[4] = a->elf_class;
	h[5] = a->elf_data;
	h[6] = 1;	       /* EV_CURRENT */
	put(h + 16, 2, 2, be); /* ET_EXEC */
	put(h + 18, a->machine, 2, be);
	put(h + 20, 1, 4, be);
	uint64_t entry = PROBE_BASE + code_off;
	uint8_t *ph = buf + ehsize;
	if (is64) {
		put(h + 24, entry, 8, be);
		put(h + 32, ehsize, 8, be); /* e_phoff */
		put(h + 48, pc->eflags, 4, be);
		put(h + 52, ehsize, 2, be);
		put(h + 54, phsize, 2, be);
		put(h + 56, 1, 2, be);	/* e_phnum */
		put(h + 58, 64, 2, be); /* e_shentsize, no sections */
		put(ph + 0, 1, 4, be);	/* PT_LOAD */
		put(ph + 4, 5, 4, be);	/* PF_R | PF_X */
		put(ph + 8, 0, 8, be);	/* p_offset */
		put(ph + 16, PROBE_BASE, 8, be);
		put(ph + 24, PROBE_BASE, 8, be);
		put(ph + 32, total, 8, be);
		put(ph + 40, total, 8, be);
		put(ph + 48, 0x10000, 8, be);
	} else {
		put(h + 24, entry, 4, be);
		put(h + 28, ehsize, 4, be);
		put(h + 36, pc->eflags, 4, be);
		put(h + 40, ehsize, 2, be);
		put(h + 42, phsize, 2, be);
		put(h + 44, 1, 2, be);
		put(h + 46, 40, 2, be);
		put(ph + 0, 1, 4, be);
		put(ph + 4, 0, 4, be);
		put(ph + 8, PROBE_BASE, 4, be);
		put(ph + 12, PROBE_BASE, 4, be);
		put(ph + 16, total, 4, be);
		put(ph + 20, total, 4, be);
		put(ph + 24, 5, 4, be);
		put(ph + 28, 0x10000, 4, be);
	}
	memcpy(buf + code_off, pc->code, pc->len);
	return (int)total;
}

/* A memfd holding the probe.  Not close-on-exec: binfmt_misc refuses a
 * file whose /dev/fd path would vanish at exec (BINPRM_FLAGS_PATH_INACCESSIBLE). */
static int probe_memfd(const struct xarch_arch *a)
{
	uint8_t img[256];
	int n = xarch_probe_build(a, img, sizeof(img));
	if (n < 0)
		return n;
	int fd = memfd_create("xarch-probe", MFD_EXEC);
	if (fd < 0 && errno == EINVAL)
		fd = memfd_create("xarch-probe", 0); /* kernel < 6.3 */
	if (fd < 0)
		return -errno;
	if (write(fd, img, (size_t)n) != n || fchmod(fd, 0755) < 0) {
		int e = errno ? errno : EIO;
		close(fd);
		return -e;
	}
	return fd;
}

int xarch_probe_run(const struct xarch_arch *a, int extra_args, struct xarch_error *err)
{
	if (!probe_for(a))
		return xarch_err(err, ENOTSUP, "no probe program for '%s'", a ? a->name : "?");
	if (extra_args < 0 || extra_args > 8)
		return xarch_err(err, EINVAL, "probe: bad argument count %d", extra_args);
	_cleanup_close_ int fd = probe_memfd(a);
	if (fd < 0)
		return xarch_err_sys(err, -fd, "cannot create the '%s' probe", a->name);
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return xarch_err_sys(err, errno, "pipe");
	char *argv[10] = {"xarch-probe"};
	for (int i = 0; i < extra_args; i++)
		argv[1 + i] = "x";
	char *envp[] = {NULL};
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(pfd[0]);
		close(pfd[1]);
		return xarch_err_sys(err, e, "fork");
	}
	if (pid == 0) {
		close(pfd[0]);
		/* an emulator that hangs must not hang us */
		alarm(20);
		fexecve(fd, argv, envp);
		int e = errno;
		if (write(pfd[1], &e, sizeof(e)) < 0)
			_exit(126);
		_exit(127);
	}
	close(pfd[1]);
	int exec_errno = 0;
	ssize_t got = read(pfd[0], &exec_errno, sizeof(exec_errno));
	close(pfd[0]);
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return xarch_err_sys(err, errno, "waitpid");
	if (got == (ssize_t)sizeof(exec_errno) && exec_errno) {
		if (exec_errno == ENOEXEC)
			return xarch_err(err, ENOEXEC,
					 "nothing on this system executes %s programs", a->name);
		return xarch_err_sys(err, exec_errno, "cannot execute the '%s' probe", a->name);
	}
	if (WIFSIGNALED(st))
		return xarch_err(err, EIO, "the '%s' probe was killed by signal %d", a->name,
				 WTERMSIG(st));
	return WEXITSTATUS(st);
}

/* Header of the probe, for "would an entry catch it" checks. */
static int probe_header(const struct xarch_arch *a, uint8_t *hdr, size_t *ret_len)
{
	uint8_t img[256];
	int n = xarch_probe_build(a, img, sizeof(img));
	if (n < 0)
		return n;
	*ret_len = (size_t)n < XARCH_BINFMT_MAX ? (size_t)n : XARCH_BINFMT_MAX;
	memcpy(hdr, img, *ret_len);
	return 0;
}

static int write_proc(const char *path, const char *s)
{
	return xa_write_existing(path, s, strlen(s));
}

/* Child exit codes of the isolated probe. */
enum { ISO_RUNS = 10, ISO_NOEXEC, ISO_SETUP_FAILED, ISO_OTHER };

static void isolated_child(const struct xarch_arch *a, uid_t uid, gid_t gid)
{
	char map[64];
	if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
		_exit(ISO_SETUP_FAILED);
	snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)uid);
	if (write_proc("/proc/self/setgroups", "deny") < 0 ||
	    write_proc("/proc/self/uid_map", map) < 0)
		_exit(ISO_SETUP_FAILED);
	snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)gid);
	if (write_proc("/proc/self/gid_map", map) < 0)
		_exit(ISO_SETUP_FAILED);
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		_exit(ISO_SETUP_FAILED);
	/* From now on this user namespace has its own, empty, binfmt_misc. */
	if (mount("binfmt_misc", XARCH_BINFMT_DIR, "binfmt_misc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  NULL) < 0)
		_exit(ISO_SETUP_FAILED);
	int r = xarch_probe_run(a, 2, NULL);
	_exit(r == 3 ? ISO_RUNS : r == -ENOEXEC ? ISO_NOEXEC : ISO_OTHER);
}

int xarch_arch_runs_natively(const struct xarch_arch *a)
{
	const struct xarch_arch *host = xarch_arch_host();
	if (!a)
		return -EINVAL;
	if (a == host)
		return 1;
	if (!probe_for(a)) {
		/* cannot try: only the host's family may run natively */
		if (!host || strcmp(a->family, host->family) != 0)
			return 0;
		return -ENOTSUP;
	}
	uid_t uid = geteuid();
	gid_t gid = getegid();
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0)
		isolated_child(a, uid, gid);
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (WIFEXITED(st)) {
		switch (WEXITSTATUS(st)) {
		case ISO_RUNS:
			return 1;
		case ISO_NOEXEC:
			return 0;
		case ISO_SETUP_FAILED:
			break; /* fall back below */
		default:
			return 0; /* it started but did not run correctly: not native */
		}
	}
	/* No private binfmt_misc (kernel < 6.7 or user namespaces off): only
	 * the host's family is a candidate, and a live entry matching the
	 * probe could be what runs it. */
	if (!host || strcmp(a->family, host->family) != 0)
		return 0;
	uint8_t hdr[XARCH_BINFMT_MAX];
	size_t hl;
	if (probe_header(a, hdr, &hl) < 0)
		return -ENOTSUP;
	struct xarch_binfmt_table t;
	if (xarch_binfmt_table_read(NULL, &t, NULL) == 0) {
		bool caught = xarch_binfmt_table_match(&t, NULL, hdr, hl) != NULL;
		xarch_binfmt_table_release(&t);
		if (caught)
			return -EAGAIN;
	}
	int r = xarch_probe_run(a, 2, NULL);
	if (r == 3)
		return 1;
	if (r == -ENOEXEC || r >= 0)
		return 0;
	return r;
}
