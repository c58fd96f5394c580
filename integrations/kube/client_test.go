package kube_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/hoistbot/hoist/integrations/kube"
	"github.com/hoistbot/hoist/internal/config"
	"github.com/hoistbot/hoist/internal/kubetest"
	"github.com/hoistbot/hoist/internal/release"
)

func TestClusterWithoutConfigurationSaysHowToConfigureIt(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("KUBERNETES_SERVICE_PORT", "")
	c := kube.New(map[string]config.Cluster{"main": {}}, slog.New(slog.DiscardHandler))
	ctx := t.Context()
	const want = "no in-cluster configuration (not running in a pod?); set clusters.main.kubeconfig"

	_, listErr := c.ListNamespaces(ctx, "main")
	errs := map[string]error{
		"EnsureNamespace": c.EnsureNamespace(ctx, release.Namespace{Cluster: "main", Name: "api-feature-x"}),
		"DeleteNamespace": c.DeleteNamespace(ctx, "main", "api-feature-x"),
		"ListNamespaces":  listErr,
		"Rollout":         c.Rollout(ctx, release.RolloutTarget{Cluster: "main", Namespace: "prod", Deployment: "api"}, nil),
		"Check":           c.Check(ctx)["main"],
	}
	for call, err := range errs {
		if !errors.Is(err, release.ErrNoCluster) || !strings.HasPrefix(err.Error(), "cluster main: ") || !strings.HasSuffix(err.Error(), want) {
			t.Errorf("%s: %v, want ErrNoCluster saying %q", call, err, want)
		}
	}
}

func TestUnknownClusterIsRefusedByName(t *testing.T) {
	c := kube.New(map[string]config.Cluster{"staging": {}, "production": {}}, slog.New(slog.DiscardHandler))
	err := c.Rollout(t.Context(), release.RolloutTarget{Cluster: "prod", Namespace: "api", Deployment: "api"}, nil)
	if err == nil || !strings.Contains(err.Error(), `unknown cluster "prod" (configured: production, staging)`) {
		t.Fatalf("%v: want the unknown name and the configured ones", err)
	}
}

func TestUnreadableKubeconfigNamesTheFileAndTheKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kubeconfig")
	c := kube.New(map[string]config.Cluster{"main": {Kubeconfig: path}}, slog.New(slog.DiscardHandler))
	_, err := c.ListNamespaces(t.Context(), "main")
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "clusters.main.kubeconfig") {
		t.Fatalf("%v: want the file and the configuration key", err)
	}

	writeKubeconfig(t, path, "https://127.0.0.1:1", "token")
	c = kube.New(map[string]config.Cluster{"main": {Kubeconfig: path, Context: "nope"}}, slog.New(slog.DiscardHandler))
	_, err = c.ListNamespaces(t.Context(), "main")
	if err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("%v: want the missing context named", err)
	}
}

func TestUnreachableClusterIsUnavailableAndItsTokenIsNeverShown(t *testing.T) {
	const token = "s3cr3t-kube-token-never-shown"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	writeKubeconfig(t, path, "https://127.0.0.1:1", token) // nothing listens on port 1
	c, logs := client(t, path)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	_, listErr := c.ListNamespaces(ctx, cluster)
	errs := map[string]error{
		"EnsureNamespace": c.EnsureNamespace(ctx, release.Namespace{Cluster: cluster, Name: "api-x"}),
		"ListNamespaces":  listErr,
		"Rollout":         c.Rollout(ctx, release.RolloutTarget{Cluster: cluster, Namespace: "prod", Deployment: "api"}, nil),
		"Check":           c.Check(ctx)[cluster],
	}
	for call, err := range errs {
		if !errors.Is(err, release.ErrUnavailable) {
			t.Errorf("%s: %v, want ErrUnavailable", call, err)
		}
		if err != nil && strings.Contains(err.Error(), token) {
			t.Errorf("%s: the error shows the token: %v", call, err)
		}
	}
	if strings.Contains(logs.String(), token) {
		t.Errorf("the logs show the token:\n%s", logs)
	}
}

