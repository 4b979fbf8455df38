package config

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/vpc-cni/vpc-cni/core"
)

// ok is a valid value and its canonical rendering after Parse.
type ok struct {
	in, want string
	// with are other variables set alongside.
	with map[string]string
	// warn, when set, must appear in one of the warnings.
	warn string
}

// bad is a value Parse must reject.
type bad struct {
	in   string
	with map[string]string
}

type varCase struct {
	// def is the rendering of the parsed value when the variable is unset.
	def string
	// empty is the rendering for an explicitly empty value; "" means the
	// same as def.
	empty string
	ok    []ok
	bad   []bad
}

func boolCase(def bool) varCase {
	return varCase{
		def: strconv.FormatBool(def),
		ok: []ok{
			{in: "true", want: "true"}, {in: "false", want: "false"},
			{in: "TRUE", want: "true"}, {in: "False", want: "false"},
			{in: "tRuE", want: "true"}, {in: "1", want: "true"}, {in: "0", want: "false"},
			{in: " true ", want: "true"},
		},
		bad: []bad{{in: "yes"}, {in: "ture"}, {in: "2"}, {in: "on"}},
	}
}

func strCase(def string, valid []string, invalid ...string) varCase {
	c := varCase{def: def}
	for _, v := range valid {
		c.ok = append(c.ok, ok{in: v, want: v})
	}
	for _, v := range invalid {
		c.bad = append(c.bad, bad{in: v})
	}
	return c
}

func levelCase() varCase {
	return varCase{
		def: "DEBUG",
		ok: []ok{
			{in: "debug", want: "DEBUG"}, {in: "Info", want: "INFO"}, {in: "WARN", want: "WARN"},
			{in: "error", want: "ERROR"}, {in: "fatal", want: "FATAL"},
		},
		bad: []bad{{in: "verbose"}, {in: "WARNING"}, {in: "3"}},
	}
}

var (
	ipv6Mode = map[string]string{"ENABLE_IPv6": "true", "ENABLE_PREFIX_DELEGATION": "true"}
	long129  = strings.Repeat("k", 129)
	long257  = strings.Repeat("v", 257)
)

