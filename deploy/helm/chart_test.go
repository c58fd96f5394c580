package helm_test

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/hoistbot/hoist/internal/config"
)

// withSecret is the least a real installation sets: the Secret with the
// tokens.
const withSecret = "existingSecret: hoist-tokens\n"

// tokens stand in for the Secret's values when Hoist's configuration is
// checked: each has the shape Hoist's validation wants.
var tokens = map[string]string{
	"HOIST_SLACK_BOT_TOKEN":       "xoxb-1-chart-test",
	"HOIST_SLACK_APP_TOKEN":       "xapp-1-chart-test",
	"HOIST_SLACK_SIGNING_SECRET":  "chart-test-signing-secret",
	"HOIST_JENKINS_TOKEN":         "chart-test-jenkins-token",
	"HOIST_GITHUB_TOKEN":          "chart-test-github-token",
	"HOIST_GITHUB_WEBHOOK_SECRET": "chart-test-webhook-secret",
	"HOIST_STORE_DSN":             "postgres://hoist:pw@db:5432/hoist",
}

func TestChartPassesHelmLint(t *testing.T) {
	if out, err := runHelm(t, "lint", "--strict", chartDir); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}

func TestHoistRunsLockedDown(t *testing.T) {
	m := mustRender(t, withSecret)
	d := one[appsv1.Deployment](t, m, "Deployment")
	pod := d.Spec.Template.Spec
	c := hoistContainer(t, d)

	if !reflect.DeepEqual(c.Args, []string{"serve", "--config", "/etc/hoist/hoist.yaml"}) {
		t.Errorf("container args = %q, want hoist serve on the mounted configuration", c.Args)
	}
	if pod.SecurityContext == nil {
		t.Fatal("the pod has no security context")
	}
	if pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot {
		t.Error("the pod may run as root: podSecurityContext.runAsNonRoot is not true")
	}
	if pod.SecurityContext.RunAsUser == nil || *pod.SecurityContext.RunAsUser == 0 {
		t.Error("the pod names no non-root user")
	}
	if sp := pod.SecurityContext.SeccompProfile; sp == nil || sp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod seccomp profile = %v, want RuntimeDefault", sp)
	}
	sc := c.SecurityContext
	if sc == nil {
		t.Fatal("the container has no security context")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("the root filesystem is writable")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("privilege escalation is allowed")
	}
	if sc.Capabilities == nil || !reflect.DeepEqual(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
		t.Errorf("capabilities = %+v, want all dropped and none added", sc.Capabilities)
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := c.Resources.Requests[r]; !ok {
			t.Errorf("no %s request", r)
		}
		if _, ok := c.Resources.Limits[r]; !ok {
			t.Errorf("no %s limit", r)
		}
	}
	for _, dir := range []string{"/tmp", "/var/lib/hoist"} {
		if !writableVolumeAt(pod, c, dir) {
			t.Errorf("%s is not a writable volume, and the root filesystem is read-only", dir)
		}
	}
	if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("strategy = %s with SQLite; an upgrade would run two processes on one database file", d.Spec.Strategy.Type)
	}
}

func TestProbesAndServiceReachHoist(t *testing.T) {
	m := mustRender(t, withSecret)
	d := one[appsv1.Deployment](t, m, "Deployment")
	c := hoistContainer(t, d)
	cfg := hoistConfig(t, m, tokens)

	port := containerPort(t, c, "http")
	if want := fmt.Sprintf(":%d", port); !strings.HasSuffix(cfg.Server.Listen, want) {
		t.Errorf("Hoist listens on %q, but the container port named http is %d", cfg.Server.Listen, port)
	}
	probes := map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe, "startup": c.StartupProbe}
	paths := map[string]string{"liveness": "/healthz", "readiness": "/readyz", "startup": "/healthz"}
	for name, p := range probes {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("no HTTP %s probe", name)
			continue
		}
		if p.HTTPGet.Path != paths[name] || p.HTTPGet.Port != intstr.FromString("http") {
			t.Errorf("%s probe asks %s on port %s, want %s on port http", name, p.HTTPGet.Path, p.HTTPGet.Port.String(), paths[name])
		}
	}

	svc := one[corev1.Service](t, m, "Service")
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "http" || svc.Spec.Ports[0].Port != 8080 ||
		svc.Spec.Ports[0].TargetPort != intstr.FromString("http") {
		t.Errorf("service ports = %+v, want 8080 named http to the container's http port", svc.Spec.Ports)
	}
	if !selects(svc.Spec.Selector, d.Spec.Template.Labels) {
		t.Errorf("the Service's selector %v does not select Hoist's pods %v", svc.Spec.Selector, d.Spec.Template.Labels)
	}
}

