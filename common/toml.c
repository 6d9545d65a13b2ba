/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The TOML subset parser (toml.h): a recursive-descent reader over the whole text, building a tree
 * of tables, arrays and scalars, and the dotted-path queries over that tree.
 *
 * Table rules follow TOML 1.0 as Python's tomllib reads it: a [header] defines a table once;
 * tables a header path passes through are implicit and may be defined later, or extended by dotted
 * keys (which makes them dotted); tables made by dotted keys cannot be defined by a header, and
 * dotted keys cannot add to a table a header defined; inline tables and arrays written as values
 * are sealed.
 */
#include "common/toml.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>

#include "common/err.h"
#include "common/fs.h"
#include "common/strbuf.h"
#include "common/util.h"

/* How a table came to be, which decides what may later extend it. */
enum table_kind {
	TABLE_IMPLICIT, /* a step of a [header] path, not yet defined itself */
	TABLE_DEFINED,	/* by its own [header] (or the root) */
	TABLE_DOTTED,	/* by dotted keys in a key/value line */
	TABLE_SEALED,	/* an inline table or a table inside one */
};

enum array_kind {
	ARRAY_STATIC, /* written as a value: sealed */
	ARRAY_TABLES, /* made by [[header]]: grows by [[header]] */
};

struct toml_value {
	enum toml_type type;
	int kind; /* enum table_kind or enum array_kind */
	unsigned line, col;
	struct toml_value *parent;
	char *key;    /* member name in the parent table; NULL for the root and array elements */
	size_t index; /* position in the parent array */
	union {
		char *s;
		int64_t i;
		double f;
		bool b;
		struct {
			struct toml_value **v;
			size_t n, cap;
			/* Large tables: open-addressing index of v, slots hold position + 1 */
			size_t *idx;
			size_t idx_cap;
		} list; /* array elements or table members, in document order */
	} u;
};

struct toml_doc {
	struct toml_value root;
	char *name;
};

struct mark {
	unsigned line, col;
};

struct parser {
	const char *s;
	size_t len, pos;
	unsigned line;
	size_t line_start;
	const char *name;
	struct wh_err **err;
	struct toml_doc *doc;
	struct toml_value *cur; /* the table that key/value lines go into */
	unsigned depth;
};

/* ---- tree ---- */

static struct toml_value *value_new(enum toml_type type, struct mark at)
{
	struct toml_value *v = xnew0(struct toml_value, 1);
	v->type = type;
	v->line = at.line;
	v->col = at.col;
	return v;
}

static void value_release(struct toml_value *v)
{
	if (v->type == TOML_STRING) {
		free(v->u.s);
	} else if (v->type == TOML_TABLE || v->type == TOML_ARRAY) {
		for (size_t i = 0; i < v->u.list.n; i++) {
			value_release(v->u.list.v[i]);
			free(v->u.list.v[i]);
		}
		free(v->u.list.v);
		free(v->u.list.idx);
	}
	free(v->key);
}

static void value_free(struct toml_value *v)
{
	if (v) {
		value_release(v);
		free(v);
	}
}

static void list_push(struct toml_value *parent, struct toml_value *child)
{
	xgrow((void **)&parent->u.list.v, &parent->u.list.cap, parent->u.list.n + 1,
	      sizeof(*parent->u.list.v));
	child->parent = parent;
	child->index = parent->u.list.n;
	parent->u.list.v[parent->u.list.n++] = child;
}

/* Tables up to this many members are searched linearly; larger ones get a hash index. */
#define TABLE_LINEAR_MAX 16

static size_t key_hash(const char *key)
{
	uint64_t h = UINT64_C(14695981039346656037); /* FNV-1a */
	for (const unsigned char *c = (const unsigned char *)key; *c; c++)
		h = (h ^ *c) * UINT64_C(1099511628211);
	return (size_t)h;
}

static void index_insert(struct toml_value *t, size_t pos)
{
	size_t mask = t->u.list.idx_cap - 1;
	size_t i = key_hash(t->u.list.v[pos]->key) & mask;
	while (t->u.list.idx[i])
		i = (i + 1) & mask;
	t->u.list.idx[i] = pos + 1;
}

static void table_put(struct toml_value *t, const char *key, struct toml_value *child)
{
	free(child->key);
	child->key = xstrdup(key);
	list_push(t, child);
	size_t n = t->u.list.n;
	if (n <= TABLE_LINEAR_MAX)
		return;
	/* Keep the index at most half full; rebuild it when it grows. */
	if (n * 2 > t->u.list.idx_cap) {
		size_t cap = 64;
		while (cap < n * 4)
			cap *= 2;
		free(t->u.list.idx);
		t->u.list.idx = xnew0(size_t, cap);
		t->u.list.idx_cap = cap;
		for (size_t i = 0; i < n; i++)
			index_insert(t, i);
	} else {
		index_insert(t, n - 1);
	}
}

static struct toml_value *table_find(const struct toml_value *t, const char *key)
{
	if (t->u.list.idx) {
		size_t mask = t->u.list.idx_cap - 1;
		for (size_t i = key_hash(key) & mask; t->u.list.idx[i]; i = (i + 1) & mask) {
			struct toml_value *v = t->u.list.v[t->u.list.idx[i] - 1];
			if (streq(v->key, key))
				return v;
		}
		return NULL;
	}
	for (size_t i = 0; i < t->u.list.n; i++)
		if (streq(t->u.list.v[i]->key, key))
			return t->u.list.v[i];
	return NULL;
}

