package postgres

import "testing"

func TestFirstSchema(t *testing.T) {
	for in, want := range map[string]string{
		"":                  "",
		"trent":             "trent",
		"Trent, public":     "trent",
		"  trent_a ,public": "trent_a",
		`"Trent", public`:   "Trent",
		`"a""b,c", public`:  `a"b,c`,
		`"$user", public`:   "$user",
		`$user`:             "$user",
	} {
		if got := firstSchema(in); got != want {
			t.Errorf("firstSchema(%q) = %q, want %q", in, got, want)
		}
	}
}
