package cniplugin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/types"
	"google.golang.org/grpc/codes"

	"github.com/vpc-cni/vpc-cni/adapters/rpcclient"
	"github.com/vpc-cni/vpc-cni/adapters/rpcclient/fakeipamd"
	"github.com/vpc-cni/vpc-cni/app/version"
)

type printedResult struct {
	CNIVersion string `json:"cniVersion"`
	Interfaces []struct {
		Name    string `json:"name"`
		Mac     string `json:"mac"`
		Sandbox string `json:"sandbox"`
	} `json:"interfaces"`
	IPs []struct {
		Version   string `json:"version"`
		Address   string `json:"address"`
		Interface *int   `json:"interface"`
	} `json:"ips"`
}

func decodeResult(t *testing.T, out string) printedResult {
	t.Helper()
	var r printedResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("decode result %q: %v", out, err)
	}
	return r
}

func TestAddPrintsResult(t *testing.T) {
	for _, v := range []string{"1.0.0", "1.1.0", "0.4.0", "0.3.1"} {
		t.Run(v, func(t *testing.T) {
			e := newEnv(t, fakeipamd.Config{})
			a := args("c1", e.conf(v, nil))
			r := decodeResult(t, e.addOK(a))

			if r.CNIVersion != v {
				t.Errorf("cniVersion = %q, want %q", r.CNIVersion, v)
			}
			veth := wantVeth("eni", "default", "web")
			if len(r.Interfaces) != 3 {
				t.Fatalf("interfaces = %+v, want host veth, container, dummy", r.Interfaces)
			}
			if got := r.Interfaces[0]; got.Name != veth || got.Mac != fakeMAC(veth) || got.Sandbox != "" {
				t.Errorf("host interface = %+v, want %s with MAC %s", got, veth, fakeMAC(veth))
			}
			if got := r.Interfaces[1]; got.Name != "eth0" || got.Sandbox != a.Netns || got.Mac != "254" {
				t.Errorf("container interface = %+v, want eth0 in %s carrying table 254", got, a.Netns)
			}
			if got := r.Interfaces[2]; got.Name != wantVeth("dummy", "default", "web") || got.Mac != "0" || got.Sandbox != "0" {
				t.Errorf("dummy interface = %+v, want VLAN 0 device 0", got)
			}
			if len(r.IPs) != 1 || r.IPs[0].Address != "10.0.1.10/32" || r.IPs[0].Interface == nil || *r.IPs[0].Interface != 1 {
				t.Errorf("ips = %+v, want 10.0.1.10/32 on interface 1", r.IPs)
			}
			if strings.HasPrefix(v, "0.") && (len(r.IPs) == 0 || r.IPs[0].Version != "4") {
				t.Errorf("a %s result needs ips[].version 4: %+v", v, r.IPs)
			}
			wantState := veth + " 10.0.1.10 eth0@" + a.Netns + " table 254 mtu 9001"
			if got := e.pods.state(); got != wantState {
				t.Errorf("datapath:\n%s\nwant:\n%s", got, wantState)
			}
			reqs := e.ipamd.Requests()
			if len(reqs) != 1 || reqs[0].Method != "AddNetwork" {
				t.Fatalf("ipamd requests = %+v", reqs)
			}
			want := fakeipamd.Request{
				Method: "AddNetwork", ClientVersion: version.Get(), Key: key("c1"), Netns: a.Netns,
				Pod: rpcclient.Pod{Name: "web", Namespace: "default", InfraContainerID: "c1"},
			}
			if reqs[0] != want {
				t.Errorf("AddNetwork request = %+v, want %+v", reqs[0], want)
			}
		})
	}
}

