// SPDX-License-Identifier: MIT
/* Dockerfile parsing (see xarch/dockerfile.h). */
#include <ctype.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "xarch/dockerfile.h"

/* Which forms and flags an instruction takes. */
struct df_cmd_info {
	const char *name;
	bool flags;   /* --flag=value before the arguments */
	bool json;    /* exec form allowed */
	int min, max; /* argument words (-1: no limit); 0/0: free text */
};

static const struct df_cmd_info cmds[] = {
    [XARCH_DF_FROM] = {"FROM", true, false, 1, 3},
    [XARCH_DF_RUN] = {"RUN", true, true, 0, 0},
    [XARCH_DF_COPY] = {"COPY", true, true, 2, -1},
    [XARCH_DF_ADD] = {"ADD", true, true, 2, -1},
    [XARCH_DF_ENV] = {"ENV", false, false, 1, -1},
    [XARCH_DF_ARG] = {"ARG", false, false, 1, -1},
    [XARCH_DF_WORKDIR] = {"WORKDIR", false, false, 0, 0},
    [XARCH_DF_USER] = {"USER", false, false, 1, 1},
    [XARCH_DF_LABEL] = {"LABEL", false, false, 1, -1},
    [XARCH_DF_CMD] = {"CMD", false, true, 0, 0},
    [XARCH_DF_ENTRYPOINT] = {"ENTRYPOINT", false, true, 0, 0},
    [XARCH_DF_SHELL] = {"SHELL", false, true, 1, -1},
    [XARCH_DF_EXPOSE] = {"EXPOSE", false, false, 1, -1},
    [XARCH_DF_VOLUME] = {"VOLUME", false, true, 1, -1},
    [XARCH_DF_STOPSIGNAL] = {"STOPSIGNAL", false, false, 1, 1},
    [XARCH_DF_MAINTAINER] = {"MAINTAINER", false, false, 0, 0},
};

const char *xarch_df_cmd_name(enum xarch_df_cmd cmd)
{
	return (size_t)cmd < ARRAY_SIZE(cmds) ? cmds[cmd].name : "?";
}

const char *xarch_df_flag(const struct xarch_df_instr *in, const char *name)
{
	for (size_t i = 0; i < in->n_flags; i++)
		if (!strcmp(in->flags[i].name, name))
			return in->flags[i].value ? in->flags[i].value : "";
	return NULL;
}

struct parser {
	const char *name;
	char escape;
	int line;
	struct xarch_df_instr *in;
	struct xarch_error *err;
};

