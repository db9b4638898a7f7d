package deployments

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

const (
	kustomizeDir = "k8s"
	helmChartDir = "helm/mqttio"
	passwdFile   = "docker/rootfs/etc/passwd"
)

// The admin listener's endpoints (issue 7): /healthz says the process is
// alive, /readyz that the node serves and has joined its cluster.
const (
	livenessPath  = "/healthz"
	readinessPath = "/readyz"
)

// deployment is a rendered mqttio deployment: one object of each kind.
type deployment struct {
	sts       *appsv1.StatefulSet
	headless  *corev1.Service
	client    *corev1.Service
	pdb       *policyv1.PodDisruptionBudget
	cm        *corev1.ConfigMap
	container *corev1.Container
	config    map[string]any // the mounted mqttio.yaml
	configKey string         // its key in the ConfigMap
}

// expect is what a rendering was asked for.
type expect struct {
	replicas    int
	serviceType corev1.ServiceType
	tls         bool
	auth        bool
	hard        bool // required (not preferred) anti-affinity
}

var defaults = expect{replicas: 3, serviceType: corev1.ServiceTypeClusterIP}

// collect sorts the objects into a deployment, failing unless there is
// exactly one StatefulSet, ConfigMap and PodDisruptionBudget, and two
// Services: the headless one and the client one.
func collect(t *testing.T, objs []object) *deployment {
	t.Helper()
	d := &deployment{}
	for _, o := range objs {
		switch v := o.obj.(type) {
		case *appsv1.StatefulSet:
			if d.sts != nil {
				t.Fatalf("two StatefulSets: %s and %s", d.sts.Name, v.Name)
			}
			d.sts = v
		case *corev1.ConfigMap:
			if d.cm != nil {
				t.Fatalf("two ConfigMaps: %s and %s", d.cm.Name, v.Name)
			}
			d.cm = v
		case *policyv1.PodDisruptionBudget:
			if d.pdb != nil {
				t.Fatalf("two PodDisruptionBudgets")
			}
			d.pdb = v
		case *corev1.Service:
			switch {
			case v.Spec.ClusterIP == corev1.ClusterIPNone && d.headless == nil:
				d.headless = v
			case v.Spec.ClusterIP != corev1.ClusterIPNone && d.client == nil:
				d.client = v
			default:
				t.Fatalf("unexpected Service %s", v.Name)
			}
		default:
			t.Fatalf("unexpected %s %s", o.kind, o.name)
		}
	}
	if d.sts == nil || d.cm == nil || d.pdb == nil || d.headless == nil || d.client == nil {
		t.Fatalf("want a StatefulSet, a ConfigMap, a PodDisruptionBudget, a headless and a client Service; got %+v", d)
	}
	pod := d.sts.Spec.Template.Spec
	if len(pod.Containers) != 1 || pod.Containers[0].Name != "mqttio" {
		t.Fatalf("want one container named mqttio, got %d", len(pod.Containers))
	}
	d.container = &d.sts.Spec.Template.Spec.Containers[0]

	// The configuration file: --config PATH, mounted from the ConfigMap.
	args := d.container.Args
	i := slices.Index(args, "--config")
	if i < 0 || i+1 >= len(args) {
		t.Fatalf("container args %q: no --config FILE", args)
	}
	file := args[i+1]
	mount := mountAt(d.container, path.Dir(file))
	if mount == nil || !mount.ReadOnly {
		t.Fatalf("--config %s: no read-only volume mounted at %s", file, path.Dir(file))
	}
	vol := podVolume(&pod, mount.Name)
	if vol == nil || vol.ConfigMap == nil || vol.ConfigMap.Name != d.cm.Name {
		t.Fatalf("--config %s: volume %s is not the ConfigMap %s: %+v", file, mount.Name, d.cm.Name, vol)
	}
	d.configKey = path.Base(file)
	text, ok := d.cm.Data[d.configKey]
	if !ok {
		t.Fatalf("ConfigMap %s has no key %s", d.cm.Name, d.configKey)
	}
	if err := yaml.Unmarshal([]byte(text), &d.config); err != nil {
		t.Fatalf("ConfigMap %s, %s: %v\n%s", d.cm.Name, d.configKey, err, text)
	}
	return d
}

