package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/kiln-dev/kiln/internal/store"
)

var (
	errTxDone = errors.New("store: transaction used after its function returned")
	errTxWalk = errors.New("store: transaction used inside its own Walk")
)

// tx implements store.Tx over one *sql.Tx.
type tx struct {
	ctx     context.Context
	s       *Store
	sqlTx   *sql.Tx
	st      *stmts
	write   bool
	done    bool
	walking bool // inside Walk: the connection is busy with its rows
	// bound caches the statements rebound to sqlTx (most transactions use
	// one to three, so a short slice beats a map).
	bound []boundStmt
}

type boundStmt struct {
	id int
	st *sql.Stmt
}

func (t *tx) stmt(id int) *sql.Stmt {
	for _, b := range t.bound {
		if b.id == id {
			return b.st
		}
	}
	st := t.sqlTx.StmtContext(t.ctx, t.st.s[id])
	t.bound = append(t.bound, boundStmt{id, st})
	return st
}

func (t *tx) check(write bool) error {
	if t.done {
		return errTxDone
	}
	if t.walking {
		return errTxWalk
	}
	if write && !t.write {
		return store.ErrReadOnly
	}
	return nil
}

func (t *tx) Get(k store.Key) (store.Record, error) {
	if err := t.check(false); err != nil {
		return store.Record{}, err
	}
	r := store.Record{Key: k}
	err := t.stmt(stGet).QueryRowContext(t.ctx, k.Account, k.Region, k.Kind, k.ID).Scan(&r.Name, &r.Body)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Record{}, notFound(k)
	}
	if err != nil {
		return store.Record{}, t.s.translate("get", err)
	}
	return r, nil
}

func (t *tx) GetByName(account, region, kind, name string) (store.Record, error) {
	if err := t.check(false); err != nil {
		return store.Record{}, err
	}
	if name == "" {
		return store.Record{}, fmt.Errorf("%w: empty name", store.ErrNotFound)
	}
	r := store.Record{Key: store.Key{Account: account, Region: region, Kind: kind}, Name: name}
	err := t.stmt(stGetByName).QueryRowContext(t.ctx, account, region, kind, name).Scan(&r.ID, &r.Body)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Record{}, fmt.Errorf("%w: %s named %q in %s/%s", store.ErrNotFound, kind, name, account, region)
	}
	if err != nil {
		return store.Record{}, t.s.translate("get by name", err)
	}
	return r, nil
}

