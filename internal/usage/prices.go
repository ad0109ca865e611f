package usage

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"regexp"
	"slices"

	"gopkg.in/yaml.v3"
)

// Key kinds, the keys of [Prices.KeyMonth].
const (
	KindSymmetric  = "symmetric"   // SYMMETRIC_DEFAULT
	KindAsymmetric = "asymmetric"  // RSA_*, ECC_*, SM2, ML_DSA_*
	KindHMAC       = "hmac"        // HMAC_*
	KindAWSManaged = "aws_managed" // any key whose KeyManager is AWS
)

// Request pricing classes, the keys of [Prices.Requests].
const (
	ClassSymmetric  = "symmetric"                  // every request not in another class
	ClassRSA2048    = "rsa_2048"                   // cryptographic requests on RSA_2048 keys
	ClassAsymmetric = "asymmetric"                 // cryptographic requests on other asymmetric keys
	ClassPairECC    = "generate_data_key_pair_ecc" // GenerateDataKeyPair* with an ECC or SM2 pair
	ClassPairRSA    = "generate_data_key_pair_rsa" // GenerateDataKeyPair* with an RSA pair
)

// Classes lists the request classes in report order.
var Classes = []string{ClassSymmetric, ClassRSA2048, ClassAsymmetric, ClassPairECC, ClassPairRSA}

var kinds = []string{KindSymmetric, KindAsymmetric, KindHMAC, KindAWSManaged}

// Price is a non-negative decimal amount, kept exactly.
type Price struct{ r *big.Rat }

var decimal = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

// ParsePrice parses a non-negative decimal such as "0.03".
func ParsePrice(s string) (Price, error) {
	if !decimal.MatchString(s) {
		return Price{}, fmt.Errorf("price %q is not a non-negative decimal number", s)
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return Price{}, fmt.Errorf("price %q is not a decimal number", s)
	}
	return Price{r}, nil
}

func mustPrice(s string) Price {
	p, err := ParsePrice(s)
	if err != nil {
		panic(err)
	}
	return p
}

// Rat returns the price as a new rational.
func (p Price) Rat() *big.Rat {
	if p.r == nil {
		return new(big.Rat)
	}
	return new(big.Rat).Set(p.r)
}

// String returns the price as a decimal.
func (p Price) String() string { return trimZeros(p.Rat().FloatString(10)) }

// UnmarshalYAML reads a price written as a YAML number or string.
func (p *Price) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: a price must be a number", n.Line)
	}
	v, err := ParsePrice(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*p = v
	return nil
}

// MarshalYAML writes the price as a YAML number.
func (p Price) MarshalYAML() (any, error) {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: p.String()}, nil
}

// Prices is a price table. The defaults ([DefaultPrices]) are AWS KMS's
// published list prices; a YAML file (LoadPrices) can replace any of them,
// for example to charge internal rates.
type Prices struct {
	// Currency only labels the output.
	Currency string `yaml:"currency"`
	// KeyMonth is the price of one key for a whole month, by kind,
	// prorated by the hour.
	KeyMonth map[string]Price `yaml:"key_month"`
	// RotationMonth is the monthly price that each of the first
	// BilledRotations rotations adds to a customer managed key, prorated
	// by the hour; later rotations are free.
	RotationMonth   Price `yaml:"rotation_month"`
	BilledRotations int   `yaml:"billed_rotations"`
	// Requests is the price of 10,000 requests, by class.
	Requests map[string]Price `yaml:"per_10000_requests"`
	// FreeRequests is how many requests of the FreeTierClasses each
	// account may make in a month without charge.
	FreeRequests    int64    `yaml:"free_requests"`
	FreeTierClasses []string `yaml:"free_tier_classes"`
}

