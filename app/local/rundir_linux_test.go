package local

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseMountinfo(t *testing.T) {
	const info = `22 1 253:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
101 22 0:51 / /tmp/vpccni-local-1/node1/run rw,nosuid,nodev,noexec,relatime shared:60 - tmpfs vpccni-ab12-run rw,size=16384k,mode=755
102 22 0:52 / /tmp/vpccni\040local/node2/run rw,nosuid shared:61 - tmpfs vpccni-ab12-run rw
103 22 0:53 / /dev/shm rw,nosuid,nodev - tmpfs tmpfs rw
104 22 0:54 / /tmp/other/run rw - tmpfs vpccni-zz99-run rw
105 22 0:55 / /tmp/not-tmpfs rw - ext4 vpccni-ab12-run rw
malformed line without separator
`
	got, err := parseMountinfo(strings.NewReader(info), "vpccni-ab12-run")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/tmp/vpccni-local-1/node1/run", "/tmp/vpccni local/node2/run"}
	if !slices.Equal(got, want) {
		t.Errorf("mount points %q, want %q", got, want)
	}
}

func TestUnescapeMountinfo(t *testing.T) {
	for in, want := range map[string]string{
		`/a\040b`:   "/a b",
		`/tab\011x`: "/tab\tx",
		`/back\134`: `/back\`,
		`/short\04`: `/short\04`,
		`/plain`:    "/plain",
		`/bad\089`:  `/bad\089`,
	} {
		if got := unescapeMountinfo(in); got != want {
			t.Errorf("unescape %q = %q, want %q", in, got, want)
		}
	}
}

func TestCopyRegularFiles(t *testing.T) {
	src, dst := t.TempDir(), filepath.Join(t.TempDir(), "kept")
	if err := os.WriteFile(filepath.Join(src, "ipam.json"), []byte(`{"version":"vpc-cni-ipam/1"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(src, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := copyRegularFiles(src, dst); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dst, "ipam.json"))
	if err != nil || string(raw) != `{"version":"vpc-cni-ipam/1"}` {
		t.Errorf("copied checkpoint %q, %v", raw, err)
	}
	if _, err := os.Stat(filepath.Join(dst, "sub")); err == nil {
		t.Error("a directory was copied; only regular files should be")
	}
}
