{{/*
One Motet service (scheduler or results): Deployment, Service, HPA, PDB.
Called with (dict "ctx" $ "component" "scheduler" "v" .Values.scheduler).
*/}}
{{- define "motet.serviceArgs" -}}
{{- $ := .ctx -}}
{{- $v := .v -}}
- {{ .component }}
- --listen=0.0.0.0:{{ $v.port }}
- --metrics=0.0.0.0:{{ $v.metricsPort }}
- --health=0.0.0.0:{{ $v.healthPort }}
{{- if $.Values.tls.enabled }}
- --tls-cert=/etc/motet/tls/tls.crt
- --tls-key=/etc/motet/tls/tls.key
{{- if $.Values.tls.clientAuth }}
- --tls-client-ca=/etc/motet/tls/ca.crt
{{- end }}
{{- else }}
- --insecure
{{- end }}
{{- if $.Values.auth.tokensSecret }}
- --tokens=/etc/motet/tokens/{{ $.Values.auth.tokensKey }}
{{- end }}
{{- if $.Values.auth.jwt.jwksConfigMap }}
- --jwks=/etc/motet/jwks/{{ $.Values.auth.jwt.jwksKey }}
- --jwt-issuer={{ $.Values.auth.jwt.issuer }}
- --jwt-audience={{ $.Values.auth.jwt.audience }}
{{- end }}
{{- if and $.Values.etcd.tls.enabled (not $.Values.etcd.inChart.enabled) }}
- --etcd-ca=/etc/motet/etcd-tls/ca.crt
{{- if $.Values.etcd.tls.clientCert }}
- --etcd-cert=/etc/motet/etcd-tls/tls.crt
- --etcd-key=/etc/motet/etcd-tls/tls.key
{{- end }}
{{- end }}
{{- if and $.Values.etcd.auth.user (not $.Values.etcd.inChart.enabled) }}
- --etcd-user={{ $.Values.etcd.auth.user }}
- --etcd-password-file=/etc/motet/etcd-auth/password
{{- end }}
{{- end -}}

{{- define "motet.serviceDeployment" -}}
{{- $ := .ctx -}}
{{- $v := .v -}}
{{- $c := .component -}}
{{- $args := dict "ctx" $ "component" $c -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "motet.fullname" $ }}-{{ $c }}
  namespace: {{ $.Release.Namespace }}
  labels:
    {{- include "motet.componentLabels" $args | nindent 4 }}