func mountAt(c *corev1.Container, dir string) *corev1.VolumeMount {
	for i := range c.VolumeMounts {
		if path.Clean(c.VolumeMounts[i].MountPath) == path.Clean(dir) {
			return &c.VolumeMounts[i]
		}
	}
	return nil
}

func podVolume(pod *corev1.PodSpec, name string) *corev1.Volume {
	for i := range pod.Volumes {
		if pod.Volumes[i].Name == name {
			return &pod.Volumes[i]
		}
	}
	return nil
}

// containerPort resolves a Service's or probe's target port against the
// container: by name, or by number.
func containerPort(c *corev1.Container, p intstr.IntOrString) *corev1.ContainerPort {
	for i := range c.Ports {
		cp := &c.Ports[i]
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return cp
		}
	}
	return nil
}

func namedPort(c *corev1.Container, name string) *corev1.ContainerPort {
	return containerPort(c, intstr.FromString(name))
}

// subset reports whether every label of sel is in labels with the same
// value (and sel is not empty).
func subset(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// imageUser reads the uid and gid of the mqttio user from the image's
// /etc/passwd (deployments/docker/rootfs).
func imageUser(t *testing.T) (uid, gid int64) {
	t.Helper()
	f, err := os.Open(passwdFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) == 7 && fields[0] == "mqttio" {
			uid, err1 := strconv.ParseInt(fields[2], 10, 64)
			gid, err2 := strconv.ParseInt(fields[3], 10, 64)
			if err1 != nil || err2 != nil || uid == 0 {
				t.Fatalf("%s: bad mqttio entry %q", passwdFile, sc.Text())
			}
			return uid, gid
		}
	}
	t.Fatalf("%s: no mqttio user", passwdFile)
	return 0, 0
}