static bool is_bare_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

static void add_key_quoted(struct strbuf *sb, const char *key)
{
	bool bare = *key != 0;
	for (const char *c = key; *c; c++)
		if (!is_bare_char(*c))
			bare = false;
	if (bare) {
		strbuf_adds(sb, key);
		return;
	}
	strbuf_addc(sb, '"');
	for (const unsigned char *c = (const unsigned char *)key; *c; c++) {
		if (*c == '"' || *c == '\\')
			strbuf_addf(sb, "\\%c", *c);
		else if (*c < 0x20 || *c == 0x7f)
			strbuf_addf(sb, "\\u%04x", *c);
		else
			strbuf_addc(sb, (char)*c);
	}
	strbuf_addc(sb, '"');
}

static void add_path(struct strbuf *sb, const struct toml_value *v)
{
	if (!v->parent)
		return;
	add_path(sb, v->parent);
	if (v->key) {
		if (v->parent->parent)
			strbuf_addc(sb, '.');
		add_key_quoted(sb, v->key);
	} else {
		strbuf_addf(sb, "[%zu]", v->index);
	}
}

char *toml_path(const struct toml_value *v)
{
	struct strbuf sb = STRBUF_INIT;
	add_path(&sb, v);
	return strbuf_detach(&sb, NULL);
}

/* The path of keys[0..n) below t, for messages. */
static char *keys_path(const struct toml_value *t, char **keys, size_t n)
{
	struct strbuf sb = STRBUF_INIT;
	add_path(&sb, t);
	for (size_t i = 0; i < n; i++) {
		if (sb.len)
			strbuf_addc(&sb, '.');
		add_key_quoted(&sb, keys[i]);
	}
	return strbuf_detach(&sb, NULL);
}

/* ---- positions and errors ---- */

static struct mark mark_at(const struct parser *p, size_t off)
{
	unsigned col = 1;
	for (size_t i = p->line_start; i < off; i++)
		if (((unsigned char)p->s[i] & 0xc0) != 0x80)
			col++;
	return (struct mark){p->line, col};
}

static struct mark here(const struct parser *p)
{
	return mark_at(p, p->pos);
}

__attribute__((format(printf, 3, 4))) static int perr(struct parser *p, struct mark at,
						      const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cleanup_free char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	return wh_err_setx(p->err, EBADMSG, "%s:%u:%u: %s", p->name, at.line, at.col, msg);
}

/* A printable description of the byte at pos for messages. */
static const char *describe(const struct parser *p, char buf[16])
{
	if (p->pos >= p->len)
		return "end of file";
	unsigned char c = (unsigned char)p->s[p->pos];
	if (c == '\n' || c == '\r')
		return "end of line";
	if (c < 0x20 || c >= 0x7f)
		snprintf(buf, 16, "byte 0x%02x", c);
	else
		snprintf(buf, 16, "'%c'", c);
	return buf;
}

/* ---- lexing helpers ---- */

static bool eof(const struct parser *p)
{
	return p->pos >= p->len;
}

static char peek(const struct parser *p)
{
	return p->pos < p->len ? p->s[p->pos] : 0;
}

static char peek_at(const struct parser *p, size_t ahead)
{
	return p->pos + ahead < p->len ? p->s[p->pos + ahead] : 0;
}

static bool looking_at(const struct parser *p, const char *lit)
{
	size_t n = strlen(lit);
	return p->len - p->pos >= n && memcmp(p->s + p->pos, lit, n) == 0;
}

static void skip_ws(struct parser *p)
{
	while (!eof(p) && (peek(p) == ' ' || peek(p) == '\t'))
		p->pos++;
}

static bool at_newline(const struct parser *p)
{
	return peek(p) == '\n' || (peek(p) == '\r' && peek_at(p, 1) == '\n');
}

/* Consumes "\n" or "\r\n"; a lone CR is an error. */
static int newline(struct parser *p)
{
	if (peek(p) == '\r') {
		if (peek_at(p, 1) != '\n')
			return perr(p, here(p), "carriage return not followed by a newline");
		p->pos++;
	}
	p->pos++;
	p->line++;
	p->line_start = p->pos;
	return 0;
}

/* Control characters other than tab are not allowed in comments and strings (TOML 1.0). */
static bool is_control(unsigned char c)
{
	return (c < 0x20 && c != '\t') || c == 0x7f;
}

static int skip_comment(struct parser *p)
{
	while (!eof(p) && peek(p) != '\n') {
		unsigned char c = (unsigned char)peek(p);
		if (c == '\r' && peek_at(p, 1) == '\n')
			break;
		if (is_control(c))
			return perr(p, here(p), "control character U+%04X in a comment", c);
		p->pos++;
	}
	return 0;
}

/* Whitespace, comments and newlines, as allowed between array elements. */
static int skip_ws_nl(struct parser *p)
{
	for (;;) {
		skip_ws(p);
		if (peek(p) == '#') {
			int r = skip_comment(p);
			if (r < 0)
				return r;
		}
		if (eof(p) || (peek(p) != '\n' && peek(p) != '\r'))
			return 0;
		int r = newline(p);
		if (r < 0)
			return r;
	}
}