func TestConfigurationIsValidForHoist(t *testing.T) {
	cases := map[string]string{
		"defaults":    withSecret,
		"socket mode": withSecret + "config: {slack: {mode: socket}}\n",
		"postgres":    withSecret + "replicaCount: 2\nconfig: {store: {driver: postgres}}\n",
	}
	for name, values := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := hoistConfig(t, mustRender(t, values), tokens)
			for _, p := range cfg.Validate() {
				t.Errorf("Hoist would refuse to start: %s", p)
			}
		})
	}
}

func TestSQLiteLivesOnTheDataVolume(t *testing.T) {
	m := mustRender(t, withSecret)
	cfg := hoistConfig(t, m, tokens)
	if cfg.Store.Driver != "sqlite" || !strings.HasPrefix(cfg.Store.DSN.Reveal(), "/var/lib/hoist/") {
		t.Errorf("store = %s at %q, want sqlite under /var/lib/hoist", cfg.Store.Driver, cfg.Store.DSN.Reveal())
	}
	claim := one[corev1.PersistentVolumeClaim](t, m, "PersistentVolumeClaim")
	d := one[appsv1.Deployment](t, m, "Deployment")
	if v := volumeAt(d.Spec.Template.Spec, hoistContainer(t, d), "/var/lib/hoist"); v == nil || v.PersistentVolumeClaim == nil ||
		v.PersistentVolumeClaim.ClaimName != claim.Name {
		t.Errorf("/var/lib/hoist is %+v, want the claim %s", v, claim.Name)
	}
}

// TestEverySecretComesFromTheSecret follows Hoist's configuration: every
// key of type config.Secret must reach Hoist from the Secret, and none may
// be written in the chart's values, which end up in a ConfigMap.
func TestEverySecretComesFromTheSecret(t *testing.T) {
	keys := secretKeys()
	if len(keys) == 0 {
		t.Fatal("found no secret in Hoist's configuration")
	}
	m := mustRender(t, withSecret+"replicaCount: 2\nconfig: {store: {driver: postgres}}\n")
	c := hoistContainer(t, one[appsv1.Deployment](t, m, "Deployment"))
	for _, key := range keys {
		variable := config.EnvVar(key)
		ref := secretRef(c, variable)
		if ref == nil || ref.Name != "hoist-tokens" {
			t.Errorf("%s (%s) does not come from the Secret hoist-tokens: %+v", key, variable, ref)
		}
	}

	for _, key := range keys {
		t.Run(key, func(t *testing.T) {
			section, name, _ := strings.Cut(key, ".")
			_, err := render(t, releaseName, releaseNamespace, withSecret+"config: {"+section+": {"+name+": leaked-value}}\n")
			if err == nil {
				t.Fatalf("the chart rendered config.%s into its ConfigMap", key)
			}
			if !strings.Contains(err.Error(), "config."+key) || !strings.Contains(err.Error(), "existingSecret") {
				t.Errorf("the refusal does not say which key to move where: %v", err)
			}
		})
	}
}

