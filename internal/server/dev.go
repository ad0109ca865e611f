package server

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// The root access key of a --dev server when TRENT_ROOT_ACCESS_KEY_ID and
// TRENT_ROOT_SECRET_ACCESS_KEY are not set. They are published (README,
// docs/seed.md), so anyone may sign requests with them: they are for
// throwaway test servers only, and deliberately not AWS's documentation
// example, which a normal server warns about.
const (
	DevAccessKeyID     = "AKIATRENTDEVELOPMENT"
	DevSecretAccessKey = "trent-dev-secret-key-NOT-FOR-PRODUCTION0"
)

// rootAccessKey returns the access key the default account is bootstrapped
// with: the environment's, or for a dev server without one, the
// well-known development key.
func (s *Server) rootAccessKey() (id, secret string) {
	id, secret = os.Getenv("TRENT_ROOT_ACCESS_KEY_ID"), os.Getenv("TRENT_ROOT_SECRET_ACCESS_KEY")
	if s.cfg.Dev && id == "" {
		return DevAccessKeyID, DevSecretAccessKey
	}
	return id, secret
}

// devBanner tells, at the start of a --dev server, that it is not for
// production, and how to reach it: endpoint, credentials (the secret only
// when it is the published default) and region, as shell exports.
func (s *Server) devBanner(out io.Writer, took time.Duration) {
	id, secret := s.rootAccessKey()
	if secret != DevSecretAccessKey {
		secret = "(as set in TRENT_ROOT_SECRET_ACCESS_KEY)"
	}
	regions := "every region"
	if len(s.cfg.Regions) > 0 {
		regions = "regions " + strings.Join(s.cfg.Regions, ", ")
	}
	seeded := "no seed file"
	if len(s.seeds) > 0 {
		seeded = fmt.Sprintf("%d keys from %d seed files", s.seeded.Keys, len(s.seeds))
	}
	fmt.Fprintf(out, `trent --dev: a throwaway KMS for tests. NOT FOR PRODUCTION: the store and root key live in memory only,
everything is lost at exit, and anyone who knows the credentials below (they are published) can use it.
  account %s, %s, %s; ready in %s
  export AWS_ENDPOINT_URL=%s
  export AWS_ACCESS_KEY_ID=%s
  export AWS_SECRET_ACCESS_KEY=%s
  export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
`, s.cfg.AccountID, regions, seeded, took.Round(100*time.Microsecond), s.URL(), id, secret)
}
