package api

import (
	"strings"

	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/quota"
	"github.com/trent-kms/trent/internal/wire"
)

// errThrottled is the answer to a request over a quota. The message is
// AWS KMS's, as clients recorded it: "Body:
// {"__type":"ThrottlingException","message":"You have exceeded the rate at
// which you may call KMS. Reduce the frequency of your calls."}"
// (hyperlane-xyz/hyperlane-monorepo pull request #2391), with "Status Code:
// 400; Error Code: ThrottlingException" (aws/aws-dynamodb-encryption-java
// issue #6). The AWS SDKs retry it with backoff: aws-sdk-go-v2 lists
// "ThrottlingException" among its throttle error codes
// (aws/retry/throttle_error.go, DefaultThrottleErrorCodes).
var errThrottled = &wire.Error{Code: "ThrottlingException",
	Message: "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls."}

// opQuotas maps X-Amz-Target to the quota an operation counts against
// before its key is known: management operations and GenerateRandom. The
// cryptographic operations are counted by [KeyThrottle] once their key is
// resolved.
var opQuotas = func() map[string]quota.ID {
	m := map[string]quota.ID{}
	for target := range routes {
		if id, ok := quota.ForOperation(strings.TrimPrefix(target, "TrentService.")); ok {
			m[target] = id
		}
	}
	return m
}()

// throttle applies the operation's own quota, if it has one, to the
// authenticated caller's account in the request's region.
func (h *Handler) throttle(c *kms.Caller, target string) error {
	if h.quotas == nil {
		return nil
	}
	id, ok := opQuotas[target]
	if !ok || h.quotas.Allow(c.AccountID, c.Region, id) {
		return nil
	}
	return errThrottled
}

// KeyThrottle returns the [kms.ThrottleFunc] that applies l's quotas by key
// type to cryptographic operations (see [quota.ForKey]). A nil l gives nil.
func KeyThrottle(l *quota.Limiter) kms.ThrottleFunc {
	if l == nil {
		return nil
	}
	return func(c *kms.Caller, action, keySpec, pairSpec string) error {
		id, ok := quota.ForKey(action, keySpec, pairSpec)
		if !ok || l.Allow(c.AccountID, c.Region, id) {
			return nil
		}
		return errThrottled
	}
}
