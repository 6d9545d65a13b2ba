/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The public header of libnetwork: named network namespaces under <state>/netns, CNI 1.0
 * conflists and results, ADD/DEL/CHECK of a conflist through the real plugins with a result
 * cache, the default bridge network, a container's resolv.conf/hosts/hostname and interface
 * counters. It needs no daemon.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yajl/yajl_tree.h>

struct wh_err;

#define NET_DEFAULT_CONF_DIR "/etc/cni/net.d"
#define NET_DEFAULT_PLUGIN_PATH "/usr/lib/cni:/opt/cni/bin"
#define NET_DEFAULT_NAME "wharf0"
#define NET_DEFAULT_SUBNET "10.89.0.0/24"
#define NET_DEFAULT_TIMEOUT_MS 60000
#define NET_CONF_MAX (1u << 20)
#define NET_RESULT_MAX (1u << 20)

/* ---- network namespaces ---- */

/*
 * Creates a new network namespace bind-mounted on <dir>/<id> as `ip netns add` does: dir is made
 * a shared mount point (bound onto itself when it is not one yet) and the namespace file is a bind
 * mount of a fresh namespace. -EEXIST when <dir>/<id> exists. Nothing is left on failure.
 * *ret_path (may be NULL) gets the path.
 */
int net_ns_create(const char *dir, const char *id, char **ret_path, struct wh_err **err);
/* Unmounts and unlinks <dir>/<id>; a missing entry is success. */
int net_ns_remove(const char *dir, const char *id, struct wh_err **err);
/* The ids present in dir (leftovers after a crash), sorted. An absent dir is an empty list. */
int net_ns_list(const char *dir, char ***ret_ids, struct wh_err **err);
/* Sets the loopback interface of the namespace at path up. */
int net_ns_loopback_up(const char *netns_path, struct wh_err **err);

/* ---- interface counters ---- */
struct net_if_stats {
	char name[32];
	uint64_t rx_bytes, rx_packets, rx_errors, rx_dropped;
	uint64_t tx_bytes, tx_packets, tx_errors, tx_dropped;
};
/* Parses the text of /proc/net/dev. *ret is freed with free(). */
int net_dev_parse(const char *text, struct net_if_stats **ret, size_t *ret_n, struct wh_err **err);
/* Counters of every interface in the namespace at netns_path (read from a forked child). */
int net_ns_if_stats(const char *netns_path, struct net_if_stats **ret, size_t *ret_n,
		    struct wh_err **err);

/* Counters of every interface in the network namespace of process pid (/proc/<pid>/net/dev). */
int net_pid_if_stats(int pid, struct net_if_stats **ret, size_t *ret_n, struct wh_err **err);

/* ---- conflists ---- */
/* CNI's rule for network names: ^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$, at most 128 bytes. */
bool net_name_valid(const char *s);
struct net_conflist {
	char *name;
	char *cni_version;
	char *path; /* the file it came from, or NULL */
	bool disable_check;
	yajl_val tree;	   /* the whole document (owned) */
	yajl_val *plugins; /* borrowed from tree */
	char **types;	   /* the plugins' "type", same order */
	size_t n_plugins;
};
/*
 * Parses a .conflist, or a single-plugin .conf when single is true (it is turned into a list of
 * one). origin names the input in errors.
 */
int net_conflist_parse(const char *text, size_t len, bool single, const char *origin,
		       struct net_conflist **ret, struct wh_err **err);
void net_conflist_free(struct net_conflist *cl);
/* All *.conflist and *.conf in dir, sorted by file name; a file that cannot be read or parsed is
 * left out with a warning in the log (as libcni does). */
int net_conflist_load_all(const char *dir, struct net_conflist ***ret, size_t *ret_n,
			  struct wh_err **err);
/* The conflist named name in dir (first file in name order). -ENOENT "network 'x' not found". */
int net_conflist_load(const char *dir, const char *name, struct net_conflist **ret,
		      struct wh_err **err);
void net_conflists_free(struct net_conflist **v, size_t n);

/* Options of the default bridge network. NULL fields take the defaults. */
struct net_bridge_opts {
	const char *name;	   /* NET_DEFAULT_NAME */
	const char *bridge;	   /* "wharf0" */
	const char *subnet;	   /* NET_DEFAULT_SUBNET */
	const char *ipam_data_dir; /* host-local's default when NULL */
	bool no_masquerade;
	bool no_portmap;
	bool no_firewall;
};
/* The conflist text (pretty JSON) of a bridge network with host-local IPAM. */
int net_bridge_conflist(const struct net_bridge_opts *o, char **ret, struct wh_err **err);

