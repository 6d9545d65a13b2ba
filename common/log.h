/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Logging with syslog levels, logfmt lines (time= level= msg=) to stderr or a log file.
 * Only boundaries log (main(), loop callbacks, RPC handlers); modules log at debug at most.
 * log_*_errno(r, ...) return r so that `return log_error_errno(r, "...")` reads well.
 */
#pragma once

#include <syslog.h>

enum log_format {
	LOG_FORMAT_LOGFMT,
	LOG_FORMAT_JSON, /* runc-style {"level":..,"msg":..,"time":..} lines */
};

void log_set_level(int level);
int log_get_level(void);
/* "error", "warn", "info", "debug" (or numbers 0-7). -EINVAL on an unknown name. */
int log_parse_level(const char *name);
void log_set_format(enum log_format f);
/* Program name used as a prefix field (prog=), may be NULL. Borrowed: must outlive logging. */
void log_set_ident(const char *ident);
/* Logs to this fd from now on (the caller keeps ownership; -1 returns to stderr). */
void log_set_fd(int fd);
/* Opens path for appending (O_CLOEXEC) and logs there. Returns -errno on failure. */
int log_open_file(const char *path);

__attribute__((format(printf, 3, 4))) int log_full_errno(int level, int r, const char *fmt, ...);

#define log_full(level, ...) log_full_errno((level), 0, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_full(LOG_DEBUG, __VA_ARGS__)
#define log_error_errno(r, ...) log_full_errno(LOG_ERR, (r), __VA_ARGS__)
#define log_warn_errno(r, ...) log_full_errno(LOG_WARNING, (r), __VA_ARGS__)
#define log_debug_errno(r, ...) log_full_errno(LOG_DEBUG, (r), __VA_ARGS__)
