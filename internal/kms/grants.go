package kms

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/trent-kms/trent/internal/keyspec"
	"github.com/trent-kms/trent/internal/keystore"
	"github.com/trent-kms/trent/internal/policy"
	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/wire"
)

// Grants (docs/authorization.md, "Grants"). Sources, from the KMS
// Developer Guide (awsdocs/aws-kms-developer-guide, doc_source/grants.md,
// create-grant-overview.md, grant-manage.md) unless noted:
//
//   - "A grant can allow access to a KMS key, but not deny access": grants
//     are consulted only when the policies give an implicit deny; an
//     explicit Deny in the key policy or an identity policy still wins.
//   - "The grant operations that you allow must be supported by the KMS
//     key in the grant. If you specify an unsupported operation, the
//     CreateGrant request fails with a ValidationError exception."
//   - EncryptionContextEquals: "the encryption context pairs in the
//     request are an exact, case-sensitive match"; EncryptionContextSubset:
//     the request "include[s] all encryption context pairs in the grant
//     constraint (an exact, case-sensitive match), but the request can
//     also have additional encryption context pairs". The model
//     (GrantConstraints): "Grants with encryption context grant
//     constraints can include the DescribeKey and RetireGrant operations,
//     but the constraint doesn't apply to these operations."
//   - Child grants: "The grantee principal can only create grants that
//     allow some or all of the operations in the parent grant" and "the
//     grant constraints in the grants they create must be at least as
//     strict"; "the child grant can add pairs to an EncryptionContextSubset
//     constraint in the parent grant, but it cannot remove them. The child
//     grant can change an EncryptionContextSubset constraint to an
//     EncryptionContextEquals constraint, but not the reverse."
//   - Retiring: "A grant can be retired by an optional retiring principal
//     specified in the grant. The grantee principal can also retire the
//     grant, but only if they are also a retiring principal or the grant
//     includes the RetireGrant operation. As a backup, the AWS account in
//     which the grant was created can retire the grant", and "The AWS
//     account that owns the KMS key can use the kms:RetireGrant permission
//     to delegate permission to retire the grant to an IAM user in the
//     account"; "To deny permission to retire a grant, you can use a Deny
//     action with the kms:RetireGrant permission."
//   - Revoking: "The RevokeGrant API can be called by any principal with
//     kms:RevokeGrant permission"; a grant cannot give it (RevokeGrant is
//     not a grant operation).

// Actions of the grant operations.
const (
	actCreateGrant         = "kms:CreateGrant"
	actRetireGrant         = "kms:RetireGrant"
	actListRetirableGrants = "kms:ListRetirableGrants"
)

var (
	opCreateGrant = keyOp{actCreateGrant, false, true}
	opListGrants  = keyOp{"kms:ListGrants", false, true}
	opRevokeGrant = keyOp{"kms:RevokeGrant", false, true}
)

// ReasonGrant is the reason recorded in a Check when a grant allowed the
// request; Check.GrantID names the grant.
const ReasonGrant = "allowed by a grant"

// DefaultGrantsPerKey is AWS's default quota of grants per KMS key
// ("Grants per KMS key: 50,000", resource-limits.md).
const DefaultGrantsPerKey = 50_000

