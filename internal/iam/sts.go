package iam

import (
	"context"

	"github.com/trent-kms/trent/internal/wire/query/stsapi"
)

// GetCallerIdentity returns the caller's user id, account and ARN. Every
// authenticated principal may call it: "No permissions are required to
// perform this operation." (the STS model, GetCallerIdentity). For the
// root user the UserId is the account id and the ARN
// arn:aws:iam::ACCOUNT:root, as AWS answers.
func (s *Service) GetCallerIdentity(ctx context.Context, c *Caller, _ *stsapi.GetCallerIdentityRequest) (*stsapi.GetCallerIdentityResponse, error) {
	return &stsapi.GetCallerIdentityResponse{UserId: ptr(c.Principal.UserID), Account: ptr(c.AccountID), Arn: ptr(c.callerARN())}, nil
}