func TestAddRouteTableAndMTU(t *testing.T) {
	tests := []struct {
		name      string
		preassign int // addresses taken before the ADD
		mtu       any
		wantAddr  string
		wantTable int
		wantMTU   int
		wantLog   string
	}{
		{name: "table from ipamd", preassign: 1, mtu: "1500", wantAddr: "10.0.2.20", wantTable: 2, wantMTU: 1500},
		{name: "table derived from device", preassign: 2, mtu: 8000, wantAddr: "10.0.2.21", wantTable: 3, wantMTU: 8000},
		{name: "invalid mtu", mtu: "jumbo", wantAddr: "10.0.1.10", wantTable: 254, wantMTU: 9001, wantLog: `mtu \"jumbo\"`},
		{name: "mtu too large", mtu: "9002", wantAddr: "10.0.1.10", wantTable: 254, wantMTU: 9001, wantLog: `mtu \"9002\"`},
		{name: "mtu absent", mtu: nil, wantAddr: "10.0.1.10", wantTable: 254, wantMTU: 9001},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, fakeipamd.Config{})
			for i := 0; i < tt.preassign; i++ {
				if _, err := e.ipamd.Preassign(key("other"+string(rune('a'+i))), rpcclient.Pod{}); err != nil {
					t.Fatal(err)
				}
			}
			r := decodeResult(t, e.addOK(args("c1", e.conf("1.0.0", map[string]any{"mtu": tt.mtu}))))
			if r.IPs[0].Address != tt.wantAddr+"/32" {
				t.Errorf("address = %s, want %s", r.IPs[0].Address, tt.wantAddr)
			}
			want := wantVeth("eni", "default", "web") + " " + tt.wantAddr + " eth0@/var/run/netns/cni-c1 table " +
				itoa(tt.wantTable) + " mtu " + itoa(tt.wantMTU)
			if got := e.pods.state(); got != want {
				t.Errorf("datapath %q, want %q", got, want)
			}
			if r.Interfaces[1].Mac != itoa(tt.wantTable) {
				t.Errorf("result records table %s, want %d", r.Interfaces[1].Mac, tt.wantTable)
			}
			if tt.wantLog != "" {
				log, _ := os.ReadFile(e.logFile)
				mustContain(t, "plugin log", string(log), tt.wantLog)
			}
		})
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestAddTwiceConverges(t *testing.T) {
	e := newEnv(t, fakeipamd.Config{})
	a := args("c1", e.conf("1.0.0", nil))
	first := e.addOK(a)
	stateAfterFirst := e.pods.state()
	second := e.addOK(a)
	if first != second {
		t.Errorf("retried ADD printed\n%s\nfirst ADD printed\n%s", second, first)
	}
	if got := e.pods.state(); got != stateAfterFirst {
		t.Errorf("datapath after retry:\n%s\nwant:\n%s", got, stateAfterFirst)
	}
	if got := e.ipamd.Assigned(); len(got) != 1 || got[key("c1")] != netip.MustParseAddr("10.0.1.10") {
		t.Errorf("ipamd holds %v, want only c1 -> 10.0.1.10", got)
	}
}

func TestAddWiringFailureReleasesAddress(t *testing.T) {
	e := newEnv(t, fakeipamd.Config{})
	e.pods.failSetup = errors.New("veth: file exists")
	_, err := e.run(e.plugin.Add, args("c1", e.conf("1.0.0", nil)))
	if err == nil {
		t.Fatal("ADD succeeded although wiring failed")
	}
	mustContain(t, "error", err.Error(), "default/web", "10.0.1.10", "veth: file exists", "address released")
	if got := e.ipamd.Assigned(); len(got) != 0 {
		t.Errorf("ipamd still holds %v after a failed ADD", got)
	}
	reqs := e.ipamd.Requests()
	if last := reqs[len(reqs)-1]; last.Method != "DelNetwork" || last.Reason != ReasonSetupFailed || last.Key != key("c1") {
		t.Errorf("last ipamd request = %+v, want DelNetwork %s for c1", last, ReasonSetupFailed)
	}
	if got := e.pods.state(); got != "" {
		t.Errorf("half-built pod left behind: %s", got)
	}
	if e.stdout.Len() != 0 {
		t.Errorf("failed ADD printed %q on stdout", e.stdout.String())
	}
}

