package kms

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/trent-kms/trent/internal/policy"
	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/wire"
)

// PolicySource supplies the IAM identity policies of a caller: the
// policies attached to an IAM user (directly and through its groups) or
// to the role of a role session. The account root user has none: its
// identity permissions are implicit (see docs/authorization.md).
// Implementations return compiled policies and should cache them; the
// slice must not be modified afterwards.
type PolicySource interface {
	IdentityPolicies(ctx context.Context, c *Caller) ([]*policy.Policy, error)
}

// Check is one authorization decision made for a request: the IAM action,
// the resource it was decided on (a key ARN, an alias ARN or "*") and
// the decision with the statement that decided and its reason.
type Check struct {
	Action   string
	Resource string
	Decision policy.Decision
	// GrantID names the grant that allowed the request, when a grant did
	// (Decision.Reason is then ReasonGrant).
	GrantID string
}

// maxChecks is the most checks one operation makes: UpdateAlias checks
// the alias, the key it points to and the key it will point to.
const maxChecks = 3

// Authorization records the authorization checks of one request, in the
// order they were made, for DryRun, logs and the audit trail. The api
// layer gives each request its own ([Caller.Authz]); it must not be
// shared between concurrent calls. It also holds per-request scratch
// space so that authorizing allocates nothing.
type Authorization struct {
	checks [maxChecks]Check
	n      int

	identity       []*policy.Policy // the caller's identity policies
	identityLoaded bool
	keys           condKeys
	// req is the request being evaluated: policy.Evaluate's conditions
	// make a *policy.Request escape, so it lives here rather than on the
	// stack.
	req policy.Request
}

// Checks returns the checks made so far. When an operation makes more
// than maxChecks checks (a Caller reused across calls), the oldest are
// dropped.
func (a *Authorization) Checks() []Check { return a.checks[:a.n] }

// Denied returns the check that denied the request, if one did.
func (a *Authorization) Denied() (Check, bool) {
	for i := a.n - 1; i >= 0; i-- {
		if !a.checks[i].Decision.Allowed {
			return a.checks[i], true
		}
	}
	return Check{}, false
}

func (a *Authorization) record(ch Check) {
	if a.n == maxChecks {
		copy(a.checks[:], a.checks[1:])
		a.n--
	}
	a.checks[a.n] = ch
	a.n++
}

// Actions of the KMS operations: the names IAM and key policies use
// (KMS Developer Guide, kms-api-permissions-reference.md).
const (
	actCreateKey      = "kms:CreateKey"
	actTagResource    = "kms:TagResource"
	actPutKeyPolicy   = "kms:PutKeyPolicy"
	actReEncryptFrom  = "kms:ReEncryptFrom"
	actReEncryptTo    = "kms:ReEncryptTo"
	actCreateAlias    = "kms:CreateAlias"
	actUpdateAlias    = "kms:UpdateAlias"
	actDeleteAlias    = "kms:DeleteAlias"
	actListAliases    = "kms:ListAliases"
	actListKeys       = "kms:ListKeys"
	actGenerateRandom = "kms:GenerateRandom"
)

// keyOp describes how an operation names and uses its key.
type keyOp struct {
	action string
	alias  bool // KeyId may be an alias name or alias ARN
	// cross says whether the key may belong to another account: the
	// "Cross-account use" line of each operation's documentation in the
	// model. Management operations answer a key of another account as
	// AccessDenied even when its key policy allows the caller.
	cross bool
}

