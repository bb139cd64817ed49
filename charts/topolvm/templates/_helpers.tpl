{{/* Labels every object of the release carries. */}}
{{- define "topolvm.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: topolvm
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}

{{/* Selector labels of one component: (dict "root" $ "component" "controller"). */}}
{{- define "topolvm.selectorLabels" -}}
app.kubernetes.io/name: {{ .component }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end }}

{{/* An image of TopoLVM's own: (dict "root" $ "component" "csi-plugin"), or its image.components override. */}}
{{- define "topolvm.image" -}}
{{- $image := .root.Values.image -}}
{{- $own := index $image.components (camelcase .component | untitle) -}}
{{- $repository := $own.repository | default (printf "%s/%s" $image.repository .component) -}}
{{- printf "%s:%s" $repository ($own.tag | default $image.tag | default .root.Chart.AppVersion) -}}
{{- end }}

{{/* The priorityClassName of a node-local pod: its own, else the chart's PriorityClass. */}}
{{- define "topolvm.nodePriorityClassName" -}}
{{- if .own -}}
{{ .own }}
{{- else if .root.Values.priorityClass.enabled -}}
{{ .root.Values.priorityClass.name }}
{{- end -}}
{{- end }}

{{/* The pod spec fields every pod shares: pull secrets. */}}
{{- define "topolvm.imagePullSecrets" -}}
{{- with .Values.image.pullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* The security context of a container that runs without root. */}}
{{- define "topolvm.nonRootSecurityContext" -}}
securityContext:
  runAsNonRoot: true
  runAsUser: {{ .Values.securityContext.runAsUser }}
  runAsGroup: {{ .Values.securityContext.runAsGroup }}
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities:
    drop: [ALL]
  seccompProfile:
    type: RuntimeDefault
{{- end }}

{{/* The webhook's pod hook is served when the extender is, for the extender reads what it adds. */}}
{{- define "topolvm.podHookEnabled" -}}
{{- if .Values.scheduler.enabled }}true{{ end -}}
{{- end }}

{{/* storageCapacity of the CSIDriver: its own value, else whether capacity tracking is on. */}}
{{- define "topolvm.storageCapacity" -}}
{{- if kindIs "bool" .Values.csiDriver.storageCapacity -}}
{{ .Values.csiDriver.storageCapacity }}
{{- else -}}
{{ .Values.controller.storageCapacityTracking.enabled }}
{{- end -}}
{{- end }}

{{/* The scheduler's listen address, as scheduler-options.yaml writes it: behind a Service, every interface. */}}
{{- define "topolvm.schedulerListen" -}}
{{- $host := ternary .Values.scheduler.listen.host "" (eq .Values.scheduler.type "daemonset") -}}
{{- printf "%s:%d" $host (int .Values.scheduler.listen.port) -}}
{{- end }}

{{/* Stops the render on values that cannot work together, naming them. */}}
{{- define "topolvm.validate" -}}
{{- if and (not .Values.scheduler.enabled) (not .Values.controller.storageCapacityTracking.enabled) -}}
{{- fail "scheduler.enabled and controller.storageCapacityTracking.enabled are both false: kube-scheduler would place pods without knowing where space is; enable one" -}}
{{- end -}}
{{- if and (not .Values.webhook.certManager.enabled) (not .Values.webhook.caBundle) -}}
{{- fail "webhook.caBundle is empty while webhook.certManager.enabled is false: give the base64 PEM of the CA that signed the Secret webhook.secretName, or enable cert-manager" -}}
{{- end -}}
{{- if .Values.lvmd.managed -}}
{{- include "topolvm.validateDeviceClasses" (dict "where" "lvmd.deviceClasses" "classes" .Values.lvmd.deviceClasses) -}}
{{- range $i, $config := .Values.lvmd.additionalConfigs -}}
{{- include "topolvm.validateDeviceClasses" (dict "where" (printf "lvmd.additionalConfigs[%d].deviceClasses" $i) "classes" $config.deviceClasses) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.lvmd.managed (ne .Values.lvmd.socketName .Values.node.lvmdSocket) -}}
{{- fail (printf "lvmd.socketName %q and node.lvmdSocket %q differ: topolvm-node would not find lvmd" .Values.lvmd.socketName .Values.node.lvmdSocket) -}}
{{- end -}}
{{- end }}

{{/* Fails unless one lvmd.yaml's device-classes have unique names and exactly one default: (dict "where" "lvmd.deviceClasses" "classes" list). */}}
{{- define "topolvm.validateDeviceClasses" -}}
{{- $names := list -}}
{{- $defaults := 0 -}}
{{- range .classes -}}
{{- if has .name $names -}}
{{- fail (printf "%s: device-class %q is listed twice" $.where .name) -}}
{{- end -}}
{{- $names = append $names .name -}}
{{- if .default }}{{ $defaults = add1 $defaults }}{{ end -}}
{{- end -}}
{{- if ne (int $defaults) 1 -}}
{{- fail (printf "%s: exactly one device-class must have default: true, found %d" .where (int $defaults)) -}}
{{- end -}}
{{- end }}
