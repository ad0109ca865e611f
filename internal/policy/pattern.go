package policy

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// builtin identifies a condition key answered from Request fields.
type builtin uint8

const (
	keyOther builtin = iota // answered by Request.Keys
	keyUsername
	keyUserID
	keyPrincipalArn
	keyPrincipalAccount
	keyPrincipalType
	keyPrincipalTag // sub holds the tag key
	keySourceIP
	keySecureTransport
	keyCurrentTime
	keyEpochTime
	keyCallerAccount
	keyResourceAccount
)

// keyRef is a compiled condition key or policy variable name.
type keyRef struct {
	id   builtin
	name string // lower case
	sub  string // lower-case tag key for keyPrincipalTag
}

func compileKey(name string) keyRef {
	k := keyRef{name: strings.ToLower(name)}
	switch k.name {
	case "aws:username":
		k.id = keyUsername
	case "aws:userid":
		k.id = keyUserID
	case "aws:principalarn":
		k.id = keyPrincipalArn
	case "aws:principalaccount":
		k.id = keyPrincipalAccount
	case "aws:principaltype":
		k.id = keyPrincipalType
	case "aws:sourceip":
		k.id = keySourceIP
	case "aws:securetransport":
		k.id = keySecureTransport
	case "aws:currenttime":
		k.id = keyCurrentTime
	case "aws:epochtime":
		k.id = keyEpochTime
	case "kms:calleraccount":
		k.id = keyCallerAccount
	case "aws:resourceaccount":
		k.id = keyResourceAccount
	default:
		if strings.HasPrefix(k.name, "aws:principaltag/") {
			k.id = keyPrincipalTag
			k.sub = k.name[len("aws:principaltag/"):]
		}
	}
	return k
}

// value resolves k in r. It never allocates.
func (r *Request) value(k *keyRef) (Values, bool) {
	p := &r.Principal
	switch k.id {
	case keyUsername:
		if p.Type == PrincipalUser && p.Username != "" {
			return String(p.Username), true
		}
		return Values{}, false
	case keyUserID:
		return strValue(p.UserID)
	case keyPrincipalArn:
		if p.Type == PrincipalAssumedRole && p.RoleARN != "" {
			return String(p.RoleARN), true
		}
		return strValue(p.ARN)
	case keyPrincipalAccount, keyCallerAccount:
		return strValue(p.Account)
	case keyPrincipalType:
		return strValue(p.Type.String())
	case keyPrincipalTag:
		for i := range p.Tags {
			if len(p.Tags[i].Key) == len(k.sub) && strings.EqualFold(p.Tags[i].Key, k.sub) {
				return String(p.Tags[i].Value), true
			}
		}
		return Values{}, false
	case keySourceIP:
		if r.SourceIP.IsValid() {
			return IP(r.SourceIP), true
		}
		return Values{}, false
	case keySecureTransport:
		return Bool(r.SecureTransport), true
	case keyCurrentTime, keyEpochTime:
		if r.Time.IsZero() {
			return Values{}, false
		}
		return Time(r.Time), true
	case keyResourceAccount:
		if r.ResourceAccount != "" {
			return String(r.ResourceAccount), true
		}
		return strValue(p.Account)
	}
	if r.Keys == nil {
		return Values{}, false
	}
	return r.Keys.Lookup(k.name)
}

func strValue(s string) (Values, bool) {
	if s == "" {
		return Values{}, false
	}
	return String(s), true
}

// variable resolves a policy variable to one string. Multivalued and
// absent keys do not resolve.
func (r *Request) variable(k *keyRef) (string, bool) {
	v, ok := r.value(k)
	if !ok || v.kind == vList {
		return "", false
	}
	if v.kind == vTime && k.id == keyEpochTime {
		return "", false // would need formatting; not used in practice
	}
	switch v.kind {
	case vString:
		return v.s, true
	case vBool:
		return v.str(0), true
	}
	return "", false
}

type segKind uint8

const (
	segLit  segKind = iota // literal text
	segStar                // * : any run of characters
	segOne                 // ? : exactly one character
	segVar                 // ${key} or ${key, 'default'}
)

type seg struct {
	kind   segKind
	text   string // literal, or default of a variable
	hasDef bool
	ref    keyRef
}

type patKind uint8

const (
	patAny    patKind = iota // "*" with wildcards on
	patExact                 // literal only
	patPrefix                // literal followed by a single trailing *
	patGlob                  // general
)

// pattern is a compiled string pattern: wildcards (when enabled) and policy
// variables (Version 2012-10-17 only) are split out at compile time, so
// matching allocates nothing.
type pattern struct {
	kind patKind
	lit  string
	segs []seg
	vars bool // has variables
}

