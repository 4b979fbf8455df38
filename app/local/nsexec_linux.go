package local

import (
	"bytes"
	"context"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/vpc-cni/vpc-cni/adapters/netns"
)

// nsExec executes plugins as libcni's default executor does, from a thread
// inside the node's network namespace, so the plugin starts there: the
// node namespace is the "host" a runtime would run in.
type nsExec struct {
	path string
}

func (e *nsExec) ExecPlugin(ctx context.Context, pluginPath string, stdin []byte, environ []string) ([]byte, error) {
	var out []byte
	var perr error
	var stderr bytes.Buffer
	raw := invoke.RawExec{Stderr: &stderr}
	if err := netns.Do(e.path, func() error {
		timeExec(ctx, func() { out, perr = raw.ExecPlugin(ctx, pluginPath, stdin, environ) })
		return nil
	}); err != nil {
		return nil, err
	}
	return out, perr
}

func (e *nsExec) FindInPath(plugin string, paths []string) (string, error) {
	return invoke.FindInPath(plugin, paths)
}

func (e *nsExec) Decode(b []byte) (version.PluginInfo, error) {
	return (&version.PluginDecoder{}).Decode(b)
}
