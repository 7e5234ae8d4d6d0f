package awsemu

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// EBStorageBucket is the bucket Elastic Beanstalk keeps the source bundles
// of versions seeded with AddEBEnvironment and AddEBVersion in, named as
// EB's CreateStorageLocation names it.
const EBStorageBucket = "elasticbeanstalk-" + Region + "-" + AccountID

// DefaultDockerrun is the source bundle of seeded versions unless
// AddEBVersion gives another.
const DefaultDockerrun = `{
  "AWSEBDockerrunVersion": "1",
  "Image": {"Name": "nginx:1.27", "Update": "true"},
  "Ports": [{"ContainerPort": "80"}]
}
`

// The texts Elastic Beanstalk writes in its event stream during an
// application deployment, as the EB console and `eb deploy` show them.
const (
	EBEventUpdateStarting  = "Environment update is starting."
	EBEventDeploying       = "Deploying new version to instance(s)."
	EBEventInstanceDone    = "Instance deployment completed successfully."
	EBEventVersionDeployed = "New application version was deployed to running EC2 instances."
	EBEventUpdateCompleted = "Environment update completed successfully."
	EBEventInstanceFailed  = "Instance deployment failed. For details, see 'eb-engine.log'."
	EBEventDeployFailed    = "Failed to deploy application."
)

type ebApp struct {
	name     string
	created  time.Time
	versions []*ebVersion // oldest first
}

type ebVersion struct {
	label, description string
	bucket, key        string
	created            time.Time
}

type ebEnv struct {
	app, name, id   string
	cname, endpoint string
	instance        string
	status          string // Launching, Updating, Ready, Terminating, Terminated
	health          string // Green, Yellow, Red, Grey
	healthStatus    string // Ok, Info, Warning, Degraded, Severe, …
	version         string // the VersionLabel DescribeEnvironments shows
	lastGood        string // the version a failed deployment falls back to
	deployments     int
	update          *ebUpdate
	recovering      int // polls until health returns to Green after a failed update
	swap            *ebSwap
	fleet           *ebFleet // enhanced health with several instances; nil: basic health
	created         time.Time
	updated         time.Time
}

type ebUpdate struct {
	requestID string
	label     string
	polls     int
}

type ebEvent struct {
	at                     time.Time
	app, env, version      string
	severity, message, rid string
}

// EBEnvironment is what the emulator knows of an Elastic Beanstalk
// environment.
type EBEnvironment struct {
	Application  string
	Name         string
	ID           string
	Status       string
	Health       string
	HealthStatus string
	VersionLabel string
	CNAME        string
}

// SetEBUpdatePolls sets how many DescribeEnvironments calls an environment
// update takes to finish (or to fail), and how many more a failed one
// takes to return to health Green; n < 1 counts as 1. The default is 3.
func (s *Server) SetEBUpdatePolls(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ebPolls = max(n, 1)
}

// FailEBUpdates makes the environment's updates fail the way a failed
// all-at-once Elastic Beanstalk deployment does: ERROR events, then the
// environment Ready again with its VersionLabel reset to the last good
// version and health Red until it recovers. It may be set before the
// environment is added.
func (s *Server) FailEBUpdates(environment string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if on {
		s.ebFailing[environment] = true
	} else {
		delete(s.ebFailing, environment)
	}
}

// AddEBVersion seeds an application version of application (created if
// missing) whose source bundle is dockerrun, stored in EBStorageBucket.
// A label the application already has panics: it is a mistake in the test.
func (s *Server) AddEBVersion(application, label string, dockerrun []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addEBVersion(application, label, dockerrun)
}

func (s *Server) addEBVersion(application, label string, dockerrun []byte) {
	app := s.ebApp(application)
	if app.findVersion(label) != nil {
		panic(fmt.Sprintf("awsemu.AddEBVersion: application %s already has version %s", application, label))
	}
	key := application + "/" + label + "/Dockerrun.aws.json"
	if s.buckets[EBStorageBucket] == nil {
		s.buckets[EBStorageBucket] = map[string]*object{}
	}
	s.buckets[EBStorageBucket][key] = s.newObject(dockerrun, "application/json")
	app.versions = append(app.versions, &ebVersion{label: label, bucket: EBStorageBucket, key: key, created: s.ebNow()})
}

