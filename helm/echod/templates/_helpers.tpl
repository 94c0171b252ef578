{{/* Chart name, truncated to the 63 characters DNS labels allow. */}}
{{- define "echod.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name: release-chart, or the release name when it holds the chart name. */}}
{{- define "echod.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "echod.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Common labels. */}}
{{- define "echod.labels" -}}
helm.sh/chart: {{ include "echod.chart" . }}
{{ include "echod.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: echod
{{- end }}

{{/* Selector labels: name + instance only, so they never change across upgrades. */}}
{{- define "echod.selectorLabels" -}}
app.kubernetes.io/name: {{ include "echod.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "echod.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "echod.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "echod.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
Whole seconds (rounded up) in an echod duration: 250ms, 5s, 2m, 1h.
values.schema.json already restricts the format; this fails loudly on anything else.
*/}}
{{- define "echod.durationSeconds" -}}
{{- $d := toString . -}}
{{- if regexMatch "^[0-9]+ms$" $d -}}
{{- div (add (trimSuffix "ms" $d | atoi) 999) 1000 -}}
{{- else if regexMatch "^[0-9]+s$" $d -}}
{{- trimSuffix "s" $d | atoi -}}
{{- else if regexMatch "^[0-9]+m$" $d -}}
{{- mul (trimSuffix "m" $d | atoi) 60 -}}
{{- else if regexMatch "^[0-9]+h$" $d -}}
{{- mul (trimSuffix "h" $d | atoi) 3600 -}}
{{- else -}}
{{- fail (printf "echod: %q is not a duration like 250ms, 5s, 2m or 1h" $d) -}}
{{- end -}}
{{- end }}

{{/* Seconds echod may need after SIGTERM: shutdown_delay + drain_timeout. */}}
{{- define "echod.shutdownSeconds" -}}
{{- add (include "echod.durationSeconds" .Values.config.shutdown_delay | atoi) (include "echod.durationSeconds" .Values.config.drain_timeout | atoi) -}}
{{- end }}

{{/*
terminationGracePeriodSeconds: given, it must exceed shutdown_delay + drain_timeout (else the
kubelet SIGKILLs echod mid-drain and connections lose bytes); empty, it is that sum + 10s.
*/}}
{{- define "echod.terminationGracePeriodSeconds" -}}
{{- $need := include "echod.shutdownSeconds" . | atoi -}}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds -}}
{{- add $need 10 -}}
{{- else -}}
{{- $given := .Values.terminationGracePeriodSeconds | int -}}
{{- if le $given $need -}}
{{- fail (printf "echod: terminationGracePeriodSeconds (%d) must be greater than config.shutdown_delay + config.drain_timeout (%ds), or the kubelet kills echod before it has drained" $given $need) -}}
{{- end -}}
{{- $given -}}
{{- end -}}
{{- end }}

{{/* Prometheus label matcher that selects this release's scrape job in alert rules. */}}
{{- define "echod.alertSelector" -}}
{{- if .Values.prometheusRule.selector -}}
{{- .Values.prometheusRule.selector -}}
{{- else -}}
{{- printf "job=%q, namespace=%q" (include "echod.fullname" .) .Release.Namespace -}}
{{- end -}}
{{- end }}

{{/* echo-probe monitor: its own name label, so echod's Services, PDB and NetworkPolicy never select it. */}}
{{- define "echod.monitor.name" -}}
{{- printf "%s-monitor" (include "echod.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "echod.monitor.fullname" -}}
{{- printf "%s-monitor" (include "echod.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "echod.monitor.selectorLabels" -}}
app.kubernetes.io/name: {{ include "echod.monitor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "echod.monitor.labels" -}}
helm.sh/chart: {{ include "echod.chart" . }}
{{ include "echod.monitor.selectorLabels" . }}
app.kubernetes.io/component: monitor
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: echod
{{- end }}

{{/* The headless Service: one DNS record per ready pod, for the monitor's per-pod fan-out. */}}
{{- define "echod.headlessName" -}}
{{- printf "%s-headless" .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Prometheus label matcher that selects this release's monitor in alert rules. */}}
{{- define "echod.monitor.alertSelector" -}}
{{- if .Values.monitor.alertSelector -}}
{{- .Values.monitor.alertSelector -}}
{{- else -}}
{{- printf "job=%q, namespace=%q" (include "echod.monitor.fullname" .) .Release.Namespace -}}
{{- end -}}
{{- end }}

{{/* TLS: refuse half-configured values at render time, before a pod crashloops on them. */}}
{{- define "echod.tls.validate" -}}
{{- if .Values.tls.enabled -}}
{{- if not .Values.tls.existingSecret -}}
{{- fail "echod: tls.enabled needs tls.existingSecret (a kubernetes.io/tls Secret with tls.crt and tls.key)" -}}
{{- end -}}
{{- if eq (int .Values.tls.port) (int .Values.ports.echo) -}}
{{- fail "echod: tls.port must differ from ports.echo (the plain and the TLS listener are two ports)" -}}
{{- end -}}
{{- if and .Values.tls.clientCaSecret (not .Values.tls.probe.clientSecret) -}}
{{- fail "echod: tls.clientCaSecret (mTLS) needs tls.probe.clientSecret, the client certificate helm test and the monitor present" -}}
{{- end -}}
{{- end -}}
{{- end }}

{{/* The name the chart's own TLS clients check echod's certificate against (and send as SNI). */}}
{{- define "echod.tls.serverName" -}}
{{- .Values.tls.probe.serverName | default (printf "%s.%s.svc" (include "echod.fullname" .) .Release.Namespace) -}}
{{- end }}

{{/*
echo-probe TLS options of the chart's own clients (helm test, monitor), one YAML list item a
line, for the volumes of "echod.tls.probeVolumes" mounted by "echod.tls.probeVolumeMounts".
*/}}
{{- define "echod.tls.probeArgs" -}}
{{- $p := .Values.tls.probe -}}
{{- if eq $p.verify "insecure" }}
- --tls-insecure
{{- else if eq $p.verify "ca" }}
- --tls-ca
- /etc/echo-probe/tls-ca/{{ $p.caKey }}
{{- end }}
- --tls-server-name
- {{ include "echod.tls.serverName" . | quote }}
{{- if .Values.tls.clientCaSecret }}
- --tls-cert
- /etc/echo-probe/tls-client/tls.crt
- --tls-key
- /etc/echo-probe/tls-client/tls.key
{{- end }}
{{- end }}

{{- define "echod.tls.probeVolumeMounts" -}}
{{- if eq .Values.tls.probe.verify "ca" }}
- name: tls-ca
  mountPath: /etc/echo-probe/tls-ca
  readOnly: true
{{- end }}
{{- if .Values.tls.clientCaSecret }}
- name: tls-client
  mountPath: /etc/echo-probe/tls-client
  readOnly: true
{{- end }}
{{- end }}

{{/* Only the CA key of the server's Secret is projected: the probe never sees tls.key. */}}
{{- define "echod.tls.probeVolumes" -}}
{{- $p := .Values.tls.probe -}}
{{- if eq $p.verify "ca" }}
- name: tls-ca
  secret:
    secretName: {{ $p.caSecret | default .Values.tls.existingSecret }}
    optional: false
    defaultMode: 292  # 0444: a CA certificate is public
    items:
      - key: {{ $p.caKey }}
        path: {{ $p.caKey }}
{{- end }}
{{- if .Values.tls.clientCaSecret }}
- name: tls-client
  secret:
    secretName: {{ $p.clientSecret }}
    optional: false
    defaultMode: 288  # 0440: the owner and the fsGroup (65532) only
    items:
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
{{- end }}
{{- end }}

{{/* PROXY protocol version the chart's own clients send: echod's mode, v2 for "any". */}}
{{- define "echod.proxyProtocol.probeVersion" -}}
{{- if eq .Values.proxyProtocol.mode "v1" -}}v1{{- else -}}v2{{- end -}}
{{- end }}
