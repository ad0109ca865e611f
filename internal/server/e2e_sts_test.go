package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
)

const acct = "111122223333"

// trustDoc returns a trust policy allowing actions to a principal element.
func trustDoc(principal, actions string, condition string) string {
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":` + principal + `,"Action":` + actions
	if condition != "" {
		doc += `,"Condition":` + condition
	}
	return doc + `}]}`
}

func allowDoc(actions, resource string) string {
	return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":` + actions + `,"Resource":"` + resource + `"}]}`
}

// newRole creates a role with a trust policy and, if policy is not empty,
// an inline policy.
func newRole(t *testing.T, n *node, name, trust, policy string, maxSession int32) {
	t.Helper()
	ctx := context.Background()
	in := &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(trust)}
	if maxSession > 0 {
		in.MaxSessionDuration = aws.Int32(maxSession)
	}
	_, err := n.iamRoot().CreateRole(ctx, in)
	mustNil(t, "CreateRole "+name, err)
	if policy != "" {
		_, err = n.iamRoot().PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String("p"), PolicyDocument: aws.String(policy)})
		mustNil(t, "PutRolePolicy "+name, err)
	}
}

// newUser creates a user with an access key and returns the key.
func newUser(t *testing.T, n *node, name, policy string) (string, string) {
	t.Helper()
	ctx := context.Background()
	c := n.iamRoot()
	_, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(name)})
	mustNil(t, "CreateUser", err)
	if policy != "" {
		_, err = c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(name), PolicyName: aws.String("p"), PolicyDocument: aws.String(policy)})
		mustNil(t, "PutUserPolicy", err)
	}
	k, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(name)})
	mustNil(t, "CreateAccessKey", err)
	return aws.ToString(k.AccessKey.AccessKeyId), aws.ToString(k.AccessKey.SecretAccessKey)
}

// session holds session credentials.
type session struct{ akid, secret, token string }

func sessionOf(c *ststypes.Credentials) session {
	return session{aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken)}
}

func (n *node) kmsSession(s session) *kms.Client {
	return kms.New(kms.Options{Region: "us-east-1", BaseEndpoint: aws.String(n.srv.URL()),
		Credentials: credentials.NewStaticCredentialsProvider(s.akid, s.secret, s.token), HTTPClient: &http.Client{Timeout: 30 * time.Second}})
}

func (n *node) stsSession(s session) *sts.Client {
	return sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(n.srv.URL()),
		Credentials: credentials.NewStaticCredentialsProvider(s.akid, s.secret, s.token), HTTPClient: &http.Client{Timeout: 30 * time.Second}})
}

