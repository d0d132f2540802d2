{{/* Names */}}
{{- define "motet.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "motet.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "motet.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "motet.selectorLabels" -}}
app.kubernetes.io/name: {{ include "motet.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "motet.labels" -}}
helm.sh/chart: {{ include "motet.chart" . }}
{{ include "motet.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: motet
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Labels of one component: (dict "ctx" $ "component" "scheduler") */}}
{{- define "motet.componentLabels" -}}
{{ include "motet.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "motet.componentSelector" -}}
{{ include "motet.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "motet.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "motet.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "motet.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* etcd */}}
{{- define "motet.etcdName" -}}
{{- printf "%s-etcd" (include "motet.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "motet.etcdEndpoints" -}}
{{- if .Values.etcd.inChart.enabled -}}
{{- $name := include "motet.etcdName" . -}}
{{- $eps := list -}}
{{- range $i := until (int .Values.etcd.inChart.replicas) -}}
{{- $eps = append $eps (printf "%s-%d.%s-headless.%s.svc:2379" $name $i $name $.Release.Namespace) -}}
{{- end -}}
{{- join "," $eps -}}
{{- else -}}
{{- join "," .Values.etcd.endpoints -}}
{{- end -}}
{{- end -}}

{{/* The client-facing addresses (host:port) of the services */}}
{{- define "motet.schedulerAddress" -}}
{{- printf "%s-scheduler.%s.svc:%d" (include "motet.fullname" .) .Release.Namespace (int .Values.scheduler.port) -}}
{{- end -}}
{{- define "motet.resultsAddress" -}}
{{- printf "%s-results.%s.svc:%d" (include "motet.fullname" .) .Release.Namespace (int .Values.results.port) -}}
{{- end -}}

{{/* Restricted Pod Security Standard */}}
{{- define "motet.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "motet.containerSecurityContext" -}}
runAsNonRoot: true
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Environment of an SDK client (workers, the test pod): (dict "ctx" $ "token" secretKey "cert" secretName) */}}
{{- define "motet.clientEnv" -}}
{{- $ := .ctx -}}
- name: MOTET_SCHEDULER
  value: {{ include "motet.schedulerAddress" $ | quote }}
- name: MOTET_RESULTS
  value: {{ include "motet.resultsAddress" $ | quote }}
- name: MOTET_NAMESPACE
  value: {{ $.Values.motetNamespace | quote }}
{{- if $.Values.tls.enabled }}
- name: MOTET_TLS_CA
  value: /etc/motet/tls/ca.crt
{{- if .cert }}
- name: MOTET_TLS_CERT
  value: /etc/motet/client-tls/tls.crt
- name: MOTET_TLS_KEY
  value: /etc/motet/client-tls/tls.key
{{- end }}
{{- end }}
{{- if and .token .token.name }}
- name: MOTET_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ .token.name }}
      key: {{ default "token" .token.key }}
{{- end }}
{{- end -}}

{{/* Mounts of an SDK client: the services' CA (from tls.secretName, ca.crt only) and a client certificate */}}
{{- define "motet.clientVolumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if .ctx.Values.tls.enabled }}
- name: motet-ca
  mountPath: /etc/motet/tls
  readOnly: true
{{- if .cert }}
- name: client-tls
  mountPath: /etc/motet/client-tls
  readOnly: true
{{- end }}
{{- end }}
{{- end -}}

{{- define "motet.clientVolumes" -}}
- name: tmp
  emptyDir: {}
{{- if .ctx.Values.tls.enabled }}
- name: motet-ca
  secret:
    secretName: {{ .ctx.Values.tls.secretName }}
    items:
      - key: ca.crt
        path: ca.crt
{{- if .cert }}
- name: client-tls
  secret:
    secretName: {{ .cert }}
    items:
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
{{- end }}
{{- end }}
{{- end -}}

{{/* Checks across values the schema cannot express */}}
{{- define "motet.validate" -}}
{{- if and .Values.etcd.inChart.enabled (or .Values.etcd.tls.enabled .Values.etcd.auth.user) -}}
{{- fail "etcd.inChart is plaintext without auth (evaluation only): turn off etcd.tls and etcd.auth, or use an external etcd" -}}
{{- end -}}
{{- if and (not .Values.etcd.inChart.enabled) (empty .Values.etcd.endpoints) -}}
{{- fail "etcd.endpoints is empty: list your etcd members (host:port) or set etcd.inChart.enabled" -}}
{{- end -}}
{{- if and .Values.etcd.auth.user (empty .Values.etcd.auth.passwordSecret.name) -}}
{{- fail "etcd.auth.user needs etcd.auth.passwordSecret.name (an existing Secret holding the password)" -}}
{{- end -}}
{{- if and .Values.auth.jwt.jwksConfigMap (or (empty .Values.auth.jwt.issuer) (empty .Values.auth.jwt.audience)) -}}
{{- fail "auth.jwt.jwksConfigMap needs auth.jwt.issuer and auth.jwt.audience" -}}
{{- end -}}
{{- if and .Values.tls.clientAuth (not .Values.tls.enabled) -}}
{{- fail "tls.clientAuth needs tls.enabled" -}}
{{- end -}}
{{- end -}}
