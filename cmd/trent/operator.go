package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/trent-kms/trent/internal/keystore"
	"github.com/trent-kms/trent/internal/server"
)

const operatorUsage = `Usage: trent operator <command> [flags]

Commands:
  status    show how root.key is protected and whether the node is sealed
  protect   protect an unprotected root.key (or a new one) with a passphrase or Shamir shares
  rekey     change the protection of root.key; the root key itself stays the same
  unseal    give a sealed node its passphrase or one share

Secrets are read from files (--passphrase-file, --share-file; "-" is standard
input), or from the first line of standard input. See docs/operations.md.
`

// operatorCmd runs `trent operator ...`.
func operatorCmd(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, operatorUsage)
		return 2
	}
	var err error
	switch args[0] {
	case "status":
		err = operatorStatus(ctx, args[1:])
	case "protect", "init-protection":
		err = operatorRekey(args[1:], false)
	case "rekey":
		err = operatorRekey(args[1:], true)
	case "unseal":
		err = operatorUnseal(ctx, args[1:])
	case "help", "-h", "--help":
		fmt.Print(operatorUsage)
		return 0
	default:
		fmt.Fprintf(os.Stderr, "trent operator: unknown command %q\n\n%s", args[0], operatorUsage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) || errors.Is(err, errUsage) {
		return 2
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "trent operator:", err)
		return 1
	}
	return 0
}

var errUsage = errors.New("usage")

// dataDirFlags adds --data-dir and --config; the result gives the data
// directory after parsing.
func dataDirFlags(fs *flag.FlagSet) func() (string, error) {
	dir := fs.String("data-dir", "", "data directory (default ./trent-data)")
	config := fs.String("config", "", "YAML config file to read data_dir from")
	return func() (string, error) {
		if *dir != "" {
			return *dir, nil
		}
		if *config != "" {
			cfg, err := server.LoadConfig(*config)
			if err != nil {
				return "", err
			}
			if cfg.DataDir != "" {
				return cfg.DataDir, nil
			}
		}
		return "./trent-data", nil
	}
}

// readSecret reads a secret from a file ("-": standard input) or, for "",
// the first line of standard input. One trailing newline is removed.
func readSecret(path, what string) (string, error) {
	var b []byte
	var err error
	switch path {
	case "", "-":
		b, err = bufio.NewReader(io.LimitReader(os.Stdin, 64<<10)).ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			err = nil
		}
	default:
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return "", fmt.Errorf("read the %s: %w", what, err)
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if s == "" {
		return "", fmt.Errorf("no %s given (use a file, or standard input)", what)
	}
	return s, nil
}

// listFlag is declared in server.go; shares are repeatable.

func operatorStatus(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("trent operator status", flag.ContinueOnError)
	dataDir := dataDirFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := dataDir()
	if err != nil {
		return err
	}
	path := filepath.Join(dir, server.RootKeyFile)
	f, err := keystore.ReadRootFile(path)
	if err != nil {
		return err
	}
	fmt.Printf("root key file: %s\n", path)
	p := f.Protection()
	switch p.Mode {
	case keystore.ModePassphrase:
		fmt.Printf("protection: passphrase (argon2id, %d KiB, %d iterations, %d lanes)\n", p.Argon2.MemoryKiB, p.Argon2.Iterations, p.Argon2.Parallelism)
	case keystore.ModeShamir:
		fmt.Printf("protection: shamir (%d of %d shares, split %s)\n", p.Threshold, p.Shares, p.ShareSet)
	default:
		fmt.Println("protection: file (the key itself, protected by file permissions only)")
		return nil
	}
	st, err := server.NewUnsealClient(dir).Status(ctx)
	switch {
	case err != nil:
		fmt.Println("node: not running here (no answer on " + filepath.Join(dir, server.UnsealSocket) + ")")
	case !st.Sealed:
		fmt.Println("node: unsealed")
	case st.Protection == keystore.ModeShamir:
		fmt.Printf("node: sealed, %d of %d shares received\n", st.Progress, st.Threshold)
	default:
		fmt.Println("node: sealed")
	}
	return nil
}

