package iam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/trent-kms/trent/internal/wire"
)

// OIDC providers: the OpenID Connect issuers whose ID tokens
// AssumeRoleWithWebIdentity accepts. As in AWS, a provider belongs to an
// account: its ARN is arn:aws:iam::ACCOUNT:oidc-provider/HOST/PATH (the
// issuer URL without its scheme), a role's trust policy names it as its
// Federated principal, and a token is accepted only by a provider of the
// role's account. Providers are configuration, not stored data: every
// node reads them from its config file (oidc_providers) and seed files
// (accounts[].oidc_providers) at start, and nodes sharing a store must be
// given the same ones.

// ProviderConfig declares a trusted OIDC issuer.
type ProviderConfig struct {
	AccountID string
	// URL is the issuer exactly as tokens carry it in iss, e.g.
	// https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE.
	URL string
	// Audiences are the accepted aud values (IAM's client ids); a token
	// must carry at least one.
	Audiences []string
	// JWKSFile is a JSON Web Key Set file with the issuer's public keys.
	JWKSFile string
	// Fetch reads the keys from the issuer instead: its discovery
	// document URL/.well-known/openid-configuration names jwks_uri. Keys
	// are fetched at first use and again, at most once a minute, when a
	// token names a key id they lack, and every hour.
	Fetch bool
	// Source names where it was declared, for errors ("config file",
	// "seed file x.yaml line 12").
	Source string
}

// Key returns the provider's name within its account: the issuer URL
// without the scheme, as in its ARN and condition keys.
func (p *ProviderConfig) Key() string {
	k := strings.TrimPrefix(strings.TrimPrefix(p.URL, "https://"), "http://")
	return strings.TrimSuffix(k, "/")
}

// ARN returns the provider's ARN in the "aws" partition.
func (p *ProviderConfig) ARN() string {
	return "arn:aws:iam::" + p.AccountID + ":oidc-provider/" + p.Key()
}

// Check validates a declaration.
func (p *ProviderConfig) Check() error {
	u, err := url.Parse(p.URL)
	switch {
	case err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return fmt.Errorf("oidc provider url %q: want https://HOST[/PATH]", p.URL)
	case u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())):
		return fmt.Errorf("oidc provider url %q: must be https (plain http only for a loopback host, for tests)", p.URL)
	case !accountIDRE.MatchString(p.AccountID):
		return fmt.Errorf("oidc provider %s: account %q is not 12 digits", p.URL, p.AccountID)
	case len(p.Audiences) == 0:
		return fmt.Errorf("oidc provider %s: audiences: at least one is required", p.URL)
	case (p.JWKSFile == "") == !p.Fetch:
		return fmt.Errorf("oidc provider %s: give exactly one of jwks_file and fetch: true", p.URL)
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// provider is a configured issuer with its keys.
type provider struct {
	cfg ProviderConfig

	mu      sync.Mutex
	keys    *jose.JSONWebKeySet
	fetched time.Time // last fetch attempt (Fetch only)
}

// Providers is the set of trusted OIDC issuers, keyed by account and
// issuer. It is safe for concurrent use.
type Providers struct {
	m      map[string]*provider // account + " " + Key()
	client *http.Client
	now    func() time.Time
}

// NewProviders checks the declarations, loads every JWKS file and returns
// the set. The same issuer declared twice for an account is an error
// unless both declarations are equal.
func NewProviders(cfgs []ProviderConfig) (*Providers, error) {
	ps := &Providers{m: map[string]*provider{}, client: &http.Client{Timeout: 10 * time.Second}, now: time.Now}
	var errs []error
	for _, c := range cfgs {
		if err := c.Check(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.Source, err))
			continue
		}
		k := c.AccountID + " " + c.Key()
		if old, ok := ps.m[k]; ok {
			if !sameProvider(old.cfg, c) {
				errs = append(errs, fmt.Errorf("%s: oidc provider %s of account %s is also declared, otherwise, in %s", c.Source, c.URL, c.AccountID, old.cfg.Source))
			}
			continue
		}
		p := &provider{cfg: c}
		if c.JWKSFile != "" {
			keys, err := loadJWKS(c.JWKSFile)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: oidc provider %s: %w", c.Source, c.URL, err))
				continue
			}
			p.keys = keys
		}
		ps.m[k] = p
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return ps, nil
}

func sameProvider(a, b ProviderConfig) bool {
	return a.URL == b.URL && a.JWKSFile == b.JWKSFile && a.Fetch == b.Fetch && slices.Equal(a.Audiences, b.Audiences)
}

