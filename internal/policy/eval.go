package policy

import (
	"fmt"
	"strings"
)

// statement is a compiled statement.
type statement struct {
	idx          int
	sid          string
	deny         bool
	principal    *principalSet // nil in identity policies
	notPrincipal bool
	actions      []pattern
	notAction    bool
	resources    []arnPattern
	notResource  bool
	anyResource  bool // trust policies have no Resource
	conds        []cond
}

// principalSet is a compiled Principal or NotPrincipal element.
type principalSet struct {
	any       bool
	accounts  []string // account ids, from "111122223333" or "arn:…:iam::111122223333:root"
	arns      []string // user, role session and federated-user ARNs: exact match
	roles     []string // role ARNs: match the role's sessions (by Principal.RoleARN)
	services  []string
	federated []string
}

func compilePrincipals(p *Principals) *principalSet {
	ps := &principalSet{any: p.Any}
	for _, v := range p.AWS {
		switch {
		case v == "*":
		case isAccountID(v):
			ps.accounts = append(ps.accounts, v)
		default:
			parts, _ := splitARN(v, false)
			switch {
			case parts[2] == "iam" && parts[5] == "root":
				ps.accounts = append(ps.accounts, parts[4])
			case parts[2] == "iam" && strings.HasPrefix(parts[5], "role/"):
				ps.roles = append(ps.roles, v)
			default:
				ps.arns = append(ps.arns, v)
			}
		}
	}
	ps.services = p.Service
	ps.federated = p.Federated
	return ps
}

// principalMatch says how a principal element matched the caller.
type principalMatch uint8

const (
	pmNone    principalMatch = iota
	pmAccount                // the caller's account is named: delegation to its IAM policies
	pmDirect                 // the caller itself (or "*") is named
)

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// match reports how ps names the caller. A role ARN matches the role's
// sessions: KMS documents key policy statements naming a role as applying
// to "principals who can assume the role" (conditions-kms.md), and AWS
// support confirmed it for resource policies in general
// (stackoverflow.com/questions/73696226, "an IAM role Principal in a
// resource-based policy does affect role session principals for that
// role").
func (ps *principalSet) match(p *Principal) principalMatch {
	if ps.any {
		return pmDirect
	}
	switch p.Type {
	case PrincipalService:
		if contains(ps.services, p.Service) {
			return pmDirect
		}
		return pmNone
	case PrincipalWebIdentity:
		if contains(ps.federated, p.Federated) {
			return pmDirect
		}
		return pmNone
	}
	if p.Type == PrincipalAssumedRole && p.RoleARN != "" && contains(ps.roles, p.RoleARN) {
		return pmDirect
	}
	if p.Type != PrincipalAccount && contains(ps.arns, p.ARN) {
		return pmDirect
	}
	if contains(ps.accounts, p.Account) {
		if p.Type == PrincipalAccount {
			return pmDirect // the root user is the account principal itself
		}
		return pmAccount
	}
	return pmNone
}

// excludes reports whether a NotPrincipal element exempts the caller. AWS
// checks every identity in the caller's chain: for a role session, "you
// must also include the ARN of the role and the account" (IAM User Guide,
// NotPrincipal; wording recalled, inferred). So a caller is exempt only
// when each of its identities — session or user ARN, role ARN, account —
// is listed.
func (ps *principalSet) excludes(p *Principal) bool {
	if ps.any {
		return true
	}
	switch p.Type {
	case PrincipalService:
		return contains(ps.services, p.Service)
	case PrincipalWebIdentity:
		return contains(ps.federated, p.Federated)
	case PrincipalAccount:
		return contains(ps.accounts, p.Account)
	case PrincipalAssumedRole:
		return contains(ps.arns, p.ARN) && contains(ps.roles, p.RoleARN) && contains(ps.accounts, p.Account)
	}
	return contains(ps.arns, p.ARN) && contains(ps.accounts, p.Account)
}

// applies reports whether s applies to r and, for resource-based
// documents, how its principal matched (pmDirect for identity policies).
// A condition whose policy variable does not resolve makes the statement
// not apply.
func (s *statement) applies(r *Request) principalMatch {
	pm := pmDirect
	if s.principal != nil {
		if s.notPrincipal {
			if s.principal.excludes(&r.Principal) {
				return pmNone
			}
		} else if pm = s.principal.match(&r.Principal); pm == pmNone {
			return pmNone
		}
	}
	if !s.matchAction(r.Action) || !s.matchResource(r) {
		return pmNone
	}
	for i := range s.conds {
		res, ok := s.conds[i].eval(r)
		if !ok || !res {
			return pmNone
		}
	}
	return pm
}

