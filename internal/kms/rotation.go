package kms

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/wire"
)

// Rotation of key material (docs/behaviour.md, "Key rotation"). Only
// symmetric encryption keys rotate. A rotation adds fresh material and
// makes it current: new ciphertext uses it, and every older material stays
// with the key so that the ciphertext it made keeps decrypting (a blob
// names its material id, docs/ciphertext.md).
//
// Automatic rotation is done by [Service.RotateDueKeys], which the server
// runs periodically; each key is rotated in one store transaction that
// checks again that it is due, so two nodes (or a restart in the middle of
// a sweep) never rotate a key twice for the same date. On-demand rotation
// (RotateKeyOnDemand) is done within the request: it is complete when the
// call returns, so GetKeyRotationStatus never reports an on-demand
// rotation in progress. AWS managed keys, which AWS rotates every year,
// do not exist in Trent.

const (
	// defaultRotationDays is RotationPeriodInDays when EnableKeyRotation
	// omits it ("If no value is specified, the default value is 365
	// days", the model).
	defaultRotationDays = 365
	// maxOnDemandRotations is the per-key limit on RotateKeyOnDemand: "You
	// can perform on-demand key rotation a maximum of 25 times per KMS key"
	// (the model's RotateKeyOnDemand documentation; earlier AWS CLI
	// documentation said 10, vidhra/saturn
	// internal/tools/aws_cli_docs_markdown/kms/rotate-key-on-demand.md,
	// and the model wins).
	maxOnDemandRotations = 25
	// conflictWindow: RotateKeyOnDemand is refused "because an automatic
	// rotation of this key is currently in progress or scheduled to begin
	// within the next 20 minutes" (the model's ConflictException).
	conflictWindow = 20 * time.Minute

	rotationAutomatic = "AUTOMATIC"
	rotationOnDemand  = "ON_DEMAND"
)

// errRotationUnsupported is the answer to a rotation operation on a key
// that cannot rotate (asymmetric, HMAC). AWS's message is not recorded
// anywhere we could find; floci, which mirrors AWS's answers, sends
// UnsupportedOperationException without a message for it
// (floci-io/floci, KmsService.java validateRotationKeySpec: `new
// AwsException("UnsupportedOperationException", null, 400)`), as AWS does
// for GetPublicKey on a symmetric key. The missing message is inferred.
func errRotationUnsupported() error {
	return &wire.Error{Code: "UnsupportedOperationException"}
}

// rotatable checks a key for EnableKeyRotation, DisableKeyRotation and
// RotateKeyOnDemand. The state is checked before the type, as AWS does: a
// Disabled asymmetric key gives DisabledException (floci-io/floci,
// KmsService.java rotateKeyOnDemand: validateKeyIsUsableForCryptoOperations
// before validateRotationKeySpec; localstack/localstack
// tests/aws/services/kms/test_kms.py, AWS-validated
// test_rotate_key_on_demand_raises_error_given_key_is_disabled disables an
// RSA_4096 key and records the error).
func rotatable(k *store.Key, arn string) error {
	switch k.KeyState {
	case stateEnabled:
	case stateDisabled:
		return errDisabled(arn)
	default:
		return invalidState(arn, k.KeyState)
	}
	if k.KeySpec != specSymmetric || k.KeyUsage != usageEncrypt {
		return errRotationUnsupported()
	}
	if k.Origin != "AWS_KMS" {
		// Keys with imported material (import.go: they rotate on demand
		// between imported materials) and keys in custom key stores
		// (cks.go) do not rotate automatically (the model).
		return errRotationUnsupported()
	}
	if isReplica(k) {
		return errReplicaRotation(arn) // multiregion.go: only the primary rotates
	}
	return nil
}

// days returns d days as a duration.
func days(d int) time.Duration { return time.Duration(d) * 24 * time.Hour }

