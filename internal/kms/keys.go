package kms

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/trent-kms/trent/internal/keyspec"
	"github.com/trent-kms/trent/internal/keystore"
	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/wire"
)

// Key states used by this package.
const (
	stateEnabled         = "Enabled"
	stateDisabled        = "Disabled"
	statePendingDeletion = "PendingDeletion"
)

const (
	specSymmetric     = "SYMMETRIC_DEFAULT"
	usageEncrypt      = "ENCRYPT_DECRYPT"
	defaultPolicyName = "default"
)

// generateKeyID returns a random version 4 UUID in lowercase hex.
func generateKeyID(rand io.Reader) (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(rand, b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32], nil
}

// DefaultKeyPolicy returns the key policy AWS attaches to a key created
// without one: it gives the account's root principal full access, which
// lets IAM policies in the account govern the key.
func DefaultKeyPolicy(partition, accountID string) string {
	return `{
  "Version" : "2012-10-17",
  "Id" : "key-default-1",
  "Statement" : [ {
    "Sid" : "Enable IAM User Permissions",
    "Effect" : "Allow",
    "Principal" : {
      "AWS" : "arn:` + partition + `:iam::` + accountID + `:root"
    },
    "Action" : "kms:*",
    "Resource" : "*"
  } ]
}`
}

// CreateKey creates a KMS key in the caller's account and region.
func (s *Service) CreateKey(ctx context.Context, c *Caller, in *wire.CreateKeyRequest) (*wire.CreateKeyResponse, error) {
	spec := wire.Value(in.KeySpec)
	if in.CustomerMasterKeySpec != nil {
		if in.KeySpec != nil {
			return nil, validationError("You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec is deprecated.")
		}
		spec = *in.CustomerMasterKeySpec
	}
	if spec == "" {
		spec = specSymmetric
	}
	usage := wire.Value(in.KeyUsage)
	if usage == "" {
		info, _ := keyspec.Lookup(spec)
		def, ok := info.DefaultUsage()
		if !ok {
			// AWS: ValidationException with this text for an HMAC key
			// (LocalStack's AWS-recorded snapshot test_hmac_create_key_invalid_operations)
			// and KeyUsage "is required" for every spec but SYMMETRIC_DEFAULT (CreateKey API reference).
			return nil, validationError("You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.")
		}
		usage = def
	}
	origin := wire.Value(in.Origin)
	if origin == "" {
		origin = "AWS_KMS"
	}
	// kms:CreateKey (IAM policy), and kms:TagResource to use Tags (the
	// model's "Required permissions"). The condition keys describe the
	// key being created (conditions-kms.md, kms:KeySpec and the others:
	// "the KMS key that is created by or used in the operation").
	newKey := store.Key{KeySpec: spec, KeyUsage: usage, Origin: origin, MultiRegion: wire.Value(in.MultiRegion)}
	req := condReq{newKey: &newKey, bypass: in.BypassPolicyLockoutSafetyCheck, tags: in.Tags}
	if err := s.authorizeAccount(ctx, c, actCreateKey, &req); err != nil {
		return nil, err
	}
	if len(in.Tags) > 0 {
		if err := s.authorize(ctx, c, actTagResource, "*", nil, &req, msgNoResource); err != nil {
			return nil, err
		}
	}
	if err := checkSpecUsage(c.Region, spec, usage); err != nil {
		return nil, err
	}
	cksConn, err := s.keyStoreForCreate(ctx, c, in, spec, usage, origin)
	if err != nil {
		return nil, err
	}
	if origin == originExternal {
		if err := checkExternalSpec(spec); err != nil {
			return nil, err
		}
	}
	if origin != "AWS_KMS" && origin != originExternal && cksConn == nil {
		return nil, wire.Errorf("UnsupportedOperationException", "Origin %s is not supported by this server yet.", origin)
	}
	keyID, err := generateKeyID(s.rand)
	if wire.Value(in.MultiRegion) {
		// A multi-Region primary key (multiregion.go): any key spec, not in
		// a custom key store (the model's CreateKey), which is refused above.
		keyID, err = generateMRKID(s.rand)
	}
	if err != nil {
		return nil, err
	}
	arn := KeyARN(c.Region, c.AccountID, keyID)
	policy := wire.Value(in.Policy)
	if in.Policy == nil {
		policy = DefaultKeyPolicy(Partition(c.Region), c.AccountID)
	} else if err := s.checkKeyPolicy(ctx, c, policy, arn, wire.Value(in.BypassPolicyLockoutSafetyCheck), &req); err != nil {
		return nil, err
	}
	tags, err := checkTags(in.Tags, s.quotas.TagsPerKey)
	if err != nil {
		return nil, err
	}

	now := s.now().UTC().Truncate(time.Millisecond)
	var mats []store.Material
	if origin != originExternal && cksConn == nil { // EXTERNAL: no material until ImportKeyMaterial
		mat, err := s.generateMaterial(spec, arn, now)
		if err != nil {
			return nil, err
		}
		mats = []store.Material{mat}
	}
	k := store.Key{
		Region:       c.Region,
		KeyID:        keyID,
		AccountID:    c.AccountID,
		Description:  wire.Value(in.Description),
		KeyUsage:     usage,
		KeySpec:      spec,
		Origin:       origin,
		KeyManager:   "CUSTOMER",
		KeyState:     stateEnabled,
		CreationDate: now,
		Policy:       policy,
		PolicyName:   defaultPolicyName,
		Tags:         tags,
		Materials:    mats,
	}
	if len(mats) > 0 {
		k.CurrentMaterialID = mats[0].ID
	}
	if origin == originExternal {
		k.KeyState = statePendingImport
	}
	if wire.Value(in.MultiRegion) {
		k.MultiRegion, k.MultiRegionPrimary = true, c.Region
	}
	if cksConn != nil {
		k.CustomKeyStoreID = *in.CustomKeyStoreId
		if err := cksConn.NewKey(WithEngineRequest(ctx, &EngineRequest{Principal: c.Principal, Operation: "CreateKey", RequestID: c.RequestID, KeyARN: arn}), &k, in); err != nil {
			return nil, storeErr(err, arn, k.CustomKeyStoreID)
		}
		if k.XksKeyID != "" {
			if err := s.claimXksKey(ctx, &k); err != nil {
				return nil, err
			}
		}
	}
	if err := s.createKey(ctx, c, k); err != nil {
		if cksConn != nil {
			s.destroyStoreKey(ctx, &k)
		}
		return nil, err
	}
	k.Revision = 1
	return &wire.CreateKeyResponse{KeyMetadata: s.metadata(&k)}, nil
}

