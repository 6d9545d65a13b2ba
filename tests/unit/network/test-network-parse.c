/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of network/'s parsers and generators: conflists and results (valid and malformed),
 * /proc/net/dev, the default bridge conflist and the container's resolv.conf/hosts/hostname.
 */
#include "common/common.h"
#include "network/network.h"

/* cmocka.h needs these before it */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

static void expect_err(int r, struct wh_err *e, const char *needle)
{
	assert_true(r < 0);
	assert_non_null(e);
	if (!strstr(wh_err_msg(e), needle))
		fail_msg("error '%s' does not contain '%s'", wh_err_msg(e), needle);
	wh_err_free(e);
}

/* Runs call (which sets the caller's e) and checks the error it gave. */
#define EXPECT_FAIL(call, needle)            \
	do {                                 \
		int _r = (call);             \
		expect_err(_r, e, (needle)); \
		e = NULL;                    \
	} while (0)

static void test_conflist_ok(void **state)
{
	const char *t =
		"{\"cniVersion\":\"1.0.0\",\"name\":\"n1\",\"disableCheck\":true,"
		"\"plugins\":[{\"type\":\"bridge\",\"bridge\":\"b\"},{\"type\":\"portmap\"}]}";
	struct net_conflist *cl = NULL;
	struct wh_err *e = NULL;
	assert_int_equal(net_conflist_parse(t, strlen(t), false, "x.conflist", &cl, &e), 0);
	assert_string_equal(cl->name, "n1");
	assert_string_equal(cl->cni_version, "1.0.0");
	assert_true(cl->disable_check);
	assert_int_equal(cl->n_plugins, 2);
	assert_string_equal(cl->types[0], "bridge");
	assert_string_equal(cl->types[1], "portmap");
	net_conflist_free(cl);

	const char *s = "{\"cniVersion\":\"0.4.0\",\"name\":\"single\",\"type\":\"ptp\"}";
	assert_int_equal(net_conflist_parse(s, strlen(s), true, "x.conf", &cl, &e), 0);
	assert_int_equal(cl->n_plugins, 1);
	assert_string_equal(cl->types[0], "ptp");
	assert_false(cl->disable_check);
	net_conflist_free(cl);
}

static void test_conflist_bad(void **state)
{
	static const struct {
		const char *text, *needle;
		bool single;
	} cases[] = {
		{"{", "f.conflist", false},
		{"[]", "expected an object", false},
		{"{\"cniVersion\":\"1.0.0\",\"plugins\":[{\"type\":\"a\"}]}", "name: missing",
		 false},
		{"{\"name\":\"n\",\"plugins\":[{\"type\":\"a\"}]}", "cniVersion: missing", false},
		{"{\"name\":\"-bad\",\"cniVersion\":\"1.0.0\",\"plugins\":[]}",
		 "invalid network name", false},
		{"{\"name\":\"n\",\"cniVersion\":\"1.0.0\"}", "plugins: expected an array", false},
		{"{\"name\":\"n\",\"cniVersion\":\"1.0.0\",\"plugins\":[]}", "plugins: empty",
		 false},
		{"{\"name\":\"n\",\"cniVersion\":\"1.0.0\",\"plugins\":[{\"type\":\"a\"},{}]}",
		 "plugins[1].type", false},
		{"{\"name\":\"n\",\"cniVersion\":\"1.0.0\",\"plugins\":[{\"type\":\"../x\"}]}",
		 "invalid plugin type", false},
		{"{\"name\":\"n\",\"cniVersion\":\"1.0.0\",\"plugins\":[7]}",
		 "plugins[0]: expected", false},
		{"{\"name\":\"n\",\"cniVersion\":1,\"plugins\":[]}", "cniVersion", false},
		{"{\"name\":\"n\",\"cniVersion\":\"1.0.0\"}", "plugin.type: missing", true},
		{"{\"name\":\"n\",\"cniVersion\":\"1.0.0\",\"disableCheck\":\"yes\","
		 "\"plugins\":[{\"type\":\"a\"}]}",
		 "disableCheck", false},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct net_conflist *cl = NULL;
		struct wh_err *e = NULL;
		int r = net_conflist_parse(cases[i].text, strlen(cases[i].text), cases[i].single,
					   "f.conflist", &cl, &e);
		assert_null(cl);
		expect_err(r, e, cases[i].needle);
	}
}

