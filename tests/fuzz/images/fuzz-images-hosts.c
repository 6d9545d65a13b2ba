/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: containerd hosts.toml files (registry mirrors, TLS settings) as an
 * administrator writes them. What parses must be a usable host configuration.
 */
#include <stdint.h>

#include "images/images.h"
#include "tests/fuzz/images/fuzz-common.h"

static bool is_http_url(const char *u)
{
	return str_startswith(u, "http://") || str_startswith(u, "https://");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct img_host_config h;
	struct wh_err *err = NULL;

	int rc = img_hosts_parse("docker.io", (const char *)data, size, "hosts.toml", &h, &err);
	if (rc < 0) {
		fuzz_check_err(rc, err);
		return 0;
	}
	wh_assert(h.name && streq(h.name, "docker.io"));
	if (h.server && !is_http_url(h.server))
		fuzz_fail("server '%s' accepted", h.server);
	wh_assert(h.n_mirrors == 0 || h.mirrors);
	for (size_t i = 0; i < h.n_mirrors; i++) {
		if (!h.mirrors[i].url || !is_http_url(h.mirrors[i].url))
			fuzz_fail("mirror %zu url '%s' accepted", i,
				  h.mirrors[i].url ? h.mirrors[i].url : "(null)");
		wh_assert((h.mirrors[i].caps &
			   ~(unsigned)(IMG_CAP_PULL | IMG_CAP_RESOLVE | IMG_CAP_PUSH)) == 0);
	}
	img_host_config_release(&h);
	return 0;
}
