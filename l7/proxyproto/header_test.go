package proxyproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"testing"
)

// v2 builds a version 2 header: command, family byte, address block.
func v2(cmd, fam byte, body []byte) []byte {
	b := append([]byte{}, v2Signature...)
	b = append(b, 0x20|cmd, fam)
	b = binary.BigEndian.AppendUint16(b, uint16(len(body)))
	return append(b, body...)
}

// v2Addrs is the address block of src and dst (same family), then tlv.
func v2Addrs(src, dst netip.AddrPort, tlv ...byte) []byte {
	var b []byte
	b = append(b, src.Addr().AsSlice()...)
	b = append(b, dst.Addr().AsSlice()...)
	b = binary.BigEndian.AppendUint16(b, src.Port())
	b = binary.BigEndian.AppendUint16(b, dst.Port())
	return append(b, tlv...)
}

var (
	src4 = netip.MustParseAddrPort("203.0.113.7:5555")
	dst4 = netip.MustParseAddrPort("198.18.0.1:443")
	src6 = netip.MustParseAddrPort("[2001:db8::7]:5555")
	dst6 = netip.MustParseAddrPort("[2001:db8::1]:80")
)

func TestReadHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      []byte
		want    header
		wantErr bool
	}{
		{name: "v1 tcp4", in: []byte("PROXY TCP4 203.0.113.7 198.18.0.1 5555 443\r\n"), want: header{src4, dst4}},
		{name: "v1 tcp6", in: []byte("PROXY TCP6 2001:db8::7 2001:db8::1 5555 80\r\n"), want: header{src6, dst6}},
		{name: "v1 unknown", in: []byte("PROXY UNKNOWN\r\n")},
		{name: "v1 unknown with addresses", in: []byte("PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n")},
		{name: "v1 family mismatch", in: []byte("PROXY TCP4 2001:db8::7 198.18.0.1 5555 443\r\n"), wantErr: true},
		{name: "v1 bad port", in: []byte("PROXY TCP4 203.0.113.7 198.18.0.1 65536 443\r\n"), wantErr: true},
		{name: "v1 leading zero port", in: []byte("PROXY TCP4 203.0.113.7 198.18.0.1 05555 443\r\n"), wantErr: true},
		{name: "v1 missing field", in: []byte("PROXY TCP4 203.0.113.7 198.18.0.1 5555\r\n"), wantErr: true},
		{name: "v1 double space", in: []byte("PROXY TCP4  203.0.113.7 198.18.0.1 5555 443\r\n"), wantErr: true},
		{name: "v1 LF only", in: []byte("PROXY TCP4 203.0.113.7 198.18.0.1 5555 443\n"), wantErr: true},
		{name: "v1 too long", in: append(append([]byte("PROXY UNKNOWN "), bytes.Repeat([]byte("x"), 100)...), "\r\n"...), wantErr: true},
		{name: "v1 truncated", in: []byte("PROXY TCP4 203.0.113.7"), wantErr: true},
		{name: "plain HTTP", in: []byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), wantErr: true},
		{name: "TLS ClientHello", in: []byte{0x16, 0x03, 0x01, 0x00, 0x05}, wantErr: true},
		{name: "empty", in: nil, wantErr: true},
		{name: "v2 tcp4", in: v2(1, 0x11, v2Addrs(src4, dst4)), want: header{src4, dst4}},
		{name: "v2 tcp6 with TLVs", in: v2(1, 0x21, v2Addrs(src6, dst6, 0x04, 0x00, 0x01, 0xff)), want: header{src6, dst6}},
		{name: "v2 udp4 address", in: v2(1, 0x12, v2Addrs(src4, dst4)), want: header{src4, dst4}},
		{name: "v2 local", in: v2(0, 0x11, v2Addrs(src4, dst4))},
		{name: "v2 unspec", in: v2(1, 0x00, nil)},
		{name: "v2 unix", in: v2(1, 0x31, make([]byte, 216))},
		{name: "v2 short addresses", in: v2(1, 0x11, v2Addrs(src4, dst4)[:10]), wantErr: true},
		{name: "v2 bad command", in: v2(2, 0x11, v2Addrs(src4, dst4)), wantErr: true},
		{name: "v2 bad family", in: v2(1, 0x41, v2Addrs(src4, dst4)), wantErr: true},
		{name: "v2 version 1", in: append(append(append([]byte{}, v2Signature...), 0x11, 0x11), 0, 0), wantErr: true},
		{name: "v2 truncated body", in: v2(1, 0x11, make([]byte, 200))[:30], wantErr: true},
		{name: "v2 over 4096 bytes", in: v2(1, 0x11, make([]byte, 4090)), wantErr: true},
		{name: "v2 bad signature", in: append([]byte("\r\n\r\n\x00\r\nQUIX\n"), 0x21, 0x11, 0, 0), wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const after = "GET / HTTP/1.1\r\n"
			br := bufio.NewReader(bytes.NewReader(append(append([]byte{}, tc.in...), after...)))
			got, err := readHeader(br)
			if tc.wantErr {
				if err == nil || !errors.Is(err, errNotProxy) {
					t.Fatalf("readHeader = %+v, %v; want an error wrapping errNotProxy", got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("readHeader: %v", err)
			}
			if got != tc.want {
				t.Errorf("readHeader = %+v, want %+v", got, tc.want)
			}
			if rest, _ := io.ReadAll(br); string(rest) != after {
				t.Errorf("after the header: %q, want %q (the header read exactly)", rest, after)
			}
		})
	}
}

