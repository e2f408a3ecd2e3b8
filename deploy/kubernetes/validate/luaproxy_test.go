package validate

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// repoRoot is luaproxy's main module, whose binary checks the settings.
const repoRoot = "../../.."

// TestLuaproxyAcceptsManifests runs `luaproxy check-config` with each
// overlay's arguments and environment (the upstream URL taken from its
// Secret, ConfigMap volumes written to a scratch directory), and
// `luaproxy lint-functions` on each ConfigMap of function libraries: what
// the manifests ask of luaproxy, luaproxy accepts.
func TestLuaproxyAcceptsManifests(t *testing.T) {
	if testing.Short() {
		t.Skip("builds luaproxy")
	}
	bin := filepath.Join(t.TempDir(), "luaproxy")
	build := exec.Command("go", "build", "-o", bin, "./cmd/proxy")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/proxy: %v\n%s", err, out)
	}
	for _, overlay := range []string{"overlays/sidecar", "overlays/shared"} {
		t.Run(overlay, func(t *testing.T) {
			objs := render(t, filepath.Join(kustomizeRoot, overlay))
			for _, d := range objs.deployments {
				pod := d.Spec.Template.Spec
				c, _ := luaproxyContainer(t, pod)
				args, env := c.Args, []string{"PATH=" + os.Getenv("PATH")}
				for _, m := range c.VolumeMounts {
					dir := writeConfigMapVolume(t, m, pod, objs)
					if dir == "" {
						continue
					}
					for i, a := range args {
						args[i] = strings.Replace(a, "="+m.MountPath, "="+dir, 1)
					}
					run(t, bin, "lint-functions", dir)
				}
				for _, e := range c.Env {
					if !strings.HasPrefix(e.Name, "LUAPROXY_") {
						continue
					}
					v := e.Value
					if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
						v = secretValue(t, objs, e.ValueFrom.SecretKeyRef)
					}
					env = append(env, e.Name+"="+v)
				}
				cmd := exec.Command(bin, append([]string{"check-config"}, args...)...)
				cmd.Env = env
				out, err := cmd.CombinedOutput()
				if err != nil || strings.TrimSpace(string(out)) != "config ok" {
					t.Errorf("Deployment %s: luaproxy check-config %s: %v\n%s", d.Name, strings.Join(args, " "), err, out)
				}
			}
		})
	}
}

// writeConfigMapVolume writes the ConfigMap behind mount m, if it is one,
// to a scratch directory and returns it; "" for other volumes.
func writeConfigMapVolume(t *testing.T, m corev1.VolumeMount, pod corev1.PodSpec, objs objects) string {
	t.Helper()
	for _, v := range pod.Volumes {
		if v.Name != m.Name || v.ConfigMap == nil {
			continue
		}
		for _, cm := range objs.configMaps {
			if cm.Name != v.ConfigMap.Name {
				continue
			}
			dir := t.TempDir()
			for file, body := range cm.Data {
				if err := os.WriteFile(filepath.Join(dir, file), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			return dir
		}
		t.Fatalf("volume %s: ConfigMap %s is not rendered", v.Name, v.ConfigMap.Name)
	}
	return ""
}

func secretValue(t *testing.T, objs objects, ref *corev1.SecretKeySelector) string {
	t.Helper()
	for _, s := range objs.secrets {
		if s.Name != ref.Name {
			continue
		}
		if v, ok := s.Data[ref.Key]; ok {
			return string(v)
		}
		if v, ok := s.StringData[ref.Key]; ok {
			return v
		}
	}
	t.Fatalf("Secret %s has no key %s", ref.Name, ref.Key)
	return ""
}

// run runs bin with args and fails the test on a non-zero exit.
func run(t *testing.T, bin string, args ...string) {
	t.Helper()
	if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
		t.Errorf("luaproxy %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}
