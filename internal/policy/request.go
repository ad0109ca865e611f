package policy

import (
	"net/netip"
	"sort"
	"strings"
	"time"
)

// PrincipalType is the kind of identity that signed a request; its string
// form is the value of aws:PrincipalType.
type PrincipalType uint8

const (
	// PrincipalAccount is an account's root user (aws:PrincipalType "Account").
	PrincipalAccount PrincipalType = iota + 1
	// PrincipalUser is an IAM user.
	PrincipalUser
	// PrincipalAssumedRole is a role session (sts AssumeRole*).
	PrincipalAssumedRole
	// PrincipalFederatedUser is an sts GetFederationToken session.
	PrincipalFederatedUser
	// PrincipalService is an AWS service principal such as
	// "ec2.amazonaws.com"; it matches Principal {"Service": …}.
	PrincipalService
	// PrincipalWebIdentity is a caller of AssumeRoleWithWebIdentity or
	// AssumeRoleWithSAML, identified by its provider; it matches
	// Principal {"Federated": …}.
	PrincipalWebIdentity
)

func (t PrincipalType) String() string {
	switch t {
	case PrincipalAccount:
		return "Account"
	case PrincipalUser:
		return "User"
	case PrincipalAssumedRole:
		return "AssumedRole"
	case PrincipalFederatedUser:
		return "FederatedUser"
	case PrincipalService:
		return "Service"
	case PrincipalWebIdentity:
		return "WebIdentity"
	}
	return ""
}

// Tag is a key–value tag of a principal.
type Tag struct{ Key, Value string }

// Principal describes the caller.
type Principal struct {
	Type PrincipalType
	// ARN is the caller's ARN as AWS reports it in errors:
	// arn:aws:iam::111122223333:root, …:user/alice,
	// arn:aws:sts::111122223333:assumed-role/R/session, …
	ARN string
	// Account is the caller's 12-digit account id (aws:PrincipalAccount,
	// kms:CallerAccount).
	Account string
	// RoleARN is, for a role session, the IAM ARN of the role
	// (arn:aws:iam::111122223333:role/path/R). A policy principal naming
	// the role matches its sessions, and aws:PrincipalArn is this value.
	RoleARN string
	// UserID is aws:userid (AIDA… for users, "AROA…:session" for role
	// sessions, the account id for the root user).
	UserID string
	// Username is aws:username; only IAM users have one.
	Username string
	// Tags are the principal's tags (aws:PrincipalTag/<key>); keys match
	// case-insensitively.
	Tags []Tag
	// Service is the service principal name, for PrincipalService.
	Service string
	// Federated is the identity provider, for PrincipalWebIdentity:
	// an oidc-provider/saml-provider ARN or a well-known name such as
	// "cognito-identity.amazonaws.com".
	Federated string
}

// Request is the authorization context of one API call. Fields that are
// zero are absent from the context: a condition on them does not match
// (or, for negated operators, matches), exactly as for keys AWS does not
// supply.
type Request struct {
	Action          string // "kms:Encrypt"; matched case-insensitively
	Resource        string // resource ARN, or "*" for actions without one
	ResourceAccount string // owner of Resource; empty means the caller's account
	Principal       Principal
	SourceIP        netip.Addr // aws:SourceIp
	SecureTransport bool       // aws:SecureTransport (always present)
	Time            time.Time  // aws:CurrentTime, aws:EpochTime
	// Keys supplies request- and resource-specific condition keys:
	// kms:EncryptionContext:<k>, kms:ViaService, aws:ResourceTag/<k>, …
	// It may be nil. See [ContextKeys].
	Keys KeyLookup
}

// KeyLookup supplies condition keys that are not fields of [Request].
// Lookup receives the key name in lower case (condition key names are
// case-insensitive; IAM User Guide, reference_policies_variables.md: "Key
// names are case-insensitive. For example, aws:CurrentTime is equivalent
// to AWS:currenttime") and reports whether the key is present.
type KeyLookup interface {
	Lookup(lowerKey string) (Values, bool)
}

type vkind uint8

const (
	vString vkind = iota
	vList
	vTime
	vBool
	vIP
)

