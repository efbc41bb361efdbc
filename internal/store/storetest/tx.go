package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/store"
)

type counter struct {
	N    int    `json:"n"`
	Note string `json:"note,omitempty"`
}

func testJSON(t *testing.T, open Open) {
	s := open(t)
	k1, k2 := key("counter", "c-1"), key("counter", "c-2")
	update(t, s, func(tx store.Tx) error {
		if err := store.CreateJSON(tx, k1, "first", counter{N: 1}); err != nil {
			return err
		}
		if err := store.CreateJSON(tx, k1, "", counter{}); !errors.Is(err, store.ErrAlreadyExists) {
			return fmt.Errorf("CreateJSON duplicate: %v", err)
		}
		if err := store.PutJSON(tx, k2, "second", counter{N: 2, Note: "x"}); err != nil {
			return err
		}
		if err := store.PutJSON(tx, k1, "first", counter{N: 3}); err != nil {
			return err
		}
		if err := store.PutJSON(tx, key("counter", "bad"), "", make(chan int)); err == nil {
			return errors.New("PutJSON of an unencodable value succeeded")
		}
		return tx.Put(store.Record{Key: key("counter", "c-3"), Body: []byte("not json")})
	})
	view(t, s, func(tx store.Tx) error {
		c, err := store.GetJSON[counter](tx, k1)
		noErr(t, "GetJSON", err)
		if c.N != 3 {
			t.Fatalf("GetJSON = %+v", c)
		}
		c, err = store.GetJSONByName[counter](tx, acct, region, "counter", "second")
		noErr(t, "GetJSONByName", err)
		if c != (counter{N: 2, Note: "x"}) {
			t.Fatalf("GetJSONByName = %+v", c)
		}
		_, err = store.GetJSON[counter](tx, key("counter", "missing"))
		wantErr(t, "GetJSON missing", err, store.ErrNotFound)
		_, err = store.GetJSONByName[counter](tx, acct, region, "counter", "missing")
		wantErr(t, "GetJSONByName missing", err, store.ErrNotFound)
		if _, err = store.GetJSON[counter](tx, key("counter", "c-3")); err == nil {
			t.Fatal("GetJSON of a non-JSON body succeeded")
		}
		cs, err := store.ListJSON[counter](tx, store.Query{Account: acct, Region: region, Kind: "counter", IDs: []string{"c-1", "c-2"}})
		noErr(t, "ListJSON", err)
		if len(cs) != 2 || cs[0].N != 3 || cs[1].N != 2 {
			t.Fatalf("ListJSON = %+v", cs)
		}
		if _, err := store.ListJSON[counter](tx, store.Query{Account: acct, Region: region, Kind: "counter"}); err == nil {
			t.Fatal("ListJSON over a non-JSON body succeeded")
		}
		return nil
	})
}

func testReadYourWrites(t *testing.T, open Open) {
	s := open(t)
	update(t, s, func(tx store.Tx) error {
		noErr(t, "Create", tx.Create(rec("volume", "vol-1", "one", `{"v":1}`)))
		noErr(t, "PutTag", tx.PutTag(tag("vol-1", "volume", "Name", "one")))
		r, err := tx.Get(key("volume", "vol-1"))
		noErr(t, "Get own write", err)
		if string(r.Body) != `{"v":1}` {
			t.Fatalf("Get own write = %s", r.Body)
		}
		_, err = tx.GetByName(acct, region, "volume", "one")
		noErr(t, "GetByName own write", err)
		rs, err := tx.List(store.Query{Account: acct, Region: region, Kind: "volume"})
		noErr(t, "List", err)
		wantIDs(t, "List own write", rs, "vol-1")
		tags, err := tx.ListTags(store.TagQuery{Account: acct, Region: region})
		noErr(t, "ListTags", err)
		wantTags(t, "ListTags own write", tags, tag("vol-1", "volume", "Name", "one"))
		noErr(t, "Delete", tx.Delete(key("volume", "vol-1")))
		_, err = tx.Get(key("volume", "vol-1"))
		wantErr(t, "Get own delete", err, store.ErrNotFound)
		return nil
	})
}

