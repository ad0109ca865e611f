package policy_test

import (
	"strings"
	"testing"

	"github.com/trent-kms/trent/internal/policy"
)

const defaultKeyPolicy = `{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}`

func kp(stmts ...string) string {
	return `{"Version":"2012-10-17","Statement":[` + strings.Join(stmts, ",") + `]}`
}

const (
	allowAcctRoot   = `{"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}`
	allowAcctID     = `{"Sid":"AcctId","Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*"}`
	allowAlice      = `{"Sid":"Alice","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}`
	allowRoleR      = `{"Sid":"RoleR","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/R"},"Action":"kms:Encrypt","Resource":"*"}`
	allowSessionS1  = `{"Sid":"S1","Effect":"Allow","Principal":{"AWS":"arn:aws:sts::111122223333:assumed-role/R/s1"},"Action":"kms:Encrypt","Resource":"*"}`
	allowEveryone   = `{"Sid":"Everyone","Effect":"Allow","Principal":"*","Action":"kms:Encrypt","Resource":"*"}`
	allowOtherAcct  = `{"Sid":"Other","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"kms:Encrypt","Resource":"*"}`
	allowBob        = `{"Sid":"Bob","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:user/bob"},"Action":"kms:Encrypt","Resource":"*"}`
	denyAliceDec    = `{"Sid":"NoDecrypt","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:Decrypt","Resource":"*"}`
	denyAllEncrypt  = `{"Sid":"DenyEncrypt","Effect":"Deny","Principal":"*","Action":"kms:Encrypt","Resource":"*"}`
	denyAcctEncrypt = `{"Sid":"DenyAcct","Effect":"Deny","Principal":{"AWS":"111122223333"},"Action":"kms:Encrypt","Resource":"*"}`
	allowService    = `{"Sid":"Svc","Effect":"Allow","Principal":{"Service":"logs.amazonaws.com"},"Action":"kms:Encrypt","Resource":"*"}`

	idAllowAll      = `{"Version":"2012-10-17","Statement":{"Sid":"All","Effect":"Allow","Action":"kms:*","Resource":"*"}}`
	idAllowEncrypt  = `{"Version":"2012-10-17","Statement":{"Sid":"Enc","Effect":"Allow","Action":"kms:Encrypt","Resource":"arn:aws:kms:us-east-1:111122223333:key/*"}}`
	idAllowOtherKey = `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:*","Resource":"arn:aws:kms:us-east-1:111122223333:key/other"}}`
	idDenyEncrypt   = `{"Version":"2012-10-17","Statement":{"Sid":"IdDeny","Effect":"Deny","Action":"kms:Encrypt","Resource":"*"}}`
	idAllowCross    = `{"Version":"2012-10-17","Statement":{"Sid":"Cross","Effect":"Allow","Action":"kms:Encrypt","Resource":"arn:aws:kms:us-east-1:111122223333:key/*"}}`
	idAllowNotDec   = `{"Version":"2012-10-17","Statement":{"Sid":"NotDec","Effect":"Allow","NotAction":"kms:Decrypt","Resource":"*"}}`
	idAllowNotRes   = `{"Version":"2012-10-17","Statement":{"Sid":"NotRes","Effect":"Allow","Action":"kms:*","NotResource":"arn:aws:kms:us-east-1:111122223333:key/secret"}}`
)

type evalCase struct {
	name     string
	resource string // key or trust policy; "" for none
	kind     policy.Kind
	identity []string
	mods     []func(*policy.Request)
	effect   policy.Effect
	denial   policy.Denial
	sid      string
}

