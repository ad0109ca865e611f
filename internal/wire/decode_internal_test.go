package wire

import "testing"

// TestDecodeInt64Bounds covers the long members that no input shape has yet.
func TestDecodeInt64Bounds(t *testing.T) {
	for _, tc := range []struct {
		tok  string
		want int64
		ok   bool
	}{
		{"9223372036854775807", 1<<63 - 1, true},
		{"-9223372036854775808", -1 << 63, true},
		{"9223372036854775808", 0, false},
		{"-9223372036854775809", 0, false},
		{"99999999999999999999", 0, false},
		{"-0", 0, true},
		{"1.0", 0, false},
	} {
		d := decoder{data: []byte(tc.tok)}
		var p *int64
		if err := d.int64Ptr(&p, "N"); err != nil {
			t.Fatalf("%s: %v", tc.tok, err)
		}
		if tc.ok != (p != nil && d.typeErr == nil) || p != nil && *p != tc.want {
			t.Errorf("%s: got %v (mismatch %v), want %d ok %v", tc.tok, p, d.typeErr, tc.want, tc.ok)
		}
	}
}
