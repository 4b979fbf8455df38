//go:build linux

package nsexec

import (
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// Run calls fn in the network namespace at path (for example
// /run/netns/NAME or /proc/PID/ns/net). An empty path runs fn directly in
// the caller's namespace.
//
// fn runs on its own goroutine, locked to an OS thread that has entered
// the namespace. Afterwards the thread returns to its original namespace
// and is released; if that fails the goroutine exits still locked, which
// makes the runtime discard the thread, so no other goroutine ever runs
// in the foreign namespace. (Restoring matters for the process's main
// thread, which the runtime cannot discard and which /proc/self reports.)
func Run(path string, fn func() error) error {
	if path == "" {
		return fn()
	}
	target, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open network namespace %s: %w", path, err)
	}
	defer target.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open current network namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter network namespace %s: %w", path, err)
			return
		}
		err = fn()
		// Back home before reporting, so that when Run returns no thread
		// of the process is left in the namespace.
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}
