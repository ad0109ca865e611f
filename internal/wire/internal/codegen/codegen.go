// Package codegen turns the AWS KMS service model (botocore service-2 JSON)
// into the Go source of package wire: one struct per structure shape, enum
// value lists, Validate methods that reproduce AWS's validation messages, and
// the operation table. cmd internal/wire/gen runs it; a test in package wire
// runs it again to prove shapes.go has not drifted.
package codegen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/format"
	"html"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Model is the subset of a botocore service-2 document that the generator reads.
type Model struct {
	Operations map[string]*Op    `json:"operations"`
	Shapes     map[string]*Shape `json:"shapes"`
	// MessageEnumOrder (supplement only) gives the order in which AWS lists an
	// enum's values in validation messages.
	MessageEnumOrder map[string]json.RawMessage `json:"messageEnumOrder"`
}

// Op is one operation of the model.
type Op struct {
	Name   string     `json:"name"`
	Input  *ShapeRef  `json:"input"`
	Output *ShapeRef  `json:"output"`
	Errors []ShapeRef `json:"errors"`
}

// ShapeRef names a shape.
type ShapeRef struct {
	Shape string `json:"shape"`
}

// Member is a structure member.
type Member struct {
	Shape         string `json:"shape"`
	Documentation string `json:"documentation"`
}

// Shape is one shape of the model. Members keeps model order in MemberOrder.
type Shape struct {
	Type          string             `json:"type"`
	Members       map[string]*Member `json:"members"`
	MemberOrder   []string           `json:"-"`
	Required      []string           `json:"required"`
	Enum          []string           `json:"enum"`
	Min           *int64             `json:"min"`
	Max           *int64             `json:"max"`
	Pattern       *string            `json:"pattern"`
	Sensitive     bool               `json:"sensitive"`
	Exception     bool               `json:"exception"`
	Member        *ShapeRef          `json:"member"`
	Key           *ShapeRef          `json:"key"`
	Value         *ShapeRef          `json:"value"`
	Documentation string             `json:"documentation"`
}

