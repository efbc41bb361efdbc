package store

import (
	"encoding/json"
	"fmt"
)

// GetJSON reads the record with key k and decodes its body into a T.
func GetJSON[T any](tx Tx, k Key) (T, error) {
	var v T
	r, err := tx.Get(k)
	if err != nil {
		return v, err
	}
	return v, decode(r, &v)
}

// GetJSONByName reads the record with the given name and decodes its body
// into a T.
func GetJSONByName[T any](tx Tx, account, region, kind, name string) (T, error) {
	var v T
	r, err := tx.GetByName(account, region, kind, name)
	if err != nil {
		return v, err
	}
	return v, decode(r, &v)
}

// ListJSON lists the records matching q and decodes each body into a T, in
// the order List returns them.
func ListJSON[T any](tx Tx, q Query) ([]T, error) {
	rs, err := tx.List(q)
	if err != nil {
		return nil, err
	}
	out := make([]T, len(rs))
	for i := range rs {
		if err := decode(rs[i], &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// PutJSON encodes v and creates or replaces the record (see Tx.Put).
func PutJSON(tx Tx, k Key, name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("store: encode %s %s: %w", k.Kind, k.ID, err)
	}
	return tx.Put(Record{Key: k, Name: name, Body: b})
}

// CreateJSON encodes v and creates the record (see Tx.Create).
func CreateJSON(tx Tx, k Key, name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("store: encode %s %s: %w", k.Kind, k.ID, err)
	}
	return tx.Create(Record{Key: k, Name: name, Body: b})
}

func decode(r Record, v any) error {
	if err := json.Unmarshal(r.Body, v); err != nil {
		return fmt.Errorf("store: decode %s %s: %w", r.Kind, r.ID, err)
	}
	return nil
}
