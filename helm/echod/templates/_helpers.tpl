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
