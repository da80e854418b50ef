// Package deploy holds no code: this test checks the deployment files in
// configs/deploy (Kubernetes manifests, systemd unit, Dockerfile) for
// well-formedness and for agreement with each other and with pgshield's
// configuration. It needs no cluster, no Docker engine and no systemd.
package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/pgshield/pgshield/config"
)

const (
	k8sDir       = "kubernetes"
	examplePath  = "../pgshield.example.yaml"
	clientPort   = 6432
	opsPort      = 9187
	postgresPort = 5432
	configMount  = "/etc/pgshield/pgshield.yaml"
	auditDir     = "/var/lib/pgshield/audit"
	stateDir     = "/var/lib/pgshield"
	unitPath     = "systemd/pgshield.service"
	dockerfile   = "docker/Dockerfile"
)

type obj = map[string]any

// manifest is one YAML document of a file under kubernetes/.
type manifest struct {
	file string
	doc  obj
}

func (m manifest) kind() string { return str(m.doc, "kind") }
func (m manifest) name() string { return str(m.doc, "metadata", "name") }

// get walks maps by key and lists by decimal index.
func get(v any, path ...string) any {
	for _, p := range path {
		switch t := v.(type) {
		case obj:
			v = t[p]
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(t) {
				return nil
			}
			v = t[i]
		default:
			return nil
		}
	}
	return v
}

func str(v any, path ...string) string  { s, _ := get(v, path...).(string); return s }
func list(v any, path ...string) []any  { l, _ := get(v, path...).([]any); return l }
func mapping(v any, path ...string) obj { m, _ := get(v, path...).(obj); return m }

func num(v any, path ...string) (int, bool) {
	switch n := get(v, path...).(type) {
	case int:
		return n, true
	}
	return 0, false
}

func loadManifests(t *testing.T) []manifest {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s: %v", k8sDir, err)
	}
	var out []manifest
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for i := 0; ; i++ {
			var doc obj
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s document %d: %v", f, i, err)
			}
			if doc == nil {
				continue
			}
			out = append(out, manifest{file: filepath.Base(f), doc: doc})
		}
	}
	return out
}

func byKind(ms []manifest, kind string) []manifest {
	var out []manifest
	for _, m := range ms {
		if m.kind() == kind {
			out = append(out, m)
		}
	}
	return out
}

func one(t *testing.T, ms []manifest, kind, name string) manifest {
	t.Helper()
	for _, m := range ms {
		if m.kind() == kind && m.name() == name {
			return m
		}
	}
	t.Fatalf("no %s %q among the manifests", kind, name)
	return manifest{}
}

var knownAPIVersion = map[string]string{
	"Deployment":          "apps/v1",
	"Service":             "v1",
	"ConfigMap":           "v1",
	"Secret":              "v1",
	"ServiceAccount":      "v1",
	"NetworkPolicy":       "networking.k8s.io/v1",
	"PodDisruptionBudget": "policy/v1",
	"Kustomization":       "kustomize.config.k8s.io/v1beta1",
}

var dns1123 = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

func TestManifestsWellFormed(t *testing.T) {
	ms := loadManifests(t)
	seen := map[string]string{}
	for _, m := range ms {
		kind := m.kind()
		want, ok := knownAPIVersion[kind]
		if !ok {
			t.Errorf("%s: unexpected kind %q", m.file, kind)
			continue
		}
		if got := str(m.doc, "apiVersion"); got != want {
			t.Errorf("%s: %s apiVersion %q, want %q", m.file, kind, got, want)
		}
		if kind == "Kustomization" {
			continue
		}
		name := m.name()
		if !dns1123.MatchString(name) || len(name) > 63 {
			t.Errorf("%s: %s metadata.name %q is not a DNS label", m.file, kind, name)
		}
		if ns := get(m.doc, "metadata", "namespace"); ns != nil {
			t.Errorf("%s: %s/%s sets metadata.namespace; the manifests must be namespace-agnostic", m.file, kind, name)
		}
		key := kind + "/" + name
		if prev, dup := seen[key]; dup {
			t.Errorf("%s: %s defined again (first in %s)", m.file, key, prev)
		}
		seen[key] = m.file
	}
}

