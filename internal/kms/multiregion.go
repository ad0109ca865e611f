package kms

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/wire"
)

// Multi-Region keys (docs/multi-region.md). A set of related multi-Region
// keys is one key document per region with the same key id ("mrk-" and 32
// hex digits) and account. Every document of the set holds the set's
// configuration (store.Key.MultiRegionPrimary, the primary's region, and
// MultiRegionReplicas, the replicas' regions in the order they were made),
// so DescribeKey in any region reads one document. The shared properties
// ("key ID, key material, key spec, key usage, key material origin, and
// automatic key rotation", the model's UpdatePrimaryRegion) are copied from
// the primary to every replica whenever they change; everything else (key
// policy, description, tags, aliases, grants, key state) is per region.
//
// Each region's document is sealed separately: a material is sealed by
// the root key bound to the key ARN, which names the region, so copying a
// material to a replica unseals it and seals it again for the replica's
// ARN, under the same material id. A ciphertext blob names only the key
// id and the material id (docs/ciphertext.md), so a blob made in one
// region decrypts in every region of the set.
//
// One deployment serves every region in its configuration (Config.Regions);
// the region of a request is the one its SigV4 credential scope names, and
// keys are stored by (region, key id), so each served region is its own
// namespace and a replica lives beside its primary in the same store.
//
// Writes that touch several documents (ReplicateKey, UpdatePrimaryRegion,
// the deletion of a replica) are not one transaction: each document is
// updated in turn, in an order that leaves the set usable if the server
// stops between two writes, and the reads below repair what a stop left
// half done (see completeReplica).

// Key states of multi-Region keys.
const (
	stateCreating               = "Creating"
	statePendingReplicaDeletion = "PendingReplicaDeletion"

	mrkPrimary = "PRIMARY"
	mrkReplica = "REPLICA"
)

var (
	opReplicateKey        = keyOp{"kms:ReplicateKey", false, false}
	opUpdatePrimaryRegion = keyOp{"kms:UpdatePrimaryRegion", false, false}
)

// generateMRKID returns a multi-Region key id: "mrk-" and 32 random
// lowercase hex digits (the model's examples: mrk-1234abcd12ab34cd56ef1234567890ab).
func generateMRKID(rand io.Reader) (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(rand, b[:]); err != nil {
		return "", err
	}
	return "mrk-" + hex.EncodeToString(b[:]), nil
}

// isReplica reports whether k is the replica of a multi-Region key.
func isReplica(k *store.Key) bool {
	return k.MultiRegion && k.MultiRegionPrimary != "" && k.MultiRegionPrimary != k.Region
}

// isPrimary reports whether k is a multi-Region primary key.
func isPrimary(k *store.Key) bool {
	return k.MultiRegion && (k.MultiRegionPrimary == "" || k.MultiRegionPrimary == k.Region)
}

// pendingDeletion reports whether state is one of the deletion states, in
// which a key can be neither used nor changed, only described, listed and
// have its deletion cancelled.
func pendingDeletion(state string) bool {
	return state == statePendingDeletion || state == statePendingReplicaDeletion
}

// setRegions returns every region of k's set, primary first.
func setRegions(k *store.Key) []string {
	p := k.MultiRegionPrimary
	if p == "" {
		p = k.Region
	}
	return append([]string{p}, k.MultiRegionReplicas...)
}

// fillMultiRegion adds MultiRegionConfiguration and, for a primary key
// waiting for its replicas to be deleted, PendingDeletionWindowInDays to
// md ("This value is present only when the KeyState of the KMS key is
// PendingReplicaDeletion", the model's KeyMetadata).
func fillMultiRegion(md *wire.KeyMetadata, k *store.Key) {
	if k.KeyState == statePendingReplicaDeletion && k.PendingWindowInDays > 0 {
		md.PendingDeletionWindowInDays = wire.Ptr(int32(k.PendingWindowInDays))
	}
	if !k.MultiRegion {
		return
	}
	p := k.MultiRegionPrimary
	if p == "" {
		p = k.Region
	}
	typ := mrkPrimary
	if p != k.Region {
		typ = mrkReplica
	}
	cfg := &wire.MultiRegionConfiguration{
		MultiRegionKeyType: wire.Ptr(typ),
		PrimaryKey:         &wire.MultiRegionKey{Arn: wire.Ptr(KeyARN(p, k.AccountID, k.KeyID)), Region: wire.Ptr(p)},
		// An empty list, not an absent one: the developer guide's
		// describe-key output of a primary without replicas shows
		// "ReplicaKeys": [] (multi-region-keys-delete.md).
		ReplicaKeys: []wire.MultiRegionKey{},
	}
	for _, r := range k.MultiRegionReplicas {
		cfg.ReplicaKeys = append(cfg.ReplicaKeys, wire.MultiRegionKey{Arn: wire.Ptr(KeyARN(r, k.AccountID, k.KeyID)), Region: wire.Ptr(r)})
	}
	md.MultiRegionConfiguration = cfg
}

