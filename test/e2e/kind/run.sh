#!/usr/bin/env bash
# schedcp end to end on a kind cluster: builds both images, installs the chart, runs a small
# web + batch workload and checks that a SchedulerPolicy gets a verified design.
#
#   bash test/e2e/kind/run.sh [--keep] [--no-auto]
#
# Recommend mode always: the offline designer designs, the operator verifies the revision
# in its micro-VM, the policy reaches `Recommended`; nothing reaches a kernel.
# Auto mode only when the host kernel has sched_ext and no scheduler is running on it:
# a second policy must reach `Active`, which loads a scheduler into THE HOST'S KERNEL
# (kind nodes share it); deleting the policy must bring /sys/kernel/sched_ext/state back to
# `disabled`. --no-auto (or SCHEDCP_E2E_AUTO=0) skips that part.
#
# Needs docker (or podman, rootful), kind, kubectl, helm, and a host with BTF, a bpffs at
# /sys/fs/bpf and debugfs at /sys/kernel/debug (see kind-config.yaml). Exit status: 0 passed,
# 1 failed (diagnostics written to $SCHEDCP_E2E_ARTIFACTS), 2 a prerequisite is missing.
#
# Environment:
#   SCHEDCP_E2E_CLUSTER     kind cluster name (default schedcp-e2e); an existing cluster of
#                           that name is reused, and then kept at exit
#   SCHEDCP_E2E_NODE_IMAGE  kind node image (default: kind's own)
#   SCHEDCP_E2E_ARTIFACTS   where diagnostics and the kubeconfig go (default: a new temp dir)
#   SCHEDCP_E2E_TIMEOUT     seconds a policy may take to reach its phase (default 900)
#   SCHEDCP_E2E_AUTO        0: never run the Auto-mode part
#   SCHEDCP_CA_BUNDLE       a CA bundle for the image builds' pip (HTTPS through an intercepting
#                           proxy), e.g. /etc/ssl/certs/ca-certificates.crt
set -euo pipefail

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }

keep=false
auto_wanted=${SCHEDCP_E2E_AUTO:-1}
while (($#)); do
  case $1 in
    --keep) keep=true ;;
    --no-auto) auto_wanted=0 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "run.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../../.." && pwd)
cd "$repo"

cluster=${SCHEDCP_E2E_CLUSTER:-schedcp-e2e}
timeout=${SCHEDCP_E2E_TIMEOUT:-900}

release=schedcp
system_ns=schedcp-system
workload_ns=schedcp-e2e-workload
operator_image=schedcp-operator:e2e
# The chart runs the agent with tier-2 profiling: the Dockerfile's `bcc` target.
agent_image=schedcp-node-agent-bcc:e2e
sched_ext=/sys/kernel/sched_ext
# The directories of the host's bpffs that kind-config.yaml gives the nodes, one per node.
bpffs_dirs=(control-plane worker worker2)

