// Command trent is the Trent key management server and its tools.
//
//	trent server [--listen ADDR] [--data-dir DIR] [--database-url URL] [--tls-cert FILE --tls-key FILE] [--root-credentials-file FILE] [--seed FILE]... [--config FILE]
//	trent server --dev [--seed FILE]...
//	trent accounts create --account-id ID [--endpoint URL] | trent accounts list [--endpoint URL]
//	trent managed-key create --service NAME [--account-id ID] [--endpoint URL]
//	trent encrypt --key KEY... [-c K=V]... -i IN -o OUT | trent decrypt (--key KEY... | --discovery) -i IN -o OUT
//	trent audit verify [--public-key FILE] DIR | search [filters] DIR | public-key [DIR]
//	trent usage report --month YYYY-MM [--format table|csv|json] [--prices FILE] [--config FILE] [--data-dir DIR] [--audit-dir DIR] [--database-url URL]
//	trent bench [--concurrency 16] [--duration 5s] [--baseline] [--endpoint URL] [--keys N] [--tls]
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
	case "managed-key":
		return managedKeyCmd(ctx, args[1:])
	case "operator":
		return operatorCmd(ctx, args[1:])
	case "backup":
		return backupCmd(ctx, args[1:])
	case "restore":
		return restoreCmd(ctx, args[1:])
	case "encrypt":
		return encryptCmd(ctx, args[1:])
	case "decrypt":
		return decryptCmd(ctx, args[1:])
	case "audit":
		return auditCmd(args[1:])
	case "usage":
		return usageCmd(ctx, args[1:])
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
  managed-key  create an AWS managed key alias/aws/<service> on a running server
  operator  protect root.key with a passphrase or Shamir shares, unseal, rekey, status
  backup    write a consistent snapshot of the store while the server runs
  restore   restore a snapshot into an empty data directory or database
  encrypt   encrypt files with KMS keys in the AWS Encryption SDK format (trent encrypt --help)
  decrypt   decrypt AWS Encryption SDK messages (trent decrypt --help)
  audit     verify and search the audit trail (trent audit help)
  usage     report key-hours, requests and their cost per account and key (trent usage help)
  migrate   copy an embedded deployment into PostgreSQL and verify the copy
  bench     measure Encrypt, Decrypt and GenerateDataKey through HTTP and SigV4
  version   print the version
`
