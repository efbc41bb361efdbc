package storetest

import (
	"bytes"
	"strings"
	"testing"

	"github.com/kiln-dev/kiln/internal/store"
)

func testCreateGet(t *testing.T, open Open) {
	s := open(t)
	r := rec("key-pair", "key-0001", "alpha", `{"a":1}`)
	global := store.Record{Key: store.Key{Kind: "account", ID: acct}, Body: []byte(`{"g":true}`)}
	create(t, s, r, global)

	got, err := get(t, s, r.Key)
	noErr(t, "Get", err)
	sameRecord(t, "Get", got, r)

	got, err = get(t, s, global.Key)
	noErr(t, "Get global", err)
	sameRecord(t, "Get global", got, global)

	_, err = get(t, s, key("key-pair", "key-missing"))
	wantErr(t, "Get missing", err, store.ErrNotFound)
}

func testCreateConflicts(t *testing.T, open Open) {
	s := open(t)
	create(t, s, rec("key-pair", "key-1", "alpha", `{"v":1}`))
	view(t, s, func(tx store.Tx) error { return nil })

	err := s.Update(bg, func(tx store.Tx) error {
		return tx.Create(rec("key-pair", "key-1", "", `{"v":2}`))
	})
	wantErr(t, "Create same key", err, store.ErrAlreadyExists)

	err = s.Update(bg, func(tx store.Tx) error {
		return tx.Create(rec("key-pair", "key-2", "alpha", `{"v":3}`))
	})
	wantErr(t, "Create same name", err, store.ErrAlreadyExists)

	// The failed creates changed nothing.
	got, err := get(t, s, key("key-pair", "key-1"))
	noErr(t, "Get", err)
	if string(got.Body) != `{"v":1}` {
		t.Fatalf("body after failed Create = %s", got.Body)
	}
	_, err = get(t, s, key("key-pair", "key-2"))
	wantErr(t, "Get key-2", err, store.ErrNotFound)

	// A caller may handle ErrAlreadyExists and continue in the same
	// transaction.
	update(t, s, func(tx store.Tx) error {
		err := tx.Create(rec("key-pair", "key-1", "", `{}`))
		wantErr(t, "Create dup in tx", err, store.ErrAlreadyExists)
		return tx.Create(rec("key-pair", "key-3", "gamma", `{"v":4}`))
	})
	_, err = get(t, s, key("key-pair", "key-3"))
	noErr(t, "Get key-3 after handled conflict", err)
}

func testKeyIsolation(t *testing.T, open Open) {
	s := open(t)
	base := rec("volume", "vol-1", "", `"base"`)
	otherAcct := base
	otherAcct.Account, otherAcct.Body = acct2, []byte(`"acct2"`)
	otherRegion := base
	otherRegion.Region, otherRegion.Body = "eu-west-1", []byte(`"eu"`)
	otherKind := base
	otherKind.Kind, otherKind.Body = "snapshot", []byte(`"kind"`)
	create(t, s, base, otherAcct, otherRegion, otherKind)
	for _, r := range []store.Record{base, otherAcct, otherRegion, otherKind} {
		got, err := get(t, s, r.Key)
		noErr(t, "Get", err)
		sameRecord(t, "Get "+string(r.Body), got, r)
	}
}

func testGetByName(t *testing.T, open Open) {
	s := open(t)
	r := rec("key-pair", "key-1", "alpha", `{"n":"alpha"}`)
	create(t, s, r, rec("key-pair", "key-2", "beta", `{}`))
	view(t, s, func(tx store.Tx) error {
		got, err := tx.GetByName(acct, region, "key-pair", "alpha")
		noErr(t, "GetByName", err)
		sameRecord(t, "GetByName", got, r)
		_, err = tx.GetByName(acct, region, "key-pair", "nope")
		wantErr(t, "GetByName missing", err, store.ErrNotFound)
		_, err = tx.GetByName(acct2, region, "key-pair", "alpha")
		wantErr(t, "GetByName other account", err, store.ErrNotFound)
		_, err = tx.GetByName(acct, "eu-west-1", "key-pair", "alpha")
		wantErr(t, "GetByName other region", err, store.ErrNotFound)
		_, err = tx.GetByName(acct, region, "security-group", "alpha")
		wantErr(t, "GetByName other kind", err, store.ErrNotFound)
		_, err = tx.GetByName(acct, region, "key-pair", "")
		wantErr(t, "GetByName empty", err, store.ErrNotFound)
		return nil
	})
}