// Values is the value of a context key: one string, a set of strings
// (multivalued keys such as aws:TagKeys), a time, a boolean or an IP
// address. Typed values avoid formatting on the hot path.
type Values struct {
	kind vkind
	s    string
	list []string
	t    time.Time
	b    bool
	ip   netip.Addr
}

// String returns a single string value.
func String(s string) Values { return Values{kind: vString, s: s} }

// Strings returns a multivalued value. An empty set behaves as AWS
// describes for "an empty data set": ForAllValues matches, ForAnyValue does
// not, and Null treats the key as absent.
func Strings(ss []string) Values { return Values{kind: vList, list: ss} }

// Time returns a date value.
func Time(t time.Time) Values { return Values{kind: vTime, t: t} }

// Bool returns a boolean value.
func Bool(b bool) Values { return Values{kind: vBool, b: b} }

// IP returns an address value.
func IP(a netip.Addr) Values { return Values{kind: vIP, ip: a} }

func (v *Values) len() int {
	if v.kind == vList {
		return len(v.list)
	}
	return 1
}

// str returns value i as a string. Only time and IP values format (and
// allocate); they are compared as strings only by string operators.
func (v *Values) str(i int) string {
	switch v.kind {
	case vList:
		return v.list[i]
	case vTime:
		return v.t.UTC().Format(time.RFC3339)
	case vBool:
		if v.b {
			return "true"
		}
		return "false"
	case vIP:
		return v.ip.String()
	}
	return v.s
}

// ContextKeys is a small [KeyLookup] for request- and resource-specific
// keys. It keeps keys in lower case and looks them up linearly, which is
// faster than a map for the handful of keys one request has.
type ContextKeys struct {
	entries []ckEntry
}

type ckEntry struct {
	key string
	v   Values
}

// Set sets key (any case) to v, replacing an earlier value.
func (c *ContextKeys) Set(key string, v Values) {
	k := strings.ToLower(key)
	for i := range c.entries {
		if c.entries[i].key == k {
			c.entries[i].v = v
			return
		}
	}
	c.entries = append(c.entries, ckEntry{k, v})
}

// Lookup implements [KeyLookup].
func (c *ContextKeys) Lookup(lowerKey string) (Values, bool) {
	if c == nil {
		return Values{}, false
	}
	for i := range c.entries {
		if c.entries[i].key == lowerKey {
			return c.entries[i].v, true
		}
	}
	return Values{}, false
}

// SetEncryptionContext adds kms:EncryptionContext:<key> for each pair and
// kms:EncryptionContextKeys (multivalued, the keys as given). An empty or
// nil context adds nothing: both keys are then absent, which is what
// {"Null": {"kms:EncryptionContextKeys": false}} tests
// (conditions-kms.md: "allow access … only when encryption context in the
// API request is not null").
//
// The <key> part of kms:EncryptionContext:<key> matches without regard to
// case: conditions-kms.md, "Case sensitivity of the encryption context
// condition": "the condition key, which consists of the
// kms:EncryptionContext: prefix and the context-key replacement, is not
// case sensitive". If two pairs differ only in the case of their keys,
// the condition key has both values and a condition matches if either
// value does (AWS advises against such contexts; our choice, inferred).
func (c *ContextKeys) SetEncryptionContext(ec map[string]string) {
	if len(ec) == 0 {
		return
	}
	keys := make([]string, 0, len(ec))
	for k := range ec {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		name := "kms:encryptioncontext:" + strings.ToLower(k)
		if prev, ok := c.Lookup(name); ok {
			vals := []string{prev.str(0), ec[k]}
			if prev.kind == vList {
				vals = append(append([]string(nil), prev.list...), ec[k])
			}
			c.Set(name, Strings(vals))
			continue
		}
		c.Set(name, String(ec[k]))
	}
	c.Set("kms:EncryptionContextKeys", Strings(keys))
}

// SetTags adds prefix+<key> for each tag, e.g. prefix "aws:ResourceTag/",
// and, when keysName is not empty, the multivalued key keysName with the
// tag keys (e.g. "aws:TagKeys" for the tags of a request).
func (c *ContextKeys) SetTags(prefix string, tags map[string]string, keysName string) {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		c.Set(prefix+k, String(tags[k]))
	}
	if keysName != "" && len(keys) > 0 {
		c.Set(keysName, Strings(keys))
	}
}
