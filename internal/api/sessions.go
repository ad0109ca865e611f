package api

import (
	"context"
	"errors"
	"net/http"
	"net/netip"

	"github.com/trent-kms/trent/internal/iam"
	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/sigv4"
	"github.com/trent-kms/trent/internal/wire"
)

// Role sessions. A request signed with a session access key (ASIA...)
// carries its session token in X-Amz-Security-Token. authenticateWith
// puts the token in the context of the SigV4 verification, the lookup
// authenticates it (iam.Service.Session: it opens under the root key,
// names this access key id, has not expired, and its role still exists)
// and gives the verifier the session's secret and the token check, and
// leaves the session for authenticateWith to build the caller from.

type sessionCtxKey struct{}

// sessionCtx carries a request's session token to the lookup and the
// authenticated session back.
type sessionCtx struct {
	token   string
	session *iam.Session
	caller  *kms.Caller
}

// sessionCredential is the SigV4 lookup of a session access key. A token
// that is missing, forged, altered, for another key or for a deleted role
// is UnrecognizedClientException (InvalidClientTokenId for IAM and STS);
// an expired one ExpiredTokenException (ExpiredToken).
func (h *Handler) sessionCredential(ctx context.Context, accessKeyID string) (sigv4.Credential, error) {
	sc, _ := ctx.Value(sessionCtxKey{}).(*sessionCtx)
	if sc == nil || sc.token == "" || h.iam == nil {
		return sigv4.Credential{}, sigv4.ErrUnknownAccessKey
	}
	sess, roleTags, err := h.iam.Session(ctx, accessKeyID, sc.token)
	switch {
	case errors.Is(err, iam.ErrSessionExpired):
		return sigv4.Credential{}, &wire.Error{Code: sigv4.CodeExpiredToken, Message: sigv4.MsgExpiredToken, Err: err}
	case errors.Is(err, iam.ErrInvalidSession):
		return sigv4.Credential{}, errors.Join(sigv4.ErrUnknownAccessKey, err)
	case err != nil:
		return sigv4.Credential{}, err
	}
	sc.session = sess
	sc.caller = &kms.Caller{AccountID: sess.AccountID, Principal: sess.ARN(), AccessKeyID: sess.AccessKeyID,
		Identity: sess.Principal(roleTags), SessionName: sess.Name}
	return sigv4.Credential{Secret: sess.Secret(), ValidToken: sess.ValidToken}, nil
}

// sessionCaller completes the caller of a verified session request.
func (h *Handler) sessionCaller(sc *sessionCtx, res sigv4.Result, r *http.Request) *kms.Caller {
	c := sc.caller
	c.Region, c.SecureTransport = res.Region, r.TLS != nil
	c.Authz = &kms.Authorization{}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		c.SourceIP = ap.Addr().Unmap()
	}
	return c
}
