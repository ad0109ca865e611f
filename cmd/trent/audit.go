package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/trent-kms/trent/internal/audit"
)

// auditCmd runs `trent audit verify|search|public-key`.
func auditCmd(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, auditUsage)
		return 2
	}
	switch args[0] {
	case "verify":
		return auditVerify(args[1:])
	case "search":
		return auditSearch(args[1:])
	case "public-key":
		return auditPublicKey(args[1:])
	case "help", "-h", "--help":
		fmt.Print(auditUsage)
		return 0
	}
	fmt.Fprintf(os.Stderr, "trent audit: unknown command %q\n\n%s", args[0], auditUsage)
	return 2
}

const auditUsage = `Usage:
  trent audit verify [--public-key FILE] DIR   check the hash chain and signed digests of an audit directory
  trent audit search [filters] DIR             print the records that match, one JSON line each
  trent audit public-key [DIR]                 print the public key that verifies DIR's digests (default ./trent-data/audit)
`

// dirArg parses fs and returns its one positional argument, DIR.
func dirArg(fs *flag.FlagSet, args []string, def string) (string, bool) {
	if err := fs.Parse(args); err != nil {
		return "", false
	}
	switch fs.NArg() {
	case 0:
		if def != "" {
			return def, true
		}
	case 1:
		return fs.Arg(0), true
	}
	fmt.Fprintf(os.Stderr, "%s: give one audit directory\n", fs.Name())
	return "", false
}

func auditVerify(args []string) int {
	fs := flag.NewFlagSet("trent audit verify", flag.ContinueOnError)
	pubFile := fs.String("public-key", "", "PEM public key to verify with (default: DIR/"+audit.PublicKeyFile+"; pin a copy kept elsewhere)")
	dir, ok := dirArg(fs, args, "")
	if !ok {
		return 2
	}
	if *pubFile == "" {
		*pubFile = filepath.Join(dir, audit.PublicKeyFile)
	}
	b, err := os.ReadFile(*pubFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "trent audit verify:", err)
		return 1
	}
	pub, err := audit.ParsePublicKeyPEM(b)
	if err != nil {
		fmt.Fprintln(os.Stderr, "trent audit verify:", err)
		return 1
	}
	rep, err := audit.Verify(dir, pub)
	if err != nil {
		var p *audit.Problem
		if errors.As(err, &p) {
			fmt.Fprintln(os.Stderr, "trent audit verify: FAILED:", p)
		} else {
			fmt.Fprintln(os.Stderr, "trent audit verify:", err)
		}
		return 1
	}
	fmt.Printf("OK: %d records in %d files, %d signed digests; last sequence %d, last hash %s\n",
		rep.Records, rep.Files, rep.Digests, rep.LastSequence, rep.LastHash)
	if rep.OpenFile != "" {
		fmt.Printf("%s is still open (not signed yet): only its hash chain was checked\n", rep.OpenFile)
	}
	fmt.Printf("public key fingerprint %s\n", audit.Fingerprint(pub))
	return 0
}

func auditSearch(args []string) int {
	fs := flag.NewFlagSet("trent audit search", flag.ContinueOnError)
	var f audit.Filter
	fs.StringVar(&f.Key, "key", "", "key id, key ARN or alias name")
	fs.StringVar(&f.Principal, "principal", "", "principal ARN, access key id or principal id")
	fs.StringVar(&f.Operation, "operation", "", "operation (eventName), e.g. Decrypt")
	fs.StringVar(&f.Outcome, "outcome", "", "success, denied or failed")
	fs.StringVar(&f.Account, "account", "", "the account that made the request (userIdentity.accountId)")
	since := fs.String("since", "", "earliest eventTime, RFC 3339 (2025-05-20T20:00:00Z)")
	until := fs.String("until", "", "end of the time range (exclusive), RFC 3339")
	dir, ok := dirArg(fs, args, "")
	if !ok {
		return 2
	}
	for _, t := range []struct {
		s   string
		dst *time.Time
	}{{*since, &f.Since}, {*until, &f.Until}} {
		if t.s == "" {
			continue
		}
		v, err := time.Parse(time.RFC3339, t.s)
		if err != nil {
			fmt.Fprintln(os.Stderr, "trent audit search:", err)
			return 2
		}
		*t.dst = v
	}
	if _, err := f.Match([]byte(`{}`)); err != nil {
		fmt.Fprintln(os.Stderr, "trent audit search:", err)
		return 2
	}
	err := audit.Search(dir, &f, func(line []byte) error {
		_, err := os.Stdout.Write(append(line, '\n'))
		return err
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "trent audit search:", err)
		return 1
	}
	return 0
}

func auditPublicKey(args []string) int {
	fs := flag.NewFlagSet("trent audit public-key", flag.ContinueOnError)
	dir, ok := dirArg(fs, args, filepath.Join("trent-data", "audit"))
	if !ok {
		return 2
	}
	b, err := os.ReadFile(filepath.Join(dir, audit.PublicKeyFile))
	if err == nil {
		_, err = audit.ParsePublicKeyPEM(b)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "trent audit public-key:", err)
		return 1
	}
	os.Stdout.Write(b)
	return 0
}
