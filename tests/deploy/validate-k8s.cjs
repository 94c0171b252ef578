#!/usr/bin/env node
// Validates Kubernetes objects offline: every document of every YAML file given is checked
// against the Kubernetes OpenAPI schema (npm kubernetes-models) or the prometheus-operator
// CRD schema (@kubernetes-models/prometheus-operator), for unknown fields (core types only:
// the CRD models declare their nested types inline), then against echod's own rules:
// restricted Pod Security Standard fields, probes on /livez and /readyz via the admin port,
// never a tcpSocket probe on the echo port, enableServiceLinks false, a grace period longer
// than shutdown_delay + drain_timeout, no helper pod matched by a workload's selector, and
// TLS files from read-only Secret directories (no subPath: a Secret update must arrive).
// Usage: NODE_PATH=<node_modules> node validate-k8s.cjs FILE.yaml...   exit 0 = all valid.
'use strict';
const fs = require('fs');
const yaml = require('js-yaml');

const kTopLevel = {
  'v1': 'kubernetes-models/v1',
  'apps/v1': 'kubernetes-models/apps/v1',
  'policy/v1': 'kubernetes-models/policy/v1',
  'autoscaling/v2': 'kubernetes-models/autoscaling/v2',
  'networking.k8s.io/v1': 'kubernetes-models/networking.k8s.io/v1',
  'monitoring.coreos.com/v1': '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1',
};

const problems = [];
const counts = {};
function fail(where, msg) { problems.push(`${where}: ${msg}`); }

function schemaCheck(obj, where) {
  const base = kTopLevel[obj.apiVersion];
  if (!base) return fail(where, `no schema known for apiVersion ${obj.apiVersion}`);
  let mod;
  try {
    mod = require(`${base}/${obj.kind}`);
  } catch (e) {
    return fail(where, `no schema for ${obj.apiVersion} ${obj.kind}: ${e.message}`);
  }
  const Model = mod[obj.kind];
  try {
    new Model(obj).validate();
  } catch (e) {
    fail(where, `schema: ${e.message}`);
  }
}

// Unknown fields: the OpenAPI schemas do not forbid them (the API server drops them with a
// warning), so a typo like `livenesProbe` would pass. The models' TypeScript declarations list
// every field of every named type; walk the object along them and flag any other key.
const path = require('path');
const dtsCache = new Map();
function dtsFile(fromDir, mod) {
  if (mod.startsWith('.')) return path.resolve(fromDir, `${mod}.d.ts`);
  for (const dir of (process.env.NODE_PATH || '').split(path.delimiter)) {
    const f = path.join(dir, `${mod}.d.ts`);
    if (fs.existsSync(f)) return f;
  }
  return null;
}
function parseDts(file) {
  if (!file) return null;
  if (dtsCache.has(file)) return dtsCache.get(file);
  const src = fs.readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '');
  const imports = {};
  for (const m of src.matchAll(/import \{ (\w+) \} from "([^"]+)";/g)) imports[m[1]] = m[2];
  const head = /export interface I\w+( extends TypeMeta)? \{/.exec(src);
  let info = null;
  if (head) {
    const props = {};
    if (head[1]) { props.apiVersion = 'string'; props.kind = 'string'; }
    let depth = 1, member = '';
    for (let i = head.index + head[0].length; i < src.length && depth > 0; i++) {
      const ch = src[i];
      if (ch === '{') depth++;
      if (ch === '}') depth--;
      if (depth === 0) break;
      if (ch === ';' && depth === 1) {
        const m = /^\s*"([^"]+)"\??:\s*([\s\S]*)$/.exec(member);
        if (m) props[m[1]] = m[2].trim();
        member = '';
      } else {
        member += ch;
      }
    }
    info = { file, props, imports };
  }
  dtsCache.set(file, info);
  return info;
}
function resolveType(info, type) {
  let t = type;
  const arr = /^Array<(.+)>$/.exec(t);
  if (arr) t = arr[1];
  const map = /^\{\s*\[key: string\]: (\w+);?\s*\}$/.exec(t);
  if (map) t = map[1];
  if (!info.imports[t]) return { leaf: true };
  return { info: parseDts(dtsFile(path.dirname(info.file), info.imports[t])), each: !!(arr || map) };
}
function strictWalk(obj, info, at, where) {
  if (!info || obj === null || typeof obj !== 'object' || Array.isArray(obj)) return;
  for (const [k, v] of Object.entries(obj)) {
    if (!(k in info.props)) { fail(where, `unknown field ${at}.${k}`); continue; }
    const r = resolveType(info, info.props[k]);
    if (r.leaf || !r.info) continue;
    if (r.each && Array.isArray(v)) v.forEach((x, i) => strictWalk(x, r.info, `${at}.${k}[${i}]`, where));
    else if (r.each && v && typeof v === 'object') Object.entries(v).forEach(([kk, x]) => strictWalk(x, r.info, `${at}.${k}.${kk}`, where));
    else strictWalk(v, r.info, `${at}.${k}`, where);
  }
}
function strictCheck(obj, where) {
  const base = kTopLevel[obj.apiVersion];
  if (!base) return;
  const info = parseDts(dtsFile('.', `${base}/${obj.kind}`));
  if (!info) return fail(where, `no type declaration for ${obj.apiVersion} ${obj.kind}`);
  strictWalk(obj, info, obj.kind, where);
}

