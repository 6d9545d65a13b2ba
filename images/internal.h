/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to images/: the client's run-time structures (endpoints, hosts, auth state, tokens),
 * the request engine over libcurl's multi interface shared by resolve, fetch and push, the auth
 * helpers of token.c, and small helpers. No other folder includes this.
 */
#pragma once

#include <curl/curl.h>

#include "common/common.h"
#include "images/images.h"

DEFINE_CLEANUP(CURL *, curl_easy_cleanup)

char *img_base64_encode(const void *data, size_t len);
int img_base64_decode(const char *s, char **ret, size_t *ret_len);

/* One endpoint of a registry at run time: a mirror or the registry itself. */
struct img_endpoint_rt {
	char *base; /* "https://host:port" */
	char *api;  /* base + "/v2" (or the configured path) */
	char *authority;
	bool mirror, skip_verify, auto_http, switched_http;
	char *ca_file;
	unsigned caps;
};

struct img_host_rt {
	char *name;
	struct wh_err *load_err; /* a broken hosts.toml: every request fails with it */
	struct img_endpoint_rt *eps;
	size_t n_eps;
	bool creds_known;
	char *user, *pass;
};

struct auth_state {
	char *authority;
	char *scheme; /* "bearer" or "basic" */
	char *realm, *service;
};

struct token {
	char *key; /* realm \n service \n scope */
	char *token;
	uint64_t expires_ns;
};

/* The client (images.h keeps it opaque). */
struct img_client {
	struct img_client_opts o;
	char *user, *pass, *ca_file, *user_agent, *docker_config, *hosts_dir;
	char **plain_http;
	CURLM *multi;
	struct img_host_config *cfgs;
	size_t n_cfgs, cap_cfgs;
	struct img_host_rt **hosts;
	size_t n_hosts, cap_hosts;
	struct auth_state *auths;
	size_t n_auths, cap_auths;
	struct token *tokens;
	size_t n_tokens, cap_tokens;
	bool docker_config_read;
	char *docker_config_json;
	size_t docker_config_len;
	struct img_client_stats stats;
};

/* One HTTP request and its response; retried, re-authenticated and failed over by the engine. */
struct img_req {
	/* ---- input ---- */
	const char *method;	/* GET HEAD PUT POST PATCH */
	char *path;		/* below the API root: "/<repo>/manifests/<ref>" */
	char *url;		/* absolute URL (upload locations), overrides path */
	const char *repo;	/* for the auth scope */
	bool push;		/* scope pull,push instead of pull */
	const char *mount_from; /* extra pull scope on this repository */
	unsigned caps;		/* IMG_CAP_* an endpoint must offer */
	const char *accept;
	const char *content_type;
	char *content_range; /* request header, PATCH */
	int body_fd;	     /* upload from fd [body_off, body_off + body_len) */
	uint64_t body_off, body_len;
	const char *body_buf; /* or from memory */
	bool has_body;
	struct img_fetch *fetch; /* stream a blob into fetch->sink */
	size_t capture_max;	 /* keep a 2xx body up to this size (manifests) */
	/* ---- response ---- */
	long status;
	char *location;
	char *ctype;
	char *docker_digest;
	char *www_auth;
	char *resp_range;
	char *retry_after;
	struct strbuf body; /* captured body (2xx when capture_max, else error bodies) */
	int result;
	struct wh_err *err;
	/* ---- engine state ---- */
	struct img_client *client;
	struct img_host_rt *host;
	size_t ep;
	CURL *easy;
	struct curl_slist *hdrs;
	unsigned attempts;
	bool auth_retried, sent_auth, sent_https, active, done, started_body, streaming, primed,
		notified;
	uint64_t not_before, body_pos, got;
	struct digester *dg;
	int cb_error;
	struct wh_err *cb_err;
	char errbuf[CURL_ERROR_SIZE];
};

/* Prepares r for domain (endpoints of that registry). Call img_req_release after the run. */
void img_req_init(struct img_req *r, struct img_client *c, const char *domain, const char *method);
void img_req_release(struct img_req *r);
/* Runs requests to completion, up to max_parallel at once. Each gets result and err. */
void img_run(struct img_client *c, struct img_req **v, size_t n);
/* Runs one request; returns its result, moving its error into *err. */
int img_run_one(struct img_client *c, struct img_req *r, struct wh_err **err);
/* "<method> <url>: <status> <registry error message>" for an unexpected status. */
int img_req_status_error(struct img_req *r, struct wh_err **err);
/* The URL r was last sent to (for messages). */
const char *img_req_url(const struct img_req *r);
const char *img_req_host_name(const struct img_req *r);
struct img_client_stats *img_client_stats_mut(struct img_client *c);
const struct img_client_opts *img_client_opts(const struct img_client *c);

const struct img_endpoint_rt *img_req_ep(const struct img_req *r);

/* ---- auth (token.c) ---- */
/* Credentials for h: 1 and borrowed strings, 0 for none, -errno on a broken config.json. */
int img_host_creds(struct img_client *c, struct img_host_rt *h, const char **ret_user,
		   const char **ret_pass, struct wh_err **err);
/* The Authorization header line for r's next attempt (fetching a token when needed), or NULL. */
int img_req_auth_header(struct img_client *c, struct img_req *r, char **ret, struct wh_err **err);
/* Drops the cached token r used (it was refused). */
void img_forget_req_token(struct img_client *c, struct img_req *r);
/* Learns the auth scheme of r's endpoint from its 401 answer. */
int img_auth_learn(struct img_client *c, struct img_req *r, struct wh_err **err);
/* The realm when r's endpoint uses Bearer tokens, else NULL. */
const char *img_auth_bearer_realm(struct img_client *c, const struct img_req *r);
/* TLS options of an endpoint on an easy handle. */
void img_set_tls(CURL *e, const struct img_endpoint_rt *ep);
