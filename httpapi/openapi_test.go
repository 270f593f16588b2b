package httpapi

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const openAPIFile = "../docs/openapi.yaml"

// operation is one endpoint: a path, a lower-case method and its name (the metric label in routes.go,
// the operationId in the OpenAPI document).
type operation struct {
	path, method, name string
}

func (o operation) String() string {
	return fmt.Sprintf("%s %s (%s)", strings.ToUpper(o.method), o.path, o.name)
}

// TestOpenAPIMatchesRoutes holds docs/openapi.yaml to routes.go: the same paths, the same methods, and
// each operationId equal to the route's name.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	registered := mustRegisteredOperations(t)
	documented := mustDocumentedOperations(t, mustReadFile(t, openAPIFile))
	for op := range registered {
		if !documented[op] {
			t.Errorf("routes.go registers %s, which %s does not describe", op, openAPIFile)
		}
	}
	for op := range documented {
		if !registered[op] {
			t.Errorf("%s describes %s, which routes.go does not register", openAPIFile, op)
		}
	}
}

// TestOpenAPIErrorCodes holds the document's ErrorCode enum to the code→status table of errors.go.
func TestOpenAPIErrorCodes(t *testing.T) {
	var documented []string
	scanYAML(mustReadFile(t, openAPIFile), func(keys []string, value string, item bool) {
		if item && slices.Equal(keys, []string{"components", "schemas", "ErrorCode", "enum"}) {
			documented = append(documented, value)
		}
	})
	if len(documented) == 0 {
		t.Fatalf("%s has no components.schemas.ErrorCode.enum", openAPIFile)
	}
	seen := map[string]bool{}
	for _, code := range documented {
		if seen[code] {
			t.Errorf("ErrorCode lists %q twice", code)
		}
		seen[code] = true
		if _, ok := statusOf[code]; !ok {
			t.Errorf("ErrorCode lists %q, which errors.go's statusOf does not know", code)
		}
	}
	for code := range statusOf {
		if !seen[code] {
			t.Errorf("errors.go's statusOf has %q, which the ErrorCode enum lacks", code)
		}
	}
}

// TestOpenAPIRefsResolve checks that every $ref of the document names a component it defines.
func TestOpenAPIRefsResolve(t *testing.T) {
	defined := map[string]bool{}
	var refs []string
	scanYAML(mustReadFile(t, openAPIFile), func(keys []string, value string, item bool) {
		if !item && len(keys) == 3 && keys[0] == "components" {
			defined["#/"+strings.Join(keys, "/")] = true
		}
		if len(keys) > 0 && keys[len(keys)-1] == "$ref" {
			refs = append(refs, value)
		}
		if item && strings.HasPrefix(value, "$ref: ") {
			refs = append(refs, unquoteYAML(strings.TrimPrefix(value, "$ref: ")))
		}
	})
	if len(refs) == 0 {
		t.Fatalf("no $ref found in %s", openAPIFile)
	}
	for _, ref := range refs {
		if !defined[ref] {
			t.Errorf("%s refers to %s, which it does not define", openAPIFile, ref)
		}
	}
}

// mustRegisteredOperations builds a Server and records what routes.go registers through recordRoute.
// The catch-all "/" (a JSON 404 for unknown paths) is not an endpoint and is left out.
func mustRegisteredOperations(tb testing.TB) map[operation]bool {
	tb.Helper()
	ops := map[operation]bool{}
	calls := 0
	recordRoute = func(path string, methods map[string]method) {
		calls++
		if path == "/" {
			return
		}
		for m, h := range methods {
			ops[operation{path, strings.ToLower(m), h.name}] = true
		}
	}
	defer func() { recordRoute = nil }()
	(&Server{}).Handler()
	if calls == 0 {
		tb.Fatal("recordRoute was never called: Server.handle in server.go must begin with " +
			"`if recordRoute != nil { recordRoute(path, methods) }`")
	}
	return ops
}