// AddEBEnvironment creates an environment of application (created if
// missing) running initialVersionLabel, Ready and Green. A version the
// application does not have yet is seeded with DefaultDockerrun. A live
// environment of the same name is replaced.
func (s *Server) AddEBEnvironment(application, environment, cname, initialVersionLabel string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ebApp(application).findVersion(initialVersionLabel) == nil {
		s.addEBVersion(application, initialVersionLabel, []byte(DefaultDockerrun))
	}
	if old := s.liveEBEnv(environment); old != nil {
		old.status, old.health, old.healthStatus = "Terminated", "Grey", ""
	}
	s.ebIDs++
	id := fmt.Sprintf("e-%010s", strconv.FormatInt(int64(s.ebIDs)*7919+1000003, 36))
	now := s.ebNow()
	env := &ebEnv{
		app: application, name: environment, id: id,
		cname:    cname,
		endpoint: fmt.Sprintf("awseb-%s-AWSEBLoa-%d.%s.elb.amazonaws.com", id, 1000000+s.ebIDs, Region),
		instance: fmt.Sprintf("i-0%016x", 0xa11ce0000+s.ebIDs),
		status:   "Ready", health: "Green", healthStatus: "Ok",
		version: initialVersionLabel, lastGood: initialVersionLabel,
		deployments: 1,
		created:     now, updated: now,
	}
	s.ebEnvs = append(s.ebEnvs, env)
	s.ebEvent(env, "", "INFO", "createEnvironment completed successfully.")
}

// TerminateEBEnvironment marks the live environment of that name
// Terminated; DescribeEnvironments keeps showing it for a while, as EB does.
func (s *Server) TerminateEBEnvironment(environment string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if env := s.liveEBEnv(environment); env != nil {
		env.status, env.health, env.healthStatus, env.updated = "Terminated", "Grey", "", s.ebNow()
		env.update = nil
	}
}

// EBEnvironment returns the live environment of that name.
func (s *Server) EBEnvironment(environment string) (EBEnvironment, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	env := s.liveEBEnv(environment)
	if env == nil {
		return EBEnvironment{}, false
	}
	return EBEnvironment{
		Application: env.app, Name: env.name, ID: env.id,
		Status: env.status, Health: env.health, HealthStatus: env.healthStatus,
		VersionLabel: env.version, CNAME: env.cname,
	}, true
}

// EBVersion returns where the source bundle of an application version is.
func (s *Server) EBVersion(application, label string) (bucket, key string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	app := s.ebApps[application]
	if app == nil {
		return "", "", false
	}
	v := app.findVersion(label)
	if v == nil {
		return "", "", false
	}
	return v.bucket, v.key, true
}

// ebNow is EB's clock: it reports times to the millisecond, and keeping
// them at that precision makes StartTime filters exact.
func (s *Server) ebNow() time.Time { return s.now().UTC().Truncate(time.Millisecond) }

func (s *Server) ebApp(name string) *ebApp {
	app := s.ebApps[name]
	if app == nil {
		app = &ebApp{name: name, created: s.ebNow()}
		s.ebApps[name] = app
	}
	return app
}

func (a *ebApp) findVersion(label string) *ebVersion {
	for _, v := range a.versions {
		if v.label == label {
			return v
		}
	}
	return nil
}

func (s *Server) liveEBEnv(name string) *ebEnv {
	for _, env := range s.ebEnvs {
		if env.name == name && env.status != "Terminated" {
			return env
		}
	}
	return nil
}

func (s *Server) ebEvent(env *ebEnv, requestID, severity, format string, args ...any) {
	s.ebEvents = append(s.ebEvents, ebEvent{
		at: s.ebNow(), app: env.app, env: env.name, version: env.version,
		severity: severity, message: fmt.Sprintf(format, args...), rid: requestID,
	})
	if len(s.ebEvents) > 2000 {
		s.ebEvents = s.ebEvents[len(s.ebEvents)-2000:]
	}
}

