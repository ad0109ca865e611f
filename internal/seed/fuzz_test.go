package seed_test

import (
	"os"
	"testing"

	"github.com/trent-kms/trent/internal/seed"
)

// FuzzParse checks that Parse never panics, and returns either a file or
// an error, never both.
func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile(example); err == nil {
		f.Add(b)
	}
	f.Add([]byte("version: 1\naccounts:\n  - id: \"111122223333\"\n    keys:\n      - {id: x, region: us-east-1, materials: [{hex: '00'}]}\n"))
	f.Add([]byte("version: 1\naccounts: {}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := seed.Parse(example, b)
		if (file == nil) == (err == nil) {
			t.Fatalf("Parse = %v, %v", file, err)
		}
	})
}
