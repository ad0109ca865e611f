package hsm

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"regexp"
)

// Cluster is one HSM "cluster" an operator declares: a PKCS#11 token.
// Trent's custom key stores name it by ID, as AWS's name a CloudHSM
// cluster.
type Cluster struct {
	// ID is the cluster id: "cluster-" and 11 to 16 characters of
	// [2-7a-zA-Z] (the model's CloudHsmClusterIdType), e.g.
	// "cluster-1a2b3c4d5e6" (AWS's are 11).
	ID string `yaml:"id"`
	// Module is the path of the token's PKCS#11 module (a shared library),
	// e.g. /usr/lib/softhsm/libsofthsm2.so.
	Module string `yaml:"module"`
	// TokenLabel selects the token by its label; Slot by its slot id.
	// Exactly one is set.
	TokenLabel string `yaml:"token_label"`
	Slot       *uint  `yaml:"slot"`
	// TrustAnchorFile is the PEM certificate that identifies the cluster
	// (AWS's customerCA.crt); TrustAnchor is the same inline. Exactly one
	// is set. CreateCustomKeyStore's TrustAnchorCertificate must be this
	// certificate.
	TrustAnchorFile string `yaml:"trust_anchor_file"`
	TrustAnchor     string `yaml:"trust_anchor"`

	anchor []byte // DER of the trust anchor certificate, set by Check
}

var clusterID = regexp.MustCompile(`^cluster-[2-7a-zA-Z]{11,16}$`)

// Check validates c and loads its trust anchor. It reports every problem.
func (c *Cluster) Check() error {
	var errs []error
	if !clusterID.MatchString(c.ID) {
		errs = append(errs, fmt.Errorf("id %q is not a cluster id (cluster- and 11 to 16 of [2-7a-zA-Z])", c.ID))
	}
	if c.Module == "" {
		errs = append(errs, fmt.Errorf("%s: module is required (the path of the PKCS#11 module)", c.ID))
	}
	if (c.TokenLabel == "") == (c.Slot == nil) {
		errs = append(errs, fmt.Errorf("%s: set exactly one of token_label and slot", c.ID))
	}
	pemText := []byte(c.TrustAnchor)
	switch {
	case (c.TrustAnchorFile == "") == (c.TrustAnchor == ""):
		errs = append(errs, fmt.Errorf("%s: set exactly one of trust_anchor_file and trust_anchor", c.ID))
		return errors.Join(errs...)
	case c.TrustAnchorFile != "":
		b, err := os.ReadFile(c.TrustAnchorFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: trust_anchor_file: %w", c.ID, err))
			return errors.Join(errs...)
		}
		pemText = b
	}
	der, err := parseAnchor(pemText)
	if err != nil {
		errs = append(errs, fmt.Errorf("%s: trust anchor: %w", c.ID, err))
	}
	c.anchor = der
	return errors.Join(errs...)
}

// parseAnchor returns the DER of the one certificate in a PEM text.
func parseAnchor(text []byte) ([]byte, error) {
	block, rest := pem.Decode(bytes.TrimSpace(text))
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("not a PEM certificate")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("more than one PEM block")
	}
	if _, err := x509.ParseCertificate(block.Bytes); err != nil {
		return nil, err
	}
	return block.Bytes, nil
}
