// Package iam implements Trent's accounts and the subset of the AWS IAM
// and STS APIs it serves: users, roles, access keys, inline and managed
// policies, tags, GetCallerIdentity, and the Trent-specific account
// administration of the management account. It takes and returns the
// shapes generated from the IAM and STS models (internal/wire/query/iamapi
// and stsapi); HTTP stays in package api.
//
// # Identities
//
// A user's ARN is arn:PARTITION:iam::ACCOUNT:user/PATH/NAME and its id
// "AIDA" followed by 17 characters of base32; a role's is
// arn:PARTITION:iam::ACCOUNT:role/PATH/NAME and "AROA..."; a managed
// policy's arn:PARTITION:iam::ACCOUNT:policy/PATH/NAME and "ANPA...". The
// partition is that of the request's signing region ("aws-cn" for
// cn-north-1, otherwise "aws"). An access key row names its principal in
// the "aws" partition, whatever region created it, so that the key's
// sealed secret stays bound to one principal ARN.
//
// # Authorization
//
// An account's root user may call every IAM operation on its own account.
// Any other principal needs an Allow in one of its identity policies
// (inline or attached) for the action ("iam:CreateUser") on the resource
// (the user, role or policy ARN) and no explicit Deny, as evaluated by
// package policy; IAM has no resource policies. A principal never reaches
// another account: every operation acts on the caller's account.
//
// # Errors
//
// Methods return a *wire.Error whose Code is the IAM error code
// (NoSuchEntity, EntityAlreadyExists, DeleteConflict, LimitExceeded,
// MalformedPolicyDocument, AccessDenied, ...) and whose Message is IAM's
// wording, with its source cited beside it. Any other error is an internal
// failure, reported to the caller as ServiceFailure.
package iam