func testRollback(t *testing.T, open Open) {
	s := open(t)
	create(t, s, rec("volume", "vol-keep", "", `{"v":1}`))
	putTags(t, s, tag("vol-keep", "volume", "Name", "keep"))
	errBoom := errors.New("boom")
	err := s.Update(bg, func(tx store.Tx) error {
		noErr(t, "Create", tx.Create(rec("volume", "vol-new", "new", `{}`)))
		noErr(t, "Put", tx.Put(rec("volume", "vol-keep", "", `{"v":2}`)))
		noErr(t, "PutTag", tx.PutTag(tag("vol-new", "volume", "Name", "new")))
		noErr(t, "DeleteTag", tx.DeleteTag(acct, region, "vol-keep", "Name"))
		return fmt.Errorf("wrapped: %w", errBoom)
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Update returned %v, want fn's error", err)
	}
	_, err = get(t, s, key("volume", "vol-new"))
	wantErr(t, "rolled-back Create", err, store.ErrNotFound)
	r, err := get(t, s, key("volume", "vol-keep"))
	noErr(t, "Get", err)
	if string(r.Body) != `{"v":1}` {
		t.Fatalf("rolled-back Put left body %s", r.Body)
	}
	wantTags(t, "rolled-back tag changes", listTags(t, s, store.TagQuery{Account: acct, Region: region}),
		tag("vol-keep", "volume", "Name", "keep"))
}

func testPanic(t *testing.T, open Open) {
	s := open(t)
	func() {
		defer func() {
			if p := recover(); p != "boom" {
				t.Fatalf("recovered %v, want the fn's panic", p)
			}
		}()
		s.Update(bg, func(tx store.Tx) error {
			if err := tx.Create(rec("volume", "vol-1", "", `{}`)); err != nil {
				return err
			}
			panic("boom")
		})
	}()
	// The store is still usable (the write connection was released).
	ctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	err := s.Update(ctx, func(tx store.Tx) error {
		_, err := tx.Get(key("volume", "vol-1"))
		wantErr(t, "Get after panicked Update", err, store.ErrNotFound)
		return tx.Create(rec("volume", "vol-2", "", `{}`))
	})
	noErr(t, "Update after panic", err)
}

func testReadOnlyView(t *testing.T, open Open) {
	s := open(t)
	create(t, s, rec("volume", "vol-1", "", `{}`))
	view(t, s, func(tx store.Tx) error {
		wantErr(t, "Create in View", tx.Create(rec("volume", "vol-2", "", `{}`)), store.ErrReadOnly)
		wantErr(t, "Put in View", tx.Put(rec("volume", "vol-1", "", `{"x":1}`)), store.ErrReadOnly)
		wantErr(t, "Delete in View", tx.Delete(key("volume", "vol-1")), store.ErrReadOnly)
		wantErr(t, "PutTag in View", tx.PutTag(tag("vol-1", "volume", "k", "v")), store.ErrReadOnly)
		wantErr(t, "DeleteTag in View", tx.DeleteTag(acct, region, "vol-1", "k"), store.ErrReadOnly)
		return nil
	})
	r, err := get(t, s, key("volume", "vol-1"))
	noErr(t, "Get", err)
	if string(r.Body) != `{}` {
		t.Fatalf("View changed the record: %s", r.Body)
	}
}

func testTxAfterReturn(t *testing.T, open Open) {
	s := open(t)
	var leaked store.Tx
	update(t, s, func(tx store.Tx) error { leaked = tx; return nil })
	if _, err := leaked.Get(key("volume", "vol-1")); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get on a finished Tx = %v, want a usage error", err)
	}
	if err := leaked.Create(rec("volume", "vol-1", "", `{}`)); err == nil {
		t.Fatal("Create on a finished Tx succeeded")
	}
	view(t, s, func(tx store.Tx) error { leaked = tx; return nil })
	if _, err := leaked.List(store.Query{Account: acct, Region: region, Kind: "volume"}); err == nil {
		t.Fatal("List on a finished Tx succeeded")
	}
}

func testContextCanceled(t *testing.T, open Open) {
	s := open(t)
	ctx, cancel := context.WithCancel(bg)
	cancel()
	ran := false
	err := s.Update(ctx, func(tx store.Tx) error { ran = true; return tx.Create(rec("volume", "vol-1", "", `{}`)) })
	if !errors.Is(err, context.Canceled) || ran {
		t.Fatalf("Update with canceled context: err %v, fn ran %v", err, ran)
	}
	err = s.View(ctx, func(tx store.Tx) error { ran = true; return nil })
	if !errors.Is(err, context.Canceled) || ran {
		t.Fatalf("View with canceled context: err %v, fn ran %v", err, ran)
	}
	_, err = get(t, s, key("volume", "vol-1"))
	wantErr(t, "Get", err, store.ErrNotFound)
}

