{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "alignmon.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-qualified name; the release name alone when it already contains the chart name. */}}
{{- define "alignmon.fullname" -}}
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

{{- define "alignmon.selectorLabels" -}}
app.kubernetes.io/name: {{ include "alignmon.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "alignmon.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "alignmon.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "alignmon.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
The config file as rendered: the values block with service.listen set to
every interface on containerPort, which the probes and the Service use, and
with no database given, SQLite on the data volume (a relative path would be
read against the config's read-only directory).
*/}}
{{- define "alignmon.config" -}}
{{- $config := deepCopy .Values.config }}
{{- if not (get $config "database") }}
{{- $_ := set $config "database" "sqlite:////var/lib/alignmon/alignmon.db" }}
{{- end }}
{{- $service := default (dict) (get $config "service") }}
{{- $_ := set $service "listen" (printf "0.0.0.0:%d" (int .Values.containerPort)) }}
{{- $_ := set $config "service" $service }}
{{- toYaml $config }}
{{- end }}

{{/* "true" when the database is SQLite (alignmon's default when none is set). */}}
{{- define "alignmon.sqlite" -}}
{{- $database := default "sqlite:///alignmon.db" (get .Values.config "database") | toString }}
{{- if hasPrefix "sqlite" $database }}true{{ end }}
{{- end }}
