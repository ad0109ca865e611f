package kms

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/trent-kms/trent/internal/policy"
	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/wire"
)

// checkPolicyName accepts only "default", the one key policy name AWS has.
func checkPolicyName(name *string) error {
	if name != nil && *name != defaultPolicyName {
		return wire.Errorf("NotFoundException", "No such policy exists")
	}
	return nil
}

// GetKeyPolicy returns a key's policy document exactly as it was put.
func (s *Service) GetKeyPolicy(ctx context.Context, c *Caller, in *wire.GetKeyPolicyRequest) (*wire.GetKeyPolicyResponse, error) {
	ck, err := s.resolve(ctx, c, wire.Value(in.KeyId), opGetKeyPolicy, nil)
	if err != nil {
		return nil, err
	}
	if err := checkPolicyName(in.PolicyName); err != nil {
		return nil, err
	}
	return &wire.GetKeyPolicyResponse{Policy: wire.Ptr(ck.meta.Policy), PolicyName: wire.Ptr(defaultPolicyName)}, nil
}

// PutKeyPolicy replaces a key's policy document after validating it (see
// checkKeyPolicy). The document is stored exactly as given and takes
// effect for the next request.
func (s *Service) PutKeyPolicy(ctx context.Context, c *Caller, in *wire.PutKeyPolicyRequest) error {
	req := condReq{bypass: in.BypassPolicyLockoutSafetyCheck}
	ck, err := s.resolve(ctx, c, wire.Value(in.KeyId), opPutKeyPolicy, &req)
	if err != nil {
		return err
	}
	if err := checkPolicyName(in.PolicyName); err != nil {
		return err
	}
	doc := wire.Value(in.Policy)
	req.newKey = &ck.meta
	if err := s.checkKeyPolicy(ctx, c, doc, ck.arn, wire.Value(in.BypassPolicyLockoutSafetyCheck), &req); err != nil {
		return err
	}
	_, err = s.update(ctx, ck, func(k *store.Key) error {
		k.Policy = doc
		return nil
	})
	return err
}

// ListKeyPolicies lists a key's policy names: always just "default".
func (s *Service) ListKeyPolicies(ctx context.Context, c *Caller, in *wire.ListKeyPoliciesRequest) (*wire.ListKeyPoliciesResponse, error) {
	if _, _, err := pageArgs(in.Limit, in.Marker, 100); err != nil {
		return nil, err
	}
	if _, err := s.resolve(ctx, c, wire.Value(in.KeyId), opListKeyPolicies, nil); err != nil {
		return nil, err
	}
	return &wire.ListKeyPoliciesResponse{PolicyNames: []string{defaultPolicyName}, Truncated: wire.Ptr(false)}, nil
}

// checkKeyPolicy validates a key policy given to CreateKey or PutKeyPolicy
// for the key keyARN, in AWS's order as far as it is known: the size
// quota (LimitExceededException), the grammar (policy.Parse; a document
// that does not parse is MalformedPolicyDocumentException without a
// message, as AWS answers "not a real policy statement",
// aws/aws-sdk-ruby#1784), the principals (they "must exist and be visible
// to AWS KMS", PutKeyPolicy documentation in the model:
// policy.MsgInvalidPrincipals), and, unless bypass, the policy lockout
// safety check: the caller, with its identity policies, must keep
// kms:PutKeyPolicy under the new policy (policy.MsgLockout).
func (s *Service) checkKeyPolicy(ctx context.Context, c *Caller, doc, keyARN string, bypass bool, req *condReq) error {
	if err := s.checkPolicySize(doc); err != nil {
		return err
	}
	p, err := policy.Parse(doc, policy.KeyPolicy)
	if err != nil {
		return malformedPolicy(err)
	}
	if err := s.checkPrincipals(ctx, c, p); err != nil {
		return err
	}
	if bypass {
		return nil
	}
	a := authzOf(c)
	idp, err := s.identityPolicies(ctx, c, a)
	if err != nil {
		return err
	}
	keys := condKeys{req: *req}
	r := policy.Request{
		Resource:        keyARN,
		ResourceAccount: c.AccountID,
		Principal:       identity(c),
		SourceIP:        c.SourceIP,
		SecureTransport: c.SecureTransport,
		Time:            s.now(),
		Keys:            &keys,
	}
	if err := policy.CheckLockout(p, r, idp...); err != nil {
		return malformedPolicy(err)
	}
	return nil
}

// malformedPolicy wraps a *policy.Error as MalformedPolicyDocumentException
// with AWS's message; the detail is kept as the cause for the logs.
func malformedPolicy(err error) error {
	var pe *policy.Error
	if errors.As(err, &pe) {
		return &wire.Error{Code: "MalformedPolicyDocumentException", Message: pe.Message, Err: err}
	}
	return err
}

// checkPrincipals refuses a key policy naming an AWS principal that does
// not exist: an account (by id or root ARN) that is not one of the
// store's accounts, an ARN of another partition than the caller's, or an
// IAM principal that Config.PrincipalExists does not know (when set).
func (s *Service) checkPrincipals(ctx context.Context, c *Caller, p *policy.Policy) error {
	invalid := func(detail string) error {
		return &wire.Error{Code: "MalformedPolicyDocumentException", Message: policy.MsgInvalidPrincipals,
			Err: errors.New("key policy principal: " + detail)}
	}
	for _, a := range p.PrincipalARNs() {
		account, arnResource := a, ""
		if strings.HasPrefix(a, "arn:") {
			parts := strings.SplitN(a, ":", 6)
			if len(parts) != 6 {
				return invalid(a + " is not an ARN")
			}
			if parts[1] != Partition(c.Region) {
				return invalid(a + " is in another partition")
			}
			account, arnResource = parts[4], parts[5]
		}
		ok, err := s.accountExists(ctx, account)
		if err != nil {
			return err
		}
		if !ok {
			return invalid("account " + account + " does not exist")
		}
		if arnResource != "" && arnResource != "root" && s.principalExists != nil {
			ok, err := s.principalExists(ctx, a)
			if err != nil {
				return fmt.Errorf("check principal %s: %w", a, err)
			}
			if !ok {
				return invalid(a + " does not exist")
			}
		}
	}
	return nil
}

// accountExists reports whether the account is one of the store's.
func (s *Service) accountExists(ctx context.Context, id string) (bool, error) {
	if !isAccountID(id) {
		return false, nil
	}
	_, err := s.store.GetAccount(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up account %s: %w", id, err)
	}
	return true, nil
}
