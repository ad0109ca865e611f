package wire

import (
	"encoding/base64"
	"errors"
	"fmt"
	"unicode/utf8"
)

// MaxDepth is the deepest nesting of objects and arrays that a request body
// may have. No KMS input shape nests deeper than four levels; the bound keeps
// unknown members from driving the decoder arbitrarily deep. AWS's own limit
// is not documented (inferred: Jackson, which AWS's JSON services run on,
// has a default of 1000 since 2.15); we choose the strict answer.
const MaxDepth = 64

// errSerialization is the code of every decoding failure.
const codeSerialization = "SerializationException"

// decoder reads one awsJson1.1 request body. It is a strict RFC 8259 parser:
// member names are matched byte for byte after unescaping, duplicate member
// names in any object are refused, and strings must be valid UTF-8 without
// unpaired UTF-16 surrogate escapes. The generated decodeObject methods in
// decoders.go drive it.
type decoder struct {
	data    []byte
	pos     int
	depth   int
	scratch []byte // unescaped string; valid until the next string is read
	typeErr error  // first value of the wrong type, reported if the document is otherwise sound
}

// syntax returns the error for a document that is not strict JSON. The
// caller sees SerializationException without a message, as AWS sends for a
// body it cannot parse; the cause (with the byte offset, never the content)
// is logged.
func (d *decoder) syntax(msg string) error {
	return &Error{Code: codeSerialization, Err: fmt.Errorf("wire: %s at offset %d", msg, d.pos)}
}

// mismatch records that the value at path has the wrong JSON type. As with
// encoding/json, decoding goes on so that a malformed document is reported as
// such; the first mismatch is returned at the end. The message is today's:
// "Unexpected value at 'Tags.TagKey'", with the dotted path of structure
// members; at the top level there is no message.
func (d *decoder) mismatch(path string) {
	if d.typeErr != nil {
		return
	}
	e := &Error{Code: codeSerialization, Err: fmt.Errorf("wire: unexpected value at offset %d", d.pos)}
	if path != "" {
		e.Message = "Unexpected value at '" + path + "'"
	}
	d.typeErr = e
}

// finish checks that only whitespace follows the document and returns the
// first error: err, a syntax error, or the first type mismatch.
func (d *decoder) finish(err error) error {
	if d.scratch != nil {
		// Unescaped strings may have held plaintext.
		clear(d.scratch[:cap(d.scratch)])
	}
	if err != nil {
		return err
	}
	d.ws()
	if d.pos != len(d.data) {
		return d.syntax("data after the top-level value")
	}
	return d.typeErr
}

// open starts a document. An empty body (or one of only whitespace) and a
// JSON null are an empty object: open returns false and decoding is done.
// Any other value than an object is a mismatch without a path.
func (d *decoder) open() (bool, error) {
	d.ws()
	if d.pos == len(d.data) {
		return false, nil
	}
	return d.objectStart("", true)
}

func (d *decoder) ws() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// peek skips whitespace and returns the next byte, or 0 at the end.
func (d *decoder) peek() byte {
	d.ws()
	if d.pos == len(d.data) {
		return 0
	}
	return d.data[d.pos]
}

func (d *decoder) literal(lit string) error {
	if len(d.data)-d.pos < len(lit) || string(d.data[d.pos:d.pos+len(lit)]) != lit {
		return d.syntax("invalid literal")
	}
	d.pos += len(lit)
	return nil
}

// null consumes a JSON null and reports whether there was one.
func (d *decoder) null() (bool, error) {
	if d.peek() != 'n' {
		return false, nil
	}
	return true, d.literal("null")
}

func (d *decoder) push() error {
	d.depth++
	if d.depth > MaxDepth {
		return d.syntax("nesting too deep")
	}
	return nil
}

// objectStart consumes '{' and returns true. A null (when nullable) is
// consumed and returns false; any other value is skipped, recorded as a
// mismatch at path, and returns false.
func (d *decoder) objectStart(path string, nullable bool) (bool, error) {
	switch d.peek() {
	case '{':
		d.pos++
		return true, d.push()
	case 'n':
		if nullable {
			return false, d.literal("null")
		}
	}
	return false, d.skipMismatch(path)
}

