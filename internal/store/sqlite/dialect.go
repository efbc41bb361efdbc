package sqlite

import (
	"encoding/json"
	"errors"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/kiln-dev/kiln/internal/store/sqlstore"
)

// dialect is the SQLite sqlstore.Dialect.
type dialect struct{}

var _ sqlstore.Dialect = dialect{}

func (dialect) Name() string               { return "sqlite" }
func (dialect) Rebind(query string) string { return query }

func (dialect) InList(column string) string {
	return column + " IN (SELECT value FROM json_each(?))"
}

func (dialect) ListArg(values []string) (any, error) {
	b, err := json.Marshal(values)
	return string(b), err
}

func (dialect) Upsert(table string, columns, key []string) string {
	return sqlstore.StandardUpsert(table, columns, key)
}

func (dialect) InsertIfAbsent(table string, columns []string) string {
	return sqlstore.StandardInsertIfAbsent(table, columns)
}

func (dialect) IsUniqueViolation(err error) bool {
	c, ok := code(err)
	return ok && (c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
}

func (dialect) IsRetryable(err error) bool {
	c, ok := code(err)
	return ok && (c&0xff == sqlite3.SQLITE_BUSY || c&0xff == sqlite3.SQLITE_LOCKED)
}

// code returns the extended result code of a driver error.
func code(err error) (int, bool) {
	var e *msqlite.Error
	if !errors.As(err, &e) {
		return 0, false
	}
	return e.Code(), true
}
