package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/trent-kms/trent/internal/server"
	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/store/embedded"
	"github.com/trent-kms/trent/internal/store/postgres"
	billing "github.com/trent-kms/trent/internal/usage"
)

const usageUsage = `Usage:
  trent usage report --month YYYY-MM [--format table|csv|json] [--prices FILE]
                     [--config FILE] [--data-dir DIR] [--audit-dir DIR] [--database-url URL]

Prints, per account and key, the key-hours and the requests of the month by
pricing class, and their cost under a price table (default: AWS KMS list
prices). See docs/operations.md, "Usage and cost report".
`

// usageCmd runs `trent usage report`.
func usageCmd(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usageUsage)
		return 2
	}
	switch args[0] {
	case "report":
		return usageReport(ctx, args[1:], os.Stdout, time.Now)
	case "help", "-h", "--help":
		fmt.Print(usageUsage)
		return 0
	}
	fmt.Fprintf(os.Stderr, "trent usage: unknown command %q\n\n%s", args[0], usageUsage)
	return 2
}

func usageReport(ctx context.Context, args []string, out io.Writer, now func() time.Time) int {
	fs := flag.NewFlagSet("trent usage report", flag.ContinueOnError)
	month := fs.String("month", "", "the month to report, YYYY-MM (UTC)")
	format := fs.String("format", "table", "table, csv or json")
	pricesFile := fs.String("prices", "", "YAML price table (default: AWS KMS list prices)")
	config := fs.String("config", "", "the server's YAML config file (data_dir, audit_dir, database_url, regions)")
	dataDir := fs.String("data-dir", "", "data directory (default ./trent-data)")
	auditDir := fs.String("audit-dir", "", "audit directory (default <data-dir>/audit)")
	dbURL := fs.String("database-url", "", "PostgreSQL URL (default: the embedded store in the data directory)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(code int, err error) int {
		fmt.Fprintln(os.Stderr, "trent usage report:", err)
		return code
	}
	if fs.NArg() != 0 || *month == "" {
		return fail(2, errors.New("give --month YYYY-MM and no arguments"))
	}
	if *format != "table" && *format != "csv" && *format != "json" {
		return fail(2, fmt.Errorf("unknown --format %q (want table, csv or json)", *format))
	}
	start, err := billing.ParseMonth(*month)
	if err != nil {
		return fail(2, err)
	}
	prices := billing.DefaultPrices()
	if *pricesFile != "" {
		if prices, err = billing.LoadPrices(*pricesFile); err != nil {
			return fail(1, err)
		}
	}
	cfg := &server.Config{}
	if *config != "" {
		if cfg, err = server.LoadConfig(*config); err != nil {
			return fail(1, err)
		}
	}
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&cfg.DataDir, *dataDir)
	set(&cfg.AuditDir, *auditDir)
	set(&cfg.DatabaseURL, *dbURL)
	cfg.Defaults()
	st, err := openStoreReadOnly(ctx, cfg)
	if err != nil {
		return fail(1, err)
	}
	defer st.Close()
	rep, err := billing.Build(ctx, billing.Input{Store: st, Regions: cfg.Regions, AuditDir: cfg.AuditDir, Month: start, Now: now(), Prices: prices})
	if err != nil {
		return fail(1, err)
	}
	switch *format {
	case "csv":
		err = rep.WriteCSV(out)
	case "json":
		err = rep.WriteJSON(out)
	default:
		err = rep.WriteTable(out)
	}
	if err != nil {
		return fail(1, err)
	}
	return 0
}

// openStoreReadOnly opens the store of cfg for reading; unlike the server
// it never creates an embedded database that is not there.
func openStoreReadOnly(ctx context.Context, cfg *server.Config) (store.Store, error) {
	if cfg.DatabaseURL != "" {
		return postgres.Open(ctx, cfg.DatabaseURL)
	}
	path := filepath.Join(cfg.DataDir, server.DatabaseFile)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no store in %s: %w", cfg.DataDir, err)
	}
	return embedded.Open(path)
}
