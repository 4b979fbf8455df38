package cniplugin

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types/create"

	"github.com/vpc-cni/vpc-cni/adapters/rpcclient/fakeipamd"
)

// libraryJSON is the result as the CNI library prints it.
func libraryJSON(t *testing.T, w wired, version string) []byte {
	t.Helper()
	out, err := buildResult(w).GetAsVersion(version)
	if err != nil {
		t.Fatalf("library GetAsVersion(%s): %v", version, err)
	}
	var buf bytes.Buffer
	if err := out.PrintTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func jsonValue(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	return v
}

func TestResultJSONMatchesLibrary(t *testing.T) {
	base := wired{
		hostVeth: "eni1a2b3c4d5e6", hostMAC: "02:11:22:33:44:55", ifName: "eth0",
		netns: "/var/run/netns/cni-1234-abcd", addr: netip.MustParseAddr("10.0.3.17"),
		deviceNumber: 2, routeTable: 3, dummy: "dummy1a2b3c4d5e6",
	}
	v6 := base
	v6.addr = netip.MustParseAddr("2600:1f14:abc::5")
	noMAC := base
	noMAC.hostMAC = ""
	noNetns := base
	noNetns.netns = ""
	primary := base
	primary.deviceNumber, primary.routeTable, primary.vlan = 0, mainTable, 0
	vlan := base
	vlan.vlan = 7
	cases := map[string]wired{"ipv4": base, "ipv6": v6, "no host MAC": noMAC, "no netns": noNetns, "primary ENI": primary, "vlan": vlan}
	for _, version := range SupportedVersions {
		for name, w := range cases {
			got, ok := resultJSON(w, version)
			if !ok {
				t.Fatalf("%s %s: resultJSON declined", version, name)
			}
			want := libraryJSON(t, w, version)
			if g, l := jsonValue(t, got), jsonValue(t, want); !reflect.DeepEqual(g, l) {
				t.Errorf("%s %s:\n got %s\nwant %s", version, name, got, want)
			}
			// The runtime reads it back as a result of that version.
			r, err := create.Create(version, got)
			if err != nil {
				t.Fatalf("%s %s: library cannot read the result: %v\n%s", version, name, err, got)
			}
			if r.Version() != version {
				t.Errorf("%s %s: result says version %s", version, name, r.Version())
			}
		}
	}
}

func TestResultJSONDeclines(t *testing.T) {
	base := wired{hostVeth: "eni1", hostMAC: "02:11:22:33:44:55", ifName: "eth0", netns: "/var/run/netns/x",
		addr: netip.MustParseAddr("10.0.0.1"), dummy: "dummy1"}
	quoted := base
	quoted.netns = `/var/run/netns/a"b`
	backslash := base
	backslash.netns = `/var/run/netns/a\b`
	control := base
	control.netns = "/var/run/netns/a\nb"
	nonASCII := base
	nonASCII.netns = "/var/run/netns/é"
	html := base
	html.netns = "/var/run/netns/a<b>&"
	mapped := base
	mapped.addr = netip.MustParseAddr("::ffff:10.0.0.1")
	zoned := base
	zoned.addr = netip.MustParseAddr("fe80::1%eth0")
	invalid := base
	invalid.addr = netip.Addr{}
	for name, c := range map[string]struct {
		w       wired
		version string
	}{
		"quote": {quoted, "1.0.0"}, "backslash": {backslash, "1.0.0"}, "control character": {control, "0.4.0"},
		"non-ASCII": {nonASCII, "1.0.0"}, "HTML characters": {html, "1.0.0"}, "IPv4-mapped": {mapped, "1.0.0"},
		"zoned": {zoned, "1.0.0"}, "no address": {invalid, "1.0.0"},
		"unknown version": {base, "0.2.0"}, "future version": {base, "1.2.0"}, "empty version": {base, ""},
	} {
		if out, ok := resultJSON(c.w, c.version); ok {
			t.Errorf("%s: encoded %s; want the library path", name, out)
		}
	}
	// What it declines the library still prints correctly, and the plugin
	// takes that path (checked end to end in TestAddPrintsLibraryResultForUnusualNetns).
	if v := jsonValue(t, libraryJSON(t, quoted, "1.0.0")); v.(map[string]any)["interfaces"].([]any)[1].(map[string]any)["sandbox"] != quoted.netns {
		t.Errorf("library result lost the netns: %v", v)
	}
}

// A netns path the direct encoder declines still gets a correct result,
// from the library, and a DEL given it as prevResult finds the pod.
func TestAddPrintsLibraryResultForUnusualNetns(t *testing.T) {
	e := newEnv(t, fakeipamd.Config{})
	a := args("c1", e.conf("1.0.0", nil))
	a.Netns = `/var/run/netns/odd "name" é`
	out := e.addOK(a)
	r := decodeResult(t, out)
	if len(r.Interfaces) != 3 || r.Interfaces[1].Sandbox != a.Netns {
		t.Fatalf("result %s: want the container interface in %q", out, a.Netns)
	}
	if len(r.IPs) != 1 || r.IPs[0].Address != "10.0.1.10/32" {
		t.Fatalf("result %s: want 10.0.1.10/32", out)
	}
	if !strings.Contains(out, "\n    ") {
		t.Errorf("result %s: want the library's indented form on this path", out)
	}
}