// cases has one entry per variable; TestEveryVariable fails when Vars()
// has a variable without an entry here, or the other way round.
var cases = map[string]varCase{
	"ADDITIONAL_ENI_TAGS": {
		def: "{}",
		ok: []ok{
			{in: `{"team":"net","cost-center":"42"}`, want: `{"cost-center":"42","team":"net"}`},
			{in: `{"a":"1","k8s.amazonaws.com/x":"y"}`, want: `{"a":"1"}`, warn: `"k8s.amazonaws.com/x"`},
			{in: `{"my.k8s.amazonaws.com.tag":"y"}`, want: `{}`, warn: "reserved"},
			{in: `{}`, want: `{}`},
			{in: `null`, want: `{}`},
			{in: `{"` + strings.Repeat("k", 128) + `":"` + strings.Repeat("v", 256) + `"}`,
				want: `{"` + strings.Repeat("k", 128) + `":"` + strings.Repeat("v", 256) + `"}`},
		},
		bad: []bad{
			{in: `{"a":1}`}, {in: `not json`}, {in: `["a"]`}, {in: `{"a":"b"`},
			{in: `{"aws:team":"x"}`}, {in: `{"":"v"}`},
			{in: `{"` + long129 + `":"v"}`}, {in: `{"k":"` + long257 + `"}`},
		},
	},
	"ANNOTATE_POD_IP":                 boolCase(false),
	"AWS_CLUSTER_ID":                  strCase("", []string{"prod-cluster"}),
	"AWS_EC2_ENDPOINT":                strCase("", []string{"https://localhost:8080", "http://ec2.us-west-2.customaws.com", "https://10.0.0.1/ec2"}, "localhost:8080", "10.0.0.1", "ftp://ec2.example.com", "https://", "https//x"),
	"AWS_EXTERNAL_SERVICE_CIDRS":      cidrCase(),
	"AWS_MANAGE_ENIS_NON_SCHEDULABLE": boolCase(false),
	"AWS_REGION":                      strCase("", []string{"us-west-2"}),
	"AWS_VPC_CNI_NODE_PORT_SUPPORT":   boolCase(true),
	"AWS_VPC_ENI_MTU": {
		def: "9001",
		ok: []ok{
			{in: "1500", want: "1500"}, {in: "576", want: "576"}, {in: "9001", want: "9001"},
			{in: "1280", want: "1280", with: ipv6Mode},
		},
		bad: []bad{
			{in: "575"}, {in: "9002"}, {in: "abc"}, {in: "1500.5"}, {in: "-1"},
			{in: "1279", with: ipv6Mode},
		},
	},
	"AWS_VPC_K8S_CNI_BACKING_STORE": strCase("/var/run/aws-node/ipam.json", []string{"/tmp/ipam.json"}, "ipam.json", "./ipam.json"),
	"AWS_VPC_K8S_CNI_CONFIGURE_RPFILTER": {
		ok: []ok{{in: "false", warn: "deprecated"}, {in: "whatever", warn: "AWS_VPC_K8S_CNI_CONFIGURE_RPFILTER"}},
	},
	"AWS_VPC_K8S_CNI_CONNMARK": {
		def: "0x80",
		ok: []ok{
			{in: "0x40", want: "0x40"}, {in: "128", want: "0x80"}, {in: "0X80", want: "0x80"},
			{in: "0xffffffff", want: "0xffffffff"}, {in: "0x8000", want: "0x8000"},
		},
		bad: []bad{{in: "0"}, {in: "0x0"}, {in: "0x100000000"}, {in: "mark"}, {in: "-1"}},
	},
	"AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG": func() varCase {
		c := boolCase(false)
		c.bad = append(c.bad, bad{in: "true", with: ipv6Mode})
		return c
	}(),
	"AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS": func() varCase {
		c := cidrCase()
		c.ok = append(c.ok, ok{in: "10.1.0.0/16", want: "10.1.0.0/16", with: map[string]string{"AWS_VPC_K8S_CNI_EXTERNALSNAT": "true"}, warn: "no effect"})
		return c
	}(),
	"AWS_VPC_K8S_CNI_EXTERNALSNAT": boolCase(false),
	"AWS_VPC_K8S_CNI_LOGLEVEL":     levelCase(),
	"AWS_VPC_K8S_CNI_LOG_FILE":     strCase("/host/var/log/aws-routed-eni/ipamd.log", []string{"stdout", "stderr", "/var/log/ipamd.log"}, "ipamd.log", "Stdout"),
	"AWS_VPC_K8S_CNI_RANDOMIZESNAT": {
		def: "prng",
		ok:  []ok{{in: "hashrandom", want: "hashrandom"}, {in: "none", want: "none"}, {in: "prng", want: "prng"}, {in: "PRNG", want: "prng"}},
		bad: []bad{{in: "random"}, {in: "random-fully"}, {in: "0"}},
	},
	"AWS_VPC_K8S_CNI_VETHPREFIX":            strCase("eni", []string{"veth", "ab", "x_1", "a-b", "ETH", "eth0"}, "ethxx", "eth", "vlan", "lo", "a/b", "a b", "é", "a.b", "a:b"),
	"AWS_VPC_K8S_EGRESS_V4_PLUGIN_LOG_FILE": strCase("/var/log/aws-routed-eni/egress-v4-plugin.log", []string{"stderr", "/tmp/egress.log"}, "stdout", "egress.log"),
	"AWS_VPC_K8S_EGRESS_V6_PLUGIN_LOG_FILE": strCase("/var/log/aws-routed-eni/egress-v6-plugin.log", []string{"stderr", "/tmp/egress.log"}, "stdout", "egress.log"),
	"AWS_VPC_K8S_PLUGIN_LOG_FILE": func() varCase {
		c := strCase("/var/log/aws-routed-eni/plugin.log", []string{"stderr", "/tmp/plugin.log"}, "stdout", "plugin.log")
		c.empty = "stderr"
		return c
	}(),
	"AWS_VPC_K8S_PLUGIN_LOG_LEVEL": levelCase(),
	"CLUSTER_ENDPOINT": strCase("", []string{
		"https://ABCDEF.gr7.us-west-2.eks.amazonaws.com", "10.0.0.1:443", "api.example.com", "http://127.0.0.1:8080",
	}, "ftp://api.example.com", "https://", "api.example.com/path", "a b"),
	"CLUSTER_NAME":                          strCase("", []string{"prod", strings.Repeat("c", 256)}, long257),
	"DISABLE_INTROSPECTION":                 boolCase(false),
	"DISABLE_LEAKED_ENI_CLEANUP":            boolCase(false),
	"DISABLE_METRICS":                       boolCase(false),
	"DISABLE_NETWORK_RESOURCE_PROVISIONING": boolCase(false),
	"DISABLE_POD_V6":                        boolCase(false),
	"DISABLE_TCP_EARLY_DEMUX":               boolCase(false),
	"ENABLE_BANDWIDTH_PLUGIN":               boolCase(false),
	"ENABLE_IMDS_ONLY_MODE":                 boolCase(false),
	"ENABLE_IPv4": {
		def: "true",
		ok: []ok{
			{in: "true", want: "true"}, {in: "TRUE", want: "true"}, {in: "1", want: "true"},
			{in: "false", want: "false", with: ipv6Mode},
		},
		bad: []bad{
			{in: "yes"},
			{in: "false"}, // no IP family left
			{in: "true", with: ipv6Mode},
		},
	},
	"ENABLE_IPv6": {
		def: "false",
		ok: []ok{
			{in: "false", want: "false"},
			{in: "true", want: "true", with: map[string]string{"ENABLE_PREFIX_DELEGATION": "true"}},
			{in: "TRUE", want: "true", with: map[string]string{"ENABLE_PREFIX_DELEGATION": "true", "ENABLE_IPv4": "false"}},
		},
		bad: []bad{
			{in: "maybe"},
			{in: "true"}, // without prefix delegation
			{in: "true", with: map[string]string{"ENABLE_PREFIX_DELEGATION": "true", "ENABLE_IPv4": "true"}},
			{in: "true", with: map[string]string{"ENABLE_PREFIX_DELEGATION": "true", "AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG": "true"}},
		},
	},
	"ENABLE_MULTI_NIC": boolCase(false),
	"ENABLE_NFTABLES":  {ok: []ok{{in: "true", warn: "ENABLE_NFTABLES=\"true\" is deprecated"}}},
	"ENABLE_POD_ENI":   boolCase(false),
	"ENABLE_PREFIX_DELEGATION": func() varCase {
		c := boolCase(false)
		for i := range c.ok {
			if c.ok[i].want == "true" {
				// Alone it keeps one spare prefix, with a warning.
				c.ok[i].warn = "WARM_PREFIX_TARGET=1"
			}
		}
		c.ok = append(c.ok, ok{in: "true", want: "true", with: map[string]string{"WARM_PREFIX_TARGET": "2"}})
		return c
	}(),
	"ENABLE_SUBNET_DISCOVERY": boolCase(true),
	"ENABLE_V4_EGRESS":        boolCase(true),
	"ENABLE_V6_EGRESS":        boolCase(false),
	"ENI_CONFIG_ANNOTATION_DEF": strCase("k8s.amazonaws.com/eniConfig",
		[]string{"topology.kubernetes.io/zone", "zone", "example.com/my_key.v1"},
		"-bad", "Example.com/x", "a/b/c", "x/"+strings.Repeat("n", 64), "example.com/", "/name", "with space"),
	"ENI_CONFIG_LABEL_DEF": strCase("k8s.amazonaws.com/eniConfig",
		[]string{"topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone", "eniConfig"},
		"bad-", "ex_ample.com/x", "-a.com/x", "a..b/x"),
	"HOST_CNI_BIN_PATH":     strCase("/host/opt/cni/bin", []string{"/opt/cni/bin"}, "opt/cni/bin"),
	"HOST_CNI_CONFDIR_PATH": strCase("/host/etc/cni/net.d", []string{"/etc/cni/net.d"}, "net.d"),
	"HTTP_TIMEOUT": {
		def: "10",
		ok:  []ok{{in: "10", want: "10"}, {in: "60", want: "60"}},
		bad: []bad{{in: "9"}, {in: "0"}, {in: "10s"}, {in: "abc"}, {in: "-10"}},
	},
	"INTROSPECTION_BIND_ADDRESS": strCase("127.0.0.1:61679",
		[]string{"0.0.0.0:61679", ":61679", "[::1]:61679", "localhost:8080", "unix:/var/run/aws-node/introspection.sock"},
		"61679", "127.0.0.1:0", "127.0.0.1:70000", "unix:", "127.0.0.1:http", "::1:61679"),
	"IP_COOLDOWN_PERIOD": {
		def: "30",
		ok:  []ok{{in: "0", want: "0"}, {in: "120", want: "120"}},
		bad: []bad{{in: "-1"}, {in: "30s"}, {in: "abc"}},
	},
	"MANAGE_UNTAGGED_ENI": boolCase(true),
	"MAX_ENI": {
		def: "0",
		ok:  []ok{{in: "3", want: "3"}, {in: "0", want: "0"}, {in: "-1", want: "0"}},
		bad: []bad{{in: "three"}, {in: "1.5"}},
	},
	"METRIC_UPDATE_INTERVAL": {
		def: "30",
		ok:  []ok{{in: "60", want: "60"}, {in: "1", want: "1"}},
		bad: []bad{{in: "0"}, {in: "x"}, {in: "1m"}},
	},
	"MINIMUM_IP_TARGET": {
		def: "0",
		ok: []ok{
			{in: "10", want: "10", warn: "without WARM_IP_TARGET"}, {in: "-5", want: "0"},
			{in: " 7 ", want: "7", warn: "without WARM_IP_TARGET"},
			{in: "10", want: "10", with: map[string]string{"WARM_IP_TARGET": "2"}},
		},
		bad: []bad{{in: "ten"}, {in: "1e3"}},
	},
	"MY_NODE_NAME": strCase("", []string{"ip-10-0-0-1.us-west-2.compute.internal"}),
	"MY_POD_NAME":  strCase("", []string{"aws-node-abcde"}),
	"NETWORK_POLICY_ENFORCING_MODE": {
		def: "",
		ok:  []ok{{in: "standard", want: "standard"}, {in: "STRICT", want: "strict"}, {in: "none", want: "none"}},
		bad: []bad{{in: "enforce"}, {in: "default-deny"}},
	},
	"POD_MTU": {
		def: "9001",
		ok: []ok{
			{in: "1500", want: "1500"}, {in: "576", want: "576"},
			{in: "9001", want: "9001", with: map[string]string{"AWS_VPC_ENI_MTU": "1500"}, warn: "larger than AWS_VPC_ENI_MTU"},
			{in: "1280", want: "1280", with: ipv6Mode},
		},
		bad: []bad{{in: "100"}, {in: "abc"}, {in: "9002"}, {in: "1000", with: ipv6Mode}},
	},
	"POD_SECURITY_GROUP_ENFORCING_MODE": {
		def: "strict",
		ok:  []ok{{in: "standard", want: "standard"}, {in: "Strict", want: "strict"}},
		bad: []bad{{in: "loose"}, {in: "enforcing"}},
	},
	"USE_CLOUDWATCH":  boolCase(true),
	"USE_PROMETHEUS":  boolCase(false),
	"VPC_CNI_VERSION": strCase("", []string{"v1.23.1"}),
	"WARM_ENI_TARGET": {
		def: "1",
		ok: []ok{
			{in: "0", want: "0"}, {in: "3", want: "3"},
			{in: "-2", want: "1", warn: "negative"},
		},
		bad: []bad{{in: "abc"}, {in: "1.5"}, {in: "one"}},
	},
	"WARM_IP_TARGET": {
		def: "0",
		ok:  []ok{{in: "5", want: "5"}, {in: "0", want: "0"}, {in: "-1", want: "0"}},
		bad: []bad{{in: "abc"}, {in: "5 IPs"}},
	},
	"WARM_PREFIX_TARGET": {
		def: "0",
		ok: []ok{
			{in: "1", want: "1", with: map[string]string{"ENABLE_PREFIX_DELEGATION": "true"}},
			{in: "2", want: "2", warn: "no effect without ENABLE_PREFIX_DELEGATION"},
			{in: "-3", want: "0"},
		},
		bad: []bad{{in: "x"}},
	},
}

