package kubelocal

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/hoistbot/hoist/internal/kubeapi"
)

// controllers are the kube-controller-manager controllers that rollouts
// and namespaces need. Without node-lifecycle-controller the fake node keeps
// its not-ready taint and pods stay Pending.
var controllers = []string{
	"deployment-controller", "replicaset-controller", "namespace-controller", "garbage-collector-controller",
	"serviceaccount-controller", "serviceaccount-token-controller", "root-ca-certificate-publisher-controller",
	"node-lifecycle-controller",
}

// start starts the processes one after the other, each once the one it
// needs is ready.
func (cp *ControlPlane) start(ctx context.Context, bin string) error {
	dir := cp.dir
	stages := filepath.Join(dir, "kwok-stages.yaml")
	if err := os.WriteFile(stages, kwokStages, 0o600); err != nil {
		return fmt.Errorf("write kwok stages: %w", err)
	}
	etcdPort, peerPort, apiPort, err := freePorts()
	if err != nil {
		return err
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(etcdPort)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	etcd, err := cp.run(bin, "etcd",
		"--name=local", "--data-dir="+filepath.Join(dir, "etcd"), "--unsafe-no-fsync",
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL, "--initial-cluster=local="+peerURL)
	if err != nil {
		return err
	}
	if err := waitFor(ctx, etcd, func(ctx context.Context) bool { return healthy(ctx, etcdURL+"/health") }); err != nil {
		return err
	}

	token, err := cp.credentials()
	if err != nil {
		return err
	}
	api, err := cp.run(bin, "kube-apiserver",
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port="+strconv.Itoa(apiPort),
		"--cert-dir="+filepath.Join(dir, "pki"),
		"--service-cluster-ip-range=10.0.0.0/24",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+filepath.Join(dir, "sa.pub"),
		"--service-account-signing-key-file="+filepath.Join(dir, "sa.key"),
		"--token-auth-file="+filepath.Join(dir, "tokens.csv"), "--authorization-mode=RBAC",
		"--allow-privileged=true", "--enable-priority-and-fairness=false", "--endpoint-reconciler-type=none")
	if err != nil {
		return err
	}
	config := &rest.Config{
		Host:            "https://127.0.0.1:" + strconv.Itoa(apiPort),
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{Insecure: true}, // the apiserver's self-signed certificate, on loopback
	}
	if err := WriteKubeconfig(cp.kubeconfig, config.Host, token); err != nil {
		return err
	}
	client, err := kubeapi.New(config)
	if err != nil {
		return fmt.Errorf("make admin client: %w", err)
	}
	if err := waitFor(ctx, api, func(ctx context.Context) bool {
		_, err := client.Core.Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil
	}); err != nil {
		return err
	}

	if _, err := cp.run(bin, "kube-controller-manager",
		"--kubeconfig="+cp.kubeconfig, "--leader-elect=false", "--secure-port=0",
		"--controllers="+strings.Join(controllers, ","),
		"--service-account-private-key-file="+filepath.Join(dir, "sa.key"),
		"--root-ca-file="+filepath.Join(dir, "pki", "apiserver.crt")); err != nil {
		return err
	}
	if _, err := cp.run(bin, "kube-scheduler", "--kubeconfig="+cp.kubeconfig, "--leader-elect=false", "--secure-port=0"); err != nil {
		return err
	}
	kwok, err := cp.run(bin, "kwok",
		"--kubeconfig="+cp.kubeconfig, "--config="+stages,
		"--manage-all-nodes=false", "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--node-ip=10.0.0.1", "--cidr=10.0.0.1/24",
		// Without a node lease kwok hardly updates the node's status: the
		// node-lifecycle-controller then marks the node NotReady, and its
		// pods not ready, for 5 seconds every 55.
		"--node-lease-duration-seconds=40")
	if err != nil {
		return err
	}
	if _, err := client.Nodes().Create(ctx, fakeNode()); err != nil {
		return fmt.Errorf("create the fake node: %w", err)
	}
	if err := waitFor(ctx, kwok, func(ctx context.Context) bool { return schedulable(ctx, client) }); err != nil {
		return fmt.Errorf("wait for the fake node to be ready: %w", err)
	}
	return nil
}

// credentials writes the service-account signing key and the admin's token,
// and returns the token.
func (cp *ControlPlane) credentials() (string, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", fmt.Errorf("generate service account key: %w", err)
	}
	public, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return "", fmt.Errorf("encode service account key: %w", err)
	}
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		return "", fmt.Errorf("generate token: %w", err)
	}
	token := hex.EncodeToString(secret)
	files := map[string][]byte{
		"sa.key":     pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}),
		"sa.pub":     pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: public}),
		"tokens.csv": []byte(token + ",admin,admin,system:masters\n"),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(cp.dir, name), data, 0o600); err != nil {
			return "", fmt.Errorf("write %s: %w", name, err)
		}
	}
	return token, nil
}

