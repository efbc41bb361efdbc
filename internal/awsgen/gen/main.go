// Command gen generates kiln's per-service API packages from the botocore
// service models. See the awsgen package documentation.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

func main() {
	def := os.Getenv("KILN_AWS_MODELS")
	if def == "" {
		def = "../../../shared/aws-models"
	}
	models := flag.String("models", def, "directory of botocore service models ($KILN_AWS_MODELS)")
	cfgPath := flag.String("config", "implemented.txt", "list of implemented operations")
	out := flag.String("out", ".", "output directory (one sub-package per service)")
	scope := flag.String("scope", "", "write the implemented-operations table (Markdown) here")
	flag.Parse()
	if err := run(*models, *cfgPath, *out, *scope); err != nil {
		fmt.Fprintln(os.Stderr, "awsgen:", err)
		os.Exit(1)
	}
}

func run(models, cfgPath, out, scope string) error {
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		return err
	}
	dirs, err := os.ReadDir(models)
	if err != nil {
		return err
	}
	var rows []scopeRow
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		svc := d.Name()
		m, err := loadModel(models, svc)
		if err != nil {
			return err
		}
		impl := cfg.ops[svc]
		for _, op := range append(append([]string(nil), impl...), cfg.hand[svc]...) {
			if _, ok := m.Operations[op]; !ok {
				return fmt.Errorf("implemented.txt: %s has no operation %s", svc, op)
			}
		}
		g := newGenerator(svc, m, impl)
		files, err := g.generate()
		if err != nil {
			return fmt.Errorf("%s: %w", svc, err)
		}
		dir := filepath.Join(out, g.pkg)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		for name, src := range files {
			if err := os.WriteFile(filepath.Join(dir, name), src, 0o644); err != nil {
				return err
			}
		}
		rows = append(rows, scopeRow{svc: svc, m: m, impl: append(append([]string(nil), impl...), cfg.hand[svc]...), hand: len(cfg.hand[svc]) > 0})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].svc < rows[j].svc })
	if scope != "" {
		return os.WriteFile(scope, scopeTable(rows), 0o644)
	}
	return nil
}
