package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// healthTestFile is Argo CD's health_test.yaml beside a health.lua: each test names an input
// object (testdata/*.yaml) and the health the script must return for it.
type healthTestFile struct {
	Tests []struct {
		HealthStatus Verdict `json:"healthStatus"`
		InputPath    string  `json:"inputPath"`
	} `json:"tests"`
}

// runHealthTests runs every <group>/<Kind>/health_test.yaml under luaDir as Argo CD's own
// TestLuaHealthScript does (util/lua), and reports each mismatch. It returns how many tests ran.
func runHealthTests(luaDir string, stdout io.Writer) (int, error) {
	files, err := filepath.Glob(filepath.Join(luaDir, "*", "*", "health_test.yaml"))
	if err != nil {
		return 0, err
	}
	sort.Strings(files)
	if len(files) == 0 {
		return 0, fmt.Errorf("no <group>/<Kind>/health_test.yaml under %s", luaDir)
	}
	ran, failed := 0, 0
	for _, file := range files {
		dir := filepath.Dir(file)
		source, err := os.ReadFile(filepath.Join(dir, "health.lua"))
		if err != nil {
			return ran, err
		}
		var tests healthTestFile
		if err := readYAML(file, &tests); err != nil {
			return ran, err
		}
		if len(tests.Tests) == 0 {
			return ran, fmt.Errorf("%s: tests is empty", file)
		}
		for _, test := range tests.Tests {
			input := filepath.Join(dir, test.InputPath)
			data, err := os.ReadFile(input)
			if err != nil {
				return ran, err
			}
			// Through JSON into unstructured, so integers are int64 as on the live path.
			jsonData, err := yaml.YAMLToJSON(data)
			if err != nil {
				return ran, fmt.Errorf("%s: %w", input, err)
			}
			obj := &unstructured.Unstructured{}
			if err := obj.UnmarshalJSON(jsonData); err != nil {
				return ran, fmt.Errorf("%s: %w", input, err)
			}
			got, err := executeHealthLua(obj, string(source))
			if err != nil {
				return ran, fmt.Errorf("%s on %s: %w", filepath.Join(dir, "health.lua"), input, err)
			}
			ran++
			if got != test.HealthStatus {
				failed++
				fmt.Fprintf(stdout, "FAIL %s: want %s %q, got %s %q\n", input, test.HealthStatus.Status, test.HealthStatus.Message, got.Status, got.Message)
				continue
			}
			fmt.Fprintf(stdout, "ok   %s: %s\n", input, got.Status)
		}
	}
	if failed > 0 {
		return ran, fmt.Errorf("%d of %d health tests failed", failed, ran)
	}
	return ran, nil
}

func readYAML(path string, into interface{}) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := yaml.Unmarshal(data, into); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