// EnableKeyRotation turns on automatic rotation of a symmetric encryption
// key every RotationPeriodInDays (90 to 2560, default 365). The first
// rotation is due one period after now. Enabling it again on a key whose
// rotation is enabled changes the period and moves the next date by the
// difference, so the date keeps counting from the last rotation (or from
// when rotation was enabled); if that date has passed, the key is rotated
// by the next sweep (inferred: AWS documents that the period can be
// changed this way, not how the next date moves).
func (s *Service) EnableKeyRotation(ctx context.Context, c *Caller, in *wire.EnableKeyRotationRequest) error {
	period := defaultRotationDays
	if in.RotationPeriodInDays != nil {
		period = int(*in.RotationPeriodInDays)
	}
	// kms:RotationPeriodInDays is the period in effect, 365 when omitted
	// (request conditions "work even when the parameter doesn't appear in
	// the request", conditions-kms.md).
	ck, err := s.resolve(ctx, c, wire.Value(in.KeyId), opEnableKeyRotation, &condReq{rotation: strconv.Itoa(period)})
	if err != nil {
		return err
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	saved, err := s.update(ctx, ck, func(k *store.Key) error {
		if err := rotatable(k, ck.arn); err != nil {
			return err
		}
		if k.RotationEnabled && !k.NextRotationDate.IsZero() {
			k.NextRotationDate = k.NextRotationDate.Add(days(period) - days(k.RotationPeriodInDays))
		} else {
			k.NextRotationDate = now.Add(days(period))
		}
		k.RotationEnabled, k.RotationPeriodInDays = true, period
		return nil
	})
	if err != nil {
		return err
	}
	return s.syncReplicas(ctx, saved) // a shared property of multi-Region keys
}

// DisableKeyRotation turns off automatic rotation. Material made by
// earlier rotations stays.
func (s *Service) DisableKeyRotation(ctx context.Context, c *Caller, in *wire.DisableKeyRotationRequest) error {
	ck, err := s.resolve(ctx, c, wire.Value(in.KeyId), opDisableKeyRotation, nil)
	if err != nil {
		return err
	}
	saved, err := s.update(ctx, ck, func(k *store.Key) error {
		if err := rotatable(k, ck.arn); err != nil {
			return err
		}
		k.RotationEnabled, k.RotationPeriodInDays, k.NextRotationDate = false, 0, time.Time{}
		return nil
	})
	if err != nil {
		return err
	}
	return s.syncReplicas(ctx, saved)
}

// GetKeyRotationStatus reports whether automatic rotation is enabled and,
// when it is, the period and the next date. As in AWS, a key that cannot
// rotate (asymmetric, HMAC) answers KeyRotationEnabled false rather than an
// error ("AWS updated GetKeyRotationStatus behavior so asymmetric and HMAC
// keys return { KeyRotationEnabled: false } instead of
// UnsupportedOperationException", floci-io/floci pull request #618), and a
// key pending deletion answers false ("While a CMK is pending deletion,
// its key rotation status is false ... If you cancel the deletion, the
// original key rotation status is restored", the GetKeyRotationStatus
// documentation as paws.security.identity 0.1.8 carries it). A Disabled
// key keeps its status ("The key rotation status does not change when you
// disable a KMS key", the model). RotationPeriodInDays and
// NextRotationDate are omitted while rotation is disabled (inferred: the
// model gives them no meaning then).
func (s *Service) GetKeyRotationStatus(ctx context.Context, c *Caller, in *wire.GetKeyRotationStatusRequest) (*wire.GetKeyRotationStatusResponse, error) {
	ck, err := s.resolve(ctx, c, wire.Value(in.KeyId), opGetKeyRotationStatus, nil)
	if err != nil {
		return nil, err
	}
	k := &ck.meta
	out := &wire.GetKeyRotationStatusResponse{KeyId: wire.Ptr(ck.arn), KeyRotationEnabled: wire.Ptr(false)}
	if k.KeyManager == KeyManagerAWS {
		// "The key rotation status for Amazon Web Services managed KMS
		// keys is always true" (the model's GetKeyRotationStatus). Trent
		// does not rotate them itself yet, so no period or date is given
		// (inferred).
		out.KeyRotationEnabled = wire.Ptr(true)
		return out, nil
	}
	if !k.RotationEnabled || pendingDeletion(k.KeyState) || k.KeySpec != specSymmetric {
		return out, nil
	}
	out.KeyRotationEnabled = wire.Ptr(true)
	out.RotationPeriodInDays = wire.Ptr(int32(k.RotationPeriodInDays))
	out.NextRotationDate = wire.NewTimestamp(k.NextRotationDate)
	return out, nil
}

// RotateKeyOnDemand rotates a symmetric encryption key's material now,
// whether or not automatic rotation is enabled, without changing the
// automatic schedule ("On-demand rotations do not change existing
// automatic rotation schedules", the model). A key may be rotated on
// demand 25 times (LimitExceededException after that), and not while an
// automatic rotation is due within 20 minutes (ConflictException).
func (s *Service) RotateKeyOnDemand(ctx context.Context, c *Caller, in *wire.RotateKeyOnDemandRequest) (*wire.RotateKeyOnDemandResponse, error) {
	ck, err := s.resolve(ctx, c, wire.Value(in.KeyId), opRotateKeyOnDemand, nil)
	if err != nil {
		return nil, err
	}
	if ck.meta.Origin == originExternal {
		return s.rotateImported(ctx, ck) // import.go
	}
	if err := rotatable(&ck.meta, ck.arn); err != nil {
		return nil, err // before drawing material for a key that cannot use it
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	mat, err := s.generateMaterial(specSymmetric, ck.arn, now)
	if err != nil {
		return nil, err
	}
	mat.RotationType = rotationOnDemand
	if err := s.stageMaterial(ctx, &ck.meta, mat); err != nil {
		return nil, err
	}
	saved, err := s.update(ctx, ck, func(k *store.Key) error {
		if err := rotatable(k, ck.arn); err != nil {
			return err
		}
		if k.OnDemandRotations >= maxOnDemandRotations {
			// The message is inferred: AWS's text is not recorded.
			return wire.Errorf("LimitExceededException",
				"The on-demand rotation limit of %d rotations for %s has been reached.", maxOnDemandRotations, ck.arn)
		}
		if k.RotationEnabled && !k.NextRotationDate.IsZero() && !k.NextRotationDate.After(now.Add(conflictWindow)) {
			// The message is inferred from the model's description of
			// ConflictException.
			return wire.Errorf("ConflictException",
				"An automatic rotation of %s is in progress or scheduled to begin within the next 20 minutes.", ck.arn)
		}
		k.OnDemandRotations++
		addMaterial(k, mat)
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("rotated key material on demand", "key_arn", ck.arn, "material_id", mat.ID)
	if err := s.syncReplicas(ctx, saved); err != nil {
		return nil, err
	}
	return &wire.RotateKeyOnDemandResponse{KeyId: wire.Ptr(ck.arn)}, nil
}

// addMaterial appends m to k's materials and makes it current.
func addMaterial(k *store.Key, m store.Material) {
	k.Materials = append(k.Materials, m)
	k.CurrentMaterialID = m.ID
}

// errNotDue aborts the store update of a key that is no longer due for
// rotation when the transaction reads it.
var errNotDue = errors.New("kms: key is not due for rotation")

// RotateDueKeys rotates every key whose automatic rotation is due at now
// and returns how many it rotated. The server calls it periodically.
//
// Each key is rotated in one store transaction ([store.Store.UpdateKey])
// that checks again that it is due and Enabled, and moves NextRotationDate
// one period past now with the new material: a key that another node (or
// an earlier run, before a restart) rotated is no longer due and is left
// alone, so a key is never rotated twice for one date. A Disabled key is
// not rotated and stays due: when it is enabled again the next sweep
// rotates it ("while the KMS key is disabled, KMS does not rotate the key
// material. When you re-enable the KMS key, rotation resumes. If the key
// material in the re-enabled KMS key hasn't been rotated in one year, KMS
// rotates it immediately", the model on GetKeyRotationStatus). A key
// pending deletion is not rotated either.
func (s *Service) RotateDueKeys(ctx context.Context) (int, error) {
	now := s.now().UTC().Truncate(time.Millisecond)
	refs, err := s.store.KeysDueForRotation(ctx, now)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, ref := range refs {
		rotated, err := s.rotateIfDue(ctx, ref, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("rotate key %s/%s: %w", ref.Region, ref.KeyID, err))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		if rotated {
			n++
		}
	}
	return n, errors.Join(errs...)
}

// rotateIfDue rotates one key if it is still due and Enabled at now.
func (s *Service) rotateIfDue(ctx context.Context, ref store.KeyRef, now time.Time) (bool, error) {
	k, err := s.store.GetKey(ctx, ref)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !k.DueForRotation(now) || k.KeyState != stateEnabled || k.KeySpec != specSymmetric || isReplica(&k) {
		// A multi-Region replica rotates when its primary does
		// (syncReplicas), never on its own.
		return false, nil
	}
	arn := KeyARN(k.Region, k.AccountID, k.KeyID)
	mat, err := s.generateMaterial(specSymmetric, arn, now)
	if err != nil {
		return false, err
	}
	mat.RotationType = rotationAutomatic
	if err := s.stageMaterial(ctx, &k, mat); err != nil {
		return false, err
	}
	saved, err := s.store.UpdateKey(ctx, ref, func(k *store.Key) error {
		if !k.DueForRotation(now) || k.KeyState != stateEnabled || k.KeySpec != specSymmetric || isReplica(k) {
			return errNotDue
		}
		addMaterial(k, mat)
		k.NextRotationDate = now.Add(days(k.RotationPeriodInDays))
		return nil
	})
	s.forgetKey(ref)
	if errors.Is(err, errNotDue) || errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	s.log.Info("rotated key material", "key_arn", arn, "material_id", mat.ID, "next_rotation_date", saved.NextRotationDate)
	return true, s.syncReplicas(ctx, saved)
}

// RunRotator calls RotateDueKeys every interval until ctx is done.
func (s *Service) RunRotator(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := s.RotateDueKeys(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("rotate due keys", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ListKeyRotations lists a symmetric encryption key's materials made by
// rotations, oldest first; with IncludeKeyMaterial ALL_KEY_MATERIAL the
// key's first material comes first (it has no RotationDate or
// RotationType: it was not made by a rotation). KeyMaterialState is
// CURRENT for the material new ciphertext uses and NON_CURRENT for the
// others. KeyId in each entry is the key id, as in the AWS CLI example of
// list-key-rotations (inferred for the SDKs). A key that cannot rotate is
// UnsupportedOperationException (IncludeKeyMaterial "can only be used
// with KMS keys that support automatic or on-demand key rotation", the
// model; refusing the operation for them is inferred).
func (s *Service) ListKeyRotations(ctx context.Context, c *Caller, in *wire.ListKeyRotationsRequest) (*wire.ListKeyRotationsResponse, error) {
	ck, err := s.resolve(ctx, c, wire.Value(in.KeyId), opListKeyRotations, nil)
	if err != nil {
		return nil, err
	}
	if ck.meta.KeySpec != specSymmetric || ck.meta.KeyUsage != usageEncrypt {
		return nil, errRotationUnsupported()
	}
	limit, after, err := pageArgs(in.Limit, in.Marker, 100)
	if err != nil {
		return nil, err
	}
	mats := ck.meta.Materials
	if wire.Value(in.IncludeKeyMaterial) != "ALL_KEY_MATERIAL" {
		mats = slices.DeleteFunc(slices.Clone(mats), func(m store.Material) bool { return m.RotationType == "" })
	}
	start := 0
	if after != "" {
		i := slices.IndexFunc(mats, func(m store.Material) bool { return m.ID == after })
		if i < 0 {
			return nil, errInvalidMarker()
		}
		start = i + 1
	}
	out := &wire.ListKeyRotationsResponse{Rotations: []wire.RotationsListEntry{}, Truncated: wire.Ptr(false)}
	// The replicas of an imported multi-Region primary, read only if a
	// material waits for rotation: while one of them lacks it, it is
	// PENDING_MULTI_REGION_IMPORT_AND_ROTATION, "key material that has
	// been imported into the primary Region key but not all of the replica
	// Region keys" (the model's RotationsListEntry).
	var reps []store.Key
	repsRead := false
	for i := start; i < len(mats); i++ {
		if len(out.Rotations) == limit {
			out.Truncated = wire.Ptr(true)
			out.NextMarker = wire.Ptr(encodeMarker(mats[i-1].ID))
			break
		}
		m := mats[i]
		e := wire.RotationsListEntry{
			KeyId:            wire.Ptr(ck.meta.KeyID),
			KeyMaterialId:    wire.Ptr(m.ID),
			KeyMaterialState: wire.Ptr("NON_CURRENT"),
		}
		if m.ID == ck.meta.CurrentMaterialID {
			e.KeyMaterialState = wire.Ptr("CURRENT")
		}
		if m.RotationType != "" {
			e.RotationDate = wire.NewTimestamp(m.CreatedAt)
			e.RotationType = wire.Ptr(m.RotationType)
		}
		if ck.meta.Origin == originExternal {
			importedEntry(&e, &m)
			if m.PendingRotation && len(m.Sealed) > 0 && isPrimary(&ck.meta) {
				if !repsRead {
					if reps, err = s.localReplicas(ctx, &ck.meta); err != nil {
						return nil, err
					}
					repsRead = true
				}
				if slices.ContainsFunc(reps, func(r store.Key) bool { return !holdsMaterial(&r, m.ID) }) {
					e.KeyMaterialState = wire.Ptr("PENDING_MULTI_REGION_IMPORT_AND_ROTATION")
				}
			}
		}
		out.Rotations = append(out.Rotations, e)
	}
	return out, nil
}
