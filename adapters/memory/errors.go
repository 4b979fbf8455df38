package memory

import (
	"strings"

	"github.com/vpc-cni/vpc-cni/core"
)

// EC2 error codes returned by the simulator. They are spelled exactly as EC2
// spells them, so the real EC2 adapter can share SentinelFor.
const (
	CodeAttachmentLimitExceeded           = "AttachmentLimitExceeded"
	CodePrivateIPAddressLimitExceeded     = "PrivateIpAddressLimitExceeded"
	CodeInsufficientFreeAddressesInSubnet = "InsufficientFreeAddressesInSubnet"
	CodeInsufficientCidrBlocks            = "InsufficientCidrBlocks"
	CodeENINotFound                       = "InvalidNetworkInterfaceID.NotFound"
	CodeENIInUse                          = "InvalidNetworkInterface.InUse"
	CodeSubnetNotFound                    = "InvalidSubnetID.NotFound"
	CodeInstanceNotFound                  = "InvalidInstanceID.NotFound"
	CodeAttachmentNotFound                = "InvalidAttachmentID.NotFound"
	CodeInvalidInstanceType               = "InvalidInstanceType"
	CodeInvalidParameterValue             = "InvalidParameterValue"
	CodeInvalidParameterCombination       = "InvalidParameterCombination"
	CodeMissingParameter                  = "MissingParameter"
	CodeIncorrectInstanceState            = "IncorrectInstanceState"
	CodeOperationNotPermitted             = "OperationNotPermitted"
	CodeRequestLimitExceeded              = "RequestLimitExceeded"
	CodeUnauthorizedOperation             = "UnauthorizedOperation"
	CodeInternalError                     = "InternalError"
)

// APIError is a failed EC2 request, shaped like the error the AWS SDK
// reports: the EC2 error code, its message, the operation and a request id.
// Unwrap returns the core sentinel for the code, so callers test the kind of
// failure with errors.Is(err, core.ErrSubnetFull) and friends.
type APIError struct {
	Code      string
	Message   string
	Operation string
	RequestID string
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("ec2 ")
	if e.Operation != "" {
		b.WriteString(e.Operation)
		b.WriteString(": ")
	}
	b.WriteString(e.Code)
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.RequestID != "" {
		b.WriteString(" (request id ")
		b.WriteString(e.RequestID)
		b.WriteString(")")
	}
	return b.String()
}

// Unwrap returns the core sentinel matching the code, or nil when the code
// has none (server-side errors, for example).
func (e *APIError) Unwrap() error { return SentinelFor(e.Code) }

// SentinelFor maps an EC2 error code to the core sentinel the node service
// reacts to. Unknown codes (including server-side ones such as InternalError)
// map to nil. Any code ending in ".NotFound" is a not-found error, any code
// ending in ".Malformed" an invalid parameter.
func SentinelFor(code string) error {
	switch code {
	case CodeAttachmentLimitExceeded:
		return core.ErrAttachmentLimit
	case CodePrivateIPAddressLimitExceeded:
		return core.ErrAddressLimit
	case CodeInsufficientFreeAddressesInSubnet:
		return core.ErrSubnetFull
	case CodeInsufficientCidrBlocks:
		return core.ErrNoFreePrefix
	case CodeInvalidInstanceType:
		return core.ErrNotFound
	case CodeENIInUse, CodeIncorrectInstanceState, CodeOperationNotPermitted, "IncorrectState":
		return core.ErrInvalidState
	case CodeInvalidParameterValue, CodeInvalidParameterCombination, CodeMissingParameter,
		"InvalidParameter", "InvalidID":
		return core.ErrInvalidParameter
	case CodeRequestLimitExceeded, "Throttling":
		return core.ErrThrottled
	case CodeUnauthorizedOperation, "AuthFailure":
		return core.ErrUnauthorized
	}
	switch {
	case strings.HasSuffix(code, ".NotFound"):
		return core.ErrNotFound
	case strings.HasSuffix(code, ".Malformed"):
		return core.ErrInvalidParameter
	}
	return nil
}

// fail builds an APIError without operation and request id; the request
// wrapper fills those in.
func fail(code, message string) *APIError {
	return &APIError{Code: code, Message: message}
}