static void test_conflist_dir(void **state)
{
	char tmpl[] = "/tmp/network-unit-XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	cleanup_free char *a = path_join(tmpl, "10-a.conflist");
	cleanup_free char *b = path_join(tmpl, "20-b.conf");
	cleanup_free char *c = path_join(tmpl, "ignored.txt");
	const char *ta = "{\"cniVersion\":\"1.0.0\",\"name\":\"a\",\"plugins\":[{\"type\":\"x\"}]}";
	const char *tb = "{\"cniVersion\":\"1.0.0\",\"name\":\"b\",\"type\":\"y\"}";
	assert_int_equal(write_file_atomic(a, ta, strlen(ta), 0644), 0);
	assert_int_equal(write_file_atomic(b, tb, strlen(tb), 0644), 0);
	assert_int_equal(write_file_atomic(c, "junk", 4, 0644), 0);
	struct net_conflist **v = NULL;
	size_t n = 0;
	struct wh_err *e = NULL;
	assert_int_equal(net_conflist_load_all(tmpl, &v, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0]->name, "a");
	assert_string_equal(v[1]->name, "b");
	assert_string_equal(v[1]->path, b);
	net_conflists_free(v, n);
	struct net_conflist *cl = NULL;
	assert_int_equal(net_conflist_load(tmpl, "b", &cl, &e), 0);
	assert_string_equal(cl->types[0], "y");
	net_conflist_free(cl);
	EXPECT_FAIL(net_conflist_load(tmpl, "zz", &cl, &e), "network 'zz' not found");
	/* A broken file does not hide the others; a lookup that fails names it. */
	assert_int_equal(write_file_atomic(a, "{\"name\":", 8, 0644), 0);
	assert_int_equal(net_conflist_load(tmpl, "b", &cl, &e), 0);
	net_conflist_free(cl);
	EXPECT_FAIL(net_conflist_load(tmpl, "a", &cl, &e), "10-a.conflist");
	assert_int_equal(rm_rf(tmpl), 0);
}

static const char *good_result =
	"{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"br0\",\"mac\":\"aa:bb:cc:dd:ee:ff\"},"
	"{\"name\":\"eth0\",\"sandbox\":\"/run/netns/x\"}],"
	"\"ips\":[{\"address\":\"10.1.0.5/24\",\"gateway\":\"10.1.0.1\",\"interface\":1}],"
	"\"routes\":[{\"dst\":\"0.0.0.0/0\",\"gw\":\"10.1.0.1\"}],"
	"\"dns\":{\"nameservers\":[\"10.1.0.1\"],\"domain\":\"lan\",\"search\":[\"lan\"]}}";

static void test_result_ok(void **state)
{
	struct net_result *r = NULL;
	struct wh_err *e = NULL;
	assert_int_equal(net_result_parse(good_result, strlen(good_result), &r, &e), 0);
	assert_string_equal(r->cni_version, "1.0.0");
	assert_int_equal(r->n_interfaces, 2);
	assert_string_equal(r->interfaces[0].mac, "aa:bb:cc:dd:ee:ff");
	assert_null(r->interfaces[0].sandbox);
	assert_string_equal(r->interfaces[1].sandbox, "/run/netns/x");
	assert_int_equal(r->n_ips, 1);
	assert_string_equal(r->ips[0].address, "10.1.0.5/24");
	assert_int_equal(r->ips[0].interface, 1);
	assert_int_equal(r->n_routes, 1);
	assert_string_equal(r->routes[0].gw, "10.1.0.1");
	assert_string_equal(r->dns_nameservers[0], "10.1.0.1");
	assert_string_equal(r->dns_domain, "lan");
	assert_string_equal(r->json, good_result);
	net_result_free(r);

	const char *min = "{\"cniVersion\":\"1.0.0\"}";
	assert_int_equal(net_result_parse(min, strlen(min), &r, &e), 0);
	assert_int_equal(r->n_ips, 0);
	assert_null(r->dns_nameservers);
	net_result_free(r);
}

