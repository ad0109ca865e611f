package api

import (
	"context"
	"time"

	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/wire"
)

// route describes one operation: its IAM action, the largest body it
// accepts and how long it may run.
type route struct {
	Action  string
	MaxBody int64
	Timeout time.Duration
	Handle  handler
}

// handler decodes a request body, calls the service and returns the
// decoded request, for the audit trail (nil when the body did not decode),
// and the response shape (nil for operations without output).
type handler func(ctx context.Context, s *kms.Service, c *kms.Caller, body []byte) (wire.AuditAppender, any, error)

const (
	smallBody  = 64 << 10 // crypto operations: 4 KiB plaintext or 6 KiB blob, base64, plus context
	policyBody = 1 << 20  // policy documents: 128 Ki characters, JSON-escaped
	opTimeout  = 10 * time.Second
)

// routes maps X-Amz-Target to the operation.
var routes = map[string]route{
	"TrentService.CreateKey":                       {"kms:CreateKey", policyBody, opTimeout, op((*kms.Service).CreateKey)},
	"TrentService.DescribeKey":                     {"kms:DescribeKey", smallBody, opTimeout, op((*kms.Service).DescribeKey)},
	"TrentService.ListKeys":                        {"kms:ListKeys", smallBody, opTimeout, op((*kms.Service).ListKeys)},
	"TrentService.EnableKey":                       {"kms:EnableKey", smallBody, opTimeout, opNoOutput((*kms.Service).EnableKey)},
	"TrentService.DisableKey":                      {"kms:DisableKey", smallBody, opTimeout, opNoOutput((*kms.Service).DisableKey)},
	"TrentService.ScheduleKeyDeletion":             {"kms:ScheduleKeyDeletion", smallBody, opTimeout, op((*kms.Service).ScheduleKeyDeletion)},
	"TrentService.CancelKeyDeletion":               {"kms:CancelKeyDeletion", smallBody, opTimeout, op((*kms.Service).CancelKeyDeletion)},
	"TrentService.UpdateKeyDescription":            {"kms:UpdateKeyDescription", smallBody, opTimeout, opNoOutput((*kms.Service).UpdateKeyDescription)},
	"TrentService.Encrypt":                         {"kms:Encrypt", smallBody, opTimeout, op((*kms.Service).Encrypt)},
	"TrentService.Decrypt":                         {"kms:Decrypt", smallBody, opTimeout, op((*kms.Service).Decrypt)},
	"TrentService.ReEncrypt":                       {"kms:ReEncrypt*", smallBody, opTimeout, op((*kms.Service).ReEncrypt)},
	"TrentService.GenerateDataKey":                 {"kms:GenerateDataKey", smallBody, opTimeout, op((*kms.Service).GenerateDataKey)},
	"TrentService.GenerateDataKeyWithoutPlaintext": {"kms:GenerateDataKeyWithoutPlaintext", smallBody, opTimeout, op((*kms.Service).GenerateDataKeyWithoutPlaintext)},
	"TrentService.GenerateRandom":                  {"kms:GenerateRandom", smallBody, opTimeout, op((*kms.Service).GenerateRandom)},
	"TrentService.CreateAlias":                     {"kms:CreateAlias", smallBody, opTimeout, opNoOutput((*kms.Service).CreateAlias)},
	"TrentService.UpdateAlias":                     {"kms:UpdateAlias", smallBody, opTimeout, opNoOutput((*kms.Service).UpdateAlias)},
	"TrentService.DeleteAlias":                     {"kms:DeleteAlias", smallBody, opTimeout, opNoOutput((*kms.Service).DeleteAlias)},
	"TrentService.ListAliases":                     {"kms:ListAliases", smallBody, opTimeout, op((*kms.Service).ListAliases)},
	"TrentService.TagResource":                     {"kms:TagResource", smallBody, opTimeout, opNoOutput((*kms.Service).TagResource)},
	"TrentService.UntagResource":                   {"kms:UntagResource", smallBody, opTimeout, opNoOutput((*kms.Service).UntagResource)},
	"TrentService.ListResourceTags":                {"kms:ListResourceTags", smallBody, opTimeout, op((*kms.Service).ListResourceTags)},
	"TrentService.GetKeyPolicy":                    {"kms:GetKeyPolicy", smallBody, opTimeout, op((*kms.Service).GetKeyPolicy)},
	"TrentService.PutKeyPolicy":                    {"kms:PutKeyPolicy", policyBody, opTimeout, opNoOutput((*kms.Service).PutKeyPolicy)},
	"TrentService.ListKeyPolicies":                 {"kms:ListKeyPolicies", smallBody, opTimeout, op((*kms.Service).ListKeyPolicies)},
	"TrentService.CreateGrant":                     {"kms:CreateGrant", smallBody, opTimeout, op((*kms.Service).CreateGrant)},
	"TrentService.ListGrants":                      {"kms:ListGrants", smallBody, opTimeout, op((*kms.Service).ListGrants)},
	"TrentService.ListRetirableGrants":             {"kms:ListRetirableGrants", smallBody, opTimeout, op((*kms.Service).ListRetirableGrants)},
	"TrentService.RetireGrant":                     {"kms:RetireGrant", smallBody, opTimeout, opNoOutput((*kms.Service).RetireGrant)},
	"TrentService.RevokeGrant":                     {"kms:RevokeGrant", smallBody, opTimeout, opNoOutput((*kms.Service).RevokeGrant)},
	"TrentService.EnableKeyRotation":               {"kms:EnableKeyRotation", smallBody, opTimeout, opNoOutput((*kms.Service).EnableKeyRotation)},
	"TrentService.DisableKeyRotation":              {"kms:DisableKeyRotation", smallBody, opTimeout, opNoOutput((*kms.Service).DisableKeyRotation)},
	"TrentService.GetKeyRotationStatus":            {"kms:GetKeyRotationStatus", smallBody, opTimeout, op((*kms.Service).GetKeyRotationStatus)},
	"TrentService.RotateKeyOnDemand":               {"kms:RotateKeyOnDemand", smallBody, opTimeout, op((*kms.Service).RotateKeyOnDemand)},
	"TrentService.ListKeyRotations":                {"kms:ListKeyRotations", smallBody, opTimeout, op((*kms.Service).ListKeyRotations)},
	"TrentService.GetKeyLastUsage":                 {"kms:GetKeyLastUsage", smallBody, opTimeout, op((*kms.Service).GetKeyLastUsage)},

	// Custom key stores (docs/hsm.md). Create and Update carry a trust
	// anchor certificate (up to 5000 characters) and secrets.
	"TrentService.CreateCustomKeyStore":     {"kms:CreateCustomKeyStore", smallBody, opTimeout, op((*kms.Service).CreateCustomKeyStore)},
	"TrentService.ConnectCustomKeyStore":    {"kms:ConnectCustomKeyStore", smallBody, opTimeout, op((*kms.Service).ConnectCustomKeyStore)},
	"TrentService.DisconnectCustomKeyStore": {"kms:DisconnectCustomKeyStore", smallBody, opTimeout, op((*kms.Service).DisconnectCustomKeyStore)},
	"TrentService.DescribeCustomKeyStores":  {"kms:DescribeCustomKeyStores", smallBody, opTimeout, op((*kms.Service).DescribeCustomKeyStores)},
	"TrentService.UpdateCustomKeyStore":     {"kms:UpdateCustomKeyStore", smallBody, opTimeout, op((*kms.Service).UpdateCustomKeyStore)},
	"TrentService.DeleteCustomKeyStore":     {"kms:DeleteCustomKeyStore", smallBody, opTimeout, op((*kms.Service).DeleteCustomKeyStore)},

	"TrentService.Sign":                                {"kms:Sign", smallBody, opTimeout, op((*kms.Service).Sign)},
	"TrentService.Verify":                              {"kms:Verify", smallBody, opTimeout, op((*kms.Service).Verify)},
	"TrentService.GetPublicKey":                        {"kms:GetPublicKey", smallBody, opTimeout, op((*kms.Service).GetPublicKey)},
	"TrentService.GenerateMac":                         {"kms:GenerateMac", smallBody, opTimeout, op((*kms.Service).GenerateMac)},
	"TrentService.VerifyMac":                           {"kms:VerifyMac", smallBody, opTimeout, op((*kms.Service).VerifyMac)},
	"TrentService.DeriveSharedSecret":                  {"kms:DeriveSharedSecret", smallBody, opTimeout, op((*kms.Service).DeriveSharedSecret)},
	"TrentService.Encapsulate":                         {"kms:Encapsulate", smallBody, opTimeout, op((*kms.Service).Encapsulate)},
	"TrentService.Decapsulate":                         {"kms:Decapsulate", smallBody, opTimeout, op((*kms.Service).Decapsulate)},
	"TrentService.GenerateDataKeyPair":                 {"kms:GenerateDataKeyPair", smallBody, opTimeout, op((*kms.Service).GenerateDataKeyPair)},
	"TrentService.GenerateDataKeyPairWithoutPlaintext": {"kms:GenerateDataKeyPairWithoutPlaintext", smallBody, opTimeout, op((*kms.Service).GenerateDataKeyPairWithoutPlaintext)},
}

