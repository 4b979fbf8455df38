package memory

import (
	"errors"
	"strings"
	"testing"

	"github.com/vpc-cni/vpc-cni/core"
)

func TestSentinelFor(t *testing.T) {
	tests := []struct {
		code string
		want error
	}{
		{"AttachmentLimitExceeded", core.ErrAttachmentLimit},
		{"PrivateIpAddressLimitExceeded", core.ErrAddressLimit},
		{"InsufficientFreeAddressesInSubnet", core.ErrSubnetFull},
		{"InsufficientCidrBlocks", core.ErrNoFreePrefix},
		{"InvalidNetworkInterfaceID.NotFound", core.ErrNotFound},
		{"InvalidNetworkInterface.InUse", core.ErrInvalidState},
		{"InvalidSubnetID.NotFound", core.ErrNotFound},
		{"InvalidInstanceID.NotFound", core.ErrNotFound},
		{"InvalidAttachmentID.NotFound", core.ErrNotFound},
		{"InvalidInstanceType", core.ErrNotFound},
		{"InvalidParameterValue", core.ErrInvalidParameter},
		{"InvalidParameterCombination", core.ErrInvalidParameter},
		{"MissingParameter", core.ErrInvalidParameter},
		{"InvalidNetworkInterfaceID.Malformed", core.ErrInvalidParameter},
		{"IncorrectInstanceState", core.ErrInvalidState},
		{"OperationNotPermitted", core.ErrInvalidState},
		{"RequestLimitExceeded", core.ErrThrottled},
		{"UnauthorizedOperation", core.ErrUnauthorized},
		{"AuthFailure", core.ErrUnauthorized},
		{"InvalidVpcID.NotFound", core.ErrNotFound},
		{"InternalError", nil},
		{"Unavailable", nil},
		{"", nil},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			if got := SentinelFor(tt.code); got != tt.want {
				t.Fatalf("SentinelFor(%q) = %v, want %v", tt.code, got, tt.want)
			}
			err := error(&APIError{Code: tt.code, Operation: OpAttachNetworkInterface, RequestID: "r-1"})
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("errors.Is(APIError{%s}, %v) = false", tt.code, tt.want)
			}
			if tt.want == nil && errors.Unwrap(err) != nil {
				t.Fatalf("APIError{%s} unwraps to %v, want nil", tt.code, errors.Unwrap(err))
			}
		})
	}
}

// Each code unwraps to exactly one sentinel: a subnet-full error must not
// look like a throttle.
func TestSentinelsAreDistinct(t *testing.T) {
	all := []error{core.ErrAttachmentLimit, core.ErrAddressLimit, core.ErrSubnetFull, core.ErrNoFreePrefix,
		core.ErrNotFound, core.ErrInvalidState, core.ErrInvalidParameter, core.ErrThrottled, core.ErrUnauthorized}
	for _, code := range []string{CodeAttachmentLimitExceeded, CodePrivateIPAddressLimitExceeded,
		CodeInsufficientFreeAddressesInSubnet, CodeInsufficientCidrBlocks, CodeENINotFound, CodeENIInUse,
		CodeInvalidParameterValue, CodeRequestLimitExceeded, CodeUnauthorizedOperation} {
		err := &APIError{Code: code}
		n := 0
		for _, s := range all {
			if errors.Is(err, s) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s matches %d sentinels, want 1", code, n)
		}
	}
}

func TestAPIErrorText(t *testing.T) {
	err := &APIError{Code: CodeInsufficientCidrBlocks, Message: "no room", Operation: OpAssignPrivateIPAddresses, RequestID: "abc"}
	got := err.Error()
	for _, want := range []string{"InsufficientCidrBlocks", "AssignPrivateIpAddresses", "no room", "abc"} {
		if !strings.Contains(got, want) {
			t.Errorf("Error() = %q, missing %q", got, want)
		}
	}
}
