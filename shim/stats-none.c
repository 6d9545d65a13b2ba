/* SPDX-License-Identifier: Apache-2.0 */
/* Builds without liboci: no cgroup reader for Stats. */
#include <errno.h>

#include "shim/service.h"

int shim_stats(struct container *c, Google__Protobuf__Any *ret, struct wh_err **err)
{
	return wh_err_setx(err, EOPNOTSUPP, "stats: this shim was built without liboci");
}
