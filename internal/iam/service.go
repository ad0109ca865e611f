package iam

import (
	"context"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/trent-kms/trent/internal/keystore"
	"github.com/trent-kms/trent/internal/policy"
	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/wire"
)

// Config holds a Service's dependencies.
type Config struct {
	Store  store.Store
	Root   keystore.Root
	Rand   io.Reader        // crypto/rand.Reader in production
	Now    func() time.Time // time.Now in production
	Logger *slog.Logger     // nil discards
	// ManagementAccount is the account whose root may create and list
	// accounts. [Service.RecordManagementAccount] records it in the store
	// on the first start; the recorded value wins afterwards.
	ManagementAccount string
	// Forget is called with the id of every access key whose
	// authentication changed (deactivated, deleted, its user's tags
	// changed), so the node's identity cache drops it at once; other
	// nodes see the change within their cache TTL. nil does nothing.
	Forget func(accessKeyID string)
	// CacheTTL bounds how long parsed identity policies are trusted before
	// they are read again, so that a change made through another node
	// takes effect here; 0 means until this node changes them.
	CacheTTL time.Duration
	// OIDC are the trusted OpenID Connect issuers of
	// AssumeRoleWithWebIdentity; nil trusts none.
	OIDC *Providers
}

// Service implements the IAM and STS operations. It is safe for
// concurrent use.
type Service struct {
	store  store.Store
	root   keystore.Root
	rand   io.Reader
	now    func() time.Time
	log    *slog.Logger
	forget func(string)

	mu         sync.RWMutex
	management string
	// keyMu serializes access key creation (count, then create) so that
	// this node never gives a user more than two keys. Several nodes
	// sharing a store can race past the count, as for KMS quotas.
	keyMu sync.Mutex

	ttl    time.Duration
	pmu    sync.RWMutex
	pcache map[entityRef]cachedPolicies
	rcache map[entityRef]cachedRole // roles of sessions; see Session
	pgen   uint64

	oidc *Providers // trusted OpenID Connect issuers; see oidc.go
}

// New returns a Service. Config.Store, Root and Rand are required.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Root == nil || cfg.Rand == nil {
		return nil, errors.New("iam: Config needs Store, Root and Rand")
	}
	s := &Service{store: cfg.Store, root: cfg.Root, rand: cfg.Rand, now: cfg.Now, log: cfg.Logger,
		forget: cfg.Forget, management: cfg.ManagementAccount,
		ttl: cfg.CacheTTL, pcache: map[entityRef]cachedPolicies{}, rcache: map[entityRef]cachedRole{}, oidc: cfg.OIDC}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.forget == nil {
		s.forget = func(string) {}
	}
	return s, nil
}

// managementAccountMeta is the store meta entry naming the management account.
const managementAccountMeta = "management-account"

// RecordManagementAccount records the configured management account in the
// store if none is recorded yet, and otherwise adopts the recorded one
// (logging a warning when the configuration names another).
func (s *Service) RecordManagementAccount(ctx context.Context) error {
	v, err := s.store.GetMeta(ctx, managementAccountMeta)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if s.management == "" {
			return errors.New("iam: no management account configured")
		}
		return s.store.PutMeta(ctx, managementAccountMeta, []byte(s.management))
	case err != nil:
		return fmt.Errorf("read management account: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.management != "" && s.management != string(v) {
		s.log.WarnContext(ctx, "the store records another management account than the configuration; the recorded one is used",
			"recorded", string(v), "configured", s.management)
	}
	s.management = string(v)
	return nil
}

// ManagementAccount returns the management account's id.
func (s *Service) ManagementAccount() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.management
}

// Caller is the authenticated principal of an IAM or STS request.
type Caller struct {
	AccountID   string
	AccessKeyID string
	Region      string // the signature's region
	// Principal is the caller as policies see it: type, ARN (in the "aws"
	// partition), account, user id, user name and tags.
	Principal       policy.Principal
	SourceIP        netip.Addr
	SecureTransport bool
	// Session is the caller's role session, for a session access key.
	Session *Session
}

// Partition returns the ARN partition of a region.
func Partition(region string) string {
	if strings.HasPrefix(region, "cn-") {
		return "aws-cn"
	}
	return "aws"
}

// arn returns an IAM ARN of the caller's account in the request's partition.
func (c *Caller) arn(resource string) string {
	return "arn:" + Partition(c.Region) + ":iam::" + c.AccountID + ":" + resource
}

// callerARN returns the caller's ARN in the request's partition.
func (c *Caller) callerARN() string {
	return inPartition(c.Principal.ARN, Partition(c.Region))
}

// inPartition rewrites an "arn:aws:" ARN into partition p.
func inPartition(arn, p string) string {
	if rest, ok := strings.CutPrefix(arn, "arn:aws:"); ok {
		return "arn:" + p + ":" + rest
	}
	return arn
}

// isRoot reports whether the caller is its account's root user.
func (c *Caller) isRoot() bool {
	return c.Principal.Type == policy.PrincipalAccount && c.Principal.Account == c.AccountID
}

