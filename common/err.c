/* SPDX-License-Identifier: Apache-2.0 */
/* The error object: set, wrap, free. */
#include "common/err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

__attribute__((format(printf, 4, 0))) static int
err_vset(struct wh_err **err, int code, int with_errno, const char *fmt, va_list ap)
{
	char *base = NULL;

	if (code < 0)
		code = -code;
	if (code == 0)
		code = EIO;
	if (!err)
		return -code;
	wh_assert(*err == NULL);
	base = xvasprintf(fmt, ap);
	struct wh_err *e = xnew0(struct wh_err, 1);
	e->code = code;
	if (with_errno) {
		e->msg = xasprintf("%s: %s", base, strerror(code));
		free(base);
	} else {
		e->msg = base;
	}
	*err = e;
	return -code;
}

int wh_err_set(struct wh_err **err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = err_vset(err, code, 1, fmt, ap);
	va_end(ap);
	return r;
}

int wh_err_setx(struct wh_err **err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = err_vset(err, code, 0, fmt, ap);
	va_end(ap);
	return r;
}

int wh_err_wrap(struct wh_err **err, int r, const char *fmt, ...)
{
	va_list ap;

	if (r >= 0)
		r = -EIO;
	if (!err)
		return r;
	va_start(ap, fmt);
	if (!*err) {
		r = err_vset(err, r, 1, fmt, ap);
		va_end(ap);
		return r;
	}
	char *prefix = xvasprintf(fmt, ap);
	va_end(ap);
	char *msg = xasprintf("%s: %s", prefix, (*err)->msg);
	free(prefix);
	free((*err)->msg);
	(*err)->msg = msg;
	return -(*err)->code;
}

struct wh_err *wh_err_free(struct wh_err *e)
{
	if (e) {
		free(e->msg);
		free(e);
	}
	return NULL;
}

const char *wh_err_msg(const struct wh_err *e)
{
	if (!e)
		return "";
	if (e->msg)
		return e->msg;
	return strerror(e->code);
}

int wh_err_move(struct wh_err **dst, struct wh_err **src)
{
	int r = *src ? -(*src)->code : -EIO;
	if (dst && !*dst) {
		*dst = *src;
	} else {
		wh_err_free(*src);
	}
	*src = NULL;
	return r;
}
