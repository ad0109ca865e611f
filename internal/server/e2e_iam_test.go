package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

func (n *node) iamWith(akid, secret string) *iam.Client {
	return iam.New(iam.Options{Region: "us-east-1", BaseEndpoint: aws.String(n.srv.URL()),
		Credentials: credentials.NewStaticCredentialsProvider(akid, secret, ""), HTTPClient: &http.Client{Timeout: 30 * time.Second}})
}

func (n *node) stsWith(region, akid, secret string) *sts.Client {
	return sts.New(sts.Options{Region: region, BaseEndpoint: aws.String(n.srv.URL()),
		Credentials: credentials.NewStaticCredentialsProvider(akid, secret, ""), HTTPClient: &http.Client{Timeout: 30 * time.Second}})
}

func (n *node) iamRoot() *iam.Client { return n.iamWith(testAccessKeyID, testSecret) }

// wantStatus checks the HTTP status of an SDK error.
func wantStatus(t *testing.T, err error, status int) {
	t.Helper()
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("error %v carries no HTTP response", err)
	}
	if re.HTTPStatusCode() != status {
		t.Fatalf("HTTP status = %d, want %d (%v)", re.HTTPStatusCode(), status, err)
	}
}

func mustNil(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func TestIAMUserLifecycle(t *testing.T) {
	ctx := context.Background()
	n := startNode(t)
	c := n.iamRoot()
	out, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("alice"), Path: aws.String("/eng/"),
		Tags: []iamtypes.Tag{{Key: aws.String("team"), Value: aws.String("blue")}}})
	mustNil(t, "CreateUser", err)
	u := out.User
	if aws.ToString(u.Arn) != "arn:aws:iam::111122223333:user/eng/alice" || !strings.HasPrefix(aws.ToString(u.UserId), "AIDA") ||
		len(aws.ToString(u.UserId)) != 21 || aws.ToString(u.Path) != "/eng/" || u.CreateDate == nil {
		t.Fatalf("CreateUser = %+v", u)
	}
	_, err = c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("ALICE")})
	wantAPIError(t, err, "EntityAlreadyExists", "User with name ALICE already exists.")
	wantStatus(t, err, 409)

	_, err = c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("bad name")})
	wantAPIError(t, err, "ValidationError", `1 validation error detected: Value 'bad name' at 'userName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]+`)
	wantStatus(t, err, 400)

	g, err := c.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("alice")})
	mustNil(t, "GetUser", err)
	if aws.ToString(g.User.UserId) != aws.ToString(u.UserId) || len(g.User.Tags) != 1 {
		t.Fatalf("GetUser = %+v", g.User)
	}
	_, err = c.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("bob")})
	wantAPIError(t, err, "NoSuchEntity", "The user with name bob cannot be found.")
	wantStatus(t, err, 404)

	// GetUser without a name as the root answers with the root user.
	g, err = c.GetUser(ctx, &iam.GetUserInput{})
	mustNil(t, "GetUser (root)", err)
	if aws.ToString(g.User.Arn) != "arn:aws:iam::111122223333:root" || aws.ToString(g.User.UserId) != "111122223333" {
		t.Fatalf("GetUser (root) = %+v", g.User)
	}

	mustNil(t, "CreateUser bob", func() error {
		_, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("bob")})
		return err
	}())
	l, err := c.ListUsers(ctx, &iam.ListUsersInput{MaxItems: aws.Int32(1)})
	mustNil(t, "ListUsers", err)
	if len(l.Users) != 1 || aws.ToString(l.Users[0].UserName) != "alice" || !l.IsTruncated || l.Marker == nil {
		t.Fatalf("ListUsers page 1 = %+v", l)
	}
	l, err = c.ListUsers(ctx, &iam.ListUsersInput{Marker: l.Marker})
	mustNil(t, "ListUsers", err)
	if len(l.Users) != 1 || aws.ToString(l.Users[0].UserName) != "bob" || l.IsTruncated {
		t.Fatalf("ListUsers page 2 = %+v", l)
	}
	l, err = c.ListUsers(ctx, &iam.ListUsersInput{PathPrefix: aws.String("/eng/")})
	mustNil(t, "ListUsers", err)
	if len(l.Users) != 1 {
		t.Fatalf("ListUsers /eng/ = %d users", len(l.Users))
	}

	_, err = c.TagUser(ctx, &iam.TagUserInput{UserName: aws.String("alice"), Tags: []iamtypes.Tag{{Key: aws.String("cc"), Value: aws.String("42")}}})
	mustNil(t, "TagUser", err)
	_, err = c.UntagUser(ctx, &iam.UntagUserInput{UserName: aws.String("alice"), TagKeys: []string{"team"}})
	mustNil(t, "UntagUser", err)
	tl, err := c.ListUserTags(ctx, &iam.ListUserTagsInput{UserName: aws.String("alice")})
	mustNil(t, "ListUserTags", err)
	if len(tl.Tags) != 1 || aws.ToString(tl.Tags[0].Key) != "cc" || aws.ToString(tl.Tags[0].Value) != "42" {
		t.Fatalf("ListUserTags = %+v", tl.Tags)
	}
	_, err = c.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("alice")})
	mustNil(t, "DeleteUser", err)
	_, err = c.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("alice")})
	wantAPIError(t, err, "NoSuchEntity", "The user with name alice cannot be found.")
}

