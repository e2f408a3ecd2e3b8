package validate

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

const (
	kustomizeRoot = ".."                          // deploy/kubernetes
	settingsFile  = "../../../config/settings.go" // luaproxy's settings table
	adminPort     = 9180
	dataPort      = 6380
)

// objects is one rendered kustomization, decoded.
type objects struct {
	deployments []*appsv1.Deployment
	services    []*corev1.Service
	pdbs        []*policyv1.PodDisruptionBudget
	configMaps  []*corev1.ConfigMap
	secrets     []*corev1.Secret
}

// render builds the kustomization in dir as `kubectl kustomize dir` does
// and decodes every object strictly: an unknown or misspelt field, a
// duplicate field or a kind this test does not know fails.
func render(t *testing.T, dir string) objects {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var objs objects
	for _, r := range m.Resources() {
		data, err := r.MarshalJSON()
		if err != nil {
			t.Fatalf("%s: %v", r.CurId(), err)
		}
		gvk := r.GetGvk()
		id := fmt.Sprintf("%s %s", gvk.Kind, r.GetName())
		switch gvk.ApiVersion() + " " + gvk.Kind {
		case "apps/v1 Deployment":
			objs.deployments = append(objs.deployments, decode[appsv1.Deployment](t, id, data))
		case "v1 Service":
			objs.services = append(objs.services, decode[corev1.Service](t, id, data))
		case "policy/v1 PodDisruptionBudget":
			objs.pdbs = append(objs.pdbs, decode[policyv1.PodDisruptionBudget](t, id, data))
		case "v1 ConfigMap":
			objs.configMaps = append(objs.configMaps, decode[corev1.ConfigMap](t, id, data))
		case "v1 Secret":
			objs.secrets = append(objs.secrets, decode[corev1.Secret](t, id, data))
		default:
			t.Errorf("%s: apiVersion %s kind %s is not one this test validates; add it", id, gvk.ApiVersion(), gvk.Kind)
		}
	}
	return objs
}

// decode unmarshals data into a T as the API server's strict field
// validation does: field names are case-sensitive, and unknown or
// duplicate fields are errors.
func decode[T any](t *testing.T, id string, data []byte) *T {
	t.Helper()
	v := new(T)
	strict, err := json.UnmarshalStrict(data, v, json.DisallowDuplicateFields, json.DisallowUnknownFields)
	if err != nil {
		t.Fatalf("%s: %v", id, err)
	}
	for _, e := range strict {
		t.Errorf("%s: %v", id, e)
	}
	return v
}

