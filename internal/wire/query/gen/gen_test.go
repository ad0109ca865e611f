package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestShapesUpToDate runs the generator as each package's go:generate
// line says and checks that the committed shapes.go is what it writes, so
// the IAM and STS shapes never drift from the generator or the models.
func TestShapesUpToDate(t *testing.T) {
	for _, pkg := range []string{"iamapi", "stsapi"} {
		t.Run(pkg, func(t *testing.T) {
			dir := filepath.Join("..", pkg)
			src, err := os.ReadFile(filepath.Join(dir, "generate.go"))
			if err != nil {
				t.Fatal(err)
			}
			var line string
			for _, l := range strings.Split(string(src), "\n") {
				if strings.HasPrefix(l, "//go:generate go run ../gen ") {
					line = strings.TrimPrefix(l, "//go:generate go run ../gen ")
				}
			}
			args := strings.Fields(line)
			flags := map[string]string{}
			for i := 0; i+1 < len(args); i += 2 {
				flags[args[i]] = args[i+1]
			}
			if flags["-model"] == "" || flags["-pkg"] != pkg || flags["-ops"] == "" {
				t.Fatalf("cannot read the go:generate line of %s: %q", pkg, line)
			}
			// The model path is relative to the package directory.
			model := filepath.Join(dir, flags["-model"])
			data, err := os.ReadFile(model)
			if err != nil {
				t.Fatal(err)
			}
			want, err := generate(data, pkg, strings.Split(flags["-ops"], ","), flags["-model"])
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(dir, flags["-o"]))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s/%s is stale; run go generate ./internal/wire/query/%s", pkg, flags["-o"], pkg)
			}
		})
	}
}
