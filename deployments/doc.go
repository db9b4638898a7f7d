// Package deployments holds no code: its tests check the deployment files
// beside it, as far as a machine without a Kubernetes cluster can.
//
//   - docker/: the Dockerfile and the image's user, and the root
//     docker-compose.yml (structure only; test/e2e runs it).
//   - k8s/: the kustomize base, rendered with `kubectl kustomize` (Debian's
//     kubernetes-client; set KUBECTL to use another binary).
//   - helm/mqttio: the chart, rendered by a small Go renderer that offers
//     text/template plus the few Helm functions the chart uses.
//
// Every rendered object is decoded strictly into the k8s.io/api types, then
// the invariants are checked: a headless Service publishing not-ready
// addresses for peer discovery, a StatefulSet with parallel pod management,
// probes on the admin listener's /healthz and /readyz, container and
// Service ports that match the addresses in the mounted configuration,
// persistent volume claims, anti-affinity and a PodDisruptionBudget that
// select the pods and keep the Raft quorum.
//
// Run them with `make k8s-check` (or go test ./deployments/...).
package deployments
