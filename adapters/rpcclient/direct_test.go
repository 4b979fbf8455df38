package rpcclient

import (
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
)

func TestEncodeTimeout(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{0, "1n"},
		{-time.Second, "1n"},
		{1500 * time.Nanosecond, "1500n"},
		{99999999 * time.Nanosecond, "99999999n"},
		{100 * time.Millisecond, "100000u"},
		{10 * time.Second, "10000000u"},
		{2 * time.Minute, "120000m"},
		{30 * time.Hour, "108000S"},
		{200000 * time.Hour, "12000000M"},
	} {
		if got := encodeTimeout(tt.d); got != tt.want {
			t.Errorf("encodeTimeout(%s) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestDecodeGRPCMessage(t *testing.T) {
	for in, want := range map[string]string{
		"plain":               "plain",
		"100%25 used":         "100% used",
		"%C3%BC%0Anext":       "ü\nnext",
		"bad %zz and tail %4": "bad %zz and tail %4",
		"%":                   "%",
	} {
		if got := decodeGRPCMessage(in); got != want {
			t.Errorf("decodeGRPCMessage(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFinishRejectsMalformedReplies(t *testing.T) {
	for _, tt := range []struct {
		name   string
		reply  []byte
		status int
		code   codes.Code
		msg    string
	}{
		{"no status", []byte{0, 0, 0, 0, 0}, -1, codes.Internal, "without grpc-status"},
		{"error status", nil, int(codes.NotFound), codes.NotFound, "ipamd's text"},
		{"no message", nil, 0, codes.Internal, "has no message"},
		{"compressed", []byte{1, 0, 0, 0, 1, 7}, 0, codes.Internal, "compressed"},
		{"short", []byte{0, 0, 0, 0, 9, 1}, 0, codes.Internal, "9 bytes announced, 1 received"},
		{"two messages", []byte{0, 0, 0, 0, 1, 7, 0, 0, 0, 0, 0}, 0, codes.Internal, "1 bytes announced, 6 received"},
	} {
		_, err := finish("/m", tt.reply, tt.status, "ipamd's text")
		var ce *callError
		if !errors.As(err, &ce) || ce.code != tt.code || !strings.Contains(ce.msg, tt.msg) {
			t.Errorf("%s: finish error = %v, want code %s with %q", tt.name, err, tt.code, tt.msg)
		}
	}
	msg, err := finish("/m", []byte{0, 0, 0, 0, 2, 8, 1}, 0, "")
	if err != nil || string(msg) != "\x08\x01" {
		t.Errorf("finish of a valid reply = %q, %v", msg, err)
	}
}
