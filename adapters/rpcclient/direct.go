package rpcclient

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
)

// directConn is one HTTP/2 connection to ipamd that makes gRPC unary
// calls, one at a time, without goroutines of its own: the frames come
// from golang.org/x/net/http2, the messages from protobuf, and only the
// gRPC envelope (a 5-byte length prefix, the grpc-status trailer) is
// handled here.
//
// It exists for the CNI plugin, which is executed once per pod and makes
// one or two calls: grpc-go's ClientConn starts a resolver, a balancer,
// several serializer goroutines and waits for the server's preface before
// sending anything, which costs a cold process about 1.2 ms per ADD on a
// 2-core node against about 0.6 ms here (the connection preface, settings,
// request headers and message go out in one write; see docs/local.md).
// Long-lived callers can use grpc-go's client instead
// (adapters/rpcclient/grpcconn); the client tests run against both.
type directConn struct {
	mu     sync.Mutex // held for a whole call: one call at a time
	conn   net.Conn
	fr     *http2.Framer
	out    bytes.Buffer // frames are built here, then written at once
	henc   *hpack.Encoder
	hbuf   bytes.Buffer
	path   string
	ua     string
	next   uint32 // next stream id (odd, client-initiated)
	broken error  // set once the connection cannot carry more calls
	waits  callWaits

	// Closing does not wait for a call in progress: it closes the socket,
	// which ends the call's read.
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// The windows the client grants ipamd for replies: large enough that a
// reply (ListAllocations on a full node is the largest) never waits for a
// WINDOW_UPDATE.
const (
	directStreamWindow = 1<<31 - 1
	directConnWindow   = 1<<31 - 1
	// directMaxRequest bounds a request message: it must fit the 64 KiB
	// window every HTTP/2 peer starts with, as the client does not wait for
	// window updates. Requests carry a few names and ids (~1 KiB).
	directMaxRequest = 65535 - 5
)

// dialDirect connects to ipamd's socket. It takes no timeout: connecting
// a unix socket never waits (a listener with a full backlog refuses at
// once), and a dial bounded by a context would start a timer for nothing
// (see adapters/lazyctx for what a live timer costs the plugin).
func dialDirect(ctx context.Context, path, userAgent string) (*directConn, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	conn, err := net.Dial("unix", path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	c := &directConn{conn: conn, path: path, ua: userAgent, next: 1}
	c.fr = http2.NewFramer(&c.out, bufio.NewReader(connReader{c}))
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.henc = hpack.NewEncoder(&c.hbuf)
	// The preface and settings go out with the first request.
	c.out.WriteString(http2.ClientPreface)
	if err := c.fr.WriteSettings(
		http2.Setting{ID: http2.SettingEnablePush, Val: 0},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: directStreamWindow},
	); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("write HTTP/2 settings: %w", err)
	}
	if err := c.fr.WriteWindowUpdate(0, directConnWindow-65535); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("write HTTP/2 window update: %w", err)
	}
	return c, nil
}

// Close closes the connection, ending a call in progress.
func (c *directConn) Close() error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		c.closeErr = c.conn.Close()
	})
	return c.closeErr
}

// callError is a gRPC status received from ipamd (or made up from what
// the connection saw, e.g. Unavailable when it broke).
type callError struct {
	code codes.Code
	msg  string
}

func (e *callError) Error() string {
	return fmt.Sprintf("rpc error: code = %s desc = %s", e.code, e.msg)
}

// Invoke makes one unary call: method is the full gRPC method name
// ("/rpc.CNIBackend/AddNetwork").
func (c *directConn) Invoke(ctx context.Context, method string, req, resp proto.Message) error {
	return c.InvokeWhile(ctx, method, req, resp, nil)
}