func TestSecretTemplatesArePlaceholders(t *testing.T) {
	ms := loadManifests(t)
	secrets := byKind(ms, "Secret")
	if len(secrets) == 0 {
		t.Fatal("no Secret templates")
	}
	for _, s := range secrets {
		if !strings.Contains(s.file, "example") {
			t.Errorf("%s: Secret %s must live in a *.example.yaml template", s.file, s.name())
		}
		if get(s.doc, "data") != nil {
			t.Errorf("%s: use stringData with visible placeholders, not data", s.file)
		}
		sd := mapping(s.doc, "stringData")
		if len(sd) == 0 {
			t.Errorf("%s: no stringData", s.file)
		}
		for k, v := range sd {
			val, _ := v.(string)
			if !strings.Contains(val, "REPLACE-ME") {
				t.Errorf("%s: %s.%s is not a marked placeholder", s.file, s.name(), k)
			}
			if strings.Contains(val, "-----BEGIN") && !strings.HasPrefix(strings.TrimSpace(val), "REPLACE-ME") {
				t.Errorf("%s: %s.%s looks like real PEM material", s.file, s.name(), k)
			}
		}
	}
}

func TestKustomizationListsEverythingButSecrets(t *testing.T) {
	ms := loadManifests(t)
	k := one(t, ms, "Kustomization", "")
	var res []string
	for _, r := range list(k.doc, "resources") {
		s, _ := r.(string)
		res = append(res, s)
	}
	files := map[string]bool{}
	for _, m := range ms {
		if m.kind() != "Kustomization" {
			files[m.file] = m.kind() == "Secret"
		}
	}
	for f, isSecret := range files {
		listed := slices.Contains(res, f)
		if isSecret && listed {
			t.Errorf("kustomization.yaml lists the Secret template %s: placeholders would be applied", f)
		}
		if !isSecret && !listed {
			t.Errorf("kustomization.yaml does not list %s", f)
		}
	}
	for _, r := range res {
		if _, ok := files[r]; !ok {
			t.Errorf("kustomization.yaml lists %s, which is not a manifest here", r)
		}
	}
}

func boolAt(t *testing.T, where string, v any, path ...string) {
	t.Helper()
	if b, ok := get(v, path...).(bool); !ok || !b {
		t.Errorf("%s: %s must be true", where, strings.Join(path, "."))
	}
}

func TestDeploymentSecurity(t *testing.T) {
	ms := loadManifests(t)
	d := one(t, ms, "Deployment", "pgshield")
	pod := mapping(d.doc, "spec", "template", "spec")
	if pod == nil {
		t.Fatal("no pod template")
	}
	psc := mapping(pod, "securityContext")
	boolAt(t, "pod securityContext", psc, "runAsNonRoot")
	if str(psc, "seccompProfile", "type") != "RuntimeDefault" {
		t.Error("pod seccompProfile.type must be RuntimeDefault")
	}
	if uid, ok := num(psc, "runAsUser"); !ok || uid == 0 {
		t.Error("pod runAsUser must be a non-zero uid")
	}
	if b, ok := pod["automountServiceAccountToken"].(bool); !ok || b {
		t.Error("automountServiceAccountToken must be false")
	}
	if len(list(pod, "containers")) != 1 {
		t.Fatalf("want exactly one container, got %d", len(list(pod, "containers")))
	}
	c := mapping(pod, "containers", "0")
	csc := mapping(c, "securityContext")
	boolAt(t, "container securityContext", csc, "runAsNonRoot")
	boolAt(t, "container securityContext", csc, "readOnlyRootFilesystem")
	if b, ok := csc["allowPrivilegeEscalation"].(bool); !ok || b {
		t.Error("container allowPrivilegeEscalation must be false")
	}
	if b, ok := csc["privileged"].(bool); ok && b {
		t.Error("container must not be privileged")
	}
	drop := list(csc, "capabilities", "drop")
	if len(drop) != 1 || drop[0] != "ALL" {
		t.Errorf("capabilities.drop = %v, want [ALL]", drop)
	}
	if add := list(csc, "capabilities", "add"); len(add) != 0 {
		t.Errorf("capabilities.add = %v, want none", add)
	}
	if str(csc, "seccompProfile", "type") != "RuntimeDefault" {
		t.Error("container seccompProfile.type must be RuntimeDefault")
	}
	for _, r := range []string{"cpu", "memory"} {
		if get(c, "resources", "requests", r) == nil {
			t.Errorf("resources.requests.%s missing", r)
		}
	}
	if get(c, "resources", "limits", "memory") == nil {
		t.Error("resources.limits.memory missing")
	}
	cmd := list(c, "command")
	if len(cmd) != 4 || cmd[1] != "serve" || cmd[2] != "--config" || cmd[3] != configMount {
		t.Errorf("command = %v, want [/pgshield serve --config %s]", cmd, configMount)
	}
}

