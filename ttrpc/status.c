/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one errno <-> gRPC status table (STYLE.md 2.2 item 8, following containerd's errdefs
 * classes). The client inverts it so that one integer code runs end to end.
 */
#include <errno.h>
#include <stdlib.h>

#include "ttrpc/ttrpc.h"

static const struct {
	int err;
	int code;
} table[] = {
	/* The first row for a code is its canonical errno (the inverse direction). */
	{ENOENT, TTRPC_NOT_FOUND},
	{EEXIST, TTRPC_ALREADY_EXISTS},
	{EINVAL, TTRPC_INVALID_ARGUMENT},
	{EBADMSG, TTRPC_INVALID_ARGUMENT},
	{EPERM, TTRPC_PERMISSION_DENIED},
	{EACCES, TTRPC_PERMISSION_DENIED},
	{ENOSPC, TTRPC_RESOURCE_EXHAUSTED},
	{ENOMEM, TTRPC_RESOURCE_EXHAUSTED},
	{EMSGSIZE, TTRPC_RESOURCE_EXHAUSTED},
	{EBUSY, TTRPC_FAILED_PRECONDITION},
	{ENOTEMPTY, TTRPC_FAILED_PRECONDITION},
	{ESTALE, TTRPC_FAILED_PRECONDITION},
	{EAGAIN, TTRPC_UNAVAILABLE},
	{ECONNREFUSED, TTRPC_UNAVAILABLE},
	{ENOSYS, TTRPC_UNIMPLEMENTED},
	{EOPNOTSUPP, TTRPC_UNIMPLEMENTED},
	{ETIMEDOUT, TTRPC_DEADLINE_EXCEEDED},
	{ECANCELED, TTRPC_CANCELLED},
};

/* Codes with no errno row invert to these. */
static const struct {
	int code;
	int err;
} inverse_extra[] = {
	{TTRPC_UNKNOWN, EIO},  {TTRPC_ABORTED, EIO},   {TTRPC_OUT_OF_RANGE, ERANGE},
	{TTRPC_INTERNAL, EIO}, {TTRPC_DATA_LOSS, EIO}, {TTRPC_UNAUTHENTICATED, EACCES},
};

static const char *const names[_TTRPC_CODE_MAX] = {
	[TTRPC_OK] = "OK",
	[TTRPC_CANCELLED] = "Canceled",
	[TTRPC_UNKNOWN] = "Unknown",
	[TTRPC_INVALID_ARGUMENT] = "InvalidArgument",
	[TTRPC_DEADLINE_EXCEEDED] = "DeadlineExceeded",
	[TTRPC_NOT_FOUND] = "NotFound",
	[TTRPC_ALREADY_EXISTS] = "AlreadyExists",
	[TTRPC_PERMISSION_DENIED] = "PermissionDenied",
	[TTRPC_RESOURCE_EXHAUSTED] = "ResourceExhausted",
	[TTRPC_FAILED_PRECONDITION] = "FailedPrecondition",
	[TTRPC_ABORTED] = "Aborted",
	[TTRPC_OUT_OF_RANGE] = "OutOfRange",
	[TTRPC_UNIMPLEMENTED] = "Unimplemented",
	[TTRPC_INTERNAL] = "Internal",
	[TTRPC_UNAVAILABLE] = "Unavailable",
	[TTRPC_DATA_LOSS] = "DataLoss",
	[TTRPC_UNAUTHENTICATED] = "Unauthenticated",
};

int ttrpc_code_from_errno(int err)
{
	err = abs(err);
	if (err == 0)
		return TTRPC_OK;
	if (err == EWOULDBLOCK)
		err = EAGAIN;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].err == err)
			return table[i].code;
	return TTRPC_UNKNOWN;
}

int ttrpc_errno_from_code(int code)
{
	if (code == TTRPC_OK)
		return 0;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].code == code)
			return table[i].err;
	for (size_t i = 0; i < sizeof(inverse_extra) / sizeof(inverse_extra[0]); i++)
		if (inverse_extra[i].code == code)
			return inverse_extra[i].err;
	return EIO;
}

const char *ttrpc_code_name(int code)
{
	if (code < 0 || code >= _TTRPC_CODE_MAX)
		return "Unknown";
	return names[code];
}
