package cniplugin

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/vpc-cni/vpc-cni/adapters/rpcclient/fakeipamd"
)

// A plugin log that cannot be opened fails no command: each logs to
// stderr, says why, and prints only its result on stdout.
func TestUnusableLogFileFallsBackToStderr(t *testing.T) {
	notADir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notADir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, logFile := range map[string]string{
		"directory":            t.TempDir(),
		"under a regular file": filepath.Join(notADir, "plugin.log"),
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, fakeipamd.Config{})
			bad := map[string]any{"pluginLogFile": logFile}
			conf := e.conf("1.1.0", bad)
			wantWarning := func(cmd string) {
				t.Helper()
				mustContain(t, cmd+" stderr", e.stderr.String(), "command="+cmd, logFile, "logging to stderr")
				e.stderr.Reset()
			}

			res := e.addOK(args("c1", conf))
			if strings.Contains(res, "level=") {
				t.Errorf("log lines on stdout: %q", res)
			}
			if r := decodeResult(t, res); len(r.IPs) != 1 || r.IPs[0].Address != "10.0.1.10/32" {
				t.Errorf("ADD result = %s", res)
			}
			wantWarning("ADD")

			if out, err := e.run(e.plugin.Check, args("c1", withPrev(t, conf, res))); err != nil || out != "" {
				t.Errorf("CHECK = %q, %v", out, err)
			}
			wantWarning("CHECK")

			st := args("", conf)
			st.Netns, st.IfName, st.Args = "", "", ""
			if out, err := e.run(e.plugin.Status, st); err != nil || out != "" {
				t.Errorf("STATUS = %q, %v", out, err)
			}
			wantWarning("STATUS")

			gc := args("", e.conf("1.1.0", map[string]any{"pluginLogFile": logFile, keyValidAttachments: []types.GCAttachment{{ContainerID: "c1", IfName: "eth0"}}}))
			if out, err := e.run(e.plugin.GC, gc); err != nil || out != "" {
				t.Errorf("GC = %q, %v", out, err)
			}
			wantWarning("GC")

			if out, err := e.run(e.plugin.Del, args("c1", withPrev(t, conf, res))); err != nil || out != "" {
				t.Errorf("DEL = %q, %v", out, err)
			}
			wantWarning("DEL")
			if e.pods.state() != "" || len(e.ipamd.Assigned()) != 0 {
				t.Errorf("after DEL: datapath %q, ipamd %v", e.pods.state(), e.ipamd.Assigned())
			}
		})
	}
}

// netnsFile stands in for a pod's network namespace that still exists.
func netnsFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "netns")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// A DEL that released the address but failed to unwire the pod is retried
// by the runtime; ipamd then knows nothing of the pod, and the retry still
// removes the veth and the address's rules.
func TestDelRetryAfterFailedUnwiring(t *testing.T) {
	tests := []struct {
		name     string
		cfg      fakeipamd.Config
		noPrev   bool
		wantRule string
	}{
		{name: "ipamd of this project"},
		{name: "upstream ipamd", cfg: fakeipamd.Config{WithoutAdmin: true, UnknownPod: fakeipamd.UnknownPodUpstream}},
		// Without prevResult the address is unknown: the pair goes, the
		// rules stay until the address is wired again.
		{name: "no prevResult", noPrev: true, wantRule: "10.0.1.10 table 254"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.cfg)
			conf := e.conf("1.0.0", nil)
			a := args("c1", conf)
			a.Netns = netnsFile(t)
			res := e.addOK(a)
			if !tt.noPrev {
				a.StdinData = withPrev(t, conf, res)
			}

			e.pods.failTeardown = errors.New("netlink: device or resource busy")
			if _, err := e.run(e.plugin.Del, a); err == nil {
				t.Fatal("DEL succeeded although the unwiring failed")
			}
			if len(e.ipamd.Assigned()) != 0 {
				t.Fatalf("ipamd still holds %v", e.ipamd.Assigned())
			}

			e.pods.failTeardown = nil
			if _, err := e.run(e.plugin.Del, a); err != nil {
				t.Fatalf("retried DEL: %v", err)
			}
			if got := e.pods.state(); got != "" {
				t.Errorf("veth left after the retried DEL: %s", got)
			}
			if got := e.pods.ruleState(); got != tt.wantRule {
				t.Errorf("rules after the retried DEL: %q, want %q", got, tt.wantRule)
			}
		})
	}
}