// containerPorts maps port names to numbers.
func containerPorts(t *testing.T, c obj) map[string]int {
	t.Helper()
	out := map[string]int{}
	for i := range list(c, "ports") {
		p := mapping(c, "ports", strconv.Itoa(i))
		n, ok := num(p, "containerPort")
		if !ok {
			t.Errorf("port %d without containerPort", i)
		}
		out[str(p, "name")] = n
	}
	return out
}

func resolvePort(ports map[string]int, v any) int {
	switch p := v.(type) {
	case int:
		return p
	case string:
		return ports[p]
	}
	return 0
}

func TestDeploymentProbesAndShutdown(t *testing.T) {
	ms := loadManifests(t)
	d := one(t, ms, "Deployment", "pgshield")
	pod := mapping(d.doc, "spec", "template", "spec")
	c := mapping(pod, "containers", "0")
	ports := containerPorts(t, c)
	if ports["postgres"] != clientPort || ports["ops"] != opsPort {
		t.Errorf("container ports %v, want postgres=%d ops=%d", ports, clientPort, opsPort)
	}
	for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz", "startupProbe": "/healthz"} {
		p := mapping(c, probe)
		if p == nil {
			if probe != "startupProbe" {
				t.Errorf("%s missing", probe)
			}
			continue
		}
		if got := str(p, "httpGet", "path"); got != path {
			t.Errorf("%s path %q, want %q", probe, got, path)
		}
		if got := resolvePort(ports, get(p, "httpGet", "port")); got != opsPort {
			t.Errorf("%s port resolves to %d, want %d", probe, got, opsPort)
		}
	}

	// terminationGracePeriodSeconds > preStop sleep + shutdown_grace.
	cfg := embeddedConfig(t, ms)
	grace := cfg.ShutdownGrace
	tgp, ok := num(pod, "terminationGracePeriodSeconds")
	if !ok {
		t.Fatal("terminationGracePeriodSeconds missing")
	}
	preStop := 0
	if s, ok := num(c, "lifecycle", "preStop", "sleep", "seconds"); ok {
		preStop = s
	} else if get(c, "lifecycle", "preStop") == nil {
		t.Error("lifecycle.preStop missing")
	}
	if time.Duration(tgp)*time.Second <= grace+time.Duration(preStop)*time.Second {
		t.Errorf("terminationGracePeriodSeconds %d must exceed preStop %ds + shutdown_grace %s", tgp, preStop, grace)
	}
}

