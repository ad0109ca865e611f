package esdk

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// KMS is the part of the AWS KMS API the keyring calls; *kms.Client
// implements it.
type KMS interface {
	GenerateDataKey(ctx context.Context, in *kms.GenerateDataKeyInput, optFns ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error)
	Encrypt(ctx context.Context, in *kms.EncryptInput, optFns ...func(*kms.Options)) (*kms.EncryptOutput, error)
	Decrypt(ctx context.Context, in *kms.DecryptInput, optFns ...func(*kms.Options)) (*kms.DecryptOutput, error)
}

var _ KMS = (*kms.Client)(nil)

// ProviderKMS is the provider id of data keys encrypted by AWS KMS
// (framework/aws-kms/aws-kms-keyring.md).
const ProviderKMS = "aws-kms"

// KMSKeyring is the AWS KMS keyring of the specification
// (framework/aws-kms/aws-kms-keyring.md and aws-kms-discovery-keyring.md).
//
// Encrypting, the first of KeyIDs generates the data key
// (GenerateDataKey) and every other one encrypts it (Encrypt); each
// encrypted data key names the key ARN KMS answered with. Decrypting in
// strict mode (Discovery false), only encrypted data keys whose key ARN is
// in KeyIDs are tried, each with Decrypt under that KeyId; in discovery
// mode every "aws-kms" data key is tried under the ARN it names, if its
// account is in Accounts (when given) and its partition is Partition (when
// given). The first that decrypts wins; KMS must answer with the KeyId
// asked for and a data key of the suite's length.
type KMSKeyring struct {
	// Client returns the KMS client for a region ("" when the key id is
	// not an ARN: the default region).
	Client      func(region string) KMS
	KeyIDs      []string
	Discovery   bool
	Accounts    []string
	Partition   string
	GrantTokens []string
}

var _ Keyring = (*KMSKeyring)(nil)

// arn is a parsed KMS key ARN: arn:PARTITION:kms:REGION:ACCOUNT:key/ID.
type arn struct{ partition, region, account, resource string }

func parseARN(s string) (arn, bool) {
	f := strings.SplitN(s, ":", 6)
	if len(f) != 6 || f[0] != "arn" || f[1] == "" || f[2] != "kms" || f[3] == "" || f[4] == "" || f[5] == "" {
		return arn{}, false
	}
	return arn{partition: f[1], region: f[3], account: f[4], resource: f[5]}, true
}

// regionOf returns the region of a key ARN or alias ARN, or "".
func regionOf(id string) string {
	if a, ok := parseARN(id); ok {
		return a.region
	}
	return ""
}

// GenerateDataKey implements [Keyring].
func (k *KMSKeyring) GenerateDataKey(ctx context.Context, s *Suite, ec map[string]string) ([]byte, []EncryptedDataKey, error) {
	if len(k.KeyIDs) == 0 {
		return nil, nil, errf(ErrNoKey, "no KMS key to encrypt with")
	}
	gen, err := k.Client(regionOf(k.KeyIDs[0])).GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
		KeyId: aws.String(k.KeyIDs[0]), NumberOfBytes: aws.Int32(int32(s.KeyLen)),
		EncryptionContext: ec, GrantTokens: k.GrantTokens,
	})
	if err != nil {
		return nil, nil, &Error{Kind: ErrNoKey, Detail: "GenerateDataKey with " + k.KeyIDs[0], Err: err}
	}
	if len(gen.Plaintext) != s.KeyLen {
		clear(gen.Plaintext)
		return nil, nil, errf(ErrNoKey, "GenerateDataKey returned a data key of %d bytes; want %d", len(gen.Plaintext), s.KeyLen)
	}
	if _, ok := parseARN(aws.ToString(gen.KeyId)); !ok {
		clear(gen.Plaintext)
		return nil, nil, errf(ErrNoKey, "GenerateDataKey answered with KeyId %q, not a key ARN", aws.ToString(gen.KeyId))
	}
	dataKey := gen.Plaintext
	edks := []EncryptedDataKey{{ProviderID: ProviderKMS, ProviderInfo: []byte(aws.ToString(gen.KeyId)), Ciphertext: gen.CiphertextBlob}}
	for _, id := range k.KeyIDs[1:] {
		enc, err := k.Client(regionOf(id)).Encrypt(ctx, &kms.EncryptInput{
			KeyId: aws.String(id), Plaintext: dataKey, EncryptionContext: ec, GrantTokens: k.GrantTokens,
		})
		if err != nil {
			clear(dataKey)
			return nil, nil, &Error{Kind: ErrNoKey, Detail: "Encrypt with " + id, Err: err}
		}
		if _, ok := parseARN(aws.ToString(enc.KeyId)); !ok {
			clear(dataKey)
			return nil, nil, errf(ErrNoKey, "Encrypt answered with KeyId %q, not a key ARN", aws.ToString(enc.KeyId))
		}
		edks = append(edks, EncryptedDataKey{ProviderID: ProviderKMS, ProviderInfo: []byte(aws.ToString(enc.KeyId)), Ciphertext: enc.CiphertextBlob})
	}
	return dataKey, edks, nil
}

// DecryptDataKey implements [Keyring]. When no data key decrypts, the
// error (ErrNoKey) names the key ARNs the message's data keys are
// encrypted under and the reason each attempt failed.
func (k *KMSKeyring) DecryptDataKey(ctx context.Context, s *Suite, ec map[string]string, edks []EncryptedDataKey) ([]byte, error) {
	var inMessage []string
	var errs []error
	for _, e := range edks {
		if e.ProviderID != ProviderKMS {
			continue
		}
		id := string(e.ProviderInfo)
		inMessage = append(inMessage, id)
		a, ok := parseARN(id)
		if !ok || !strings.HasPrefix(a.resource, "key/") {
			errs = append(errs, fmt.Errorf("%q is not a key ARN", id))
			continue
		}
		if !k.Discovery && !slices.Contains(k.KeyIDs, id) {
			continue
		}
		if k.Discovery && (len(k.Accounts) > 0 && !slices.Contains(k.Accounts, a.account) || k.Partition != "" && a.partition != k.Partition) {
			errs = append(errs, fmt.Errorf("%s: account or partition not allowed by the discovery filter", id))
			continue
		}
		out, err := k.Client(a.region).Decrypt(ctx, &kms.DecryptInput{
			KeyId: aws.String(id), CiphertextBlob: e.Ciphertext, EncryptionContext: ec, GrantTokens: k.GrantTokens,
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", id, err))
			continue
		}
		if aws.ToString(out.KeyId) != id || len(out.Plaintext) != s.KeyLen {
			clear(out.Plaintext)
			errs = append(errs, fmt.Errorf("%s: KMS answered for key %q with %d bytes", id, aws.ToString(out.KeyId), len(out.Plaintext)))
			continue
		}
		return out.Plaintext, nil
	}
	detail := "the message's data keys are encrypted under " + strings.Join(inMessage, ", ")
	if len(inMessage) == 0 {
		detail = "the message has no AWS KMS encrypted data key"
	} else if !k.Discovery && len(errs) == 0 {
		detail += "; none of them is a key given (" + strings.Join(k.KeyIDs, ", ") + ")"
	}
	return nil, &Error{Kind: ErrNoKey, Detail: detail, Err: errors.Join(errs...)}
}