// mustDocumentedOperations lists the operations of an OpenAPI document, failing on a method without an
// operationId or an operationId used twice.
func mustDocumentedOperations(tb testing.TB, doc string) map[operation]bool {
	tb.Helper()
	httpMethods := []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}
	type pathMethod struct{ path, method string }
	ids := map[pathMethod]string{}
	var order []pathMethod
	scanYAML(doc, func(keys []string, value string, item bool) {
		if item || len(keys) < 3 || keys[0] != "paths" || !slices.Contains(httpMethods, keys[2]) {
			return
		}
		pm := pathMethod{keys[1], keys[2]}
		switch {
		case len(keys) == 3:
			ids[pm] = ""
			order = append(order, pm)
		case len(keys) == 4 && keys[3] == "operationId":
			ids[pm] = value
		}
	})
	if len(ids) == 0 {
		tb.Fatalf("no operations found under paths: in %s", openAPIFile)
	}
	ops := map[operation]bool{}
	byID := map[string]pathMethod{}
	for _, pm := range order {
		id := ids[pm]
		if id == "" {
			tb.Errorf("%s %s has no operationId", strings.ToUpper(pm.method), pm.path)
			continue
		}
		if other, ok := byID[id]; ok {
			tb.Errorf("operationId %q names both %s %s and %s %s", id,
				strings.ToUpper(other.method), other.path, strings.ToUpper(pm.method), pm.path)
		}
		byID[id] = pm
		ops[operation{pm.path, pm.method, id}] = true
	}
	return ops
}

func mustReadFile(tb testing.TB, name string) string {
	tb.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// scanYAML walks a block-style YAML document line by line and calls fn for every mapping entry, with
// the keys that lead to it (its own last) and its value, and for every list item, with the keys of the
// list and the item's text. Block scalars (| and >) are skipped. It is enough for docs/openapi.yaml,
// whose layout is plain block style with no multi-line flow values; it is not a YAML parser, which this
// module does not otherwise need.
func scanYAML(doc string, fn func(keys []string, value string, item bool)) {
	type level struct {
		indent int
		key    string
	}
	var stack []level
	block := -1 // while >= 0, lines indented more than this belong to a block scalar
	for _, raw := range strings.Split(doc, "\n") {
		raw = strings.TrimRight(raw, " \r")
		text := strings.TrimLeft(raw, " ")
		indent := len(raw) - len(text)
		if block >= 0 {
			if text == "" || indent > block {
				continue
			}
			block = -1
		}
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		for len(stack) > 0 && stack[len(stack)-1].indent >= indent {
			stack = stack[:len(stack)-1]
		}
		keys := make([]string, 0, len(stack)+1)
		for _, l := range stack {
			keys = append(keys, l.key)
		}
		if rest, ok := strings.CutPrefix(text, "- "); ok {
			fn(keys, unquoteYAML(rest), true)
			// "- key: value" opens a mapping whose keys sit two columns further in.
			if _, v, ok := splitYAMLKey(rest); ok && isBlockScalar(v) {
				block = indent + 2
			}
			continue
		}
		k, v, ok := splitYAMLKey(text)
		if !ok {
			continue
		}
		fn(append(keys, k), v, false)
		if isBlockScalar(v) {
			block = indent
		}
		stack = append(stack, level{indent, k})
	}
}

// splitYAMLKey splits "key: value" (or "key:"), with the key plain or double-quoted.
func splitYAMLKey(text string) (key, value string, ok bool) {
	if strings.HasPrefix(text, `"`) {
		end := strings.Index(text[1:], `"`)
		if end < 0 || !strings.HasPrefix(text[end+2:], ":") {
			return "", "", false
		}
		key, value = text[1:end+1], text[end+3:]
	} else if i := strings.Index(text, ": "); i >= 0 {
		key, value = text[:i], text[i+2:]
	} else if strings.HasSuffix(text, ":") {
		key = strings.TrimSuffix(text, ":")
	} else {
		return "", "", false
	}
	return key, unquoteYAML(strings.TrimSpace(value)), true
}

func unquoteYAML(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		if u, err := strconv.Unquote(s); err == nil {
			return u
		}
	}
	if len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'' {
		return strings.ReplaceAll(s[1:len(s)-1], "''", "'")
	}
	return s
}

func isBlockScalar(v string) bool {
	return v != "" && (v[0] == '|' || v[0] == '>')
}
