// Package query is the runtime of the AWS query protocol (awsQuery), the
// protocol of IAM and STS: requests are form-encoded POST bodies with
// Action and Version, responses are XML. The shapes of each service are
// generated from its botocore model into a subpackage (iamapi, stsapi) by
// ./gen; this package holds what they share: the form decoder, the
// validator that words failures as AWS does, the XML writer and the error
// document.
//
// # Wire format
//
// A list member Name is sent as Name.member.1, Name.member.2, ...; an empty
// list as "Name=" (botocore's query serializer); a structure's members as
// Name.Member. A response is
//
//	<OpResponse xmlns="NS"><OpResult>...</OpResult><ResponseMetadata><RequestId>ID</RequestId></ResponseMetadata></OpResponse>
//
// and an error
//
//	<ErrorResponse xmlns="NS"><Error><Type>Sender</Type><Code>C</Code><Message>M</Message></Error><RequestId>ID</RequestId></ErrorResponse>
//
// as the botocore query parsers read them (botocore/parsers.py,
// QueryParser and its error handling).
package query

import (
	"bytes"
	"encoding/xml"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/trent-kms/trent/internal/wire"
)

// CodeValidation is the code of a request that fails the model's
// constraints: "ValidationError" in IAM and STS (awsQuery), unlike the
// ValidationException of JSON services. IAM's wording, e.g. "1 validation
// error detected: Value 'x' at 'userName' failed to satisfy constraint:
// Member must satisfy regular expression pattern: [\w+=,.@-]+", is AWS's
// Coral validator's, recorded for STS in JuliaCloud/AWSCore.jl#38:
// {"Code":"ValidationError","Message":"1 validation error detected: Value
// 'a:b' at 'roleSessionName' failed to satisfy constraint: Member must
// satisfy regular expression pattern: [\\w+=,.@-]*","Type":"Sender"}.
const CodeValidation = "ValidationError"

// Decoder reads the members of an input shape from a parsed form. The
// first failure is kept in Err.
type Decoder struct {
	form url.Values
	// heads holds every "X.member.N" prefix present in the form, so that
	// counting a list's elements costs one map lookup per element.
	heads map[string]bool
	Err   error
}

// NewDecoder returns a Decoder over f.
func NewDecoder(f url.Values) *Decoder {
	d := &Decoder{form: f, heads: map[string]bool{}}
	for k := range f {
		for i := 0; ; {
			j := strings.Index(k[i:], ".member.")
			if j < 0 {
				break
			}
			end := i + j + len(".member.")
			for end < len(k) && k[end] >= '0' && k[end] <= '9' {
				end++
			}
			d.heads[k[:end]] = true
			i = end
			if i >= len(k) {
				break
			}
		}
	}
	return d
}

func (d *Decoder) fail(key, value, constraint string) {
	if d.Err == nil {
		d.Err = &wire.Error{Code: CodeValidation, Message: "1 validation error detected: Value '" + value + "' at '" + key + "' failed to satisfy constraint: " + constraint}
	}
}

func (d *Decoder) value(key string) (string, bool) {
	vs, ok := d.form[key]
	if !ok {
		return "", false
	}
	if len(vs) > 1 {
		// A repeated parameter could be read differently by a proxy in
		// front of Trent and by Trent: refused (strict; AWS's answer is not
		// recorded, wording inferred).
		if d.Err == nil {
			d.Err = &wire.Error{Code: "InvalidParameterValue", Message: "The parameter " + key + " is given more than once."}
		}
	}
	return vs[0], true
}

// String returns the value of key, or nil if it is absent.
func (d *Decoder) String(key string) *string {
	v, ok := d.value(key)
	if !ok {
		return nil
	}
	return &v
}

// Int32 returns the integer value of key, or nil if it is absent.
func (d *Decoder) Int32(key string) *int32 {
	v, ok := d.value(key)
	if !ok {
		return nil
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		// Wording inferred: AWS's answer to a non-number is not recorded.
		d.fail(key, v, "Member must be a number")
		return nil
	}
	i := int32(n)
	return &i
}

// Bool returns the boolean value of key, or nil if it is absent.
func (d *Decoder) Bool(key string) *bool {
	v, ok := d.value(key)
	if !ok {
		return nil
	}
	var b bool
	switch v {
	case "true":
		b = true
	case "false":
	default:
		d.fail(key, v, "Member must be a boolean") // wording inferred
		return nil
	}
	return &b
}

