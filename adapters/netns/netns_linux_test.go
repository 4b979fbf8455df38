package netns

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	vnetns "github.com/vishvananda/netns"

	"github.com/vpc-cni/vpc-cni/core"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces")
	}
}

func uniqueName(t *testing.T) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "vpccni-nstest-" + hex.EncodeToString(b)
}

// interfaces lists the interface names seen from the current thread.
func interfaces(t *testing.T) []string {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, i := range ifs {
		names = append(names, i.Name)
	}
	return names
}

func TestCreateDoDelete(t *testing.T) {
	needRoot(t)
	name := uniqueName(t)
	path, err := Create(name)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() { _ = Delete(name) })
	if path != Path(name) || !Exists(path) {
		t.Fatalf("Create = %q; Exists = %v", path, Exists(path))
	}
	if _, err := Create(name); !errors.Is(err, core.ErrDuplicate) {
		t.Errorf("second Create = %v, want ErrDuplicate", err)
	}

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before, err := vnetns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close()

	var inside []string
	var insideNS vnetns.NsHandle
	if err := Do(path, func() error {
		insideNS, _ = vnetns.Get()
		inside = interfaces(t)
		return nil
	}); err != nil {
		t.Fatalf("Do: %v", err)
	}
	defer insideNS.Close()
	if len(inside) != 1 || inside[0] != "lo" {
		t.Errorf("interfaces inside a new namespace = %v, want [lo]", inside)
	}
	if insideNS.Equal(before) {
		t.Error("Do ran fn in the caller's namespace")
	}
	after, err := vnetns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer after.Close()
	if !after.Equal(before) {
		t.Error("the calling thread changed namespace")
	}

	wantErr := errors.New("boom")
	if err := Do(path, func() error { return wantErr }); !errors.Is(err, wantErr) {
		t.Errorf("Do error = %v, want fn's error", err)
	}

	if err := Delete(name); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if Exists(path) {
		t.Error("namespace still exists after Delete")
	}
	if err := Delete(name); err != nil {
		t.Errorf("Delete of a missing namespace = %v, want nil", err)
	}
	if err := Do(path, func() error { return nil }); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Do on a deleted namespace = %v, want ErrNotFound", err)
	}
}

func TestCreateRejectsPaths(t *testing.T) {
	for _, name := range []string{"", "a/b", "../x"} {
		if _, err := Create(name); !errors.Is(err, core.ErrInvalidParameter) {
			t.Errorf("Create(%q) = %v, want ErrInvalidParameter", name, err)
		}
	}
}

func TestOpen(t *testing.T) {
	if _, err := Open(filepath.Join(t.TempDir(), "gone")); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("Open of a missing path = %v, want ErrNotFound", err)
	}
	// The process's own namespace is always there.
	h, err := Open("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	cur, err := vnetns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close()
	if !h.Equal(cur) {
		t.Errorf("Open(/proc/self/ns/net) = %s, want this thread's namespace %s", h, cur)
	}
}
