package ec2

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/smithy-go"

	"github.com/vpc-cni/vpc-cni/core"
)

func TestErrorClassification(t *testing.T) {
	all := []error{core.ErrThrottled, core.ErrSubnetFull, core.ErrNoFreePrefix, core.ErrAttachmentLimit, core.ErrAddressLimit,
		core.ErrUnauthorized, core.ErrNotFound, core.ErrInvalidState, core.ErrInvalidParameter}
	tests := []struct {
		code   string
		status int
		want   error // nil: no sentinel
	}{
		{"RequestLimitExceeded", http.StatusServiceUnavailable, core.ErrThrottled},
		{"Throttling", http.StatusBadRequest, core.ErrThrottled},
		{"InsufficientFreeAddressesInSubnet", http.StatusBadRequest, core.ErrSubnetFull},
		{"InsufficientCidrBlocks", http.StatusBadRequest, core.ErrNoFreePrefix},
		{"AttachmentLimitExceeded", http.StatusBadRequest, core.ErrAttachmentLimit},
		{"PrivateIpAddressLimitExceeded", http.StatusBadRequest, core.ErrAddressLimit},
		{"UnauthorizedOperation", http.StatusForbidden, core.ErrUnauthorized},
		{"AuthFailure", http.StatusUnauthorized, core.ErrUnauthorized},
		{"InvalidNetworkInterfaceID.NotFound", http.StatusBadRequest, core.ErrNotFound},
		{"InvalidAttachmentID.NotFound", http.StatusBadRequest, core.ErrNotFound},
		{"InvalidSubnetID.NotFound", http.StatusBadRequest, core.ErrNotFound},
		{"InvalidNetworkInterface.InUse", http.StatusBadRequest, core.ErrInvalidState},
		{"IncorrectState", http.StatusBadRequest, core.ErrInvalidState},
		{"InvalidParameterValue", http.StatusBadRequest, core.ErrInvalidParameter},
		{"InternalError", http.StatusInternalServerError, nil},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			f := newFakeEC2(t)
			c := newTestClient(t, f)
			f.fail(OpDeleteNetworkInterface, tt.status, tt.code)
			err := c.DeleteENI(context.Background(), "eni-1")
			if err == nil {
				t.Fatal("DeleteENI succeeded against an error answer")
			}
			for _, s := range all {
				if got := errors.Is(err, s); got != (s == tt.want) {
					t.Errorf("errors.Is(err, %q) = %v; err = %v", s, got, err)
				}
			}
			var apiErr smithy.APIError
			if !errors.As(err, &apiErr) || apiErr.ErrorCode() != tt.code {
				t.Errorf("API error code not reachable: %v", err)
			}
			if ErrorCode(err) != tt.code {
				t.Errorf("ErrorCode = %q, want %q", ErrorCode(err), tt.code)
			}
			if !strings.HasPrefix(err.Error(), "ec2 DeleteNetworkInterface: ") {
				t.Errorf("error %q does not name the operation", err)
			}
			if got := httpStatus(err); got != strconv.Itoa(tt.status) {
				t.Errorf("httpStatus = %q, want %d", got, tt.status)
			}
		})
	}
}

func TestErrorLabels(t *testing.T) {
	tests := []struct {
		err        error
		label, sts string
	}{
		{nil, "Other", "200"},
		{&smithy.GenericAPIError{Code: "RequestLimitExceeded"}, "RequestLimitExceeded", "0"},
		{context.Canceled, "Canceled", "0"},
		{context.DeadlineExceeded, "DeadlineExceeded", "0"},
		{errors.New("boom"), "Other", "0"},
	}
	for _, tt := range tests {
		if tt.err != nil {
			if got := errorLabel(tt.err); got != tt.label {
				t.Errorf("errorLabel(%v) = %q, want %q", tt.err, got, tt.label)
			}
		}
		if got := httpStatus(tt.err); got != tt.sts {
			t.Errorf("httpStatus(%v) = %q, want %q", tt.err, got, tt.sts)
		}
	}
}
