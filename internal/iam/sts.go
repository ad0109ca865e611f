package iam

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/trent-kms/trent/internal/policy"
	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/wire"
	"github.com/trent-kms/trent/internal/wire/query/stsapi"
)

// GetCallerIdentity returns the caller's user id, account and ARN. Every
// authenticated principal may call it: "No permissions are required to
// perform this operation." (the STS model, GetCallerIdentity). For the
// root user the UserId is the account id and the ARN
// arn:aws:iam::ACCOUNT:root, as AWS answers; for a role session
// "AROA...:SESSION" and arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION.
func (s *Service) GetCallerIdentity(ctx context.Context, c *Caller, _ *stsapi.GetCallerIdentityRequest) (*stsapi.GetCallerIdentityResponse, error) {
	return &stsapi.GetCallerIdentityResponse{UserId: ptr(c.Principal.UserID), Account: ptr(c.AccountID), Arn: ptr(c.callerARN())}, nil
}

// Session durations (the STS model, AssumeRoleRequest DurationSeconds:
// "The value specified can range from 900 seconds (15 minutes) up to the
// maximum session duration set for the role ... By default, the value is
// set to 3600 seconds.").
const (
	defaultSessionDuration = 3600
	// maxChainedDuration: "Role chaining limits your Amazon Web Services CLI
	// or Amazon Web Services API role session to a maximum of one hour ...
	// if you assume a role using role chaining and provide a
	// DurationSeconds parameter value greater than one hour, the operation
	// fails." (the STS model, AssumeRoleRequest DurationSeconds).
	maxChainedDuration = 3600
	maxSessionTags     = 50
)

// ValidationError messages of AWS. "The requested DurationSeconds exceeds
// the MaxSessionDuration set for this role." (kreuzwerker/awsu#27,
// prowler-cloud/prowler#923); "The requested DurationSeconds exceeds the 1
// hour session limit for roles assumed by role chaining." (AWS knowledge
// center, iam-role-chaining-limit; gitlab-org/gitlab-runner#38370).
const (
	msgDurationExceedsRole  = "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
	msgDurationExceedsChain = "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."
	// msgRootAssume: "An error occurred (AccessDenied) when calling the
	// AssumeRole operation: Roles may not be assumed by root accounts."
	// (kubeflow/testing#961).
	msgRootAssume = "Roles may not be assumed by root accounts."
)

// parseRoleARN splits arn:PARTITION:iam::ACCOUNT:role/PATH/NAME.
func parseRoleARN(arn string) (account, name string, ok bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "iam" || parts[3] != "" || !accountIDRE.MatchString(parts[4]) ||
		!strings.HasPrefix(parts[5], "role/") {
		return "", "", false
	}
	name = parts[5][strings.LastIndexByte(parts[5], '/')+1:]
	return parts[4], name, name != ""
}