func TestAddIpamdFailures(t *testing.T) {
	tests := []struct {
		name     string
		cfg      fakeipamd.Config
		fail     fakeipamd.Failure
		down     bool
		wantCode uint
		want     []string
	}{
		{name: "no address", fail: fakeipamd.Failure{NoSuccess: true}, wantCode: types.ErrTryAgainLater,
			want: []string{"default/web", "no address"}},
		{name: "pool empty", cfg: fakeipamd.Config{Addresses: []fakeipamd.Address{}}, wantCode: types.ErrTryAgainLater,
			want: []string{"default/web", "no address"}},
		{name: "reason in status", fail: fakeipamd.Failure{Code: codes.ResourceExhausted, Message: "node at max pods (29)"},
			wantCode: types.ErrTryAgainLater, want: []string{"default/web", "node at max pods (29)"}},
		{name: "initialising", fail: fakeipamd.Failure{Code: codes.Unavailable, Message: "ipamd is still initialising the node"},
			wantCode: types.ErrTryAgainLater, want: []string{"default/web", "still initialising"}},
		{name: "internal", fail: fakeipamd.Failure{Code: codes.Internal, Message: "checkpoint not writable"},
			wantCode: types.ErrInternal, want: []string{"default/web", "checkpoint not writable"}},
		{name: "version mismatch", cfg: fakeipamd.Config{ServerVersion: "v9.9.9"}, wantCode: types.ErrInternal,
			want: []string{"default/web", "different releases", version.Get(), "v9.9.9"}},
		{name: "ipamd down", down: true, wantCode: types.ErrTryAgainLater, want: []string{"default/web", "ipamd.sock", "unavailable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.cfg)
			e.ipamd.FailAdd(tt.fail)
			if tt.down {
				e.ipamd.Close()
			}
			_, err := e.run(e.plugin.Add, args("c1", e.conf("1.0.0", nil)))
			if err == nil {
				t.Fatal("ADD succeeded")
			}
			if got := cniCode(err); got != tt.wantCode {
				t.Errorf("CNI error code = %d, want %d (%v)", got, tt.wantCode, err)
			}
			mustContain(t, "error", err.Error(), tt.want...)
			if got := e.pods.state(); got != "" {
				t.Errorf("prepared veth pair left behind: %s", got)
			}
			log, _ := os.ReadFile(e.logFile)
			mustContain(t, "plugin log", string(log), "command failed")
		})
	}
}

func TestAddBranchENIReleased(t *testing.T) {
	e := newEnv(t, fakeipamd.Config{Addresses: []fakeipamd.Address{{Addr: netip.MustParseAddr("10.0.9.9"), DeviceNumber: -1, VLAN: 3}}})
	_, err := e.run(e.plugin.Add, args("c1", e.conf("1.0.0", nil)))
	if err == nil {
		t.Fatal("ADD of a branch ENI pod succeeded")
	}
	mustContain(t, "error", err.Error(), "default/web", "VLAN 3", "address released")
	if len(e.ipamd.Assigned()) != 0 || e.pods.state() != "" {
		t.Errorf("branch ENI pod left state: ipamd %v, datapath %q", e.ipamd.Assigned(), e.pods.state())
	}
}

// An ipamd in IPv6 mode assigns an IPv6 address, which this plugin cannot
// wire (no IPv6 gateway or routes yet): the ADD fails saying so and gives
// the address back, rather than leave the pod without IPv6 routes.
func TestAddIPv6AddressReleased(t *testing.T) {
	e := newEnv(t, fakeipamd.Config{Addresses: []fakeipamd.Address{{Addr: netip.MustParseAddr("2600:1f14::5"), DeviceNumber: 0}}})
	_, err := e.run(e.plugin.Add, args("c1", e.conf("1.0.0", nil)))
	if err == nil {
		t.Fatal("ADD with an IPv6 address succeeded")
	}
	mustContain(t, "error", err.Error(), "default/web", "2600:1f14::5", "IPv6 pod wiring is not built", "address released")
	if len(e.ipamd.Assigned()) != 0 || e.pods.state() != "" {
		t.Errorf("IPv6 pod left state: ipamd %v, datapath %q", e.ipamd.Assigned(), e.pods.state())
	}
}

