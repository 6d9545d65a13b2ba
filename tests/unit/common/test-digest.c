/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of common/digest.h: SHA-256 known vectors (one-shot, streaming, from an fd) and OCI
 * digest string validation. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>
/* cmocka.h needs the headers above. */
#include <cmocka.h>

#include "common/common.h"

#define EMPTY "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define ABC "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
/* FIPS 180-2 appendix B.2 */
#define TWO_BLOCKS "sha256:248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
/* One million 'a' (FIPS 180-2 appendix B.3) */
#define MILLION_A "sha256:cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"

static void test_vectors(void **state)
{
	char out[DIGEST_STR_LEN];
	digest_buf("", 0, out);
	assert_string_equal(out, EMPTY);
	digest_buf("abc", 3, out);
	assert_string_equal(out, ABC);
	const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	digest_buf(two, strlen(two), out);
	assert_string_equal(out, TWO_BLOCKS);
	assert_int_equal(strlen(out), DIGEST_STR_LEN - 1);
	assert_true(digest_is_valid(out));
}

static void test_streaming(void **state)
{
	char out[DIGEST_STR_LEN];
	struct digester *d = digester_new();
	/* Uneven chunks across block boundaries. */
	char chunk[997];
	memset(chunk, 'a', sizeof(chunk));
	size_t left = 1000000;
	while (left) {
		size_t n = MIN(left, sizeof(chunk));
		digester_update(d, chunk, n);
		digester_update(d, chunk, 0);
		left -= n;
	}
	digester_final(d, out);
	assert_string_equal(out, MILLION_A);
	/* final resets: the digester is reusable. */
	digester_update(d, "ab", 2);
	digester_update(d, "c", 1);
	digester_final(d, out);
	assert_string_equal(out, ABC);
	digester_final(d, out);
	assert_string_equal(out, EMPTY);
	/* reset discards what was fed. */
	digester_update(d, "garbage", 7);
	digester_reset(d);
	digester_update(d, "abc", 3);
	digester_final(d, out);
	assert_string_equal(out, ABC);
	assert_null(digester_free(d));
	assert_null(digester_free(NULL));
}

static void test_fd(void **state)
{
	char path[] = "/tmp/fixtures-digest-XXXXXX";
	int fd = mkostemp(path, O_CLOEXEC);
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write_all(fd, "xxabc", 5), 0);
	char out[DIGEST_STR_LEN];
	uint64_t size = 0;
	/* From the current offset. */
	assert_int_equal(lseek(fd, 2, SEEK_SET), 2);
	assert_int_equal(digest_fd(fd, out, &size), 0);
	assert_string_equal(out, ABC);
	assert_int_equal(size, 3);
	assert_int_equal(digest_fd(fd, out, NULL), 0);
	assert_string_equal(out, EMPTY);
	wh_close(fd);
	assert_int_equal(digest_fd(fd, out, &size), -EBADF);
}

static void test_validate(void **state)
{
	const char *hex = &EMPTY[7];
	const char *ret = NULL;
	assert_true(digest_is_valid(EMPTY));
	assert_int_equal(digest_parse(EMPTY, &ret), 0);
	assert_string_equal(ret, hex);
	assert_int_equal(digest_parse(ABC, NULL), 0);

	const char *bad[] = {
		"",
		"sha256:",
		"sha256",
		EMPTY "0",								  /* long */
		"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85", /* short
											   */
		"sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", /* upper
											    */
		"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85G",
		"SHA256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		("sha384:38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fb"
		 "d51ad2f14898b95b"),
		"md5:d41d8cd98f00b204e9800998ecf8427e",
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		" sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n",
		"sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",
		"sha256+b64:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		if (digest_is_valid(bad[i]))
			fail_msg("accepted '%s'", bad[i]);
		ret = "untouched";
		assert_int_equal(digest_parse(bad[i], &ret), -EINVAL);
		assert_string_equal(ret, "untouched");
	}
	assert_false(digest_is_valid(NULL));
	assert_int_equal(digest_parse(NULL, &ret), -EINVAL);
	/* A NUL within the hex ends the string early: short. */
	char withnul[DIGEST_STR_LEN + 1];
	memcpy(withnul, EMPTY, sizeof(EMPTY));
	withnul[40] = 0;
	assert_false(digest_is_valid(withnul));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_streaming),
		cmocka_unit_test(test_fd),
		cmocka_unit_test(test_validate),
	};
	return cmocka_run_group_tests_name("digest", tests, NULL, NULL);
}