// Grant operations by key type: grants.md, "Grant operations" ("grants for
// symmetric encryption KMS keys cannot allow the Sign, Verify, GenerateMac
// or VerifyMac operations. Grants for asymmetric KMS keys cannot allow any
// operations that generate data keys or data key pairs"), and the key type
// table of symm-asymm-compare.md for the operations each usage supports.
var (
	grantOpsAnyKey       = []string{"CreateGrant", "DescribeKey", "RetireGrant"}
	grantOpsSymmetric    = []string{"Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "ReEncryptFrom", "ReEncryptTo"}
	grantOpsAsymEncrypt  = []string{"Decrypt", "Encrypt", "ReEncryptFrom", "ReEncryptTo", "GetPublicKey"}
	grantOpsSignVerify   = []string{"Sign", "Verify", "GetPublicKey"}
	grantOpsMAC          = []string{"GenerateMac", "VerifyMac"}
	grantOpsKeyAgreement = []string{"DeriveSharedSecret", "GetPublicKey"}
	grantOpsKEM          = []string{"Encapsulate", "Decapsulate", "GetPublicKey"}
)

// grantOpsFor returns the grant operations the key supports besides
// grantOpsAnyKey.
func grantOpsFor(k *store.Key) []string {
	switch {
	case k.KeySpec == specSymmetric:
		return grantOpsSymmetric
	case k.KeyUsage == keyspec.UsageEncryptDecrypt:
		return grantOpsAsymEncrypt
	case k.KeyUsage == keyspec.UsageSignVerify:
		return grantOpsSignVerify
	case k.KeyUsage == keyspec.UsageGenerateVerifyMAC:
		return grantOpsMAC
	case k.KeyUsage == keyspec.UsageKeyAgreement:
		return grantOpsKeyAgreement
	case k.KeyUsage == keyspec.UsageEncapsulateDecapsulate:
		return grantOpsKEM
	}
	return nil
}

// contextOps are the grant operations whose requests carry an encryption
// context, to which encryption context constraints apply.
var contextOps = map[string]bool{
	"Decrypt": true, "Encrypt": true, "GenerateDataKey": true, "GenerateDataKeyWithoutPlaintext": true,
	"GenerateDataKeyPair": true, "GenerateDataKeyPairWithoutPlaintext": true, "ReEncryptFrom": true, "ReEncryptTo": true,
}

// grantOperation returns the grant operation of an action ("kms:Encrypt" →
// "Encrypt"), or "" when no grant can allow the action.
func grantOperation(action string) string {
	op, ok := strings.CutPrefix(action, "kms:")
	if !ok || !slices.Contains(wire.GrantOperationValues, op) {
		return ""
	}
	return op
}

// matchesPrincipal reports whether the grant principal want (a grantee or
// retiring principal) names the caller p: its own ARN, or for a role
// session the role's ARN (a grant "to a role" applies to the principals
// who assume it, as key policy statements naming a role do: see
// policy.principalSet.match; for grants, inferred). An account's root ARN
// names the root user only, not the account's IAM users and roles: that a
// grant to an account delegates to its IAM users is not documented for
// grants, so the strict reading is taken (inferred; security).
func matchesPrincipal(want string, p *policy.Principal) bool {
	if want == "" {
		return false
	}
	if want == p.ARN {
		return true
	}
	return p.Type == policy.PrincipalAssumedRole && p.RoleARN != "" && want == p.RoleARN
}

// grantApplies reports whether g allows op for the caller p on its key,
// with the request's encryption context. A grant to a service principal,
// and any grant with a SourceArn constraint, requires aws:SourceArn,
// which requests that come directly from clients never have, so it
// allows nothing here (the strict answer; its RetireGrant is decided by
// retireAllowed).
func grantApplies(g *store.Grant, p *policy.Principal, op string, encCtx map[string]string, child *store.Grant) bool {
	if g.SourceArn != "" || !matchesPrincipal(g.GranteePrincipal, p) || !slices.Contains(g.Operations, op) {
		return false
	}
	if op == "CreateGrant" {
		return child != nil && childAllowed(g, child)
	}
	if !contextOps[op] {
		return true
	}
	return contextSatisfies(g.EncryptionContextEquals, g.EncryptionContextSubset, encCtx)
}

// contextSatisfies checks an encryption context against the constraints:
// nil maps are absent constraints. Keys and values compare exactly (case
// sensitive).
func contextSatisfies(equals, subset, encCtx map[string]string) bool {
	if equals != nil && !maps.Equal(equals, encCtx) {
		return false
	}
	return subset == nil || includes(encCtx, subset)
}

// includes reports whether every pair of sub is in m.
func includes(m, sub map[string]string) bool {
	for k, v := range sub {
		if w, ok := m[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// childAllowed reports whether a grantee whose CreateGrant permission
// comes from parent may create child: its operations are a subset of
// parent's and its constraints at least as strict. An Equals constraint
// in the parent requires the same Equals in the child; a Subset
// constraint requires its pairs in the child's Subset or Equals. A
// SourceArn in the parent requires the same SourceArn (inferred; strict).
func childAllowed(parent, child *store.Grant) bool {
	for _, op := range child.Operations {
		if !slices.Contains(parent.Operations, op) {
			return false
		}
	}
	if parent.EncryptionContextEquals != nil &&
		(child.EncryptionContextEquals == nil || !maps.Equal(parent.EncryptionContextEquals, child.EncryptionContextEquals)) {
		return false
	}
	if parent.EncryptionContextSubset != nil {
		inEquals := child.EncryptionContextEquals != nil && includes(child.EncryptionContextEquals, parent.EncryptionContextSubset)
		inSubset := child.EncryptionContextSubset != nil && includes(child.EncryptionContextSubset, parent.EncryptionContextSubset)
		if !inEquals && !inSubset {
			return false
		}
	}
	return parent.SourceArn == "" || parent.SourceArn == child.SourceArn
}

// grantFor looks for a grant that allows action on ck for the caller p:
// one of the key's grants (cached with the key), or one named by a grant
// token of the request, read from the store so that a grant created on
// another node is usable at once. It returns the grant's id, or "". A
// key that is not Enabled gives no use through its grants.
func (s *Service) grantFor(ctx context.Context, p *policy.Principal, action string, ck *cachedKey, req *condReq) (string, error) {
	op := grantOperation(action)
	if op == "" || ck.meta.KeyState != stateEnabled {
		return "", nil
	}
	gs, err := s.keyGrants(ctx, ck)
	if err != nil {
		return "", err
	}
	var child *store.Grant
	var tokens []grantRef
	if req.grant != nil {
		child, tokens = req.grant.child, req.grant.tokens
	}
	for i := range gs {
		if grantApplies(&gs[i], p, op, req.encCtx, child) {
			return gs[i].GrantID, nil
		}
	}
	ref := ck.meta.Ref()
	for _, t := range tokens {
		if t.ref != ref {
			continue
		}
		g, err := s.store.GetGrant(ctx, ref, t.grantID)
		if errors.Is(err, store.ErrNotFound) {
			continue // retired or revoked: the token gives nothing
		}
		if err != nil {
			return "", fmt.Errorf("load grant %s of %s: %w", t.grantID, ck.arn, err)
		}
		if g.AccountID == ck.meta.AccountID && grantApplies(&g, p, op, req.encCtx, child) {
			return g.GrantID, nil
		}
	}
	return "", nil
}

// keyGrants returns the grants of ck, loading them once per cached key:
// grant writes on this node drop the key from the cache, and other nodes
// reload it within Config.CacheTTL, so a revoked grant stops working
// everywhere within the TTL. They are loaded only when a request would
// otherwise be denied, so keys used under their policies never load them.
func (s *Service) keyGrants(ctx context.Context, ck *cachedKey) ([]store.Grant, error) {
	if p := ck.grants.Load(); p != nil {
		return *p, nil
	}
	gs, err := s.store.ListGrants(ctx, ck.meta.Ref(), store.GrantFilter{})
	if err != nil {
		return nil, fmt.Errorf("list grants of %s: %w", ck.arn, err)
	}
	if gs == nil {
		gs = []store.Grant{}
	}
	ck.grants.Store(&gs)
	return gs, nil
}

// Grant tokens.
//
// A token is base64 (standard alphabet) of: version byte 1, the grant id
// (32 bytes), and the key's region, account and id, length-prefixed,
// sealed under the root key with keystore.BoundAAD("trent/grant-token/v1",
// grant id). It reveals the grant id only (ListGrants shows it too);
// nothing else about the grant can be read from it, and a token whose
// sealed part was made for another grant, or changed, does not open.
// Each CreateGrant returns a new token (the seal's nonce is random), as
// the model says ("the returned grant token is unique with every
// CreateGrant request"). Tokens are not secrets in AWS ("a unique,
// nonsecret ... string", grants.md) but Trent never logs them.

const (
	grantTokenLabel   = "trent/grant-token/v1"
	grantTokenVersion = 1
)

// grantRef names a grant: its key and id.
type grantRef struct {
	ref       store.KeyRef
	accountID string
	grantID   string
}

// grantToken returns a new token for g.
func (s *Service) grantToken(g *store.Grant) (string, error) {
	id, err := hex.DecodeString(g.GrantID)
	if err != nil || len(id) != 32 {
		return "", fmt.Errorf("grant token: bad grant id %q", g.GrantID)
	}
	var payload []byte
	for _, f := range []string{g.Region, g.AccountID, g.KeyID} {
		payload = binary.BigEndian.AppendUint16(payload, uint16(len(f)))
		payload = append(payload, f...)
	}
	sealed, err := s.root.Seal(payload, keystore.BoundAAD(grantTokenLabel, g.GrantID))
	if err != nil {
		return "", fmt.Errorf("seal grant token: %w", err)
	}
	b := append([]byte{grantTokenVersion}, id...)
	return base64.StdEncoding.EncodeToString(append(b, sealed...)), nil
}

// errInvalidGrantToken is InvalidGrantTokenException. The message is the
// exception's documentation in the model ("The request was rejected
// because the specified grant token is not valid."); no recorded AWS
// message was found (inferred). The token itself is never put in the
// message or the cause.
func errInvalidGrantToken(cause string) error {
	return &wire.Error{Code: "InvalidGrantTokenException", Message: "The request was rejected because the specified grant token is not valid.",
		Err: errors.New("grant token: " + cause)}
}

// parseGrantToken authenticates a token and returns the grant it names.
func (s *Service) parseGrantToken(tok string) (grantRef, error) {
	b, err := base64.StdEncoding.DecodeString(tok)
	if err != nil || len(b) < 1+32 || b[0] != grantTokenVersion {
		return grantRef{}, errInvalidGrantToken("malformed")
	}
	grantID := hex.EncodeToString(b[1:33])
	payload, err := s.root.Open(b[33:], keystore.BoundAAD(grantTokenLabel, grantID))
	if err != nil {
		return grantRef{}, errInvalidGrantToken("does not authenticate")
	}
	var f [3]string
	for i := range f {
		if len(payload) < 2 {
			return grantRef{}, errInvalidGrantToken("bad payload")
		}
		n := int(binary.BigEndian.Uint16(payload))
		if len(payload) < 2+n {
			return grantRef{}, errInvalidGrantToken("bad payload")
		}
		f[i], payload = string(payload[2:2+n]), payload[2+n:]
	}
	if len(payload) != 0 {
		return grantRef{}, errInvalidGrantToken("bad payload")
	}
	return grantRef{ref: store.KeyRef{Region: f[0], KeyID: f[2]}, accountID: f[1], grantID: grantID}, nil
}

// parseGrantTokens validates the GrantTokens of a request: every token
// must be one this server issued (AWS: "InvalidGrantTokenException: The
// request was rejected because the specified grant token is not valid",
// model). The wire layer has already refused more than 10 tokens
// (GrantTokenList, max 10). A valid token of a retired grant, or of
// another key, gives nothing but is not an error.
func (s *Service) parseGrantTokens(toks []string) ([]grantRef, error) {
	if len(toks) == 0 {
		return nil, nil
	}
	out := make([]grantRef, 0, len(toks))
	for _, t := range toks {
		r, err := s.parseGrantToken(t)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// tokenReq returns a condReq carrying the request's grant tokens, or nil
// (no condition keys) when there are none.
func (s *Service) tokenReq(toks []string) (*condReq, error) {
	refs, err := s.parseGrantTokens(toks)
	if err != nil || refs == nil {
		return nil, err
	}
	return &condReq{grant: &grantReq{tokens: refs}}, nil
}

// CreateGrant adds a grant to a key and returns its id and a token.
func (s *Service) CreateGrant(ctx context.Context, c *Caller, in *wire.CreateGrantRequest) (*wire.CreateGrantResponse, error) {
	toks, err := s.parseGrantTokens(in.GrantTokens)
	if err != nil {
		return nil, err
	}
	g, err := grantFromRequest(in)
	if err != nil {
		return nil, err
	}
	var types []string
	if g.EncryptionContextEquals != nil {
		types = append(types, "EncryptionContextEquals")
	}
	if g.EncryptionContextSubset != nil {
		types = append(types, "EncryptionContextSubset")
	}
	notForAWS := false
	req := condReq{grant: &grantReq{
		tokens: toks, child: &g, ops: g.Operations, grantee: g.Grantee(), retiring: g.Retiring(),
		constraintTypes: types, forAWS: &notForAWS,
	}}
	ck, err := s.resolve(ctx, c, wire.Value(in.KeyId), opCreateGrant, &req)
	if err != nil {
		return nil, err
	}
	switch ck.meta.KeyState {
	case stateEnabled:
	case stateDisabled:
		return nil, errDisabled(ck.arn)
	default:
		return nil, invalidState(ck.arn, ck.meta.KeyState)
	}
	if err := checkGrantForKey(&g, &ck.meta); err != nil {
		return nil, err
	}
	for _, p := range []string{g.GranteePrincipal, g.RetiringPrincipal} {
		if err := s.checkGrantPrincipal(ctx, c, p); err != nil {
			return nil, err
		}
	}
	if wire.Value(in.DryRun) {
		return nil, errDryRun()
	}
	g.Region, g.KeyID, g.AccountID = ck.meta.Region, ck.meta.KeyID, ck.meta.AccountID
	g.IssuingAccount = "arn:" + Partition(c.Region) + ":iam::" + c.AccountID + ":root"
	g.CreationDate = s.now()
	if g.Name != "" {
		// "If AWS KMS gets a CreateGrant request for a grant with the same
		// properties as an existing grant, including the name, it
		// recognizes the request as a retry, and does not create a new
		// grant" (create-grant-overview.md).
		same, err := s.store.ListGrants(ctx, ck.meta.Ref(), store.GrantFilter{Name: g.Name})
		if err != nil {
			return nil, fmt.Errorf("list grants of %s: %w", ck.arn, err)
		}
		for i := range same {
			if sameGrant(&same[i], &g) {
				return s.grantResponse(&same[i])
			}
		}
	}
	var id [32]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, fmt.Errorf("grant id: %w", err)
	}
	g.GrantID = hex.EncodeToString(id[:])
	err = s.store.CreateGrant(ctx, g, s.quotas.GrantsPerKey)
	s.forgetKey(ck.meta.Ref())
	switch {
	case errors.Is(err, store.ErrQuota):
		// The message is ours, in the form of AWS's recorded quota messages
		// (checkAliasQuota); no recorded message for grants was found
		// (inferred).
		q := s.quotas.GrantsPerKey
		return nil, limitExceeded("Grants per key quota for this account in this region is %d, current usage is %d.", q, q)
	case errors.Is(err, store.ErrNotFound):
		return nil, errKeyNotFound(ck.arn)
	case err != nil:
		return nil, err
	}
	s.log.InfoContext(ctx, "grant created", "key_arn", ck.arn, "grant_id", g.GrantID, "grantee", g.Grantee(), "operations", g.Operations)
	return s.grantResponse(&g)
}

func (s *Service) grantResponse(g *store.Grant) (*wire.CreateGrantResponse, error) {
	tok, err := s.grantToken(g)
	if err != nil {
		return nil, err
	}
	return &wire.CreateGrantResponse{GrantId: &g.GrantID, GrantToken: &tok}, nil
}

// sameGrant reports whether a and b have the same properties (Name
// included), ignoring their ids, dates and issuing accounts.
func sameGrant(a, b *store.Grant) bool {
	sorted := func(ops []string) []string {
		o := slices.Clone(ops)
		slices.Sort(o)
		return slices.Compact(o)
	}
	eqMap := func(x, y map[string]string) bool { return (x == nil) == (y == nil) && maps.Equal(x, y) }
	return a.Name == b.Name && a.GranteePrincipal == b.GranteePrincipal && a.GranteeServicePrincipal == b.GranteeServicePrincipal &&
		a.RetiringPrincipal == b.RetiringPrincipal && a.RetiringServicePrincipal == b.RetiringServicePrincipal &&
		slices.Equal(sorted(a.Operations), sorted(b.Operations)) && a.SourceArn == b.SourceArn &&
		eqMap(a.EncryptionContextEquals, b.EncryptionContextEquals) && eqMap(a.EncryptionContextSubset, b.EncryptionContextSubset)
}

// grantFromRequest checks the parts of a CreateGrant request that do not
// depend on the key. The rules are the model's (CreateGrantRequest): "You
// must specify either GranteePrincipal or GranteeServicePrincipal, but not
// both"; "When you specify a GranteeServicePrincipal, you must also
// specify a SourceArn grant constraint. In addition, you must specify
// either a RetiringPrincipal or a RetiringServicePrincipal"; "You can
// specify either RetiringPrincipal or RetiringServicePrincipal, but not
// both". The messages for these are ours (inferred). "Grants must not
// contain only the CreateGrant operation." is AWS's, recorded
// (ansible/ansible pull request #31960).
func grantFromRequest(in *wire.CreateGrantRequest) (store.Grant, error) {
	g := store.Grant{
		Name:                     wire.Value(in.Name),
		GranteePrincipal:         wire.Value(in.GranteePrincipal),
		GranteeServicePrincipal:  wire.Value(in.GranteeServicePrincipal),
		RetiringPrincipal:        wire.Value(in.RetiringPrincipal),
		RetiringServicePrincipal: wire.Value(in.RetiringServicePrincipal),
	}
	for _, op := range in.Operations {
		if !slices.Contains(g.Operations, op) {
			g.Operations = append(g.Operations, op)
		}
	}
	if in.Constraints != nil {
		g.EncryptionContextEquals = maps.Clone(in.Constraints.EncryptionContextEquals)
		g.EncryptionContextSubset = maps.Clone(in.Constraints.EncryptionContextSubset)
		g.SourceArn = wire.Value(in.Constraints.SourceArn)
	}
	switch {
	case (g.GranteePrincipal == "") == (g.GranteeServicePrincipal == ""):
		return g, validationError("You must specify either GranteePrincipal or GranteeServicePrincipal, but not both.")
	case g.RetiringPrincipal != "" && g.RetiringServicePrincipal != "":
		return g, validationError("You can specify either RetiringPrincipal or RetiringServicePrincipal, but not both.")
	case g.GranteeServicePrincipal != "" && g.SourceArn == "":
		return g, validationError("A grant for a GranteeServicePrincipal must have a SourceArn constraint.")
	case g.GranteeServicePrincipal != "" && g.Retiring() == "":
		return g, validationError("A grant for a GranteeServicePrincipal must have a RetiringPrincipal or a RetiringServicePrincipal.")
	case len(g.Operations) == 0:
		return g, validationError("1 validation error detected: Value '[]' at 'operations' failed to satisfy constraint: Member must have length greater than or equal to 1")
	case len(g.Operations) == 1 && g.Operations[0] == "CreateGrant":
		return g, validationError("Grants must not contain only the CreateGrant operation.")
	}
	return g, nil
}

// checkGrantForKey refuses operations the key does not support and
// encryption context constraints on a key that takes no encryption
// context ("You cannot use an encryption context grant constraint for
// cryptographic operations with asymmetric KMS keys or HMAC KMS keys",
// model). The messages are ours (inferred); the exception is the one
// AWS's documentation names.
func checkGrantForKey(g *store.Grant, k *store.Key) error {
	var bad []string
	for _, op := range g.Operations {
		if !slices.Contains(grantOpsAnyKey, op) && !slices.Contains(grantOpsFor(k), op) {
			bad = append(bad, op)
		}
	}
	if len(bad) > 0 {
		return validationError(fmt.Sprintf("Grant operations %s are not supported for a KMS key with KeySpec %s and KeyUsage %s.",
			"["+strings.Join(bad, ", ")+"]", k.KeySpec, k.KeyUsage))
	}
	if k.KeySpec != specSymmetric && (g.EncryptionContextEquals != nil || g.EncryptionContextSubset != nil) {
		return validationError("Encryption context grant constraints are supported only for symmetric encryption KMS keys.")
	}
	return nil
}

// checkGrantPrincipal refuses a grantee or retiring principal that is not
// an IAM principal ARN of an existing account (and, when
// Config.PrincipalExists is set, an existing IAM principal), with AWS's
// answer: "InvalidArnException ... ARN does not refer to a valid principal:
// arn:aws:iam::785415555008:role/…" (recorded from CreateGrant in a public
// repository's client code, quoted in a comment there). Service
// principals are checked by the wire layer's pattern.
func (s *Service) checkGrantPrincipal(ctx context.Context, c *Caller, arn string) error {
	if arn == "" {
		return nil
	}
	invalid := &wire.Error{Code: "InvalidArnException", Message: "ARN does not refer to a valid principal: " + arn}
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[1] != Partition(c.Region) || parts[3] != "" {
		return invalid
	}
	res := parts[5]
	switch {
	case parts[2] == "iam" && (res == "root" || strings.HasPrefix(res, "user/") || strings.HasPrefix(res, "role/")):
	case parts[2] == "sts" && (strings.HasPrefix(res, "assumed-role/") || strings.HasPrefix(res, "federated-user/")):
	default:
		return invalid
	}
	ok, err := s.accountExists(ctx, parts[4])
	if err != nil {
		return err
	}
	if !ok {
		return invalid
	}
	if res != "root" && s.principalExists != nil {
		ok, err := s.principalExists(ctx, arn)
		if err != nil {
			return fmt.Errorf("check principal %s: %w", arn, err)
		}
		if !ok {
			return invalid
		}
	}
	return nil
}

// errInvalidGrantID is InvalidGrantIdException for a GrantId that cannot
// be a grant id (64 hexadecimal characters, grants.md and the model's
// example); the message is ours (inferred).
func errInvalidGrantID() error {
	return wire.Errorf("InvalidGrantIdException", "Invalid grant ID.")
}

func validGrantID(id string) bool {
	if len(id) != 64 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

// errGrantNotFound is NotFoundException for a well-formed grant id that
// the key does not have (the message is ours, inferred).
func errGrantNotFound(id string) error {
	return wire.Errorf("NotFoundException", "Grant ID %s not found.", id)
}

// ListGrants lists the grants of a key, filtered by grant id or grantee.
func (s *Service) ListGrants(ctx context.Context, c *Caller, in *wire.ListGrantsRequest) (*wire.ListGrantsResponse, error) {
	if in.GranteePrincipal != nil && in.GranteeServicePrincipal != nil {
		return nil, validationError("You can specify either GranteePrincipal or GranteeServicePrincipal, but not both.")
	}
	notForAWS := false
	ck, err := s.resolve(ctx, c, wire.Value(in.KeyId), opListGrants, &condReq{grant: &grantReq{forAWS: &notForAWS}})
	if err != nil {
		return nil, err
	}
	limit, after, err := pageArgs(in.Limit, in.Marker, 50)
	if err != nil {
		return nil, err
	}
	f := store.GrantFilter{After: after, Limit: limit + 1, Grantee: wire.Value(in.GranteePrincipal)}
	if in.GranteeServicePrincipal != nil {
		f.Grantee = *in.GranteeServicePrincipal
	}
	if in.GrantId != nil {
		if !validGrantID(*in.GrantId) {
			return nil, errInvalidGrantID()
		}
		f.GrantID = *in.GrantId
	}
	gs, err := s.store.ListGrants(ctx, ck.meta.Ref(), f)
	if err != nil {
		return nil, fmt.Errorf("list grants of %s: %w", ck.arn, err)
	}
	out := &wire.ListGrantsResponse{Grants: []wire.GrantListEntry{}, Truncated: wire.Ptr(false)}
	if len(gs) > limit {
		gs = gs[:limit]
		out.Truncated = wire.Ptr(true)
		out.NextMarker = wire.Ptr(encodeMarker(gs[len(gs)-1].GrantID))
	}
	for i := range gs {
		out.Grants = append(out.Grants, grantEntry(&gs[i]))
	}
	return out, nil
}

// grantEntry is the GrantListEntry of g: every field AWS returns (KeyId
// as the key ARN; IssuingAccount as the account's root ARN; Name only
// when the grant has one, as the model says). For a grant to a service
// the GranteePrincipal field holds the service principal too (model,
// ListGrants: "the GranteePrincipal field contains an Amazon Web Services
// service principal").
func grantEntry(g *store.Grant) wire.GrantListEntry {
	e := wire.GrantListEntry{
		KeyId:            wire.Ptr(KeyARN(g.Region, g.AccountID, g.KeyID)),
		GrantId:          wire.Ptr(g.GrantID),
		CreationDate:     wire.NewTimestamp(g.CreationDate),
		GranteePrincipal: wire.Ptr(g.Grantee()),
		IssuingAccount:   wire.Ptr(g.IssuingAccount),
		Operations:       slices.Clone(g.Operations),
	}
	if g.Name != "" {
		e.Name = wire.Ptr(g.Name)
	}
	if g.GranteeServicePrincipal != "" {
		e.GranteeServicePrincipal = wire.Ptr(g.GranteeServicePrincipal)
	}
	if g.RetiringPrincipal != "" {
		e.RetiringPrincipal = wire.Ptr(g.RetiringPrincipal)
	}
	if g.RetiringServicePrincipal != "" {
		e.RetiringServicePrincipal = wire.Ptr(g.RetiringServicePrincipal)
	}
	if g.EncryptionContextEquals != nil || g.EncryptionContextSubset != nil || g.SourceArn != "" {
		e.Constraints = &wire.GrantConstraints{
			EncryptionContextEquals: maps.Clone(g.EncryptionContextEquals),
			EncryptionContextSubset: maps.Clone(g.EncryptionContextSubset),
		}
		if g.SourceArn != "" {
			e.Constraints.SourceArn = wire.Ptr(g.SourceArn)
		}
	}
	return e
}

// ListRetirableGrants lists the grants, on keys of any account in the
// region, whose retiring principal is the one given. It needs
// kms:ListRetirableGrants in the caller's identity policies on the
// retiring principal ("The authorized resource in ListRetirableGrants
// calls is the retiring principal specified in the request", model), and
// the principal must be in the caller's account ("You must specify a
// principal in your Amazon Web Services account"; another account's is
// AccessDeniedException, inferred).
func (s *Service) ListRetirableGrants(ctx context.Context, c *Caller, in *wire.ListRetirableGrantsRequest) (*wire.ListGrantsResponse, error) {
	retiring := wire.Value(in.RetiringPrincipal)
	switch {
	case in.RetiringPrincipal != nil && in.RetiringServicePrincipal != nil:
		return nil, validationError("You must specify either RetiringPrincipal or RetiringServicePrincipal, but not both.")
	case in.RetiringServicePrincipal != nil:
		retiring = *in.RetiringServicePrincipal
	case in.RetiringPrincipal == nil:
		return nil, validationError("You must specify either RetiringPrincipal or RetiringServicePrincipal, but not both.")
	}
	if in.RetiringPrincipal != nil {
		parts := strings.SplitN(retiring, ":", 6)
		if len(parts) != 6 || parts[0] != "arn" {
			return nil, &wire.Error{Code: "InvalidArnException", Message: "ARN does not refer to a valid principal: " + retiring}
		}
		if parts[4] != c.AccountID {
			d := policy.Decision{Effect: policy.ImplicitDeny, Denial: policy.DenyNoIdentityAllow, Statement: -1, ResourceStatement: -1, PolicyIndex: -1,
				Reason: "the retiring principal is not in the caller's account"}
			authzOf(c).record(Check{Action: actListRetirableGrants, Resource: retiring, Decision: d})
			return nil, &wire.Error{Code: "AccessDeniedException", Message: d.Message(callerARN(c), actListRetirableGrants, retiring),
				Err: errors.New(d.Reason)}
		}
	}
	if err := s.authorize(ctx, c, actListRetirableGrants, retiring, nil, nil, retiring); err != nil {
		return nil, err
	}
	limit, after, err := pageArgs(in.Limit, in.Marker, 50)
	if err != nil {
		return nil, err
	}
	afterGrant, afterKey := "", ""
	if after != "" {
		var ok bool
		if afterGrant, afterKey, ok = strings.Cut(after, "/"); !ok {
			return nil, errInvalidMarker()
		}
	}
	gs, err := s.store.ListRetirableGrants(ctx, c.Region, retiring, afterGrant, afterKey, limit+1)
	if err != nil {
		return nil, fmt.Errorf("list retirable grants: %w", err)
	}
	out := &wire.ListGrantsResponse{Grants: []wire.GrantListEntry{}, Truncated: wire.Ptr(false)}
	if len(gs) > limit {
		gs = gs[:limit]
		last := gs[len(gs)-1]
		out.Truncated = wire.Ptr(true)
		out.NextMarker = wire.Ptr(encodeMarker(last.GrantID + "/" + last.KeyID))
	}
	for i := range gs {
		out.Grants = append(out.Grants, grantEntry(&gs[i]))
	}
	return out, nil
}

// RevokeGrant deletes a grant. It is authorized like any key operation
// (kms:RevokeGrant in the key policy, and IAM where the policy delegates);
// no grant can allow it.
func (s *Service) RevokeGrant(ctx context.Context, c *Caller, in *wire.RevokeGrantRequest) error {
	notForAWS := false
	ck, err := s.resolve(ctx, c, wire.Value(in.KeyId), opRevokeGrant, &condReq{grant: &grantReq{forAWS: &notForAWS}})
	if err != nil {
		return err
	}
	id := wire.Value(in.GrantId)
	if !validGrantID(id) {
		return errInvalidGrantID()
	}
	if _, err := s.store.GetGrant(ctx, ck.meta.Ref(), id); errors.Is(err, store.ErrNotFound) {
		return errGrantNotFound(id)
	} else if err != nil {
		return err
	}
	if wire.Value(in.DryRun) {
		return errDryRun()
	}
	return s.deleteGrant(ctx, ck, id, "grant revoked")
}

func (s *Service) deleteGrant(ctx context.Context, ck *cachedKey, id, msg string) error {
	err := s.store.DeleteGrant(ctx, ck.meta.Ref(), id)
	s.forgetKey(ck.meta.Ref())
	if errors.Is(err, store.ErrNotFound) {
		return errGrantNotFound(id)
	}
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, msg, "key_arn", ck.arn, "grant_id", id)
	return nil
}

// RetireGrant deletes a grant named by its token, or by key and grant id.
// Who may retire is decided by the grant (see the package comment at the
// top of this file): its retiring principal; its grantee when it includes
// RetireGrant; the account that created it (its root user, or its IAM
// principals whose identity policies allow kms:RetireGrant); and, when the
// retiring principal is an account, that account's IAM principals allowed
// by their identity policies. An explicit Deny of kms:RetireGrant in an
// identity policy or the key policy refuses.
func (s *Service) RetireGrant(ctx context.Context, c *Caller, in *wire.RetireGrantRequest) error {
	var ck *cachedKey
	var grantID string
	switch {
	case in.GrantToken != nil:
		t, err := s.parseGrantToken(*in.GrantToken)
		if err != nil {
			return err
		}
		if t.ref.Region != c.Region {
			return errInvalidGrantToken("token of another region")
		}
		ck, err = s.loadKey(ctx, t.ref)
		if errors.Is(err, store.ErrNotFound) || err == nil && ck.meta.AccountID != t.accountID {
			return errKeyNotFound(KeyARN(t.ref.Region, t.accountID, t.ref.KeyID))
		}
		if err != nil {
			return err
		}
		grantID = t.grantID
	case in.KeyId != nil && in.GrantId != nil:
		var err error
		if ck, _, err = s.find(ctx, c, *in.KeyId, false); err != nil {
			return err
		}
		grantID = *in.GrantId
		if !validGrantID(grantID) {
			return errInvalidGrantID()
		}
	default:
		// The message is ours (inferred).
		return validationError("To retire a grant, specify its GrantToken, or its KeyId and GrantId.")
	}
	g, err := s.store.GetGrant(ctx, ck.meta.Ref(), grantID)
	if errors.Is(err, store.ErrNotFound) {
		return errGrantNotFound(grantID)
	}
	if err != nil {
		return err
	}
	if err := s.authorizeRetire(ctx, c, ck, &g); err != nil {
		return err
	}
	if wire.Value(in.DryRun) {
		return errDryRun()
	}
	return s.deleteGrant(ctx, ck, grantID, "grant retired")
}

// authorizeRetire decides RetireGrant of g on ck for c and records it.
func (s *Service) authorizeRetire(ctx context.Context, c *Caller, ck *cachedKey, g *store.Grant) error {
	a := authzOf(c)
	if c.Identity.Type == 0 && c.Principal != "" && !strings.HasSuffix(c.Principal, ":root") {
		return &wire.Error{Code: "AccessDeniedException", Message: fmt.Sprintf("User: %s is not authorized to perform: %s", c.Principal, actRetireGrant),
			Err: fmt.Errorf("caller %s has no policy principal", c.Principal)}
	}
	idp, err := s.identityPolicies(ctx, c, a)
	if err != nil {
		return err
	}
	p := identity(c)
	r := &policy.Request{Action: actRetireGrant, Resource: ck.arn, ResourceAccount: ck.meta.AccountID, Principal: p,
		SourceIP: c.SourceIP, SecureTransport: c.SecureTransport, Time: s.now()}
	// Explicit denies: the caller's identity policies, and the key policy
	// (the strict reading of "you can use a Deny action with the
	// kms:RetireGrant permission").
	viaIAM := policy.Evaluate(&policy.Request{Action: r.Action, Resource: r.Resource, Principal: p, SourceIP: r.SourceIP,
		SecureTransport: r.SecureTransport, Time: r.Time}, nil, idp...)
	d := viaIAM
	if kd := policy.Evaluate(r, ck.policy); kd.Effect == policy.ExplicitDeny {
		d = kd
	}
	grantID := ""
	if d.Effect != policy.ExplicitDeny {
		issuer := "arn:" + Partition(ck.meta.Region) + ":iam::" + p.Account + ":root"
		switch {
		case matchesPrincipal(g.RetiringPrincipal, &p):
			d = policy.Decision{Allowed: true, Effect: policy.Allow, Statement: -1, ResourceStatement: -1, PolicyIndex: -1, Reason: "the caller is the grant's retiring principal"}
		case matchesPrincipal(g.GranteePrincipal, &p) && slices.Contains(g.Operations, "RetireGrant"):
			d = policy.Decision{Allowed: true, Effect: policy.Allow, Statement: -1, ResourceStatement: -1, PolicyIndex: -1, Reason: ReasonGrant}
			grantID = g.GrantID
		case viaIAM.Allowed && (g.IssuingAccount == issuer || g.RetiringPrincipal == issuer):
			// The root user of the issuing (or retiring) account, or an IAM
			// principal of it allowed kms:RetireGrant by its policies.
		default:
			d = policy.Decision{Effect: policy.ImplicitDeny, Denial: policy.DenyNoResourceAllow, Statement: -1, ResourceStatement: -1, PolicyIndex: -1,
				Reason: "the grant does not let the caller retire it"}
		}
	}
	a.record(Check{Action: actRetireGrant, Resource: ck.arn, Decision: d, GrantID: grantID})
	if d.Allowed {
		return nil
	}
	cross := ck.meta.AccountID != p.Account
	return &wire.Error{Code: "AccessDeniedException", Message: deniedMessage(d, callerARN(c), actRetireGrant, ck.arn, cross),
		Err: fmt.Errorf("%s on %s: %s", actRetireGrant, ck.arn, d.Reason)}
}