func TestSeveralReplicasNeedPostgres(t *testing.T) {
	_, err := render(t, releaseName, releaseNamespace, withSecret+"replicaCount: 3\n")
	if err == nil || !strings.Contains(err.Error(), "postgres") {
		t.Errorf("3 replicas on SQLite: err = %v, want a refusal that names postgres", err)
	}
	_, err = render(t, releaseName, releaseNamespace, "replicaCount: 3\nconfig: {store: {driver: postgres}}\n")
	if err == nil || !strings.Contains(err.Error(), "existingSecret") {
		t.Errorf("PostgreSQL without a Secret for its DSN: err = %v, want a refusal that names existingSecret", err)
	}

	m := mustRender(t, withSecret+"replicaCount: 3\nconfig: {store: {driver: postgres}}\n")
	d := one[appsv1.Deployment](t, m, "Deployment")
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 3 {
		t.Errorf("replicas = %v, want 3", d.Spec.Replicas)
	}
	if d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType {
		t.Errorf("strategy = %s, want RollingUpdate: replicas on PostgreSQL can overlap", d.Spec.Strategy.Type)
	}
	if claims := m.all("PersistentVolumeClaim"); len(claims) > 0 {
		t.Errorf("rendered %d PersistentVolumeClaims for a PostgreSQL store", len(claims))
	}
	if ref := secretRef(hoistContainer(t, d), "HOIST_STORE_DSN"); ref == nil || (ref.Optional != nil && *ref.Optional) {
		t.Errorf("HOIST_STORE_DSN = %+v, want a required key of the Secret", ref)
	}
}

func TestPodKnowsItsNameAndNamespace(t *testing.T) {
	c := hoistContainer(t, one[appsv1.Deployment](t, mustRender(t, withSecret), "Deployment"))
	want := map[string]string{"HOIST_POD_NAMESPACE": "metadata.namespace", "HOIST_POD_NAME": "metadata.name"}
	for variable, field := range want {
		i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == variable })
		if i < 0 || c.Env[i].ValueFrom == nil || c.Env[i].ValueFrom.FieldRef == nil || c.Env[i].ValueFrom.FieldRef.FieldPath != field {
			t.Errorf("%s does not come from the pod's %s", variable, field)
		}
	}
}

// TestRBACGrantsExactlyWhatHoistDoes lists every API call of
// integrations/kube (and of leader election); a new call needs a new rule
// here and in the chart, and a rule no call needs fails this test.
func TestRBACGrantsExactlyWhatHoistDoes(t *testing.T) {
	m := mustRender(t, withSecret)
	cluster := one[rbacv1.ClusterRole](t, m, "ClusterRole")
	wantCluster := []string{
		"/namespaces:create", "/namespaces:delete", "/namespaces:get", "/namespaces:list", "/namespaces:update", "/namespaces:watch",
		"/pods:list", "/pods:watch",
		"apps/deployments:list", "apps/deployments:watch",
		"apps/replicasets:list", "apps/replicasets:watch",
	}
	if got := grants(cluster.Rules); !slices.Equal(got, wantCluster) {
		t.Errorf("cluster-wide grants:\n got %q\nwant %q", got, wantCluster)
	}
	role := one[rbacv1.Role](t, m, "Role")
	lease := leaderLease(t, m)
	if lease != releaseName+"-hoist-leader" && lease != releaseName+"-leader" {
		t.Errorf("leader Lease %q is not named after the release %q, so two installs in one namespace would share it", lease, releaseName)
	}
	wantRole := []string{"coordination.k8s.io/leases/" + lease + ":get", "coordination.k8s.io/leases/" + lease + ":update", "coordination.k8s.io/leases:create"}
	if got := grants(role.Rules); !slices.Equal(got, wantRole) {
		t.Errorf("grants in the release's namespace:\n got %q\nwant %q", got, wantRole)
	}

	sa := one[appsv1.Deployment](t, m, "Deployment").Spec.Template.Spec.ServiceAccountName
	clusterBinding := one[rbacv1.ClusterRoleBinding](t, m, "ClusterRoleBinding")
	binding := one[rbacv1.RoleBinding](t, m, "RoleBinding")
	wantSubject := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa, Namespace: releaseNamespace}}
	if clusterBinding.RoleRef.Name != cluster.Name || !reflect.DeepEqual(clusterBinding.Subjects, wantSubject) {
		t.Errorf("ClusterRoleBinding gives %s to %+v, want %s to %+v", clusterBinding.RoleRef.Name, clusterBinding.Subjects, cluster.Name, wantSubject)
	}
	if binding.RoleRef.Name != role.Name || binding.RoleRef.Kind != "Role" || !reflect.DeepEqual(binding.Subjects, wantSubject) {
		t.Errorf("RoleBinding gives %s %s to %+v, want Role %s to %+v", binding.RoleRef.Kind, binding.RoleRef.Name, binding.Subjects, role.Name, wantSubject)
	}

	none := mustRender(t, withSecret+"rbac: {create: false}\n")
	for _, kind := range []string{"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"} {
		if len(none.all(kind)) > 0 {
			t.Errorf("rbac.create false still renders a %s", kind)
		}
	}
}

