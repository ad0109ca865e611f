package policy_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/policy"
)

type condCase struct {
	name string
	cond string // the Condition element
	mods []func(*policy.Request)
	want bool // whether the Allow statement applies
}

func s(v string) policy.Values    { return policy.String(v) }
func l(v ...string) policy.Values { return policy.Strings(v) }
func m(kv ...any) func(*policy.Request) {
	mm := map[string]policy.Values{}
	for i := 0; i < len(kv); i += 2 {
		mm[kv[i].(string)] = kv[i+1].(policy.Values)
	}
	return keys(mm)
}
func mods(f ...func(*policy.Request)) []func(*policy.Request) { return f }

// condCases is the specification of condition operators. Each case puts
// one Condition element in an Allow statement of an identity policy and
// says whether the statement applies to the request. Sources: IAM User
// Guide reference_policies_elements_condition_operators.md (operators,
// missing keys, IfExists, Null), reference_policies_multi-value-conditions.md
// (set operators, empty sets), reference_policies_variables.md (variables),
// KMS Developer Guide conditions-kms.md (KMS keys and their case rules).
var condCases = []condCase{
	// String operators.
	{"string/equals-match", `{"StringEquals":{"kms:ViaService":"ec2.us-east-1.amazonaws.com"}}`, mods(m("kms:ViaService", s("ec2.us-east-1.amazonaws.com"))), true},
	{"string/equals-case-sensitive", `{"StringEquals":{"kms:ViaService":"EC2.us-east-1.amazonaws.com"}}`, mods(m("kms:ViaService", s("ec2.us-east-1.amazonaws.com"))), false},
	{"string/equals-no-wildcards", `{"StringEquals":{"kms:ViaService":"ec2.*"}}`, mods(m("kms:ViaService", s("ec2.us-east-1.amazonaws.com"))), false},
	{"string/equals-literal-star", `{"StringEquals":{"kms:ViaService":"ec2.*"}}`, mods(m("kms:ViaService", s("ec2.*"))), true},
	{"string/equals-missing-key-false", `{"StringEquals":{"kms:ViaService":"ec2.us-east-1.amazonaws.com"}}`, nil, false},
	{"string/equals-values-ored", `{"StringEquals":{"kms:ViaService":["s3.us-east-1.amazonaws.com","ec2.us-east-1.amazonaws.com"]}}`, mods(m("kms:ViaService", s("ec2.us-east-1.amazonaws.com"))), true},
	{"string/equals-keys-anded", `{"StringEquals":{"kms:ViaService":"ec2.us-east-1.amazonaws.com","kms:CallerAccount":"444455556666"}}`, mods(m("kms:ViaService", s("ec2.us-east-1.amazonaws.com"))), false},
	{"string/equals-keys-anded-both", `{"StringEquals":{"kms:ViaService":"ec2.us-east-1.amazonaws.com","kms:CallerAccount":"111122223333"}}`, mods(m("kms:ViaService", s("ec2.us-east-1.amazonaws.com"))), true},
	{"string/operators-anded", `{"StringEquals":{"kms:CallerAccount":"111122223333"},"Bool":{"aws:SecureTransport":"false"}}`, nil, false},
	{"string/not-equals-match", `{"StringNotEquals":{"kms:EncryptionAlgorithm":"SYMMETRIC_DEFAULT"}}`, mods(m("kms:EncryptionAlgorithm", s("RSAES_OAEP_SHA_256"))), true},
	{"string/not-equals-equal", `{"StringNotEquals":{"kms:EncryptionAlgorithm":"SYMMETRIC_DEFAULT"}}`, mods(m("kms:EncryptionAlgorithm", s("SYMMETRIC_DEFAULT"))), false},
	{"string/not-equals-missing-key-true", `{"StringNotEquals":{"kms:ViaService":"ec2.us-east-1.amazonaws.com"}}`, nil, true},
	{"string/not-equals-any-of-values", `{"StringNotEquals":{"kms:ViaService":["a.amazonaws.com","b.amazonaws.com"]}}`, mods(m("kms:ViaService", s("b.amazonaws.com"))), false},
	{"string/equals-ignore-case", `{"StringEqualsIgnoreCase":{"kms:RequestAlias":"ALIAS/App"}}`, mods(m("kms:RequestAlias", s("alias/app"))), true},
	{"string/not-equals-ignore-case", `{"StringNotEqualsIgnoreCase":{"kms:RequestAlias":"ALIAS/App"}}`, mods(m("kms:RequestAlias", s("alias/app"))), false},
	{"string/not-equals-ignore-case-missing", `{"StringNotEqualsIgnoreCase":{"kms:RequestAlias":"ALIAS/App"}}`, nil, true},
	{"string/like-star", `{"StringLike":{"kms:ViaService":"ec2.*.amazonaws.com"}}`, mods(m("kms:ViaService", s("ec2.us-east-1.amazonaws.com"))), true},
	{"string/like-star-empty", `{"StringLike":{"kms:RequestAlias":"alias/app*"}}`, mods(m("kms:RequestAlias", s("alias/app"))), true},
	{"string/like-question", `{"StringLike":{"kms:RequestAlias":"alias/app?"}}`, mods(m("kms:RequestAlias", s("alias/app1"))), true},
	{"string/like-question-needs-one", `{"StringLike":{"kms:RequestAlias":"alias/app?"}}`, mods(m("kms:RequestAlias", s("alias/app"))), false},
	{"string/like-question-one-rune", `{"StringLike":{"kms:RequestAlias":"alias/caf?"}}`, mods(m("kms:RequestAlias", s("alias/café"))), true},
	{"string/like-case-sensitive", `{"StringLike":{"kms:RequestAlias":"alias/App*"}}`, mods(m("kms:RequestAlias", s("alias/app1"))), false},
	{"string/like-multi-star-backtrack", `{"StringLike":{"kms:RequestAlias":"*a*b*c"}}`, mods(m("kms:RequestAlias", s("xxaxxbxxbxxc"))), true},
	{"string/like-multi-star-no", `{"StringLike":{"kms:RequestAlias":"*a*b*c"}}`, mods(m("kms:RequestAlias", s("xxaxxcxxb"))), false},
	{"string/like-star-spans-colons", `{"StringLike":{"aws:PrincipalArn":"arn:aws:iam::*"}}`, nil, true},
	{"string/not-like-match", `{"StringNotLike":{"kms:RequestAlias":"alias/aws/*"}}`, mods(m("kms:RequestAlias", s("alias/app"))), true},
	{"string/not-like-excluded", `{"StringNotLike":{"kms:RequestAlias":"alias/aws/*"}}`, mods(m("kms:RequestAlias", s("alias/aws/ebs"))), false},
	{"string/not-like-missing-true", `{"StringNotLike":{"kms:RequestAlias":"alias/aws/*"}}`, nil, true},
	{"string/escape-star-variable", `{"StringEquals":{"kms:RequestAlias":"alias/${*}"}}`, mods(m("kms:RequestAlias", s("alias/*"))), true},
	{"string/escape-star-is-literal-in-like", `{"StringLike":{"kms:RequestAlias":"alias/${*}"}}`, mods(m("kms:RequestAlias", s("alias/x"))), false},
	{"string/escape-question", `{"StringLike":{"kms:RequestAlias":"alias/${?}"}}`, mods(m("kms:RequestAlias", s("alias/?"))), true},
	{"string/escape-dollar", `{"StringEquals":{"kms:RequestAlias":"alias/${$}x"}}`, mods(m("kms:RequestAlias", s("alias/$x"))), true},
	{"string/number-value-is-text", `{"StringEquals":{"kms:CallerAccount":111122223333}}`, nil, true},

	// Condition key names are case-insensitive.
	{"key/name-case-insensitive", `{"StringEquals":{"KMS:CALLERACCOUNT":"111122223333"}}`, nil, true},
	{"key/request-key-case-insensitive", `{"StringEquals":{"KMS:viaservice":"ec2.us-east-1.amazonaws.com"}}`, mods(m("kms:ViaService", s("ec2.us-east-1.amazonaws.com"))), true},
	{"key/unknown-key-absent", `{"StringEquals":{"kms:NoSuchKey":"x"}}`, nil, false},
	{"key/unknown-key-negated-true", `{"StringNotEquals":{"kms:NoSuchKey":"x"}}`, nil, true},

	// Global keys from the request.
	{"global/username", `{"StringEquals":{"aws:username":"alice"}}`, nil, true},
	{"global/username-absent-for-role", `{"StringEquals":{"aws:username":"R"}}`, mods(as(session(acct, "R", "s1"))), false},
	{"global/username-absent-for-root", `{"Null":{"aws:username":"true"}}`, mods(as(root(acct))), true},
	{"global/userid", `{"StringEquals":{"aws:userid":"AIDAEXAMPLEalice"}}`, nil, true},
	{"global/userid-role-session", `{"StringLike":{"aws:userid":"AROAEXAMPLE:*"}}`, mods(as(session(acct, "R", "s1"))), true},
	{"global/principal-arn-user", `{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/alice"}}`, nil, true},
	{"global/principal-arn-role-for-session", `{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/R"}}`, mods(as(session(acct, "R", "s1"))), true},
	{"global/principal-account", `{"StringEquals":{"aws:PrincipalAccount":"111122223333"}}`, nil, true},
	{"global/principal-type-user", `{"StringEquals":{"aws:PrincipalType":"User"}}`, nil, true},
	{"global/principal-type-role", `{"StringEquals":{"aws:PrincipalType":"AssumedRole"}}`, mods(as(session(acct, "R", "s1"))), true},
	{"global/principal-type-root", `{"StringEquals":{"aws:PrincipalType":"Account"}}`, mods(as(root(acct))), true},
	{"global/principal-tag", `{"StringEquals":{"aws:PrincipalTag/team":"blue"}}`, mods(func(r *policy.Request) { r.Principal.Tags = []policy.Tag{{Key: "Team", Value: "blue"}} }), true},
	{"global/principal-tag-value-case", `{"StringEquals":{"aws:PrincipalTag/team":"Blue"}}`, mods(func(r *policy.Request) { r.Principal.Tags = []policy.Tag{{Key: "team", Value: "blue"}} }), false},
	{"global/principal-tag-missing", `{"StringEquals":{"aws:PrincipalTag/team":"blue"}}`, nil, false},
	{"global/caller-account", `{"StringEquals":{"kms:CallerAccount":"111122223333"}}`, nil, true},
	{"global/caller-account-other", `{"StringEquals":{"kms:CallerAccount":"111122223333"}}`, mods(as(user(other, "bob"))), false},
	{"global/resource-account", `{"StringEquals":{"aws:ResourceAccount":"111122223333"}}`, nil, true},
	{"global/via-service-absent-on-direct-call", `{"StringLike":{"kms:ViaService":"*"}}`, nil, false},
	{"global/via-service-null-true-on-direct-call", `{"Null":{"kms:ViaService":"true"}}`, nil, true},

	// Numeric.
	{"numeric/equals", `{"NumericEquals":{"kms:GrantCount":"3"}}`, mods(m("kms:GrantCount", s("3"))), true},
	{"numeric/equals-decimal", `{"NumericEquals":{"kms:GrantCount":"3.0"}}`, mods(m("kms:GrantCount", s("3"))), true},
	{"numeric/json-number", `{"NumericEquals":{"kms:GrantCount":3}}`, mods(m("kms:GrantCount", s("3"))), true},
	{"numeric/not-equals", `{"NumericNotEquals":{"kms:GrantCount":"3"}}`, mods(m("kms:GrantCount", s("4"))), true},
	{"numeric/not-equals-missing", `{"NumericNotEquals":{"kms:GrantCount":"3"}}`, nil, true},
	{"numeric/less-than", `{"NumericLessThan":{"kms:GrantCount":"10"}}`, mods(m("kms:GrantCount", s("9"))), true},
	{"numeric/less-than-equal-no", `{"NumericLessThan":{"kms:GrantCount":"10"}}`, mods(m("kms:GrantCount", s("10"))), false},
	{"numeric/less-than-equals", `{"NumericLessThanEquals":{"kms:GrantCount":"10"}}`, mods(m("kms:GrantCount", s("10"))), true},
	{"numeric/greater-than", `{"NumericGreaterThan":{"kms:GrantCount":"10"}}`, mods(m("kms:GrantCount", s("11"))), true},
	{"numeric/greater-than-no", `{"NumericGreaterThan":{"kms:GrantCount":"10"}}`, mods(m("kms:GrantCount", s("10"))), false},
	{"numeric/greater-than-equals", `{"NumericGreaterThanEquals":{"kms:GrantCount":"10"}}`, mods(m("kms:GrantCount", s("10"))), true},
	{"numeric/missing-false", `{"NumericLessThan":{"kms:GrantCount":"10"}}`, nil, false},
	{"numeric/request-not-a-number", `{"NumericLessThan":{"kms:GrantCount":"10"}}`, mods(m("kms:GrantCount", s("ten"))), false},
	{"numeric/if-exists-missing", `{"NumericLessThanIfExists":{"kms:GrantCount":"10"}}`, nil, true},
	{"numeric/if-exists-present", `{"NumericLessThanIfExists":{"kms:GrantCount":"10"}}`, mods(m("kms:GrantCount", s("11"))), false},

	// Dates.
	{"date/less-than-iso", `{"DateLessThan":{"aws:CurrentTime":"2025-01-01T00:00:00Z"}}`, nil, true},
	{"date/greater-than-iso", `{"DateGreaterThan":{"aws:CurrentTime":"2025-01-01T00:00:00Z"}}`, nil, false},
	{"date/equals", `{"DateEquals":{"aws:CurrentTime":"2024-06-01T12:00:00Z"}}`, nil, true},
	{"date/equals-other-zone", `{"DateEquals":{"aws:CurrentTime":"2024-06-01T14:00:00+02:00"}}`, nil, true},
	{"date/not-equals", `{"DateNotEquals":{"aws:CurrentTime":"2024-06-01T12:00:00Z"}}`, nil, false},
	{"date/less-than-equals", `{"DateLessThanEquals":{"aws:CurrentTime":"2024-06-01T12:00:00Z"}}`, nil, true},
	{"date/greater-than-equals", `{"DateGreaterThanEquals":{"aws:CurrentTime":"2024-06-01T12:00:00Z"}}`, nil, true},
	{"date/date-only", `{"DateGreaterThan":{"aws:CurrentTime":"2024-05-31"}}`, nil, true},
	{"date/year-month", `{"DateLessThan":{"aws:CurrentTime":"2024-07"}}`, nil, true},
	{"date/minutes-only", `{"DateLessThan":{"aws:CurrentTime":"2024-06-01T12:01Z"}}`, nil, true},
	{"date/fraction", `{"DateGreaterThan":{"aws:CurrentTime":"2024-06-01T11:59:59.5Z"}}`, nil, true},
	{"date/epoch", `{"DateLessThan":{"aws:EpochTime":"1735689600"}}`, nil, true},
	{"date/epoch-json-number", `{"DateGreaterThan":{"aws:CurrentTime":1700000000}}`, nil, true},
	{"date/request-string", `{"DateLessThan":{"kms:ValidTo":"2030-01-01T00:00:00Z"}}`, mods(m("kms:ValidTo", s("2029-01-01T00:00:00Z"))), true},
	{"date/request-epoch-string", `{"DateLessThan":{"kms:ValidTo":"2030-01-01T00:00:00Z"}}`, mods(m("kms:ValidTo", s("1861920000"))), true},
	{"date/missing-token-issue-time", `{"DateGreaterThan":{"aws:TokenIssueTime":"2020-01-01T00:00:01Z"}}`, nil, false},
	{"date/time-zero-absent", `{"DateLessThan":{"aws:CurrentTime":"2030-01-01"}}`, mods(func(r *policy.Request) { r.Time = time.Time{} }), false},

	// Bool.
	{"bool/secure-transport-true", `{"Bool":{"aws:SecureTransport":"true"}}`, nil, true},
	{"bool/secure-transport-false", `{"Bool":{"aws:SecureTransport":"false"}}`, nil, false},
	{"bool/json-boolean", `{"Bool":{"aws:SecureTransport":true}}`, nil, true},
	{"bool/case-insensitive-value", `{"Bool":{"aws:SecureTransport":"TRUE"}}`, nil, true},
	{"bool/insecure-request", `{"Bool":{"aws:SecureTransport":"false"}}`, mods(func(r *policy.Request) { r.SecureTransport = false }), true},
	{"bool/request-string", `{"Bool":{"kms:BypassPolicyLockoutSafetyCheck":"true"}}`, mods(m("kms:BypassPolicyLockoutSafetyCheck", s("true"))), true},
	{"bool/request-typed", `{"Bool":{"kms:BypassPolicyLockoutSafetyCheck":"true"}}`, mods(m("kms:BypassPolicyLockoutSafetyCheck", policy.Bool(false))), false},
	{"bool/missing", `{"Bool":{"kms:BypassPolicyLockoutSafetyCheck":"true"}}`, nil, false},
	{"bool/if-exists-missing", `{"BoolIfExists":{"kms:BypassPolicyLockoutSafetyCheck":"false"}}`, nil, true},

	// Binary.
	{"binary/equals", `{"BinaryEquals":{"kms:RecipientAttestation:PCR0":"aGVsbG8="}}`, mods(m("kms:RecipientAttestation:PCR0", s("hello"))), true},
	{"binary/differs", `{"BinaryEquals":{"kms:RecipientAttestation:PCR0":"aGVsbG8="}}`, mods(m("kms:RecipientAttestation:PCR0", s("hellO"))), false},
	{"binary/missing", `{"BinaryEquals":{"kms:RecipientAttestation:PCR0":"aGVsbG8="}}`, nil, false},

	// IP addresses.
	{"ip/in-cidr", `{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}`, nil, true},
	{"ip/not-in-cidr", `{"IpAddress":{"aws:SourceIp":"198.51.100.0/24"}}`, nil, false},
	{"ip/bare-address-is-32", `{"IpAddress":{"aws:SourceIp":"203.0.113.7"}}`, nil, true},
	{"ip/bare-address-other", `{"IpAddress":{"aws:SourceIp":"203.0.113.8"}}`, nil, false},
	{"ip/host-bits-set", `{"IpAddress":{"aws:SourceIp":"203.0.113.99/24"}}`, nil, true},
	{"ip/ipv6", `{"IpAddress":{"aws:SourceIp":"2001:DB8:1234:5678::/64"}}`, mods(func(r *policy.Request) { r.SourceIP = netip.MustParseAddr("2001:db8:1234:5678::1") }), true},
	{"ip/ipv6-no", `{"IpAddress":{"aws:SourceIp":"2001:DB8:1234:5678::/64"}}`, nil, false},
	{"ip/mixed-list", `{"IpAddress":{"aws:SourceIp":["2001:DB8::/32","203.0.113.0/24"]}}`, nil, true},
	{"ip/v4-mapped-request", `{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}`, mods(func(r *policy.Request) { r.SourceIP = netip.MustParseAddr("::ffff:203.0.113.9") }), true},
	{"ip/not-ip-address", `{"NotIpAddress":{"aws:SourceIp":"198.51.100.0/24"}}`, nil, true},
	{"ip/not-ip-address-inside", `{"NotIpAddress":{"aws:SourceIp":"203.0.113.0/24"}}`, nil, false},
	{"ip/missing-source-ip", `{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}`, mods(func(r *policy.Request) { r.SourceIP = netip.Addr{} }), false},
	{"ip/not-ip-missing-true", `{"NotIpAddress":{"aws:SourceIp":"203.0.113.0/24"}}`, mods(func(r *policy.Request) { r.SourceIP = netip.Addr{} }), true},
	{"ip/request-string", `{"IpAddress":{"aws:VpcSourceIp":"10.0.0.0/8"}}`, mods(m("aws:VpcSourceIp", s("10.1.2.3"))), true},

	// ARN operators: per component, case-sensitive.
	{"arn/equals", `{"ArnEquals":{"aws:SourceArn":"arn:aws:sns:us-east-1:111122223333:topic"}}`, mods(m("aws:SourceArn", s("arn:aws:sns:us-east-1:111122223333:topic"))), true},
	{"arn/like-wildcard-region", `{"ArnLike":{"aws:SourceArn":"arn:aws:sns:*:111122223333:topic"}}`, mods(m("aws:SourceArn", s("arn:aws:sns:eu-west-1:111122223333:topic"))), true},
	{"arn/equals-allows-wildcards-too", `{"ArnEquals":{"aws:SourceArn":"arn:aws:sns:*:111122223333:*"}}`, mods(m("aws:SourceArn", s("arn:aws:sns:eu-west-1:111122223333:topic"))), true},
	{"arn/star-does-not-span-components", `{"ArnLike":{"aws:SourceArn":"arn:aws:someservice:*:111122223333:finance/*"}}`, mods(m("aws:SourceArn", s("arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt"))), false},
	{"arn/string-like-spans-components", `{"StringLike":{"aws:SourceArn":"arn:aws:someservice:*:111122223333:finance/*"}}`, mods(m("aws:SourceArn", s("arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt"))), true},
	{"arn/resource-part-has-colons", `{"ArnLike":{"aws:SourceArn":"arn:aws:logs:us-east-1:111122223333:log-group:*"}}`, mods(m("aws:SourceArn", s("arn:aws:logs:us-east-1:111122223333:log-group:g:log-stream:x"))), true},
	{"arn/case-sensitive", `{"ArnLike":{"aws:SourceArn":"arn:aws:sns:*:111122223333:Topic"}}`, mods(m("aws:SourceArn", s("arn:aws:sns:eu-west-1:111122223333:topic"))), false},
	{"arn/request-not-an-arn", `{"ArnLike":{"aws:SourceArn":"arn:aws:sns:*:*:*"}}`, mods(m("aws:SourceArn", s("not-an-arn"))), false},
	{"arn/policy-value-too-short-never-matches", `{"ArnLike":{"aws:SourceArn":"arn:*"}}`, mods(m("aws:SourceArn", s("arn:aws:sns:eu-west-1:111122223333:topic"))), false},
	{"arn/not-equals", `{"ArnNotEquals":{"aws:SourceArn":"arn:aws:sns:*:111122223333:topic"}}`, mods(m("aws:SourceArn", s("arn:aws:sns:us-east-1:444455556666:topic"))), true},
	{"arn/not-like-missing-true", `{"ArnNotLike":{"aws:SourceArn":"arn:aws:sns:*:111122223333:topic"}}`, nil, true},
	{"arn/like-missing-false", `{"ArnLike":{"aws:SourceArn":"arn:aws:sns:*:111122223333:topic"}}`, nil, false},

	// IfExists.
	{"ifexists/string-missing-true", `{"StringEqualsIfExists":{"kms:ViaService":"ec2.us-east-1.amazonaws.com"}}`, nil, true},
	{"ifexists/string-present-match", `{"StringEqualsIfExists":{"kms:ViaService":"ec2.us-east-1.amazonaws.com"}}`, mods(m("kms:ViaService", s("ec2.us-east-1.amazonaws.com"))), true},
	{"ifexists/string-present-mismatch", `{"StringEqualsIfExists":{"kms:ViaService":"ec2.us-east-1.amazonaws.com"}}`, mods(m("kms:ViaService", s("s3.us-east-1.amazonaws.com"))), false},
	{"ifexists/like", `{"StringLikeIfExists":{"kms:ViaService":"ec2.*"}}`, nil, true},
	{"ifexists/not-equals-missing", `{"StringNotEqualsIfExists":{"kms:ViaService":"ec2.us-east-1.amazonaws.com"}}`, nil, true},
	{"ifexists/not-equals-present-equal", `{"StringNotEqualsIfExists":{"kms:ViaService":"ec2.us-east-1.amazonaws.com"}}`, mods(m("kms:ViaService", s("ec2.us-east-1.amazonaws.com"))), false},
	{"ifexists/date-missing", `{"DateGreaterThanIfExists":{"aws:TokenIssueTime":"2020-01-01T00:00:00Z"}}`, nil, true},
	{"ifexists/ip-missing", `{"IpAddressIfExists":{"aws:SourceIp":"10.0.0.0/8"}}`, mods(func(r *policy.Request) { r.SourceIP = netip.Addr{} }), true},
	{"ifexists/ip-present-outside", `{"IpAddressIfExists":{"aws:SourceIp":"10.0.0.0/8"}}`, nil, false},
	{"ifexists/arn-missing", `{"ArnLikeIfExists":{"aws:SourceArn":"arn:aws:sns:*:*:*"}}`, nil, true},
	{"ifexists/binary-missing", `{"BinaryEqualsIfExists":{"kms:RecipientAttestation:PCR0":"aGVsbG8="}}`, nil, true},

	// Null.
	{"null/true-key-absent", `{"Null":{"aws:TokenIssueTime":"true"}}`, nil, true},
	{"null/true-key-present", `{"Null":{"aws:SecureTransport":"true"}}`, nil, false},
	{"null/false-key-present", `{"Null":{"aws:SecureTransport":"false"}}`, nil, true},
	{"null/false-key-absent", `{"Null":{"aws:TokenIssueTime":"false"}}`, nil, false},
	{"null/json-boolean", `{"Null":{"aws:TokenIssueTime":true}}`, nil, true},
	{"null/encryption-context-required-absent", `{"Null":{"kms:EncryptionContextKeys":false}}`, nil, false},
	{"null/encryption-context-required-present", `{"Null":{"kms:EncryptionContextKeys":false}}`, mods(ec(map[string]string{"a": "b"})), true},
	{"null/empty-set-is-null", `{"Null":{"aws:TagKeys":"true"}}`, mods(m("aws:TagKeys", l())), true},

	// Set operators on multivalued keys.
	{"forallvalues/subset-true", `{"ForAllValues:StringEquals":{"aws:TagKeys":["Owner","Stage"]}}`, mods(m("aws:TagKeys", l("Owner"))), true},
	{"forallvalues/extra-value-false", `{"ForAllValues:StringEquals":{"aws:TagKeys":["Owner","Stage"]}}`, mods(m("aws:TagKeys", l("Owner", "Cost"))), false},
	{"forallvalues/missing-key-true", `{"ForAllValues:StringEquals":{"aws:TagKeys":["Owner"]}}`, nil, true},
	{"forallvalues/empty-set-true", `{"ForAllValues:StringEquals":{"aws:TagKeys":["Owner"]}}`, mods(m("aws:TagKeys", l())), true},
	{"forallvalues/like", `{"ForAllValues:StringLike":{"aws:TagKeys":["Owner*","State:??"]}}`, mods(m("aws:TagKeys", l("Owner:Legal", "State:NY"))), true},
	{"forallvalues/like-one-fails", `{"ForAllValues:StringLike":{"aws:TagKeys":["Owner*","State:??"]}}`, mods(m("aws:TagKeys", l("Owner:Legal", "State:NewYork"))), false},
	{"forallvalues/not-equals-none-listed", `{"ForAllValues:StringNotEquals":{"aws:TagKeys":["Owner"]}}`, mods(m("aws:TagKeys", l("Cost", "Stage"))), true},
	{"forallvalues/not-equals-one-listed", `{"ForAllValues:StringNotEquals":{"aws:TagKeys":["Owner"]}}`, mods(m("aws:TagKeys", l("Cost", "Owner"))), false},
	{"forallvalues/not-like-missing-true", `{"ForAllValues:StringNotLike":{"aws:TagKeys":["Owner:*"]}}`, nil, true},
	{"forallvalues/if-exists-missing-true", `{"ForAllValues:StringEqualsIfExists":{"aws:TagKeys":["Owner"]}}`, nil, true},
	{"forallvalues/ignore-case", `{"ForAllValues:StringEqualsIgnoreCase":{"aws:TagKeys":["owner"]}}`, mods(m("aws:TagKeys", l("OWNER", "Owner"))), true},
	{"forallvalues/encryption-context-keys-limit", `{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["AppName"]}}`, mods(ec(map[string]string{"AppName": "x", "Other": "y"})), false},
	{"forallvalues/encryption-context-keys-no-context-true", `{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["AppName"]}}`, nil, true},
	{"forallvalues/single-valued-key", `{"ForAllValues:StringEquals":{"kms:CallerAccount":["111122223333"]}}`, nil, true},
	{"foranyvalue/one-matches", `{"ForAnyValue:StringEquals":{"aws:TagKeys":["Owner"]}}`, mods(m("aws:TagKeys", l("Cost", "Owner"))), true},
	{"foranyvalue/none-matches", `{"ForAnyValue:StringEquals":{"aws:TagKeys":["Owner"]}}`, mods(m("aws:TagKeys", l("Cost"))), false},
	{"foranyvalue/missing-key-false", `{"ForAnyValue:StringEquals":{"aws:TagKeys":["Owner"]}}`, nil, false},
	{"foranyvalue/empty-set-false", `{"ForAnyValue:StringEquals":{"aws:TagKeys":["Owner"]}}`, mods(m("aws:TagKeys", l())), false},
	{"foranyvalue/not-equals-one-unlisted", `{"ForAnyValue:StringNotEquals":{"aws:TagKeys":["Owner"]}}`, mods(m("aws:TagKeys", l("Owner", "Cost"))), true},
	{"foranyvalue/not-equals-all-listed", `{"ForAnyValue:StringNotEquals":{"aws:TagKeys":["Owner","Cost"]}}`, mods(m("aws:TagKeys", l("Owner", "Cost"))), false},
	{"foranyvalue/not-like-missing-false", `{"ForAnyValue:StringNotLike":{"aws:TagKeys":["Owner:*"]}}`, nil, false},
	{"foranyvalue/if-exists-missing-false", `{"ForAnyValue:StringNotLikeIfExists":{"aws:TagKeys":["Owner:*"]}}`, nil, false},
	{"foranyvalue/encryption-context-keys", `{"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":"AppName"}}`, mods(ec(map[string]string{"AppName": "Helper", "Project": "Alpha"})), true},
	{"foranyvalue/encryption-context-keys-case-sensitive", `{"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":"AppName"}}`, mods(ec(map[string]string{"appname": "Helper"})), false},
	{"foranyvalue/encryption-context-keys-none", `{"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":"AppName"}}`, nil, false},
	{"foranyvalue/resource-aliases", `{"ForAnyValue:StringLike":{"kms:ResourceAliases":"alias/finance-*"}}`, mods(m("kms:ResourceAliases", l("alias/app", "alias/finance-key"))), true},
	{"foranyvalue/arn-like", `{"ForAnyValue:ArnLike":{"aws:SourceArns":"arn:aws:sns:*:111122223333:*"}}`, mods(m("aws:SourceArns", l("arn:aws:sns:us-east-1:444455556666:t", "arn:aws:sns:us-east-1:111122223333:t"))), true},
	{"multivalued/no-set-operator-any", `{"StringEquals":{"aws:TagKeys":"Owner"}}`, mods(m("aws:TagKeys", l("Cost", "Owner"))), true},
	{"multivalued/no-set-operator-negated", `{"StringNotEquals":{"aws:TagKeys":"Owner"}}`, mods(m("aws:TagKeys", l("Cost", "Owner"))), false},

	// Encryption context.
	{"ec/equals", `{"StringEquals":{"kms:EncryptionContext:AppName":"ExampleApp"}}`, mods(ec(map[string]string{"AppName": "ExampleApp"})), true},
	{"ec/key-case-insensitive", `{"StringEquals":{"kms:EncryptionContext:Appname":"ExampleApp"}}`, mods(ec(map[string]string{"AppName": "ExampleApp"})), true},
	{"ec/key-case-insensitive-request-side", `{"StringEquals":{"kms:EncryptionContext:AppName":"ExampleApp"}}`, mods(ec(map[string]string{"APPNAME": "ExampleApp"})), true},
	{"ec/value-case-sensitive", `{"StringEquals":{"kms:EncryptionContext:AppName":"ExampleApp"}}`, mods(ec(map[string]string{"AppName": "exampleapp"})), false},
	{"ec/value-ignore-case", `{"StringEqualsIgnoreCase":{"kms:EncryptionContext:AppName":"ExampleApp"}}`, mods(ec(map[string]string{"AppName": "exampleapp"})), true},
	{"ec/other-pairs-permitted", `{"StringEquals":{"kms:EncryptionContext:AppName":"ExampleApp"}}`, mods(ec(map[string]string{"AppName": "ExampleApp", "Stage": "Test"})), true},
	{"ec/missing-pair", `{"StringEquals":{"kms:EncryptionContext:AppName":"ExampleApp"}}`, mods(ec(map[string]string{"Stage": "Test"})), false},
	{"ec/no-context", `{"StringEquals":{"kms:EncryptionContext:AppName":"ExampleApp"}}`, nil, false},
	{"ec/two-pairs-anded", `{"StringEquals":{"kms:EncryptionContext:Department":"IT","kms:EncryptionContext:Project":"Alpha"}}`, mods(ec(map[string]string{"Department": "IT"})), false},
	{"ec/two-pairs-both", `{"StringEquals":{"kms:EncryptionContext:Department":"IT","kms:EncryptionContext:Project":"Alpha"}}`, mods(ec(map[string]string{"Department": "IT", "Project": "Alpha"})), true},
	{"ec/values-ored", `{"StringEquals":{"kms:EncryptionContext:Stage":["Restricted","Production"]}}`, mods(ec(map[string]string{"Stage": "Production"})), true},
	{"ec/keys-differing-in-case-either-matches", `{"StringEquals":{"kms:EncryptionContext:stage":"Restricted"}}`, mods(ec(map[string]string{"Stage": "Test", "stage": "Restricted"})), true},
	{"ec/with-username-variable", `{"StringEquals":{"kms:EncryptionContext:user":"${aws:username}"}}`, mods(ec(map[string]string{"user": "alice"})), true},
	{"ec/with-username-variable-other", `{"StringEquals":{"kms:EncryptionContext:user":"${aws:username}"}}`, mods(ec(map[string]string{"user": "bob"})), false},

	// Policy variables.
	{"var/username", `{"StringLike":{"kms:RequestAlias":"alias/${aws:username}-*"}}`, mods(m("kms:RequestAlias", s("alias/alice-key"))), true},
	{"var/username-other", `{"StringLike":{"kms:RequestAlias":"alias/${aws:username}-*"}}`, mods(m("kms:RequestAlias", s("alias/bob-key"))), false},
	{"var/userid", `{"StringEquals":{"kms:EncryptionContext:owner":"${aws:userid}"}}`, mods(ec(map[string]string{"owner": "AIDAEXAMPLEalice"})), true},
	{"var/principal-account", `{"StringEquals":{"aws:ResourceAccount":"${aws:PrincipalAccount}"}}`, nil, true},
	{"var/principal-account-cross", `{"StringEquals":{"aws:ResourceAccount":"${aws:PrincipalAccount}"}}`, mods(on(keyARN2, other)), false},
	{"var/principal-tag", `{"StringEquals":{"aws:ResourceTag/team":"${aws:PrincipalTag/team}"}}`, mods(m("aws:ResourceTag/team", s("blue")), func(r *policy.Request) { r.Principal.Tags = []policy.Tag{{Key: "team", Value: "blue"}} }), true},
	{"var/principal-tag-mismatch", `{"StringEquals":{"aws:ResourceTag/team":"${aws:PrincipalTag/team}"}}`, mods(m("aws:ResourceTag/team", s("red")), func(r *policy.Request) { r.Principal.Tags = []policy.Tag{{Key: "team", Value: "blue"}} }), false},
	{"var/missing-variable-fails", `{"StringEquals":{"kms:EncryptionContext:user":"${aws:username}"}}`, mods(as(session(acct, "R", "s")), ec(map[string]string{"user": ""})), false},
	{"var/missing-variable-negated-still-fails", `{"StringNotEquals":{"kms:EncryptionContext:user":"${aws:username}"}}`, mods(as(session(acct, "R", "s")), ec(map[string]string{"user": "x"})), false},
	{"var/default-value", `{"StringEquals":{"kms:EncryptionContext:user":"${aws:username, 'nobody'}"}}`, mods(as(session(acct, "R", "s")), ec(map[string]string{"user": "nobody"})), true},
	{"var/case-insensitive-name", `{"StringEquals":{"kms:EncryptionContext:user":"${AWS:UserName}"}}`, mods(ec(map[string]string{"user": "alice"})), true},
	{"var/value-with-wildcard-is-literal", `{"StringLike":{"kms:RequestAlias":"alias/${aws:PrincipalTag/p}"}}`, mods(m("kms:RequestAlias", s("alias/xyz")), func(r *policy.Request) { r.Principal.Tags = []policy.Tag{{Key: "p", Value: "*"}} }), false},
	{"var/arn-like", `{"ArnLike":{"aws:SourceArn":"arn:aws:sns:*:${aws:PrincipalAccount}:*"}}`, mods(m("aws:SourceArn", s("arn:aws:sns:us-east-1:111122223333:t"))), true},
}

