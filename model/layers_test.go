package model_test

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/backlogctl/backlogctl/"

// judges are the packages that judge or render a model: they must build
// from the model alone, without the collector (netlink, /proc, setns).
var judges = []string{"advise", "check", "metrics"}

// allowed are the only packages of this module a judge may link: the model,
// the data-only sysctl registry, JSON formatting, the judges themselves
// (check reuses advise's rules), the reader of a file the user names
// (check's policy), which reads no host state, and the "did you mean" of
// their errors.
var allowed = []string{"model", "sysctl/registry", "internal/jsonfmt", "internal/userfile", "internal/suggest", "advise", "check", "metrics"}

// TestJudgesDoNotImportTheCollector lists every package each judge links
// (`go list -deps`, tests excluded) and fails on any package of this module
// outside allowed, such as inspect, netns, rlimit or sysctl, and on the
// netlink libraries.
func TestJudgesDoNotImportTheCollector(t *testing.T) {
	gobin := goCommand(t)
	for _, judge := range judges {
		t.Run(judge, func(t *testing.T) {
			cmd := exec.Command(gobin, "list", "-deps", "-f", "{{.ImportPath}}", module+judge)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("go list -deps %s: %v", judge, err)
			}
			deps := strings.Fields(string(out))
			if !slices.Contains(deps, module+"model") && judge != "model" {
				t.Errorf("%s does not link the model; is the package list stale?", judge)
			}
			for _, dep := range deps {
				if strings.HasPrefix(dep, "github.com/vishvananda/") {
					t.Errorf("%s links %s, a netlink library", judge, dep)
				}
				rel, ours := strings.CutPrefix(dep, module)
				if ours && !slices.Contains(allowed, rel) {
					t.Errorf("%s links %s, which is not the model: judges must not import the collector", judge, rel)
				}
			}
		})
	}
}

// The layers of ../shared/ARCHITECTURE.md, as this test holds the code to
// them (README's "Development" section names them the same way).
var (
	// collectorLayer reads and writes the host: collect (every read and the
	// joins) and the readers it uses, one per source -- inspect (sock_diag,
	// the counters, the /proc/*/fd walk), netns (entering a namespace),
	// hostfs (the /proc/PID files on one root), trace (the eBPF programs
	// and their raw maps), pods (the node's container runtime, asked for
	// the pod and container a cgroup belongs to), rlimit and sysctl (limits
	// and tunables, read and written: tune, sysctl set and rlimit set write
	// through them).
	collectorLayer = []string{"collect", "inspect", "netns", "hostfs", "trace", "pods", "rlimit", "sysctl", "sysctl/registry"}
	// readers are the collector layer's readers that nothing above it
	// calls: commands read the host through collect. (rlimit and sysctl
	// are also the writers, which tune, sysctl and rlimit set call.)
	readers = []string{"inspect", "netns", "trace", "pods"}
	// testSupport are packages only tests import, which make the
	// namespaces, sockets, servers and fixtures the tests need.
	testSupport = []string{"internal/nstest", "netns/netnstest", "sysctl/sysctltest", "trace/tracetest", "pods/podstest"}
	// kernelLibraries speak netlink, load eBPF programs or parse procfs.
	kernelLibraries = []string{"github.com/vishvananda/", "github.com/cilium/ebpf", "github.com/prometheus/procfs"}
	// hostfsValues are what a package above the collector may use of
	// hostfs: the roots it passes to the collector and the writers, never
	// a reader.
	hostfsValues = []string{"Roots", "Host", "WithDefaults", "Proc", "Sys", "Netns", "Runtime", "EnvRuntimeEndpoint"}
)

// listed is one package as go list describes it.
type listed struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	Imports    []string
	Export     string
	Module     *struct{ Path string }
}

// listModule lists every package of the module and its dependencies, with
// their compiled export data (go list -export), non-test files only.
func listModule(t *testing.T) (ours []listed, exports map[string]string) {
	t.Helper()
	gobin := goCommand(t)
	cmd := exec.Command(gobin, "list", "-export", "-deps", "-json=ImportPath,Dir,GoFiles,Imports,Export,Module", "./...")
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	exports = map[string]string{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p listed
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		exports[p.ImportPath] = p.Export
		if p.Module != nil && p.Module.Path+"/" == module {
			ours = append(ours, p)
		}
	}
	return ours, exports
}

// goCommand is the go command of the toolchain running the tests.
func goCommand(t *testing.T) string {
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := exec.LookPath(gobin); err != nil {
		if gobin, err = exec.LookPath("go"); err != nil {
			t.Skip("no go command to list packages with")
		}
	}
	return gobin
}

func rel(importPath string) string { return strings.TrimPrefix(importPath, module) }

func in(list []string, pkg string) bool { return slices.Contains(list, pkg) }

// under reports whether pkg is dir or below it.
func under(pkg, dir string) bool { return pkg == dir || strings.HasPrefix(pkg, dir+"/") }

