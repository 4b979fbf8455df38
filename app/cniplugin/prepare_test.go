package cniplugin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/types"
	"google.golang.org/grpc/codes"

	"github.com/vpc-cni/vpc-cni/adapters/lazyctx"
	"github.com/vpc-cni/vpc-cni/adapters/rpcclient/fakeipamd"
	"github.com/vpc-cni/vpc-cni/ports"
)

// The veth pair is prepared while ipamd is asked: PreparePod here waits
// until ipamd has received AddNetwork, which would never happen if the
// plugin prepared before asking. The result is what a plain ADD prints.
func TestAddPreparesWhileAskingIpamd(t *testing.T) {
	plain := newEnv(t, fakeipamd.Config{})
	want := plain.addOK(args("c1", plain.conf("1.0.0", nil)))

	e := newEnv(t, fakeipamd.Config{})
	p, err := New(Config{Stdout: e.stdout, Stderr: e.stderr, Timeout: 30 * time.Second}, e.pods)
	if err != nil {
		t.Fatal(err)
	}
	e.plugin = p
	e.pods.beforePrepare = func(ctx context.Context) error {
		for {
			for _, r := range e.ipamd.Requests() {
				if r.Method == "AddNetwork" {
					return nil
				}
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("ipamd never got AddNetwork while the pair was being prepared: %w", ctx.Err())
			case <-time.After(time.Millisecond):
			}
		}
	}
	got := e.addOK(args("c1", e.conf("1.0.0", nil)))
	if got != want {
		t.Errorf("ADD printed\n%s\nwant\n%s", got, want)
	}
	if calls := e.pods.callList(); calls != "PreparePod SetupPod" {
		t.Errorf("datapath calls = %q, want PreparePod then SetupPod", calls)
	}
	if got, want := e.pods.state(), plain.pods.state(); got != want {
		t.Errorf("datapath:\n%s\nwant:\n%s", got, want)
	}
}

// The command's deadline starts no timer before the pair is prepared: a
// live timer would have an idle scheduler thread woken by every netlink
// reply of the preparation (see adapters/lazyctx).
func TestAddPreparesWithoutTimer(t *testing.T) {
	e := newEnv(t, fakeipamd.Config{})
	lazy := false
	e.pods.beforePrepare = func(ctx context.Context) error {
		lazy = lazyctx.Lazy(ctx)
		if _, ok := ctx.Deadline(); !ok {
			return errors.New("the command context has no deadline")
		}
		return nil
	}
	e.addOK(args("c1", e.conf("1.0.0", nil)))
	if !lazy {
		t.Error("the command's deadline had started a timer before PreparePod")
	}
}

// Whatever way ipamd says no, the pair prepared meanwhile is removed; when
// ipamd cannot even be reached, the datapath is not touched at all.
func TestAddIpamdRefusalRemovesPreparedPair(t *testing.T) {
	tests := []struct {
		name  string
		fail  fakeipamd.Failure
		down  bool
		cfg   fakeipamd.Config
		calls string
	}{
		{name: "no address", fail: fakeipamd.Failure{NoSuccess: true}, calls: "PreparePod TeardownPod"},
		{name: "error", fail: fakeipamd.Failure{Code: codes.Internal, Message: "checkpoint not writable"}, calls: "PreparePod TeardownPod"},
		{name: "unavailable", fail: fakeipamd.Failure{Code: codes.Unavailable, Message: "shutting down"}, calls: "PreparePod TeardownPod"},
		{name: "version mismatch", cfg: fakeipamd.Config{ServerVersion: "v9.9.9"}, calls: "PreparePod TeardownPod"},
		{name: "ipamd down", down: true, calls: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.cfg)
			e.ipamd.FailAdd(tt.fail)
			if tt.down {
				e.ipamd.Close()
			}
			if _, err := e.run(e.plugin.Add, args("c1", e.conf("1.0.0", nil))); err == nil {
				t.Fatal("ADD succeeded")
			}
			if calls := e.pods.callList(); calls != tt.calls {
				t.Errorf("datapath calls = %q, want %q", calls, tt.calls)
			}
			if got := e.pods.state(); got != "" {
				t.Errorf("prepared pair left behind: %s", got)
			}
		})
	}
}

