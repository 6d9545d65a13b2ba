/* SPDX-License-Identifier: Apache-2.0 */
/* containerd's filter syntax: the scanner, the parser with positioned errors, and the matcher. */
#include "common/filter.h"

#include <ctype.h>
#include <errno.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdint.h>

#include "common/err.h"
#include "common/strbuf.h"
#include "common/util.h"

enum filter_op {
	FILTER_OP_PRESENT,
	FILTER_OP_EQUAL,
	FILTER_OP_NOT_EQUAL,
	FILTER_OP_MATCHES,
};

struct selector {
	char **path; /* strv */
	size_t npath;
	enum filter_op op;
	char *value;
	pcre2_code *re; /* op MATCHES */
};

struct conjunction {
	struct selector *sel;
	size_t n, cap;
};

struct filter {
	struct conjunction *any; /* OR of ANDs; none means "match everything" */
	size_t n, cap;
};

struct parser {
	const char *in;
	size_t pos; /* next byte to read */
	struct wh_err **err;
};

static void selector_release(struct selector *s)
{
	strv_free(s->path);
	free(s->value);
	pcre2_code_free(s->re);
}

struct filter *filter_free(struct filter *f)
{
	if (!f)
		return NULL;
	for (size_t i = 0; i < f->n; i++) {
		for (size_t j = 0; j < f->any[i].n; j++)
			selector_release(&f->any[i].sel[j]);
		free(f->any[i].sel);
	}
	free(f->any);
	free(f);
	return NULL;
}

void filter_freep(struct filter **f)
{
	*f = filter_free(*f);
}

/* containerd's message: [before >|c|< after]: msg */
__attribute__((format(printf, 3, 4))) static int mkerr(struct parser *p, size_t pos,
						       const char *fmt, ...)
{
	cleanup_strbuf struct strbuf sb = STRBUF_INIT;
	size_t len = strlen(p->in);
	va_list ap;

	if (pos < len)
		strbuf_addf(&sb, "[%.*s >|%c|< %s]: ", (int)pos, p->in, p->in[pos],
			    p->in + pos + 1);
	else
		strbuf_addf(&sb, "[%s]: ", p->in);
	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	return wh_err_setx(p->err, EINVAL, "filters: parse error: %s (at offset %zu)", sb.buf, pos);
}

static void skip_space(struct parser *p)
{
	while (p->in[p->pos] && isspace((unsigned char)p->in[p->pos]))
		p->pos++;
}

static int peek(struct parser *p)
{
	skip_space(p);
	return (unsigned char)p->in[p->pos];
}

static bool is_field_char(int c)
{
	return c == '_' || isalnum(c);
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return 16;
}

