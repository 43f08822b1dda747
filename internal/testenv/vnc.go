package testenv

import (
	"io"
	"net"
	"testing"
)

// RFBBanner is what a VNC server sends first.
const RFBBanner = "RFB 003.008\n"

// FakeVNC stands in for a VNC server (libvirt's test driver runs none):
// it sends the RFB banner, then echoes whatever it receives. It returns
// its host:port; it stops when the test ends.
func FakeVNC(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := io.WriteString(c, RFBBanner); err != nil {
					return
				}
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}