var (
	opEncrypt            = keyOp{"kms:Encrypt", true, true}
	opDecrypt            = keyOp{"kms:Decrypt", true, true}
	opReEncryptFrom      = keyOp{actReEncryptFrom, true, true}
	opReEncryptTo        = keyOp{actReEncryptTo, true, true}
	opGenerateDataKey    = keyOp{"kms:GenerateDataKey", true, true}
	opGenerateDataKeyNP  = keyOp{"kms:GenerateDataKeyWithoutPlaintext", true, true}
	opGenerateDataPair   = keyOp{"kms:GenerateDataKeyPair", true, true}
	opGenerateDataPairNP = keyOp{"kms:GenerateDataKeyPairWithoutPlaintext", true, true}
	opDescribeKey        = keyOp{"kms:DescribeKey", true, true}
	opGetPublicKey       = keyOp{"kms:GetPublicKey", true, true}
	opSign               = keyOp{"kms:Sign", true, true}
	opVerify             = keyOp{"kms:Verify", true, true}
	opGenerateMac        = keyOp{"kms:GenerateMac", true, true}
	opVerifyMac          = keyOp{"kms:VerifyMac", true, true}
	opDeriveSharedSecret = keyOp{"kms:DeriveSharedSecret", true, true}
	opEncapsulate        = keyOp{"kms:Encapsulate", true, true}
	opDecapsulate        = keyOp{"kms:Decapsulate", true, true}
	opEnableKey          = keyOp{"kms:EnableKey", false, false}
	opDisableKey         = keyOp{"kms:DisableKey", false, false}
	opUpdateDescription  = keyOp{"kms:UpdateKeyDescription", false, false}
	opScheduleDeletion   = keyOp{"kms:ScheduleKeyDeletion", false, false}
	opCancelDeletion     = keyOp{"kms:CancelKeyDeletion", false, false}
	// Rotation and last usage: KeyId is a key id or key ARN, no alias
	// ("Alias names are not supported" is said of GetKeyLastUsage; the
	// rotation operations' KeyId lists only key id and key ARN).
	// GetKeyRotationStatus alone has cross-account use ("To specify a KMS
	// key in a different Amazon Web Services account, you must use the key
	// ARN"); every other one says "Cross-account use: No".
	// No grant allows them: the model's GrantOperation enum lists none of
	// these operations.
	opEnableKeyRotation    = keyOp{"kms:EnableKeyRotation", false, false}
	opDisableKeyRotation   = keyOp{"kms:DisableKeyRotation", false, false}
	opGetKeyRotationStatus = keyOp{"kms:GetKeyRotationStatus", false, true}
	opListKeyRotations     = keyOp{"kms:ListKeyRotations", false, false}
	opRotateKeyOnDemand    = keyOp{"kms:RotateKeyOnDemand", false, false}
	opGetKeyLastUsage      = keyOp{"kms:GetKeyLastUsage", false, false}
	// Imported key material: KeyId is a key id or key ARN ("Specify the
	// key ID or key ARN of the KMS key"), "Cross-account use: No", and no
	// grant allows them (the model's GrantOperation enum).
	opGetParametersForImport    = keyOp{"kms:GetParametersForImport", false, false}
	opImportKeyMaterial         = keyOp{"kms:ImportKeyMaterial", false, false}
	opDeleteImportedKeyMaterial = keyOp{"kms:DeleteImportedKeyMaterial", false, false}
	opTagResource               = keyOp{actTagResource, false, false}
	opUntagResource             = keyOp{"kms:UntagResource", false, false}
	opListResourceTags          = keyOp{"kms:ListResourceTags", false, false}
	opGetKeyPolicy              = keyOp{"kms:GetKeyPolicy", false, false}
	opPutKeyPolicy              = keyOp{actPutKeyPolicy, false, false}
	opListKeyPolicies           = keyOp{"kms:ListKeyPolicies", false, false}
	opCreateAlias               = keyOp{actCreateAlias, false, false}
	opUpdateAlias               = keyOp{actUpdateAlias, false, false}
	opDeleteAlias               = keyOp{actDeleteAlias, false, false}
)

