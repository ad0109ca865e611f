package kms

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"github.com/trent-kms/trent/internal/keystore"
	"github.com/trent-kms/trent/internal/policy"
	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/wire"
)

// Changes to the keys of a multi-Region set (multiregion.go) are made one
// region at a time, as a [MemberChange]: applied to this deployment's
// store when it serves the region ([Service.ApplyMemberChange]), or sent
// to the peer deployment that serves it ([Peers]). Both paths apply the
// same change, so a set spread over two deployments behaves as one in a
// single deployment.

// MemberChange is one change to the key of a multi-Region set in one
// region. Materials carry raw key material in memory only: Raw is never
// marshalled (a peer link wraps it, see package peer) and is cleared once
// the change has been applied or sent.
type MemberChange struct {
	Region    string
	KeyID     string
	AccountID string

	// Create makes the key (ReplicateKey); the change fails with an error
	// wrapping store.ErrExists when the region has it already.
	Create *MemberCreate `json:",omitempty"`
	// Config, when set, replaces the set's configuration in the key.
	Config *MemberConfig `json:",omitempty"`
	// Materials are added to the key unless it has them (same id).
	Materials []MemberMaterial `json:",omitempty"`
	// Shared, when set, replaces the current material and the automatic
	// rotation settings.
	Shared *MemberShared `json:",omitempty"`
	// DeletedRegion, when set, is a region whose key of the set was
	// deleted: the key drops it, and a primary waiting in
	// PendingReplicaDeletion for its last replica enters PendingDeletion.
	DeletedRegion string `json:",omitempty"`
	// Promote, with a Config naming the key's region as primary, makes the
	// key the set's primary (UpdatePrimaryRegion into a peer's region):
	// the key must be Enabled, and the caller, authenticated by the
	// deployment that sends the change, must be allowed
	// kms:UpdatePrimaryRegion on it here.
	Promote *MemberCaller `json:",omitempty"`
}

// MemberCaller is the caller of a request that a peer deployment
// authenticated, as Promote carries it.
type MemberCaller struct {
	AccountID       string
	Principal       string
	Identity        policy.Principal
	SourceIP        string `json:",omitempty"`
	SecureTransport bool
	RequestID       string `json:",omitempty"`
}

// memberCaller returns c as a MemberCaller.
func memberCaller(c *Caller) *MemberCaller {
	mc := &MemberCaller{AccountID: c.AccountID, Principal: c.Principal, Identity: identity(c), SecureTransport: c.SecureTransport, RequestID: c.RequestID}
	if c.SourceIP.IsValid() {
		mc.SourceIP = c.SourceIP.String()
	}
	return mc
}

// caller returns the Caller mc describes, in region.
func (mc *MemberCaller) caller(region string) *Caller {
	c := &Caller{AccountID: mc.AccountID, Principal: mc.Principal, Identity: mc.Identity, Region: region,
		SecureTransport: mc.SecureTransport, RequestID: mc.RequestID}
	c.SourceIP, _ = netip.ParseAddr(mc.SourceIP)
	return c
}

// MemberCreate holds the properties of a new replica.
type MemberCreate struct {
	Description  string
	Policy       string
	Tags         []store.Tag
	KeySpec      string
	KeyUsage     string
	Origin       string
	KeyManager   string
	CreationDate time.Time
}

// MemberConfig is the configuration of a multi-Region set.
type MemberConfig struct {
	Primary  string
	Replicas []string
}

// MemberShared holds the shared properties other than material.
type MemberShared struct {
	CurrentMaterialID    string
	RotationEnabled      bool
	RotationPeriodInDays int
	NextRotationDate     time.Time
	OnDemandRotations    int
}

// MemberMaterial is one key material of a set. Raw is the material itself
// and never leaves the process: a peer link sends Wrapped, Raw sealed to
// the receiving deployment.
type MemberMaterial struct {
	ID           string
	CreatedAt    time.Time
	RotationType string `json:",omitempty"`
	Raw          []byte `json:"-"`
	Wrapped      []byte `json:",omitempty"`
}

// LogValue keeps a change's material out of logs.
func (m MemberMaterial) LogValue() slog.Value { return slog.StringValue("material " + m.ID) }

// Format prints only the material id, for every verb: Raw never reaches
// a log or an error message.
func (m MemberMaterial) Format(f fmt.State, verb rune) { io.WriteString(f, "material "+m.ID) }

// LogValue logs a change by the key it concerns.
func (ch *MemberChange) LogValue() slog.Value {
	return slog.StringValue(KeyARN(ch.Region, ch.AccountID, ch.KeyID))
}