func (s *Server) elasticBeanstalk(action string, q *queryRequest) (any, error) {
	switch action {
	case "DescribeApplications":
		return s.describeApplications(q), nil
	case "DescribeApplicationVersions":
		return s.describeApplicationVersions(q), nil
	case "CreateApplicationVersion":
		return s.createApplicationVersion(q)
	case "DescribeEnvironments":
		return s.describeEnvironments(q), nil
	case "UpdateEnvironment":
		return s.updateEnvironment(q)
	case "DescribeEvents":
		return s.describeEvents(q)
	case "SwapEnvironmentCNAMEs":
		return s.swapEnvironmentCNAMEs(q)
	case "DescribeInstancesHealth":
		return s.describeInstancesHealth(q)
	}
	return nil, clientError("InvalidAction", "the emulator does not implement Elastic Beanstalk %s", action)
}

type ebApplicationXML struct {
	ApplicationName string
	ApplicationArn  string
	DateCreated     string
	DateUpdated     string
	Versions        []string `xml:"Versions>member"`
}

func (s *Server) describeApplications(q *queryRequest) any {
	names := q.list("ApplicationNames")
	var out []ebApplicationXML
	for _, name := range slices.Sorted(maps.Keys(s.ebApps)) {
		if len(names) > 0 && !slices.Contains(names, name) && !s.ebLoose {
			continue
		}
		app := s.ebApps[name]
		x := ebApplicationXML{
			ApplicationName: name,
			ApplicationArn:  fmt.Sprintf("arn:aws:elasticbeanstalk:%s:%s:application/%s", Region, AccountID, name),
			DateCreated:     isoTime(app.created),
			DateUpdated:     isoTime(app.created),
		}
		for i := len(app.versions) - 1; i >= 0; i-- {
			x.Versions = append(x.Versions, app.versions[i].label)
		}
		out = append(out, x)
	}
	return struct {
		Applications []ebApplicationXML `xml:"Applications>member"`
	}{out}
}

type ebVersionXML struct {
	ApplicationName       string
	ApplicationVersionArn string
	VersionLabel          string
	Description           string `xml:",omitempty"`
	SourceBundle          struct {
		S3Bucket string
		S3Key    string
	}
	DateCreated string
	DateUpdated string
	Status      string
}

func (s *Server) versionXML(app *ebApp, v *ebVersion) ebVersionXML {
	x := ebVersionXML{
		ApplicationName:       app.name,
		ApplicationVersionArn: fmt.Sprintf("arn:aws:elasticbeanstalk:%s:%s:applicationversion/%s/%s", Region, AccountID, app.name, v.label),
		VersionLabel:          v.label,
		Description:           v.description,
		DateCreated:           isoTime(v.created),
		DateUpdated:           isoTime(v.created),
		Status:                "Unprocessed",
	}
	x.SourceBundle.S3Bucket, x.SourceBundle.S3Key = v.bucket, v.key
	return x
}

func (s *Server) describeApplicationVersions(q *queryRequest) any {
	labels := q.list("VersionLabels")
	if s.ebLoose {
		labels = nil
	}
	var out []ebVersionXML
	for _, name := range slices.Sorted(maps.Keys(s.ebApps)) {
		if a := q.get("ApplicationName"); a != "" && a != name {
			continue
		}
		app := s.ebApps[name]
		// Newest first, as EB lists them.
		for i := len(app.versions) - 1; i >= 0; i-- {
			v := app.versions[i]
			if len(labels) == 0 || slices.Contains(labels, v.label) {
				out = append(out, s.versionXML(app, v))
			}
		}
	}
	return struct {
		ApplicationVersions []ebVersionXML `xml:"ApplicationVersions>member"`
	}{out}
}

