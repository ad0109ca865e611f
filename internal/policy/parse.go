package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Kind is the kind of policy document; it decides which elements are
// required or forbidden and which AWS wording a rejection gets.
type Kind uint8

const (
	// KeyPolicy is a KMS key policy: resource-based, Principal required.
	KeyPolicy Kind = iota + 1
	// IdentityPolicy is an IAM user, group or role policy: no Principal or
	// NotPrincipal; Resource required.
	IdentityPolicy
	// TrustPolicy is a role's trust (assume-role) policy: resource-based
	// on the role; Principal required, Resource forbidden.
	TrustPolicy
)

func (k Kind) String() string {
	switch k {
	case KeyPolicy:
		return "key policy"
	case IdentityPolicy:
		return "identity policy"
	case TrustPolicy:
		return "trust policy"
	}
	return "policy"
}

// Versions of the policy language.
const (
	Version2012 = "2012-10-17"
	Version2008 = "2008-10-17"
)

// Policy is a parsed, validated and compiled policy document. It is
// immutable and safe for concurrent use.
type Policy struct {
	Kind       Kind
	Version    string // "" when absent
	ID         string
	Statements []Statement

	stmts []statement
}

// Statement is one statement as written, for display and tests.
type Statement struct {
	Sid          string
	Effect       string // "Allow" or "Deny"
	Principal    *Principals
	NotPrincipal *Principals
	Action       []string
	NotAction    []string
	Resource     []string
	NotResource  []string
	Condition    []Condition
}

// Principals is a Principal or NotPrincipal element. "*" and {"AWS": "*"}
// are equivalent ("For anonymous users, the following elements are
// equivalent", IAM User Guide, quoted in
// awsdocs/aws-cloudformation-user-guide#1013) and both set Any.
type Principals struct {
	Any       bool
	AWS       []string
	Service   []string
	Federated []string
}

// Condition is one (operator, key) pair of a Condition element.
type Condition struct {
	Operator string // as written, e.g. "ForAnyValue:StringLikeIfExists"
	Key      string
	Values   []string
}

// Parse parses doc as a policy of the given kind, validates it against
// the IAM policy grammar and compiles it for [Evaluate]. On failure it
// returns a nil policy and an [*Error] whose Message is AWS's wording.
//
// Parsing is strict, stricter than AWS where AWS is not documented:
// the document must be valid UTF-8 JSON holding one object; duplicate
// object keys, unknown elements, element names in the wrong case, empty
// lists and null values are rejected (IAM rejects invalid JSON; what it
// does with duplicate keys is not documented, so we refuse them rather than
// guess which one wins).
func Parse(doc string, kind Kind) (*Policy, error) {
	if kind < KeyPolicy || kind > TrustPolicy {
		return nil, fmt.Errorf("policy: unknown kind %d", kind)
	}
	root, err := decodeJSON(doc)
	if err != nil {
		return nil, (&parseError{kind: errSyntax, detail: err.Error()}).toError(kind, legacyHint(doc))
	}
	p, pe := build(root, kind)
	if pe != nil {
		legacy := p == nil || p.Version != Version2012
		return nil, pe.toError(kind, legacy)
	}
	return p, nil
}

// legacyHint guesses, for a document that is not even JSON, whether it
// declares Version 2012-10-17.
func legacyHint(doc string) bool { return !strings.Contains(doc, Version2012) }

// JSON tree with object members kept in order.

type jkind uint8

const (
	jObj jkind = iota
	jArr
	jStr
	jNum
	jBool
	jNull
)

type jnode struct {
	kind jkind
	str  string // string, number text, or "true"/"false"
	obj  []jmember
	arr  []*jnode
}

type jmember struct {
	key string
	val *jnode
}

const maxDepth = 32

func decodeJSON(doc string) (*jnode, error) {
	if !utf8.ValidString(doc) {
		return nil, errors.New("document is not valid UTF-8")
	}
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber()
	n, err := decodeValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the top-level value")
	}
	if n.kind != jObj {
		return nil, errors.New("document is not a JSON object")
	}
	return n, nil
}

