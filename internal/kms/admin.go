package kms

import (
	"context"
	"strings"

	"github.com/trent-kms/trent/internal/wire"
)

// AuthorizeAdmin authorizes one of Trent's own administration actions
// ("trent:SearchAudit", "trent:GetRequestCounts", "trent:GetUsageReport";
// docs/audit.md) for c. They have no resource: the resource is "*" and
// only identity policies apply, as for kms:ListKeys, so an account's root
// user is allowed and an IAM user or role session needs an identity
// policy that allows the action. The decision is recorded on c.Authz for
// the audit trail; a refusal is an AccessDeniedException with AWS's
// message. An action that is not a trent: action is refused (fail closed).
func (s *Service) AuthorizeAdmin(ctx context.Context, c *Caller, action string) error {
	if !strings.HasPrefix(action, "trent:") {
		return &wire.Error{Code: "AccessDeniedException", Message: "User: " + callerARN(c) + " is not authorized to perform: " + action}
	}
	return s.authorizeAccount(ctx, c, action, nil)
}