/* After a key/value or a header: whitespace, an optional comment, then a newline or the end. */
static int expect_eol(struct parser *p, const char *after)
{
	char buf[16];
	skip_ws(p);
	if (peek(p) == '#') {
		int r = skip_comment(p);
		if (r < 0)
			return r;
	}
	if (eof(p))
		return 0;
	if (peek(p) == '\n' || peek(p) == '\r')
		return newline(p);
	return perr(p, here(p), "expected a newline after %s, got %s", after, describe(p, buf));
}

/* Checks that the whole text is UTF-8 (no overlongs, no surrogates, at most U+10FFFF). */
static int check_utf8(struct parser *p)
{
	const unsigned char *s = (const unsigned char *)p->s;
	for (size_t i = 0; i < p->len;) {
		unsigned char c = s[i];
		size_t n;
		uint32_t cp;
		if (c == '\n') {
			p->line++;
			p->line_start = ++i;
			continue;
		}
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			goto bad;
		}
		if (p->len - i <= n)
			goto bad;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				goto bad;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			goto bad;
		i += n + 1;
		continue;
	bad:
		p->pos = i;
		return perr(p, here(p), "invalid UTF-8");
	}
	p->line = 1;
	p->line_start = 0;
	return 0;
}

/* ---- strings ---- */

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

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* An escape sequence; p->pos is at the backslash. */
static int parse_escape(struct parser *p, struct strbuf *sb)
{
	struct mark at = here(p);
	char c = peek_at(p, 1);
	static const char from[] = "btnfr\"\\", to[] = "\b\t\n\f\r\"\\";
	const char *e = c ? strchr(from, c) : NULL;
	if (e) {
		strbuf_addc(sb, to[e - from]);
		p->pos += 2;
		return 0;
	}
	if (c != 'u' && c != 'U') {
		char buf[16];
		p->pos++;
		return perr(p, at, "invalid escape sequence '\\' followed by %s", describe(p, buf));
	}
	size_t n = c == 'u' ? 4 : 8;
	uint32_t cp = 0;
	for (size_t k = 0; k < n; k++) {
		int h = hexval(peek_at(p, 2 + k));
		if (h < 0)
			return perr(p, at, "'\\%c' needs %zu hex digits", c, n);
		cp = (cp << 4) | (uint32_t)h;
	}
	if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return perr(p, at, "'\\%c' escape is not a Unicode scalar value", c);
	if (cp == 0)
		return perr(p, at, "NUL characters in strings are not supported");
	add_utf8(sb, cp);
	p->pos += 2 + n;
	return 0;
}

/* Counts a run of quote characters q starting at pos. */
static size_t quote_run(const struct parser *p, char q)
{
	size_t n = 0;
	while (p->pos + n < p->len && p->s[p->pos + n] == q)
		n++;
	return n;
}

/* Skips whitespace and newlines after a line-ending backslash. */
static int skip_line_ending_backslash(struct parser *p)
{
	size_t save = p->pos;
	p->pos++;
	skip_ws(p);
	if (!at_newline(p) && peek(p) != '\r') {
		p->pos = save;
		return 1; /* not a line-ending backslash */
	}
	for (;;) {
		skip_ws(p);
		if (peek(p) != '\n' && peek(p) != '\r')
			return 0;
		int r = newline(p);
		if (r < 0)
			return r;
	}
}

/* A string of any of the four kinds; p->pos is at the opening quote. */
static int parse_string(struct parser *p, char **ret)
{
	struct mark at = here(p);
	char q = peek(p);
	bool literal = q == '\'';
	bool multi = quote_run(p, q) >= 3;
	cleanup_strbuf struct strbuf sb = STRBUF_INIT;
	int r;

	p->pos += multi ? 3 : 1;
	/* A newline right after the opening delimiter is trimmed. */
	if (multi && (peek(p) == '\n' || peek(p) == '\r')) {
		r = newline(p);
		if (r < 0)
			return r;
	}
	for (;;) {
		if (eof(p))
			return perr(p, at, "unterminated string");
		unsigned char c = (unsigned char)peek(p);
		if (c == (unsigned char)q) {
			if (!multi) {
				p->pos++;
				break;
			}
			size_t n = quote_run(p, q);
			if (n >= 3) {
				if (n > 5)
					return perr(p, here(p),
						    "too many quotes at the end of a string");
				strbuf_add(&sb, p->s + p->pos, n - 3);
				p->pos += n;
				break;
			}
			strbuf_add(&sb, p->s + p->pos, n);
			p->pos += n;
			continue;
		}
		if (c == '\n' || c == '\r') {
			if (!multi)
				return perr(
					p, at,
					"unterminated string (newline before the closing quote)");
			r = newline(p);
			if (r < 0)
				return r;
			strbuf_addc(&sb, '\n');
			continue;
		}
		if (c == '\\' && !literal) {
			r = multi ? skip_line_ending_backslash(p) : 1;
			if (r < 0)
				return r;
			if (r == 1) {
				r = parse_escape(p, &sb);
				if (r < 0)
					return r;
			}
			continue;
		}
		if (is_control(c))
			return perr(p, here(p), "control character U+%04X in a string", c);
		strbuf_addc(&sb, (char)c);
		p->pos++;
	}
	*ret = strbuf_detach(&sb, NULL);
	return 0;
}

/* ---- keys ---- */