/* ---- results ---- */
struct net_result_if {
	char *name, *mac, *sandbox;
};
struct net_result_ip {
	char *address; /* CIDR */
	char *gateway;
	int interface; /* index into interfaces, -1 when absent */
};
struct net_result_route {
	char *dst, *gw;
};
struct net_result {
	char *cni_version;
	struct net_result_if *interfaces;
	size_t n_interfaces;
	struct net_result_ip *ips;
	size_t n_ips;
	struct net_result_route *routes;
	size_t n_routes;
	char **dns_nameservers, **dns_search, **dns_options;
	char *dns_domain;
	char *json; /* the result as the plugin printed it */
};
int net_result_parse(const char *text, size_t len, struct net_result **ret, struct wh_err **err);
void net_result_free(struct net_result *r);

/* ---- invoking plugins ---- */
struct net_cni {
	const char *plugin_path; /* ':'-separated; NET_DEFAULT_PLUGIN_PATH when NULL */
	const char *cache_dir;	 /* results cache (required) */
	uint64_t timeout_ms;	 /* per plugin invocation; NET_DEFAULT_TIMEOUT_MS when 0 */
};
struct net_port_mapping {
	uint16_t host_port, container_port;
	const char *protocol; /* "tcp" when NULL */
	const char *host_ip;  /* may be NULL */
};
struct net_attachment {
	const char *container_id;
	const char *netns; /* path */
	const char *ifname;
	const char *args; /* CNI_ARGS, may be NULL */
	const struct net_port_mapping *ports;
	size_t n_ports;
};
/* Runs ADD of every plugin in order, chaining prevResult; caches and returns the final result.
 * On failure the plugins already added are deleted again. */
int net_cni_add(const struct net_cni *cni, const struct net_conflist *cl,
		const struct net_attachment *a, struct net_result **ret, struct wh_err **err);
/* CHECK of every plugin with the cached result as prevResult. A no-op when the list sets
 * disableCheck; -EOPNOTSUPP for lists older than CNI 0.4.0, which have no CHECK. */
int net_cni_check(const struct net_cni *cni, const struct net_conflist *cl,
		  const struct net_attachment *a, struct wh_err **err);
/* DEL in reverse order with the cached result (if any); drops the cache entry. Every plugin is
 * called even when one fails; the first failure is returned. */
int net_cni_del(const struct net_cni *cni, const struct net_conflist *cl,
		const struct net_attachment *a, struct wh_err **err);
/* The cached result of an attachment; -ENOENT when none. */
int net_cni_cached_result(const struct net_cni *cni, const char *network, const char *container_id,
			  const char *ifname, struct net_result **ret, struct wh_err **err);

/* An attachment recorded in the cache by ADD and dropped by DEL. */
struct net_cached {
	char *network, *container_id, *ifname, *netns;
};
/* Every cached attachment (for cleanup of containers that died while nobody watched). Entries
 * that cannot be read are skipped. */
int net_cni_cache_list(const struct net_cni *cni, struct net_cached **ret, size_t *ret_n,
		       struct wh_err **err);
void net_cached_free(struct net_cached *v, size_t n);
/* The conflist as it was at ADD, so that DEL works after the network's file is gone. */
int net_cni_cached_conflist(const struct net_cni *cni, const char *network,
			    const char *container_id, const char *ifname, struct net_conflist **ret,
			    struct wh_err **err);

/* ---- container files ---- */
struct net_files_opts {
	const char *hostname;
	const char *const *dns; /* --dns servers (override the result's and the host's) */
	const char *const *dns_search;
	const char *const *dns_options;
	const char *const *add_hosts; /* "name:ip" */
	const char *host_resolv;      /* the host's resolv.conf text, fallback for nameservers */
};
int net_resolv_conf(const struct net_files_opts *o, const struct net_result *r, char **ret,
		    struct wh_err **err);
int net_hosts(const struct net_files_opts *o, const struct net_result *r, char **ret,
	      struct wh_err **err);
int net_hostname(const struct net_files_opts *o, char **ret, struct wh_err **err);
