package main

import (
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets the test binary act as the trent command in scripts.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"trent": func() { main() },
	})
}

// TestScripts runs the end-to-end CLI scripts in testdata/*.txtar.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{Dir: "testdata"})
}