// Both sides fail: the error names both, nothing is left.
func TestAddPrepareAndIpamdFail(t *testing.T) {
	e := newEnv(t, fakeipamd.Config{})
	e.ipamd.FailAdd(fakeipamd.Failure{Code: codes.Internal, Message: "checkpoint not writable"})
	e.pods.failPrepare = errors.New("netns: no such file")
	_, err := e.run(e.plugin.Add, args("c1", e.conf("1.0.0", nil)))
	if got := cniCode(err); got != types.ErrInternal {
		t.Fatalf("CNI error code = %d, want %d (%v)", got, types.ErrInternal, err)
	}
	mustContain(t, "error", err.Error(), "checkpoint not writable", "preparing the veth pair failed as well", "netns: no such file")
	if got := e.pods.state(); got != "" {
		t.Errorf("half-prepared pair left behind: %s", got)
	}
}

// ipamd gave an address but the pair could not be prepared: the address
// goes back, as when wiring fails, and nothing is left.
func TestAddPrepareFailureReleasesAddress(t *testing.T) {
	e := newEnv(t, fakeipamd.Config{})
	e.pods.failPrepare = errors.New("veth: file exists")
	_, err := e.run(e.plugin.Add, args("c1", e.conf("1.0.0", nil)))
	if got := cniCode(err); got != types.ErrInternal {
		t.Fatalf("CNI error code = %d, want %d (%v)", got, types.ErrInternal, err)
	}
	mustContain(t, "error", err.Error(), "default/web", "10.0.1.10", "prepare veth pair", "veth: file exists", "address released")
	if got := e.ipamd.Assigned(); len(got) != 0 {
		t.Errorf("ipamd still holds %v", got)
	}
	reqs := e.ipamd.Requests()
	if last := reqs[len(reqs)-1]; last.Method != "DelNetwork" || last.Reason != ReasonSetupFailed || last.Key != key("c1") {
		t.Errorf("last ipamd request = %+v, want DelNetwork %s for c1", last, ReasonSetupFailed)
	}
	if calls := e.pods.callList(); calls != "PreparePod TeardownPod" {
		t.Errorf("datapath calls = %q, want no SetupPod after a failed PreparePod", calls)
	}
	if got := e.pods.state(); got != "" {
		t.Errorf("half-prepared pair left behind: %s", got)
	}
	if e.stdout.Len() != 0 {
		t.Errorf("failed ADD printed %q", e.stdout.String())
	}
}

// The datapath cannot be opened at all: the address goes back.
func TestAddDatapathOpenFailureReleasesAddress(t *testing.T) {
	e := newEnv(t, fakeipamd.Config{})
	opens := 0
	p, err := NewWithOpener(Config{Stdout: e.stdout, Stderr: e.stderr}, func(*slog.Logger) (ports.PodNetwork, func(), error) {
		opens++
		return nil, nil, errors.New("netlink: protocol not supported")
	})
	if err != nil {
		t.Fatal(err)
	}
	e.plugin = p
	_, err = e.run(e.plugin.Add, args("c1", e.conf("1.0.0", nil)))
	mustContain(t, "error", fmt.Sprint(err), "open pod datapath", "protocol not supported", "address released")
	if got := e.ipamd.Assigned(); len(got) != 0 {
		t.Errorf("ipamd still holds %v", got)
	}
	if opens == 0 {
		t.Error("the datapath was never opened")
	}
	log, _ := os.ReadFile(e.logFile)
	mustContain(t, "plugin log", string(log), "command failed")
}

// The wiring fails and ipamd went away after answering: the address cannot
// be given back now, and the error says that ipamd reclaims it later.
func TestAddWiringFailureWithIpamdGone(t *testing.T) {
	e := newEnv(t, fakeipamd.Config{})
	e.pods.failSetup = errors.New("route: network is down")
	e.pods.beforeSetup = e.ipamd.Close
	_, err := e.run(e.plugin.Add, args("c1", e.conf("1.0.0", nil)))
	mustContain(t, "error", fmt.Sprint(err), "10.0.1.10", "route: network is down", "releasing the address failed too", "reclaims it later")
	if got := e.pods.state(); got != "" {
		t.Errorf("half-built pod left behind: %s", got)
	}
}
