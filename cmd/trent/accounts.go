package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
)

const accountsUsage = `Usage:
  trent accounts create --account-id ID [--endpoint URL]
  trent accounts list [--endpoint URL]

Talks to a running server with the management account root's credentials
(the standard AWS environment variables and config files). The endpoint
comes from --endpoint, else AWS_ENDPOINT_URL. "create" prints the new
account's root access key once, as JSON.
`

// accountsCmd runs `trent accounts`: Trent's account administration API
// (TrentAdmin.CreateAccount, TrentAdmin.ListAccounts; see docs/identities.md).
func accountsCmd(ctx context.Context, args []string) int {
	if len(args) == 0 || (args[0] != "create" && args[0] != "list") {
		fmt.Fprint(os.Stderr, accountsUsage)
		return 2
	}
	fs := flag.NewFlagSet("accounts "+args[0], flag.ContinueOnError)
	endpoint := fs.String("endpoint", "", "server URL (default: AWS_ENDPOINT_URL)")
	accountID := fs.String("account-id", "", "create: the new account's 12-digit id")
	if err := fs.Parse(args[1:]); err != nil {
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
	var target, body string
	switch args[0] {
	case "create":
		if *accountID == "" {
			fmt.Fprintln(os.Stderr, "trent: accounts create needs --account-id")
			return 2
		}
		b, _ := json.Marshal(map[string]string{"AccountId": *accountID})
		target, body = "TrentAdmin.CreateAccount", string(b)
	case "list":
		target, body = "TrentAdmin.ListAccounts", "{}"
	}
	out, err := adminCall(ctx, cfg, *endpoint, target, body)
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
	if args[0] == "create" {
		// Exactly the three fields, in this order.
		var r struct{ AccountId, AccessKeyId, SecretAccessKey string }
		json.Unmarshal(out, &r)
		v = r
	}
	enc.Encode(v)
	return 0
}

// adminCall sends one SigV4-signed TrentAdmin request and returns the
// response body, or an error with the API error's code and message.
func adminCall(ctx context.Context, cfg aws.Config, endpoint, target, body string) ([]byte, error) {
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(endpoint, "/")+"/", bytes.NewReader([]byte(body)))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", target)
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "kms", cfg.Region, time.Now()); err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}
		json.Unmarshal(b, &e)
		if e.Type == "" {
			return nil, fmt.Errorf("%s: HTTP %d", target, resp.StatusCode)
		}
		return nil, errors.New(e.Type + ": " + e.Message)
	}
	return b, nil
}
