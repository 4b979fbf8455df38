package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vpc-cni/vpc-cni/adapters/rpcclient"
	"github.com/vpc-cni/vpc-cni/adapters/rpcclient/fakeipamd"
	"github.com/vpc-cni/vpc-cni/app/cniplugin"
	"github.com/vpc-cni/vpc-cni/app/version"
)

// testVersion is stamped into the test binary the way releases are.
const testVersion = "v9.8.7-test"

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "aws-cni-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "aws-cni")
	cmd := exec.Command("go", "build", "-tags="+version.BuildTags, "-o", binary,
		"-ldflags", "-X github.com/vpc-cni/vpc-cni/app/version.Version="+testVersion, ".")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		os.RemoveAll(dir)
		panic("build aws-cni: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type run struct {
	stdout, stderr string
	exit           int
}

func exec1(t *testing.T, env map[string]string, stdin []byte) run {
	t.Helper()
	cmd := exec.Command(binary)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := run{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.exit = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return r
}

func netconf(t *testing.T, cniVersion, socket, logFile string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"cniVersion": cniVersion, "name": "aws-cni", "type": "aws-cni",
		"vethPrefix": "eni", "mtu": "9001",
		"pluginLogFile": logFile, "pluginLogLevel": "Debug",
		"ipamdSocket": socket,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func podEnv(command string) map[string]string {
	return map[string]string{
		"CNI_COMMAND":     command,
		"CNI_CONTAINERID": "0123456789abcdef",
		"CNI_IFNAME":      "eth0",
		"CNI_PATH":        "/opt/cni/bin",
		"CNI_ARGS":        "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=0123456789abcdef",
	}
}

func TestVersionCommand(t *testing.T) {
	r := exec1(t, map[string]string{"CNI_COMMAND": "VERSION"}, nil)
	if r.exit != 0 {
		t.Fatalf("VERSION exited %d: %s %s", r.exit, r.stdout, r.stderr)
	}
	var got struct {
		CNIVersion        string   `json:"cniVersion"`
		SupportedVersions []string `json:"supportedVersions"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("VERSION output %q: %v", r.stdout, err)
	}
	want := []string{"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"}
	if !slices.Equal(got.SupportedVersions, want) {
		t.Errorf("supportedVersions = %v, want %v", got.SupportedVersions, want)
	}
	if !slices.Equal(cniplugin.SupportedVersions, want) {
		t.Errorf("cniplugin.SupportedVersions = %v, want %v", cniplugin.SupportedVersions, want)
	}
}

func TestAboutShowsStampedVersion(t *testing.T) {
	r := exec1(t, nil, nil)
	if !strings.Contains(r.stderr, "aws-cni (vpc-cni) "+testVersion) {
		t.Errorf("about text %q lacks the version set with -ldflags -X (%s)", r.stderr, testVersion)
	}
	if r.stdout != "" {
		t.Errorf("stdout = %q, want nothing", r.stdout)
	}
}

func TestDelWithIpamdDownAndNoPrevResult(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "log", "plugin.log")
	r := exec1(t, podEnv("DEL"), netconf(t, "1.0.0", filepath.Join(dir, "missing.sock"), logFile))
	if r.exit != 0 {
		t.Fatalf("DEL exited %d: stdout %q stderr %q", r.exit, r.stdout, r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("DEL printed %q", r.stdout)
	}
	log, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatalf("no plugin log: %v", err)
	}
	if !strings.Contains(string(log), "missing.sock") || !strings.Contains(string(log), "command=DEL") {
		t.Errorf("plugin log does not record the unreachable ipamd:\n%s", log)
	}
}

func TestAddWithIpamdDownPrintsCNIError(t *testing.T) {
	dir := t.TempDir()
	env := podEnv("ADD")
	env["CNI_NETNS"] = "/var/run/netns/does-not-exist"
	r := exec1(t, env, netconf(t, "1.0.0", filepath.Join(dir, "missing.sock"), filepath.Join(dir, "plugin.log")))
	if r.exit == 0 {
		t.Fatalf("ADD without ipamd succeeded: %q", r.stdout)
	}
	var got struct {
		Code uint   `json:"code"`
		Msg  string `json:"msg"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("stdout %q is not a CNI error: %v", r.stdout, err)
	}
	if got.Code != 11 || !strings.Contains(got.Msg, "default/web") || !strings.Contains(got.Msg, "missing.sock") {
		t.Errorf("error = %+v, want code 11 (try again later) naming the pod and the socket", got)
	}
}

func TestStatusAndGCAgainstIpamd(t *testing.T) {
	dir, err := os.MkdirTemp("", "awscni") // short: socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s, err := fakeipamd.New(fakeipamd.Config{SocketPath: filepath.Join(dir, "ipamd.sock"), ServerVersion: testVersion,
		Addresses: []fakeipamd.Address{{Addr: mustAddr("10.0.1.10")}, {Addr: mustAddr("10.0.1.11")}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	logFile := filepath.Join(dir, "plugin.log")
	env := map[string]string{"CNI_COMMAND": "STATUS", "CNI_PATH": "/opt/cni/bin"}
	if r := exec1(t, env, netconf(t, "1.1.0", s.SocketPath(), logFile)); r.exit != 0 {
		t.Fatalf("STATUS exited %d: %q %q", r.exit, r.stdout, r.stderr)
	}

	for _, id := range []string{"live", "gone"} {
		if _, err := s.Preassign(rpcclient.PodKey{NetworkName: "aws-cni", ContainerID: id, IfName: "eth0"}, rpcclient.Pod{}); err != nil {
			t.Fatal(err)
		}
	}
	var conf map[string]any
	_ = json.Unmarshal(netconf(t, "1.1.0", s.SocketPath(), logFile), &conf)
	conf["cni.dev/valid-attachments"] = []map[string]string{{"containerID": "live", "ifname": "eth0"}}
	gcConf, _ := json.Marshal(conf)
	env["CNI_COMMAND"] = "GC"
	if r := exec1(t, env, gcConf); r.exit != 0 {
		t.Fatalf("GC exited %d: %q %q", r.exit, r.stdout, r.stderr)
	}
	got := s.Assigned()
	if _, ok := got[rpcclient.PodKey{NetworkName: "aws-cni", ContainerID: "live", IfName: "eth0"}]; !ok || len(got) != 1 {
		t.Errorf("after GC ipamd holds %v, want only the live container", got)
	}
	// The stamped version went over the wire and passed the handshake.
	for _, r := range s.Requests() {
		if r.ClientVersion != testVersion {
			t.Errorf("%s sent version %q, want %q", r.Method, r.ClientVersion, testVersion)
		}
	}

	s.Close()
	env["CNI_COMMAND"] = "STATUS"
	r := exec1(t, env, netconf(t, "1.1.0", s.SocketPath(), logFile))
	var cniErr struct {
		Code uint   `json:"code"`
		Msg  string `json:"msg"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &cniErr); err != nil {
		t.Fatalf("STATUS with ipamd down printed %q: %v", r.stdout, err)
	}
	if r.exit == 0 || cniErr.Code != 50 || !strings.Contains(cniErr.Msg, "unreachable") {
		t.Errorf("STATUS with ipamd down: exit %d, error %+v; want code 50 saying ipamd is unreachable", r.exit, cniErr)
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