// compilePattern splits raw into segments. wild enables * and ?;
// vars enables ${…}. A malformed variable is an error.
func compilePattern(raw string, wild, vars bool) (pattern, error) {
	var segs []seg
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			segs = append(segs, seg{kind: segLit, text: lit.String()})
			lit.Reset()
		}
	}
	hasVar := false
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case vars && c == '$' && i+1 < len(raw) && raw[i+1] == '{':
			end := strings.IndexByte(raw[i:], '}')
			if end < 0 {
				return pattern{}, perr(errSyntax, "unterminated policy variable in %q", raw)
			}
			body := raw[i+2 : i+end]
			i += end + 1
			switch body {
			case "*", "?", "$":
				lit.WriteString(body) // ${*}, ${?}, ${$}: the literal character
				continue
			}
			s, err := parseVariable(body)
			if err != nil {
				return pattern{}, err
			}
			flush()
			segs = append(segs, s)
			hasVar = true
		case wild && c == '*':
			flush()
			if len(segs) == 0 || segs[len(segs)-1].kind != segStar {
				segs = append(segs, seg{kind: segStar})
			}
			i++
		case wild && c == '?':
			flush()
			segs = append(segs, seg{kind: segOne})
			i++
		default:
			lit.WriteByte(c)
			i++
		}
	}
	flush()
	p := pattern{segs: segs, vars: hasVar}
	switch {
	case len(segs) == 0:
		p.kind = patExact
	case len(segs) == 1 && segs[0].kind == segStar:
		p.kind = patAny
	case len(segs) == 1 && segs[0].kind == segLit:
		p.kind, p.lit = patExact, segs[0].text
	case len(segs) == 2 && segs[0].kind == segLit && segs[1].kind == segStar:
		p.kind, p.lit = patPrefix, segs[0].text
	default:
		p.kind = patGlob
	}
	return p, nil
}

// parseVariable parses the inside of ${…}: a key name, optionally
// followed by ", 'default'" (reference_policies_variables.md, "Specifying
// default values").
func parseVariable(body string) (seg, error) {
	name, def, hasDef := body, "", false
	if i := strings.IndexByte(body, ','); i >= 0 {
		name = strings.TrimSpace(body[:i])
		d := strings.TrimSpace(body[i+1:])
		if len(d) < 2 || d[0] != '\'' || d[len(d)-1] != '\'' {
			return seg{}, perr(errSyntax, "bad default in policy variable ${%s}", body)
		}
		def, hasDef = d[1:len(d)-1], true
	}
	if !validKeyName(name) {
		return seg{}, perr(errSyntax, "bad policy variable ${%s}", body)
	}
	return seg{kind: segVar, ref: compileKey(name), text: def, hasDef: hasDef}, nil
}

// validKeyName accepts "prefix:name" with a non-empty prefix and name.
// The prefix may contain '/': the condition keys of an OIDC provider with
// a path are "HOST/PATH:sub", e.g.
// "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE:sub"
// in IRSA trust policies (IAM User Guide, id_roles_providers_oidc).
func validKeyName(s string) bool {
	i := strings.IndexByte(s, ':')
	if i <= 0 || i == len(s)-1 {
		return false
	}
	for j := 0; j < i; j++ {
		c := s[j]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '/' && j > 0) {
			return false
		}
	}
	for j := i + 1; j < len(s); j++ {
		if s[j] < 0x20 || s[j] == 0x7f {
			return false
		}
	}
	return true
}

// match reports whether s matches p. fold compares ASCII letters without
// regard to case. ok is false when a variable did not resolve: AWS
// documents that an unresolved variable makes "any attempt to match it
// fail" (reference_policies_variables.md).
func (p *pattern) match(s string, fold bool, r *Request) (matched, ok bool) {
	switch p.kind {
	case patAny:
		return true, true
	case patExact:
		if fold {
			return len(s) == len(p.lit) && strings.EqualFold(s, p.lit), true
		}
		return s == p.lit, true
	case patPrefix:
		if len(s) < len(p.lit) {
			return false, true
		}
		if fold {
			return strings.EqualFold(s[:len(p.lit)], p.lit), true
		}
		return s[:len(p.lit)] == p.lit, true
	}
	return globMatch(p.segs, s, fold, r)
}

// segText returns the text of a literal or variable segment.
func segText(sg *seg, r *Request) (string, bool) {
	if sg.kind == segLit {
		return sg.text, true
	}
	if v, ok := r.variable(&sg.ref); ok {
		return v, true
	}
	if sg.hasDef {
		return sg.text, true
	}
	return "", false
}