func TestServiceMonitorScrapesMetrics(t *testing.T) {
	if sm := mustRender(t, withSecret).all("ServiceMonitor"); len(sm) > 0 {
		t.Error("a ServiceMonitor is rendered by default, which fails on clusters without the Prometheus Operator")
	}
	m := mustRender(t, withSecret+"serviceMonitor: {enabled: true, labels: {release: prometheus}}\n")
	objs := m.all("ServiceMonitor")
	if len(objs) != 1 {
		t.Fatalf("rendered %d ServiceMonitors, want 1", len(objs))
	}
	sm := objs[0]
	svc := one[corev1.Service](t, m, "Service")
	selector, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	if !selects(selector, svc.Labels) {
		t.Errorf("the ServiceMonitor selects %v, not Hoist's Service %v", selector, svc.Labels)
	}
	endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if len(endpoints) != 1 {
		t.Fatalf("endpoints = %v, want one", endpoints)
	}
	ep, _ := endpoints[0].(map[string]any)
	if ep["port"] != svc.Spec.Ports[0].Name || ep["path"] != "/metrics" {
		t.Errorf("the ServiceMonitor scrapes %v on port %v, want /metrics on port %s", ep["path"], ep["port"], svc.Spec.Ports[0].Name)
	}
	if sm.GetLabels()["release"] != "prometheus" {
		t.Errorf("labels = %v, want serviceMonitor.labels among them", sm.GetLabels())
	}
}

func TestPodDisruptionBudgetCoversHoist(t *testing.T) {
	m := mustRender(t, withSecret+"replicaCount: 2\nconfig: {store: {driver: postgres}}\npodDisruptionBudget: {enabled: true}\n")
	pdb := one[policyv1.PodDisruptionBudget](t, m, "PodDisruptionBudget")
	d := one[appsv1.Deployment](t, m, "Deployment")
	if !selects(pdb.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
		t.Errorf("the budget selects %v, not Hoist's pods %v", pdb.Spec.Selector.MatchLabels, d.Spec.Template.Labels)
	}
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
		t.Errorf("maxUnavailable = %v, want 1", pdb.Spec.MaxUnavailable)
	}
}

func TestIngressExposesOnlySlackAndGitHub(t *testing.T) {
	m := mustRender(t, withSecret+"ingress: {enabled: true, host: hoist.example.org, tlsSecretName: hoist-tls}\n")
	ing := one[networkingv1.Ingress](t, m, "Ingress")
	svc := one[corev1.Service](t, m, "Service")
	if len(ing.Spec.Rules) != 1 || ing.Spec.Rules[0].Host != "hoist.example.org" || ing.Spec.Rules[0].HTTP == nil {
		t.Fatalf("rules = %+v, want one for hoist.example.org", ing.Spec.Rules)
	}
	var paths []string
	for _, p := range ing.Spec.Rules[0].HTTP.Paths {
		paths = append(paths, p.Path)
		if p.Backend.Service == nil || p.Backend.Service.Name != svc.Name || p.Backend.Service.Port.Name != "http" {
			t.Errorf("%s goes to %+v, want Service %s port http", p.Path, p.Backend, svc.Name)
		}
	}
	if want := []string{"/slack/", "/github/webhook"}; !slices.Equal(paths, want) {
		t.Errorf("paths = %q, want %q and nothing else (no /metrics, no probes)", paths, want)
	}
	if len(ing.Spec.TLS) != 1 || ing.Spec.TLS[0].SecretName != "hoist-tls" {
		t.Errorf("tls = %+v, want the Secret hoist-tls", ing.Spec.TLS)
	}
}

func hoistContainer(t testing.TB, d *appsv1.Deployment) *corev1.Container {
	t.Helper()
	for i, c := range d.Spec.Template.Spec.Containers {
		if c.Name == "hoist" {
			return &d.Spec.Template.Spec.Containers[i]
		}
	}
	t.Fatal("the Deployment has no container named hoist")
	return nil
}