// createKey stores a new key if the caller's account is below its key
// quota in the region.
func (s *Service) createKey(ctx context.Context, c *Caller, k store.Key) error {
	if s.quotas.KeysPerRegion > 0 {
		s.quotaMu.Lock()
		defer s.quotaMu.Unlock()
		if err := s.checkKeyQuota(ctx, c); err != nil {
			return err
		}
	}
	if err := s.store.CreateKey(ctx, k); err != nil {
		return fmt.Errorf("create key %s: %w", KeyARN(k.Region, k.AccountID, k.KeyID), err)
	}
	return nil
}

// generateMaterial draws fresh key material for spec and seals it under the
// root key bound to the key ARN and material id.
func (s *Service) generateMaterial(spec, arn string, now time.Time) (store.Material, error) {
	var raw []byte
	var err error
	if spec == specSymmetric {
		raw, err = keystore.GenerateSymmetric(s.rand)
	} else {
		raw, err = keyspec.Generate(spec, s.rand)
	}
	if err != nil {
		return store.Material{}, err
	}
	defer clear(raw)
	id, err := keystore.GenerateMaterialID(s.rand)
	if err != nil {
		return store.Material{}, err
	}
	sealed, err := s.root.Seal(raw, keystore.MaterialAAD(arn, id))
	if err != nil {
		return store.Material{}, fmt.Errorf("seal material for %s: %w", arn, err)
	}
	return store.Material{ID: id, Sealed: sealed, CreatedAt: now}, nil
}