spec:
  {{- if not $v.autoscaling.enabled }}
  replicas: {{ $v.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "motet.componentSelector" $args | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "motet.componentLabels" $args | nindent 8 }}
      annotations:
        checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") $ | sha256sum }}
        {{- with $v.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "motet.serviceAccountName" $ }}
      automountServiceAccountToken: false
      {{- with $.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- include "motet.podSecurityContext" $ | nindent 8 }}
      terminationGracePeriodSeconds: 30
      containers:
        - name: {{ $c }}
          image: {{ include "motet.image" $ }}
          imagePullPolicy: {{ $.Values.image.pullPolicy }}
          args:
            {{- include "motet.serviceArgs" . | nindent 12 }}
          envFrom:
            - configMapRef:
                name: {{ include "motet.fullname" $ }}
          {{- with $v.extraEnv }}
          env:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          ports:
            - name: grpc
              containerPort: {{ $v.port }}
              protocol: TCP
            - name: metrics
              containerPort: {{ $v.metricsPort }}
              protocol: TCP
            - name: health
              containerPort: {{ $v.healthPort }}
              protocol: TCP
          startupProbe:
            grpc:
              port: {{ $v.healthPort }}
            periodSeconds: 2
            failureThreshold: 60
          readinessProbe:
            grpc:
              port: {{ $v.healthPort }}
            periodSeconds: 5
            failureThreshold: 2
          livenessProbe:
            grpc:
              port: {{ $v.healthPort }}
            periodSeconds: 10
            timeoutSeconds: 5
            failureThreshold: 6
          {{- with $v.resources }}
          resources:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          securityContext:
            {{- include "motet.containerSecurityContext" $ | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- if $.Values.tls.enabled }}
            - name: tls
              mountPath: /etc/motet/tls
              readOnly: true
            {{- end }}
            {{- if $.Values.auth.tokensSecret }}
            - name: tokens
              mountPath: /etc/motet/tokens
              readOnly: true
            {{- end }}
            {{- if $.Values.auth.jwt.jwksConfigMap }}
            - name: jwks
              mountPath: /etc/motet/jwks
              readOnly: true
            {{- end }}
            {{- if and $.Values.etcd.tls.enabled (not $.Values.etcd.inChart.enabled) }}
            - name: etcd-tls
              mountPath: /etc/motet/etcd-tls
              readOnly: true
            {{- end }}
            {{- if and $.Values.etcd.auth.user (not $.Values.etcd.inChart.enabled) }}
            - name: etcd-auth
              mountPath: /etc/motet/etcd-auth
              readOnly: true
            {{- end }}
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 64Mi
        {{- if $.Values.tls.enabled }}
        - name: tls
          secret:
            secretName: {{ $.Values.tls.secretName }}
        {{- end }}
        {{- if $.Values.auth.tokensSecret }}
        - name: tokens
          secret:
            secretName: {{ $.Values.auth.tokensSecret }}
            items:
              - key: {{ $.Values.auth.tokensKey }}
                path: {{ $.Values.auth.tokensKey }}
        {{- end }}
        {{- if $.Values.auth.jwt.jwksConfigMap }}
        - name: jwks
          configMap:
            name: {{ $.Values.auth.jwt.jwksConfigMap }}
            items:
              - key: {{ $.Values.auth.jwt.jwksKey }}
                path: {{ $.Values.auth.jwt.jwksKey }}
        {{- end }}
        {{- if and $.Values.etcd.tls.enabled (not $.Values.etcd.inChart.enabled) }}
        - name: etcd-tls
          secret:
            secretName: {{ $.Values.etcd.tls.secretName }}
        {{- end }}
        {{- if and $.Values.etcd.auth.user (not $.Values.etcd.inChart.enabled) }}
        - name: etcd-auth
          secret:
            secretName: {{ $.Values.etcd.auth.passwordSecret.name }}
            items:
              - key: {{ $.Values.etcd.auth.passwordSecret.key }}
                path: password
        {{- end }}
      {{- with $v.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- if $v.affinity }}
      affinity:
        {{- toYaml $v.affinity | nindent 8 }}
      {{- else }}
      affinity:
        podAntiAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
            - weight: 100
              podAffinityTerm:
                topologyKey: kubernetes.io/hostname
                labelSelector:
                  matchLabels:
                    {{- include "motet.componentSelector" $args | nindent 20 }}
      {{- end }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ include "motet.fullname" $ }}-{{ $c }}
  namespace: {{ $.Release.Namespace }}
  labels:
    {{- include "motet.componentLabels" $args | nindent 4 }}
spec:
  type: {{ $v.service.type }}
  selector:
    {{- include "motet.componentSelector" $args | nindent 4 }}
  ports:
    - name: grpc
      port: {{ $v.port }}
      targetPort: grpc
      protocol: TCP
      appProtocol: grpc
    - name: metrics
      port: {{ $v.metricsPort }}
      targetPort: metrics
      protocol: TCP
    - name: health
      port: {{ $v.healthPort }}
      targetPort: health
      protocol: TCP
      appProtocol: grpc
{{- if $v.autoscaling.enabled }}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "motet.fullname" $ }}-{{ $c }}
  namespace: {{ $.Release.Namespace }}
  labels:
    {{- include "motet.componentLabels" $args | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "motet.fullname" $ }}-{{ $c }}
  minReplicas: {{ $v.autoscaling.minReplicas }}
  maxReplicas: {{ $v.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $v.autoscaling.targetCPUUtilizationPercentage }}
  behavior:
    scaleDown:
      stabilizationWindowSeconds: 300
{{- end }}
{{- if $v.pdb.enabled }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "motet.fullname" $ }}-{{ $c }}
  namespace: {{ $.Release.Namespace }}
  labels:
    {{- include "motet.componentLabels" $args | nindent 4 }}
spec:
  minAvailable: {{ $v.pdb.minAvailable }}
  selector:
    matchLabels:
      {{- include "motet.componentSelector" $args | nindent 6 }}
{{- end }}
{{- end -}}
