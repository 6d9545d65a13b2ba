/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the images/ fuzz targets: NUL-terminated copies of the input and the
 * error-contract check every parser must keep (a negative return carries a matching message). */
#pragma once

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input as a C string; NULL when it holds a NUL (string APIs cannot see past one). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
	if (memchr(data, '\0', size))
		return NULL;
	return xstrndup((const char *)data, size);
}

/* A failure returns -code with a non-empty message; consumes err. */
static inline void fuzz_check_err(int r, struct wh_err *err)
{
	wh_assert(r < 0);
	wh_assert(err && err->code > 0 && r == -err->code);
	wh_assert(wh_err_msg(err) && wh_err_msg(err)[0]);
	wh_err_free(err);
}

/* A broken invariant: says which, then aborts so that libFuzzer keeps the input. */
__attribute__((noreturn, format(printf, 1, 2))) static inline void fuzz_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("fuzz: invariant broken: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}