// arrayStart is objectStart for '['.
func (d *decoder) arrayStart(path string, nullable bool) (bool, error) {
	switch d.peek() {
	case '[':
		d.pos++
		return true, d.push()
	case 'n':
		if nullable {
			return false, d.literal("null")
		}
	}
	return false, d.skipMismatch(path)
}

func (d *decoder) skipMismatch(path string) error {
	if err := d.skip(); err != nil {
		return err
	}
	d.mismatch(path)
	return nil
}

// member reads the next member name of an object whose '{' has been read,
// and the ':' after it. At the closing '}' it returns ok false. first is
// true for the first call on an object.
func (d *decoder) member(first bool) (name []byte, ok bool, err error) {
	c := d.peek()
	if c == '}' {
		d.pos++
		d.depth--
		return nil, false, nil
	}
	if !first {
		if c != ',' {
			return nil, false, d.syntax("expected ',' or '}'")
		}
		d.pos++
		c = d.peek()
	}
	if c != '"' {
		return nil, false, d.syntax("expected member name")
	}
	name, err = d.rawString()
	if err != nil {
		return nil, false, err
	}
	if d.peek() != ':' {
		return nil, false, d.syntax("expected ':'")
	}
	d.pos++
	return name, true, nil
}

// more reports whether an array whose '[' has been read has another element,
// consuming the ',' or the closing ']'.
func (d *decoder) more(first bool) (bool, error) {
	c := d.peek()
	if c == ']' {
		d.pos++
		d.depth--
		return false, nil
	}
	if first {
		return true, nil
	}
	if c != ',' {
		return false, d.syntax("expected ',' or ']'")
	}
	d.pos++
	return true, nil
}

// duplicate returns the error for a member name that occurs twice in one
// object.
func (d *decoder) duplicate() error {
	return d.syntax("duplicate member name")
}

// nameSet holds the unknown member names seen in one object. A few names
// are compared in a list; past that a map keeps a body with many members
// linear (a 1 MiB policy body could otherwise make the check quadratic).
type nameSet struct {
	list []string
	set  map[string]struct{}
}

// add records name and reports whether it was new.
func (s *nameSet) add(name []byte) bool {
	if s.set != nil {
		if _, dup := s.set[string(name)]; dup {
			return false
		}
		s.set[string(name)] = struct{}{}
		return true
	}
	for _, n := range s.list {
		if n == string(name) {
			return false
		}
	}
	s.list = append(s.list, string(name))
	if len(s.list) == 16 {
		s.set = make(map[string]struct{}, 32)
		for _, n := range s.list {
			s.set[n] = struct{}{}
		}
		s.list = nil
	}
	return true
}

// unknown skips the value of a member that the shape does not have, as AWS
// ignores unknown members. names holds the unknown names seen so far in the
// object, so that a repeated unknown name is refused too.
func (d *decoder) unknown(names *nameSet, name []byte) error {
	if !names.add(name) {
		return d.duplicate()
	}
	return d.skip()
}

// rawString reads a JSON string at d.pos and returns its content, unescaped.
// The result aliases d.data or d.scratch and is valid until the next call.
func (d *decoder) rawString() ([]byte, error) {
	if d.pos >= len(d.data) || d.data[d.pos] != '"' {
		return nil, d.syntax("expected string")
	}
	start := d.pos + 1
	i := start
	for i < len(d.data) {
		c := d.data[i]
		switch {
		case c == '"':
			d.pos = i + 1
			return d.data[start:i], nil
		case c == '\\':
			return d.unescape(start, i)
		case c < 0x20:
			d.pos = i
			return nil, d.syntax("control character in string")
		case c < utf8.RuneSelf:
			i++
		default:
			r, n := utf8.DecodeRune(d.data[i:])
			if r == utf8.RuneError && n == 1 {
				d.pos = i
				return nil, d.syntax("invalid UTF-8")
			}
			i += n
		}
	}
	d.pos = i
	return nil, d.syntax("unterminated string")
}