func TestAddWithMatchingServerVersion(t *testing.T) {
	e := newEnv(t, fakeipamd.Config{ServerVersion: "v1.2.3"})
	p, err := New(Config{Stdout: e.stdout, Stderr: e.stderr, ClientVersion: "v1.2.3"}, e.pods)
	if err != nil {
		t.Fatal(err)
	}
	e.plugin = p
	e.addOK(args("c1", e.conf("1.0.0", nil)))
	if r := e.ipamd.Requests(); r[0].ClientVersion != "v1.2.3" {
		t.Errorf("ClientVersion sent = %q, want v1.2.3", r[0].ClientVersion)
	}
}

func TestAddRejectsBadInput(t *testing.T) {
	tests := []struct {
		name  string
		extra map[string]any
		args  string
		want  []string
	}{
		{name: "veth prefix eth", extra: map[string]any{"vethPrefix": "eth"}, want: []string{`"eth"`, "vethPrefix"}},
		{name: "veth prefix too long", extra: map[string]any{"vethPrefix": "abcde"}, want: []string{`"abcde"`}},
		{name: "veth prefix vlan", extra: map[string]any{"vethPrefix": "vlan"}, want: []string{`"vlan"`}},
		{name: "log to stdout", extra: map[string]any{"pluginLogFile": "stdout"}, want: []string{`"stdout"`, "CNI result"}},
		{name: "relative log file", extra: map[string]any{"pluginLogFile": "plugin.log"}, want: []string{`"plugin.log"`}},
		{name: "bad log level", extra: map[string]any{"pluginLogLevel": "loud"}, want: []string{`"loud"`}},
		{name: "bad SG mode", extra: map[string]any{"podSGEnforcingMode": "lax"}, want: []string{`"lax"`}},
		{name: "no pod name", args: "K8S_POD_NAMESPACE=default", want: []string{"K8S_POD_NAME", "K8S_POD_NAMESPACE=default"}},
		{name: "no CNI_ARGS", args: "-", want: []string{"K8S_POD_NAME"}},
		{name: "malformed CNI_ARGS", args: "K8S_POD_NAME", want: []string{`"K8S_POD_NAME"`, "KEY=VALUE"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, fakeipamd.Config{})
			a := args("c1", e.conf("1.0.0", tt.extra))
			switch tt.args {
			case "":
			case "-":
				a.Args = ""
			default:
				a.Args = tt.args
			}
			_, err := e.run(e.plugin.Add, a)
			if err == nil {
				t.Fatal("ADD succeeded")
			}
			mustContain(t, "error", err.Error(), tt.want...)
			if len(e.ipamd.Assigned()) != 0 || e.pods.state() != "" {
				t.Errorf("bad input still assigned or wired something")
			}
			if calls := e.pods.callList(); calls != "" {
				t.Errorf("bad input reached the datapath: %s", calls)
			}
		})
	}
}

func TestLogging(t *testing.T) {
	e := newEnv(t, fakeipamd.Config{})
	// The log directory does not exist yet: ADD creates it.
	out := e.addOK(args("c1", e.conf("1.0.0", nil)))
	log, err := os.ReadFile(e.logFile)
	if err != nil {
		t.Fatalf("plugin log not written: %v", err)
	}
	mustContain(t, "plugin log", string(log), "command=ADD", "containerID=c1", "pod=default/web", "addr=10.0.1.10")
	if strings.Contains(out, "level=") {
		t.Errorf("log lines on stdout: %q", out)
	}

	// Past maxLogSize the log moves to plugin.log.1 and starts afresh.
	defer func(old int64) { maxLogSize = old }(maxLogSize)
	maxLogSize = 10
	// Another container, so that its lines differ from the first ADD's
	// even within the same millisecond.
	e.addOK(args("c2", e.conf("1.0.0", nil)))
	old, err := os.ReadFile(e.logFile + ".1")
	if err != nil {
		t.Fatalf("log not rotated: %v", err)
	}
	cur, _ := os.ReadFile(e.logFile)
	if !strings.HasPrefix(string(old), string(log)) || strings.Contains(string(cur), string(log)) {
		t.Errorf("rotation mixed up the logs:\nold %q\ncurrent %q", old, cur)
	}
	maxLogSize = 100 << 20

	// stderr, and the empty string meaning stderr.
	for _, target := range []string{"stderr", ""} {
		e.stderr.Reset()
		e.addOK(args("c2"+target, e.conf("1.0.0", map[string]any{"pluginLogFile": target, "pluginLogLevel": "info"})))
		mustContain(t, "stderr", e.stderr.String(), "pod wired")
		if strings.Contains(e.stderr.String(), "level=DEBUG") {
			t.Errorf("debug lines logged at level info: %q", e.stderr.String())
		}
	}
}

