package audit

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
)

// appendJSON appends r as encoding/json would marshal it (r.marshal's
// normalisation applied: null for absent request parameters and response
// elements, [] for no resources), without the closing "}}" and without the
// chain members, so that the writer can append those to the trent object.
//
// It writes the same bytes as json.Marshal, without reflection: the common
// case — ASCII strings with nothing to escape, compact ASCII raw documents
// — is copied as is, and anything else is handed to encoding/json, so that
// escaping (HTML characters, control characters, invalid UTF-8, U+2028 and
// U+2029) stays exactly encoding/json's. TestAppendJSONMatchesMarshal
// compares the two.
func (r *Record) appendJSON(b []byte) ([]byte, error) {
	var err error
	b = append(b, `{"eventVersion":`...)
	b = appendString(b, r.EventVersion)
	b = append(b, `,"userIdentity":`...)
	b = r.UserIdentity.appendJSON(b)
	b = append(b, `,"eventTime":`...)
	b = appendString(b, r.EventTime)
	b = append(b, `,"eventSource":`...)
	b = appendString(b, r.EventSource)
	b = append(b, `,"eventName":`...)
	b = appendString(b, r.EventName)
	b = append(b, `,"awsRegion":`...)
	b = appendString(b, r.AWSRegion)
	b = append(b, `,"sourceIPAddress":`...)
	b = appendString(b, r.SourceIPAddress)
	b = append(b, `,"userAgent":`...)
	b = appendString(b, r.UserAgent)
	if r.ErrorCode != "" {
		b = append(b, `,"errorCode":`...)
		b = appendString(b, r.ErrorCode)
	}
	if r.ErrorMessage != "" {
		b = append(b, `,"errorMessage":`...)
		b = appendString(b, r.ErrorMessage)
	}
	b = append(b, `,"requestParameters":`...)
	if b, err = appendRaw(b, r.RequestParameters); err != nil {
		return nil, err
	}
	b = append(b, `,"responseElements":`...)
	if b, err = appendRaw(b, r.ResponseElements); err != nil {
		return nil, err
	}
	b = append(b, `,"requestID":`...)
	b = appendString(b, r.RequestID)
	b = append(b, `,"eventID":`...)
	b = appendString(b, r.EventID)
	b = append(b, `,"readOnly":`...)
	b = strconv.AppendBool(b, r.ReadOnly)
	b = append(b, `,"resources":[`...)
	for i, res := range r.Resources {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"accountId":`...)
		b = appendString(b, res.AccountID)
		b = append(b, `,"type":`...)
		b = appendString(b, res.Type)
		b = append(b, `,"ARN":`...)
		b = appendString(b, res.ARN)
		b = append(b, '}')
	}
	b = append(b, `],"eventType":`...)
	b = appendString(b, r.EventType)
	b = append(b, `,"managementEvent":`...)
	b = strconv.AppendBool(b, r.ManagementEvent)
	b = append(b, `,"recipientAccountId":`...)
	b = appendString(b, r.RecipientAccountID)
	b = append(b, `,"eventCategory":`...)
	b = appendString(b, r.EventCategory)
	b = append(b, `,"trent":{`...)
	t := &r.Trent
	if t.Decision != "" {
		b = append(b, `"decision":`...)
		b = appendString(b, t.Decision)
		b = append(b, ',')
	}
	if len(t.Checks) > 0 {
		b = append(b, `"checks":[`...)
		for i := range t.Checks {
			if i > 0 {
				b = append(b, ',')
			}
			b = t.Checks[i].appendJSON(b)
		}
		b = append(b, "],"...)
	}
	b = append(b, `"httpStatus":`...)
	b = strconv.AppendInt(b, int64(t.Status), 10)
	b = append(b, `,"latencyMs":`...)
	if b, err = appendFloat(b, t.LatencyMS); err != nil {
		return nil, err
	}
	return b, nil
}

func (u *UserIdentity) appendJSON(b []byte) []byte {
	b = append(b, `{"type":`...)
	b = appendString(b, u.Type)
	b = appendOptString(b, `,"principalId":`, u.PrincipalID)
	b = appendOptString(b, `,"arn":`, u.ARN)
	b = appendOptString(b, `,"accountId":`, u.AccountID)
	b = appendOptString(b, `,"accessKeyId":`, u.AccessKeyID)
	b = appendOptString(b, `,"userName":`, u.UserName)
	if s := u.SessionContext; s != nil {
		b = append(b, `,"sessionContext":{`...)
		if i := s.SessionIssuer; i != nil {
			b = append(b, `"sessionIssuer":{"type":`...)
			b = appendString(b, i.Type)
			b = appendOptString(b, `,"principalId":`, i.PrincipalID)
			b = append(b, `,"arn":`...)
			b = appendString(b, i.ARN)
			b = append(b, `,"accountId":`...)
			b = appendString(b, i.AccountID)
			b = append(b, `,"userName":`...)
			b = appendString(b, i.UserName)
			b = append(b, "},"...)
		}
		b = append(b, `"attributes":{`...)
		if s.Attributes.CreationDate != "" {
			b = append(b, `"creationDate":`...)
			b = appendString(b, s.Attributes.CreationDate)
			b = append(b, ',')
		}
		b = append(b, `"mfaAuthenticated":`...)
		b = appendString(b, s.Attributes.MFAAuthenticated)
		b = append(b, "}}"...)
	}
	return append(b, '}')
}

func (c *Check) appendJSON(b []byte) []byte {
	b = append(b, `{"action":`...)
	b = appendString(b, c.Action)
	b = appendOptString(b, `,"resource":`, c.Resource)
	b = append(b, `,"decision":`...)
	b = appendString(b, c.Decision)
	b = append(b, `,"source":`...)
	b = appendString(b, c.Source)
	if c.PolicyIndex != 0 {
		b = append(b, `,"policyIndex":`...)
		b = strconv.AppendInt(b, int64(c.PolicyIndex), 10)
	}
	b = append(b, `,"statement":`...)
	b = strconv.AppendInt(b, int64(c.Statement), 10)
	b = appendOptString(b, `,"sid":`, c.Sid)
	b = appendOptString(b, `,"grantId":`, c.GrantID)
	b = append(b, `,"reason":`...)
	b = appendString(b, c.Reason)
	return append(b, '}')
}

// appendOptString appends key and s unless s is empty (omitempty).
func appendOptString(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	return appendString(append(b, key...), s)
}

// plainByte[c] reports whether encoding/json copies c into a JSON string
// as is (it escapes <, > and & for HTML, and handles bytes from 0x80 as
// UTF-8).
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// rawByte[c] reports whether encoding/json copies c of a raw document as
// is: not white space it would compact, not an HTML character it would
// escape, not a byte of a multi-byte character (U+2028 and U+2029 are
// escaped).
var rawByte = func() (t [256]bool) {
	for c := 0x21; c < 0x80; c++ {
		t[c] = c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendString appends s as a JSON string, as encoding/json does.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if !plainByte[s[i]] {
			j, _ := json.Marshal(s) // cannot fail for a string
			return append(b, j...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendRaw appends a json.RawMessage as encoding/json does: null when
// nil, else compacted, HTML-escaped, and an error when not valid JSON.
func appendRaw(b []byte, raw json.RawMessage) ([]byte, error) {
	if raw == nil {
		return append(b, "null"...), nil
	}
	if string(raw) == "null" {
		return append(b, "null"...), nil
	}
	for _, c := range raw {
		if !rawByte[c] {
			j, err := json.Marshal(raw)
			if err != nil {
				return nil, err
			}
			return append(b, j...), nil
		}
	}
	if !json.Valid(raw) {
		_, err := json.Marshal(raw)
		if err == nil {
			err = errors.New("invalid JSON")
		}
		return nil, err
	}
	return append(b, raw...), nil
}

// appendFloat appends f as encoding/json does; it fails for NaN and the
// infinities, like json.Marshal.
func appendFloat(b []byte, f float64) ([]byte, error) {
	if abs := math.Abs(f); f == 0 || (abs >= 1e-6 && abs < 1e21) {
		return strconv.AppendFloat(b, f, 'f', -1, 64), nil
	}
	j, err := json.Marshal(f)
	if err != nil {
		return nil, err
	}
	return append(b, j...), nil
}