// unescape continues rawString from the first backslash at i, writing the
// unescaped string into d.scratch.
func (d *decoder) unescape(start, i int) ([]byte, error) {
	b := append(d.scratch[:0], d.data[start:i]...)
	defer func() { d.scratch = b[:0] }()
	for i < len(d.data) {
		c := d.data[i]
		switch {
		case c == '"':
			d.pos = i + 1
			return b, nil
		case c == '\\':
			if i+1 >= len(d.data) {
				d.pos = i
				return nil, d.syntax("unterminated string")
			}
			switch e := d.data[i+1]; e {
			case '"', '\\', '/':
				b = append(b, e)
				i += 2
			case 'b':
				b = append(b, '\b')
				i += 2
			case 'f':
				b = append(b, '\f')
				i += 2
			case 'n':
				b = append(b, '\n')
				i += 2
			case 'r':
				b = append(b, '\r')
				i += 2
			case 't':
				b = append(b, '\t')
				i += 2
			case 'u':
				r, ok := hex4(d.data, i+2)
				if !ok {
					d.pos = i
					return nil, d.syntax("invalid \\u escape")
				}
				i += 6
				switch {
				case r >= 0xDC00 && r < 0xE000:
					d.pos = i - 6
					return nil, d.syntax("unpaired low surrogate escape")
				case r >= 0xD800 && r < 0xDC00:
					lo, ok := rune(0), false
					if i+1 < len(d.data) && d.data[i] == '\\' && d.data[i+1] == 'u' {
						lo, ok = hex4(d.data, i+2)
					}
					if !ok || lo < 0xDC00 || lo >= 0xE000 {
						d.pos = i - 6
						return nil, d.syntax("unpaired high surrogate escape")
					}
					i += 6
					r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
				}
				b = utf8.AppendRune(b, r)
			default:
				d.pos = i
				return nil, d.syntax("invalid escape")
			}
		case c < 0x20:
			d.pos = i
			return nil, d.syntax("control character in string")
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			r, n := utf8.DecodeRune(d.data[i:])
			if r == utf8.RuneError && n == 1 {
				d.pos = i
				return nil, d.syntax("invalid UTF-8")
			}
			b = append(b, d.data[i:i+n]...)
			i += n
		}
	}
	d.pos = i
	return nil, d.syntax("unterminated string")
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// number reads a JSON number and reports whether it is an integer (no
// fraction, no exponent).
func (d *decoder) number() (tok []byte, isInt bool, err error) {
	start := d.pos
	i := d.pos
	n := len(d.data)
	if i < n && d.data[i] == '-' {
		i++
	}
	switch {
	case i < n && d.data[i] == '0':
		i++
	case i < n && d.data[i] >= '1' && d.data[i] <= '9':
		for i < n && d.data[i] >= '0' && d.data[i] <= '9' {
			i++
		}
	default:
		d.pos = i
		return nil, false, d.syntax("invalid number")
	}
	isInt = true
	if i < n && d.data[i] == '.' {
		isInt = false
		i++
		if i >= n || d.data[i] < '0' || d.data[i] > '9' {
			d.pos = i
			return nil, false, d.syntax("invalid number")
		}
		for i < n && d.data[i] >= '0' && d.data[i] <= '9' {
			i++
		}
	}
	if i < n && (d.data[i] == 'e' || d.data[i] == 'E') {
		isInt = false
		i++
		if i < n && (d.data[i] == '+' || d.data[i] == '-') {
			i++
		}
		if i >= n || d.data[i] < '0' || d.data[i] > '9' {
			d.pos = i
			return nil, false, d.syntax("invalid number")
		}
		for i < n && d.data[i] >= '0' && d.data[i] <= '9' {
			i++
		}
	}
	d.pos = i
	return d.data[start:i], isInt, nil
}

// parseInt parses an integer token from number within [lo, hi], lo < 0 < hi.
func parseInt(tok []byte, lo, hi int64) (int64, bool) {
	neg := tok[0] == '-'
	if neg {
		tok = tok[1:]
	}
	if len(tok) > 19 { // JSON has no leading zeros: 20 digits are at least 1e19
		return 0, false
	}
	var v uint64
	for _, c := range tok {
		v = v*10 + uint64(c-'0')
	}
	if neg {
		if v > uint64(-(lo+1))+1 {
			return 0, false
		}
		return int64(-v), true
	}
	if v > uint64(hi) {
		return 0, false
	}
	return int64(v), true
}

// skip consumes one value of any type, checking it as strictly as a member
// value: names unique within each object, strings valid UTF-8.
func (d *decoder) skip() error {
	switch c := d.peek(); {
	case c == '"':
		_, err := d.rawString()
		return err
	case c == '{':
		d.pos++
		if err := d.push(); err != nil {
			return err
		}
		var names nameSet
		for first := true; ; first = false {
			name, ok, err := d.member(first)
			if err != nil {
				return err
			}
			if !ok {
				return nil
			}
			if err := d.unknown(&names, name); err != nil {
				return err
			}
		}
	case c == '[':
		d.pos++
		if err := d.push(); err != nil {
			return err
		}
		for first := true; ; first = false {
			more, err := d.more(first)
			if err != nil {
				return err
			}
			if !more {
				return nil
			}
			if err := d.skip(); err != nil {
				return err
			}
		}
	case c == 't':
		return d.literal("true")
	case c == 'f':
		return d.literal("false")
	case c == 'n':
		return d.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		_, _, err := d.number()
		return err
	case c == 0:
		return d.syntax("unexpected end of input")
	}
	return d.syntax("invalid character")
}

// str reads a string member value. It returns ok false for null and for a
// value of another type (recorded as a mismatch at path).
func (d *decoder) str(path string, nullable bool) (s []byte, ok bool, err error) {
	switch d.peek() {
	case '"':
		s, err = d.rawString()
		return s, err == nil, err
	case 'n':
		if nullable {
			return nil, false, d.literal("null")
		}
	}
	return nil, false, d.skipMismatch(path)
}

func (d *decoder) stringPtr(p **string, path string) error {
	b, ok, err := d.str(path, true)
	if ok {
		s := string(b)
		*p = &s
	}
	return err
}

// enumPtr is stringPtr for enum members: known values share the constant
// string instead of a copy.
func (d *decoder) enumPtr(p **string, path string) error {
	b, ok, err := d.str(path, true)
	if ok {
		s := enumString(b)
		*p = &s
	}
	return err
}

func (d *decoder) boolPtr(p **bool, path string) error {
	var v bool
	switch d.peek() {
	case 't':
		v = true
		if err := d.literal("true"); err != nil {
			return err
		}
	case 'f':
		if err := d.literal("false"); err != nil {
			return err
		}
	case 'n':
		return d.literal("null")
	default:
		return d.skipMismatch(path)
	}
	*p = &v
	return nil
}

// integer reads an integer member in [lo, hi]. A fraction, an exponent or a
// value out of range is a mismatch, as encoding/json reported it.
func (d *decoder) integer(path string, lo, hi int64) (int64, bool, error) {
	switch c := d.peek(); {
	case c == 'n':
		return 0, false, d.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		tok, isInt, err := d.number()
		if err != nil {
			return 0, false, err
		}
		if isInt {
			if v, ok := parseInt(tok, lo, hi); ok {
				return v, true, nil
			}
		}
		d.mismatch(path)
		return 0, false, nil
	}
	return 0, false, d.skipMismatch(path)
}

func (d *decoder) int32Ptr(p **int32, path string) error {
	v, ok, err := d.integer(path, -1<<31, 1<<31-1)
	if ok {
		n := int32(v)
		*p = &n
	}
	return err
}

func (d *decoder) int64Ptr(p **int64, path string) error {
	v, ok, err := d.integer(path, -1<<63, 1<<63-1)
	if ok {
		*p = &v
	}
	return err
}

// blob reads base64 (standard alphabet, padded) into *p. Undecodable base64
// is SerializationException without a message, as encoding/json reported it.
func (d *decoder) blob(p *[]byte, path string) error {
	b, ok, err := d.str(path, true)
	if !ok {
		return err
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(b)))
	n, err := base64.StdEncoding.Decode(out, b)
	if err != nil {
		if d.typeErr == nil {
			d.typeErr = &Error{Code: codeSerialization, Err: fmt.Errorf("wire: base64 member at offset %d: %w", d.pos, err)}
		}
		return nil
	}
	*p = out[:n]
	return nil
}