// Parse reads a service-2 document, keeping the order of structure members.
func Parse(data []byte) (*Model, error) {
	var m Model
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	// Recover member order: encoding/json maps lose it.
	var raw struct {
		Shapes map[string]struct {
			Members json.RawMessage `json:"members"`
		} `json:"shapes"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	for name, s := range m.Shapes {
		if s.Type != "structure" || len(raw.Shapes[name].Members) == 0 {
			continue
		}
		keys, err := objectKeys(raw.Shapes[name].Members)
		if err != nil {
			return nil, fmt.Errorf("shape %s: %w", name, err)
		}
		s.MemberOrder = keys
	}
	return &m, nil
}

func objectKeys(data []byte) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	var keys []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		keys = append(keys, t.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// Merge applies sup over m: new operations and shapes are added, structure
// members are appended (existing ones replaced in place), required lists are
// unioned, and enum, min, max and pattern replace the model's when set.
func Merge(m, sup *Model) {
	for name, op := range sup.Operations {
		m.Operations[name] = op
	}
	for name, s := range sup.Shapes {
		old, ok := m.Shapes[name]
		if !ok {
			m.Shapes[name] = s
			continue
		}
		if s.Type != old.Type {
			m.Shapes[name] = s
			continue
		}
		for _, k := range s.MemberOrder {
			if _, ok := old.Members[k]; !ok {
				old.MemberOrder = append(old.MemberOrder, k)
			}
			if old.Members == nil {
				old.Members = map[string]*Member{}
			}
			old.Members[k] = s.Members[k]
		}
		for _, r := range s.Required {
			if !slices.Contains(old.Required, r) {
				old.Required = append(old.Required, r)
			}
		}
		if s.Enum != nil {
			old.Enum = s.Enum
		}
		if s.Min != nil {
			old.Min = s.Min
		}
		if s.Max != nil {
			old.Max = s.Max
		}
		if s.Pattern != nil {
			old.Pattern = s.Pattern
		}
	}
	if m.MessageEnumOrder == nil {
		m.MessageEnumOrder = map[string]json.RawMessage{}
	}
	for k, v := range sup.MessageEnumOrder {
		m.MessageEnumOrder[k] = v
	}
}

// Generate merges supplement over model and returns gofmt'ed Go source for
// package wire: shapes.go.
func Generate(model, supplement []byte) ([]byte, error) {
	return generate(model, supplement, (*gen).run)
}

// GenerateDecoders merges supplement over model and returns gofmt'ed Go
// source for package wire: decoders.go, the strict JSON decoder of every
// input shape.
func GenerateDecoders(model, supplement []byte) ([]byte, error) {
	return generate(model, supplement, (*gen).decoders)
}

func generate(model, supplement []byte, run func(*gen) error) ([]byte, error) {
	m, err := Parse(model)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	s, err := Parse(supplement)
	if err != nil {
		return nil, fmt.Errorf("supplement: %w", err)
	}
	Merge(m, s)
	g := &gen{m: m, inputs: map[string]bool{}}
	for _, name := range sortedKeys(g.m.Operations) {
		if in := g.m.Operations[name].Input; in != nil {
			g.markInput(in.Shape)
		}
	}
	if err := run(g); err != nil {
		return nil, err
	}
	out, err := format.Source(g.buf.Bytes())
	if err != nil {
		return g.buf.Bytes(), fmt.Errorf("gofmt: %w", err)
	}
	return out, nil
}

type gen struct {
	m      *Model
	buf    bytes.Buffer
	inputs map[string]bool // structures reachable from an operation input
}

func (g *gen) p(format string, args ...any) {
	fmt.Fprintf(&g.buf, format, args...)
}

func (g *gen) markInput(name string) {
	if g.inputs[name] {
		return
	}
	s := g.m.Shapes[name]
	switch s.Type {
	case "structure":
		g.inputs[name] = true
		for _, k := range s.MemberOrder {
			g.markInput(s.Members[k].Shape)
		}
	case "list":
		g.markInput(s.Member.Shape)
	case "map":
		g.markInput(s.Key.Shape)
		g.markInput(s.Value.Shape)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (g *gen) run() error {
	// Every shape a structure refers to must exist.
	for _, name := range sortedKeys(g.m.Shapes) {
		s := g.m.Shapes[name]
		for _, k := range s.MemberOrder {
			if _, ok := g.m.Shapes[s.Members[k].Shape]; !ok {
				return fmt.Errorf("shape %s member %s: unknown shape %s", name, k, s.Members[k].Shape)
			}
		}
	}

	g.p("// Code generated by go run ./gen from model/kms-api-model.json and model/supplement.json. DO NOT EDIT.\n\n")
	g.p("package wire\n\n")
	g.p("import (\n\"regexp\"\n\"strconv\"\n)\n\n")
	g.p("var _ = strconv.Itoa\n\n")

	// Enums.
	for _, name := range sortedKeys(g.m.Shapes) {
		s := g.m.Shapes[name]
		if s.Type != "string" || len(s.Enum) == 0 {
			continue
		}
		g.p("// %sValues lists the values of the %s enum in model order.\n", name, name)
		g.p("var %sValues = []string{", name)
		for i, v := range s.Enum {
			if i > 0 {
				g.p(", ")
			}
			g.p("%q", v)
		}
		g.p("}\n\n")
	}

	// Patterns.
	for _, name := range sortedKeys(g.m.Shapes) {
		s := g.m.Shapes[name]
		if s.Type != "string" || s.Pattern == nil || !g.usedByInput(name) {
			continue
		}
		re, err := GoPattern(*s.Pattern)
		if err != nil {
			return fmt.Errorf("shape %s: %w", name, err)
		}
		g.p("// re%s is the pattern of %s, %q, as a full-string Go regexp.\n", name, name, *s.Pattern)
		g.p("var re%s = regexp.MustCompile(%s)\n\n", name, goString(re))
	}

	// Structures.
	for _, name := range sortedKeys(g.m.Shapes) {
		s := g.m.Shapes[name]
		if s.Type != "structure" || s.Exception {
			continue
		}
		if err := g.structure(name, s); err != nil {
			return err
		}
	}

	// Validation.
	for _, name := range sortedKeys(g.inputs) {
		if err := g.validate(name, g.m.Shapes[name]); err != nil {
			return err
		}
	}

	g.operations()
	return nil
}

func (g *gen) usedByInput(shape string) bool {
	for name := range g.inputs {
		s := g.m.Shapes[name]
		for _, k := range s.MemberOrder {
			t := s.Members[k].Shape
			if t == shape {
				return true
			}
			if ts := g.m.Shapes[t]; ts.Type == "list" && ts.Member.Shape == shape {
				return true
			}
		}
	}
	return false
}

// goType returns the Go type of a member that refers to shape.
func (g *gen) goType(shape string) (string, error) {
	s := g.m.Shapes[shape]
	switch s.Type {
	case "string":
		return "*string", nil
	case "integer":
		return "*int32", nil
	case "long":
		return "*int64", nil
	case "boolean":
		return "*bool", nil
	case "timestamp":
		return "*Timestamp", nil
	case "blob":
		return "[]byte", nil
	case "structure":
		return "*" + shape, nil
	case "list":
		es := g.m.Shapes[s.Member.Shape]
		switch es.Type {
		case "string":
			return "[]string", nil
		case "structure":
			return "[]" + s.Member.Shape, nil
		}
		return "", fmt.Errorf("list %s of %s is not supported", shape, es.Type)
	case "map":
		if g.m.Shapes[s.Key.Shape].Type == "string" && g.m.Shapes[s.Value.Shape].Type == "string" {
			return "map[string]string", nil
		}
		return "", fmt.Errorf("map %s is not string to string", shape)
	}
	return "", fmt.Errorf("shape %s has unsupported type %s", shape, s.Type)
}

func (g *gen) structure(name string, s *Shape) error {
	doc := FirstSentence(s.Documentation)
	g.p("// %s is the %s shape of the AWS KMS API.", name, name)
	if doc != "" {
		g.p(" %s", doc)
	}
	g.p("\ntype %s struct {\n", name)
	for _, k := range s.MemberOrder {
		mem := s.Members[k]
		t, err := g.goType(mem.Shape)
		if err != nil {
			return fmt.Errorf("%s.%s: %w", name, k, err)
		}
		if d := FirstSentence(mem.Documentation); d != "" {
			g.p("// %s\n", d)
		}
		// Lists and maps use omitzero: a nil one is left out, but an empty
		// one is sent as [] or {}, as AWS sends "Keys": [] for an empty
		// ListKeys. Everything else is left out when unset.
		opt := "omitempty"
		if strings.HasPrefix(t, "[]") && t != "[]byte" || strings.HasPrefix(t, "map[") {
			opt = "omitzero"
		}
		g.p("%s %s `json:\"%s,%s\"`\n", k, t, k, opt)
	}
	g.p("}\n\n")
	return nil
}