// FuzzReadHeader: readHeader never panics, never accepts more than nginx's
// bounds, and a header it accepts delimits itself: the bytes it read, alone,
// parse to the same header. Seeds: below and testdata/fuzz.
func FuzzReadHeader(f *testing.F) {
	for _, seed := range [][]byte{
		[]byte("PROXY TCP4 203.0.113.7 198.18.0.1 5555 443\r\n"),
		[]byte("PROXY TCP6 2001:db8::7 2001:db8::1 5555 80\r\n"),
		[]byte("PROXY UNKNOWN\r\n"),
		[]byte("PROXY TCP4 1.2.3.4 5.6.7.8 0 65535\r\nGET / HTTP/1.1\r\n"),
		[]byte("GET / HTTP/1.1\r\n"),
		v2(1, 0x11, v2Addrs(src4, dst4)),
		v2(1, 0x21, v2Addrs(src6, dst6, 1, 0, 0)),
		v2(0, 0x00, nil),
		v2(1, 0x31, make([]byte, 216)),
		v2(1, 0x11, nil),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		const marker = "\x00END"
		br := bufio.NewReaderSize(bytes.NewReader(append(append([]byte{}, in...), marker...)), 16)
		h, err := readHeader(br)
		if err != nil {
			if !errors.Is(err, errNotProxy) {
				t.Fatalf("error %v does not wrap errNotProxy", err)
			}
			return
		}
		rest, _ := io.ReadAll(br)
		consumed := len(in) + len(marker) - len(rest)
		if consumed > maxV2 {
			t.Fatalf("accepted a header of %d bytes", consumed)
		}
		if !bytes.HasPrefix(in, v2Signature[:1]) && consumed > maxV1 {
			t.Fatalf("accepted a version 1 line of %d bytes", consumed)
		}
		if h.src.IsValid() != h.dst.IsValid() {
			t.Fatalf("header %+v has one address", h)
		}
		// The header delimits itself: the bytes read, alone, give the same.
		if consumed <= len(in) {
			again, err := readHeader(bufio.NewReader(bytes.NewReader(in[:consumed])))
			if err != nil || again != h {
				t.Fatalf("the %d bytes read give %+v, %v; the stream gave %+v", consumed, again, err, h)
			}
		}
	})
}