func TestDel(t *testing.T) {
	e := newEnv(t, fakeipamd.Config{})
	conf := e.conf("1.0.0", nil)
	res := e.addOK(args("c1", conf))
	del := args("c1", withPrev(t, conf, res))

	if out, err := e.run(e.plugin.Del, del); err != nil || out != "" {
		t.Fatalf("DEL = %q, %v", out, err)
	}
	if got := e.ipamd.Assigned(); len(got) != 0 {
		t.Errorf("ipamd still holds %v", got)
	}
	if got := e.pods.state(); got != "" {
		t.Errorf("datapath after DEL: %s", got)
	}
	reqs := e.ipamd.Requests()
	if last := reqs[len(reqs)-1]; last.Reason != ReasonPodDeleted || last.ClientVersion != version.Get() {
		t.Errorf("DelNetwork request = %+v", last)
	}

	// A second DEL (the runtime retries) succeeds and touches nothing,
	// even though another pod now has the address and a veth of the same
	// name (the pod was recreated under the same name).
	e.addOK(args("c2", conf))
	before := e.pods.state()
	if _, err := e.run(e.plugin.Del, del); err != nil {
		t.Fatalf("second DEL: %v", err)
	}
	if got := e.pods.state(); got != before {
		t.Errorf("second DEL of c1 changed c2's wiring:\n%s\nwas:\n%s", got, before)
	}
	if got := e.ipamd.Assigned(); got[key("c2")] != netip.MustParseAddr("10.0.1.10") {
		t.Errorf("second DEL of c1 released c2's address: %v", got)
	}
}

func TestDelWithoutPrevResult(t *testing.T) {
	// ipamd knows the pod: the address and table come from its reply and
	// the veth name from the pod's identity.
	e := newEnv(t, fakeipamd.Config{})
	conf := e.conf("1.0.0", nil)
	e.addOK(args("c1", conf))
	if _, err := e.run(e.plugin.Del, args("c1", conf)); err != nil {
		t.Fatal(err)
	}
	if got := e.pods.state(); got != "" {
		t.Errorf("datapath after DEL: %s", got)
	}
	if got := e.ipamd.Assigned(); len(got) != 0 {
		t.Errorf("ipamd still holds %v", got)
	}
}

func TestDelUnknownPod(t *testing.T) {
	for _, style := range []fakeipamd.UnknownPodReply{fakeipamd.UnknownPodEmptySuccess, fakeipamd.UnknownPodNotFound, fakeipamd.UnknownPodUpstream} {
		t.Run(itoa(int(style)), func(t *testing.T) {
			e := newEnv(t, fakeipamd.Config{UnknownPod: style})
			a := args("never-added", e.conf("1.0.0", nil))
			a.Netns = "" // the sandbox is gone too
			if _, err := e.run(e.plugin.Del, a); err != nil {
				t.Fatalf("DEL of an unknown pod: %v", err)
			}
		})
	}
}

func TestDelWhenIpamdFails(t *testing.T) {
	tests := []struct {
		name string
		down bool
		fail fakeipamd.Failure
	}{
		{name: "down", down: true},
		{name: "error", fail: fakeipamd.Failure{Code: codes.Internal, Message: "checkpoint not writable"}},
		{name: "no success", fail: fakeipamd.Failure{NoSuccess: true}},
		{name: "version mismatch", fail: fakeipamd.Failure{Code: codes.FailedPrecondition, Message: "client version mismatch"}},
	}
	for _, tt := range tests {
		for _, v := range []string{"1.0.0", "0.4.0"} {
			t.Run(tt.name+"/"+v, func(t *testing.T) {
				e := newEnv(t, fakeipamd.Config{})
				conf := e.conf(v, nil)
				res := e.addOK(args("c1", conf))
				e.ipamd.FailDel(tt.fail)
				if tt.down {
					e.ipamd.Close()
				}
				if _, err := e.run(e.plugin.Del, args("c1", withPrev(t, conf, res))); err != nil {
					t.Fatalf("DEL with ipamd failing: %v", err)
				}
				if got := e.pods.state(); got != "" {
					t.Errorf("datapath after DEL from prevResult: %s", got)
				}
				if !tt.down {
					if got := e.ipamd.Assigned(); got[key("c1")] != netip.MustParseAddr("10.0.1.10") {
						t.Errorf("ipamd state changed although DelNetwork failed: %v", got)
					}
				}
				log, _ := os.ReadFile(e.logFile)
				mustContain(t, "plugin log", string(log), "tearing down from prevResult")
			})
		}
	}
}

