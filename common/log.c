/* SPDX-License-Identifier: Apache-2.0 */
/* Leveled logfmt/JSON logging to stderr or a file. */
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/strbuf.h"
#include "common/util.h"

static int log_level = LOG_INFO;
static int log_fd = -1;
static int log_owned_fd = -1;
static enum log_format log_fmt = LOG_FORMAT_LOGFMT;
static const char *log_ident;

void log_set_level(int level)
{
	log_level = level;
}

int log_get_level(void)
{
	return log_level;
}

int log_parse_level(const char *name)
{
	static const struct {
		const char *name;
		int level;
	} names[] = {
		{"panic", LOG_EMERG},  {"fatal", LOG_CRIT},	 {"error", LOG_ERR},
		{"warn", LOG_WARNING}, {"warning", LOG_WARNING}, {"info", LOG_INFO},
		{"debug", LOG_DEBUG},  {"trace", LOG_DEBUG},
	};
	int n;
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (streq(name, names[i].name))
			return names[i].level;
	if (parse_int(name, &n) == 0 && n >= 0 && n <= 7)
		return n;
	return -EINVAL;
}

void log_set_format(enum log_format f)
{
	log_fmt = f;
}

void log_set_ident(const char *ident)
{
	log_ident = ident;
}

void log_set_fd(int fd)
{
	log_fd = fd;
}

int log_open_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0)
		return -errno;
	wh_close(log_owned_fd);
	log_owned_fd = fd;
	log_fd = fd;
	return 0;
}

static const char *level_name(int level)
{
	if (level <= LOG_ERR)
		return "error";
	if (level == LOG_WARNING)
		return "warning";
	if (level <= LOG_INFO)
		return "info";
	return "debug";
}

/* Appends s quoted for logfmt or JSON (both accept this escaping). */
static void add_quoted(struct strbuf *sb, const char *s)
{
	strbuf_addc(sb, '"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			strbuf_addc(sb, '\\');
			strbuf_addc(sb, (char)c);
		} else if (c == '\n') {
			strbuf_adds(sb, "\\n");
		} else if (c < 0x20) {
			strbuf_addf(sb, "\\u%04x", c);
		} else {
			strbuf_addc(sb, (char)c);
		}
	}
	strbuf_addc(sb, '"');
}

int log_full_errno(int level, int r, const char *fmt, ...)
{
	int saved = errno;
	if (level > log_level)
		return r;
	cleanup_strbuf struct strbuf msg = STRBUF_INIT;
	cleanup_strbuf struct strbuf line = STRBUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	strbuf_vaddf(&msg, fmt, ap);
	va_end(ap);
	if (r < 0)
		strbuf_addf(&msg, ": %s", strerror(-r));
	cleanup_free char *ts = time_rfc3339(now_real_ns());
	if (log_fmt == LOG_FORMAT_JSON) {
		strbuf_adds(&line, "{\"level\":\"");
		strbuf_adds(&line, level_name(level));
		strbuf_adds(&line, "\",\"msg\":");
		add_quoted(&line, msg.buf);
		strbuf_addf(&line, ",\"time\":\"%s\"}\n", ts);
	} else {
		strbuf_addf(&line, "time=\"%s\" level=%s ", ts, level_name(level));
		if (log_ident)
			strbuf_addf(&line, "prog=%s ", log_ident);
		strbuf_adds(&line, "msg=");
		add_quoted(&line, msg.buf);
		strbuf_addc(&line, '\n');
	}
	int fd = log_fd >= 0 ? log_fd : STDERR_FILENO;
	ssize_t w = write(fd, line.buf, line.len);
	(void)w;
	errno = saved;
	return r;
}