// identity returns the caller as policies see it. A Caller built without
// an Identity (in-process callers such as tests and the CLI) is its
// account's root user; the api layer always sets Identity.
func identity(c *Caller) policy.Principal {
	if c.Identity.Type != 0 {
		return c.Identity
	}
	arn := c.Principal
	if arn == "" {
		arn = "arn:" + Partition(c.Region) + ":iam::" + c.AccountID + ":root"
	}
	return policy.Principal{Type: policy.PrincipalAccount, ARN: arn, Account: c.AccountID, UserID: c.AccountID}
}

// callerARN is the caller's ARN as AccessDenied messages show it.
func callerARN(c *Caller) string {
	if c.Principal != "" {
		return c.Principal
	}
	return identity(c).ARN
}

// authzOf returns the request's Authorization, or a fresh one for a
// caller that has none (its checks are then not kept).
func authzOf(c *Caller) *Authorization {
	if c.Authz != nil {
		return c.Authz
	}
	return new(Authorization)
}

// identityPolicies returns the caller's identity policies, loading them
// once per request. The root user and callers without a PolicySource have
// none.
func (s *Service) identityPolicies(ctx context.Context, c *Caller, a *Authorization) ([]*policy.Policy, error) {
	if a.identityLoaded {
		return a.identity, nil
	}
	if s.policies != nil && identity(c).Type != policy.PrincipalAccount {
		ps, err := s.policies.IdentityPolicies(ctx, c)
		if err != nil {
			return nil, fmt.Errorf("load identity policies of %s: %w", callerARN(c), err)
		}
		a.identity = ps
	}
	a.identityLoaded = true
	return a.identity, nil
}

// authorize is the one decision point of every operation. It decides
// whether c may perform action on resource, records the decision on the
// request's Authorization and returns nil or an AccessDeniedException with
// AWS's message.
//
// With a key (ck not nil) the resource is the key's ARN and its key
// policy is the resource policy: AWS's evaluation applies (an explicit
// Deny anywhere wins; otherwise the key policy must allow the caller,
// directly or by naming its account, in which case — and for every
// cross-account call — an identity policy must allow too; the root user
// is not exempt from the key policy). Without a key (CreateKey, ListKeys,
// ListAliases, GenerateRandom, and the alias resource of the alias
// operations) only identity policies apply; the root user is allowed.
// See policy.Evaluate and docs/authorization.md.
//
// req carries the request's condition keys (encryption context,
// algorithms, request alias, tags, …); it may be nil. noResourceInMessage
// gives the message form without "on resource", which KMS uses for the
// kms:TagResource check of CreateKey.
//
// Grants: when grants exist, an implicit deny (never an explicit one)
// is checked here against the key's grants and the request's grant
// tokens before the error is returned; a grant that allows records its
// id in the Check.
func (s *Service) authorize(ctx context.Context, c *Caller, action, resource string, ck *cachedKey, req *condReq, msgResource string) error {
	if s.throttle != nil && ck != nil {
		if err := s.throttleKey(c, action, ck, req); err != nil {
			return err
		}
	}
	a := authzOf(c)
	if c.Identity.Type == 0 && c.Principal != "" && !strings.HasSuffix(c.Principal, ":root") {
		// Fail closed: a caller that names a principal other than an
		// account root must say what it is; it is never taken for root.
		return &wire.Error{Code: "AccessDeniedException", Message: fmt.Sprintf("User: %s is not authorized to perform: %s", c.Principal, action),
			Err: fmt.Errorf("caller %s has no policy principal", c.Principal)}
	}
	idp, err := s.identityPolicies(ctx, c, a)
	if err != nil {
		return err
	}
	k := &a.keys
	k.key, k.aliases = ck, nil
	if req != nil {
		k.req = *req
	} else {
		k.req = condReq{}
	}
	r := &a.req
	*r = policy.Request{
		Action:          action,
		Resource:        resource,
		Principal:       identity(c),
		SourceIP:        c.SourceIP,
		SecureTransport: c.SecureTransport,
		Time:            s.now(),
		Keys:            k,
	}
	var kp *policy.Policy
	if ck != nil {
		r.ResourceAccount = ck.meta.AccountID
		kp = ck.policy
		if ck.usesAliases || usesKey(idp, "kms:resourcealiases") {
			if k.aliases, err = s.keyAliases(ctx, ck); err != nil {
				return err
			}
		}
	}
	d := policy.Evaluate(r, kp, idp...)
	grantID := ""
	if !d.Allowed && d.Effect == policy.ImplicitDeny && ck != nil {
		// A grant can allow what the policies leave undecided, never what
		// they deny (grants.md: "A grant can allow access to a KMS key, but
		// not deny access"). Keys used under their policies never get here.
		if grantID, err = s.grantFor(ctx, &r.Principal, action, ck, &k.req); err != nil {
			k.key, k.req = nil, condReq{}
			r.Keys = nil
			return err
		}
		if grantID != "" {
			d = policy.Decision{Allowed: true, Effect: policy.Allow, Statement: -1, ResourceStatement: -1, PolicyIndex: -1, Reason: ReasonGrant}
		}
	}
	k.key, k.req = nil, condReq{} // drop references to the request
	r.Keys = nil
	a.record(Check{Action: action, Resource: resource, Decision: d, GrantID: grantID})
	if d.Allowed {
		return nil
	}
	cross := ck != nil && ck.meta.AccountID != r.Principal.Account
	return &wire.Error{Code: "AccessDeniedException", Message: deniedMessage(d, callerARN(c), action, msgResource, cross),
		Err: fmt.Errorf("%s on %s: %s (statement %d %q)", action, resource, d.Reason, d.Statement, d.Sid)}
}

