//go:build unix

package rpcclient

import (
	"io"
	"net"
	"syscall"
)

// writeWaiting writes b to conn; before the first wait for the socket to
// take more (never, usually) it calls beforeWait, which may put a deadline
// on conn.
func writeWaiting(conn net.Conn, b []byte, beforeWait func()) error {
	rc, err := rawConn(conn)
	if err != nil {
		beforeWait()
		_, err = conn.Write(b)
		return err
	}
	var werr error
	waited := false
	err = rc.Write(func(fd uintptr) bool {
		for len(b) > 0 {
			n, err := syscall.Write(int(fd), b)
			switch {
			case err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN:
				if !waited {
					waited = true
					beforeWait()
				}
				return false // wait until the socket is writable
			case err != nil:
				werr = err
				return true
			}
			b = b[n:]
		}
		return true
	})
	if err == nil && werr != nil {
		err = &net.OpError{Op: "write", Net: "unix", Addr: conn.RemoteAddr(), Err: werr}
	}
	return err
}

// readWaiting reads from conn into p; before the first wait for data
// (none is there yet) it calls beforeWait, which may put a deadline on
// conn.
func readWaiting(conn net.Conn, p []byte, beforeWait func()) (int, error) {
	rc, err := rawConn(conn)
	if err != nil {
		beforeWait()
		return conn.Read(p)
	}
	var n int
	var rerr error
	waited := false
	err = rc.Read(func(fd uintptr) bool {
		for {
			n, rerr = syscall.Read(int(fd), p)
			if rerr != syscall.EINTR {
				break
			}
		}
		if rerr == syscall.EAGAIN {
			if !waited {
				waited = true
				beforeWait()
			}
			return false // wait until there is something to read
		}
		return true
	})
	switch {
	case err != nil:
		return 0, err
	case rerr != nil:
		return 0, &net.OpError{Op: "read", Net: "unix", Addr: conn.RemoteAddr(), Err: rerr}
	case n == 0 && len(p) > 0:
		return 0, io.EOF
	}
	return n, nil
}

func rawConn(conn net.Conn) (syscall.RawConn, error) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil, syscall.EINVAL
	}
	return sc.SyscallConn()
}