// TestAssumeRoleChain: a user assumes a role whose trust policy delegates
// to the account (so the user's identity policy must allow it), calls KMS
// as the session (allowed and denied by the role's policy, the denial
// naming the assumed-role ARN), and the session assumes a second role
// (role chaining, limited to one hour).
func TestAssumeRoleChain(t *testing.T) {
	ctx := context.Background()
	n, clk := startNodeWithClock(t)
	key := newKey(t, n.client("us-east-1"))
	keyARN := aws.ToString(key.Arn)
	rootTrust := trustDoc(`{"AWS":"arn:aws:iam::`+acct+`:root"}`, `"sts:AssumeRole"`, "")
	newRole(t, n, "app", rootTrust, `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"},
		{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"arn:aws:iam::`+acct+`:role/auditor"}]}`, 0)
	newRole(t, n, "auditor", trustDoc(`{"AWS":"arn:aws:iam::`+acct+`:role/app"}`, `"sts:AssumeRole"`, ""),
		allowDoc(`"kms:DescribeKey"`, "*"), 43200)
	akid, secret := newUser(t, n, "alice", "")
	alice := n.stsWith("us-east-1", akid, secret)

	// The trust policy names the account: the user needs an identity policy.
	_, err := alice.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + acct + ":role/app"), RoleSessionName: aws.String("s1")})
	wantAPIError(t, err, "AccessDenied", "User: arn:aws:iam::"+acct+":user/alice is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::"+acct+":role/app")
	wantStatus(t, err, 403)
	// A role that does not exist is answered the same way.
	_, err = alice.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + acct + ":role/nope"), RoleSessionName: aws.String("s1")})
	wantAPIError(t, err, "AccessDenied", "User: arn:aws:iam::"+acct+":user/alice is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::"+acct+":role/nope")

	_, err = n.iamRoot().PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("assume"),
		PolicyDocument: aws.String(allowDoc(`"sts:AssumeRole"`, "arn:aws:iam::"+acct+":role/app"))})
	mustNil(t, "PutUserPolicy", err)
	out, err := alice.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + acct + ":role/app"), RoleSessionName: aws.String("s1")})
	mustNil(t, "AssumeRole", err)
	s := sessionOf(out.Credentials)
	if !strings.HasPrefix(s.akid, "ASIA") || len(s.akid) != 20 || len(s.secret) != 40 || s.token == "" {
		t.Fatalf("credentials = %s, secret of %d, token of %d", s.akid, len(s.secret), len(s.token))
	}
	if want := clk.Now().Add(time.Hour).Truncate(time.Second); !out.Credentials.Expiration.Equal(want) {
		t.Fatalf("Expiration = %v, want %v (the default hour)", out.Credentials.Expiration, want)
	}
	sessARN := "arn:aws:sts::" + acct + ":assumed-role/app/s1"
	if aws.ToString(out.AssumedRoleUser.Arn) != sessARN || !strings.HasPrefix(aws.ToString(out.AssumedRoleUser.AssumedRoleId), "AROA") ||
		!strings.HasSuffix(aws.ToString(out.AssumedRoleUser.AssumedRoleId), ":s1") {
		t.Fatalf("AssumedRoleUser = %s %s", aws.ToString(out.AssumedRoleUser.Arn), aws.ToString(out.AssumedRoleUser.AssumedRoleId))
	}
	id, err := n.stsSession(s).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	mustNil(t, "GetCallerIdentity", err)
	if aws.ToString(id.Arn) != sessARN || aws.ToString(id.UserId) != aws.ToString(out.AssumedRoleUser.AssumedRoleId) || aws.ToString(id.Account) != acct {
		t.Fatalf("GetCallerIdentity = %s %s %s", aws.ToString(id.Arn), aws.ToString(id.UserId), aws.ToString(id.Account))
	}

	// KMS as the session: the default key policy delegates to IAM, the
	// role's policy allows Encrypt and Decrypt, nothing else.
	k := n.kmsSession(s)
	enc, err := k.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyId, Plaintext: []byte("hello")})
	mustNil(t, "Encrypt as session", err)
	dec, err := k.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	mustNil(t, "Decrypt as session", err)
	if string(dec.Plaintext) != "hello" {
		t.Fatalf("Decrypt = %q", dec.Plaintext)
	}
	_, err = k.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: key.KeyId, NumberOfBytes: aws.Int32(32)})
	wantAPIError(t, err, "AccessDeniedException", "User: "+sessARN+" is not authorized to perform: kms:GenerateDataKey on resource: "+keyARN+
		" because no identity-based policy allows the kms:GenerateDataKey action")

	// Role chaining: the session assumes auditor, whose trust policy
	// names the role app (so its sessions), for at most an hour.
	chain := n.stsSession(s)
	_, err = chain.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + acct + ":role/auditor"),
		RoleSessionName: aws.String("s2"), DurationSeconds: aws.Int32(3601)})
	wantAPIError(t, err, "ValidationError", "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.")
	wantStatus(t, err, 400)
	out2, err := chain.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + acct + ":role/auditor"), RoleSessionName: aws.String("s2")})
	mustNil(t, "AssumeRole (chained)", err)
	s2 := sessionOf(out2.Credentials)
	id2, err := n.stsSession(s2).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	mustNil(t, "GetCallerIdentity (chained)", err)
	if aws.ToString(id2.Arn) != "arn:aws:sts::"+acct+":assumed-role/auditor/s2" {
		t.Fatalf("chained ARN = %s", aws.ToString(id2.Arn))
	}
	if _, err := n.kmsSession(s2).DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: key.KeyId}); err != nil {
		t.Fatalf("DescribeKey as chained session: %v", err)
	}
	_, err = n.kmsSession(s2).Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyId, Plaintext: []byte("x")})
	wantAPIError(t, err, "AccessDeniedException", "*")
	// Without chaining, the role's 12 hours are available.
	_, err = n.iamRoot().PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("assume"),
		PolicyDocument: aws.String(allowDoc(`"sts:AssumeRole"`, "*"))})
	mustNil(t, "PutUserPolicy", err)
	_, err = n.iamRoot().UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("auditor"), PolicyDocument: aws.String(rootTrust)})
	mustNil(t, "UpdateAssumeRolePolicy", err)
	out3, err := alice.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + acct + ":role/auditor"),
		RoleSessionName: aws.String("long"), DurationSeconds: aws.Int32(43200)})
	mustNil(t, "AssumeRole 12h", err)
	if want := clk.Now().Add(12 * time.Hour).Truncate(time.Second); !out3.Credentials.Expiration.Equal(want) {
		t.Fatalf("Expiration = %v, want %v", out3.Credentials.Expiration, want)
	}
}