func decodeValue(dec *json.Decoder, depth int) (*jnode, error) {
	if depth > maxDepth {
		return nil, errors.New("document nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			return nil, errors.New("unexpected end of document")
		}
		return nil, fmt.Errorf("invalid JSON: %v", err)
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			n := &jnode{kind: jObj}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, fmt.Errorf("invalid JSON: %v", err)
				}
				key, ok := kt.(string)
				if !ok {
					return nil, errors.New("invalid JSON: object key is not a string")
				}
				for _, m := range n.obj {
					if m.key == key {
						return nil, fmt.Errorf("duplicate key %q", key)
					}
				}
				v, err := decodeValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				n.obj = append(n.obj, jmember{key, v})
			}
			if _, err := dec.Token(); err != nil {
				return nil, fmt.Errorf("invalid JSON: %v", err)
			}
			return n, nil
		case '[':
			n := &jnode{kind: jArr}
			for dec.More() {
				v, err := decodeValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				n.arr = append(n.arr, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, fmt.Errorf("invalid JSON: %v", err)
			}
			return n, nil
		}
		return nil, errors.New("invalid JSON: unexpected delimiter")
	case string:
		return &jnode{kind: jStr, str: t}, nil
	case json.Number:
		return &jnode{kind: jNum, str: t.String()}, nil
	case bool:
		if t {
			return &jnode{kind: jBool, str: "true"}, nil
		}
		return &jnode{kind: jBool, str: "false"}, nil
	case nil:
		return &jnode{kind: jNull}, nil
	}
	return nil, errors.New("invalid JSON")
}

// stringOrList reads an element that is a string or a non-empty list of
// strings.
func stringOrList(n *jnode, what string) ([]string, *parseError) {
	switch n.kind {
	case jStr:
		return []string{n.str}, nil
	case jArr:
		if len(n.arr) == 0 {
			return nil, perr(errSyntax, "%s is an empty list", what)
		}
		out := make([]string, 0, len(n.arr))
		for _, e := range n.arr {
			if e.kind != jStr {
				return nil, perr(errSyntax, "%s holds a value that is not a string", what)
			}
			out = append(out, e.str)
		}
		return out, nil
	}
	return nil, perr(errSyntax, "%s is not a string or list of strings", what)
}

// scalarOrList reads condition values: strings, numbers and booleans, or a
// non-empty list of them; numbers and booleans keep their JSON text.
func scalarOrList(n *jnode, what string) ([]string, *parseError) {
	switch n.kind {
	case jStr, jNum, jBool:
		return []string{n.str}, nil
	case jArr:
		if len(n.arr) == 0 {
			return nil, perr(errSyntax, "%s is an empty list", what)
		}
		out := make([]string, 0, len(n.arr))
		for _, e := range n.arr {
			if e.kind != jStr && e.kind != jNum && e.kind != jBool {
				return nil, perr(errSyntax, "%s holds a value that is not a string, number or boolean", what)
			}
			out = append(out, e.str)
		}
		return out, nil
	}
	return nil, perr(errSyntax, "%s is not a value or list of values", what)
}

func build(root *jnode, kind Kind) (*Policy, *parseError) {
	p := &Policy{Kind: kind}
	var stmtNode *jnode
	for _, m := range root.obj {
		switch m.key {
		case "Version":
			if m.val.kind != jStr || (m.val.str != Version2012 && m.val.str != Version2008) {
				return p, perr(errSyntax, "Version must be %q or %q", Version2012, Version2008)
			}
			p.Version = m.val.str
		case "Id":
			if m.val.kind != jStr {
				return p, perr(errSyntax, "Id is not a string")
			}
			p.ID = m.val.str
		case "Statement":
			stmtNode = m.val
		default:
			return p, perr(errSyntax, "unknown element %q", m.key)
		}
	}
	if stmtNode == nil {
		return p, perr(errSyntax, "missing Statement")
	}
	var nodes []*jnode
	switch stmtNode.kind {
	case jObj:
		nodes = []*jnode{stmtNode}
	case jArr:
		if len(stmtNode.arr) == 0 {
			return p, perr(errSyntax, "Statement is an empty list")
		}
		nodes = stmtNode.arr
	default:
		return p, perr(errSyntax, "Statement is not an object or a list")
	}
	vars := p.Version == Version2012
	for i, n := range nodes {
		if n.kind != jObj {
			return p, perr(errSyntax, "statement %d is not an object", i)
		}
		st, cs, pe := buildStatement(n, kind, vars)
		if pe != nil {
			pe.detail = fmt.Sprintf("statement %d: %s", i, pe.detail)
			return p, pe
		}
		cs.idx = i
		p.Statements = append(p.Statements, st)
		p.stmts = append(p.stmts, cs)
	}
	return p, nil
}