func TestDelIpamdDownNoPrevResult(t *testing.T) {
	e := newEnv(t, fakeipamd.Config{})
	e.ipamd.Close()
	if _, err := e.run(e.plugin.Del, args("c1", e.conf("1.0.0", nil))); err != nil {
		t.Fatalf("DEL: %v", err)
	}
}

func TestDelTeardownFailure(t *testing.T) {
	e := newEnv(t, fakeipamd.Config{})
	conf := e.conf("1.0.0", nil)
	res := e.addOK(args("c1", conf))
	e.ipamd.Close()
	e.pods.failTeardown = errors.New("netlink: operation not permitted")
	_, err := e.run(e.plugin.Del, args("c1", withPrev(t, conf, res)))
	if err == nil {
		t.Fatal("DEL succeeded although the teardown failed")
	}
	mustContain(t, "error", err.Error(), "default/web", "10.0.1.10", "operation not permitted")
}

func TestDelToleratesBadNetconf(t *testing.T) {
	e := newEnv(t, fakeipamd.Config{})
	conf := e.conf("1.0.0", nil)
	res := e.addOK(args("c1", conf))
	bad := e.conf("1.0.0", map[string]any{"vethPrefix": "eth", "pluginLogFile": "stdout", "mtu": "x", "pluginLogLevel": "loud"})
	out, err := e.run(e.plugin.Del, args("c1", withPrev(t, bad, res)))
	if err != nil {
		t.Fatalf("DEL with a bad netconf: %v", err)
	}
	if out != "" {
		t.Errorf("DEL printed %q", out)
	}
	if got := e.pods.state(); got != "" || len(e.ipamd.Assigned()) != 0 {
		t.Errorf("DEL did not complete: datapath %q, ipamd %v", got, e.ipamd.Assigned())
	}
	mustContain(t, "stderr", e.stderr.String(), "vethPrefix", "stdout")
}