function durationSeconds(text) {
  const m = /^([0-9]+)(ms|s|m|h)$/.exec(String(text));
  if (!m) return NaN;
  return Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2]];
}

function podSpecOf(obj) {
  if (obj.kind === 'Pod') return obj.spec;
  if (!obj.spec) return null;
  if (['Deployment', 'StatefulSet', 'DaemonSet', 'Job'].includes(obj.kind)) return obj.spec.template.spec;
  return null;
}

function checkRestricted(spec, where) {
  const psc = spec.securityContext || {};
  for (const c of [...(spec.initContainers || []), ...spec.containers]) {
    const sc = c.securityContext || {};
    const at = `${where} container ${c.name}`;
    const nonRoot = sc.runAsNonRoot ?? psc.runAsNonRoot;
    if (nonRoot !== true) fail(at, 'runAsNonRoot is not true');
    const uid = sc.runAsUser ?? psc.runAsUser;
    if (uid === 0 || uid === undefined) fail(at, `runAsUser must be a non-zero UID (got ${uid})`);
    const seccomp = (sc.seccompProfile || psc.seccompProfile || {}).type;
    if (!['RuntimeDefault', 'Localhost'].includes(seccomp)) fail(at, `seccompProfile.type is ${seccomp}`);
    if (sc.allowPrivilegeEscalation !== false) fail(at, 'allowPrivilegeEscalation is not false');
    if (sc.privileged === true) fail(at, 'privileged');
    const drop = ((sc.capabilities || {}).drop) || [];
    if (!drop.includes('ALL')) fail(at, 'capabilities.drop lacks ALL');
    const add = ((sc.capabilities || {}).add) || [];
    if (add.some((a) => a !== 'NET_BIND_SERVICE')) fail(at, `capabilities.add ${add}`);
    if (sc.readOnlyRootFilesystem !== true) fail(at, 'readOnlyRootFilesystem is not true');
  }
  if (spec.hostNetwork || spec.hostPID || spec.hostIPC) fail(where, 'host namespaces');
  for (const v of spec.volumes || []) if (v.hostPath) fail(where, `hostPath volume ${v.name}`);
}

function namedPort(container, port) {
  if (typeof port === 'number') return port;
  const p = (container.ports || []).find((x) => x.name === port);
  return p ? p.containerPort : undefined;
}

// liveness on /livez and readiness on /readyz, httpGet on the named port `port`.
function checkHttpProbes(c, where, port) {
  const want = { livenessProbe: '/livez', readinessProbe: '/readyz' };
  for (const [probe, path] of Object.entries(want)) {
    const p = c[probe];
    if (!p || !p.httpGet) { fail(where, `${probe} is not an httpGet probe`); continue; }
    if (p.httpGet.path !== path) fail(where, `${probe} path is ${p.httpGet.path}, want ${path}`);
    if (p.httpGet.port !== port) fail(where, `${probe} port is ${p.httpGet.port}, want the named port ${port}`);
  }
}

