package main

import (
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

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
	testscript.Run(t, testscript.Params{Dir: "testdata", Setup: func(env *testscript.Env) error {
		env.Setenv("MONTH", time.Now().UTC().Format("2006-01")) // for usage-report.txtar
		return nil
	}, Cmds: map[string]func(*testscript.TestScript, bool, []string){
		"waitgrep":  cmdWaitgrep,
		"mode":      cmdMode,
		"emptydir":  cmdEmptydir,
		"freeport":  cmdFreeport,
		"waitready": cmdWaitready,
		"waitfile":  cmdWaitfile,
	}})
}

// cmdWaitgrep waits until a file's contents match a regular expression,
// for a server started in the background: waitgrep FILE REGEXP.
func cmdWaitgrep(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitgrep FILE REGEXP")
	}
	re := regexp.MustCompile(args[1])
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(ts.MkAbs(args[0])); err == nil && re.Match(b) {
			return
		}
	}
	ts.Fatalf("%s never matched %q", args[0], args[1])
}

// cmdMode checks a file's permission bits: mode 0600 FILE.
func cmdMode(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: mode PERM FILE")
	}
	want, err := strconv.ParseUint(args[0], 8, 32)
	ts.Check(err)
	fi, err := os.Stat(ts.MkAbs(args[1]))
	ts.Check(err)
	if got := uint64(fi.Mode().Perm()); (got == want) == neg {
		ts.Fatalf("%s has mode %#o; want %s%#o", args[1], got, map[bool]string{true: "not ", false: ""}[neg], want)
	}
}

// cmdEmptydir checks that a directory exists and holds nothing: emptydir DIR.
func cmdEmptydir(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: emptydir DIR")
	}
	ents, err := os.ReadDir(ts.MkAbs(args[0]))
	ts.Check(err)
	for _, e := range ents {
		ts.Logf("%s holds %s", args[0], e.Name())
	}
	if len(ents) > 0 {
		ts.Fatalf("%s is not empty", args[0])
	}
}

// cmdFreeport sets an environment variable to a loopback port that was
// free a moment ago: freeport VAR.
func cmdFreeport(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: freeport VAR")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	ts.Setenv(args[0], strconv.Itoa(port))
}

// cmdWaitready waits until a server answers GET /readyz with 200:
// waitready URL.
func cmdWaitready(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitready URL")
	}
	c := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if resp, err := c.Get(args[0] + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
	}
	ts.Fatalf("%s never became ready", args[0])
}

// cmdWaitfile waits until a file exists, such as the unseal socket of a
// server started in the background: waitfile PATH.
func cmdWaitfile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitfile PATH")
	}
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err := os.Lstat(ts.MkAbs(args[0])); err == nil {
			return
		}
	}
	ts.Fatalf("%s never appeared", args[0])
}
