package storetest

import (
	"testing"

	"github.com/kiln-dev/kiln/internal/store"
)

func tag(id, typ, k, v string) store.Tag {
	return store.Tag{Account: acct, Region: region, ResourceID: id, ResourceType: typ, Key: k, Value: v}
}

func putTags(t *testing.T, s store.Store, tags ...store.Tag) {
	t.Helper()
	update(t, s, func(tx store.Tx) error {
		for _, tg := range tags {
			if err := tx.PutTag(tg); err != nil {
				return err
			}
		}
		return nil
	})
}

func listTags(t *testing.T, s store.Store, q store.TagQuery) []store.Tag {
	t.Helper()
	var out []store.Tag
	view(t, s, func(tx store.Tx) error {
		var err error
		out, err = tx.ListTags(q)
		return err
	})
	return out
}

func wantTags(t *testing.T, what string, got []store.Tag, want ...store.Tag) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d tags %+v, want %d %+v", what, len(got), got, len(want), want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: tag %d = %+v, want %+v", what, i, got[i], want[i])
		}
	}
}

func testTags(t *testing.T, open Open) {
	s := open(t)
	q := store.TagQuery{Account: acct, Region: region}
	wantTags(t, "empty", listTags(t, s, q))

	// Tags need not belong to a stored record (services check that).
	putTags(t, s,
		tag("vol-2", "volume", "Name", "data"),
		tag("i-1", "instance", "env", "prod"),
		tag("i-1", "instance", "Name", "web"),
		tag("i-1", "instance", "empty", ""),
	)
	wantTags(t, "ordered by resource then key", listTags(t, s, q),
		tag("i-1", "instance", "Name", "web"),
		tag("i-1", "instance", "empty", ""),
		tag("i-1", "instance", "env", "prod"),
		tag("vol-2", "volume", "Name", "data"),
	)

	// Upsert replaces value (and type) under the same key.
	putTags(t, s, tag("i-1", "instance", "env", "staging"), tag("vol-2", "snapshot", "Name", "data2"))
	wantTags(t, "after upsert", listTags(t, s, q),
		tag("i-1", "instance", "Name", "web"),
		tag("i-1", "instance", "empty", ""),
		tag("i-1", "instance", "env", "staging"),
		tag("vol-2", "snapshot", "Name", "data2"),
	)

	// DeleteTag removes one tag; deleting an absent tag is not an error.
	update(t, s, func(tx store.Tx) error {
		if err := tx.DeleteTag(acct, region, "i-1", "empty"); err != nil {
			return err
		}
		if err := tx.DeleteTag(acct, region, "i-1", "no-such-key"); err != nil {
			return err
		}
		return tx.DeleteTag(acct, region, "i-404", "Name")
	})
	wantTags(t, "after DeleteTag", listTags(t, s, q),
		tag("i-1", "instance", "Name", "web"),
		tag("i-1", "instance", "env", "staging"),
		tag("vol-2", "snapshot", "Name", "data2"),
	)

	// Other accounts and regions are separate.
	o := tag("i-1", "instance", "Name", "other-account")
	o.Account = acct2
	r := tag("i-1", "instance", "Name", "other-region")
	r.Region = "eu-west-1"
	putTags(t, s, o, r)
	wantTags(t, "other account", listTags(t, s, store.TagQuery{Account: acct2, Region: region}), o)
	wantTags(t, "other region", listTags(t, s, store.TagQuery{Account: acct, Region: "eu-west-1"}), r)
	update(t, s, func(tx store.Tx) error { return tx.DeleteTag(acct2, region, "i-1", "Name") })
	if got := listTags(t, s, q); len(got) != 3 || got[0].Value != "web" {
		t.Fatalf("DeleteTag in another account touched this one: %+v", got)
	}
}

func testTagFilters(t *testing.T, open Open) {
	s := open(t)
	all := []store.Tag{
		tag("ami-1", "image", "Name", "base"),
		tag("ami-1", "image", "os", "debian"),
		tag("i-1", "instance", "Name", "web"),
		tag("i-1", "instance", "env", "prod"),
		tag("i-2", "instance", "env", "dev"),
		tag("vol-1", "volume", "Name", "data"),
	}
	putTags(t, s, all...)
	q := func(ids, types, keys []string) store.TagQuery {
		return store.TagQuery{Account: acct, Region: region, ResourceIDs: ids, ResourceTypes: types, Keys: keys}
	}
	wantTags(t, "no filter", listTags(t, s, q(nil, nil, nil)), all...)
	wantTags(t, "ResourceIDs", listTags(t, s, q([]string{"vol-1", "i-1", "i-404"}, nil, nil)), all[2], all[3], all[5])
	wantTags(t, "ResourceTypes", listTags(t, s, q(nil, []string{"instance"}, nil)), all[2], all[3], all[4])
	wantTags(t, "Keys", listTags(t, s, q(nil, nil, []string{"Name"})), all[0], all[2], all[5])
	wantTags(t, "IDs and Keys", listTags(t, s, q([]string{"i-1", "i-2"}, nil, []string{"env"})), all[3], all[4])
	wantTags(t, "all three", listTags(t, s, q([]string{"i-1", "ami-1"}, []string{"instance"}, []string{"Name", "os"})), all[2])
	wantTags(t, "no match", listTags(t, s, q(nil, []string{"snapshot"}, nil)))
}

func testDeleteRemovesTags(t *testing.T, open Open) {
	s := open(t)
	create(t, s, rec("instance", "i-1", "", `{}`), rec("instance", "i-2", "", `{}`))
	other := rec("instance", "i-1", "", `{}`)
	other.Account = acct2
	create(t, s, other)
	o := tag("i-1", "instance", "Name", "other")
	o.Account = acct2
	putTags(t, s, tag("i-1", "instance", "Name", "a"), tag("i-1", "instance", "env", "b"),
		tag("i-2", "instance", "Name", "c"), o)

	update(t, s, func(tx store.Tx) error { return tx.Delete(key("instance", "i-1")) })
	wantTags(t, "after Delete", listTags(t, s, store.TagQuery{Account: acct, Region: region}),
		tag("i-2", "instance", "Name", "c"))
	wantTags(t, "other account keeps its tags", listTags(t, s, store.TagQuery{Account: acct2, Region: region}), o)
}
