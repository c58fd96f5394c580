{{/* The chart's name, at most 63 characters (a DNS label). */}}
{{- define "hoist.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The objects' name: the release name, followed by the chart's name unless the
release name already contains it; at most 63 characters.
*/}}
{{- define "hoist.fullname" -}}
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

{{- define "hoist.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "hoist.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hoist.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "hoist.labels" -}}
helm.sh/chart: {{ include "hoist.chart" . }}
{{ include "hoist.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "hoist.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "hoist.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The store driver Hoist will use: config.store.driver, else Hoist's default. */}}
{{- define "hoist.storeDriver" -}}
{{- $store := .Values.config.store | default dict }}
{{- $store.driver | default "sqlite" }}
{{- end }}

{{/* The claim that holds the SQLite database. */}}
{{- define "hoist.claimName" -}}
{{- .Values.persistence.existingClaim | default (include "hoist.fullname" .) }}
{{- end }}

{{/*
Refuses values that would give a broken or unsafe installation, each with what
to do instead. Included by the Deployment, so that `helm template` and `helm
install` both stop.
*/}}
{{- define "hoist.validate" -}}
{{- $driver := include "hoist.storeDriver" . }}
{{- $secrets := dict
  "slack" (list "bot_token" "app_token" "signing_secret")
  "jenkins" (list "token")
  "github" (list "token" "webhook_secret")
  "store" (list "dsn") }}
{{- range $section, $keys := $secrets }}
{{- $values := get $.Values.config $section | default dict }}
{{- range $keys }}
{{- if get $values . }}
{{- if eq $section "store" }}
{{- fail (printf "config.store.dsn must not be set: the chart points SQLite at its data volume, and a PostgreSQL DSN (which holds a password) belongs in the Secret named by existingSecret, under the key %q (secretKeys.HOIST_STORE_DSN)" $.Values.secretKeys.HOIST_STORE_DSN) }}
{{- else }}
{{- $variable := printf "HOIST_%s_%s" $section . | upper }}
{{- fail (printf "config.%s.%s is a secret and must not be in the chart's values, which land in a ConfigMap: put it in the Secret named by existingSecret, under the key %q (secretKeys.%s)" $section . (get $.Values.secretKeys $variable) $variable) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- if not (has $driver (list "sqlite" "postgres")) }}
{{- fail (printf "config.store.driver must be \"sqlite\" or \"postgres\"; got %q" $driver) }}
{{- end }}
{{- if and (gt (int .Values.replicaCount) 1) (ne $driver "postgres") }}
{{- fail (printf "replicaCount %d needs config.store.driver: postgres (an SQLite file belongs to one process), with its DSN in the Secret named by existingSecret" (int .Values.replicaCount)) }}
{{- end }}
{{- if and (eq $driver "postgres") (or (not .Values.existingSecret) (not .Values.secretKeys.HOIST_STORE_DSN)) }}
{{- fail "config.store.driver postgres needs the DSN from a Secret: set existingSecret, and secretKeys.HOIST_STORE_DSN to its key" }}
{{- end }}
{{- end }}
