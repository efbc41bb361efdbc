package sqlstore

import (
	"strconv"
	"strings"
)

// Dialect is what differs between SQL databases. The generic layer writes
// every statement with '?' placeholders and asks the dialect for the rest.
type Dialect interface {
	// Name names the dialect in errors ("sqlite", "postgres").
	Name() string
	// Rebind rewrites the '?' placeholders of query into the dialect's
	// bind syntax (e.g. $1, $2 for PostgreSQL).
	Rebind(query string) string
	// InList returns a predicate that is true when column equals one of
	// the strings in a single bound argument written as '?'; ListArg turns
	// the Go slice into that argument. (SQLite: json_each over a JSON
	// array; PostgreSQL: = ANY(?) over a text[].) One argument per list
	// keeps the number of distinct statements small, so every statement
	// can be prepared once.
	InList(column string) string
	ListArg(values []string) (any, error)
	// Upsert returns an INSERT of columns into table that, when a row with
	// the same key columns exists, replaces the other columns.
	Upsert(table string, columns, key []string) string
	// InsertIfAbsent returns an INSERT of columns into table that inserts
	// nothing (and reports 0 rows affected) when the row would violate any
	// unique constraint.
	InsertIfAbsent(table string, columns []string) string
	// IsUniqueViolation reports whether err is a unique or primary key
	// constraint violation (translated to store.ErrAlreadyExists).
	IsUniqueViolation(err error) bool
	// IsRetryable reports whether err is transient: the database was busy
	// or locked, or a serialization failure or deadlock aborted the
	// transaction. Update retries the whole transaction on such errors.
	IsRetryable(err error) bool
}

// StandardUpsert is Dialect.Upsert for databases that support
// INSERT ... ON CONFLICT (key) DO UPDATE (SQLite ≥ 3.24, PostgreSQL ≥ 9.5).
func StandardUpsert(table string, columns, key []string) string {
	var b strings.Builder
	b.WriteString(insertPrefix(table, columns))
	b.WriteString(" ON CONFLICT (")
	b.WriteString(strings.Join(key, ", "))
	b.WriteString(") DO UPDATE SET ")
	first := true
	for _, c := range columns {
		if contains(key, c) {
			continue
		}
		if !first {
			b.WriteString(", ")
		}
		first = false
		b.WriteString(c + " = excluded." + c)
	}
	return b.String()
}

// StandardInsertIfAbsent is Dialect.InsertIfAbsent for databases that
// support INSERT ... ON CONFLICT DO NOTHING.
func StandardInsertIfAbsent(table string, columns []string) string {
	return insertPrefix(table, columns) + " ON CONFLICT DO NOTHING"
}

// RebindDollar rewrites '?' placeholders as $1, $2, ... It does not look
// inside string literals; the generic layer never puts '?' in one.
func RebindDollar(query string) string {
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

func insertPrefix(table string, columns []string) string {
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(columns)), ", ")
	return "INSERT INTO " + table + " (" + strings.Join(columns, ", ") + ") VALUES (" + marks + ")"
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
