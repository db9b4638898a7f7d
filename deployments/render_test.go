package deployments

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"text/template"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// object is one rendered Kubernetes object, decoded into its API type.
type object struct {
	kind string
	name string
	obj  any    // *appsv1.StatefulSet, *corev1.Service, ...
	src  string // the YAML it came from, for messages
}

// kinds maps apiVersion/kind onto the Go type a document must decode into.
// Anything else in the output is an error: the deployment has exactly
// these kinds of objects.
var kinds = map[string]func() any{
	"apps/v1/StatefulSet":           func() any { return new(appsv1.StatefulSet) },
	"v1/Service":                    func() any { return new(corev1.Service) },
	"v1/ConfigMap":                  func() any { return new(corev1.ConfigMap) },
	"policy/v1/PodDisruptionBudget": func() any { return new(policyv1.PodDisruptionBudget) },
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// decodeAll splits a multi-document YAML stream and decodes every
// non-empty document strictly (unknown or duplicate fields are errors).
func decodeAll(stream []byte) ([]object, error) {
	var out []object
	for i, doc := range docSeparator.Split(string(stream), -1) {
		if isBlankYAML(doc) {
			continue
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			return nil, fmt.Errorf("document %d: %v\n%s", i, err, doc)
		}
		newObj, ok := kinds[tm.APIVersion+"/"+tm.Kind]
		if !ok {
			return nil, fmt.Errorf("document %d: unexpected apiVersion %q kind %q\n%s", i, tm.APIVersion, tm.Kind, doc)
		}
		obj := newObj()
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			return nil, fmt.Errorf("document %d (%s): strict decoding: %v\n%s", i, tm.Kind, err, doc)
		}
		name := reflect.ValueOf(obj).Elem().FieldByName("ObjectMeta").Interface().(metav1.ObjectMeta).Name
		out = append(out, object{kind: tm.Kind, name: name, obj: obj, src: doc})
	}
	return out, nil
}

// isBlankYAML reports whether doc has nothing but comments and space.
func isBlankYAML(doc string) bool {
	for line := range strings.SplitSeq(doc, "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
			return false
		}
	}
	return true
}

// ---- kustomize ----

// kubectl returns the kubectl binary: $KUBECTL, else kubectl on PATH.
func kubectl(t *testing.T) string {
	t.Helper()
	if k := os.Getenv("KUBECTL"); k != "" {
		return k
	}
	k, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatal("kubectl not found: install Debian's kubernetes-client (scripts/install-deps.sh does) or set KUBECTL")
	}
	return k
}

// renderKustomize runs `kubectl kustomize dir` and decodes its output.
func renderKustomize(t *testing.T, dir string) []object {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(kubectl(t), "kustomize", dir)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, stderr.String())
	}
	objs, err := decodeAll(out)
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v", dir, err)
	}
	return objs
}

// ---- Helm ----

// chart is a Helm chart read from disk, ready to render.
type chart struct {
	meta   map[string]any // Chart.yaml, with Helm's field names (Name, Version, AppVersion)
	values map[string]any // values.yaml
	tmpl   *template.Template
	files  []string // templates to render, in name order
}

// loadChart reads dir (Chart.yaml, values.yaml, templates/) and parses the
// templates with helmFuncs: a template that calls any other function fails
// to parse, which keeps the chart to the functions this renderer knows.
func loadChart(dir string) (*chart, error) {
	c := &chart{}
	var meta struct {
		APIVersion  string   `json:"apiVersion"`
		Name        string   `json:"name"`
		Version     string   `json:"version"`
		AppVersion  string   `json:"appVersion"`
		Description string   `json:"description"`
		Type        string   `json:"type"`
		Home        string   `json:"home"`
		Sources     []string `json:"sources"`
		Keywords    []string `json:"keywords"`
	}
	data, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		return nil, err
	}
	if err := yaml.UnmarshalStrict(data, &meta); err != nil {
		return nil, fmt.Errorf("Chart.yaml: %v", err)
	}
	if meta.APIVersion != "v2" || meta.Name == "" || meta.Version == "" {
		return nil, fmt.Errorf("Chart.yaml: want apiVersion v2, a name and a version; got %+v", meta)
	}
	c.meta = map[string]any{"Name": meta.Name, "Version": meta.Version, "AppVersion": meta.AppVersion, "Description": meta.Description}

	data, err = os.ReadFile(filepath.Join(dir, "values.yaml"))
	if err != nil {
		return nil, err
	}
	// As Helm reads values: YAML through JSON, so numbers are float64.
	if err := yaml.Unmarshal(data, &c.values); err != nil {
		return nil, fmt.Errorf("values.yaml: %v", err)
	}

	c.tmpl = template.New(meta.Name).Option("missingkey=zero")
	c.tmpl.Funcs(helmFuncs(c.tmpl))
	paths, err := filepath.Glob(filepath.Join(dir, "templates", "*"))
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	for _, p := range paths {
		src, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		name := meta.Name + "/templates/" + filepath.Base(p)
		if _, err := c.tmpl.New(name).Parse(string(src)); err != nil {
			return nil, err
		}
		if !strings.HasPrefix(filepath.Base(p), "_") {
			c.files = append(c.files, name)
		}
	}
	return c, nil
}

