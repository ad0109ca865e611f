package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/trent-kms/trent/internal/server"
)

// issuer is a test OpenID Connect issuer with an ECDSA P-256 key.
type issuer struct {
	url string
	key *ecdsa.PrivateKey
	kid string
}

func newIssuer(t *testing.T, url string) *issuer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &issuer{url: url, key: k, kid: "k1"}
}

// jwks returns the issuer's public JSON Web Key Set.
func (is *issuer) jwks(t *testing.T) []byte {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &is.key.PublicKey, KeyID: is.kid, Algorithm: "ES256", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// token signs claims with the issuer's key (or with signKey if set).
func (is *issuer) token(t *testing.T, claims jwt.Claims, alg jose.SignatureAlgorithm, signKey any) string {
	t.Helper()
	if signKey == nil {
		signKey = is.key
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: signKey}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", is.kid))
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.Signed(sig).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (is *issuer) claims(sub, aud string, exp time.Time) jwt.Claims {
	now := time.Now()
	return jwt.Claims{Issuer: is.url, Subject: sub, Audience: jwt.Audience{aud}, Expiry: jwt.NewNumericDate(exp),
		IssuedAt: jwt.NewNumericDate(now.Add(-time.Minute)), NotBefore: jwt.NewNumericDate(now.Add(-time.Minute))}
}

const saSubject = "system:serviceaccount:default:app"

// TestWebIdentityWithSDKProvider: a pod-like client with only
// AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE and the endpoint gets session
// credentials through the SDK's own web identity provider and calls KMS
// as the role; bad tokens are refused with AWS's codes.
func TestWebIdentityWithSDKProvider(t *testing.T) {
	ctx := context.Background()
	is := newIssuer(t, "https://issuer.trent.test/cluster-1")
	dir := t.TempDir()
	jwksFile := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(jwksFile, is.jwks(t), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TRENT_ROOT_ACCESS_KEY_ID", testAccessKeyID)
	t.Setenv("TRENT_ROOT_SECRET_ACCESS_KEY", testSecret)
	n := startNodeIn(t, privateDir(t), func(c *server.Config) {
		c.OIDCProviders = []server.OIDCProvider{{URL: is.url, Audiences: []string{"sts.amazonaws.com"}, JWKSFile: jwksFile}}
	})
	key := newKey(t, n.client("us-east-1"))
	prov := "issuer.trent.test/cluster-1"
	newRole(t, n, "pod", trustDoc(`{"Federated":"arn:aws:iam::`+acct+`:oidc-provider/`+prov+`"}`, `"sts:AssumeRoleWithWebIdentity"`,
		`{"StringEquals":{"`+prov+`:sub":"`+saSubject+`","`+prov+`:aud":"sts.amazonaws.com"}}`),
		allowDoc(`["kms:Encrypt","kms:Decrypt"]`, "*"), 0)
	roleARN := "arn:aws:iam::" + acct + ":role/pod"

	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(is.token(t, is.claims(saSubject, "sts.amazonaws.com", time.Now().Add(time.Hour)), jose.ES256, nil)), 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"AWS_ROLE_ARN": roleARN, "AWS_WEB_IDENTITY_TOKEN_FILE": tokenFile, "AWS_ROLE_SESSION_NAME": "pod-1",
		// The SDK for Go v2 builds the web identity provider's STS client
		// before it reads AWS_ENDPOINT_URL (config.LoadDefaultConfig
		// resolves credentials first), so the STS endpoint is given by
		// its service-specific variable as well.
		"AWS_ENDPOINT_URL": n.srv.URL(), "AWS_ENDPOINT_URL_STS": n.srv.URL(), "AWS_REGION": "us-east-1",
		"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "",
		"AWS_CONFIG_FILE": filepath.Join(dir, "none"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "none"),
	} {
		t.Setenv(k, v)
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	mustNil(t, "LoadDefaultConfig", err)
	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	mustNil(t, "GetCallerIdentity as the pod", err)
	if aws.ToString(id.Arn) != "arn:aws:sts::"+acct+":assumed-role/pod/pod-1" {
		t.Fatalf("Arn = %s", aws.ToString(id.Arn))
	}
	enc, err := kms.NewFromConfig(cfg).Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyId, Plaintext: []byte("from the pod")})
	mustNil(t, "Encrypt as the pod", err)
	dec, err := n.client("us-east-1").Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	mustNil(t, "Decrypt", err)
	if string(dec.Plaintext) != "from the pod" {
		t.Fatalf("Decrypt = %q", dec.Plaintext)
	}

	// Direct, unsigned calls with bad tokens.
	anon := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(n.srv.URL()), Credentials: aws.AnonymousCredentials{},
		HTTPClient: &http.Client{Timeout: 30 * time.Second}})
	call := func(tok string) error {
		_, err := anon.AssumeRoleWithWebIdentity(ctx, &sts.AssumeRoleWithWebIdentityInput{RoleArn: aws.String(roleARN),
			RoleSessionName: aws.String("x1"), WebIdentityToken: aws.String(tok)})
		return err
	}
	good := is.claims(saSubject, "sts.amazonaws.com", time.Now().Add(time.Hour))
	mustNil(t, "AssumeRoleWithWebIdentity", call(is.token(t, good, jose.ES256, nil)))

	err = call(is.token(t, is.claims(saSubject, "other-audience", time.Now().Add(time.Hour)), jose.ES256, nil))
	wantAPIError(t, err, "InvalidIdentityToken", "Incorrect token audience")
	wantStatus(t, err, 400)

	evil := newIssuer(t, "https://evil.trent.test")
	err = call(evil.token(t, evil.claims(saSubject, "sts.amazonaws.com", time.Now().Add(time.Hour)), jose.ES256, nil))
	wantAPIError(t, err, "InvalidIdentityToken", "No OpenIDConnect provider found in your account for https://evil.trent.test")

	expired := is.claims(saSubject, "sts.amazonaws.com", time.Now().Add(-time.Hour))
	expired.IssuedAt, expired.NotBefore = jwt.NewNumericDate(time.Now().Add(-2*time.Hour)), jwt.NewNumericDate(time.Now().Add(-2*time.Hour))
	err = call(is.token(t, expired, jose.ES256, nil))
	wantAPIError(t, err, "ExpiredTokenException", "*")
	if m := apiMessage(err); !strings.HasPrefix(m, "Token expired: current date/time ") ||
		!strings.HasSuffix(m, fmt.Sprintf(" must be before the expiration date/time %d", expired.Expiry.Time().Unix())) {
		t.Fatalf("ExpiredTokenException message = %q", m)
	}

	// Signed by another key under the same key id.
	other := newIssuer(t, is.url)
	err = call(is.token(t, good, jose.ES256, other.key))
	wantAPIError(t, err, "InvalidIdentityToken", "The web identity token's signature does not verify with the identity provider's keys.")
	// HMAC and "none" are never accepted.
	err = call(is.token(t, good, jose.HS256, []byte("0123456789abcdef0123456789abcdef")))
	wantAPIError(t, err, "InvalidIdentityToken", "The web identity token is not a signed JWT with an accepted algorithm.")
	err = call("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJpc3MiOiJodHRwczovL2lzc3Vlci50cmVudC50ZXN0L2NsdXN0ZXItMSJ9.")
	wantAPIError(t, err, "InvalidIdentityToken", "*")

	// Another service account: the trust policy's sub condition refuses it.
	err = call(is.token(t, is.claims("system:serviceaccount:default:other", "sts.amazonaws.com", time.Now().Add(time.Hour)), jose.ES256, nil))
	wantAPIError(t, err, "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity")
	wantStatus(t, err, 403)
}

