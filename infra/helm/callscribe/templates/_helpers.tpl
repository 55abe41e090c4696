{{- define "callscribe.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "callscribe.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "callscribe.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The image, pinned: an empty or "latest" tag is refused. */}}
{{- define "callscribe.image" -}}
{{- include "callscribe.pinned" (dict "image" .Values.image "name" "image") -}}
{{- end -}}

{{/* repository:tag of (dict "image" <values with repository and tag> "name" <its key>),
     an empty or "latest" tag refused. */}}
{{- define "callscribe.pinned" -}}
{{- $tag := toString .image.tag -}}
{{- if or (eq $tag "") (eq $tag "latest") -}}
{{- fail (printf "%s.tag must be a pinned version, not empty or \"latest\"" .name) -}}
{{- end -}}
{{- printf "%s:%s" .image.repository $tag -}}
{{- end -}}

{{- define "callscribe.secret" -}}
{{- required "secrets.existingSecret: name the Secret that holds the database and broker URLs" .Values.secrets.existingSecret -}}
{{- end -}}

{{/* The worker's grace period: at least a job's soft time limit plus the drain time. */}}
{{- define "callscribe.workerGrace" -}}
{{- $least := add (int .Values.worker.softTimeLimitSeconds) (int .Values.worker.drainSeconds) -}}
{{- $set := .Values.worker.terminationGracePeriodSeconds -}}
{{- if kindIs "invalid" $set -}}
{{- $least -}}
{{- else if lt (int $set) $least -}}
{{- fail (printf "worker.terminationGracePeriodSeconds (%d) must be at least worker.softTimeLimitSeconds + worker.drainSeconds (%d), or a scale-down kills running jobs" (int $set) $least) -}}
{{- else -}}
{{- int $set -}}
{{- end -}}
{{- end -}}

{{/* What KEDA scales on: the jobs to run (queued or running) per worker pod. */}}
{{- define "callscribe.kedaQuery" -}}
{{- if .Values.worker.keda.query -}}
{{- .Values.worker.keda.query -}}
{{- else -}}
{{- printf "SELECT CEIL(COUNT(*)::decimal / %d) FROM jobs WHERE status IN ('queued', 'running')" (int .Values.worker.jobsInFlight) -}}
{{- end -}}
{{- end -}}

{{/* Environment of every callscribe container: secrets by reference, plain settings. */}}
{{- define "callscribe.env" -}}
- name: CALLSCRIBE_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "callscribe.secret" . }}
      key: {{ .Values.secrets.databaseUrlKey }}
- name: CALLSCRIBE_BROKER_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "callscribe.secret" . }}
      key: {{ .Values.secrets.brokerUrlKey }}
{{- if .Values.secrets.awsAccessKeyIdKey }}
- name: CALLSCRIBE_STORAGE__AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ include "callscribe.secret" . }}
      key: {{ .Values.secrets.awsAccessKeyIdKey }}
{{- end }}
{{- if .Values.secrets.awsSecretAccessKeyKey }}
- name: CALLSCRIBE_STORAGE__AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "callscribe.secret" . }}
      key: {{ .Values.secrets.awsSecretAccessKeyKey }}
{{- end }}
- name: HOME
  value: /tmp
- name: CALLSCRIBE_JOBS__SOFT_TIME_LIMIT_S
  value: {{ .Values.worker.softTimeLimitSeconds | quote }}
- name: CALLSCRIBE_QUEUE__TIME_LIMIT_S
  value: {{ add (int .Values.worker.softTimeLimitSeconds) 300 | quote }}
- name: CALLSCRIBE_QUEUE__VISIBILITY_TIMEOUT_S
  value: {{ mul (add (int .Values.worker.softTimeLimitSeconds) 300) 2 | quote }}
{{- $owned := list "CALLSCRIBE_DATABASE_URL" "CALLSCRIBE_BROKER_URL" "CALLSCRIBE_STORAGE__AWS_ACCESS_KEY_ID" "CALLSCRIBE_STORAGE__AWS_SECRET_ACCESS_KEY" "CALLSCRIBE_JOBS__SOFT_TIME_LIMIT_S" "CALLSCRIBE_QUEUE__TIME_LIMIT_S" "CALLSCRIBE_QUEUE__VISIBILITY_TIMEOUT_S" "CALLSCRIBE_EXECUTION__JOBS_IN_FLIGHT" "CALLSCRIBE_MODEL__CACHE_DIR" "CALLSCRIBE_WEB__DATABASE_URL" "CALLSCRIBE_WEB__SECRET_KEY" "CALLSCRIBE_WEB__SECURE_COOKIES" "CALLSCRIBE_WEB__LIMITER_URL" "CALLSCRIBE_DASHBOARD_PASSWORD" }}
{{- range $name, $value := .Values.config }}
{{- if has $name $owned }}
{{- fail (printf "config.%s is set by the chart itself (from secrets.*, worker.softTimeLimitSeconds, worker.jobsInFlight or web.*): set that value instead" $name) }}
{{- end }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}

{{/* The worker's device, checked against its GPU limit. */}}
{{- define "callscribe.workerDevice" -}}
{{- $gpus := dig "limits" "nvidia.com/gpu" 0 (.Values.worker.resources | default dict) -}}
{{- if eq .Values.worker.device "cuda" -}}
{{- if not $gpus -}}
{{- fail "worker.device cuda needs a GPU: set worker.resources.limits.nvidia.com/gpu (1), or worker.device cpu with the cpu image" -}}
{{- end -}}
{{- else if eq .Values.worker.device "cpu" -}}
{{- if $gpus -}}
{{- fail "worker.device cpu would hold a GPU it never uses: remove worker.resources.limits.nvidia.com/gpu" -}}
{{- end -}}
{{- else -}}
{{- fail (printf "worker.device must be cuda or cpu, not %v" .Values.worker.device) -}}
{{- end -}}
{{- .Values.worker.device -}}
{{- end -}}

{{/* NetworkPolicy egress rules: DNS, and each of (dict "root" . "peers" (list …)) of
     networkPolicy.{postgres,redis,s3}: its port, to its peers when they are named. */}}
{{- define "callscribe.egress" -}}
- ports:
    - {port: 53, protocol: UDP}
    - {port: 53, protocol: TCP}
{{- range $name := .peers }}
{{- $peer := index $.root.Values.networkPolicy $name }}
- ports:
    - {port: {{ $peer.port }}, protocol: TCP}
  {{- with $peer.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- end -}}