var evalCases = []evalCase{
	// The default key policy delegates to IAM.
	{"default/user-with-iam-allow", defaultKeyPolicy, 0, []string{idAllowAll}, nil, policy.Allow, 0, "All"},
	{"default/user-without-iam", defaultKeyPolicy, 0, nil, nil, policy.ImplicitDeny, policy.DenyNoIdentityAllow, ""},
	{"default/user-iam-other-action", defaultKeyPolicy, 0, []string{idAllowEncrypt}, mods(action("kms:Decrypt")), policy.ImplicitDeny, policy.DenyNoIdentityAllow, ""},
	{"default/user-iam-other-key", defaultKeyPolicy, 0, []string{idAllowOtherKey}, nil, policy.ImplicitDeny, policy.DenyNoIdentityAllow, ""},
	{"default/user-iam-key-wildcard", defaultKeyPolicy, 0, []string{idAllowEncrypt}, nil, policy.Allow, 0, "Enc"},
	{"default/root-needs-no-iam", defaultKeyPolicy, 0, nil, mods(as(root(acct))), policy.Allow, 0, "Enable IAM User Permissions"},
	{"default/role-session-with-iam", defaultKeyPolicy, 0, []string{idAllowAll}, mods(as(session(acct, "R", "s1"))), policy.Allow, 0, "All"},
	{"default/role-session-without-iam", defaultKeyPolicy, 0, nil, mods(as(session(acct, "R", "s1"))), policy.ImplicitDeny, policy.DenyNoIdentityAllow, ""},
	{"default/other-account-user", defaultKeyPolicy, 0, []string{idAllowAll}, mods(as(user(other, "bob"))), policy.ImplicitDeny, policy.DenyNoResourceAllow, ""},
	{"default/other-account-root", defaultKeyPolicy, 0, nil, mods(as(root(other))), policy.ImplicitDeny, policy.DenyNoResourceAllow, ""},
	{"default/service-principal", defaultKeyPolicy, 0, nil, mods(as(service("logs.amazonaws.com"))), policy.ImplicitDeny, policy.DenyNoResourceAllow, ""},
	{"default/account-id-form", kp(allowAcctID), 0, []string{idAllowAll}, nil, policy.Allow, 0, "All"},
	{"default/account-id-form-no-iam", kp(allowAcctID), 0, nil, nil, policy.ImplicitDeny, policy.DenyNoIdentityAllow, ""},
	{"default/identity-policies-are-ored", defaultKeyPolicy, 0, []string{idAllowOtherKey, idAllowEncrypt}, nil, policy.Allow, 0, "Enc"},
	{"default/iam-notaction", defaultKeyPolicy, 0, []string{idAllowNotDec}, nil, policy.Allow, 0, "NotDec"},
	{"default/iam-notaction-excluded", defaultKeyPolicy, 0, []string{idAllowNotDec}, mods(action("kms:Decrypt")), policy.ImplicitDeny, policy.DenyNoIdentityAllow, ""},
	{"default/iam-notresource", defaultKeyPolicy, 0, []string{idAllowNotRes}, nil, policy.Allow, 0, "NotRes"},
	{"default/iam-notresource-excluded", defaultKeyPolicy, 0, []string{idAllowNotRes}, mods(on("arn:aws:kms:us-east-1:111122223333:key/secret", acct)), policy.ImplicitDeny, policy.DenyNoIdentityAllow, ""},

	// Root is not exempt from the key policy.
	{"root/not-exempt", kp(allowAlice), 0, nil, mods(as(root(acct))), policy.ImplicitDeny, policy.DenyNoResourceAllow, ""},
	{"root/explicit-deny-applies", kp(allowAcctRoot, denyAllEncrypt), 0, nil, mods(as(root(acct))), policy.ExplicitDeny, policy.DenyExplicitResource, "DenyEncrypt"},

	// Direct grants need no IAM policy in the same account.
	{"direct/user", kp(allowAlice), 0, nil, nil, policy.Allow, 0, "Alice"},
	{"direct/user-other-action", kp(allowAlice), 0, []string{idAllowAll}, mods(action("kms:ScheduleKeyDeletion")), policy.ImplicitDeny, policy.DenyNoResourceAllow, ""},
	{"direct/other-user", kp(allowAlice), 0, []string{idAllowAll}, mods(as(user(acct, "carol"))), policy.ImplicitDeny, policy.DenyNoResourceAllow, ""},
	{"direct/role-matches-session", kp(allowRoleR), 0, nil, mods(as(session(acct, "R", "s1"))), policy.Allow, 0, "RoleR"},
	{"direct/role-other-role", kp(allowRoleR), 0, nil, mods(as(session(acct, "Q", "s1"))), policy.ImplicitDeny, policy.DenyNoResourceAllow, ""},
	{"direct/session-exact", kp(allowSessionS1), 0, nil, mods(as(session(acct, "R", "s1"))), policy.Allow, 0, "S1"},
	{"direct/session-other-session", kp(allowSessionS1), 0, nil, mods(as(session(acct, "R", "s2"))), policy.ImplicitDeny, policy.DenyNoResourceAllow, ""},
	{"direct/everyone", kp(allowEveryone), 0, nil, nil, policy.Allow, 0, "Everyone"},
	{"direct/everyone-root", kp(allowEveryone), 0, nil, mods(as(root(acct))), policy.Allow, 0, "Everyone"},
	{"direct/service", kp(allowService), 0, nil, mods(as(service("logs.amazonaws.com"))), policy.Allow, 0, "Svc"},
	{"direct/other-service", kp(allowService), 0, nil, mods(as(service("s3.amazonaws.com"))), policy.ImplicitDeny, policy.DenyNoResourceAllow, ""},
	{"direct/action-case-insensitive", kp(allowAlice), 0, nil, mods(action("KMS:encrypt")), policy.Allow, 0, "Alice"},
	{"direct/action-wildcard-prefix", kp(`{"Sid":"W","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:Generate*","Resource":"*"}`), 0, nil, mods(action("kms:GenerateDataKeyWithoutPlaintext")), policy.Allow, 0, "W"},
	{"direct/action-wildcard-question", kp(`{"Sid":"W","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:?ncrypt","Resource":"*"}`), 0, nil, nil, policy.Allow, 0, "W"},
	{"direct/action-other-service", kp(`{"Sid":"W","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"s3:*","Resource":"*"}`), 0, nil, nil, policy.ImplicitDeny, policy.DenyNoResourceAllow, ""},
	{"direct/resource-key-arn", kp(`{"Sid":"K","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:*","Resource":"` + keyARN + `"}`), 0, nil, nil, policy.Allow, 0, "K"},
	{"direct/resource-other-key", kp(`{"Sid":"K","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:*","Resource":"` + keyARN2 + `"}`), 0, nil, nil, policy.ImplicitDeny, policy.DenyNoResourceAllow, ""},
	{"direct/resource-case-sensitive", kp(`{"Sid":"K","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:*","Resource":"arn:aws:kms:us-east-1:111122223333:KEY/*"}`), 0, nil, nil, policy.ImplicitDeny, policy.DenyNoResourceAllow, ""},
	{"direct/condition-false", kp(`{"Sid":"C","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:app":"x"}}}`), 0, nil, nil, policy.ImplicitDeny, policy.DenyNoResourceAllow, ""},
	{"direct/condition-true", kp(`{"Sid":"C","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:app":"x"}}}`), 0, nil, mods(ec(map[string]string{"app": "x"})), policy.Allow, 0, "C"},
	{"direct/everyone-caller-account-condition", kp(`{"Sid":"EBS","Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"kms:CallerAccount":"111122223333","kms:ViaService":"ec2.us-west-2.amazonaws.com"}}}`), 0, nil, mods(m("kms:ViaService", s("ec2.us-west-2.amazonaws.com"))), policy.Allow, 0, "EBS"},
	{"direct/everyone-caller-account-direct-call", kp(`{"Sid":"EBS","Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"kms:CallerAccount":"111122223333","kms:ViaService":"ec2.us-west-2.amazonaws.com"}}}`), 0, nil, nil, policy.ImplicitDeny, policy.DenyNoResourceAllow, ""},

	// Explicit deny wins.
	{"deny/explicit-deny-beats-allow", kp(allowAlice, denyAliceDec), 0, nil, mods(action("kms:Decrypt")), policy.ExplicitDeny, policy.DenyExplicitResource, "NoDecrypt"},
	{"deny/deny-other-action-no-effect", kp(allowAlice, denyAliceDec), 0, nil, nil, policy.Allow, 0, "Alice"},
	{"deny/deny-beats-root-delegation", kp(allowAcctRoot, denyAllEncrypt), 0, []string{idAllowAll}, nil, policy.ExplicitDeny, policy.DenyExplicitResource, "DenyEncrypt"},
	{"deny/account-deny-covers-users", kp(allowAlice, denyAcctEncrypt), 0, nil, nil, policy.ExplicitDeny, policy.DenyExplicitResource, "DenyAcct"},
	{"deny/account-deny-covers-sessions", kp(allowRoleR, denyAcctEncrypt), 0, nil, mods(as(session(acct, "R", "s1"))), policy.ExplicitDeny, policy.DenyExplicitResource, "DenyAcct"},
	{"deny/identity-deny-beats-key-policy-allow", kp(allowAlice), 0, []string{idDenyEncrypt}, nil, policy.ExplicitDeny, policy.DenyExplicitIdentity, "IdDeny"},
	{"deny/identity-deny-beats-identity-allow", defaultKeyPolicy, 0, []string{idAllowAll, idDenyEncrypt}, nil, policy.ExplicitDeny, policy.DenyExplicitIdentity, "IdDeny"},
	{"deny/identity-deny-applies-to-root-delegation", defaultKeyPolicy, 0, []string{idDenyEncrypt}, mods(as(root(acct))), policy.ExplicitDeny, policy.DenyExplicitIdentity, "IdDeny"},
	{"deny/resource-deny-reported-first", kp(allowAlice, denyAllEncrypt), 0, []string{idDenyEncrypt}, nil, policy.ExplicitDeny, policy.DenyExplicitResource, "DenyEncrypt"},
	{"deny/deny-condition-false-no-effect", kp(allowAlice, `{"Sid":"D","Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}`), 0, nil, nil, policy.Allow, 0, "Alice"},
	{"deny/deny-condition-true", kp(allowAlice, `{"Sid":"D","Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}`), 0, nil, mods(func(r *policy.Request) { r.SecureTransport = false }), policy.ExplicitDeny, policy.DenyExplicitResource, "D"},
	{"deny/not-equals-algorithm", kp(allowAlice, `{"Sid":"Alg","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:Encrypt","Resource":"*","Condition":{"StringNotEquals":{"kms:EncryptionAlgorithm":"SYMMETRIC_DEFAULT"}}}`), 0, nil, mods(m("kms:EncryptionAlgorithm", s("RSAES_OAEP_SHA_256"))), policy.ExplicitDeny, policy.DenyExplicitResource, "Alg"},

	// NotPrincipal.
	{"notprincipal/deny-everyone-but-alice-excludes-alice", kp(allowEveryone, `{"Sid":"NP","Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::111122223333:user/alice","arn:aws:iam::111122223333:root"]},"Action":"kms:*","Resource":"*"}`), 0, nil, nil, policy.Allow, 0, "Everyone"},
	{"notprincipal/deny-everyone-but-alice-denies-carol", kp(allowEveryone, `{"Sid":"NP","Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::111122223333:user/alice","arn:aws:iam::111122223333:root"]},"Action":"kms:*","Resource":"*"}`), 0, nil, mods(as(user(acct, "carol"))), policy.ExplicitDeny, policy.DenyExplicitResource, "NP"},
	{"notprincipal/user-without-account-still-denied", kp(allowEveryone, `{"Sid":"NP","Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:*","Resource":"*"}`), 0, nil, nil, policy.ExplicitDeny, policy.DenyExplicitResource, "NP"},
	{"notprincipal/session-needs-role-and-account", kp(allowEveryone, `{"Sid":"NP","Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:sts::111122223333:assumed-role/R/s1","arn:aws:iam::111122223333:role/R","111122223333"]},"Action":"kms:*","Resource":"*"}`), 0, nil, mods(as(session(acct, "R", "s1"))), policy.Allow, 0, "Everyone"},
	{"notprincipal/session-without-role-denied", kp(allowEveryone, `{"Sid":"NP","Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:sts::111122223333:assumed-role/R/s1","111122223333"]},"Action":"kms:*","Resource":"*"}`), 0, nil, mods(as(session(acct, "R", "s1"))), policy.ExplicitDeny, policy.DenyExplicitResource, "NP"},
	{"notprincipal/allow-applies-to-others", kp(`{"Sid":"NA","Effect":"Allow","NotPrincipal":{"AWS":["arn:aws:iam::111122223333:user/alice","111122223333"]},"Action":"kms:Encrypt","Resource":"*"}`), 0, nil, mods(as(user(acct, "carol"))), policy.Allow, 0, "NA"},

	// Cross-account needs both sides.
	{"cross/key-allows-account-and-iam-allows", kp(allowAcctRoot, allowOtherAcct), 0, []string{idAllowCross}, mods(as(user(other, "bob"))), policy.Allow, 0, "Cross"},
	{"cross/key-allows-account-no-iam", kp(allowAcctRoot, allowOtherAcct), 0, nil, mods(as(user(other, "bob"))), policy.ImplicitDeny, policy.DenyNoIdentityAllow, ""},
	{"cross/key-names-user-still-needs-iam", kp(allowAcctRoot, allowBob), 0, nil, mods(as(user(other, "bob"))), policy.ImplicitDeny, policy.DenyNoIdentityAllow, ""},
	{"cross/key-names-user-and-iam", kp(allowAcctRoot, allowBob), 0, []string{idAllowCross}, mods(as(user(other, "bob"))), policy.Allow, 0, "Cross"},
	{"cross/iam-alone-is-not-enough", defaultKeyPolicy, 0, []string{idAllowCross}, mods(as(user(other, "bob"))), policy.ImplicitDeny, policy.DenyNoResourceAllow, ""},
	{"cross/other-root-with-key-allow", kp(allowOtherAcct), 0, nil, mods(as(root(other))), policy.Allow, 0, "Other"},
	{"cross/everyone-still-needs-iam", kp(allowEveryone), 0, nil, mods(as(user(other, "bob"))), policy.ImplicitDeny, policy.DenyNoIdentityAllow, ""},
	{"cross/everyone-and-iam", kp(allowEveryone), 0, []string{idAllowCross}, mods(as(user(other, "bob"))), policy.Allow, 0, "Cross"},
	{"cross/other-account-session", kp(allowOtherAcct), 0, []string{idAllowCross}, mods(as(session(other, "App", "x"))), policy.Allow, 0, "Cross"},

	// Identity-only actions (no resource policy).
	{"identity/create-key-allowed", "", 0, []string{idAllowAll}, mods(action("kms:CreateKey"), on("*", acct)), policy.Allow, 0, "All"},
	{"identity/create-key-no-policy", "", 0, nil, mods(action("kms:CreateKey"), on("*", acct)), policy.ImplicitDeny, policy.DenyNoIdentityAllow, ""},
	{"identity/create-key-key-arn-resource-does-not-match-star", "", 0, []string{idAllowEncrypt}, mods(action("kms:CreateKey"), on("*", acct)), policy.ImplicitDeny, policy.DenyNoIdentityAllow, ""},
	{"identity/list-keys-root", "", 0, nil, mods(as(root(acct)), action("kms:ListKeys"), on("*", acct)), policy.Allow, 0, ""},
	{"identity/deny", "", 0, []string{idAllowAll, `{"Version":"2012-10-17","Statement":{"Sid":"NoCreate","Effect":"Deny","Action":"kms:Create*","Resource":"*"}}`}, mods(action("kms:CreateKey"), on("*", acct)), policy.ExplicitDeny, policy.DenyExplicitIdentity, "NoCreate"},
	{"identity/variable-in-resource", "", 0, []string{`{"Version":"2012-10-17","Statement":{"Sid":"Own","Effect":"Allow","Action":"iam:*AccessKey*","Resource":"arn:aws:iam::111122223333:user/${aws:username}"}}`}, mods(action("iam:CreateAccessKey"), on("arn:aws:iam::111122223333:user/alice", acct)), policy.Allow, 0, "Own"},
	{"identity/variable-in-resource-other-user", "", 0, []string{`{"Version":"2012-10-17","Statement":{"Sid":"Own","Effect":"Allow","Action":"iam:*AccessKey*","Resource":"arn:aws:iam::111122223333:user/${aws:username}"}}`}, mods(action("iam:CreateAccessKey"), on("arn:aws:iam::111122223333:user/bob", acct)), policy.ImplicitDeny, policy.DenyNoIdentityAllow, ""},
	{"identity/variable-unresolved-resource", "", 0, []string{`{"Version":"2012-10-17","Statement":{"Sid":"Own","Effect":"Allow","Action":"iam:*","Resource":"arn:aws:iam::111122223333:user/${aws:username}"}}`}, mods(as(session(acct, "R", "s")), action("iam:GetUser"), on("arn:aws:iam::111122223333:user/R", acct)), policy.ImplicitDeny, policy.DenyNoIdentityAllow, ""},
	{"identity/variable-literal-without-version", "", 0, []string{`{"Statement":{"Sid":"Own","Effect":"Allow","Action":"iam:*","Resource":"arn:aws:iam::111122223333:user/${aws:username}"}}`}, mods(action("iam:GetUser"), on("arn:aws:iam::111122223333:user/alice", acct)), policy.ImplicitDeny, policy.DenyNoIdentityAllow, ""},
	{"identity/resource-region-wildcard", "", 0, []string{`{"Version":"2012-10-17","Statement":{"Sid":"R","Effect":"Allow","Action":"kms:*","Resource":"arn:aws:kms:*:111122223333:key/*"}}`}, nil, policy.Allow, 0, "R"},
	{"identity/resource-other-resource-type", "", 0, []string{`{"Version":"2012-10-17","Statement":{"Sid":"R","Effect":"Allow","Action":"kms:*","Resource":"arn:aws:kms:*:111122223333:alias/*"}}`}, nil, policy.ImplicitDeny, policy.DenyNoIdentityAllow, ""},

	// Trust policies.
	{"trust/service", `{"Version":"2012-10-17","Statement":{"Sid":"Svc","Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}}`, policy.TrustPolicy, nil, mods(as(service("ec2.amazonaws.com")), action("sts:AssumeRole"), on("arn:aws:iam::111122223333:role/R", acct)), policy.Allow, 0, "Svc"},
	{"trust/account-delegates-to-iam", `{"Version":"2012-10-17","Statement":{"Sid":"Acct","Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRole"}}`, policy.TrustPolicy, nil, mods(action("sts:AssumeRole"), on("arn:aws:iam::111122223333:role/R", acct)), policy.ImplicitDeny, policy.DenyNoIdentityAllow, ""},
	{"trust/account-and-iam", `{"Version":"2012-10-17","Statement":{"Sid":"Acct","Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRole"}}`, policy.TrustPolicy, []string{`{"Version":"2012-10-17","Statement":{"Sid":"Assume","Effect":"Allow","Action":"sts:AssumeRole","Resource":"arn:aws:iam::111122223333:role/R"}}`}, mods(action("sts:AssumeRole"), on("arn:aws:iam::111122223333:role/R", acct)), policy.Allow, 0, "Assume"},
	{"trust/user-named-directly", `{"Version":"2012-10-17","Statement":{"Sid":"Alice","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"sts:AssumeRole"}}`, policy.TrustPolicy, nil, mods(action("sts:AssumeRole"), on("arn:aws:iam::111122223333:role/R", acct)), policy.Allow, 0, "Alice"},
	{"trust/cross-account-needs-iam", `{"Version":"2012-10-17","Statement":{"Sid":"Other","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"sts:AssumeRole"}}`, policy.TrustPolicy, nil, mods(as(user(other, "bob")), action("sts:AssumeRole"), on("arn:aws:iam::111122223333:role/R", acct)), policy.ImplicitDeny, policy.DenyNoIdentityAllow, ""},
	{"trust/wrong-action", `{"Version":"2012-10-17","Statement":{"Sid":"Alice","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"sts:AssumeRole"}}`, policy.TrustPolicy, nil, mods(action("sts:TagSession"), on("arn:aws:iam::111122223333:role/R", acct)), policy.ImplicitDeny, policy.DenyNoResourceAllow, ""},
	{"trust/web-identity", `{"Version":"2012-10-17","Statement":{"Sid":"OIDC","Effect":"Allow","Principal":{"Federated":"arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"token.actions.githubusercontent.com:aud":"sts.amazonaws.com"}}}}`, policy.TrustPolicy, nil, mods(as(webIdentity("arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com")), action("sts:AssumeRoleWithWebIdentity"), on("arn:aws:iam::111122223333:role/R", acct), m("token.actions.githubusercontent.com:aud", s("sts.amazonaws.com"))), policy.Allow, 0, "OIDC"},
	{"trust/web-identity-wrong-audience", `{"Version":"2012-10-17","Statement":{"Sid":"OIDC","Effect":"Allow","Principal":{"Federated":"arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"token.actions.githubusercontent.com:aud":"sts.amazonaws.com"}}}}`, policy.TrustPolicy, nil, mods(as(webIdentity("arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com")), action("sts:AssumeRoleWithWebIdentity"), on("arn:aws:iam::111122223333:role/R", acct), m("token.actions.githubusercontent.com:aud", s("other"))), policy.ImplicitDeny, policy.DenyNoResourceAllow, ""},
	{"trust/web-identity-other-provider", `{"Version":"2012-10-17","Statement":{"Sid":"G","Effect":"Allow","Principal":{"Federated":"accounts.google.com"},"Action":"sts:AssumeRoleWithWebIdentity"}}`, policy.TrustPolicy, nil, mods(as(webIdentity("cognito-identity.amazonaws.com")), action("sts:AssumeRoleWithWebIdentity"), on("arn:aws:iam::111122223333:role/R", acct)), policy.ImplicitDeny, policy.DenyNoResourceAllow, ""},
	{"trust/role-chaining", `{"Version":"2012-10-17","Statement":{"Sid":"Chain","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/Base"},"Action":"sts:AssumeRole"}}`, policy.TrustPolicy, nil, mods(as(session(acct, "Base", "s")), action("sts:AssumeRole"), on("arn:aws:iam::111122223333:role/R", acct)), policy.Allow, 0, "Chain"},
}