// checkDeployment checks the invariants of a rendered deployment.
func checkDeployment(t *testing.T, d *deployment, want expect) {
	keys := loadConfigKeys(t)
	sts, pod, c, cfg := d.sts, &d.sts.Spec.Template.Spec, d.container, d.config
	podLabels := d.sts.Spec.Template.Labels
	errorf := func(format string, args ...any) { t.Helper(); t.Errorf(format, args...) }

	// The configuration only uses keys the binary has (or will have).
	keys.checkFileKeys(t, "ConfigMap "+d.cm.Name, cfg)

	// StatefulSet: parallel start, the headless Service, its own pods.
	if sts.Spec.Replicas == nil || int(*sts.Spec.Replicas) != want.replicas {
		errorf("StatefulSet replicas %v, want %d", sts.Spec.Replicas, want.replicas)
	}
	if sts.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		errorf("podManagementPolicy %q, want Parallel: the nodes must all start to find each other", sts.Spec.PodManagementPolicy)
	}
	if sts.Spec.ServiceName != d.headless.Name {
		errorf("serviceName %q, want the headless Service %q", sts.Spec.ServiceName, d.headless.Name)
	}
	sel := sts.Spec.Selector
	if sel == nil || len(sel.MatchExpressions) > 0 || !subset(sel.MatchLabels, podLabels) {
		errorf("StatefulSet selector %+v does not select its pods (labels %v)", sel, podLabels)
	}
	if g := pod.TerminationGracePeriodSeconds; g == nil || *g < 15 {
		errorf("terminationGracePeriodSeconds %v: want at least 15 (shutdown_timeout 10s and margin)", g)
	}

	// Runs as the image's user, and the volume is writable by it.
	uid, gid := imageUser(t)
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != uid ||
		psc.RunAsGroup == nil || *psc.RunAsGroup != gid || psc.FSGroup == nil || *psc.FSGroup != gid {
		errorf("pod securityContext %+v: want runAsNonRoot, runAsUser %d, runAsGroup and fsGroup %d (the image's mqttio user)", psc, uid, gid)
	}
	if csc := c.SecurityContext; csc == nil || csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation ||
		csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem {
		errorf("container securityContext %+v: want no privilege escalation and a read-only root", csc)
	}
	if !strings.HasPrefix(c.Image, "mqttio:") && !strings.Contains(c.Image, "/mqttio:") {
		errorf("image %q: want the mqttio image", c.Image)
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if q, ok := c.Resources.Requests[r]; !ok || q.IsZero() {
			errorf("no %s request", r)
		}
	}

	// Node id from the pod name, advertised address from the pod IP.
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		if _, dup := env[e.Name]; dup {
			errorf("environment variable %s set twice", e.Name)
		}
		env[e.Name] = e
		keys.checkEnv(t, "container mqttio", e.Name)
	}
	for name, field := range map[string]string{"MQTTIO_NODE_ID": "metadata.name", "MQTTIO_CLUSTER_ADVERTISE": "status.podIP"} {
		e, ok := env[name]
		if !ok || e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != field {
			errorf("%s: want it from the downward API field %s, got %+v", name, field, e)
		}
	}

	// Container ports: unique names, and the ones the configuration binds.
	seen := map[string]bool{}
	for _, p := range c.Ports {
		if p.Name == "" || len(p.Name) > 15 || seen[p.Name] {
			errorf("container port %+v: want a unique name of at most 15 characters", p)
		}
		seen[p.Name] = true
	}
	portOf := func(key string, wantLoopbackOK bool) int {
		t.Helper()
		v := lookupString(cfg, key)
		host, port, err := addrPort(v)
		if err != nil {
			errorf("%s = %q: %v", key, v, err)
			return 0
		}
		if !wantLoopbackOK && (host == "localhost" || strings.HasPrefix(host, "127.") || host == "::1") {
			errorf("%s = %q: bound to loopback, unreachable from the kubelet and the other pods", key, v)
		}
		return port
	}
	bindsPort := func(key, portName string, proto corev1.Protocol) {
		t.Helper()
		port := portOf(key, false)
		cp := namedPort(c, portName)
		if cp == nil || int(cp.ContainerPort) != port || cp.Protocol != proto {
			errorf("%s port %d: want container port %q %d/%s, got %+v", key, port, portName, port, proto, cp)
		}
	}
	bindsPort("listeners.tcp.address", "mqtt", corev1.ProtocolTCP)
	bindsPort("listeners.http.address", "http", corev1.ProtocolTCP)
	bindsPort("admin.address", "admin", corev1.ProtocolTCP)
	bindsPort("cluster.bind", "gossip", corev1.ProtocolTCP)
	bindsPort("cluster.bind", "gossip-udp", corev1.ProtocolUDP)
	bindsPort("cluster.grpc_address", "grpc", corev1.ProtocolTCP)
	if want.tls {
		bindsPort("listeners.tls.address", "mqtts", corev1.ProtocolTCP)
		bindsPort("listeners.https.address", "https", corev1.ProtocolTCP)
		for _, key := range []string{"listeners.tls.cert_file", "listeners.tls.key_file", "listeners.https.cert_file", "listeners.https.key_file"} {
			checkSecretFile(t, d, key, "tls")
		}
		if lookupString(cfg, "listeners.tls.client_auth") != "none" {
			checkSecretFile(t, d, "listeners.tls.client_ca_file", "tls")
		}
	} else {
		for _, name := range []string{"mqtts", "https"} {
			if namedPort(c, name) != nil {
				errorf("container port %s without TLS", name)
			}
		}
		if lookupString(cfg, "listeners.tls.cert_file") != "" || lookupString(cfg, "listeners.https.cert_file") != "" {
			errorf("TLS certificates configured without TLS")
		}
	}
	if want.auth {
		checkSecretFile(t, d, "auth.password_file", "auth")
	} else if _, ok := lookup(cfg, "auth"); ok {
		errorf("auth configured without auth")
	}

	// Probes: the admin listener's real endpoints; liveness never on
	// readiness (a node cut off from the majority must not be killed).
	adminPort := portOf("admin.address", false)
	probe := func(name string, p *corev1.Probe, path string) {
		t.Helper()
		if p == nil || p.HTTPGet == nil {
			errorf("%s probe: want an HTTP GET of %s on the admin listener, got %+v", name, path, p)
			return
		}
		cp := containerPort(c, p.HTTPGet.Port)
		if p.HTTPGet.Path != path || cp == nil || int(cp.ContainerPort) != adminPort || cp.Protocol != corev1.ProtocolTCP {
			errorf("%s probe: GET %s on port %v (%+v), want GET %s on the admin listener's port %d",
				name, p.HTTPGet.Path, p.HTTPGet.Port.String(), cp, path, adminPort)
		}
	}
	probe("readiness", c.ReadinessProbe, readinessPath)
	probe("liveness", c.LivenessProbe, livenessPath)
	if c.StartupProbe != nil {
		probe("startup", c.StartupProbe, livenessPath)
	}

	// Peers: every pod's stable name through the headless Service, on the
	// gossip port; the cluster founded once all replicas see each other.
	gossip := portOf("cluster.bind", false)
	v, _ := lookup(cfg, "cluster.join")
	join, _ := v.([]any)
	var wantJoin []any
	for i := range want.replicas {
		wantJoin = append(wantJoin, fmt.Sprintf("%s-%d.%s:%d", sts.Name, i, d.headless.Name, gossip))
	}
	if !reflect.DeepEqual(join, wantJoin) {
		errorf("cluster.join %v, want %v", join, wantJoin)
	}
	if be, _ := lookup(cfg, "cluster.bootstrap_expect"); be != want.replicas {
		errorf("cluster.bootstrap_expect %v, want %d (the replicas)", be, want.replicas)
	}

	// Data: a claim per pod, mounted at data_dir.
	dataDir := lookupString(cfg, "data_dir")
	m := mountAt(c, dataDir)
	if dataDir == "" || m == nil || m.ReadOnly {
		t.Fatalf("data_dir %q: no writable volume mounted there", dataDir)
	}
	if podVolume(pod, m.Name) != nil {
		errorf("data volume %q is a pod volume: want a volumeClaimTemplate, one claim per pod", m.Name)
	}
	var claim *corev1.PersistentVolumeClaim
	for i := range sts.Spec.VolumeClaimTemplates {
		if sts.Spec.VolumeClaimTemplates[i].Name == m.Name {
			claim = &sts.Spec.VolumeClaimTemplates[i]
		}
	}
	if claim == nil {
		errorf("no volumeClaimTemplate named %q", m.Name)
	} else {
		if !slices.Equal(claim.Spec.AccessModes, []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}) {
			errorf("claim access modes %v, want ReadWriteOnce", claim.Spec.AccessModes)
		}
		if q, ok := claim.Spec.Resources.Requests[corev1.ResourceStorage]; !ok || q.IsZero() {
			errorf("claim requests no storage")
		}
	}

	// Anti-affinity: spread over machines, selecting these pods.
	aa := (*corev1.PodAntiAffinity)(nil)
	if pod.Affinity != nil {
		aa = pod.Affinity.PodAntiAffinity
	}
	var terms []corev1.PodAffinityTerm
	if aa != nil {
		terms = append(terms, aa.RequiredDuringSchedulingIgnoredDuringExecution...)
		for _, w := range aa.PreferredDuringSchedulingIgnoredDuringExecution {
			terms = append(terms, w.PodAffinityTerm)
		}
	}
	if aa == nil || len(terms) != 1 {
		errorf("want one pod anti-affinity term, got %+v", aa)
	} else {
		term := terms[0]
		if term.TopologyKey != "kubernetes.io/hostname" || term.LabelSelector == nil ||
			len(term.LabelSelector.MatchExpressions) > 0 || !subset(term.LabelSelector.MatchLabels, podLabels) {
			errorf("anti-affinity term %+v: want topologyKey kubernetes.io/hostname and a selector of the pods", term)
		}
		if hard := len(aa.RequiredDuringSchedulingIgnoredDuringExecution) == 1; hard != want.hard {
			errorf("anti-affinity required=%v, want %v", hard, want.hard)
		}
	}

	// Headless Service: peer discovery, not-ready pods included.
	h := d.headless
	if !h.Spec.PublishNotReadyAddresses {
		errorf("headless Service %s: publishNotReadyAddresses must be true (nodes become ready only after they found each other)", h.Name)
	}
	if !subset(h.Spec.Selector, podLabels) {
		errorf("headless Service selector %v does not select the pods %v", h.Spec.Selector, podLabels)
	}
	checkServicePorts(t, h, c, []string{"gossip", "gossip-udp", "grpc"})

	// Client Service: ready pods only, the client ports only.
	cs := d.client
	if cs.Spec.PublishNotReadyAddresses {
		errorf("client Service %s publishes not-ready pods", cs.Name)
	}
	if cs.Spec.Type != want.serviceType {
		errorf("client Service type %q, want %q", cs.Spec.Type, want.serviceType)
	}
	if !subset(cs.Spec.Selector, podLabels) {
		errorf("client Service selector %v does not select the pods %v", cs.Spec.Selector, podLabels)
	}
	clientPorts := []string{"mqtt", "http"}
	if want.tls {
		clientPorts = append(clientPorts, "mqtts", "https")
	}
	checkServicePorts(t, cs, c, clientPorts)

	// PodDisruptionBudget: selects exactly the StatefulSet's pods and lets
	// at most a minority go at once.
	pdb := d.pdb
	if pdb.Spec.Selector == nil || len(pdb.Spec.Selector.MatchExpressions) > 0 ||
		!reflect.DeepEqual(pdb.Spec.Selector.MatchLabels, sts.Spec.Selector.MatchLabels) {
		errorf("PodDisruptionBudget selector %+v, want the StatefulSet's %v", pdb.Spec.Selector, sts.Spec.Selector.MatchLabels)
	}
	quorumLoss := want.replicas / 2 // nodes that may go while a majority stays
	switch {
	case pdb.Spec.MaxUnavailable != nil && pdb.Spec.MinAvailable == nil:
		mu := pdb.Spec.MaxUnavailable
		if mu.Type != intstr.Int || mu.IntValue() < 1 || mu.IntValue() > max(quorumLoss, 1) {
			errorf("PodDisruptionBudget maxUnavailable %v: want 1..%d for %d replicas", mu.String(), max(quorumLoss, 1), want.replicas)
		}
	case pdb.Spec.MinAvailable != nil && pdb.Spec.MaxUnavailable == nil:
		if ma := pdb.Spec.MinAvailable; ma.Type != intstr.Int || ma.IntValue() < want.replicas/2+1 {
			errorf("PodDisruptionBudget minAvailable %v: want at least a majority", ma.String())
		}
	default:
		errorf("PodDisruptionBudget: want exactly one of maxUnavailable and minAvailable")
	}
}