func cidrCase() varCase {
	return varCase{
		def: "",
		ok: []ok{
			{in: "10.0.0.0/8", want: "10.0.0.0/8"},
			{in: "10.0.0.0/8, 192.168.1.5/24", want: "10.0.0.0/8,192.168.1.0/24"},
			{in: "0.0.0.0/0", want: "0.0.0.0/0"},
			{in: "10.0.0.0/8,bogus", want: "10.0.0.0/8", warn: `"bogus": not a CIDR`},
			{in: "fd00::/8,172.16.0.0/12", want: "172.16.0.0/12", warn: "only IPv4"},
			{in: "10.0.0.1", want: "", warn: `"10.0.0.1"`},
			{in: ",,10.0.0.0/8,", want: "10.0.0.0/8"},
		},
	}
}

func mapLookup(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func specByName(t *testing.T, name string) spec {
	t.Helper()
	for _, s := range table {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no spec %s", name)
	return spec{}
}

func parseMap(m map[string]string) (Env, []string, error) { return Parse(mapLookup(m)) }

func with(base map[string]string, name, value string) map[string]string {
	m := map[string]string{name: value}
	for k, v := range base {
		if k != name {
			m[k] = v
		}
	}
	return m
}

func TestEveryVariable(t *testing.T) {
	for _, v := range Vars() {
		if _, ok := cases[v.Name]; !ok {
			t.Errorf("%s is in Vars() but has no parse test in cases", v.Name)
		}
	}
	known := map[string]bool{}
	for _, v := range Vars() {
		known[v.Name] = true
	}
	for name := range cases {
		if !known[name] {
			t.Errorf("cases has %s, which Vars() does not list", name)
		}
	}

	defEnv, defWarn, err := parseMap(nil)
	if err != nil || len(defWarn) != 0 {
		t.Fatalf("Parse(empty) = warnings %q, error %v; want neither", defWarn, err)
	}
	for _, v := range Vars() {
		c, ok := cases[v.Name]
		if !ok {
			continue
		}
		s := specByName(t, v.Name)
		t.Run(v.Name, func(t *testing.T) {
			if v.Deprecated {
				if s.show != nil {
					t.Errorf("deprecated variable has a field")
				}
			} else {
				if got := s.show(&defEnv); got != c.def {
					t.Errorf("default: got %q, want %q", got, c.def)
				}
				// An explicitly empty value means unset (or its own value).
				env, _, err := parseMap(map[string]string{v.Name: ""})
				wantEmpty := c.def
				if c.empty != "" {
					wantEmpty = c.empty
				}
				if err != nil || s.show(&env) != wantEmpty {
					t.Errorf("empty value: got %q, %v; want %q", s.show(&env), err, wantEmpty)
				}
				// The documented default, set explicitly, behaves like unset.
				if v.Default != "" {
					env, _, err := parseMap(map[string]string{v.Name: v.Default})
					if err != nil || s.show(&env) != c.def {
						t.Errorf("explicit default %q: got %q, %v; want %q", v.Default, s.show(&env), err, c.def)
					}
				}
			}
			for _, o := range c.ok {
				env, warns, err := parseMap(with(o.with, v.Name, o.in))
				if err != nil {
					t.Errorf("%s=%q (with %v): unexpected error %v", v.Name, o.in, o.with, err)
					continue
				}
				if s.show != nil {
					if got := s.show(&env); got != o.want {
						t.Errorf("%s=%q: got %q, want %q", v.Name, o.in, got, o.want)
					}
				}
				joined := strings.Join(warns, "\n")
				if o.warn != "" && !strings.Contains(joined, o.warn) {
					t.Errorf("%s=%q: warnings %q lack %q", v.Name, o.in, warns, o.warn)
				}
				if o.warn == "" && len(warns) > 0 {
					t.Errorf("%s=%q: unexpected warnings %q", v.Name, o.in, warns)
				}
			}
			for _, b := range c.bad {
				_, _, err := parseMap(with(b.with, v.Name, b.in))
				if err == nil {
					t.Errorf("%s=%q (with %v): accepted, want an error", v.Name, b.in, b.with)
					continue
				}
				msg := err.Error()
				if !strings.Contains(msg, v.Name+"="+strconv.Quote(b.in)) || !strings.Contains(msg, "want ") {
					t.Errorf("%s=%q: error %q does not name the variable, the value and what is accepted", v.Name, b.in, msg)
				}
				var ve *VarError
				if !errors.As(err, &ve) || !errors.Is(err, core.ErrInvalidParameter) {
					t.Errorf("%s=%q: error %v is not a *VarError wrapping core.ErrInvalidParameter", v.Name, b.in, err)
				}
			}
		})
	}
}

func TestVarsListing(t *testing.T) {
	vars := Vars()
	for i, v := range vars {
		if i > 0 && vars[i-1].Name >= v.Name {
			t.Errorf("Vars() not sorted/unique at %s after %s", v.Name, vars[i-1].Name)
		}
		if v.Kind == "" || v.Accepts == "" || v.Description == "" {
			t.Errorf("%s: Kind, Accepts and Description must all be filled: %+v", v.Name, v)
		}
		if v.Deprecated != (v.Kind == "deprecated") {
			t.Errorf("%s: Deprecated=%v but Kind=%q", v.Name, v.Deprecated, v.Kind)
		}
	}
	// Vars returns a copy: changing it does not change the next call.
	vars[0].Name = "CHANGED"
	if Vars()[0].Name == "CHANGED" {
		t.Error("Vars() exposes the internal table")
	}
}

func TestErrorMessages(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"WARM_IP_TARGET": "abc"}, `WARM_IP_TARGET="abc": want an integer`},
		{map[string]string{"AWS_VPC_K8S_CNI_RANDOMIZESNAT": "random"}, `AWS_VPC_K8S_CNI_RANDOMIZESNAT="random": want one of hashrandom, prng, none`},
		{map[string]string{"ENABLE_IPv6": "true"}, `ENABLE_IPv6="true": want ENABLE_PREFIX_DELEGATION=true as well (it is "false")`},
		{map[string]string{"ENABLE_IPv4": "false"}, `ENABLE_IPv4="false": want true, or ENABLE_IPv6=true`},
	}
	for _, tc := range tests {
		_, _, err := parseMap(tc.env)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Parse(%v) error = %v, want prefix %q", tc.env, err, tc.want)
		}
	}
}

