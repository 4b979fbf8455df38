package cniplugin

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
)

// maxLogSize is the size past which the plugin log is moved to <file>.1
// (replacing the previous one) before a command appends to it, so the log
// stays bounded without a rotation daemon.
var maxLogSize int64 = 100 << 20

// openLog returns the invocation's logger: a text log appended to the
// configured file (its directory created when missing) or written to
// stderr. Stdout never gets log lines; it carries the CNI result. The
// returned func closes the file.
func openLog(file string, level slog.Level, stderr io.Writer) (*slog.Logger, func(), error) {
	opts := &slog.HandlerOptions{Level: level}
	if file == "stderr" {
		return slog.New(slog.NewTextHandler(stderr, opts)), func() {}, nil
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return nil, nil, fmt.Errorf("create plugin log directory: %w", err)
	}
	if fi, err := os.Stat(file); err == nil && fi.Size() > maxLogSize {
		// Concurrent invocations may race here; the loser's rename fails
		// or moves a fresh file, costing at most a few lines.
		_ = os.Rename(file, file+".1")
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("open plugin log: %w", err)
	}
	return slog.New(slog.NewTextHandler(f, opts)), func() { _ = f.Close() }, nil
}
