package cniplugin

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
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
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: utcTime}
	if file == "stderr" {
		return slog.New(slog.NewTextHandler(stderr, opts)), func() {}, nil
	}
	// Open first: the directory and a small file are the common case, and
	// then one open and one fstat are all a command pays.
	f, err := appendTo(file)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			return nil, nil, fmt.Errorf("create plugin log directory: %w", err)
		}
		f, err = appendTo(file)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("open plugin log: %w", err)
	}
	if fi, err := f.Stat(); err == nil && fi.Size() > maxLogSize {
		rotate(file, fi)
		_ = f.Close()
		if f, err = appendTo(file); err != nil {
			return nil, nil, fmt.Errorf("open plugin log: %w", err)
		}
	}
	return slog.New(slog.NewTextHandler(f, opts)), func() { _ = f.Close() }, nil
}

// rotate moves file to file.1 if file is still the one measured. Plugin
// processes run concurrently: when another one has rotated since this one
// opened the log, file is a fresh log, and moving it would replace the
// whole rotated log with it. (Another process can still rotate between
// the check and the rename; the window is a few microseconds.)
func rotate(file string, measured os.FileInfo) {
	cur, err := os.Stat(file)
	if err != nil || !os.SameFile(cur, measured) {
		return
	}
	_ = os.Rename(file, file+".1")
}

func appendTo(file string) (*os.File, error) {
	return os.OpenFile(file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
}

// utcTime writes a record's time in UTC, which reads the same on every
// node. Local time would also make every plugin process load the node's
// zone file (/etc/localtime) for its first log line.
func utcTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey && a.Value.Kind() == slog.KindTime {
		a.Value = slog.TimeValue(a.Value.Time().UTC())
	}
	return a
}
