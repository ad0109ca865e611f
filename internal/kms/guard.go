package kms

import (
	"github.com/trent-kms/trent/internal/policy"
	"github.com/trent-kms/trent/internal/wire"
)

// guardPrincipal fails closed until the authorization engine evaluates
// identity and key policies for KMS: only an account's root user may call
// a KMS operation; any other principal (an IAM user today, an assumed role
// next) is refused with AccessDeniedException, never treated as
// root-equivalent. It is called from [Service.resolve], from Decrypt's
// lookup of the key named in the ciphertext, and from the operations
// without a key (CreateKey, ListKeys, ListAliases, GenerateRandom); the
// authorization branch replaces it.
//
// The wording is Trent's (AWS's message names the action, which this
// guard does not know): "User: ARN is not authorized to perform this
// operation because no identity-based policy allows it".
func guardPrincipal(c *Caller) error {
	if c.Identity.Type == policy.PrincipalAccount && c.Identity.Account == c.AccountID {
		return nil
	}
	return wire.Errorf("AccessDeniedException",
		"User: %s is not authorized to perform this operation because no identity-based policy allows it", c.Principal)
}
