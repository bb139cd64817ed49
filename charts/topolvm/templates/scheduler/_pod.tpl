{{/* scheduler-options.yaml of topolvm-scheduler. */}}
{{- define "topolvm.schedulerOptions" -}}
listen: {{ include "topolvm.schedulerListen" . | quote }}
default-divisor: {{ index .Values.scheduler.schedulerOptions "default-divisor" }}
divisors: {{ toJson .Values.scheduler.schedulerOptions.divisors }}
{{- end }}

{{/* The pod template of topolvm-scheduler, for its DaemonSet and its Deployment. */}}
{{- define "topolvm.schedulerPodTemplate" -}}
{{- $s := .Values.scheduler }}
{{- $probeHost := ternary "127.0.0.1" "" (and (eq $s.type "daemonset") (has $s.listen.host (list "localhost" "127.0.0.1"))) }}
metadata:
  labels:
    {{- include "topolvm.selectorLabels" (dict "root" . "component" "scheduler") | nindent 4 }}
    {{- with $s.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    {{- /* A changed scheduler-options.yaml rolls the pods: the extender reads it once at start. */}}
    topolvm.cybozu.com/scheduler-options-sha256: {{ include "topolvm.schedulerOptions" . | sha256sum }}
    {{- with $s.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: topolvm-scheduler
  automountServiceAccountToken: {{ $s.nodeCache.enabled }}
  {{- include "topolvm.imagePullSecrets" . | nindent 2 }}
  {{- if eq $s.type "daemonset" }}
  # kube-scheduler on this control-plane node calls the extender on the host's loopback.
  hostNetwork: true
  dnsPolicy: ClusterFirstWithHostNet
  {{- end }}
  terminationGracePeriodSeconds: {{ $s.terminationGracePeriodSeconds }}
  {{- with $s.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  securityContext:
    runAsNonRoot: true
    runAsUser: {{ .Values.securityContext.runAsUser }}
    runAsGroup: {{ .Values.securityContext.runAsGroup }}
  containers:
    - name: topolvm-scheduler
      image: {{ include "topolvm.image" (dict "root" . "component" "scheduler-extender") }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      command: [topolvm-scheduler]
      args:
        - --config=/etc/topolvm/scheduler-options.yaml
        {{- if $s.nodeCache.enabled }}
        - --in-cluster
        {{- end }}
        - --log-level={{ .Values.logLevel }}
        {{- with $s.args }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with $s.env }}
      env:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      ports:
        - {name: extender, containerPort: {{ $s.listen.port }}}
      livenessProbe:
        httpGet:
          {{- with $probeHost }}
          host: {{ . }}
          {{- end }}
          path: /status
          port: {{ $s.listen.port }}
        initialDelaySeconds: 10
        timeoutSeconds: 3
        periodSeconds: 60
      readinessProbe:
        httpGet:
          {{- with $probeHost }}
          host: {{ . }}
          {{- end }}
          path: /status
          port: {{ $s.listen.port }}
        periodSeconds: 10
      {{- include "topolvm.nonRootSecurityContext" . | nindent 6 }}
      resources:
        {{- toYaml $s.resources | nindent 8 }}
      volumeMounts:
        - {name: options, mountPath: /etc/topolvm, readOnly: true}
  volumes:
    - name: options
      configMap:
        name: topolvm-scheduler-options
  {{- with $s.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $s.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if $s.affinity }}
  affinity:
    {{- toYaml $s.affinity | nindent 4 }}
  {{- else if eq $s.type "daemonset" }}
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
          - matchExpressions:
              - {key: node-role.kubernetes.io/control-plane, operator: Exists}
  {{- else }}
  affinity:
    podAntiAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
        - weight: 100
          podAffinityTerm:
            topologyKey: kubernetes.io/hostname
            labelSelector:
              matchLabels:
                {{- include "topolvm.selectorLabels" (dict "root" . "component" "scheduler") | nindent 16 }}
  {{- end }}
{{- end }}
