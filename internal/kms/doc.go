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
// # Caching
//
// A Service keeps parsed keys (metadata and unsealed AEADs) and alias
// targets in memory. Every mutation made through the Service drops the
// affected entries, so a single node always sees its own writes. Nodes that
// share a store refresh entries older than [Config.CacheTTL].
//
// # Identifiers
//
// Operations accept the identifier forms the AWS model documents for them:
// cryptographic operations and DescribeKey accept key ids, key ARNs, alias
// names and alias ARNs; management operations accept only key ids and key
// ARNs. Error messages name keys by their full ARN.
package kms