// Path returns the name AWS uses for a member in validation messages: the
// member name with its first letter in lower case ("KeyId" → "keyId").
func Path(member string) string {
	if member == "" {
		return ""
	}
	return strings.ToLower(member[:1]) + member[1:]
}

func (g *gen) enumMessage(name string, s *Shape) (string, error) {
	order := s.Enum
	if raw, ok := g.m.MessageEnumOrder[name]; ok {
		var first []string
		if err := json.Unmarshal(raw, &first); err != nil {
			return "", fmt.Errorf("messageEnumOrder %s: %w", name, err)
		}
		var seen []string
		for _, v := range first {
			if slices.Contains(s.Enum, v) {
				seen = append(seen, v)
			}
		}
		for _, v := range s.Enum {
			if !slices.Contains(seen, v) {
				seen = append(seen, v)
			}
		}
		order = seen
	}
	return "Member must satisfy enum value set: [" + strings.Join(order, ", ") + "]", nil
}

func (g *gen) validate(name string, s *Shape) error {
	g.p("// Validate checks x against the constraints of the %s shape and\n", name)
	g.p("// returns nil or a ValidationException *Error whose message matches AWS's.\n")
	g.p("func (x *%s) Validate() error {\n", name)
	g.p("var v validator\nx.validate(&v, \"\")\nreturn v.result()\n}\n\n")
	g.p("func (x *%s) validate(v *validator, prefix string) {\n", name)
	g.p("if x == nil {\nx = &%s{}\n}\n", name)
	for _, k := range s.MemberOrder {
		mem := s.Members[k]
		req := slices.Contains(s.Required, k)
		if err := g.validateMember(name, k, mem.Shape, req); err != nil {
			return err
		}
	}
	g.p("}\n\n")
	return nil
}

