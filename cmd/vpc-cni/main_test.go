package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func execute(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func TestMaxPods(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--instance-type", "m5.large"}, "29"},
		{[]string{"--instance-type", "t3.small"}, "11"},
		{[]string{"--instance-type", "p3dn.24xlarge"}, "737"},
		{[]string{"--instance-type", "m5.large", "--custom-networking"}, "20"},
		{[]string{"--instance-type", "m5.large", "--max-eni", "2"}, "20"},
		{[]string{"--instance-type", "m5.large", "--prefix-delegation"}, "110"},
		{[]string{"--instance-type", "m5.24xlarge", "--prefix-delegation"}, "250"},
	}
	for _, c := range cases {
		out, err := execute(t, append([]string{"max-pods"}, c.args...)...)
		if err != nil || strings.TrimSpace(out) != c.want {
			t.Errorf("max-pods %v = %q, %v; want %s", c.args, out, err, c.want)
		}
	}
	if _, err := execute(t, "max-pods", "--instance-type", "z9.huge"); err == nil || !strings.Contains(err.Error(), "z9.huge") {
		t.Errorf("unknown type: %v, want an error naming it", err)
	}
	if _, err := execute(t, "max-pods"); err == nil {
		t.Error("missing --instance-type accepted")
	}
}

func TestSimulateJSON(t *testing.T) {
	out, err := execute(t, "simulate", "--instance-type", "t3.small", "--env", "WARM_IP_TARGET=2", "--env", "MINIMUM_IP_TARGET=5", "--pods", "5", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		ENIs      int            `json:"enis"`
		IPsPerENI []int          `json:"ips_per_eni"`
		Prefixes  []int          `json:"prefixes_per_eni"`
		Assigned  int            `json:"assigned"`
		Unused    int            `json:"unused_ips"`
		EC2Calls  map[string]int `json:"ec2_calls"`
		Wait      map[string]any `json:"pod_wait_seconds"`
		Errors    []any          `json:"errors"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, out)
	}
	// Row 6 of the upstream scenario table: 3 ENIs with 3, 3 and 1 IPs.
	if res.ENIs != 3 || len(res.IPsPerENI) != 3 || res.IPsPerENI[2] != 1 || res.Assigned != 5 || res.Unused != 2 {
		t.Fatalf("unexpected result %+v", res)
	}
	for _, k := range []string{"p50", "p99", "max"} {
		if _, ok := res.Wait[k]; !ok {
			t.Errorf("pod_wait_seconds lacks %s", k)
		}
	}
	if res.EC2Calls["CreateNetworkInterface"] != 2 || res.Errors == nil {
		t.Errorf("ec2_calls %v errors %v", res.EC2Calls, res.Errors)
	}
}

func TestSimulateTraceAndTable(t *testing.T) {
	dir := t.TempDir()
	trace := filepath.Join(dir, "trace.jsonl")
	body := `{"t": 0, "op": "add", "pod": "ns/a"}
{"t": 1, "op": "add", "pod": "ns/b"}
{"t": 30, "op": "del", "pod": "ns/a"}
`
	if err := os.WriteFile(trace, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := execute(t, "simulate", "--instance-type", "m5.large", "--trace", trace)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"m5.large", "pods with an address  1", "AssignPrivateIpAddresses"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if err := os.WriteFile(trace, []byte(`{"t": 0, "op": "launch", "pod": "ns/a"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := execute(t, "simulate", "--instance-type", "m5.large", "--trace", trace); err == nil || !strings.Contains(err.Error(), "launch") {
		t.Errorf("bad trace line: %v, want an error naming it", err)
	}
	if _, err := execute(t, "simulate", "--instance-type", "m5.large", "--env", "NOEQUALS"); err == nil || !strings.Contains(err.Error(), "NOEQUALS") {
		t.Errorf("bad --env: %v", err)
	}
}
