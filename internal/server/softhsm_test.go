//go:build cgo

package server_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/pkcs11"
)

// The HSM tests run against SoftHSM2 (Debian's softhsm2; .ci/run installs
// it). SoftHSM reads SOFTHSM2_CONF when the module is first initialized in
// a process, so the test binary makes one token directory, with a few
// tokens initialized by softhsm2-util, the first time a test needs it, and
// TestMain removes it at the end. Without the module the tests skip,
// except in CI (CI set), where its absence fails them.

// softHSMModule is Debian's path of SoftHSM2's PKCS#11 module;
// TRENT_TEST_SOFTHSM_MODULE overrides it.
func softHSMModule() string {
	if p := os.Getenv("TRENT_TEST_SOFTHSM_MODULE"); p != "" {
		return p
	}
	return "/usr/lib/softhsm/libsofthsm2.so"
}

const (
	softHSMTokens = 3
	softHSMSOPIN  = "so-pin-12345678"
	softHSMPIN    = "kmsuser-pin-1"
)

var softHSM struct {
	once sync.Once
	dir  string
	err  error
}

// cleanupSoftHSM removes the token directory; TestMain calls it.
func cleanupSoftHSM() {
	if softHSM.dir != "" {
		os.RemoveAll(softHSM.dir)
	}
}

func init() { afterTests = append(afterTests, cleanupSoftHSM) }

// softHSMTokens returns the module path and the labels of the test
// tokens, whose user PIN is softHSMPIN. Tests share them (one at a time:
// none is parallel); their keys are labelled with unique key ids.
func softHSMTokenLabels(t *testing.T) (module string, labels []string) {
	t.Helper()
	module = softHSMModule()
	if _, err := os.Stat(module); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("SoftHSM2 module not found (.ci/run installs softhsm2 with apt-get): %v", err)
		}
		t.Skipf("SoftHSM2 not installed (apt-get install softhsm2); the HSM tests need it: %v", err)
	}
	softHSM.once.Do(func() {
		softHSM.dir, softHSM.err = os.MkdirTemp("", "trent-softhsm-")
		if softHSM.err != nil {
			return
		}
		tokens := filepath.Join(softHSM.dir, "tokens")
		conf := filepath.Join(softHSM.dir, "softhsm2.conf")
		if softHSM.err = os.Mkdir(tokens, 0o700); softHSM.err != nil {
			return
		}
		softHSM.err = os.WriteFile(conf, []byte("directories.tokendir = "+tokens+"\nobjectstore.backend = file\nlog.level = ERROR\n"), 0o600)
		if softHSM.err != nil {
			return
		}
		os.Setenv("SOFTHSM2_CONF", conf)
		for i := range softHSMTokens {
			out, err := exec.Command("softhsm2-util", "--init-token", "--free", "--label", fmt.Sprintf("trent-test-%d", i),
				"--so-pin", softHSMSOPIN, "--pin", softHSMPIN).CombinedOutput()
			if err != nil {
				softHSM.err = fmt.Errorf("softhsm2-util --init-token: %v: %s", err, out)
				return
			}
		}
	})
	if softHSM.err != nil {
		t.Fatal(softHSM.err)
	}
	for i := range softHSMTokens {
		labels = append(labels, fmt.Sprintf("trent-test-%d", i))
	}
	return module, labels
}

// trustAnchor writes a new self-signed CA certificate (a cluster's
// customerCA.crt) into dir and returns its path and PEM text.
func trustAnchor(t *testing.T, dir, name string) (string, string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	text := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	path := filepath.Join(dir, name+".crt")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, text
}

// tokenObject reads attributes of the secret key labelled label in the
// token, through PKCS#11 directly, in a session of this process (which
// shares the server's login: PKCS#11 login state is per application).
func tokenObject(t *testing.T, module, token, label string, attrs ...uint) (found bool, values map[uint][]byte, valueErr error) {
	t.Helper()
	p := pkcs11.New(module)
	if p == nil {
		t.Fatalf("load %s", module)
	}
	if err := p.Initialize(); err != nil && err != pkcs11.Error(pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		t.Fatal(err)
	}
	// Never Finalize: the server in this process uses the module too.
	slots, err := p.GetSlotList(true)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range slots {
		ti, err := p.GetTokenInfo(s)
		if err != nil || strings.TrimRight(ti.Label, " \x00") != token {
			continue
		}
		sh, err := p.OpenSession(s, pkcs11.CKF_SERIAL_SESSION)
		if err != nil {
			t.Fatal(err)
		}
		defer p.CloseSession(sh)
		// The server may be logged out (after a disconnect): log in to
		// look, and out again.
		if err := p.Login(sh, pkcs11.CKU_USER, softHSMPIN); err == nil {
			defer p.Logout(sh)
		}
		if err := p.FindObjectsInit(sh, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, label)}); err != nil {
			t.Fatal(err)
		}
		hs, _, err := p.FindObjects(sh, 4)
		p.FindObjectsFinal(sh)
		if err != nil {
			t.Fatal(err)
		}
		if len(hs) == 0 {
			return false, nil, nil
		}
		if len(hs) > 1 {
			t.Fatalf("%d objects labelled %s", len(hs), label)
		}
		values = map[uint][]byte{}
		for _, a := range attrs {
			got, err := p.GetAttributeValue(sh, hs[0], []*pkcs11.Attribute{pkcs11.NewAttribute(a, nil)})
			if err != nil {
				t.Fatalf("attribute %#x: %v", a, err)
			}
			values[a] = got[0].Value
		}
		_, valueErr = p.GetAttributeValue(sh, hs[0], []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil)})
		return true, values, valueErr
	}
	t.Fatalf("token %s not found", token)
	return false, nil, nil
}
