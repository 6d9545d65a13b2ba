/* SPDX-License-Identifier: Apache-2.0 */
/* Walk filters: snapshot infos as seen by common/filter.h (fields name, parent, kind,
 * labels.<key>). */
#include "common/filter.h"

#include <errno.h>

#include "common/common.h"
#include "snapshots/internal.h"

static bool lookup(void *userdata, const char *const *path, size_t n, const char **ret)
{
	const struct snapshot_info *i = userdata;
	if (n >= 1 && streq(path[0], "labels"))
		return filter_lookup_labels(i->labels, path, n, ret);
	if (n != 1)
		return false;
	if (streq(path[0], "name"))
		*ret = i->name;
	else if (streq(path[0], "parent"))
		*ret = i->parent;
	else if (streq(path[0], "kind"))
		*ret = snapshot_kind_to_string(i->kind);
	else
		return false;
	return *ret != NULL;
}

int snapshot_filters_parse(char *const *filters, struct filter **ret, struct wh_err **err)
{
	return filter_parse_all((const char *const *)filters, strv_length(filters), ret, err);
}

bool snapshot_filters_match(const struct filter *f, const struct snapshot_info *info)
{
	return filter_match(f, lookup, (void *)info);
}
