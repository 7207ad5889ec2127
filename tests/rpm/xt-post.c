// SPDX-License-Identifier: MIT
/*
 * A scriptlet interpreter for rpm tests: installed as /bin/sh (or named by
 * %post -p), it records the machine it ran on (uname -m), its argc and the
 * script's text in /var/lib/xt-post-ran, so a test can tell that a foreign
 * scriptlet really ran, and ran emulated.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/utsname.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct utsname u;
	uname(&u);
	FILE *f = fopen("/var/lib/xt-post-ran", "a");
	if (!f)
		return 1;
	fprintf(f, "machine=%s argc=%d\n", u.machine, argc);
	int fd = argc > 1 ? open(argv[1], O_RDONLY) : -1;
	char buf[512];
	ssize_t n;
	while (fd >= 0 && (n = read(fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, f);
	return fclose(f) ? 1 : 0;
}
