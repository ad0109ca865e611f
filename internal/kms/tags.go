package kms

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/wire"
)

// checkTags validates tags given to CreateKey or TagResource: no tag key
// in the reserved "aws:" namespace, no key twice in one request and no
// more than limit tags (0: no limit).
func checkTags(in []wire.Tag, limit int) ([]store.Tag, error) {
	// AWS checks duplicates first, then the count, then each tag.
	out := make([]store.Tag, 0, len(in))
	for _, t := range in {
		k := wire.Value(t.TagKey)
		if slices.ContainsFunc(out, func(o store.Tag) bool { return o.Key == k }) {
			return nil, wire.Errorf("TagException", "Duplicate tag keys")
		}
		out = append(out, store.Tag{Key: k, Value: wire.Value(t.TagValue)})
	}
	if limit > 0 && len(out) > limit {
		// AWS answers a request with more tags than a key may have with
		// TagException "Too many tags" (LocalStack's AWS-validated tag
		// tests, localstack/localstack pull request #12142).
		return nil, wire.Errorf("TagException", "Too many tags")
	}
	for _, t := range out {
		if strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			return nil, wire.Errorf("TagException", "Tags beginning with aws: are reserved")
		}
	}
	return out, nil
}

// TagResource adds tags to a key or replaces the values of existing tag keys.
func (s *Service) TagResource(ctx context.Context, c *Caller, in *wire.TagResourceRequest) error {
	limit := s.quotas.TagsPerKey
	tags, err := checkTags(in.Tags, limit)
	if err != nil {
		return err
	}
	ck, err := s.resolve(ctx, c, wire.Value(in.KeyId), opTagResource, &condReq{tags: in.Tags})
	if err != nil {
		return err
	}
	return s.updateLive(ctx, ck, func(k *store.Key) error {
		before := len(k.Tags)
		for _, t := range tags {
			i := slices.IndexFunc(k.Tags, func(o store.Tag) bool { return o.Key == t.Key })
			if i >= 0 {
				k.Tags[i].Value = t.Value
			} else {
				k.Tags = append(k.Tags, t)
			}
		}
		if limit > 0 && len(k.Tags) > limit {
			// Tags that fit in the request but not on the key exceed the
			// tags-per-key quota: LimitExceededException, which the model
			// lists for TagResource ("a length constraint or quota was
			// exceeded"). The message is inferred, in the form of AWS's
			// aliases-per-key message (see checkAliasQuota).
			return limitExceeded("Tags per key quota for this account in this region is %d, current usage is %d.", limit, before)
		}
		return nil
	})
}

// UntagResource removes tags by key; keys that are not set are ignored.
func (s *Service) UntagResource(ctx context.Context, c *Caller, in *wire.UntagResourceRequest) error {
	for _, k := range in.TagKeys {
		if strings.HasPrefix(strings.ToLower(k), "aws:") {
			return wire.Errorf("TagException", "Tags beginning with aws: are reserved")
		}
	}
	ck, err := s.resolve(ctx, c, wire.Value(in.KeyId), opUntagResource, &condReq{tagKeys: in.TagKeys})
	if err != nil {
		return err
	}
	return s.updateLive(ctx, ck, func(k *store.Key) error {
		k.Tags = slices.DeleteFunc(k.Tags, func(t store.Tag) bool { return slices.Contains(in.TagKeys, t.Key) })
		return nil
	})
}

// parseTagMarker returns the tag index a ListResourceTags marker encodes.
// Trent's markers are encodeMarker of the decimal index of the next tag,
// which is at least 1 (a page holds at least one tag); only that exact
// encoding is accepted, so leading zeros, signs, trailing bytes or a
// non-canonical base64 form are refused as InvalidMarkerException, the error
// ListKeys and ListAliases give for a marker they cannot read (the message
// is ours: AWS's text was not found). An index past the key's tags (they
// were removed since) is refused the same way.
func parseTagMarker(marker, after string, ntags int) (int, error) {
	i, err := strconv.Atoi(after)
	if err != nil || i < 1 || i > ntags || encodeMarker(strconv.Itoa(i)) != marker {
		return 0, errInvalidMarker()
	}
	return i, nil
}

// ListResourceTags pages through a key's tags in the order they were set.
func (s *Service) ListResourceTags(ctx context.Context, c *Caller, in *wire.ListResourceTagsRequest) (*wire.ListResourceTagsResponse, error) {
	limit, after, err := pageArgs(in.Limit, in.Marker, 50)
	if err != nil {
		return nil, err
	}
	ck, err := s.resolve(ctx, c, wire.Value(in.KeyId), opListResourceTags, nil)
	if err != nil {
		return nil, err
	}
	start := 0
	if after != "" {
		if start, err = parseTagMarker(*in.Marker, after, len(ck.meta.Tags)); err != nil {
			return nil, err
		}
	}
	out := &wire.ListResourceTagsResponse{Tags: []wire.Tag{}, Truncated: wire.Ptr(false)}
	for i := start; i < len(ck.meta.Tags); i++ {
		if len(out.Tags) == limit {
			out.Truncated = wire.Ptr(true)
			out.NextMarker = wire.Ptr(encodeMarker(strconv.Itoa(i)))
			break
		}
		t := ck.meta.Tags[i]
		out.Tags = append(out.Tags, wire.Tag{TagKey: wire.Ptr(t.Key), TagValue: wire.Ptr(t.Value)})
	}
	return out, nil
}
