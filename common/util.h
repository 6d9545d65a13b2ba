/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Allocation that aborts on OOM, scope cleanup, ownership moves, assertions and small helpers.
 * Libraries need no OOM paths: x*() never return NULL.
 */
#pragma once

#include <dirent.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- allocation ---- */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
void *xmemdup(const void *p, size_t n);
__attribute__((format(printf, 1, 2))) char *xasprintf(const char *fmt, ...);
__attribute__((format(printf, 1, 0))) char *xvasprintf(const char *fmt, va_list ap);
/* Zeroed array of n elements of type; the multiplication is checked. */
#define xnew0(type, n) ((type *)xcalloc((n), sizeof(type)))
/* Grows *p (of *cap elements of size) to hold at least need elements. */
void xgrow(void **p, size_t *cap, size_t need, size_t size);

/* ---- assertions: always compiled in, for programmer errors only ---- */
__attribute__((noreturn, cold)) void wh_abort(const char *file, int line, const char *what);
#define wh_assert(expr)                                                           \
	do {                                                                      \
		if (!(expr))                                                      \
			wh_abort(__FILE__, __LINE__, "assertion failed: " #expr); \
	} while (0)
#define BUG(what) wh_abort(__FILE__, __LINE__, "BUG: " what)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define streq(a, b) (strcmp((a), (b)) == 0)
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* ---- ownership moves ---- */
#define TAKE_PTR(p)                  \
	({                           \
		typeof(p) _tp = (p); \
		(p) = NULL;          \
		_tp;                 \
	})
#define TAKE_FD(fd)             \
	({                      \
		int _tf = (fd); \
		(fd) = -EBADF;  \
		_tf;            \
	})

/* ---- scope cleanup ---- */
#define cleanup(fn) __attribute__((__cleanup__(fn)))
#define DEFINE_CLEANUP(type, fn)          \
	static inline void fn##p(type *p) \
	{                                 \
		if (*p)                   \
			fn(*p);           \
	}

/* Closes fd if >= 0, never retries on EINTR, preserves errno. Returns -EBADF. */
int wh_close(int fd);
void wh_freep(void *p);
void wh_closep(const int *fd);
void wh_fclosep(FILE **f);
void wh_closedirp(DIR **d);
struct wh_err;
void wh_err_freep(struct wh_err **e);
void strv_freep(char ***v);

#define cleanup_free cleanup(wh_freep)
#define cleanup_close cleanup(wh_closep)
#define cleanup_fclose cleanup(wh_fclosep)
#define cleanup_closedir cleanup(wh_closedirp)
#define cleanup_err cleanup(wh_err_freep)
#define cleanup_strv cleanup(strv_freep)

/* ---- NULL-terminated string vectors ---- */
#define strv_foreach(s, l) for (char **s = (l); s && *s; s++)
size_t strv_length(char *const *v);
/* Appends a copy of s; *v may be NULL. */
void strv_push(char ***v, const char *s);
/* Appends s, taking ownership. */
void strv_consume(char ***v, char *s);
char **strv_copy(char *const *v);
char **strv_free(char **v);
bool strv_contains(char *const *v, const char *s);

/* ---- strings ---- */
bool str_startswith(const char *s, const char *prefix);
bool str_endswith(const char *s, const char *suffix);
/* Strict decimal parsers: the whole string, no sign for unsigned, range checked. -EINVAL/-ERANGE.
 */
int parse_u64(const char *s, uint64_t *ret);
int parse_i64(const char *s, int64_t *ret);
int parse_int(const char *s, int *ret);

/* ---- time ---- */
/* CLOCK_MONOTONIC and CLOCK_REALTIME in nanoseconds. */
uint64_t now_mono_ns(void);
uint64_t now_real_ns(void);
/* RFC 3339 with nanoseconds in UTC, e.g. "2024-01-02T03:04:05.123456789Z". Caller frees. */
char *time_rfc3339(uint64_t real_ns);