func (s *Server) createApplicationVersion(q *queryRequest) (any, error) {
	name, label := q.get("ApplicationName"), q.get("VersionLabel")
	if n := len(name); n < 1 || n > 100 {
		return nil, validationError(name, "applicationName", "Member must have length between 1 and 100")
	}
	if n := len(label); n < 1 || n > 100 {
		return nil, validationError(label, "versionLabel", "Member must have length less than or equal to 100")
	}
	if d := q.get("Description"); len(d) > 200 {
		return nil, validationError(d, "description", "Member must have length less than or equal to 200")
	}
	app := s.ebApps[name]
	if app == nil {
		if !q.bool("AutoCreateApplication") {
			return nil, clientError("InvalidParameterValue", "No Application named '%s' found.", name)
		}
		app = s.ebApp(name)
	}
	if app.findVersion(label) != nil {
		return nil, clientError("InvalidParameterValue", "Application Version %s already exists.", label)
	}
	bucket, key := q.get("SourceBundle.S3Bucket"), q.get("SourceBundle.S3Key")
	if bucket == "" || key == "" {
		return nil, clientError("InvalidParameterCombination", "the emulator needs a SourceBundle with S3Bucket and S3Key")
	}
	if _, ok := s.buckets[bucket][key]; !ok {
		return nil, clientError("InvalidParameterCombination", "Unable to download from S3 location (Bucket: %s  Key: %s). Reason: Not Found", bucket, key)
	}
	v := &ebVersion{label: label, description: q.get("Description"), bucket: bucket, key: key, created: s.ebNow()}
	app.versions = append(app.versions, v)
	return struct {
		ApplicationVersion ebVersionXML
	}{s.versionXML(app, v)}, nil
}

type ebEnvironmentXML struct {
	EnvironmentName              string
	EnvironmentID                string `xml:"EnvironmentId"`
	EnvironmentArn               string
	ApplicationName              string
	VersionLabel                 string
	SolutionStackName            string
	PlatformArn                  string
	EndpointURL                  string
	CNAME                        string
	DateCreated                  string
	DateUpdated                  string
	Status                       string
	AbortableOperationInProgress bool
	Health                       string
	HealthStatus                 string `xml:",omitempty"`
	Tier                         struct {
		Name    string
		Type    string
		Version string
	}
}

func (env *ebEnv) xml() ebEnvironmentXML {
	x := ebEnvironmentXML{
		EnvironmentName:              env.name,
		EnvironmentID:                env.id,
		EnvironmentArn:               fmt.Sprintf("arn:aws:elasticbeanstalk:%s:%s:environment/%s/%s", Region, AccountID, env.app, env.name),
		ApplicationName:              env.app,
		VersionLabel:                 env.version,
		SolutionStackName:            "64bit Amazon Linux 2023 v4.4.0 running Docker",
		PlatformArn:                  fmt.Sprintf("arn:aws:elasticbeanstalk:%s::platform/Docker running on 64bit Amazon Linux 2023/4.4.0", Region),
		EndpointURL:                  env.endpoint,
		CNAME:                        env.cname,
		DateCreated:                  isoTime(env.created),
		DateUpdated:                  isoTime(env.updated),
		Status:                       env.status,
		AbortableOperationInProgress: env.update != nil,
		Health:                       env.health,
		HealthStatus:                 env.healthStatus,
	}
	x.Tier.Name, x.Tier.Type, x.Tier.Version = "WebServer", "Standard", "1.0"
	return x
}

func (s *Server) describeEnvironments(q *queryRequest) any {
	names, ids := q.list("EnvironmentNames"), q.list("EnvironmentIds")
	if s.ebLoose {
		names, ids = nil, nil
	}
	// IncludeDeleted defaults to true: recently terminated environments
	// are listed too, which is why a caller must look at Status.
	includeDeleted := q.get("IncludeDeleted") == "" || q.bool("IncludeDeleted")
	var out []ebEnvironmentXML
	app := q.get("ApplicationName")
	if s.ebLoose {
		app = ""
	}
	for _, env := range s.ebEnvs {
		switch {
		case app != "" && env.app != app,
			q.get("VersionLabel") != "" && env.version != q.get("VersionLabel"),
			len(names) > 0 && !slices.Contains(names, env.name),
			len(ids) > 0 && !slices.Contains(ids, env.id),
			!includeDeleted && env.status == "Terminated":
			continue
		}
		s.advanceEB(env)
		out = append(out, env.xml())
	}
	return struct {
		Environments []ebEnvironmentXML `xml:"Environments>member"`
	}{out}
}

