package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/trent-kms/trent/internal/esdk"
)

// Exit codes of trent encrypt and trent decrypt (docs/encrypt.md).
const (
	exitOK        = 0
	exitFailure   = 1 // I/O, KMS unreachable, anything else
	exitUsage     = 2
	exitKey       = 3 // no key could encrypt or decrypt the data key (wrong key, access denied)
	exitIntegrity = 4 // tampered, truncated or malformed message; bad signature
	exitContext   = 5 // the encryption context lacks a required pair
	exitPolicy    = 6 // refused by the commitment policy or a limit
)

const encryptUsage = `Usage:
  trent encrypt --key KEY [--key KEY]... [-c KEY=VALUE]... -i IN -o OUT [flags]
  trent encrypt -r --key KEY ... -i DIR -o DIR [--suffix .encrypted]

Encrypts IN (a file, or - for standard input) to OUT (- for standard
output) in the AWS Encryption SDK message format. The first --key
generates the data key, every other one encrypts it too; any one of them
decrypts. KEY is a key id, key ARN, alias name or alias ARN. Credentials,
region and endpoint come from the standard AWS environment and config
files (AWS_ENDPOINT_URL, AWS_CA_BUNDLE, AWS_PROFILE, ...).

Exit codes: 0 ok, 1 error, 2 usage, 3 key, 4 integrity, 5 context, 6 policy.
See docs/encrypt.md.

Flags:
`

// stringsFlag collects a repeatable flag.
type stringsFlag []string

func (s *stringsFlag) String() string     { return strings.Join(*s, ",") }
func (s *stringsFlag) Set(v string) error { *s = append(*s, v); return nil }

// contextFlag collects -c KEY=VALUE pairs.
type contextFlag map[string]string

func (c contextFlag) String() string { return "" }
func (c contextFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want KEY=VALUE, got %q", v)
	}
	if _, dup := c[k]; dup {
		return fmt.Errorf("context key %q given twice", k)
	}
	c[k] = val
	return nil
}

// ioFlags are the flags encrypt and decrypt share.
type ioFlags struct {
	in, out   string
	recursive bool
	suffix    string
	quiet     bool
	maxKeys   int
	policy    string
	keys      stringsFlag
	ctx       contextFlag
}

func (f *ioFlags) register(fs *flag.FlagSet, suffix string) {
	f.ctx = contextFlag{}
	fs.StringVar(&f.in, "i", "", "input file, directory with -r, or - for standard input")
	fs.StringVar(&f.out, "o", "", "output file, directory with -r, or - for standard output")
	fs.BoolVar(&f.recursive, "r", false, "directory mode: process every regular file under -i into -o")
	fs.StringVar(&f.suffix, "suffix", suffix, "directory mode: suffix appended to output file names")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress bar")
	fs.IntVar(&f.maxKeys, "max-encrypted-data-keys", esdk.DefaultMaxDataKeys, "refuse messages with more encrypted data keys (0: no limit)")
	fs.StringVar(&f.policy, "commitment-policy", "require-encrypt-require-decrypt", "require-encrypt-require-decrypt, require-encrypt-allow-decrypt or forbid-encrypt-allow-decrypt")
	fs.Var(&f.keys, "key", "KMS key id, ARN or alias (repeatable)")
	fs.Var(f.ctx, "c", "encryption context pair KEY=VALUE (repeatable)")
}

func (f *ioFlags) maxDataKeys() int {
	if f.maxKeys == 0 {
		return -1
	}
	return f.maxKeys
}

// check validates the shared flags; it returns a message for a usage error.
func (f *ioFlags) check(fs *flag.FlagSet) string {
	switch {
	case fs.NArg() > 0:
		return "unexpected argument " + fs.Arg(0)
	case f.in == "" || f.out == "":
		return "-i and -o are required"
	case f.recursive && (f.in == "-" || f.out == "-"):
		return "-r needs directories, not -"
	case f.maxKeys < 0:
		return "--max-encrypted-data-keys must be 0 or more"
	}
	return ""
}

// kmsClients returns a per-region KMS client factory from the standard
// AWS configuration, as the AWS CLI reads it.
func kmsClients(ctx context.Context) (func(region string) *kms.Client, string, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, "", err
	}
	var mu sync.Mutex
	clients := map[string]*kms.Client{}
	return func(region string) *kms.Client {
		if region == "" {
			region = cfg.Region
		}
		mu.Lock()
		defer mu.Unlock()
		if c, ok := clients[region]; ok {
			return c
		}
		c := kms.NewFromConfig(cfg, func(o *kms.Options) { o.Region = region })
		clients[region] = c
		return c
	}, cfg.Region, nil
}

// needRegion reports a key id that needs a default region when none is
// configured.
func needRegion(region string, ids []string) error {
	if region != "" {
		return nil
	}
	for _, id := range ids {
		if !strings.HasPrefix(id, "arn:") {
			return fmt.Errorf("no region for key %q: set AWS_REGION or give the key ARN", id)
		}
	}
	return nil
}