func buildStatement(n *jnode, kind Kind, vars bool) (Statement, statement, *parseError) {
	var st Statement
	var cs statement
	var cond *jnode
	var pe *parseError
	for _, m := range n.obj {
		switch m.key {
		case "Sid":
			if m.val.kind != jStr {
				return st, cs, perr(errSyntax, "Sid is not a string")
			}
			st.Sid = m.val.str
		case "Effect":
			if m.val.kind != jStr || (m.val.str != "Allow" && m.val.str != "Deny") {
				// Case-sensitive: "allow" is rejected.
				return st, cs, perr(errSyntax, "Effect must be \"Allow\" or \"Deny\"")
			}
			st.Effect = m.val.str
		case "Principal", "NotPrincipal":
			if kind == IdentityPolicy {
				return st, cs, perr(errPrincipalNotAllowed, "%s in an identity policy", m.key)
			}
			ps, pe := parsePrincipals(m.val, kind)
			if pe != nil {
				return st, cs, pe
			}
			if m.key == "Principal" {
				st.Principal = ps
			} else {
				st.NotPrincipal = ps
			}
		case "Action":
			if st.Action, pe = stringOrList(m.val, "Action"); pe != nil {
				return st, cs, pe
			}
		case "NotAction":
			if st.NotAction, pe = stringOrList(m.val, "NotAction"); pe != nil {
				return st, cs, pe
			}
		case "Resource", "NotResource":
			if kind == TrustPolicy {
				return st, cs, perr(errResourceNotAllowed, "%s in a trust policy", m.key)
			}
			v, pe := stringOrList(m.val, m.key)
			if pe != nil {
				return st, cs, pe
			}
			if m.key == "Resource" {
				st.Resource = v
			} else {
				st.NotResource = v
			}
		case "Condition":
			cond = m.val
		default:
			return st, cs, perr(errSyntax, "unknown element %q", m.key)
		}
	}
	if st.Effect == "" {
		return st, cs, perr(errSyntax, "missing Effect")
	}
	if (st.Action == nil) == (st.NotAction == nil) {
		return st, cs, perr(errSyntax, "a statement needs exactly one of Action and NotAction")
	}
	if st.Principal != nil && st.NotPrincipal != nil {
		return st, cs, perr(errSyntax, "a statement cannot have both Principal and NotPrincipal")
	}
	if kind != IdentityPolicy && st.Principal == nil && st.NotPrincipal == nil {
		return st, cs, perr(errPrincipalMissing, "missing Principal")
	}
	if st.Resource != nil && st.NotResource != nil {
		return st, cs, perr(errSyntax, "a statement cannot have both Resource and NotResource")
	}
	if kind != TrustPolicy && st.Resource == nil && st.NotResource == nil {
		return st, cs, perr(errResourceMissing, "missing Resource")
	}

	cs.sid = st.Sid
	cs.deny = st.Effect == "Deny"
	if st.Principal != nil {
		cs.principal = compilePrincipals(st.Principal)
	} else if st.NotPrincipal != nil {
		cs.principal = compilePrincipals(st.NotPrincipal)
		cs.notPrincipal = true
	}
	actions := st.Action
	if actions == nil {
		actions, cs.notAction = st.NotAction, true
	}
	for _, a := range actions {
		if pe := checkAction(a); pe != nil {
			return st, cs, pe
		}
		pat, err := compilePattern(a, true, false)
		if err != nil {
			return st, cs, err.(*parseError)
		}
		cs.actions = append(cs.actions, pat)
	}
	resources := st.Resource
	if resources == nil {
		resources, cs.notResource = st.NotResource, true
	}
	if kind == TrustPolicy {
		cs.anyResource = true
	}
	for _, r := range resources {
		a, ok, err := compileARN(r, vars)
		if err != nil {
			return st, cs, err.(*parseError)
		}
		if !ok || (!a.any && r[:4] != "arn:") {
			e := perr(errResourceFormat, "resource %q is not \"*\" or an ARN", r)
			e.arg1 = r
			return st, cs, e
		}
		cs.resources = append(cs.resources, a)
	}
	if cond != nil {
		conds, cc, pe := parseConditions(cond, kind, vars)
		if pe != nil {
			return st, cs, pe
		}
		st.Condition, cs.conds = conds, cc
	}
	return st, cs, nil
}

