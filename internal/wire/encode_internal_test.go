package wire

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// trickyStrings are the strings that encoding/json escapes or replaces:
// quotes and backslashes, control characters (with and without a short
// escape), HTML characters, U+2028 and U+2029, invalid UTF-8 (a lone byte,
// a truncated sequence, an encoded surrogate) and multi-byte characters.
var trickyStrings = []string{
	"", "alias/ExampleAlias", `a"b\c`, "<script>&amp;</script>", "\u2028\u2029",
	"\x00\x01\x1f\x7f", "\b\f\n\r\t", "\xff\xfe", "\xe6\x97", "\xed\xa0\x80",
	"héllo 日本 😀", "\u00a0\ufeff\ufffd", "/", "arn:aws:kms:us-east-1:111122223333:key/1234abcd",
}

// trickyTimes are instants whose epoch seconds have no, one, two or three
// fraction digits, before and after the epoch, and the zero time.
var trickyTimes = []time.Time{
	{}, time.Unix(0, 0), time.Unix(1700000000, 0), time.Unix(1700000000, 100e6),
	time.Unix(1700000000, 120e6), time.Unix(1700000000, 123e6), time.Unix(1700000000, 5e6),
	time.Unix(1700000000, 999999999), time.Unix(-1, 500e6), time.Unix(-1700000000, 7e6),
	time.Unix(253402300799, 0),
}

var timestampType = reflect.TypeFor[Timestamp]()

// filler sets the members of a shape from a random source: each pointer,
// list, map and blob is nil, empty (where it can be) or set.
type filler struct {
	r    *rand.Rand
	strs []string
}

func (f *filler) str() string { return f.strs[f.r.IntN(len(f.strs))] }

func (f *filler) fill(v reflect.Value, depth int) {
	switch {
	case v.Type() == timestampType:
		v.Set(reflect.ValueOf(Timestamp(trickyTimes[f.r.IntN(len(trickyTimes))])))
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if f.r.IntN(4) == 0 || depth > 3 {
			return // nil
		}
		v.Set(reflect.New(v.Type().Elem()))
		f.fill(v.Elem(), depth+1)
	case reflect.String:
		v.SetString(f.str())
	case reflect.Int32, reflect.Int64:
		v.SetInt([]int64{0, 1, -1, 1 << 30, -1 << 31, int64(f.r.Int32())}[f.r.IntN(6)])
	case reflect.Bool:
		v.SetBool(f.r.IntN(2) == 0)
	case reflect.Struct:
		for i := range v.NumField() {
			f.fill(v.Field(i), depth)
		}
	case reflect.Slice:
		n := f.r.IntN(4) - 1 // -1: nil
		if n < 0 || depth > 3 {
			return
		}
		s := reflect.MakeSlice(v.Type(), n, n)
		if v.Type().Elem().Kind() == reflect.Uint8 {
			n = f.r.IntN(40)
			s = reflect.MakeSlice(v.Type(), n, n)
			for i := range n {
				s.Index(i).SetUint(uint64(f.r.IntN(256)))
			}
		} else {
			for i := range n {
				f.fill(s.Index(i), depth+1)
			}
		}
		v.Set(s)
	case reflect.Map:
		n := f.r.IntN(5) - 1
		if n < 0 {
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), n)
		for range n {
			m.SetMapIndex(reflect.ValueOf(f.str()), reflect.ValueOf(f.str()))
		}
		v.Set(m)
	default:
		panic(fmt.Sprintf("filler: no value for %s", v.Type()))
	}
}

// checkSame fails when x's AppendJSON differs from json.Marshal(x).
func checkSame(t *testing.T, x JSONAppender) {
	t.Helper()
	want, err := json.Marshal(x)
	if err != nil {
		t.Fatal(err)
	}
	prefix := []byte("prefix")
	got := x.AppendJSON(prefix)
	if !bytes.HasPrefix(got, prefix) {
		t.Fatalf("%T: AppendJSON dropped what b held", x)
	}
	if got = got[len(prefix):]; !bytes.Equal(got, want) {
		t.Fatalf("%T:\nAppendJSON   %s\njson.Marshal %s", x, got, want)
	}
}

// TestAppendJSONMatchesMarshal encodes every shape, empty, with every
// member set, and filled at random many times (nil, empty and full maps,
// lists and blobs; tricky strings and times), and compares the bytes with
// encoding/json's.
func TestAppendJSONMatchesMarshal(t *testing.T) {
	shapes := jsonShapes()
	if len(shapes) < 100 {
		t.Fatalf("only %d shapes", len(shapes))
	}
	f := &filler{r: rand.New(rand.NewPCG(1, 2)), strs: trickyStrings}
	for _, x := range shapes {
		typ := reflect.TypeOf(x).Elem()
		checkSame(t, x) // every member unset
		var nilShape = reflect.Zero(reflect.TypeOf(x)).Interface().(JSONAppender)
		checkSame(t, nilShape)
		for range 200 {
			v := reflect.New(typ)
			f.fill(v.Elem(), 0)
			checkSame(t, v.Interface().(JSONAppender))
		}
	}
}

// TestAppendJSONEveryMemberSet checks that the random fill reached every
// member of every shape with a value that is written.
func TestAppendJSONEveryMemberSet(t *testing.T) {
	f := &filler{r: rand.New(rand.NewPCG(3, 4)), strs: trickyStrings}
	for _, x := range jsonShapes() {
		typ := reflect.TypeOf(x).Elem()
		seen := map[string]bool{}
		for range 200 {
			v := reflect.New(typ)
			f.fill(v.Elem(), 0)
			var m map[string]json.RawMessage
			if err := json.Unmarshal(v.Interface().(JSONAppender).AppendJSON(nil), &m); err != nil {
				t.Fatalf("%s: %v", typ, err)
			}
			for k := range m {
				seen[k] = true
			}
		}
		if len(seen) != typ.NumField() {
			t.Errorf("%s: %d of %d members written", typ, len(seen), typ.NumField())
		}
	}
}

// FuzzAppendJSON fills every shape from the fuzzer's bytes (random choices
// from the first 16, strings cut from the rest) and compares AppendJSON
// with json.Marshal.
func FuzzAppendJSON(f *testing.F) {
	f.Add([]byte("0123456789abcdef<a>&\u2028\xff\x00\"\\"))
	f.Add([]byte("seed-seed-seed-s日本😀\xed\xa0\x80\t\n"))
	shapes := jsonShapes()
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 16 {
			return
		}
		r := rand.New(rand.NewPCG(binary.LittleEndian.Uint64(data), binary.LittleEndian.Uint64(data[8:])))
		rest := string(data[16:])
		strs := []string{rest}
		for i := 0; i+1 < len(rest); i += 7 {
			strs = append(strs, rest[i:min(len(rest), i+1+r.IntN(9))])
		}
		fl := &filler{r: r, strs: strs}
		x := shapes[r.IntN(len(shapes))]
		v := reflect.New(reflect.TypeOf(x).Elem())
		fl.fill(v.Elem(), 0)
		checkSame(t, v.Interface().(JSONAppender))
	})
}