// checkSpecUsage rejects key usages the key spec does not allow, and SM2
// keys outside the China regions, the only ones where AWS offers them.
func checkSpecUsage(region, spec, usage string) error {
	info, ok := keyspec.Lookup(spec)
	if !ok || info.AlgorithmsFor(usage) == nil {
		return validationError(fmt.Sprintf("KeyUsage %s is not compatible with KeySpec %s", usage, spec))
	}
	if spec == "SM2" && Partition(region) != "aws-cn" {
		// AWS's answer in us-east-1, measured with aws-cli 2.36.38 (floci-io/floci issue #3026).
		return wire.Errorf("UnsupportedOperationException", "KeySpec SM2 is not supported in this Region")
	}
	return nil
}

// metadata renders a stored key as the KeyMetadata AWS returns.
func (s *Service) metadata(k *store.Key) *wire.KeyMetadata {
	md := &wire.KeyMetadata{
		AWSAccountId:          wire.Ptr(k.AccountID),
		KeyId:                 wire.Ptr(k.KeyID),
		Arn:                   wire.Ptr(KeyARN(k.Region, k.AccountID, k.KeyID)),
		CreationDate:          wire.NewTimestamp(k.CreationDate),
		Enabled:               wire.Ptr(k.KeyState == stateEnabled),
		Description:           wire.Ptr(k.Description),
		KeyUsage:              wire.Ptr(k.KeyUsage),
		KeyState:              wire.Ptr(k.KeyState),
		Origin:                wire.Ptr(k.Origin),
		KeyManager:            wire.Ptr(k.KeyManager),
		CustomerMasterKeySpec: wire.Ptr(k.KeySpec),
		KeySpec:               wire.Ptr(k.KeySpec),
		MultiRegion:           wire.Ptr(k.MultiRegion),
	}
	setAlgorithms(k.KeySpec, k.KeyUsage, &md.EncryptionAlgorithms, &md.SigningAlgorithms, &md.MacAlgorithms,
		&md.KeyAgreementAlgorithms, &md.EncapsulationAlgorithms)
	if k.KeySpec == specSymmetric && k.CurrentMaterialID != "" {
		// AWS reports a material id for symmetric keys only.
		md.CurrentKeyMaterialId = wire.Ptr(k.CurrentMaterialID)
	}
	if k.KeyState == statePendingDeletion && !k.DeletionDate.IsZero() {
		md.DeletionDate = wire.NewTimestamp(k.DeletionDate)
	}
	fillMultiRegion(md, k)
	if k.Origin == originExternal {
		importedMetadata(md, k)
	}
	storeMetadata(k, md)
	return md
}

// setAlgorithms fills the algorithm list that matches the key's usage, as
// DescribeKey and GetPublicKey show it.
func setAlgorithms(spec, usage string, enc, sign, mac, agree, encap *[]string) {
	info, _ := keyspec.Lookup(spec)
	algs := info.AlgorithmsFor(usage)
	switch usage {
	case keyspec.UsageEncryptDecrypt:
		*enc = algs
	case keyspec.UsageSignVerify:
		*sign = algs
	case keyspec.UsageGenerateVerifyMAC:
		*mac = algs
	case keyspec.UsageKeyAgreement:
		*agree = algs
	case keyspec.UsageEncapsulateDecapsulate:
		*encap = algs
	}
}

// DescribeKey returns the metadata of a key in any state.
func (s *Service) DescribeKey(ctx context.Context, c *Caller, in *wire.DescribeKeyRequest) (*wire.DescribeKeyResponse, error) {
	req, err := s.tokenReq(in.GrantTokens)
	if err != nil {
		return nil, err
	}
	ck, err := s.resolve(ctx, c, wire.Value(in.KeyId), opDescribeKey, req)
	if err != nil {
		return nil, err
	}
	return &wire.DescribeKeyResponse{KeyMetadata: s.metadata(&ck.meta)}, nil
}