func lit(v int64) string { return strconv.FormatInt(v, 10) }

// open starts the nil check of a member: required members report null,
// optional ones are checked only when present.
func (g *gen) open(field, path string, required bool) {
	if required {
		g.p("if %s == nil {\nv.null(prefix, %s)\n} else {\n", field, path)
	} else {
		g.p("if %s != nil {\n", field)
	}
}

func (g *gen) validateMember(parent, member, shape string, required bool) error {
	s := g.m.Shapes[shape]
	path := strconv.Quote(Path(member))
	field := "x." + member
	switch s.Type {
	case "string":
		checks, err := g.stringChecks(shape, s, "s", "prefix", path)
		if err != nil {
			return err
		}
		if !required && checks == "" {
			return nil
		}
		g.open(field, path, required)
		if checks != "" {
			g.p("s := *%s\n%s", field, checks)
		}
		g.p("}\n")
	case "integer", "long":
		checks := rangeChecks(s, "n", "prefix", path)
		if !required && checks == "" {
			return nil
		}
		g.open(field, path, required)
		if checks != "" {
			g.p("n := int64(*%s)\n%s", field, checks)
		}
		g.p("}\n")
	case "boolean", "timestamp":
		if required {
			g.p("if %s == nil {\nv.null(prefix, %s)\n}\n", field, path)
		}
	case "blob":
		checks := lengthChecks(s, "len(b)", "prefix", path, "\"\"", "false")
		if !required && checks == "" {
			return nil
		}
		g.open(field, path, required)
		if checks != "" {
			g.p("b := %s\n%s", field, checks)
		}
		g.p("}\n")
	case "structure":
		g.open(field, path, required)
		g.p("%s.validate(v, prefix+%s)\n}\n", field, strconv.Quote(Path(member)+"."))
	case "map":
		ks, vs := g.m.Shapes[s.Key.Shape], g.m.Shapes[s.Value.Shape]
		if hasConstraints(ks) || hasConstraints(vs) || s.Min != nil || s.Max != nil {
			return fmt.Errorf("%s.%s: constraints on map %s are not supported", parent, member, shape)
		}
		if required {
			g.p("if %s == nil {\nv.null(prefix, %s)\n}\n", field, path)
		}
	case "list":
		es := g.m.Shapes[s.Member.Shape]
		var elem string
		switch es.Type {
		case "string":
			elemPath := "prefix+" + strconv.Quote(Path(member)+".") + "+strconv.Itoa(i+1)"
			checks, err := g.stringChecks(s.Member.Shape, es, "e", "", "")
			if err != nil {
				return err
			}
			if checks != "" {
				// Element paths are built only when an element fails.
				checks = strings.ReplaceAll(checks, "v.fail(, ", "v.fail("+elemPath+", \".member\", ")
				elem = "for i, e := range " + field + " {\n" + checks + "}\n"
			}
		case "structure":
			elem = "for i := range " + field + " {\n" + field + "[i].validate(v, prefix+" +
				strconv.Quote(Path(member)+".") + "+strconv.Itoa(i+1)+\".member.\")\n}\n"
		default:
			return fmt.Errorf("%s.%s: list of %s is not supported", parent, member, es.Type)
		}
		checks := lengthChecks(s, "len(l)", "prefix", path, "listValue(l)", "true")
		if !required && checks == "" && elem == "" {
			return nil
		}
		g.open(field, path, required)
		if checks != "" {
			g.p("l := %s\n%s", field, checks)
		}
		g.p("%s}\n", elem)
	default:
		return fmt.Errorf("%s.%s: unsupported type %s", parent, member, s.Type)
	}
	return nil
}

