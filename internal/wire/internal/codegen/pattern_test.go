package codegen

import (
	"regexp"
	"testing"
)

// TestGoPatternSupplementary checks the model's five- and six-digit \u
// escapes (sts arnType ends in "\u10000-\u10FFFF") as the code points
// they name, while a four-digit escape followed by a digit stays an
// escape and a literal.
func TestGoPatternSupplementary(t *testing.T) {
	for _, tc := range []struct {
		java, in string
		match    bool
	}{
		{`[\u0020-\u007E\u10000-\u10FFFF]+`, "arn:aws:iam::111122223333:role/😀", true},
		{`[\u0020-\u007E\u10000-\u10FFFF]+`, "role/\u4e2d", false}, // U+4E2D is in neither range
		{`[\u0020-\u007E\u10000-\u10FFFF]+`, "ab", true},
		{`\u00411`, "A1", true}, // U+0041 then '1': below U+10000, four digits only
	} {
		re, err := GoPattern(tc.java)
		if err != nil {
			t.Fatal(err)
		}
		if got := regexp.MustCompile(re).MatchString(tc.in); got != tc.match {
			t.Errorf("GoPattern(%q) = %q matches %q: %v, want %v", tc.java, re, tc.in, got, tc.match)
		}
	}
}