func encryptCmd(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("encrypt", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, encryptUsage); fs.PrintDefaults() }
	var f ioFlags
	f.register(fs, ".encrypted")
	suiteName := fs.String("algorithm", "AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384", "algorithm suite, by name or hex id (0x0578)")
	frameLen := fs.Int("frame-length", esdk.DefaultFrameLength, "plaintext bytes per frame (1 to 16777216)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	msg := f.check(fs)
	if msg == "" && len(f.keys) == 0 {
		msg = "at least one --key is required"
	}
	suite, err := esdk.ParseSuite(*suiteName)
	if msg == "" && err != nil {
		msg = err.Error()
	}
	policy, err := esdk.ParseCommitmentPolicy(f.policy)
	if msg == "" && err != nil {
		msg = err.Error()
	}
	if msg == "" && (*frameLen < 1 || *frameLen > esdk.MaxFrameLength) {
		msg = fmt.Sprintf("--frame-length must be 1 to %d", esdk.MaxFrameLength)
	}
	if msg != "" {
		fmt.Fprintln(os.Stderr, "trent encrypt:", msg)
		return exitUsage
	}
	clients, region, err := kmsClients(ctx)
	if err == nil {
		err = needRegion(region, f.keys)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "trent encrypt:", err)
		return exitFailure
	}
	opts := esdk.EncryptOptions{
		Keyring:     &esdk.KMSKeyring{Client: func(r string) esdk.KMS { return clients(r) }, KeyIDs: f.keys},
		Context:     f.ctx,
		Suite:       suite,
		Policy:      policy,
		FrameLength: *frameLen,
		MaxDataKeys: f.maxDataKeys(),
	}
	return forEachFile("encrypt", &f, func(in io.Reader, out io.Writer) error {
		e, err := esdk.NewEncrypter(ctx, out, opts)
		if err != nil {
			return err
		}
		if _, err := io.Copy(e, in); err != nil {
			return err
		}
		return e.Close()
	})
}

// exitCode maps an error to the documented exit code.
func exitCode(err error) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, esdk.ErrNoKey):
		return exitKey
	case errors.Is(err, esdk.ErrTampered), errors.Is(err, esdk.ErrTruncated), errors.Is(err, esdk.ErrFormat):
		return exitIntegrity
	case errors.Is(err, esdk.ErrContext):
		return exitContext
	case errors.Is(err, esdk.ErrPolicy):
		return exitPolicy
	}
	return exitFailure
}

// forEachFile runs op on -i/-o, or on every regular file under -i with -r,
// reporting each failure. Output files are written to a temporary file
// (mode 0600) beside the target and renamed into place only when op
// succeeds, so a failed run leaves no partial output; standard output is
// written as op goes. The exit code is the first failure's.
func forEachFile(verb string, f *ioFlags, op func(io.Reader, io.Writer) error) int {
	if !f.recursive {
		if err := oneFile(verb, f, f.in, f.out, op); err != nil {
			fmt.Fprintf(os.Stderr, "trent %s: %v\n", verb, err)
			return exitCode(err)
		}
		return exitOK
	}
	inAbs, err1 := filepath.Abs(f.in)
	outAbs, err2 := filepath.Abs(f.out)
	if err := errors.Join(err1, err2); err != nil {
		fmt.Fprintf(os.Stderr, "trent %s: %v\n", verb, err)
		return exitFailure
	}
	if outAbs == inAbs || strings.HasPrefix(outAbs, inAbs+string(filepath.Separator)) {
		fmt.Fprintf(os.Stderr, "trent %s: -o %s is inside -i %s\n", verb, f.out, f.in)
		return exitUsage
	}
	code := exitOK
	err := filepath.WalkDir(f.in, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			fmt.Fprintf(os.Stderr, "trent %s: skipping %s: not a regular file\n", verb, path)
			return nil
		}
		rel, err := filepath.Rel(f.in, path)
		if err != nil {
			return err
		}
		target := filepath.Join(f.out, rel+f.suffix)
		if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
			return err
		}
		if err := oneFile(verb, f, path, target, op); err != nil {
			fmt.Fprintf(os.Stderr, "trent %s: %s: %v\n", verb, path, err)
			if code == exitOK {
				code = exitCode(err)
			}
		}
		return nil
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "trent %s: %v\n", verb, err)
		return exitFailure
	}
	return code
}

// oneFile runs op from in to out.
func oneFile(verb string, f *ioFlags, in, out string, op func(io.Reader, io.Writer) error) (err error) {
	var r io.Reader = os.Stdin
	if in != "-" {
		file, err := os.Open(in)
		if err != nil {
			return err
		}
		defer file.Close()
		r = file
		if fi, err := file.Stat(); err == nil && fi.Mode().IsRegular() && !f.quiet && isTerminal(os.Stderr) && fi.Size() >= progressMin {
			p := newProgress(os.Stderr, verb+"ing "+filepath.Base(in), fi.Size(), file)
			defer p.finish()
			r = p
		}
	}
	if out == "-" {
		return op(r, os.Stdout)
	}
	if in != "-" && sameFile(in, out) {
		return fmt.Errorf("-i and -o are the same file")
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".partial-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return err
	}
	if err := op(r, tmp); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), out)
}

func sameFile(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progressMin is the input size from which a progress bar is shown.
const progressMin = 16 << 20

// progress is a reader that draws a progress bar on a terminal.
type progress struct {
	w     io.Writer
	label string
	total int64
	done  int64
	r     io.Reader
	last  time.Time
}

func newProgress(w io.Writer, label string, total int64, r io.Reader) *progress {
	return &progress{w: w, label: label, total: total, r: r}
}

func (p *progress) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.done += int64(n)
	if now := time.Now(); now.Sub(p.last) >= 200*time.Millisecond {
		p.last = now
		p.draw()
	}
	return n, err
}

func (p *progress) draw() {
	const width = 30
	frac := float64(p.done) / float64(max(p.total, 1))
	frac = min(frac, 1)
	bar := strings.Repeat("=", int(frac*width)) + strings.Repeat(" ", width-int(frac*width))
	fmt.Fprintf(p.w, "\r%s [%s] %3d%% %s / %s", p.label, bar, int(frac*100), mib(p.done), mib(p.total))
}

func (p *progress) finish() {
	p.draw()
	fmt.Fprintln(p.w)
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
