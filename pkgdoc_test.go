package haetae_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPackageDocs holds every package of the repository to one package doc comment, in one file, saying
// what the package is for (STYLE.md; as Tailscale's pkgdoc_test does).
func TestPackageDocs(t *testing.T) {
	docs := map[string][]string{} // dir → files with a package doc
	dirs := map[string]bool{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != "." || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		dir := filepath.Dir(path)
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		if strings.HasSuffix(f.Name.Name, "_test") {
			return nil // external test packages document nothing of their own
		}
		dirs[dir] = true
		if f.Doc != nil {
			docs[dir] = append(docs[dir], path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for dir := range dirs {
		switch files := docs[dir]; len(files) {
		case 1:
		case 0:
			if _, err := os.Stat(dir); err == nil {
				t.Errorf("package in %s has no package doc comment", dir)
			}
		default:
			t.Errorf("package in %s has %d package doc comments: %v", dir, len(files), files)
		}
	}
}
