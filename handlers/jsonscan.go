package handlers

import "bytes"

// members finds the values of the named members of the JSON object that
// obj holds, without decoding anything: it returns, for each name, the
// raw bytes of the value (a nested object, a string with its quotes…) or
// nil when the object has no such member. Only this object's own members
// count, never those of objects nested in it; the first of duplicates
// wins. The scan stops once every name is found. ok is false when obj is
// not a well-formed object as far as the scan looked; callers then decode
// it properly, which says what is wrong.
//
// It exists for webhook floods: it jumps from quote to quote with
// bytes.IndexByte, so a 15 kB payload costs a few microseconds where a
// decode costs a hundred. It checks structure, not grammar: a malformed
// number or literal passes, which is fine for a filter whose positive
// answers are decoded properly afterwards.
func members(obj []byte, names ...string) (values [][]byte, ok bool) {
	values = make([][]byte, len(names))
	missing := len(names)
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return nil, false
	}
	i = skipSpace(obj, i+1)
	if i < len(obj) && obj[i] == '}' {
		return values, true
	}
	for {
		if i >= len(obj) || obj[i] != '"' {
			return nil, false
		}
		end, ok := skipString(obj, i)
		if !ok {
			return nil, false
		}
		key := obj[i+1 : end-1]
		i = skipSpace(obj, end)
		if i >= len(obj) || obj[i] != ':' {
			return nil, false
		}
		start := skipSpace(obj, i+1)
		end, ok = skipValue(obj, start)
		if !ok {
			return nil, false
		}
		for n, name := range names {
			// A key with escapes never equals a plain name, as none of
			// the names deploybot asks for needs escaping.
			if values[n] == nil && string(key) == name {
				values[n] = obj[start:end]
				missing--
			}
		}
		if missing == 0 {
			return values, true
		}
		i = skipSpace(obj, end)
		if i >= len(obj) {
			return nil, false
		}
		switch obj[i] {
		case ',':
			i = skipSpace(obj, i+1)
		case '}':
			return values, true
		default:
			return nil, false
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index just past the string whose opening quote
// is at i.
func skipString(b []byte, i int) (int, bool) {
	i++
	for {
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			return 0, false
		}
		i += q
		// The quote ends the string unless an odd number of
		// backslashes escapes it.
		n := 0
		for j := i - 1; j >= 0 && b[j] == '\\'; j-- {
			n++
		}
		i++
		if n%2 == 0 {
			return i, true
		}
	}
}

// skipValue returns the index just past the value starting at i.
func skipValue(b []byte, i int) (int, bool) {
	start, depth := i, 0
	for i < len(b) {
		switch c := b[i]; c {
		case '"':
			end, ok := skipString(b, i)
			if !ok {
				return 0, false
			}
			i = end
		case '{', '[':
			depth++
			i++
		case '}', ']':
			if depth == 0 {
				return i, i > start // the enclosing object's end: a bare scalar ends here
			}
			depth--
			i++
		case ',', ' ', '\t', '\n', '\r':
			if depth == 0 {
				return i, i > start
			}
			i++
		default:
			i++
			continue
		}
		if depth == 0 {
			return i, true
		}
	}
	return 0, false
}