// ListKeys pages through the caller's keys in the region, ordered by id.
// It reads only key ids from the store: listing never loads or unseals a
// key's material or policy.
func (s *Service) ListKeys(ctx context.Context, c *Caller, in *wire.ListKeysRequest) (*wire.ListKeysResponse, error) {
	if err := s.authorizeAccount(ctx, c, actListKeys, nil); err != nil {
		return nil, err
	}
	limit, after, err := pageArgs(in.Limit, in.Marker, 100)
	if err != nil {
		return nil, err
	}
	keys, err := s.store.ListKeys(ctx, c.Region, c.AccountID, after, limit+1)
	if err != nil {
		return nil, err
	}
	out := &wire.ListKeysResponse{Keys: []wire.KeyListEntry{}, Truncated: wire.Ptr(false)}
	for i := range keys {
		if i == limit {
			out.Truncated = wire.Ptr(true)
			out.NextMarker = wire.Ptr(encodeMarker(keys[i-1].KeyID))
			break
		}
		out.Keys = append(out.Keys, wire.KeyListEntry{
			KeyId:  wire.Ptr(keys[i].KeyID),
			KeyArn: wire.Ptr(KeyARN(keys[i].Region, c.AccountID, keys[i].KeyID)),
		})
	}
	return out, nil
}

// EnableKey sets a Disabled key's state to Enabled.
func (s *Service) EnableKey(ctx context.Context, c *Caller, in *wire.EnableKeyRequest) error {
	return s.setEnabled(ctx, c, wire.Value(in.KeyId), opEnableKey, true)
}

// DisableKey sets an Enabled key's state to Disabled.
func (s *Service) DisableKey(ctx context.Context, c *Caller, in *wire.DisableKeyRequest) error {
	return s.setEnabled(ctx, c, wire.Value(in.KeyId), opDisableKey, false)
}

func (s *Service) setEnabled(ctx context.Context, c *Caller, id string, o keyOp, enabled bool) error {
	ck, err := s.resolve(ctx, c, id, o, nil)
	if err != nil {
		return err
	}
	_, err = s.update(ctx, ck, func(k *store.Key) error {
		switch k.KeyState {
		case stateEnabled, stateDisabled:
		default:
			return invalidState(ck.arn, k.KeyState)
		}
		if enabled {
			k.KeyState = stateEnabled
		} else {
			k.KeyState = stateDisabled
		}
		return nil
	})
	return err
}

// invalidState is the KMSInvalidStateException for a key whose state does
// not allow the operation.
func invalidState(arn, state string) error {
	if pendingDeletion(state) {
		return errPendingDeletion(arn)
	}
	if state == statePendingImport {
		return errPendingImport(arn)
	}
	return wire.Errorf("KMSInvalidStateException", "%s is %s.", arn, state)
}

// UpdateKeyDescription replaces a key's description.
func (s *Service) UpdateKeyDescription(ctx context.Context, c *Caller, in *wire.UpdateKeyDescriptionRequest) error {
	ck, err := s.resolve(ctx, c, wire.Value(in.KeyId), opUpdateDescription, nil)
	if err != nil {
		return err
	}
	return s.updateLive(ctx, ck, func(k *store.Key) error {
		k.Description = wire.Value(in.Description)
		return nil
	})
}