func hasConstraints(s *Shape) bool {
	return s.Min != nil || s.Max != nil || s.Pattern != nil || len(s.Enum) > 0
}

// stringChecks returns the checks of a string value in variable vname, in the
// order AWS reports them: pattern, length, enum. With empty prefix and path it
// emits "v.fail(, " placeholders for the caller to fill in.
func (g *gen) stringChecks(shape string, s *Shape, vname, prefix, path string) (string, error) {
	var b strings.Builder
	pp := prefix + ", " + path
	if prefix == "" {
		pp = ""
	}
	shown := "true"
	if s.Sensitive {
		shown = "false"
	}
	if s.Pattern != nil {
		fmt.Fprintf(&b, "if !re%s.MatchString(%s) {\nv.fail(%s, %s, %s, %s)\n}\n", shape, vname, pp, vname, shown,
			strconv.Quote("Member must satisfy regular expression pattern: "+*s.Pattern))
	}
	if s.Min != nil || s.Max != nil {
		fmt.Fprintf(&b, "if n := strLen(%s); ", vname)
		if s.Min != nil && *s.Min > 0 {
			fmt.Fprintf(&b, "n < %d {\nv.fail(%s, %s, %s, %s)\n} else if ", *s.Min, pp, vname, shown,
				strconv.Quote("Member must have length greater than or equal to "+lit(*s.Min)))
		}
		if s.Max != nil {
			fmt.Fprintf(&b, "n > %d {\nv.fail(%s, %s, %s, %s)\n}\n", *s.Max, pp, vname, shown,
				strconv.Quote("Member must have length less than or equal to "+lit(*s.Max)))
		} else {
			b.WriteString("false {\n}\n")
		}
	}
	if len(s.Enum) > 0 {
		msg, err := g.enumMessage(shape, s)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "switch %s {\ncase ", vname)
		for i, e := range s.Enum {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(strconv.Quote(e))
		}
		fmt.Fprintf(&b, ":\ndefault:\nv.fail(%s, %s, %s, %s)\n}\n", pp, vname, shown, strconv.Quote(msg))
	}
	return b.String(), nil
}

func lengthChecks(s *Shape, length, prefix, path, value, shown string) string {
	var b strings.Builder
	if s.Min != nil && *s.Min > 0 {
		fmt.Fprintf(&b, "if %s < %d {\nv.fail(%s, %s, %s, %s, %s)\n}\n", length, *s.Min, prefix, path, value, shown,
			strconv.Quote("Member must have length greater than or equal to "+lit(*s.Min)))
	}
	if s.Max != nil {
		fmt.Fprintf(&b, "if %s > %d {\nv.fail(%s, %s, %s, %s, %s)\n}\n", length, *s.Max, prefix, path, value, shown,
			strconv.Quote("Member must have length less than or equal to "+lit(*s.Max)))
	}
	return b.String()
}

func rangeChecks(s *Shape, vname, prefix, path string) string {
	var b strings.Builder
	if s.Min != nil {
		fmt.Fprintf(&b, "if %s < %d {\nv.fail(%s, %s, strconv.FormatInt(%s, 10), true, %s)\n}\n", vname, *s.Min, prefix, path, vname,
			strconv.Quote("Member must have value greater than or equal to "+lit(*s.Min)))
	}
	if s.Max != nil {
		fmt.Fprintf(&b, "if %s > %d {\nv.fail(%s, %s, strconv.FormatInt(%s, 10), true, %s)\n}\n", vname, *s.Max, prefix, path, vname,
			strconv.Quote("Member must have value less than or equal to "+lit(*s.Max)))
	}
	return b.String()
}