// The collector layer alone speaks to the kernel: nothing above it imports
// netlink, cilium/ebpf or procfs, or calls a reader (inspect, netns, trace,
// or any of hostfs but the roots it hands on); every internal/cmd package
// imports no other command.
func TestOnlyTheCollectorReadsTheHost(t *testing.T) {
	ours, exports := listModule(t)
	for _, p := range ours {
		name := rel(p.ImportPath)
		collector := in(collectorLayer, name) || in(testSupport, name) || under(name, "scripts")
		for _, imp := range p.Imports {
			for _, lib := range kernelLibraries {
				if strings.HasPrefix(imp, lib) && !collector {
					t.Errorf("%s imports %s: only the collector layer speaks to the kernel", name, imp)
				}
			}
			dep, ours := strings.CutPrefix(imp, module)
			if !ours {
				continue
			}
			if in(readers, dep) && !collector {
				t.Errorf("%s imports %s, a reader: above the collector, read the host through collect", name, dep)
			}
			if under(name, "internal/cmd") && name != "internal/cmd/root" && name != "internal/cmd/app" && under(dep, "internal/cmd") {
				t.Errorf("%s imports %s: a command imports no other command; share library code instead", name, dep)
			}
		}
		if !collector && slices.Contains(p.Imports, module+"hostfs") {
			checkHostfsUse(t, p, exports)
		}
	}
}

// checkHostfsUse fails on every use p makes of hostfs beyond its roots.
func checkHostfsUse(t *testing.T, p listed, exports map[string]string) {
	t.Helper()
	info, _ := typeCheck(t, p, exports)
	for id, obj := range info.Uses {
		if obj.Pkg() == nil || obj.Pkg().Path() != module+"hostfs" || in(hostfsValues, obj.Name()) {
			continue
		}
		t.Errorf("%s uses hostfs.%s at %s: above the collector, read the host through collect", rel(p.ImportPath), obj.Name(), id.Name)
	}
}

// typeCheck type-checks p's non-test files against its dependencies'
// export data.
func typeCheck(t *testing.T, p listed, exports map[string]string) (*types.Info, []*ast.File) {
	t.Helper()
	fset := token.NewFileSet()
	var files []*ast.File
	for _, f := range p.GoFiles {
		file, err := parser.ParseFile(fset, filepath.Join(p.Dir, f), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, file)
	}
	lookup := func(path string) (io.ReadCloser, error) {
		return openFile(exports[path])
	}
	conf := types.Config{Importer: importer.ForCompiler(fset, "gc", lookup)}
	info := &types.Info{Uses: map[*ast.Ident]types.Object{}, Defs: map[*ast.Ident]types.Object{}}
	if _, err := conf.Check(p.ImportPath, fset, files, info); err != nil {
		t.Fatalf("type-checking %s: %v", p.ImportPath, err)
	}
	return info, files
}

// evidenceField names what tracing measures at a listener: high water,
// overflows by site, accept waits, stalls, accept errors, enqueues.
var evidenceField = regexp.MustCompile(`(?i)^(acceptqueue)?highwater|^intervalhighwater|^overflows(syntime|acktime)$|^acceptwait|^waitbuckets$|^waitcount$|^waitsum|^stall(seconds|queue|owners)$|^stalled(seconds)?$|^accepterrors$|^enqueued$`)

// rawTrace are trace's own shapes: the programs' maps (bpf2go's types and
// Collector.Snapshot's copy of them) and their recordings.
var rawTrace = regexp.MustCompile(`^(bpf[A-Z]\w*|Evidence|ListenerEvidence|Wait|AcceptErrors|TraceRecording|RecordedRead|RecordedListener|RecordedAcceptErrs)$`)

// No package but model defines a traced evidence type: a struct that keeps
// what tracing measured (high water, overflows by site, accept waits,
// stalls, accept errors, enqueues) in fields of its own types, rather than
// in model's, is a copy of the kind the model replaced (advise's, check's,
// metrics', watch's and trace's report once). trace alone keeps its own
// shapes, of the programs' raw maps (rawTrace) and their recordings, which
// collect joins into the model.
func TestOnlyTheModelDefinesTracedEvidence(t *testing.T) {
	ours, exports := listModule(t)
	for _, p := range ours {
		name := rel(p.ImportPath)
		if name == "model" || in(testSupport, name) || under(name, "scripts") || len(p.GoFiles) == 0 {
			continue
		}
		info, _ := typeCheck(t, p, exports)
		for _, obj := range info.Defs {
			tn, ok := obj.(*types.TypeName)
			if !ok || tn.Parent() != tn.Pkg().Scope() {
				continue
			}
			if name == "trace" && rawTrace.MatchString(tn.Name()) {
				continue
			}
			st, ok := tn.Type().Underlying().(*types.Struct)
			if !ok {
				continue
			}
			for i := 0; i < st.NumFields(); i++ {
				f := st.Field(i)
				if evidenceField.MatchString(f.Name()) && !fromModel(f.Type()) {
					t.Errorf("%s.%s has field %s %s: traced evidence is kept in model's types", name, tn.Name(), f.Name(), f.Type())
				}
			}
		}
	}
}

// fromModel reports whether t is a model type, or a pointer, slice, array
// or map of them.
func fromModel(t types.Type) bool {
	for {
		switch u := t.(type) {
		case *types.Pointer:
			t = u.Elem()
		case *types.Slice:
			t = u.Elem()
		case *types.Array:
			t = u.Elem()
		case *types.Map:
			t = u.Elem()
		case *types.Named:
			return u.Obj().Pkg() != nil && u.Obj().Pkg().Path() == module+"model"
		default:
			return false
		}
	}
}

func openFile(path string) (io.ReadCloser, error) {
	if path == "" {
		return nil, fmt.Errorf("no export data")
	}
	return os.Open(path)
}
