package storetest

import (
	"fmt"
	"testing"

	"github.com/kiln-dev/kiln/internal/store"
)

func testList(t *testing.T, open Open) {
	s := open(t)
	// Inserted out of order; List returns ID order.
	create(t, s,
		rec("key-pair", "key-c", "charlie", `{"n":"c"}`),
		rec("key-pair", "key-a", "alpha", `{"n":"a"}`),
		rec("key-pair", "key-e", "", `{"n":"e"}`),
		rec("key-pair", "key-b", "bravo", `{"n":"b"}`),
		rec("key-pair", "key-d", "delta", `{"n":"d"}`),
		rec("security-group", "key-z", "", `{}`), // other kind
	)
	other := rec("key-pair", "key-x", "alpha", `{}`)
	other.Account = acct2
	otherRegion := rec("key-pair", "key-y", "", `{}`)
	otherRegion.Region = "eu-west-1"
	create(t, s, other, otherRegion)

	q := store.Query{Account: acct, Region: region, Kind: "key-pair"}
	rs := list(t, s, q)
	wantIDs(t, "all", rs, "key-a", "key-b", "key-c", "key-d", "key-e")
	for _, r := range rs {
		if r.Account != acct || r.Region != region || r.Kind != "key-pair" {
			t.Fatalf("List returned key %+v", r.Key)
		}
		if want := fmt.Sprintf(`{"n":"%s"}`, r.ID[4:]); string(r.Body) != want {
			t.Fatalf("List body of %s = %s, want %s", r.ID, r.Body, want)
		}
	}
	if rs[0].Name != "alpha" || rs[4].Name != "" {
		t.Fatalf("List names: %q, %q", rs[0].Name, rs[4].Name)
	}

	cases := []struct {
		name string
		mod  func(*store.Query)
		want []string
	}{
		{"IDs", func(q *store.Query) { q.IDs = []string{"key-d", "key-a", "key-missing", "key-z", "key-x"} }, []string{"key-a", "key-d"}},
		{"Names", func(q *store.Query) { q.Names = []string{"bravo", "delta", "nope"} }, []string{"key-b", "key-d"}},
		{"IDsAndNames", func(q *store.Query) { q.IDs = []string{"key-a", "key-b"}; q.Names = []string{"bravo", "charlie"} }, []string{"key-b"}},
		{"After", func(q *store.Query) { q.After = "key-b" }, []string{"key-c", "key-d", "key-e"}},
		{"AfterBetween", func(q *store.Query) { q.After = "key-bb" }, []string{"key-c", "key-d", "key-e"}},
		{"Limit", func(q *store.Query) { q.Limit = 2 }, []string{"key-a", "key-b"}},
		{"AfterLimit", func(q *store.Query) { q.After = "key-a"; q.Limit = 3 }, []string{"key-b", "key-c", "key-d"}},
		{"LimitBeyond", func(q *store.Query) { q.Limit = 100 }, []string{"key-a", "key-b", "key-c", "key-d", "key-e"}},
		{"NegativeLimit", func(q *store.Query) { q.Limit = -1 }, []string{"key-a", "key-b", "key-c", "key-d", "key-e"}},
		{"AfterEnd", func(q *store.Query) { q.After = "key-e" }, nil},
		{"OtherAccount", func(q *store.Query) { q.Account = acct2 }, []string{"key-x"}},
		{"GlobalAccount", func(q *store.Query) { q.Account = "" }, nil},
		{"OtherRegion", func(q *store.Query) { q.Region = "eu-west-1" }, []string{"key-y"}},
		{"OtherKind", func(q *store.Query) { q.Kind = "security-group" }, []string{"key-z"}},
		{"NoSuchKind", func(q *store.Query) { q.Kind = "nothing" }, nil},
		{"AllFilters", func(q *store.Query) {
			q.IDs = []string{"key-b", "key-c", "key-d"}
			q.Names = []string{"bravo", "charlie", "delta"}
			q.After = "key-b"
			q.Limit = 1
		}, []string{"key-c"}},
	}
	for _, c := range cases {
		q := store.Query{Account: acct, Region: region, Kind: "key-pair"}
		c.mod(&q)
		wantIDs(t, c.name, list(t, s, q), c.want...)
	}
}

func testListAllAccounts(t *testing.T, open Open) {
	s := open(t)
	mk := func(account, id string) store.Record {
		r := rec("image", id, "", `{}`)
		r.Account = account
		return r
	}
	create(t, s, mk(acct, "ami-3"), mk(acct2, "ami-1"), mk("333333333333", "ami-2"), mk(acct, "ami-0"))
	other := mk(acct2, "ami-9")
	other.Region = "eu-west-1"
	create(t, s, other)

	q := store.Query{AllAccounts: true, Account: acct, Region: region, Kind: "image"}
	rs := list(t, s, q)
	wantIDs(t, "AllAccounts", rs, "ami-0", "ami-1", "ami-2", "ami-3")
	wantAcct := []string{acct, acct2, "333333333333", acct}
	for i, r := range rs {
		if r.Account != wantAcct[i] || r.Region != region || r.Kind != "image" {
			t.Fatalf("AllAccounts record %d key = %+v, want account %s", i, r.Key, wantAcct[i])
		}
	}
	q.IDs = []string{"ami-1", "ami-3", "ami-9"}
	wantIDs(t, "AllAccounts IDs", list(t, s, q), "ami-1", "ami-3")
	q.IDs, q.After, q.Limit = nil, "ami-0", 2
	wantIDs(t, "AllAccounts After Limit", list(t, s, q), "ami-1", "ami-2")
}

func testListPagination(t *testing.T, open Open) {
	s := open(t)
	const n = 53
	update(t, s, func(tx store.Tx) error {
		for i := n - 1; i >= 0; i-- {
			if err := tx.Put(rec("snapshot", fmt.Sprintf("snap-%04d", i), "", `{}`)); err != nil {
				return err
			}
		}
		return nil
	})
	var all []string
	q := store.Query{Account: acct, Region: region, Kind: "snapshot", Limit: 10}
	for pages := 0; ; pages++ {
		if pages > n {
			t.Fatal("pagination does not terminate")
		}
		rs := list(t, s, q)
		if len(rs) > q.Limit {
			t.Fatalf("page of %d records exceeds Limit %d", len(rs), q.Limit)
		}
		all = append(all, ids(rs)...)
		if len(rs) < q.Limit {
			break
		}
		q.After = rs[len(rs)-1].ID
	}
	if len(all) != n {
		t.Fatalf("paginated %d records, want %d", len(all), n)
	}
	for i, id := range all {
		if want := fmt.Sprintf("snap-%04d", i); id != want {
			t.Fatalf("record %d = %s, want %s", i, id, want)
		}
	}
}