func TestEvaluate(t *testing.T) {
	for _, c := range evalCases {
		t.Run(c.name, func(t *testing.T) {
			var res *policy.Policy
			if c.resource != "" {
				k := c.kind
				if k == 0 {
					k = policy.KeyPolicy
				}
				res = mustParse(t, c.resource, k)
			}
			var ids []*policy.Policy
			for _, d := range c.identity {
				ids = append(ids, mustParse(t, d, policy.IdentityPolicy))
			}
			d := policy.Evaluate(req(c.mods...), res, ids...)
			if d.Effect != c.effect || d.Denial != c.denial || d.Sid != c.sid || d.Allowed != (c.effect == policy.Allow) {
				t.Fatalf("got %+v\nwant effect %v denial %v sid %q", d, c.effect, c.denial, c.sid)
			}
			if d.Reason == "" {
				t.Fatal("empty reason")
			}
		})
	}
}

func TestMessages(t *testing.T) {
	caller := "arn:aws:iam::111122223333:user/alice"
	cases := []struct {
		denial policy.Denial
		res    string
		want   string
	}{
		{policy.DenyNoIdentityAllow, keyARN, "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: kms:Encrypt on resource: " + keyARN + " because no identity-based policy allows the kms:Encrypt action"},
		{policy.DenyNoResourceAllow, keyARN, "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: kms:Encrypt on resource: " + keyARN + " because no resource-based policy allows the kms:Encrypt action"},
		{policy.DenyExplicitResource, keyARN, "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: kms:Encrypt on resource: " + keyARN + " with an explicit deny in a resource-based policy"},
		{policy.DenyExplicitIdentity, keyARN, "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: kms:Encrypt on resource: " + keyARN + " with an explicit deny in an identity-based policy"},
		{policy.DenyNoIdentityAllow, "", "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: kms:Encrypt on the resource associated with this ciphertext because no identity-based policy allows the kms:Encrypt action"},
		{policy.NotDenied, keyARN, ""},
	}
	for _, c := range cases {
		if got := (policy.Decision{Denial: c.denial}).Message(caller, "kms:Encrypt", c.res); got != c.want {
			t.Errorf("Message(%v) = %q, want %q", c.denial, got, c.want)
		}
	}
}

