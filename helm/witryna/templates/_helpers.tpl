{{/* Names are cut to 63 characters: Kubernetes' limit for a DNS label. */}}
{{- define "witryna.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "witryna.fullname" -}}
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

{{- define "witryna.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "witryna.labels" -}}
helm.sh/chart: {{ include "witryna.chart" . }}
app.kubernetes.io/name: {{ include "witryna.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: witryna
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels of one component (server or redis): they never change after install. */}}
{{- define "witryna.selectorLabels" -}}
app.kubernetes.io/name: {{ include "witryna.name" .context }}
app.kubernetes.io/instance: {{ .context.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
Metadata of every resource. Arguments: context (the root), name, component (server or
redis; optional), and optionally namespace, labels and annotations to add.
*/}}
{{- define "witryna.metadata" -}}
{{- $root := .context -}}
name: {{ .name }}
namespace: {{ .namespace | default $root.Release.Namespace }}
labels:
  {{- include "witryna.labels" $root | nindent 2 }}
  {{- with .component }}
  app.kubernetes.io/component: {{ . }}
  {{- end }}
  {{- with .labels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- with merge (deepCopy (.annotations | default (dict))) $root.Values.commonAnnotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{- define "witryna.variant" -}}
{{- if not (has .Values.image.variant (list "cpu" "gpu")) }}
{{- fail (printf "image.variant must be cpu or gpu, not %q" .Values.image.variant) }}
{{- end }}
{{- .Values.image.variant }}
{{- end }}

{{- define "witryna.gpu" -}}
{{- if eq (include "witryna.variant" .) "gpu" }}true{{ end }}
{{- end }}

{{- define "witryna.image" -}}
{{- $repository := .Values.image.repository }}
{{- if .Values.image.registry }}
{{- $repository = printf "%s/%s" .Values.image.registry .Values.image.repository }}
{{- end }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repository .Values.image.digest }}
{{- else }}
{{- $tag := .Values.image.tag | default (printf "%s-%s" .Chart.AppVersion (include "witryna.variant" .)) }}
{{- printf "%s:%s" $repository $tag }}
{{- end }}
{{- end }}

{{- define "witryna.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "witryna.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "witryna.redisName" -}}
{{- printf "%s-redis" (include "witryna.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The secretKeyRef of the bundled Redis's password. */}}
{{- define "witryna.redisPasswordRef" -}}
{{- if .Values.redis.auth.existingSecret -}}
name: {{ .Values.redis.auth.existingSecret }}
key: {{ .Values.redis.auth.existingSecretPasswordKey }}
{{- else -}}
name: {{ include "witryna.redisName" . }}
key: redis-password
{{- end }}
{{- end }}

{{/* Exactly one Redis: the bundled one or an external one, never neither nor both. */}}
{{- define "witryna.redisCheck" -}}
{{- $external := or .Values.externalRedis.url .Values.externalRedis.existingSecret }}
{{- if and .Values.redis.enabled $external }}
{{- fail "set redis.enabled=false to use externalRedis, or leave externalRedis empty" }}
{{- end }}
{{- if not (or .Values.redis.enabled $external) }}
{{- fail "Witryna needs a Redis: set externalRedis.url (or externalRedis.existingSecret), or redis.enabled=true" }}
{{- end }}
{{- end }}

{{/*
Settings the chart derives itself; `config` may not set them a second time. The keys come
from auth.* through a Secret: in `config` they would sit in the ConfigMap, overridden.
*/}}
{{- define "witryna.reservedSettings" -}}
{{- list "host" "port" "redis_url" "models_dir" "policy_path" "device" "model_name" "data_dir" "secret_keys" "site_keys" "identify_secret" | toJson }}
{{- end }}

{{- define "witryna.device" -}}
{{- .Values.device | default (ternary "cuda" "auto" (eq (include "witryna.gpu" .) "true")) }}
{{- end }}

{{- define "witryna.policyDir" -}}
/etc/witryna/policy
{{- end }}

{{- define "witryna.modelsDir" -}}
/srv/witryna/models
{{- end }}

{{/* WITRYNA_DATA_DIR: the image makes it, owned by its user, for a run without a volume. */}}
{{- define "witryna.dataDir" -}}
/var/lib/witryna
{{- end }}

{{/* The bundled Redis's claim: the operator's own, or the one the chart makes. */}}
{{- define "witryna.redisClaim" -}}
{{- .Values.redis.persistence.existingClaim | default (include "witryna.redisName" .) }}
{{- end }}