// syncReplicas copies the shared properties of the primary key p to every
// replica of its set ("KMS automatically synchronizes these shared
// properties among related multi-Region keys", the model's ReplicateKey),
// in this deployment or a peer. It is called after every change of a
// shared property on the primary. A replica that no longer exists is
// skipped.
func (s *Service) syncReplicas(ctx context.Context, p store.Key) error {
	if !isPrimary(&p) {
		return nil
	}
	var errs []error
	for _, r := range p.MultiRegionReplicas {
		mats, err := s.rawMaterials(&p, nil)
		if err != nil {
			return err
		}
		err = s.send(ctx, &MemberChange{Region: r, KeyID: p.KeyID, AccountID: p.AccountID, Materials: mats, Shared: sharedOf(&p)})
		if err != nil {
			errs = append(errs, fmt.Errorf("synchronize replica %s: %w", KeyARN(r, p.AccountID, p.KeyID), err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		s.log.Error("synchronize multi-Region key", "key_arn", KeyARN(p.Region, p.AccountID, p.KeyID), "err", err)
		return err
	}
	return nil
}

// stageMaterial adds a rotation's new material m, sealed for the primary
// p, to every replica of p without making it current, before the primary
// starts to use it: "AWS KMS does not encrypt any data with the new key
// material until that key material is available in the primary key and
// every one of its replica keys" (multi-region-keys-manage.md, "Rotating
// multi-Region keys"). syncReplicas makes it current afterwards. A replica
// that cannot be reached fails the rotation, which is then retried.
func (s *Service) stageMaterial(ctx context.Context, p *store.Key, m store.Material) error {
	if !isPrimary(p) || len(p.MultiRegionReplicas) == 0 {
		return nil
	}
	withNew := *p
	withNew.Materials = []store.Material{m}
	for _, r := range p.MultiRegionReplicas {
		mats, err := s.rawMaterials(&withNew, nil)
		if err != nil {
			return err
		}
		if err := s.send(ctx, &MemberChange{Region: r, KeyID: p.KeyID, AccountID: p.AccountID, Materials: mats}); err != nil {
			return fmt.Errorf("stage material on %s: %w", KeyARN(r, p.AccountID, p.KeyID), err)
		}
	}
	return nil
}

// setConfigs writes the set configuration into the keys of the set in
// regions. A key in this deployment must take it; a peer that cannot be
// reached is logged and left to SyncMultiRegionKeys.
func (s *Service) setConfigs(ctx context.Context, regions []string, accountID, keyID, primary string, replicas []string) error {
	for _, reg := range regions {
		err := s.setConfig(ctx, reg, accountID, keyID, primary, replicas)
		if err != nil && s.ServesRegion(reg) {
			return err
		}
		if err != nil {
			s.log.Warn("multi-Region key: a peer did not take the set's configuration; SyncMultiRegionKeys will retry",
				"key_id", keyID, "region", reg, "err", err)
		}
	}
	return nil
}

// setConfig writes the set configuration (primary region and replica
// regions) into the key of the set in region, if it exists.
func (s *Service) setConfig(ctx context.Context, region, accountID, keyID, primary string, replicas []string) error {
	return s.send(ctx, &MemberChange{Region: region, KeyID: keyID, AccountID: accountID,
		Config: &MemberConfig{Primary: primary, Replicas: slices.Clone(replicas)}})
}

// ReplicateKey creates a replica of a multi-Region primary key in another
// region served by this deployment, with the same key id and material and
// its own key policy, description and tags. The replica starts in the
// Creating state, as AWS returns it ("When this operation completes, the
// new replica key has a transient key state of Creating", the model); it
// becomes Enabled (PendingImport for a key without material) when it is
// first read after the set lists it, which here is the next request that
// names it (see completeReplica).
//
// Authorization, as the model's "Required permissions" lists it:
// kms:ReplicateKey on the primary key (with kms:ReplicaRegion), kms:CreateKey
// in the replica region (with the new key's properties, kms:MultiRegion true
// and kms:MultiRegionKeyType REPLICA) and kms:TagResource there when Tags
// are given; the key policy lockout check applies to the replica's policy.
func (s *Service) ReplicateKey(ctx context.Context, c *Caller, in *wire.ReplicateKeyRequest) (*wire.ReplicateKeyResponse, error) {
	region := wire.Value(in.ReplicaRegion)
	ck, err := s.resolve(ctx, c, wire.Value(in.KeyId), opReplicateKey, &condReq{replicaRegion: region})
	if err != nil {
		return nil, err
	}
	p := ck.meta
	if !p.MultiRegion {
		// LocalStack's message (localstack/localstack
		// localstack-core/localstack/services/kms/provider.py
		// replicate_key: "Unable to replicate a non-MultiRegion key
		// {key_id}"); that it is AWS's is inferred.
		return nil, wire.Errorf("UnsupportedOperationException", "Unable to replicate a non-MultiRegion key %s", p.KeyID)
	}
	if !isPrimary(&p) {
		// Only a primary key can be replicated ("It's the only key that
		// can be replicated", the model's UpdatePrimaryRegion), refused
		// with UnsupportedOperationException (localstack/localstack pull
		// request #13102, test_replicate_replica_key_should_fail). The
		// message is inferred.
		return nil, wire.Errorf("UnsupportedOperationException", "%s is not a multi-Region primary key. Only a primary key can be replicated.", ck.arn)
	}
	switch p.KeyState {
	case stateEnabled, statePendingImport:
	case stateDisabled:
		return nil, errDisabled(ck.arn)
	default:
		// A primary pending (replica) deletion "cannot be replicated"
		// (the model's ScheduleKeyDeletion).
		return nil, invalidState(ck.arn, p.KeyState)
	}
	if err := s.checkReplicaRegion(c, region); err != nil {
		return nil, err
	}
	if region == p.Region || slices.Contains(p.MultiRegionReplicas, region) {
		// "If the Region already includes a replica of the key you're
		// trying to replicate, ReplicateKey returns an
		// AlreadyExistsException error" (the model). The message is
		// LocalStack's (provider.py replicate_key).
		return nil, wire.Errorf("AlreadyExistsException",
			"Unable to replicate key %s to region %s, as the key already exist there", p.KeyID, region)
	}

	rc := *c
	rc.Region = region
	arn := KeyARN(region, p.AccountID, p.KeyID)
	newKey := store.Key{Region: region, KeySpec: p.KeySpec, KeyUsage: p.KeyUsage, Origin: p.Origin, MultiRegion: true, MultiRegionPrimary: p.Region}
	req := condReq{newKey: &newKey, bypass: in.BypassPolicyLockoutSafetyCheck, tags: in.Tags}
	if err := s.authorizeAccount(ctx, &rc, actCreateKey, &req); err != nil {
		return nil, err
	}
	if len(in.Tags) > 0 {
		if err := s.authorize(ctx, &rc, actTagResource, "*", nil, &req, msgNoResource); err != nil {
			return nil, err
		}
	}
	policyDoc := wire.Value(in.Policy)
	if in.Policy == nil {
		// "If you do not provide a key policy, KMS attaches the default
		// key policy to the KMS key" (the model's ReplicateKeyRequest).
		policyDoc = DefaultKeyPolicy(Partition(region), p.AccountID)
	} else if err := s.checkKeyPolicy(ctx, &rc, policyDoc, arn, wire.Value(in.BypassPolicyLockoutSafetyCheck), &req); err != nil {
		return nil, err
	}
	tags, err := checkTags(in.Tags, s.quotas.TagsPerKey)
	if err != nil {
		return nil, err
	}

	replicas := append(slices.Clone(p.MultiRegionReplicas), region)
	r := store.Key{
		Region:              region,
		KeyID:               p.KeyID,
		AccountID:           p.AccountID,
		Description:         wire.Value(in.Description),
		KeyUsage:            p.KeyUsage,
		KeySpec:             p.KeySpec,
		Origin:              p.Origin,
		KeyManager:          p.KeyManager,
		KeyState:            stateCreating,
		MultiRegion:         true,
		MultiRegionPrimary:  p.Region,
		MultiRegionReplicas: replicas,
		CreationDate:        s.now().UTC().Truncate(time.Millisecond),
		Policy:              policyDoc,
		PolicyName:          defaultPolicyName,
		Tags:                tags,
	}
	for _, m := range p.Materials {
		r.Materials = append(r.Materials, store.Material{ID: m.ID, CreatedAt: m.CreatedAt, RotationType: m.RotationType})
	}
	applyShared(&r, sharedOf(&p))
	mats, err := s.rawMaterials(&p, nil)
	if err != nil {
		return nil, err
	}
	err = s.send(ctx, &MemberChange{Region: region, KeyID: p.KeyID, AccountID: p.AccountID,
		Create: &MemberCreate{Description: r.Description, Policy: policyDoc, Tags: tags, KeySpec: r.KeySpec, KeyUsage: r.KeyUsage,
			Origin: r.Origin, KeyManager: r.KeyManager, CreationDate: r.CreationDate},
		Config: &MemberConfig{Primary: p.Region, Replicas: replicas}, Materials: mats, Shared: sharedOf(&p)})
	if errors.Is(err, store.ErrExists) {
		return nil, wire.Errorf("AlreadyExistsException",
			"Unable to replicate key %s to region %s, as the key already exist there", p.KeyID, region)
	}
	if err != nil {
		return nil, err
	}
	// The replica exists; now the set learns of it, primary first. A stop
	// before this completes leaves the replica in Creating, and its first
	// read finishes the job (completeReplica).
	if err := s.setConfigs(ctx, setRegions(&p), p.AccountID, p.KeyID, p.Region, replicas); err != nil {
		return nil, fmt.Errorf("add replica %s to its set: %w", region, err)
	}
	s.log.Info("replicated multi-Region key", "key_arn", ck.arn, "replica_region", region)
	r.Revision = 1
	out := &wire.ReplicateKeyResponse{
		ReplicaKeyMetadata: s.metadata(&r),
		ReplicaPolicy:      wire.Ptr(policyDoc),
		ReplicaTags:        make([]wire.Tag, 0, len(tags)),
	}
	for _, t := range tags {
		out.ReplicaTags = append(out.ReplicaTags, wire.Tag{TagKey: wire.Ptr(t.Key), TagValue: wire.Ptr(t.Value)})
	}
	return out, nil
}

// checkReplicaRegion checks a ReplicaRegion or PrimaryRegion value: a
// region this deployment or a peer serves, in the caller's partition ("in the same
// Amazon Web Services partition", the model's ReplicateKeyRequest). The
// answer for other regions is not recorded; ValidationException naming the
// region is inferred.
func (s *Service) checkReplicaRegion(c *Caller, region string) error {
	if !s.servesAnywhere(region) || Partition(region) != Partition(c.Region) {
		return validationError(fmt.Sprintf("Region %s is not a valid Region for this multi-Region key: it must be a Region of the %s partition that this server serves.", region, Partition(c.Region)))
	}
	return nil
}

// completeReplica finishes a replica that ReplicateKey left in Creating:
// it makes sure every document of the set lists the replica (a server that
// stopped in the middle of ReplicateKey may not have written them all) and
// then sets the replica Enabled, or PendingImport when it has no material
// (a key with imported material is replicated without it, the model's
// ReplicateKey). loadKey calls it for every document it reads in Creating,
// so the state changes on the first request that names the replica, on any
// node, after any restart.
func (s *Service) completeReplica(ctx context.Context, k store.Key) (store.Key, error) {
	pref := store.KeyRef{Region: k.MultiRegionPrimary, KeyID: k.KeyID}
	p, err := store.Key{}, store.ErrNotFound
	if s.ServesRegion(pref.Region) {
		// A primary in a peer's region made this replica through the
		// peer link, which wrote the set's configuration itself.
		p, err = s.store.GetKey(ctx, pref)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		// The primary is gone (the replica outlived a deletion): nothing
		// to join; the replica is still made usable.
	case err != nil:
		return k, err
	case p.AccountID == k.AccountID && !slices.Contains(p.MultiRegionReplicas, k.Region):
		replicas := append(slices.Clone(p.MultiRegionReplicas), k.Region)
		if err := s.setConfigs(ctx, setRegions(&p), p.AccountID, p.KeyID, p.Region, replicas); err != nil {
			return k, err
		}
	}
	saved, err := s.store.UpdateKey(ctx, k.Ref(), func(sk *store.Key) error {
		if sk.KeyState != stateCreating {
			return nil // another node finished it
		}
		if len(sk.Materials) == 0 {
			sk.KeyState = statePendingImport
		} else {
			sk.KeyState = stateEnabled
		}
		return nil
	})
	s.forgetKey(k.Ref())
	if err != nil {
		return k, err
	}
	if saved.KeyState != stateCreating {
		s.log.Info("multi-Region replica created", "key_arn", KeyARN(k.Region, k.AccountID, k.KeyID), "key_state", saved.KeyState)
	}
	return saved, nil
}

// UpdatePrimaryRegion makes the replica in PrimaryRegion the primary key of
// the set and the current primary one of its replicas. Both keys must be
// Enabled when the operation starts (multi-region-keys-manage.md, "Both
// the primary key and the replica key must be in the Enabled key state
// when the operation starts"). AWS shows both keys Updating for a few
// seconds afterwards; here the change is complete when the call returns,
// so the keys stay Enabled (inferred to be what a client waiting for
// Enabled expects).
//
// Authorization: kms:UpdatePrimaryRegion on the primary key in its region
// and on the replica key in the replica's region (the model's "Required
// permissions"), with kms:PrimaryRegion set to the new primary region.
func (s *Service) UpdatePrimaryRegion(ctx context.Context, c *Caller, in *wire.UpdatePrimaryRegionRequest) error {
	region := wire.Value(in.PrimaryRegion)
	req := &condReq{primaryRegion: region}
	ck, err := s.resolve(ctx, c, wire.Value(in.KeyId), opUpdatePrimaryRegion, req)
	if err != nil {
		return err
	}
	p := ck.meta
	if !p.MultiRegion {
		// The message is inferred.
		return wire.Errorf("UnsupportedOperationException", "%s is not a multi-Region key.", ck.arn)
	}
	if !isPrimary(&p) {
		// "Identifies the current primary key" (the model's
		// UpdatePrimaryRegionRequest); the message is inferred.
		return wire.Errorf("UnsupportedOperationException", "%s is not a multi-Region primary key.", ck.arn)
	}
	if err := s.checkReplicaRegion(c, region); err != nil {
		return err
	}
	if region == p.Region {
		// Inferred: the key in that region is the primary already.
		return wire.Errorf("UnsupportedOperationException", "%s is already the primary key of its multi-Region key.", ck.arn)
	}
	newARN := KeyARN(region, p.AccountID, p.KeyID)
	if !slices.Contains(p.MultiRegionReplicas, region) {
		// "The primary Region must already have a replica key" (the model).
		return errKeyNotFound(newARN)
	}
	if err := enabledForUpdate(&p, ck.arn); err != nil {
		return err
	}
	if s.ServesRegion(region) {
		rc := *c
		rc.Region = region
		nk, err := s.loadKey(ctx, store.KeyRef{Region: region, KeyID: p.KeyID})
		if errors.Is(err, store.ErrNotFound) || err == nil && nk.meta.AccountID != p.AccountID {
			return errKeyNotFound(newARN)
		}
		if err != nil {
			return err
		}
		if err := s.authorizeFound(ctx, &rc, opUpdatePrimaryRegion, nk, "", req); err != nil {
			return err
		}
		if err := enabledForUpdate(&nk.meta, newARN); err != nil {
			return err
		}
	}
	// In a peer's region, the peer checks the replica (its state, and
	// kms:UpdatePrimaryRegion under its key policy) when it applies the
	// first change below (MemberChange.Promote).
	replicas := make([]string, 0, len(p.MultiRegionReplicas))
	for _, r := range p.MultiRegionReplicas {
		if r != region {
			replicas = append(replicas, r)
		}
	}
	replicas = append(replicas, p.Region)
	// The new primary first: from its write on, it is the set's source of
	// the shared properties; then the old primary, then the others.
	order := append([]string{region, p.Region}, replicas[:len(replicas)-1]...)
	for i, reg := range order {
		ch := &MemberChange{Region: reg, KeyID: p.KeyID, AccountID: p.AccountID, Config: &MemberConfig{Primary: region, Replicas: slices.Clone(replicas)}}
		if i == 0 && !s.ServesRegion(region) {
			ch.Promote = memberCaller(c)
		}
		err := s.send(ctx, ch)
		if err != nil && (i == 0 || s.ServesRegion(reg)) {
			return fmt.Errorf("update primary region of %s in %s: %w", ck.arn, reg, err)
		}
		if err != nil {
			s.log.Warn("multi-Region key: a peer did not take the new primary region; SyncMultiRegionKeys will retry",
				"key_id", p.KeyID, "region", reg, "err", err)
		}
	}
	s.log.Info("updated primary region of multi-Region key", "key_id", p.KeyID, "old_primary_region", p.Region, "primary_region", region)
	return nil
}

// enabledForUpdate checks the key state UpdatePrimaryRegion needs.
func enabledForUpdate(k *store.Key, arn string) error {
	switch k.KeyState {
	case stateEnabled:
		return nil
	case stateDisabled:
		return errDisabled(arn)
	}
	return invalidState(arn, k.KeyState)
}

// scheduleDeletionState sets the state ScheduleKeyDeletion gives k: a
// primary key with replicas waits in PendingReplicaDeletion with no
// deletion date ("If you schedule the deletion of a primary key with
// replicas, its key state changes to PendingReplicaDeletion ... When the
// last of its replicas keys is deleted (not just scheduled), the key state
// of the primary key changes to PendingDeletion and its waiting period
// (PendingWindowInDays) begins", the model's ScheduleKeyDeletion); any
// other key is PendingDeletion until del.
func scheduleDeletionState(k *store.Key, del time.Time, days int) {
	k.PendingWindowInDays = days
	if isPrimary(k) && len(k.MultiRegionReplicas) > 0 {
		k.KeyState = statePendingReplicaDeletion
		k.DeletionDate = time.Time{}
		return
	}
	k.KeyState = statePendingDeletion
	k.DeletionDate = del
}

// replicaDeleted updates the set of a multi-Region key whose document d
// was just deleted: the remaining documents drop d's region, and a primary
// waiting in PendingReplicaDeletion whose last replica this was enters
// PendingDeletion, its waiting period beginning now.
func (s *Service) replicaDeleted(ctx context.Context, d store.Key) error {
	if !d.MultiRegion {
		return nil
	}
	rest := slices.DeleteFunc(setRegions(&d), func(r string) bool { return r == d.Region })
	if len(rest) == 0 {
		return nil
	}
	var errs []error
	for _, reg := range rest {
		if err := s.send(ctx, &MemberChange{Region: reg, KeyID: d.KeyID, AccountID: d.AccountID, DeletedRegion: d.Region}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// errReplicaRotation refuses a rotation change on a replica: "You enable
// and disable automatic key rotation only on the primary key"
// (multi-region-keys-manage.md) and "To perform on-demand rotation of a set
// of related multi-Region keys, invoke the on-demand rotation on the
// primary key" (the model's RotateKeyOnDemand). The error code and message
// are inferred.
func errReplicaRotation(arn string) error {
	return wire.Errorf("UnsupportedOperationException",
		"%s is a multi-Region replica key. Change the rotation of a multi-Region key on its primary key.", arn)
}

// isMRKID reports whether id is a multi-Region key id.
func isMRKID(id string) bool { return len(id) == 36 && id[:4] == "mrk-" }