// WriteKubeconfig writes a kubeconfig for the API server at host that
// authenticates with token (a ServiceAccount's, say). It skips the
// verification of the server's certificate: the control plane's is
// self-signed, and on loopback.
func WriteKubeconfig(path, host, token string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["local"] = &clientcmdapi.Cluster{Server: host, InsecureSkipTLSVerify: true}
	cfg.AuthInfos["user"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["local"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: "user"}
	cfg.CurrentContext = "local"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	return nil
}

// fakeNode is the one node, which kwok keeps Ready and whose pods it runs.
func fakeNode() *corev1.Node {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("32"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   resource.MustParse("250"),
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        fakeNodeName,
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
			Labels:      map[string]string{fakeNodeLabel: fakeNodeValue, "kubernetes.io/hostname": fakeNodeName},
		},
		Status: corev1.NodeStatus{Allocatable: capacity, Capacity: capacity},
	}
}

// schedulable reports whether the fake node is Ready and rid of the
// not-ready taint it starts with.
func schedulable(ctx context.Context, client *kubeapi.APIs) bool {
	node, err := client.Nodes().Get(ctx, fakeNodeName)
	if err != nil {
		return false
	}
	for _, taint := range node.Spec.Taints {
		if taint.Key == corev1.TaintNodeNotReady {
			return false
		}
	}
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func healthy(ctx context.Context, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// waitFor checks ready every 100 ms until it holds, p exits, or ctx ends.
func waitFor(ctx context.Context, p *process, ready func(context.Context) bool) error {
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		if p.exited() {
			return false, fmt.Errorf("%s exited: %s", p.name, p.logTail())
		}
		return ready(ctx), nil
	})
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%s not ready in time: %w; %s", p.name, ctx.Err(), p.logTail())
	}
	return err
}

// freePorts asks the kernel for three unused loopback ports.
func freePorts() (a, b, c int, err error) {
	var ports [3]int
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, 0, 0, fmt.Errorf("find a free port: %w", err)
		}
		listeners = append(listeners, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports[0], ports[1], ports[2], nil
}

// process is one program of the control plane. On Linux it is killed when
// the process that started it dies, however it dies.
type process struct {
	name string
	log  string
	cmd  *exec.Cmd
	done chan struct{}
}

func (cp *ControlPlane) run(bin, name string, args ...string) (*process, error) {
	logPath := filepath.Join(cp.dir, name+".log")
	logFile, err := os.Create(logPath) //nolint:gosec // in the control plane's own state directory
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	cmd := exec.Command(filepath.Join(bin, name), args...) //nolint:gosec // running the built binaries is this package's job
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = dieWithParent()
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		_ = logFile.Close()
		close(p.done)
	}()
	cp.processes = append(cp.processes, p)
	return p, nil
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks the process to end, and kills it after five seconds.
func (p *process) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// logTail returns the end of the process's log, for error messages.
func (p *process) logTail() string {
	data, err := os.ReadFile(p.log)
	if err != nil {
		return "no log: " + err.Error()
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	lines = lines[max(0, len(lines)-15):]
	return p.name + " log (" + p.log + "):\n" + strings.Join(lines, "\n")
}