// DefaultPrices returns AWS KMS's list prices (https://aws.amazon.com/kms/pricing/,
// as read in November 2026):
//
//   - "Each AWS KMS key that you create in AWS KMS costs $1/month (prorated
//     hourly). The $1/month charge is the same for symmetric keys,
//     asymmetric keys, HMAC keys, multi-Region keys (each primary and each
//     replica multi-Region key), keys with imported key material …"; no
//     charge for the "Creation and storage of AWS managed or AWS owned KMS
//     keys".
//   - Rotation, as priced since May 2024: "the first and second rotation of
//     the key adds $1/month (prorated hourly) in cost. This price increase
//     is capped at the second rotation, and any subsequent rotations will
//     not be billed" (the pricing page as quoted in public cost reviews,
//     and the Developer Guide's "Key rotation and pricing").
//   - Requests: "$0.03 per 10,000 requests; $0.03 per 10,000 requests
//     involving RSA 2048 keys; $0.10 per 10,000 ECC GenerateDataKeyPair
//     requests; $0.15 per 10,000 asymmetric requests except RSA 2048;
//     $12.00 per 10,000 RSA GenerateDataKeyPair requests" (the page's
//     us-east-1 and ap-southeast-2 table).
//   - "a free tier of 20,000 requests/month calculated across all
//     regions"; "Requests to the GenerateDataKeyPair and
//     GenerateDataKeyPairWithoutPlaintext APIs and requests to APIs such as
//     Sign, Verify, Encrypt, Decrypt, and GetPublicKey that reference
//     asymmetric KMS keys are excluded from the free tier".
func DefaultPrices() *Prices {
	return &Prices{
		Currency: "USD",
		KeyMonth: map[string]Price{
			KindSymmetric: mustPrice("1"), KindAsymmetric: mustPrice("1"), KindHMAC: mustPrice("1"), KindAWSManaged: mustPrice("0"),
		},
		RotationMonth:   mustPrice("1"),
		BilledRotations: 2,
		Requests: map[string]Price{
			ClassSymmetric: mustPrice("0.03"), ClassRSA2048: mustPrice("0.03"), ClassAsymmetric: mustPrice("0.15"),
			ClassPairECC: mustPrice("0.10"), ClassPairRSA: mustPrice("12.00"),
		},
		FreeRequests:    20000,
		FreeTierClasses: []string{ClassSymmetric},
	}
}

// pricesFile is the YAML form of a price table: every member is optional
// and replaces the default it names.
type pricesFile struct {
	Currency        *string          `yaml:"currency"`
	KeyMonth        map[string]Price `yaml:"key_month"`
	RotationMonth   *Price           `yaml:"rotation_month"`
	BilledRotations *int             `yaml:"billed_rotations"`
	Requests        map[string]Price `yaml:"per_10000_requests"`
	FreeRequests    *int64           `yaml:"free_requests"`
	FreeTierClasses *[]string        `yaml:"free_tier_classes"`
}

// ParsePrices reads a YAML price table over the defaults. Unknown
// members, kinds and classes, and negative counts, are errors.
func ParsePrices(b []byte) (*Prices, error) {
	var f pricesFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("prices: %w", err)
	}
	p := DefaultPrices()
	if f.Currency != nil {
		p.Currency = *f.Currency
	}
	for k, v := range f.KeyMonth {
		if !slices.Contains(kinds, k) {
			return nil, fmt.Errorf("prices: key_month: unknown key kind %q (want one of %v)", k, kinds)
		}
		p.KeyMonth[k] = v
	}
	if f.RotationMonth != nil {
		p.RotationMonth = *f.RotationMonth
	}
	if f.BilledRotations != nil {
		if *f.BilledRotations < 0 {
			return nil, errors.New("prices: billed_rotations must not be negative")
		}
		p.BilledRotations = *f.BilledRotations
	}
	for k, v := range f.Requests {
		if !slices.Contains(Classes, k) {
			return nil, fmt.Errorf("prices: per_10000_requests: unknown request class %q (want one of %v)", k, Classes)
		}
		p.Requests[k] = v
	}
	if f.FreeRequests != nil {
		if *f.FreeRequests < 0 {
			return nil, errors.New("prices: free_requests must not be negative")
		}
		p.FreeRequests = *f.FreeRequests
	}
	if f.FreeTierClasses != nil {
		for _, c := range *f.FreeTierClasses {
			if !slices.Contains(Classes, c) {
				return nil, fmt.Errorf("prices: free_tier_classes: unknown request class %q (want one of %v)", c, Classes)
			}
		}
		p.FreeTierClasses = *f.FreeTierClasses
	}
	return p, nil
}

// LoadPrices reads a YAML price table file (see [ParsePrices]).
func LoadPrices(path string) (*Prices, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParsePrices(b)
}

func trimZeros(s string) string {
	if !bytes.ContainsRune([]byte(s), '.') {
		return s
	}
	for s[len(s)-1] == '0' {
		s = s[:len(s)-1]
	}
	if s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	return s
}
