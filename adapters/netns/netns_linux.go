package netns

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/vpc-cni/vpc-cni/core"
)

// Dir is where named namespaces are bound (as `ip netns` does).
const Dir = "/run/netns"

// Path returns the path of the named namespace name.
func Path(name string) string { return filepath.Join(Dir, name) }

// Do runs fn on an OS thread that is in the network namespace at path, and
// returns fn's error. The calling goroutine's thread is never touched.
// Goroutines that fn starts do not run in the namespace. A missing path
// yields an error wrapping core.ErrNotFound.
func Do(path string, fn func() error) error {
	target, err := vnetns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("open network namespace %s: %w", path, classify(err))
	}
	defer target.Close()
	return doIn(target, path, fn)
}

func doIn(target vnetns.NsHandle, name string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := vnetns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open current network namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := vnetns.Set(target); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter network namespace %s: %w", name, classify(err))
			return
		}
		ferr := fn()
		if err := vnetns.Set(orig); err != nil {
			// Leave the thread locked: when this goroutine returns, the
			// runtime ends the thread instead of reusing it in the wrong
			// namespace.
			errc <- errors.Join(ferr, fmt.Errorf("return from network namespace %s: %w", name, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Open opens the network namespace at path; the caller closes the handle.
// A missing path yields an error wrapping core.ErrNotFound, as from Do.
func Open(path string) (vnetns.NsHandle, error) {
	h, err := vnetns.GetFromPath(path)
	if err != nil {
		return vnetns.None(), fmt.Errorf("open network namespace %s: %w", path, classify(err))
	}
	return h, nil
}

// Exists reports whether path names a network namespace that can be opened.
func Exists(path string) bool {
	h, err := vnetns.GetFromPath(path)
	if err != nil {
		return false
	}
	h.Close()
	return true
}

// Create makes a new, empty network namespace bound at Path(name) and
// returns that path. It fails if the name is taken.
func Create(name string) (string, error) {
	if name == "" || filepath.Base(name) != name {
		return "", fmt.Errorf("create network namespace %q: %w: not a plain name", name, core.ErrInvalidParameter)
	}
	if err := os.MkdirAll(Dir, 0o755); err != nil {
		return "", fmt.Errorf("create network namespace %s: %w", name, err)
	}
	path := Path(name)
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := vnetns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open current network namespace: %w", err)
			return
		}
		defer orig.Close()
		// NewNamed unshares this thread into the new namespace and binds
		// it at Path(name).
		h, nerr := vnetns.NewNamed(name)
		if nerr == nil {
			h.Close()
		}
		if err := vnetns.Set(orig); err != nil {
			errc <- errors.Join(nerr, fmt.Errorf("return from new network namespace %s: %w", name, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- nerr
	}()
	if err := <-errc; err != nil {
		return "", fmt.Errorf("create network namespace %s: %w", name, classify(err))
	}
	return path, nil
}

// Delete unbinds and removes the named namespace. The namespace itself (and
// every link in it) goes away once nothing else holds it open. A name that
// does not exist is not an error.
func Delete(name string) error {
	path := Path(name)
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("unmount network namespace %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove network namespace %s: %w", path, err)
	}
	return nil
}

func classify(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, unix.ENOENT):
		return fmt.Errorf("%w: %w", core.ErrNotFound, err)
	case errors.Is(err, fs.ErrExist), errors.Is(err, unix.EEXIST):
		return fmt.Errorf("%w: %w", core.ErrDuplicate, err)
	case errors.Is(err, unix.EINVAL):
		return fmt.Errorf("%w: %w", core.ErrInvalidParameter, err)
	}
	return err
}