func TestDeploymentVolumes(t *testing.T) {
	ms := loadManifests(t)
	d := one(t, ms, "Deployment", "pgshield")
	pod := mapping(d.doc, "spec", "template", "spec")
	c := mapping(pod, "containers", "0")

	vols := map[string]obj{}
	for i := range list(pod, "volumes") {
		v := mapping(pod, "volumes", strconv.Itoa(i))
		vols[str(v, "name")] = v
	}
	mounts := map[string]obj{} // mountPath -> mount
	for i := range list(c, "volumeMounts") {
		m := mapping(c, "volumeMounts", strconv.Itoa(i))
		if _, ok := vols[str(m, "name")]; !ok {
			t.Errorf("volumeMount %s names no volume", str(m, "name"))
		}
		mounts[str(m, "mountPath")] = m
	}
	for _, p := range []string{auditDir, stateDir} {
		m, ok := mounts[p]
		if !ok {
			t.Errorf("no writable volume at %s (the root filesystem is read-only)", p)
			continue
		}
		if b, _ := m["readOnly"].(bool); b {
			t.Errorf("%s is mounted read-only", p)
		}
	}

	// Every ConfigMap and Secret volume names an object defined here, and
	// every file the embedded config points at is a key of the volume
	// mounted over its directory.
	cm := mapping(vols[str(mounts[configMount], "name")], "configMap")
	if cm == nil || str(cm, "name") != "pgshield-config" || str(mounts[configMount], "subPath") != "pgshield.yaml" {
		t.Errorf("%s must be the pgshield.yaml key of ConfigMap pgshield-config", configMount)
	}
	one(t, ms, "ConfigMap", "pgshield-config")

	cfg := embeddedConfig(t, ms)
	files := []string{cfg.TLS.CertFile, cfg.TLS.KeyFile, cfg.TLS.ClientCAFile, cfg.TLS.CRLFile,
		cfg.Backend.PasswordFile, cfg.Backend.TLSCAFile}
	for _, f := range files {
		if f == "" {
			continue
		}
		m, ok := mounts[filepath.Dir(f)]
		if !ok {
			t.Errorf("config file %s: no volume mounted at %s", f, filepath.Dir(f))
			continue
		}
		if b, _ := m["readOnly"].(bool); !b {
			t.Errorf("%s must be mounted readOnly", filepath.Dir(f))
		}
		v := vols[str(m, "name")]
		secretName := str(v, "secret", "secretName")
		if secretName == "" {
			t.Errorf("config file %s is not on a Secret volume", f)
			continue
		}
		s := one(t, ms, "Secret", secretName)
		if _, ok := mapping(s.doc, "stringData")[filepath.Base(f)]; !ok {
			t.Errorf("config file %s: Secret %s has no key %s", f, secretName, filepath.Base(f))
		}
	}
}

func podLabels(t *testing.T, ms []manifest) obj {
	t.Helper()
	d := one(t, ms, "Deployment", "pgshield")
	l := mapping(d.doc, "spec", "template", "metadata", "labels")
	sel := mapping(d.doc, "spec", "selector", "matchLabels")
	if !selects(sel, l) || len(sel) == 0 {
		t.Fatalf("Deployment selector %v does not select its pod labels %v", sel, l)
	}
	return l
}