// TestWebIdentityFetchedKeys: with fetch: true the keys come from the
// issuer's discovery document (a loopback test server here).
func TestWebIdentityFetchedKeys(t *testing.T) {
	ctx := context.Background()
	var is *issuer
	mux := http.NewServeMux()
	hs := httptest.NewServer(mux)
	defer hs.Close()
	is = newIssuer(t, hs.URL)
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"issuer": hs.URL, "jwks_uri": hs.URL + "/keys"})
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, r *http.Request) { w.Write(is.jwks(t)) })
	t.Setenv("TRENT_ROOT_ACCESS_KEY_ID", testAccessKeyID)
	t.Setenv("TRENT_ROOT_SECRET_ACCESS_KEY", testSecret)
	n := startNodeIn(t, privateDir(t), func(c *server.Config) {
		c.OIDCProviders = []server.OIDCProvider{{URL: hs.URL, ClientIDs: []string{"trent"}, Fetch: true}}
	})
	prov := hs.URL[len("http://"):]
	newRole(t, n, "ci", trustDoc(`{"Federated":"arn:aws:iam::`+acct+`:oidc-provider/`+prov+`"}`, `"sts:AssumeRoleWithWebIdentity"`, ""), "", 0)
	anon := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(n.srv.URL()), Credentials: aws.AnonymousCredentials{},
		HTTPClient: &http.Client{Timeout: 30 * time.Second}})
	out, err := anon.AssumeRoleWithWebIdentity(ctx, &sts.AssumeRoleWithWebIdentityInput{RoleArn: aws.String("arn:aws:iam::" + acct + ":role/ci"),
		RoleSessionName: aws.String("build-7"), WebIdentityToken: aws.String(is.token(t, is.claims("repo:x", "trent", time.Now().Add(time.Hour)), jose.ES256, nil))})
	mustNil(t, "AssumeRoleWithWebIdentity", err)
	if aws.ToString(out.SubjectFromWebIdentityToken) != "repo:x" || aws.ToString(out.Provider) != hs.URL || aws.ToString(out.Audience) != "trent" {
		t.Fatalf("response = %s %s %s", aws.ToString(out.SubjectFromWebIdentityToken), aws.ToString(out.Provider), aws.ToString(out.Audience))
	}
}
