package main

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestEncryptScripts runs the trent encrypt/decrypt scripts in
// testdata/encrypt/*.txtar against a trent server --dev.
func TestEncryptScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{Dir: "testdata/encrypt", Cmds: map[string]func(*testscript.TestScript, bool, []string){
		"waitready": cmdWaitready,
		"freeport":  cmdFreeport,
		"mode":      cmdMode,
		"flipbyte":  cmdFlipbyte,
	}})
}

// cmdFlipbyte flips the lowest bit of the byte at OFFSET of FILE (from
// the end when negative): flipbyte FILE OFFSET.
func cmdFlipbyte(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: flipbyte FILE OFFSET")
	}
	off, err := strconv.Atoi(args[1])
	ts.Check(err)
	b, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	if off < 0 {
		off += len(b)
	}
	if off < 0 || off >= len(b) {
		ts.Fatalf("%s has %d bytes", args[0], len(b))
	}
	b[off] ^= 1
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), b, 0o600))
}

// TestProgress draws the progress bar into a buffer.
func TestProgress(t *testing.T) {
	var out bytes.Buffer
	p := newProgress(&out, "encrypting big.bin", 4<<20, strings.NewReader(strings.Repeat("x", 4<<20)))
	buf := make([]byte, 1<<20)
	for {
		if _, err := p.Read(buf); err != nil {
			break
		}
	}
	p.finish()
	if !strings.HasSuffix(out.String(), "\rencrypting big.bin [==============================] 100% 4.0 MiB / 4.0 MiB\n") {
		t.Fatalf("progress output %q", out.String())
	}
}