func testNameUniqueness(t *testing.T, open Open) {
	s := open(t)
	// Same name in another account, region or kind is fine; empty names
	// never clash.
	a := rec("key-pair", "key-1", "shared", `{}`)
	b := rec("key-pair", "key-2", "shared", `{}`)
	b.Account = acct2
	c := rec("key-pair", "key-3", "shared", `{}`)
	c.Region = "eu-west-1"
	d := rec("security-group", "sg-1", "shared", `{}`)
	create(t, s, a, b, c, d,
		rec("key-pair", "key-4", "", `{}`), rec("key-pair", "key-5", "", `{}`))

	// Put may not take a held name.
	err := s.Update(bg, func(tx store.Tx) error {
		return tx.Put(rec("key-pair", "key-4", "shared", `{}`))
	})
	wantErr(t, "Put onto held name", err, store.ErrAlreadyExists)
	err = s.Update(bg, func(tx store.Tx) error {
		return tx.Put(rec("key-pair", "key-new", "shared", `{}`))
	})
	wantErr(t, "Put new record with held name", err, store.ErrAlreadyExists)
	_, err = get(t, s, key("key-pair", "key-new"))
	wantErr(t, "record from failed Put", err, store.ErrNotFound)

	// Renaming frees the old name; deleting frees it too.
	update(t, s, func(tx store.Tx) error {
		if err := tx.Put(rec("key-pair", "key-1", "renamed", `{}`)); err != nil {
			return err
		}
		return tx.Create(rec("key-pair", "key-6", "shared", `{}`))
	})
	update(t, s, func(tx store.Tx) error {
		if err := tx.Delete(key("key-pair", "key-6")); err != nil {
			return err
		}
		return tx.Create(rec("key-pair", "key-7", "shared", `{}`))
	})
	view(t, s, func(tx store.Tx) error {
		got, err := tx.GetByName(acct, region, "key-pair", "shared")
		noErr(t, "GetByName shared", err)
		if got.ID != "key-7" {
			t.Fatalf("shared name held by %s, want key-7", got.ID)
		}
		got, err = tx.GetByName(acct, region, "key-pair", "renamed")
		noErr(t, "GetByName renamed", err)
		if got.ID != "key-1" {
			t.Fatalf("renamed held by %s, want key-1", got.ID)
		}
		return nil
	})
}

func testPut(t *testing.T, open Open) {
	s := open(t)
	r := rec("instance", "i-1", "", `{"state":"pending"}`)
	update(t, s, func(tx store.Tx) error { return tx.Put(r) })
	got, err := get(t, s, r.Key)
	noErr(t, "Get after Put-create", err)
	sameRecord(t, "Put create", got, r)

	// Replace body, set a name, keep it, then clear it.
	for _, next := range []store.Record{
		rec("instance", "i-1", "", `{"state":"running"}`),
		rec("instance", "i-1", "web", `{"state":"running"}`),
		rec("instance", "i-1", "web", `{"state":"stopped"}`),
		rec("instance", "i-1", "", `{"state":"terminated"}`),
	} {
		update(t, s, func(tx store.Tx) error { return tx.Put(next) })
		got, err := get(t, s, r.Key)
		noErr(t, "Get after Put", err)
		sameRecord(t, "Put replace", got, next)
	}
	rs := list(t, s, store.Query{Account: acct, Region: region, Kind: "instance"})
	wantIDs(t, "one record after Puts", rs, "i-1")
}

func testDelete(t *testing.T, open Open) {
	s := open(t)
	create(t, s, rec("volume", "vol-1", "v", `{}`), rec("volume", "vol-2", "", `{}`))
	update(t, s, func(tx store.Tx) error { return tx.Delete(key("volume", "vol-1")) })
	_, err := get(t, s, key("volume", "vol-1"))
	wantErr(t, "Get deleted", err, store.ErrNotFound)
	_, err = get(t, s, key("volume", "vol-2"))
	noErr(t, "Get survivor", err)

	err = s.Update(bg, func(tx store.Tx) error { return tx.Delete(key("volume", "vol-1")) })
	wantErr(t, "Delete twice", err, store.ErrNotFound)
	err = s.Update(bg, func(tx store.Tx) error {
		k := key("volume", "vol-2")
		k.Account = acct2
		return tx.Delete(k)
	})
	wantErr(t, "Delete in other account", err, store.ErrNotFound)

	// The ID can be reused after deletion.
	create(t, s, rec("volume", "vol-1", "v", `{"again":true}`))
}

func testInvalid(t *testing.T, open Open) {
	s := open(t)
	for _, r := range []store.Record{
		{Key: store.Key{Account: acct, Region: region, Kind: "volume"}},
		{Key: store.Key{Account: acct, Region: region, ID: "vol-1"}},
	} {
		err := s.Update(bg, func(tx store.Tx) error { return tx.Create(r) })
		wantErr(t, "Create without Kind or ID", err, store.ErrInvalid)
		err = s.Update(bg, func(tx store.Tx) error { return tx.Put(r) })
		wantErr(t, "Put without Kind or ID", err, store.ErrInvalid)
	}
	err := s.Update(bg, func(tx store.Tx) error {
		return tx.PutTag(store.Tag{Account: acct, Region: region, ResourceID: "vol-1"})
	})
	wantErr(t, "PutTag without Key", err, store.ErrInvalid)
}

func testBody(t *testing.T, open Open) {
	s := open(t)
	big := []byte(`{"data":"` + strings.Repeat("x", 1<<20) + `"}`)
	odd := []byte("{\"s\":\"\u00e9\\u0000\xff\"}\x00")
	create(t, s,
		store.Record{Key: key("blob", "big"), Body: big},
		store.Record{Key: key("blob", "odd"), Body: odd},
		store.Record{Key: key("blob", "empty"), Body: nil},
	)
	for id, want := range map[string][]byte{"big": big, "odd": odd, "empty": {}} {
		got, err := get(t, s, key("blob", id))
		noErr(t, "Get "+id, err)
		if !bytes.Equal(got.Body, want) {
			t.Fatalf("body %s: got %d bytes, want %d bytes", id, len(got.Body), len(want))
		}
	}
	// The store keeps its own copy of the body.
	buf := []byte(`{"v":1}`)
	update(t, s, func(tx store.Tx) error { return tx.Put(store.Record{Key: key("blob", "copy"), Body: buf}) })
	buf[5] = '9'
	got, _ := get(t, s, key("blob", "copy"))
	if string(got.Body) != `{"v":1}` {
		t.Fatalf("stored body aliased the caller's slice: %s", got.Body)
	}
}