// checkAction accepts "*" and "service:pattern". The service prefix is
// letters, digits and hyphens; the name has no further colon.
func checkAction(a string) *parseError {
	if a == "*" {
		return nil
	}
	i := strings.IndexByte(a, ':')
	if i <= 0 || i == len(a)-1 {
		return perr(errSyntax, "action %q is not service:name", a)
	}
	for j := 0; j < i; j++ {
		c := a[j]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return perr(errSyntax, "action %q has a bad service prefix", a)
		}
	}
	for j := i + 1; j < len(a); j++ {
		c := a[j]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '*' || c == '?' || c == '-' || c == '_') {
			return perr(errSyntax, "action %q has a bad character", a)
		}
	}
	return nil
}

func parsePrincipals(n *jnode, kind Kind) (*Principals, *parseError) {
	if n.kind == jStr {
		if n.str != "*" {
			return nil, invalidPrincipal("", n.str, "Principal is a string other than \"*\"")
		}
		return &Principals{Any: true}, nil
	}
	if n.kind != jObj || len(n.obj) == 0 {
		return nil, invalidPrincipal("", "", "Principal is not \"*\" or a non-empty object")
	}
	ps := &Principals{}
	for _, m := range n.obj {
		vals, pe := stringOrList(m.val, "principal "+m.key)
		if pe != nil {
			pe.kind = errInvalidPrincipal
			return nil, pe
		}
		for _, v := range vals {
			var ok bool
			switch m.key {
			case "AWS":
				ok = validAWSPrincipal(v)
				if v == "*" {
					ps.Any = true
				}
			case "Service":
				ok = validService(v)
			case "Federated":
				ok = validFederated(v)
			}
			if !ok {
				return nil, invalidPrincipal(m.key, v, fmt.Sprintf("invalid principal %s %q", m.key, v))
			}
		}
		switch m.key {
		case "AWS":
			ps.AWS = vals
		case "Service":
			ps.Service = vals
		case "Federated":
			ps.Federated = vals
		}
	}
	return ps, nil
}

func invalidPrincipal(typ, val, detail string) *parseError {
	return &parseError{kind: errInvalidPrincipal, detail: detail, arg1: typ, arg2: val}
}

func validPartition(p string) bool { return p == "aws" || p == "aws-cn" || p == "aws-us-gov" }

// validAWSPrincipal accepts "*", an account id, and the ARNs of the
// account root, users, roles, role sessions and federated users. Partial
// wildcards are not principals ("You cannot use a wildcard to match part
// of a principal name or ARN", IAM User Guide, Principal element).
func validAWSPrincipal(v string) bool {
	if v == "*" || isAccountID(v) {
		return true
	}
	if strings.ContainsAny(v, "*?") {
		return false
	}
	parts, ok := splitARN(v, false)
	if !ok || parts[0] != "arn" || !validPartition(parts[1]) || parts[3] != "" || !isAccountID(parts[4]) {
		return false
	}
	res := parts[5]
	switch parts[2] {
	case "iam":
		if res == "root" {
			return true
		}
		for _, pre := range []string{"user/", "role/"} {
			if strings.HasPrefix(res, pre) && len(res) > len(pre) && !strings.HasSuffix(res, "/") {
				return true
			}
		}
	case "sts":
		if r, ok := strings.CutPrefix(res, "assumed-role/"); ok {
			role, session, ok := strings.Cut(r, "/")
			return ok && role != "" && session != "" && !strings.Contains(session, "/")
		}
		if u, ok := strings.CutPrefix(res, "federated-user/"); ok {
			return u != "" && !strings.Contains(u, "/")
		}
	}
	return false
}