func TestIAMAccessKeys(t *testing.T) {
	ctx := context.Background()
	n := startNode(t)
	c := n.iamRoot()
	_, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("alice")})
	mustNil(t, "CreateUser", err)
	k1, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("alice")})
	mustNil(t, "CreateAccessKey", err)
	if !strings.HasPrefix(aws.ToString(k1.AccessKey.AccessKeyId), "AKIA") || len(aws.ToString(k1.AccessKey.SecretAccessKey)) != 40 ||
		k1.AccessKey.Status != iamtypes.StatusTypeActive || aws.ToString(k1.AccessKey.UserName) != "alice" {
		t.Fatalf("CreateAccessKey = %+v", k1.AccessKey)
	}
	k2, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("alice")})
	mustNil(t, "CreateAccessKey 2", err)
	_, err = c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("alice")})
	wantAPIError(t, err, "LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: 2")
	wantStatus(t, err, 409)

	lk, err := c.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("alice")})
	mustNil(t, "ListAccessKeys", err)
	if len(lk.AccessKeyMetadata) != 2 {
		t.Fatalf("ListAccessKeys = %d keys", len(lk.AccessKeyMetadata))
	}

	akid, secret := aws.ToString(k1.AccessKey.AccessKeyId), aws.ToString(k1.AccessKey.SecretAccessKey)
	// GetCallerIdentity as the user, in any served region.
	id, err := n.stsWith("eu-west-1", akid, secret).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	mustNil(t, "GetCallerIdentity (user)", err)
	if aws.ToString(id.Arn) != "arn:aws:iam::111122223333:user/alice" || aws.ToString(id.Account) != "111122223333" ||
		!strings.HasPrefix(aws.ToString(id.UserId), "AIDA") {
		t.Fatalf("GetCallerIdentity = %s %s %s", aws.ToString(id.UserId), aws.ToString(id.Account), aws.ToString(id.Arn))
	}
	// The user has no policy: IAM refuses it, and KMS refuses every
	// principal but the root until authorization lands.
	_, err = n.iamWith(akid, secret).ListUsers(ctx, &iam.ListUsersInput{})
	wantAPIError(t, err, "AccessDenied", "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: iam:ListUsers on resource: arn:aws:iam::111122223333:user/ because no identity-based policy allows the iam:ListUsers action")
	wantStatus(t, err, 403)
	_, err = n.clientWith("us-east-1", akid, secret).ListKeys(ctx, &kms.ListKeysInput{})
	wantAPIError(t, err, "AccessDeniedException", "*")

	// Deleting a user with keys conflicts.
	_, err = c.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("alice")})
	wantAPIError(t, err, "DeleteConflict", "Cannot delete entity, must delete access keys first.")
	wantStatus(t, err, 409)

	// Inactive stops authenticating at once.
	_, err = c.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: aws.String(akid), Status: iamtypes.StatusTypeInactive})
	mustNil(t, "UpdateAccessKey", err)
	_, err = n.stsWith("us-east-1", akid, secret).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantAPIError(t, err, "InvalidClientTokenId", "The security token included in the request is invalid.")
	wantStatus(t, err, 403)
	_, err = c.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: aws.String(akid), Status: iamtypes.StatusTypeActive})
	mustNil(t, "UpdateAccessKey Active", err)
	_, err = n.stsWith("us-east-1", akid, secret).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	mustNil(t, "GetCallerIdentity after reactivation", err)

	// Deleted stops at once too.
	for _, k := range []string{akid, aws.ToString(k2.AccessKey.AccessKeyId)} {
		_, err = c.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: aws.String(k)})
		mustNil(t, "DeleteAccessKey", err)
	}
	_, err = n.stsWith("us-east-1", akid, secret).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantAPIError(t, err, "InvalidClientTokenId", "*")
	_, err = c.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: aws.String(akid)})
	wantAPIError(t, err, "NoSuchEntity", "The Access Key with id "+akid+" cannot be found.")
	_, err = c.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("alice")})
	mustNil(t, "DeleteUser", err)
}