// Len returns the number of providers.
func (ps *Providers) Len() int {
	if ps == nil {
		return 0
	}
	return len(ps.m)
}

const maxJWKSSize = 1 << 20

func loadJWKS(path string) (*jose.JSONWebKeySet, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("jwks_file: %w", err)
	}
	return parseJWKS(b)
}

// parseJWKS parses a JSON Web Key Set of public signing keys. A private
// key is refused: a JWKS file is public and must not hold the issuer's
// secret.
func parseJWKS(b []byte) (*jose.JSONWebKeySet, error) {
	if len(b) > maxJWKSSize {
		return nil, errors.New("jwks: larger than 1 MiB")
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("jwks: not a JSON Web Key Set: %v", err)
	}
	if len(set.Keys) == 0 {
		return nil, errors.New("jwks: no keys")
	}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			return nil, fmt.Errorf("jwks: key %q is a private key; give the public keys only", k.KeyID)
		}
	}
	return &set, nil
}

// lookup returns the provider of an account for an issuer.
func (ps *Providers) lookup(accountID, iss string) *provider {
	if ps == nil {
		return nil
	}
	c := ProviderConfig{URL: iss}
	p := ps.m[accountID+" "+c.Key()]
	if p == nil || p.cfg.URL != iss && p.cfg.URL != strings.TrimSuffix(iss, "/") {
		return nil
	}
	return p
}

// keySet returns the provider's keys, fetching them when configured so:
// at first use, when refresh is asked (a token named an unknown key id)
// and a minute has passed since the last fetch, and every hour.
func (ps *Providers) keySet(ctx context.Context, p *provider, refresh bool) (*jose.JSONWebKeySet, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.cfg.Fetch {
		return p.keys, nil
	}
	now := ps.now()
	age := now.Sub(p.fetched)
	if p.keys != nil && !(refresh && age > time.Minute) && age < time.Hour {
		return p.keys, nil
	}
	if p.keys == nil && age < 5*time.Second {
		return nil, errors.New("jwks fetch failed recently")
	}
	p.fetched = now
	keys, err := ps.fetch(ctx, p.cfg.URL)
	if err != nil {
		if p.keys != nil {
			return p.keys, nil // keep the known keys
		}
		return nil, err
	}
	p.keys = keys
	return keys, nil
}

// fetch reads the issuer's discovery document and its JWKS.
func (ps *Providers) fetch(ctx context.Context, issuer string) (*jose.JSONWebKeySet, error) {
	var disc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	b, err := ps.get(ctx, strings.TrimSuffix(issuer, "/")+"/.well-known/openid-configuration")
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &disc); err != nil {
		return nil, fmt.Errorf("discovery document: %v", err)
	}
	if disc.Issuer != issuer {
		return nil, fmt.Errorf("discovery document names issuer %q, not %q", disc.Issuer, issuer)
	}
	u, err := url.Parse(disc.JWKSURI)
	if err != nil || !(u.Scheme == "https" || u.Scheme == "http" && isLoopback(u.Hostname())) {
		return nil, fmt.Errorf("discovery document: jwks_uri %q is not an https URL", disc.JWKSURI)
	}
	b, err = ps.get(ctx, disc.JWKSURI)
	if err != nil {
		return nil, err
	}
	return parseJWKS(b)
}

func (ps *Providers) get(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := ps.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxJWKSSize {
		return nil, fmt.Errorf("GET %s: larger than 1 MiB", u)
	}
	return b, nil
}

// signingAlgs are the JWS algorithms accepted in web identity tokens:
// asymmetric signatures only. "none" and the HMAC algorithms (HS256, ...)
// are refused: an HMAC key would have to be shared with the issuer's
// clients, and "none" is no signature.
var signingAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA}

// tokenLeeway is the clock skew allowed for exp, nbf and iat.
const tokenLeeway = 30 * time.Second

// webIdentity is a verified web identity token.
type webIdentity struct {
	provider *provider
	subject  string
	audience string   // the accepted audience (azp when present)
	oaud     string   // with azp, the aud that matched
	amr      []string // authentication methods, when present
}

// webTokenClaims are the claims read beside the registered ones.
type webTokenClaims struct {
	AZP string   `json:"azp"`
	AMR []string `json:"amr"`
}