// errAssumeDenied is AccessDenied for a role the caller may not assume, or
// that does not exist (AWS does not tell them apart): "User:
// arn:aws:iam::67211257:user/Qikink is not authorized to perform:
// sts:AssumeRole on resource: arn:aws:iam::6721257:user/Qikink"
// (amzn/selling-partner-api-models#2523, #891).
func errAssumeDenied(callerARN, action, roleARN string, cause error) error {
	return &wire.Error{Code: "AccessDenied", Message: fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s", callerARN, action, roleARN), Err: cause}
}

// unsupported refuses a parameter Trent does not implement. Session
// policies would narrow the session's permissions; ignoring them would
// grant more than asked, so they are refused (strict; not AWS behaviour).
func unsupported(param string) error {
	return wire.Errorf("InvalidParameterValue", "%s is not supported by this server.", param)
}

// sessionDuration checks DurationSeconds (900 and more is checked by the
// model's constraints) against the role's maximum and role chaining.
func sessionDuration(d *int32, role store.Entity, chained bool) (time.Duration, error) {
	secs := defaultSessionDuration
	if d != nil {
		secs = int(*d)
	}
	if chained && secs > maxChainedDuration {
		return 0, wire.Errorf("ValidationError", msgDurationExceedsChain)
	}
	if secs > role.MaxSessionDuration {
		return 0, wire.Errorf("ValidationError", msgDurationExceedsRole)
	}
	return time.Duration(secs) * time.Second, nil
}

// sessionTags checks the session tags and transitive keys of a request and
// merges the caller's inherited transitive tags. The STS model
// (AssumeRoleRequest Tags): "Tag key–value pairs are not case sensitive
// ... you cannot have separate Department and department tag keys";
// "the new session inherits any transitive session tags from the calling
// session. If you pass a session tag with the same key as an inherited
// tag, the operation fails." The error messages are inferred.
func sessionTags(in []stsapi.Tag, transitive []string, caller *Session) ([]policy.Tag, []string, error) {
	var tags []policy.Tag
	var keys []string
	if caller != nil {
		for _, t := range caller.Tags {
			if containsFold(caller.TransitiveKeys, t.Key) {
				tags = append(tags, t)
				keys = append(keys, t.Key)
			}
		}
	}
	inherited := len(tags)
	for _, t := range in {
		k, v := val(t.Key), val(t.Value)
		if hasTagKey(tags[inherited:], k) {
			return nil, nil, wire.Errorf("InvalidParameterValue", "Duplicate tag keys found. Please note that Tag keys are case insensitive.")
		}
		if hasTagKey(tags[:inherited], k) {
			return nil, nil, wire.Errorf("InvalidParameterValue", "The session tag %s has the key of an inherited transitive session tag.", k)
		}
		tags = append(tags, policy.Tag{Key: k, Value: v})
	}
	if len(tags) > maxSessionTags {
		return nil, nil, wire.Errorf("InvalidParameterValue", "A session may have at most %d session tags, inherited ones included.", maxSessionTags)
	}
	for _, k := range transitive {
		if !hasTagKey(tags[inherited:], k) {
			return nil, nil, wire.Errorf("InvalidParameterValue", "The transitive tag key %s is not the key of a session tag of the request.", k)
		}
		if !containsFold(keys, k) {
			keys = append(keys, k)
		}
	}
	return tags, keys, nil
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// trustRequest is the authorization context of an AssumeRole* call: the
// role is the resource, its trust policy the resource-based policy.
func (s *Service) trustRequest(action string, role store.Entity, principal policy.Principal, c *Caller) policy.Request {
	r := policy.Request{Action: action, Resource: RoleARN(role.AccountID, role.Path, role.Name), ResourceAccount: role.AccountID,
		Principal: principal, Time: s.now()}
	if c != nil {
		r.SourceIP, r.SecureTransport = c.SourceIP, c.SecureTransport
	}
	return r
}

// AssumeRole returns session credentials for a role. The role's trust
// policy is the resource-based policy of the request (action
// sts:AssumeRole, resource the role), evaluated with the caller's identity
// policies by package policy exactly as a key policy is: a trust policy
// that names the caller (its user ARN, its role, or for a session its
// session ARN) allows it in the same account by itself; one that names
// the caller's account (root ARN or account id) delegates to the
// account's IAM policies, so the caller also needs an identity policy
// allowing sts:AssumeRole on the role; across accounts both are always
// needed. "To allow a user to assume a role in the same account, you can
// do either of the following ... Attach a policy to the user ... Add the
// user as a principal directly in the role's trust policy." (IAM User
// Guide, id_roles_use_permissions-to-switch, "Granting a user permissions
// to switch roles"); "A role trust policy ... If the principal is the
// account, ... an administrator must also grant permissions to the users
// to assume the role" (the same page; wording recalled, inferred).
//
// Condition keys: sts:ExternalId, sts:RoleSessionName, sts:SourceIdentity,
// aws:RequestTag/<k> and aws:TagKeys for session tags,
// sts:TransitiveTagKeys, and every principal key of the caller. With
// session tags the trust and identity policies must also allow
// sts:TagSession ("Permissions required to add session tags", IAM User
// Guide, id_session-tags).
func (s *Service) AssumeRole(ctx context.Context, c *Caller, in *stsapi.AssumeRoleRequest) (*stsapi.AssumeRoleResponse, error) {
	switch {
	case len(in.PolicyArns) > 0:
		return nil, unsupported("PolicyArns (session policies)")
	case in.Policy != nil:
		return nil, unsupported("Policy (session policies)")
	case in.SerialNumber != nil || in.TokenCode != nil:
		return nil, unsupported("MFA (SerialNumber, TokenCode)")
	case len(in.ProvidedContexts) > 0:
		return nil, unsupported("ProvidedContexts")
	}
	roleARN, name := val(in.RoleArn), val(in.RoleSessionName)
	callerARN := c.callerARN()
	if c.isRoot() {
		return nil, &wire.Error{Code: "AccessDenied", Message: msgRootAssume}
	}
	account, roleName, ok := parseRoleARN(roleARN)
	if !ok {
		// Strict: an ARN that is not a role's names nothing to assume
		// (AWS's message for this case is not recorded; inferred).
		return nil, wire.Errorf("ValidationError", "%s is invalid", roleARN)
	}
	role, err := s.store.GetEntity(ctx, account, store.KindRole, roleName)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errAssumeDenied(callerARN, "sts:AssumeRole", roleARN, err)
	}
	if err != nil {
		return nil, err
	}
	fullARN := RoleARN(role.AccountID, role.Path, role.Name)
	if inPartition(fullARN, Partition(c.Region)) != roleARN {
		// The path or the case of the name differ: not this role.
		return nil, errAssumeDenied(callerARN, "sts:AssumeRole", roleARN, errors.New("role ARN does not match the role's path or name"))
	}
	chained := c.Principal.Type == policy.PrincipalAssumedRole
	dur, err := sessionDuration(in.DurationSeconds, role, chained)
	if err != nil {
		return nil, err
	}
	tags, transitive, err := sessionTags(in.Tags, in.TransitiveTagKeys, c.Session)
	if err != nil {
		return nil, err
	}
	trust, err := policy.Parse(role.TrustPolicy, policy.TrustPolicy)
	if err != nil {
		return nil, errAssumeDenied(callerARN, "sts:AssumeRole", roleARN, fmt.Errorf("stored trust policy does not parse: %w", err))
	}
	pols, err := s.callerPolicies(ctx, c)
	if err != nil {
		return nil, err
	}
	var keys policy.ContextKeys
	if in.ExternalId != nil {
		keys.Set("sts:ExternalId", policy.String(*in.ExternalId))
	}
	keys.Set("sts:RoleSessionName", policy.String(name))
	if in.SourceIdentity != nil {
		keys.Set("sts:SourceIdentity", policy.String(*in.SourceIdentity))
	}
	if len(in.Tags) > 0 {
		m := map[string]string{}
		for _, t := range in.Tags {
			m[val(t.Key)] = val(t.Value)
		}
		keys.SetTags("aws:RequestTag/", m, "aws:TagKeys")
	}
	if len(in.TransitiveTagKeys) > 0 {
		keys.Set("sts:TransitiveTagKeys", policy.Strings(in.TransitiveTagKeys))
	}
	r := s.trustRequest("sts:AssumeRole", role, c.Principal, c)
	r.Keys = &keys
	actions := []string{"sts:AssumeRole"}
	if len(in.Tags) > 0 || len(in.TransitiveTagKeys) > 0 {
		actions = append(actions, "sts:TagSession")
	}
	for _, a := range actions {
		r.Action = a
		if d := policy.Evaluate(&r, trust, pols...); !d.Allowed {
			return nil, errAssumeDenied(callerARN, a, roleARN, errors.New(d.Reason))
		}
	}
	p := sessionPayload{Tags: tags, TransitiveKeys: transitive, Chained: chained, SourceIdentity: val(in.SourceIdentity)}
	if c.Session != nil && c.Session.SourceIdentity != "" {
		// "After you set the source identity value, it cannot be
		// changed" (the STS model, AssumeRoleRequest SourceIdentity): a
		// chained session keeps it.
		if in.SourceIdentity != nil && *in.SourceIdentity != c.Session.SourceIdentity {
			return nil, errAssumeDenied(callerARN, "sts:SetSourceIdentity", roleARN, errors.New("source identity cannot change in a role chain"))
		}
		p.SourceIdentity = c.Session.SourceIdentity
	}
	sess, err := s.newSession(role, name, s.now().Add(dur), p)
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "role assumed", "role", fullARN, "session", name, "access_key_id", sess.AccessKeyID,
		"by", callerARN, "expiration", sess.Expiration)
	out := &stsapi.AssumeRoleResponse{Credentials: wireCredentials(sess), AssumedRoleUser: c.assumedRoleUser(sess)}
	if p.SourceIdentity != "" {
		out.SourceIdentity = ptr(p.SourceIdentity)
	}
	return out, nil
}

