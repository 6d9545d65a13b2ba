/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The error convention (docs/errors.md).
 *
 * Every fallible function returns int: >= 0 on success, a negative errno on failure. Module
 * functions take `struct wh_err **err` last; NULL means "code only". On failure with err
 * non-NULL the return value equals -(*err)->code and *err is set exactly once. An error is
 * consumed exactly once: propagated, freed after deliberate handling, or reported at a boundary.
 */
#pragma once

#include <stdarg.h>

struct wh_err {
	int code;  /* positive errno, never 0 */
	char *msg; /* "outer context: inner context: cause" */
};

/* Sets *err to fmt + ": " + strerror(code). Returns -code. code may be given negative. */
__attribute__((cold, format(printf, 3, 4))) int wh_err_set(struct wh_err **err, int code,
							   const char *fmt, ...);
/* Like wh_err_set, without the strerror suffix (a synthetic error). Returns -code. */
__attribute__((cold, format(printf, 3, 4))) int wh_err_setx(struct wh_err **err, int code,
							    const char *fmt, ...);
/*
 * Prefixes "fmt: " to *err's message when *err is set; when it is not (the callee took no err),
 * sets it from r with strerror. Returns r (negative). r must be negative.
 */
__attribute__((cold, format(printf, 3, 4))) int wh_err_wrap(struct wh_err **err, int r,
							    const char *fmt, ...);
/* NULL-safe; returns NULL. */
struct wh_err *wh_err_free(struct wh_err *e);
/* The message, or strerror of the code when e has none; "" for NULL. */
const char *wh_err_msg(const struct wh_err *e);
/* Moves *src into *dst (dst may be NULL: then *src is freed). Returns -code. */
int wh_err_move(struct wh_err **dst, struct wh_err **src);
