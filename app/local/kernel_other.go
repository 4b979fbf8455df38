//go:build !linux

package local

import (
	"fmt"

	"github.com/vpc-cni/vpc-cni/core"
)

// newKernelBackend fails off Linux: the kernel mode needs network
// namespaces.
func newKernelBackend(*Cluster) (backend, error) {
	return nil, fmt.Errorf("kernel mode needs Linux network namespaces: %w", core.ErrInvalidState)
}