static int parse_simple_key(struct parser *p, char **ret)
{
	char buf[16];
	if (peek(p) == '"' || peek(p) == '\'') {
		if (quote_run(p, peek(p)) >= 3 && peek(p) == '\'')
			return perr(p, here(p), "multi-line strings cannot be keys");
		if (looking_at(p, "\"\"\""))
			return perr(p, here(p), "multi-line strings cannot be keys");
		return parse_string(p, ret);
	}
	size_t start = p->pos;
	while (!eof(p) && is_bare_char(peek(p)))
		p->pos++;
	if (p->pos == start)
		return perr(p, here(p), "expected a key, got %s", describe(p, buf));
	*ret = xstrndup(p->s + start, p->pos - start);
	return 0;
}

/* A dotted key: simple keys separated by '.', with optional whitespace around the dots. */
static int parse_key(struct parser *p, char ***ret)
{
	cleanup_strv char **keys = NULL;
	for (;;) {
		char *k = NULL;
		int r = parse_simple_key(p, &k);
		if (r < 0)
			return r;
		strv_consume(&keys, k);
		/* Bounds the depth of the tree, which is walked recursively. */
		if (strv_length(keys) > TOML_MAX_DEPTH)
			return perr(p, here(p), "dotted key of more than %d parts", TOML_MAX_DEPTH);
		size_t save = p->pos;
		skip_ws(p);
		if (peek(p) != '.') {
			p->pos = save;
			break;
		}
		p->pos++;
		skip_ws(p);
	}
	*ret = TAKE_PTR(keys);
	return 0;
}

/* ---- numbers ---- */

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_token_char(char c)
{
	return is_bare_char(c) || c == '+' || c == '.' || c == ':';
}

/*
 * Copies digits of token [i, end) valid for digit_ok into out, dropping '_' that stand between
 * two digits. Returns the index after the digits, or -1 for a misplaced '_' or no digit.
 */
static ssize_t take_digits(const char *tok, size_t i, size_t end, int base, struct strbuf *out)
{
	size_t start = i;
	for (; i < end; i++) {
		char c = tok[i];
		int h = hexval(c);
		if (c == '_') {
			if (i == start || i + 1 >= end || hexval(tok[i + 1]) < 0 ||
			    hexval(tok[i + 1]) >= base)
				return -1;
			continue;
		}
		if (h < 0 || h >= base || (base == 10 && !is_digit(c)))
			break;
		strbuf_addc(out, c);
	}
	return i == start ? -1 : (ssize_t)i;
}

static int parse_radix_int(struct parser *p, struct mark at, const char *tok, size_t n,
			   int64_t *ret)
{
	int base = tok[1] == 'x' ? 16 : tok[1] == 'o' ? 8 : 2;
	cleanup_strbuf struct strbuf digits = STRBUF_INIT;
	ssize_t e = take_digits(tok, 2, n, base, &digits);
	if (e < 0 || (size_t)e != n)
		return perr(p, at, "invalid integer '%.*s'", (int)n, tok);
	uint64_t v = 0;
	for (size_t i = 0; i < digits.len; i++) {
		uint64_t d = (uint64_t)hexval(digits.buf[i]);
		if (v > (UINT64_C(0x7fffffffffffffff) - d) / (uint64_t)base)
			return perr(p, at, "integer '%.*s' out of range", (int)n, tok);
		v = v * (uint64_t)base + d;
	}
	*ret = (int64_t)v;
	return 0;
}

/* A decimal integer or a float (fraction and/or exponent); tok[0..n) is the whole token. */
static int parse_decimal(struct parser *p, struct mark at, const char *tok, size_t n,
			 struct toml_value **ret)
{
	cleanup_strbuf struct strbuf clean = STRBUF_INIT;
	size_t i = (tok[0] == '+' || tok[0] == '-') ? 1 : 0;
	if (tok[0] == '-')
		strbuf_addc(&clean, '-');
	if (i >= n || !is_digit(tok[i]))
		return perr(p, at, "invalid value '%.*s'", (int)n, tok);
	ssize_t e = take_digits(tok, i, n, 10, &clean);
	if (e < 0)
		return perr(p, at, "invalid number '%.*s'", (int)n, tok);
	if (tok[i] == '0' && (size_t)e - i > 1)
		return perr(p, at, "leading zeros are not allowed in '%.*s'", (int)n, tok);
	bool is_float = false;
	size_t j = (size_t)e;
	if (j < n && tok[j] == '.') {
		strbuf_addc(&clean, '.');
		e = take_digits(tok, j + 1, n, 10, &clean);
		is_float = true;
		j = e < 0 ? n + 1 : (size_t)e;
	}
	if (j < n && (tok[j] == 'e' || tok[j] == 'E')) {
		strbuf_addc(&clean, 'e');
		j++;
		if (j < n && (tok[j] == '+' || tok[j] == '-'))
			strbuf_addc(&clean, tok[j++]);
		e = take_digits(tok, j, n, 10, &clean);
		is_float = true;
		j = e < 0 ? n + 1 : (size_t)e;
	}
	if (j != n)
		return perr(p, at, "invalid number '%.*s'", (int)n, tok);
	if (is_float) {
		char *end = NULL;
		errno = 0;
		double d = strtod(clean.buf, &end);
		if (*end || (errno == ERANGE && isinf(d)))
			return perr(p, at, "float '%.*s' out of range", (int)n, tok);
		*ret = value_new(TOML_FLOAT, at);
		(*ret)->u.f = d;
		return 0;
	}
	int64_t iv = 0;
	int r = parse_i64(clean.buf, &iv);
	if (r == -ERANGE)
		return perr(p, at, "integer '%.*s' out of range", (int)n, tok);
	if (r < 0)
		return perr(p, at, "invalid integer '%.*s'", (int)n, tok);
	*ret = value_new(TOML_INT, at);
	(*ret)->u.i = iv;
	return 0;
}

