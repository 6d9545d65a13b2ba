/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: the TOML parser must refuse or accept any input without crashing or leaking. */
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct toml_doc *doc = NULL;
	struct wh_err *err = NULL;
	if (toml_parse((const char *)data, size, "fuzz.toml", &doc, &err) == 0) {
		char *p = toml_path(toml_doc_root(doc));
		wh_assert(p != NULL);
		free(p);
		toml_doc_free(doc);
	} else {
		wh_assert(err && err->code > 0);
		wh_err_free(err);
	}
	return 0;
}