// Forms of msgResource for deniedMessage.
const (
	msgNoResource = "\x00none"       // "... is not authorized to perform: kms:TagResource because ..."
	msgCiphertext = "\x00ciphertext" // Decrypt without KeyId
)

// msgCrossAccount is the reason AWS gives when a caller of another
// account is denied by the key policy, in place of the key's ARN and the
// policy's verdict, so that the caller learns nothing about the key.
// Recorded for `aws kms encrypt` with another account's key ARN ("is not
// authorized to perform: kms:Encrypt on this resource because the resource
// does not exist in this Region, no resource-based policies allow access,
// or a resource-based policy explicitly denies access"), for DescribeKey
// with an "Other-account key ARN" (same form) and for Decrypt of an S3
// object under another account's key ("kms:Decrypt on the resource
// associated with this ciphertext because the resource does not exist in
// this Region, …"); public write-ups quoted in docs/authorization.md.
const msgCrossAccount = "because the resource does not exist in this Region, no resource-based policies allow access, or a resource-based policy explicitly denies access"

// deniedMessage returns AWS's AccessDeniedException text for d. See
// policy.Decision.Message for the recorded same-account forms.
func deniedMessage(d policy.Decision, caller, action, resource string, cross bool) string {
	switch {
	case cross && (d.Denial == policy.DenyNoResourceAllow || d.Denial == policy.DenyExplicitResource):
		on := "on this resource"
		if resource == msgCiphertext {
			on = "on the resource associated with this ciphertext"
		}
		return "User: " + caller + " is not authorized to perform: " + action + " " + on + " " + msgCrossAccount
	case resource == msgCiphertext:
		return d.Message(caller, action, "")
	case resource == msgNoResource:
		// kms:TagResource at CreateKey: "User: arn:aws:sts::…:assumed-role/…
		// is not authorized to perform: kms:TagResource because no
		// identity-based policy allows the kms:TagResource action"
		// (LeanerCloud/CUDly#1670, AccessDeniedException of CreateKey).
		// The explicit-deny form without a resource is inferred.
		m := d.Message(caller, action, "\x00")
		return strings.Replace(m, " on resource: \x00", "", 1)
	}
	return d.Message(caller, action, resource)
}

