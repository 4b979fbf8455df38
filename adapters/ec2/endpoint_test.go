package ec2

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
)

// Endpoint selection is observed the way it matters: which server receives
// the request, and which region it is signed for.
func TestEndpointSelection(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name        string
		cfgEndpoint string // "a" or "" : Config.Endpoint
		envEndpoint string // "b" or "" : AWS_ENDPOINT_URL_EC2
		want        string // server that must see the call
	}{
		{"AWS_EC2_ENDPOINT wins over AWS_ENDPOINT_URL_EC2", "a", "b", "a"},
		{"AWS_ENDPOINT_URL_EC2 honoured", "", "b", "b"},
		{"AWS_EC2_ENDPOINT alone", "a", "", "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolateSDK(t)
			servers := map[string]*fakeEC2{"a": newFakeEC2(t), "b": newFakeEC2(t)}
			cfg := Config{Region: "eu-west-3", Credentials: testCredentials, MaxAttempts: 1}
			if tt.cfgEndpoint != "" {
				cfg.Endpoint = servers[tt.cfgEndpoint].srv.URL
			}
			if tt.envEndpoint != "" {
				t.Setenv("AWS_ENDPOINT_URL_EC2", servers[tt.envEndpoint].srv.URL)
			}
			c, err := New(cfg, nil)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if err := c.DeleteENI(ctx, "eni-1"); err != nil {
				t.Fatalf("DeleteENI: %v", err)
			}
			for name, s := range servers {
				n := len(s.calls(OpDeleteNetworkInterface))
				if want := map[bool]int{true: 1, false: 0}[name == tt.want]; n != want {
					t.Errorf("server %s got %d calls, want %d", name, n, want)
				}
			}
		})
	}
}

func TestRegionAndUserAgent(t *testing.T) {
	ctx := context.Background()
	t.Run("region from config", func(t *testing.T) {
		isolateSDK(t)
		t.Setenv("AWS_REGION", "ap-south-1")
		f := newFakeEC2(t)
		c, err := New(Config{Region: "eu-west-3", Endpoint: f.srv.URL, Credentials: testCredentials, MaxAttempts: 1, UserAgent: "vpc-cni-test/1.2.3"}, nil)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		if c.Region() != "eu-west-3" {
			t.Fatalf("Region() = %q", c.Region())
		}
		if err := c.DeleteENI(ctx, "eni-1"); err != nil {
			t.Fatalf("DeleteENI: %v", err)
		}
		h := f.calls(OpDeleteNetworkInterface)[0].header
		if auth := h.Get("Authorization"); !strings.Contains(auth, "/eu-west-3/ec2/aws4_request") {
			t.Errorf("request not signed for eu-west-3: %q", auth)
		}
		if ua := h.Get("User-Agent"); !strings.Contains(ua, "vpc-cni-test/1.2.3") {
			t.Errorf("User-Agent %q lacks the suffix", ua)
		}
	})
	t.Run("region from AWS_REGION", func(t *testing.T) {
		isolateSDK(t)
		t.Setenv("AWS_REGION", "ap-south-1")
		f := newFakeEC2(t)
		c, err := New(Config{Endpoint: f.srv.URL, Credentials: testCredentials, MaxAttempts: 1}, nil)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		if err := c.DeleteENI(ctx, "eni-1"); err != nil {
			t.Fatalf("DeleteENI: %v", err)
		}
		if auth := f.calls(OpDeleteNetworkInterface)[0].header.Get("Authorization"); !strings.Contains(auth, "/ap-south-1/ec2/") {
			t.Errorf("request not signed for ap-south-1: %q", auth)
		}
	})
	t.Run("no region", func(t *testing.T) {
		isolateSDK(t)
		if _, err := New(Config{Credentials: testCredentials}, nil); !errors.Is(err, core.ErrInvalidParameter) {
			t.Fatalf("New without a region: %v, want ErrInvalidParameter", err)
		}
	})
}

func TestConfigValidation(t *testing.T) {
	isolateSDK(t)
	for _, cfg := range []Config{
		{Region: "us-west-2", Endpoint: "localhost:4566"},
		{Region: "us-west-2", Endpoint: "ftp://x"},
		{Region: "us-west-2", RetryMode: "eager"},
	} {
		if _, err := New(cfg, nil); !errors.Is(err, core.ErrInvalidParameter) {
			t.Errorf("New(%+v) error = %v, want ErrInvalidParameter", cfg, err)
		}
	}
	for _, mode := range []string{RetryAdaptive, RetryStandard} {
		if _, err := New(Config{Region: "us-west-2", RetryMode: mode, Credentials: testCredentials}, nil); err != nil {
			t.Errorf("New with retry mode %q: %v", mode, err)
		}
	}
}

// HTTPTimeout bounds an attempt: a server that never answers makes the
// call fail instead of hanging.
func TestHTTPTimeout(t *testing.T) {
	isolateSDK(t)
	stall := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-stall:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(stall) })
	c, err := New(Config{Region: "us-west-2", Endpoint: srv.URL, Credentials: testCredentials, MaxAttempts: 1, HTTPTimeout: 50 * time.Millisecond}, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	err = c.DeleteENI(context.Background(), "eni-1")
	if err == nil {
		t.Fatal("DeleteENI against a silent server succeeded")
	}
	if ErrorCode(err) != "" || httpStatus(err) != "0" {
		t.Fatalf("timeout reported as an API answer: %v", err)
	}
}