// render executes every template with values (values.yaml merged with
// overrides) for a release, as `helm template` does. It returns the
// manifests and, separately, NOTES.txt.
func (c *chart) render(release string, overrides map[string]any) (manifests []byte, notes string, err error) {
	values := mergeValues(deepCopy(c.values).(map[string]any), overrides)
	data := map[string]any{
		"Values":  values,
		"Chart":   c.meta,
		"Release": map[string]any{"Name": release, "Namespace": "default", "Service": "Helm", "IsInstall": true, "IsUpgrade": false, "Revision": 1},
	}
	var out bytes.Buffer
	for _, name := range c.files {
		var b bytes.Buffer
		if err := c.tmpl.ExecuteTemplate(&b, name, data); err != nil {
			return nil, "", err
		}
		s := strings.ReplaceAll(b.String(), "<no value>", "")
		if strings.HasSuffix(name, "NOTES.txt") {
			notes = s
			continue
		}
		fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", name, s)
	}
	return out.Bytes(), notes, nil
}

// helmFuncs are the functions the chart may use, with Helm's (sprig's)
// meaning.
func helmFuncs(t *template.Template) template.FuncMap {
	return template.FuncMap{
		"include": func(name string, data any) (string, error) {
			var b strings.Builder
			err := t.ExecuteTemplate(&b, name, data)
			return b.String(), err
		},
		"required": func(msg string, v any) (any, error) {
			if v == nil {
				return nil, errors.New(msg)
			}
			if s, ok := v.(string); ok && s == "" {
				return nil, errors.New(msg)
			}
			return v, nil
		},
		"default": func(d any, v ...any) any {
			if len(v) == 0 || isEmpty(v[0]) {
				return d
			}
			return v[0]
		},
		"quote": func(v ...any) string {
			out := make([]string, 0, len(v))
			for _, s := range v {
				if s != nil {
					out = append(out, strconv.Quote(toString(s)))
				}
			}
			return strings.Join(out, " ")
		},
		"toYaml": func(v any) string {
			b, err := yaml.Marshal(v)
			if err != nil {
				return ""
			}
			return strings.TrimSuffix(string(b), "\n")
		},
		"indent":  indent,
		"nindent": func(n int, s string) string { return "\n" + indent(n, s) },
		"trunc": func(n int, s string) string {
			switch {
			case n < 0 && -n < len(s):
				return s[len(s)+n:]
			case n >= 0 && n < len(s):
				return s[:n]
			}
			return s
		},
		"trimSuffix": func(suffix, s string) string { return strings.TrimSuffix(s, suffix) },
		"until": func(n int) []int {
			out := make([]int, 0, max(n, 0))
			for i := 0; i < n; i++ {
				out = append(out, i)
			}
			return out
		},
		"int": toInt,
		"sha256sum": func(s string) string {
			h := sha256.Sum256([]byte(s))
			return hex.EncodeToString(h[:])
		},
	}
}

func indent(n int, s string) string {
	pad := strings.Repeat(" ", n)
	return pad + strings.ReplaceAll(s, "\n", "\n"+pad)
}

