// Package kms implements the AWS KMS operations over Trent's store and
// keystore: key lifecycle, aliases, tags, key policies and the symmetric
// cryptographic operations. It imports no net/http; the api package decodes
// requests into the shapes of package wire and calls a [Service] method.
//
// # Errors
//
// Every method returns either a result or an error. Errors meant for the
// caller are *wire.Error values carrying the AWS error shape and message;
// anything else is an internal failure that the api layer reports as
// KMSInternalException with a generic message, logging the cause.
//
// # Key material
//
// Operations reach key material only through an [Engine] per key: seal
// and open a ciphertext blob, encrypt, decrypt, sign, verify, MAC, key
// agreement, encapsulation and the public key. The software engine holds
// material unsealed in memory; an HSM or external key store can implement
// the same interface. A rotated symmetric key keeps all its materials and
// seals with the current one (rotation.go).
//
// # Caching
//
// A Service keeps parsed keys (metadata and their engine) and alias
// targets in memory. Every mutation made through the Service drops the
// affected entries, so a single node always sees its own writes. Nodes that
// share a store refresh entries older than [Config.CacheTTL]; a ciphertext
// naming material that a cached key lacks (another node rotated it) makes
// the key be reloaded once.
//
// # Key usage
//
// Each successful cryptographic operation records the key's last use in
// memory; [Service.RunUsageFlusher] writes it to the store periodically
// and at shutdown (lastuse.go).
//
// # Identifiers
//
// Operations accept the identifier forms the AWS model documents for them:
// cryptographic operations and DescribeKey accept key ids, key ARNs, alias
// names and alias ARNs; management operations accept only key ids and key
// ARNs. Error messages name keys by their full ARN.
package kms
