package router

import (
	"regexp"
	"regexp/syntax"
	"unicode"
)

// compileCaseless compiles expr as nginx 1.22 compiles a location ~* or a
// rewrite "(?i)..." of ingress-nginx with PCRE (no UTF mode), as far as RE2
// can: case-insensitive for ASCII letters (RE2's (?i) also folds
// U+017F to "s" and the Kelvin sign to "k": nginx sent "/%C5%BFtatic" to
// "/" where "^/static" took it on Weir), and "$" outside multi-line mode
// matches at the end or before a final newline, as PCRE's (nginx sent
// "/id/12%0A" to "^/id/[0-9]+$"). Syntax RE2 lacks (lookaround,
// backreferences) is an error, as from regexp.Compile. Letters beyond
// ASCII written in expr still fold as in RE2 (PCRE without UTF compares
// their bytes): a difference left.
func compileCaseless(expr string) (*regexp.Regexp, error) {
	re, err := syntax.Parse(expr, syntax.Perl|syntax.FoldCase)
	if err != nil {
		return nil, err
	}
	return regexp.Compile(pcreLike(re).String())
}

// pcreLike rewrites re in place (compileCaseless) and returns it.
func pcreLike(re *syntax.Regexp) *syntax.Regexp {
	for i, sub := range re.Sub {
		re.Sub[i] = pcreLike(sub)
	}
	switch re.Op {
	case syntax.OpEndText:
		if re.Flags&syntax.WasDollar != 0 {
			nl := &syntax.Regexp{Op: syntax.OpLiteral, Rune: []rune{'\n'}}
			opt := &syntax.Regexp{Op: syntax.OpQuest, Sub: []*syntax.Regexp{nl}}
			return &syntax.Regexp{Op: syntax.OpConcat, Sub: []*syntax.Regexp{opt, re}}
		}
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase == 0 { // (?-i) in expr
			return re
		}
		subs := make([]*syntax.Regexp, 0, len(re.Rune))
		for _, r := range re.Rune {
			if r > unicode.MaxASCII {
				// The parser keeps one rune of its case orbit, not the
				// one written: such letters still fold as RE2 folds.
				subs = append(subs, &syntax.Regexp{Op: syntax.OpLiteral, Rune: []rune{r}, Flags: syntax.FoldCase})
				continue
			}
			subs = append(subs, asciiFold([]rune{r, r}))
		}
		if len(subs) == 1 {
			return subs[0]
		}
		return &syntax.Regexp{Op: syntax.OpConcat, Sub: subs}
	case syntax.OpCharClass:
		// The parser folded the class (negated ones correctly); take out
		// the two folds of ASCII letters that are not ASCII.
		re.Rune = withoutRune(withoutRune(re.Rune, 0x17f, 's'), 0x212a, 'k')
	}
	return re
}

// withoutRune returns the class ranges without r when they hold ascii
// (r's simple fold), else ranges.
func withoutRune(ranges []rune, r, ascii rune) []rune {
	has := func(c rune) bool {
		for i := 0; i+1 < len(ranges); i += 2 {
			if ranges[i] <= c && c <= ranges[i+1] {
				return true
			}
		}
		return false
	}
	if !has(r) || !has(ascii) {
		return ranges
	}
	out := make([]rune, 0, len(ranges)+2)
	for i := 0; i+1 < len(ranges); i += 2 {
		lo, hi := ranges[i], ranges[i+1]
		switch {
		case r < lo || r > hi:
			out = append(out, lo, hi)
		default:
			if lo < r {
				out = append(out, lo, r-1)
			}
			if r < hi {
				out = append(out, r+1, hi)
			}
		}
	}
	return out
}

// asciiFold returns the class of the ranges pairs with the other case of
// each ASCII letter in them added.
func asciiFold(ranges []rune) *syntax.Regexp {
	out := append([]rune(nil), ranges...)
	for i := 0; i+1 < len(ranges); i += 2 {
		lo, hi := ranges[i], ranges[i+1]
		for _, span := range [][2]rune{{'a', 'z'}, {'A', 'Z'}} {
			a, b := max(lo, span[0]), min(hi, span[1])
			if a <= b {
				out = append(out, swapCase(a), swapCase(b))
			}
		}
	}
	if len(out) == 2 && out[0] == out[1] {
		return &syntax.Regexp{Op: syntax.OpLiteral, Rune: out[:1]}
	}
	return &syntax.Regexp{Op: syntax.OpCharClass, Rune: normalClass(out)}
}

func swapCase(r rune) rune {
	if unicode.IsUpper(r) {
		return unicode.ToLower(r)
	}
	return unicode.ToUpper(r)
}

// normalClass sorts and merges the ranges of a class, as syntax's printer
// and compiler expect.
func normalClass(r []rune) []rune {
	type span struct{ lo, hi rune }
	spans := make([]span, 0, len(r)/2)
	for i := 0; i+1 < len(r); i += 2 {
		spans = append(spans, span{r[i], r[i+1]})
	}
	for i := 1; i < len(spans); i++ { // insertion sort: classes are small
		for j := i; j > 0 && spans[j].lo < spans[j-1].lo; j-- {
			spans[j], spans[j-1] = spans[j-1], spans[j]
		}
	}
	out := make([]rune, 0, len(r))
	for _, s := range spans {
		if n := len(out); n > 0 && s.lo <= out[n-1]+1 {
			out[n-1] = max(out[n-1], s.hi)
			continue
		}
		out = append(out, s.lo, s.hi)
	}
	return out
}