func TestCheck(t *testing.T) {
	e := newEnv(t, fakeipamd.Config{})
	conf := e.conf("1.0.0", nil)
	res := e.addOK(args("c1", conf))
	check := args("c1", withPrev(t, conf, res))
	veth := wantVeth("eni", "default", "web")

	if _, err := e.run(e.plugin.Check, check); err != nil {
		t.Fatalf("CHECK of a healthy pod: %v", err)
	}

	// Wrong MTU in the datapath.
	p := e.pods.wired[veth]
	p.MTU = 1500
	e.pods.wired[veth] = p
	_, err := e.run(e.plugin.Check, check)
	if err == nil {
		t.Fatal("CHECK passed with a wrong MTU")
	}
	mustContain(t, "error", err.Error(), "default/web", "MTU is 1500, want 9001")

	// Veth gone.
	delete(e.pods.wired, veth)
	_, err = e.run(e.plugin.Check, check)
	if err == nil {
		t.Fatal("CHECK passed without the veth")
	}
	mustContain(t, "error", err.Error(), veth, "does not exist")

	// Datapath fine, ipamd lost the allocation.
	e.addOK(args("c1", conf))
	if _, err := e.run(e.plugin.Check, check); err != nil {
		t.Fatalf("CHECK after re-ADD: %v", err)
	}
	if !e.ipamd.Reclaim(key("c1")) {
		t.Fatal("c1 held no address")
	}
	_, err = e.run(e.plugin.Check, check)
	if err == nil {
		t.Fatal("CHECK passed although ipamd holds no address for the container")
	}
	mustContain(t, "error", err.Error(), "ipamd holds no address", "c1")

	// ipamd gave the container another address than the pod has.
	if _, err := e.ipamd.Preassign(key("other"), rpcclient.Pod{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ipamd.Preassign(key("c1"), rpcclient.Pod{}); err != nil {
		t.Fatal(err)
	}
	_, err = e.run(e.plugin.Check, check)
	if err == nil {
		t.Fatal("CHECK passed although ipamd holds another address")
	}
	mustContain(t, "error", err.Error(), "ipamd holds 10.0.2.20", "the pod has 10.0.1.10")

	// ipamd down: the datapath alone decides.
	e.ipamd.Close()
	if _, err := e.run(e.plugin.Check, check); err != nil {
		t.Errorf("CHECK with ipamd down and a healthy datapath: %v", err)
	}

	// No prevResult.
	_, err = e.run(e.plugin.Check, args("c1", conf))
	if err == nil {
		t.Fatal("CHECK passed without prevResult")
	}
	mustContain(t, "error", err.Error(), "prevResult", "eth0")
}

func TestStatus(t *testing.T) {
	tests := []struct {
		name  string
		cfg   fakeipamd.Config
		setup func(*fakeipamd.Server)
		want  string // "" = ready
	}{
		{name: "ready", want: ""},
		{name: "upstream ipamd without address health", cfg: fakeipamd.Config{WithoutAddressHealth: true}, want: ""},
		{name: "initialising", setup: func(s *fakeipamd.Server) { s.SetHealth("", false) }, want: "NOT_SERVING"},
		{name: "no addresses", setup: func(s *fakeipamd.Server) { s.SetHealth(fakeipamd.AddressesService, false) }, want: "no address"},
		{name: "pool used up", cfg: fakeipamd.Config{Addresses: testPool[:1]}, setup: func(s *fakeipamd.Server) {
			s.Preassign(key("x"), rpcclient.Pod{})
		}, want: "no address"},
		{name: "unreachable", setup: func(s *fakeipamd.Server) { s.Close() }, want: "unreachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.cfg)
			if tt.setup != nil {
				tt.setup(e.ipamd)
			}
			a := args("", e.conf("1.1.0", nil))
			a.Netns, a.IfName, a.Args = "", "", ""
			out, err := e.run(e.plugin.Status, a)
			if out != "" {
				t.Errorf("STATUS printed %q", out)
			}
			if tt.want == "" {
				if err != nil {
					t.Fatalf("STATUS = %v, want ready", err)
				}
				if log, _ := os.ReadFile(e.logFile); len(log) != 0 {
					t.Errorf("a successful STATUS logged:\n%s", log)
				}
				return
			}
			if err == nil {
				t.Fatal("STATUS says ready")
			}
			if cniCode(err) != types.ErrPluginNotAvailable {
				t.Errorf("code = %d, want %d", cniCode(err), types.ErrPluginNotAvailable)
			}
			mustContain(t, "error", err.Error(), tt.want)
		})
	}
}

func gcConf(e *env, valid []types.GCAttachment) []byte {
	extra := map[string]any{}
	if valid != nil {
		extra["cni.dev/valid-attachments"] = valid
	}
	return e.conf("1.1.0", extra)
}

func TestGC(t *testing.T) {
	keep := []types.GCAttachment{{ContainerID: "live", IfName: "eth0"}}
	tests := []struct {
		name      string
		cfg       fakeipamd.Config
		valid     []types.GCAttachment
		wantLeft  []string // container IDs still holding addresses in aws-cni
		wantDels  int
		wantError string
	}{
		{name: "stale released", valid: keep, wantLeft: []string{"live"}, wantDels: 2},
		{name: "empty list releases all", valid: []types.GCAttachment{}, wantLeft: nil, wantDels: 3},
		{name: "no list releases nothing", valid: nil, wantLeft: []string{"dead1", "dead2", "live"}},
		{name: "upstream ipamd", cfg: fakeipamd.Config{WithoutAdmin: true}, valid: keep, wantLeft: []string{"dead1", "dead2", "live"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.cfg)
			for _, id := range []string{"live", "dead1", "dead2"} {
				if _, err := e.ipamd.Preassign(key(id), rpcclient.Pod{Name: "p-" + id, Namespace: "ns"}); err != nil {
					t.Fatal(err)
				}
			}
			a := args("", gcConf(e, tt.valid))
			a.Netns, a.IfName, a.Args = "", "", ""
			if _, err := e.run(e.plugin.GC, a); err != nil {
				t.Fatalf("GC: %v", err)
			}
			got := e.ipamd.Assigned()
			var left []string
			for k := range got {
				left = append(left, k.ContainerID)
			}
			sort.Strings(left)
			if strings.Join(left, ",") != strings.Join(tt.wantLeft, ",") {
				t.Errorf("still allocated: %v, want %v", left, tt.wantLeft)
			}
			dels := 0
			for _, r := range e.ipamd.Requests() {
				if r.Method == "DelNetwork" {
					dels++
					if r.Reason != ReasonGC || r.Pod.Name != "p-"+r.Key.ContainerID {
						t.Errorf("GC DelNetwork = %+v", r)
					}
				}
			}
			if dels != tt.wantDels {
				t.Errorf("%d DelNetwork calls, want %d", dels, tt.wantDels)
			}
		})
	}
}

