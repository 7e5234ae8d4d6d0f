package awsemu

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// TaskDef seeds a task definition; AddService registers it as the next
// revision of Family. Every seeded definition is a Fargate, awsvpc one whose
// containers are all essential.
type TaskDef struct {
	Family     string
	CPU        string // task-level CPU units, e.g. "256"; empty leaves it unset
	Memory     string // task-level MiB, e.g. "512"; empty leaves it unset
	Containers []Container
	Tags       map[string]string
}

// Container is one container definition of a TaskDef.
type Container struct {
	Name        string
	Image       string
	Memory      int // hard limit in MiB; 0 leaves it unset
	Environment map[string]string
}

// OverlappingRollouts lists every UpdateService that started a rollout on
// a service whose previous rollout was still in progress.
func (s *Server) OverlappingRollouts() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.overlaps...)
}

// DefaultDesiredCount is the desired task count of services added with
// AddService.
const DefaultDesiredCount = 2

const circuitBreakerReason = "ECS deployment circuit breaker: tasks failed to start."

// taskDef is a registered definition kept as the JSON object AWS returns,
// so every field a client registered comes back unchanged, including ones
// the emulator knows nothing about.
type taskDef struct {
	arn  string
	def  map[string]any
	tags []any
}

type service struct {
	cluster, name string
	desired       int32
	taskDef       string // ARN of the PRIMARY deployment's definition
	lastGood      string // ARN the circuit breaker rolls back to
	deployments   []*deployment
	events        []event // oldest first
	createdAt     time.Time

	strategy           Strategy
	serviceDeployments []*serviceDeployment // oldest first
	alarming           string               // an alarm gone off, not yet acted on
	rollbackFails      bool
}

type deployment struct {
	id, status, taskDef string
	desired, running    int32
	pending, failed     int32
	rolloutState        string
	rolloutReason       string
	polls               int // DescribeServices calls seen while IN_PROGRESS
	failedSeen          bool
	createdAt           time.Time
	updatedAt           time.Time
}

type event struct {
	id      string
	at      time.Time
	message string
}

// SetRolloutPolls sets how many DescribeServices calls for a service a
// rollout takes to finish (or to fail); n < 1 counts as 1. The default is 3.
func (s *Server) SetRolloutPolls(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rolloutPolls = max(n, 1)
}

// FailRollouts makes the service's rollouts fail the way ECS's deployment
// circuit breaker with rollback does: the new deployment ends FAILED and a
// deployment of the last good definition becomes PRIMARY. It may be set
// before the service is added.
func (s *Server) FailRollouts(cluster, service string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if on {
		s.failing[cluster+"/"+service] = true
	} else {
		delete(s.failing, cluster+"/"+service)
	}
}