// isEmpty is sprig's notion of an empty value, for default.
func isEmpty(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return rv.Len() == 0
	case reflect.Bool:
		return !rv.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int() == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return rv.Uint() == 0
	case reflect.Float32, reflect.Float64:
		return rv.Float() == 0
	case reflect.Pointer, reflect.Interface:
		return rv.IsNil()
	}
	return false
}

func toString(v any) string {
	switch s := v.(type) {
	case string:
		return s
	case []byte:
		return string(s)
	case fmt.Stringer:
		return s.String()
	}
	return fmt.Sprint(v)
}

// toInt is sprig's int (cast.ToInt): numbers and numeric strings; 0 else.
func toInt(v any) int {
	switch n := v.(type) {
	case int:
		return n
	case int64:
		return int(n)
	case float64:
		return int(n)
	case string:
		i, _ := strconv.Atoi(strings.TrimSpace(n))
		return i
	case bool:
		if n {
			return 1
		}
	}
	return 0
}

// mergeValues merges overrides into dst, maps key by key, as `helm
// --set`/`-f` do; an override's nil deletes the key.
func mergeValues(dst, overrides map[string]any) map[string]any {
	for k, v := range overrides {
		if v == nil {
			delete(dst, k)
			continue
		}
		if om, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				dst[k] = mergeValues(dm, om)
				continue
			}
		}
		dst[k] = deepCopy(v)
	}
	return dst
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = deepCopy(e)
		}
		return s
	}
	return v
}

// renderChart loads the chart and renders it, failing the test on error.
func renderChart(t *testing.T, release string, overrides map[string]any) ([]object, string) {
	t.Helper()
	c, err := loadChart(helmChartDir)
	if err != nil {
		t.Fatalf("chart: %v", err)
	}
	out, notes, err := c.render(release, overrides)
	if err != nil {
		t.Fatalf("chart: render: %v", err)
	}
	objs, err := decodeAll(out)
	if err != nil {
		t.Fatalf("chart: %v", err)
	}
	return objs, notes
}

// TestHelmRenderer pins the renderer's functions to Helm's behaviour on
// the cases the chart relies on.
func TestHelmRenderer(t *testing.T) {
	tmpl := template.New("t").Option("missingkey=zero")
	tmpl.Funcs(helmFuncs(tmpl))
	template.Must(tmpl.New("def").Parse(`{{- define "x" -}}a: {{ . }}
b: 2{{- end -}}`))
	for _, tc := range []struct{ src, want string }{
		{`{{ default "d" "" }} {{ default "d" "v" }} {{ default 3 0.0 }} {{ default 3 5.0 }}`, "d v 3 5"},
		{`{{ quote "a\"b" }} {{ quote 3.0 }}`, `"a\"b" "3"`},
		{`{{ toYaml .m }}`, "a: 1\nb:\n- x"},
		{`x:{{ include "x" 1 | nindent 2 }}`, "x:\n  a: 1\n  b: 2"},
		{`{{ include "x" 1 | indent 1 }}`, " a: 1\n b: 2"},
		{`{{ "abcdef" | trunc 3 }} {{ "ab-" | trimSuffix "-" }}`, "abc ab"},
		{`{{ range until (int 3.0) }}{{ . }}{{ end }}`, "012"},
		{`{{ int "" }} {{ int "7" }}`, "0 7"},
		{`{{ sha256sum "" }}`, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{`{{ required "need it" "ok" }}`, "ok"},
	} {
		tt := template.Must(tmpl.New("case").Parse(tc.src))
		var b strings.Builder
		if err := tt.Execute(&b, map[string]any{"m": map[string]any{"a": 1, "b": []any{"x"}}}); err != nil {
			t.Errorf("%s: %v", tc.src, err)
			continue
		}
		if b.String() != tc.want {
			t.Errorf("%s = %q, want %q", tc.src, b.String(), tc.want)
		}
	}
	tt := template.Must(tmpl.New("req").Parse(`{{ required "tls.secretName is required" "" }}`))
	if err := tt.Execute(new(strings.Builder), nil); err == nil || !strings.Contains(err.Error(), "tls.secretName is required") {
		t.Errorf("required of an empty value: %v", err)
	}
	if _, err := template.New("t").Funcs(helmFuncs(tmpl)).Parse(`{{ lookup "v1" "Secret" "" "" }}`); err == nil {
		t.Error("a function the renderer does not offer parsed")
	}
}