func TestGCKeepsOtherNetworksAndInterfaces(t *testing.T) {
	e := newEnv(t, fakeipamd.Config{})
	keys := []rpcclient.PodKey{
		key("live"),
		{NetworkName: "aws-cni", ContainerID: "live", IfName: "eth1"}, // not in the valid list
		{NetworkName: "other-net", ContainerID: "dead", IfName: "eth0"},
	}
	for _, k := range keys {
		if _, err := e.ipamd.Preassign(k, rpcclient.Pod{}); err != nil {
			t.Fatal(err)
		}
	}
	a := args("", gcConf(e, []types.GCAttachment{{ContainerID: "live", IfName: "eth0"}}))
	if _, err := e.run(e.plugin.GC, a); err != nil {
		t.Fatal(err)
	}
	got := e.ipamd.Assigned()
	if _, ok := got[keys[0]]; !ok {
		t.Errorf("valid attachment released")
	}
	if _, ok := got[keys[1]]; ok {
		t.Errorf("stale interface eth1 of a live container kept")
	}
	if _, ok := got[keys[2]]; !ok {
		t.Errorf("allocation of another network released")
	}
}

func TestGCWithIpamdDown(t *testing.T) {
	e := newEnv(t, fakeipamd.Config{})
	e.ipamd.Close()
	_, err := e.run(e.plugin.GC, args("", gcConf(e, []types.GCAttachment{})))
	if err == nil {
		t.Fatal("GC succeeded without ipamd")
	}
	mustContain(t, "error", err.Error(), "aws-cni", "unavailable")
}

// Log times are UTC whatever the node's zone. (The zone is set on the
// record rather than through time.Local, which other goroutines read.)
func TestLogTimesAreUTC(t *testing.T) {
	file := filepath.Join(t.TempDir(), "plugin.log")
	log, closeLog, err := openLog(file, slog.LevelDebug, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.FixedZone("UTC+5", 5*3600))
	if err := log.Handler().Handle(context.Background(), slog.NewRecord(at, slog.LevelInfo, "m", 0)); err != nil {
		t.Fatal(err)
	}
	closeLog()
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if want := "time=2026-01-01T22:04:05.006Z "; !strings.HasPrefix(string(got), want) {
		t.Errorf("log line %q does not start with %q", got, want)
	}

	// Every line an ADD writes carries such a time.
	e := newEnv(t, fakeipamd.Config{})
	e.addOK(args("c1", e.conf("1.0.0", nil)))
	lines, err := os.ReadFile(e.logFile)
	if err != nil {
		t.Fatal(err)
	}
	utc := regexp.MustCompile(`^time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z `)
	for _, line := range strings.Split(strings.TrimSpace(string(lines)), "\n") {
		if !utc.MatchString(line) {
			t.Errorf("log line without a UTC time: %q", line)
		}
	}
}
