// Package seed reads seed files and applies them to a KMS service: YAML
// files that declare accounts with their root access keys, and keys with
// fixed ids, known material and aliases, for test fixtures. The format is
// in docs/seed.md; it is Trent's own, since the AWS API cannot choose a
// key's id or material.
//
// # Validation
//
// [Load] reports every problem of a file at once, each with its line, and
// refuses unknown fields. [Check] compares every
// declaration with the store and reports every conflict with its line,
// writing nothing; [Apply] checks, then creates what is missing.
//
// # Idempotence
//
// A key that exists exactly as declared is left alone. A key that exists
// with any difference (other material for the same id, another state,
// policy, tags, ...) is an error that names the key and the field; stored
// material is never replaced and an alias is never moved.
//
// # Secrets
//
// A seed file holds key material and secret access keys in plaintext: it
// belongs to test fixtures, never to production. The material is sealed
// under the root key like generated material before it is stored. Errors
// never quote material, secrets or PEM contents.
package seed

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/trent-kms/trent/internal/iam"
	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/store"
)

// File is a parsed and validated seed file.
type File struct {
	Path     string
	Accounts []Account
	root     *yaml.Node // the document's top mapping, for line numbers
}

// Account is an account of a seed file with its root access key, if
// declared, and its keys.
type Account struct {
	ID              string
	AccessKeyID     string // "" if no root access key is declared
	SecretAccessKey string
	Keys            []kms.SeedKey
	Policies        []iam.SeedPolicy
	Users           []iam.SeedEntity
	Roles           []iam.SeedEntity
	OIDCProviders   []iam.ProviderConfig
}

// The YAML documents. Field names are the file's; KnownFields refuses any
// other.
type fileDoc struct {
	Version  int          `yaml:"version"`
	Accounts []accountDoc `yaml:"accounts"`
}

type accountDoc struct {
	ID            string        `yaml:"id"`
	RootAccessKey *accessKeyDoc `yaml:"root_access_key"`
	Keys          []keyDoc      `yaml:"keys"`
	Policies      []policyDoc   `yaml:"policies"`
	Users         []entityDoc   `yaml:"users"`
	Roles         []entityDoc   `yaml:"roles"`
	OIDCProviders []oidcDoc     `yaml:"oidc_providers"`
}

// policyDoc is a managed policy. Its document is JSON text or a YAML
// mapping, converted to JSON.
type policyDoc struct {
	Name        string    `yaml:"name"`
	Path        string    `yaml:"path"`
	Description string    `yaml:"description"`
	Document    yaml.Node `yaml:"document"`
}

type inlineDoc struct {
	Name     string    `yaml:"name"`
	Document yaml.Node `yaml:"document"`
}

// entityDoc is a user or a role; fields of the other kind are refused.
type entityDoc struct {
	Name               string         `yaml:"name"`
	Path               string         `yaml:"path"`
	Description        string         `yaml:"description"`
	Tags               []tagDoc       `yaml:"tags"`
	InlinePolicies     []inlineDoc    `yaml:"inline_policies"`
	ManagedPolicies    []string       `yaml:"managed_policies"`
	AccessKeys         []accessKeyDoc `yaml:"access_keys"`
	TrustPolicy        yaml.Node      `yaml:"trust_policy"`
	MaxSessionDuration int            `yaml:"max_session_duration"`
}

type oidcDoc struct {
	URL       string   `yaml:"url"`
	Audiences []string `yaml:"audiences"`
	ClientIDs []string `yaml:"client_ids"`
	JWKSFile  string   `yaml:"jwks_file"`
	Fetch     bool     `yaml:"fetch"`
}

type accessKeyDoc struct {
	AccessKeyID     string `yaml:"access_key_id"`
	SecretAccessKey string `yaml:"secret_access_key"`
}

type keyDoc struct {
	ID                  string        `yaml:"id"`
	Region              string        `yaml:"region"`
	Spec                string        `yaml:"spec"`
	Usage               string        `yaml:"usage"`
	Description         string        `yaml:"description"`
	State               string        `yaml:"state"`
	DeletionDate        string        `yaml:"deletion_date"`
	PendingWindowInDays int           `yaml:"pending_window_in_days"`
	Origin              string        `yaml:"origin"`
	Policy              string        `yaml:"policy"`
	Tags                []tagDoc      `yaml:"tags"`
	Materials           []materialDoc `yaml:"materials"`
	PrivateKey          string        `yaml:"private_key"`
	PrivateKeyFile      string        `yaml:"private_key_file"`
	Aliases             []string      `yaml:"aliases"`
}

