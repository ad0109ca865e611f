package kms

import (
	"context"

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
	ck, err := s.resolve(ctx, c, wire.Value(in.KeyId), false)
	if err != nil {
		return nil, err
	}
	if err := checkPolicyName(in.PolicyName); err != nil {
		return nil, err
	}
	return &wire.GetKeyPolicyResponse{Policy: wire.Ptr(ck.meta.Policy), PolicyName: wire.Ptr(defaultPolicyName)}, nil
}

// PutKeyPolicy replaces a key's policy document. The document is stored
// as given; enforcement is the policy package's job.
func (s *Service) PutKeyPolicy(ctx context.Context, c *Caller, in *wire.PutKeyPolicyRequest) error {
	ck, err := s.resolve(ctx, c, wire.Value(in.KeyId), false)
	if err != nil {
		return err
	}
	if err := checkPolicyName(in.PolicyName); err != nil {
		return err
	}
	policy := wire.Value(in.Policy)
	if err := s.checkPolicySize(policy); err != nil {
		return err
	}
	if err := checkPolicy(policy); err != nil {
		return err
	}
	_, err = s.update(ctx, ck, func(k *store.Key) error {
		k.Policy = policy
		return nil
	})
	return err
}

// ListKeyPolicies lists a key's policy names: always just "default".
func (s *Service) ListKeyPolicies(ctx context.Context, c *Caller, in *wire.ListKeyPoliciesRequest) (*wire.ListKeyPoliciesResponse, error) {
	if _, _, err := pageArgs(in.Limit, in.Marker, 100); err != nil {
		return nil, err
	}
	if _, err := s.resolve(ctx, c, wire.Value(in.KeyId), false); err != nil {
		return nil, err
	}
	return &wire.ListKeyPoliciesResponse{PolicyNames: []string{defaultPolicyName}, Truncated: wire.Ptr(false)}, nil
}