static void add_utf8(struct strbuf *sb, uint32_t cp)
{
	if (cp < 0x80) {
		strbuf_addc(sb, (char)cp);
	} else if (cp < 0x800) {
		strbuf_addc(sb, (char)(0xc0 | (cp >> 6)));
		strbuf_addc(sb, (char)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		strbuf_addc(sb, (char)(0xe0 | (cp >> 12)));
		strbuf_addc(sb, (char)(0x80 | ((cp >> 6) & 0x3f)));
		strbuf_addc(sb, (char)(0x80 | (cp & 0x3f)));
	} else {
		strbuf_addc(sb, (char)(0xf0 | (cp >> 18)));
		strbuf_addc(sb, (char)(0x80 | ((cp >> 12) & 0x3f)));
		strbuf_addc(sb, (char)(0x80 | ((cp >> 6) & 0x3f)));
		strbuf_addc(sb, (char)(0x80 | (cp & 0x3f)));
	}
}

/* One escape after a backslash at p->pos (which points past the backslash). */
static int scan_escape(struct parser *p, char quote, struct strbuf *out)
{
	static const char simple_in[] = "abfnrtv\\";
	static const char simple_out[] = "\a\b\f\n\r\t\v\\";
	size_t start = p->pos - 1;
	int c = (unsigned char)p->in[p->pos];
	int base = 16, ndig = 0;
	uint32_t v = 0;
	const char *s;

	if (c && (s = strchr(simple_in, c))) {
		strbuf_addc(out, simple_out[s - simple_in]);
		p->pos++;
		return 0;
	}
	if (c == quote) {
		strbuf_addc(out, quote);
		p->pos++;
		return 0;
	}
	if (c >= '0' && c <= '7') {
		base = 8;
		ndig = 3;
	} else if (c == 'x' || c == 'u' || c == 'U') {
		ndig = c == 'x' ? 2 : c == 'u' ? 4 : 8;
		p->pos++;
	} else {
		return mkerr(p, start, "illegal escape sequence");
	}
	for (int i = 0; i < ndig; i++) {
		int d = hexval((unsigned char)p->in[p->pos]);
		if (d >= base)
			return mkerr(p, start, "illegal numeric escape sequence");
		v = v * (uint32_t)base + (uint32_t)d;
		p->pos++;
	}
	if (base == 8 && v > 255)
		return mkerr(p, start, "octal escape value > 255");
	if (c == 'x' || base == 8)
		strbuf_addc(out, (char)v);
	else if (v > 0x10ffff || (v >= 0xd800 && v < 0xe000))
		return mkerr(p, start, "escape sequence is an invalid Unicode code point");
	else
		add_utf8(out, v);
	return 0;
}

/* A quoted string starting at p->pos (the opening quote). */
static int scan_quoted(struct parser *p, char **ret)
{
	cleanup_strbuf struct strbuf sb = STRBUF_INIT;
	size_t start = p->pos;
	char quote = p->in[p->pos++];
	int r;

	for (;;) {
		char c = p->in[p->pos];
		if (c == 0 || c == '\n')
			return mkerr(p, start, "quoted literal not terminated");
		p->pos++;
		if (c == quote)
			break;
		if (c == '\\') {
			r = scan_escape(p, quote, &sb);
			if (r < 0)
				return r;
			continue;
		}
		strbuf_addc(&sb, c);
	}
	*ret = strbuf_detach(&sb, NULL);
	return 0;
}

static int parse_field(struct parser *p, char **ret)
{
	int c = peek(p);
	size_t start = p->pos;

	if (c == '"')
		return scan_quoted(p, ret);
	if (!is_field_char(c)) {
		if (c == 0)
			return mkerr(p, start, "expected field or quoted, got end of input");
		return mkerr(p, start, "expected field or quoted");
	}
	while (is_field_char((unsigned char)p->in[p->pos]))
		p->pos++;
	*ret = xstrndup(p->in + start, p->pos - start);
	return 0;
}

static int parse_operator(struct parser *p, enum filter_op *ret)
{
	size_t start;

	peek(p);
	start = p->pos;
	while (p->in[p->pos] && strchr("=!~", p->in[p->pos]))
		p->pos++;
	if (p->pos == start)
		return mkerr(p, start, "expected an operator (\"==\"|\"!=\"|\"~=\")");
	if (p->pos - start == 2 && !strncmp(p->in + start, "==", 2))
		*ret = FILTER_OP_EQUAL;
	else if (p->pos - start == 2 && !strncmp(p->in + start, "!=", 2))
		*ret = FILTER_OP_NOT_EQUAL;
	else if (p->pos - start == 2 && !strncmp(p->in + start, "~=", 2))
		*ret = FILTER_OP_MATCHES;
	else
		return mkerr(p, start, "unsupported operator \"%.*s\"", (int)(p->pos - start),
			     p->in + start);
	return 0;
}

static int parse_value(struct parser *p, bool alt_quotes, char **ret)
{
	int c = peek(p);
	size_t start = p->pos;

	if (c == '"' || (alt_quotes && (c == '/' || c == '|')))
		return scan_quoted(p, ret);
	if (c == '/' || c == '|')
		return mkerr(p, start, "invalid quote encountered");
	while (p->in[p->pos] && p->in[p->pos] != ',' && !isspace((unsigned char)p->in[p->pos]))
		p->pos++;
	if (p->pos == start)
		return mkerr(p, start, "expected value or quoted");
	*ret = xstrndup(p->in + start, p->pos - start);
	return 0;
}

/*
 * containerd's ~= is Go's regexp (RE2 syntax, UTF-8, unanchored search, time linear in the
 * input). PCRE2 is the nearest C library: same syntax for what RE2 has, and its DFA matcher
 * scans the value once without backtracking, so no pattern can make a match slow. glibc's regcomp
 * was used before and refused: nested repetitions and empty groups cost it seconds and gigabytes.
 * Compiled patterns are bounded by PCRE2's own size limit ("regular expression is too large").
 * A value that is not valid UTF-8 matches no pattern (Go would read bad bytes as U+FFFD).
 */
#define REGEX_MAX_LEN 1024
#define REGEX_DFA_WORKSPACE 1024	  /* ints on the stack; retried with ..._BIG on the heap */
#define REGEX_DFA_WORKSPACE_BIG (1 << 17) /* a pattern needing more matches nothing */

static int compile_regex(struct parser *p, size_t vpos, struct selector *s)
{
	int code;
	PCRE2_SIZE off;
	PCRE2_UCHAR msg[256];

	if (strlen(s->value) > REGEX_MAX_LEN)
		return mkerr(p, vpos, "invalid regular expression: longer than %d bytes",
			     REGEX_MAX_LEN);
	s->re = pcre2_compile((PCRE2_SPTR)s->value, PCRE2_ZERO_TERMINATED,
			      PCRE2_UTF | PCRE2_NO_AUTO_CAPTURE, &code, &off, NULL);
	if (!s->re) {
		if (pcre2_get_error_message(code, msg, sizeof(msg)) < 0)
			snprintf((char *)msg, sizeof(msg), "error %d", code);
		return mkerr(p, vpos, "invalid regular expression '%s': %s at offset %zu", s->value,
			     (char *)msg, (size_t)off);
	}
	return 0;
}

static bool regex_match(pcre2_code *re, const char *value)
{
	int ws[REGEX_DFA_WORKSPACE];
	pcre2_match_data *md = pcre2_match_data_create(1, NULL);
	size_t len = strlen(value);
	int rc;

	if (!md)
		wh_abort(__FILE__, __LINE__, "out of memory");
	rc = pcre2_dfa_match(re, (PCRE2_SPTR)value, len, 0, 0, md, NULL, ws, ARRAY_SIZE(ws));
	if (rc == PCRE2_ERROR_DFA_WSSIZE) {
		int *big = xnew0(int, REGEX_DFA_WORKSPACE_BIG);
		rc = pcre2_dfa_match(re, (PCRE2_SPTR)value, len, 0, 0, md, NULL, big,
				     REGEX_DFA_WORKSPACE_BIG);
		free(big);
	}
	pcre2_match_data_free(md);
	return rc >= 0;
}

static int parse_selector(struct parser *p, struct selector *s)
{
	size_t vpos;
	int c, r;

	for (;;) {
		char *f = NULL;
		r = parse_field(p, &f);
		if (r < 0)
			return r;
		strv_consume(&s->path, f);
		s->npath++;
		if (peek(p) != '.')
			break;
		p->pos++;
	}
	c = peek(p);
	if (c == 0 || c == ',' || c == '|') {
		s->op = FILTER_OP_PRESENT;
		return 0;
	}
	r = parse_operator(p, &s->op);
	if (r < 0)
		return r;
	vpos = (peek(p), p->pos);
	r = parse_value(p, s->op == FILTER_OP_MATCHES, &s->value);
	if (r < 0)
		return r;
	if (s->op == FILTER_OP_MATCHES) {
		if ((r = compile_regex(p, vpos, s)) < 0)
			return r;
	}
	return 0;
}

static struct conjunction *add_conjunction(struct filter *f)
{
	xgrow((void **)&f->any, &f->cap, f->n + 1, sizeof(*f->any));
	memset(&f->any[f->n], 0, sizeof(f->any[0]));
	return &f->any[f->n++];
}

static int parse_into(struct filter *f, const char *s, struct wh_err **err)
{
	struct parser p = {.in = s, .pos = 0, .err = err};
	struct conjunction *c;
	int r;

	if (!*s) {
		add_conjunction(f); /* empty AND: always true */
		return 0;
	}
	c = add_conjunction(f);
	for (;;) {
		int next;
		xgrow((void **)&c->sel, &c->cap, c->n + 1, sizeof(*c->sel));
		memset(&c->sel[c->n], 0, sizeof(c->sel[0]));
		c->n++;
		r = parse_selector(&p, &c->sel[c->n - 1]);
		if (r < 0)
			return r;
		next = peek(&p);
		if (next == 0)
			return 0;
		if (next == ',') {
			p.pos++;
		} else if (next == '|') {
			p.pos++;
			c = add_conjunction(f);
		} else {
			return mkerr(&p, p.pos, "unexpected input: %c", next);
		}
	}
}

int filter_parse_all(const char *const *ss, size_t n, struct filter **ret, struct wh_err **err)
{
	struct filter *f = xnew0(struct filter, 1);
	int r;

	for (size_t i = 0; i < n; i++) {
		r = parse_into(f, ss[i] ? ss[i] : "", err);
		if (r < 0) {
			filter_free(f);
			return r;
		}
	}
	*ret = f;
	return 0;
}

int filter_parse(const char *s, struct filter **ret, struct wh_err **err)
{
	return filter_parse_all(&s, 1, ret, err);
}

static bool selector_match(const struct selector *s, filter_field_fn *lookup, void *userdata)
{
	const char *value = NULL;
	bool present = lookup(userdata, (const char *const *)s->path, s->npath, &value);

	if (!present || !value)
		value = "";
	switch (s->op) {
	case FILTER_OP_PRESENT:
		return present;
	case FILTER_OP_EQUAL:
		return present && streq(value, s->value);
	case FILTER_OP_NOT_EQUAL:
		return !streq(value, s->value);
	case FILTER_OP_MATCHES:
		return present && regex_match(s->re, value);
	}
	return false;
}

bool filter_match(const struct filter *f, filter_field_fn *lookup, void *userdata)
{
	if (!f || f->n == 0)
		return true;
	for (size_t i = 0; i < f->n; i++) {
		bool all = true;
		for (size_t j = 0; j < f->any[i].n && all; j++)
			all = selector_match(&f->any[i].sel[j], lookup, userdata);
		if (all)
			return true;
	}
	return false;
}

bool filter_lookup_labels(char *const *kv, const char *const *path, size_t n,
			  const char **ret_value)
{
	if (n < 2 || !streq(path[0], "labels"))
		return false;
	/* A label key may itself contain dots: labels.a.b is the key "a.b" (containerd joins). */
	cleanup_strbuf struct strbuf key = STRBUF_INIT;
	for (size_t i = 1; i < n; i++) {
		if (i > 1)
			strbuf_addc(&key, '.');
		strbuf_adds(&key, path[i]);
	}
	for (size_t i = 0; kv && kv[i] && kv[i + 1]; i += 2) {
		if (streq(kv[i], key.buf)) {
			*ret_value = kv[i + 1];
			return true;
		}
	}
	return false;
}
