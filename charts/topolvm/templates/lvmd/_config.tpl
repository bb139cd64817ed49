{{/* lvmd.yaml of one lvmd DaemonSet: (dict "root" $ "deviceClasses" ... "lvcreateOptionClasses" ...). */}}
{{- define "topolvm.lvmdConfig" -}}
socket-name: {{ .root.Values.lvmd.socketName }}
lvm-command-prefix: {{ toJson .root.Values.lvmd.lvmCommandPrefix }}
device-classes:
  {{- toYaml .deviceClasses | nindent 2 }}
{{- with .lvcreateOptionClasses }}
lvcreate-option-classes:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