// denyOtherAccount refuses a key of another account for an operation that
// has no cross-account use, recording the denial. The answer is the one
// AWS gives a caller that the key policy does not admit (msgCrossAccount);
// that AWS answers the same for these operations is inferred.
func denyOtherAccount(c *Caller, action string, ck *cachedKey) error {
	d := policy.Decision{Effect: policy.ImplicitDeny, Denial: policy.DenyNoResourceAllow, Statement: -1, ResourceStatement: -1, PolicyIndex: -1,
		Reason: "the operation has no cross-account use"}
	authzOf(c).record(Check{Action: action, Resource: ck.arn, Decision: d})
	return &wire.Error{Code: "AccessDeniedException", Message: deniedMessage(d, callerARN(c), action, ck.arn, true),
		Err: fmt.Errorf("%s on %s: %s", action, ck.arn, d.Reason)}
}

// authorizeKey authorizes action on the key ck.
func (s *Service) authorizeKey(ctx context.Context, c *Caller, action string, ck *cachedKey, req *condReq) error {
	return s.authorize(ctx, c, action, ck.arn, ck, req, ck.arn)
}

// authorizeAccount authorizes an action that has no resource (CreateKey,
// ListKeys, ListAliases, GenerateRandom): the resource is "*", as AWS's
// messages show ("User: arn:aws:iam::…:user/… is not authorized to
// perform: kms:CreateKey on resource: * because no identity-based policy
// allows the kms:CreateKey action", quoted in a public AWS Cookbook
// write-up; "kms:ListAliases on resource: * with an explicit deny in an
// identity-based policy", recorded likewise).
func (s *Service) authorizeAccount(ctx context.Context, c *Caller, action string, req *condReq) error {
	return s.authorize(ctx, c, action, "*", nil, req, "*")
}

// usesKey reports whether any of the policies has a condition on key
// (lower case).
func usesKey(ps []*policy.Policy, key string) bool {
	for _, p := range ps {
		if p != nil && policyUsesKey(p, key) {
			return true
		}
	}
	return false
}

func policyUsesKey(p *policy.Policy, key string) bool {
	for i := range p.Statements {
		for _, cond := range p.Statements[i].Condition {
			if strings.EqualFold(cond.Key, key) {
				return true
			}
		}
	}
	return false
}

// keyAliases returns the alias names of ck (kms:ResourceAliases), loading
// them once per cached key. Alias writes drop the affected keys from the
// cache, so the list is as fresh as the key. AWS notes that alias changes
// may take up to five minutes to affect authorization
// (alias-authorization.md); Trent's are immediate on the node that made
// them and within Config.CacheTTL elsewhere.
func (s *Service) keyAliases(ctx context.Context, ck *cachedKey) ([]string, error) {
	if p := ck.aliases.Load(); p != nil {
		return *p, nil
	}
	var names []string
	after := ""
	for {
		as, err := s.store.ListAliases(ctx, ck.meta.Region, ck.meta.AccountID, ck.meta.KeyID, after, 100)
		if err != nil {
			return nil, fmt.Errorf("list aliases of %s: %w", ck.arn, err)
		}
		for i := range as {
			names = append(names, as[i].Name)
		}
		if len(as) < 100 {
			break
		}
		after = as[len(as)-1].Name
	}
	if names == nil {
		names = []string{}
	}
	ck.aliases.Store(&names)
	return names, nil
}

