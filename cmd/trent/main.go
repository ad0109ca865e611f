// Command trent is the Trent key management server and its tools.
//
//	trent server [--listen ADDR] [--data-dir DIR] [--database-url URL] [--tls-cert FILE --tls-key FILE] [--root-credentials-file FILE] [--seed FILE]... [--config FILE]
//	trent server --dev [--seed FILE]...
//	trent accounts create --account-id ID [--endpoint URL] | trent accounts list [--endpoint URL]
//	trent bench [--concurrency 16] [--duration 5s] [--baseline] [--endpoint URL]
//	trent operator status|protect|rekey|unseal [flags]
//	trent backup [--config FILE] [--data-dir DIR] [--database-url URL] BACKUP-FILE
//	trent restore [--config FILE] [--data-dir DIR] [--database-url URL] BACKUP-FILE
//	trent migrate --from DATA_DIR --to postgres://...
//	trent version
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return 2
	}
	switch args[0] {
	case "server":
		return serverCmd(ctx, args[1:])
	case "bench":
		return benchCmd(ctx, args[1:])
	case "accounts":
		return accountsCmd(ctx, args[1:])
	case "operator":
		return operatorCmd(ctx, args[1:])
	case "backup":
		return backupCmd(ctx, args[1:])
	case "restore":
		return restoreCmd(ctx, args[1:])
	case "migrate":
		return migrateCmd(ctx, args[1:])
	case "bench-baseline":
		return baselineCmd(ctx, args[1:])
	case "version":
		fmt.Println("trent", version)
		return 0
	case "help", "-h", "--help":
		fmt.Print(usage)
		return 0
	}
	fmt.Fprintf(os.Stderr, "trent: unknown command %q\n\n%s", args[0], usage)
	return 2
}

const usage = `Usage: trent <command> [flags]

Commands:
  server    run the KMS API server (trent server --help for flags)
  accounts  create and list accounts on a running server (management account root only)
  operator  protect root.key with a passphrase or Shamir shares, unseal, rekey, status
  backup    write a consistent snapshot of the store while the server runs
  restore   restore a snapshot into an empty data directory or database
  migrate   copy an embedded deployment into PostgreSQL and verify the copy
  bench     measure Encrypt, Decrypt and GenerateDataKey through HTTP and SigV4
  version   print the version
`
