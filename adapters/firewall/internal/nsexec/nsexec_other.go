//go:build !linux

package nsexec

import (
	"errors"
	"fmt"
)

// Run calls fn directly when path is empty; other namespaces exist only on
// Linux.
func Run(path string, fn func() error) error {
	if path == "" {
		return fn()
	}
	return fmt.Errorf("enter network namespace %s: %w", path, errors.ErrUnsupported)
}