// checkServicePorts: s has exactly the ports names, each with a target
// port that resolves to the container port of that name and protocol, on
// the same number.
func checkServicePorts(t *testing.T, s *corev1.Service, c *corev1.Container, names []string) {
	t.Helper()
	var got []string
	for _, p := range s.Spec.Ports {
		got = append(got, p.Name)
		cp := containerPort(c, p.TargetPort)
		if cp == nil || cp.Protocol != p.Protocol || cp.Name != p.Name {
			t.Errorf("Service %s port %s: target %s is not the container port %s/%s (%+v)", s.Name, p.Name, p.TargetPort.String(), p.Name, p.Protocol, cp)
		}
	}
	if !slices.Equal(got, names) {
		t.Errorf("Service %s ports %v, want %v", s.Name, got, names)
	}
}

// checkSecretFile: the file a configuration key names lies in a
// read-only mount of the Secret volume vol.
func checkSecretFile(t *testing.T, d *deployment, key, vol string) {
	t.Helper()
	file := lookupString(d.config, key)
	m := mountAt(d.container, path.Dir(file))
	v := (*corev1.Volume)(nil)
	if m != nil {
		v = podVolume(&d.sts.Spec.Template.Spec, m.Name)
	}
	if file == "" || m == nil || !m.ReadOnly || m.Name != vol || v == nil || v.Secret == nil || v.Secret.SecretName == "" {
		t.Errorf("%s = %q: want a file in the read-only Secret volume %q (mount %+v, volume %+v)", key, file, vol, m, v)
	}
}