// selects reports whether the matchLabels sel selects labels.
func selects(sel, labels obj) bool {
	if len(sel) == 0 {
		return false // an empty selector selects everything: never what we want here
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func TestServicesAndPDB(t *testing.T) {
	ms := loadManifests(t)
	labels := podLabels(t, ms)
	d := one(t, ms, "Deployment", "pgshield")
	ports := containerPorts(t, mapping(d.doc, "spec", "template", "spec", "containers", "0"))

	svc := one(t, ms, "Service", "pgshield")
	met := one(t, ms, "Service", "pgshield-metrics")
	for _, s := range []manifest{svc, met} {
		if !selects(mapping(s.doc, "spec", "selector"), labels) {
			t.Errorf("Service %s selector does not select the pgshield pods", s.name())
		}
	}
	check := func(s manifest, want int) {
		ps := list(s.doc, "spec", "ports")
		if len(ps) != 1 {
			t.Errorf("Service %s: want exactly one port, got %d", s.name(), len(ps))
			return
		}
		p := mapping(ps[0])
		if n, _ := num(p, "port"); n != want {
			t.Errorf("Service %s port %d, want %d", s.name(), n, want)
		}
		if got := resolvePort(ports, p["targetPort"]); got != want {
			t.Errorf("Service %s targetPort resolves to %d, want %d", s.name(), got, want)
		}
	}
	check(svc, clientPort)
	check(met, opsPort)
	if str(met.doc, "spec", "clusterIP") != "None" && str(met.doc, "spec", "type") != "ClusterIP" {
		t.Error("metrics Service must be headless or ClusterIP")
	}
	if ty := str(svc.doc, "spec", "type"); ty != "" && ty != "ClusterIP" {
		t.Errorf("client Service type %s: keep it ClusterIP", ty)
	}

	for _, p := range byKind(ms, "PodDisruptionBudget") {
		if !selects(mapping(p.doc, "spec", "selector", "matchLabels"), labels) {
			t.Errorf("PodDisruptionBudget %s does not select the pgshield pods", p.name())
		}
	}
}

// ingressPorts returns, per rule, its ports and peers.
func rulePorts(rule obj) []int {
	var out []int
	for i := range list(rule, "ports") {
		n, _ := num(rule, "ports", strconv.Itoa(i), "port")
		out = append(out, n)
	}
	return out
}

func TestNetworkPolicies(t *testing.T) {
	ms := loadManifests(t)
	labels := podLabels(t, ms)

	// PostgreSQL: only pgshield pods, only 5432.
	pg := one(t, ms, "NetworkPolicy", "postgres-allow-only-pgshield")
	pgSel := mapping(pg.doc, "spec", "podSelector", "matchLabels")
	if len(pgSel) == 0 {
		t.Error("postgres policy: podSelector must select the PostgreSQL pods, not everything")
	}
	if selects(pgSel, labels) {
		t.Error("postgres policy selects the pgshield pods themselves")
	}
	if !slices.Contains(toStrings(list(pg.doc, "spec", "policyTypes")), "Ingress") {
		t.Error("postgres policy: policyTypes must include Ingress")
	}
	in := list(pg.doc, "spec", "ingress")
	if len(in) == 0 {
		t.Error("postgres policy: no ingress rule (would deny pgshield too)")
	}
	for i := range in {
		rule := mapping(in[i])
		if p := rulePorts(rule); len(p) != 1 || p[0] != postgresPort {
			t.Errorf("postgres policy rule %d ports %v, want [%d]", i, p, postgresPort)
		}
		from := list(rule, "from")
		if len(from) == 0 {
			t.Errorf("postgres policy rule %d has no from: it admits everyone", i)
		}
		for j := range from {
			peer := mapping(from[j])
			if peer["ipBlock"] != nil || !selects(mapping(peer, "podSelector", "matchLabels"), labels) {
				t.Errorf("postgres policy rule %d peer %d is not the pgshield pods", i, j)
			}
		}
	}

	// pgshield ingress: 6432 from client pods, 9187 from monitoring only.
	ing := one(t, ms, "NetworkPolicy", "pgshield-ingress")
	if !selects(mapping(ing.doc, "spec", "podSelector", "matchLabels"), labels) {
		t.Error("pgshield-ingress does not select the pgshield pods")
	}
	seenPorts := map[int]bool{}
	for i, r := range list(ing.doc, "spec", "ingress") {
		rule := mapping(r)
		ps := rulePorts(rule)
		from := list(rule, "from")
		if len(ps) == 0 || len(from) == 0 {
			t.Errorf("pgshield-ingress rule %d must name both ports and peers", i)
		}
		for _, p := range ps {
			seenPorts[p] = true
			switch p {
			case clientPort:
				for j := range from {
					peer := mapping(from[j])
					if len(mapping(peer, "namespaceSelector", "matchLabels")) == 0 && len(mapping(peer, "podSelector", "matchLabels")) == 0 {
						t.Errorf("pgshield-ingress rule %d peer %d: 6432 open to any pod", i, j)
					}
				}
			case opsPort:
				for j := range from {
					ns := mapping(from[j], "namespaceSelector", "matchLabels")
					if ns["kubernetes.io/metadata.name"] != "monitoring" {
						t.Errorf("pgshield-ingress rule %d peer %d: 9187 must be limited to the monitoring namespace", i, j)
					}
				}
				if len(ps) != 1 {
					t.Errorf("pgshield-ingress rule %d mixes 9187 with other ports", i)
				}
			default:
				t.Errorf("pgshield-ingress opens unexpected port %d", p)
			}
		}
	}
	if !seenPorts[clientPort] || !seenPorts[opsPort] {
		t.Errorf("pgshield-ingress ports %v, want %d and %d", seenPorts, clientPort, opsPort)
	}

	// pgshield egress (if present) must allow the backend port.
	for _, np := range byKind(ms, "NetworkPolicy") {
		if !slices.Contains(toStrings(list(np.doc, "spec", "policyTypes")), "Egress") || !selects(mapping(np.doc, "spec", "podSelector", "matchLabels"), labels) {
			continue
		}
		ok := false
		for _, r := range list(np.doc, "spec", "egress") {
			if slices.Contains(rulePorts(mapping(r)), postgresPort) {
				ok = true
			}
		}
		if !ok {
			t.Errorf("%s restricts pgshield egress without allowing %d", np.name(), postgresPort)
		}
	}
}

func toStrings(l []any) []string {
	var out []string
	for _, v := range l {
		s, _ := v.(string)
		out = append(out, s)
	}
	return out
}

func embeddedConfigText(t *testing.T, ms []manifest) string {
	t.Helper()
	cm := one(t, ms, "ConfigMap", "pgshield-config")
	text := str(cm.doc, "data", "pgshield.yaml")
	if text == "" {
		t.Fatal("ConfigMap pgshield-config has no data.pgshield.yaml")
	}
	return text
}

// embeddedConfig decodes the ConfigMap's pgshield.yaml with pgshield's own
// strict decoder and validation (unknown keys are errors).
func embeddedConfig(t *testing.T, ms []manifest) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(embeddedConfigText(t, ms)))
	if err != nil {
		t.Fatalf("ConfigMap pgshield.yaml does not validate: %v", err)
	}
	return cfg
}