func testConcurrentUpdates(t *testing.T, open Open) {
	s := open(t)
	const workers, increments = 8, 50
	k := key("counter", "c-1")
	update(t, s, func(tx store.Tx) error { return store.PutJSON(tx, k, "", counter{}) })

	stop := make(chan struct{})
	var readers sync.WaitGroup
	readErr := make(chan error, 2)
	for range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			last := 0
			for {
				select {
				case <-stop:
					return
				default:
				}
				err := s.View(bg, func(tx store.Tx) error {
					c, err := store.GetJSON[counter](tx, k)
					if err != nil {
						return err
					}
					if c.N < last {
						return fmt.Errorf("counter went backwards: %d after %d", c.N, last)
					}
					last = c.N
					return nil
				})
				if err != nil {
					readErr <- err
					return
				}
			}
		}()
	}

	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range increments {
				err := s.Update(bg, func(tx store.Tx) error {
					c, err := store.GetJSON[counter](tx, k)
					if err != nil {
						return err
					}
					c.N++
					return store.PutJSON(tx, k, "", c)
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	close(errs)
	close(readErr)
	for err := range errs {
		t.Fatalf("concurrent Update: %v", err)
	}
	for err := range readErr {
		t.Fatalf("concurrent View: %v", err)
	}
	view(t, s, func(tx store.Tx) error {
		c, err := store.GetJSON[counter](tx, k)
		noErr(t, "GetJSON", err)
		if c.N != workers*increments {
			t.Fatalf("counter = %d, want %d", c.N, workers*increments)
		}
		return nil
	})
}

// testReadersDuringWrite: an open write transaction blocks neither readers
// nor shows them its uncommitted changes.
func testReadersDuringWrite(t *testing.T, open Open) {
	s := open(t)
	k := key("volume", "vol-1")
	create(t, s, rec("volume", "vol-1", "", `{"v":1}`))

	inTx, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	writeDone := make(chan error, 1)
	go func() {
		writeDone <- s.Update(bg, func(tx store.Tx) error {
			if err := tx.Put(rec("volume", "vol-1", "", `{"v":2}`)); err != nil {
				return err
			}
			if err := tx.Create(rec("volume", "vol-2", "", `{}`)); err != nil {
				return err
			}
			once.Do(func() { close(inTx) })
			<-release
			return nil
		})
	}()
	select {
	case <-inTx:
	case err := <-writeDone:
		t.Fatalf("Update ended early: %v", err)
	}

	ctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.View(ctx, func(tx store.Tx) error {
				r, err := tx.Get(k)
				if err != nil {
					return err
				}
				if string(r.Body) != `{"v":1}` {
					return fmt.Errorf("reader saw uncommitted body %s", r.Body)
				}
				rs, err := tx.List(store.Query{Account: acct, Region: region, Kind: "volume"})
				if err != nil {
					return err
				}
				if len(rs) != 1 {
					return fmt.Errorf("reader saw %d records, want 1", len(rs))
				}
				return nil
			})
		}()
	}
	wg.Wait()
	close(release)
	if err := <-writeDone; err != nil {
		t.Fatalf("Update: %v", err)
	}
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("View during write: %v", err)
		}
	}
	r, err := get(t, s, k)
	noErr(t, "Get after commit", err)
	if string(r.Body) != `{"v":2}` {
		t.Fatalf("body after commit = %s", r.Body)
	}
}

// testSnapshotView: a View sees one snapshot even while an Update commits.
func testSnapshotView(t *testing.T, open Open) {
	s := open(t)
	k := key("volume", "vol-1")
	create(t, s, rec("volume", "vol-1", "", `{"v":1}`))

	started, proceed := make(chan struct{}), make(chan struct{})
	var once sync.Once
	viewDone := make(chan error, 1)
	go func() {
		viewDone <- s.View(bg, func(tx store.Tx) error {
			if _, err := tx.Get(k); err != nil {
				return err
			}
			once.Do(func() { close(started) })
			<-proceed
			r, err := tx.Get(k)
			if err != nil {
				return err
			}
			if string(r.Body) != `{"v":1}` {
				return fmt.Errorf("view saw a later commit: %s", r.Body)
			}
			rs, err := tx.List(store.Query{Account: acct, Region: region, Kind: "volume"})
			if err != nil {
				return err
			}
			if len(rs) != 1 {
				return fmt.Errorf("view saw %d records, want 1", len(rs))
			}
			return nil
		})
	}()
	select {
	case <-started:
	case err := <-viewDone:
		t.Fatalf("View ended early: %v", err)
	}
	ctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	err := s.Update(ctx, func(tx store.Tx) error {
		if err := tx.Put(rec("volume", "vol-1", "", `{"v":2}`)); err != nil {
			return err
		}
		return tx.Create(rec("volume", "vol-2", "", `{}`))
	})
	close(proceed)
	if err != nil {
		t.Fatalf("Update while a View is open: %v", err)
	}
	if err := <-viewDone; err != nil {
		t.Fatal(err)
	}
}

func testDurability(t *testing.T, open Open) {
	s := open(t)
	create(t, s, rec("key-pair", "key-1", "alpha", `{"v":1}`))
	putTags(t, s, tag("key-1", "key-pair", "Name", "alpha"))
	s.Update(bg, func(tx store.Tx) error {
		tx.Create(rec("key-pair", "key-2", "", `{}`))
		return errors.New("roll back")
	})
	noErr(t, "Close", s.Close())
	noErr(t, "second Close", s.Close())

	s = open(t)
	r, err := get(t, s, key("key-pair", "key-1"))
	noErr(t, "Get after reopen", err)
	sameRecord(t, "after reopen", r, rec("key-pair", "key-1", "alpha", `{"v":1}`))
	_, err = get(t, s, key("key-pair", "key-2"))
	wantErr(t, "rolled-back record after reopen", err, store.ErrNotFound)
	wantTags(t, "tags after reopen", listTags(t, s, store.TagQuery{Account: acct, Region: region}),
		tag("key-1", "key-pair", "Name", "alpha"))
	// Still writable, and name uniqueness survived.
	err = s.Update(bg, func(tx store.Tx) error { return tx.Create(rec("key-pair", "key-3", "alpha", `{}`)) })
	wantErr(t, "name after reopen", err, store.ErrAlreadyExists)
}
