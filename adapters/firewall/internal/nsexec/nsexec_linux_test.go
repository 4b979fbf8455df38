//go:build linux

package nsexec

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/vpc-cni/vpc-cni/adapters/firewall/internal/fwtest"
)

func threadNS(t *testing.T) string {
	t.Helper()
	id, err := os.Readlink("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestRootRunEntersNamespace(t *testing.T) {
	ns := fwtest.NewNetNS(t)
	st, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	// The namespace as seen from inside "ip netns exec".
	want := strings.TrimSpace(ns.Run(t, "readlink", "/proc/self/ns/net"))
	if want == st {
		t.Fatal("test namespace is the host namespace")
	}
	// Repeated, because the namespace leak this guards against only
	// shows when fn happens to run on the process's main thread.
	for range 20 {
		var inside, child string
		err = Run(ns.Path, func() error {
			inside = threadNS(t)
			out, err := exec.Command("readlink", "/proc/self/ns/net").Output()
			child = strings.TrimSpace(string(out))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if inside != want {
			t.Fatalf("thread namespace inside Run = %s, want %s", inside, want)
		}
		if child != want {
			t.Fatalf("child process namespace = %s, want %s", child, want)
		}
		if got, _ := os.Readlink("/proc/self/ns/net"); got != st {
			t.Fatalf("main thread left in namespace %s", got)
		}
		if got := threadNS(t); got != st {
			t.Fatalf("calling goroutine's thread in namespace %s", got)
		}
	}
}

func TestRunWithoutNamespace(t *testing.T) {
	called := false
	if err := Run("", func() error { called = true; return nil }); err != nil || !called {
		t.Fatalf("Run(\"\") = %v, called %v", err, called)
	}
	if err := Run("/nonexistent/netns", func() error { t.Error("fn called"); return nil }); err == nil {
		t.Error("Run with a missing namespace file succeeded")
	}
}