type tagDoc struct {
	Key   string `yaml:"key"`
	Value string `yaml:"value"`
}

type materialDoc struct {
	ID      string `yaml:"id"`
	Hex     string `yaml:"hex"`
	Base64  string `yaml:"base64"`
	Current bool   `yaml:"current"`
}

var (
	unknownField = regexp.MustCompile(`^line (\d+): field (\S+) not found in type \S+$`)
	accountID    = regexp.MustCompile(`^[0-9]{12}$`)
	regionName   = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d+$`)
	hexID        = regexp.MustCompile(`^[0-9a-f]{64}$`)
	label        = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
)

// MaterialID returns the material id of a material declared with the
// label (which is not already 64 lowercase hex characters) for the key id:
// the SHA-256 of "trent/seed/material-id/v1", the key id and the label,
// each followed by a zero byte, as 64 lowercase hex characters. A material
// declared without an id has the empty label. The id depends on the key
// id and the label only, never on the material.
func MaterialID(keyID, label string) string {
	sum := sha256.Sum256([]byte("trent/seed/material-id/v1\x00" + keyID + "\x00" + label + "\x00"))
	return hex.EncodeToString(sum[:])
}

// problems collects errors with their lines.
type problems struct {
	path string
	errs []error
}

func (p *problems) add(line int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if line > 0 {
		msg = fmt.Sprintf("line %d: %s", line, msg)
	}
	p.errs = append(p.errs, errors.New(msg))
}

func (p *problems) err() error {
	if len(p.errs) == 0 {
		return nil
	}
	return fmt.Errorf("seed file %s:\n%w", p.path, errors.Join(p.errs...))
}

// Load reads and validates a seed file. It reports every problem it finds,
// each with its line. Relative private_key_file paths are relative to the
// seed file's directory.
func Load(path string) (*File, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("seed file: %w", err)
	}
	return Parse(path, raw)
}

// Parse is Load for a file already read; path names it in errors and
// anchors relative paths.
func Parse(path string, raw []byte) (*File, error) {
	p := &problems{path: path}
	var node yaml.Node
	if err := yaml.Unmarshal(raw, &node); err != nil {
		p.errs = append(p.errs, err)
		return nil, p.err()
	}
	if len(node.Content) == 0 || node.Content[0].Kind != yaml.MappingNode {
		p.add(1, "a seed file is a mapping with version: 1 and accounts")
		return nil, p.err()
	}
	f := &File{Path: path, root: node.Content[0]}
	var doc fileDoc
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			p.errs = append(p.errs, err)
			return nil, p.err()
		}
		for _, e := range te.Errors {
			if m := unknownField.FindStringSubmatch(e); m != nil {
				p.add(atoi(m[1]), "unknown field %q", m[2])
				continue
			}
			p.errs = append(p.errs, errors.New(e))
		}
	}
	if doc.Version != 1 {
		p.add(f.line("version"), "version must be 1")
	}
	if len(doc.Accounts) == 0 {
		p.add(f.line("accounts"), "accounts: a seed file declares at least one account")
	}
	seenAccount := map[string]int{}
	seenKey := map[string]int{}
	seenAK := map[string]int{}
	for i, ad := range doc.Accounts {
		at := func(field ...any) int { return f.line(append([]any{"accounts", i}, field...)...) }
		a := Account{ID: ad.ID}
		switch {
		case !accountID.MatchString(ad.ID):
			p.add(at("id"), "account id %q is not 12 digits", ad.ID)
		case seenAccount[ad.ID] > 0:
			p.add(at("id"), "account %s is declared twice (also line %d)", ad.ID, seenAccount[ad.ID])
		default:
			seenAccount[ad.ID] = at("id")
		}
		if ak := ad.RootAccessKey; ak != nil {
			// The bounds of kms.Service.CreateAccessKey.
			if n := len(ak.AccessKeyID); n < 16 || n > 128 {
				p.add(at("root_access_key", "access_key_id"), "root_access_key.access_key_id must be 16 to 128 characters")
			} else if seenAK[ak.AccessKeyID] > 0 {
				p.add(at("root_access_key", "access_key_id"), "access key %s is declared twice (also line %d)", ak.AccessKeyID, seenAK[ak.AccessKeyID])
			} else {
				seenAK[ak.AccessKeyID] = at("root_access_key", "access_key_id")
			}
			if len(ak.SecretAccessKey) < 16 {
				p.add(at("root_access_key", "secret_access_key"), "root_access_key.secret_access_key must be at least 16 characters")
			}
			a.AccessKeyID, a.SecretAccessKey = ak.AccessKeyID, ak.SecretAccessKey
		}
		for j, kd := range ad.Keys {
			k, ok := f.parseKey(p, ad.ID, i, j, kd)
			if !ok {
				continue
			}
			ref := k.Region + "/" + k.KeyID
			if l := seenKey[ref]; l > 0 {
				p.add(f.line("accounts", i, "keys", j, "id"), "key %s is declared twice in %s (also line %d)", k.KeyID, k.Region, l)
				continue
			}
			seenKey[ref] = f.line("accounts", i, "keys", j, "id")
			a.Keys = append(a.Keys, k)
		}
		f.parseIdentities(p, &a, i, ad)
		f.Accounts = append(f.Accounts, a)
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	return f, nil
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// parseKey turns a key declaration into a kms.SeedKey, adding its format
// problems to p; kms.Service.CheckSeedKey checks the rest (spec and usage,
// state, policy, tags, material sizes).
func (f *File) parseKey(p *problems, account string, i, j int, kd keyDoc) (kms.SeedKey, bool) {
	at := func(field ...any) int { return f.line(append([]any{"accounts", i, "keys", j}, field...)...) }
	n := len(p.errs)
	k := kms.SeedKey{
		Region: kd.Region, AccountID: account, KeyID: kd.ID,
		KeySpec: kd.Spec, KeyUsage: kd.Usage, Origin: kd.Origin, Description: kd.Description,
		KeyState: kd.State, PendingWindowInDays: kd.PendingWindowInDays, Policy: kd.Policy,
		Aliases: kd.Aliases,
	}
	switch {
	case kd.ID == "":
		p.add(at(), "key: id is required")
	case strings.HasPrefix(kd.ID, "mrk-"):
		p.add(at("id"), "key %s: multi-Region keys (mrk- ids) cannot be declared in a seed file yet; create them with CreateKey and ReplicateKey", kd.ID)
	}
	if !regionName.MatchString(kd.Region) {
		p.add(at("region"), "key %s: region %q is not a region name", kd.ID, kd.Region)
	}
	if kd.DeletionDate != "" {
		t, err := time.Parse(time.RFC3339, kd.DeletionDate)
		if err != nil {
			p.add(at("deletion_date"), "key %s: deletion_date %q is not an RFC 3339 time such as 2030-01-02T15:04:05Z", kd.ID, kd.DeletionDate)
		}
		k.DeletionDate = t
	}
	for _, t := range kd.Tags {
		k.Tags = append(k.Tags, store.Tag{Key: t.Key, Value: t.Value})
	}
	spec := kd.Spec
	if spec == "" {
		spec = "SYMMETRIC_DEFAULT"
	}
	byMaterials := spec == "SYMMETRIC_DEFAULT" || strings.HasPrefix(spec, "HMAC_")
	switch {
	case byMaterials && (kd.PrivateKey != "" || kd.PrivateKeyFile != ""):
		p.add(at(oneOf{"private_key", "private_key_file"}), "key %s: a %s key takes materials (hex or base64), not a private key", kd.ID, spec)
	case byMaterials:
		f.parseMaterials(p, &k, kd, at)
	case len(kd.Materials) > 0:
		p.add(at("materials"), "key %s: a %s key takes private_key or private_key_file (PEM), not materials", kd.ID, spec)
	case (kd.PrivateKey == "") == (kd.PrivateKeyFile == ""):
		p.add(at(oneOf{"private_key", "private_key_file"}), "key %s: give exactly one of private_key and private_key_file", kd.ID)
	default:
		pemText, line := []byte(kd.PrivateKey), at("private_key")
		if kd.PrivateKeyFile != "" {
			line = at("private_key_file")
			file := kd.PrivateKeyFile
			if !filepath.IsAbs(file) {
				file = filepath.Join(filepath.Dir(f.Path), file)
			}
			b, err := os.ReadFile(file)
			if err != nil {
				p.add(line, "key %s: private_key_file: %v", kd.ID, err)
				break
			}
			pemText = b
		}
		der, err := pkcs8(pemText)
		if err != nil {
			p.add(line, "key %s: %v", kd.ID, err)
			break
		}
		id := MaterialID(kd.ID, "")
		k.Materials = []kms.SeedMaterial{{ID: id, Raw: der}}
		k.CurrentMaterialID = id
	}
	return k, len(p.errs) == n
}

// parseMaterials decodes the materials of a symmetric or HMAC key and
// settles their ids and the current one.
func (f *File) parseMaterials(p *problems, k *kms.SeedKey, kd keyDoc, at func(...any) int) {
	if len(kd.Materials) == 0 {
		p.add(at("materials"), "key %s: materials: a seeded key needs its material", kd.ID)
		return
	}
	current := 0
	for m, md := range kd.Materials {
		mat := func(field string) int { return at("materials", m, field) }
		var id string
		switch {
		case md.ID == "" && len(kd.Materials) > 1:
			p.add(mat("id"), "key %s: materials: each of several materials needs an id", kd.ID)
		case hexID.MatchString(md.ID):
			id = md.ID
		case md.ID == "" || label.MatchString(md.ID):
			id = MaterialID(kd.ID, md.ID)
		default:
			p.add(mat("id"), "key %s: material id %q: want 64 lowercase hex characters, or a label of up to 64 of A-Z a-z 0-9 . _ -", kd.ID, md.ID)
		}
		var raw []byte
		var err error
		switch {
		case (md.Hex == "") == (md.Base64 == ""):
			p.add(mat("hex"), "key %s: material %d: give exactly one of hex and base64", kd.ID, m+1)
			continue
		case md.Hex != "":
			raw, err = hex.DecodeString(strings.Join(strings.Fields(md.Hex), ""))
			if err != nil {
				p.add(mat("hex"), "key %s: material %d: hex: not valid hexadecimal", kd.ID, m+1)
			}
		default:
			raw, err = base64.StdEncoding.DecodeString(strings.Join(strings.Fields(md.Base64), ""))
			if err != nil {
				p.add(mat("base64"), "key %s: material %d: base64: not valid standard base64", kd.ID, m+1)
			}
		}
		if md.Current {
			current++
			if current > 1 {
				p.add(mat("current"), "key %s: materials: only one material can be current", kd.ID)
			}
			k.CurrentMaterialID = id
		}
		k.Materials = append(k.Materials, kms.SeedMaterial{ID: id, Raw: raw})
	}
	if current == 0 && len(kd.Materials) > 1 {
		p.add(at("materials"), "key %s: materials: mark the current one of several materials with current: true", kd.ID)
	}
}

// pkcs8 returns the PKCS #8 DER of the one PEM private key in text:
// "PRIVATE KEY" as it is, "RSA PRIVATE KEY" (PKCS #1) and "EC PRIVATE KEY"
// (SEC 1, NIST curves) converted. Errors never quote the key.
func pkcs8(text []byte) ([]byte, error) {
	block, rest := pem.Decode(text)
	if block == nil {
		return nil, errors.New("not a PEM private key")
	}
	if next, _ := pem.Decode(rest); next != nil {
		return nil, errors.New("more than one PEM block; give the private key only")
	}
	switch block.Type {
	case "PRIVATE KEY":
		return block.Bytes, nil
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("RSA PRIVATE KEY: not a PKCS #1 RSA private key")
		}
		return x509.MarshalPKCS8PrivateKey(k)
	case "EC PRIVATE KEY":
		k, err := x509.ParseECPrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("EC PRIVATE KEY: not a SEC 1 key on a NIST curve; convert it to PKCS #8 (openssl pkcs8 -topk8 -nocrypt)")
		}
		return x509.MarshalPKCS8PrivateKey(k)
	case "ENCRYPTED PRIVATE KEY":
		return nil, errors.New("encrypted private keys are not supported; decrypt it (openssl pkcs8 -topk8 -nocrypt)")
	}
	return nil, fmt.Errorf("PEM block %q is not a private key (want PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)", block.Type)
}

// oneOf is a path element for line that takes the first of several
// mapping keys that exists.
type oneOf []string

// line returns the line of the node at path (mapping keys as strings or
// oneOf, sequence indexes as ints), or of its deepest existing ancestor.
func (f *File) line(path ...any) int {
	n, line := f.root, f.root.Line
	for _, el := range path {
		var names []string
		switch e := el.(type) {
		case int:
			if n.Kind != yaml.SequenceNode || e >= len(n.Content) {
				return line
			}
			n, line = n.Content[e], n.Content[e].Line
			continue
		case string:
			names = []string{e}
		case oneOf:
			names = e
		}
		if n.Kind != yaml.MappingNode {
			return line
		}
		var found *yaml.Node
		for _, name := range names {
			for c := 0; c+1 < len(n.Content) && found == nil; c += 2 {
				if n.Content[c].Value == name {
					found, line = n.Content[c+1], n.Content[c].Line
				}
			}
		}
		if found == nil {
			return line
		}
		n = found
	}
	return line
}
