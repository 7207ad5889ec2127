// SPDX-License-Identifier: MIT
/* xarch_spawn_wait, xarch_spawn_output, xarch_exit_code, xarch_argv_quote */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "xarch/spawn.h"

static int run(const char *const argv[], const char *const envp[], struct xarch_error *err)
{
	int st = -1;
	int r = xarch_spawn_wait(argv, envp, &st, err);
	return r < 0 ? r : xarch_exit_code(st);
}

static void test_exit_codes(void)
{
	static const struct {
		const char *script;
		int want;
	} cases[] = {
	    {"exit 0", 0},
	    {"exit 1", 1},
	    {"exit 42", 42},
	    {"exit 255", 255},
	    {"kill -TERM $$", 128 + SIGTERM},
	    {"kill -KILL $$", 128 + SIGKILL},
	    {"kill -SEGV $$", 128 + SIGSEGV},
	    {"kill -ABRT $$", 128 + SIGABRT},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *argv[] = {"sh", "-c", cases[i].script, NULL};
		struct xarch_error err = {0};
		CHECK_INT(run(argv, NULL, &err), cases[i].want, "sh -c '%s' -> %d", cases[i].script,
			  cases[i].want);
	}
	CHECK_INT(xarch_exit_code(0), 0, "exit code of status 0");
	CHECK_INT(xarch_exit_code(3 << 8), 3, "exit code of exit(3)");
	CHECK_INT(xarch_exit_code(SIGINT), 130, "exit code of SIGINT death");
}

static void test_start_errors(void)
{
	struct xarch_error err = {0};
	const char *missing[] = {"xarch-no-such-program-1234", "arg", NULL};
	int st = 12345;
	int r = xarch_spawn_wait(missing, NULL, &st, &err);
	CHECK_INT(r, -ENOENT, "missing program gives -ENOENT, not exit 127");
	CHECK_STR(err.msg, "cannot run 'xarch-no-such-program-1234': No such file or directory",
		  "missing program message");
	CHECK_INT(st, 12345, "status untouched on failure");

	char path[] = "/tmp/xarch-test-spawn.XXXXXX";
	int fd = mkstemp(path);
	if (fd >= 0) {
		(void)!write(fd, "#!/bin/sh\n", 10);
		close(fd);
		chmod(path, 0644);
		const char *noexec[] = {path, NULL};
		memset(&err, 0, sizeof(err));
		r = xarch_spawn_wait(noexec, NULL, &st, &err);
		/* root bypasses the permission check only when some x bit is set */
		CHECK_INT(r, -EACCES, "non-executable file gives -EACCES");
		CHECK(strstr(err.msg, "Permission denied") != NULL, "EACCES message: %s", err.msg);
		unlink(path);
	} else {
		SKIP("cannot create a temp file");
	}

	const char *empty[] = {NULL};
	CHECK_INT(xarch_spawn_wait(empty, NULL, &st, NULL), -EINVAL, "empty argv is -EINVAL");
	const char *absent[] = {"/nonexistent/dir/prog", NULL};
	CHECK_INT(xarch_spawn_wait(absent, NULL, &st, NULL), -ENOENT, "absent path, NULL err");
}

static void test_env(void)
{
	const char *argv[] = {"sh", "-c", "test \"$XARCH_T\" = 'a b' && test -z \"$HOME\"", NULL};
	const char *envp[] = {"XARCH_T=a b", "PATH=/usr/bin:/bin", NULL};
	CHECK_INT(run(argv, envp, NULL), 0, "envp replaces the environment");
	setenv("XARCH_T", "inherited", 1);
	const char *argv2[] = {"sh", "-c", "test \"$XARCH_T\" = inherited", NULL};
	CHECK_INT(run(argv2, NULL, NULL), 0, "NULL envp inherits the environment");
	unsetenv("XARCH_T");
}

static void test_output(void)
{
	char buf[64];
	int st = -1;
	const char *argv[] = {"sh", "-c", "echo out; echo err >&2; exit 3", NULL};
	int r = xarch_spawn_output(argv, NULL, false, buf, sizeof(buf), &st, NULL);
	CHECK_INT(r, 0, "spawn_output runs");
	CHECK_STR(buf, "out\n", "stdout captured, stderr dropped");
	CHECK_INT(xarch_exit_code(st), 3, "spawn_output status");

	char small[4];
	const char *big[] = {"sh", "-c", "seq 1 20000", NULL};
	r = xarch_spawn_output(big, NULL, false, small, sizeof(small), &st, NULL);
	CHECK(r == 0 && strcmp(small, "1\n2") == 0 && xarch_exit_code(st) == 0,
	      "long output truncated and drained");

	struct xarch_error err = {0};
	const char *missing[] = {"xarch-no-such-program-1234", NULL};
	CHECK_INT(xarch_spawn_output(missing, NULL, false, buf, sizeof(buf), &st, &err), -ENOENT,
		  "spawn_output: missing program");
}