// TestAssumeRoleTrustDirectUser: a trust policy naming the user itself
// needs no identity policy (same account), as a key policy naming a user.
func TestAssumeRoleTrustDirectUser(t *testing.T) {
	ctx := context.Background()
	n := startNode(t)
	akid, secret := newUser(t, n, "bob", "")
	newRole(t, n, "direct", trustDoc(`{"AWS":"arn:aws:iam::`+acct+`:user/bob"}`, `"sts:AssumeRole"`, ""), "", 0)
	_, err := n.stsWith("us-east-1", akid, secret).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + acct + ":role/direct"), RoleSessionName: aws.String("bb")})
	mustNil(t, "AssumeRole", err)
	// An explicit Deny in the user's identity policy wins.
	_, err = n.iamRoot().PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("bob"), PolicyName: aws.String("deny"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"sts:*","Resource":"*"}]}`)})
	mustNil(t, "PutUserPolicy", err)
	_, err = n.stsWith("us-east-1", akid, secret).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + acct + ":role/direct"), RoleSessionName: aws.String("bb")})
	wantAPIError(t, err, "AccessDenied", "*")
	// The root user may not assume roles.
	_, err = n.stsWith("us-east-1", testAccessKeyID, testSecret).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + acct + ":role/direct"), RoleSessionName: aws.String("rr")})
	wantAPIError(t, err, "AccessDenied", "Roles may not be assumed by root accounts.")
}

// TestAssumeRoleExternalIdAndDuration: sts:ExternalId in the trust
// policy's condition, and DurationSeconds from 900 to the role's maximum.
func TestAssumeRoleExternalIdAndDuration(t *testing.T) {
	ctx := context.Background()
	n := startNode(t)
	akid, secret := newUser(t, n, "carol", allowDoc(`"sts:AssumeRole"`, "*"))
	newRole(t, n, "vendor", trustDoc(`{"AWS":"`+acct+`"}`, `"sts:AssumeRole"`, `{"StringEquals":{"sts:ExternalId":"Unique-123"}}`), "", 0)
	c := n.stsWith("us-east-1", akid, secret)
	roleARN := aws.String("arn:aws:iam::" + acct + ":role/vendor")
	denied := "User: arn:aws:iam::" + acct + ":user/carol is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::" + acct + ":role/vendor"
	_, err := c.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: roleARN, RoleSessionName: aws.String("vv")})
	wantAPIError(t, err, "AccessDenied", denied)
	_, err = c.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: roleARN, RoleSessionName: aws.String("vv"), ExternalId: aws.String("unique-123")})
	wantAPIError(t, err, "AccessDenied", denied)
	_, err = c.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: roleARN, RoleSessionName: aws.String("vv"), ExternalId: aws.String("Unique-123")})
	mustNil(t, "AssumeRole with the ExternalId", err)

	_, err = c.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: roleARN, RoleSessionName: aws.String("vv"), ExternalId: aws.String("Unique-123"), DurationSeconds: aws.Int32(899)})
	wantAPIError(t, err, "ValidationError", "1 validation error detected: Value '899' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900")
	_, err = c.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: roleARN, RoleSessionName: aws.String("vv"), ExternalId: aws.String("Unique-123"), DurationSeconds: aws.Int32(3601)})
	wantAPIError(t, err, "ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
	wantStatus(t, err, 400)
	for _, d := range []int32{900, 3600} {
		_, err = c.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: roleARN, RoleSessionName: aws.String("vv"), ExternalId: aws.String("Unique-123"), DurationSeconds: aws.Int32(d)})
		mustNil(t, "AssumeRole", err)
	}
	// Session policies are refused rather than ignored.
	_, err = c.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: roleARN, RoleSessionName: aws.String("vv"), ExternalId: aws.String("Unique-123"),
		Policy: aws.String(allowDoc(`"kms:*"`, "*"))})
	wantAPIError(t, err, "InvalidParameterValue", "*")
}

// TestSessionTagsABAC: session tags become aws:PrincipalTag of the
// session, overriding the role's tag of the same key, in a key policy's
// ABAC condition; passing them needs sts:TagSession.
func TestSessionTagsABAC(t *testing.T) {
	ctx := context.Background()
	n := startNode(t)
	root := n.client("us-east-1")
	roleARN := "arn:aws:iam::" + acct + ":role/worker"
	keyPolicy := `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:root"},"Action":"kms:*","Resource":"*"},
		{"Effect":"Allow","Principal":{"AWS":"` + roleARN + `"},"Action":"kms:Encrypt","Resource":"*",
		 "Condition":{"StringEquals":{"aws:PrincipalTag/team":"red"}}}]}`
	akid, secret := newUser(t, n, "dave", allowDoc(`["sts:AssumeRole","sts:TagSession"]`, "*"))
	newRole(t, n, "worker", trustDoc(`{"AWS":"`+acct+`"}`, `"sts:AssumeRole"`, ""), "", 0)
	_, err := n.iamRoot().TagRole(ctx, &iam.TagRoleInput{RoleName: aws.String("worker"), Tags: []iamtypes.Tag{{Key: aws.String("team"), Value: aws.String("blue")}}})
	mustNil(t, "TagRole", err)
	out, err := root.CreateKey(ctx, &kms.CreateKeyInput{Policy: aws.String(keyPolicy)})
	mustNil(t, "CreateKey", err)
	keyID := out.KeyMetadata.KeyId
	c := n.stsWith("us-east-1", akid, secret)
	red := []ststypes.Tag{{Key: aws.String("Team"), Value: aws.String("red")}}

	// The trust policy does not allow sts:TagSession yet.
	_, err = c.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("tt"), Tags: red})
	wantAPIError(t, err, "AccessDenied", "User: arn:aws:iam::"+acct+":user/dave is not authorized to perform: sts:TagSession on resource: "+roleARN)
	_, err = n.iamRoot().UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("worker"),
		PolicyDocument: aws.String(trustDoc(`{"AWS":"`+acct+`"}`, `["sts:AssumeRole","sts:TagSession"]`, ""))})
	mustNil(t, "UpdateAssumeRolePolicy", err)

	tagged, err := c.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("tt"), Tags: red})
	mustNil(t, "AssumeRole with tags", err)
	_, err = n.kmsSession(sessionOf(tagged.Credentials)).Encrypt(ctx, &kms.EncryptInput{KeyId: keyID, Plaintext: []byte("x")})
	mustNil(t, "Encrypt as the red session", err)

	plain, err := c.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("uu")})
	mustNil(t, "AssumeRole", err)
	_, err = n.kmsSession(sessionOf(plain.Credentials)).Encrypt(ctx, &kms.EncryptInput{KeyId: keyID, Plaintext: []byte("x")})
	wantAPIError(t, err, "AccessDeniedException", "User: arn:aws:sts::"+acct+":assumed-role/worker/uu is not authorized to perform: kms:Encrypt on resource: "+
		arnOf("us-east-1", aws.ToString(keyID))+" because no identity-based policy allows the kms:Encrypt action")

	_, err = c.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("tt"),
		Tags: []ststypes.Tag{{Key: aws.String("a"), Value: aws.String("1")}, {Key: aws.String("A"), Value: aws.String("2")}}})
	wantAPIError(t, err, "InvalidParameterValue", "Duplicate tag keys found. Please note that Tag keys are case insensitive.")
}

// TestSessionStopsWithItsRole: deleting the role refuses its sessions at
// once on this node, for STS and KMS; a role of the same name created
// again does not revive them.
func TestSessionStopsWithItsRole(t *testing.T) {
	ctx := context.Background()
	n := startNode(t)
	akid, secret := newUser(t, n, "erin", allowDoc(`"sts:AssumeRole"`, "*"))
	trust := trustDoc(`{"AWS":"`+acct+`"}`, `"sts:AssumeRole"`, "")
	newRole(t, n, "temp", trust, "", 0)
	out, err := n.stsWith("us-east-1", akid, secret).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + acct + ":role/temp"), RoleSessionName: aws.String("xx")})
	mustNil(t, "AssumeRole", err)
	s := sessionOf(out.Credentials)
	_, err = n.stsSession(s).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	mustNil(t, "GetCallerIdentity", err)
	_, err = n.iamRoot().DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String("temp")})
	mustNil(t, "DeleteRole", err)
	_, err = n.stsSession(s).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantAPIError(t, err, "InvalidClientTokenId", "The security token included in the request is invalid.")
	wantStatus(t, err, 403)
	_, err = n.kmsSession(s).ListKeys(ctx, &kms.ListKeysInput{})
	wantAPIError(t, err, "UnrecognizedClientException", "The security token included in the request is invalid.")
	newRole(t, n, "temp", trust, "", 0)
	_, err = n.stsSession(s).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantAPIError(t, err, "InvalidClientTokenId", "The security token included in the request is invalid.")
}

// TestSessionExpires: an expired session is ExpiredTokenException for KMS
// and ExpiredToken (403) for STS.
func TestSessionExpires(t *testing.T) {
	ctx := context.Background()
	n, clk := startNodeWithClock(t)
	akid, secret := newUser(t, n, "fay", allowDoc(`"sts:AssumeRole"`, "*"))
	newRole(t, n, "short", trustDoc(`{"AWS":"`+acct+`"}`, `"sts:AssumeRole"`, ""), "", 0)
	out, err := n.stsWith("us-east-1", akid, secret).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + acct + ":role/short"),
		RoleSessionName: aws.String("xx"), DurationSeconds: aws.Int32(900)})
	mustNil(t, "AssumeRole", err)
	s := sessionOf(out.Credentials)
	clk.Advance(899 * time.Second)
	_, err = n.stsSession(s).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	mustNil(t, "GetCallerIdentity before expiry", err)
	clk.Advance(time.Second)
	_, err = n.stsSession(s).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantAPIError(t, err, "ExpiredToken", "The security token included in the request is expired")
	wantStatus(t, err, 403)
	_, err = n.kmsSession(s).ListKeys(ctx, &kms.ListKeysInput{})
	wantAPIError(t, err, "ExpiredTokenException", "The security token included in the request is expired")
	wantStatus(t, err, 400)
}

// TestSessionTokenTampering: a token altered in any bit, a token presented
// with another session's key id, a session key without a token, and a
// long-term key with a token are all refused.
func TestSessionTokenTampering(t *testing.T) {
	ctx := context.Background()
	n := startNode(t)
	akid, secret := newUser(t, n, "gus", allowDoc(`"sts:AssumeRole"`, "*"))
	newRole(t, n, "r", trustDoc(`{"AWS":"`+acct+`"}`, `"sts:AssumeRole"`, ""), allowDoc(`"kms:ListKeys"`, "*"), 0)
	c := n.stsWith("us-east-1", akid, secret)
	a, err := c.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + acct + ":role/r"), RoleSessionName: aws.String("aa")})
	mustNil(t, "AssumeRole", err)
	b, err := c.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + acct + ":role/r"), RoleSessionName: aws.String("bb")})
	mustNil(t, "AssumeRole", err)
	sa, sb := sessionOf(a.Credentials), sessionOf(b.Credentials)
	if _, err := n.kmsSession(sa).ListKeys(ctx, &kms.ListKeysInput{}); err != nil {
		t.Fatalf("ListKeys with the real token: %v", err)
	}
	invalid := "The security token included in the request is invalid."
	for name, s := range map[string]session{
		"token of another session": {sa.akid, sa.secret, sb.token},
		"no token":                 {sa.akid, sa.secret, ""},
		"long-term key with token": {akid, secret, sa.token},
	} {
		_, err := n.kmsSession(s).ListKeys(ctx, &kms.ListKeysInput{})
		if apiMessage(err) != invalid {
			t.Errorf("%s: %v, want UnrecognizedClientException", name, err)
		}
	}
	// Flip bits over the whole token, bounded: every bit of every 7th
	// character (the header, the sealed payload and its tag all get
	// hit); internal/iam's test flips every bit without HTTP.
	tok := []byte(sa.token)
	tried := 0
	for i := 0; i < len(tok); i += 7 {
		for bit := 0; bit < 8; bit++ {
			v := append([]byte(nil), tok...)
			v[i] ^= 1 << bit
			if strings.ContainsAny(string(v[i]), "\r\n\x00") || v[i] < 0x20 || v[i] >= 0x7f {
				continue // not sendable as a header value
			}
			tried++
			_, err := n.kmsSession(session{sa.akid, sa.secret, string(v)}).ListKeys(ctx, &kms.ListKeysInput{})
			if err == nil {
				t.Fatalf("token with bit %d of byte %d flipped was accepted", bit, i)
			}
			wantAPIError(t, err, "UnrecognizedClientException", invalid)
		}
	}
	if tried < 100 {
		t.Fatalf("only %d variants tried", tried)
	}
}