// verifyWebIdentityToken checks a JWT for the role's account: its
// signature by a key of a provider of that account for its iss, then exp,
// nbf and iat (with tokenLeeway), and that one of its audiences is one of
// the provider's. Error codes and messages are AWS's (see
// AssumeRoleWithWebIdentity).
func (s *Service) verifyWebIdentityToken(ctx context.Context, accountID, token string) (*webIdentity, error) {
	tok, err := jwt.ParseSigned(token, signingAlgs)
	if err != nil {
		return nil, errInvalidIdentityToken(msgTokenMalformed, err)
	}
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return nil, errInvalidIdentityToken(msgTokenMalformed, err)
	}
	p := s.oidc.lookup(accountID, unverified.Issuer)
	if p == nil {
		// "No OpenIDConnect provider found in your account for
		// https://token.actions.githubusercontent.com"
		// (aws-actions/configure-aws-credentials#280).
		return nil, errInvalidIdentityToken("No OpenIDConnect provider found in your account for "+unverified.Issuer, nil)
	}
	var claims jwt.Claims
	var extra webTokenClaims
	verify := func(refresh bool) error {
		keys, err := s.oidc.keySet(ctx, p, refresh)
		if err != nil {
			return err
		}
		return tok.Claims(keys, &claims, &extra)
	}
	err = verify(false)
	if errors.Is(err, jose.ErrJWKSKidNotFound) && p.cfg.Fetch {
		err = verify(true)
	}
	if err != nil {
		if p.cfg.Fetch && !errors.Is(err, jose.ErrJWKSKidNotFound) && !errors.Is(err, jose.ErrCryptoFailure) {
			// "Couldn't retrieve verification key from your identity
			// provider,  please reference AssumeRoleWithWebIdentity
			// documentation for requirements" (aws/aws-cli#7194; the
			// double space is AWS's).
			return nil, errInvalidIdentityToken(msgNoVerificationKey, err)
		}
		return nil, errInvalidIdentityToken(msgTokenSignature, err)
	}
	now := s.now()
	if claims.Expiry == nil {
		return nil, errInvalidIdentityToken(msgTokenNoExpiry, nil)
	}
	if err := claims.ValidateWithLeeway(jwt.Expected{Issuer: p.cfg.URL, Time: now}, tokenLeeway); err != nil {
		if errors.Is(err, jwt.ErrExpired) {
			// "Token expired: current date/time 1731098245 must be before
			// the expiration date/time 1731095240"
			// (aws/aws-sdk-java-v2#5709), code ExpiredTokenException.
			return nil, &wire.Error{Code: "ExpiredTokenException", Err: err,
				Message: fmt.Sprintf("Token expired: current date/time %d must be before the expiration date/time %d", now.Unix(), claims.Expiry.Time().Unix())}
		}
		return nil, errInvalidIdentityToken(msgTokenNotValid, err)
	}
	if claims.Subject == "" {
		return nil, errInvalidIdentityToken(msgTokenNoSubject, nil)
	}
	w := &webIdentity{provider: p, subject: claims.Subject, amr: extra.AMR}
	for _, a := range claims.Audience {
		if slices.Contains(p.cfg.Audiences, a) {
			w.audience = a
			break
		}
	}
	if w.audience == "" {
		// "An error occurred (InvalidIdentityToken) when calling the
		// AssumeRoleWithWebIdentity operation: Incorrect token audience"
		// (awslabs/amazon-eks-irsa-cfn#18).
		return nil, errInvalidIdentityToken("Incorrect token audience", nil)
	}
	if extra.AZP != "" {
		// The aud condition key is azp when the token has one, the
		// matched aud (oaud) beside it (IAM User Guide, "Available keys
		// for OIDC federation"; recalled, inferred).
		w.oaud, w.audience = w.audience, extra.AZP
	}
	return w, nil
}

// Messages of InvalidIdentityToken. Where no AWS wording is recorded the
// message is Trent's own (inferred).
const (
	msgTokenMalformed    = "The web identity token is not a signed JWT with an accepted algorithm."
	msgTokenSignature    = "The web identity token's signature does not verify with the identity provider's keys."
	msgNoVerificationKey = "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements"
	msgTokenNoExpiry     = "The web identity token has no exp claim."
	msgTokenNoSubject    = "The web identity token has no sub claim."
	msgTokenNotValid     = "The web identity token is not valid yet or was issued in the future."
)

func errInvalidIdentityToken(msg string, cause error) error {
	return &wire.Error{Code: "InvalidIdentityToken", Message: msg, Err: cause}
}