// InvokeWhile is Invoke running while (unless nil) between writing the
// request and reading the reply. See OverlapConn.
func (c *directConn) InvokeWhile(ctx context.Context, method string, req, resp proto.Message, while func()) error {
	msg, err := marshal(req)
	if err != nil {
		return fmt.Errorf("encode %s request: %w", method, err)
	}
	if len(msg) > directMaxRequest {
		return fmt.Errorf("%s request of %d bytes is larger than the %d this client sends", method, len(msg), directMaxRequest)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		return &callError{codes.Unavailable, "connection to " + c.path + " closed"}
	}
	if c.broken != nil {
		return &callError{codes.Unavailable, "connection to " + c.path + " unusable: " + c.broken.Error()}
	}
	if err := ctx.Err(); err != nil {
		return contextError(err)
	}

	id := c.next
	c.next += 2
	data, err := c.exchange(ctx, id, method, msg, while)
	if err != nil {
		var ce *callError
		if errors.As(err, &ce) {
			return err
		}
		// The connection is in an unknown state: no further calls on it.
		c.broken = err
		_ = c.conn.Close()
		if ctxErr := ctx.Err(); ctxErr != nil {
			return contextError(ctxErr)
		}
		return &callError{codes.Unavailable, fmt.Sprintf("%s on %s: %v", method, c.path, err)}
	}
	if err := unmarshal(data, resp); err != nil {
		return &callError{codes.Internal, fmt.Sprintf("decode %s reply: %v", method, err)}
	}
	return nil
}

// vtMessage is a message with generated marshalling code (vtprotobuf, see
// adapters/rpc/pb). The plugin is a new process for every command, and
// protobuf's reflection-based codec sets itself up per message type on
// first use: measured ~0.17 ms of CPU per ADD for the request and the
// reply, against a few microseconds for the generated code.
type vtMessage interface {
	MarshalVT() ([]byte, error)
	UnmarshalVT([]byte) error
}

func marshal(m proto.Message) ([]byte, error) {
	if vt, ok := m.(vtMessage); ok {
		return vt.MarshalVT()
	}
	return proto.Marshal(m)
}

// unmarshal replaces m's contents with data's, as proto.Unmarshal does
// (UnmarshalVT alone would merge into what m holds).
func unmarshal(data []byte, m proto.Message) error {
	if vt, ok := m.(vtMessage); ok {
		proto.Reset(m)
		return vt.UnmarshalVT(data)
	}
	return proto.Unmarshal(data, m)
}

func contextError(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return &callError{codes.DeadlineExceeded, err.Error()}
	}
	return &callError{codes.Canceled, err.Error()}
}