// clear wipes the raw material of the change.
func (ch *MemberChange) clear() {
	for i := range ch.Materials {
		clear(ch.Materials[i].Raw)
		ch.Materials[i].Raw = nil
	}
}

// Peers reaches the deployments that serve the regions this one does
// not: package peer implements it over mutual TLS.
type Peers interface {
	// Serves reports whether a peer serves region.
	Serves(region string) bool
	// Send applies the change in the peer that serves its region. An
	// error wrapping store.ErrExists means a Create found the key there; a
	// *wire.Error is the peer's answer to pass to the caller.
	Send(ctx context.Context, ch *MemberChange) error
}

// servesAnywhere reports whether this deployment or a peer serves region.
func (s *Service) servesAnywhere(region string) bool {
	return s.ServesRegion(region) || s.peers != nil && s.peers.Serves(region)
}

// send applies ch here or through the peer that serves its region, and
// clears its material. A region nobody serves any more is skipped, and so
// is a key that no longer exists.
func (s *Service) send(ctx context.Context, ch *MemberChange) error {
	err := s.deliver(ctx, ch)
	if errors.Is(err, store.ErrNotFound) && ch.Create == nil && ch.Promote == nil {
		return nil
	}
	return err
}

// deliver is send that reports a missing key as an error wrapping
// store.ErrNotFound.
func (s *Service) deliver(ctx context.Context, ch *MemberChange) error {
	defer ch.clear()
	switch {
	case s.ServesRegion(ch.Region):
		return s.ApplyMemberChange(ctx, ch)
	case s.peers != nil && s.peers.Serves(ch.Region):
		if err := s.peers.Send(ctx, ch); err != nil {
			return fmt.Errorf("peer serving %s: %w", ch.Region, err)
		}
		return nil
	}
	s.log.Warn("multi-Region key: no deployment serves the region of a key of the set", "key_id", ch.KeyID, "region", ch.Region)
	return nil
}

// rawMaterials returns the materials of k unsealed, those named in ids
// only when ids is not nil. The caller clears them (MemberChange.clear).
func (s *Service) rawMaterials(k *store.Key, ids []string) ([]MemberMaterial, error) {
	arn := KeyARN(k.Region, k.AccountID, k.KeyID)
	var out []MemberMaterial
	for _, m := range k.Materials {
		if ids != nil && !slices.Contains(ids, m.ID) {
			continue
		}
		raw, err := s.root.Open(m.Sealed, keystore.MaterialAAD(arn, m.ID))
		if err != nil {
			for i := range out {
				clear(out[i].Raw)
			}
			return nil, fmt.Errorf("unseal material %s of %s: %w", m.ID, arn, err)
		}
		out = append(out, MemberMaterial{ID: m.ID, CreatedAt: m.CreatedAt, RotationType: m.RotationType, Raw: raw})
	}
	return out, nil
}

// sharedOf returns k's shared properties other than material.
func sharedOf(k *store.Key) *MemberShared {
	return &MemberShared{CurrentMaterialID: k.CurrentMaterialID, RotationEnabled: k.RotationEnabled,
		RotationPeriodInDays: k.RotationPeriodInDays, NextRotationDate: k.NextRotationDate, OnDemandRotations: k.OnDemandRotations}
}

// ApplyMemberChange applies a change to the key of a multi-Region set in
// one of this deployment's regions; the peer link calls it for changes a
// peer sends. Materials are sealed by this deployment's root key for the
// key's ARN here. A change to a key that does not exist (deleted since)
// is an error wrapping store.ErrNotFound.
func (s *Service) ApplyMemberChange(ctx context.Context, ch *MemberChange) error {
	return s.apply(ctx, ch, nil)
}

// ApplyPeerChange is ApplyMemberChange for a change a peer deployment sent:
// senderServes tells the regions that peer serves, and the change must
// concern a set with a key in one of them (a Create names the sender's
// primary; any other change a key whose set has a member there).
// Otherwise it is refused with AccessDeniedException: a peer manages only
// the sets it takes part in.
func (s *Service) ApplyPeerChange(ctx context.Context, ch *MemberChange, senderServes func(region string) bool) error {
	if senderServes == nil {
		return errors.New("kms: ApplyPeerChange needs the sender's regions")
	}
	// Accounts are per deployment: a replica goes only to an account the
	// receiving deployment has (docs/multi-region.md, "Limits").
	if _, err := s.store.GetAccount(ctx, ch.AccountID); errors.Is(err, store.ErrNotFound) {
		return wire.Errorf("NotFoundException", "Account %s does not exist in the deployment that serves %s.", ch.AccountID, ch.Region)
	} else if err != nil {
		return err
	}
	return s.apply(ctx, ch, senderServes)
}