// When ipamd has given the address to another pod before the retry, the
// retry removes its own veth but leaves the rules of that address.
func TestDelRetryLeavesReusedAddress(t *testing.T) {
	e := newEnv(t, fakeipamd.Config{})
	conf := e.conf("1.0.0", nil)
	a := args("c1", conf)
	a.Netns = netnsFile(t)
	res := e.addOK(a)
	a.StdinData = withPrev(t, conf, res)
	e.pods.failTeardown = errors.New("netlink: device or resource busy")
	if _, err := e.run(e.plugin.Del, a); err == nil {
		t.Fatal("DEL succeeded although the unwiring failed")
	}
	e.pods.failTeardown = nil

	other := args("c2", conf)
	other.Args = strings.Replace(other.Args, "K8S_POD_NAME=web", "K8S_POD_NAME=api", 1)
	if r := decodeResult(t, e.addOK(other)); r.IPs[0].Address != "10.0.1.10/32" {
		t.Fatalf("the other pod got %s, the test needs the released address", r.IPs[0].Address)
	}

	if _, err := e.run(e.plugin.Del, a); err != nil {
		t.Fatalf("retried DEL: %v", err)
	}
	if got, want := e.pods.state(), wantVeth("eni", "default", "api")+" 10.0.1.10 eth0@/var/run/netns/cni-c2 table 254 mtu 9001"; got != want {
		t.Errorf("datapath after the retried DEL:\n%s\nwant:\n%s", got, want)
	}
	if got := e.pods.ruleState(); got != "10.0.1.10 table 254" {
		t.Errorf("rules after the retried DEL: %q, want the other pod's", got)
	}
}

// A prevResult of upstream's branch ENI pod (dummy without sandbox, VLAN
// in mac) is not torn down as a normal pod.
func TestDelBranchENIPodFromPrevResult(t *testing.T) {
	e := newEnv(t, fakeipamd.Config{})
	e.ipamd.Close()
	veth := wantVeth("vlan", "default", "web")
	prev := `{"cniVersion":"1.0.0","interfaces":[{"name":"` + veth + `"},{"name":"eth0","sandbox":"/var/run/netns/cni-c1"},
		{"name":"` + wantVeth("dummy", "default", "web") + `","mac":"5"}],"ips":[{"address":"10.0.9.9/32","interface":1}]}`
	if _, err := e.run(e.plugin.Del, args("c1", withPrev(t, e.conf("1.0.0", nil), prev))); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	if calls := e.pods.callList(); calls != "" {
		t.Errorf("branch ENI pod torn down as a normal pod: %s", calls)
	}
	log, _ := os.ReadFile(e.logFile)
	mustContain(t, "plugin log", string(log), "branch ENI", "vlan=5")
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("write |1: broken pipe") }

// An ADD that wired the pod but cannot print its result fails, and leaves
// neither wiring nor address behind, as any failed ADD.
func TestAddPrintFailureUndoesWiring(t *testing.T) {
	for _, v := range []string{"1.0.0", "0.4.0"} {
		t.Run(v, func(t *testing.T) {
			e := newEnv(t, fakeipamd.Config{})
			p, err := New(Config{Stdout: failingWriter{}, Stderr: e.stderr}, e.pods)
			if err != nil {
				t.Fatal(err)
			}
			err = p.Add(args("c1", e.conf(v, nil)))
			if err == nil {
				t.Fatal("ADD succeeded without printing its result")
			}
			if cniCode(err) != types.ErrIOFailure {
				t.Errorf("code = %d, want %d", cniCode(err), types.ErrIOFailure)
			}
			mustContain(t, "error", err.Error(), "broken pipe", "address released")
			if got := e.pods.state(); got != "" {
				t.Errorf("wiring left behind: %s", got)
			}
			if got := e.pods.ruleState(); got != "" {
				t.Errorf("rules left behind: %s", got)
			}
			if got := e.ipamd.Assigned(); len(got) != 0 {
				t.Errorf("ipamd still holds %v", got)
			}
			reqs := e.ipamd.Requests()
			if last := reqs[len(reqs)-1]; last.Method != "DelNetwork" || last.Reason != ReasonSetupFailed {
				t.Errorf("last ipamd request = %+v, want DelNetwork %s", last, ReasonSetupFailed)
			}
		})
	}
}

// Rotation moves the log only while it is the file that was measured: if
// another plugin process rotated first, the fresh log stays and the
// rotated one is kept.
func TestRotateKeepsAnotherProcessRotation(t *testing.T) {
	file := filepath.Join(t.TempDir(), "plugin.log")
	if err := os.WriteFile(file, []byte("old lines\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	measured, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	// The other process rotates and starts a fresh log.
	if err := os.Rename(file, file+".1"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte("fresh\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	rotate(file, measured)
	old, _ := os.ReadFile(file + ".1")
	cur, _ := os.ReadFile(file)
	if string(old) != "old lines\n" || string(cur) != "fresh\n" {
		t.Errorf("after a late rotation: %s.1 = %q, %s = %q", file, old, file, cur)
	}

	// The file measured is still in place: it moves.
	measured, err = os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	rotate(file, measured)
	old, _ = os.ReadFile(file + ".1")
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) || string(old) != "fresh\n" {
		t.Errorf("rotation did not move the log: %s.1 = %q, stat %s: %v", file, old, file, err)
	}
}
