package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
)

const managedKeyUsage = `Usage:
  trent managed-key create --service NAME [--account-id ID] [--endpoint URL]

Creates the AWS managed key alias/aws/NAME (KeyManager AWS) in the region
of the AWS configuration, or prints the existing one: the call is
idempotent. The caller is an account's root user (for its own account) or
the management account's root user (for any account, with --account-id).
See docs/authorization.md#aws-managed-keys.
`

// managedKeyCmd runs `trent managed-key create`: TrentAdmin.CreateAWSManagedKey.
func managedKeyCmd(ctx context.Context, args []string) int {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprint(os.Stderr, managedKeyUsage)
		return 2
	}
	fs := flag.NewFlagSet("managed-key create", flag.ContinueOnError)
	endpoint := fs.String("endpoint", "", "server URL (default: AWS_ENDPOINT_URL)")
	service := fs.String("service", "", "the service: s3, ebs, rds, lambda, ...")
	accountID := fs.String("account-id", "", "the account (default: the caller's)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *service == "" {
		fmt.Fprintln(os.Stderr, "trent: managed-key create needs --service")
		return 2
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "trent:", err)
		return 1
	}
	if *endpoint == "" {
		*endpoint = aws.ToString(cfg.BaseEndpoint)
	}
	if *endpoint == "" {
		fmt.Fprintln(os.Stderr, "trent: no endpoint: set --endpoint or AWS_ENDPOINT_URL")
		return 2
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	in := map[string]string{"Service": *service}
	if *accountID != "" {
		in["AccountId"] = *accountID
	}
	body, _ := json.Marshal(in)
	out, err := adminCall(ctx, cfg, *endpoint, "TrentAdmin.CreateAWSManagedKey", string(body))
	if err != nil {
		fmt.Fprintln(os.Stderr, "trent:", err)
		return 1
	}
	var v any
	if err := json.Unmarshal(out, &v); err != nil {
		fmt.Fprintln(os.Stderr, "trent: bad response:", err)
		return 1
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	enc.Encode(v)
	return 0
}
