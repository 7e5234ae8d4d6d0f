package awsemu

import (
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Strategy is a service's deploymentConfiguration.strategy and the
// settings that go with it. The zero value is a ROLLING service with
// circuit breaker rollback and no alarms.
type Strategy struct {
	Kind     string        // "ROLLING" (default), "BLUE_GREEN", "LINEAR" or "CANARY"
	BakeTime time.Duration // bakeTimeInMinutes: after all production traffic shifted
	// LINEAR: production traffic moves StepPercent at a time, waiting
	// StepBakeTime between steps.
	StepPercent  float64
	StepBakeTime time.Duration
	// CANARY: CanaryPercent first, CanaryBakeTime, then the rest.
	CanaryPercent  float64
	CanaryBakeTime time.Duration
	// Alarms roll back a deployment in progress when one goes off
	// (TriggerAlarm).
	Alarms []string
	// NoRollback turns the rollback option of the circuit breaker and the
	// alarms off: a failure they detect stops the service deployment
	// (STOP_REQUESTED, then STOPPED) and leaves the service as it is.
	NoRollback bool
}

// SetStrategy sets the deployment strategy of a service added before.
func (s *Server) SetStrategy(cluster, service string, st Strategy) {
	s.mu.Lock()
	defer s.mu.Unlock()
	svc := s.clusters[cluster][service]
	if svc == nil {
		panic("awsemu.SetStrategy: no service " + cluster + "/" + service)
	}
	if st.Kind == "" {
		st.Kind = "ROLLING"
	}
	svc.strategy = st
}

// AdvanceClock moves the emulator's clock d ahead, so a test can let a
// bake time pass without waiting for it.
func (s *Server) AdvanceClock(d time.Duration) {
	s.skew.Add(int64(d))
}

// TriggerAlarm makes the alarm go off for the service: the service
// deployment in progress that monitors it rolls back at the next poll.
func (s *Server) TriggerAlarm(cluster, service, alarm string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if svc := s.clusters[cluster][service]; svc != nil {
		svc.alarming = alarm
	}
}

// FailRollbacks makes the service's rollbacks fail: a service deployment
// that rolls back ends ROLLBACK_FAILED instead of ROLLBACK_SUCCESSFUL.
func (s *Server) FailRollbacks(cluster, service string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if svc := s.clusters[cluster][service]; svc != nil {
		svc.rollbackFails = on
	}
}

// BakePolls returns how many service deployment polls of the service saw
// its newest service deployment in BAKE_TIME: a test's signal that the
// bot looked during bake time.
func (s *Server) BakePolls(cluster, service string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	svc := s.clusters[cluster][service]
	if svc == nil || len(svc.serviceDeployments) == 0 {
		return 0
	}
	return svc.serviceDeployments[len(svc.serviceDeployments)-1].bakePolls
}

// serviceDeployment is what ECS records of one change to a service since
// 2025: a status, and for BLUE_GREEN, LINEAR and CANARY a lifecycle stage.
type serviceDeployment struct {
	arn            string
	dep            *deployment // the DescribeServices deployment it drives
	status, reason string
	stage          string
	source, target *serviceRevision
	prodWeight     float64 // of production traffic on target
	testWeight     float64
	stageAt        time.Time // when stage was entered
	created        time.Time
	started        time.Time
	finished       time.Time
	stopped        time.Time
	updated        time.Time
	cbFailures     int32
	cbStatus       string
	alarmStatus    string
	triggered      []string
	rollbackAt     time.Time
	rollbackReason string
	stopReason     string // why a failure without rollback stopped it
	strategy       Strategy
	bakePolls      int
	reconcile      bool // starts in RECONCILE_SERVICE
}

type serviceRevision struct {
	arn, taskDef string
	created      time.Time
}

func (s *Server) newServiceRevision(svc *service, taskDef string) *serviceRevision {
	s.nextID++
	r := &serviceRevision{
		arn:     fmt.Sprintf("arn:aws:ecs:%s:%s:service-revision/%s/%s/%d", Region, AccountID, svc.cluster, svc.name, s.nextID),
		taskDef: taskDef, created: s.now(),
	}
	s.serviceRevisions[r.arn] = r
	return r
}

// startServiceDeployment records the service deployment of dep, which
// UpdateService just started. It is PENDING until the next poll.
func (s *Server) startServiceDeployment(svc *service, dep *deployment, source string) {
	s.nextID++
	now := s.now()
	sd := &serviceDeployment{
		arn: fmt.Sprintf("arn:aws:ecs:%s:%s:service-deployment/%s/%s/%s", Region, AccountID, svc.cluster, svc.name, strconv.FormatInt(s.nextID, 36)),
		dep: dep, status: "PENDING",
		source: s.newServiceRevision(svc, source), target: s.newServiceRevision(svc, dep.taskDef),
		created: now, updated: now, stageAt: now,
		cbStatus: "MONITORING", alarmStatus: "DISABLED", strategy: svc.strategy,
	}
	if len(svc.strategy.Alarms) > 0 {
		sd.alarmStatus = "MONITORING"
	}
	if svc.strategy.Kind != "ROLLING" {
		sd.reconcile = len(svc.deployments) > 2
		// The first poll enters PRE_SCALE_UP, or RECONCILE_SERVICE when
		// the service runs more than one revision (a deployment started
		// while another was in progress). Blue/green keeps the old
		// revision running until clean-up; the rolling model's task
		// arithmetic does not apply.
		dep.rolloutState = "IN_PROGRESS"
	}
	svc.serviceDeployments = append(svc.serviceDeployments, sd)
}

// current is the service's newest service deployment, or nil.
func (svc *service) current() *serviceDeployment {
	if len(svc.serviceDeployments) == 0 {
		return nil
	}
	return svc.serviceDeployments[len(svc.serviceDeployments)-1]
}

func (sd *serviceDeployment) ended() bool {
	switch sd.status {
	case "SUCCESSFUL", "STOPPED", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED":
		return true
	}
	return false
}

func (sd *serviceDeployment) enter(stage string, now time.Time) {
	sd.stage, sd.stageAt, sd.updated = stage, now, now
}

// advanceServiceDeployment moves the newest service deployment one step.
// For ROLLING services it follows the DescribeServices deployment, which
// advance has already moved; the native strategies have their own stages.
func (s *Server) advanceServiceDeployment(svc *service) {
	sd := svc.current()
	if sd == nil || sd.ended() {
		return
	}
	now := s.now()
	if sd.status == "PENDING" {
		// Only a read before the first poll (the list right after
		// UpdateService) sees it pending.
		sd.status, sd.started, sd.updated = "IN_PROGRESS", now, now
	}
	switch sd.status {
	case "STOP_REQUESTED":
		sd.status, sd.stopped, sd.finished, sd.updated = "STOPPED", now, now, now
		sd.reason = "Service deployment stopped: " + sd.stopReason
		return
	case "ROLLBACK_REQUESTED":
		s.beginRollback(svc, sd, "A user stopped the deployment with a rollback (StopServiceDeployment).")
		return
	case "ROLLBACK_IN_PROGRESS":
		sd.finished, sd.updated = now, now
		if svc.rollbackFails {
			sd.status = "ROLLBACK_FAILED"
			sd.reason = "Service deployment rollback failed: " + sd.rollbackReason
			return
		}
		sd.status = "ROLLBACK_SUCCESSFUL"
		sd.reason = "Service deployment rolled back: " + sd.rollbackReason
		return
	}

	if alarm := svc.alarming; alarm != "" && slices.Contains(sd.strategy.Alarms, alarm) {
		sd.alarmStatus, sd.triggered = "TRIGGERED", []string{alarm}
		svc.alarming = ""
		if sd.strategy.NoRollback {
			s.requestStop(sd, "CloudWatch alarm "+alarm+" went into ALARM state.")
			return
		}
		s.beginRollback(svc, sd, "CloudWatch alarm "+alarm+" went into ALARM state.")
		return
	}
	if sd.strategy.Kind == "ROLLING" {
		s.followRolling(svc, sd, now)
		return
	}
	s.advanceStage(svc, sd, now)
}

func (s *Server) followRolling(svc *service, sd *serviceDeployment, now time.Time) {
	d := sd.dep
	sd.cbFailures = d.failed
	switch d.rolloutState {
	case "COMPLETED":
		sd.status, sd.finished, sd.updated = "SUCCESSFUL", now, now
		sd.cbStatus = "MONITORING_COMPLETE"
		sd.reason = "Service deployment completed."
	case "FAILED":
		sd.cbStatus = "TRIGGERED"
		if sd.strategy.NoRollback {
			s.requestStop(sd, "the deployment circuit breaker threshold was exceeded.")
			return
		}
		// advance has already put the last good revision back.
		sd.status, sd.rollbackAt, sd.updated = "ROLLBACK_IN_PROGRESS", now, now
		sd.rollbackReason = "the deployment circuit breaker threshold was exceeded."
		sd.reason = "Service deployment rolling back because the deployment circuit breaker threshold was exceeded."
	}
}

// stages of BLUE_GREEN, in order; LINEAR and CANARY repeat the production
// shift stages once per step.
var blueGreenStages = []string{
	"RECONCILE_SERVICE", // only with more than one revision running
	"PRE_SCALE_UP", "SCALE_UP", "POST_SCALE_UP",
	"TEST_TRAFFIC_SHIFT", "POST_TEST_TRAFFIC_SHIFT",
	"PRE_PRODUCTION_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT",
	"BAKE_TIME", "CLEAN_UP",
}

func (s *Server) advanceStage(svc *service, sd *serviceDeployment, now time.Time) {
	d := sd.dep
	if sd.stage == "BAKE_TIME" {
		if now.Before(sd.stageAt.Add(sd.strategy.BakeTime)) {
			return
		}
	}
	if sd.stage == "PRODUCTION_TRAFFIC_SHIFT" && sd.prodWeight < 100 {
		// A LINEAR or CANARY step waits its bake time, then shifts again.
		wait, step := sd.strategy.StepBakeTime, sd.strategy.StepPercent
		if sd.strategy.Kind == "CANARY" {
			wait, step = sd.strategy.CanaryBakeTime, 100
		}
		if now.Before(sd.stageAt.Add(wait)) {
			return
		}
		sd.enter("PRE_PRODUCTION_TRAFFIC_SHIFT", now)
		sd.prodWeight = min(sd.prodWeight+step, 100)
		return
	}
	if sd.stage == "PRE_PRODUCTION_TRAFFIC_SHIFT" && sd.prodWeight > 0 {
		sd.enter("PRODUCTION_TRAFFIC_SHIFT", now)
		return
	}
	if sd.stage == "CLEAN_UP" {
		sd.status, sd.finished, sd.updated = "SUCCESSFUL", now, now
		sd.reason = "Service deployment completed."
		if len(sd.strategy.Alarms) > 0 {
			sd.alarmStatus = "MONITORING_COMPLETE"
		}
		sd.cbStatus = "MONITORING_COMPLETE"
		d.rolloutState, d.rolloutReason = "COMPLETED", "ECS deployment "+d.id+" completed."
		d.running, d.pending = d.desired, 0
		svc.deployments = []*deployment{d}
		svc.lastGood = d.taskDef
		svc.event(s, "(service %s) (deployment %s) deployment completed.", svc.name, d.id)
		return
	}
	next := blueGreenStages[max(slices.Index(blueGreenStages, sd.stage)+1, 1)]
	if sd.stage == "" && sd.reconcile {
		next = "RECONCILE_SERVICE"
	}
	sd.enter(next, now)
	switch next {
	case "SCALE_UP":
		d.running, d.pending = d.desired, 0
	case "TEST_TRAFFIC_SHIFT":
		sd.testWeight = 100
	case "PRE_PRODUCTION_TRAFFIC_SHIFT":
		switch sd.strategy.Kind {
		case "LINEAR":
			sd.prodWeight = max(sd.strategy.StepPercent, 1)
		case "CANARY":
			sd.prodWeight = max(sd.strategy.CanaryPercent, 1)
		default:
			sd.prodWeight = 100
		}
	case "BAKE_TIME":
		sd.bakePolls = 0
	}
}

// requestStop is a failure detected with rollback off: the service
// deployment stops, the service stays as it is.
func (s *Server) requestStop(sd *serviceDeployment, reason string) {
	sd.status, sd.updated, sd.stopReason = "STOP_REQUESTED", s.now(), reason
	sd.reason = "Service deployment stopping: " + reason
	sd.dep.rolloutState, sd.dep.rolloutReason = "FAILED", reason
}

// beginRollback puts the source revision back as PRIMARY.
func (s *Server) beginRollback(svc *service, sd *serviceDeployment, reason string) {
	now := s.now()
	sd.status, sd.rollbackAt, sd.updated = "ROLLBACK_IN_PROGRESS", now, now
	sd.rollbackReason = reason
	sd.reason = "Service deployment rolling back: " + reason
	svc.alarming = ""
	d := sd.dep
	if d.rolloutState == "FAILED" {
		return // the circuit breaker's rollback already ran
	}
	d.status, d.rolloutState, d.rolloutReason = "ACTIVE", "FAILED", reason
	d.running, d.pending = 0, 0
	rb := &deployment{
		id: s.newDeploymentID(), status: "PRIMARY", taskDef: sd.source.taskDef,
		desired: svc.desired, running: svc.desired,
		rolloutState: "COMPLETED", createdAt: now, updatedAt: now,
	}
	rb.rolloutReason = "ECS deployment " + rb.id + " completed."
	svc.deployments = []*deployment{rb, d}
	svc.taskDef = sd.source.taskDef
	svc.event(s, "(service %s) (deployment %s) deployment failed: %s", svc.name, d.id, reason)
	svc.event(s, "(service %s) rolling back to deployment %s.", svc.name, rb.id)
}

func (s *Server) serviceOf(cluster, ref string) (*service, error) {
	_, services, err := s.cluster(cluster)
	if err != nil {
		return nil, err
	}
	svc := services[resourceName(ref)]
	if svc == nil {
		return nil, clientError("ServiceNotFoundException", "Service not found.")
	}
	return svc, nil
}

func (s *Server) listServiceDeployments(body []byte) (any, error) {
	var in struct {
		Cluster   string   `json:"cluster"`
		Service   string   `json:"service"`
		Status    []string `json:"status"`
		CreatedAt *struct {
			After  *float64 `json:"after"`
			Before *float64 `json:"before"`
		} `json:"createdAt"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.Service == "" {
		return nil, clientError("InvalidParameterException", "service must be specified.")
	}
	svc, err := s.serviceOf(in.Cluster, in.Service)
	if err != nil {
		return nil, err
	}
	// Listing does not move the rollout: a follower lists once, then
	// polls DescribeServiceDeployments.
	out := []any{}
	for i := len(svc.serviceDeployments) - 1; i >= 0; i-- { // newest first
		sd := svc.serviceDeployments[i]
		if len(in.Status) > 0 && !slices.Contains(in.Status, sd.status) {
			continue
		}
		if c := in.CreatedAt; c != nil {
			at := epoch(sd.created)
			if c.After != nil && at < *c.After || c.Before != nil && at > *c.Before {
				continue
			}
		}
		brief := map[string]any{
			"serviceDeploymentArn":     sd.arn,
			"serviceArn":               svc.arn(),
			"clusterArn":               svc.clusterArn(),
			"targetServiceRevisionArn": sd.target.arn,
			"status":                   sd.status,
			"createdAt":                epoch(sd.created),
		}
		if sd.reason != "" {
			brief["statusReason"] = sd.reason
		}
		if !sd.started.IsZero() {
			brief["startedAt"] = epoch(sd.started)
		}
		if !sd.finished.IsZero() {
			brief["finishedAt"] = epoch(sd.finished)
		}
		out = append(out, brief)
	}
	return map[string]any{"serviceDeployments": out}, nil
}

func (s *Server) findServiceDeployment(arn string) (*service, *serviceDeployment) {
	for _, services := range s.clusters {
		for _, svc := range services {
			for _, sd := range svc.serviceDeployments {
				if sd.arn == arn {
					return svc, sd
				}
			}
		}
	}
	return nil, nil
}

func (s *Server) describeServiceDeployments(body []byte) (any, error) {
	var in struct {
		ARNs []string `json:"serviceDeploymentArns"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.ARNs) == 0 || len(in.ARNs) > 20 {
		return nil, clientError("InvalidParameterException", "serviceDeploymentArns must name between 1 and 20 service deployments.")
	}
	out, failures := []any{}, []any{}
	for _, arn := range in.ARNs {
		svc, sd := s.findServiceDeployment(arn)
		if sd == nil {
			failures = append(failures, map[string]any{"arn": arn, "reason": "MISSING"})
			continue
		}
		s.advance(svc)
		if sd.stage == "BAKE_TIME" && sd.status == "IN_PROGRESS" {
			sd.bakePolls++
		}
		out = append(out, sd.json(svc))
	}
	return map[string]any{"serviceDeployments": out, "failures": failures}, nil
}

func (s *Server) describeServiceRevisions(body []byte) (any, error) {
	var in struct {
		ARNs []string `json:"serviceRevisionArns"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.ARNs) == 0 || len(in.ARNs) > 20 {
		return nil, clientError("InvalidParameterException", "serviceRevisionArns must name between 1 and 20 service revisions.")
	}
	out, failures := []any{}, []any{}
	for _, arn := range in.ARNs {
		r := s.serviceRevisions[arn]
		if r == nil {
			failures = append(failures, map[string]any{"arn": arn, "reason": "MISSING"})
			continue
		}
		out = append(out, map[string]any{
			"serviceRevisionArn": r.arn,
			"taskDefinition":     r.taskDef,
			"createdAt":          epoch(r.created),
			"launchType":         "FARGATE",
			"platformVersion":    "1.4.0",
		})
	}
	return map[string]any{"serviceRevisions": out, "failures": failures}, nil
}

func (s *Server) stopServiceDeployment(body []byte) (any, error) {
	var in struct {
		ARN      string `json:"serviceDeploymentArn"`
		StopType string `json:"stopType"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	_, sd := s.findServiceDeployment(in.ARN)
	if sd == nil {
		return nil, clientError("ServiceDeploymentNotFoundException", "The service deployment does not exist.")
	}
	// Documented: ROLLBACK is the only stop type; a deployment already
	// stopping or rolling back goes on doing so.
	if in.StopType != "" && in.StopType != "ROLLBACK" {
		return nil, clientError("InvalidParameterException", "Invalid stopType %q; the valid values are ROLLBACK.", in.StopType)
	}
	switch sd.status {
	case "PENDING", "IN_PROGRESS":
		sd.status, sd.updated = "ROLLBACK_REQUESTED", s.now()
	case "STOP_REQUESTED", "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS":
	default:
		return nil, clientError("InvalidParameterException", "The service deployment is %s and cannot be stopped.", sd.status)
	}
	return map[string]any{"serviceDeploymentArn": sd.arn}, nil
}

func (sd *serviceDeployment) json(svc *service) map[string]any {
	st := sd.strategy
	cfg := st.configuration()
	d := sd.dep
	target := map[string]any{
		"arn":                sd.target.arn,
		"requestedTaskCount": d.desired,
		"runningTaskCount":   d.running,
		"pendingTaskCount":   d.pending,
	}
	if st.Kind != "ROLLING" {
		target["requestedProductionTrafficWeight"] = sd.prodWeight
		target["requestedTestTrafficWeight"] = sd.testWeight
	}
	out := map[string]any{
		"serviceDeploymentArn":    sd.arn,
		"serviceArn":              svc.arn(),
		"clusterArn":              svc.clusterArn(),
		"createdAt":               epoch(sd.created),
		"updatedAt":               epoch(sd.updated),
		"status":                  sd.status,
		"deploymentConfiguration": cfg,
		"targetServiceRevision":   target,
		"sourceServiceRevisions": []any{map[string]any{
			"arn": sd.source.arn, "requestedTaskCount": svc.desired,
		}},
		"deploymentCircuitBreaker": map[string]any{"status": sd.cbStatus, "failureCount": sd.cbFailures, "threshold": 3},
		"alarms": map[string]any{
			"status": sd.alarmStatus, "alarmNames": nonNil(toAny(st.Alarms)), "triggeredAlarmNames": nonNil(toAny(sd.triggered)),
		},
	}
	if sd.stage != "" {
		out["lifecycleStage"] = sd.stage
	}
	if sd.reason != "" {
		out["statusReason"] = sd.reason
	}
	for k, t := range map[string]time.Time{"startedAt": sd.started, "finishedAt": sd.finished, "stoppedAt": sd.stopped} {
		if !t.IsZero() {
			out[k] = epoch(t)
		}
	}
	if !sd.rollbackAt.IsZero() {
		out["rollback"] = map[string]any{"reason": sd.rollbackReason, "startedAt": epoch(sd.rollbackAt), "serviceRevisionArn": sd.source.arn}
	}
	return out
}

func toAny(l []string) []any {
	out := make([]any, len(l))
	for i, s := range l {
		out[i] = s
	}
	return out
}

func (svc *service) arn() string {
	return fmt.Sprintf("arn:aws:ecs:%s:%s:service/%s/%s", Region, AccountID, svc.cluster, svc.name)
}

func (svc *service) clusterArn() string {
	return fmt.Sprintf("arn:aws:ecs:%s:%s:cluster/%s", Region, AccountID, svc.cluster)
}

func (svc *service) deploymentConfiguration() map[string]any {
	return svc.strategy.configuration()
}

func currentARN(svc *service) any {
	if sd := svc.current(); sd != nil {
		return sd.arn
	}
	return nil
}

// configuration is the deploymentConfiguration AWS answers for st.
func (st Strategy) configuration() map[string]any {
	cfg := map[string]any{
		"strategy":                 st.Kind,
		"maximumPercent":           200,
		"minimumHealthyPercent":    100,
		"deploymentCircuitBreaker": map[string]any{"enable": true, "rollback": !st.NoRollback},
	}
	if st.Kind != "ROLLING" {
		cfg["bakeTimeInMinutes"] = int(st.BakeTime / time.Minute)
	}
	if st.Kind == "LINEAR" {
		cfg["linearConfiguration"] = map[string]any{"stepPercent": st.StepPercent, "stepBakeTimeInMinutes": int(st.StepBakeTime / time.Minute)}
	}
	if st.Kind == "CANARY" {
		cfg["canaryConfiguration"] = map[string]any{"canaryPercent": st.CanaryPercent, "canaryBakeTimeInMinutes": int(st.CanaryBakeTime / time.Minute)}
	}
	if len(st.Alarms) > 0 {
		cfg["alarms"] = map[string]any{"alarmNames": st.Alarms, "enable": true, "rollback": !st.NoRollback}
	}
	return cfg
}