// condReq holds the request parameters that KMS condition keys expose
// (conditions-kms.md in the KMS Developer Guide). Empty fields are absent
// keys.
type condReq struct {
	encCtx       map[string]string // kms:EncryptionContext:<k>, kms:EncryptionContextKeys
	encAlg       string            // kms:EncryptionAlgorithm
	signAlg      string            // kms:SigningAlgorithm
	msgType      string            // kms:MessageType
	macAlg       string            // kms:MacAlgorithm
	agreeAlg     string            // kms:KeyAgreementAlgorithm
	pairSpec     string            // kms:DataKeyPairSpec
	requestAlias string            // kms:RequestAlias
	bypass       *bool             // kms:BypassPolicyLockoutSafetyCheck
	window       string            // kms:ScheduleKeyDeletionPendingWindowInDays
	rotation     string            // kms:RotationPeriodInDays
	sameKey      *bool             // kms:ReEncryptOnSameKey
	tags         []wire.Tag        // aws:RequestTag/<k>, aws:TagKeys
	tagKeys      []string          // aws:TagKeys of UntagResource
	newKey       *store.Key        // CreateKey: kms:KeySpec, KeyUsage, KeyOrigin, MultiRegion of the new key
	// kms:ReplicaRegion (ReplicateKey) and kms:PrimaryRegion
	// (UpdatePrimaryRegion): the region named in the request
	// (multi-region-keys-auth.md).
	replicaRegion string
	primaryRegion string

	grant *grantReq // grant operations and grant tokens; nil for most requests
}

// grantReq is the grant part of a request, kept apart so that requests
// without grant tokens carry one nil pointer only.
type grantReq struct {
	// kms:GrantOperations, kms:GranteePrincipal, kms:RetiringPrincipal,
	// kms:GrantConstraintType (CreateGrant) and kms:GrantIsForAWSResource
	// (CreateGrant, ListGrants, RevokeGrant).
	ops             []string
	grantee         string
	retiring        string
	constraintTypes []string
	forAWS          *bool
	// tokens are the request's authenticated grant tokens; child is the
	// grant a CreateGrant request would create (for grants that give
	// CreateGrant). Neither is a condition key.
	tokens []grantRef
	child  *store.Grant
}

// withTokens returns the grantReq of a request's grant tokens, nil when
// it has none.
func withTokens(toks []grantRef) *grantReq {
	if toks == nil {
		return nil
	}
	return &grantReq{tokens: toks}
}

// condKeys is the KMS part of the condition context of one check: the
// key's properties (kms:KeySpec, kms:ResourceAliases, aws:ResourceTag/…)
// and the request's parameters. It implements policy.KeyLookup over those
// values without copying them.
type condKeys struct {
	key     *cachedKey
	aliases []string
	req     condReq
}

// meta returns the key whose properties the kms:Key* condition keys
// expose: the key used, or for CreateKey the key being created
// (conditions-kms.md: kms:KeySpec "controls access to operations based on
// the value of the KeySpec property of the KMS key that is created by or
// used in the operation").
func (k *condKeys) meta() *store.Key {
	if k.key != nil {
		return &k.key.meta
	}
	return k.req.newKey
}

