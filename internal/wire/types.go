package wire

import (
	"errors"
	"math"
	"strconv"
	"time"
)

// Timestamp is an instant that travels as a JSON number of seconds since the
// Unix epoch, as awsJson1.1 encodes timestamps: 1700000000.123.
type Timestamp time.Time

// NewTimestamp returns a *Timestamp for t.
func NewTimestamp(t time.Time) *Timestamp {
	ts := Timestamp(t)
	return &ts
}

// Time returns t as a time.Time, or the zero time when t is nil.
func (t *Timestamp) Time() time.Time {
	if t == nil {
		return time.Time{}
	}
	return time.Time(*t)
}

// MarshalJSON writes epoch seconds with a millisecond fraction, dropping a
// zero fraction: 1700000000.123, 1700000000.1, 1700000000.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	ms := time.Time(t).UnixMilli()
	var b []byte
	if ms < 0 {
		b = append(b, '-')
		ms = -ms
	}
	sec, frac := ms/1000, ms%1000
	b = strconv.AppendInt(b, sec, 10)
	if frac != 0 {
		f := strconv.AppendInt(nil, 1000+frac, 10)[1:] // three digits
		for len(f) > 0 && f[len(f)-1] == '0' {
			f = f[:len(f)-1]
		}
		b = append(b, '.')
		b = append(b, f...)
	}
	return b, nil
}

// UnmarshalJSON accepts an integer or fractional number of epoch seconds.
// JSON null leaves t unchanged.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) || math.Abs(f) > 1e14 {
		return errors.New("wire: timestamp is not a number of epoch seconds")
	}
	sec := math.Floor(f)
	nsec := math.Round((f - sec) * 1e3) // AWS timestamps carry milliseconds
	*t = Timestamp(time.Unix(int64(sec), int64(nsec)*int64(time.Millisecond)).UTC())
	return nil
}

// Ptr returns a pointer to a copy of v.
func Ptr[T any](v T) *T {
	return &v
}

// Value returns *p, or the zero value of T when p is nil.
func Value[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}

// Operation describes one AWS KMS operation.
type Operation struct {
	Name   string   // operation name, e.g. "Encrypt"
	Input  string   // input shape name, e.g. "EncryptRequest"
	Output string   // output shape name; "" when the operation answers {}
	Errors []string // error shapes the model lists for the operation

	// NewInput returns a new, empty value of the input shape, ready for
	// its DecodeJSON method.
	NewInput func() Validator
}