// overlays lists every directory under deploy/kubernetes with a
// kustomization.yaml.
func overlays(t *testing.T) []string {
	t.Helper()
	var dirs []string
	err := filepath.WalkDir(kustomizeRoot, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && d.Name() == "kustomization.yaml" {
			dirs = append(dirs, filepath.Dir(path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

// TestEveryKustomizationRenders renders every kustomization (the base
// and each overlay) and checks what holds for all of them.
func TestEveryKustomizationRenders(t *testing.T) {
	dirs := overlays(t)
	for _, want := range []string{"base", "overlays/sidecar", "overlays/shared"} {
		if !slices.Contains(dirs, filepath.Join(kustomizeRoot, want)) {
			t.Errorf("no kustomization in deploy/kubernetes/%s (found %v)", want, dirs)
		}
	}
	flags := knownFlags(t)
	for _, dir := range dirs {
		t.Run(strings.TrimPrefix(dir, kustomizeRoot+"/"), func(t *testing.T) {
			objs := render(t, dir)
			if len(objs.deployments) == 0 {
				t.Fatal("no Deployment")
			}
			// The base leaves the Secret to its overlays.
			complete := dir != filepath.Join(kustomizeRoot, "base")
			for _, d := range objs.deployments {
				checkDeployment(t, d, objs, flags, complete)
			}
			for _, s := range objs.services {
				checkSelects(t, "Service "+s.Name, labels.SelectorFromSet(s.Spec.Selector), objs.deployments)
			}
			for _, p := range objs.pdbs {
				sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
				if err != nil {
					t.Errorf("PodDisruptionBudget %s: %v", p.Name, err)
					continue
				}
				checkSelects(t, "PodDisruptionBudget "+p.Name, sel, objs.deployments)
			}
		})
	}
}

// checkSelects requires a non-empty selector that picks the pods of at
// least one Deployment: an empty one would select every pod in the namespace.
func checkSelects(t *testing.T, what string, sel labels.Selector, ds []*appsv1.Deployment) {
	t.Helper()
	if sel.Empty() {
		t.Errorf("%s: empty selector", what)
		return
	}
	for _, d := range ds {
		if sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			return
		}
	}
	t.Errorf("%s: selector %s matches no Deployment's pods", what, sel)
}

// checkDeployment checks one Deployment and every luaproxy container in it.
// With complete, every Secret and ConfigMap it names must be rendered too.
func checkDeployment(t *testing.T, d *appsv1.Deployment, objs objects, flags map[string]bool, complete bool) {
	t.Helper()
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || sel.Empty() || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("Deployment %s: selector %v does not select its own pods %v (%v)", d.Name, d.Spec.Selector, d.Spec.Template.Labels, err)
	}
	pod := d.Spec.Template.Spec
	n := 0
	for _, c := range slices.Concat(pod.InitContainers, pod.Containers) {
		if complete {
			checkReferences(t, d.Name, c, pod, objs)
		}
		if c.Name != "luaproxy" {
			continue
		}
		n++
		checkLuaproxy(t, d.Name, c, pod, flags)
	}
	if n != 1 {
		t.Errorf("Deployment %s: %d luaproxy containers, want 1", d.Name, n)
	}
}

// checkLuaproxy checks the invariants of a luaproxy container.
func checkLuaproxy(t *testing.T, deployment string, c corev1.Container, pod corev1.PodSpec, flags map[string]bool) {
	t.Helper()
	errorf := func(format string, args ...any) {
		t.Helper()
		t.Errorf("Deployment %s, container %s: %s", deployment, c.Name, fmt.Sprintf(format, args...))
	}
	args := parseArgs(t, c.Args)
	for name := range args {
		if !flags[name] {
			errorf("--%s is not a luaproxy setting (config/settings.go)", name)
		}
	}
	for _, e := range c.Env {
		if name, ok := strings.CutPrefix(e.Name, "LUAPROXY_"); ok {
			if !flags[strings.ReplaceAll(strings.ToLower(name), "_", "-")] {
				errorf("env %s is not a luaproxy setting", e.Name)
			}
		}
	}
	if len(c.Command) != 0 {
		errorf("command %v overrides the image's entry point; use args", c.Command)
	}

	// Security: non-root, read-only root, no escalation, no capabilities.
	sc := c.SecurityContext
	psc := pod.SecurityContext
	if sc == nil {
		errorf("no securityContext")
		sc = &corev1.SecurityContext{}
	}
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	if !isTrue(sc.RunAsNonRoot) && !isTrue(psc.RunAsNonRoot) {
		errorf("runAsNonRoot is not set")
	}
	if uid := firstInt64(sc.RunAsUser, psc.RunAsUser); uid != nil && *uid == 0 {
		errorf("runs as uid 0")
	}
	if !isTrue(sc.ReadOnlyRootFilesystem) {
		errorf("readOnlyRootFilesystem is not true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		errorf("allowPrivilegeEscalation is not false")
	}
	if isTrue(sc.Privileged) {
		errorf("privileged")
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) != 0 {
		errorf("capabilities do not drop ALL (or add some): %+v", sc.Capabilities)
	}
	seccomp := sc.SeccompProfile
	if seccomp == nil {
		seccomp = psc.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		errorf("seccomp profile is not RuntimeDefault")
	}

	// Probes: liveness /healthz and readiness /readyz on the admin port,
	// which --admin-listen must serve.
	admin := args["admin-listen"]
	if _, port, err := splitHostPort(admin); err != nil || port != adminPort {
		errorf("--admin-listen=%q, want a listener on port %d (the kubelet probes it)", admin, adminPort)
	}
	if host, _, _ := splitHostPort(admin); host == "127.0.0.1" || host == "localhost" {
		errorf("--admin-listen=%q is not reachable by the kubelet's probes", admin)
	}
	checkProbe(t, errorf, "liveness", c.LivenessProbe, "/healthz", c)
	checkProbe(t, errorf, "readiness", c.ReadinessProbe, "/readyz", c)
	if c.StartupProbe != nil {
		checkProbe(t, errorf, "startup", c.StartupProbe, "/healthz", c)
	}

	// Resources: requests and limits of CPU and memory.
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, okReq := c.Resources.Requests[name]
		lim, okLim := c.Resources.Limits[name]
		if !okReq || !okLim {
			errorf("resources: %s request and limit must both be set", name)
			continue
		}
		if req.Cmp(lim) > 0 {
			errorf("resources: %s request %s above the limit %s", name, req.String(), lim.String())
		}
	}
	if mem, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
		if budget, ok := args["lua-memory-limit"]; ok {
			q, err := resource.ParseQuantity(strings.NewReplacer("mb", "Mi", "gb", "Gi", "kb", "Ki").Replace(budget))
			if err == nil && q.Cmp(mem) >= 0 {
				errorf("--lua-memory-limit=%s is not below the memory limit %s", budget, mem.String())
			}
		}
	}
	if strings.HasSuffix(c.Image, ":latest") || !strings.Contains(c.Image, ":") {
		errorf("image %q has no pinned tag", c.Image)
	}

	// The upstream URL holds credentials: from a Secret, never inline.
	if _, ok := args["upstream"]; ok {
		errorf("--upstream on the command line shows the credentials in the pod spec; use LUAPROXY_UPSTREAM from a Secret")
	}
	up := findEnv(c, "LUAPROXY_UPSTREAM")
	if up == nil || up.ValueFrom == nil || up.ValueFrom.SecretKeyRef == nil {
		errorf("LUAPROXY_UPSTREAM does not come from a Secret")
	}
}

// checkProbe requires an HTTP GET of path on the admin port.
func checkProbe(t *testing.T, errorf func(string, ...any), kind string, p *corev1.Probe, path string, c corev1.Container) {
	t.Helper()
	if p == nil || p.HTTPGet == nil {
		errorf("no HTTP %s probe", kind)
		return
	}
	if p.HTTPGet.Path != path {
		errorf("%s probe path %q, want %q", kind, p.HTTPGet.Path, path)
	}
	if port := resolvePort(c, p.HTTPGet.Port); port != adminPort {
		errorf("%s probe on port %v (%d), want the admin port %d", kind, p.HTTPGet.Port.String(), port, adminPort)
	}
}

// resolvePort turns a probe's named or numbered port into a number.
func resolvePort(c corev1.Container, p intstr.IntOrString) int {
	if p.Type == intstr.Int {
		return p.IntValue()
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort)
		}
	}
	return -1
}