// Lookup implements policy.KeyLookup. name is in lower case.
func (k *condKeys) Lookup(name string) (policy.Values, bool) {
	const ecPrefix = "kms:encryptioncontext:"
	switch {
	case strings.HasPrefix(name, ecPrefix):
		return k.encryptionContext(name[len(ecPrefix):])
	case strings.HasPrefix(name, "aws:resourcetag/"):
		if k.key == nil {
			return policy.Values{}, false
		}
		return storeTag(k.key.meta.Tags, name[len("aws:resourcetag/"):])
	case strings.HasPrefix(name, "aws:requesttag/"):
		sub := name[len("aws:requesttag/"):]
		for i := range k.req.tags {
			if t := wire.Value(k.req.tags[i].TagKey); len(t) == len(sub) && strings.EqualFold(t, sub) {
				return policy.String(wire.Value(k.req.tags[i].TagValue)), true
			}
		}
		return policy.Values{}, false
	}
	str := func(s string) (policy.Values, bool) {
		if s == "" {
			return policy.Values{}, false
		}
		return policy.String(s), true
	}
	boolp := func(b *bool) (policy.Values, bool) {
		if b == nil {
			return policy.Values{}, false
		}
		return policy.Bool(*b), true
	}
	m := k.meta()
	switch name {
	case "kms:encryptioncontextkeys":
		if len(k.req.encCtx) == 0 {
			return policy.Values{}, false
		}
		keys := make([]string, 0, len(k.req.encCtx))
		for key := range k.req.encCtx {
			keys = append(keys, key)
		}
		slices.Sort(keys)
		return policy.Strings(keys), true
	case "kms:keyspec", "kms:customermasterkeyspec":
		if m != nil {
			return str(m.KeySpec)
		}
	case "kms:keyusage", "kms:customermasterkeyusage":
		if m != nil {
			return str(m.KeyUsage)
		}
	case "kms:keyorigin":
		if m != nil {
			return str(m.Origin)
		}
	case "kms:multiregion":
		if m != nil {
			return policy.Bool(m.MultiRegion), true
		}
	case "kms:multiregionkeytype":
		// PRIMARY or REPLICA; absent for a single-Region key
		// (conditions-kms.md, kms:MultiRegionKeyType).
		if m != nil && m.MultiRegion {
			if isReplica(m) {
				return policy.String(mrkReplica), true
			}
			return policy.String(mrkPrimary), true
		}
	case "kms:replicaregion":
		return str(k.req.replicaRegion)
	case "kms:primaryregion":
		return str(k.req.primaryRegion)
	case "kms:resourcealiases":
		if k.key != nil && k.aliases != nil {
			return policy.Strings(k.aliases), true
		}
	case "kms:encryptionalgorithm":
		return str(k.req.encAlg)
	case "kms:signingalgorithm":
		return str(k.req.signAlg)
	case "kms:messagetype":
		return str(k.req.msgType)
	case "kms:macalgorithm":
		return str(k.req.macAlg)
	case "kms:keyagreementalgorithm":
		return str(k.req.agreeAlg)
	case "kms:datakeypairspec":
		return str(k.req.pairSpec)
	case "kms:requestalias":
		return str(k.req.requestAlias)
	case "kms:bypasspolicylockoutsafetycheck":
		return boolp(k.req.bypass)
	case "kms:schedulekeydeletionpendingwindowindays":
		return str(k.req.window)
	case "kms:rotationperiodindays":
		return str(k.req.rotation)
	case "kms:reencryptonsamekey":
		return boolp(k.req.sameKey)
	case "kms:grantoperations", "kms:granteeprincipal", "kms:retiringprincipal", "kms:grantconstrainttype", "kms:grantisforawsresource":
		if g := k.req.grant; g != nil {
			return g.lookup(name)
		}
	case "aws:tagkeys":
		if len(k.req.tagKeys) > 0 {
			return policy.Strings(k.req.tagKeys), true
		}
		if len(k.req.tags) > 0 {
			keys := make([]string, len(k.req.tags))
			for i := range k.req.tags {
				keys[i] = wire.Value(k.req.tags[i].TagKey)
			}
			return policy.Strings(keys), true
		}
	}
	return policy.Values{}, false
}

// encryptionContext resolves kms:EncryptionContext:<sub>. The <key> part
// matches without regard to case (conditions-kms.md, "Case sensitivity of
// the encryption context condition"); if two pairs differ only in the
// case of their keys, the condition key has both values, as
// policy.ContextKeys.SetEncryptionContext does.
func (k *condKeys) encryptionContext(sub string) (policy.Values, bool) {
	var first string
	var found int
	var more []string
	for key, v := range k.req.encCtx {
		if len(key) != len(sub) || !strings.EqualFold(key, sub) {
			continue
		}
		switch found {
		case 0:
			first = v
		case 1:
			more = []string{first, v}
		default:
			more = append(more, v)
		}
		found++
	}
	switch {
	case found == 0:
		return policy.Values{}, false
	case found == 1:
		return policy.String(first), true
	}
	slices.Sort(more)
	return policy.Strings(more), true
}

