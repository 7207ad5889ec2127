// SPDX-License-Identifier: MIT
/*
 * Running programs: fork + exec with an argv vector (never a shell), exec
 * failures reported through a close-on-exec pipe so "not found" is an error
 * of ours and not the child's exit 127, and signal forwarding so that
 * `kill xarch` reaches the emulated program the way it would reach it when
 * run directly.
 */
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "internal.h"
#include "xarch/spawn.h"

static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};
#define N_FORWARDED ARRAY_SIZE(forwarded)

/* The child being waited for, 0 when none.  Only ever set while the
 * forwarded signals are blocked, and cleared before the child is reaped,
 * so the handler never signals a recycled pid. */
static volatile sig_atomic_t forward_pid;

static void forward_signal(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	/* The terminal sends ^C, ^\, hangup and resize to the whole foreground
	 * process group (si_code SI_KERNEL): the child got its own copy, and a
	 * second one would turn one ^C into two. */
	if (si && si->si_code == SI_KERNEL)
		return;
	pid_t pid = (pid_t)forward_pid;
	if (pid > 0) {
		int saved = errno;
		kill(pid, sig);
		errno = saved;
	}
}

int xarch_exit_code(int wstatus)
{
	if (WIFEXITED(wstatus))
		return WEXITSTATUS(wstatus);
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	return 255;
}

/* Make `fd` the child's descriptor `target` without close-on-exec. */
static int child_move_fd(int fd, int target)
{
	if (fd < 0 || fd == target) {
		if (fd == target) {
			int fl = fcntl(fd, F_GETFD);
			if (fl < 0 || fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC) < 0)
				return -1;
		}
		return 0;
	}
	return dup2(fd, target) < 0 ? -1 : 0;
}

static void child_fail(int errfd, int e)
{
	ssize_t r;
	do
		r = write(errfd, &e, sizeof(e));
	while (r < 0 && errno == EINTR);
	_exit(127);
}

/*
 * Fork and exec.  `fds` (may be NULL) gives the child's stdin/stdout/stderr,
 * -1 to inherit.  `acts`/`mask` (may be NULL) are the signal dispositions
 * and mask to restore in the child before exec.  On success the child runs
 * and *ret_pid is set; when exec failed the child is reaped and the error
 * returned.
 */
static int spawn_start(const char *const argv[], const char *const envp[], const int fds[3],
		       const struct sigaction *acts, const sigset_t *mask, pid_t *ret_pid,
		       struct xarch_error *err)
{
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return xarch_err_sys(err, errno, "cannot run '%s'", argv[0]);
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(pfd[0]);
		close(pfd[1]);
		return xarch_err_sys(err, e, "cannot run '%s'", argv[0]);
	}
	if (pid == 0) {
		close(pfd[0]);
		if (acts)
			for (size_t i = 0; i < N_FORWARDED; i++)
				sigaction(forwarded[i], &acts[i], NULL);
		if (mask)
			sigprocmask(SIG_SETMASK, mask, NULL);
		if (fds) {
			/* move the pipe out of the way of 0..2 first */
			if (pfd[1] <= 2) {
				int nfd = fcntl(pfd[1], F_DUPFD_CLOEXEC, 3);
				if (nfd < 0)
					child_fail(pfd[1], errno);
				pfd[1] = nfd;
			}
			for (int i = 0; i < 3; i++)
				if (child_move_fd(fds[i], i) < 0)
					child_fail(pfd[1], errno);
		}
		if (envp)
			execvpe(argv[0], (char *const *)argv, (char *const *)envp);
		else
			execvp(argv[0], (char *const *)argv);
		child_fail(pfd[1], errno);
	}
	close(pfd[1]);
	int e = 0;
	ssize_t n;
	do
		n = read(pfd[0], &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	close(pfd[0]);
	if (n == (ssize_t)sizeof(e)) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		if (e <= 0)
			e = EIO;
		return xarch_err_sys(err, e, "cannot run '%s'", argv[0]);
	}
	*ret_pid = pid;
	return 0;
}

int xarch_spawn_wait(const char *const argv[], const char *const envp[], int *ret_wstatus,
		     struct xarch_error *err)
{
	if (!argv || !argv[0] || !argv[0][0])
		return xarch_err(err, EINVAL, "empty command");

	sigset_t fwd, old_mask;
	sigemptyset(&fwd);
	for (size_t i = 0; i < N_FORWARDED; i++)
		sigaddset(&fwd, forwarded[i]);
	sigprocmask(SIG_BLOCK, &fwd, &old_mask);

