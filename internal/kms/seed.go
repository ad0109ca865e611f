package kms

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/trent-kms/trent/internal/keyspec"
	"github.com/trent-kms/trent/internal/keystore"
	"github.com/trent-kms/trent/internal/policy"
	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/wire"
)

// SeedKey declares a key with a fixed id and known material, from a seed
// file (package seed). Nothing in the AWS API creates such a key: it exists
// for test fixtures, so that a ciphertext or signature made once keeps
// decrypting or verifying. See docs/seed.md.
type SeedKey struct {
	Region    string
	AccountID string
	KeyID     string // a lowercase UUID; multi-Region (mrk-) ids are refused

	KeySpec     string // "" means SYMMETRIC_DEFAULT
	KeyUsage    string // "" means the spec's default usage, where it has one
	Origin      string // "" means AWS_KMS, the only origin supported
	Description string
	KeyState    string // "" means Enabled; Disabled; PendingDeletion
	// DeletionDate and PendingWindowInDays (default 30) go with
	// PendingDeletion only.
	DeletionDate        time.Time
	PendingWindowInDays int
	Policy              string // "" means the default key policy
	Tags                []store.Tag

	// Materials are the key's material versions: one or more for
	// SYMMETRIC_DEFAULT (32 bytes each), exactly one for every other spec
	// (the raw key for HMAC, PKCS #8 DER or the form keyspec.Parse takes
	// for the others). CurrentMaterialID names the current one; it may be
	// empty when there is only one.
	Materials         []SeedMaterial
	CurrentMaterialID string

	// Aliases are alias names ("alias/...") that point to the key, in its
	// region and account.
	Aliases []string
}

// SeedMaterial is one version of a seeded key's material. It prints and
// logs as its id only.
type SeedMaterial struct {
	ID  string // 64 lowercase hex characters
	Raw []byte
}

// String returns the material id, never the material.
func (m SeedMaterial) String() string { return "material " + m.ID + " [redacted]" }

// GoString is String, so %#v does not print the material.
func (m SeedMaterial) GoString() string { return m.String() }

// Format prints String for every verb.
func (m SeedMaterial) Format(f fmt.State, verb rune) { io.WriteString(f, m.String()) }

// LogValue logs the material id only.
func (m SeedMaterial) LogValue() slog.Value { return slog.StringValue(m.String()) }

// SeedError is a seeded key that cannot be applied: its declaration is
// invalid, or it conflicts with what the store holds under the same key id.
// Field names the declaration's field (as in the seed file: "materials",
// "state", "aliases", ...), so the caller can point at its line. Reason
// never contains key material.
type SeedError struct {
	KeyARN string
	Field  string
	Reason string
}

func (e *SeedError) Error() string { return "key " + e.KeyARN + ": " + e.Field + ": " + e.Reason }

var keyUUID = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// aliasNamePattern is AliasNameType's pattern in the KMS model.
var aliasNamePattern = regexp.MustCompile(`^[a-zA-Z0-9:/_-]+$`)

// seedKey is a validated declaration, ready to compare or store.
type seedKey struct {
	SeedKey
	arn string
}