// authorize decides whether the caller may perform action on resource:
// the account's root may; anyone else needs an identity policy that
// allows it (evaluated by package policy; IAM has no resource policies).
// A denial is AccessDenied with the message AWS sends, e.g. "User:
// arn:aws:sts::807078899029:assumed-role/.../michael.li@hashicorp.com is not
// authorized to perform: iam:CreateUser on resource:
// arn:aws:iam::807078899029:user/demo-boundary-e2e-DXqX0 because no
// identity-based policy allows the iam:CreateUser action", HTTP 403
// (hashicorp/boundary#4287).
func (s *Service) authorize(ctx context.Context, c *Caller, action, resource string) error {
	if c.isRoot() {
		return nil
	}
	pols, err := s.callerPolicies(ctx, c)
	if err != nil {
		return err
	}
	r := policy.Request{Action: action, Resource: resource, Principal: c.Principal, SourceIP: c.SourceIP,
		SecureTransport: c.SecureTransport, Time: s.now()}
	r.Principal.ARN = c.callerARN()
	d := policy.Evaluate(&r, nil, pols...)
	if d.Allowed {
		return nil
	}
	return &wire.Error{Code: "AccessDenied", Message: d.Message(c.callerARN(), action, resource),
		Err: fmt.Errorf("iam: %s", d.Reason)}
}

// callerPolicies returns the identity policies of the caller.
func (s *Service) callerPolicies(ctx context.Context, c *Caller) ([]*policy.Policy, error) {
	switch c.Principal.Type {
	case policy.PrincipalUser:
		return s.IdentityPolicies(ctx, c.AccountID, store.KindUser, c.Principal.Username)
	case policy.PrincipalAssumedRole:
		if c.Session != nil {
			return s.CachedIdentityPolicies(ctx, c.AccountID, store.KindRole, c.Session.RoleName)
		}
	}
	return nil, nil
}

// IdentityPolicies returns the parsed identity policies of a user or role:
// its inline policies, then its attached managed policies. A stored
// document that no longer parses is logged and skipped (it then allows
// nothing; a Deny it held is lost, so the skip is logged at error level).
func (s *Service) IdentityPolicies(ctx context.Context, accountID string, kind store.EntityKind, name string) ([]*policy.Policy, error) {
	inline, err := s.store.ListInlinePolicies(ctx, accountID, kind, name)
	if err != nil {
		return nil, err
	}
	attached, err := s.store.ListAttachedPolicies(ctx, accountID, kind, name)
	if err != nil {
		return nil, err
	}
	out := make([]*policy.Policy, 0, len(inline)+len(attached))
	add := func(what, doc string) {
		p, err := policy.Parse(doc, policy.IdentityPolicy)
		if err != nil {
			s.log.ErrorContext(ctx, "stored identity policy does not parse; it is ignored", "account_id", accountID,
				"kind", string(kind), "name", name, "policy", what, "err", err)
			return
		}
		out = append(out, p)
	}
	for _, p := range inline {
		add(p.Name, p.Document)
	}
	for _, p := range attached {
		add(p.Name, p.Document)
	}
	return out, nil
}

// generateID returns prefix and 17 characters of base32, the shape of
// AWS's unique ids ("AIDAJQABLZS4A3QDU576Q").
func (s *Service) generateID(prefix string) (string, error) {
	b := make([]byte, 11)
	if _, err := io.ReadFull(s.rand, b); err != nil {
		return "", err
	}
	return prefix + base32.StdEncoding.EncodeToString(b)[:17], nil
}

// Error helpers. Every message is IAM's; sources beside each.

// noSuchEntity is IAM's NoSuchEntity (HTTP 404). "The role with name
// Tabular_Redshift cannot be found." (aws/amazon-sagemaker-examples#2300,
// jarpy/lambkin#3); "The user policy with name CUMULUS-name cannot be
// found." (lucidsoftware/cumulus#71); "The role policy with name
// AWSLambdaBasicExecutionRole cannot be found." (aws/aws-cli#6139). The user
// form "The user with name X cannot be found." follows the same pattern
// (inferred).
func noSuchEntity(format string, args ...any) error {
	return wire.Errorf("NoSuchEntity", format, args...)
}

// errEntityExists is EntityAlreadyExists (HTTP 409): "User with name
// vmutyal already exists." (ucopacme/aws-orgs#12); "Role with name
// nat_ha_role already exists." (terraform-community-modules/tf_aws_nat#13).
func errEntityExists(kind store.EntityKind, name string) error {
	k := "User"
	if kind == store.KindRole {
		k = "Role"
	}
	return wire.Errorf("EntityAlreadyExists", "%s with name %s already exists.", k, name)
}

func errNoEntity(kind store.EntityKind, name string) error {
	return noSuchEntity("The %s with name %s cannot be found.", kind, name)
}

// errDeleteConflict is DeleteConflict (HTTP 409): "Cannot delete entity,
// must delete access keys first." (aws-controllers-k8s/community#2229);
// "Cannot delete entity, must delete policies first."
// (awslabs/aws-orbit-workbench#633); "Cannot delete entity, must detach all
// policies first." (hashicorp/boundary#5646); "Cannot delete a policy
// attached to entities." (serverless/components#312, 99designs/iamy#22).
func errDeleteConflict(by string) error {
	msg := map[string]string{
		store.UsedByAccessKeys:       "Cannot delete entity, must delete access keys first.",
		store.UsedByInlinePolicies:   "Cannot delete entity, must delete policies first.",
		store.UsedByAttachedPolicies: "Cannot delete entity, must detach all policies first.",
		store.UsedByAttachments:      "Cannot delete a policy attached to entities.",
	}[by]
	return &wire.Error{Code: "DeleteConflict", Message: msg}
}

// malformed wraps a policy parse error as IAM's MalformedPolicyDocument
// (HTTP 400) with the parser's AWS wording.
func malformed(err error) error {
	var pe *policy.Error
	if errors.As(err, &pe) {
		return &wire.Error{Code: "MalformedPolicyDocument", Message: pe.Message, Err: err}
	}
	return err
}

// storeErr maps store errors that no operation expects.
func storeErr(err error) error { return err }
