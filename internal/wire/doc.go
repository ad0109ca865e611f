// Package wire holds the Go types of every AWS KMS API shape, their
// AWS-exact input validation, the operation table and the HTTP status of
// each error code.
//
// # Generated code
//
// shapes.go, decoders.go, auditjson.go and encoders.go are generated from model/kms-api-model.json (botocore 1.43.12)
// merged with model/supplement.json (what aws-sdk-go-v2 service/kms v1.62.6
// adds) by go generate; TestShapesUpToDate fails when they drift. Each
// structure shape becomes a struct whose fields carry the model member names
// as JSON keys: strings and enums are *string, integers *int32, booleans
// *bool, timestamps *[Timestamp], blobs []byte (base64 on the wire), lists
// []string or []Struct, and maps map[string]string.
//
// # Decoding requests
//
// Each operation input has a DecodeJSON method, generated into decoders.go
// from the same model, over the strict JSON scanner in decode.go. Member
// names match the model byte for byte (a case variant is an unknown member,
// ignored); a repeated member name anywhere (also a repeated map key),
// invalid UTF-8, an unpaired surrogate escape, nesting deeper than
// [MaxDepth] and malformed JSON are SerializationException without a
// message; a value of the wrong JSON type is "Unexpected value at
// 'Tags.TagKey'". FuzzDecodeJSON checks it against encoding/json wherever
// encoding/json is not misled by case.
//
// # Encoding responses
//
// Every structure shape has an AppendJSON method ([JSONAppender]), generated
// into encoders.go, that appends the value exactly as encoding/json's
// Marshal writes the struct (HTML characters, U+2028 and U+2029 escaped,
// invalid UTF-8 as U+FFFD, map keys sorted, nil and empty members left out
// as the field tags say) without reflection. TestAppendJSONMatchesMarshal
// and FuzzAppendJSON compare the two over every shape.
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