#define P_ERR(p, code, fmt, ...)                                                                   \
	xarch_err((p)->err, code, "%s:%d: " fmt, (p)->name, (p)->line, ##__VA_ARGS__)

static int push_arg(struct xarch_df_instr *in, const char *s, size_t n)
{
	char **v = realloc(in->args, (in->n_args + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	in->args = v;
	if (s && !(v[in->n_args] = strndup(s, n)))
		return -ENOMEM;
	if (!s)
		v[in->n_args] = NULL;
	in->n_args++;
	return 0;
}

/* The next word of *s: up to unquoted whitespace, quotes and escapes kept.
 * Returns its length (0 at the end), -EINVAL on an unterminated quote. */
static int next_word(const char **s, char escape, const char **start)
{
	const char *p = *s;
	char q = 0;
	while (*p && isspace((unsigned char)*p))
		p++;
	*start = p;
	for (; *p; p++) {
		if (*p == escape && p[1] && q != '\'') {
			p++;
		} else if (q) {
			if (*p == q)
				q = 0;
		} else if (*p == '"' || *p == '\'') {
			q = *p;
		} else if (isspace((unsigned char)*p)) {
			break;
		}
	}
	if (q)
		return -EINVAL;
	*s = p;
	return (int)(p - *start);
}

/* ENV/LABEL/ARG: NAME=VALUE words, or the legacy "NAME VALUE" form. */
static int parse_pairs(struct parser *p, const char *text, bool legacy_ok, bool value_opt)
{
	const char *s = text, *w;
	int n, r;
	bool first = true;
	while ((n = next_word(&s, p->escape, &w)) > 0) {
		const char *eq = memchr(w, '=', (size_t)n);
		if (!eq && first && legacy_ok) {
			while (*s && isspace((unsigned char)*s))
				s++;
			if (!*s)
				return P_ERR(p, EINVAL, "%s %.*s needs a value",
					     xarch_df_cmd_name(p->in->cmd), n, w);
			if ((r = push_arg(p->in, w, (size_t)n)) < 0 ||
			    (r = push_arg(p->in, s, strlen(s))) < 0)
				return r;
			return 0;
		}
		if (!eq && !value_opt)
			return P_ERR(p, EINVAL, "%s wants NAME=VALUE, not '%.*s'",
				     xarch_df_cmd_name(p->in->cmd), n, w);
		if (eq == w)
			return P_ERR(p, EINVAL, "%s: empty name in '%.*s'",
				     xarch_df_cmd_name(p->in->cmd), n, w);
		size_t kn = eq ? (size_t)(eq - w) : (size_t)n;
		if ((r = push_arg(p->in, w, kn)) < 0 ||
		    (r = push_arg(p->in, eq ? eq + 1 : NULL, eq ? (size_t)(w + n - eq - 1) : 0)) <
			0)
			return r;
		first = false;
	}
	if (n < 0)
		return P_ERR(p, EINVAL, "unterminated quote");
	return 0;
}

static int parse_json(struct parser *p, const char *text, bool *ok)
{
	struct json_object *a = json_tokener_parse(text);
	int r = 0;
	*ok = false;
	if (!a || !json_object_is_type(a, json_type_array))
		goto out;
	for (size_t i = 0; i < json_object_array_length(a); i++)
		if (!json_object_is_type(json_object_array_get_idx(a, i), json_type_string))
			goto out;
	for (size_t i = 0; i < json_object_array_length(a) && r >= 0; i++) {
		struct json_object *e = json_object_array_get_idx(a, i);
		r = push_arg(p->in, json_object_get_string(e),
			     (size_t)json_object_get_string_len(e));
	}
	*ok = r >= 0;
out:
	json_object_put(a);
	return r;
}

static int parse_flags(struct parser *p, const char **s)
{
	struct xarch_df_instr *in = p->in;
	for (;;) {
		const char *w;
		while (**s && isspace((unsigned char)**s))
			(*s)++;
		if (strncmp(*s, "--", 2))
			return 0;
		int n = next_word(s, p->escape, &w);
		if (n <= 2)
			return P_ERR(p, EINVAL, "bad flag");
		const char *eq = memchr(w, '=', (size_t)n);
		struct xarch_df_flag *f = realloc(in->flags, (in->n_flags + 1) * sizeof(*f));
		if (!f)
			return -ENOMEM;
		in->flags = f;
		f = &f[in->n_flags++];
		f->name = strndup(w + 2, eq ? (size_t)(eq - w - 2) : (size_t)n - 2);
		f->value = eq ? strndup(eq + 1, (size_t)(w + n - eq - 1)) : NULL;
		if (!f->name || (eq && !f->value))
			return -ENOMEM;
	}
}

static const char *const flags_ok[] = {
    [XARCH_DF_FROM] = "platform",
    [XARCH_DF_RUN] = "network security mount",
    [XARCH_DF_COPY] = "from chown chmod link parents exclude",
    [XARCH_DF_ADD] = "chown chmod link checksum keep-git-dir exclude",
};

static bool word_in(const char *list, const char *w)
{
	size_t n = strlen(w);
	for (const char *s = list; s && *s;) {
		const char *e = strchr(s, ' ');
		size_t len = e ? (size_t)(e - s) : strlen(s);
		if (len == n && !strncmp(s, w, n))
			return true;
		s = e ? e + 1 : NULL;
	}
	return false;
}

/* One logical line: "KEYWORD rest". */
static int parse_instr(struct parser *p, char *line)
{
	struct xarch_df_instr *in = p->in;
	const struct df_cmd_info *ci;
	char *s = line, *kw;
	int r;

	while (isspace((unsigned char)*s))
		s++;
	kw = s;
	while (*s && !isspace((unsigned char)*s))
		s++;
	size_t kn = (size_t)(s - kw);
	for (in->cmd = 0; in->cmd < ARRAY_SIZE(cmds); in->cmd++)
		if (strlen(cmds[in->cmd].name) == kn && !strncasecmp(cmds[in->cmd].name, kw, kn))
			break;
	if (in->cmd == ARRAY_SIZE(cmds)) {
		if ((kn == 7 && !strncasecmp(kw, "ONBUILD", kn)) ||
		    (kn == 11 && !strncasecmp(kw, "HEALTHCHECK", kn)))
			return P_ERR(p, ENOTSUP, "%.*s is not supported; remove it", (int)kn, kw);
		return P_ERR(p, EINVAL, "unknown instruction '%.*s'", (int)kn, kw);
	}
	ci = &cmds[in->cmd];
	const char *rest = s;
	if (ci->flags) {
		if ((r = parse_flags(p, &rest)) < 0)
			return r;
		for (size_t i = 0; i < in->n_flags; i++)
			if (!word_in(flags_ok[in->cmd], in->flags[i].name))
				return P_ERR(p, EINVAL, "%s does not know --%s", ci->name,
					     in->flags[i].name);
	}
	while (*rest && isspace((unsigned char)*rest))
		rest++;
	if (!(in->text = strdup(rest)))
		return -ENOMEM;
	size_t tl = strlen(in->text);
	while (tl && isspace((unsigned char)in->text[tl - 1]))
		in->text[--tl] = '\0';
	if (!tl && in->cmd != XARCH_DF_CMD && in->cmd != XARCH_DF_ENTRYPOINT)
		return P_ERR(p, EINVAL, "%s needs arguments", ci->name);
	if ((in->cmd == XARCH_DF_RUN || in->cmd == XARCH_DF_COPY || in->cmd == XARCH_DF_ADD) &&
	    (!strncmp(in->text, "<<", 2) || strstr(in->text, " <<EOF") ||
	     strstr(in->text, " <<-EOF")))
		return P_ERR(p, ENOTSUP, "heredocs in %s are not supported; use a script file",
			     ci->name);

	if (ci->json && in->text[0] == '[') {
		bool ok;
		if ((r = parse_json(p, in->text, &ok)) < 0)
			return r;
		if (ok) {
			in->json = true;
			goto count;
		}
	}
	if (in->cmd == XARCH_DF_SHELL)
		return P_ERR(p, EINVAL, "SHELL wants a JSON array of strings");
	switch (in->cmd) {
	case XARCH_DF_RUN:
	case XARCH_DF_CMD:
	case XARCH_DF_ENTRYPOINT:
	case XARCH_DF_WORKDIR:
	case XARCH_DF_MAINTAINER:
		return tl ? push_arg(in, in->text, tl) : 0;
	case XARCH_DF_ENV:
	case XARCH_DF_LABEL:
		if ((r = parse_pairs(p, in->text, true, false)) < 0)
			return r;
		goto count;
	case XARCH_DF_ARG:
		if ((r = parse_pairs(p, in->text, false, true)) < 0)
			return r;
		goto count;
	default:
		break;
	}
	{
		const char *t = in->text, *w;
		int n;
		while ((n = next_word(&t, p->escape, &w)) > 0)
			if ((r = push_arg(in, w, (size_t)n)) < 0)
				return r;
		if (n < 0)
			return P_ERR(p, EINVAL, "unterminated quote");
	}
count:
	if (in->cmd == XARCH_DF_FROM && in->n_args != 1 &&
	    (in->n_args != 3 || strcasecmp(in->args[1], "AS")))
		return P_ERR(p, EINVAL, "FROM wants IMAGE [AS NAME]");
	if (ci->min && (int)in->n_args < ci->min)
		return P_ERR(p, EINVAL, "%s needs %s argument%s", ci->name,
			     ci->min == 1 ? "an" : "at least two", ci->min == 1 ? "" : "s");
	if (ci->max > 0 && (int)in->n_args > ci->max && in->cmd != XARCH_DF_FROM)
		return P_ERR(p, EINVAL, "%s takes %d argument%s", ci->name, ci->max,
			     ci->max == 1 ? "" : "s");
	return 0;
}

/* "# key=value" at the top of the file */
static bool directive(struct parser *p, struct xarch_dockerfile *df, const char *l, size_t n)
{
	char key[16], val[128];
	const char *s = l + 1, *e = l + n;
	size_t k = 0, v = 0;
	while (s < e && isblank((unsigned char)*s))
		s++;
	while (s < e && (isalnum((unsigned char)*s)) && k < sizeof(key) - 1)
		key[k++] = (char)tolower((unsigned char)*s++);
	key[k] = '\0';
	while (s < e && isblank((unsigned char)*s))
		s++;
	if (!k || s == e || *s != '=')
		return false;
	for (s++; s < e && isblank((unsigned char)*s); s++)
		;
	while (s < e && !isspace((unsigned char)*s) && v < sizeof(val) - 1)
		val[v++] = *s++;
	val[v] = '\0';
	if (!strcmp(key, "escape") && v == 1 && (val[0] == '\\' || val[0] == '`'))
		p->escape = df->escape = val[0];
	else if (!strcmp(key, "syntax"))
		xa_strcpy(df->syntax, sizeof(df->syntax), val);
	else if (strcmp(key, "check"))
		return false;
	return true;
}

int xarch_dockerfile_parse(const char *buf, size_t len, const char *name,
			   struct xarch_dockerfile *ret, struct xarch_error *err)
{
	struct parser p = {.name = name ? name : "Dockerfile", .escape = '\\', .err = err};
	struct xarch_dockerfile df = {.escape = '\\'};
	_cleanup_free_ char *acc = NULL;
	size_t acc_len = 0, acc_cap = 0;
	bool directives = true, cont = false;
	int line = 0, start = 0, r = 0;

	for (size_t pos = 0; pos < len || cont;) {
		const char *l = buf + pos, *nl = pos < len ? memchr(l, '\n', len - pos) : NULL;
		size_t n = pos < len ? (nl ? (size_t)(nl - l) : len - pos) : 0;
		bool at_end = pos >= len;
		pos += n + (nl ? 1 : 0);
		line++;
		if (n && l[n - 1] == '\r')
			n--;
		if (memchr(l, '\0', n)) {
			p.line = line;
			r = P_ERR(&p, EINVAL, "NUL byte in the file");
			goto fail;
		}
		size_t i = 0;
		while (i < n && isspace((unsigned char)l[i]))
			i++;
		bool blank = i == n, comment = i < n && l[i] == '#';
		if (directives && comment && directive(&p, &df, l + i, n - i))
			continue;
		directives = false;
		/* blank and comment lines, also inside a continued instruction */
		if (!at_end && (blank || comment))
			continue;
		/* the line's text, without a trailing escape character */
		size_t e = n;
		while (e > i && isspace((unsigned char)l[e - 1]))
			e--;
		bool more = !at_end && e > i && l[e - 1] == p.escape;
		if (more)
			e--;
		if (!cont)
			start = line;
		if (acc_len + (e - i) + 2 > acc_cap) {
			acc_cap = (acc_len + (e - i) + 2) * 2;
			char *a = realloc(acc, acc_cap);
			if (!a) {
				r = -ENOMEM;
				goto fail;
			}
			acc = a;
		}
		memcpy(acc + acc_len, l + i, e - i);
		acc_len += e - i;
		acc[acc_len] = '\0';
		cont = more;
		if (cont)
			continue;
		if (!acc_len)
			continue;
		struct xarch_df_instr *v = realloc(df.v, (df.n + 1) * sizeof(*v));
		if (!v) {
			r = -ENOMEM;
			goto fail;
		}
		df.v = v;
		p.in = memset(&v[df.n++], 0, sizeof(*v));
		p.in->line = p.line = start;
		if ((r = parse_instr(&p, acc)) < 0)
			goto fail;
		acc_len = 0;
	}
	if (!df.n) {
		r = xarch_err(err, EINVAL, "%s: no instructions", p.name);
		goto fail;
	}
	if (df.v[0].cmd != XARCH_DF_FROM && df.v[0].cmd != XARCH_DF_ARG) {
		p.line = df.v[0].line;
		r = P_ERR(&p, EINVAL, "the first instruction must be FROM (or ARG before FROM)");
		goto fail;
	}
	*ret = df;
	return 0;
fail:
	xarch_dockerfile_release(&df);
	return r;
}

void xarch_dockerfile_release(struct xarch_dockerfile *df)
{
	for (size_t i = 0; i < df->n; i++) {
		struct xarch_df_instr *in = &df->v[i];
		free(in->text);
		for (size_t j = 0; j < in->n_flags; j++) {
			free(in->flags[j].name);
			free(in->flags[j].value);
		}
		free(in->flags);
		for (size_t j = 0; j < in->n_args; j++)
			free(in->args[j]);
		free(in->args);
	}
	free(df->v);
	df->v = NULL;
	df->n = 0;
}

/* ---- variable expansion ---------------------------------------------------- */

struct out {
	char *buf;
	size_t len, pos;
	bool over;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->pos + n >= o->len) {
		o->over = true;
		return;
	}
	memcpy(o->buf + o->pos, s, n);
	o->pos += n;
	o->buf[o->pos] = '\0';
}

static int expand_var(const char **ps, char escape, const char *(*lookup)(void *, const char *),
		      void *data, struct out *o, struct xarch_error *err)
{
	const char *s = *ps + 1; /* after '$' */
	char name[256];
	size_t n = 0;
	bool braced = *s == '{';
	if (braced)
		s++;
	while ((isalnum((unsigned char)*s) || *s == '_') && n < sizeof(name) - 1)
		name[n++] = *s++;
	name[n] = '\0';
	if (!n) { /* a lone '$' */
		put(o, "$", 1);
		*ps += 1;
		return 0;
	}
	const char *val = lookup(data, name);
	if (braced) {
		if (*s == '}') {
			s++;
		} else if ((s[0] == ':' && (s[1] == '-' || s[1] == '+')) || *s == '-' ||
			   *s == '+') {
			bool colon = *s == ':';
			char op = colon ? s[1] : s[0];
			s += colon ? 2 : 1;
			const char *w = s;
			int depth = 1;
			for (; *s && depth; s++)
				depth += *s == '{' ? 1 : *s == '}' ? -1 : 0;
			if (depth)
				return xarch_err(err, EINVAL, "unterminated ${%s", name);
			bool set = val && (!colon || *val);
			char word[4096];
			size_t wl = (size_t)(s - 1 - w);
			if (wl >= sizeof(word))
				return xarch_err(err, ENAMETOOLONG, "${%s...} too long", name);
			memcpy(word, w, wl);
			word[wl] = '\0';
			char exp[4096];
			if ((op == '-' && !set) || (op == '+' && set)) {
				int r = xarch_df_expand(word, escape, lookup, data, exp,
							sizeof(exp), err);
				if (r < 0)
					return r;
				put(o, exp, strlen(exp));
			} else if (op == '-' && val) {
				put(o, val, strlen(val));
			}
			*ps = s;
			return 0;
		} else {
			return xarch_err(err, EINVAL, "bad substitution '${%s%c'", name,
					 *s ? *s : ' ');
		}
	}
	if (val)
		put(o, val, strlen(val));
	*ps = s;
	return 0;
}

int xarch_df_expand(const char *in, char escape, const char *(*lookup)(void *, const char *),
		    void *data, char *out, size_t len, struct xarch_error *err)
{
	struct out o = {.buf = out, .len = len};
	char q = 0;
	int r;
	if (!len)
		return -ENAMETOOLONG;
	out[0] = '\0';
	for (const char *s = in; *s;) {
		if (q == '\'') {
			if (*s == '\'')
				q = 0;
			else
				put(&o, s, 1);
			s++;
		} else if (*s == escape && s[1]) {
			/* inside "": only $ " and the escape itself are escaped */
			if (q == '"' && s[1] != '$' && s[1] != '"' && s[1] != escape)
				put(&o, s, 1);
			put(&o, s + 1, 1);
			s += 2;
		} else if (*s == '$') {
			if ((r = expand_var(&s, escape, lookup, data, &o, err)) < 0)
				return r;
		} else if (*s == '"' || (*s == '\'' && !q)) {
			q = q ? 0 : *s;
			s++;
		} else {
			put(&o, s, 1);
			s++;
		}
		if (o.over)
			return xarch_err(err, ENAMETOOLONG, "value too long after expansion");
	}
	if (q)
		return xarch_err(err, EINVAL, "unterminated quote in '%s'", in);
	return 0;
}
