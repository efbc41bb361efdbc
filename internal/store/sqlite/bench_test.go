package sqlite_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/kiln-dev/kiln/internal/store"
	"github.com/kiln-dev/kiln/internal/store/sqlite"
)

const (
	benchAcct   = "111111111111"
	benchRegion = "us-east-1"
)

// body is a plausible key pair record (~400 bytes of JSON).
func body(i int) []byte {
	return []byte(fmt.Sprintf(`{"KeyPairId":"key-%017d","KeyName":"key-%d","KeyFingerprint":"%s","KeyType":"ed25519","CreateTime":"2026-11-01T12:00:00Z","PublicKey":"ssh-ed25519 %s"}`,
		i, i, strings.Repeat("ab:", 16), strings.Repeat("A", 200)))
}

// seed stores n key pairs with two tags each, plus noise in another account.
func seed(b *testing.B, s store.Store, n int) []string {
	var ids []string
	err := s.Update(context.Background(), func(tx store.Tx) error {
		for _, acct := range []string{benchAcct, "222222222222"} {
			for i := range n {
				id := fmt.Sprintf("key-%017d", i)
				if acct == benchAcct {
					ids = append(ids, id)
				}
				k := store.Key{Account: acct, Region: benchRegion, Kind: "key-pair", ID: id}
				if err := tx.Create(store.Record{Key: k, Name: fmt.Sprintf("key-%d", i), Body: body(i)}); err != nil {
					return err
				}
				for _, tk := range []string{"Name", "env"} {
					if err := tx.PutTag(store.Tag{Account: acct, Region: benchRegion, ResourceID: id, ResourceType: "key-pair", Key: tk, Value: "v"}); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return ids
}

// describe is the store work of one DescribeKeyPairs request: one List and
// one ListTags for the listed IDs, in one View.
func describe(s store.Store, ids []string) error {
	return s.View(context.Background(), func(tx store.Tx) error {
		rs, err := tx.List(store.Query{Account: benchAcct, Region: benchRegion, Kind: "key-pair"})
		if err != nil {
			return err
		}
		if len(rs) != 10 {
			return fmt.Errorf("listed %d", len(rs))
		}
		tags, err := tx.ListTags(store.TagQuery{Account: benchAcct, Region: benchRegion, ResourceIDs: ids})
		if err != nil {
			return err
		}
		if len(tags) != 20 {
			return fmt.Errorf("listed %d tags", len(tags))
		}
		return nil
	})
}

// BenchmarkList10: the DescribeKeyPairs read path (List of 10 records plus
// ListTags), sequentially and from parallel goroutines.
func BenchmarkList10(b *testing.B) {
	s := sqlite.OpenTemp(b)
	ids := seed(b, s, 10)
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := describe(s, ids); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := describe(s, ids); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkGet: one View with one Get.
func BenchmarkGet(b *testing.B) {
	s := sqlite.OpenTemp(b)
	ids := seed(b, s, 10)
	k := store.Key{Account: benchAcct, Region: benchRegion, Kind: "key-pair", ID: ids[3]}
	b.ReportAllocs()
	for b.Loop() {
		err := s.View(context.Background(), func(tx store.Tx) error {
			_, err := tx.Get(k)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpdate: one committed Update that replaces one record (Put with
// a name) and one tag, serially and from parallel goroutines (which the
// store serializes).
func BenchmarkUpdate(b *testing.B) {
	s := sqlite.OpenTemp(b)
	seed(b, s, 10)
	var n atomic.Int64
	update := func() error {
		i := int(n.Add(1)) % 1000
		id := fmt.Sprintf("key-%017d", 100+i)
		return s.Update(context.Background(), func(tx store.Tx) error {
			k := store.Key{Account: benchAcct, Region: benchRegion, Kind: "key-pair", ID: id}
			if err := tx.Put(store.Record{Key: k, Name: fmt.Sprintf("key-%d", 100+i), Body: body(i)}); err != nil {
				return err
			}
			return tx.PutTag(store.Tag{Account: benchAcct, Region: benchRegion, ResourceID: id, ResourceType: "key-pair", Key: "Name", Value: "x"})
		})
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := update(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := update(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
