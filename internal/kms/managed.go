package kms

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/trent-kms/trent/internal/policy"
	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/wire"
)

// AWS managed keys.
//
// In AWS an AWS managed key is created by an AWS service in the
// customer's account, under the alias alias/aws/<service>, the first
// time the service needs it ("Amazon Web Services services use
// DescribeKey to create Amazon Web Services managed keys from a
// predefined Amazon Web Services alias with no key ID", DescribeKey in
// the model). Trent has no AWS services calling it, so these keys are
// created through Trent's admin API (TrentAdmin.CreateAWSManagedKey,
// [Service.CreateAWSManagedKey]); a direct caller naming a missing
// alias/aws/<service> gets NotFoundException, as for any alias that does
// not exist: only services create these keys on first use.
//
// Their key policy is the one AWS gives them (see awsManagedPolicy): the
// account's principals may use the key only through the service
// (kms:ViaService and kms:CallerAccount), and the account may read the
// key's metadata. Requests to Trent never come through a service, so a
// direct Encrypt with such a key is denied, as in AWS. Nothing can change
// the key: its policy allows no management action, and refuseAWSManaged
// refuses them again after authorization.

// KeyManagerAWS is the KeyManager of an AWS managed key.
const KeyManagerAWS = "AWS"

// awsAliasPrefix is the alias namespace of AWS managed keys.
const awsAliasPrefix = "alias/aws/"

// awsService describes an AWS managed key's service: what its key policy
// and description say.
type awsService struct {
	name    string // as the policy's Sid names it ("S3", "AWS Lambda")
	id      string // the policy's Id
	via     string // first label of the kms:ViaService host ("ec2" for EBS)
	desc    string // the key's Description
	actions string // the service statement's actions, rendered
	meta    string // the metadata statement's actions, rendered
	// callerFirst: kms:CallerAccount comes before kms:ViaService in the
	// recorded policy's condition block.
	callerFirst bool
}

const (
	actsNoGrant   = `"kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"`
	actsGrant     = `"kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey"`
	metaRead      = `"kms:Describe*", "kms:Get*", "kms:List*"`
	metaReadGrant = `"kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant"`
)

// awsServices are the services whose AWS managed key policy was recorded
// from AWS: the key policies of alias/aws/s3, aws/ebs, aws/rds and
// aws/lambda as GetKeyPolicy returns them in us-east-1, published in
// FogSecurity/aws-managed-kms-keys (reference_key_policies/s3.json,
// ebs.json, rds.json, lambda.json; the account number scrubbed). The aws/s3
// policy is also quoted with a real account in public Terraform ("Id":
// "auto-s3-2", the same two statements). Descriptions: "Default key that
// protects my S3 objects when no other key is defined", "… my RDS
// database volumes …", "… my Lambda functions …" are recorded in public
// code (DescribeKey output, mondoohq/mql#6502 for RDS); EBS's "… my EBS
// volumes …" is inferred from that pattern.
var awsServices = map[string]awsService{
	"s3": {name: "S3", id: "auto-s3-2", via: "s3", actions: actsNoGrant, meta: metaRead, callerFirst: true,
		desc: "Default key that protects my S3 objects when no other key is defined"},
	"ebs": {name: "EBS", id: "auto-ebs-2", via: "ec2", actions: actsGrant, meta: metaReadGrant,
		desc: "Default key that protects my EBS volumes when no other key is defined"},
	"rds": {name: "RDS", id: "auto-rds-2", via: "rds", meta: metaReadGrant,
		actions: `"kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:ListGrants", "kms:DescribeKey"`,
		desc:    "Default key that protects my RDS database volumes when no other key is defined"},
	"lambda": {name: "AWS Lambda", id: "auto-awslambda", via: "lambda", actions: actsGrant, meta: metaReadGrant, callerFirst: true,
		desc: "Default key that protects my Lambda functions when no other key is defined"},
}

// serviceFor returns the description of service. A service without a
// recorded policy gets the common form of the recorded ones (the service
// statement with kms:CreateGrant, the metadata statement with
// kms:RevokeGrant, as for EBS, RDS and Lambda), named after the service;
// its Sid, Id, description and ViaService host are inferred.
func serviceFor(service string) awsService {
	if s, ok := awsServices[service]; ok {
		return s
	}
	return awsService{name: service, id: "auto-" + service, via: service, actions: actsGrant, meta: metaReadGrant,
		desc: "Default key that protects my " + service + " resources when no other key is defined"}
}