func (t *tx) Create(r store.Record) error {
	if err := t.check(true); err != nil {
		return err
	}
	if err := validKey(r.Key); err != nil {
		return err
	}
	res, err := t.stmt(stInsert).ExecContext(t.ctx, recordArgs(r)...)
	if err != nil {
		return t.s.translate("create", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return t.s.translate("create", err)
	}
	if n == 0 {
		if r.Name != "" {
			return fmt.Errorf("%w: %s %s (or name %q) in %s/%s", store.ErrAlreadyExists, r.Kind, r.ID, r.Name, r.Account, r.Region)
		}
		return fmt.Errorf("%w: %s %s in %s/%s", store.ErrAlreadyExists, r.Kind, r.ID, r.Account, r.Region)
	}
	return nil
}

func (t *tx) Put(r store.Record) error {
	if err := t.check(true); err != nil {
		return err
	}
	if err := validKey(r.Key); err != nil {
		return err
	}
	if r.Name != "" {
		// Check the name first so that a clash is reported without a
		// constraint error (which aborts a PostgreSQL transaction). The
		// unique index remains the backstop.
		var other string
		err := t.stmt(stNameOwner).QueryRowContext(t.ctx, r.Account, r.Region, r.Kind, r.Name, r.ID).Scan(&other)
		switch {
		case err == nil:
			return fmt.Errorf("%w: %s name %q is held by %s in %s/%s", store.ErrAlreadyExists, r.Kind, r.Name, other, r.Account, r.Region)
		case !errors.Is(err, sql.ErrNoRows):
			return t.s.translate("put", err)
		}
	}
	if _, err := t.stmt(stUpsert).ExecContext(t.ctx, recordArgs(r)...); err != nil {
		return t.s.translate("put", err)
	}
	return nil
}

func (t *tx) Delete(k store.Key) error {
	if err := t.check(true); err != nil {
		return err
	}
	res, err := t.stmt(stDelete).ExecContext(t.ctx, k.Account, k.Region, k.Kind, k.ID)
	if err != nil {
		return t.s.translate("delete", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return t.s.translate("delete", err)
	}
	if n == 0 {
		return notFound(k)
	}
	if _, err := t.stmt(stDeleteTags).ExecContext(t.ctx, k.Account, k.Region, k.ID); err != nil {
		return t.s.translate("delete tags", err)
	}
	return nil
}

func (t *tx) List(q store.Query) ([]store.Record, error) {
	if err := t.check(false); err != nil {
		return nil, err
	}
	shape := 0
	args := make([]any, 0, 7)
	if q.AllAccounts {
		shape |= listAllAccounts
	} else {
		args = append(args, q.Account)
	}
	args = append(args, q.Region, q.Kind)
	if len(q.IDs) > 0 {
		shape |= listIDs
		a, err := t.s.d.ListArg(q.IDs)
		if err != nil {
			return nil, err
		}
		args = append(args, a)
	}
	if len(q.Names) > 0 {
		shape |= listNames
		a, err := t.s.d.ListArg(q.Names)
		if err != nil {
			return nil, err
		}
		args = append(args, a)
	}
	if q.After != "" {
		shape |= listAfter
		args = append(args, q.After)
	}
	if q.Limit > 0 {
		shape |= listLimit
		args = append(args, q.Limit)
	}
	rows, err := t.stmt(stListBase+shape).QueryContext(t.ctx, args...)
	if err != nil {
		return nil, t.s.translate("list", err)
	}
	defer rows.Close()
	var out []store.Record
	if q.Limit > 0 {
		out = make([]store.Record, 0, min(q.Limit, 64))
	}
	for rows.Next() {
		r := store.Record{Key: store.Key{Account: q.Account, Region: q.Region, Kind: q.Kind}}
		if q.AllAccounts {
			err = rows.Scan(&r.Account, &r.ID, &r.Name, &r.Body)
		} else {
			err = rows.Scan(&r.ID, &r.Name, &r.Body)
		}
		if err != nil {
			return nil, t.s.translate("list", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, t.s.translate("list", err)
	}
	return out, nil
}

func (t *tx) Walk(fn func(store.Record) error) error {
	if err := t.check(false); err != nil {
		return err
	}
	rows, err := t.stmt(stWalk).QueryContext(t.ctx)
	if err != nil {
		return t.s.translate("walk", err)
	}
	defer rows.Close()
	t.walking = true
	defer func() { t.walking = false }()
	for rows.Next() {
		var r store.Record
		if err := rows.Scan(&r.Account, &r.Region, &r.Kind, &r.ID, &r.Name, &r.Body); err != nil {
			return t.s.translate("walk", err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return t.s.translate("walk", err)
	}
	return nil
}

func (t *tx) PutTag(tag store.Tag) error {
	if err := t.check(true); err != nil {
		return err
	}
	if tag.ResourceID == "" || tag.Key == "" {
		return fmt.Errorf("%w: tag needs ResourceID and Key", store.ErrInvalid)
	}
	_, err := t.stmt(stPutTag).ExecContext(t.ctx, tag.Account, tag.Region, tag.ResourceID, tag.Key, tag.ResourceType, tag.Value)
	return t.s.translate("put tag", err)
}

func (t *tx) DeleteTag(account, region, resourceID, key string) error {
	if err := t.check(true); err != nil {
		return err
	}
	_, err := t.stmt(stDeleteTag).ExecContext(t.ctx, account, region, resourceID, key)
	return t.s.translate("delete tag", err)
}

func (t *tx) ListTags(q store.TagQuery) ([]store.Tag, error) {
	if err := t.check(false); err != nil {
		return nil, err
	}
	shape := 0
	args := make([]any, 0, 5)
	args = append(args, q.Account, q.Region)
	for _, f := range []struct {
		bit  int
		list []string
	}{{tagIDs, q.ResourceIDs}, {tagTypes, q.ResourceTypes}, {tagKeys, q.Keys}} {
		if len(f.list) == 0 {
			continue
		}
		shape |= f.bit
		a, err := t.s.d.ListArg(f.list)
		if err != nil {
			return nil, err
		}
		args = append(args, a)
	}
	rows, err := t.stmt(stTagsBase+shape).QueryContext(t.ctx, args...)
	if err != nil {
		return nil, t.s.translate("list tags", err)
	}
	defer rows.Close()
	var out []store.Tag
	for rows.Next() {
		tg := store.Tag{Account: q.Account, Region: q.Region}
		if err := rows.Scan(&tg.ResourceID, &tg.ResourceType, &tg.Key, &tg.Value); err != nil {
			return nil, t.s.translate("list tags", err)
		}
		out = append(out, tg)
	}
	if err := rows.Err(); err != nil {
		return nil, t.s.translate("list tags", err)
	}
	return out, nil
}

func recordArgs(r store.Record) []any {
	body := r.Body
	if body == nil {
		body = []byte{}
	}
	return []any{r.Account, r.Region, r.Kind, r.ID, r.Name, body}
}

func validKey(k store.Key) error {
	if k.Kind == "" || k.ID == "" {
		return fmt.Errorf("%w: record key needs Kind and ID (got %+v)", store.ErrInvalid, k)
	}
	return nil
}

func notFound(k store.Key) error {
	return fmt.Errorf("%w: %s %s in %s/%s", store.ErrNotFound, k.Kind, k.ID, k.Account, k.Region)
}
