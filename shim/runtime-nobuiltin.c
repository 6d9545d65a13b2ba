/* SPDX-License-Identifier: Apache-2.0 */
/* Builds without liboci: no builtin driver; runtime_new() then asks for binary_name. */
#include "shim/internal.h"

const struct runtime_ops *const runtime_builtin_ops = NULL;