// ScheduleKeyDeletion puts a key into PendingDeletion for 7 to 30 days
// (default 30). When the window ends, [Service.DeleteExpiredKeys] deletes
// the key, its material and its aliases.
func (s *Service) ScheduleKeyDeletion(ctx context.Context, c *Caller, in *wire.ScheduleKeyDeletionRequest) (*wire.ScheduleKeyDeletionResponse, error) {
	days := 30
	if in.PendingWindowInDays != nil {
		days = int(*in.PendingWindowInDays)
	}
	// kms:ScheduleKeyDeletionPendingWindowInDays is the window in effect,
	// 30 when omitted (request conditions "work even when the parameter
	// doesn't appear in the request", conditions-kms.md).
	ck, err := s.resolve(ctx, c, wire.Value(in.KeyId), opScheduleDeletion, &condReq{window: windowValue(days)})
	if err != nil {
		return nil, err
	}
	if days < 7 || days > 30 {
		return nil, validationError("PendingWindowInDays must be between 7 and 30")
	}
	// AWS does not round the deletion date: it is now plus the window, to
	// the millisecond (the AWS CLI example for schedule-key-deletion shows
	// "DeletionDate": "2022-06-18T23:43:51.272000+00:00").
	del := s.now().UTC().Add(time.Duration(days) * 24 * time.Hour).Truncate(time.Millisecond)
	k, err := s.update(ctx, ck, func(k *store.Key) error {
		if pendingDeletion(k.KeyState) {
			return errPendingDeletion(ck.arn)
		}
		scheduleDeletionState(k, del, days) // multiregion.go: a primary with replicas waits
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := &wire.ScheduleKeyDeletionResponse{
		KeyId:               wire.Ptr(ck.arn),
		KeyState:            wire.Ptr(k.KeyState),
		PendingWindowInDays: wire.Ptr(int32(days)),
	}
	if !k.DeletionDate.IsZero() {
		// Absent for a primary key with replicas: "The deletion date for
		// the primary key isn't known until its last replica key is
		// deleted" (the model's ScheduleKeyDeletionResponse).
		out.DeletionDate = wire.NewTimestamp(k.DeletionDate)
	}
	return out, nil
}

// CancelKeyDeletion takes a key out of PendingDeletion; it is left Disabled.
func (s *Service) CancelKeyDeletion(ctx context.Context, c *Caller, in *wire.CancelKeyDeletionRequest) (*wire.CancelKeyDeletionResponse, error) {
	ck, err := s.resolve(ctx, c, wire.Value(in.KeyId), opCancelDeletion, nil)
	if err != nil {
		return nil, err
	}
	_, err = s.update(ctx, ck, func(k *store.Key) error {
		if !pendingDeletion(k.KeyState) {
			return wire.Errorf("KMSInvalidStateException", "%s is not pending deletion.", ck.arn)
		}
		if k.KeyState == statePendingDeletion && !k.DeletionDate.After(s.now()) {
			// The window has ended: the sweeper may be deleting the key
			// right now, so it cannot be saved any more.
			return errKeyNotFound(ck.arn)
		}
		k.KeyState = importedState(k)
		k.DeletionDate = time.Time{}
		k.PendingWindowInDays = 0
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &wire.CancelKeyDeletionResponse{KeyId: wire.Ptr(ck.arn)}, nil
}

// DeleteExpiredKeys deletes every key whose deletion window has ended,
// with its material and aliases. It returns how many keys it deleted. The
// server calls it periodically. Each key is deleted only if it is still due
// when the store deletes it ([store.Store.DeleteKeyIfDue]), so a
// CancelKeyDeletion that commits on another node after the list was read
// wins and the key survives.
func (s *Service) DeleteExpiredKeys(ctx context.Context) (int, error) {
	now := s.now()
	refs, err := s.store.KeysDueForDeletion(ctx, now)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, ref := range refs {
		// A multi-Region key's set learns of the deletion; a key in a
		// custom key store has its material destroyed there once the key
		// is deleted. Both are read first.
		var mrk store.Key
		var inStore *store.Key
		k, err := s.store.GetKey(ctx, ref)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return n, fmt.Errorf("delete key %s/%s: %w", ref.Region, ref.KeyID, err)
		}
		if err == nil && isMRKID(ref.KeyID) {
			mrk = k
		}
		if err == nil && k.CustomKeyStoreID != "" {
			inStore = &k
		}
		deleted, err := s.store.DeleteKeyIfDue(ctx, ref, now)
		s.forgetKey(ref)
		s.forgetAliasesOf(ref.KeyID)
		if errors.Is(err, store.ErrNotFound) || (err == nil && !deleted) {
			continue // another node deleted it first, or its deletion was cancelled
		}
		if err != nil {
			return n, fmt.Errorf("delete key %s/%s: %w", ref.Region, ref.KeyID, err)
		}
		s.log.Info("deleted key at the end of its deletion window", "region", ref.Region, "key_id", ref.KeyID)
		if inStore != nil {
			s.destroyStoreKey(ctx, inStore)
		}
		n++
		if err := s.replicaDeleted(ctx, mrk); err != nil {
			return n, fmt.Errorf("update multi-Region key %s after deleting it in %s: %w", ref.KeyID, ref.Region, err)
		}
	}
	return n, nil
}

// RunDeleter calls DeleteExpiredKeys every interval until ctx is done.
func (s *Service) RunDeleter(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := s.DeleteExpiredKeys(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("delete expired keys", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
