{{/* Names and labels shared by every template. */}}

{{- define "governor.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* <release>-governor-injector, or <release>-injector when the release is already named governor. */}}
{{- define "governor.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- printf "%s-injector" .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s-injector" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "governor.selectorLabels" -}}
app.kubernetes.io/name: {{ include "governor.name" . }}-injector
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "governor.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "governor.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: injector
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "governor.tlsSecretName" -}}
{{- printf "%s-tls" (include "governor.fullname" .) }}
{{- end }}

{{/* Never injected: the system namespaces, the injector's own and the configured ones. */}}
{{- define "governor.excludedNamespaces" -}}
{{- $namespaces := list "kube-system" "kube-public" .Release.Namespace }}
{{- range .Values.webhook.excludedNamespaces }}
{{- $namespaces = append $namespaces . }}
{{- end }}
{{- $namespaces | uniq | toJson }}
{{- end }}

{{/* Plugins switched off by default: the keys of agent.plugins whose value is false. */}}
{{- define "governor.disabledPlugins" -}}
{{- $disabled := list }}
{{- range $name, $enabled := .Values.agent.plugins }}
{{- if not $enabled }}
{{- $disabled = append $disabled $name }}
{{- end }}
{{- end }}
{{- join "," $disabled }}
{{- end }}