// globMatch is the linear wildcard matcher (the usual "remember the last
// star" algorithm) over segments. It never recurses, so a hostile pattern
// cannot make it exponential.
func globMatch(segs []seg, s string, fold bool, r *Request) (bool, bool) {
	// Resolve variables once; at most a few per pattern.
	var texts [8]string
	for i := range segs {
		if segs[i].kind == segVar {
			t, ok := segText(&segs[i], r)
			if !ok {
				return false, false
			}
			if i < len(texts) {
				texts[i] = t
			}
		}
	}
	text := func(i int) string {
		if segs[i].kind == segVar {
			if i < len(texts) {
				return texts[i]
			}
			t, _ := segText(&segs[i], r)
			return t
		}
		return segs[i].text
	}
	si, off := 0, 0 // position in the pattern: segment and offset in it
	nx := 0
	starSeg, starNx := -1, 0
	for {
		// Skip empty literal segments.
		for si < len(segs) && (segs[si].kind == segLit || segs[si].kind == segVar) && off >= len(text(si)) {
			si, off = si+1, 0
		}
		if si < len(segs) {
			switch segs[si].kind {
			case segStar:
				starSeg, starNx = si, nx
				si, off = si+1, 0
				continue
			case segOne:
				if nx < len(s) {
					_, size := utf8.DecodeRuneInString(s[nx:])
					nx += size
					si, off = si+1, 0
					continue
				}
			default:
				t := text(si)
				if nx < len(s) && eqByte(t[off], s[nx], fold) {
					off++
					nx++
					continue
				}
			}
		} else if nx == len(s) {
			return true, true
		}
		if starSeg < 0 || starNx >= len(s) {
			return false, true
		}
		_, size := utf8.DecodeRuneInString(s[starNx:])
		starNx += size
		si, off, nx = starSeg+1, 0, starNx
	}
}

func eqByte(a, b byte, fold bool) bool {
	if a == b {
		return true
	}
	if !fold {
		return false
	}
	if 'A' <= a && a <= 'Z' {
		a += 'a' - 'A'
	}
	if 'A' <= b && b <= 'Z' {
		b += 'a' - 'A'
	}
	return a == b
}

// arnPattern matches an ARN component by component: "Each of the six
// colon-delimited components of the ARN is checked separately and each can
// include multi-character match wildcards (*) or single-character match
// wildcards (?)" (reference_policies_elements_condition_operators.md,
// ArnLike). The resource part (the sixth) may itself contain colons.
type arnPattern struct {
	any   bool // "*"
	parts [6]pattern
}

// splitARN splits s at its first five colons, skipping colons inside
// ${…} when vars is set. It reports false if s has fewer than six parts.
func splitARN(s string, vars bool) (parts [6]string, ok bool) {
	n, start, depth := 0, 0, 0
	for i := 0; i < len(s) && n < 5; i++ {
		switch {
		case vars && s[i] == '$' && i+1 < len(s) && s[i+1] == '{':
			depth++
		case vars && s[i] == '}' && depth > 0:
			depth--
		case s[i] == ':' && depth == 0:
			parts[n] = s[start:i]
			n++
			start = i + 1
		}
	}
	if n < 5 {
		return parts, false
	}
	parts[5] = s[start:]
	return parts, true
}

func compileARN(raw string, vars bool) (arnPattern, bool, error) {
	if raw == "*" {
		return arnPattern{any: true}, true, nil
	}
	parts, ok := splitARN(raw, vars)
	if !ok {
		return arnPattern{}, false, nil
	}
	var a arnPattern
	for i, p := range parts {
		cp, err := compilePattern(p, true, vars)
		if err != nil {
			return arnPattern{}, false, err
		}
		a.parts[i] = cp
	}
	return a, true, nil
}

// match compares an ARN case-sensitively. It allocates nothing.
func (a *arnPattern) match(s string, r *Request) (matched, ok bool) {
	if a.any {
		return true, true
	}
	parts, whole := splitARN(s, false)
	if !whole {
		return false, true // fewer than six components: not an ARN
	}
	for i := range parts {
		m, ok := a.parts[i].match(parts[i], false, r)
		if !ok {
			return false, false
		}
		if !m {
			return false, true
		}
	}
	return true, true
}

// isAccountID reports whether s is a 12-digit account id.
func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	_, err := strconv.ParseUint(s, 10, 64)
	return err == nil && s[0] != '+' && s[0] != '-'
}