func TestCheckLockout(t *testing.T) {
	r := *req(as(user(acct, "admin")))
	ok := mustParse(t, defaultKeyPolicy, policy.KeyPolicy)
	adminIAM := mustParse(t, idAllowAll, policy.IdentityPolicy)
	if err := policy.CheckLockout(ok, r, adminIAM); err != nil {
		t.Errorf("default policy with admin IAM: %v", err)
	}
	// The default policy without an IAM allow locks the caller out
	// (aws-samples/rds-snapshot-export-to-s3-pipeline#8).
	err := policy.CheckLockout(ok, r)
	var pe *policy.Error
	if !errAs(err, &pe) || pe.Message != policy.MsgLockout {
		t.Errorf("without IAM: %v, want lockout", err)
	}
	onlyAlice := mustParse(t, kp(allowAlice), policy.KeyPolicy)
	if err := policy.CheckLockout(onlyAlice, r, adminIAM); err == nil {
		t.Error("policy not naming the caller or account passed the lockout check")
	}
	if err := policy.CheckLockout(ok, *req(as(root(acct)))); err != nil {
		t.Errorf("root with default policy: %v", err)
	}
}

func TestPrincipalARNs(t *testing.T) {
	p := mustParse(t, kp(allowAlice, allowAcctRoot, allowEveryone, allowAlice), policy.KeyPolicy)
	got := strings.Join(p.PrincipalARNs(), ",")
	if got != "arn:aws:iam::111122223333:user/alice,arn:aws:iam::111122223333:root" {
		t.Errorf("PrincipalARNs = %s", got)
	}
}
