// Package audit writes Trent's audit trail: one record per API request, in
// the event format AWS CloudTrail uses for AWS KMS, chained by hash into
// append-only JSON-lines files whose digests are signed, and it verifies
// and searches such a trail. docs/audit.md describes the format for users.
//
// # Durability
//
// [Log.Write] returns once the record is on disk (fsync); a single writer
// goroutine commits every record waiting in one write and one fsync (group
// commit). A request must not succeed unless its record was written: when
// the sink fails, Write returns an error until writing works again, which
// the log detects by itself (a retry every [Options.RetryInterval]).
//
// # Tamper evidence
//
// Each record carries its sequence number and the SHA-256 of the previous
// record's line ("trent": {"sequence", "previousHash"}). Each closed file
// gets a digest file, signed with an Ed25519 key, that holds the file's
// SHA-256, its first and last sequence numbers and hashes, and the
// signature of the previous digest. [Verify] checks all of it.
//
// # Secrets
//
// Records never hold plaintext, key material, data keys, private keys,
// secret access keys, session tokens or grant tokens. The request
// parameters of KMS operations are written by the generated
// wire.AuditAppender methods, which leave out every member the model marks
// sensitive, every blob and every grant token.
package audit