static int parse_number(struct parser *p, struct toml_value **ret)
{
	struct mark at = here(p);
	const char *tok = p->s + p->pos;
	size_t n = 0;
	while (p->pos + n < p->len && is_token_char(tok[n]))
		n++;
	/* Dates (1979-05-27) and times (07:32:00) are outside the subset. */
	if ((n >= 5 && is_digit(tok[0]) && is_digit(tok[3]) && tok[4] == '-') ||
	    (n >= 3 && is_digit(tok[0]) && is_digit(tok[1]) && tok[2] == ':'))
		return perr(p, at, "dates and times are not supported");
	struct toml_value *v = NULL;
	size_t i = (tok[0] == '+' || tok[0] == '-') ? 1 : 0;
	if (n - i == 3 && (memcmp(tok + i, "inf", 3) == 0 || memcmp(tok + i, "nan", 3) == 0)) {
		double d = tok[i] == 'i' ? INFINITY : NAN;
		v = value_new(TOML_FLOAT, at);
		v->u.f = tok[0] == '-' ? -d : d;
	} else if (i == 0 && n > 2 && tok[0] == '0' &&
		   (tok[1] == 'x' || tok[1] == 'o' || tok[1] == 'b')) {
		int64_t iv = 0;
		int r = parse_radix_int(p, at, tok, n, &iv);
		if (r < 0)
			return r;
		v = value_new(TOML_INT, at);
		v->u.i = iv;
	} else {
		int r = parse_decimal(p, at, tok, n, &v);
		if (r < 0)
			return r;
	}
	p->pos += n;
	*ret = v;
	return 0;
}

/* ---- values ---- */

static int parse_value(struct parser *p, struct toml_value *parent, const char *key,
		       struct toml_value **ret);
static int parse_keyval(struct parser *p, struct toml_value *t, enum table_kind dotted_kind);

static void seal(struct toml_value *v)
{
	if (v->type == TOML_TABLE)
		v->kind = TABLE_SEALED;
	if (v->type == TOML_TABLE || v->type == TOML_ARRAY)
		for (size_t i = 0; i < v->u.list.n; i++)
			seal(v->u.list.v[i]);
}

/*
 * Places a container being parsed where it will go (key in parent, or the next element of the
 * parent array), so that messages about its members name their full path.
 */
static void place(struct toml_value *v, struct toml_value *parent, const char *key)
{
	v->parent = parent;
	v->key = key ? xstrdup(key) : NULL;
	v->index = parent->u.list.n;
}

static int enter(struct parser *p, struct mark at)
{
	if (++p->depth > TOML_MAX_DEPTH)
		return perr(p, at, "arrays and inline tables nested deeper than %d",
			    TOML_MAX_DEPTH);
	return 0;
}

static int parse_array(struct parser *p, struct toml_value *parent, const char *key,
		       struct toml_value **ret)
{
	char buf[16];
	struct mark at = here(p);
	int r = enter(p, at);
	if (r < 0)
		return r;
	struct toml_value *arr = value_new(TOML_ARRAY, at);
	arr->kind = ARRAY_STATIC;
	place(arr, parent, key);
	p->pos++;
	for (;;) {
		r = skip_ws_nl(p);
		if (r < 0)
			goto fail;
		if (peek(p) == ']')
			break;
		struct toml_value *v = NULL;
		r = parse_value(p, arr, NULL, &v);
		if (r < 0)
			goto fail;
		list_push(arr, v);
		r = skip_ws_nl(p);
		if (r < 0)
			goto fail;
		if (peek(p) == ',') {
			p->pos++;
			continue;
		}
		if (peek(p) == ']')
			break;
		r = perr(p, here(p), "expected ',' or ']' in an array, got %s", describe(p, buf));
		goto fail;
	}
	p->pos++;
	p->depth--;
	*ret = arr;
	return 0;
fail:
	value_free(arr);
	return r;
}

static int parse_inline_table(struct parser *p, struct toml_value *parent, const char *key,
			      struct toml_value **ret)
{
	char buf[16];
	struct mark at = here(p);
	int r = enter(p, at);
	if (r < 0)
		return r;
	struct toml_value *t = value_new(TOML_TABLE, at);
	t->kind = TABLE_DOTTED;
	place(t, parent, key);
	p->pos++;
	skip_ws(p);
	if (peek(p) == '}')
		goto done;
	for (;;) {
		skip_ws(p);
		if (peek(p) == '}') {
			r = perr(p, here(p), "trailing comma in an inline table");
			goto fail;
		}
		r = parse_keyval(p, t, TABLE_DOTTED);
		if (r < 0)
			goto fail;
		skip_ws(p);
		if (peek(p) == ',') {
			p->pos++;
			continue;
		}
		if (peek(p) == '}')
			break;
		if (eof(p) || peek(p) == '\n' || peek(p) == '\r')
			r = perr(p, here(p), "inline tables must be on one line (missing '}')");
		else
			r = perr(p, here(p), "expected ',' or '}' in an inline table, got %s",
				 describe(p, buf));
		goto fail;
	}
done:
	p->pos++;
	p->depth--;
	seal(t);
	*ret = t;
	return 0;
fail:
	value_free(t);
	return r;
}

