// Package proxyproto reads the PROXY protocol header (HAProxy's PROXY
// protocol, versions 1 and 2) that a TCP load balancer writes at the start
// of each connection, as nginx's "listen ... proxy_protocol" does for
// ingress-nginx's use-proxy-protocol: a Listener whose Policy turns it on
// reads the header of each connection it accepts, its connections report
// the header's source address as RemoteAddr, and a connection without a
// valid header is closed without an answer.
package proxyproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// Sizes of the header, as nginx bounds them.
const (
	// maxV1 is the longest version 1 line, "\r\n" included.
	maxV1 = 107
	// maxV2 bounds a version 2 header, TLVs included.
	maxV2 = 4096
)

// v2Signature starts every version 2 header.
var v2Signature = []byte("\r\n\r\n\x00\r\nQUIT\n")

// header is a parsed PROXY header. src and dst are invalid when the
// header carries no address (v1 UNKNOWN, v2 LOCAL or an unspecified or
// unix family): the connection's own addresses stand.
type header struct {
	src, dst netip.AddrPort
}

// errNotProxy is wrapped by every error of readHeader.
var errNotProxy = errors.New("invalid PROXY protocol header")

// readHeader reads one PROXY header (version 1 or 2) from br and nothing
// more.
func readHeader(br *bufio.Reader) (header, error) {
	first, err := br.Peek(1)
	if err != nil {
		return header{}, fmt.Errorf("%w: %w", errNotProxy, err)
	}
	if first[0] == '\r' {
		return readV2(br)
	}
	return readV1(br)
}

// readV1 reads "PROXY TCP4|TCP6 src dst sport dport\r\n" or
// "PROXY UNKNOWN ...\r\n".
func readV1(br *bufio.Reader) (header, error) {
	var line []byte
	for {
		b, err := br.ReadByte()
		if err != nil {
			return header{}, fmt.Errorf("%w: version 1: %w", errNotProxy, err)
		}
		line = append(line, b)
		if b == '\n' {
			break
		}
		if len(line) >= maxV1 {
			return header{}, fmt.Errorf("%w: version 1 line longer than %d bytes", errNotProxy, maxV1)
		}
	}
	s, ok := strings.CutSuffix(string(line), "\r\n")
	if !ok {
		return header{}, fmt.Errorf("%w: version 1 line does not end with CRLF", errNotProxy)
	}
	rest, ok := strings.CutPrefix(s, "PROXY ")
	if !ok {
		return header{}, fmt.Errorf("%w: no PROXY signature", errNotProxy)
	}
	if rest == "UNKNOWN" || strings.HasPrefix(rest, "UNKNOWN ") {
		return header{}, nil
	}
	f := strings.Split(rest, " ")
	if len(f) != 5 || f[0] != "TCP4" && f[0] != "TCP6" {
		return header{}, fmt.Errorf("%w: version 1 line %q", errNotProxy, s)
	}
	src, err1 := netip.ParseAddr(f[1])
	dst, err2 := netip.ParseAddr(f[2])
	sport, err3 := parsePort(f[3])
	dport, err4 := parsePort(f[4])
	if err := errors.Join(err1, err2, err3, err4); err != nil || src.Zone() != "" || dst.Zone() != "" {
		return header{}, fmt.Errorf("%w: version 1 line %q", errNotProxy, s)
	}
	if want4 := f[0] == "TCP4"; src.Is4() != want4 || dst.Is4() != want4 {
		return header{}, fmt.Errorf("%w: version 1 addresses are not of family %s", errNotProxy, f[0])
	}
	return header{src: netip.AddrPortFrom(src, sport), dst: netip.AddrPortFrom(dst, dport)}, nil
}

// parsePort accepts 0 to 65535 in decimal, without sign or leading zeros.
func parsePort(s string) (uint16, error) {
	if s == "" || len(s) > 1 && s[0] == '0' || strings.Trim(s, "0123456789") != "" {
		return 0, errors.New("bad port")
	}
	n, err := strconv.ParseUint(s, 10, 16)
	return uint16(n), err
}

// readV2 reads the binary version 2 header: the signature, version and
// command, family and protocol, the length of the rest, the addresses of
// the family, then TLVs, which are skipped.
func readV2(br *bufio.Reader) (header, error) {
	var fixed [16]byte
	if _, err := io.ReadFull(br, fixed[:]); err != nil {
		return header{}, fmt.Errorf("%w: version 2: %w", errNotProxy, err)
	}
	if !bytes.Equal(fixed[:12], v2Signature) {
		return header{}, fmt.Errorf("%w: no PROXY signature", errNotProxy)
	}
	if fixed[12]>>4 != 2 {
		return header{}, fmt.Errorf("%w: version 2 header of version %d", errNotProxy, fixed[12]>>4)
	}
	cmd, family := fixed[12]&0xf, fixed[13]>>4
	n := int(binary.BigEndian.Uint16(fixed[14:]))
	if 16+n > maxV2 {
		return header{}, fmt.Errorf("%w: version 2 header longer than %d bytes", errNotProxy, maxV2)
	}
	rest := make([]byte, n)
	if _, err := io.ReadFull(br, rest); err != nil {
		return header{}, fmt.Errorf("%w: version 2: %w", errNotProxy, err)
	}
	switch cmd {
	case 0: // LOCAL: the balancer's own connection (a health check)
		return header{}, nil
	case 1: // PROXY
	default:
		return header{}, fmt.Errorf("%w: version 2 command %d", errNotProxy, cmd)
	}
	var size int
	switch family {
	case 0, 3: // unspecified, unix: no address to use
		return header{}, nil
	case 1:
		size = 4
	case 2:
		size = 16
	default:
		return header{}, fmt.Errorf("%w: version 2 address family %d", errNotProxy, family)
	}
	if len(rest) < 2*size+4 {
		return header{}, fmt.Errorf("%w: version 2 addresses need %d bytes, the header has %d", errNotProxy, 2*size+4, len(rest))
	}
	src, _ := netip.AddrFromSlice(rest[:size])
	dst, _ := netip.AddrFromSlice(rest[size : 2*size])
	ports := rest[2*size:]
	return header{
		src: netip.AddrPortFrom(src, binary.BigEndian.Uint16(ports[0:])),
		dst: netip.AddrPortFrom(dst, binary.BigEndian.Uint16(ports[2:])),
	}, nil
}
