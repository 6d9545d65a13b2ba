/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A test helper for the TOML differential test (test-toml-diff.py): reads documents from stdin as
 * "<length>\n<bytes>" records and prints one JSON line per document, either {"ok": <tree>} or
 * {"error": "<message>"}. Scalars are tagged as in toml-test: {"type": "integer", "value": "1"}.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#include "common/common.h"

static void gen_tagged(yajl_gen g, const char *type, const char *value)
{
	yajl_gen_map_open(g);
	json_gen_kv_str(g, "type", type);
	json_gen_kv_str(g, "value", value);
	yajl_gen_map_close(g);
}

static void gen_value(yajl_gen g, const struct toml_value *v)
{
	char buf[64];
	switch (toml_type(v)) {
	case TOML_TABLE:
		yajl_gen_map_open(g);
		for (size_t i = 0; i < toml_table_len(v); i++) {
			json_gen_str(g, toml_table_key(v, i));
			gen_value(g, toml_table_value(v, i));
		}
		yajl_gen_map_close(g);
		break;
	case TOML_ARRAY:
		yajl_gen_array_open(g);
		for (size_t i = 0; i < toml_array_len(v); i++)
			gen_value(g, toml_array_at(v, i));
		yajl_gen_array_close(g);
		break;
	case TOML_STRING:
		gen_tagged(g, "string", toml_string(v));
		break;
	case TOML_INT:
		snprintf(buf, sizeof(buf), "%" PRId64, toml_int(v));
		gen_tagged(g, "integer", buf);
		break;
	case TOML_FLOAT: {
		double d = toml_float(v);
		if (isnan(d))
			snprintf(buf, sizeof(buf), "nan");
		else if (isinf(d))
			snprintf(buf, sizeof(buf), "%sinf", d < 0 ? "-" : "");
		else
			snprintf(buf, sizeof(buf), "%.17g", d);
		gen_tagged(g, "float", buf);
		break;
	}
	case TOML_BOOL:
		gen_tagged(g, "bool", toml_bool(v) ? "true" : "false");
		break;
	default:
		BUG("unknown TOML type");
	}
}

static int dump_one(const char *text, size_t len)
{
	struct toml_doc *doc = NULL;
	cleanup_err struct wh_err *err = NULL;
	yajl_gen g = json_gen_new(false);
	yajl_gen_map_open(g);
	if (toml_parse(text, len, "doc", &doc, &err) < 0) {
		json_gen_kv_str(g, "error", wh_err_msg(err));
	} else {
		json_gen_str(g, "ok");
		gen_value(g, toml_doc_root(doc));
		toml_doc_free(doc);
	}
	yajl_gen_map_close(g);
	size_t n = 0;
	cleanup_free char *out = json_gen_finish(g, &n);
	printf("%s\n", out);
	return fflush(stdout) == 0 ? 0 : -EIO;
}

int main(void)
{
	char line[32];
	while (fgets(line, sizeof(line), stdin)) {
		uint64_t len;
		line[strcspn(line, "\n")] = 0;
		if (parse_u64(line, &len) < 0 || len > (1u << 24)) {
			fprintf(stderr, "toml-dump: bad record length '%s'\n", line);
			return 2;
		}
		cleanup_free char *buf = xmalloc(len + 1);
		if (fread(buf, 1, len, stdin) != len) {
			fprintf(stderr, "toml-dump: short record\n");
			return 2;
		}
		if (dump_one(buf, len) < 0)
			return 1;
	}
	return 0;
}