func (s *Server) updateEnvironment(q *queryRequest) (any, error) {
	var env *ebEnv
	name, id := q.get("EnvironmentName"), q.get("EnvironmentId")
	for _, e := range s.ebEnvs {
		if (id != "" && e.id == id || id == "" && e.name == name) && e.status != "Terminated" {
			env = e
		}
	}
	if env == nil || q.get("ApplicationName") != "" && q.get("ApplicationName") != env.app {
		if id != "" {
			return nil, clientError("InvalidParameterValue", "No Environment found for EnvironmentId = '%s'.", id)
		}
		return nil, clientError("InvalidParameterValue", "No Environment found for EnvironmentName = '%s'.", name)
	}
	label := q.get("VersionLabel")
	if label != "" && s.ebApps[env.app].findVersion(label) == nil {
		return nil, clientError("InvalidParameterValue", "No Application Version named '%s' found.", label)
	}
	if env.status != "Ready" {
		return nil, clientError("InvalidParameterValue", "Environment named %s is in an invalid state for this operation. Must be Ready.", env.name)
	}
	if err := checkEnvProperties(q); err != nil {
		return nil, err
	}
	if label == "" {
		label = env.version
	}
	// EB shows the new label at once, long before it runs anywhere; a
	// client that stops at "VersionLabel is ours" has checked nothing.
	env.version = label
	env.status, env.health, env.healthStatus = "Updating", "Grey", "Info"
	env.update = &ebUpdate{requestID: q.requestID, label: label}
	env.recovering = 0
	env.deployments++
	env.updated = s.ebNow()
	s.ebEvent(env, q.requestID, "INFO", EBEventUpdateStarting)
	return env.xml(), nil
}

// advanceEB moves the environment's update one step; DescribeEnvironments
// is the clock of the emulator, so a test controls progress by polling.
func (s *Server) advanceEB(env *ebEnv) {
	if env.status == "Terminated" {
		return
	}
	if env.swap != nil {
		s.advanceSwap(env)
		return
	}
	if u := env.update; u != nil {
		u.polls++
		if u.polls == 1 {
			s.ebEvent(env, u.requestID, "INFO", EBEventDeploying)
		}
		s.rollFleet(env, u)
		if u.polls < s.ebPolls {
			return
		}
		env.update = nil
		env.status = "Ready"
		env.updated = s.ebNow()
		if s.ebFailing[env.name] {
			s.ebEvent(env, u.requestID, "ERROR", EBEventInstanceFailed)
			s.ebEvent(env, u.requestID, "ERROR", "[Instance: %s] Command failed on instance. Return code: 1 Output: Engine execution has encountered an error..", env.instance)
			s.ebEvent(env, u.requestID, "INFO", "Command execution completed on all instances. Summary: [Successful: 0, Failed: 1].")
			s.ebEvent(env, u.requestID, "ERROR", "Unsuccessful command execution on instance id(s) '%s'. Aborting the operation.", env.instance)
			s.ebEvent(env, u.requestID, "ERROR", EBEventDeployFailed)
			// "If a deployment fails, the expected version is reset to the
			// version from the most recent successful deployment" (EB
			// developer guide, enhanced health notifications).
			env.version = env.lastGood
			env.health, env.healthStatus = "Red", "Severe"
			env.recovering = s.ebPolls
			s.ebEvent(env, "", "WARN", "Environment health has transitioned from Info to Severe. Application update failed 4 seconds ago and took 38 seconds. Incorrect application version found on all instances. Expected version \"%s\" (deployment %d).", env.lastGood, env.deployments-1)
			return
		}
		s.ebEvent(env, u.requestID, "INFO", EBEventInstanceDone)
		s.ebEvent(env, u.requestID, "INFO", EBEventVersionDeployed)
		s.ebEvent(env, u.requestID, "INFO", EBEventUpdateCompleted)
		env.health, env.healthStatus = "Green", "Ok"
		env.lastGood = u.label
		return
	}
	if env.recovering > 0 {
		env.recovering--
		if env.recovering == 0 {
			env.health, env.healthStatus = "Green", "Ok"
			env.updated = s.ebNow()
			s.ebEvent(env, "", "INFO", "Environment health has transitioned from Severe to Ok.")
		}
	}
}