static void test_result_bad(void **state)
{
	static const struct {
		const char *text, *needle;
	} cases[] = {
		{"", "result"},
		{"{\"cniVersion\":\"1.0.0\",", "result"},
		{"{}", "cniVersion: missing"},
		{"{\"cniVersion\":\"1.0.0\",\"interfaces\":{}}", "interfaces"},
		{"{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"mac\":\"x\"}]}",
		 "interfaces[0].name"},
		{"{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.0.0.1\"}]}",
		 "ips[0].address: '10.0.0.1' is not an address/prefix"},
		{"{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.0.0.1/24\",\"interface\":3}]}",
		 "ips[0].interface: index 3 out of range"},
		{"{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.0.0.1/24\","
		 "\"interface\":\"x\"}]}",
		 "ips[0].interface"},
		{"{\"cniVersion\":\"1.0.0\",\"routes\":[{\"gw\":\"1.2.3.4\"}]}", "routes[0].dst"},
		{"{\"cniVersion\":\"1.0.0\",\"routes\":[{\"dst\":\"x/99999\"}]}", "routes[0].dst"},
		{"{\"cniVersion\":\"1.0.0\",\"dns\":[]}", "dns"},
		{"{\"cniVersion\":\"1.0.0\",\"dns\":{\"nameservers\":[1]}}", "dns.nameservers"},
		{"[1,2]", "expected an object"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct net_result *r = NULL;
		struct wh_err *e = NULL;
		int rr = net_result_parse(cases[i].text, strlen(cases[i].text), &r, &e);
		assert_null(r);
		expect_err(rr, e, cases[i].needle);
	}
}

static void test_net_dev(void **state)
{
	const char *t =
		"Inter-|   Receive                                                |  Transmit\n"
		" face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets "
		"errs drop fifo colls carrier compressed\n"
		"    lo:    1234      10    0    0    0     0          0         0     1234      10 "
		"   0    0    0     0       0          0\n"
		"  eth0: 98765     77    1    2    0     0          0         0    4321      33    3 "
		"   4    0     0       0          0\n";
	struct net_if_stats *s = NULL;
	size_t n = 0;
	struct wh_err *e = NULL;
	assert_int_equal(net_dev_parse(t, &s, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_string_equal(s[1].name, "eth0");
	assert_int_equal(s[1].rx_bytes, 98765);
	assert_int_equal(s[1].rx_packets, 77);
	assert_int_equal(s[1].rx_errors, 1);
	assert_int_equal(s[1].rx_dropped, 2);
	assert_int_equal(s[1].tx_bytes, 4321);
	assert_int_equal(s[1].tx_packets, 33);
	assert_int_equal(s[1].tx_errors, 3);
	assert_int_equal(s[1].tx_dropped, 4);
	free(s);
	EXPECT_FAIL(net_dev_parse("h1\nh2\neth0 1 2 3\n", &s, &n, &e), "no ':'");
	EXPECT_FAIL(net_dev_parse("h1\nh2\neth0: 1 2 3\n", &s, &n, &e), "expected 16");
	EXPECT_FAIL(net_dev_parse("", &s, &n, &e), "missing header");
}

static void test_bridge_conflist(void **state)
{
	struct net_bridge_opts o = {0};
	cleanup_free char *text = NULL;
	struct wh_err *e = NULL;
	assert_int_equal(net_bridge_conflist(&o, &text, &e), 0);
	struct net_conflist *cl = NULL;
	assert_int_equal(net_conflist_parse(text, strlen(text), false, "gen", &cl, &e), 0);
	assert_string_equal(cl->name, "wharf0");
	assert_int_equal(cl->n_plugins, 3);
	assert_string_equal(cl->types[0], "bridge");
	assert_string_equal(cl->types[1], "portmap");
	assert_string_equal(cl->types[2], "firewall");
	yajl_val ipam = json_get(cl->plugins[0], "ipam");
	yajl_val range = ipam->u.object.values[1]->u.array.values[0]->u.array.values[0];
	assert_string_equal(YAJL_GET_STRING(json_get(range, "subnet")), "10.89.0.0/24");
	assert_string_equal(YAJL_GET_STRING(json_get(range, "gateway")), "10.89.0.1");
	assert_true(YAJL_IS_TRUE(json_get(cl->plugins[0], "ipMasq")));
	net_conflist_free(cl);

	struct net_bridge_opts o2 = {.name = "t",
				     .bridge = "whtest0",
				     .subnet = "10.201.3.0/24",
				     .no_portmap = true,
				     .no_firewall = true,
				     .no_masquerade = true,
				     .ipam_data_dir = "/tmp/x"};
	cleanup_free char *t2 = NULL;
	assert_int_equal(net_bridge_conflist(&o2, &t2, &e), 0);
	assert_int_equal(net_conflist_parse(t2, strlen(t2), false, "gen", &cl, &e), 0);
	assert_int_equal(cl->n_plugins, 1);
	assert_true(YAJL_IS_FALSE(json_get(cl->plugins[0], "ipMasq")));
	net_conflist_free(cl);

	char *bad = NULL;
	o2.subnet = "10.201.3.1/24";
	EXPECT_FAIL(net_bridge_conflist(&o2, &bad, &e), "host bits set");
	o2.subnet = "10.201.3.0";
	EXPECT_FAIL(net_bridge_conflist(&o2, &bad, &e), "invalid subnet");
	o2.subnet = NULL;
	o2.bridge = "a-very-long-bridge-name";
	EXPECT_FAIL(net_bridge_conflist(&o2, &bad, &e), "invalid bridge name");
	assert_null(bad);
}

static void test_files(void **state)
{
	struct net_result *r = NULL;
	struct wh_err *e = NULL;
	assert_int_equal(net_result_parse(good_result, strlen(good_result), &r, &e), 0);
	const char *dns[] = {"1.1.1.1", "2001:db8::1", NULL};
	const char *hosts[] = {"db:10.0.0.9", "v6:::1", NULL};
	struct net_files_opts o = {.hostname = "web",
				   .dns = dns,
				   .add_hosts = hosts,
				   .host_resolv = "nameserver 127.0.0.53\nnameserver 9.9.9.9\n"};
	cleanup_free char *rc = NULL, *h = NULL, *hn = NULL;
	assert_int_equal(net_resolv_conf(&o, r, &rc, &e), 0);
	assert_string_equal(rc, "nameserver 1.1.1.1\nnameserver 2001:db8::1\nsearch lan\n");
	assert_int_equal(net_hosts(&o, r, &h, &e), 0);
	assert_non_null(strstr(h, "10.1.0.5\tweb\n"));
	assert_non_null(strstr(h, "10.0.0.9\tdb\n"));
	assert_non_null(strstr(h, "::1\tv6\n"));
	assert_non_null(strstr(h, "127.0.0.1\tlocalhost\n"));
	assert_int_equal(net_hostname(&o, &hn, &e), 0);
	assert_string_equal(hn, "web\n");

	/* Without --dns: the result's servers; without those: the host's non-loopback ones. */
	o.dns = NULL;
	free(rc);
	rc = NULL;
	assert_int_equal(net_resolv_conf(&o, r, &rc, &e), 0);
	assert_string_equal(rc, "nameserver 10.1.0.1\nsearch lan\n");
	free(rc);
	rc = NULL;
	assert_int_equal(net_resolv_conf(&o, NULL, &rc, &e), 0);
	assert_string_equal(rc, "nameserver 9.9.9.9\n");

	const char *baddns[] = {"not-an-ip", NULL};
	char *rr = NULL;
	o.dns = baddns;
	EXPECT_FAIL(net_resolv_conf(&o, r, &rr, &e), "--dns: 'not-an-ip'");
	const char *badhost[] = {"nocolon", NULL};
	o.add_hosts = badhost;
	EXPECT_FAIL(net_hosts(&o, r, &rr, &e), "--add-host: 'nocolon'");
	const char *badhost2[] = {"x:999.1.1.1", NULL};
	o.add_hosts = badhost2;
	EXPECT_FAIL(net_hosts(&o, r, &rr, &e), "want name:ip");
	o.add_hosts = NULL;
	o.hostname = "bad_-.";
	EXPECT_FAIL(net_hostname(&o, &rr, &e), "invalid hostname");
	o.hostname = "a..b";
	EXPECT_FAIL(net_hosts(&o, r, &rr, &e), "invalid hostname");
	assert_null(rr);
	net_result_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conflist_ok),	cmocka_unit_test(test_conflist_bad),
		cmocka_unit_test(test_conflist_dir),	cmocka_unit_test(test_result_ok),
		cmocka_unit_test(test_result_bad),	cmocka_unit_test(test_net_dev),
		cmocka_unit_test(test_bridge_conflist), cmocka_unit_test(test_files),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