func TestConfigMapValidates(t *testing.T) {
	cfg := embeddedConfig(t, loadManifests(t))
	if _, port, _ := strings.Cut(cfg.Listen, ":"); port != strconv.Itoa(clientPort) {
		t.Errorf("listen %q: the manifests expose %d", cfg.Listen, clientPort)
	}
	if !strings.HasPrefix(cfg.Listen, "0.0.0.0:") && !strings.HasPrefix(cfg.Listen, ":") && !strings.HasPrefix(cfg.Listen, "[::]:") {
		t.Errorf("listen %q: in a pod it must listen on all addresses", cfg.Listen)
	}
	if cfg.Backend.PasswordEnv != "" {
		t.Error("use backend.password_file (the credentials Secret mount), not password_env")
	}
}

// keyPaths lists every mapping key path in a YAML node ("a.b.c"); list
// elements add no path segment.
func keyPaths(n *yaml.Node, prefix string, out map[string]bool) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			keyPaths(c, prefix, out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := n.Content[i].Value
			if prefix != "" {
				p = prefix + "." + p
			}
			out[p] = true
			keyPaths(n.Content[i+1], p, out)
		}
	}
}

// commentedKey matches an example line like "  # password_env: X": a key
// the example documents but leaves commented out. Prose comments have more
// than one space after '#' or spaces in the would-be key.
var commentedKey = regexp.MustCompile(`^(\s*)# ([a-z_]+: .*)$`)

func exampleKeyPaths(t *testing.T) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if m := commentedKey.FindStringSubmatch(line); m != nil {
			line = m[1] + m[2]
		}
		b.WriteString(line + "\n")
	}
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(b.String()), &root); err != nil {
		t.Fatalf("%s with commented keys enabled: %v", examplePath, err)
	}
	out := map[string]bool{}
	keyPaths(&root, "", out)
	if len(out) < 20 {
		t.Fatalf("only %d key paths in %s: parsing went wrong", len(out), examplePath)
	}
	return out
}

func TestConfigMapKeysAreExampleKeys(t *testing.T) {
	want := exampleKeyPaths(t)
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(embeddedConfigText(t, loadManifests(t))), &root); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	keyPaths(&root, "", got)
	var unknown []string
	for k := range got {
		if !want[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	if len(unknown) > 0 {
		t.Errorf("ConfigMap pgshield.yaml keys not in %s: %v", examplePath, unknown)
	}
}

// unitDirectives reads a systemd unit: section -> key -> values in order.
func unitDirectives(t *testing.T, path string) map[string]map[string][]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string][]string{}
	section := ""
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			out[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" || strings.HasSuffix(line, "\\") {
				t.Fatalf("%s:%d: not a directive: %q", path, i+1, line)
			}
			out[section][k] = append(out[section][k], v)
		}
	}
	return out
}