func TestGetCallerIdentityRoot(t *testing.T) {
	n := startNode(t)
	id, err := n.stsWith("us-east-1", testAccessKeyID, testSecret).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	mustNil(t, "GetCallerIdentity", err)
	if aws.ToString(id.Arn) != "arn:aws:iam::111122223333:root" || aws.ToString(id.UserId) != "111122223333" || aws.ToString(id.Account) != "111122223333" {
		t.Fatalf("GetCallerIdentity = %s %s %s", aws.ToString(id.UserId), aws.ToString(id.Account), aws.ToString(id.Arn))
	}
	// In the aws-cn partition.
	id, err = n.stsWith("cn-north-1", testAccessKeyID, testSecret).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	mustNil(t, "GetCallerIdentity cn", err)
	if aws.ToString(id.Arn) != "arn:aws-cn:iam::111122223333:root" {
		t.Fatalf("GetCallerIdentity cn Arn = %s", aws.ToString(id.Arn))
	}
}

func TestIAMPolicies(t *testing.T) {
	ctx := context.Background()
	n := startNode(t)
	c := n.iamRoot()
	_, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("alice")})
	mustNil(t, "CreateUser", err)
	_, err = c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("p"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:ListUsers"}]}`)})
	wantAPIError(t, err, "MalformedPolicyDocument", "Policy statement must contain resources.")
	wantStatus(t, err, 400)
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:ListUsers","iam:GetUser"],"Resource":"*"}]}`
	_, err = c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("list"), PolicyDocument: aws.String(doc)})
	mustNil(t, "PutUserPolicy", err)
	gp, err := c.GetUserPolicy(ctx, &iam.GetUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("LIST")})
	mustNil(t, "GetUserPolicy", err)
	if dec, _ := url.QueryUnescape(aws.ToString(gp.PolicyDocument)); dec != doc || aws.ToString(gp.PolicyDocument) == doc {
		t.Fatalf("GetUserPolicy document = %q, want %q URL-encoded", aws.ToString(gp.PolicyDocument), doc)
	}
	lp, err := c.ListUserPolicies(ctx, &iam.ListUserPoliciesInput{UserName: aws.String("alice")})
	mustNil(t, "ListUserPolicies", err)
	if len(lp.PolicyNames) != 1 || lp.PolicyNames[0] != "list" {
		t.Fatalf("ListUserPolicies = %v", lp.PolicyNames)
	}

	// The policy is real authorization: alice may list users, not create them.
	k, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("alice")})
	mustNil(t, "CreateAccessKey", err)
	ac := n.iamWith(aws.ToString(k.AccessKey.AccessKeyId), aws.ToString(k.AccessKey.SecretAccessKey))
	_, err = ac.ListUsers(ctx, &iam.ListUsersInput{})
	mustNil(t, "ListUsers as alice", err)
	me, err := ac.GetUser(ctx, &iam.GetUserInput{})
	mustNil(t, "GetUser as alice", err)
	if aws.ToString(me.User.UserName) != "alice" {
		t.Fatalf("GetUser as alice = %+v", me.User)
	}
	_, err = ac.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("mallory")})
	wantAPIError(t, err, "AccessDenied", "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: iam:CreateUser on resource: arn:aws:iam::111122223333:user/mallory because no identity-based policy allows the iam:CreateUser action")

	// Managed policies.
	mdoc := `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"iam:ListUsers","Resource":"*"}]}`
	_, err = c.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("bad"), PolicyDocument: aws.String(`{"Statement":`)})
	wantAPIError(t, err, "MalformedPolicyDocument", "*")
	cp, err := c.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("deny-list"), PolicyDocument: aws.String(mdoc), Description: aws.String("d")})
	mustNil(t, "CreatePolicy", err)
	arn := aws.ToString(cp.Policy.Arn)
	if arn != "arn:aws:iam::111122223333:policy/deny-list" || aws.ToString(cp.Policy.DefaultVersionId) != "v1" || !strings.HasPrefix(aws.ToString(cp.Policy.PolicyId), "ANPA") {
		t.Fatalf("CreatePolicy = %+v", cp.Policy)
	}
	_, err = c.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("DENY-LIST"), PolicyDocument: aws.String(mdoc)})
	wantAPIError(t, err, "EntityAlreadyExists", "A policy called DENY-LIST already exists. Duplicate names are not allowed.")
	gv, err := c.GetPolicyVersion(ctx, &iam.GetPolicyVersionInput{PolicyArn: aws.String(arn), VersionId: aws.String("v1")})
	mustNil(t, "GetPolicyVersion", err)
	if dec, _ := url.QueryUnescape(aws.ToString(gv.PolicyVersion.Document)); dec != mdoc {
		t.Fatalf("GetPolicyVersion document = %q", dec)
	}
	_, err = c.AttachUserPolicy(ctx, &iam.AttachUserPolicyInput{UserName: aws.String("alice"), PolicyArn: aws.String("arn:aws:iam::aws:policy/AdministratorAccess")})
	wantAPIError(t, err, "NoSuchEntity", "Policy arn:aws:iam::aws:policy/AdministratorAccess does not exist or is not attachable.")
	_, err = c.AttachUserPolicy(ctx, &iam.AttachUserPolicyInput{UserName: aws.String("alice"), PolicyArn: aws.String(arn)})
	mustNil(t, "AttachUserPolicy", err)
	la, err := c.ListAttachedUserPolicies(ctx, &iam.ListAttachedUserPoliciesInput{UserName: aws.String("alice")})
	mustNil(t, "ListAttachedUserPolicies", err)
	if len(la.AttachedPolicies) != 1 || aws.ToString(la.AttachedPolicies[0].PolicyArn) != arn {
		t.Fatalf("ListAttachedUserPolicies = %+v", la.AttachedPolicies)
	}
	gpol, err := c.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String(arn)})
	mustNil(t, "GetPolicy", err)
	if aws.ToInt32(gpol.Policy.AttachmentCount) != 1 || aws.ToString(gpol.Policy.Description) != "d" {
		t.Fatalf("GetPolicy = %+v", gpol.Policy)
	}
	// The attached explicit Deny wins over the inline Allow.
	_, err = ac.ListUsers(ctx, &iam.ListUsersInput{})
	wantAPIError(t, err, "AccessDenied", "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: iam:ListUsers on resource: arn:aws:iam::111122223333:user/ with an explicit deny in an identity-based policy")

	_, err = c.DeletePolicy(ctx, &iam.DeletePolicyInput{PolicyArn: aws.String(arn)})
	wantAPIError(t, err, "DeleteConflict", "Cannot delete a policy attached to entities.")
	_, err = c.DetachUserPolicy(ctx, &iam.DetachUserPolicyInput{UserName: aws.String("alice"), PolicyArn: aws.String(arn)})
	mustNil(t, "DetachUserPolicy", err)
	lpo, err := c.ListPolicies(ctx, &iam.ListPoliciesInput{Scope: iamtypes.PolicyScopeTypeLocal})
	mustNil(t, "ListPolicies", err)
	if len(lpo.Policies) != 1 {
		t.Fatalf("ListPolicies = %d", len(lpo.Policies))
	}
	_, err = c.DeletePolicy(ctx, &iam.DeletePolicyInput{PolicyArn: aws.String(arn)})
	mustNil(t, "DeletePolicy", err)
	_, err = c.DeleteUserPolicy(ctx, &iam.DeleteUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("list")})
	mustNil(t, "DeleteUserPolicy", err)
	_, err = c.DeleteUserPolicy(ctx, &iam.DeleteUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("list")})
	wantAPIError(t, err, "NoSuchEntity", "The user policy with name list cannot be found.")
}