func (s *statement) matchAction(a string) bool {
	found := false
	for i := range s.actions {
		if m, _ := s.actions[i].match(a, true, nil); m {
			found = true
			break
		}
	}
	return found != s.notAction
}

func (s *statement) matchResource(r *Request) bool {
	if s.anyResource {
		return true
	}
	found := false
	for i := range s.resources {
		m, ok := s.resources[i].match(r.Resource, r)
		if !ok {
			// An unresolved variable: this entry cannot match; for
			// NotResource the statement must not apply either.
			if s.notResource {
				return false
			}
			continue
		}
		if m {
			found = true
			break
		}
	}
	return found != s.notResource
}

// Effect is the outcome of an evaluation.
type Effect uint8

const (
	ImplicitDeny Effect = iota // no statement allows
	Allow
	ExplicitDeny
)

func (e Effect) String() string {
	switch e {
	case Allow:
		return "Allow"
	case ExplicitDeny:
		return "ExplicitDeny"
	}
	return "ImplicitDeny"
}

// Denial names the AccessDenied message variant that applies.
type Denial uint8

const (
	NotDenied Denial = iota
	// DenyNoResourceAllow: the resource policy (key or trust policy)
	// neither names the caller nor its account for the action.
	DenyNoResourceAllow
	// DenyNoIdentityAllow: the resource policy delegates to IAM (or the
	// call crosses accounts) and no identity policy allows the action.
	DenyNoIdentityAllow
	// DenyExplicitResource: a Deny statement in the resource policy applies.
	DenyExplicitResource
	// DenyExplicitIdentity: a Deny statement in an identity policy applies.
	DenyExplicitIdentity
)

// Source says which document decided.
type Source uint8

const (
	SourceNone Source = iota
	SourceResource
	SourceIdentity
)

func (s Source) String() string {
	switch s {
	case SourceResource:
		return "resource"
	case SourceIdentity:
		return "identity"
	}
	return "none"
}

// Decision is the result of [Evaluate]: whether the request is allowed,
// why, and which statements decided. Reasons are constant strings, so an
// evaluation allocates nothing.
type Decision struct {
	Allowed bool
	Effect  Effect
	Denial  Denial
	// Source, PolicyIndex (index into the identity policies when Source is
	// SourceIdentity), Statement (index in that document, -1 if none) and
	// Sid identify the deciding statement: the Deny that applied, or the
	// Allow that completed the authorization.
	Source      Source
	PolicyIndex int
	Statement   int
	Sid         string
	// ResourceStatement and ResourceSid identify the resource-policy Allow
	// that admitted the caller when an identity policy completed the
	// authorization (-1 when none).
	ResourceStatement int
	ResourceSid       string
	Reason            string
}

// Reasons, for audit records.
const (
	ReasonResourceDeny      = "explicit deny in the resource-based policy"
	ReasonIdentityDeny      = "explicit deny in an identity-based policy"
	ReasonResourceAllow     = "allowed by the resource-based policy"
	ReasonDelegatedAllow    = "the resource-based policy allows the account and an identity-based policy allows the caller"
	ReasonCrossAccountAllow = "allowed by the resource-based policy and by an identity-based policy of the caller's account"
	ReasonRootAllow         = "the resource-based policy allows the caller's account and the caller is the account's root user"
	ReasonIdentityAllow     = "allowed by an identity-based policy"
	ReasonRootIdentity      = "the caller is the account's root user"
	ReasonNoResourceAllow   = "no resource-based policy allows the action"
	ReasonNoIdentityAllow   = "no identity-based policy allows the action"
)

