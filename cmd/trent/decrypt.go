package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/trent-kms/trent/internal/esdk"
)

const decryptUsage = `Usage:
  trent decrypt --key KEY [--key KEY]... [-c KEY=VALUE]... -i IN -o OUT [flags]
  trent decrypt --discovery [--account ID]... [-c KEY=VALUE]... -i IN -o OUT [flags]
  trent decrypt -r ... -i DIR -o DIR [--suffix .decrypted]

Decrypts an AWS Encryption SDK message. With --key, only data keys
encrypted under those KMS keys are tried (a key id or alias is resolved
to its ARN first); with --discovery, any KMS key the message names, from
the --account list when given. Every -c pair must be in the message's
encryption context.

Output is released only once the whole message is verified: -o FILE is
written to a temporary file beside FILE and renamed at the end (removed on
failure); for -o -, the plaintext is held in memory up to --buffer-limit.
--buffer=false streams to standard output as each frame is verified: a
failure later (a bad frame, truncation, a bad signature) comes after
plaintext was already written.

Exit codes: 0 ok, 1 error, 2 usage, 3 key, 4 integrity, 5 context, 6 policy.
See docs/encrypt.md.

Flags:
`

func decryptCmd(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("decrypt", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, decryptUsage); fs.PrintDefaults() }
	var f ioFlags
	f.register(fs, ".decrypted")
	discovery := fs.Bool("discovery", false, "try any KMS key the message names")
	var accounts stringsFlag
	fs.Var(&accounts, "account", "with --discovery: only keys of this account (repeatable)")
	partition := fs.String("partition", "", "with --discovery: only keys of this partition (e.g. aws)")
	buffer := fs.Bool("buffer", true, "release no plaintext to standard output before the message is verified")
	bufferLimit := fs.Int64("buffer-limit", 32<<20, "with --buffer and -o -: most plaintext bytes held in memory")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	msg := f.check(fs)
	switch {
	case msg != "":
	case *discovery && len(f.keys) > 0:
		msg = "give --key or --discovery, not both"
	case !*discovery && len(f.keys) == 0:
		msg = "give --key (repeatable) or --discovery"
	case !*discovery && (len(accounts) > 0 || *partition != ""):
		msg = "--account and --partition need --discovery"
	}
	policy, err := esdk.ParseCommitmentPolicy(f.policy)
	if msg == "" && err != nil {
		msg = err.Error()
	}
	if msg != "" {
		fmt.Fprintln(os.Stderr, "trent decrypt:", msg)
		return exitUsage
	}
	clients, region, err := kmsClients(ctx)
	if err == nil {
		err = needRegion(region, f.keys)
	}
	var arns []string
	for _, id := range f.keys {
		if err != nil {
			break
		}
		var a string
		a, err = keyARN(ctx, clients(""), id)
		arns = append(arns, a)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "trent decrypt:", err)
		return exitFailure
	}
	opts := esdk.DecryptOptions{
		Keyring: &esdk.KMSKeyring{
			Client: func(r string) esdk.KMS { return clients(r) }, KeyIDs: arns,
			Discovery: *discovery, Accounts: accounts, Partition: *partition,
		},
		Policy:          policy,
		RequiredContext: f.ctx,
		MaxDataKeys:     f.maxDataKeys(),
	}
	return forEachFile("decrypt", &f, func(in io.Reader, out io.Writer) error {
		d, err := esdk.NewDecrypter(ctx, in, opts)
		if err != nil {
			return err
		}
		if out != io.Writer(os.Stdout) || !*buffer {
			_, err = d.WriteTo(out)
			return err
		}
		var buf bytes.Buffer
		n, err := io.Copy(&buf, io.LimitReader(d, *bufferLimit+1))
		defer clear(buf.Bytes())
		if err != nil {
			return err
		}
		if n > *bufferLimit {
			return fmt.Errorf("the plaintext is longer than --buffer-limit (%d bytes): decrypt to a file (-o FILE), raise the limit, or give --buffer=false; nothing was written", *bufferLimit)
		}
		_, err = out.Write(buf.Bytes())
		return err
	})
}

// keyARN returns the key ARN of a key id, alias or ARN: a key ARN as it is,
// anything else through DescribeKey. The strict KMS keyring matches data
// keys by key ARN (framework/aws-kms/aws-kms-keyring.md: the provider info
// is the ARN KMS answered with), so an alias must be resolved first.
func keyARN(ctx context.Context, c *kms.Client, id string) (string, error) {
	if strings.HasPrefix(id, "arn:") && strings.Contains(id, ":key/") {
		return id, nil
	}
	out, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(id)})
	if err != nil {
		return "", fmt.Errorf("resolve --key %s: %w", id, err)
	}
	return aws.ToString(out.KeyMetadata.Arn), nil
}