// exchange sends the request on stream id, calls while (unless nil), and
// reads frames until that stream ends, returning the reply message. A
// *callError is a complete answer (the connection stays usable); any other
// error leaves the connection broken.
//
// The context's deadline bounds the exchange and cancelling the context
// ends it, but both are put on the socket only once a read or a write has
// to wait (see callWaits).
func (c *directConn) exchange(ctx context.Context, id uint32, method string, msg []byte, while func()) ([]byte, error) {
	deadline, hasDeadline := ctx.Deadline()
	c.waits = callWaits{conn: c.conn, ctx: ctx}
	if hasDeadline {
		c.waits.deadline = deadline
	}
	defer func() {
		if !c.waits.end() && c.broken == nil {
			// Cancelled as the call ended: the deadline in the past may
			// land after the next call set its own, so this connection
			// is done.
			c.broken = errors.New("call cancelled")
		}
	}()
	c.hbuf.Reset()
	fields := []hpack.HeaderField{
		{Name: ":method", Value: "POST"},
		{Name: ":scheme", Value: "http"},
		{Name: ":path", Value: method},
		{Name: ":authority", Value: "localhost"},
		{Name: "content-type", Value: "application/grpc+proto"},
		{Name: "te", Value: "trailers"},
		{Name: "user-agent", Value: c.ua},
	}
	if hasDeadline {
		fields = append(fields, hpack.HeaderField{Name: "grpc-timeout", Value: encodeTimeout(time.Until(deadline))})
	}
	for _, f := range fields {
		if err := c.henc.WriteField(f); err != nil {
			return nil, fmt.Errorf("encode request headers: %w", err)
		}
	}
	if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.hbuf.Bytes(), EndHeaders: true}); err != nil {
		return nil, fmt.Errorf("write request headers: %w", err)
	}
	body := make([]byte, 5+len(msg))
	binary.BigEndian.PutUint32(body[1:5], uint32(len(msg)))
	copy(body[5:], msg)
	for len(body) > 0 {
		n := min(len(body), 16384) // the frame size every peer accepts
		if err := c.fr.WriteData(id, n == len(body), body[:n]); err != nil {
			return nil, fmt.Errorf("write request: %w", err)
		}
		body = body[n:]
	}
	if err := c.flush(); err != nil {
		return nil, err
	}
	if while != nil {
		// ipamd's answer waits in the socket buffer meanwhile, and its
		// SETTINGS with it: ipamd does not wait for their acknowledgement
		// to handle the request.
		while()
	}

	var (
		reply     []byte
		gotHeader bool
		status    = -1
		statusMsg string
	)
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			return nil, fmt.Errorf("read reply: %w", err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				// The only setting that binds this client: the size of
				// ipamd's header table, which the encoder must not exceed.
				if v, ok := f.Value(http2.SettingHeaderTableSize); ok {
					c.henc.SetMaxDynamicTableSizeLimit(v)
				}
				if err := c.fr.WriteSettingsAck(); err != nil {
					return nil, err
				}
				if err := c.flush(); err != nil {
					return nil, err
				}
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				if err := c.fr.WritePing(true, f.Data); err != nil {
					return nil, err
				}
				if err := c.flush(); err != nil {
					return nil, err
				}
			}
		case *http2.GoAwayFrame:
			// ipamd is going away: this stream completes only if ipamd
			// had taken it; either way the connection takes no more.
			c.broken = fmt.Errorf("ipamd sent GOAWAY (%s)", f.ErrCode)
			if f.LastStreamID < id {
				return nil, &callError{codes.Unavailable, fmt.Sprintf("%s: ipamd is shutting down (GOAWAY %s) and did not take the call", method, f.ErrCode)}
			}
		case *http2.RSTStreamFrame:
			if f.StreamID != id {
				continue
			}
			return nil, &callError{resetCode(f.ErrCode), fmt.Sprintf("%s: stream reset by ipamd (%s)", method, f.ErrCode)}
		case *http2.MetaHeadersFrame:
			if f.StreamID != id {
				continue
			}
			if !gotHeader {
				gotHeader = true
				if ce := checkResponseHeaders(f); ce != nil {
					return nil, ce
				}
			}
			for _, hf := range f.RegularFields() {
				switch hf.Name {
				case "grpc-status":
					n, err := strconv.Atoi(hf.Value)
					if err != nil || n < 0 {
						return nil, &callError{codes.Internal, fmt.Sprintf("%s: malformed grpc-status %q", method, hf.Value)}
					}
					status = n
				case "grpc-message":
					statusMsg = decodeGRPCMessage(hf.Value)
				}
			}
			if f.StreamEnded() {
				return finish(method, reply, status, statusMsg)
			}
		case *http2.DataFrame:
			if f.StreamID != id {
				continue
			}
			reply = append(reply, f.Data()...)
			if f.StreamEnded() {
				// A gRPC reply always ends with trailers.
				return nil, &callError{codes.Internal, method + ": reply ended without a grpc-status"}
			}
		}
	}
}

// flush writes the frames built so far.
func (c *directConn) flush() error {
	err := writeWaiting(c.conn, c.out.Bytes(), c.waits.beforeWrite)
	c.out.Reset()
	if err != nil {
		return fmt.Errorf("write to %s: %w", c.path, err)
	}
	return nil
}

// connReader is the socket as the framer reads it.
type connReader struct{ c *directConn }

func (r connReader) Read(p []byte) (int, error) {
	return readWaiting(r.c.conn, p, r.c.waits.beforeRead)
}

// callWaits bounds a call's reads and writes by its deadline and ends
// them when its context is cancelled, but sets this up only when one of
// them has to wait: a socket deadline is a runtime timer, and watching a
// context starts its timer (see adapters/lazyctx). With a live timer an
// idle thread of the scheduler sleeps in epoll, woken by every netlink
// reply of the plugin's work in the meantime. A request goes out at once
// and ipamd's reply is usually there before the plugin reads it, so a
// call usually arms nothing.
type callWaits struct {
	conn        net.Conn
	ctx         context.Context
	deadline    time.Time // zero: none
	read, write bool      // the deadline is on the socket for that direction
	stop        func() bool
}

func (w *callWaits) beforeRead() {
	if !w.read && w.ctx != nil {
		w.read = true
		_ = w.conn.SetReadDeadline(w.deadline)
		w.watch()
	}
}