func TestCheckLogsTheServerVersion(t *testing.T) {
	env := kubetest.Cluster(t)
	t.Parallel()
	c, logs := client(t, env.Kubeconfig)
	if problems := c.Check(t.Context()); len(problems) > 0 {
		t.Fatalf("problems: %v", problems)
	}
	if !strings.Contains(logs.String(), "cluster answers") || !strings.Contains(logs.String(), "version=v1.") {
		t.Fatalf("logs do not say the cluster answers with its version:\n%s", logs)
	}
}

func TestRejectedCredentialsAreSaidSoWithoutTheToken(t *testing.T) {
	env := kubetest.Cluster(t)
	t.Parallel()
	const token = "not-a-valid-token-never-shown"
	c, logs := client(t, env.KubeconfigWithToken(t, token))
	_, err := c.ListNamespaces(t.Context(), cluster)
	if err == nil || !strings.Contains(err.Error(), "rejected Hoist's credentials (401)") {
		t.Fatalf("%v: want the credentials rejected", err)
	}
	if errors.Is(err, release.ErrUnavailable) {
		t.Errorf("%v: rejected credentials are not a passing failure", err)
	}
	if strings.Contains(err.Error(), token) || strings.Contains(logs.String(), token) {
		t.Errorf("the token is shown: %v\n%s", err, logs)
	}
}

func TestMissingPermissionIsNamedAndTheTokenNeverShown(t *testing.T) {
	env := kubetest.Cluster(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	ns := env.Namespace(t)
	token := tokenAllowedOnlyDeployments(t, env, ns)
	create(t, env, ns, kubetest.Deployment("api", 1))
	c, logs := client(t, env.KubeconfigWithToken(t, token))

	err := c.Rollout(ctx, release.RolloutTarget{Cluster: cluster, Namespace: ns, Deployment: "api"}, nil)
	if err == nil || !strings.Contains(err.Error(), "Hoist lacks a permission") ||
		!(strings.Contains(err.Error(), `cannot list resource "pods"`) || strings.Contains(err.Error(), `cannot list resource "replicasets"`)) {
		t.Fatalf("Rollout: %v, want the missing permission named", err)
	}
	if errors.Is(err, release.ErrUnavailable) || errors.Is(err, release.ErrRolloutFailed) {
		t.Errorf("Rollout: %v: a missing permission is neither a passing failure nor a failed rollout", err)
	}
	_, listErr := c.ListNamespaces(ctx, cluster)
	if listErr == nil || !strings.Contains(listErr.Error(), `cannot list resource "namespaces"`) {
		t.Fatalf("ListNamespaces: %v, want the missing permission named", listErr)
	}
	for _, e := range []error{err, listErr} {
		if strings.Contains(e.Error(), token) {
			t.Errorf("the error shows the token: %v", e)
		}
	}
	if strings.Contains(logs.String(), token) {
		t.Errorf("the logs show the token:\n%s", logs)
	}
}

// tokenAllowedOnlyDeployments returns the token of a ServiceAccount that
// may read Deployments in ns, and nothing else.
func tokenAllowedOnlyDeployments(t *testing.T, env *kubetest.Env, ns string) string {
	t.Helper()
	ctx := t.Context()
	sa, err := env.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "hoist"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "deployments-only"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "list", "watch"}}},
	}
	if _, err := env.Client.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "hoist"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa.Name, Namespace: ns}},
	}
	if _, err := env.Client.RbacV1().RoleBindings(ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tr, err := env.Client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa.Name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}

func writeKubeconfig(t *testing.T, path, server, token string) {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["c"] = &clientcmdapi.Cluster{Server: server, InsecureSkipTLSVerify: true}
	cfg.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	cfg.CurrentContext = "c"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
}
