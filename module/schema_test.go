package module

import (
	"testing"
	"testing/fstest"
)

func TestRegisterSchemaRefuses(t *testing.T) {
	files := fstest.MapFS{}
	RegisterSchema("schematest_ok", Schema{SQLite: files, Postgres: files})
	for _, tc := range []struct {
		name   string
		module string
		s      Schema
	}{
		{"twice", "schematest_ok", Schema{SQLite: files, Postgres: files}},
		{"no PostgreSQL", "schematest_pg", Schema{SQLite: files}},
		{"no SQLite", "schematest_lite", Schema{Postgres: files}},
		{"name unfit for a table", "schematest-dash", Schema{SQLite: files, Postgres: files}},
		{"empty name", "", Schema{SQLite: files, Postgres: files}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("RegisterSchema(%q) did not panic", tc.module)
				}
			}()
			RegisterSchema(tc.module, tc.s)
		})
	}
	var found bool
	for _, s := range Schemas() {
		found = found || s.Module == "schematest_ok"
	}
	if !found {
		t.Fatal("Schemas() lacks the schema declared")
	}
	if (Schema{SQLite: files, Postgres: files}).For("oracle") != nil {
		t.Error("Schema.For of an unknown dialect is not nil")
	}
}

// perModule is an SQL that tells its users apart (SQLFor).
type perModule struct {
	SQL
	name string
}

func (p perModule) For(name string) SQL { return perModule{p.SQL, name} }

// TestHandleSQLPerModule: a handle gets the SQL of its own module when
// the server's SQL tells modules apart, the server's SQL as is otherwise.
func TestHandleSQLPerModule(t *testing.T) {
	r := NewRegistry()
	h := r.NewHandle("push", Services{SQL: perModule{}})
	if p, ok := h.SQL.(perModule); !ok || p.name != "push" {
		t.Fatalf("handle's SQL = %#v, want module push's", h.SQL)
	}
	plain := struct{ SQL }{}
	if h := r.NewHandle("push", Services{SQL: plain}); h.SQL != SQL(plain) {
		t.Fatalf("handle's SQL = %#v, want the server's", h.SQL)
	}
}