log() { printf '\n==> %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

# -- prerequisites -----------------------------------------------------------------------

engine=
missing=()
if command -v docker >/dev/null 2>&1; then
  engine=docker
elif command -v podman >/dev/null 2>&1; then
  engine=podman
  # kind picks docker when both exist; say which one it must use.
  export KIND_EXPERIMENTAL_PROVIDER=podman
else
  missing+=("docker or podman")
fi
for tool in kind kubectl helm; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
  printf 'run.sh: missing: %s\n' "${missing[@]}" >&2
  echo "run.sh: install them (kind: https://kind.sigs.k8s.io/docs/user/quick-start/) and run again" >&2
  exit 2
fi
if ! "$engine" info >/dev/null 2>&1; then
  echo "run.sh: '$engine info' failed: is the $engine daemon running and may this user use it?" >&2
  exit 2
fi

# The nodes' mounts (kind-config.yaml) need these on the host, whatever the mode.
fs_type() { stat -f -c %T "$1" 2>/dev/null || echo none; }
host_problems=()
[[ -e /sys/kernel/btf/vmlinux ]] || host_problems+=("no kernel BTF (/sys/kernel/btf/vmlinux): the kernel needs CONFIG_DEBUG_INFO_BTF=y")
[[ $(fs_type /sys/fs/bpf) == bpf_fs ]] || host_problems+=("no bpffs at /sys/fs/bpf: mount -t bpf bpf /sys/fs/bpf")
[[ $(fs_type /sys/kernel/debug) == debugfs ]] || host_problems+=("no debugfs at /sys/kernel/debug: mount -t debugfs debugfs /sys/kernel/debug")
if ((${#host_problems[@]})); then
  printf 'run.sh: host kernel: %s\n' "${host_problems[@]}" >&2
  exit 2
fi

# sched_ext decides how far the test can go. One kernel: the host's state is every node's.
auto=false
if [[ ! -d $sched_ext ]]; then
  log "host kernel $(uname -r) has no $sched_ext (CONFIG_SCHED_CLASS_EXT): Recommend mode only"
elif [[ $auto_wanted == 0 ]]; then
  log "sched_ext present, Auto mode skipped (--no-auto / SCHEDCP_E2E_AUTO=0): Recommend mode only"
elif [[ $(<"$sched_ext/state") != disabled ]]; then
  log "sched_ext is '$(<"$sched_ext/state")' on this host (another scheduler runs): Recommend mode only"
else
  auto=true
  log "host kernel $(uname -r) has sched_ext: Recommend and Auto mode (Auto loads a scheduler into this host's kernel)"
fi

artifacts=${SCHEDCP_E2E_ARTIFACTS:-$(mktemp -d "${TMPDIR:-/tmp}/schedcp-e2e.XXXXXX")}
mkdir -p "$artifacts"
# Its own kubeconfig: the user's ~/.kube/config is neither read nor changed.
export KUBECONFIG="$artifacts/kubeconfig"

# -- cleanup and diagnostics -------------------------------------------------------------

created=false

node_names() { kind get nodes --name "$cluster" 2>/dev/null || true; }

diagnostics() {
  set +e
  log "diagnostics in $artifacts"
  local out=$artifacts/diagnostics
  mkdir -p "$out"
  kubectl get schedulerpolicies,schedulerrevisions,nodeschedulerstates -A -o yaml >"$out/schedcp-objects.yaml" 2>&1
  kubectl get schedulerpolicies,nodeschedulerstates -A -o wide 2>&1 | tee "$out/schedcp-summary.txt"
  kubectl get pods -A -o wide >"$out/pods.txt" 2>&1
  kubectl get events -A --sort-by=.lastTimestamp >"$out/events.txt" 2>&1
  kubectl -n "$system_ns" logs -l app.kubernetes.io/component=operator --all-containers --prefix \
    --tail=-1 --max-log-requests=10 >"$out/operator.log" 2>&1
  kubectl -n "$system_ns" logs -l app.kubernetes.io/component=operator --all-containers --prefix \
    --previous --tail=-1 --max-log-requests=10 >"$out/operator-previous.log" 2>&1
  kubectl -n "$system_ns" logs -l app.kubernetes.io/component=node-agent --all-containers --prefix \
    --tail=-1 --max-log-requests=10 >"$out/node-agent.log" 2>&1
  kubectl -n "$system_ns" logs -l app.kubernetes.io/component=node-agent --all-containers --prefix \
    --previous --tail=-1 --max-log-requests=10 >"$out/node-agent-previous.log" 2>&1
  helm -n "$system_ns" status "$release" >"$out/helm-status.txt" 2>&1
  [[ -d $sched_ext ]] && grep -r . "$sched_ext" >"$out/host-sched_ext.txt" 2>&1
  kind export logs "$out/kind" --name "$cluster" >/dev/null 2>&1
  echo "--- last events"; tail -n 30 "$out/events.txt"
  echo "--- operator log (tail)"; tail -n 40 "$out/operator.log"
  echo "--- node-agent log (tail)"; tail -n 40 "$out/node-agent.log"
}

# Pins sit on the host's bpffs and outlive the node containers: remove them, which makes the
# kernel detach a scheduler an agent left loaded, before the cluster goes.
remove_pins() {
  local node
  for node in $(node_names); do
    "$engine" exec "$node" rm -rf /sys/fs/bpf/schedcp >/dev/null 2>&1 || true
  done
}

on_exit() {
  local rc=$?
  set +e
  ((rc == 0)) || diagnostics
  if $keep; then
    log "--keep: cluster '$cluster' kept (KUBECONFIG=$KUBECONFIG). A scheduler an agent left loaded stays"
    echo "in the host's kernel until its pin goes: kind delete cluster --name $cluster removes the nodes, not the pins;"
    echo "run this script again without --keep, or remove /sys/fs/bpf/schedcp-kind/*/schedcp as root."
  elif $created; then
    log "deleting cluster '$cluster'"
    remove_pins
    kind delete cluster --name "$cluster"
  elif [[ -n $(node_names) ]]; then
    log "cluster '$cluster' existed before this run: kept"
  fi
  if ((rc == 0)); then log "PASSED"; else log "FAILED (exit $rc); diagnostics in $artifacts"; fi
  exit "$rc"
}
trap on_exit EXIT

# -- cluster -----------------------------------------------------------------------------

if kind get clusters 2>/dev/null | grep -qx "$cluster"; then
  log "reusing kind cluster '$cluster'"
else
  log "creating kind cluster '$cluster'"
  if [[ $engine == podman ]]; then
    # podman, unlike docker, refuses a bind whose host directory does not exist.
    sudo_cmd=()
    ((EUID == 0)) || sudo_cmd=(sudo)
    for dir in "${bpffs_dirs[@]}"; do "${sudo_cmd[@]}" mkdir -p "/sys/fs/bpf/schedcp-kind/$dir"; done
  fi
  image_args=()
  [[ -n ${SCHEDCP_E2E_NODE_IMAGE:-} ]] && image_args=(--image "$SCHEDCP_E2E_NODE_IMAGE")
  created=true
  kind create cluster --name "$cluster" --config "$here/kind-config.yaml" "${image_args[@]}" --wait 120s
fi
kind get kubeconfig --name "$cluster" >"$KUBECONFIG"

# A reused cluster may have been made without kind-config.yaml: check what the agent needs.
for node in $(node_names); do
  for want in /sys/fs/bpf:bpf_fs /sys/kernel/debug:debugfs; do
    path=${want%%:*} type=${want#*:}
    seen=$("$engine" exec "$node" stat -f -c %T "$path" 2>/dev/null || echo none)
    [[ $seen == "$type" ]] || fail "node $node: $path is '$seen', not $type: create the cluster with $here/kind-config.yaml"
  done
  "$engine" exec "$node" test -e /sys/kernel/btf/vmlinux || fail "node $node: no /sys/kernel/btf/vmlinux"
done

# -- images and chart --------------------------------------------------------------------

log "building $operator_image and $agent_image (context: the repository root)"
# The scx binaries the repository pins, as `schedcp dev prepare --scx` built them.
scx_cache=${SCHEDCP_SCX_CACHE:-$HOME/.cache/schedcp/scx}
# Behind an HTTPS-intercepting proxy, pip in the builds needs the CA bundle that trusts it:
# SCHEDCP_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt (the Dockerfiles' `ca-bundle` secret).
ca_secret=()
[[ -z ${SCHEDCP_CA_BUNDLE:-} ]] || ca_secret=(--secret "id=ca-bundle,src=$SCHEDCP_CA_BUNDLE")
"$engine" build -f operator/Dockerfile --build-context scx="$scx_cache" "${ca_secret[@]}" -t "$operator_image" .
"$engine" build -f node-agent/Dockerfile --build-context scx="$scx_cache" "${ca_secret[@]}" --target bcc -t "$agent_image" .

log "loading the images into the nodes"
for image in "$operator_image" "$agent_image"; do
  if [[ $engine == docker ]]; then
    kind load docker-image "$image" --name "$cluster"
  else
    # `kind load docker-image` always asks docker, so an archive. podman names a local
    # build localhost/NAME; the kubelet looks for docker.io/library/NAME.
    archive="$artifacts/${image%%:*}.tar"
    podman tag "localhost/$image" "docker.io/library/$image"
    podman save -o "$archive" "docker.io/library/$image"
    kind load image-archive "$archive" --name "$cluster"
    rm -f "$archive"
  fi
done

log "installing the chart into $system_ns"
kubectl create namespace "$system_ns" --dry-run=client -o yaml | kubectl apply -f -
# The node agent needs the privileged Pod Security level (charts/schedcp/README.md).
kubectl label namespace "$system_ns" --overwrite pod-security.kubernetes.io/enforce=privileged
# kind's kubelet runs with --cgroup-root=/kubelet and the systemd driver: its pods live
# below kubelet.slice/kubelet-kubepods.slice, which the agent does not guess.
helm upgrade --install "$release" charts/schedcp -n "$system_ns" --create-namespace \
  --set operator.image.repository="${operator_image%%:*}" \
  --set operator.image.tag="${operator_image#*:}" \
  --set operator.image.pullPolicy=Never \
  --set agent.tier2.image.repository="${agent_image%%:*}" \
  --set agent.tier2.image.tag="${agent_image#*:}" \
  --set agent.image.pullPolicy=Never \
  --set agent.kubepods=kubelet.slice/kubelet-kubepods.slice \
  --set agent.statusInterval=10 \
  --set designer.kind=offline

log "waiting for the operator and the node agents"
kubectl -n "$system_ns" rollout status "deployment/$release-operator" --timeout=600s
kubectl -n "$system_ns" rollout status "daemonset/$release-node-agent" --timeout=600s
kubectl get nodeschedulerstates -o wide || true

# -- workload ----------------------------------------------------------------------------

log "starting the workload in $workload_ns"
kubectl create namespace "$workload_ns" --dry-run=client -o yaml | kubectl apply -f -
# web: short bursts of work between sleeps, so wakeup latency matters; batch: CPU loops.
kubectl -n "$workload_ns" apply -f - <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      securityContext:
        runAsNonRoot: true
        runAsUser: 65534
        seccompProfile: {type: RuntimeDefault}
      containers:
        - name: web
          image: busybox:1.37
          command: [sh, -c, 'while :; do i=0; while [ $i -lt 3000 ]; do i=$((i+1)); done; usleep 5000; done']
          resources:
            requests: {cpu: 50m, memory: 16Mi}
            limits: {memory: 32Mi}
          securityContext:
            allowPrivilegeEscalation: false
            capabilities: {drop: [ALL]}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: batch
spec:
  replicas: 2
  selector:
    matchLabels: {app: batch}
  template:
    metadata:
      labels: {app: batch}
    spec:
      securityContext:
        runAsNonRoot: true
        runAsUser: 65534
        seccompProfile: {type: RuntimeDefault}
      containers:
        - name: batch
          image: busybox:1.37
          command: [sh, -c, 'while :; do :; done']
          resources:
            requests: {cpu: 50m, memory: 16Mi}
            limits: {memory: 32Mi}
          securityContext:
            allowPrivilegeEscalation: false
            capabilities: {drop: [ALL]}
EOF
kubectl -n "$workload_ns" rollout status deployment/web --timeout=300s
kubectl -n "$workload_ns" rollout status deployment/batch --timeout=300s

# A policy for the web pods. The e2e checks the path, not the outcome: short profiling and
# evaluation, and any measured regression tolerated (a shared CI host is too noisy to judge).
apply_policy() {
  local name=$1 mode=$2
  kubectl -n "$workload_ns" apply -f - <<EOF
apiVersion: schedcp.io/v1alpha1
kind: SchedulerPolicy
metadata:
  name: $name
spec:
  podSelector:
    matchLabels:
      app: web
  goal: Keep wakeup latency of the web pods low while the batch pods share the nodes.
  objective:
    kind: latency
    protect:
      matchLabels:
        app: web
    maxBatchLossPercent: 10
  mode: $mode
  designer:
    kind: offline
  profiling:
    minSamples: 5
    timeoutSeconds: 600
  rollout:
    canaryNodes: 1
    evaluationWindowSeconds: 30
    maxRegressionPercent: 100
EOF
}

# Polls rather than `kubectl wait --for=jsonpath=...`: a policy that ends Failed or RolledBack
# stops the test at once, with its Ready condition, instead of after the whole timeout.
wait_phase() {
  local name=$1 want=$2 deadline=$((SECONDS + timeout)) phase last=
  while ((SECONDS < deadline)); do
    phase=$(kubectl -n "$workload_ns" get schedulerpolicy "$name" -o jsonpath='{.status.phase}' 2>/dev/null || true)
    if [[ $phase != "$last" ]]; then
      echo "    $name: ${phase:-<no phase>} ($(kubectl -n "$workload_ns" get schedulerpolicy "$name" \
        -o jsonpath='{.status.conditions[?(@.type=="Ready")].reason}: {.status.conditions[?(@.type=="Ready")].message}' 2>/dev/null || true))"
      last=$phase
    fi
    case $phase in
      "$want") return 0 ;;
      Failed | RolledBack | Invalid | Disabled) fail "SchedulerPolicy $name ended in $phase, wanted $want" ;;
    esac
    sleep 5
  done
  fail "SchedulerPolicy $name is '${last:-<no phase>}' after ${timeout}s, wanted $want"
}

log "Recommend mode: policy e2e-recommend must reach Recommended"
apply_policy e2e-recommend Recommend
wait_phase e2e-recommend Recommended
kubectl -n "$workload_ns" get schedulerpolicy e2e-recommend -o jsonpath='{.status.revision.name}{": "}{.status.revision.rationale}{"\n"}'
# Recommend mode must leave every kernel alone; where sched_ext was idle, it still is.
if $auto && [[ $(<"$sched_ext/state") != disabled ]]; then
  fail "a Recommend-mode policy loaded something: $sched_ext/state is $(<"$sched_ext/state")"
fi
# Two policies for the same pods would compete; the Auto part starts from a clean slate.
kubectl -n "$workload_ns" delete schedulerpolicy e2e-recommend --wait --timeout=120s

if $auto; then
  log "Auto mode: policy e2e-auto must reach Active on the host's kernel"
  apply_policy e2e-auto Auto
  wait_phase e2e-auto Active
  state=$(<"$sched_ext/state")
  [[ $state == enabled ]] || fail "e2e-auto is Active but the host's $sched_ext/state is $state"
  echo "    host kernel runs sched_ext scheduler '$(cat "$sched_ext/root/ops" 2>/dev/null || echo '?')'"
  kubectl get nodeschedulerstates -o wide || true

  log "deleting e2e-auto: the kernel must fall back to its default scheduler"
  kubectl -n "$workload_ns" delete schedulerpolicy e2e-auto --wait --timeout=300s
  deadline=$((SECONDS + 120))
  until [[ $(<"$sched_ext/state") == disabled ]]; do
    ((SECONDS < deadline)) || fail "$sched_ext/state is still $(<"$sched_ext/state") 120s after e2e-auto was deleted"
    sleep 2
  done
  echo "    $sched_ext/state: disabled"
fi
