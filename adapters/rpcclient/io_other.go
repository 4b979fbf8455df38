//go:build !unix

package rpcclient

import "net"

// writeWaiting writes b to conn, calling beforeWait first (it may put a
// deadline on conn).
func writeWaiting(conn net.Conn, b []byte, beforeWait func()) error {
	beforeWait()
	_, err := conn.Write(b)
	return err
}

// readWaiting reads from conn into p, calling beforeWait first (it may
// put a deadline on conn).
func readWaiting(conn net.Conn, p []byte, beforeWait func()) (int, error) {
	beforeWait()
	return conn.Read(p)
}
