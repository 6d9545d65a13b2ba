/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The public header of libcommon: errors, logging, allocation and cleanup, strings, files and
 * paths, digests, JSON, the event loop and the TOML parser. Libc plus yajl and OpenSSL only.
 */
#pragma once

#include "common/digest.h"
#include "common/err.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "common/util.h"
#if __has_include("common/ev.h")
#	include "common/ev.h"
#endif
#if __has_include("common/toml.h")
#	include "common/toml.h"
#endif