function checkProbes(spec, where, configs, file) {
  const c = spec.containers.find((x) => x.name === 'echod');
  if (!c) return fail(where, 'no container named echod');
  const echoPort = namedPort(c, 'echo');
  const adminPort = namedPort(c, 'admin');
  if (echoPort === undefined || adminPort === undefined) fail(where, 'ports echo and admin must be named');
  checkHttpProbes(c, where, 'admin');
  for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
    const p = c[probe];
    if (p && p.tcpSocket && namedPort(c, p.tcpSocket.port) === echoPort) {
      fail(where, `${probe} is a tcpSocket probe on the echo port`);
    }
    if (p && p.httpGet && namedPort(c, p.httpGet.port) === echoPort) fail(where, `${probe} targets the echo port`);
  }
  if (spec.enableServiceLinks !== false) fail(where, 'enableServiceLinks must be false (ECHOD_* env injection)');
  const res = c.resources || {};
  if (!res.requests || !res.requests.memory || !res.requests.cpu) fail(where, 'resources.requests cpu/memory missing');
  if (!res.limits || !res.limits.memory) fail(where, 'resources.limits.memory missing');
  // The config file: from a ConfigMap, passed with --config; grace > shutdown_delay + drain_timeout.
  const args = c.args || [];
  const i = args.indexOf('--config');
  if (i < 0) return fail(where, 'echod is not started with --config');
  const mount = (c.volumeMounts || []).find((m) => m.mountPath === args[i + 1]
      || args[i + 1].startsWith(m.mountPath + '/'));
  if (!mount) return fail(where, `no volume mounted at ${args[i + 1]}`);
  const vol = (spec.volumes || []).find((v) => v.name === mount.name);
  if (!vol || !vol.configMap) return fail(where, `${args[i + 1]} does not come from a ConfigMap`);
  const cm = configs[vol.configMap.name];
  if (!cm) return fail(where, `ConfigMap ${vol.configMap.name} is not rendered`);
  const key = mount.subPath || args[i + 1].slice(mount.mountPath.length + 1);
  let cfg;
  try { cfg = JSON.parse(cm.data[key]); } catch (e) { return fail(where, `config ${key}: ${e.message}`); }
  const need = durationSeconds(cfg.shutdown_delay ?? '0s') + durationSeconds(cfg.drain_timeout ?? '20s');
  const grace = spec.terminationGracePeriodSeconds ?? 30;
  if (!(grace > need)) fail(where, `terminationGracePeriodSeconds ${grace} <= shutdown_delay + drain_timeout ${need}`);
  if (process.env.CONFIG_OUT_DIR) {
    const base = require('path').basename(file).replace(/\.ya?ml$/, '');
    fs.writeFileSync(`${process.env.CONFIG_OUT_DIR}/${base}.${vol.configMap.name}.${key}`, cm.data[key]);
  }
}

// TLS (SPEC "TLS on the echo port"): each certificate, key or CA file echod is given comes
// from a Secret mounted as a directory. A subPath mount never sees a Secret update (the
// kubelet swaps the ..data symlink of the directory), so echod would never reload it.
// The --tls-listen port is the named containerPort echo-tls.
function checkTls(spec, where) {
  const c = spec.containers.find((x) => x.name === 'echod');
  const args = c.args || [];
  for (const flag of ['--tls-cert', '--tls-key', '--tls-client-ca']) {
    const i = args.indexOf(flag);
    if (i < 0) continue;
    const file = args[i + 1];
    const mount = (c.volumeMounts || []).find((m) => file.startsWith(m.mountPath.replace(/\/$/, '') + '/'));
    if (!mount) { fail(where, `${flag} ${file}: no volume mounted above it`); continue; }
    if (mount.subPath) fail(where, `${flag} ${file}: mounted with subPath, which never sees a Secret update`);
    const vol = (spec.volumes || []).find((v) => v.name === mount.name);
    if (!vol || !vol.secret) fail(where, `${flag} ${file} does not come from a Secret`);
    if (mount.readOnly !== true) fail(where, `${flag} ${file}: mount ${mount.name} is not readOnly`);
  }
  const l = args.indexOf('--tls-listen');
  if (l >= 0) {
    if (args.indexOf('--tls-cert') < 0 || args.indexOf('--tls-key') < 0) fail(where, '--tls-listen without --tls-cert and --tls-key');
    const port = Number(String(args[l + 1]).split(':').pop());
    if (namedPort(c, 'echo-tls') !== port) fail(where, `--tls-listen port ${port} is not the containerPort named echo-tls`);
  }
}