// AWSManagedKeyPolicy returns the key policy of the AWS managed key of
// service in the account and region, in the layout GetKeyPolicy returns
// it in AWS (the recorded documents cited at awsServices).
func AWSManagedKeyPolicy(service, region, accountID string) string {
	s := serviceFor(service)
	suffix := "amazonaws.com"
	if Partition(region) == "aws-cn" {
		suffix = "amazonaws.com.cn" // inferred: the China regions' service domain
	}
	via := `"kms:ViaService" : "` + s.via + "." + region + "." + suffix + `"`
	caller := `"kms:CallerAccount" : "` + accountID + `"`
	conds := via + ",\n        " + caller
	if s.callerFirst {
		conds = caller + ",\n        " + via
	}
	return `{
  "Version" : "2012-10-17",
  "Id" : "` + s.id + `",
  "Statement" : [ {
    "Sid" : "Allow access through ` + s.name + ` for all principals in the account that are authorized to use ` + s.name + `",
    "Effect" : "Allow",
    "Principal" : {
      "AWS" : "*"
    },
    "Action" : [ ` + s.actions + ` ],
    "Resource" : "*",
    "Condition" : {
      "StringEquals" : {
        ` + conds + `
      }
    }
  }, {
    "Sid" : "Allow direct access to key metadata to the account",
    "Effect" : "Allow",
    "Principal" : {
      "AWS" : "arn:` + Partition(region) + `:iam::` + accountID + `:root"
    },
    "Action" : [ ` + s.meta + ` ],
    "Resource" : "*"
  } ]
}`
}

// serviceNameRE is what Trent accepts as a service name: the part of
// alias/aws/<service> after the prefix, as AWS's own names look
// ("s3", "ebs", "secretsmanager", "elasticfilesystem", "kinesisvideo").
var serviceNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// AWSManagedKey is the result of CreateAWSManagedKey.
type AWSManagedKey struct {
	AliasName   string
	KeyMetadata *wire.KeyMetadata
	// Created is false when the key already existed.
	Created bool
}

// CreateAWSManagedKey returns the AWS managed key of service in accountID
// (the caller's account when empty) and the caller's region, creating it
// and its alias alias/aws/<service> if it does not exist yet. It is
// idempotent: a second call for the same service returns the same key.
// This is Trent's admin call, not an AWS operation (see the package
// comment above). It may be called by the account's root user, or by the
// management account's root user (operator true) for any existing
// account; anyone else gets AccessDeniedException. An invalid service name
// is ValidationException, an unknown account NotFoundException.
func (s *Service) CreateAWSManagedKey(ctx context.Context, c *Caller, service, accountID string, operator bool) (*AWSManagedKey, error) {
	if accountID == "" {
		accountID = c.AccountID
	}
	id := identity(c)
	isRoot := id.Type == policy.PrincipalAccount && id.Account == c.AccountID
	if !isRoot || (accountID != c.AccountID && !operator) {
		return nil, &wire.Error{Code: "AccessDeniedException",
			Message: fmt.Sprintf("User: %s is not authorized to perform: trent:CreateAWSManagedKey because only the account's root user or the management account's root user may", callerARN(c))}
	}
	if !serviceNameRE.MatchString(service) {
		return nil, validationError(fmt.Sprintf("1 validation error detected: Value '%s' at 'service' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-z0-9][a-z0-9-]{0,62}", service))
	}
	if accountID != c.AccountID {
		ok, err := s.accountExists(ctx, accountID)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, wire.Errorf("NotFoundException", "Account %s does not exist.", accountID)
		}
	}
	alias := awsAliasPrefix + service
	if k, err := s.awsManagedKey(ctx, c.Region, accountID, alias); err == nil || !errors.Is(err, store.ErrNotFound) {
		return k, err
	}

	keyID, err := generateKeyID(s.rand)
	if err != nil {
		return nil, err
	}
	arn := KeyARN(c.Region, accountID, keyID)
	now := s.now().UTC().Truncate(time.Millisecond)
	mat, err := s.generateMaterial(specSymmetric, arn, now)
	if err != nil {
		return nil, err
	}
	k := store.Key{
		Region:            c.Region,
		KeyID:             keyID,
		AccountID:         accountID,
		Description:       serviceFor(service).desc,
		KeyUsage:          usageEncrypt,
		KeySpec:           specSymmetric,
		Origin:            "AWS_KMS",
		KeyManager:        KeyManagerAWS,
		KeyState:          stateEnabled,
		CreationDate:      now,
		Policy:            AWSManagedKeyPolicy(service, c.Region, accountID),
		PolicyName:        defaultPolicyName,
		CurrentMaterialID: mat.ID,
		Materials:         []store.Material{mat},
	}
	// AWS managed keys do not count against the customer's key quota
	// (inferred from AWS's quota being one on customer managed keys), so
	// the key is stored without s.createKey's quota check.
	ref := k.Ref()
	if err := s.store.CreateKey(ctx, k); err != nil {
		return nil, fmt.Errorf("create AWS managed key %s: %w", arn, err)
	}
	err = s.store.CreateAlias(ctx, store.Alias{Region: c.Region, AccountID: accountID, Name: alias, TargetKeyID: keyID,
		CreationDate: now, LastUpdatedDate: now})
	s.forgetAlias(aliasRef{c.Region, accountID, alias})
	if err != nil {
		// Another request (on this node or another) created the alias
		// first: its key is the service's key, and ours goes.
		if derr := s.store.DeleteKey(ctx, ref); derr != nil {
			s.log.Error("delete unused AWS managed key", "key_arn", arn, "err", derr)
		}
		s.forgetKey(ref)
		if errors.Is(err, store.ErrExists) {
			return s.awsManagedKey(ctx, c.Region, accountID, alias)
		}
		return nil, fmt.Errorf("create alias %s: %w", alias, err)
	}
	s.log.InfoContext(ctx, "AWS managed key created", "key_arn", arn, "alias", alias, "by", c.AccessKeyID)
	k.Revision = 1
	return &AWSManagedKey{AliasName: alias, KeyMetadata: s.metadata(&k), Created: true}, nil
}

