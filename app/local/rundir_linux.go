package local

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// A node's /var/run is a tmpfs, and ipamd keeps its socket and checkpoint
// there. Each simulated node gets the same: a tmpfs on Node.RunDir, so the
// checkpoint's fsyncs cost what they cost on a node instead of what this
// machine's disk charges (about 0.7 ms per CNI ADD on the CI VM's ext4).
// The mounts live in this process's mount namespace; their source name
// carries the run's prefix so a later run can find and remove leftovers.

// runMountSource names the tmpfs mounts of the run with this prefix.
func runMountSource(prefix string) string { return prefix + "run" }

// mountRunDir mounts a small tmpfs on n.RunDir.
func (k *kernelBackend) mountRunDir(n *Node) error {
	if err := unix.Mount(runMountSource(k.prefix), n.RunDir, "tmpfs",
		unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0755,size=16m"); err != nil {
		return fmt.Errorf("%s: mount a tmpfs on %s (the node's /var/run): %w", n.Name, n.RunDir, err)
	}
	k.mounts = append(k.mounts, n)
	return nil
}

// unmountRunDirs removes the tmpfs mounts, after ipamd has stopped. With
// KeepWorkDir the files in them are copied to <node>/run.kept first, since
// unmounting discards them.
func (k *kernelBackend) unmountRunDirs() (failures []string) {
	for _, n := range k.mounts {
		if k.c.cfg.KeepWorkDir {
			if err := copyRegularFiles(n.RunDir, filepath.Join(n.Dir, "run.kept")); err != nil {
				failures = append(failures, fmt.Sprintf("%s: keep the files of %s: %v", n.Name, n.RunDir, err))
			}
		}
		if err := unmount(n.RunDir); err != nil {
			failures = append(failures, fmt.Sprintf("%s: %v", n.Name, err))
		}
	}
	k.mounts = nil
	return failures
}

// unmount unmounts dir, lazily if it is busy.
func unmount(dir string) error {
	err := unix.Unmount(dir, 0)
	if errors.Is(err, unix.EBUSY) {
		err = unix.Unmount(dir, unix.MNT_DETACH)
	}
	if err != nil {
		return fmt.Errorf("unmount %s: %w", dir, err)
	}
	return nil
}

// runMounts lists the mount points of tmpfs mounts named source, from
// /proc/self/mountinfo.
func runMounts(source string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseMountinfo(f, source)
}

// parseMountinfo returns the mount points of tmpfs mounts whose source is
// source. A line is "id parent major:minor root mountpoint options
// [optional fields...] - fstype source superoptions"; the mount point is
// octal-escaped (\040 for a space).
func parseMountinfo(r io.Reader, source string) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 2 || g[0] != "tmpfs" || g[1] != source {
			continue
		}
		out = append(out, unescapeMountinfo(f[4]))
	}
	return out, sc.Err()
}

func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// removeStaleMounts unmounts the tmpfs mounts a killed earlier run with
// this prefix left behind, and returns their mount points.
func removeStaleMounts(prefix string) []string {
	points, _ := runMounts(runMountSource(prefix))
	var removed []string
	for _, p := range points {
		if unmount(p) == nil {
			removed = append(removed, p)
		}
	}
	return removed
}

// mountResidue lists the run's tmpfs mounts that are still there.
func mountResidue(prefix string) []string {
	points, err := runMounts(runMountSource(prefix))
	if err != nil {
		return []string{"mounts: cannot read /proc/self/mountinfo: " + err.Error()}
	}
	out := make([]string, 0, len(points))
	for _, p := range points {
		out = append(out, "mount "+p)
	}
	return out
}

// copyRegularFiles copies the regular files of src (not sockets) into dst.
func copyRegularFiles(src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err == nil {
			err = os.WriteFile(filepath.Join(dst, e.Name()), raw, 0o600)
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
