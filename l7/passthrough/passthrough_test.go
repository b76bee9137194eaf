package passthrough

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"
)

// clientHello returns the bytes a crypto/tls client sends first for SNI
// serverName.
func clientHello(t *testing.T, serverName string) []byte {
	t.Helper()
	client, server := net.Pipe()
	defer server.Close()
	go func() {
		_ = tls.Client(client, &tls.Config{ServerName: serverName, InsecureSkipVerify: true}).Handshake()
		client.Close()
	}()
	_ = server.SetReadDeadline(time.Now().Add(5 * time.Second))
	var hello []byte
	buf := make([]byte, 64<<10)
	for {
		n, err := server.Read(buf)
		hello = append(hello, buf[:n]...)
		if err != nil || len(hello) >= 5 && len(hello) >= 5+int(hello[3])<<8|int(hello[4]) {
			return hello
		}
	}
}

// oneByte reads one byte per Read, as a ClientHello split into many TCP
// segments arrives.
type oneByte struct{ r io.Reader }

func (o oneByte) Read(p []byte) (int, error) { return o.r.Read(p[:1]) }

func TestReadServerName(t *testing.T) {
	t.Parallel()
	hello := clientHello(t, "Pass.Example.com")
	rest := []byte("more bytes after the hello")
	for _, tc := range []struct {
		name string
		r    io.Reader
	}{
		{"whole", bytes.NewReader(append(hello, rest...))},
		{"byte by byte", oneByte{bytes.NewReader(append(hello, rest...))}},
	} {
		sni, read, err := ReadServerName(tc.r)
		if err != nil || sni != "pass.example.com" && sni != "Pass.Example.com" {
			t.Errorf("%s: SNI %q, %v", tc.name, sni, err)
		}
		// What was read is a prefix of the stream: replaying it loses
		// nothing.
		if !bytes.HasPrefix(append(hello, rest...), read) || len(read) < len(hello) {
			t.Errorf("%s: read %d bytes, not the hello's %d as a prefix of the stream", tc.name, len(read), len(hello))
		}
	}
	sni, read, err := ReadServerName(bytes.NewReader([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")))
	if err == nil || sni != "" || len(read) == 0 {
		t.Errorf("plain HTTP: SNI %q, read %d bytes, error %v; want an error and the bytes read", sni, len(read), err)
	}
}