// awsManagedKey returns the existing key behind an alias/aws/ alias, or
// store.ErrNotFound.
func (s *Service) awsManagedKey(ctx context.Context, region, accountID, alias string) (*AWSManagedKey, error) {
	a, err := s.store.GetAlias(ctx, region, accountID, alias)
	if err != nil {
		return nil, err
	}
	ck, err := s.loadKey(ctx, store.KeyRef{Region: region, KeyID: a.TargetKeyID})
	if err != nil {
		return nil, fmt.Errorf("load key of %s: %w", alias, err)
	}
	return &AWSManagedKey{AliasName: alias, KeyMetadata: s.metadata(&ck.meta)}, nil
}

// awsManagedRefused are the actions that change a key, which nobody may
// perform on an AWS managed key: "You cannot change any properties of
// AWS managed keys" — their policy, rotation, state, deletion, tags
// ("you cannot tag an Amazon Web Services managed key", TagResource in the
// model; rotation "is not configurable", DisableKeyRotation; "You cannot
// initiate on-demand rotation of Amazon Web Services managed KMS keys",
// RotateKeyOnDemand) and aliases ("You can associate the alias with any
// customer managed key", CreateAlias).
var awsManagedRefused = map[string]bool{
	actPutKeyPolicy: true, "kms:ScheduleKeyDeletion": true, "kms:CancelKeyDeletion": true,
	"kms:EnableKey": true, "kms:DisableKey": true, "kms:UpdateKeyDescription": true,
	actTagResource: true, "kms:UntagResource": true,
	actCreateAlias: true, actUpdateAlias: true, actDeleteAlias: true,
	"kms:EnableKeyRotation": true, "kms:DisableKeyRotation": true, "kms:RotateKeyOnDemand": true,
	"kms:ImportKeyMaterial": true, "kms:DeleteImportedKeyMaterial": true,
	"kms:ReplicateKey": true, "kms:UpdatePrimaryRegion": true,
}

// refuseAWSManaged refuses action on ck when ck is an AWS managed key and
// action changes the key (awsManagedRefused); it returns nil otherwise.
// authorizeFound calls it once the policies have allowed the request, so
// every operation that resolves its key (including the rotation
// operations) is covered. With the AWS managed key policy the policies
// already deny these actions (its only statement for direct callers
// allows kms:Describe*, kms:Get*, kms:List* and for some services
// kms:RevokeGrant), so this is defense in depth for a stored policy that
// was altered outside the API; the answer is the one the policy gives,
// AccessDeniedException "User: <caller> is not authorized to perform:
// <action> on resource: <key ARN> because no resource-based policy allows
// the <action> action". That AWS answers the management operations on its
// managed keys through the key policy is inferred from the policy
// document; no recording of those answers was found.
func refuseAWSManaged(c *Caller, ck *cachedKey, action string) error {
	if ck.meta.KeyManager != KeyManagerAWS || !awsManagedRefused[action] {
		return nil
	}
	d := policy.Decision{Effect: policy.ImplicitDeny, Denial: policy.DenyNoResourceAllow, Statement: -1, ResourceStatement: -1, PolicyIndex: -1,
		Reason: "AWS managed keys cannot be changed"}
	authzOf(c).record(Check{Action: action, Resource: ck.arn, Decision: d})
	return &wire.Error{Code: "AccessDeniedException", Message: deniedMessage(d, callerARN(c), action, ck.arn, false),
		Err: fmt.Errorf("%s on %s: %s", action, ck.arn, d.Reason)}
}
