package kms

import (
	"encoding/base64"

	"github.com/trent-kms/trent/internal/wire"
)

// Markers are opaque to clients: the base64url form of the position after
// which the next page starts.

func encodeMarker(after string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(after))
}

func errInvalidMarker() error {
	return wire.Errorf("InvalidMarkerException", "Invalid marker")
}

// pageArgs returns the page size (def when Limit is absent) and the
// position a Marker encodes ("" for the first page).
func pageArgs(limit *int32, marker *string, def int) (int, string, error) {
	n := def
	if limit != nil {
		n = int(*limit)
	}
	if marker == nil {
		return n, "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(*marker)
	if err != nil || len(b) == 0 {
		return 0, "", errInvalidMarker()
	}
	return n, string(b), nil
}
