{{/*
Chart name, shortened to the 63 characters a label value may hold.
*/}}
{{- define "licensing.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Prefix of every resource name: the release name, plus the chart name unless
the release name already contains it.
*/}}
{{- define "licensing.fullname" -}}
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

{{/*
Name of the migration hook resources; the suffix must survive truncation.
*/}}
{{- define "licensing.migrationName" -}}
{{- printf "%s-migrate" (include "licensing.fullname" . | trunc 55 | trimSuffix "-") }}
{{- end }}

{{/*
Chart name and version, as in the helm.sh/chart label.
*/}}
{{- define "licensing.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every resource.
*/}}
{{- define "licensing.labels" -}}
helm.sh/chart: {{ include "licensing.chart" . }}
app.kubernetes.io/name: {{ include "licensing.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ include "licensing.imageTag" . | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: licensing-service
{{- end }}

{{/*
Labels of the worker's resources.
*/}}
{{- define "licensing.workerLabels" -}}
{{ include "licensing.labels" . }}
app.kubernetes.io/component: worker
{{- end }}

{{/*
Labels of the migration hook's resources.
*/}}
{{- define "licensing.migrationLabels" -}}
{{ include "licensing.labels" . }}
app.kubernetes.io/component: migration
{{- end }}

{{/*
Labels that select the worker pods: Deployment, Service, disruption budget
and network policy. The component keeps migration pods out of them.
*/}}
{{- define "licensing.selectorLabels" -}}
app.kubernetes.io/name: {{ include "licensing.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: worker
{{- end }}

{{/*
Tag of the image: the one given, else the chart's appVersion.
*/}}
{{- define "licensing.imageTag" -}}
{{- .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/*
Image reference; a digest, when given, pins it.
*/}}
{{- define "licensing.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (include "licensing.imageTag" .) }}
{{- end }}
{{- end }}

{{/*
ServiceAccount of the worker pods.
*/}}
{{- define "licensing.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "licensing.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
ServiceAccount of the migration pods. A pre-install hook runs before the
chart's own ServiceAccount exists, so a chart-made account cannot be used
there: the migration then runs as the namespace's default account (with no
token mounted). An existing account named in serviceAccount.name is used as is.
*/}}
{{- define "licensing.migrationServiceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- "default" }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Secret the worker reads the database and Redis URLs from.
*/}}
{{- define "licensing.secretName" -}}
{{- default (include "licensing.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{/*
Secret the migration Job reads the URLs from: the existing Secret, or the
hook-made copy of the chart's Secret (which does not exist yet on install).
*/}}
{{- define "licensing.migrationSecretName" -}}
{{- if .Values.secrets.existingSecret }}
{{- .Values.secrets.existingSecret }}
{{- else }}
{{- include "licensing.migrationName" . }}
{{- end }}
{{- end }}

{{/*
Data of the chart-made Secrets. The template-side checks repeat the schema's
for installs that skip schema validation.
*/}}
{{- define "licensing.secretData" -}}
{{ .Values.secrets.databaseUrlKey }}: {{ required "secrets.databaseUrl is required when secrets.existingSecret is empty" .Values.secrets.databaseUrl | b64enc | quote }}
{{ .Values.secrets.redisUrlKey }}: {{ required "secrets.redisUrl is required when secrets.existingSecret is empty" .Values.secrets.redisUrl | b64enc | quote }}
{{- end }}

{{/*
The non-secret LICENSING_* settings. The ConfigMap holds them for the worker;
the migration Job gets the same map inline, because on install its hook runs
before the ConfigMap is created.
*/}}
{{- define "licensing.configEnv" -}}
LICENSING_STREAM_PREFIX: {{ .Values.config.streamPrefix | quote }}
LICENSING_PARTITIONS: {{ .Values.config.partitions | int | quote }}
LICENSING_HTTP_PORT: {{ .Values.config.httpPort | int | quote }}
LICENSING_LOG_FORMAT: {{ .Values.config.logFormat | quote }}
LICENSING_LOG_LEVEL: {{ .Values.config.logLevel | quote }}
LICENSING_LEASE_SECONDS: {{ .Values.config.leaseSeconds | int | quote }}
LICENSING_BATCH_SIZE: {{ .Values.config.batchSize | int | quote }}
LICENSING_ACCOUNT_CACHE: {{ .Values.config.accountCache | int64 | quote }}
LICENSING_MAX_DELIVERIES: {{ .Values.config.maxDeliveries | int | quote }}
LICENSING_DRAIN_SECONDS: {{ .Values.config.drainSeconds | int | quote }}
LICENSING_STREAM_MAXLEN: {{ .Values.config.streamMaxlen | int64 | quote }}
{{- end }}

{{/*
Environment entries that read the URLs from a Secret.
Call with (dict "root" $ "secretName" NAME).
*/}}
{{- define "licensing.secretEnv" -}}
- name: LICENSING_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: {{ .root.Values.secrets.databaseUrlKey }}
- name: LICENSING_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: {{ .root.Values.secrets.redisUrlKey }}
{{- end }}

{{/*
Seconds between SIGTERM and SIGKILL. It must leave the worker its full drain
time, so an explicit value at or below the drain time is refused.
*/}}
{{- define "licensing.terminationGracePeriodSeconds" -}}
{{- $drain := int .Values.config.drainSeconds }}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds }}
{{- add $drain 10 }}
{{- else }}
{{- $grace := int .Values.terminationGracePeriodSeconds }}
{{- if le $grace $drain }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be larger than config.drainSeconds (%d), or the worker is killed while draining" $grace $drain) }}
{{- end }}
{{- $grace }}
{{- end }}
{{- end }}