func operatorUnseal(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("trent operator unseal", flag.ContinueOnError)
	dataDir := dataDirFlags(fs)
	passFile := fs.String("passphrase-file", "", "read the passphrase from this file (\"-\": standard input)")
	shareFile := fs.String("share-file", "", "read one share from this file (\"-\": standard input)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := dataDir()
	if err != nil {
		return err
	}
	if *passFile != "" && *shareFile != "" {
		fmt.Fprintln(os.Stderr, "trent operator unseal: give --passphrase-file or --share-file, not both")
		return errUsage
	}
	uc := server.NewUnsealClient(dir)
	var req server.UnsealRequest
	switch {
	case *shareFile != "":
		req.Share, err = readSecret(*shareFile, "share")
	case *passFile != "":
		req.Passphrase, err = readSecret(*passFile, "passphrase")
	default:
		var s string
		s, err = readSecret("", "passphrase or share")
		if strings.HasPrefix(strings.TrimSpace(s), "trent-share-") {
			req.Share = s
		} else {
			req.Passphrase = s
		}
	}
	if err != nil {
		return err
	}
	st, err := uc.Unseal(ctx, req)
	if err != nil {
		var r *server.UnsealRefusal
		if errors.As(err, &r) {
			return fmt.Errorf("refused: %s", r.Message)
		}
		return fmt.Errorf("no sealed node answers on %s: %w", filepath.Join(dir, server.UnsealSocket), err)
	}
	if st.Sealed {
		fmt.Printf("sealed: %d of %d shares received\n", st.Progress, st.Threshold)
	} else {
		fmt.Println("unsealed")
	}
	return nil
}

// operatorRekey writes root.key with a new protection. rekey reads the
// current one (a passphrase or shares, or none for an unprotected file);
// protect accepts only an unprotected or missing file and creates a new
// root key for a missing one.
func operatorRekey(args []string, rekey bool) error {
	name := "trent operator protect"
	if rekey {
		name = "trent operator rekey"
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	dataDir := dataDirFlags(fs)
	var curPass *string
	var curShares listFlag
	if rekey {
		curPass = fs.String("passphrase-file", "", "the current passphrase, from this file (\"-\": standard input)")
		fs.Var(&curShares, "share-file", "a current share, from this file (repeat for the threshold)")
	}
	newPass := fs.String("new-passphrase-file", "", "protect with the passphrase in this file (\"-\": standard input; at least 12 characters)")
	shares := fs.Int("shares", 0, "split into this many Shamir shares (at most 255)")
	threshold := fs.Int("threshold", 0, "with --shares: how many shares unseal")
	sharesDir := fs.String("shares-dir", "", "with --shares: write share-N.txt (mode 0600) here instead of printing the shares")
	var toFile bool
	if rekey {
		fs.BoolVar(&toFile, "to-file", false, "remove the protection: write the key itself (file permissions only)")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	modes := 0
	for _, set := range []bool{*newPass != "", *shares != 0, toFile} {
		if set {
			modes++
		}
	}
	if modes != 1 || fs.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "%s: give exactly one of --new-passphrase-file, --shares N --threshold K", name)
		if rekey {
			fmt.Fprint(os.Stderr, ", --to-file")
		}
		fmt.Fprintln(os.Stderr)
		return errUsage
	}
	dir, err := dataDir()
	if err != nil {
		return err
	}
	path := filepath.Join(dir, server.RootKeyFile)

	var key *keystore.RootKey
	f, err := keystore.ReadRootFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist) && !rekey:
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		if key, err = keystore.GenerateRootKey(); err != nil {
			return err
		}
	case err != nil:
		return err
	case f.Protection().Mode == keystore.ModeFile:
		if key, err = f.Key(); err != nil {
			return err
		}
	case !rekey:
		return fmt.Errorf("%s is already protected by %s; use trent operator rekey", path, f.Protection().Mode)
	case f.Protection().Mode == keystore.ModePassphrase:
		if *curPass == "" {
			return errors.New("the root key file is protected by a passphrase: give it with --passphrase-file")
		}
		pass, err := readSecret(*curPass, "current passphrase")
		if err != nil {
			return err
		}
		if key, err = f.Unlock([]byte(pass)); err != nil {
			return err
		}
	default:
		var ss []*keystore.Share
		for _, file := range curShares {
			s, err := readSecret(file, "share")
			if err != nil {
				return err
			}
			sh, err := keystore.ParseShare(s)
			if err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			ss = append(ss, sh)
		}
		if key, err = f.Combine(ss); err != nil {
			return fmt.Errorf("%w (give --share-file once per share, %d needed)", err, f.Protection().Threshold)
		}
	}
	defer key.Destroy()

	switch {
	case toFile:
		if err := keystore.WritePlainFile(path, key); err != nil {
			return err
		}
		fmt.Printf("%s now holds the root key itself, protected by file permissions only\n", path)
	case *newPass != "":
		pass, err := readSecret(*newPass, "new passphrase")
		if err != nil {
			return err
		}
		if err := keystore.WritePassphraseFile(path, key, []byte(pass), keystore.DefaultArgon2); err != nil {
			return err
		}
		fmt.Printf("%s is now protected by the passphrase; the node starts sealed until trent operator unseal\n", path)
	default:
		if *sharesDir != "" {
			if err := os.MkdirAll(*sharesDir, 0o700); err != nil {
				return err
			}
			for i := 1; i <= *shares; i++ {
				if _, err := os.Lstat(filepath.Join(*sharesDir, fmt.Sprintf("share-%d.txt", i))); err == nil {
					return fmt.Errorf("%s already holds share-%d.txt; use an empty directory", *sharesDir, i)
				}
			}
		}
		// The new file replaces the old only after the shares are made; if
		// writing a share file fails, the old protection is still there.
		tmp := path + ".new"
		out, err := keystore.WriteShamirFile(tmp, key, *threshold, *shares)
		if err != nil {
			os.Remove(tmp)
			return err
		}
		for _, s := range out {
			if *sharesDir == "" {
				fmt.Printf("share %d of %d: %s\n", s.Number(), len(out), s.Encode())
				continue
			}
			p := filepath.Join(*sharesDir, fmt.Sprintf("share-%d.txt", s.Number()))
			if err := os.WriteFile(p, []byte(s.Encode()+"\n"), 0o600); err != nil {
				os.Remove(tmp)
				return err
			}
		}
		if err := os.Rename(tmp, path); err != nil {
			os.Remove(tmp)
			return err
		}
		where := "above"
		if *sharesDir != "" {
			where = "in " + *sharesDir
		}
		fmt.Printf("%s is now protected by %d shares (%d unseal), %s; hand each to its holder: they exist nowhere else\n",
			path, *shares, *threshold, where)
	}
	return nil
}
