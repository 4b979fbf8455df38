package ec2

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/smithy-go"

	"github.com/vpc-cni/vpc-cni/adapters/memory"
)

// classify wraps an SDK error of operation op. When the EC2 error code has a
// core sentinel (memory.SentinelFor holds the one code-to-sentinel table,
// shared with the simulator) both the sentinel and the SDK error are
// reachable with errors.Is / errors.As:
//
//	ec2 AttachNetworkInterface: instance ENI attachment limit reached: operation error EC2: ...
//
// This is the only place EC2 error codes are interpreted.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	if s := memory.SentinelFor(ErrorCode(err)); s != nil {
		return fmt.Errorf("ec2 %s: %w: %w", op, s, err)
	}
	return fmt.Errorf("ec2 %s: %w", op, err)
}

// ErrorCode returns the EC2 error code carried by err ("RequestLimitExceeded",
// "InvalidNetworkInterfaceID.NotFound", ...), or "" when err is not an API
// error.
func ErrorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

// httpStatus returns the HTTP status of the response that failed, "200" for
// a nil error and "0" when no response was received (network error,
// cancelled context).
func httpStatus(err error) string {
	if err == nil {
		return "200"
	}
	var resp interface{ HTTPStatusCode() int }
	if errors.As(err, &resp) {
		return strconv.Itoa(resp.HTTPStatusCode())
	}
	return "0"
}

// errorLabel names the kind of a failure for metrics: the EC2 error code
// when there is one, else a coarse class.
func errorLabel(err error) string {
	if code := ErrorCode(err); code != "" {
		return code
	}
	switch {
	case errors.Is(err, context.Canceled):
		return "Canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "DeadlineExceeded"
	}
	return "Other"
}