const trust = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}]}`

func TestIAMRoles(t *testing.T) {
	ctx := context.Background()
	n := startNode(t)
	c := n.iamRoot()
	_, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("app"), AssumeRolePolicyDocument: aws.String(
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole","Resource":"*"}]}`)})
	wantAPIError(t, err, "MalformedPolicyDocument", "Has prohibited field Resource")
	_, err = c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("app"), AssumeRolePolicyDocument: aws.String(trust), MaxSessionDuration: aws.Int32(100)})
	wantAPIError(t, err, "ValidationError", "1 validation error detected: Value '100' at 'maxSessionDuration' failed to satisfy constraint: Member must have value greater than or equal to 3600")
	cr, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("app"), AssumeRolePolicyDocument: aws.String(trust),
		Tags: []iamtypes.Tag{{Key: aws.String("env"), Value: aws.String("dev")}}})
	mustNil(t, "CreateRole", err)
	r := cr.Role
	if aws.ToString(r.Arn) != "arn:aws:iam::111122223333:role/app" || !strings.HasPrefix(aws.ToString(r.RoleId), "AROA") || aws.ToInt32(r.MaxSessionDuration) != 3600 {
		t.Fatalf("CreateRole = %+v", r)
	}
	_, err = c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("APP"), AssumeRolePolicyDocument: aws.String(trust)})
	wantAPIError(t, err, "EntityAlreadyExists", "Role with name APP already exists.")
	gr, err := c.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("app")})
	mustNil(t, "GetRole", err)
	if dec, _ := url.QueryUnescape(aws.ToString(gr.Role.AssumeRolePolicyDocument)); dec != trust || len(gr.Role.Tags) != 1 {
		t.Fatalf("GetRole = %+v", gr.Role)
	}
	_, err = c.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("nope")})
	wantAPIError(t, err, "NoSuchEntity", "The role with name nope cannot be found.")
	lr, err := c.ListRoles(ctx, &iam.ListRolesInput{})
	mustNil(t, "ListRoles", err)
	if len(lr.Roles) != 1 {
		t.Fatalf("ListRoles = %d", len(lr.Roles))
	}
	newTrust := strings.Replace(trust, "111122223333:root", "111122223333:user/alice", 1)
	_, err = c.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("app"), PolicyDocument: aws.String(newTrust)})
	mustNil(t, "UpdateAssumeRolePolicy", err)
	_, err = c.TagRole(ctx, &iam.TagRoleInput{RoleName: aws.String("app"), Tags: []iamtypes.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
	mustNil(t, "TagRole", err)
	_, err = c.UntagRole(ctx, &iam.UntagRoleInput{RoleName: aws.String("app"), TagKeys: []string{"env"}})
	mustNil(t, "UntagRole", err)
	gr, err = c.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("app")})
	mustNil(t, "GetRole", err)
	if dec, _ := url.QueryUnescape(aws.ToString(gr.Role.AssumeRolePolicyDocument)); dec != newTrust || len(gr.Role.Tags) != 1 || aws.ToString(gr.Role.Tags[0].Key) != "k" {
		t.Fatalf("GetRole after updates = %+v", gr.Role)
	}
	_, err = c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("app"), PolicyName: aws.String("p"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}]}`)})
	mustNil(t, "PutRolePolicy", err)
	_, err = c.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String("app")})
	wantAPIError(t, err, "DeleteConflict", "Cannot delete entity, must delete policies first.")
	_, err = c.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String("app"), PolicyName: aws.String("p")})
	mustNil(t, "DeleteRolePolicy", err)
	_, err = c.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String("app")})
	mustNil(t, "DeleteRole", err)
}

func TestIAMUnknownAction(t *testing.T) {
	ctx := context.Background()
	n := startNode(t)
	_, err := n.iamRoot().CreateGroup(ctx, &iam.CreateGroupInput{GroupName: aws.String("g")})
	wantAPIError(t, err, "InvalidAction", "Could not find operation CreateGroup for version 2010-05-08")
	wantStatus(t, err, 400)

	// The raw error document has IAM's shape.
	resp := signedPost(t, n, "iam", "us-east-1", "application/x-www-form-urlencoded", "", "Action=CreateGroup&Version=2010-05-08&GroupName=g")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := `<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>Could not find operation CreateGroup for version 2010-05-08</Message></Error><RequestId>`
	if resp.StatusCode != 400 || !strings.HasPrefix(string(body), want) || resp.Header.Get("Content-Type") != "text/xml" {
		t.Fatalf("raw response %d %q", resp.StatusCode, body)
	}
	// IAM is signed for us-east-1 (or cn-north-1) only.
	resp = signedPost(t, n, "iam", "eu-west-1", "application/x-www-form-urlencoded", "", "Action=ListUsers&Version=2010-05-08")
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("IAM signed for eu-west-1: status %d, want 403", resp.StatusCode)
	}
}

// signedPost sends a SigV4-signed POST with the root test credentials.
func signedPost(t *testing.T, n *node, service, region, contentType, target, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, n.srv.URL()+"/", bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if target != "" {
		req.Header.Set("X-Amz-Target", target)
	}
	sum := sha256.Sum256([]byte(body))
	err = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testAccessKeyID, SecretAccessKey: testSecret},
		req, hex.EncodeToString(sum[:]), service, region, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestAccountsIsolation creates a second account through TrentAdmin and
// checks that its IAM is its own.
func TestAccountsIsolation(t *testing.T) {
	ctx := context.Background()
	n := startNode(t)
	resp := signedPost(t, n, "kms", "us-east-1", "application/x-amz-json-1.1", "TrentAdmin.CreateAccount", `{"AccountId":"444455556666"}`)
	var acct struct{ AccountId, AccessKeyId, SecretAccessKey string }
	if err := json.NewDecoder(resp.Body).Decode(&acct); err != nil || resp.StatusCode != 200 {
		t.Fatalf("CreateAccount: %d %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	if acct.AccountId != "444455556666" || acct.AccessKeyId == "" || len(acct.SecretAccessKey) != 40 {
		t.Fatalf("CreateAccount = %+v", acct)
	}
	resp = signedPost(t, n, "kms", "us-east-1", "application/x-amz-json-1.1", "TrentAdmin.CreateAccount", `{"AccountId":"444455556666"}`)
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("CreateAccount again: %d", resp.StatusCode)
	}

	main, other := n.iamRoot(), n.iamWith(acct.AccessKeyId, acct.SecretAccessKey)
	_, err := main.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("alice")})
	mustNil(t, "CreateUser main", err)
	o, err := other.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("alice")})
	mustNil(t, "CreateUser other (same name, other account)", err)
	if aws.ToString(o.User.Arn) != "arn:aws:iam::444455556666:user/alice" {
		t.Fatalf("other account's user ARN = %s", aws.ToString(o.User.Arn))
	}
	_, err = other.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("bob")})
	mustNil(t, "CreateUser bob", err)
	_, err = main.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("bob")})
	wantAPIError(t, err, "NoSuchEntity", "The user with name bob cannot be found.")
	cp, err := main.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("p"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)})
	mustNil(t, "CreatePolicy", err)
	_, err = other.AttachUserPolicy(ctx, &iam.AttachUserPolicyInput{UserName: aws.String("bob"), PolicyArn: cp.Policy.Arn})
	wantAPIError(t, err, "NoSuchEntity", "*")
	// The other account's root uses KMS in its own account.
	kc := n.clientWith("us-east-1", acct.AccessKeyId, acct.SecretAccessKey)
	k, err := kc.CreateKey(ctx, &kms.CreateKeyInput{})
	mustNil(t, "CreateKey other", err)
	if !strings.Contains(aws.ToString(k.KeyMetadata.Arn), ":444455556666:") {
		t.Fatalf("key ARN %s", aws.ToString(k.KeyMetadata.Arn))
	}
	_, err = n.client("us-east-1").DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: k.KeyMetadata.Arn})
	wantAPIError(t, err, "AccessDeniedException", "*")
	// Only the management account's root administers accounts.
	ac := signedPostAs(t, n, acct.AccessKeyId, acct.SecretAccessKey, "TrentAdmin.ListAccounts", `{}`)
	ac.Body.Close()
	if ac.StatusCode != 400 {
		t.Fatalf("ListAccounts by another account's root: %d", ac.StatusCode)
	}
	resp = signedPost(t, n, "kms", "us-east-1", "application/x-amz-json-1.1", "TrentAdmin.ListAccounts", `{}`)
	var l struct{ Accounts []struct{ AccountId string } }
	json.NewDecoder(resp.Body).Decode(&l)
	resp.Body.Close()
	if len(l.Accounts) != 2 || l.Accounts[0].AccountId != "111122223333" || l.Accounts[1].AccountId != "444455556666" {
		t.Fatalf("ListAccounts = %+v", l)
	}
}

func signedPostAs(t *testing.T, n *node, akid, secret, target, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, n.srv.URL()+"/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", target)
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret},
		req, hex.EncodeToString(sum[:]), "kms", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}
