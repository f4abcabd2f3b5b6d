package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// Report is one output line.
type Report struct {
	APIVersion string  `json:"apiVersion"`
	Kind       string  `json:"kind"`
	Namespace  string  `json:"namespace,omitempty"`
	Name       string  `json:"name"`
	Kstatus    Verdict `json:"kstatus"`
	// ArgoCD is nil when no health.lua exists for the object's group and kind.
	ArgoCD *Verdict `json:"argocd"`
}

// Verdict is a status and the message that explains it.
type Verdict struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

// decodeObjects reads one object or a List. unstructured's own decoder keeps integers as int64,
// as kstatus (unstructured.NestedInt64) and Argo CD's Lua decoding expect; encoding/json alone
// would give float64 and kstatus would refuse metadata.generation.
func decodeObjects(data []byte) ([]*unstructured.Unstructured, error) {
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON(data); err != nil {
		return nil, fmt.Errorf("not a Kubernetes object or List: %w", err)
	}
	if !obj.IsList() {
		return []*unstructured.Unstructured{obj}, nil
	}
	list, err := obj.ToList()
	if err != nil {
		return nil, err
	}
	objects := make([]*unstructured.Unstructured, 0, len(list.Items))
	for i := range list.Items {
		objects = append(objects, &list.Items[i])
	}
	return objects, nil
}

func assess(obj *unstructured.Unstructured, luaDir string) (Report, error) {
	report := Report{
		APIVersion: obj.GetAPIVersion(),
		Kind:       obj.GetKind(),
		Namespace:  obj.GetNamespace(),
		Name:       obj.GetName(),
	}
	result, err := status.Compute(obj)
	if err != nil {
		return report, fmt.Errorf("kstatus: %w", err)
	}
	report.Kstatus = Verdict{Status: result.Status.String(), Message: result.Message}

	gvk := obj.GroupVersionKind()
	script := filepath.Join(luaDir, gvk.Group, gvk.Kind, "health.lua")
	source, err := os.ReadFile(script)
	if errors.Is(err, os.ErrNotExist) {
		return report, nil
	}
	if err != nil {
		return report, err
	}
	health, err := executeHealthLua(obj, string(source))
	if err != nil {
		return report, fmt.Errorf("%s: %w", script, err)
	}
	report.ArgoCD = &health
	return report, nil
}

// Argo CD's health statuses (gitops-engine pkg/health HealthStatusCode).
var healthStatuses = map[string]bool{
	"Unknown": true, "Progressing": true, "Healthy": true, "Suspended": true, "Degraded": true, "Missing": true,
}

// executeHealthLua runs a health script as Argo CD runs one from argocd-cm (util/lua/lua.go,
// VM.runLua and ExecuteHealthLua): the standard libraries are not opened except package, base
// and table (Argo CD adds a safe subset of os, which our scripts do not use), the object is the
// global `obj`, the run has a one-second deadline, and the script must return a table whose status
// is one of the health statuses; any other status reads as Unknown.
func executeHealthLua(obj *unstructured.Unstructured, script string) (Verdict, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
	} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return Verdict{}, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", decodeValue(l, obj.Object))
	if err := l.DoString(script); err != nil {
		return Verdict{}, err
	}
	returned := l.Get(-1)
	table, ok := returned.(*lua.LTable)
	if !ok {
		return Verdict{}, fmt.Errorf("expect table output from Lua script, not %s", returned.Type().String())
	}
	verdict := Verdict{Status: lua.LVAsString(table.RawGetString("status")), Message: lua.LVAsString(table.RawGetString("message"))}
	if !healthStatuses[verdict.Status] {
		return Verdict{Status: "Unknown", Message: "Lua returned an invalid health status"}, nil
	}
	return verdict, nil
}

// decodeValue turns the object into Lua values as Argo CD's decodeValue does: maps become tables
// keyed by string, slices become arrays (1-based), numbers become Lua numbers.
func decodeValue(l *lua.LState, value interface{}) lua.LValue {
	switch v := value.(type) {
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case int:
		return lua.LNumber(v)
	case int32:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case []interface{}:
		arr := l.CreateTable(len(v), 0)
		for _, item := range v {
			arr.Append(decodeValue(l, item))
		}
		return arr
	case map[string]interface{}:
		tbl := l.CreateTable(0, len(v))
		for key, item := range v {
			tbl.RawSetH(lua.LString(key), decodeValue(l, item))
		}
		return tbl
	}
	return lua.LNil
}
