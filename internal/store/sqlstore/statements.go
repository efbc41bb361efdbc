package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// Statement identifiers. Every statement the layer runs has a fixed SQL text
// (lists are bound as one argument, see Dialect.InList), so all of them are
// prepared once per database handle when the store opens.
const (
	stGet = iota
	stGetByName
	stNameOwner
	stInsert
	stUpsert
	stDelete
	stDeleteTags
	stPutTag
	stDeleteTag
	stWalk
	stListBase                           // + listShape (listShapes of them)
	stTagsBase = stListBase + listShapes // + tagShape (tagShapes of them)
	numStmts   = stTagsBase + tagShapes
)

// List statement shape bits.
const (
	listAllAccounts = 1 << iota
	listIDs
	listNames
	listAfter
	listLimit
	listShapes = 1 << iota
)

// ListTags statement shape bits.
const (
	tagIDs = 1 << iota
	tagTypes
	tagKeys
	tagShapes = 1 << iota
)

var recordColumns = []string{"account", "region", "kind", "id", "name", "body"}
var tagColumns = []string{"account", "region", "resource_id", "key", "resource_type", "value"}

// buildSQL returns the text of every statement, already rebound.
func buildSQL(d Dialect) [numStmts]string {
	var s [numStmts]string
	s[stGet] = "SELECT name, body FROM records WHERE account = ? AND region = ? AND kind = ? AND id = ?"
	s[stGetByName] = "SELECT id, body FROM records WHERE account = ? AND region = ? AND kind = ? AND name = ? AND name <> ''"
	s[stNameOwner] = "SELECT id FROM records WHERE account = ? AND region = ? AND kind = ? AND name = ? AND name <> '' AND id <> ?"
	s[stInsert] = d.InsertIfAbsent("records", recordColumns)
	s[stUpsert] = d.Upsert("records", recordColumns, recordColumns[:4])
	s[stDelete] = "DELETE FROM records WHERE account = ? AND region = ? AND kind = ? AND id = ?"
	s[stDeleteTags] = "DELETE FROM tags WHERE account = ? AND region = ? AND resource_id = ?"
	s[stPutTag] = d.Upsert("tags", tagColumns, tagColumns[:4])
	s[stDeleteTag] = "DELETE FROM tags WHERE account = ? AND region = ? AND resource_id = ? AND key = ?"
	// No ORDER BY: a plain table scan streams without sorting.
	s[stWalk] = "SELECT account, region, kind, id, name, body FROM records"
	for shape := 0; shape < listShapes; shape++ {
		s[stListBase+shape] = listSQL(d, shape)
	}
	for shape := 0; shape < tagShapes; shape++ {
		s[stTagsBase+shape] = tagsSQL(d, shape)
	}
	for i := range s {
		s[i] = d.Rebind(s[i])
	}
	return s
}

// listSQL: with one account the key columns are known from the query and
// only id, name and body are read (and the primary key index yields ID
// order without a sort).
func listSQL(d Dialect, shape int) string {
	var b strings.Builder
	if shape&listAllAccounts != 0 {
		b.WriteString("SELECT account, id, name, body FROM records WHERE region = ? AND kind = ?")
	} else {
		b.WriteString("SELECT id, name, body FROM records WHERE account = ? AND region = ? AND kind = ?")
	}
	if shape&listIDs != 0 {
		b.WriteString(" AND " + d.InList("id"))
	}
	if shape&listNames != 0 {
		b.WriteString(" AND name <> '' AND " + d.InList("name"))
	}
	if shape&listAfter != 0 {
		b.WriteString(" AND id > ?")
	}
	if shape&listAllAccounts != 0 {
		b.WriteString(" ORDER BY id, account")
	} else {
		b.WriteString(" ORDER BY id")
	}
	if shape&listLimit != 0 {
		b.WriteString(" LIMIT ?")
	}
	return b.String()
}

func tagsSQL(d Dialect, shape int) string {
	var b strings.Builder
	b.WriteString("SELECT resource_id, resource_type, key, value FROM tags WHERE account = ? AND region = ?")
	if shape&tagIDs != 0 {
		b.WriteString(" AND " + d.InList("resource_id"))
	}
	if shape&tagTypes != 0 {
		b.WriteString(" AND " + d.InList("resource_type"))
	}
	if shape&tagKeys != 0 {
		b.WriteString(" AND " + d.InList("key"))
	}
	b.WriteString(" ORDER BY resource_id, key")
	return b.String()
}

// stmts holds the statements prepared on one *sql.DB. They are prepared
// eagerly: preparing lazily on the writer would need a second connection
// while a transaction holds the only one.
type stmts struct {
	s [numStmts]*sql.Stmt
}

func prepareAll(ctx context.Context, db *sql.DB, text *[numStmts]string) (*stmts, error) {
	p := &stmts{}
	for i, q := range text {
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			p.close()
			return nil, fmt.Errorf("prepare %q: %w", q, err)
		}
		p.s[i] = st
	}
	return p, nil
}

func (p *stmts) close() {
	for _, st := range p.s {
		if st != nil {
			st.Close()
		}
	}
}
