{{/*
Helpers of the mqttio chart. The chart uses only these functions besides
text/template's own: include, required, default, quote, toYaml, indent,
nindent, trunc, trimSuffix, until, int, sha256sum. The Go test in
deployments/ renders it with exactly that set.
*/}}

{{- define "mqttio.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mqttio.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if eq .Release.Name (include "mqttio.name" .) -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "mqttio.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "mqttio.headless" -}}
{{- printf "%s-headless" (include "mqttio.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mqttio.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mqttio.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "mqttio.labels" -}}
{{ include "mqttio.selectorLabels" . }}
app.kubernetes.io/version: {{ default .Chart.AppVersion .Values.image.tag | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | trunc 63 | trimSuffix "-" }}
{{- end -}}

{{/* The node's configuration file, mqttio.yaml. */}}
{{- define "mqttio.config" -}}
data_dir: /data
log:
  level: {{ .Values.log.level }}
  format: {{ .Values.log.format }}
listeners:
  tcp:
    address: ":1883"
  http:
    address: ":8080"
{{- if .Values.tls.enabled }}
  tls:
    address: ":8883"
    cert_file: /etc/mqttio/tls/tls.crt
    key_file: /etc/mqttio/tls/tls.key
    client_auth: {{ .Values.tls.clientAuth }}
    {{- if ne .Values.tls.clientAuth "none" }}
    client_ca_file: /etc/mqttio/tls/ca.crt
    {{- end }}
  https:
    address: ":8443"
    cert_file: /etc/mqttio/tls/tls.crt
    key_file: /etc/mqttio/tls/tls.key
{{- end }}
admin:
  address: ":8081"
cluster:
  bind: "0.0.0.0:7946"
  grpc_address: "0.0.0.0:7947"
  join:
{{- $fullname := include "mqttio.fullname" . }}
{{- $headless := include "mqttio.headless" . }}
{{- range $i := until (int .Values.replicaCount) }}
    - {{ printf "%s-%d.%s:7946" $fullname $i $headless }}
{{- end }}
  bootstrap_expect: {{ int (default .Values.replicaCount .Values.cluster.bootstrapExpect) }}
{{- if .Values.auth.enabled }}
auth:
  password_file: /etc/mqttio/auth/{{ .Values.auth.passwordFileKey }}
  {{- if .Values.auth.aclFileKey }}
  acl_file: /etc/mqttio/auth/{{ .Values.auth.aclFileKey }}
  {{- end }}
{{- end }}
{{- with .Values.extraConfig }}
{{ . }}
{{- end }}
{{- end -}}