static int parse_bool(struct parser *p, struct toml_value **ret)
{
	struct mark at = here(p);
	bool b = looking_at(p, "true");
	if (!b && !looking_at(p, "false"))
		return perr(p, at, "invalid value (expected true or false)");
	size_t n = b ? 4 : 5;
	if (p->pos + n < p->len && is_bare_char(p->s[p->pos + n]))
		return perr(p, at, "invalid value (expected true or false)");
	struct toml_value *v = value_new(TOML_BOOL, at);
	v->u.b = b;
	p->pos += n;
	*ret = v;
	return 0;
}

static int parse_value(struct parser *p, struct toml_value *parent, const char *key,
		       struct toml_value **ret)
{
	char buf[16];
	struct mark at = here(p);
	char c = peek(p);
	if (c == '"' || c == '\'') {
		char *s = NULL;
		int r = parse_string(p, &s);
		if (r < 0)
			return r;
		struct toml_value *v = value_new(TOML_STRING, at);
		v->u.s = s;
		*ret = v;
		return 0;
	}
	if (c == 't' || c == 'f')
		return parse_bool(p, ret);
	if (c == '[')
		return parse_array(p, parent, key, ret);
	if (c == '{')
		return parse_inline_table(p, parent, key, ret);
	if (is_digit(c) || c == '+' || c == '-' || c == 'i' || c == 'n')
		return parse_number(p, ret);
	return perr(p, at, "expected a value, got %s", describe(p, buf));
}

/* ---- tables and key/value lines ---- */

static const char *article(enum toml_type t)
{
	return t == TOML_ARRAY || t == TOML_INT ? "an" : "a";
}

static int parse_keyval(struct parser *p, struct toml_value *t, enum table_kind dotted_kind)
{
	char buf[16];
	struct mark at = here(p);
	cleanup_strv char **keys = NULL;
	int r = parse_key(p, &keys);
	if (r < 0)
		return r;
	skip_ws(p);
	if (peek(p) != '=')
		return perr(p, here(p), "expected '=' after a key, got %s", describe(p, buf));
	p->pos++;
	skip_ws(p);
	size_t n = strv_length(keys);
	const struct toml_value *base = t;
	for (size_t i = 0; i + 1 < n; i++) {
		struct toml_value *v = table_find(t, keys[i]);
		if (!v) {
			v = value_new(TOML_TABLE, at);
			v->kind = dotted_kind;
			table_put(t, keys[i], v);
		} else if (v->type == TOML_TABLE && v->kind == TABLE_IMPLICIT) {
			/* A table a header only passed through; from now on it is made of dotted
			 * keys. */
			v->kind = TABLE_DOTTED;
		} else if (v->type != TOML_TABLE || v->kind != TABLE_DOTTED) {
			cleanup_free char *path = keys_path(base, keys, i + 1);
			if (v->type == TOML_TABLE)
				return perr(
					p, at,
					"cannot add dotted keys to table '%s' defined elsewhere",
					path);
			return perr(p, at, "'%s' is already defined as %s %s", path,
				    article(v->type), toml_type_name(v->type));
		}
		t = v;
	}
	if (table_find(t, keys[n - 1])) {
		cleanup_free char *path = keys_path(t, keys + n - 1, 1);
		return perr(p, at, "duplicate key '%s'", path);
	}
	struct toml_value *v = NULL;
	r = parse_value(p, t, keys[n - 1], &v);
	if (r < 0)
		return r;
	table_put(t, keys[n - 1], v);
	return 0;
}

/* Walks the steps of a header path, making implicit tables; the last key is left to the caller. */
static int header_walk(struct parser *p, struct mark at, char **keys, size_t n,
		       struct toml_value **ret)
{
	struct toml_value *t = &p->doc->root;
	for (size_t i = 0; i + 1 < n; i++) {
		struct toml_value *v = table_find(t, keys[i]);
		if (!v) {
			v = value_new(TOML_TABLE, at);
			v->kind = TABLE_IMPLICIT;
			table_put(t, keys[i], v);
		} else if (v->type == TOML_ARRAY && v->kind == ARRAY_TABLES) {
			v = v->u.list.v[v->u.list.n - 1];
		} else if (v->type != TOML_TABLE || v->kind == TABLE_SEALED) {
			cleanup_free char *path = keys_path(&p->doc->root, keys, i + 1);
			return perr(p, at, "cannot extend '%s': it is %s %s", path,
				    v->type == TOML_TABLE ? "an inline" : article(v->type),
				    toml_type_name(v->type));
		}
		t = v;
	}
	*ret = t;
	return 0;
}

