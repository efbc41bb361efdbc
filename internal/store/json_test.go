package store_test

import (
	"errors"
	"testing"

	"github.com/kiln-dev/kiln/internal/store"
)

// mapTx is a minimal Tx for testing the helpers without a backend.
type mapTx struct {
	store.Tx // unimplemented methods panic
	recs     map[store.Key]store.Record
}

func (m *mapTx) Get(k store.Key) (store.Record, error) {
	r, ok := m.recs[k]
	if !ok {
		return r, store.ErrNotFound
	}
	return r, nil
}

func (m *mapTx) GetByName(a, r, k, name string) (store.Record, error) {
	for _, rec := range m.recs {
		if rec.Account == a && rec.Region == r && rec.Kind == k && rec.Name == name {
			return rec, nil
		}
	}
	return store.Record{}, store.ErrNotFound
}

func (m *mapTx) Put(r store.Record) error { m.recs[r.Key] = r; return nil }

func (m *mapTx) Create(r store.Record) error {
	if _, ok := m.recs[r.Key]; ok {
		return store.ErrAlreadyExists
	}
	return m.Put(r)
}

func (m *mapTx) List(q store.Query) ([]store.Record, error) {
	var out []store.Record
	for _, id := range q.IDs {
		if r, ok := m.recs[store.Key{Account: q.Account, Region: q.Region, Kind: q.Kind, ID: id}]; ok {
			out = append(out, r)
		}
	}
	return out, nil
}

type image struct {
	ImageID string
	Layers  []string
}

func TestJSONHelpers(t *testing.T) {
	tx := &mapTx{recs: map[store.Key]store.Record{}}
	k := store.Key{Account: "1", Region: "r", Kind: "image", ID: "ami-1"}
	want := image{ImageID: "ami-1", Layers: []string{"sha256:a"}}
	if err := store.CreateJSON(tx, k, "base", want); err != nil {
		t.Fatal(err)
	}
	if err := store.CreateJSON(tx, k, "base", want); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("CreateJSON twice: %v", err)
	}
	if got := string(tx.recs[k].Body); got != `{"ImageID":"ami-1","Layers":["sha256:a"]}` {
		t.Fatalf("stored body %s", got)
	}
	got, err := store.GetJSON[image](tx, k)
	if err != nil || got.ImageID != "ami-1" || len(got.Layers) != 1 {
		t.Fatalf("GetJSON = %+v, %v", got, err)
	}
	byName, err := store.GetJSONByName[*image](tx, "1", "r", "image", "base")
	if err != nil || byName.ImageID != "ami-1" {
		t.Fatalf("GetJSONByName = %+v, %v", byName, err)
	}
	if _, err := store.GetJSON[image](tx, store.Key{ID: "nope"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetJSON missing: %v", err)
	}
	if err := store.PutJSON(tx, k, "base", func() {}); err == nil {
		t.Fatal("PutJSON of a func succeeded")
	}
	tx.recs[store.Key{Account: "1", Region: "r", Kind: "image", ID: "ami-2"}] = store.Record{Body: []byte("{bad")}
	if _, err := store.ListJSON[image](tx, store.Query{Account: "1", Region: "r", Kind: "image", IDs: []string{"ami-1", "ami-2"}}); err == nil {
		t.Fatal("ListJSON over a bad body succeeded")
	}
	list, err := store.ListJSON[image](tx, store.Query{Account: "1", Region: "r", Kind: "image", IDs: []string{"ami-1"}})
	if err != nil || len(list) != 1 || list[0].ImageID != "ami-1" {
		t.Fatalf("ListJSON = %+v, %v", list, err)
	}
}