func TestSystemdUnit(t *testing.T) {
	u := unitDirectives(t, unitPath)
	s := u["Service"]
	if s == nil {
		t.Fatal("no [Service] section")
	}
	last := func(k string) string {
		if v := s[k]; len(v) > 0 {
			return v[len(v)-1]
		}
		return ""
	}
	want := map[string]string{
		"User":                    "pgshield",
		"Group":                   "pgshield",
		"ExecStart":               "/usr/local/bin/pgshield serve --config /etc/pgshield/pgshield.yaml",
		"ExecReload":              "/bin/kill -HUP $MAINPID",
		"KillSignal":              "SIGTERM",
		"NoNewPrivileges":         "yes",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"ProtectKernelTunables":   "yes",
		"ProtectKernelModules":    "yes",
		"ProtectKernelLogs":       "yes",
		"ProtectControlGroups":    "yes",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
		"RestrictNamespaces":      "yes",
		"LockPersonality":         "yes",
		"MemoryDenyWriteExecute":  "yes",
		"CapabilityBoundingSet":   "",
		"UMask":                   "0077",
		"Restart":                 "on-failure",
	}
	for k, v := range want {
		if _, ok := s[k]; !ok {
			t.Errorf("[Service] %s missing", k)
		} else if got := last(k); got != v {
			t.Errorf("[Service] %s=%s, want %s", k, got, v)
		}
	}
	if !slices.Contains(s["SystemCallFilter"], "@system-service") {
		t.Error("SystemCallFilter=@system-service missing")
	}
	rw := strings.Fields(strings.Join(s["ReadWritePaths"], " "))
	sort.Strings(rw)
	if !slices.Equal(rw, []string{stateDir, auditDir}) {
		t.Errorf("ReadWritePaths %v, want only %s and %s", rw, stateDir, auditDir)
	}
	if n, err := strconv.Atoi(last("LimitNOFILE")); err != nil || n < 2*10000+1024 {
		t.Errorf("LimitNOFILE=%s: 10k clients need a client and a backend socket each", last("LimitNOFILE"))
	}
	stop, err := time.ParseDuration(last("TimeoutStopSec"))
	if err != nil {
		t.Fatalf("TimeoutStopSec=%s: %v", last("TimeoutStopSec"), err)
	}
	// The default shutdown_grace (config.Parse fills defaults).
	ex, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(ex)
	if err != nil {
		t.Fatal(err)
	}
	if stop <= cfg.ShutdownGrace {
		t.Errorf("TimeoutStopSec %s must exceed shutdown_grace %s", stop, cfg.ShutdownGrace)
	}
}

func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	// Join continuation lines, drop comments.
	var lines []string
	cur := ""
	for _, l := range strings.Split(string(data), "\n") {
		tl := strings.TrimSpace(l)
		if strings.HasPrefix(tl, "#") {
			continue
		}
		if strings.HasSuffix(tl, "\\") {
			cur += strings.TrimSuffix(tl, "\\") + " "
			continue
		}
		if cur+tl != "" {
			lines = append(lines, cur+tl)
		}
		cur = ""
	}
	var froms, users []string
	var entry, expose string
	cgo := false
	for _, l := range lines {
		instr, rest, _ := strings.Cut(l, " ")
		switch strings.ToUpper(instr) {
		case "FROM":
			froms = append(froms, rest)
		case "USER":
			users = append(users, rest)
		case "ENTRYPOINT":
			entry = rest
		case "EXPOSE":
			expose = rest
		case "ENV":
			if strings.Contains(rest, "CGO_ENABLED=1") {
				cgo = true
			}
		}
	}
	if len(froms) < 2 {
		t.Errorf("want a multi-stage build, got FROM %v", froms)
	}
	if !cgo {
		t.Error("the build stage must set CGO_ENABLED=1 (pg_query_go)")
	}
	if len(users) == 0 {
		t.Fatal("no USER")
	}
	u, _, _ := strings.Cut(users[len(users)-1], ":")
	if n, err := strconv.Atoi(u); err != nil || n == 0 {
		t.Errorf("final USER %q must be a non-zero numeric uid", users[len(users)-1])
	}
	if f := strings.Fields(expose); !slices.Equal(f, []string{"6432", "9187"}) {
		t.Errorf("EXPOSE %q, want 6432 9187", expose)
	}
	if entry != `["/pgshield", "serve", "--config", "/etc/pgshield/pgshield.yaml"]` {
		t.Errorf("ENTRYPOINT %s", entry)
	}
}
