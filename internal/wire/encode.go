package wire

import (
	"encoding/base64"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// JSONAppender is implemented by every generated structure shape
// (encoders.go). AppendJSON appends the value to b byte for byte as
// encoding/json's Marshal writes it, without reflection, so that a response
// can be encoded into a pooled buffer: the tests in package wire compare the
// two over every shape and under fuzzing.
type JSONAppender interface {
	AppendJSON(b []byte) []byte
}

// jsonName appends the quoted member name and colon n, preceded by a
// comma unless it is the first member.
func jsonName(b []byte, first *bool, n string) []byte {
	if !*first {
		b = append(b, ',')
	}
	*first = false
	return append(b, n...)
}

// jsonSafe reports the ASCII bytes that encoding/json writes as they are
// (its htmlSafeSet): printable, and neither '"', '\\', '<', '>' nor '&'.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendJSONString appends s as a JSON string escaped as encoding/json
// escapes it by default: '<', '>' and '&' as \u003c, \u003e and \u0026,
// U+2028 and U+2029 as \u2028 and \u2029, and invalid UTF-8 as U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// AppendJSONString appends s as a JSON string as json.Marshal writes it,
// for the documents that are not generated shapes (the error document).
func AppendJSONString(b []byte, s string) []byte { return appendJSONString(b, s) }

func appendJSONStrings(b []byte, l []string) []byte { return appendStrings(b, l, appendJSONString) }

// appendJSONStringMap appends m as a JSON object with its keys sorted, as
// encoding/json writes a map.
func appendJSONStringMap(b []byte, m map[string]string) []byte {
	return appendStringMap(b, m, appendJSONString)
}

// appendStrings appends l as a JSON array of strings, each written by str
// (appendJSONString or appendAuditString: they escape differently).
func appendStrings(b []byte, l []string, str func([]byte, string) []byte) []byte {
	b = append(b, '[')
	for i, s := range l {
		if i > 0 {
			b = append(b, ',')
		}
		b = str(b, s)
	}
	return append(b, ']')
}

// appendStringMap appends m as a JSON object with its keys sorted, each key
// and value written by str.
func appendStringMap(b []byte, m map[string]string, str func([]byte, string) []byte) []byte {
	var buf [8]string
	keys := buf[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = str(b, k)
		b = append(b, ':')
		b = str(b, m[k])
	}
	return append(b, '}')
}

// appendJSONBlob appends p as a JSON string in standard base64, as
// encoding/json writes a []byte.
func appendJSONBlob(b []byte, p []byte) []byte {
	b = append(b, '"')
	b = base64.StdEncoding.AppendEncode(b, p)
	return append(b, '"')
}

// appendJSONTimestamp appends t as Timestamp.MarshalJSON writes it.
func appendJSONTimestamp(b []byte, t Timestamp) []byte {
	ms := time.Time(t).UnixMilli()
	if ms < 0 {
		b = append(b, '-')
		ms = -ms
	}
	sec, frac := ms/1000, ms%1000
	b = strconv.AppendInt(b, sec, 10)
	if frac != 0 {
		b = append(b, '.', byte('0'+frac/100))
		if frac%100 != 0 {
			b = append(b, byte('0'+frac/10%10))
			if frac%10 != 0 {
				b = append(b, byte('0'+frac%10))
			}
		}
	}
	return b
}