// checkReplicaCreate refuses a replica that ReplicateKey could not have
// made: a multi-Region key is customer managed, of Origin AWS_KMS or
// EXTERNAL (custom key stores hold no multi-Region keys), with a key spec
// and usage that go together. A peer deployment's Create is checked as
// strictly as a local one, so that a peer cannot plant an AWS managed key
// or a key that cannot load in an account here. The messages are
// Trent's.
func checkReplicaCreate(region string, c *MemberCreate) error {
	if c.KeyManager != "CUSTOMER" {
		return validationError(fmt.Sprintf("A replica key must be customer managed, not KeyManager %q.", c.KeyManager))
	}
	if c.Origin != "AWS_KMS" && c.Origin != originExternal {
		return validationError(fmt.Sprintf("A multi-Region key cannot have Origin %q.", c.Origin))
	}
	return checkSpecUsage(region, c.KeySpec, c.KeyUsage)
}

func errPeerForbidden(arn string) error {
	return wire.Errorf("AccessDeniedException", "The peer deployment takes no part in the multi-Region key %s.", arn)
}

func (s *Service) apply(ctx context.Context, ch *MemberChange, sender func(string) bool) error {
	if !s.ServesRegion(ch.Region) || !isMRKID(ch.KeyID) || !isAccountID(ch.AccountID) {
		return fmt.Errorf("kms: change for %s/%s of account %q: not a multi-Region key of a region served here", ch.Region, ch.KeyID, ch.AccountID)
	}
	arn := KeyARN(ch.Region, ch.AccountID, ch.KeyID)
	mats := make([]store.Material, 0, len(ch.Materials))
	for _, m := range ch.Materials {
		if len(m.Raw) == 0 {
			return fmt.Errorf("kms: change for %s: material %s has no content", arn, m.ID)
		}
		sealed, err := s.root.Seal(m.Raw, keystore.MaterialAAD(arn, m.ID))
		if err != nil {
			return fmt.Errorf("seal material %s for %s: %w", m.ID, arn, err)
		}
		mats = append(mats, store.Material{ID: m.ID, Sealed: sealed, CreatedAt: m.CreatedAt, RotationType: m.RotationType})
	}
	if c := ch.Create; c != nil {
		if ch.Config == nil {
			return fmt.Errorf("kms: change creating %s has no configuration", arn)
		}
		if sender != nil && !sender(ch.Config.Primary) {
			return errPeerForbidden(arn)
		}
		if err := checkReplicaCreate(ch.Region, c); err != nil {
			return err
		}
		k := store.Key{
			Region: ch.Region, KeyID: ch.KeyID, AccountID: ch.AccountID,
			Description: c.Description, KeyUsage: c.KeyUsage, KeySpec: c.KeySpec, Origin: c.Origin, KeyManager: c.KeyManager,
			KeyState: stateCreating, MultiRegion: true, CreationDate: c.CreationDate,
			Policy: c.Policy, PolicyName: defaultPolicyName, Tags: c.Tags,
			MultiRegionPrimary: ch.Config.Primary, MultiRegionReplicas: slices.Clone(ch.Config.Replicas),
			Materials: mats,
		}
		applyShared(&k, ch.Shared)
		return s.createKey(ctx, &Caller{AccountID: ch.AccountID, Region: ch.Region}, k)
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	ref := store.KeyRef{Region: ch.Region, KeyID: ch.KeyID}
	if ch.Promote != nil {
		if err := s.checkPromote(ctx, ch, arn); err != nil {
			return err
		}
	}
	_, err := s.store.UpdateKey(ctx, ref, func(k *store.Key) error {
		if k.AccountID != ch.AccountID || !k.MultiRegion {
			return store.ErrNotFound
		}
		if sender != nil && !slices.ContainsFunc(setRegions(k), sender) {
			return errPeerForbidden(arn)
		}
		for _, m := range mats {
			if !slices.ContainsFunc(k.Materials, func(o store.Material) bool { return o.ID == m.ID }) {
				k.Materials = append(k.Materials, m)
			}
		}
		if ch.Config != nil {
			k.MultiRegionPrimary, k.MultiRegionReplicas = ch.Config.Primary, slices.Clone(ch.Config.Replicas)
		}
		applyShared(k, ch.Shared)
		if r := ch.DeletedRegion; r != "" {
			k.MultiRegionReplicas = slices.DeleteFunc(k.MultiRegionReplicas, func(x string) bool { return x == r })
			if isPrimary(k) && len(k.MultiRegionReplicas) == 0 && k.KeyState == statePendingReplicaDeletion {
				k.KeyState = statePendingDeletion
				k.DeletionDate = now.Add(days(k.PendingWindowInDays))
			}
		}
		return nil
	})
	s.forgetKey(ref)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%s: %w", arn, store.ErrNotFound)
	}
	return err
}

