//go:build unix

package rpcclient

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// unixPair returns the two ends of a connected unix stream socket, the
// client's send buffer made small so that a large write has to wait.
func unixPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.sock")
	lis, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	client, err = net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	server, err = lis.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	rc, err := client.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, 4096)
	}); err != nil || serr != nil {
		t.Fatalf("set SO_SNDBUF: %v %v", err, serr)
	}
	return client, server
}

// deadlineIn returns a beforeWait that counts its calls and puts a
// deadline d from now on conn.
func deadlineIn(conn net.Conn, d time.Duration, calls *int) func() {
	return func() {
		*calls++
		_ = conn.SetDeadline(time.Now().Add(d))
	}
}

// A write the socket takes at once calls nothing; one that must wait for
// the reader calls beforeWait once and arrives whole.
func TestWriteWaiting(t *testing.T) {
	client, server := unixPair(t)
	calls := 0
	if err := writeWaiting(client, []byte("hello"), deadlineIn(client, time.Minute, &calls)); err != nil {
		t.Fatalf("small write: %v", err)
	}
	if calls != 0 {
		t.Errorf("a write the socket took at once called beforeWait %d times", calls)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(server, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("reader got %q, %v", buf, err)
	}

	msg := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB, far over the buffer
	got := make(chan []byte, 1)
	go func() {
		time.Sleep(20 * time.Millisecond) // let the writer fill the buffer first
		b, _ := io.ReadAll(io.LimitReader(server, int64(len(msg))))
		got <- b
	}()
	if err := writeWaiting(client, msg, deadlineIn(client, time.Minute, &calls)); err != nil {
		t.Fatalf("large write: %v", err)
	}
	if b := <-got; !bytes.Equal(b, msg) {
		t.Fatalf("reader got %d bytes, want the %d written", len(b), len(msg))
	}
	if calls != 1 {
		t.Errorf("a write that waited called beforeWait %d times, want once", calls)
	}
}

// A write the peer never reads ends at the deadline beforeWait set.
func TestWriteWaitingStopsAtDeadline(t *testing.T) {
	client, _ := unixPair(t)
	calls := 0
	start := time.Now()
	err := writeWaiting(client, make([]byte, 4<<20), deadlineIn(client, 200*time.Millisecond, &calls))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("writeWaiting = %v, want a deadline error", err)
	}
	if took := time.Since(start); took < 200*time.Millisecond || took > 10*time.Second {
		t.Errorf("write gave up after %s, want soon after its 200ms deadline", took)
	}
}

// Data already there is read without beforeWait; a read that has to wait
// calls it once, and gets the data that comes later; a closed peer is EOF.
func TestReadWaiting(t *testing.T) {
	client, server := unixPair(t)
	calls := 0
	buf := make([]byte, 64)
	if _, err := server.Write([]byte("ready")); err != nil {
		t.Fatal(err)
	}
	n, err := readWaiting(client, buf, deadlineIn(client, time.Minute, &calls))
	if err != nil || string(buf[:n]) != "ready" || calls != 0 {
		t.Fatalf("read of waiting data = %q, %v, %d beforeWait calls; want ready, nil, 0", buf[:n], err, calls)
	}

	go func() {
		time.Sleep(50 * time.Millisecond)
		_, _ = server.Write([]byte("later"))
	}()
	n, err = readWaiting(client, buf, deadlineIn(client, time.Minute, &calls))
	if err != nil || string(buf[:n]) != "later" || calls != 1 {
		t.Fatalf("read that waited = %q, %v, %d beforeWait calls; want later, nil, 1", buf[:n], err, calls)
	}

	server.Close()
	if n, err := readWaiting(client, buf, func() {}); n != 0 || err != io.EOF {
		t.Fatalf("read after the peer closed = %d, %v; want 0, EOF", n, err)
	}
}

// A read nothing answers ends at the deadline beforeWait set.
func TestReadWaitingStopsAtDeadline(t *testing.T) {
	client, _ := unixPair(t)
	calls := 0
	start := time.Now()
	_, err := readWaiting(client, make([]byte, 8), deadlineIn(client, 200*time.Millisecond, &calls))
	if !errors.Is(err, os.ErrDeadlineExceeded) || calls != 1 {
		t.Fatalf("readWaiting = %v after %d beforeWait calls, want a deadline error after 1", err, calls)
	}
	if took := time.Since(start); took < 200*time.Millisecond || took > 10*time.Second {
		t.Errorf("read gave up after %s, want soon after its 200ms deadline", took)
	}
}