func (g *gen) operations() {
	g.p("// Operations describes every operation of the AWS KMS API, keyed by its name\n")
	g.p("// (the part of X-Amz-Target after \"TrentService.\").\n")
	g.p("var Operations = map[string]Operation{\n")
	for _, name := range sortedKeys(g.m.Operations) {
		op := g.m.Operations[name]
		g.p("%q: {\nName: %q,\n", name, name)
		if op.Input != nil {
			g.p("Input: %q,\n", op.Input.Shape)
			g.p("NewInput: func() Validator { return new(%s) },\n", op.Input.Shape)
		}
		if op.Output != nil {
			g.p("Output: %q,\n", op.Output.Shape)
		}
		g.p("Errors: []string{")
		for i, e := range op.Errors {
			if i > 0 {
				g.p(", ")
			}
			g.p("%q", e.Shape)
		}
		g.p("},\n},\n")
	}
	g.p("}\n")
}

var (
	tagRE   = regexp.MustCompile(`<[^>]*>`)
	spaceRE = regexp.MustCompile(`\s+`)
)

// FirstSentence returns the first sentence of an HTML documentation string,
// with tags removed and entities decoded, or "" when there is none.
func FirstSentence(doc string) string {
	t := tagRE.ReplaceAllString(doc, " ")
	t = html.UnescapeString(t)
	t = strings.TrimSpace(spaceRE.ReplaceAllString(t, " "))
	if t == "" {
		return ""
	}
	for i := 0; i+1 < len(t); i++ {
		if t[i] == '.' && t[i+1] == ' ' {
			return t[:i+1]
		}
	}
	return t
}

// GoPattern translates a Java regular expression from the model into a Go
// regexp that must match the whole string, as AWS's validator does (a
// pattern such as "[a-zA-Z0-9_.-]+" rejects "a b"). \uXXXX becomes \x{XXXX}
// and \s becomes Java's whitespace class, which unlike Go's includes \x0B.
func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func GoPattern(java string) (string, error) {
	var b strings.Builder
	inClass := false
	for i := 0; i < len(java); i++ {
		c := java[i]
		switch {
		case c == '\\' && i+1 < len(java):
			n := java[i+1]
			switch {
			case n == 'u' && i+5 < len(java):
				// The models write a supplementary code point with five or
				// six hex digits (sts arnType: "\u10000-\u10FFFF", meaning
				// U+10000 to U+10FFFF); a Java reading of four digits then a
				// literal would turn that range into '0'-U+10FF.
				hex := java[i+2 : i+6]
				for j := i + 6; j < len(java) && j < i+8 && isHex(java[j]); j++ {
					if v, err := strconv.ParseUint(java[i+2:j+1], 16, 32); err == nil && v >= 0x10000 && v <= 0x10FFFF {
						hex = java[i+2 : j+1]
					}
				}
				b.WriteString(`\x{` + hex + `}`)
				i += 1 + len(hex)
			case n == 's':
				if inClass {
					b.WriteString(`\t\n\x0B\f\r `)
				} else {
					b.WriteString(`[\t\n\x0B\f\r ]`)
				}
				i++
			default:
				b.WriteByte(c)
				b.WriteByte(n)
				i++
			}
		case c == '[' && !inClass:
			inClass = true
			b.WriteByte(c)
		case c == ']' && inClass:
			inClass = false
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	re := "^(?:" + b.String() + ")$"
	if _, err := regexp.Compile(re); err != nil {
		return "", fmt.Errorf("pattern %q: %w", java, err)
	}
	return re, nil
}

func goString(s string) string {
	if !strings.Contains(s, "`") {
		return "`" + s + "`"
	}
	return strconv.Quote(s)
}