// checkReferences requires that every Secret and ConfigMap a container
// uses is rendered by the same kustomization, by its generated name.
func checkReferences(t *testing.T, deployment string, c corev1.Container, pod corev1.PodSpec, objs objects) {
	t.Helper()
	secret := func(name string) bool {
		return slices.ContainsFunc(objs.secrets, func(s *corev1.Secret) bool { return s.Name == name })
	}
	configMap := func(name string) bool {
		return slices.ContainsFunc(objs.configMaps, func(m *corev1.ConfigMap) bool { return m.Name == name })
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			continue
		}
		if r := e.ValueFrom.SecretKeyRef; r != nil && !secret(r.Name) {
			t.Errorf("Deployment %s, container %s: env %s names Secret %s, which is not rendered", deployment, c.Name, e.Name, r.Name)
		}
		if r := e.ValueFrom.ConfigMapKeyRef; r != nil && !configMap(r.Name) {
			t.Errorf("Deployment %s, container %s: env %s names ConfigMap %s, which is not rendered", deployment, c.Name, e.Name, r.Name)
		}
	}
	for _, m := range c.VolumeMounts {
		i := slices.IndexFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Name == m.Name })
		if i < 0 {
			t.Errorf("Deployment %s, container %s: mount of unknown volume %s", deployment, c.Name, m.Name)
			continue
		}
		if cm := pod.Volumes[i].ConfigMap; cm != nil && !configMap(cm.Name) {
			t.Errorf("Deployment %s: volume %s names ConfigMap %s, which is not rendered", deployment, m.Name, cm.Name)
		}
	}
}

