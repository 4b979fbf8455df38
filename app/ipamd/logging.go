package ipamd

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/vpc-cni/vpc-cni/app/config"
)

// levelFatal is above Error: FATAL logs only what stops the agent.
const levelFatal = slog.LevelError + 4

func slogLevel(l config.LogLevel) slog.Level {
	switch l {
	case config.LogDebug:
		return slog.LevelDebug
	case config.LogWarn:
		return slog.LevelWarn
	case config.LogError:
		return slog.LevelError
	case config.LogFatal:
		return levelFatal
	default:
		return slog.LevelInfo
	}
}

// newLogger logs JSON lines to AWS_VPC_K8S_CNI_LOG_FILE ("stdout",
// "stderr" or a file, appended to, its directory created) at
// AWS_VPC_K8S_CNI_LOGLEVEL. The closer closes the file, if any.
func newLogger(env config.Env, stdout, stderr io.Writer) (*slog.Logger, io.Closer, error) {
	var w io.Writer
	var closer io.Closer = nopCloser{}
	switch env.LogFile {
	case "stdout":
		w = stdout
	case "stderr", "":
		w = stderr
	default:
		if err := os.MkdirAll(filepath.Dir(env.LogFile), 0o755); err != nil {
			return nil, nil, fmt.Errorf("create log directory for AWS_VPC_K8S_CNI_LOG_FILE=%s: %w", env.LogFile, err)
		}
		f, err := os.OpenFile(env.LogFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return nil, nil, fmt.Errorf("open log file AWS_VPC_K8S_CNI_LOG_FILE=%s: %w", env.LogFile, err)
		}
		w, closer = f, &onceCloser{c: f}
	}
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slogLevel(env.LogLevel)})
	return slog.New(h), closer, nil
}

// onceCloser closes once; later calls return nil.
type onceCloser struct {
	once sync.Once
	c    io.Closer
}

func (o *onceCloser) Close() error {
	var err error
	o.once.Do(func() { err = o.c.Close() })
	return err
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }
