package kms

import (
	"strings"

	"github.com/trent-kms/trent/internal/wire"
)

// Partition returns the AWS partition that serves region: "aws-cn" for the
// China regions, "aws-us-gov" for GovCloud and "aws" otherwise.
func Partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}

// KeyARN returns the ARN of the key id in the account and region.
func KeyARN(region, accountID, keyID string) string {
	return "arn:" + Partition(region) + ":kms:" + region + ":" + accountID + ":key/" + keyID
}

// AliasARN returns the ARN of the alias name ("alias/...") in the account
// and region.
func AliasARN(region, accountID, name string) string {
	return "arn:" + Partition(region) + ":kms:" + region + ":" + accountID + ":" + name
}

// keyRefKind tells which form a key identifier took.
type keyRefKind int

const (
	refKeyID keyRefKind = iota
	refKeyARN
	refAliasName
	refAliasARN
)

// keyRef is a parsed key identifier.
type keyRef struct {
	kind      keyRefKind
	raw       string
	region    string // from an ARN; else the caller's
	accountID string // from an ARN; else the caller's
	keyID     string // for refKeyID and refKeyARN
	alias     string // "alias/..." for refAliasName and refAliasARN
}

// isKeyID reports whether s is a KMS key id: a lowercase-hex UUID, or a
// multi-Region key id "mrk-" followed by 32 lowercase hex characters.
func isKeyID(s string) bool {
	if strings.HasPrefix(s, "mrk-") {
		return len(s) == 36 && isHex(s[4:])
	}
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !isHexByte(c) {
				return false
			}
		}
	}
	return true
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isHexByte(s[i]) {
			return false
		}
	}
	return true
}

func isHexByte(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' }

// parseKeyRef parses a KeyId member. allowAlias says whether the operation
// accepts alias names and alias ARNs. The caller's region and account fill
// in what a bare id or alias name leaves out.
func parseKeyRef(c *Caller, s string, allowAlias bool) (keyRef, error) {
	r := keyRef{raw: s, region: c.Region, accountID: c.AccountID}
	switch {
	case strings.HasPrefix(s, "arn:"):
		// arn:PARTITION:kms:REGION:ACCOUNT:RESOURCE
		parts := strings.SplitN(s, ":", 6)
		if len(parts) != 6 || parts[2] != "kms" || parts[3] == "" || !isAccountID(parts[4]) ||
			parts[1] != Partition(parts[3]) {
			return r, errInvalidARN(s)
		}
		r.region, r.accountID = parts[3], parts[4]
		res := parts[5]
		switch {
		case strings.HasPrefix(res, "key/"):
			r.kind, r.keyID = refKeyARN, res[len("key/"):]
			if r.region != c.Region {
				// A regional endpoint knows only its own region's keys.
				return r, wire.Errorf("NotFoundException", "Invalid arn %s", r.region)
			}
			if !isKeyID(r.keyID) {
				return r, errInvalidKeyID(r.keyID)
			}
		case strings.HasPrefix(res, "alias/") && len(res) > len("alias/"):
			if !allowAlias {
				return r, wire.Errorf("InvalidArnException", "Key Aliases are not supported for this operation.")
			}
			if r.region != c.Region {
				// Like a key ARN: the endpoint answers for its own
				// region, whether or not the alias exists elsewhere.
				return r, wire.Errorf("NotFoundException", "Invalid arn %s", r.region)
			}
			r.kind, r.alias = refAliasARN, res
		default:
			return r, errInvalidARN(s)
		}
	case strings.HasPrefix(s, "alias/"):
		if !allowAlias {
			return r, errInvalidKeyID(s)
		}
		r.kind, r.alias = refAliasName, s
	default:
		if !isKeyID(s) {
			return r, errInvalidKeyID(s)
		}
		r.kind, r.keyID = refKeyID, s
	}
	return r, nil
}

func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func errInvalidKeyID(s string) error {
	return wire.Errorf("NotFoundException", "Invalid keyId '%s'", s)
}

func errInvalidARN(s string) error {
	return wire.Errorf("InvalidArnException", "ARN %s is not valid", s)
}

func errKeyNotFound(arn string) error {
	return wire.Errorf("NotFoundException", "Key '%s' does not exist", arn)
}

func errAliasNotFound(arn string) error {
	return wire.Errorf("NotFoundException", "Alias %s is not found.", arn)
}

func errDisabled(arn string) error {
	return wire.Errorf("DisabledException", "%s is disabled.", arn)
}

func errPendingDeletion(arn string) error {
	return wire.Errorf("KMSInvalidStateException", "%s is pending deletion.", arn)
}

func validationError(msg string) error {
	return &wire.Error{Code: "ValidationException", Message: msg}
}
