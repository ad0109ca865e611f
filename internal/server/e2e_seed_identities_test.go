package server_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/trent-kms/trent/internal/server"
)

const exampleIdentities = "../../docs/examples/identities.yaml"

// TestSeedIdentities applies the example bootstrap file: the user's fixed
// access key assumes the role (through its inline policy and the role's
// trust policy), and the session encrypts with the role's attached
// managed policy. A restart changes nothing; a declaration that differs
// from the store stops the start, naming the line, the entity and the
// field.
func TestSeedIdentities(t *testing.T) {
	t.Setenv("TRENT_ROOT_ACCESS_KEY_ID", testAccessKeyID)
	t.Setenv("TRENT_ROOT_SECRET_ACCESS_KEY", testSecret)
	ctx := context.Background()
	dir := privateDir(t)
	n := startNodeIn(t, dir, withSeeds(exampleIdentities))
	key := newKey(t, n.client("us-east-1"))

	ci := n.stsWith("us-east-1", "AKIATRENTCIEXAMPLE01", "trent-ci-example-secret-not-for-production")
	id, err := ci.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	mustNil(t, "GetCallerIdentity as ci", err)
	if aws.ToString(id.Arn) != "arn:aws:iam::111122223333:user/automation/ci" {
		t.Fatalf("ci is %s", aws.ToString(id.Arn))
	}
	out, err := ci.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::111122223333:role/app"),
		RoleSessionName: aws.String("deploy"), DurationSeconds: aws.Int32(7200)})
	mustNil(t, "AssumeRole", err)
	if _, err := n.kmsSession(sessionOf(out.Credentials)).Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyId, Plaintext: []byte("x")}); err != nil {
		t.Fatalf("Encrypt as app: %v", err)
	}
	r, err := n.iamRoot().GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("pod")})
	mustNil(t, "GetRole pod", err)
	if aws.ToInt32(r.Role.MaxSessionDuration) != 3600 {
		t.Fatalf("pod = %+v", r.Role)
	}
	n.stop()

	// Again: nothing to do.
	n = startNodeIn(t, dir, withSeeds(exampleIdentities))
	_, err = n.stsWith("us-east-1", "AKIATRENTCIEXAMPLE01", "trent-ci-example-secret-not-for-production").GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	mustNil(t, "GetCallerIdentity after restart", err)
	n.stop()

	// A changed max_session_duration conflicts with the stored role.
	raw, err := os.ReadFile(exampleIdentities)
	mustNil(t, "read example", err)
	changed := filepath.Join(t.TempDir(), "identities.yaml")
	text := strings.Replace(string(raw), "max_session_duration: 7200", "max_session_duration: 3600", 1)
	text = strings.Replace(text, "jwks_file: oidc-jwks.json", "jwks_file: "+filepath.Join(mustAbs(t, "../../docs/examples"), "oidc-jwks.json"), 1)
	mustNil(t, "write", os.WriteFile(changed, []byte(text), 0o600))
	cfg := &server.Config{Listen: "127.0.0.1:0", DataDir: dir, LogLevel: "error", SeedFiles: []string{changed}}
	cfg.Defaults()
	_, err = server.New(ctx, cfg, slog.New(slog.DiscardHandler), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "line 31: role app: max_session_duration: exists with 7200") {
		t.Fatalf("start with a conflicting role: %v", err)
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	mustNil(t, "Abs", err)
	return a
}