func TestCollectsAllErrors(t *testing.T) {
	env := map[string]string{
		"WARM_IP_TARGET":                "abc",
		"AWS_VPC_ENI_MTU":               "99999",
		"AWS_VPC_K8S_CNI_VETHPREFIX":    "toolong",
		"ENABLE_POD_ENI":                "ja",
		"AWS_VPC_K8S_CNI_RANDOMIZESNAT": "random",
		"ENABLE_IPv4":                   "false", // and ENABLE_IPv6 unset: no family
	}
	_, _, err := parseMap(env)
	if err == nil {
		t.Fatal("no error")
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("error %T is not a joined error", err)
	}
	names := map[string]bool{}
	for _, e := range joined.Unwrap() {
		var ve *VarError
		if !errors.As(e, &ve) {
			t.Fatalf("%v is not a *VarError", e)
		}
		names[ve.Name] = true
	}
	for name := range env {
		if !names[name] {
			t.Errorf("error %q does not report %s", err, name)
		}
	}
	if len(joined.Unwrap()) != len(env) {
		t.Errorf("got %d errors, want %d: %v", len(joined.Unwrap()), len(env), err)
	}
}

func TestIPFamilies(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		v4, v6   bool
		errNames []string
	}{
		{"default is IPv4", nil, true, false, nil},
		{"IPv6 alone implies IPv4 off", ipv6Mode, false, true, nil},
		{"explicit IPv6 mode", with(ipv6Mode, "ENABLE_IPv4", "false"), false, true, nil},
		{"dual stack", with(ipv6Mode, "ENABLE_IPv4", "true"), true, true, []string{"ENABLE_IPv6"}},
		{"no family", map[string]string{"ENABLE_IPv4": "false"}, false, false, []string{"ENABLE_IPv4"}},
		{"no family explicit", map[string]string{"ENABLE_IPv4": "false", "ENABLE_IPv6": "false"}, false, false, []string{"ENABLE_IPv4"}},
		{"IPv6 without PD", map[string]string{"ENABLE_IPv6": "true", "ENABLE_IPv4": "false"}, false, true, []string{"ENABLE_IPv6"}},
		{"IPv6 with custom networking", with(ipv6Mode, "AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG", "true"), false, true, []string{"AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG"}},
		{"IPv6 without PD, with custom networking", map[string]string{"ENABLE_IPv6": "true", "AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG": "1"}, false, true,
			[]string{"ENABLE_IPv6", "AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, _, err := parseMap(tc.env)
			if env.EnableIPv4 != tc.v4 || env.EnableIPv6 != tc.v6 {
				t.Errorf("IPv4=%v IPv6=%v, want %v %v", env.EnableIPv4, env.EnableIPv6, tc.v4, tc.v6)
			}
			var got []string
			if err != nil {
				for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
					got = append(got, e.(*VarError).Name)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.errNames, ",") {
				t.Errorf("errors on %v, want %v (%v)", got, tc.errNames, err)
			}
		})
	}
}

