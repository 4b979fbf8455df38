package rpcserver

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// The plugin makes one call per connection and reads every frame the
// server sends on it. A one-call connection gets SETTINGS (and the ack of
// the client's), the reply's headers, data and trailers: no PING from
// bandwidth estimation, no WINDOW_UPDATE announcing a larger window.
func TestOneCallConnectionFrames(t *testing.T) {
	h := start(t, newFakeIPAM("10.0.1.5"), nil)
	conn, err := net.DialTimeout("unix", h.srv.cfg.Socket, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))

	var out, hdr bytes.Buffer
	out.WriteString(http2.ClientPreface)
	fr := http2.NewFramer(&out, conn)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	enc := hpack.NewEncoder(&hdr)
	for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", "/grpc.health.v1.Health/Check"},
		{":authority", "localhost"}, {"content-type", "application/grpc"}, {"te", "trailers"}} {
		if err := enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]}); err != nil {
			t.Fatal(err)
		}
	}
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hdr.Bytes(), EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	// An empty HealthCheckRequest: the 5-byte gRPC envelope alone.
	if err := fr.WriteData(1, true, make([]byte, 5)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(out.Bytes()); err != nil {
		t.Fatal(err)
	}
	out.Reset()

	var seen []string
	status := ""
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("after %v: %v", seen, err)
		}
		seen = append(seen, f.Header().Type.String())
		if sf, ok := f.(*http2.SettingsFrame); ok && !sf.IsAck() {
			if err := fr.WriteSettingsAck(); err != nil {
				t.Fatal(err)
			}
			if _, err := conn.Write(out.Bytes()); err != nil {
				t.Fatal(err)
			}
			out.Reset()
		}
		if mh, ok := f.(*http2.MetaHeadersFrame); ok && mh.StreamEnded() {
			status = headerValue(mh, "grpc-status")
			break
		}
	}
	for _, typ := range seen {
		if typ == "PING" || typ == "WINDOW_UPDATE" {
			t.Errorf("server sent %s on a one-call connection: %s", typ, strings.Join(seen, " "))
		}
	}
	if status != "0" {
		t.Errorf("call ended with %q (frames %s), want grpc-status 0", status, strings.Join(seen, " "))
	}
}

func headerValue(f *http2.MetaHeadersFrame, name string) string {
	for _, hf := range f.RegularFields() {
		if hf.Name == name {
			return hf.Value
		}
	}
	return ""
}
