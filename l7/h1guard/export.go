package h1guard

import "time"

// Parser parses request heads as their bytes arrive, with the rules of the
// Guard (see the package comment): the parse of a server loop that reads
// the connection itself instead of wrapping it (l7/h1server). The zero
// value is ready after Reset.
type Parser struct{ p headParser }

// Reset starts the parse of a new head under lim (zero fields: defaults).
func (p *Parser) Reset(lim Limits) { p.p.reset(lim.withDefaults()) }

// Feed parses b, the bytes buffered from the head's first byte on (the
// bytes fed before included: the parser keeps its place). It returns done
// once the head is complete and valid, or a *Reject.
func (p *Parser) Feed(b []byte) (done bool, err error) { return p.p.feed(b) }

// Head returns the head parsed, complete once Feed returned done.
func (p *Parser) Head() *Head { return &p.p.h }

// Method returns the method's span of the head parsed so far (Len 0 before
// the request line).
func (p *Parser) Method() Span { return p.p.h.Method }

// MaxHead is the most bytes a request head may take under l.
func (l Limits) MaxHead() int { return l.withDefaults().maxHead() }

// MaxChunkLine bounds a chunk-size line, extensions included.
const MaxChunkLine = maxChunkLine

// ChunkSize parses a complete chunk-size line (without its CRLF) and
// returns the chunk size, or a *Reject.
func ChunkSize(line []byte) (int64, error) { return chunkLine(line) }

// CheckTrailer checks one trailer field line (without its CRLF), as a header
// field: a *Reject if it is not one.
func CheckTrailer(line []byte) error { return trailerLine(line) }

// Chunked is the rejection of a chunked body that broke the framing (400).
var Chunked = rejChunked

// HeaderTooLarge is the rejection of a head over the limits (400, nginx's
// "Request Header Or Cookie Too Large").
var HeaderTooLarge = rejHeaderLarge

// Rejected counts and logs one request of the client at remote refused
// with rej.
func (g *Guard) Rejected(remote string, rej *Reject) { g.count(remote, rej) }

// The rejections of a head that the server finds wrong after the parser
// passed it: RejectTarget, a target net/url cannot read; RejectTrailer, a
// Trailer header that declares a field no trailer may carry (framing,
// routing or the trailer list itself).
var (
	RejectTarget  = rejTarget
	RejectTrailer = rejTrailer
)

// Response is nginx's answer to rej: its error page, Connection: close;
// the header alone for a HEAD request (headOnly).
func Response(rej *Reject, now time.Time, headOnly bool) []byte { return response(rej, now, headOnly) }