	struct sigaction sa = {.sa_sigaction = forward_signal, .sa_flags = SA_SIGINFO | SA_RESTART};
	struct sigaction old[N_FORWARDED];
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < N_FORWARDED; i++)
		sigaction(forwarded[i], &sa, &old[i]);

	pid_t pid = 0;
	int status = 0;
	int r = spawn_start(argv, envp, NULL, old, &old_mask, &pid, err);
	if (r >= 0) {
		forward_pid = pid;
		sigprocmask(SIG_UNBLOCK, &fwd, NULL);
		/* Wait without reaping: while the child is a zombie its pid
		 * cannot be reused, so a late forwarded signal is harmless. */
		siginfo_t si;
		int w;
		do {
			memset(&si, 0, sizeof(si));
			w = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT);
		} while (w < 0 && errno == EINTR);
		int we = errno;
		sigprocmask(SIG_BLOCK, &fwd, NULL);
		forward_pid = 0;
		pid_t p;
		do
			p = waitpid(pid, &status, 0);
		while (p < 0 && errno == EINTR);
		if (p < 0)
			r = xarch_err_sys(err, w < 0 ? we : errno, "cannot wait for '%s'", argv[0]);
	}

	for (size_t i = 0; i < N_FORWARDED; i++)
		sigaction(forwarded[i], &old[i], NULL);
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	if (r < 0)
		return r;
	if (ret_wstatus)
		*ret_wstatus = status;
	return 0;
}

int xarch_spawn_output(const char *const argv[], const char *const envp[], bool with_stderr,
		       char *buf, size_t len, int *ret_wstatus, struct xarch_error *err)
{
	if (!argv || !argv[0] || !argv[0][0])
		return xarch_err(err, EINVAL, "empty command");
	_cleanup_close_ int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0)
		return xarch_err_sys(err, errno, "cannot open '/dev/null'");
	int out[2];
	if (pipe2(out, O_CLOEXEC) < 0)
		return xarch_err_sys(err, errno, "cannot run '%s'", argv[0]);
	_cleanup_close_ int rd = out[0];
	int fds[3] = {null, out[1], with_stderr ? out[1] : null};
	pid_t pid;
	int r = spawn_start(argv, envp, fds, NULL, NULL, &pid, err);
	close(out[1]);
	if (r < 0)
		return r;

	size_t n = 0;
	for (;;) {
		char drop[512];
		char *dst = drop;
		size_t room = sizeof(drop);
		if (buf && len > 0 && n < len - 1) {
			dst = buf + n;
			room = len - 1 - n;
		}
		ssize_t k = read(rd, dst, room);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		if (dst != drop)
			n += (size_t)k;
	}
	if (buf && len > 0)
		buf[n] = '\0';

	int status = 0;
	pid_t p;
	do
		p = waitpid(pid, &status, 0);
	while (p < 0 && errno == EINTR);
	if (p < 0)
		return xarch_err_sys(err, errno, "cannot wait for '%s'", argv[0]);
	if (ret_wstatus)
		*ret_wstatus = status;
	return 0;
}

static bool shell_safe(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("%+,-./:=@_^", c)))
			return false;
	}
	return true;
}

const char *xarch_argv_quote(const char *const argv[], char *buf, size_t len)
{
	if (!buf || len == 0)
		return buf;
	size_t o = 0;
	bool full = false;
#define PUTC(ch)                                                                                   \
	do {                                                                                       \
		if (o + 1 >= len) {                                                                \
			full = true;                                                               \
			goto out;                                                                  \
		}                                                                                  \
		buf[o++] = (ch);                                                                   \
	} while (0)
	for (size_t i = 0; argv && argv[i]; i++) {
		const char *a = argv[i];
		if (i > 0)
			PUTC(' ');
		if (shell_safe(a)) {
			for (; *a; a++)
				PUTC(*a);
			continue;
		}
		/* single quotes keep everything literal; a quote itself
		 * closes, escapes and reopens: ' -> '\'' */
		PUTC('\'');
		for (; *a; a++) {
			if (*a == '\'') {
				PUTC('\'');
				PUTC('\\');
				PUTC('\'');
				PUTC('\'');
			} else {
				PUTC(*a);
			}
		}
		PUTC('\'');
	}
#undef PUTC
out:
	buf[o] = '\0';
	if (full && len >= 4)
		memcpy(buf + len - 4, "...", 4);
	return buf;
}
