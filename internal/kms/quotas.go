package kms

import (
	"context"
	"unicode/utf8"

	"github.com/trent-kms/trent/internal/wire"
)

// Quotas are the resource quotas a Service enforces, AWS KMS's resource
// quotas by default. A zero field means unlimited.
//
// AWS's defaults, from "Resource quotas" in the AWS KMS Developer Guide
// (https://docs.aws.amazon.com/kms/latest/developerguide/resource-limits.html):
// "AWS KMS keys | 100,000 | Customer managed keys" and "Aliases per KMS
// key | 50 | Customer created aliases", and "If you have exceeded a
// resource limit, requests to create an additional resource of that type
// generate an LimitExceededException error message." The key policy size,
// from the CreateKey and PutKeyPolicy API reference: "The key policy size
// quota is 32 kilobytes (32768 bytes)" and "If the key policy exceeds the
// length constraint, KMS returns a LimitExceededException" (also in the
// model's Policy documentation). 50 tags per key: AWS rejects a request
// with more (TagException "Too many tags", LocalStack's AWS-validated tag
// tests, localstack/localstack pull request #12142).
//
// # Counting under concurrency
//
// The key and alias counts are read from the store before the create. A
// Service serializes its own counted creates, so one node never exceeds a
// quota; nodes sharing a PostgreSQL store count independently, so N nodes
// creating at the same moment can overshoot a quota by at most N-1.
type Quotas struct {
	KeysPerRegion int // customer managed keys per account and region
	AliasesPerKey int // aliases pointing to one key
	KeyPolicySize int // characters in a key policy document
	TagsPerKey    int // tags on one key
	GrantsPerKey  int // grants on one key ("Grants per KMS key: 50,000", resource-limits.md)
	// CustomKeyStoresPerRegion is the number of custom key stores per
	// account and region ("Custom key stores per account and Region: 10").
	CustomKeyStoresPerRegion int
}

// DefaultQuotas are AWS's default resource quotas.
var DefaultQuotas = Quotas{KeysPerRegion: 100_000, AliasesPerKey: 50, KeyPolicySize: 32_768, TagsPerKey: 50, GrantsPerKey: DefaultGrantsPerKey,
	CustomKeyStoresPerRegion: DefaultCustomKeyStoresPerRegion}

// limitExceeded is a LimitExceededException.
func limitExceeded(format string, args ...any) error {
	return wire.Errorf("LimitExceededException", format, args...)
}

// checkKeyQuota returns LimitExceededException if the caller's account
// already has KeysPerRegion keys in the region. The caller holds
// s.quotaMu. The quota counts keys in every state, as AWS's does (the
// Resource quotas page of the AWS KMS Developer Guide: the quota applies to
// customer managed keys regardless of their key spec or key state).
func (s *Service) checkKeyQuota(ctx context.Context, c *Caller) error {
	q := s.quotas.KeysPerRegion
	if q <= 0 {
		return nil
	}
	n, err := s.store.CountKeys(ctx, c.Region, c.AccountID)
	if err != nil {
		return err
	}
	if n >= q {
		// AWS's message as a CreateKey client recorded it: "LimitExceededException:
		// Key quota for this account in this region is 101 but the current usage
		// is 101." (convox/rack pull request #347).
		return limitExceeded("Key quota for this account in this region is %d but the current usage is %d.", q, n)
	}
	return nil
}

// checkAliasQuota returns LimitExceededException if keyID already has
// AliasesPerKey aliases. The caller holds s.quotaMu.
func (s *Service) checkAliasQuota(ctx context.Context, c *Caller, keyID string) error {
	q := s.quotas.AliasesPerKey
	if q <= 0 {
		return nil
	}
	n, err := s.store.CountAliases(ctx, c.Region, c.AccountID, keyID)
	if err != nil {
		return err
	}
	if n >= q {
		// AWS's message as recorded from CreateAlias: "An error occurred
		// (LimitExceededException) when calling the CreateAlias operation:
		// Aliases per key quota for this account in this region is 50, current
		// usage is 60." (scylladb/scylla-cluster-tests issue #7611).
		return limitExceeded("Aliases per key quota for this account in this region is %d, current usage is %d.", q, n)
	}
	return nil
}

// checkPolicySize returns LimitExceededException for a key policy longer
// than KeyPolicySize. AWS states the quota in bytes (32768); the model
// allows only characters up to U+00FF in a policy, one byte each in
// Latin-1, so we count characters (inferred: AWS's unit for characters
// above U+007F is not documented). The message is ours (inferred): no
// recorded AWS message for this case was found.
func (s *Service) checkPolicySize(policy string) error {
	q := s.quotas.KeyPolicySize
	if q <= 0 {
		return nil
	}
	if n := utf8.RuneCountInString(policy); n > q {
		return limitExceeded("The key policy is %d characters, which exceeds the key policy size quota of %d.", n, q)
	}
	return nil
}
