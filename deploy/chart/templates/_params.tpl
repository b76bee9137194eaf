{{/* The controller's command-line flags, as ingress-nginx's chart's
controller.params: Weir takes ingress-nginx's flag names. */}}
{{- define "weir.params" -}}
- --configmap=$(POD_NAMESPACE)/{{ include "weir.controller.fullname" . }}
- --http-port={{ .Values.controller.containerPort.http }}
- --https-port={{ .Values.controller.containerPort.https }}
- --metrics-port={{ .Values.controller.metrics.port }}
- --election-id={{ include "weir.electionID" . }}
{{- if .Values.tcp }}
- --tcp-services-configmap={{ default "$(POD_NAMESPACE)" .Values.controller.tcp.configMapNamespace }}/{{ include "weir.fullname" . }}-tcp
{{- end }}
{{- if .Values.udp }}
- --udp-services-configmap={{ default "$(POD_NAMESPACE)" .Values.controller.udp.configMapNamespace }}/{{ include "weir.fullname" . }}-udp
{{- end }}
- --controller-class={{ .Values.controller.ingressClassResource.controllerValue }}
{{- if .Values.controller.ingressClass }}
- --ingress-class={{ .Values.controller.ingressClass }}
{{- end }}
{{- if .Values.controller.publishService.enabled }}
- --publish-service={{ default (printf "%s/%s" (include "weir.namespace" .) (include "weir.controller.fullname" .)) .Values.controller.publishService.pathOverride }}
{{- end }}
{{- if .Values.controller.scope.enabled }}
{{- if .Values.controller.scope.namespace }}
- --watch-namespace={{ .Values.controller.scope.namespace }}
{{- else if .Values.controller.scope.namespaceSelector }}
- --watch-namespace-selector={{ .Values.controller.scope.namespaceSelector }}
{{- else }}
- --watch-namespace=$(POD_NAMESPACE)
{{- end }}
{{- end }}
{{- if .Values.controller.watchIngressWithoutClass }}
- --watch-ingress-without-class=true
{{- end }}
{{- if .Values.controller.ingressClassByName }}
- --ingress-class-by-name=true
{{- end }}
{{- if .Values.controller.reportNodeInternalIp }}
- --report-node-internal-ip-address=true
{{- end }}
{{- if .Values.controller.disableLeaderElection }}
- --disable-leader-election=true
{{- end }}
{{- if .Values.controller.electionTTL }}
- --election-ttl={{ .Values.controller.electionTTL }}
{{- end }}
{{- if ne .Values.controller.healthCheckPath "/healthz" }}
- --health-check-path={{ .Values.controller.healthCheckPath }}
{{- end }}
{{- if .Values.controller.admissionWebhooks.enabled }}
- --validating-webhook=:{{ .Values.controller.admissionWebhooks.port }}
- --validating-webhook-certificate={{ .Values.controller.admissionWebhooks.certificate }}
- --validating-webhook-key={{ .Values.controller.admissionWebhooks.key }}
{{- end }}
{{- range $key, $value := .Values.controller.extraArgs }}
{{- if eq (toString $value) "" }}
- --{{ $key }}
{{- else }}
- --{{ $key }}={{ tpl (toString $value) $ }}
{{- end }}
{{- end }}
{{- end -}}
