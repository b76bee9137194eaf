package h1guard

// maxChunkLine bounds a chunk-size line, extensions included (net/http's
// own bound).
const maxChunkLine = 4096

// chunkLine parses a complete chunk-size line (without its CRLF):
// hexadecimal digits, then optionally ";" and extensions without control
// bytes. It returns the chunk size.
func chunkLine(line []byte) (int64, error) {
	i := 0
	var n int64
	for i < len(line) && isHexDigit(line[i]) {
		if i == 15 {
			return 0, rejChunked // over 2^60: no body is that long
		}
		n = n<<4 | int64(unhex(line[i]))
		i++
	}
	if i == 0 {
		return 0, rejChunked
	}
	if i < len(line) {
		if line[i] != ';' {
			return 0, rejChunked
		}
		for _, c := range line[i+1:] {
			if isCTL(c) && c != '\t' {
				return 0, rejChunked
			}
		}
	}
	return n, nil
}

func unhex(c byte) byte {
	switch {
	case isDigit(c):
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// trailerLine checks one trailer field line (without its CRLF): a header
// field, no obs-fold.
func trailerLine(line []byte) error {
	var p headParser
	p.reset(Limits{}.withDefaults())
	if err := p.field(line, line, 0); err != nil {
		return rejChunked
	}
	return nil
}
