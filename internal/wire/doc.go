// Package wire holds the Go types of every AWS KMS API shape, their
// AWS-exact input validation, the operation table and the HTTP status of
// each error code.
//
// # Generated code
//
// shapes.go is generated from model/kms-api-model.json (botocore 1.43.12)
// merged with model/supplement.json (what aws-sdk-go-v2 service/kms v1.62.6
// adds) by go generate; TestShapesUpToDate fails when it drifts. Each
// structure shape becomes a struct whose fields carry the model member names
// as JSON keys: strings and enums are *string, integers *int32, booleans
// *bool, timestamps *[Timestamp], blobs []byte (base64 on the wire), lists
// []string or []Struct, and maps map[string]string.
//
// # Validation messages
//
// Validate on an input shape reproduces the ValidationException message of
// AWS's request validator:
//
//	1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null
//
// Several failures are joined by "; " after "N validation errors detected: ".
// Members are checked in model order; a member's pattern is reported before
// its length, then its enum. Member paths are the member name with a lower
// case first letter; list elements are 'tags.1.member.tagKey' (1-based).
// Strings and numbers are shown quoted ('FOO', '0'); blobs and sensitive
// members show no value ("Value at 'plaintext'"). String lengths count UTF-16
// code units, as Java does. Enum value lists follow the order AWS prints,
// where known (see model/supplement.json), else model order.
//
// # Compatibility
//
// Field names, JSON keys and Go types follow the model exactly; other
// packages are written against them. Validation allocates nothing when the
// input is valid.
package wire

//go:generate go run ./gen