// timestamp reads epoch seconds. Anything but a number or null is
// SerializationException without a message, as encoding/json reported it
// through Timestamp.UnmarshalJSON.
func (d *decoder) timestamp(p **Timestamp, path string) error {
	switch c := d.peek(); {
	case c == 'n':
		return d.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		tok, _, err := d.number()
		if err != nil {
			return err
		}
		var t Timestamp
		if err := t.UnmarshalJSON(tok); err != nil {
			if d.typeErr == nil {
				d.typeErr = &Error{Code: codeSerialization, Err: err}
			}
			return nil
		}
		*p = &t
		return nil
	}
	if err := d.skip(); err != nil {
		return err
	}
	if d.typeErr == nil {
		d.typeErr = &Error{Code: codeSerialization, Err: errors.New("wire: timestamp is not a number of epoch seconds")}
	}
	return nil
}

// stringList reads a list of strings. A null element is a mismatch: no
// string shape has a null value.
func (d *decoder) stringList(p *[]string, path string) error {
	ok, err := d.arrayStart(path, true)
	if !ok {
		return err
	}
	l := []string{}
	for first := true; ; first = false {
		more, err := d.more(first)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		b, ok, err := d.str(path, false)
		if err != nil {
			return err
		}
		if ok {
			l = append(l, string(b))
		}
	}
	*p = l
	return nil
}

