/* SPDX-License-Identifier: Apache-2.0 */
/* Conversions between protobuf-c messages and the stores' structs (maps, times, Anys, mounts). */
#include <errno.h>
#include <string.h>

#include "common/filter.h"
#include "common/util.h"
#include "snapshots/snapshots.h"
#include "supervisor/supervisor.h"

/* Every generated map<string,string> entry has this layout. */
struct kv_entry {
	ProtobufCMessage base;
	char *key;
	char *value;
};

char *pb_str(const char *s)
{
	return xstrdup(s ? s : "");
}

void *pb_new(const ProtobufCMessageDescriptor *desc)
{
	ProtobufCMessage *m = xcalloc(1, desc->sizeof_message);

	protobuf_c_message_init(desc, m);
	return m;
}

void pb_map_from_strv(const ProtobufCMessageDescriptor *entry_desc, char *const *kv, size_t *ret_n,
		      void *ret_v)
{
	size_t n = strv_length(kv) / 2;
	struct kv_entry **v = NULL;

	if (n > 0) {
		v = xnew0(struct kv_entry *, n);
		for (size_t i = 0; i < n; i++) {
			v[i] = pb_new(entry_desc);
			v[i]->key = xstrdup(kv[2 * i]);
			v[i]->value = xstrdup(kv[2 * i + 1]);
		}
	}
	*ret_n = n;
	*(struct kv_entry ***)ret_v = v;
}

char **pb_map_to_strv(void *const *entries, size_t n)
{
	char **v = NULL;

	for (size_t i = 0; i < n; i++) {
		const struct kv_entry *e = entries[i];

		strv_push(&v, e->key ? e->key : "");
		strv_push(&v, e->value ? e->value : "");
	}
	return v;
}

Google__Protobuf__Timestamp *pb_ts(uint64_t real_ns)
{
	Google__Protobuf__Timestamp *t = pb_new(&google__protobuf__timestamp__descriptor);

	t->seconds = (int64_t)(real_ns / 1000000000ull);
	t->nanos = (int32_t)(real_ns % 1000000000ull);
	return t;
}

uint64_t pb_ts_ns(const Google__Protobuf__Timestamp *t)
{
	if (!t || t->seconds < 0)
		return 0;
	return (uint64_t)t->seconds * 1000000000ull + (uint64_t)(t->nanos > 0 ? t->nanos : 0);
}

Google__Protobuf__Any *pb_any(const char *type_url, const void *data, size_t len)
{
	Google__Protobuf__Any *a = pb_new(&google__protobuf__any__descriptor);

	a->type_url = pb_str(type_url);
	if (len > 0) {
		a->value.data = xmemdup(data, len);
		a->value.len = len;
	}
	return a;
}

Google__Protobuf__Any *pb_any_msg(const ProtobufCMessage *msg)
{
	Google__Protobuf__Any *a = pb_new(&google__protobuf__any__descriptor);
	size_t len = protobuf_c_message_get_packed_size(msg);

	a->type_url = xasprintf("types.containerd.io/%s", msg->descriptor->name);
	if (len > 0) {
		a->value.data = xmalloc(len);
		a->value.len = protobuf_c_message_pack(msg, a->value.data);
	}
	return a;
}

const char **pb_paths(size_t n, char **paths)
{
	const char **v = xnew0(const char *, n + 1);

	for (size_t i = 0; i < n; i++)
		v[i] = paths[i];
	return v;
}

void pb_mounts_to_list(Containerd__Types__Mount *const *v, size_t n, struct wh_mount_list *ret)
{
	for (size_t i = 0; i < n; i++) {
		cleanup_strv char **opts = NULL;

		for (size_t j = 0; j < v[i]->n_options; j++)
			strv_push(&opts, v[i]->options[j]);
		wh_mount_list_add(ret, v[i]->type, v[i]->source, pb_nz(v[i]->target), opts);
	}
}

void pb_mounts_from_list(const struct wh_mount_list *l, size_t *ret_n,
			 Containerd__Types__Mount ***ret_v)
{
	Containerd__Types__Mount **v = l->n ? xnew0(Containerd__Types__Mount *, l->n) : NULL;

	for (size_t i = 0; i < l->n; i++) {
		const struct wh_mount *m = &l->v[i];

		v[i] = pb_new(&containerd__types__mount__descriptor);
		v[i]->type = pb_str(m->type);
		v[i]->source = pb_str(m->source);
		v[i]->target = pb_str(m->target);
		v[i]->n_options = strv_length(m->options);
		if (v[i]->n_options > 0) {
			v[i]->options = xnew0(char *, v[i]->n_options);
			for (size_t j = 0; j < v[i]->n_options; j++)
				v[i]->options[j] = xstrdup(m->options[j]);
		}
	}
	*ret_n = l->n;
	*ret_v = v;
}

int pb_filters(char *const *v, size_t n, struct filter **ret, struct wh_err **err)
{
	*ret = NULL;
	if (n == 0)
		return 0;
	return filter_parse_all((const char *const *)v, n, ret, err);
}