// The echo-probe monitor's Deployment: HTTP probes on its own named port, resources set.
function checkMonitorProbes(spec, where) {
  const c = spec.containers.find((x) => x.name === 'monitor');
  checkHttpProbes(c, where, 'http');
  const args = c.args || [];
  if (args[0] !== 'monitor') fail(where, 'the monitor container does not run `echo-probe monitor`');
  const res = c.resources || {};
  if (!res.requests || !res.requests.memory || !res.requests.cpu) fail(where, 'resources.requests cpu/memory missing');
  if (!res.limits || !res.limits.memory) fail(where, 'resources.limits.memory missing');
}

function selects(selector, labels) {
  return Object.entries(selector || {}).every(([k, v]) => (labels || {})[k] === v);
}

const objects = [];
for (const file of process.argv.slice(2)) {
  const docs = yaml.loadAll(fs.readFileSync(file, 'utf8')).filter((d) => d);
  if (docs.length === 0) fail(file, 'no object rendered');
  docs.forEach((d) => objects.push({ obj: d, file, where: `${file}: ${d.kind}/${(d.metadata || {}).name}` }));
}
const configs = {};
for (const { obj } of objects) if (obj.kind === 'ConfigMap') configs[obj.metadata.name] = obj;

for (const { obj, where, file } of objects) {
  counts[obj.kind] = (counts[obj.kind] || 0) + 1;
  schemaCheck(obj, where);
  strictCheck(obj, where);
  try {
    const spec = podSpecOf(obj);
    if (spec) checkRestricted(spec, where);
    const isMonitor = obj.kind === 'Deployment' && spec.containers.some((c) => c.name === 'monitor');
    if (obj.kind === 'Deployment') {
      if (isMonitor) checkMonitorProbes(spec, where);
      else { checkProbes(spec, where, configs, file); checkTls(spec, where); }
    }
  } catch (e) {
    fail(where, `malformed object: ${e.message}`);
  }
}
// A Service, PDB or NetworkPolicy of echod must not pick up helper pods (helm test).
const pods = objects.filter(({ obj }) => obj.kind === 'Pod');
for (const { obj, where } of objects) {
  const sel = obj.kind === 'Service' ? obj.spec?.selector
    : obj.kind === 'PodDisruptionBudget' ? obj.spec?.selector?.matchLabels
    : obj.kind === 'NetworkPolicy' ? obj.spec?.podSelector?.matchLabels : null;
  if (!sel) continue;
  for (const p of pods) if (selects(sel, p.obj.metadata.labels)) fail(where, `selects helper pod ${p.obj.metadata.name}`);
}
// Every Service, PDB and NetworkPolicy selects the pods of exactly one Deployment: echod's
// Services must never route to the monitor, nor the monitor's to echod.
const templates = objects.filter(({ obj }) => obj.kind === 'Deployment');
for (const { obj, where } of objects) {
  const sel = obj.kind === 'Service' ? obj.spec?.selector
    : obj.kind === 'PodDisruptionBudget' ? obj.spec?.selector?.matchLabels
    : obj.kind === 'NetworkPolicy' ? obj.spec?.podSelector?.matchLabels : null;
  if (!sel || Object.keys(sel).length === 0) continue;
  const hit = templates.filter((d) => selects(sel, d.obj.spec.template.metadata.labels));
  if (hit.length > 1) fail(where, `selects the pods of ${hit.map((d) => d.obj.metadata.name).join(' and ')}`);
}
if (!objects.some(({ obj }) => obj.kind === 'Deployment')) fail(process.argv.slice(2).join(' '), 'no Deployment rendered');

if (problems.length) {
  for (const p of problems) console.error(`INVALID ${p}`);
  process.exit(1);
}
console.log(`valid: ${Object.entries(counts).map(([k, n]) => `${n} ${k}`).join(', ')}`);
