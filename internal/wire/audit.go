package wire

import (
	"time"
	"unicode/utf8"
)

// AuditAppender is implemented by every generated structure shape
// (auditjson.go). AppendAuditJSON appends the value as the AWS CloudTrail
// event of a KMS call shows it in requestParameters or responseElements:
// member names with a lower-case first letter ("keyId",
// "encryptionContext"), unset members left out, map keys in sorted order.
// Members whose shape the model marks sensitive, every blob (plaintext,
// ciphertext, signatures, MACs, public keys) and grant tokens are never
// written. A nil value is JSON null.
type AuditAppender interface {
	AppendAuditJSON(b []byte) []byte
}

// auditName appends the member name n, preceded by a comma unless it is
// the first member.
func auditName(b []byte, first *bool, n string) []byte {
	if !*first {
		b = append(b, ',')
	}
	*first = false
	b = appendAuditString(b, n)
	return append(b, ':')
}

const hexDigits = "0123456789abcdef"

// appendAuditString appends s as a JSON string. Invalid UTF-8 becomes
// U+FFFD, as encoding/json writes it.
func appendAuditString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func appendAuditStrings(b []byte, l []string) []byte { return appendStrings(b, l, appendAuditString) }

// appendAuditStringMap appends m as a JSON object with its keys sorted, so
// that the same request always gives the same record.
func appendAuditStringMap(b []byte, m map[string]string) []byte {
	return appendStringMap(b, m, appendAuditString)
}

// AuditTimeLayout is how CloudTrail writes the dates inside KMS
// responseElements, e.g. "creationDate": "Aug 10, 2022, 10:38:27 PM" in the
// CreateKey example of the AWS KMS Developer Guide (ct-createkey), in UTC.
const AuditTimeLayout = "Jan 2, 2006, 3:04:05 PM"

func appendAuditTime(b []byte, t Timestamp) []byte {
	b = append(b, '"')
	b = time.Time(t).UTC().AppendFormat(b, AuditTimeLayout)
	return append(b, '"')
}