func storeTag(tags []store.Tag, sub string) (policy.Values, bool) {
	for i := range tags {
		if len(tags[i].Key) == len(sub) && strings.EqualFold(tags[i].Key, sub) {
			return policy.String(tags[i].Value), true
		}
	}
	return policy.Values{}, false
}

// compileKeyPolicy parses a stored key policy for the cache. A stored
// policy that no longer parses (written by a release that did not
// validate policies) cannot be enforced as written; the key then gets a
// policy that denies everything, the strict answer, and the cause is
// logged once per load.
func (s *Service) compileKeyPolicy(ctx context.Context, ck *cachedKey) {
	p, err := keyPolicies.compile(ck.meta.Policy)
	if err != nil {
		s.log.ErrorContext(ctx, "stored key policy does not parse; every request on the key is denied until the policy is replaced",
			"key_arn", ck.arn, "err", err)
		p = denyAllPolicy
	}
	ck.policy = p
	ck.usesAliases = policyUsesKey(p, "kms:resourcealiases")
}

// keyPolicies shares compiled key policies between keys whose policy
// text is the same: every key created with the default key policy of an
// account has the same text, so a cached key does not keep a compiled copy
// of its own (about a third of a cached key's heap before), and loading a
// key does not parse it again. A compiled policy is immutable.
var keyPolicies = &policyCache{m: newLRU[[sha256.Size]byte, *policy.Policy](policyCacheSize)}

// policyCacheSize bounds the distinct key policy texts kept compiled.
// Keys whose policies fall out of it keep theirs; a later load compiles
// it again.
const policyCacheSize = 512

// policyCache maps the SHA-256 of a key policy's text to the policy
// compiled from it; it keeps no text.
type policyCache struct {
	mu sync.Mutex
	m  *lru[[sha256.Size]byte, *policy.Policy]
}

// compile returns the compiled key policy of text, from the cache when it
// was compiled before. A text that does not parse is not cached.
func (c *policyCache) compile(text string) (*policy.Policy, error) {
	h := sha256.Sum256([]byte(text))
	c.mu.Lock()
	p, ok := c.m.get(h)
	c.mu.Unlock()
	if ok {
		return p, nil
	}
	p, err := policy.Parse(text, policy.KeyPolicy)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.m.put(h, p)
	c.mu.Unlock()
	return p, nil
}

var denyAllPolicy = func() *policy.Policy {
	p, err := policy.Parse(`{"Version":"2012-10-17","Statement":[{"Sid":"StoredPolicyUnreadable","Effect":"Deny","Principal":"*","Action":"*","Resource":"*"}]}`, policy.KeyPolicy)
	if err != nil {
		panic(err)
	}
	return p
}()

// aliasesCache is the lazily loaded alias list of a cached key.
type aliasesCache = atomic.Pointer[[]string]

// windowValue formats a PendingWindowInDays for the condition key.
func windowValue(days int) string { return strconv.Itoa(days) }

// lookup resolves the grant condition keys.
func (g *grantReq) lookup(name string) (policy.Values, bool) {
	switch name {
	case "kms:grantoperations":
		if len(g.ops) > 0 {
			return policy.Strings(g.ops), true
		}
	case "kms:granteeprincipal":
		if g.grantee != "" {
			return policy.String(g.grantee), true
		}
	case "kms:retiringprincipal":
		if g.retiring != "" {
			return policy.String(g.retiring), true
		}
	case "kms:grantconstrainttype":
		switch len(g.constraintTypes) {
		case 0:
		case 1:
			return policy.String(g.constraintTypes[0]), true
		default:
			return policy.Strings(g.constraintTypes), true
		}
	case "kms:grantisforawsresource":
		if g.forAWS != nil {
			return policy.Bool(*g.forAWS), true
		}
	}
	return policy.Values{}, false
}