func TestPodMTUFollowsENIMTU(t *testing.T) {
	env, warns, err := parseMap(map[string]string{"AWS_VPC_ENI_MTU": "1500"})
	if err != nil || len(warns) != 0 {
		t.Fatalf("warnings %q, error %v", warns, err)
	}
	if env.ENIMTU != 1500 || env.PodMTU != 1500 {
		t.Errorf("ENI MTU %d, pod MTU %d; want 1500 and 1500", env.ENIMTU, env.PodMTU)
	}
}

func TestTagsAreParsed(t *testing.T) {
	env, warns, err := parseMap(map[string]string{
		"ADDITIONAL_ENI_TAGS": `{"team":"net","k8s.amazonaws.com/owner":"me","cluster.k8s.amazonaws.com/name":"x"}`,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(env.AdditionalENITags) != 1 || env.AdditionalENITags["team"] != "net" {
		t.Errorf("tags = %v, want only team=net", env.AdditionalENITags)
	}
	if len(warns) != 2 {
		t.Errorf("want one warning per dropped key, got %q", warns)
	}
	// Several problems in one object are all listed in one error.
	_, _, err = parseMap(map[string]string{"ADDITIONAL_ENI_TAGS": `{"aws:a":"1","` + long129 + `":"2"}`})
	if err == nil || !strings.Contains(err.Error(), "aws:") || !strings.Contains(err.Error(), "128") {
		t.Errorf("error = %v, want both the aws: key and the long key named", err)
	}
}

func TestFromOS(t *testing.T) {
	t.Setenv("WARM_IP_TARGET", "7")
	t.Setenv("AWS_VPC_K8S_CNI_VETHPREFIX", "abc")
	env, _, err := FromOS()
	if err != nil {
		t.Fatal(err)
	}
	if env.WarmIPTarget != 7 || env.VethPrefix != "abc" {
		t.Errorf("FromOS: WarmIPTarget=%d VethPrefix=%q, want 7 and abc", env.WarmIPTarget, env.VethPrefix)
	}
}

func TestNilLookup(t *testing.T) {
	env, _, err := Parse(nil)
	if err != nil || env.WarmENITarget != 1 || !env.EnableIPv4 {
		t.Errorf("Parse(nil) = %+v, %v; want defaults", env, err)
	}
}

// FuzzParse sets one variable (picked by index) to arbitrary text and checks
// that nothing panics and that every error names that variable.
func FuzzParse(f *testing.F) {
	index := map[string]uint{}
	for i, v := range Vars() {
		index[v.Name] = uint(i)
	}
	f.Add(index["WARM_IP_TARGET"], "abc")
	f.Add(index["ADDITIONAL_ENI_TAGS"], `{"a":"b"}`)
	f.Add(index["AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS"], "10.0.0.0/8,,x")
	f.Add(index["INTROSPECTION_BIND_ADDRESS"], "[::1]:1")
	f.Add(index["AWS_VPC_K8S_CNI_CONNMARK"], "0x80")
	f.Add(index["ENI_CONFIG_LABEL_DEF"], "a.b/c")
	f.Fuzz(func(t *testing.T, i uint, value string) {
		name := Vars()[i%uint(len(index))].Name
		_, _, err := parseMap(map[string]string{name: value})
		if err == nil {
			return
		}
		for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
			ve, ok := e.(*VarError)
			if !ok {
				t.Fatalf("%v is not a *VarError", e)
			}
			// Cross checks may name ENABLE_IPv4/ENABLE_IPv6 or custom
			// networking as the variable to change; otherwise it is the
			// one that was set.
			if ve.Name != name && !strings.HasPrefix(ve.Name, "ENABLE_IPv") {
				t.Fatalf("%s=%q produced an error on %s: %v", name, value, ve.Name, e)
			}
		}
	})
}
