package cniplugin

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
)

func TestParsePrevResult(t *testing.T) {
	tests := []struct {
		name   string
		prev   string // JSON of prevResult; "" = none
		ok     bool
		want   prevState
		errHas string
	}{
		{name: "none", prev: "", ok: false, want: prevState{deviceNumber: -1}},
		{
			name: "ours, secondary ENI",
			prev: `{"cniVersion":"1.0.0","interfaces":[{"name":"eni68caf03a5f4","mac":"02:11:22:33:44:55"},
				{"name":"eth0","mac":"2","sandbox":"/var/run/netns/x"},{"name":"dummy68caf03a5f4","mac":"0","sandbox":"1"}],
				"ips":[{"address":"10.0.2.20/32","interface":1}]}`,
			ok:   true,
			want: prevState{hostVeth: "eni68caf03a5f4", addr: netip.MustParseAddr("10.0.2.20"), routeTable: 2, deviceNumber: 1},
		},
		{
			name: "older upstream, no table recorded, 0.4.0",
			prev: `{"cniVersion":"0.4.0","interfaces":[{"name":"eni1234567890a"},
				{"name":"eth0","sandbox":"/var/run/netns/x"},{"name":"dummy1234567890a","mac":"0","sandbox":"3"}],
				"ips":[{"version":"4","address":"10.0.3.7/32","interface":1}]}`,
			ok:   true,
			want: prevState{hostVeth: "eni1234567890a", addr: netip.MustParseAddr("10.0.3.7"), routeTable: 4, deviceNumber: 3},
		},
		{
			name: "chained with egress-cni",
			prev: `{"cniVersion":"1.0.0","interfaces":[{"name":"enia"},{"name":"eth0","mac":"254","sandbox":"/ns"},
				{"name":"dummy0a1b2c3d4e5","mac":"0","sandbox":"0"},{"name":"v6veth"},{"name":"v6if0","sandbox":"/ns"}],
				"ips":[{"address":"fd00::ac:5/128","interface":4},{"address":"10.0.1.10/32","interface":1}]}`,
			ok:   true,
			want: prevState{hostVeth: "enia", addr: netip.MustParseAddr("10.0.1.10"), routeTable: 254, deviceNumber: 0},
		},
		{
			// Upstream leaves the dummy's sandbox empty for a branch ENI pod.
			name: "branch ENI pod, dummy without sandbox",
			prev: `{"cniVersion":"1.0.0","interfaces":[{"name":"vlan68caf03a5f4"},{"name":"eth0","sandbox":"/ns"},
				{"name":"dummy68caf03a5f4","mac":"7"}],
				"ips":[{"address":"10.0.9.9/32","interface":1}]}`,
			ok:   true,
			want: prevState{hostVeth: "vlan68caf03a5f4", addr: netip.MustParseAddr("10.0.9.9"), vlan: 7, deviceNumber: -1},
		},
		{
			name: "branch ENI pod, dummy with sandbox",
			prev: `{"cniVersion":"1.0.0","interfaces":[{"name":"vlan68caf03a5f4"},{"name":"eth0","sandbox":"/ns"},
				{"name":"dummy68caf03a5f4","mac":"12","sandbox":"0"}],
				"ips":[{"address":"10.0.9.9/32","interface":1}]}`,
			ok:   true,
			want: prevState{hostVeth: "vlan68caf03a5f4", addr: netip.MustParseAddr("10.0.9.9"), routeTable: 254, vlan: 12, deviceNumber: 0},
		},
		{
			// Named like the record but not one: no number in mac.
			name: "dummy-like interface of another plugin",
			prev: `{"cniVersion":"1.0.0","interfaces":[{"name":"enia"},{"name":"eth0","mac":"254","sandbox":"/ns"},
				{"name":"dummy0a1b2c3d4e5","mac":"02:11:22:33:44:55"},{"name":"dummy0","mac":"7","sandbox":"1"}],
				"ips":[{"address":"10.0.1.10/32","interface":1}]}`,
			ok:   true,
			want: prevState{hostVeth: "enia", addr: netip.MustParseAddr("10.0.1.10"), routeTable: 254, deviceNumber: -1},
		},
		{
			name: "another plugin's result",
			prev: `{"cniVersion":"1.0.0","interfaces":[{"name":"cni0"},{"name":"net1","sandbox":"/ns"}],
				"ips":[{"address":"192.168.0.5/24","interface":1}]}`,
			ok:   false,
			want: prevState{deviceNumber: -1},
		},
		{name: "malformed", prev: `{"cniVersion":"1.0.0","ips":[{"address":"not-an-ip"}]}`, errHas: "prevResult"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := "1.0.0"
			if strings.Contains(tt.prev, `"0.4.0"`) {
				v = "0.4.0"
			}
			conf := `{"cniVersion":"` + v + `","name":"aws-cni","type":"aws-cni"`
			if tt.prev != "" {
				conf += `,"prevResult":` + tt.prev
			}
			conf += "}"
			var pc types.PluginConf
			if err := json.Unmarshal([]byte(conf), &pc); err != nil {
				t.Fatal(err)
			}
			got, ok, err := parsePrevResult(&pc, "eth0", "eni")
			if tt.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("error = %v, want one mentioning %q", err, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ok != tt.ok || got != tt.want {
				t.Errorf("parsePrevResult = %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestParseMTU(t *testing.T) {
	tests := []struct {
		raw      string
		want     int
		wantNote bool
	}{
		{raw: ``, want: 9001},
		{raw: `null`, want: 9001},
		{raw: `""`, want: 9001},
		{raw: `"9001"`, want: 9001},
		{raw: `"1500"`, want: 1500},
		{raw: `1500`, want: 1500},
		{raw: `" 576 "`, want: 576},
		{raw: `"575"`, want: 9001, wantNote: true},
		{raw: `"9002"`, want: 9001, wantNote: true},
		{raw: `"jumbo"`, want: 9001, wantNote: true},
		{raw: `1500.5`, want: 9001, wantNote: true},
		{raw: `true`, want: 9001, wantNote: true},
	}
	for _, tt := range tests {
		got, note := parseMTU(json.RawMessage(tt.raw))
		if got != tt.want || (note != "") != tt.wantNote {
			t.Errorf("parseMTU(%s) = %d, %q; want %d, note %v", tt.raw, got, note, tt.want, tt.wantNote)
		}
		if tt.wantNote && !strings.Contains(note, tt.raw) {
			t.Errorf("note %q does not quote the value %s", note, tt.raw)
		}
	}
}

func TestParseCNIArgs(t *testing.T) {
	tests := []struct {
		in      string
		lenient bool
		want    k8sArgs
		wantErr bool
	}{
		{in: "", want: k8sArgs{}},
		{
			in:   "IgnoreUnknown=1;K8S_POD_NAMESPACE=kube-system;K8S_POD_NAME=coredns-1;K8S_POD_INFRA_CONTAINER_ID=abc;K8S_POD_UID=u-1",
			want: k8sArgs{PodName: "coredns-1", PodNamespace: "kube-system", InfraContainerID: "abc", PodUID: "u-1"},
		},
		{in: "K8S_POD_NAME=a=b;;FOO=bar", want: k8sArgs{PodName: "a=b"}},
		{in: "K8S_POD_NAME=x;junk", wantErr: true},
		{in: "K8S_POD_NAME=x;junk", lenient: true, want: k8sArgs{PodName: "x"}},
	}
	for _, tt := range tests {
		got, err := parseCNIArgs(tt.in, tt.lenient)
		if (err != nil) != tt.wantErr || got != tt.want && !tt.wantErr {
			t.Errorf("parseCNIArgs(%q, %v) = %+v, %v; want %+v, error %v", tt.in, tt.lenient, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseNetConfDefaults(t *testing.T) {
	s, err := parseNetConf([]byte(`{"cniVersion":"1.0.0","name":"aws-cni","type":"aws-cni"}`), false)
	if err != nil {
		t.Fatal(err)
	}
	got := []any{s.vethPrefix, s.mtu, s.sgMode, s.logFile, s.logLevel.String(), s.socket}
	want := []any{"eni", 9001, "strict", "/var/log/aws-routed-eni/plugin.log", "DEBUG", ""}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("default %d = %v, want %v", i, got[i], want[i])
		}
	}
}