static int open_table(struct parser *p, struct mark at, char **keys, bool array)
{
	size_t n = strv_length(keys);
	struct toml_value *t = NULL;
	int r = header_walk(p, at, keys, n, &t);
	if (r < 0)
		return r;
	struct toml_value *v = table_find(t, keys[n - 1]);
	cleanup_free char *path = keys_path(&p->doc->root, keys, n);
	if (array) {
		if (!v) {
			v = value_new(TOML_ARRAY, at);
			v->kind = ARRAY_TABLES;
			table_put(t, keys[n - 1], v);
		} else if (v->type != TOML_ARRAY || v->kind != ARRAY_TABLES) {
			return perr(p, at,
				    "'%s' is already defined as %s %s, not an array of tables",
				    path, v->type == TOML_ARRAY ? "a static" : article(v->type),
				    toml_type_name(v->type));
		}
		struct toml_value *elem = value_new(TOML_TABLE, at);
		elem->kind = TABLE_DEFINED;
		list_push(v, elem);
		p->cur = elem;
		return 0;
	}
	if (!v) {
		v = value_new(TOML_TABLE, at);
		v->kind = TABLE_DEFINED;
		table_put(t, keys[n - 1], v);
	} else if (v->type == TOML_TABLE && v->kind == TABLE_IMPLICIT) {
		v->kind = TABLE_DEFINED;
		v->line = at.line;
		v->col = at.col;
	} else if (v->type == TOML_TABLE && v->kind == TABLE_DEFINED) {
		return perr(p, at, "table '%s' defined twice", path);
	} else if (v->type == TOML_TABLE) {
		return perr(p, at, "table '%s' was already defined by %s", path,
			    v->kind == TABLE_DOTTED ? "dotted keys" : "an inline table");
	} else {
		return perr(p, at, "'%s' is already defined as %s %s", path, article(v->type),
			    toml_type_name(v->type));
	}
	p->cur = v;
	return 0;
}

static int parse_header(struct parser *p)
{
	char buf[16];
	struct mark at = here(p);
	bool array = peek_at(p, 1) == '[';
	p->pos += array ? 2 : 1;
	skip_ws(p);
	cleanup_strv char **keys = NULL;
	int r = parse_key(p, &keys);
	if (r < 0)
		return r;
	skip_ws(p);
	if (array && peek(p) == ']' && peek_at(p, 1) != ']')
		p->pos++;
	if (peek(p) != ']' || (array && peek_at(p, 1) != ']'))
		return perr(p, here(p), "expected '%s' to close a table header, got %s",
			    array ? "]]" : "]", describe(p, buf));
	p->pos += array ? 2 : 1;
	r = open_table(p, at, keys, array);
	if (r < 0)
		return r;
	return expect_eol(p, "a table header");
}

static int parse_document(struct parser *p)
{
	int r = check_utf8(p);
	if (r < 0)
		return r;
	/* Some editors start UTF-8 files with a byte order mark; it carries no meaning here. */
	if (looking_at(p, "\xef\xbb\xbf"))
		p->pos = p->line_start = 3;
	for (;;) {
		skip_ws(p);
		if (eof(p))
			return 0;
		char c = peek(p);
		if (c == '#')
			r = expect_eol(p, "a comment");
		else if (c == '\n' || c == '\r')
			r = newline(p);
		else if (c == '[')
			r = parse_header(p);
		else {
			r = parse_keyval(p, p->cur, TABLE_DOTTED);
			if (r >= 0)
				r = expect_eol(p, "a value");
		}
		if (r < 0)
			return r;
	}
}

int toml_parse(const char *text, size_t len, const char *name, struct toml_doc **ret,
	       struct wh_err **err)
{
	struct toml_doc *doc = xnew0(struct toml_doc, 1);
	doc->name = xstrdup(name ? name : "<input>");
	doc->root.type = TOML_TABLE;
	doc->root.kind = TABLE_DEFINED;
	doc->root.line = doc->root.col = 1;
	struct parser p = {
		.s = text,
		.len = len,
		.line = 1,
		.name = doc->name,
		.err = err,
		.doc = doc,
		.cur = &doc->root,
	};
	int r = parse_document(&p);
	if (r < 0) {
		toml_doc_free(doc);
		return r;
	}
	*ret = doc;
	return 0;
}

int toml_parse_file(const char *path, size_t max, struct toml_doc **ret, struct wh_err **err)
{
	cleanup_free char *buf = NULL;
	size_t len = 0;
	int r = read_file(path, max, &buf, &len);
	if (r == -EFBIG)
		return wh_err_setx(err, EFBIG, "read '%s': larger than %zu bytes", path, max);
	if (r < 0)
		return wh_err_set(err, r, "read '%s'", path);
	return toml_parse(buf, len, path, ret, err);
}

struct toml_doc *toml_doc_free(struct toml_doc *doc)
{
	if (doc) {
		value_release(&doc->root);
		free(doc->name);
		free(doc);
	}
	return NULL;
}

const struct toml_value *toml_doc_root(const struct toml_doc *doc)
{
	return &doc->root;
}

const char *toml_doc_name(const struct toml_doc *doc)
{
	return doc->name;
}

/* ---- queries ---- */

enum toml_type toml_type(const struct toml_value *v)
{
	return v->type;
}

const char *toml_type_name(enum toml_type t)
{
	static const char *const names[_TOML_TYPE_MAX] = {
		[TOML_TABLE] = "table", [TOML_ARRAY] = "array", [TOML_STRING] = "string",
		[TOML_INT] = "integer", [TOML_FLOAT] = "float", [TOML_BOOL] = "boolean",
	};
	return (unsigned)t < _TOML_TYPE_MAX ? names[t] : "unknown";
}

unsigned toml_line(const struct toml_value *v)
{
	return v->line;
}

unsigned toml_column(const struct toml_value *v)
{
	return v->col;
}

const char *toml_string(const struct toml_value *v)
{
	wh_assert(v->type == TOML_STRING);
	return v->u.s;
}

int64_t toml_int(const struct toml_value *v)
{
	wh_assert(v->type == TOML_INT);
	return v->u.i;
}

double toml_float(const struct toml_value *v)
{
	wh_assert(v->type == TOML_FLOAT);
	return v->u.f;
}