func validService(v string) bool {
	name, ok := strings.CutSuffix(v, ".amazonaws.com")
	if !ok {
		name, ok = strings.CutSuffix(v, ".amazonaws.com.cn")
	}
	if !ok || name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// validFederated accepts identity-provider ARNs and the well-known web
// identity providers of the IAM User Guide (Principal element, "Web
// identity session principals").
func validFederated(v string) bool {
	switch v {
	case "cognito-identity.amazonaws.com", "www.amazon.com", "graph.facebook.com", "accounts.google.com":
		return true
	}
	parts, ok := splitARN(v, false)
	if !ok || parts[0] != "arn" || !validPartition(parts[1]) || parts[2] != "iam" || parts[3] != "" || !isAccountID(parts[4]) {
		return false
	}
	for _, pre := range []string{"oidc-provider/", "saml-provider/"} {
		if strings.HasPrefix(parts[5], pre) && len(parts[5]) > len(pre) {
			return !strings.ContainsAny(parts[5], "*?")
		}
	}
	return false
}

// splitOperator splits "ForAnyValue:StringLikeIfExists" into its parts.
func splitOperator(name string) (info operatorInfo, set setOp, ifExists bool, ok bool) {
	base := name
	if b, found := strings.CutPrefix(base, "ForAllValues:"); found {
		base, set = b, setForAll
	} else if b, found := strings.CutPrefix(base, "ForAnyValue:"); found {
		base, set = b, setForAny
	}
	if info, ok = operators[base]; ok {
		if info.fam == famNull && set != setNone {
			return info, set, false, false
		}
		return info, set, false, true
	}
	b, found := strings.CutSuffix(base, "IfExists")
	if !found {
		return info, set, false, false
	}
	info, ok = operators[b]
	if !ok || info.fam == famNull { // "Null has no IfExists form"
		return info, set, false, false
	}
	return info, set, true, true
}

func parseConditions(n *jnode, kind Kind, vars bool) ([]Condition, []cond, *parseError) {
	if n.kind != jObj {
		return nil, nil, perr(errSyntax, "Condition is not an object")
	}
	var out []Condition
	var cc []cond
	for _, om := range n.obj {
		info, set, ifExists, ok := splitOperator(om.key)
		if !ok {
			return nil, nil, perr(errSyntax, "unknown condition operator %q", om.key)
		}
		if om.val.kind != jObj || len(om.val.obj) == 0 {
			return nil, nil, perr(errSyntax, "condition operator %q does not hold a non-empty object", om.key)
		}
		for _, km := range om.val.obj {
			if !validKeyName(km.key) {
				return nil, nil, perr(errSyntax, "condition key %q is not prefix:name", km.key)
			}
			lk := strings.ToLower(km.key)
			if kind == KeyPolicy && set == setForAll {
				if strings.HasPrefix(lk, "kms:encryptioncontext:") {
					return nil, nil, perr(errOverlyPermissiveEC, "ForAllValues with single-valued key %q", km.key)
				}
				if strings.HasPrefix(lk, "aws:requesttag/") {
					return nil, nil, perr(errOverlyPermissiveTag, "ForAllValues with single-valued key %q", km.key)
				}
			}
			vals, pe := scalarOrList(km.val, "condition "+om.key+" "+km.key)
			if pe != nil {
				return nil, nil, pe
			}
			c := cond{op: om.key, info: info, set: set, ifExists: ifExists, key: compileKey(km.key)}
			// Variables are substituted only in string and ARN values, and
			// only in Version 2012-10-17 ("If you don't include the
			// Version element …, variables like ${aws:username} are treated
			// as literal strings", reference_policies_variables.md).
			useVars := vars && (info.fam == famString || info.fam == famARN)
			for _, v := range vals {
				cv, err := compileCondValue(info, v, useVars)
				if err != nil {
					var pe *parseError
					if errors.As(err, &pe) {
						return nil, nil, pe
					}
					return nil, nil, perr(errSyntax, "%v", err)
				}
				if info.fam == famNull {
					if cv.b {
						c.nullTrue = true
					} else {
						c.nullFalse = true
					}
				}
				c.vals = append(c.vals, cv)
			}
			c.match = matcherFor(info.fam)
			out = append(out, Condition{Operator: om.key, Key: km.key, Values: vals})
			cc = append(cc, c)
		}
	}
	return out, cc, nil
}
