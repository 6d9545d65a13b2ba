/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: JSON parsing (config.json, image manifests) and re-generation of what parsed.
 */
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	yajl_val v = NULL;
	struct wh_err *err = NULL;
	if (json_parse((const char *)data, size, &v, &err) < 0) {
		wh_assert(err && err->code > 0);
		wh_err_free(err);
		return 0;
	}
	yajl_gen g = json_gen_new(false);
	json_gen_value(g, v);
	free(json_gen_finish(g, NULL));
	yajl_tree_free(v);
	return 0;
}