func wireCredentials(sess *Session) *stsapi.Credentials {
	exp := sess.Expiration
	return &stsapi.Credentials{AccessKeyId: ptr(sess.AccessKeyID), SecretAccessKey: ptr(sess.secret),
		SessionToken: ptr(sess.token), Expiration: &exp}
}

func (c *Caller) assumedRoleUser(sess *Session) *stsapi.AssumedRoleUser {
	return &stsapi.AssumedRoleUser{AssumedRoleId: ptr(sess.RoleID + ":" + sess.Name),
		Arn: ptr(inPartition(sess.ARN(), Partition(c.Region)))}
}

// AssumeRoleWithWebIdentity returns session credentials for a role to the
// holder of an OpenID Connect ID token. The request is not signed: "Calling
// AssumeRoleWithWebIdentity does not require the use of Amazon Web
// Services security credentials" (the STS model); c carries only the
// request's region, source address and transport.
//
// The token must be signed (RS*, PS*, ES*, EdDSA; never "none" or HMAC)
// by a key of an OIDC provider that the role's account trusts for the
// token's iss, be within its exp, nbf and iat (30 s leeway), and name one
// of the provider's audiences. The role's trust policy is then evaluated
// with the provider as the Federated principal
// (arn:aws:iam::ACCOUNT:oidc-provider/HOST/PATH) for
// sts:AssumeRoleWithWebIdentity, with the condition keys HOST/PATH:sub,
// HOST/PATH:aud (azp when present), HOST/PATH:oaud and HOST/PATH:amr, as
// in IAM: "token.actions.githubusercontent.com:sub" and
// "token.actions.githubusercontent.com:aud" in the trust policies of
// aws-actions/configure-aws-credentials#775.
//
// Errors: InvalidIdentityToken (no provider for the issuer, bad signature,
// wrong audience: messages beside verifyWebIdentityToken),
// ExpiredTokenException, and AccessDenied "Not authorized to perform
// sts:AssumeRoleWithWebIdentity" (aws/aws-sdk-net#1522,
// sentry-kubernetes/charts#514) when the role does not exist or its trust
// policy does not allow.
func (s *Service) AssumeRoleWithWebIdentity(ctx context.Context, c *Caller, in *stsapi.AssumeRoleWithWebIdentityRequest) (*stsapi.AssumeRoleWithWebIdentityResponse, error) {
	switch {
	case len(in.PolicyArns) > 0:
		return nil, unsupported("PolicyArns (session policies)")
	case in.Policy != nil:
		return nil, unsupported("Policy (session policies)")
	case in.ProviderId != nil:
		return nil, unsupported("ProviderId (OAuth 2.0 access tokens)")
	}
	denied := func(cause error) error {
		return &wire.Error{Code: "AccessDenied", Message: "Not authorized to perform sts:AssumeRoleWithWebIdentity", Err: cause}
	}
	roleARN, name := val(in.RoleArn), val(in.RoleSessionName)
	account, roleName, ok := parseRoleARN(roleARN)
	if !ok {
		return nil, wire.Errorf("ValidationError", "%s is invalid", roleARN)
	}
	w, err := s.verifyWebIdentityToken(ctx, account, val(in.WebIdentityToken))
	if err != nil {
		return nil, err
	}
	role, err := s.store.GetEntity(ctx, account, store.KindRole, roleName)
	if errors.Is(err, store.ErrNotFound) {
		return nil, denied(err)
	}
	if err != nil {
		return nil, err
	}
	if inPartition(RoleARN(role.AccountID, role.Path, role.Name), Partition(c.Region)) != roleARN {
		return nil, denied(errors.New("role ARN does not match the role's path or name"))
	}
	dur, err := sessionDuration(in.DurationSeconds, role, false)
	if err != nil {
		return nil, err
	}
	trust, err := policy.Parse(role.TrustPolicy, policy.TrustPolicy)
	if err != nil {
		return nil, denied(fmt.Errorf("stored trust policy does not parse: %w", err))
	}
	key := w.provider.cfg.Key()
	var keys policy.ContextKeys
	keys.Set(key+":sub", policy.String(w.subject))
	keys.Set(key+":aud", policy.String(w.audience))
	if w.oaud != "" {
		keys.Set(key+":oaud", policy.String(w.oaud))
	}
	if len(w.amr) > 0 {
		keys.Set(key+":amr", policy.Strings(w.amr))
	}
	keys.Set("sts:RoleSessionName", policy.String(name))
	fed := w.provider.cfg.ARN()
	r := s.trustRequest("sts:AssumeRoleWithWebIdentity", role,
		policy.Principal{Type: policy.PrincipalWebIdentity, Federated: fed, ARN: fed, Account: account}, c)
	r.Keys = &keys
	if d := policy.Evaluate(&r, trust); !d.Allowed {
		return nil, denied(errors.New(d.Reason))
	}
	sess, err := s.newSession(role, name, s.now().Add(dur), sessionPayload{Federated: fed, Subject: w.subject})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "role assumed with web identity", "role", roleARN, "session", name, "access_key_id", sess.AccessKeyID,
		"provider", fed, "subject", w.subject, "expiration", sess.Expiration)
	return &stsapi.AssumeRoleWithWebIdentityResponse{Credentials: wireCredentials(sess), AssumedRoleUser: c.assumedRoleUser(sess),
		SubjectFromWebIdentityToken: ptr(w.subject), Provider: ptr(w.provider.cfg.URL), Audience: ptr(w.audience)}, nil
}