// List returns the number of elements of the list sent under prefix
// (prefix.member.1 ... prefix.member.N, counting up to the first gap) and
// whether the list was sent at all (an empty list is sent as "prefix=").
func (d *Decoder) List(prefix string) (int, bool) {
	n := 0
	for d.heads[prefix+".member."+strconv.Itoa(n+1)] {
		n++
	}
	if n > 0 {
		return n, true
	}
	_, ok := d.form[prefix]
	return 0, ok
}

// Validator collects constraint failures in AWS's words. Its zero value is
// ready.
type Validator struct{ msgs []string }

// Null records a missing required member.
func (v *Validator) Null(path string) {
	v.msgs = append(v.msgs, "Value null at '"+path+"' failed to satisfy constraint: Member must not be null")
}

// Fail records a constraint failure of value at path.
func (v *Validator) Fail(path, value string, shown bool, constraint string) {
	var b strings.Builder
	b.WriteString("Value ")
	if shown {
		b.WriteString("'" + value + "' ")
	}
	b.WriteString("at '" + path + "' failed to satisfy constraint: " + constraint)
	v.msgs = append(v.msgs, b.String())
}

// Result returns nil or the ValidationError for the recorded failures.
func (v *Validator) Result() error {
	switch len(v.msgs) {
	case 0:
		return nil
	case 1:
		return &wire.Error{Code: CodeValidation, Message: "1 validation error detected: " + v.msgs[0]}
	}
	return &wire.Error{Code: CodeValidation, Message: strconv.Itoa(len(v.msgs)) + " validation errors detected: " + strings.Join(v.msgs, "; ")}
}

// StrLen returns the length of s in UTF-16 code units, as AWS's Java
// validator counts.
func StrLen(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// ListValue renders a string list as Java's List.toString does.
func ListValue(l []string) string { return "[" + strings.Join(l, ", ") + "]" }

// Writer builds an XML response.
type Writer struct{ b bytes.Buffer }

// Start opens element name.
func (w *Writer) Start(name string) { w.b.WriteString("<" + name + ">") }

// End closes element name.
func (w *Writer) End(name string) { w.b.WriteString("</" + name + ">") }

// Text writes <name>s</name> with s escaped.
func (w *Writer) Text(name, s string) {
	w.Start(name)
	xml.EscapeText(&w.b, []byte(s))
	w.End(name)
}

// String writes the element if s is set.
func (w *Writer) String(name string, s *string) {
	if s != nil {
		w.Text(name, *s)
	}
}

// Int32 writes the element if n is set.
func (w *Writer) Int32(name string, n *int32) {
	if n != nil {
		w.Text(name, strconv.FormatInt(int64(*n), 10))
	}
}

// Bool writes the element if b is set.
func (w *Writer) Bool(name string, b *bool) {
	if b != nil {
		w.Text(name, strconv.FormatBool(*b))
	}
}

// Time writes the element if t is set, in ISO 8601 UTC as IAM does
// ("2013-08-20T22:54:14Z"; fractional seconds are not sent).
func (w *Writer) Time(name string, t *time.Time) {
	if t != nil {
		w.Text(name, t.UTC().Format("2006-01-02T15:04:05Z"))
	}
}

// Result is implemented by every generated output shape.
type Result interface{ EncodeXML(w *Writer) }

// Response returns the XML document answering operation op. result may be
// nil for operations without output; wrapper is the model's resultWrapper
// ("" for none).
func Response(ns, op, wrapper string, result Result, requestID string) []byte {
	var w Writer
	w.b.WriteString(`<` + op + `Response xmlns="` + ns + `">`)
	if wrapper != "" && result != nil {
		w.Start(wrapper)
		result.EncodeXML(&w)
		w.End(wrapper)
	}
	w.Start("ResponseMetadata")
	w.Text("RequestId", requestID)
	w.End("ResponseMetadata")
	w.End(op + "Response")
	return w.b.Bytes()
}

// ErrorResponse returns the XML error document. sender selects the Type,
// "Sender" for client errors and "Receiver" for server faults.
func ErrorResponse(ns, code, message, requestID string, sender bool) []byte {
	var w Writer
	w.b.WriteString(`<ErrorResponse xmlns="` + ns + `">`)
	w.Start("Error")
	typ := "Receiver"
	if sender {
		typ = "Sender"
	}
	w.Text("Type", typ)
	w.Text("Code", code)
	w.Text("Message", message)
	w.End("Error")
	w.Text("RequestId", requestID)
	w.End("ErrorResponse")
	return w.b.Bytes()
}

// ErrorInfo is the HTTP status of an error code and whether it is the
// sender's fault.
type ErrorInfo struct {
	Status int
	Sender bool
}
