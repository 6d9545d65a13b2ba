/* SPDX-License-Identifier: Apache-2.0 */
/* wharfd: the command line (flags over config.toml over defaults), then the daemon. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "supervisor/daemon.h"
#include "supervisor/supervisor.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: wharfd [OPTIONS]\n"
		   "  --config PATH      config file (default " DEFAULT_CONFIG ")\n"
		   "  --root DIR         persistent state (default " DEFAULT_ROOT ")\n"
		   "  --state DIR        runtime state (default " DEFAULT_STATE ")\n"
		   "  --address PATH     API socket (default STATE/wharfd.sock)\n"
		   "  --log-level LEVEL  error, warn, info, debug\n"
		   "  --version, --help\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"root", required_argument, NULL, 'r'},
		{"state", required_argument, NULL, 's'},
		{"address", required_argument, NULL, 'a'},
		{"log-level", required_argument, NULL, 'l'},
		{"version", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *config = NULL, *root = NULL, *state = NULL, *address = NULL, *level = NULL;
	struct daemon d = {.lock_fd = -EBADF};
	cleanup_err struct wh_err *e = NULL;
	int c, r;

	log_set_ident("wharfd");
	while ((c = getopt_long(argc, argv, "c:r:s:a:l:vh", opts, NULL)) >= 0) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'r':
			root = optarg;
			break;
		case 's':
			state = optarg;
			break;
		case 'a':
			address = optarg;
			break;
		case 'l':
			level = optarg;
			break;
		case 'v':
			printf("wharfd %s %s\n", WHARFD_VERSION, WHARFD_REVISION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "wharfd: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	config_defaults(&d.cfg);
	if (config_load(&d.cfg, config ? config : DEFAULT_CONFIG, config != NULL, &e) < 0) {
		fprintf(stderr, "wharfd: %s\n", wh_err_msg(e));
		config_release(&d.cfg);
		return 1;
	}
	for (int i = 0; i < 3; i++) {
		const char *p = i == 0 ? root : i == 1 ? state : address;

		if (p && p[0] != '/') {
			fprintf(stderr, "wharfd: '%s' must be an absolute path\n", p);
			config_release(&d.cfg);
			return 2;
		}
	}
	if (root) {
		free(d.cfg.root);
		d.cfg.root = xstrdup(root);
	}
	if (state) {
		free(d.cfg.state);
		d.cfg.state = xstrdup(state);
	}
	if (address) {
		free(d.cfg.address);
		d.cfg.address = xstrdup(address);
	}
	if (level) {
		free(d.cfg.log_level);
		d.cfg.log_level = xstrdup(level);
	}
	r = log_parse_level(d.cfg.log_level);
	if (r < 0) {
		fprintf(stderr, "wharfd: unknown log level '%s' (error, warn, info, debug)\n",
			d.cfg.log_level);
		config_release(&d.cfg);
		return 2;
	}
	log_set_level(r);
	r = daemon_setup(&d, &e);
	if (r < 0) {
		fprintf(stderr, "wharfd: %s\n", wh_err_msg(e));
		daemon_release(&d);
		return 1;
	}
	r = daemon_run(&d);
	daemon_release(&d);
	return r < 0 ? 1 : 0;
}