func TestConditions(t *testing.T) {
	for _, c := range condCases {
		t.Run(c.name, func(t *testing.T) {
			doc := fmt.Sprintf(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":%s}}`, c.cond)
			p := mustParse(t, doc, policy.IdentityPolicy)
			d := policy.Evaluate(req(c.mods...), nil, p)
			if d.Allowed != c.want {
				t.Fatalf("Allowed = %v, want %v (%s)", d.Allowed, c.want, d.Reason)
			}
			// The same condition in a Deny statement denies exactly when
			// the Allow applied.
			deny := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"},{"Effect":"Deny","Action":"kms:*","Resource":"*","Condition":%s}]}`, c.cond)
			pd := mustParse(t, deny, policy.IdentityPolicy)
			dd := policy.Evaluate(req(c.mods...), nil, pd)
			if (dd.Effect == policy.ExplicitDeny) != c.want {
				t.Fatalf("deny form: Effect = %v, want explicit deny %v", dd.Effect, c.want)
			}
		})
	}
}

// Without Version 2012-10-17, variables are literal text
// (reference_policies_variables.md).
func TestVariablesNeedVersion2012(t *testing.T) {
	for _, v := range []string{``, `"Version":"2008-10-17",`} {
		doc := `{` + v + `"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:user":"${aws:username}"}}}}`
		p := mustParse(t, doc, policy.IdentityPolicy)
		if d := policy.Evaluate(req(ec(map[string]string{"user": "alice"})), nil, p); d.Allowed {
			t.Errorf("%q: variable substituted without Version 2012-10-17", v)
		}
		if d := policy.Evaluate(req(ec(map[string]string{"user": "${aws:username}"})), nil, p); !d.Allowed {
			t.Errorf("%q: literal ${aws:username} did not match", v)
		}
	}
}