// validator is implemented by every generated input shape.
type validator interface {
	Validate() error
	wire.AuditAppender
}

// op adapts a service method with output to a handler.
func op[In any, PIn interface {
	*In
	validator
	jsonDecoder
}, Out any](f func(*kms.Service, context.Context, *kms.Caller, PIn) (Out, error)) handler {
	return func(ctx context.Context, s *kms.Service, c *kms.Caller, body []byte) (wire.AuditAppender, any, error) {
		in := PIn(new(In))
		if err := decode(body, in); err != nil {
			return nil, nil, err
		}
		if err := in.Validate(); err != nil {
			return in, nil, err
		}
		out, err := f(s, ctx, c, in)
		return in, out, err
	}
}

// opNoOutput adapts a service method without output to a handler.
func opNoOutput[In any, PIn interface {
	*In
	validator
	jsonDecoder
}](f func(*kms.Service, context.Context, *kms.Caller, PIn) error) handler {
	return func(ctx context.Context, s *kms.Service, c *kms.Caller, body []byte) (wire.AuditAppender, any, error) {
		in := PIn(new(In))
		if err := decode(body, in); err != nil {
			return nil, nil, err
		}
		if err := in.Validate(); err != nil {
			return in, nil, err
		}
		return in, nil, f(s, ctx, c, in)
	}
}
