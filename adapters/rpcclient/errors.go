package rpcclient

import (
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"

	"github.com/vpc-cni/vpc-cni/core"
)

var (
	// ErrUnavailable: ipamd is not running, not listening, or did not
	// answer in time.
	ErrUnavailable = errors.New("ipamd unavailable")
	// ErrVersionMismatch: ipamd refused the request because the plugin
	// comes from another release (gRPC FailedPrecondition).
	ErrVersionMismatch = errors.New("ipamd refused the plugin version")
	// ErrUnimplemented: ipamd does not have the call (an upstream ipamd
	// asked for ListAllocations).
	ErrUnimplemented = errors.New("ipamd does not implement the call")
)

// mapError turns a gRPC error into one wrapping a sentinel, keeping ipamd's
// message. Unknown pods are recognised by code NotFound (this project's
// ipamd) or by the text "unknown pod" (upstream's ipamd sends
// "datastore: unknown pod" with code Unknown).
func mapError(err error) error {
	code, msg, ok := statusOf(err)
	if !ok {
		return err
	}
	switch code {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		return fmt.Errorf("%w: %s", ErrUnavailable, msg)
	case codes.FailedPrecondition:
		return fmt.Errorf("%w: %s", ErrVersionMismatch, msg)
	case codes.Unimplemented:
		return fmt.Errorf("%w: %s", ErrUnimplemented, msg)
	case codes.ResourceExhausted:
		return fmt.Errorf("%w: %s", core.ErrNoAvailableAddress, msg)
	case codes.NotFound:
		return fmt.Errorf("%w: %s", core.ErrUnknownPod, msg)
	}
	if strings.Contains(msg, "unknown pod") {
		return fmt.Errorf("%w: %s", core.ErrUnknownPod, msg)
	}
	return fmt.Errorf("ipamd returned %s: %s", code, msg)
}

// StatusError is a gRPC status as an error a Conn returns.
func StatusError(code codes.Code, msg string) error { return &callError{code, msg} }

// statusOf returns the gRPC status code and message carried by an error
// (made by StatusError or the direct transport); ok is false for errors
// that carry none.
func statusOf(err error) (code codes.Code, msg string, ok bool) {
	var ce *callError
	if errors.As(err, &ce) {
		return ce.code, ce.msg, true
	}
	return codes.Unknown, "", false
}
