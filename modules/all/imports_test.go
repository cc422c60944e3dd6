package all_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const (
	modulesPath = "github.com/xmppd/xmppd/modules/"
	configPath  = "github.com/xmppd/xmppd/internal/config"
	sqldbPath   = "github.com/xmppd/xmppd/storage/sqldb"
)

// importAllowed reports whether a file of module dir (its folder under
// modules/, "roster" or "pubsub/engine") may import path. A module uses
// another only through the services the registry hands out
// (module.Provide, module.Require), so that nothing of one server's
// modules is reachable from another server's in the same process:
// outside its own packages it imports only the shared code under
// modules/internal, and tests may link every module with modules/all.
//
// Nor does a module read the configuration through internal/config: it
// declares its own section (module.RegisterConfig) and reads it with
// module.ConfigOf, so a new option touches the module's folder alone.
//
// Nor does it import storage/sqldb, the backend: a module that keeps data
// declares its tables' migrations (module.RegisterSchema) and runs its SQL
// through module.SQL (Services.SQL), so its storage lives in its folder
// and the backend's type stays the core's. Tests may open a database.
func importAllowed(dir, path string, test bool) bool {
	if engine(path) || path == configPath || path == sqldbPath {
		return test
	}
	rest, ok := strings.CutPrefix(path, modulesPath)
	if !ok {
		return true
	}
	own, _, _ := strings.Cut(dir, "/")
	other, _, _ := strings.Cut(rest, "/")
	switch {
	case other == own, other == "internal":
		return true
	case rest == "all":
		return test
	}
	return false
}

// engine reports whether path is one of the core's engines: the stream
// servers, the router and the cluster. Modules reach them only through
// the interfaces of package module (Router, Directory, Cluster, ...), so
// that dependencies point one way (protocol features on the core) and a
// module works the same on one server and on a cluster node. Tests may
// start whole servers.
func engine(path string) bool {
	switch strings.TrimPrefix(path, "github.com/xmppd/xmppd/") {
	case "c2s", "s2s", "web", "component", "router", "cluster", "internal/server":
		return true
	}
	return false
}

func TestImportAllowed(t *testing.T) {
	for _, tc := range []struct {
		dir, path  string
		test, want bool
	}{
		{"presence", "github.com/xmppd/xmppd/module", false, true},
		{"presence", "github.com/xmppd/xmppd/storage", false, true},
		{"presence", "github.com/xmppd/xmppd/modules/roster", false, false},
		{"presence", "github.com/xmppd/xmppd/modules/roster", true, false},
		{"pubsub", "github.com/xmppd/xmppd/modules/pubsub/engine", false, true},
		{"pubsub/engine", "github.com/xmppd/xmppd/modules/pubsub", false, true},
		{"pubsub", "github.com/xmppd/xmppd/modules/internal/caps", false, true},
		{"internal/caps", "github.com/xmppd/xmppd/modules/disco", false, false},
		{"vcard", "github.com/xmppd/xmppd/modules/all", true, true},
		{"vcard", "github.com/xmppd/xmppd/modules/all", false, false},
		{"muc", "github.com/xmppd/xmppd/modules/mucx", false, false},
		{"muc", "github.com/xmppd/xmppd/cluster", false, false},
		{"roster", "github.com/xmppd/xmppd/router", false, false},
		{"roster", "github.com/xmppd/xmppd/c2s", false, false},
		{"push", "github.com/xmppd/xmppd/internal/server", false, false},
		{"push", "github.com/xmppd/xmppd/internal/testutil", true, true},
		{"muc", "github.com/xmppd/xmppd/cluster", true, true},
		{"upload", configPath, false, false},
		{"mam", configPath, true, true},
		{"push", sqldbPath, false, false},
		{"push", sqldbPath, true, true},
		{"internal/caps", sqldbPath, false, false},
		{"push", "github.com/xmppd/xmppd/storage", false, true},
	} {
		if got := importAllowed(tc.dir, tc.path, tc.test); got != tc.want {
			t.Errorf("importAllowed(%q, %q, test %v) = %v, want %v", tc.dir, tc.path, tc.test, got, tc.want)
		}
	}
}

// TestModuleImportsNoCore: package module, which every module imports,
// imports neither the engines nor internal/config (which imports it to
// decode the modules' sections), so that the layers stay one-way.
func TestModuleImportsNoCore(t *testing.T) {
	files, err := filepath.Glob("../../module/*.go")
	if err != nil || len(files) < 5 {
		t.Fatalf("module sources: %v %v", files, err)
	}
	fset := token.NewFileSet()
	for _, p := range files {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if engine(path) || path == configPath || path == sqldbPath || strings.HasPrefix(path, modulesPath) {
				t.Errorf("%s imports %s: package module is below the core and the modules", p, path)
			}
		}
	}
}

// TestModulesImportNoOtherModule holds every module to importAllowed.
func TestModulesImportNoOtherModule(t *testing.T) {
	root := ".." // modules/
	fset := token.NewFileSet()
	n := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") {
			return err
		}
		dir, err := filepath.Rel(root, filepath.Dir(p))
		if err != nil {
			return err
		}
		dir = filepath.ToSlash(dir)
		if dir == "all" || strings.Contains("/"+dir+"/", "/testdata/") {
			return nil // modules/all links every module: that is its job
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		n++
		for _, imp := range f.Imports {
			path, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				return err
			}
			if !importAllowed(dir, path, strings.HasSuffix(p, "_test.go")) && path == sqldbPath {
				t.Errorf("%s imports %s: a module keeps its tables with module.RegisterSchema and runs its SQL through module.SQL (h.SQL)", p, path)
			} else if !importAllowed(dir, path, strings.HasSuffix(p, "_test.go")) {
				t.Errorf("%s imports %s: modules use each other through services (module.Provide, module.Require), shared code goes to modules/internal", p, path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 50 {
		t.Fatalf("checked only %d files under %s", n, root)
	}
}
