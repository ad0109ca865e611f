package iam

import (
	"encoding/base64"
	"strings"
	"time"

	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/wire"
	"github.com/trent-kms/trent/internal/wire/query/iamapi"
)

func ptr[T any](v T) *T { return &v }

func val[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// page returns the items after marker (an opaque token that Trent makes
// from the last name returned) and at most maxItems of them (default 100,
// as IAM), whether more follow, and the marker of the next page.
func page[T any](items []T, key func(T) string, marker *string, maxItems *int32) ([]T, bool, *string, error) {
	limit := 100
	if maxItems != nil {
		limit = int(*maxItems)
	}
	start := 0
	if marker != nil {
		b, err := base64.RawURLEncoding.DecodeString(*marker)
		if err != nil {
			// Wording inferred; IAM's answer to a foreign marker is not recorded.
			return nil, false, nil, wire.Errorf("InvalidInput", "Invalid Marker.")
		}
		after := string(b)
		for start < len(items) && store.NameKey(key(items[start])) <= after {
			start++
		}
	}
	items = items[start:]
	if len(items) <= limit {
		return items, false, nil, nil
	}
	next := base64.RawURLEncoding.EncodeToString([]byte(store.NameKey(key(items[limit-1]))))
	return items[:limit], true, &next, nil
}

// pathPrefixed reports whether path starts with prefix ("" and "/" match all).
func pathPrefixed(path string, prefix *string) bool {
	return prefix == nil || strings.HasPrefix(path, *prefix)
}

// encodeDocument URL-encodes a policy document as IAM returns it ("Policies
// returned by this operation are URL-encoded compliant with RFC 3986",
// GetUserPolicy's documentation in the model): every byte but the
// unreserved characters A-Z a-z 0-9 - . _ ~ becomes %XX.
func encodeDocument(doc string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(doc); i++ {
		c := doc[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

func wireTags(tags []store.Tag) []iamapi.Tag {
	out := make([]iamapi.Tag, len(tags))
	for i, t := range tags {
		out[i] = iamapi.Tag{Key: ptr(t.Key), Value: ptr(t.Value)}
	}
	return out
}

// maxTags is IAM's limit of tags per user or role.
const maxTags = 50

// mergeTags adds or replaces tags (by key, as IAM tag keys are matched
// without regard to case, inferred from "Tag keys are case insensitive"
// in the IAM user guide's tagging rules) and enforces the limit.
func mergeTags(have []store.Tag, add []iamapi.Tag) ([]store.Tag, error) {
	out := append([]store.Tag(nil), have...)
	for _, t := range add {
		k, v := val(t.Key), val(t.Value)
		found := false
		for i := range out {
			if strings.EqualFold(out[i].Key, k) {
				out[i] = store.Tag{Key: k, Value: v}
				found = true
				break
			}
		}
		if !found {
			out = append(out, store.Tag{Key: k, Value: v})
		}
	}
	if len(out) > maxTags {
		// Wording inferred: AWS's message for too many tags is not recorded.
		return nil, wire.Errorf("LimitExceeded", "Cannot exceed quota for TagsPerEntity: %d", maxTags)
	}
	return out, nil
}

func removeTags(have []store.Tag, keys []string) []store.Tag {
	var out []store.Tag
	for _, t := range have {
		drop := false
		for _, k := range keys {
			if strings.EqualFold(t.Key, k) {
				drop = true
			}
		}
		if !drop {
			out = append(out, t)
		}
	}
	return out
}

func storeTags(tags []iamapi.Tag) ([]store.Tag, error) { return mergeTags(nil, tags) }

func timePtr(t time.Time) *time.Time { return &t }

func pathOr(p *string) string {
	if p == nil {
		return "/"
	}
	return *p
}
