// SPDX-License-Identifier: MIT
/*
 * A tiny multi-call program for container tests: a rootfs built from it
 * (plus the cross toolchain's libc for the dynamic copy) needs no shell.
 * Usage: toolbox CMD [ARGS]; see the table in main().  `toolbox -c "CMD
 * ARGS"` (so a copy installed as /bin/sh runs `sh -c` lines) splits the
 * line at blanks and runs that.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static void on_sig(int sig)
{
	(void)sig;
	_exit(42);
}

static int fail(const char *what, const char *path)
{
	fprintf(stderr, "toolbox: %s '%s': %s\n", what, path, strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "-c")) {
		static char line[4096];
		char *v[64] = { argv[0] };
		int n = 1;
		snprintf(line, sizeof(line), "%s", argv[2]);
		for (char *t = strtok(line, " \t"); t && n < 63; t = strtok(NULL, " \t"))
			v[n++] = t;
		v[n] = NULL;
		return main(n, v);
	}
	const char *c = argc > 1 ? argv[1] : "";
	const char *a = argc > 2 ? argv[2] : "";
	const char *b = argc > 3 ? argv[3] : "";
	if (!strcmp(c, "pid")) {
		printf("pid=%d ppid=%d\n", (int)getpid(), (int)getppid());
	} else if (!strcmp(c, "id")) {
		gid_t g[64];
		int n = getgroups(64, g);
		printf("uid=%d gid=%d euid=%d groups=", (int)getuid(), (int)getgid(),
		       (int)geteuid());
		for (int i = 0; i < n; i++)
			printf("%s%d", i ? "," : "", (int)g[i]);
		printf("\n");
	} else if (!strcmp(c, "cwd")) {
		char buf[4096];
		printf("cwd=%s\n", getcwd(buf, sizeof(buf)) ? buf : "?");
	} else if (!strcmp(c, "hostname")) {
		char buf[256] = "";
		gethostname(buf, sizeof(buf));
		printf("hostname=%s\n", buf);
	} else if (!strcmp(c, "env")) {
		extern char **environ;
		if (!*a) {
			for (char **e = environ; *e; e++)
				puts(*e);
			return 0;
		}
		const char *v = getenv(a);
		if (!v)
			return 1;
		printf("%s=%s\n", a, v);
	} else if (!strcmp(c, "exit")) {
		return atoi(a);
	} else if (!strcmp(c, "kill")) {
		kill(getpid(), atoi(a));
		return 99;
	} else if (!strcmp(c, "exec")) {
		execv(a, argv + 2);
		return fail("cannot exec", a);
	} else if (!strcmp(c, "spawn-kill")) {
		pid_t p = fork();
		if (p == 0) {
			kill(getpid(), atoi(a));
			_exit(99);
		}
		int st;
		waitpid(p, &st, 0);
		return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
	} else if (!strcmp(c, "write")) {
		FILE *f = fopen(a, "w");
		if (!f || fputs(b, f) < 0 || fclose(f) != 0)
			return fail("cannot write", a);
	} else if (!strcmp(c, "rm")) {
		if (unlink(a) < 0 && (errno != EISDIR || rmdir(a) < 0))
			return fail("cannot remove", a);
	} else if (!strcmp(c, "mkdir")) {
		if (mkdir(a, 0755) < 0)
			return fail("cannot mkdir", a);
	} else if (!strcmp(c, "cat")) {
		char buf[4096];
		int fd = open(a, O_RDONLY);
		if (fd < 0)
			return fail("cannot open", a);
		ssize_t n;
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			fwrite(buf, 1, (size_t)n, stdout);
	} else if (!strcmp(c, "ls")) {
		DIR *d = opendir(a);
		if (!d)
			return fail("cannot open", a);
		struct dirent *e;
		while ((e = readdir(d)))
			if (e->d_name[0] != '.')
				printf("%s\n", e->d_name);
	} else if (!strcmp(c, "stat")) {
		struct stat st;
		if (lstat(a, &st) < 0)
			return fail("cannot stat", a);
		printf("%s %s mode=%o uid=%d\n", a,
		       S_ISCHR(st.st_mode)   ? "chr"
		       : S_ISDIR(st.st_mode) ? "dir"
		       : S_ISLNK(st.st_mode) ? "lnk"
		       : S_ISREG(st.st_mode) ? "reg"
					     : "other",
		       (unsigned)(st.st_mode & 07777), (int)st.st_uid);
	} else if (!strcmp(c, "readlink")) {
		char buf[4096];
		ssize_t n = readlink(a, buf, sizeof(buf) - 1);
		if (n < 0)
			return fail("cannot readlink", a);
		buf[n] = '\0';
		printf("%s\n", buf);
	} else if (!strcmp(c, "chown")) {
		if (chown(a, (uid_t)atoi(b), (gid_t)atoi(argc > 4 ? argv[4] : b)) < 0)
			return fail("cannot chown", a);
	} else if (!strcmp(c, "sleep")) {
		sleep((unsigned)atoi(a));
	} else if (!strcmp(c, "trap")) {
		signal(SIGTERM, on_sig);
		signal(SIGINT, on_sig);
		printf("ready\n");
		fflush(stdout);
		for (;;)
			pause();
	} else if (!strcmp(c, "tty")) {
		struct winsize ws = {0};
		int t = isatty(0);
		ioctl(0, TIOCGWINSZ, &ws);
		printf("tty=%d name=%s rows=%d cols=%d\n", t, t ? ttyname(0) : "-", ws.ws_row,
		       ws.ws_col);
	} else if (!strcmp(c, "read")) {
		char buf[256];
		if (!fgets(buf, sizeof(buf), stdin))
			return 1;
		printf("got=%s", buf);
	} else {
		fprintf(stderr,
			"usage: toolbox pid|id|cwd|hostname|env [K]|exit N|kill N|"
			"exec PROG ARGS|spawn-kill N|write F T|rm P|mkdir D|cat F|ls D|stat P|readlink P|"
			"chown P U G|sleep N|"
			"trap|tty|read\n");
		return 2;
	}
	return 0;
}
