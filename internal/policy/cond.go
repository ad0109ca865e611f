package policy

import (
	"encoding/base64"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// opFamily is the comparison a condition operator makes.
type opFamily uint8

const (
	famString opFamily = iota
	famNumeric
	famDate
	famBool
	famBinary
	famIP
	famARN
	famNull
)

type cmp uint8

const (
	cmpEq cmp = iota
	cmpLt
	cmpLe
	cmpGt
	cmpGe
)

type setOp uint8

const (
	setNone setOp = iota
	setForAll
	setForAny
)

// operatorInfo describes one base operator name (without set prefix or
// IfExists suffix).
type operatorInfo struct {
	fam    opFamily
	negate bool
	fold   bool // IgnoreCase
	like   bool // wildcards
	cmp    cmp
}

// operators lists every condition operator of
// reference_policies_elements_condition_operators.md. Names are
// case-sensitive, as everywhere in the grammar.
var operators = map[string]operatorInfo{
	"StringEquals":              {fam: famString},
	"StringNotEquals":           {fam: famString, negate: true},
	"StringEqualsIgnoreCase":    {fam: famString, fold: true},
	"StringNotEqualsIgnoreCase": {fam: famString, fold: true, negate: true},
	"StringLike":                {fam: famString, like: true},
	"StringNotLike":             {fam: famString, like: true, negate: true},
	"NumericEquals":             {fam: famNumeric},
	"NumericNotEquals":          {fam: famNumeric, negate: true},
	"NumericLessThan":           {fam: famNumeric, cmp: cmpLt},
	"NumericLessThanEquals":     {fam: famNumeric, cmp: cmpLe},
	"NumericGreaterThan":        {fam: famNumeric, cmp: cmpGt},
	"NumericGreaterThanEquals":  {fam: famNumeric, cmp: cmpGe},
	"DateEquals":                {fam: famDate},
	"DateNotEquals":             {fam: famDate, negate: true},
	"DateLessThan":              {fam: famDate, cmp: cmpLt},
	"DateLessThanEquals":        {fam: famDate, cmp: cmpLe},
	"DateGreaterThan":           {fam: famDate, cmp: cmpGt},
	"DateGreaterThanEquals":     {fam: famDate, cmp: cmpGe},
	"Bool":                      {fam: famBool},
	"BinaryEquals":              {fam: famBinary},
	"IpAddress":                 {fam: famIP},
	"NotIpAddress":              {fam: famIP, negate: true},
	"ArnEquals":                 {fam: famARN, like: true},
	"ArnLike":                   {fam: famARN, like: true},
	"ArnNotEquals":              {fam: famARN, like: true, negate: true},
	"ArnNotLike":                {fam: famARN, like: true, negate: true},
	"Null":                      {fam: famNull},
}

// condValue is one compiled policy value.
type condValue struct {
	pat   pattern
	arn   arnPattern
	num   float64
	t     time.Time
	b     bool
	bin   []byte
	pfx   netip.Prefix
	valid bool // false for an ARN value with fewer than six parts: never matches
}

// cond is one compiled (operator, key) pair with its values, which are
// OR'ed.
type cond struct {
	op       string // as written, for reasons and tests
	info     operatorInfo
	set      setOp
	ifExists bool
	key      keyRef
	vals     []condValue
	// match compares one request value with the policy values (OR'ed),
	// before negation.
	match func(c *cond, v Values, i int, r *Request) (matched, ok bool)
	// Null: which answers the policy accepts.
	nullTrue, nullFalse bool
}

// eval applies the operator's logic, including set operators, negation,
// IfExists and the missing-key rules:
//
//   - "If the key that you specify in a policy condition is not present in
//     the request context, the values do not match and the condition is
//     false. If the policy condition requires that the key is not matched,
//     such as StringNotLike or ArnNotLike, and the right key is not
//     present, the condition is true. This logic applies to all condition
//     operators except ...IfExists and Null check."
//     (reference_policies_elements_condition_operators.md)
//   - "If the key values in the request resolve to an empty data set (for
//     example, an empty string), a condition operator modified by
//     ForAllValues returns true, and a condition operator modified by
//     ForAnyValue returns false." (reference_policies_multi-value-conditions.md)
//     This holds for ...IfExists and negated forms too: the set operator
//     decides first (as iam.cloudcopilot.io/resources/operators documents
//     for ForAnyValue:StringNotLikeIfExists, "Not Allowed" with the key
//     null; inferred from that third-party simulator).
//   - Within a set operator a negated operator applies per request value:
//     ForAllValues:StringNotEquals holds when no request value equals any
//     policy value; ForAnyValue:StringNotEquals when at least one request
//     value equals none of them (iam.cloudcopilot.io, same pages).
//   - Without a set operator, a multivalued request value matches when any
//     of its values matches, and a negated operator is the negation of
//     that (inferred; AWS asks for a set operator with multivalued keys).
//
// ok is false when a policy variable did not resolve; the statement then
// does not apply ("any attempt to match it fails and causes the statement
// to be invalid", reference_policies_variables.md).
func (c *cond) eval(r *Request) (result, ok bool) {
	v, present := r.value(&c.key)
	if present && v.kind == vList && len(v.list) == 0 {
		present = false // an empty data set
	}
	if c.info.fam == famNull {
		if present {
			return c.nullFalse, true
		}
		return c.nullTrue, true
	}
	if !present {
		switch c.set {
		case setForAll:
			return true, true
		case setForAny:
			return false, true
		}
		if c.ifExists {
			return true, true
		}
		return c.info.negate, true
	}
	n := v.len()
	switch c.set {
	case setForAll:
		for i := 0; i < n; i++ {
			m, ok := c.match(c, v, i, r)
			if !ok {
				return false, false
			}
			if m == c.info.negate {
				return false, true
			}
		}
		return true, true
	case setForAny:
		for i := 0; i < n; i++ {
			m, ok := c.match(c, v, i, r)
			if !ok {
				return false, false
			}
			if m != c.info.negate {
				return true, true
			}
		}
		return false, true
	}
	any := false
	for i := 0; i < n && !any; i++ {
		m, ok := c.match(c, v, i, r)
		if !ok {
			return false, false
		}
		any = m
	}
	return any != c.info.negate, true
}

func matchString(c *cond, v Values, i int, r *Request) (bool, bool) {
	s := v.str(i)
	for j := range c.vals {
		m, ok := c.vals[j].pat.match(s, c.info.fold, r)
		if !ok {
			return false, false
		}
		if m {
			return true, true
		}
	}
	return false, true
}

func matchARN(c *cond, v Values, i int, r *Request) (bool, bool) {
	s := v.str(i)
	for j := range c.vals {
		if !c.vals[j].valid {
			continue
		}
		m, ok := c.vals[j].arn.match(s, r)
		if !ok {
			return false, false
		}
		if m {
			return true, true
		}
	}
	return false, true
}

func compareFloat(a, b float64, op cmp) bool {
	switch op {
	case cmpLt:
		return a < b
	case cmpLe:
		return a <= b
	case cmpGt:
		return a > b
	case cmpGe:
		return a >= b
	}
	return a == b
}

func matchNumeric(c *cond, v Values, i int, _ *Request) (bool, bool) {
	if v.kind != vString && v.kind != vList {
		return false, true
	}
	x, err := strconv.ParseFloat(v.str(i), 64)
	if err != nil || math.IsNaN(x) {
		return false, true
	}
	for j := range c.vals {
		if compareFloat(x, c.vals[j].num, c.info.cmp) {
			return true, true
		}
	}
	return false, true
}

func matchDate(c *cond, v Values, i int, _ *Request) (bool, bool) {
	var t time.Time
	if v.kind == vTime {
		t = v.t
	} else {
		var ok bool
		if t, ok = parseDate(v.str(i)); !ok {
			return false, true
		}
	}
	for j := range c.vals {
		if compareTime(t, c.vals[j].t, c.info.cmp) {
			return true, true
		}
	}
	return false, true
}

func compareTime(a, b time.Time, op cmp) bool {
	switch op {
	case cmpLt:
		return a.Before(b)
	case cmpLe:
		return !a.After(b)
	case cmpGt:
		return a.After(b)
	case cmpGe:
		return !a.Before(b)
	}
	return a.Equal(b)
}

func matchBool(c *cond, v Values, i int, _ *Request) (bool, bool) {
	var b bool
	switch {
	case v.kind == vBool:
		b = v.b
	case strings.EqualFold(v.str(i), "true"):
		b = true
	case strings.EqualFold(v.str(i), "false"):
		b = false
	default:
		return false, true
	}
	for j := range c.vals {
		if c.vals[j].b == b {
			return true, true
		}
	}
	return false, true
}

func matchBinary(c *cond, v Values, i int, _ *Request) (bool, bool) {
	if v.kind != vString && v.kind != vList {
		return false, true
	}
	s := v.str(i)
	for j := range c.vals {
		if string(c.vals[j].bin) == s {
			return true, true
		}
	}
	return false, true
}

func matchIP(c *cond, v Values, i int, _ *Request) (bool, bool) {
	var a netip.Addr
	if v.kind == vIP {
		a = v.ip
	} else {
		var err error
		if a, err = netip.ParseAddr(v.str(i)); err != nil {
			return false, true
		}
	}
	a = a.Unmap()
	for j := range c.vals {
		if c.vals[j].pfx.Contains(a) {
			return true, true
		}
	}
	return false, true
}

// parseDate accepts the W3C profile of ISO 8601 that IAM documents ("one
// of the W3C implementations of the ISO 8601 date formats or in epoch
// (UNIX) time", reference_policies_elements_condition_operators.md):
// YYYY, YYYY-MM, YYYY-MM-DD, and date-times with minutes, seconds or
// fractions and a zone (Z or ±hh:mm), or an integer epoch time in seconds.
func parseDate(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	if s[0] >= '0' && s[0] <= '9' && !strings.ContainsAny(s, "-T:") && len(s) != 4 {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, false
		}
		return time.Unix(n, 0).UTC(), true
	}
	for _, layout := range dateLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

var dateLayouts = [...]string{
	time.RFC3339Nano, // also covers RFC3339 with seconds
	"2006-01-02T15:04Z07:00",
	"2006-01-02",
	"2006-01",
	"2006",
}

// compileCondValue checks and compiles one policy value for fam.
func compileCondValue(info operatorInfo, raw string, vars bool) (condValue, error) {
	var cv condValue
	switch info.fam {
	case famString:
		p, err := compilePattern(raw, info.like, vars)
		if err != nil {
			return cv, err
		}
		cv.pat = p
	case famARN:
		a, ok, err := compileARN(raw, vars)
		if err != nil {
			return cv, err
		}
		cv.arn, cv.valid = a, ok
	case famNumeric:
		x, err := strconv.ParseFloat(raw, 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return cv, perr(errSyntax, "%q is not a number", raw)
		}
		cv.num = x
	case famDate:
		t, ok := parseDate(raw)
		if !ok {
			return cv, perr(errSyntax, "%q is not an ISO 8601 date or epoch time", raw)
		}
		cv.t = t
	case famBool, famNull:
		switch {
		case strings.EqualFold(raw, "true"):
			cv.b = true
		case strings.EqualFold(raw, "false"):
		default:
			return cv, perr(errSyntax, "%q is not true or false", raw)
		}
	case famBinary:
		b, err := base64.StdEncoding.Strict().DecodeString(raw)
		if err != nil {
			return cv, perr(errSyntax, "%q is not base64", raw)
		}
		cv.bin = b
	case famIP:
		p, err := parseCIDR(raw)
		if err != nil {
			return cv, perr(errSyntax, "%q is not an IP address or CIDR block", raw)
		}
		cv.pfx = p
	}
	return cv, nil
}

// parseCIDR accepts a CIDR block, or an address which means /32 (/128 for
// IPv6): "If you specify an IP address without the associated routing
// prefix, IAM uses the default prefix value of /32."
func parseCIDR(s string) (netip.Prefix, error) {
	if strings.IndexByte(s, '/') < 0 {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return p, err
	}
	if p.Addr().Is4In6() {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

func matcherFor(f opFamily) func(*cond, Values, int, *Request) (bool, bool) {
	switch f {
	case famString:
		return matchString
	case famARN:
		return matchARN
	case famNumeric:
		return matchNumeric
	case famDate:
		return matchDate
	case famBool:
		return matchBool
	case famBinary:
		return matchBinary
	case famIP:
		return matchIP
	}
	return nil
}
