package wire

import (
	"strconv"
	"strings"
)

// Validator is implemented by every input shape.
type Validator interface {
	// Validate returns nil or a ValidationException *Error.
	Validate() error
}

// validator collects validation failures in the form AWS reports them. Its
// zero value is ready and allocates nothing until the first failure.
type validator struct {
	msgs []string
}

// null records a missing required member.
func (v *validator) null(prefix, name string) {
	v.msgs = append(v.msgs, "Value null at '"+prefix+name+"' failed to satisfy constraint: Member must not be null")
}

// fail records a constraint failure. When shown is false (blobs, sensitive
// members) the value is left out, as AWS does: "Value at 'plaintext' ...".
func (v *validator) fail(prefix, name, value string, shown bool, constraint string) {
	var b strings.Builder
	b.WriteString("Value ")
	if shown {
		b.WriteString("'")
		b.WriteString(value)
		b.WriteString("' ")
	}
	b.WriteString("at '")
	b.WriteString(prefix)
	b.WriteString(name)
	b.WriteString("' failed to satisfy constraint: ")
	b.WriteString(constraint)
	v.msgs = append(v.msgs, b.String())
}

// result returns nil or the ValidationException for the recorded failures.
func (v *validator) result() error {
	switch len(v.msgs) {
	case 0:
		return nil
	case 1:
		return &Error{Code: "ValidationException", Message: "1 validation error detected: " + v.msgs[0]}
	}
	return &Error{
		Code:    "ValidationException",
		Message: strconv.Itoa(len(v.msgs)) + " validation errors detected: " + strings.Join(v.msgs, "; "),
	}
}

// strLen returns the length of s in UTF-16 code units, which is how AWS's
// Java validator measures string length.
func strLen(s string) int {
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

// listValue renders a string list as Java's List.toString does.
func listValue(l []string) string {
	return "[" + strings.Join(l, ", ") + "]"
}