// TestSidecar checks the sidecar overlay: luaproxy next to the app, on
// localhost, functions from a ConfigMap.
func TestSidecar(t *testing.T) {
	objs := render(t, filepath.Join(kustomizeRoot, "overlays/sidecar"))
	if len(objs.deployments) != 1 || len(objs.services) != 0 {
		t.Fatalf("%d Deployments and %d Services, want one Deployment (the app) and no Service", len(objs.deployments), len(objs.services))
	}
	d := objs.deployments[0]
	pod := d.Spec.Template.Spec
	c, restartable := luaproxyContainer(t, pod)
	if !restartable {
		t.Errorf("luaproxy is not a native sidecar (an init container with restartPolicy Always)")
	}
	apps := slices.DeleteFunc(slices.Clone(pod.Containers), func(c corev1.Container) bool { return c.Name == "luaproxy" })
	if len(apps) == 0 {
		t.Errorf("no application container next to luaproxy")
	}
	args := parseArgs(t, c.Args)
	host, port, err := splitHostPort(args["listen"])
	if err != nil || host != "127.0.0.1" || port != dataPort {
		t.Errorf("--listen=%q, want 127.0.0.1:%d: a sidecar serves its pod only", args["listen"], dataPort)
	}
	for _, app := range apps {
		if e := findEnv(app, "REDIS_ADDR"); e == nil || e.Value != fmt.Sprintf("127.0.0.1:%d", dataPort) {
			t.Errorf("container %s does not point REDIS_ADDR at luaproxy", app.Name)
		}
	}

	dir, ok := args["functions-dir"]
	if !ok {
		t.Fatal("no --functions-dir")
	}
	i := slices.IndexFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == dir })
	if i < 0 {
		t.Fatalf("--functions-dir=%s is not a mount point", dir)
	}
	mount := c.VolumeMounts[i]
	if !mount.ReadOnly {
		t.Errorf("functions volume is mounted read-write")
	}
	v := slices.IndexFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Name == mount.Name })
	if v < 0 || pod.Volumes[v].ConfigMap == nil {
		t.Fatalf("--functions-dir=%s is not a ConfigMap volume", dir)
	}
	cm := pod.Volumes[v].ConfigMap.Name
	for _, m := range objs.configMaps {
		if m.Name != cm {
			continue
		}
		if len(m.Data) == 0 {
			t.Errorf("ConfigMap %s holds no libraries", cm)
		}
		for file, body := range m.Data {
			if !strings.HasSuffix(file, ".lua") || !strings.HasPrefix(body, "#!lua name=") {
				t.Errorf("ConfigMap %s: %s is not a *.lua library with a #!lua name= shebang", cm, file)
			}
		}
	}

	up := findEnv(c, "LUAPROXY_UPSTREAM")
	if up == nil || up.ValueFrom == nil || up.ValueFrom.SecretKeyRef == nil {
		t.Fatal("LUAPROXY_UPSTREAM is not from a Secret")
	}
	ref := up.ValueFrom.SecretKeyRef
	for _, s := range objs.secrets {
		if s.Name != ref.Name {
			continue
		}
		url, ok := s.Data[ref.Key]
		if !ok {
			url = []byte(s.StringData[ref.Key])
		}
		if !regexp.MustCompile(`^rediss?://[^:@/]+:[^@/]+@`).Match(url) {
			t.Errorf("Secret %s key %s is not an upstream URL with credentials", s.Name, ref.Key)
		}
	}
}

// TestShared checks the shared overlay: two pods in active/standby mode
// behind a Service, with a PodDisruptionBudget and a preStop drain.
func TestShared(t *testing.T) {
	objs := render(t, filepath.Join(kustomizeRoot, "overlays/shared"))
	if len(objs.deployments) != 1 || len(objs.services) != 1 || len(objs.pdbs) != 1 {
		t.Fatalf("%d Deployments, %d Services, %d PodDisruptionBudgets; want one of each",
			len(objs.deployments), len(objs.services), len(objs.pdbs))
	}
	d := objs.deployments[0]
	if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
		t.Errorf("replicas %v, want at least 2 (active and standby)", d.Spec.Replicas)
	}
	c, _ := luaproxyContainer(t, d.Spec.Template.Spec)
	args := parseArgs(t, c.Args)
	if args["lease-key"] == "" {
		t.Errorf("no --lease-key: the replicas would all serve at once")
	}
	if _, port, err := splitHostPort(args["listen"]); err != nil || port != dataPort {
		t.Errorf("--listen=%q, want port %d", args["listen"], dataPort)
	}

	// A standby never becomes ready: a rollout that waits for readiness
	// would never finish.
	if s := d.Spec.Strategy; s.Type == appsv1.RollingUpdateDeploymentStrategyType {
		if s.RollingUpdate == nil || s.RollingUpdate.MaxUnavailable == nil {
			t.Errorf("rolling update with the default maxUnavailable waits forever for a standby to be ready")
		} else if n, err := intstr.GetScaledValueFromIntOrPercent(s.RollingUpdate.MaxUnavailable, int(*d.Spec.Replicas), true); err != nil || n < int(*d.Spec.Replicas) {
			t.Errorf("rolling update maxUnavailable %s: it waits forever for a standby to be ready", s.RollingUpdate.MaxUnavailable.String())
		}
	}

	svc := objs.services[0]
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != dataPort || resolvePort(c, svc.Spec.Ports[0].TargetPort) != dataPort {
		t.Errorf("Service %s ports %+v, want %d to the container's %d", svc.Name, svc.Spec.Ports, dataPort, dataPort)
	}

	// preStop: the kubelet's sleep (no shell in the image), then SIGTERM
	// and luaproxy's drain, all within the grace period.
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
		t.Fatalf("no preStop sleep")
	}
	if c.Lifecycle.PreStop.Exec != nil {
		t.Errorf("preStop exec: the distroless image has no shell")
	}
	drain, err := parseDurationSeconds(args["drain-timeout"])
	if err != nil {
		t.Fatalf("--drain-timeout: %v", err)
	}
	grace := int64(30)
	if g := d.Spec.Template.Spec.TerminationGracePeriodSeconds; g != nil {
		grace = *g
	}
	if need := c.Lifecycle.PreStop.Sleep.Seconds + drain; grace <= need {
		t.Errorf("terminationGracePeriodSeconds %d, want more than preStop sleep + --drain-timeout = %d", grace, need)
	}
	if p := objs.pdbs[0]; p.Spec.MinAvailable == nil && p.Spec.MaxUnavailable == nil {
		t.Errorf("PodDisruptionBudget %s sets neither minAvailable nor maxUnavailable", p.Name)
	}
}

