{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "floodwall.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name: "<release>-<chart>", or the release name alone when it already contains the
chart name. Truncated so that suffixes such as "-autoscaler" still fit in 63 characters.
*/}}
{{- define "floodwall.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "floodwall.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Recommended labels. Call with (dict "ctx" $ "component" "consumers"). */}}
{{- define "floodwall.labels" -}}
helm.sh/chart: {{ include "floodwall.chart" .ctx }}
{{ include "floodwall.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: floodwall
{{- end }}

{{/* Selector labels: stable across upgrades. Call with (dict "ctx" $ "component" "consumers"). */}}
{{- define "floodwall.selectorLabels" -}}
app.kubernetes.io/name: {{ include "floodwall.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "floodwall.consumers.fullname" -}}
{{- printf "%s-consumers" (include "floodwall.fullname" .) }}
{{- end }}

{{- define "floodwall.autoscaler.fullname" -}}
{{- printf "%s-autoscaler" (include "floodwall.fullname" .) }}
{{- end }}

{{- define "floodwall.autoscaler.serviceAccountName" -}}
{{- if .Values.autoscaler.serviceAccount.create }}
{{- default (include "floodwall.autoscaler.fullname" .) .Values.autoscaler.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.autoscaler.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "floodwall.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
A value as an environment variable string. Helm reads numbers from YAML as float64, which would print
large integers as 8.388608e+06: whole numbers are printed as integers.
*/}}
{{- define "floodwall.envValue" -}}
{{- if and (kindIs "float64" .) (eq (float64 (int64 .)) .) }}
{{- int64 . | toString | quote }}
{{- else }}
{{- toString . | quote }}
{{- end }}
{{- end }}

{{/* Environment variables every Kafka-facing command shares. */}}
{{- define "floodwall.kafkaEnv" -}}
FLOODWALL_BOOTSTRAP_SERVERS: {{ required "kafka.bootstrapServers is required (e.g. my-cluster-kafka-bootstrap.kafka.svc:9092)" .Values.kafka.bootstrapServers | quote }}
FLOODWALL_ORDERS_TOPIC: {{ .Values.kafka.ordersTopic | quote }}
FLOODWALL_INVENTORY_TOPIC: {{ .Values.kafka.inventoryTopic | quote }}
{{- end }}

{{/* The database URL from the existing Secret (never from values). */}}
{{- define "floodwall.databaseUrlEnv" -}}
- name: FLOODWALL_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ required "database.existingSecret is required: a Secret with the libpq URL of the write endpoint" .Values.database.existingSecret }}
      key: {{ .Values.database.urlKey }}
{{- end }}

{{/* The schema owner's URL for the migration Job (DDL); without database.ownerSecret, the one Secret. */}}
{{- define "floodwall.databaseOwnerUrlEnv" -}}
{{- if .Values.database.ownerSecret }}
- name: FLOODWALL_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.database.ownerSecret }}
      key: {{ .Values.database.ownerUrlKey }}
{{- else }}
{{- include "floodwall.databaseUrlEnv" . }}
{{- end }}
{{- end }}

{{/* Kafka TLS/SASL connection settings from an existing Secret, when one is named. */}}
{{- define "floodwall.kafkaConnectionEnv" -}}
{{- if .Values.kafka.connectionSecret }}
- name: FLOODWALL_KAFKA_CONNECTION
  valueFrom:
    secretKeyRef:
      name: {{ .Values.kafka.connectionSecret }}
      key: {{ .Values.kafka.connectionKey }}
{{- end }}
{{- end }}

{{/* Writable scratch space for a read-only root filesystem. */}}
{{- define "floodwall.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- end }}

{{- define "floodwall.tmpMount" -}}
- name: tmp
  mountPath: /tmp
{{- end }}

{{- define "floodwall.podSecurity" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end }}

{{/* Labels of ServiceMonitor, PodMonitor and PrometheusRule: kube-prometheus-stack selects on `release`. */}}
{{- define "floodwall.monitorLabels" -}}
{{- with .ctx.Values.monitoring.release }}
release: {{ . | quote }}
{{- end }}
{{- with .ctx.Values.monitoring.additionalLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}
{{/* Every Floodwall target carries its consumer group: the dashboards and alerts group by it. */}}
{{- define "floodwall.relabelings" -}}
- targetLabel: consumer_group
  replacement: {{ .Values.consumers.groupId | quote }}
  action: replace
{{- end }}
