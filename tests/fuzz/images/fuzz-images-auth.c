/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: what a registry or the user hands the auth code. The input is parsed as a
 * WWW-Authenticate header value (peer bytes) and as a Docker config.json (user file) looked up
 * for a few registry names, including the docker.io aliases.
 */
#include <stdint.h>

#include "images/images.h"
#include "tests/fuzz/images/fuzz-common.h"

static void check_challenges(const char *s)
{
	struct img_challenge *c = NULL;
	size_t n = 0;
	struct wh_err *err = NULL;

	int rc = img_challenges_parse(s, &c, &n, &err);
	if (rc < 0) {
		fuzz_check_err(rc, err);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		wh_assert(c[i].scheme && c[i].scheme[0]);
		for (const char *p = c[i].scheme; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				fuzz_fail("scheme '%s' of '%s' is not lowercased", c[i].scheme, s);
	}
	img_challenges_free(c, n);
}

static void check_docker_config(const uint8_t *data, size_t size)
{
	static const char *const hosts[] = {"docker.io", "127.0.0.1:5000", "[::1]:5000",
					    "registry.local"};

	for (size_t i = 0; i < ARRAY_SIZE(hosts); i++) {
		char *user = NULL, *pass = NULL;
		struct wh_err *err = NULL;

		int rc = img_docker_config_lookup((const char *)data, size, hosts[i], &user, &pass,
						  &err);
		if (rc < 0) {
			fuzz_check_err(rc, err);
			return; /* the same document fails the same way for every host */
		}
		wh_assert(rc == 0 || rc == 1);
		wh_assert(rc == 0 || (user && pass));
		free(user);
		free(pass);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cleanup_free char *s = fuzz_cstr(data, size);

	if (s)
		check_challenges(s);
	check_docker_config(data, size);
	return 0;
}
