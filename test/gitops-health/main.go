// Command gitops-health tells how GitOps tools read the health of Kubernetes objects: for each
// object it prints the kstatus result (sigs.k8s.io/cli-utils pkg/kstatus, what Flux's health checks
// and `wait: true` use) and the Argo CD health from our Lua health checks, run in gopher-lua the
// way Argo CD runs a resource customization from argocd-cm.
//
// Usage: gitops-health -lua-dir deploy/argocd/resource_customizations [file.json ...]
//
//	gitops-health -lua-dir deploy/argocd/resource_customizations -health-tests
//
// Each input (a file, or stdin when none is given) is what `kubectl get -o json` prints: one object
// or a List. The output is one JSON line per object, in input order. With -health-tests it runs
// every <group>/<Kind>/health_test.yaml instead, as Argo CD's own tests of its health checks do.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	luaDir := flag.String("lua-dir", "", "folder of Argo CD health checks laid out as <group>/<Kind>/health.lua")
	healthTests := flag.Bool("health-tests", false, "run each <group>/<Kind>/health_test.yaml under -lua-dir")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: gitops-health -lua-dir DIR [file.json ...] (stdin when no file is given)")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *luaDir == "" {
		fmt.Fprintln(os.Stderr, "gitops-health: -lua-dir is required (the folder holding <group>/<Kind>/health.lua)")
		os.Exit(2)
	}
	if *healthTests {
		ran, err := runHealthTests(*luaDir, os.Stdout)
		if err != nil {
			fmt.Fprintln(os.Stderr, "gitops-health:", err)
			os.Exit(1)
		}
		fmt.Printf("%d health tests passed\n", ran)
		return
	}
	if err := run(*luaDir, flag.Args(), os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "gitops-health:", err)
		os.Exit(1)
	}
}

func run(luaDir string, files []string, stdin io.Reader, stdout io.Writer) error {
	inputs := map[string]io.Reader{}
	names := files
	if len(files) == 0 {
		names = []string{"<stdin>"}
		inputs["<stdin>"] = stdin
	}
	out := json.NewEncoder(stdout)
	for _, name := range names {
		data, err := readInput(name, inputs)
		if err != nil {
			return err
		}
		objects, err := decodeObjects(data)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		for _, obj := range objects {
			report, err := assess(obj, luaDir)
			if err != nil {
				return fmt.Errorf("%s: %s %s/%s: %w", name, obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
			}
			if err := out.Encode(report); err != nil {
				return err
			}
		}
	}
	return nil
}

func readInput(name string, inputs map[string]io.Reader) ([]byte, error) {
	if r, ok := inputs[name]; ok {
		return io.ReadAll(r)
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("empty input: expected the JSON of `kubectl get -o json`")
	}
	return data, nil
}