func TestKustomizeBase(t *testing.T) {
	d := collect(t, renderKustomize(t, kustomizeDir))
	checkDeployment(t, d, defaults)
	if !strings.HasPrefix(d.cm.Name, "mqttio-config-") {
		t.Errorf("ConfigMap %s: want the generated mqttio-config-<hash>, so a change rolls the pods", d.cm.Name)
	}
}

func TestHelmChartDefaults(t *testing.T) {
	objs, notes := renderChart(t, "mqttio", nil)
	d := collect(t, objs)
	checkDeployment(t, d, defaults)
	if d.sts.Name != "mqttio" || d.headless.Name != "mqttio-headless" || d.client.Name != "mqttio" {
		t.Errorf("names %s, %s, %s: want mqttio, mqttio-headless, mqttio", d.sts.Name, d.headless.Name, d.client.Name)
	}
	if d.sts.Spec.Template.Annotations["checksum/config"] == "" {
		t.Error("no checksum/config annotation: a configuration change would not roll the pods")
	}
	if !strings.Contains(notes, "kubectl port-forward svc/mqttio 1883:1883") {
		t.Errorf("NOTES.txt:\n%s", notes)
	}
}

func TestHelmChartValues(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values string // YAML, merged over values.yaml
		want   expect
		check  func(t *testing.T, d *deployment)
	}{
		{
			name: "five replicas", values: "replicaCount: 5", want: expect{replicas: 5, serviceType: "ClusterIP"},
		},
		{
			name:   "tls",
			values: "tls: {enabled: true, secretName: mqttio-tls, clientAuth: require}",
			want:   expect{replicas: 3, serviceType: "ClusterIP", tls: true},
			check: func(t *testing.T, d *deployment) {
				if v := podVolume(&d.sts.Spec.Template.Spec, "tls"); v.Secret.SecretName != "mqttio-tls" {
					t.Errorf("tls volume %+v", v)
				}
				if got := lookupString(d.config, "listeners.tls.client_auth"); got != "require" {
					t.Errorf("client_auth %q", got)
				}
			},
		},
		{
			name:   "auth",
			values: "auth: {enabled: true, existingSecret: mqttio-auth, aclFileKey: acl}",
			want:   expect{replicas: 3, serviceType: "ClusterIP", auth: true},
			check: func(t *testing.T, d *deployment) {
				if v := podVolume(&d.sts.Spec.Template.Spec, "auth"); v.Secret.SecretName != "mqttio-auth" {
					t.Errorf("auth volume %+v", v)
				}
				if a, p := lookupString(d.config, "auth.acl_file"), lookupString(d.config, "auth.password_file"); a != "/etc/mqttio/auth/acl" || p != "/etc/mqttio/auth/passwords" {
					t.Errorf("auth files %q %q", p, a)
				}
			},
		},
		{
			name:   "load balancer",
			values: "service: {type: LoadBalancer, annotations: {example.com/lb: internal}, ports: {mqtt: 11883}}",
			want:   expect{replicas: 3, serviceType: "LoadBalancer"},
			check: func(t *testing.T, d *deployment) {
				if d.client.Annotations["example.com/lb"] != "internal" || d.client.Spec.Ports[0].Port != 11883 || d.client.Spec.Ports[1].Port != 8080 {
					t.Errorf("client Service %+v", d.client)
				}
			},
		},
		{
			name: "hard anti-affinity", values: "antiAffinity: hard", want: expect{replicas: 3, serviceType: "ClusterIP", hard: true},
		},
		{
			name:   "release name, storage, extra configuration, gossip key, image",
			values: "persistence: {size: 10Gi, storageClass: fast}\nextraConfig: |\n  mqtt:\n    max_inflight: 64\ncluster: {gossipKey: {secretName: mqttio-gossip}}\nimage: {repository: registry.example.com/mqttio, tag: v1.2.3}",
			want:   defaults,
			check: func(t *testing.T, d *deployment) {
				if d.sts.Name != "prod-mqttio" || d.headless.Name != "prod-mqttio-headless" {
					t.Errorf("names %s %s, want prod-mqttio, prod-mqttio-headless", d.sts.Name, d.headless.Name)
				}
				claim := d.sts.Spec.VolumeClaimTemplates[0]
				if claim.Spec.StorageClassName == nil || *claim.Spec.StorageClassName != "fast" || claim.Spec.Resources.Requests.Storage().String() != "10Gi" {
					t.Errorf("claim %+v", claim.Spec)
				}
				if v, _ := lookup(d.config, "mqtt.max_inflight"); v != 64 {
					t.Errorf("mqtt.max_inflight %v, want 64 from extraConfig", v)
				}
				var key *corev1.EnvVar
				for i, e := range d.container.Env {
					if e.Name == "MQTTIO_CLUSTER_GOSSIP_KEY" {
						key = &d.container.Env[i]
					}
				}
				if key == nil || key.ValueFrom == nil || key.ValueFrom.SecretKeyRef == nil ||
					key.ValueFrom.SecretKeyRef.Name != "mqttio-gossip" || key.ValueFrom.SecretKeyRef.Key != "gossip-key" {
					t.Errorf("gossip key variable %+v", key)
				}
				if d.container.Image != "registry.example.com/mqttio:v1.2.3" {
					t.Errorf("image %q", d.container.Image)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var overrides map[string]any
			if err := yaml.Unmarshal([]byte(tc.values), &overrides); err != nil {
				t.Fatal(err)
			}
			release := "mqttio"
			if strings.HasPrefix(tc.name, "release name") {
				release = "prod"
			}
			objs, _ := renderChart(t, release, overrides)
			d := collect(t, objs)
			checkDeployment(t, d, tc.want)
			if tc.check != nil {
				tc.check(t, d)
			}
		})
	}
}

