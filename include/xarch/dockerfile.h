/* SPDX-License-Identifier: MIT */
#ifndef XARCH_DOCKERFILE_H
#define XARCH_DOCKERFILE_H

/*
 * Dockerfiles read into a list of instructions; nothing is executed here.
 * Follows the Dockerfile reference: the `# escape=` and `# syntax=`
 * directives, line continuations with the escape character, comment lines
 * (also inside a continued instruction), exec form (a JSON array) and shell
 * form, --flags of FROM/COPY/ADD/RUN.  Instruction names are case
 * insensitive.  Unknown and unsupported instructions (ONBUILD, HEALTHCHECK,
 * heredocs) are errors naming the line.
 *
 * Words are split here but variables are not expanded: a build expands them
 * with xarch_df_expand() as each instruction runs (ARG/ENV change them).
 */
#include <stdbool.h>
#include <stddef.h>

#include "xarch/error.h"

enum xarch_df_cmd {
	XARCH_DF_FROM,
	XARCH_DF_RUN,
	XARCH_DF_COPY,
	XARCH_DF_ADD,
	XARCH_DF_ENV,
	XARCH_DF_ARG,
	XARCH_DF_WORKDIR,
	XARCH_DF_USER,
	XARCH_DF_LABEL,
	XARCH_DF_CMD,
	XARCH_DF_ENTRYPOINT,
	XARCH_DF_SHELL,
	XARCH_DF_EXPOSE,
	XARCH_DF_VOLUME,
	XARCH_DF_STOPSIGNAL,
	XARCH_DF_MAINTAINER,
};

struct xarch_df_flag {
	char *name;  /* without the dashes: "from", "chown", "platform" */
	char *value; /* NULL for a bare --flag */
};

struct xarch_df_instr {
	enum xarch_df_cmd cmd;
	int line;   /* where the instruction starts (1-based) */
	char *text; /* everything after the flags, continuations joined */
	struct xarch_df_flag *flags;
	size_t n_flags;
	bool json; /* exec form: args are the JSON array's strings */
	/* RUN/CMD/ENTRYPOINT shell form: one arg, the command line.
	 * ENV/LABEL/ARG: name, value pairs (ARG without default: value NULL).
	 * Others: the words, quotes kept for xarch_df_expand(). */
	char **args;
	size_t n_args;
};

struct xarch_dockerfile {
	struct xarch_df_instr *v;
	size_t n;
	char escape;	  /* '\\' or '`' */
	char syntax[128]; /* the # syntax= directive, informative */
};

/* Parse len bytes; `name` is used in errors ("NAME:LINE: ..."). */
int xarch_dockerfile_parse(const char *buf, size_t len, const char *name,
			   struct xarch_dockerfile *ret, struct xarch_error *err);
void xarch_dockerfile_release(struct xarch_dockerfile *df);

const char *xarch_df_cmd_name(enum xarch_df_cmd cmd);
/* The value of --name, NULL when absent ("" for a bare flag). */
const char *xarch_df_flag(const struct xarch_df_instr *in, const char *name);

/*
 * Expand $VAR, ${VAR}, ${VAR:-word}, ${VAR:+word} and remove quotes the way
 * the builder does for ENV, COPY, WORKDIR, ...: 'single' quotes are literal,
 * "double" quotes allow expansion, the escape character escapes the next
 * character.  lookup returns NULL for unset variables.  -ENAMETOOLONG when
 * out is too small, -EINVAL on an unterminated quote or ${.
 */
int xarch_df_expand(const char *in, char escape,
		    const char *(*lookup)(void *data, const char *name), void *data, char *out,
		    size_t len, struct xarch_error *err);

#endif