// Evaluate decides r against a resource-based policy (a KMS key policy or
// a role's trust policy; nil for actions that have no resource policy,
// such as kms:CreateKey) and the caller's identity policies. It allocates
// nothing.
//
// The logic is AWS's for KMS keys, which is also the logic of role trust
// policies (IAM User Guide, reference_policies_evaluation-logic;
// KMS Developer Guide, "Troubleshooting AWS KMS permissions", policy
// evaluation flowchart):
//
//  1. A Deny that applies in any document wins (explicit deny). The
//     resource policy is checked first, so its message wins when both deny
//     (our choice; AWS's order is not documented).
//  2. With a resource policy: it must allow the request, naming the
//     caller directly (its ARN, its role, "*", a service or a federated
//     provider) or naming the caller's account (the root ARN or account
//     id), which delegates to the account's IAM policies. The root user is
//     not exempt: without such a statement it is denied too ("IAM policies
//     by themselves are not sufficient to allow access to a CMK",
//     KMS Developer Guide quoted in awsdocs/iam-user-guide#98).
//     A direct allow in the same account suffices. Delegation, and any
//     cross-account call, also need an Allow in an identity policy of the
//     caller, except for the root user, whose identity is allowed
//     everything in its account. Service and web-identity callers have no
//     identity policies and need a direct allow.
//  3. Without a resource policy: an identity policy must allow (the root
//     user is allowed).
func Evaluate(r *Request, resource *Policy, identity ...*Policy) Decision {
	d := Decision{Statement: -1, ResourceStatement: -1, PolicyIndex: -1}
	// 1. Explicit denies.
	if resource != nil {
		for i := range resource.stmts {
			s := &resource.stmts[i]
			if s.deny && s.applies(r) != pmNone {
				return denied(d, ExplicitDeny, DenyExplicitResource, SourceResource, -1, s, ReasonResourceDeny)
			}
		}
	}
	hasIdentity := r.Principal.Type != PrincipalService && r.Principal.Type != PrincipalWebIdentity
	if hasIdentity {
		for pi, p := range identity {
			if p == nil {
				continue
			}
			for i := range p.stmts {
				s := &p.stmts[i]
				if s.deny && s.applies(r) != pmNone {
					return denied(d, ExplicitDeny, DenyExplicitIdentity, SourceIdentity, pi, s, ReasonIdentityDeny)
				}
			}
		}
	}
	root := r.Principal.Type == PrincipalAccount

	// 2 and 3. Allows.
	var resAllow *statement
	resMatch := pmNone
	if resource != nil {
		for i := range resource.stmts {
			s := &resource.stmts[i]
			if s.deny {
				continue
			}
			if m := s.applies(r); m > resMatch {
				resMatch, resAllow = m, s
				if m == pmDirect {
					break
				}
			}
		}
		if resMatch == pmNone {
			d.Effect, d.Denial, d.Reason = ImplicitDeny, DenyNoResourceAllow, ReasonNoResourceAllow
			return d
		}
		d.ResourceStatement, d.ResourceSid = resAllow.idx, resAllow.sid
		sameAccount := r.ResourceAccount == "" || r.ResourceAccount == r.Principal.Account
		if resMatch == pmDirect && (sameAccount || !hasIdentity) {
			return allowed(d, SourceResource, -1, resAllow, ReasonResourceAllow)
		}
		if !hasIdentity {
			d.Effect, d.Denial, d.Reason = ImplicitDeny, DenyNoResourceAllow, ReasonNoResourceAllow
			return d
		}
		if root {
			return allowed(d, SourceResource, -1, resAllow, ReasonRootAllow)
		}
	} else if root {
		d.Allowed, d.Effect, d.Source, d.Reason = true, Allow, SourceNone, ReasonRootIdentity
		return d
	}
	if hasIdentity {
		for pi, p := range identity {
			if p == nil {
				continue
			}
			for i := range p.stmts {
				s := &p.stmts[i]
				if !s.deny && s.applies(r) != pmNone {
					reason := ReasonIdentityAllow
					if resource != nil {
						reason = ReasonDelegatedAllow
						if r.ResourceAccount != "" && r.ResourceAccount != r.Principal.Account {
							reason = ReasonCrossAccountAllow
						}
					}
					return allowed(d, SourceIdentity, pi, s, reason)
				}
			}
		}
	}
	d.Effect, d.Denial, d.Reason = ImplicitDeny, DenyNoIdentityAllow, ReasonNoIdentityAllow
	return d
}

func denied(d Decision, e Effect, den Denial, src Source, pi int, s *statement, reason string) Decision {
	d.Effect, d.Denial, d.Source, d.PolicyIndex, d.Statement, d.Sid, d.Reason = e, den, src, pi, s.idx, s.sid, reason
	return d
}

