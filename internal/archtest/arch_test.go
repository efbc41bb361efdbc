// Package archtest enforces kiln's architecture rules over the whole
// repository: every package has a doc comment, and imports follow the
// dependency direction (api → service → store/blob/runtime interfaces;
// concrete backends only in cmd/ and the wiring package).
package archtest

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/kiln-dev/kiln/"

type pkg struct {
	dir     string // relative to the repo root
	doc     bool
	imports map[string]bool
}

func loadPackages(t *testing.T) map[string]*pkg {
	t.Helper()
	root := "../.."
	pkgs := map[string]*pkg{}
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "bin" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ParseComments|parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		p := pkgs[rel]
		if p == nil {
			p = &pkg{dir: rel, imports: map[string]bool{}}
			pkgs[rel] = p
		}
		if f.Doc != nil && strings.TrimSpace(f.Doc.Text()) != "" {
			p.doc = true
		}
		for _, im := range f.Imports {
			p.imports[strings.Trim(im.Path.Value, `"`)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

func TestEveryPackageHasADocComment(t *testing.T) {
	for dir, p := range loadPackages(t) {
		if !p.doc {
			t.Errorf("package %s has no package doc comment", dir)
		}
	}
}

// rules: an importer prefix may not import these prefixes.
var rules = []struct {
	from    string
	forbid  []string
	because string
}{
	{"internal/service/", []string{module + "internal/api", module + "internal/kiln", module + "internal/store/sqlite", module + "internal/blob/disk", module + "internal/runtime/containerd"},
		"services depend on interfaces, never on the API layer or concrete backends"},
	{"internal/shape", []string{module + "internal/"}, "the shape runtime is a leaf"},
	{"internal/awserr", []string{module + "internal/api", module + "internal/service"}, "the error vocabulary is below every service"},
	{"internal/toe", []string{module + "internal/api", module + "internal/service", module + "internal/kiln"}, "the AWSTOE runner is standalone"},
	{"internal/api", []string{module + "internal/service", module + "internal/store/sqlite", module + "internal/kiln"}, "the front door knows services only through handler tables"},
}

// concrete backends may be imported only by cmd/, the wiring package and
// their own tests/benchmarks.
var concrete = []string{module + "internal/store/sqlite", module + "internal/blob/disk", module + "internal/runtime/containerd"}

func TestImportRules(t *testing.T) {
	allowed := map[string]bool{module + "internal/api/wire": true, module + "internal/api/sigv4": true}
	for dir, p := range loadPackages(t) {
		for im := range p.imports {
			for _, r := range rules {
				if allowed[im] && strings.HasPrefix(dir, "internal/service/") {
					continue // the codec/streaming contract and the signature verifier are leaves
				}
				if !strings.HasPrefix(dir, r.from) {
					continue
				}
				for _, f := range r.forbid {
					if im == f || strings.HasPrefix(im, f+"/") || (strings.HasSuffix(f, "/") && strings.HasPrefix(im, f)) {
						t.Errorf("%s imports %s: %s", dir, im, r.because)
					}
				}
			}
			for _, c := range concrete {
				owner := strings.TrimPrefix(c, module)
				if (im == c || strings.HasPrefix(im, c+"/")) && !strings.HasPrefix(dir, "cmd/") && dir != "internal/kiln" && !strings.HasPrefix(dir, owner) && !strings.HasPrefix(dir, "bench/") {
					t.Errorf("%s imports the concrete backend %s: only cmd/ and internal/kiln may", dir, im)
				}
			}
			if strings.HasPrefix(im, "github.com/containerd/") && !strings.HasPrefix(dir, "internal/runtime/containerd") && !strings.HasPrefix(dir, "bench/") {
				t.Errorf("%s imports %s: only internal/runtime/containerd imports containerd", dir, im)
			}
		}
	}
}
