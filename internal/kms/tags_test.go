package kms_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"testing"

	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/wire"
)

// TestListResourceTagsMarker checks that ListResourceTags accepts the
// markers it hands out and refuses every other one with
// InvalidMarkerException, the error ListKeys and ListAliases give.
func TestListResourceTagsMarker(t *testing.T) {
	svc, _ := newService(t, kms.Config{})
	ctx := context.Background()
	var tags []wire.Tag
	for i := range 5 {
		tags = append(tags, wire.Tag{TagKey: wire.Ptr(fmt.Sprint("k", i)), TagValue: wire.Ptr("v")})
	}
	ck, err := svc.CreateKey(ctx, testCaller, &wire.CreateKeyRequest{Tags: tags})
	if err != nil {
		t.Fatal(err)
	}
	id := ck.KeyMetadata.KeyId
	list := func(marker *string) (*wire.ListResourceTagsResponse, error) {
		return svc.ListResourceTags(ctx, testCaller, &wire.ListResourceTagsRequest{KeyId: id, Limit: wire.Ptr(int32(2)), Marker: marker})
	}

	// The markers Trent produces page through every tag.
	var got []string
	var marker *string
	for {
		out, err := list(marker)
		if err != nil {
			t.Fatalf("ListResourceTags(%v): %v", wire.Value(marker), err)
		}
		for _, tag := range out.Tags {
			got = append(got, wire.Value(tag.TagKey))
		}
		if !wire.Value(out.Truncated) {
			break
		}
		marker = out.NextMarker
	}
	if fmt.Sprint(got) != "[k0 k1 k2 k3 k4]" {
		t.Fatalf("paged tags = %v", got)
	}

	enc := base64.RawURLEncoding.EncodeToString
	for name, m := range map[string]string{
		"trailing-junk":      enc([]byte("2junk")),
		"trailing-space":     enc([]byte("2 ")),
		"leading-zero":       enc([]byte("02")),
		"plus-sign":          enc([]byte("+2")),
		"negative":           enc([]byte("-1")),
		"zero":               enc([]byte("0")),
		"past-the-tags":      enc([]byte("6")),
		"not-a-number":       enc([]byte("k2")),
		"padded-base64":      base64.URLEncoding.EncodeToString([]byte("2")),
		"std-base64-form":    base64.StdEncoding.EncodeToString([]byte("2")),
		"non-canonical-bits": "Mh", // decodes to "2", but its trailing bits are not zero
		"not-base64":         "%%%",
		"huge":               enc([]byte("99999999999999999999999")),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := list(wire.Ptr(m))
			if wireCode(err) != "InvalidMarkerException" {
				t.Fatalf("ListResourceTags(%q) = %v, want InvalidMarkerException", m, err)
			}
		})
	}
}