bool toml_bool(const struct toml_value *v)
{
	wh_assert(v->type == TOML_BOOL);
	return v->u.b;
}

size_t toml_array_len(const struct toml_value *arr)
{
	wh_assert(arr->type == TOML_ARRAY);
	return arr->u.list.n;
}

const struct toml_value *toml_array_at(const struct toml_value *arr, size_t i)
{
	wh_assert(arr->type == TOML_ARRAY);
	return i < arr->u.list.n ? arr->u.list.v[i] : NULL;
}

size_t toml_table_len(const struct toml_value *t)
{
	wh_assert(t->type == TOML_TABLE);
	return t->u.list.n;
}

const char *toml_table_key(const struct toml_value *t, size_t i)
{
	wh_assert(t->type == TOML_TABLE);
	return i < t->u.list.n ? t->u.list.v[i]->key : NULL;
}

const struct toml_value *toml_table_value(const struct toml_value *t, size_t i)
{
	wh_assert(t->type == TOML_TABLE);
	return i < t->u.list.n ? t->u.list.v[i] : NULL;
}

const struct toml_value *toml_table_get(const struct toml_value *t, const char *key)
{
	if (!t || t->type != TOML_TABLE)
		return NULL;
	return table_find(t, key);
}

const struct toml_value *toml_get(const struct toml_value *t, const char *path)
{
	if (!t || !path)
		return NULL;
	struct parser p = {.s = path, .len = strlen(path), .line = 1, .name = "<path>"};
	cleanup_strv char **keys = NULL;
	if (parse_key(&p, &keys) < 0 || !eof(&p))
		return NULL;
	strv_foreach(k, keys) {
		t = toml_table_get(t, *k);
		if (!t)
			return NULL;
	}
	return t;
}

static const struct toml_doc *doc_of(const struct toml_value *v)
{
	while (v->parent)
		v = v->parent;
	return (const struct toml_doc *)((const char *)v - offsetof(struct toml_doc, root));
}

int toml_value_error(const struct toml_value *v, struct wh_err **err, int code, const char *fmt,
		     ...)
{
	va_list ap;
	va_start(ap, fmt);
	cleanup_free char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	cleanup_free char *path = toml_path(v);
	if (!*path)
		return wh_err_setx(err, code, "%s:%u:%u: %s", doc_of(v)->name, v->line, v->col,
				   msg);
	return wh_err_setx(err, code, "%s:%u:%u: '%s': %s", doc_of(v)->name, v->line, v->col, path,
			   msg);
}

/* Looks up path; 0 when absent, 1 when of type want, -EINVAL otherwise. */
static int typed_get(const struct toml_value *t, const char *path, enum toml_type want,
		     const struct toml_value **ret, struct wh_err **err)
{
	const struct toml_value *v = toml_get(t, path);
	if (!v)
		return 0;
	if (v->type != want && !(want == TOML_FLOAT && v->type == TOML_INT))
		return toml_value_error(v, err, EINVAL, "expected %s %s, got %s", article(want),
					toml_type_name(want), toml_type_name(v->type));
	*ret = v;
	return 1;
}

int toml_get_table(const struct toml_value *t, const char *path, const struct toml_value **ret,
		   struct wh_err **err)
{
	return typed_get(t, path, TOML_TABLE, ret, err);
}

int toml_get_array(const struct toml_value *t, const char *path, const struct toml_value **ret,
		   struct wh_err **err)
{
	return typed_get(t, path, TOML_ARRAY, ret, err);
}

int toml_get_string(const struct toml_value *t, const char *path, const char **ret,
		    struct wh_err **err)
{
	const struct toml_value *v = NULL;
	int r = typed_get(t, path, TOML_STRING, &v, err);
	if (r > 0)
		*ret = v->u.s;
	return r;
}

int toml_get_int(const struct toml_value *t, const char *path, int64_t *ret, struct wh_err **err)
{
	const struct toml_value *v = NULL;
	int r = typed_get(t, path, TOML_INT, &v, err);
	if (r > 0)
		*ret = v->u.i;
	return r;
}

int toml_get_float(const struct toml_value *t, const char *path, double *ret, struct wh_err **err)
{
	const struct toml_value *v = NULL;
	int r = typed_get(t, path, TOML_FLOAT, &v, err);
	if (r > 0)
		*ret = v->type == TOML_INT ? (double)v->u.i : v->u.f;
	return r;
}

int toml_get_bool(const struct toml_value *t, const char *path, bool *ret, struct wh_err **err)
{
	const struct toml_value *v = NULL;
	int r = typed_get(t, path, TOML_BOOL, &v, err);
	if (r > 0)
		*ret = v->u.b;
	return r;
}

int toml_get_strv(const struct toml_value *t, const char *path, char ***ret, struct wh_err **err)
{
	const struct toml_value *v = NULL;
	int r = typed_get(t, path, TOML_ARRAY, &v, err);
	if (r <= 0)
		return r;
	char **l = xnew0(char *, v->u.list.n + 1);
	for (size_t i = 0; i < v->u.list.n; i++) {
		const struct toml_value *e = v->u.list.v[i];
		if (e->type != TOML_STRING) {
			strv_free(l);
			return toml_value_error(e, err, EINVAL, "expected a string, got %s",
						toml_type_name(e->type));
		}
		l[i] = xstrdup(e->u.s);
	}
	strv_free(*ret);
	*ret = l;
	return 1;
}
