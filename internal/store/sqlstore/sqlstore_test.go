package sqlstore

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestRebindDollar(t *testing.T) {
	got := RebindDollar("SELECT a FROM t WHERE a = ? AND b IN (?) LIMIT ?")
	if want := "SELECT a FROM t WHERE a = $1 AND b IN ($2) LIMIT $3"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestStandardUpsert(t *testing.T) {
	got := StandardUpsert("tags", []string{"a", "b", "c", "d"}, []string{"a", "b"})
	want := "INSERT INTO tags (a, b, c, d) VALUES (?, ?, ?, ?) ON CONFLICT (a, b) DO UPDATE SET c = excluded.c, d = excluded.d"
	if got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	if got := StandardInsertIfAbsent("t", []string{"a", "b"}); got != "INSERT INTO t (a, b) VALUES (?, ?) ON CONFLICT DO NOTHING" {
		t.Fatalf("InsertIfAbsent = %q", got)
	}
}

func TestLoadMigrations(t *testing.T) {
	ok := fstest.MapFS{
		"m/0002_second.sql": {Data: []byte("two")},
		"m/0001_init.sql":   {Data: []byte("one")},
		"m/0003_third.sql":  {Data: []byte("three")},
	}
	ms, err := LoadMigrations(ok, "m")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 3 || ms[0].SQL != "one" || ms[2].Version != 3 || ms[1].Name != "0002_second.sql" {
		t.Fatalf("LoadMigrations = %+v", ms)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"gap":       {"m/0001_a.sql": {}, "m/0003_c.sql": {}},
		"duplicate": {"m/0001_a.sql": {}, "m/0001_b.sql": {}},
		"no one":    {"m/0002_b.sql": {}},
		"stray":     {"m/0001_a.sql": {}, "m/README": {}},
		"upper":     {"m/0001_Init.sql": {}},
		"missing":   {},
	} {
		if _, err := LoadMigrations(fsys, "m"); err == nil {
			t.Errorf("%s: LoadMigrations succeeded", name)
		}
	}
}

// TestStatementsFixed: every statement text is fixed and distinct, so the
// store can prepare all of them once.
func TestStatementsFixed(t *testing.T) {
	text := buildSQL(fakeDialect{})
	seen := map[string]int{}
	for i, q := range text {
		if q == "" {
			t.Fatalf("statement %d is empty", i)
		}
		if j, dup := seen[q]; dup {
			t.Fatalf("statements %d and %d are both %q", j, i, q)
		}
		seen[q] = i
	}
	all := text[stListBase+listAllAccounts+listIDs+listNames+listAfter+listLimit]
	for _, part := range []string{"IN(id)", "IN(name)", "id > $", "ORDER BY id, account", "LIMIT $"} {
		if !strings.Contains(all, part) {
			t.Errorf("full list statement %q lacks %q", all, part)
		}
	}
}

type fakeDialect struct{}

func (fakeDialect) Name() string                               { return "fake" }
func (fakeDialect) Rebind(q string) string                     { return RebindDollar(q) }
func (fakeDialect) InList(c string) string                     { return "IN(" + c + ") = ?" }
func (fakeDialect) ListArg(v []string) (any, error)            { return v, nil }
func (fakeDialect) Upsert(t string, c, k []string) string      { return StandardUpsert(t, c, k) }
func (fakeDialect) InsertIfAbsent(t string, c []string) string { return StandardInsertIfAbsent(t, c) }
func (fakeDialect) IsUniqueViolation(error) bool               { return false }
func (fakeDialect) IsRetryable(error) bool                     { return false }
