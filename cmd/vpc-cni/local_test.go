package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestLocalMemoryJSON(t *testing.T) {
	out, err := execute(t, "local", "--memory", "--nodes", "2", "--pods", "5", "--check", "--json")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var rep struct {
		Mode          string   `json:"mode"`
		PodsRequested int      `json:"pods_requested"`
		PodsWired     int      `json:"pods_wired"`
		PingSameNode  *bool    `json:"ping_same_node"`
		PingCrossNode *bool    `json:"ping_cross_node"`
		PingInternet  *bool    `json:"ping_internet"`
		SNATSource    *string  `json:"snat_source"`
		Residue       []string `json:"residue"`
		AddLatency    struct {
			P50 *float64 `json:"p50"`
			P99 *float64 `json:"p99"`
		} `json:"add_latency_ms"`
		OK bool `json:"ok"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, out)
	}
	if rep.Mode != "memory" || rep.PodsRequested != 10 || rep.PodsWired != 10 || !rep.OK {
		t.Errorf("report %+v", rep)
	}
	if rep.PingSameNode == nil || rep.PingCrossNode == nil || rep.PingInternet == nil || rep.SNATSource == nil ||
		rep.AddLatency.P50 == nil || rep.AddLatency.P99 == nil || rep.Residue == nil {
		t.Errorf("a field of the documented report is missing:\n%s", out)
	}
	if len(rep.Residue) != 0 {
		t.Errorf("residue %v", rep.Residue)
	}
}

func TestLocalRejectsBadFlags(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--nodes", "99"}, "nodes 99"},
		{[]string{"--firewall", "pf"}, "pf"},
		{[]string{"--instance-type", "z9.huge"}, "z9.huge"},
		{[]string{"--pods", "-1"}, "pods -1"},
	}
	for _, c := range cases {
		out, err := execute(t, append([]string{"local", "--memory", "--check"}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("local %v: %v (%s), want an error naming %q", c.args, err, out, c.want)
		}
	}
}

// TestLocalInteractiveMemory runs the interactive mode (what make run
// does) on the memory datapath: it prints the table, serves introspection
// until the context ends, then tears down.
func TestLocalInteractiveMemory(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pr, pw := io.Pipe()
	root := newRoot()
	root.SetOut(pw)
	root.SetErr(pw)
	root.SetArgs([]string{"local", "--memory", "--pods", "3", "--introspection", "127.0.0.1:0"})
	done := make(chan error, 1)
	go func() {
		done <- root.ExecuteContext(ctx)
		pw.Close()
	}()
	addr := regexp.MustCompile(`introspection at http://(\S+) `)
	var text strings.Builder
	sc := bufio.NewScanner(pr)
	served := false
	for sc.Scan() {
		line := sc.Text()
		text.WriteString(line + "\n")
		if m := addr.FindStringSubmatch(line); m != nil && !served {
			served = true
			resp, err := http.Get("http://" + m[1] + "/v1/enis")
			if err != nil {
				t.Errorf("GET /v1/enis: %v", err)
			} else {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "eni-") {
					t.Errorf("GET /v1/enis: %s %s", resp.Status, body)
				}
			}
			cancel()
		}
	}
	if err := <-done; err != nil {
		t.Errorf("local: %v\n%s", err, text.String())
	}
	for _, want := range []string{"MEMORY datapath", "pods wired 3/3", "torn down"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, text.String())
		}
	}
	if !served {
		t.Errorf("introspection never announced:\n%s", text.String())
	}
}