// stringMap reads a map of strings, such as an encryption context, exactly
// as sent: a repeated key is refused and a null value is a mismatch, so two
// maps that differ in any byte never bind to the same value.
func (d *decoder) stringMap(p *map[string]string, path string) error {
	ok, err := d.objectStart(path, true)
	if !ok {
		return err
	}
	m := map[string]string{}
	for first := true; ; first = false {
		name, ok, err := d.member(first)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		if _, dup := m[string(name)]; dup {
			return d.duplicate()
		}
		k := string(name)
		b, ok, err := d.str(path, false)
		if err != nil {
			return err
		}
		if ok {
			m[k] = string(b)
		} else {
			m[k] = "" // remembered for duplicate detection; the mismatch is reported
		}
	}
	*p = m
	return nil
}

// once marks a member as seen and refuses it the second time.
func (d *decoder) once(seen *uint64, bit uint64) error {
	if *seen&bit != 0 {
		return d.duplicate()
	}
	*seen |= bit
	return nil
}

// objectDecoder is implemented by the generated structure decoders.
type objectDecoder interface {
	decodeObject(d *decoder, path string) error
}

// structPtr reads a structure member. path names the member in mismatch
// messages; prefix (path + ".") is passed to the structure's own members.
func structPtr[T any, PT interface {
	*T
	objectDecoder
}](d *decoder, p **T, path, prefix string) error {
	ok, err := d.objectStart(path, true)
	if !ok {
		return err
	}
	v := PT(new(T))
	if err := v.decodeObject(d, prefix); err != nil {
		return err
	}
	*p = (*T)(v)
	return nil
}

// structList reads a list of structures. A null element is a mismatch.
func structList[T any, PT interface {
	*T
	objectDecoder
}](d *decoder, p *[]T, path, prefix string) error {
	ok, err := d.arrayStart(path, true)
	if !ok {
		return err
	}
	l := []T{}
	for first := true; ; first = false {
		more, err := d.more(first)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		ok, err := d.objectStart(path, false)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		l = append(l, *new(T))
		if err := PT(&l[len(l)-1]).decodeObject(d, prefix); err != nil {
			return err
		}
	}
	*p = l
	return nil
}
