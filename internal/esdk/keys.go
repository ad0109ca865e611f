package esdk

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/subtle"
	"encoding/binary"
)

// Keyring obtains and recovers data keys (framework/keyring-interface.md of
// the specification, reduced to what this package needs).
type Keyring interface {
	// GenerateDataKey returns a new plaintext data key of suite.KeyLen bytes
	// and at least one encrypted copy of it, each bound to ec.
	GenerateDataKey(ctx context.Context, suite *Suite, ec map[string]string) (dataKey []byte, edks []EncryptedDataKey, err error)
	// DecryptDataKey returns the plaintext of one of edks, or an error
	// (wrapping ErrNoKey when none of them is for this keyring or none
	// decrypts).
	DecryptDataKey(ctx context.Context, suite *Suite, ec map[string]string, edks []EncryptedDataKey) (dataKey []byte, err error)
}

// Labels of the committing suites' HKDF (the specification's
// transitive-requirements "HKDF Encryption Key" and "Commit key"; the same
// labels as aws/aws-encryption-sdk-python
// src/aws_encryption_sdk/internal/crypto/data_keys.py: KEY_LABEL =
// b"DERIVEKEY", COMMIT_LABEL = b"COMMITKEY").
const (
	labelDeriveKey = "DERIVEKEY"
	labelCommitKey = "COMMITKEY"
)

// deriveKeys returns the AES-GCM encryption key for the message and, for
// committing suites, the commit key:
//
//   - identity KDF: the data key itself;
//   - HKDF-SHA256/384 (format 1): salt none, info = suite id || message id;
//   - HKDF-SHA512 (committing): salt = message id, info = suite id ||
//     "DERIVEKEY" for the encryption key and "COMMITKEY" for the 32-byte
//     commit key.
func deriveKeys(s *Suite, dataKey, messageID []byte) (encKey, commitKey []byte, err error) {
	if len(dataKey) != s.KeyLen {
		return nil, nil, errf(ErrNoKey, "data key is %d bytes; the suite needs %d", len(dataKey), s.KeyLen)
	}
	switch {
	case s.KDF == nil:
		return append([]byte(nil), dataKey...), nil, nil
	case !s.Commit:
		info := append(binary.BigEndian.AppendUint16(nil, s.ID), messageID...)
		k, err := hkdf.Key(s.KDF, dataKey, nil, string(info), s.KeyLen)
		return k, nil, err
	}
	info := string(binary.BigEndian.AppendUint16(nil, s.ID)) + labelDeriveKey
	if encKey, err = hkdf.Key(s.KDF, dataKey, messageID, info, s.KeyLen); err != nil {
		return nil, nil, err
	}
	if commitKey, err = hkdf.Key(s.KDF, dataKey, messageID, labelCommitKey, commitKeyLen); err != nil {
		return nil, nil, err
	}
	return encKey, commitKey, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// headerTag computes the header authentication tag: AES-GCM over an empty
// plaintext with the header body as AAD and an all-zero IV (version 2) or
// the header's IV (version 1); client-apis/encrypt.md "Authentication Tag".
func headerTag(aead cipher.AEAD, body, iv []byte) []byte {
	return aead.Seal(nil, iv, nil, body)
}

// checkCommitment compares the commit key with the header's suite data in
// constant time.
func checkCommitment(commitKey, suiteData []byte) bool {
	return subtle.ConstantTimeCompare(commitKey, suiteData) == 1
}

// Body AAD content strings (data-format/message-body-aad.md; the Developer
// Guide's "Body additional authenticated data (AAD) reference").
const (
	aadFrame       = "AWSKMSEncryptionClient Frame"
	aadFinalFrame  = "AWSKMSEncryptionClient Final Frame"
	aadSingleBlock = "AWSKMSEncryptionClient Single Block"
)

// bodyAAD appends the body AAD: message id || content string || sequence
// number (uint32) || content length (uint64).
func bodyAAD(dst, messageID []byte, content string, seq uint32, n uint64) []byte {
	dst = append(dst, messageID...)
	dst = append(dst, content...)
	dst = binary.BigEndian.AppendUint32(dst, seq)
	return binary.BigEndian.AppendUint64(dst, n)
}

// frameIV is the sequence number padded on the left to 12 bytes
// (client-apis/encrypt.md "Construct a frame").
func frameIV(seq uint32) []byte {
	iv := make([]byte, ivLen)
	binary.BigEndian.PutUint32(iv[8:], seq)
	return iv
}