func (w *callWaits) beforeWrite() {
	if !w.write && w.ctx != nil {
		w.write = true
		_ = w.conn.SetWriteDeadline(w.deadline)
		w.watch()
	}
}

func (w *callWaits) watch() {
	if w.stop == nil {
		conn := w.conn
		w.stop = context.AfterFunc(w.ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	}
}

// end undoes what was set up; it reports false when the context ended as
// the call did, its deadline in the past perhaps still on its way to the
// socket.
func (w *callWaits) end() (clean bool) {
	clean = w.stop == nil || w.stop()
	if w.read {
		_ = w.conn.SetReadDeadline(time.Time{})
	}
	if w.write {
		_ = w.conn.SetWriteDeadline(time.Time{})
	}
	*w = callWaits{}
	return clean
}

// checkResponseHeaders maps a non-gRPC answer to a status as grpc-go does:
// a server that is not speaking gRPC, or an HTTP error status.
func checkResponseHeaders(f *http2.MetaHeadersFrame) *callError {
	st := f.PseudoValue("status")
	if st != "200" {
		return &callError{httpStatusCode(st), "unexpected HTTP status " + st + " from ipamd"}
	}
	// A trailers-only answer may omit the content type.
	ct := ""
	for _, hf := range f.RegularFields() {
		if hf.Name == "content-type" {
			ct = hf.Value
		}
	}
	if ct != "" && !strings.HasPrefix(ct, "application/grpc") {
		return &callError{codes.Internal, "ipamd answered with content-type " + strconv.Quote(ct)}
	}
	return nil
}

// finish turns the collected reply and trailers into the call's outcome.
func finish(method string, reply []byte, status int, msg string) ([]byte, error) {
	if status < 0 {
		return nil, &callError{codes.Internal, method + ": reply without grpc-status"}
	}
	if status != int(codes.OK) {
		return nil, &callError{codes.Code(status), msg}
	}
	if len(reply) < 5 {
		return nil, &callError{codes.Internal, fmt.Sprintf("%s: reply of %d bytes has no message", method, len(reply))}
	}
	if reply[0] != 0 {
		return nil, &callError{codes.Internal, method + ": compressed reply, which this client did not ask for"}
	}
	n := binary.BigEndian.Uint32(reply[1:5])
	if int64(n) != int64(len(reply)-5) {
		return nil, &callError{codes.Internal, fmt.Sprintf("%s: reply message of %d bytes announced, %d received", method, n, len(reply)-5)}
	}
	return reply[5:], nil
}

// encodeTimeout renders d as a grpc-timeout value (at most 8 digits and
// a unit).
func encodeTimeout(d time.Duration) string {
	if d <= 0 {
		return "1n"
	}
	for _, u := range []struct {
		unit string
		d    time.Duration
	}{{"n", time.Nanosecond}, {"u", time.Microsecond}, {"m", time.Millisecond}, {"S", time.Second}, {"M", time.Minute}} {
		if v := (d + u.d - 1) / u.d; v <= 99999999 {
			return strconv.FormatInt(int64(v), 10) + u.unit
		}
	}
	return strconv.FormatInt(int64(min((d+time.Hour-1)/time.Hour, 99999999)), 10) + "H"
}

// decodeGRPCMessage undoes the percent-encoding of grpc-message; a
// malformed escape is kept as it is.
func decodeGRPCMessage(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// httpStatusCode maps an HTTP status to a gRPC code as the gRPC spec's
// HTTP-to-gRPC table does.
func httpStatusCode(s string) codes.Code {
	switch s {
	case "400":
		return codes.Internal
	case "401":
		return codes.Unauthenticated
	case "403":
		return codes.PermissionDenied
	case "404":
		return codes.Unimplemented
	case "429", "502", "503", "504":
		return codes.Unavailable
	}
	return codes.Unknown
}

// resetCode maps an RST_STREAM error code to a gRPC code as grpc-go does.
func resetCode(c http2.ErrCode) codes.Code {
	switch c {
	case http2.ErrCodeRefusedStream:
		return codes.Unavailable
	case http2.ErrCodeCancel:
		return codes.Canceled
	case http2.ErrCodeEnhanceYourCalm:
		return codes.ResourceExhausted
	case http2.ErrCodeInadequateSecurity:
		return codes.PermissionDenied
	}
	return codes.Internal
}