// checkPromote checks a Promote change: the key exists, is a replica
// that the change makes primary, is Enabled, and the caller may
// kms:UpdatePrimaryRegion on it under its key policy (and the caller's
// identity policies as this deployment knows them).
func (s *Service) checkPromote(ctx context.Context, ch *MemberChange, arn string) error {
	if ch.Config == nil || ch.Config.Primary != ch.Region {
		return fmt.Errorf("kms: promote change for %s does not make it the primary", arn)
	}
	ck, err := s.loadKey(ctx, store.KeyRef{Region: ch.Region, KeyID: ch.KeyID})
	if errors.Is(err, store.ErrNotFound) || err == nil && (ck.meta.AccountID != ch.AccountID || !ck.meta.MultiRegion) {
		return errKeyNotFound(arn)
	}
	if err != nil {
		return err
	}
	c := ch.Promote.caller(ch.Region)
	if c.AccountID != ch.AccountID {
		return errPeerForbidden(arn)
	}
	if err := s.authorizeFound(ctx, c, opUpdatePrimaryRegion, ck, "", &condReq{primaryRegion: ch.Region}); err != nil {
		return err
	}
	return enabledForUpdate(&ck.meta, arn)
}

// applyShared sets the shared properties sh on k; the current material
// changes only to one k holds.
func applyShared(k *store.Key, sh *MemberShared) {
	if sh == nil {
		return
	}
	if slices.ContainsFunc(k.Materials, func(m store.Material) bool { return m.ID == sh.CurrentMaterialID }) {
		k.CurrentMaterialID = sh.CurrentMaterialID
	}
	k.RotationEnabled, k.RotationPeriodInDays = sh.RotationEnabled, sh.RotationPeriodInDays
	k.NextRotationDate, k.OnDemandRotations = sh.NextRotationDate, sh.OnDemandRotations
}

// SyncMultiRegionKeys pushes the configuration and shared properties of
// every multi-Region primary key this deployment holds to each of its
// replicas, here and in peer deployments, and drops from its set a
// replica that no longer exists (deleted while its deployment could not
// tell this one). Every change it sends is idempotent, so it repairs what
// an unreachable peer missed and is harmless otherwise. It returns how many
// multi-Region keys it looked at. It lists key ids only, and reads the
// document of mrk- keys only.
func (s *Service) SyncMultiRegionKeys(ctx context.Context) (int, error) {
	accts, err := s.store.ListAccounts(ctx)
	if err != nil {
		return 0, err
	}
	const page = 1000
	n := 0
	var errs []error
	for _, a := range accts {
		for _, reg := range s.Regions() {
			after := ""
			for {
				refs, err := s.store.ListKeys(ctx, reg, a.ID, after, page)
				if err != nil {
					return n, err
				}
				for _, ref := range refs {
					if !isMRKID(ref.KeyID) {
						continue
					}
					n++
					if err := s.syncSet(ctx, ref); err != nil {
						errs = append(errs, err)
					}
				}
				if len(refs) < page {
					break
				}
				after = refs[len(refs)-1].KeyID
			}
		}
	}
	return n, errors.Join(errs...)
}

// syncSet is SyncMultiRegionKeys for one key: nothing unless it is a
// primary with replicas.
func (s *Service) syncSet(ctx context.Context, ref store.KeyRef) error {
	k, err := s.store.GetKey(ctx, ref)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !isPrimary(&k) || len(k.MultiRegionReplicas) == 0 {
		return nil
	}
	var errs []error
	for _, r := range k.MultiRegionReplicas {
		mats, err := s.rawMaterials(&k, nil)
		if err != nil {
			return err
		}
		err = s.deliver(ctx, &MemberChange{Region: r, KeyID: k.KeyID, AccountID: k.AccountID,
			Config: &MemberConfig{Primary: k.Region, Replicas: slices.Clone(k.MultiRegionReplicas)}, Materials: mats, Shared: sharedOf(&k)})
		if errors.Is(err, store.ErrNotFound) {
			s.log.Info("multi-Region key: a replica no longer exists; removing it from the set", "key_id", k.KeyID, "region", r)
			gone := k
			gone.Region = r
			if err := s.replicaDeleted(ctx, gone); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("synchronize %s: %w", KeyARN(r, k.AccountID, k.KeyID), err))
		}
	}
	return errors.Join(errs...)
}
