/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Output formatting helpers for wharfctl's lists: human sizes and aligned text tables. They
 * build strings; the commands print them.
 */
#include <string.h>

#include "common/common.h"
#include "ctl/ctl.h"

struct ctl_table {
	size_t ncols, nrows, cap;
	char **cells; /* nrows * ncols */
};

char *ctl_fmt_size(int64_t n)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)n;
	size_t u = 0;

	if (n < 0)
		return xstrdup("-");
	while (v >= 1024 && u + 1 < ARRAY_SIZE(units)) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		return xasprintf("%lld B", (long long)n);
	return xasprintf("%.1f %s", v, units[u]);
}

char *ctl_fmt_progress(const char *ref, int64_t offset, int64_t total)
{
	char bar[CTL_PROGRESS_WIDTH + 1];
	int fill = 0;

	if (total > 0 && offset > 0)
		fill = offset >= total ? CTL_PROGRESS_WIDTH
				       : (int)((double)offset * CTL_PROGRESS_WIDTH / (double)total);
	memset(bar, '=', (size_t)fill);
	memset(bar + fill, ' ', (size_t)(CTL_PROGRESS_WIDTH - fill));
	bar[CTL_PROGRESS_WIDTH] = 0;
	cleanup_free char *done = ctl_fmt_size(offset > 0 ? offset : 0);
	cleanup_free char *all = total > 0 ? ctl_fmt_size(total) : xstrdup("?");
	return xasprintf("%-24.24s [%s] %s/%s", ref, bar, done, all);
}

struct ctl_table *ctl_table_new(size_t ncols)
{
	struct ctl_table *t = xnew0(struct ctl_table, 1);

	t->ncols = ncols;
	return t;
}

void ctl_table_add(struct ctl_table *t, const char *const *cells)
{
	xgrow((void **)&t->cells, &t->cap, (t->nrows + 1) * t->ncols, sizeof(*t->cells));
	for (size_t i = 0; i < t->ncols; i++)
		t->cells[t->nrows * t->ncols + i] = xstrdup(cells[i] && *cells[i] ? cells[i] : "-");
	t->nrows++;
}

char *ctl_table_render(const struct ctl_table *t)
{
	cleanup_free size_t *w = xnew0(size_t, t->ncols ? t->ncols : 1);
	struct strbuf sb = STRBUF_INIT;

	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++)
			w[c] = MAX(w[c], strlen(t->cells[r * t->ncols + c]));
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];

			if (c + 1 == t->ncols)
				strbuf_adds(&sb, s);
			else
				strbuf_addf(&sb, "%-*s  ", (int)w[c], s);
		}
		strbuf_addc(&sb, '\n');
	}
	return strbuf_detach(&sb, NULL);
}

struct ctl_table *ctl_table_free(struct ctl_table *t)
{
	if (!t)
		return NULL;
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
	return NULL;
}