// AddService registers td and creates (or replaces) a service in cluster
// that runs it, steady, with DefaultDesiredCount tasks. It returns the ARN
// of the registered definition. A td that RegisterTaskDefinition would
// reject (no family, a container without name or image) panics: it is a
// mistake in the test, not a case to handle.
func (s *Server) AddService(cluster, name string, td TaskDef) string {
	containers := make([]any, 0, len(td.Containers))
	for _, c := range td.Containers {
		cd := map[string]any{"name": c.Name, "image": c.Image, "essential": true}
		if c.Memory > 0 {
			cd["memory"] = c.Memory
		}
		if len(c.Environment) > 0 {
			var env []any
			for _, k := range sortedKeys(c.Environment) {
				env = append(env, map[string]any{"name": k, "value": c.Environment[k]})
			}
			cd["environment"] = env
		}
		containers = append(containers, cd)
	}
	req := map[string]any{
		"family":                  td.Family,
		"containerDefinitions":    containers,
		"networkMode":             "awsvpc",
		"requiresCompatibilities": []any{"FARGATE"},
	}
	if td.CPU != "" {
		req["cpu"] = td.CPU
	}
	if td.Memory != "" {
		req["memory"] = td.Memory
	}
	if len(td.Tags) > 0 {
		var tags []any
		for _, k := range sortedKeys(td.Tags) {
			tags = append(tags, map[string]any{"key": k, "value": td.Tags[k]})
		}
		req["tags"] = tags
	}
	// A round trip through JSON gives the request the same shape as one
	// from the SDK (numbers as float64, lists as []any).
	b, err := json.Marshal(req)
	if err != nil {
		panic(err)
	}
	var wire map[string]any
	if err := decode(b, &wire); err != nil {
		panic(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	def, err := s.register(wire)
	if err != nil {
		panic(fmt.Sprintf("awsemu.AddService: %v", err))
	}
	now := s.now()
	svc := &service{
		cluster:   cluster,
		name:      name,
		desired:   DefaultDesiredCount,
		taskDef:   def.arn,
		lastGood:  def.arn,
		createdAt: now,
		strategy:  Strategy{Kind: "ROLLING"},
	}
	svc.deployments = []*deployment{{
		id: s.newDeploymentID(), status: "PRIMARY", taskDef: def.arn,
		desired: svc.desired, running: svc.desired,
		rolloutState: "COMPLETED", createdAt: now, updatedAt: now,
	}}
	svc.deployments[0].rolloutReason = "ECS deployment " + svc.deployments[0].id + " completed."
	svc.event(s, "(service %s) has reached a steady state.", name)
	// The service's creation is its first service deployment.
	s.startServiceDeployment(svc, svc.deployments[0], def.arn)
	first := svc.current()
	first.status, first.started, first.finished = "SUCCESSFUL", now, now
	first.cbStatus, first.reason = "MONITORING_COMPLETE", "Service deployment completed."
	if s.clusters[cluster] == nil {
		s.clusters[cluster] = map[string]*service{}
	}
	s.clusters[cluster][name] = svc
	return def.arn
}

// Service returns the ARN of the task definition the service's PRIMARY
// deployment runs.
func (s *Server) Service(cluster, name string) (taskDefinitionARN string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	svc := s.clusters[cluster][name]
	if svc == nil {
		return "", false
	}
	return svc.taskDef, true
}

// TaskDefinitionImage returns the image of container in the task definition
// ref (an ARN, family:revision or family), or "" if either is unknown.
func (s *Server) TaskDefinitionImage(ref, container string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	td := s.lookupTaskDef(ref)
	if td == nil {
		return ""
	}
	for _, c := range asList(td.def["containerDefinitions"]) {
		cd, _ := c.(map[string]any)
		if cd["name"] == container {
			img, _ := cd["image"].(string)
			return img
		}
	}
	return ""
}

func (s *Server) ecs(op string, body []byte) (any, error) {
	switch op {
	case "DescribeServices":
		return s.describeServices(body)
	case "DescribeTaskDefinition":
		return s.describeTaskDefinition(body)
	case "RegisterTaskDefinition":
		var req map[string]any
		if err := decode(body, &req); err != nil {
			return nil, err
		}
		td, err := s.register(req)
		if err != nil {
			return nil, err
		}
		return map[string]any{"taskDefinition": td.def, "tags": nonNil(td.tags)}, nil
	case "UpdateService":
		return s.updateService(body)
	case "ListServiceDeployments":
		return s.listServiceDeployments(body)
	case "DescribeServiceDeployments":
		return s.describeServiceDeployments(body)
	case "DescribeServiceRevisions":
		return s.describeServiceRevisions(body)
	case "StopServiceDeployment":
		return s.stopServiceDeployment(body)
	}
	return nil, clientError("UnknownOperationException", "the emulator does not implement ECS %s", op)
}

// register stores req, a RegisterTaskDefinition request, as the next
// revision of its family.
func (s *Server) register(req map[string]any) (*taskDef, error) {
	family, _ := req["family"].(string)
	if family == "" {
		return nil, clientError("ClientException", "Family must be specified.")
	}
	if len(family) > 255 || strings.IndexFunc(family, func(r rune) bool {
		return !(r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) >= 0 {
		return nil, clientError("ClientException", "Family contains invalid characters.")
	}
	containers := asList(req["containerDefinitions"])
	if len(containers) == 0 {
		return nil, clientError("ClientException", "Container list cannot be empty.")
	}
	for _, c := range containers {
		cd, _ := c.(map[string]any)
		if name, _ := cd["name"].(string); name == "" {
			return nil, clientError("ClientException", "Container.name should not be null or empty.")
		}
		if img, _ := cd["image"].(string); img == "" {
			return nil, clientError("ClientException", "Container.image should not be null or empty.")
		}
	}

	s.revisions[family]++
	rev := s.revisions[family]
	arn := fmt.Sprintf("arn:aws:ecs:%s:%s:task-definition/%s:%d", Region, AccountID, family, rev)
	def := make(map[string]any, len(req)+8)
	for k, v := range req {
		if k != "tags" {
			def[k] = v
		}
	}
	def["taskDefinitionArn"] = arn
	def["revision"] = rev
	def["status"] = "ACTIVE"
	def["registeredAt"] = epoch(s.now())
	def["registeredBy"] = fmt.Sprintf("arn:aws:iam::%s:user/deploybot", AccountID)
	def["requiresAttributes"] = []any{}
	if compat := asList(req["requiresCompatibilities"]); len(compat) > 0 {
		def["compatibilities"] = append([]any{"EC2"}, compat...)
	} else {
		def["compatibilities"] = []any{"EC2"}
	}
	td := &taskDef{arn: arn, def: def, tags: asList(req["tags"])}
	s.taskDefs[arn] = td
	return td, nil
}

// lookupTaskDef resolves an ARN, family:revision or family (its latest
// revision).
func (s *Server) lookupTaskDef(ref string) *taskDef {
	if _, after, ok := strings.Cut(ref, ":task-definition/"); ok {
		ref = after
	}
	family, rev, hasRev := strings.Cut(ref, ":")
	if !hasRev {
		rev = strconv.Itoa(s.revisions[family])
	}
	return s.taskDefs[fmt.Sprintf("arn:aws:ecs:%s:%s:task-definition/%s:%s", Region, AccountID, family, rev)]
}

func (s *Server) describeTaskDefinition(body []byte) (any, error) {
	var in struct {
		TaskDefinition string   `json:"taskDefinition"`
		Include        []string `json:"include"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	td := s.lookupTaskDef(in.TaskDefinition)
	if td == nil {
		return nil, clientError("ClientException", "Unable to describe task definition.")
	}
	out := map[string]any{"taskDefinition": td.def}
	if slices.Contains(in.Include, "TAGS") {
		out["tags"] = nonNil(td.tags)
	}
	return out, nil
}

// resourceName accepts a bare name or an ARN (…:cluster/name,
// …:service/cluster/name, or the older …:service/name).
func resourceName(s string) string {
	if strings.HasPrefix(s, "arn:") {
		return s[strings.LastIndex(s, "/")+1:]
	}
	return s
}

func (s *Server) cluster(ref string) (string, map[string]*service, error) {
	name := resourceName(ref)
	if name == "" {
		name = "default"
	}
	c, ok := s.clusters[name]
	if !ok {
		return "", nil, clientError("ClusterNotFoundException", "Cluster not found.")
	}
	return name, c, nil
}

func (s *Server) describeServices(body []byte) (any, error) {
	var in struct {
		Cluster  string   `json:"cluster"`
		Services []string `json:"services"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.Services) == 0 || len(in.Services) > 10 {
		return nil, clientError("InvalidParameterException", "services must name between 1 and 10 services.")
	}
	clusterName, services, err := s.cluster(in.Cluster)
	if err != nil {
		return nil, err
	}
	// AWS reports a missing service as a failure entry, not as an error.
	out := []any{}
	failures := []any{}
	for _, ref := range in.Services {
		svc := services[resourceName(ref)]
		if svc == nil {
			failures = append(failures, map[string]any{
				"arn":    fmt.Sprintf("arn:aws:ecs:%s:%s:service/%s/%s", Region, AccountID, clusterName, resourceName(ref)),
				"reason": "MISSING",
			})
			continue
		}
		s.advance(svc)
		out = append(out, svc.json())
	}
	return map[string]any{"services": out, "failures": failures}, nil
}

func (s *Server) updateService(body []byte) (any, error) {
	var in struct {
		Cluster            string `json:"cluster"`
		Service            string `json:"service"`
		TaskDefinition     string `json:"taskDefinition"`
		DesiredCount       *int32 `json:"desiredCount"`
		ForceNewDeployment bool   `json:"forceNewDeployment"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	_, services, err := s.cluster(in.Cluster)
	if err != nil {
		return nil, err
	}
	svc := services[resourceName(in.Service)]
	if svc == nil {
		return nil, clientError("ServiceNotFoundException", "Service not found.")
	}
	if in.DesiredCount != nil {
		if *in.DesiredCount < 0 {
			return nil, clientError("InvalidParameterException", "desiredCount must be 0 or more.")
		}
		svc.desired = *in.DesiredCount
		if p := svc.primary(); p != nil {
			p.desired = svc.desired
			if p.rolloutState == "COMPLETED" {
				p.running = svc.desired
			}
		}
	}
	target := svc.taskDef
	if in.TaskDefinition != "" {
		td := s.lookupTaskDef(in.TaskDefinition)
		if td == nil {
			return nil, clientError("ClientException", "TaskDefinition not found.")
		}
		target = td.arn
	}
	if target != svc.taskDef || in.ForceNewDeployment {
		now := s.now()
		if p := svc.primary(); p != nil && p.rolloutState == "IN_PROGRESS" {
			// Allowed by ECS, but a deploy bot that does it has two
			// rollouts racing on one service: the tests look for it.
			s.overlaps = append(s.overlaps, fmt.Sprintf("%s/%s: %s while %s was still rolling out", in.Cluster, in.Service, target, p.taskDef))
		}
		for _, d := range svc.deployments {
			if d.status == "PRIMARY" {
				d.status = "ACTIVE"
				d.updatedAt = now
			}
		}
		d := &deployment{
			id: s.newDeploymentID(), status: "PRIMARY", taskDef: target,
			desired: svc.desired, pending: svc.desired,
			rolloutState: "IN_PROGRESS", createdAt: now, updatedAt: now,
		}
		d.rolloutReason = "ECS deployment " + d.id + " in progress."
		previous := svc.taskDef
		svc.deployments = append([]*deployment{d}, svc.deployments...)
		svc.taskDef = target
		s.startServiceDeployment(svc, d, previous)
	}
	return map[string]any{"service": svc.json()}, nil
}

// advance moves the service's rollout one step; polls (DescribeServices
// and the service deployment reads) are the clock of the emulator, so a
// test controls progress by polling. Bake times also need the clock to
// pass them (AdvanceClock).
func (s *Server) advance(svc *service) {
	if svc.strategy.Kind == "ROLLING" {
		s.advanceRolling(svc)
	}
	s.advanceServiceDeployment(svc)
}

func (s *Server) advanceRolling(svc *service) {
	now := s.now()
	// A deployment the circuit breaker failed stays visible for one more
	// poll after the one that reported it, then is drained.
	svc.deployments = slices.DeleteFunc(svc.deployments, func(d *deployment) bool {
		if d.rolloutState != "FAILED" {
			return false
		}
		if d.failedSeen {
			return true
		}
		d.failedSeen = true
		return false
	})
	p := svc.primary()
	if p == nil || p.rolloutState != "IN_PROGRESS" {
		return
	}
	p.polls++
	p.updatedAt = now
	done := p.polls >= s.rolloutPolls

	if s.failing[svc.cluster+"/"+svc.name] {
		p.failed++
		if !done {
			return
		}
		if svc.strategy.NoRollback {
			// The circuit breaker stops the rollout and leaves the
			// service as it is.
			p.rolloutState, p.rolloutReason = "FAILED", circuitBreakerReason
			svc.event(s, "(service %s) (deployment %s) deployment failed: tasks failed to start.", svc.name, p.id)
			return
		}
		p.status, p.rolloutState, p.rolloutReason = "ACTIVE", "FAILED", circuitBreakerReason
		p.running, p.pending = 0, 0
		rb := &deployment{
			id: s.newDeploymentID(), status: "PRIMARY", taskDef: svc.lastGood,
			desired: svc.desired, running: svc.desired,
			rolloutState: "COMPLETED", createdAt: now, updatedAt: now,
		}
		rb.rolloutReason = "ECS deployment " + rb.id + " completed."
		// The old tasks never stopped, so the rollback adopts them at once.
		svc.deployments = []*deployment{rb, p}
		svc.taskDef = svc.lastGood
		svc.event(s, "(service %s) (deployment %s) deployment failed: tasks failed to start.", svc.name, p.id)
		svc.event(s, "(service %s) rolling back to deployment %s.", svc.name, rb.id)
		svc.event(s, "(service %s) has reached a steady state.", svc.name)
		return
	}

	if done {
		p.running, p.pending = p.desired, 0
		p.rolloutState, p.rolloutReason = "COMPLETED", "ECS deployment "+p.id+" completed."
		svc.deployments = []*deployment{p}
		svc.lastGood = p.taskDef
		svc.event(s, "(service %s) (deployment %s) deployment completed.", svc.name, p.id)
		svc.event(s, "(service %s) has reached a steady state.", svc.name)
		return
	}
	p.running = p.desired * int32(p.polls) / int32(s.rolloutPolls)
	p.pending = p.desired - p.running
	for _, d := range svc.deployments {
		if d != p && d.rolloutState != "FAILED" {
			d.running = max(d.desired-p.running, 0)
		}
	}
	svc.event(s, "(service %s) has started %d tasks.", svc.name, p.running)
}

func (svc *service) primary() *deployment {
	for _, d := range svc.deployments {
		if d.status == "PRIMARY" {
			return d
		}
	}
	return nil
}

func (svc *service) event(s *Server, format string, args ...any) {
	svc.events = append(svc.events, event{id: strconv.FormatInt(s.nextID, 16), at: s.now(), message: fmt.Sprintf(format, args...)})
	s.nextID++
	if len(svc.events) > 100 {
		svc.events = svc.events[len(svc.events)-100:]
	}
}

func (s *Server) newDeploymentID() string {
	s.nextID++
	return "ecs-svc/" + strconv.FormatInt(s.nextID, 10)
}

func (svc *service) json() map[string]any {
	var running, pending int32
	deployments := make([]any, 0, len(svc.deployments))
	for _, d := range svc.deployments {
		running += d.running
		pending += d.pending
		deployments = append(deployments, map[string]any{
			"id":                 d.id,
			"status":             d.status,
			"taskDefinition":     d.taskDef,
			"desiredCount":       d.desired,
			"pendingCount":       d.pending,
			"runningCount":       d.running,
			"failedTasks":        d.failed,
			"createdAt":          epoch(d.createdAt),
			"updatedAt":          epoch(d.updatedAt),
			"launchType":         "FARGATE",
			"platformVersion":    "1.4.0",
			"rolloutState":       d.rolloutState,
			"rolloutStateReason": d.rolloutReason,
		})
	}
	events := make([]any, 0, len(svc.events))
	for i := len(svc.events) - 1; i >= 0; i-- {
		e := svc.events[i]
		events = append(events, map[string]any{"id": e.id, "createdAt": epoch(e.at), "message": e.message})
	}
	return map[string]any{
		"serviceArn":               fmt.Sprintf("arn:aws:ecs:%s:%s:service/%s/%s", Region, AccountID, svc.cluster, svc.name),
		"serviceName":              svc.name,
		"clusterArn":               fmt.Sprintf("arn:aws:ecs:%s:%s:cluster/%s", Region, AccountID, svc.cluster),
		"status":                   "ACTIVE",
		"desiredCount":             svc.desired,
		"runningCount":             running,
		"pendingCount":             pending,
		"launchType":               "FARGATE",
		"taskDefinition":           svc.taskDef,
		"deploymentConfiguration":  svc.deploymentConfiguration(),
		"currentServiceDeployment": currentARN(svc),
		"deploymentController":     map[string]any{"type": "ECS"},
		"deployments":              deployments,
		"events":                   events,
		"createdAt":                epoch(svc.createdAt),
		"schedulingStrategy":       "REPLICA",
	}
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func nonNil(l []any) []any {
	if l == nil {
		return []any{}
	}
	return l
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