// luaproxyContainer returns the pod's luaproxy container and whether it is
// a restartable init container (a native sidecar).
func luaproxyContainer(t *testing.T, pod corev1.PodSpec) (corev1.Container, bool) {
	t.Helper()
	for _, c := range pod.InitContainers {
		if c.Name == "luaproxy" {
			return c, c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		}
	}
	for _, c := range pod.Containers {
		if c.Name == "luaproxy" {
			return c, false
		}
	}
	t.Fatal("no luaproxy container")
	return corev1.Container{}, false
}

// parseArgs reads luaproxy's --name=value arguments. The manifests use
// that one form so that a value can never be mistaken for a flag.
func parseArgs(t *testing.T, args []string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, a := range args {
		name, value, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !strings.HasPrefix(a, "--") || !ok {
			t.Errorf("argument %q is not --name=value", a)
			continue
		}
		if _, dup := m[name]; dup {
			t.Errorf("--%s given twice", name)
		}
		m[name] = value
	}
	return m
}

// knownFlags reads the setting names from luaproxy's settings table. This
// module cannot import luaproxy's config package (no replace directives),
// so it reads the source.
func knownFlags(t *testing.T) map[string]bool {
	t.Helper()
	src, err := os.ReadFile(settingsFile)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]bool{"config": true}
	for _, s := range regexp.MustCompile(`def\("([a-z0-9-]+)"`).FindAllSubmatch(src, -1) {
		m[string(s[1])] = true
	}
	if len(m) < 10 {
		t.Fatalf("%s: found only %d settings; has the table moved?", settingsFile, len(m))
	}
	return m
}

func findEnv(c corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

func splitHostPort(addr string) (string, int, error) {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return "", 0, fmt.Errorf("%q is not host:port", addr)
	}
	port, err := strconv.Atoi(addr[i+1:])
	return addr[:i], port, err
}

// parseDurationSeconds reads a whole number of seconds such as "10s".
func parseDurationSeconds(s string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSuffix(s, "s"), 10, 64)
	if err != nil || !strings.HasSuffix(s, "s") {
		return 0, fmt.Errorf("%q is not a whole number of seconds", s)
	}
	return n, nil
}

func isTrue(b *bool) bool { return b != nil && *b }

func firstInt64(vs ...*int64) *int64 {
	for _, v := range vs {
		if v != nil {
			return v
		}
	}
	return nil
}

// TestDecodeIsStrict makes sure the decoder refuses what the API server's
// strict field validation refuses, so that the tests above mean something.
func TestDecodeIsStrict(t *testing.T) {
	for _, bad := range []string{
		`{"apiVersion":"apps/v1","kind":"Deployment","spec":{"replica":2}}`,
		`{"apiVersion":"apps/v1","kind":"Deployment","spec":{"Replicas":2}}`,
		`{"apiVersion":"apps/v1","kind":"Deployment","spec":{"replicas":2,"replicas":3}}`,
		`{"apiVersion":"apps/v1","kind":"Deployment","spec":{"template":{"spec":{"containers":[{"name":"x","readOnlyRootFileSystem":true}]}}}}`,
	} {
		v := new(appsv1.Deployment)
		strict, err := json.UnmarshalStrict([]byte(bad), v, json.DisallowDuplicateFields, json.DisallowUnknownFields)
		if err == nil && len(strict) == 0 {
			t.Errorf("accepted %s", bad)
		}
	}
	var buf bytes.Buffer
	buf.WriteString(`{"apiVersion":"apps/v1","kind":"Deployment","spec":{"replicas":2}}`)
	if _, err := json.UnmarshalStrict(buf.Bytes(), new(appsv1.Deployment), json.DisallowUnknownFields); err != nil {
		t.Errorf("refused a valid Deployment: %v", err)
	}
}
