/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A growable byte buffer (git's strbuf). Invariants: buf is never NULL and always
 * NUL-terminated at buf[len]; it may hold embedded NULs. STRBUF_INIT needs no release when
 * nothing was added.
 */
#pragma once

#include <stdarg.h>
#include <stddef.h>

struct strbuf {
	size_t alloc;
	size_t len;
	char *buf;
};

extern char strbuf_empty[];
#define STRBUF_INIT                \
	{                          \
		0, 0, strbuf_empty \
	}

void strbuf_init(struct strbuf *sb, size_t hint);
void strbuf_release(struct strbuf *sb);
/* Hands the buffer to the caller (always heap memory) and re-initializes sb. */
char *strbuf_detach(struct strbuf *sb, size_t *ret_len);
void strbuf_grow(struct strbuf *sb, size_t extra);
void strbuf_add(struct strbuf *sb, const void *data, size_t len);
void strbuf_adds(struct strbuf *sb, const char *s);
void strbuf_addc(struct strbuf *sb, char c);
__attribute__((format(printf, 2, 3))) void strbuf_addf(struct strbuf *sb, const char *fmt, ...);
__attribute__((format(printf, 2, 0))) void strbuf_vaddf(struct strbuf *sb, const char *fmt,
							va_list ap);
void strbuf_setlen(struct strbuf *sb, size_t len);
void strbuf_reset(struct strbuf *sb);
/* Removes the first n bytes. */
void strbuf_consume(struct strbuf *sb, size_t n);
void strbuf_releasep(struct strbuf *sb);
#define cleanup_strbuf __attribute__((__cleanup__(strbuf_releasep)))
