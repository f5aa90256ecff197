{{- define "atlas4d.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "atlas4d.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "atlas4d.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: gateway
{{- end -}}

{{- define "atlas4d.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "atlas4d.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "atlas4d.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "atlas4d.databaseSecret" -}}
{{- default (printf "%s-database" (include "atlas4d.fullname" .)) .Values.database.existingSecret -}}
{{- end -}}

{{- define "atlas4d.authSecret" -}}
{{- default (printf "%s-auth" (include "atlas4d.fullname" .)) .Values.auth.existingSecret -}}
{{- end -}}

{{/* The environment both the server and the migration Job run with. */}}
{{- define "atlas4d.env" -}}
- name: ATLAS4D_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "atlas4d.databaseSecret" . }}
      key: url
- name: ATLAS4D_ENV
  value: {{ .Values.env | quote }}
- name: ATLAS4D_WORKERS
  value: {{ .Values.workers | quote }}
- name: ATLAS4D_METRICS
  value: {{ .Values.metrics.enabled | quote }}
{{- with .Values.tracing.otlpEndpoint }}
- name: ATLAS4D_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- range $name, $value := .Values.extraEnv }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}