func TestHelmChartRequired(t *testing.T) {
	c, err := loadChart(helmChartDir)
	if err != nil {
		t.Fatal(err)
	}
	for values, want := range map[string]string{
		"tls: {enabled: true}":  "tls.secretName is required when tls.enabled is true",
		"auth: {enabled: true}": "auth.existingSecret is required when auth.enabled is true",
	} {
		var overrides map[string]any
		if err := yaml.Unmarshal([]byte(values), &overrides); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.render("mqttio", overrides); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", values, err, want)
		}
	}
}

// TestHelmMatchesKustomize: with its default values, the chart renders the
// kustomize base (names, pods, Services, budget, configuration), save
// for the chart's extra labels and annotations.
func TestHelmMatchesKustomize(t *testing.T) {
	k := collect(t, renderKustomize(t, kustomizeDir))
	objs, _ := renderChart(t, "mqttio", nil)
	h := collect(t, objs)

	if !reflect.DeepEqual(k.config, h.config) {
		kb, _ := yaml.Marshal(k.config)
		hb, _ := yaml.Marshal(h.config)
		t.Errorf("configuration differs:\nkustomize:\n%s\nhelm:\n%s", kb, hb)
	}
	// Pod templates, without what differs by design: the ConfigMap name's
	// hash suffix and the chart's checksum annotation.
	kpod, hpod := k.sts.Spec.Template.DeepCopy(), h.sts.Spec.Template.DeepCopy()
	for _, p := range []*corev1.PodTemplateSpec{kpod, hpod} {
		p.Annotations = nil
		for i := range p.Spec.Volumes {
			if p.Spec.Volumes[i].ConfigMap != nil {
				p.Spec.Volumes[i].ConfigMap.Name = "mqttio-config"
			}
		}
	}
	same := func(what string, a, b any) {
		t.Helper()
		if !reflect.DeepEqual(a, b) {
			ka, _ := yaml.Marshal(a)
			hb, _ := yaml.Marshal(b)
			t.Errorf("%s differs:\nkustomize:\n%s\nhelm:\n%s", what, ka, hb)
		}
	}
	same("pod template", kpod, hpod)
	kspec, hspec := k.sts.Spec.DeepCopy(), h.sts.Spec.DeepCopy()
	kspec.Template, hspec.Template = corev1.PodTemplateSpec{}, corev1.PodTemplateSpec{}
	same("StatefulSet spec", kspec, hspec)
	same("headless Service spec", k.headless.Spec, h.headless.Spec)
	same("client Service spec", k.client.Spec, h.client.Spec)
	same("PodDisruptionBudget spec", k.pdb.Spec, h.pdb.Spec)
	for _, n := range [][2]string{{k.sts.Name, h.sts.Name}, {k.headless.Name, h.headless.Name}, {k.client.Name, h.client.Name}, {k.pdb.Name, h.pdb.Name}} {
		if n[0] != n[1] {
			t.Errorf("name %s in kustomize, %s in the chart", n[0], n[1])
		}
	}
}