static void test_quote(void)
{
	static const struct {
		const char *argv[5];
		const char *want;
	} cases[] = {
	    {{"qemu-riscv64-static", "-L", "/usr/riscv64-linux-gnu", "./hello", NULL},
	     "qemu-riscv64-static -L /usr/riscv64-linux-gnu ./hello"},
	    {{"echo", "a b", NULL}, "echo 'a b'"},
	    {{"echo", "", "x", NULL}, "echo '' x"},
	    {{"echo", "it's", NULL}, "echo 'it'\\''s'"},
	    {{"echo", "\"q\"", "$HOME", "*", NULL}, "echo '\"q\"' '$HOME' '*'"},
	    {{"a=b", "--x=1,2", "k:v@h", NULL}, "a=b --x=1,2 k:v@h"},
	    {{"tab\there", "new\nline", NULL}, "'tab\there' 'new\nline'"},
	    {{NULL}, ""},
	};
	char buf[256];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK_STR(xarch_argv_quote(cases[i].argv, buf, sizeof(buf)), cases[i].want,
			  "quote case %zu", i);
	const char *longv[] = {"abcdefghijklmnop", "q r s", NULL};
	char small[10];
	CHECK_STR(xarch_argv_quote(longv, small, sizeof(small)), "abcdef...", "truncated with ...");
	char tiny[3];
	CHECK_STR(xarch_argv_quote(longv, tiny, sizeof(tiny)), "ab",
		  "tiny buffer stays terminated");
}

/*
 * Forwarding: a sub-process P of the test runs `sh` through
 * xarch_spawn_wait; the shell reports through a pipe that it runs, the
 * test then signals P (not the shell), and P's exit code tells what the
 * shell saw.  A sub-process so the handlers never touch the test itself.
 */
static int forward_case(int sig, const char *script, int *ret_exit)
{
	int p[2];
	if (pipe(p) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		close(p[0]);
		/* fd 9 for the shell; the test's read ends when it exits anyway */
		if (p[1] != 9) {
			dup2(p[1], 9);
			close(p[1]);
		}
		const char *argv[] = {"sh", "-c", script, NULL};
		int st;
		int r = xarch_spawn_wait(argv, NULL, &st, NULL);
		if (r < 0)
			_exit(200);
		/* handlers must be back to what they were (default here) */
		struct sigaction cur;
		sigaction(sig, NULL, &cur);
		if (cur.sa_handler != SIG_DFL)
			_exit(201);
		_exit(xarch_exit_code(st));
	}
	close(p[1]);
	char c;
	ssize_t n = read(p[0], &c, 1);
	close(p[0]);
	if (n != 1) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -1;
	}
	kill(pid, sig);
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	*ret_exit = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
	return 0;
}

static void test_forwarding(void)
{
	int code = 0;
	int r = forward_case(SIGTERM, "echo >&9; exec sleep 5", &code);
	CHECK(r == 0 && code == 128 + SIGTERM,
	      "SIGTERM to the parent reaches the child sleep (exit %d, want %d)", code,
	      128 + SIGTERM);

	code = 0;
	r = forward_case(SIGUSR1, "trap 'exit 7' USR1; echo >&9; while :; do sleep 0.05; done",
			 &code);
	CHECK(r == 0 && code == 7, "SIGUSR1 forwarded to a trapping child (exit %d, want 7)", code);

	code = 0;
	r = forward_case(SIGINT, "echo >&9; exec sleep 5", &code);
	CHECK(r == 0 && code == 128 + SIGINT, "SIGINT sent with kill() is forwarded (exit %d)",
	      code);

	code = 0;
	r = forward_case(SIGHUP, "echo >&9; exec sleep 5", &code);
	CHECK(r == 0 && code == 128 + SIGHUP, "SIGHUP forwarded (exit %d)", code);
}

int main(void)
{
	test_exit_codes();
	test_start_errors();
	test_env();
	test_output();
	test_quote();
	test_forwarding();
	return check_done();
}
