package cniplugin

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/vpc-cni/vpc-cni/adapters/rpcclient"
	"github.com/vpc-cni/vpc-cni/adapters/rpcclient/fakeipamd"
)

// env is one plugin wired to a fake ipamd on a real unix socket and to a
// fake pod datapath.
type env struct {
	t       *testing.T
	ipamd   *fakeipamd.Server
	pods    *fakePods
	plugin  *Plugin
	stdout  *bytes.Buffer
	stderr  *bytes.Buffer
	sock    string
	logFile string
}

var testPool = []fakeipamd.Address{
	{Addr: netip.MustParseAddr("10.0.1.10"), DeviceNumber: 0, RouteTable: 254},
	{Addr: netip.MustParseAddr("10.0.2.20"), DeviceNumber: 1, RouteTable: 2},
	{Addr: netip.MustParseAddr("10.0.2.21"), DeviceNumber: 2}, // ipamd gives no table
}

// shortDir is a temporary directory with a short path: unix socket paths
// are limited to 107 bytes and t.TempDir paths of long test names are not.
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "cnip")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func newEnv(t *testing.T, icfg fakeipamd.Config) *env {
	t.Helper()
	dir := shortDir(t)
	e := &env{
		t:       t,
		pods:    newFakePods(),
		stdout:  &bytes.Buffer{},
		stderr:  &bytes.Buffer{},
		sock:    filepath.Join(dir, "ipamd.sock"),
		logFile: filepath.Join(t.TempDir(), "logs", "plugin.log"),
	}
	if icfg.Addresses == nil {
		icfg.Addresses = testPool
	}
	icfg.SocketPath = e.sock
	s, err := fakeipamd.New(icfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	e.ipamd = s
	e.plugin, err = New(Config{Stdout: e.stdout, Stderr: e.stderr}, e.pods)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// conf renders a netconf; extra fields override or add to the defaults
// (a nil value deletes the field).
func (e *env) conf(cniVersion string, extra map[string]any) []byte {
	e.t.Helper()
	m := map[string]any{
		"cniVersion":     cniVersion,
		"name":           "aws-cni",
		"type":           "aws-cni",
		"vethPrefix":     "eni",
		"mtu":            "9001",
		"pluginLogFile":  e.logFile,
		"pluginLogLevel": "Debug",
		"ipamdSocket":    e.sock,
	}
	for k, v := range extra {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

const podArgs = "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID="

func args(containerID string, stdin []byte) *skel.CmdArgs {
	return &skel.CmdArgs{
		ContainerID: containerID,
		Netns:       "/var/run/netns/cni-" + containerID,
		IfName:      "eth0",
		Args:        podArgs + containerID,
		Path:        "/opt/cni/bin",
		StdinData:   stdin,
	}
}

// run calls one command and returns what it printed on stdout.
func (e *env) run(f func(*skel.CmdArgs) error, a *skel.CmdArgs) (string, error) {
	e.t.Helper()
	e.stdout.Reset()
	err := f(a)
	return e.stdout.String(), err
}

// addOK runs ADD and fails the test on error; it returns the result JSON.
func (e *env) addOK(a *skel.CmdArgs) string {
	e.t.Helper()
	out, err := e.run(e.plugin.Add, a)
	if err != nil {
		e.t.Fatalf("ADD %s: %v", a.ContainerID, err)
	}
	if !json.Valid([]byte(out)) {
		e.t.Fatalf("ADD printed something that is not JSON: %q", out)
	}
	return out
}

// withPrev adds a prevResult to a netconf.
func withPrev(t *testing.T, conf []byte, result string) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(conf, &m); err != nil {
		t.Fatal(err)
	}
	var r any
	if err := json.Unmarshal([]byte(result), &r); err != nil {
		t.Fatal(err)
	}
	m["prevResult"] = r
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wantVeth derives the upstream host veth name independently of the code
// under test.
func wantVeth(prefix, namespace, pod string) string {
	h := sha1.Sum([]byte(namespace + "." + pod))
	return prefix + hex.EncodeToString(h[:])[:11]
}

func key(containerID string) rpcclient.PodKey {
	return rpcclient.PodKey{NetworkName: "aws-cni", ContainerID: containerID, IfName: "eth0"}
}

// cniCode returns the CNI error code of err (0 when not a *types.Error).
func cniCode(err error) uint {
	var te *types.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}

func mustContain(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s %q does not contain %q", what, got, w)
		}
	}
}