var ebSeverities = []string{"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"}

type ebEventXML struct {
	EventDate       string
	Message         string
	ApplicationName string
	EnvironmentName string
	VersionLabel    string `xml:",omitempty"`
	RequestID       string `xml:"RequestId,omitempty"`
	Severity        string
}

func (s *Server) describeEvents(q *queryRequest) (any, error) {
	start, hasStart, err := q.time("StartTime")
	if err != nil {
		return nil, err
	}
	end, hasEnd, err := q.time("EndTime")
	if err != nil {
		return nil, err
	}
	minSeverity := 0
	if sev := q.get("Severity"); sev != "" {
		minSeverity = slices.Index(ebSeverities, sev)
		if minSeverity < 0 {
			return nil, validationError(sev, "severity", "Member must satisfy enum value set: [TRACE, DEBUG, INFO, WARN, ERROR, FATAL]")
		}
	}
	limit := 1000
	if v := q.get("MaxRecords"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return nil, validationError(v, "maxRecords", "Member must have value between 1 and 1000")
		}
		limit = n
	}
	var envName string
	if id := q.get("EnvironmentId"); id != "" {
		envName = "\x00" // matches nothing unless the id is known
		for _, env := range s.ebEnvs {
			if env.id == id {
				envName = env.name
			}
		}
	}
	var out []ebEventXML
	// Newest first, as EB returns them.
	for i := len(s.ebEvents) - 1; i >= 0 && len(out) < limit; i-- {
		e := s.ebEvents[i]
		switch {
		case q.get("ApplicationName") != "" && e.app != q.get("ApplicationName"),
			q.get("EnvironmentName") != "" && e.env != q.get("EnvironmentName"),
			envName != "" && e.env != envName,
			q.get("VersionLabel") != "" && e.version != q.get("VersionLabel"),
			q.get("RequestId") != "" && e.rid != q.get("RequestId"),
			slices.Index(ebSeverities, e.severity) < minSeverity,
			hasStart && e.at.Before(start),
			hasEnd && !e.at.Before(end):
			continue
		}
		out = append(out, ebEventXML{
			EventDate: isoTime(e.at), Message: e.message,
			ApplicationName: e.app, EnvironmentName: e.env, VersionLabel: e.version,
			RequestID: e.rid, Severity: e.severity,
		})
	}
	return struct {
		Events []ebEventXML `xml:"Events>member"`
	}{out}, nil
}

// checkEnvProperties applies EB's documented limits on environment
// properties (a value of at most 256 characters, 4,096 bytes in all as
// KEY=value) to the option settings of an update, and refuses as EB does,
// quoting the value it refuses.
func checkEnvProperties(q *queryRequest) error {
	total := 0
	for i := 1; ; i++ {
		p := fmt.Sprintf("OptionSettings.member.%d.", i)
		if q.get(p+"OptionName") == "" {
			break
		}
		if q.get(p+"Namespace") != "aws:elasticbeanstalk:application:environment" {
			continue
		}
		name, value := q.get(p+"OptionName"), q.get(p+"Value")
		if utf8.RuneCountInString(value) > 256 {
			return clientError("ConfigurationValidationException", "Configuration validation exception: Invalid option value: '%s' (Namespace: 'aws:elasticbeanstalk:application:environment', OptionName: '%s'): Value is too long (max 256 characters)", value, name)
		}
		total += len(name) + 1 + len(value)
	}
	if total > 4096 {
		return clientError("ConfigurationValidationException", "Configuration validation exception: Environment properties cannot exceed 4096 bytes in total.")
	}
	return nil
}
