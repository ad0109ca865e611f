package kms

import (
	"context"
	"io"

	"github.com/trent-kms/trent/internal/keystore"
)

// EngineRequest is what an engine that calls out for each operation (an
// external key store's, which sends the XKS proxy its requestMetadata)
// knows of the KMS request it serves.
type EngineRequest struct {
	Ctx       context.Context // the request's deadline
	Principal string          // the caller's ARN
	Operation string          // the KMS operation, e.g. "GenerateDataKey"
	RequestID string          // the KMS request id
	KeyARN    string          // the KMS key's ARN
}

// RequestEngine is an [Engine] whose SealBlob and OpenBlob take the
// request; the operations call these methods when the engine has them.
type RequestEngine interface {
	SealBlobFor(r *EngineRequest, rand io.Reader, keyID string, pt []byte, encCtx map[string]string) ([]byte, string, error)
	OpenBlobFor(r *EngineRequest, c *keystore.Ciphertext, encCtx map[string]string) ([]byte, error)
}

type engineRequestKey struct{}

// WithEngineRequest returns ctx carrying r, for a backend's NewKey.
func WithEngineRequest(ctx context.Context, r *EngineRequest) context.Context {
	r.Ctx = ctx
	return context.WithValue(ctx, engineRequestKey{}, r)
}

// EngineRequestFrom returns the request ctx carries, or one with only
// ctx when it carries none.
func EngineRequestFrom(ctx context.Context) *EngineRequest {
	if r, ok := ctx.Value(engineRequestKey{}).(*EngineRequest); ok {
		return r
	}
	return &EngineRequest{Ctx: ctx}
}

// sealBlob seals pt under ck for the operation op of caller c.
func (s *Service) sealBlob(ctx context.Context, c *Caller, op string, ck *cachedKey, pt []byte, encCtx map[string]string) ([]byte, string, error) {
	if re, ok := ck.engine.(RequestEngine); ok {
		r := &EngineRequest{Ctx: ctx, Principal: c.Principal, Operation: op, RequestID: c.RequestID, KeyARN: ck.arn}
		return re.SealBlobFor(r, s.rand, ck.meta.KeyID, pt, encCtx)
	}
	return ck.engine.SealBlob(s.rand, ck.meta.KeyID, pt, encCtx)
}

// openBlob opens ct with ck for the operation op of caller c.
func (s *Service) openBlob(ctx context.Context, c *Caller, op string, ck *cachedKey, ct *keystore.Ciphertext, encCtx map[string]string) ([]byte, error) {
	if re, ok := ck.engine.(RequestEngine); ok {
		r := &EngineRequest{Ctx: ctx, Principal: c.Principal, Operation: op, RequestID: c.RequestID, KeyARN: ck.arn}
		return re.OpenBlobFor(r, ct, encCtx)
	}
	return ck.engine.OpenBlob(ct, encCtx)
}