func containerPort(t testing.TB, c *corev1.Container, name string) int32 {
	t.Helper()
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	t.Fatalf("the container has no port named %s", name)
	return 0
}

// volumeAt returns the volume mounted at dir in c.
func volumeAt(pod corev1.PodSpec, c *corev1.Container, dir string) *corev1.Volume {
	for _, mount := range c.VolumeMounts {
		if mount.MountPath != dir {
			continue
		}
		for i := range pod.Volumes {
			if pod.Volumes[i].Name == mount.Name {
				return &pod.Volumes[i]
			}
		}
	}
	return nil
}

func writableVolumeAt(pod corev1.PodSpec, c *corev1.Container, dir string) bool {
	for _, mount := range c.VolumeMounts {
		if mount.MountPath == dir && mount.ReadOnly {
			return false
		}
	}
	v := volumeAt(pod, c, dir)
	return v != nil && (v.EmptyDir != nil || v.PersistentVolumeClaim != nil)
}

// leaderLease is the Lease the chart tells Hoist to elect its leader with.
func leaderLease(t testing.TB, m manifest) string {
	t.Helper()
	c := hoistContainer(t, one[appsv1.Deployment](t, m, "Deployment"))
	i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "HOIST_LEADER_LEASE" })
	if i < 0 || c.Env[i].Value == "" {
		t.Fatal("the Deployment does not set HOIST_LEADER_LEASE")
	}
	return c.Env[i].Value
}

// secretRef returns where variable comes from in a Secret, or nil.
func secretRef(c *corev1.Container, variable string) *corev1.SecretKeySelector {
	for _, e := range c.Env {
		if e.Name == variable && e.ValueFrom != nil {
			return e.ValueFrom.SecretKeyRef
		}
	}
	return nil
}

// hoistConfig loads Hoist's configuration the way the pod would: the
// ConfigMap's file, named by --config, with the container's variables, those
// from the Secret taken from secrets.
func hoistConfig(t testing.TB, m manifest, secrets map[string]string) *config.Config {
	t.Helper()
	d := one[appsv1.Deployment](t, m, "Deployment")
	c := hoistContainer(t, d)
	cm := one[corev1.ConfigMap](t, m, "ConfigMap")

	file := c.Args[slices.Index(c.Args, "--config")+1]
	v := volumeAt(d.Spec.Template.Spec, c, "/etc/hoist")
	if v == nil || v.ConfigMap == nil || v.ConfigMap.Name != cm.Name || file != "/etc/hoist/hoist.yaml" {
		t.Fatalf("--config %s is not the ConfigMap %s's hoist.yaml mounted at /etc/hoist", file, cm.Name)
	}
	var environ []string
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			environ = append(environ, e.Name+"="+e.Value)
		case e.ValueFrom.SecretKeyRef != nil:
			environ = append(environ, e.Name+"="+secrets[e.Name])
		}
	}
	cfg, err := config.Parse("ConfigMap "+cm.Name, []byte(cm.Data["hoist.yaml"]), environ)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// secretKeys lists the keys of Hoist's configuration that hold secrets.
func secretKeys() []string {
	secret := reflect.TypeFor[config.Secret]()
	var keys []string
	for section := range reflect.TypeFor[config.Config]().Fields() {
		if section.Type.Kind() != reflect.Struct {
			continue
		}
		for field := range section.Type.Fields() {
			if field.Type == secret {
				keys = append(keys, section.Tag.Get("mapstructure")+"."+field.Tag.Get("mapstructure"))
			}
		}
	}
	return keys
}

// grants flattens rules to sorted "group/resource[/name]:verb" strings.
func grants(rules []rbacv1.PolicyRule) []string {
	var out []string
	for _, r := range rules {
		if len(r.NonResourceURLs) > 0 {
			out = append(out, "unexpected: "+r.String())
		}
		names := r.ResourceNames
		if len(names) == 0 {
			names = []string{""}
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, name := range names {
					for _, v := range r.Verbs {
						out = append(out, strings.TrimSuffix(g+"/"+res+"/"+name, "/")+":"+v)
					}
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// selects reports whether a selector's labels all appear in labels.
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}
