//go:build !linux

package netns

import (
	"errors"
	"path/filepath"
)

// Dir is where named namespaces are bound on Linux.
const Dir = "/run/netns"

// ErrUnsupported: network namespaces exist only on Linux.
var ErrUnsupported = errors.New("network namespaces need Linux")

// Path returns the path of the named namespace name.
func Path(name string) string { return filepath.Join(Dir, name) }

// Do fails: network namespaces exist only on Linux.
func Do(path string, fn func() error) error { return ErrUnsupported }

// Exists is false off Linux.
func Exists(path string) bool { return false }

// Create fails: network namespaces exist only on Linux.
func Create(name string) (string, error) { return "", ErrUnsupported }

// Delete fails: network namespaces exist only on Linux.
func Delete(name string) error { return ErrUnsupported }