func allowed(d Decision, src Source, pi int, s *statement, reason string) Decision {
	d.Allowed, d.Effect, d.Source, d.PolicyIndex, d.Statement, d.Sid, d.Reason = true, Allow, src, pi, s.idx, s.sid, reason
	return d
}

// Message returns the AccessDeniedException message AWS sends for d, or ""
// when d allows. callerARN is the caller's ARN, action e.g.
// "kms:Encrypt", resource the key ARN; an empty resource gives the form KMS
// uses for Decrypt without a KeyId, "on the resource associated with this
// ciphertext". Recorded forms:
//
//   - "User: arn:aws:sts::624384546187:assumed-role/…/xdr-collection is not
//     authorized to perform: kms:Decrypt on resource:
//     arn:aws:kms:eu-west-2:…:key/… because no identity-based policy allows
//     the kms:Decrypt action" (ministryofjustice/modernisation-platform#11726)
//   - "… is not authorized to perform: kms:DescribeKey on resource: … because
//     no resource-based policy allows the kms:DescribeKey action"
//     (jbrt/ec2cryptomatic#26; 4dn-dcic/tibanna#402 for kms:Decrypt)
//   - "… is not authorized to perform: kms:Decrypt on resource: … with an
//     explicit deny in a resource-based policy" (aws/aws-nitro-enclaves-sdk-c#157)
//   - "… with an explicit deny in an identity-based policy": the same form
//     with "identity-based" (inferred by symmetry; AWS uses it across
//     services, e.g. noobaa/noobaa-core#10060 quotes the resource-based one
//     for S3)
//   - "User xxxxxxx is not authorized to perform: kms:Decrypt on the resource
//     associated with this ciphertext because no identity-based policy
//     allows the kms:Decrypt action" (AWS IAM Identity Center user guide,
//     cmk-related-errors; "User:" with the colon as in the other forms)
func (d Decision) Message(callerARN, action, resource string) string {
	on := "on resource: " + resource
	if resource == "" {
		on = "on the resource associated with this ciphertext"
	}
	switch d.Denial {
	case DenyNoResourceAllow:
		return fmt.Sprintf("User: %s is not authorized to perform: %s %s because no resource-based policy allows the %s action", callerARN, action, on, action)
	case DenyNoIdentityAllow:
		return fmt.Sprintf("User: %s is not authorized to perform: %s %s because no identity-based policy allows the %s action", callerARN, action, on, action)
	case DenyExplicitResource:
		return fmt.Sprintf("User: %s is not authorized to perform: %s %s with an explicit deny in a resource-based policy", callerARN, action, on)
	case DenyExplicitIdentity:
		return fmt.Sprintf("User: %s is not authorized to perform: %s %s with an explicit deny in an identity-based policy", callerARN, action, on)
	}
	return ""
}

// CheckLockout is KMS's policy lockout safety check for CreateKey and
// PutKeyPolicy without BypassPolicyLockoutSafetyCheck: the new key policy,
// with the caller's identity policies, must allow the caller to call
// kms:PutKeyPolicy on the key. r describes the calling request; its Action
// is replaced. It returns an [*Error] with [MsgLockout] otherwise.
func CheckLockout(newPolicy *Policy, r Request, identity ...*Policy) error {
	r.Action = "kms:PutKeyPolicy"
	if d := Evaluate(&r, newPolicy, identity...); !d.Allowed {
		return &Error{Kind: KeyPolicy, Message: MsgLockout, Detail: "the new key policy does not allow the caller kms:PutKeyPolicy: " + d.Reason}
	}
	return nil
}

// PrincipalARNs returns the AWS principal ARNs and account ids that p
// names (in Principal and NotPrincipal), so that a caller can check that
// they exist: KMS rejects key policies naming principals it cannot see
// with [MsgInvalidPrincipals] ("The principal(s) specified in the key policy
// must exist and be visible to AWS KMS", PutKeyPolicy documentation).
func (p *Policy) PrincipalARNs() []string {
	var out []string
	for _, s := range p.Statements {
		for _, ps := range []*Principals{s.Principal, s.NotPrincipal} {
			if ps == nil {
				continue
			}
			for _, a := range ps.AWS {
				if a != "*" && !contains(out, a) {
					out = append(out, a)
				}
			}
		}
	}
	return out
}