// checkSeed validates d and fills in its defaults. Every error is a
// *SeedError.
func (s *Service) checkSeed(d SeedKey) (*seedKey, error) {
	k := &seedKey{SeedKey: d, arn: KeyARN(d.Region, d.AccountID, d.KeyID)}
	bad := func(field, format string, args ...any) error {
		return &SeedError{KeyARN: k.arn, Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case strings.HasPrefix(d.KeyID, "mrk-"):
		return nil, bad("id", "multi-Region keys (mrk- ids) cannot be declared in a seed file yet; create them with CreateKey and ReplicateKey")
	case !keyUUID.MatchString(d.KeyID):
		return nil, bad("id", "%q is not a key id: want a lowercase UUID such as 1234abcd-12ab-34cd-56ef-1234567890ab", d.KeyID)
	}
	if !s.regions[d.Region] {
		return nil, bad("region", "region %q is not served by this server", d.Region)
	}
	if !isAccountID(d.AccountID) {
		return nil, bad("account", "%q is not a 12-digit account id", d.AccountID)
	}
	if k.KeySpec == "" {
		k.KeySpec = specSymmetric
	}
	info, ok := keyspec.Lookup(k.KeySpec)
	if !ok {
		return nil, bad("spec", "%q is not a key spec (%s)", k.KeySpec, strings.Join(keyspec.KeySpecs(), ", "))
	}
	if k.KeyUsage == "" {
		def, ok := info.DefaultUsage()
		if !ok {
			return nil, bad("usage", "a %s key needs a usage", k.KeySpec)
		}
		k.KeyUsage = def
	}
	if err := checkSpecUsage(d.Region, k.KeySpec, k.KeyUsage); err != nil {
		return nil, bad("usage", "%s", errMessage(err))
	}
	switch k.Origin {
	case "":
		k.Origin = "AWS_KMS"
	case "AWS_KMS":
	default:
		return nil, bad("origin", "origin %s is not supported yet; only AWS_KMS", k.Origin)
	}
	if n := len([]rune(k.Description)); n > 8192 {
		// DescriptionType in the KMS model: max 8192.
		return nil, bad("description", "is %d characters; at most 8192", n)
	}
	switch k.KeyState {
	case "":
		k.KeyState = stateEnabled
		fallthrough
	case stateEnabled, stateDisabled:
		if !k.DeletionDate.IsZero() || k.PendingWindowInDays != 0 {
			return nil, bad("deletion_date", "is for a key in state PendingDeletion only")
		}
	case statePendingDeletion:
		if k.DeletionDate.IsZero() {
			return nil, bad("deletion_date", "a key in state PendingDeletion needs a deletion date")
		}
		k.DeletionDate = k.DeletionDate.UTC()
		if k.PendingWindowInDays == 0 {
			k.PendingWindowInDays = 30
		}
		if k.PendingWindowInDays < 7 || k.PendingWindowInDays > 30 {
			return nil, bad("pending_window_in_days", "must be between 7 and 30")
		}
		if len(k.Aliases) > 0 {
			// AWS refuses CreateAlias for a key pending deletion.
			return nil, bad("aliases", "a key pending deletion cannot be given an alias")
		}
	default:
		return nil, bad("state", "%q is not one of Enabled, Disabled, PendingDeletion", k.KeyState)
	}
	if k.Policy == "" {
		k.Policy = DefaultKeyPolicy(Partition(d.Region), d.AccountID)
	} else {
		if err := s.checkPolicySize(k.Policy); err != nil {
			return nil, bad("policy", "%s", errMessage(err))
		}
		if _, err := policy.Parse(k.Policy, policy.KeyPolicy); err != nil {
			return nil, bad("policy", "is not a valid key policy: %v", err)
		}
	}
	wt := make([]wire.Tag, len(d.Tags))
	for i, t := range d.Tags {
		wt[i] = wire.Tag{TagKey: wire.Ptr(t.Key), TagValue: wire.Ptr(t.Value)}
	}
	tags, err := checkTags(wt, s.quotas.TagsPerKey)
	if err != nil {
		return nil, bad("tags", "%s", errMessage(err))
	}
	k.Tags = tags
	if err := k.checkMaterials(bad); err != nil {
		return nil, err
	}
	for i, a := range k.Aliases {
		switch {
		case checkAliasName(a) != nil || len(a) > 256 || !aliasNamePattern.MatchString(a):
			return nil, bad("aliases", "%q is not an alias name: alias/ and up to 250 of a-z A-Z 0-9 : / _ -", a)
		case reservedAlias(a):
			return nil, bad("aliases", "%q: the alias/aws/ prefix is reserved for AWS managed keys", a)
		case slices.Contains(k.Aliases[:i], a):
			return nil, bad("aliases", "%q is given twice", a)
		}
	}
	return k, nil
}

// checkMaterials checks the material versions against the key spec and
// settles the current one.
func (k *seedKey) checkMaterials(bad func(field, format string, args ...any) error) error {
	ms := k.Materials
	if len(ms) == 0 {
		return bad("materials", "a seeded key needs its material")
	}
	if k.KeySpec != specSymmetric && len(ms) > 1 {
		// AWS rotates the material of symmetric encryption keys only.
		return bad("materials", "a %s key has exactly one material; only SYMMETRIC_DEFAULT keys have several", k.KeySpec)
	}
	for i, m := range ms {
		if !materialID.MatchString(m.ID) {
			return bad("materials", "material id %q is not 64 lowercase hex characters", m.ID)
		}
		if slices.ContainsFunc(ms[:i], func(o SeedMaterial) bool { return o.ID == m.ID }) {
			return bad("materials", "material id %s is given twice", m.ID)
		}
		if k.KeySpec == specSymmetric {
			if len(m.Raw) != keystore.SymmetricKeySize {
				return bad("materials", "material %s is %d bytes; SYMMETRIC_DEFAULT material is %d", m.ID, len(m.Raw), keystore.SymmetricKeySize)
			}
			continue
		}
		if _, err := keyspec.Parse(k.KeySpec, m.Raw); err != nil {
			return bad("materials", "not a %s key: %v", k.KeySpec, err)
		}
	}
	switch {
	case k.CurrentMaterialID == "" && len(ms) == 1:
		k.CurrentMaterialID = ms[0].ID
	case k.CurrentMaterialID == "":
		return bad("materials", "several materials and none is current")
	case !slices.ContainsFunc(ms, func(m SeedMaterial) bool { return m.ID == k.CurrentMaterialID }):
		return bad("materials", "the current material %s is not among the key's materials", k.CurrentMaterialID)
	}
	return nil
}

var materialID = regexp.MustCompile(`^[0-9a-f]{64}$`)

// errMessage returns the caller-facing message of a wire error, or the
// error's text.
func errMessage(err error) string {
	var we *wire.Error
	if errors.As(err, &we) && we.Message != "" {
		return we.Message
	}
	return err.Error()
}

// CheckSeedKey validates a seed declaration and compares it with the
// store. It reports whether the key already exists, identical in every
// declared field; a key that exists with any difference (other material,
// another state, spec, description, policy, tags, account or alias
// target) is a *SeedError naming the field. It writes nothing.
func (s *Service) CheckSeedKey(ctx context.Context, d SeedKey) (exists bool, err error) {
	k, err := s.checkSeed(d)
	if err != nil {
		return false, err
	}
	return s.compareSeed(ctx, k)
}

func (s *Service) compareSeed(ctx context.Context, k *seedKey) (exists bool, err error) {
	stored, err := s.store.GetKey(ctx, store.KeyRef{Region: k.Region, KeyID: k.KeyID})
	if errors.Is(err, store.ErrNotFound) {
		return false, s.compareAliases(ctx, k)
	}
	if err != nil {
		return false, err
	}
	conflict := func(field, format string, args ...any) error {
		return &SeedError{KeyARN: k.arn, Field: field, Reason: fmt.Sprintf(format, args...) +
			"; a seed file never changes a stored key: change the declaration, or start from an empty store"}
	}
	differs := func(field, stored, declared string) error {
		return conflict(field, "the stored key has %q, the seed file %q", stored, declared)
	}
	switch {
	case stored.AccountID != k.AccountID:
		return false, conflict("id", "the key id is taken in %s by account %s", k.Region, stored.AccountID)
	case stored.KeySpec != k.KeySpec:
		return false, differs("spec", stored.KeySpec, k.KeySpec)
	case stored.KeyUsage != k.KeyUsage:
		return false, differs("usage", stored.KeyUsage, k.KeyUsage)
	case stored.Origin != k.Origin:
		return false, differs("origin", stored.Origin, k.Origin)
	case stored.MultiRegion:
		return false, conflict("id", "the stored key is a multi-Region key")
	case stored.Description != k.Description:
		return false, differs("description", stored.Description, k.Description)
	case stored.KeyState != k.KeyState:
		return false, differs("state", stored.KeyState, k.KeyState)
	case !stored.DeletionDate.Equal(k.DeletionDate):
		return false, differs("deletion_date", fmtSeedTime(stored.DeletionDate), fmtSeedTime(k.DeletionDate))
	case k.KeyState == statePendingDeletion && stored.PendingWindowInDays != k.PendingWindowInDays:
		return false, differs("pending_window_in_days", fmt.Sprint(stored.PendingWindowInDays), fmt.Sprint(k.PendingWindowInDays))
	case stored.Policy != k.Policy:
		return false, conflict("policy", "the stored key policy differs")
	case !sameTags(stored.Tags, k.Tags):
		return false, conflict("tags", "the stored key's tags differ")
	}
	if err := s.compareMaterials(&stored, k, conflict); err != nil {
		return false, err
	}
	return true, s.compareAliases(ctx, k)
}

func fmtSeedTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// sameTags compares tag sets; their order does not matter.
func sameTags(a, b []store.Tag) bool {
	if len(a) != len(b) {
		return false
	}
	cmp := func(x, y store.Tag) int { return strings.Compare(x.Key, y.Key) }
	a, b = slices.Clone(a), slices.Clone(b)
	slices.SortFunc(a, cmp)
	slices.SortFunc(b, cmp)
	return slices.Equal(a, b)
}

// compareMaterials opens every stored material and compares it, in
// constant time, with the declared one of the same id. Material that a
// rotation added after the key was seeded (RotateKeyOnDemand or automatic
// rotation) is not part of the declaration and is left out, and a current
// material made by a rotation is accepted: rotating a seeded key does not
// stop the next start.
func (s *Service) compareMaterials(stored *store.Key, k *seedKey, conflict func(field, format string, args ...any) error) error {
	rotated := slices.ContainsFunc(stored.Materials, func(m store.Material) bool {
		return m.RotationType != "" && m.ID == stored.CurrentMaterialID
	})
	stored = &store.Key{CurrentMaterialID: stored.CurrentMaterialID,
		Materials: slices.DeleteFunc(slices.Clone(stored.Materials), func(m store.Material) bool { return m.RotationType != "" })}
	ids := func(ms []store.Material) []string {
		out := make([]string, len(ms))
		for i, m := range ms {
			out[i] = m.ID
		}
		slices.Sort(out)
		return out
	}
	declared := make([]string, len(k.Materials))
	for i, m := range k.Materials {
		declared[i] = m.ID
	}
	slices.Sort(declared)
	if have := ids(stored.Materials); !slices.Equal(have, declared) {
		return conflict("materials", "the stored key has the material ids %s, the seed file %s",
			strings.Join(have, ", "), strings.Join(declared, ", "))
	}
	for _, m := range stored.Materials {
		raw, err := s.root.Open(m.Sealed, keystore.MaterialAAD(k.arn, m.ID))
		if err != nil {
			return fmt.Errorf("unseal material %s of %s: %w", m.ID, k.arn, err)
		}
		i := slices.IndexFunc(k.Materials, func(d SeedMaterial) bool { return d.ID == m.ID })
		same := len(raw) == len(k.Materials[i].Raw) && subtle.ConstantTimeCompare(raw, k.Materials[i].Raw) == 1
		clear(raw)
		if !same {
			return conflict("materials", "material %s differs from the stored material of that id", m.ID)
		}
	}
	if !rotated && stored.CurrentMaterialID != k.CurrentMaterialID {
		return conflict("materials", "the stored key's current material is %s, the seed file's %s", stored.CurrentMaterialID, k.CurrentMaterialID)
	}
	return nil
}

// compareAliases checks that no declared alias points to another key.
func (s *Service) compareAliases(ctx context.Context, k *seedKey) error {
	for _, name := range k.Aliases {
		a, err := s.store.GetAlias(ctx, k.Region, k.AccountID, name)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if a.TargetKeyID != k.KeyID {
			return &SeedError{KeyARN: k.arn, Field: "aliases", Reason: fmt.Sprintf(
				"%s already points to key %s; a seed file never moves an alias", AliasARN(k.Region, k.AccountID, name), a.TargetKeyID)}
		}
	}
	return nil
}

// ImportSeedKey applies a seed declaration: it creates the account if
// needed, then the key with the declared id, state and material (each
// material sealed under the root key bound to the key ARN and material id,
// like generated material), then every declared alias that does not exist
// yet. A key that already exists identical to the declaration is left
// alone, and created reports false. Any difference from the stored key is
// a *SeedError naming the field, and nothing is written: stored material
// is never replaced. Seeded keys and aliases do not count against the
// quotas, which limit API callers.
func (s *Service) ImportSeedKey(ctx context.Context, d SeedKey) (created bool, err error) {
	k, err := s.checkSeed(d)
	if err != nil {
		return false, err
	}
	exists, err := s.compareSeed(ctx, k)
	if err != nil {
		return false, err
	}
	if err := s.EnsureAccount(ctx, k.AccountID); err != nil {
		return false, err
	}
	ref := store.KeyRef{Region: k.Region, KeyID: k.KeyID}
	now := s.now().UTC().Truncate(time.Millisecond)
	if !exists {
		if k.KeyState == statePendingDeletion && !k.DeletionDate.After(now) {
			return false, &SeedError{KeyARN: k.arn, Field: "deletion_date", Reason: "is not in the future: the key would be deleted at once"}
		}
		sk := store.Key{
			Region: k.Region, KeyID: k.KeyID, AccountID: k.AccountID,
			Description: k.Description, KeyUsage: k.KeyUsage, KeySpec: k.KeySpec, Origin: k.Origin,
			KeyManager: "CUSTOMER", KeyState: k.KeyState, CreationDate: now,
			DeletionDate: k.DeletionDate, PendingWindowInDays: k.PendingWindowInDays,
			Policy: k.Policy, PolicyName: defaultPolicyName, Tags: k.Tags,
			CurrentMaterialID: k.CurrentMaterialID,
		}
		for _, m := range k.Materials {
			sealed, err := s.root.Seal(m.Raw, keystore.MaterialAAD(k.arn, m.ID))
			if err != nil {
				return false, fmt.Errorf("seal material %s of %s: %w", m.ID, k.arn, err)
			}
			sk.Materials = append(sk.Materials, store.Material{ID: m.ID, Sealed: sealed, CreatedAt: now})
		}
		err := s.store.CreateKey(ctx, sk)
		s.forgetKey(ref)
		if errors.Is(err, store.ErrExists) {
			// Created meanwhile by another node applying the same file:
			// it must be identical.
			if exists, err = s.compareSeed(ctx, k); err != nil {
				return false, err
			}
		} else if err != nil {
			return false, fmt.Errorf("create key %s: %w", k.arn, err)
		} else {
			created = true
		}
	}
	for _, name := range k.Aliases {
		err := s.store.CreateAlias(ctx, store.Alias{Region: k.Region, AccountID: k.AccountID, Name: name,
			TargetKeyID: k.KeyID, CreationDate: now, LastUpdatedDate: now})
		s.forgetAlias(aliasRef{k.Region, k.AccountID, name})
		if errors.Is(err, store.ErrExists) {
			err = s.compareAliases(ctx, &seedKey{SeedKey: SeedKey{Region: k.Region, AccountID: k.AccountID, KeyID: k.KeyID, Aliases: []string{name}}, arn: k.arn})
		}
		if err != nil {
			return created, fmt.Errorf("create alias %s: %w", AliasARN(k.Region, k.AccountID, name), err)
		}
	}
	return created, nil
}
