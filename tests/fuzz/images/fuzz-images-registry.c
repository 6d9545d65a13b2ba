/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the registry client as a hostile registry sees it. A loopback HTTP server
 * answers every connection with raw bytes from the input (status line, headers, body: the input
 * is split at "\n=====\n" into the answers to the 1st, 2nd, ... connection, the last one
 * repeating; "@PORT@" becomes the server's port, so a challenge's realm can point back at it).
 * The client resolves a reference against it: manifest GET, auth challenges and token fetches,
 * redirects, retries. A success must have verified what it returns.
 *
 * A hostile answer may redirect anywhere ("Location: http://025.0.0.1/..."): the target first
 * moves into a network namespace of its own with only lo up, so the client can reach nothing but
 * the loopback server and nothing leaves the machine.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <strings.h>
#include <unistd.h>

#include <sys/ioctl.h>
#include <sys/socket.h>

#include "images/images.h"
#include "tests/fuzz/images/fuzz-common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

#define SEP "\n=====\n"
#define MAX_ANSWERS 8

static int listen_fd = -1;
static unsigned port;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct strbuf answers[MAX_ANSWERS];
static size_t n_answers, n_served;

/* Drains the request headers (best effort, bounded in time) so that the client sees an answer,
 * not a reset. */
static void drain_request(int fd)
{
	char buf[4096];
	struct strbuf req = STRBUF_INIT;
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 200) <= 0)
			break;
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		strbuf_add(&req, buf, (size_t)n);
		if (strstr(req.buf, "\r\n\r\n") || req.len > 65536)
			break;
	}
	strbuf_release(&req);
}

static void *serve(void *arg)
{
	for (;;) {
		int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		drain_request(fd);
		pthread_mutex_lock(&lock);
		size_t i = n_served < n_answers ? n_served : n_answers - 1;
		n_served++;
		(void)write_all(fd, answers[i].buf, answers[i].len);
		pthread_mutex_unlock(&lock);
		/* The request was read whole, so closing sends a FIN, not a reset. */
		shutdown(fd, SHUT_WR);
		close(fd);
	}
	return NULL;
}

/* A new network namespace (as root, or inside a new user namespace) with lo up. */
static void isolate_network(void)
{
	struct ifreq ifr = {0};
	int fd;

	if (unshare(CLONE_NEWNET) < 0 &&
	    (errno != EPERM || unshare(CLONE_NEWUSER | CLONE_NEWNET) < 0))
		fuzz_fail("cannot enter a network namespace of its own: %m");
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		fuzz_fail("lo: %m");
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		fuzz_fail("set lo up: %m");
	close(fd);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	isolate_network();
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(listen_fd, 16) < 0 || getsockname(listen_fd, (struct sockaddr *)&sa, &sl) < 0)
		fuzz_fail("loopback listener: %m");
	port = ntohs(sa.sin_port);
	for (size_t i = 0; i < MAX_ANSWERS; i++)
		strbuf_init(&answers[i], 0);
	pthread_t t;
	if (pthread_create(&t, NULL, serve, NULL) != 0)
		fuzz_fail("pthread_create");
	pthread_detach(t);
	return 0;
}

/*
 * Zeroes the digits of Retry-After headers: the client honours up to 10 s of them, which would
 * make one input outlast libFuzzer's -timeout; the header is still parsed.
 */
static void zero_retry_after(struct strbuf *a)
{
	static const char key[] = "retry-after:";
	for (size_t i = 0; i + sizeof(key) - 1 <= a->len; i++) {
		if ((i > 0 && a->buf[i - 1] != '\n') ||
		    strncasecmp(a->buf + i, key, sizeof(key) - 1) != 0)
			continue;
		for (size_t j = i + sizeof(key) - 1; j < a->len && a->buf[j] != '\n'; j++)
			if (a->buf[j] >= '1' && a->buf[j] <= '9')
				a->buf[j] = '0';
	}
}

/* Splits the input into answers, with @PORT@ replaced. */
static void set_answers(const uint8_t *data, size_t size)
{
	char portstr[16];
	snprintf(portstr, sizeof(portstr), "%u", port);
	pthread_mutex_lock(&lock);
	n_answers = 0;
	n_served = 0;
	const char *p = (const char *)data, *end = p + size;
	while (n_answers < MAX_ANSWERS) {
		const char *sep = memmem(p, (size_t)(end - p), SEP, strlen(SEP));
		const char *stop = sep && n_answers + 1 < MAX_ANSWERS ? sep : end;
		struct strbuf *a = &answers[n_answers++];
		strbuf_reset(a);
		while (p < stop) {
			const char *m = memmem(p, (size_t)(stop - p), "@PORT@", 6);
			const char *q = m ? m : stop;
			strbuf_add(a, p, (size_t)(q - p));
			p = q;
			if (m) {
				strbuf_adds(a, portstr);
				p += 6;
			}
		}
		zero_retry_after(a);
		if (stop == end)
			break;
		p = stop + strlen(SEP);
	}
	pthread_mutex_unlock(&lock);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	set_answers(data, size);

	cleanup_free char *host = xasprintf("127.0.0.1:%u", port);
	char *plain[] = {host, NULL};
	struct img_client_opts o = {
		.docker_config = "",
		.user = "fuzz",
		.pass = "secret",
		.plain_http_hosts = plain,
		.retries = 1,
		.backoff_ms = 1,
		.max_parallel = 1,
	};
	struct img_client *c = NULL;
	struct wh_err *err = NULL;
	if (img_client_new(&o, &c, &err) < 0)
		fuzz_fail("img_client_new: %s", wh_err_msg(err));
	cleanup_free char *s = xasprintf("%s/fuzz/image:latest", host);
	struct img_ref ref;
	if (img_ref_parse(s, &ref, &err) < 0)
		fuzz_fail("img_ref_parse: %s", wh_err_msg(err));

	struct img_desc d = {0};
	char *body = NULL;
	size_t len = 0;
	int r = img_resolve(c, &ref, &d, &body, &len, &err);
	if (r < 0) {
		if (getenv("FUZZ_VERBOSE"))
			fprintf(stderr, "resolve: %s\n", wh_err_msg(err));
		fuzz_check_err(r, err);
	} else {
		if (getenv("FUZZ_VERBOSE"))
			fprintf(stderr, "resolve: %s %zu bytes\n", d.digest, len);
		char dig[DIGEST_STR_LEN];
		digest_buf(body, len, dig);
		if (!d.digest || !streq(d.digest, dig) || d.size != len)
			fuzz_fail("resolve returned %zu bytes (%s) as %s of %" PRIu64 " bytes", len,
				  dig, d.digest ? d.digest : "(null)", d.size);
		struct img_manifest m;
		if (img_manifest_parse(d.media_type, body, len, &m, &err) < 0)
			fuzz_fail("resolve returned a manifest that does not parse: %s",
				  wh_err_msg(err));
		img_manifest_release(&m);
		img_desc_release(&d);
		free(body);
	}
	img_ref_release(&ref);
	img_client_free(c);
	return 0;
}
